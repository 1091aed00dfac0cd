//! The S3 door: S3's REST protocol on the s3s crate, which parses requests, verifies Signature
//! V4 and renders S3's XML. This crate supplies the identity lookup ([`S3Port::secret_key`])
//! and the S3 semantics over the core's storage port. Operations not served yet answer s3s's
//! `NotImplemented` (501), never a fake success. It never sees the core.

use std::sync::Arc;

use bytes::Bytes;
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{s3_error, S3Result};

pub use s3s::Body;

/// A failure inside the port that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// What the S3 door needs from the core.
#[async_trait::async_trait]
pub trait S3Port: Send + Sync + 'static {
    /// The secret key for an access key id, or `None` if the key is unknown or revoked.
    async fn secret_key(&self, access_key: &str) -> Result<Option<String>, PortError>;
}

struct Auth<P> {
    port: Arc<P>,
}

#[async_trait::async_trait]
impl<P: S3Port> S3Auth for Auth<P> {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        tracing::Span::current().record("account", access_key);
        match self.port.secret_key(access_key).await {
            Ok(Some(secret)) => Ok(SecretKey::from(secret)),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => {
                tracing::error!(error = %e, "looking up an access key failed");
                Err(s3_error!(InternalError))
            }
        }
    }
}

/// The S3 operations. LIMITATION: no bucket or object operation is served yet (the object
/// store comes with the S3 issue), so every operation answers s3s's 501 NotImplemented.
struct Operations;

#[async_trait::async_trait]
impl s3s::S3 for Operations {}

/// The S3 door, ready to answer requests.
pub struct S3Door {
    service: S3Service,
}

impl S3Door {
    pub fn new<P: S3Port>(port: Arc<P>) -> Self {
        let mut builder = S3ServiceBuilder::new(Operations);
        builder.set_auth(Auth { port });
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
