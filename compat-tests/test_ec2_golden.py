"""Golden EC2 wire fixtures: every action the EC2 door serves (the `SERVED` list of
ec2/src/actions/mod.rs) is driven once, in one deterministic scenario, by boto3 against a fresh
server; the raw XML body of each answer is normalized (request ids, resource ids, times, key
material, fingerprints, account numbers become placeholders; elements and their order stay) and
compared with fixtures/ec2/golden/<Action>.xml, as are a few representative error envelopes.

Every body is also walked against botocore's output shape for its operation: an element botocore
does not know (which it would silently drop), a list without `<item>` children, a boolean that is
not `true`/`false` or a number that does not parse fails the test, so a fixture can only record
XML that the SDKs read.

`CIRRUS_UPDATE_GOLDEN=1` rewrites the fixtures. A served action without a step in SCENARIO fails
with a message naming it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest

from golden import ID, MAC, Numbering, compare, pretty_xml, same_shape_time
from harness import REPO, Server, ec2_request

pytestmark = pytest.mark.timeout(600)

GOLDEN = REPO / "fixtures" / "ec2" / "golden"
NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGATO2/H34GxDoie05eKteDb8N4yScKEpRNYdvLYsQK/ "
              "golden@cirrus")
FAST = {"Delay": 1, "MaxAttempts": 60}


def served_actions() -> list[str]:
    """The door's SERVED list, read from its source."""
    text = (REPO / "ec2" / "src" / "actions" / "mod.rs").read_text()
    block = re.search(r"pub const SERVED: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert block, "SERVED not found in ec2/src/actions/mod.rs"
    return re.findall(r"::(\w+)::NAME", block.group(1))


ERRORS = ["UnknownAction", "BadSignature", "UnknownAccessKey", "InstanceNotFound",
          "MissingParameter", "DryRun"]


# --- normalization ------------------------------------------------------------------------------

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
TIME = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)")
ACCOUNT = re.compile(r"(?<![\d.])\d{12}(?![\d.])")
MASKED = ["keyMaterial", "keyFingerprint", "nextToken", "output", "publicKey"]


def normalize(body: str) -> str:
    n = Numbering()
    for tag in MASKED:
        body = re.sub(rf"<{tag}>[^<]*</{tag}>",
                      lambda m, t=tag: f"<{t}>{t.upper()}</{t}>" if m.group(0) != f"<{t}></{t}>"
                      else m.group(0), body)
    body = re.sub(r"<(requestId|RequestID)>[^<]*</\1>", r"<\1>REQUEST-ID</\1>", body)
    body = ID.sub(lambda m: f"{m.group(1)}-{n('ID', m.group(0))}", body)
    body = UUID.sub(lambda m: n("UUID", m.group(0).lower()), body)
    body = MAC.sub(lambda m: n("MAC", m.group(0).lower()), body)
    body = TIME.sub(same_shape_time, body)
    body = ACCOUNT.sub("ACCOUNT", body)
    body = re.sub(r"//127\.0\.0\.1:\d+", "//127.0.0.1:PORT", body)
    return pretty_xml(body)


# --- the check against botocore's model ----------------------------------------------------------

def local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def shape_problems(elem: ET.Element, shape, path: str) -> list[str]:
    """What in `elem` botocore's parser would not read as `shape`."""
    out = []
    kind = shape.type_name
    children = list(elem)
    if kind == "structure":
        members = {m.serialization.get("name", name): m for name, m in shape.members.items()}
        for child in children:
            tag = local(child.tag)
            if tag not in members:
                out.append(f"{path}/{tag}: not a member of {shape.name} "
                           f"(botocore knows {sorted(members)})")
                continue
            out += shape_problems(child, members[tag], f"{path}/{tag}")
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        for child in children:
            if local(child.tag) != item:
                out.append(f"{path}/{local(child.tag)}: a list of {shape.name} holds <{item}>")
                continue
            out += shape_problems(child, shape.member, f"{path}/{item}")
    elif kind == "map":
        out.append(f"{path}: a map, not checked")
    else:
        if children:
            out.append(f"{path}: the scalar {shape.name} has child elements")
        text = elem.text or ""
        if kind == "boolean" and text not in ("true", "false"):
            out.append(f"{path}: boolean {text!r}")
        elif kind in ("integer", "long"):
            if not re.fullmatch(r"-?\d+", text):
                out.append(f"{path}: {kind} {text!r}")
        elif kind in ("double", "float"):
            try:
                float(text)
            except ValueError:
                out.append(f"{path}: {kind} {text!r}")
        elif kind == "timestamp" and not TIME.fullmatch(text):
            out.append(f"{path}: timestamp {text!r}")
    return out


def check_against_model(ec2, action: str, body: str):
    root = ET.fromstring(body)
    assert root.tag == f"{NS}{action}Response", root.tag
    first = list(root)[0] if len(root) else None
    assert first is not None and local(first.tag) == "requestId", "requestId comes first"
    output = ec2.meta.service_model.operation_model(action).output_shape
    problems = []
    for child in list(root)[1:]:
        tag = local(child.tag)
        if tag == "return":
            # AWS answers `<return>true</return>` for actions without output, and beside the
            # output of a few (CreateSecurityGroup); botocore reads it where the model has it.
            continue
        if output is None:
            problems.append(f"{tag}: {action} has no output in the model")
            continue
        members = {m.serialization.get("name", name): m for name, m in output.members.items()}
        if tag not in members:
            problems.append(f"{tag}: not a member of {output.name} (botocore knows "
                            f"{sorted(members)})")
            continue
        problems += shape_problems(child, members[tag], tag)
    assert not problems, f"{action}: botocore would not read:\n" + "\n".join(problems)


# --- the scenario ------------------------------------------------------------------------------

class Recorder:
    """Keeps the raw body of the first answer to each action called through `call`, via
    botocore's after-call event (which sees the bytes before any parsing or error raising)."""

    def __init__(self, ec2):
        self.ec2 = ec2
        self.bodies: dict[str, str] = {}
        self.failures: dict[str, str] = {}
        self.current: str | None = None
        ec2.meta.events.register("after-call.ec2", self._after)

    def _after(self, http_response, model, **_):
        if self.current == model.name and model.name not in self.bodies:
            self.bodies[model.name] = http_response.content.decode()

    def call(self, action: str, **kw):
        method = getattr(self.ec2, re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower())
        self.current = action
        try:
            return method(**kw)
        except botocore.exceptions.ClientError as e:
            self.failures[action] = str(e)
            raise
        finally:
            self.current = None


def run_scenario(server: Server, ec2) -> Recorder:
    r = Recorder(ec2)
    c = r.call
    c("DescribeRegions")
    zones = c("DescribeAvailabilityZones")["AvailabilityZones"]
    zone = zones[0]["ZoneName"]
    c("DescribeAccountAttributes")
    # One type: the catalogue's order follows the offerings' creation times, which vary by run.
    itype = "t3.micro"
    c("DescribeInstanceTypes", InstanceTypes=[itype])
    images = c("DescribeImages")["Images"]
    ami = sorted(i["ImageId"] for i in images)[0] if images else None
    assert ami, "a fresh server offers an image"

    c("CreateKeyPair", KeyName="golden-created", KeyType="ed25519")
    c("ImportKeyPair", KeyName="golden-imported", PublicKeyMaterial=PUBLIC_KEY.encode(),
      TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "k", "Value": "v"}]}])
    c("DescribeKeyPairs", KeyNames=["golden-imported"])

    vpc = c("DescribeVpcs")["Vpcs"][0]["VpcId"]
    c("DescribeSubnets", Filters=[{"Name": "availability-zone", "Values": [zone]}])
    c("DescribeVpcAttribute", VpcId=vpc, Attribute="enableDnsSupport")

    sg = c("CreateSecurityGroup", GroupName="golden", Description="golden fixture group",
           VpcId=vpc)["GroupId"]
    ssh = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh from inside"}]}]
    https = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
              "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    c("AuthorizeSecurityGroupIngress", GroupId=sg, IpPermissions=ssh)
    c("AuthorizeSecurityGroupEgress", GroupId=sg, IpPermissions=https)
    c("DescribeSecurityGroups", GroupIds=[sg])
    c("DescribeSecurityGroupRules", Filters=[{"Name": "group-id", "Values": [sg]}])
    c("RevokeSecurityGroupIngress", GroupId=sg, IpPermissions=ssh)
    c("RevokeSecurityGroupEgress", GroupId=sg, IpPermissions=https)

    run = c("RunInstances", ImageId=ami, InstanceType=itype, MinCount=1, MaxCount=1,
            KeyName="golden-imported", SecurityGroupIds=[sg],
            Placement={"AvailabilityZone": zone}, ClientToken="golden-run-1",
            UserData="aGVsbG8=",
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Name", "Value": "golden"}]}])
    iid = run["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    c("DescribeInstances", InstanceIds=[iid])
    c("DescribeInstanceStatus", InstanceIds=[iid])
    c("DescribeNetworkInterfaces", Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])
    c("GetConsoleOutput", InstanceId=iid)
    c("DescribeInstanceAttribute", InstanceId=iid, Attribute="instanceType")
    c("ModifyInstanceAttribute", InstanceId=iid, DisableApiTermination={"Value": False})
    c("ModifyInstanceMetadataOptions", InstanceId=iid, HttpTokens="required",
      HttpPutResponseHopLimit=2)
    c("DescribeInstanceCreditSpecifications", InstanceIds=[iid])
    c("CreateTags", Resources=[iid], Tags=[{"Key": "env", "Value": "golden"}])
    c("DescribeTags", Filters=[{"Name": "resource-id", "Values": [iid]}])
    c("DeleteTags", Resources=[iid], Tags=[{"Key": "env"}])

    vol = c("CreateVolume", AvailabilityZone=zone, Size=1, VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume",
                                "Tags": [{"Key": "Name", "Value": "golden-data"}]}])["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
    c("AttachVolume", VolumeId=vol, InstanceId=iid, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol], WaiterConfig=FAST)
    c("DescribeVolumes", VolumeIds=[vol])
    c("DescribeVolumeStatus", VolumeIds=[vol])
    c("DetachVolume", VolumeId=vol)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
    c("ModifyVolume", VolumeId=vol, Size=2)
    c("DescribeVolumesModifications", VolumeIds=[vol])
    snap = c("CreateSnapshot", VolumeId=vol, Description="golden snapshot")["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=FAST)
    c("DescribeSnapshots", SnapshotIds=[snap])
    c("DescribeSnapshotAttribute", SnapshotId=snap, Attribute="createVolumePermission")
    c("ModifySnapshotAttribute", SnapshotId=snap, Attribute="createVolumePermission",
      OperationType="add", GroupNames=["all"])
    copy = c("CopySnapshot", SourceSnapshotId=snap, SourceRegion=ec2.meta.region_name,
             Description="golden copy")["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[copy], WaiterConfig=FAST)
    c("DeleteSnapshot", SnapshotId=copy)
    image_steps(ec2, c, iid, snap)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
    c("DeleteVolume", VolumeId=vol)

    alloc = c("AllocateAddress", Domain="vpc")["AllocationId"]
    assoc = c("AssociateAddress", AllocationId=alloc, InstanceId=iid)["AssociationId"]
    c("DescribeAddresses", AllocationIds=[alloc])
    c("DescribeAddressesAttribute", AllocationIds=[alloc], Attribute="domain-name")
    c("DisassociateAddress", AssociationId=assoc)
    c("ReleaseAddress", AllocationId=alloc)

    import_steps(server, ec2, c)

    c("RebootInstances", InstanceIds=[iid])
    c("StopInstances", InstanceIds=[iid])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    c("StartInstances", InstanceIds=[iid])
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    c("TerminateInstances", InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)
    c("DeleteSecurityGroup", GroupId=sg)
    c("DeleteKeyPair", KeyName="golden-created")
    # VPC networking: a VPC with a subnet, a gateway and a route table, then torn down.
    nv = c("CreateVpc", CidrBlock="10.9.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "golden"}]}])["Vpc"]["VpcId"]
    c("ModifyVpcAttribute", VpcId=nv, EnableDnsHostnames={"Value": True})
    ns = c("CreateSubnet", VpcId=nv, CidrBlock="10.9.1.0/24", AvailabilityZone=zone)[
        "Subnet"]["SubnetId"]
    c("ModifySubnetAttribute", SubnetId=ns, MapPublicIpOnLaunch={"Value": True})
    gw = c("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    c("AttachInternetGateway", InternetGatewayId=gw, VpcId=nv)
    c("DescribeInternetGateways", InternetGatewayIds=[gw])
    rt = c("CreateRouteTable", VpcId=nv, ClientToken="golden-token")["RouteTable"][
        "RouteTableId"]
    c("CreateRoute", RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=gw)
    c("ReplaceRoute", RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=gw)
    rassoc = c("AssociateRouteTable", RouteTableId=rt, SubnetId=ns)["AssociationId"]
    c("DescribeRouteTables", RouteTableIds=[rt])
    c("DescribeNetworkAcls", Filters=[{"Name": "vpc-id", "Values": [nv]}])
    c("DisassociateRouteTable", AssociationId=rassoc)
    c("DeleteRoute", RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")
    c("DeleteRouteTable", RouteTableId=rt)
    c("DetachInternetGateway", InternetGatewayId=gw, VpcId=nv)
    c("DeleteInternetGateway", InternetGatewayId=gw)
    c("DeleteSubnet", SubnetId=ns)
    c("DeleteVpc", VpcId=nv)
    return r


def image_steps(ec2, c, iid: str, snap: str):
    """An image of the running instance, its launch permissions, a copy, an image registered
    from the snapshot, and all three deregistered."""
    ami = c("CreateImage", InstanceId=iid, Name="golden-image", Description="golden image",
            TagSpecifications=[{"ResourceType": "image",
                                "Tags": [{"Key": "Name", "Value": "golden"}]}])["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig=FAST)
    c("ModifyImageAttribute", ImageId=ami,
      LaunchPermission={"Add": [{"UserId": "123456789012"}, {"Group": "all"}]})
    c("DescribeImageAttribute", ImageId=ami, Attribute="launchPermission")
    c("ResetImageAttribute", ImageId=ami, Attribute="launchPermission")
    copy = c("CopyImage", SourceImageId=ami, SourceRegion=ec2.meta.region_name,
             Name="golden-copy", Description="golden copy", ClientToken="golden-copy-1")[
        "ImageId"]
    registered = c("RegisterImage", Name="golden-registered", Architecture="x86_64",
                   RootDeviceName="/dev/xvda", VirtualizationType="hvm", EnaSupport=True,
                   BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                         "Ebs": {"SnapshotId": snap, "VolumeSize": 2}}])[
        "ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[copy, registered], WaiterConfig=FAST)
    for image in (ami, copy, registered):
        ec2.deregister_image(ImageId=image)


def import_steps(server: Server, ec2, c):
    """ImportImage of a small qcow2 object in a bucket of this cloud, its task, a cancelled
    second import, and DeregisterImage of the imported image."""
    import subprocess
    import tempfile
    import time

    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=server.url, region_name=ec2.meta.region_name,
                      aws_access_key_id=server.access_key,
                      aws_secret_access_key=server.secret_key,
                      config=Config(s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="golden-images")
    with tempfile.TemporaryDirectory() as d:
        disk = f"{d}/disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        with open(disk, "rb") as f:
            s3.put_object(Bucket="golden-images", Key="disk.qcow2", Body=f.read())
    container = [{"Format": "qcow2", "Description": "golden disk",
                  "UserBucket": {"S3Bucket": "golden-images", "S3Key": "disk.qcow2"}}]

    def ended(task):
        for _ in range(240):
            t = ec2.describe_import_image_tasks(ImportTaskIds=[task])["ImportImageTasks"][0]
            if t["Status"] != "active":
                return t
            time.sleep(0.25)
        raise AssertionError(f"the import {task} did not end within 60 s")

    task = c("ImportImage", Description="golden import", DiskContainers=container,
             ClientToken="golden-import-1")["ImportTaskId"]
    image = ended(task).get("ImageId")
    assert image, "the import completed with an image"
    c("DescribeImportImageTasks", ImportTaskIds=[task])
    second = ec2.import_image(Description="golden cancelled", DiskContainers=container,
                              ClientToken="golden-import-2")["ImportTaskId"]
    c("CancelImportTask", ImportTaskId=second, CancelReason="golden")
    ended(second)
    c("DeregisterImage", ImageId=image)


def error_bodies(server: Server, ec2) -> dict[str, tuple[int, str]]:
    """Representative error envelopes, from raw signed requests."""
    key, secret = server.access_key, server.secret_key
    v = {"Version": "2016-11-15"}
    out = {}

    def keep(name, resp):
        out[name] = (resp.status_code, resp.text)

    keep("UnknownAction", ec2_request(server, key, secret, {"Action": "NoSuchAction", **v}))
    keep("BadSignature", ec2_request(server, key, secret[:-1] + ("A" if secret[-1] != "A" else "B"),
                                     {"Action": "DescribeRegions", **v}))
    keep("UnknownAccessKey", ec2_request(server, "AKIDNOSUCHKEY0000000", secret,
                                         {"Action": "DescribeRegions", **v}))
    keep("InstanceNotFound", ec2_request(server, key, secret, {
        "Action": "DescribeInstances", "InstanceId.1": "i-0123456789abcdef0", **v}))
    keep("MissingParameter", ec2_request(server, key, secret, {"Action": "CreateKeyPair", **v}))
    keep("DryRun", ec2_request(server, key, secret, {
        "Action": "CreateKeyPair", "KeyName": "dry", "DryRun": "true", **v}))
    return out


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    import boto3
    from botocore.config import Config

    server = Server(tmp_path_factory.mktemp("golden") / "data").start()
    try:
        region = server.ini("aws/config")["default"]["region"]
        ec2 = boto3.client("ec2", endpoint_url=server.url, region_name=region,
                           aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key,
                           config=Config(retries={"max_attempts": 1}))
        recorder = run_scenario(server, ec2)
        errors = error_bodies(server, ec2)
        yield ec2, recorder, errors
    finally:
        server.stop()


@pytest.mark.parametrize("action", served_actions())
def test_golden_action(golden_run, action):
    ec2, recorder, _ = golden_run
    if action not in recorder.bodies:
        pytest.fail(f"the served action {action} has no step in SCENARIO of "
                    f"compat-tests/test_ec2_golden.py: add one (deterministic inputs)")
    body = recorder.bodies[action]
    assert action not in recorder.failures, recorder.failures[action]
    check_against_model(ec2, action, body)
    compare(GOLDEN / f"{action}.xml", normalize(body), f"the fixture of {action}")


@pytest.mark.parametrize("name", ERRORS)
def test_golden_error(golden_run, name):
    _, _, errors = golden_run
    status, body = errors[name]
    root = ET.fromstring(body)
    assert root.tag == "Response", root.tag
    assert [local(c.tag) for c in root] == ["Errors", "RequestID"], body
    error = root.find("Errors/Error")
    assert [c.tag for c in error] == ["Code", "Message"], body
    compare(GOLDEN / f"error-{name}.xml", f"<!-- HTTP {status} -->\n" + normalize(body),
            f"the error fixture {name}")


def test_every_fixture_belongs_to_a_served_action_or_an_error():
    names = {f"{a}.xml" for a in served_actions()} | {f"error-{e}.xml" for e in ERRORS}
    stale = sorted(p.name for p in GOLDEN.glob("*.xml") if p.name not in names)
    assert not stale, f"fixtures of nothing served (delete them): {stale}"
