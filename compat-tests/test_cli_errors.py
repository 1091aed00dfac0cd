"""Bad input on the command line: one clear sentence naming the problem, a non-zero exit, and
never a panic or a stack trace (RUST_BACKTRACE=1 is set, so a panic would show one)."""

import os
import re
import socket
import time

import pytest

from harness import ANSI, free_port, run_cirrus

LOG_LINE = re.compile(r"^\s*\d{4}-\d\d-\d\dT\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\b")


def serve(*args, timeout=60):
    env = dict(os.environ, RUST_BACKTRACE="1")
    return run_cirrus("serve", *args, timeout=timeout, env=env)


def assert_one_sentence(r, *named):
    """The command failed with exactly one non-log line on stderr, naming every `named`."""
    assert r.returncode != 0, r
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE", "Error {", "Os {"]:
        assert bad not in r.stderr, r.stderr
    lines = [ln for ln in ANSI.sub("", r.stderr).splitlines()
             if ln.strip() and not LOG_LINE.match(ln)]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("cirrus: "), lines[0]
    for name in named:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def listen(port=None):
    return ["--listen", f"127.0.0.1:{port or free_port()}"]


def test_unknown_flag_is_named(tmp_path):
    r = serve("--no-such-flag")
    assert r.returncode == 2
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith("error:") and "--no-such-flag" in first, r.stderr
    assert "panicked" not in r.stderr


def test_unknown_subcommand_is_named():
    r = run_cirrus("launch")
    assert r.returncode == 2 and "launch" in r.stderr.splitlines()[0]


def test_help_explains_every_option():
    r = run_cirrus("serve", "--help")
    assert r.returncode == 0
    for option in ["--data-dir", "--listen", "--database-url", "--config", "--tls-cert",
                   "--tls-key", "CIRRUS_DATA_DIR", "CIRRUS_LISTEN", "CIRRUS_DATABASE_URL"]:
        assert option in r.stdout, option
    top = run_cirrus("--help")
    assert top.returncode == 0 and "serve" in top.stdout and "admin" in top.stdout


def test_bad_listen_address_is_named(tmp_path):
    assert_one_sentence(serve("--data-dir", str(tmp_path / "d"), "--listen",
                              "localhost"), "'localhost'")


def test_missing_config_file_is_named(tmp_path):
    missing = tmp_path / "nowhere.toml"
    assert_one_sentence(serve("--config", str(missing), *listen()), missing)


def test_config_file_that_is_a_directory_is_named(tmp_path):
    assert_one_sentence(serve("--config", str(tmp_path), *listen()), tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_config_file_without_read_permission_is_named(tmp_path):
    config = tmp_path / "cirrus.toml"
    config.write_text('listen = "127.0.0.1:18399"\n')
    config.chmod(0)
    assert_one_sentence(serve("--config", str(config)), config)


def test_config_file_with_bad_toml_or_unknown_key_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("listen = \n")
    assert_one_sentence(serve("--config", str(bad), *listen()), bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('lisen = "127.0.0.1:18399"\n')
    assert_one_sentence(serve("--config", str(typo), *listen()), typo, "lisen")


def test_data_dir_under_a_file_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_one_sentence(serve("--data-dir", str(blocker / "data"), *listen()),
                        blocker / "data")
    assert_one_sentence(serve("--data-dir", str(blocker), *listen()), blocker)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere whatever the mode")
def test_read_only_data_dir_is_named(tmp_path):
    data = tmp_path / "ro"
    data.mkdir()
    data.chmod(0o500)
    try:
        assert_one_sentence(serve("--data-dir", str(data), *listen()), data)
    finally:
        data.chmod(0o700)


def test_unreachable_database_is_named(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgres://cirrus:hunter2@127.0.0.1:{port}/cirrus"
    started = time.monotonic()
    r = serve("--data-dir", str(tmp_path / "d"), "--database-url", url, *listen())
    line = assert_one_sentence(r, f"127.0.0.1:{port}")
    assert time.monotonic() - started < 30
    assert "hunter2" not in r.stderr + r.stdout, "the database password leaked"
    assert "hunter2" not in line


def test_unknown_database_scheme_is_named(tmp_path):
    assert_one_sentence(serve("--data-dir", str(tmp_path / "d"), "--database-url",
                              "mysql://db.invalid/x", *listen()), "mysql://")


def test_listen_address_in_use_is_named(tmp_path):
    with socket.socket() as holder:
        port = free_port()
        holder.bind(("127.0.0.1", port))
        holder.listen()
        r = serve("--data-dir", str(tmp_path / "d"), *listen(port))
    assert_one_sentence(r, f"127.0.0.1:{port}")


def test_tls_needs_both_halves_and_readable_files(tmp_path):
    assert_one_sentence(serve("--data-dir", str(tmp_path / "d"), "--tls-cert",
                              str(tmp_path / "c.pem"), *listen()), "--tls-key")
    missing = tmp_path / "missing-cert.pem"
    assert_one_sentence(serve("--data-dir", str(tmp_path / "e"), "--tls-cert",
                              str(missing), "--tls-key", str(tmp_path / "k.pem"), *listen()),
                        missing)
