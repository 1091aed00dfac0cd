"""The native door's schema and wire shapes: `listApis` has exactly the JSON types cmk asserts,
the dispatcher serves what `listApis` lists (and nothing it does not list), golden JSON fixtures
per response shape (fixtures/native/golden/, normalized like the EC2 ones, rewritten with
`CIRRUS_UPDATE_GOLDEN=1`), and signatures over values with `*`, `~`, spaces, `+`, `[]` and
unicode in each client's spelling (Java's URLEncoder, `cs`, libcloud) against a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from urllib.parse import quote

import pytest
import requests

from golden import ID, MAC, Numbering, compare, same_shape_time
from harness import REPO, Server, native_request

pytestmark = pytest.mark.timeout(300)

GOLDEN = REPO / "fixtures" / "native" / "golden"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGATO2/H34GxDoie05eKteDb8N4yScKEpRNYdvLYsQK/ "
              "golden@cirrus")
# The parameter types cmk knows how to complete and convert.
CMK_TYPES = {"boolean", "date", "float", "integer", "list", "long", "map", "object", "short",
             "string", "tzdate", "uuid", "uuidlist", "responseobject", "set"}
TRICKY = "a*b~c d+e[f]g café ☁ 雲 100%"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("native-golden") / "data").start()
    yield s
    s.stop()


def call(s: Server, command: str, **params) -> requests.Response:
    return native_request(s, command, s.access_key, s.secret_key, **params)


def ok(s: Server, command: str, **params) -> dict:
    r = call(s, command, **params)
    assert r.status_code == 200, f"{command}: {r.status_code} {r.text}"
    return r.json()


# --- listApis against cmk's types -----------------------------------------------------------------

def list_apis(s: Server) -> list[dict]:
    body = ok(s, "listApis")["listapisresponse"]
    assert isinstance(body["count"], int) and body["count"] == len(body["api"])
    return body["api"]


def test_list_apis_has_the_types_cmk_asserts(srv):
    apis = list_apis(srv)
    assert len(apis) >= 50
    names = [a["name"] for a in apis]
    assert len(names) == len(set(names)), "each command once"
    for api in apis:
        n = api.get("name")
        assert isinstance(n, str) and n, api
        assert isinstance(api["description"], str) and api["description"], n
        assert isinstance(api["isasync"], bool), n
        for opt in ("since", "related"):
            if opt in api:
                assert isinstance(api[opt], str), (n, opt)
        assert isinstance(api["params"], list), n
        seen = set()
        for p in api["params"]:
            where = f"{n}.{p.get('name')}"
            assert isinstance(p["name"], str) and p["name"], where
            assert p["name"].lower() not in seen, f"{where} twice"
            seen.add(p["name"].lower())
            assert isinstance(p["type"], str) and p["type"] in CMK_TYPES, (where, p["type"])
            assert isinstance(p["required"], bool), where
            assert isinstance(p["length"], int) and not isinstance(p["length"], bool), where
            assert isinstance(p["description"], str), where
        assert isinstance(api["response"], list), n
        check_response_fields(n, api["response"])


def check_response_fields(where: str, fields: list):
    for f in fields:
        assert isinstance(f["name"], str) and f["name"], (where, f)
        assert isinstance(f["description"], str), (where, f["name"])
        assert isinstance(f["type"], str), (where, f["name"])
        if "response" in f:
            assert isinstance(f["response"], list), (where, f["name"])
            check_response_fields(f"{where}.{f['name']}", f["response"])


UNKNOWN = "unable to verify user credentials and/or request signature"


# Listed commands whose port method the root does not implement yet, so they answer 432: the
# registry and the served set would disagree there. Empty now; the test fails when one appears.
KNOWN_UNIMPLEMENTED: set[str] = set()


def test_the_dispatcher_serves_exactly_what_list_apis_lists(srv):
    problems = []
    unimplemented = set()
    for api in list_apis(srv):
        name = api["name"]
        required = [p for p in api["params"] if p["required"]]
        if not required and not re.match(r"(list|get|query)", name):
            # No required parameter and not a read: calling it bare would change something.
            continue
        r = call(srv, name)
        if r.status_code == 432:
            unimplemented.add(name)
            continue
        if r.status_code == 401 and UNKNOWN in r.text:
            problems.append(f"{name} is listed but answers as an unknown command: {r.text}")
        elif r.status_code >= 500:
            problems.append(f"{name}: {r.status_code} {r.text}")
        elif required and name != "login":
            text = r.json().get(f"{name.lower()}response", {}).get("errortext", "")
            if r.status_code != 431 or "missing parameter" not in text:
                problems.append(f"{name} without {required[0]['name']}: {r.status_code} {r.text}")
    assert not problems, "\n".join(problems)
    assert unimplemented == KNOWN_UNIMPLEMENTED, (
        f"listed but answering 432: {sorted(unimplemented)}; known: "
        f"{sorted(KNOWN_UNIMPLEMENTED)} (update KNOWN_UNIMPLEMENTED when one is served)")

    listed = {a["name"] for a in list_apis(srv)}
    for real_but_unserved in ("listNetworkACLs", "createVPC", "listLoadBalancerRules"):
        assert real_but_unserved not in listed
        r = call(srv, real_but_unserved)
        assert r.status_code == 432, r.text
        assert real_but_unserved in r.json()[f"{real_but_unserved.lower()}response"]["errortext"]
    for nonsense in ("listZonez", "frobnicate"):
        r = call(srv, nonsense)
        assert r.status_code == 401 and UNKNOWN in r.text, r.text


# --- golden response shapes -------------------------------------------------------------------------

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d{4}|Z)$")
MASKED = {"apikey", "secretkey", "privatekey", "fingerprint", "publickey", "password",
          "sessionkey"}
VARYING = {"created", "lastupdated", "removed"}


def normalize(doc):
    n = Numbering()

    def walk(v, key=""):
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, key) for x in v]
        if isinstance(v, str):
            if key.lower() in MASKED and v:
                return key.upper()
            if UUID.match(v):
                return n("UUID", v.lower())
            if DATE.match(v):
                return same_shape_time(re.match(".*", v))
            # Texts that quote an id or a key, e.g. an error naming the bad value.
            v = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                       lambda m: n("UUID", m.group(0).lower()), v)
            v = re.sub(r"\b\d{12}\b", "ACCOUNT", v)
            v = ID.sub(lambda m: f"{m.group(1)}-{n('ID', m.group(0))}", v)
            v = MAC.sub(lambda m: n("MAC", m.group(0).lower()), v)
            return v
        return v

    return walk(doc)


def golden(name: str, status: int, doc):
    text = json.dumps({"status": status, "body": normalize(doc)}, indent=1, ensure_ascii=False)
    compare(GOLDEN / f"{name}.json", text + "\n", f"the native fixture {name}")


@pytest.fixture(scope="module")
def shapes(srv):
    """The bodies of one deterministic scenario, by fixture name."""
    out: dict[str, tuple[int, dict]] = {}

    def keep(fixture, command, **params):
        r = call(srv, command, **params)
        out[fixture] = (r.status_code, r.json())
        return r.json()

    def wait_for(job):
        for _ in range(120):
            if call(srv, "queryAsyncJobResult", jobid=job).json()[
                    "queryasyncjobresultresponse"]["jobstatus"] != 0:
                return
            time.sleep(0.25)

    zone = keep("listZones", "listZones")["listzonesresponse"]["zone"][0]["id"]
    # One offering by name: the catalogue's order follows creation times, which vary by run.
    offering = keep("listServiceOfferings", "listServiceOfferings", name="t3.micro")[
        "listserviceofferingsresponse"]["serviceoffering"][0]["id"]
    templates = keep("listTemplates", "listTemplates", templatefilter="featured")[
        "listtemplatesresponse"]["template"]
    template = templates[0]["id"]
    keep("registerSSHKeyPair", "registerSSHKeyPair", name="golden", publickey=PUBLIC_KEY)
    keep("listSSHKeyPairs", "listSSHKeyPairs", name="golden")
    deployed = keep("deployVirtualMachine", "deployVirtualMachine", zoneid=zone,
                    serviceofferingid=offering, templateid=template, name="golden-vm",
                    displayname="golden vm", keypair="golden")["deployvirtualmachineresponse"]
    job = deployed["jobid"]
    wait_for(job)
    keep("queryAsyncJobResult", "queryAsyncJobResult", jobid=job)
    vm = deployed["id"]
    keep("listVirtualMachines", "listVirtualMachines", id=vm)
    tagged = call(srv, "createTags", resourceids=vm, resourcetype="UserVm",
                  **{"tags[0].key": "env", "tags[0].value": "golden"}).json()
    wait_for(tagged["createtagsresponse"]["jobid"])
    keep("listTags", "listTags", resourceid=vm)
    keep("listAccounts", "listAccounts")

    def job_of(fixture, command, **params):
        """Submits a command, keeps its submission, then its finished job under `fixture`."""
        submitted = keep(command, command, **params)[f"{command.lower()}response"]
        wait_for(submitted["jobid"])
        keep(fixture, "queryAsyncJobResult", jobid=submitted["jobid"])
        return submitted

    small = call(srv, "listDiskOfferings", name="Small").json()[
        "listdiskofferingsresponse"]["diskoffering"][0]["id"]
    volume = job_of("queryAsyncJobResult-createVolume", "createVolume", name="golden-data",
                    zoneid=zone, diskofferingid=small)["id"]
    job_of("queryAsyncJobResult-attachVolume", "attachVolume", id=volume, virtualmachineid=vm)
    keep("listVolumes", "listVolumes", id=volume)
    job_of("queryAsyncJobResult-failedJob", "attachVolume", id=volume, virtualmachineid=vm)
    keep("error-volume-attached", "deleteVolume", id=volume)
    snapshot = job_of("queryAsyncJobResult-createSnapshot", "createSnapshot", volumeid=volume,
                      name="golden-snapshot")["id"]
    keep("listSnapshots", "listSnapshots", id=snapshot)
    wait_for(call(srv, "detachVolume", id=volume).json()["detachvolumeresponse"]["jobid"])
    keep("deleteVolume", "deleteVolume", id=volume)
    keep("emptyList", "listVirtualMachines", name="no-such-vm")
    keep("error-invalid-id", "listVirtualMachines", id="0b6a1f44-6b0c-4c9e-9d1c-2c2a5c9e0f11")
    keep("error-missing-parameter", "deployVirtualMachine", zoneid=zone)
    keep("error-not-served", "listNetworkACLs")
    r = native_request(srv, "listZones", srv.access_key, srv.secret_key[:-1] + "x")
    out["error-bad-signature"] = (r.status_code, r.json())
    return out


SHAPES = ["listZones", "listServiceOfferings", "listTemplates", "registerSSHKeyPair",
          "listSSHKeyPairs", "deployVirtualMachine", "queryAsyncJobResult", "listVirtualMachines",
          "listTags", "listAccounts", "emptyList", "error-invalid-id",
          "error-missing-parameter", "error-not-served", "error-bad-signature",
          "createVolume", "queryAsyncJobResult-createVolume", "attachVolume",
          "queryAsyncJobResult-attachVolume", "listVolumes", "queryAsyncJobResult-failedJob",
          "error-volume-attached", "createSnapshot", "queryAsyncJobResult-createSnapshot",
          "listSnapshots", "deleteVolume"]


@pytest.mark.parametrize("name", SHAPES)
def test_golden_shape(shapes, name):
    status, doc = shapes[name]
    if name.startswith("error-"):
        (envelope,) = doc.values()
        assert envelope["errorcode"] == status, doc
        assert isinstance(envelope["errortext"], str) and isinstance(envelope["uuidList"], list)
    else:
        assert status == 200, doc
    golden(name, status, doc)


def test_every_native_fixture_is_produced():
    stale = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in SHAPES)
    assert not stale, f"native fixtures that no test writes (delete them): {stale}"


# --- signatures in each client's spelling --------------------------------------------------------

def java_signature(params: dict, secret: str) -> str:
    """URLEncoder's spelling: `*` kept, `~` as %7E, space as %20; sorted as sent; lowercased."""
    text = "&".join(f"{k}={quote(str(v), safe='*').replace('~', '%7E')}"
                    for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(secret.encode(), text.lower().encode(),
                                     hashlib.sha1).digest()).decode()


def cs_style_signature(params: dict, secret: str) -> str:
    """`cs` and cmk: like Java's but `~` left raw."""
    text = "&".join(f"{k}={quote(str(v), safe='*')}" for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(secret.encode(), text.lower().encode(),
                                     hashlib.sha1).digest()).decode()


def libcloud_signature(params: dict, secret: str) -> str:
    """Apache Libcloud's own signing function (names lowercased then sorted, `[]` raw)."""
    pytest.importorskip("libcloud")
    from libcloud.common.cloudstack import CloudStackConnection

    holder = type("Holder", (), {"key": secret})()
    return CloudStackConnection._make_signature(holder, dict(params)).decode()


SIGNERS = {"java": java_signature, "cs-style": cs_style_signature,
           "libcloud": libcloud_signature}


@pytest.mark.parametrize("signer", sorted(SIGNERS))
@pytest.mark.parametrize("value", ["plain", "star*", "tilde~", "two words", "plus+sign",
                                   "[brackets]", "unicode café ☁ 雲", TRICKY])
def test_signatures_of_each_client_variant(srv, signer, value):
    params = {"command": "listVirtualMachines", "response": "json", "apiKey": srv.access_key,
              "keyword": value, "tags[0].key": "k" + value, "tags[0].value": value,
              "listAll": "true"}
    params["signature"] = SIGNERS[signer](params, srv.secret_key)
    r = requests.get(srv.url + "/client/api", params=params, timeout=20)
    assert r.status_code == 200, f"{signer} {value!r}: {r.text}"
    assert "listvirtualmachinesresponse" in r.json()
    params["signature"] = SIGNERS[signer]({**params, "keyword": value + "x"}, srv.secret_key)
    r = requests.get(srv.url + "/client/api", params=params, timeout=20)
    assert r.status_code == 401, f"{signer} {value!r}: a signature of other values passed"


def test_the_cs_client_itself_with_tricky_values(srv):
    from cs import CloudStack

    cs = CloudStack(endpoint=srv.url + "/client/api", key=srv.access_key,
                    secret=srv.secret_key, timeout=20)
    got = cs.listVirtualMachines(keyword=TRICKY, tags=[{"key": "k~*", "value": TRICKY}],
                                 listall="true")
    assert got == {}
