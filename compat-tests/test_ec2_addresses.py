"""Elastic IPs with real clients: allocation from the zone's public range (the documentation
range 203.0.113.0/24 by default), association to an instance and to a network interface,
reassociation, disassociation and release, every error code on the way, the address on
DescribeInstances, the per-account limit, and a replay of the Terraform aws provider's aws_eip
call sequence (create, read, read again with no change, delete)."""

from __future__ import annotations

import ipaddress
import json
import re

import botocore.exceptions
import pytest

from harness import aws, boto3_client, run_cirrus

pytestmark = pytest.mark.timeout(300)

RANGE = ipaddress.ip_network("203.0.113.0/24")


@pytest.fixture(scope="module")
def ec2(shared_server):
    return boto3_client(shared_server, "ec2", shared_server.access_key, shared_server.secret_key)


@pytest.fixture(scope="module")
def ami(ec2):
    return ec2.describe_images()["Images"][0]["ImageId"]


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def running(ec2, ami):
    iid = ec2.run_instances(ImageId=ami, InstanceType="t3.nano", MinCount=1,
                            MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return iid


def instance(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def release_all(ec2):
    for a in ec2.describe_addresses()["Addresses"]:
        if "AssociationId" in a:
            ec2.disassociate_address(AssociationId=a["AssociationId"])
        ec2.release_address(AllocationId=a["AllocationId"])


def test_allocate_describe_release(ec2):
    release_all(ec2)
    a = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "web"}]}])
    assert a["Domain"] == "vpc"
    assert re.fullmatch(r"eipalloc-[0-9a-f]{17}", a["AllocationId"])
    assert ipaddress.ip_address(a["PublicIp"]) in RANGE
    assert a["PublicIp"] not in ("203.0.113.0", "203.0.113.255")
    assert a["PublicIpv4Pool"] == "amazon" and a["NetworkBorderGroup"] == "us-east-1"
    b = ec2.allocate_address(Domain="vpc")
    assert b["PublicIp"] != a["PublicIp"], "an address is never handed out twice"

    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert len(got) == 1
    assert got[0]["PublicIp"] == a["PublicIp"]
    assert got[0]["Tags"] == [{"Key": "Name", "Value": "web"}]
    assert "AssociationId" not in got[0] and "InstanceId" not in got[0]
    by_ip = ec2.describe_addresses(PublicIps=[b["PublicIp"]])["Addresses"]
    assert [x["AllocationId"] for x in by_ip] == [b["AllocationId"]]
    tagged = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["web"]}])
    assert [x["AllocationId"] for x in tagged["Addresses"]] == [a["AllocationId"]]
    for name, value in (("allocation-id", b["AllocationId"]), ("public-ip", b["PublicIp"]),
                        ("domain", "vpc")):
        found = ec2.describe_addresses(Filters=[{"Name": name, "Values": [value]}])["Addresses"]
        assert b["AllocationId"] in [x["AllocationId"] for x in found], name
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [a["AllocationId"]]}])
    assert tags["Tags"][0]["ResourceType"] == "elastic-ip"

    ec2.release_address(AllocationId=a["AllocationId"])
    ec2.release_address(PublicIp=b["PublicIp"])
    assert ec2.describe_addresses()["Addresses"] == []
    assert error_of(ec2.describe_addresses, AllocationIds=[a["AllocationId"]]) == (
        "InvalidAllocationID.NotFound", 400)
    assert error_of(ec2.release_address, AllocationId=a["AllocationId"]) == (
        "InvalidAllocationID.NotFound", 400)


def test_associate_with_an_instance_shows_on_describe_instances(ec2, ami):
    release_all(ec2)
    iid = running(ec2, ami)
    a = ec2.allocate_address(Domain="vpc")
    assoc = ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)
    assert re.fullmatch(r"eipassoc-[0-9a-f]{17}", assoc["AssociationId"])

    i = instance(ec2, iid)
    assert i["PublicIpAddress"] == a["PublicIp"]
    nic = i["NetworkInterfaces"][0]
    assert nic["Association"]["PublicIp"] == a["PublicIp"]
    assert nic["PrivateIpAddresses"][0]["Association"]["PublicIp"] == a["PublicIp"]

    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    assert got["AssociationId"] == assoc["AssociationId"]
    assert got["InstanceId"] == iid
    assert got["NetworkInterfaceId"] == nic["NetworkInterfaceId"]
    assert got["PrivateIpAddress"] == i["PrivateIpAddress"]
    owner = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["OwnerId"]
    assert got["NetworkInterfaceOwnerId"] == owner
    for name, value in (("instance-id", iid), ("association-id", assoc["AssociationId"]),
                        ("network-interface-id", nic["NetworkInterfaceId"]),
                        ("private-ip-address", i["PrivateIpAddress"])):
        found = ec2.describe_addresses(Filters=[{"Name": name, "Values": [value]}])["Addresses"]
        assert [x["AllocationId"] for x in found] == [a["AllocationId"]], name

    assert error_of(ec2.release_address, AllocationId=a["AllocationId"]) == (
        "InvalidIPAddress.InUse", 400)
    ec2.disassociate_address(AssociationId=assoc["AssociationId"])
    i = instance(ec2, iid)
    assert "PublicIpAddress" not in i
    assert "Association" not in i["NetworkInterfaces"][0]
    assert error_of(ec2.disassociate_address, AssociationId=assoc["AssociationId"]) == (
        "InvalidAssociationID.NotFound", 400)
    ec2.release_address(AllocationId=a["AllocationId"])
    ec2.terminate_instances(InstanceIds=[iid])


def test_reassociation_and_network_interface_targets(ec2, ami):
    release_all(ec2)
    first, second = running(ec2, ami), running(ec2, ami)
    a = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=first)
    assert error_of(ec2.associate_address, AllocationId=a["AllocationId"],
                    InstanceId=second) == ("Resource.AlreadyAssociated", 400)
    eni = instance(ec2, second)["NetworkInterfaces"][0]
    moved = ec2.associate_address(AllocationId=a["AllocationId"],
                                  NetworkInterfaceId=eni["NetworkInterfaceId"],
                                  PrivateIpAddress=eni["PrivateIpAddress"],
                                  AllowReassociation=True)
    assert "PublicIpAddress" not in instance(ec2, first)
    assert instance(ec2, second)["PublicIpAddress"] == a["PublicIp"]

    # A second address on the same interface takes its place; the first stays allocated.
    b = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=b["AllocationId"], InstanceId=second)
    assert instance(ec2, second)["PublicIpAddress"] == b["PublicIp"]
    old = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    assert "AssociationId" not in old
    assert error_of(ec2.disassociate_address, AssociationId=moved["AssociationId"]) == (
        "InvalidAssociationID.NotFound", 400)

    # Terminating the instance ends the association, as on AWS.
    ec2.terminate_instances(InstanceIds=[second])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[second],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    gone = ec2.describe_addresses(AllocationIds=[b["AllocationId"]])["Addresses"][0]
    assert "AssociationId" not in gone
    assert error_of(ec2.associate_address, AllocationId=b["AllocationId"],
                    InstanceId=second) == ("IncorrectInstanceState", 400)
    ec2.release_address(AllocationId=b["AllocationId"])
    ec2.release_address(AllocationId=a["AllocationId"])
    ec2.terminate_instances(InstanceIds=[first])


def test_mistakes_answer_the_aws_codes(ec2, ami):
    release_all(ec2)
    iid = running(ec2, ami)
    a = ec2.allocate_address(Domain="vpc")
    cases = [
        (ec2.associate_address, {"AllocationId": "eipalloc-0123456789abcdef0",
                                 "InstanceId": iid}, "InvalidAllocationID.NotFound"),
        (ec2.associate_address, {"AllocationId": "eip-123", "InstanceId": iid},
         "InvalidAllocationID.Malformed"),
        (ec2.associate_address, {"AllocationId": a["AllocationId"],
                                 "InstanceId": "i-0123456789abcdef0"},
         "InvalidInstanceID.NotFound"),
        (ec2.associate_address, {"AllocationId": a["AllocationId"],
                                 "NetworkInterfaceId": "eni-0123456789abcdef0"},
         "InvalidNetworkInterfaceID.NotFound"),
        (ec2.associate_address, {"AllocationId": a["AllocationId"]}, "MissingParameter"),
        (ec2.associate_address, {"AllocationId": a["AllocationId"], "InstanceId": iid,
                                 "PrivateIpAddress": "10.9.9.9"}, "InvalidParameterValue"),
        (ec2.associate_address, {"PublicIp": "203.0.113.250", "InstanceId": iid},
         "InvalidAddress.NotFound"),
        (ec2.disassociate_address, {"AssociationId": "eipassoc-0123456789abcdef0"},
         "InvalidAssociationID.NotFound"),
        (ec2.disassociate_address, {"PublicIp": a["PublicIp"]}, "InvalidAssociationID.NotFound"),
        (ec2.release_address, {"PublicIp": "198.51.100.7"}, "InvalidAddress.NotFound"),
        (ec2.describe_addresses, {"PublicIps": ["203.0.113.250"]}, "InvalidAddress.NotFound"),
        (ec2.describe_addresses, {"Filters": [{"Name": "bogus", "Values": ["x"]}]},
         "InvalidParameterValue"),
        (ec2.allocate_address, {"Domain": "standard"}, "InvalidParameterValue"),
        (ec2.allocate_address, {"NetworkBorderGroup": "eu-west-1"}, "InvalidParameterValue"),
        (ec2.describe_addresses_attribute, {"AllocationIds": ["eipalloc-0123456789abcdef0"],
                                            "Attribute": "domain-name"},
         "InvalidAllocationID.NotFound"),
    ]
    for call, kw, code in cases:
        assert error_of(call, **kw) == (code, 400), (call.__name__, kw)
    for call, kw in ((ec2.allocate_address, {"Domain": "vpc"}),
                     (ec2.associate_address, {"AllocationId": a["AllocationId"],
                                              "InstanceId": iid}),
                     (ec2.release_address, {"AllocationId": a["AllocationId"]}),
                     (ec2.describe_addresses, {})):
        assert error_of(call, DryRun=True, **kw) == ("DryRunOperation", 412), call.__name__
    assert len(ec2.describe_addresses()["Addresses"]) == 1, "a dry run changed nothing"
    assert "PublicIpAddress" not in instance(ec2, iid)
    ec2.release_address(AllocationId=a["AllocationId"])
    ec2.terminate_instances(InstanceIds=[iid])


def test_terraform_aws_eip_replay(ec2, ami):
    release_all(ec2)
    iid = running(ec2, ami)
    # Create.
    a = ec2.allocate_address(Domain="vpc")
    alloc = a["AllocationId"]
    assoc = ec2.associate_address(AllocationId=alloc, InstanceId=iid)["AssociationId"]
    # Read, then read again: nothing changes between the two.
    reads = []
    for _ in range(2):
        addr = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"]
        attr = ec2.describe_addresses_attribute(AllocationIds=[alloc], Attribute="domain-name")
        attr.pop("ResponseMetadata")
        reads.append((addr, attr))
    assert reads[0] == reads[1]
    addr, attr = reads[0]
    assert addr[0]["AssociationId"] == assoc and addr[0]["InstanceId"] == iid
    assert addr[0]["Domain"] == "vpc"
    assert attr["Addresses"] == [{"PublicIp": a["PublicIp"], "AllocationId": alloc}]
    # Delete.
    ec2.disassociate_address(AssociationId=assoc)
    ec2.release_address(AllocationId=alloc)
    assert error_of(ec2.describe_addresses, AllocationIds=[alloc]) == (
        "InvalidAllocationID.NotFound", 400)
    ec2.terminate_instances(InstanceIds=[iid])


def test_cli_allocate_associate_release(shared_server, ec2, ami, tmp_path):
    release_all(ec2)
    iid = running(ec2, ami)
    home = tmp_path / "home"
    home.mkdir()
    r = aws(shared_server, home, "ec2", "allocate-address", "--domain", "vpc")
    assert r.returncode == 0, r.stderr
    alloc = json.loads(r.stdout)["AllocationId"]
    r = aws(shared_server, home, "ec2", "associate-address", "--allocation-id", alloc,
            "--instance-id", iid)
    assert r.returncode == 0, r.stderr
    assoc = json.loads(r.stdout)["AssociationId"]
    r = aws(shared_server, home, "ec2", "describe-addresses", "--allocation-ids", alloc)
    assert json.loads(r.stdout)["Addresses"][0]["AssociationId"] == assoc
    r = aws(shared_server, home, "ec2", "release-address", "--allocation-id", alloc)
    assert r.returncode != 0 and "InvalidIPAddress.InUse" in r.stderr, r.stderr
    r = aws(shared_server, home, "ec2", "disassociate-address", "--association-id", assoc)
    assert r.returncode == 0, r.stderr
    r = aws(shared_server, home, "ec2", "release-address", "--allocation-id", alloc)
    assert r.returncode == 0, r.stderr
    ec2.terminate_instances(InstanceIds=[iid])


def test_the_account_limit_and_a_configured_range(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text('[network]\npublic_ip_range = "198.51.100.0/29"\naddress_limit = 4\n')
    server = make_server("--config", str(config)).start()
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    got = [ec2.allocate_address(Domain="vpc")["PublicIp"] for _ in range(4)]
    assert got == ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
    assert error_of(ec2.allocate_address, Domain="vpc") == ("AddressLimitExceeded", 400)
    assert len(ec2.describe_addresses()["Addresses"]) == 4, "nothing half-created"

    # Another account has its own limit, but the range is shared: never the same address twice.
    run = lambda *a: run_cirrus("admin", "--data-dir", str(server.data_dir), *a)  # noqa: E731
    assert run("account", "create", "dev", "--role", "user").returncode == 0
    assert run("user", "create", "bob", "--account", "dev").returncode == 0
    key = run("key", "create", "--user", "bob").stdout
    access = re.search(r"access_key: (\S+)", key).group(1)
    secret = re.search(r"secret_key: (\S+)", key).group(1)
    dev = boto3_client(server, "ec2", access, secret)
    theirs = [dev.allocate_address(Domain="vpc")["PublicIp"] for _ in range(2)]
    assert theirs == ["198.51.100.5", "198.51.100.6"]
    assert error_of(dev.describe_addresses, PublicIps=["198.51.100.1"]) == (
        "InvalidAddress.NotFound", 400), "another account's address is not visible"
    assert error_of(dev.release_address, PublicIp="198.51.100.1") == (
        "InvalidAddress.NotFound", 400)
    # A /29 hands out six addresses; the seventh is the cloud's shortage, not the caller's.
    assert error_of(dev.allocate_address, Domain="vpc") == ("InsufficientAddressCapacity", 500)
    ec2.release_address(PublicIp="198.51.100.2")
    assert dev.allocate_address(Domain="vpc")["PublicIp"] == "198.51.100.2"
