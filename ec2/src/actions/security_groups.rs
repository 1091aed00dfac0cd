//! Security groups: Create/Describe/DeleteSecurityGroup, Authorize/Revoke Ingress and Egress,
//! DescribeSecurityGroupRules. An `IpPermissions.N` entry is split into one rule per peer (each
//! CIDR, IPv6 CIDR or group), the way EC2 numbers rules; protocol -1 ignores ports.

use std::borrow::Cow;

use super::common::{tags_for, take_tag_specs, write_tags};
use super::{answer, Request};
use crate::error::{Code, Ec2Error};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::{Permission, PermissionPeer, SecurityGroup, SecurityGroupRule, Tag};
use crate::xml;
use crate::{Caller, Ec2Port, GroupSelector};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSecurityGroup {
    pub name: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for CreateSecurityGroup {
    const NAME: &'static str = "CreateSecurityGroup";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let name = p.take_required("GroupName")?;
        let description = p.take_required("GroupDescription")?;
        if name.is_empty() || name.len() > 255 || name.starts_with("sg-") {
            return Err(Ec2Error::invalid_value(format!(
                "The group name '{name}' must be 1 to 255 characters and not start with 'sg-'."
            )));
        }
        if description.len() > 255 {
            return Err(Ec2Error::invalid_value(
                "The group description is longer than 255 characters.",
            ));
        }
        let specs = take_tag_specs(p, &["security-group"])?;
        Ok(Self {
            name,
            description,
            vpc_id: p.take("VpcId"),
            tags: tags_for(&specs, "security-group"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_create<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateSecurityGroup,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let g = port
        .create_security_group(
            caller,
            &req.name,
            &req.description,
            req.vpc_id.as_deref(),
            &req.tags,
            req.dry_run,
        )
        .await?;
    Ok(answer(CreateSecurityGroup::NAME, request_id, |w| {
        w.bool_element("return", true);
        w.text_element("groupId", &g.group_id);
        w.text_element(
            "securityGroupArn",
            &format!("arn:aws:ec2::{}:security-group/{}", g.owner_id, g.group_id),
        );
        write_tags(w, &g.tags);
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSecurityGroups {
    pub ids: Vec<String>,
    pub names: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const GROUP_FILTERS: FilterNames = FilterNames {
    names: &[
        "description",
        "group-id",
        "group-name",
        "owner-id",
        "vpc-id",
    ],
    tags: true,
};

impl Request for DescribeSecurityGroups {
    const NAME: &'static str = "DescribeSecurityGroups";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        GROUP_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("GroupId")?,
            names: p.take_list("GroupName")?,
            filters,
            page: PageRequest {
                max_results: p.take_int("MaxResults", 5, 1000)?.map(|n| n as usize),
                next_token: p.take("NextToken"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn group_values<'a>(g: &'a SecurityGroup, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&g.tags, name) {
        return t;
    }
    vec![Cow::Borrowed(match name {
        "description" => g.description.as_str(),
        "group-id" => g.group_id.as_str(),
        "group-name" => g.group_name.as_str(),
        "owner-id" => g.owner_id.as_str(),
        "vpc-id" => g.vpc_id.as_str(),
        _ => return vec![],
    })]
}

fn group_not_found(what: &str) -> Ec2Error {
    Ec2Error::new(
        Code::NotFound(crate::error::Resource::SecurityGroup),
        format!("The security group '{what}' does not exist"),
    )
}

/// Writes rules grouped into EC2's IpPermission items (same protocol and ports).
fn write_permissions(w: &mut xml::Writer, name: &str, rules: &[&SecurityGroupRule]) {
    let mut keys: Vec<(String, Option<i64>, Option<i64>)> = Vec::new();
    for r in rules {
        let k = (
            r.permission.protocol.clone(),
            r.permission.from_port,
            r.permission.to_port,
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    w.list(name, &keys, |w, (protocol, from, to)| {
        let mine: Vec<&&SecurityGroupRule> = rules
            .iter()
            .filter(|r| {
                &r.permission.protocol == protocol
                    && r.permission.from_port == *from
                    && r.permission.to_port == *to
            })
            .collect();
        w.text_element("ipProtocol", protocol);
        if let Some(f) = from {
            w.int_element("fromPort", *f);
        }
        if let Some(t) = to {
            w.int_element("toPort", *t);
        }
        let groups: Vec<&&&SecurityGroupRule> = mine
            .iter()
            .filter(|r| matches!(r.permission.peer, PermissionPeer::Group { .. }))
            .collect();
        w.list("groups", &groups, |w, r| {
            if let PermissionPeer::Group { group_id, owner_id } = &r.permission.peer {
                w.opt_text("description", r.permission.description.as_deref());
                w.text_element("groupId", group_id);
                w.text_element("userId", owner_id);
            }
        });
        let v4: Vec<&&&SecurityGroupRule> = mine
            .iter()
            .filter(|r| matches!(r.permission.peer, PermissionPeer::Ipv4(_)))
            .collect();
        w.list("ipRanges", &v4, |w, r| {
            if let PermissionPeer::Ipv4(c) = &r.permission.peer {
                w.text_element("cidrIp", c);
                w.opt_text("description", r.permission.description.as_deref());
            }
        });
        let v6: Vec<&&&SecurityGroupRule> = mine
            .iter()
            .filter(|r| matches!(r.permission.peer, PermissionPeer::Ipv6(_)))
            .collect();
        w.list("ipv6Ranges", &v6, |w, r| {
            if let PermissionPeer::Ipv6(c) = &r.permission.peer {
                w.text_element("cidrIpv6", c);
                w.opt_text("description", r.permission.description.as_deref());
            }
        });
        w.empty("prefixListIds");
    });
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeSecurityGroups,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.security_groups(caller).await?;
    for id in &req.ids {
        if !all.iter().any(|g| &g.group_id == id) {
            return Err(group_not_found(id));
        }
    }
    for name in &req.names {
        if !all.iter().any(|g| &g.group_name == name) {
            return Err(group_not_found(name));
        }
    }
    let chosen: Vec<SecurityGroup> = all
        .into_iter()
        .filter(|g| req.ids.is_empty() || req.ids.contains(&g.group_id))
        .filter(|g| req.names.is_empty() || req.names.contains(&g.group_name))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, group_values);
    let (page, next) = req.page.cut(DescribeSecurityGroups::NAME, chosen)?;
    Ok(answer(DescribeSecurityGroups::NAME, request_id, |w| {
        w.list("securityGroupInfo", &page, |w, g| {
            w.text_element("ownerId", &g.owner_id);
            w.text_element("groupId", &g.group_id);
            w.text_element("groupName", &g.group_name);
            w.text_element("groupDescription", &g.description);
            w.text_element("vpcId", &g.vpc_id);
            let ingress: Vec<&SecurityGroupRule> = g.rules.iter().filter(|r| !r.egress).collect();
            let egress: Vec<&SecurityGroupRule> = g.rules.iter().filter(|r| r.egress).collect();
            write_permissions(w, "ipPermissions", &ingress);
            write_permissions(w, "ipPermissionsEgress", &egress);
            write_tags(w, &g.tags);
            w.text_element(
                "securityGroupArn",
                &format!("arn:aws:ec2::{}:security-group/{}", g.owner_id, g.group_id),
            );
        });
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSecurityGroup {
    pub id: Option<String>,
    pub name: Option<String>,
    pub dry_run: bool,
}

impl Request for DeleteSecurityGroup {
    const NAME: &'static str = "DeleteSecurityGroup";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let id = p.take("GroupId");
        let name = p.take("GroupName");
        if id.is_none() && name.is_none() {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter GroupId or GroupName.",
            ));
        }
        Ok(Self {
            id,
            name,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_delete<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DeleteSecurityGroup,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let id = port
        .delete_security_group(caller, req.id.as_deref(), req.name.as_deref(), req.dry_run)
        .await?;
    Ok(answer(DeleteSecurityGroup::NAME, request_id, |w| {
        w.bool_element("return", true);
        w.text_element("groupId", &id);
    }))
}

/// Authorize or Revoke, Ingress or Egress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRules {
    pub group: GroupSelector,
    pub permissions: Vec<Permission>,
    pub rule_ids: Vec<String>,
    pub dry_run: bool,
}

fn normalize_protocol(p: &str) -> Result<String, Ec2Error> {
    let lower = p.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "-1" | "all" => "-1".into(),
        "tcp" | "6" => "tcp".into(),
        "udp" | "17" => "udp".into(),
        "icmp" | "1" => "icmp".into(),
        "icmpv6" | "58" => "icmpv6".into(),
        n if n.parse::<u8>().is_ok() => n.into(),
        _ => {
            return Err(Ec2Error::invalid_value(format!(
                "Invalid value '{p}' for IP protocol. Unknown protocol."
            )))
        }
    })
}

fn take_port(m: &mut Params, name: &str) -> Result<Option<i64>, Ec2Error> {
    m.take_int(name, -1, 65535)
}

fn permissions_of(m: &mut Params) -> Result<Vec<Permission>, Ec2Error> {
    let protocol = normalize_protocol(&m.take_required("IpProtocol")?)?;
    let (mut from, mut to) = (take_port(m, "FromPort")?, take_port(m, "ToPort")?);
    if protocol == "-1" {
        (from, to) = (None, None);
    } else if protocol == "tcp" || protocol == "udp" {
        match (from, to) {
            (Some(f), Some(t)) if f <= t && f >= 0 => {}
            (Some(f), Some(t)) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Invalid port range {f}-{t}: the first port must be 0 to 65535 and not above \
                     the last."
                )))
            }
            _ => {
                return Err(Ec2Error::new(
                    Code::MissingParameter,
                    format!("The protocol {protocol} needs FromPort and ToPort."),
                ))
            }
        }
    }
    let base = |peer, description| Permission {
        protocol: protocol.clone(),
        from_port: from,
        to_port: to,
        peer,
        description,
    };
    let mut out = Vec::new();
    for r in m.take_structs("IpRanges")? {
        let mut r = Params::from_map(r);
        let cidr = r.take_required("CidrIp")?;
        check_cidr(&cidr, false)?;
        out.push(base(PermissionPeer::Ipv4(cidr), r.take("Description")));
        r.finish(&["CidrIp", "Description"])?;
    }
    for r in m.take_structs("Ipv6Ranges")? {
        let mut r = Params::from_map(r);
        let cidr = r.take_required("CidrIpv6")?;
        check_cidr(&cidr, true)?;
        out.push(base(PermissionPeer::Ipv6(cidr), r.take("Description")));
        r.finish(&["CidrIpv6", "Description"])?;
    }
    for g in m.take_structs("Groups")? {
        let mut g = Params::from_map(g);
        let group_id = g
            .take("GroupId")
            .or_else(|| g.take("GroupName"))
            .ok_or_else(|| {
                Ec2Error::new(
                    Code::MissingParameter,
                    "A group reference needs GroupId (or GroupName).",
                )
            })?;
        let owner_id = g.take("UserId").unwrap_or_default();
        g.take("VpcId");
        g.take("PeeringStatus");
        out.push(base(
            PermissionPeer::Group { group_id, owner_id },
            g.take("Description"),
        ));
        g.finish(&["GroupId", "GroupName", "UserId", "Description"])?;
    }
    if !m.take_structs("PrefixListIds")?.is_empty() {
        return Err(Ec2Error::new(
            Code::UnsupportedOperation,
            "Prefix lists are not supported in security group rules.",
        ));
    }
    std::mem::take(m).finish(&[
        "IpProtocol",
        "FromPort",
        "ToPort",
        "IpRanges",
        "Ipv6Ranges",
        "Groups",
    ])?;
    if out.is_empty() {
        return Err(Ec2Error::new(
            Code::MissingParameter,
            "A permission needs at least one of IpRanges, Ipv6Ranges or Groups.",
        ));
    }
    Ok(out)
}

fn check_cidr(cidr: &str, v6: bool) -> Result<(), Ec2Error> {
    let ok = cidr.split_once('/').is_some_and(|(a, p)| {
        let prefix = p.parse::<u8>().ok();
        if v6 {
            a.parse::<std::net::Ipv6Addr>().is_ok() && prefix.is_some_and(|p| p <= 128)
        } else {
            a.parse::<std::net::Ipv4Addr>().is_ok() && prefix.is_some_and(|p| p <= 32)
        }
    });
    if ok {
        Ok(())
    } else {
        Err(Ec2Error::invalid_value(format!(
            "Value ({cidr}) for parameter cidrIp{} is invalid. This is not a valid CIDR block.",
            if v6 { "v6" } else { "" }
        )))
    }
}

fn parse_change(p: &mut Params, ingress: bool) -> Result<ChangeRules, Ec2Error> {
    let group = match (p.take("GroupId"), p.take("GroupName")) {
        (Some(id), _) => GroupSelector::Id(id),
        (None, Some(name)) if ingress => GroupSelector::Name(name),
        _ => {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter GroupId.",
            ))
        }
    };
    let mut permissions = Vec::new();
    for m in p.take_structs("IpPermissions")? {
        permissions.extend(permissions_of(&mut Params::from_map(m))?);
    }
    // The older flat form: IpProtocol, FromPort, ToPort, CidrIp at the top level.
    if let Some(protocol) = p.take("IpProtocol") {
        let mut m = std::collections::BTreeMap::from([("IpProtocol".to_owned(), protocol)]);
        for (from, to) in [
            ("FromPort", "FromPort"),
            ("ToPort", "ToPort"),
            ("CidrIp", "IpRanges.1.CidrIp"),
            ("SourceSecurityGroupName", "Groups.1.GroupName"),
        ] {
            if let Some(v) = p.take(from) {
                m.insert(to.to_owned(), v);
            }
        }
        p.take("SourceSecurityGroupOwnerId");
        permissions.extend(permissions_of(&mut Params::from_map(m))?);
    }
    let rule_ids = p.take_list("SecurityGroupRuleId")?;
    // LIMITATION: tags given for the new rules are not recorded.
    take_tag_specs(p, &["security-group-rule"])?;
    if permissions.is_empty() && rule_ids.is_empty() {
        return Err(Ec2Error::new(
            Code::MissingParameter,
            "The request must contain the parameter IpPermissions (or SecurityGroupRuleId).",
        ));
    }
    Ok(ChangeRules {
        group,
        permissions,
        rule_ids,
        dry_run: p.take_dry_run()?,
    })
}

macro_rules! rule_action {
    ($ty:ident, $name:literal, $ingress:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub ChangeRules);

        impl Request for $ty {
            const NAME: &'static str = $name;
            const MUTATING: bool = true;

            fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
                Ok(Self(parse_change(p, $ingress)?))
            }

            fn dry_run(&self) -> bool {
                self.0.dry_run
            }
        }
    };
}

rule_action!(
    AuthorizeSecurityGroupIngress,
    "AuthorizeSecurityGroupIngress",
    true
);
rule_action!(
    AuthorizeSecurityGroupEgress,
    "AuthorizeSecurityGroupEgress",
    false
);
rule_action!(
    RevokeSecurityGroupIngress,
    "RevokeSecurityGroupIngress",
    true
);
rule_action!(
    RevokeSecurityGroupEgress,
    "RevokeSecurityGroupEgress",
    false
);

fn write_rule(w: &mut xml::Writer, r: &SecurityGroupRule) {
    w.text_element("securityGroupRuleId", &r.rule_id);
    w.text_element("groupId", &r.group_id);
    w.text_element("groupOwnerId", &r.owner_id);
    w.bool_element("isEgress", r.egress);
    w.text_element("ipProtocol", &r.permission.protocol);
    w.int_element("fromPort", r.permission.from_port.unwrap_or(-1));
    w.int_element("toPort", r.permission.to_port.unwrap_or(-1));
    match &r.permission.peer {
        PermissionPeer::Ipv4(c) => w.text_element("cidrIpv4", c),
        PermissionPeer::Ipv6(c) => w.text_element("cidrIpv6", c),
        PermissionPeer::Group { group_id, owner_id } => {
            w.open("referencedGroupInfo");
            w.text_element("groupId", group_id);
            w.text_element("userId", owner_id);
            w.close("referencedGroupInfo");
        }
    }
    w.opt_text("description", r.permission.description.as_deref());
    write_tags(w, &r.tags);
    w.text_element(
        "securityGroupRuleArn",
        &format!(
            "arn:aws:ec2::{}:security-group-rule/{}",
            r.owner_id, r.rule_id
        ),
    );
}

pub async fn serve_change<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    egress: bool,
    add: bool,
    req: ChangeRules,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let rules = port
        .change_rules(
            caller,
            req.group,
            egress,
            add,
            &req.permissions,
            &req.rule_ids,
            req.dry_run,
        )
        .await?;
    Ok(answer(action, request_id, |w| {
        w.bool_element("return", true);
        if add {
            w.list("securityGroupRuleSet", &rules, write_rule);
        }
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSecurityGroupRules {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const RULE_FILTERS: FilterNames = FilterNames {
    names: &["group-id", "security-group-rule-id"],
    tags: true,
};

impl Request for DescribeSecurityGroupRules {
    const NAME: &'static str = "DescribeSecurityGroupRules";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        RULE_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("SecurityGroupRuleId")?,
            filters,
            page: PageRequest {
                max_results: p.take_int("MaxResults", 5, 1000)?.map(|n| n as usize),
                next_token: p.take("NextToken"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_describe_rules<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeSecurityGroupRules,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let rules: Vec<SecurityGroupRule> = port
        .security_groups(caller)
        .await?
        .into_iter()
        .flat_map(|g| g.rules)
        .filter(|r| req.ids.is_empty() || req.ids.contains(&r.rule_id))
        .collect();
    let rules = filter::apply(&req.filters, rules, |r: &SecurityGroupRule, name| {
        if let Some(t) = filter::tag_values(&r.tags, name) {
            return t;
        }
        match name {
            "group-id" => vec![Cow::Borrowed(r.group_id.as_str())],
            "security-group-rule-id" => vec![Cow::Borrowed(r.rule_id.as_str())],
            _ => vec![],
        }
    });
    let (page, next) = req.page.cut(DescribeSecurityGroupRules::NAME, rules)?;
    Ok(answer(DescribeSecurityGroupRules::NAME, request_id, |w| {
        w.list("securityGroupRuleSet", &page, write_rule);
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn terraform_default_egress_revoke_parses() {
        let p = Params::from_pairs(&[
            ("GroupId", "sg-1"),
            ("IpPermissions.1.IpProtocol", "-1"),
            ("IpPermissions.1.FromPort", "0"),
            ("IpPermissions.1.ToPort", "0"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
        ]);
        let RevokeSecurityGroupEgress(c) = decode(p).unwrap();
        assert_eq!(
            c.permissions,
            [Permission {
                protocol: "-1".into(),
                from_port: None,
                to_port: None,
                peer: PermissionPeer::Ipv4("0.0.0.0/0".into()),
                description: None,
            }]
        );
    }

    #[test]
    fn one_rule_per_peer() {
        let p = Params::from_pairs(&[
            ("GroupId", "sg-1"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "22"),
            ("IpPermissions.1.ToPort", "22"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"),
            ("IpPermissions.1.IpRanges.1.Description", "ssh"),
            ("IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "::/0"),
            ("IpPermissions.1.Groups.1.GroupId", "sg-2"),
        ]);
        let AuthorizeSecurityGroupIngress(c) = decode(p).unwrap();
        assert_eq!(c.permissions.len(), 3);
        assert_eq!(c.permissions[0].description.as_deref(), Some("ssh"));
        let bad = Params::from_pairs(&[
            ("GroupId", "sg-1"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"),
        ]);
        assert_eq!(
            decode::<AuthorizeSecurityGroupIngress>(bad)
                .unwrap_err()
                .code,
            Code::MissingParameter
        );
    }
}
