#!/usr/bin/env bash
# Measures the S3 door the way issue 5 asks: a load generator that does not sign per request
# (wrk on presigned URLs), against a release `cirrus serve` on a fresh data directory on
# loopback. Prints requests a second for 4 KiB GET and PUT with 16 connections, MiB/s for one
# 256 MiB PUT with a signed payload (curl --aws-sigv4, the body's SHA-256 computed before the
# clock starts, so the client hashes nothing while it sends) and GET, each three times, with
# the server's peak resident memory, the same once through the AWS CLI, and the time of one
# 1,000-key ListObjectsV2 page from a bucket of N keys.
#
#   s3/bench/run.sh [PORT] [KEYS]     defaults: 18480, 100000 (KEYS=0 skips the listing)
#   CIRRUS_BENCH_PEER=moto s3/bench/run.sh ...   the same against moto_server, as a baseline
#
# Needs: wrk and curl (Debian packages), python3 with boto3, the AWS CLI, a release build
# (cargo build --release) or moto_server. Every request goes to 127.0.0.1; each wrk run is
# bounded to 10 s.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=${1:-18480}
keys=${2:-100000}
peer=${CIRRUS_BENCH_PEER:-cirrus}
bin=${CIRRUS_BIN:-$repo/target/release/cirrus}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

dir=$(mktemp -d)
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
case $peer in
cirrus)
    [ -x "$bin" ] || { echo "build it first: cargo build --release (or set CIRRUS_BIN)" >&2; exit 1; }
    "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --log warn >"$dir/server.log" 2>&1 &
    ;;
moto)
    command -v moto_server >/dev/null || { echo "moto_server is missing: pip install 'moto[server]'" >&2; exit 1; }
    mkdir -p "$dir/aws"
    moto_server -H 127.0.0.1 -p "$port" >"$dir/server.log" 2>&1 &
    ;;
*) echo "CIRRUS_BENCH_PEER is cirrus or moto, not '$peer'" >&2; exit 1 ;;
esac
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
if [ "$peer" = moto ]; then
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    printf '[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:%s\n' "$port" \
        >"$dir/aws/config"
    printf '[default]\naws_access_key_id = bench\naws_secret_access_key = bench\n' \
        >"$dir/aws/credentials"
else
    for _ in $(seq 100); do [ -s "$dir/aws/credentials" ] && break; sleep 0.1; done
fi
export AWS_CONFIG_FILE=$dir/aws/config AWS_SHARED_CREDENTIALS_FILE=$dir/aws/credentials
echo "peer: $peer; load: $(uptime | sed 's/.*load average/load average/')"

rss_peak() { awk '/VmHWM/ {print int($2/1024) " MiB"}' "/proc/$pid/status"; }

python3 - "$dir" <<'EOF'
import boto3, sys, os
s3 = boto3.client('s3')
s3.create_bucket(Bucket='bench')
s3.put_object(Bucket='bench', Key='small', Body=b'x' * 4096)
d = sys.argv[1]
def url(op, key):
    return s3.generate_presigned_url(op, Params={'Bucket': 'bench', 'Key': key}, ExpiresIn=3600)
open(os.path.join(d, 'get.url'), 'w').write(url('get_object', 'small'))
open(os.path.join(d, 'put.url'), 'w').write(url('put_object', 'put-target'))
open(os.path.join(d, 'bigget.url'), 'w').write(url('get_object', 'big'))
creds = s3._request_signer._credentials
open(os.path.join(d, 'sigv4'), 'w').write('%s %s:%s %s' % (
    s3.meta.region_name, creds.access_key, creds.secret_key, s3.meta.endpoint_url) + '\n')
EOF

cat >"$dir/put.lua" <<'EOF'
wrk.method = "PUT"
wrk.body = string.rep("p", 4096)
EOF

echo "== 4 KiB GET, 16 connections, 10 s"
wrk -t2 -c16 -d10s "$(cat "$dir/get.url")" | grep -E "Requests/sec|Latency|Non-2xx"
echo "== 4 KiB PUT, 16 connections, 10 s (each acknowledged after fsync and commit)"
wrk -t2 -c16 -d10s -s "$dir/put.lua" "$(cat "$dir/put.url")" | grep -E "Requests/sec|Latency|Non-2xx"

echo "== 256 MiB object, signed payload (curl --aws-sigv4, SHA-256 of the body in the signature)"
head -c $((256 << 20)) /dev/urandom >"$dir/big.bin"
sha=$(sha256sum "$dir/big.bin" | cut -d' ' -f1)
read -r region userpass endpoint <"$dir/sigv4"
mibs() { awk -v t="$1" 'BEGIN { printf "%.0f MiB/s", 256 / t }'; }
for i in 1 2 3; do
    t=$(curl -sS -f -o /dev/null -w '%{time_total}' -T "$dir/big.bin" \
        --aws-sigv4 "aws:amz:$region:s3" --user "$userpass" -H "x-amz-content-sha256: $sha" \
        "$endpoint/bench/big")
    echo "PUT $i: $(mibs "$t") (peak RSS so far $(rss_peak))"
done
for i in 1 2 3; do
    t=$(curl -sS -f -o /dev/null -w '%{time_total}' "$(cat "$dir/bigget.url")")
    echo "GET $i: $(mibs "$t") (peak RSS so far $(rss_peak))"
done
curl -sS -f "$(cat "$dir/bigget.url")" | cmp - "$dir/big.bin" && echo "GET returned the same bytes"
echo "-- the same through the AWS CLI (s3api), whose own hashing and file handling dominate"
start=$(date +%s.%N)
aws s3api put-object --bucket bench --key big-cli --body "$dir/big.bin" >/dev/null
echo "PUT: $(mibs "$(echo "$(date +%s.%N) - $start" | bc -l)")"
start=$(date +%s.%N)
aws s3api get-object --bucket bench --key big-cli "$dir/big.back" >/dev/null
echo "GET: $(mibs "$(echo "$(date +%s.%N) - $start" | bc -l)")"
cmp "$dir/big.bin" "$dir/big.back" && echo "GET returned the same bytes"
echo "peak RSS so far $(rss_peak)"
rm -f "$dir/big.bin" "$dir/big.back"

[ "$keys" -gt 0 ] || exit 0
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
