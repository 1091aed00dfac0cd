//! Elastic IP addresses: AllocateAddress (from the zone's public range, VPC domain only),
//! AssociateAddress (to an instance's primary interface or a named interface: static NAT),
//! DisassociateAddress, ReleaseAddress (refused while associated), DescribeAddresses (not
//! paginated on EC2) and DescribeAddressesAttribute (`domain-name`).
//!
//! LIMITATION: reverse DNS (PTR) records are not kept, so DescribeAddressesAttribute answers each
//! address without a `ptrRecord` and ModifyAddressAttribute is not served. EC2-Classic
//! (`Domain=standard`), BYOIP and IPAM pools (`Address`, `PublicIpv4Pool` other than `amazon`,
//! `IpamPoolId`) and customer-owned pools are not served.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::common::{returned_true, tags_for, take_tag_specs, write_tags};
use super::instances::is_instance_id;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::Tag;
use crate::xml;
use crate::{Caller, Ec2Port};

/// The one public IPv4 pool: the cloud's own ranges.
pub const AMAZON_POOL: &str = "amazon";

/// An allocated address, as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub allocation_id: String,
    pub public_ip: String,
    /// The region (EC2 network border group) it was allocated in.
    pub network_border_group: String,
    pub association: Option<AddressAssociation>,
    pub tags: Vec<Tag>,
}

/// Where an address is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressAssociation {
    pub association_id: String,
    pub instance_id: Option<String>,
    pub network_interface_id: String,
    /// The 12-digit account number of the interface's owner.
    pub network_interface_owner_id: String,
    pub private_ip: String,
}

/// How a request names one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressRef {
    Allocation(String),
    PublicIp(String),
    Association(String),
}

fn is_hex_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

fn check_allocation_id(id: &str) -> Result<(), Ec2Error> {
    if is_hex_id(id, "eipalloc") {
        return Ok(());
    }
    Err(Ec2Error::new(
        Code::Malformed(Resource::Allocation),
        format!("Invalid id: \"{id}\" (expecting \"eipalloc-...\")"),
    ))
}

fn check_association_id(id: &str) -> Result<(), Ec2Error> {
    if is_hex_id(id, "eipassoc") {
        return Ok(());
    }
    Err(Ec2Error::new(
        Code::AssociationMalformed,
        format!("Invalid id: \"{id}\" (expecting \"eipassoc-...\")"),
    ))
}

fn check_interface_id(id: &str) -> Result<(), Ec2Error> {
    if is_hex_id(id, "eni") {
        return Ok(());
    }
    Err(Ec2Error::new(
        Code::NetworkInterfaceMalformed,
        format!("Invalid id: \"{id}\" (expecting \"eni-...\")"),
    ))
}

fn check_ip(name: &str, value: &str) -> Result<(), Ec2Error> {
    if value.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    Err(Ec2Error::invalid_value(format!(
        "Invalid value '{value}' for {name}: it must be an IPv4 address such as 203.0.113.10."
    )))
}

fn unsupported(what: &str) -> Ec2Error {
    Ec2Error::new(
        Code::UnsupportedOperation,
        format!("{what} is not supported by Cirrus: addresses come from the zone's public range."),
    )
}

/// One of `AllocationId` / `PublicIp` (exactly one), or `AssociationId` where it applies.
fn take_ref(p: &mut Params, association: bool) -> Result<AddressRef, Ec2Error> {
    let allocation = p.take("AllocationId");
    let public_ip = p.take("PublicIp");
    let association_id = if association {
        p.take("AssociationId")
    } else {
        None
    };
    let first = if association {
        "AssociationId"
    } else {
        "AllocationId"
    };
    match (allocation, public_ip, association_id) {
        (Some(id), None, None) => {
            check_allocation_id(&id)?;
            Ok(AddressRef::Allocation(id))
        }
        (None, Some(ip), None) => {
            check_ip("PublicIp", &ip)?;
            Ok(AddressRef::PublicIp(ip))
        }
        (None, None, Some(id)) => {
            check_association_id(&id)?;
            Ok(AddressRef::Association(id))
        }
        (None, None, None) => Err(Ec2Error::new(
            Code::MissingParameter,
            format!("The request must contain the parameter {first} or PublicIp."),
        )),
        _ => Err(Ec2Error::new(
            Code::InvalidParameterCombination,
            format!("Specify {first} or PublicIp, not both."),
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocateAddress {
    pub network_border_group: Option<String>,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for AllocateAddress {
    const NAME: &'static str = "AllocateAddress";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        match p.take("Domain").as_deref() {
            None | Some("vpc") => {}
            Some("standard") => {
                return Err(Ec2Error::invalid_value(
                    "Domain standard (EC2-Classic) is retired; allocate with Domain vpc.",
                ))
            }
            Some(other) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Invalid value '{other}' for Domain: it must be vpc."
                )))
            }
        }
        if p.take("Address").is_some() {
            return Err(unsupported("Allocating a chosen Address (BYOIP)"));
        }
        if let Some(pool) = p.take("PublicIpv4Pool") {
            if pool != AMAZON_POOL {
                return Err(unsupported(&format!("The public IPv4 pool '{pool}'")));
            }
        }
        if p.take("CustomerOwnedIpv4Pool").is_some() {
            return Err(unsupported("A customer-owned IPv4 pool"));
        }
        if p.take("IpamPoolId").is_some() {
            return Err(unsupported("An IPAM pool"));
        }
        let specs = take_tag_specs(p, &["elastic-ip"])?;
        Ok(Self {
            network_border_group: p.take("NetworkBorderGroup"),
            tags: tags_for(&specs, "elastic-ip"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_allocate<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: AllocateAddress,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let a = port.allocate_address(caller, &req).await?;
    Ok(answer(AllocateAddress::NAME, request_id, |w| {
        w.text_element("publicIp", &a.public_ip);
        w.text_element("domain", "vpc");
        w.text_element("allocationId", &a.allocation_id);
        w.text_element("publicIpv4Pool", AMAZON_POOL);
        w.text_element("networkBorderGroup", &a.network_border_group);
    }))
}

/// Where AssociateAddress maps the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationTarget {
    /// The instance's primary interface, at its primary private address.
    Instance(String),
    /// An interface, at `private_ip` or its primary private address.
    NetworkInterface {
        interface_id: String,
        private_ip: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociateAddress {
    pub address: AddressRef,
    pub target: AssociationTarget,
    /// For an instance target: the private address asked for, which must be its primary one.
    pub instance_private_ip: Option<String>,
    pub allow_reassociation: bool,
    pub dry_run: bool,
}

impl Request for AssociateAddress {
    const NAME: &'static str = "AssociateAddress";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let address = take_ref(p, false)?;
        let private_ip = p.take("PrivateIpAddress");
        if let Some(ip) = &private_ip {
            check_ip("PrivateIpAddress", ip)?;
        }
        let (target, instance_private_ip) =
            match (p.take("InstanceId"), p.take("NetworkInterfaceId")) {
                (Some(id), None) => {
                    if !is_instance_id(&id) {
                        return Err(Ec2Error::new(
                            Code::Malformed(Resource::Instance),
                            format!("Invalid id: \"{id}\" (expecting \"i-...\")"),
                        ));
                    }
                    (AssociationTarget::Instance(id), private_ip)
                }
                (None, Some(id)) => {
                    check_interface_id(&id)?;
                    (
                        AssociationTarget::NetworkInterface {
                            interface_id: id,
                            private_ip,
                        },
                        None,
                    )
                }
                (None, None) => {
                    return Err(Ec2Error::new(
                        Code::MissingParameter,
                        "The request must contain the parameter InstanceId or NetworkInterfaceId.",
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(Ec2Error::new(
                        Code::InvalidParameterCombination,
                        "Specify InstanceId or NetworkInterfaceId, not both.",
                    ))
                }
            };
        Ok(Self {
            address,
            target,
            instance_private_ip,
            allow_reassociation: p.take_bool("AllowReassociation")?.unwrap_or(false),
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
    req: AssociateAddress,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let association = port.associate_address(caller, &req).await?;
    Ok(answer(AssociateAddress::NAME, request_id, |w| {
        w.bool_element("return", true);
        w.text_element("associationId", &association);
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisassociateAddress {
    pub address: AddressRef,
    pub dry_run: bool,
}

impl Request for DisassociateAddress {
    const NAME: &'static str = "DisassociateAddress";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self {
            address: take_ref(p, true)?,
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
    req: DisassociateAddress,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.disassociate_address(caller, &req.address, req.dry_run)
        .await?;
    Ok(returned_true(DisassociateAddress::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseAddress {
    pub address: AddressRef,
    pub network_border_group: Option<String>,
    pub dry_run: bool,
}

impl Request for ReleaseAddress {
    const NAME: &'static str = "ReleaseAddress";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self {
            address: take_ref(p, false)?,
            network_border_group: p.take("NetworkBorderGroup"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_release<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ReleaseAddress,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.release_address(caller, &req).await?;
    Ok(returned_true(ReleaseAddress::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAddresses {
    pub public_ips: Vec<String>,
    pub allocation_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub dry_run: bool,
}

const FILTERS: FilterNames = FilterNames {
    names: &[
        "allocation-id",
        "association-id",
        "domain",
        "instance-id",
        "network-border-group",
        "network-interface-id",
        "network-interface-owner-id",
        "private-ip-address",
        "public-ip",
        "public-ipv4-pool",
    ],
    tags: true,
};

impl Request for DescribeAddresses {
    const NAME: &'static str = "DescribeAddresses";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        let public_ips = p.take_list("PublicIp")?;
        for ip in &public_ips {
            check_ip("PublicIp", ip)?;
        }
        let allocation_ids = p.take_list("AllocationId")?;
        for id in &allocation_ids {
            check_allocation_id(id)?;
        }
        Ok(Self {
            public_ips,
            allocation_ids,
            filters,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn values<'a>(a: &'a Address, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&a.tags, name) {
        return t;
    }
    let assoc = a.association.as_ref();
    let value: Option<&str> = match name {
        "allocation-id" => Some(&a.allocation_id),
        "public-ip" => Some(&a.public_ip),
        "domain" => Some("vpc"),
        "network-border-group" => Some(&a.network_border_group),
        "public-ipv4-pool" => Some(AMAZON_POOL),
        "association-id" => assoc.map(|s| s.association_id.as_str()),
        "instance-id" => assoc.and_then(|s| s.instance_id.as_deref()),
        "network-interface-id" => assoc.map(|s| s.network_interface_id.as_str()),
        "network-interface-owner-id" => assoc.map(|s| s.network_interface_owner_id.as_str()),
        "private-ip-address" => assoc.map(|s| s.private_ip.as_str()),
        _ => None,
    };
    value.map(Cow::Borrowed).into_iter().collect()
}

/// The addresses named by `AllocationId.N` and `PublicIp.N` (all when neither is given); a name
/// that matches nothing is refused, as EC2 does.
fn chosen(
    all: Vec<Address>,
    allocation_ids: &[String],
    public_ips: &[String],
) -> Result<Vec<Address>, Ec2Error> {
    for id in allocation_ids {
        if !all.iter().any(|a| &a.allocation_id == id) {
            return Err(Ec2Error::new(
                Code::NotFound(Resource::Allocation),
                format!("The allocation ID '{id}' does not exist"),
            ));
        }
    }
    for ip in public_ips {
        if !all.iter().any(|a| &a.public_ip == ip) {
            return Err(Ec2Error::new(
                Code::AddressNotFound,
                format!("Address '{ip}' not found."),
            ));
        }
    }
    if allocation_ids.is_empty() && public_ips.is_empty() {
        return Ok(all);
    }
    Ok(all
        .into_iter()
        .filter(|a| allocation_ids.contains(&a.allocation_id) || public_ips.contains(&a.public_ip))
        .collect())
}

pub fn write_address(w: &mut xml::Writer, a: &Address) {
    w.text_element("publicIp", &a.public_ip);
    w.text_element("allocationId", &a.allocation_id);
    w.text_element("domain", "vpc");
    if let Some(s) = &a.association {
        w.opt_text("instanceId", s.instance_id.as_deref());
        w.text_element("associationId", &s.association_id);
        w.text_element("networkInterfaceId", &s.network_interface_id);
        w.text_element("networkInterfaceOwnerId", &s.network_interface_owner_id);
        w.text_element("privateIpAddress", &s.private_ip);
    }
    write_tags(w, &a.tags);
    w.text_element("publicIpv4Pool", AMAZON_POOL);
    w.text_element("networkBorderGroup", &a.network_border_group);
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeAddresses,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.addresses(caller).await?;
    let picked = chosen(all, &req.allocation_ids, &req.public_ips)?;
    let picked = filter::apply(&req.filters, picked, values);
    Ok(answer(DescribeAddresses::NAME, request_id, |w| {
        w.list("addressesSet", &picked, write_address);
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAddressesAttribute {
    pub allocation_ids: Vec<String>,
    pub page: PageRequest,
    pub dry_run: bool,
}

impl Request for DescribeAddressesAttribute {
    const NAME: &'static str = "DescribeAddressesAttribute";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        match p.take("Attribute").as_deref() {
            None | Some("domain-name") => {}
            Some(other) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Invalid value '{other}' for Attribute: it must be domain-name."
                )))
            }
        }
        let allocation_ids = p.take_list("AllocationId")?;
        for id in &allocation_ids {
            check_allocation_id(id)?;
        }
        Ok(Self {
            allocation_ids,
            page: PageRequest {
                max_results: p.take_int("MaxResults", 1, 1000)?.map(|n| n as usize),
                next_token: p.take("NextToken"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_describe_attribute<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeAddressesAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.addresses(caller).await?;
    let picked = chosen(all, &req.allocation_ids, &[])?;
    let (page, next) = req.page.cut(DescribeAddressesAttribute::NAME, picked)?;
    Ok(answer(DescribeAddressesAttribute::NAME, request_id, |w| {
        w.list("addressSet", &page, |w, a| {
            w.text_element("publicIp", &a.public_ip);
            w.text_element("allocationId", &a.allocation_id);
        });
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn allocate_takes_the_vpc_domain_and_elastic_ip_tags() {
        let p = Params::from_pairs(&[
            ("Domain", "vpc"),
            ("TagSpecification.1.ResourceType", "elastic-ip"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "web"),
        ]);
        let r = decode::<AllocateAddress>(p).unwrap();
        assert_eq!(r.tags.len(), 1);
        let p = Params::from_pairs(&[("Domain", "standard")]);
        assert_eq!(
            decode::<AllocateAddress>(p).unwrap_err().code,
            Code::InvalidParameterValue
        );
        let p = Params::from_pairs(&[("Address", "203.0.113.7")]);
        assert_eq!(
            decode::<AllocateAddress>(p).unwrap_err().code,
            Code::UnsupportedOperation
        );
    }

    #[test]
    fn associate_needs_one_address_and_one_target() {
        let ok = Params::from_pairs(&[
            ("AllocationId", "eipalloc-0123456789abcdef0"),
            ("InstanceId", "i-0123456789abcdef0"),
            ("AllowReassociation", "true"),
        ]);
        let r = decode::<AssociateAddress>(ok).unwrap();
        assert!(r.allow_reassociation);
        assert_eq!(
            r.target,
            AssociationTarget::Instance("i-0123456789abcdef0".into())
        );
        let cases: [(&[(&str, &str)], Code); 4] = [
            (
                &[("InstanceId", "i-0123456789abcdef0")],
                Code::MissingParameter,
            ),
            (
                &[("AllocationId", "eipalloc-0123456789abcdef0")],
                Code::MissingParameter,
            ),
            (
                &[
                    ("AllocationId", "eip-1"),
                    ("InstanceId", "i-0123456789abcdef0"),
                ],
                Code::Malformed(Resource::Allocation),
            ),
            (
                &[
                    ("AllocationId", "eipalloc-0123456789abcdef0"),
                    ("InstanceId", "i-0123456789abcdef0"),
                    ("NetworkInterfaceId", "eni-0123456789abcdef0"),
                ],
                Code::InvalidParameterCombination,
            ),
        ];
        for (pairs, code) in cases {
            let e = decode::<AssociateAddress>(Params::from_pairs(pairs)).unwrap_err();
            assert_eq!(e.code, code, "{pairs:?}");
        }
    }

    #[test]
    fn disassociate_takes_an_association_id_or_an_address() {
        let p = Params::from_pairs(&[("AssociationId", "eipassoc-0123456789abcdef0")]);
        assert_eq!(
            decode::<DisassociateAddress>(p).unwrap().address,
            AddressRef::Association("eipassoc-0123456789abcdef0".into())
        );
        let p = Params::from_pairs(&[("PublicIp", "not-an-ip")]);
        assert_eq!(
            decode::<DisassociateAddress>(p).unwrap_err().code,
            Code::InvalidParameterValue
        );
        let p = Params::from_pairs(&[("AssociationId", "eipalloc-0123456789abcdef0")]);
        assert_eq!(
            decode::<DisassociateAddress>(p).unwrap_err().code,
            Code::AssociationMalformed
        );
    }

    fn address(id: &str, ip: &str, associated: bool) -> Address {
        Address {
            allocation_id: id.into(),
            public_ip: ip.into(),
            network_border_group: "us-east-1".into(),
            association: associated.then(|| AddressAssociation {
                association_id: "eipassoc-0123456789abcdef0".into(),
                instance_id: Some("i-0123456789abcdef0".into()),
                network_interface_id: "eni-0123456789abcdef0".into(),
                network_interface_owner_id: "000000000001".into(),
                private_ip: "172.31.0.4".into(),
            }),
            tags: vec![],
        }
    }

    #[test]
    fn describe_names_and_filters() {
        let all = vec![
            address("eipalloc-00000000000000001", "203.0.113.1", true),
            address("eipalloc-00000000000000002", "203.0.113.2", false),
        ];
        let one = chosen(all.clone(), &["eipalloc-00000000000000002".into()], &[]).unwrap();
        assert_eq!(one.len(), 1);
        let e = chosen(all.clone(), &["eipalloc-00000000000000003".into()], &[]).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidAllocationID.NotFound");
        let e = chosen(all.clone(), &[], &["203.0.113.9".into()]).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidAddress.NotFound");
        let f = [Filter::new("instance-id".into(), vec!["i-*".into()])];
        let hit = filter::apply(&f, all, values);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].public_ip, "203.0.113.1");
        let mut w = xml::Writer::new();
        write_address(&mut w, &hit[0]);
        let text = w.finish();
        assert!(text.contains("<associationId>eipassoc-0123456789abcdef0</associationId>"));
        assert!(text.contains("<domain>vpc</domain>"));
    }
}
