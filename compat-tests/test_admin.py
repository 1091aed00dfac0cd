"""`cirrus admin` hands out credentials: a domain, an account, a user and a key made on the
command line work through boto3 and cs at once, and stop working when the key is revoked."""

import re

import pytest
from botocore.exceptions import ClientError

from harness import boto3_client, cloudstack, run_cirrus


def admin(server, *args):
    r = run_cirrus("admin", "--data-dir", str(server.data_dir), *args)
    assert r.returncode == 0, f"cirrus admin {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_admin_made_key_works_everywhere_until_revoked(server):
    domain = admin(server, "domain", "create", "eng")
    assert "ROOT/eng" in domain
    account = admin(server, "account", "create", "dev", "--domain", "ROOT/eng", "--role", "user")
    _id, name, number, role = account.strip().split("\t")
    assert (name, role) == ("dev", "user") and re.fullmatch(r"\d{12}", number), account
    user = admin(server, "user", "create", "alice", "--account", "dev", "--domain", "ROOT/eng")
    assert "alice" in user
    key = admin(server, "key", "create", "--user", "alice", "--domain", "ROOT/eng")
    access_key = re.search(r"access_key: (\S+)", key).group(1)
    secret_key = re.search(r"secret_key: (\S+)", key).group(1)

    listed = admin(server, "key", "list")
    assert access_key in listed and secret_key not in listed
    assert server.secret_key not in listed

    identity = boto3_client(server, "sts", access_key, secret_key).get_caller_identity()
    assert identity["Account"] == number
    assert boto3_client(server, "ec2", access_key, secret_key).describe_instances()[
        "Reservations"] == []
    zones = cloudstack(server, access_key, secret_key).listZones()
    assert zones["count"] >= 1

    assert access_key in admin(server, "key", "revoke", access_key)
    assert re.search(rf"{access_key}\s.*revoked", admin(server, "key", "list"))

    with pytest.raises(ClientError) as e:
        boto3_client(server, "ec2", access_key, secret_key).describe_instances()
    assert e.value.response["Error"]["Code"] == "AuthFailure"
    with pytest.raises(ClientError) as e:
        boto3_client(server, "s3", access_key, secret_key).list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    from cs import CloudStackApiException
    with pytest.raises(CloudStackApiException) as e:
        cloudstack(server, access_key, secret_key).listZones()
    assert e.value.error["errorcode"] == 401

    # The admin's own key is untouched.
    assert boto3_client(server, "ec2", server.access_key, server.secret_key).describe_instances()


def test_admin_lists_what_first_run_made(server):
    assert "ROOT" in admin(server, "domain", "list")
    assert re.search(r"\badmin\b.*root-admin", admin(server, "account", "list"))
    assert "admin" in admin(server, "user", "list")
    keys = admin(server, "key", "list")
    assert server.access_key in keys and server.secret_key not in keys


def test_admin_mistakes_are_one_sentence(server):
    for args, named in [
        (["account", "create", "x", "--domain", "ROOT/nowhere"], "ROOT/nowhere"),
        (["account", "create", "y", "--role", "emperor"], "emperor"),
        (["key", "revoke", "CKNOSUCHKEYNOSUCHKEY"], "CKNOSUCHKEYNOSUCHKEY"),
        (["domain", "create", "eng/sub"], "eng/sub"),
    ]:
        r = run_cirrus("admin", "--data-dir", str(server.data_dir), *args)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], (args, r.stderr)
        assert "panicked" not in r.stderr


def test_admin_on_a_directory_without_a_cloud_says_so(tmp_path):
    r = run_cirrus("admin", "--data-dir", str(tmp_path / "empty"), "key", "list")
    assert r.returncode != 0
    assert "cirrus serve" in r.stderr and len(r.stderr.strip().splitlines()) == 1
