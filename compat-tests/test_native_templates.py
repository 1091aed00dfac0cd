"""Templates made from volumes and shared, on the native door with the `cs` library:
createTemplate from a stopped virtual machine's root volume (refused while it runs) and from a
snapshot, its async job ending with the ready template, deployVirtualMachine from it, and
updateTemplatePermissions / listTemplatePermissions sharing it with another account, which then
lists it as sharedexecutable and deploys it (and a third account does not). The grants are the
ones EC2 reads as launch permissions."""

from __future__ import annotations

import uuid

import pytest

from harness import boto3_client, native_request, new_account

pytestmark = pytest.mark.timeout(300)
FAST = {"Delay": 1, "MaxAttempts": 30}


def client(server, key=None, secret=None):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=key or server.access_key,
                      secret=secret or server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def raw(server, command, key=None, secret=None, **params):
    r = native_request(server, command, key or server.access_key, secret or server.secret_key,
                       **params)
    return r.status_code, r.json()[f"{command.lower()}response"]


def os_type(cs):
    return next(o["id"] for o in cs.listOsTypes()["ostype"]
                if o["description"] == "Other Linux (64-bit)")


def deploy(cs, template):
    zone = cs.listZones()["zone"][0]["id"]
    offering = next(o for o in cs.listServiceOfferings()["serviceoffering"]
                    if o["name"] == "t3.micro")["id"]
    return cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                   templateid=template)["virtualmachine"]


def test_create_template_deploy_and_share(server):
    cs = client(server)
    base = cs.listTemplates(templatefilter="featured")["template"][0]["id"]
    vm = deploy(cs, base)
    root = cs.listVolumes(virtualmachineid=vm["id"], type="ROOT")["volume"][0]

    # CloudStack makes templates of stopped machines' volumes only.
    status, body = raw(server, "createTemplate", name="golden", displaytext="golden",
                       ostypeid=os_type(cs), volumeid=root["id"])
    assert status == 431 and "stopped" in body["errortext"], body
    cs.stopVirtualMachine(id=vm["id"])
    made = cs.createTemplate(name="from-volume", displaytext="made of a root volume",
                             ostypeid=os_type(cs), volumeid=root["id"])["template"]
    assert made["isready"] is True and made["status"] == "Download Complete"
    assert made["name"] == "from-volume" and made["ostypename"] == "Other Linux (64-bit)"
    assert made["hypervisor"] == "Simulator", "a simulated machine's template stays simulated"
    assert made["ispublic"] is False
    mine = cs.listTemplates(templatefilter="self")["template"]
    assert made["id"] in {t["id"] for t in mine}
    # The volume was snapshotted for it, through the same snapshots EC2 lists.
    snaps = cs.listSnapshots(volumeid=root["id"])["snapshot"]
    assert len(snaps) == 1

    # From a snapshot too, then a machine of each.
    from_snapshot = cs.createTemplate(name="from-snapshot", ostypeid=os_type(cs),
                                      snapshotid=snaps[0]["id"])["template"]
    assert from_snapshot["isready"] is True and from_snapshot["displaytext"] == "from-snapshot"
    for template in (made["id"], from_snapshot["id"]):
        child = deploy(cs, template)
        assert child["state"] == "Running" and child["templateid"] == template

    # Shared with one account of the domain: it lists and deploys it; a third does not.
    friend, fkey, fsecret = new_account(server)
    _, skey, ssecret = new_account(server)
    theirs, stranger = client(server, fkey, fsecret), client(server, skey, ssecret)
    assert cs.listTemplatePermissions(id=made["id"])["templatepermission"]["account"] == []
    assert cs.updateTemplatePermissions(id=made["id"], accounts=friend, op="add") == {
        "success": "true"}
    perms = cs.listTemplatePermissions(id=made["id"])["templatepermission"]
    assert perms["id"] == made["id"] and perms["account"] == [friend]
    assert perms["ispublic"] is False
    shared = theirs.listTemplates(templatefilter="sharedexecutable").get("template", [])
    assert [t["id"] for t in shared] == [made["id"]]
    assert deploy(theirs, made["id"])["state"] == "Running"
    assert made["id"] not in {t["id"] for t in
                              stranger.listTemplates(templatefilter="executable")["template"]}
    status, body = raw(server, "deployVirtualMachine", key=skey, secret=ssecret,
                       zoneid=cs.listZones()["zone"][0]["id"], templateid=made["id"],
                       serviceofferingid=vm["serviceofferingid"])
    assert status == 531, body
    status, body = raw(server, "listTemplatePermissions", key=fkey, secret=fsecret,
                       id=made["id"])
    assert status == 531, body

    # The same grant through EC2: the friend's account number is a launch permission.
    ec2 = boto3_client(server, "ec2", server.access_key, server.secret_key)
    ami = next(i for i in ec2.describe_images(Owners=["self"])["Images"]
               if i["Name"] == "from-volume")
    attr = ec2.describe_image_attribute(ImageId=ami["ImageId"], Attribute="launchPermission")
    assert len(attr["LaunchPermissions"]) == 1

    # Public, then reset.
    cs.updateTemplatePermissions(id=made["id"], ispublic="true")
    assert made["id"] in {t["id"] for t in
                          stranger.listTemplates(templatefilter="executable")["template"]}
    cs.updateTemplatePermissions(id=made["id"], op="reset")
    perms = cs.listTemplatePermissions(id=made["id"])["templatepermission"]
    assert perms["ispublic"] is False and perms["account"] == []
    assert theirs.listTemplates(templatefilter="sharedexecutable") == {}


def test_create_template_errors(server):
    cs = client(server)
    gone = str(uuid.uuid4())
    status, body = raw(server, "createTemplate", name="x", ostypeid=os_type(cs), snapshotid=gone)
    assert status == 431 and "snapshotid" in body["errortext"], body
    status, body = raw(server, "createTemplate", name="x", ostypeid=os_type(cs), volumeid=gone)
    assert status == 431 and "volumeid" in body["errortext"], body
    status, body = raw(server, "createTemplate", name="x", ostypeid=gone, volumeid=gone)
    assert status == 431 and "ostypeid" in body["errortext"], body
    status, body = raw(server, "createTemplate", name="x", ostypeid=os_type(cs))
    assert status == 431 and "volume id or a snapshot id" in body["errortext"], body
    status, body = raw(server, "createTemplate", name="x", ostypeid=os_type(cs),
                       virtualmachineid=gone)
    assert status == 431 and "bare-metal" in body["errortext"], body
    status, body = raw(server, "updateTemplatePermissions", id=gone, accounts="a", op="add")
    assert status == 431 and "id" in body["errortext"], body
    template = cs.listTemplates(templatefilter="self")["template"][0]["id"]
    status, body = raw(server, "updateTemplatePermissions", id=template, accounts="nobody",
                       op="add")
    assert status == 431 and "nobody" in body["errortext"], body
    status, body = raw(server, "updateTemplatePermissions", id=template, accounts="a",
                       op="share")
    assert status == 431, body
    assert cs.listTemplates(templatefilter="self")["count"] == 1, "nothing was made"
