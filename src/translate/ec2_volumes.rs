//! The EC2 door's volumes and snapshots, over the core: volume and snapshot views, the
//! mapping of the core's volume errors onto EC2's codes, the block device mappings of
//! instances, and the volumes RunInstances' `BlockDeviceMapping` asks for. The `Ec2Port`
//! methods in `translate::ec2` call these.

use std::collections::HashMap;

use cirrus_ec2::error::{Code, Ec2Error, Resource};
use cirrus_ec2::types::Tag;
use cirrus_ec2::{
    BlockDevice, BlockDeviceRequest, Caller, NewSnapshot, NewVolume, PermissionChange, Snapshot,
    Volume, VolumeAttachment, VolumeChange, VolumeCursor, VolumeModification, VolumePage,
};
use sqlx::AnyConnection;

use super::Translator;
use crate::error::CoreError;
use crate::model::infra;
use crate::model::instance::InstanceRow;
use crate::model::snapshot::{self, SnapshotListing};
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::model::volume::{self, VolumeError, VolumeListing, VolumeRow, ROOT_DEVICE};
use crate::orchestrator::volumes::{
    check_performance, create_volume_in, valid_device, SnapshotRequest, VolumeRequest,
};

/// A core message as a sentence: capitalised, with a full stop.
pub(crate) fn sentence(m: &str) -> String {
    let mut out: String = m
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(m.chars().skip(1))
        .collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The core's volume errors as EC2's codes.
pub(crate) fn volume_error(e: VolumeError) -> Ec2Error {
    let text = sentence(&e.to_string());
    match e {
        VolumeError::Core(c) => match c {
            CoreError::Store(_) | CoreError::Internal(_) => Ec2Error::internal(c.to_string()),
            CoreError::InvalidParameter(m) => Ec2Error::invalid_value(sentence(&m)),
            other => Ec2Error::invalid_value(sentence(&other.to_string())),
        },
        VolumeError::VolumeNotFound(id) => Ec2Error::new(
            Code::NotFound(Resource::Volume),
            format!("The volume '{id}' does not exist."),
        ),
        VolumeError::SnapshotNotFound(id) => Ec2Error::new(
            Code::NotFound(Resource::Snapshot),
            format!("The snapshot '{id}' does not exist."),
        ),
        VolumeError::InstanceNotFound(id) => Ec2Error::new(
            Code::NotFound(Resource::Instance),
            format!("The instance ID '{id}' does not exist"),
        ),
        VolumeError::ZoneMismatch { .. } => Ec2Error::new(Code::VolumeZoneMismatch, text),
        VolumeError::DeviceTaken { device, .. } => Ec2Error::invalid_value(format!(
            "Invalid value '{device}' for unixDevice. Attachment point {device} is already in use"
        )),
        VolumeError::InUse { .. } => Ec2Error::new(Code::VolumeInUse, text),
        VolumeError::NotAttached { .. } => Ec2Error::new(Code::AttachmentNotFound, text),
        VolumeError::IncorrectState { .. } => Ec2Error::new(Code::IncorrectState, text),
        VolumeError::InstanceState { .. } => Ec2Error::new(Code::IncorrectInstanceState, text),
        VolumeError::InvalidParameter(_) => Ec2Error::invalid_value(text),
        VolumeError::InvalidCombination(_) => {
            Ec2Error::new(Code::InvalidParameterCombination, text)
        }
        VolumeError::SnapshotInUse { .. } => Ec2Error::new(Code::SnapshotInUse, text),
        VolumeError::Host(m) => Ec2Error::internal(m),
    }
}

fn core(e: CoreError) -> Ec2Error {
    volume_error(VolumeError::Core(e))
}

fn to_tags(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}

fn from_tags(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

fn attachment_of(row: &VolumeRow, instance_ec2_id: &str) -> Option<VolumeAttachment> {
    Some(VolumeAttachment {
        volume_id: row.ec2_id.clone(),
        instance_id: instance_ec2_id.to_owned(),
        device: row.device.clone()?,
        state: row.attach_state.clone()?,
        attach_ms: row.attached_ms.unwrap_or(row.updated_ms),
        delete_on_termination: row.delete_on_termination(),
    })
}

fn volume_view(l: VolumeListing, tags: Vec<(String, String)>) -> Volume {
    let attachments = l
        .instance_ec2_id
        .as_deref()
        .and_then(|i| attachment_of(&l.row, i))
        .into_iter()
        .collect();
    let r = l.row;
    Volume {
        volume_id: r.ec2_id,
        size_gib: r.size_gib,
        snapshot_id: l.snapshot_ec2_id,
        availability_zone: l.zone_name,
        state: r.state,
        created_ms: r.created_ms,
        volume_type: r.volume_type,
        iops: r.iops,
        throughput: r.throughput,
        attachments,
        tags: to_tags(tags),
    }
}

/// Listed volumes as the door shows them, each with its tags taken out of `tags`.
fn volume_views_of(
    rows: Vec<VolumeListing>,
    tags: &mut HashMap<String, Vec<(String, String)>>,
) -> Vec<Volume> {
    rows.into_iter()
        .map(|l| {
            let t = tags.remove(&l.row.id).unwrap_or_default();
            volume_view(l, t)
        })
        .collect()
}

fn snapshot_view(
    l: SnapshotListing,
    permissions: Vec<String>,
    tags: Vec<(String, String)>,
) -> Snapshot {
    let r = l.row;
    Snapshot {
        snapshot_id: r.ec2_id,
        volume_id: r.volume_ec2_id,
        state: r.state,
        state_message: r.state_message,
        progress: r.progress,
        start_ms: r.created_ms,
        owner_id: l.owner_number,
        volume_size_gib: r.size_gib,
        description: r.description,
        create_volume_permissions: permissions,
        tags: to_tags(tags),
    }
}

fn modification_view(volume_id: String, m: volume::Modification) -> VolumeModification {
    VolumeModification {
        volume_id,
        state: m.state,
        target_size_gib: m.target_size_gib,
        target_type: m.target_type,
        target_iops: m.target_iops,
        target_throughput: m.target_throughput,
        original_size_gib: m.original_size_gib,
        original_type: m.original_type,
        original_iops: m.original_iops,
        original_throughput: m.original_throughput,
        progress: m.progress,
        start_ms: m.started_ms,
        end_ms: m.ended_ms,
    }
}

/// The volumes RunInstances makes beside each instance's root, and the root's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct LaunchVolumes {
    pub root: Option<BlockDeviceRequest>,
    pub extra: Vec<BlockDeviceRequest>,
}

impl LaunchVolumes {
    /// Sets the root volume's size, type and delete-on-termination, and makes the extra
    /// volumes attached to the new instance, in the launch's transaction; every one of them
    /// gets `tags` (RunInstances' `volume` tag specifications).
    pub(crate) async fn attach(
        &self,
        db: &mut AnyConnection,
        account_id: &str,
        account_number: &str,
        i: &InstanceRow,
        root_size_gib: i64,
        tags: &[(String, String)],
    ) -> crate::error::CoreResult<()> {
        let root = self.root.clone().unwrap_or_default();
        let volume_type = root
            .volume_type
            .unwrap_or_else(|| volume::DEFAULT_TYPE.to_owned());
        let iops = match volume_type.as_str() {
            "gp2" => Some((root_size_gib * 3).clamp(100, 16_000)),
            "gp3" => root.iops.or(Some(3000)),
            _ => root.iops,
        };
        let throughput = match volume_type.as_str() {
            "gp3" => root.throughput.or(Some(125)),
            _ => None,
        };
        sqlx::query(
            "UPDATE volumes SET size_gib = $2, volume_type = $3, iops = $4, throughput = $5, \
             delete_on_termination = $6 WHERE instance_id = $1 AND kind = 'root'",
        )
        .bind(&i.id)
        .bind(root_size_gib)
        .bind(&volume_type)
        .bind(iops)
        .bind(throughput)
        .bind(i64::from(root.delete_on_termination.unwrap_or(true)))
        .execute(&mut *db)
        .await?;
        if !tags.is_empty() {
            let roots = volume::of_instance(db, &i.id).await.map_err(core_of)?;
            let resources: Vec<TaggedResource> = roots
                .iter()
                .filter(|v| v.is_root())
                .map(|v| TaggedResource {
                    kind: TaggedKind::Volume,
                    id: v.id.clone(),
                    ec2_id: v.ec2_id.clone(),
                })
                .collect();
            tag::set(db, account_id, &resources, tags).await?;
        }
        for b in &self.extra {
            let req = VolumeRequest {
                account_id: account_id.to_owned(),
                account_number: account_number.to_owned(),
                zone_id: i.zone_id.clone(),
                size_gib: b.size_gib,
                volume_type: b.volume_type.clone(),
                iops: b.iops,
                throughput: b.throughput,
                snapshot: b.snapshot_id.clone(),
                attach_to: Some((i.id.clone(), b.device.clone())),
                delete_on_termination: b.delete_on_termination.unwrap_or(true),
                tags: tags.to_vec(),
                ..VolumeRequest::default()
            };
            create_volume_in(db, &req).await.map_err(core_of)?;
        }
        Ok(())
    }
}

/// A volume failure inside a launch, as the launch's own error.
fn core_of(e: VolumeError) -> CoreError {
    match e {
        VolumeError::Core(c) => c,
        other => CoreError::InvalidParameter(other.to_string()),
    }
}

impl Translator {
    fn account_scope<'a>(&self, caller: &'a Caller) -> Option<&'a str> {
        Some(caller.account_id.as_str())
    }

    /// Checks RunInstances' block device mappings before anything is made; splits them into
    /// the root's and the extra volumes.
    pub(crate) async fn launch_volumes(
        &self,
        caller: &Caller,
        devices: &[BlockDeviceRequest],
        root_size_gib: i64,
    ) -> Result<LaunchVolumes, Ec2Error> {
        let mut out = LaunchVolumes::default();
        let mut conn = self
            .cloud
            .store
            .pool
            .acquire()
            .await
            .map_err(|e| Ec2Error::internal(e.to_string()))?;
        for b in devices.iter().filter(|b| !b.no_device) {
            let is_root = cirrus_ec2::actions::compute::ROOT_DEVICES.contains(&b.device.as_str());
            if is_root {
                if b.snapshot_id.is_some() {
                    return Err(Ec2Error::new(
                        Code::UnsupportedOperation,
                        "A root volume from a snapshot is not supported yet; launch from an image.",
                    ));
                }
                let t = b.volume_type.as_deref().unwrap_or(volume::DEFAULT_TYPE);
                check_performance(t, root_size_gib, b.iops, b.throughput).map_err(volume_error)?;
                out.root = Some(b.clone());
                continue;
            }
            if !valid_device(&b.device) {
                return Err(Ec2Error::invalid_value(format!(
                    "Invalid device name {}: use /dev/sdf to /dev/sdp or /dev/xvdb to /dev/xvdz.",
                    b.device
                )));
            }
            let mut size = b.size_gib;
            if let Some(s) = &b.snapshot_id {
                let snap =
                    snapshot::usable(&mut conn, &caller.account_id, &caller.account_number, s)
                        .await
                        .map_err(volume_error)?;
                size = Some(size.unwrap_or(snap.size_gib));
            }
            let Some(size) = size else {
                return Err(Ec2Error::new(
                    Code::MissingParameter,
                    format!(
                        "The block device mapping of {} must give Ebs.VolumeSize or Ebs.SnapshotId.",
                        b.device
                    ),
                ));
            };
            let t = b.volume_type.as_deref().unwrap_or(volume::DEFAULT_TYPE);
            check_performance(t, size, b.iops, b.throughput).map_err(volume_error)?;
            out.extra.push(b.clone());
        }
        Ok(out)
    }

    /// Each instance's volumes as block device mappings, by the instance's EC2 id: every
    /// instance of the account, or those of `ids` (native ids).
    pub(crate) async fn block_devices(
        &self,
        account_id: &str,
        ids: Option<&[&str]>,
    ) -> crate::error::CoreResult<HashMap<String, Vec<BlockDevice>>> {
        type Row = (String, String, String, String, Option<i64>, i64, i64);
        let base = "SELECT i.ec2_id, v.device, v.ec2_id, v.attach_state, v.attached_ms, \
                    v.created_ms, v.delete_on_termination FROM volumes v \
                    JOIN instances i ON i.id = v.instance_id WHERE v.account_id = $1";
        let rows: Vec<Row> = match ids {
            None => {
                sqlx::query_as(base)
                    .bind(account_id)
                    .fetch_all(&self.cloud.store.pool)
                    .await?
            }
            Some([]) => Vec::new(),
            Some(ids) => {
                let marks: Vec<String> = (0..ids.len()).map(|n| format!("${}", n + 2)).collect();
                let sql = format!("{base} AND v.instance_id IN ({})", marks.join(", "));
                let mut q = sqlx::query_as(&sql).bind(account_id);
                for id in ids {
                    q = q.bind(*id);
                }
                q.fetch_all(&self.cloud.store.pool).await?
            }
        };
        let mut out: HashMap<String, Vec<BlockDevice>> = HashMap::new();
        for (instance, device, volume_id, state, attached_ms, created_ms, dot) in rows {
            out.entry(instance).or_default().push(BlockDevice {
                device,
                volume_id,
                state,
                attach_ms: attached_ms.unwrap_or(created_ms),
                delete_on_termination: dot != 0,
            });
        }
        for list in out.values_mut() {
            // The root first, then by device name.
            list.sort_by(|a, b| {
                (a.device != ROOT_DEVICE, &a.device).cmp(&(b.device != ROOT_DEVICE, &b.device))
            });
        }
        Ok(out)
    }

    pub(crate) async fn volume_views(&self, caller: &Caller) -> Result<Vec<Volume>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        let (rows, mut tags) = tokio::try_join!(
            async {
                volume::list(pool, Some(&caller.account_id))
                    .await
                    .map_err(volume_error)
            },
            async {
                tag::by_resource(pool, &caller.account_id, TaggedKind::Volume)
                    .await
                    .map_err(core)
            },
        )?;
        Ok(volume_views_of(rows, &mut tags))
    }

    /// One page of the caller's volumes (see [`volume::page_of_account`]); the tags are read
    /// for the page's volumes only.
    pub(crate) async fn volume_page_views(
        &self,
        caller: &Caller,
        after: Option<&VolumeCursor>,
        limit: usize,
    ) -> Result<VolumePage, Ec2Error> {
        let pool = &self.cloud.store.pool;
        let account = caller.account_id.as_str();
        let after = after.map(|c| (c.created_ms, c.key.as_str()));
        let (rows, more) = volume::page_of_account(pool, account, after, limit)
            .await
            .map_err(volume_error)?;
        let ids: Vec<&str> = rows.iter().map(|l| l.row.id.as_str()).collect();
        let mut tags = tag::of_resources(pool, account, TaggedKind::Volume, &ids)
            .await
            .map_err(core)?;
        let next = rows.last().filter(|_| more).map(|l| VolumeCursor {
            created_ms: l.row.created_ms,
            key: l.row.id.clone(),
        });
        Ok(VolumePage {
            volumes: volume_views_of(rows, &mut tags),
            next,
        })
    }

    async fn one_volume(&self, caller: &Caller, ec2_id: &str) -> Result<Volume, Ec2Error> {
        self.volume_views(caller)
            .await?
            .into_iter()
            .find(|v| v.volume_id == ec2_id)
            .ok_or_else(|| volume_error(VolumeError::VolumeNotFound(ec2_id.to_owned())))
    }

    pub(crate) async fn ec2_create_volume(
        &self,
        caller: &Caller,
        req: &NewVolume,
        dry_run: bool,
    ) -> Result<Volume, Ec2Error> {
        let mut conn = self
            .cloud
            .store
            .pool
            .acquire()
            .await
            .map_err(|e| Ec2Error::internal(e.to_string()))?;
        let zone = infra::zone_by_name(&mut conn, &req.availability_zone)
            .await
            .map_err(core)?
            .ok_or_else(|| {
                Ec2Error::invalid_value(format!(
                    "Invalid availability zone: [{}]",
                    req.availability_zone
                ))
            })?;
        if let Some(s) = &req.snapshot_id {
            snapshot::usable(&mut conn, &caller.account_id, &caller.account_number, s)
                .await
                .map_err(volume_error)?;
        }
        drop(conn);
        if let Some(size) = req.size_gib {
            let t = req.volume_type.as_deref().unwrap_or(volume::DEFAULT_TYPE);
            check_performance(t, size, req.iops, req.throughput).map_err(volume_error)?;
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let row = self
            .cloud
            .orchestrator
            .create_volume(&VolumeRequest {
                account_id: caller.account_id.clone(),
                account_number: caller.account_number.clone(),
                zone_id: zone.id.clone(),
                size_gib: req.size_gib,
                volume_type: req.volume_type.clone(),
                iops: req.iops,
                throughput: req.throughput,
                snapshot: req.snapshot_id.clone(),
                client_token: req.client_token.clone(),
                tags: from_tags(&req.tags),
                ..VolumeRequest::default()
            })
            .await
            .map_err(volume_error)?;
        let mut view = self.one_volume(caller, &row.ec2_id).await?;
        // The answer shows the volume as it was made, as EC2's does.
        view.state = row.state;
        Ok(view)
    }

    pub(crate) async fn ec2_attach_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
        instance_id: &str,
        device: &str,
        dry_run: bool,
    ) -> Result<VolumeAttachment, Ec2Error> {
        if dry_run {
            self.one_volume(caller, volume_id).await?;
            return Err(Ec2Error::dry_run());
        }
        let row = self
            .cloud
            .orchestrator
            .attach_volume(self.account_scope(caller), volume_id, instance_id, device)
            .await
            .map_err(volume_error)?;
        attachment_of(&row, instance_id)
            .ok_or_else(|| Ec2Error::internal("an attached volume has no attachment"))
    }

    pub(crate) async fn ec2_detach_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
        instance_id: Option<&str>,
        device: Option<&str>,
        force: bool,
        dry_run: bool,
    ) -> Result<VolumeAttachment, Ec2Error> {
        let before = self.one_volume(caller, volume_id).await?;
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let row = self
            .cloud
            .orchestrator
            .detach_volume(
                self.account_scope(caller),
                volume_id,
                instance_id,
                device,
                force,
            )
            .await
            .map_err(volume_error)?;
        let instance = before
            .attachments
            .first()
            .map(|a| a.instance_id.clone())
            .unwrap_or_default();
        attachment_of(&row, &instance)
            .ok_or_else(|| Ec2Error::internal("a detaching volume has no attachment"))
    }

    pub(crate) async fn ec2_delete_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        if dry_run {
            self.one_volume(caller, volume_id).await?;
            return Err(Ec2Error::dry_run());
        }
        self.cloud
            .orchestrator
            .delete_volume(self.account_scope(caller), volume_id)
            .await
            .map_err(volume_error)
    }

    pub(crate) async fn ec2_modify_volume(
        &self,
        caller: &Caller,
        change: &VolumeChange,
        dry_run: bool,
    ) -> Result<VolumeModification, Ec2Error> {
        if dry_run {
            self.one_volume(caller, &change.volume_id).await?;
            return Err(Ec2Error::dry_run());
        }
        let (v, m) = self
            .cloud
            .orchestrator
            .modify_volume(
                self.account_scope(caller),
                &change.volume_id,
                change.size_gib,
                change.volume_type.as_deref(),
                change.iops,
                change.throughput,
            )
            .await
            .map_err(volume_error)?;
        Ok(modification_view(v.ec2_id, m))
    }

    pub(crate) async fn ec2_volume_modifications(
        &self,
        caller: &Caller,
    ) -> Result<Vec<VolumeModification>, Ec2Error> {
        let rows = volume::modifications(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(volume_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, m)| modification_view(id, m))
            .collect())
    }

    pub(crate) async fn snapshot_views(&self, caller: &Caller) -> Result<Vec<Snapshot>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        let rows = snapshot::visible(pool, Some((&caller.account_id, &caller.account_number)))
            .await
            .map_err(volume_error)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::Snapshot)
            .await
            .map_err(core)?;
        let mut permissions: HashMap<String, Vec<String>> = HashMap::new();
        let granted: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.snapshot_id, p.grantee FROM snapshot_permissions p \
             JOIN snapshots s ON s.id = p.snapshot_id WHERE s.account_id = $1 \
             ORDER BY p.snapshot_id, p.grantee",
        )
        .bind(&caller.account_id)
        .fetch_all(pool)
        .await
        .map_err(|e| Ec2Error::internal(e.to_string()))?;
        for (id, g) in granted {
            permissions.entry(id).or_default().push(g);
        }
        Ok(rows
            .into_iter()
            .map(|l| {
                let t = tags.remove(&l.row.id).unwrap_or_default();
                let p = permissions.remove(&l.row.id).unwrap_or_default();
                snapshot_view(l, p, t)
            })
            .collect())
    }

    async fn one_snapshot(&self, caller: &Caller, ec2_id: &str) -> Result<Snapshot, Ec2Error> {
        self.snapshot_views(caller)
            .await?
            .into_iter()
            .find(|s| s.snapshot_id == ec2_id)
            .ok_or_else(|| volume_error(VolumeError::SnapshotNotFound(ec2_id.to_owned())))
    }

    pub(crate) async fn ec2_create_snapshot(
        &self,
        caller: &Caller,
        volume_id: &str,
        req: &NewSnapshot,
        dry_run: bool,
    ) -> Result<Snapshot, Ec2Error> {
        if dry_run {
            self.one_volume(caller, volume_id).await?;
            return Err(Ec2Error::dry_run());
        }
        let s = self
            .cloud
            .orchestrator
            .create_snapshot(
                self.cloud.objects.clone(),
                self.snapshot_scratch(),
                self.account_scope(caller),
                volume_id,
                &SnapshotRequest {
                    description: req.description.clone(),
                    tags: from_tags(&req.tags),
                    name: None,
                },
            )
            .await
            .map_err(volume_error)?;
        Ok(Snapshot {
            snapshot_id: s.ec2_id,
            volume_id: s.volume_ec2_id,
            state: s.state,
            state_message: s.state_message,
            progress: s.progress,
            start_ms: s.created_ms,
            owner_id: caller.account_number.clone(),
            volume_size_gib: s.size_gib,
            description: s.description,
            create_volume_permissions: vec![],
            tags: req.tags.clone(),
        })
    }

    pub(crate) async fn ec2_copy_snapshot(
        &self,
        caller: &Caller,
        source_region: &str,
        source_id: &str,
        req: &NewSnapshot,
        dry_run: bool,
    ) -> Result<Snapshot, Ec2Error> {
        if source_region != self.cloud.region {
            return Err(Ec2Error::invalid_value(format!(
                "The source region '{source_region}' is not this cloud's region ({}); Cirrus \
                 copies snapshots within its one region.",
                self.cloud.region
            )));
        }
        self.one_snapshot(caller, source_id).await?;
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let s = self
            .cloud
            .orchestrator
            .copy_snapshot_of(
                &self.cloud.objects,
                &caller.account_id,
                &caller.account_number,
                source_id,
                &SnapshotRequest {
                    description: req.description.clone(),
                    tags: from_tags(&req.tags),
                    name: None,
                },
            )
            .await
            .map_err(volume_error)?;
        self.one_snapshot(caller, &s.ec2_id).await
    }

    pub(crate) async fn ec2_delete_snapshot(
        &self,
        caller: &Caller,
        snapshot_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        if dry_run {
            self.one_snapshot(caller, snapshot_id).await?;
            return Err(Ec2Error::dry_run());
        }
        self.cloud
            .orchestrator
            .delete_snapshot(&self.cloud.objects, self.account_scope(caller), snapshot_id)
            .await
            .map_err(volume_error)
    }

    pub(crate) async fn ec2_change_snapshot_permissions(
        &self,
        caller: &Caller,
        snapshot_id: &str,
        change: &PermissionChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| Ec2Error::internal(e.to_string()))?;
        let s = snapshot::owned(&mut tx, Some(&caller.account_id), snapshot_id)
            .await
            .map_err(volume_error)?;
        if change.reset {
            snapshot::reset_permissions(&mut tx, &s.id)
                .await
                .map_err(volume_error)?;
        }
        snapshot::change_permissions(&mut tx, &s.id, &change.add, &change.remove)
            .await
            .map_err(volume_error)?;
        tx.commit()
            .await
            .map_err(|e| Ec2Error::internal(e.to_string()))?;
        Ok(())
    }
}
