//! The typed requests of the template commands that change templates: `registerTemplate`
//! (download from a URL into secondary storage), `createTemplate` (from a snapshot or a stopped
//! virtual machine's volume), `updateTemplate`, `deleteTemplate`, and the template's
//! permissions (`updateTemplatePermissions`, `listTemplatePermissions`). `listTemplates` is
//! with the other listings in [`crate::requests`].

use crate::args::Args;
use crate::error::ApiError;

/// The formats `registerTemplate` takes (CloudStack's names, upper case).
pub const FORMATS: &[&str] = &["QCOW2", "RAW", "VHD", "VMDK"];

/// `registerTemplate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterTemplate {
    pub name: String,
    pub display_text: String,
    pub url: String,
    pub zone_id: String,
    /// One of [`FORMATS`], upper case.
    pub format: String,
    pub hypervisor: String,
    pub os_type_id: Option<String>,
    /// CloudStack's checksum: `{ALGORITHM}hex` or bare hex.
    pub checksum: Option<String>,
    pub is_public: bool,
    pub is_featured: bool,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl RegisterTemplate {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let s = |name: &str| args.string(name).unwrap_or_default();
        let format = s("format").to_ascii_uppercase();
        if !FORMATS.contains(&format.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "The format '{}' is not supported; use QCOW2, RAW, VHD or VMDK",
                s("format")
            )));
        }
        let name = s("name");
        Ok(Self {
            display_text: args
                .string("displaytext")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone()),
            name,
            url: s("url"),
            zone_id: s("zoneid"),
            format,
            hypervisor: s("hypervisor"),
            os_type_id: args.non_empty("ostypeid"),
            checksum: args.non_empty("checksum"),
            is_public: args.flag("ispublic"),
            is_featured: args.flag("isfeatured"),
            account: args.non_empty("account"),
            domain_id: args.non_empty("domainid"),
        })
    }
}

/// `updateTemplate`: what to change; `None` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateTemplate {
    pub id: String,
    pub name: Option<String>,
    pub display_text: Option<String>,
}

impl UpdateTemplate {
    pub fn decode(args: &Args) -> Self {
        Self {
            id: args.string("id").unwrap_or_default(),
            name: args.non_empty("name"),
            display_text: args.non_empty("displaytext"),
        }
    }
}

/// Where `createTemplate` takes the template's disk from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Snapshot(String),
    Volume(String),
}

/// `createTemplate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTemplate {
    pub name: String,
    pub display_text: String,
    pub os_type_id: String,
    pub source: TemplateSource,
    pub is_public: bool,
    pub is_featured: bool,
}

impl CreateTemplate {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let s = |name: &str| args.string(name).filter(|v| !v.is_empty());
        let source = match (s("snapshotid"), s("volumeid")) {
            (Some(snapshot), None) => TemplateSource::Snapshot(snapshot),
            (None, Some(volume)) => TemplateSource::Volume(volume),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_parameter(
                    "Specify either a volume id or a snapshot id, not both",
                ))
            }
            (None, None) if s("virtualmachineid").is_some() => {
                // CloudStack reads virtualmachineid alone as a bare-metal template.
                return Err(ApiError::invalid_parameter(
                    "A template from virtualmachineid alone is a bare-metal template, which \
                     this cloud has no hosts for; give the stopped machine's root volume as \
                     volumeid",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_parameter(
                    "Either a volume id or a snapshot id is needed to create a template",
                ))
            }
        };
        let name = s("name").unwrap_or_default();
        Ok(Self {
            display_text: s("displaytext").unwrap_or_else(|| name.clone()),
            name,
            os_type_id: s("ostypeid").unwrap_or_default(),
            source,
            is_public: args.flag("ispublic"),
            is_featured: args.flag("isfeatured"),
        })
    }
}

/// What `updateTemplatePermissions` does to the named accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionOp {
    Add,
    Remove,
    /// Removes every account (and makes the template private).
    Reset,
}

/// `updateTemplatePermissions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateTemplatePermissions {
    pub id: String,
    /// Account names, in the owner's domain.
    pub accounts: Vec<String>,
    pub op: Option<PermissionOp>,
    pub is_public: Option<bool>,
    pub is_featured: Option<bool>,
}

impl UpdateTemplatePermissions {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let op = match args.non_empty("op").as_deref() {
            None => None,
            Some(o) if o.eq_ignore_ascii_case("add") => Some(PermissionOp::Add),
            Some(o) if o.eq_ignore_ascii_case("remove") => Some(PermissionOp::Remove),
            Some(o) if o.eq_ignore_ascii_case("reset") => Some(PermissionOp::Reset),
            Some(o) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid operation '{o}': op must be add, remove or reset"
                )))
            }
        };
        let accounts = args.list("accounts");
        if !accounts.is_empty() && op.is_none() {
            return Err(ApiError::invalid_parameter(
                "The accounts need an operation: op=add, remove or reset",
            ));
        }
        if !args.list("projectids").is_empty() {
            return Err(ApiError::invalid_parameter(
                "Projects do not exist in this cloud; share templates with accounts",
            ));
        }
        Ok(Self {
            id: args.string("id").unwrap_or_default(),
            accounts,
            op,
            is_public: args.boolean("ispublic"),
            is_featured: args.boolean("isfeatured"),
        })
    }
}
