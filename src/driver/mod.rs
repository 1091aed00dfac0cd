//! Hypervisor drivers: one trait over the ways a host runs guests. The orchestrator decides
//! what should happen; a driver makes it so on one host and reports what is really running.
//! `simulator` runs nothing (its guests are rows in the database, so any management server can
//! drive them); `qemu` runs real guests.

pub mod qemu;
pub mod simulator;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::model::infra::Hypervisor;

/// What a driver needs to start a guest: everything the orchestrator knows of it, so a driver
/// never reads the database for a start.
#[derive(Debug, Clone, Default)]
pub struct GuestSpec {
    pub instance_id: String,
    pub ec2_id: String,
    pub name: String,
    pub host_id: String,
    pub cpus: i64,
    pub memory_mib: i64,
    pub template_id: String,
    /// The template's disk image on this host (its local cached copy), for drivers that run
    /// real disks; `None` for the simulator, whose templates have no bytes.
    pub template_image: Option<PathBuf>,
    pub user_data: Option<String>,
    /// OpenSSH public keys the guest should accept (from the instance's key pair).
    pub public_keys: Vec<String>,
    /// Data volumes attached at boot, in order.
    pub data_volumes: Vec<DataVolume>,
    /// The zone's name, as the guest's metadata tells it.
    pub availability_zone: Option<String>,
    /// The ISO in the guest's CD drive: its local cached copy, for drivers that run real disks.
    pub cdrom: Option<PathBuf>,
}

/// A data volume: a disk image on primary storage, attached as a virtio disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataVolume {
    pub id: String,
    pub path: PathBuf,
}

/// Where a host finds a template's disk image: the orchestrator asks before it starts a guest
/// whose hypervisor runs real disks. Implemented by the template store, which keeps a cached
/// local copy of each template it holds in secondary storage.
#[async_trait::async_trait]
pub trait TemplateImages: Send + Sync + std::fmt::Debug {
    /// The local path of the template's disk image, fetched into this host's cache if it is
    /// not there yet; `None` if the template has no image in secondary storage.
    async fn local_image(&self, template_id: &str) -> Result<Option<PathBuf>, DriverError>;
}

/// Where a host finds an ISO's image: the orchestrator asks before it boots a guest with an ISO
/// in its drive or changes a running guest's CD. Implemented by the ISO store.
#[async_trait::async_trait]
pub trait IsoImages: Send + Sync + std::fmt::Debug {
    /// The local path of the ISO's image, fetched into this host's cache if it is not there
    /// yet; `None` if the ISO has no image in secondary storage (not ready, or deleted).
    async fn local_iso(&self, iso_id: &str) -> Result<Option<PathBuf>, DriverError>;
}

/// A volume as a host sees it: which disk, how big, and whether it is an instance's root.
#[derive(Debug, Clone)]
pub struct VolumeDisk {
    /// The volume's native id (names its file on primary storage).
    pub id: String,
    pub ec2_id: String,
    pub size_bytes: u64,
    pub root: bool,
}

/// Whether a guest is running, as its host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    Running,
    Stopped,
}

/// A driver's failure, worded for the instance's state reason.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The host refused or failed the operation; the text says why.
    #[error("{0}")]
    Failed(String),
    /// The guest is not on the host (already gone).
    #[error("the guest is not on its host")]
    NoSuchGuest,
    #[error("the driver's database access failed")]
    Store(#[from] sqlx::Error),
}

#[async_trait::async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug {
    fn hypervisor(&self) -> Hypervisor;

    /// Boots the guest on its host; returns once it is running.
    async fn start(&self, guest: &GuestSpec) -> Result<(), DriverError>;

    /// Powers the guest down (ACPI, then forced after a deadline; at once when `force`).
    async fn stop(&self, instance_id: &str, force: bool) -> Result<(), DriverError>;

    /// Restarts a running guest.
    async fn reboot(&self, instance_id: &str) -> Result<(), DriverError>;

    /// Removes everything the guest has on its host (it is stopped already).
    async fn destroy(&self, instance_id: &str) -> Result<(), DriverError>;

    /// The power state of every guest the driver knows, by instance id.
    async fn power_states(&self) -> Result<HashMap<String, PowerState>, DriverError>;

    /// The tail of the guest's console output, if the driver keeps one.
    async fn console_output(&self, instance_id: &str) -> Result<Option<Vec<u8>>, DriverError>;

    /// Plugs a data volume into a guest (made on primary storage first if it is new); a
    /// stopped guest gets it at its next boot.
    async fn attach_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError>;

    /// Unplugs a data volume; `force` does not wait for the guest to let go of it.
    async fn detach_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
        force: bool,
    ) -> Result<(), DriverError>;

    /// Copies a volume's bytes, consistently, into a new file at `target` and answers how many
    /// bytes it holds; `None` when this host has no such volume. `instance_id` is the guest
    /// it is attached to, if any (a running guest's disk is copied through the hypervisor,
    /// never read from under it).
    async fn snapshot_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
        target: &std::path::Path,
    ) -> Result<Option<u64>, DriverError>;

    /// Grows a volume to `volume.size_bytes` (a running guest sees the new size).
    async fn resize_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError>;

    /// Where a data volume attached to a guest that is about to boot is on this host (made
    /// first if it is new); `None` for a driver whose guests have no disks.
    async fn volume_for_boot(
        &self,
        volume: &VolumeDisk,
    ) -> Result<Option<std::path::PathBuf>, DriverError>;

    /// Removes a detached volume from primary storage; a missing one is not an error.
    async fn delete_volume(&self, volume: &VolumeDisk) -> Result<(), DriverError>;

    /// Puts an ISO image into a running guest's CD drive (`Some`) or ejects it (`None`). A
    /// guest that is not running is not an error: its next boot takes the drive's content
    /// from its [`GuestSpec`].
    async fn change_cdrom(
        &self,
        instance_id: &str,
        image: Option<&std::path::Path>,
    ) -> Result<(), DriverError>;
}

/// The drivers of this server, one per hypervisor.
#[derive(Debug, Default, Clone)]
pub struct Drivers {
    drivers: Vec<Arc<dyn Driver>>,
}

impl Drivers {
    pub fn new(drivers: Vec<Arc<dyn Driver>>) -> Self {
        Self { drivers }
    }

    pub fn get(&self, hypervisor: Hypervisor) -> Option<&Arc<dyn Driver>> {
        self.drivers.iter().find(|d| d.hypervisor() == hypervisor)
    }

    pub fn all(&self) -> &[Arc<dyn Driver>] {
        &self.drivers
    }
}
