"""A QEMU host whose emulator is missing (`--qemu-binary` names a path that is not there): a
start on it fails as a job and as an instance, with the path named through both doors, the
capacity given back, and no file left for the instance. No guest boots, so this runs wherever
qemu-img is installed (the template import needs it); test_qemu_walk.py covers the faults that
need a real guest (a template URL that 404s, a file that is not a disk image, a guest that
cannot boot, a full host).
"""

from __future__ import annotations

import shutil

import pytest

from harness import boto3_client, cs_client, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("qemu-img"),
                                reason="qemu-img is not installed (Debian package qemu-utils)")

MISSING = "/nonexistent/bin/qemu-system-x86_64"


def test_a_missing_qemu_binary_fails_the_start_clearly_and_leaves_nothing(make_server,
                                                                         tmp_path_factory):
    # A short data directory: a QMP socket path must fit in 107 bytes.
    data = tmp_path_factory.mktemp("qf") / "d"
    server = make_server("--qemu", "--qemu-binary", MISSING, data_dir=data).start()
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    s3 = boto3_client(server, "s3", server.access_key, server.secret_key)
    cs = cs_client(server)

    # A disk that qemu-img takes for raw with a partition table: enough for an import.
    disk = bytearray(1 << 20)
    disk[512:520] = b"EFI PART"
    s3.create_bucket(Bucket="images")
    s3.put_object(Bucket="images", Key="disk.img", Body=bytes(disk))
    task = ec2.import_image(DiskContainers=[{
        "Format": "raw", "UserBucket": {"S3Bucket": "images", "S3Key": "disk.img"}}])

    def imported():
        t = ec2.describe_import_image_tasks(ImportTaskIds=[task["ImportTaskId"]])
        t = t["ImportImageTasks"][0]
        assert t["Status"] in ("active", "completed"), t
        return t.get("ImageId") if t["Status"] == "completed" else None

    image = wait_for("the import", imported, 60)
    [host] = [h for h in cs.listHosts()["host"] if h["hypervisor"] == "KVM"]

    reservation = ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=1,
                                    MaxCount=1)
    instance_id = reservation["Instances"][0]["InstanceId"]

    def ended():
        [i] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
        return i if i["State"]["Name"] != "pending" else None

    instance = wait_for("the failed start", ended, 60)
    assert instance["State"]["Name"] == "terminated", instance
    reason = instance.get("StateReason", {})
    assert reason.get("Code") == "Server.InternalError", instance
    assert MISSING in reason["Message"] and "not found" in reason["Message"], reason

    [vm] = cs.listVirtualMachines(state="Error")["virtualmachine"]
    jobs = [j for j in cs.listAsyncJobs()["asyncjobs"] if j.get("jobinstanceid") == vm["id"]]
    assert [j["jobstatus"] for j in jobs] == [2], jobs
    assert MISSING in jobs[0]["jobresult"]["errortext"], jobs

    assert [h for h in cs.listHosts()["host"] if h["id"] == host["id"]][0]["memoryallocated"] \
        == host["memoryallocated"]
    assert not (server.data_dir / "instances" / vm["id"]).exists()
    assert not any(server.data_dir.glob("instances/*")), "an instance directory is left"
