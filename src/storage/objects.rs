//! Objects: making a staged blob visible under a key, reading an object's bytes, deleting.
//! Every change is one transaction that also moves the blobs it stops referring to into the
//! trash, so readers see the old object or the new one and no blob is ever lost track of.

use std::io;
use std::ops::Range;
use std::sync::Arc;

use http_body_util::BodyExt;
use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use bytes::Bytes;

use super::{
    begin_write, denied_bucket, BlobBody, BlobError, Bucket, CannedAcl, NewObject, ObjectInfo,
    ObjectMeta, ObjectStore, Requester, Staged, StagedBlob, StorageError, StorageResult,
    StoredChecksum, WrittenBlob,
};
use crate::now_ms;
use crate::store::Store;

/// Object writes waiting for the committer.
const COMMIT_QUEUE: usize = 1024;
/// The most writes one transaction takes.
const MAX_BATCH: usize = 256;

/// One object write, for the committer.
pub(super) struct PutJob {
    bucket: Bucket,
    key: String,
    content: Content,
    new: NewObject,
    precondition: Precondition,
    who: Requester,
    reply: oneshot::Sender<StorageResult<ObjectInfo>>,
}

/// Starts the committer: it makes object writes visible in batches, one transaction (and so
/// one fsync of the database) for every write that arrived while the last one committed, each
/// in its own savepoint so that one failed precondition does not fail the others.
pub(super) fn start_committer(store: Store) -> mpsc::Sender<PutJob> {
    let (tx, rx) = mpsc::channel(COMMIT_QUEUE);
    tokio::spawn(commit_batches(store, rx));
    tx
}

async fn commit_batches(store: Store, mut rx: mpsc::Receiver<PutJob>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(batch.len());
        let committed: StorageResult<()> = async {
            let mut tx = begin_write(&store).await?;
            for job in batch.drain(..) {
                sqlx::query("SAVEPOINT object_write")
                    .execute(&mut *tx)
                    .await?;
                let result = replace_object(
                    &mut tx,
                    &job.bucket,
                    &job.key,
                    job.content,
                    job.new,
                    &job.precondition,
                    &job.who,
                )
                .await;
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
                done.push((job.reply, result));
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        match committed {
            Ok(()) => {
                for (reply, result) in done {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = done.len(), "committing object writes failed");
                for (reply, _) in done {
                    let _ = reply.send(Err(StorageError::Internal(format!(
                        "committing the write failed: {e}"
                    ))));
                }
            }
        }
    }
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
        let bucket = match staged.bucket.take() {
            Some(b) if b.name == bucket => b,
            _ => self.writable_bucket(who, bucket).await?,
        };
        let (content, blob_id) = match staged.take()? {
            Staged::Blob(blob) => {
                let id = blob.id.clone();
                (Content::Blob(blob), Some(id))
            }
            Staged::Inline(bytes) => (Content::Inline(bytes), None),
        };
        let (reply, answer) = oneshot::channel();
        let job = PutJob {
            bucket,
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
            Ok(info) => {
                self.empty_trash_later();
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
    let holds = match (precondition, &current) {
        (Precondition::Always, _) => true,
        (Precondition::IfAbsent, current) => current.is_none(),
        (Precondition::IfMatch(etag), Some(current)) => *etag == current.etag,
        (Precondition::IfMatch(_), None) => {
            return Err(StorageError::NoSuchKey {
                bucket: bucket.name.clone(),
                key: key.to_owned(),
            })
        }
    };
    if !holds {
        return Err(StorageError::PreconditionFailed);
    }
    if let Some(current) = &current {
        remove_current(tx, current).await?;
    }

    let id = crate::model::new_uuid();
    let now = now_ms();
    let (size, blob_id, inline, parts_count, parts) = match content {
        Content::Blob(blob) => (blob.size, Some(blob.id), None, None, Vec::new()),
        Content::Inline(bytes) => (bytes.len() as u64, None, Some(bytes), None, Vec::new()),
        Content::Parts(parts) => {
            let size = parts.iter().map(|p| p.size).sum();
            (size, None, None, Some(parts.len() as i64), parts)
        }
    };
    let metadata = serde_json::to_string(&new.meta)
        .map_err(|e| StorageError::Internal(format!("cannot encode object metadata: {e}")))?;
    let owner = who
        .account_id()
        .unwrap_or(&bucket.owner_account_id)
        .to_owned();
    let checksum_type = new.checksum.as_ref().map(|c| {
        if c.full_object {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        }
    });
    sqlx::query(
        "INSERT INTO objects (id, bucket_id, object_key, size, etag, blob_id, inline_data, \
         parts_count, metadata, checksum_algorithm, checksum_value, checksum_type, acl, \
         owner_account_id, modified_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(&bucket.id)
    .bind(key.as_bytes())
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .bind(&new.etag)
    .bind(blob_id.clone())
    .bind(inline.as_ref().map(|b| b.to_vec()))
    .bind(parts_count)
    .bind(&metadata)
    .bind(new.checksum.as_ref().map(|c| c.algorithm.clone()))
    .bind(new.checksum.as_ref().map(|c| c.value.clone()))
    .bind(checksum_type)
    .bind(new.acl.as_str())
    .bind(&owner)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for part in &parts {
        sqlx::query(
            "INSERT INTO object_parts (object_id, part_number, blob_id, size, etag, checksum) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(i64::from(part.number))
        .bind(&part.blob_id)
        .bind(i64::try_from(part.size).unwrap_or(i64::MAX))
        .bind(&part.etag)
        .bind(part.checksum.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(ObjectInfo {
        id,
        key: key.to_owned(),
        size,
        etag: new.etag,
        modified_ms: now,
        meta: new.meta,
        checksum: new.checksum,
        parts_count: parts_count.and_then(|n| u32::try_from(n).ok()),
        acl: new.acl.as_str().to_owned(),
        owner_account_id: owner,
        blob_id,
        inline,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use bytes::Bytes;

    use super::super::blob::body_from_bytes;
    use super::super::test_support::fresh;
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
}
