//! Which door a request goes to, decided from its head alone (and, for an unsigned form POST,
//! its body): a pure function, tested below.
//!
//! - `GET /_cirrus/health` is the server's own (bucket names cannot hold `_`).
//! - `/client/api` is the native API.
//! - A Signature V4 request goes by the service in its credential scope: `s3` to S3, any other
//!   (`ec2`, `sts`, ...) to the EC2 door, which answers query-protocol services.
//! - An unsigned request with `Action=` in its query (or its form body) is EC2's, so it gets
//!   EC2's error envelope; anything else unsigned is S3 (anonymous access).

use http::{HeaderMap, Method};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Health,
    Native,
    Ec2,
    S3,
    /// Unsigned form POST: EC2 if the body has `Action=`, else S3. The caller reads the body.
    Ec2IfActionInBody,
}

impl Door {
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Native => "native",
            Self::Ec2 | Self::Ec2IfActionInBody => "ec2",
            Self::S3 => "s3",
        }
    }
}

pub const HEALTH_PATH: &str = "/_cirrus/health";

pub fn classify(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Door {
    if path == HEALTH_PATH && (method == Method::GET || method == Method::HEAD) {
        return Door::Health;
    }
    if path == "/client/api" || path == "/client/api/" {
        return Door::Native;
    }
    if let Some(service) = signed_service(query, headers) {
        return if service == "s3" { Door::S3 } else { Door::Ec2 };
    }
    if query.is_some_and(|q| has_action(q.as_bytes())) {
        return Door::Ec2;
    }
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if method == Method::POST && form && path == "/" {
        return Door::Ec2IfActionInBody;
    }
    Door::S3
}

/// True if a form-encoded string has an `Action` parameter.
pub fn has_action(form: &[u8]) -> bool {
    form_urlencoded::parse(form).any(|(k, _)| k == "Action")
}

/// The service named in a Signature V4 credential scope, from the Authorization header or the
/// presigned `X-Amz-Credential` query parameter.
fn signed_service(query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(auth) = auth.and_then(|a| a.strip_prefix("AWS4-HMAC-SHA256")) {
        let credential = auth
            .split(',')
            .find_map(|part| part.trim().strip_prefix("Credential="));
        return Some(credential.and_then(scope_service).unwrap_or_default());
    }
    let query = query?;
    let credential = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")
        .map(|(_, v)| v.into_owned())?;
    Some(scope_service(&credential).unwrap_or_default())
}

/// `AKID/20261203/us-east-1/ec2/aws4_request` -> `ec2`.
fn scope_service(credential: &str) -> Option<String> {
    let parts: Vec<&str> = credential.rsplitn(3, '/').collect();
    // rsplitn gives ["aws4_request", service, rest]
    match parts.as_slice() {
        ["aws4_request", service, _] => Some((*service).to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    const EC2_AUTH: &str = "AWS4-HMAC-SHA256 Credential=CKX/20261203/us-east-1/ec2/aws4_request, \
                            SignedHeaders=content-type;host;x-amz-date, Signature=abc";
    const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=CKX/20261203/us-east-1/s3/aws4_request, \
                           SignedHeaders=host;x-amz-date, Signature=abc";
    const STS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=CKX/20261203/us-east-1/sts/aws4_request, \
                            SignedHeaders=host, Signature=abc";

    #[test]
    fn routes() {
        let form = (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        let cases: &[(Method, &str, Option<&str>, HeaderMap, Door)] = &[
            (Method::GET, "/_cirrus/health", None, headers(&[]), Door::Health),
            (Method::PUT, "/_cirrus/health", None, headers(&[]), Door::S3),
            (Method::GET, "/client/api", Some("command=listZones"), headers(&[]), Door::Native),
            (Method::POST, "/client/api", None, headers(&[form]), Door::Native),
            (Method::POST, "/", None, headers(&[("authorization", EC2_AUTH), form]), Door::Ec2),
            (Method::POST, "/", None, headers(&[("authorization", STS_AUTH), form]), Door::Ec2),
            (Method::GET, "/bucket/key", None, headers(&[("authorization", S3_AUTH)]), Door::S3),
            (
                Method::GET,
                "/b/k",
                Some("X-Amz-Credential=CKX%2F20261203%2Fus-east-1%2Fs3%2Faws4_request"),
                headers(&[]),
                Door::S3,
            ),
            (
                Method::GET,
                "/",
                Some("Action=DescribeInstances&X-Amz-Credential=CKX%2F20261203%2Fus-east-1%2Fec2%2Faws4_request"),
                headers(&[]),
                Door::Ec2,
            ),
            (Method::GET, "/", Some("Action=DescribeRegions"), headers(&[]), Door::Ec2),
            (Method::POST, "/", None, headers(&[form]), Door::Ec2IfActionInBody),
            (Method::GET, "/", None, headers(&[]), Door::S3),
            (Method::GET, "/public-bucket/obj", Some("x=1"), headers(&[]), Door::S3),
        ];
        for (method, path, query, h, want) in cases {
            assert_eq!(
                classify(method, path, *query, h),
                *want,
                "{method} {path} {query:?}"
            );
        }
    }

    #[test]
    fn action_in_form_body() {
        assert!(has_action(b"Version=2016-11-15&Action=DescribeRegions"));
        assert!(!has_action(b"Actions=1&x=Action"));
    }
}
