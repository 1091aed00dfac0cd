//! Templates in secondary storage: a template's bytes are one qcow2 object in the system bucket
//! of the object store, and the QEMU host keeps a cached local copy
//! (`DIR/template-cache/<template id>.qcow2`) that instances' root disks are linked clones of.
//!
//! A template gets its bytes from an http(s) URL (native `registerTemplate`), from an object
//! of this cloud (EC2 `ImportImage`), from a volume snapshot (EC2 `RegisterImage` and
//! `CreateImage`, native `createTemplate`; the task waits for a snapshot still being taken) or
//! from another template (EC2 `CopyImage`). Every way a background task copies the bytes into
//! `DIR/template-staging/`, checks the optional checksum, has `qemu-img info` say what the file
//! is (raw, qcow2, vmdk or vhd, with no backing or external files), converts it to a standalone
//! qcow2, stores that as the object and moves it into the cache; only then is the template
//! ready. Any failure leaves the template in the `error` state with a status that says why, and
//! no staging file, object or cache file behind. A template for simulated hosts has no bytes:
//! it is ready once its snapshot is.
//!
//! This module owns the `template_images` table, the system bucket, the cache and staging
//! directories; it changes a template row's state, status, format and size, and removes the
//! templates it deletes. It never touches instances' disks.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use md5::Digest;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::template_url::{self, Sink, Target};
use super::{CannedAcl, NewObject, ObjectMeta, ObjectStore, Precondition, Requester};
use crate::driver::{DriverError, TemplateImages};
use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::infra::Hypervisor;
use crate::model::snapshot::{self, SnapshotState};
use crate::model::template::{Template, BUILTIN_TEMPLATE_NAME};
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;
use crate::store::Store;

/// The bucket that holds every template's image, owned by the admin account.
pub const SYSTEM_BUCKET: &str = "cirrus-system-templates";
/// How many downloads or imports run at once.
const PARALLEL: usize = 2;
/// How long `qemu-img info` may take, and a conversion.
const INFO_TIMEOUT: Duration = Duration::from_secs(60);
const CONVERT_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often a running download writes its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often a template made from a snapshot being taken looks at it, and for how long.
const SNAPSHOT_POLL: Duration = Duration::from_millis(200);
const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(3600);

/// How templates are fetched; the `[templates]` table of the configuration file.
#[derive(Debug, Clone)]
pub struct TemplateConfig {
    /// Whether template URLs may point at loopback (tests serve templates there).
    pub allow_loopback_urls: bool,
    /// The largest file a template download or import may be, in bytes.
    pub max_size: u64,
    /// `qemu-img`, a path or a name looked up on PATH.
    pub qemu_img: PathBuf,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            allow_loopback_urls: false,
            max_size: 64 << 30,
            qemu_img: PathBuf::from("qemu-img"),
        }
    }
}

/// What a new template is, whatever its bytes come from.
#[derive(Debug, Clone, Default)]
pub struct NewTemplate {
    pub account_id: String,
    pub zone_id: String,
    pub name: String,
    pub display_text: String,
    pub os_type: String,
    pub hypervisor: String,
    pub is_public: bool,
    pub is_featured: bool,
    /// The snapshot (native id) the template records as its root device's.
    pub snapshot_id: Option<String>,
    /// The least size the template has, whatever its image's virtual size (bytes).
    pub min_size_bytes: i64,
    pub root_device_name: Option<String>,
    pub root_volume_type: Option<String>,
    pub ena_support: Option<bool>,
    pub client_token: Option<String>,
    pub client_request: Option<String>,
}

/// Where a template's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A URL, with the optional checksum (CloudStack's `checksum` parameter).
    Url {
        url: String,
        checksum: Option<String>,
    },
    /// An object of this cloud, read as `who` may read it.
    Object {
        who: Requester,
        bucket: String,
        key: String,
    },
    /// A volume snapshot (native id), once it is completed.
    Snapshot { id: String },
    /// Another template's stored image (native id).
    Template { id: String },
}

/// A new template and its image record, checked and not yet stored: [`TemplateStore::prepare`]
/// makes it, the caller inserts it in its own transaction, [`TemplateStore::start`] copies.
#[derive(Debug)]
pub struct Prepared {
    pub template: Template,
    pub image: TemplateImage,
    source: Source,
    target: Option<Target>,
    checksum: Option<Checksum>,
}

impl Prepared {
    /// Makes the template's bytes come from a snapshot recorded after it was prepared (one
    /// whose description names the new template).
    pub fn record_snapshot(&mut self, snapshot_id: &str) {
        self.template.snapshot_id = Some(snapshot_id.to_owned());
        self.image.source = "snapshot".to_owned();
        self.image.source_key = Some(snapshot_id.to_owned());
        self.source = Source::Snapshot {
            id: snapshot_id.to_owned(),
        };
    }
}

/// A template's image record: how its bytes got (or are getting) there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateImage {
    pub template_id: String,
    pub source: String,
    pub source_url: Option<String>,
    pub source_bucket: Option<String>,
    pub source_key: Option<String>,
    pub checksum: Option<String>,
    pub import_task_id: Option<String>,
    pub description: String,
    /// `pending`, `downloading`, `converting`, `completed`, `failed` or `cancelled`.
    pub phase: String,
    pub progress: i64,
    pub message: String,
    pub source_format: Option<String>,
    pub virtual_size_bytes: i64,
    pub image_bucket: Option<String>,
    pub image_key: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An import task with the template it makes, for EC2's DescribeImportImageTasks.
#[derive(Debug, Clone)]
pub struct ImportTask {
    pub image: TemplateImage,
    pub template: Template,
}

/// A checksum a template's file must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    /// Lowercase hex.
    pub hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// Reads CloudStack's checksum forms: `{SHA-256}hex`, `{MD5}hex`, or bare hex whose length
/// says the algorithm (32 MD5, 40 SHA-1, 64 SHA-256, 128 SHA-512).
pub fn parse_checksum(text: &str) -> Result<Checksum, CoreError> {
    let bad = |why: &str| {
        CoreError::InvalidParameter(format!("The checksum '{text}' is not valid: {why}."))
    };
    let text = text.trim();
    let (named, hex) = match text.strip_prefix('{').and_then(|t| t.split_once('}')) {
        Some((name, hex)) => (Some(name.to_ascii_uppercase().replace('_', "-")), hex),
        None => (None, text),
    };
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the digest must be hexadecimal"));
    }
    let by_length = match hex.len() {
        32 => Some(Algorithm::Md5),
        40 => Some(Algorithm::Sha1),
        64 => Some(Algorithm::Sha256),
        128 => Some(Algorithm::Sha512),
        _ => None,
    };
    let algorithm = match named.as_deref() {
        None => {
            by_length.ok_or_else(|| bad("a bare digest must be MD5, SHA-1, SHA-256 or SHA-512"))?
        }
        Some("MD5") => Algorithm::Md5,
        Some("SHA-1" | "SHA1") => Algorithm::Sha1,
        Some("SHA-256" | "SHA256") => Algorithm::Sha256,
        Some("SHA-512" | "SHA512") => Algorithm::Sha512,
        Some(_) => return Err(bad("the algorithm must be MD5, SHA-1, SHA-256 or SHA-512")),
    };
    if by_length != Some(algorithm) {
        return Err(bad(&format!(
            "a {} digest has {} hex digits",
            algorithm.name(),
            match algorithm {
                Algorithm::Md5 => 32,
                Algorithm::Sha1 => 40,
                Algorithm::Sha256 => 64,
                Algorithm::Sha512 => 128,
            }
        )));
    }
    Ok(Checksum {
        algorithm,
        hex: hex.to_ascii_lowercase(),
    })
}

enum Hasher {
    None,
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(c: Option<&Checksum>) -> Self {
        match c.map(|c| c.algorithm) {
            None => Self::None,
            Some(Algorithm::Md5) => Self::Md5(md5::Md5::new()),
            Some(Algorithm::Sha1) => Self::Sha1(sha1::Sha1::new()),
            Some(Algorithm::Sha256) => Self::Sha256(sha2::Sha256::new()),
            Some(Algorithm::Sha512) => Self::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::None => {}
            Self::Md5(h) => h.update(bytes),
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Md5(h) => Some(hex::encode(h.finalize())),
            Self::Sha1(h) => Some(hex::encode(h.finalize())),
            Self::Sha256(h) => Some(hex::encode(h.finalize())),
            Self::Sha512(h) => Some(hex::encode(h.finalize())),
        }
    }
}

/// Writes a download to the staging file, hashing it and counting progress.
struct StagingSink {
    file: std::io::BufWriter<std::fs::File>,
    hasher: Hasher,
    length: Option<u64>,
    received: u64,
    percent: Arc<AtomicU8>,
    cancel: Arc<AtomicBool>,
}

impl Sink for StagingSink {
    fn begin(&mut self, length: Option<u64>) -> std::io::Result<()> {
        self.length = length;
        Ok(())
    }

    fn chunk(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the task was cancelled"));
        }
        // LIMITATION: the staging file is written with blocking calls from the download task;
        // buffered, they cost little next to the network.
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.received += bytes.len() as u64;
        if let Some(length) = self.length.filter(|l| *l > 0) {
            let pct = (self.received.saturating_mul(100) / length).min(99) as u8;
            self.percent.store(pct, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What `qemu-img info` found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// raw, qcow2, vmdk or vhd (qemu's `vpc`).
    pub format: String,
    pub virtual_size: u64,
}

/// A failure of one download or import, worded for the template's status.
#[derive(Debug)]
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed(e.to_string())
    }
}

/// The template store of one management server.
pub struct TemplateStore {
    store: Store,
    objects: Arc<ObjectStore>,
    config: TemplateConfig,
    cache_dir: PathBuf,
    staging_dir: PathBuf,
    /// The account that owns the system bucket.
    system: Requester,
    region: String,
    /// Set once the system bucket is known to exist.
    bucket_ready: tokio::sync::OnceCell<()>,
    /// Cancel flags of the tasks this server runs, by template id.
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
    slots: Semaphore,
}

impl std::fmt::Debug for TemplateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateStore")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map holds no invariant across entries: a panic while holding it leaves it usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `text` is a safe file name part (template ids are UUIDs).
fn is_plain_id(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl TemplateStore {
    /// Opens the store over `DIR/template-cache` and `DIR/template-staging` and marks as
    /// failed what a stop interrupted.
    pub async fn open(
        store: Store,
        objects: Arc<ObjectStore>,
        data_dir: &Path,
        region: &str,
        config: TemplateConfig,
    ) -> CoreResult<Arc<Self>> {
        let cache_dir = std::path::absolute(data_dir.join("template-cache"))
            .map_err(|e| CoreError::Internal(format!("cannot resolve the data directory: {e}")))?;
        let staging_dir = data_dir.join("template-staging");
        for dir in [&cache_dir, &staging_dir] {
            std::fs::create_dir_all(dir).map_err(|e| {
                CoreError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        // Whatever is staged belongs to a task that a stop ended.
        if let Ok(entries) = std::fs::read_dir(&staging_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let admin: (String,) = sqlx::query_as(
            "SELECT a.id FROM accounts a JOIN domains d ON d.id = a.domain_id \
             WHERE a.name = $1 AND d.path = $2",
        )
        .bind(crate::bootstrap::ADMIN_NAME)
        .bind(crate::model::identity::ROOT_PATH)
        .fetch_one(&store.pool)
        .await?;
        let system = Requester::Account {
            id: admin.0,
            root_admin: true,
        };
        let this = Arc::new(Self {
            store,
            objects,
            config,
            cache_dir,
            staging_dir,
            system,
            region: region.to_owned(),
            bucket_ready: tokio::sync::OnceCell::new(),
            running: Mutex::new(HashMap::new()),
            slots: Semaphore::new(PARALLEL),
        });
        this.fail_interrupted().await?;
        this.purge_deleted().await?;
        Ok(this)
    }

    /// LIMITATION: tasks run in the server that took the request; one that a stop interrupted
    /// is failed at the next start rather than resumed (with several servers on one database,
    /// a start also fails the tasks another server is still running).
    async fn fail_interrupted(&self) -> CoreResult<()> {
        let text = "The download was interrupted by a restart of the management server; \
                    register or import the template again.";
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE templates SET state = 'error', status = $1 WHERE state = 'downloading' \
             AND id IN (SELECT template_id FROM template_images)",
        )
        .bind(text)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE template_images SET phase = 'failed', message = $1, updated_ms = $2 \
             WHERE phase IN ('pending', 'downloading', 'converting')",
        )
        .bind(text)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    fn cache_path(&self, template_id: &str) -> PathBuf {
        self.cache_dir.join(format!("{template_id}.qcow2"))
    }

    fn object_key(template_id: &str) -> String {
        format!("templates/{template_id}.qcow2")
    }

    /// Starts registering (URL), importing (object) or copying (snapshot, template) a
    /// template; answers the new template, downloading, and its image record. The URL or object
    /// is checked before anything is made, so a refused one is the request's error.
    pub async fn create(
        self: &Arc<Self>,
        new: NewTemplate,
        source: Source,
        import_task: bool,
        description: &str,
    ) -> CoreResult<(Template, TemplateImage)> {
        let prepared = self.prepare(new, source, import_task, description).await?;
        let mut tx = self.store.begin_write().await?;
        Self::insert(&mut tx, &prepared).await?;
        tx.commit().await?;
        let answer = (prepared.template.clone(), prepared.image.clone());
        self.start(prepared);
        Ok(answer)
    }

    /// Checks the source and makes the rows of a new template, `downloading`, without storing
    /// them.
    pub async fn prepare(
        &self,
        new: NewTemplate,
        source: Source,
        import_task: bool,
        description: &str,
    ) -> CoreResult<Prepared> {
        let (target, checksum) = match &source {
            Source::Url { url, checksum } => {
                let target = template_url::check(url, self.config.allow_loopback_urls)
                    .await
                    .map_err(|e| CoreError::InvalidParameter(e.0))?;
                let checksum = checksum
                    .as_deref()
                    .filter(|c| !c.trim().is_empty())
                    .map(parse_checksum)
                    .transpose()?;
                (Some(target), checksum)
            }
            Source::Object { who, bucket, key } => {
                // Refuse at once what the caller may not read or what is not there.
                let info = self.objects.object(who, bucket, key).await?;
                if info.size > self.config.max_size {
                    return Err(CoreError::InvalidParameter(format!(
                        "The object '{key}' in the bucket '{bucket}' is {} bytes, more than \
                         the {} a template may have.",
                        info.size, self.config.max_size
                    )));
                }
                (None, None)
            }
            // The caller has checked the snapshot or template may be read.
            Source::Snapshot { .. } | Source::Template { .. } => (None, None),
        };
        let now = now_ms();
        let template = Template {
            id: new_uuid(),
            ec2_id: new_ec2_id("ami"),
            name: new.name,
            display_text: new.display_text,
            account_id: new.account_id,
            zone_id: new.zone_id,
            hypervisor: new.hypervisor,
            format: "qcow2".to_owned(),
            os_type: new.os_type,
            size_bytes: new.min_size_bytes.max(0),
            is_public: i64::from(new.is_public),
            is_featured: i64::from(new.is_featured),
            state: "downloading".to_owned(),
            status: "0% Downloaded".to_owned(),
            created_ms: now,
            snapshot_id: new.snapshot_id,
            root_device_name: new.root_device_name,
            root_volume_type: new.root_volume_type,
            ena_support: new.ena_support.map(i64::from),
            client_token: new.client_token,
            client_request: new.client_request,
        };
        let (kind, url, bucket, key) = match &source {
            Source::Url { url, .. } => ("url", Some(url.clone()), None, None),
            Source::Object { bucket, key, .. } => {
                ("object", None, Some(bucket.clone()), Some(key.clone()))
            }
            Source::Snapshot { id } => ("snapshot", None, None, Some(id.clone())),
            Source::Template { id } => ("template", None, None, Some(id.clone())),
        };
        let image = TemplateImage {
            template_id: template.id.clone(),
            source: kind.to_owned(),
            source_url: url,
            source_bucket: bucket,
            source_key: key,
            checksum: checksum
                .as_ref()
                .map(|c| format!("{{{}}}{}", c.algorithm.name(), c.hex)),
            import_task_id: import_task.then(|| new_ec2_id("import-ami")),
            description: description.to_owned(),
            phase: "pending".to_owned(),
            progress: 0,
            message: "pending".to_owned(),
            source_format: None,
            virtual_size_bytes: 0,
            image_bucket: None,
            image_key: None,
            created_ms: now,
            updated_ms: now,
        };
        Ok(Prepared {
            template,
            image,
            source,
            target,
            checksum,
        })
    }

    /// Stores a prepared template's rows in the caller's transaction.
    pub async fn insert(db: &mut sqlx::AnyConnection, p: &Prepared) -> CoreResult<()> {
        insert_template(&mut *db, &p.template).await?;
        insert_image(db, &p.image).await
    }

    /// Starts copying a stored prepared template's bytes in the background.
    pub fn start(self: &Arc<Self>, p: Prepared) {
        let cancel = Arc::new(AtomicBool::new(false));
        lock(&self.running).insert(p.template.id.clone(), cancel.clone());
        let this = self.clone();
        let id = p.template.id.clone();
        let has_bytes = Hypervisor::parse(&p.template.hypervisor) != Some(Hypervisor::Simulator);
        let kind = p.image.source.clone();
        info!(template = %p.template.id, image = %p.template.ec2_id, source = %kind, "template download started");
        tokio::spawn(async move {
            this.run(id, p.source, p.target, p.checksum, has_bytes, cancel)
                .await;
        });
    }

    async fn run(
        self: Arc<Self>,
        id: String,
        source: Source,
        target: Option<Target>,
        checksum: Option<Checksum>,
        has_bytes: bool,
        cancel: Arc<AtomicBool>,
    ) {
        let staged = self.staging_dir.join(format!("{id}.download"));
        let converted = self.staging_dir.join(format!("{id}.qcow2"));
        let outcome = match self.slots.acquire().await {
            Ok(_permit) if !has_bytes => self.keep_without_bytes(&id, &source, &cancel).await,
            Ok(_permit) => {
                self.work(
                    &id,
                    &source,
                    target.as_ref(),
                    checksum.as_ref(),
                    &cancel,
                    &staged,
                    &converted,
                )
                .await
            }
            Err(_) => Err(Failed("the template store is shutting down".into())),
        };
        let _ = std::fs::remove_file(&staged);
        let _ = std::fs::remove_file(&converted);
        lock(&self.running).remove(&id);
        if let Err(Failed(why)) = outcome {
            let cancelled = cancel.load(Ordering::Relaxed);
            if let Err(e) = self.mark_failed(&id, &why, cancelled).await {
                warn!(template = %id, error = %e, "recording a failed template download failed");
            }
            if cancelled {
                info!(template = %id, "template download cancelled");
            } else {
                warn!(template = %id, reason = %why, "template download failed");
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one task's whole context, passed once
    async fn work(
        &self,
        id: &str,
        source: &Source,
        target: Option<&Target>,
        checksum: Option<&Checksum>,
        cancel: &Arc<AtomicBool>,
        staged: &Path,
        converted: &Path,
    ) -> Result<(), Failed> {
        self.set_phase(id, "downloading", 0, "downloading", "0% Downloaded")
            .await?;
        let percent = Arc::new(AtomicU8::new(0));
        let file = std::fs::File::create(staged)
            .map_err(|e| Failed(format!("cannot create the staging file: {e}")))?;
        let mut sink = StagingSink {
            file: std::io::BufWriter::new(file),
            hasher: Hasher::new(checksum),
            length: None,
            received: 0,
            percent: percent.clone(),
            cancel: cancel.clone(),
        };
        let reporter = self.report_progress(id, percent.clone());
        let fetched = match (source, target) {
            (Source::Url { .. }, Some(target)) => {
                template_url::fetch(target, self.config.max_size, &mut sink)
                    .await
                    .map(|_| ())
                    .map_err(|e| Failed(format!("Download failed: {e}.")))
            }
            (Source::Object { who, bucket, key }, _) => {
                self.read_object(who, bucket, key, &mut sink).await
            }
            (Source::Snapshot { id: snapshot_id }, _) => {
                let s = self.wait_for_snapshot(snapshot_id, cancel).await?;
                let (Some(bucket), Some(key)) = (s.bucket, s.object_key) else {
                    return Err(Failed(format!("The snapshot {} holds no bytes.", s.ec2_id)));
                };
                self.read_object(&self.system, &bucket, &key, &mut sink)
                    .await
            }
            (Source::Template { id: from }, _) => {
                let key = self.stored_key(from).await?;
                self.read_object(&self.system, SYSTEM_BUCKET, &key, &mut sink)
                    .await
            }
            (Source::Url { .. }, None) => Err(Failed("the URL was not checked".into())),
        };
        reporter.abort();
        fetched?;
        if cancel.load(Ordering::Relaxed) {
            return Err(Failed("The task was cancelled.".into()));
        }
        sink.file
            .flush()
            .map_err(|e| Failed(format!("cannot write the staging file: {e}")))?;
        drop(sink.file);
        if let (Some(want), Some(got)) = (checksum, sink.hasher.finish()) {
            if want.hex != got {
                return Err(Failed(format!(
                    "The checksum does not match: the file's {} is {got}, not {}.",
                    want.algorithm.name(),
                    want.hex
                )));
            }
        }

        self.set_phase(id, "converting", 100, "converting", "100% Downloaded")
            .await?;
        let info = self.inspect(staged).await?;
        self.convert(staged, &info.format, converted).await?;
        if cancel.load(Ordering::Relaxed) {
            return Err(Failed("The task was cancelled.".into()));
        }
        self.keep(id, &info, converted).await
    }

    /// Writes the download's percentage while it runs.
    fn report_progress(&self, id: &str, percent: Arc<AtomicU8>) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let mut last = 0u8;
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let now = percent.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    let status = format!("{now}% Downloaded");
                    let _ = write_phase(
                        &store,
                        &id,
                        "downloading",
                        i64::from(now),
                        "downloading",
                        &status,
                    )
                    .await;
                }
            }
        })
    }

    async fn read_object(
        &self,
        who: &Requester,
        bucket: &str,
        key: &str,
        sink: &mut StagingSink,
    ) -> Result<(), Failed> {
        let unreadable =
            |e: super::StorageError| Failed(format!("Reading s3://{bucket}/{key} failed: {e}."));
        let info = self
            .objects
            .object(who, bucket, key)
            .await
            .map_err(unreadable)?;
        let reader = self.objects.reader(&info).await.map_err(unreadable)?;
        let mut body = self
            .objects
            .read(&reader, 0..info.size)
            .await
            .map_err(unreadable)?;
        sink.begin(Some(info.size))?;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| Failed(format!("Reading s3://{bucket}/{key} failed: {e}.")))?;
            if let Ok(data) = frame.into_data() {
                sink.chunk(&data)?;
            }
        }
        Ok(())
    }

    fn qemu_img(&self) -> Result<PathBuf, Failed> {
        let program = &self.config.qemu_img;
        if program.components().count() > 1 {
            return Ok(program.clone());
        }
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Failed(format!(
                    "{} is not installed on this server; install the qemu-utils package.",
                    program.display()
                ))
            })
    }

    /// What the file is, refusing what is not a disk image or refers to other files.
    async fn inspect(&self, file: &Path) -> Result<ImageInfo, Failed> {
        let mut command = tokio::process::Command::new(self.qemu_img()?);
        command
            .args(["info", "--output=json"])
            .arg(file)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(INFO_TIMEOUT, command.output())
            .await
            .map_err(|_| Failed("qemu-img info took too long on the file.".into()))?
            .map_err(|e| Failed(format!("running qemu-img info failed: {e}")))?;
        if !output.status.success() {
            return Err(Failed(format!(
                "The file is not a disk image qemu-img can read: {}.",
                String::from_utf8_lossy(&output.stderr)
                    .trim()
                    .trim_end_matches('.')
            )));
        }
        let info: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| Failed(format!("qemu-img info printed no JSON: {e}")))?;
        let head = read_head(file)?;
        classify(&info, &head)
    }

    async fn convert(&self, from: &Path, format: &str, to: &Path) -> Result<(), Failed> {
        let qemu_format = if format == "vhd" { "vpc" } else { format };
        let mut command = tokio::process::Command::new(self.qemu_img()?);
        command
            .args(["convert", "-q", "-f", qemu_format, "-O", "qcow2"])
            .arg(from)
            .arg(to)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(CONVERT_TIMEOUT, command.output())
            .await
            .map_err(|_| Failed("Converting the image to qcow2 took too long.".into()))?
            .map_err(|e| Failed(format!("running qemu-img convert failed: {e}")))?;
        if !output.status.success() {
            return Err(Failed(format!(
                "Converting the {format} image to qcow2 failed: {}.",
                String::from_utf8_lossy(&output.stderr)
                    .trim()
                    .trim_end_matches('.')
            )));
        }
        Ok(())
    }

    /// Stores the converted image as the template's object, caches it, and makes the template
    /// ready; undoes the object and the cache file if the template went away meanwhile.
    async fn keep(&self, id: &str, info: &ImageInfo, converted: &Path) -> Result<(), Failed> {
        let key = Self::object_key(id);
        self.put_file(converted, &key).await?;
        let cached = self.cache_path(id);
        if let Err(e) = std::fs::rename(converted, &cached) {
            self.drop_object(&key).await;
            return Err(Failed(format!("cannot move the image into the cache: {e}")));
        }
        let committed = self
            .mark_ready(id, Some(&info.format), info.virtual_size, Some(&key))
            .await;
        match committed {
            Ok(true) => {
                info!(template = %id, format = %info.format, virtual_size = info.virtual_size, "template ready");
                Ok(())
            }
            Ok(false) | Err(_) => {
                let _ = std::fs::remove_file(&cached);
                self.drop_object(&key).await;
                match committed {
                    Err(e) => Err(Failed(format!("recording the template failed: {e}"))),
                    Ok(_) => Err(Failed("The template was deleted while it was made.".into())),
                }
            }
        }
    }

    /// Makes the system bucket on first use, so a cloud without templates shows no bucket.
    /// LIMITATION: until then an account could take its name, and every download would fail
    /// saying so; the object store has no reserved names yet.
    async fn ensure_bucket(&self) -> Result<(), Failed> {
        self.bucket_ready
            .get_or_try_init(|| async {
                match self
                    .objects
                    .create_bucket(
                        &self.system,
                        SYSTEM_BUCKET,
                        &self.region,
                        CannedAcl::Private,
                    )
                    .await
                {
                    Ok(_) | Err(super::StorageError::BucketOwnedByYou(_)) => Ok(()),
                    Err(e) => Err(Failed(format!(
                        "cannot make the system bucket '{SYSTEM_BUCKET}' for templates: {e}"
                    ))),
                }
            })
            .await
            .map(|_| ())
    }

    async fn put_file(&self, file: &Path, key: &str) -> Result<(), Failed> {
        self.ensure_bucket().await?;
        let size = std::fs::metadata(file)
            .map_err(|e| Failed(format!("cannot read the converted image: {e}")))?
            .len();
        let (tx, body) = super::BlobBody::channel(size);
        let path = file.to_owned();
        let feeder = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut f = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match f.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = bytes::Bytes::copy_from_slice(&buf[..n]);
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        let body: super::InBody = Box::pin(body.map_err(|e| Box::new(e) as super::BoxError));
        let staged = self.objects.write_blob(body, u64::MAX).await;
        feeder.abort();
        let staged = staged.map_err(|e| Failed(format!("storing the image failed: {e}")))?;
        let new = NewObject {
            etag: new_uuid().replace('-', ""),
            meta: ObjectMeta {
                content_type: Some("application/x-qemu-disk".to_owned()),
                ..ObjectMeta::default()
            },
            checksum: None,
            acl: CannedAcl::Private,
        };
        self.objects
            .put_object(
                &self.system,
                SYSTEM_BUCKET,
                key,
                staged,
                new,
                Precondition::Always,
            )
            .await
            .map_err(|e| Failed(format!("storing the image failed: {e}")))?;
        Ok(())
    }

    async fn drop_object(&self, key: &str) {
        if let Err(e) = self
            .objects
            .delete_object(&self.system_arc(), SYSTEM_BUCKET, key)
            .await
        {
            warn!(key, error = %e, "removing a template object failed");
        }
    }

    /// Waits until a snapshot is completed; answers it then, or why it never will be.
    async fn wait_for_snapshot(
        &self,
        snapshot_id: &str,
        cancel: &AtomicBool,
    ) -> Result<snapshot::SnapshotRow, Failed> {
        let deadline = tokio::time::Instant::now() + SNAPSHOT_DEADLINE;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Failed("The task was cancelled.".into()));
            }
            let mut conn = self.store.pool.acquire().await?;
            let s = match snapshot::get(&mut conn, snapshot_id).await {
                Ok(s) => s,
                Err(crate::model::volume::VolumeError::SnapshotNotFound(_)) => {
                    return Err(Failed(format!(
                        "The snapshot {snapshot_id} was deleted before the image was made."
                    )))
                }
                Err(e) => return Err(Failed(e.to_string())),
            };
            drop(conn);
            if s.state == SnapshotState::Completed.as_str() {
                return Ok(s);
            }
            if s.state == SnapshotState::Error.as_str() {
                return Err(Failed(format!(
                    "The snapshot {} of the image's root volume failed: {}",
                    s.ec2_id, s.state_message
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Failed(format!(
                    "The snapshot {} took too long to complete.",
                    s.ec2_id
                )));
            }
            tokio::time::sleep(SNAPSHOT_POLL).await;
        }
    }

    /// The key of a ready template's stored image.
    async fn stored_key(&self, template_id: &str) -> Result<String, Failed> {
        self.image_of(template_id)
            .await?
            .and_then(|i| i.image_key)
            .ok_or_else(|| Failed(format!("The template {template_id} has no stored image.")))
    }

    /// Makes ready a template without bytes (for simulated hosts), once its snapshot is; its
    /// size is the snapshot's, or the source template's.
    async fn keep_without_bytes(
        &self,
        id: &str,
        source: &Source,
        cancel: &AtomicBool,
    ) -> Result<(), Failed> {
        let size = match source {
            Source::Snapshot { id: snapshot_id } => {
                let s = self.wait_for_snapshot(snapshot_id, cancel).await?;
                u64::try_from(s.size_gib).unwrap_or(0) << 30
            }
            Source::Template { id: from } => {
                let t: Option<(i64,)> =
                    sqlx::query_as("SELECT size_bytes FROM templates WHERE id = $1")
                        .bind(from)
                        .fetch_optional(&self.store.pool)
                        .await?;
                let (size,) = t.ok_or_else(|| Failed(format!("The template {from} is gone.")))?;
                u64::try_from(size).unwrap_or(0)
            }
            Source::Url { .. } | Source::Object { .. } => {
                return Err(Failed(
                    "Templates for simulated hosts are made from snapshots or templates only."
                        .into(),
                ))
            }
        };
        match self.mark_ready(id, None, size, None).await {
            Ok(true) => {
                info!(template = %id, size, "template ready (simulated, no bytes)");
                Ok(())
            }
            Ok(false) => Err(Failed("The template was deleted while it was made.".into())),
            Err(e) => Err(Failed(format!("recording the template failed: {e}"))),
        }
    }

    fn system_arc(&self) -> Requester {
        self.system.clone()
    }

    async fn set_phase(
        &self,
        id: &str,
        phase: &str,
        progress: i64,
        message: &str,
        status: &str,
    ) -> Result<(), Failed> {
        write_phase(&self.store, id, phase, progress, message, status)
            .await
            .map_err(|e| Failed(format!("recording the template's progress failed: {e}")))
    }

    /// Makes a template ready: `format` and `key` are its stored image's, `None` for a
    /// template without bytes. Its size is the image's, or more if it was made larger.
    async fn mark_ready(
        &self,
        id: &str,
        format: Option<&str>,
        virtual_size: u64,
        key: Option<&str>,
    ) -> CoreResult<bool> {
        let now = now_ms();
        let size = i64::try_from(virtual_size).unwrap_or(i64::MAX);
        let mut tx = self.store.begin_write().await?;
        let done = sqlx::query(
            "UPDATE templates SET state = 'ready', status = 'Download Complete', format = 'qcow2', \
             size_bytes = CASE WHEN size_bytes > $2 THEN size_bytes ELSE $2 END \
             WHERE id = $1 AND state = 'downloading'",
        )
        .bind(id)
        .bind(size)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE template_images SET phase = 'completed', progress = 100, message = 'completed', \
             source_format = $2, virtual_size_bytes = $3, image_bucket = $4, image_key = $5, \
             updated_ms = $6 WHERE template_id = $1",
        )
        .bind(id)
        .bind(format)
        .bind(size)
        .bind(key.map(|_| SYSTEM_BUCKET))
        .bind(key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn mark_failed(&self, id: &str, why: &str, cancelled: bool) -> CoreResult<()> {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE templates SET state = 'error', status = $2 WHERE id = $1 AND state = 'downloading'",
        )
        .bind(id)
        .bind(why)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE template_images SET phase = $2, message = $3, updated_ms = $4 WHERE template_id = $1",
        )
        .bind(id)
        .bind(if cancelled { "cancelled" } else { "failed" })
        .bind(why)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The image record of a template, if it has one.
    pub async fn image_of(&self, template_id: &str) -> CoreResult<Option<TemplateImage>> {
        Ok(
            sqlx::query_as("SELECT * FROM template_images WHERE template_id = $1")
                .bind(template_id)
                .fetch_optional(&self.store.pool)
                .await?,
        )
    }

    /// The account's import tasks, oldest first.
    pub async fn import_tasks(&self, account_id: &str) -> CoreResult<Vec<ImportTask>> {
        let images: Vec<TemplateImage> = sqlx::query_as(
            "SELECT i.* FROM template_images i JOIN templates t ON t.id = i.template_id \
             WHERE t.account_id = $1 AND i.import_task_id IS NOT NULL \
             ORDER BY i.created_ms, i.template_id",
        )
        .bind(account_id)
        .fetch_all(&self.store.pool)
        .await?;
        let mut tasks = Vec::with_capacity(images.len());
        for image in images {
            let template: Template = sqlx::query_as("SELECT * FROM templates WHERE id = $1")
                .bind(&image.template_id)
                .fetch_one(&self.store.pool)
                .await?;
            tasks.push(ImportTask { image, template });
        }
        Ok(tasks)
    }

    /// Cancels a running import task of the account; answers its state before.
    pub async fn cancel_import(&self, account_id: &str, task_id: &str) -> CoreResult<String> {
        let task = self
            .import_tasks(account_id)
            .await?
            .into_iter()
            .find(|t| t.image.import_task_id.as_deref() == Some(task_id))
            .ok_or_else(|| CoreError::not_found(ResourceKind::Template, task_id))?;
        if !matches!(
            task.image.phase.as_str(),
            "pending" | "downloading" | "converting"
        ) {
            return Err(CoreError::IncorrectState {
                kind: ResourceKind::Template,
                id: task_id.to_owned(),
                state: task.image.phase.clone(),
                wanted: "active".to_owned(),
            });
        }
        if let Some(flag) = lock(&self.running).get(&task.template.id) {
            flag.store(true, Ordering::Relaxed);
        }
        Ok("active".to_owned())
    }

    /// Deletes a template: a running download is cancelled; a template that instances still
    /// use (their root disks are linked clones of its image) is hidden until they are gone.
    pub async fn delete(&self, template: &Template) -> CoreResult<()> {
        if template.name == BUILTIN_TEMPLATE_NAME && self.image_of(&template.id).await?.is_none() {
            return Err(CoreError::InvalidParameter(format!(
                "The built-in template {} cannot be deleted.",
                template.id
            )));
        }
        if let Some(flag) = lock(&self.running).get(&template.id) {
            flag.store(true, Ordering::Relaxed);
        }
        let mut tx = self.store.begin_write().await?;
        sqlx::query("UPDATE templates SET state = 'deleted', status = 'Deleted' WHERE id = $1")
            .bind(&template.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.purge_deleted().await
    }

    /// Removes deleted templates that no instance uses any more, with their images.
    async fn purge_deleted(&self) -> CoreResult<()> {
        let gone: Vec<(String,)> = sqlx::query_as(
            "SELECT t.id FROM templates t WHERE t.state = 'deleted' \
             AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.template_id = t.id)",
        )
        .fetch_all(&self.store.pool)
        .await?;
        for (id,) in gone {
            let image = self.image_of(&id).await?;
            let mut tx = self.store.begin_write().await?;
            sqlx::query("DELETE FROM template_images WHERE template_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM tags WHERE resource_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM template_permissions WHERE template_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM templates WHERE id = $1 AND state = 'deleted'")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if let Some(key) = image.and_then(|i| i.image_key) {
                self.drop_object(&key).await;
            }
            let _ = std::fs::remove_file(self.cache_path(&id));
            info!(template = %id, "template removed");
        }
        Ok(())
    }

    /// Fetches a template's object into the cache (for a cache emptied by hand, or a template
    /// stored by another server).
    async fn fill_cache(&self, template_id: &str, key: &str) -> Result<PathBuf, Failed> {
        let cached = self.cache_path(template_id);
        self.system_object_to(key, &cached).await.map_err(Failed)?;
        Ok(cached)
    }
}

#[async_trait::async_trait]
impl TemplateImages for TemplateStore {
    async fn local_image(&self, template_id: &str) -> Result<Option<PathBuf>, DriverError> {
        if !is_plain_id(template_id) {
            return Ok(None);
        }
        let cached = self.cache_path(template_id);
        if cached.is_file() {
            return Ok(Some(cached));
        }
        let image = self
            .image_of(template_id)
            .await
            .map_err(|e| DriverError::Failed(format!("reading template {template_id}: {e}")))?;
        let Some(key) = image.and_then(|i| i.image_key) else {
            return Ok(None);
        };
        self.fill_cache(template_id, &key)
            .await
            .map(Some)
            .map_err(|Failed(why)| {
                DriverError::Failed(format!(
                    "cannot bring template {template_id}'s image to this host: {why}"
                ))
            })
    }
}

async fn write_phase(
    store: &Store,
    id: &str,
    phase: &str,
    progress: i64,
    message: &str,
    status: &str,
) -> CoreResult<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("UPDATE templates SET status = $2 WHERE id = $1 AND state = 'downloading'")
        .bind(id)
        .bind(status)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE template_images SET phase = $2, progress = $3, message = $4, updated_ms = $5 \
         WHERE template_id = $1 AND phase IN ('pending', 'downloading', 'converting')",
    )
    .bind(id)
    .bind(phase)
    .bind(progress)
    .bind(message)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

fn read_head(file: &Path) -> Result<Vec<u8>, Failed> {
    use std::io::Read;
    let mut head = vec![0u8; 1024];
    let mut f = std::fs::File::open(file)
        .map_err(|e| Failed(format!("cannot read the downloaded file: {e}")))?;
    let mut filled = 0;
    while filled < head.len() {
        match f.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(Failed(format!("cannot read the downloaded file: {e}"))),
        }
    }
    head.truncate(filled);
    Ok(head)
}

/// Decides from `qemu-img info`'s JSON and the file's first bytes what the image is. An image
/// that names a backing file or an external data file is refused (it would read files of this
/// host); a "raw" file must begin with a boot sector or partition table, as qemu-img calls any
/// file it does not recognise raw.
fn classify(info: &Value, head: &[u8]) -> Result<ImageInfo, Failed> {
    let format = info
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let virtual_size = info
        .get("virtual-size")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if info.get("backing-filename").is_some() || info.get("full-backing-filename").is_some() {
        return Err(Failed(
            "The image refers to a backing file; upload a standalone image (qemu-img convert \
             makes one)."
                .into(),
        ));
    }
    let data_file = info.pointer("/format-specific/data/data-file").is_some();
    if data_file {
        return Err(Failed(
            "The qcow2 image keeps its data in an external file; upload a standalone image.".into(),
        ));
    }
    let named = match format {
        "raw" => {
            let mbr = head.len() >= 512 && head[510] == 0x55 && head[511] == 0xAA;
            let gpt = head.len() >= 520 && &head[512..520] == b"EFI PART";
            if !(mbr || gpt) {
                return Err(Failed(
                    "The file is not a disk image: qemu-img reads it as raw data, and it has no \
                     boot sector or partition table."
                        .into(),
                ));
            }
            "raw"
        }
        "qcow2" => "qcow2",
        // Only a sparse extent in the file itself: a text descriptor names other files.
        "vmdk" if head.starts_with(b"KDMV") => "vmdk",
        "vmdk" => {
            return Err(Failed(
                "The VMDK image is a descriptor that refers to other files; upload a \
                 monolithic sparse or stream-optimized VMDK."
                    .into(),
            ))
        }
        "vpc" => "vhd",
        other => {
            return Err(Failed(format!(
                "The image's format is {other}; templates may be raw, qcow2, vmdk or vhd."
            )))
        }
    };
    if virtual_size == 0 {
        return Err(Failed(
            "The disk image is empty (its virtual size is 0).".into(),
        ));
    }
    Ok(ImageInfo {
        format: named.to_owned(),
        virtual_size,
    })
}

async fn insert_template(db: &mut sqlx::AnyConnection, t: &Template) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO templates (id, ec2_id, name, display_text, account_id, zone_id, hypervisor, \
         format, os_type, size_bytes, is_public, is_featured, state, status, created_ms, \
         snapshot_id, root_device_name, root_volume_type, ena_support, client_token, \
         client_request) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(&t.id)
    .bind(&t.ec2_id)
    .bind(&t.name)
    .bind(&t.display_text)
    .bind(&t.account_id)
    .bind(&t.zone_id)
    .bind(&t.hypervisor)
    .bind(&t.format)
    .bind(&t.os_type)
    .bind(t.size_bytes)
    .bind(t.is_public)
    .bind(t.is_featured)
    .bind(&t.state)
    .bind(&t.status)
    .bind(t.created_ms)
    .bind(&t.snapshot_id)
    .bind(&t.root_device_name)
    .bind(&t.root_volume_type)
    .bind(t.ena_support)
    .bind(&t.client_token)
    .bind(&t.client_request)
    .execute(db)
    .await?;
    Ok(())
}

async fn insert_image(db: &mut sqlx::AnyConnection, i: &TemplateImage) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO template_images (template_id, source, source_url, source_bucket, source_key, \
         checksum, import_task_id, description, phase, progress, message, source_format, \
         virtual_size_bytes, image_bucket, image_key, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&i.template_id)
    .bind(&i.source)
    .bind(&i.source_url)
    .bind(&i.source_bucket)
    .bind(&i.source_key)
    .bind(&i.checksum)
    .bind(&i.import_task_id)
    .bind(&i.description)
    .bind(&i.phase)
    .bind(i.progress)
    .bind(&i.message)
    .bind(&i.source_format)
    .bind(i.virtual_size_bytes)
    .bind(&i.image_bucket)
    .bind(&i.image_key)
    .bind(i.created_ms)
    .bind(i.updated_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// What other images of secondary storage (ISOs) borrow from the template store: its URL
/// checks and download, its staging and cache directories and its system bucket.
impl TemplateStore {
    pub(crate) fn config(&self) -> &TemplateConfig {
        &self.config
    }

    pub(crate) fn staging_dir(&self) -> &Path {
        &self.staging_dir
    }

    pub(crate) fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Downloads a checked URL into `dest`, hashing it against `checksum`; `percent` follows
    /// the download and `cancel` stops it. The text of an error is worded for a status.
    pub(crate) async fn download_to(
        &self,
        target: &Target,
        checksum: Option<&Checksum>,
        dest: &Path,
        percent: Arc<AtomicU8>,
        cancel: Arc<AtomicBool>,
    ) -> Result<u64, String> {
        let file = std::fs::File::create(dest)
            .map_err(|e| format!("cannot create the staging file: {e}"))?;
        let mut sink = StagingSink {
            file: std::io::BufWriter::new(file),
            hasher: Hasher::new(checksum),
            length: None,
            received: 0,
            percent,
            cancel,
        };
        template_url::fetch(target, self.config.max_size, &mut sink)
            .await
            .map_err(|e| format!("Download failed: {e}."))?;
        sink.file
            .flush()
            .map_err(|e| format!("cannot write the staging file: {e}"))?;
        if let (Some(want), Some(got)) = (checksum, sink.hasher.finish()) {
            if want.hex != got {
                return Err(format!(
                    "The checksum does not match: the file's {} is {got}, not {}.",
                    want.algorithm.name(),
                    want.hex
                ));
            }
        }
        Ok(sink.received)
    }

    /// Stores a local file as `key` in the system bucket.
    pub(crate) async fn store_system_file(&self, file: &Path, key: &str) -> Result<(), String> {
        self.put_file(file, key).await.map_err(|Failed(why)| why)
    }

    /// Removes `key` from the system bucket (a failure is logged).
    pub(crate) async fn remove_system_object(&self, key: &str) {
        self.drop_object(key).await;
    }

    /// Copies `key` of the system bucket into the file `dest`, through a staging file.
    pub(crate) async fn system_object_to(&self, key: &str, dest: &Path) -> Result<(), String> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
        let part = self
            .staging_dir
            .join(format!("{}.cache", name.unwrap_or_default()));
        let file = std::fs::File::create(&part)
            .map_err(|e| format!("cannot create {}: {e}", part.display()))?;
        let mut sink = StagingSink {
            file: std::io::BufWriter::new(file),
            hasher: Hasher::None,
            length: None,
            received: 0,
            percent: Arc::new(AtomicU8::new(0)),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let read = self
            .read_object(&self.system, SYSTEM_BUCKET, key, &mut sink)
            .await
            .and_then(|()| sink.file.flush().map_err(Failed::from));
        drop(sink);
        let moved = read.and_then(|()| std::fs::rename(&part, dest).map_err(Failed::from));
        if moved.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        moved.map_err(|Failed(why)| why)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checksums_in_cloudstack_forms() {
        let sha = "a".repeat(64);
        let c = parse_checksum(&format!("{{SHA-256}}{sha}")).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        let c = parse_checksum(&"B".repeat(32)).unwrap();
        assert_eq!(
            (c.algorithm, c.hex.as_str()),
            (Algorithm::Md5, "b".repeat(32).as_str())
        );
        assert_eq!(
            parse_checksum(&format!("{{md5}}{}", "0".repeat(32)))
                .unwrap()
                .algorithm,
            Algorithm::Md5
        );
        for bad in ["xyz", "{SHA-256}abcd", "{CRC}00", &"a".repeat(33), ""] {
            assert!(parse_checksum(bad).is_err(), "{bad} was taken");
        }
    }

    fn boot_sector() -> Vec<u8> {
        let mut head = vec![0u8; 1024];
        head[510] = 0x55;
        head[511] = 0xAA;
        head
    }

    #[test]
    fn raw_needs_a_boot_sector_and_nothing_may_name_other_files() {
        let raw = json!({"format": "raw", "virtual-size": 1024});
        assert_eq!(classify(&raw, &boot_sector()).unwrap().format, "raw");
        let text = b"this is not a disk image\n".to_vec();
        let why = classify(&raw, &text).unwrap_err().0;
        assert!(why.contains("not a disk image"), "{why}");

        let backed = json!({"format": "qcow2", "virtual-size": 1, "backing-filename": "/etc/x"});
        assert!(classify(&backed, &[])
            .unwrap_err()
            .0
            .contains("backing file"));
        let external = json!({"format": "qcow2", "virtual-size": 1,
            "format-specific": {"type": "qcow2", "data": {"data-file": "/etc/x"}}});
        assert!(classify(&external, &[])
            .unwrap_err()
            .0
            .contains("external file"));
        let descriptor = json!({"format": "vmdk", "virtual-size": 1});
        assert!(classify(&descriptor, b"# Disk DescriptorFile").is_err());
        assert_eq!(classify(&descriptor, b"KDMV....").unwrap().format, "vmdk");
        let vhd = json!({"format": "vpc", "virtual-size": 1});
        assert_eq!(classify(&vhd, b"conectix").unwrap().format, "vhd");
        let iso = json!({"format": "luks", "virtual-size": 1});
        assert!(classify(&iso, &[])
            .unwrap_err()
            .0
            .contains("raw, qcow2, vmdk or vhd"));
    }
}
