"""HTTPS on the same listener with a self-signed certificate made on the fly: the written
client configuration (aws ca_bundle, cloudstack.ini verify) trusts it with no other setting."""

import json
import ssl
import subprocess

import pytest

from harness import aws, cs_cli, requests


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_server(make_server, certificate):
    return make_server(tls=certificate).start()


def test_health_over_https(tls_server, certificate):
    assert tls_server.url.startswith("https://127.0.0.1:")
    r = requests.get(tls_server.url + "/_cirrus/health", verify=str(certificate[0]), timeout=5)
    assert r.status_code == 200


def test_untrusted_clients_are_refused_by_their_own_check(tls_server):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.url + "/_cirrus/health", verify=True, timeout=5)


def test_plain_http_on_the_tls_port_is_not_served(tls_server):
    try:
        r = requests.get(f"http://127.0.0.1:{tls_server.port}/_cirrus/health", timeout=5)
    except requests.RequestException:
        return
    assert r.status_code != 200, "plain HTTP was served on the TLS listener"


def test_written_aws_config_trusts_the_certificate(tls_server, certificate):
    config = tls_server.ini("aws/config")["default"]
    assert config["endpoint_url"] == tls_server.url
    assert config["ca_bundle"] == str(certificate[0].resolve())
    ctx = ssl.create_default_context(cafile=config["ca_bundle"])
    assert ctx.cert_store_stats()["x509"] >= 1


def test_aws_cli_over_https_with_only_the_written_files(tls_server, home):
    r = aws(tls_server, home, "sts", "get-caller-identity")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Account"]
    r = aws(tls_server, home, "ec2", "describe-instances")
    assert r.returncode == 0, r.stderr


def test_boto3_s3_over_https_reaches_the_s3_door(tls_server, home, boto3_session):
    """TLS is what boto3 needs for aws-chunked uploads; here the handshake and signing work."""
    from botocore.exceptions import ClientError

    s3 = boto3_session(tls_server, home).client("s3")
    try:
        s3.list_buckets()
    except ClientError as e:
        assert e.response["Error"]["Code"] not in {"InvalidAccessKeyId", "SignatureDoesNotMatch"}


def test_cs_over_https_with_only_the_written_file(tls_server, home):
    ini = tls_server.ini("cloudstack.ini")["cloudstack"]
    assert ini["endpoint"] == tls_server.url + "/client/api"
    r = cs_cli(tls_server, home, "listZones")
    assert r.returncode == 0, r.stderr + r.stdout
    assert json.loads(r.stdout)["count"] >= 1
