//! What a start hands its driver: the instance's [`GuestSpec`], assembled from the database
//! (key pair, zone) and, for hosts that run real disks, the template's local image. The driver
//! reads nothing else, so a start is the same on any server that has the host.

use std::sync::Arc;

use super::jobs::{FailureCode, JobFailure};
use super::Orchestrator;
use crate::driver::{GuestSpec, TemplateImages};
use crate::error::CoreError;
use crate::model::infra::Hypervisor;
use crate::model::instance::InstanceRow;
use crate::model::keypair;

impl Orchestrator {
    /// Tells the orchestrator where templates' images are; a second call is ignored.
    pub fn set_template_images(&self, images: Arc<dyn TemplateImages>) {
        if self.images.set(images).is_err() {
            tracing::warn!("the template image source was set twice; keeping the first");
        }
    }

    /// The spec of a start of `i` on `host_id`.
    pub(super) async fn guest_spec(
        &self,
        i: &InstanceRow,
        host_id: String,
    ) -> Result<GuestSpec, JobFailure> {
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
        // LIMITATION: the public key is read from the key pair at each start, so a pair deleted
        // after the launch leaves later starts without it (EC2 keeps the launch's key).
        let public_keys = match &i.key_name {
            Some(name) => keypair::by_name(&mut conn, &i.account_id, name)
                .await
                .map_err(internal)?
                .map(|pair| vec![pair.public_key])
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let zone: Option<(String,)> = sqlx::query_as("SELECT name FROM zones WHERE id = $1")
            .bind(&i.zone_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| internal(e.into()))?;
        drop(conn);

        let template_image = match (Hypervisor::parse(&i.hypervisor), self.images.get()) {
            (Some(Hypervisor::Kvm), Some(images)) => images
                .local_image(&i.template_id)
                .await
                .map_err(|e| JobFailure {
                    code: FailureCode::HostFailed,
                    text: e.to_string(),
                })?,
            _ => None,
        };
        Ok(GuestSpec {
            instance_id: i.id.clone(),
            ec2_id: i.ec2_id.clone(),
            name: i.name.clone(),
            host_id,
            cpus: i.cpus,
            memory_mib: i.memory_mib,
            template_id: i.template_id.clone(),
            template_image,
            user_data: i.user_data.clone(),
            public_keys,
            data_volumes: self.boot_volumes(i).await?,
            availability_zone: zone.map(|(name,)| name),
            cdrom: self.cdrom_for_boot(i).await?,
        })
    }
}
