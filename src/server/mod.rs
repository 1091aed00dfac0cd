//! The one listener in front of the three doors: accepts TCP (optionally TLS) connections,
//! gives every request an id and a span, routes it to its door (see [`route`]), writes one
//! access-log line per request, and on SIGINT/SIGTERM stops accepting and lets requests in
//! flight finish.

pub mod route;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{field, info, warn, Instrument};

use crate::translate::Translator;
use route::Door;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ResponseBody = BoxBody<Bytes, BoxError>;

/// The largest body the EC2 and native doors read (S3 bodies stream and are not limited here).
const MAX_QUERY_BODY: usize = 8 << 20;
/// How long requests in flight may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure to start serving, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load TLS {what} from {path}: {message}")]
    Tls {
        what: &'static str,
        path: String,
        message: String,
    },
}

/// The doors, each built once and shared by every connection.
pub struct Doors {
    pub translator: Arc<Translator>,
    pub s3: cirrus_s3::S3Door,
}

/// Loads a certificate chain and private key (PEM) into a TLS acceptor.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    let tls_err = |what, path: &Path, message: String| ServeError::Tls {
        what,
        path: path.display().to_string(),
        message,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| tls_err("certificate", cert, e.to_string()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("certificate", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(
            "certificate",
            cert,
            "no PEM certificate in the file".into(),
        ));
    }
    let key_pem = std::fs::read(key).map_err(|e| tls_err("key", key, e.to_string()))?;
    let private_key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| tls_err("key", key, e.to_string()))?
        .ok_or_else(|| tls_err("key", key, "no PEM private key in the file".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("configuration", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| tls_err("key", key, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds the listen address; the server is reachable as soon as this returns.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves until `shutdown` resolves, then drains the connections in flight.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    doors: Arc<Doors>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a response written in two parts waits for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let doors = doors.clone();
        let service = service_fn(move |req| {
            let doors = doors.clone();
            async move { Ok::<_, Infallible>(dispatch(&doors, req, peer).await) }
        });
        match &tls {
            None => {
                let conn = http1_builder().serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    let Ok(Ok(tls_stream)) = handshake.await else {
                        return;
                    };
                    let conn = http1_builder().serve_connection(TokioIo::new(tls_stream), service);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(listener);
    info!("shutting down: no new connections, finishing requests in flight");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Routes one request and writes its access-log line.
/// How long a client may take to send a request's headers: a connection that sends part of
/// them and then nothing is closed then, rather than held open for ever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

fn http1_builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    b
}

async fn dispatch(
    doors: &Doors,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> http::Response<ResponseBody> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let door = route::classify(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
    );
    // The query string is never logged: it can carry signatures, session keys and passwords.
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        door = door.name(),
        method = %req.method(),
        path = %req.uri().path(),
        %peer,
        action = field::Empty,
        account = field::Empty,
    );
    let carries_body = carries_body(req.headers());
    let response = route_to_door(doors, door, req, &request_id)
        .instrument(span.clone())
        .await;
    let mut response = response;
    // An error answered before the body was read (a bad digest, a refused tag, a client that
    // waits for 100-continue and sends its body anyway) must not leave that body on the
    // connection, where it would be read as the start of the next request: close it instead.
    if carries_body && (response.status().is_client_error() || response.status().is_server_error())
    {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| info!(status, latency_ms = format!("{latency_ms:.2}"), "request"));
    response
}

/// True if the request announces a body (a non-zero length, or chunks).
fn carries_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

async fn route_to_door(
    doors: &Doors,
    door: Door,
    req: http::Request<Incoming>,
    request_id: &str,
) -> http::Response<ResponseBody> {
    match door {
        Door::Health => full(
            http::StatusCode::OK,
            "application/json",
            Bytes::from_static(b"{\"status\":\"ok\"}\n"),
        ),
        Door::S3 => s3(doors, req.map(cirrus_s3::Body::from), request_id).await,
        Door::Native | Door::Ec2 | Door::Ec2IfActionInBody => {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_QUERY_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    let msg = format!(
                        "the request body is larger than {MAX_QUERY_BODY} bytes or was cut off\n"
                    );
                    return full(
                        http::StatusCode::PAYLOAD_TOO_LARGE,
                        "text/plain",
                        Bytes::from(msg),
                    );
                }
            };
            let req = http::Request::from_parts(parts, body);
            match door {
                Door::Native => {
                    boxed(cirrus_native::handle(&*doors.translator, req, request_id).await)
                }
                Door::Ec2IfActionInBody if !route::has_action(req.body()) => {
                    tracing::Span::current().record("door", "s3");
                    s3(doors, req.map(cirrus_s3::Body::from), request_id).await
                }
                _ => boxed(cirrus_ec2::handle(&*doors.translator, req, request_id).await),
            }
        }
    }
}

async fn s3(
    doors: &Doors,
    req: http::Request<cirrus_s3::Body>,
    request_id: &str,
) -> http::Response<ResponseBody> {
    let resp = doors.s3.handle(req, request_id).await;
    resp.map(|b| b.map_err(|e| -> BoxError { e }).boxed())
}

fn boxed(resp: http::Response<Bytes>) -> http::Response<ResponseBody> {
    resp.map(|b| Full::new(b).map_err(|never| match never {}).boxed())
}

fn full(
    status: http::StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> http::Response<ResponseBody> {
    let mut resp = boxed(http::Response::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}
