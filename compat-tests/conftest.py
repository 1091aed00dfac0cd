"""Fixtures of the compat suites; the machinery itself is in harness.py."""

from __future__ import annotations

import itertools
import pathlib
import subprocess
import uuid

import pytest

from harness import POSTGRES_URL, Server, clean_environment, psql, with_database


def pytest_configure(config):
    clean_environment()


@pytest.fixture
def make_server(tmp_path):
    """Makes servers on data directories under the test's tmp_path; stops them all at the end."""
    servers: list[Server] = []
    counter = itertools.count()

    def make(*args: str, data_dir: pathlib.Path | None = None, **kw) -> Server:
        d = data_dir or tmp_path / f"data{next(counter)}"
        s = Server(d, *args, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def server(make_server) -> Server:
    """A fresh, running server of the test's own."""
    return make_server().start()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory) -> Server:
    """One running server for a whole module of read-only checks."""
    s = Server(tmp_path_factory.mktemp("shared") / "data").start()
    yield s
    s.stop()


@pytest.fixture
def home(tmp_path) -> pathlib.Path:
    """An empty HOME and working directory for client processes."""
    h = tmp_path / "home"
    h.mkdir(exist_ok=True)
    return h


@pytest.fixture
def boto3_session(monkeypatch):
    """Makes a boto3 session on a server's written profile, as a user would (env variables)."""
    import boto3

    def make(server: Server, home: pathlib.Path):
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(server.file("aws/config")))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(server.file("aws/credentials")))
        return boto3.Session()

    return make




@pytest.fixture
def database_url():
    """A fresh, empty database of the test's own on the test cluster (CIRRUS_TEST_POSTGRES_URL;
    a module that uses this is marked with harness.require_postgres())."""
    name = f"compat_{uuid.uuid4().hex[:12]}"
    subprocess.run([psql(), POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-qc",
                    f'CREATE DATABASE "{name}"'], check=True, capture_output=True, timeout=60)
    yield with_database(POSTGRES_URL, name)
    subprocess.run([psql(), POSTGRES_URL, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                   capture_output=True, timeout=60)
