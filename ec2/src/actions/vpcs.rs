//! VPCs and subnets as they are read: DescribeVpcs, DescribeSubnets and DescribeVpcAttribute
//! (Terraform reads all three DNS and metrics attributes on every refresh).

use std::borrow::Cow;

use super::common::write_tags;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::{Subnet, Vpc};
use crate::xml;
use crate::{Caller, Ec2Port};

pub(crate) fn take_page(p: &mut Params) -> Result<PageRequest, Ec2Error> {
    Ok(PageRequest {
        max_results: p.take_int("MaxResults", 5, 1000)?.map(|n| n as usize),
        next_token: p.take("NextToken"),
    })
}

fn missing(kind: Resource, ids: &[String], known: &[&str]) -> Result<(), Ec2Error> {
    match ids.iter().find(|id| !known.contains(&id.as_str())) {
        Some(id) => Err(Ec2Error::new(
            Code::NotFound(kind),
            format!(
                "The {} ID '{id}' does not exist",
                if kind == Resource::Vpc {
                    "vpc"
                } else {
                    "subnet"
                }
            ),
        )),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVpcs {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const VPC_FILTERS: FilterNames = FilterNames {
    names: &[
        "cidr",
        "cidr-block-association.cidr-block",
        "is-default",
        "owner-id",
        "state",
        "vpc-id",
    ],
    tags: true,
};

impl Request for DescribeVpcs {
    const NAME: &'static str = "DescribeVpcs";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        VPC_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("VpcId")?,
            filters,
            page: take_page(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub(crate) fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn vpc_values<'a>(v: &'a Vpc, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&v.tags, name) {
        return t;
    }
    vec![Cow::Borrowed(match name {
        "cidr" | "cidr-block-association.cidr-block" => v.cidr.as_str(),
        "is-default" => bool_str(v.is_default),
        "owner-id" => v.owner_id.as_str(),
        "state" => v.state.as_str(),
        "vpc-id" => v.vpc_id.as_str(),
        _ => return vec![],
    })]
}

pub async fn serve_vpcs<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeVpcs,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.vpcs(caller).await?;
    let known: Vec<&str> = all.iter().map(|v| v.vpc_id.as_str()).collect();
    missing(Resource::Vpc, &req.ids, &known)?;
    let chosen: Vec<Vpc> = all
        .into_iter()
        .filter(|v| req.ids.is_empty() || req.ids.contains(&v.vpc_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, vpc_values);
    let (page, next) = req.page.cut(DescribeVpcs::NAME, chosen)?;
    Ok(answer(DescribeVpcs::NAME, request_id, |w| {
        w.list("vpcSet", &page, write_vpc);
        w.opt_text("nextToken", next.as_deref());
    }))
}

/// The members of one VPC (a `vpcSet` item, or CreateVpc's `vpc`).
pub(crate) fn write_vpc(w: &mut xml::Writer, v: &Vpc) {
    w.text_element("vpcId", &v.vpc_id);
    w.text_element("ownerId", &v.owner_id);
    w.text_element("state", &v.state);
    w.text_element("cidrBlock", &v.cidr);
    w.open("cidrBlockAssociationSet");
    w.open("item");
    w.text_element(
        "associationId",
        &format!("vpc-cidr-assoc-{}", &v.vpc_id[4..]),
    );
    w.text_element("cidrBlock", &v.cidr);
    w.open("cidrBlockState");
    w.text_element("state", "associated");
    w.close("cidrBlockState");
    w.close("item");
    w.close("cidrBlockAssociationSet");
    w.empty("ipv6CidrBlockAssociationSet");
    w.text_element("dhcpOptionsId", "default");
    w.text_element("instanceTenancy", "default");
    w.bool_element("isDefault", v.is_default);
    write_tags(w, &v.tags);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSubnets {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const SUBNET_FILTERS: FilterNames = FilterNames {
    names: &[
        "availability-zone",
        "availability-zone-id",
        "available-ip-address-count",
        "cidr-block",
        "default-for-az",
        "map-public-ip-on-launch",
        "owner-id",
        "state",
        "subnet-id",
        "vpc-id",
    ],
    tags: true,
};

impl Request for DescribeSubnets {
    const NAME: &'static str = "DescribeSubnets";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        SUBNET_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("SubnetId")?,
            filters,
            page: take_page(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn subnet_values<'a>(s: &'a Subnet, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&s.tags, name) {
        return t;
    }
    match name {
        "available-ip-address-count" => vec![Cow::Owned(s.available_addresses.to_string())],
        _ => vec![Cow::Borrowed(match name {
            "availability-zone" => s.availability_zone.as_str(),
            "availability-zone-id" => s.availability_zone_id.as_str(),
            "cidr-block" => s.cidr.as_str(),
            "default-for-az" => bool_str(s.default_for_az),
            "map-public-ip-on-launch" => bool_str(s.map_public_ip_on_launch),
            "owner-id" => s.owner_id.as_str(),
            "state" => s.state.as_str(),
            "subnet-id" => s.subnet_id.as_str(),
            "vpc-id" => s.vpc_id.as_str(),
            _ => return vec![],
        })],
    }
}

pub async fn serve_subnets<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeSubnets,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.subnets(caller).await?;
    let known: Vec<&str> = all.iter().map(|s| s.subnet_id.as_str()).collect();
    missing(Resource::Subnet, &req.ids, &known)?;
    let chosen: Vec<Subnet> = all
        .into_iter()
        .filter(|s| req.ids.is_empty() || req.ids.contains(&s.subnet_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, subnet_values);
    let (page, next) = req.page.cut(DescribeSubnets::NAME, chosen)?;
    Ok(answer(DescribeSubnets::NAME, request_id, |w| {
        w.list("subnetSet", &page, write_subnet);
        w.opt_text("nextToken", next.as_deref());
    }))
}

/// The members of one subnet (a `subnetSet` item, or CreateSubnet's `subnet`).
pub(crate) fn write_subnet(w: &mut xml::Writer, s: &Subnet) {
    w.text_element("subnetId", &s.subnet_id);
    w.text_element(
        "subnetArn",
        &format!("arn:aws:ec2::{}:subnet/{}", s.owner_id, s.subnet_id),
    );
    w.text_element("state", &s.state);
    w.text_element("ownerId", &s.owner_id);
    w.text_element("vpcId", &s.vpc_id);
    w.text_element("cidrBlock", &s.cidr);
    w.empty("ipv6CidrBlockAssociationSet");
    w.int_element("availableIpAddressCount", s.available_addresses);
    w.text_element("availabilityZone", &s.availability_zone);
    w.text_element("availabilityZoneId", &s.availability_zone_id);
    w.bool_element("defaultForAz", s.default_for_az);
    w.bool_element("mapPublicIpOnLaunch", s.map_public_ip_on_launch);
    w.bool_element("assignIpv6AddressOnCreation", false);
    w.bool_element("mapCustomerOwnedIpOnLaunch", false);
    w.bool_element("enableDns64", false);
    w.bool_element("ipv6Native", false);
    w.open("privateDnsNameOptionsOnLaunch");
    w.text_element("hostnameType", "ip-name");
    w.bool_element("enableResourceNameDnsARecord", false);
    w.bool_element("enableResourceNameDnsAAAARecord", false);
    w.close("privateDnsNameOptionsOnLaunch");
    write_tags(w, &s.tags);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVpcAttribute {
    pub vpc_id: String,
    pub attribute: String,
    pub dry_run: bool,
}

impl Request for DescribeVpcAttribute {
    const NAME: &'static str = "DescribeVpcAttribute";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let vpc_id = p.take_required("VpcId")?;
        let attribute = p.take_required("Attribute")?;
        if ![
            "enableDnsSupport",
            "enableDnsHostnames",
            "enableNetworkAddressUsageMetrics",
        ]
        .contains(&attribute.as_str())
        {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is invalid. It must be \
                 enableDnsSupport, enableDnsHostnames or enableNetworkAddressUsageMetrics."
            )));
        }
        Ok(Self {
            vpc_id,
            attribute,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_vpc_attribute<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeVpcAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.vpcs(caller).await?;
    let Some(v) = all.iter().find(|v| v.vpc_id == req.vpc_id) else {
        return Err(Ec2Error::new(
            Code::NotFound(Resource::Vpc),
            format!("The vpc ID '{}' does not exist", req.vpc_id),
        ));
    };
    let value = match req.attribute.as_str() {
        "enableDnsSupport" => v.dns_support,
        "enableDnsHostnames" => v.dns_hostnames,
        _ => v.address_usage_metrics,
    };
    Ok(answer(DescribeVpcAttribute::NAME, request_id, |w| {
        w.text_element("vpcId", &v.vpc_id);
        w.open(&req.attribute);
        w.bool_element("value", value);
        w.close(&req.attribute);
    }))
}
