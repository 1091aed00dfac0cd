"""Tags through the native door with `cs`: createTags and deleteTags are jobs cs polls, listTags
finds them by resource, key and value, instances carry them and the tags[i] filter (OR-ed)
selects by them, and EC2 sees the same tags."""

import pytest

from harness import native_request


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def test_tag_list_filter_and_untag(server, home, boto3_session):
    cs = client(server)
    zone = cs.listZones()["zone"][0]["id"]
    offering = cs.listServiceOfferings(name="t3.micro")["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    a, b = (cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                    templateid=template)["virtualmachine"] for _ in range(2))

    done = cs.createTags(resourceids=f"{a['id']},{b['id']}", resourcetype="UserVm",
                         tags=[{"key": "env", "value": "prod"}])
    assert done == {"success": True}
    cs.createTags(resourceids=b["id"], resourcetype="UserVm",
                  tags=[{"key": "team", "value": "web"}])

    tags = cs.listTags(resourceid=b["id"])
    assert sorted((t["key"], t["value"]) for t in tags["tag"]) == [("env", "prod"),
                                                                   ("team", "web")]
    assert all(t["resourcetype"] == "UserVm" for t in tags["tag"])
    assert cs.listTags(key="team")["count"] == 1

    vm = cs.listVirtualMachines(id=b["id"])["virtualmachine"][0]
    assert sorted(t["key"] for t in vm["tags"]) == ["env", "team"]
    by_tag = cs.listVirtualMachines(tags=[{"key": "team", "value": "web"}])
    assert [v["id"] for v in by_tag["virtualmachine"]] == [b["id"]]
    either = cs.listVirtualMachines(tags=[{"key": "team", "value": "web"},
                                          {"key": "env", "value": "prod"}])
    assert either["count"] == 2

    ec2 = boto3_session(server, home).client("ec2")
    seen = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]
    assert [t["Value"] for t in seen] == ["web"]

    assert cs.deleteTags(resourceids=b["id"], resourcetype="UserVm",
                         tags=[{"key": "env"}]) == {"success": True}
    assert [t["key"] for t in cs.listTags(resourceid=b["id"])["tag"]] == ["team"]

    # A template carries its tags, and listTemplates' tag filter finds it by them.
    cs.createTags(resourceids=template, resourcetype="Template",
                  tags=[{"key": "os", "value": "linux"}])
    found = cs.listTemplates(templatefilter="executable", tags=[{"key": "os", "value": "linux"}])
    assert [t["id"] for t in found["template"]] == [template]
    assert [(t["key"], t["value"], t["resourcetype"]) for t in found["template"][0]["tags"]] == [
        ("os", "linux", "Template")]
    assert cs.listTemplates(templatefilter="executable",
                            tags=[{"key": "os", "value": "windows"}]) == {}
    cs.deleteTags(resourceids=template, resourcetype="Template", tags=[{"key": "os"}])


def test_bad_tag_requests(server):
    import uuid

    gone = str(uuid.uuid4())
    r = native_request(server, "createTags", server.access_key, server.secret_key,
                       resourceids=gone, resourcetype="UserVm",
                       **{"tags[0].key": "k", "tags[0].value": "v"})
    assert r.status_code == 431 and "resourceids" in r.text
    r = native_request(server, "createTags", server.access_key, server.secret_key,
                       resourceids=gone, resourcetype="Spaceship",
                       **{"tags[0].key": "k", "tags[0].value": "v"})
    assert r.status_code == 431 and "Spaceship" in r.text
    r = native_request(server, "createTags", server.access_key, server.secret_key,
                       resourceids=gone, resourcetype="UserVm")
    assert r.status_code == 431 and "missing parameter tags" in r.text
