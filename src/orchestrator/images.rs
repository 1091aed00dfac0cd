//! Images made from volumes: the one operation "make a template from a volume snapshot", and
//! the ways the doors reach it. A template made from a snapshot records it (so the snapshot
//! cannot be deleted while the template lives), runs on the hypervisor whose host took the
//! snapshot and is `downloading` until the template store has its bytes (at once, for
//! simulated hosts, whose disks have none). From an instance or a volume, the volume is
//! snapshotted first through the snapshot path (a running guest's disk copied by its
//! hypervisor) and the template waits for that snapshot, all recorded in one transaction. A
//! copy of a template is a new template with its own copy of the bytes.
//!
//! This module checks and records; the template store copies the bytes and owns their object.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::AnyConnection;
use tracing::info;

use super::volumes::{snapshot_intent, SnapshotRequest};
use super::Orchestrator;
use crate::error::{CoreError, ResourceKind};
use crate::model::instance::{self, InstanceState};
use crate::model::snapshot::{self, SnapshotRow, SnapshotState};
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::model::template::{self, Template};
use crate::model::volume::{self, VolumeError, VolumeResult};
use crate::storage::templates::{NewTemplate, Prepared, Source, TemplateStore};
use crate::storage::ObjectStore;

/// The OS type of a template whose source does not say one.
pub const DEFAULT_OS_TYPE: &str = "Other Linux (64-bit)";
const GIB: i64 = 1 << 30;

/// What a new image is asked to be, whatever it is made from.
#[derive(Debug, Clone, Default)]
pub struct ImageRequest {
    /// The owner.
    pub account_id: String,
    /// The owner's 12-digit number (for snapshots and templates shared with it).
    pub account_number: String,
    pub name: String,
    pub description: String,
    /// `None` keeps the source's (or the default for a bare snapshot).
    pub os_type: Option<String>,
    pub is_public: bool,
    pub is_featured: bool,
    /// No other live template of the owner may have the name (EC2's rule; CloudStack has none).
    pub unique_name: bool,
    /// The least root size, GiB; never less than the source's.
    // LIMITATION: a larger root size is the template's size and its instances' root volumes'
    // (as the doors show them), but a QEMU guest's disk keeps the image's virtual size: the
    // linked clone is not grown at boot.
    pub min_size_gib: Option<i64>,
    pub root_device_name: Option<String>,
    pub root_volume_type: Option<String>,
    pub ena_support: Option<bool>,
    /// Tags of the new template.
    pub tags: Vec<(String, String)>,
    /// Idempotency: a token, and a digest of the request it came with.
    pub client_token: Option<String>,
    pub client_request: Option<String>,
}

/// Which volume an image is made of, when it is not an existing snapshot.
#[derive(Debug, Clone)]
pub enum VolumeSource {
    /// An instance's root volume; the instance may be running or stopped.
    RootOf(String),
    /// A volume by id; if it is attached, its instance must be stopped.
    Volume(String),
}

/// The snapshot taken of the volume, described as the door words it from the instance's and
/// the new image's EC2 ids.
#[derive(Debug, Clone)]
pub struct ImageSnapshot {
    pub describe: fn(instance: &str, image: &str) -> String,
    pub tags: Vec<(String, String)>,
}

fn new_template(
    req: &ImageRequest,
    zone_id: &str,
    hypervisor: &str,
    os_type: &str,
    size_gib: i64,
    snapshot_id: Option<&str>,
) -> NewTemplate {
    NewTemplate {
        account_id: req.account_id.clone(),
        zone_id: zone_id.to_owned(),
        name: req.name.clone(),
        display_text: req.description.clone(),
        os_type: req.os_type.clone().unwrap_or_else(|| os_type.to_owned()),
        hypervisor: hypervisor.to_owned(),
        is_public: req.is_public,
        is_featured: req.is_featured,
        snapshot_id: snapshot_id.map(str::to_owned),
        min_size_bytes: req.min_size_gib.unwrap_or(0).max(size_gib) * GIB,
        root_device_name: req.root_device_name.clone(),
        root_volume_type: req.root_volume_type.clone(),
        ena_support: req.ena_support,
        client_token: req.client_token.clone(),
        client_request: req.client_request.clone(),
    }
}

/// Refuses a name another live template of the owner has, when the request wants it unique.
async fn check_name(db: &mut AnyConnection, req: &ImageRequest) -> VolumeResult<()> {
    if !req.unique_name {
        return Ok(());
    }
    match template::named(db, &req.account_id, &req.name).await? {
        Some(_) => Err(VolumeError::Core(CoreError::AlreadyExists {
            kind: ResourceKind::Template,
            name: req.name.clone(),
        })),
        None => Ok(()),
    }
}

/// Stores a prepared template and its tags in the caller's transaction.
async fn insert(db: &mut AnyConnection, p: &Prepared, req: &ImageRequest) -> VolumeResult<()> {
    TemplateStore::insert(db, p).await?;
    if !req.tags.is_empty() {
        let r = TaggedResource {
            kind: TaggedKind::Template,
            id: p.template.id.clone(),
            ec2_id: p.template.ec2_id.clone(),
        };
        tag::set(db, &req.account_id, &[r], &req.tags).await?;
    }
    Ok(())
}

/// Refuses a root size smaller than what the image is made of.
fn check_size(req: &ImageRequest, of: &str, size_gib: i64) -> VolumeResult<()> {
    match req.min_size_gib.filter(|n| *n < size_gib) {
        Some(n) => Err(VolumeError::InvalidParameter(format!(
            "the root volume size {n} GiB is smaller than {of}, which is {size_gib} GiB"
        ))),
        None => Ok(()),
    }
}

fn incorrect(what: &'static str, id: &str, state: &str, wanted: &str) -> VolumeError {
    VolumeError::IncorrectState {
        what,
        id: id.to_owned(),
        state: state.to_owned(),
        wanted: wanted.to_owned(),
    }
}

impl Orchestrator {
    /// Makes a template from a completed snapshot the owner may use (its own or one shared
    /// with it); answers the template, `downloading`.
    pub async fn image_from_snapshot(
        &self,
        templates: &Arc<TemplateStore>,
        req: &ImageRequest,
        snapshot_id: &str,
    ) -> VolumeResult<Template> {
        let mut conn = self.store.pool.acquire().await?;
        let s =
            snapshot::usable(&mut conn, &req.account_id, &req.account_number, snapshot_id).await?;
        drop(conn);
        if s.state != SnapshotState::Completed.as_str() {
            return Err(incorrect("snapshot", &s.ec2_id, &s.state, "completed"));
        }
        check_size(req, &format!("the snapshot {}", s.ec2_id), s.size_gib)?;
        let hypervisor = s.hypervisor.clone().ok_or_else(|| {
            VolumeError::InvalidParameter(format!(
                "the snapshot '{}' does not record which hypervisor's disk it copied (it is \
                 older than images made from snapshots); take a new snapshot of the volume",
                s.ec2_id
            ))
        })?;
        let new = new_template(
            req,
            &s.zone_id,
            &hypervisor,
            DEFAULT_OS_TYPE,
            s.size_gib,
            Some(&s.id),
        );
        let source = Source::Snapshot { id: s.id.clone() };
        let t = self.make_template(templates, req, new, source).await?;
        info!(image = %t.ec2_id, snapshot = %s.ec2_id, "image registered from a snapshot");
        Ok(t)
    }

    /// Records a template of a snapshot or template in one transaction (its name checked
    /// there) and starts copying its bytes.
    async fn make_template(
        &self,
        templates: &Arc<TemplateStore>,
        req: &ImageRequest,
        new: NewTemplate,
        source: Source,
    ) -> VolumeResult<Template> {
        let prepared = templates
            .prepare(new, source, false, &req.description)
            .await?;
        let mut tx = self.store.begin_write().await?;
        check_name(&mut tx, req).await?;
        insert(&mut tx, &prepared, req).await?;
        tx.commit().await?;
        let t = prepared.template.clone();
        templates.start(prepared);
        Ok(t)
    }

    /// Snapshots a volume (an instance's root volume, or a volume by id) and makes a template
    /// of that snapshot, in one transaction; answers the template (`downloading` until the
    /// snapshot's bytes are stored as its image) and the snapshot (`pending`).
    #[allow(clippy::too_many_arguments)] // one operation's whole input, passed once
    pub async fn image_from_volume(
        self: &Arc<Self>,
        templates: &Arc<TemplateStore>,
        objects: Arc<ObjectStore>,
        scratch: PathBuf,
        account_scope: Option<&str>,
        req: &ImageRequest,
        from: &VolumeSource,
        snap: &ImageSnapshot,
    ) -> VolumeResult<(Template, SnapshotRow)> {
        let mut tx = self.store.begin_write().await?;
        let (v, i) = match from {
            VolumeSource::RootOf(id) => {
                let i = match instance::get(&mut tx, id).await {
                    Ok(i) if account_scope.is_none_or(|a| a == i.row.account_id) => i,
                    Ok(_) | Err(CoreError::NotFound { .. }) => {
                        return Err(VolumeError::InstanceNotFound(id.clone()))
                    }
                    Err(e) => return Err(e.into()),
                };
                if !matches!(i.state, InstanceState::Running | InstanceState::Stopped) {
                    return Err(VolumeError::InstanceState {
                        id: i.row.ec2_id.clone(),
                        state: i.row.state.clone(),
                        wanted: "running or stopped".into(),
                    });
                }
                let root = volume::of_instance(&mut tx, &i.row.id)
                    .await?
                    .into_iter()
                    .find(volume::VolumeRow::is_root)
                    .ok_or_else(|| {
                        VolumeError::Host(format!("instance {} has no root volume", i.row.ec2_id))
                    })?;
                (root, Some(i))
            }
            VolumeSource::Volume(id) => {
                let v = volume::owned(&mut tx, account_scope, id).await?;
                let i = match &v.instance_id {
                    Some(iid) => Some(instance::get(&mut tx, iid).await?),
                    None => None,
                };
                if let Some(i) = i.as_ref().filter(|i| i.state != InstanceState::Stopped) {
                    return Err(VolumeError::InstanceState {
                        id: i.row.ec2_id.clone(),
                        state: i.row.state.clone(),
                        wanted: "stopped".into(),
                    });
                }
                (v, i)
            }
        };
        check_name(&mut tx, req).await?;
        check_size(req, &format!("the volume {}", v.ec2_id), v.size_gib)?;
        let (hypervisor, os_type) = match &i {
            Some(i) => {
                let t: Option<Template> = sqlx::query_as("SELECT * FROM templates WHERE id = $1")
                    .bind(&i.row.template_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let os = t.map_or_else(|| DEFAULT_OS_TYPE.to_owned(), |t| t.os_type);
                (i.row.hypervisor.clone(), os)
            }
            // LIMITATION: a detached volume does not record which hypervisor's host has its
            // file, so an image is made of it through a snapshot (RegisterImage,
            // createTemplate with snapshotid), which does.
            None => {
                return Err(VolumeError::InvalidParameter(format!(
                    "the volume '{}' is not attached to an instance; make a snapshot of it and \
                     an image from the snapshot",
                    v.ec2_id
                )))
            }
        };
        let new = new_template(req, &v.zone_id, &hypervisor, &os_type, v.size_gib, None);
        let placeholder = Source::Snapshot { id: String::new() };
        let mut prepared = templates
            .prepare(new, placeholder, false, &req.description)
            .await?;
        let instance_ec2 = i.as_ref().map_or("", |i| i.row.ec2_id.as_str());
        let snapshot_req = SnapshotRequest {
            description: (snap.describe)(instance_ec2, &prepared.template.ec2_id),
            name: None,
            tags: snap.tags.clone(),
        };
        let intent = snapshot_intent(&mut tx, v, &snapshot_req).await?;
        prepared.record_snapshot(&intent.snapshot.id);
        insert(&mut tx, &prepared, req).await?;
        tx.commit().await?;
        let t = prepared.template.clone();
        let s = intent.snapshot.clone();
        self.start_snapshot_copy(objects, scratch, intent);
        templates.start(prepared);
        info!(image = %t.ec2_id, snapshot = %s.ec2_id, instance = instance_ec2, "image of a volume started");
        Ok((t, s))
    }

    /// Copies a ready template the owner may launch into a new template of the owner, with its
    /// own copy of the bytes (a retry with a client token is the door's to answer, through
    /// [`by_token`]).
    pub async fn copy_image(
        &self,
        templates: &Arc<TemplateStore>,
        req: &ImageRequest,
        source: &Template,
    ) -> VolumeResult<Template> {
        if !source.state.eq_ignore_ascii_case("ready") {
            return Err(incorrect("image", &source.ec2_id, &source.state, "ready"));
        }
        let size_gib = ((source.size_bytes + GIB - 1) / GIB).max(1);
        let mut new = new_template(
            req,
            &source.zone_id,
            &source.hypervisor,
            &source.os_type,
            size_gib,
            None,
        );
        new.min_size_bytes = source.size_bytes;
        new.root_device_name = new.root_device_name.or(source.root_device_name.clone());
        new.root_volume_type = new.root_volume_type.or(source.root_volume_type.clone());
        new.ena_support = new.ena_support.or(source.ena_support.map(|e| e != 0));
        let from = Source::Template {
            id: source.id.clone(),
        };
        let t = self.make_template(templates, req, new, from).await?;
        info!(image = %t.ec2_id, source = %source.ec2_id, "image copy started");
        Ok(t)
    }
}

/// A template of the account made earlier with this client token, if any.
pub async fn by_token(
    db: &mut AnyConnection,
    account_id: &str,
    token: &str,
) -> VolumeResult<Option<Template>> {
    Ok(sqlx::query_as::<_, Template>(
        "SELECT * FROM templates WHERE account_id = $1 AND client_token = $2 \
         ORDER BY created_ms LIMIT 1",
    )
    .bind(account_id)
    .bind(token)
    .fetch_optional(db)
    .await?)
}
