#!/usr/bin/env python3
"""DescribeAddresses at the server over COUNT elastic IPs of one account.

The bench sizes its own cloud through configuration: a public range of 198.51.100.0/22 (a
/22 of documentation addresses; TEST-NET-2 is only a /24, so the rest of the /22 is
bookkeeping that is never used to connect anywhere) and an address limit of COUNT. It allocates
COUNT addresses, associates one in ten with instances, then times DescribeAddresses (not paged
on EC2: the whole answer) with `curl --aws-sigv4` on a signed GET, so the client's own parser
does not count, and a DescribeAddresses of one AllocationId.

    python3 bench/describe_addresses.py [--count 1000] [--binary target/release/cirrus]
                                        [--port 18589] [--repeats 30]

Target (issue: EC2 door, storage and networking): within the DescribeInstances budget of the
compute issue, 25 ms for the whole answer. The server listens on 127.0.0.1:PORT (a port of this
helper's range) and is stopped by its PID at the end; every loop is bounded.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

RANGE = "198.51.100.0/22"


def wait_up(url, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url + "/_cirrus/health", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def curl_times(url, key, secret, query, repeats):
    """Seconds and bytes per signed GET, each timed by curl from request to last byte."""
    out = []
    for _ in range(repeats):
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}",
             "--aws-sigv4", "aws:amz:us-east-1:ec2", "--user", f"{key}:{secret}",
             f"{url}/?{query}"],
            capture_output=True, text=True, timeout=120, check=True)
        code, seconds, size = r.stdout.split()
        if code != "200":
            raise SystemExit(f"DescribeAddresses answered {code}")
        out.append((float(seconds), int(size)))
    return out


def summary(label, samples):
    ms = sorted(s * 1000 for s, _ in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{label}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
          f"{samples[0][1]} bytes, {len(ms)} requests")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--binary", default="target/release/cirrus")
    ap.add_argument("--port", type=int, default=18589)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    if not 1 <= args.count <= 1000:
        raise SystemExit("--count is 1 to 1000 (the /22 holds 1,022 addresses)")
    if not 18580 <= args.port <= 18589:
        raise SystemExit("--port must be in 18580-18589")

    data = tempfile.mkdtemp(prefix="cirrus-bench-eip-")
    config = os.path.join(data, "bench.toml")
    with open(config, "w") as f:
        f.write(f'log = "warn"\n[network]\npublic_ip_range = "{RANGE}"\n'
                f'address_limit = {args.count}\n')
    proc = subprocess.Popen(
        [args.binary, "serve", "--config", config, "--data-dir", os.path.join(data, "d"),
         "--listen", f"127.0.0.1:{args.port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        wait_up(url)
        creds = {}
        with open(os.path.join(data, "d", "aws", "credentials")) as f:
            for line in f:
                if "=" in line:
                    k, v = (p.strip() for p in line.split("=", 1))
                    creds[k] = v
        key, secret = creds["aws_access_key_id"], creds["aws_secret_access_key"]
        ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id=key, aws_secret_access_key=secret,
                           config=Config(retries={"max_attempts": 1}))
        start = time.monotonic()
        allocs = [ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(args.count)]
        print(f"allocated {len(allocs)} addresses in {time.monotonic() - start:.1f} s")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        mapped = allocs[::10]
        r = ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=len(mapped),
                              MaxCount=len(mapped))
        for alloc, inst in zip(mapped, r["Instances"]):
            ec2.associate_address(AllocationId=alloc, InstanceId=inst["InstanceId"])
        got = ec2.describe_addresses()["Addresses"]
        assert len(got) == args.count, len(got)
        assert sum(1 for a in got if "AssociationId" in a) == len(mapped)

        curl_times(url, key, secret, "Action=DescribeAddresses&Version=2016-11-15", 3)
        summary(f"DescribeAddresses, all {args.count}",
                curl_times(url, key, secret, "Action=DescribeAddresses&Version=2016-11-15",
                           args.repeats))
        one = f"Action=DescribeAddresses&AllocationId.1={allocs[0]}&Version=2016-11-15"
        summary("DescribeAddresses, AllocationId.1", curl_times(url, key, secret, one,
                                                                args.repeats))
        print("target: whole answer <= 25 ms")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
