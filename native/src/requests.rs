//! The typed requests the door hands the port, each decoded from a command's checked
//! [`Args`] before any logic runs. They use the core's ideas (ids, filters, a page), not wire
//! spellings; scope parameters (`listall`, `domainid`, `isrecursive`, `account`, `projectid`)
//! travel as a [`Scope`] that the port interprets with CloudStack's rules.

use std::collections::BTreeMap;
use std::fmt;

use crate::args::{Args, Page};
use crate::error::ApiError;

mod access;
pub use access::*;

/// The scope parameters of a list of owned resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub domain_id: Option<String>,
    pub account: Option<String>,
    pub is_recursive: bool,
    pub list_all: bool,
    /// A project id, or `-1` for every project the caller may see.
    pub project_id: Option<String>,
}

impl Scope {
    pub(crate) fn decode(args: &Args) -> Result<Self, ApiError> {
        let scope = Self {
            domain_id: args.string("domainid"),
            account: args.non_empty("account"),
            is_recursive: args.flag("isrecursive"),
            list_all: args.flag("listall"),
            project_id: args.string("projectid"),
        };
        if scope.account.is_some() && scope.project_id.is_some() {
            return Err(ApiError::invalid_parameter(
                "Account and projectId can't be specified together",
            ));
        }
        Ok(scope)
    }
}

/// Which templates `listTemplates` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateFilter {
    /// Public templates an admin marked featured.
    Featured,
    /// The caller's own templates.
    SelfOwned,
    /// The caller's own templates that are ready.
    SelfExecutable,
    /// Templates other accounts shared with the caller, ready.
    SharedExecutable,
    /// Every template the caller may launch: its own, shared and public, ready.
    Executable,
    /// Public templates that are not featured.
    Community,
    /// Every template (admins only).
    All,
}

impl TemplateFilter {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "featured" => Self::Featured,
            "self" => Self::SelfOwned,
            "selfexecutable" => Self::SelfExecutable,
            "sharedexecutable" => Self::SharedExecutable,
            "executable" => Self::Executable,
            "community" => Self::Community,
            "all" => Self::All,
            _ => return None,
        })
    }
}

/// The `tags[i].key`/`tags[i].value` filter: a resource matches if it has any of the pairs.
fn tags(args: &Args) -> Vec<(String, String)> {
    args.map("tags")
        .into_iter()
        .filter_map(|m| {
            let key = m.get("key")?.clone();
            Some((key, m.get("value").cloned().unwrap_or_default()))
        })
        .collect()
}

/// Filters common to the infrastructure lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListInfra {
    pub id: Option<String>,
    pub name: Option<String>,
    pub zone_id: Option<String>,
    pub pod_id: Option<String>,
    pub cluster_id: Option<String>,
    pub hypervisor: Option<String>,
    pub state: Option<String>,
    pub host_type: Option<String>,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListInfra {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("name"),
            zone_id: args.string("zoneid"),
            pod_id: args.string("podid"),
            cluster_id: args.string("clusterid"),
            hypervisor: args.string("hypervisor"),
            state: args.string("state"),
            host_type: args.string("type"),
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `addHost`. The password is read by nobody: the hosts this server adds need none, so it is
/// not even kept here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHost {
    pub zone_id: String,
    pub pod_id: String,
    pub cluster_id: Option<String>,
    pub cluster_name: Option<String>,
    pub url: String,
    pub hypervisor: String,
    pub host_tags: Vec<String>,
}

impl AddHost {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let cluster_id = args.non_empty("clusterid");
        let cluster_name = args.non_empty("clustername");
        if cluster_id.is_none() && cluster_name.is_none() {
            return Err(ApiError::invalid_parameter(
                "Either clusterid or clustername must be specified",
            ));
        }
        if cluster_id.is_some() && cluster_name.is_some() {
            return Err(ApiError::invalid_parameter(
                "Can't specify cluster by both id and name",
            ));
        }
        Ok(Self {
            zone_id: args.string("zoneid").unwrap_or_default(),
            pod_id: args.string("podid").unwrap_or_default(),
            cluster_id,
            cluster_name,
            url: args.string("url").unwrap_or_default(),
            hypervisor: args.string("hypervisor").unwrap_or_default(),
            host_tags: args.list("hosttags"),
        })
    }

    /// The host part of the URL (`http://sim/c0/h0` -> `sim`), if it has one.
    pub fn url_host(&self) -> Option<&str> {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        (!host.is_empty()).then_some(host)
    }
}

/// `listHypervisors`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListHypervisors {
    pub zone_id: Option<String>,
}

impl ListHypervisors {
    pub fn decode(args: &Args) -> Self {
        Self {
            zone_id: args.string("zoneid"),
        }
    }
}

/// A list by id, name and keyword: offerings, OS types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListNamed {
    pub id: Option<String>,
    /// `name`, or `description` for OS types.
    pub name: Option<String>,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListNamed {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("name").or_else(|| args.string("description")),
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `listTemplates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTemplates {
    pub filter: TemplateFilter,
    pub id: Option<String>,
    pub name: Option<String>,
    pub zone_id: Option<String>,
    pub hypervisor: Option<String>,
    /// (key, value) pairs, any of which a template must have.
    pub tags: Vec<(String, String)>,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListTemplates {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let raw = args.string("templatefilter").unwrap_or_default();
        let filter = TemplateFilter::parse(&raw).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "The template filter '{raw}' is not one of featured, self, selfexecutable, \
                 sharedexecutable, executable, community or all"
            ))
        })?;
        Ok(Self {
            filter,
            id: args.string("id"),
            name: args.string("name"),
            zone_id: args.string("zoneid"),
            hypervisor: args.string("hypervisor"),
            tags: tags(args),
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `listDomains`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListDomains {
    pub id: Option<String>,
    pub name: Option<String>,
    pub list_all: bool,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListDomains {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("name"),
            list_all: args.flag("listall"),
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `listAccounts`, `listUsers` and `listProjects`: an owned-resource list with a name filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOwned {
    pub id: Option<String>,
    /// `name`, or `username` for users.
    pub name: Option<String>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListOwned {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("name").or_else(|| args.string("username")),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `listVirtualMachines`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListVirtualMachines {
    pub id: Option<String>,
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub state: Option<String>,
    pub zone_id: Option<String>,
    pub template_id: Option<String>,
    pub service_offering_id: Option<String>,
    /// (key, value) pairs, any of which an instance must have.
    pub tags: Vec<(String, String)>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListVirtualMachines {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            ids: args.list("ids"),
            name: args.string("name"),
            state: args.string("state"),
            zone_id: args.string("zoneid"),
            template_id: args.string("templateid"),
            service_offering_id: args.string("serviceofferingid"),
            tags: tags(args),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `getUser`: the API key is an identifier, not a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUser {
    pub api_key: String,
}

impl GetUser {
    pub fn decode(args: &Args) -> Self {
        Self {
            api_key: args.string("userapikey").unwrap_or_default(),
        }
    }
}

/// `deployVirtualMachine`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DeployVirtualMachine {
    pub zone_id: String,
    pub service_offering_id: String,
    pub template_id: String,
    pub name: Option<String>,
    pub display_name: Option<String>,
    /// Key pair names: `keypair` and `keypairs` together.
    pub key_pairs: Vec<String>,
    /// Security groups by id or by name (CloudStack refuses both at once); none for the
    /// account's default group.
    pub security_group_ids: Vec<String>,
    pub security_group_names: Vec<String>,
    /// The user data, decoded from base64.
    pub user_data: Option<String>,
    pub start: bool,
    /// The root disk size in GiB.
    pub root_disk_size_gib: Option<i64>,
    /// `details[0].key=value` entries, merged.
    pub details: BTreeMap<String, String>,
    /// Deploy for this account (with `domain_id`) rather than the caller's.
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl fmt::Debug for DeployVirtualMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // User data can carry secrets; only its size is shown.
        f.debug_struct("DeployVirtualMachine")
            .field("zone_id", &self.zone_id)
            .field("service_offering_id", &self.service_offering_id)
            .field("template_id", &self.template_id)
            .field("name", &self.name)
            .field("start", &self.start)
            .field("user_data_len", &self.user_data.as_ref().map(String::len))
            .finish_non_exhaustive()
    }
}

/// CloudStack's host name rule for instance names: RFC 1123 labels of letters, digits and
/// hyphens, at most 63 characters, starting with a letter and not ending with a hyphen.
pub fn is_host_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1] != b'-'
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// CloudStack's cap on decoded user data (`vm.userdata.max.length` default).
pub const MAX_USER_DATA_BYTES: usize = 32768;

impl DeployVirtualMachine {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let name = args.non_empty("name");
        if let Some(n) = &name {
            if !is_host_name(n) {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid name {n}. Vm name can contain ASCII letters 'a' through 'z', the \
                     digits '0' through '9', and the hyphen ('-'), must be between 1 and 63 \
                     characters long, and can't start or end with \"-\" and can't start with digit"
                )));
            }
        }
        let user_data = match args.non_empty("userdata") {
            None => None,
            Some(b64) => Some(decode_user_data(&b64)?),
        };
        let mut key_pairs: Vec<String> = args.string("keypair").into_iter().collect();
        for k in args.list("keypairs") {
            if !key_pairs.contains(&k) {
                key_pairs.push(k);
            }
        }
        let security_group_ids = args.list("securitygroupids");
        let security_group_names = args.list("securitygroupnames");
        if !security_group_ids.is_empty() && !security_group_names.is_empty() {
            return Err(ApiError::invalid_parameter(
                "securitygroupids parameter is mutually exclusive with securitygroupnames \
                 parameter",
            ));
        }
        let root_disk_size_gib = args.integer("rootdisksize");
        if let Some(size) = root_disk_size_gib {
            if size < 1 {
                return Err(ApiError::invalid_parameter(format!(
                    "The root disk size {size} GiB is not valid: give at least 1"
                )));
            }
        }
        let details = args
            .map("details")
            .into_iter()
            .flat_map(|entry| entry.into_iter())
            .collect();
        Ok(Self {
            zone_id: args.string("zoneid").unwrap_or_default(),
            service_offering_id: args.string("serviceofferingid").unwrap_or_default(),
            template_id: args.string("templateid").unwrap_or_default(),
            name,
            display_name: args.non_empty("displayname"),
            key_pairs,
            security_group_ids,
            security_group_names,
            user_data,
            start: args.boolean("startvm").unwrap_or(true),
            root_disk_size_gib,
            details,
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        })
    }
}

fn decode_user_data(b64: &str) -> Result<String, ApiError> {
    use base64::Engine;
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.as_bytes()))
        .map_err(|_| ApiError::invalid_parameter("User data is not a valid base64 string"))?;
    if bytes.len() > MAX_USER_DATA_BYTES {
        return Err(ApiError::invalid_parameter(format!(
            "User data is too long: {} bytes decoded, at most {MAX_USER_DATA_BYTES}",
            bytes.len()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid_parameter("User data does not decode to UTF-8 text"))
}

/// What an instance command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmAction {
    Start,
    /// `forced` skips the graceful power-down.
    Stop {
        forced: bool,
    },
    Reboot,
    /// `expunge` removes the instance at once instead of keeping it recoverable.
    Destroy {
        expunge: bool,
    },
    Expunge,
}

/// An asynchronous command on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRequest {
    pub id: String,
    pub action: VmAction,
}

/// A command naming one resource by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ById {
    pub id: String,
}

impl ById {
    pub fn decode(args: &Args) -> Self {
        Self {
            id: args.string("id").unwrap_or_default(),
        }
    }
}

/// `updateVirtualMachine`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateVirtualMachine {
    pub id: String,
    pub display_name: Option<String>,
    pub name: Option<String>,
    /// New user data, decoded.
    pub user_data: Option<String>,
    pub ha_enable: Option<bool>,
}

impl UpdateVirtualMachine {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let name = args.non_empty("name");
        if let Some(n) = &name {
            if !is_host_name(n) {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid name {n}: a name is 1 to 63 letters, digits and hyphens, starting \
                     with a letter"
                )));
            }
        }
        let user_data = match args.non_empty("userdata") {
            None => None,
            Some(b64) => Some(decode_user_data(&b64)?),
        };
        Ok(Self {
            id: args.string("id").unwrap_or_default(),
            display_name: args.string("displayname"),
            name,
            user_data,
            ha_enable: args.boolean("haenable"),
        })
    }
}

/// `changeServiceForVirtualMachine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeServiceOffering {
    pub id: String,
    pub service_offering_id: String,
}

impl ChangeServiceOffering {
    pub fn decode(args: &Args) -> Self {
        Self {
            id: args.string("id").unwrap_or_default(),
            service_offering_id: args.string("serviceofferingid").unwrap_or_default(),
        }
    }
}

/// `resetSSHKeyForVirtualMachine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSshKey {
    pub id: String,
    /// Key pair names: `keypair` and `keypairs` together.
    pub key_pairs: Vec<String>,
    /// The owner of the key pairs, for admins (with `domain_id`).
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl ResetSshKey {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let mut key_pairs: Vec<String> = args
            .string("keypair")
            .filter(|k| !k.is_empty())
            .into_iter()
            .collect();
        for k in args.list("keypairs") {
            if !key_pairs.contains(&k) {
                key_pairs.push(k);
            }
        }
        if key_pairs.is_empty() {
            return Err(ApiError::invalid_parameter(
                "Please specify either keypair or keypairs",
            ));
        }
        Ok(Self {
            id: args.string("id").unwrap_or_default(),
            key_pairs,
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        })
    }
}

/// `queryAsyncJobResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryJob {
    pub job_id: String,
}

impl QueryJob {
    pub fn decode(args: &Args) -> Self {
        Self {
            job_id: args.string("jobid").unwrap_or_default(),
        }
    }
}

/// `listAsyncJobs` and `listEvents`: scoped lists with a start date.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListLog {
    pub id: Option<String>,
    /// Only what happened at or after this time (ms since the epoch).
    pub start_ms: Option<i64>,
    /// Only what happened at or before this time (ms since the epoch).
    pub end_ms: Option<i64>,
    /// `type` for events (VM.CREATE, ...).
    pub kind: Option<String>,
    /// `level` for events (INFO, WARN, ERROR).
    pub level: Option<String>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

/// CloudStack's date parameters: `yyyy-MM-dd`, `yyyy-MM-dd HH:mm:ss` or a full timestamp.
pub fn parse_date(s: &str, end_of_day: bool) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = if end_of_day {
            d.and_hms_milli_opt(23, 59, 59, 999)
        } else {
            d.and_hms_opt(0, 0, 0)
        }?;
        return Some(t.and_utc().timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    crate::signature::parse_expires(s).map(|t| t.timestamp_millis())
}

impl ListLog {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let date = |name: &str, end: bool| -> Result<Option<i64>, ApiError> {
            match args.string(name).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => parse_date(&s, end)
                    .map(Some)
                    .ok_or_else(|| ApiError::invalid_value(args.command(), name, &s)),
            }
        };
        Ok(Self {
            id: args.string("id"),
            start_ms: date("startdate", false)?,
            end_ms: date("enddate", true)?,
            kind: args.non_empty("type"),
            level: args.non_empty("level"),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `listPublicIpAddresses`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPublicIps {
    pub id: Option<String>,
    pub zone_id: Option<String>,
    pub ip_address: Option<String>,
    pub network_id: Option<String>,
    pub vpc_id: Option<String>,
    pub is_static_nat: Option<bool>,
    pub is_source_nat: Option<bool>,
    /// False asks for free addresses of the ranges too.
    pub allocated_only: bool,
    pub keyword: Option<String>,
    pub tags: Vec<(String, String)>,
    pub scope: Scope,
    pub page: Page,
}

impl ListPublicIps {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            zone_id: args.string("zoneid"),
            ip_address: args.string("ipaddress"),
            network_id: args.string("associatednetworkid"),
            vpc_id: args.string("vpcid"),
            is_static_nat: args.boolean("isstaticnat"),
            is_source_nat: args.boolean("issourcenat"),
            allocated_only: args.boolean("allocatedonly").unwrap_or(true),
            keyword: args.keyword(),
            tags: tags(args),
            scope: Scope::decode(args)?,
            page: args.page()?,
        })
    }
}

/// `listPortForwardingRules` and `listIpForwardingRules`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListForwardingRules {
    pub id: Option<String>,
    pub ip_address_id: Option<String>,
    pub virtual_machine_id: Option<String>,
    pub scope: Scope,
    pub page: Page,
}

impl ListForwardingRules {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            ip_address_id: args.string("ipaddressid"),
            virtual_machine_id: args.string("virtualmachineid"),
            scope: Scope::decode(args)?,
            page: args.page()?,
        })
    }
}

/// `createServiceOffering`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateServiceOffering {
    pub name: String,
    pub display_text: String,
    pub cpus: i64,
    pub cpu_speed_mhz: i64,
    pub memory_mib: i64,
}

fn positive(args: &Args, name: &str, min: i64) -> Result<i64, ApiError> {
    let command = args.command();
    let n = args
        .integer(name)
        .ok_or_else(|| ApiError::missing_parameter(command, name))?;
    if n < min {
        return Err(ApiError::invalid_parameter(format!(
            "The value {n} of {name} is too small: give at least {min}"
        )));
    }
    Ok(n)
}

impl CreateServiceOffering {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let name = args.string("name").unwrap_or_default();
        Ok(Self {
            display_text: args
                .string("displaytext")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone()),
            name,
            cpus: positive(args, "cpunumber", 1)?,
            cpu_speed_mhz: args.integer("cpuspeed").unwrap_or(2000).max(1),
            memory_mib: positive(args, "memory", 32)?,
        })
    }
}

/// `updateServiceOffering`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateNamed {
    pub id: String,
    pub name: Option<String>,
    pub display_text: Option<String>,
}

impl UpdateNamed {
    pub fn decode(args: &Args) -> Self {
        Self {
            id: args.string("id").unwrap_or_default(),
            name: args.non_empty("name"),
            display_text: args.non_empty("displaytext"),
        }
    }
}

/// `createDiskOffering`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDiskOffering {
    pub name: String,
    pub display_text: String,
    /// 0 when customized.
    pub size_gib: i64,
    pub customized: bool,
}

impl CreateDiskOffering {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let name = args.string("name").unwrap_or_default();
        let customized = args.flag("customized");
        let size_gib = match (args.integer("disksize"), customized) {
            (_, true) => 0,
            (Some(n), false) if n >= 1 => n,
            (Some(n), false) => {
                return Err(ApiError::invalid_parameter(format!(
                    "The disk size {n} GiB is not valid: give at least 1, or customized=true"
                )))
            }
            (None, false) => {
                return Err(ApiError::invalid_parameter(
                    "Disk size is required for a non-customized disk offering",
                ))
            }
        };
        Ok(Self {
            display_text: args
                .string("displaytext")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone()),
            name,
            size_gib,
            customized,
        })
    }
}

/// `createDomain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDomain {
    pub name: String,
    /// The parent; the caller's own domain when absent.
    pub parent_domain_id: Option<String>,
}

impl CreateDomain {
    pub fn decode(args: &Args) -> Self {
        Self {
            name: args.string("name").unwrap_or_default(),
            parent_domain_id: args.string("parentdomainid"),
        }
    }
}

/// Names an account: by `id`, or by `account` name in `domainid`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain_id: Option<String>,
}

impl AccountRef {
    fn decode(args: &Args) -> Result<Self, ApiError> {
        let r = Self {
            id: args.string("id"),
            name: args.non_empty("account"),
            domain_id: args.string("domainid"),
        };
        if r.id.is_none() && (r.name.is_none() || r.domain_id.is_none()) {
            return Err(ApiError::invalid_parameter(
                "Either an account id, or an account name together with its domainid, is required",
            ));
        }
        Ok(r)
    }
}

/// What an account command does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Enable,
    /// `lock` keeps the account's resources running but refuses its users.
    Disable {
        lock: bool,
    },
    Delete,
}

/// `enableAccount`, `disableAccount`, `deleteAccount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAction {
    pub account: AccountRef,
    pub change: AccountChange,
}

impl AccountAction {
    pub fn decode(args: &Args, change: AccountChange) -> Result<Self, ApiError> {
        Ok(Self {
            account: AccountRef::decode(args)?,
            change,
        })
    }
}

/// `updateAccount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAccount {
    pub account: AccountRef,
    pub new_name: Option<String>,
}

impl UpdateAccount {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            account: AccountRef::decode(args)?,
            new_name: args.non_empty("newname"),
        })
    }
}

/// The parts of a new user, for `createAccount` and `createUser`.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

impl NewUser {
    fn decode(args: &Args) -> Self {
        let s = |n: &str| args.string(n).unwrap_or_default();
        Self {
            username: s("username"),
            password: s("password"),
            email: s("email"),
            first_name: s("firstname"),
            last_name: s("lastname"),
        }
    }
}

/// The role of a new account: CloudStack's `accounttype` 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    User,
    RootAdmin,
    DomainAdmin,
}

/// `createAccount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAccount {
    pub user: NewUser,
    /// The account's name; the user name when absent.
    pub name: String,
    pub kind: AccountKind,
    pub domain_id: Option<String>,
}

impl CreateAccount {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let user = NewUser::decode(args);
        let kind = match (
            args.integer("accounttype"),
            args.string("roletype").as_deref(),
        ) {
            (Some(0), _) | (None, None | Some("User")) => AccountKind::User,
            (Some(1), _) | (None, Some("Admin")) => AccountKind::RootAdmin,
            (Some(2), _) | (None, Some("DomainAdmin")) => AccountKind::DomainAdmin,
            (Some(n), _) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Account type {n} is not one of 0 (user), 1 (root admin) or 2 (domain admin)"
                )))
            }
            (None, Some(other)) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Role type {other} is not one of User, Admin or DomainAdmin"
                )))
            }
        };
        Ok(Self {
            name: args
                .string("account")
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| user.username.clone()),
            user,
            kind,
            domain_id: args.string("domainid"),
        })
    }
}

/// `createUser`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUser {
    pub user: NewUser,
    pub account: String,
    pub domain_id: Option<String>,
}

impl CreateUser {
    pub fn decode(args: &Args) -> Self {
        Self {
            user: NewUser::decode(args),
            account: args.string("account").unwrap_or_default(),
            domain_id: args.string("domainid"),
        }
    }
}

/// `updateUser`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct UpdateUser {
    pub id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

impl fmt::Debug for UpdateUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateUser")
            .field("id", &self.id)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl UpdateUser {
    pub fn decode(args: &Args) -> Self {
        let s = |n: &str| args.string(n).filter(|v| !v.is_empty());
        Self {
            id: args.string("id").unwrap_or_default(),
            username: s("username"),
            password: s("password"),
            email: s("email"),
            first_name: s("firstname"),
            last_name: s("lastname"),
        }
    }
}

/// `createSSHKeyPair`, `registerSSHKeyPair`, `deleteSSHKeyPair`: a key pair by name, for the
/// caller's account or (admins) the named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairRequest {
    pub name: String,
    /// The OpenSSH public key to register; `None` to have one made.
    pub public_key: Option<String>,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl KeyPairRequest {
    pub fn decode(args: &Args) -> Self {
        Self {
            name: args.string("name").unwrap_or_default(),
            public_key: args.non_empty("publickey"),
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        }
    }
}

/// `listSSHKeyPairs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListKeyPairs {
    pub name: Option<String>,
    pub fingerprint: Option<String>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListKeyPairs {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            name: args.non_empty("name"),
            fingerprint: args.non_empty("fingerprint"),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `createTags` and `deleteTags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRequest {
    pub resource_ids: Vec<String>,
    /// CloudStack's resource type name (`UserVm`, `Template`, ...).
    pub resource_type: String,
    /// (key, value); a delete with an empty value removes the key whatever its value.
    pub tags: Vec<(String, String)>,
}

impl TagRequest {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let r = Self {
            resource_ids: args.list("resourceids"),
            resource_type: args.string("resourcetype").unwrap_or_default(),
            tags: tags(args),
        };
        if r.resource_ids.is_empty() {
            return Err(ApiError::missing_parameter(args.command(), "resourceids"));
        }
        Ok(r)
    }
}

/// `listTags`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListTags {
    pub resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListTags {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let s = |n: &str| args.string(n).filter(|v| !v.is_empty());
        Ok(Self {
            resource_id: s("resourceid"),
            resource_type: s("resourcetype"),
            key: s("key"),
            value: s("value"),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `listNetworks`, `listVPCs` and `listNics`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListNetworks {
    pub id: Option<String>,
    pub zone_id: Option<String>,
    pub vpc_id: Option<String>,
    /// `listNics`: the instance whose NICs to list.
    pub virtual_machine_id: Option<String>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListNetworks {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id").or_else(|| args.string("nicid")),
            zone_id: args.string("zoneid"),
            vpc_id: args.string("vpcid"),
            virtual_machine_id: args.string("virtualmachineid"),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// The domain a login names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRef {
    /// A path: `/` or empty for ROOT, `/eng/` or `ROOT/eng` for a child.
    Path(String),
    Id(String),
}

impl fmt::Display for DomainRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => f.write_str(p),
            Self::Id(id) => f.write_str(id),
        }
    }
}

/// `login`.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub domain: DomainRef,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"***")
            .field("domain", &self.domain)
            .finish()
    }
}

impl Login {
    pub fn decode(args: &Args) -> Self {
        let domain = match (args.string("domainId"), args.string("domain")) {
            (Some(id), _) => DomainRef::Id(id),
            (None, Some(path)) => DomainRef::Path(path),
            (None, None) => DomainRef::Path("/".to_owned()),
        };
        Self {
            username: args.string("username").unwrap_or_default(),
            password: args.string("password").unwrap_or_default(),
            domain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use crate::registry::find;

    fn args(command: &str, query: &str) -> Args {
        let spec = find(command).expect("a served command");
        Args::parse(spec, &Params::decode(Some(query), None)).expect("valid arguments")
    }

    #[test]
    fn add_host_names_the_urls_host_and_needs_a_cluster() {
        let base = "zoneid=5f0c7a1e-0000-4000-8000-000000000001&podid=5f0c7a1e-0000-4000-8000-000000000002\
                    &username=u&password=pw&hypervisor=Simulator";
        for (url, host) in [
            ("http://sim/c0/h0", Some("sim")),
            ("http://root@10.1.1.1:8250/x", Some("10.1.1.1")),
            ("http://[::1]/", Some("::1")),
            ("kvm-2", Some("kvm-2")),
            ("http:///", None),
        ] {
            let q = format!("{base}&clustername=c&url={url}");
            let req = AddHost::decode(&args("addHost", &q)).expect("a valid request");
            assert_eq!(req.url_host(), host, "{url}");
            assert!(
                !format!("{req:?}").contains("pw"),
                "the password is not kept"
            );
        }
        let q = format!("{base}&url=http://sim/");
        assert!(AddHost::decode(&args("addHost", &q)).is_err());
    }

    #[test]
    fn template_filters() {
        for (s, f) in [
            ("featured", TemplateFilter::Featured),
            ("self", TemplateFilter::SelfOwned),
            ("selfexecutable", TemplateFilter::SelfExecutable),
            ("sharedexecutable", TemplateFilter::SharedExecutable),
            ("executable", TemplateFilter::Executable),
            ("community", TemplateFilter::Community),
            ("all", TemplateFilter::All),
        ] {
            assert_eq!(TemplateFilter::parse(s), Some(f));
        }
        assert_eq!(TemplateFilter::parse("Featured"), None);
        let err = ListTemplates::decode(&args("listTemplates", "templatefilter=mine")).err();
        assert_eq!(err.map(|e| e.code.number()), Some(431));
    }

    #[test]
    fn scopes() {
        let s = ListOwned::decode(&args(
            "listAccounts",
            "listall=true&domainid=0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d&isrecursive=true",
        ))
        .map(|l| l.scope)
        .ok();
        assert_eq!(
            s,
            Some(Scope {
                domain_id: Some("0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d".into()),
                account: None,
                is_recursive: true,
                list_all: true,
                project_id: None,
            })
        );
        let both =
            ListVirtualMachines::decode(&args("listVirtualMachines", "account=a&projectid=-1"));
        assert_eq!(
            both.err().map(|e| e.text),
            Some("Account and projectId can't be specified together".into())
        );
    }

    #[test]
    fn tag_filters() {
        let req = ListVirtualMachines::decode(&args(
            "listVirtualMachines",
            "tags[0].key=env&tags[0].value=prod&Tags[1].key=team&tags[2].value=orphan",
        ));
        assert_eq!(
            req.map(|r| r.tags).ok(),
            Some(vec![
                ("env".into(), "prod".into()),
                ("team".into(), String::new())
            ])
        );
    }

    #[test]
    fn deployments() {
        let zone = "0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d";
        let base = format!("zoneid={zone}&serviceofferingid={zone}&templateid={zone}");
        let d = DeployVirtualMachine::decode(&args(
            "deployVirtualMachine",
            &format!(
                "{base}&name=web-1&userdata=I2Nsb3VkLWNvbmZpZwo%3D&keypair=k1&keypairs=k1,k2\
                 &startvm=false&details[0].cpuNumber=2"
            ),
        ))
        .expect("a valid deployment");
        assert_eq!(d.user_data.as_deref(), Some("#cloud-config\n"));
        assert_eq!(d.key_pairs, ["k1", "k2"]);
        assert!(!d.start);
        assert_eq!(d.details.get("cpuNumber").map(String::as_str), Some("2"));
        assert!(
            !format!("{d:?}").contains("cloud-config"),
            "user data is not logged"
        );

        let d = DeployVirtualMachine::decode(&args("deployVirtualMachine", &base));
        assert!(
            d.map(|d| d.start).unwrap_or(false),
            "startvm defaults to true"
        );
        for bad in ["name=1web", "name=web_1", "name=web-", "userdata=%21%21%21"] {
            let e = DeployVirtualMachine::decode(&args(
                "deployVirtualMachine",
                &format!("{base}&{bad}"),
            ));
            assert_eq!(e.err().map(|e| e.code.number()), Some(431), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-02", false), Some(86_400_000));
        assert_eq!(parse_date("1970-01-01", true), Some(86_399_999));
        assert_eq!(parse_date("1970-01-01 00:00:01", false), Some(1000));
        assert_eq!(parse_date("1970-01-01T00:00:01+0000", false), Some(1000));
        assert_eq!(parse_date("yesterday", false), None);
    }

    #[test]
    fn logins() {
        let l = Login::decode(&args("login", "username=u&password=p"));
        assert_eq!(l.domain, DomainRef::Path("/".into()));
        assert!(!format!("{l:?}").contains("\"p\""));
        let l = Login::decode(&args("login", "username=u&password=p&domain=/eng"));
        assert_eq!(l.domain, DomainRef::Path("/eng".into()));
        let l = Login::decode(&args(
            "login",
            "username=u&password=p&domainid=0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d&domain=/x",
        ));
        assert_eq!(
            l.domain,
            DomainRef::Id("0d8a6c1e-1a4b-4b8e-9f3a-7d2f0b9c1e2d".into())
        );
    }
}
