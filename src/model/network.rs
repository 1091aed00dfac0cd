//! VPCs, their networks (EC2 subnets, CloudStack VPC tiers) and instances' network interfaces.
//! Every account has a default VPC (172.31.0.0/16) with a default network per zone
//! (172.31.0.0/20, 172.31.16.0/20, ...) and a default security group, made the first time the
//! account needs one. Addresses come from a network's CIDR with the first four and the last
//! reserved (as on AWS), the lowest free one first, and never twice: a unique index on
//! (network, address) backs the choice made inside the launch transaction.
//!
//! LIMITATION: addresses are bookkeeping; no DHCP, bridge or routing is set up yet.

use std::net::Ipv4Addr;

use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult};
use crate::model::security_group::{self, GroupError, SecurityGroup};
use crate::model::{flag, new_ec2_id, new_uuid};
use crate::now_ms;
use crate::store::Store;

/// The CIDR of every account's default VPC.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// The name of a VPC's default security group.
pub const DEFAULT_GROUP_NAME: &str = "default";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Vpc {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub cidr: String,
    pub is_default: i64,
    pub dns_support: i64,
    pub dns_hostnames: i64,
    pub address_usage_metrics: i64,
    pub state: String,
    pub created_ms: i64,
}

impl Vpc {
    pub fn is_default(&self) -> bool {
        flag(self.is_default)
    }
}

/// A network in a VPC, in one zone.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Network {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub zone_id: String,
    pub cidr: String,
    pub is_default: i64,
    pub map_public_ip: i64,
    pub state: String,
    pub created_ms: i64,
}

impl Network {
    pub fn is_default(&self) -> bool {
        flag(self.is_default)
    }
}

/// An instance's attachment to a network.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NetworkInterface {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub instance_id: String,
    pub network_id: String,
    pub device_index: i64,
    pub private_ip: String,
    pub mac_address: String,
    pub source_dest_check: i64,
    pub created_ms: i64,
}

/// A parsed IPv4 CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        let base = u32::from(addr);
        let mask = Self::mask(prefix);
        (base & mask == base).then_some(Self { base, prefix })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & Self::mask(self.prefix) == self.base
    }

    /// The addresses an interface may get: all but the first four and the last.
    pub fn usable(self) -> impl Iterator<Item = Ipv4Addr> {
        let last = self.size().saturating_sub(1);
        (4..last).map(move |off| Ipv4Addr::from(self.base.wrapping_add(off as u32)))
    }

    /// How many addresses [`Cidr::usable`] yields.
    pub fn usable_count(self) -> u64 {
        self.size().saturating_sub(5)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// The default VPC of an account with its networks (one per zone) and default group.
#[derive(Debug, Clone)]
pub struct DefaultVpc {
    pub vpc: Vpc,
    pub networks: Vec<Network>,
    pub group: SecurityGroup,
}

/// The account's default VPC, made (with its networks and group) if the account has none yet.
pub async fn ensure_default_vpc(store: &Store, account_id: &str) -> CoreResult<DefaultVpc> {
    if let Some(found) = default_vpc(&store.pool, account_id).await? {
        return Ok(found);
    }
    let mut tx = store.begin_write().await?;
    let existing: Option<Vpc> =
        sqlx::query_as("SELECT * FROM vpcs WHERE account_id = $1 AND is_default = 1")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
    if existing.is_none() {
        create_default_vpc(&mut tx, account_id).await?;
    }
    tx.commit().await?;
    default_vpc(&store.pool, account_id)
        .await?
        .ok_or_else(|| CoreError::Internal(format!("account {account_id} has no default VPC")))
}

async fn default_vpc(db: &AnyPool, account_id: &str) -> CoreResult<Option<DefaultVpc>> {
    let vpc: Option<Vpc> =
        sqlx::query_as("SELECT * FROM vpcs WHERE account_id = $1 AND is_default = 1")
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    let Some(vpc) = vpc else {
        return Ok(None);
    };
    let networks: Vec<Network> =
        sqlx::query_as("SELECT * FROM networks WHERE vpc_id = $1 ORDER BY created_ms, cidr")
            .bind(&vpc.id)
            .fetch_all(db)
            .await?;
    let group: Option<SecurityGroup> = sqlx::query_as(
        "SELECT * FROM security_groups WHERE vpc_id = $1 AND is_default = 1 LIMIT 1",
    )
    .bind(&vpc.id)
    .fetch_optional(db)
    .await?;
    let group = group.ok_or_else(|| {
        CoreError::Internal(format!(
            "the VPC {} has no default security group",
            vpc.ec2_id
        ))
    })?;
    Ok(Some(DefaultVpc {
        vpc,
        networks,
        group,
    }))
}

async fn create_default_vpc(db: &mut AnyConnection, account_id: &str) -> CoreResult<()> {
    let now = now_ms();
    let vpc = Vpc {
        id: new_uuid(),
        ec2_id: new_ec2_id("vpc"),
        account_id: account_id.to_owned(),
        cidr: DEFAULT_VPC_CIDR.to_owned(),
        is_default: 1,
        dns_support: 1,
        dns_hostnames: 1,
        address_usage_metrics: 0,
        state: "available".into(),
        created_ms: now,
    };
    sqlx::query(
        "INSERT INTO vpcs (id, ec2_id, account_id, cidr, is_default, dns_support, dns_hostnames, \
         address_usage_metrics, state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&vpc.id)
    .bind(&vpc.ec2_id)
    .bind(&vpc.account_id)
    .bind(&vpc.cidr)
    .bind(vpc.is_default)
    .bind(vpc.dns_support)
    .bind(vpc.dns_hostnames)
    .bind(vpc.address_usage_metrics)
    .bind(&vpc.state)
    .bind(vpc.created_ms)
    .execute(&mut *db)
    .await?;

    let mut zones: Vec<(i64, String)> = sqlx::query_as("SELECT created_ms, id FROM zones")
        .fetch_all(&mut *db)
        .await?;
    zones.sort();
    // 172.31.0.0/16 holds sixteen /20s; zones past the sixteenth get no default network.
    for (n, (_, zone_id)) in zones.iter().take(16).enumerate() {
        let cidr = format!("172.31.{}.0/20", n * 16);
        insert_network(db, account_id, &vpc.id, zone_id, &cidr, true).await?;
    }
    security_group::create(
        db,
        account_id,
        &vpc.id,
        DEFAULT_GROUP_NAME,
        "default VPC security group",
        true,
    )
    .await
    .map_err(|e| match e {
        GroupError::Core(c) => c,
        other => CoreError::Internal(other.to_string()),
    })?;
    crate::model::vpc_admin::ensure_parts(db, &vpc).await?;
    Ok(())
}

pub(crate) async fn insert_network(
    db: &mut AnyConnection,
    account_id: &str,
    vpc_id: &str,
    zone_id: &str,
    cidr: &str,
    is_default: bool,
) -> CoreResult<Network> {
    let n = Network {
        id: new_uuid(),
        ec2_id: new_ec2_id("subnet"),
        account_id: account_id.to_owned(),
        vpc_id: vpc_id.to_owned(),
        zone_id: zone_id.to_owned(),
        cidr: cidr.to_owned(),
        is_default: i64::from(is_default),
        map_public_ip: i64::from(is_default),
        state: "available".into(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO networks (id, ec2_id, account_id, vpc_id, zone_id, cidr, is_default, \
         map_public_ip, state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&n.id)
    .bind(&n.ec2_id)
    .bind(&n.account_id)
    .bind(&n.vpc_id)
    .bind(&n.zone_id)
    .bind(&n.cidr)
    .bind(n.is_default)
    .bind(n.map_public_ip)
    .bind(&n.state)
    .bind(n.created_ms)
    .execute(db)
    .await?;
    Ok(n)
}

/// The account's VPCs, oldest first.
pub async fn vpcs_of_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Vpc>> {
    Ok(
        sqlx::query_as("SELECT * FROM vpcs WHERE account_id = $1 ORDER BY created_ms, id")
            .bind(account_id)
            .fetch_all(db)
            .await?,
    )
}

/// The account's networks, oldest first.
pub async fn networks_of_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Network>> {
    Ok(
        sqlx::query_as(
            "SELECT * FROM networks WHERE account_id = $1 ORDER BY created_ms, cidr, id",
        )
        .bind(account_id)
        .fetch_all(db)
        .await?,
    )
}

/// One of the account's networks by native or EC2 id.
pub async fn network(
    db: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> CoreResult<Option<Network>> {
    Ok(
        sqlx::query_as("SELECT * FROM networks WHERE account_id = $1 AND (id = $2 OR ec2_id = $2)")
            .bind(account_id)
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// How many addresses of a network are still free.
pub async fn free_addresses(db: &mut AnyConnection, network: &Network) -> CoreResult<u64> {
    let cidr = Cidr::parse(&network.cidr).ok_or_else(|| {
        CoreError::Internal(format!(
            "network {} has CIDR {:?}",
            network.id, network.cidr
        ))
    })?;
    let (used,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM network_interfaces n WHERE n.network_id = $1 \
         AND EXISTS (SELECT 1 FROM instances i WHERE i.id = n.instance_id)",
    )
    .bind(&network.id)
    .fetch_one(db)
    .await?;
    Ok(cidr.usable_count().saturating_sub(used.max(0) as u64))
}

/// Takes the lowest free address of the network. Interfaces of instances that were expunged
/// give their addresses back here.
pub async fn allocate_address(db: &mut AnyConnection, network: &Network) -> CoreResult<Ipv4Addr> {
    let cidr = Cidr::parse(&network.cidr).ok_or_else(|| {
        CoreError::Internal(format!(
            "network {} has CIDR {:?}",
            network.id, network.cidr
        ))
    })?;
    if let Some(ip) = lowest_free(db, network, &cidr).await? {
        return Ok(ip);
    }
    // Full: take back the addresses of expunged instances, then look again. Only here, since
    // the sweep reads every interface of the network.
    reclaim_addresses(db, network).await?;
    lowest_free(db, network, &cidr).await?.ok_or_else(|| {
        CoreError::NoFreeAddress(format!(
            "the network {} ({}) has no free address left",
            network.ec2_id, network.cidr
        ))
    })
}

async fn lowest_free(
    db: &mut AnyConnection,
    network: &Network,
    cidr: &Cidr,
) -> CoreResult<Option<Ipv4Addr>> {
    let used: Vec<(String,)> =
        sqlx::query_as("SELECT private_ip FROM network_interfaces WHERE network_id = $1")
            .bind(&network.id)
            .fetch_all(&mut *db)
            .await?;
    let used: std::collections::HashSet<Ipv4Addr> = used
        .into_iter()
        .filter_map(|(ip,)| ip.parse().ok())
        .collect();
    Ok(cidr.usable().find(|ip| !used.contains(ip)))
}

/// Frees the interfaces (and so the addresses) of instances that no longer exist.
async fn reclaim_addresses(db: &mut AnyConnection, network: &Network) -> CoreResult<()> {
    sqlx::query(
        "DELETE FROM interface_security_groups WHERE interface_id IN (SELECT n.id FROM \
         network_interfaces n WHERE n.network_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM instances i WHERE i.id = n.instance_id))",
    )
    .bind(&network.id)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "DELETE FROM network_interfaces WHERE network_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM instances i WHERE i.id = network_interfaces.instance_id)",
    )
    .bind(&network.id)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A locally administered MAC address for a new interface.
fn new_mac() -> String {
    let b = uuid::Uuid::new_v4();
    let b = b.as_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// Attaches an instance to a network: takes an address and records the interface and its
/// groups. Runs inside the caller's transaction (the launch's), so nothing is half-made.
pub async fn attach_interface(
    db: &mut AnyConnection,
    account_id: &str,
    instance_id: &str,
    network: &Network,
    group_ids: &[String],
    device_index: i64,
) -> CoreResult<NetworkInterface> {
    let ip = allocate_address(db, network).await?;
    let nic = NetworkInterface {
        id: new_uuid(),
        ec2_id: new_ec2_id("eni"),
        account_id: account_id.to_owned(),
        instance_id: instance_id.to_owned(),
        network_id: network.id.clone(),
        device_index,
        private_ip: ip.to_string(),
        mac_address: new_mac(),
        source_dest_check: 1,
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO network_interfaces (id, ec2_id, account_id, instance_id, network_id, \
         device_index, private_ip, mac_address, source_dest_check, created_ms) VALUES ($1, $2, \
         $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&nic.id)
    .bind(&nic.ec2_id)
    .bind(&nic.account_id)
    .bind(&nic.instance_id)
    .bind(&nic.network_id)
    .bind(nic.device_index)
    .bind(&nic.private_ip)
    .bind(&nic.mac_address)
    .bind(nic.source_dest_check)
    .bind(nic.created_ms)
    .execute(&mut *db)
    .await?;
    set_interface_groups(db, &nic.id, group_ids).await?;
    Ok(nic)
}

/// Replaces the groups of an interface.
pub async fn set_interface_groups(
    db: &mut AnyConnection,
    interface_id: &str,
    group_ids: &[String],
) -> CoreResult<()> {
    sqlx::query("DELETE FROM interface_security_groups WHERE interface_id = $1")
        .bind(interface_id)
        .execute(&mut *db)
        .await?;
    for (position, g) in group_ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO interface_security_groups (interface_id, group_id, position) \
             VALUES ($1, $2, $3)",
        )
        .bind(interface_id)
        .bind(g)
        .bind(position as i64)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Turns the source/destination check of an instance's interfaces on or off.
pub async fn set_source_dest_check(
    db: &mut AnyConnection,
    instance_id: &str,
    on: bool,
) -> CoreResult<()> {
    sqlx::query("UPDATE network_interfaces SET source_dest_check = $2 WHERE instance_id = $1")
        .bind(instance_id)
        .bind(i64::from(on))
        .execute(db)
        .await?;
    Ok(())
}

/// An interface with the ids the doors show beside it.
#[derive(Debug, Clone)]
pub struct InterfaceListing {
    pub interface: NetworkInterface,
    pub network_ec2_id: String,
    pub vpc_ec2_id: String,
    /// The interface's groups as (EC2 id, name), in attachment order.
    pub groups: Vec<(String, String)>,
}

#[derive(sqlx::FromRow)]
struct InterfaceRow {
    #[sqlx(flatten)]
    interface: NetworkInterface,
    network_ec2_id: String,
    vpc_ec2_id: String,
}

/// The network interfaces of an account's instances, with their network's and VPC's EC2 ids
/// and their security groups in order.
pub async fn interfaces_of_account(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<InterfaceListing>> {
    interfaces_where(db, account_id, None).await
}

/// The network interfaces of these instances (by id) of an account, as
/// [`interfaces_of_account`] gives them.
pub async fn interfaces_of_instances(
    db: &AnyPool,
    account_id: &str,
    instance_ids: &[&str],
) -> CoreResult<Vec<InterfaceListing>> {
    if instance_ids.is_empty() {
        return Ok(Vec::new());
    }
    interfaces_where(db, account_id, Some(instance_ids)).await
}

async fn interfaces_where(
    db: &AnyPool,
    account_id: &str,
    instance_ids: Option<&[&str]>,
) -> CoreResult<Vec<InterfaceListing>> {
    let only = |column: &str| match instance_ids {
        Some(ids) => format!(
            " AND {column} IN ({})",
            crate::store::placeholders(2, ids.len())
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT n.*, w.ec2_id AS network_ec2_id, v.ec2_id AS vpc_ec2_id \
         FROM network_interfaces n JOIN networks w ON w.id = n.network_id \
         JOIN vpcs v ON v.id = w.vpc_id WHERE n.account_id = $1{} \
         ORDER BY n.instance_id, n.device_index",
        only("n.instance_id")
    );
    let mut q = sqlx::query_as::<_, InterfaceRow>(&sql).bind(account_id);
    for id in instance_ids.unwrap_or_default() {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(db).await?;
    // For named instances (a page) the groups are found from their interfaces: `account_id ||
    // ''` keeps SQLite from starting at the account's groups, which walks every interface of a
    // group as large as the account (its default group) to keep the page's few.
    let account = if instance_ids.is_some() {
        "s.account_id || ''"
    } else {
        "s.account_id"
    };
    let sql = format!(
        "SELECT g.interface_id, s.ec2_id, s.name FROM interface_security_groups g \
         JOIN security_groups s ON s.id = g.group_id \
         JOIN network_interfaces n ON n.id = g.interface_id WHERE {account} = $1{} \
         ORDER BY g.interface_id, g.position",
        only("n.instance_id")
    );
    let mut q = sqlx::query_as::<_, (String, String, String)>(&sql).bind(account_id);
    for id in instance_ids.unwrap_or_default() {
        q = q.bind(*id);
    }
    let groups = q.fetch_all(db).await?;
    let mut by_nic: std::collections::HashMap<String, Vec<(String, String)>> =
        std::collections::HashMap::new();
    for (nic, id, name) in groups {
        by_nic.entry(nic).or_default().push((id, name));
    }
    Ok(rows
        .into_iter()
        .map(|r| InterfaceListing {
            groups: by_nic.remove(&r.interface.id).unwrap_or_default(),
            interface: r.interface,
            network_ec2_id: r.network_ec2_id,
            vpc_ec2_id: r.vpc_ec2_id,
        })
        .collect())
}

/// The name of a zone by id.
pub async fn zone_name(db: &mut AnyConnection, zone_id: &str) -> CoreResult<String> {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM zones WHERE id = $1")
        .bind(zone_id)
        .fetch_optional(db)
        .await?;
    row.map(|(n,)| n)
        .ok_or_else(|| CoreError::Internal(format!("no zone has the id {zone_id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("172.31.16.0/20").expect("a CIDR");
        assert_eq!(c.to_string(), "172.31.16.0/20");
        assert_eq!(c.usable_count(), 4091);
        let first: Vec<String> = c.usable().take(2).map(|a| a.to_string()).collect();
        assert_eq!(first, ["172.31.16.4", "172.31.16.5"]);
        assert_eq!(
            c.usable().last().map(|a| a.to_string()).as_deref(),
            Some("172.31.31.254")
        );
        assert!(c.contains("172.31.31.255".parse().expect("an address")));
        assert!(!c.contains("172.31.32.0".parse().expect("an address")));
        for bad in ["172.31.16.1/20", "172.31.0.0", "x/8", "10.0.0.0/33"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
