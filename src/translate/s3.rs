//! The S3 door's port over the core: identities from the API keys, buckets and objects from
//! the object store (`storage`). Each method converts the door's terms into the store's and
//! back; neither side sees the other's types.

use std::ops::Range;

use cirrus_s3::port::{self as p, PortError, PortResult};
use cirrus_s3::{Body, S3Port};

use super::Translator;
use crate::model::identity::Role;
use crate::storage::{self as st, StorageError};

/// The secret of an active key whose user, account and domain are all enabled, with the
/// account it acts for.
const IDENTIFY: &str = "SELECT k.secret_key, a.id, a.name, a.role FROM api_keys k \
     JOIN users u ON u.id = k.user_id JOIN accounts a ON a.id = u.account_id \
     JOIN domains d ON d.id = a.domain_id \
     WHERE k.access_key = $1 AND k.state = 'active' AND u.state = 'enabled' \
     AND a.state = 'enabled' AND d.state = 'enabled'";

fn port_error(e: StorageError) -> PortError {
    match e {
        StorageError::NoSuchBucket(b) => PortError::NoSuchBucket(b),
        StorageError::BucketTaken(b) => PortError::BucketAlreadyExists(b),
        StorageError::BucketOwnedByYou(b) => PortError::BucketAlreadyOwnedByYou(b),
        StorageError::BucketNotEmpty(b) => PortError::BucketNotEmpty(b),
        StorageError::NoSuchKey { key, .. } => PortError::NoSuchKey(key),
        StorageError::NoSuchUpload(u) => PortError::NoSuchUpload(u),
        StorageError::InvalidPart(n) => PortError::InvalidPart(n),
        StorageError::AccessDenied(m) => PortError::AccessDenied(m),
        StorageError::PreconditionFailed => PortError::PreconditionFailed,
        StorageError::Changed => PortError::Changed,
        StorageError::Blob(st::BlobError::Body(source)) => PortError::Body(source),
        StorageError::Blob(st::BlobError::TooLarge(max)) => PortError::TooLarge(max),
        StorageError::Db(e) => PortError::Internal(format!("the database failed: {e}")),
        other => PortError::Internal(other.to_string()),
    }
}

fn requester(who: &p::Identity) -> st::Requester {
    match who {
        p::Identity::Anonymous => st::Requester::Anonymous,
        p::Identity::Account(c) => st::Requester::Account {
            id: c.account_id.clone(),
            root_admin: c.root_admin,
        },
    }
}

fn acl_to_store(acl: p::Acl) -> st::CannedAcl {
    match acl {
        p::Acl::Private => st::CannedAcl::Private,
        p::Acl::PublicRead => st::CannedAcl::PublicRead,
        p::Acl::PublicReadWrite => st::CannedAcl::PublicReadWrite,
        p::Acl::AuthenticatedRead => st::CannedAcl::AuthenticatedRead,
    }
}

fn acl_from_store(acl: st::CannedAcl) -> p::Acl {
    match acl {
        st::CannedAcl::Private => p::Acl::Private,
        st::CannedAcl::PublicRead => p::Acl::PublicRead,
        st::CannedAcl::PublicReadWrite => p::Acl::PublicReadWrite,
        st::CannedAcl::AuthenticatedRead => p::Acl::AuthenticatedRead,
    }
}

fn bucket_info(b: st::Bucket) -> p::BucketInfo {
    p::BucketInfo {
        acl: acl_from_store(st::CannedAcl::parse(&b.acl).unwrap_or(st::CannedAcl::Private)),
        name: b.name,
        owner_account_id: b.owner_account_id,
        region: b.region,
        created_ms: b.created_ms,
    }
}

fn meta_to_store(m: p::ObjectMeta) -> st::ObjectMeta {
    st::ObjectMeta {
        content_type: m.content_type,
        content_encoding: m.content_encoding,
        content_disposition: m.content_disposition,
        content_language: m.content_language,
        cache_control: m.cache_control,
        expires_ms: m.expires_ms,
        user: m.user,
        tags: m.tags,
    }
}

fn meta_from_store(m: st::ObjectMeta) -> p::ObjectMeta {
    p::ObjectMeta {
        content_type: m.content_type,
        content_encoding: m.content_encoding,
        content_disposition: m.content_disposition,
        content_language: m.content_language,
        cache_control: m.cache_control,
        expires_ms: m.expires_ms,
        user: m.user,
        tags: m.tags,
    }
}

fn algorithm(name: &str) -> Option<p::ChecksumAlgorithm> {
    p::ChecksumAlgorithm::parse(name)
}

fn object_info(o: st::ObjectInfo) -> p::ObjectInfo {
    p::ObjectInfo {
        checksum: o.checksum.and_then(|c| {
            Some(p::Checksum {
                algorithm: algorithm(&c.algorithm)?,
                value: c.value,
                full_object: c.full_object,
            })
        }),
        key: o.key,
        size: o.size,
        etag: o.etag,
        modified_ms: o.modified_ms,
        meta: meta_from_store(o.meta),
        parts_count: o.parts_count,
        acl: acl_from_store(st::CannedAcl::parse(&o.acl).unwrap_or(st::CannedAcl::Private)),
        owner_account_id: o.owner_account_id,
    }
}

fn new_object(n: p::NewObject) -> st::NewObject {
    st::NewObject {
        etag: n.etag,
        meta: meta_to_store(n.meta),
        checksum: n.checksum.map(|c| st::StoredChecksum {
            algorithm: c.algorithm.as_str().to_owned(),
            value: c.value,
            full_object: c.full_object,
        }),
        acl: acl_to_store(n.acl),
    }
}

fn precondition(c: p::WriteCondition) -> st::Precondition {
    match c {
        p::WriteCondition::Always => st::Precondition::Always,
        p::WriteCondition::IfAbsent => st::Precondition::IfAbsent,
        p::WriteCondition::IfMatch(e) => st::Precondition::IfMatch(e),
    }
}

fn upload_info(u: st::UploadInfo) -> p::UploadInfo {
    p::UploadInfo {
        upload_id: u.id,
        key: u.key,
        initiated_ms: u.initiated_ms,
        meta: meta_from_store(u.meta),
        checksum_algorithm: u.checksum_algorithm.as_deref().and_then(algorithm),
        checksum_full_object: u.checksum_full_object,
        acl: acl_from_store(u.acl),
        owner_account_id: u.owner_account_id,
    }
}

fn part_info(part: st::PartInfo) -> p::PartInfo {
    p::PartInfo {
        number: part.number,
        size: part.size,
        etag: part.etag,
        checksum: part.checksum,
        modified_ms: part.modified_ms,
    }
}

#[async_trait::async_trait]
impl S3Port for Translator {
    type Staged = st::StagedBlob;
    type Reader = st::ObjectReader;

    async fn identify(&self, access_key: &str) -> PortResult<Option<(String, p::Caller)>> {
        // Every signed S3 request asks this, so it is one query rather than the four of
        // `identity::authenticate_key`; the enabled checks are the same.
        let row: Option<(String, String, String, String)> = sqlx::query_as(IDENTIFY)
            .bind(access_key)
            .fetch_optional(&self.cloud.store.pool)
            .await
            .map_err(|e| PortError::Internal(format!("authenticating a key failed: {e}")))?;
        Ok(row.map(|(secret, account_id, display_name, role)| {
            let caller = p::Caller {
                root_admin: Role::parse(&role) == Some(Role::RootAdmin),
                account_id,
                display_name,
            };
            (secret, caller)
        }))
    }

    fn region(&self) -> &str {
        &self.cloud.region
    }

    fn cursor_key(&self) -> &[u8] {
        self.cloud.objects.cursor_key()
    }

    async fn list_buckets(&self, who: &p::Identity) -> PortResult<Vec<p::BucketInfo>> {
        let buckets = self
            .cloud
            .objects
            .list_buckets(&requester(who))
            .await
            .map_err(port_error)?;
        Ok(buckets.into_iter().map(bucket_info).collect())
    }

    async fn create_bucket(
        &self,
        who: &p::Identity,
        name: &str,
        acl: p::Acl,
    ) -> PortResult<p::BucketInfo> {
        // The cloud keeps templates and snapshots in buckets of this prefix, made when first
        // needed: no user may take one of those names first.
        if name.starts_with(crate::storage::SYSTEM_BUCKET_PREFIX) {
            return Err(p::PortError::ReservedBucketName(name.to_owned()));
        }
        let bucket = self
            .cloud
            .objects
            .create_bucket(&requester(who), name, &self.cloud.region, acl_to_store(acl))
            .await
            .map_err(port_error)?;
        Ok(bucket_info(bucket))
    }

    async fn bucket(
        &self,
        who: &p::Identity,
        name: &str,
        need: p::BucketNeed,
    ) -> PortResult<p::BucketInfo> {
        let who = requester(who);
        let objects = &self.cloud.objects;
        let bucket = match need {
            p::BucketNeed::Read => objects.readable_bucket(&who, name).await,
            p::BucketNeed::Write => objects.writable_bucket(&who, name).await,
            p::BucketNeed::Control => objects.owned_bucket(&who, name).await,
        };
        bucket.map(bucket_info).map_err(port_error)
    }

    async fn delete_bucket(&self, who: &p::Identity, name: &str) -> PortResult<()> {
        self.cloud
            .objects
            .delete_bucket(&requester(who), name)
            .await
            .map_err(port_error)
    }

    async fn bucket_tags(
        &self,
        who: &p::Identity,
        bucket: &str,
    ) -> PortResult<Option<Vec<(String, String)>>> {
        self.cloud
            .objects
            .bucket_tags(&requester(who), bucket)
            .await
            .map_err(port_error)
    }

    async fn set_bucket_tags(
        &self,
        who: &p::Identity,
        bucket: &str,
        tags: Option<Vec<(String, String)>>,
    ) -> PortResult<()> {
        self.cloud
            .objects
            .set_bucket_tags(&requester(who), bucket, tags)
            .await
            .map_err(port_error)
    }

    async fn set_bucket_acl(&self, who: &p::Identity, bucket: &str, acl: p::Acl) -> PortResult<()> {
        self.cloud
            .objects
            .set_bucket_acl(&requester(who), bucket, acl_to_store(acl))
            .await
            .map_err(port_error)
    }

    async fn set_object_tags(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> PortResult<()> {
        self.cloud
            .objects
            .set_object_tags(&requester(who), bucket, key, tags)
            .await
            .map_err(port_error)
    }

    async fn set_object_acl(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        acl: p::Acl,
    ) -> PortResult<()> {
        self.cloud
            .objects
            .set_object_acl(&requester(who), bucket, key, acl_to_store(acl))
            .await
            .map_err(port_error)
    }

    async fn stage(
        &self,
        who: &p::Identity,
        bucket: &str,
        body: Body,
        max_size: u64,
    ) -> PortResult<Self::Staged> {
        self.cloud
            .objects
            .write_blob_for(&requester(who), bucket, Box::pin(body), max_size)
            .await
            .map_err(port_error)
    }

    fn staged_size(staged: &Self::Staged) -> u64 {
        staged.size()
    }

    async fn put_object(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        staged: Self::Staged,
        new: p::NewObject,
        condition: p::WriteCondition,
    ) -> PortResult<p::ObjectInfo> {
        let info = self
            .cloud
            .objects
            .put_object(
                &requester(who),
                bucket,
                key,
                staged,
                new_object(new),
                precondition(condition),
            )
            .await
            .map_err(port_error)?;
        Ok(object_info(info))
    }

    async fn head_object(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
    ) -> PortResult<p::ObjectInfo> {
        let info = self
            .cloud
            .objects
            .object(&requester(who), bucket, key)
            .await
            .map_err(port_error)?;
        Ok(object_info(info))
    }

    async fn open_object(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
    ) -> PortResult<(p::ObjectInfo, Self::Reader)> {
        let objects = &self.cloud.objects;
        let info = objects
            .object(&requester(who), bucket, key)
            .await
            .map_err(port_error)?;
        let reader = objects.reader(&info).await.map_err(port_error)?;
        Ok((object_info(info), reader))
    }

    async fn read_object(&self, reader: &Self::Reader, range: Range<u64>) -> PortResult<Body> {
        let body = self
            .cloud
            .objects
            .read(reader, range)
            .await
            .map_err(port_error)?;
        Ok(Body::http_body(body))
    }

    async fn delete_objects(
        &self,
        who: &p::Identity,
        bucket: &str,
        keys: &[String],
    ) -> PortResult<Vec<bool>> {
        self.cloud
            .objects
            .delete_objects(&requester(who), bucket, keys)
            .await
            .map_err(port_error)
    }

    async fn list_objects(
        &self,
        who: &p::Identity,
        bucket: &str,
        query: &p::ListQuery,
    ) -> PortResult<p::ListPage> {
        let query = st::ListQuery {
            prefix: query.prefix.clone(),
            delimiter: query.delimiter.clone(),
            after: query.after.clone(),
            limit: query.limit,
        };
        let page = self
            .cloud
            .objects
            .list_objects(&requester(who), bucket, &query)
            .await
            .map_err(port_error)?;
        let entries = page
            .entries
            .into_iter()
            .map(|e| match e {
                st::ListEntry::Object(o) => p::ListEntry::Object(p::ListedObject {
                    checksum_algorithm: o.checksum_algorithm.as_deref().and_then(algorithm),
                    checksum_full_object: o.checksum_full_object,
                    key: o.key,
                    size: o.size,
                    etag: o.etag,
                    modified_ms: o.modified_ms,
                    owner_account_id: o.owner_account_id,
                }),
                st::ListEntry::CommonPrefix(prefix) => p::ListEntry::CommonPrefix(prefix),
            })
            .collect();
        Ok(p::ListPage {
            entries,
            truncated: page.truncated,
        })
    }

    async fn create_upload(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        new: p::NewUpload,
    ) -> PortResult<p::UploadInfo> {
        let new = st::NewUpload {
            meta: meta_to_store(new.meta),
            checksum_algorithm: new.checksum_algorithm.map(|a| a.as_str().to_owned()),
            checksum_full_object: new.checksum_full_object,
            acl: acl_to_store(new.acl),
        };
        let upload = self
            .cloud
            .objects
            .create_upload(&requester(who), bucket, key, new)
            .await
            .map_err(port_error)?;
        Ok(upload_info(upload))
    }

    async fn upload(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> PortResult<p::UploadInfo> {
        let upload = self
            .cloud
            .objects
            .upload(&requester(who), bucket, key, upload_id)
            .await
            .map_err(port_error)?;
        Ok(upload_info(upload))
    }

    async fn put_part(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        staged: Self::Staged,
        etag: &str,
        checksum: Option<String>,
    ) -> PortResult<p::PartInfo> {
        let part = self
            .cloud
            .objects
            .put_part(
                &requester(who),
                bucket,
                key,
                upload_id,
                number,
                staged,
                etag,
                checksum,
            )
            .await
            .map_err(port_error)?;
        Ok(part_info(part))
    }

    async fn list_parts(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> PortResult<(p::UploadInfo, Vec<p::PartInfo>, bool)> {
        let (upload, parts, truncated) = self
            .cloud
            .objects
            .list_parts(&requester(who), bucket, key, upload_id, after, limit)
            .await
            .map_err(port_error)?;
        Ok((
            upload_info(upload),
            parts.into_iter().map(part_info).collect(),
            truncated,
        ))
    }

    async fn complete_upload(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[(u32, String)],
        new: p::NewObject,
        condition: p::WriteCondition,
    ) -> PortResult<p::ObjectInfo> {
        let info = self
            .cloud
            .objects
            .complete_upload(
                &requester(who),
                bucket,
                key,
                upload_id,
                chosen,
                new_object(new),
                precondition(condition),
            )
            .await
            .map_err(port_error)?;
        Ok(object_info(info))
    }

    async fn abort_upload(
        &self,
        who: &p::Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> PortResult<()> {
        self.cloud
            .objects
            .abort_upload(&requester(who), bucket, key, upload_id)
            .await
            .map_err(port_error)
    }

    async fn list_uploads(
        &self,
        who: &p::Identity,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<&str>)>,
        limit: usize,
    ) -> PortResult<p::UploadPage> {
        let page = self
            .cloud
            .objects
            .list_uploads(&requester(who), bucket, prefix, after, limit)
            .await
            .map_err(port_error)?;
        Ok(p::UploadPage {
            uploads: page.uploads.into_iter().map(upload_info).collect(),
            truncated: page.truncated,
        })
    }
}
