//! Route tables and network ACLs: CreateRouteTable (with ClientToken), DescribeRouteTables,
//! AssociateRouteTable, DisassociateRouteTable, DeleteRouteTable, CreateRoute, ReplaceRoute,
//! DeleteRoute, and DescribeNetworkAcls.
//!
//! LIMITATION: a route's target is an internet gateway (or the VPC's local route); NAT
//! gateways, instances, interfaces, peering and the other targets answer UnsupportedOperation,
//! as do IPv6 and prefix-list destinations and gateway (edge) associations.

use std::borrow::Cow;

use super::common::{returned_true, tags_for, take_tag_specs, write_tags};
use super::vpc_admin::{check_id, take_vpc_id};
use super::vpcs::{bool_str, take_page};
use super::{answer, Request};
use crate::error::{Code, Ec2Error, NetCode, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::Tag;
use crate::vpc_types::{NetworkAcl, RouteAction, RouteChange, RouteTable};
use crate::xml;
use crate::{Caller, Ec2Port};

fn take_table_id(p: &mut Params) -> Result<String, Ec2Error> {
    let id = p.take_required("RouteTableId")?;
    check_id(&id, "rtb", Code::Net(NetCode::RouteTableMalformed))?;
    Ok(id)
}

pub fn table_not_found(id: &str) -> Ec2Error {
    Ec2Error::new(
        Code::Net(NetCode::RouteTableNotFound),
        format!("The routeTable ID '{id}' does not exist"),
    )
}

fn write_table(w: &mut xml::Writer, t: &RouteTable) {
    w.text_element("routeTableId", &t.route_table_id);
    w.text_element("vpcId", &t.vpc_id);
    w.text_element("ownerId", &t.owner_id);
    w.list("routeSet", &t.routes, |w, r| {
        w.text_element("destinationCidrBlock", &r.destination_cidr);
        w.text_element("gatewayId", &r.gateway_id);
        w.text_element("state", &r.state);
        w.text_element("origin", &r.origin);
    });
    w.list("associationSet", &t.associations, |w, a| {
        w.text_element("routeTableAssociationId", &a.association_id);
        w.text_element("routeTableId", &t.route_table_id);
        w.opt_text("subnetId", a.subnet_id.as_deref());
        w.bool_element("main", a.main);
        w.open("associationState");
        w.text_element("state", "associated");
        w.close("associationState");
    });
    w.empty("propagatingVgwSet");
    write_tags(w, &t.tags);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRouteTable {
    pub vpc_id: String,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for CreateRouteTable {
    const NAME: &'static str = "CreateRouteTable";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let vpc_id = take_vpc_id(p)?;
        let client_token = p.take("ClientToken").filter(|t| !t.is_empty());
        if client_token.as_ref().is_some_and(|t| t.len() > 64) {
            return Err(Ec2Error::invalid_value(
                "The ClientToken is longer than 64 characters.",
            ));
        }
        let specs = take_tag_specs(p, &["route-table"])?;
        Ok(Self {
            vpc_id,
            client_token,
            tags: tags_for(&specs, "route-table"),
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
    req: CreateRouteTable,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let t = port
        .create_route_table(
            caller,
            &req.vpc_id,
            req.client_token.as_deref(),
            &req.tags,
            req.dry_run,
        )
        .await?;
    Ok(answer(CreateRouteTable::NAME, request_id, |w| {
        w.open("routeTable");
        write_table(w, &t);
        w.close("routeTable");
        w.opt_text("clientToken", req.client_token.as_deref());
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRouteTable {
    pub id: String,
    pub dry_run: bool,
}

impl Request for DeleteRouteTable {
    const NAME: &'static str = "DeleteRouteTable";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self {
            id: take_table_id(p)?,
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
    req: DeleteRouteTable,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_route_table(caller, &req.id, req.dry_run)
        .await?;
    Ok(returned_true(DeleteRouteTable::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociateRouteTable {
    pub route_table_id: String,
    pub subnet_id: String,
    pub dry_run: bool,
}

impl Request for AssociateRouteTable {
    const NAME: &'static str = "AssociateRouteTable";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let route_table_id = take_table_id(p)?;
        if p.take("GatewayId").is_some() || p.take("PublicIpv4Pool").is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Associating a route table with a gateway (GatewayId, PublicIpv4Pool) is not \
                 supported by Cirrus yet; associate it with a SubnetId.",
            ));
        }
        let subnet_id = p.take_required("SubnetId")?;
        check_id(&subnet_id, "subnet", Code::Malformed(Resource::Subnet))?;
        Ok(Self {
            route_table_id,
            subnet_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_associate<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: AssociateRouteTable,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let id = port
        .associate_route_table(caller, &req.route_table_id, &req.subnet_id, req.dry_run)
        .await?;
    Ok(answer(AssociateRouteTable::NAME, request_id, |w| {
        w.text_element("associationId", &id);
        w.open("associationState");
        w.text_element("state", "associated");
        w.close("associationState");
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisassociateRouteTable {
    pub association_id: String,
    pub dry_run: bool,
}

impl Request for DisassociateRouteTable {
    const NAME: &'static str = "DisassociateRouteTable";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let association_id = p.take_required("AssociationId")?;
        if !association_id.starts_with("rtbassoc-") {
            return Err(Ec2Error::new(
                Code::AssociationNotFound,
                format!("The association ID '{association_id}' does not exist"),
            ));
        }
        Ok(Self {
            association_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_disassociate<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DisassociateRouteTable,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.disassociate_route_table(caller, &req.association_id, req.dry_run)
        .await?;
    Ok(returned_true(DisassociateRouteTable::NAME, request_id))
}

/// The targets a route may name that Cirrus does not route to yet.
const UNSERVED_TARGETS: &[&str] = &[
    "VpcEndpointId",
    "TransitGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
    "OdbNetworkArn",
    "EgressOnlyInternetGatewayId",
    "InstanceId",
    "NetworkInterfaceId",
    "VpcPeeringConnectionId",
    "NatGatewayId",
];

/// CreateRoute, ReplaceRoute and DeleteRoute: a table, a destination and maybe a gateway.
fn parse_route(p: &mut Params, action: RouteAction) -> Result<RouteChange, Ec2Error> {
    let route_table_id = take_table_id(p)?;
    for name in ["DestinationIpv6CidrBlock", "DestinationPrefixListId"] {
        if p.take(name).is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                format!("Routes by {name} are not supported by Cirrus yet; give a DestinationCidrBlock."),
            ));
        }
    }
    let destination_cidr = p.take_required("DestinationCidrBlock")?;
    let mut gateway_id = None;
    if action != RouteAction::Delete {
        for name in UNSERVED_TARGETS {
            if p.take(name).is_some() {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    format!(
                        "Routes to a {name} are not supported by Cirrus yet; route to an \
                         internet gateway (GatewayId)."
                    ),
                ));
            }
        }
        if action == RouteAction::Replace && p.take_bool("LocalTarget")? == Some(true) {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Restoring a local target (LocalTarget) is not supported by Cirrus yet.",
            ));
        }
        let gateway = p.take_required("GatewayId").map_err(|_| {
            Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter GatewayId: Cirrus routes to internet \
                 gateways.",
            )
        })?;
        if !gateway.starts_with("igw-") {
            return Err(Ec2Error::new(
                Code::Net(NetCode::GatewayNotFound),
                format!("The gateway ID '{gateway}' does not exist"),
            ));
        }
        gateway_id = Some(gateway);
    }
    Ok(RouteChange {
        route_table_id,
        destination_cidr,
        gateway_id,
        action,
    })
}

macro_rules! route_request {
    ($name:ident, $wire:literal, $action:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub change: RouteChange,
            pub dry_run: bool,
        }

        impl Request for $name {
            const NAME: &'static str = $wire;
            const MUTATING: bool = true;

            fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
                let change = parse_route(p, $action)?;
                Ok(Self {
                    change,
                    dry_run: p.take_dry_run()?,
                })
            }

            fn dry_run(&self) -> bool {
                self.dry_run
            }
        }
    };
}

route_request!(CreateRoute, "CreateRoute", RouteAction::Create);
route_request!(ReplaceRoute, "ReplaceRoute", RouteAction::Replace);
route_request!(DeleteRoute, "DeleteRoute", RouteAction::Delete);

pub async fn serve_route<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    change: RouteChange,
    dry_run: bool,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.change_route(caller, &change, dry_run).await?;
    Ok(returned_true(action, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeRouteTables {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const TABLE_FILTERS: FilterNames = FilterNames {
    names: &[
        "association.main",
        "association.route-table-association-id",
        "association.route-table-id",
        "association.subnet-id",
        "owner-id",
        "route-table-id",
        "route.destination-cidr-block",
        "route.gateway-id",
        "route.origin",
        "route.state",
        "vpc-id",
    ],
    tags: true,
};

impl Request for DescribeRouteTables {
    const NAME: &'static str = "DescribeRouteTables";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        TABLE_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("RouteTableId")?,
            filters,
            page: take_page(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn table_values<'a>(t: &'a RouteTable, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(v) = filter::tag_values(&t.tags, name) {
        return v;
    }
    let b = |s: &'a str| Cow::Borrowed(s);
    match name {
        "association.main" => t.associations.iter().map(|a| b(bool_str(a.main))).collect(),
        "association.route-table-association-id" => t
            .associations
            .iter()
            .map(|a| b(&a.association_id))
            .collect(),
        "association.route-table-id" => t
            .associations
            .iter()
            .map(|_| b(&t.route_table_id))
            .collect(),
        "association.subnet-id" => t
            .associations
            .iter()
            .filter_map(|a| a.subnet_id.as_deref().map(b))
            .collect(),
        "owner-id" => vec![b(&t.owner_id)],
        "route-table-id" => vec![b(&t.route_table_id)],
        "route.destination-cidr-block" => t.routes.iter().map(|r| b(&r.destination_cidr)).collect(),
        "route.gateway-id" => t.routes.iter().map(|r| b(&r.gateway_id)).collect(),
        "route.origin" => t.routes.iter().map(|r| b(&r.origin)).collect(),
        "route.state" => t.routes.iter().map(|r| b(&r.state)).collect(),
        "vpc-id" => vec![b(&t.vpc_id)],
        _ => vec![],
    }
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeRouteTables,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.route_tables(caller).await?;
    if let Some(id) = req
        .ids
        .iter()
        .find(|id| !all.iter().any(|t| t.route_table_id == **id))
    {
        return Err(table_not_found(id));
    }
    let chosen: Vec<RouteTable> = all
        .into_iter()
        .filter(|t| req.ids.is_empty() || req.ids.contains(&t.route_table_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, table_values);
    let (page, next) = req.page.cut(DescribeRouteTables::NAME, chosen)?;
    Ok(answer(DescribeRouteTables::NAME, request_id, |w| {
        w.list("routeTableSet", &page, write_table);
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeNetworkAcls {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const ACL_FILTERS: FilterNames = FilterNames {
    names: &[
        "association.association-id",
        "association.network-acl-id",
        "association.subnet-id",
        "default",
        "network-acl-id",
        "owner-id",
        "vpc-id",
    ],
    tags: true,
};

impl Request for DescribeNetworkAcls {
    const NAME: &'static str = "DescribeNetworkAcls";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        ACL_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("NetworkAclId")?,
            filters,
            page: take_page(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn acl_values<'a>(a: &'a NetworkAcl, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(v) = filter::tag_values(&a.tags, name) {
        return v;
    }
    let b = |s: &'a str| Cow::Borrowed(s);
    match name {
        "association.association-id" => a
            .associations
            .iter()
            .map(|x| b(&x.association_id))
            .collect(),
        "association.network-acl-id" => a
            .associations
            .iter()
            .map(|_| b(&a.network_acl_id))
            .collect(),
        "association.subnet-id" => a.associations.iter().map(|x| b(&x.subnet_id)).collect(),
        "default" => vec![b(bool_str(a.is_default))],
        "network-acl-id" => vec![b(&a.network_acl_id)],
        "owner-id" => vec![b(&a.owner_id)],
        "vpc-id" => vec![b(&a.vpc_id)],
        _ => vec![],
    }
}

/// AWS's default ACL rules: allow all, then deny all, each way.
const DEFAULT_ENTRIES: [(i64, &str, bool); 4] = [
    (100, "allow", true),
    (32767, "deny", true),
    (100, "allow", false),
    (32767, "deny", false),
];

fn write_acl(w: &mut xml::Writer, a: &NetworkAcl) {
    w.text_element("networkAclId", &a.network_acl_id);
    w.text_element("vpcId", &a.vpc_id);
    w.bool_element("default", a.is_default);
    w.list("entrySet", &DEFAULT_ENTRIES, |w, (n, action, egress)| {
        w.int_element("ruleNumber", *n);
        w.text_element("protocol", "-1");
        w.text_element("ruleAction", action);
        w.bool_element("egress", *egress);
        w.text_element("cidrBlock", "0.0.0.0/0");
    });
    w.list("associationSet", &a.associations, |w, x| {
        w.text_element("networkAclAssociationId", &x.association_id);
        w.text_element("networkAclId", &a.network_acl_id);
        w.text_element("subnetId", &x.subnet_id);
    });
    write_tags(w, &a.tags);
    w.text_element("ownerId", &a.owner_id);
}

pub async fn serve_describe_acls<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeNetworkAcls,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.network_acls(caller).await?;
    if let Some(id) = req
        .ids
        .iter()
        .find(|id| !all.iter().any(|a| a.network_acl_id == **id))
    {
        return Err(Ec2Error::new(
            Code::Net(NetCode::NetworkAclNotFound),
            format!("The networkAcl ID '{id}' does not exist"),
        ));
    }
    let chosen: Vec<NetworkAcl> = all
        .into_iter()
        .filter(|a| req.ids.is_empty() || req.ids.contains(&a.network_acl_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, acl_values);
    let (page, next) = req.page.cut(DescribeNetworkAcls::NAME, chosen)?;
    Ok(answer(DescribeNetworkAcls::NAME, request_id, |w| {
        w.list("networkAclSet", &page, write_acl);
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn routes_need_a_gateway() {
        let p = Params::from_pairs(&[
            ("RouteTableId", "rtb-1a2b3c4d"),
            ("DestinationCidrBlock", "0.0.0.0/0"),
            ("NatGatewayId", "nat-1"),
        ]);
        let e = decode::<CreateRoute>(p).unwrap_err();
        assert_eq!(e.code, Code::UnsupportedOperation);
        let p = Params::from_pairs(&[
            ("RouteTableId", "rtb-1a2b3c4d"),
            ("DestinationCidrBlock", "0.0.0.0/0"),
        ]);
        let r = decode::<DeleteRoute>(p).unwrap();
        assert_eq!(r.change.gateway_id, None);
        assert_eq!(r.change.action, RouteAction::Delete);
    }
}
