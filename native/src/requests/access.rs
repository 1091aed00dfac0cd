//! The typed requests of public addresses (acquire, release, static NAT) and security groups
//! (create, list, delete, authorize and revoke rules).

use crate::args::{Args, Page};
use crate::error::ApiError;

use super::{tags, Scope};

/// `associateIpAddress`: acquire a public address, for a network, a VPC or a zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcquireIp {
    pub zone_id: Option<String>,
    pub network_id: Option<String>,
    pub vpc_id: Option<String>,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl AcquireIp {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        if args.string("projectid").is_some() {
            return Err(ApiError::invalid_parameter(
                "There are no projects here: acquire the address for an account",
            ));
        }
        if args.flag("isportable") {
            // LIMITATION: every address belongs to one zone's range.
            return Err(ApiError::invalid_parameter(
                "Portable IP addresses are not served: acquire one from a zone",
            ));
        }
        if args.string("ipaddress").is_some() {
            return Err(ApiError::invalid_parameter(
                "Acquiring a chosen address is not served: the zone picks the next free one",
            ));
        }
        Ok(Self {
            zone_id: args.string("zoneid"),
            network_id: args.string("networkid"),
            vpc_id: args.string("vpcid"),
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        })
    }
}

/// A command on one public address, by `id` or by `ipaddressid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRequest {
    pub ip_id: String,
}

impl IpRequest {
    pub fn decode(args: &Args) -> Self {
        Self {
            ip_id: args
                .string("ipaddressid")
                .or_else(|| args.string("id"))
                .unwrap_or_default(),
        }
    }
}

/// `enableStaticNat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnableStaticNat {
    pub ip_id: String,
    pub vm_id: String,
    pub network_id: Option<String>,
    pub vm_guest_ip: Option<String>,
}

impl EnableStaticNat {
    pub fn decode(args: &Args) -> Self {
        Self {
            ip_id: args.string("ipaddressid").unwrap_or_default(),
            vm_id: args.string("virtualmachineid").unwrap_or_default(),
            network_id: args.string("networkid"),
            vm_guest_ip: args.string("vmguestip"),
        }
    }
}

/// `createSecurityGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSecurityGroup {
    pub name: String,
    pub description: Option<String>,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl CreateSecurityGroup {
    pub fn decode(args: &Args) -> Self {
        Self {
            name: args.string("name").unwrap_or_default(),
            description: args.string("description"),
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        }
    }
}

/// `listSecurityGroups`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSecurityGroups {
    pub id: Option<String>,
    pub name: Option<String>,
    pub virtual_machine_id: Option<String>,
    pub keyword: Option<String>,
    pub tags: Vec<(String, String)>,
    pub scope: Scope,
    pub page: Page,
}

impl ListSecurityGroups {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("securitygroupname"),
            virtual_machine_id: args.string("virtualmachineid"),
            keyword: args.keyword(),
            tags: tags(args),
            scope: Scope::decode(args)?,
            page: args.page()?,
        })
    }
}

/// `deleteSecurityGroup`: by `id`, or by `name` in the caller's (or the named) account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteSecurityGroup {
    pub id: Option<String>,
    pub name: Option<String>,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl DeleteSecurityGroup {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let req = Self {
            id: args.string("id"),
            name: args.string("name"),
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        };
        if req.id.is_none() && req.name.is_none() {
            return Err(ApiError::invalid_parameter(
                "Either id or name parameter is required by deleteSecurityGroup",
            ));
        }
        Ok(req)
    }
}

/// A group another rule admits the members of (`usersecuritygrouplist[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPeer {
    pub account: Option<String>,
    pub group: String,
}

/// `authorizeSecurityGroupIngress` / `authorizeSecurityGroupEgress`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeRules {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub protocol: String,
    pub start_port: Option<i64>,
    pub end_port: Option<i64>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
    pub cidrs: Vec<String>,
    pub peers: Vec<GroupPeer>,
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl AuthorizeRules {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let req = Self {
            group_id: args.string("securitygroupid"),
            group_name: args.string("securitygroupname"),
            protocol: args
                .string("protocol")
                .unwrap_or_else(|| "tcp".to_owned())
                .to_ascii_lowercase(),
            start_port: args.integer("startport"),
            end_port: args.integer("endport"),
            icmp_type: args.integer("icmptype"),
            icmp_code: args.integer("icmpcode"),
            cidrs: args.list("cidrlist"),
            peers: args
                .map("usersecuritygrouplist")
                .into_iter()
                .filter_map(|m| {
                    Some(GroupPeer {
                        group: m.get("group")?.clone(),
                        account: m.get("account").cloned(),
                    })
                })
                .collect(),
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        };
        match (&req.group_id, &req.group_name) {
            (None, None) => Err(ApiError::invalid_parameter(
                "Either securitygroupid or securitygroupname is required",
            )),
            (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
                "securitygroupid and securitygroupname are mutually exclusive",
            )),
            _ => Ok(req),
        }
    }
}

/// `listNetworkOfferings` and `listVPCOfferings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOfferings {
    pub id: Option<String>,
    pub name: Option<String>,
    pub for_vpc: Option<bool>,
    pub guest_ip_type: Option<String>,
    pub traffic_type: Option<String>,
    pub state: Option<String>,
    pub is_default: Option<bool>,
    pub zone_id: Option<String>,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListOfferings {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("name"),
            for_vpc: args.boolean("forvpc"),
            guest_ip_type: args.string("guestiptype"),
            traffic_type: args.string("traffictype"),
            state: args.string("state"),
            is_default: args.boolean("isdefault"),
            zone_id: args.string("zoneid"),
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}
