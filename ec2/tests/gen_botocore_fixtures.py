#!/usr/bin/env python3
"""Writes fixtures/ec2/botocore-signatures.json: EC2 and STS requests exactly as botocore signs
them (Authorization header and presigned URLs), for ec2/tests/botocore_signatures.rs to verify.

Regenerate from the repository root with:

    python3 ec2/tests/gen_botocore_fixtures.py

The clock is pinned so that the file is the same on every run with the same botocore. The
credentials are throwaway values made for this fixture; they open nothing.
"""

import datetime
import json
import os
import sys
from urllib.parse import urlsplit

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSResponse

FIXED = datetime.datetime(2026, 12, 3, 21, 47, 45)
ACCESS_KEY = "CKFIXTUREFIXTURE2345"
SECRET_KEY = "fixtureSecretKeyForSignatureTests0123456"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLEfixture//token+with/slashes=="
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "ec2",
                   "botocore-signatures.json")

botocore.auth.get_current_datetime = lambda: FIXED


class Captured(Exception):
    pass


def capture(client, call, **kwargs):
    """Runs one client call and answers the prepared request instead of sending it."""
    seen = {}

    def before_send(request, **_):
        seen["request"] = request
        raise Captured()

    client.meta.events.register("before-send", before_send)
    try:
        getattr(client, call)(**kwargs)
    except Captured:
        pass
    finally:
        client.meta.events.unregister("before-send", before_send)
    req = seen["request"]
    parts = urlsplit(req.url)
    body = req.body or b""
    if isinstance(body, str):
        body = body.encode()
    # What goes on the wire: the HTTP layer adds Host after signing. The unsigned headers that
    # change from run to run (user agent, invocation id) are pinned so the file is stable.
    headers = [["Host", parts.netloc]]
    for k, v in req.headers.items():
        v = v if isinstance(v, str) else v.decode()
        if k.lower() == "user-agent":
            v = "Botocore/" + botocore.__version__
        elif k.lower() == "amz-sdk-invocation-id":
            v = "00000000-0000-4000-8000-000000000000"
        headers.append([k, v])
    return {
        "method": req.method,
        "path": parts.path or "/",
        "query": parts.query,
        "headers": headers,
        "body": body.decode(),
    }


def presigned(client, call, params, method=None, expires=900):
    url = client.generate_presigned_url(call, Params=params, ExpiresIn=expires,
                                        HttpMethod=method)
    parts = urlsplit(url)
    return {
        "method": method or "POST",
        "path": parts.path or "/",
        "query": parts.query,
        "headers": [["Host", parts.netloc]],
        "body": "",
    }


def main():
    session = botocore.session.get_session()
    endpoint = "http://127.0.0.1:18771"

    def client(service, region, token=None):
        return session.create_client(service, region_name=region, endpoint_url=endpoint,
                                     aws_access_key_id=ACCESS_KEY,
                                     aws_secret_access_key=SECRET_KEY,
                                     aws_session_token=token)

    ec2 = client("ec2", "us-east-1")
    ec2_eu = client("ec2", "eu-west-1")
    sts = client("sts", "us-east-1")
    ec2_session = client("ec2", "us-east-1", token=SESSION_TOKEN)

    cases = [
        ("describe-instances-filters", "ec2", "us-east-1", capture(
            ec2, "describe_instances", InstanceIds=["i-0123456789abcdef0"],
            Filters=[{"Name": "instance-state-name", "Values": ["running", "stopped"]}])),
        ("describe-images-other-region", "ec2", "eu-west-1", capture(
            ec2_eu, "describe_images", Owners=["self"],
            Filters=[{"Name": "name", "Values": ["ubuntu/images/*22.04*"]}])),
        ("run-instances-user-data-tags", "ec2", "us-east-1", capture(
            ec2, "run_instances", ImageId="ami-0123456789abcdef0", InstanceType="t3.micro",
            MinCount=1, MaxCount=1, UserData="#!/bin/sh\necho 'héllo & <world>'\n",
            ClientToken="fixture-token-1",
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Name", "Value": "a b+c/d=e"}]}])),
        ("sts-get-caller-identity", "sts", "us-east-1", capture(sts, "get_caller_identity")),
        ("session-token-header", "ec2", "us-east-1", capture(ec2_session, "describe_regions")),
        ("presigned-get-describe-regions", "ec2", "us-east-1", presigned(
            ec2, "describe_regions", {"RegionNames": ["us-east-1"]}, method="GET")),
        ("presigned-post-describe-instances", "ec2", "us-east-1", presigned(
            ec2, "describe_instances", {"InstanceIds": ["i-0123456789abcdef0"]})),
        ("presigned-sts", "sts", "us-east-1", presigned(
            sts, "get_caller_identity", {}, method="GET")),
    ]
    doc = {
        "generator": "ec2/tests/gen_botocore_fixtures.py",
        "botocore": botocore.__version__,
        "now": FIXED.strftime("%Y%m%dT%H%M%SZ"),
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "cases": [{"name": n, "service": s, "region": r, **req} for n, s, r, req in cases],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
