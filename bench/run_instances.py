#!/usr/bin/env python3
"""How fast 10,000 simulated instances reach running through EC2 RunInstances.

Starts its own `cirrus serve` on a fresh data directory and a loopback port, sized by a
config file for the load (100 simulated hosts), launches COUNT instances with boto3 in batches
of BATCH (MaxCount), polls DescribeInstances until all are running, and samples the server's
resident memory all along. Prints one line per figure; exits non-zero if a target is missed.

    python3 bench/run_instances.py [--count 10000] [--batch 500] [--binary target/release/cirrus]

Each account's default subnet is a /20 (4,091 addresses, as on AWS), so the launches are spread
over ACCOUNTS accounts (made with `cirrus admin`), each with its own default VPC.

Targets (issue: orchestrator and drivers): all running within 60 s; resident memory < 300 MiB.
Bounded: it gives up after --deadline seconds and always stops the server it started.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def account_client(binary, data, n, cfg):
    """A new user account with its own key, made by `cirrus admin` on the same data directory."""
    base = [binary, "admin", "--data-dir", os.path.join(data, "d")]
    subprocess.run(base + ["account", "create", f"bench{n}"], check=True, capture_output=True)
    subprocess.run(base + ["user", "create", f"bench{n}", "--account", f"bench{n}"],
                   check=True, capture_output=True)
    out = subprocess.run(base + ["key", "create", "--user", f"bench{n}"], check=True,
                         capture_output=True, text=True).stdout
    keys = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return boto3.client("ec2", aws_access_key_id=keys["access_key"],
                        aws_secret_access_key=keys["secret_key"], config=cfg)


def count_running(ec2):
    paginator = ec2.get_paginator("describe_instances")
    return sum(
        len(r["Instances"])
        for page in paginator.paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
            PaginationConfig={"PageSize": 1000})
        for r in page["Reservations"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--binary", default="target/release/cirrus")
    ap.add_argument("--deadline", type=float, default=300)
    ap.add_argument("--accounts", type=int, default=3)
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="cirrus-bench-")
    config = os.path.join(data, "bench.toml")
    with open(config, "w") as f:
        f.write("log = \"warn\"\n[simulator]\nhosts = 100\nhost_cpus = 64\nhost_memory_gib = 256\n")
    port = free_port()
    server = subprocess.Popen(
        [args.binary, "serve", "--config", config, "--data-dir", os.path.join(data, "d"),
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], rss_mib(server.pid))
            except OSError:
                return
            time.sleep(0.2)

    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_cirrus/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        os.environ["AWS_CONFIG_FILE"] = os.path.join(data, "d", "aws", "config")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(data, "d", "aws", "credentials")
        cfg = Config(retries={"max_attempts": 1})
        admin = boto3.client("ec2", config=cfg)
        image = admin.describe_images(Owners=["self"])["Images"][0]["ImageId"]
        clients = [admin] + [account_client(args.binary, data, n, cfg) for n in range(1, args.accounts)]
        threading.Thread(target=sample, daemon=True).start()

        started = time.monotonic()
        calls = 0
        for i, ec2 in enumerate(clients):
            share = args.count // len(clients) + (1 if i < args.count % len(clients) else 0)
            launched = 0
            while launched < share:
                n = min(args.batch, share - launched)
                ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=n, MaxCount=n)
                launched += n
                calls += 1
        api_done = time.monotonic() - started

        running = 0
        while time.monotonic() - started < args.deadline:
            # Counted at the server: running instances, a page of 1,000 reservations at a time.
            running = sum(count_running(ec2) for ec2 in clients)
            if running >= args.count:
                break
            time.sleep(1)
        total = time.monotonic() - started
        print(f"launch calls: {args.count} instances in {calls} calls, {api_done:.1f} s")
        print(f"all running: {running}/{args.count} after {total:.1f} s (target 60 s)")
        print(f"peak resident memory: {peak[0]:.0f} MiB (target < 300 MiB)")
        ok = running >= args.count and total <= 60 and peak[0] < 300
        return 0 if ok else 1
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
