//! Integrity of request bodies. s3s checks signatures and aws-chunked framing but not
//! `Content-MD5` nor the `x-amz-checksum-*` values (headers or trailers): this module hashes a
//! body while it streams to storage (MD5 for the ETag, plus the one checksum asked for), then
//! compares the result with what the client claimed. Malformed claims are `InvalidDigest`,
//! wrong ones `BadDigest`; nothing unverified is ever stored as an object's checksum.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::{Stream, StreamExt as _};
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{s3_error, S3Error, S3Result, StdError};

use crate::port::{Checksum, ChecksumAlgorithm};

/// What a request claims about its body, parsed before the body is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub md5: Option<[u8; 16]>,
    /// A checksum given in a header.
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// The algorithm whose value comes in a trailer after the body.
    pub trailer: Option<ChecksumAlgorithm>,
    /// The algorithm to compute (and store), claimed or not.
    pub algorithm: Option<ChecksumAlgorithm>,
}

/// The checksum headers of a request, as s3s parsed them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChecksumHeaders<'a> {
    pub content_md5: Option<&'a str>,
    pub crc32: Option<&'a str>,
    pub crc32c: Option<&'a str>,
    pub crc64nvme: Option<&'a str>,
    pub sha1: Option<&'a str>,
    pub sha256: Option<&'a str>,
    /// `x-amz-sdk-checksum-algorithm` (or the upload's algorithm).
    pub algorithm: Option<&'a str>,
    /// `x-amz-trailer`.
    pub trailer: Option<&'a str>,
}

fn decode_digest(value: &str, len: usize, header: &str) -> S3Result<Vec<u8>> {
    match BASE64.decode(value.trim()) {
        Ok(bytes) if bytes.len() == len => Ok(bytes),
        _ => Err(s3_error!(
            InvalidDigest,
            "The {header} you specified is not a valid base64 digest of {len} bytes: '{value}'."
        )),
    }
}

impl Claims {
    /// Parses and checks the form of the claims; nothing is compared yet.
    pub fn parse(h: ChecksumHeaders<'_>) -> S3Result<Self> {
        let mut claims = Self::default();
        if let Some(md5) = h.content_md5 {
            let bytes = decode_digest(md5, 16, "Content-MD5")?;
            let mut arr = [0u8; 16];
            arr.copy_from_slice(&bytes);
            claims.md5 = Some(arr);
        }
        let given = [
            (ChecksumAlgorithm::Crc32, h.crc32),
            (ChecksumAlgorithm::Crc32c, h.crc32c),
            (ChecksumAlgorithm::Crc64Nvme, h.crc64nvme),
            (ChecksumAlgorithm::Sha1, h.sha1),
            (ChecksumAlgorithm::Sha256, h.sha256),
        ];
        for (algorithm, value) in given {
            let Some(value) = value else { continue };
            if claims.checksum.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum types are not allowed."
                ));
            }
            let header = format!("x-amz-checksum-{}", algorithm.as_str().to_ascii_lowercase());
            let bytes = decode_digest(value, algorithm.digest_len(), &header)?;
            claims.checksum = Some((algorithm, bytes));
        }
        if let Some(trailer) = h.trailer {
            let name = trailer.trim().to_ascii_lowercase();
            let algorithm = name
                .strip_prefix("x-amz-checksum-")
                .and_then(ChecksumAlgorithm::parse)
                .ok_or_else(|| {
                    s3_error!(
                        InvalidRequest,
                        "The trailer '{trailer}' is not an x-amz-checksum-* header."
                    )
                })?;
            if claims.checksum.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "A checksum was given both in a header and in the trailer '{trailer}'."
                ));
            }
            claims.trailer = Some(algorithm);
        }
        let declared = match h.algorithm {
            Some(a) => Some(ChecksumAlgorithm::parse(a).ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "'{a}' is not a checksum algorithm S3 knows."
                )
            })?),
            None => None,
        };
        let claimed = claims.checksum.as_ref().map(|(a, _)| *a).or(claims.trailer);
        if let (Some(declared), Some(claimed)) = (declared, claimed) {
            if declared != claimed {
                return Err(s3_error!(
                    InvalidRequest,
                    "The checksum algorithm {} does not match the checksum given ({}).",
                    declared.as_str(),
                    claimed.as_str()
                ));
            }
        }
        claims.algorithm = claimed.or(declared);
        Ok(claims)
    }
}

/// A running checksum of one algorithm.
pub enum Hasher {
    Crc32(Crc32),
    Crc32c(Crc32c),
    Crc64Nvme(Crc64Nvme),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(Crc32::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(Crc32c::new()),
            ChecksumAlgorithm::Crc64Nvme => Self::Crc64Nvme(Crc64Nvme::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(h) => h.update(data),
            Self::Crc64Nvme(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Crc32(h) => h.finalize().as_ref().to_vec(),
            Self::Crc32c(h) => h.finalize().as_ref().to_vec(),
            Self::Crc64Nvme(h) => h.finalize().as_ref().to_vec(),
            Self::Sha1(h) => h.finalize().as_ref().to_vec(),
            Self::Sha256(h) => h.finalize().as_ref().to_vec(),
        }
    }

    /// The checksum of some bytes at once.
    pub fn digest(algorithm: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
        let mut h = Self::new(algorithm);
        h.update(data);
        h.finish()
    }
}

/// What hashing a whole body found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub md5: [u8; 16],
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    pub size: u64,
}

impl Sealed {
    /// The ETag of a single-part object: the MD5 in hex.
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }
}

/// Bodies longer than this are hashed on a thread of their own: MD5 (about 600 MB/s on one
/// core) would otherwise run one after the other with the payload's SHA-256, which s3s computes
/// as the body streams, on the thread that reads the connection.
const HASH_INLINE_MAX: u64 = 1 << 20;
// LIMITATION: MD5 cannot be split across cores, so the ETag of one single-part PUT bounds it
// near 600 MB/s on this machine's cores (md-5 has no SIMD form); S3 defines that ETag as the MD5
// of the body and clients compare it, so it is computed for every PUT.

/// Pieces of the body queued for the hashing thread; when it falls behind, reading waits.
const HASH_QUEUE: usize = 8;

struct Running {
    md5: Md5,
    checksum: Option<(ChecksumAlgorithm, Hasher)>,
    size: u64,
}

impl Running {
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        if let Some((_, h)) = &mut self.checksum {
            h.update(bytes);
        }
        self.size += bytes.len() as u64;
    }

    fn seal(self) -> Sealed {
        Sealed {
            md5: self.md5.finalize(),
            checksum: self.checksum.map(|(a, h)| (a, h.finish())),
            size: self.size,
        }
    }

    /// Moves the hashing to a thread of its own, fed through a bounded queue; gives itself
    /// back if no thread could be started, to go on hashing inline.
    fn offload(self: Box<Self>) -> Result<Offloaded, Box<Self>> {
        let (queue, mut pieces) = mpsc::channel::<Bytes>(HASH_QUEUE);
        let (done, sealed) = oneshot::channel();
        let slot = Arc::new(Mutex::new(Some(self)));
        let handed = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("s3-body-hash".into())
            .spawn(move || {
                let Some(mut running) = handed.lock().ok().and_then(|mut r| r.take()) else {
                    return;
                };
                while let Some(bytes) = futures::executor::block_on(pieces.next()) {
                    running.update(&bytes);
                }
                let _ = done.send(running.seal());
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a thread to hash a body; hashing inline");
            // The thread never ran, so the hashers are still in the slot.
            if let Some(running) = slot.lock().ok().and_then(|mut r| r.take()) {
                return Err(running);
            }
        }
        Ok(Offloaded { queue, sealed })
    }
}

/// Hashing moved to its own thread.
struct Offloaded {
    queue: mpsc::Sender<Bytes>,
    sealed: oneshot::Receiver<Sealed>,
}

enum Hashing {
    Inline(Box<Running>),
    Offloaded(Offloaded),
    Ended,
}

/// What the far end of a [`HashingStream`] finds.
enum Outcome {
    /// The body has not been read to its end.
    Unfinished,
    Sealed(Sealed),
    /// The hashing thread will give the digests.
    Hashing(oneshot::Receiver<Sealed>),
}

/// A body stream that hashes what passes through; once it has ended, [`Seal::finish`] gives
/// the digests.
pub struct HashingStream<S> {
    inner: S,
    hashing: Hashing,
    outcome: Arc<Mutex<Outcome>>,
}

/// The far end of a [`HashingStream`].
#[derive(Clone)]
pub struct Seal(Arc<Mutex<Outcome>>);

impl Seal {
    /// The digests, if the body was read to its end (waiting for the hashing thread, if it
    /// has one, to finish the last bytes).
    pub async fn finish(&self) -> Option<Sealed> {
        let outcome = {
            let mut slot = self.0.lock().ok()?;
            std::mem::replace(&mut *slot, Outcome::Unfinished)
        };
        match outcome {
            Outcome::Unfinished => None,
            Outcome::Sealed(sealed) => Some(sealed),
            Outcome::Hashing(sealed) => sealed.await.ok(),
        }
    }
}

impl<S> HashingStream<S> {
    pub fn new(inner: S, algorithm: Option<ChecksumAlgorithm>) -> (Self, Seal) {
        let outcome = Arc::new(Mutex::new(Outcome::Unfinished));
        let stream = Self {
            inner,
            hashing: Hashing::Inline(Box::new(Running {
                md5: Md5::new(),
                checksum: algorithm.map(|a| (a, Hasher::new(a))),
                size: 0,
            })),
            outcome: outcome.clone(),
        };
        (stream, Seal(outcome))
    }

    /// Hashes one piece: inline while the body is short, then on the hashing thread.
    fn hash(&mut self, bytes: &Bytes) -> Result<(), StdError> {
        match &mut self.hashing {
            Hashing::Inline(running) => {
                running.update(bytes);
                if running.size > HASH_INLINE_MAX {
                    if let Hashing::Inline(running) =
                        std::mem::replace(&mut self.hashing, Hashing::Ended)
                    {
                        self.hashing = match running.offload() {
                            Ok(offloaded) => Hashing::Offloaded(offloaded),
                            Err(running) => Hashing::Inline(running),
                        };
                    }
                }
                Ok(())
            }
            Hashing::Offloaded(offloaded) => offloaded
                .queue
                .start_send(bytes.clone())
                .map_err(|_| hashing_stopped()),
            Hashing::Ended => Ok(()),
        }
    }

    /// The body has ended: the digests, or where they will come from.
    fn end(&mut self) {
        let outcome = match std::mem::replace(&mut self.hashing, Hashing::Ended) {
            Hashing::Inline(running) => Outcome::Sealed(running.seal()),
            // Dropping the queue's sender tells the thread the body is complete.
            Hashing::Offloaded(offloaded) => Outcome::Hashing(offloaded.sealed),
            Hashing::Ended => return,
        };
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = outcome;
        }
    }
}

fn hashing_stopped() -> StdError {
    "the thread hashing the body stopped".into()
}

impl<S> Stream for HashingStream<S>
where
    S: Stream<Item = Result<Bytes, StdError>> + Unpin,
{
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // Offloaded, take a piece only once the hashing thread has room for it, so a body is
        // never read faster than it is hashed and the queue stays short.
        if let Hashing::Offloaded(offloaded) = &mut this.hashing {
            match offloaded.queue.poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Some(Err(hashing_stopped()))),
            }
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => match this.hash(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(e) => Poll::Ready(Some(Err(e))),
            },
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl<S> ByteStream for HashingStream<S>
where
    S: ByteStream<Item = Result<Bytes, StdError>> + Unpin,
{
    fn remaining_length(&self) -> RemainingLength {
        self.inner.remaining_length()
    }
}

/// Compares what hashing found with what the request claimed (the trailer value, if any, is
/// passed in once the body has ended). Gives the checksum to store.
pub fn verify(
    claims: &Claims,
    sealed: &Sealed,
    trailer_value: Option<&str>,
) -> S3Result<Option<Checksum>> {
    if let Some(md5) = claims.md5 {
        if md5 != sealed.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let computed = sealed.checksum.as_ref();
    let claimed = match (&claims.checksum, claims.trailer) {
        (Some((a, v)), _) => Some((*a, v.clone())),
        (None, Some(a)) => {
            let header = format!("x-amz-checksum-{}", a.as_str().to_ascii_lowercase());
            let value = trailer_value.ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "The trailer {header} was announced but not sent."
                )
            })?;
            Some((a, decode_digest(value, a.digest_len(), &header)?))
        }
        (None, None) => None,
    };
    if let Some((algorithm, value)) = &claimed {
        let matches = computed.is_some_and(|(a, v)| a == algorithm && v == value);
        if !matches {
            return Err(bad_checksum(*algorithm));
        }
    }
    Ok(computed.map(|(algorithm, value)| Checksum {
        algorithm: *algorithm,
        value: BASE64.encode(value),
        full_object: true,
    }))
}

fn bad_checksum(algorithm: ChecksumAlgorithm) -> S3Error {
    s3_error!(
        BadDigest,
        "The {} you specified did not match the calculated checksum.",
        algorithm.as_str()
    )
}

/// The checksum of a multipart object made of parts with these checksums (base64): the
/// checksum of their concatenated digests, then `-N`.
pub fn composite(algorithm: ChecksumAlgorithm, parts: &[Option<String>]) -> Option<String> {
    let mut all = Vec::with_capacity(parts.len() * algorithm.digest_len());
    for part in parts {
        all.extend_from_slice(&BASE64.decode(part.as_deref()?).ok()?);
    }
    let digest = Hasher::digest(algorithm, &all);
    Some(format!("{}-{}", BASE64.encode(digest), parts.len()))
}

/// The ETag of a multipart object: the MD5 of the parts' MD5s, then `-N`.
pub fn multipart_etag(part_etags: &[&str]) -> Option<String> {
    let mut md5 = Md5::new();
    for etag in part_etags {
        md5.update(&hex::decode(etag).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode(md5.finalize()),
        part_etags.len()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use futures::StreamExt;

    fn sealed_of(data: &[u8], algorithm: Option<ChecksumAlgorithm>) -> Sealed {
        let chunks: Vec<Result<Bytes, StdError>> = data
            .chunks(3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let (mut stream, seal) = HashingStream::new(futures::stream::iter(chunks), algorithm);
        futures::executor::block_on(async {
            while stream.next().await.is_some() {}
            seal.finish().await.unwrap()
        })
    }

    #[test]
    fn md5_and_crc32_of_known_data() {
        let sealed = sealed_of(b"hello world", Some(ChecksumAlgorithm::Crc32));
        assert_eq!(sealed.etag(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let (_, crc) = sealed.checksum.clone().unwrap();
        assert_eq!(BASE64.encode(crc), "DUoRhQ==");
        assert_eq!(sealed.size, 11);
    }

    #[test]
    fn long_bodies_hash_the_same_on_their_own_thread() {
        // Past HASH_INLINE_MAX the hashing moves to a thread: the digests must not change.
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<Result<Bytes, StdError>> = data
            .chunks(65_536)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let (mut stream, seal) = HashingStream::new(
            futures::stream::iter(chunks),
            Some(ChecksumAlgorithm::Sha256),
        );
        let (passed, sealed) = futures::executor::block_on(async {
            let mut passed = Vec::new();
            while let Some(bytes) = stream.next().await {
                passed.extend_from_slice(&bytes.unwrap());
            }
            (passed, seal.finish().await.unwrap())
        });
        assert!(passed == data, "the stream changed the bytes");
        assert_eq!(sealed.md5, Md5::checksum(&data));
        assert_eq!(sealed.size, data.len() as u64);
        let (_, sha) = sealed.checksum.unwrap();
        assert_eq!(sha, Sha256::checksum(&data).to_vec());
    }

    #[test]
    fn claims_are_checked_for_form_then_value() {
        let bad = Claims::parse(ChecksumHeaders {
            content_md5: Some("not base64!"),
            ..ChecksumHeaders::default()
        });
        assert_eq!(bad.unwrap_err().code().as_str(), "InvalidDigest");
        let short = Claims::parse(ChecksumHeaders {
            crc32: Some("AAAA"),
            ..ChecksumHeaders::default()
        });
        assert_eq!(short.unwrap_err().code().as_str(), "InvalidDigest");

        let sealed = sealed_of(b"hello world", Some(ChecksumAlgorithm::Crc32));
        let right = Claims::parse(ChecksumHeaders {
            content_md5: Some("XrY7u+Ae7tCTyyK7j1rNww=="),
            crc32: Some("DUoRhQ=="),
            ..ChecksumHeaders::default()
        })
        .unwrap();
        let stored = verify(&right, &sealed, None).unwrap().unwrap();
        assert_eq!(stored.value, "DUoRhQ==");
        let wrong = Claims::parse(ChecksumHeaders {
            crc32: Some("AAAAAA=="),
            ..ChecksumHeaders::default()
        })
        .unwrap();
        assert_eq!(
            verify(&wrong, &sealed, None).unwrap_err().code().as_str(),
            "BadDigest"
        );

        let trailer = Claims::parse(ChecksumHeaders {
            trailer: Some("x-amz-checksum-crc32"),
            ..ChecksumHeaders::default()
        })
        .unwrap();
        assert_eq!(trailer.algorithm, Some(ChecksumAlgorithm::Crc32));
        assert!(verify(&trailer, &sealed, Some("DUoRhQ==")).is_ok());
        assert!(verify(&trailer, &sealed, Some("AAAAAA==")).is_err());
    }

    #[test]
    fn multipart_etag_is_md5_of_md5s() {
        let a = hex::encode(Md5::checksum(b"a"));
        let b = hex::encode(Md5::checksum(b"b"));
        let mut both = Md5::checksum(b"a").to_vec();
        both.extend_from_slice(&Md5::checksum(b"b"));
        let want = format!("{}-2", hex::encode(Md5::checksum(&both)));
        assert_eq!(multipart_etag(&[&a, &b]).unwrap(), want);
        assert!(multipart_etag(&["zz"]).is_none());
    }
}
