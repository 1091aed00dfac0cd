//! Multipart uploads: an upload is created for a key, its parts are blobs written one by one
//! (and survive a restart, being rows and files like any object), and completing it makes the
//! chosen parts, in order, one object without copying a byte. Completing or aborting trashes
//! every part blob the object does not use, so no part file is left behind.

use std::sync::Arc;

use super::objects::{replace_object, trash, CompletedPart, Content};
use super::{
    CannedAcl, NewObject, ObjectInfo, ObjectMeta, ObjectStore, Precondition, Requester, StagedBlob,
    StorageError, StorageResult,
};
use crate::now_ms;

/// What is fixed about an object when its upload starts.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub meta: ObjectMeta,
    pub checksum_algorithm: Option<String>,
    pub checksum_full_object: bool,
    pub acl: CannedAcl,
}

/// An upload in progress.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub id: String,
    pub key: String,
    pub initiated_ms: i64,
    pub meta: ObjectMeta,
    pub checksum_algorithm: Option<String>,
    pub checksum_full_object: bool,
    pub acl: CannedAcl,
    pub owner_account_id: String,
}

/// A part uploaded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    /// The part's checksum (base64) in the upload's algorithm, if it has one.
    pub checksum: Option<String>,
    pub modified_ms: i64,
}

/// A page of the uploads in a bucket.
#[derive(Debug, Clone, Default)]
pub struct UploadPage {
    pub uploads: Vec<UploadInfo>,
    pub truncated: bool,
}

#[derive(sqlx::FromRow)]
struct UploadRow {
    id: String,
    object_key: Vec<u8>,
    metadata: String,
    checksum_algorithm: Option<String>,
    checksum_type: Option<String>,
    acl: String,
    owner_account_id: String,
    initiated_ms: i64,
}

const UPLOAD_COLUMNS: &str = "id, object_key, metadata, checksum_algorithm, checksum_type, acl, \
                              owner_account_id, initiated_ms";

impl UploadRow {
    fn into_info(self) -> StorageResult<UploadInfo> {
        let key = String::from_utf8(self.object_key).map_err(|_| {
            StorageError::Internal(format!("upload {} has a non-UTF-8 key", self.id))
        })?;
        let meta = serde_json::from_str(&self.metadata).map_err(|e| {
            StorageError::Internal(format!("upload {} has unreadable metadata: {e}", self.id))
        })?;
        Ok(UploadInfo {
            id: self.id,
            key,
            initiated_ms: self.initiated_ms,
            meta,
            checksum_algorithm: self.checksum_algorithm,
            checksum_full_object: self.checksum_type.as_deref() != Some("COMPOSITE"),
            acl: CannedAcl::stored(&self.acl),
            owner_account_id: self.owner_account_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct PartRow {
    part_number: i64,
    blob_id: String,
    size: i64,
    etag: String,
    checksum: Option<String>,
    modified_ms: i64,
}

impl PartRow {
    fn info(&self) -> PartInfo {
        PartInfo {
            number: u32::try_from(self.part_number).unwrap_or(0),
            size: u64::try_from(self.size).unwrap_or(0),
            etag: self.etag.clone(),
            checksum: self.checksum.clone(),
            modified_ms: self.modified_ms,
        }
    }
}

impl ObjectStore {
    /// Starts a multipart upload for `key`.
    pub async fn create_upload(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        new: NewUpload,
    ) -> StorageResult<UploadInfo> {
        let bucket = self.writable_bucket(who, bucket).await?;
        let metadata = serde_json::to_string(&new.meta)
            .map_err(|e| StorageError::Internal(format!("cannot encode upload metadata: {e}")))?;
        let info = UploadInfo {
            id: uuid::Uuid::new_v4().simple().to_string(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            meta: new.meta,
            checksum_algorithm: new.checksum_algorithm,
            checksum_full_object: new.checksum_full_object,
            acl: new.acl,
            owner_account_id: who
                .account_id()
                .unwrap_or(&bucket.owner_account_id)
                .to_owned(),
        };
        let checksum_type = info.checksum_algorithm.as_ref().map(|_| {
            if info.checksum_full_object {
                "FULL_OBJECT"
            } else {
                "COMPOSITE"
            }
        });
        sqlx::query(
            "INSERT INTO multipart_uploads (id, bucket_id, object_key, metadata, \
             checksum_algorithm, checksum_type, acl, owner_account_id, initiated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&info.id)
        .bind(&bucket.id)
        .bind(key.as_bytes())
        .bind(&metadata)
        .bind(info.checksum_algorithm.clone())
        .bind(checksum_type)
        .bind(info.acl.as_str())
        .bind(&info.owner_account_id)
        .bind(info.initiated_ms)
        .execute(&self.store.pool)
        .await?;
        Ok(info)
    }

    /// An upload in progress for `key`, in a bucket the requester may write to.
    pub async fn upload(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> StorageResult<UploadInfo> {
        let bucket = self.writable_bucket(who, bucket).await?;
        let row: Option<UploadRow> = sqlx::query_as(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE id = $1 AND bucket_id = $2 \
             AND object_key = $3"
        ))
        .bind(upload_id)
        .bind(&bucket.id)
        .bind(key.as_bytes())
        .fetch_optional(&self.store.pool)
        .await?;
        row.ok_or_else(|| StorageError::NoSuchUpload(upload_id.to_owned()))?
            .into_info()
    }

    /// Records a staged blob as part `number` of an upload, replacing an earlier one.
    #[allow(clippy::too_many_arguments)] // the part's identity and its facts, all needed
    pub async fn put_part(
        self: &Arc<Self>,
        who: &Requester,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        mut staged: StagedBlob,
        etag: &str,
        checksum: Option<String>,
    ) -> StorageResult<PartInfo> {
        self.upload(who, bucket, key, upload_id).await?;
        let blob = staged.take_blob().await?;
        let part = PartInfo {
            number,
            size: blob.size,
            etag: etag.to_owned(),
            checksum,
            modified_ms: now_ms(),
        };
        let result: StorageResult<bool> = async {
            let mut tx = self.begin().await?;
            let live: Option<(String,)> =
                sqlx::query_as("SELECT id FROM multipart_uploads WHERE id = $1")
                    .bind(upload_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if live.is_none() {
                return Err(StorageError::NoSuchUpload(upload_id.to_owned()));
            }
            let old: Option<(String,)> = sqlx::query_as(
                "SELECT blob_id FROM upload_parts WHERE upload_id = $1 AND part_number = $2",
            )
            .bind(upload_id)
            .bind(i64::from(number))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((old_blob,)) = &old {
                trash(&mut tx, old_blob, part.modified_ms).await?;
                sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
                    .bind(upload_id)
                    .bind(i64::from(number))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO upload_parts (upload_id, part_number, blob_id, size, etag, checksum, \
                 modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(upload_id)
            .bind(i64::from(number))
            .bind(&blob.id)
            .bind(i64::try_from(blob.size).unwrap_or(i64::MAX))
            .bind(&part.etag)
            .bind(part.checksum.clone())
            .bind(part.modified_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(old.is_some())
        }
        .await;
        match result {
            Ok(replaced) => {
                if replaced {
                    self.empty_trash_later();
                }
                Ok(part)
            }
            Err(e) => {
                let _ = self.blobs.delete(&blob.id).await;
                Err(e)
            }
        }
    }

    /// The parts of an upload after part `after`, at most `limit` of them.
    pub async fn list_parts(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> StorageResult<(UploadInfo, Vec<PartInfo>, bool)> {
        let upload = self.upload(who, bucket, key, upload_id).await?;
        let rows: Vec<PartRow> = sqlx::query_as(
            "SELECT part_number, blob_id, size, etag, checksum, modified_ms FROM upload_parts \
             WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
        )
        .bind(upload_id)
        .bind(i64::from(after))
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.store.pool)
        .await?;
        let truncated = rows.len() > limit;
        let parts = rows.iter().take(limit).map(PartRow::info).collect();
        Ok((upload, parts, truncated))
    }

    /// Completes an upload: the chosen parts (number and ETag, in order) become the object.
    #[allow(clippy::too_many_arguments)] // the upload, the choice and the outcome, all needed
    pub async fn complete_upload(
        self: &Arc<Self>,
        who: &Requester,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[(u32, String)],
        new: NewObject,
        precondition: Precondition,
    ) -> StorageResult<ObjectInfo> {
        let bucket_row = self.writable_bucket(who, bucket).await?;
        self.upload(who, bucket, key, upload_id).await?;
        let mut tx = self.begin().await?;
        let live: Option<(String,)> =
            sqlx::query_as("SELECT id FROM multipart_uploads WHERE id = $1")
                .bind(upload_id)
                .fetch_optional(&mut *tx)
                .await?;
        if live.is_none() {
            return Err(StorageError::NoSuchUpload(upload_id.to_owned()));
        }
        let rows: Vec<PartRow> = sqlx::query_as(
            "SELECT part_number, blob_id, size, etag, checksum, modified_ms FROM upload_parts \
             WHERE upload_id = $1 ORDER BY part_number",
        )
        .bind(upload_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut used = Vec::with_capacity(chosen.len());
        for (number, etag) in chosen {
            let row = rows
                .iter()
                .find(|r| r.part_number == i64::from(*number))
                .filter(|r| &r.etag == etag)
                .ok_or(StorageError::InvalidPart(*number))?;
            used.push(CompletedPart {
                number: *number,
                blob_id: row.blob_id.clone(),
                size: u64::try_from(row.size).unwrap_or(0),
                etag: row.etag.clone(),
                checksum: row.checksum.clone(),
            });
        }
        let now = now_ms();
        for row in &rows {
            if !used.iter().any(|u| u.blob_id == row.blob_id) {
                trash(&mut tx, &row.blob_id, now).await?;
            }
        }
        let info = replace_object(
            &mut tx,
            &bucket_row,
            key,
            Content::Parts(used),
            new,
            &precondition,
            who,
        )
        .await?;
        end_upload(&mut tx, upload_id).await?;
        tx.commit().await?;
        self.empty_trash_later();
        Ok(info)
    }

    /// Aborts an upload and trashes its parts.
    pub async fn abort_upload(
        self: &Arc<Self>,
        who: &Requester,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> StorageResult<()> {
        self.upload(who, bucket, key, upload_id).await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO blob_trash (blob_id, trashed_ms) \
             SELECT blob_id, $2 FROM upload_parts WHERE upload_id = $1",
        )
        .bind(upload_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        end_upload(&mut tx, upload_id).await?;
        tx.commit().await?;
        self.empty_trash_later();
        Ok(())
    }

    /// Aborts every upload started before `cutoff_ms` (in any bucket); how many there were.
    pub async fn abort_uploads_started_before(
        self: &Arc<Self>,
        cutoff_ms: i64,
    ) -> StorageResult<u64> {
        let stale: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM multipart_uploads WHERE initiated_ms < $1")
                .bind(cutoff_ms)
                .fetch_all(&self.store.pool)
                .await?;
        for (id,) in &stale {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO blob_trash (blob_id, trashed_ms) \
                 SELECT blob_id, $2 FROM upload_parts WHERE upload_id = $1",
            )
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            end_upload(&mut tx, id).await?;
            tx.commit().await?;
        }
        if !stale.is_empty() {
            tracing::info!(uploads = stale.len(), "abandoned multipart uploads aborted");
            self.empty_trash_later();
        }
        Ok(stale.len() as u64)
    }

    /// Uploads in progress in a bucket, by key then by start, after a key (and upload id).
    pub async fn list_uploads(
        &self,
        who: &Requester,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<&str>)>,
        limit: usize,
    ) -> StorageResult<UploadPage> {
        let bucket = self.writable_bucket(who, bucket).await?;
        let lower = prefix.as_bytes().to_vec();
        let upper = super::listing::prefix_end(prefix.as_bytes());
        // LIMITATION: uploads after the marker are picked in memory from the prefix's range;
        // fine for the handful of uploads a bucket has in progress, not for millions.
        let rows: Vec<UploadRow> = match upper {
            Some(upper) => {
                sqlx::query_as(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE bucket_id = $1 \
                     AND object_key >= $2 AND object_key < $3 \
                     ORDER BY object_key, initiated_ms, id"
                ))
                .bind(&bucket.id)
                .bind(&lower)
                .bind(upper)
                .fetch_all(&self.store.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM multipart_uploads WHERE bucket_id = $1 \
                     AND object_key >= $2 ORDER BY object_key, initiated_ms, id"
                ))
                .bind(&bucket.id)
                .bind(&lower)
                .fetch_all(&self.store.pool)
                .await?
            }
        };
        let mut uploads = Vec::new();
        let mut passed_marker = after.is_none();
        let mut marker_seen_id = false;
        for row in rows {
            let info = row.into_info()?;
            if !passed_marker {
                let Some((key_marker, id_marker)) = after else {
                    continue;
                };
                match id_marker {
                    None => {
                        if info.key.as_str() <= key_marker {
                            continue;
                        }
                    }
                    Some(id_marker) => {
                        if info.key.as_str() < key_marker {
                            continue;
                        }
                        if info.key == key_marker && !marker_seen_id {
                            if info.id == id_marker {
                                marker_seen_id = true;
                            }
                            continue;
                        }
                    }
                }
                passed_marker = true;
            }
            uploads.push(info);
            if uploads.len() > limit {
                break;
            }
        }
        let truncated = uploads.len() > limit;
        uploads.truncate(limit);
        Ok(UploadPage { uploads, truncated })
    }
}

async fn end_upload(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    upload_id: &str,
) -> StorageResult<()> {
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM multipart_uploads WHERE id = $1")
        .bind(upload_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use bytes::Bytes;

    use super::super::blob::body_from_bytes;
    use super::super::test_support::fresh;
    use super::*;

    #[tokio::test]
    async fn complete_uses_chosen_parts_and_drops_the_rest() {
        let (dir, objects, alice, _bob) = fresh().await;
        objects
            .create_bucket(&alice, "b", "r", CannedAcl::Private)
            .await
            .unwrap();
        let upload = objects
            .create_upload(
                &alice,
                "b",
                "big",
                NewUpload {
                    meta: ObjectMeta::default(),
                    checksum_algorithm: None,
                    checksum_full_object: true,
                    acl: CannedAcl::Private,
                },
            )
            .await
            .unwrap();
        for (n, data) in [(1u32, "one-"), (2, "two-"), (3, "three")] {
            let staged = objects
                .write_blob(body_from_bytes(Bytes::from(data)), 100)
                .await
                .unwrap();
            objects
                .put_part(
                    &alice,
                    "b",
                    "big",
                    &upload.id,
                    n,
                    staged,
                    &format!("e{n}"),
                    None,
                )
                .await
                .unwrap();
        }
        let (_, parts, truncated) = objects
            .list_parts(&alice, "b", "big", &upload.id, 0, 2)
            .await
            .unwrap();
        assert_eq!(parts.len(), 2);
        assert!(truncated);

        let chosen = [(1, "e1".to_owned()), (2, "wrong".to_owned())];
        let new = NewObject {
            etag: "x-2".into(),
            meta: ObjectMeta::default(),
            checksum: None,
            acl: CannedAcl::Private,
        };
        assert!(matches!(
            objects
                .complete_upload(
                    &alice,
                    "b",
                    "big",
                    &upload.id,
                    &chosen,
                    new.clone(),
                    Precondition::Always
                )
                .await,
            Err(StorageError::InvalidPart(2))
        ));
        let chosen = [(1, "e1".to_owned()), (3, "e3".to_owned())];
        let info = objects
            .complete_upload(
                &alice,
                "b",
                "big",
                &upload.id,
                &chosen,
                new,
                Precondition::Always,
            )
            .await
            .unwrap();
        assert_eq!(info.size, 9);
        assert_eq!(info.parts_count, Some(2));
        let reader = objects.reader(&info).await.unwrap();
        let body = objects.read(&reader, 2..7).await.unwrap();
        use http_body_util::BodyExt;
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"e-thr");
        assert!(matches!(
            objects.upload(&alice, "b", "big", &upload.id).await,
            Err(StorageError::NoSuchUpload(_))
        ));

        objects.delete_object(&alice, "b", "big").await.unwrap();
        objects.empty_trash().await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            super::super::test_support::count_files(&dir.path().join("blobs")),
            0
        );
    }
}
