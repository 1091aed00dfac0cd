"""EBS volumes and snapshots through the EC2 door with real clients: the AWS CLI and its waiters
(volume-available, volume-in-use, snapshot-completed), boto3 for every volume and snapshot
action and the AWS error codes of each mistake, instances' block device mappings (root and
attached volumes, RunInstances' BlockDeviceMapping with DeleteOnTermination honoured at the
expunge), and replays of the Terraform aws provider's call sequences for aws_ebs_volume and
aws_volume_attachment (create, read, read again with no change, delete)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid

import botocore.exceptions
import pytest

import re

from harness import Server, boto3_client, run_cirrus

pytestmark = pytest.mark.timeout(300)

ZONE = "us-east-1a"
OTHER_ZONE = "us-east-1b"
FAST = {"Delay": 1, "MaxAttempts": 30}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("volumes")
    config = root / "cirrus.toml"
    # Destroyed instances are expunged within seconds, so DeleteOnTermination can be seen.
    config.write_text("[orchestrator]\nexpunge_delay_secs = 1\nsweep_interval_secs = 1\n")
    s = Server(root / "data", "--config", str(config)).start()
    # A second zone, for the zone mismatch: written into this test's own database.
    db = sqlite3.connect(s.file("cirrus.db"), timeout=10)
    with db:
        region = db.execute("SELECT region FROM zones LIMIT 1").fetchone()[0]
        db.execute(
            "INSERT INTO zones (id, name, region, state, created_ms) VALUES (?, ?, ?, 'enabled', ?)",
            (str(uuid.uuid4()), OTHER_ZONE, region, int(time.time() * 1000)),
        )
    db.close()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ec2(srv, tmp_path_factory):
    import boto3

    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    os.environ["AWS_CONFIG_FILE"] = str(srv.file("aws/config"))
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(srv.file("aws/credentials"))
    return boto3.Session().client("ec2")


@pytest.fixture(scope="module")
def ami(ec2):
    return ec2.describe_images()["Images"][0]["ImageId"]


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def launch(ec2, ami, **kw):
    r = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, **kw)
    i = r["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[i], WaiterConfig=FAST)
    return i


def volume(ec2, vid):
    return ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]


def new_volume(ec2, size=4, **kw):
    v = ec2.create_volume(AvailabilityZone=kw.pop("AvailabilityZone", ZONE), Size=size, **kw)
    ec2.get_waiter("volume_available").wait(VolumeIds=[v["VolumeId"]], WaiterConfig=FAST)
    return v["VolumeId"]


def aws(srv, *args):
    env = dict(os.environ)
    env["AWS_CONFIG_FILE"] = str(srv.file("aws/config"))
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(srv.file("aws/credentials"))
    p = subprocess.run(["aws", "ec2", *args, "--output", "json"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


def test_the_cli_walk_with_its_waiters(srv, ec2, ami):
    i = launch(ec2, ami)
    made = aws(srv, "create-volume", "--availability-zone", ZONE, "--size", "3",
               "--volume-type", "gp3", "--tag-specifications",
               "ResourceType=volume,Tags=[{Key=Name,Value=cli}]")
    vid = made["VolumeId"]
    assert made["State"] == "creating" and made["Size"] == 3 and made["VolumeType"] == "gp3"
    assert made["Iops"] == 3000 and made["Throughput"] == 125
    assert made["Tags"] == [{"Key": "Name", "Value": "cli"}]
    aws(srv, "wait", "volume-available", "--volume-ids", vid)

    att = aws(srv, "attach-volume", "--volume-id", vid, "--instance-id", i, "--device", "/dev/sdf")
    assert att["State"] == "attaching" and att["Device"] == "/dev/sdf"
    aws(srv, "wait", "volume-in-use", "--volume-ids", vid)
    v = aws(srv, "describe-volumes", "--volume-ids", vid)["Volumes"][0]
    assert v["State"] == "in-use"
    assert v["Attachments"][0]["State"] == "attached"
    assert v["Attachments"][0]["InstanceId"] == i

    snap = aws(srv, "create-snapshot", "--volume-id", vid, "--description", "from the cli")
    assert snap["State"] == "pending" and snap["VolumeSize"] == 3
    aws(srv, "wait", "snapshot-completed", "--snapshot-ids", snap["SnapshotId"])
    s = aws(srv, "describe-snapshots", "--snapshot-ids", snap["SnapshotId"])["Snapshots"][0]
    assert s["State"] == "completed" and s["Progress"] == "100%"
    assert s["Description"] == "from the cli" and s["VolumeId"] == vid

    det = aws(srv, "detach-volume", "--volume-id", vid)
    assert det["State"] == "detaching"
    aws(srv, "wait", "volume-available", "--volume-ids", vid)
    aws(srv, "delete-volume", "--volume-id", vid)
    aws(srv, "delete-snapshot", "--snapshot-id", snap["SnapshotId"])
    assert vid not in {v["VolumeId"] for v in aws(srv, "describe-volumes")["Volumes"]}


def test_instances_list_their_root_and_attached_volumes(ec2, ami):
    i = launch(ec2, ami)
    mapping = ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]
    root = mapping["BlockDeviceMappings"]
    assert [b["DeviceName"] for b in root] == [mapping["RootDeviceName"]]
    assert root[0]["Ebs"]["Status"] == "attached" and root[0]["Ebs"]["DeleteOnTermination"]
    root_volume = volume(ec2, root[0]["Ebs"]["VolumeId"])
    assert root_volume["State"] == "in-use" and root_volume["Attachments"][0]["InstanceId"] == i

    vid = new_volume(ec2)
    ec2.attach_volume(VolumeId=vid, InstanceId=i, Device="/dev/sdh")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vid], WaiterConfig=FAST)
    inst = ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]
    devices = {b["DeviceName"]: b["Ebs"] for b in inst["BlockDeviceMappings"]}
    assert devices["/dev/sdh"]["VolumeId"] == vid
    assert devices["/dev/sdh"]["Status"] == "attached"
    assert devices["/dev/sdh"]["DeleteOnTermination"] is False
    assert "AttachTime" in devices["/dev/sdh"]


def test_block_device_mappings_make_volumes_and_delete_on_termination_is_honoured(ec2, ami):
    r = ec2.run_instances(
        ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 12, "VolumeType": "gp3"}},
            {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 5, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdi", "Ebs": {"VolumeSize": 6}},
        ],
    )
    i = r["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[i], WaiterConfig=FAST)
    inst = ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]
    devices = {b["DeviceName"]: b["Ebs"] for b in inst["BlockDeviceMappings"]}
    assert set(devices) == {"/dev/sda1", "/dev/sdg", "/dev/sdi"}
    root = volume(ec2, devices["/dev/sda1"]["VolumeId"])
    assert root["Size"] == 12 and root["VolumeType"] == "gp3"
    kept = devices["/dev/sdg"]["VolumeId"]
    gone = devices["/dev/sdi"]["VolumeId"]
    assert volume(ec2, kept)["Size"] == 5 and not devices["/dev/sdg"]["DeleteOnTermination"]
    assert devices["/dev/sdi"]["DeleteOnTermination"]

    ec2.terminate_instances(InstanceIds=[i])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[i], WaiterConfig=FAST)
    # Expunged a second or so later: the root and sdi go, sdg is detached and stays.
    ec2.get_waiter("volume_available").wait(VolumeIds=[kept], WaiterConfig=FAST)
    assert volume(ec2, kept)["Attachments"] == []
    for vid in (root["VolumeId"], gone):
        assert error_of(ec2.describe_volumes, VolumeIds=[vid]) == ("InvalidVolume.NotFound", 400)

    # A mapping that would make a bad volume is refused before anything is made.
    before = len(ec2.describe_instances()["Reservations"])
    bad = [{"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 5, "VolumeType": "io1"}}]
    assert error_of(ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1,
                    BlockDeviceMappings=bad) == ("InvalidParameterValue", 400)
    assert len(ec2.describe_instances()["Reservations"]) == before


def test_create_volume_options_and_mistakes(ec2):
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="io2", Iops=500,
                          TagSpecifications=[{"ResourceType": "volume",
                                              "Tags": [{"Key": "team", "Value": "db"}]}])
    assert (v["VolumeType"], v["Iops"], v["Size"]) == ("io2", 500, 10)
    again = ec2.create_volume(AvailabilityZone=ZONE, Size=2, ClientToken="tok-1")
    same = ec2.create_volume(AvailabilityZone=ZONE, Size=2, ClientToken="tok-1")
    assert again["VolumeId"] == same["VolumeId"]

    assert error_of(ec2.create_volume, AvailabilityZone=ZONE) == ("MissingParameter", 400)
    assert error_of(ec2.create_volume, AvailabilityZone="nowhere-1z", Size=1) == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.create_volume, AvailabilityZone=ZONE, Size=4, VolumeType="io1") == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.create_volume, AvailabilityZone=ZONE, Size=4, VolumeType="gp2",
                    Iops=300) == ("InvalidParameterCombination", 400)
    assert error_of(ec2.create_volume, AvailabilityZone=ZONE, Size=20000) == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.create_volume, AvailabilityZone=ZONE, Size=1, DryRun=True) == (
        "DryRunOperation", 412)
    assert error_of(ec2.create_volume, AvailabilityZone=ZONE,
                    SnapshotId="snap-00000000000000000") == ("InvalidSnapshot.NotFound", 400)


def test_describe_volumes_filters_and_pages(ec2, ami):
    tag = uuid.uuid4().hex[:8]
    made = [ec2.create_volume(AvailabilityZone=ZONE, Size=1 + n % 3,
                              TagSpecifications=[{"ResourceType": "volume",
                                                  "Tags": [{"Key": "set", "Value": tag}]}])
            ["VolumeId"] for n in range(12)]
    ec2.get_waiter("volume_available").wait(VolumeIds=made, WaiterConfig=FAST)
    mine = [{"Name": "tag:set", "Values": [tag]}]
    assert {v["VolumeId"] for v in ec2.describe_volumes(Filters=mine)["Volumes"]} == set(made)
    sized = ec2.describe_volumes(Filters=mine + [{"Name": "size", "Values": ["2"]}])["Volumes"]
    assert len(sized) == 4
    assert ec2.describe_volumes(Filters=mine + [{"Name": "status", "Values": ["in-use"]}])[
        "Volumes"] == []

    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_volumes(Filters=mine, MaxResults=5, **kw)
        seen += [v["VolumeId"] for v in page["Volumes"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(made) and len(seen) == 12
    paged = ec2.get_paginator("describe_volumes").paginate(
        Filters=mine, PaginationConfig={"PageSize": 5})
    assert sum(len(p["Volumes"]) for p in paged) == 12

    i = launch(ec2, ami)
    ec2.attach_volume(VolumeId=made[0], InstanceId=i, Device="/dev/sdk")
    by = lambda n, v: ec2.describe_volumes(Filters=[{"Name": n, "Values": [v]}])["Volumes"]
    assert [v["VolumeId"] for v in by("attachment.instance-id", i)
            if v["VolumeId"] == made[0]] == [made[0]]
    assert made[0] in {v["VolumeId"] for v in by("attachment.device", "/dev/sdk")}
    assert made[0] in {v["VolumeId"] for v in by("attachment.status", "attached")}
    assert made[0] in {v["VolumeId"] for v in by("availability-zone", ZONE)}

    assert error_of(ec2.describe_volumes, VolumeIds=["vol-00000000000000000"]) == (
        "InvalidVolume.NotFound", 400)
    assert error_of(ec2.describe_volumes, VolumeIds=["vol-nothex"]) == (
        "InvalidVolumeID.Malformed", 400)
    assert error_of(ec2.describe_volumes, VolumeIds=[made[1]], MaxResults=5) == (
        "InvalidParameterCombination", 400)
    assert error_of(ec2.describe_volumes, Filters=[{"Name": "colour", "Values": ["x"]}]) == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.describe_volumes, NextToken="forged") == ("InvalidParameterValue", 400)


def test_describe_volumes_pages_walk_every_volume_once_in_creation_order(srv, ec2):
    # A fresh account, so its listing holds exactly the volumes made here.
    them = other_account(srv)
    made = []
    for n in range(25):
        tags = [{"Key": "n", "Value": str(n)}] + ([{"Key": "odd", "Value": "y"}] if n % 2 else [])
        made.append(them.create_volume(AvailabilityZone=ZONE, Size=1,
                                       TagSpecifications=[{"ResourceType": "volume",
                                                           "Tags": tags}])["VolumeId"])
    pages = list(them.get_paginator("describe_volumes").paginate(
        PaginationConfig={"PageSize": 5}))
    assert [len(p["Volumes"]) for p in pages] == [5] * 5
    assert "NextToken" not in pages[-1]
    walked = [v["VolumeId"] for p in pages for v in p["Volumes"]]
    whole = them.describe_volumes()["Volumes"]
    assert walked == [v["VolumeId"] for v in whole]
    # Each once, in creation order (volumes made in one millisecond may come in either order).
    created = {v["VolumeId"]: v["CreateTime"] for v in whole}
    assert sorted(walked) == sorted(made)
    assert [created[v] for v in walked] == [created[v] for v in made]
    assert walked == made or len(set(created.values())) < 25
    # Each page carries its own volumes' tags.
    number = {v["VolumeId"]: t["Value"] for p in pages for v in p["Volumes"] for t in v["Tags"]
              if t["Key"] == "n"}
    assert [number[v] for v in made] == [str(n) for n in range(25)]

    odd = list(them.get_paginator("describe_volumes").paginate(
        Filters=[{"Name": "tag:odd", "Values": ["y"]}], PaginationConfig={"PageSize": 5}))
    assert [v["VolumeId"] for p in odd for v in p["Volumes"]] == [
        v for v in walked if int(number[v]) % 2]
    assert [len(p["Volumes"]) for p in odd] == [5, 5, 2]

    # A cursor of one listing is refused by the other, and by another action.
    cursor = them.describe_volumes(MaxResults=5)["NextToken"]
    offset = them.describe_volumes(Filters=[{"Name": "size", "Values": ["1"]}],
                                   MaxResults=5)["NextToken"]
    assert error_of(them.describe_volumes, Filters=[{"Name": "size", "Values": ["1"]}],
                    MaxResults=5, NextToken=cursor) == ("InvalidParameterValue", 400)
    assert error_of(them.describe_volumes, MaxResults=5, NextToken=offset) == (
        "InvalidParameterValue", 400)
    assert error_of(them.describe_instances, MaxResults=5, NextToken=cursor) == (
        "InvalidParameterValue", 400)
    assert error_of(them.describe_volumes, MaxResults=5, NextToken=cursor[:-2] + "AA") == (
        "InvalidParameterValue", 400)
    # A cursor continues without MaxResults too: the rest, in one answer.
    rest = them.describe_volumes(NextToken=cursor)
    assert [v["VolumeId"] for v in rest["Volumes"]] == walked[5:]
    assert "NextToken" not in rest
    # A volume deleted mid-listing is simply not shown; the walk neither skips nor repeats.
    first = them.describe_volumes(MaxResults=5)
    them.delete_volume(VolumeId=walked[5])
    second = them.describe_volumes(MaxResults=5, NextToken=first["NextToken"])
    assert [v["VolumeId"] for v in second["Volumes"]] == walked[6:11]
    # Someone else's listing does not leak into this one.
    assert not {v["VolumeId"] for v in ec2.describe_volumes(MaxResults=500)["Volumes"]} & set(made)


def test_attach_detach_delete_and_their_mistakes(ec2, ami):
    i = launch(ec2, ami)
    other = launch(ec2, ami)
    vid = new_volume(ec2)
    far = new_volume(ec2, AvailabilityZone=OTHER_ZONE)
    assert volume(ec2, far)["AvailabilityZone"] == OTHER_ZONE

    assert error_of(ec2.attach_volume, VolumeId=far, InstanceId=i, Device="/dev/sdf") == (
        "InvalidVolume.ZoneMismatch", 400)
    assert error_of(ec2.attach_volume, VolumeId=vid, InstanceId=i, Device="/dev/sda1") == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.attach_volume, VolumeId=vid, InstanceId=i, Device="sdf") == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.attach_volume, VolumeId=vid, InstanceId="i-00000000000000000",
                    Device="/dev/sdf") == ("InvalidInstanceID.NotFound", 400)
    assert error_of(ec2.attach_volume, VolumeId="vol-00000000000000000", InstanceId=i,
                    Device="/dev/sdf") == ("InvalidVolume.NotFound", 400)
    assert error_of(ec2.attach_volume, VolumeId=vid, InstanceId=i, Device="/dev/sdf",
                    DryRun=True) == ("DryRunOperation", 412)
    assert error_of(ec2.detach_volume, VolumeId=vid) == ("IncorrectState", 400)

    ec2.attach_volume(VolumeId=vid, InstanceId=i, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vid], WaiterConfig=FAST)
    assert error_of(ec2.attach_volume, VolumeId=vid, InstanceId=other, Device="/dev/sdf") == (
        "VolumeInUse", 400)
    second = new_volume(ec2)
    assert error_of(ec2.attach_volume, VolumeId=second, InstanceId=i, Device="/dev/sdf") == (
        "InvalidParameterValue", 400)
    assert volume(ec2, second)["State"] == "available"
    assert error_of(ec2.delete_volume, VolumeId=vid) == ("VolumeInUse", 400)
    assert error_of(ec2.detach_volume, VolumeId=vid, InstanceId=other) == (
        "InvalidAttachment.NotFound", 400)
    assert error_of(ec2.detach_volume, VolumeId=vid, Device="/dev/sdz") == (
        "InvalidAttachment.NotFound", 400)

    det = ec2.detach_volume(VolumeId=vid, InstanceId=i, Device="/dev/sdf", Force=True)
    assert det["State"] == "detaching" and det["InstanceId"] == i
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig=FAST)
    ec2.delete_volume(VolumeId=vid)
    assert error_of(ec2.delete_volume, VolumeId=vid) == ("InvalidVolume.NotFound", 400)
    assert error_of(ec2.delete_volume, VolumeId="vol-x") == ("InvalidVolumeID.Malformed", 400)


def test_modify_volume_grows_and_is_recorded(ec2):
    vid = new_volume(ec2, size=4)
    m = ec2.modify_volume(VolumeId=vid, Size=8, VolumeType="gp3", Iops=4000)["VolumeModification"]
    assert (m["OriginalSize"], m["TargetSize"]) == (4, 8)
    assert (m["OriginalVolumeType"], m["TargetVolumeType"]) == ("gp2", "gp3")
    assert m["TargetIops"] == 4000 and m["ModificationState"] == "completed"
    v = volume(ec2, vid)
    assert (v["Size"], v["VolumeType"], v["Iops"]) == (8, "gp3", 4000)
    mods = ec2.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"]
    assert [x["TargetSize"] for x in mods] == [8]
    filtered = ec2.describe_volumes_modifications(
        Filters=[{"Name": "modification-state", "Values": ["completed"]}])["VolumesModifications"]
    assert vid in {x["VolumeId"] for x in filtered}
    assert error_of(ec2.modify_volume, VolumeId=vid, Size=2) == ("InvalidParameterValue", 400)
    assert error_of(ec2.modify_volume, VolumeId=vid) == ("MissingParameter", 400)
    assert error_of(ec2.modify_volume, VolumeId="vol-00000000000000000", Size=9) == (
        "InvalidVolume.NotFound", 400)


def test_volume_status(ec2):
    vid = new_volume(ec2)
    st = ec2.describe_volume_status(VolumeIds=[vid])["VolumeStatuses"][0]
    assert st["VolumeId"] == vid and st["VolumeStatus"]["Status"] == "ok"
    assert {d["Name"] for d in st["VolumeStatus"]["Details"]} == {"io-enabled", "io-performance"}
    ok = ec2.describe_volume_status(Filters=[{"Name": "volume-status.status", "Values": ["ok"]}])
    assert vid in {s["VolumeId"] for s in ok["VolumeStatuses"]}
    assert error_of(ec2.describe_volume_status, VolumeIds=["vol-00000000000000000"]) == (
        "InvalidVolume.NotFound", 400)


def test_snapshots_and_their_permissions(srv, ec2):
    vid = new_volume(ec2, size=3)
    s = ec2.create_snapshot(VolumeId=vid, Description="nightly",
                            TagSpecifications=[{"ResourceType": "snapshot",
                                                "Tags": [{"Key": "k", "Value": "v"}]}])
    sid = s["SnapshotId"]
    assert s["State"] == "pending" and s["Tags"] == [{"Key": "k", "Value": "v"}]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig=FAST)
    own = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert sid in {x["SnapshotId"] for x in own}
    got = ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]
    assert got["VolumeSize"] == 3 and got["Progress"] == "100%" and got["OwnerId"]
    by = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [vid]},
                                         {"Name": "status", "Values": ["completed"]}])
    assert [x["SnapshotId"] for x in by["Snapshots"]] == [sid]
    assert ec2.describe_snapshots(OwnerIds=["999999999999"])["Snapshots"] == []

    # The bytes are an object in secondary storage.
    db = sqlite3.connect(srv.file("cirrus.db"), timeout=10)
    key = db.execute("SELECT bucket, object_key FROM snapshots WHERE ec2_id = ?", (sid,)).fetchone()
    assert key[0] == "cirrus-system-snapshots"
    stored = db.execute("SELECT size FROM objects WHERE object_key = ?",
                        (key[1].encode(),)).fetchall()
    assert len(stored) == 1 and stored[0][0] > 0
    db.close()

    restored = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=sid)
    assert restored["Size"] == 3 and restored["SnapshotId"] == sid
    assert error_of(ec2.create_volume, AvailabilityZone=ZONE, SnapshotId=sid, Size=1) == (
        "InvalidParameterValue", 400)

    attr = ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
    assert attr["CreateVolumePermissions"] == []
    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Add": [{"Group": "all"},
                                                                  {"UserId": "123456789012"}]})
    perms = ec2.describe_snapshot_attribute(SnapshotId=sid,
                                            Attribute="createVolumePermission")
    assert {json.dumps(p, sort_keys=True) for p in perms["CreateVolumePermissions"]} == {
        json.dumps({"Group": "all"}), json.dumps({"UserId": "123456789012"})}
    assert sid in {x["SnapshotId"] for x in
                   ec2.describe_snapshots(RestorableByUserIds=["all"])["Snapshots"]}
    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission",
                                  OperationType="remove", GroupNames=["all"])
    perms = ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
    assert perms["CreateVolumePermissions"] == [{"UserId": "123456789012"}]

    copy = ec2.copy_snapshot(SourceRegion=ec2.meta.region_name, SourceSnapshotId=sid,
                             Description="copy")
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[copy["SnapshotId"]],
                                              WaiterConfig=FAST)
    assert ec2.describe_snapshots(SnapshotIds=[copy["SnapshotId"]])["Snapshots"][0][
        "Description"] == "copy"
    assert error_of(ec2.copy_snapshot, SourceRegion="eu-west-9", SourceSnapshotId=sid) == (
        "InvalidParameterValue", 400)

    assert error_of(ec2.describe_snapshots, SnapshotIds=["snap-00000000000000000"]) == (
        "InvalidSnapshot.NotFound", 400)
    assert error_of(ec2.describe_snapshots, SnapshotIds=["snap-zz"]) == (
        "InvalidSnapshotID.Malformed", 400)
    assert error_of(ec2.describe_snapshot_attribute, SnapshotId=sid,
                    Attribute="colour") == ("InvalidParameterValue", 400)
    assert error_of(ec2.create_snapshot, VolumeId="vol-00000000000000000") == (
        "InvalidVolume.NotFound", 400)
    assert error_of(ec2.create_snapshot, VolumeId=vid, DryRun=True) == ("DryRunOperation", 412)

    ec2.delete_snapshot(SnapshotId=sid)
    ec2.delete_snapshot(SnapshotId=copy["SnapshotId"])
    assert error_of(ec2.delete_snapshot, SnapshotId=sid) == ("InvalidSnapshot.NotFound", 400)


def admin(srv, *args):
    r = run_cirrus("admin", "--data-dir", str(srv.data_dir), *args)
    assert r.returncode == 0, f"cirrus admin {' '.join(args)}: {r.stderr}"
    return r.stdout


def other_account(srv):
    """An EC2 client of a new account of its own, made with `cirrus admin`."""
    name = f"dev{uuid.uuid4().hex[:6]}"
    admin(srv, "account", "create", name, "--role", "user")
    admin(srv, "user", "create", f"{name}-u", "--account", name)
    key = admin(srv, "key", "create", "--user", f"{name}-u")
    return boto3_client(srv, "ec2", re.search(r"access_key: (\S+)", key).group(1),
                        re.search(r"secret_key: (\S+)", key).group(1))


def test_volumes_and_snapshots_are_private_to_their_account(srv, ec2):
    vid = new_volume(ec2)
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig=FAST)
    them = other_account(srv)
    assert vid not in {v["VolumeId"] for v in them.describe_volumes()["Volumes"]}
    assert error_of(them.delete_volume, VolumeId=vid) == ("InvalidVolume.NotFound", 400)
    assert sid not in {s["SnapshotId"] for s in them.describe_snapshots()["Snapshots"]}
    assert error_of(them.create_volume, AvailabilityZone=ZONE, SnapshotId=sid) == (
        "InvalidSnapshot.NotFound", 400)
    # Shared with everyone, the snapshot is theirs to restore (but not to delete).
    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Add": [{"Group": "all"}]})
    assert sid in {s["SnapshotId"] for s in
                   them.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]}
    mine = them.create_volume(AvailabilityZone=ZONE, SnapshotId=sid)
    assert mine["SnapshotId"] == sid
    assert error_of(them.delete_snapshot, SnapshotId=sid) == ("InvalidSnapshot.NotFound", 400)


def test_terraform_aws_ebs_volume_replay(ec2):
    # Create: CreateVolume, then DescribeVolumes VolumeId.1 until available.
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=5, VolumeType="gp3",
                          TagSpecifications=[{"ResourceType": "volume",
                                              "Tags": [{"Key": "Name", "Value": "tf"}]}])
    vid = v["VolumeId"]
    for _ in range(30):
        if volume(ec2, vid)["State"] == "available":
            break
        time.sleep(1)
    # Read, and read again with nothing changed in between: the same answer.
    first = volume(ec2, vid)
    second = volume(ec2, vid)
    assert first == second
    assert first["State"] == "available" and first["Tags"] == [{"Key": "Name", "Value": "tf"}]
    # Delete, then the read that tells Terraform the volume is gone.
    ec2.delete_volume(VolumeId=vid)
    assert error_of(ec2.describe_volumes, VolumeIds=[vid]) == ("InvalidVolume.NotFound", 400)


def test_terraform_aws_volume_attachment_replay(ec2, ami):
    i = launch(ec2, ami)
    vid = new_volume(ec2)
    ec2.attach_volume(Device="/dev/sdj", InstanceId=i, VolumeId=vid)
    filters = [{"Name": "attachment.device", "Values": ["/dev/sdj"]},
               {"Name": "attachment.instance-id", "Values": [i]}]
    for _ in range(30):
        got = ec2.describe_volumes(VolumeIds=[vid], Filters=filters)["Volumes"]
        if got and got[0]["Attachments"][0]["State"] == "attached":
            break
        time.sleep(1)
    first = ec2.describe_volumes(VolumeIds=[vid], Filters=filters)["Volumes"]
    second = ec2.describe_volumes(VolumeIds=[vid], Filters=filters)["Volumes"]
    assert first == second and first[0]["Attachments"][0]["State"] == "attached"
    ec2.detach_volume(Device="/dev/sdj", InstanceId=i, VolumeId=vid)
    for _ in range(30):
        if not ec2.describe_volumes(VolumeIds=[vid], Filters=filters)["Volumes"]:
            break
        time.sleep(1)
    assert ec2.describe_volumes(VolumeIds=[vid], Filters=filters)["Volumes"] == []
    assert volume(ec2, vid)["State"] == "available"
