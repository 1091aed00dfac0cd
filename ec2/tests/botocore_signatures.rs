//! The verifier against requests exactly as botocore signs them (both forms, EC2 and STS,
//! another region, a session token, user data with non-ASCII and XML characters), read from
//! fixtures/ec2/botocore-signatures.json (written by ec2/tests/gen_botocore_fixtures.py).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken fixture should fail loudly

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use cirrus_ec2::sigv4::{self, Form, RequestParts, SigError};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

struct Case {
    name: String,
    service: String,
    region: String,
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: String,
}

struct Fixture {
    now: DateTime<Utc>,
    secret: String,
    access_key: String,
    cases: Vec<Case>,
}

fn load() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/ec2/botocore-signatures.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect(path)).unwrap();
    let now = NaiveDateTime::parse_from_str(doc["now"].as_str().unwrap(), "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let cases = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut headers = HeaderMap::new();
            for h in c["headers"].as_array().unwrap() {
                headers.append(
                    HeaderName::from_bytes(h[0].as_str().unwrap().as_bytes()).unwrap(),
                    HeaderValue::from_str(h[1].as_str().unwrap()).unwrap(),
                );
            }
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            Case {
                name: s("name"),
                service: s("service"),
                region: s("region"),
                method: s("method"),
                path: s("path"),
                query: s("query"),
                headers,
                body: s("body"),
            }
        })
        .collect();
    Fixture {
        now,
        secret: doc["secret_key"].as_str().unwrap().to_owned(),
        access_key: doc["access_key"].as_str().unwrap().to_owned(),
        cases,
    }
}

fn check(
    case: &Case,
    method: &str,
    query: &str,
    body: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<sigv4::Claim, SigError> {
    let parts = RequestParts {
        method,
        path: &case.path,
        query: (!query.is_empty()).then_some(query),
        headers: &case.headers,
        body: body.as_bytes(),
    };
    let claim = sigv4::parse(&parts)?.expect("botocore signed it");
    sigv4::check_time(&claim, now)?;
    sigv4::verify(&claim, &parts, secret)?;
    Ok(claim)
}

#[test]
fn botocore_signatures_verify() {
    let f = load();
    assert!(f.cases.len() >= 8);
    for c in &f.cases {
        let claim = check(c, &c.method, &c.query, &c.body, &f.secret, f.now)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(claim.access_key, f.access_key, "{}", c.name);
        assert_eq!(claim.service, c.service, "{}", c.name);
        assert_eq!(claim.region, c.region, "{}", c.name);
        let presigned = c.name.starts_with("presigned");
        assert_eq!(claim.form == Form::Presigned, presigned, "{}", c.name);
        assert_eq!(
            claim.security_token.is_some(),
            c.name == "session-token-header"
        );
    }
}

#[test]
fn botocore_signatures_fail_with_another_secret_or_a_changed_request() {
    let f = load();
    for c in &f.cases {
        let wrong_secret = check(c, &c.method, &c.query, &c.body, "another-secret", f.now);
        assert!(
            matches!(wrong_secret, Err(SigError::Mismatch(_))),
            "{}",
            c.name
        );

        if !c.body.is_empty() {
            let body = c.body.replacen("Version=", "Version=1", 1);
            let got = check(c, &c.method, &c.query, &body, &f.secret, f.now);
            assert!(matches!(got, Err(SigError::Mismatch(_))), "{} body", c.name);
        }
        if !c.query.is_empty() {
            let query = c.query.replacen("Action=", "Action=X", 1);
            let got = check(c, &c.method, &query, &c.body, &f.secret, f.now);
            assert!(
                matches!(got, Err(SigError::Mismatch(_))),
                "{} query",
                c.name
            );
        }
    }
}

#[test]
fn a_presigned_post_url_fetched_with_get_does_not_verify() {
    // boto3's generate_presigned_url signs the operation's method (POST) unless told otherwise.
    let f = load();
    let c = f
        .cases
        .iter()
        .find(|c| c.name == "presigned-post-describe-instances")
        .unwrap();
    assert!(check(c, "POST", &c.query, "", &f.secret, f.now).is_ok());
    let got = check(c, "GET", &c.query, "", &f.secret, f.now);
    assert!(matches!(got, Err(SigError::Mismatch(_))));
}

#[test]
fn botocore_requests_expire() {
    let f = load();
    for c in &f.cases {
        let late = if c.name.starts_with("presigned") {
            // Signed with ExpiresIn=900.
            f.now + Duration::seconds(901)
        } else {
            f.now + Duration::minutes(16)
        };
        let got = check(c, &c.method, &c.query, &c.body, &f.secret, late);
        assert!(matches!(got, Err(SigError::Expired(_))), "{}", c.name);
        let ok = check(
            c,
            &c.method,
            &c.query,
            &c.body,
            &f.secret,
            f.now + Duration::minutes(14),
        );
        assert!(ok.is_ok(), "{}", c.name);
    }
}
