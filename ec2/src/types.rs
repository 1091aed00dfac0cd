//! What the port answers, in EC2's terms: regions, availability zones, instance types, images
//! and instances as the door renders them. The root crate's translation fills these from the
//! core; the door filters, pages and writes them. Times are Unix milliseconds, like the store.

pub use crate::filter::Tag;

/// The cloud's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// The endpoint clients reach this region's EC2 at (the server's public URL).
    pub endpoint: String,
}

/// A zone, as an EC2 availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityZone {
    pub name: String,
    /// The stable zone id (EC2's `use1-az1` form).
    pub zone_id: String,
    pub region: String,
    /// False when the zone is disabled: EC2 state `unavailable`.
    pub available: bool,
}

/// A service offering, as an EC2 instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    pub name: String,
    pub vcpus: i64,
    pub memory_mib: i64,
    pub burstable: bool,
    pub clock_ghz: f64,
}

/// The life of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    Pending,
    Available,
    Failed,
    Deregistered,
}

impl ImageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Failed => "failed",
            Self::Deregistered => "deregistered",
        }
    }
}

/// A template, as an EC2 image (AMI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub image_id: String,
    pub name: String,
    pub description: String,
    /// The owner's 12-digit account number.
    pub owner_id: String,
    pub is_public: bool,
    pub state: ImageState,
    pub created_ms: i64,
    /// The device the root volume is attached as, e.g. `/dev/sda1`.
    pub root_device_name: String,
    /// Size of the root volume an instance of this image gets, GiB.
    pub root_size_gib: i64,
    pub tags: Vec<Tag>,
}

/// The EC2 instance states, with the codes of `instanceState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }

    pub fn code(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Running => 16,
            Self::ShuttingDown => 32,
            Self::Terminated => 48,
            Self::Stopping => 64,
            Self::Stopped => 80,
        }
    }
}

/// An instance, as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub instance_id: String,
    /// The reservation it was launched in; instances of one RunInstances share it.
    pub reservation_id: String,
    /// The owner's 12-digit account number.
    pub owner_id: String,
    pub image_id: String,
    pub state: InstanceState,
    pub instance_type: String,
    pub availability_zone: String,
    pub launch_ms: i64,
    pub vcpus: i64,
    pub root_device_name: String,
    pub key_name: Option<String>,
    pub private_ip: Option<String>,
    pub tags: Vec<Tag>,
}
