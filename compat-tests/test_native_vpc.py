"""VPCs through the native door with `cs`: a VPC and subnet made through EC2 are in listVPCs and
listNetworks (the subnet as a tier carrying its vpcid), and an instance launched into the subnet
has its NIC there in listNics."""

from harness import boto3_client


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def test_an_ec2_vpc_and_subnet_are_native_vpc_and_tier(server):
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    cs = client(server)
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    vpcs = cs.listVPCs()["vpc"]
    assert sorted(v["cidr"] for v in vpcs) == ["10.77.0.0/16", "172.31.0.0/16"]
    [mine] = [v for v in vpcs if v["cidr"] == "10.77.0.0/16"]
    tiers = cs.listNetworks(vpcid=mine["id"])["network"]
    assert [(t["cidr"], t["vpcid"], t["name"]) for t in tiers] == [
        ("10.77.1.0/24", mine["id"], sid)]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    iid = ec2.run_instances(ImageId=ami, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                            SubnetId=sid)["Instances"][0]["InstanceId"]
    vm = [v for v in cs.listVirtualMachines()["virtualmachine"] if v["name"] == iid
          or v.get("displayname") == iid or iid in str(v)]
    assert vm, "the instance is in listVirtualMachines"
    [nic] = cs.listNics(virtualmachineid=vm[0]["id"])["nic"]
    assert nic["networkid"] == tiers[0]["id"] and nic["ipaddress"] == "10.77.1.4"
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.delete_subnet(SubnetId=sid)
    ec2.delete_vpc(VpcId=vpc_id)
    assert [v["cidr"] for v in cs.listVPCs()["vpc"]] == ["172.31.0.0/16"]
