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
    /// The root volume's type, e.g. `gp2`.
    pub root_volume_type: String,
    /// The snapshot the root volume is made from, if the image records one.
    pub snapshot_id: Option<String>,
    pub ena_support: bool,
    /// Why the image failed, when it did.
    pub state_reason: Option<String>,
    /// Who else may launch it: account numbers, and `all` when it is public. Only the owner
    /// reads this list; it is empty in another account's view.
    pub launch_permissions: Vec<String>,
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
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub interfaces: Vec<NetworkInterface>,
    /// Why the instance is in its state (EC2 `stateReason`), if anything is worth saying.
    pub state_reason: Option<String>,
    pub client_token: Option<String>,
    /// The instance's volumes, root first.
    pub block_devices: Vec<BlockDevice>,
    pub metadata_options: MetadataOptions,
}

/// How an instance's metadata service answers its guest (EC2 `metadataOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataOptions {
    /// `optional` (IMDSv1 and v2) or `required` (session tokens only, IMDSv2).
    pub http_tokens: String,
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    /// How many network hops a token response may travel, 1 to 64.
    pub hop_limit: i64,
    /// `enabled` or `disabled`.
    pub http_protocol_ipv6: String,
    /// Whether the instance's tags are readable through the metadata service.
    pub instance_metadata_tags: String,
}

impl Default for MetadataOptions {
    /// What EC2 gives an instance launched without options.
    fn default() -> Self {
        Self {
            http_tokens: "optional".into(),
            http_endpoint: "enabled".into(),
            hop_limit: 1,
            http_protocol_ipv6: "disabled".into(),
            instance_metadata_tags: "disabled".into(),
        }
    }
}

/// Metadata options a request names (RunInstances' `MetadataOptions.*`,
/// ModifyInstanceMetadataOptions); the others stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataChange {
    pub http_tokens: Option<String>,
    pub http_endpoint: Option<String>,
    pub hop_limit: Option<i64>,
    pub http_protocol_ipv6: Option<String>,
    pub instance_metadata_tags: Option<String>,
}

impl MetadataChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `current` with this change made.
    pub fn applied_to(&self, current: &MetadataOptions) -> MetadataOptions {
        let pick = |new: &Option<String>, old: &String| new.clone().unwrap_or_else(|| old.clone());
        MetadataOptions {
            http_tokens: pick(&self.http_tokens, &current.http_tokens),
            http_endpoint: pick(&self.http_endpoint, &current.http_endpoint),
            hop_limit: self.hop_limit.unwrap_or(current.hop_limit),
            http_protocol_ipv6: pick(&self.http_protocol_ipv6, &current.http_protocol_ipv6),
            instance_metadata_tags: pick(
                &self.instance_metadata_tags,
                &current.instance_metadata_tags,
            ),
        }
    }
}

/// Where a page of reservations ends: the launch time and id of its last reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationCursor {
    pub created_ms: i64,
    pub reservation_id: String,
}

/// A keyset position (a creation time and the id that breaks its ties) as the bytes a NextToken
/// carries.
fn position_bytes(created_ms: i64, id: &str) -> Vec<u8> {
    let mut out = created_ms.to_be_bytes().to_vec();
    out.extend_from_slice(id.as_bytes());
    out
}

/// The position [`position_bytes`] wrote, or `None` for other bytes.
fn position_of(raw: &[u8]) -> Option<(i64, String)> {
    let (ms, id) = raw.split_at_checked(8)?;
    Some((
        i64::from_be_bytes(ms.try_into().ok()?),
        String::from_utf8(id.to_vec()).ok()?,
    ))
}

impl ReservationCursor {
    /// The cursor as the bytes a NextToken carries.
    pub fn to_bytes(&self) -> Vec<u8> {
        position_bytes(self.created_ms, &self.reservation_id)
    }

    /// The cursor [`Self::to_bytes`] wrote, or `None` for other bytes.
    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        let (created_ms, reservation_id) = position_of(raw)?;
        Some(Self {
            created_ms,
            reservation_id,
        })
    }
}

/// One page of reservations, as the port answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservationPage {
    /// The instances of the page's reservations, in launch order.
    pub instances: Vec<Instance>,
    /// Where the next page starts, if one follows.
    pub next: Option<ReservationCursor>,
}

/// Where a page of volumes ends: the creation time of its last volume and the key the port
/// orders volumes of one millisecond by (the door carries it and never reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCursor {
    pub created_ms: i64,
    pub key: String,
}

impl VolumeCursor {
    /// The cursor as the bytes a NextToken carries.
    pub fn to_bytes(&self) -> Vec<u8> {
        position_bytes(self.created_ms, &self.key)
    }

    /// The cursor [`Self::to_bytes`] wrote, or `None` for other bytes.
    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        let (created_ms, key) = position_of(raw)?;
        Some(Self { created_ms, key })
    }
}

/// A security group as an instance or interface names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub group_id: String,
    pub group_name: String,
}

/// An instance's network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    pub interface_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub device_index: i64,
    pub private_ip: String,
    pub mac_address: String,
    pub source_dest_check: bool,
    pub groups: Vec<GroupRef>,
    /// The public address mapped to it, if any (EC2 `association`).
    pub public_ip: Option<String>,
}

/// What an instance launch asks for (RunInstances), already validated in shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    pub image_id: String,
    pub instance_type: Option<String>,
    pub min_count: u32,
    pub max_count: u32,
    pub key_name: Option<String>,
    pub security_group_ids: Vec<String>,
    pub security_group_names: Vec<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// Base64 text as the client sent it, stored and returned verbatim.
    pub user_data: Option<String>,
    pub root_size_gib: Option<i64>,
    /// `BlockDeviceMapping.N` with an `Ebs` part: the root's size and type, extra volumes.
    pub block_devices: Vec<BlockDeviceRequest>,
    pub instance_tags: Vec<Tag>,
    /// Tags for every volume the launch makes (root and mapped).
    pub volume_tags: Vec<Tag>,
    /// Tags for each instance's primary network interface.
    pub interface_tags: Vec<Tag>,
    /// `MetadataOptions.*`: how the new instances' metadata service answers.
    pub metadata: MetadataChange,
    pub client_token: Option<String>,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    pub shutdown_behavior: Option<String>,
    /// A digest of every parameter above but the token, to tell a retry from a new request.
    pub digest: String,
    pub dry_run: bool,
}

/// One instance's state before and after a start, stop or terminate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: String,
    pub previous: InstanceState,
    pub current: InstanceState,
}

/// The instance attributes DescribeInstanceAttribute reads and ModifyInstanceAttribute sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceAttributes {
    pub instance_type: String,
    pub user_data: Option<String>,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    pub shutdown_behavior: String,
    pub source_dest_check: bool,
    pub groups: Vec<GroupRef>,
    pub root_device_name: String,
    pub root_size_gib: i64,
    /// The instance's volumes, root first, as DescribeInstances lists them.
    pub block_devices: Vec<BlockDevice>,
}

/// One change asked of ModifyInstanceAttribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeChange {
    InstanceType(String),
    UserData(Option<String>),
    DisableApiTermination(bool),
    DisableApiStop(bool),
    ShutdownBehavior(String),
    SourceDestCheck(bool),
    Groups(Vec<String>),
}

/// A key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub key_pair_id: String,
    pub key_name: String,
    pub key_type: String,
    pub fingerprint: String,
    pub public_key: String,
    pub created_ms: i64,
    pub tags: Vec<Tag>,
}

/// A new key pair with its private key (shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedKeyPair {
    pub pair: KeyPair,
    pub key_material: String,
}

/// What a security group rule allows (EC2's IpPermission, one peer per rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub peer: PermissionPeer,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionPeer {
    Ipv4(String),
    Ipv6(String),
    /// A group by id (or name in the caller's default VPC when the id is empty).
    Group {
        group_id: String,
        owner_id: String,
    },
}

/// A rule of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRule {
    pub rule_id: String,
    pub group_id: String,
    pub owner_id: String,
    pub egress: bool,
    pub permission: Permission,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub owner_id: String,
    pub vpc_id: String,
    pub rules: Vec<SecurityGroupRule>,
    pub tags: Vec<Tag>,
}

/// A tag with the resource it is on (DescribeTags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTag {
    pub resource_id: String,
    pub resource_type: String,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    pub vpc_id: String,
    pub owner_id: String,
    pub cidr: String,
    pub is_default: bool,
    pub state: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
    pub address_usage_metrics: bool,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub subnet_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub cidr: String,
    pub availability_zone: String,
    pub availability_zone_id: String,
    pub available_addresses: i64,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    pub state: String,
    pub tags: Vec<Tag>,
}

/// One `BlockDeviceMapping.N` of RunInstances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockDeviceRequest {
    pub device: String,
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub snapshot_id: Option<String>,
    pub delete_on_termination: Option<bool>,
    /// `NoDevice`: the image's mapping of this device is suppressed.
    pub no_device: bool,
}

/// A volume of an instance, as its `blockDeviceMapping` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice {
    pub device: String,
    pub volume_id: String,
    /// attaching, attached, detaching.
    pub state: String,
    pub attach_ms: i64,
    pub delete_on_termination: bool,
}
