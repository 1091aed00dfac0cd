"""Authentication errors, per door, in the door's own envelope: never a 500."""

import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from harness import boto3_client, cloudstack, ec2_request, native_request, requests

UNKNOWN_KEY = "CKUNKNOWNUNKNOWNUNKN"
WRONG_SECRET = "0" * 40


@pytest.fixture(scope="module")
def srv(shared_server):
    return shared_server


def ec2_error(response):
    """The code of an EC2 error envelope: <Response><Errors><Error><Code> ... <RequestID>."""
    root = ET.fromstring(response.content)
    assert root.tag == "Response", response.text
    assert root.findtext("RequestID"), response.text
    errors = root.findall("./Errors/Error")
    assert len(errors) == 1, response.text
    assert errors[0].findtext("Message"), response.text
    return errors[0].findtext("Code")


def test_ec2_unknown_access_key_is_auth_failure(srv):
    r = ec2_request(srv, UNKNOWN_KEY, WRONG_SECRET,
                    {"Action": "DescribeInstances", "Version": "2016-11-15"})
    assert (r.status_code, ec2_error(r)) == (401, "AuthFailure")


def test_ec2_bad_signature_is_signature_does_not_match(srv):
    r = ec2_request(srv, srv.access_key, WRONG_SECRET,
                    {"Action": "DescribeInstances", "Version": "2016-11-15"})
    assert (r.status_code, ec2_error(r)) == (403, "SignatureDoesNotMatch")


def test_ec2_unsigned_action_gets_the_ec2_envelope(srv):
    r = ec2_request(srv, "", None, {"Action": "DescribeInstances", "Version": "2016-11-15"})
    assert r.status_code in (401, 403), r.text
    assert ec2_error(r) in {"AuthFailure", "MissingAuthenticationToken"}


def test_ec2_errors_reach_boto3_as_codes(srv):
    for key, secret, status, code in [(UNKNOWN_KEY, WRONG_SECRET, 401, "AuthFailure"),
                                      (srv.access_key, WRONG_SECRET, 403,
                                       "SignatureDoesNotMatch")]:
        with pytest.raises(ClientError) as e:
            boto3_client(srv, "ec2", key, secret).describe_instances()
        assert e.value.response["Error"]["Code"] == code
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_s3_unknown_access_key(srv):
    with pytest.raises(ClientError) as e:
        boto3_client(srv, "s3", UNKNOWN_KEY, WRONG_SECRET).list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_s3_bad_signature(srv):
    with pytest.raises(ClientError) as e:
        boto3_client(srv, "s3", srv.access_key, WRONG_SECRET).list_buckets()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("key,secret", [
    (UNKNOWN_KEY, WRONG_SECRET),
    ("ADMIN", WRONG_SECRET),
    (None, None),
], ids=["unknown-key", "bad-signature", "unsigned"])
def test_native_refuses_with_401(srv, key, secret):
    key = srv.access_key if key == "ADMIN" else key
    r = native_request(srv, "listZones", key, secret)
    assert r.status_code == 401, r.text
    body = r.json()
    (envelope,) = body.values()
    assert envelope["errorcode"] == 401
    assert envelope["errortext"]


def test_native_signed_request_with_the_right_key_is_accepted(srv):
    r = native_request(srv, "listZones", srv.access_key, srv.secret_key)
    assert r.status_code == 200, r.text
    assert "listzonesresponse" in r.json()


def test_native_errors_reach_cs_as_401(srv):
    from cs import CloudStackApiException

    with pytest.raises(CloudStackApiException) as e:
        cloudstack(srv, srv.access_key, WRONG_SECRET).listZones()
    assert e.value.error["errorcode"] == 401


def test_garbage_authorization_is_a_client_error(srv):
    """A malformed Signature V4 header is the client's mistake, not a 500."""
    for service in ["ec2", "s3"]:
        headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=x/y/us-east-1/{service}/"
                                    "aws4_request, SignedHeaders=host, Signature=zz",
                   "Content-Type": "application/x-www-form-urlencoded"}
        r = requests.post(srv.url + "/", data="Action=DescribeInstances", headers=headers,
                          timeout=10)
        assert 400 <= r.status_code < 500, (service, r.status_code, r.text)
