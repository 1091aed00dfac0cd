//! Virtual-hosted style: with a base domain configured, a request whose `Host` is
//! `<bucket>.<base domain>` (with or without a port) addresses that bucket, and its path is
//! the key. Every other `Host` (an IP address, the base domain itself, any other name) is
//! path-style, which always works. s3s's own `SingleDomain` would take any other host name
//! for a bucket (CNAME style), which would turn `127.0.0.1:8080` into a bucket name; this
//! does not.

use s3s::host::{S3Host, VirtualHost};
use s3s::{s3_error, S3Result};

/// The base domain buckets are addressed under, lowercased, without a port.
#[derive(Debug, Clone)]
pub struct BaseDomain {
    domain: String,
}

/// Why a base domain cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the S3 base domain '{0}' is not a host name: write it as labels of letters, digits and \
     '-' separated by dots, without a scheme, port or path (e.g. s3.cloud.example)"
)]
pub struct BadBaseDomain(pub String);

impl BaseDomain {
    pub fn new(domain: &str) -> Result<Self, BadBaseDomain> {
        let lowered = domain.trim_end_matches('.').to_ascii_lowercase();
        let valid = !lowered.is_empty()
            && lowered.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if valid {
            Ok(Self { domain: lowered })
        } else {
            Err(BadBaseDomain(domain.to_owned()))
        }
    }

    /// The bucket a `Host` header names, if it is `<bucket>.<base domain>[:port]`.
    fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = strip_port(host);
        let cut = name.len().checked_sub(self.domain.len() + 1)?;
        let (bucket, rest) = (name.get(..cut)?, name.get(cut..)?);
        let matches = rest.strip_prefix('.')?.eq_ignore_ascii_case(&self.domain);
        (matches && !bucket.is_empty()).then_some(bucket)
    }
}

/// `host:port` -> `host`; an IPv6 literal `[..]:port` keeps its brackets.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

impl S3Host for BaseDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        if host.is_empty() {
            return Err(s3_error!(InvalidRequest, "The Host header is empty."));
        }
        Ok(match self.bucket_of(host) {
            // Bucket names are lowercase; a client may send the host in any case.
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket.to_ascii_lowercase()),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    #[test]
    fn buckets_under_the_base_domain_only() {
        let d = BaseDomain::new("S3.Cloud.Test").unwrap();
        let bucket = |h: &str| d.parse_host_header(h).unwrap().bucket().map(str::to_owned);
        assert_eq!(bucket("photos.s3.cloud.test").as_deref(), Some("photos"));
        assert_eq!(
            bucket("my.dotted.bucket.s3.cloud.test:18710").as_deref(),
            Some("my.dotted.bucket")
        );
        assert_eq!(bucket("Photos.S3.CLOUD.test").as_deref(), Some("photos"));
        assert_eq!(bucket("s3.cloud.test"), None);
        assert_eq!(bucket("s3.cloud.test:8080"), None);
        assert_eq!(bucket("127.0.0.1:8080"), None);
        assert_eq!(bucket("[::1]:8080"), None);
        assert_eq!(bucket("xs3.cloud.test"), None);
        assert_eq!(bucket("other.example"), None);
        assert!(BaseDomain::new("http://s3.cloud.test").is_err());
        assert!(BaseDomain::new("s3.cloud.test:80").is_err());
        assert!(BaseDomain::new("").is_err());
    }
}
