//! The typed requests of the ISO commands: `registerIso` (download from a URL into secondary
//! storage), `listIsos`, `updateIso`, `deleteIso`, and `attachIso`/`detachIso`, which change
//! an instance's CD drive. ISOs answer in CloudStack's template shape under the `iso` key.

use crate::args::{Args, Page};
use crate::error::ApiError;
use crate::requests::TemplateFilter;

/// `registerIso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterIso {
    pub name: String,
    pub display_text: String,
    pub url: String,
    pub zone_id: String,
    pub os_type_id: Option<String>,
    /// True unless `bootable=false` (CloudStack's default).
    pub bootable: bool,
    /// CloudStack's checksum: `{ALGORITHM}hex` or bare hex.
    pub checksum: Option<String>,
    pub is_public: bool,
    pub is_featured: bool,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl RegisterIso {
    pub fn decode(args: &Args) -> Self {
        let name = args.string("name").unwrap_or_default();
        Self {
            display_text: args
                .string("displaytext")
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone()),
            name,
            url: args.string("url").unwrap_or_default(),
            zone_id: args.string("zoneid").unwrap_or_default(),
            os_type_id: args.non_empty("ostypeid"),
            bootable: args.boolean("bootable").unwrap_or(true),
            checksum: args.non_empty("checksum"),
            is_public: args.flag("ispublic"),
            is_featured: args.flag("isfeatured"),
            account: args.non_empty("account"),
            domain_id: args.non_empty("domainid"),
        }
    }
}

/// `listIsos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListIsos {
    /// `isofilter`; CloudStack lists `selfexecutable` when none is given.
    pub filter: TemplateFilter,
    pub id: Option<String>,
    pub name: Option<String>,
    pub zone_id: Option<String>,
    pub bootable: Option<bool>,
    pub is_public: Option<bool>,
    pub is_ready: Option<bool>,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListIsos {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let raw = args
            .string("isofilter")
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "selfexecutable".to_owned());
        let filter = TemplateFilter::parse(&raw).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "The ISO filter '{raw}' is not one of featured, self, selfexecutable, \
                 sharedexecutable, executable, community or all"
            ))
        })?;
        Ok(Self {
            filter,
            id: args.string("id"),
            name: args.string("name"),
            zone_id: args.string("zoneid"),
            bootable: args.boolean("bootable"),
            is_public: args.boolean("ispublic"),
            is_ready: args.boolean("isready"),
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}

/// `updateIso`: what to change; `None` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateIso {
    pub id: String,
    pub name: Option<String>,
    pub display_text: Option<String>,
    pub os_type_id: Option<String>,
    pub bootable: Option<bool>,
}

impl UpdateIso {
    pub fn decode(args: &Args) -> Self {
        Self {
            id: args.string("id").unwrap_or_default(),
            name: args.non_empty("name"),
            display_text: args.non_empty("displaytext"),
            os_type_id: args.non_empty("ostypeid"),
            bootable: args.boolean("bootable"),
        }
    }
}

/// `attachIso` (with the ISO's `id`) or `detachIso` (without).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDrive {
    pub virtual_machine_id: String,
    /// The ISO to insert; `None` ejects.
    pub iso_id: Option<String>,
}

impl IsoDrive {
    pub fn decode(args: &Args, attach: bool) -> Self {
        Self {
            virtual_machine_id: args.string("virtualmachineid").unwrap_or_default(),
            iso_id: attach.then(|| args.string("id").unwrap_or_default()),
        }
    }
}
