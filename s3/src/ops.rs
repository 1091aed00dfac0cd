//! The S3 operations we serve, one s3s trait method each: typed input from s3s, S3's rules
//! (names, conditions, ranges, checksums, listing, multipart), then the port. Every operation
//! not written here keeps s3s's default, a 501 `NotImplemented`.

use std::sync::Arc;

use s3s::dto::*;
use s3s::stream::DynByteStream;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use crate::digest::{self, ChecksumHeaders, Claims, HashingStream, Seal, Sealed};
use crate::port::{
    Acl, BucketNeed, Caller, Checksum, ChecksumAlgorithm as Algo, Identity, ListEntry, ListQuery,
    NewObject, NewUpload, ObjectInfo, ObjectMeta, PortError, S3Port, WriteCondition,
};
use crate::settings::{self, MAX_BUCKET_TAGS, MAX_OBJECT_TAGS};
use crate::wire::{self, judge, s3_error, timestamp, Conditions, Encoder, Verdict};
use crate::Body;

/// The largest body of one PutObject or UploadPart.
pub const MAX_PUT_SIZE: u64 = 5 << 30;
/// The smallest part of a multipart upload, except the last.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// The most parts an upload can have.
const MAX_PARTS: i32 = 10_000;
/// The most buckets one ListBuckets page holds (S3's limit for max-buckets).
const MAX_BUCKETS_PAGE: usize = 10_000;
/// Times a read is retried when the object is replaced under it.
const READ_ATTEMPTS: usize = 3;

/// The S3 operations over a port.
pub struct Operations<P> {
    pub port: Arc<P>,
}

fn who<T>(req: &S3Request<T>) -> Identity {
    req.extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity::Anonymous)
}

fn ok<T>(output: T) -> S3Result<S3Response<T>> {
    Ok(S3Response::new(output))
}

fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

fn owner(account_id: &str, display_name: Option<&str>) -> Owner {
    Owner {
        id: Some(account_id.to_owned()),
        display_name: display_name.map(str::to_owned),
    }
}

fn bucket_acl(acl: Option<&BucketCannedACL>) -> S3Result<Acl> {
    parse_acl(acl.map(BucketCannedACL::as_str))
}

fn object_acl(acl: Option<&ObjectCannedACL>) -> S3Result<Acl> {
    match acl.map(ObjectCannedACL::as_str) {
        // The bucket owner owns what is written to its buckets here, so these say nothing more.
        Some("bucket-owner-full-control" | "bucket-owner-read") => Ok(Acl::Private),
        other => parse_acl(other),
    }
}

fn parse_acl(acl: Option<&str>) -> S3Result<Acl> {
    match acl {
        None | Some("private") => Ok(Acl::Private),
        Some("public-read") => Ok(Acl::PublicRead),
        Some("public-read-write") => Ok(Acl::PublicReadWrite),
        Some("authenticated-read") => Ok(Acl::AuthenticatedRead),
        Some(other) => Err(s3_error!(
            NotImplemented,
            "The canned ACL '{other}' is not supported here."
        )),
    }
}

/// Grant headers name principals this cloud does not have yet.
fn no_grants(grants: &[Option<&String>]) -> S3Result<()> {
    if grants.iter().any(Option::is_some) {
        return Err(s3_error!(
            NotImplemented,
            "Grant headers (x-amz-grant-*) are not supported; use a canned ACL."
        ));
    }
    Ok(())
}

fn algorithm(a: &ChecksumAlgorithm) -> S3Result<Algo> {
    Algo::parse(a.as_str()).ok_or_else(|| {
        s3_error!(
            InvalidRequest,
            "'{}' is not a checksum algorithm S3 knows.",
            a.as_str()
        )
    })
}

fn meta_from(
    content_type: Option<ContentType>,
    content_encoding: Option<ContentEncoding>,
    content_disposition: Option<ContentDisposition>,
    content_language: Option<ContentLanguage>,
    cache_control: Option<CacheControl>,
    expires: Option<Expires>,
    metadata: Option<Metadata>,
) -> ObjectMeta {
    let mut user: Vec<(String, String)> = metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    user.sort();
    ObjectMeta {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires_ms: expires.as_ref().map(wire::millis),
        user,
        tags: Vec::new(),
    }
}

fn user_metadata(meta: &ObjectMeta) -> Option<Metadata> {
    if meta.user.is_empty() {
        None
    } else {
        Some(meta.user.iter().cloned().collect())
    }
}

fn checksum_type(full_object: bool) -> ChecksumType {
    ChecksumType::from_static(if full_object {
        ChecksumType::FULL_OBJECT
    } else {
        ChecksumType::COMPOSITE
    })
}

/// Fills the `checksum_*` fields of an output that has them.
macro_rules! set_checksum {
    ($out:expr, $checksum:expr) => {
        if let Some(c) = $checksum {
            let value = Some(c.value.clone());
            match c.algorithm {
                Algo::Crc32 => $out.checksum_crc32 = value,
                Algo::Crc32c => $out.checksum_crc32c = value,
                Algo::Crc64Nvme => $out.checksum_crc64nvme = value,
                Algo::Sha1 => $out.checksum_sha1 = value,
                Algo::Sha256 => $out.checksum_sha256 = value,
            }
            $out.checksum_type = Some(checksum_type(c.full_object));
        }
    };
}

/// The value of a trailer header, once the body has been read.
fn trailer_value(trailers: Option<&s3s::TrailingHeaders>, claims: &Claims) -> Option<String> {
    let algorithm = claims.trailer?;
    let name = format!("x-amz-checksum-{}", algorithm.as_str().to_ascii_lowercase());
    trailers?.read(|h| {
        h.get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })?
}

/// Wraps a body so that it is hashed on its way to storage.
fn hashing(body: Option<StreamingBlob>, algorithm: Option<Algo>) -> (Body, Seal) {
    let blob = body.unwrap_or_else(|| StreamingBlob::from(Body::empty()));
    let (stream, seal) = HashingStream::new(blob, algorithm);
    let stream: DynByteStream = Box::pin(stream);
    (Body::from(stream), seal)
}

async fn sealed(seal: &Seal) -> S3Result<Sealed> {
    seal.finish().await.ok_or_else(|| {
        tracing::error!("a body was stored without being read to its end");
        s3_error!(
            InternalError,
            "We encountered an internal error. Please try again."
        )
    })
}

fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::Always),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfAbsent),
        (Some(ETagCondition::ETag(e)), None) => Ok(WriteCondition::IfMatch(e.value().to_owned())),
        (Some(ETagCondition::Any), None) => Err(s3_error!(
            NotImplemented,
            "If-Match: * is not supported on writes; give the ETag to match."
        )),
        (None, Some(_)) => Err(s3_error!(
            NotImplemented,
            "If-None-Match on writes supports only '*'."
        )),
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "If-Match and If-None-Match cannot be used together on a write."
        )),
    }
}

fn no_sse(sse: Option<&ServerSideEncryption>, customer: Option<&String>) -> S3Result<()> {
    if sse.is_some() || customer.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "Server-side encryption is not supported by this object store."
        ));
    }
    Ok(())
}

impl<P: S3Port> Operations<P> {
    /// Stages a body after checking its claims, then verifies it: the staged body and what
    /// hashing found.
    async fn receive(
        &self,
        who: &Identity,
        bucket: &str,
        body: Option<StreamingBlob>,
        claims: &Claims,
        trailers: Option<&s3s::TrailingHeaders>,
        content_length: Option<i64>,
    ) -> S3Result<(P::Staged, Sealed, Option<Checksum>)> {
        if content_length.is_some_and(|n| u64::try_from(n).unwrap_or(0) > MAX_PUT_SIZE) {
            return Err(s3_error(PortError::TooLarge(MAX_PUT_SIZE)));
        }
        let (body, seal) = hashing(body, claims.algorithm);
        let staged = self
            .port
            .stage(who, bucket, body, MAX_PUT_SIZE)
            .await
            .map_err(s3_error)?;
        let sealed = sealed(&seal).await?;
        let trailer = trailer_value(trailers, claims);
        let checksum = digest::verify(claims, &sealed, trailer.as_deref())?;
        Ok((staged, sealed, checksum))
    }

    /// Opens an object and judges the read's conditions; retried by the caller on `Changed`.
    async fn open_checked(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        conditions: &Conditions<'_>,
        on_not_modified: Verdict,
    ) -> S3Result<(ObjectInfo, P::Reader)> {
        let (info, reader) = self
            .port
            .open_object(who, bucket, key)
            .await
            .map_err(s3_error)?;
        match judge(conditions, &info.etag, info.modified_ms) {
            Verdict::Proceed => Ok((info, reader)),
            Verdict::PreconditionFailed => Err(s3_error(PortError::PreconditionFailed)),
            Verdict::NotModified if on_not_modified == Verdict::PreconditionFailed => {
                Err(s3_error(PortError::PreconditionFailed))
            }
            Verdict::NotModified => Err(not_modified(&info)),
        }
    }

    /// Every part of an upload, in order.
    async fn all_parts(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<(crate::port::UploadInfo, Vec<crate::port::PartInfo>)> {
        let mut after = 0;
        let mut all = Vec::new();
        loop {
            let (upload, parts, truncated) = self
                .port
                .list_parts(who, bucket, key, upload_id, after, 1000)
                .await
                .map_err(s3_error)?;
            after = parts.last().map_or(after, |p| p.number);
            all.extend(parts);
            if !truncated {
                return Ok((upload, all));
            }
        }
    }

    /// An object whose ACL the requester may read and change: the object's owner or the
    /// bucket's.
    async fn controlled_object(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
    ) -> S3Result<ObjectInfo> {
        let info = self
            .port
            .head_object(who, bucket, key)
            .await
            .map_err(s3_error)?;
        let owns_object = matches!(who, Identity::Account(Caller { account_id, .. })
            if *account_id == info.owner_account_id);
        if !owns_object {
            self.owned(who, bucket).await?;
        }
        Ok(info)
    }

    async fn owned(&self, who: &Identity, bucket: &str) -> S3Result<crate::port::BucketInfo> {
        self.port
            .bucket(who, bucket, BucketNeed::Control)
            .await
            .map_err(s3_error)
    }
}

/// `x-amz-tagging-count`: sent only when an object has tags.
fn tag_count(meta: &ObjectMeta) -> Option<i32> {
    (!meta.tags.is_empty()).then(|| i32::try_from(meta.tags.len()).unwrap_or(i32::MAX))
}

fn acl_both() -> S3Error {
    s3_error!(
        InvalidRequest,
        "Give either a canned ACL (x-amz-acl) or an AccessControlPolicy body, not both."
    )
}

fn acl_missing() -> S3Error {
    s3_error!(
        MissingSecurityHeader,
        "Give a canned ACL in x-amz-acl (or an AccessControlPolicy body restating one)."
    )
}

fn not_modified(info: &ObjectInfo) -> S3Error {
    let mut err = S3Error::new(s3s::S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", info.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    err.set_headers(headers);
    err
}

/// The byte range a GET asks for, checked against the object's size.
fn byte_range(range: Option<&Range>, size: u64) -> S3Result<Option<std::ops::Range<u64>>> {
    match range {
        None => Ok(None),
        Some(r) => r
            .check(size)
            .map(Some)
            .map_err(|_| wire::invalid_range(size)),
    }
}

#[async_trait::async_trait]
impl<P: S3Port> s3s::S3 for Operations<P> {
    // ---------------------------------------------------------------- buckets

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = who(&req);
        let Identity::Account(caller) = &who else {
            return Err(s3_error!(
                AccessDenied,
                "Listing buckets needs a signed request."
            ));
        };
        let input = req.input;
        let limit = match input.max_buckets {
            None => MAX_BUCKETS_PAGE,
            Some(n) if (1..=MAX_BUCKETS_PAGE as i32).contains(&n) => n as usize,
            Some(n) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets must be between 1 and {MAX_BUCKETS_PAGE}, not {n}."
                ))
            }
        };
        // Tokens are sealed for the account, so one account's token means nothing to another.
        let scope = format!("/buckets/{}", caller.account_id);
        let secret = self.port.cursor_key();
        let after = input
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| wire::open_token(secret, &scope, t))
            .transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        // LIMITATION: the account's buckets are read whole and paged here; an account has a
        // handful of buckets (S3's default quota is 10,000), not millions.
        let mut buckets: Vec<_> = self
            .port
            .list_buckets(&who)
            .await
            .map_err(s3_error)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        let more = buckets.len() > limit;
        buckets.truncate(limit);
        let next = more
            .then(|| {
                buckets
                    .last()
                    .map(|b| wire::seal_token(secret, &scope, &b.name))
            })
            .flatten();
        let buckets = buckets
            .into_iter()
            .map(|b| Bucket {
                bucket_region: Some(b.region),
                creation_date: Some(timestamp(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner(&caller.account_id, Some(&caller.display_name))),
            prefix: input.prefix,
            continuation_token: next,
        })
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = who(&req);
        let input = req.input;
        no_grants(&[
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write.as_ref(),
            input.grant_write_acp.as_ref(),
        ])?;
        if input.object_lock_enabled_for_bucket == Some(true) {
            return Err(s3_error!(NotImplemented, "Object lock is not supported."));
        }
        let acl = bucket_acl(input.acl.as_ref())?;
        let region = self.port.region();
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(BucketLocationConstraint::as_str);
        match constraint {
            None | Some("") => {}
            Some(c) if c == region => {}
            Some(c) => {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The location constraint '{c}' is incompatible with this endpoint's region \
                     '{region}'."
                ))
            }
        }
        self.port
            .create_bucket(&who, &input.bucket, acl)
            .await
            .map_err(s3_error)?;
        ok(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        })
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let who = who(&req);
        let bucket = self
            .port
            .bucket(&who, &req.input.bucket, BucketNeed::Read)
            .await
            .map_err(s3_error)?;
        ok(HeadBucketOutput {
            bucket_region: Some(bucket.region),
            ..HeadBucketOutput::default()
        })
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = self.owned(&who(&req), &req.input.bucket).await?;
        // S3 answers an empty constraint for us-east-1.
        let constraint =
            (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region));
        ok(GetBucketLocationOutput {
            location_constraint: constraint,
        })
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.port
            .delete_bucket(&who(&req), &req.input.bucket)
            .await
            .map_err(s3_error)?;
        ok(DeleteBucketOutput::default())
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        ok(GetBucketVersioningOutput::default())
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let bucket = self.owned(&who(&req), &req.input.bucket).await?;
        let grants = settings::grants(&bucket.owner_account_id, bucket.acl);
        ok(GetBucketAclOutput {
            grants: Some(grants),
            owner: Some(owner(&bucket.owner_account_id, None)),
        })
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            NoSuchBucketPolicy,
            "The bucket policy does not exist."
        ))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist."
        ))
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            NoSuchWebsiteConfiguration,
            "The specified bucket does not have a website configuration."
        ))
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist."
        ))
    }

    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            ReplicationConfigurationNotFoundError,
            "The replication configuration was not found."
        ))
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            ServerSideEncryptionConfigurationNotFoundError,
            "The server side encryption configuration was not found."
        ))
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        Err(s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket."
        ))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let tags = self
            .port
            .bucket_tags(&who(&req), &req.input.bucket)
            .await
            .map_err(s3_error)?;
        match tags {
            Some(tags) => ok(GetBucketTaggingOutput {
                tag_set: settings::to_set(&tags),
            }),
            None => Err(s3_error!(NoSuchTagSet, "The TagSet does not exist.")),
        }
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let who = who(&req);
        let input = req.input;
        let tags = settings::from_set(input.tagging.tag_set, MAX_BUCKET_TAGS)?;
        self.port
            .set_bucket_tags(&who, &input.bucket, Some(tags))
            .await
            .map_err(s3_error)?;
        ok(PutBucketTaggingOutput::default())
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.port
            .set_bucket_tags(&who(&req), &req.input.bucket, None)
            .await
            .map_err(s3_error)?;
        ok(DeleteBucketTaggingOutput::default())
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let who = who(&req);
        let input = req.input;
        no_grants(&[
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write.as_ref(),
            input.grant_write_acp.as_ref(),
        ])?;
        let acl = match (&input.acl, &input.access_control_policy) {
            (Some(canned), None) => bucket_acl(Some(canned))?,
            (None, Some(policy)) => {
                let bucket = self.owned(&who, &input.bucket).await?;
                settings::from_policy(policy, &bucket.owner_account_id)?
            }
            (Some(_), Some(_)) => return Err(acl_both()),
            (None, None) => return Err(acl_missing()),
        };
        self.port
            .set_bucket_acl(&who, &input.bucket, acl)
            .await
            .map_err(s3_error)?;
        ok(PutBucketAclOutput::default())
    }

    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        ok(GetBucketAccelerateConfigurationOutput::default())
    }

    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        ok(GetBucketRequestPaymentOutput {
            payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
        })
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        self.owned(&who(&req), &req.input.bucket).await?;
        ok(GetBucketLoggingOutput::default())
    }

    // ---------------------------------------------------------------- objects

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = &req.input;
        check_version(input.version_id.as_deref())?;
        let info = self
            .port
            .head_object(&who(&req), &input.bucket, &input.key)
            .await
            .map_err(s3_error)?;
        ok(GetObjectTaggingOutput {
            tag_set: settings::to_set(&info.meta.tags),
            version_id: None,
        })
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let who = who(&req);
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        let tags = settings::from_set(input.tagging.tag_set, MAX_OBJECT_TAGS)?;
        self.port
            .set_object_tags(&who, &input.bucket, &input.key, tags)
            .await
            .map_err(s3_error)?;
        ok(PutObjectTaggingOutput::default())
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let who = who(&req);
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        self.port
            .set_object_tags(&who, &input.bucket, &input.key, Vec::new())
            .await
            .map_err(s3_error)?;
        let mut resp = S3Response::new(DeleteObjectTaggingOutput::default());
        resp.status = Some(http::StatusCode::NO_CONTENT);
        Ok(resp)
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let who = who(&req);
        let input = &req.input;
        check_version(input.version_id.as_deref())?;
        let info = self
            .controlled_object(&who, &input.bucket, &input.key)
            .await?;
        ok(GetObjectAclOutput {
            grants: Some(settings::grants(&info.owner_account_id, info.acl)),
            owner: Some(owner(&info.owner_account_id, None)),
            request_charged: None,
        })
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let who = who(&req);
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        no_grants(&[
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write.as_ref(),
            input.grant_write_acp.as_ref(),
        ])?;
        let acl = match (&input.acl, &input.access_control_policy) {
            (Some(canned), None) => object_acl(Some(canned))?,
            (None, Some(policy)) => {
                let info = self
                    .controlled_object(&who, &input.bucket, &input.key)
                    .await?;
                settings::from_policy(policy, &info.owner_account_id)?
            }
            (Some(_), Some(_)) => return Err(acl_both()),
            (None, None) => return Err(acl_missing()),
        };
        self.port
            .set_object_acl(&who, &input.bucket, &input.key, acl)
            .await
            .map_err(s3_error)?;
        ok(PutObjectAclOutput::default())
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let who = who(&req);
        let trailers = req.trailing_headers.clone();
        let trailer_header = header(&req.headers, "x-amz-trailer");
        let sdk_algorithm = header(&req.headers, "x-amz-sdk-checksum-algorithm");
        let input = req.input;
        if input.write_offset_bytes.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "Appending to objects is not supported."
            ));
        }
        no_sse(
            input.server_side_encryption.as_ref(),
            input.sse_customer_key.as_ref(),
        )?;
        no_grants(&[
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write_acp.as_ref(),
        ])?;
        let acl = object_acl(input.acl.as_ref())?;
        let tags = settings::from_header(input.tagging.as_deref())?;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let declared = input
            .checksum_algorithm
            .as_ref()
            .map(|a| a.as_str().to_owned());
        let claims = Claims::parse(ChecksumHeaders {
            content_md5: input.content_md5.as_deref(),
            crc32: input.checksum_crc32.as_deref(),
            crc32c: input.checksum_crc32c.as_deref(),
            crc64nvme: input.checksum_crc64nvme.as_deref(),
            sha1: input.checksum_sha1.as_deref(),
            sha256: input.checksum_sha256.as_deref(),
            algorithm: declared.as_deref().or(sdk_algorithm.as_deref()),
            trailer: trailer_header.as_deref(),
        })?;
        let mut meta = meta_from(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.metadata,
        );
        meta.tags = tags;
        let (staged, sealed, checksum) = self
            .receive(
                &who,
                &input.bucket,
                input.body,
                &claims,
                trailers.as_ref(),
                input.content_length,
            )
            .await?;
        let new = NewObject {
            etag: sealed.etag(),
            meta,
            checksum: checksum.clone(),
            acl,
        };
        let info = self
            .port
            .put_object(&who, &input.bucket, &input.key, staged, new, condition)
            .await
            .map_err(s3_error)?;
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&info.etag)),
            size: i64::try_from(info.size).ok(),
            ..PutObjectOutput::default()
        };
        set_checksum!(out, checksum.as_ref());
        ok(out)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let who = who(&req);
        let input = &req.input;
        no_sse(None, input.sse_customer_key.as_ref())?;
        check_version(input.version_id.as_deref())?;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let mut attempt = 0;
        let (info, range, body) = loop {
            attempt += 1;
            let (info, reader) = self
                .open_checked(
                    &who,
                    &input.bucket,
                    &input.key,
                    &conditions,
                    Verdict::NotModified,
                )
                .await?;
            if let Some(n) = input.part_number {
                if info.parts_count.is_some() {
                    return Err(s3_error!(
                        NotImplemented,
                        "Reading one part of a multipart object is not supported yet."
                    ));
                }
                if n != 1 || input.range.is_some() {
                    let mut err = S3Error::with_message(
                        s3s::S3ErrorCode::Custom("InvalidPartNumber".into()),
                        "The requested partnumber is not satisfiable.",
                    );
                    err.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
                    return Err(err);
                }
            }
            let range = byte_range(input.range.as_ref(), info.size)?;
            let span = range.clone().unwrap_or(0..info.size);
            match self.port.read_object(&reader, span).await {
                Ok(body) => break (info, range, body),
                Err(PortError::Changed) if attempt < READ_ATTEMPTS => continue,
                Err(e) => return Err(s3_error(e)),
            }
        };

        let (length, content_range) = match &range {
            Some(r) => (
                r.end - r.start,
                Some(format!("bytes {}-{}/{}", r.start, r.end - 1, info.size)),
            ),
            None => (info.size, None),
        };
        let checksum_wanted = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"));
        let meta = &info.meta;
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::from(body)),
            accept_ranges: Some("bytes".to_owned()),
            content_length: i64::try_from(length).ok(),
            content_range,
            content_type: Some(
                meta.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: meta.content_encoding.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_language: meta.content_language.clone(),
            cache_control: meta.cache_control.clone(),
            expires: meta.expires_ms.map(timestamp),
            e_tag: Some(etag(&info.etag)),
            last_modified: Some(timestamp(info.modified_ms)),
            metadata: user_metadata(meta),
            parts_count: info.parts_count.and_then(|n| i32::try_from(n).ok()),
            tag_count: tag_count(meta),
            ..GetObjectOutput::default()
        };
        // A checksum covers the whole object: never send one with a part of it.
        if checksum_wanted && range.is_none() {
            set_checksum!(out, info.checksum.as_ref());
        }
        ok(out)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let who = who(&req);
        let input = &req.input;
        check_version(input.version_id.as_deref())?;
        let info = self
            .port
            .head_object(&who, &input.bucket, &input.key)
            .await
            .map_err(s3_error)?;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        match judge(&conditions, &info.etag, info.modified_ms) {
            Verdict::Proceed => {}
            Verdict::NotModified => return Err(not_modified(&info)),
            Verdict::PreconditionFailed => return Err(s3_error(PortError::PreconditionFailed)),
        }
        let checksum_wanted = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"));
        let meta = &info.meta;
        let mut out = HeadObjectOutput {
            accept_ranges: Some("bytes".to_owned()),
            content_length: i64::try_from(info.size).ok(),
            content_type: Some(
                meta.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: meta.content_encoding.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_language: meta.content_language.clone(),
            cache_control: meta.cache_control.clone(),
            expires: meta.expires_ms.map(timestamp),
            e_tag: Some(etag(&info.etag)),
            last_modified: Some(timestamp(info.modified_ms)),
            metadata: user_metadata(meta),
            parts_count: info.parts_count.and_then(|n| i32::try_from(n).ok()),
            ..HeadObjectOutput::default()
        };
        if checksum_wanted && input.range.is_none() {
            set_checksum!(out, info.checksum.as_ref());
        }
        // s3s's HeadObject output has no field for it, so the header is set here.
        let mut resp = S3Response::new(out);
        if let Some(n) = tag_count(meta) {
            resp.headers
                .insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        Ok(resp)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let who = who(&req);
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        if input.if_match.is_some() || input.if_match_size.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "Conditional deletes are not supported."
            ));
        }
        self.port
            .delete_objects(&who, &input.bucket, &[input.key])
            .await
            .map_err(s3_error)?;
        ok(DeleteObjectOutput::default())
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let who = who(&req);
        let input = req.input;
        let objects = input.delete.objects;
        if objects.is_empty() || objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "A Delete request names 1 to 1000 objects, not {}.",
                objects.len()
            ));
        }
        let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
        self.port
            .delete_objects(&who, &input.bucket, &keys)
            .await
            .map_err(s3_error)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let deleted = if quiet {
            Vec::new()
        } else {
            objects
                .into_iter()
                .map(|o| DeletedObject {
                    key: Some(o.key),
                    version_id: o.version_id,
                    ..DeletedObject::default()
                })
                .collect()
        };
        ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: None,
            request_charged: None,
        })
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let who = who(&req);
        let input = req.input;
        no_sse(
            input.server_side_encryption.as_ref(),
            input.sse_customer_key.as_ref(),
        )?;
        no_grants(&[
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write_acp.as_ref(),
        ])?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Copying from access points is not supported."
            ));
        };
        check_version(version_id.as_deref())?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if **src_bucket == *input.bucket && **src_key == *input.key && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
            ));
        }
        let acl = object_acl(input.acl.as_ref())?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (info, reader) = self
            .open_checked(
                &who,
                src_bucket,
                src_key,
                &conditions,
                Verdict::PreconditionFailed,
            )
            .await?;
        let algorithm = match &input.checksum_algorithm {
            Some(a) => Some(algorithm(a)?),
            None => info
                .checksum
                .as_ref()
                .filter(|c| c.full_object)
                .map(|c| c.algorithm),
        };
        let mut meta = if replace {
            meta_from(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires,
                input.metadata,
            )
        } else {
            info.meta.clone()
        };
        meta.tags = match input
            .tagging_directive
            .as_ref()
            .map(TaggingDirective::as_str)
        {
            None | Some(TaggingDirective::COPY) => info.meta.tags.clone(),
            Some(TaggingDirective::REPLACE) => settings::from_header(input.tagging.as_deref())?,
            Some(other) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "The tagging directive '{other}' is neither COPY nor REPLACE."
                ))
            }
        };
        let body = self
            .port
            .read_object(&reader, 0..info.size)
            .await
            .map_err(s3_error)?;
        let claims = Claims {
            algorithm,
            ..Claims::default()
        };
        let (staged, sealed, checksum) = self
            .receive(
                &who,
                &input.bucket,
                Some(StreamingBlob::from(body)),
                &claims,
                None,
                None,
            )
            .await?;
        let new = NewObject {
            etag: sealed.etag(),
            meta,
            checksum: checksum.clone(),
            acl,
        };
        let written = self
            .port
            .put_object(
                &who,
                &input.bucket,
                &input.key,
                staged,
                new,
                WriteCondition::Always,
            )
            .await
            .map_err(s3_error)?;
        let mut result = CopyObjectResult {
            e_tag: Some(etag(&written.etag)),
            last_modified: Some(timestamp(written.modified_ms)),
            ..CopyObjectResult::default()
        };
        set_checksum!(result, checksum.as_ref());
        ok(CopyObjectOutput {
            copy_object_result: Some(result),
            ..CopyObjectOutput::default()
        })
    }

    // ---------------------------------------------------------------- listing

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let who = who(&req);
        let input = req.input;
        let enc = encoder(input.encoding_type.as_ref())?;
        let limit = wire::page_size(input.max_keys, "max-keys")?;
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after: input.marker.clone().filter(|m| !m.is_empty()),
            limit,
        };
        let page = self
            .port
            .list_objects(&who, &input.bucket, &query)
            .await
            .map_err(s3_error)?;
        let next_marker = page
            .truncated
            .then(|| page.entries.last().map(|e| entry_name(e).to_owned()))
            .flatten();
        let (contents, prefixes) = split_entries(page.entries, &enc, true);
        ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.apply(input.prefix.unwrap_or_default())),
            marker: Some(enc.apply(input.marker.unwrap_or_default())),
            max_keys: i32::try_from(limit).ok(),
            is_truncated: Some(page.truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: enc.opt(input.delimiter),
            next_marker: enc.opt(next_marker),
            encoding_type: input.encoding_type,
            request_charged: None,
        })
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let who = who(&req);
        let input = req.input;
        let enc = encoder(input.encoding_type.as_ref())?;
        let limit = wire::page_size(input.max_keys, "max-keys")?;
        let secret = self.port.cursor_key();
        let after = match &input.continuation_token {
            Some(token) => Some(wire::open_token(secret, &input.bucket, token)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after,
            limit,
        };
        let page = self
            .port
            .list_objects(&who, &input.bucket, &query)
            .await
            .map_err(s3_error)?;
        let next = page
            .truncated
            .then(|| page.entries.last().map(entry_name))
            .flatten()
            .map(|last| wire::seal_token(secret, &input.bucket, last));
        let key_count = i32::try_from(page.entries.len()).ok();
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        let (contents, prefixes) = split_entries(page.entries, &enc, fetch_owner);
        ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.apply(input.prefix.unwrap_or_default())),
            max_keys: i32::try_from(limit).ok(),
            key_count,
            continuation_token: input.continuation_token,
            is_truncated: Some(page.truncated),
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: enc.opt(input.delimiter),
            encoding_type: input.encoding_type,
            start_after: enc.opt(input.start_after),
            request_charged: None,
        })
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let who = who(&req);
        let input = req.input;
        let enc = encoder(input.encoding_type.as_ref())?;
        let limit = wire::page_size(input.max_keys, "max-keys")?;
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after: input.key_marker.clone().filter(|m| !m.is_empty()),
            limit,
        };
        let page = self
            .port
            .list_objects(&who, &input.bucket, &query)
            .await
            .map_err(s3_error)?;
        let next_key = page
            .truncated
            .then(|| page.entries.last().map(|e| entry_name(e).to_owned()))
            .flatten();
        let mut versions = Vec::new();
        let mut prefixes = Vec::new();
        for entry in page.entries {
            match entry {
                ListEntry::Object(o) => versions.push(ObjectVersion {
                    e_tag: Some(etag(&o.etag)),
                    is_latest: Some(true),
                    key: Some(enc.apply(o.key)),
                    last_modified: Some(timestamp(o.modified_ms)),
                    owner: Some(owner(&o.owner_account_id, None)),
                    size: i64::try_from(o.size).ok(),
                    storage_class: Some(ObjectVersionStorageClass::from_static(
                        ObjectVersionStorageClass::STANDARD,
                    )),
                    version_id: Some("null".to_owned()),
                    checksum_algorithm: o
                        .checksum_algorithm
                        .map(|a| vec![ChecksumAlgorithm::from(a.as_str().to_owned())]),
                    checksum_type: o
                        .checksum_algorithm
                        .map(|_| checksum_type(o.checksum_full_object)),
                    restore_status: None,
                }),
                ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(enc.apply(p)),
                }),
            }
        }
        ok(ListObjectVersionsOutput {
            common_prefixes: Some(prefixes),
            delete_markers: None,
            delimiter: enc.opt(input.delimiter),
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
            max_keys: i32::try_from(limit).ok(),
            name: Some(input.bucket),
            next_version_id_marker: next_key.as_ref().map(|_| "null".to_owned()),
            next_key_marker: enc.opt(next_key),
            prefix: Some(enc.apply(input.prefix.unwrap_or_default())),
            request_charged: None,
            version_id_marker: input.version_id_marker,
            versions: Some(versions),
        })
    }

    // ---------------------------------------------------------------- multipart

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let who = who(&req);
        let input = req.input;
        no_sse(
            input.server_side_encryption.as_ref(),
            input.sse_customer_key.as_ref(),
        )?;
        no_grants(&[
            input.grant_full_control.as_ref(),
            input.grant_read.as_ref(),
            input.grant_read_acp.as_ref(),
            input.grant_write_acp.as_ref(),
        ])?;
        let acl = object_acl(input.acl.as_ref())?;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(algorithm)
            .transpose()?;
        let full_object = match (
            input.checksum_type.as_ref().map(ChecksumType::as_str),
            algorithm,
        ) {
            (Some(ChecksumType::FULL_OBJECT), Some(Algo::Sha1 | Algo::Sha256)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The FULL_OBJECT checksum type cannot be used with SHA1 or SHA256."
                ))
            }
            (Some(ChecksumType::COMPOSITE), Some(Algo::Crc64Nvme)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The COMPOSITE checksum type cannot be used with CRC64NVME."
                ))
            }
            (Some(ChecksumType::FULL_OBJECT), _) => true,
            (Some(ChecksumType::COMPOSITE), _) => false,
            (Some(other), _) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "'{other}' is not a checksum type."
                ))
            }
            (None, Some(Algo::Crc64Nvme)) => true,
            (None, _) => false,
        };
        let mut meta = meta_from(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.metadata,
        );
        meta.tags = settings::from_header(input.tagging.as_deref())?;
        let upload = self
            .port
            .create_upload(
                &who,
                &input.bucket,
                &input.key,
                NewUpload {
                    meta,
                    checksum_algorithm: algorithm,
                    checksum_full_object: full_object,
                    acl,
                },
            )
            .await
            .map_err(s3_error)?;
        ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            checksum_algorithm: algorithm.map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
            checksum_type: algorithm.map(|_| checksum_type(full_object)),
            ..CreateMultipartUploadOutput::default()
        })
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let who = who(&req);
        let trailers = req.trailing_headers.clone();
        let trailer_header = header(&req.headers, "x-amz-trailer");
        let sdk_algorithm = header(&req.headers, "x-amz-sdk-checksum-algorithm");
        let input = req.input;
        no_sse(None, input.sse_customer_key.as_ref())?;
        let number = part_number(input.part_number)?;
        let upload = self
            .port
            .upload(&who, &input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(s3_error)?;
        let declared = input
            .checksum_algorithm
            .as_ref()
            .map(|a| a.as_str().to_owned())
            .or(sdk_algorithm)
            .or_else(|| upload.checksum_algorithm.map(|a| a.as_str().to_owned()));
        let claims = Claims::parse(ChecksumHeaders {
            content_md5: input.content_md5.as_deref(),
            crc32: input.checksum_crc32.as_deref(),
            crc32c: input.checksum_crc32c.as_deref(),
            crc64nvme: input.checksum_crc64nvme.as_deref(),
            sha1: input.checksum_sha1.as_deref(),
            sha256: input.checksum_sha256.as_deref(),
            algorithm: declared.as_deref(),
            trailer: trailer_header.as_deref(),
        })?;
        if let (Some(want), Some(got)) = (upload.checksum_algorithm, claims.algorithm) {
            if want != got {
                return Err(s3_error!(
                    InvalidRequest,
                    "The upload was created with checksum algorithm {}, but the part uses {}.",
                    want.as_str(),
                    got.as_str()
                ));
            }
        }
        let (staged, sealed, checksum) = self
            .receive(
                &who,
                &input.bucket,
                input.body,
                &claims,
                trailers.as_ref(),
                input.content_length,
            )
            .await?;
        let part = self
            .port
            .put_part(
                &who,
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                staged,
                &sealed.etag(),
                checksum.as_ref().map(|c| c.value.clone()),
            )
            .await
            .map_err(s3_error)?;
        let mut out = UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            ..UploadPartOutput::default()
        };
        if let Some(c) = checksum.as_ref() {
            let value = Some(c.value.clone());
            match c.algorithm {
                Algo::Crc32 => out.checksum_crc32 = value,
                Algo::Crc32c => out.checksum_crc32c = value,
                Algo::Crc64Nvme => out.checksum_crc64nvme = value,
                Algo::Sha1 => out.checksum_sha1 = value,
                Algo::Sha256 => out.checksum_sha256 = value,
            }
        }
        ok(out)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let who = who(&req);
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self
            .port
            .upload(&who, &input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(s3_error)?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Copying from access points is not supported."
            ));
        };
        check_version(version_id.as_deref())?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (info, reader) = self
            .open_checked(
                &who,
                src_bucket,
                src_key,
                &conditions,
                Verdict::PreconditionFailed,
            )
            .await?;
        let span = match input.copy_source_range.as_deref() {
            None => 0..info.size,
            Some(r) => copy_range(r, info.size)?,
        };
        let body = self
            .port
            .read_object(&reader, span)
            .await
            .map_err(s3_error)?;
        let claims = Claims {
            algorithm: upload.checksum_algorithm,
            ..Claims::default()
        };
        let (staged, sealed, checksum) = self
            .receive(
                &who,
                &input.bucket,
                Some(StreamingBlob::from(body)),
                &claims,
                None,
                None,
            )
            .await?;
        let part = self
            .port
            .put_part(
                &who,
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                staged,
                &sealed.etag(),
                checksum.as_ref().map(|c| c.value.clone()),
            )
            .await
            .map_err(s3_error)?;
        let mut result = CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(timestamp(part.modified_ms)),
            ..CopyPartResult::default()
        };
        if let Some(c) = checksum.as_ref() {
            let value = Some(c.value.clone());
            match c.algorithm {
                Algo::Crc32 => result.checksum_crc32 = value,
                Algo::Crc32c => result.checksum_crc32c = value,
                Algo::Crc64Nvme => result.checksum_crc64nvme = value,
                Algo::Sha1 => result.checksum_sha1 = value,
                Algo::Sha256 => result.checksum_sha256 = value,
            }
        }
        ok(UploadPartCopyOutput {
            copy_part_result: Some(result),
            ..UploadPartCopyOutput::default()
        })
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let who = who(&req);
        let input = req.input;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let chosen = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if chosen.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided did not name any part to complete the upload with."
            ));
        }
        let mut list = Vec::with_capacity(chosen.len());
        for part in &chosen {
            let number = part_number(part.part_number.unwrap_or(0))?;
            let tag = part
                .e_tag
                .as_ref()
                .map(|e| e.value().trim_matches('"').to_owned())
                .ok_or_else(|| s3_error!(InvalidPart, "Part {number} is given without an ETag."))?;
            if list.last().is_some_and(|(prev, _)| *prev >= number) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order: {number} comes too late."
                ));
            }
            list.push((number, tag));
        }

        let (upload, uploaded) = self
            .all_parts(&who, &input.bucket, &input.key, &input.upload_id)
            .await?;
        // Every part must be there before sizes are judged.
        let mut used = Vec::with_capacity(list.len());
        for (number, tag) in &list {
            let part = uploaded
                .iter()
                .find(|p| p.number == *number && p.etag == *tag)
                .ok_or_else(|| s3_error(PortError::InvalidPart(*number)))?;
            used.push(part);
        }
        if let Some(small) = used[..used.len().saturating_sub(1)]
            .iter()
            .find(|p| p.size < MIN_PART_SIZE)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "Part {} is {} bytes: every part but the last must be at least {} bytes.",
                small.number,
                small.size,
                MIN_PART_SIZE
            ));
        }
        let tags: Vec<&str> = used.iter().map(|p| p.etag.as_str()).collect();
        let final_etag = digest::multipart_etag(&tags).ok_or_else(|| {
            s3_error(PortError::Internal(
                "a stored part ETag is not hex".to_owned(),
            ))
        })?;
        // LIMITATION: a FULL_OBJECT checksum of a multipart object would need the parts' CRCs
        // combined; it is not computed, so such objects are stored without a checksum rather
        // than with an unverified one.
        let checksum = match upload.checksum_algorithm {
            Some(algorithm) if !upload.checksum_full_object => {
                let sums: Vec<Option<String>> = used.iter().map(|p| p.checksum.clone()).collect();
                digest::composite(algorithm, &sums).map(|value| Checksum {
                    algorithm,
                    value,
                    full_object: false,
                })
            }
            _ => None,
        };
        let new = NewObject {
            etag: final_etag,
            meta: upload.meta.clone(),
            checksum: checksum.clone(),
            acl: upload.acl,
        };
        let info = self
            .port
            .complete_upload(
                &who,
                &input.bucket,
                &input.key,
                &input.upload_id,
                &list,
                new,
                condition,
            )
            .await
            .map_err(s3_error)?;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&info.etag)),
            location: Some(format!(
                "/{}/{}",
                input.bucket,
                wire::url_encode(&input.key)
            )),
            ..CompleteMultipartUploadOutput::default()
        };
        set_checksum!(out, checksum.as_ref());
        ok(out)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let who = who(&req);
        let input = req.input;
        self.port
            .abort_upload(&who, &input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(s3_error)?;
        ok(AbortMultipartUploadOutput::default())
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let who = who(&req);
        let input = req.input;
        let limit = wire::page_size(input.max_parts, "max-parts")?;
        let after = match input.part_number_marker {
            None => 0,
            Some(m) => u32::try_from(m).map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "part-number-marker must be a part number, not {m}."
                )
            })?,
        };
        let (upload, parts, truncated) = self
            .port
            .list_parts(
                &who,
                &input.bucket,
                &input.key,
                &input.upload_id,
                after,
                limit,
            )
            .await
            .map_err(s3_error)?;
        let next = truncated
            .then(|| parts.last().and_then(|p| i32::try_from(p.number).ok()))
            .flatten();
        let algorithm = upload.checksum_algorithm;
        let parts = parts
            .into_iter()
            .map(|p| {
                let mut part = Part {
                    e_tag: Some(etag(&p.etag)),
                    last_modified: Some(timestamp(p.modified_ms)),
                    part_number: i32::try_from(p.number).ok(),
                    size: i64::try_from(p.size).ok(),
                    ..Part::default()
                };
                match (algorithm, p.checksum) {
                    (Some(Algo::Crc32), v) => part.checksum_crc32 = v,
                    (Some(Algo::Crc32c), v) => part.checksum_crc32c = v,
                    (Some(Algo::Crc64Nvme), v) => part.checksum_crc64nvme = v,
                    (Some(Algo::Sha1), v) => part.checksum_sha1 = v,
                    (Some(Algo::Sha256), v) => part.checksum_sha256 = v,
                    (None, _) => {}
                }
                part
            })
            .collect();
        ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            checksum_algorithm: algorithm.map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
            checksum_type: algorithm.map(|_| checksum_type(upload.checksum_full_object)),
            initiator: Some(Initiator {
                id: Some(upload.owner_account_id.clone()),
                display_name: None,
            }),
            owner: Some(owner(&upload.owner_account_id, None)),
            is_truncated: Some(truncated),
            max_parts: i32::try_from(limit).ok(),
            next_part_number_marker: next,
            part_number_marker: input.part_number_marker,
            parts: Some(parts),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..ListPartsOutput::default()
        })
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let who = who(&req);
        let input = req.input;
        if input.delimiter.as_deref().is_some_and(|d| !d.is_empty()) {
            return Err(s3_error!(
                NotImplemented,
                "Listing multipart uploads with a delimiter is not supported yet."
            ));
        }
        let enc = encoder(input.encoding_type.as_ref())?;
        let limit = wire::page_size(input.max_uploads, "max-uploads")?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input
            .key_marker
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|k| {
                (
                    k,
                    input.upload_id_marker.as_deref().filter(|u| !u.is_empty()),
                )
            });
        let page = self
            .port
            .list_uploads(&who, &input.bucket, &prefix, after, limit)
            .await
            .map_err(s3_error)?;
        let (next_key, next_id) = match page.uploads.last() {
            Some(u) if page.truncated => (Some(u.key.clone()), Some(u.upload_id.clone())),
            _ => (None, None),
        };
        let uploads = page
            .uploads
            .into_iter()
            .map(|u| MultipartUpload {
                checksum_algorithm: u
                    .checksum_algorithm
                    .map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
                checksum_type: u
                    .checksum_algorithm
                    .map(|_| checksum_type(u.checksum_full_object)),
                initiated: Some(timestamp(u.initiated_ms)),
                initiator: Some(Initiator {
                    id: Some(u.owner_account_id.clone()),
                    display_name: None,
                }),
                owner: Some(owner(&u.owner_account_id, None)),
                key: Some(enc.apply(u.key)),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id),
            })
            .collect();
        ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            common_prefixes: None,
            delimiter: None,
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
            max_uploads: i32::try_from(limit).ok(),
            next_key_marker: enc.opt(next_key),
            next_upload_id_marker: next_id,
            prefix: Some(enc.apply(prefix)),
            request_charged: None,
            upload_id_marker: input.upload_id_marker,
            uploads: Some(uploads),
        })
    }
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn entry_name(e: &ListEntry) -> &str {
    match e {
        ListEntry::Object(o) => &o.key,
        ListEntry::CommonPrefix(p) => p,
    }
}

fn encoder(encoding: Option<&EncodingType>) -> S3Result<Encoder> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(Encoder(false)),
        Some("url") => Ok(Encoder(true)),
        Some(other) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request: '{other}'."
        )),
    }
}

fn split_entries(
    entries: Vec<ListEntry>,
    enc: &Encoder,
    with_owner: bool,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry {
            ListEntry::Object(o) => contents.push(Object {
                checksum_algorithm: o
                    .checksum_algorithm
                    .map(|a| vec![ChecksumAlgorithm::from(a.as_str().to_owned())]),
                checksum_type: o
                    .checksum_algorithm
                    .map(|_| checksum_type(o.checksum_full_object)),
                e_tag: Some(etag(&o.etag)),
                key: Some(enc.apply(o.key)),
                last_modified: Some(timestamp(o.modified_ms)),
                owner: with_owner.then(|| owner(&o.owner_account_id, None)),
                restore_status: None,
                size: i64::try_from(o.size).ok(),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc.apply(p)),
            }),
        }
    }
    (contents, prefixes)
}

/// Buckets are unversioned: only the `null` version exists.
fn check_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(v) => Err(s3_error!(
            NoSuchVersion,
            "The version '{v}' does not exist: this bucket is not versioned."
        )),
    }
}

fn part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PARTS).contains(&n) {
        Ok(u32::try_from(n).unwrap_or(1))
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and {MAX_PARTS}, not {n}."
        ))
    }
}

/// `x-amz-copy-source-range: bytes=first-last`, both required and within the source.
fn copy_range(range: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value '{range}' must be bytes=first-last within the \
             source object of {size} bytes."
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(invalid());
    }
    Ok(first..last + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range("bytes=0-9", 10).unwrap(), 0..10);
        assert!(copy_range("bytes=0-10", 10).is_err());
        assert!(copy_range("bytes=5-4", 10).is_err());
        assert!(copy_range("0-4", 10).is_err());
    }

    #[test]
    fn byte_ranges_clamp_and_refuse() {
        let r = |s: &str| Range::parse(s).unwrap();
        assert_eq!(byte_range(Some(&r("bytes=0-")), 10).unwrap(), Some(0..10));
        assert_eq!(
            byte_range(Some(&r("bytes=5-100")), 10).unwrap(),
            Some(5..10)
        );
        assert_eq!(byte_range(Some(&r("bytes=-3")), 10).unwrap(), Some(7..10));
        assert_eq!(byte_range(Some(&r("bytes=-30")), 10).unwrap(), Some(0..10));
        let err = byte_range(Some(&r("bytes=10-")), 10).unwrap_err();
        assert_eq!(err.code().as_str(), "InvalidRange");
        let headers = err.headers().unwrap();
        assert_eq!(headers.get("content-range").unwrap(), "bytes */10");
    }

    #[test]
    fn write_conditions() {
        assert_eq!(write_condition(None, None).unwrap(), WriteCondition::Always);
        assert_eq!(
            write_condition(None, Some(&ETagCondition::Any)).unwrap(),
            WriteCondition::IfAbsent
        );
        let e = ETagCondition::ETag(ETag::Strong("abc".into()));
        assert_eq!(
            write_condition(Some(&e), None).unwrap(),
            WriteCondition::IfMatch("abc".into())
        );
        assert!(write_condition(Some(&e), Some(&e)).is_err());
    }
}
