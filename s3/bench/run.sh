#!/usr/bin/env bash
# Measures the S3 door the way issue 5 asks: a load generator that does not sign per request
# (wrk on presigned URLs), against a release `cirrus serve` on a fresh data directory on
# loopback. Prints requests a second for 4 KiB GET and PUT with 16 connections, MiB/s for one
# 256 MiB PUT and GET (signed payload, through the AWS CLI's s3api) with the server's peak
# resident memory, and the time of one 1,000-key ListObjectsV2 page from a bucket of N keys.
#
#   s3/bench/run.sh [PORT] [KEYS]     defaults: 18480, 100000
#
# Needs: wrk (Debian package), python3 with boto3, a release build (cargo build --release).
# Every request goes to 127.0.0.1; each wrk run is bounded to 10 s.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=${1:-18480}
keys=${2:-100000}
bin=${CIRRUS_BIN:-$repo/target/release/cirrus}
[ -x "$bin" ] || { echo "build it first: cargo build --release (or set CIRRUS_BIN)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

dir=$(mktemp -d)
"$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --log warn >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/aws/credentials" ] && break; sleep 0.1; done
export AWS_CONFIG_FILE=$dir/aws/config AWS_SHARED_CREDENTIALS_FILE=$dir/aws/credentials
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ENDPOINT_URL

rss_peak() { awk '/VmHWM/ {print int($2/1024) " MiB"}' "/proc/$pid/status"; }

python3 - "$dir" <<'EOF'
import boto3, sys, os
s3 = boto3.client('s3')
s3.create_bucket(Bucket='bench')
s3.put_object(Bucket='bench', Key='small', Body=b'x' * 4096)
d = sys.argv[1]
open(os.path.join(d, 'get.url'), 'w').write(
    s3.generate_presigned_url('get_object', Params={'Bucket': 'bench', 'Key': 'small'}, ExpiresIn=3600))
open(os.path.join(d, 'put.url'), 'w').write(
    s3.generate_presigned_url('put_object', Params={'Bucket': 'bench', 'Key': 'put-target'}, ExpiresIn=3600))
EOF

cat >"$dir/put.lua" <<'EOF'
wrk.method = "PUT"
wrk.body = string.rep("p", 4096)
EOF

echo "== 4 KiB GET, 16 connections, 10 s"
wrk -t2 -c16 -d10s "$(cat "$dir/get.url")" | grep -E "Requests/sec|Latency|Non-2xx"
echo "== 4 KiB PUT, 16 connections, 10 s (each acknowledged after fsync and commit)"
wrk -t2 -c16 -d10s -s "$dir/put.lua" "$(cat "$dir/put.url")" | grep -E "Requests/sec|Latency|Non-2xx"

echo "== 256 MiB object, signed payload"
head -c $((256 << 20)) /dev/urandom >"$dir/big.bin"
start=$(date +%s.%N)
aws s3api put-object --bucket bench --key big --body "$dir/big.bin" >/dev/null
end=$(date +%s.%N)
echo "PUT: $(echo "256 / ($end - $start)" | bc -l | cut -c1-6) MiB/s (peak RSS so far $(rss_peak))"
start=$(date +%s.%N)
aws s3api get-object --bucket bench --key big "$dir/big.back" >/dev/null
end=$(date +%s.%N)
echo "GET: $(echo "256 / ($end - $start)" | bc -l | cut -c1-6) MiB/s (peak RSS so far $(rss_peak))"
cmp "$dir/big.bin" "$dir/big.back" && echo "GET returned the same bytes"
python3 - "$dir" <<'PY'
import boto3, sys
s3 = boto3.client('s3')
d = sys.argv[1]
open(d + '/bigput.url', 'w').write(s3.generate_presigned_url(
    'put_object', Params={'Bucket': 'bench', 'Key': 'big2'}, ExpiresIn=600))
open(d + '/bigget.url', 'w').write(s3.generate_presigned_url(
    'get_object', Params={'Bucket': 'bench', 'Key': 'big2'}, ExpiresIn=600))
PY
echo "-- the same with curl on presigned URLs (UNSIGNED-PAYLOAD), so the client hashes nothing"
curl -s -o /dev/null -w "PUT: %{speed_upload} B/s\n" -T "$dir/big.bin" "$(cat "$dir/bigput.url")"
curl -s -o /dev/null -w "GET: %{speed_download} B/s\n" "$(cat "$dir/bigget.url")"
echo "peak RSS so far $(rss_peak)"
rm -f "$dir/big.bin" "$dir/big.back"

echo "== ListObjectsV2: one 1,000-key page from a bucket of $keys keys"
python3 - "$keys" <<'EOF'
import boto3, sys, time
from concurrent.futures import ThreadPoolExecutor
n = int(sys.argv[1])
s3 = boto3.client('s3', config=boto3.session.Config(max_pool_connections=32))
s3.create_bucket(Bucket='many')
def put(i):
    s3.put_object(Bucket='many', Key='dir%03d/key%07d' % (i % 100, i), Body=b'')
t = time.time()
with ThreadPoolExecutor(32) as ex:
    list(ex.map(put, range(n)))
print('filled %d keys in %.0f s' % (n, time.time() - t))
best = None
for start in ['', 'dir050/', 'dir099/key0099']:
    for _ in range(5):
        t = time.perf_counter()
        r = s3.list_objects_v2(Bucket='many', StartAfter=start, MaxKeys=1000)
        ms = (time.perf_counter() - t) * 1000
        assert r['KeyCount'] == 1000 or not r['IsTruncated']
        best = ms if best is None else min(best, ms)
    print('page after %r: best of 5 %.1f ms (client included)' % (start, best))
t = time.perf_counter()
r = s3.list_objects_v2(Bucket='many', Delimiter='/', MaxKeys=1000)
print('delimiter page (%d common prefixes): %.1f ms' % (len(r.get('CommonPrefixes', [])),
                                                     (time.perf_counter() - t) * 1000))
EOF
echo "peak RSS of the server over the whole run: $(rss_peak)"
