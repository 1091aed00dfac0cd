//! `cirrus_ec2::handle` end to end over a fake port: every request path answers the right
//! envelope, status and code. Requests are signed here by a small signer written for this test
//! (header form, as the AWS CLI signs), independent of the crate's verifier.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use bytes::Bytes;
use chrono::Utc;
use cirrus_ec2::{
    AvailabilityZone, Caller, Credential, Ec2Error, Ec2Port, Image, ImageState, Instance,
    InstanceType, PortError, Region, ReservationCursor, ReservationPage, Vpc,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const KEY: &str = "CKTESTKEYTESTKEY2345";
const SECRET: &str = "test-secret-0123456789";
const NUMBER: &str = "123456789012";

struct FakePort {
    images_fail: bool,
}

fn caller() -> Caller {
    Caller {
        access_key: KEY.into(),
        account_id: "acc-1".into(),
        account_number: NUMBER.into(),
        account_name: "alice".into(),
        user_id: "user-1".into(),
        user_name: "alice".into(),
        is_admin: false,
    }
}

#[async_trait::async_trait]
impl Ec2Port for FakePort {
    async fn credential(&self, access_key: &str) -> Result<Option<Credential>, PortError> {
        Ok((access_key == KEY).then(|| Credential {
            caller: caller(),
            secret_key: SECRET.into(),
        }))
    }

    async fn region(&self) -> Result<Region, PortError> {
        Ok(Region {
            name: "us-east-1".into(),
            endpoint: "http://127.0.0.1:18199".into(),
        })
    }

    async fn availability_zones(&self) -> Result<Vec<AvailabilityZone>, PortError> {
        Ok(vec![AvailabilityZone {
            name: "us-east-1a".into(),
            zone_id: "use1-az1".into(),
            region: "us-east-1".into(),
            available: true,
        }])
    }

    async fn instance_types(&self, _: &Caller) -> Result<Vec<InstanceType>, PortError> {
        Ok(vec![InstanceType {
            name: "t3.micro".into(),
            vcpus: 2,
            memory_mib: 1024,
            burstable: true,
            clock_ghz: 2.5,
        }])
    }

    async fn images(&self, _: &Caller) -> Result<Vec<Image>, PortError> {
        if self.images_fail {
            return Err(PortError("the database is on fire".into()));
        }
        Ok(vec![Image {
            image_id: "ami-0123456789abcdef0".into(),
            name: "base".into(),
            description: "a <base> & image".into(),
            owner_id: NUMBER.into(),
            is_public: true,
            state: ImageState::Available,
            created_ms: 0,
            root_device_name: "/dev/sda1".into(),
            root_size_gib: 8,
            root_volume_type: "gp2".into(),
            snapshot_id: None,
            ena_support: true,
            state_reason: None,
            launch_permissions: vec!["all".into()],
            tags: vec![],
        }])
    }

    async fn instances(&self, _: &Caller, _: &[String]) -> Result<Vec<Instance>, PortError> {
        Ok(vec![])
    }

    async fn reservation_page(
        &self,
        _: &Caller,
        _: Option<&ReservationCursor>,
        _: usize,
    ) -> Result<ReservationPage, PortError> {
        Ok(ReservationPage::default())
    }

    async fn vpcs(&self, _: &Caller) -> Result<Vec<Vpc>, Ec2Error> {
        Ok(vec![Vpc {
            vpc_id: "vpc-0123456789abcdef0".into(),
            owner_id: "123456789012".into(),
            cidr: "172.31.0.0/16".into(),
            is_default: true,
            state: "available".into(),
            dns_support: true,
            dns_hostnames: true,
            address_usage_metrics: false,
            tags: vec![],
        }])
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

struct Signing<'a> {
    key: &'a str,
    secret: &'a str,
    service: &'a str,
    at: chrono::DateTime<Utc>,
    token: Option<&'a str>,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Self {
            key: KEY,
            secret: SECRET,
            service: "ec2",
            at: Utc::now(),
            token: None,
        }
    }
}

/// A form POST signed over content-type;host;x-amz-date, as the AWS CLI sends it.
fn signed(body: &str, s: Signing<'_>) -> http::Request<Bytes> {
    let host = "127.0.0.1:18199";
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let stamp = s.at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &stamp[..8];
    let mut names = vec!["content-type", "host", "x-amz-date"];
    let mut canon_headers =
        format!("content-type:{content_type}\nhost:{host}\nx-amz-date:{stamp}\n");
    if let Some(t) = s.token {
        names.push("x-amz-security-token");
        canon_headers.push_str(&format!("x-amz-security-token:{t}\n"));
    }
    let signed_headers = names.join(";");
    let canonical = format!(
        "POST\n/\n\n{canon_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{date}/us-east-1/{}/aws4_request", s.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{}", s.secret).as_bytes(), date);
    let k = hmac(&k, "us-east-1");
    let k = hmac(&k, s.service);
    let k = hmac(&k, "aws4_request");
    let signature = hex::encode(hmac(&k, &to_sign));
    let mut b = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", host)
        .header("content-type", content_type)
        .header("x-amz-date", &stamp)
        .header("user-agent", "aws-cli/1.45.11")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
                 Signature={signature}",
                s.key
            ),
        );
    if let Some(t) = s.token {
        b = b.header("x-amz-security-token", t);
    }
    b.body(Bytes::from(body.to_owned())).unwrap()
}

async fn call(req: http::Request<Bytes>) -> (u16, String) {
    call_with(&FakePort { images_fail: false }, req).await
}

async fn call_with(port: &FakePort, req: http::Request<Bytes>) -> (u16, String) {
    let resp = cirrus_ec2::handle(port, req, "req-42").await;
    assert_eq!(resp.headers()["content-type"], "text/xml;charset=UTF-8");
    (
        resp.status().as_u16(),
        String::from_utf8(resp.body().to_vec()).unwrap(),
    )
}

fn ec2_error(code: &str) -> String {
    format!("<Response><Errors><Error><Code>{code}</Code><Message>")
}

#[tokio::test]
async fn unsigned_request_gets_the_ec2_envelope() {
    let req = http::Request::get("/?Action=DescribeRegions")
        .header("host", "127.0.0.1:18199")
        .body(Bytes::new())
        .unwrap();
    let (status, body) = call(req).await;
    assert_eq!(status, 401);
    assert!(body.starts_with(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        ec2_error("AuthFailure")
    )));
    assert!(body.ends_with("</Message></Error></Errors><RequestID>req-42</RequestID></Response>"));

    // A malformed request says nothing before its caller is known.
    let req = http::Request::get("/?Action=DescribeRegions&Action=DescribeImages")
        .header("host", "127.0.0.1:18199")
        .body(Bytes::new())
        .unwrap();
    let (status, body) = call(req).await;
    assert_eq!(status, 401);
    assert!(body.contains(&ec2_error("AuthFailure")));
}

#[tokio::test]
async fn signed_actions_answer() {
    let cases = [
        (
            "Action=DescribeRegions&Version=2016-11-15",
            "<regionName>us-east-1</regionName>",
        ),
        (
            "Action=DescribeAvailabilityZones&Version=2016-11-15&ZoneName.1=us-east-1a",
            "<zoneName>us-east-1a</zoneName>",
        ),
        (
            "Action=DescribeAccountAttributes&Version=2016-11-15",
            "<attributeValue>VPC</attributeValue>",
        ),
        (
            "Action=DescribeAccountAttributes&Version=2016-11-15&AttributeName.1=default-vpc",
            "<attributeValue>vpc-0123456789abcdef0</attributeValue>",
        ),
        (
            "Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=t3.micro",
            "<burstablePerformanceSupported>true</burstablePerformanceSupported>",
        ),
        (
            "Action=DescribeImages&Version=2016-11-15&Owner.1=self",
            "<description>a &lt;base&gt; &amp; image</description>",
        ),
        (
            "Action=DescribeImages&Version=2016-11-15&Owner.1=self",
            "<creationDate>1970-01-01T00:00:00.000Z</creationDate>",
        ),
        (
            "Action=DescribeInstances&Version=2016-11-15",
            "<reservationSet/>",
        ),
    ];
    for (body, want) in cases {
        let (status, text) = call(signed(body, Signing::default())).await;
        assert_eq!(status, 200, "{body}: {text}");
        assert!(text.contains(want), "{body}: {text}");
        assert!(text.contains("<requestId>req-42</requestId>"));
        assert!(text.contains("xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""));
    }
}

#[tokio::test]
async fn sts_get_caller_identity() {
    let s = Signing {
        service: "sts",
        ..Signing::default()
    };
    let (status, text) = call(signed("Action=GetCallerIdentity&Version=2011-06-15", s)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!(
        "<GetCallerIdentityResult><Arn>arn:aws:iam::{NUMBER}:user/alice</Arn><UserId>user-1\
         </UserId><Account>{NUMBER}</Account></GetCallerIdentityResult><ResponseMetadata>\
         <RequestId>req-42</RequestId></ResponseMetadata>"
    )));
}

#[tokio::test]
async fn every_error_path_has_its_code_and_status() {
    let stale = Utc::now() - chrono::Duration::minutes(20);
    let cases: Vec<(&str, http::Request<Bytes>, u16, &str)> = vec![
        (
            "bad secret",
            signed(
                "Action=DescribeRegions",
                Signing {
                    secret: "wrong",
                    ..Signing::default()
                },
            ),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "unknown key",
            signed(
                "Action=DescribeRegions",
                Signing {
                    key: "CKNOBODY",
                    ..Signing::default()
                },
            ),
            401,
            "AuthFailure",
        ),
        (
            "stale date",
            signed(
                "Action=DescribeRegions",
                Signing {
                    at: stale,
                    ..Signing::default()
                },
            ),
            400,
            "RequestExpired",
        ),
        (
            "session token",
            signed(
                "Action=DescribeRegions",
                Signing {
                    token: Some("tok"),
                    ..Signing::default()
                },
            ),
            401,
            "AuthFailure",
        ),
        (
            "unknown action",
            signed("Action=LaunchRockets", Signing::default()),
            400,
            "InvalidAction",
        ),
        (
            "unserved action",
            signed("Action=CreateVpcEndpoint", Signing::default()),
            400,
            "UnsupportedOperation",
        ),
        (
            "no action",
            signed("Version=2016-11-15", Signing::default()),
            400,
            "MissingParameter",
        ),
        (
            "unknown filter",
            signed(
                "Action=DescribeImages&Filter.1.Name=colour&Filter.1.Value.1=red",
                Signing::default(),
            ),
            400,
            "InvalidParameterValue",
        ),
        (
            "unknown parameter",
            signed("Action=DescribeRegions&Colour=red", Signing::default()),
            400,
            "UnknownParameter",
        ),
        (
            "dry run",
            signed("Action=DescribeRegions&DryRun=true", Signing::default()),
            412,
            "DryRunOperation",
        ),
        (
            "unknown image",
            signed(
                "Action=DescribeImages&ImageId.1=ami-99999999",
                Signing::default(),
            ),
            400,
            "InvalidAMIID.NotFound",
        ),
    ];
    for (what, req, status, code) in cases {
        let (got, text) = call(req).await;
        assert_eq!(got, status, "{what}: {text}");
        assert!(text.contains(&ec2_error(code)), "{what}: {text}");
        assert!(text.contains("<RequestID>req-42</RequestID>"), "{what}");
    }
}

#[tokio::test]
async fn messages_name_the_action() {
    let (_, text) = call(signed("Action=LaunchRockets", Signing::default())).await;
    assert!(text.contains("The action LaunchRockets is not valid for this web service."));
    let (_, text) = call(signed("Action=CreateVpcEndpoint", Signing::default())).await;
    assert!(text.contains("CreateVpcEndpoint"));
}

#[tokio::test]
async fn malformed_authorization_is_an_incomplete_signature() {
    let req = http::Request::post("/")
        .header("host", "127.0.0.1:18199")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-amz-date",
            Utc::now().format("%Y%m%dT%H%M%SZ").to_string(),
        )
        .header("authorization", "AWS4-HMAC-SHA256 Credential=CK/x")
        .body(Bytes::from_static(b"Action=DescribeRegions"))
        .unwrap();
    let (status, text) = call(req).await;
    assert_eq!(status, 400);
    assert!(text.contains(&ec2_error("IncompleteSignature")), "{text}");
}

#[tokio::test]
async fn sts_errors_use_the_awsquery_envelope() {
    let unknown = Signing {
        service: "sts",
        key: "CKNOBODY",
        ..Signing::default()
    };
    let (status, text) = call(signed("Action=GetCallerIdentity", unknown)).await;
    assert_eq!(status, 403);
    assert!(text.contains(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender\
         </Type><Code>InvalidClientTokenId</Code>"
    ));
    assert!(text.ends_with("<RequestId>req-42</RequestId></ErrorResponse>"));

    let iam = Signing {
        service: "iam",
        ..Signing::default()
    };
    let (status, text) = call(signed("Action=GetUser", iam)).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("<Code>InvalidAction</Code>") && text.contains("'iam'"),
        "{text}"
    );
}

#[tokio::test]
async fn port_failure_is_an_internal_error_without_details() {
    let port = FakePort { images_fail: true };
    let (status, text) =
        call_with(&port, signed("Action=DescribeImages", Signing::default())).await;
    assert_eq!(status, 500);
    assert!(text.contains(&ec2_error("InternalError")));
    assert!(!text.contains("fire"), "{text}");
}
