//! The EC2 actions the door serves. Each module holds one action's typed request (parsed from
//! [`Params`] before any logic runs), its filters, and the writer of its answer. This file is
//! the dispatch table, the request trait every action implements, and the answer envelope.
//!
//! DryRun: read-only actions answer `DryRunOperation` as soon as the request has parsed and the
//! caller is authenticated (reading is always allowed for one's own account). A mutating action
//! sets [`Request::MUTATING`] and hands the flag to its port method, which validates and
//! authorizes and then refuses to act.

pub mod account_attributes;
pub mod addresses;
pub mod availability_zones;
pub mod common;
pub mod compute;
pub mod gateways;
pub mod image_attributes;
pub mod image_create;
pub mod image_import;
pub mod images;
pub mod instance_types;
pub mod instances;
pub mod keypairs;
pub mod network_interfaces;
pub mod regions;
pub mod route_tables;
pub mod security_groups;
pub mod snapshots;
pub mod tags;
pub mod volumes;
pub mod vpc_admin;
pub mod vpcs;

use crate::error::Ec2Error;
use crate::generated::operations::EC2_INPUT_PARAMS;
use crate::query::Params;
use crate::xml;
use crate::{Caller, Ec2Port};

/// The namespace of every EC2 answer (with the trailing slash real EC2 writes).
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// One action's typed request.
pub trait Request: Sized {
    /// The action's name on the wire.
    const NAME: &'static str;
    /// True if the action changes anything; such an action handles DryRun itself.
    const MUTATING: bool = false;

    /// Takes the action's parameters out of `params`, validating each.
    fn parse(params: &mut Params) -> Result<Self, Ec2Error>;

    fn dry_run(&self) -> bool;
}

/// The EC2 model's top-level parameters of a served action.
pub fn known_params(action: &str) -> &'static [&'static str] {
    EC2_INPUT_PARAMS
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, params)| *params)
        .unwrap_or(&[])
}

/// Parses a request and refuses leftovers; answers DryRunOperation for a read-only action.
pub fn decode<R: Request>(mut params: Params) -> Result<R, Ec2Error> {
    let req = R::parse(&mut params)?;
    params.finish(known_params(R::NAME))?;
    if !R::MUTATING && req.dry_run() {
        return Err(Ec2Error::dry_run());
    }
    Ok(req)
}

/// The actions served, by name.
pub const SERVED: &[&str] = &[
    regions::DescribeRegions::NAME,
    availability_zones::DescribeAvailabilityZones::NAME,
    account_attributes::DescribeAccountAttributes::NAME,
    instance_types::DescribeInstanceTypes::NAME,
    images::DescribeImages::NAME,
    image_import::ImportImage::NAME,
    image_import::DescribeImportImageTasks::NAME,
    image_import::CancelImportTask::NAME,
    image_import::DeregisterImage::NAME,
    image_create::RegisterImage::NAME,
    image_create::CreateImage::NAME,
    image_create::CopyImage::NAME,
    image_attributes::DescribeImageAttribute::NAME,
    image_attributes::ModifyImageAttribute::NAME,
    image_attributes::ResetImageAttribute::NAME,
    instances::DescribeInstances::NAME,
    compute::RunInstances::NAME,
    compute::StartInstances::NAME,
    compute::StopInstances::NAME,
    compute::RebootInstances::NAME,
    compute::TerminateInstances::NAME,
    compute::DescribeInstanceStatus::NAME,
    compute::GetConsoleOutput::NAME,
    compute::DescribeInstanceAttribute::NAME,
    compute::ModifyInstanceAttribute::NAME,
    compute::ModifyInstanceMetadataOptions::NAME,
    compute::DescribeInstanceCreditSpecifications::NAME,
    keypairs::CreateKeyPair::NAME,
    keypairs::ImportKeyPair::NAME,
    keypairs::DescribeKeyPairs::NAME,
    keypairs::DeleteKeyPair::NAME,
    security_groups::CreateSecurityGroup::NAME,
    security_groups::DescribeSecurityGroups::NAME,
    security_groups::DeleteSecurityGroup::NAME,
    security_groups::AuthorizeSecurityGroupIngress::NAME,
    security_groups::AuthorizeSecurityGroupEgress::NAME,
    security_groups::RevokeSecurityGroupIngress::NAME,
    security_groups::RevokeSecurityGroupEgress::NAME,
    security_groups::DescribeSecurityGroupRules::NAME,
    tags::CreateTags::NAME,
    tags::DeleteTags::NAME,
    tags::DescribeTags::NAME,
    vpcs::DescribeVpcs::NAME,
    vpcs::DescribeSubnets::NAME,
    vpcs::DescribeVpcAttribute::NAME,
    addresses::AllocateAddress::NAME,
    addresses::AssociateAddress::NAME,
    addresses::DisassociateAddress::NAME,
    addresses::ReleaseAddress::NAME,
    addresses::DescribeAddresses::NAME,
    addresses::DescribeAddressesAttribute::NAME,
    volumes::CreateVolume::NAME,
    volumes::DescribeVolumes::NAME,
    volumes::AttachVolume::NAME,
    volumes::DetachVolume::NAME,
    volumes::DeleteVolume::NAME,
    volumes::ModifyVolume::NAME,
    volumes::DescribeVolumesModifications::NAME,
    volumes::DescribeVolumeStatus::NAME,
    snapshots::CreateSnapshot::NAME,
    snapshots::DescribeSnapshots::NAME,
    snapshots::DeleteSnapshot::NAME,
    snapshots::CopySnapshot::NAME,
    snapshots::DescribeSnapshotAttribute::NAME,
    snapshots::ModifySnapshotAttribute::NAME,
    vpc_admin::CreateVpc::NAME,
    vpc_admin::DeleteVpc::NAME,
    vpc_admin::ModifyVpcAttribute::NAME,
    vpc_admin::CreateSubnet::NAME,
    vpc_admin::DeleteSubnet::NAME,
    vpc_admin::ModifySubnetAttribute::NAME,
    gateways::CreateInternetGateway::NAME,
    gateways::AttachInternetGateway::NAME,
    gateways::DetachInternetGateway::NAME,
    gateways::DeleteInternetGateway::NAME,
    gateways::DescribeInternetGateways::NAME,
    route_tables::CreateRouteTable::NAME,
    route_tables::DescribeRouteTables::NAME,
    route_tables::AssociateRouteTable::NAME,
    route_tables::DisassociateRouteTable::NAME,
    route_tables::DeleteRouteTable::NAME,
    route_tables::CreateRoute::NAME,
    route_tables::ReplaceRoute::NAME,
    route_tables::DeleteRoute::NAME,
    route_tables::DescribeNetworkAcls::NAME,
    network_interfaces::DescribeNetworkInterfaces::NAME,
];

/// Runs a served action: `None` if the door does not serve `action`.
pub async fn run<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    params: Params,
    request_id: &str,
) -> Option<Result<String, Ec2Error>> {
    if !SERVED.contains(&action) {
        return None;
    }
    Some(dispatch(port, caller, action, params, request_id).await)
}

async fn dispatch<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    params: Params,
    id: &str,
) -> Result<String, Ec2Error> {
    match action {
        regions::DescribeRegions::NAME => regions::serve(port, decode(params)?, id).await,
        availability_zones::DescribeAvailabilityZones::NAME => {
            availability_zones::serve(port, decode(params)?, id).await
        }
        account_attributes::DescribeAccountAttributes::NAME => {
            account_attributes::serve(port, caller, decode(params)?, id).await
        }
        instance_types::DescribeInstanceTypes::NAME => {
            instance_types::serve(port, caller, decode(params)?, id).await
        }
        images::DescribeImages::NAME => images::serve(port, caller, decode(params)?, id).await,
        image_import::ImportImage::NAME => {
            image_import::serve_import(port, caller, decode(params)?, id).await
        }
        image_import::DescribeImportImageTasks::NAME => {
            image_import::serve_describe(port, caller, decode(params)?, id).await
        }
        image_import::CancelImportTask::NAME => {
            image_import::serve_cancel(port, caller, decode(params)?, id).await
        }
        image_import::DeregisterImage::NAME => {
            image_import::serve_deregister(port, caller, decode(params)?, id).await
        }
        image_create::RegisterImage::NAME => {
            image_create::serve_register(port, caller, decode(params)?, id).await
        }
        image_create::CreateImage::NAME => {
            image_create::serve_create(port, caller, decode(params)?, id).await
        }
        image_create::CopyImage::NAME => {
            image_create::serve_copy(port, caller, decode(params)?, id).await
        }
        image_attributes::DescribeImageAttribute::NAME => {
            image_attributes::serve_describe(port, caller, decode(params)?, id).await
        }
        image_attributes::ModifyImageAttribute::NAME => {
            image_attributes::serve_modify(port, caller, decode(params)?, id).await
        }
        image_attributes::ResetImageAttribute::NAME => {
            image_attributes::serve_reset(port, caller, decode(params)?, id).await
        }
        instances::DescribeInstances::NAME => {
            instances::serve(port, caller, decode(params)?, id).await
        }
        compute::RunInstances::NAME => compute::serve_run(port, caller, decode(params)?, id).await,
        compute::StartInstances::NAME => {
            let compute::StartInstances(r) = decode(params)?;
            compute::serve_change(port, caller, action, r, id).await
        }
        compute::StopInstances::NAME => {
            let compute::StopInstances(r) = decode(params)?;
            compute::serve_change(port, caller, action, r, id).await
        }
        compute::RebootInstances::NAME => {
            let compute::RebootInstances(r) = decode(params)?;
            compute::serve_change(port, caller, action, r, id).await
        }
        compute::TerminateInstances::NAME => {
            let compute::TerminateInstances(r) = decode(params)?;
            compute::serve_change(port, caller, action, r, id).await
        }
        compute::DescribeInstanceStatus::NAME => {
            compute::serve_status(port, caller, decode(params)?, id).await
        }
        compute::GetConsoleOutput::NAME => {
            compute::serve_console(port, caller, decode(params)?, id).await
        }
        compute::DescribeInstanceAttribute::NAME => {
            compute::serve_describe_attribute(port, caller, decode(params)?, id).await
        }
        compute::ModifyInstanceAttribute::NAME => {
            compute::serve_modify_attribute(port, caller, decode(params)?, id).await
        }
        compute::ModifyInstanceMetadataOptions::NAME => {
            compute::serve_modify_metadata_options(port, caller, decode(params)?, id).await
        }
        compute::DescribeInstanceCreditSpecifications::NAME => {
            compute::serve_credits(port, caller, decode(params)?, id).await
        }
        keypairs::CreateKeyPair::NAME => {
            keypairs::serve_create(port, caller, decode(params)?, id).await
        }
        keypairs::ImportKeyPair::NAME => {
            keypairs::serve_import(port, caller, decode(params)?, id).await
        }
        keypairs::DescribeKeyPairs::NAME => {
            keypairs::serve_describe(port, caller, decode(params)?, id).await
        }
        keypairs::DeleteKeyPair::NAME => {
            keypairs::serve_delete(port, caller, decode(params)?, id).await
        }
        security_groups::CreateSecurityGroup::NAME => {
            security_groups::serve_create(port, caller, decode(params)?, id).await
        }
        security_groups::DescribeSecurityGroups::NAME => {
            security_groups::serve_describe(port, caller, decode(params)?, id).await
        }
        security_groups::DeleteSecurityGroup::NAME => {
            security_groups::serve_delete(port, caller, decode(params)?, id).await
        }
        security_groups::AuthorizeSecurityGroupIngress::NAME => {
            let security_groups::AuthorizeSecurityGroupIngress(r) = decode(params)?;
            security_groups::serve_change(port, caller, action, false, true, r, id).await
        }
        security_groups::AuthorizeSecurityGroupEgress::NAME => {
            let security_groups::AuthorizeSecurityGroupEgress(r) = decode(params)?;
            security_groups::serve_change(port, caller, action, true, true, r, id).await
        }
        security_groups::RevokeSecurityGroupIngress::NAME => {
            let security_groups::RevokeSecurityGroupIngress(r) = decode(params)?;
            security_groups::serve_change(port, caller, action, false, false, r, id).await
        }
        security_groups::RevokeSecurityGroupEgress::NAME => {
            let security_groups::RevokeSecurityGroupEgress(r) = decode(params)?;
            security_groups::serve_change(port, caller, action, true, false, r, id).await
        }
        security_groups::DescribeSecurityGroupRules::NAME => {
            security_groups::serve_describe_rules(port, caller, decode(params)?, id).await
        }
        tags::CreateTags::NAME => {
            let tags::CreateTags(r) = decode(params)?;
            tags::serve_change(port, caller, action, false, r, id).await
        }
        tags::DeleteTags::NAME => {
            let tags::DeleteTags(r) = decode(params)?;
            tags::serve_change(port, caller, action, true, r, id).await
        }
        tags::DescribeTags::NAME => tags::serve_describe(port, caller, decode(params)?, id).await,
        vpcs::DescribeVpcs::NAME => vpcs::serve_vpcs(port, caller, decode(params)?, id).await,
        vpcs::DescribeSubnets::NAME => vpcs::serve_subnets(port, caller, decode(params)?, id).await,
        vpcs::DescribeVpcAttribute::NAME => {
            vpcs::serve_vpc_attribute(port, caller, decode(params)?, id).await
        }
        addresses::AllocateAddress::NAME => {
            addresses::serve_allocate(port, caller, decode(params)?, id).await
        }
        addresses::AssociateAddress::NAME => {
            addresses::serve_associate(port, caller, decode(params)?, id).await
        }
        addresses::DisassociateAddress::NAME => {
            addresses::serve_disassociate(port, caller, decode(params)?, id).await
        }
        addresses::ReleaseAddress::NAME => {
            addresses::serve_release(port, caller, decode(params)?, id).await
        }
        addresses::DescribeAddresses::NAME => {
            addresses::serve_describe(port, caller, decode(params)?, id).await
        }
        addresses::DescribeAddressesAttribute::NAME => {
            addresses::serve_describe_attribute(port, caller, decode(params)?, id).await
        }
        volumes::CreateVolume::NAME => {
            volumes::serve_create(port, caller, decode(params)?, id).await
        }
        volumes::DescribeVolumes::NAME => {
            volumes::serve_describe(port, caller, decode(params)?, id).await
        }
        volumes::AttachVolume::NAME => {
            volumes::serve_attach(port, caller, decode(params)?, id).await
        }
        volumes::DetachVolume::NAME => {
            volumes::serve_detach(port, caller, decode(params)?, id).await
        }
        volumes::DeleteVolume::NAME => {
            volumes::serve_delete(port, caller, decode(params)?, id).await
        }
        volumes::ModifyVolume::NAME => {
            volumes::serve_modify(port, caller, decode(params)?, id).await
        }
        volumes::DescribeVolumesModifications::NAME => {
            volumes::serve_modifications(port, caller, decode(params)?, id).await
        }
        volumes::DescribeVolumeStatus::NAME => {
            volumes::serve_status(port, caller, decode(params)?, id).await
        }
        snapshots::CreateSnapshot::NAME => {
            snapshots::serve_create(port, caller, decode(params)?, id).await
        }
        snapshots::DescribeSnapshots::NAME => {
            snapshots::serve_describe(port, caller, decode(params)?, id).await
        }
        snapshots::DeleteSnapshot::NAME => {
            snapshots::serve_delete(port, caller, decode(params)?, id).await
        }
        snapshots::CopySnapshot::NAME => {
            snapshots::serve_copy(port, caller, decode(params)?, id).await
        }
        snapshots::DescribeSnapshotAttribute::NAME => {
            snapshots::serve_describe_attribute(port, caller, decode(params)?, id).await
        }
        snapshots::ModifySnapshotAttribute::NAME => {
            snapshots::serve_modify_attribute(port, caller, decode(params)?, id).await
        }
        vpc_admin::CreateVpc::NAME => {
            vpc_admin::serve_create_vpc(port, caller, decode(params)?, id).await
        }
        vpc_admin::DeleteVpc::NAME => {
            vpc_admin::serve_delete_vpc(port, caller, decode(params)?, id).await
        }
        vpc_admin::ModifyVpcAttribute::NAME => {
            vpc_admin::serve_modify_vpc(port, caller, decode(params)?, id).await
        }
        vpc_admin::CreateSubnet::NAME => {
            vpc_admin::serve_create_subnet(port, caller, decode(params)?, id).await
        }
        vpc_admin::DeleteSubnet::NAME => {
            vpc_admin::serve_delete_subnet(port, caller, decode(params)?, id).await
        }
        vpc_admin::ModifySubnetAttribute::NAME => {
            vpc_admin::serve_modify_subnet(port, caller, decode(params)?, id).await
        }
        gateways::CreateInternetGateway::NAME => {
            gateways::serve_create(port, caller, decode(params)?, id).await
        }
        gateways::AttachInternetGateway::NAME => {
            let gateways::AttachInternetGateway(r) = decode(params)?;
            gateways::serve_attach(port, caller, action, true, r, id).await
        }
        gateways::DetachInternetGateway::NAME => {
            let gateways::DetachInternetGateway(r) = decode(params)?;
            gateways::serve_attach(port, caller, action, false, r, id).await
        }
        gateways::DeleteInternetGateway::NAME => {
            gateways::serve_delete(port, caller, decode(params)?, id).await
        }
        gateways::DescribeInternetGateways::NAME => {
            gateways::serve_describe(port, caller, decode(params)?, id).await
        }
        route_tables::CreateRouteTable::NAME => {
            route_tables::serve_create(port, caller, decode(params)?, id).await
        }
        route_tables::DescribeRouteTables::NAME => {
            route_tables::serve_describe(port, caller, decode(params)?, id).await
        }
        route_tables::AssociateRouteTable::NAME => {
            route_tables::serve_associate(port, caller, decode(params)?, id).await
        }
        route_tables::DisassociateRouteTable::NAME => {
            route_tables::serve_disassociate(port, caller, decode(params)?, id).await
        }
        route_tables::DeleteRouteTable::NAME => {
            route_tables::serve_delete(port, caller, decode(params)?, id).await
        }
        route_tables::CreateRoute::NAME => {
            let r: route_tables::CreateRoute = decode(params)?;
            route_tables::serve_route(port, caller, action, r.change, r.dry_run, id).await
        }
        route_tables::ReplaceRoute::NAME => {
            let r: route_tables::ReplaceRoute = decode(params)?;
            route_tables::serve_route(port, caller, action, r.change, r.dry_run, id).await
        }
        route_tables::DeleteRoute::NAME => {
            let r: route_tables::DeleteRoute = decode(params)?;
            route_tables::serve_route(port, caller, action, r.change, r.dry_run, id).await
        }
        route_tables::DescribeNetworkAcls::NAME => {
            route_tables::serve_describe_acls(port, caller, decode(params)?, id).await
        }
        network_interfaces::DescribeNetworkInterfaces::NAME => {
            network_interfaces::serve(port, caller, decode(params)?, id).await
        }
        other => Err(Ec2Error::internal(format!(
            "{other} is listed as served but has no dispatch entry"
        ))),
    }
}

/// Writes `<{Action}Response xmlns=...><requestId>...</requestId>` + body + the closing tag.
pub fn answer(action: &str, request_id: &str, body: impl FnOnce(&mut xml::Writer)) -> String {
    let root = format!("{action}Response");
    let mut w = xml::Writer::new();
    w.open_with_ns(&root, NAMESPACE);
    w.text_element("requestId", request_id);
    body(&mut w);
    w.close(&root);
    w.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
pub(crate) mod tests {
    use super::*;
    use crate::generated::operations::EC2_OPERATIONS;

    #[test]
    fn every_served_action_is_in_the_model_and_the_generator() {
        for action in SERVED {
            assert!(
                EC2_OPERATIONS.binary_search(action).is_ok(),
                "{action} is not an EC2 operation"
            );
            assert!(
                EC2_INPUT_PARAMS.iter().any(|(a, _)| a == action),
                "{action} is missing from SERVED_EC2 in ec2/codegen/gen_actions.py"
            );
        }
        assert_eq!(SERVED.len(), EC2_INPUT_PARAMS.len());
    }

    #[test]
    fn envelope() {
        let text = answer("DescribeRegions", "r-1", |w| w.empty("regionInfo"));
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\
             \"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><regionInfo/>\
             </DescribeRegionsResponse>"
        );
    }

    #[test]
    fn read_only_dry_run_answers_412() {
        let p = Params::from_pairs(&[("DryRun", "true")]);
        let e = decode::<regions::DescribeRegions>(p).unwrap_err();
        assert_eq!(e.code, crate::error::Code::DryRunOperation);
        assert_eq!(e.status(), 412);
    }
}
