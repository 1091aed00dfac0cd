//! Objects: making a staged blob visible under a key, reading an object's bytes, deleting.
//! Every change is one transaction that also moves the blobs it stops referring to into the
//! trash, so readers see the old object or the new one and no blob is ever lost track of.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use http_body_util::BodyExt;
use sqlx::{Any, AnyConnection, Connection, Executor, Transaction};
use tokio::sync::{mpsc, oneshot};

use bytes::Bytes;

use super::{
    begin_write, bucket_named, denied_bucket, writable, BlobBody, BlobError, Bucket, CannedAcl,
    NewObject, ObjectInfo, ObjectMeta, ObjectStore, Requester, Staged, StagedBlob, StorageError,
    StorageResult, StoredChecksum, WrittenBlob,
};
use crate::now_ms;
use crate::store::{Backend, Store};

/// Object writes waiting for the committer.
const COMMIT_QUEUE: usize = 1024;
/// The most writes one transaction takes.
const MAX_BATCH: usize = 256;
/// How long the checkpointer lets commits gather in the SQLite write-ahead log before it copies
/// them into the database file.
const CHECKPOINT_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// One object write, for the committer.
pub(super) struct PutJob {
    /// The bucket's name: the committer checks it exists and may be written by `who`.
    bucket: String,
    key: String,
    content: Content,
    new: NewObject,
    precondition: Precondition,
    who: Requester,
    reply: oneshot::Sender<StorageResult<Committed>>,
}

/// What the committer answers for one write.
pub(super) struct Committed {
    info: ObjectInfo,
    /// Whether the write put blobs in the trash (the object it replaced had some).
    trashed: bool,
}

/// Starts the committer: it makes object writes visible in batches, one transaction (and so
/// one fsync of the database) for every write that arrived while the last one committed.
pub(super) fn start_committer(store: Store) -> mpsc::Sender<PutJob> {
    let (tx, rx) = mpsc::channel(COMMIT_QUEUE);
    tokio::spawn(commit_batches(store, rx));
    tx
}

/// The committer's own connection, outside the pool, so no batch waits for one. On SQLite it
/// never checkpoints as part of a commit (`wal_autocheckpoint = 0`): see [`Checkpoints`].
async fn committer_connection(store: &Store) -> Result<AnyConnection, sqlx::Error> {
    let mut conn = store.pool.acquire().await?.detach();
    if store.backend == Backend::Sqlite {
        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
    }
    Ok(conn)
}

async fn commit_batches(store: Store, mut rx: mpsc::Receiver<PutJob>) {
    let checkpoints = (store.backend == Backend::Sqlite).then(|| Checkpoints::start(&store));
    let mut conn = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = match commit_grouped(&store, &mut conn, &batch).await {
            Ok(results) => Ok(results),
            Err(e) => {
                // Whatever failed (a bucket deleted meanwhile, a lost connection), the batch
                // was rolled back: write each on its own so one write cannot fail another.
                conn = None;
                let writes = batch.len();
                tracing::warn!(error = %e, writes, "a grouped write failed; writing one by one");
                commit_each(&store, &batch).await
            }
        };
        match results {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                let writes = batch.len();
                tracing::error!(error = %e, writes, "committing object writes failed");
                for job in batch {
                    let _ = job.reply.send(Err(StorageError::Internal(format!(
                        "committing the write failed: {e}"
                    ))));
                }
            }
        }
        if let (Some(checkpoints), Some(conn)) = (&checkpoints, conn.as_mut()) {
            checkpoints.after_commit(conn).await;
        }
    }
}

/// Checkpoints of a SQLite database, kept off the commits. Copying the write-ahead log into the
/// database file costs page writes and an fsync of the file; done by the committing connection
/// (SQLite's automatic checkpoint) every commit that crosses the threshold would wait for it.
/// Here a checkpointer task copies the log beside the committer (`PASSIVE`, which never blocks
/// a writer) half a second after commits; the log can only start over from its beginning once
/// every frame in it was copied, which never happens while the committer keeps appending, so
/// after each such pass the committer itself copies the few frames added meanwhile, between two
/// batches, after it has answered the first. It stops with the committer.
struct Checkpoints {
    wake: mpsc::Sender<()>,
    /// Set by the checkpointer when a pass ended and the committer should finish it.
    finish: Arc<std::sync::atomic::AtomicBool>,
}

impl Checkpoints {
    fn start(store: &Store) -> Self {
        let (wake, mut woken) = mpsc::channel::<()>(1);
        let finish = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let finished = finish.clone();
        let pool = store.pool.clone();
        tokio::spawn(async move {
            while woken.recv().await.is_some() {
                tokio::time::sleep(CHECKPOINT_AFTER).await;
                while woken.try_recv().is_ok() {}
                match pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                    Ok(_) => finished.store(true, std::sync::atomic::Ordering::Release),
                    Err(e) => {
                        tracing::warn!(error = %e, "checkpointing the write-ahead log failed")
                    }
                }
            }
        });
        Self { wake, finish }
    }

    /// Called by the committer after each batch, on its own connection.
    async fn after_commit(&self, conn: &mut AnyConnection) {
        let _ = self.wake.try_send(());
        if self.finish.swap(false, std::sync::atomic::Ordering::AcqRel) {
            if let Err(e) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %e, "finishing a checkpoint of the write-ahead log failed");
            }
        }
    }
}

/// Writes a batch in a handful of statements, whatever its size: one query reads the objects
/// under the batch's keys, the preconditions are judged here in order (a later write sees the
/// earlier ones), then one statement each deletes the replaced rows, trashes their blobs and
/// inserts the new rows. Any error rolls the whole batch back.
async fn commit_grouped(
    store: &Store,
    conn: &mut Option<AnyConnection>,
    batch: &[PutJob],
) -> StorageResult<Vec<StorageResult<Committed>>> {
    if conn.is_none() {
        *conn = Some(committer_connection(store).await?);
    }
    let Some(conn) = conn.as_mut() else {
        return Err(StorageError::Internal(
            "the committer has no connection".into(),
        ));
    };
    let mut tx = match store.backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => conn.begin().await?,
    };
    let buckets = buckets_named(&mut tx, batch).await?;
    let stored = stored_objects(&mut tx, batch, &buckets).await?;
    let plan = Plan::new(batch, &buckets, stored)?;
    plan.write(&mut tx).await?;
    tx.commit().await?;
    Ok(plan.results)
}

/// The fallback: the batch again, each write in its own savepoint.
async fn commit_each(
    store: &Store,
    batch: &[PutJob],
) -> StorageResult<Vec<StorageResult<Committed>>> {
    let mut tx = begin_write(store).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        sqlx::query("SAVEPOINT object_write")
            .execute(&mut *tx)
            .await?;
        let result = match bucket_named(&mut *tx, &job.bucket).await {
            Ok(bucket) => match writable(&job.who, &job.bucket, bucket) {
                Ok(bucket) => {
                    replace_object(
                        &mut tx,
                        &bucket,
                        &job.key,
                        job.content.clone(),
                        job.new.clone(),
                        &job.precondition,
                        &job.who,
                    )
                    .await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let end = if result.is_ok() {
            "RELEASE SAVEPOINT object_write"
        } else {
            "ROLLBACK TO SAVEPOINT object_write"
        };
        sqlx::query(end).execute(&mut *tx).await?;
        if result.is_err() {
            sqlx::query("RELEASE SAVEPOINT object_write")
                .execute(&mut *tx)
                .await?;
        }
        // Trashing is judged loosely here: an extra wake-up of the emptier costs one query.
        results.push(result.map(|info| Committed {
            info,
            trashed: true,
        }));
    }
    tx.commit().await?;
    Ok(results)
}

/// An object stored under one of a batch's keys before the batch.
#[derive(Debug, sqlx::FromRow)]
struct StoredObject {
    id: String,
    bucket_id: String,
    object_key: Vec<u8>,
    etag: String,
    blob_id: Option<String>,
    parts_count: Option<i64>,
}

/// `$first, $first+1, ... ` for `n` values, grouped in tuples of `width`.
fn placeholders(first: usize, n: usize, width: usize) -> String {
    let mut out = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        if width > 1 && i % width == 0 {
            out.push('(');
        }
        out.push_str(&format!("${}", first + i));
        if width > 1 && i % width == width - 1 {
            out.push(')');
        }
    }
    out
}

/// The buckets a batch writes to, by name, in one query.
async fn buckets_named(
    tx: &mut Transaction<'_, Any>,
    batch: &[PutJob],
) -> StorageResult<HashMap<String, Bucket>> {
    let mut names: Vec<&str> = batch.iter().map(|job| job.bucket.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let sql = format!(
        concat!(
            "SELECT ",
            super::bucket_columns!(),
            " FROM buckets WHERE name IN ({})"
        ),
        placeholders(1, names.len(), 1)
    );
    let mut query = sqlx::query_as::<_, Bucket>(&sql);
    for name in names {
        query = query.bind(name);
    }
    let found = query.fetch_all(&mut **tx).await?;
    Ok(found.into_iter().map(|b| (b.name.clone(), b)).collect())
}

/// The objects now under the keys of a batch, in one query.
async fn stored_objects(
    tx: &mut Transaction<'_, Any>,
    batch: &[PutJob],
    buckets: &HashMap<String, Bucket>,
) -> StorageResult<Vec<StoredObject>> {
    let mut keys: Vec<(&str, &str)> = batch
        .iter()
        .filter_map(|job| Some((buckets.get(&job.bucket)?.id.as_str(), job.key.as_str())))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = String::from(
        "SELECT id, bucket_id, object_key, etag, blob_id, parts_count FROM objects WHERE ",
    );
    for i in 0..keys.len() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!(
            "(bucket_id = ${} AND object_key = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    let mut query = sqlx::query_as::<_, StoredObject>(&sql);
    for (bucket_id, key) in &keys {
        query = query.bind(*bucket_id).bind(key.as_bytes());
    }
    Ok(query.fetch_all(&mut **tx).await?)
}

/// What is under a key as the batch goes along.
enum Slot {
    Empty,
    Stored(StoredObject),
    /// The row of an earlier write in this batch (an index into `Plan::rows`).
    New(usize),
}

/// A new object row.
struct NewRow {
    info: ObjectInfo,
    bucket_id: String,
    checksum_type: Option<&'static str>,
    metadata: String,
    /// False once a later write in the batch replaced it: it is never inserted.
    live: bool,
}

/// The statements a batch comes to, and each write's answer.
struct Plan {
    deleted: Vec<String>,
    /// Objects with parts among `deleted`.
    deleted_with_parts: Vec<String>,
    trashed: Vec<String>,
    rows: Vec<NewRow>,
    results: Vec<StorageResult<Committed>>,
}

impl Plan {
    fn new(
        batch: &[PutJob],
        buckets: &HashMap<String, Bucket>,
        stored: Vec<StoredObject>,
    ) -> StorageResult<Self> {
        let mut slots: HashMap<(String, Vec<u8>), Slot> = stored
            .into_iter()
            .map(|o| ((o.bucket_id.clone(), o.object_key.clone()), Slot::Stored(o)))
            .collect();
        let mut plan = Self {
            deleted: Vec::new(),
            deleted_with_parts: Vec::new(),
            trashed: Vec::new(),
            rows: Vec::with_capacity(batch.len()),
            results: Vec::with_capacity(batch.len()),
        };
        let now = now_ms();
        for job in batch {
            let bucket = match writable(&job.who, &job.bucket, buckets.get(&job.bucket).cloned()) {
                Ok(bucket) => bucket,
                Err(e) => {
                    plan.results.push(Err(e));
                    continue;
                }
            };
            let slot = slots
                .entry((bucket.id.clone(), job.key.as_bytes().to_vec()))
                .or_insert(Slot::Empty);
            let current_etag = match &*slot {
                Slot::Empty => None,
                Slot::Stored(o) => Some(o.etag.as_str()),
                Slot::New(i) => Some(plan.rows[*i].info.etag.as_str()),
            };
            if let Err(e) = judge(&job.precondition, current_etag, &bucket, &job.key) {
                plan.results.push(Err(e));
                continue;
            }
            let trashed = match std::mem::replace(slot, Slot::New(plan.rows.len())) {
                Slot::Empty => false,
                Slot::Stored(o) => {
                    let with_parts = o.parts_count.is_some();
                    if with_parts {
                        plan.deleted_with_parts.push(o.id.clone());
                    }
                    plan.deleted.push(o.id);
                    match o.blob_id {
                        Some(blob_id) => {
                            plan.trashed.push(blob_id);
                            true
                        }
                        None => with_parts,
                    }
                }
                Slot::New(i) => {
                    let replaced = &mut plan.rows[i];
                    replaced.live = false;
                    match replaced.info.blob_id.clone() {
                        Some(blob_id) => {
                            plan.trashed.push(blob_id);
                            true
                        }
                        None => false,
                    }
                }
            };
            let row = NewRow::of(job, &bucket, now)?;
            plan.results.push(Ok(Committed {
                info: row.info.clone(),
                trashed,
            }));
            plan.rows.push(row);
        }
        Ok(plan)
    }

    async fn write(&self, tx: &mut Transaction<'_, Any>) -> StorageResult<()> {
        let now = now_ms();
        let parted = &self.deleted_with_parts;
        if !parted.is_empty() {
            let sql = format!(
                "INSERT INTO blob_trash (blob_id, trashed_ms) \
                 SELECT blob_id, $1 FROM object_parts WHERE object_id IN ({})",
                placeholders(2, parted.len(), 1)
            );
            execute_for_ids(tx, sqlx::query(&sql).bind(now), parted).await?;
            let sql = format!(
                "DELETE FROM object_parts WHERE object_id IN ({})",
                placeholders(1, parted.len(), 1)
            );
            execute_for_ids(tx, sqlx::query(&sql), parted).await?;
        }
        if !self.deleted.is_empty() {
            let sql = format!(
                "DELETE FROM objects WHERE id IN ({})",
                placeholders(1, self.deleted.len(), 1)
            );
            execute_for_ids(tx, sqlx::query(&sql), &self.deleted).await?;
        }
        if !self.trashed.is_empty() {
            let sql = format!(
                "INSERT INTO blob_trash (blob_id, trashed_ms) VALUES {}",
                placeholders(1, 2 * self.trashed.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for id in &self.trashed {
                query = query.bind(id).bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        let live: Vec<&NewRow> = self.rows.iter().filter(|r| r.live).collect();
        if !live.is_empty() {
            let sql = format!(
                "{INSERT_OBJECT} VALUES {}",
                placeholders(1, OBJECT_COLUMNS * live.len(), OBJECT_COLUMNS)
            );
            let mut query = sqlx::query(&sql);
            for row in live {
                query = row.bind(query);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Runs a statement with these ids bound after what `query` has bound already.
async fn execute_for_ids<'q>(
    tx: &mut Transaction<'_, Any>,
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ids: &'q [String],
) -> StorageResult<()> {
    for id in ids {
        query = query.bind(id);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// When a write may go ahead, judged against the object already under the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    Always,
    /// Only if no object has the key (`If-None-Match: *`).
    IfAbsent,
    /// Only if an object with this ETag (without quotes) has the key.
    IfMatch(String),
}

/// A bucket by name and, joined, its object under a key.
const BUCKET_AND_OBJECT: &str =
    "SELECT b.owner_account_id AS bucket_owner, b.acl AS bucket_acl, o.id, o.object_key, o.size, \
     o.etag, o.blob_id, o.inline_data, o.parts_count, o.metadata, o.checksum_algorithm, o.checksum_value, \
     o.checksum_type, o.acl, o.owner_account_id, o.modified_ms \
     FROM buckets b LEFT JOIN objects o ON o.bucket_id = b.id AND o.object_key = $2 \
     WHERE b.name = $1";

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ObjectRow {
    id: String,
    object_key: Vec<u8>,
    size: i64,
    etag: String,
    blob_id: Option<String>,
    inline_data: Option<Vec<u8>>,
    parts_count: Option<i64>,
    metadata: String,
    checksum_algorithm: Option<String>,
    checksum_value: Option<String>,
    checksum_type: Option<String>,
    acl: String,
    owner_account_id: String,
    modified_ms: i64,
}

/// A bucket and, if it has one under the key asked for, its object.
#[derive(Debug, sqlx::FromRow)]
struct BucketObjectRow {
    bucket_owner: String,
    bucket_acl: String,
    id: Option<String>,
    object_key: Option<Vec<u8>>,
    size: Option<i64>,
    etag: Option<String>,
    blob_id: Option<String>,
    inline_data: Option<Vec<u8>>,
    parts_count: Option<i64>,
    metadata: Option<String>,
    checksum_algorithm: Option<String>,
    checksum_value: Option<String>,
    checksum_type: Option<String>,
    acl: Option<String>,
    owner_account_id: Option<String>,
    modified_ms: Option<i64>,
}

impl BucketObjectRow {
    fn into_object(self) -> Option<ObjectRow> {
        Some(ObjectRow {
            id: self.id?,
            object_key: self.object_key?,
            size: self.size?,
            etag: self.etag?,
            blob_id: self.blob_id,
            inline_data: self.inline_data,
            parts_count: self.parts_count,
            metadata: self.metadata?,
            checksum_algorithm: self.checksum_algorithm,
            checksum_value: self.checksum_value,
            checksum_type: self.checksum_type,
            acl: self.acl?,
            owner_account_id: self.owner_account_id?,
            modified_ms: self.modified_ms?,
        })
    }
}

impl ObjectRow {
    pub(super) fn into_info(self) -> StorageResult<ObjectInfo> {
        let key = String::from_utf8(self.object_key).map_err(|_| {
            StorageError::Internal(format!("object {} has a non-UTF-8 key", self.id))
        })?;
        let meta: ObjectMeta = serde_json::from_str(&self.metadata).map_err(|e| {
            StorageError::Internal(format!("object {} has unreadable metadata: {e}", self.id))
        })?;
        let checksum = match (self.checksum_algorithm, self.checksum_value) {
            (Some(algorithm), Some(value)) => Some(StoredChecksum {
                algorithm,
                value,
                full_object: self.checksum_type.as_deref() != Some("COMPOSITE"),
            }),
            _ => None,
        };
        Ok(ObjectInfo {
            id: self.id,
            key,
            size: u64::try_from(self.size).unwrap_or(0),
            etag: self.etag,
            modified_ms: self.modified_ms,
            meta,
            checksum,
            parts_count: self.parts_count.and_then(|n| u32::try_from(n).ok()),
            acl: self.acl,
            owner_account_id: self.owner_account_id,
            blob_id: self.blob_id,
            inline: self.inline_data.map(Bytes::from),
        })
    }
}

/// One piece of an object's bytes: a whole blob.
#[derive(Debug, Clone)]
struct Segment {
    blob_id: String,
    size: u64,
}

/// Where an object's bytes are.
#[derive(Debug, Clone)]
enum Located {
    Inline(Bytes),
    Segments(Vec<Segment>),
}

/// Where an object's bytes are, ready to be read by range.
#[derive(Debug, Clone)]
pub struct ObjectReader {
    bytes: Located,
}

/// What a new object's bytes are: one blob, or parts of a completed multipart upload.
#[derive(Clone)]
pub(super) enum Content {
    Blob(WrittenBlob),
    Inline(Bytes),
    Parts(Vec<CompletedPart>),
}

/// A part that becomes a piece of an object.
#[derive(Debug, Clone)]
pub(super) struct CompletedPart {
    pub number: u32,
    pub blob_id: String,
    pub size: u64,
    pub etag: String,
    pub checksum: Option<String>,
}

impl ObjectStore {
    /// Makes a staged blob the object under `key`, if the precondition holds.
    pub async fn put_object(
        self: &Arc<Self>,
        who: &Requester,
        bucket: &str,
        key: &str,
        mut staged: StagedBlob,
        new: NewObject,
        precondition: Precondition,
    ) -> StorageResult<ObjectInfo> {
        let (content, blob_id) = match staged.take()? {
            Staged::Blob(blob) => {
                let id = blob.id.clone();
                (Content::Blob(blob), Some(id))
            }
            Staged::Inline(bytes) => (Content::Inline(bytes), None),
        };
        let (reply, answer) = oneshot::channel();
        let job = PutJob {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content,
            new,
            precondition,
            who: who.clone(),
            reply,
        };
        let result = match self.committer.send(job).await {
            Ok(()) => answer.await.unwrap_or_else(|_| {
                Err(StorageError::Internal(
                    "the object committer stopped".into(),
                ))
            }),
            Err(_) => Err(StorageError::Internal(
                "the object committer stopped".into(),
            )),
        };
        match result {
            Ok(Committed { info, trashed }) => {
                if trashed {
                    self.empty_trash_later();
                }
                Ok(info)
            }
            Err(e) => {
                if let Some(id) = blob_id {
                    let _ = self.blobs.delete(&id).await;
                }
                Err(e)
            }
        }
    }

    /// An object the requester may read.
    pub async fn object(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
    ) -> StorageResult<ObjectInfo> {
        // One query for the bucket and the object: this is every GET's and HEAD's lookup.
        let joined: Option<BucketObjectRow> = sqlx::query_as(BUCKET_AND_OBJECT)
            .bind(bucket)
            .bind(key.as_bytes())
            .fetch_optional(&self.store.pool)
            .await?;
        let joined = joined.ok_or_else(|| StorageError::NoSuchBucket(bucket.to_owned()))?;
        let bucket_row = Bucket {
            id: String::new(),
            name: bucket.to_owned(),
            owner_account_id: joined.bucket_owner.clone(),
            region: String::new(),
            acl: joined.bucket_acl.clone(),
            created_ms: 0,
        };
        let row = joined.into_object();
        let controls = who.controls(&bucket_row.owner_account_id);
        let Some(row) = row else {
            // Without the right to list, a missing key is not told apart from a forbidden one.
            return if controls || who.may_read_by_acl(bucket_row.acl()) {
                Err(StorageError::NoSuchKey {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                })
            } else {
                Err(denied_bucket(bucket))
            };
        };
        let info = row.into_info()?;
        let allowed = controls
            || who.controls(&info.owner_account_id)
            || who.may_read_by_acl(CannedAcl::stored(&info.acl));
        if allowed {
            Ok(info)
        } else {
            Err(StorageError::AccessDenied(format!(
                "you may not read the key '{key}' in the bucket '{bucket}'"
            )))
        }
    }

    /// Where the bytes of an object are.
    pub async fn reader(&self, info: &ObjectInfo) -> StorageResult<ObjectReader> {
        if let Some(bytes) = &info.inline {
            return Ok(ObjectReader {
                bytes: Located::Inline(bytes.clone()),
            });
        }
        if let Some(blob_id) = &info.blob_id {
            return Ok(ObjectReader {
                bytes: Located::Segments(vec![Segment {
                    blob_id: blob_id.clone(),
                    size: info.size,
                }]),
            });
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT blob_id, size FROM object_parts WHERE object_id = $1 ORDER BY part_number",
        )
        .bind(&info.id)
        .fetch_all(&self.store.pool)
        .await?;
        let segments = rows
            .into_iter()
            .map(|(blob_id, size)| Segment {
                blob_id,
                size: u64::try_from(size).unwrap_or(0),
            })
            .collect();
        Ok(ObjectReader {
            bytes: Located::Segments(segments),
        })
    }

    /// Reads `range` of an object. [`StorageError::Changed`] means the object was replaced
    /// since its metadata was read: read the metadata again.
    pub async fn read(&self, reader: &ObjectReader, range: Range<u64>) -> StorageResult<BlobBody> {
        let missing = |e: BlobError| match e {
            BlobError::Missing(_) => StorageError::Changed,
            other => StorageError::Blob(other),
        };
        let segments = match &reader.bytes {
            Located::Inline(bytes) => {
                let end = usize::try_from(range.end)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let start = usize::try_from(range.start).unwrap_or(end).min(end);
                return Ok(BlobBody::once(bytes.slice(start..end)));
            }
            Located::Segments(segments) => segments,
        };
        if let [only] = segments.as_slice() {
            return self.blobs.read(&only.blob_id, range).await.map_err(missing);
        }

        // Several parts: open the first piece now (so a replaced object shows at once), and
        // feed the rest from a task, part after part.
        let mut pieces = Vec::new();
        let mut offset = 0u64;
        for seg in segments {
            let (start, end) = (offset, offset + seg.size);
            offset = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let from = range.start.max(start) - start;
            let to = range.end.min(end) - start;
            pieces.push((seg.blob_id.clone(), from..to));
        }
        let len = range.end.saturating_sub(range.start);
        let mut pieces = pieces.into_iter();
        let first = match pieces.next() {
            Some((id, r)) => self.blobs.read(&id, r).await.map_err(missing)?,
            None => return Ok(BlobBody::once(bytes::Bytes::new())),
        };
        let (tx, body) = BlobBody::channel(len);
        let blobs = self.blobs.clone();
        tokio::spawn(async move {
            let mut current = first;
            loop {
                while let Some(frame) = current.frame().await {
                    let item = frame.map(|f| f.into_data().unwrap_or_default());
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        return;
                    }
                }
                let Some((id, r)) = pieces.next() else {
                    return;
                };
                current = match blobs.read(&id, r).await {
                    Ok(next) => next,
                    Err(e) => {
                        let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                        return;
                    }
                };
            }
        });
        Ok(body)
    }

    /// Deletes the object under `key`; a missing key is not an error. True if one was there.
    pub async fn delete_object(
        self: &Arc<Self>,
        who: &Requester,
        bucket: &str,
        key: &str,
    ) -> StorageResult<bool> {
        let mut found = self.delete_objects(who, bucket, &[key.to_owned()]).await?;
        Ok(found.pop().unwrap_or(false))
    }

    /// Deletes several objects in one transaction; for each key, whether it was there.
    pub async fn delete_objects(
        self: &Arc<Self>,
        who: &Requester,
        bucket: &str,
        keys: &[String],
    ) -> StorageResult<Vec<bool>> {
        let bucket = self.writable_bucket(who, bucket).await?;
        let mut tx = self.begin().await?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(remove_object(&mut tx, &bucket.id, key).await?);
        }
        tx.commit().await?;
        if found.iter().any(|f| *f) {
            self.empty_trash_later();
        }
        Ok(found)
    }
}

/// What a transaction needs to know of the object under a key to replace or remove it.
#[derive(Debug, sqlx::FromRow)]
struct Current {
    id: String,
    etag: String,
    blob_id: Option<String>,
    parts_count: Option<i64>,
}

async fn current_object(
    tx: &mut Transaction<'static, Any>,
    bucket_id: &str,
    key: &str,
) -> StorageResult<Option<Current>> {
    Ok(sqlx::query_as(
        "SELECT id, etag, blob_id, parts_count FROM objects \
         WHERE bucket_id = $1 AND object_key = $2",
    )
    .bind(bucket_id)
    .bind(key.as_bytes())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Removes the object under `key` inside a transaction, trashing its blobs.
async fn remove_object(
    tx: &mut Transaction<'static, Any>,
    bucket_id: &str,
    key: &str,
) -> StorageResult<bool> {
    match current_object(tx, bucket_id, key).await? {
        Some(current) => {
            remove_current(tx, &current).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Deletes a known object's row and trashes its blobs, with as few statements as its kind
/// needs: this runs for every overwrite.
async fn remove_current(
    tx: &mut Transaction<'static, Any>,
    current: &Current,
) -> StorageResult<()> {
    let now = now_ms();
    if let Some(blob_id) = &current.blob_id {
        trash(tx, blob_id, now).await?;
    }
    if current.parts_count.is_some() {
        sqlx::query(
            "INSERT INTO blob_trash (blob_id, trashed_ms) \
             SELECT blob_id, $2 FROM object_parts WHERE object_id = $1",
        )
        .bind(&current.id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM object_parts WHERE object_id = $1")
            .bind(&current.id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM objects WHERE id = $1")
        .bind(&current.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(super) async fn trash(
    tx: &mut Transaction<'static, Any>,
    blob_id: &str,
    now: i64,
) -> StorageResult<()> {
    sqlx::query("INSERT INTO blob_trash (blob_id, trashed_ms) VALUES ($1, $2)")
        .bind(blob_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether a write may go ahead over the object (with this ETag, if any) under its key.
fn judge(
    precondition: &Precondition,
    current_etag: Option<&str>,
    bucket: &Bucket,
    key: &str,
) -> StorageResult<()> {
    let holds = match (precondition, current_etag) {
        (Precondition::Always, _) => true,
        (Precondition::IfAbsent, current) => current.is_none(),
        (Precondition::IfMatch(etag), Some(current)) => etag == current,
        (Precondition::IfMatch(_), None) => {
            return Err(StorageError::NoSuchKey {
                bucket: bucket.name.clone(),
                key: key.to_owned(),
            })
        }
    };
    if holds {
        Ok(())
    } else {
        Err(StorageError::PreconditionFailed)
    }
}

/// The columns of an object row, in the order [`INSERT_OBJECT`] names them.
const OBJECT_COLUMNS: usize = 15;
const INSERT_OBJECT: &str =
    "INSERT INTO objects (id, bucket_id, object_key, size, etag, blob_id, inline_data, \
     parts_count, metadata, checksum_algorithm, checksum_value, checksum_type, acl, \
     owner_account_id, modified_ms)";

impl NewRow {
    /// The row a write makes, stamped `now`.
    fn of(job: &PutJob, bucket: &Bucket, now: i64) -> StorageResult<Self> {
        Self::new(
            bucket,
            &job.key,
            job.content.clone(),
            job.new.clone(),
            &job.who,
            now,
        )
    }

    fn new(
        bucket: &Bucket,
        key: &str,
        content: Content,
        new: NewObject,
        who: &Requester,
        now: i64,
    ) -> StorageResult<Self> {
        let (size, blob_id, inline, parts_count) = match content {
            Content::Blob(blob) => (blob.size, Some(blob.id), None, None),
            Content::Inline(bytes) => (bytes.len() as u64, None, Some(bytes), None),
            Content::Parts(parts) => {
                let size = parts.iter().map(|p| p.size).sum();
                (size, None, None, u32::try_from(parts.len()).ok())
            }
        };
        let metadata = serde_json::to_string(&new.meta)
            .map_err(|e| StorageError::Internal(format!("cannot encode object metadata: {e}")))?;
        let owner = who.account_id().unwrap_or(&bucket.owner_account_id);
        let checksum_type = new.checksum.as_ref().map(|c| {
            if c.full_object {
                "FULL_OBJECT"
            } else {
                "COMPOSITE"
            }
        });
        Ok(Self {
            info: ObjectInfo {
                id: crate::model::new_uuid(),
                key: key.to_owned(),
                size,
                etag: new.etag,
                modified_ms: now,
                meta: new.meta,
                checksum: new.checksum,
                parts_count,
                acl: new.acl.as_str().to_owned(),
                owner_account_id: owner.to_owned(),
                blob_id,
                inline,
            },
            bucket_id: bucket.id.clone(),
            checksum_type,
            metadata,
            live: true,
        })
    }

    /// Binds this row's values, in [`INSERT_OBJECT`]'s order.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        let info = &self.info;
        let checksum = info.checksum.as_ref();
        query
            .bind(&info.id)
            .bind(&self.bucket_id)
            .bind(info.key.as_bytes())
            .bind(i64::try_from(info.size).unwrap_or(i64::MAX))
            .bind(&info.etag)
            .bind(info.blob_id.as_deref())
            .bind(info.inline.as_deref())
            .bind(info.parts_count.map(i64::from))
            .bind(&self.metadata)
            .bind(checksum.map(|c| c.algorithm.as_str()))
            .bind(checksum.map(|c| c.value.as_str()))
            .bind(self.checksum_type)
            .bind(&info.acl)
            .bind(&info.owner_account_id)
            .bind(info.modified_ms)
    }
}

/// Puts a new object under `key` inside a transaction, replacing (and trashing) what was
/// there, if the precondition holds.
pub(super) async fn replace_object(
    tx: &mut Transaction<'static, Any>,
    bucket: &Bucket,
    key: &str,
    content: Content,
    new: NewObject,
    precondition: &Precondition,
    who: &Requester,
) -> StorageResult<ObjectInfo> {
    let current = current_object(tx, &bucket.id, key).await?;
    judge(
        precondition,
        current.as_ref().map(|c| c.etag.as_str()),
        bucket,
        key,
    )?;
    if let Some(current) = &current {
        remove_current(tx, current).await?;
    }

    let parts = match &content {
        Content::Parts(parts) => parts.clone(),
        Content::Blob(_) | Content::Inline(_) => Vec::new(),
    };
    let row = NewRow::new(bucket, key, content, new, who, now_ms())?;
    let sql = format!(
        "{INSERT_OBJECT} VALUES ({})",
        placeholders(1, OBJECT_COLUMNS, 1)
    );
    row.bind(sqlx::query(&sql)).execute(&mut **tx).await?;
    for part in &parts {
        sqlx::query(
            "INSERT INTO object_parts (object_id, part_number, blob_id, size, etag, checksum) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.info.id)
        .bind(i64::from(part.number))
        .bind(&part.blob_id)
        .bind(i64::try_from(part.size).unwrap_or(i64::MAX))
        .bind(&part.etag)
        .bind(part.checksum.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(row.info)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use bytes::Bytes;

    use super::super::blob::body_from_bytes;
    use super::super::test_support::{fresh, with_bucket};
    use super::*;

    fn new_object(etag: &str) -> NewObject {
        NewObject {
            etag: etag.to_owned(),
            meta: ObjectMeta {
                content_type: Some("text/plain".into()),
                user: vec![("colour".into(), "blue".into())],
                ..ObjectMeta::default()
            },
            checksum: None,
            acl: CannedAcl::Private,
        }
    }

    async fn read_all(objects: &ObjectStore, info: &ObjectInfo, range: Range<u64>) -> Vec<u8> {
        let reader = objects.reader(info).await.unwrap();
        let body = objects.read(&reader, range).await.unwrap();
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn small_bodies_stay_in_the_row_and_large_ones_spill_to_a_blob() {
        let (dir, objects, alice, _bob) = fresh().await;
        objects
            .create_bucket(&alice, "b2", "r", CannedAcl::Private)
            .await
            .unwrap();
        let blobs = dir.path().join("blobs");
        let small = Bytes::from(vec![7u8; super::super::INLINE_MAX]);
        let staged = objects
            .write_blob(body_from_bytes(small.clone()), u64::MAX)
            .await
            .unwrap();
        let info = objects
            .put_object(
                &alice,
                "b2",
                "small",
                staged,
                new_object("s"),
                Precondition::Always,
            )
            .await
            .unwrap();
        assert_eq!(super::super::test_support::count_files(&blobs), 0);
        assert_eq!(read_all(&objects, &info, 1..4).await, vec![7u8; 3]);

        let large: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let staged = objects
            .write_blob(body_from_bytes(Bytes::from(large.clone())), u64::MAX)
            .await
            .unwrap();
        assert_eq!(staged.size(), 100_000);
        let info = objects
            .put_object(
                &alice,
                "b2",
                "large",
                staged,
                new_object("l"),
                Precondition::Always,
            )
            .await
            .unwrap();
        assert_eq!(super::super::test_support::count_files(&blobs), 1);
        let edge = super::super::INLINE_MAX as u64;
        assert_eq!(
            read_all(&objects, &info, edge - 10..edge + 10).await,
            &large[edge as usize - 10..edge as usize + 10]
        );
        assert_eq!(read_all(&objects, &info, 0..100_000).await, large);
        let too_big = objects
            .write_blob(body_from_bytes(Bytes::from(vec![0u8; 100])), 99)
            .await;
        assert!(matches!(
            too_big,
            Err(StorageError::Blob(BlobError::TooLarge(99)))
        ));
    }

    #[tokio::test]
    async fn put_read_replace_delete() {
        let (dir, objects, alice, bob) = fresh().await;
        objects
            .create_bucket(&alice, "b1", "r", CannedAcl::Private)
            .await
            .unwrap();
        let staged = objects
            .write_blob(body_from_bytes(Bytes::from_static(b"hello world")), 100)
            .await
            .unwrap();
        let info = objects
            .put_object(
                &alice,
                "b1",
                "dir//a b",
                staged,
                new_object("e1"),
                Precondition::IfAbsent,
            )
            .await
            .unwrap();
        assert_eq!(info.size, 11);

        let got = objects.object(&alice, "b1", "dir//a b").await.unwrap();
        assert_eq!(
            got.meta.user,
            vec![("colour".to_owned(), "blue".to_owned())]
        );
        assert_eq!(read_all(&objects, &got, 6..11).await, b"world");
        assert!(matches!(
            objects.object(&bob, "b1", "dir//a b").await,
            Err(StorageError::AccessDenied(_))
        ));

        let staged = objects
            .write_blob(body_from_bytes(Bytes::from_static(b"again")), 100)
            .await
            .unwrap();
        assert!(matches!(
            objects
                .put_object(
                    &alice,
                    "b1",
                    "dir//a b",
                    staged,
                    new_object("e2"),
                    Precondition::IfAbsent
                )
                .await,
            Err(StorageError::PreconditionFailed)
        ));
        let staged = objects
            .write_blob(body_from_bytes(Bytes::from_static(b"again")), 100)
            .await
            .unwrap();
        objects
            .put_object(
                &alice,
                "b1",
                "dir//a b",
                staged,
                new_object("e2"),
                Precondition::Always,
            )
            .await
            .unwrap();
        assert!(objects
            .delete_object(&alice, "b1", "dir//a b")
            .await
            .unwrap());
        assert!(!objects
            .delete_object(&alice, "b1", "dir//a b")
            .await
            .unwrap());

        // Every blob written above has been deleted by now (the trash is emptied eagerly).
        objects.empty_trash().await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let blobs = super::super::test_support::count_files(&dir.path().join("blobs"));
        assert_eq!(blobs, 0, "blob files left behind");
    }

    /// What a write came to, for comparing the two ways of committing a batch.
    fn outcome(result: &StorageResult<Committed>) -> String {
        match result {
            Ok(c) => format!("ok {}", c.info.etag),
            Err(StorageError::NoSuchBucket(_)) => "NoSuchBucket".into(),
            Err(StorageError::AccessDenied(_)) => "AccessDenied".into(),
            Err(StorageError::NoSuchKey { .. }) => "NoSuchKey".into(),
            Err(StorageError::PreconditionFailed) => "PreconditionFailed".into(),
            Err(e) => format!("unexpected: {e}"),
        }
    }

    /// One batch with every case a batch can hold, committed grouped or one by one: both must
    /// answer the same, leave the same objects and lose track of no blob.
    async fn mixed_batch(grouped: bool) -> Vec<String> {
        let (dir, objects, alice, bob) = with_bucket("b").await;
        objects
            .create_bucket(&bob, "theirs", "r", CannedAcl::Private)
            .await
            .unwrap();
        let large = || body_from_bytes(Bytes::from(vec![5u8; 100_000]));
        let staged = objects.write_blob(large(), u64::MAX).await.unwrap();
        let put = |key: &'static str, staged, etag: &str| {
            objects.put_object(
                &alice,
                "b",
                key,
                staged,
                new_object(etag),
                Precondition::Always,
            )
        };
        put("k1", staged, "old").await.unwrap();

        let mut blob = objects.write_blob(large(), u64::MAX).await.unwrap();
        let blob = match blob.take().unwrap() {
            Staged::Blob(b) => Content::Blob(b),
            Staged::Inline(_) => panic!("100,000 bytes should spill to a blob"),
        };
        let inline = |s: &'static str| Content::Inline(Bytes::from_static(s.as_bytes()));
        let job = |bucket: &str, key: &str, content, etag: &str, precondition| PutJob {
            bucket: bucket.into(),
            key: key.into(),
            content,
            new: new_object(etag),
            precondition,
            who: alice.clone(),
            reply: oneshot::channel().0,
        };
        let if_match = |etag: &str| Precondition::IfMatch(etag.into());
        let batch = vec![
            job("b", "k1", blob, "e1", Precondition::Always),
            job("b", "k1", inline("x"), "e2", if_match("e1")),
            job("b", "k1", inline("y"), "e3", Precondition::IfAbsent),
            job("b", "k2", inline("z"), "e4", Precondition::IfAbsent),
            job("b", "k2", inline("w"), "e5", if_match("nope")),
            job("missing", "k", inline("v"), "e6", Precondition::Always),
            job("theirs", "k", inline("u"), "e7", Precondition::Always),
            job("b", "k3", inline("t"), "e8", if_match("any")),
        ];
        let results = if grouped {
            commit_grouped(&objects.store, &mut None, &batch)
                .await
                .unwrap()
        } else {
            commit_each(&objects.store, &batch).await.unwrap()
        };
        let mut seen: Vec<String> = results.iter().map(outcome).collect();
        for key in ["k1", "k2"] {
            let info = objects.object(&alice, "b", key).await.unwrap();
            let bytes = read_all(&objects, &info, 0..info.size).await;
            seen.push(format!(
                "{key}: {} {}",
                info.etag,
                String::from_utf8(bytes).unwrap()
            ));
        }
        objects.empty_trash().await;
        let blobs = super::super::test_support::count_files(&dir.path().join("blobs"));
        seen.push(format!("blob files: {blobs}"));
        seen
    }

    #[tokio::test]
    async fn a_batch_commits_as_its_writes_would_one_after_another() {
        let want = [
            "ok e1",
            "ok e2",
            "PreconditionFailed",
            "ok e4",
            "PreconditionFailed",
            "NoSuchBucket",
            "AccessDenied",
            "NoSuchKey",
            "k1: e2 x",
            "k2: e4 z",
            "blob files: 0",
        ];
        assert_eq!(mixed_batch(true).await, want);
        assert_eq!(mixed_batch(false).await, want);
    }

    #[tokio::test]
    async fn commits_reach_the_database_file_without_a_committing_checkpoint() {
        // The committer's own connection never checkpoints: the checkpointer beside it must.
        let (dir, objects, alice, _bob) = with_bucket("b").await;
        let db = dir.path().join("cirrus.db");
        let before = std::fs::metadata(&db).unwrap().len();
        for i in 0..200 {
            let body = body_from_bytes(Bytes::from(vec![1u8; 8_000]));
            let staged = objects.write_blob(body, u64::MAX).await.unwrap();
            objects
                .put_object(
                    &alice,
                    "b",
                    &format!("k{i}"),
                    staged,
                    new_object("e"),
                    Precondition::Always,
                )
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&db).unwrap().len() <= before + 1_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "1.6 MB of objects never reached the database file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The WAL file's checkpoint sequence number: it goes up each time the log starts over.
    fn wal_restarts(db: &std::path::Path) -> u32 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let header = std::fs::read(wal).unwrap_or_default();
        header
            .get(12..16)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_write_ahead_log_starts_over_while_writes_never_stop() {
        // A checkpoint beside a committer that never stops leaves the last frames uncopied;
        // unless the committer copies them, the log never starts over and grows without end.
        let (dir, objects, alice, _bob) = with_bucket("b").await;
        let db = dir.path().join("cirrus.db");
        let stop = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (objects, alice) = (objects.clone(), alice.clone());
            writers.spawn(async move {
                while std::time::Instant::now() < stop {
                    let body = body_from_bytes(Bytes::from_static(b"again"));
                    let staged = objects.write_blob(body, 100).await.unwrap();
                    let new = new_object("e");
                    objects
                        .put_object(&alice, "b", "k", staged, new, Precondition::Always)
                        .await
                        .unwrap();
                }
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let first = wal_restarts(&db);
        writers.join_all().await;
        assert!(wal_restarts(&db) > first, "the log never started over");
    }
}
