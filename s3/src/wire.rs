//! Pure pieces of S3's wire semantics, each tested here: the one mapping from port errors to
//! S3 error codes, timestamps, conditional requests, byte ranges, continuation tokens and
//! `encoding-type=url`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use s3s::dto::{ETagCondition, Timestamp};
use s3s::{s3_error, S3Error, S3ErrorCode};
use sha2::Sha256;

use crate::port::PortError;

/// Turns a port error into the S3 error a client is owed; our own faults are logged here and
/// leave as `InternalError`.
pub fn s3_error(e: PortError) -> S3Error {
    match e {
        PortError::NoSuchBucket(b) => {
            s3_error!(NoSuchBucket, "The specified bucket '{b}' does not exist.")
        }
        PortError::BucketAlreadyExists(b) => s3_error!(
            BucketAlreadyExists,
            "The requested bucket name '{b}' is not available. Please select a different name."
        ),
        PortError::ReservedBucketName(b) => s3_error!(
            InvalidBucketName,
            "The bucket name '{b}' is reserved for this cloud's own storage: choose a name that \
             does not start with 'cirrus-system-'."
        ),
        PortError::BucketAlreadyOwnedByYou(b) => s3_error!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the bucket '{b}' succeeded and you already own it."
        ),
        PortError::BucketNotEmpty(b) => {
            s3_error!(
                BucketNotEmpty,
                "The bucket '{b}' you tried to delete is not empty."
            )
        }
        PortError::NoSuchKey(k) => s3_error!(NoSuchKey, "The specified key '{k}' does not exist."),
        PortError::NoSuchUpload(u) => s3_error!(
            NoSuchUpload,
            "The specified upload '{u}' does not exist: it may have been aborted or completed."
        ),
        PortError::InvalidPart(n) => s3_error!(
            InvalidPart,
            "Part {n} could not be found, or its ETag does not match the one given."
        ),
        PortError::AccessDenied(m) => s3_error!(AccessDenied, "Access Denied: {m}."),
        PortError::PreconditionFailed => s3_error!(
            PreconditionFailed,
            "At least one of the preconditions you specified did not hold."
        ),
        PortError::TooLarge(max) => s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size of {max} bytes."
        ),
        PortError::Body(source) => body_error(source.as_ref()),
        PortError::Changed => {
            tracing::warn!("an object kept changing while being read");
            s3_error!(
                ServiceUnavailable,
                "The object kept changing while it was read; retry."
            )
        }
        PortError::Internal(message) => {
            tracing::error!(error = %message, "the S3 port failed");
            s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            )
        }
    }
}

/// What a body that could not be read to its end means for the client. s3s's own stream
/// errors are only known by their text.
fn body_error(source: &(dyn std::error::Error + 'static)) -> S3Error {
    let mut text = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(e) = cur {
        text.push_str(&e.to_string());
        text.push(' ');
        cur = e.source();
    }
    if text.contains("Sha256Mismatch") {
        let mut err = S3Error::with_message(
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        err.set_status_code(http::StatusCode::BAD_REQUEST);
        err
    } else if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The signature of a chunk of the body does not match what was computed."
        )
    } else if text.contains("FormatError") || text.contains("TooLarge") {
        s3_error!(InvalidRequest, "The aws-chunked body is malformed.")
    } else {
        tracing::info!(error = %text.trim_end(), "a request body ended early");
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length header."
        )
    }
}

/// Milliseconds since the epoch as an S3 timestamp.
pub fn timestamp(ms: i64) -> Timestamp {
    let secs = ms.div_euclid(1000);
    let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
    let at = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        + std::time::Duration::from_nanos(u64::from(nanos));
    Timestamp::from(at)
}

/// An S3 timestamp as milliseconds since the epoch.
pub fn millis(t: &Timestamp) -> i64 {
    let at: time::OffsetDateTime = t.clone().into();
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The outcome of a request's conditional headers against an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// The conditional headers of a read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

/// Judges a read by RFC 9110's order, as S3 does: If-Match, else If-Unmodified-Since; then
/// If-None-Match, else If-Modified-Since. Times compare to the second.
pub fn judge(c: &Conditions<'_>, etag: &str, modified_ms: i64) -> Verdict {
    let modified = modified_ms.div_euclid(1000);
    let secs = |t: &Timestamp| millis(t).div_euclid(1000);
    match (c.if_match, c.if_unmodified_since) {
        (Some(m), _) if !matches(m, etag) => return Verdict::PreconditionFailed,
        (None, Some(t)) if modified > secs(t) => return Verdict::PreconditionFailed,
        _ => {}
    }
    match (c.if_none_match, c.if_modified_since) {
        (Some(m), _) if matches(m, etag) => Verdict::NotModified,
        (None, Some(t)) if modified <= secs(t) => Verdict::NotModified,
        _ => Verdict::Proceed,
    }
}

/// `416 InvalidRange` with the `Content-Range: bytes */size` S3 sends with it.
pub fn invalid_range(size: u64) -> S3Error {
    let mut err = s3_error!(InvalidRange, "The requested range is not satisfiable.");
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{size}")) {
        headers.insert(http::header::CONTENT_RANGE, v);
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    err.set_headers(headers);
    err
}

type HmacSha256 = Hmac<Sha256>;
const TOKEN_MAC_LEN: usize = 16;

fn token_mac(secret: &[u8], bucket: &str, after: &[u8]) -> Vec<u8> {
    // new_from_slice accepts a key of any length for HMAC.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(b"cirrus-list-v1\0");
    mac.update(bucket.as_bytes());
    mac.update(b"\0");
    mac.update(after);
    mac.finalize().into_bytes()[..TOKEN_MAC_LEN].to_vec()
}

/// A continuation token for the listing of `bucket` that goes on after `after`: opaque to the
/// client, and sealed so that a forged one is refused.
pub fn seal_token(secret: &[u8], bucket: &str, after: &str) -> String {
    let mut raw = after.as_bytes().to_vec();
    raw.extend_from_slice(&token_mac(secret, bucket, after.as_bytes()));
    URL_SAFE_NO_PAD.encode(raw)
}

/// Where a continuation token says the listing goes on.
pub fn open_token(secret: &[u8], bucket: &str, token: &str) -> Result<String, S3Error> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The continuation token provided is incorrect."
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if raw.len() < TOKEN_MAC_LEN {
        return Err(invalid());
    }
    let (after, mac) = raw.split_at(raw.len() - TOKEN_MAC_LEN);
    let want = token_mac(secret, bucket, after);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(mac, want.as_slice())) {
        return Err(invalid());
    }
    String::from_utf8(after.to_vec()).map_err(|_| invalid())
}

/// Characters `encoding-type=url` leaves alone: RFC 3986's unreserved ones and `/`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Encodes a key, prefix, delimiter or marker for `encoding-type=url`.
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, URL_ENCODE).to_string()
}

/// Applies `encoding-type=url` when asked.
pub struct Encoder(pub bool);

impl Encoder {
    pub fn apply(&self, s: String) -> String {
        if self.0 {
            url_encode(&s)
        } else {
            s
        }
    }

    pub fn opt(&self, s: Option<String>) -> Option<String> {
        s.map(|s| self.apply(s))
    }
}

/// `max-keys` (and its kin): absent means 1000, above 1000 is 1000, negative is refused.
pub fn page_size(given: Option<i32>, name: &str) -> Result<usize, S3Error> {
    match given {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "{name} must be a non-negative integer, not {n}."
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(1000).min(1000)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use s3s::dto::ETag;

    #[test]
    fn tokens_round_trip_and_refuse_forgeries() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = seal_token(secret, "b", "dir/a b+c%");
        assert_eq!(open_token(secret, "b", &token).unwrap(), "dir/a b+c%");
        assert!(open_token(secret, "other", &token).is_err());
        assert!(open_token(b"another secret", "b", &token).is_err());
        let forged = URL_SAFE_NO_PAD.encode(b"dir/zzzzzzzzzzzzzzzzzzzzzzzz");
        assert_eq!(
            open_token(secret, "b", &forged)
                .unwrap_err()
                .code()
                .as_str(),
            "InvalidArgument"
        );
        assert!(open_token(secret, "b", "!!!").is_err());
        assert!(open_token(secret, "b", "").is_err());
    }

    #[test]
    fn url_encoding_covers_what_botocore_decodes() {
        assert_eq!(url_encode("a b+c/100%"), "a%20b%2Bc/100%25");
        assert_eq!(url_encode("é"), "%C3%A9");
        assert_eq!(url_encode("A-Z_a.z~"), "A-Z_a.z~");
    }

    #[test]
    fn conditions_follow_rfc_order() {
        let etag = ETagCondition::ETag(ETag::Strong("abc".into()));
        let other = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let at = 1_700_000_000_500;
        let before = timestamp(at - 10_000);
        let same_second = timestamp(at - 500);
        let c = |m, n, ms, us| Conditions {
            if_match: m,
            if_none_match: n,
            if_modified_since: ms,
            if_unmodified_since: us,
        };
        let cases = [
            (c(None, None, None, None), Verdict::Proceed),
            (c(Some(&etag), None, None, None), Verdict::Proceed),
            (
                c(Some(&other), None, None, None),
                Verdict::PreconditionFailed,
            ),
            (
                c(Some(&ETagCondition::Any), None, None, None),
                Verdict::Proceed,
            ),
            (c(None, Some(&etag), None, None), Verdict::NotModified),
            (c(None, Some(&other), None, None), Verdict::Proceed),
            (
                c(None, None, Some(&same_second), None),
                Verdict::NotModified,
            ),
            (c(None, None, Some(&before), None), Verdict::Proceed),
            (
                c(None, None, None, Some(&before)),
                Verdict::PreconditionFailed,
            ),
            (c(None, None, None, Some(&same_second)), Verdict::Proceed),
            // If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since.
            (c(Some(&etag), None, None, Some(&before)), Verdict::Proceed),
            (
                c(None, Some(&other), Some(&same_second), None),
                Verdict::Proceed,
            ),
        ];
        for (i, (cond, want)) in cases.iter().enumerate() {
            assert_eq!(judge(cond, "abc", at), *want, "case {i}");
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None, "max-keys").unwrap(), 1000);
        assert_eq!(page_size(Some(0), "max-keys").unwrap(), 0);
        assert_eq!(page_size(Some(5000), "max-keys").unwrap(), 1000);
        assert!(page_size(Some(-1), "max-keys").is_err());
    }

    #[test]
    fn timestamps_round_trip_to_the_millisecond() {
        assert_eq!(millis(&timestamp(1_700_000_000_123)), 1_700_000_000_123);
    }
}
