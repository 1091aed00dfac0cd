"""The machinery of the compat suites: the real `cirrus serve` binary on a fresh data directory and a
free loopback port, and the real clients (AWS CLI, boto3, cs) pointed at it through nothing but
the configuration files it writes.

A server is started by `Server.start()`, which waits for `GET /_cirrus/health`, and stopped by
its PID with SIGTERM (SIGKILL only if it does not stop in time). Its stdout and stderr go to
files, so a test can read everything it logged. Ports come from CIRRUS_TEST_PORTS (default
18310-18399), split between the xdist workers so two workers never race for one port.
"""

from __future__ import annotations

import configparser
import itertools
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parent.parent
HEALTH_PATH = "/_cirrus/health"

# Variables that would point a client somewhere else than the written configuration, or carry
# credentials of the developer's: the suites must pass on the written files alone.
# CIRRUS_GUEST_IMAGE stays: it names the test guest image the QEMU walk boots, not a client setting.
_FOREIGN_ENV = re.compile(
    r"^(AWS_|BOTO_|CLOUDSTACK_|CIRRUS_(?!TEST_|BIN$|GUEST_IMAGE$|UPDATE_GOLDEN$)|REQUESTS_CA_BUNDLE$"
    r"|CURL_CA_BUNDLE$|HTTPS?_PROXY$|ALL_PROXY$|NO_PROXY$)",
    re.IGNORECASE,
)


def clean_environment():
    """Removes what would steer a client away from the written files (see _FOREIGN_ENV)."""
    for name in list(os.environ):
        if _FOREIGN_ENV.match(name):
            del os.environ[name]
    # Nothing of ours goes through a proxy, whatever the machine says.
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    os.environ["no_proxy"] = "127.0.0.1,localhost"


def cirrus_bin() -> pathlib.Path:
    """The binary under test: CIRRUS_BIN, else target/debug, else target/release."""
    given = os.environ.get("CIRRUS_BIN")
    candidates = [pathlib.Path(given)] if given else [
        REPO / "target" / "debug" / "cirrus",
        REPO / "target" / "release" / "cirrus",
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    pytest.exit(f"no cirrus binary at {', '.join(map(str, candidates))}: run `cargo build` first",
                returncode=3)


# --- ports ------------------------------------------------------------------------------------

def _port_slice() -> list[int]:
    lo, hi = (int(p) for p in os.environ.get("CIRRUS_TEST_PORTS", "18310-18399").split("-"))
    ports = list(range(lo, hi + 1))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker.startswith("gw") else 0
    share = len(ports) // max(count, 1)
    return ports[index * share:(index + 1) * share] or ports


_ports = itertools.cycle(_port_slice())


def free_port() -> int:
    """A loopback port of this worker's share that nothing listens on right now."""
    for _ in range(len(_port_slice())):
        port = next(_ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port left in this worker's share of CIRRUS_TEST_PORTS")


# --- the server -------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Run:
    """A finished command: exit code and output."""

    returncode: int
    stdout: str
    stderr: str


def run_cirrus(*args: str, timeout: float = 60, env: dict | None = None) -> Run:
    """Runs the cirrus binary to completion (an admin command, a refused start, ...)."""
    proc = subprocess.run(
        [str(cirrus_bin()), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else dict(os.environ),
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def new_account(server: "Server", role: str = "user") -> tuple[str, str, str]:
    """A new account with one user and an API key, made with `cirrus admin` on the server's data
    directory: (account name, access key, secret key)."""
    import uuid

    name = f"acct{uuid.uuid4().hex[:8]}"
    for args in (("account", "create", name, "--role", role),
                 ("user", "create", f"{name}-u", "--account", name)):
        r = run_cirrus("admin", "--data-dir", str(server.data_dir), *args)
        assert r.returncode == 0, f"cirrus admin {' '.join(args)}: {r.stderr}"
    r = run_cirrus("admin", "--data-dir", str(server.data_dir), "key", "create", "--user",
                   f"{name}-u")
    assert r.returncode == 0, r.stderr
    return (name, re.search(r"access_key: (\S+)", r.stdout).group(1),
            re.search(r"secret_key: (\S+)", r.stdout).group(1))


_launches = itertools.count(1)


class Server:
    """One `cirrus serve` process on a data directory of the test's own."""

    def __init__(self, data_dir: pathlib.Path, *args: str, tls: tuple | None = None,
                 log: str | None = None, database_url: str | None = None):
        self.data_dir = data_dir
        self.args = list(args)
        self.tls = tls
        self.log = log
        self.database_url = database_url
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.launched_at = 0.0
        self._launch = 0

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def stdout_path(self) -> pathlib.Path:
        return self.data_dir.parent / f"{self.data_dir.name}.{self._launch:03}.stdout"

    @property
    def stderr_path(self) -> pathlib.Path:
        return self.data_dir.parent / f"{self.data_dir.name}.{self._launch:03}.stderr"

    def command(self) -> list[str]:
        cmd = [str(cirrus_bin()), "serve", "--data-dir", str(self.data_dir),
               "--listen", f"127.0.0.1:{self.port}"]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        if self.log:
            cmd += ["--log", self.log]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return cmd + self.args

    def launch(self) -> "Server":
        """Starts the process without waiting for it to be ready."""
        self._launch = next(_launches)
        self.port = free_port()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.launched_at = time.monotonic()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=dict(os.environ))
        self.returncode = None
        return self

    def start(self, timeout: float = 20) -> "Server":
        """Starts the server and waits until its health path answers 200."""
        for _ in range(5):
            self.launch()
            try:
                self.wait_healthy(timeout)
                return self
            except PortTaken:
                continue  # another process took the port between our probe and its bind
        raise RuntimeError("could not find a loopback port the server could bind")

    def health(self, timeout: float = 1.0) -> int | None:
        try:
            r = requests.get(self.url + HEALTH_PATH, timeout=timeout, verify=self.ca_bundle())
            return r.status_code
        except requests.RequestException:
            return None

    def ca_bundle(self):
        return str(self.tls[0]) if self.tls else True

    def wait_healthy(self, timeout: float = 20) -> float:
        """Waits for health 200; answers the seconds since launch."""
        deadline = self.launched_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                if "cannot listen" in self.stderr():
                    raise PortTaken()
                raise AssertionError(
                    f"cirrus serve exited with {self.returncode} before it was healthy:\n"
                    f"{self.stderr()}")
            if self.health(timeout=0.5) == 200:
                return time.monotonic() - self.launched_at
            time.sleep(0.02)
        raise AssertionError(f"cirrus serve was not healthy within {timeout}s:\n{self.stderr()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Stops the server by its PID; answers its exit code."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                raise AssertionError(f"cirrus serve did not stop within {timeout}s of signal {sig}")
        self.returncode = self.proc.returncode
        return self.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return ANSI.sub("", self.stderr_path.read_text(errors="replace")) \
            if self.stderr_path.exists() else ""

    def all_output(self) -> str:
        """Everything every run of this server printed, stdout and stderr, escapes removed."""
        text = []
        for path in sorted(self.data_dir.parent.glob(f"{self.data_dir.name}.*.std*")):
            text.append(ANSI.sub("", path.read_text(errors="replace")))
        return "\n".join(text)

    # --- what it wrote ---

    def file(self, relative: str) -> pathlib.Path:
        return self.data_dir / relative

    def ini(self, relative: str) -> configparser.ConfigParser:
        c = configparser.ConfigParser()
        with open(self.file(relative)) as f:
            c.read_file(f)
        return c

    @property
    def access_key(self) -> str:
        return self.ini("aws/credentials")["default"]["aws_access_key_id"]

    @property
    def secret_key(self) -> str:
        return self.ini("aws/credentials")["default"]["aws_secret_access_key"]

    @property
    def admin_password(self) -> str:
        return self.file("admin-password").read_text().strip()

    def client_env(self, home: pathlib.Path) -> dict:
        """The environment a user would have: the written files and nothing else."""
        env = dict(os.environ)
        env.update(
            HOME=str(home),
            AWS_CONFIG_FILE=str(self.file("aws/config")),
            AWS_SHARED_CREDENTIALS_FILE=str(self.file("aws/credentials")),
            CLOUDSTACK_CONFIG=str(self.file("cloudstack.ini")),
        )
        return env


class PortTaken(Exception):
    pass


# --- clients ----------------------------------------------------------------------------------

VENV_BIN = pathlib.Path(sys.executable).parent


def tool(name: str) -> str:
    """A client command from the test venv, else from PATH."""
    local = VENV_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"the client `{name}` is not installed: run scripts/test to install it")
    return found


def run_client(argv: list[str], env: dict, cwd: pathlib.Path, timeout: float = 60) -> Run:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def aws(server: Server, home: pathlib.Path, *args: str) -> Run:
    """The AWS CLI with only AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE set."""
    return run_client([tool("aws"), *args, "--output", "json"], server.client_env(home), home)


def cs_cli(server: Server, home: pathlib.Path, *args: str) -> Run:
    """The `cs` client with only CLOUDSTACK_CONFIG set."""
    return run_client([tool("cs"), *args], server.client_env(home), home)


def new_user_keys(server: Server, account: str, user: str, role: str = "user") -> tuple:
    """Makes an account with one user through `cirrus admin`; the user's (access, secret) keys."""
    where = ["--data-dir", str(server.data_dir)]
    if server.database_url:
        where += ["--database-url", server.database_url]

    def admin(*args: str) -> Run:
        run = run_cirrus("admin", *where, *args)
        assert run.returncode == 0, run.stderr
        return run

    admin("account", "create", account, "--role", role)
    admin("user", "create", user, "--account", account)
    made = admin("key", "create", "--user", user).stdout
    return (re.search(r"access_key: (\S+)", made).group(1),
            re.search(r"secret_key: (\S+)", made).group(1))


def boto3_client(server: Server, service: str, access_key: str, secret_key: str):
    """A boto3 client with explicit keys against the server (for keys not in the files)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=server.ca_bundle(),
        config=Config(retries={"max_attempts": 1}),
    )


def cloudstack(server: Server, key: str, secret: str):
    """A `cs` library client with explicit keys."""
    from cs import CloudStack

    return CloudStack(endpoint=server.url + "/client/api", key=key, secret=secret,
                      verify=server.ca_bundle(), timeout=20)


def cs_client(server: Server, keys_from: Server | None = None):
    """A `cs` library client on `server` with the keys `keys_from` (default: `server`) wrote
    into its cloudstack.ini."""
    ini = (keys_from or server).ini("cloudstack.ini")["cloudstack"]
    return cloudstack(server, ini["key"], ini["secret"])


def wait_for(what: str, check, budget: float, every: float = 0.25):
    """Polls `check` until it answers something true, and answers that; fails after `budget`
    seconds."""
    deadline = time.monotonic() + budget
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} did not happen within {budget} s"
        time.sleep(every)


# --- PostgreSQL ---------------------------------------------------------------------------------

# The test cluster scripts/test starts; the suites that need PostgreSQL skip without it.
POSTGRES_URL = os.environ.get("CIRRUS_TEST_POSTGRES_URL")


def require_postgres():
    """The mark of a PostgreSQL suite: skipped without a cluster, except in CI, where it fails."""
    if not POSTGRES_URL and os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but CIRRUS_TEST_POSTGRES_URL is not set: run scripts/test")
    return pytest.mark.skipif(not POSTGRES_URL, reason="CIRRUS_TEST_POSTGRES_URL is not set")


def psql() -> str:
    found = shutil.which("psql") or next(iter(sorted(
        pathlib.Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True)), None)
    if not found:
        pytest.fail("psql is not installed (Debian package postgresql-client)")
    return str(found)


def with_database(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def sql(url: str, statement: str) -> str:
    """Runs one statement with psql; answers its rows, unaligned, one a line."""
    done = subprocess.run([psql(), url, "-v", "ON_ERROR_STOP=1", "-qAtc", statement],
                          check=True, capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


# --- raw signed requests (to see a door's own error envelope) -----------------------------------

def ec2_request(server: Server, access_key: str, secret_key: str | None, params: dict,
                service: str = "ec2") -> requests.Response:
    """POSTs an ec2Query request, signed with Signature V4 by botocore (unsigned without a secret)."""
    from urllib.parse import urlencode

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = urlencode(params)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = AWSRequest(method="POST", url=server.url + "/", data=body, headers=headers)
    if secret_key is not None:
        SigV4Auth(Credentials(access_key, secret_key), service, "us-east-1").add_auth(req)
    prepared = req.prepare()
    return requests.post(prepared.url, data=body, headers=dict(prepared.headers), timeout=20,
                         verify=server.ca_bundle())


def native_signature(params: dict, secret: str) -> str:
    """CloudStack's request signature: sorted, encoded, lowercased, HMAC-SHA1, base64."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote

    text = "&".join(f"{k}={quote(str(v), safe='*')}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), text.lower().encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def native_request(server: Server, command: str, api_key: str | None = None,
                   secret: str | None = None, **params) -> requests.Response:
    """GETs /client/api with a signed (or, without a key, unsigned) command."""
    query = {"command": command, "response": "json", **params}
    if api_key is not None:
        query["apiKey"] = api_key
        query["signature"] = native_signature(query, secret or "")
    return requests.get(server.url + "/client/api", params=query, timeout=20,
                        verify=server.ca_bundle())
