//! The blob store: where the bytes of objects, parts, templates, ISOs and snapshots live, behind
//! one trait so that an existing S3-compatible cluster can take the place of the local disk.
//! A blob is immutable once written and named by a generated id, never by anything a user
//! chose, so no key can reach outside the store. What a blob means is the database's business.
//!
//! [`FsBlobStore`], the default, keeps `DIR/blobs/ab/cd/<id>`: a blob is written to
//! `DIR/blobs/tmp/<writer>/<id>`, fsynced, renamed into place and its directory fsynced, so a
//! crash never leaves a partial blob under a final name. Several management servers may share
//! one blob directory: each writes in a directory of its own under `tmp/`, locked while it
//! runs, and a starting server clears only the writers' directories nobody holds. Writing and
//! reading run on blocking threads fed through small bounded channels, so the network and the
//! disk overlap and no more than a few MiB of any object is in memory at once.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// Any error, boxed: what a request body yields when its client goes away or its framing or
/// signature is wrong.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A request body as the blob store reads it.
pub type InBody = Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send + 'static>>;

/// How much a writer or reader moves per blocking call.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the network side and the disk side.
const IN_FLIGHT: usize = 4;
/// How much of a blob being written may wait in the page cache before it is flushed.
const FLUSH_EVERY: u64 = 32 << 20;
/// A read this small is done in one blocking call and answered as one chunk.
const SMALL_READ: u64 = 256 << 10;

/// Why writing or reading a blob failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body could not be read to its end; nothing was kept.
    #[error("the request body could not be read to its end")]
    Body(#[source] BoxError),
    /// The body is longer than the caller allowed; nothing was kept.
    #[error("the body is longer than {0} bytes")]
    TooLarge(u64),
    /// A blob the database refers to is not in the store.
    #[error("the blob {0} is missing from the blob store")]
    Missing(String),
    #[error("the blob store failed: {0}")]
    Io(#[from] io::Error),
}

/// A blob just written: durable, but referred to by no row yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBlob {
    pub id: String,
    pub size: u64,
}

/// Where blobs are kept.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// Writes a body into a new blob of at most `max_size` bytes, durably. On any error nothing
    /// is left behind.
    async fn write(&self, body: InBody, max_size: u64) -> Result<WrittenBlob, BlobError>;

    /// Opens `range` of a blob for reading. The blob is opened before this returns, so a blob
    /// deleted afterwards can still be read to the end.
    async fn read(&self, id: &str, range: Range<u64>) -> Result<BlobBody, BlobError>;

    /// Deletes a blob; a missing one is not an error.
    async fn delete(&self, id: &str) -> Result<(), BlobError>;
}

/// The bytes of a blob range, as an HTTP body.
pub struct BlobBody {
    kind: BodyKind,
    remaining: u64,
}

enum BodyKind {
    Once(Option<Bytes>),
    Chunks(mpsc::Receiver<io::Result<Bytes>>),
}

impl fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobBody")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl BlobBody {
    /// A body of bytes already in memory.
    pub fn once(bytes: Bytes) -> Self {
        Self {
            remaining: bytes.len() as u64,
            kind: BodyKind::Once(Some(bytes)),
        }
    }

    /// A body fed through a channel by another task, `remaining` bytes long.
    pub fn channel(remaining: u64) -> (mpsc::Sender<io::Result<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let body = Self {
            kind: BodyKind::Chunks(rx),
            remaining,
        };
        (tx, body)
    }

    /// The number of bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Body for BlobBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let next = match &mut self.kind {
            BodyKind::Once(bytes) => bytes.take().map(Ok),
            BodyKind::Chunks(rx) => match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(next) => next,
            },
        };
        match next {
            Some(Ok(bytes)) => {
                self.remaining = self.remaining.saturating_sub(bytes.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None if self.remaining > 0 => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the blob ended {} bytes early", self.remaining),
            )))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Blobs as files under one directory.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    /// This store's own directory for blobs being written, under `root/tmp`.
    tmp: PathBuf,
    /// The lock on `tmp` that tells other servers sharing `root` that this one is alive.
    _tmp_lock: File,
}

impl FsBlobStore {
    /// Opens (creating if needed) a blob store under `root`, and removes what crashed writers
    /// left in its temporary directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        let all_tmp = root.join("tmp");
        fs::create_dir_all(&all_tmp)?;
        clear_abandoned(&all_tmp)?;
        let (tmp, lock) = own_writing_dir(&all_tmp)?;
        Ok(Self {
            root: root.to_owned(),
            tmp,
            _tmp_lock: lock,
        })
    }

    /// `DIR/blobs/ab/cd/<id>`; ids are generated hex UUIDs, checked here all the same.
    fn path_of(&self, id: &str) -> Result<PathBuf, BlobError> {
        let valid = id.len() >= 8 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !valid {
            return Err(BlobError::Missing(id.to_owned()));
        }
        Ok(self.root.join(&id[0..2]).join(&id[2..4]).join(id))
    }
}

/// Makes a writing directory under `all_tmp` and locks it for as long as the store lives.
fn own_writing_dir(all_tmp: &Path) -> io::Result<(PathBuf, File)> {
    loop {
        let dir = all_tmp.join(uuid::Uuid::new_v4().simple().to_string());
        fs::create_dir(&dir)?;
        let lock = match File::open(&dir) {
            Ok(lock) => lock,
            // Another server's start took it for abandoned before we locked it: make another.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match lock.try_lock() {
            // The directory is ours only if nobody removed it before we held the lock.
            Ok(()) if dir.is_dir() => return Ok((dir, lock)),
            Ok(()) | Err(fs::TryLockError::WouldBlock) => continue,
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Removes the writing directories no live store holds, and loose files of older versions.
/// Another server starting at the same time may remove the same ones: what is gone is done.
fn clear_abandoned(all_tmp: &Path) -> io::Result<()> {
    let gone_is_fine = |result: io::Result<()>| match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    for entry in fs::read_dir(all_tmp)? {
        let entry = entry?;
        let path = entry.path();
        if !entry.file_type()?.is_dir() {
            gone_is_fine(fs::remove_file(&path))?;
            continue;
        }
        let Ok(lock) = File::open(&path) else {
            continue; // removed meanwhile by another server's start
        };
        if lock.try_lock().is_ok() {
            gone_is_fine(fs::remove_dir_all(&path))?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl BlobStore for FsBlobStore {
    async fn write(&self, mut body: InBody, max_size: u64) -> Result<WrittenBlob, BlobError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp_path = self.tmp.join(&id);
        let final_path = self.path_of(&id)?;

        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(IN_FLIGHT);
        let aborted = Arc::new(AtomicBool::new(false));
        let disk_aborted = aborted.clone();
        let disk_tmp = tmp_path.clone();
        let disk = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&disk_tmp)?;
            let mut flush = EarlyFlush::default();
            while let Some(pieces) = rx.blocking_recv() {
                let n = write_pieces(&mut file, &pieces)?;
                flush.wrote(&file, n)?;
            }
            flush.wait()?;
            if disk_aborted.load(Ordering::Acquire) {
                drop(file);
                return fs::remove_file(&disk_tmp);
            }
            file.sync_all()?;
            drop(file);
            let dir = final_path.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir)?;
            fs::rename(&disk_tmp, &final_path)?;
            File::open(dir)?.sync_all()
        });

        // Hand the body to the disk thread in batches of about CHUNK bytes, as the pieces came
        // (one vectored write each), never copied on the way.
        let mut size = 0u64;
        let mut batch = Vec::new();
        let mut batched = 0usize;
        let read_result: Result<(), BlobError> = async {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(BlobError::Body)?;
                let Ok(data) = frame.into_data() else {
                    continue; // trailers: the door reads them itself
                };
                if data.is_empty() {
                    continue;
                }
                size += data.len() as u64;
                if size > max_size {
                    return Err(BlobError::TooLarge(max_size));
                }
                batched += data.len();
                batch.push(data);
                if batched >= CHUNK {
                    batched = 0;
                    if tx.send(std::mem::take(&mut batch)).await.is_err() {
                        return Ok(()); // the disk side failed; its error is reported below
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch).await;
            }
            Ok(())
        }
        .await;

        if let Err(e) = read_result {
            // Dropping the sender makes the disk side finish; it throws its work away.
            aborted.store(true, Ordering::Release);
            drop(tx);
            let _ = disk.await;
            let _ = tokio::fs::remove_file(&tmp_path).await;
            return Err(e);
        }
        drop(tx);
        let disk_result = disk
            .await
            .map_err(|e| io::Error::other(format!("the blob writer stopped: {e}")))?;
        if let Err(e) = disk_result {
            let _ = tokio::fs::remove_file(&tmp_path).await;
            let _ = self.delete(&id).await;
            return Err(BlobError::Io(e));
        }
        Ok(WrittenBlob { id, size })
    }

    async fn read(&self, id: &str, range: Range<u64>) -> Result<BlobBody, BlobError> {
        let path = self.path_of(id)?;
        let len = range.end.saturating_sub(range.start);
        let missing = id.to_owned();
        let open = move || -> Result<File, BlobError> {
            let mut file = File::open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => BlobError::Missing(missing.clone()),
                _ => BlobError::Io(e),
            })?;
            file.seek(SeekFrom::Start(range.start))?;
            Ok(file)
        };

        if len <= SMALL_READ {
            let bytes = tokio::task::spawn_blocking(move || -> Result<Bytes, BlobError> {
                Ok(read_chunk(&mut open()?, len)?)
            })
            .await
            .map_err(|e| io::Error::other(format!("the blob reader stopped: {e}")))??;
            return Ok(BlobBody::once(bytes));
        }

        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
        tokio::task::spawn_blocking(move || {
            let mut file = match open() {
                Ok(file) => {
                    let _ = opened_tx.send(Ok(()));
                    file
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            let mut left = len;
            while left > 0 {
                let n = left.min(CHUNK as u64);
                let sent = match read_chunk(&mut file, n) {
                    Ok(chunk) => tx.blocking_send(Ok(chunk)),
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                if sent.is_err() {
                    return; // the client went away
                }
                left -= n;
            }
        });
        opened_rx
            .await
            .map_err(|_| io::Error::other("the blob reader stopped before opening"))??;
        Ok(BlobBody {
            kind: BodyKind::Chunks(rx),
            remaining: len,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), BlobError> {
        let path = self.path_of(id)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::Io(e)),
        }
    }
}

/// Writes pieces of a body with as few (vectored) writes as it takes; gives the bytes written.
fn write_pieces(file: &mut File, pieces: &[Bytes]) -> io::Result<u64> {
    let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
    let mut slices = slices.as_mut_slice();
    let mut written = 0u64;
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n as u64;
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Reads the next `n` bytes of a file into a buffer that is never zeroed first.
fn read_chunk(file: &mut File, n: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    file.take(n).read_to_end(&mut buf)?;
    if (buf.len() as u64) < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the blob ended {} bytes early", n - buf.len() as u64),
        ));
    }
    Ok(Bytes::from(buf))
}

// LIMITATION: blobs are written through the page cache. On a VM a page-cache page the guest
// has not touched lately costs a fault in the host, which made the kernel's copy cost up to half
// a second of system time per 256 MiB here; O_DIRECT would spare that copy but tie every PUT to
// the disk's own speed (83 - 266 MB/s at busy times here) and leave a GET right after it nothing
// cached to read.

/// Flushes a blob being written to the disk in the background every [`FLUSH_EVERY`] bytes,
/// one flush at a time, so the writeback overlaps the upload and the fsync that makes the blob
/// durable has little left to do. It changes nothing about durability: that fsync still runs.
#[derive(Default)]
struct EarlyFlush {
    unflushed: u64,
    running: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl EarlyFlush {
    fn wrote(&mut self, file: &File, n: u64) -> io::Result<()> {
        self.unflushed += n;
        if self.unflushed < FLUSH_EVERY || self.running.as_ref().is_some_and(|r| !r.is_finished()) {
            return Ok(());
        }
        // A flush that failed fails the blob: its error would not be reported again.
        self.wait()?;
        let handle = file.try_clone()?;
        self.running = Some(
            std::thread::Builder::new()
                .name("blob-flush".into())
                .spawn(move || handle.sync_data())?,
        );
        self.unflushed = 0;
        Ok(())
    }

    /// Waits for the flush in progress, if any.
    fn wait(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(running) => running
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a blob flush panicked"))),
            None => Ok(()),
        }
    }
}

/// A body whose first bytes were already read: those, then the rest.
pub struct Prefixed {
    head: Option<Bytes>,
    rest: InBody,
}

impl Prefixed {
    pub fn new(head: Bytes, rest: InBody) -> Self {
        Self {
            head: Some(head),
            rest,
        }
    }
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        self.rest.as_mut().poll_frame(cx)
    }
}

/// An in-memory body, for tests and for small internal writes.
pub fn body_from_bytes(bytes: Bytes) -> InBody {
    Box::pin(http_body_util::Full::new(bytes).map_err(|never| match never {}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use super::*;

    async fn read_all(mut body: BlobBody) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            out.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn writes_reads_ranges_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let blob = store
            .write(body_from_bytes(Bytes::from(data.clone())), u64::MAX)
            .await
            .unwrap();
        assert_eq!(blob.size, data.len() as u64);
        assert!(fs::read_dir(&store.tmp).unwrap().next().is_none());

        let whole = store.read(&blob.id, 0..blob.size).await.unwrap();
        assert_eq!(read_all(whole).await, data);
        let small = store.read(&blob.id, 10..20).await.unwrap();
        assert_eq!(read_all(small).await, &data[10..20]);
        let tail = store.read(&blob.id, 1_000_000..3_000_000).await.unwrap();
        assert_eq!(read_all(tail).await, &data[1_000_000..]);

        store.delete(&blob.id).await.unwrap();
        store.delete(&blob.id).await.unwrap();
        assert!(matches!(
            store.read(&blob.id, 0..1).await,
            Err(BlobError::Missing(_))
        ));
    }

    #[tokio::test]
    async fn too_large_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let err = store
            .write(body_from_bytes(Bytes::from(vec![1u8; 100])), 99)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::TooLarge(99)));
        assert!(fs::read_dir(&store.tmp).unwrap().next().is_none());
    }

    #[tokio::test]
    async fn a_store_opened_beside_a_live_one_keeps_its_writes_and_clears_a_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        let live = FsBlobStore::open(dir.path()).unwrap();
        let dead = FsBlobStore::open(dir.path()).unwrap();
        fs::write(live.tmp.join("half-written"), b"x").unwrap();
        fs::write(dead.tmp.join("left-by-a-crash"), b"x").unwrap();
        fs::write(dir.path().join("tmp").join("older-layout"), b"x").unwrap();
        let dead_tmp = dead.tmp.clone();
        drop(dead);

        let other = FsBlobStore::open(dir.path()).unwrap();
        assert!(
            live.tmp.join("half-written").is_file(),
            "a live writer's file was removed"
        );
        assert!(!dead_tmp.exists(), "a dead writer's directory was kept");
        assert!(!dir.path().join("tmp").join("older-layout").exists());
        assert_ne!(other.tmp, live.tmp);
        let blob = other
            .write(body_from_bytes(Bytes::from_static(b"shared")), 100)
            .await
            .unwrap();
        let read = live.read(&blob.id, 0..blob.size).await.unwrap();
        assert_eq!(read_all(read).await, b"shared");
    }

    #[test]
    fn ids_never_become_paths_outside() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert!(store.path_of("../../etc/passwd").is_err());
        assert!(store.path_of("abc").is_err());
        assert!(store.path_of("0123456789abcdef").is_ok());
    }
}
