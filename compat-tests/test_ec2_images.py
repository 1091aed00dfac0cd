"""Images made by users through the EC2 door, with real clients: the CreateImage walk with the
AWS CLI and its image-available waiter, then an instance launched from the new image;
RegisterImage from a snapshot as Terraform's aws_ami does it (register, wait, read again
unchanged, `data "aws_ami"` most_recent, deregister), after which the snapshot can go;
CopyImage with its client token; launch permissions across accounts (shared with one account,
then everyone, then reset); and every error code these actions answer, DryRun included, with
nothing made by a refused request."""

from __future__ import annotations

import datetime
import json
import os
import uuid

import botocore.exceptions
import pytest

import harness
from harness import Server, boto3_client, new_account

pytestmark = pytest.mark.timeout(300)

ZONE = "us-east-1a"
FAST = {"Delay": 1, "MaxAttempts": 30}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("images") / "data").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ec2(srv, tmp_path_factory):
    import boto3

    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    os.environ["AWS_CONFIG_FILE"] = str(srv.file("aws/config"))
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(srv.file("aws/credentials"))
    return boto3.Session().client("ec2")


@pytest.fixture(scope="module")
def base_ami(ec2):
    return ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def aws(srv, home, *args):
    r = harness.aws(srv, home, "ec2", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def launch(ec2, ami):
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    i = r["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[i], WaiterConfig=FAST)
    return i


def image(ec2, ami):
    return ec2.describe_images(ImageIds=[ami])["Images"][0]


def available(ec2, ami):
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig=FAST)
    return image(ec2, ami)


def snapshot_of_new_volume(ec2, size=2):
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=size)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[v], WaiterConfig=FAST)
    s = ec2.create_snapshot(VolumeId=v, Description="image root")["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[s], WaiterConfig=FAST)
    return s


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def image_count(ec2):
    return len(ec2.describe_images(Owners=["self"])["Images"])


def other_account(srv):
    """A new user account of its own; its EC2 client and number."""
    _, key, secret = new_account(srv)
    sts = boto3_client(srv, "sts", key, secret)
    return boto3_client(srv, "ec2", key, secret), sts.get_caller_identity()["Account"]


def test_the_create_image_walk_with_the_cli(srv, ec2, base_ami, tmp_path):
    i = launch(ec2, base_ami)

    def cli(*args):
        return aws(srv, tmp_path, *args)

    name = unique("web")
    made = cli("create-image", "--instance-id", i, "--name", name,
               "--description", "from the cli", "--no-reboot", "--tag-specifications",
               "ResourceType=image,Tags=[{Key=role,Value=web}]",
               "ResourceType=snapshot,Tags=[{Key=role,Value=web-root}]")
    ami = made["ImageId"]
    cli("wait", "image-available", "--image-ids", ami)
    got = cli("describe-images", "--image-ids", ami)["Images"][0]
    assert got["State"] == "available" and got["Name"] == name
    assert got["Description"] == "from the cli"
    assert got["Tags"] == [{"Key": "role", "Value": "web"}]
    root = got["BlockDeviceMappings"][0]
    assert root["DeviceName"] == got["RootDeviceName"]
    snap = root["Ebs"]["SnapshotId"]
    s = cli("describe-snapshots", "--snapshot-ids", snap)["Snapshots"][0]
    assert s["Description"] == f"Created by CreateImage({i}) for {ami}"
    assert s["State"] == "completed" and s["Tags"] == [{"Key": "role", "Value": "web-root"}]
    assert root["Ebs"]["VolumeSize"] == s["VolumeSize"]

    # An instance of the new image runs (on simulated hosts, as its source did).
    run = cli("run-instances", "--image-id", ami, "--instance-type", "t3.micro")
    new = run["Instances"][0]["InstanceId"]
    cli("wait", "instance-running", "--instance-ids", new)
    inst = cli("describe-instances", "--instance-ids", new)
    assert inst["Reservations"][0]["Instances"][0]["ImageId"] == ami

    # A stopped instance makes an image too; a terminated one does not.
    ec2.stop_instances(InstanceIds=[i])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[i], WaiterConfig=FAST)
    stopped = ec2.create_image(InstanceId=i, Name=unique("stopped"))["ImageId"]
    assert available(ec2, stopped)["State"] == "available"
    ec2.terminate_instances(InstanceIds=[i, new])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[i], WaiterConfig=FAST)
    assert error_of(ec2.create_image, InstanceId=i, Name=unique("gone")) == (
        "InvalidParameterValue", 400)


def test_terraform_aws_ami_replay(ec2):
    snap = snapshot_of_new_volume(ec2, size=3)
    prefix = unique("tf-ami")
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {
        "SnapshotId": snap, "VolumeSize": 3, "VolumeType": "standard",
        "DeleteOnTermination": True}}]
    made = []
    for n in (1, 2):
        # Create: RegisterImage as the provider writes it, then DescribeImages until available.
        ami = ec2.register_image(
            Name=f"{prefix}-{n}", Description=f"terraform {n}", Architecture="x86_64",
            RootDeviceName="/dev/xvda", VirtualizationType="hvm", EnaSupport=False,
            BlockDeviceMappings=mapping,
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "n", "Value": str(n)}]}],
        )["ImageId"]
        made.append(ami)
        first = available(ec2, ami)
        assert first["Architecture"] == "x86_64" and first["VirtualizationType"] == "hvm"
        assert first["RootDeviceName"] == "/dev/xvda" and first["EnaSupport"] is False
        assert first["RootDeviceType"] == "ebs"
        ebs = first["BlockDeviceMappings"][0]["Ebs"]
        assert first["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"
        assert (ebs["SnapshotId"], ebs["VolumeSize"], ebs["VolumeType"]) == (snap, 3, "standard")
        assert ebs["DeleteOnTermination"] is True
        # Read: the same again, nothing changed.
        assert image(ec2, ami) == first

    # data "aws_ami": most_recent among owner self and a name filter, by creationDate.
    found = ec2.describe_images(Owners=["self"], ExecutableUsers=["self"], Filters=[
        {"Name": "name", "Values": [f"{prefix}-*"]}], IncludeDeprecated=False)["Images"]
    assert sorted(i["ImageId"] for i in found) == sorted(made)
    newest = max(found, key=lambda i: datetime.datetime.fromisoformat(
        i["CreationDate"].replace("Z", "+00:00")))
    assert newest["ImageId"] == made[1]

    # The snapshot is the images' while they live; deregistered, they leave it behind.
    assert error_of(ec2.delete_snapshot, SnapshotId=snap) == ("InvalidSnapshot.InUse", 400)
    for ami in made:
        ec2.deregister_image(ImageId=ami)
    assert error_of(ec2.describe_images, ImageIds=[made[0]]) == ("InvalidAMIID.NotFound", 400)
    assert ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"] == "completed"
    ec2.delete_snapshot(SnapshotId=snap)
    assert error_of(ec2.describe_snapshots, SnapshotIds=[snap]) == (
        "InvalidSnapshot.NotFound", 400)


def test_copy_image_with_a_client_token(ec2):
    snap = snapshot_of_new_volume(ec2)
    source = ec2.register_image(
        Name=unique("source"), RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}],
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "a"}]}],
    )["ImageId"]
    available(ec2, source)
    token = unique("token")
    name = unique("copy")
    region = ec2.meta.region_name
    copy = ec2.copy_image(SourceImageId=source, SourceRegion=region, Name=name,
                          Description="a copy", ClientToken=token, CopyImageTags=True)["ImageId"]
    assert copy != source
    again = ec2.copy_image(SourceImageId=source, SourceRegion=region, Name=name,
                           Description="a copy", ClientToken=token, CopyImageTags=True)
    assert again["ImageId"] == copy
    assert error_of(ec2.copy_image, SourceImageId=source, SourceRegion=region,
                    Name=unique("other"), ClientToken=token) == (
        "IdempotentParameterMismatch", 400)
    got = available(ec2, copy)
    assert got["Name"] == name and got["Description"] == "a copy"
    assert got["Tags"] == [{"Key": "team", "Value": "a"}]
    assert got["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 2
    assert error_of(ec2.copy_image, SourceImageId=source, SourceRegion="eu-west-9",
                    Name=unique("far")) == ("InvalidParameterValue", 400)
    # The copy lives on when its source goes.
    ec2.deregister_image(ImageId=source)
    assert available(ec2, copy)["State"] == "available"
    launch(ec2, copy)


def test_launch_permissions_across_accounts(srv, ec2):
    snap = snapshot_of_new_volume(ec2)
    ami = ec2.register_image(Name=unique("shared"), RootDeviceName="/dev/sda1",
                             BlockDeviceMappings=[{"DeviceName": "/dev/sda1",
                                                   "Ebs": {"SnapshotId": snap}}])["ImageId"]
    available(ec2, ami)
    them, their_number = other_account(srv)
    stranger, _ = other_account(srv)

    def sees(client):
        return ami in {i["ImageId"] for i in client.describe_images()["Images"]}

    def runs(client):
        r = client.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
        return r["Instances"][0]["ImageId"] == ami

    # Private: the others neither see nor launch it.
    assert not sees(them)
    assert error_of(them.run_instances, ImageId=ami, InstanceType="t3.micro", MinCount=1,
                    MaxCount=1) == ("InvalidAMIID.NotFound", 400)
    attr = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert attr["LaunchPermissions"] == []

    # Shared with one account: it and only it.
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": their_number}]})
    attr = ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert attr["LaunchPermissions"] == [{"UserId": their_number}]
    assert ami in {i["ImageId"] for i in
                   them.describe_images(ExecutableUsers=["self"])["Images"]}
    assert ami in {i["ImageId"] for i in
                   ec2.describe_images(ExecutableUsers=[their_number])["Images"]}
    assert runs(them)
    assert not sees(stranger)
    assert error_of(stranger.run_instances, ImageId=ami, InstanceType="t3.micro", MinCount=1,
                    MaxCount=1) == ("InvalidAMIID.NotFound", 400)
    # The grantee launches; the attributes and the image stay the owner's.
    assert error_of(them.describe_image_attribute, ImageId=ami,
                    Attribute="launchPermission") == ("UnauthorizedOperation", 403)
    assert error_of(them.modify_image_attribute, ImageId=ami,
                    LaunchPermission={"Add": [{"Group": "all"}]}) == (
        "UnauthorizedOperation", 403)
    assert error_of(them.deregister_image, ImageId=ami)[0] == "UnauthorizedOperation"

    # Removed again, then public (the older form of the call), then reset.
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={
        "Remove": [{"UserId": their_number}]})
    assert not sees(them)
    ec2.modify_image_attribute(ImageId=ami, Attribute="launchPermission", OperationType="add",
                               UserGroups=["all"])
    assert image(ec2, ami)["Public"] is True
    assert sees(stranger) and runs(stranger)
    assert ami in {i["ImageId"] for i in them.describe_images(ExecutableUsers=["all"])["Images"]}
    ec2.reset_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert image(ec2, ami)["Public"] is False
    assert not sees(stranger)
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")[
        "LaunchPermissions"] == []

    # The description is an attribute too.
    ec2.modify_image_attribute(ImageId=ami, Description={"Value": "shared no more"})
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="description")[
        "Description"]["Value"] == "shared no more"
    assert image(ec2, ami)["Description"] == "shared no more"


def failed_image(srv, ec2):
    """An image whose bytes can never be stored: an import of a file that is no disk image."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=srv.url, region_name=ec2.meta.region_name,
                      aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                      config=Config(s3={"addressing_style": "path"}))
    bucket = unique("junk")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"these are not the bytes of a disk\n")
    task = ec2.import_image(DiskContainers=[{"UserBucket": {"S3Bucket": bucket,
                                                            "S3Key": "notes.txt"}}])
    for _ in range(200):
        images = [i for i in ec2.describe_images(Owners=["self"])["Images"]
                  if i["Name"] == task["ImportTaskId"]]
        if images and images[0]["State"] == "failed":
            return images[0]
        import time
        time.sleep(0.1)
    raise AssertionError("the import of a text file did not fail")


def test_every_error_code_and_nothing_half_made(srv, ec2, base_ami):
    i = launch(ec2, base_ami)
    snap = snapshot_of_new_volume(ec2)
    taken = ec2.create_image(InstanceId=i, Name=unique("taken"))["ImageId"]
    available(ec2, taken)
    name_taken = image(ec2, taken)["Name"]
    before = image_count(ec2)
    root = [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}]

    assert error_of(ec2.create_image, InstanceId=i, Name="semi;colon") == (
        "InvalidAMIName.Malformed", 400)
    assert error_of(ec2.register_image, Name="bad*name", RootDeviceName="/dev/sda1",
                    BlockDeviceMappings=root) == ("InvalidAMIName.Malformed", 400)
    assert error_of(ec2.create_image, InstanceId=i, Name=name_taken) == (
        "InvalidAMIName.Duplicate", 400)
    assert error_of(ec2.register_image, Name=name_taken, RootDeviceName="/dev/sda1",
                    BlockDeviceMappings=root) == ("InvalidAMIName.Duplicate", 400)
    assert error_of(ec2.create_image, InstanceId="i-0123456789abcdef0", Name=unique("x")) == (
        "InvalidInstanceID.NotFound", 400)
    assert error_of(ec2.create_image, InstanceId="i-xyz", Name=unique("x")) == (
        "InvalidInstanceID.Malformed", 400)
    missing = [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}]
    assert error_of(ec2.register_image, Name=unique("x"), RootDeviceName="/dev/sda1",
                    BlockDeviceMappings=missing) == ("InvalidSnapshot.NotFound", 400)
    small = [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap, "VolumeSize": 1}}]
    assert error_of(ec2.register_image, Name=unique("x"), RootDeviceName="/dev/sda1",
                    BlockDeviceMappings=small) == ("InvalidParameterValue", 400)
    assert error_of(ec2.register_image, Name=unique("x"), Architecture="arm64",
                    RootDeviceName="/dev/sda1", BlockDeviceMappings=root) == (
        "UnsupportedOperation", 400)
    root_snap = image(ec2, taken)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert error_of(ec2.delete_snapshot, SnapshotId=root_snap) == (
        "InvalidSnapshot.InUse", 400)
    nowhere = "ami-0123456789abcdef0"
    region = ec2.meta.region_name
    assert error_of(ec2.copy_image, SourceImageId=nowhere, SourceRegion=region,
                    Name=unique("x")) == ("InvalidAMIID.NotFound", 400)
    assert error_of(ec2.describe_image_attribute, ImageId=nowhere,
                    Attribute="description") == ("InvalidAMIID.NotFound", 400)
    assert error_of(ec2.modify_image_attribute, ImageId=nowhere,
                    Description={"Value": "x"}) == ("InvalidAMIID.NotFound", 400)
    assert error_of(ec2.copy_image, SourceImageId="ami-12", SourceRegion=region,
                    Name=unique("x")) == ("InvalidAMIID.Malformed", 400)
    assert error_of(ec2.modify_image_attribute, ImageId=taken,
                    LaunchPermission={"Add": [{"UserId": "12345"}]}) == (
        "InvalidParameterValue", 400)

    # DryRun: every new mutating action validates, answers 412 and makes nothing.
    dry = [
        (ec2.create_image, {"InstanceId": i, "Name": unique("dry")}),
        (ec2.register_image, {"Name": unique("dry"), "RootDeviceName": "/dev/sda1",
                              "BlockDeviceMappings": root}),
        (ec2.copy_image, {"SourceImageId": taken, "SourceRegion": region,
                          "Name": unique("dry")}),
        (ec2.modify_image_attribute, {"ImageId": taken,
                                      "LaunchPermission": {"Add": [{"Group": "all"}]}}),
        (ec2.reset_image_attribute, {"ImageId": taken, "Attribute": "launchPermission"}),
    ]
    for call, kw in dry:
        assert error_of(call, DryRun=True, **kw) == ("DryRunOperation", 412), call
    assert image(ec2, taken)["Public"] is False
    assert image_count(ec2) == before

    # A failed image says why, and cannot be launched or copied.
    failed = failed_image(srv, ec2)
    assert failed["StateReason"]["Message"]
    assert error_of(ec2.run_instances, ImageId=failed["ImageId"], InstanceType="t3.micro",
                    MinCount=1, MaxCount=1) == ("InvalidAMIID.Unavailable", 400)
    assert error_of(ec2.copy_image, SourceImageId=failed["ImageId"], SourceRegion=region,
                    Name=unique("x")) == ("InvalidAMIID.Unavailable", 400)
    with pytest.raises(botocore.exceptions.WaiterError):
        ec2.get_waiter("image_available").wait(ImageIds=[failed["ImageId"]],
                                               WaiterConfig=FAST)
