"""SSH key pairs through the native door: `cs` makes and registers pairs, Libcloud lists and
deletes them, EC2 sees the same pairs, and an instance deployed with one names it."""

import subprocess

import pytest

from harness import native_request


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=30, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def public_key(tmp_path):
    path = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return (tmp_path / "id.pub").read_text().strip()


def test_make_register_list_delete_and_deploy(server, tmp_path, home, boto3_session):
    from cs import CloudStackApiException

    cs = client(server)
    made = cs.createSSHKeyPair(name="made")["keypair"]
    assert made["name"] == "made" and made["fingerprint"]
    assert made["privatekey"].startswith("-----BEGIN RSA PRIVATE KEY-----")

    registered = cs.registerSSHKeyPair(name="mine", publickey=public_key(tmp_path))["keypair"]
    assert "privatekey" not in registered

    listed = cs.listSSHKeyPairs()
    assert listed["count"] == 2
    assert sorted(k["name"] for k in listed["sshkeypair"]) == ["made", "mine"]
    assert all("privatekey" not in k for k in listed["sshkeypair"])
    assert cs.listSSHKeyPairs(name="mine")["sshkeypair"][0]["fingerprint"] == \
        registered["fingerprint"]

    ec2 = boto3_session(server, home).client("ec2")
    assert sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]) == ["made", "mine"]

    with pytest.raises(CloudStackApiException) as e:
        cs.createSSHKeyPair(name="made")
    assert e.value.error["errorcode"] == 431
    r = native_request(server, "registerSSHKeyPair", server.access_key, server.secret_key,
                       name="bad", publickey="not a key")
    assert r.status_code == 431, r.text

    zone = cs.listZones()["zone"][0]["id"]
    offering = cs.listServiceOfferings(name="t3.micro")["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    vm = cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering, templateid=template,
                                 keypair="mine")["virtualmachine"]
    assert vm["keypairs"] == "mine"

    assert cs.deleteSSHKeyPair(name="made") == {"success": "true"}
    r = native_request(server, "deleteSSHKeyPair", server.access_key, server.secret_key,
                       name="made")
    assert r.status_code == 431
    assert [k["name"] for k in cs.listSSHKeyPairs()["sshkeypair"]] == ["mine"]


def test_libcloud_key_pairs(server, tmp_path):
    pytest.importorskip("libcloud")
    import requests
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    url = requests.utils.urlparse(server.url)
    driver = get_driver(Provider.CLOUDSTACK)(key=server.access_key, secret=server.secret_key,
                                             host=url.hostname, port=url.port,
                                             path="/client/api", secure=False)
    made = driver.create_key_pair(name="lc")
    assert made.name == "lc" and made.private_key
    imported = driver.import_key_pair_from_string(name="lc2", key_material=public_key(tmp_path))
    assert imported.fingerprint
    assert sorted(k.name for k in driver.list_key_pairs()) == ["lc", "lc2"]
    assert driver.get_key_pair("lc2").fingerprint == imported.fingerprint
    assert driver.delete_key_pair(made) is True
    assert [k.name for k in driver.list_key_pairs()] == ["lc2"]
