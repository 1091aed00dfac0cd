"""First run: what a new user sees when they start `cirrus serve` on an empty directory."""

import json
import re
import stat

from harness import cs_cli, requests


def test_health_answers_within_two_seconds_of_launch(make_server):
    server = make_server().launch()
    seconds = server.wait_healthy(timeout=10)
    assert seconds < 2.0, f"health answered {seconds:.2f}s after launch"
    r = requests.get(server.url + "/_cirrus/health", timeout=5)
    assert r.status_code == 200
    assert r.headers.get("x-request-id")


def test_written_files_are_private_and_complete(server):
    for relative in ["aws/config", "aws/credentials", "cloudstack.ini", "admin-password"]:
        mode = stat.S_IMODE(server.file(relative).stat().st_mode)
        assert mode == 0o600, f"{relative} has mode {mode:o}"

    config = server.ini("aws/config")["default"]
    assert config["region"] == "us-east-1"
    assert config["endpoint_url"] == server.url
    assert "ca_bundle" not in config

    credentials = server.ini("aws/credentials")["default"]
    assert re.fullmatch(r"[A-Z0-9]{16,128}", credentials["aws_access_key_id"])
    assert len(credentials["aws_secret_access_key"]) >= 40

    cs = server.ini("cloudstack.ini")["cloudstack"]
    assert cs["endpoint"] == server.url + "/client/api"
    assert cs["key"] == credentials["aws_access_key_id"], "one key pair for every door"
    assert cs["secret"] == credentials["aws_secret_access_key"]

    password = server.admin_password
    assert len(password) >= 12 and "\n" not in password


def test_start_prints_one_line_saying_where_the_files_are(server):
    lines = [line for line in server.stdout().splitlines() if line.strip()]
    where = [line for line in lines if str(server.data_dir) in line]
    assert len(where) == 1, server.stdout()
    for name in ["aws/config", "aws/credentials", "cloudstack.ini", "admin-password"]:
        assert name in where[0]


def test_data_directory_layout(server):
    for sub in ["blobs", "primary", "instances", "aws"]:
        assert server.file(sub).is_dir(), sub
    assert server.file("cirrus.db").is_file()
    assert server.file("cirrus.lock").is_file()


def test_region_and_zone_are_configurable(make_server):
    server = make_server("--region", "eu-west-3", "--zone", "eu-west-3b").start()
    assert server.ini("aws/config")["default"]["region"] == "eu-west-3"


def test_second_start_reuses_keys_and_adds_nothing(make_server):
    server = make_server().start()
    files = {p: server.file(p).read_bytes()
             for p in ["aws/config", "aws/credentials", "cloudstack.ini", "admin-password"]}
    assert server.stop() == 0
    before = snapshot(server)

    again = make_server(data_dir=server.data_dir).start()
    assert "new cloud created" not in again.stderr()
    for path in ["aws/credentials", "admin-password"]:
        assert server.file(path).read_bytes() == files[path], f"{path} changed on restart"
    assert again.access_key == server.access_key
    assert again.stop() == 0
    assert snapshot(server) == before, "a second start changed ids or added rows"


def test_second_start_keeps_zone_ids(make_server, home):
    server = make_server().start()
    first = json.loads(cs_cli(server, home, "listZones").stdout or "{}")
    first_ids = sorted(z["id"] for z in first.get("zone", []))
    assert first_ids, f"listZones returned no zone: {first}"
    assert server.stop() == 0

    again = make_server(data_dir=server.data_dir).start()
    zones = json.loads(cs_cli(again, home, "listZones").stdout or "{}")
    assert sorted(z["id"] for z in zones.get("zone", [])) == first_ids


# Tables whose rows a restart must leave as they are, by their key column.
STABLE = {
    "domains": "id", "accounts": "id", "users": "id", "api_keys": "access_key", "zones": "id",
    "pods": "id", "clusters": "id", "hosts": "id", "service_offerings": "id",
    "disk_offerings": "id", "templates": "id",
}


def snapshot(server) -> dict:
    """Row counts of every table and the keys of the stable ones, read with the server stopped."""
    import sqlite3

    db = sqlite3.connect(f"file:{server.file('cirrus.db')}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        snap = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        for table, key in STABLE.items():
            snap[f"{table}.{key}"] = sorted(
                r[0] for r in db.execute(f'SELECT "{key}" FROM "{table}"'))
        return snap
    finally:
        db.close()


def test_launch_to_health_is_fast_on_a_second_start_too(make_server):
    server = make_server().start()
    server.stop()
    again = make_server(data_dir=server.data_dir).launch()
    assert again.wait_healthy(timeout=10) < 2.0
