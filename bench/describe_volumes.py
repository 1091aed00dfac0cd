#!/usr/bin/env python3
"""DescribeVolumes at the server: an account with COUNT volumes, timed with `curl --aws-sigv4`
on a signed GET (so the client's own parser does not count): the whole answer, and a page of
MaxResults=100.

    python3 bench/describe_volumes.py [--count 1000] [--binary target/release/cirrus]
                                      [--port 18525] [--repeats 21]

Budget (issue: EC2 door, storage): within DescribeInstances' budget of the compute issue, whole
answer <= 25 ms and a 100-item page <= 5 ms at 1,000. The one server it starts listens on
127.0.0.1:PORT and is stopped at the end; loops are bounded.
"""

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config


def wait_up(url, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url + "/_cirrus/health", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def credentials(data):
    creds = {}
    with open(os.path.join(data, "aws", "credentials")) as f:
        for line in f:
            if "=" in line:
                k, v = (p.strip() for p in line.split("=", 1))
                creds[k] = v
    return creds["aws_access_key_id"], creds["aws_secret_access_key"]


def curl_times(url, key, secret, query, repeats):
    """(seconds, bytes) per signed GET, each timed by curl from request to last byte."""
    out = []
    for _ in range(repeats):
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}",
             "--aws-sigv4", "aws:amz:us-east-1:ec2", "--user", f"{key}:{secret}",
             f"{url}/?{query}"],
            capture_output=True, text=True, timeout=120, check=True)
        code, seconds, size = r.stdout.split()
        if code != "200":
            raise SystemExit(f"DescribeVolumes answered {code}")
        out.append((float(seconds), int(size)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--binary", default="target/release/cirrus")
    ap.add_argument("--port", type=int, default=18525)
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="cirrus-bench-volumes-")
    config = os.path.join(root, "bench.toml")
    with open(config, "w") as f:
        f.write('log = "warn"\n')
    data = os.path.join(root, "d")
    url = f"http://127.0.0.1:{args.port}"
    proc = subprocess.Popen(
        [args.binary, "serve", "--config", config, "--data-dir", data, "--listen",
         f"127.0.0.1:{args.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(url)
        key, secret = credentials(data)
        ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id=key, aws_secret_access_key=secret,
                           config=Config(retries={"max_attempts": 1}))
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        started = time.monotonic()
        for n in range(args.count):
            ec2.create_volume(AvailabilityZone=zone, Size=1 + n % 16,
                              TagSpecifications=[{"ResourceType": "volume",
                                                  "Tags": [{"Key": "n", "Value": str(n)}]}])
        made = time.monotonic() - started
        print(f"made {args.count} volumes in {made:.1f} s ({args.count / made:.0f}/s)")

        whole = curl_times(url, key, secret, "Action=DescribeVolumes&Version=2016-11-15",
                           args.repeats)
        # Sorted by name: curl signs the query string as given, and Signature V4 wants it sorted.
        page = curl_times(url, key, secret,
                          "Action=DescribeVolumes&MaxResults=100&Version=2016-11-15",
                          args.repeats)
        med = lambda xs: statistics.median(x[0] for x in xs) * 1000
        p90 = lambda xs: sorted(x[0] for x in xs)[int(len(xs) * 0.9) - 1] * 1000
        print(f"DescribeVolumes, {args.count} volumes, whole answer "
              f"({whole[0][1] / 1e6:.2f} MB): median {med(whole):.1f} ms, p90 {p90(whole):.1f} ms"
              f" (budget 25 ms)")
        print(f"DescribeVolumes, MaxResults=100 page ({page[0][1] / 1e3:.0f} kB): "
              f"median {med(page):.1f} ms, p90 {p90(page):.1f} ms (budget 5 ms)")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
