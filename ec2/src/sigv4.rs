//! Signature Version 4 verification, server side, for the query-protocol services this door
//! answers (EC2 and STS). Two forms: the `Authorization: AWS4-HMAC-SHA256 ...` header and the
//! presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`, ..., `X-Amz-Signature`).
//!
//! The verifier rebuilds the canonical request over exactly the headers the client lists in
//! `SignedHeaders`, takes region and service verbatim from the credential scope, hashes the body
//! as received, and compares signatures in constant time. Derived signing keys are cached per
//! (digest of the secret, date, region, service), so a rotated secret never meets a stale key.
//! This module owns no I/O and knows nothing of accounts: [`parse`] reads the claim, the caller
//! looks the access key up, [`verify`] checks the claim against the secret.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
/// How far a request's signing time may be from the server's clock.
const MAX_SKEW_MINUTES: i64 = 15;
/// The longest validity of a presigned URL that Signature V4 allows: seven days.
const MAX_PRESIGN_SECONDS: i64 = 604_800;
/// Entries kept in the signing-key cache before it is emptied and refilled.
const KEY_CACHE_CAPACITY: usize = 4096;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. Each kind maps onto one API error code in the door.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The authentication information is incomplete or malformed (IncompleteSignature).
    #[error("{0}")]
    Malformed(String),
    /// The request was signed too long ago, in the future, or its presigned URL expired
    /// (RequestExpired).
    #[error("{0}")]
    Expired(String),
    /// The signature does not match the request and secret (SignatureDoesNotMatch).
    #[error("{0}")]
    Mismatch(String),
}

/// Which of the two Signature V4 forms the request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Header,
    Presigned,
}

/// What the client claims: who signed, when, for which scope, over which headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub form: Form,
    pub access_key: String,
    /// `yyyymmdd` from the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// The signing time, as written by the client (`yyyymmddThhmmssZ`).
    pub timestamp: String,
    pub signed_at: DateTime<Utc>,
    /// Lowercase header names, in the client's order (which Signature V4 requires sorted).
    pub signed_headers: Vec<String>,
    /// Validity of a presigned URL, in seconds.
    pub expires: Option<i64>,
    /// `X-Amz-Security-Token`, when the client sent session credentials.
    pub security_token: Option<String>,
    signature: String,
}

/// The parts of an HTTP request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as sent on the wire (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The query parameters that belong to the presigned form's authentication, never to an action.
pub const AUTH_QUERY_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// Reads the Signature V4 claim of a request: `Ok(None)` if it carries none at all.
pub fn parse(req: &RequestParts<'_>) -> Result<Option<Claim>, SigError> {
    let auth = req.headers.get(http::header::AUTHORIZATION);
    if let Some(auth) = auth {
        let auth = auth.to_str().map_err(|_| {
            SigError::Malformed("The Authorization header is not printable ASCII.".into())
        })?;
        return parse_header_form(auth, req.headers).map(Some);
    }
    let query = req.query.unwrap_or("");
    let params = query_pairs(query);
    if params.iter().any(|(k, _)| k.starts_with("X-Amz-")) {
        return parse_presigned_form(&params).map(Some);
    }
    Ok(None)
}

fn parse_header_form(auth: &str, headers: &HeaderMap) -> Result<Claim, SigError> {
    let (algorithm, rest) = auth.trim().split_once(' ').unwrap_or((auth.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(SigError::Malformed(format!(
            "The authorization algorithm '{algorithm}' is not supported; sign with {ALGORITHM}."
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=').ok_or_else(|| {
            SigError::Malformed(format!(
                "The Authorization header component '{part}' is not of the form key=value."
            ))
        })?;
        match key.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed_headers = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => {}
        }
    }
    let missing = |what: &str| {
        SigError::Malformed(format!(
            "The Authorization header has no {what}=; it needs Credential, SignedHeaders and \
             Signature."
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;

    let (timestamp, signed_at) = header_date(headers)?;
    let signed_headers = parse_signed_headers(signed_headers)?;
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(SigError::Malformed(
            "'Host' must be one of the SignedHeaders of the Authorization header.".into(),
        ));
    }
    let date_header = if headers.contains_key("x-amz-date") {
        "x-amz-date"
    } else {
        "date"
    };
    if !signed_headers.iter().any(|h| h == date_header) {
        return Err(SigError::Malformed(format!(
            "'{date_header}' must be one of the SignedHeaders of the Authorization header."
        )));
    }
    let security_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    claim(
        Form::Header,
        credential,
        timestamp,
        signed_at,
        signed_headers,
        None,
        security_token,
        signature,
    )
}

fn parse_presigned_form(params: &[(String, String)]) -> Result<Claim, SigError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let require = |name: &str| {
        get(name).ok_or_else(|| {
            SigError::Malformed(format!(
                "The presigned request has no {name} parameter; it needs X-Amz-Algorithm, \
                 X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and \
                 X-Amz-Signature."
            ))
        })
    };
    let algorithm = require("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(SigError::Malformed(format!(
            "The X-Amz-Algorithm '{algorithm}' is not supported; sign with {ALGORITHM}."
        )));
    }
    let credential = require("X-Amz-Credential")?;
    let timestamp = require("X-Amz-Date")?;
    let signed_at = parse_amz_date(timestamp)?;
    let expires_text = require("X-Amz-Expires")?;
    let expires = expires_text
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=MAX_PRESIGN_SECONDS).contains(e))
        .ok_or_else(|| {
            SigError::Malformed(format!(
                "X-Amz-Expires '{expires_text}' is not a number of seconds from 1 to \
                 {MAX_PRESIGN_SECONDS}."
            ))
        })?;
    let signed_headers = parse_signed_headers(require("X-Amz-SignedHeaders")?)?;
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(SigError::Malformed(
            "'host' must be one of the X-Amz-SignedHeaders.".into(),
        ));
    }
    let signature = require("X-Amz-Signature")?;
    let security_token = get("X-Amz-Security-Token").map(str::to_owned);
    claim(
        Form::Presigned,
        credential,
        timestamp.to_owned(),
        signed_at,
        signed_headers,
        Some(expires),
        security_token,
        signature,
    )
}

#[allow(clippy::too_many_arguments)] // one private constructor shared by the two forms
fn claim(
    form: Form,
    credential: &str,
    timestamp: String,
    signed_at: DateTime<Utc>,
    signed_headers: Vec<String>,
    expires: Option<i64>,
    security_token: Option<String>,
    signature: &str,
) -> Result<Claim, SigError> {
    // AKID/yyyymmdd/region/service/aws4_request; the key id itself never holds '/'.
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(SigError::Malformed(format!(
            "The credential '{}' is not of the form <access key>/<yyyymmdd>/<region>/<service>/\
             aws4_request.",
            redact_credential(credential)
        )));
    };
    if *terminator != TERMINATOR
        || access_key.is_empty()
        || region.is_empty()
        || service.is_empty()
        || scope_date.len() != 8
        || !scope_date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SigError::Malformed(format!(
            "The credential '{}' is not of the form <access key>/<yyyymmdd>/<region>/<service>/\
             aws4_request.",
            redact_credential(credential)
        )));
    }
    Ok(Claim {
        form,
        access_key: (*access_key).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        timestamp,
        signed_at,
        signed_headers,
        expires,
        security_token,
        signature: signature.to_owned(),
    })
}

/// A credential string is not secret, but keep what is echoed short and printable.
fn redact_credential(credential: &str) -> String {
    credential
        .chars()
        .take(128)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, SigError> {
    let names: Vec<String> = list.split(';').map(|h| h.trim().to_owned()).collect();
    let valid = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    });
    if !valid {
        return Err(SigError::Malformed(format!(
            "SignedHeaders '{list}' must be lowercase header names separated by ';'."
        )));
    }
    Ok(names)
}

/// The signing time of a header-form request: `X-Amz-Date`, else the HTTP `Date` header.
fn header_date(headers: &HeaderMap) -> Result<(String, DateTime<Utc>), SigError> {
    if let Some(v) = headers.get("x-amz-date") {
        let text = v.to_str().unwrap_or("");
        let at = parse_amz_date(text)?;
        return Ok((text.to_owned(), at));
    }
    if let Some(v) = headers.get(http::header::DATE) {
        let text = v.to_str().unwrap_or("");
        let at = DateTime::parse_from_rfc2822(text)
            .map_err(|_| {
                SigError::Malformed(format!(
                    "The Date header '{text}' is not an RFC 1123 date; send X-Amz-Date instead."
                ))
            })?
            .with_timezone(&Utc);
        return Ok((at.format("%Y%m%dT%H%M%SZ").to_string(), at));
    }
    Err(SigError::Malformed(
        "The request is signed but has neither an X-Amz-Date nor a Date header.".into(),
    ))
}

fn parse_amz_date(text: &str) -> Result<DateTime<Utc>, SigError> {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| {
            SigError::Malformed(format!(
                "The date '{text}' is not of the form yyyymmddThhmmssZ (ISO 8601 basic, UTC)."
            ))
        })
}

/// Checks the claim's time against the server's clock: 15 minutes either way, and for a
/// presigned URL its expiry.
pub fn check_time(claim: &Claim, now: DateTime<Utc>) -> Result<(), SigError> {
    let skew = Duration::minutes(MAX_SKEW_MINUTES);
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    if claim.signed_at > now + skew {
        return Err(SigError::Expired(format!(
            "The request is signed at {}, more than {MAX_SKEW_MINUTES} minutes after the \
             server's time {}; check the client's clock.",
            claim.timestamp,
            stamp(now)
        )));
    }
    match (claim.form, claim.expires) {
        (Form::Presigned, Some(expires)) => {
            let until = claim.signed_at + Duration::seconds(expires);
            if now > until {
                return Err(SigError::Expired(format!(
                    "The presigned request expired at {}; the server's time is {}.",
                    stamp(until),
                    stamp(now)
                )));
            }
        }
        _ => {
            if claim.signed_at + skew < now {
                return Err(SigError::Expired(format!(
                    "The request is signed at {}, more than {MAX_SKEW_MINUTES} minutes before \
                     the server's time {}; check the client's clock.",
                    claim.timestamp,
                    stamp(now)
                )));
            }
        }
    }
    Ok(())
}

/// Checks the claim's signature against the request and the access key's secret.
pub fn verify(claim: &Claim, req: &RequestParts<'_>, secret: &str) -> Result<(), SigError> {
    if claim.timestamp.get(..8) != Some(claim.scope_date.as_str()) {
        return Err(SigError::Mismatch(format!(
            "The credential scope date {} does not match the signing date {}.",
            claim.scope_date, claim.timestamp
        )));
    }
    let body_hash = hex::encode(Sha256::digest(req.body));
    if claim.form == Form::Header {
        if let Some(declared) = req.headers.get("x-amz-content-sha256") {
            if declared.as_bytes() != body_hash.as_bytes() {
                return Err(SigError::Mismatch(format!(
                    "X-Amz-Content-Sha256 '{}' is not the SHA-256 of the request body; EC2 \
                     requests must sign their payload.",
                    String::from_utf8_lossy(declared.as_bytes())
                )));
            }
        }
    }
    let Some(given) = decode_signature(&claim.signature) else {
        return Err(mismatch());
    };
    let canonical = canonical_request(claim, req, &body_hash);
    let expected = sign(claim, secret, &canonical);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(mismatch())
    }
}

fn mismatch() -> SigError {
    SigError::Mismatch(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
            .into(),
    )
}

fn decode_signature(hex_sig: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex_sig.len() != 64 {
        return None;
    }
    hex::decode_to_slice(hex_sig, &mut out).ok()?;
    Some(out)
}

/// The string-to-sign's signature over a canonical request.
fn sign(claim: &Claim, secret: &str, canonical: &[u8]) -> [u8; 32] {
    let scope = format!(
        "{}/{}/{}/{TERMINATOR}",
        claim.scope_date, claim.region, claim.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        claim.timestamp,
        hex::encode(Sha256::digest(canonical))
    );
    let key = signing_key(secret, &claim.scope_date, &claim.region, &claim.service);
    hmac(&key, string_to_sign.as_bytes())
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this constructor cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct KeyId {
    secret_digest: [u8; 32],
    date: String,
    region: String,
    service: String,
}

fn key_cache() -> &'static Mutex<HashMap<KeyId, [u8; 32]>> {
    static CACHE: OnceLock<Mutex<HashMap<KeyId, [u8; 32]>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The derived signing key for (secret, date, region, service), from the cache when it is there.
/// The cache is keyed by a digest of the secret itself, so a rotated secret derives anew.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let id = KeyId {
        secret_digest: Sha256::digest(secret.as_bytes()).into(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    };
    if let Ok(cache) = key_cache().lock() {
        if let Some(key) = cache.get(&id) {
            return *key;
        }
    }
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let key = hmac(&k_service, TERMINATOR.as_bytes());
    if let Ok(mut cache) = key_cache().lock() {
        if cache.len() >= KEY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(id, key);
    }
    key
}

/// The canonical request: method, URI, query, headers, signed header list, payload hash.
fn canonical_request(claim: &Claim, req: &RequestParts<'_>, body_hash: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    let skip_signature = claim.form == Form::Presigned;
    out.extend_from_slice(canonical_query(req.query.unwrap_or(""), skip_signature).as_bytes());
    out.push(b'\n');
    for name in &claim.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        for value in req.headers.get_all(name.as_str()) {
            if !first {
                out.push(b',');
            }
            first = false;
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(claim.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body_hash.as_bytes());
    out
}

/// Appends a header value with leading and trailing blanks removed and inner runs of blanks
/// collapsed to one space.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut wrote = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = wrote;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
        wrote = true;
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn uri_encode(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The canonical URI of a non-S3 service: the path with dot segments and empty segments
/// removed, then URI-encoded once more (so `%20` on the wire is `%2520` here, as AWS does).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    let mut out = String::with_capacity(normalized.len());
    uri_encode(&mut out, normalized.as_bytes(), true);
    out
}

/// Splits a raw query string into percent-decoded pairs. `+` stays `+`: Signature V4 clients
/// encode a space as `%20`.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn canonical_query(query: &str, skip_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
            let mut key = String::new();
            uri_encode(&mut key, &decode(k), false);
            let mut value = String::new();
            uri_encode(&mut value, &decode(v), false);
            (key, value)
        })
        .filter(|(k, _)| !(skip_signature && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_TIME: &str = "20150830T123600Z";

    struct Case {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: Option<&'static str>,
        headers: &'static [(&'static str, &'static str)],
        body: &'static str,
        authorization: &'static str,
    }

    fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_static(v),
            );
        }
        h
    }

    fn sig(s: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, {s}"
        )
    }

    // The published AWS Signature V4 test suite (aws-sig-v4-test-suite, example credentials
    // AKIDEXAMPLE): the cases an HTTP/1.1 request through hyper can carry. Expected Authorization
    // signatures are the suite's.
    const HOST: (&str, &str) = ("host", "example.amazonaws.com");
    const DATE: (&str, &str) = ("x-amz-date", SUITE_TIME);
    fn suite() -> Vec<Case> {
        vec![
            Case {
                name: "get-vanilla",
                method: "GET",
                path: "/",
                query: None,
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            },
            Case {
                name: "get-vanilla-empty-query-key",
                method: "GET",
                path: "/",
                query: Some("Param1=value1"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            },
            Case {
                name: "get-vanilla-query-order-key",
                method: "GET",
                path: "/",
                query: Some("Param1=value2&Param1=Value1"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
            },
            Case {
                name: "get-vanilla-query-order-key-case",
                method: "GET",
                path: "/",
                query: Some("Param2=value2&Param1=value1"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            },
            Case {
                name: "get-vanilla-query-order-value",
                method: "GET",
                path: "/",
                query: Some("Param1=value2&Param1=value1"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
            },
            Case {
                name: "get-vanilla-query-unreserved",
                method: "GET",
                path: "/",
                query: Some("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
            },
            Case {
                name: "get-vanilla-utf8-query",
                method: "GET",
                path: "/",
                query: Some("%E1%88%B4=bar"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            },
            Case {
                name: "get-unreserved",
                method: "GET",
                path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                query: None,
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
            },
            Case {
                name: "get-header-key-duplicate",
                method: "GET",
                path: "/",
                query: None,
                headers: &[
                    HOST,
                    ("my-header1", "value2"),
                    ("my-header1", "value2"),
                    ("my-header1", "value1"),
                    DATE,
                ],
                body: "",
                authorization: "SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            },
            Case {
                name: "get-header-value-order",
                method: "GET",
                path: "/",
                query: None,
                headers: &[
                    HOST,
                    ("my-header1", "value4"),
                    ("my-header1", "value1"),
                    ("my-header1", "value3"),
                    ("my-header1", "value2"),
                    DATE,
                ],
                body: "",
                authorization: "SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
            },
            Case {
                name: "get-header-value-trim",
                method: "GET",
                path: "/",
                query: None,
                headers: &[
                    HOST,
                    ("my-header1", " value1"),
                    ("my-header2", " \"a   b   c\""),
                    DATE,
                ],
                body: "",
                authorization: "SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            },
            Case {
                name: "post-vanilla",
                method: "POST",
                path: "/",
                query: None,
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            },
            Case {
                name: "post-vanilla-query",
                method: "POST",
                path: "/",
                query: Some("Param1=value1"),
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            },
            Case {
                name: "post-header-key-sort",
                method: "POST",
                path: "/",
                query: None,
                headers: &[HOST, ("my-header1", "value1"), DATE],
                body: "",
                authorization: "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            },
            Case {
                name: "post-header-value-case",
                method: "POST",
                path: "/",
                query: None,
                headers: &[HOST, ("my-header1", "VALUE1"), DATE],
                body: "",
                authorization: "SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            },
            Case {
                name: "post-x-www-form-urlencoded",
                method: "POST",
                path: "/",
                query: None,
                headers: &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    HOST,
                    DATE,
                ],
                body: "Param1=value1",
                authorization: "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            },
            // The suite's own content type here is `charset=utf8`, without the dash.
            Case {
                name: "post-x-www-form-urlencoded-parameters",
                method: "POST",
                path: "/",
                query: None,
                headers: &[
                    ("content-type", "application/x-www-form-urlencoded; charset=utf8"),
                    HOST,
                    DATE,
                ],
                body: "Param1=value1",
                authorization: "SignedHeaders=content-type;host;x-amz-date, Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
            },
            Case {
                name: "get-slashes (normalize-path)",
                method: "GET",
                path: "//example//",
                query: None,
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
            },
            Case {
                name: "get-relative-relative (normalize-path)",
                method: "GET",
                path: "/example1/example2/../..",
                query: None,
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            },
            Case {
                name: "get-slash-pointless-dot (normalize-path)",
                method: "GET",
                path: "/./example",
                query: None,
                headers: &[HOST, DATE],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date, Signature=ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
            },
            Case {
                name: "post-sts-header-before",
                method: "POST",
                path: "/",
                query: None,
                headers: &[
                    HOST,
                    DATE,
                    ("x-amz-security-token", "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="),
                ],
                body: "",
                authorization: "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
            },
        ]
    }

    fn suite_now() -> DateTime<Utc> {
        parse_amz_date(SUITE_TIME).unwrap()
    }

    fn run(case: &Case, authorization: &str, secret: &str) -> Result<Claim, SigError> {
        let mut headers = header_map(case.headers);
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(authorization).unwrap(),
        );
        let parts = RequestParts {
            method: case.method,
            path: case.path,
            query: case.query,
            headers: &headers,
            body: case.body.as_bytes(),
        };
        let claim = parse(&parts)?.expect("signed");
        check_time(&claim, suite_now())?;
        verify(&claim, &parts, secret)?;
        Ok(claim)
    }

    #[test]
    fn aws_test_suite_signatures_verify() {
        for case in suite() {
            let claim = run(&case, &sig(case.authorization), SECRET)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(claim.access_key, "AKIDEXAMPLE", "{}", case.name);
            assert_eq!(claim.region, "us-east-1");
            assert_eq!(claim.service, "service");
        }
    }

    #[test]
    fn aws_test_suite_rejects_a_wrong_secret_or_a_tampered_request() {
        for case in suite() {
            let wrong = run(&case, &sig(case.authorization), "not-the-secret");
            assert!(matches!(wrong, Err(SigError::Mismatch(_))), "{}", case.name);

            let mut tampered = Case { ..case };
            tampered.method = if case.method == "GET" { "POST" } else { "GET" };
            let got = run(&tampered, &sig(case.authorization), SECRET);
            assert!(matches!(got, Err(SigError::Mismatch(_))), "{}", case.name);
        }
    }

    #[test]
    fn a_body_change_breaks_the_signature() {
        let case = suite()
            .into_iter()
            .find(|c| c.name == "post-x-www-form-urlencoded")
            .unwrap();
        let tampered = Case {
            body: "Param1=value2",
            ..case
        };
        let got = run(&tampered, &sig(tampered.authorization), SECRET);
        assert!(matches!(got, Err(SigError::Mismatch(_))));
    }

    #[test]
    fn an_unsigned_extra_header_does_not_matter_but_a_signed_one_does() {
        let case = suite()
            .into_iter()
            .find(|c| c.name == "get-vanilla")
            .unwrap();
        let extra = Case {
            headers: &[HOST, DATE, ("user-agent", "aws-cli/1.45")],
            ..case
        };
        assert!(run(&extra, &sig(extra.authorization), SECRET).is_ok());
        let changed = Case {
            headers: &[("host", "example.amazonaws.com:8080"), DATE],
            ..extra
        };
        let got = run(&changed, &sig(changed.authorization), SECRET);
        assert!(matches!(got, Err(SigError::Mismatch(_))));
    }

    #[test]
    fn time_window_is_fifteen_minutes_either_way() {
        let case = suite()
            .into_iter()
            .find(|c| c.name == "get-vanilla")
            .unwrap();
        let mut headers = header_map(case.headers);
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&sig(case.authorization)).unwrap(),
        );
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: None,
            headers: &headers,
            body: b"",
        };
        let claim = parse(&parts).unwrap().unwrap();
        let at = suite_now();
        let cases = [
            (Duration::minutes(-15), true),
            (Duration::minutes(15), true),
            (Duration::minutes(-16), false),
            (Duration::minutes(16), false),
            (Duration::days(3), false),
        ];
        for (offset, ok) in cases {
            let got = check_time(&claim, at + offset);
            assert_eq!(got.is_ok(), ok, "{offset:?}");
            if !ok {
                assert!(matches!(got, Err(SigError::Expired(_))));
            }
        }
    }

    fn presigned_claim(query: &'static str) -> Result<Option<Claim>, SigError> {
        let headers = header_map(&[HOST]);
        parse(&RequestParts {
            method: "GET",
            path: "/",
            query: Some(query),
            headers: &headers,
            body: b"",
        })
    }

    #[test]
    fn presigned_expiry() {
        let claim = presigned_claim(
            "Action=DescribeRegions&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        )
        .unwrap()
        .unwrap();
        assert_eq!(claim.form, Form::Presigned);
        assert_eq!(claim.expires, Some(60));
        assert_eq!(claim.service, "ec2");
        let at = suite_now();
        assert!(check_time(&claim, at + Duration::seconds(60)).is_ok());
        assert!(matches!(
            check_time(&claim, at + Duration::seconds(61)),
            Err(SigError::Expired(_))
        ));
        assert!(matches!(
            check_time(&claim, at - Duration::minutes(16)),
            Err(SigError::Expired(_))
        ));
    }

    #[test]
    fn malformed_claims_are_incomplete_signatures() {
        let bad_headers: &[&str] = &[
            "AWS4-HMAC-SHA1 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=Host;X-Amz-Date, Signature=00",
            "AWS4-HMAC-SHA256 garbage",
        ];
        for auth in bad_headers {
            let mut headers = header_map(&[HOST, DATE]);
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(auth).unwrap(),
            );
            let got = parse(&RequestParts {
                method: "POST",
                path: "/",
                query: None,
                headers: &headers,
                body: b"",
            });
            assert!(
                matches!(got, Err(SigError::Malformed(_))),
                "{auth}: {got:?}"
            );
        }
        let no_date = header_map(&[
            HOST,
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        ]);
        let got = parse(&RequestParts {
            method: "POST",
            path: "/",
            query: None,
            headers: &no_date,
            body: b"",
        });
        assert!(matches!(got, Err(SigError::Malformed(_))));

        let bad_presigned: &[&'static str] = &[
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20150830%2Fr%2Fec2%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20150830%2Fr%2Fec2%2Faws4_request&X-Amz-Date=2015-08-30&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20150830%2Fr%2Fec2%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=content-type&X-Amz-Signature=00",
        ];
        for q in bad_presigned {
            assert!(
                matches!(presigned_claim(q), Err(SigError::Malformed(_))),
                "{q}"
            );
        }
        assert_eq!(presigned_claim("Action=DescribeRegions").unwrap(), None);
    }

    #[test]
    fn scope_date_must_match_the_signing_date() {
        let case = suite()
            .into_iter()
            .find(|c| c.name == "get-vanilla")
            .unwrap();
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert!(matches!(
            run(&case, auth, SECRET),
            Err(SigError::Mismatch(_))
        ));
    }

    #[test]
    fn a_rotated_secret_never_uses_a_cached_key() {
        let case = suite()
            .into_iter()
            .find(|c| c.name == "get-vanilla")
            .unwrap();
        // Warm the cache with the right secret, then try the same scope with another.
        assert!(run(&case, &sig(case.authorization), SECRET).is_ok());
        assert!(run(&case, &sig(case.authorization), SECRET).is_ok());
        let rotated = run(&case, &sig(case.authorization), "rotated-secret");
        assert!(matches!(rotated, Err(SigError::Mismatch(_))));
        assert!(run(&case, &sig(case.authorization), SECRET).is_ok());
    }

    #[test]
    fn canonical_pieces() {
        let cases = [
            ("/", "/"),
            ("//", "/"),
            ("/example/..", "/"),
            ("/a/b/", "/a/b/"),
            ("/example%20space/", "/example%2520space/"),
        ];
        for (path, want) in cases {
            assert_eq!(canonical_uri(path), want, "{path}");
        }
        let queries = [
            ("", false, ""),
            ("b=2&a=1", false, "a=1&b=2"),
            ("a=x%20y&a=x+y", false, "a=x%20y&a=x%2By"),
            ("flag&a=1", false, "a=1&flag="),
            ("X-Amz-Signature=ab&X-Amz-Date=1", true, "X-Amz-Date=1"),
            ("k=%2F%7e", false, "k=%2F~"),
        ];
        for (q, skip, want) in queries {
            assert_eq!(canonical_query(q, skip), want, "{q}");
        }
        let mut out = Vec::new();
        push_trimmed(&mut out, b"  a \t b   c  ");
        assert_eq!(out, b"a b c");
    }
}
