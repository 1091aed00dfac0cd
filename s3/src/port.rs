//! The port: what the S3 door needs from the core, in the door's own terms (buckets, objects,
//! metadata, uploads, byte streams). The root crate implements it over its object store; this
//! crate never sees how. Request bodies arrive as [`Body`] streams already checked by the door
//! for framing and signatures; the port stores them as they come and never holds one whole.

use std::ops::Range;

use crate::Body;

/// A boxed error, as request bodies yield them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An account that signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account's id: the owner id of its buckets and objects.
    pub account_id: String,
    /// The account's name, shown as the owner's display name.
    pub display_name: String,
    pub root_admin: bool,
}

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    Account(Caller),
}

/// A canned ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acl {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
}

/// How much a request needs of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketNeed {
    /// Listing and reading: the owner, or anyone a canned ACL lets read.
    Read,
    /// Writing objects: the owner, or anyone if the bucket is public-read-write.
    Write,
    /// The bucket's own settings: the owner (or a root admin) only.
    Control,
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub owner_account_id: String,
    pub region: String,
    pub acl: Acl,
    pub created_ms: i64,
}

/// Representation headers and user metadata of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires_ms: Option<i64>,
    /// `x-amz-meta-*`, names lowercased.
    pub user: Vec<(String, String)>,
    /// The object's tag set, in the order given.
    pub tags: Vec<(String, String)>,
}

/// A checksum algorithm S3 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CRC32" => Some(Self::Crc32),
            "CRC32C" => Some(Self::Crc32c),
            "CRC64NVME" => Some(Self::Crc64Nvme),
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The length of a digest, in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
}

/// A checksum kept with an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    /// Base64, with `-N` for a checksum of N parts' checksums.
    pub value: String,
    /// Over the whole object (FULL_OBJECT) rather than over the parts' checksums (COMPOSITE).
    pub full_object: bool,
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    pub modified_ms: i64,
    pub meta: ObjectMeta,
    pub checksum: Option<Checksum>,
    pub parts_count: Option<u32>,
    pub owner_account_id: String,
    pub acl: Acl,
}

/// What the door decided about an object before it becomes visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    pub etag: String,
    pub meta: ObjectMeta,
    pub checksum: Option<Checksum>,
    pub acl: Acl,
}

/// When a write may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    Always,
    /// `If-None-Match: *`: only if the key is free.
    IfAbsent,
    /// `If-Match`: only if the current object has this ETag (without quotes).
    IfMatch(String),
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Start after this key or common prefix (exclusive).
    pub after: Option<String>,
    /// Objects and common prefixes together, 0 to 1000.
    pub limit: usize,
}

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_full_object: bool,
    pub owner_account_id: String,
}

/// An entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Object(ListedObject),
    CommonPrefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
}

/// What is fixed about an object when its multipart upload starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub meta: ObjectMeta,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_full_object: bool,
    pub acl: Acl,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub upload_id: String,
    pub key: String,
    pub initiated_ms: i64,
    pub meta: ObjectMeta,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_full_object: bool,
    pub acl: Acl,
    pub owner_account_id: String,
}

/// A part uploaded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    /// Base64, in the upload's checksum algorithm.
    pub checksum: Option<String>,
    pub modified_ms: i64,
}

/// A page of uploads in progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadPage {
    pub uploads: Vec<UploadInfo>,
    pub truncated: bool,
}

/// Why the port could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("the bucket '{0}' does not exist")]
    NoSuchBucket(String),
    #[error("the bucket name '{0}' is taken by another account")]
    BucketAlreadyExists(String),
    /// The name is reserved for the cloud's own buckets (templates, snapshots).
    #[error("the bucket name '{0}' is reserved")]
    ReservedBucketName(String),
    #[error("you already own the bucket '{0}'")]
    BucketAlreadyOwnedByYou(String),
    #[error("the bucket '{0}' is not empty")]
    BucketNotEmpty(String),
    #[error("the key '{0}' does not exist")]
    NoSuchKey(String),
    #[error("the upload '{0}' does not exist or has ended")]
    NoSuchUpload(String),
    #[error("part {0} was not uploaded, or was uploaded with another ETag")]
    InvalidPart(u32),
    #[error("{0}")]
    AccessDenied(String),
    #[error("the object's current state does not meet the request's precondition")]
    PreconditionFailed,
    /// The object was replaced while being read; reading it again will do.
    #[error("the object changed while it was being read")]
    Changed,
    /// The request body could not be read to its end (the source says why).
    #[error("the request body could not be read to its end")]
    Body(#[source] BoxError),
    #[error("the body is longer than {0} bytes")]
    TooLarge(u64),
    /// Our fault; the text is logged, never shown.
    #[error("{0}")]
    Internal(String),
}

pub type PortResult<T> = Result<T, PortError>;

/// What the S3 door needs from the core.
#[async_trait::async_trait]
pub trait S3Port: Send + Sync + 'static {
    /// A body written to storage but not yet visible; dropped unused, it is deleted.
    type Staged: Send + Sync + 'static;
    /// Where an object's bytes are, to read them by range.
    type Reader: Send + Sync + 'static;

    /// The secret key of an access key and who it belongs to, or `None` if the key is unknown
    /// or revoked.
    async fn identify(&self, access_key: &str) -> PortResult<Option<(String, Caller)>>;

    /// The region buckets are created in.
    fn region(&self) -> &str;

    /// A secret of this cloud for sealing continuation tokens.
    fn cursor_key(&self) -> &[u8];

    async fn list_buckets(&self, who: &Identity) -> PortResult<Vec<BucketInfo>>;
    async fn create_bucket(&self, who: &Identity, name: &str, acl: Acl) -> PortResult<BucketInfo>;
    async fn bucket(&self, who: &Identity, name: &str, need: BucketNeed) -> PortResult<BucketInfo>;
    async fn delete_bucket(&self, who: &Identity, name: &str) -> PortResult<()>;
    /// A bucket's tag set (`None` if it has none), for its owner.
    async fn bucket_tags(
        &self,
        who: &Identity,
        bucket: &str,
    ) -> PortResult<Option<Vec<(String, String)>>>;
    /// Replaces a bucket's tag set, or removes it with `None`.
    async fn set_bucket_tags(
        &self,
        who: &Identity,
        bucket: &str,
        tags: Option<Vec<(String, String)>>,
    ) -> PortResult<()>;
    /// Replaces a bucket's canned ACL.
    async fn set_bucket_acl(&self, who: &Identity, bucket: &str, acl: Acl) -> PortResult<()>;
    /// Replaces an object's tag set (empty removes them), for the bucket's or object's owner.
    async fn set_object_tags(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> PortResult<()>;
    /// Replaces an object's canned ACL, for the bucket's or object's owner.
    async fn set_object_acl(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        acl: Acl,
    ) -> PortResult<()>;

    /// Writes a body of at most `max_size` bytes into storage for `bucket` (checking first
    /// that the requester may write there).
    async fn stage(
        &self,
        who: &Identity,
        bucket: &str,
        body: Body,
        max_size: u64,
    ) -> PortResult<Self::Staged>;
    fn staged_size(staged: &Self::Staged) -> u64;

    async fn put_object(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        staged: Self::Staged,
        new: NewObject,
        condition: WriteCondition,
    ) -> PortResult<ObjectInfo>;
    async fn head_object(&self, who: &Identity, bucket: &str, key: &str) -> PortResult<ObjectInfo>;
    async fn open_object(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
    ) -> PortResult<(ObjectInfo, Self::Reader)>;
    async fn read_object(&self, reader: &Self::Reader, range: Range<u64>) -> PortResult<Body>;
    async fn delete_objects(
        &self,
        who: &Identity,
        bucket: &str,
        keys: &[String],
    ) -> PortResult<Vec<bool>>;
    async fn list_objects(
        &self,
        who: &Identity,
        bucket: &str,
        query: &ListQuery,
    ) -> PortResult<ListPage>;

    async fn create_upload(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        new: NewUpload,
    ) -> PortResult<UploadInfo>;
    async fn upload(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> PortResult<UploadInfo>;
    #[allow(clippy::too_many_arguments)] // a part's identity and its facts
    async fn put_part(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        staged: Self::Staged,
        etag: &str,
        checksum: Option<String>,
    ) -> PortResult<PartInfo>;
    #[allow(clippy::too_many_arguments)] // the upload and the page
    async fn list_parts(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> PortResult<(UploadInfo, Vec<PartInfo>, bool)>;
    #[allow(clippy::too_many_arguments)] // the upload, the choice and the outcome
    async fn complete_upload(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[(u32, String)],
        new: NewObject,
        condition: WriteCondition,
    ) -> PortResult<ObjectInfo>;
    async fn abort_upload(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> PortResult<()>;
    async fn list_uploads(
        &self,
        who: &Identity,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<&str>)>,
        limit: usize,
    ) -> PortResult<UploadPage>;
}
