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
