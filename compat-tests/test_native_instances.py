"""The native door's instance commands with real CloudStack clients: `cs` (library and CLI, both
polling queryAsyncJobResult by themselves) and Apache Libcloud's CloudStack driver deploy, list,
stop, start, reboot, destroy, recover and expunge instances, and read jobs and events as
CloudStack shapes them."""

import json
import re
import time
import uuid

import pytest
import requests

from harness import cs_cli, native_request, run_cirrus

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def client(server, fetch_result=True):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=fetch_result,
                      poll_interval=0.2, job_timeout=60)


def ids(cs):
    zone = cs.listZones()["zone"][0]["id"]
    offering = next(o for o in cs.listServiceOfferings()["serviceoffering"]
                    if o["name"] == "t3.micro")["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    return zone, offering, template


def deploy(cs, **kw):
    zone, offering, template = ids(cs)
    return cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                   templateid=template, **kw)


def raw(server, command, **params):
    r = native_request(server, command, server.access_key, server.secret_key, **params)
    return r.status_code, r.json()[f"{command.lower()}response"]


def wait_job(server, jobid, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, job = raw(server, "queryAsyncJobResult", jobid=jobid)
        assert status == 200, job
        if job["jobstatus"] != 0:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {jobid} still pending")


def test_deploy_polls_to_a_running_instance_with_every_field_clients_read(server):
    cs = client(server)
    zone, offering, template = ids(cs)
    result = cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                     templateid=template, name="web-1", displayname="Web one",
                                     userdata="I2Nsb3VkLWNvbmZpZwo=")
    vm = result["virtualmachine"]
    assert vm["state"] == "Running"
    assert (vm["name"], vm["displayname"]) == ("web-1", "Web one")
    assert (vm["zoneid"], vm["templateid"], vm["serviceofferingid"]) == (zone, template, offering)
    assert isinstance(vm["cpunumber"], int) and isinstance(vm["memory"], int)
    for key in ("nic", "securitygroup", "tags", "affinitygroup"):
        assert isinstance(vm[key], list), key
    [nic] = vm["nic"]
    assert nic["isdefault"] is True and nic["traffictype"] == "Guest"
    assert re.fullmatch(r"172\.31\.\d+\.\d+", nic["ipaddress"]), nic
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", nic["macaddress"]), nic
    assert [g["name"] for g in vm["securitygroup"]] == ["default"]

    listed = cs.listVirtualMachines(id=vm["id"])
    assert listed["count"] == 1
    item = listed["virtualmachine"][0]
    assert item["id"] == vm["id"] and item["state"] == "Running"
    assert "jobid" not in item, "no job is pending any more"


def test_the_submit_reply_and_the_job_are_cloudstacks_shapes(server):
    cs = client(server, fetch_result=False)
    zone, offering, template = ids(cs)
    submitted = cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                        templateid=template)
    assert set(submitted) == {"id", "jobid"}
    assert UUID.fullmatch(submitted["id"]) and UUID.fullmatch(submitted["jobid"])
    job = wait_job(server, submitted["jobid"])
    assert job["jobstatus"] == 1 and job["jobresultcode"] == 0
    assert job["jobresulttype"] == "object"
    assert job["cmd"] == "org.apache.cloudstack.api.command.user.vm.DeployVMCmd"
    assert job["jobinstancetype"] == "VirtualMachine"
    assert job["jobinstanceid"] == submitted["id"]
    assert job["jobresult"]["virtualmachine"]["id"] == submitted["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", job["created"])
    assert "completed" in job

    jobs = cs.listAsyncJobs()
    assert jobs["count"] >= 1
    assert submitted["jobid"] in [j["jobid"] for j in jobs["asyncjobs"]]


def test_startvm_false_leaves_it_stopped_and_the_job_done(server):
    cs = client(server)
    vm = deploy(cs, startvm="false")["virtualmachine"]
    assert vm["state"] == "Stopped"


def test_stop_start_reboot_destroy_recover_expunge(server):
    cs = client(server)
    vm = deploy(cs)["virtualmachine"]
    stopped = cs.stopVirtualMachine(id=vm["id"], forced="true")["virtualmachine"]
    assert stopped["state"] == "Stopped"

    other = next(o for o in cs.listServiceOfferings()["serviceoffering"]
                 if o["name"] == "t3.small")
    changed = cs.changeServiceForVirtualMachine(id=vm["id"], serviceofferingid=other["id"])
    assert changed["virtualmachine"]["serviceofferingid"] == other["id"]
    assert changed["virtualmachine"]["memory"] == other["memory"]
    renamed = cs.updateVirtualMachine(id=vm["id"], displayname="renamed")["virtualmachine"]
    assert renamed["displayname"] == "renamed"

    assert cs.startVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Running"
    assert cs.rebootVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Running"
    destroyed = cs.destroyVirtualMachine(id=vm["id"])["virtualmachine"]
    assert destroyed["state"] == "Destroyed"
    recovered = cs.recoverVirtualMachine(id=vm["id"])["virtualmachine"]
    assert recovered["state"] == "Stopped"
    cs.destroyVirtualMachine(id=vm["id"])
    done = cs.expungeVirtualMachine(id=vm["id"])
    assert done == {"success": True}

    events = cs.listEvents(type="VM.RECOVER")
    assert events["count"] >= 1
    assert events["event"][0]["resourceid"] == vm["id"]


def test_recovered_is_stopped_in_both_doors_and_the_expunge_delay_is_the_configured_one(
        make_server, tmp_path, home, boto3_session):
    delay = 3
    config = tmp_path / "cirrus.toml"
    config.write_text(f"[orchestrator]\nexpunge_delay_secs = {delay}\nsweep_interval_secs = 1\n")
    server = make_server("--config", str(config)).start()
    cs = client(server)
    ec2 = boto3_session(server, home).client("ec2")

    def ec2_state():
        [instance] = [i for r in ec2.describe_instances()["Reservations"]
                      for i in r["Instances"]]
        return instance["State"]["Name"]

    vm = deploy(cs)["virtualmachine"]
    assert cs.destroyVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Destroyed"
    assert ec2_state() == "terminated"
    assert cs.recoverVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Stopped"
    assert cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Stopped"
    assert ec2_state() == "stopped"
    # Recovered means usable: it starts again.
    assert cs.startVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Running"
    assert ec2_state() == "running"

    destroyed_at = time.monotonic()  # before the request: the delay runs from the job's end
    cs.destroyVirtualMachine(id=vm["id"])
    while raw(server, "listVirtualMachines", id=vm["id"])[0] == 200:
        assert time.monotonic() - destroyed_at < delay + 15, "never expunged"
        time.sleep(0.2)
    assert time.monotonic() - destroyed_at >= delay, "expunged before the configured delay"
    status, body = raw(server, "recoverVirtualMachine", id=vm["id"])
    assert status == 431, body
    assert ec2.describe_instances()["Reservations"] == []


def test_a_running_instance_cannot_change_offering(server):
    cs = client(server)
    vm = deploy(cs)["virtualmachine"]
    offering = vm["serviceofferingid"]
    status, body = raw(server, "changeServiceForVirtualMachine", id=vm["id"],
                       serviceofferingid=offering)
    assert status == 431, body
    assert body["errorcode"] == 431 and "Stopped" in body["errortext"]


def test_unknown_ids_are_cloudstacks_431(server):
    gone = str(uuid.uuid4())
    for command in ("startVirtualMachine", "stopVirtualMachine", "destroyVirtualMachine"):
        status, body = raw(server, command, id=gone)
        assert status == 431, (command, body)
        assert f"Invalid parameter id value={gone} due to incorrect long value format" in \
            body["errortext"]
    status, body = raw(server, "queryAsyncJobResult", jobid=gone)
    assert status == 431 and f"jobid value={gone}" in body["errortext"]
    status, body = raw(server, "deployVirtualMachine", zoneid=gone, serviceofferingid=gone,
                       templateid=gone)
    assert status == 431 and "zoneid" in body["errortext"]
    status, body = raw(server, "deployVirtualMachine")
    assert status == 431 and "missing parameter zoneid" in body["errortext"]


def test_an_unknown_key_pair_is_refused(server):
    cs = client(server, fetch_result=False)
    zone, offering, template = ids(cs)
    status, body = raw(server, "deployVirtualMachine", zoneid=zone, serviceofferingid=offering,
                       templateid=template, keypair="nope")
    assert status == 431 and "nope" in body["errortext"]


def test_the_same_instance_through_ec2(server, home, boto3_session):
    cs = client(server)
    vm = deploy(cs, name="both-doors")["virtualmachine"]
    ec2 = boto3_session(server, home).client("ec2")
    found = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert len(found) == 1
    assert found[0]["PrivateIpAddress"] == vm["nic"][0]["ipaddress"]
    assert found[0]["State"]["Name"] == "running"


def test_bad_user_data_is_refused_before_anything_is_made(server):
    cs = client(server, fetch_result=False)
    zone, offering, template = ids(cs)
    status, body = raw(server, "deployVirtualMachine", zoneid=zone, serviceofferingid=offering,
                       templateid=template, userdata="not base64!!")
    assert status == 431 and "base64" in body["errortext"]
    assert cs.listVirtualMachines() == {}


def test_the_cs_cli_polls_the_job_itself(server, home):
    cs = client(server)
    zone, offering, template = ids(cs)
    r = cs_cli(server, home, "deployVirtualMachine", f"zoneid={zone}",
               f"serviceofferingid={offering}", f"templateid={template}", "name=cli-1")
    assert r.returncode == 0, r.stderr + r.stdout
    out = json.loads(r.stdout)
    assert out["virtualmachine"]["name"] == "cli-1"
    assert out["virtualmachine"]["state"] == "Running"


def test_public_ip_addresses_are_an_empty_list(server):
    status, body = raw(server, "listPublicIpAddresses")
    assert (status, body) == (200, {})


def test_a_failed_start_is_a_failed_job_with_http_200(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text("[simulator]\nfail_next_starts = 1\n")
    server = make_server("--config", str(config)).start()
    cs = client(server, fetch_result=False)
    zone, offering, template = ids(cs)
    submitted = cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                        templateid=template)
    job = wait_job(server, submitted["jobid"])
    assert job["jobstatus"] == 2
    assert job["jobresultcode"] == 530
    assert job["jobresult"]["errorcode"] == 530 and job["jobresult"]["errortext"]

    from cs import CloudStackException

    polling = client(server)
    with pytest.raises(CloudStackException):
        polling.startVirtualMachine(id=submitted["id"])  # Stopped after the failure, or refused


def test_no_room_is_533_at_once(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text("[simulator]\nhosts = 1\nhost_cpus = 1\nhost_memory_gib = 1\n")
    server = make_server("--config", str(config)).start()
    cs = client(server, fetch_result=False)
    zone, _, template = ids(cs)
    big = max(cs.listServiceOfferings()["serviceoffering"], key=lambda o: o["memory"])
    status, body = raw(server, "deployVirtualMachine", zoneid=zone,
                       serviceofferingid=big["id"], templateid=template)
    assert status == 533, body
    assert body["errorcode"] == 533 and body["cserrorcode"] == 4335
    assert cs.listVirtualMachines() == {}


def test_a_user_cannot_touch_the_admins_instance(server):
    cs = client(server)
    vm = deploy(cs)["virtualmachine"]
    run = lambda *a: run_cirrus("admin", "--data-dir", str(server.data_dir), *a)  # noqa: E731
    assert run("account", "create", "dev", "--role", "user").returncode == 0
    assert run("user", "create", "bob", "--account", "dev").returncode == 0
    key = run("key", "create", "--user", "bob").stdout
    access = re.search(r"access_key: (\S+)", key).group(1)
    secret = re.search(r"secret_key: (\S+)", key).group(1)
    r = native_request(server, "stopVirtualMachine", access, secret, id=vm["id"])
    assert r.status_code == 531, r.text
    r = native_request(server, "listVirtualMachines", access, secret)
    assert r.json()["listvirtualmachinesresponse"] == {}


# --- Apache Libcloud -------------------------------------------------------------------------

def libcloud_driver(server):
    pytest.importorskip("libcloud")
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    cls = get_driver(Provider.CLOUDSTACK)
    url = requests.utils.urlparse(server.url)
    return cls(key=server.access_key, secret=server.secret_key, host=url.hostname,
               port=url.port, path="/client/api", secure=url.scheme == "https")


def test_libcloud_create_list_reboot_destroy(server):
    driver = libcloud_driver(server)
    size = next(s for s in driver.list_sizes() if s.name == "t3.micro")
    image = driver.list_images()[0]
    location = driver.list_locations()[0]
    # Libcloud sends startvm=False unless asked: the node is made and left stopped.
    parked = driver.create_node(name="lc-0", size=size, image=image, location=location)
    assert parked.state == "stopped"
    node = driver.create_node(name="lc-1", size=size, image=image, location=location,
                              ex_start_vm=True)
    assert node.name == "lc-1"
    nodes = [n for n in driver.list_nodes() if n.id == node.id]
    assert len(nodes) == 1 and len(driver.list_nodes()) == 2
    assert nodes[0].state == "running"
    assert nodes[0].extra["zone_id"] == location.id
    assert len(nodes[0].private_ips) == 1
    assert driver.reboot_node(nodes[0]) is True
    assert driver.destroy_node(nodes[0]) is True
    after = [n for n in driver.list_nodes() if n.id == node.id]
    assert after == [] or after[0].state in ("terminated", "pending")


def test_a_pending_job_shows_on_the_instance(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text("[simulator]\nstart_latency_ms = 1500\n")
    server = make_server("--config", str(config)).start()
    cs = client(server, fetch_result=False)
    submitted = deploy(cs)
    item = cs.listVirtualMachines(id=submitted["id"])["virtualmachine"][0]
    assert item["state"] == "Starting"
    assert (item["jobid"], item["jobstatus"]) == (submitted["jobid"], 0)
    status, job = raw(server, "queryAsyncJobResult", jobid=submitted["jobid"])
    assert status == 200 and job["jobstatus"] == 0
    assert "jobresult" not in job and "completed" not in job
    assert wait_job(server, submitted["jobid"])["jobstatus"] == 1
    item = cs.listVirtualMachines(id=submitted["id"])["virtualmachine"][0]
    assert item["state"] == "Running" and "jobid" not in item
