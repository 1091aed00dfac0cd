//! Public addresses: every zone has one public range (from the `[network]` configuration); an
//! account allocates addresses from it (EC2 elastic IPs, CloudStack's associateIpAddress), at
//! most `address_limit` at a time, and maps one of them to one private address of one of its
//! network interfaces (static NAT; EC2 calls the mapping an association). An address is held
//! by one account at a time (a unique index says so); a released address goes back to the
//! range. An instance's public IP is the address mapped to its interface.
//!
//! An association outlives nothing: once its instance is terminated (Destroyed, Expunging,
//! Error, or gone) the association no longer counts, as AWS disassociates an elastic IP when
//! its instance terminates; the stale columns are overwritten by the next change.
//!
//! LIMITATION: static NAT is bookkeeping only; no packet is translated until the network
//! enforcement work (nftables in namespaces) lands.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreError;
use crate::model::network::Cidr;
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;
use crate::store::Store;

/// The setting that holds the per-account address limit.
pub const LIMIT_SETTING: &str = "network.address_limit";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublicIp {
    pub id: String,
    /// `eipalloc-` and 17 hex digits.
    pub ec2_id: String,
    pub account_id: String,
    pub zone_id: String,
    pub address: String,
    pub address_num: i64,
    pub network_id: Option<String>,
    /// `eipassoc-` and 17 hex digits, while mapped.
    pub association_id: Option<String>,
    pub interface_id: Option<String>,
    pub instance_id: Option<String>,
    pub private_ip: Option<String>,
    pub associated_ms: Option<i64>,
    pub allocated_ms: i64,
}

/// An address with the names the doors show beside it. Its association fields are cleared
/// when the association no longer counts (see the module comment).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublicIpListing {
    #[sqlx(flatten)]
    pub ip: PublicIp,
    pub zone_name: String,
    pub account_name: String,
    pub account_number: String,
    pub domain_id: String,
    pub domain_name: String,
    pub domain_path: String,
    pub interface_ec2_id: Option<String>,
    /// The network of the mapped interface (native id).
    pub interface_network_id: Option<String>,
    pub instance_ec2_id: Option<String>,
    pub instance_name: Option<String>,
    pub instance_display_name: Option<String>,
    pub instance_state: Option<String>,
}

impl PublicIpListing {
    pub fn is_associated(&self) -> bool {
        self.ip.association_id.is_some()
    }
}

/// Why an address operation was refused, in the core's terms.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the account already holds its limit of {0} public addresses")]
    LimitExceeded(u64),
    #[error("the zone '{0}' has no public address left")]
    RangeExhausted(String),
    #[error("no zone has a public address range")]
    NoRange,
    #[error("no public address matches '{0}'")]
    NotFound(String),
    #[error("no association has the id '{0}'")]
    AssociationNotFound(String),
    #[error("the address {0} is associated; disassociate it first")]
    InUse(String),
    /// The address is mapped elsewhere and reassociation was not allowed.
    #[error("the address {address} ({allocation}) is already associated as {association}")]
    AlreadyAssociated {
        address: String,
        allocation: String,
        association: String,
    },
    /// The target private address already has another public address (CloudStack refuses).
    #[error("the private address {private_ip} already has the public address {address}")]
    TargetTaken { private_ip: String, address: String },
    #[error("the address {0} is not associated")]
    NotAssociated(String),
}

impl From<sqlx::Error> for AddressError {
    fn from(e: sqlx::Error) -> Self {
        Self::Core(CoreError::from(e))
    }
}

pub type AddressResult<T> = Result<T, AddressError>;

/// How a caller names an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRef {
    /// The native id (uuid).
    Id(String),
    /// The EC2 allocation id.
    Allocation(String),
    /// The address itself.
    Address(String),
    /// The EC2 association id of its current mapping.
    Association(String),
}

impl IpRef {
    fn text(&self) -> &str {
        match self {
            Self::Id(s) | Self::Allocation(s) | Self::Address(s) | Self::Association(s) => s,
        }
    }
}

/// Where an address is mapped: one private address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub interface_id: String,
    pub instance_id: String,
    pub private_ip: String,
}

/// The addresses a range hands out: all but its network and broadcast addresses.
fn usable_bounds(c: Cidr) -> (i64, i64) {
    let first = i64::from(c.base) + 1;
    let last = i64::from(c.base) + c.size() as i64 - 2;
    (first, last)
}

/// Gives every zone the configured range and records the account limit. Called at start-up:
/// a changed range takes effect for new allocations; addresses already held stay held.
pub async fn apply_config(store: &Store, range: &str, limit: u64) -> AddressResult<()> {
    Cidr::parse(range).ok_or_else(|| {
        CoreError::InvalidParameter(format!("the public range '{range}' is not an IPv4 CIDR"))
    })?;
    let mut tx = store.begin_write().await?;
    let zones: Vec<(String,)> = sqlx::query_as("SELECT id FROM zones")
        .fetch_all(&mut *tx)
        .await?;
    let now = now_ms();
    for (zone,) in zones {
        sqlx::query(
            "INSERT INTO public_ip_ranges (zone_id, cidr, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (zone_id) DO UPDATE SET cidr = excluded.cidr, \
             updated_ms = excluded.updated_ms",
        )
        .bind(&zone)
        .bind(range)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(LIMIT_SETTING)
    .bind(limit.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The per-account limit (the AWS default when nothing was configured).
pub async fn account_limit(db: &mut AnyConnection) -> AddressResult<u64> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
        .bind(LIMIT_SETTING)
        .fetch_optional(db)
        .await?;
    Ok(row
        .and_then(|(v,)| v.parse().ok())
        .unwrap_or(crate::config::DEFAULT_ADDRESS_LIMIT))
}

/// Each zone's public range, by zone id.
pub async fn ranges(db: &AnyPool) -> AddressResult<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT zone_id, cidr FROM public_ip_ranges ORDER BY zone_id")
            .fetch_all(db)
            .await?,
    )
}

/// Allocates the lowest free address of the zone's range (or of the oldest zone with a range)
/// to the account, refusing past its limit.
pub async fn allocate(
    store: &Store,
    account_id: &str,
    zone_id: Option<&str>,
    network_id: Option<&str>,
) -> AddressResult<PublicIp> {
    let mut tx = store.begin_write().await?;
    let limit = account_limit(&mut tx).await?;
    let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM public_ips WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?;
    if u64::try_from(held).unwrap_or(0) >= limit {
        return Err(AddressError::LimitExceeded(limit));
    }
    let range: Option<(String, String, String)> = match zone_id {
        Some(zone) => {
            sqlx::query_as(
                "SELECT r.zone_id, z.name, r.cidr FROM public_ip_ranges r \
                 JOIN zones z ON z.id = r.zone_id WHERE r.zone_id = $1",
            )
            .bind(zone)
            .fetch_optional(&mut *tx)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT r.zone_id, z.name, r.cidr FROM public_ip_ranges r \
                 JOIN zones z ON z.id = r.zone_id ORDER BY z.created_ms, z.id LIMIT 1",
            )
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let (zone, zone_name, cidr) = range.ok_or(AddressError::NoRange)?;
    let cidr = Cidr::parse(&cidr)
        .ok_or_else(|| CoreError::Internal(format!("the public range '{cidr}' is not a CIDR")))?;
    let (first, last) = usable_bounds(cidr);
    let used: Vec<(i64,)> = sqlx::query_as(
        "SELECT address_num FROM public_ips WHERE address_num BETWEEN $1 AND $2 \
         ORDER BY address_num",
    )
    .bind(first)
    .bind(last)
    .fetch_all(&mut *tx)
    .await?;
    let mut candidate = first;
    for (n,) in used {
        if n > candidate {
            break;
        }
        candidate = n + 1;
    }
    if candidate > last {
        return Err(AddressError::RangeExhausted(zone_name));
    }
    let address = Ipv4Addr::from(u32::try_from(candidate).unwrap_or(0)).to_string();
    let ip = PublicIp {
        id: new_uuid(),
        ec2_id: new_ec2_id("eipalloc"),
        account_id: account_id.to_owned(),
        zone_id: zone,
        address,
        address_num: candidate,
        network_id: network_id.map(str::to_owned),
        association_id: None,
        interface_id: None,
        instance_id: None,
        private_ip: None,
        associated_ms: None,
        allocated_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO public_ips (id, ec2_id, account_id, zone_id, address, address_num, \
         network_id, allocated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&ip.id)
    .bind(&ip.ec2_id)
    .bind(&ip.account_id)
    .bind(&ip.zone_id)
    .bind(&ip.address)
    .bind(ip.address_num)
    .bind(&ip.network_id)
    .bind(ip.allocated_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(allocation = %ip.ec2_id, address = %ip.address, account = %account_id, "public address allocated");
    Ok(ip)
}

const LISTING: &str = "SELECT p.*, z.name AS zone_name, a.name AS account_name, \
     a.number AS account_number, a.domain_id, d.name AS domain_name, d.path AS domain_path, \
     n.ec2_id AS interface_ec2_id, n.network_id AS interface_network_id, \
     i.ec2_id AS instance_ec2_id, i.name AS instance_name, \
     i.display_name AS instance_display_name, i.state AS instance_state \
     FROM public_ips p JOIN zones z ON z.id = p.zone_id \
     JOIN accounts a ON a.id = p.account_id JOIN domains d ON d.id = a.domain_id \
     LEFT JOIN network_interfaces n ON n.id = p.interface_id \
     LEFT JOIN instances i ON i.id = p.instance_id";

/// True if an instance in this state (or missing) no longer holds an association.
fn is_gone(state: Option<&str>) -> bool {
    !matches!(state, Some("Starting" | "Running" | "Stopping" | "Stopped"))
}

fn settle(mut l: PublicIpListing) -> PublicIpListing {
    if l.ip.association_id.is_some() && is_gone(l.instance_state.as_deref()) {
        l.ip.association_id = None;
        l.ip.interface_id = None;
        l.ip.instance_id = None;
        l.ip.private_ip = None;
        l.ip.associated_ms = None;
        l.interface_ec2_id = None;
        l.interface_network_id = None;
        l.instance_ec2_id = None;
        l.instance_name = None;
        l.instance_display_name = None;
        l.instance_state = None;
    }
    l
}

/// The account's addresses, oldest first.
pub async fn list_for_account(
    db: &AnyPool,
    account_id: &str,
) -> AddressResult<Vec<PublicIpListing>> {
    let sql = format!("{LISTING} WHERE p.account_id = $1 ORDER BY p.allocated_ms, p.id");
    let rows: Vec<PublicIpListing> = sqlx::query_as(&sql).bind(account_id).fetch_all(db).await?;
    Ok(rows.into_iter().map(settle).collect())
}

/// Every address of the cloud, oldest first (the native door scopes them).
pub async fn list_all(db: &AnyPool) -> AddressResult<Vec<PublicIpListing>> {
    let sql = format!("{LISTING} ORDER BY p.allocated_ms, p.id");
    let rows: Vec<PublicIpListing> = sqlx::query_as(&sql).fetch_all(db).await?;
    Ok(rows.into_iter().map(settle).collect())
}

/// The public address of each interface of the account that has one, by interface EC2 id.
pub async fn addresses_by_interface(
    db: &AnyPool,
    account_id: &str,
) -> AddressResult<HashMap<String, String>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT n.ec2_id, p.address, i.state FROM public_ips p \
         JOIN network_interfaces n ON n.id = p.interface_id \
         LEFT JOIN instances i ON i.id = p.instance_id \
         WHERE p.account_id = $1 AND p.association_id IS NOT NULL",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, state)| !is_gone(state.as_deref()))
        .map(|(nic, address, _)| (nic, address))
        .collect())
}

/// One address by any of its names, with its association settled; `owner` limits it to one
/// account (None: any account, for a root admin).
pub async fn find(
    db: &mut AnyConnection,
    owner: Option<&str>,
    r: &IpRef,
) -> AddressResult<PublicIpListing> {
    let column = match r {
        IpRef::Id(_) => "p.id",
        IpRef::Allocation(_) => "p.ec2_id",
        IpRef::Address(_) => "p.address",
        IpRef::Association(_) => "p.association_id",
    };
    let sql = format!("{LISTING} WHERE {column} = $1");
    let found: Option<PublicIpListing> = sqlx::query_as(&sql)
        .bind(r.text())
        .fetch_optional(&mut *db)
        .await?;
    let found = found
        .filter(|l| owner.is_none_or(|o| o == l.ip.account_id))
        .map(settle);
    match (found, r) {
        (Some(l), IpRef::Association(_)) if !l.is_associated() => {
            Err(AddressError::AssociationNotFound(r.text().to_owned()))
        }
        (Some(l), _) => Ok(l),
        (None, IpRef::Association(id)) => Err(AddressError::AssociationNotFound(id.clone())),
        (None, _) => Err(AddressError::NotFound(r.text().to_owned())),
    }
}

/// The interface an instance's public address maps to (its primary one), with its private IP.
pub async fn primary_target(
    db: &mut AnyConnection,
    instance_id: &str,
) -> AddressResult<Option<Target>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT id, private_ip FROM network_interfaces WHERE instance_id = $1 \
         ORDER BY device_index LIMIT 1",
    )
    .bind(instance_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(interface_id, private_ip)| Target {
        interface_id,
        instance_id: instance_id.to_owned(),
        private_ip,
    }))
}

/// Maps the address to the target. The address may already be mapped elsewhere only with
/// `allow_reassociation`; a target that already has another address loses it when
/// `replace_target` (EC2), and is refused otherwise (CloudStack). Answers the association id.
pub async fn associate(
    store: &Store,
    owner: Option<&str>,
    r: &IpRef,
    target: &Target,
    allow_reassociation: bool,
    replace_target: bool,
) -> AddressResult<PublicIpListing> {
    let mut tx = store.begin_write().await?;
    let current = find(&mut tx, owner, r).await?;
    let ip = &current.ip;
    let same_target = ip.interface_id.as_deref() == Some(target.interface_id.as_str())
        && ip.private_ip.as_deref() == Some(target.private_ip.as_str());
    if let (Some(association), false) = (&ip.association_id, same_target) {
        if !allow_reassociation {
            return Err(AddressError::AlreadyAssociated {
                address: ip.address.clone(),
                allocation: ip.ec2_id.clone(),
                association: association.clone(),
            });
        }
    }
    if same_target && current.is_associated() {
        tx.commit().await?;
        return Ok(current);
    }
    // Another address mapped to the same private address, if its mapping still counts.
    let holders: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT p.id, p.address, i.state FROM public_ips p \
         LEFT JOIN instances i ON i.id = p.instance_id \
         WHERE p.interface_id = $1 AND p.private_ip = $2 AND p.id <> $3",
    )
    .bind(&target.interface_id)
    .bind(&target.private_ip)
    .bind(&ip.id)
    .fetch_all(&mut *tx)
    .await?;
    for (holder, address, state) in holders {
        if !is_gone(state.as_deref()) && !replace_target {
            return Err(AddressError::TargetTaken {
                private_ip: target.private_ip.clone(),
                address,
            });
        }
        clear(&mut tx, &holder).await?;
    }
    let association = new_ec2_id("eipassoc");
    sqlx::query(
        "UPDATE public_ips SET association_id = $1, interface_id = $2, instance_id = $3, \
         private_ip = $4, associated_ms = $5 WHERE id = $6",
    )
    .bind(&association)
    .bind(&target.interface_id)
    .bind(&target.instance_id)
    .bind(&target.private_ip)
    .bind(now_ms())
    .bind(&ip.id)
    .execute(&mut *tx)
    .await?;
    let done = find(&mut tx, None, &IpRef::Id(ip.id.clone())).await?;
    tx.commit().await?;
    tracing::info!(allocation = %done.ip.ec2_id, association = %association, private_ip = %target.private_ip, "public address associated");
    Ok(done)
}

async fn clear(db: &mut AnyConnection, id: &str) -> AddressResult<()> {
    sqlx::query(
        "UPDATE public_ips SET association_id = NULL, interface_id = NULL, instance_id = NULL, \
         private_ip = NULL, associated_ms = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes the address's mapping; an address that is not mapped is refused.
pub async fn disassociate(
    store: &Store,
    owner: Option<&str>,
    r: &IpRef,
) -> AddressResult<PublicIpListing> {
    let mut tx = store.begin_write().await?;
    let current = find(&mut tx, owner, r).await?;
    if !current.is_associated() {
        return Err(AddressError::NotAssociated(current.ip.address));
    }
    clear(&mut tx, &current.ip.id).await?;
    let done = find(&mut tx, None, &IpRef::Id(current.ip.id.clone())).await?;
    tx.commit().await?;
    tracing::info!(allocation = %done.ip.ec2_id, "public address disassociated");
    Ok(done)
}

/// Gives the address back to its range (with its tags); refused while it is mapped.
pub async fn release(store: &Store, owner: Option<&str>, r: &IpRef) -> AddressResult<PublicIp> {
    let mut tx = store.begin_write().await?;
    let current = find(&mut tx, owner, r).await?;
    if current.is_associated() {
        return Err(AddressError::InUse(current.ip.address));
    }
    sqlx::query("DELETE FROM tags WHERE resource_id = $1")
        .bind(&current.ip.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM public_ips WHERE id = $1")
        .bind(&current.ip.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(allocation = %current.ip.ec2_id, address = %current.ip.address, "public address released");
    Ok(current.ip)
}

/// The tags of every public address, by address id.
pub async fn tags_of_addresses(
    db: &AnyPool,
) -> AddressResult<HashMap<String, Vec<(String, String)>>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT resource_id, tag_key, tag_value FROM tags WHERE resource_kind = $1 \
         ORDER BY resource_id, tag_key",
    )
    .bind(crate::model::tag::TaggedKind::PublicIp.as_str())
    .fetch_all(db)
    .await?;
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (id, k, v) in rows {
        out.entry(id).or_default().push((k, v));
    }
    Ok(out)
}

/// The VPC of every network, by network id.
pub async fn network_vpcs(db: &AnyPool) -> AddressResult<HashMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, vpc_id FROM networks")
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The zone of one of the account's networks, if it has that network.
pub async fn network_zone(
    db: &AnyPool,
    account_id: &str,
    network_id: &str,
) -> AddressResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT zone_id FROM networks WHERE id = $1 AND account_id = $2")
            .bind(network_id)
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(z,)| z))
}

/// An instance's interfaces as (interface id, network id, private address), primary first.
pub async fn interfaces_of(
    db: &AnyPool,
    instance_id: &str,
) -> AddressResult<Vec<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, network_id, private_ip FROM network_interfaces WHERE instance_id = $1 \
         ORDER BY device_index",
    )
    .bind(instance_id)
    .fetch_all(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_hands_out_all_but_its_network_and_broadcast_addresses() {
        let c = Cidr::parse("203.0.113.0/24").expect("a CIDR");
        let (first, last) = usable_bounds(c);
        assert_eq!(Ipv4Addr::from(first as u32).to_string(), "203.0.113.1");
        assert_eq!(Ipv4Addr::from(last as u32).to_string(), "203.0.113.254");
        let c = Cidr::parse("198.51.100.0/30").expect("a CIDR");
        assert_eq!(usable_bounds(c).1 - usable_bounds(c).0 + 1, 2);
    }

    #[test]
    fn only_live_instances_hold_associations() {
        for live in ["Starting", "Running", "Stopping", "Stopped"] {
            assert!(!is_gone(Some(live)));
        }
        for gone in [None, Some("Destroyed"), Some("Expunging"), Some("Error")] {
            assert!(is_gone(gone));
        }
    }
}
