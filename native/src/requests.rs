//! The typed requests the door hands the port, each decoded from a command's checked
//! [`Args`] before any logic runs. They use the core's ideas (ids, filters, a page), not wire
//! spellings; scope parameters (`listall`, `domainid`, `isrecursive`, `account`, `projectid`)
//! travel as a [`Scope`] that the port interprets with CloudStack's rules.

use std::fmt;

use crate::args::{Args, Page};
use crate::error::ApiError;

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
    fn decode(args: &Args) -> Result<Self, ApiError> {
        let scope = Self {
            domain_id: args.string("domainid"),
            account: args.string("account").filter(|a| !a.is_empty()),
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
