//! The native door: CloudStack's `/client/api`, wire-compatible. Turns signed or session
//! requests into typed commands from one command registry, calls the [`NativePort`] and renders
//! CloudStack's JSON or XML envelopes and error codes. It never sees the core.
//!
//! A request goes through these steps, each in its own module: decode the parameters
//! ([`params`]); `login`/`logout` ([`session`]); authenticate by session or by signature
//! ([`signature`]); resolve the command in the [`registry`] (432 for a CloudStack command not
//! served, 401 for a name CloudStack never had); check the arguments against the command's spec
//! ([`args`]); decode the typed request ([`requests`]); call the port ([`dispatch`]); render the
//! envelope ([`render`]).

pub mod args;
mod dispatch;
pub mod error;
pub mod isos;
pub mod params;
pub mod registry;
pub mod render;
pub mod requests;
pub mod session;
pub mod signature;
pub mod templates;
pub mod types;
pub mod volumes;
pub mod wire;

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

pub use args::{keyword_matches, Listing, Page};
pub use error::{ApiError, ErrorCode};
pub use params::Format;

use params::Params;
use registry::Command;
use requests::Login;
use session::{NewSession, SessionProof};

/// What an account may do: CloudStack's account types 0, 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    RootAdmin,
    DomainAdmin,
}

impl Role {
    /// CloudStack's `accounttype` number.
    pub fn account_type(self) -> i64 {
        match self {
            Self::User => 0,
            Self::RootAdmin => 1,
            Self::DomainAdmin => 2,
        }
    }

    /// CloudStack's `roletype`.
    pub fn role_type(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::RootAdmin => "Admin",
            Self::DomainAdmin => "DomainAdmin",
        }
    }

    /// The name of CloudStack's default role of this type.
    pub fn role_name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::RootAdmin => "Root Admin",
            Self::DomainAdmin => "Domain Admin",
        }
    }
}

/// The caller behind a verified API key or session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub user_name: String,
    pub account_id: String,
    pub account_name: String,
    pub role: Role,
    pub domain_id: String,
    /// The domain's path as the core writes it (`ROOT/eng`); opaque to the door.
    pub domain_path: String,
}

impl Caller {
    pub fn is_root_admin(&self) -> bool {
        self.role == Role::RootAdmin
    }
}

/// A user that logged in, with what the login reply shows.
#[derive(Debug, Clone)]
pub struct LoginUser {
    pub caller: Caller,
    pub first_name: String,
    pub last_name: String,
}

/// A failure of the port, by whose fault and how to tell the client.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A UUID parameter names nothing of its kind (431 with CloudStack's long text).
    #[error("parameter {param} names nothing: {value}")]
    UnknownId { param: &'static str, value: String },
    /// A value or combination the core refuses; the text names it.
    #[error("{0}")]
    InvalidParameter(String),
    /// The caller may not do or see this.
    #[error("{0}")]
    PermissionDenied(String),
    /// No host has room for what was asked (533).
    #[error("{0}")]
    InsufficientCapacity(String),
    /// Something still uses the resource (536).
    #[error("{0}")]
    ResourceInUse(String),
    /// The resource cannot be made, e.g. its name is taken (535).
    #[error("{0}")]
    ResourceAllocation(String),
    /// A command the registry lists but this port does not serve (432).
    #[error("{0} is not served by this port")]
    NotImplemented(&'static str),
    /// A served command asked for something it cannot do here, e.g. shrink a volume (432).
    #[error("{0}")]
    Unsupported(String),
    /// Not the caller's fault; logged, and sent as a generic 530.
    #[error("{0}")]
    Internal(String),
}

impl PortError {
    /// The error a client sees for this failure of `command`; an internal cause is logged,
    /// never sent.
    pub fn into_api_error(self, command: &str) -> ApiError {
        match self {
            Self::UnknownId { param, value } => ApiError::unknown_id(command, param, &value),
            Self::InvalidParameter(text) => ApiError::invalid_parameter(text),
            Self::PermissionDenied(text) => ApiError::permission_denied(text),
            Self::InsufficientCapacity(text) => ApiError::insufficient_capacity(text),
            Self::ResourceInUse(text) => ApiError::resource_in_use(text),
            Self::ResourceAllocation(text) => ApiError::resource_allocation(text),
            Self::NotImplemented(_) => ApiError::unsupported(command),
            Self::Unsupported(text) => ApiError::unsupported_because(text),
            Self::Internal(cause) => {
                tracing::error!(command, %cause, "the native port failed");
                ApiError::internal()
            }
        }
    }
}

/// The API command an asynchronous job was submitted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCommand {
    DeployVirtualMachine,
    StartVirtualMachine,
    StopVirtualMachine,
    RebootVirtualMachine,
    DestroyVirtualMachine,
    ExpungeVirtualMachine,
    CreateTags,
    DeleteTags,
    DeleteDomain,
    DeleteAccount,
    DisableAccount,
    DeleteTemplate,
    CreateTemplate,
    DeleteIso,
    AttachIso,
    DetachIso,
    AssociateIpAddress,
    DisassociateIpAddress,
    DisableStaticNat,
    AuthorizeSecurityGroupIngress,
    AuthorizeSecurityGroupEgress,
    RevokeSecurityGroupIngress,
    RevokeSecurityGroupEgress,
    CreateVolume,
    AttachVolume,
    DetachVolume,
    ResizeVolume,
    CreateSnapshot,
    DeleteSnapshot,
    ResetSshKeyForVirtualMachine,
}

impl JobCommand {
    pub const ALL: [Self; 30] = [
        Self::DeployVirtualMachine,
        Self::StartVirtualMachine,
        Self::StopVirtualMachine,
        Self::RebootVirtualMachine,
        Self::DestroyVirtualMachine,
        Self::ExpungeVirtualMachine,
        Self::CreateTags,
        Self::DeleteTags,
        Self::DeleteDomain,
        Self::DeleteAccount,
        Self::DisableAccount,
        Self::DeleteTemplate,
        Self::CreateTemplate,
        Self::DeleteIso,
        Self::AttachIso,
        Self::DetachIso,
        Self::AssociateIpAddress,
        Self::DisassociateIpAddress,
        Self::DisableStaticNat,
        Self::AuthorizeSecurityGroupIngress,
        Self::AuthorizeSecurityGroupEgress,
        Self::RevokeSecurityGroupIngress,
        Self::RevokeSecurityGroupEgress,
        Self::CreateVolume,
        Self::AttachVolume,
        Self::DetachVolume,
        Self::ResizeVolume,
        Self::CreateSnapshot,
        Self::DeleteSnapshot,
        Self::ResetSshKeyForVirtualMachine,
    ];

    /// The API name, which the port may store to remember the job's command.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::DeployVirtualMachine => "deployVirtualMachine",
            Self::StartVirtualMachine => "startVirtualMachine",
            Self::StopVirtualMachine => "stopVirtualMachine",
            Self::RebootVirtualMachine => "rebootVirtualMachine",
            Self::DestroyVirtualMachine => "destroyVirtualMachine",
            Self::ExpungeVirtualMachine => "expungeVirtualMachine",
            Self::CreateTags => "createTags",
            Self::DeleteTags => "deleteTags",
            Self::DeleteDomain => "deleteDomain",
            Self::DeleteAccount => "deleteAccount",
            Self::DisableAccount => "disableAccount",
            Self::DeleteTemplate => "deleteTemplate",
            Self::CreateTemplate => "createTemplate",
            Self::DeleteIso => "deleteIso",
            Self::AttachIso => "attachIso",
            Self::DetachIso => "detachIso",
            Self::AssociateIpAddress => "associateIpAddress",
            Self::DisassociateIpAddress => "disassociateIpAddress",
            Self::DisableStaticNat => "disableStaticNat",
            Self::AuthorizeSecurityGroupIngress => "authorizeSecurityGroupIngress",
            Self::AuthorizeSecurityGroupEgress => "authorizeSecurityGroupEgress",
            Self::RevokeSecurityGroupIngress => "revokeSecurityGroupIngress",
            Self::RevokeSecurityGroupEgress => "revokeSecurityGroupEgress",
            Self::CreateVolume => "createVolume",
            Self::AttachVolume => "attachVolume",
            Self::DetachVolume => "detachVolume",
            Self::ResizeVolume => "resizeVolume",
            Self::CreateSnapshot => "createSnapshot",
            Self::DeleteSnapshot => "deleteSnapshot",
            Self::ResetSshKeyForVirtualMachine => "resetSSHKeyForVirtualMachine",
        }
    }

    pub fn from_api_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.api_name() == name)
    }

    /// The Java class CloudStack names in a job's `cmd`.
    pub fn class(self) -> &'static str {
        match self {
            Self::DeployVirtualMachine => "org.apache.cloudstack.api.command.user.vm.DeployVMCmd",
            Self::StartVirtualMachine => "org.apache.cloudstack.api.command.user.vm.StartVMCmd",
            Self::StopVirtualMachine => "org.apache.cloudstack.api.command.user.vm.StopVMCmd",
            Self::RebootVirtualMachine => "org.apache.cloudstack.api.command.user.vm.RebootVMCmd",
            Self::DestroyVirtualMachine => "org.apache.cloudstack.api.command.user.vm.DestroyVMCmd",
            Self::ExpungeVirtualMachine => {
                "org.apache.cloudstack.api.command.admin.vm.ExpungeVMCmd"
            }
            Self::CreateTags => "org.apache.cloudstack.api.command.user.tag.CreateTagsCmd",
            Self::DeleteTags => "org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd",
            Self::DeleteDomain => "org.apache.cloudstack.api.command.admin.domain.DeleteDomainCmd",
            Self::DeleteAccount => {
                "org.apache.cloudstack.api.command.admin.account.DeleteAccountCmd"
            }
            Self::DisableAccount => {
                "org.apache.cloudstack.api.command.admin.account.DisableAccountCmd"
            }
            Self::DeleteTemplate => {
                "org.apache.cloudstack.api.command.user.template.DeleteTemplateCmd"
            }
            Self::CreateTemplate => {
                "org.apache.cloudstack.api.command.user.template.CreateTemplateCmd"
            }
            Self::DeleteIso => "org.apache.cloudstack.api.command.user.iso.DeleteIsoCmd",
            Self::AttachIso => "org.apache.cloudstack.api.command.user.iso.AttachIsoCmd",
            Self::DetachIso => "org.apache.cloudstack.api.command.user.iso.DetachIsoCmd",
            Self::AssociateIpAddress => {
                "org.apache.cloudstack.api.command.user.address.AssociateIPAddrCmd"
            }
            Self::DisassociateIpAddress => {
                "org.apache.cloudstack.api.command.user.address.DisassociateIPAddrCmd"
            }
            Self::DisableStaticNat => "org.apache.cloudstack.api.command.user.nat.DisableStaticNatCmd",
            Self::AuthorizeSecurityGroupIngress => {
                "org.apache.cloudstack.api.command.user.securitygroup.AuthorizeSecurityGroupIngressCmd"
            }
            Self::AuthorizeSecurityGroupEgress => {
                "org.apache.cloudstack.api.command.user.securitygroup.AuthorizeSecurityGroupEgressCmd"
            }
            Self::RevokeSecurityGroupIngress => {
                "org.apache.cloudstack.api.command.user.securitygroup.RevokeSecurityGroupIngressCmd"
            }
            Self::RevokeSecurityGroupEgress => {
                "org.apache.cloudstack.api.command.user.securitygroup.RevokeSecurityGroupEgressCmd"
            }
            Self::CreateVolume => "org.apache.cloudstack.api.command.user.volume.CreateVolumeCmd",
            Self::AttachVolume => "org.apache.cloudstack.api.command.user.volume.AttachVolumeCmd",
            Self::DetachVolume => "org.apache.cloudstack.api.command.user.volume.DetachVolumeCmd",
            Self::ResizeVolume => "org.apache.cloudstack.api.command.user.volume.ResizeVolumeCmd",
            Self::CreateSnapshot => {
                "org.apache.cloudstack.api.command.user.snapshot.CreateSnapshotCmd"
            }
            Self::DeleteSnapshot => {
                "org.apache.cloudstack.api.command.user.snapshot.DeleteSnapshotCmd"
            }
            Self::ResetSshKeyForVirtualMachine => {
                "org.apache.cloudstack.api.command.user.vm.ResetVMSSHKeyCmd"
            }
        }
    }

    /// CloudStack's `jobinstancetype`.
    pub fn instance_type(self) -> Option<&'static str> {
        match self {
            Self::CreateTags | Self::DeleteTags => None,
            Self::DeleteDomain => Some("Domain"),
            Self::DeleteAccount | Self::DisableAccount => Some("Account"),
            Self::DeleteTemplate | Self::CreateTemplate => Some("Template"),
            Self::DeleteIso => Some("Iso"),
            Self::AssociateIpAddress | Self::DisassociateIpAddress | Self::DisableStaticNat => {
                Some("IpAddress")
            }
            Self::AuthorizeSecurityGroupIngress
            | Self::AuthorizeSecurityGroupEgress
            | Self::RevokeSecurityGroupIngress
            | Self::RevokeSecurityGroupEgress => Some("SecurityGroup"),
            Self::CreateVolume | Self::AttachVolume | Self::DetachVolume | Self::ResizeVolume => {
                Some("Volume")
            }
            Self::CreateSnapshot | Self::DeleteSnapshot => Some("Snapshot"),
            _ => Some("VirtualMachine"),
        }
    }
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    VirtualMachine(Box<types::VirtualMachine>),
    Account(Box<types::Account>),
    /// `{"ipaddress": ...}`.
    PublicIpAddress(Box<types::PublicIpAddress>),
    /// `{"securitygroup": ...}`.
    SecurityGroup(Box<types::SecurityGroup>),
    /// `{"volume": ...}`.
    Volume(Box<volumes::Volume>),
    /// `{"snapshot": ...}`.
    Snapshot(Box<volumes::Snapshot>),
    /// `{"template": ...}`.
    Template(Box<types::Template>),
    /// `{"success": true}`.
    Success,
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    Pending,
    Succeeded(JobOutcome),
    /// With the error code a client would have got had the command been synchronous.
    Failed {
        code: ErrorCode,
        text: String,
    },
}

/// One job as the port reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub command: JobCommand,
    pub instance_id: Option<String>,
    pub status: JobStatus,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
}

type PortResult<T> = Result<T, PortError>;

/// What the native door needs from the core.
#[async_trait::async_trait]
pub trait NativePort: Send + Sync + 'static {
    /// The caller and secret key for an API key, or `None` if unknown or revoked.
    async fn credential(&self, api_key: &str) -> PortResult<Option<(Caller, String)>>;

    /// The user a username and password name, if they match and the user may log in.
    async fn login(&self, req: &Login) -> PortResult<Option<LoginUser>>;
    /// Records a new session by the digest of its secrets.
    async fn start_session(&self, user_id: &str, digest: &str, idle: Duration) -> PortResult<()>;
    /// The caller of a live session (and keeps it alive for `idle` more), or `None`.
    async fn session(&self, digest: &str, idle: Duration) -> PortResult<Option<Caller>>;
    /// Ends a session; ending one that is gone is not an error.
    async fn end_session(&self, digest: &str) -> PortResult<()>;

    async fn capabilities(&self, caller: &Caller) -> PortResult<types::Capability>;
    async fn list_zones(
        &self,
        caller: &Caller,
        req: &requests::ListInfra,
    ) -> PortResult<Listing<types::Zone>>;
    async fn list_pods(
        &self,
        caller: &Caller,
        req: &requests::ListInfra,
    ) -> PortResult<Listing<types::Pod>>;
    async fn list_clusters(
        &self,
        caller: &Caller,
        req: &requests::ListInfra,
    ) -> PortResult<Listing<types::Cluster>>;
    async fn list_hosts(
        &self,
        caller: &Caller,
        req: &requests::ListInfra,
    ) -> PortResult<Listing<types::Host>>;
    async fn list_hypervisors(
        &self,
        caller: &Caller,
        req: &requests::ListHypervisors,
    ) -> PortResult<Listing<types::Hypervisor>>;
    async fn list_service_offerings(
        &self,
        caller: &Caller,
        req: &requests::ListNamed,
    ) -> PortResult<Listing<types::ServiceOffering>>;
    async fn list_disk_offerings(
        &self,
        caller: &Caller,
        req: &requests::ListNamed,
    ) -> PortResult<Listing<types::DiskOffering>>;
    async fn list_templates(
        &self,
        caller: &Caller,
        req: &requests::ListTemplates,
    ) -> PortResult<Listing<types::Template>>;
    async fn list_os_types(
        &self,
        caller: &Caller,
        req: &requests::ListNamed,
    ) -> PortResult<Listing<types::OsType>>;
    /// Starts downloading a template from a URL; the template, not ready yet.
    async fn register_template(
        &self,
        _caller: &Caller,
        _req: &templates::RegisterTemplate,
    ) -> PortResult<types::Template> {
        Err(PortError::NotImplemented("registerTemplate"))
    }
    async fn update_template(
        &self,
        _caller: &Caller,
        _req: &templates::UpdateTemplate,
    ) -> PortResult<types::Template> {
        Err(PortError::NotImplemented("updateTemplate"))
    }
    /// Deletes a template: the job id.
    async fn delete_template(&self, _caller: &Caller, _id: &str) -> PortResult<String> {
        Err(PortError::NotImplemented("deleteTemplate"))
    }
    /// Starts making a template from a snapshot or a volume: (template id, job id).
    async fn create_template(
        &self,
        _caller: &Caller,
        _req: &templates::CreateTemplate,
    ) -> PortResult<(String, String)> {
        Err(PortError::NotImplemented("createTemplate"))
    }
    async fn update_template_permissions(
        &self,
        _caller: &Caller,
        _req: &templates::UpdateTemplatePermissions,
    ) -> PortResult<()> {
        Err(PortError::NotImplemented("updateTemplatePermissions"))
    }
    async fn list_template_permissions(
        &self,
        _caller: &Caller,
        _id: &str,
    ) -> PortResult<types::TemplatePermission> {
        Err(PortError::NotImplemented("listTemplatePermissions"))
    }
    async fn list_isos(
        &self,
        _caller: &Caller,
        _req: &isos::ListIsos,
    ) -> PortResult<Listing<types::Template>> {
        Err(PortError::NotImplemented("listIsos"))
    }
    /// Starts downloading an ISO from a URL; the ISO, not ready yet.
    async fn register_iso(
        &self,
        _caller: &Caller,
        _req: &isos::RegisterIso,
    ) -> PortResult<types::Template> {
        Err(PortError::NotImplemented("registerIso"))
    }
    async fn update_iso(
        &self,
        _caller: &Caller,
        _req: &isos::UpdateIso,
    ) -> PortResult<types::Template> {
        Err(PortError::NotImplemented("updateIso"))
    }
    /// Deletes an ISO: the job id.
    async fn delete_iso(&self, _caller: &Caller, _id: &str) -> PortResult<String> {
        Err(PortError::NotImplemented("deleteIso"))
    }
    /// Queues an attach or detach of an instance's ISO: the job id.
    async fn change_iso_drive(
        &self,
        _caller: &Caller,
        _req: &isos::IsoDrive,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("attachIso"))
    }
    async fn list_domains(
        &self,
        caller: &Caller,
        req: &requests::ListDomains,
    ) -> PortResult<Listing<types::Domain>>;
    async fn list_accounts(
        &self,
        caller: &Caller,
        req: &requests::ListOwned,
    ) -> PortResult<Listing<types::Account>>;
    async fn list_users(
        &self,
        caller: &Caller,
        req: &requests::ListOwned,
    ) -> PortResult<Listing<types::User>>;
    async fn get_user(&self, caller: &Caller, req: &requests::GetUser) -> PortResult<types::User>;
    async fn list_virtual_machines(
        &self,
        caller: &Caller,
        req: &requests::ListVirtualMachines,
    ) -> PortResult<Listing<types::VirtualMachine>>;
    async fn list_projects(
        &self,
        caller: &Caller,
        req: &requests::ListOwned,
    ) -> PortResult<Listing<types::Project>>;

    /// Places and records an instance and queues its start: (instance id, job id).
    async fn deploy_virtual_machine(
        &self,
        _caller: &Caller,
        _req: &requests::DeployVirtualMachine,
    ) -> PortResult<(String, String)> {
        Err(PortError::NotImplemented("deployVirtualMachine"))
    }
    /// Queues an operation on an instance: the job id.
    async fn virtual_machine_action(
        &self,
        _caller: &Caller,
        _req: &requests::VmRequest,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("virtual machine actions"))
    }
    /// Brings a destroyed instance back, stopped (synchronous, as in CloudStack).
    async fn recover_virtual_machine(
        &self,
        _caller: &Caller,
        _req: &requests::ById,
    ) -> PortResult<types::VirtualMachine> {
        Err(PortError::NotImplemented("recoverVirtualMachine"))
    }
    async fn update_virtual_machine(
        &self,
        _caller: &Caller,
        _req: &requests::UpdateVirtualMachine,
    ) -> PortResult<types::VirtualMachine> {
        Err(PortError::NotImplemented("updateVirtualMachine"))
    }
    async fn change_service_offering(
        &self,
        _caller: &Caller,
        _req: &requests::ChangeServiceOffering,
    ) -> PortResult<types::VirtualMachine> {
        Err(PortError::NotImplemented("changeServiceForVirtualMachine"))
    }
    /// Adds a host to a cluster; the new host as `listHosts` shows it.
    async fn add_host(
        &self,
        _caller: &Caller,
        _req: &requests::AddHost,
    ) -> PortResult<Listing<types::Host>> {
        Err(PortError::NotImplemented("addHost"))
    }
    /// Sets a stopped instance's key pair; the ID of the (finished) job.
    async fn reset_ssh_key(
        &self,
        _caller: &Caller,
        _req: &requests::ResetSshKey,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("resetSSHKeyForVirtualMachine"))
    }
    /// A job the caller may see.
    async fn job(&self, _caller: &Caller, _req: &requests::QueryJob) -> PortResult<JobView> {
        Err(PortError::NotImplemented("queryAsyncJobResult"))
    }
    async fn list_jobs(
        &self,
        _caller: &Caller,
        _req: &requests::ListLog,
    ) -> PortResult<Listing<JobView>> {
        Err(PortError::NotImplemented("listAsyncJobs"))
    }
    async fn list_events(
        &self,
        _caller: &Caller,
        _req: &requests::ListLog,
    ) -> PortResult<Listing<types::Event>> {
        Err(PortError::NotImplemented("listEvents"))
    }
    async fn list_public_ip_addresses(
        &self,
        _caller: &Caller,
        _req: &requests::ListPublicIps,
    ) -> PortResult<Listing<types::PublicIpAddress>> {
        Err(PortError::NotImplemented("listPublicIpAddresses"))
    }
    /// Acquires a public address: (address id, job id).
    async fn acquire_ip(
        &self,
        _caller: &Caller,
        _req: &requests::AcquireIp,
    ) -> PortResult<(String, String)> {
        Err(PortError::NotImplemented("associateIpAddress"))
    }
    /// Releases a public address: the job id.
    async fn release_ip(&self, _caller: &Caller, _req: &requests::IpRequest) -> PortResult<String> {
        Err(PortError::NotImplemented("disassociateIpAddress"))
    }
    async fn enable_static_nat(
        &self,
        _caller: &Caller,
        _req: &requests::EnableStaticNat,
    ) -> PortResult<()> {
        Err(PortError::NotImplemented("enableStaticNat"))
    }
    /// Ends an address's static NAT: the job id.
    async fn disable_static_nat(
        &self,
        _caller: &Caller,
        _req: &requests::IpRequest,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("disableStaticNat"))
    }
    async fn create_security_group(
        &self,
        _caller: &Caller,
        _req: &requests::CreateSecurityGroup,
    ) -> PortResult<types::SecurityGroup> {
        Err(PortError::NotImplemented("createSecurityGroup"))
    }
    async fn list_security_groups(
        &self,
        _caller: &Caller,
        _req: &requests::ListSecurityGroups,
    ) -> PortResult<Listing<types::SecurityGroup>> {
        Err(PortError::NotImplemented("listSecurityGroups"))
    }
    async fn delete_security_group(
        &self,
        _caller: &Caller,
        _req: &requests::DeleteSecurityGroup,
    ) -> PortResult<()> {
        Err(PortError::NotImplemented("deleteSecurityGroup"))
    }
    /// Adds ingress or egress rules to a group: the job id.
    async fn authorize_rules(
        &self,
        _caller: &Caller,
        _req: &requests::AuthorizeRules,
        _egress: bool,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("authorizeSecurityGroupIngress"))
    }
    /// Removes one ingress or egress rule by id: the job id.
    async fn revoke_rule(
        &self,
        _caller: &Caller,
        _req: &requests::ById,
        _egress: bool,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("revokeSecurityGroupIngress"))
    }
    async fn list_network_offerings(
        &self,
        _caller: &Caller,
        _req: &requests::ListOfferings,
    ) -> PortResult<Listing<types::NetworkOffering>> {
        Err(PortError::NotImplemented("listNetworkOfferings"))
    }
    async fn list_vpc_offerings(
        &self,
        _caller: &Caller,
        _req: &requests::ListOfferings,
    ) -> PortResult<Listing<types::VpcOffering>> {
        Err(PortError::NotImplemented("listVPCOfferings"))
    }
    async fn create_service_offering(
        &self,
        _caller: &Caller,
        _req: &requests::CreateServiceOffering,
    ) -> PortResult<types::ServiceOffering> {
        Err(PortError::NotImplemented("createServiceOffering"))
    }
    async fn update_service_offering(
        &self,
        _caller: &Caller,
        _req: &requests::UpdateNamed,
    ) -> PortResult<types::ServiceOffering> {
        Err(PortError::NotImplemented("updateServiceOffering"))
    }
    async fn delete_service_offering(
        &self,
        _caller: &Caller,
        _req: &requests::ById,
    ) -> PortResult<()> {
        Err(PortError::NotImplemented("deleteServiceOffering"))
    }
    async fn create_disk_offering(
        &self,
        _caller: &Caller,
        _req: &requests::CreateDiskOffering,
    ) -> PortResult<types::DiskOffering> {
        Err(PortError::NotImplemented("createDiskOffering"))
    }
    async fn delete_disk_offering(
        &self,
        _caller: &Caller,
        _req: &requests::ById,
    ) -> PortResult<()> {
        Err(PortError::NotImplemented("deleteDiskOffering"))
    }
    async fn create_domain(
        &self,
        _caller: &Caller,
        _req: &requests::CreateDomain,
    ) -> PortResult<types::Domain> {
        Err(PortError::NotImplemented("createDomain"))
    }
    async fn update_domain(
        &self,
        _caller: &Caller,
        _req: &requests::UpdateNamed,
    ) -> PortResult<types::Domain> {
        Err(PortError::NotImplemented("updateDomain"))
    }
    /// Deletes a domain: the job id.
    async fn delete_domain(&self, _caller: &Caller, _req: &requests::ById) -> PortResult<String> {
        Err(PortError::NotImplemented("deleteDomain"))
    }
    async fn create_account(
        &self,
        _caller: &Caller,
        _req: &requests::CreateAccount,
    ) -> PortResult<types::Account> {
        Err(PortError::NotImplemented("createAccount"))
    }
    async fn update_account(
        &self,
        _caller: &Caller,
        _req: &requests::UpdateAccount,
    ) -> PortResult<types::Account> {
        Err(PortError::NotImplemented("updateAccount"))
    }
    /// Deletes, disables or (synchronously) enables an account; for the asynchronous ones the
    /// job id, for enable the account.
    async fn account_state(
        &self,
        _caller: &Caller,
        _req: &requests::AccountAction,
    ) -> PortResult<Result<String, types::Account>> {
        Err(PortError::NotImplemented("account state commands"))
    }
    async fn create_user(
        &self,
        _caller: &Caller,
        _req: &requests::CreateUser,
    ) -> PortResult<types::User> {
        Err(PortError::NotImplemented("createUser"))
    }
    async fn update_user(
        &self,
        _caller: &Caller,
        _req: &requests::UpdateUser,
    ) -> PortResult<types::User> {
        Err(PortError::NotImplemented("updateUser"))
    }
    async fn delete_user(&self, _caller: &Caller, _req: &requests::ById) -> PortResult<()> {
        Err(PortError::NotImplemented("deleteUser"))
    }
    /// Replaces (`register`) or reads a user's keys.
    async fn user_keys(
        &self,
        _caller: &Caller,
        _req: &requests::ById,
        _register: bool,
    ) -> PortResult<types::UserKeys> {
        Err(PortError::NotImplemented("user keys"))
    }
    /// Makes (no public key given) or registers a key pair.
    async fn add_key_pair(
        &self,
        _caller: &Caller,
        _req: &requests::KeyPairRequest,
    ) -> PortResult<types::SshKeyPair> {
        Err(PortError::NotImplemented("SSH key pairs"))
    }
    async fn list_key_pairs(
        &self,
        _caller: &Caller,
        _req: &requests::ListKeyPairs,
    ) -> PortResult<Listing<types::SshKeyPair>> {
        Err(PortError::NotImplemented("listSSHKeyPairs"))
    }
    async fn delete_key_pair(
        &self,
        _caller: &Caller,
        _req: &requests::KeyPairRequest,
    ) -> PortResult<()> {
        Err(PortError::NotImplemented("deleteSSHKeyPair"))
    }
    /// Tags resources (`delete` false) or removes their tags: the job id.
    async fn change_tags(
        &self,
        _caller: &Caller,
        _req: &requests::TagRequest,
        _delete: bool,
    ) -> PortResult<String> {
        Err(PortError::NotImplemented("tags"))
    }
    async fn list_tags(
        &self,
        _caller: &Caller,
        _req: &requests::ListTags,
    ) -> PortResult<Listing<types::Tag>> {
        Err(PortError::NotImplemented("listTags"))
    }
    async fn list_volumes(
        &self,
        _caller: &Caller,
        _req: &volumes::ListVolumes,
    ) -> PortResult<Listing<volumes::Volume>> {
        Err(PortError::NotImplemented("listVolumes"))
    }

    async fn list_snapshots(
        &self,
        _caller: &Caller,
        _req: &volumes::ListVolumes,
    ) -> PortResult<Listing<volumes::Snapshot>> {
        Err(PortError::NotImplemented("listSnapshots"))
    }

    /// Makes a data volume (and queues its attach when an instance is named): (volume id,
    /// job id).
    async fn create_volume(
        &self,
        _caller: &Caller,
        _req: &volumes::CreateVolume,
    ) -> PortResult<(String, String)> {
        Err(PortError::NotImplemented("createVolume"))
    }

    /// Queues an attach, detach or resize: the job id.
    async fn volume_job(&self, _caller: &Caller, _req: &volumes::VolumeJob) -> PortResult<String> {
        Err(PortError::NotImplemented("volume jobs"))
    }

    async fn delete_volume(&self, _caller: &Caller, _req: &requests::ById) -> PortResult<()> {
        Err(PortError::NotImplemented("deleteVolume"))
    }

    /// Starts a snapshot of a volume: (snapshot id, job id).
    async fn create_snapshot(
        &self,
        _caller: &Caller,
        _req: &volumes::CreateSnapshot,
    ) -> PortResult<(String, String)> {
        Err(PortError::NotImplemented("createSnapshot"))
    }

    /// Deletes a snapshot: the job id.
    async fn delete_snapshot(&self, _caller: &Caller, _req: &requests::ById) -> PortResult<String> {
        Err(PortError::NotImplemented("deleteSnapshot"))
    }

    async fn list_networks(
        &self,
        _caller: &Caller,
        _req: &requests::ListNetworks,
    ) -> PortResult<Listing<types::Network>> {
        Err(PortError::NotImplemented("listNetworks"))
    }
    async fn list_vpcs(
        &self,
        _caller: &Caller,
        _req: &requests::ListNetworks,
    ) -> PortResult<Listing<types::VpcInfo>> {
        Err(PortError::NotImplemented("listVPCs"))
    }
    async fn list_nics(
        &self,
        _caller: &Caller,
        _req: &requests::ListNetworks,
    ) -> PortResult<Listing<types::Nic>> {
        Err(PortError::NotImplemented("listNics"))
    }
    /// Port forwarding rules, or with `static_nat` the static NAT (IP forwarding) rules.
    async fn list_forwarding_rules(
        &self,
        _caller: &Caller,
        _req: &requests::ListForwardingRules,
        _static_nat: bool,
    ) -> PortResult<Listing<types::ForwardingRule>> {
        Err(PortError::NotImplemented("forwarding rule lists"))
    }
}

/// A reply before rendering.
struct Reply {
    /// The top-level key: `<command>response`, or `errorresponse`.
    name: String,
    outcome: Result<Value, ApiError>,
    cookies: Vec<String>,
}

impl Reply {
    fn new(name: String, outcome: Result<Value, ApiError>) -> Self {
        Self {
            name,
            outcome,
            cookies: Vec::new(),
        }
    }
}

/// The reply name CloudStack uses for a command: its own if CloudStack knows it.
fn reply_name(command: Option<&str>) -> String {
    match command {
        Some(c) if registry::find(c).is_some() || registry::is_cloudstack_api(c) => {
            render::response_name(c)
        }
        _ => "errorresponse".to_owned(),
    }
}

fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// Answers one request to `/client/api`.
pub async fn handle<P: NativePort + ?Sized>(
    port: &P,
    req: http::Request<Bytes>,
    _request_id: &str,
) -> http::Response<Bytes> {
    let (parts, body) = req.into_parts();
    let body = is_form(&parts.headers).then_some(&body[..]);
    let params = Params::decode(parts.uri.query(), body);
    let format = params.format();
    let command = params.command().map(str::to_owned);
    let span = tracing::Span::current();
    span.record("action", command.as_deref().unwrap_or(""));

    let reply = match command.as_deref() {
        None => Reply::new(
            "errorresponse".to_owned(),
            Err(ApiError::bad_request("no command specified")),
        ),
        Some("login") => login(port, &parts, &params).await,
        Some("logout") => logout(port, &parts, &params).await,
        Some(c) => Reply::new(reply_name(Some(c)), serve(port, &parts, &params, c).await),
    };
    render_reply(format, reply)
}

fn render_reply(format: Format, reply: Reply) -> http::Response<Bytes> {
    let Reply {
        name,
        outcome,
        cookies,
    } = reply;
    let (status, body, description) = match outcome {
        Ok(body) => (200, body, None),
        Err(e) => (e.code.number(), render::error_body(&e), Some(e.text)),
    };
    let (content_type, bytes) = render::envelope(format, &name, &body);
    let mut resp = http::Response::new(bytes);
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Some(text) = description {
        let printable: String = text
            .chars()
            .filter(|c| c.is_ascii() && !c.is_control())
            .collect();
        if let Ok(v) = http::HeaderValue::from_str(&printable) {
            headers.insert("x-description", v);
        }
    }
    for cookie in &cookies {
        if let Ok(v) = http::HeaderValue::from_str(cookie) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
    resp
}

/// The timeout of a session without use.
const SESSION_IDLE: Duration = Duration::from_secs(session::TIMEOUT_SECS);

async fn login<P: NativePort + ?Sized>(
    port: &P,
    parts: &http::request::Parts,
    params: &Params,
) -> Reply {
    let name = render::response_name("login");
    if parts.method != http::Method::POST {
        return Reply::new(
            name,
            Err(ApiError::method_not_allowed(
                "Please use HTTP POST to authenticate using this API",
            )),
        );
    }
    let Some(spec) = registry::find("login") else {
        return Reply::new(name, Err(ApiError::internal()));
    };
    let args = match args::Args::parse(spec, params) {
        Ok(a) => a,
        Err(e) => return Reply::new(name, Err(e)),
    };
    let req = Login::decode(&args);
    let user = match port.login(&req).await {
        Ok(Some(user)) => user,
        Ok(None) | Err(PortError::UnknownId { .. }) => {
            tracing::info!(username = %req.username, "login refused");
            return Reply::new(
                name,
                Err(ApiError::login_failed(
                    &req.username,
                    &req.domain.to_string(),
                )),
            );
        }
        Err(e) => return Reply::new(name, Err(dispatch::port_failure("login", e))),
    };
    tracing::Span::current().record("account", user.caller.account_name.as_str());

    let session = NewSession::generate();
    if let Err(e) = port
        .start_session(&user.caller.user_id, &session.digest(), SESSION_IDLE)
        .await
    {
        return Reply::new(name, Err(dispatch::port_failure("login", e)));
    }
    let c = &user.caller;
    let body = types::LoginResponse {
        username: c.user_name.clone(),
        userid: c.user_id.clone(),
        domainid: c.domain_id.clone(),
        timeout: session::TIMEOUT_SECS as i64,
        account: c.account_name.clone(),
        firstname: user.first_name.clone(),
        lastname: user.last_name.clone(),
        r#type: c.role.account_type().to_string(),
        registered: "false".to_owned(),
        sessionkey: session.key.clone(),
        is2faenabled: "false".to_owned(),
        is2faverified: "false".to_owned(),
    };
    let outcome = serde_json::to_value(&body).map_err(|_| ApiError::internal());
    // LIMITATION: the cookies never carry Secure: the door does not know whether the
    // connection was TLS.
    Reply {
        name,
        outcome,
        cookies: session::login_cookies(&session, false).to_vec(),
    }
}

async fn logout<P: NativePort + ?Sized>(
    port: &P,
    parts: &http::request::Parts,
    params: &Params,
) -> Reply {
    let name = render::response_name("logout");
    // cloudmonkey logs out with its cookies alone, so the cookie's key stands in for the
    // parameter here: ending a session needs no protection against being forged.
    let key = params
        .get("sessionkey")
        .or_else(|| session::cookie(&parts.headers, "sessionkey"));
    if let SessionProof::Digest(digest) = session::proof(key, &parts.headers) {
        if let Err(e) = port.end_session(&digest).await {
            return Reply::new(name, Err(dispatch::port_failure("logout", e)));
        }
    }
    let body = serde_json::json!({ "description": "success" });
    Reply {
        name,
        outcome: Ok(body),
        cookies: session::logout_cookies().to_vec(),
    }
}

/// Authenticates the request: by session if it carries a `sessionkey`, else by signature.
async fn authenticate<P: NativePort + ?Sized>(
    port: &P,
    parts: &http::request::Parts,
    params: &Params,
) -> Result<Caller, ApiError> {
    let internal = |e| dispatch::port_failure("authenticate", e);
    match session::proof(params.get("sessionkey"), &parts.headers) {
        SessionProof::Digest(digest) => {
            return port
                .session(&digest, SESSION_IDLE)
                .await
                .map_err(internal)?
                .ok_or_else(ApiError::unauthorized);
        }
        SessionProof::Invalid => return Err(ApiError::unauthorized()),
        SessionProof::None => {}
    }

    let api_key = params.get("apikey").filter(|k| !k.is_empty());
    let signature = params.get("signature").filter(|s| !s.is_empty());
    let (Some(api_key), Some(signature)) = (api_key, signature) else {
        return Err(ApiError::unauthorized());
    };
    let Some((caller, secret)) = port.credential(api_key).await.map_err(internal)? else {
        tracing::info!(api_key, "unknown API key");
        return Err(ApiError::unauthorized());
    };
    if let Err(e) = signature::check_expiry(
        params.get("signatureversion"),
        params.get("expires"),
        chrono::Utc::now(),
    ) {
        tracing::info!(api_key, reason = %e, "request refused");
        return Err(ApiError::unauthorized());
    }
    let pairs: Vec<(&str, &str)> = params
        .pairs()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if !signature::verify(&pairs, &secret, signature) {
        tracing::info!(api_key, "signature mismatch");
        return Err(ApiError::unauthorized());
    }
    Ok(caller)
}

/// Everything after decoding, for any command but `login` and `logout`.
async fn serve<P: NativePort + ?Sized>(
    port: &P,
    parts: &http::request::Parts,
    params: &Params,
    command: &str,
) -> Result<Value, ApiError> {
    let caller = authenticate(port, parts, params).await?;
    tracing::Span::current().record("account", caller.account_name.as_str());

    let Some(spec) = registry::find(command) else {
        if registry::is_cloudstack_api(command) {
            return Err(ApiError::unsupported(command));
        }
        return Err(ApiError::unauthorized());
    };
    if !spec.access.allows(caller.role) {
        return Err(ApiError::unauthorized());
    }
    params.check_map_syntax()?;
    if let Some((name, _)) = params.first_control_character() {
        return Err(ApiError::param_error(format!(
            "Received value for parameter {name} is invalid, contains illegal ASCII \
             non-printable characters"
        )));
    }
    let args = args::Args::parse(spec, params)?;
    match spec.command {
        Command::Login | Command::Logout => Err(ApiError::internal()),
        _ => dispatch::run(port, &caller, spec, &args).await,
    }
}
