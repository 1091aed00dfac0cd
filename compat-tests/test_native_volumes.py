"""Volumes and snapshots on the native door with the `cs` library: a volume made through EC2
is in listVolumes (and an instance's root volume too), with CloudStack's field names, and a
snapshot made through EC2 is in listSnapshots.

LIMITATION: the native volume and snapshot commands that change anything are not served yet
(EC2 serves them); this suite checks the lists only."""

from __future__ import annotations

import pytest

from harness import boto3_client, cloudstack

pytestmark = pytest.mark.timeout(300)
FAST = {"Delay": 1, "MaxAttempts": 30}


def test_ec2_volumes_and_snapshots_are_listed_natively(server):
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    cs = cloudstack(server, server.access_key, server.secret_key)
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    vid = ec2.create_volume(AvailabilityZone=zone, Size=7)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig=FAST)
    ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vid], WaiterConfig=FAST)

    vm = cs.listVirtualMachines()["virtualmachine"][0]
    listed = cs.listVolumes(virtualmachineid=vm["id"])
    assert listed["count"] == 2
    by_type = {v["type"]: v for v in listed["volume"]}
    assert set(by_type) == {"ROOT", "DATADISK"}
    data = by_type["DATADISK"]
    assert data["size"] == 7 << 30 and data["state"] == "Ready"
    assert data["virtualmachineid"] == vm["id"] and data["vmname"] == vm["name"]
    assert data["zonename"] == zone and data["deviceid"] == 5
    assert by_type["ROOT"]["deviceid"] == 0
    assert cs.listVolumes(type="ROOT")["count"] == 1
    assert cs.listVolumes(id=data["id"])["volume"][0]["name"] == data["name"]

    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig=FAST)
    snaps = cs.listSnapshots(volumeid=data["id"])
    assert snaps["count"] == 1
    s = snaps["snapshot"][0]
    assert s["state"] == "BackedUp" and s["volumetype"] == "DATADISK"
    assert s["virtualsize"] == 7 << 30 and s["physicalsize"] > 0
    assert cs.listSnapshots(volumeid="00000000-0000-0000-0000-000000000000") == {}
