//! The typed requests of the template commands that change templates: `registerTemplate`
//! (download from a URL into secondary storage), `updateTemplate` and `deleteTemplate`.
//! `listTemplates` is with the other listings in [`crate::requests`].

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
            os_type_id: args.string("ostypeid").filter(|o| !o.is_empty()),
            checksum: args.string("checksum").filter(|c| !c.is_empty()),
            is_public: args.flag("ispublic"),
            is_featured: args.flag("isfeatured"),
            account: args.string("account").filter(|a| !a.is_empty()),
            domain_id: args.string("domainid").filter(|d| !d.is_empty()),
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
            name: args.string("name").filter(|n| !n.is_empty()),
            display_text: args.string("displaytext").filter(|d| !d.is_empty()),
        }
    }
}
