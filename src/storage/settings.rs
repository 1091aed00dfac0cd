//! Settings of buckets and objects that change without rewriting them: canned ACLs and tag
//! sets. A bucket's tags are a JSON column of its row (migration 0011); an object's tags are
//! part of its row's metadata JSON, so writing, overwriting or deleting the object carries
//! them in the same statement, and changing them here is one update of that row.

use super::{
    begin_write, denied_bucket, CannedAcl, ObjectMeta, ObjectStore, Requester, StorageError,
    StorageResult,
};

/// A tag set as stored: `[[key, value], ...]`.
type Tags = Vec<(String, String)>;

/// Times an object setting is retried when the object is replaced between reading and
/// updating its row.
const ATTEMPTS: usize = 3;

/// The bucket's owner and, if there is one under the key, the object's id, owner and
/// metadata.
const BUCKET_AND_OBJECT: &str = "SELECT b.owner_account_id, o.id, o.owner_account_id, o.metadata \
     FROM buckets b LEFT JOIN objects o ON o.bucket_id = b.id AND o.object_key = $2 \
     WHERE b.name = $1";

type Joined = (String, Option<String>, Option<String>, Option<String>);

fn decode_tags(json: &str) -> StorageResult<Tags> {
    serde_json::from_str(json)
        .map_err(|e| StorageError::Internal(format!("a stored tag set is unreadable: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> StorageResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StorageError::Internal(format!("cannot encode a setting: {e}")))
}

/// How an object's row changes.
enum Change {
    Tags(Tags),
    Acl(CannedAcl),
}

impl ObjectStore {
    /// A bucket's tag set, `None` if it was never set or was deleted; for its owner.
    pub async fn bucket_tags(&self, who: &Requester, name: &str) -> StorageResult<Option<Tags>> {
        let bucket = self.owned_bucket(who, name).await?;
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT tags FROM buckets WHERE id = $1")
                .bind(&bucket.id)
                .fetch_optional(&self.store.pool)
                .await?;
        match row.and_then(|(tags,)| tags) {
            Some(json) => decode_tags(&json).map(Some),
            None => Ok(None),
        }
    }

    /// Replaces a bucket's tag set (`None` removes it); for its owner.
    pub async fn set_bucket_tags(
        &self,
        who: &Requester,
        name: &str,
        tags: Option<Tags>,
    ) -> StorageResult<()> {
        let bucket = self.owned_bucket(who, name).await?;
        let json = tags.as_ref().map(encode).transpose()?;
        sqlx::query("UPDATE buckets SET tags = $1 WHERE id = $2")
            .bind(json)
            .bind(&bucket.id)
            .execute(&self.store.pool)
            .await?;
        tracing::info!(bucket = %name, tags = tags.map_or(0, |t| t.len()), "bucket tags set");
        Ok(())
    }

    /// Replaces a bucket's canned ACL; for its owner.
    pub async fn set_bucket_acl(
        &self,
        who: &Requester,
        name: &str,
        acl: CannedAcl,
    ) -> StorageResult<()> {
        let bucket = self.owned_bucket(who, name).await?;
        sqlx::query("UPDATE buckets SET acl = $1 WHERE id = $2")
            .bind(acl.as_str())
            .bind(&bucket.id)
            .execute(&self.store.pool)
            .await?;
        tracing::info!(bucket = %name, acl = acl.as_str(), "bucket ACL set");
        Ok(())
    }

    /// Replaces an object's tag set (empty removes it); for the bucket's or object's owner.
    pub async fn set_object_tags(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        tags: Tags,
    ) -> StorageResult<()> {
        self.change_object(who, bucket, key, Change::Tags(tags))
            .await
    }

    /// Replaces an object's canned ACL; for the bucket's or object's owner.
    pub async fn set_object_acl(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        acl: CannedAcl,
    ) -> StorageResult<()> {
        self.change_object(who, bucket, key, Change::Acl(acl)).await
    }

    /// Changes the row of the object under `key` in one transaction. The update names the
    /// row read, so an object replaced in between is not changed in its successor's place:
    /// the change is tried again on the new object.
    async fn change_object(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        change: Change,
    ) -> StorageResult<()> {
        for _ in 0..ATTEMPTS {
            let mut tx = begin_write(&self.store).await?;
            let joined: Option<Joined> = sqlx::query_as(BUCKET_AND_OBJECT)
                .bind(bucket)
                .bind(key.as_bytes())
                .fetch_optional(&mut *tx)
                .await?;
            let (bucket_owner, id, object_owner, metadata) =
                joined.ok_or_else(|| StorageError::NoSuchBucket(bucket.to_owned()))?;
            let controls_bucket = who.controls(&bucket_owner);
            let (Some(id), Some(object_owner), Some(metadata)) = (id, object_owner, metadata)
            else {
                return Err(if controls_bucket {
                    StorageError::NoSuchKey {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    }
                } else {
                    denied_bucket(bucket)
                });
            };
            if !controls_bucket && !who.controls(&object_owner) {
                return Err(StorageError::AccessDenied(format!(
                    "you may not change the key '{key}' in the bucket '{bucket}'"
                )));
            }
            let updated = match &change {
                Change::Tags(tags) => {
                    let mut meta: ObjectMeta = serde_json::from_str(&metadata).map_err(|e| {
                        StorageError::Internal(format!("object {id} has unreadable metadata: {e}"))
                    })?;
                    meta.tags.clone_from(tags);
                    sqlx::query("UPDATE objects SET metadata = $1 WHERE id = $2")
                        .bind(encode(&meta)?)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?
                }
                Change::Acl(acl) => {
                    sqlx::query("UPDATE objects SET acl = $1 WHERE id = $2")
                        .bind(acl.as_str())
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?
                }
            };
            if updated.rows_affected() == 1 {
                tx.commit().await?;
                return Ok(());
            }
            tx.rollback().await?;
        }
        Err(StorageError::Changed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use bytes::Bytes;

    use super::super::blob::body_from_bytes;
    use super::super::test_support::fresh;
    use super::super::{NewObject, Precondition};
    use super::*;

    #[tokio::test]
    async fn tags_and_acls_change_in_place_and_go_with_the_object() {
        let (_dir, objects, alice, bob) = fresh().await;
        objects
            .create_bucket(&alice, "t1", "r", CannedAcl::Private)
            .await
            .unwrap();
        assert_eq!(objects.bucket_tags(&alice, "t1").await.unwrap(), None);
        let tags = vec![("team".to_owned(), "blue".to_owned())];
        objects
            .set_bucket_tags(&alice, "t1", Some(tags.clone()))
            .await
            .unwrap();
        assert_eq!(
            objects.bucket_tags(&alice, "t1").await.unwrap(),
            Some(tags.clone())
        );
        assert!(matches!(
            objects.bucket_tags(&bob, "t1").await,
            Err(StorageError::AccessDenied(_))
        ));

        let put = |etag: &'static str, tags: Tags| {
            let objects = objects.clone();
            let alice = alice.clone();
            async move {
                let staged = objects
                    .write_blob(body_from_bytes(Bytes::from_static(b"x")), 10)
                    .await
                    .unwrap();
                let new = NewObject {
                    etag: etag.to_owned(),
                    meta: ObjectMeta {
                        tags,
                        ..ObjectMeta::default()
                    },
                    checksum: None,
                    acl: CannedAcl::Private,
                };
                objects
                    .put_object(&alice, "t1", "k", staged, new, Precondition::Always)
                    .await
                    .unwrap();
            }
        };
        put("e1", tags.clone()).await;
        assert_eq!(
            objects.object(&alice, "t1", "k").await.unwrap().meta.tags,
            tags
        );
        let other = vec![("a".to_owned(), "1".to_owned())];
        objects
            .set_object_tags(&alice, "t1", "k", other.clone())
            .await
            .unwrap();
        objects
            .set_object_acl(&alice, "t1", "k", CannedAcl::PublicRead)
            .await
            .unwrap();
        let info = objects.object(&bob, "t1", "k").await.unwrap();
        assert_eq!((info.meta.tags, info.etag.as_str()), (other, "e1"));
        assert!(matches!(
            objects.set_object_tags(&bob, "t1", "k", Vec::new()).await,
            Err(StorageError::AccessDenied(_))
        ));
        // An overwrite replaces the tags; a delete takes them along.
        put("e2", Vec::new()).await;
        assert!(objects
            .object(&alice, "t1", "k")
            .await
            .unwrap()
            .meta
            .tags
            .is_empty());
        objects.delete_object(&alice, "t1", "k").await.unwrap();
        assert!(matches!(
            objects.set_object_tags(&alice, "t1", "k", Vec::new()).await,
            Err(StorageError::NoSuchKey { .. })
        ));
    }
}
