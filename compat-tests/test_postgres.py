"""`cirrus serve --database-url postgres://...`: the same cloud on PostgreSQL, reused by a second
start, with the data directory holding only files. Needs CIRRUS_TEST_POSTGRES_URL (scripts/test
starts a throwaway cluster and sets it); skipped without it, except in CI, where it must be set.
"""

import json

from harness import aws, cs_cli, require_postgres

pytestmark = require_postgres()


def test_serve_on_postgres_and_reuse_it(make_server, database_url, home, tmp_path):
    server = make_server(database_url=database_url).start()
    assert not server.file("cirrus.db").exists(), "a SQLite file was made beside PostgreSQL"
    keys = (server.access_key, server.secret_key)
    password = server.admin_password
    assert server.stop() == 0

    # Same data directory: everything reused.
    again = make_server(database_url=database_url, data_dir=server.data_dir).start()
    assert (again.access_key, again.secret_key) == keys
    assert again.admin_password == password
    assert "new cloud created" not in again.stderr()
    assert again.stop() == 0

    # A new data directory on the same database: the cloud is the database's, so the same keys
    # are written there too, and no new admin password is made.
    other = make_server(database_url=database_url, data_dir=tmp_path / "other").start()
    assert (other.access_key, other.secret_key) == keys
    assert "new cloud created" not in other.stderr()


def test_clients_work_against_a_postgres_backed_server(make_server, database_url, home):
    server = make_server(database_url=database_url).start()
    r = aws(server, home, "ec2", "describe-instances")
    assert r.returncode == 0, r.stderr
    r = aws(server, home, "sts", "get-caller-identity")
    assert r.returncode == 0, r.stderr
    first = json.loads(cs_cli(server, home, "listZones").stdout or "{}")
    ids = sorted(z["id"] for z in first.get("zone", []))
    assert ids, first
    assert server.stop() == 0

    again = make_server(database_url=database_url, data_dir=server.data_dir).start()
    zones = json.loads(cs_cli(again, home, "listZones").stdout or "{}")
    assert sorted(z["id"] for z in zones.get("zone", [])) == ids
