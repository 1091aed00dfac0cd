"""The written configuration works as is: the AWS CLI, boto3 and `cs`, with nothing but the
files the server wrote (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, CLOUDSTACK_CONFIG)."""

import json
import re

import pytest

from harness import aws, cs_cli


@pytest.fixture(scope="module")
def srv(shared_server):
    return shared_server


def test_aws_cli_describe_instances(srv, home):
    r = aws(srv, home, "ec2", "describe-instances")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Reservations"] == []


def test_aws_cli_sts_get_caller_identity(srv, home):
    r = aws(srv, home, "sts", "get-caller-identity")
    assert r.returncode == 0, r.stderr
    identity = json.loads(r.stdout)
    assert re.fullmatch(r"\d{12}", identity["Account"])
    assert identity["Arn"].startswith(f"arn:aws:iam::{identity['Account']}:")
    assert identity["UserId"]


def test_boto3_with_the_same_profile(srv, home, boto3_session):
    session = boto3_session(srv, home)
    assert session.region_name == "us-east-1"
    ec2 = session.client("ec2")
    assert ec2.meta.endpoint_url == srv.url
    assert ec2.describe_instances()["Reservations"] == []
    identity = session.client("sts").get_caller_identity()
    assert re.fullmatch(r"\d{12}", identity["Account"])


def test_cs_list_zones(srv, home):
    r = cs_cli(srv, home, "listZones")
    assert r.returncode == 0, r.stderr + r.stdout
    zones = json.loads(r.stdout)
    assert zones["count"] >= 1
    assert [z["name"] for z in zones["zone"]] == ["us-east-1a"]
    assert re.fullmatch(r"[0-9a-f-]{36}", zones["zone"][0]["id"])


def test_one_key_pair_for_every_door(srv, home, boto3_session):
    """The admin key signs EC2, STS, native and S3 requests alike: no door refuses it."""
    session = boto3_session(srv, home)
    s3 = session.client("s3")
    try:
        s3.list_buckets()
    except s3.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        assert code not in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}, code
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] < 500 or code == "NotImplemented"
