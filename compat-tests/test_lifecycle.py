"""Starting, refusing and stopping: one server per data directory, clean stops on SIGTERM and
SIGINT, and a restart that picks up where the last run left off."""

import signal
import socket
import threading
import time

from harness import requests, run_cirrus, free_port


def test_second_server_on_a_directory_in_use_refuses(server):
    keys = server.file("aws/credentials").read_bytes()
    r = run_cirrus("serve", "--data-dir", str(server.data_dir), "--listen",
                   f"127.0.0.1:{free_port()}", timeout=30)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("cirrus: ")]
    assert len(lines) == 1, r.stderr
    assert "in use" in lines[0] and str(server.data_dir) in lines[0]
    assert "panicked" not in r.stderr
    assert server.health() == 200, "the first server must go on serving"
    assert server.file("aws/credentials").read_bytes() == keys


def test_sigterm_stops_cleanly_and_a_restart_works(make_server):
    server = make_server().start()
    keys = server.access_key
    assert server.stop(signal.SIGTERM) == 0
    assert "stopped" in server.stderr()
    again = make_server(data_dir=server.data_dir).start()
    assert again.access_key == keys
    assert again.health() == 200


def test_sigint_stops_cleanly(server):
    assert server.stop(signal.SIGINT) == 0


def test_stop_finishes_the_request_in_flight(server):
    """A request already being sent when SIGTERM arrives still gets its answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        # Half a request: the server has accepted the connection and is reading the head.
        conn.sendall(b"GET /_cirrus/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.2)
        stopper = threading.Thread(target=server.stop, args=(signal.SIGTERM,))
        stopper.start()
        time.sleep(0.3)
        conn.sendall(b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    stopper.join(30)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert server.returncode == 0


def test_stopped_server_no_longer_listens(server):
    url = server.url
    assert server.stop() == 0
    try:
        requests.get(url + "/_cirrus/health", timeout=2)
        raise AssertionError("the server still answers after it stopped")
    except requests.ConnectionError:
        pass
