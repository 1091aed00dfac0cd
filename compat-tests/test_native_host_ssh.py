"""Native resetSSHKeyForVirtualMachine and addHost with the `cs` library against the real
server: a stopped instance's key pair changes (and EC2 sees the new KeyName), a running one or an
unknown pair is refused as CloudStack words it; a simulated host joins a cluster and takes
instances."""

import re

from harness import native_request, run_cirrus


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True, poll_interval=0.2,
                      job_timeout=60)


def raw(server, command, access=None, secret=None, **params):
    r = native_request(server, command, access or server.access_key,
                       secret or server.secret_key, **params)
    return r.status_code, r.json()[f"{command.lower()}response"]


def deploy(cs, **kw):
    zone = cs.listZones()["zone"][0]["id"]
    offering = next(o for o in cs.listServiceOfferings()["serviceoffering"]
                    if o["name"] == "t3.micro")["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    return cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                   templateid=template, **kw)["virtualmachine"]


def test_reset_ssh_key_needs_a_stopped_instance_and_a_known_pair(server, home, boto3_session):
    cs = client(server)
    cs.createSSHKeyPair(name="old")
    cs.createSSHKeyPair(name="new")
    vm = deploy(cs, keypair="old")

    status, body = raw(server, "resetSSHKeyForVirtualMachine", id=vm["id"], keypair="new")
    assert status == 431, body
    assert body["errortext"] == f"Vm {vm['id']} should be stopped to do SSH Key reset"

    cs.stopVirtualMachine(id=vm["id"])
    status, body = raw(server, "resetSSHKeyForVirtualMachine", id=vm["id"], keypair="nope")
    assert status == 431, body
    assert "A key pair with name 'nope' does not exist" in body["errortext"]
    assert cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["keypairs"] == "old"

    result = cs.resetSSHKeyForVirtualMachine(id=vm["id"], keypairs="new")
    assert result["virtualmachine"]["id"] == vm["id"]
    assert result["virtualmachine"]["keypairs"] == "new"
    assert result["virtualmachine"]["state"] == "Stopped"
    assert cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["keypairs"] == "new"

    ec2 = boto3_session(server, home).client("ec2")
    found = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert [i["KeyName"] for i in found] == ["new"]

    started = cs.startVirtualMachine(id=vm["id"])["virtualmachine"]
    assert started["state"] == "Running" and started["keypairs"] == "new"


def user_keys(server):
    run = lambda *a: run_cirrus("admin", "--data-dir", str(server.data_dir), *a)  # noqa: E731
    assert run("account", "create", "dev", "--role", "user").returncode == 0
    assert run("user", "create", "bob", "--account", "dev").returncode == 0
    key = run("key", "create", "--user", "bob").stdout
    return (re.search(r"access_key: (\S+)", key).group(1),
            re.search(r"secret_key: (\S+)", key).group(1))


def test_add_simulated_host_joins_a_new_cluster_and_takes_instances(make_server, tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text("[simulator]\nhosts = 1\nhost_cpus = 2\nhost_memory_gib = 1\n"
                      "[orchestrator]\ncpu_overcommit = 1.0\nmemory_overcommit = 1.0\n")
    server = make_server("--config", str(config), log="debug").start()
    cs = client(server)
    zone = cs.listZones()["zone"][0]["id"]
    pod = cs.listPods()["pod"][0]["id"]
    [first] = cs.listHosts()["host"]
    cluster = cs.listClusters()["cluster"][0]
    deploy(cs)  # fills the only host
    status, body = raw(server, "deployVirtualMachine", zoneid=zone,
                       serviceofferingid=cs.listVirtualMachines()["virtualmachine"][0]
                       ["serviceofferingid"], templateid=cs.listTemplates(
                           templatefilter="executable")["template"][0]["id"])
    assert status == 533, body

    status, body = raw(server, "addHost", zoneid=zone, podid=pod, clustername="sim-extra",
                       url="http://sim-new/c1/h0", username="root", password="s3cret-pw",
                       hypervisor="Simulator")
    assert status == 200, body
    assert body["count"] == 1
    host = body["host"][0]
    assert host["name"] == "sim-new" and host["state"] == "Up"
    assert host["hypervisor"] == "Simulator" and host["clustername"] == "sim-extra"
    assert host["cpunumber"] == 2 and host["memorytotal"] == first["memorytotal"]
    assert cs.listHosts(id=host["id"])["host"] == [host]
    assert any(c["name"] == "sim-extra" for c in cs.listClusters()["cluster"])
    vm = deploy(cs)
    assert vm["hostid"] == host["id"] and vm["state"] == "Running"

    # A taken name, an unknown hypervisor, KVM without --qemu, tags: refused, nothing made.
    for params, words in [
        (dict(clusterid=cluster["id"], url=f"http://{first['name']}/",
              hypervisor="Simulator"), first["name"]),
        (dict(clusterid=cluster["id"], url="http://x/", hypervisor="XenServer"), "XenServer"),
        (dict(clustername="kvm-c", url="http://127.0.0.1/", hypervisor="KVM"), "--qemu"),
        (dict(clustername="c2", url="http://h/", hypervisor="Simulator", hosttags="ssd"),
         "tags"),
    ]:
        status, body = raw(server, "addHost", zoneid=zone, podid=pod, username="u",
                           password="p", **params)
        assert status in (431, 535) and words in body["errortext"], body
    assert len(cs.listHosts()["host"]) == 2
    assert not any(c["name"] in ("kvm-c", "c2") for c in cs.listClusters()["cluster"])
    log = server.stderr_path.read_text(errors="replace")
    assert "simulated host added" in log and "s3cret-pw" not in log
    for f in server.data_dir.rglob("*"):
        assert not f.is_file() or b"s3cret-pw" not in f.read_bytes(), f

    access, secret = user_keys(server)
    status, body = raw(server, "addHost", access, secret, zoneid=zone, podid=pod,
                       clustername="x", url="http://u/", username="u", password="p",
                       hypervisor="Simulator")
    assert status == 401, body
