//! The native door: CloudStack's `/client/api`, wire-compatible. Turns signed or session
//! requests into typed commands from one command registry, calls the [`NativePort`] and renders
//! CloudStack's JSON or XML envelopes and error codes. It never sees the core.

use bytes::Bytes;

/// The caller behind a verified API key or session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub user_name: String,
    pub account_id: String,
    pub account_name: String,
    pub domain_id: String,
    pub is_admin: bool,
}

/// A failure inside the port that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// What the native door needs from the core.
#[async_trait::async_trait]
pub trait NativePort: Send + Sync + 'static {
    /// The caller and secret key for an API key, or `None` if unknown or revoked.
    async fn credential(&self, api_key: &str) -> Result<Option<(Caller, String)>, PortError>;
}

/// Answers one request to `/client/api`.
pub async fn handle<P: NativePort + ?Sized>(
    _port: &P,
    _req: http::Request<Bytes>,
    _request_id: &str,
) -> http::Response<Bytes> {
    http::Response::builder()
        .status(432)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Bytes::from_static(
            b"{\"errorresponse\":{\"errorcode\":432,\"errortext\":\"not yet\"}}",
        ))
        .unwrap_or_default()
}
