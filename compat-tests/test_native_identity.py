"""Identity administration through the native door with `cs`: the root admin makes a domain, a
domain admin account and a user account in it; the domain admin manages its own tree only; a
user reads its own keys only; disabling an account stops its keys; deletes refuse what is still
in use (536) and run as jobs that cs polls."""

import pytest

from harness import native_request


def client(server, key=None, secret=None):
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=key or server.access_key,
                      secret=secret or server.secret_key, timeout=20, fetch_result=True,
                      poll_interval=0.2, job_timeout=60)


def new_account(cs, name, domainid, accounttype=0):
    return cs.createAccount(username=name, password="pw-" + name, email=f"{name}@example.org",
                            firstname=name.title(), lastname="Test", accounttype=accounttype,
                            domainid=domainid)["account"]


def keys_of(cs, account):
    user = account["user"][0]
    return cs.registerUserKeys(id=user["id"])["userkeys"]


def test_root_domain_admin_and_user(server):
    from cs import CloudStackApiException

    root = client(server)
    eng = root.createDomain(name="eng")["domain"]
    assert eng["path"] == "ROOT/eng" and eng["parentdomainname"] == "ROOT"
    lead = new_account(root, "lead", eng["id"], accounttype=2)
    assert (lead["accounttype"], lead["roletype"], lead["domainpath"]) == \
        (2, "DomainAdmin", "ROOT/eng")
    lead_keys = keys_of(root, lead)
    admin = client(server, lead_keys["apikey"], lead_keys["secretkey"])

    # The domain admin works below its own domain, never above it.
    web = admin.createDomain(name="web")["domain"]
    assert web["path"] == "ROOT/eng/web"
    dev = new_account(admin, "dev", web["id"])
    assert dev["user"][0]["username"] == "dev"
    with pytest.raises(CloudStackApiException) as e:
        admin.createDomain(name="ops", parentdomainid=root.listDomains()["domain"][0]["id"])
    assert e.value.error["errorcode"] == 531
    with pytest.raises(CloudStackApiException):
        new_account(admin, "boss", web["id"], accounttype=1)

    listed = admin.listAccounts(listall="true")
    assert sorted(a["name"] for a in listed["account"]) == ["dev", "lead"]

    # The user reads its own keys; the admin over it reads them too; others get 531.
    dev_keys = keys_of(admin, dev)
    user = client(server, dev_keys["apikey"], dev_keys["secretkey"])
    own = user.getUserKeys(id=dev["user"][0]["id"])["userkeys"]
    assert own == dev_keys
    listed = user.listUsers()["user"]
    assert [(u["username"], u["apikey"]) for u in listed] == [("dev", dev_keys["apikey"])]
    assert "secretkey" not in listed[0]
    r = native_request(server, "getUserKeys", dev_keys["apikey"], dev_keys["secretkey"],
                       id=lead["user"][0]["id"])
    assert r.status_code == 531, r.text
    r = native_request(server, "createAccount", dev_keys["apikey"], dev_keys["secretkey"],
                       username="x", password="x", email="x", firstname="x", lastname="x")
    assert r.status_code == 401

    # Users change their own names; admins rename accounts and domains.
    renamed = user.updateUser(id=dev["user"][0]["id"], firstname="Devon")["user"]
    assert renamed["firstname"] == "Devon"
    assert admin.updateAccount(id=dev["id"], newname="devs")["account"]["name"] == "devs"
    assert admin.updateDomain(id=web["id"], name="www")["domain"]["path"] == "ROOT/eng/www"

    # A disabled account's keys stop working, and work again once it is enabled.
    disabled = admin.disableAccount(id=dev["id"], lock="false")
    assert disabled["account"]["state"] == "disabled"
    r = native_request(server, "listZones", dev_keys["apikey"], dev_keys["secretkey"])
    assert r.status_code == 401
    assert admin.enableAccount(id=dev["id"])["account"]["state"] == "enabled"
    assert user.listZones()["count"] >= 1

    # Deletes refuse what is in use, then run as jobs (which cs polls by itself).
    r = native_request(server, "deleteDomain", lead_keys["apikey"], lead_keys["secretkey"],
                       id=web["id"])
    assert r.status_code == 536, r.text
    assert admin.deleteAccount(id=dev["id"]) == {"success": True}
    r = native_request(server, "deleteDomain", lead_keys["apikey"], lead_keys["secretkey"],
                       id=web["id"])
    assert r.status_code == 200, r.text
    job = native_request(server, "queryAsyncJobResult", server.access_key, server.secret_key,
                         jobid=r.json()["deletedomainresponse"]["jobid"]).json()[
        "queryasyncjobresultresponse"]
    assert (job["jobstatus"], job["jobinstancetype"]) == (1, "Domain")
    assert job["cmd"].endswith("DeleteDomainCmd")
    assert "www" not in [d["name"] for d in root.listDomains(listall="true")["domain"]]


def test_deletes_refuse_what_is_in_use(server):
    root = client(server)
    ops = root.createDomain(name="ops")["domain"]
    acct = new_account(root, "ops1", ops["id"])
    r = native_request(server, "deleteDomain", server.access_key, server.secret_key,
                       id=ops["id"])
    assert r.status_code == 536, r.text
    extra = root.createUser(account="ops1", domainid=ops["id"], username="ops2",
                            password="pw", email="o@example.org", firstname="O",
                            lastname="P")["user"]
    assert root.deleteUser(id=extra["id"]) == {"success": "true"}
    assert root.deleteAccount(id=acct["id"]) == {"success": True}
    assert root.deleteDomain(id=ops["id"]) == {"success": True}
    assert "ops" not in [d["name"] for d in root.listDomains(listall="true")["domain"]]


def test_a_login_works_with_a_created_password(server):
    import requests

    root = client(server)
    domain = root.listDomains()["domain"][0]["id"]
    new_account(root, "carol", domain)
    r = requests.post(server.url + "/client/api",
                      data={"command": "login", "username": "carol", "password": "pw-carol",
                            "response": "json"}, timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["loginresponse"]["username"] == "carol"
    r = requests.post(server.url + "/client/api",
                      data={"command": "login", "username": "carol", "password": "nope",
                            "response": "json"}, timeout=20)
    assert r.status_code == 531
