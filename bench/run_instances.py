#!/usr/bin/env python3
"""How fast 10,000 simulated instances reach running through EC2 RunInstances.

Starts its own `cirrus serve` on a fresh data directory and a loopback port, sized by a
config file for the load (100 simulated hosts), launches COUNT instances with boto3 in batches
of BATCH (MaxCount), polls DescribeInstances until all are running, and samples the server's
resident memory all along. Prints one line per figure; exits non-zero if a target is missed.

    python3 bench/run_instances.py [--count 10000] [--batch 500] [--binary target/release/cirrus]

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--binary", default="target/release/cirrus")
    ap.add_argument("--deadline", type=float, default=300)
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
        ec2 = boto3.client("ec2", config=Config(retries={"max_attempts": 1}))
        image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
        threading.Thread(target=sample, daemon=True).start()

        started = time.monotonic()
        launched = 0
        while launched < args.count:
            n = min(args.batch, args.count - launched)
            ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=n, MaxCount=n)
            launched += n
        api_done = time.monotonic() - started

        running = 0
        paginator = ec2.get_paginator("describe_instances")
        while time.monotonic() - started < args.deadline:
            # Count at the server: a filtered page of 1,000 reservations at a time.
            running = sum(
                len(r["Instances"])
                for page in paginator.paginate(
                    Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
                    PaginationConfig={"PageSize": 1000})
                for r in page["Reservations"])
            if running >= args.count:
                break
            time.sleep(1)
        total = time.monotonic() - started
        print(f"launch calls: {args.count} instances in {args.count // args.batch} calls, {api_done:.1f} s")
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
