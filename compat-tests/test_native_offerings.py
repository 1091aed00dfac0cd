"""Offering administration through the native door with `cs`: the root admin creates, renames
and deletes service and disk offerings; an offering in use is refused with 536; users may not
create offerings at all."""

import re

import pytest

from harness import native_request, run_cirrus


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def test_service_offering_lifecycle(server):
    from cs import CloudStackApiException

    cs = client(server)
    made = cs.createServiceOffering(name="c9.huge", displaytext="Huge", cpunumber=2,
                                    cpuspeed=2500, memory=512)["serviceoffering"]
    assert (made["cpunumber"], made["cpuspeed"], made["memory"]) == (2, 2500, 512)
    listed = cs.listServiceOfferings(id=made["id"])["serviceoffering"]
    assert [o["name"] for o in listed] == ["c9.huge"]

    renamed = cs.updateServiceOffering(id=made["id"], name="c9.big")["serviceoffering"]
    assert renamed["name"] == "c9.big" and renamed["displaytext"] == "Huge"

    with pytest.raises(CloudStackApiException) as e:
        cs.createServiceOffering(name="c9.big", cpunumber=1, memory=64)
    assert e.value.error["errorcode"] == 535

    zone = cs.listZones()["zone"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    vm = cs.deployVirtualMachine(zoneid=zone, serviceofferingid=made["id"],
                                 templateid=template)["virtualmachine"]
    r = native_request(server, "deleteServiceOffering", server.access_key, server.secret_key,
                       id=made["id"])
    assert r.status_code == 536, r.text
    cs.destroyVirtualMachine(id=vm["id"], expunge="true")
    assert cs.deleteServiceOffering(id=made["id"]) == {"success": "true"}
    assert cs.listServiceOfferings(name="c9.big") == {}


def test_disk_offering_lifecycle(server):
    cs = client(server)
    fixed = cs.createDiskOffering(name="disk-7", disksize=7)["diskoffering"]
    assert (fixed["disksize"], fixed["iscustomized"]) == (7, False)
    custom = cs.createDiskOffering(name="disk-any", customized="true")["diskoffering"]
    assert custom["iscustomized"] is True
    assert cs.deleteDiskOffering(id=fixed["id"]) == {"success": "true"}
    names = [o["name"] for o in cs.listDiskOfferings()["diskoffering"]]
    assert "disk-any" in names and "disk-7" not in names
    r = native_request(server, "createDiskOffering", server.access_key, server.secret_key,
                       name="disk-x")
    assert r.status_code == 431 and "Disk size" in r.text


def test_users_may_not_create_offerings(server):
    run = lambda *a: run_cirrus("admin", "--data-dir", str(server.data_dir), *a)  # noqa: E731
    assert run("account", "create", "dev", "--role", "user").returncode == 0
    assert run("user", "create", "bob", "--account", "dev").returncode == 0
    key = run("key", "create", "--user", "bob").stdout
    access = re.search(r"access_key: (\S+)", key).group(1)
    secret = re.search(r"secret_key: (\S+)", key).group(1)
    r = native_request(server, "createServiceOffering", access, secret, name="x", cpunumber=1,
                       memory=64)
    assert r.status_code == 401
