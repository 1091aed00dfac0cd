//! Volume and snapshot operations: create, attach, detach, resize, delete, snapshot and delete
//! a snapshot. Each checks and records its intent in one write transaction (the checks are
//! made inside it, so two requests racing for one device name or one volume cannot both win),
//! then drives the host through the instance's driver, then records the outcome.
//!
//! Attach, detach and resize are quick on every driver and finish inside the request (the
//! attachment is `attaching` while the host works). A snapshot is `pending` while its bytes are
//! copied in the background and stored as one object in a system bucket of secondary storage,
//! then `completed` (or `error`, with the reason).
//!
//! LIMITATION: an attach, detach or snapshot copy in flight when its management server dies is
//! not taken over by another server (they are not durable jobs): the volume stays `attaching`
//! or `detaching`, the snapshot `pending`, until an operator repairs it.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};
use sqlx::AnyConnection;
use tracing::{info, warn};

use super::jobs::{FailureCode, JobFailure};
use super::Orchestrator;
use crate::driver::{DataVolume, Driver, VolumeDisk};
use crate::model::infra::Hypervisor;
use crate::model::instance::{self, InstanceRow, InstanceState};
use crate::model::snapshot::{self, NewSnapshot, SnapshotRow};
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::model::template::Template;
use crate::model::volume::{
    self, AttachState, NewVolume, VolumeError, VolumeKind, VolumeResult, VolumeRow, VolumeState,
};
use crate::storage::{CannedAcl, NewObject, ObjectMeta, ObjectStore, Precondition, Requester};
use crate::storage::{InBody, StorageError};

/// The system bucket snapshots' bytes are kept in.
pub const SNAPSHOT_BUCKET: &str = "cirrus-system-snapshots";
const GIB: i64 = 1 << 30;

/// What a new data volume is asked to be.
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    pub account_id: String,
    /// The account's 12-digit number (for snapshots shared with it).
    pub account_number: String,
    pub zone_id: String,
    pub name: Option<String>,
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    /// A snapshot by native or EC2 id.
    pub snapshot: Option<String>,
    pub disk_offering_id: Option<String>,
    pub client_token: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Attached at once (RunInstances' block device mappings): instance id and device.
    pub attach_to: Option<(String, String)>,
    pub delete_on_termination: bool,
}

/// A snapshot asked for.
#[derive(Debug, Clone, Default)]
pub struct SnapshotRequest {
    pub description: String,
    /// Its own name (the native door's `name`).
    pub name: Option<String>,
    pub tags: Vec<(String, String)>,
}

fn disk(v: &VolumeRow) -> VolumeDisk {
    VolumeDisk {
        id: v.id.clone(),
        ec2_id: v.ec2_id.clone(),
        size_bytes: u64::try_from(v.size_bytes()).unwrap_or(0),
        root: v.is_root(),
    }
}

/// The root volume of a new instance, in its launch's transaction: as large as its template
/// (at least 1 GiB), deleted with the instance.
pub async fn insert_root(
    db: &mut AnyConnection,
    i: &InstanceRow,
    template: &Template,
) -> crate::error::CoreResult<()> {
    let size = ((template.size_bytes + GIB - 1) / GIB).max(1);
    let root = NewVolume::root(&i.account_id, &i.zone_id, &i.id, size);
    match volume::insert(db, &root).await {
        Ok(_) => Ok(()),
        Err(VolumeError::Core(e)) => Err(e),
        Err(e) => Err(crate::error::CoreError::Internal(e.to_string())),
    }
}

/// A device name EC2 and Linux accept for a data volume: `/dev/sd[b-z]`, `/dev/xvd[b-z]`,
/// `/dev/vd[b-z]`, `/dev/hd[b-z]`, optionally with a second letter or a partition digit.
pub fn valid_device(device: &str) -> bool {
    let rest = ["/dev/sd", "/dev/xvd", "/dev/vd", "/dev/hd"]
        .iter()
        .find_map(|p| device.strip_prefix(p));
    let Some(rest) = rest else {
        return false;
    };
    let b = rest.as_bytes();
    match b {
        [c] => (b'b'..=b'z').contains(c),
        [c, d] => c.is_ascii_lowercase() && (d.is_ascii_lowercase() || d.is_ascii_digit()),
        [c, d, e] => c.is_ascii_lowercase() && d.is_ascii_lowercase() && e.is_ascii_digit(),
        _ => false,
    }
}

/// Checks a volume's type, IOPS and throughput, as EC2 does.
pub fn check_performance(
    volume_type: &str,
    size_gib: i64,
    iops: Option<i64>,
    throughput: Option<i64>,
) -> VolumeResult<()> {
    if !volume::TYPES.contains(&volume_type) {
        return Err(VolumeError::InvalidParameter(format!(
            "the volume type '{volume_type}' is not one of {}",
            volume::TYPES.join(", ")
        )));
    }
    let min_size = match volume_type {
        "io1" | "io2" => 4,
        "st1" | "sc1" => 125,
        _ => 1,
    };
    if !(min_size..=volume::MAX_SIZE_GIB).contains(&size_gib) {
        return Err(VolumeError::InvalidParameter(format!(
            "the size {size_gib} GiB is not within {min_size} to {} GiB for a {volume_type} volume",
            volume::MAX_SIZE_GIB
        )));
    }
    match (volume_type, iops) {
        ("io1" | "io2", None) => {
            return Err(VolumeError::InvalidParameter(format!(
                "the parameter iops must be specified for {volume_type} volumes"
            )))
        }
        ("io1" | "io2" | "gp3", Some(n)) if !(100..=256_000).contains(&n) => {
            return Err(VolumeError::InvalidParameter(format!(
                "the iops {n} is not within 100 to 256000"
            )))
        }
        ("io1" | "io2" | "gp3", _) | (_, None) => {}
        (other, Some(_)) => {
            return Err(VolumeError::InvalidCombination(format!(
                "the parameter iops is not supported for {other} volumes"
            )))
        }
    }
    match (volume_type, throughput) {
        ("gp3", Some(t)) if !(125..=2000).contains(&t) => Err(VolumeError::InvalidParameter(
            format!("the throughput {t} MiB/s is not within 125 to 2000"),
        )),
        ("gp3", _) | (_, None) => Ok(()),
        (other, Some(_)) => Err(VolumeError::InvalidCombination(format!(
            "the parameter throughput is not supported for {other} volumes"
        ))),
    }
}

/// Makes a data volume (perhaps from a snapshot, perhaps attached at once in a launch's
/// transaction when `db` is the launch's). Answers it as made: `creating`.
pub async fn create_volume_in(
    db: &mut AnyConnection,
    req: &VolumeRequest,
) -> VolumeResult<VolumeRow> {
    if let Some(token) = &req.client_token {
        if let Some(earlier) = volume::by_token(db, &req.account_id, token).await? {
            return Ok(earlier);
        }
    }
    let from = match &req.snapshot {
        Some(id) => {
            let s = snapshot::usable(db, &req.account_id, &req.account_number, id).await?;
            if s.state != snapshot::SnapshotState::Completed.as_str() {
                return Err(VolumeError::IncorrectState {
                    what: "snapshot",
                    id: s.ec2_id.clone(),
                    state: s.state.clone(),
                    wanted: "completed".into(),
                });
            }
            Some(s)
        }
        None => None,
    };
    let size_gib = match (req.size_gib, &from) {
        (Some(n), Some(s)) if n < s.size_gib => {
            return Err(VolumeError::InvalidParameter(format!(
                "the volume size {n} GiB is smaller than the snapshot {}, which is {} GiB",
                s.ec2_id, s.size_gib
            )))
        }
        (Some(n), _) => n,
        (None, Some(s)) => s.size_gib,
        (None, None) => {
            return Err(VolumeError::InvalidParameter(
                "the size of a volume must be given when it is not made from a snapshot".into(),
            ))
        }
    };
    let volume_type = req
        .volume_type
        .clone()
        .unwrap_or_else(|| volume::DEFAULT_TYPE.to_owned());
    check_performance(&volume_type, size_gib, req.iops, req.throughput)?;
    let iops = match (volume_type.as_str(), req.iops) {
        ("gp3", None) => Some(3000),
        ("gp2", _) => Some((size_gib * 3).clamp(100, 16_000)),
        (_, i) => i,
    };
    let throughput = match (volume_type.as_str(), req.throughput) {
        ("gp3", None) => Some(125),
        (_, t) => t,
    };
    let (instance_id, device) = match &req.attach_to {
        Some((i, d)) => (Some(i.clone()), Some(d.clone())),
        None => (None, None),
    };
    let new = NewVolume {
        account_id: req.account_id.clone(),
        zone_id: req.zone_id.clone(),
        name: req.name.clone(),
        kind: VolumeKind::Data,
        size_gib,
        volume_type,
        iops,
        throughput,
        state: if instance_id.is_some() {
            VolumeState::InUse
        } else {
            VolumeState::Creating
        },
        instance_id,
        device,
        delete_on_termination: req.delete_on_termination,
        disk_offering_id: req.disk_offering_id.clone(),
        snapshot_id: from.map(|s| s.id),
        client_token: req.client_token.clone(),
    };
    let row = volume::insert(db, &new).await?;
    if !req.tags.is_empty() {
        let r = TaggedResource {
            kind: TaggedKind::Volume,
            id: row.id.clone(),
            ec2_id: row.ec2_id.clone(),
        };
        tag::set(db, &req.account_id, &[r], &req.tags).await?;
    }
    Ok(row)
}

fn instance_state_error(i: &InstanceRow, wanted: &str) -> VolumeError {
    VolumeError::InstanceState {
        id: i.ec2_id.clone(),
        state: i.state.clone(),
        wanted: wanted.to_owned(),
    }
}

impl Orchestrator {
    fn driver_of(&self, hypervisor: &str) -> VolumeResult<&Arc<dyn Driver>> {
        Hypervisor::parse(hypervisor)
            .and_then(|h| self.drivers.get(h))
            .ok_or_else(|| {
                VolumeError::Host(format!("this management server has no {hypervisor} driver"))
            })
    }

    /// The instance of the account a volume operation names.
    async fn volume_instance(
        &self,
        db: &mut AnyConnection,
        account_id: Option<&str>,
        id: &str,
    ) -> VolumeResult<InstanceRow> {
        match instance::get(db, id).await {
            Ok(i) if account_id.is_none_or(|a| a == i.account_id) => Ok(i.row),
            Ok(_) | Err(crate::error::CoreError::NotFound { .. }) => {
                Err(VolumeError::InstanceNotFound(id.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes a data volume on its own: `creating` in the answer, `available` right after.
    pub async fn create_volume(&self, req: &VolumeRequest) -> VolumeResult<VolumeRow> {
        let mut tx = self.store.begin_write().await?;
        let row = create_volume_in(&mut tx, req).await?;
        tx.commit().await?;
        if row.state() == VolumeState::Creating {
            // Primary storage makes a volume's file when it is first attached, so a new volume
            // is ready as soon as its row is.
            let mut tx = self.store.begin_write().await?;
            volume::set_state(&mut tx, &row.id, VolumeState::Available).await?;
            tx.commit().await?;
            info!(volume = %row.ec2_id, size_gib = row.size_gib, "volume created");
        }
        Ok(row)
    }

    /// Attaches an available volume to an instance of its zone under `device`. Answers the
    /// volume as it was while attaching.
    pub async fn attach_volume(
        &self,
        account_id: Option<&str>,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> VolumeResult<VolumeRow> {
        if !valid_device(device) {
            return Err(VolumeError::InvalidParameter(format!(
                "the device name '{device}' is not a valid EBS device name (use /dev/sdf to \
                 /dev/sdp, or /dev/xvdb to /dev/xvdz)"
            )));
        }
        let mut tx = self.store.begin_write().await?;
        let v = volume::owned(&mut tx, account_id, volume_id).await?;
        let i = self
            .volume_instance(&mut tx, account_id, instance_id)
            .await?;
        match v.state() {
            VolumeState::Available => {}
            VolumeState::InUse => {
                let holder = match &v.instance_id {
                    Some(id) => instance::get(&mut tx, id).await?.row.ec2_id,
                    None => String::new(),
                };
                return Err(VolumeError::InUse {
                    volume: v.ec2_id.clone(),
                    state: v.state.clone(),
                    why: format!("it is already attached to instance '{holder}'"),
                });
            }
            _ => {
                return Err(VolumeError::IncorrectState {
                    what: "volume",
                    id: v.ec2_id.clone(),
                    state: v.state.clone(),
                    wanted: "available".into(),
                })
            }
        }
        if v.zone_id != i.zone_id {
            let zone = |id: &str| {
                let id = id.to_owned();
                async move {
                    crate::model::infra::list_zones(&self.store.pool)
                        .await
                        .ok()
                        .and_then(|zs| zs.into_iter().find(|z| z.id == id).map(|z| z.name))
                        .unwrap_or(id)
                }
            };
            return Err(VolumeError::ZoneMismatch {
                volume: v.ec2_id.clone(),
                volume_zone: zone(&v.zone_id).await,
                instance: i.ec2_id.clone(),
                instance_zone: zone(&i.zone_id).await,
            });
        }
        let state = InstanceState::parse(&i.state);
        if !matches!(state, Some(InstanceState::Running | InstanceState::Stopped))
            || i.target_state.is_some()
        {
            return Err(instance_state_error(&i, "running or stopped"));
        }
        volume::set_attachment(
            &mut tx,
            &v.id,
            VolumeState::InUse,
            Some((&i.id, device, AttachState::Attaching)),
        )
        .await
        .map_err(|e| match e {
            VolumeError::DeviceTaken { device, .. } => VolumeError::DeviceTaken {
                device,
                instance: i.ec2_id.clone(),
            },
            e => e,
        })?;
        let attaching = volume::get(&mut tx, &v.id).await?;
        tx.commit().await?;

        let plugged = match self.driver_of(&i.hypervisor) {
            Ok(d) => d
                .attach_volume(&i.id, &disk(&v))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut tx = self.store.begin_write().await?;
        match plugged {
            Ok(()) => {
                volume::set_attachment(
                    &mut tx,
                    &v.id,
                    VolumeState::InUse,
                    Some((&i.id, device, AttachState::Attached)),
                )
                .await?;
                tx.commit().await?;
                info!(volume = %v.ec2_id, instance = %i.ec2_id, device, "volume attached");
                Ok(attaching)
            }
            Err(why) => {
                volume::set_attachment(&mut tx, &v.id, VolumeState::Available, None).await?;
                tx.commit().await?;
                warn!(volume = %v.ec2_id, instance = %i.ec2_id, reason = %why, "attaching a volume failed");
                Err(VolumeError::Host(why))
            }
        }
    }

    /// Detaches a data volume. `instance_id` and `device`, when given, must match the
    /// attachment. Answers the volume as it was while detaching.
    pub async fn detach_volume(
        &self,
        account_id: Option<&str>,
        volume_id: &str,
        instance_id: Option<&str>,
        device: Option<&str>,
        force: bool,
    ) -> VolumeResult<VolumeRow> {
        let mut tx = self.store.begin_write().await?;
        let v = volume::owned(&mut tx, account_id, volume_id).await?;
        let Some(attached_to) = v.instance_id.clone() else {
            return Err(VolumeError::IncorrectState {
                what: "volume",
                id: v.ec2_id.clone(),
                state: v.state.clone(),
                wanted: "in-use".into(),
            });
        };
        let i = instance::get(&mut tx, &attached_to).await?.row;
        if let Some(wanted) = instance_id {
            if wanted != i.ec2_id && wanted != i.id {
                return Err(VolumeError::NotAttached {
                    volume: v.ec2_id.clone(),
                    to: format!(" to instance '{wanted}'"),
                });
            }
        }
        if let Some(d) = device {
            if v.device.as_deref() != Some(d) {
                return Err(VolumeError::NotAttached {
                    volume: v.ec2_id.clone(),
                    to: format!(" as device '{d}'"),
                });
            }
        }
        if v.is_root() {
            return Err(VolumeError::InvalidParameter(format!(
                "the volume '{}' is the root volume of instance '{}', which cannot be detached",
                v.ec2_id, i.ec2_id
            )));
        }
        if v.attach_state.as_deref() != Some(AttachState::Attached.as_str()) && !force {
            return Err(VolumeError::IncorrectState {
                what: "volume",
                id: v.ec2_id.clone(),
                state: v.attach_state.clone().unwrap_or_default(),
                wanted: "attached".into(),
            });
        }
        let device_name = v.device.clone().unwrap_or_default();
        volume::set_attachment(
            &mut tx,
            &v.id,
            VolumeState::InUse,
            Some((&i.id, &device_name, AttachState::Detaching)),
        )
        .await?;
        let detaching = volume::get(&mut tx, &v.id).await?;
        tx.commit().await?;

        let unplugged = match self.driver_of(&i.hypervisor) {
            Ok(d) => d
                .detach_volume(&i.id, &disk(&v), force)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut tx = self.store.begin_write().await?;
        match unplugged {
            Ok(()) => {
                volume::set_attachment(&mut tx, &v.id, VolumeState::Available, None).await?;
                tx.commit().await?;
                info!(volume = %v.ec2_id, instance = %i.ec2_id, "volume detached");
                Ok(detaching)
            }
            Err(why) => {
                volume::set_attachment(
                    &mut tx,
                    &v.id,
                    VolumeState::InUse,
                    Some((&i.id, &device_name, AttachState::Attached)),
                )
                .await?;
                tx.commit().await?;
                warn!(volume = %v.ec2_id, reason = %why, "detaching a volume failed");
                Err(VolumeError::Host(why))
            }
        }
    }

    /// Deletes an available volume (refused while it is attached).
    pub async fn delete_volume(
        &self,
        account_id: Option<&str>,
        volume_id: &str,
    ) -> VolumeResult<()> {
        let mut tx = self.store.begin_write().await?;
        let v = volume::owned(&mut tx, account_id, volume_id).await?;
        if v.instance_id.is_some() {
            return Err(VolumeError::InUse {
                volume: v.ec2_id.clone(),
                state: v.state.clone(),
                why: "it is attached to an instance".into(),
            });
        }
        if v.state() != VolumeState::Available && v.state() != VolumeState::Error {
            return Err(VolumeError::IncorrectState {
                what: "volume",
                id: v.ec2_id.clone(),
                state: v.state.clone(),
                wanted: "available".into(),
            });
        }
        volume::remove(&mut tx, &v.id).await?;
        tx.commit().await?;
        for d in self.drivers.all() {
            if let Err(e) = d.delete_volume(&disk(&v)).await {
                warn!(volume = %v.ec2_id, error = %e, "removing a deleted volume's file failed");
            }
        }
        info!(volume = %v.ec2_id, "volume deleted");
        Ok(())
    }

    /// Changes a volume's size (grow only), type, IOPS or throughput; records the change as a
    /// completed modification. Answers the volume before and after.
    pub async fn modify_volume(
        &self,
        account_id: Option<&str>,
        volume_id: &str,
        size_gib: Option<i64>,
        volume_type: Option<&str>,
        iops: Option<i64>,
        throughput: Option<i64>,
    ) -> VolumeResult<(VolumeRow, volume::Modification)> {
        let mut tx = self.store.begin_write().await?;
        let v = volume::owned(&mut tx, account_id, volume_id).await?;
        if !matches!(v.state(), VolumeState::Available | VolumeState::InUse) {
            return Err(VolumeError::IncorrectState {
                what: "volume",
                id: v.ec2_id.clone(),
                state: v.state.clone(),
                wanted: "available or in-use".into(),
            });
        }
        let new_size = size_gib.unwrap_or(v.size_gib);
        if new_size < v.size_gib {
            return Err(VolumeError::InvalidParameter(format!(
                "the new size {new_size} GiB of volume '{}' is smaller than its size, {} GiB; a \
                 volume can only grow",
                v.ec2_id, v.size_gib
            )));
        }
        let new_type = volume_type.unwrap_or(&v.volume_type).to_owned();
        let new_iops = match (iops, new_type.as_str()) {
            (Some(n), _) => Some(n),
            (None, "io1" | "io2" | "gp3") => v.iops,
            (None, _) => None,
        };
        let new_throughput = match (throughput, new_type.as_str()) {
            (Some(t), _) => Some(t),
            (None, "gp3") => v.throughput.or(Some(125)),
            (None, _) => None,
        };
        check_performance(
            &new_type,
            new_size,
            new_iops.filter(|_| iops.is_some() || new_type != "gp2"),
            new_throughput,
        )?;
        let now = crate::now_ms();
        let m = volume::Modification {
            volume_id: v.id.clone(),
            state: "completed".into(),
            original_size_gib: v.size_gib,
            target_size_gib: new_size,
            original_type: v.volume_type.clone(),
            target_type: new_type.clone(),
            original_iops: v.iops,
            target_iops: new_iops,
            original_throughput: v.throughput,
            target_throughput: new_throughput,
            progress: 100,
            started_ms: now,
            ended_ms: Some(now),
        };
        let grown = VolumeRow {
            size_gib: new_size,
            ..v.clone()
        };
        let attached = match &v.instance_id {
            Some(id) => Some(instance::get(&mut tx, id).await?.row),
            None => None,
        };
        // The host works outside the transaction (a driver may write to the store itself);
        // the change is recorded after, checked again against the size it started from.
        drop(tx);
        if new_size > v.size_gib {
            let drivers: Vec<&Arc<dyn Driver>> = match &attached {
                Some(i) => vec![self.driver_of(&i.hypervisor)?],
                None => self.drivers.all().iter().collect(),
            };
            for d in drivers {
                d.resize_volume(attached.as_ref().map(|i| i.id.as_str()), &disk(&grown))
                    .await
                    .map_err(|e| VolumeError::Host(e.to_string()))?;
            }
        }
        let mut tx = self.store.begin_write().await?;
        sqlx::query(
            "UPDATE volumes SET size_gib = $2, volume_type = $3, iops = $4, throughput = $5, \
             updated_ms = $6 WHERE id = $1 AND size_gib <= $2",
        )
        .bind(&v.id)
        .bind(new_size)
        .bind(&new_type)
        .bind(new_iops)
        .bind(new_throughput)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        volume::record_modification(&mut tx, &m).await?;
        tx.commit().await?;
        info!(volume = %v.ec2_id, size_gib = new_size, volume_type = %new_type, "volume modified");
        Ok((v, m))
    }

    /// The data volumes attached to an instance that is about to boot, as its host has them.
    pub(super) async fn boot_volumes(
        &self,
        i: &InstanceRow,
    ) -> Result<Vec<DataVolume>, JobFailure> {
        let failure = |code: FailureCode, text: String| JobFailure { code, text };
        let mut conn = self
            .store
            .pool
            .acquire()
            .await
            .map_err(|e| failure(FailureCode::Internal, e.to_string()))?;
        let attached = volume::of_instance(&mut conn, &i.id)
            .await
            .map_err(|e| failure(FailureCode::Internal, e.to_string()))?;
        drop(conn);
        let driver = self
            .driver_of(&i.hypervisor)
            .map_err(|e| failure(FailureCode::HostFailed, e.to_string()))?;
        let mut out = Vec::new();
        for v in attached.iter().filter(|v| !v.is_root()) {
            let path = driver
                .volume_for_boot(&disk(v))
                .await
                .map_err(|e| failure(FailureCode::HostFailed, e.to_string()))?;
            if let Some(path) = path {
                out.push(DataVolume {
                    id: v.id.clone(),
                    path,
                });
            }
        }
        Ok(out)
    }

    /// At an instance's expunge, in its transaction: root and delete-on-termination volumes
    /// go, the others are detached.
    pub(super) async fn release_volumes(
        &self,
        db: &mut AnyConnection,
        i: &InstanceRow,
    ) -> crate::error::CoreResult<()> {
        let removed = volume::release_instance(db, &i.id)
            .await
            .map_err(|e| match e {
                VolumeError::Core(c) => c,
                other => crate::error::CoreError::Internal(other.to_string()),
            })?;
        // The files go once the expunge is committed: a driver may write to the store, and
        // this runs inside the expunge's write transaction.
        let gone: Vec<VolumeDisk> = removed.iter().filter(|v| !v.is_root()).map(disk).collect();
        if !gone.is_empty() {
            let drivers = self.drivers.clone();
            tokio::spawn(async move {
                for v in &gone {
                    for d in drivers.all() {
                        if let Err(e) = d.delete_volume(v).await {
                            warn!(volume = %v.ec2_id, error = %e, "removing an expunged instance's volume failed");
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// Starts a snapshot of a volume: `pending` at once; the copy runs in the background into
    /// an object of [`SNAPSHOT_BUCKET`].
    pub async fn create_snapshot(
        self: &Arc<Self>,
        objects: Arc<ObjectStore>,
        scratch: PathBuf,
        account_id: Option<&str>,
        volume_id: &str,
        req: &SnapshotRequest,
    ) -> VolumeResult<SnapshotRow> {
        let mut tx = self.store.begin_write().await?;
        let v = volume::owned(&mut tx, account_id, volume_id).await?;
        let intent = snapshot_intent(&mut tx, v, req).await?;
        tx.commit().await?;
        let s = intent.snapshot.clone();
        self.start_snapshot_copy(objects, scratch, intent);
        Ok(s)
    }

    /// Copies a snapshot recorded by [`snapshot_intent`] (once its transaction is committed)
    /// in the background, and records the outcome.
    pub fn start_snapshot_copy(
        self: &Arc<Self>,
        objects: Arc<ObjectStore>,
        scratch: PathBuf,
        intent: SnapshotIntent,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let SnapshotIntent {
                snapshot: snap,
                volume: v,
                attached,
            } = intent;
            let outcome = me
                .copy_snapshot(&objects, &scratch, &v, attached.as_ref(), &snap)
                .await;
            let done = async {
                let mut tx = me.store.begin_write().await?;
                match &outcome {
                    Ok((key, bytes, hypervisor)) => {
                        snapshot::finish(&mut tx, &snap.id, Ok((SNAPSHOT_BUCKET, key, *bytes)))
                            .await?;
                        snapshot::set_hypervisor(&mut tx, &snap.id, Some(hypervisor.as_str()))
                            .await?;
                    }
                    Err(why) => snapshot::finish(&mut tx, &snap.id, Err(why)).await?,
                }
                tx.commit().await?;
                Ok::<(), VolumeError>(())
            };
            match (done.await, &outcome) {
                (Err(e), _) => {
                    warn!(snapshot = %snap.ec2_id, error = %e, "recording a snapshot failed")
                }
                (Ok(()), Ok((_, bytes, _))) => {
                    info!(snapshot = %snap.ec2_id, volume = %v.ec2_id, bytes, "snapshot completed")
                }
                (Ok(()), Err(why)) => {
                    warn!(snapshot = %snap.ec2_id, reason = %why, "snapshot failed")
                }
            }
        });
    }

    /// Copies a volume's bytes through its host and stores them; answers the key, the size
    /// and the hypervisor whose host held the volume.
    async fn copy_snapshot(
        &self,
        objects: &Arc<ObjectStore>,
        scratch: &std::path::Path,
        v: &VolumeRow,
        attached: Option<&InstanceRow>,
        s: &SnapshotRow,
    ) -> Result<(String, i64, Hypervisor), String> {
        std::fs::create_dir_all(scratch).map_err(|e| {
            format!(
                "cannot make the scratch directory {}: {e}",
                scratch.display()
            )
        })?;
        let target = scratch.join(format!("{}.snapshot", s.id));
        let _ = std::fs::remove_file(&target);
        let mut candidates: Vec<&Arc<dyn Driver>> = Vec::new();
        if let Some(i) = attached {
            candidates.push(self.driver_of(&i.hypervisor).map_err(|e| e.to_string())?);
        } else {
            // A detached volume is wherever its file is: real hosts first, the simulator last.
            let mut all: Vec<&Arc<dyn Driver>> = self.drivers.all().iter().collect();
            all.sort_by_key(|d| d.hypervisor() == Hypervisor::Simulator);
            candidates = all;
        }
        let mut found = None;
        for d in candidates {
            let copied = d
                .snapshot_volume(attached.map(|i| i.id.as_str()), &disk(v), &target)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(size) = copied {
                found = Some((size, d.hypervisor()));
                break;
            }
        }
        let Some((size, hypervisor)) = found else {
            return Err(format!("no host holds volume {}", v.ec2_id));
        };
        let key = format!("{}/{}", s.account_id, s.ec2_id);
        let stored = store_file(objects, &self.system_account().await?, &target, &key).await;
        let _ = std::fs::remove_file(&target);
        stored.map_err(|e| format!("storing the snapshot in secondary storage failed: {e}"))?;
        Ok((key, i64::try_from(size).unwrap_or(i64::MAX), hypervisor))
    }

    /// The account that owns the system buckets: the first root admin.
    async fn system_account(&self) -> Result<String, String> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM accounts WHERE role = 'root-admin' ORDER BY created_ms LIMIT 1",
        )
        .fetch_optional(&self.store.pool)
        .await
        .map_err(|e| e.to_string())?;
        row.map(|(id,)| id)
            .ok_or_else(|| "the cloud has no root admin account".to_owned())
    }

    /// Deletes a snapshot and its object; refused while an image uses it.
    pub async fn delete_snapshot(
        &self,
        objects: &Arc<ObjectStore>,
        account_id: Option<&str>,
        snapshot_id: &str,
    ) -> VolumeResult<()> {
        let mut tx = self.store.begin_write().await?;
        let s = snapshot::owned(&mut tx, account_id, snapshot_id).await?;
        if let Some(image) = crate::model::template::using_snapshot(&mut tx, &s.id).await? {
            return Err(VolumeError::SnapshotInUse {
                snapshot: s.ec2_id.clone(),
                image,
            });
        }
        if s.state == snapshot::SnapshotState::Pending.as_str() {
            return Err(VolumeError::IncorrectState {
                what: "snapshot",
                id: s.ec2_id.clone(),
                state: s.state.clone(),
                wanted: "completed".into(),
            });
        }
        snapshot::remove(&mut tx, &s.id).await?;
        tx.commit().await?;
        if let (Some(bucket), Some(key)) = (&s.bucket, &s.object_key) {
            let owner = self.system_account().await.map_err(VolumeError::Host)?;
            let who = Requester::Account {
                id: owner,
                root_admin: true,
            };
            if let Err(e) = objects.delete_object(&who, bucket, key).await {
                warn!(snapshot = %s.ec2_id, error = %e, "deleting a snapshot's object failed");
            }
        }
        info!(snapshot = %s.ec2_id, "snapshot deleted");
        Ok(())
    }

    /// Copies a completed snapshot (CopySnapshot within this region): the new snapshot shares
    /// nothing with the first but its bytes, which are copied object to object.
    pub async fn copy_snapshot_of(
        &self,
        objects: &Arc<ObjectStore>,
        account_id: &str,
        account_number: &str,
        source: &str,
        req: &SnapshotRequest,
    ) -> VolumeResult<SnapshotRow> {
        let mut tx = self.store.begin_write().await?;
        let from = snapshot::usable(&mut tx, account_id, account_number, source).await?;
        if from.state != snapshot::SnapshotState::Completed.as_str() {
            return Err(VolumeError::IncorrectState {
                what: "snapshot",
                id: from.ec2_id.clone(),
                state: from.state.clone(),
                wanted: "completed".into(),
            });
        }
        let new = NewSnapshot {
            account_id: account_id.to_owned(),
            volume_id: from.volume_id.clone(),
            volume_ec2_id: from.volume_ec2_id.clone(),
            volume_kind: from.volume_kind.clone(),
            zone_id: from.zone_id.clone(),
            size_gib: from.size_gib,
            description: req.description.clone(),
            name: req.name.clone(),
        };
        let s = insert_tagged(&mut tx, &new, &req.tags).await?;
        tx.commit().await?;
        let key = format!("{}/{}", account_id, s.ec2_id);
        let copied = self.copy_object(objects, &from, &key).await;
        let mut tx = self.store.begin_write().await?;
        match &copied {
            Ok(bytes) => {
                snapshot::finish(&mut tx, &s.id, Ok((SNAPSHOT_BUCKET, &key, *bytes))).await?;
                snapshot::set_hypervisor(&mut tx, &s.id, from.hypervisor.as_deref()).await?;
            }
            Err(why) => snapshot::finish(&mut tx, &s.id, Err(why)).await?,
        }
        tx.commit().await?;
        Ok(s)
    }

    async fn copy_object(
        &self,
        objects: &Arc<ObjectStore>,
        from: &SnapshotRow,
        key: &str,
    ) -> Result<i64, String> {
        let (Some(bucket), Some(from_key)) = (&from.bucket, &from.object_key) else {
            return Err(format!("the snapshot {} holds no bytes", from.ec2_id));
        };
        let who = Requester::Account {
            id: self.system_account().await?,
            root_admin: true,
        };
        let info = objects
            .object(&who, bucket, from_key)
            .await
            .map_err(|e| e.to_string())?;
        let reader = objects.reader(&info).await.map_err(|e| e.to_string())?;
        let body = objects
            .read(&reader, 0..info.size)
            .await
            .map_err(|e| e.to_string())?;
        let body: InBody = Box::pin(http_body_util::BodyExt::map_err(body, |e| {
            Box::new(std::io::Error::other(e.to_string())) as crate::storage::BoxError
        }));
        let staged = objects
            .write_blob(body, u64::MAX)
            .await
            .map_err(|e| e.to_string())?;
        let new = NewObject {
            etag: info.etag.clone(),
            meta: ObjectMeta::default(),
            checksum: None,
            acl: CannedAcl::Private,
        };
        objects
            .put_object(&who, bucket, key, staged, new, Precondition::Always)
            .await
            .map_err(|e| e.to_string())?;
        Ok(from.stored_bytes)
    }
}

/// Records a `pending` snapshot with its tags.
async fn insert_tagged(
    db: &mut AnyConnection,
    new: &NewSnapshot,
    tags: &[(String, String)],
) -> VolumeResult<SnapshotRow> {
    let s = snapshot::insert(db, new).await?;
    if !tags.is_empty() {
        let r = TaggedResource {
            kind: TaggedKind::Snapshot,
            id: s.id.clone(),
            ec2_id: s.ec2_id.clone(),
        };
        tag::set(db, &new.account_id, &[r], tags).await?;
    }
    Ok(s)
}

/// A snapshot recorded in a transaction, whose bytes are still to be copied.
#[derive(Debug, Clone)]
pub struct SnapshotIntent {
    pub snapshot: SnapshotRow,
    pub volume: VolumeRow,
    /// The instance the volume is attached to, if any.
    pub attached: Option<InstanceRow>,
}

/// Records a `pending` snapshot of a volume (with its tags) in the caller's transaction; the
/// copy starts with [`Orchestrator::start_snapshot_copy`] once that is committed.
pub async fn snapshot_intent(
    db: &mut AnyConnection,
    v: VolumeRow,
    req: &SnapshotRequest,
) -> VolumeResult<SnapshotIntent> {
    if !matches!(v.state(), VolumeState::Available | VolumeState::InUse) {
        return Err(VolumeError::IncorrectState {
            what: "volume",
            id: v.ec2_id.clone(),
            state: v.state.clone(),
            wanted: "available or in-use".into(),
        });
    }
    let new = NewSnapshot {
        account_id: v.account_id.clone(),
        volume_id: v.id.clone(),
        volume_ec2_id: v.ec2_id.clone(),
        volume_kind: v.kind.clone(),
        zone_id: v.zone_id.clone(),
        size_gib: v.size_gib,
        description: req.description.clone(),
        name: req.name.clone(),
    };
    let s = insert_tagged(db, &new, &req.tags).await?;
    let attached = match &v.instance_id {
        Some(id) => Some(instance::get(db, id).await?.row),
        None => None,
    };
    Ok(SnapshotIntent {
        snapshot: s,
        volume: v,
        attached,
    })
}

/// Stores a local file as an object of the system snapshot bucket (made on first use).
async fn store_file(
    objects: &Arc<ObjectStore>,
    owner: &str,
    path: &std::path::Path,
    key: &str,
) -> Result<(), StorageError> {
    let who = Requester::Account {
        id: owner.to_owned(),
        root_admin: true,
    };
    match objects
        .create_bucket(&who, SNAPSHOT_BUCKET, "", CannedAcl::Private)
        .await
    {
        Ok(_) | Err(StorageError::BucketOwnedByYou(_)) => {}
        Err(e) => return Err(e),
    }
    let etag = {
        let path = path.to_path_buf();
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut file = std::fs::File::open(&path)?;
            let mut hasher = Md5::new();
            std::io::copy(&mut file, &mut hasher)?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
        .map_err(|e| StorageError::Internal(e.to_string()))?
        .map_err(|e| StorageError::Internal(format!("reading {shown}: {e}")))?
    };
    let staged = objects
        .write_blob(file_body(path.to_path_buf()), u64::MAX)
        .await?;
    let new = NewObject {
        etag,
        meta: ObjectMeta {
            content_type: Some("application/octet-stream".into()),
            ..ObjectMeta::default()
        },
        checksum: None,
        acl: CannedAcl::Private,
    };
    objects
        .put_object(
            &who,
            SNAPSHOT_BUCKET,
            key,
            staged,
            new,
            Precondition::Always,
        )
        .await?;
    Ok(())
}

/// A body that reads a file in chunks, on a blocking thread.
fn file_body(path: PathBuf) -> InBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Box::pin(ChannelBody { rx })
}

struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = crate::storage::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|chunk| {
            chunk.map(|r| {
                r.map(hyper::body::Frame::data)
                    .map_err(|e| Box::new(e) as crate::storage::BoxError)
            })
        })
    }
}
