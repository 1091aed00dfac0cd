#!/usr/bin/env python3
"""Times a real guest's console line through the AWS CLI: from `aws ec2 run-instances` to the
first `aws ec2 get-console-output` that shows `cirrus-guest: up <instance id>` (polled every
0.25 s, no waiter: the instance-running waiter polls every 15 s and would hide the figure).

    python3 bench/qemu_console.py --port 18622 [--runs 3]

Starts `cirrus serve --qemu` on 127.0.0.1:PORT with a fresh data directory, uploads
target/guest-cache/cirrus-guest.img (or $CIRRUS_GUEST_IMAGE) with `aws s3 cp`, imports it and
launches one t3.nano at a time. Prints the accelerator the server chose and each run's seconds.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18622)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    image = os.environ.get("CIRRUS_GUEST_IMAGE") or str(REPO / "target/guest-cache/cirrus-guest.img")
    data = pathlib.Path(tempfile.mkdtemp(prefix="cirrus-console-")) / "data"
    err = open(data.parent / "serve.err", "wb")
    server = subprocess.Popen([str(REPO / "target/debug/cirrus"), "serve", "--qemu", "--data-dir",
                               str(data), "--listen", f"127.0.0.1:{args.port}"],
                              stdout=subprocess.DEVNULL, stderr=err)
    env = dict(os.environ, AWS_CONFIG_FILE=str(data / "aws/config"),
               AWS_SHARED_CREDENTIALS_FILE=str(data / "aws/credentials"))

    def aws(*a):
        r = subprocess.run(["aws", *a, "--output", "json"], env=env, capture_output=True,
                           text=True, timeout=120)
        if r.returncode:
            sys.exit(f"aws {' '.join(a)} failed: {r.stderr}")
        return json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}

    try:
        for _ in range(100):
            if (data / "aws/credentials").exists():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        aws("s3", "mb", "s3://bench-images")
        aws("s3", "cp", image, "s3://bench-images/guest.img")
        task = aws("ec2", "import-image", "--disk-containers",
                   "Format=raw,UserBucket={S3Bucket=bench-images,S3Key=guest.img}")
        for _ in range(240):
            t = aws("ec2", "describe-import-image-tasks", "--import-task-ids",
                    task["ImportTaskId"])["ImportImageTasks"][0]
            if t["Status"] != "active":
                break
            time.sleep(0.25)
        assert t["Status"] == "completed", t
        for n in range(args.runs):
            started = time.monotonic()
            run = aws("ec2", "run-instances", "--image-id", t["ImageId"], "--instance-type",
                      "t3.nano")
            iid = run["Instances"][0]["InstanceId"]
            while time.monotonic() - started < 120:
                out = aws("ec2", "get-console-output", "--instance-id", iid).get("Output", "")
                if f"cirrus-guest: up {iid}" in out:
                    break
                time.sleep(0.25)
            took = time.monotonic() - started
            print(f"run {n + 1}: console line {took:.1f} s after run-instances", flush=True)
            aws("ec2", "terminate-instances", "--instance-ids", iid)
            aws("ec2", "wait", "instance-terminated", "--instance-ids", iid)
    finally:
        server.terminate()
        server.wait(30)
        err.close()
        accel = [ln for ln in (data.parent / "serve.err").read_text().splitlines()
                 if "accelerator" in ln]
        print("server:", accel[0].split("INFO", 1)[-1].strip() if accel else "no accelerator line")
        shutil.rmtree(data.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
