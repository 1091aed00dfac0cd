//! DescribeNetworkInterfaces: the primary interface of each of the account's instances that
//! still holds one, with its subnet, groups, address and attachment.
//!
//! LIMITATION: interfaces exist only as instances' primary interfaces; CreateNetworkInterface
//! and its kin are not served.

use std::borrow::Cow;

use super::common::write_tags;
use super::vpc_admin::check_id;
use super::vpcs::{bool_str, take_page};
use super::{answer, Request};
use crate::error::{Code, Ec2Error};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::vpc_types::InterfaceView;
use crate::xml;
use crate::{Caller, Ec2Port};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeNetworkInterfaces {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const INTERFACE_FILTERS: FilterNames = FilterNames {
    names: &[
        "addresses.private-ip-address",
        "association.public-ip",
        "attachment.attachment-id",
        "attachment.device-index",
        "attachment.instance-id",
        "attachment.instance-owner-id",
        "attachment.status",
        "availability-zone",
        "description",
        "group-id",
        "group-name",
        "interface-type",
        "mac-address",
        "network-interface-id",
        "owner-id",
        "private-dns-name",
        "private-ip-address",
        "requester-managed",
        "source-dest-check",
        "status",
        "subnet-id",
        "vpc-id",
    ],
    tags: true,
};

impl Request for DescribeNetworkInterfaces {
    const NAME: &'static str = "DescribeNetworkInterfaces";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        INTERFACE_FILTERS.check(&filters)?;
        let ids = p.take_list("NetworkInterfaceId")?;
        for id in &ids {
            check_id(id, "eni", Code::NetworkInterfaceMalformed)?;
        }
        // Cirrus has no interfaces managed by other services, so this changes nothing.
        let _managed = p.take_bool("IncludeManagedResources")?;
        Ok(Self {
            ids,
            filters,
            page: take_page(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn dns_of(ip: &str) -> String {
    format!("ip-{}.ec2.internal", ip.replace('.', "-"))
}

fn attachment_id(v: &InterfaceView) -> String {
    let digits = v
        .interface
        .interface_id
        .split_once('-')
        .map(|(_, d)| d)
        .unwrap_or("");
    format!("eni-attach-{digits}")
}

fn interface_values<'a>(v: &'a InterfaceView, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&v.tags, name) {
        return t;
    }
    let n = &v.interface;
    let b = |s: &'a str| Cow::Borrowed(s);
    match name {
        "addresses.private-ip-address" | "private-ip-address" => vec![b(&n.private_ip)],
        "association.public-ip" => n.public_ip.iter().map(|ip| b(ip)).collect(),
        "attachment.attachment-id" => vec![Cow::Owned(attachment_id(v))],
        "attachment.device-index" => vec![Cow::Owned(n.device_index.to_string())],
        "attachment.instance-id" => vec![b(&v.instance_id)],
        "attachment.instance-owner-id" | "owner-id" => vec![b(&v.owner_id)],
        "attachment.status" => vec![b("attached")],
        "availability-zone" => vec![b(&v.availability_zone)],
        "description" => vec![b("")],
        "group-id" => n.groups.iter().map(|g| b(&g.group_id)).collect(),
        "group-name" => n.groups.iter().map(|g| b(&g.group_name)).collect(),
        "interface-type" => vec![b("interface")],
        "mac-address" => vec![b(&n.mac_address)],
        "network-interface-id" => vec![b(&n.interface_id)],
        "private-dns-name" => vec![Cow::Owned(dns_of(&n.private_ip))],
        "requester-managed" => vec![b("false")],
        "source-dest-check" => vec![b(bool_str(n.source_dest_check))],
        "status" => vec![b("in-use")],
        "subnet-id" => vec![b(&n.subnet_id)],
        "vpc-id" => vec![b(&n.vpc_id)],
        _ => vec![],
    }
}

fn write_association(w: &mut xml::Writer, public_ip: Option<&str>) {
    if let Some(ip) = public_ip {
        w.open("association");
        w.text_element("publicIp", ip);
        w.empty("publicDnsName");
        w.text_element("ipOwnerId", "amazon");
        w.close("association");
    }
}

fn write_interface(w: &mut xml::Writer, v: &InterfaceView) {
    let n = &v.interface;
    w.text_element("networkInterfaceId", &n.interface_id);
    w.text_element("subnetId", &n.subnet_id);
    w.text_element("vpcId", &n.vpc_id);
    w.text_element("availabilityZone", &v.availability_zone);
    w.empty("description");
    w.text_element("ownerId", &v.owner_id);
    w.bool_element("requesterManaged", false);
    w.text_element("status", "in-use");
    w.text_element("macAddress", &n.mac_address);
    w.text_element("privateIpAddress", &n.private_ip);
    w.text_element("privateDnsName", &dns_of(&n.private_ip));
    w.bool_element("sourceDestCheck", n.source_dest_check);
    w.list("groupSet", &n.groups, |w, g| {
        w.text_element("groupId", &g.group_id);
        w.text_element("groupName", &g.group_name);
    });
    w.open("attachment");
    w.text_element("attachmentId", &attachment_id(v));
    w.text_element("instanceId", &v.instance_id);
    w.text_element("instanceOwnerId", &v.owner_id);
    w.int_element("deviceIndex", n.device_index);
    w.text_element("status", "attached");
    w.time_element("attachTime", xml::timestamp_ms(v.attach_time_ms));
    w.bool_element("deleteOnTermination", true);
    w.int_element("networkCardIndex", 0);
    w.close("attachment");
    write_association(w, n.public_ip.as_deref());
    write_tags(w, &v.tags);
    w.open("privateIpAddressesSet");
    w.open("item");
    w.text_element("privateIpAddress", &n.private_ip);
    w.text_element("privateDnsName", &dns_of(&n.private_ip));
    w.bool_element("primary", true);
    write_association(w, n.public_ip.as_deref());
    w.close("item");
    w.close("privateIpAddressesSet");
    w.empty("ipv6AddressesSet");
    w.text_element("interfaceType", "interface");
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeNetworkInterfaces,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.network_interfaces(caller).await?;
    if let Some(id) = req
        .ids
        .iter()
        .find(|id| !all.iter().any(|v| v.interface.interface_id == **id))
    {
        return Err(Ec2Error::new(
            Code::NetworkInterfaceNotFound,
            format!("The networkInterface ID '{id}' does not exist"),
        ));
    }
    let chosen: Vec<InterfaceView> = all
        .into_iter()
        .filter(|v| req.ids.is_empty() || req.ids.contains(&v.interface.interface_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, interface_values);
    let (page, next) = req.page.cut(DescribeNetworkInterfaces::NAME, chosen)?;
    Ok(answer(DescribeNetworkInterfaces::NAME, request_id, |w| {
        w.list("networkInterfaceSet", &page, write_interface);
        w.opt_text("nextToken", next.as_deref());
    }))
}
