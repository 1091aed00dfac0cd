#!/usr/bin/env python3
"""DescribeInstances at the server: Cirrus and moto's server, side by side on this machine.

Two figures, each for Cirrus and for moto (the baseline peer):

* latency: an account with COUNT instances (one reservation each, the largest answer for the
  count), timed with `curl --aws-sigv4` on a signed GET so the client's own parser does not
  count: the whole answer, and a page of MaxResults=100 reservations;
* throughput: an account with 10 instances, DescribeInstances signed once by botocore and
  replayed by `wrk` (the server still verifies every request in full; the client does not sign
  per request, so it does not set the pace), 16 connections, 2 threads.

    python3 bench/describe_instances.py [--count 1000] [--binary target/release/cirrus]
                                        [--no-moto] [--seconds 10]

Targets (issue: EC2 door, compute): whole answer <= 25 ms, 100-reservation page <= 5 ms, at
least 2,000 signed requests a second. Every server it starts listens on a free loopback port
and is stopped at the end; loops are bounded.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

QUERY = "Action=DescribeInstances&Version=2016-11-15"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, path, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url + path, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


class Peer:
    """One server under test: its URL, credentials and the process to stop."""

    def __init__(self, name, url, key, secret, proc):
        self.name, self.url, self.key, self.secret, self.proc = name, url, key, secret, proc

    def client(self):
        return boto3.client("ec2", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                            config=Config(retries={"max_attempts": 1}))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_cirrus(binary, hosts):
    data = tempfile.mkdtemp(prefix="cirrus-bench-")
    config = os.path.join(data, "bench.toml")
    with open(config, "w") as f:
        f.write(f'log = "warn"\n[simulator]\nhosts = {hosts}\nhost_cpus = 64\n'
                'host_memory_gib = 256\n')
    port = free_port()
    proc = subprocess.Popen(
        [binary, "serve", "--config", config, "--data-dir", os.path.join(data, "d"),
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(url, "/_cirrus/health")
    creds = {}
    with open(os.path.join(data, "d", "aws", "credentials")) as f:
        for line in f:
            if "=" in line:
                k, v = (p.strip() for p in line.split("=", 1))
                creds[k] = v
    return Peer("cirrus", url, creds["aws_access_key_id"], creds["aws_secret_access_key"], proc)


def start_moto():
    port = free_port()
    proc = subprocess.Popen([shutil.which("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(url, "/")
    return Peer("moto", url, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                proc)


def launch(peer, count):
    ec2 = peer.client()
    if peer.name == "cirrus":
        image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
    else:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for _ in range(count):
        ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=1, MaxCount=1)


def curl_times(peer, query, repeats):
    """Seconds per signed GET, each timed by curl from request to last byte."""
    out = []
    for _ in range(repeats):
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}",
             "--aws-sigv4", "aws:amz:us-east-1:ec2", "--user", f"{peer.key}:{peer.secret}",
             f"{peer.url}/?{query}"],
            capture_output=True, text=True, timeout=120, check=True)
        code, seconds, size = r.stdout.split()
        if code != "200":
            raise SystemExit(f"{peer.name}: DescribeInstances answered {code}")
        out.append((float(seconds), int(size)))
    return out


def signed_headers(peer):
    """The headers of one botocore-signed GET DescribeInstances, to be replayed by wrk."""
    req = AWSRequest(method="GET", url=f"{peer.url}/?{QUERY}")
    SigV4Auth(Credentials(peer.key, peer.secret), "ec2", "us-east-1").add_auth(req)
    return {k: v for k, v in req.headers.items()}


def wrk_rate(peer, seconds):
    headers = signed_headers(peer)
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with script:
        script.write("wrk.method = 'GET'\n")
        for k, v in headers.items():
            script.write(f"wrk.headers[{k!r}] = {v!r}\n")
        # Count answers that are not 200, so a refused signature cannot pass for throughput.
        script.write("bad = 0\nresponse = function(status) if status ~= 200 then bad = bad + 1 "
                     "end end\ndone = function() end\n")
    r = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", script.name,
                        f"{peer.url}/?{QUERY}"], capture_output=True, text=True,
                       timeout=seconds + 60, check=True)
    os.unlink(script.name)
    rate = None
    non2xx = 0
    for line in r.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            rate = float(line.split()[1])
        if "Non-2xx" in line:
            non2xx = int(line.split()[-1])
    if rate is None:
        raise SystemExit(f"wrk printed no rate:\n{r.stdout}\n{r.stderr}")
    if non2xx:
        raise SystemExit(f"{peer.name}: {non2xx} answers were not 200 under load")
    return rate


def describe(peer, count, repeats):
    whole = curl_times(peer, QUERY, repeats)
    # Sorted by name: curl 7.88 signs the query string as given, and Signature V4 wants it sorted.
    page = curl_times(peer, "Action=DescribeInstances&MaxResults=100&Version=2016-11-15", repeats)
    med = lambda xs: statistics.median(x[0] for x in xs) * 1000
    p90 = lambda xs: sorted(x[0] for x in xs)[int(len(xs) * 0.9) - 1] * 1000
    print(f"{peer.name}: DescribeInstances, {count} instances, whole answer "
          f"({whole[0][1] / 1e6:.1f} MB): median {med(whole):.1f} ms, p90 {p90(whole):.1f} ms")
    print(f"{peer.name}: DescribeInstances, MaxResults=100 page ({page[0][1] / 1e3:.0f} kB): "
          f"median {med(page):.1f} ms, p90 {p90(page):.1f} ms")
    return med(whole), med(page)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--binary", default="target/release/cirrus")
    ap.add_argument("--no-moto", action="store_true")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()

    results = {}
    names = ["cirrus"] + ([] if args.no_moto else ["moto"])
    for name in names:
        # Latency: COUNT instances on a fresh server.
        peer = start_cirrus(args.binary, hosts=40) if name == "cirrus" else start_moto()
        try:
            launch(peer, args.count)
            repeats = args.repeats if name == "cirrus" else 3
            whole, page = describe(peer, args.count, repeats)
        finally:
            peer.stop()
        # Throughput: 10 instances on another fresh server.
        peer = start_cirrus(args.binary, hosts=4) if name == "cirrus" else start_moto()
        try:
            launch(peer, 10)
            rate = wrk_rate(peer, args.seconds)
            print(f"{peer.name}: signed DescribeInstances, 10 instances, wrk -t2 -c16 "
                  f"{args.seconds}s: {rate:.0f} requests/s")
        finally:
            peer.stop()
        results[name] = (whole, page, rate)

    c = results["cirrus"]
    ok = c[0] <= 25 and c[1] <= 5 and c[2] >= 2000
    print(f"targets: whole <= 25 ms ({c[0]:.1f}), page <= 5 ms ({c[1]:.1f}), "
          f">= 2,000 req/s ({c[2]:.0f}): {'met' if ok else 'MISSED'}")
    if "moto" in results:
        m = results["moto"]
        print(f"ratios cirrus/moto: whole {m[0] / c[0]:.0f}x faster, page {m[1] / c[1]:.0f}x "
              f"faster, throughput {c[2] / m[2]:.1f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
