"""Networks through the native door with `cs`: every account has its default VPC with one
network per zone, an instance's NIC is on it, listNics shows the NIC, and EC2 shows the same
VPC and subnet."""

import uuid

from harness import native_request


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def test_default_networks_vpcs_and_nics(server, home, boto3_session):
    cs = client(server)
    zone = cs.listZones()["zone"][0]
    networks = cs.listNetworks()["network"]
    assert len(networks) == 1
    net = networks[0]
    assert (net["zoneid"], net["isdefault"], net["traffictype"]) == (zone["id"], True, "Guest")
    assert net["cidr"].startswith("172.31.") and net["netmask"].count(".") == 3
    [vpc] = cs.listVPCs()["vpc"]
    assert vpc["id"] == net["vpcid"] and vpc["cidr"] == "172.31.0.0/16"
    assert [n["id"] for n in vpc["network"]] == [net["id"]]
    assert cs.listNetworks(vpcid=vpc["id"])["count"] == 1

    ec2 = boto3_session(server, home).client("ec2")
    [subnet] = ec2.describe_subnets()["Subnets"]
    assert subnet["CidrBlock"] == net["cidr"] and net["name"] == subnet["SubnetId"]

    offering = cs.listServiceOfferings(name="t3.micro")["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    vm = cs.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=offering,
                                 templateid=template)["virtualmachine"]
    [nic] = cs.listNics(virtualmachineid=vm["id"])["nic"]
    assert nic["networkid"] == net["id"] and nic["ipaddress"] == vm["nic"][0]["ipaddress"]

    gone = str(uuid.uuid4())
    for command, params in [("listNetworks", {"id": gone}), ("listNics",
                                                             {"virtualmachineid": gone})]:
        r = native_request(server, command, server.access_key, server.secret_key, **params)
        assert r.status_code == 431, (command, r.text)
