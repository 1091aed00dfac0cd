//! The secondary storage object store: buckets of objects, owned by accounts, holding users'
//! data and (later) the templates, ISO images and snapshots of the cloud. Object metadata lives
//! in the database (tables of migration 0002), bytes in a [`BlobStore`] (the local filesystem
//! under `DIR/blobs` by default). This module owns both and the rules that tie them together:
//! a blob is written and made durable first, then one transaction makes it visible (and moves
//! whatever it replaces to `blob_trash`); the trash is emptied afterwards, so a crash at any
//! point leaves either the old object or the new one, never a mix.
//!
//! It knows buckets, keys, byte ranges, ETags, checksums and canned ACLs as stored facts; it
//! does not know HTTP or S3's wire format. Listing is a range scan over `(bucket_id, key)`
//! that skips each common prefix with one seek, so a page costs what a page costs.

/// The prefix of the buckets the cloud keeps for itself (templates, snapshots); users cannot
/// create buckets with it.
pub const SYSTEM_BUCKET_PREFIX: &str = "cirrus-system-";

pub mod blob;
pub mod isos;
mod listing;
mod multipart;
mod objects;
mod settings;
pub mod template_url;
pub mod templates;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::error::CoreError;
use crate::now_ms;
use crate::store::{Backend, Store};

pub use blob::{BlobBody, BlobError, BlobStore, BoxError, FsBlobStore, InBody, WrittenBlob};
pub use listing::{ListEntry, ListPage, ListQuery, ListedObject};
pub use multipart::{NewUpload, PartInfo, UploadInfo, UploadPage};
pub use objects::{ObjectReader, Precondition};

/// Who is asking: an account (perhaps a root admin) or nobody in particular.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    Anonymous,
    Account { id: String, root_admin: bool },
}

impl Requester {
    fn account_id(&self) -> Option<&str> {
        match self {
            Self::Anonymous => None,
            Self::Account { id, .. } => Some(id),
        }
    }

    /// Owner or root admin: full control.
    fn controls(&self, owner_account_id: &str) -> bool {
        match self {
            Self::Anonymous => false,
            Self::Account { id, root_admin } => *root_admin || id == owner_account_id,
        }
    }

    /// Whether a canned ACL lets this requester read.
    fn may_read_by_acl(&self, acl: CannedAcl) -> bool {
        match acl {
            CannedAcl::PublicRead | CannedAcl::PublicReadWrite => true,
            CannedAcl::AuthenticatedRead => matches!(self, Self::Account { .. }),
            CannedAcl::Private => false,
        }
    }
}

/// The canned ACLs the store understands, on buckets and objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedAcl {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
}

impl CannedAcl {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::PublicRead => "public-read",
            Self::PublicReadWrite => "public-read-write",
            Self::AuthenticatedRead => "authenticated-read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Self::Private),
            "public-read" => Some(Self::PublicRead),
            "public-read-write" => Some(Self::PublicReadWrite),
            "authenticated-read" => Some(Self::AuthenticatedRead),
            _ => None,
        }
    }

    /// Reads a stored ACL; anything unknown is treated as the safest one.
    fn stored(s: &str) -> Self {
        Self::parse(s).unwrap_or(Self::Private)
    }
}

/// Why an operation of the object store failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the bucket '{0}' does not exist")]
    NoSuchBucket(String),
    #[error("the bucket name '{0}' is taken by another account")]
    BucketTaken(String),
    #[error("you already own the bucket '{0}'")]
    BucketOwnedByYou(String),
    #[error("the bucket '{0}' is not empty")]
    BucketNotEmpty(String),
    #[error("the key '{key}' does not exist in the bucket '{bucket}'")]
    NoSuchKey { bucket: String, key: String },
    #[error("the multipart upload '{0}' does not exist or has ended")]
    NoSuchUpload(String),
    #[error("part {0} was not uploaded, or was uploaded with another ETag")]
    InvalidPart(u32),
    #[error("{0}")]
    AccessDenied(String),
    #[error("the object's current state does not meet the request's precondition")]
    PreconditionFailed,
    /// The object changed while it was being read; reading it again will do.
    #[error("the object changed while it was being read")]
    Changed,
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("the database failed")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl StorageError {
    /// True for errors that are the server's fault rather than the caller's.
    pub fn is_internal(&self) -> bool {
        match self {
            Self::Db(_) | Self::Internal(_) => true,
            Self::Blob(b) => matches!(b, BlobError::Io(_) | BlobError::Missing(_)),
            _ => false,
        }
    }
}

impl From<StorageError> for CoreError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Db(e) => CoreError::Store(e),
            StorageError::AccessDenied(m) => CoreError::PermissionDenied(m),
            other if other.is_internal() => CoreError::Internal(other.to_string()),
            other => CoreError::InvalidParameter(other.to_string()),
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// A bucket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Bucket {
    pub id: String,
    pub name: String,
    pub owner_account_id: String,
    pub region: String,
    pub acl: String,
    pub created_ms: i64,
}

/// The columns of a [`Bucket`], for `concat!` into queries.
macro_rules! bucket_columns {
    () => {
        "id, name, owner_account_id, region, acl, created_ms"
    };
}
pub(crate) use bucket_columns;

impl Bucket {
    fn acl(&self) -> CannedAcl {
        CannedAcl::stored(&self.acl)
    }
}

/// What is stored about an object besides its bytes: the standard representation headers and
/// the user's own metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    /// User metadata, names lowercased, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<(String, String)>,
    /// The object's tags (S3 object tagging), in the order given: kept in the row's metadata,
    /// so the write that makes an object visible also sets its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
}

/// A stored checksum of an object: algorithm (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`,
/// `SHA256`), its base64 value and whether it covers the whole object or is a checksum of the
/// parts' checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChecksum {
    pub algorithm: String,
    pub value: String,
    pub full_object: bool,
}

/// An object as stored.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub id: String,
    pub key: String,
    pub size: u64,
    /// The ETag without quotes: an MD5 in hex, or `md5-N` for an object made of N parts.
    pub etag: String,
    pub modified_ms: i64,
    pub meta: ObjectMeta,
    pub checksum: Option<StoredChecksum>,
    pub parts_count: Option<u32>,
    pub acl: String,
    pub owner_account_id: String,
    blob_id: Option<String>,
    /// The bytes themselves, for a small object kept in its row.
    inline: Option<Bytes>,
}

/// What the caller decided about a new object before it is made visible.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub etag: String,
    pub meta: ObjectMeta,
    pub checksum: Option<StoredChecksum>,
    pub acl: CannedAcl,
}

/// A blob written for a request and not yet made part of an object or upload. Dropped
/// without being used, it is deleted.
pub struct StagedBlob {
    content: Option<Staged>,
    blobs: Arc<dyn BlobStore>,
}

/// What a staged body became: a blob, or (small enough) bytes to keep in the object's row.
#[derive(Debug)]
pub(crate) enum Staged {
    Blob(WrittenBlob),
    Inline(Bytes),
}

impl fmt::Debug for StagedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedBlob")
            .field("content", &self.content)
            .finish()
    }
}

impl StagedBlob {
    pub fn size(&self) -> u64 {
        match &self.content {
            Some(Staged::Blob(b)) => b.size,
            Some(Staged::Inline(b)) => b.len() as u64,
            None => 0,
        }
    }

    fn take(&mut self) -> StorageResult<Staged> {
        self.content
            .take()
            .ok_or_else(|| StorageError::Internal("a staged blob was used twice".into()))
    }

    /// The staged body as a blob, writing one for inline bytes (parts are always blobs).
    async fn take_blob(&mut self) -> StorageResult<WrittenBlob> {
        match self.take()? {
            Staged::Blob(blob) => Ok(blob),
            Staged::Inline(bytes) => Ok(self
                .blobs
                .write(blob::body_from_bytes(bytes), u64::MAX)
                .await?),
        }
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(Staged::Blob(blob)) = self.content.take() {
            let blobs = self.blobs.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = blobs.delete(&blob.id).await {
                        tracing::warn!(blob = %blob.id, error = %e, "deleting an unused blob failed");
                    }
                });
            }
        }
    }
}

/// Bodies up to this size are kept in the object's row instead of a blob file.
pub const INLINE_MAX: usize = 32 << 10;

const CURSOR_KEY_SETTING: &str = "object_store.cursor_key";

/// How long a multipart upload may sit untouched before the sweeper aborts it, unless
/// `[s3] upload_max_age_secs` says otherwise.
pub const UPLOAD_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// How often the sweeper looks.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The object store of one cloud.
pub struct ObjectStore {
    store: Store,
    blobs: Arc<dyn BlobStore>,
    cursor_key: Vec<u8>,
    /// Whether the trash emptier has been started, and how to wake it.
    trash_worker: std::sync::atomic::AtomicBool,
    trash_wake: Arc<tokio::sync::Notify>,
    /// Object writes go through one committer that groups them into transactions.
    committer: tokio::sync::mpsc::Sender<objects::PutJob>,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// The object store over `store` with blobs on the local filesystem under `blob_dir`.
    pub async fn open_local(store: Store, blob_dir: &Path) -> StorageResult<Self> {
        let blobs = FsBlobStore::open(blob_dir).map_err(BlobError::Io)?;
        Self::open(store, Arc::new(blobs)).await
    }

    /// The object store over `store` and a blob store; empties what a crash left in the trash.
    pub async fn open(store: Store, blobs: Arc<dyn BlobStore>) -> StorageResult<Self> {
        let cursor_key = match store.setting(CURSOR_KEY_SETTING).await? {
            Some(hex_key) => hex::decode(hex_key).unwrap_or_default(),
            None => Vec::new(),
        };
        let cursor_key = if cursor_key.len() == 32 {
            cursor_key
        } else {
            let mut key = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            store
                .set_setting(CURSOR_KEY_SETTING, &hex::encode(&key))
                .await?;
            key
        };
        let objects = Self {
            committer: objects::start_committer(store.clone()),
            store,
            blobs,
            cursor_key,
            trash_worker: std::sync::atomic::AtomicBool::new(false),
            trash_wake: Arc::new(tokio::sync::Notify::new()),
        };
        objects.empty_trash().await;
        Ok(objects)
    }

    /// Aborts, every hour, the multipart uploads started more than `max_age` ago, so abandoned
    /// parts do not keep their space for ever. Runs until the runtime stops.
    pub fn spawn_upload_sweeper(self: &Arc<Self>, max_age: std::time::Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            // A short age (tests, small installations) is looked at more often than hourly.
            let every = SWEEP_EVERY
                .min(max_age / 2)
                .max(std::time::Duration::from_secs(1));
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let age = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
                if let Err(e) = me
                    .abort_uploads_started_before(now_ms().saturating_sub(age))
                    .await
                {
                    tracing::warn!(error = %e, "sweeping abandoned multipart uploads failed");
                }
            }
        });
    }

    /// A secret of this cloud for sealing listing cursors (continuation tokens), the same on
    /// every management server sharing the database.
    pub fn cursor_key(&self) -> &[u8] {
        &self.cursor_key
    }

    /// Writes a body (at most `max_size` bytes) where it will live before any row refers to
    /// it: kept in memory for the row if it ends within [`INLINE_MAX`] bytes, else a blob.
    pub async fn write_blob(&self, body: InBody, max_size: u64) -> StorageResult<StagedBlob> {
        let (head, rest) = read_head(body, max_size).await?;
        self.stage(head, rest, max_size).await
    }

    /// Writes a body for an object or part in `bucket`. A body declared no longer than
    /// [`INLINE_MAX`] is read first and its bucket judged where it is committed (the committer
    /// checks every write's bucket in its transaction), which spares every small write a query
    /// of its own; any other is refused before a byte of it is read, so a refused upload costs
    /// nothing and a client waiting on `Expect: 100-continue` is told at once.
    pub async fn write_blob_for(
        &self,
        who: &Requester,
        bucket: &str,
        body: InBody,
        max_size: u64,
    ) -> StorageResult<StagedBlob> {
        let small = body
            .size_hint()
            .exact()
            .is_some_and(|n| n <= INLINE_MAX as u64);
        if !small {
            self.writable_bucket(who, bucket).await?;
        }
        let (head, rest) = read_head(body, max_size).await?;
        if small && rest.is_some() {
            self.writable_bucket(who, bucket).await?;
        }
        self.stage(head, rest, max_size).await
    }

    /// Keeps a body read up to its end in memory, or writes a blob of its head and the rest.
    async fn stage(
        &self,
        head: Bytes,
        rest: Option<InBody>,
        max_size: u64,
    ) -> StorageResult<StagedBlob> {
        let content = match rest {
            Some(rest) => {
                let body = Box::pin(blob::Prefixed::new(head, rest));
                Staged::Blob(self.blobs.write(body, max_size).await?)
            }
            None => Staged::Inline(head),
        };
        Ok(StagedBlob {
            content: Some(content),
            blobs: self.blobs.clone(),
        })
    }

    async fn begin(&self) -> StorageResult<Transaction<'static, Any>> {
        begin_write(&self.store).await
    }

    /// Deletes the blobs in the trash, then their rows.
    pub async fn empty_trash(&self) {
        loop {
            let ids: Vec<(String,)> = match sqlx::query_as(
                "SELECT blob_id FROM blob_trash ORDER BY trashed_ms LIMIT 500",
            )
            .fetch_all(&self.store.pool)
            .await
            {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the blob trash failed");
                    return;
                }
            };
            if ids.is_empty() {
                return;
            }
            for (id,) in &ids {
                if let Err(e) = self.blobs.delete(id).await {
                    tracing::warn!(blob = %id, error = %e, "deleting a trashed blob failed");
                    return;
                }
            }
            // One statement for the whole batch: under load the trash costs one commit per
            // batch, not one per blob.
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM blob_trash WHERE blob_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (id,) in &ids {
                query = query.bind(id);
            }
            if let Err(e) = query.execute(&self.store.pool).await {
                tracing::warn!(error = %e, "clearing the blob trash failed");
                return;
            }
        }
    }

    /// Wakes the trash emptier, after a transaction put something in the trash. Wake-ups
    /// while it works coalesce into one more round.
    fn empty_trash_later(self: &Arc<Self>) {
        if self
            .trash_worker
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.trash_wake.notify_one();
            return;
        }
        let me = Arc::downgrade(self);
        let wake = self.trash_wake.clone();
        tokio::spawn(async move {
            loop {
                let Some(objects) = me.upgrade() else { return };
                objects.empty_trash().await;
                drop(objects);
                wake.notified().await;
            }
        });
    }

    // ---- buckets ----

    /// The buckets the requester owns, by name.
    pub async fn list_buckets(&self, who: &Requester) -> StorageResult<Vec<Bucket>> {
        let Some(account) = who.account_id() else {
            return Err(StorageError::AccessDenied(
                "listing buckets needs a signed request".into(),
            ));
        };
        const SQL: &str = concat!(
            "SELECT ",
            bucket_columns!(),
            " FROM buckets WHERE owner_account_id = $1 ORDER BY name"
        );
        let rows = sqlx::query_as::<_, Bucket>(SQL)
            .bind(account)
            .fetch_all(&self.store.pool)
            .await?;
        Ok(rows)
    }

    /// Creates a bucket owned by the requester.
    pub async fn create_bucket(
        &self,
        who: &Requester,
        name: &str,
        region: &str,
        acl: CannedAcl,
    ) -> StorageResult<Bucket> {
        let Some(account) = who.account_id() else {
            return Err(StorageError::AccessDenied(
                "creating a bucket needs a signed request".into(),
            ));
        };
        let bucket = Bucket {
            id: crate::model::new_uuid(),
            name: name.to_owned(),
            owner_account_id: account.to_owned(),
            region: region.to_owned(),
            acl: acl.as_str().to_owned(),
            created_ms: now_ms(),
        };
        let inserted = sqlx::query(
            "INSERT INTO buckets (id, name, owner_account_id, region, acl, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&bucket.id)
        .bind(&bucket.name)
        .bind(&bucket.owner_account_id)
        .bind(&bucket.region)
        .bind(&bucket.acl)
        .bind(bucket.created_ms)
        .execute(&self.store.pool)
        .await;
        match inserted {
            Ok(_) => {
                tracing::info!(bucket = %name, account = %account, "bucket created");
                Ok(bucket)
            }
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                let existing = self.find_bucket(name).await?;
                match existing {
                    Some(b) if b.owner_account_id == account => {
                        Err(StorageError::BucketOwnedByYou(name.to_owned()))
                    }
                    _ => Err(StorageError::BucketTaken(name.to_owned())),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn find_bucket(&self, name: &str) -> StorageResult<Option<Bucket>> {
        bucket_named(&self.store.pool, name).await
    }

    /// A bucket the requester controls (owner or root admin).
    pub async fn owned_bucket(&self, who: &Requester, name: &str) -> StorageResult<Bucket> {
        let bucket = self
            .find_bucket(name)
            .await?
            .ok_or_else(|| StorageError::NoSuchBucket(name.to_owned()))?;
        if who.controls(&bucket.owner_account_id) {
            Ok(bucket)
        } else {
            Err(denied_bucket(name))
        }
    }

    /// A bucket the requester may list and read from.
    pub async fn readable_bucket(&self, who: &Requester, name: &str) -> StorageResult<Bucket> {
        let bucket = self
            .find_bucket(name)
            .await?
            .ok_or_else(|| StorageError::NoSuchBucket(name.to_owned()))?;
        if who.controls(&bucket.owner_account_id) || who.may_read_by_acl(bucket.acl()) {
            Ok(bucket)
        } else {
            Err(denied_bucket(name))
        }
    }

    /// A bucket the requester may write objects into.
    pub async fn writable_bucket(&self, who: &Requester, name: &str) -> StorageResult<Bucket> {
        let bucket = self.find_bucket(name).await?;
        writable(who, name, bucket)
    }

    /// Deletes an empty bucket; uploads still in progress in it are aborted.
    pub async fn delete_bucket(self: &Arc<Self>, who: &Requester, name: &str) -> StorageResult<()> {
        let bucket = self.owned_bucket(who, name).await?;
        let mut tx = self.begin().await?;
        let any: Option<(String,)> =
            sqlx::query_as("SELECT id FROM objects WHERE bucket_id = $1 LIMIT 1")
                .bind(&bucket.id)
                .fetch_optional(&mut *tx)
                .await?;
        if any.is_some() {
            return Err(StorageError::BucketNotEmpty(name.to_owned()));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO blob_trash (blob_id, trashed_ms) \
             SELECT p.blob_id, $2 FROM upload_parts p JOIN multipart_uploads u \
             ON u.id = p.upload_id WHERE u.bucket_id = $1",
        )
        .bind(&bucket.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM upload_parts WHERE upload_id IN \
             (SELECT id FROM multipart_uploads WHERE bucket_id = $1)",
        )
        .bind(&bucket.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM multipart_uploads WHERE bucket_id = $1")
            .bind(&bucket.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM buckets WHERE id = $1")
            .bind(&bucket.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.empty_trash_later();
        tracing::info!(bucket = %name, "bucket deleted");
        Ok(())
    }
}

/// Reads a body's first bytes: all of it if it ends within [`INLINE_MAX`] bytes, else a bit
/// more than that and the rest still to read.
async fn read_head(mut body: InBody, max_size: u64) -> StorageResult<(Bytes, Option<InBody>)> {
    let mut head = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BlobError::Body)?;
        if let Ok(data) = frame.into_data() {
            head.extend_from_slice(&data);
            if head.len() as u64 > max_size {
                return Err(BlobError::TooLarge(max_size).into());
            }
            if head.len() > INLINE_MAX {
                return Ok((head.freeze(), Some(body)));
            }
        }
    }
    Ok((head.freeze(), None))
}

/// A transaction that will write. SQLite: take the write lock up front, so a transaction that
/// reads and then writes waits for another writer instead of failing when it upgrades.
pub(crate) async fn begin_write(store: &Store) -> StorageResult<Transaction<'static, Any>> {
    let tx = match store.backend {
        Backend::Sqlite => store.pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => store.pool.begin().await?,
    };
    Ok(tx)
}

/// The bucket called `name`, read through a pool or inside a transaction.
async fn bucket_named<'e, E>(executor: E, name: &str) -> StorageResult<Option<Bucket>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    const SQL: &str = concat!(
        "SELECT ",
        bucket_columns!(),
        " FROM buckets WHERE name = $1"
    );
    Ok(sqlx::query_as::<_, Bucket>(SQL)
        .bind(name)
        .fetch_optional(executor)
        .await?)
}

/// The bucket found under `name`, if the requester may write objects into it.
fn writable(who: &Requester, name: &str, bucket: Option<Bucket>) -> StorageResult<Bucket> {
    let bucket = bucket.ok_or_else(|| StorageError::NoSuchBucket(name.to_owned()))?;
    if who.controls(&bucket.owner_account_id) || bucket.acl() == CannedAcl::PublicReadWrite {
        Ok(bucket)
    } else {
        Err(denied_bucket(name))
    }
}

fn denied_bucket(name: &str) -> StorageError {
    StorageError::AccessDenied(format!("you may not access the bucket '{name}'"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
pub(crate) mod test_support {
    use super::*;

    /// An object store over a fresh SQLite database and blob directory, with two accounts.
    pub async fn fresh() -> (tempfile::TempDir, Arc<ObjectStore>, Requester, Requester) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cirrus.db?mode=rwc", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let root = crate::model::identity::ensure_root_domain(&mut conn)
            .await
            .unwrap();
        let mut who = Vec::new();
        for name in ["alice", "bob"] {
            let account = crate::model::identity::create_account(
                &mut conn,
                &root.id,
                name,
                crate::model::identity::Role::User,
            )
            .await
            .unwrap();
            who.push(Requester::Account {
                id: account.id,
                root_admin: false,
            });
        }
        drop(conn);
        let objects = ObjectStore::open_local(store, &dir.path().join("blobs"))
            .await
            .unwrap();
        let bob = who.pop().unwrap();
        let alice = who.pop().unwrap();
        (dir, Arc::new(objects), alice, bob)
    }

    /// A private object with this ETag and nothing else said about it.
    pub fn plain_object(etag: &str) -> NewObject {
        NewObject {
            etag: etag.into(),
            meta: ObjectMeta::default(),
            checksum: None,
            acl: CannedAcl::Private,
        }
    }

    /// A fresh object store (see [`fresh`]) with a private bucket of alice's.
    pub async fn with_bucket(
        bucket: &str,
    ) -> (tempfile::TempDir, Arc<ObjectStore>, Requester, Requester) {
        let (dir, objects, alice, bob) = fresh().await;
        objects
            .create_bucket(&alice, bucket, "r", CannedAcl::Private)
            .await
            .unwrap();
        (dir, objects, alice, bob)
    }

    /// The files under a directory, recursively, leaving out the blob store's temporary ones.
    pub fn count_files(dir: &std::path::Path) -> usize {
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                n += count_files(&entry.path());
            } else {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on setup errors
mod tests {
    use super::test_support::fresh;
    use super::*;

    /// A body that records whether it was read.
    struct Watched {
        len: u64,
        read: Arc<std::sync::atomic::AtomicBool>,
    }

    impl hyper::body::Body for Watched {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
            let first = !self.read.swap(true, std::sync::atomic::Ordering::AcqRel);
            let len = usize::try_from(self.len).unwrap();
            let frame = first.then(|| Ok(hyper::body::Frame::data(Bytes::from(vec![1u8; len]))));
            std::task::Poll::Ready(frame)
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            hyper::body::SizeHint::with_exact(self.len)
        }
    }

    #[tokio::test]
    async fn a_refused_upload_is_read_only_if_it_is_small() {
        let (_dir, objects, _alice, bob) = super::test_support::with_bucket("mine").await;
        for (len, read_first) in [(100_000u64, false), (4_096, true)] {
            let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let body = Box::pin(Watched {
                len,
                read: read.clone(),
            });
            let staged = objects.write_blob_for(&bob, "mine", body, u64::MAX).await;
            assert_eq!(read.load(std::sync::atomic::Ordering::Acquire), read_first);
            let refused = match staged {
                Err(e) => e,
                Ok(staged) => {
                    let new = super::test_support::plain_object("e");
                    objects
                        .put_object(&bob, "mine", "k", staged, new, Precondition::Always)
                        .await
                        .unwrap_err()
                }
            };
            assert!(
                matches!(refused, StorageError::AccessDenied(_)),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn bucket_names_are_unique_across_accounts() {
        let (_dir, objects, alice, bob) = fresh().await;
        let region = "us-east-1";
        objects
            .create_bucket(&alice, "photos", region, CannedAcl::Private)
            .await
            .unwrap();
        assert!(matches!(
            objects
                .create_bucket(&alice, "photos", region, CannedAcl::Private)
                .await,
            Err(StorageError::BucketOwnedByYou(_))
        ));
        assert!(matches!(
            objects
                .create_bucket(&bob, "photos", region, CannedAcl::Private)
                .await,
            Err(StorageError::BucketTaken(_))
        ));
        assert!(matches!(
            objects.readable_bucket(&bob, "photos").await,
            Err(StorageError::AccessDenied(_))
        ));
        assert!(matches!(
            objects
                .readable_bucket(&Requester::Anonymous, "photos")
                .await,
            Err(StorageError::AccessDenied(_))
        ));
        assert_eq!(objects.list_buckets(&alice).await.unwrap().len(), 1);
        assert!(objects.list_buckets(&bob).await.unwrap().is_empty());
        objects.delete_bucket(&alice, "photos").await.unwrap();
        assert!(matches!(
            objects.owned_bucket(&alice, "photos").await,
            Err(StorageError::NoSuchBucket(_))
        ));
    }
}
