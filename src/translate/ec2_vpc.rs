//! The EC2 port's networking half, over [`crate::model::vpc_admin`]: VPCs and subnets made and
//! deleted, internet gateways, route tables, network ACLs and DescribeNetworkInterfaces' view of
//! instances' interfaces. Core errors become EC2's codes in [`vpc_error`].
//!
//! A mutation runs in one write transaction; with DryRun the whole change is made and then
//! rolled back, so DryRun answers every error the real request would.

use cirrus_ec2::error::{Code, Ec2Error, NetCode, Resource};
use cirrus_ec2::types::Tag;
use cirrus_ec2::vpc_types::{
    InterfaceView, InternetGateway, NetworkAcl, NetworkAclAssociation, Route, RouteAction,
    RouteChange, RouteTable, RouteTableAssociation, SubnetRequest, VpcAttributeChange,
};
use cirrus_ec2::{Caller, Ec2Port, InstanceState, Subnet, Vpc};
use sqlx::AnyConnection;

use super::ec2::{availability_zones, core, sentence, store, to_tags};
use super::Translator;
use crate::model::infra;
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::model::vpc_admin::{self as va, VpcError, VpcThing};
use crate::store::WriteTx;

/// An EC2 error for a core networking error.
pub(super) fn vpc_error(e: VpcError) -> Ec2Error {
    match e {
        VpcError::Core(c) => core(c),
        VpcError::NotFound(thing, id) => not_found(thing, &id),
        VpcError::BadCidr(c) => Ec2Error::invalid_value(format!(
            "Value ({c}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
        )),
        VpcError::VpcRange(c) => Ec2Error::new(
            Code::Net(NetCode::VpcRange),
            format!("The CIDR '{c}' is invalid: a VPC's netmask must be between /16 and /28."),
        ),
        VpcError::NetworkRange(c, why) => Ec2Error::new(
            Code::Net(NetCode::SubnetRange),
            format!("The CIDR '{c}' is invalid: {why}."),
        ),
        VpcError::NetworkConflict(c, other, other_cidr) => Ec2Error::new(
            Code::Net(NetCode::SubnetConflict),
            format!("The CIDR '{c}' conflicts with another subnet: {other} ({other_cidr})."),
        ),
        VpcError::InUse(thing, id, why) => Ec2Error::new(
            Code::DependencyViolation,
            format!(
                "The {} '{id}' has dependencies and cannot be deleted: {why}.",
                wire_noun(thing)
            ),
        ),
        VpcError::AlreadyAssociated(m) => Ec2Error::new(Code::AlreadyAssociated, sentence(&m)),
        VpcError::NotAttached(g, v) => Ec2Error::new(
            Code::Net(NetCode::GatewayNotAttached),
            format!("Resource {g} is not attached to network {v}."),
        ),
        VpcError::RouteExists(t, d) => Ec2Error::new(
            Code::Net(NetCode::RouteAlreadyExists),
            format!("The route identified by {d} already exists in the route table {t}."),
        ),
        VpcError::RouteNotFound(t, d) => Ec2Error::new(
            Code::Net(NetCode::RouteNotFound),
            format!("The route identified by {d} does not exist in the route table {t}."),
        ),
        VpcError::Invalid(m) => Ec2Error::invalid_value(sentence(&m)),
        VpcError::KeepDefault(m) => Ec2Error::new(Code::OperationNotPermitted, sentence(&m)),
        VpcError::TokenReused(t) => Ec2Error::new(
            Code::IdempotentParameterMismatch,
            format!("The client token '{t}' was used before for a request with other parameters."),
        ),
    }
}

fn wire_noun(thing: VpcThing) -> &'static str {
    match thing {
        VpcThing::Vpc => "vpc",
        VpcThing::Network => "subnet",
        VpcThing::InternetGateway => "internetGateway",
        VpcThing::RouteTable => "routeTable",
        VpcThing::RouteTableAssociation => "association",
        VpcThing::NetworkAcl => "networkAcl",
    }
}

fn not_found(thing: VpcThing, id: &str) -> Ec2Error {
    let code = match thing {
        VpcThing::Vpc => Code::NotFound(Resource::Vpc),
        VpcThing::Network => Code::NotFound(Resource::Subnet),
        VpcThing::InternetGateway => Code::Net(NetCode::InternetGatewayNotFound),
        VpcThing::RouteTable => Code::Net(NetCode::RouteTableNotFound),
        VpcThing::RouteTableAssociation => Code::AssociationNotFound,
        VpcThing::NetworkAcl => Code::Net(NetCode::NetworkAclNotFound),
    };
    Ec2Error::new(
        code,
        format!("The {} ID '{id}' does not exist", wire_noun(thing)),
    )
}

/// Commits, or with DryRun rolls everything back and answers DryRunOperation.
async fn finish(tx: WriteTx, dry_run: bool) -> Result<(), Ec2Error> {
    if dry_run {
        drop(tx);
        return Err(Ec2Error::dry_run());
    }
    tx.commit().await.map_err(store)
}

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

async fn put_tags(
    db: &mut AnyConnection,
    account_id: &str,
    kind: TaggedKind,
    id: &str,
    ec2_id: &str,
    tags: &[Tag],
) -> Result<(), Ec2Error> {
    if tags.is_empty() {
        return Ok(());
    }
    let r = TaggedResource {
        kind,
        id: id.to_owned(),
        ec2_id: ec2_id.to_owned(),
    };
    tag::set(db, account_id, &[r], &pairs(tags))
        .await
        .map_err(core)
}

/// Resolves a gateway, route table or ACL id for CreateTags/DeleteTags.
pub(super) async fn resolve_tagged(
    db: &mut AnyConnection,
    caller: &Caller,
    id: &str,
) -> Result<TaggedResource, Ec2Error> {
    let prefix = id.split_once('-').map(|(p, _)| p).unwrap_or("");
    let (kind, table, thing) = match prefix {
        "igw" => (
            TaggedKind::InternetGateway,
            "internet_gateways",
            VpcThing::InternetGateway,
        ),
        "rtb" => (TaggedKind::RouteTable, "route_tables", VpcThing::RouteTable),
        _ => (TaggedKind::NetworkAcl, "network_acls", VpcThing::NetworkAcl),
    };
    let sql = format!("SELECT id FROM {table} WHERE ec2_id = $1 AND account_id = $2");
    let found: Option<(String,)> = sqlx::query_as(&sql)
        .bind(id)
        .bind(&caller.account_id)
        .fetch_optional(&mut *db)
        .await
        .map_err(store)?;
    let (native,) = found.ok_or_else(|| not_found(thing, id))?;
    Ok(TaggedResource {
        kind,
        id: native,
        ec2_id: id.to_owned(),
    })
}

impl Translator {
    async fn write(&self) -> Result<WriteTx, Ec2Error> {
        self.cloud.store.begin_write().await.map_err(store)
    }

    async fn ensure(&self, caller: &Caller) -> Result<(), Ec2Error> {
        va::ensure_account(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)
    }

    pub(super) async fn vpc_create(
        &self,
        caller: &Caller,
        cidr: &str,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<Vpc, Ec2Error> {
        self.ensure(caller).await?;
        let mut tx = self.write().await?;
        let v = va::create_vpc(&mut tx, &caller.account_id, cidr)
            .await
            .map_err(vpc_error)?;
        put_tags(
            &mut tx,
            &caller.account_id,
            TaggedKind::Vpc,
            &v.id,
            &v.ec2_id,
            tags,
        )
        .await?;
        finish(tx, dry_run).await?;
        self.vpcs(caller)
            .await?
            .into_iter()
            .find(|x| x.vpc_id == v.ec2_id)
            .ok_or_else(|| Ec2Error::internal(format!("the new VPC {} is not listed", v.ec2_id)))
    }

    pub(super) async fn vpc_delete(
        &self,
        caller: &Caller,
        id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.ensure(caller).await?;
        let mut tx = self.write().await?;
        let v = va::find_vpc(&mut tx, &caller.account_id, id)
            .await
            .map_err(vpc_error)?;
        va::delete_vpc(&mut tx, &v).await.map_err(vpc_error)?;
        finish(tx, dry_run).await
    }

    pub(super) async fn vpc_modify(
        &self,
        caller: &Caller,
        id: &str,
        change: VpcAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.ensure(caller).await?;
        let mut tx = self.write().await?;
        let v = va::find_vpc(&mut tx, &caller.account_id, id)
            .await
            .map_err(vpc_error)?;
        va::modify_vpc(
            &mut tx,
            &v,
            change.dns_support,
            change.dns_hostnames,
            change.address_usage_metrics,
        )
        .await
        .map_err(vpc_error)?;
        finish(tx, false).await
    }

    /// The zone a new subnet goes to: by name, by zone id, or the oldest zone.
    async fn subnet_zone(&self, req: &SubnetRequest) -> Result<String, Ec2Error> {
        let zones = infra::list_zones(&self.cloud.store.pool)
            .await
            .map_err(core)?;
        let names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
        let bad = |param: &str, value: &str| {
            Ec2Error::invalid_value(format!(
                "Value ({value}) for parameter {param} is invalid. Subnets can currently only be \
                 created in the following availability zones: {}.",
                names.join(", ")
            ))
        };
        let azs = availability_zones(zones.clone());
        let name = match (&req.availability_zone, &req.availability_zone_id) {
            (Some(n), _) => n.clone(),
            (None, Some(zid)) => azs
                .iter()
                .find(|a| a.zone_id == *zid)
                .map(|a| a.name.clone())
                .ok_or_else(|| bad("availabilityZoneId", zid))?,
            (None, None) => {
                let mut by_age: Vec<(i64, String)> = zones
                    .iter()
                    .map(|z| (z.created_ms, z.name.clone()))
                    .collect();
                by_age.sort();
                by_age
                    .into_iter()
                    .next()
                    .map(|(_, n)| n)
                    .ok_or_else(|| Ec2Error::internal("the cloud has no zone"))?
            }
        };
        zones
            .iter()
            .find(|z| z.name == name)
            .map(|z| z.id.clone())
            .ok_or_else(|| bad("availabilityZone", &name))
    }

    pub(super) async fn subnet_create(
        &self,
        caller: &Caller,
        req: &SubnetRequest,
        dry_run: bool,
    ) -> Result<Subnet, Ec2Error> {
        self.ensure(caller).await?;
        let zone_id = self.subnet_zone(req).await?;
        let mut tx = self.write().await?;
        let v = va::find_vpc(&mut tx, &caller.account_id, &req.vpc_id)
            .await
            .map_err(vpc_error)?;
        let n = va::create_network(&mut tx, &v, &req.cidr, &zone_id)
            .await
            .map_err(vpc_error)?;
        put_tags(
            &mut tx,
            &caller.account_id,
            TaggedKind::Network,
            &n.id,
            &n.ec2_id,
            &req.tags,
        )
        .await?;
        finish(tx, dry_run).await?;
        self.subnets(caller)
            .await?
            .into_iter()
            .find(|s| s.subnet_id == n.ec2_id)
            .ok_or_else(|| Ec2Error::internal(format!("the new subnet {} is not listed", n.ec2_id)))
    }

    pub(super) async fn subnet_delete(
        &self,
        caller: &Caller,
        id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let mut tx = self.write().await?;
        let n = va::find_network(&mut tx, &caller.account_id, id)
            .await
            .map_err(vpc_error)?;
        va::delete_network(&mut tx, &n).await.map_err(vpc_error)?;
        finish(tx, dry_run).await
    }

    pub(super) async fn subnet_modify(
        &self,
        caller: &Caller,
        id: &str,
        map_public_ip: Option<bool>,
    ) -> Result<(), Ec2Error> {
        let mut tx = self.write().await?;
        let n = va::find_network(&mut tx, &caller.account_id, id)
            .await
            .map_err(vpc_error)?;
        if let Some(on) = map_public_ip {
            va::set_map_public_ip(&mut tx, &n, on)
                .await
                .map_err(vpc_error)?;
        }
        finish(tx, false).await
    }

    pub(super) async fn gateway_views(
        &self,
        caller: &Caller,
    ) -> Result<Vec<InternetGateway>, Ec2Error> {
        self.ensure(caller).await?;
        let pool = &self.cloud.store.pool;
        let rows = va::internet_gateways_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::InternetGateway)
            .await
            .map_err(core)?;
        Ok(rows
            .into_iter()
            .map(|(g, vpc)| InternetGateway {
                tags: to_tags(tags.remove(&g.id).unwrap_or_default()),
                internet_gateway_id: g.ec2_id,
                owner_id: caller.account_number.clone(),
                vpc_id: vpc,
            })
            .collect())
    }

    pub(super) async fn gateway_create(
        &self,
        caller: &Caller,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<InternetGateway, Ec2Error> {
        let mut tx = self.write().await?;
        let g = va::create_internet_gateway(&mut tx, &caller.account_id)
            .await
            .map_err(core)?;
        put_tags(
            &mut tx,
            &caller.account_id,
            TaggedKind::InternetGateway,
            &g.id,
            &g.ec2_id,
            tags,
        )
        .await?;
        finish(tx, dry_run).await?;
        Ok(InternetGateway {
            internet_gateway_id: g.ec2_id,
            owner_id: caller.account_number.clone(),
            vpc_id: None,
            tags: tags.to_vec(),
        })
    }

    pub(super) async fn gateway_attach(
        &self,
        caller: &Caller,
        gateway_id: &str,
        vpc_id: &str,
        attach: bool,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.ensure(caller).await?;
        let mut tx = self.write().await?;
        let g = va::find_internet_gateway(&mut tx, &caller.account_id, gateway_id)
            .await
            .map_err(vpc_error)?;
        let v = va::find_vpc(&mut tx, &caller.account_id, vpc_id)
            .await
            .map_err(vpc_error)?;
        if attach {
            va::attach_internet_gateway(&mut tx, &g, &v).await
        } else {
            va::detach_internet_gateway(&mut tx, &g, &v).await
        }
        .map_err(vpc_error)?;
        finish(tx, dry_run).await
    }

    pub(super) async fn gateway_delete(
        &self,
        caller: &Caller,
        gateway_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let mut tx = self.write().await?;
        let g = va::find_internet_gateway(&mut tx, &caller.account_id, gateway_id)
            .await
            .map_err(vpc_error)?;
        va::delete_internet_gateway(&mut tx, &g)
            .await
            .map_err(vpc_error)?;
        finish(tx, dry_run).await
    }

    pub(super) async fn route_table_views(
        &self,
        caller: &Caller,
    ) -> Result<Vec<RouteTable>, Ec2Error> {
        self.ensure(caller).await?;
        let pool = &self.cloud.store.pool;
        let rows = va::route_tables_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::RouteTable)
            .await
            .map_err(core)?;
        Ok(rows
            .into_iter()
            .map(|r| RouteTable {
                tags: to_tags(tags.remove(&r.table.id).unwrap_or_default()),
                route_table_id: r.table.ec2_id.clone(),
                vpc_id: r.vpc_ec2_id,
                owner_id: caller.account_number.clone(),
                routes: r
                    .routes
                    .into_iter()
                    .map(|x| Route {
                        origin: if x.target == va::LOCAL {
                            "CreateRouteTable".into()
                        } else {
                            "CreateRoute".into()
                        },
                        state: if x.active { "active" } else { "blackhole" }.into(),
                        destination_cidr: x.destination,
                        gateway_id: x.target,
                    })
                    .collect(),
                associations: r
                    .associations
                    .into_iter()
                    .map(|a| RouteTableAssociation {
                        main: a.network_ec2_id.is_none(),
                        association_id: a.ec2_id,
                        subnet_id: a.network_ec2_id,
                    })
                    .collect(),
            })
            .collect())
    }

    pub(super) async fn route_table_create(
        &self,
        caller: &Caller,
        vpc_id: &str,
        client_token: Option<&str>,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<RouteTable, Ec2Error> {
        self.ensure(caller).await?;
        let mut tx = self.write().await?;
        let v = va::find_vpc(&mut tx, &caller.account_id, vpc_id)
            .await
            .map_err(vpc_error)?;
        let t = va::create_route_table(&mut tx, &v, client_token)
            .await
            .map_err(vpc_error)?;
        put_tags(
            &mut tx,
            &caller.account_id,
            TaggedKind::RouteTable,
            &t.id,
            &t.ec2_id,
            tags,
        )
        .await?;
        finish(tx, dry_run).await?;
        self.route_table_views(caller)
            .await?
            .into_iter()
            .find(|x| x.route_table_id == t.ec2_id)
            .ok_or_else(|| {
                Ec2Error::internal(format!("the new route table {} is not listed", t.ec2_id))
            })
    }

    pub(super) async fn route_table_delete(
        &self,
        caller: &Caller,
        id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let mut tx = self.write().await?;
        let t = va::find_route_table(&mut tx, &caller.account_id, id)
            .await
            .map_err(vpc_error)?;
        va::delete_route_table(&mut tx, &t)
            .await
            .map_err(vpc_error)?;
        finish(tx, dry_run).await
    }

    pub(super) async fn route_table_associate(
        &self,
        caller: &Caller,
        table_id: &str,
        subnet_id: &str,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let mut tx = self.write().await?;
        let t = va::find_route_table(&mut tx, &caller.account_id, table_id)
            .await
            .map_err(vpc_error)?;
        let n = va::find_network(&mut tx, &caller.account_id, subnet_id)
            .await
            .map_err(vpc_error)?;
        let a = va::associate(&mut tx, &t, &n).await.map_err(vpc_error)?;
        finish(tx, dry_run).await?;
        Ok(a.ec2_id)
    }

    pub(super) async fn route_table_disassociate(
        &self,
        caller: &Caller,
        association_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let mut tx = self.write().await?;
        va::disassociate(&mut tx, &caller.account_id, association_id)
            .await
            .map_err(vpc_error)?;
        finish(tx, dry_run).await
    }

    pub(super) async fn route_change(
        &self,
        caller: &Caller,
        change: &RouteChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.ensure(caller).await?;
        let mut tx = self.write().await?;
        let t = va::find_route_table(&mut tx, &caller.account_id, &change.route_table_id)
            .await
            .map_err(vpc_error)?;
        let gateway = match &change.gateway_id {
            Some(id) => Some(
                va::find_internet_gateway(&mut tx, &caller.account_id, id)
                    .await
                    .map_err(|e| match e {
                        VpcError::NotFound(..) => Ec2Error::new(
                            Code::Net(NetCode::GatewayNotFound),
                            format!("The gateway ID '{id}' does not exist"),
                        ),
                        other => vpc_error(other),
                    })?,
            ),
            None => None,
        };
        let how = match change.action {
            RouteAction::Create => va::RouteChange::Create,
            RouteAction::Replace => va::RouteChange::Replace,
            RouteAction::Delete => va::RouteChange::Delete,
        };
        va::change_route(&mut tx, &t, &change.destination_cidr, gateway.as_ref(), how)
            .await
            .map_err(|e| match e {
                VpcError::BadCidr(c) => Ec2Error::invalid_value(format!(
                    "Value ({c}) for parameter destinationCidrBlock is invalid. This is not a \
                     valid CIDR block."
                )),
                other => vpc_error(other),
            })?;
        finish(tx, dry_run).await
    }

    pub(super) async fn acl_views(&self, caller: &Caller) -> Result<Vec<NetworkAcl>, Ec2Error> {
        self.ensure(caller).await?;
        let pool = &self.cloud.store.pool;
        let rows = va::network_acls_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::NetworkAcl)
            .await
            .map_err(core)?;
        Ok(rows
            .into_iter()
            .map(|a| NetworkAcl {
                tags: to_tags(tags.remove(&a.acl.id).unwrap_or_default()),
                network_acl_id: a.acl.ec2_id.clone(),
                vpc_id: a.vpc_ec2_id,
                owner_id: caller.account_number.clone(),
                is_default: a.acl.is_default != 0,
                associations: a
                    .networks
                    .into_iter()
                    .map(|(association_id, subnet_id)| NetworkAclAssociation {
                        association_id,
                        subnet_id,
                    })
                    .collect(),
            })
            .collect())
    }

    pub(super) async fn interface_views(
        &self,
        caller: &Caller,
    ) -> Result<Vec<InterfaceView>, Ec2Error> {
        let instances = self.instances(caller, &[]).await?;
        let rows = tag::of_account(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags: std::collections::HashMap<String, Vec<Tag>> =
            std::collections::HashMap::new();
        for r in rows {
            if r.resource_kind == TaggedKind::NetworkInterface.as_str() {
                tags.entry(r.resource_ec2_id).or_default().push(Tag {
                    key: r.tag_key,
                    value: r.tag_value,
                });
            }
        }
        let mut out = Vec::new();
        for i in instances {
            if i.state == InstanceState::Terminated {
                continue;
            }
            for n in i.interfaces {
                out.push(InterfaceView {
                    tags: tags.remove(&n.interface_id).unwrap_or_default(),
                    interface: n,
                    instance_id: i.instance_id.clone(),
                    owner_id: i.owner_id.clone(),
                    availability_zone: i.availability_zone.clone(),
                    attach_time_ms: i.launch_ms,
                });
            }
        }
        Ok(out)
    }
}
