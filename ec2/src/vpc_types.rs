//! The door's views of EC2's networking resources beyond VPCs and subnets (which live in
//! [`crate::types`]): internet gateways, route tables, network ACLs and network interfaces as
//! DescribeNetworkInterfaces shows them, and the typed inputs of the actions that change them.

use crate::types::{NetworkInterface, Tag};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternetGateway {
    pub internet_gateway_id: String,
    pub owner_id: String,
    /// The VPC it is attached to, if any (its attachment state is then `available`).
    pub vpc_id: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination_cidr: String,
    /// `local` or an internet gateway id.
    pub gateway_id: String,
    /// `CreateRouteTable` for the local route, `CreateRoute` for the others.
    pub origin: String,
    /// `active` or `blackhole`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableAssociation {
    pub association_id: String,
    pub subnet_id: Option<String>,
    pub main: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub route_table_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub routes: Vec<Route>,
    pub associations: Vec<RouteTableAssociation>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAclAssociation {
    pub association_id: String,
    pub subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub is_default: bool,
    pub associations: Vec<NetworkAclAssociation>,
    pub tags: Vec<Tag>,
}

/// An instance's interface as DescribeNetworkInterfaces shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    pub interface: NetworkInterface,
    pub instance_id: String,
    pub owner_id: String,
    pub availability_zone: String,
    pub attach_time_ms: i64,
    pub tags: Vec<Tag>,
}

/// What CreateSubnet asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetRequest {
    pub vpc_id: String,
    pub cidr: String,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// The attributes ModifyVpcAttribute sets (one per request, as on EC2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VpcAttributeChange {
    pub dns_support: Option<bool>,
    pub dns_hostnames: Option<bool>,
    pub address_usage_metrics: Option<bool>,
}

/// Which way CreateRoute, ReplaceRoute and DeleteRoute change a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAction {
    Create,
    Replace,
    Delete,
}

/// A route change: the table, the destination and (to create or replace) the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    pub route_table_id: String,
    pub destination_cidr: String,
    pub gateway_id: Option<String>,
    pub action: RouteAction,
}
