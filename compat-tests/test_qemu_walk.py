"""The main job end to end on real QEMU guests (the README's walk-through): an image uploaded
through S3 and imported with `aws ec2 import-image`, launched, watched on its console, imaged
while it runs (one instance of that image booted too), stopped, started and terminated with the
AWS CLI; a template registered by URL with `cs`, deployed and
destroyed, its console read through EC2. Then the faults: a URL that 404s, a file that is not a
disk image, a metadata URL, a guest that cannot boot and a host that is full, each a clear
failure through both doors with nothing left behind.

Guests boot one at a time (the machine has two cores), all in one module on one server.
Skipped only when CIRRUS_GUEST_IMAGE is unset; scripts/test always sets it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import signal
import threading
import time

import pytest

from harness import Server, aws, cs_client, free_port, wait_for

GUEST_IMAGE = os.environ.get("CIRRUS_GUEST_IMAGE")

pytestmark = [
    pytest.mark.skipif(
        not GUEST_IMAGE, reason="CIRRUS_GUEST_IMAGE is unset (scripts/test builds and sets it)"),
    # The AWS walk boots three times under TCG (the guest, its image, the guest again) and
    # hot-plugs a volume: about two minutes alone, more beside the other suites' workers.
    pytest.mark.timeout(600),
]

# TCG boots the guest well within this; the budget is 15 s from RunInstances.
CONSOLE_BUDGET = 60
IMPORT_BUDGET = 60


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    """A loopback HTTP server (in this worker's port share) serving template files."""
    root = tmp_path_factory.mktemp("www")
    shutil.copy(GUEST_IMAGE, root / "cirrus-guest.img")
    (root / "notes.txt").write_text("this is a note, not a disk image\n")
    # A disk the BIOS finds nothing to boot on: a GPT signature and zeros.
    blank = bytearray(1 << 20)
    blank[512:520] = b"EFI PART"
    (root / "unbootable.img").write_bytes(bytes(blank))
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def qemu_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("qemu")
    config = base / "cirrus.toml"
    # The test serves templates on loopback, which a cloud refuses unless told.
    config.write_text("[templates]\nallow_loopback_urls = true\n")
    s = Server(base / "d", "--qemu", "--config", str(config)).start()
    yield s
    s.stop()
    # Guests outlive their server by design (a restarted server finds them again), so a test
    # that failed before terminating its instances would leave TCG guests running after its
    # data directory is gone: end every guest whose disks are in this server's directory.
    for pid in processes_naming(str(s.data_dir.resolve()) + "/instances/"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("home")


def cli(server, home, *args):
    r = aws(server, home, *args)
    assert r.returncode == 0, f"aws {' '.join(args)} failed: {r.stderr}"
    text = r.stdout.strip()
    return json.loads(text) if text.startswith(("{", "[")) else {}


def console(server, home, instance_id):
    out = cli(server, home, "ec2", "get-console-output", "--instance-id", instance_id)
    return out.get("Output", "")


def processes_naming(text):
    """The ids of the processes whose command line contains `text`."""
    marker = text.encode()
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def guest_processes(instance_uuid):
    return processes_naming(f"guest=cirrus-{instance_uuid},")


def no_leftovers(server):
    staging = list((server.data_dir / "template-staging").iterdir())
    assert staging == [], f"staging files are left: {staging}"


def test_the_aws_walk_import_launch_console_stop_start_terminate(qemu_server, home):
    s = qemu_server
    cli(s, home, "s3", "mb", "s3://walk-images")
    cli(s, home, "s3", "cp", GUEST_IMAGE, "s3://walk-images/cirrus-guest.img")
    task = cli(s, home, "ec2", "import-image", "--description", "cirrus test guest",
               "--disk-containers",
               "Format=raw,UserBucket={S3Bucket=walk-images,S3Key=cirrus-guest.img}")
    task_id = task["ImportTaskId"]
    assert task_id.startswith("import-ami-") and task["Status"] == "active"

    def completed():
        t = cli(s, home, "ec2", "describe-import-image-tasks", "--import-task-ids",
                task_id)["ImportImageTasks"][0]
        assert t["Status"] in ("active", "completed"), t
        return t if t["Status"] == "completed" else None

    done = wait_for("the import", completed, IMPORT_BUDGET)
    image_id = done["ImageId"]
    assert image_id.startswith("ami-")
    assert done["SnapshotDetails"][0]["Format"] == "RAW"
    image = cli(s, home, "ec2", "describe-images", "--image-ids", image_id)["Images"][0]
    assert image["State"] == "available"

    cli(s, home, "ec2", "create-key-pair", "--key-name", "walk", "--key-type", "ed25519")
    started = time.monotonic()
    run = cli(s, home, "ec2", "run-instances", "--image-id", image_id, "--instance-type",
              "t3.nano", "--key-name", "walk")
    instance_id = run["Instances"][0]["InstanceId"]
    cli(s, home, "ec2", "wait", "instance-running", "--instance-ids", instance_id)
    line = f"cirrus-guest: up {instance_id}"
    wait_for("the guest's console line", lambda: line in console(s, home, instance_id),
             CONSOLE_BUDGET)
    print(f"console line {time.monotonic() - started:.1f} s after run-instances (TCG or KVM)")
    image_of_running_guest_boots(s, home, instance_id)
    attached_volume_is_seen_by_the_guest(s, home, instance_id)

    cli(s, home, "ec2", "stop-instances", "--instance-ids", instance_id)
    cli(s, home, "ec2", "wait", "instance-stopped", "--instance-ids", instance_id)
    cli(s, home, "ec2", "start-instances", "--instance-ids", instance_id)
    cli(s, home, "ec2", "wait", "instance-running", "--instance-ids", instance_id)
    wait_for("the console line after a start",
             lambda: console(s, home, instance_id).count(line) >= 2, CONSOLE_BUDGET)
    cli(s, home, "ec2", "terminate-instances", "--instance-ids", instance_id)
    cli(s, home, "ec2", "wait", "instance-terminated", "--instance-ids", instance_id)
    no_leftovers(s)


def image_of_running_guest_boots(s, home, instance_id):
    """CreateImage of a running guest (its root disk backed up by QEMU), then one instance of
    the new image, up on its console, terminated."""
    made = cli(s, home, "ec2", "create-image", "--instance-id", instance_id, "--name",
               "walk-image", "--description", "image of the walk's guest")
    image_id = made["ImageId"]

    def available():
        i = cli(s, home, "ec2", "describe-images", "--image-ids", image_id)["Images"][0]
        assert i["State"] in ("pending", "available"), i.get("StateReason")
        return i if i["State"] == "available" else None

    image = wait_for("the image of the running guest", available, IMPORT_BUDGET)
    assert image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"].startswith("snap-")
    run = cli(s, home, "ec2", "run-instances", "--image-id", image_id, "--instance-type",
              "t3.nano")
    child = run["Instances"][0]["InstanceId"]
    cli(s, home, "ec2", "wait", "instance-running", "--instance-ids", child)
    wait_for("the console line of the image's instance",
             lambda: f"cirrus-guest: up {child}" in console(s, home, child), CONSOLE_BUDGET)
    cli(s, home, "ec2", "terminate-instances", "--instance-ids", child)
    cli(s, home, "ec2", "wait", "instance-terminated", "--instance-ids", child)


def attached_volume_is_seen_by_the_guest(s, home, instance_id):
    """AttachVolume hot-plugs the disk into the running guest, which prints it with its size;
    DetachVolume unplugs it and the guest says it is gone."""
    zone = cli(s, home, "ec2", "describe-instances", "--instance-ids", instance_id)[
        "Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]
    volume_id = cli(s, home, "ec2", "create-volume", "--size", "1", "--availability-zone",
                    zone)["VolumeId"]
    cli(s, home, "ec2", "wait", "volume-available", "--volume-ids", volume_id)
    cli(s, home, "ec2", "attach-volume", "--volume-id", volume_id, "--instance-id", instance_id,
        "--device", "/dev/sdf")
    cli(s, home, "ec2", "wait", "volume-in-use", "--volume-ids", volume_id)
    disk = re.compile(r"cirrus-guest: disk (vd[a-z]+) 1073741824")
    seen = wait_for("the guest's line for the attached volume",
                    lambda: disk.search(console(s, home, instance_id)), CONSOLE_BUDGET)
    cli(s, home, "ec2", "detach-volume", "--volume-id", volume_id)
    cli(s, home, "ec2", "wait", "volume-available", "--volume-ids", volume_id)
    gone = f"cirrus-guest: gone {seen.group(1)}"
    wait_for("the guest's line for the detached volume",
             lambda: gone in console(s, home, instance_id), CONSOLE_BUDGET)
    cli(s, home, "ec2", "delete-volume", "--volume-id", volume_id)


def ec2_instance_of(server, home, vm_id):
    """The EC2 id of a native instance: the guest prints both on its console."""
    reservations = cli(server, home, "ec2", "describe-instances", "--filters",
                       "Name=instance-state-name,Values=running")["Reservations"]
    for r in reservations:
        for i in r["Instances"]:
            if vm_id in console(server, home, i["InstanceId"]):
                return i["InstanceId"]
    return None


def test_the_cs_walk_register_deploy_console_destroy(qemu_server, home, www):
    s = qemu_server
    cs = cs_client(s)
    zone = cs.listZones()["zone"][0]["id"]
    template = cs.registerTemplate(name="walk-guest", displaytext="cirrus test guest",
                                   url=f"{www}/cirrus-guest.img", zoneid=zone, format="RAW",
                                   hypervisor="KVM")["template"][0]
    assert template["isready"] is False

    def ready():
        t = cs.listTemplates(templatefilter="self", id=template["id"])["template"][0]
        assert "Downloaded" in t["status"] or t["status"] == "Download Complete", t
        return t if t["isready"] else None

    t = wait_for("the download", ready, IMPORT_BUDGET)
    assert t["status"] == "Download Complete" and t["size"] > 0
    offering = next(o for o in cs.listServiceOfferings()["serviceoffering"]
                    if o["name"] == "t3.nano")
    vm = cs.deployVirtualMachine(zoneid=zone, templateid=t["id"],
                                 serviceofferingid=offering["id"],
                                 fetch_result=True)["virtualmachine"]
    assert vm["state"] == "Running"
    ec2_id = wait_for("the guest's console line (read through EC2)",
                      lambda: ec2_instance_of(s, home, vm["id"]), CONSOLE_BUDGET)
    assert f"cirrus-guest: up {ec2_id} {vm['id']}" in console(s, home, ec2_id)
    cs.destroyVirtualMachine(id=vm["id"], expunge=True, fetch_result=True)
    assert guest_processes(vm["id"]) == []
    assert not (s.data_dir / "instances" / vm["id"]).exists()
    no_leftovers(s)


def failed_template(cs, template_id):
    def ended():
        t = cs.listTemplates(templatefilter="self", id=template_id)["template"][0]
        return t if not t["status"].endswith("Downloaded") else None
    return wait_for("the download's end", ended, IMPORT_BUDGET)


def test_a_404_and_a_file_that_is_not_a_disk_image_fail_clearly(qemu_server, home, www):
    s = qemu_server
    cs = cs_client(s)
    zone = cs.listZones()["zone"][0]["id"]
    for name, path, says in [("missing", "/missing.img", "404"),
                             ("notes", "/notes.txt", "not a disk image")]:
        t = cs.registerTemplate(name=name, url=f"{www}{path}", zoneid=zone, format="RAW",
                                hypervisor="KVM")["template"][0]
        ended = failed_template(cs, t["id"])
        assert ended["isready"] is False and says in ended["status"], ended
        image = cli(s, home, "ec2", "describe-images", "--owners", "self", "--filters",
                    f"Name=name,Values={name}")["Images"]
        assert [i["State"] for i in image] == ["failed"], image
        assert not (s.data_dir / "template-cache" / f"{t['id']}.qcow2").exists()
    no_leftovers(s)

    cli(s, home, "s3", "cp", "-", "s3://walk-images/notes.txt")  # an empty object
    task = cli(s, home, "ec2", "import-image", "--disk-containers",
               "Format=raw,UserBucket={S3Bucket=walk-images,S3Key=notes.txt}")

    def ended():
        t = cli(s, home, "ec2", "describe-import-image-tasks", "--import-task-ids",
                task["ImportTaskId"])["ImportImageTasks"][0]
        return t if t["Status"] != "active" else None

    t = wait_for("the failed import", ended, IMPORT_BUDGET)
    assert t["Status"] == "deleted" and "ImageId" not in t and t["StatusMessage"], t
    missing = aws(s, home, "ec2", "import-image", "--disk-containers",
                  "Format=raw,UserBucket={S3Bucket=walk-images,S3Key=absent.img}")
    assert missing.returncode != 0 and "absent.img" in missing.stderr


def test_metadata_and_link_local_urls_are_refused_before_any_download(qemu_server):
    cs = cs_client(qemu_server)
    zone = cs.listZones()["zone"][0]["id"]
    from cs import CloudStackApiException
    for url in ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x.img"]:
        with pytest.raises(CloudStackApiException) as e:
            cs.registerTemplate(name="meta", url=url, zoneid=zone, format="RAW",
                                hypervisor="KVM")
        assert e.value.error["errorcode"] == 431
        assert "link-local" in e.value.error["errortext"]
    names = [t["name"] for t in cs.listTemplates(templatefilter="self").get("template", [])]
    assert "meta" not in names


def kvm_host(cs):
    return next(h for h in cs.listHosts()["host"] if h["hypervisor"] == "KVM")


def test_a_guest_that_cannot_boot_fails_and_gives_its_capacity_back(qemu_server, home, www):
    s = qemu_server
    cs = cs_client(s)
    zone = cs.listZones()["zone"][0]["id"]
    t = cs.registerTemplate(name="unbootable", url=f"{www}/unbootable.img", zoneid=zone,
                            format="RAW", hypervisor="KVM")["template"][0]
    ready = failed_template(cs, t["id"])
    assert ready["isready"] is True, ready
    before = kvm_host(cs)["memoryallocated"]
    offering = next(o for o in cs.listServiceOfferings()["serviceoffering"]
                    if o["name"] == "t3.nano")
    job = cs.deployVirtualMachine(zoneid=zone, templateid=t["id"],
                                  serviceofferingid=offering["id"])
    def ended():
        r = cs.queryAsyncJobResult(jobid=job["jobid"])
        return r if r["jobstatus"] != 0 else None

    result = wait_for("the failed start", ended, CONSOLE_BUDGET)
    assert result["jobstatus"] == 2, result
    assert "boot" in result["jobresult"]["errortext"], result
    vm = cs.listVirtualMachines(id=job["id"])["virtualmachine"][0]
    assert vm["state"] == "Error"
    image_id = cli(s, home, "ec2", "describe-images", "--owners", "self", "--filters",
                   "Name=name,Values=unbootable")["Images"][0]["ImageId"]
    reservations = cli(s, home, "ec2", "describe-instances", "--filters",
                       f"Name=image-id,Values={image_id}")["Reservations"]
    instance = reservations[0]["Instances"][0]
    reason = instance.get("StateReason", {})
    assert reason.get("Code") == "Server.InternalError" and "boot" in reason["Message"], instance
    assert kvm_host(cs)["memoryallocated"] == before
    assert guest_processes(job["id"]) == []
    assert not (s.data_dir / "instances" / job["id"] / "qemu.pid").exists()


def test_a_full_host_is_a_clear_capacity_error_through_both_doors(qemu_server, home):
    s = qemu_server
    cs = cs_client(s)
    zone = cs.listZones()["zone"][0]["id"]
    template = next(t for t in cs.listTemplates(templatefilter="self")["template"]
                    if t["name"] == "walk-guest")
    host = kvm_host(cs)
    # More memory than the QEMU host has: the simulated hosts have room, but a KVM template
    # is placed only on QEMU hosts.
    big = max(cs.listServiceOfferings()["serviceoffering"], key=lambda o: o["memory"])
    assert big["memory"] * 1024 * 1024 > host["memorytotal"]
    from cs import CloudStackApiException
    with pytest.raises(CloudStackApiException) as e:
        cs.deployVirtualMachine(zoneid=zone, templateid=template["id"],
                                serviceofferingid=big["id"])
    assert e.value.error["errorcode"] == 533, e.value.error
    image_id = cli(s, home, "ec2", "describe-images", "--owners", "self", "--filters",
                   "Name=name,Values=walk-guest")["Images"][0]["ImageId"]
    r = aws(s, home, "ec2", "run-instances", "--image-id", image_id, "--instance-type",
            big["name"])
    assert r.returncode != 0 and "InsufficientInstanceCapacity" in r.stderr, r.stderr
    assert kvm_host(cs)["memoryallocated"] == host["memoryallocated"]
