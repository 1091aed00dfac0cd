//! The verifier against requests signed by the Rust `aws-sigv4` crate (the signer of the AWS SDK
//! for Rust), a second implementation besides botocore: GET with a query, form POST bodies,
//! Terraform-style `amz-sdk-*` and `content-length` headers, a session token, unicode and reserved
//! characters in values, another region and service, and the presigned query form with expiry.
//! Each signed request must pass `parse`, `check_time` and `verify`, and fail after a one-byte
//! change of the secret, of any signed header, of the query or of the body.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a signer or fixture failure should be loud

use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{DateTime, Duration, Utc};
use cirrus_ec2::sigv4::{self, Form, RequestParts, SigError};
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

const ACCESS_KEY: &str = "AKIDCIRRUSGOLDEN0001";
const SECRET: &str = "w8kPq2ZrT4vN6yX1bC3dE5fG7hJ9kL0mN2pQ4rS6";
/// 2026-01-02T03:04:05Z, the signing time of every case.
const SIGNED_AT: u64 = 1_767_323_045;
/// What Signature V4 leaves unencoded in a query component.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// How a case is signed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// The Authorization header, body hashed into the canonical request only.
    Header,
    /// The Authorization header plus `X-Amz-Content-Sha256` (what S3-style signers add).
    HeaderWithContentSha,
    /// The presigned query form, valid for this many seconds.
    Presigned(u64),
}

struct Case {
    name: &'static str,
    method: &'static str,
    service: &'static str,
    region: &'static str,
    /// The query string as the client sends it (already percent-encoded), without `?`.
    query: String,
    /// Extra headers the client sends and signs (names lowercase), besides `host`.
    headers: Vec<(&'static str, String)>,
    body: String,
    how: How,
    session_token: Option<&'static str>,
}

/// A request as it reaches the server, after signing.
struct Signed {
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn enc(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn host(region: &str, service: &str) -> String {
    format!("{service}.{region}.amazonaws.com")
}

fn base(name: &'static str, method: &'static str) -> Case {
    Case {
        name,
        method,
        service: "ec2",
        region: "us-east-1",
        query: String::new(),
        headers: Vec::new(),
        body: String::new(),
        how: How::Header,
        session_token: None,
    }
}

fn post_form(name: &'static str, body: String) -> Case {
    let len = body.len().to_string();
    Case {
        headers: vec![("content-type", FORM.to_owned()), ("content-length", len)],
        body,
        ..base(name, "POST")
    }
}

fn cases() -> Vec<Case> {
    let unicode = "café ☁ 雲 🌩 *~+&=/?%[]!'()#$,;:@\"<>";
    let mut out = vec![
        Case {
            query: form(&[("Action", "DescribeRegions"), ("Version", "2016-11-15")]),
            ..base("get-query", "GET")
        },
        Case {
            query: form(&[
                ("Version", "2016-11-15"),
                ("Action", "DescribeImages"),
                ("Filter.1.Name", "name"),
                ("Filter.1.Value.1", unicode),
                ("Filter.1.Value.2", "a b  c"),
                ("Owner.1", "self"),
            ]),
            ..base("get-query-unicode-and-reserved", "GET")
        },
        post_form(
            "post-form-describe-instances",
            form(&[("Action", "DescribeInstances"), ("Version", "2016-11-15")]),
        ),
        post_form(
            "post-form-unicode-user-data",
            form(&[
                ("Action", "CreateTags"),
                ("Version", "2016-11-15"),
                ("ResourceId.1", "i-0123456789abcdef0"),
                ("Tag.1.Key", "Name"),
                ("Tag.1.Value", unicode),
                ("Tag.2.Key", "plus+and space"),
                ("Tag.2.Value", "<xml attr=\"1\">&amp;</xml>"),
            ]),
        ),
        Case {
            query: form(&[("Action", "DescribeInstances")]),
            ..post_form(
                "post-form-and-query-merged",
                form(&[("Version", "2016-11-15"), ("MaxResults", "5")]),
            )
        },
    ];

    // The Terraform aws provider (Go SDK v2) signs content-length and its amz-sdk-* headers.
    let mut terraform = post_form(
        "post-terraform-amz-sdk-headers",
        form(&[
            ("Action", "RunInstances"),
            ("Version", "2016-11-15"),
            ("ImageId", "ami-0123456789abcdef0"),
            ("InstanceType", "t3.micro"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("ClientToken", "terraform-20260102030405-0001"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "web ~1"),
        ]),
    );
    terraform.headers.extend([
        (
            "amz-sdk-invocation-id",
            "6f1c2b0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f".to_owned(),
        ),
        // Two blanks inside: the canonical form collapses them to one.
        ("amz-sdk-request", "attempt=1;  max=25".to_owned()),
        ("accept-encoding", "identity".to_owned()),
    ]);
    out.push(terraform);

    out.push(Case {
        how: How::HeaderWithContentSha,
        ..post_form(
            "post-with-x-amz-content-sha256",
            form(&[("Action", "DescribeVpcs"), ("Version", "2016-11-15")]),
        )
    });
    out.push(Case {
        session_token: Some("FQoGZXIvYXdzEHAaDCirrusSessionToken+/=="),
        ..post_form(
            "post-session-token",
            form(&[("Action", "DescribeKeyPairs"), ("Version", "2016-11-15")]),
        )
    });
    out.push(Case {
        service: "sts",
        region: "eu-west-3",
        ..post_form(
            "post-sts-other-region",
            form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]),
        )
    });
    out.push(Case {
        query: form(&[
            ("Action", "DescribeInstances"),
            ("Version", "2016-11-15"),
            ("InstanceId.1", "i-0123456789abcdef0"),
        ]),
        how: How::Presigned(900),
        ..base("presigned-get", "GET")
    });
    out.push(Case {
        query: form(&[
            ("Action", "DescribeTags"),
            ("Version", "2016-11-15"),
            ("Filter.1.Name", "value"),
            ("Filter.1.Value.1", unicode),
        ]),
        how: How::Presigned(3600),
        session_token: Some("FQoGZXIvYXdzEHAaDCirrusSessionToken+/=="),
        region: "ap-southeast-2",
        ..base("presigned-get-unicode-session-token", "GET")
    });
    out.push(Case {
        how: How::Presigned(60),
        ..post_form(
            "presigned-post-form",
            form(&[("Action", "DescribeRegions"), ("Version", "2016-11-15")]),
        )
    });
    out
}

fn identity(secret: &str, token: Option<&str>) -> Identity {
    Credentials::new(
        ACCESS_KEY,
        secret,
        token.map(str::to_owned),
        None,
        "goldens",
    )
    .into()
}

fn signed_at() -> SystemTime {
    UNIX_EPOCH + StdDuration::from_secs(SIGNED_AT)
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(i64::try_from(SIGNED_AT).unwrap(), 0).unwrap()
}

/// Signs a case with `aws-sigv4`, with the body given as `body` (normally the case's own).
fn sign_case(case: &Case, signable: SignableBody<'_>) -> Signed {
    let host = host(case.region, case.service);
    let mut settings = SigningSettings::default();
    match case.how {
        How::Header => {}
        How::HeaderWithContentSha => {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256
        }
        How::Presigned(secs) => {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(StdDuration::from_secs(secs));
        }
    }
    let identity = identity(SECRET, case.session_token);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(case.region)
        .name(case.service)
        .time(signed_at())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = if case.query.is_empty() {
        format!("https://{host}/")
    } else {
        format!("https://{host}/?{}", case.query)
    };
    let mut sent: Vec<(&str, &str)> = vec![("host", host.as_str())];
    sent.extend(case.headers.iter().map(|(k, v)| (*k, v.as_str())));
    // Sent but never signed: aws-sigv4 leaves user-agent out of the canonical request.
    sent.push(("user-agent", "aws-sdk-rust/1.0 os/linux lang/rust"));
    let request = SignableRequest::new(case.method, uri, sent.iter().copied(), signable).unwrap();
    let (instructions, _signature) = sign(request, &params).unwrap().into_parts();

    let mut headers = HeaderMap::new();
    for (k, v) in sent.iter().copied() {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    for (k, v) in instructions.headers() {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let mut query = case.query.clone();
    for (k, v) in instructions.params() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{}={}", enc(k), enc(v)));
    }
    Signed {
        query,
        headers,
        body: case.body.as_bytes().to_vec(),
    }
}

fn signed(case: &Case) -> Signed {
    sign_case(case, SignableBody::Bytes(case.body.as_bytes()))
}

fn check(
    case: &Case,
    req: &Signed,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<sigv4::Claim, SigError> {
    let parts = RequestParts {
        method: case.method,
        path: "/",
        query: (!req.query.is_empty()).then_some(req.query.as_str()),
        headers: &req.headers,
        body: &req.body,
    };
    let claim = sigv4::parse(&parts)?.expect("aws-sigv4 signed it");
    sigv4::check_time(&claim, now)?;
    sigv4::verify(&claim, &parts, secret)?;
    Ok(claim)
}

/// The same text with its last ASCII letter or digit changed to another one: a one-byte change.
fn one_byte_changed(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("something to change");
    bytes[at] = match bytes[at] {
        b'z' | b'Z' | b'9' => bytes[at] - 1,
        b => b + 1,
    };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn aws_sigv4_signatures_verify() {
    let all = cases();
    assert!(all.len() >= 12);
    for case in &all {
        let req = signed(case);
        let claim =
            check(case, &req, SECRET, now()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(claim.access_key, ACCESS_KEY, "{}", case.name);
        assert_eq!(claim.service, case.service, "{}", case.name);
        assert_eq!(claim.region, case.region, "{}", case.name);
        assert_eq!(claim.scope_date, "20260102", "{}", case.name);
        assert_eq!(claim.timestamp, "20260102T030405Z", "{}", case.name);
        assert_eq!(
            claim.security_token.as_deref(),
            case.session_token,
            "{}",
            case.name
        );
        match case.how {
            How::Presigned(secs) => {
                assert_eq!(claim.form, Form::Presigned, "{}", case.name);
                assert_eq!(
                    claim.expires,
                    Some(i64::try_from(secs).unwrap()),
                    "{}",
                    case.name
                );
                assert!(req.headers.get("authorization").is_none(), "{}", case.name);
            }
            How::Header | How::HeaderWithContentSha => {
                assert_eq!(claim.form, Form::Header, "{}", case.name);
                for (name, _) in &case.headers {
                    assert!(
                        claim.signed_headers.iter().any(|h| h == name),
                        "{}: {name} is signed",
                        case.name
                    );
                }
                assert!(!claim.signed_headers.iter().any(|h| h == "user-agent"));
            }
        }
    }
}

#[test]
fn a_one_byte_change_of_the_secret_fails() {
    for case in &cases() {
        let req = signed(case);
        let got = check(case, &req, &one_byte_changed(SECRET), now());
        assert!(
            matches!(got, Err(SigError::Mismatch(_))),
            "{}: {got:?}",
            case.name
        );
        // The first byte too, not only the last.
        let mut first = SECRET.to_owned();
        first.replace_range(..1, "x");
        let got = check(case, &req, &first, now());
        assert!(
            matches!(got, Err(SigError::Mismatch(_))),
            "{}: {got:?}",
            case.name
        );
    }
}

#[test]
fn a_one_byte_change_of_any_signed_header_fails() {
    for case in &cases() {
        let req = signed(case);
        let claim = check(case, &req, SECRET, now()).unwrap();
        assert!(
            claim.signed_headers.iter().any(|h| h == "host"),
            "{}",
            case.name
        );
        for name in &claim.signed_headers {
            let mut changed = Signed {
                query: req.query.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
            };
            let value = req.headers[name.as_str()].to_str().unwrap();
            changed.headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&one_byte_changed(value)).unwrap(),
            );
            let got = check(case, &changed, SECRET, now());
            // A changed date moves the signing time or the scope: any refusal will do there.
            if name == "x-amz-date" {
                assert!(got.is_err(), "{}: {name}", case.name);
            } else {
                assert!(
                    matches!(got, Err(SigError::Mismatch(_))),
                    "{}: {name}: {got:?}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn an_unsigned_header_may_change() {
    for case in &cases() {
        let mut req = signed(case);
        req.headers
            .insert("user-agent", HeaderValue::from_static("something-else/2.0"));
        req.headers
            .insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
        assert!(check(case, &req, SECRET, now()).is_ok(), "{}", case.name);
    }
}

#[test]
fn a_one_byte_change_of_the_query_or_the_body_fails() {
    let mut tried_query = 0;
    let mut tried_body = 0;
    for case in &cases() {
        let req = signed(case);
        if !case.query.is_empty() {
            tried_query += 1;
            // Change the action's part of the query, in front of any X-Amz-* parameters.
            let rest = &req.query[case.query.len()..];
            let changed = Signed {
                query: format!("{}{rest}", one_byte_changed(&case.query)),
                headers: req.headers.clone(),
                body: req.body.clone(),
            };
            let got = check(case, &changed, SECRET, now());
            assert!(
                matches!(got, Err(SigError::Mismatch(_))),
                "{} query: {got:?}",
                case.name
            );
            // Appending a parameter is a change as well.
            let added = Signed {
                query: format!("{}&DryRun=true", req.query),
                headers: req.headers.clone(),
                body: req.body.clone(),
            };
            let got = check(case, &added, SECRET, now());
            assert!(
                matches!(got, Err(SigError::Mismatch(_))),
                "{} added: {got:?}",
                case.name
            );
        }
        if !case.body.is_empty() {
            tried_body += 1;
            let changed = Signed {
                query: req.query.clone(),
                headers: req.headers.clone(),
                body: one_byte_changed(&case.body).into_bytes(),
            };
            let got = check(case, &changed, SECRET, now());
            assert!(
                matches!(got, Err(SigError::Mismatch(_))),
                "{} body: {got:?}",
                case.name
            );
        }
    }
    assert!(
        tried_query >= 5 && tried_body >= 7,
        "{tried_query} {tried_body}"
    );
}

#[test]
fn aws_sigv4_requests_expire() {
    for case in &cases() {
        let req = signed(case);
        let (late, fine) = match case.how {
            How::Presigned(secs) => {
                let secs = i64::try_from(secs).unwrap();
                (
                    now() + Duration::seconds(secs + 1),
                    now() + Duration::seconds(secs),
                )
            }
            _ => (now() + Duration::minutes(16), now() + Duration::minutes(14)),
        };
        let got = check(case, &req, SECRET, late);
        assert!(
            matches!(got, Err(SigError::Expired(_))),
            "{}: {got:?}",
            case.name
        );
        assert!(check(case, &req, SECRET, fine).is_ok(), "{}", case.name);
        // Signed in the future beyond the allowed skew.
        let early = check(case, &req, SECRET, now() - Duration::minutes(16));
        assert!(
            matches!(early, Err(SigError::Expired(_))),
            "{}: {early:?}",
            case.name
        );
    }
}

#[test]
fn unsigned_payload_is_refused_for_ec2() {
    // EC2 and STS requests carry their parameters in the body, so the verifier insists on a signed
    // payload; aws-sigv4 signs UNSIGNED-PAYLOAD only when told the body cannot be hashed.
    for name in ["post-with-x-amz-content-sha256", "presigned-post-form"] {
        let all = cases();
        let case = all.iter().find(|c| c.name == name).unwrap();
        let req = sign_case(case, SignableBody::UnsignedPayload);
        if case.how == How::HeaderWithContentSha {
            assert_eq!(req.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        }
        let got = check(case, &req, SECRET, now());
        assert!(matches!(got, Err(SigError::Mismatch(_))), "{name}: {got:?}");
    }
}

#[test]
fn a_precomputed_payload_hash_verifies_like_the_bytes() {
    let all = cases();
    let case = all
        .iter()
        .find(|c| c.name == "post-terraform-amz-sdk-headers")
        .unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(case.body.as_bytes()))
    };
    let req = sign_case(case, SignableBody::Precomputed(digest));
    assert!(check(case, &req, SECRET, now()).is_ok());
}
