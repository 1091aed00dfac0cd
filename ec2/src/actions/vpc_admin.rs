//! VPCs and subnets as they are changed: CreateVpc, DeleteVpc, ModifyVpcAttribute,
//! CreateSubnet, DeleteSubnet and ModifySubnetAttribute, with the id checks the other
//! networking actions share.

use super::common::{returned_true, tags_for, take_tag_specs};
use super::vpcs::{write_subnet, write_vpc};
use super::{answer, Request};
use crate::error::{Code, Ec2Error, NetCode, Resource};
use crate::query::Params;
use crate::types::Tag;
use crate::vpc_types::{SubnetRequest, VpcAttributeChange};
use crate::{Caller, Ec2Port};

/// True if `id` is `prefix-` and 8 or 17 lowercase hex digits.
pub fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|d| {
            (d.len() == 8 || d.len() == 17)
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Refuses an id that is not of the form `prefix-...`, with the kind's Malformed code.
pub fn check_id(id: &str, prefix: &str, code: Code) -> Result<(), Ec2Error> {
    if is_id(id, prefix) {
        Ok(())
    } else {
        Err(Ec2Error::new(
            code,
            format!("Invalid id: \"{id}\" (expecting \"{prefix}-...\")"),
        ))
    }
}

pub fn take_vpc_id(p: &mut Params) -> Result<String, Ec2Error> {
    let id = p.take_required("VpcId")?;
    check_id(&id, "vpc", Code::Malformed(Resource::Vpc))?;
    Ok(id)
}

pub fn take_subnet_id(p: &mut Params) -> Result<String, Ec2Error> {
    let id = p.take_required("SubnetId")?;
    check_id(&id, "subnet", Code::Malformed(Resource::Subnet))?;
    Ok(id)
}

/// Refuses parameters the door takes no value for (IPv6, IPAM pools, outposts), by name.
fn refuse_unserved(p: &mut Params, names: &[&str]) -> Result<(), Ec2Error> {
    for name in names {
        if p.take(name).is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                format!("The parameter {name} is not supported by Cirrus yet."),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateVpc {
    pub cidr: String,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for CreateVpc {
    const NAME: &'static str = "CreateVpc";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        refuse_unserved(
            p,
            &[
                "Ipv6Pool",
                "Ipv6CidrBlock",
                "Ipv4IpamPoolId",
                "Ipv4NetmaskLength",
                "Ipv6IpamPoolId",
                "Ipv6NetmaskLength",
                "Ipv6CidrBlockNetworkBorderGroup",
                "VpcEncryptionControl",
            ],
        )?;
        if p.take_bool("AmazonProvidedIpv6CidrBlock")? == Some(true) {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "IPv6 CIDR blocks (AmazonProvidedIpv6CidrBlock) are not supported by Cirrus yet.",
            ));
        }
        if let Some(t) = p.take("InstanceTenancy") {
            if t != "default" {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    format!(
                        "The instance tenancy '{t}' is not supported; Cirrus VPCs are 'default'."
                    ),
                ));
            }
        }
        let cidr = p.take_required("CidrBlock")?;
        let specs = take_tag_specs(p, &["vpc"])?;
        Ok(Self {
            cidr,
            tags: tags_for(&specs, "vpc"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_create_vpc<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateVpc,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let v = port
        .create_vpc(caller, &req.cidr, &req.tags, req.dry_run)
        .await?;
    Ok(answer(CreateVpc::NAME, request_id, |w| {
        w.open("vpc");
        write_vpc(w, &v);
        w.close("vpc");
    }))
}

/// A request naming one resource by id, with DryRun: DeleteVpc, DeleteSubnet, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ById {
    pub id: String,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteVpc(pub ById);

impl Request for DeleteVpc {
    const NAME: &'static str = "DeleteVpc";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self(ById {
            id: take_vpc_id(p)?,
            dry_run: p.take_dry_run()?,
        }))
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

pub async fn serve_delete_vpc<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DeleteVpc,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_vpc(caller, &req.0.id, req.0.dry_run).await?;
    Ok(returned_true(DeleteVpc::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyVpcAttribute {
    pub vpc_id: String,
    pub change: VpcAttributeChange,
}

/// `Name.Value` of an AttributeBooleanValue parameter.
fn take_attribute_bool(p: &mut Params, name: &str) -> Result<Option<bool>, Ec2Error> {
    let value = p.take_bool(&format!("{name}.Value"))?;
    if value.is_none() && p.peek(name).is_some() {
        return Err(Ec2Error::invalid_value(format!(
            "The parameter {name} takes its value as {name}.Value=true or false."
        )));
    }
    Ok(value)
}

impl Request for ModifyVpcAttribute {
    const NAME: &'static str = "ModifyVpcAttribute";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let vpc_id = take_vpc_id(p)?;
        let change = VpcAttributeChange {
            dns_support: take_attribute_bool(p, "EnableDnsSupport")?,
            dns_hostnames: take_attribute_bool(p, "EnableDnsHostnames")?,
            address_usage_metrics: take_attribute_bool(p, "EnableNetworkAddressUsageMetrics")?,
        };
        let given = [
            change.dns_support,
            change.dns_hostnames,
            change.address_usage_metrics,
        ]
        .iter()
        .filter(|v| v.is_some())
        .count();
        match given {
            0 => Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain one of EnableDnsSupport, EnableDnsHostnames or \
                 EnableNetworkAddressUsageMetrics.",
            )),
            1 => Ok(Self { vpc_id, change }),
            _ => Err(Ec2Error::new(
                Code::InvalidParameterCombination,
                "Fields for multiple attribute types specified: change one of \
                 EnableDnsSupport, EnableDnsHostnames and EnableNetworkAddressUsageMetrics per \
                 request.",
            )),
        }
    }

    fn dry_run(&self) -> bool {
        false
    }
}

pub async fn serve_modify_vpc<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifyVpcAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.modify_vpc(caller, &req.vpc_id, req.change).await?;
    Ok(returned_true(ModifyVpcAttribute::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSubnet {
    pub req: SubnetRequest,
    pub dry_run: bool,
}

impl Request for CreateSubnet {
    const NAME: &'static str = "CreateSubnet";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        refuse_unserved(
            p,
            &[
                "Ipv6CidrBlock",
                "OutpostArn",
                "Ipv4IpamPoolId",
                "Ipv4NetmaskLength",
                "Ipv6IpamPoolId",
                "Ipv6NetmaskLength",
            ],
        )?;
        if p.take_bool("Ipv6Native")? == Some(true) {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "IPv6-only subnets (Ipv6Native) are not supported by Cirrus yet.",
            ));
        }
        let vpc_id = take_vpc_id(p)?;
        let cidr = p.take_required("CidrBlock")?;
        let specs = take_tag_specs(p, &["subnet"])?;
        Ok(Self {
            req: SubnetRequest {
                vpc_id,
                cidr,
                availability_zone: p.take("AvailabilityZone"),
                availability_zone_id: p.take("AvailabilityZoneId"),
                tags: tags_for(&specs, "subnet"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_create_subnet<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateSubnet,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let s = port.create_subnet(caller, &req.req, req.dry_run).await?;
    Ok(answer(CreateSubnet::NAME, request_id, |w| {
        w.open("subnet");
        write_subnet(w, &s);
        w.close("subnet");
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSubnet(pub ById);

impl Request for DeleteSubnet {
    const NAME: &'static str = "DeleteSubnet";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self(ById {
            id: take_subnet_id(p)?,
            dry_run: p.take_dry_run()?,
        }))
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

pub async fn serve_delete_subnet<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DeleteSubnet,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_subnet(caller, &req.0.id, req.0.dry_run).await?;
    Ok(returned_true(DeleteSubnet::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifySubnetAttribute {
    pub subnet_id: String,
    /// `None` when the request only restates defaults Cirrus keeps (the subnet is checked).
    pub map_public_ip: Option<bool>,
}

impl Request for ModifySubnetAttribute {
    const NAME: &'static str = "ModifySubnetAttribute";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let subnet_id = take_subnet_id(p)?;
        let map_public_ip = take_attribute_bool(p, "MapPublicIpOnLaunch")?;
        let mut given = map_public_ip.is_some();
        // The other attributes are accepted at the values Cirrus has (what Terraform restates);
        // any other value is refused by name.
        for name in [
            "AssignIpv6AddressOnCreation",
            "MapCustomerOwnedIpOnLaunch",
            "EnableDns64",
            "EnableResourceNameDnsARecordOnLaunch",
            "EnableResourceNameDnsAAAARecordOnLaunch",
        ] {
            if let Some(v) = take_attribute_bool(p, name)? {
                if v {
                    return Err(Ec2Error::new(
                        Code::UnsupportedOperation,
                        format!("The subnet attribute {name}=true is not supported by Cirrus yet."),
                    ));
                }
                given = true;
            }
        }
        if let Some(t) = p.take("PrivateDnsHostnameTypeOnLaunch") {
            if t != "ip-name" {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    format!(
                        "The hostname type '{t}' is not supported; Cirrus names hosts ip-name."
                    ),
                ));
            }
            given = true;
        }
        refuse_unserved(
            p,
            &[
                "CustomerOwnedIpv4Pool",
                "EnableLniAtDeviceIndex",
                "DisableLniAtDeviceIndex",
            ],
        )?;
        if !given {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the attribute to change, such as \
                 MapPublicIpOnLaunch.Value.",
            ));
        }
        Ok(Self {
            subnet_id,
            map_public_ip,
        })
    }

    fn dry_run(&self) -> bool {
        false
    }
}

pub async fn serve_modify_subnet<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifySubnetAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.modify_subnet(caller, &req.subnet_id, req.map_public_ip)
        .await?;
    Ok(returned_true(ModifySubnetAttribute::NAME, request_id))
}

/// The not-found error of a VPC.
pub fn vpc_not_found(id: &str) -> Ec2Error {
    Ec2Error::new(
        Code::NotFound(Resource::Vpc),
        format!("The vpc ID '{id}' does not exist"),
    )
}

/// The range error of a VPC CIDR.
pub fn vpc_range(cidr: &str) -> Ec2Error {
    Ec2Error::new(
        Code::Net(NetCode::VpcRange),
        format!("The CIDR '{cidr}' is invalid."),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn ids() {
        assert!(is_id("vpc-0123456789abcdef0", "vpc"));
        assert!(is_id("vpc-1a2b3c4d", "vpc"));
        assert!(!is_id("vpc-XYZ", "vpc"));
        assert!(!is_id("subnet-1a2b3c4d", "vpc"));
    }

    #[test]
    fn modify_vpc_takes_one_attribute() {
        let p = Params::from_pairs(&[
            ("VpcId", "vpc-1a2b3c4d"),
            ("EnableDnsSupport.Value", "true"),
            ("EnableDnsHostnames.Value", "true"),
        ]);
        let e = decode::<ModifyVpcAttribute>(p).unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterCombination);
        let p = Params::from_pairs(&[
            ("VpcId", "vpc-1a2b3c4d"),
            ("EnableDnsHostnames.Value", "true"),
        ]);
        let r = decode::<ModifyVpcAttribute>(p).unwrap();
        assert_eq!(r.change.dns_hostnames, Some(true));
        assert_eq!(r.change.dns_support, None);
    }

    #[test]
    fn malformed_vpc_id() {
        let p = Params::from_pairs(&[("VpcId", "nope")]);
        let e = decode::<DeleteVpc>(p).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidVpcID.Malformed");
    }
}
