"""What the server logs: one access line per request with its id, and never a secret: no
secret key, signature, session key or password, even at debug."""

import re

import pytest
from botocore.exceptions import ClientError

from harness import boto3_client, ec2_request, native_request, native_signature, requests

pytestmark = pytest.mark.timeout(240)


def signatures_of(client, sink):
    """Collects the Signature V4 signatures a boto3 client sends."""
    def grab(request, **_):
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        m = re.search(r"Signature=([0-9a-f]{64})", auth)
        if m:
            sink.append(m.group(1))
    client.meta.events.register("before-send", grab)
    return client


def test_no_secret_in_the_log_even_at_debug(make_server):
    server = make_server(log="debug").start()
    secret, password = server.secret_key, server.admin_password
    signatures: list[str] = []

    for service, call in [("ec2", "describe_instances"), ("sts", "get_caller_identity"),
                          ("s3", "list_buckets")]:
        for sk in [secret, "0" * 40]:
            client = signatures_of(boto3_client(server, service, server.access_key, sk),
                                   signatures)
            try:
                getattr(client, call)()
            except ClientError:
                pass

    params = {"command": "listZones", "response": "json", "apiKey": server.access_key}
    signatures.append(native_signature(params, secret))
    native_request(server, "listZones", server.access_key, secret)

    # A native login sends the password itself; whatever the answer, it must not be logged.
    login = requests.post(server.url + "/client/api",
                          data={"command": "login", "username": "admin", "password": password,
                                "domain": "/", "response": "json"}, timeout=20)
    session_key = login.cookies.get("sessionkey") or ""

    assert server.stop() == 0
    log = server.all_output()
    assert "status=" in log, "the access log is missing"
    leaks = {"secret key": secret, "admin password": password}
    leaks.update({f"signature {s[:8]}...": s for s in signatures})
    if session_key:
        leaks["session key"] = session_key
    for what, value in leaks.items():
        assert value not in log, f"the {what} appears in the server's log"
    # Not even URL-encoded (a native signature is base64 with + / =).
    for s in signatures:
        assert requests.utils.quote(s, safe="") not in log


def access_lines(log: str, request_id: str) -> list[str]:
    return [ln for ln in log.splitlines() if request_id in ln and "status=" in ln]


def test_every_request_gets_one_access_line(make_server):
    server = make_server().start()
    health = requests.get(server.url + "/_cirrus/health", timeout=5)
    ec2 = ec2_request(server, server.access_key, server.secret_key,
                      {"Action": "DescribeInstances", "Version": "2016-11-15"})
    native = native_request(server, "listZones", server.access_key, server.secret_key)
    try:
        boto3_client(server, "s3", server.access_key, server.secret_key).list_buckets()
    except ClientError:
        pass
    assert server.stop() == 0
    log = server.all_output()

    for door, response in [("health", health), ("ec2", ec2), ("native", native)]:
        rid = response.headers.get("x-request-id")
        assert rid, f"{door}: no request id header"
        lines = access_lines(log, rid)
        assert len(lines) == 1, f"{door}: {lines}"
        line = lines[0]
        assert "INFO" in line
        assert f'door="{door}"' in line or f"door={door}" in line, line
        assert re.search(rf"status={response.status_code}\b", line), line
        assert "latency_ms=" in line, line

    # The doors name the action and the account of a signed request in its line.
    for response, action in [(ec2, "DescribeInstances"), (native, "listZones")]:
        line = access_lines(log, response.headers["x-request-id"])[0].replace('"', "")
        assert f"action={action}" in line, line
        assert re.search(r"\baccount=[^\s,}]+", line), line


def test_request_id_is_in_each_doors_own_field(shared_server):
    """EC2 answers carry it as <requestId>, S3 answers as x-amz-request-id."""
    ec2 = ec2_request(shared_server, shared_server.access_key, shared_server.secret_key,
                      {"Action": "DescribeInstances", "Version": "2016-11-15"})
    assert ec2.status_code == 200, ec2.text
    assert f"<requestId>{ec2.headers['x-request-id']}</requestId>" in ec2.text, ec2.text
    s3 = requests.get(shared_server.url + "/", timeout=10)
    assert s3.headers.get("x-amz-request-id") == s3.headers.get("x-request-id")
    assert s3.headers.get("x-amz-request-id")
