//! ISO images in secondary storage: an ISO's bytes are one object in the system bucket, kept as
//! downloaded, and the QEMU host keeps a cached copy (`DIR/template-cache/<iso id>.iso`) that
//! guests' CD drives read.
//!
//! `registerIso` checks the URL (the template store's checks: link-local and metadata
//! addresses always refused, loopback only when configured) and answers the ISO at once,
//! downloading; a background task downloads into the template staging directory, checks the
//! optional checksum, checks that the file really is an ISO 9660 image (the volume descriptor
//! set's "CD001" at byte 32769), stores it and caches it; only then is the ISO ready. A failure
//! leaves the ISO in the `error` state with a status that says why, and no file or object
//! behind.
//!
//! This module owns the `isos` rows' state and the ISO objects and cache files. It borrows the
//! template store's download, staging and system bucket, and never touches instances' drives
//! (the orchestrator does, as a job on the instance).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::template_url;
use super::templates::{parse_checksum, TemplateStore};
use crate::driver::{DriverError, IsoImages};
use crate::error::{CoreError, CoreResult};
use crate::model::iso::{self, Iso};
use crate::model::new_uuid;
use crate::now_ms;
use crate::store::Store;

/// Where the primary volume descriptor's standard identifier is: sector 16 of 2048 bytes, after
/// the one-byte descriptor type.
const ISO9660_MAGIC_AT: u64 = 16 * 2048 + 1;
const ISO9660_MAGIC: &[u8; 5] = b"CD001";
/// How often a running download writes its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What a new ISO is.
#[derive(Debug, Clone)]
pub struct NewIso {
    pub account_id: String,
    pub zone_id: String,
    pub name: String,
    pub display_text: String,
    pub os_type: String,
    pub bootable: bool,
    pub is_public: bool,
    pub is_featured: bool,
    pub url: String,
    pub checksum: Option<String>,
}

/// The ISO store of one management server.
#[derive(Debug)]
pub struct IsoStore {
    store: Store,
    templates: Arc<TemplateStore>,
}

/// Whether `file` is an ISO 9660 image: "CD001" where the first volume descriptor names its
/// standard. The text of an error is worded for the ISO's status.
pub fn check_iso9660(file: &Path) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let not_iso = || {
        "The file is not an ISO 9660 image: it has no CD001 volume descriptor at byte 32769."
            .to_owned()
    };
    let mut f =
        std::fs::File::open(file).map_err(|e| format!("cannot read the downloaded file: {e}"))?;
    f.seek(SeekFrom::Start(ISO9660_MAGIC_AT))
        .map_err(|e| format!("cannot read the downloaded file: {e}"))?;
    let mut magic = [0u8; 5];
    match f.read_exact(&mut magic) {
        Ok(()) if &magic == ISO9660_MAGIC => Ok(()),
        Ok(()) => Err(not_iso()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(not_iso()),
        Err(e) => Err(format!("cannot read the downloaded file: {e}")),
    }
}

impl IsoStore {
    /// Opens the store and marks as failed the downloads a stop interrupted.
    pub async fn open(store: Store, templates: Arc<TemplateStore>) -> CoreResult<Arc<Self>> {
        let mut tx = store.begin_write().await?;
        sqlx::query("UPDATE isos SET state = 'error', status = $1 WHERE state = 'downloading'")
            .bind(
                "The download was interrupted by a restart of the management server; register \
                 the ISO again.",
            )
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Arc::new(Self { store, templates }))
    }

    fn cache_path(&self, iso_id: &str) -> PathBuf {
        self.templates.cache_dir().join(format!("{iso_id}.iso"))
    }

    fn object_key(iso_id: &str) -> String {
        format!("isos/{iso_id}.iso")
    }

    /// Starts registering an ISO from a URL; answers it, downloading. The URL and checksum are
    /// checked first, so a refused one is the request's error and nothing is made.
    pub async fn register(self: &Arc<Self>, new: NewIso) -> CoreResult<Iso> {
        let target = template_url::check(&new.url, self.templates.config().allow_loopback_urls)
            .await
            .map_err(|e| CoreError::InvalidParameter(e.0))?;
        let checksum = new
            .checksum
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(parse_checksum)
            .transpose()?;
        let iso = Iso {
            id: new_uuid(),
            name: new.name,
            display_text: new.display_text,
            account_id: new.account_id,
            zone_id: new.zone_id,
            os_type: new.os_type,
            bootable: i64::from(new.bootable),
            is_public: i64::from(new.is_public),
            is_featured: i64::from(new.is_featured),
            state: "downloading".to_owned(),
            status: "0% Downloaded".to_owned(),
            size_bytes: 0,
            source_url: new.url,
            checksum: new.checksum,
            image_key: None,
            created_ms: now_ms(),
        };
        let mut tx = self.store.begin_write().await?;
        insert(&mut tx, &iso).await?;
        tx.commit().await?;

        let this = self.clone();
        let id = iso.id.clone();
        tokio::spawn(async move {
            let staged = this.templates.staging_dir().join(format!("{id}.iso"));
            let outcome = this.fetch(&id, &target, checksum.as_ref(), &staged).await;
            let _ = std::fs::remove_file(&staged);
            if let Err(why) = outcome {
                warn!(iso = %id, reason = %why, "ISO download failed");
                if let Err(e) = this.set_state(&id, "error", &why).await {
                    warn!(iso = %id, error = %e, "recording a failed ISO download failed");
                }
            }
        });
        info!(iso = %iso.id, "ISO download started");
        Ok(iso)
    }

    async fn fetch(
        &self,
        id: &str,
        target: &template_url::Target,
        checksum: Option<&super::templates::Checksum>,
        staged: &Path,
    ) -> Result<(), String> {
        let percent = Arc::new(AtomicU8::new(0));
        let reporter = self.report_progress(id, percent.clone());
        let fetched = self
            .templates
            .download_to(
                target,
                checksum,
                staged,
                percent,
                Arc::new(AtomicBool::new(false)),
            )
            .await;
        reporter.abort();
        let size = fetched?;
        check_iso9660(staged)?;
        let key = Self::object_key(id);
        self.templates.store_system_file(staged, &key).await?;
        let cached = self.cache_path(id);
        let kept = std::fs::rename(staged, &cached)
            .map_err(|e| format!("cannot move the ISO into the cache: {e}"));
        let committed = match kept {
            Ok(()) => self
                .mark_ready(id, size, &key)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if !matches!(committed, Ok(true)) {
            let _ = std::fs::remove_file(&cached);
            self.templates.remove_system_object(&key).await;
            return match committed {
                Err(e) => Err(format!("recording the ISO failed: {e}")),
                _ => Err("The ISO was deleted while it was downloaded.".to_owned()),
            };
        }
        info!(iso = %id, size, "ISO ready");
        Ok(())
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
                    let _ = write_status(&store, &id, "downloading", &status).await;
                }
            }
        })
    }

    async fn set_state(&self, id: &str, state: &str, status: &str) -> CoreResult<()> {
        write_status(&self.store, id, state, status).await
    }

    async fn mark_ready(&self, id: &str, size: u64, key: &str) -> CoreResult<bool> {
        let mut tx = self.store.begin_write().await?;
        let done = sqlx::query(
            "UPDATE isos SET state = 'ready', status = 'Download Complete', size_bytes = $2, \
             image_key = $3 WHERE id = $1 AND state = 'downloading'",
        )
        .bind(id)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Renames an ISO or changes its description, OS type or bootable flag.
    pub async fn update(&self, iso: &Iso) -> CoreResult<()> {
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE isos SET name = $2, display_text = $3, os_type = $4, bootable = $5 \
             WHERE id = $1",
        )
        .bind(&iso.id)
        .bind(&iso.name)
        .bind(&iso.display_text)
        .bind(&iso.os_type)
        .bind(iso.bootable)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes an ISO with its object and cached copy; refused while an instance has it in its
    /// drive (as CloudStack refuses). A download in flight finds its row gone and cleans up.
    /// LIMITATION: that download is not cancelled; it runs to its end before it is discarded.
    pub async fn delete(&self, iso: &Iso) -> CoreResult<()> {
        let mut tx = self.store.begin_write().await?;
        if iso::users(&mut tx, &iso.id).await? > 0 {
            return Err(CoreError::InvalidParameter(
                "Unable to delete ISO, as it's used by other instances".to_owned(),
            ));
        }
        sqlx::query("DELETE FROM tags WHERE resource_id = $1")
            .bind(&iso.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM isos WHERE id = $1")
            .bind(&iso.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if let Some(key) = &iso.image_key {
            self.templates.remove_system_object(key).await;
        }
        let _ = std::fs::remove_file(self.cache_path(&iso.id));
        info!(iso = %iso.id, "ISO removed");
        Ok(())
    }
}

#[async_trait::async_trait]
impl IsoImages for IsoStore {
    async fn local_iso(&self, iso_id: &str) -> Result<Option<PathBuf>, DriverError> {
        let mut conn = self.store.pool.acquire().await?;
        let found = iso::get(&mut conn, iso_id)
            .await
            .map_err(|e| DriverError::Failed(format!("reading ISO {iso_id}: {e}")))?;
        drop(conn);
        let Some(key) = found.and_then(|i| i.image_key) else {
            return Ok(None);
        };
        let cached = self.cache_path(iso_id);
        if cached.is_file() {
            return Ok(Some(cached));
        }
        self.templates
            .system_object_to(&key, &cached)
            .await
            .map_err(|why| {
                DriverError::Failed(format!("cannot bring ISO {iso_id} to this host: {why}"))
            })?;
        Ok(Some(cached))
    }
}

async fn write_status(store: &Store, id: &str, state: &str, status: &str) -> CoreResult<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("UPDATE isos SET state = $2, status = $3 WHERE id = $1 AND state = 'downloading'")
        .bind(id)
        .bind(state)
        .bind(status)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert(db: &mut sqlx::AnyConnection, i: &Iso) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO isos (id, name, display_text, account_id, zone_id, os_type, bootable, \
         is_public, is_featured, state, status, size_bytes, source_url, checksum, image_key, \
         created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&i.id)
    .bind(&i.name)
    .bind(&i.display_text)
    .bind(&i.account_id)
    .bind(&i.zone_id)
    .bind(&i.os_type)
    .bind(i.bootable)
    .bind(i.is_public)
    .bind(i.is_featured)
    .bind(&i.state)
    .bind(&i.status)
    .bind(i.size_bytes)
    .bind(&i.source_url)
    .bind(&i.checksum)
    .bind(&i.image_key)
    .bind(i.created_ms)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    #[test]
    fn only_a_cd001_descriptor_makes_an_iso() {
        let dir = std::env::temp_dir().join(format!("cirrus-iso-test-{}", new_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let iso = dir.join("good.iso");
        let mut bytes = vec![0u8; 34816];
        bytes[32768] = 1;
        bytes[32769..32774].copy_from_slice(b"CD001");
        std::fs::write(&iso, &bytes).unwrap();
        assert!(check_iso9660(&iso).is_ok());

        bytes[32769..32774].copy_from_slice(b"CD002");
        std::fs::write(&iso, &bytes).unwrap();
        assert!(check_iso9660(&iso).unwrap_err().contains("not an ISO 9660"));
        std::fs::write(&iso, b"short").unwrap();
        assert!(check_iso9660(&iso).unwrap_err().contains("not an ISO 9660"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
