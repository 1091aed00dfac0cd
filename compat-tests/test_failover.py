"""Two management servers on one PostgreSQL database and one blob directory: the orchestrator's
promise that a job outlives its server. Both first runs race on a new database and make one
cloud; an object written through one server is read through the other; instances launched
through server A (native deployVirtualMachine and EC2 RunInstances) are still starting when A
is killed with SIGKILL, and server B takes their start jobs over once A's leases lapse: the
instances reach Running, the native job completes, and capacity is counted once. Needs
CIRRUS_TEST_POSTGRES_URL, like test_postgres.py.
"""

from __future__ import annotations

import json
import signal
import time

from harness import aws, boto3_client, cs_client, require_postgres, sql, wait_for

pytestmark = require_postgres()

# A start outlasts B's restart and the kill; the lease lapses soon after A is gone.
START_LATENCY_MS = 6000
LEASE_SECS = 2
CONFIG = f"""
[simulator]
hosts = 1
start_latency_ms = {START_LATENCY_MS}

[orchestrator]
job_lease_secs = {LEASE_SECS}
"""


def test_a_job_outlives_its_server_and_the_blob_store_is_shared(make_server, database_url,
                                                                 tmp_path, home):
    config = tmp_path / "cirrus.toml"
    config.write_text(CONFIG)
    blobs = tmp_path / "shared-blobs"
    args = ("--config", str(config), "--blob-dir", str(blobs))
    a = make_server(*args, database_url=database_url, data_dir=tmp_path / "a")
    b = make_server(*args, database_url=database_url, data_dir=tmp_path / "b")

    # Both first runs at once on the new database: one makes the cloud, the other reuses it.
    a.launch()
    b.launch()
    a.wait_healthy()
    b.wait_healthy()
    creators = [s for s in (a, b) if "new cloud created" in s.stderr()]
    assert len(creators) == 1, [s.stderr() for s in (a, b)]
    assert (a.access_key, a.secret_key) == (b.access_key, b.secret_key)
    assert [s.file("admin-password").exists() for s in (a, b)] == [s in creators for s in (a, b)]
    assert sql(database_url, "SELECT COUNT(*) FROM zones") == "1"
    assert sql(database_url, "SELECT COUNT(*) FROM hosts") == "1"

    # B goes away for a while, so that A, alone, claims the start jobs.
    assert b.stop() == 0

    s3_a = boto3_client(a, "s3", a.access_key, a.secret_key)
    s3_a.create_bucket(Bucket="shared")
    # Larger than what the database keeps inline, so its bytes go to the blob store.
    body = bytes(range(256)) * 400
    s3_a.put_object(Bucket="shared", Key="disk.bin", Body=body)

    cs_a = cs_client(a)
    zone = cs_a.listZones()["zone"][0]["id"]
    offering = next(o for o in cs_a.listServiceOfferings()["serviceoffering"]
                    if o["name"] == "t3.micro")
    template = cs_a.listTemplates(templatefilter="executable")["template"][0]["id"]
    deployed = cs_a.deployVirtualMachine(zoneid=zone, serviceofferingid=offering["id"],
                                         templateid=template, fetch_result=False)
    ec2_a = boto3_client(a, "ec2", a.access_key, a.secret_key)
    image = ec2_a.describe_images()["Images"][0]["ImageId"]
    run = aws(a, home, "ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro")
    assert run.returncode == 0, run.stderr
    ec2_id = json.loads(run.stdout)["Instances"][0]["InstanceId"]

    # B back, on the same data directory; it must leave A's leased jobs alone.
    b.start()
    assert "new cloud created" not in b.stderr()
    s3_b = boto3_client(b, "s3", b.access_key, b.secret_key)
    assert s3_b.get_object(Bucket="shared", Key="disk.bin")["Body"].read() == body

    vm = cs_a.listVirtualMachines(id=deployed["id"])["virtualmachine"][0]
    assert vm["state"] == "Starting", f"the start ended before A was killed: {vm}"
    killed_at = time.monotonic()
    assert a.stop(signal.SIGKILL) == -signal.SIGKILL

    cs_b = cs_client(b, keys_from=a)  # A's written keys, against B's endpoint

    def done():
        r = cs_b.queryAsyncJobResult(jobid=deployed["jobid"])
        return r if r["jobstatus"] != 0 else None

    result = wait_for("the native start job on B", done, LEASE_SECS + 30)
    taken_over_after = time.monotonic() - killed_at
    assert result["jobstatus"] == 1, result
    assert result["jobresult"]["virtualmachine"]["state"] == "Running", result
    jobs = {j["jobid"]: j for j in cs_b.listAsyncJobs()["asyncjobs"]}
    assert jobs[deployed["jobid"]]["jobstatus"] == 1, jobs

    # A's AWS CLI configuration, pointed at B, sees the EC2 launch running too.
    def ec2_running():
        r = aws(a, home, "ec2", "describe-instances", "--instance-ids", ec2_id,
                "--endpoint-url", b.url)
        assert r.returncode == 0, r.stderr
        state = json.loads(r.stdout)["Reservations"][0]["Instances"][0]["State"]["Name"]
        return state == "running"

    wait_for("the EC2 instance running, seen on B", ec2_running, LEASE_SECS + 30)
    vms = cs_b.listVirtualMachines()["virtualmachine"]
    assert sorted(v["state"] for v in vms) == ["Running", "Running"], vms

    # Each start ran once on A (cut short) and once on B; the taken-over run took the whole
    # simulated start again, after the lease lapsed.
    assert taken_over_after >= START_LATENCY_MS / 1000, taken_over_after
    taken = [line for line in b.stderr().splitlines() if "took over a job" in line]
    assert any(deployed["jobid"] in line for line in taken), b.stderr()
    assert len(taken) == 2, taken
    assert sql(database_url, "SELECT attempts FROM jobs WHERE kind = 'StartInstance'") \
        == "2\n2"

    # Capacity is held once per instance, not once per attempt.
    [host] = cs_b.listHosts()["host"]
    assert host["memoryallocated"] == 2 * offering["memory"] * 1024 * 1024, host

    # The object's bytes are in the shared blob directory, not in either data directory.
    assert not any(p.is_file() for p in (a.data_dir / "blobs").rglob("*"))
    stored = [p for p in blobs.rglob("*") if p.is_file() and p.relative_to(blobs).parts[0] != "tmp"]
    assert stored, list(blobs.rglob("*"))
    assert b.stop() == 0
