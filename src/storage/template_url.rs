//! Fetching a template from a URL a user gave: which URLs are refused, and the download itself.
//!
//! The host is resolved once, every address it resolves to is checked, and the download
//! connects to the checked address (the `Host` header and TLS name stay the URL's), so a name
//! that resolves elsewhere a second time (DNS rebinding) cannot steer the connection. Link-local
//! and metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254) are refused always; loopback
//! only unless the operator allowed it; unspecified, multicast and broadcast addresses are never
//! a template server. Redirects are not followed, as their target would escape the check.
//!
//! This module owns no state: it answers a checked target, then streams a body into a sink.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long connecting (and the TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may stay silent while sending headers or body.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the system's trusted certificate authorities are (Debian's bundle).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a URL cannot be used, worded for the user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct UrlRefused(pub String);

/// A URL that passed the checks: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host as the URL wrote it (a name, or an address without brackets).
    pub host: String,
    pub port: u16,
    /// The path and query to ask for.
    pub path: String,
    /// The checked address the download connects to.
    pub addr: SocketAddr,
}

impl Target {
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why an address may not be fetched from, if it may not.
pub fn refused_address(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let ip = match ip {
        // An IPv4-mapped IPv6 address is the IPv4 address it carries.
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_loopback),
        IpAddr::V6(v6) => refused_v6(v6, allow_loopback),
    }
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    if ip.is_link_local() {
        Some("a link-local or metadata address (169.254.0.0/16)")
    } else if ip.is_loopback() && !allow_loopback {
        Some("a loopback address, which this cloud does not allow for templates")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
        Some("not the address of a server")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
    if (ip.segments()[0] & 0xffc0) == 0xfe80 {
        Some("a link-local address (fe80::/10)")
    } else if ip == AWS_METADATA_V6 {
        Some("a metadata address")
    } else if ip.is_loopback() && !allow_loopback {
        Some("a loopback address, which this cloud does not allow for templates")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("not the address of a server")
    } else {
        None
    }
}

/// The parts of an http(s) URL, before any name is resolved.
fn parse(url: &str) -> Result<(bool, String, u16, String), UrlRefused> {
    let bad = |why: &str| UrlRefused(format!("The URL '{url}' cannot be used: {why}."));
    let uri: http::Uri = url.parse().map_err(|_| bad("it is not a valid URL"))?;
    let https = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(_) => return Err(bad("only http and https URLs are supported")),
        None => return Err(bad("it has no scheme; write http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("it names no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("credentials in the URL are not supported"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("it names no host"));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    Ok((https, host.to_owned(), port, path))
}

/// Checks a URL and resolves its host once; the answer says where to connect.
pub async fn check(url: &str, allow_loopback: bool) -> Result<Target, UrlRefused> {
    let (https, host, port, path) = parse(url)?;
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| {
            UrlRefused(format!(
                "The host '{host}' of the URL did not resolve in time."
            ))
        })?
        .map_err(|e| {
            UrlRefused(format!(
                "The host '{host}' of the URL does not resolve: {e}."
            ))
        })?
        .collect(),
    };
    // Every address the name has must pass, so the choice among them cannot be turned against
    // the check.
    for addr in &addrs {
        if let Some(why) = refused_address(addr.ip(), allow_loopback) {
            return Err(UrlRefused(format!(
                "The URL '{url}' cannot be used: its host '{host}' is {why} ({}).",
                addr.ip()
            )));
        }
    }
    let addr = *addrs
        .first()
        .ok_or_else(|| UrlRefused(format!("The host '{host}' of the URL has no address.")))?;
    Ok(Target {
        https,
        host,
        port,
        path,
        addr,
    })
}

/// What a download reports while it runs.
pub trait Sink: Send {
    /// The body's length, if the server said it.
    fn begin(&mut self, length: Option<u64>) -> std::io::Result<()>;
    /// Takes the next piece of the body; an error stops the download.
    fn chunk(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// Why a download failed, worded for the template's status.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchFailed(pub String);

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(target: &Target) -> Result<Box<dyn Stream>, FetchFailed> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr))
        .await
        .map_err(|_| FetchFailed(format!("connecting to {} timed out", target.addr)))?
        .map_err(|e| FetchFailed(format!("cannot connect to {}: {e}", target.addr)))?;
    if !target.https {
        return Ok(Box::new(tcp));
    }
    let config = tls_config()?;
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| FetchFailed(format!("'{}' is not a valid TLS server name", target.host)))?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| FetchFailed(format!("the TLS handshake with {} timed out", target.host)))?
    .map_err(|e| {
        FetchFailed(format!(
            "the TLS handshake with {} failed: {e}",
            target.host
        ))
    })?;
    Ok(Box::new(tls))
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, FetchFailed> {
    let pem = std::fs::read(CA_BUNDLE).map_err(|e| {
        FetchFailed(format!(
            "https needs the system's certificate authorities in {CA_BUNDLE}: {e}"
        ))
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
        // A certificate rustls cannot use is skipped; the others still verify.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchFailed(format!("TLS is not available: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Downloads the target into `sink`, at most `max_size` bytes.
pub async fn fetch(
    target: &Target,
    max_size: u64,
    sink: &mut dyn Sink,
) -> Result<u64, FetchFailed> {
    let io = connect(target).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| FetchFailed(format!("HTTP with {} failed: {e}", target.addr)))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = fetch_on(&mut sender, target, max_size, sink).await;
    driver.abort();
    result
}

async fn fetch_on(
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>>,
    target: &Target,
    max_size: u64,
    sink: &mut dyn Sink,
) -> Result<u64, FetchFailed> {
    let request = http::Request::get(target.path.as_str())
        .header(http::header::HOST, target.host_header())
        .header(http::header::USER_AGENT, "cirrus-template-download")
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| FetchFailed(format!("cannot form the request: {e}")))?;
    let response = tokio::time::timeout(IDLE_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| FetchFailed(format!("{} sent no answer in time", target.host)))?
        .map_err(|e| FetchFailed(format!("the request to {} failed: {e}", target.host)))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(FetchFailed(format!(
            "the server answered {status} (a redirect); redirects are not followed, give the \
             final URL"
        )));
    }
    if !status.is_success() {
        return Err(FetchFailed(format!("the server answered {status}")));
    }
    let length = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length.filter(|l| *l > max_size) {
        return Err(FetchFailed(format!(
            "the file is {length} bytes, more than the {max_size} a template may have"
        )));
    }
    sink.begin(length)
        .map_err(|e| FetchFailed(format!("cannot store the download: {e}")))?;
    let mut body = response.into_body();
    let mut received = 0u64;
    loop {
        let frame = tokio::time::timeout(IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| FetchFailed(format!("{} stopped sending", target.host)))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| FetchFailed(format!("the download broke off: {e}")))?;
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > max_size {
                return Err(FetchFailed(format!(
                    "the file is more than the {max_size} bytes a template may have"
                )));
            }
            sink.chunk(&data)
                .map_err(|e| FetchFailed(format!("cannot store the download: {e}")))?;
        }
    }
    if let Some(length) = length.filter(|l| *l != received) {
        return Err(FetchFailed(format!(
            "the download ended after {received} of {length} bytes"
        )));
    }
    Ok(received)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    async fn refused(url: &str, allow_loopback: bool) -> String {
        match check(url, allow_loopback).await {
            Ok(t) => panic!("{url} was accepted: {t:?}"),
            Err(UrlRefused(why)) => why,
        }
    }

    #[tokio::test]
    async fn metadata_and_link_local_hosts_are_refused_even_with_loopback_allowed() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.0.1:8080/x.img",
            "http://[fe80::1]/x.img",
            "http://[febf::1]/x.img",
            "http://[::ffff:169.254.169.254]/x",
            "http://[fd00:ec2::254]/x",
            // 169.254.169.254 as one decimal number: resolved, then refused by address.
            "http://2852039166/x",
        ] {
            let why = refused(url, true).await;
            assert!(
                why.contains("link-local") || why.contains("metadata"),
                "{url}: {why}"
            );
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let why = refused("http://127.0.0.1:18620/x.img", false).await;
        assert!(why.contains("loopback"), "{why}");
        let why = refused("http://[::1]:18620/x.img", false).await;
        assert!(why.contains("loopback"), "{why}");
        let why = refused("http://localhost:18620/x.img", false).await;
        assert!(why.contains("loopback"), "{why}");
        let ok = check("http://127.0.0.1:18620/x.img?v=1", true)
            .await
            .unwrap();
        assert_eq!(ok.addr, "127.0.0.1:18620".parse().unwrap());
        assert_eq!(ok.path, "/x.img?v=1");
        assert_eq!(ok.host_header(), "127.0.0.1:18620");
    }

    #[tokio::test]
    async fn only_plain_http_and_https_urls_are_taken() {
        for (url, says) in [
            ("ftp://127.0.0.1/x.img", "only http and https"),
            ("file:///etc/passwd", "not a valid URL"),
            ("127.0.0.1/x.img", "not a valid URL"),
            ("http://user:pw@127.0.0.1/x.img", "credentials"),
            ("http://0.0.0.0/x.img", "not the address of a server"),
            ("http://224.0.0.1/x.img", "not the address of a server"),
        ] {
            let why = refused(url, true).await;
            assert!(why.contains(says), "{url}: {why}");
        }
    }
}
