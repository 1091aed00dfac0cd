//! The EC2 door: turns ec2Query HTTP requests (and STS GetCallerIdentity) into typed actions,
//! verifies their Signature V4, calls the [`Ec2Port`] and renders EC2's XML answers and error
//! envelopes. It never sees the core: the root crate implements the port.

use bytes::Bytes;

/// The caller behind a verified access key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    pub account_id: String,
    /// 12 digits: EC2 `ownerId` and the account part of ARNs.
    pub account_number: String,
    pub account_name: String,
    pub user_id: String,
    pub user_name: String,
    pub is_admin: bool,
}

/// What the port answers for an access key: the caller and its secret.
pub struct Credential {
    pub caller: Caller,
    pub secret_key: String,
}

/// A failure inside the port that is not the caller's fault; logged, answered InternalError.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// What the EC2 door needs from the core.
#[async_trait::async_trait]
pub trait Ec2Port: Send + Sync + 'static {
    /// The caller and secret for an access key id, or `None` if the key is unknown or revoked.
    async fn credential(&self, access_key: &str) -> Result<Option<Credential>, PortError>;
}

/// Answers one EC2 (or STS) request. `service` is the one named in the credential scope, or
/// `None` for an unsigned request.
pub async fn handle<P: Ec2Port + ?Sized>(
    _port: &P,
    _req: http::Request<Bytes>,
    request_id: &str,
) -> http::Response<Bytes> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnsupportedOperation</Code><Message>not yet</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
    );
    http::Response::builder()
        .status(400)
        .header("content-type", "text/xml;charset=UTF-8")
        .body(Bytes::from(body))
        .unwrap_or_default()
}
