//! The S3 door: S3's REST protocol on the s3s crate, which parses requests, verifies Signature
//! V4 (header, presigned, signed and unsigned payloads, aws-chunked bodies with trailers) and
//! renders S3's XML. This crate adds S3's semantics (tenancy, names, conditions, ranges,
//! checksums, listing, multipart) over the core's storage port, [`S3Port`], which the root
//! crate implements. Operations not served answer s3s's `NotImplemented` (501), never a fake
//! success. It never sees the core.

mod digest;
mod host;
mod ops;
pub mod port;
mod settings;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{s3_error, S3Result};

pub use host::{BadBaseDomain, BaseDomain};
pub use ops::{MAX_PUT_SIZE, MIN_PART_SIZE};
pub use port::{Caller, Identity, PortError, S3Port};
pub use s3s::Body;

/// Who each recently seen access key belongs to. The secret is looked up fresh for every
/// request (so a revoked key is refused at once); this only spares the second lookup of the
/// same request, from the signature check to the access check.
#[derive(Default)]
struct Callers {
    seen: Mutex<HashMap<String, (Caller, Instant)>>,
}

const CALLER_TTL: Duration = Duration::from_secs(30);
const CALLERS_MAX: usize = 10_000;

impl Callers {
    fn remember(&self, access_key: &str, caller: Caller) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= CALLERS_MAX {
                seen.clear();
            }
            seen.insert(access_key.to_owned(), (caller, Instant::now()));
        }
    }

    fn get(&self, access_key: &str) -> Option<Caller> {
        let seen = self.seen.lock().ok()?;
        let (caller, at) = seen.get(access_key)?;
        (at.elapsed() < CALLER_TTL).then(|| caller.clone())
    }
}

struct Auth<P> {
    port: Arc<P>,
    callers: Arc<Callers>,
}

#[async_trait::async_trait]
impl<P: S3Port> S3Auth for Auth<P> {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.port.identify(access_key).await {
            Ok(Some((secret, caller))) => {
                tracing::Span::current().record("account", caller.display_name.as_str());
                self.callers.remember(access_key, caller);
                Ok(SecretKey::from(secret))
            }
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => {
                tracing::error!(error = %e, "looking up an access key failed");
                Err(s3_error!(InternalError))
            }
        }
    }
}

/// Decides who a request is from, before any operation runs: a verified signature names an
/// account; no signature is anonymous, which only operations that canned ACLs can open to the
/// public may proceed with (the object store then decides).
struct Access<P> {
    port: Arc<P>,
    callers: Arc<Callers>,
}

/// Operations an anonymous request may attempt; the object store still checks the ACLs.
const ANONYMOUS_OPS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "HeadBucket",
    "ListObjects",
    "ListObjectsV2",
    "PutObject",
    "DeleteObject",
];

#[async_trait::async_trait]
impl<P: S3Port> S3Access for Access<P> {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name();
        tracing::Span::current().record("action", op);
        let identity = match cx.credentials() {
            Some(credentials) => {
                let key = credentials.access_key.clone();
                let caller = match self.callers.get(&key) {
                    Some(caller) => caller,
                    None => match self.port.identify(&key).await {
                        Ok(Some((_, caller))) => caller,
                        Ok(None) => return Err(s3_error!(InvalidAccessKeyId)),
                        Err(e) => {
                            tracing::error!(error = %e, "looking up an access key failed");
                            return Err(s3_error!(InternalError));
                        }
                    },
                };
                Identity::Account(caller)
            }
            None if ANONYMOUS_OPS.contains(&op) => Identity::Anonymous,
            None => return Err(s3_error!(AccessDenied, "Access Denied: sign the request.")),
        };
        cx.extensions_mut().insert(identity);
        Ok(())
    }
}

/// The S3 door, ready to answer requests.
pub struct S3Door {
    service: S3Service,
}

impl S3Door {
    /// The door with path-style addressing only.
    pub fn new<P: S3Port>(port: Arc<P>) -> Self {
        Self::with_base_domain(port, None)
    }

    /// The door with virtual-hosted style for `<bucket>.<base domain>` besides path-style.
    pub fn with_base_domain<P: S3Port>(port: Arc<P>, base_domain: Option<BaseDomain>) -> Self {
        let callers = Arc::new(Callers::default());
        let mut builder = S3ServiceBuilder::new(ops::Operations { port: port.clone() });
        if let Some(domain) = base_domain {
            builder.set_host(domain);
        }
        builder.set_auth(Auth {
            port: port.clone(),
            callers: callers.clone(),
        });
        builder.set_access(Access { port, callers });
        Self {
            service: builder.build(),
        }
    }

    /// Answers one S3 request.
    pub async fn handle(&self, req: http::Request<Body>, request_id: &str) -> http::Response<Body> {
        let mut resp = match self.service.call(req).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!(error = ?e, "the S3 service failed");
                internal_error(request_id)
            }
        };
        if let Ok(v) = http::HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-amz-request-id", v);
        }
        resp
    }
}

fn internal_error(request_id: &str) -> http::Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
         <Message>We encountered an internal error. Please try again.</Message>\
         <RequestId>{request_id}</RequestId></Error>"
    );
    let mut resp = http::Response::new(Body::from(Bytes::from(xml)));
    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}
