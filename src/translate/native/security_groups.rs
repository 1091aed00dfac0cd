//! Security groups on the native door, over the same core groups the EC2 door shows: every
//! account's groups live in its default VPC (its `default` group is CloudStack's default
//! security group). createSecurityGroup, listSecurityGroups, deleteSecurityGroup, and the
//! asynchronous authorize and revoke commands, which change the group before they answer and
//! record a job that has already ended.
//!
//! A new group allows all outbound traffic, which the EC2 door shows as an egress rule; the
//! native door shows that rule too (CloudStack's own new groups show no egress rule and allow
//! everything out, so clients see the same traffic allowed).

use std::collections::HashMap;

use cirrus_native::requests::{
    AuthorizeRules, ById, CreateSecurityGroup, DeleteSecurityGroup, ListSecurityGroups,
};
use cirrus_native::types as wire;
use cirrus_native::{keyword_matches, Caller, JobCommand, Listing, PortError};

use super::{caller_tree, has_any_tag, port_error, tag_views, unknown, Directory, Translator};
use crate::model::api_job::NewApiJob;
use crate::model::group_members;
use crate::model::network::{self, Cidr};
use crate::model::security_group::{
    self as sg, Direction, GroupError, Peer, RuleRow, RuleSpec, SecurityGroup, ALL_PROTOCOLS,
};
use crate::model::tag::TaggedKind;

fn group_error(e: GroupError) -> PortError {
    match e {
        GroupError::Core(c) => port_error(c),
        GroupError::InUse(_, why) => PortError::ResourceInUse(format!(
            "Cannot delete the security group: it is in use ({why})"
        )),
        GroupError::NameTaken(name) => PortError::InvalidParameter(format!(
            "Unable to create security group, a group with name {name} already exists"
        )),
        GroupError::Duplicate(rule) => PortError::InvalidParameter(format!(
            "Failed to authorize the rule: {rule} is already in the security group"
        )),
        GroupError::RuleNotFound(rule) => {
            PortError::InvalidParameter(format!("The rule {rule} is not in the security group"))
        }
        GroupError::DefaultGroup => {
            PortError::InvalidParameter("The default security group cannot be removed".to_owned())
        }
    }
}

/// Who a rule's peer group is: (group name, account name), by group id.
type Names = HashMap<String, (String, String)>;

fn rule_view(r: &RuleRow, names: &Names) -> wire::SecurityGroupRule {
    let (protocol, ports, icmp) = match r.protocol.as_str() {
        ALL_PROTOCOLS => ("all".to_owned(), (None, None), (None, None)),
        "icmp" => ("icmp".to_owned(), (None, None), (r.from_port, r.to_port)),
        other => (other.to_owned(), (r.from_port, r.to_port), (None, None)),
    };
    let peer = r.peer_group_id.as_ref().and_then(|g| names.get(g));
    wire::SecurityGroupRule {
        ruleid: r.id.clone(),
        protocol,
        startport: ports.0,
        endport: ports.1,
        icmptype: icmp.0,
        icmpcode: icmp.1,
        cidr: r.cidr_v4.clone().or_else(|| r.cidr_v6.clone()),
        securitygroupname: peer.map(|(name, _)| name.clone()),
        account: peer.map(|(_, account)| account.clone()),
        tags: Vec::new(),
    }
}

struct GroupParts<'a> {
    rules: &'a [RuleRow],
    members: Option<&'a Vec<String>>,
    tags: Option<&'a Vec<(String, String)>>,
    names: &'a Names,
}

fn group_view(g: &SecurityGroup, dir: &Directory, parts: GroupParts<'_>) -> wire::SecurityGroup {
    let account = dir.account(&g.account_id);
    let domain = dir.domain_of_account(&g.account_id);
    let of = |d: Direction| -> Vec<wire::SecurityGroupRule> {
        parts
            .rules
            .iter()
            .filter(|r| r.group_id == g.id && r.direction() == d)
            .map(|r| rule_view(r, parts.names))
            .collect()
    };
    let members = parts.members.cloned().unwrap_or_default();
    wire::SecurityGroup {
        id: g.id.clone(),
        name: g.name.clone(),
        description: g.description.clone(),
        account: account.map(|a| a.name.clone()).unwrap_or_default(),
        domainid: account.map(|a| a.domain_id.clone()).unwrap_or_default(),
        domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
        ingressrule: of(Direction::Ingress),
        egressrule: of(Direction::Egress),
        virtualmachinecount: members.len() as i64,
        virtualmachineids: members,
        tags: match account {
            Some(a) => tag_views(parts.tags, "SecurityGroup", &g.id, a, domain),
            None => Vec::new(),
        },
    }
}

/// The core's protocol for CloudStack's: `all` is every protocol, a number stays a number.
fn protocol_of(p: &str) -> Result<String, PortError> {
    match p {
        "all" | "-1" => Ok(ALL_PROTOCOLS.to_owned()),
        "tcp" | "udp" | "icmp" => Ok(p.to_owned()),
        n if n.parse::<u8>().is_ok() => Ok(n.to_owned()),
        other => Err(PortError::InvalidParameter(format!(
            "Invalid protocol {other}: use tcp, udp, icmp, all or a protocol number"
        ))),
    }
}

/// The rule's ports (tcp, udp) or ICMP type and code, in the core's from/to form.
fn ports_of(req: &AuthorizeRules, protocol: &str) -> Result<(Option<i64>, Option<i64>), PortError> {
    match protocol {
        ALL_PROTOCOLS => Ok((None, None)),
        "icmp" => {
            let t = req.icmp_type.unwrap_or(-1);
            let c = req.icmp_code.unwrap_or(-1);
            if !(-1..=255).contains(&t) || !(-1..=255).contains(&c) {
                return Err(PortError::InvalidParameter(format!(
                    "Invalid ICMP type {t} or code {c}: each is -1 or 0 to 255"
                )));
            }
            Ok((Some(t), Some(c)))
        }
        "tcp" | "udp" => {
            let (Some(start), Some(end)) = (req.start_port, req.end_port.or(req.start_port)) else {
                return Err(PortError::InvalidParameter(format!(
                    "startport is required for a {protocol} rule"
                )));
            };
            if !(0..=65535).contains(&start) || !(0..=65535).contains(&end) || start > end {
                return Err(PortError::InvalidParameter(format!(
                    "Invalid port range {start}-{end}: ports are 0 to 65535, start first"
                )));
            }
            Ok((Some(start), Some(end)))
        }
        _ => Ok((req.start_port, req.end_port)),
    }
}

fn peer_of_cidr(c: &str) -> Result<Peer, PortError> {
    let c = c.trim();
    if c.contains(':') {
        let ok = c.split_once('/').is_some_and(|(a, p)| {
            a.parse::<std::net::Ipv6Addr>().is_ok() && p.parse::<u8>().is_ok_and(|p| p <= 128)
        });
        return if ok {
            Ok(Peer::Ipv6(c.to_owned()))
        } else {
            Err(PortError::InvalidParameter(format!("Invalid cidr {c}")))
        };
    }
    Cidr::parse(c)
        .map(|_| Peer::Ipv4(c.to_owned()))
        .ok_or_else(|| {
            PortError::InvalidParameter(format!(
                "Invalid cidr {c}: write it with its network address, e.g. 10.0.0.0/24"
            ))
        })
}

impl Translator {
    /// A group the caller may act on: by id (any account the caller may act for), or by name
    /// in the owner's default VPC.
    async fn actionable_group(
        &self,
        caller: &Caller,
        id: Option<&String>,
        name: Option<&String>,
        account: Option<&String>,
        domain_id: Option<&String>,
        id_param: &'static str,
    ) -> Result<SecurityGroup, PortError> {
        if let Some(id) = id {
            let mut conn = self
                .pool()
                .acquire()
                .await
                .map_err(|e| port_error(e.into()))?;
            let g = group_members::group_by_id(&mut conn, id)
                .await
                .map_err(port_error)?
                .ok_or_else(|| unknown(id_param, id))?;
            let dir = self.directory().await?;
            if !dir.admits(&caller_tree(caller), &g.account_id) {
                return Err(PortError::PermissionDenied(format!(
                    "Account {} does not have permission to operate on security group {id}",
                    caller.account_name
                )));
            }
            return Ok(g);
        }
        let name = name.cloned().unwrap_or_default();
        let (account_id, _) = self.owner(caller, account, domain_id).await?;
        let dv = network::ensure_default_vpc(&self.cloud.store, &account_id)
            .await
            .map_err(port_error)?;
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        sg::by_name(&mut conn, &account_id, &dv.vpc.id, &name)
            .await
            .map_err(port_error)?
            .ok_or_else(|| {
                PortError::InvalidParameter(format!(
                    "Unable to find security group {name} for the account"
                ))
            })
    }

    /// The native view of one group as it is now.
    pub(super) async fn group_now(
        &self,
        id: &str,
    ) -> Result<Option<wire::SecurityGroup>, PortError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        let Some(g) = group_members::group_by_id(&mut conn, id)
            .await
            .map_err(port_error)?
        else {
            return Ok(None);
        };
        let rules = sg::rules_of(&mut conn, &g.id).await.map_err(group_error)?;
        drop(conn);
        let dir = self.directory().await?;
        let names = group_members::group_names(self.pool())
            .await
            .map_err(port_error)?;
        let members = group_members::members_by_group(self.pool())
            .await
            .map_err(port_error)?;
        let tags =
            crate::model::tag::by_resource(self.pool(), &g.account_id, TaggedKind::SecurityGroup)
                .await
                .map_err(port_error)?;
        let parts = GroupParts {
            rules: &rules,
            members: members.get(&g.id),
            tags: tags.get(&g.id),
            names: &names,
        };
        Ok(Some(group_view(&g, &dir, parts)))
    }

    pub(super) async fn native_security_groups(
        &self,
        caller: &Caller,
        req: &ListSecurityGroups,
    ) -> Result<Listing<wire::SecurityGroup>, PortError> {
        // Every account has its default group from its first look, as on CloudStack.
        network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(port_error)?;
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        if let Some(vm) = &req.virtual_machine_id {
            self.actionable(caller, "virtualmachineid", vm).await?;
        }
        let (names, members) = tokio::try_join!(
            group_members::group_names(self.pool()),
            group_members::members_by_group(self.pool()),
        )
        .map_err(port_error)?;
        let mut items = Vec::new();
        for a in dir
            .accounts
            .iter()
            .filter(|a| dir.admits(&visibility, &a.id))
        {
            let (groups, rules, tags) = tokio::try_join!(
                sg::list_for_account(self.pool(), &a.id),
                sg::rules_of_account(self.pool(), &a.id),
                crate::model::tag::by_resource(self.pool(), &a.id, TaggedKind::SecurityGroup),
            )
            .map_err(port_error)?;
            for g in groups
                .iter()
                .filter(|g| req.id.as_ref().is_none_or(|id| id == &g.id))
                .filter(|g| {
                    req.name
                        .as_ref()
                        .is_none_or(|n| n.eq_ignore_ascii_case(&g.name))
                })
                .filter(|g| {
                    req.virtual_machine_id
                        .as_ref()
                        .is_none_or(|vm| members.get(&g.id).is_some_and(|m| m.contains(vm)))
                })
                .filter(|g| keyword_matches(req.keyword.as_deref(), &[&g.name]))
                .filter(|g| has_any_tag(&req.tags, tags.get(&g.id)))
            {
                let parts = GroupParts {
                    rules: &rules,
                    members: members.get(&g.id),
                    tags: tags.get(&g.id),
                    names: &names,
                };
                items.push(group_view(g, &dir, parts));
            }
        }
        if let (Some(id), true) = (&req.id, items.is_empty()) {
            return Err(unknown("id", id));
        }
        Ok(req.page.slice(items))
    }

    pub(super) async fn create_native_group(
        &self,
        caller: &Caller,
        req: &CreateSecurityGroup,
    ) -> Result<wire::SecurityGroup, PortError> {
        if req.name.eq_ignore_ascii_case("default") {
            return Err(PortError::InvalidParameter(
                "Unable to create security group default: the name is reserved for the \
                 account's default group"
                    .to_owned(),
            ));
        }
        let (account_id, _) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let dv = network::ensure_default_vpc(&self.cloud.store, &account_id)
            .await
            .map_err(port_error)?;
        let description = req.description.clone().unwrap_or_else(|| req.name.clone());
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        let g = sg::create(
            &mut tx,
            &account_id,
            &dv.vpc.id,
            &req.name,
            &description,
            false,
        )
        .await
        .map_err(group_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        self.group_now(&g.id)
            .await?
            .ok_or_else(|| PortError::Internal(format!("security group {} vanished", g.id)))
    }

    pub(super) async fn delete_native_group(
        &self,
        caller: &Caller,
        req: &DeleteSecurityGroup,
    ) -> Result<(), PortError> {
        let g = self
            .actionable_group(
                caller,
                req.id.as_ref(),
                req.name.as_ref(),
                req.account.as_ref(),
                req.domain_id.as_ref(),
                "id",
            )
            .await?;
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        sg::delete(&mut tx, &g).await.map_err(group_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        Ok(())
    }

    /// The peer groups of `usersecuritygrouplist`, by account name in the group's domain.
    async fn peer_groups(
        &self,
        group: &SecurityGroup,
        req: &AuthorizeRules,
    ) -> Result<Vec<Peer>, PortError> {
        if req.peers.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.directory().await?;
        let domain = dir
            .account(&group.account_id)
            .map(|a| a.domain_id.clone())
            .unwrap_or_default();
        let mut out = Vec::new();
        for p in &req.peers {
            let account = match &p.account {
                Some(name) => dir
                    .accounts
                    .iter()
                    .find(|a| a.domain_id == domain && a.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        PortError::InvalidParameter(format!(
                            "Unable to find account {name} in domain {domain}"
                        ))
                    })?
                    .id
                    .clone(),
                None => group.account_id.clone(),
            };
            let dv = network::ensure_default_vpc(&self.cloud.store, &account)
                .await
                .map_err(port_error)?;
            let mut conn = self
                .pool()
                .acquire()
                .await
                .map_err(|e| port_error(e.into()))?;
            let peer = sg::by_name(&mut conn, &account, &dv.vpc.id, &p.group)
                .await
                .map_err(port_error)?
                .ok_or_else(|| {
                    PortError::InvalidParameter(format!(
                        "Unable to find security group {} of that account",
                        p.group
                    ))
                })?;
            out.push(Peer::Group(peer.id));
        }
        Ok(out)
    }

    pub(super) async fn authorize(
        &self,
        caller: &Caller,
        req: &AuthorizeRules,
        egress: bool,
    ) -> Result<String, PortError> {
        let g = self
            .actionable_group(
                caller,
                req.group_id.as_ref(),
                req.group_name.as_ref(),
                req.account.as_ref(),
                req.domain_id.as_ref(),
                "securitygroupid",
            )
            .await?;
        let protocol = protocol_of(&req.protocol)?;
        let (from_port, to_port) = ports_of(req, &protocol)?;
        let mut peers = req
            .cidrs
            .iter()
            .map(|c| peer_of_cidr(c))
            .collect::<Result<Vec<_>, _>>()?;
        peers.extend(self.peer_groups(&g, req).await?);
        if peers.is_empty() {
            return Err(PortError::InvalidParameter(
                "At least one cidr or at least one security group needs to be specified".to_owned(),
            ));
        }
        let specs: Vec<RuleSpec> = peers
            .into_iter()
            .map(|peer| RuleSpec {
                protocol: protocol.clone(),
                from_port,
                to_port,
                peer,
                description: String::new(),
            })
            .collect();
        let direction = if egress {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        sg::add_rules(&mut tx, &g.id, direction, &specs)
            .await
            .map_err(group_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        let command = if egress {
            JobCommand::AuthorizeSecurityGroupEgress
        } else {
            JobCommand::AuthorizeSecurityGroupIngress
        };
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&g.id),
        };
        self.record_job(None, job).await
    }

    pub(super) async fn revoke(
        &self,
        caller: &Caller,
        req: &ById,
        egress: bool,
    ) -> Result<String, PortError> {
        let direction = if egress {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        let rule = group_members::rule_by_id(&mut conn, &req.id)
            .await
            .map_err(port_error)?
            .filter(|r| r.direction() == direction)
            .ok_or_else(|| unknown("id", &req.id))?;
        drop(conn);
        let g = self
            .actionable_group(caller, Some(&rule.group_id), None, None, None, "id")
            .await?;
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        sg::remove_rules_by_id(&mut tx, &g.id, direction, std::slice::from_ref(&rule.id))
            .await
            .map_err(group_error)?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        let command = if egress {
            JobCommand::RevokeSecurityGroupEgress
        } else {
            JobCommand::RevokeSecurityGroupIngress
        };
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&g.id),
        };
        self.record_job(None, job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_ports() {
        assert_eq!(protocol_of("all").ok().as_deref(), Some(ALL_PROTOCOLS));
        assert_eq!(protocol_of("47").ok().as_deref(), Some("47"));
        assert!(protocol_of("tcpx").is_err());
        let req = AuthorizeRules {
            start_port: Some(22),
            ..AuthorizeRules::default()
        };
        assert_eq!(ports_of(&req, "tcp").ok(), Some((Some(22), Some(22))));
        assert!(ports_of(&AuthorizeRules::default(), "udp").is_err());
        assert_eq!(
            ports_of(&AuthorizeRules::default(), "icmp").ok(),
            Some((Some(-1), Some(-1)))
        );
        assert!(peer_of_cidr("10.0.0.1/24").is_err());
        assert!(peer_of_cidr("2001:db8::/32").is_ok());
    }
}
