"""Security groups through the native door: `cs` creates, lists, authorizes and revokes
ingress and egress rules (the async path polled to the job's securitygroup), deletes, and gets
CloudStack's error codes for its mistakes; the EC2 door sees the same groups and rules;
Libcloud's CloudStack driver drives the same commands its own way; and the network and VPC
offerings describe what is served."""

import uuid

import pytest
import requests

from harness import boto3_client, native_request


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def code_of(server, command, **params):
    r = native_request(server, command, server.access_key, server.secret_key, **params)
    return r.status_code, r.json()


def test_create_authorize_revoke_delete(server):
    cs = client(server)
    default = cs.listSecurityGroups(securitygroupname="default")["securitygroup"]
    assert [g["name"] for g in default] == ["default"], "every account has its default group"

    g = cs.createSecurityGroup(name="web", description="web servers")["securitygroup"]
    assert (g["name"], g["description"], g["account"]) == ("web", "web servers", "admin")
    assert g["ingressrule"] == []
    assert g["virtualmachinecount"] == 0

    got = cs.authorizeSecurityGroupIngress(securitygroupid=g["id"], protocol="tcp",
                                           startport=22, endport=22,
                                           cidrlist="10.0.0.0/8,192.168.0.0/16")
    rules = got["securitygroup"]["ingressrule"]
    assert sorted(r["cidr"] for r in rules) == ["10.0.0.0/8", "192.168.0.0/16"]
    assert {(r["protocol"], r["startport"], r["endport"]) for r in rules} == {("tcp", 22, 22)}
    cs.authorizeSecurityGroupIngress(securitygroupname="web", protocol="icmp", icmptype=8,
                                     icmpcode=0, cidrlist="0.0.0.0/0")
    peer = cs.authorizeSecurityGroupIngress(
        securitygroupid=g["id"], protocol="udp", startport=53, endport=53,
        usersecuritygrouplist=[{"account": "admin", "group": "default"}])
    by_peer = [r for r in peer["securitygroup"]["ingressrule"] if "securitygroupname" in r]
    assert [(r["securitygroupname"], r["account"]) for r in by_peer] == [("default", "admin")]
    egress = cs.authorizeSecurityGroupEgress(securitygroupid=g["id"], protocol="tcp",
                                             startport=443, endport=443, cidrlist="0.0.0.0/0")
    assert any(r["protocol"] == "tcp" and r["startport"] == 443
               for r in egress["securitygroup"]["egressrule"])

    [listed] = cs.listSecurityGroups(id=g["id"])["securitygroup"]
    assert len(listed["ingressrule"]) == 4
    icmp = next(r for r in listed["ingressrule"] if r["protocol"] == "icmp")
    assert (icmp["icmptype"], icmp["icmpcode"]) == (8, 0)

    # The EC2 door sees the same group and rules.
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    [sg] = ec2.describe_security_groups(Filters=[{"Name": "group-name",
                                                  "Values": ["web"]}])["SecurityGroups"]
    assert {p["FromPort"] for p in sg["IpPermissions"] if p["IpProtocol"] == "tcp"} == {22}

    # A rule twice is refused; revoking takes one rule out.
    status, body = code_of(server, "authorizeSecurityGroupIngress", securitygroupid=g["id"],
                           protocol="tcp", startport=22, endport=22, cidrlist="10.0.0.0/8")
    assert status == 431, body
    ssh = next(r for r in listed["ingressrule"] if r.get("cidr") == "10.0.0.0/8")
    assert cs.revokeSecurityGroupIngress(id=ssh["ruleid"])["success"] is True
    [after] = cs.listSecurityGroups(id=g["id"])["securitygroup"]
    assert ssh["ruleid"] not in [r["ruleid"] for r in after["ingressrule"]]
    out = next(r for r in after["egressrule"] if r.get("startport") == 443)
    status, body = code_of(server, "revokeSecurityGroupIngress", id=out["ruleid"])
    assert status == 431, "an egress rule is not an ingress rule"
    assert cs.revokeSecurityGroupEgress(id=out["ruleid"])["success"] is True

    assert cs.deleteSecurityGroup(id=g["id"]) == {"success": "true"}
    status, body = code_of(server, "listSecurityGroups", id=g["id"])
    assert status == 431, body


def test_groups_of_instances_and_deletion_in_use(server):
    cs = client(server)
    g = cs.createSecurityGroup(name="app")["securitygroup"]
    # The instance joins the group through the EC2 door (the same group there).
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    [sg] = ec2.describe_security_groups(GroupNames=["app"])["SecurityGroups"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                      SecurityGroupIds=[sg["GroupId"]])
    [vm] = cs.listVirtualMachines()["virtualmachine"]
    [mine] = cs.listSecurityGroups(virtualmachineid=vm["id"])["securitygroup"]
    assert mine["id"] == g["id"]
    assert mine["virtualmachinecount"] == 1 and mine["virtualmachineids"] == [vm["id"]]
    status, body = code_of(server, "deleteSecurityGroup", id=g["id"])
    assert status == 536, body
    cs.destroyVirtualMachine(id=vm["id"], expunge=True)
    assert cs.deleteSecurityGroup(name="app")["success"] == "true"


def test_deploy_into_groups_by_id_or_by_name(server):
    cs = client(server)
    web = cs.createSecurityGroup(name="web")["securitygroup"]
    db = cs.createSecurityGroup(name="db")["securitygroup"]
    zone = cs.listZones()["zone"][0]["id"]
    offering = cs.listServiceOfferings()["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    base = {"zoneid": zone, "serviceofferingid": offering, "templateid": template}

    by_id = cs.deployVirtualMachine(**base, securitygroupids=f"{web['id']},{db['id']}")
    vm = by_id["virtualmachine"]
    assert sorted(g["id"] for g in vm["securitygroup"]) == sorted([web["id"], db["id"]])
    by_name = cs.deployVirtualMachine(**base, securitygroupnames="db")["virtualmachine"]
    assert [g["name"] for g in by_name["securitygroup"]] == ["db"]
    plain = cs.deployVirtualMachine(**base)["virtualmachine"]
    assert [g["name"] for g in plain["securitygroup"]] == ["default"]
    # The EC2 door shows the same membership.
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    [i] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
           if i.get("PrivateIpAddress") == vm["nic"][0]["ipaddress"]]
    assert sorted(g["GroupName"] for g in i["SecurityGroups"]) == ["db", "web"]

    # Mistakes: both forms at once, an unknown id, an unknown name; nothing is deployed.
    before = cs.listVirtualMachines()["count"]
    for params in ({"securitygroupids": web["id"], "securitygroupnames": "web"},
                   {"securitygroupids": str(uuid.uuid4())},
                   {"securitygroupnames": "nosuchgroup"}):
        status, body = code_of(server, "deployVirtualMachine", **base, **params)
        assert status == 431, (params, body)
    assert cs.listVirtualMachines()["count"] == before


def test_mistakes_answer_cloudstack_codes(server):
    cs = client(server)
    cs.createSecurityGroup(name="dup")
    gone = str(uuid.uuid4())
    cases = [
        ("createSecurityGroup", {"name": "dup"}, 431),
        ("createSecurityGroup", {"name": "default"}, 431),
        ("createSecurityGroup", {}, 431),
        ("deleteSecurityGroup", {"id": gone}, 431),
        ("deleteSecurityGroup", {}, 431),
        ("deleteSecurityGroup", {"name": "default"}, 431),
        ("listSecurityGroups", {"id": gone}, 431),
        ("authorizeSecurityGroupIngress", {"securitygroupid": gone, "cidrlist": "0.0.0.0/0",
                                           "startport": 1, "endport": 2}, 431),
        ("authorizeSecurityGroupIngress", {"securitygroupname": "dup", "protocol": "tcp"}, 431),
        ("authorizeSecurityGroupIngress", {"securitygroupname": "dup", "protocol": "tcp",
                                           "startport": 80, "endport": 70,
                                           "cidrlist": "0.0.0.0/0"}, 431),
        ("authorizeSecurityGroupIngress", {"securitygroupname": "dup", "protocol": "tcp",
                                           "startport": 80, "cidrlist": "10.0.0.1/8"}, 431),
        ("revokeSecurityGroupIngress", {"id": gone}, 431),
        ("revokeSecurityGroupEgress", {"id": gone}, 431),
    ]
    for command, params, status in cases:
        got, body = code_of(server, command, **params)
        assert got == status, (command, params, body)


def test_network_and_vpc_offerings(server):
    cs = client(server)
    [net] = cs.listNetworkOfferings()["networkoffering"]
    assert net["forvpc"] is True and net["guestiptype"] == "Isolated"
    assert net["state"] == "Enabled" and net["traffictype"] == "Guest"
    assert "StaticNat" in [s["name"] for s in net["service"]]
    assert cs.listNetworkOfferings(forvpc=False) == {}
    assert cs.listNetworkOfferings(id=net["id"])["count"] == 1
    [vpc] = cs.listVPCOfferings()["vpcoffering"]
    assert vpc["isdefault"] is True and vpc["state"] == "Enabled"
    status, _ = code_of(server, "listVPCOfferings", id=str(uuid.uuid4()))
    assert status == 431
    assert cs.listProjects() == {}


def test_libcloud_security_groups(server):
    pytest.importorskip("libcloud")
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    url = requests.utils.urlparse(server.url)
    driver = get_driver(Provider.CLOUDSTACK)(key=server.access_key, secret=server.secret_key,
                                             host=url.hostname, port=url.port,
                                             path="/client/api", secure=False)
    made = driver.ex_create_security_group("libcloud-sg", description="made by libcloud")
    assert made["name"] == "libcloud-sg"
    names = [g["name"] for g in driver.ex_list_security_groups()]
    assert "libcloud-sg" in names and "default" in names
    got = driver.ex_authorize_security_group_ingress("libcloud-sg", "tcp", "0.0.0.0/0",
                                                     startport=80)
    assert [(r["protocol"], r["startport"], r["endport"]) for r in got["ingressrule"]] == [
        ("tcp", 80, 80)]
    got = driver.ex_authorize_security_group_ingress("libcloud-sg", "icmp", "0.0.0.0/0")
    assert any(r["protocol"] == "icmp" for r in got["ingressrule"])
    assert driver.ex_delete_security_group("libcloud-sg") in (True, "true")
    assert "libcloud-sg" not in [g["name"] for g in driver.ex_list_security_groups()]
