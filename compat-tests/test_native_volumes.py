"""Volumes and snapshots on the native door with the `cs` library: createVolume, attachVolume,
detachVolume, resizeVolume, deleteVolume, createSnapshot and deleteSnapshot through their
asynchronous jobs (polled to their results), the job failures and synchronous errors CloudStack
answers, other accounts' volumes staying invisible, jobs on one instance waiting for each other,
and the EC2 door seeing the same volumes and snapshots both ways."""

from __future__ import annotations

import time
import uuid

import botocore.exceptions
import pytest
from cs import CloudStackApiException

from harness import boto3_client, native_request, new_user_keys

pytestmark = pytest.mark.timeout(300)
FAST = {"Delay": 1, "MaxAttempts": 30}
UNKNOWN = ("Unable to execute API command {cmd} due to invalid value. Invalid parameter {param} "
           "value={value} due to incorrect long value format, or entity does not exist or due to "
           "incorrect parameter annotation for the field in api cmd class.")


def client(server, key=None, secret=None, **kw):
    from cs import CloudStack

    options = {"fetch_result": True, "poll_interval": 0.2, "job_timeout": 60, **kw}
    return CloudStack(endpoint=server.url + "/client/api", key=key or server.access_key,
                      secret=secret or server.secret_key, timeout=20, **options)


def deploy(cs, **params):
    zone = cs.listZones()["zone"][0]["id"]
    offering = cs.listServiceOfferings(name="t3.micro")["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    return cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                   templateid=template, **params)


def offering(cs, name):
    return cs.listDiskOfferings(name=name)["diskoffering"][0]["id"]


def raw(server, command, key=None, secret=None, **params):
    r = native_request(server, command, key or server.access_key, secret or server.secret_key,
                       **params)
    return r.status_code, r.json()[command.lower() + "response"]


def job_failure(call, **params):
    """The errorcode and errortext of a job that failed, through cs's own polling."""
    with pytest.raises(CloudStackApiException) as e:
        call(**params)
    assert e.value.args[0] == "Job failure", e.value
    return e.value.error["errorcode"], e.value.error["errortext"]


def wait(server, job, key=None, secret=None):
    for _ in range(200):
        _, j = raw(server, "queryAsyncJobResult", key, secret, jobid=job)
        if j["jobstatus"] != 0:
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job} still pending")


def test_ec2_volumes_and_snapshots_are_listed_natively(server):
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    cs = client(server)
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


def test_a_volume_through_its_whole_life(server):
    cs = client(server)
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    vm = deploy(cs)["virtualmachine"]
    zone = vm["zoneid"]

    status, submitted = raw(server, "createVolume", name="data1", zoneid=zone,
                            diskofferingid=offering(cs, "Small"))
    assert status == 200 and set(submitted) == {"id", "jobid"}
    job = wait(server, submitted["jobid"])
    assert (job["jobstatus"], job["jobresultcode"], job["jobinstancetype"]) == (1, 0, "Volume")
    assert job["cmd"] == "org.apache.cloudstack.api.command.user.volume.CreateVolumeCmd"
    vol = job["jobresult"]["volume"]
    assert vol["id"] == submitted["id"] == job["jobinstanceid"]
    assert (vol["name"], vol["type"], vol["state"]) == ("data1", "DATADISK", "Ready")
    assert vol["size"] == 5 << 30 and vol["diskofferingid"] == offering(cs, "Small")
    assert "virtualmachineid" not in vol

    attached = cs.attachVolume(id=vol["id"], virtualmachineid=vm["id"])["volume"]
    assert attached["virtualmachineid"] == vm["id"] and attached["deviceid"] == 1
    assert attached["vmname"] == vm["name"] and attached["vmstate"] == "Running"
    [ev] = ec2.describe_volumes(Filters=[{"Name": "attachment.device",
                                          "Values": ["/dev/sdb"]}])["Volumes"]
    assert ev["State"] == "in-use" and ev["Size"] == 5

    # Wrong states fail in the job, with CloudStack's code and text; the submission is a 200.
    assert job_failure(cs.attachVolume, id=vol["id"], virtualmachineid=vm["id"]) == (
        431, "Please specify a volume that is not attached to any VM.")
    status, body = raw(server, "deleteVolume", id=vol["id"])
    assert (status, body["errorcode"], body["cserrorcode"]) == (431, 431, 4350)
    assert body["errortext"] == "Please specify a volume that is not attached to any VM."
    root = cs.listVolumes(virtualmachineid=vm["id"], type="ROOT")["volume"][0]
    assert job_failure(cs.detachVolume, id=root["id"]) == (
        431, "Root volume detach can happen only when vm is in states: Stopped or Destroyed")

    grown = cs.resizeVolume(id=vol["id"], size=8)["volume"]
    assert grown["size"] == 8 << 30 and grown["virtualmachineid"] == vm["id"]
    assert ec2.describe_volumes(VolumeIds=[ev["VolumeId"]])["Volumes"][0]["Size"] == 8
    code, text = job_failure(cs.resizeVolume, id=vol["id"], size=2)
    assert code == 432 and "would shrink the volume" in text and "shrinkok" in text
    code, text = job_failure(cs.resizeVolume, id=vol["id"], size=2, shrinkok=True)
    assert code == 432 and "not supported" in text
    bigger = cs.resizeVolume(id=vol["id"], diskofferingid=offering(cs, "Medium"))["volume"]
    assert bigger["size"] == 20 << 30 and bigger["diskofferingid"] == offering(cs, "Medium")

    snap = cs.createSnapshot(volumeid=vol["id"], name="nightly")["snapshot"]
    assert (snap["name"], snap["state"], snap["volumeid"]) == ("nightly", "BackedUp", vol["id"])
    assert snap["virtualsize"] == 20 << 30 and snap["physicalsize"] > 0
    [es] = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert es["VolumeId"] == ev["VolumeId"] and es["State"] == "completed"
    assert cs.listSnapshots(name="nightly")["snapshot"][0]["id"] == snap["id"]

    detached = cs.detachVolume(id=vol["id"])["volume"]
    assert "virtualmachineid" not in detached and detached["state"] == "Ready"
    assert job_failure(cs.detachVolume, id=vol["id"]) == (
        431, "The specified volume is not attached to a VM.")

    restored = cs.createVolume(snapshotid=snap["id"], name="restored",
                               virtualmachineid=vm["id"])["volume"]
    assert restored["snapshotid"] == snap["id"] and restored["size"] == 20 << 30
    assert restored["virtualmachineid"] == vm["id"] and restored["deviceid"] == 1
    by_device = cs.detachVolume(virtualmachineid=vm["id"], deviceid=1)["volume"]
    assert by_device["id"] == restored["id"] and "virtualmachineid" not in by_device

    assert cs.deleteSnapshot(id=snap["id"]) == {"success": True}
    assert cs.listSnapshots() == {}
    assert cs.deleteVolume(id=vol["id"]) == {"success": "true"}
    assert cs.deleteVolume(id=restored["id"]) == {"success": "true"}
    assert cs.listVolumes(type="DATADISK") == {}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.describe_volumes(VolumeIds=[ev["VolumeId"]])
    assert e.value.response["Error"]["Code"] == "InvalidVolume.NotFound"
    jobs = {j["cmd"].rsplit(".", 1)[1] for j in cs.listAsyncJobs()["asyncjobs"]}
    assert {"CreateVolumeCmd", "AttachVolumeCmd", "DetachVolumeCmd", "ResizeVolumeCmd",
            "CreateSnapshotCmd", "DeleteSnapshotCmd"} <= jobs


def test_each_door_sees_the_others_volumes(server):
    cs = client(server)
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    vm = deploy(cs)["virtualmachine"]
    [iid] = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
             for i in r["Instances"]]

    native = cs.createVolume(zoneid=vm["zoneid"], diskofferingid=offering(cs, "Custom"),
                             size=3, name="from-native")["volume"]
    [ev] = ec2.describe_volumes(Filters=[{"Name": "size", "Values": ["3"]}])["Volumes"]
    assert ev["State"] == "available" and ev["AvailabilityZone"] == vm["zonename"]
    ec2.attach_volume(VolumeId=ev["VolumeId"], InstanceId=iid, Device="/dev/sdg")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[ev["VolumeId"]], WaiterConfig=FAST)
    seen = cs.listVolumes(id=native["id"])["volume"][0]
    assert seen["virtualmachineid"] == vm["id"] and seen["deviceid"] == 6

    vid = ec2.create_volume(AvailabilityZone=vm["zonename"], Size=4)["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig=FAST)
    made = next(v for v in cs.listVolumes(type="DATADISK")["volume"] if v["size"] == 4 << 30)
    # The next free device number skips 3, CloudStack's CD-ROM.
    cs.attachVolume(id=made["id"], virtualmachineid=vm["id"], deviceid=2)
    auto = cs.createVolume(zoneid=vm["zoneid"], diskofferingid=offering(cs, "Small"),
                           virtualmachineid=vm["id"])["volume"]
    assert auto["deviceid"] == 1
    again = cs.createVolume(zoneid=vm["zoneid"], diskofferingid=offering(cs, "Small"),
                            virtualmachineid=vm["id"])["volume"]
    assert again["deviceid"] == 4
    [attachment] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Attachments"]
    assert attachment["InstanceId"] == iid and attachment["Device"] == "/dev/sdc"

    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig=FAST)
    [snap] = cs.listSnapshots(volumeid=made["id"])["snapshot"]
    assert cs.deleteSnapshot(id=snap["id"]) == {"success": True}
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_mistakes_answer_cloudstack_codes(server):
    cs = client(server)
    vm = deploy(cs)["virtualmachine"]
    zone = vm["zoneid"]
    gone = str(uuid.uuid4())
    vol = cs.createVolume(zoneid=zone, diskofferingid=offering(cs, "Small"))["volume"]

    cases = [
        ("createVolume", {"zoneid": zone}, 431,
         "At least one of disk Offering ID or snapshot ID must be passed whilst creating volume"),
        ("createVolume", {"diskofferingid": offering(cs, "Small")}, 431,
         "Unable to execute API command createvolume due to missing parameter zoneid"),
        ("createVolume", {"zoneid": zone, "diskofferingid": offering(cs, "Custom")}, 431,
         "This disk offering requires a custom size specified"),
        ("createVolume", {"zoneid": zone, "diskofferingid": offering(cs, "Small"), "size": 9},
         431, "This disk offering does not allow custom size"),
        ("createVolume", {"zoneid": zone, "diskofferingid": offering(cs, "Custom"), "size": 0},
         431, "Disk size must be larger than 0"),
        ("createVolume", {"zoneid": gone, "diskofferingid": offering(cs, "Small")}, 431,
         UNKNOWN.format(cmd="createvolume", param="zoneid", value=gone)),
        ("createVolume", {"zoneid": zone, "diskofferingid": gone}, 431,
         UNKNOWN.format(cmd="createvolume", param="diskofferingid", value=gone)),
        ("createVolume", {"snapshotid": gone}, 431,
         UNKNOWN.format(cmd="createvolume", param="snapshotid", value=gone)),
        ("attachVolume", {"id": vol["id"]}, 431,
         "Unable to execute API command attachvolume due to missing parameter virtualmachineid"),
        ("attachVolume", {"id": gone, "virtualmachineid": vm["id"]}, 431,
         UNKNOWN.format(cmd="attachvolume", param="id", value=gone)),
        ("attachVolume", {"id": vol["id"], "virtualmachineid": gone}, 431,
         UNKNOWN.format(cmd="attachvolume", param="virtualmachineid", value=gone)),
        ("detachVolume", {}, 431,
         "Please provide either a volume id, or a tuple(device id, instance id)"),
        ("detachVolume", {"virtualmachineid": vm["id"], "deviceid": 7}, 431,
         f"Unable to find a volume attached to instance {vm['id']} as device 7"),
        ("resizeVolume", {"id": vol["id"], "diskofferingid": gone}, 431,
         UNKNOWN.format(cmd="resizevolume", param="diskofferingid", value=gone)),
        ("deleteVolume", {}, 431,
         "Unable to execute API command deletevolume due to missing parameter id"),
        ("deleteVolume", {"id": gone}, 431,
         UNKNOWN.format(cmd="deletevolume", param="id", value=gone)),
        ("createSnapshot", {"volumeid": gone}, 431,
         UNKNOWN.format(cmd="createsnapshot", param="volumeid", value=gone)),
        ("deleteSnapshot", {"id": gone}, 431,
         UNKNOWN.format(cmd="deletesnapshot", param="id", value=gone)),
    ]
    for command, params, status, text in cases:
        got, body = raw(server, command, **params)
        assert (got, body.get("errorcode"), body.get("errortext")) == (status, status, text), (
            command, params, body)
    assert job_failure(cs.attachVolume, id=vol["id"], virtualmachineid=vm["id"],
                       deviceid=3) == (431, "deviceId should be 1, 2 or 4 to 25")
    assert job_failure(cs.attachVolume, id=vol["id"], virtualmachineid=vm["id"],
                       deviceid=0) == (431, "Vm already has root volume attached to it")

    # As in CloudStack, a disk offering in use may be deleted; its volumes keep its id.
    small = offering(cs, "Small")
    assert cs.deleteDiskOffering(id=small) == {"success": "true"}
    assert cs.listVolumes(id=vol["id"])["volume"][0]["diskofferingid"] == small
    assert cs.listDiskOfferings(name="Small") == {}
    # Nothing half-made: every refused createVolume left no volume behind.
    assert cs.listVolumes(type="DATADISK")["count"] == 1


def test_other_accounts_volumes_are_invisible(server):
    cs = client(server)
    vm = deploy(cs)["virtualmachine"]
    mine = cs.createVolume(zoneid=vm["zoneid"], diskofferingid=offering(cs, "Small"))["volume"]
    snap = cs.createSnapshot(volumeid=mine["id"])["snapshot"]

    access, secret = new_user_keys(server, "dev", "bob")
    bob = client(server, access, secret)
    theirs = bob.createVolume(zoneid=vm["zoneid"], diskofferingid=offering(bob, "Small"),
                              name="bobs")["volume"]
    assert theirs["account"] == "dev"
    assert [v["id"] for v in bob.listVolumes()["volume"]] == [theirs["id"]]
    for command, params, param, value in [
        ("attachVolume", {"id": mine["id"], "virtualmachineid": vm["id"]}, "id", mine["id"]),
        ("attachVolume", {"id": theirs["id"], "virtualmachineid": vm["id"]},
         "virtualmachineid", vm["id"]),
        ("resizeVolume", {"id": mine["id"], "size": 9}, "id", mine["id"]),
        ("deleteVolume", {"id": mine["id"]}, "id", mine["id"]),
        ("createSnapshot", {"volumeid": mine["id"]}, "volumeid", mine["id"]),
        ("deleteSnapshot", {"id": snap["id"]}, "id", snap["id"]),
        ("createVolume", {"snapshotid": snap["id"]}, "snapshotid", snap["id"]),
    ]:
        status, body = raw(server, command, access, secret, **params)
        assert (status, body["errortext"]) == (
            431, UNKNOWN.format(cmd=command.lower(), param=param, value=value)), (command, body)
    # The root admin sees and acts on everyone's; a volume cannot join another's instance.
    assert cs.listVolumes(listall=True, type="DATADISK")["count"] == 2
    assert job_failure(cs.attachVolume, id=theirs["id"], virtualmachineid=vm["id"]) == (
        431, f"Volume {theirs['id']} and instance {vm['id']} belong to different accounts")
    # An admin makes a volume for another account.
    made = cs.createVolume(zoneid=vm["zoneid"], diskofferingid=offering(cs, "Small"),
                           account="dev", domainid=theirs["domainid"])["volume"]
    assert made["account"] == "dev" and bob.listVolumes()["count"] == 2


def test_jobs_on_one_instance_wait_for_each_other(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text("[simulator]\nstart_latency_ms = 1500\nstop_latency_ms = 1500\n")
    server = make_server("--config", str(config)).start()
    cs = client(server)
    vol = cs.createVolume(zoneid=cs.listZones()["zone"][0]["id"],
                          diskofferingid=offering(cs, "Small"))["volume"]
    deployed = deploy(client(server, fetch_result=False))
    status, attach = raw(server, "attachVolume", id=vol["id"],
                         virtualmachineid=deployed["id"])
    assert status == 200
    _, pending = raw(server, "queryAsyncJobResult", jobid=attach["jobid"])
    assert pending["jobstatus"] == 0 and "jobresult" not in pending
    assert cs.listVolumes(id=vol["id"])["volume"][0].get("virtualmachineid") is None
    done = wait(server, attach["jobid"])
    assert done["jobstatus"] == 1, done
    assert done["jobresult"]["volume"]["vmstate"] == "Running"
    started = wait(server, deployed["jobid"])
    assert started["completed"] <= done["completed"]

    stopping = raw(server, "stopVirtualMachine", id=deployed["id"])[1]["jobid"]
    detach = raw(server, "detachVolume", id=vol["id"])[1]["jobid"]
    done = wait(server, detach)
    assert done["jobstatus"] == 1 and wait(server, stopping)["jobstatus"] == 1
    assert "virtualmachineid" not in done["jobresult"]["volume"]
    assert cs.listVirtualMachines(id=deployed["id"])["virtualmachine"][0]["state"] == "Stopped"


# --- Apache Libcloud -------------------------------------------------------------------------

def test_libcloud_volumes_and_snapshots(server):
    pytest.importorskip("libcloud")
    import requests
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider, StorageVolumeState

    url = requests.utils.urlparse(server.url)
    driver = get_driver(Provider.CLOUDSTACK)(
        key=server.access_key, secret=server.secret_key, host=url.hostname, port=url.port,
        path="/client/api", secure=url.scheme == "https")
    size = next(s for s in driver.list_sizes() if s.name == "t3.micro")
    node = driver.create_node(name="lc-vol", size=size, image=driver.list_images()[0],
                              location=driver.list_locations()[0], ex_start_vm=True)

    # Libcloud picks the first disk offering of the size, else the first custom one.
    fixed = driver.create_volume(size=20, name="lc-fixed")
    custom = driver.create_volume(size=3, name="lc-custom")
    assert fixed.state == custom.state == StorageVolumeState.AVAILABLE
    listed = {v.name: v for v in driver.list_volumes()}
    assert listed["lc-fixed"].size == 20 << 30 and listed["lc-custom"].size == 3 << 30
    assert listed["lc-fixed"].id == fixed.id

    assert driver.attach_volume(node, custom) is True
    on_node = {v.id: v for v in driver.list_volumes(node=node)}
    assert len(on_node) == 2, "the root and the attached volume"
    assert on_node[custom.id].state == StorageVolumeState.INUSE

    snapshot = driver.create_volume_snapshot(custom)
    assert snapshot.extra["volume_id"] == custom.id
    # Libcloud's CloudStack driver has no list_volume_snapshots; list_snapshots lists them all.
    assert [s.id for s in driver.list_snapshots()] == [snapshot.id]
    assert driver.destroy_volume_snapshot(snapshot) is True
    # (Libcloud's list_snapshots fails on CloudStack's empty list, `{}`, so ask directly.)
    assert raw(server, "listSnapshots")[1] == {}

    [root] = [v for v in on_node.values() if v.id != custom.id]
    assert driver.detach_volume(custom) is True
    assert [v.id for v in driver.list_volumes(node=node)] == [root.id]
    assert driver.destroy_volume(custom) is True
    assert driver.destroy_volume(fixed) is True
    assert [v.id for v in driver.list_volumes()] == [root.id]
