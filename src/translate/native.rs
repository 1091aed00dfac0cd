//! The native door's port, over the core: turns the door's typed CloudStack requests into
//! queries of the model and the model's rows into the door's CloudStack objects. CloudStack's
//! listing rules live here too: who sees what (`listall`, `domainid`, `isrecursive`,
//! `account`, `projectid`), the template filters, and which unknown ids are a 431.
//!
//! LIMITATION: identity, infrastructure and offering lists are filtered and paged in memory
//! over the whole (small) tables; instances are listed and paged in SQL.

mod addresses;
mod hosts;
mod offerings;
mod security_groups;

#[path = "native_volumes.rs"]
mod volumes;

use std::collections::HashMap;
use std::time::Duration;

use cirrus_native::requests::{
    AccountAction, AccountChange, AccountKind, AccountRef, CreateAccount, CreateDomain, CreateUser,
    UpdateAccount, UpdateUser,
};
use cirrus_native::requests::{
    ById, ChangeServiceOffering, CreateDiskOffering, CreateServiceOffering, DeployVirtualMachine,
    DomainRef, GetUser, ListDomains, ListForwardingRules, ListHypervisors, ListInfra, ListLog,
    ListNamed, ListOwned, ListPublicIps, ListTemplates, ListVirtualMachines, Login, QueryJob,
    Scope, TemplateFilter, UpdateNamed, UpdateVirtualMachine, VmAction, VmRequest,
};
use cirrus_native::requests::{KeyPairRequest, ListKeyPairs, ListNetworks, ListTags, TagRequest};
use cirrus_native::types as wire;
use cirrus_native::wire::Timestamp;
use cirrus_native::{
    keyword_matches, Caller, ErrorCode, JobCommand, JobOutcome, JobStatus, JobView, Listing,
    LoginUser, NativePort, PortError, Role,
};

use super::Translator;

mod isos;
mod templates;
use crate::error::CoreError;
use crate::model::api_job::{self, NewApiJob};
use crate::model::identity::{self, Account, Domain, Principal, Role as CoreRole, User};
use crate::model::identity_admin::{self, AccountState, UserChanges};
use crate::model::instance::InstanceRow;
use crate::model::instance_edit::{self, InstanceSettings};
use crate::model::instance_options::{self, InstanceOptions};
use crate::model::offering_admin::{self, NewServiceOffering, Removal};
use crate::model::scope::{
    self as listing, in_tree, InstanceParts, InstanceQuery, InstanceView, JobEntry, LogQuery,
    Visibility,
};
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::model::template::{Template, BUILTIN_TEMPLATE_NAME};
use crate::model::{infra, offering, os_type, session};
use crate::model::{keypair, network};
use crate::orchestrator::jobs::FailureCode;
use crate::orchestrator::LaunchAttachments;
use crate::orchestrator::LaunchSpec;

// The root device every instance has, the one the EC2 door names.
use super::ec2::ROOT_DEVICE_NAME;

fn port_error(e: CoreError) -> PortError {
    match e {
        CoreError::InvalidParameter(text) => PortError::InvalidParameter(text),
        CoreError::PermissionDenied(text) => PortError::PermissionDenied(text),
        CoreError::InsufficientCapacity(text) | CoreError::NoFreeAddress(text) => {
            PortError::InsufficientCapacity(text)
        }
        e @ CoreError::IncorrectState { .. } => {
            PortError::InvalidParameter(capitalized(&e.to_string()))
        }
        e @ CoreError::AlreadyExists { .. } => {
            PortError::ResourceAllocation(capitalized(&e.to_string()))
        }
        e @ CoreError::NotFound { .. } => PortError::InvalidParameter(capitalized(&e.to_string())),
        CoreError::Store(source) => PortError::Internal(format!("the database failed: {source}")),
        other => PortError::Internal(other.to_string()),
    }
}

fn role_of(role: CoreRole) -> Role {
    match role {
        CoreRole::RootAdmin => Role::RootAdmin,
        CoreRole::DomainAdmin => Role::DomainAdmin,
        CoreRole::User => Role::User,
    }
}

pub(crate) fn caller_of(p: &Principal) -> Caller {
    Caller {
        user_id: p.user.id.clone(),
        user_name: p.user.username.clone(),
        account_id: p.account.id.clone(),
        account_name: p.account.name.clone(),
        role: role_of(p.account.role),
        domain_id: p.domain.id.clone(),
        domain_path: p.domain.path.clone(),
    }
}

fn unknown(param: &'static str, value: &str) -> PortError {
    PortError::UnknownId {
        param,
        value: value.to_owned(),
    }
}

/// Fails with a 431 if `id` is given and no item has it.
fn check_known<T>(
    param: &'static str,
    id: Option<&String>,
    items: &[T],
    id_of: impl Fn(&T) -> &str,
) -> Result<(), PortError> {
    match id {
        Some(id) if !items.iter().any(|i| id_of(i) == id) => Err(unknown(param, id)),
        _ => Ok(()),
    }
}

fn same_name(filter: Option<&String>, name: &str) -> bool {
    filter.is_none_or(|f| f.eq_ignore_ascii_case(name))
}

fn same(filter: Option<&String>, value: &str) -> bool {
    filter.is_none_or(|f| f == value)
}

/// `up` -> `Up`: the core's lowercase states in CloudStack's capitalized words.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn percent(used: i64, total: i64) -> String {
    if total <= 0 {
        return "0%".to_owned();
    }
    let p = used as f64 * 100.0 / total as f64;
    let s = format!("{p:.2}");
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

const MIB: i64 = 1 << 20;

/// The accounts, domains and users, loaded once per listing.
struct Directory {
    domains: Vec<Domain>,
    accounts: Vec<Account>,
}

impl Directory {
    fn domain(&self, id: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.id == id)
    }

    fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    fn domain_of_account(&self, account_id: &str) -> Option<&Domain> {
        self.account(account_id)
            .and_then(|a| self.domain(&a.domain_id))
    }

    fn admits(&self, v: &Visibility, account_id: &str) -> bool {
        match self.domain_of_account(account_id) {
            Some(d) => v.admits(account_id, &d.id, &d.path),
            None => false,
        }
    }
}

impl Translator {
    fn pool(&self) -> &sqlx::AnyPool {
        &self.cloud.store.pool
    }

    async fn directory(&self) -> Result<Directory, PortError> {
        Ok(Directory {
            domains: identity::list_domains(self.pool())
                .await
                .map_err(port_error)?,
            accounts: identity::list_accounts(self.pool())
                .await
                .map_err(port_error)?,
        })
    }

    /// CloudStack's `buildACLSearchParameters`: whose resources an owned-resource listing shows.
    fn visibility(
        &self,
        dir: &Directory,
        caller: &Caller,
        scope: &Scope,
        id_given: bool,
    ) -> Result<Visibility, PortError> {
        if let Some(project) = &scope.project_id {
            // LIMITATION: there are no projects yet, so a project scope shows nothing.
            if project == "-1" {
                return Ok(Visibility::Nothing);
            }
            return Err(unknown("projectid", project));
        }
        let domain = match &scope.domain_id {
            Some(id) => Some(dir.domain(id).ok_or_else(|| unknown("domainid", id))?),
            None => None,
        };
        let account_in = |domain: &Domain, name: &str| {
            dir.accounts
                .iter()
                .find(|a| a.domain_id == domain.id && a.name.eq_ignore_ascii_case(name))
                .map(|a| Visibility::Account(a.id.clone()))
                .ok_or_else(|| {
                    PortError::InvalidParameter(format!(
                        "Unable to find account {name} in domain {}",
                        domain.id
                    ))
                })
        };
        if caller.role == Role::User {
            if domain.is_some_and(|d| d.id != caller.domain_id) {
                return Err(PortError::PermissionDenied(format!(
                    "Account {} may not list resources of another domain",
                    caller.account_name
                )));
            }
            if scope
                .account
                .as_ref()
                .is_some_and(|a| !a.eq_ignore_ascii_case(&caller.account_name))
            {
                return Err(PortError::PermissionDenied(format!(
                    "Account {} may not list resources of another account",
                    caller.account_name
                )));
            }
            return Ok(Visibility::Account(caller.account_id.clone()));
        }
        let own_tree = || {
            if caller.role == Role::RootAdmin {
                Visibility::Everything
            } else {
                Visibility::DomainTree(caller.domain_path.clone())
            }
        };
        if let Some(d) = domain {
            if !in_tree(&caller.domain_path, &d.path) {
                return Err(PortError::PermissionDenied(format!(
                    "Account {} may not operate within domain {}",
                    caller.account_name, d.id
                )));
            }
            return match &scope.account {
                Some(name) => account_in(d, name),
                None if scope.is_recursive => Ok(Visibility::DomainTree(d.path.clone())),
                None => Ok(Visibility::Domain(d.id.clone())),
            };
        }
        if let Some(name) = &scope.account {
            let own = dir
                .domain(&caller.domain_id)
                .ok_or_else(|| PortError::Internal("the caller's domain is gone".into()))?;
            return account_in(own, name);
        }
        if id_given || scope.list_all {
            return Ok(own_tree());
        }
        Ok(Visibility::Account(caller.account_id.clone()))
    }

    /// The domains an identity listing (accounts, users) covers: by default the caller's own
    /// domain, with `listall` its whole subtree, with `domainid` that domain (and below with
    /// `isrecursive`); a user sees only its own account.
    fn identity_visibility(
        &self,
        dir: &Directory,
        caller: &Caller,
        req: &ListOwned,
    ) -> Result<Visibility, PortError> {
        let scope = &req.scope;
        if caller.role == Role::User || scope.account.is_some() || scope.project_id.is_some() {
            return self.visibility(dir, caller, scope, req.id.is_some());
        }
        if scope.domain_id.is_some() {
            return self.visibility(dir, caller, scope, req.id.is_some());
        }
        if req.id.is_some() || scope.list_all {
            return Ok(if caller.role == Role::RootAdmin {
                Visibility::Everything
            } else {
                Visibility::DomainTree(caller.domain_path.clone())
            });
        }
        Ok(Visibility::Domain(caller.domain_id.clone()))
    }

    fn user_view(&self, dir: &Directory, u: &User, api_key: Option<String>) -> wire::User {
        let account = dir.account(&u.account_id);
        let domain = dir.domain(&u.domain_id);
        let role = account.map_or(Role::User, |a| role_of(a.role));
        wire::User {
            id: u.id.clone(),
            username: u.username.clone(),
            firstname: u.firstname.clone(),
            lastname: u.lastname.clone(),
            email: u.email.clone(),
            created: Timestamp(u.created_ms),
            state: u.state.clone(),
            account: account.map(|a| a.name.clone()).unwrap_or_default(),
            accountid: u.account_id.clone(),
            accounttype: role.account_type(),
            roletype: role.role_type().to_owned(),
            rolename: role.role_name().to_owned(),
            domainid: u.domain_id.clone(),
            domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
            apikey: api_key,
            isdefault: is_default_account(account, domain),
            usersource: "native".to_owned(),
        }
    }

    fn template_view(
        &self,
        dir: &Directory,
        t: &Template,
        zone_names: &HashMap<String, String>,
    ) -> wire::Template {
        let owner = dir.account(&t.account_id);
        let domain = dir.domain_of_account(&t.account_id);
        let os = os_type::by_description(&t.os_type);
        wire::Template {
            id: t.id.clone(),
            name: t.name.clone(),
            displaytext: t.display_text.clone(),
            ispublic: t.is_public(),
            isfeatured: t.is_featured(),
            isready: template_ready(t),
            status: t.status.clone(),
            created: Timestamp(t.created_ms),
            size: t.size_bytes,
            zoneid: t.zone_id.clone(),
            zonename: zone_names.get(&t.zone_id).cloned().unwrap_or_default(),
            hypervisor: t.hypervisor.clone(),
            format: t.format.to_uppercase(),
            ostypeid: os.map(|o| o.id.to_owned()).unwrap_or_default(),
            ostypename: t.os_type.clone(),
            account: owner.map(|a| a.name.clone()).unwrap_or_default(),
            accountid: t.account_id.clone(),
            domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
            domainid: domain.map(|d| d.id.clone()).unwrap_or_default(),
            templatetype: if t.name == BUILTIN_TEMPLATE_NAME {
                "BUILTIN"
            } else {
                "USER"
            }
            .to_owned(),
            passwordenabled: false,
            sshkeyenabled: true,
            isextractable: false,
            crosszones: false,
            bootable: true,
            isdynamicallyscalable: false,
            directdownload: false,
            requireshvm: true,
            tags: Vec::new(),
        }
    }
}

fn template_ready(t: &Template) -> bool {
    t.state.eq_ignore_ascii_case("ready")
}

fn is_default_account(account: Option<&Account>, domain: Option<&Domain>) -> bool {
    account.is_some_and(|a| a.name == crate::bootstrap::ADMIN_NAME && a.role == CoreRole::RootAdmin)
        && domain.is_some_and(|d| d.path == identity::ROOT_PATH)
}

fn domain_state(state: &str) -> String {
    if state.eq_ignore_ascii_case("enabled") {
        "Active".to_owned()
    } else {
        capitalized(state)
    }
}

/// The instance's NICs, groups and tags in CloudStack's shapes, from a page's parts.
fn vm_parts(
    v: &InstanceView,
    parts: &InstanceParts,
) -> (Vec<wire::Nic>, Vec<wire::SecurityGroupRef>, Vec<wire::Tag>) {
    let nics = parts
        .nics
        .iter()
        .filter(|n| n.instance_id == v.id)
        .map(|n| {
            let cidr = network::Cidr::parse(&n.cidr);
            wire::Nic {
                id: n.id.clone(),
                networkid: n.network_id.clone(),
                networkname: n.network_ec2_id.clone(),
                ipaddress: n.private_ip.clone(),
                macaddress: n.mac_address.clone(),
                isdefault: n.device_index == 0,
                traffictype: "Guest".to_owned(),
                r#type: "Isolated".to_owned(),
                netmask: cidr.map(|c| netmask(c.prefix)),
                gateway: cidr.map(|c| std::net::Ipv4Addr::from(c.base.wrapping_add(1)).to_string()),
            }
        })
        .collect();
    let groups = parts
        .groups
        .iter()
        .filter(|g| g.instance_id == v.id)
        .map(|g| wire::SecurityGroupRef {
            id: g.id.clone(),
            name: g.name.clone(),
            description: g.description.clone(),
        })
        .collect();
    let tags = parts
        .tags
        .iter()
        .filter(|t| t.resource_id == v.id)
        .map(|t| wire::Tag {
            key: t.tag_key.clone(),
            value: t.tag_value.clone(),
            resourcetype: "UserVm".to_owned(),
            resourceid: v.id.clone(),
            account: v.account_name.clone(),
            domainid: v.domain_id.clone(),
            domain: v.domain_name.clone(),
        })
        .collect();
    (nics, groups, tags)
}

/// A prefix length as a dotted netmask: 24 -> 255.255.255.0.
fn netmask(prefix: u8) -> String {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    std::net::Ipv4Addr::from(bits).to_string()
}

fn vm_view(
    v: InstanceView,
    admin: bool,
    pending_job: Option<String>,
    parts: &InstanceParts,
) -> wire::VirtualMachine {
    let (nic, securitygroup, tags) = vm_parts(&v, parts);
    wire::VirtualMachine {
        jobstatus: pending_job.as_ref().map(|_| 0),
        jobid: pending_job,
        keypairs: v.key_name,
        instancename: admin.then(|| format!("i-{}", &v.id[..8.min(v.id.len())])),
        hostid: if admin { v.host_id } else { None },
        hostname: if admin { v.host_name } else { None },
        id: v.id,
        name: v.name,
        displayname: v.display_name,
        account: v.account_name,
        domainid: v.domain_id,
        domain: v.domain_name,
        created: Timestamp(v.created_ms),
        state: v.state,
        haenable: false,
        zoneid: v.zone_id,
        zonename: v.zone_name,
        templateid: v.template_id,
        templatename: v.template_name,
        templatedisplaytext: v.template_display_text,
        serviceofferingid: v.offering_id,
        serviceofferingname: v.offering_name,
        cpunumber: v.cpus,
        cpuspeed: v.cpu_speed_mhz,
        memory: v.memory_mib,
        hypervisor: v.hypervisor,
        passwordenabled: false,
        isdynamicallyscalable: false,
        nic,
        securitygroup,
        // LIMITATION: there are no affinity groups; the list is sent empty.
        affinitygroup: Vec::new(),
        tags,
        // Filled in by the ISO listing afterwards.
        isoid: None,
        isoname: None,
        isodisplaytext: None,
    }
}

fn domain_view(dir: &Directory, d: &Domain) -> wire::Domain {
    let parent = d.parent_id.as_deref().and_then(|p| dir.domain(p));
    wire::Domain {
        id: d.id.clone(),
        name: d.name.clone(),
        level: d.path.matches('/').count() as i64,
        parentdomainid: parent.map(|p| p.id.clone()),
        parentdomainname: parent.map(|p| p.name.clone()),
        haschild: dir
            .domains
            .iter()
            .any(|c| c.parent_id.as_deref() == Some(&d.id)),
        path: d.path.clone(),
        state: domain_state(&d.state),
        created: Timestamp(d.created_ms),
    }
}

/// Hashes a password on a blocking thread: the hash is slow on purpose.
async fn hash_blocking(password: String) -> Result<String, PortError> {
    tokio::task::spawn_blocking(move || identity::hash_password(&password))
        .await
        .map_err(|e| PortError::Internal(format!("the password hash did not finish: {e}")))?
        .map_err(port_error)
}

fn service_offering_view(o: offering::ServiceOffering) -> wire::ServiceOffering {
    wire::ServiceOffering {
        id: o.id,
        name: o.name,
        displaytext: o.display_text,
        cpunumber: o.cpus,
        cpuspeed: o.cpu_speed_mhz,
        memory: o.memory_mib,
        created: Timestamp(o.created_ms),
        storagetype: "shared".to_owned(),
        offerha: false,
        limitcpuuse: false,
        isvolatile: false,
        issystem: false,
        defaultuse: false,
        iscustomized: false,
    }
}

fn disk_offering_view(o: offering::DiskOffering) -> wire::DiskOffering {
    wire::DiskOffering {
        iscustomized: o.is_customized(),
        id: o.id,
        name: o.name,
        displaytext: o.display_text,
        disksize: o.size_gib,
        created: Timestamp(o.created_ms),
        storagetype: "shared".to_owned(),
        provisioningtype: "thin".to_owned(),
        displayoffering: true,
    }
}

/// Runs one write transaction of the core and commits it.
macro_rules! write_tx {
    ($self:expr, |$tx:ident| $body:expr) => {{
        let mut $tx = $self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        let out = $body.map_err(port_error)?;
        $tx.commit().await.map_err(|e| port_error(e.into()))?;
        out
    }};
}

/// The taggable kinds: CloudStack's resource type name, the core's kind and its table.
const TAGGABLE: &[(&str, TaggedKind, &str)] = &[
    ("UserVm", TaggedKind::Instance, "instances"),
    ("Template", TaggedKind::Template, "templates"),
    ("Network", TaggedKind::Network, "networks"),
    ("Vpc", TaggedKind::Vpc, "vpcs"),
    ("PublicIpAddress", TaggedKind::PublicIp, "public_ips"),
    (
        "SecurityGroup",
        TaggedKind::SecurityGroup,
        "security_groups",
    ),
];

fn taggable(resource_type: &str) -> Option<&'static (&'static str, TaggedKind, &'static str)> {
    TAGGABLE
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(resource_type))
}

fn resource_type_of(kind: &str) -> String {
    TAGGABLE
        .iter()
        .find(|(_, k, _)| k.as_str() == kind)
        .map_or_else(|| kind.to_owned(), |(name, _, _)| (*name).to_owned())
}

/// Whether a resource with `tags` matches the `tags[i].key/value` filters (OR-ed; an empty value
/// matches any value of its key); no filter matches everything.
fn has_any_tag(wanted: &[(String, String)], tags: Option<&Vec<(String, String)>>) -> bool {
    wanted.is_empty()
        || tags.is_some_and(|t| {
            wanted.iter().any(|(k, v)| {
                t.iter()
                    .any(|(tk, tv)| tk == k && (v.is_empty() || tv == v))
            })
        })
}

fn tag_views(
    pairs: Option<&Vec<(String, String)>>,
    resource_type: &str,
    resource_id: &str,
    account: &Account,
    domain: Option<&Domain>,
) -> Vec<wire::Tag> {
    pairs
        .into_iter()
        .flatten()
        .map(|(k, v)| wire::Tag {
            key: k.clone(),
            value: v.clone(),
            resourcetype: resource_type.to_owned(),
            resourceid: resource_id.to_owned(),
            account: account.name.clone(),
            domainid: account.domain_id.clone(),
            domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
        })
        .collect()
}

fn network_view(
    n: &network::Network,
    account: &Account,
    domain: Option<&Domain>,
    zone_names: &HashMap<String, String>,
    tags: Option<&Vec<(String, String)>>,
) -> wire::Network {
    let cidr = network::Cidr::parse(&n.cidr);
    wire::Network {
        id: n.id.clone(),
        name: n.ec2_id.clone(),
        displaytext: format!("{} in {}", n.ec2_id, n.cidr),
        cidr: n.cidr.clone(),
        gateway: cidr
            .map(|c| std::net::Ipv4Addr::from(c.base.wrapping_add(1)).to_string())
            .unwrap_or_default(),
        netmask: cidr.map(|c| netmask(c.prefix)).unwrap_or_default(),
        zoneid: n.zone_id.clone(),
        zonename: zone_names.get(&n.zone_id).cloned().unwrap_or_default(),
        r#type: "Isolated".to_owned(),
        traffictype: "Guest".to_owned(),
        state: "Implemented".to_owned(),
        vpcid: n.vpc_id.clone(),
        isdefault: n.is_default(),
        account: account.name.clone(),
        domainid: account.domain_id.clone(),
        domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
        tags: tag_views(tags, "Network", &n.id, account, domain),
    }
}

/// A key pair's fingerprint as CloudStack shows it: the MD5 of its OpenSSH key (the EC2 door
/// shows EC2's kind, kept in the row), which Ansible compares to find a key unchanged.
fn native_fingerprint(k: &keypair::KeyPair) -> String {
    keypair::openssh_md5_fingerprint(&k.public_key).unwrap_or_else(|| k.fingerprint.clone())
}

fn key_pair_view(dir: &Directory, k: keypair::KeyPair) -> wire::SshKeyPair {
    let account = dir.account(&k.account_id);
    let domain = dir.domain_of_account(&k.account_id);
    wire::SshKeyPair {
        fingerprint: native_fingerprint(&k),
        id: k.id,
        name: k.name,
        privatekey: None,
        account: account.map(|a| a.name.clone()).unwrap_or_default(),
        domainid: domain.map(|d| d.id.clone()).unwrap_or_default(),
        domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
    }
}

/// What deployVirtualMachine attaches to its instance, inside the launch's transaction.
struct DeployAttachments {
    account_id: String,
    network: network::Network,
    group_ids: Vec<String>,
    root_size_gib: i64,
}

#[async_trait::async_trait]
impl LaunchAttachments for DeployAttachments {
    async fn attach(
        &self,
        db: &mut sqlx::AnyConnection,
        i: &InstanceRow,
    ) -> crate::error::CoreResult<()> {
        network::attach_interface(
            db,
            &self.account_id,
            &i.id,
            &self.network,
            &self.group_ids,
            0,
        )
        .await?;
        let options = InstanceOptions::new(&i.id, ROOT_DEVICE_NAME, self.root_size_gib);
        instance_options::insert(db, &options).await
    }
}

/// The job's command: the one recorded when it was submitted, else the one that does what
/// the orchestrator's job kind does (a job another door queued).
fn job_command(e: &JobEntry) -> Option<JobCommand> {
    JobCommand::from_api_name(&e.command).or(match e.kind.as_str() {
        "StartInstance" => Some(JobCommand::StartVirtualMachine),
        "StopInstance" => Some(JobCommand::StopVirtualMachine),
        "RebootInstance" => Some(JobCommand::RebootVirtualMachine),
        "DestroyInstance" => Some(JobCommand::DestroyVirtualMachine),
        "ExpungeInstance" => Some(JobCommand::ExpungeVirtualMachine),
        "AttachIso" => Some(JobCommand::AttachIso),
        "DetachIso" => Some(JobCommand::DetachIso),
        _ => None,
    })
}

/// The CloudStack error code a failed job reports: the door's own code of a job it ran, else
/// from the orchestrator's failure code.
fn failure_code(code: Option<&str>) -> ErrorCode {
    if let Some(own) = code
        .and_then(|c| c.parse().ok())
        .and_then(ErrorCode::from_number)
    {
        return own;
    }
    match code.map(FailureCode::parse) {
        Some(FailureCode::InsufficientCapacity) => ErrorCode::InsufficientCapacity,
        Some(FailureCode::IncorrectState) => ErrorCode::ParamError,
        Some(FailureCode::HostFailed | FailureCode::TimedOut | FailureCode::Internal) | None => {
            ErrorCode::Internal
        }
    }
}

/// The account and domain path of the caller's tree as a visibility.
fn caller_tree(caller: &Caller) -> Visibility {
    match caller.role {
        Role::RootAdmin => Visibility::Everything,
        Role::DomainAdmin => Visibility::DomainTree(caller.domain_path.clone()),
        Role::User => Visibility::Account(caller.account_id.clone()),
    }
}

impl Translator {
    /// The security groups a deployVirtualMachine names, by id or by name, as native ids; each
    /// must be the owner's and in the VPC the instance joins. `None` when it names none.
    async fn deploy_groups(
        &self,
        account_id: &str,
        vpc_id: &str,
        req: &DeployVirtualMachine,
    ) -> Result<Option<Vec<String>>, PortError> {
        use crate::model::security_group as sg;
        if req.security_group_ids.is_empty() && req.security_group_names.is_empty() {
            return Ok(None);
        }
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| PortError::Internal(format!("the database failed: {e}")))?;
        let mut out = Vec::new();
        for id in &req.security_group_ids {
            let group = sg::get(&mut conn, account_id, id)
                .await
                .map_err(port_error)?
                .filter(|g| g.vpc_id == vpc_id)
                .ok_or_else(|| unknown("securitygroupids", id))?;
            out.push(group.id);
        }
        for name in &req.security_group_names {
            let group = sg::by_name(&mut conn, account_id, vpc_id, name)
                .await
                .map_err(port_error)?
                .ok_or_else(|| {
                    PortError::InvalidParameter(format!(
                        "Unable to find group by name {name} in the account's network"
                    ))
                })?;
            out.push(group.id);
        }
        out.dedup();
        Ok(Some(out))
    }

    /// One instance as the native door shows it, whoever owns it.
    async fn instance_view(&self, id: &str) -> Result<Option<InstanceView>, PortError> {
        let query = InstanceQuery {
            visibility: Some(Visibility::Everything),
            id: Some(id.to_owned()),
            limit: Some(1),
            ..InstanceQuery::default()
        };
        let (_, rows) = listing::list_instances(self.pool(), &query)
            .await
            .map_err(port_error)?;
        Ok(rows.into_iter().next())
    }

    /// The instance `id` (unknown if there is none) and whether the caller reaches it: a user
    /// its own account's, a domain admin those of its domain tree, the root admin any.
    async fn instance_in_reach(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<(InstanceView, bool), PortError> {
        let v = self
            .instance_view(id)
            .await?
            .ok_or_else(|| unknown(param, id))?;
        let dir = self.directory().await?;
        let reached = dir.admits(&caller_tree(caller), &v.account_id);
        Ok((v, reached))
    }

    /// The instance `id` if the caller may act on it (see [`Self::instance_in_reach`]).
    async fn actionable(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<InstanceView, PortError> {
        let (v, reached) = self.instance_in_reach(caller, param, id).await?;
        if !reached {
            return Err(PortError::PermissionDenied(format!(
                "Account {} does not have permission to operate on instance {id}",
                caller.account_name
            )));
        }
        Ok(v)
    }

    async fn vm_of(&self, caller: &Caller, id: &str) -> Result<wire::VirtualMachine, PortError> {
        let v = self
            .instance_view(id)
            .await?
            .ok_or_else(|| PortError::Internal(format!("instance {id} vanished")))?;
        let mut pending = listing::pending_jobs(self.pool(), &[id])
            .await
            .map_err(port_error)?;
        let parts = listing::instance_parts(self.pool(), &[id])
            .await
            .map_err(port_error)?;
        let mut vm = [vm_view(
            v,
            caller.role != Role::User,
            pending.remove(id),
            &parts,
        )];
        self.with_isos(&mut vm).await?;
        let [vm] = vm;
        Ok(vm)
    }

    async fn record_job(
        &self,
        orchestrated: Option<&str>,
        job: NewApiJob<'_>,
    ) -> Result<String, PortError> {
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        let id = match orchestrated {
            Some(id) => {
                api_job::label(&mut tx, id, job).await.map_err(port_error)?;
                id.to_owned()
            }
            None => api_job::completed(&mut tx, job).await.map_err(port_error)?,
        };
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        Ok(id)
    }

    async fn job_view(&self, caller: &Caller, e: JobEntry) -> Result<JobView, PortError> {
        let command = job_command(&e).ok_or_else(|| {
            PortError::InvalidParameter(format!(
                "Job {} was not submitted through an API command this server reports",
                e.id
            ))
        })?;
        if let (JobCommand::CreateTemplate, Some(id)) = (command, &e.instance_id) {
            let status = self.template_job_status(id).await?;
            let done = !matches!(status, JobStatus::Pending);
            return Ok(JobView {
                status,
                id: e.id,
                account_id: e.account_id,
                user_id: e.user_id,
                command,
                instance_id: e.instance_id,
                created_ms: e.created_ms,
                completed_ms: e.finished_ms.filter(|_| done),
            });
        }
        if let Some((status, completed_ms)) = self.volume_job_status(command, &e).await? {
            return Ok(JobView {
                id: e.id,
                account_id: e.account_id,
                user_id: e.user_id,
                command,
                instance_id: e.instance_id,
                status,
                created_ms: e.created_ms,
                completed_ms,
            });
        }
        let status = match e.state.as_str() {
            "queued" | "running" => JobStatus::Pending,
            "failed" => JobStatus::Failed {
                code: failure_code(e.error_code.as_deref()),
                text: e
                    .error_text
                    .clone()
                    .unwrap_or_else(|| format!("Job {} failed", e.id)),
            },
            _ => {
                if let (
                    JobCommand::AuthorizeSecurityGroupIngress
                    | JobCommand::AuthorizeSecurityGroupEgress,
                    Some(id),
                ) = (command, &e.instance_id)
                {
                    if let Some(group) = self.group_now(id).await? {
                        return Ok(JobView {
                            status: JobStatus::Succeeded(JobOutcome::SecurityGroup(Box::new(
                                group,
                            ))),
                            id: e.id,
                            account_id: e.account_id,
                            user_id: e.user_id,
                            command,
                            instance_id: e.instance_id,
                            created_ms: e.created_ms,
                            completed_ms: e.finished_ms,
                        });
                    }
                }
                if let (JobCommand::AssociateIpAddress, Some(id)) = (command, &e.instance_id) {
                    if let Some(ip) = self.ip_now(id).await? {
                        return Ok(JobView {
                            status: JobStatus::Succeeded(JobOutcome::PublicIpAddress(Box::new(ip))),
                            id: e.id,
                            account_id: e.account_id,
                            user_id: e.user_id,
                            command,
                            instance_id: e.instance_id,
                            created_ms: e.created_ms,
                            completed_ms: e.finished_ms,
                        });
                    }
                }
                if let (JobCommand::DisableAccount, Some(id)) = (command, &e.instance_id) {
                    let account = self.account_now(id).await?;
                    return Ok(JobView {
                        status: JobStatus::Succeeded(JobOutcome::Account(Box::new(account))),
                        id: e.id,
                        account_id: e.account_id,
                        user_id: e.user_id,
                        command,
                        instance_id: e.instance_id,
                        created_ms: e.created_ms,
                        completed_ms: e.finished_ms,
                    });
                }
                let vm = match (&e.instance_id, command) {
                    (
                        _,
                        JobCommand::ExpungeVirtualMachine
                        | JobCommand::DeleteDomain
                        | JobCommand::DeleteAccount
                        | JobCommand::DisableAccount
                        | JobCommand::CreateTags
                        | JobCommand::DeleteTags
                        | JobCommand::AssociateIpAddress
                        | JobCommand::DisassociateIpAddress
                        | JobCommand::DisableStaticNat
                        | JobCommand::AuthorizeSecurityGroupIngress
                        | JobCommand::AuthorizeSecurityGroupEgress
                        | JobCommand::RevokeSecurityGroupIngress
                        | JobCommand::RevokeSecurityGroupEgress
                        | JobCommand::DeleteSnapshot,
                    )
                    | (None, _) => None,
                    (Some(id), _) => match self.instance_view(id).await? {
                        Some(_) => Some(self.vm_of(caller, id).await?),
                        None => None,
                    },
                };
                JobStatus::Succeeded(match vm {
                    Some(vm) => JobOutcome::VirtualMachine(Box::new(vm)),
                    // LIMITATION: an instance expunged since shows as a plain success.
                    None => JobOutcome::Success,
                })
            }
        };
        Ok(JobView {
            id: e.id,
            account_id: e.account_id,
            user_id: e.user_id,
            command,
            instance_id: e.instance_id,
            status,
            created_ms: e.created_ms,
            completed_ms: e.finished_ms,
        })
    }

    /// Who owns what the caller creates: its own account, or (for an admin) the account named
    /// by `account` in `domainid`. (account id, user id).
    async fn owner(
        &self,
        caller: &Caller,
        account: Option<&String>,
        domain_id: Option<&String>,
    ) -> Result<(String, String), PortError> {
        let Some(name) = account else {
            return Ok((caller.account_id.clone(), caller.user_id.clone()));
        };
        let dir = self.directory().await?;
        let domain_id = domain_id.unwrap_or(&caller.domain_id);
        let domain = dir
            .domain(domain_id)
            .ok_or_else(|| unknown("domainid", domain_id))?;
        let a = dir
            .accounts
            .iter()
            .find(|a| a.domain_id == domain.id && a.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                PortError::InvalidParameter(format!(
                    "Unable to find account {name} in domain {}",
                    domain.id
                ))
            })?;
        if a.id != caller.account_id && !dir.admits(&caller_tree(caller), &a.id) {
            return Err(PortError::PermissionDenied(format!(
                "Account {} may not create resources for account {name}",
                caller.account_name
            )));
        }
        if a.id == caller.account_id {
            return Ok((caller.account_id.clone(), caller.user_id.clone()));
        }
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        let user = users.iter().find(|u| u.account_id == a.id).ok_or_else(|| {
            PortError::InvalidParameter(format!("Account {name} has no user to act as"))
        })?;
        Ok((a.id.clone(), user.id.clone()))
    }

    fn account_view(&self, dir: &Directory, users: &[User], a: &Account) -> wire::Account {
        let domain = dir.domain(&a.domain_id);
        let role = role_of(a.role);
        wire::Account {
            id: a.id.clone(),
            name: a.name.clone(),
            accounttype: role.account_type(),
            roletype: role.role_type().to_owned(),
            rolename: role.role_name().to_owned(),
            domainid: a.domain_id.clone(),
            domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
            domainpath: domain.map(|d| d.path.clone()).unwrap_or_default(),
            state: a.state.clone(),
            created: Timestamp(a.created_ms),
            isdefault: is_default_account(Some(a), domain),
            user: users
                .iter()
                .filter(|u| u.account_id == a.id)
                .map(|u| self.user_view(dir, u, None))
                .collect(),
        }
    }

    /// The account as the door shows it now, users included.
    async fn account_now(&self, id: &str) -> Result<wire::Account, PortError> {
        let dir = self.directory().await?;
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        let a = dir
            .account(id)
            .ok_or_else(|| PortError::Internal(format!("account {id} vanished")))?;
        Ok(self.account_view(&dir, &users, a))
    }

    async fn user_now(&self, id: &str) -> Result<wire::User, PortError> {
        let dir = self.directory().await?;
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        let u = users
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| PortError::Internal(format!("user {id} vanished")))?;
        Ok(self.user_view(&dir, u, None))
    }

    /// Refuses unless the caller administers the domain at `path`: the root admin any, a
    /// domain admin its own tree.
    fn admin_over(&self, caller: &Caller, path: &str, what: &str) -> Result<(), PortError> {
        let ok = match caller.role {
            Role::RootAdmin => true,
            Role::DomainAdmin => in_tree(&caller.domain_path, path),
            Role::User => false,
        };
        if ok {
            Ok(())
        } else {
            Err(PortError::PermissionDenied(format!(
                "Account {} does not have permission to operate on {what}",
                caller.account_name
            )))
        }
    }

    /// The account an [`AccountRef`] names, if the caller administers it. A domain admin may
    /// not act on root admin accounts.
    fn administered_account<'d>(
        &self,
        dir: &'d Directory,
        caller: &Caller,
        r: &AccountRef,
    ) -> Result<&'d Account, PortError> {
        let a = match (&r.id, &r.name, &r.domain_id) {
            (Some(id), _, _) => dir.account(id).ok_or_else(|| unknown("id", id))?,
            (None, Some(name), Some(domain_id)) => {
                let d = dir
                    .domain(domain_id)
                    .ok_or_else(|| unknown("domainid", domain_id))?;
                dir.accounts
                    .iter()
                    .find(|a| a.domain_id == d.id && a.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        PortError::InvalidParameter(format!(
                            "Unable to find account {name} in domain {domain_id}"
                        ))
                    })?
            }
            _ => {
                return Err(PortError::InvalidParameter(
                    "Either an account id, or an account name with its domainid, is required"
                        .into(),
                ))
            }
        };
        let path = dir
            .domain(&a.domain_id)
            .map(|d| d.path.clone())
            .unwrap_or_default();
        self.admin_over(caller, &path, &format!("account {}", a.name))?;
        if caller.role == Role::DomainAdmin && a.role == CoreRole::RootAdmin {
            return Err(PortError::PermissionDenied(format!(
                "A domain admin may not operate on root admin account {}",
                a.name
            )));
        }
        Ok(a)
    }

    /// The user `id` if the caller is that user or administers its account.
    async fn reachable_user(&self, caller: &Caller, id: &str) -> Result<User, PortError> {
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        let user = users
            .into_iter()
            .find(|u| u.id == id)
            .ok_or_else(|| unknown("id", id))?;
        if user.id == caller.user_id {
            return Ok(user);
        }
        let dir = self.directory().await?;
        self.administered_account(
            &dir,
            caller,
            &AccountRef {
                id: Some(user.account_id.clone()),
                ..AccountRef::default()
            },
        )?;
        Ok(user)
    }

    /// A domain by id, if the caller administers it.
    fn administered_domain<'d>(
        &self,
        dir: &'d Directory,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<&'d Domain, PortError> {
        let d = dir.domain(id).ok_or_else(|| unknown(param, id))?;
        self.admin_over(caller, &d.path, &format!("domain {}", d.name))?;
        Ok(d)
    }

    /// The networks and the VPCs a network listing covers (the caller's own default VPC is
    /// made first, as EC2 makes it on first sight).
    async fn networks_and_vpcs(
        &self,
        caller: &Caller,
        req: &ListNetworks,
    ) -> Result<(Vec<wire::Network>, Vec<wire::VpcInfo>), PortError> {
        network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(port_error)?;
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        check_known("zoneid", req.zone_id.as_ref(), &zones, |z| &z.id)?;
        let zone_names: HashMap<String, String> =
            zones.into_iter().map(|z| (z.id, z.name)).collect();
        let (mut nets, mut vpcs, mut all_ids) = (Vec::new(), Vec::new(), Vec::new());
        for a in dir
            .accounts
            .iter()
            .filter(|a| dir.admits(&visibility, &a.id))
        {
            let domain = dir.domain(&a.domain_id);
            let pool = self.pool();
            let networks = network::networks_of_account(pool, &a.id)
                .await
                .map_err(port_error)?;
            let net_tags = tag::by_resource(pool, &a.id, TaggedKind::Network)
                .await
                .map_err(port_error)?;
            let vpc_tags = tag::by_resource(pool, &a.id, TaggedKind::Vpc)
                .await
                .map_err(port_error)?;
            let views: Vec<wire::Network> = networks
                .iter()
                .map(|n| network_view(n, a, domain, &zone_names, net_tags.get(&n.id)))
                .collect();
            all_ids.extend(networks.iter().map(|n| n.id.clone()));
            for v in network::vpcs_of_account(pool, &a.id)
                .await
                .map_err(port_error)?
            {
                all_ids.push(v.id.clone());
                if !same(req.id.as_ref(), &v.id) {
                    continue;
                }
                vpcs.push(wire::VpcInfo {
                    name: v.ec2_id.clone(),
                    displaytext: format!("{} ({})", v.ec2_id, v.cidr),
                    cidr: v.cidr.clone(),
                    state: "Enabled".to_owned(),
                    account: a.name.clone(),
                    domainid: a.domain_id.clone(),
                    domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
                    network: views.iter().filter(|n| n.vpcid == v.id).cloned().collect(),
                    tags: tag_views(vpc_tags.get(&v.id), "Vpc", &v.id, a, domain),
                    id: v.id,
                });
            }
            nets.extend(views.into_iter().filter(|n| {
                same(req.id.as_ref(), &n.id)
                    && same(req.zone_id.as_ref(), &n.zoneid)
                    && same(req.vpc_id.as_ref(), &n.vpcid)
                    && keyword_matches(req.keyword.as_deref(), &[&n.name, &n.cidr])
            }));
        }
        if let Some(id) = req.id.as_ref().or(req.vpc_id.as_ref()) {
            if !all_ids.contains(id) {
                let param = if req.id.is_some() { "id" } else { "vpcid" };
                return Err(unknown(param, id));
            }
        }
        Ok((nets, vpcs))
    }

    fn log_query(
        &self,
        dir: &Directory,
        caller: &Caller,
        req: &ListLog,
    ) -> Result<LogQuery, PortError> {
        Ok(LogQuery {
            visibility: Some(self.visibility(dir, caller, &req.scope, req.id.is_some())?),
            id: req.id.clone(),
            start_ms: req.start_ms,
            end_ms: req.end_ms,
            kind: req.kind.clone(),
            level: req.level.clone(),
            keyword: req.keyword.clone(),
            offset: req.page.offset,
            limit: req.page.limit,
        })
    }
}

#[async_trait::async_trait]
impl NativePort for Translator {
    async fn credential(&self, api_key: &str) -> Result<Option<(Caller, String)>, PortError> {
        let found = self
            .cloud
            .authenticate_key(api_key)
            .await
            .map_err(port_error)?;
        Ok(found.map(|(p, secret)| (caller_of(&p), secret.expose().to_owned())))
    }

    async fn login(&self, req: &Login) -> Result<Option<LoginUser>, PortError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        let path = match &req.domain {
            DomainRef::Id(id) => match identity::domain_by_id(&mut conn, id).await {
                Ok(d) => d.path,
                Err(CoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(port_error(e)),
            },
            DomainRef::Path(p) => identity::normalize_domain_path(p),
        };
        let Some((user_id, hash)) = identity_admin::password_of(&mut conn, &path, &req.username)
            .await
            .map_err(port_error)?
        else {
            return Ok(None);
        };
        // The hash is slow on purpose: it runs on a blocking thread, not the request's task.
        let password = req.password.clone();
        let matched = tokio::task::spawn_blocking(move || {
            crate::model::identity::password_matches(&password, &hash)
        })
        .await
        .map_err(|e| PortError::Internal(format!("the password check did not finish: {e}")))?;
        if !matched {
            return Ok(None);
        }
        let principal = identity::principal_of(&mut conn, &user_id)
            .await
            .map_err(port_error)?;
        Ok(principal.map(|p| LoginUser {
            caller: caller_of(&p),
            first_name: p.user.firstname.clone(),
            last_name: p.user.lastname.clone(),
        }))
    }

    async fn start_session(
        &self,
        user_id: &str,
        digest: &str,
        idle: Duration,
    ) -> Result<(), PortError> {
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        session::create(self.pool(), digest, user_id, idle_ms)
            .await
            .map_err(port_error)
    }

    async fn session(&self, digest: &str, idle: Duration) -> Result<Option<Caller>, PortError> {
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let Some(user_id) = session::touch(self.pool(), digest, idle_ms)
            .await
            .map_err(port_error)?
        else {
            return Ok(None);
        };
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        let principal = identity::principal_of(&mut conn, &user_id)
            .await
            .map_err(port_error)?;
        Ok(principal.as_ref().map(caller_of))
    }

    async fn end_session(&self, digest: &str) -> Result<(), PortError> {
        session::end(self.pool(), digest).await.map_err(port_error)
    }

    async fn capabilities(&self, _caller: &Caller) -> Result<wire::Capability, PortError> {
        Ok(wire::Capability {
            cloudstackversion: cirrus_native::render::CLOUDSTACK_VERSION.to_owned(),
            securitygroupsenabled: true,
            userpublictemplateenabled: true,
            supportelb: "false".to_owned(),
            projectinviterequired: false,
            allowusercreateprojects: false,
            customdiskofferingminsize: 1,
            customdiskofferingmaxsize: 1024,
            kvmsnapshotenabled: true,
            regionsecondaryenabled: false,
            apilimitinterval: 1,
            apilimitmax: 0,
            allowuserviewdestroyedvm: true,
            allowuserexpungerecovervm: false,
            allowuserexpungerecovervolume: false,
            dynamicrolesenabled: false,
            defaultuipagesize: cirrus_native::args::MAX_PAGE_SIZE as i64,
            kubernetesserviceenabled: false,
        })
    }

    async fn list_zones(
        &self,
        _caller: &Caller,
        req: &ListInfra,
    ) -> Result<Listing<wire::Zone>, PortError> {
        let mut zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        check_known("id", req.id.as_ref(), &zones, |z| &z.id)?;
        // Creation order, as CloudStack lists by id; names break ties within one first run.
        zones.sort_by(|a, b| (a.created_ms, &a.name, &a.id).cmp(&(b.created_ms, &b.name, &b.id)));
        let items = zones
            .into_iter()
            .filter(|z| same(req.id.as_ref(), &z.id) && same_name(req.name.as_ref(), &z.name))
            .filter(|z| keyword_matches(req.keyword.as_deref(), &[&z.name]))
            .map(|z| wire::Zone {
                description: Some(format!("Zone {} of region {}", z.name, z.region)),
                allocationstate: if z.state == "enabled" {
                    "Enabled"
                } else {
                    "Disabled"
                }
                .to_owned(),
                id: z.id,
                name: z.name,
                networktype: "Advanced".to_owned(),
                securitygroupsenabled: true,
                localstorageenabled: false,
                dhcpprovider: "VirtualRouter".to_owned(),
                r#type: "Core".to_owned(),
                tags: Vec::new(),
            })
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_pods(
        &self,
        _caller: &Caller,
        req: &ListInfra,
    ) -> Result<Listing<wire::Pod>, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        let pods = infra::list_pods(self.pool()).await.map_err(port_error)?;
        check_known("id", req.id.as_ref(), &pods, |p| &p.id)?;
        check_known("zoneid", req.zone_id.as_ref(), &zones, |z| &z.id)?;
        let zone_name = |id: &str| zones.iter().find(|z| z.id == id).map(|z| z.name.clone());
        let items = pods
            .into_iter()
            .filter(|p| same(req.id.as_ref(), &p.id) && same_name(req.name.as_ref(), &p.name))
            .filter(|p| same(req.zone_id.as_ref(), &p.zone_id))
            .filter(|p| keyword_matches(req.keyword.as_deref(), &[&p.name]))
            .map(|p| wire::Pod {
                zonename: zone_name(&p.zone_id).unwrap_or_default(),
                id: p.id,
                name: p.name,
                zoneid: p.zone_id,
                allocationstate: "Enabled".to_owned(),
            })
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_clusters(
        &self,
        _caller: &Caller,
        req: &ListInfra,
    ) -> Result<Listing<wire::Cluster>, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        let pods = infra::list_pods(self.pool()).await.map_err(port_error)?;
        let clusters = infra::list_clusters(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", req.id.as_ref(), &clusters, |c| &c.id)?;
        check_known("zoneid", req.zone_id.as_ref(), &zones, |z| &z.id)?;
        check_known("podid", req.pod_id.as_ref(), &pods, |p| &p.id)?;
        let zone_name = |id: &str| zones.iter().find(|z| z.id == id).map(|z| z.name.clone());
        let pod_name = |id: &str| pods.iter().find(|p| p.id == id).map(|p| p.name.clone());
        let items = clusters
            .into_iter()
            .filter(|c| same(req.id.as_ref(), &c.id) && same_name(req.name.as_ref(), &c.name))
            .filter(|c| {
                same(req.zone_id.as_ref(), &c.zone_id) && same(req.pod_id.as_ref(), &c.pod_id)
            })
            .filter(|c| same_name(req.hypervisor.as_ref(), &c.hypervisor))
            .filter(|c| keyword_matches(req.keyword.as_deref(), &[&c.name]))
            .map(|c| wire::Cluster {
                podname: pod_name(&c.pod_id).unwrap_or_default(),
                zonename: zone_name(&c.zone_id).unwrap_or_default(),
                id: c.id,
                name: c.name,
                podid: c.pod_id,
                zoneid: c.zone_id,
                hypervisortype: c.hypervisor,
                clustertype: "CloudManaged".to_owned(),
                allocationstate: "Enabled".to_owned(),
                managedstate: "Managed".to_owned(),
                cpuovercommitratio: "1.0".to_owned(),
                memoryovercommitratio: "1.0".to_owned(),
            })
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_hosts(
        &self,
        _caller: &Caller,
        req: &ListInfra,
    ) -> Result<Listing<wire::Host>, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        let pods = infra::list_pods(self.pool()).await.map_err(port_error)?;
        let clusters = infra::list_clusters(self.pool())
            .await
            .map_err(port_error)?;
        let mut hosts = infra::list_hosts(self.pool()).await.map_err(port_error)?;
        check_known("id", req.id.as_ref(), &hosts, |h| &h.id)?;
        check_known("zoneid", req.zone_id.as_ref(), &zones, |z| &z.id)?;
        check_known("podid", req.pod_id.as_ref(), &pods, |p| &p.id)?;
        check_known("clusterid", req.cluster_id.as_ref(), &clusters, |c| &c.id)?;
        hosts.sort_by(|a, b| (a.created_ms, &a.name, &a.id).cmp(&(b.created_ms, &b.name, &b.id)));
        let zone_name = |id: &str| zones.iter().find(|z| z.id == id).map(|z| z.name.clone());
        let pod_name = |id: &str| pods.iter().find(|p| p.id == id).map(|p| p.name.clone());
        let cluster_name = |id: &str| clusters.iter().find(|c| c.id == id).map(|c| c.name.clone());
        let items = hosts
            .into_iter()
            .filter(|h| same(req.id.as_ref(), &h.id) && same_name(req.name.as_ref(), &h.name))
            .filter(|h| {
                same(req.zone_id.as_ref(), &h.zone_id) && same(req.pod_id.as_ref(), &h.pod_id)
            })
            .filter(|h| same(req.cluster_id.as_ref(), &h.cluster_id))
            .filter(|h| same_name(req.hypervisor.as_ref(), &h.hypervisor))
            .filter(|h| same_name(req.state.as_ref(), &h.state))
            .filter(|_| same_name(req.host_type.as_ref(), "Routing"))
            .filter(|h| keyword_matches(req.keyword.as_deref(), &[&h.name]))
            .map(|h| wire::Host {
                zonename: zone_name(&h.zone_id).unwrap_or_default(),
                podname: pod_name(&h.pod_id).unwrap_or_default(),
                clustername: cluster_name(&h.cluster_id).unwrap_or_default(),
                state: capitalized(&h.state),
                r#type: "Routing".to_owned(),
                resourcestate: "Enabled".to_owned(),
                cpuallocated: percent(h.cpus_used, h.cpus),
                cpunumber: h.cpus,
                cpuspeed: 2000,
                memorytotal: h.memory_mib * MIB,
                memoryallocated: h.memory_used_mib * MIB,
                islocalstorageactive: false,
                created: Timestamp(h.created_ms),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                id: h.id,
                name: h.name,
                zoneid: h.zone_id,
                podid: h.pod_id,
                clusterid: h.cluster_id,
                hypervisor: h.hypervisor,
            })
            .collect();
        Ok(req.page.slice(items))
    }

    async fn add_host(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::AddHost,
    ) -> Result<Listing<wire::Host>, PortError> {
        self.native_add_host(caller, req).await
    }

    async fn list_hypervisors(
        &self,
        _caller: &Caller,
        req: &ListHypervisors,
    ) -> Result<Listing<wire::Hypervisor>, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        check_known("zoneid", req.zone_id.as_ref(), &zones, |z| &z.id)?;
        let clusters = infra::list_clusters(self.pool())
            .await
            .map_err(port_error)?;
        let mut names: Vec<String> = clusters
            .into_iter()
            .filter(|c| same(req.zone_id.as_ref(), &c.zone_id))
            .map(|c| c.hypervisor)
            .collect();
        names.sort();
        names.dedup();
        let items = names
            .into_iter()
            .map(|name| wire::Hypervisor { name })
            .collect();
        Ok(cirrus_native::Page::ALL.slice(items))
    }

    async fn list_service_offerings(
        &self,
        _caller: &Caller,
        req: &ListNamed,
    ) -> Result<Listing<wire::ServiceOffering>, PortError> {
        let offerings = offering::list_service_offerings(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", req.id.as_ref(), &offerings, |o| &o.id)?;
        let items = offerings
            .into_iter()
            .filter(|o| same(req.id.as_ref(), &o.id) && same_name(req.name.as_ref(), &o.name))
            .filter(|o| keyword_matches(req.keyword.as_deref(), &[&o.name, &o.display_text]))
            .map(service_offering_view)
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_disk_offerings(
        &self,
        _caller: &Caller,
        req: &ListNamed,
    ) -> Result<Listing<wire::DiskOffering>, PortError> {
        let offerings = offering::list_disk_offerings(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", req.id.as_ref(), &offerings, |o| &o.id)?;
        let items = offerings
            .into_iter()
            .filter(|o| same(req.id.as_ref(), &o.id) && same_name(req.name.as_ref(), &o.name))
            .filter(|o| keyword_matches(req.keyword.as_deref(), &[&o.name, &o.display_text]))
            .map(disk_offering_view)
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_templates(
        &self,
        caller: &Caller,
        req: &ListTemplates,
    ) -> Result<Listing<wire::Template>, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        check_known("zoneid", req.zone_id.as_ref(), &zones, |z| &z.id)?;
        let templates = listing::list_all_templates(self.pool())
            .await
            .map_err(port_error)?;
        let tags = tag::of_kind(self.pool(), TaggedKind::Template)
            .await
            .map_err(port_error)?;
        check_known("id", req.id.as_ref(), &templates, |t| &t.id)?;
        let dir = self.directory().await?;
        let shared_with_me = crate::model::template::shared_with(self.pool(), &caller.account_id)
            .await
            .map_err(port_error)?;
        let own = |t: &Template| t.account_id == caller.account_id;
        let shared = |t: &Template| shared_with_me.contains(&t.id);
        let admin_sees = match caller.role {
            Role::RootAdmin => Visibility::Everything,
            Role::DomainAdmin => Visibility::DomainTree(caller.domain_path.clone()),
            Role::User => Visibility::Account(caller.account_id.clone()),
        };
        if req.filter == TemplateFilter::All && caller.role == Role::User {
            return Err(PortError::InvalidParameter(
                "Filter all can be specified by admin only".to_owned(),
            ));
        }
        let admitted = |t: &Template| match req.filter {
            TemplateFilter::Featured => t.is_public() && t.is_featured(),
            TemplateFilter::SelfOwned => own(t),
            TemplateFilter::SelfExecutable => own(t) && template_ready(t),
            TemplateFilter::SharedExecutable => shared(t) && !own(t) && template_ready(t),
            TemplateFilter::Executable => {
                (own(t) || t.is_public() || shared(t)) && template_ready(t)
            }
            TemplateFilter::Community => t.is_public() && !t.is_featured(),
            TemplateFilter::All => t.is_public() || dir.admits(&admin_sees, &t.account_id),
        };
        let zone_names: HashMap<String, String> =
            zones.into_iter().map(|z| (z.id, z.name)).collect();
        let items = templates
            .iter()
            .filter(|t| admitted(t))
            .filter(|t| same(req.id.as_ref(), &t.id) && same_name(req.name.as_ref(), &t.name))
            .filter(|t| same(req.zone_id.as_ref(), &t.zone_id))
            .filter(|t| same_name(req.hypervisor.as_ref(), &t.hypervisor))
            .filter(|t| keyword_matches(req.keyword.as_deref(), &[&t.name, &t.display_text]))
            .filter(|t| has_any_tag(&req.tags, tags.get(&t.id)))
            .map(|t| {
                let mut view = self.template_view(&dir, t, &zone_names);
                if let Some(owner) = dir.account(&t.account_id) {
                    let domain = dir.domain_of_account(&t.account_id);
                    view.tags = tag_views(tags.get(&t.id), "Template", &t.id, owner, domain);
                }
                view
            })
            .collect();
        Ok(req.page.slice(items))
    }

    async fn register_template(
        &self,
        caller: &Caller,
        req: &cirrus_native::templates::RegisterTemplate,
    ) -> Result<wire::Template, PortError> {
        self.register_template_now(caller, req).await
    }

    async fn update_template(
        &self,
        caller: &Caller,
        req: &cirrus_native::templates::UpdateTemplate,
    ) -> Result<wire::Template, PortError> {
        self.update_template_now(caller, req).await
    }

    async fn delete_template(&self, caller: &Caller, id: &str) -> Result<String, PortError> {
        self.delete_template_now(caller, id).await
    }

    async fn create_template(
        &self,
        caller: &Caller,
        req: &cirrus_native::templates::CreateTemplate,
    ) -> Result<(String, String), PortError> {
        self.create_template_now(caller, req).await
    }

    async fn update_template_permissions(
        &self,
        caller: &Caller,
        req: &cirrus_native::templates::UpdateTemplatePermissions,
    ) -> Result<(), PortError> {
        self.update_template_permissions_now(caller, req).await
    }

    async fn list_template_permissions(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<wire::TemplatePermission, PortError> {
        self.list_template_permissions_now(caller, id).await
    }

    async fn list_isos(
        &self,
        caller: &Caller,
        req: &cirrus_native::isos::ListIsos,
    ) -> Result<Listing<wire::Template>, PortError> {
        self.list_isos_now(caller, req).await
    }

    async fn register_iso(
        &self,
        caller: &Caller,
        req: &cirrus_native::isos::RegisterIso,
    ) -> Result<wire::Template, PortError> {
        self.register_iso_now(caller, req).await
    }

    async fn update_iso(
        &self,
        caller: &Caller,
        req: &cirrus_native::isos::UpdateIso,
    ) -> Result<wire::Template, PortError> {
        self.update_iso_now(caller, req).await
    }

    async fn delete_iso(&self, caller: &Caller, id: &str) -> Result<String, PortError> {
        self.delete_iso_now(caller, id).await
    }

    async fn change_iso_drive(
        &self,
        caller: &Caller,
        req: &cirrus_native::isos::IsoDrive,
    ) -> Result<String, PortError> {
        self.change_iso_drive_now(caller, req).await
    }

    async fn list_os_types(
        &self,
        _caller: &Caller,
        req: &ListNamed,
    ) -> Result<Listing<wire::OsType>, PortError> {
        check_known("id", req.id.as_ref(), os_type::OS_TYPES, |o| o.id)?;
        let items = os_type::OS_TYPES
            .iter()
            .filter(|o| same(req.id.as_ref(), o.id) && same_name(req.name.as_ref(), o.description))
            .filter(|o| keyword_matches(req.keyword.as_deref(), &[o.description]))
            .map(|o| wire::OsType {
                id: o.id.to_owned(),
                description: o.description.to_owned(),
                oscategoryid: o.category_id.to_owned(),
                oscategoryname: o.category.to_owned(),
                isuserdefined: false,
            })
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_domains(
        &self,
        caller: &Caller,
        req: &ListDomains,
    ) -> Result<Listing<wire::Domain>, PortError> {
        let dir = self.directory().await?;
        check_known("id", req.id.as_ref(), &dir.domains, |d| &d.id)?;
        let visible = |d: &Domain| match caller.role {
            Role::User => d.id == caller.domain_id,
            _ if req.list_all || req.id.is_some() => in_tree(&caller.domain_path, &d.path),
            _ => d.id == caller.domain_id,
        };
        let mut domains: Vec<&Domain> = dir.domains.iter().filter(|d| visible(d)).collect();
        domains.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        let items = domains
            .into_iter()
            .filter(|d| same(req.id.as_ref(), &d.id) && same_name(req.name.as_ref(), &d.name))
            .filter(|d| keyword_matches(req.keyword.as_deref(), &[&d.name]))
            .map(|d| domain_view(&dir, d))
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_accounts(
        &self,
        caller: &Caller,
        req: &ListOwned,
    ) -> Result<Listing<wire::Account>, PortError> {
        let dir = self.directory().await?;
        check_known("id", req.id.as_ref(), &dir.accounts, |a| &a.id)?;
        let visibility = self.identity_visibility(&dir, caller, req)?;
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        let items = dir
            .accounts
            .iter()
            .filter(|a| dir.admits(&visibility, &a.id))
            .filter(|a| same(req.id.as_ref(), &a.id) && same_name(req.name.as_ref(), &a.name))
            .filter(|a| keyword_matches(req.keyword.as_deref(), &[&a.name]))
            .map(|a| self.account_view(&dir, &users, a))
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_users(
        &self,
        caller: &Caller,
        req: &ListOwned,
    ) -> Result<Listing<wire::User>, PortError> {
        let dir = self.directory().await?;
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", req.id.as_ref(), &users, |u| &u.id)?;
        let visibility = self.identity_visibility(&dir, caller, req)?;
        // Each user's newest active API key (an identifier, not a secret), as CloudStack shows.
        let mut api_keys: HashMap<String, String> = HashMap::new();
        for k in identity::list_keys(self.pool()).await.map_err(port_error)? {
            if k.state == "active" {
                api_keys.insert(k.user_id, k.access_key);
            }
        }
        let items = users
            .iter()
            .filter(|u| dir.admits(&visibility, &u.account_id))
            .filter(|u| same(req.id.as_ref(), &u.id) && same_name(req.name.as_ref(), &u.username))
            .filter(|u| {
                keyword_matches(
                    req.keyword.as_deref(),
                    &[&u.username, &u.firstname, &u.lastname],
                )
            })
            .map(|u| self.user_view(&dir, u, api_keys.get(&u.id).cloned()))
            .collect();
        Ok(req.page.slice(items))
    }

    async fn get_user(&self, caller: &Caller, req: &GetUser) -> Result<wire::User, PortError> {
        let missing =
            || PortError::InvalidParameter(format!("No user has the API key {}", req.api_key));
        let user_id = listing::user_of_key(self.pool(), &req.api_key)
            .await
            .map_err(port_error)?
            .ok_or_else(missing)?;
        let dir = self.directory().await?;
        let users = identity::list_users(self.pool())
            .await
            .map_err(port_error)?;
        let user = users.iter().find(|u| u.id == user_id).ok_or_else(missing)?;
        let domain = dir.domain(&user.domain_id).ok_or_else(missing)?;
        if !in_tree(&caller.domain_path, &domain.path) {
            // A domain admin outside the user's tree learns nothing more than "no such key".
            return Err(missing());
        }
        Ok(self.user_view(&dir, user, Some(req.api_key.clone())))
    }

    async fn list_virtual_machines(
        &self,
        caller: &Caller,
        req: &ListVirtualMachines,
    ) -> Result<Listing<wire::VirtualMachine>, PortError> {
        let pool = self.pool();
        for (param, id) in
            std::iter::once(("id", req.id.as_ref())).chain(req.ids.iter().map(|i| ("ids", Some(i))))
        {
            if let Some(id) = id {
                if !listing::instance_exists(pool, id)
                    .await
                    .map_err(port_error)?
                {
                    return Err(unknown(param, id));
                }
            }
        }
        if let Some(zone) = &req.zone_id {
            let zones = infra::list_zones(pool).await.map_err(port_error)?;
            check_known("zoneid", Some(zone), &zones, |z| &z.id)?;
        }
        if let Some(template) = &req.template_id {
            let templates = listing::list_all_templates(pool)
                .await
                .map_err(port_error)?;
            check_known("templateid", Some(template), &templates, |t| &t.id)?;
        }
        if let Some(o) = &req.service_offering_id {
            let offerings = offering::list_service_offerings(pool)
                .await
                .map_err(port_error)?;
            check_known("serviceofferingid", Some(o), &offerings, |x| &x.id)?;
        }
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        let query = InstanceQuery {
            tags: req.tags.clone(),
            visibility: Some(visibility),
            id: req.id.clone(),
            ids: req.ids.clone(),
            name: req.name.clone(),
            state: req.state.clone(),
            zone_id: req.zone_id.clone(),
            template_id: req.template_id.clone(),
            offering_id: req.service_offering_id.clone(),
            keyword: req.keyword.clone(),
            offset: req.page.offset,
            limit: req.page.limit,
        };
        let (count, rows) = listing::list_instances(pool, &query)
            .await
            .map_err(port_error)?;
        let admin = caller.role != Role::User;
        let ids: Vec<&str> = rows.iter().map(|v| v.id.as_str()).collect();
        let mut pending = listing::pending_jobs(pool, &ids)
            .await
            .map_err(port_error)?;
        let parts = listing::instance_parts(pool, &ids)
            .await
            .map_err(port_error)?;
        let mut items: Vec<wire::VirtualMachine> = rows
            .into_iter()
            .map(|v| {
                let job = pending.remove(&v.id);
                vm_view(v, admin, job, &parts)
            })
            .collect();
        self.with_isos(&mut items).await?;
        Ok(Listing { count, items })
    }

    async fn list_projects(
        &self,
        _caller: &Caller,
        req: &ListOwned,
    ) -> Result<Listing<wire::Project>, PortError> {
        // LIMITATION: there are no projects yet: every listing is empty, and an id names none.
        if let Some(id) = &req.id {
            return Err(unknown("id", id));
        }
        Ok(Listing::default())
    }

    async fn deploy_virtual_machine(
        &self,
        caller: &Caller,
        req: &DeployVirtualMachine,
    ) -> Result<(String, String), PortError> {
        let pool = self.pool();
        let zones = infra::list_zones(pool).await.map_err(port_error)?;
        let zone = zones
            .iter()
            .find(|z| z.id == req.zone_id)
            .ok_or_else(|| unknown("zoneid", &req.zone_id))?;
        let offering = offering::list_service_offerings(pool)
            .await
            .map_err(port_error)?
            .into_iter()
            .find(|o| o.id == req.service_offering_id)
            .ok_or_else(|| unknown("serviceofferingid", &req.service_offering_id))?;
        let template = listing::list_all_templates(pool)
            .await
            .map_err(port_error)?
            .into_iter()
            .find(|t| t.id == req.template_id)
            .ok_or_else(|| unknown("templateid", &req.template_id))?;
        let (account_id, user_id) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let mut conn = pool.acquire().await.map_err(|e| port_error(e.into()))?;
        let launchable = crate::model::template::launchable_by(&mut conn, &template, &account_id)
            .await
            .map_err(port_error)?;
        drop(conn);
        if !launchable && !caller.is_root_admin() {
            return Err(PortError::PermissionDenied(format!(
                "Account {} may not use template {}",
                caller.account_name, template.id
            )));
        }
        if template.zone_id != zone.id {
            return Err(PortError::InvalidParameter(format!(
                "Template {} is not available in zone {}",
                template.id, zone.id
            )));
        }
        if !template_ready(&template) {
            return Err(PortError::InvalidParameter(format!(
                "Template {} has not been completely downloaded to zone {}",
                template.id, zone.id
            )));
        }
        if let Some(size) = req.root_disk_size_gib {
            let template_gib = (template.size_bytes + (1 << 30) - 1) >> 30;
            if size < template_gib {
                return Err(PortError::InvalidParameter(format!(
                    "The root disk size {size} GiB is smaller than template {}'s {template_gib} \
                     GiB",
                    template.id
                )));
            }
        }
        {
            let mut conn = pool.acquire().await.map_err(|e| port_error(e.into()))?;
            for name in &req.key_pairs {
                if keypair::by_name(&mut conn, &account_id, name)
                    .await
                    .map_err(port_error)?
                    .is_none()
                {
                    return Err(PortError::InvalidParameter(format!(
                        "A key pair with name '{name}' was not found for the account"
                    )));
                }
            }
        }
        let defaults = network::ensure_default_vpc(&self.cloud.store, &account_id)
            .await
            .map_err(port_error)?;
        let network = defaults
            .networks
            .iter()
            .find(|n| n.zone_id == zone.id)
            .cloned()
            .ok_or_else(|| {
                PortError::Internal(format!(
                    "the default VPC has no network in zone {}",
                    zone.id
                ))
            })?;
        let template_gib = ((template.size_bytes + (1 << 30) - 1) >> 30).max(1);
        let group_ids = self
            .deploy_groups(&account_id, &network.vpc_id, req)
            .await?
            .unwrap_or_else(|| vec![defaults.group.id.clone()]);
        let attachments = DeployAttachments {
            account_id: account_id.clone(),
            network,
            group_ids,
            root_size_gib: req.root_disk_size_gib.unwrap_or(template_gib),
        };
        // LIMITATION: the details map and key pairs beyond the first are accepted but not
        // applied (offerings are fixed; an instance holds one key); networkids are not taken
        // yet: every instance joins its account's default network in the zone.
        let spec = LaunchSpec {
            account_id: account_id.clone(),
            user_id: user_id.clone(),
            zone_id: Some(zone.id.clone()),
            offering,
            template,
            min_count: 1,
            max_count: 1,
            name: req.name.clone(),
            display_name: req.display_name.clone().or_else(|| req.name.clone()),
            user_data: req.user_data.clone(),
            key_name: req.key_pairs.first().cloned(),
            client_token: None,
            start: req.start,
        };
        let launched = self
            .cloud
            .orchestrator
            .launch_with(spec, &attachments)
            .await
            .map_err(port_error)?;
        let instance = launched
            .instances
            .first()
            .ok_or_else(|| PortError::Internal("a launch of one made none".into()))?;
        let job = NewApiJob {
            command: JobCommand::DeployVirtualMachine.api_name(),
            account_id: &account_id,
            user_id: &user_id,
            instance_id: Some(&instance.id),
        };
        let job_id = self
            .record_job(launched.job_ids.first().map(String::as_str), job)
            .await?;
        tracing::info!(instance = %instance.id, job = %job_id, "instance deployed");
        Ok((instance.id.clone(), job_id))
    }

    async fn virtual_machine_action(
        &self,
        caller: &Caller,
        req: &VmRequest,
    ) -> Result<String, PortError> {
        let v = self.actionable(caller, "id", &req.id).await?;
        let o = &self.cloud.orchestrator;
        let user = caller.user_id.as_str();
        let (command, queued) = match req.action {
            VmAction::Start => (
                JobCommand::StartVirtualMachine,
                o.start(None, user, &v.id).await,
            ),
            VmAction::Stop { forced } => (
                JobCommand::StopVirtualMachine,
                o.stop(None, user, &v.id, forced).await,
            ),
            VmAction::Reboot => (
                JobCommand::RebootVirtualMachine,
                o.reboot(None, user, &v.id).await,
            ),
            VmAction::Destroy { expunge } => (
                JobCommand::DestroyVirtualMachine,
                o.destroy(None, user, &v.id, expunge).await,
            ),
            VmAction::Expunge => (
                JobCommand::ExpungeVirtualMachine,
                o.expunge(None, user, &v.id).await,
            ),
        };
        let queued = queued.map_err(port_error)?;
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &v.account_id,
            user_id: user,
            instance_id: Some(&v.id),
        };
        self.record_job(Some(&queued.job_id), job).await
    }

    async fn recover_virtual_machine(
        &self,
        caller: &Caller,
        req: &ById,
    ) -> Result<wire::VirtualMachine, PortError> {
        let v = self.actionable(caller, "id", &req.id).await?;
        self.cloud
            .orchestrator
            .recover(None, &v.id)
            .await
            .map_err(port_error)?;
        self.vm_of(caller, &v.id).await
    }

    async fn update_virtual_machine(
        &self,
        caller: &Caller,
        req: &UpdateVirtualMachine,
    ) -> Result<wire::VirtualMachine, PortError> {
        let v = self.actionable(caller, "id", &req.id).await?;
        if req.ha_enable == Some(true) {
            // LIMITATION: instances are not restarted elsewhere on host failure yet.
            return Err(PortError::InvalidParameter(
                "High availability (haenable=true) is not offered by this cloud".into(),
            ));
        }
        let settings = InstanceSettings {
            display_name: req.display_name.clone(),
            name: req.name.clone(),
            user_data: req.user_data.clone(),
        };
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        instance_edit::update(&mut tx, &v.id, &settings)
            .await
            .map_err(port_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        self.vm_of(caller, &v.id).await
    }

    async fn change_service_offering(
        &self,
        caller: &Caller,
        req: &ChangeServiceOffering,
    ) -> Result<wire::VirtualMachine, PortError> {
        let v = self.actionable(caller, "id", &req.id).await?;
        let offering = offering::list_service_offerings(self.pool())
            .await
            .map_err(port_error)?
            .into_iter()
            .find(|o| o.id == req.service_offering_id)
            .ok_or_else(|| unknown("serviceofferingid", &req.service_offering_id))?;
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        instance_edit::change_offering(&mut tx, &v.id, &offering)
            .await
            .map_err(port_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        self.vm_of(caller, &v.id).await
    }

    async fn reset_ssh_key(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::ResetSshKey,
    ) -> Result<String, PortError> {
        let v = self.actionable(caller, "id", &req.id).await?;
        if v.state != "Stopped" {
            return Err(PortError::InvalidParameter(format!(
                "Vm {} should be stopped to do SSH Key reset",
                v.id
            )));
        }
        let owner_id = match &req.account {
            Some(_) => {
                self.owner(caller, req.account.as_ref(), req.domain_id.as_ref())
                    .await?
                    .0
            }
            None => v.account_id.clone(),
        };
        if owner_id != v.account_id {
            return Err(PortError::InvalidParameter(format!(
                "The key pair must belong to the account of instance {}",
                v.id
            )));
        }
        // LIMITATION: an instance keeps one key pair (its EC2 KeyName), so a request naming
        // several is refused rather than keeping only the first.
        let [name] = req.key_pairs.as_slice() else {
            return Err(PortError::InvalidParameter(
                "Only one key pair per instance is supported".into(),
            ));
        };
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        if keypair::by_name(&mut conn, &v.account_id, name)
            .await
            .map_err(port_error)?
            .is_none()
        {
            return Err(PortError::InvalidParameter(format!(
                "A key pair with name '{name}' does not exist for account {} in specified domain \
                 id",
                v.account_name
            )));
        }
        drop(conn);
        write_tx!(self, |tx| instance_edit::set_key_pair(&mut tx, &v.id, name)
            .await);
        tracing::info!(instance = %v.id, key_pair = %name, "instance key pair reset");
        let job = NewApiJob {
            command: JobCommand::ResetSshKeyForVirtualMachine.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&v.id),
        };
        self.record_job(None, job).await
    }

    async fn job(&self, caller: &Caller, req: &QueryJob) -> Result<JobView, PortError> {
        let entry = listing::job(self.pool(), &req.job_id)
            .await
            .map_err(port_error)?
            .ok_or_else(|| unknown("jobid", &req.job_id))?;
        let dir = self.directory().await?;
        let own = entry.account_id == caller.account_id;
        if !own
            && (caller.role == Role::User || !dir.admits(&caller_tree(caller), &entry.account_id))
        {
            return Err(PortError::PermissionDenied(format!(
                "Account {} may not see job {}",
                caller.account_name, req.job_id
            )));
        }
        self.job_view(caller, entry).await
    }

    async fn list_jobs(
        &self,
        caller: &Caller,
        req: &ListLog,
    ) -> Result<Listing<JobView>, PortError> {
        let dir = self.directory().await?;
        let query = self.log_query(&dir, caller, req)?;
        let (count, entries) = listing::list_jobs(self.pool(), &query)
            .await
            .map_err(port_error)?;
        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            // Jobs of kinds this door has no command for (another door's) are left out.
            if job_command(&e).is_some() {
                items.push(self.job_view(caller, e).await?);
            }
        }
        Ok(Listing { count, items })
    }

    async fn list_events(
        &self,
        caller: &Caller,
        req: &ListLog,
    ) -> Result<Listing<wire::Event>, PortError> {
        let dir = self.directory().await?;
        let query = self.log_query(&dir, caller, req)?;
        let (count, rows) = listing::list_events(self.pool(), &query)
            .await
            .map_err(port_error)?;
        let items = rows
            .into_iter()
            .map(|e| wire::Event {
                resourcetype: e
                    .kind
                    .starts_with("VM.")
                    .then(|| "VirtualMachine".to_owned()),
                id: e.id,
                username: e.username.unwrap_or_default(),
                r#type: e.kind,
                level: e.level.to_uppercase(),
                description: e.description,
                account: e.account_name,
                domainid: e.domain_id,
                domain: e.domain_name,
                created: Timestamp(e.created_ms),
                state: e.state,
                resourceid: e.resource_id,
            })
            .collect();
        Ok(Listing { count, items })
    }

    async fn list_public_ip_addresses(
        &self,
        caller: &Caller,
        req: &ListPublicIps,
    ) -> Result<Listing<wire::PublicIpAddress>, PortError> {
        self.public_ips(caller, req).await
    }

    async fn acquire_ip(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::AcquireIp,
    ) -> Result<(String, String), PortError> {
        self.acquire(caller, req).await
    }

    async fn release_ip(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::IpRequest,
    ) -> Result<String, PortError> {
        self.release_address(caller, req).await
    }

    async fn enable_static_nat(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::EnableStaticNat,
    ) -> Result<(), PortError> {
        self.static_nat_on(caller, req).await
    }

    async fn disable_static_nat(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::IpRequest,
    ) -> Result<String, PortError> {
        self.static_nat_off(caller, req).await
    }

    async fn create_security_group(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::CreateSecurityGroup,
    ) -> Result<wire::SecurityGroup, PortError> {
        self.create_native_group(caller, req).await
    }

    async fn list_security_groups(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::ListSecurityGroups,
    ) -> Result<Listing<wire::SecurityGroup>, PortError> {
        self.native_security_groups(caller, req).await
    }

    async fn delete_security_group(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::DeleteSecurityGroup,
    ) -> Result<(), PortError> {
        self.delete_native_group(caller, req).await
    }

    async fn authorize_rules(
        &self,
        caller: &Caller,
        req: &cirrus_native::requests::AuthorizeRules,
        egress: bool,
    ) -> Result<String, PortError> {
        self.authorize(caller, req, egress).await
    }

    async fn revoke_rule(
        &self,
        caller: &Caller,
        req: &ById,
        egress: bool,
    ) -> Result<String, PortError> {
        self.revoke(caller, req, egress).await
    }

    async fn list_network_offerings(
        &self,
        _caller: &Caller,
        req: &cirrus_native::requests::ListOfferings,
    ) -> Result<Listing<wire::NetworkOffering>, PortError> {
        self.network_offerings(req).await
    }

    async fn list_vpc_offerings(
        &self,
        _caller: &Caller,
        req: &cirrus_native::requests::ListOfferings,
    ) -> Result<Listing<wire::VpcOffering>, PortError> {
        self.vpc_offerings(req).await
    }

    async fn create_service_offering(
        &self,
        _caller: &Caller,
        req: &CreateServiceOffering,
    ) -> Result<wire::ServiceOffering, PortError> {
        let new = NewServiceOffering {
            name: req.name.clone(),
            display_text: req.display_text.clone(),
            cpus: req.cpus,
            cpu_speed_mhz: req.cpu_speed_mhz,
            memory_mib: req.memory_mib,
        };
        let o = write_tx!(self, |tx| offering_admin::create_service_offering(
            &mut tx, &new
        )
        .await);
        tracing::info!(offering = %o.id, name = %o.name, "service offering created");
        Ok(service_offering_view(o))
    }

    async fn update_service_offering(
        &self,
        _caller: &Caller,
        req: &UpdateNamed,
    ) -> Result<wire::ServiceOffering, PortError> {
        let known = offering::list_service_offerings(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", Some(&req.id), &known, |o| &o.id)?;
        write_tx!(self, |tx| offering_admin::update_service_offering(
            &mut tx,
            &req.id,
            req.name.as_deref(),
            req.display_text.as_deref()
        )
        .await);
        offering::list_service_offerings(self.pool())
            .await
            .map_err(port_error)?
            .into_iter()
            .find(|o| o.id == req.id)
            .map(service_offering_view)
            .ok_or_else(|| unknown("id", &req.id))
    }

    async fn delete_service_offering(&self, _caller: &Caller, req: &ById) -> Result<(), PortError> {
        let known = offering::list_service_offerings(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", Some(&req.id), &known, |o| &o.id)?;
        // LIMITATION: CloudStack marks an offering in use removed and lets its instances keep
        // it; here the instances' rows need it, so an offering in use is refused instead.
        match write_tx!(self, |tx| offering_admin::delete_service_offering(
            &mut tx, &req.id
        )
        .await)
        {
            Removal::Removed => Ok(()),
            Removal::InUse(n) => Err(PortError::ResourceInUse(format!(
                "Service offering {} is used by {n} instance(s); change or expunge them first",
                req.id
            ))),
        }
    }

    async fn create_disk_offering(
        &self,
        _caller: &Caller,
        req: &CreateDiskOffering,
    ) -> Result<wire::DiskOffering, PortError> {
        let o = write_tx!(self, |tx| offering_admin::create_disk_offering(
            &mut tx,
            &req.name,
            &req.display_text,
            req.size_gib,
            req.customized
        )
        .await);
        Ok(disk_offering_view(o))
    }

    async fn delete_disk_offering(&self, _caller: &Caller, req: &ById) -> Result<(), PortError> {
        let known = offering::list_disk_offerings(self.pool())
            .await
            .map_err(port_error)?;
        check_known("id", Some(&req.id), &known, |o| &o.id)?;
        // As in CloudStack, an offering in use goes too: the volumes made from it keep its id
        // (CloudStack keeps the removed offering's row; here listVolumes still shows the id).
        write_tx!(self, |tx| offering_admin::delete_disk_offering(
            &mut tx, &req.id
        )
        .await);
        Ok(())
    }

    async fn create_domain(
        &self,
        caller: &Caller,
        req: &CreateDomain,
    ) -> Result<wire::Domain, PortError> {
        let dir = self.directory().await?;
        let parent_id = req.parent_domain_id.as_ref().unwrap_or(&caller.domain_id);
        let parent = self.administered_domain(&dir, caller, "parentdomainid", parent_id)?;
        let path = parent.path.clone();
        let d = write_tx!(self, |tx| identity::create_domain(
            &mut tx, &path, &req.name
        )
        .await);
        tracing::info!(domain = %d.id, path = %d.path, "domain created");
        let dir = self.directory().await?;
        Ok(domain_view(&dir, &d))
    }

    async fn update_domain(
        &self,
        caller: &Caller,
        req: &UpdateNamed,
    ) -> Result<wire::Domain, PortError> {
        let dir = self.directory().await?;
        let d = self.administered_domain(&dir, caller, "id", &req.id)?;
        if d.id == caller.domain_id && caller.role != Role::RootAdmin {
            return Err(PortError::PermissionDenied(
                "A domain admin may not rename its own domain".into(),
            ));
        }
        if let Some(name) = &req.name {
            write_tx!(self, |tx| identity_admin::rename_domain(
                &mut tx, &req.id, name
            )
            .await);
        }
        let dir = self.directory().await?;
        let d = dir.domain(&req.id).ok_or_else(|| unknown("id", &req.id))?;
        Ok(domain_view(&dir, d))
    }

    async fn delete_domain(&self, caller: &Caller, req: &ById) -> Result<String, PortError> {
        let dir = self.directory().await?;
        let d = self.administered_domain(&dir, caller, "id", &req.id)?;
        if d.id == caller.domain_id {
            return Err(PortError::PermissionDenied(
                "An account may not delete its own domain".into(),
            ));
        }
        match write_tx!(self, |tx| identity_admin::delete_domain(&mut tx, &req.id)
            .await)
        {
            Removal::Removed => {}
            Removal::InUse(n) => {
                return Err(PortError::ResourceInUse(format!(
                    "Domain {} still holds {n} domain(s) or account(s); delete them first",
                    req.id
                )))
            }
        }
        tracing::info!(domain = %req.id, "domain deleted");
        let job = NewApiJob {
            command: JobCommand::DeleteDomain.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&req.id),
        };
        self.record_job(None, job).await
    }

    async fn create_account(
        &self,
        caller: &Caller,
        req: &CreateAccount,
    ) -> Result<wire::Account, PortError> {
        let dir = self.directory().await?;
        let domain_id = req.domain_id.as_ref().unwrap_or(&caller.domain_id);
        let domain = self.administered_domain(&dir, caller, "domainid", domain_id)?;
        let role = match req.kind {
            AccountKind::User => CoreRole::User,
            AccountKind::DomainAdmin => CoreRole::DomainAdmin,
            AccountKind::RootAdmin if caller.role == Role::RootAdmin => CoreRole::RootAdmin,
            AccountKind::RootAdmin => {
                return Err(PortError::PermissionDenied(
                    "Only a root admin may create root admin accounts".into(),
                ))
            }
        };
        let hash = hash_blocking(req.user.password.clone()).await?;
        let domain_id = domain.id.clone();
        let u = &req.user;
        let account = write_tx!(self, |tx| async {
            let account = identity::create_account(&mut tx, &domain_id, &req.name, role).await?;
            let new = identity::NewUser {
                username: &u.username,
                password: None,
                firstname: &u.first_name,
                lastname: &u.last_name,
                email: &u.email,
            };
            let user = identity::create_user(&mut tx, &account, &new).await?;
            let changes = UserChanges {
                password_hash: Some(hash),
                ..UserChanges::default()
            };
            identity_admin::update_user(&mut tx, &user.id, &changes).await?;
            Ok::<_, CoreError>(account)
        }
        .await);
        tracing::info!(account = %account.id, name = %account.name, "account created");
        self.account_now(&account.id).await
    }

    async fn update_account(
        &self,
        caller: &Caller,
        req: &UpdateAccount,
    ) -> Result<wire::Account, PortError> {
        let dir = self.directory().await?;
        let id = self
            .administered_account(&dir, caller, &req.account)?
            .id
            .clone();
        if let Some(name) = &req.new_name {
            write_tx!(self, |tx| identity_admin::rename_account(
                &mut tx, &id, name
            )
            .await);
        }
        self.account_now(&id).await
    }

    async fn account_state(
        &self,
        caller: &Caller,
        req: &AccountAction,
    ) -> Result<Result<String, wire::Account>, PortError> {
        let dir = self.directory().await?;
        let a = self.administered_account(&dir, caller, &req.account)?;
        let id = a.id.clone();
        if id == caller.account_id && req.change != AccountChange::Enable {
            return Err(PortError::PermissionDenied(
                "An account may not disable or delete itself".into(),
            ));
        }
        let command = match req.change {
            AccountChange::Enable => {
                write_tx!(self, |tx| identity_admin::set_account_state(
                    &mut tx,
                    &id,
                    AccountState::Enabled
                )
                .await);
                return Ok(Err(self.account_now(&id).await?));
            }
            AccountChange::Disable { lock } => {
                let state = if lock {
                    AccountState::Locked
                } else {
                    AccountState::Disabled
                };
                write_tx!(self, |tx| identity_admin::set_account_state(
                    &mut tx, &id, state
                )
                .await);
                JobCommand::DisableAccount
            }
            AccountChange::Delete => {
                match write_tx!(self, |tx| identity_admin::delete_account(&mut tx, &id)
                    .await)
                {
                    Removal::Removed => {}
                    Removal::InUse(n) => {
                        // LIMITATION: CloudStack deletes an account's resources with it; here
                        // they must be gone first.
                        return Err(PortError::ResourceInUse(format!(
                            "Account {} still owns {n} instance(s) or template(s); expunge or \
                             delete them first",
                            a.name
                        )));
                    }
                }
                JobCommand::DeleteAccount
            }
        };
        tracing::info!(account = %id, command = command.api_name(), "account changed");
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&id),
        };
        Ok(Ok(self.record_job(None, job).await?))
    }

    async fn create_user(
        &self,
        caller: &Caller,
        req: &CreateUser,
    ) -> Result<wire::User, PortError> {
        let dir = self.directory().await?;
        let domain_id = req
            .domain_id
            .clone()
            .unwrap_or_else(|| caller.domain_id.clone());
        let r = AccountRef {
            id: None,
            name: Some(req.account.clone()),
            domain_id: Some(domain_id),
        };
        let account = self.administered_account(&dir, caller, &r)?.clone();
        let hash = hash_blocking(req.user.password.clone()).await?;
        let u = &req.user;
        let user = write_tx!(self, |tx| async {
            let new = identity::NewUser {
                username: &u.username,
                password: None,
                firstname: &u.first_name,
                lastname: &u.last_name,
                email: &u.email,
            };
            let user = identity::create_user(&mut tx, &account, &new).await?;
            let changes = UserChanges {
                password_hash: Some(hash),
                ..UserChanges::default()
            };
            identity_admin::update_user(&mut tx, &user.id, &changes).await?;
            Ok::<_, CoreError>(user)
        }
        .await);
        self.user_now(&user.id).await
    }

    async fn update_user(
        &self,
        caller: &Caller,
        req: &UpdateUser,
    ) -> Result<wire::User, PortError> {
        let user = self.reachable_user(caller, &req.id).await?;
        let password_hash = match &req.password {
            Some(p) => Some(hash_blocking(p.clone()).await?),
            None => None,
        };
        let changes = UserChanges {
            username: req.username.clone(),
            firstname: req.first_name.clone(),
            lastname: req.last_name.clone(),
            email: req.email.clone(),
            password_hash,
        };
        write_tx!(self, |tx| identity_admin::update_user(
            &mut tx, &user.id, &changes
        )
        .await);
        self.user_now(&user.id).await
    }

    async fn delete_user(&self, caller: &Caller, req: &ById) -> Result<(), PortError> {
        let user = self.reachable_user(caller, &req.id).await?;
        if user.id == caller.user_id {
            return Err(PortError::PermissionDenied(
                "A user may not delete itself".into(),
            ));
        }
        write_tx!(self, |tx| identity_admin::delete_user(&mut tx, &user.id)
            .await);
        tracing::info!(user = %user.id, "user deleted");
        Ok(())
    }

    async fn user_keys(
        &self,
        caller: &Caller,
        req: &ById,
        register: bool,
    ) -> Result<wire::UserKeys, PortError> {
        let user = self.reachable_user(caller, &req.id).await?;
        let pair = if register {
            let pair = write_tx!(self, |tx| identity_admin::replace_keys(&mut tx, &user.id)
                .await);
            tracing::info!(user = %user.id, api_key = %pair.access_key, "API keys replaced");
            Some(pair)
        } else {
            let mut conn = self
                .pool()
                .acquire()
                .await
                .map_err(|e| port_error(e.into()))?;
            identity::active_key_of(&mut conn, &user.id)
                .await
                .map_err(port_error)?
        };
        let pair = pair.ok_or_else(|| {
            PortError::InvalidParameter(format!("User {} has no API keys", user.id))
        })?;
        // reachable_user admitted only the user itself or an admin over it.
        Ok(wire::UserKeys {
            apikey: pair.access_key.clone(),
            secretkey: Some(pair.secret_key.expose().to_owned()),
        })
    }

    async fn add_key_pair(
        &self,
        caller: &Caller,
        req: &KeyPairRequest,
    ) -> Result<wire::SshKeyPair, PortError> {
        let (account_id, _) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let (public, private) = match &req.public_key {
            Some(text) => {
                let key = keypair::parse_openssh(text).map_err(|e| {
                    PortError::InvalidParameter(format!("Public key is invalid: {e}"))
                })?;
                (key, None)
            }
            None => {
                // Making an RSA key takes a while: off the request's task.
                let made = tokio::task::spawn_blocking(|| keypair::generate(keypair::KeyKind::Rsa))
                    .await
                    .map_err(|e| {
                        PortError::Internal(format!("key generation did not finish: {e}"))
                    })?
                    .map_err(port_error)?;
                (made.public, Some(made.private_pem))
            }
        };
        let name = req.name.clone();
        let pair = write_tx!(self, |tx| keypair::insert(
            &mut tx,
            &account_id,
            &name,
            &public
        )
        .await)
        .ok_or_else(|| {
            PortError::InvalidParameter(format!("A key pair with name '{name}' already exists."))
        })?;
        tracing::info!(key_pair = %pair.id, name = %pair.name, "key pair added");
        let dir = self.directory().await?;
        let mut view = key_pair_view(&dir, pair);
        view.privatekey = private;
        Ok(view)
    }

    async fn list_key_pairs(
        &self,
        caller: &Caller,
        req: &ListKeyPairs,
    ) -> Result<Listing<wire::SshKeyPair>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, false)?;
        let mut items = Vec::new();
        for a in dir
            .accounts
            .iter()
            .filter(|a| dir.admits(&visibility, &a.id))
        {
            let pairs = keypair::list_for_account(self.pool(), &a.id)
                .await
                .map_err(port_error)?;
            items.extend(
                pairs
                    .into_iter()
                    .filter(|k| same_name(req.name.as_ref(), &k.name))
                    .filter(|k| same(req.fingerprint.as_ref(), &native_fingerprint(k)))
                    .filter(|k| keyword_matches(req.keyword.as_deref(), &[&k.name]))
                    .map(|k| key_pair_view(&dir, k)),
            );
        }
        Ok(req.page.slice(items))
    }

    async fn delete_key_pair(
        &self,
        caller: &Caller,
        req: &KeyPairRequest,
    ) -> Result<(), PortError> {
        let (account_id, _) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let name = req.name.clone();
        let found = write_tx!(self, |tx| async {
            match keypair::by_name(&mut tx, &account_id, &name).await? {
                Some(k) => keypair::delete(&mut tx, &k).await.map(|()| true),
                None => Ok(false),
            }
        }
        .await);
        if !found {
            return Err(PortError::InvalidParameter(format!(
                "A key pair with name '{name}' does not exist for the account"
            )));
        }
        Ok(())
    }

    async fn change_tags(
        &self,
        caller: &Caller,
        req: &TagRequest,
        delete: bool,
    ) -> Result<String, PortError> {
        let &(type_name, kind, table) = taggable(&req.resource_type).ok_or_else(|| {
            PortError::InvalidParameter(format!(
                "Resource type {} is not one this cloud tags: use UserVm, Template, Network, Vpc \
                 or SecurityGroup",
                req.resource_type
            ))
        })?;
        let dir = self.directory().await?;
        let mut owned: Vec<(String, TaggedResource)> = Vec::new();
        for id in &req.resource_ids {
            let (account_id, ec2_id) = listing::resource_owner(self.pool(), table, id)
                .await
                .map_err(port_error)?
                .ok_or_else(|| unknown("resourceids", id))?;
            let mine = account_id == caller.account_id;
            if !mine
                && (caller.role == Role::User || !dir.admits(&caller_tree(caller), &account_id))
            {
                return Err(PortError::PermissionDenied(format!(
                    "Account {} may not tag {type_name} {id}",
                    caller.account_name
                )));
            }
            owned.push((
                account_id,
                TaggedResource {
                    kind,
                    id: id.clone(),
                    ec2_id,
                },
            ));
        }
        if !delete && req.tags.iter().any(|(k, _)| k.is_empty()) {
            return Err(PortError::InvalidParameter(
                "A tag key cannot be empty".into(),
            ));
        }
        write_tx!(self, |tx| async {
            for (account_id, r) in &owned {
                if delete {
                    let keys: Vec<(String, Option<String>)> = req
                        .tags
                        .iter()
                        .map(|(k, v)| (k.clone(), (!v.is_empty()).then(|| v.clone())))
                        .collect();
                    tag::remove(&mut tx, std::slice::from_ref(&r.id), &keys).await?;
                } else {
                    tag::set(&mut tx, account_id, std::slice::from_ref(r), &req.tags).await?;
                }
            }
            Ok::<_, CoreError>(())
        }
        .await);
        let command = if delete {
            JobCommand::DeleteTags
        } else {
            JobCommand::CreateTags
        };
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: None,
        };
        self.record_job(None, job).await
    }

    async fn list_volumes(
        &self,
        caller: &Caller,
        req: &cirrus_native::volumes::ListVolumes,
    ) -> Result<Listing<cirrus_native::volumes::Volume>, PortError> {
        self.native_volumes(caller, req).await
    }

    async fn list_snapshots(
        &self,
        caller: &Caller,
        req: &cirrus_native::volumes::ListVolumes,
    ) -> Result<Listing<cirrus_native::volumes::Snapshot>, PortError> {
        self.native_snapshots(caller, req).await
    }

    async fn create_volume(
        &self,
        caller: &Caller,
        req: &cirrus_native::volumes::CreateVolume,
    ) -> Result<(String, String), PortError> {
        self.native_create_volume(caller, req).await
    }

    async fn volume_job(
        &self,
        caller: &Caller,
        req: &cirrus_native::volumes::VolumeJob,
    ) -> Result<String, PortError> {
        self.native_volume_job(caller, req).await
    }

    async fn delete_volume(&self, caller: &Caller, req: &ById) -> Result<(), PortError> {
        self.native_delete_volume(caller, req).await
    }

    async fn create_snapshot(
        &self,
        caller: &Caller,
        req: &cirrus_native::volumes::CreateSnapshot,
    ) -> Result<(String, String), PortError> {
        self.native_create_snapshot(caller, req).await
    }

    async fn delete_snapshot(&self, caller: &Caller, req: &ById) -> Result<String, PortError> {
        self.native_delete_snapshot(caller, req).await
    }

    async fn list_tags(
        &self,
        caller: &Caller,
        req: &ListTags,
    ) -> Result<Listing<wire::Tag>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, false)?;
        let kind = match &req.resource_type {
            Some(t) => Some(taggable(t).map(|(_, k, _)| k.as_str()).ok_or_else(|| {
                PortError::InvalidParameter(format!("Resource type {t} has no tags here"))
            })?),
            None => None,
        };
        let mut items = Vec::new();
        for a in dir
            .accounts
            .iter()
            .filter(|a| dir.admits(&visibility, &a.id))
        {
            let domain = dir.domain(&a.domain_id);
            for t in tag::of_account(self.pool(), &a.id)
                .await
                .map_err(port_error)?
            {
                let admitted = kind.is_none_or(|k| t.resource_kind == k)
                    && same(req.resource_id.as_ref(), &t.resource_id)
                    && same(req.key.as_ref(), &t.tag_key)
                    && same(req.value.as_ref(), &t.tag_value)
                    && keyword_matches(req.keyword.as_deref(), &[&t.tag_key, &t.tag_value]);
                // Only the kinds this door names (EC2 tags other kinds too).
                if admitted
                    && TAGGABLE
                        .iter()
                        .any(|(_, k, _)| k.as_str() == t.resource_kind)
                {
                    items.push(wire::Tag {
                        key: t.tag_key,
                        value: t.tag_value,
                        resourcetype: resource_type_of(&t.resource_kind),
                        resourceid: t.resource_id,
                        account: a.name.clone(),
                        domainid: a.domain_id.clone(),
                        domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
                    });
                }
            }
        }
        Ok(req.page.slice(items))
    }

    async fn list_networks(
        &self,
        caller: &Caller,
        req: &ListNetworks,
    ) -> Result<Listing<wire::Network>, PortError> {
        Ok(req.page.slice(self.networks_and_vpcs(caller, req).await?.0))
    }

    async fn list_vpcs(
        &self,
        caller: &Caller,
        req: &ListNetworks,
    ) -> Result<Listing<wire::VpcInfo>, PortError> {
        Ok(req.page.slice(self.networks_and_vpcs(caller, req).await?.1))
    }

    async fn list_nics(
        &self,
        caller: &Caller,
        req: &ListNetworks,
    ) -> Result<Listing<wire::Nic>, PortError> {
        let id = req.virtual_machine_id.clone().unwrap_or_default();
        let v = self.actionable(caller, "virtualmachineid", &id).await?;
        let parts = listing::instance_parts(self.pool(), &[&v.id])
            .await
            .map_err(port_error)?;
        let (nics, _, _) = vm_parts(&v, &parts);
        if let Some(nic) = &req.id {
            check_known("nicid", Some(nic), &nics, |n| &n.id)?;
        }
        let items = nics
            .into_iter()
            .filter(|n| same(req.id.as_ref(), &n.id))
            .collect();
        Ok(req.page.slice(items))
    }

    async fn list_forwarding_rules(
        &self,
        caller: &Caller,
        req: &ListForwardingRules,
        _static_nat: bool,
    ) -> Result<Listing<wire::ForwardingRule>, PortError> {
        let dir = self.directory().await?;
        self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        if let Some(vm) = &req.virtual_machine_id {
            self.actionable(caller, "virtualmachineid", vm).await?;
        }
        // LIMITATION: port forwarding and IP forwarding rules cannot be made yet (static NAT
        // shows on the address itself, as `isstaticnat`): every listing is empty, and a rule
        // id names nothing.
        if let Some(id) = &req.id {
            return Err(unknown("id", id));
        }
        if let Some(id) = &req.ip_address_id {
            self.actionable_ip(caller, "ipaddressid", id).await?;
        }
        Ok(Listing::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(percent(0, 32), "0%");
        assert_eq!(percent(4, 32), "12.5%");
        assert_eq!(percent(1, 3), "33.33%");
        assert_eq!(percent(1, 0), "0%");
    }

    #[test]
    fn states_are_capitalized() {
        assert_eq!(capitalized("up"), "Up");
        assert_eq!(capitalized(""), "");
        assert_eq!(domain_state("enabled"), "Active");
    }
}
