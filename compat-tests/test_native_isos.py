"""ISO images on the native door with the `cs` library: an ISO served on loopback is registered,
downloads to ready, is listed through isofilter and the other filters, attached to a simulated
instance (listVirtualMachines shows it), refused a second time and refused deletion while
attached, detached and deleted; a URL that 404s and a file that is not an ISO 9660 image fail
with a status that says why and leave nothing behind."""

from __future__ import annotations

import functools
import http.server
import threading
import time

import pytest

from harness import Server, free_port

pytestmark = pytest.mark.timeout(300)


def iso9660(label: bytes = b"CIRRUS") -> bytes:
    """A minimal ISO 9660 image: 16 empty system sectors, a primary volume descriptor and a
    set terminator (what a reader checks first)."""
    sector = 2048
    pvd = bytearray(sector)
    pvd[0] = 1
    pvd[1:6] = b"CD001"
    pvd[6] = 1
    pvd[40:72] = label.ljust(32)
    end = bytearray(sector)
    end[0] = 255
    end[1:6] = b"CD001"
    end[6] = 1
    return bytes(16 * sector) + bytes(pvd) + bytes(end)


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "tools.iso").write_bytes(iso9660())
    (root / "notes.iso").write_text("a text file named like an ISO\n" * 2000)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    base = tmp_path_factory.mktemp("isos")
    config = base / "cirrus.toml"
    # The test serves its ISOs on loopback, which a cloud refuses unless told.
    config.write_text("[templates]\nallow_loopback_urls = true\n")
    s = Server(base / "d", "--config", str(config)).start()
    yield s
    s.stop()


def client(server):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=server.access_key,
                      secret=server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def api_error(call, **params):
    from cs import CloudStackApiException

    with pytest.raises(CloudStackApiException) as e:
        call(**params)
    return e.value.error["errorcode"], e.value.error["errortext"]


def a_vm(cs, zone):
    """A running simulated instance: the first one listed, or a new one."""
    listed = cs.listVirtualMachines(state="Running")
    if listed:
        return listed["virtualmachine"][0]
    offering = cs.listServiceOfferings(name="t3.micro")["serviceoffering"][0]["id"]
    template = cs.listTemplates(templatefilter="executable")["template"][0]["id"]
    return cs.deployVirtualMachine(zoneid=zone, serviceofferingid=offering,
                                   templateid=template)["virtualmachine"]


def settled(cs, iso_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        iso = cs.listIsos(isofilter="self", id=iso_id)["iso"][0]
        if not iso["status"].endswith("Downloaded"):
            return iso
        time.sleep(0.2)
    raise AssertionError(f"ISO {iso_id} still downloading")


def test_register_list_attach_detach_delete(srv, www):
    cs = client(srv)
    zone = cs.listZones()["zone"][0]["id"]
    ostype = cs.listOsTypes()["ostype"][0]
    iso = cs.registerIso(name="tools", displaytext="Guest tools", url=f"{www}/tools.iso",
                         zoneid=zone, ostypeid=ostype["id"])["iso"][0]
    assert iso["isready"] is False and iso["format"] == "ISO" and iso["bootable"] is True
    ready = settled(cs, iso["id"])
    assert ready["isready"] is True and ready["status"] == "Download Complete", ready
    assert ready["size"] == len(iso9660()) and ready["ostypeid"] == ostype["id"]
    assert not srv.file("template-staging").exists() or not any(
        srv.file("template-staging").iterdir())

    # Filters: the default (selfexecutable) and the others a client combines.
    assert [i["id"] for i in cs.listIsos()["iso"]] == [iso["id"]]
    assert cs.listIsos(isofilter="featured") == {}
    assert cs.listIsos(isofilter="executable", bootable=False) == {}
    assert cs.listIsos(isofilter="self", ispublic=True) == {}
    assert cs.listIsos(isofilter="all", keyword="TOOLS", zoneid=zone)["count"] == 1
    assert cs.listIsos(isofilter="self", name="other") == {}
    assert api_error(cs.listIsos, isofilter="mine")[0] == 431
    assert api_error(cs.listIsos, id="00000000-0000-0000-0000-000000000000")[0] == 431
    # An ISO is not a template.
    templates = cs.listTemplates(templatefilter="self").get("template", [])
    assert iso["id"] not in [t["id"] for t in templates]

    vm = a_vm(cs, zone)
    assert "isoid" not in vm

    attached = cs.attachIso(id=iso["id"], virtualmachineid=vm["id"])["virtualmachine"]
    assert (attached["isoid"], attached["isoname"], attached["isodisplaytext"]) == \
        (iso["id"], "tools", "Guest tools")
    listed = cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]
    assert listed["isoid"] == iso["id"] and listed["state"] == "Running"

    code, text = api_error(cs.attachIso, id=iso["id"], virtualmachineid=vm["id"])
    assert code == 431 and "already has the ISO" in text, text
    code, text = api_error(cs.deleteIso, id=iso["id"])
    assert (code, text) == (431, "Unable to delete ISO, as it's used by other instances")

    detached = cs.detachIso(virtualmachineid=vm["id"])["virtualmachine"]
    assert "isoid" not in detached
    assert "isoid" not in cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]
    code, text = api_error(cs.detachIso, virtualmachineid=vm["id"])
    assert (code, text) == (431, "The specified instance has no ISO attached to it.")

    # A stopped instance keeps its ISO for its next start.
    cs.stopVirtualMachine(id=vm["id"])
    cs.attachIso(id=iso["id"], virtualmachineid=vm["id"])
    started = cs.startVirtualMachine(id=vm["id"])["virtualmachine"]
    assert started["state"] == "Running" and started["isoid"] == iso["id"]
    cs.detachIso(virtualmachineid=vm["id"])

    renamed = cs.updateIso(id=iso["id"], name="tools-2", bootable=False)["iso"]
    assert (renamed["name"], renamed["bootable"]) == ("tools-2", False)
    assert cs.deleteIso(id=iso["id"]) == {"success": True}
    assert cs.listIsos(isofilter="self") == {}
    assert not srv.file(f"template-cache/{iso['id']}.iso").exists()
    code, _ = api_error(cs.attachIso, id=iso["id"], virtualmachineid=vm["id"])
    assert code == 431


def test_a_404_and_a_file_that_is_not_an_iso_fail_clearly(srv, www):
    cs = client(srv)
    zone = cs.listZones()["zone"][0]["id"]
    for name, path, says in [("missing", "/missing.iso", "404"),
                             ("notes", "/notes.iso", "not an ISO 9660 image")]:
        iso = cs.registerIso(name=name, url=f"{www}{path}", zoneid=zone)["iso"][0]
        ended = settled(cs, iso["id"])
        assert ended["isready"] is False and says in ended["status"], ended
        assert not srv.file(f"template-cache/{iso['id']}.iso").exists()
        code, text = api_error(cs.attachIso, id=iso["id"], virtualmachineid=a_vm(cs, zone)["id"])
        assert code == 431 and "not ready" in text, text
        cs.deleteIso(id=iso["id"])
    assert api_error(cs.registerIso, name="x", url=f"{www}/tools.iso",
                     zoneid="00000000-0000-0000-0000-000000000000")[0] == 431
    code, text = api_error(cs.registerIso, name="x", url="ftp://127.0.0.1/x.iso", zoneid=zone)
    assert code == 431, text
    assert cs.listIsos(isofilter="self") == {}
