//! Security groups and their rules: named sets of allowed traffic in a VPC, attached to
//! instances' network interfaces. A new group allows all outbound traffic and nothing inbound;
//! a VPC's default group also lets its members reach each other. Rules are kept one per
//! (protocol, ports, peer) so that adding one twice and removing one that is not there are
//! both refusals the caller can act on.
//!
//! LIMITATION: rules are bookkeeping only; no traffic is filtered until the network enforcement
//! work (nftables in namespaces) lands.

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreError;
use crate::model::{flag, new_ec2_id, new_uuid};
use crate::now_ms;

/// The protocol value that means every protocol (ports are then ignored).
pub const ALL_PROTOCOLS: &str = "-1";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityGroup {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    pub is_default: i64,
    pub created_ms: i64,
}

impl SecurityGroup {
    pub fn is_default(&self) -> bool {
        flag(self.is_default)
    }
}

/// Which way a rule lets traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }
}

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Ipv4(String),
    Ipv6(String),
    /// Members of another (or the same) group, by native id.
    Group(String),
}

/// What a rule allows, as asked for; ports are `None` for protocol -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub peer: Peer,
    pub description: String,
}

impl RuleSpec {
    /// The same traffic: protocol, ports and peer (not the description).
    fn same_traffic(&self, other: &RuleSpec) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.peer == other.peer
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: String,
    pub ec2_id: String,
    pub group_id: String,
    pub direction: String,
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub cidr_v4: Option<String>,
    pub cidr_v6: Option<String>,
    pub peer_group_id: Option<String>,
    pub description: String,
    pub created_ms: i64,
}

impl RuleRow {
    pub fn direction(&self) -> Direction {
        if self.direction == "egress" {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    }

    pub fn spec(&self) -> RuleSpec {
        let peer = match (&self.cidr_v4, &self.cidr_v6, &self.peer_group_id) {
            (Some(c), _, _) => Peer::Ipv4(c.clone()),
            (_, Some(c), _) => Peer::Ipv6(c.clone()),
            (_, _, Some(g)) => Peer::Group(g.clone()),
            _ => Peer::Ipv4("0.0.0.0/0".into()),
        };
        RuleSpec {
            protocol: self.protocol.clone(),
            from_port: self.from_port,
            to_port: self.to_port,
            peer,
            description: self.description.clone(),
        }
    }
}

/// Why a change to a group was refused.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The group is attached to an interface or named by another group's rule.
    #[error("the security group '{0}' is in use: {1}")]
    InUse(String, String),
    /// A group of that name is already in the VPC.
    #[error("a security group named '{0}' already exists in this VPC")]
    NameTaken(String),
    /// A rule for the same traffic is already there.
    #[error("the rule {0} is already in the security group")]
    Duplicate(String),
    /// The rule to remove is not there.
    #[error("the rule {0} is not in the security group")]
    RuleNotFound(String),
    /// The default group of a VPC cannot be deleted.
    #[error("the default security group of a VPC cannot be deleted")]
    DefaultGroup,
}

impl From<sqlx::Error> for GroupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Core(CoreError::Store(e))
    }
}

/// A readable description of a rule for messages.
pub fn describe_rule(direction: Direction, r: &RuleSpec) -> String {
    let ports = match (r.from_port, r.to_port) {
        _ if r.protocol == ALL_PROTOCOLS => String::new(),
        (Some(a), Some(b)) => format!(" ports {a}-{b}"),
        _ => String::new(),
    };
    let peer = match &r.peer {
        Peer::Ipv4(c) | Peer::Ipv6(c) => c.clone(),
        Peer::Group(g) => format!("group {g}"),
    };
    format!(
        "{} protocol {}{ports} {} {peer}",
        direction.as_str(),
        r.protocol,
        if direction == Direction::Ingress {
            "from"
        } else {
            "to"
        }
    )
}

/// Creates a group in a VPC with its default allow-all egress rules (and, for a VPC's default
/// group, an ingress rule from its own members).
pub async fn create(
    db: &mut AnyConnection,
    account_id: &str,
    vpc_id: &str,
    name: &str,
    description: &str,
    is_default: bool,
) -> Result<SecurityGroup, GroupError> {
    let taken: Option<(String,)> =
        sqlx::query_as("SELECT id FROM security_groups WHERE vpc_id = $1 AND name = $2")
            .bind(vpc_id)
            .bind(name)
            .fetch_optional(&mut *db)
            .await?;
    if taken.is_some() {
        return Err(GroupError::NameTaken(name.to_owned()));
    }
    let group = SecurityGroup {
        id: new_uuid(),
        ec2_id: new_ec2_id("sg"),
        account_id: account_id.to_owned(),
        vpc_id: vpc_id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        is_default: i64::from(is_default),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO security_groups (id, ec2_id, account_id, vpc_id, name, description, \
         is_default, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&group.id)
    .bind(&group.ec2_id)
    .bind(&group.account_id)
    .bind(&group.vpc_id)
    .bind(&group.name)
    .bind(&group.description)
    .bind(group.is_default)
    .bind(group.created_ms)
    .execute(&mut *db)
    .await?;
    let all_out = RuleSpec {
        protocol: ALL_PROTOCOLS.into(),
        from_port: None,
        to_port: None,
        peer: Peer::Ipv4("0.0.0.0/0".into()),
        description: String::new(),
    };
    insert_rule(db, &group.id, Direction::Egress, &all_out).await?;
    if is_default {
        let members = RuleSpec {
            peer: Peer::Group(group.id.clone()),
            ..all_out
        };
        insert_rule(db, &group.id, Direction::Ingress, &members).await?;
    }
    Ok(group)
}

async fn insert_rule(
    db: &mut AnyConnection,
    group_id: &str,
    direction: Direction,
    r: &RuleSpec,
) -> Result<RuleRow, GroupError> {
    let (v4, v6, g) = match &r.peer {
        Peer::Ipv4(c) => (Some(c.clone()), None, None),
        Peer::Ipv6(c) => (None, Some(c.clone()), None),
        Peer::Group(id) => (None, None, Some(id.clone())),
    };
    let row = RuleRow {
        id: new_uuid(),
        ec2_id: new_ec2_id("sgr"),
        group_id: group_id.to_owned(),
        direction: direction.as_str().to_owned(),
        protocol: r.protocol.clone(),
        from_port: r.from_port,
        to_port: r.to_port,
        cidr_v4: v4,
        cidr_v6: v6,
        peer_group_id: g,
        description: r.description.clone(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO security_group_rules (id, ec2_id, group_id, direction, protocol, from_port, \
         to_port, cidr_v4, cidr_v6, peer_group_id, description, created_ms) VALUES ($1, $2, $3, \
         $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&row.id)
    .bind(&row.ec2_id)
    .bind(&row.group_id)
    .bind(&row.direction)
    .bind(&row.protocol)
    .bind(row.from_port)
    .bind(row.to_port)
    .bind(&row.cidr_v4)
    .bind(&row.cidr_v6)
    .bind(&row.peer_group_id)
    .bind(&row.description)
    .bind(row.created_ms)
    .execute(&mut *db)
    .await?;
    Ok(row)
}

/// The rules of one group.
pub async fn rules_of(db: &mut AnyConnection, group_id: &str) -> Result<Vec<RuleRow>, GroupError> {
    Ok(sqlx::query_as(
        "SELECT * FROM security_group_rules WHERE group_id = $1 ORDER BY created_ms, id",
    )
    .bind(group_id)
    .fetch_all(db)
    .await?)
}

/// Adds rules to a group, all or none: any rule for traffic the group already allows in that
/// direction (or given twice) is `Duplicate`.
pub async fn add_rules(
    db: &mut AnyConnection,
    group_id: &str,
    direction: Direction,
    rules: &[RuleSpec],
) -> Result<Vec<RuleRow>, GroupError> {
    let existing: Vec<RuleSpec> = rules_of(db, group_id)
        .await?
        .iter()
        .filter(|r| r.direction() == direction)
        .map(RuleRow::spec)
        .collect();
    for (i, r) in rules.iter().enumerate() {
        let again = rules[..i].iter().any(|o| o.same_traffic(r));
        if again || existing.iter().any(|e| e.same_traffic(r)) {
            return Err(GroupError::Duplicate(describe_rule(direction, r)));
        }
    }
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        out.push(insert_rule(db, group_id, direction, r).await?);
    }
    Ok(out)
}

/// Removes rules from a group, all or none: a rule that is not there is `RuleNotFound`.
pub async fn remove_rules(
    db: &mut AnyConnection,
    group_id: &str,
    direction: Direction,
    rules: &[RuleSpec],
) -> Result<(), GroupError> {
    let existing = rules_of(db, group_id).await?;
    let mut doomed = Vec::with_capacity(rules.len());
    for r in rules {
        let found = existing
            .iter()
            .find(|e| e.direction() == direction && e.spec().same_traffic(r));
        match found {
            Some(e) => doomed.push(e.id.clone()),
            None => return Err(GroupError::RuleNotFound(describe_rule(direction, r))),
        }
    }
    for id in doomed {
        sqlx::query("DELETE FROM security_group_rules WHERE id = $1")
            .bind(id)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// Removes rules by their ids (EC2 `SecurityGroupRuleId`), all or none.
pub async fn remove_rules_by_id(
    db: &mut AnyConnection,
    group_id: &str,
    direction: Direction,
    rule_ids: &[String],
) -> Result<(), GroupError> {
    let existing = rules_of(db, group_id).await?;
    for id in rule_ids {
        let found = existing
            .iter()
            .any(|e| e.direction() == direction && (&e.ec2_id == id || &e.id == id));
        if !found {
            return Err(GroupError::RuleNotFound(id.clone()));
        }
    }
    for id in rule_ids {
        sqlx::query(
            "DELETE FROM security_group_rules WHERE group_id = $1 AND (ec2_id = $2 OR id = $2)",
        )
        .bind(group_id)
        .bind(id)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Deletes a group that no interface uses and no other group's rule names.
pub async fn delete(db: &mut AnyConnection, group: &SecurityGroup) -> Result<(), GroupError> {
    if group.is_default() {
        return Err(GroupError::DefaultGroup);
    }
    let users: Option<(String,)> = sqlx::query_as(
        "SELECT n.ec2_id FROM interface_security_groups g \
         JOIN network_interfaces n ON n.id = g.interface_id \
         JOIN instances i ON i.id = n.instance_id \
         WHERE g.group_id = $1 AND i.state NOT IN ('Destroyed', 'Expunging', 'Error') LIMIT 1",
    )
    .bind(&group.id)
    .fetch_optional(&mut *db)
    .await?;
    if let Some((nic,)) = users {
        return Err(GroupError::InUse(
            group.ec2_id.clone(),
            format!("the network interface {nic} of a live instance has it"),
        ));
    }
    let named: Option<(String,)> = sqlx::query_as(
        "SELECT s.ec2_id FROM security_group_rules r JOIN security_groups s ON s.id = r.group_id \
         WHERE r.peer_group_id = $1 AND r.group_id <> $1 LIMIT 1",
    )
    .bind(&group.id)
    .fetch_optional(&mut *db)
    .await?;
    if let Some((other,)) = named {
        return Err(GroupError::InUse(
            group.ec2_id.clone(),
            format!("a rule of the security group {other} refers to it"),
        ));
    }
    for sql in [
        "DELETE FROM interface_security_groups WHERE group_id = $1",
        "DELETE FROM security_group_rules WHERE group_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM security_groups WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&group.id).execute(&mut *db).await?;
    }
    Ok(())
}

/// The account's groups, oldest first.
pub async fn list_for_account(
    db: &AnyPool,
    account_id: &str,
) -> Result<Vec<SecurityGroup>, CoreError> {
    Ok(sqlx::query_as(
        "SELECT * FROM security_groups WHERE account_id = $1 ORDER BY created_ms, id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Every rule of the account's groups, oldest first.
pub async fn rules_of_account(db: &AnyPool, account_id: &str) -> Result<Vec<RuleRow>, CoreError> {
    Ok(sqlx::query_as(
        "SELECT r.* FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id \
         WHERE g.account_id = $1 ORDER BY r.created_ms, r.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// One of the account's groups by native id or EC2 id.
pub async fn get(
    db: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> Result<Option<SecurityGroup>, CoreError> {
    Ok(sqlx::query_as(
        "SELECT * FROM security_groups WHERE account_id = $1 AND (id = $2 OR ec2_id = $2)",
    )
    .bind(account_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// One of the account's groups by name in a VPC.
pub async fn by_name(
    db: &mut AnyConnection,
    account_id: &str,
    vpc_id: &str,
    name: &str,
) -> Result<Option<SecurityGroup>, CoreError> {
    Ok(sqlx::query_as(
        "SELECT * FROM security_groups WHERE account_id = $1 AND vpc_id = $2 AND name = $3",
    )
    .bind(account_id)
    .bind(vpc_id)
    .bind(name)
    .fetch_optional(db)
    .await?)
}
