"""s3cmd and rclone (the Debian packages) against the S3 door, each with a configuration file
that names only the test's loopback server: no HTTPS, path-style for s3cmd (host_bucket
without `%(bucket)s`), an `s3` remote of provider Other for rclone. Each asserts what a user
would check: exit codes, listings, the bytes that come back, and the server's view through
boto3. Large files go through both as multipart uploads.

Safety: every configuration sets the endpoint explicitly to 127.0.0.1:<the test's port>, and
each test checks the written file says so before running a tool.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil

import pytest

from harness import boto3_client, run_client

S3CMD = shutil.which("s3cmd")
RCLONE = shutil.which("rclone")


def _blob(path: pathlib.Path, size: int, seed: int) -> str:
    """Writes `size` pseudo-random bytes; answers their MD5."""
    digest = hashlib.md5()
    with open(path, "wb") as f:
        block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _md5(path: pathlib.Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _loopback_only(text: str, port: int):
    """Refuses to run a tool whose configuration could reach anything but our server."""
    assert f"127.0.0.1:{port}" in text
    assert "amazonaws" not in text
    assert "169.254" not in text


# --- s3cmd -------------------------------------------------------------------------------------

@pytest.fixture
def s3cmd(server, home):
    if not S3CMD:
        pytest.fail("s3cmd is not installed: run scripts/test (apt-get install s3cmd)")
    cfg = home / "s3cfg"
    host = f"127.0.0.1:{server.port}"
    cfg.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "bucket_location = us-east-1\n"
        "proxy_host =\n"
        "multipart_chunk_size_mb = 5\n"
        "check_ssl_certificate = False\n"
    )
    _loopback_only(cfg.read_text(), server.port)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AWS")}
    env["HOME"] = str(home)

    def run(*args: str, timeout: float = 120):
        _loopback_only(cfg.read_text(), server.port)
        r = run_client([S3CMD, "-c", str(cfg), "--no-progress", *args], env, home,
                       timeout=timeout)
        assert r.returncode == 0, f"s3cmd {args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r.stdout

    return run


def test_s3cmd_mb_put_ls_get_sync_del_rb(server, home, s3cmd):
    s3 = boto3_client(server, "s3", server.access_key, server.secret_key)
    s3cmd("mb", "s3://tools")
    assert "tools" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "s3://tools" in s3cmd("ls")

    small = home / "small.txt"
    small.write_bytes(b"hello from s3cmd\n")
    s3cmd("put", str(small), "s3://tools/dir/small.txt")
    assert s3.get_object(Bucket="tools", Key="dir/small.txt")["Body"].read() == \
        b"hello from s3cmd\n"
    listing = s3cmd("ls", "s3://tools/dir/")
    assert "s3://tools/dir/small.txt" in listing and " 17 " in listing
    back = home / "back.txt"
    s3cmd("get", "s3://tools/dir/small.txt", str(back))
    assert back.read_bytes() == b"hello from s3cmd\n"

    # A large file goes up in 5 MiB parts.
    big = home / "big.bin"
    want = _blob(big, 23 * (1 << 20) + 12345, 1)
    s3cmd("put", str(big), "s3://tools/big.bin", timeout=300)
    head = s3.head_object(Bucket="tools", Key="big.bin")
    assert head["ContentLength"] == big.stat().st_size
    assert head["ETag"].strip('"').endswith("-5"), head["ETag"]
    got = home / "big.back"
    s3cmd("get", "s3://tools/big.bin", str(got), timeout=300)
    assert _md5(got) == want

    # sync uploads what is new or changed, and (with --delete-removed) drops what is gone.
    tree = home / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (tree / name).write_text(f"content of {name}\n")
    s3cmd("sync", f"{tree}/", "s3://tools/tree/")
    keys = sorted(o["Key"] for o in
                  s3.list_objects_v2(Bucket="tools", Prefix="tree/")["Contents"])
    assert keys == ["tree/a.txt", "tree/b.txt", "tree/sub/c.txt"]
    (tree / "a.txt").write_text("changed\n")
    (tree / "b.txt").unlink()
    s3cmd("sync", "--delete-removed", f"{tree}/", "s3://tools/tree/")
    keys = sorted(o["Key"] for o in
                  s3.list_objects_v2(Bucket="tools", Prefix="tree/")["Contents"])
    assert keys == ["tree/a.txt", "tree/sub/c.txt"]
    assert s3.get_object(Bucket="tools", Key="tree/a.txt")["Body"].read() == b"changed\n"
    down = home / "down"
    s3cmd("sync", "s3://tools/tree/", f"{down}/")
    assert (down / "sub" / "c.txt").read_text() == "content of sub/c.txt\n"

    s3cmd("del", "s3://tools/dir/small.txt")
    assert "dir/small.txt" not in [o["Key"] for o in
                                   s3.list_objects_v2(Bucket="tools").get("Contents", [])]
    s3cmd("del", "--recursive", "--force", "s3://tools/")
    assert s3.list_objects_v2(Bucket="tools")["KeyCount"] == 0
    s3cmd("rb", "s3://tools")
    assert "tools" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# --- rclone ------------------------------------------------------------------------------------

@pytest.fixture
def rclone(server, home):
    if not RCLONE:
        pytest.fail("rclone is not installed: run scripts/test (apt-get install rclone)")
    cfg = home / "rclone.conf"
    cfg.write_text(
        "[cirrus]\n"
        "type = s3\n"
        "provider = Other\n"
        "env_auth = false\n"
        f"access_key_id = {server.access_key}\n"
        f"secret_access_key = {server.secret_key}\n"
        f"endpoint = http://127.0.0.1:{server.port}\n"
        "region = us-east-1\n"
        "force_path_style = true\n"
        "chunk_size = 5Mi\n"
        "upload_cutoff = 5Mi\n"
    )
    _loopback_only(cfg.read_text(), server.port)
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("AWS", "RCLONE"))}
    env["HOME"] = str(home)

    def run(*args: str, timeout: float = 180, ok: bool = True):
        _loopback_only(cfg.read_text(), server.port)
        r = run_client([RCLONE, "--config", str(cfg), "--retries", "1",
                        "--low-level-retries", "1", *args], env, home, timeout=timeout)
        if ok:
            assert r.returncode == 0, \
                f"rclone {args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r

    return run


def test_rclone_copy_sync_ls_lsd_check_delete_purge(server, home, rclone):
    s3 = boto3_client(server, "s3", server.access_key, server.secret_key)
    rclone("mkdir", "cirrus:rcb")
    assert "rcb" in rclone("lsd", "cirrus:").stdout

    src = home / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "one.txt").write_text("one\n")
    (src / "deep" / "two.txt").write_text("two\n")
    (src / "deep" / "er" / "three.txt").write_text("three\n")
    big = src / "big.bin"
    want = _blob(big, 17 * (1 << 20) + 7, 2)
    rclone("copy", str(src), "cirrus:rcb/copy", timeout=300)
    head = s3.head_object(Bucket="rcb", Key="copy/big.bin")
    assert head["ContentLength"] == big.stat().st_size
    assert "-" in head["ETag"], "the large file should have gone up in parts"

    listing = rclone("ls", "cirrus:rcb/copy").stdout
    for name in ("one.txt", "deep/two.txt", "deep/er/three.txt", "big.bin"):
        assert name in listing
    assert "deep" in rclone("lsd", "cirrus:rcb/copy").stdout
    rclone("check", str(src), "cirrus:rcb/copy", timeout=300)

    # check notices a difference; sync repairs it and removes what the source lacks.
    (src / "one.txt").write_text("one, changed\n")
    assert rclone("check", str(src), "cirrus:rcb/copy", ok=False).returncode != 0
    (src / "deep" / "two.txt").unlink()
    rclone("sync", str(src), "cirrus:rcb/copy", timeout=300)
    rclone("check", str(src), "cirrus:rcb/copy", timeout=300)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="rcb")["Contents"])
    assert keys == ["copy/big.bin", "copy/deep/er/three.txt", "copy/one.txt"]

    back = home / "back"
    rclone("copy", "cirrus:rcb/copy", str(back), timeout=300)
    assert _md5(back / "big.bin") == want
    assert (back / "one.txt").read_text() == "one, changed\n"

    rclone("delete", "cirrus:rcb/copy", "--include", "*.txt")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="rcb")["Contents"])
    assert keys == ["copy/big.bin"]
    rclone("purge", "cirrus:rcb")
    assert "rcb" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# --- ListBuckets paging, virtual-hosted style, the abandoned-upload age --------------------------

BASE = "s3.cirrus.test"  # .test is reserved (RFC 2606); resolved to loopback below, never by DNS


def _configured(make_server, tmp_path, text: str):
    cfg = tmp_path / "cirrus.toml"
    cfg.write_text(text)
    return make_server("--config", str(cfg)).start()


def test_list_buckets_pages_with_max_buckets_tokens_and_prefix(server):
    s3 = boto3_client(server, "s3", server.access_key, server.secret_key)
    names = sorted([f"page-{i:02}" for i in range(7)] + ["other-a", "other-b"])
    for name in names:
        s3.create_bucket(Bucket=name)
    seen, token, pages = [], None, 0
    while True:
        kw = {"MaxBuckets": 3, **({"ContinuationToken": token} if token else {})}
        page = s3.list_buckets(**kw)
        pages += 1
        seen += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert seen == names and pages == 3
    got = s3.list_buckets(Prefix="page-", MaxBuckets=5)
    assert [b["Name"] for b in got["Buckets"]] == names[2:7] and got["Prefix"] == "page-"
    rest = s3.list_buckets(Prefix="page-", MaxBuckets=5, ContinuationToken=got["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[7:] and "ContinuationToken" not in rest
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == names
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    # botocore refuses these itself unless told not to check: the server must refuse them too.
    loose = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                         aws_access_key_id=server.access_key,
                         aws_secret_access_key=server.secret_key,
                         config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    for bad in ({"MaxBuckets": 0}, {"MaxBuckets": 10001}, {"ContinuationToken": "forged"}):
        with pytest.raises(ClientError) as e:
            loose.list_buckets(**bad)
        assert e.value.response["Error"]["Code"] == "InvalidArgument", bad
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_virtual_hosted_style_under_the_base_domain(make_server, tmp_path, monkeypatch):
    import socket
    import subprocess

    server = _configured(make_server, tmp_path, f'[s3]\nbase_domain = "{BASE}"\n')
    real = socket.getaddrinfo

    def loopback(host, *args, **kw):
        if isinstance(host, str) and (host == BASE or host.endswith("." + BASE)):
            host = "127.0.0.1"
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", loopback)
    import boto3
    from botocore.config import Config

    def client(style):
        return boto3.client("s3", endpoint_url=f"http://{BASE}:{server.port}",
                            region_name="us-east-1", aws_access_key_id=server.access_key,
                            aws_secret_access_key=server.secret_key,
                            config=Config(s3={"addressing_style": style},
                                          retries={"max_attempts": 1}))

    virtual = client("virtual")
    virtual.create_bucket(Bucket="vhost")
    sent = []
    virtual.meta.events.register("before-send.s3.PutObject",
                                 lambda request, **_: sent.append(request.url))
    virtual.put_object(Bucket="vhost", Key="dir/a b.txt", Body=b"virtually")
    assert sent[0].startswith(f"http://vhost.{BASE}:{server.port}/dir/"), sent
    assert virtual.get_object(Bucket="vhost", Key="dir/a b.txt")["Body"].read() == b"virtually"
    listed = virtual.list_objects_v2(Bucket="vhost")["Contents"]
    assert [o["Key"] for o in listed] == ["dir/a b.txt"]
    # Path-style keeps working, on the base domain and on the bare address.
    assert client("path").get_object(Bucket="vhost", Key="dir/a b.txt")["Body"].read() == \
        b"virtually"
    plain = boto3_client(server, "s3", server.access_key, server.secret_key)
    assert plain.get_object(Bucket="vhost", Key="dir/a b.txt")["Body"].read() == b"virtually"
    # curl with --resolve: nothing leaves loopback.
    virtual.put_object_acl(Bucket="vhost", Key="dir/a b.txt", ACL="public-read")
    out = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", " %{http_code}", "--noproxy", "*",
         "--resolve", f"vhost.{BASE}:{server.port}:127.0.0.1",
         f"http://vhost.{BASE}:{server.port}/dir/a%20b.txt"],
        capture_output=True, text=True, timeout=30)
    assert out.stdout == "virtually 200", out


def test_abandoned_uploads_are_swept_after_the_configured_age(make_server, tmp_path):
    import time

    server = _configured(make_server, tmp_path, "[s3]\nupload_max_age_secs = 2\n")
    s3 = boto3_client(server, "s3", server.access_key, server.secret_key)
    s3.create_bucket(Bucket="sweep")
    up = s3.create_multipart_upload(Bucket="sweep", Key="left")
    s3.upload_part(Bucket="sweep", Key="left", UploadId=up["UploadId"], PartNumber=1,
                   Body=b"x" * 1000)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not s3.list_multipart_uploads(Bucket="sweep").get("Uploads"):
            break
        time.sleep(0.5)
    assert not s3.list_multipart_uploads(Bucket="sweep").get("Uploads")
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket="sweep", Key="left", UploadId=up["UploadId"])
    assert e.value.response["Error"]["Code"] == "NoSuchUpload"
