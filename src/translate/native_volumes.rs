//! The native door's volumes and snapshots, over the core: `listVolumes` and `listSnapshots`
//! in CloudStack's shapes, scoped like every other list (the caller's account, or what an
//! admin's domain and account parameters name), and createVolume, attachVolume, detachVolume,
//! resizeVolume, deleteVolume, createSnapshot and deleteSnapshot as the same orchestrator
//! operations the EC2 door calls, so a volume made through one door is the other's too.
//!
//! CloudStack checks a volume command's ids when it is submitted (an id the caller may not see
//! is unknown, 431) and everything else in its job, which fails with the error code and text
//! CloudStack would give. Attach, detach and resize jobs run here in the background: each waits
//! for the jobs of its instance the orchestrator has queued, then takes the instance's turn
//! among this server's volume jobs, so the jobs on one instance run one at a time. A snapshot's
//! job is pending exactly as long as its copy into secondary storage.
//!
//! LIMITATION: a volume job in flight when its management server stops stays pending for good
//! (it is not a durable orchestrator job), and an instance job submitted after a volume job
//! does not wait for it (a volume job takes milliseconds on every driver).

use std::time::Duration;

use cirrus_native::args::Listing;
use cirrus_native::requests::ById;
use cirrus_native::volumes::{
    CreateSnapshot, CreateVolume, DetachTarget, ListVolumes, Snapshot, Volume, VolumeJob,
};
use cirrus_native::wire::Timestamp;
use cirrus_native::{ApiError, Caller, ErrorCode, JobCommand, JobOutcome, JobStatus, PortError};

use super::{
    caller_tree, port_error, same_name, tag_views, unknown, Directory, JobEntry, Translator,
};
use crate::model::api_job::{self, NewApiJob};
use crate::model::offering::{self, DiskOffering};
use crate::model::scope::InstanceView;
use crate::model::snapshot::{self, SnapshotListing, SnapshotRow, SnapshotState};
use crate::model::tag::{self, TaggedKind};
use crate::model::volume::{self, VolumeError, VolumeListing, VolumeRow, VolumeState};
use crate::model::{infra, volume::MAX_SIZE_GIB};
use crate::orchestrator::jobs;
use crate::orchestrator::volumes::{SnapshotRequest, VolumeRequest};
use crate::translate::ec2_volumes::sentence;

/// How often a volume job looks whether its instance's queued jobs are done.
const INSTANCE_POLL: Duration = Duration::from_millis(100);
/// The device numbers a data volume may have: 0 is the root's, 3 the CD-ROM's.
const DATA_DEVICES: std::ops::RangeInclusive<i64> = 1..=25;
const CDROM_DEVICE: i64 = 3;

fn volume_state(state: &str) -> &'static str {
    match state {
        "creating" => "Allocated",
        "deleting" | "deleted" => "Destroy",
        "error" => "Error",
        _ => "Ready",
    }
}

fn snapshot_state(state: &str) -> &'static str {
    match state {
        "pending" => "Creating",
        "error" => "Error",
        _ => "BackedUp",
    }
}

/// The device number CloudStack shows for a device name: 0 for the root, then by letter.
fn device_number(device: &str, root: bool) -> i64 {
    if root {
        return 0;
    }
    device
        .bytes()
        .rev()
        .find(u8::is_ascii_lowercase)
        .map_or(1, |b| i64::from(b - b'a'))
}

/// The device name of a data device number: 1 is `/dev/sdb`.
fn device_name(number: i64) -> String {
    let letter = u8::try_from(number).map_or('?', |n| char::from(b'a' + n));
    format!("/dev/sd{letter}")
}

/// The core's refusals of a volume or snapshot operation in CloudStack's words and codes.
fn volume_failure(e: VolumeError) -> PortError {
    let invalid = |text: &str| PortError::InvalidParameter(text.to_owned());
    match e {
        VolumeError::Core(c) => port_error(c),
        VolumeError::VolumeNotFound(id) => invalid(&format!("Unable to find volume with ID: {id}")),
        VolumeError::SnapshotNotFound(id) => {
            invalid(&format!("unable to find a snapshot with id {id}"))
        }
        VolumeError::InstanceNotFound(_) => invalid("Please specify a valid User VM."),
        VolumeError::ZoneMismatch { .. } => {
            invalid("Please specify a VM that is in the same zone as the volume.")
        }
        VolumeError::InUse { .. } => {
            invalid("Please specify a volume that is not attached to any VM.")
        }
        VolumeError::NotAttached { .. } => invalid("The specified volume is not attached to a VM."),
        VolumeError::InstanceState { .. } => {
            invalid("Please specify a VM that is either running or stopped.")
        }
        e @ (VolumeError::DeviceTaken { .. }
        | VolumeError::IncorrectState { .. }
        | VolumeError::InvalidParameter(_)
        | VolumeError::InvalidCombination(_)) => invalid(&sentence(&e.to_string())),
        e @ VolumeError::SnapshotInUse { .. } => PortError::ResourceInUse(sentence(&e.to_string())),
        VolumeError::Host(cause) => PortError::Internal(format!("the host failed: {cause}")),
    }
}

/// A volume or snapshot the core found, or the unknown-id 431 for `param`.
fn known<T>(found: Result<T, VolumeError>, param: &'static str, id: &str) -> Result<T, PortError> {
    match found {
        Ok(t) => Ok(t),
        Err(VolumeError::VolumeNotFound(_) | VolumeError::SnapshotNotFound(_)) => {
            Err(unknown(param, id))
        }
        Err(e) => Err(volume_failure(e)),
    }
}

/// What a background volume job does once it is its instance's turn.
#[derive(Debug, Clone)]
enum Work {
    Attach {
        volume_id: String,
        instance_id: String,
        device_id: Option<i64>,
    },
    Detach {
        volume_id: String,
    },
    Resize {
        volume_id: String,
        size_gib: Option<i64>,
        offering: Option<DiskOffering>,
        shrink_ok: bool,
    },
}

impl Translator {
    fn volume_view(
        &self,
        dir: &Directory,
        l: &VolumeListing,
        tags: Option<&Vec<(String, String)>>,
    ) -> Option<Volume> {
        let r = &l.row;
        let account = dir.account(&r.account_id)?;
        let domain = dir.domain_of_account(&r.account_id);
        Some(Volume {
            id: r.id.clone(),
            name: r.name.clone(),
            zoneid: r.zone_id.clone(),
            zonename: l.zone_name.clone(),
            r#type: if r.is_root() { "ROOT" } else { "DATADISK" }.to_owned(),
            deviceid: r.device.as_deref().map(|d| device_number(d, r.is_root())),
            virtualmachineid: r.instance_id.clone(),
            vmname: l.instance_name.clone(),
            vmstate: l.instance_state.clone(),
            size: r.size_bytes(),
            state: volume_state(&r.state).to_owned(),
            created: Timestamp(r.created_ms),
            attached: r.attached_ms.map(Timestamp),
            account: account.name.clone(),
            domainid: account.domain_id.clone(),
            domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
            storagetype: "shared".into(),
            provisioningtype: "thin".into(),
            diskofferingid: r.disk_offering_id.clone(),
            snapshotid: r.snapshot_id.clone(),
            miniops: r.iops,
            tags: tag_views(tags, "Volume", &r.id, account, domain),
        })
    }

    fn snapshot_view(
        &self,
        dir: &Directory,
        l: &SnapshotListing,
        tags: Option<&Vec<(String, String)>>,
    ) -> Option<Snapshot> {
        let r = &l.row;
        let account = dir.account(&r.account_id)?;
        let domain = dir.domain_of_account(&r.account_id);
        Some(Snapshot {
            id: r.id.clone(),
            name: snapshot_name(l),
            volumeid: r.volume_id.clone(),
            volumename: l.volume_name.clone(),
            volumetype: if r.volume_kind == "root" {
                "ROOT"
            } else {
                "DATADISK"
            }
            .into(),
            snapshottype: "MANUAL".into(),
            intervaltype: None,
            state: snapshot_state(&r.state).to_owned(),
            created: Timestamp(r.created_ms),
            account: account.name.clone(),
            domainid: account.domain_id.clone(),
            domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
            zoneid: r.zone_id.clone(),
            physicalsize: r.stored_bytes,
            virtualsize: r.size_gib << 30,
            tags: tag_views(tags, "Snapshot", &r.id, account, domain),
        })
    }

    pub(super) async fn native_volumes(
        &self,
        caller: &Caller,
        req: &ListVolumes,
    ) -> Result<Listing<Volume>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        let rows = volume::list(self.pool(), None)
            .await
            .map_err(volume_failure)?;
        let mut items = Vec::new();
        for l in rows {
            if !dir.admits(&visibility, &l.row.account_id) {
                continue;
            }
            let r = &l.row;
            let kind = if r.is_root() { "ROOT" } else { "DATADISK" };
            let wanted = req.id.as_ref().is_none_or(|id| *id == r.id)
                && same_name(req.name.as_ref(), &r.name)
                && req.zone_id.as_ref().is_none_or(|z| *z == r.zone_id)
                && req
                    .virtual_machine_id
                    .as_ref()
                    .is_none_or(|i| r.instance_id.as_ref() == Some(i))
                && req.kind.as_deref().is_none_or(|k| k == kind)
                && cirrus_native::args::keyword_matches(req.keyword.as_deref(), &[&r.name]);
            if !wanted {
                continue;
            }
            let tags = tag::by_resource(self.pool(), &r.account_id, TaggedKind::Volume)
                .await
                .map_err(port_error)?;
            items.extend(self.volume_view(&dir, &l, tags.get(&r.id)));
        }
        Ok(req.page.slice(items))
    }

    pub(super) async fn native_snapshots(
        &self,
        caller: &Caller,
        req: &ListVolumes,
    ) -> Result<Listing<Snapshot>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        let rows = snapshot::visible(self.pool(), None)
            .await
            .map_err(volume_failure)?;
        let mut items = Vec::new();
        for l in rows {
            let r = &l.row;
            if !dir.admits(&visibility, &r.account_id) {
                continue;
            }
            let name = snapshot_name(&l);
            let wanted = req.id.as_ref().is_none_or(|id| *id == r.id)
                && same_name(req.name.as_ref(), &name)
                && req.zone_id.as_ref().is_none_or(|z| *z == r.zone_id)
                && req.volume_id.as_ref().is_none_or(|v| *v == r.volume_id)
                && cirrus_native::args::keyword_matches(req.keyword.as_deref(), &[&name]);
            if !wanted {
                continue;
            }
            let tags = tag::by_resource(self.pool(), &r.account_id, TaggedKind::Snapshot)
                .await
                .map_err(port_error)?;
            items.extend(self.snapshot_view(&dir, &l, tags.get(&r.id)));
        }
        Ok(req.page.slice(items))
    }

    /// A volume as listVolumes shows it now, if it still exists.
    async fn volume_now(&self, id: &str) -> Result<Option<Volume>, PortError> {
        let Some(l) = volume::listing_of(self.pool(), id)
            .await
            .map_err(volume_failure)?
        else {
            return Ok(None);
        };
        let dir = self.directory().await?;
        let tags = tag::by_resource(self.pool(), &l.row.account_id, TaggedKind::Volume)
            .await
            .map_err(port_error)?;
        Ok(self.volume_view(&dir, &l, tags.get(id)))
    }

    /// A snapshot as listSnapshots shows it now, with its row, if it still exists.
    async fn snapshot_now(&self, id: &str) -> Result<Option<(SnapshotRow, Snapshot)>, PortError> {
        let Some(l) = snapshot::listing_of(self.pool(), id)
            .await
            .map_err(volume_failure)?
        else {
            return Ok(None);
        };
        let dir = self.directory().await?;
        let tags = tag::by_resource(self.pool(), &l.row.account_id, TaggedKind::Snapshot)
            .await
            .map_err(port_error)?;
        Ok(self
            .snapshot_view(&dir, &l, tags.get(id))
            .map(|s| (l.row, s)))
    }

    /// The status of a volume or snapshot command's job, from the job's own state and the
    /// object it made or changed; `None` for other commands.
    pub(super) async fn volume_job_status(
        &self,
        command: JobCommand,
        e: &JobEntry,
    ) -> Result<Option<(JobStatus, Option<i64>)>, PortError> {
        let finished = e.finished_ms;
        let status = match (command, e.instance_id.as_deref()) {
            (JobCommand::CreateSnapshot, Some(id)) => match self.snapshot_now(id).await? {
                Some((row, _)) if row.state == SnapshotState::Pending.as_str() => {
                    return Ok(Some((JobStatus::Pending, None)));
                }
                Some((row, _)) if row.state == SnapshotState::Error.as_str() => {
                    tracing::info!(snapshot = %row.ec2_id, reason = %row.state_message, "snapshot job failed");
                    let text = format!(
                        "Failed to create snapshot due to an internal error creating snapshot \
                         for volume {}",
                        row.volume_id
                    );
                    let status = JobStatus::Failed {
                        code: ErrorCode::Internal,
                        text,
                    };
                    return Ok(Some((status, Some(row.updated_ms))));
                }
                Some((row, view)) => {
                    let outcome = JobOutcome::Snapshot(Box::new(view));
                    return Ok(Some((JobStatus::Succeeded(outcome), Some(row.updated_ms))));
                }
                None => JobStatus::Succeeded(JobOutcome::Success),
            },
            (
                JobCommand::CreateVolume
                | JobCommand::AttachVolume
                | JobCommand::DetachVolume
                | JobCommand::ResizeVolume,
                Some(id),
            ) => match e.state.as_str() {
                "queued" | "running" => JobStatus::Pending,
                "failed" => JobStatus::Failed {
                    code: super::failure_code(e.error_code.as_deref()),
                    text: e.error_text.clone().unwrap_or_default(),
                },
                // LIMITATION: a volume deleted since shows as a plain success.
                _ => JobStatus::Succeeded(match self.volume_now(id).await? {
                    Some(v) => JobOutcome::Volume(Box::new(v)),
                    None => JobOutcome::Success,
                }),
            },
            _ => return Ok(None),
        };
        Ok(Some((status, finished)))
    }

    /// A connection of the store's pool.
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, PortError> {
        self.pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))
    }

    /// Fails with the unknown-id 431 unless the caller may see what `owner` owns.
    async fn check_visible(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
        owner: &str,
    ) -> Result<(), PortError> {
        let dir = self.directory().await?;
        if dir.admits(&caller_tree(caller), owner) {
            Ok(())
        } else {
            Err(unknown(param, id))
        }
    }

    /// The volume `id` if the caller may see it; another account's is unknown (431).
    async fn visible_volume(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<VolumeRow, PortError> {
        let v = known(volume::get(&mut *self.conn().await?, id).await, param, id)?;
        self.check_visible(caller, param, id, &v.account_id).await?;
        Ok(v)
    }

    /// The instance `id` if the caller may see it; another account's is unknown (431).
    async fn visible_instance(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<InstanceView, PortError> {
        let (v, reached) = self.instance_in_reach(caller, param, id).await?;
        if reached {
            Ok(v)
        } else {
            Err(unknown(param, id))
        }
    }

    async fn disk_offering(
        &self,
        param: &'static str,
        id: &str,
    ) -> Result<DiskOffering, PortError> {
        offering::list_disk_offerings(self.pool())
            .await
            .map_err(port_error)?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| unknown(param, id))
    }

    /// The size a new volume gets from its disk offering (or its snapshot), as CloudStack's
    /// `allocVolume` decides it.
    fn new_volume_size(
        req: &CreateVolume,
        offering: Option<&DiskOffering>,
        from: Option<&SnapshotRow>,
    ) -> Result<i64, PortError> {
        let invalid = |text: String| Err(PortError::InvalidParameter(text));
        let size = match (offering, req.size_gib) {
            (Some(o), None) if o.is_customized() || o.size_gib == 0 => {
                return invalid("This disk offering requires a custom size specified".into())
            }
            (Some(o), Some(n)) if o.is_customized() || o.size_gib == 0 => {
                if !(1..=MAX_SIZE_GIB).contains(&n) {
                    return invalid(format!(
                        "Volume size: {n} GB is out of allowed range. Min: 1. Max: {MAX_SIZE_GIB}"
                    ));
                }
                n
            }
            (Some(_), Some(_)) => {
                return invalid("This disk offering does not allow custom size".into())
            }
            (Some(o), None) => o.size_gib,
            (None, _) => from.map_or(0, |s| s.size_gib),
        };
        if let (Some(s), Some(_)) = (from, offering) {
            if size < s.size_gib {
                return invalid(format!(
                    "Invalid size for volume creation: {size}GB, snapshot size is: {}GB",
                    s.size_gib
                ));
            }
        }
        Ok(size)
    }

    pub(super) async fn native_create_volume(
        &self,
        caller: &Caller,
        req: &CreateVolume,
    ) -> Result<(String, String), PortError> {
        let (account_id, _) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let dir = self.directory().await?;
        let owner = dir
            .account(&account_id)
            .ok_or_else(|| PortError::Internal(format!("account {account_id} vanished")))?;
        let instance = match &req.virtual_machine_id {
            Some(id) => Some(
                self.visible_instance(caller, "virtualmachineid", id)
                    .await?,
            ),
            None => None,
        };
        if let Some(z) = &req.zone_id {
            let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
            if !zones.iter().any(|x| &x.id == z) {
                return Err(unknown("zoneid", z));
            }
        }
        let offering = match &req.disk_offering_id {
            Some(id) => Some(self.disk_offering("diskofferingid", id).await?),
            None => None,
        };
        let from = match &req.snapshot_id {
            Some(id) => Some(self.visible_snapshot(caller, "snapshotid", id).await?),
            None => None,
        };
        if let Some(s) = &from {
            if s.state != SnapshotState::Completed.as_str() {
                return Err(PortError::InvalidParameter(format!(
                    "Snapshot id={} is not in BackedUp state yet and can't be used for volume \
                     creation",
                    s.id
                )));
            }
            if offering.is_some() && s.volume_kind != "root" {
                return Err(PortError::InvalidParameter(
                    "Disk Offering ID cannot be passed whilst creating volume from snapshot \
                     other than ROOT disk snapshots"
                        .into(),
                ));
            }
        }
        let size_gib = Self::new_volume_size(req, offering.as_ref(), from.as_ref())?;
        let zone_id = req
            .zone_id
            .clone()
            .or_else(|| from.as_ref().map(|s| s.zone_id.clone()))
            .or_else(|| instance.as_ref().map(|i| i.zone_id.clone()))
            .ok_or_else(|| {
                PortError::InvalidParameter("Please specify the zone of the volume (zoneid)".into())
            })?;
        let row = self
            .cloud
            .orchestrator
            .create_volume(&VolumeRequest {
                account_id: account_id.clone(),
                account_number: owner.number.clone(),
                zone_id,
                name: req.name.clone(),
                size_gib: Some(size_gib),
                snapshot: from.map(|s| s.id),
                disk_offering_id: offering.map(|o| o.id),
                ..VolumeRequest::default()
            })
            .await
            .map_err(volume_failure)?;
        let job = NewApiJob {
            command: JobCommand::CreateVolume.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&row.id),
        };
        let Some(instance) = instance else {
            let job = self.record_job(None, job).await?;
            return Ok((row.id, job));
        };
        let job_id = self.start_job(job).await?;
        let work = Work::Attach {
            volume_id: row.id.clone(),
            instance_id: instance.id.clone(),
            device_id: None,
        };
        self.spawn_work(
            job_id.clone(),
            JobCommand::CreateVolume,
            Some(instance.id),
            work,
        );
        Ok((row.id, job_id))
    }

    pub(super) async fn native_volume_job(
        &self,
        caller: &Caller,
        req: &VolumeJob,
    ) -> Result<String, PortError> {
        let (command, volume, instance_id, work) = match req {
            VolumeJob::Attach {
                id,
                virtual_machine_id,
                device_id,
            } => {
                let v = self.visible_volume(caller, "id", id).await?;
                let i = self
                    .visible_instance(caller, "virtualmachineid", virtual_machine_id)
                    .await?;
                let work = Work::Attach {
                    volume_id: v.id.clone(),
                    instance_id: i.id.clone(),
                    device_id: *device_id,
                };
                (JobCommand::AttachVolume, v, Some(i.id), work)
            }
            VolumeJob::Detach(target) => {
                let v = match target {
                    DetachTarget::Volume(id) => self.visible_volume(caller, "id", id).await?,
                    DetachTarget::Device {
                        virtual_machine_id,
                        device_id,
                    } => {
                        self.volume_at(caller, virtual_machine_id, *device_id)
                            .await?
                    }
                };
                let work = Work::Detach {
                    volume_id: v.id.clone(),
                };
                let instance = v.instance_id.clone();
                (JobCommand::DetachVolume, v, instance, work)
            }
            VolumeJob::Resize {
                id,
                size_gib,
                disk_offering_id,
                shrink_ok,
            } => {
                let v = self.visible_volume(caller, "id", id).await?;
                let offering = match disk_offering_id {
                    Some(o) => Some(self.disk_offering("diskofferingid", o).await?),
                    None => None,
                };
                let work = Work::Resize {
                    volume_id: v.id.clone(),
                    size_gib: *size_gib,
                    offering,
                    shrink_ok: *shrink_ok,
                };
                let instance = v.instance_id.clone();
                (JobCommand::ResizeVolume, v, instance, work)
            }
        };
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&volume.id),
        };
        let job_id = self.start_job(job).await?;
        self.spawn_work(job_id.clone(), command, instance_id, work);
        Ok(job_id)
    }

    /// The volume an instance has as a device number (detachVolume by instance and device).
    async fn volume_at(
        &self,
        caller: &Caller,
        instance_id: &str,
        device_id: i64,
    ) -> Result<VolumeRow, PortError> {
        let i = self
            .visible_instance(caller, "virtualmachineid", instance_id)
            .await?;
        let mut conn = self.conn().await?;
        let attached = volume::of_instance(&mut conn, &i.id)
            .await
            .map_err(volume_failure)?;
        attached
            .into_iter()
            .find(|v| {
                v.device
                    .as_deref()
                    .is_some_and(|d| device_number(d, v.is_root()) == device_id)
            })
            .ok_or_else(|| {
                PortError::InvalidParameter(format!(
                    "Unable to find a volume attached to instance {} as device {device_id}",
                    i.id
                ))
            })
    }

    pub(super) async fn native_delete_volume(
        &self,
        caller: &Caller,
        req: &ById,
    ) -> Result<(), PortError> {
        let v = self.visible_volume(caller, "id", &req.id).await?;
        if v.instance_id.is_some() {
            return Err(PortError::InvalidParameter(
                "Please specify a volume that is not attached to any VM.".into(),
            ));
        }
        self.cloud
            .orchestrator
            .delete_volume(None, &v.id)
            .await
            .map_err(volume_failure)
    }

    /// The snapshot `id` if the caller may see it; another account's is unknown (431).
    async fn visible_snapshot(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<SnapshotRow, PortError> {
        let s = known(snapshot::get(&mut *self.conn().await?, id).await, param, id)?;
        self.check_visible(caller, param, id, &s.account_id).await?;
        Ok(s)
    }

    pub(super) async fn native_create_snapshot(
        &self,
        caller: &Caller,
        req: &CreateSnapshot,
    ) -> Result<(String, String), PortError> {
        let v = self
            .visible_volume(caller, "volumeid", &req.volume_id)
            .await?;
        if !matches!(v.state(), VolumeState::Available | VolumeState::InUse) {
            return Err(PortError::InvalidParameter(format!(
                "VolumeId: {} is not in Ready state but {}. Cannot take snapshot.",
                v.id,
                volume_state(&v.state)
            )));
        }
        let s = self
            .cloud
            .orchestrator
            .create_snapshot(
                self.cloud.objects.clone(),
                self.snapshot_scratch(),
                None,
                &v.id,
                &SnapshotRequest {
                    name: req.name.clone(),
                    ..SnapshotRequest::default()
                },
            )
            .await
            .map_err(volume_failure)?;
        let job = NewApiJob {
            command: JobCommand::CreateSnapshot.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&s.id),
        };
        // The job is pending while the snapshot is (see `volume_job_status`).
        let job = self.record_job(None, job).await?;
        Ok((s.id, job))
    }

    pub(super) async fn native_delete_snapshot(
        &self,
        caller: &Caller,
        req: &ById,
    ) -> Result<String, PortError> {
        let s = self.visible_snapshot(caller, "id", &req.id).await?;
        let deleted = self
            .cloud
            .orchestrator
            .delete_snapshot(&self.cloud.objects, None, &s.id)
            .await
            .map_err(volume_failure);
        let job = NewApiJob {
            command: JobCommand::DeleteSnapshot.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&s.id),
        };
        let job_id = self.start_job(job).await?;
        let outcome = deleted.map_err(|e| e.into_api_error(JobCommand::DeleteSnapshot.api_name()));
        self.finish_job(&job_id, JobCommand::DeleteSnapshot, outcome)
            .await;
        Ok(job_id)
    }

    /// Records a job the door runs itself, as running.
    async fn start_job(&self, job: NewApiJob<'_>) -> Result<String, PortError> {
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        let id = api_job::running(&mut tx, job).await.map_err(port_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        Ok(id)
    }

    /// Records how a job the door ran ended; a failure to record it is logged.
    async fn finish_job(&self, job_id: &str, command: JobCommand, outcome: Result<(), ApiError>) {
        let code;
        let result = match &outcome {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::info!(job = job_id, command = command.api_name(), code = e.code.number(), reason = %e.text, "volume job failed");
                code = e.code.number().to_string();
                Err((code.as_str(), e.text.as_str()))
            }
        };
        let recorded = async {
            let mut tx = self.cloud.store.begin_write().await?;
            api_job::finish(&mut tx, job_id, result).await?;
            tx.commit().await?;
            Ok::<(), crate::error::CoreError>(())
        };
        if let Err(e) = recorded.await {
            tracing::error!(job = job_id, error = %e, "recording the end of a volume job failed");
        }
    }

    /// Runs a volume job in the background: in its instance's turn, after the instance's
    /// queued orchestrator jobs; then records how it ended.
    fn spawn_work(
        &self,
        job_id: String,
        command: JobCommand,
        instance_id: Option<String>,
        work: Work,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let outcome = async {
                let _turn = match &instance_id {
                    Some(i) => Some(me.instance_turn(i).await?),
                    None => None,
                };
                me.run_work(&work)
                    .await
                    .map_err(|e| e.into_api_error(command.api_name()))
            }
            .await;
            let outcome = match (command, outcome, &work) {
                (
                    JobCommand::CreateVolume,
                    Err(e),
                    Work::Attach {
                        volume_id,
                        instance_id,
                        ..
                    },
                ) => Err(ApiError::internal_with(format!(
                    "Volume: {volume_id} created successfully, but failed to attach the \
                         newly created volume to VM: {instance_id} due to error: {}",
                    e.text
                ))),
                (JobCommand::ResizeVolume, Err(e), _) if e.code == ErrorCode::ParamError => {
                    // CloudStack's resizeVolume answers its parameter refusals as 432.
                    Err(ApiError::unsupported_because(e.text))
                }
                (_, outcome, _) => outcome,
            };
            me.finish_job(&job_id, command, outcome).await;
        });
    }

    /// Takes the instance's turn among this server's volume jobs, then waits until the
    /// orchestrator has no job of the instance queued or running.
    async fn instance_turn(
        &self,
        instance_id: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, ApiError> {
        let turn = self.turns.take(instance_id).await;
        let deadline = tokio::time::Instant::now() + self.cloud.orchestrator.config().job_timeout;
        loop {
            let busy = async {
                let mut conn = self.pool().acquire().await?;
                jobs::instance_busy(&mut conn, instance_id).await
            };
            match busy.await {
                Ok(false) => return Ok(turn),
                Ok(true) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(INSTANCE_POLL).await;
                }
                Ok(true) => {
                    return Err(ApiError::internal_with(format!(
                        "The jobs of instance {instance_id} did not finish in time for this one"
                    )))
                }
                Err(e) => {
                    tracing::error!(instance = instance_id, error = %e, "looking at an instance's jobs failed");
                    return Err(ApiError::internal());
                }
            }
        }
    }

    async fn run_work(&self, work: &Work) -> Result<(), PortError> {
        match work {
            Work::Attach {
                volume_id,
                instance_id,
                device_id,
            } => self.attach_work(volume_id, instance_id, *device_id).await,
            Work::Detach { volume_id } => self.detach_work(volume_id).await,
            Work::Resize {
                volume_id,
                size_gib,
                offering,
                shrink_ok,
            } => {
                self.resize_work(volume_id, *size_gib, offering.as_ref(), *shrink_ok)
                    .await
            }
        }
    }

    /// A volume's row as it is now, for a job's checks.
    async fn volume_row(&self, id: &str) -> Result<VolumeRow, PortError> {
        let mut conn = self.conn().await?;
        volume::get(&mut conn, id).await.map_err(volume_failure)
    }

    /// CloudStack's `attachVolumeToVM` checks, in its order, then the core's attach.
    async fn attach_work(
        &self,
        volume_id: &str,
        instance_id: &str,
        device_id: Option<i64>,
    ) -> Result<(), PortError> {
        let invalid = |text: String| Err(PortError::InvalidParameter(text));
        let v = self.volume_row(volume_id).await?;
        if v.instance_id.is_some() {
            return invalid("Please specify a volume that is not attached to any VM.".into());
        }
        let Some(i) = self.instance_view(instance_id).await? else {
            return invalid("Please specify a valid User VM.".into());
        };
        if !matches!(i.state.as_str(), "Running" | "Stopped") {
            return invalid("Please specify a VM that is either running or stopped.".into());
        }
        if i.zone_id != v.zone_id {
            return invalid("Please specify a VM that is in the same zone as the volume.".into());
        }
        if i.account_id != v.account_id {
            return invalid(format!(
                "Volume {} and instance {} belong to different accounts",
                v.id, i.id
            ));
        }
        let mut conn = self.conn().await?;
        let used: Vec<i64> = volume::of_instance(&mut conn, &i.id)
            .await
            .map_err(volume_failure)?
            .iter()
            .filter_map(|o| o.device.as_deref().map(|d| device_number(d, o.is_root())))
            .collect();
        drop(conn);
        let number = match device_id {
            Some(0) => return invalid("Vm already has root volume attached to it".into()),
            Some(n) if n == CDROM_DEVICE || !DATA_DEVICES.contains(&n) => {
                return invalid(format!(
                    "deviceId should be 1, 2 or 4 to {}",
                    DATA_DEVICES.end()
                ))
            }
            Some(n) if used.contains(&n) => {
                return invalid(format!("deviceId {n} is used by VM {}", i.name))
            }
            Some(n) => n,
            None => match DATA_DEVICES
                .clone()
                .find(|n| *n != CDROM_DEVICE && !used.contains(n))
            {
                Some(n) => n,
                None => return invalid("All device Ids are in use.".into()),
            },
        };
        self.cloud
            .orchestrator
            .attach_volume(None, &v.id, &i.id, &device_name(number))
            .await
            .map_err(volume_failure)?;
        Ok(())
    }

    /// CloudStack's `detachVolumeFromVM` checks, then the core's detach.
    async fn detach_work(&self, volume_id: &str) -> Result<(), PortError> {
        let invalid = |text: &str| Err(PortError::InvalidParameter(text.to_owned()));
        let v = self.volume_row(volume_id).await?;
        let Some(instance_id) = &v.instance_id else {
            return invalid("The specified volume is not attached to a VM.");
        };
        let Some(i) = self.instance_view(instance_id).await? else {
            return invalid("Please specify a valid User VM.");
        };
        if !matches!(i.state.as_str(), "Running" | "Stopped") {
            return invalid("Please specify a VM that is either running or stopped.");
        }
        if v.is_root() {
            if i.state != "Stopped" {
                return invalid(
                    "Root volume detach can happen only when vm is in states: Stopped or \
                     Destroyed",
                );
            }
            // LIMITATION: CloudStack detaches a stopped instance's root volume (KVM, XenServer,
            // VMware); the core keeps an instance's root volume attached for its whole life.
            return Err(PortError::Unsupported(format!(
                "Detaching the root volume {} of instance {} is not supported here",
                v.id, i.id
            )));
        }
        self.cloud
            .orchestrator
            .detach_volume(None, &v.id, None, None, false)
            .await
            .map_err(volume_failure)?;
        Ok(())
    }

    /// CloudStack's `resizeVolume` checks, then the core's modification (volumes only grow).
    async fn resize_work(
        &self,
        volume_id: &str,
        size_gib: Option<i64>,
        offering: Option<&DiskOffering>,
        shrink_ok: bool,
    ) -> Result<(), PortError> {
        let unsupported = |text: String| Err(PortError::Unsupported(text));
        let v = self.volume_row(volume_id).await?;
        if !matches!(v.state(), VolumeState::Available | VolumeState::InUse) {
            return unsupported(format!(
                "Volume should be in ready or allocated state before attempting a resize. \
                 Volume {} is in state {}.",
                v.id,
                volume_state(&v.state)
            ));
        }
        let target = match (offering, size_gib) {
            (Some(o), None) if o.is_customized() || o.size_gib == 0 => {
                return unsupported(
                    "The new disk offering requires that a size be specified.".into(),
                )
            }
            (Some(o), Some(_)) if !(o.is_customized() || o.size_gib == 0) => {
                return unsupported(
                    "You cannot pass in a custom disk size to a non-custom disk offering.".into(),
                )
            }
            (Some(o), None) => o.size_gib,
            (_, Some(n)) => n,
            (None, None) => v.size_gib,
        };
        if target < v.size_gib {
            if !shrink_ok {
                return unsupported(format!(
                    "Going from existing size of {} to size of {} would shrink the volume.Need \
                     to sign off by supplying the shrinkok parameter with value of true.",
                    v.size_bytes(),
                    target << 30
                ));
            }
            // LIMITATION: volumes only grow (as EBS volumes do); shrinking would cut the data
            // of the guest's filesystem, which the core does not know how to make safe.
            return unsupported(format!(
                "Shrinking volume {} from {} GB to {target} GB is not supported: volumes only grow",
                v.id, v.size_gib
            ));
        }
        self.cloud
            .orchestrator
            .modify_volume(None, &v.id, Some(target), None, None, None)
            .await
            .map_err(volume_failure)?;
        if let Some(o) = offering {
            let mut tx = self
                .cloud
                .store
                .begin_write()
                .await
                .map_err(|e| port_error(e.into()))?;
            volume::set_disk_offering(&mut tx, &v.id, &o.id)
                .await
                .map_err(volume_failure)?;
            tx.commit().await.map_err(|e| port_error(e.into()))?;
        }
        Ok(())
    }
}

/// A snapshot's name: the one it was given, else its volume's name and its own EC2 id.
fn snapshot_name(l: &SnapshotListing) -> String {
    let r = &l.row;
    match &r.name {
        Some(n) => n.clone(),
        None => format!(
            "{}_{}",
            l.volume_name.as_deref().unwrap_or(&r.volume_ec2_id),
            r.ec2_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_and_names_agree() {
        assert_eq!(device_name(1), "/dev/sdb");
        assert_eq!(device_name(25), "/dev/sdz");
        for n in DATA_DEVICES {
            assert_eq!(device_number(&device_name(n), false), n);
        }
        // EC2's spellings of one letter are one CloudStack device number.
        assert_eq!(device_number("/dev/xvdf", false), 5);
        assert_eq!(device_number("/dev/sda1", true), 0);
    }

    #[test]
    fn volume_refusals_are_cloudstacks_words() {
        let text = |e| match volume_failure(e) {
            PortError::InvalidParameter(t) => t,
            other => format!("not a 431: {other:?}"),
        };
        assert_eq!(
            text(VolumeError::InUse {
                volume: "vol-1".into(),
                state: "in-use".into(),
                why: "attached".into()
            }),
            "Please specify a volume that is not attached to any VM."
        );
        assert_eq!(
            text(VolumeError::NotAttached {
                volume: "vol-1".into(),
                to: String::new()
            }),
            "The specified volume is not attached to a VM."
        );
        assert!(matches!(
            volume_failure(VolumeError::Host("qmp said no".into())),
            PortError::Internal(_)
        ));
    }
}
