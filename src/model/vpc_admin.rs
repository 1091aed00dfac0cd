//! Changing VPCs and what hangs off them: VPCs made and deleted by accounts (beside the default
//! one of [`crate::model::network`]), their networks (EC2 subnets, CloudStack tiers), internet
//! gateways, route tables with routes and network associations, and network ACLs.
//!
//! Every VPC has a main route table holding the local route (the VPC's CIDR), associated with
//! each network that has no table of its own, a default network ACL and a default security
//! group. An account's default VPC also has an internet gateway attached and a `0.0.0.0/0`
//! route to it, as on AWS. The functions that change anything run inside the caller's write
//! transaction, so a failure leaves nothing half-made.
//!
//! LIMITATION: routes, gateways and ACLs are bookkeeping; no packet is routed or filtered by
//! them yet. The ACL rules are AWS's fixed default rules (no entries can be added).

use std::net::Ipv4Addr;

use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult};
use crate::model::network::{self, Cidr, Network, Vpc, DEFAULT_GROUP_NAME};
use crate::model::security_group::{self, GroupError};
use crate::model::{flag, new_ec2_id, new_uuid};
use crate::now_ms;
use crate::store::Store;

/// The smallest and largest prefix of a VPC's or network's CIDR, as on AWS.
pub const MIN_PREFIX: u8 = 16;
pub const MAX_PREFIX: u8 = 28;
/// The target of a VPC's own route.
pub const LOCAL: &str = "local";

/// The things of this module, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcThing {
    Vpc,
    Network,
    InternetGateway,
    RouteTable,
    RouteTableAssociation,
    NetworkAcl,
}

impl VpcThing {
    pub fn noun(self) -> &'static str {
        match self {
            Self::Vpc => "VPC",
            Self::Network => "network",
            Self::InternetGateway => "internet gateway",
            Self::RouteTable => "route table",
            Self::RouteTableAssociation => "route table association",
            Self::NetworkAcl => "network ACL",
        }
    }
}

/// What can go wrong changing a VPC; each door names these in its own codes.
#[derive(Debug, thiserror::Error)]
pub enum VpcError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the {noun} '{1}' does not exist", noun = .0.noun())]
    NotFound(VpcThing, String),
    /// Not an IPv4 CIDR block (with its host bits clear).
    #[error("'{0}' is not a valid IPv4 CIDR block")]
    BadCidr(String),
    /// A VPC's CIDR outside /16../28.
    #[error("the CIDR '{0}' is invalid: a VPC's netmask must be between /16 and /28")]
    VpcRange(String),
    /// A network's CIDR outside its VPC's, or outside /16../28.
    #[error("the CIDR '{0}' is invalid: {1}")]
    NetworkRange(String, String),
    /// A network's CIDR overlaps another network of the VPC.
    #[error("the CIDR '{0}' conflicts with the CIDR {2} of the network {1}")]
    NetworkConflict(String, String, String),
    /// Something else still uses the resource (named by its EC2 id).
    #[error("the {noun} '{1}' has dependencies and cannot be deleted: {2}", noun = .0.noun())]
    InUse(VpcThing, String, String),
    /// An attachment or association that is already there.
    #[error("{0}")]
    AlreadyAssociated(String),
    /// The gateway is not attached to that VPC.
    #[error("the internet gateway {0} is not attached to the VPC {1}")]
    NotAttached(String, String),
    #[error("the route table {0} already has a route to {1}")]
    RouteExists(String, String),
    #[error("the route table {0} has no route to {1}")]
    RouteNotFound(String, String),
    /// A value that cannot be used here; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// Cirrus keeps each account's default VPC and its default networks.
    #[error("{0}")]
    KeepDefault(String),
    /// A client token used before for another request.
    #[error("the client token '{0}' was used before for a different request")]
    TokenReused(String),
}

impl From<sqlx::Error> for VpcError {
    fn from(e: sqlx::Error) -> Self {
        Self::Core(CoreError::Store(e))
    }
}

impl From<GroupError> for VpcError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::Core(c) => Self::Core(c),
            other => Self::Core(CoreError::Internal(other.to_string())),
        }
    }
}

pub type VpcResult<T> = Result<T, VpcError>;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InternetGateway {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub vpc_id: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RouteTable {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub is_main: i64,
    pub created_ms: i64,
}

impl RouteTable {
    pub fn is_main(&self) -> bool {
        flag(self.is_main)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Route {
    pub route_table_id: String,
    pub destination: String,
    pub target_kind: String,
    /// The gateway's EC2 id for a gateway route (kept when the gateway goes: a blackhole).
    pub target_id: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Association {
    pub id: String,
    pub ec2_id: String,
    pub route_table_id: String,
    pub network_id: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NetworkAcl {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub is_default: i64,
    pub created_ms: i64,
}

/// Parses a CIDR, refusing anything but an IPv4 block with its host bits clear.
pub fn parse_cidr(text: &str) -> VpcResult<Cidr> {
    Cidr::parse(text.trim()).ok_or_else(|| VpcError::BadCidr(text.to_owned()))
}

fn overlaps(a: Cidr, b: Cidr) -> bool {
    a.contains(Ipv4Addr::from(b.base)) || b.contains(Ipv4Addr::from(a.base))
}

// ---- VPCs ----------------------------------------------------------------------------------

/// Makes the parts every VPC has if they are missing: the main route table with its local
/// route (and, in a default VPC, an attached internet gateway with a `0.0.0.0/0` route to it)
/// and the default network ACL.
pub async fn ensure_parts(db: &mut AnyConnection, vpc: &Vpc) -> CoreResult<()> {
    let main: Option<(String,)> =
        sqlx::query_as("SELECT id FROM route_tables WHERE vpc_id = $1 AND is_main = 1")
            .bind(&vpc.id)
            .fetch_optional(&mut *db)
            .await?;
    if main.is_none() {
        let table = insert_route_table(db, &vpc.account_id, vpc, true).await?;
        if vpc.is_default() {
            let attached: Option<InternetGateway> =
                sqlx::query_as("SELECT * FROM internet_gateways WHERE vpc_id = $1")
                    .bind(&vpc.id)
                    .fetch_optional(&mut *db)
                    .await?;
            let gateway = match attached {
                Some(g) => g,
                None => {
                    let g = create_internet_gateway(db, &vpc.account_id).await?;
                    sqlx::query("UPDATE internet_gateways SET vpc_id = $2 WHERE id = $1")
                        .bind(&g.id)
                        .bind(&vpc.id)
                        .execute(&mut *db)
                        .await?;
                    g
                }
            };
            insert_route(db, &table.id, "0.0.0.0/0", "gateway", Some(&gateway.ec2_id)).await?;
        }
    }
    let acl: Option<(String,)> =
        sqlx::query_as("SELECT id FROM network_acls WHERE vpc_id = $1 AND is_default = 1")
            .bind(&vpc.id)
            .fetch_optional(&mut *db)
            .await?;
    if acl.is_none() {
        sqlx::query(
            "INSERT INTO network_acls (id, ec2_id, account_id, vpc_id, is_default, created_ms) \
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(new_uuid())
        .bind(new_ec2_id("acl"))
        .bind(&vpc.account_id)
        .bind(&vpc.id)
        .bind(now_ms())
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Gives every VPC of the account the parts [`ensure_parts`] makes (VPCs made before route
/// tables existed lack them), and the account its default VPC.
pub async fn ensure_account(store: &Store, account_id: &str) -> CoreResult<()> {
    network::ensure_default_vpc(store, account_id).await?;
    let lacking: Vec<Vpc> = sqlx::query_as(
        "SELECT * FROM vpcs v WHERE v.account_id = $1 AND (NOT EXISTS (SELECT 1 FROM \
         route_tables r WHERE r.vpc_id = v.id AND r.is_main = 1) OR NOT EXISTS (SELECT 1 FROM \
         network_acls a WHERE a.vpc_id = v.id AND a.is_default = 1))",
    )
    .bind(account_id)
    .fetch_all(&store.pool)
    .await?;
    if lacking.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    for vpc in &lacking {
        ensure_parts(&mut tx, vpc).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Makes a VPC with its main route table, default ACL and default security group.
pub async fn create_vpc(db: &mut AnyConnection, account_id: &str, cidr: &str) -> VpcResult<Vpc> {
    let block = parse_cidr(cidr)?;
    if !(MIN_PREFIX..=MAX_PREFIX).contains(&block.prefix) {
        return Err(VpcError::VpcRange(cidr.to_owned()));
    }
    let vpc = Vpc {
        id: new_uuid(),
        ec2_id: new_ec2_id("vpc"),
        account_id: account_id.to_owned(),
        cidr: block.to_string(),
        is_default: 0,
        dns_support: 1,
        dns_hostnames: 0,
        address_usage_metrics: 0,
        state: "available".into(),
        created_ms: now_ms(),
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
    security_group::create(
        db,
        account_id,
        &vpc.id,
        DEFAULT_GROUP_NAME,
        "default VPC security group",
        true,
    )
    .await?;
    ensure_parts(db, &vpc).await?;
    Ok(vpc)
}

/// One of the account's VPCs by EC2 or native id.
pub async fn find_vpc(db: &mut AnyConnection, account_id: &str, id: &str) -> VpcResult<Vpc> {
    let found: Option<Vpc> =
        sqlx::query_as("SELECT * FROM vpcs WHERE account_id = $1 AND (ec2_id = $2 OR id = $2)")
            .bind(account_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    found.ok_or_else(|| VpcError::NotFound(VpcThing::Vpc, id.to_owned()))
}

/// Takes the VPC's row lock, so that checks made after it (overlaps, dependencies) hold until
/// the transaction ends on PostgreSQL too (SQLite writes one at a time anyway).
async fn lock_vpc(db: &mut AnyConnection, vpc_id: &str) -> VpcResult<()> {
    sqlx::query("UPDATE vpcs SET state = state WHERE id = $1")
        .bind(vpc_id)
        .execute(db)
        .await?;
    Ok(())
}

async fn first_id(db: &mut AnyConnection, sql: &str, id: &str) -> VpcResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(sql).bind(id).fetch_optional(db).await?;
    Ok(row.map(|(v,)| v))
}

/// Deletes a VPC that has no networks, attached gateway, extra route tables or extra security
/// groups, with its main route table, ACL and default group.
pub async fn delete_vpc(db: &mut AnyConnection, vpc: &Vpc) -> VpcResult<()> {
    if vpc.is_default() {
        return Err(VpcError::KeepDefault(format!(
            "the VPC {} is the account's default VPC, which Cirrus keeps",
            vpc.ec2_id
        )));
    }
    lock_vpc(db, &vpc.id).await?;
    let checks = [
        (
            "SELECT ec2_id FROM networks WHERE vpc_id = $1 LIMIT 1",
            "it has the subnet",
        ),
        (
            "SELECT ec2_id FROM internet_gateways WHERE vpc_id = $1 LIMIT 1",
            "the internet gateway is attached to it:",
        ),
        (
            "SELECT ec2_id FROM security_groups WHERE vpc_id = $1 AND is_default = 0 LIMIT 1",
            "it has the security group",
        ),
        (
            "SELECT ec2_id FROM route_tables WHERE vpc_id = $1 AND is_main = 0 LIMIT 1",
            "it has the route table",
        ),
    ];
    for (sql, why) in checks {
        if let Some(other) = first_id(db, sql, &vpc.id).await? {
            return Err(VpcError::InUse(
                VpcThing::Vpc,
                vpc.ec2_id.clone(),
                format!("{why} {other}"),
            ));
        }
    }
    for sql in [
        "DELETE FROM routes WHERE route_table_id IN (SELECT id FROM route_tables WHERE vpc_id = $1)",
        "DELETE FROM route_table_associations WHERE route_table_id IN \
         (SELECT id FROM route_tables WHERE vpc_id = $1)",
        "DELETE FROM route_table_requests WHERE vpc_id = $1",
        "DELETE FROM tags WHERE resource_id IN (SELECT id FROM route_tables WHERE vpc_id = $1)",
        "DELETE FROM route_tables WHERE vpc_id = $1",
        "DELETE FROM tags WHERE resource_id IN (SELECT id FROM network_acls WHERE vpc_id = $1)",
        "DELETE FROM network_acls WHERE vpc_id = $1",
        "DELETE FROM security_group_rules WHERE group_id IN \
         (SELECT id FROM security_groups WHERE vpc_id = $1)",
        "DELETE FROM tags WHERE resource_id IN (SELECT id FROM security_groups WHERE vpc_id = $1)",
        "DELETE FROM security_groups WHERE vpc_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM vpcs WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&vpc.id).execute(&mut *db).await?;
    }
    Ok(())
}

/// Sets the VPC's DNS and address-usage flags that are given.
pub async fn modify_vpc(
    db: &mut AnyConnection,
    vpc: &Vpc,
    dns_support: Option<bool>,
    dns_hostnames: Option<bool>,
    address_usage_metrics: Option<bool>,
) -> VpcResult<()> {
    let flag_of = |v: Option<bool>, old: i64| v.map(i64::from).unwrap_or(old);
    sqlx::query(
        "UPDATE vpcs SET dns_support = $2, dns_hostnames = $3, address_usage_metrics = $4 \
         WHERE id = $1",
    )
    .bind(&vpc.id)
    .bind(flag_of(dns_support, vpc.dns_support))
    .bind(flag_of(dns_hostnames, vpc.dns_hostnames))
    .bind(flag_of(address_usage_metrics, vpc.address_usage_metrics))
    .execute(db)
    .await?;
    Ok(())
}

// ---- Networks --------------------------------------------------------------------------------

/// Makes a network (EC2 subnet) in a VPC and zone: its CIDR must lie in the VPC's, be /16../28
/// and overlap no other network of the VPC.
pub async fn create_network(
    db: &mut AnyConnection,
    vpc: &Vpc,
    cidr: &str,
    zone_id: &str,
) -> VpcResult<Network> {
    let block = parse_cidr(cidr)?;
    let outer = parse_cidr(&vpc.cidr)?;
    if !(MIN_PREFIX..=MAX_PREFIX).contains(&block.prefix) {
        return Err(VpcError::NetworkRange(
            cidr.to_owned(),
            "a subnet's netmask must be between /16 and /28".into(),
        ));
    }
    if block.prefix < outer.prefix || !outer.contains(Ipv4Addr::from(block.base)) {
        return Err(VpcError::NetworkRange(
            cidr.to_owned(),
            format!(
                "it is not inside the CIDR {} of the VPC {}",
                vpc.cidr, vpc.ec2_id
            ),
        ));
    }
    lock_vpc(db, &vpc.id).await?;
    let others: Vec<(String, String)> =
        sqlx::query_as("SELECT ec2_id, cidr FROM networks WHERE vpc_id = $1")
            .bind(&vpc.id)
            .fetch_all(&mut *db)
            .await?;
    for (other, other_cidr) in others {
        if Cidr::parse(&other_cidr).is_some_and(|c| overlaps(c, block)) {
            return Err(VpcError::NetworkConflict(
                cidr.to_owned(),
                other,
                other_cidr,
            ));
        }
    }
    Ok(network::insert_network(
        db,
        &vpc.account_id,
        &vpc.id,
        zone_id,
        &block.to_string(),
        false,
    )
    .await?)
}

/// One of the account's networks by EC2 or native id.
pub async fn find_network(
    db: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> VpcResult<Network> {
    network::network(db, account_id, id)
        .await?
        .ok_or_else(|| VpcError::NotFound(VpcThing::Network, id.to_owned()))
}

/// The SQL condition of an instance that still holds its interfaces.
const LIVE_INSTANCE: &str = "i.state NOT IN ('Destroyed', 'Expunging', 'Error')";

/// Deletes a network no live instance uses, with the interfaces of its gone instances and its
/// route table association.
pub async fn delete_network(db: &mut AnyConnection, n: &Network) -> VpcResult<()> {
    if n.is_default() {
        return Err(VpcError::KeepDefault(format!(
            "the subnet {} is a default subnet of the account's default VPC, which Cirrus keeps",
            n.ec2_id
        )));
    }
    lock_vpc(db, &n.vpc_id).await?;
    let sql = format!(
        "SELECT i.ec2_id FROM network_interfaces n JOIN instances i ON i.id = n.instance_id \
         WHERE n.network_id = $1 AND {LIVE_INSTANCE} LIMIT 1"
    );
    if let Some(instance) = first_id(db, &sql, &n.id).await? {
        return Err(VpcError::InUse(
            VpcThing::Network,
            n.ec2_id.clone(),
            format!("the instance {instance} has an interface in it"),
        ));
    }
    for sql in [
        "DELETE FROM interface_security_groups WHERE interface_id IN \
         (SELECT id FROM network_interfaces WHERE network_id = $1)",
        "DELETE FROM tags WHERE resource_id IN \
         (SELECT id FROM network_interfaces WHERE network_id = $1)",
        "DELETE FROM network_interfaces WHERE network_id = $1",
        "DELETE FROM route_table_associations WHERE network_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM networks WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&n.id).execute(&mut *db).await?;
    }
    Ok(())
}

/// Whether instances launched into the network get a public address.
pub async fn set_map_public_ip(db: &mut AnyConnection, n: &Network, on: bool) -> VpcResult<()> {
    sqlx::query("UPDATE networks SET map_public_ip = $2 WHERE id = $1")
        .bind(&n.id)
        .bind(i64::from(on))
        .execute(db)
        .await?;
    Ok(())
}

// ---- Internet gateways -----------------------------------------------------------------------

/// Makes a detached internet gateway.
pub async fn create_internet_gateway(
    db: &mut AnyConnection,
    account_id: &str,
) -> CoreResult<InternetGateway> {
    let g = InternetGateway {
        id: new_uuid(),
        ec2_id: new_ec2_id("igw"),
        account_id: account_id.to_owned(),
        vpc_id: None,
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO internet_gateways (id, ec2_id, account_id, vpc_id, created_ms) \
         VALUES ($1, $2, $3, NULL, $4)",
    )
    .bind(&g.id)
    .bind(&g.ec2_id)
    .bind(&g.account_id)
    .bind(g.created_ms)
    .execute(db)
    .await?;
    Ok(g)
}

pub async fn find_internet_gateway(
    db: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> VpcResult<InternetGateway> {
    let found: Option<InternetGateway> = sqlx::query_as(
        "SELECT * FROM internet_gateways WHERE account_id = $1 AND (ec2_id = $2 OR id = $2)",
    )
    .bind(account_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    found.ok_or_else(|| VpcError::NotFound(VpcThing::InternetGateway, id.to_owned()))
}

/// Attaches a detached gateway to a VPC that has none.
pub async fn attach_internet_gateway(
    db: &mut AnyConnection,
    g: &InternetGateway,
    vpc: &Vpc,
) -> VpcResult<()> {
    lock_vpc(db, &vpc.id).await?;
    let current: Option<InternetGateway> =
        sqlx::query_as("SELECT * FROM internet_gateways WHERE id = $1")
            .bind(&g.id)
            .fetch_optional(&mut *db)
            .await?;
    if let Some(other_vpc) = current.and_then(|c| c.vpc_id) {
        let name = first_id(db, "SELECT ec2_id FROM vpcs WHERE id = $1", &other_vpc)
            .await?
            .unwrap_or(other_vpc);
        return Err(VpcError::AlreadyAssociated(format!(
            "resource {} is already attached to network {name}",
            g.ec2_id
        )));
    }
    if let Some(other) = first_id(
        db,
        "SELECT ec2_id FROM internet_gateways WHERE vpc_id = $1",
        &vpc.id,
    )
    .await?
    {
        return Err(VpcError::AlreadyAssociated(format!(
            "network {} already has an internet gateway attached: {other}",
            vpc.ec2_id
        )));
    }
    sqlx::query("UPDATE internet_gateways SET vpc_id = $2 WHERE id = $1")
        .bind(&g.id)
        .bind(&vpc.id)
        .execute(db)
        .await?;
    Ok(())
}

/// Detaches a gateway from the VPC it is attached to; routes to it become blackholes.
pub async fn detach_internet_gateway(
    db: &mut AnyConnection,
    g: &InternetGateway,
    vpc: &Vpc,
) -> VpcResult<()> {
    lock_vpc(db, &vpc.id).await?;
    let done =
        sqlx::query("UPDATE internet_gateways SET vpc_id = NULL WHERE id = $1 AND vpc_id = $2")
            .bind(&g.id)
            .bind(&vpc.id)
            .execute(db)
            .await?;
    if done.rows_affected() == 0 {
        return Err(VpcError::NotAttached(g.ec2_id.clone(), vpc.ec2_id.clone()));
    }
    Ok(())
}

/// Deletes a detached gateway.
pub async fn delete_internet_gateway(db: &mut AnyConnection, g: &InternetGateway) -> VpcResult<()> {
    let attached = first_id(
        db,
        "SELECT v.ec2_id FROM internet_gateways g JOIN vpcs v ON v.id = g.vpc_id WHERE g.id = $1",
        &g.id,
    )
    .await?;
    if let Some(vpc) = attached {
        return Err(VpcError::InUse(
            VpcThing::InternetGateway,
            g.ec2_id.clone(),
            format!("it is attached to the VPC {vpc}"),
        ));
    }
    for sql in [
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM internet_gateways WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&g.id).execute(&mut *db).await?;
    }
    Ok(())
}

/// The account's gateways, oldest first, each with the EC2 id of the VPC it is attached to.
pub async fn internet_gateways_of_account(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<(InternetGateway, Option<String>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        gateway: InternetGateway,
        vpc_ec2_id: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT g.*, v.ec2_id AS vpc_ec2_id FROM internet_gateways g \
         LEFT JOIN vpcs v ON v.id = g.vpc_id WHERE g.account_id = $1 ORDER BY g.created_ms, g.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.gateway, r.vpc_ec2_id))
        .collect())
}

// ---- Route tables ----------------------------------------------------------------------------

async fn insert_route_table(
    db: &mut AnyConnection,
    account_id: &str,
    vpc: &Vpc,
    main: bool,
) -> CoreResult<RouteTable> {
    let t = RouteTable {
        id: new_uuid(),
        ec2_id: new_ec2_id("rtb"),
        account_id: account_id.to_owned(),
        vpc_id: vpc.id.clone(),
        is_main: i64::from(main),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO route_tables (id, ec2_id, account_id, vpc_id, is_main, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.id)
    .bind(&t.ec2_id)
    .bind(&t.account_id)
    .bind(&t.vpc_id)
    .bind(t.is_main)
    .bind(t.created_ms)
    .execute(&mut *db)
    .await?;
    insert_route(db, &t.id, &vpc.cidr, LOCAL, None).await?;
    if main {
        sqlx::query(
            "INSERT INTO route_table_associations (id, ec2_id, route_table_id, network_id, \
             created_ms) VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(new_uuid())
        .bind(new_ec2_id("rtbassoc"))
        .bind(&t.id)
        .bind(t.created_ms)
        .execute(&mut *db)
        .await?;
    }
    Ok(t)
}

async fn insert_route(
    db: &mut AnyConnection,
    table_id: &str,
    destination: &str,
    kind: &str,
    target: Option<&str>,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO routes (route_table_id, destination, target_kind, target_id, created_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(table_id)
    .bind(destination)
    .bind(kind)
    .bind(target)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// Makes a route table in a VPC, holding the local route. With a client token, the same token
/// for the same VPC answers the table it made before.
pub async fn create_route_table(
    db: &mut AnyConnection,
    vpc: &Vpc,
    client_token: Option<&str>,
) -> VpcResult<RouteTable> {
    if let Some(token) = client_token {
        let before: Option<(String, String)> = sqlx::query_as(
            "SELECT vpc_id, route_table_id FROM route_table_requests \
             WHERE account_id = $1 AND client_token = $2",
        )
        .bind(&vpc.account_id)
        .bind(token)
        .fetch_optional(&mut *db)
        .await?;
        if let Some((vpc_id, table_id)) = before {
            if vpc_id != vpc.id {
                return Err(VpcError::TokenReused(token.to_owned()));
            }
            let table: Option<RouteTable> =
                sqlx::query_as("SELECT * FROM route_tables WHERE id = $1")
                    .bind(&table_id)
                    .fetch_optional(&mut *db)
                    .await?;
            // A table deleted since: the token made it once, and is not reused for another.
            return table.ok_or_else(|| VpcError::TokenReused(token.to_owned()));
        }
    }
    let t = insert_route_table(db, &vpc.account_id, vpc, false).await?;
    if let Some(token) = client_token {
        sqlx::query(
            "INSERT INTO route_table_requests (account_id, client_token, vpc_id, route_table_id, \
             created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&vpc.account_id)
        .bind(token)
        .bind(&vpc.id)
        .bind(&t.id)
        .bind(t.created_ms)
        .execute(&mut *db)
        .await?;
    }
    Ok(t)
}

pub async fn find_route_table(
    db: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> VpcResult<RouteTable> {
    let found: Option<RouteTable> = sqlx::query_as(
        "SELECT * FROM route_tables WHERE account_id = $1 AND (ec2_id = $2 OR id = $2)",
    )
    .bind(account_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    found.ok_or_else(|| VpcError::NotFound(VpcThing::RouteTable, id.to_owned()))
}

/// Deletes a route table that is not the main one and has no associations.
pub async fn delete_route_table(db: &mut AnyConnection, t: &RouteTable) -> VpcResult<()> {
    if t.is_main() {
        return Err(VpcError::InUse(
            VpcThing::RouteTable,
            t.ec2_id.clone(),
            "it is the main route table of its VPC".into(),
        ));
    }
    lock_vpc(db, &t.vpc_id).await?;
    let sql = "SELECT n.ec2_id FROM route_table_associations a JOIN networks n \
               ON n.id = a.network_id WHERE a.route_table_id = $1 LIMIT 1";
    if let Some(subnet) = first_id(db, sql, &t.id).await? {
        return Err(VpcError::InUse(
            VpcThing::RouteTable,
            t.ec2_id.clone(),
            format!("it is associated with the subnet {subnet}"),
        ));
    }
    for sql in [
        "DELETE FROM routes WHERE route_table_id = $1",
        "DELETE FROM route_table_associations WHERE route_table_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM route_tables WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&t.id).execute(&mut *db).await?;
    }
    Ok(())
}

/// Associates a network of the table's VPC that has no table of its own; answers the
/// association.
pub async fn associate(
    db: &mut AnyConnection,
    t: &RouteTable,
    n: &Network,
) -> VpcResult<Association> {
    if n.vpc_id != t.vpc_id {
        return Err(VpcError::Invalid(format!(
            "the route table {} and the subnet {} belong to different networks",
            t.ec2_id, n.ec2_id
        )));
    }
    lock_vpc(db, &t.vpc_id).await?;
    let sql = "SELECT r.ec2_id FROM route_table_associations a JOIN route_tables r \
               ON r.id = a.route_table_id WHERE a.network_id = $1";
    if let Some(other) = first_id(db, sql, &n.id).await? {
        return Err(VpcError::AlreadyAssociated(format!(
            "the subnet {} is already associated with the route table {other}",
            n.ec2_id
        )));
    }
    let a = Association {
        id: new_uuid(),
        ec2_id: new_ec2_id("rtbassoc"),
        route_table_id: t.id.clone(),
        network_id: Some(n.id.clone()),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO route_table_associations (id, ec2_id, route_table_id, network_id, \
         created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&a.id)
    .bind(&a.ec2_id)
    .bind(&a.route_table_id)
    .bind(&a.network_id)
    .bind(a.created_ms)
    .execute(db)
    .await?;
    Ok(a)
}

/// Removes a network's association (by its EC2 id); the network falls back to the main table.
pub async fn disassociate(
    db: &mut AnyConnection,
    account_id: &str,
    association_id: &str,
) -> VpcResult<()> {
    let found: Option<Association> = sqlx::query_as(
        "SELECT a.* FROM route_table_associations a JOIN route_tables r \
         ON r.id = a.route_table_id WHERE a.ec2_id = $1 AND r.account_id = $2",
    )
    .bind(association_id)
    .bind(account_id)
    .fetch_optional(&mut *db)
    .await?;
    let a = found.ok_or_else(|| {
        VpcError::NotFound(VpcThing::RouteTableAssociation, association_id.to_owned())
    })?;
    if a.network_id.is_none() {
        return Err(VpcError::Invalid(format!(
            "the association {association_id} is the main route table association of its VPC, \
             which cannot be removed"
        )));
    }
    sqlx::query("DELETE FROM route_table_associations WHERE id = $1")
        .bind(&a.id)
        .execute(db)
        .await?;
    Ok(())
}

/// How a route is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteChange {
    Create,
    Replace,
    Delete,
}

/// Creates, replaces or deletes the route of a table to a destination CIDR. A created or
/// replaced route goes to `gateway`, an internet gateway attached to the table's VPC.
pub async fn change_route(
    db: &mut AnyConnection,
    t: &RouteTable,
    destination: &str,
    gateway: Option<&InternetGateway>,
    change: RouteChange,
) -> VpcResult<()> {
    let dest = parse_cidr(destination)?.to_string();
    lock_vpc(db, &t.vpc_id).await?;
    let existing: Option<Route> =
        sqlx::query_as("SELECT * FROM routes WHERE route_table_id = $1 AND destination = $2")
            .bind(&t.id)
            .bind(&dest)
            .fetch_optional(&mut *db)
            .await?;
    match (change, &existing) {
        (RouteChange::Create, Some(_)) => {
            return Err(VpcError::RouteExists(t.ec2_id.clone(), dest));
        }
        (RouteChange::Replace | RouteChange::Delete, None) => {
            return Err(VpcError::RouteNotFound(t.ec2_id.clone(), dest));
        }
        (RouteChange::Replace | RouteChange::Delete, Some(r)) if r.target_kind == LOCAL => {
            return Err(VpcError::Invalid(format!(
                "the route to {dest} in the route table {} is the VPC's local route, which \
                 cannot be {}",
                t.ec2_id,
                if change == RouteChange::Delete {
                    "deleted"
                } else {
                    "replaced"
                }
            )));
        }
        _ => {}
    }
    if change == RouteChange::Delete {
        sqlx::query("DELETE FROM routes WHERE route_table_id = $1 AND destination = $2")
            .bind(&t.id)
            .bind(&dest)
            .execute(db)
            .await?;
        return Ok(());
    }
    let g = gateway.ok_or_else(|| {
        VpcError::Invalid("a route needs a target: give the internet gateway to route to".into())
    })?;
    if g.vpc_id.as_deref() != Some(t.vpc_id.as_str()) {
        return Err(VpcError::Invalid(format!(
            "the route table {} and the internet gateway {} belong to different networks",
            t.ec2_id, g.ec2_id
        )));
    }
    if change == RouteChange::Create {
        insert_route(db, &t.id, &dest, "gateway", Some(&g.ec2_id)).await?;
    } else {
        sqlx::query(
            "UPDATE routes SET target_kind = 'gateway', target_id = $3 \
             WHERE route_table_id = $1 AND destination = $2",
        )
        .bind(&t.id)
        .bind(&dest)
        .bind(&g.ec2_id)
        .execute(db)
        .await?;
    }
    Ok(())
}

/// A route as listed: active while its gateway is attached to the table's VPC.
#[derive(Debug, Clone)]
pub struct RouteListing {
    pub destination: String,
    /// `local` or the gateway's EC2 id.
    pub target: String,
    pub active: bool,
}

/// An association as listed.
#[derive(Debug, Clone)]
pub struct AssociationListing {
    pub ec2_id: String,
    pub network_ec2_id: Option<String>,
}

/// A route table with what the doors show of it.
#[derive(Debug, Clone)]
pub struct RouteTableListing {
    pub table: RouteTable,
    pub vpc_ec2_id: String,
    pub routes: Vec<RouteListing>,
    pub associations: Vec<AssociationListing>,
}

/// The account's route tables, oldest first, with routes (by destination) and associations.
pub async fn route_tables_of_account(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<RouteTableListing>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        table: RouteTable,
        vpc_ec2_id: String,
    }
    let tables: Vec<Row> = sqlx::query_as(
        "SELECT r.*, v.ec2_id AS vpc_ec2_id FROM route_tables r JOIN vpcs v ON v.id = r.vpc_id \
         WHERE r.account_id = $1 ORDER BY r.created_ms, r.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    let routes: Vec<Route> = sqlx::query_as(
        "SELECT o.* FROM routes o JOIN route_tables r ON r.id = o.route_table_id \
         WHERE r.account_id = $1 ORDER BY o.route_table_id, CASE WHEN o.target_kind = 'local' THEN 0 ELSE 1 END, \
         o.created_ms, o.destination",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    let assocs: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT a.route_table_id, a.ec2_id, n.ec2_id FROM route_table_associations a \
         JOIN route_tables r ON r.id = a.route_table_id LEFT JOIN networks n \
         ON n.id = a.network_id WHERE r.account_id = $1 ORDER BY a.created_ms, a.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    let gateways: Vec<(String, String)> = sqlx::query_as(
        "SELECT ec2_id, vpc_id FROM internet_gateways WHERE account_id = $1 \
         AND vpc_id IS NOT NULL",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(tables
        .into_iter()
        .map(|row| {
            let t = row.table;
            let routes = routes
                .iter()
                .filter(|r| r.route_table_id == t.id)
                .map(|r| {
                    let target = r.target_id.clone().unwrap_or_else(|| LOCAL.to_owned());
                    let active = r.target_kind == LOCAL
                        || gateways.iter().any(|(g, v)| *g == target && *v == t.vpc_id);
                    RouteListing {
                        destination: r.destination.clone(),
                        target,
                        active,
                    }
                })
                .collect();
            let associations = assocs
                .iter()
                .filter(|(table, _, _)| *table == t.id)
                .map(|(_, id, net)| AssociationListing {
                    ec2_id: id.clone(),
                    network_ec2_id: net.clone(),
                })
                .collect();
            RouteTableListing {
                vpc_ec2_id: row.vpc_ec2_id,
                table: t,
                routes,
                associations,
            }
        })
        .collect())
}

// ---- Network ACLs ----------------------------------------------------------------------------

/// An ACL with the EC2 ids of its VPC and of the networks it applies to.
#[derive(Debug, Clone)]
pub struct AclListing {
    pub acl: NetworkAcl,
    pub vpc_ec2_id: String,
    /// (association id, network EC2 id) of each network of the VPC.
    pub networks: Vec<(String, String)>,
}

/// The account's network ACLs. Every network is associated with its VPC's default ACL; the
/// association's id is derived from the network's, so it stays put.
pub async fn network_acls_of_account(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<AclListing>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        acl: NetworkAcl,
        vpc_ec2_id: String,
    }
    let acls: Vec<Row> = sqlx::query_as(
        "SELECT a.*, v.ec2_id AS vpc_ec2_id FROM network_acls a JOIN vpcs v ON v.id = a.vpc_id \
         WHERE a.account_id = $1 ORDER BY a.created_ms, a.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    let nets = network::networks_of_account(db, account_id).await?;
    Ok(acls
        .into_iter()
        .map(|row| {
            let networks = nets
                .iter()
                .filter(|n| n.vpc_id == row.acl.vpc_id && flag(row.acl.is_default))
                .map(|n| {
                    let digits = n.ec2_id.split_once('-').map(|(_, d)| d).unwrap_or("");
                    (format!("aclassoc-{digits}"), n.ec2_id.clone())
                })
                .collect();
            AclListing {
                acl: row.acl,
                vpc_ec2_id: row.vpc_ec2_id,
                networks,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_overlap() {
        let c = |s: &str| Cidr::parse(s).expect("a CIDR");
        assert!(overlaps(c("10.0.0.0/16"), c("10.0.1.0/24")));
        assert!(overlaps(c("10.0.1.0/24"), c("10.0.0.0/16")));
        assert!(!overlaps(c("10.0.1.0/24"), c("10.0.2.0/24")));
        assert!(matches!(
            parse_cidr("10.0.0.1/16"),
            Err(VpcError::BadCidr(_))
        ));
    }
}
