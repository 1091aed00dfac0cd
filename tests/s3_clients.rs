//! The S3 door end to end: a real `cirrus serve` on a fresh data directory, driven by the real
//! AWS CLI and boto3 with nothing but the client configuration the server wrote. Each test
//! starts its own server on a loopback port of 18400-18499 (or of the range in
//! `CIRRUS_TEST_PORTS`, `first-last`, for a session given another range) and asserts what a
//! user of those //! clients would check: status codes, error codes, headers, bytes.
//!
//! The clients are the ones scripts/test installs into `.venv` (or, failing that, the ones on
//! PATH). The Python snippets are client scripts, not a suite: each ends by printing `done`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on setup errors

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// The loopback ports this suite may use: `CIRRUS_TEST_PORTS` (`first-last`), else 18400-18499.
fn port_range() -> (u16, u16) {
    let parsed = std::env::var("CIRRUS_TEST_PORTS").ok().and_then(|r| {
        let (a, b) = r.split_once('-')?;
        let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a <= b).then_some((a, b))
    });
    parsed.unwrap_or((18400, 18499))
}

/// A free port of this suite's range, taken in turn (wrapping around, so a range smaller
/// than the suite still serves it: servers of finished tests have let theirs go).
fn free_port() -> u16 {
    let (first, last) = port_range();
    let span = u32::from(last - first) + 1;
    for _ in 0..span * 4 {
        let offset = u32::from(NEXT_PORT.fetch_add(1, Ordering::SeqCst)) % span;
        let port = first + u16::try_from(offset).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no free loopback port left in {first}-{last}");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A client program: the repository's `.venv` one if there is one, else the one on PATH.
fn tool(name: &str) -> PathBuf {
    let venv = repo().join(".venv/bin").join(name);
    if venv.exists() {
        venv
    } else {
        PathBuf::from(name)
    }
}

struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
}

impl Server {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// A server on HTTPS, with a fresh self-signed certificate that the written AWS
    /// configuration trusts.
    fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self {
            child: None,
            dir,
            port: free_port(),
            tls,
        };
        if tls {
            let status = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
                .args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ])
                .arg("-keyout")
                .arg(server.data().join("tls.key"))
                .arg("-out")
                .arg(server.data().join("tls.crt"))
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "openssl could not make a certificate");
        }
        server.spawn();
        server
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.data().join("server.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(if self.tls {
                vec![
                    "--tls-cert".into(),
                    self.data().join("tls.crt").into_os_string(),
                    "--tls-key".into(),
                    self.data().join("tls.key").into_os_string(),
                ]
            } else {
                Vec::new()
            })
            .env("CIRRUS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let up = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                self.health()
            };
            if up && self.data().join("aws/credentials").exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not come up: {}", self.log());
    }

    fn health(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let req = "GET /_cirrus/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.1 200")
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM first, so the server drains and releases its lock.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data().join("server.log")).unwrap_or_default()
    }

    fn client_env(&self, cmd: &mut Command) {
        cmd.env("AWS_CONFIG_FILE", self.data().join("aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.data().join("aws/credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_CA_BUNDLE")
            .env("ENDPOINT", format!("http://127.0.0.1:{}", self.port))
            .env("DATA_DIR", self.data());
    }

    fn aws(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(tool("aws"));
        cmd.args(args);
        self.client_env(&mut cmd);
        cmd.output().unwrap()
    }

    /// Runs a boto3 script; panics with its output unless it printed `done` and exited 0.
    fn python(&self, script: &str, extra_env: &[(&str, &str)]) -> String {
        let mut cmd = Command::new(tool("python3"));
        cmd.arg("-c")
            .arg(format!("{PRELUDE}\n{script}\nprint('done')\n"));
        self.client_env(&mut cmd);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.trim_end().ends_with("done"),
            "the boto3 script failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server\n{}",
            self.log()
        );
        stdout
    }

    /// `cirrus admin` on this server's data directory.
    fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .arg("admin")
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cirrus admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A second account with a key pair: (access key, secret key).
    fn second_account(&self, name: &str) -> (String, String) {
        self.admin(&["account", "create", name]);
        self.admin(&["user", "create", name, "--account", name]);
        let out = self.admin(&["key", "create", "--user", name]);
        let field = |label: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(label))
                .map(|v| v.trim().to_owned())
                .unwrap()
        };
        (field("access_key:"), field("secret_key:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Shared by every script: a client from the written configuration, and `err(call)` giving the
/// error code and HTTP status a call fails with.
const PRELUDE: &str = r#"
import base64, hashlib, io, os, sys, zlib
import boto3, botocore
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client('s3')
def err(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return (e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'])
    raise AssertionError('the call succeeded: %r %r' % (args, kwargs))
def expect(got, want):
    assert got == want, 'got %r, want %r' % (got, want)
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, 'big')).decode()
"#;

#[test]
fn s3_buckets_names_regions_and_tenancy() {
    let server = Server::start();
    let (bob_ak, bob_sk) = server.second_account("bob");
    server.python(
        r#"
s3.create_bucket(Bucket='alpha')
expect(err(s3.create_bucket, Bucket='alpha'), ('BucketAlreadyOwnedByYou', 409))
expect(err(s3.create_bucket, Bucket='Bad_Name'), ('InvalidBucketName', 400))
expect(err(s3.create_bucket, Bucket='ab'), ('InvalidBucketName', 400))
expect(err(s3.create_bucket, Bucket='beta',
           CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})[0],
       'IllegalLocationConstraintException')
head = s3.head_bucket(Bucket='alpha')
expect(head['ResponseMetadata']['HTTPHeaders']['x-amz-bucket-region'], 'us-east-1')
expect(s3.get_bucket_location(Bucket='alpha').get('LocationConstraint'), None)
expect([b['Name'] for b in s3.list_buckets()['Buckets']], ['alpha'])
expect('Status' in s3.get_bucket_versioning(Bucket='alpha'), False)
expect(err(s3.get_bucket_policy, Bucket='alpha'), ('NoSuchBucketPolicy', 404))
expect(err(s3.get_bucket_cors, Bucket='alpha'), ('NoSuchCORSConfiguration', 404))

bob = boto3.client('s3', aws_access_key_id=os.environ['BOB_AK'],
                   aws_secret_access_key=os.environ['BOB_SK'])
expect(err(bob.create_bucket, Bucket='alpha'), ('BucketAlreadyExists', 409))
expect(err(bob.head_bucket, Bucket='alpha'), ('403', 403))
expect(err(bob.list_objects_v2, Bucket='alpha'), ('AccessDenied', 403))
expect(err(bob.put_object, Bucket='alpha', Key='k', Body=b'x'), ('AccessDenied', 403))
expect(bob.list_buckets()['Buckets'], [])

s3.put_object(Bucket='alpha', Key='k', Body=b'x')
expect(err(bob.get_object, Bucket='alpha', Key='k'), ('AccessDenied', 403))
expect(err(s3.delete_bucket, Bucket='alpha'), ('BucketNotEmpty', 409))
s3.delete_object(Bucket='alpha', Key='k')
s3.delete_bucket(Bucket='alpha')
expect(err(s3.head_bucket, Bucket='alpha'), ('404', 404))
expect(err(s3.delete_bucket, Bucket='alpha'), ('NoSuchBucket', 404))
"#,
        &[("BOB_AK", &bob_ak), ("BOB_SK", &bob_sk)],
    );

    // The AWS CLI's own view of the same.
    stdout(&server.aws(&["s3", "mb", "s3://gamma"]));
    let ls = stdout(&server.aws(&["s3", "ls"]));
    assert!(ls.contains("gamma"), "{ls}");
    stdout(&server.aws(&["s3", "rb", "s3://gamma"]));
}

#[test]
fn s3_objects_metadata_ranges_conditions_and_checksums() {
    let server = Server::start();
    server.python(
        r#"
s3.create_bucket(Bucket='objs')
data = bytes(range(256)) * 40
put = s3.put_object(Bucket='objs', Key='data.bin', Body=data, ContentType='application/x-test',
                    ContentDisposition='attachment', CacheControl='max-age=60',
                    Metadata={'Colour': 'blue', 'n': '1'})
md5 = hashlib.md5(data).hexdigest()
expect(put['ETag'], '"%s"' % md5)

got = s3.get_object(Bucket='objs', Key='data.bin')
expect(got['Body'].read(), data)
expect(got['ContentType'], 'application/x-test')
expect(got['ContentDisposition'], 'attachment')
expect(got['CacheControl'], 'max-age=60')
expect(got['Metadata'], {'colour': 'blue', 'n': '1'})
expect(got['ContentLength'], len(data))

r = s3.get_object(Bucket='objs', Key='data.bin', Range='bytes=10-19')
expect(r['ResponseMetadata']['HTTPStatusCode'], 206)
expect(r['ContentRange'], 'bytes 10-19/%d' % len(data))
expect(r['Body'].read(), data[10:20])
r = s3.get_object(Bucket='objs', Key='data.bin', Range='bytes=-5')
expect(r['Body'].read(), data[-5:])
r = s3.get_object(Bucket='objs', Key='data.bin', Range='bytes=10000-99999')
expect(r['Body'].read(), data[10000:])
try:
    s3.get_object(Bucket='objs', Key='data.bin', Range='bytes=20000-')
    raise AssertionError('a range past the end was served')
except ClientError as e:
    expect(e.response['Error']['Code'], 'InvalidRange')
    expect(e.response['ResponseMetadata']['HTTPStatusCode'], 416)
    expect(e.response['ResponseMetadata']['HTTPHeaders']['content-range'], 'bytes */%d' % len(data))

expect(err(s3.get_object, Bucket='objs', Key='data.bin', IfNoneMatch='"%s"' % md5), ('304', 304))
expect(err(s3.get_object, Bucket='objs', Key='data.bin', IfMatch='"nope"'), ('PreconditionFailed', 412))
expect(err(s3.head_object, Bucket='objs', Key='data.bin', IfMatch='"nope"'), ('412', 412))
lm = got['LastModified']
expect(err(s3.get_object, Bucket='objs', Key='data.bin', IfModifiedSince=lm), ('304', 304))
s3.get_object(Bucket='objs', Key='data.bin', IfMatch='"%s"' % md5, IfUnmodifiedSince=lm)

expect(err(s3.put_object, Bucket='objs', Key='data.bin', Body=b'x', IfNoneMatch='*'),
       ('PreconditionFailed', 412))
s3.put_object(Bucket='objs', Key='fresh', Body=b'x', IfNoneMatch='*')

head = s3.head_object(Bucket='objs', Key='data.bin')
expect(head['ContentLength'], len(data))
expect(head['Metadata'], {'colour': 'blue', 'n': '1'})
expect(err(s3.head_object, Bucket='objs', Key='missing'), ('404', 404))
expect(err(s3.get_object, Bucket='objs', Key='missing'), ('NoSuchKey', 404))

# Checksums: botocore sends CRC32 by default; each algorithm is verified and kept.
for algo in ['CRC32', 'SHA1', 'SHA256']:
    p = s3.put_object(Bucket='objs', Key='sum-' + algo, Body=data, ChecksumAlgorithm=algo)
    want = p['Checksum' + algo]
    h = s3.head_object(Bucket='objs', Key='sum-' + algo, ChecksumMode='ENABLED')
    expect(h['Checksum' + algo], want)
    g = s3.get_object(Bucket='objs', Key='sum-' + algo, ChecksumMode='ENABLED')
    expect(g['Checksum' + algo], want)
    expect(g['Body'].read(), data)
    ranged = s3.get_object(Bucket='objs', Key='sum-' + algo, ChecksumMode='ENABLED', Range='bytes=0-9')
    expect('Checksum' + algo in ranged, False)
crc = base64.b64encode(zlib.crc32(data).to_bytes(4, 'big')).decode()
expect(s3.head_object(Bucket='objs', Key='sum-CRC32', ChecksumMode='ENABLED')['ChecksumCRC32'], crc)

raw = boto3.client('s3', config=Config(request_checksum_calculation='when_required',
                                       response_checksum_validation='when_required'))
good_md5 = base64.b64encode(hashlib.md5(b'hello').digest()).decode()
raw.put_object(Bucket='objs', Key='md5', Body=b'hello', ContentMD5=good_md5)
expect(err(raw.put_object, Bucket='objs', Key='md5', Body=b'hellO', ContentMD5=good_md5),
       ('BadDigest', 400))
expect(err(raw.put_object, Bucket='objs', Key='md5', Body=b'hello', ContentMD5='bm90LW1kNQ=='),
       ('InvalidDigest', 400))
expect(err(raw.put_object, Bucket='objs', Key='md5', Body=b'hello', ChecksumCRC32='AAAAAA=='),
       ('BadDigest', 400))
expect(err(raw.put_object, Bucket='objs', Key='md5', Body=b'hello', ChecksumSHA256='AAAA'),
       ('InvalidDigest', 400))
expect(s3.get_object(Bucket='objs', Key='md5')['Body'].read(), b'hello')
# CRC32C, computed here (botocore needs the CRT to compute it itself).
raw.put_object(Bucket='objs', Key='c', Body=b'hello', ChecksumCRC32C=crc32c(b'hello'))
expect(raw.head_object(Bucket='objs', Key='c', ChecksumMode='ENABLED')['ChecksumCRC32C'], crc32c(b'hello'))
expect(err(raw.put_object, Bucket='objs', Key='c', Body=b'hellO', ChecksumCRC32C=crc32c(b'hello')),
       ('BadDigest', 400))

# Deleting: a missing key is 204 too; DeleteObjects needs no Content-MD5.
d = s3.delete_object(Bucket='objs', Key='never-was')
expect(d['ResponseMetadata']['HTTPStatusCode'], 204)
out = s3.delete_objects(Bucket='objs', Delete={'Objects': [{'Key': 'fresh'}, {'Key': 'ghost'}]})
expect(sorted(o['Key'] for o in out['Deleted']), ['fresh', 'ghost'])
out = raw.delete_objects(Bucket='objs', Delete={'Objects': [{'Key': 'md5'}], 'Quiet': True})
expect(out.get('Deleted', []), [])
expect(err(s3.head_object, Bucket='objs', Key='md5'), ('404', 404))

# Copying: metadata travels unless replaced; copying onto itself needs REPLACE.
c = s3.copy_object(Bucket='objs', Key='copy', CopySource={'Bucket': 'objs', 'Key': 'data.bin'})
expect(c['CopyObjectResult']['ETag'], '"%s"' % md5)
expect(s3.get_object(Bucket='objs', Key='copy')['Metadata'], {'colour': 'blue', 'n': '1'})
s3.copy_object(Bucket='objs', Key='copy', CopySource='objs/data.bin', MetadataDirective='REPLACE',
               Metadata={'fresh': 'yes'}, ContentType='text/plain')
g = s3.get_object(Bucket='objs', Key='copy')
expect((g['Metadata'], g['ContentType'], g['Body'].read()), ({'fresh': 'yes'}, 'text/plain', data))
expect(err(s3.copy_object, Bucket='objs', Key='copy', CopySource='objs/copy')[0], 'InvalidRequest')
expect(err(s3.copy_object, Bucket='objs', Key='c2', CopySource='objs/copy',
           CopySourceIfMatch='"nope"'), ('PreconditionFailed', 412))
"#,
        &[],
    );
}

#[test]
fn s3_keys_are_byte_exact() {
    let server = Server::start();
    server.python(
        r#"
s3.create_bucket(Bucket='keys')
keys = ['a b', 'a+b', 'a%20b', '100%', 'dir/', 'dir//x', '..', '../escape', 'é/ü/日本',
        'tab\there', 'q?x=1&y', '#hash', 'k' * 1024]
for k in keys:
    s3.put_object(Bucket='keys', Key=k, Body=k.encode())
for k in keys:
    expect(s3.get_object(Bucket='keys', Key=k)['Body'].read(), k.encode())
listed = [o['Key'] for o in s3.list_objects_v2(Bucket='keys')['Contents']]
expect(listed, sorted(keys, key=lambda k: k.encode()))
listed = [o['Key'] for o in s3.list_objects(Bucket='keys')['Contents']]
expect(listed, sorted(keys, key=lambda k: k.encode()))
expect(err(s3.put_object, Bucket='keys', Key='k' * 1025, Body=b'x')[1], 400)
"#,
        &[],
    );
    // Nothing under the data directory is named after a key.
    let blobs = server.data().join("blobs");
    let mut stack = vec![blobs];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                name == "tmp" || name.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}"
            );
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

#[test]
fn s3_listing_pages_prefixes_tokens_and_encoding() {
    let server = Server::start();
    server.python(
        r#"
s3.create_bucket(Bucket='list')
keys = ['a', 'b/1', 'b/2', 'b/3/x', 'c', 'd/1', 'e', 'f g', 'h+i']
for k in keys:
    s3.put_object(Bucket='list', Key=k, Body=b'.')

r = s3.list_objects_v2(Bucket='list', Delimiter='/')
expect([o['Key'] for o in r['Contents']], ['a', 'c', 'e', 'f g', 'h+i'])
expect([p['Prefix'] for p in r['CommonPrefixes']], ['b/', 'd/'])
expect((r['KeyCount'], r['IsTruncated']), (7, False))

# max-keys counts contents and common prefixes together; pages follow the token.
seen, token, pages = [], None, 0
while True:
    kw = {'ContinuationToken': token} if token else {}
    r = s3.list_objects_v2(Bucket='list', Delimiter='/', MaxKeys=2, **kw)
    pages += 1
    seen += [o['Key'] for o in r.get('Contents', [])] + [p['Prefix'] for p in r.get('CommonPrefixes', [])]
    expect(r['KeyCount'] <= 2, True)
    if not r['IsTruncated']:
        break
    token = r['NextContinuationToken']
expect((sorted(seen), pages), (sorted(['a', 'b/', 'c', 'd/', 'e', 'f g', 'h+i']), 4))

r = s3.list_objects_v2(Bucket='list', MaxKeys=9)
expect((r['KeyCount'], r['IsTruncated']), (9, False))
r = s3.list_objects_v2(Bucket='list', MaxKeys=8)
expect((r['KeyCount'], r['IsTruncated']), (8, True))
r = s3.list_objects_v2(Bucket='list', MaxKeys=0)
expect((r['KeyCount'], r['IsTruncated'], 'Contents' in r), (0, False, False))
r = s3.list_objects_v2(Bucket='list', StartAfter='b/2')
expect([o['Key'] for o in r['Contents']][:2], ['b/3/x', 'c'])
r = s3.list_objects_v2(Bucket='list', Prefix='b/', Delimiter='/')
expect(([o['Key'] for o in r['Contents']], [p['Prefix'] for p in r['CommonPrefixes']]),
       (['b/1', 'b/2'], ['b/3/']))
expect(err(s3.list_objects_v2, Bucket='list', ContinuationToken='Zm9yZ2VkLXRva2Vu'),
       ('InvalidArgument', 400))

# V1: marker and NextMarker.
r = s3.list_objects(Bucket='list', Delimiter='/', MaxKeys=2)
expect((r['IsTruncated'], r['NextMarker']), (True, 'b/'))
r = s3.list_objects(Bucket='list', Delimiter='/', Marker='b/')
expect([o['Key'] for o in r['Contents']][0], 'c')

# encoding-type=url: asked for explicitly, botocore hands the encoded fields through.
r = s3.list_objects_v2(Bucket='list', Prefix='f', EncodingType='url')
expect(([o['Key'] for o in r['Contents']], r['Prefix']), (['f%20g'], 'f'))
r = s3.list_objects_v2(Bucket='list', Prefix='h+', Delimiter=' ', EncodingType='url')
expect(([o['Key'] for o in r['Contents']], r['Prefix'], r['Delimiter']), (['h%2Bi'], 'h%2B', '%20'))
r = s3.list_objects(Bucket='list', Prefix='f', Delimiter='/', EncodingType='url')
expect([o['Key'] for o in r['Contents']], ['f%20g'])
# Not asked for, nothing is encoded.
raw = boto3.client('s3')
raw.meta.events.unregister('before-parameter-build.s3.ListObjectsV2',
                           botocore.handlers.set_list_objects_encoding_type_url)
raw.meta.events.unregister('after-call.s3.ListObjectsV2', botocore.handlers.decode_list_object_v2)
r = raw.list_objects_v2(Bucket='list', Prefix='h')
expect(([o['Key'] for o in r['Contents']], 'EncodingType' in r), (['h+i'], False))

# Unversioned buckets list every object once, with version id null.
v = s3.list_object_versions(Bucket='list')
expect(sorted(x['Key'] for x in v['Versions']), sorted(keys))
expect({x['VersionId'] for x in v['Versions']}, {'null'})
"#,
        &[],
    );

    // The AWS CLI's recursive listing and removal walk the same pages.
    let ls = stdout(&server.aws(&["s3", "ls", "--recursive", "s3://list"]));
    assert_eq!(ls.lines().count(), 9, "{ls}");
    stdout(&server.aws(&["s3", "rm", "--only-show-errors", "--recursive", "s3://list"]));
    let ls = server.aws(&["s3", "ls", "--recursive", "s3://list"]);
    assert!(String::from_utf8_lossy(&ls.stdout).trim().is_empty());
}

fn count_blob_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            n += count_blob_files(&entry.path());
        } else {
            n += 1;
        }
    }
    n
}

fn wait_for_blob_count(server: &Server, want: usize) {
    let blobs = server.data().join("blobs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = count_blob_files(&blobs);
    while got != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        got = count_blob_files(&blobs);
    }
    assert_eq!(got, want, "blob files under {}", blobs.display());
}

#[test]
fn s3_multipart_uploads_round_trip_and_clean_up() {
    let mut server = Server::start();
    server.python(
        r#"
s3.create_bucket(Bucket='multi')
MiB = 1 << 20
u = s3.create_multipart_upload(Bucket='multi', Key='big', ChecksumAlgorithm='CRC32', Metadata={'a': '1'})
uid = u['UploadId']
parts = []
for n, size in [(1, 5 * MiB), (2, 5 * MiB), (3, 1000)]:
    body = bytes([n]) * size
    p = s3.upload_part(Bucket='multi', Key='big', UploadId=uid, PartNumber=n, Body=body,
                       ChecksumAlgorithm='CRC32')
    parts.append({'PartNumber': n, 'ETag': p['ETag'], 'ChecksumCRC32': p['ChecksumCRC32']})
lp = s3.list_parts(Bucket='multi', Key='big', UploadId=uid, MaxParts=2)
expect(([p['PartNumber'] for p in lp['Parts']], lp['IsTruncated'], lp['NextPartNumberMarker']), ([1, 2], True, 2))
lu = s3.list_multipart_uploads(Bucket='multi')
expect([x['UploadId'] for x in lu['Uploads']], [uid])

expect(err(s3.complete_multipart_upload, Bucket='multi', Key='big', UploadId=uid,
           MultipartUpload={'Parts': [parts[1], parts[0]]}), ('InvalidPartOrder', 400))
bad = dict(parts[0], ETag='"00000000000000000000000000000000"')
expect(err(s3.complete_multipart_upload, Bucket='multi', Key='big', UploadId=uid,
           MultipartUpload={'Parts': [bad]}), ('InvalidPart', 400))
expect(err(s3.complete_multipart_upload, Bucket='multi', Key='big', UploadId=uid,
           MultipartUpload={'Parts': [parts[2], dict(parts[0], PartNumber=4)]})[0], 'InvalidPart')
done = s3.complete_multipart_upload(Bucket='multi', Key='big', UploadId=uid,
                                    MultipartUpload={'Parts': parts})
md5s = b''.join(hashlib.md5(bytes([n]) * s).digest() for n, s in [(1, 5 * MiB), (2, 5 * MiB), (3, 1000)])
expect(done['ETag'], '"%s-3"' % hashlib.md5(md5s).hexdigest())
g = s3.get_object(Bucket='multi', Key='big', Range='bytes=%d-%d' % (5 * MiB - 2, 5 * MiB + 1))
expect(g['Body'].read(), b'\x01\x01\x02\x02')
h = s3.head_object(Bucket='multi', Key='big', ChecksumMode='ENABLED')
expect((h['ContentLength'], h['Metadata'], h['ChecksumCRC32'].endswith('-3')), (10 * MiB + 1000, {'a': '1'}, True))
expect(err(s3.list_parts, Bucket='multi', Key='big', UploadId=uid), ('NoSuchUpload', 404))

# A part below 5 MiB that is not the last is refused.
u2 = s3.create_multipart_upload(Bucket='multi', Key='small')['UploadId']
small = [s3.upload_part(Bucket='multi', Key='small', UploadId=u2, PartNumber=n, Body=b'x' * 100)['ETag']
         for n in (1, 2)]
expect(err(s3.complete_multipart_upload, Bucket='multi', Key='small', UploadId=u2,
           MultipartUpload={'Parts': [{'PartNumber': n + 1, 'ETag': e} for n, e in enumerate(small)]}),
       ('EntityTooSmall', 400))
s3.abort_multipart_upload(Bucket='multi', Key='small', UploadId=u2)
expect(err(s3.upload_part, Bucket='multi', Key='small', UploadId=u2, PartNumber=1, Body=b'x'),
       ('NoSuchUpload', 404))

# An upload in progress, left for after the restart.
u3 = s3.create_multipart_upload(Bucket='multi', Key='later')['UploadId']
e1 = s3.upload_part(Bucket='multi', Key='later', UploadId=u3, PartNumber=1, Body=b'y' * (5 * MiB))['ETag']
open(os.path.join(os.environ['DATA_DIR'], 'upload'), 'w').write('%s %s' % (u3, e1))
"#,
        &[],
    );

    // The big object's 3 parts and the pending upload's one part are all that is stored.
    wait_for_blob_count(&server, 4);
    server.restart();
    server.python(
        r#"
u3, e1 = open(os.path.join(os.environ['DATA_DIR'], 'upload')).read().split()
lp = s3.list_parts(Bucket='multi', Key='later', UploadId=u3)
expect([p['ETag'] for p in lp['Parts']], [e1])
e2 = s3.upload_part(Bucket='multi', Key='later', UploadId=u3, PartNumber=2, Body=b'z')['ETag']
s3.complete_multipart_upload(Bucket='multi', Key='later', UploadId=u3,
    MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': e1}, {'PartNumber': 2, 'ETag': e2}]})
expect(s3.get_object(Bucket='multi', Key='later')['Body'].read(), b'y' * (5 << 20) + b'z')
s3.delete_object(Bucket='multi', Key='later')
s3.delete_object(Bucket='multi', Key='big')
"#,
        &[],
    );
    wait_for_blob_count(&server, 0);

    // `aws s3 cp` of 40 MiB: 8 MiB parts, ten at a time, CRC32 on each; byte-identical back.
    let file = server.data().join("forty.bin");
    let mut data = Vec::with_capacity(40 << 20);
    let mut x: u32 = 12345;
    while data.len() < 40 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&file, &data).unwrap();
    let file = file.to_str().unwrap();
    stdout(&server.aws(&[
        "s3",
        "cp",
        "--only-show-errors",
        file,
        "s3://multi/forty.bin",
    ]));
    let back = server.data().join("forty.back");
    stdout(&server.aws(&[
        "s3",
        "cp",
        "--only-show-errors",
        "s3://multi/forty.bin",
        back.to_str().unwrap(),
    ]));
    assert!(
        std::fs::read(&back).unwrap() == data,
        "the 40 MiB file came back different"
    );
    let head = stdout(&server.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "multi",
        "--key",
        "forty.bin",
    ]));
    assert!(head.contains("-5\\\""), "{head}");
    wait_for_blob_count(&server, 5);
}

#[test]
fn s3_https_aws_chunked_trailers_are_verified_and_never_stored() {
    let server = Server::start_tls();
    server.python(
        r#"
seen = {}
def capture(request, **kw):
    seen[kw['event_name']] = dict(request.headers)
s3.meta.events.register('before-send.s3.PutObject', capture)
s3.meta.events.register('before-send.s3.UploadPart', capture)
s3.create_bucket(Bucket='tls')
data = b'trailer body ' * 100000
put = s3.put_object(Bucket='tls', Key='t', Body=data)
sent = seen['before-send.s3.PutObject']
expect((sent['X-Amz-Content-SHA256'], sent['Content-Encoding'], sent['X-Amz-Trailer']),
       (b'STREAMING-UNSIGNED-PAYLOAD-TRAILER', b'aws-chunked', b'x-amz-checksum-crc32'))
crc = base64.b64encode(zlib.crc32(data).to_bytes(4, 'big')).decode()
expect(put['ChecksumCRC32'], crc)
g = s3.get_object(Bucket='tls', Key='t', ChecksumMode='ENABLED')
expect((g['Body'].read() == data, g['ContentLength'], g['ChecksumCRC32']), (True, len(data), crc))

# Multipart over HTTPS: every part arrives aws-chunked with its trailer.
s3.upload_fileobj(io.BytesIO(data * 20), 'tls', 'big')
expect(seen['before-send.s3.UploadPart']['X-Amz-Trailer'], b'x-amz-checksum-crc32')
expect(s3.get_object(Bucket='tls', Key='big')['Body'].read() == data * 20, True)

# A wrong trailing checksum is refused and nothing is stored.
import re
once = boto3.client('s3', config=Config(retries={'total_max_attempts': 1}))
def tamper(request, **kw):
    body = request.body
    raw = body.read() if hasattr(body, 'read') else b''.join(body)
    request.body = re.sub(rb'x-amz-checksum-crc32:[A-Za-z0-9+/=]+',
                          b'x-amz-checksum-crc32:AAAAAA==', raw)
once.meta.events.register('before-send.s3.PutObject', tamper)
expect(err(once.put_object, Bucket='tls', Key='bad', Body=b'x' * 1000), ('BadDigest', 400))
expect(err(s3.head_object, Bucket='tls', Key='bad'), ('404', 404))
"#,
        &[],
    );
}

#[test]
fn s3_canned_acls_open_public_reads_only() {
    let server = Server::start();
    server.python(
        r#"
from botocore import UNSIGNED
anon = boto3.client('s3', config=Config(signature_version=UNSIGNED))
s3.create_bucket(Bucket='open', ACL='public-read')
s3.put_object(Bucket='open', Key='public', Body=b'for all', ACL='public-read')
s3.put_object(Bucket='open', Key='private', Body=b'mine')
expect(anon.get_object(Bucket='open', Key='public')['Body'].read(), b'for all')
expect(err(anon.get_object, Bucket='open', Key='private'), ('AccessDenied', 403))
expect(sorted(o['Key'] for o in anon.list_objects_v2(Bucket='open')['Contents']),
       ['private', 'public'])
expect(err(anon.put_object, Bucket='open', Key='x', Body=b'x'), ('AccessDenied', 403))
expect(err(anon.delete_object, Bucket='open', Key='public'), ('AccessDenied', 403))
expect(err(anon.list_buckets), ('AccessDenied', 403))
expect(err(anon.create_bucket, Bucket='anon'), ('AccessDenied', 403))
grants = s3.get_bucket_acl(Bucket='open')['Grants']
expect(sorted(g['Permission'] for g in grants), ['FULL_CONTROL', 'READ'])

s3.create_bucket(Bucket='closed')
s3.put_object(Bucket='closed', Key='k', Body=b'x', ACL='public-read')
expect(err(anon.list_objects_v2, Bucket='closed'), ('AccessDenied', 403))
expect(anon.get_object(Bucket='closed', Key='k')['Body'].read(), b'x')
expect(err(anon.get_object, Bucket='closed', Key='nothing'), ('AccessDenied', 403))
"#,
        &[],
    );
}

#[test]
fn s3_object_and_bucket_tagging() {
    let server = Server::start();
    let (bob_ak, bob_sk) = server.second_account("bob");
    server.python(
        r#"
bob = boto3.client('s3', aws_access_key_id=os.environ['BOB_AK'],
                   aws_secret_access_key=os.environ['BOB_SK'])
s3.create_bucket(Bucket='tags')
expect(err(s3.get_bucket_tagging, Bucket='tags'), ('NoSuchTagSet', 404))
s3.put_bucket_tagging(Bucket='tags', Tagging={'TagSet': [{'Key': 'team', 'Value': 'blue'}]})
expect(s3.get_bucket_tagging(Bucket='tags')['TagSet'], [{'Key': 'team', 'Value': 'blue'}])
fifty = [{'Key': 'k%d' % i, 'Value': 'v'} for i in range(50)]
s3.put_bucket_tagging(Bucket='tags', Tagging={'TagSet': fifty})
expect(len(s3.get_bucket_tagging(Bucket='tags')['TagSet']), 50)
expect(err(s3.put_bucket_tagging, Bucket='tags',
           Tagging={'TagSet': fifty + [{'Key': 'one-more', 'Value': 'v'}]}), ('InvalidTag', 400))
expect(err(bob.get_bucket_tagging, Bucket='tags'), ('AccessDenied', 403))
s3.delete_bucket_tagging(Bucket='tags')
expect(err(s3.get_bucket_tagging, Bucket='tags'), ('NoSuchTagSet', 404))

# On PutObject, through the header; the count on GET and HEAD.
s3.put_object(Bucket='tags', Key='k', Body=b'x', Tagging='a=1&b%20c=d%2Fe')
expect(s3.get_object_tagging(Bucket='tags', Key='k')['TagSet'],
       [{'Key': 'a', 'Value': '1'}, {'Key': 'b c', 'Value': 'd/e'}])
expect(s3.get_object(Bucket='tags', Key='k')['TagCount'], 2)
head = s3.head_object(Bucket='tags', Key='k')
expect(head['ResponseMetadata']['HTTPHeaders']['x-amz-tagging-count'], '2')
etag = head['ETag']

# Put/Delete replace the set without touching the object.
s3.put_object_tagging(Bucket='tags', Key='k', Tagging={'TagSet': [{'Key': 'z', 'Value': ''}]})
expect(s3.get_object_tagging(Bucket='tags', Key='k')['TagSet'], [{'Key': 'z', 'Value': ''}])
expect(s3.head_object(Bucket='tags', Key='k')['ETag'], etag)
expect(s3.get_object(Bucket='tags', Key='k')['Body'].read(), b'x')
s3.delete_object_tagging(Bucket='tags', Key='k')
expect(s3.get_object_tagging(Bucket='tags', Key='k')['TagSet'], [])
expect('TagCount' in s3.get_object(Bucket='tags', Key='k'), False)
expect('x-amz-tagging-count' in s3.head_object(Bucket='tags', Key='k')['ResponseMetadata']['HTTPHeaders'], False)

# S3's limits: 10 per object, keys of 128, values of 256 characters, unique keys.
eleven = [{'Key': 'k%d' % i, 'Value': 'v'} for i in range(11)]
expect(err(s3.put_object_tagging, Bucket='tags', Key='k', Tagging={'TagSet': eleven}),
       ('InvalidTag', 400))
expect(err(s3.put_object_tagging, Bucket='tags', Key='k',
           Tagging={'TagSet': [{'Key': 'k' * 129, 'Value': 'v'}]}), ('InvalidTag', 400))
expect(err(s3.put_object_tagging, Bucket='tags', Key='k',
           Tagging={'TagSet': [{'Key': 'k', 'Value': 'v' * 257}]}), ('InvalidTag', 400))
expect(err(s3.put_object_tagging, Bucket='tags', Key='k',
           Tagging={'TagSet': [{'Key': 'k', 'Value': '1'}, {'Key': 'k', 'Value': '2'}]}),
       ('InvalidTag', 400))
s3.put_object_tagging(Bucket='tags', Key='k',
                      Tagging={'TagSet': [{'Key': 'k' * 128, 'Value': 'v' * 256}]})
expect(err(s3.put_object, Bucket='tags', Key='k2', Body=b'x',
           Tagging='&'.join('k%d=v' % i for i in range(11))), ('InvalidTag', 400))
expect(err(s3.head_object, Bucket='tags', Key='k2'), ('404', 404))
expect(err(s3.put_object_tagging, Bucket='tags', Key='missing', Tagging={'TagSet': []}),
       ('NoSuchKey', 404))
expect(err(bob.put_object_tagging, Bucket='tags', Key='k', Tagging={'TagSet': []}),
       ('AccessDenied', 403))

# An overwrite replaces the tags; a delete removes them with the object.
s3.put_object(Bucket='tags', Key='k', Body=b'y')
expect(s3.get_object_tagging(Bucket='tags', Key='k')['TagSet'], [])
s3.put_object(Bucket='tags', Key='k', Body=b'y', Tagging='old=1')
s3.delete_object(Bucket='tags', Key='k')
s3.put_object(Bucket='tags', Key='k', Body=b'y')
expect(s3.get_object_tagging(Bucket='tags', Key='k')['TagSet'], [])

# CopyObject: COPY keeps the source's tags, REPLACE takes the request's.
s3.put_object(Bucket='tags', Key='src', Body=b'src', Tagging='from=src')
s3.copy_object(Bucket='tags', Key='c1', CopySource='tags/src')
expect(s3.get_object_tagging(Bucket='tags', Key='c1')['TagSet'], [{'Key': 'from', 'Value': 'src'}])
s3.copy_object(Bucket='tags', Key='c2', CopySource='tags/src', TaggingDirective='REPLACE',
               Tagging='new=yes')
expect(s3.get_object_tagging(Bucket='tags', Key='c2')['TagSet'], [{'Key': 'new', 'Value': 'yes'}])
s3.copy_object(Bucket='tags', Key='c3', CopySource='tags/src', TaggingDirective='REPLACE')
expect(s3.get_object_tagging(Bucket='tags', Key='c3')['TagSet'], [])

# CreateMultipartUpload's tags land on the completed object.
up = s3.create_multipart_upload(Bucket='tags', Key='mp', Tagging='multi=part')
p1 = s3.upload_part(Bucket='tags', Key='mp', UploadId=up['UploadId'], PartNumber=1, Body=b'a' * 100)
s3.complete_multipart_upload(Bucket='tags', Key='mp', UploadId=up['UploadId'],
    MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': p1['ETag']}]})
expect(s3.get_object_tagging(Bucket='tags', Key='mp')['TagSet'], [{'Key': 'multi', 'Value': 'part'}])
expect(s3.get_object(Bucket='tags', Key='mp')['TagCount'], 1)
"#,
        &[("BOB_AK", &bob_ak), ("BOB_SK", &bob_sk)],
    );
}

#[test]
fn s3_canned_acl_writes() {
    let server = Server::start();
    server.python(
        r#"
import urllib.request, urllib.error
def anon_get(path):
    try:
        with urllib.request.urlopen(os.environ['ENDPOINT'] + path) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
s3.create_bucket(Bucket='acls')
s3.put_object(Bucket='acls', Key='k', Body=b'x')
expect(anon_get('/acls/k'), 403)
expect(anon_get('/acls?list-type=2'), 403)

s3.put_object_acl(Bucket='acls', Key='k', ACL='public-read')
expect(anon_get('/acls/k'), 200)
grants = s3.get_object_acl(Bucket='acls', Key='k')['Grants']
expect(sorted((g['Grantee'].get('URI', 'owner'), g['Permission']) for g in grants),
       [('http://acs.amazonaws.com/groups/global/AllUsers', 'READ'), ('owner', 'FULL_CONTROL')])
s3.put_object_acl(Bucket='acls', Key='k', ACL='private')
expect(anon_get('/acls/k'), 403)
expect([g['Permission'] for g in s3.get_object_acl(Bucket='acls', Key='k')['Grants']],
       ['FULL_CONTROL'])

s3.put_bucket_acl(Bucket='acls', ACL='public-read')
expect(anon_get('/acls?list-type=2'), 200)
expect(sorted(g['Permission'] for g in s3.get_bucket_acl(Bucket='acls')['Grants']),
       ['FULL_CONTROL', 'READ'])
s3.put_bucket_acl(Bucket='acls', ACL='private')
expect(anon_get('/acls?list-type=2'), 403)

# A body that only restates a canned ACL is taken; anything else is 501.
acl = s3.get_object_acl(Bucket='acls', Key='k')
owner = acl['Owner']
public = {'Owner': owner, 'Grants': acl['Grants'] + [{'Grantee': {'Type': 'Group',
          'URI': 'http://acs.amazonaws.com/groups/global/AllUsers'}, 'Permission': 'READ'}]}
s3.put_object_acl(Bucket='acls', Key='k', AccessControlPolicy=public)
expect(anon_get('/acls/k'), 200)
s3.put_bucket_acl(Bucket='acls', AccessControlPolicy=public)
expect(anon_get('/acls?list-type=2'), 200)
other = {'Owner': owner, 'Grants': [{'Grantee': {'Type': 'CanonicalUser', 'ID': 'someone-else'},
         'Permission': 'READ'}]}
expect(err(s3.put_object_acl, Bucket='acls', Key='k', AccessControlPolicy=other),
       ('NotImplemented', 501))
expect(err(s3.put_bucket_acl, Bucket='acls', AccessControlPolicy=other), ('NotImplemented', 501))
expect(err(s3.put_object_acl, Bucket='acls', Key='k', GrantRead='id=someone-else'),
       ('NotImplemented', 501))
expect(err(s3.put_object_acl, Bucket='acls', Key='missing', ACL='private'), ('NoSuchKey', 404))
expect(err(s3.put_bucket_acl, Bucket='acls', ACL='log-delivery-write'), ('NotImplemented', 501))
"#,
        &[],
    );
}
