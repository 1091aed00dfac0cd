"""VPC networking with real clients (boto3 and the AWS CLI): VPCs, subnets, internet gateways,
route tables and routes, network ACLs and network interfaces, every error code on the way, and
replays of the Terraform aws provider's call sequences for aws_vpc, aws_subnet,
aws_internet_gateway and aws_route_table (create, read, read again with no change, delete)."""

from __future__ import annotations

import ipaddress
import json
import uuid

import botocore.exceptions
import pytest

from harness import aws, boto3_client

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ec2(shared_server):
    return boto3_client(shared_server, "ec2", shared_server.access_key, shared_server.secret_key)


@pytest.fixture(scope="module")
def ami(ec2):
    return ec2.describe_images()["Images"][0]["ImageId"]


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def tags_of(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def new_vpc(ec2, cidr="10.20.0.0/16", name=None):
    spec = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}] if name else []
    return ec2.create_vpc(CidrBlock=cidr, TagSpecifications=spec)["Vpc"]["VpcId"]


def default_vpc(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]


def test_the_default_vpc_has_its_route_table_gateway_acl_and_group(ec2):
    vpc = default_vpc(ec2)["VpcId"]
    [igw] = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc}]
    [main] = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    routes = [(r["DestinationCidrBlock"], r["GatewayId"], r["State"], r["Origin"])
              for r in main["Routes"]]
    assert routes == [("172.31.0.0/16", "local", "active", "CreateRouteTable"),
                      ("0.0.0.0/0", igw["InternetGatewayId"], "active", "CreateRoute")]
    assert [a["Main"] for a in main["Associations"]] == [True]
    [acl] = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]},
                                               {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    assert acl["IsDefault"] is True
    entries = sorted((e["RuleNumber"], e["Egress"], e["RuleAction"], e["Protocol"],
                      e["CidrBlock"]) for e in acl["Entries"])
    assert entries == [(100, False, "allow", "-1", "0.0.0.0/0"),
                       (100, True, "allow", "-1", "0.0.0.0/0"),
                       (32767, False, "deny", "-1", "0.0.0.0/0"),
                       (32767, True, "deny", "-1", "0.0.0.0/0")]
    subnets = {s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]}
    assert {a["SubnetId"] for a in acl["Associations"]} == subnets
    [group] = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["default"]},
        {"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    assert group["VpcId"] == vpc
    # The default VPC stays: Cirrus refuses to delete it rather than lose what launches use.
    assert error_of(ec2.delete_vpc, VpcId=vpc) == ("OperationNotPermitted", 400)


def test_a_vpc_gets_a_main_table_acl_and_group_and_its_attributes(ec2):
    vpc_id = new_vpc(ec2, "10.30.0.0/16", name="attrs")
    [v] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert (v["CidrBlock"], v["IsDefault"], v["State"], tags_of(v)) == (
        "10.30.0.0/16", False, "available", {"Name": "attrs"})
    attr = lambda name, key: ec2.describe_vpc_attribute(  # noqa: E731
        VpcId=vpc_id, Attribute=name)[key]["Value"]
    assert attr("enableDnsSupport", "EnableDnsSupport") is True
    assert attr("enableDnsHostnames", "EnableDnsHostnames") is False
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    assert attr("enableDnsHostnames", "EnableDnsHostnames") is True
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableNetworkAddressUsageMetrics={"Value": True})
    assert attr("enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics") is True
    assert error_of(ec2.modify_vpc_attribute, VpcId=vpc_id, EnableDnsSupport={"Value": True},
                    EnableDnsHostnames={"Value": True}) == ("InvalidParameterCombination", 400)
    [main] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"]
    assert [(r["DestinationCidrBlock"], r["GatewayId"]) for r in main["Routes"]] == [
        ("10.30.0.0/16", "local")]
    assert ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkAcls"][0]["IsDefault"] is True
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert group["GroupName"] == "default"
    assert [p["IpRanges"] for p in group["IpPermissionsEgress"]] == [[{"CidrIp": "0.0.0.0/0"}]]
    assert group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == group["GroupId"]
    ec2.delete_vpc(VpcId=vpc_id)
    assert error_of(ec2.describe_vpcs, VpcIds=[vpc_id]) == ("InvalidVpcID.NotFound", 400)
    assert ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"] == []
    assert ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "SecurityGroups"] == []


def test_vpc_mistakes_answer_the_aws_codes_and_leave_nothing(ec2):
    before = len(ec2.describe_vpcs()["Vpcs"])
    for cidr in ["10.0.0.0/8", "10.0.0.0/29", "10.0.0.0/15"]:
        assert error_of(ec2.create_vpc, CidrBlock=cidr) == ("InvalidVpc.Range", 400), cidr
    for cidr in ["10.0.0.1/16", "10.0.0.0", "banana", "300.0.0.0/16"]:
        assert error_of(ec2.create_vpc, CidrBlock=cidr) == ("InvalidParameterValue", 400), cidr
    assert error_of(ec2.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True) == (
        "DryRunOperation", 412)
    assert len(ec2.describe_vpcs()["Vpcs"]) == before
    assert error_of(ec2.delete_vpc, VpcId="vpc-0123456789abcdef0") == (
        "InvalidVpcID.NotFound", 400)
    assert error_of(ec2.delete_vpc, VpcId="nonsense") == ("InvalidVpcID.Malformed", 400)
    assert error_of(ec2.modify_vpc_attribute, VpcId="vpc-0123456789abcdef0",
                    EnableDnsSupport={"Value": False}) == ("InvalidVpcID.NotFound", 400)

    vpc_id = new_vpc(ec2, "10.31.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.31.1.0/24")["Subnet"]["SubnetId"]
    assert error_of(ec2.delete_vpc, VpcId=vpc_id) == ("DependencyViolation", 400)
    ec2.delete_subnet(SubnetId=subnet)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    assert error_of(ec2.delete_vpc, VpcId=vpc_id) == ("DependencyViolation", 400)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc_id)["GroupId"]
    assert error_of(ec2.delete_vpc, VpcId=vpc_id) == ("DependencyViolation", 400)
    ec2.delete_security_group(GroupId=sg)
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    assert error_of(ec2.delete_vpc, VpcId=vpc_id) == ("DependencyViolation", 400)
    ec2.delete_route_table(RouteTableId=rtb)
    assert error_of(ec2.delete_vpc, VpcId=vpc_id, DryRun=True) == ("DryRunOperation", 412)
    ec2.delete_vpc(VpcId=vpc_id)


def test_subnets_addresses_interfaces_and_their_codes(ec2, ami):
    vpc_id = new_vpc(ec2, "10.40.0.0/16")
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    s = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.0.0/28", AvailabilityZone=zones[0],
                          TagSpecifications=[{"ResourceType": "subnet",
                                              "Tags": [{"Key": "tier", "Value": "app"}]}])[
        "Subnet"]
    sid = s["SubnetId"]
    assert (s["VpcId"], s["CidrBlock"], s["AvailabilityZone"], s["State"], s["DefaultForAz"],
            s["MapPublicIpOnLaunch"], tags_of(s)) == (
        vpc_id, "10.40.0.0/28", zones[0], "available", False, False, {"tier": "app"})
    # A /28 holds 16 addresses: the first four and the last are reserved.
    assert s["AvailableIpAddressCount"] == 11
    ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["MapPublicIpOnLaunch"] is True

    for cidr, code in [("10.41.0.0/24", "InvalidSubnet.Range"),
                       ("10.40.0.0/29", "InvalidSubnet.Range"),
                       ("10.0.0.0/15", "InvalidSubnet.Range"),
                       ("10.40.0.0/27", "InvalidSubnet.Conflict"),
                       ("10.40.0.1/28", "InvalidParameterValue"),
                       ("10.40.0.0/28", "InvalidSubnet.Conflict")]:
        assert error_of(ec2.create_subnet, VpcId=vpc_id, CidrBlock=cidr) == (code, 400), cidr
    assert error_of(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.40.1.0/24",
                    AvailabilityZone="mars-1a") == ("InvalidParameterValue", 400)
    assert error_of(ec2.create_subnet, VpcId="vpc-0123456789abcdef0",
                    CidrBlock="10.40.1.0/24") == ("InvalidVpcID.NotFound", 400)
    assert error_of(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.40.1.0/24",
                    DryRun=True) == ("DryRunOperation", 412)
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "Subnets"]) == 1
    assert error_of(ec2.delete_subnet, SubnetId="subnet-0123456789abcdef0") == (
        "InvalidSubnetID.NotFound", 400)
    assert error_of(ec2.modify_subnet_attribute, SubnetId="subnet-0123456789abcdef0",
                    MapPublicIpOnLaunch={"Value": True}) == ("InvalidSubnetID.NotFound", 400)

    # Launching into the subnet takes its VPC's default group; a group of another VPC is
    # refused with EC2's code.
    other_group = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [default_vpc(ec2)["VpcId"]]}])["SecurityGroups"][0]
    assert error_of(ec2.run_instances, ImageId=ami, InstanceType="t3.nano", MinCount=1,
                    MaxCount=1, SubnetId=sid, SecurityGroupIds=[other_group["GroupId"]]) == (
        "InvalidParameter", 400)
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=ami, InstanceType="t3.nano", MinCount=3, MaxCount=3, SubnetId=sid)["Instances"]]
    nis = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [sid]}])["NetworkInterfaces"]
    assert sorted(n["PrivateIpAddress"] for n in nis) == ["10.40.0.4", "10.40.0.5", "10.40.0.6"]
    assert {n["Attachment"]["InstanceId"] for n in nis} == set(ids)
    assert {(n["VpcId"], n["Status"], n["Groups"][0]["GroupId"], n["Attachment"]["Status"])
            for n in nis} == {(vpc_id, "in-use", group["GroupId"], "attached")}
    one = nis[0]
    by = lambda name, value: [n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces(  # noqa: E731
        Filters=[{"Name": name, "Values": [value]}])["NetworkInterfaces"]]
    assert by("attachment.instance-id", one["Attachment"]["InstanceId"]) == [
        one["NetworkInterfaceId"]]
    assert by("network-interface-id", one["NetworkInterfaceId"]) == [one["NetworkInterfaceId"]]
    assert len(by("group-id", group["GroupId"])) == 3
    assert len(by("vpc-id", vpc_id)) == 3
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[one["NetworkInterfaceId"]])[
        "NetworkInterfaces"][0]["MacAddress"] == one["MacAddress"]
    assert error_of(ec2.describe_network_interfaces,
                    NetworkInterfaceIds=["eni-0123456789abcdef0"]) == (
        "InvalidNetworkInterfaceID.NotFound", 400)
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["AvailableIpAddressCount"] == 8
    assert error_of(ec2.delete_subnet, SubnetId=sid) == ("DependencyViolation", 400)

    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids,
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert by("subnet-id", sid) == []
    ec2.delete_subnet(SubnetId=sid)
    ec2.delete_vpc(VpcId=vpc_id)


def test_internet_gateways_attach_detach_and_their_codes(ec2):
    vpc_a, vpc_b = new_vpc(ec2, "10.50.0.0/16"), new_vpc(ec2, "10.51.0.0/16")
    g = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "Name", "Value": "gw"}]}])[
        "InternetGateway"]
    gid = g["InternetGatewayId"]
    assert (g["Attachments"], tags_of(g)) == ([], {"Name": "gw"})
    other = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_a)
    assert ec2.describe_internet_gateways(InternetGatewayIds=[gid])["InternetGateways"][0][
        "Attachments"] == [{"State": "available", "VpcId": vpc_a}]
    assert error_of(ec2.attach_internet_gateway, InternetGatewayId=gid, VpcId=vpc_b) == (
        "Resource.AlreadyAssociated", 400)
    assert error_of(ec2.attach_internet_gateway, InternetGatewayId=other, VpcId=vpc_a) == (
        "Resource.AlreadyAssociated", 400)
    assert error_of(ec2.detach_internet_gateway, InternetGatewayId=gid, VpcId=vpc_b) == (
        "Gateway.NotAttached", 400)
    assert error_of(ec2.delete_internet_gateway, InternetGatewayId=gid) == (
        "DependencyViolation", 400)
    assert error_of(ec2.attach_internet_gateway, InternetGatewayId="igw-0123456789abcdef0",
                    VpcId=vpc_a) == ("InvalidInternetGatewayID.NotFound", 400)
    assert error_of(ec2.attach_internet_gateway, InternetGatewayId=other,
                    VpcId="vpc-0123456789abcdef0") == ("InvalidVpcID.NotFound", 400)
    assert error_of(ec2.describe_internet_gateways,
                    InternetGatewayIds=["igw-0123456789abcdef0"]) == (
        "InvalidInternetGatewayID.NotFound", 400)
    assert error_of(ec2.delete_internet_gateway, InternetGatewayId="gw") == (
        "InvalidInternetGatewayID.Malformed", 400)
    by = lambda name, value: [x["InternetGatewayId"] for x in ec2.describe_internet_gateways(  # noqa: E731
        Filters=[{"Name": name, "Values": [value]}])["InternetGateways"]]
    assert by("attachment.vpc-id", vpc_a) == [gid]
    assert by("tag:Name", "gw") == [gid]
    assert gid in by("attachment.state", "available") and other not in by(
        "attachment.state", "available")
    assert error_of(ec2.detach_internet_gateway, InternetGatewayId=gid, VpcId=vpc_a,
                    DryRun=True) == ("DryRunOperation", 412)
    ec2.detach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_a)
    assert error_of(ec2.detach_internet_gateway, InternetGatewayId=gid, VpcId=vpc_a) == (
        "Gateway.NotAttached", 400)
    for x in (gid, other):
        ec2.delete_internet_gateway(InternetGatewayId=x)
    assert error_of(ec2.delete_internet_gateway, InternetGatewayId=gid) == (
        "InvalidInternetGatewayID.NotFound", 400)
    for v in (vpc_a, vpc_b):
        ec2.delete_vpc(VpcId=v)


def test_route_tables_routes_associations_and_their_codes(ec2):
    vpc_id, other_vpc = new_vpc(ec2, "10.60.0.0/16"), new_vpc(ec2, "10.61.0.0/16")
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.61.1.0/24")["Subnet"][
        "SubnetId"]
    token = str(uuid.uuid4())
    t = ec2.create_route_table(VpcId=vpc_id, ClientToken=token, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "public"}]}])
    rtb = t["RouteTable"]["RouteTableId"]
    assert t["ClientToken"] == token
    assert ec2.create_route_table(VpcId=vpc_id, ClientToken=token)["RouteTable"][
        "RouteTableId"] == rtb
    assert error_of(ec2.create_route_table, VpcId=other_vpc, ClientToken=token) == (
        "IdempotentParameterMismatch", 400)
    assert t["RouteTable"]["Associations"] == [] and tags_of(t["RouteTable"]) == {
        "Name": "public"}

    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    assert error_of(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                    GatewayId=igw) == ("InvalidParameterValue", 400)
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    assert error_of(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                    GatewayId=igw, DryRun=True) == ("DryRunOperation", 412)
    assert ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                            GatewayId=igw)["Return"] is True
    assert error_of(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                    GatewayId=igw) == ("RouteAlreadyExists", 400)
    assert error_of(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8",
                    GatewayId="igw-0123456789abcdef0") == ("InvalidGatewayID.NotFound", 400)
    assert error_of(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.1/8",
                    GatewayId=igw) == ("InvalidParameterValue", 400)
    assert error_of(ec2.create_route, RouteTableId="rtb-0123456789abcdef0",
                    DestinationCidrBlock="1.0.0.0/8", GatewayId=igw) == (
        "InvalidRouteTableID.NotFound", 400)
    assert error_of(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8",
                    NatGatewayId="nat-0123456789abcdef0") == ("UnsupportedOperation", 400)
    assert error_of(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8",
                    GatewayId=igw) == ("InvalidRoute.NotFound", 400)
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert error_of(ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="1.0.0.0/8") == (
        "InvalidRoute.NotFound", 400)
    assert error_of(ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="10.60.0.0/16") == (
        "InvalidParameterValue", 400)

    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=sid)
    assert assoc["AssociationState"]["State"] == "associated"
    aid = assoc["AssociationId"]
    assert error_of(ec2.associate_route_table, RouteTableId=rtb, SubnetId=sid) == (
        "Resource.AlreadyAssociated", 400)
    assert error_of(ec2.associate_route_table, RouteTableId=rtb, SubnetId=other_subnet) == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.associate_route_table, RouteTableId=rtb,
                    SubnetId="subnet-0123456789abcdef0") == ("InvalidSubnetID.NotFound", 400)
    assert error_of(ec2.delete_route_table, RouteTableId=rtb) == ("DependencyViolation", 400)

    ids = lambda *f: [x["RouteTableId"] for x in ec2.describe_route_tables(  # noqa: E731
        Filters=[{"Name": n, "Values": [v]} for n, v in f])["RouteTables"]]
    [main] = ids(("vpc-id", vpc_id), ("association.main", "true"))
    assert sorted(ids(("vpc-id", vpc_id))) == sorted([main, rtb])
    assert ids(("association.subnet-id", sid)) == [rtb]
    assert ids(("route-table-id", rtb)) == [rtb]
    assert ids(("tag:Name", "public")) == [rtb]
    assert ids(("route.gateway-id", igw)) == [rtb]
    assert ids(("association.route-table-association-id", aid)) == [rtb]
    assert error_of(ec2.describe_route_tables, Filters=[{"Name": "colour", "Values": ["x"]}]) == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.describe_route_tables, RouteTableIds=["rtb-0123456789abcdef0"]) == (
        "InvalidRouteTableID.NotFound", 400)
    [main_table] = ec2.describe_route_tables(RouteTableIds=[main])["RouteTables"]
    main_assoc = main_table["Associations"][0]["RouteTableAssociationId"]
    assert error_of(ec2.disassociate_route_table, AssociationId=main_assoc) == (
        "InvalidParameterValue", 400)
    assert error_of(ec2.delete_route_table, RouteTableId=main) == ("DependencyViolation", 400)

    # A detached gateway leaves its routes as blackholes.
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    [table] = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
    assert [(r["GatewayId"], r["State"]) for r in table["Routes"]] == [
        ("local", "active"), (igw, "blackhole")]
    ec2.delete_internet_gateway(InternetGatewayId=igw)

    ec2.disassociate_route_table(AssociationId=aid)
    assert error_of(ec2.disassociate_route_table, AssociationId=aid) == (
        "InvalidAssociationID.NotFound", 400)
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route_table(RouteTableId=rtb)
    assert error_of(ec2.delete_route_table, RouteTableId=rtb) == (
        "InvalidRouteTableID.NotFound", 400)
    for s in (sid, other_subnet):
        ec2.delete_subnet(SubnetId=s)
    for v in (vpc_id, other_vpc):
        ec2.delete_vpc(VpcId=v)


def test_network_acls_and_tags_on_gateways_tables_and_acls(ec2):
    vpc_id = new_vpc(ec2, "10.70.0.0/16")
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.70.0.0/24")["Subnet"]["SubnetId"]
    [acl] = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkAcls"]
    assert [a["SubnetId"] for a in acl["Associations"]] == [sid]
    assert ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id",
                                               "Values": [sid]}])["NetworkAcls"][0][
        "NetworkAclId"] == acl["NetworkAclId"]
    assert ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "default", "Values": ["false"]}])[
        "NetworkAcls"] == []
    assert error_of(ec2.describe_network_acls, NetworkAclIds=["acl-0123456789abcdef0"]) == (
        "InvalidNetworkAclID.NotFound", 400)
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"][0]["RouteTableId"]
    ec2.create_tags(Resources=[acl["NetworkAclId"], rtb],
                    Tags=[{"Key": "env", "Value": "test"}])
    assert tags_of(ec2.describe_network_acls(NetworkAclIds=[acl["NetworkAclId"]])[
        "NetworkAcls"][0]) == {"env": "test"}
    assert tags_of(ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]) == {
        "env": "test"}
    kinds = {t["ResourceType"] for t in ec2.describe_tags(
        Filters=[{"Name": "key", "Values": ["env"]}])["Tags"]}
    assert kinds == {"network-acl", "route-table"}
    assert error_of(ec2.create_tags, Resources=["rtb-0123456789abcdef0"],
                    Tags=[{"Key": "a", "Value": "b"}]) == ("InvalidRouteTableID.NotFound", 400)
    ec2.delete_subnet(SubnetId=sid)
    ec2.delete_vpc(VpcId=vpc_id)
    assert ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}])["Tags"] == []


# ---- Terraform's call sequences --------------------------------------------------------------

def read_vpc(ec2, vpc_id):
    """What the aws provider reads on every refresh of an aws_vpc."""
    [v] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    attrs = {name: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=name)
             for name in ["enableDnsHostnames", "enableDnsSupport",
                          "enableNetworkAddressUsageMetrics"]}
    acl = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]},
                                             {"Name": "vpc-id", "Values": [vpc_id]}])
    rtb = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]},
                                             {"Name": "vpc-id", "Values": [vpc_id]}])
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]},
                                               {"Name": "vpc-id", "Values": [vpc_id]}])
    return {
        "vpc": v,
        "dns_hostnames": attrs["enableDnsHostnames"]["EnableDnsHostnames"]["Value"],
        "dns_support": attrs["enableDnsSupport"]["EnableDnsSupport"]["Value"],
        "metrics": attrs["enableNetworkAddressUsageMetrics"][
            "EnableNetworkAddressUsageMetrics"]["Value"],
        "default_network_acl_id": acl["NetworkAcls"][0]["NetworkAclId"],
        "main_route_table_id": rtb["RouteTables"][0]["RouteTableId"],
        "default_security_group_id": sg["SecurityGroups"][0]["GroupId"],
    }


def test_terraform_aws_vpc_replay(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16", InstanceTenancy="default",
                         TagSpecifications=[{"ResourceType": "vpc",
                                             "Tags": [{"Key": "Name", "Value": "tf"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    first = read_vpc(ec2, vpc_id)
    assert (first["dns_hostnames"], first["dns_support"], first["metrics"]) == (
        True, True, False)
    assert tags_of(first["vpc"]) == {"Name": "tf"}
    second = read_vpc(ec2, vpc_id)
    assert second == first
    ec2.delete_vpc(VpcId=vpc_id)
    assert error_of(ec2.describe_vpcs, VpcIds=[vpc_id]) == ("InvalidVpcID.NotFound", 400)


def test_terraform_aws_subnet_replay(ec2):
    vpc_id = new_vpc(ec2, "10.81.0.0/16")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]
    s = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.81.1.0/24",
                          AvailabilityZoneId=zone["ZoneId"],
                          TagSpecifications=[{"ResourceType": "subnet",
                                              "Tags": [{"Key": "Name", "Value": "tf"}]}])[
        "Subnet"]
    sid = s["SubnetId"]
    assert s["AvailabilityZone"] == zone["ZoneName"]
    ec2.get_waiter("subnet_available").wait(SubnetIds=[sid],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
    first = ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]
    assert (first["MapPublicIpOnLaunch"], first["State"], tags_of(first)) == (
        True, "available", {"Name": "tf"})
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0] == first
    ec2.delete_subnet(SubnetId=sid)
    assert error_of(ec2.describe_subnets, SubnetIds=[sid]) == ("InvalidSubnetID.NotFound", 400)
    ec2.delete_vpc(VpcId=vpc_id)


def test_terraform_aws_internet_gateway_replay(ec2):
    vpc_id = new_vpc(ec2, "10.82.0.0/16")
    igw = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "Name", "Value": "tf"}]}])[
        "InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.get_waiter("internet_gateway_exists").wait(
        InternetGatewayIds=[igw], WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    for _ in range(10):  # the provider's attachment waiter: state `available`
        [g] = ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"]
        if g["Attachments"] and g["Attachments"][0]["State"] == "available":
            break
    assert g["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    assert ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"] == [g]
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    assert error_of(ec2.describe_internet_gateways, InternetGatewayIds=[igw]) == (
        "InvalidInternetGatewayID.NotFound", 400)
    ec2.delete_vpc(VpcId=vpc_id)


def test_terraform_aws_route_table_replay(ec2):
    vpc_id = new_vpc(ec2, "10.83.0.0/16")
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.83.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    token = f"terraform-{uuid.uuid4().hex[:20]}"
    rtb = ec2.create_route_table(VpcId=vpc_id, ClientToken=token, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "tf"}]}])[
        "RouteTable"]["RouteTableId"]
    for _ in range(10):  # the provider waits until the table is readable
        found = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
        if found:
            break
    for cidr in ["0.0.0.0/0", "192.0.2.0/24"]:
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=cidr, GatewayId=igw)
    aid = ec2.associate_route_table(RouteTableId=rtb, SubnetId=sid)["AssociationId"]
    first = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
    routes = {(r["DestinationCidrBlock"], r["GatewayId"], r["State"]) for r in first["Routes"]}
    assert routes == {("10.83.0.0/16", "local", "active"), ("0.0.0.0/0", igw, "active"),
                      ("192.0.2.0/24", igw, "active")}
    assert [(a["SubnetId"], a["Main"]) for a in first["Associations"]] == [(sid, False)]
    ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sid]}])
    assert ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0] == first
    for cidr in ["0.0.0.0/0", "192.0.2.0/24"]:
        ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock=cidr)
    ec2.disassociate_route_table(AssociationId=aid)
    ec2.delete_route_table(RouteTableId=rtb)
    assert error_of(ec2.describe_route_tables, RouteTableIds=[rtb]) == (
        "InvalidRouteTableID.NotFound", 400)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_subnet(SubnetId=sid)
    ec2.delete_vpc(VpcId=vpc_id)


def test_the_cli_builds_and_tears_down_a_vpc(shared_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()

    def cli(*args):
        r = aws(shared_server, home, "ec2", *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else {}

    vpc_id = cli("create-vpc", "--cidr-block", "10.90.0.0/16")["Vpc"]["VpcId"]
    sid = cli("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.90.1.0/24")["Subnet"][
        "SubnetId"]
    igw = cli("create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    cli("attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc_id)
    rtb = cli("create-route-table", "--vpc-id", vpc_id)["RouteTable"]["RouteTableId"]
    cli("create-route", "--route-table-id", rtb, "--destination-cidr-block", "0.0.0.0/0",
        "--gateway-id", igw)
    aid = cli("associate-route-table", "--route-table-id", rtb, "--subnet-id", sid)[
        "AssociationId"]
    cli("modify-subnet-attribute", "--subnet-id", sid, "--map-public-ip-on-launch")
    cli("modify-vpc-attribute", "--vpc-id", vpc_id, "--enable-dns-hostnames")
    tables = cli("describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}")
    assert len(tables["RouteTables"]) == 2
    assert cli("describe-network-acls", "--filters", f"Name=vpc-id,Values={vpc_id}")[
        "NetworkAcls"][0]["Associations"][0]["SubnetId"] == sid
    r = aws(shared_server, home, "ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block",
            "10.90.1.0/25")
    assert r.returncode != 0 and "InvalidSubnet.Conflict" in r.stderr, r.stderr
    r = aws(shared_server, home, "ec2", "delete-vpc", "--vpc-id", vpc_id)
    assert r.returncode != 0 and "DependencyViolation" in r.stderr, r.stderr
    cli("disassociate-route-table", "--association-id", aid)
    cli("delete-route-table", "--route-table-id", rtb)
    cli("detach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc_id)
    cli("delete-internet-gateway", "--internet-gateway-id", igw)
    cli("delete-subnet", "--subnet-id", sid)
    cli("delete-vpc", "--vpc-id", vpc_id)
    r = aws(shared_server, home, "ec2", "describe-vpcs", "--vpc-ids", vpc_id)
    assert r.returncode != 0 and "InvalidVpcID.NotFound" in r.stderr, r.stderr


def test_subnet_addresses_never_repeat(ec2, ami):
    vpc_id = new_vpc(ec2, "10.91.0.0/16")
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.91.0.0/28")["Subnet"]["SubnetId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=ami, InstanceType="t3.nano", MinCount=11, MaxCount=11, SubnetId=sid)["Instances"]]
    nis = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [sid]}])["NetworkInterfaces"]
    got = sorted(ipaddress.ip_address(n["PrivateIpAddress"]) for n in nis)
    assert got == [ipaddress.ip_address(f"10.91.0.{n}") for n in range(4, 15)]
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["AvailableIpAddressCount"] == 0
    code, status = error_of(ec2.run_instances, ImageId=ami, InstanceType="t3.nano", MinCount=1,
                            MaxCount=1, SubnetId=sid)
    assert (code, status) == ("InsufficientFreeAddressesInSubnet", 400)
    # Nothing half-made: the subnet still holds exactly the eleven instances.
    in_subnet = [i["InstanceId"] for r in ec2.describe_instances(
        Filters=[{"Name": "subnet-id", "Values": [sid]}])["Reservations"] for i in r["Instances"]]
    assert sorted(in_subnet) == sorted(ids)
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids,
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.delete_subnet(SubnetId=sid)
    ec2.delete_vpc(VpcId=vpc_id)
