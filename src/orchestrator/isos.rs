//! ISOs in instances' CD drives: attach and detach are jobs on the instance, so they run in
//! order with its starts and stops. An attach records the instance's ISO in its request's
//! transaction (so a second attach is refused at once) and the job puts the image into a
//! running guest's drive; a failed attach takes the record back. A detach ejects the image and
//! then clears the record. A stopped guest gets its drive's content at its next boot.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::AnyConnection;

use super::jobs::{FailureCode, Job, JobFailure, JobKind};
use super::{Orchestrator, Queued};
use crate::driver::IsoImages;
use crate::error::{CoreError, CoreResult};
use crate::model::event::Level;
use crate::model::infra::Hypervisor;
use crate::model::instance::{Instance, InstanceRow, InstanceState};
use crate::model::iso::{self, Iso};

impl Orchestrator {
    /// Tells the orchestrator where ISOs' images are; a second call is ignored.
    pub fn set_iso_images(&self, images: Arc<dyn IsoImages>) {
        if self.isos.set(images).is_err() {
            tracing::warn!("the ISO image source was set twice; keeping the first");
        }
    }

    /// An instance whose drive may change: Running or Stopped, with nothing in flight.
    async fn drive_owner(
        &self,
        db: &mut AnyConnection,
        account_id: Option<&str>,
        id: &str,
    ) -> CoreResult<Instance> {
        let i = self.owned(db, account_id, id).await?;
        let settled = matches!(i.state, InstanceState::Running | InstanceState::Stopped)
            && i.target_state.is_none();
        if !settled {
            return Err(CoreError::InvalidParameter(
                "Please specify an instance that is either Stopped or Running.".to_owned(),
            ));
        }
        Ok(i)
    }

    /// Attaches a ready ISO of the instance's zone: recorded now, inserted by the job.
    pub async fn attach_iso(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
        iso: &Iso,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.drive_owner(&mut tx, account_id, id).await?;
        if iso.zone_id != i.zone_id {
            return Err(CoreError::InvalidParameter(
                "ISO is not available in the zone the instance is in.".to_owned(),
            ));
        }
        if !iso.is_ready() {
            return Err(CoreError::InvalidParameter(format!(
                "The ISO {} is not ready to be attached: {}",
                iso.id, iso.status
            )));
        }
        iso::insert_into_drive(&mut tx, &i.id, iso).await?;
        let kind = JobKind::AttachIso {
            iso_id: iso.id.clone(),
        };
        let job_id = self.queue(&mut tx, &i, kind, user_id).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(Queued {
            previous: i.state,
            instance: i,
            job_id,
        })
    }

    /// Detaches the instance's ISO; an instance with none is refused (as CloudStack does).
    pub async fn detach_iso(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.drive_owner(&mut tx, account_id, id).await?;
        if iso::attached_to(&mut tx, &i.id).await?.is_none() {
            return Err(CoreError::InvalidParameter(
                "The specified instance has no ISO attached to it.".to_owned(),
            ));
        }
        let job_id = self.queue(&mut tx, &i, JobKind::DetachIso, user_id).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(Queued {
            previous: i.state,
            instance: i,
            job_id,
        })
    }

    /// The job's host work: the image into (or out of) the guest's drive.
    pub(super) async fn insert_cdrom(
        &self,
        i: &Instance,
        iso_id: Option<&String>,
    ) -> Result<(), JobFailure> {
        let host_failed = |e: crate::driver::DriverError| JobFailure {
            code: FailureCode::HostFailed,
            text: e.to_string(),
        };
        if i.state != InstanceState::Running {
            // Nothing runs: the next boot reads the record.
            return Ok(());
        }
        let image = match iso_id {
            Some(id) => self.iso_image(i, id).await?,
            None => None,
        };
        if iso_id.is_some() && image.is_none() && self.runs_real_disks(i) {
            return Err(JobFailure {
                code: FailureCode::HostFailed,
                text: "the ISO has no image in secondary storage any more".to_owned(),
            });
        }
        self.driver(i)?
            .change_cdrom(&i.id, image.as_deref())
            .await
            .map_err(host_failed)
    }

    fn runs_real_disks(&self, i: &InstanceRow) -> bool {
        Hypervisor::parse(&i.hypervisor) == Some(Hypervisor::Kvm)
    }

    /// The host's copy of an ISO, for a hypervisor that runs real disks.
    async fn iso_image(
        &self,
        i: &InstanceRow,
        iso_id: &str,
    ) -> Result<Option<PathBuf>, JobFailure> {
        match (self.runs_real_disks(i), self.isos.get()) {
            (true, Some(images)) => images.local_iso(iso_id).await.map_err(|e| JobFailure {
                code: FailureCode::HostFailed,
                text: e.to_string(),
            }),
            _ => Ok(None),
        }
    }

    /// The ISO image a booting guest's drive holds, if the instance has one attached.
    pub(super) async fn cdrom_for_boot(
        &self,
        i: &InstanceRow,
    ) -> Result<Option<PathBuf>, JobFailure> {
        let internal = |e: CoreError| JobFailure {
            code: FailureCode::Internal,
            text: e.to_string(),
        };
        let mut conn = self
            .store
            .pool
            .acquire()
            .await
            .map_err(|e| internal(e.into()))?;
        let attached = iso::attached_to(&mut conn, &i.id).await.map_err(internal)?;
        drop(conn);
        match attached {
            Some(iso) => self.iso_image(i, &iso.id).await,
            None => Ok(None),
        }
    }

    /// A failed attach takes its record back; a failed detach leaves the ISO attached. The
    /// instance's state does not change either way.
    pub(super) async fn iso_change_failed(
        &self,
        db: &mut AnyConnection,
        job: &Job,
        i: &Instance,
        f: &JobFailure,
    ) -> CoreResult<()> {
        tracing::warn!(job = %job.id, kind = job.kind.name(), instance = %i.ec2_id, reason = %f.text, "job failed");
        let kind = match &job.kind {
            JobKind::AttachIso { iso_id } => {
                if iso::attached_to(db, &i.id)
                    .await?
                    .is_some_and(|a| &a.id == iso_id)
                {
                    iso::eject(db, &i.id).await?;
                }
                "ISO.ATTACH"
            }
            _ => "ISO.DETACH",
        };
        self.event(db, i, kind, Level::Error, "Completed", f.text.clone())
            .await
    }
}
