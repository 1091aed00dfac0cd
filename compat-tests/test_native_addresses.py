"""Public IP addresses through the native door with `cs`: associateIpAddress acquires one from
the zone's range (the async path polled to its result), enableStaticNat maps it to an instance,
listPublicIpAddresses shows the mapping, disableStaticNat and disassociateIpAddress undo it,
the EC2 door sees the same addresses, and every mistake answers CloudStack's error code."""

import re
import uuid

import botocore.exceptions
import pytest
from cs import CloudStackApiException

from harness import boto3_client, native_request, run_cirrus


def client(server, key=None, secret=None):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=key or server.access_key,
                      secret=secret or server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def deploy(cs):
    zone = cs.listZones()["zone"][0]["id"]
    offering = cs.listServiceOfferings(name="t3.micro")["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    return cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                   templateid=template)["virtualmachine"]


def code_of(server, command, **params):
    r = native_request(server, command, server.access_key, server.secret_key, **params)
    return r.status_code, r.json()


def test_acquire_map_unmap_release(server):
    cs = client(server)
    zone = cs.listZones()["zone"][0]
    [net] = cs.listNetworks()["network"]
    assert cs.listPublicIpAddresses() == {}

    ip = cs.associateIpAddress(zoneid=zone["id"])["ipaddress"]
    assert re.fullmatch(r"203\.0\.113\.\d+", ip["ipaddress"])
    assert (ip["zoneid"], ip["zonename"], ip["state"]) == (zone["id"], zone["name"], "Allocated")
    assert ip["isstaticnat"] is False and ip["issourcenat"] is False
    assert ip["account"] == "admin" and "virtualmachineid" not in ip
    on_net = cs.associateIpAddress(networkid=net["id"])["ipaddress"]
    assert on_net["associatednetworkid"] == net["id"] and on_net["ipaddress"] != ip["ipaddress"]

    listed = cs.listPublicIpAddresses()
    assert listed["count"] == 2
    assert [x["id"] for x in cs.listPublicIpAddresses(id=ip["id"])["publicipaddress"]] == [
        ip["id"]]
    assert cs.listPublicIpAddresses(ipaddress=on_net["ipaddress"])["count"] == 1
    assert cs.listPublicIpAddresses(associatednetworkid=net["id"])["count"] == 1

    vm = deploy(cs)
    assert cs.enableStaticNat(ipaddressid=ip["id"], virtualmachineid=vm["id"]) == {
        "success": "true"}
    [mapped] = cs.listPublicIpAddresses(isstaticnat=True)["publicipaddress"]
    assert mapped["id"] == ip["id"] and mapped["isstaticnat"] is True
    assert mapped["virtualmachineid"] == vm["id"]
    assert mapped["virtualmachinename"] == vm["name"]
    assert mapped["vmipaddress"] == vm["nic"][0]["ipaddress"]
    assert mapped["associatednetworkid"] == vm["nic"][0]["networkid"]
    # No forwarding rules exist, but the address asked about does: an empty list, not a 431.
    assert cs.listPortForwardingRules(ipaddressid=ip["id"]) == {}
    status, body = code_of(server, "listPortForwardingRules",
                           ipaddressid="00000000-0000-4000-8000-000000000000")
    assert status == 431, body

    # A second address cannot take the instance's address while the first holds it.
    status, body = code_of(server, "enableStaticNat", ipaddressid=on_net["id"],
                           virtualmachineid=vm["id"])
    assert status == 431, body
    # Nor can the first be mapped twice.
    status, body = code_of(server, "enableStaticNat", ipaddressid=ip["id"],
                           virtualmachineid=vm["id"], vmguestip="172.31.99.99")
    assert status == 431, body

    result = cs.disableStaticNat(ipaddressid=ip["id"])
    assert result["success"] is True
    assert cs.listPublicIpAddresses(isstaticnat=True) == {}
    status, body = code_of(server, "disableStaticNat", ipaddressid=ip["id"])
    assert status == 431, body

    # Releasing an address that is mapped ends the mapping first, as CloudStack does.
    cs.enableStaticNat(ipaddressid=on_net["id"], virtualmachineid=vm["id"])
    assert cs.disassociateIpAddress(id=on_net["id"])["success"] is True
    assert cs.disassociateIpAddress(id=ip["id"])["success"] is True
    assert cs.listPublicIpAddresses() == {}
    cs.destroyVirtualMachine(id=vm["id"], expunge=True)


def test_jobs_report_the_address(server):
    cs = client(server)
    zone = cs.listZones()["zone"][0]["id"]
    raw = native_request(server, "associateIpAddress", server.access_key, server.secret_key,
                         zoneid=zone).json()["associateipaddressresponse"]
    assert set(raw) == {"id", "jobid"}
    job = native_request(server, "queryAsyncJobResult", server.access_key, server.secret_key,
                         jobid=raw["jobid"]).json()["queryasyncjobresultresponse"]
    assert job["jobstatus"] == 1 and job["jobinstancetype"] == "IpAddress"
    assert job["jobinstanceid"] == raw["id"]
    assert job["jobresult"]["ipaddress"]["id"] == raw["id"]
    assert job["cmd"].endswith("AssociateIPAddrCmd")
    cs.disassociateIpAddress(id=raw["id"])


def test_the_ec2_door_sees_the_same_addresses(server):
    cs = client(server)
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    ip = cs.associateIpAddress(zoneid=cs.listZones()["zone"][0]["id"])["ipaddress"]
    [a] = ec2.describe_addresses()["Addresses"]
    assert a["PublicIp"] == ip["ipaddress"]
    vm = deploy(cs)
    iid = next(i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
               for i in r["Instances"])
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)
    [mapped] = cs.listPublicIpAddresses()["publicipaddress"]
    assert mapped["virtualmachineid"] == vm["id"] and mapped["isstaticnat"] is True
    eip = ec2.allocate_address(Domain="vpc")
    assert cs.listPublicIpAddresses(ipaddress=eip["PublicIp"])["count"] == 1
    cs.disableStaticNat(ipaddressid=ip["id"])
    assert "AssociationId" not in ec2.describe_addresses(PublicIps=[ip["ipaddress"]])[
        "Addresses"][0]
    cs.disassociateIpAddress(id=ip["id"])
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_addresses(PublicIps=[ip["ipaddress"]])
    ec2.release_address(AllocationId=eip["AllocationId"])
    cs.destroyVirtualMachine(id=vm["id"], expunge=True)


def test_mistakes_answer_cloudstack_codes(server):
    gone = str(uuid.uuid4())
    cases = [
        ("listPublicIpAddresses", {"id": gone}, 431),
        ("associateIpAddress", {"zoneid": gone}, 431),
        ("associateIpAddress", {"networkid": gone}, 431),
        ("disassociateIpAddress", {"id": gone}, 431),
        ("disassociateIpAddress", {}, 431),
        ("enableStaticNat", {"ipaddressid": gone, "virtualmachineid": gone}, 431),
        ("disableStaticNat", {"ipaddressid": gone}, 431),
    ]
    for command, params, status in cases:
        got, body = code_of(server, command, **params)
        assert got == status, (command, params, body)
        assert body[command.lower() + "response"]["errorcode"] == status


def test_limit_and_other_accounts(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text('[network]\naddress_limit = 2\n')
    server = make_server("--config", str(config)).start()
    cs = client(server)
    zone = cs.listZones()["zone"][0]["id"]
    mine = [cs.associateIpAddress(zoneid=zone)["ipaddress"] for _ in range(2)]
    with pytest.raises(CloudStackApiException) as e:
        cs.associateIpAddress(zoneid=zone)
    assert e.value.error["errorcode"] == 535
    assert cs.listPublicIpAddresses()["count"] == 2

    run = lambda *a: run_cirrus("admin", "--data-dir", str(server.data_dir), *a)  # noqa: E731
    assert run("account", "create", "dev", "--role", "user").returncode == 0
    assert run("user", "create", "bob", "--account", "dev").returncode == 0
    key = run("key", "create", "--user", "bob").stdout
    access = re.search(r"access_key: (\S+)", key).group(1)
    secret = re.search(r"secret_key: (\S+)", key).group(1)
    bob = client(server, access, secret)
    theirs = bob.associateIpAddress(zoneid=zone)["ipaddress"]
    assert theirs["account"] == "dev"
    assert bob.listPublicIpAddresses()["count"] == 1, "a user sees its own addresses"
    r = native_request(server, "disassociateIpAddress", access, secret, id=mine[0]["id"])
    assert r.status_code == 531, r.text
    assert cs.listPublicIpAddresses(listall=True)["count"] == 3, "the root admin sees all"
    assert cs.listPublicIpAddresses(account="dev", domainid=theirs["domainid"])["count"] == 1
