"""The EC2 compute door with real clients: the launch workflow with the AWS CLI's own waiters,
instance lifecycle and attributes, ClientToken and DryRun, filters, key pairs (fingerprints
checked against keys rebuilt here), security groups, tags, and the default VPC, plus replays of
the Terraform aws provider's call sequences for aws_instance, aws_key_pair and
aws_security_group (create, read, read again with no change, delete)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess

import botocore.exceptions
import pytest
import rsa

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ec2(shared_server, tmp_path_factory):
    import boto3

    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    os.environ["AWS_CONFIG_FILE"] = str(shared_server.file("aws/config"))
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(shared_server.file("aws/credentials"))
    return boto3.Session().client("ec2")


@pytest.fixture(scope="module")
def ami(ec2):
    return ec2.describe_images()["Images"][0]["ImageId"]


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def fast(waiter):
    return {"Delay": 1, "MaxAttempts": 30}


def launch(ec2, ami, **kw):
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, **kw)
    return r["Instances"][0]["InstanceId"]


def aws(shared_server, *args):
    env = dict(os.environ)
    env["AWS_CONFIG_FILE"] = str(shared_server.file("aws/config"))
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(shared_server.file("aws/credentials"))
    p = subprocess.run(["aws", "ec2", *args], env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_cli_launch_workflow_with_the_real_waiters(shared_server, ami):
    rc, out, err = aws(shared_server, "run-instances", "--image-id", ami, "--instance-type",
                       "t3.micro", "--output", "json")
    assert rc == 0, err
    iid = json.loads(out)["Instances"][0]["InstanceId"]
    for step in (["wait", "instance-running"], ["stop-instances"], ["wait", "instance-stopped"],
                 ["start-instances"], ["wait", "instance-running"], ["terminate-instances"],
                 ["wait", "instance-terminated"]):
        rc, out, err = aws(shared_server, *step, "--instance-ids", iid)
        assert rc == 0, (step, err)
    rc, out, _ = aws(shared_server, "describe-instances", "--instance-ids", iid, "--output", "json")
    assert json.loads(out)["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"


def test_every_instance_has_the_shapes_terraform_reads(ec2, ami):
    iid = launch(ec2, ami)
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=fast(None))
    i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    for key in ("State", "Placement", "MetadataOptions", "CpuOptions", "EnclaveOptions",
                "PrivateIpAddress", "SubnetId", "VpcId", "SecurityGroups"):
        assert key in i, key
    nic = i["NetworkInterfaces"][0]
    assert nic["Attachment"]["DeviceIndex"] == 0
    assert nic["PrivateIpAddress"] == i["PrivateIpAddress"]
    assert "Association" not in nic, "no public IP, so no association"
    assert i["PrivateIpAddress"].startswith("172.31.")
    last = int(i["PrivateIpAddress"].split(".")[-1])
    assert last >= 4, "the first four addresses of a subnet are reserved"
    ec2.terminate_instances(InstanceIds=[iid])


def test_addresses_are_never_handed_out_twice(ec2, ami):
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.nano", MinCount=5, MaxCount=5)
    ips = [i["PrivateIpAddress"] for i in r["Instances"]]
    assert len(set(ips)) == 5
    assert len({i["ReservationId"] if "ReservationId" in i else r["ReservationId"]
                for i in r["Instances"]}) == 1
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])


def test_state_transitions_and_idempotent_repeats(ec2, ami):
    iid = launch(ec2, ami)
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=fast(None))
    again = ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]
    assert again["PreviousState"]["Name"] == again["CurrentState"]["Name"] == "running"
    stop = ec2.stop_instances(InstanceIds=[iid], Force=True)["StoppingInstances"][0]
    assert (stop["PreviousState"]["Name"], stop["CurrentState"]["Name"]) == ("running", "stopping")
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=fast(None))
    assert error_of(ec2.reboot_instances, InstanceIds=[iid]) == ("IncorrectInstanceState", 400)
    status = ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"]
    assert status == [], "a stopped instance is listed only with IncludeAllInstances"
    status = ec2.describe_instance_status(InstanceIds=[iid], IncludeAllInstances=True)
    assert status["InstanceStatuses"][0]["InstanceState"]["Name"] == "stopped"
    term = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert term["PreviousState"]["Name"] == "stopped"
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=fast(None))
    assert error_of(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"]) == (
        "InvalidInstanceID.NotFound", 400)


def test_client_token_and_dry_run(ec2, ami):
    token = "cirrus-token-1"
    first = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                              ClientToken=token)
    again = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                              ClientToken=token)
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [
        i["InstanceId"] for i in first["Instances"]]
    assert error_of(ec2.run_instances, ImageId=ami, InstanceType="t3.small", MinCount=1,
                    MaxCount=1, ClientToken=token) == ("IdempotentParameterMismatch", 400)
    before = len(ec2.describe_instances()["Reservations"])
    assert error_of(ec2.run_instances, ImageId=ami, InstanceType="t3.micro", MinCount=1,
                    MaxCount=1, DryRun=True) == ("DryRunOperation", 412)
    assert len(ec2.describe_instances()["Reservations"]) == before
    assert error_of(ec2.run_instances, ImageId="ami-0123456789abcdef0", InstanceType="t3.micro",
                    MinCount=1, MaxCount=1) == ("InvalidAMIID.NotFound", 400)
    assert error_of(ec2.run_instances, ImageId=ami, InstanceType="x9.huge", MinCount=1,
                    MaxCount=1) == ("InvalidInstanceType", 400)
    assert error_of(ec2.run_instances, ImageId=ami, InstanceType="t3.micro", MinCount=1,
                    MaxCount=1, KeyName="nope") == ("InvalidKeyPair.NotFound", 400)
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in first["Instances"]])


def test_not_enough_capacity_for_min_count(ec2, ami):
    types = {t["InstanceType"]: t for t in ec2.describe_instance_types()["InstanceTypes"]}
    big = max(types, key=lambda n: types[n]["MemoryInfo"]["SizeInMiB"])
    code, status = error_of(ec2.run_instances, ImageId=ami, InstanceType=big, MinCount=1000,
                            MaxCount=1000)
    assert (code, status) == ("InsufficientInstanceCapacity", 500)


def test_attributes_and_termination_protection(ec2, ami):
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          UserData="#!/bin/sh\necho hi\n", DisableApiTermination=True)
    iid = r["Instances"][0]["InstanceId"]
    got = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    assert got["UserData"]["Value"] == user_data, "stored and returned verbatim"
    got = ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")
    assert got["DisableApiTermination"]["Value"] is True
    assert error_of(ec2.terminate_instances, InstanceIds=[iid]) == ("OperationNotPermitted", 400)
    assert error_of(ec2.modify_instance_attribute, InstanceId=iid,
                    InstanceType={"Value": "t3.small"}) == ("IncorrectInstanceState", 400)
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": True})
    assert error_of(ec2.stop_instances, InstanceIds=[iid]) == ("OperationNotPermitted", 400)
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": False})
    ec2.stop_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=fast(None))
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.small"})
    ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": b"new"})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")[
        "InstanceType"]["Value"] == "t3.small"
    assert base64.b64decode(ec2.describe_instance_attribute(
        InstanceId=iid, Attribute="userData")["UserData"]["Value"]) == b"new"
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior",
                                  Value="terminate")
    assert ec2.describe_instance_attribute(
        InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior"
    )["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")[
        "SourceDestCheck"]["Value"] is False
    out = ec2.get_console_output(InstanceId=iid)
    assert out["InstanceId"] == iid
    mapping = ec2.describe_instance_attribute(InstanceId=iid, Attribute="blockDeviceMapping")[
        "BlockDeviceMappings"]
    root = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert mapping == root["BlockDeviceMappings"], "the attribute lists what the instance does"
    assert [m["DeviceName"] for m in mapping] == [root["RootDeviceName"]]
    assert mapping[0]["Ebs"]["VolumeId"].startswith("vol-")
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])


def test_metadata_options_are_kept_as_terraform_sets_them(ec2, ami):
    """aws_instance with metadata_options { http_tokens = "required", hop limit 2 }: the read
    after the create and after an update must show what was set, or every plan shows a diff."""
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          MetadataOptions={"HttpTokens": "required",
                                           "HttpPutResponseHopLimit": 2,
                                           "HttpEndpoint": "enabled"})
    iid = r["Instances"][0]["InstanceId"]
    assert r["Instances"][0]["MetadataOptions"]["HttpTokens"] == "required"

    def read():
        i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return i["MetadataOptions"]

    got = read()
    assert (got["HttpTokens"], got["HttpPutResponseHopLimit"], got["HttpEndpoint"],
            got["InstanceMetadataTags"], got["State"]) == ("required", 2, "enabled", "disabled",
                                                           "applied")
    assert read() == got, "a second read shows no change"
    changed = ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="optional",
                                                   InstanceMetadataTags="enabled")
    assert changed["InstanceId"] == iid
    assert changed["InstanceMetadataOptions"]["HttpTokens"] == "optional"
    got = read()
    assert (got["HttpTokens"], got["HttpPutResponseHopLimit"], got["InstanceMetadataTags"]) == (
        "optional", 2, "enabled"), "options not named stay as they were"
    assert error_of(ec2.modify_instance_metadata_options, InstanceId=iid,
                    HttpTokens="sometimes") == ("InvalidParameterValue", 400)
    assert error_of(ec2.modify_instance_metadata_options, InstanceId=iid,
                    HttpPutResponseHopLimit=65) == ("InvalidParameterValue", 400)
    assert error_of(ec2.modify_instance_metadata_options, InstanceId=iid, HttpTokens="required",
                    DryRun=True) == ("DryRunOperation", 412)
    assert read()["HttpTokens"] == "optional", "a dry run changes nothing"
    assert error_of(ec2.modify_instance_metadata_options, InstanceId="i-0123456789abcdef0",
                    HttpTokens="required") == ("InvalidInstanceID.NotFound", 400)
    plain = launch(ec2, ami)
    default = ec2.describe_instances(InstanceIds=[plain])["Reservations"][0]["Instances"][0]
    assert default["MetadataOptions"]["HttpTokens"] == "optional"
    assert default["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    ec2.terminate_instances(InstanceIds=[iid, plain])


def test_describe_instances_filters(ec2, ami):
    ec2.create_key_pair(KeyName="filter-key", KeyType="ed25519")
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          KeyName="filter-key", TagSpecifications=[{
                              "ResourceType": "instance",
                              "Tags": [{"Key": "Name", "Value": "filtered"}]}])
    i = r["Instances"][0]
    iid = i["InstanceId"]

    def ids(name, value):
        res = ec2.describe_instances(Filters=[{"Name": name, "Values": [value]}])
        return {x["InstanceId"] for rr in res["Reservations"] for x in rr["Instances"]}

    assert iid in ids("vpc-id", i["VpcId"])
    assert iid in ids("subnet-id", i["SubnetId"])
    assert ids("private-ip-address", i["PrivateIpAddress"]) == {iid}
    assert ids("key-name", "filter-key") == {iid}
    assert ids("tag:Name", "filt*") == {iid}
    assert ids("vpc-id", "vpc-00000000000000000") == set()
    assert error_of(ec2.describe_instances, Filters=[{"Name": "bogus", "Values": ["x"]}]) == (
        "InvalidParameterValue", 400)
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.delete_key_pair(KeyName="filter-key")


# --- key pairs ---------------------------------------------------------------------------------

def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_len(len(body)) + body


def der_int(n: int) -> bytes:
    b = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return der(0x02, b)


RSA_ALGORITHM = der(0x30, der(0x06, bytes.fromhex("2a864886f70d010101")) + der(0x05, b""))


def colon(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def test_created_rsa_key_fingerprint_is_sha1_of_pkcs8(ec2):
    made = ec2.create_key_pair(KeyName="rsa-made")
    pem = made["KeyMaterial"]
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = rsa.PrivateKey.load_pkcs1(pem.encode())
    pkcs1 = key.save_pkcs1(format="DER")
    pkcs8 = der(0x30, der_int(0) + RSA_ALGORITHM + der(0x04, pkcs1))
    assert made["KeyFingerprint"] == colon(hashlib.sha1(pkcs8).digest())
    listed = ec2.describe_key_pairs(KeyNames=["rsa-made"])["KeyPairs"][0]
    assert listed["KeyPairId"] == made["KeyPairId"]
    assert listed["KeyType"] == "rsa"
    assert listed["KeyFingerprint"] == made["KeyFingerprint"]
    assert error_of(ec2.create_key_pair, KeyName="rsa-made") == ("InvalidKeyPair.Duplicate", 400)
    ec2.delete_key_pair(KeyName="rsa-made")
    assert error_of(ec2.describe_key_pairs, KeyNames=["rsa-made"]) == (
        "InvalidKeyPair.NotFound", 400)


def test_created_ed25519_key_works_with_ssh_keygen(ec2, tmp_path):
    made = ec2.create_key_pair(KeyName="ed-made", KeyType="ed25519")
    path = tmp_path / "id"
    path.write_text(made["KeyMaterial"])
    path.chmod(0o600)
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True,
                            text=True, check=True).stdout.split()
    assert public[0] == "ssh-ed25519"
    blob = base64.b64decode(public[1])
    assert made["KeyFingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()
    ec2.delete_key_pair(KeyName="ed-made")


def test_imported_keys_and_the_aws_key_pair_replay(ec2, tmp_path):
    path = tmp_path / "rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(path)],
                   check=True)
    line = (tmp_path / "rsa.pub").read_text().strip()
    pem = subprocess.run(["ssh-keygen", "-e", "-m", "PEM", "-f", str(path) + ".pub"],
                         capture_output=True, check=True).stdout
    pub = rsa.PublicKey.load_pkcs1(pem)
    spki = der(0x30, RSA_ALGORITHM + der(0x03, b"\x00" + der(0x30, der_int(pub.n) +
                                                                  der_int(pub.e))))
    # Terraform's aws_key_pair: ImportKeyPair with tags, DescribeKeyPairs twice, delete.
    made = ec2.import_key_pair(KeyName="tf-key", PublicKeyMaterial=line.encode(),
                               TagSpecifications=[{"ResourceType": "key-pair",
                                                   "Tags": [{"Key": "env", "Value": "t"}]}])
    assert made["KeyFingerprint"] == colon(hashlib.md5(spki).digest())
    reads = [ec2.describe_key_pairs(KeyNames=["tf-key"])["KeyPairs"][0] for _ in range(2)]
    for k in ("CreateTime",):
        for r in reads:
            r.pop(k)
    assert reads[0] == reads[1]
    assert reads[0]["KeyPairId"] == made["KeyPairId"]
    assert reads[0]["Tags"] == [{"Key": "env", "Value": "t"}]
    ec2.delete_key_pair(KeyName="tf-key")
    ec2.delete_key_pair(KeyName="tf-key")  # deleting what is gone succeeds, as on EC2
    assert error_of(ec2.import_key_pair, KeyName="bad", PublicKeyMaterial=b"not a key") == (
        "InvalidKeyPair.Format", 400)


# --- security groups ---------------------------------------------------------------------------

def test_aws_security_group_replay(ec2, ami):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    g = ec2.create_security_group(GroupName="tf-sg", Description="made by terraform",
                                  VpcId=vpc["VpcId"])["GroupId"]
    ec2.describe_security_groups(GroupIds=[g])
    ec2.revoke_security_group_egress(GroupId=g, IpPermissions=[{
        "IpProtocol": "-1", "FromPort": 0, "ToPort": 0, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert error_of(ec2.revoke_security_group_egress, GroupId=g, IpPermissions=[{
        "IpProtocol": "-1", "FromPort": 0, "ToPort": 0,
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]) == ("InvalidPermission.NotFound", 400)
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
           "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}]}
    added = ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[ssh])
    assert added["SecurityGroupRules"][0]["FromPort"] == 22
    assert error_of(ec2.authorize_security_group_ingress, GroupId=g, IpPermissions=[ssh]) == (
        "InvalidPermission.Duplicate", 400)
    ec2.authorize_security_group_egress(GroupId=g, IpPermissions=[{
        "IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    reads = [ec2.describe_security_groups(GroupIds=[g])["SecurityGroups"][0] for _ in range(2)]
    assert reads[0] == reads[1]
    ingress = reads[0]["IpPermissions"]
    assert ingress == [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [],
                        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}],
                        "Ipv6Ranges": [], "PrefixListIds": []}]
    assert reads[0]["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [g]}])
    assert len(rules["SecurityGroupRules"]) == 2
    # In use by an instance: DependencyViolation until it is terminated.
    iid = launch(ec2, ami, SecurityGroupIds=[g])
    assert error_of(ec2.delete_security_group, GroupId=g) == ("DependencyViolation", 400)
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=fast(None))
    ec2.delete_security_group(GroupId=g)
    assert error_of(ec2.describe_security_groups, GroupIds=[g]) == ("InvalidGroup.NotFound", 400)


# --- tags and the default VPC ------------------------------------------------------------------

def test_tags_on_resources(ec2, ami):
    iid = launch(ec2, ami)
    g = ec2.create_security_group(GroupName="tagged", Description="t")["GroupId"]
    ec2.create_tags(Resources=[iid, g], Tags=[{"Key": "team", "Value": "a"},
                                              {"Key": "tier", "Value": "web"}])
    got = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert {(t["Key"], t["Value"], t["ResourceType"]) for t in got} == {
        ("team", "a", "instance"), ("tier", "web", "instance")}
    got = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["security-group"]},
                                     {"Name": "key", "Values": ["team"]}])["Tags"]
    assert [t["ResourceId"] for t in got] == [g]
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": "team"}])
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": "tier", "Value": "other"}])
    left = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert [t["Key"] for t in left] == ["tier"]
    sgs = ec2.describe_security_groups(Filters=[{"Name": "tag:team", "Values": ["a"]}])
    assert [s["GroupId"] for s in sgs["SecurityGroups"]] == [g]
    assert error_of(ec2.create_tags, Resources=["i-0123456789abcdef0"],
                    Tags=[{"Key": "a", "Value": "b"}]) == ("InvalidInstanceID.NotFound", 400)
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.delete_security_group(GroupId=g)


def test_launch_tags_every_volume_and_the_interface(ec2, ami):
    r = ec2.run_instances(
        ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2}}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "backup", "Value": "daily"}]},
            {"ResourceType": "network-interface", "Tags": [{"Key": "nic", "Value": "primary"}]},
        ])
    iid = r["Instances"][0]["InstanceId"]
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]
    assert sorted(v["Attachments"][0]["Device"] for v in volumes) == ["/dev/sda1", "/dev/sdf"]
    for v in volumes:
        assert v["Tags"] == [{"Key": "backup", "Value": "daily"}], v["VolumeId"]
    tagged = ec2.describe_volumes(Filters=[{"Name": "tag:backup", "Values": ["daily"]}])
    assert {v["VolumeId"] for v in tagged["Volumes"]} == {v["VolumeId"] for v in volumes}
    nics = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["NetworkInterfaces"]
    assert [n["TagSet"] for n in nics] == [[{"Key": "nic", "Value": "primary"}]]
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert instance["Tags"] == [{"Key": "Name", "Value": "web"}], "instance tags stay its own"
    ec2.terminate_instances(InstanceIds=[iid])


def test_default_vpc_subnets_and_attributes(ec2):
    vpcs = ec2.describe_vpcs()["Vpcs"]
    default = [v for v in vpcs if v["IsDefault"]]
    assert len(default) == 1 and default[0]["CidrBlock"] == "172.31.0.0/16"
    vpc_id = default[0]["VpcId"]
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["VpcId"] == vpc_id
    attrs = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert attrs == [{"AttributeName": "default-vpc",
                      "AttributeValues": [{"AttributeValue": vpc_id}]}]
    for attr, key in (("enableDnsSupport", "EnableDnsSupport"),
                      ("enableDnsHostnames", "EnableDnsHostnames"),
                      ("enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics")):
        got = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)
        assert isinstance(got[key]["Value"], bool)
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert {s["AvailabilityZone"] for s in subnets if s["DefaultForAz"]} == zones
    assert subnets[0]["CidrBlock"] == "172.31.0.0/20"
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": [vpc_id]}])
    assert len(groups["SecurityGroups"]) == 1
    assert error_of(ec2.describe_vpcs, VpcIds=["vpc-00000000000000000"]) == (
        "InvalidVpcID.NotFound", 400)


def test_aws_instance_replay(ec2, ami):
    # Create: RunInstances with tags and a client token, then poll until running.
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          ClientToken="terraform-20261204-1", TagSpecifications=[{
                              "ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "tf"}]}])
    iid = r["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=fast(None))

    def read():
        i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        t = ec2.describe_instance_types(InstanceTypes=[i["InstanceType"]])["InstanceTypes"][0]
        lt = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]},
                                        {"Name": "key", "Values": ["aws:ec2launchtemplate:id"]}])
        v = ec2.describe_vpcs(VpcIds=[i["VpcId"]])["Vpcs"][0]
        attrs = {a: ec2.describe_instance_attribute(InstanceId=iid, Attribute=a)
                 for a in ("instanceInitiatedShutdownBehavior", "disableApiStop",
                           "disableApiTermination", "userData")}
        for a in attrs.values():
            a.pop("ResponseMetadata")
        credits = None
        if t.get("BurstablePerformanceSupported"):
            credits = ec2.describe_instance_credit_specifications(InstanceIds=[iid])[
                "InstanceCreditSpecifications"]
        return i, lt["Tags"], v["IsDefault"], attrs, credits

    first, second = read(), read()
    assert first == second, "a second read shows no change"
    assert first[1] == []
    assert first[0]["Tags"] == [{"Key": "Name", "Value": "tf"}]
    # Delete: protection off (always), terminate, poll until terminated.
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=fast(None))
