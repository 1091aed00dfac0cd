//! The EC2 door: turns ec2Query HTTP requests (and STS GetCallerIdentity) into typed actions,
//! verifies their Signature V4, calls the [`Ec2Port`] and renders EC2's XML answers and error
//! envelopes. It never sees the core: the root crate implements the port.
//!
//! One request goes: parameters decoded ([`query`]) -> signature checked ([`sigv4`]) against the
//! secret the port gives for the access key -> action looked up (served, known to EC2 but not
//! served, or unknown) -> typed request parsed ([`actions`]) -> port called -> XML written
//! ([`xml`]). Every failure on the way is one [`Ec2Error`], rendered in the envelope of the
//! protocol the client speaks.

pub mod actions;
pub mod error;
pub mod filter;
pub mod net_code;
#[rustfmt::skip] // generated: python3 ec2/codegen/gen_actions.py
pub mod generated {
    pub mod operations;
}
pub mod page;
pub mod query;
pub mod sigv4;
pub mod sts;
pub mod types;
pub mod vpc_types;
pub mod xml;

pub use actions::addresses::{Address, AddressAssociation, AddressRef, AssociationTarget};
use bytes::Bytes;
use tracing::{debug, error};

pub use actions::snapshots::{NewSnapshot, PermissionChange, Snapshot};
pub use actions::volumes::{
    NewVolume, Volume, VolumeAttachment, VolumeChange, VolumeModification, VolumePage,
};
pub use error::{Code, Ec2Error, Protocol};
use generated::operations::{EC2_OPERATIONS, STS_OPERATIONS};
use query::Params;
use sigv4::{Claim, RequestParts, SigError};
pub use types::{
    AttributeChange, AvailabilityZone, BlockDevice, BlockDeviceRequest, CreatedKeyPair, GroupRef,
    Image, ImageState, Instance, InstanceAttributes, InstanceState, InstanceType, KeyPair,
    LaunchRequest, MetadataChange, MetadataOptions, NetworkInterface, Permission, PermissionPeer,
    Region, ReservationCursor, ReservationPage, ResourceTag, SecurityGroup, SecurityGroupRule,
    StateChange, Subnet, Tag, VolumeCursor, Vpc,
};

/// The caller behind a verified access key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key: String,
    pub account_id: String,
    /// 12 digits: EC2 `ownerId` and the account part of ARNs.
    pub account_number: String,
    pub account_name: String,
    pub user_id: String,
    pub user_name: String,
    pub is_admin: bool,
}

/// What the port answers for an access key: the caller and its secret.
pub struct Credential {
    pub caller: Caller,
    pub secret_key: String,
}

/// A failure inside the port that is not the caller's fault; logged, answered InternalError.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// What the EC2 door needs from the core. The listing methods answer everything the caller may
/// see; the door applies ids, filters and pages.
#[async_trait::async_trait]
pub trait Ec2Port: Send + Sync + 'static {
    /// The caller and secret for an access key id, or `None` if the key is unknown or revoked.
    async fn credential(&self, access_key: &str) -> Result<Option<Credential>, PortError>;

    /// The cloud's region and the endpoint clients reach it at.
    async fn region(&self) -> Result<Region, PortError>;

    /// The cloud's zones.
    async fn availability_zones(&self) -> Result<Vec<AvailabilityZone>, PortError>;

    /// The instance types (service offerings) the caller may launch.
    async fn instance_types(&self, caller: &Caller) -> Result<Vec<InstanceType>, PortError>;

    /// The images (templates) the caller may launch: its own and every public one.
    async fn images(&self, caller: &Caller) -> Result<Vec<Image>, PortError>;

    /// The caller's account's instances in launch order: every one when `ids` is empty, else
    /// those of `ids` that exist (the door names the missing ones).
    async fn instances(&self, caller: &Caller, ids: &[String]) -> Result<Vec<Instance>, PortError>;

    /// One page of the caller's reservations in launch order: the instances of at most `limit`
    /// reservations after `after`, and the cursor of the last one if more follow.
    async fn reservation_page(
        &self,
        caller: &Caller,
        after: Option<&ReservationCursor>,
        limit: usize,
    ) -> Result<ReservationPage, PortError>;

    // The mutating and newer reads below answer EC2 errors themselves (a client's mistake is
    // the port's to name); each defaults to UnsupportedOperation, so a port that lacks one
    // says so honestly.

    /// Launches instances; with `dry_run` validates and answers DryRunOperation.
    async fn run_instances(
        &self,
        _caller: &Caller,
        _req: &LaunchRequest,
    ) -> Result<Vec<Instance>, Ec2Error> {
        Err(not_served("RunInstances"))
    }

    /// Starts, stops (`force`) or terminates instances, by EC2 id.
    async fn change_state(
        &self,
        _caller: &Caller,
        _ids: &[String],
        _change: StateRequest,
        _dry_run: bool,
    ) -> Result<Vec<StateChange>, Ec2Error> {
        Err(not_served("StartInstances"))
    }

    /// The guest's console output (raw bytes; the door encodes them).
    async fn console_output(&self, _caller: &Caller, _id: &str) -> Result<Vec<u8>, Ec2Error> {
        Err(not_served("GetConsoleOutput"))
    }

    async fn instance_attributes(
        &self,
        _caller: &Caller,
        _id: &str,
    ) -> Result<InstanceAttributes, Ec2Error> {
        Err(not_served("DescribeInstanceAttribute"))
    }

    async fn modify_instance(
        &self,
        _caller: &Caller,
        _id: &str,
        _change: &AttributeChange,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("ModifyInstanceAttribute"))
    }

    /// Changes an instance's metadata options; answers them as they now are.
    async fn modify_metadata_options(
        &self,
        _caller: &Caller,
        _id: &str,
        _change: &MetadataChange,
        _dry_run: bool,
    ) -> Result<MetadataOptions, Ec2Error> {
        Err(not_served("ModifyInstanceMetadataOptions"))
    }

    async fn key_pairs(&self, _caller: &Caller) -> Result<Vec<KeyPair>, Ec2Error> {
        Err(not_served("DescribeKeyPairs"))
    }

    /// Makes (`public_key` None, with `key_type`) or imports a key pair.
    async fn add_key_pair(
        &self,
        _caller: &Caller,
        _name: &str,
        _key_type: &str,
        _public_key: Option<&str>,
        _tags: &[Tag],
        _dry_run: bool,
    ) -> Result<CreatedKeyPair, Ec2Error> {
        Err(not_served("CreateKeyPair"))
    }

    /// Deletes a key pair by name or id; deleting one that is not there succeeds, as on EC2.
    async fn delete_key_pair(
        &self,
        _caller: &Caller,
        _name: Option<&str>,
        _id: Option<&str>,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteKeyPair"))
    }

    async fn security_groups(&self, _caller: &Caller) -> Result<Vec<SecurityGroup>, Ec2Error> {
        Err(not_served("DescribeSecurityGroups"))
    }

    async fn create_security_group(
        &self,
        _caller: &Caller,
        _name: &str,
        _description: &str,
        _vpc_id: Option<&str>,
        _tags: &[Tag],
        _dry_run: bool,
    ) -> Result<SecurityGroup, Ec2Error> {
        Err(not_served("CreateSecurityGroup"))
    }

    /// Deletes a group by id, or by name in the default VPC.
    async fn delete_security_group(
        &self,
        _caller: &Caller,
        _id: Option<&str>,
        _name: Option<&str>,
        _dry_run: bool,
    ) -> Result<String, Ec2Error> {
        Err(not_served("DeleteSecurityGroup"))
    }

    /// Adds (`add`) or removes rules of a group; answers the rules added.
    #[allow(clippy::too_many_arguments)] // one port call per EC2 action, all of its inputs
    async fn change_rules(
        &self,
        _caller: &Caller,
        _group: GroupSelector,
        _egress: bool,
        _add: bool,
        _permissions: &[Permission],
        _rule_ids: &[String],
        _dry_run: bool,
    ) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
        Err(not_served("AuthorizeSecurityGroupIngress"))
    }

    async fn tags(&self, _caller: &Caller) -> Result<Vec<ResourceTag>, Ec2Error> {
        Err(not_served("DescribeTags"))
    }

    /// Sets (`remove` false) or removes tags on resources by EC2 id. A removal's tags with an
    /// empty value remove the key whatever its value.
    async fn change_tags(
        &self,
        _caller: &Caller,
        _resources: &[String],
        _tags: &[(String, Option<String>)],
        _remove: bool,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("CreateTags"))
    }

    /// Starts importing a disk image from an object of this cloud; the new task.
    async fn import_image(
        &self,
        _caller: &Caller,
        _req: &actions::image_import::ImportImage,
    ) -> Result<actions::image_import::ImportTask, Ec2Error> {
        Err(not_served("ImportImage"))
    }

    /// The caller's account's import tasks, oldest first.
    async fn import_tasks(
        &self,
        _caller: &Caller,
    ) -> Result<Vec<actions::image_import::ImportTask>, Ec2Error> {
        Err(not_served("DescribeImportImageTasks"))
    }

    /// Cancels an active import task; answers its state before.
    async fn cancel_import_task(
        &self,
        _caller: &Caller,
        _task_id: &str,
        _dry_run: bool,
    ) -> Result<String, Ec2Error> {
        Err(not_served("CancelImportTask"))
    }

    async fn deregister_image(
        &self,
        _caller: &Caller,
        _image_id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeregisterImage"))
    }

    /// Registers an image whose root device is a snapshot; answers its id.
    async fn register_image(
        &self,
        _caller: &Caller,
        _snapshot_id: &str,
        _image: &actions::image_create::NewImage,
        _dry_run: bool,
    ) -> Result<String, Ec2Error> {
        Err(not_served("RegisterImage"))
    }

    /// Makes an image of an instance's root volume; answers its id (the image is pending).
    async fn create_image(
        &self,
        _caller: &Caller,
        _instance_id: &str,
        _image: &actions::image_create::NewImage,
        _dry_run: bool,
    ) -> Result<String, Ec2Error> {
        Err(not_served("CreateImage"))
    }

    /// Copies an image within this region; answers the copy's id.
    async fn copy_image(
        &self,
        _caller: &Caller,
        _req: &actions::image_create::CopyImage,
    ) -> Result<String, Ec2Error> {
        Err(not_served("CopyImage"))
    }

    /// Changes an image of the caller's: its launch permissions or its description.
    async fn modify_image(
        &self,
        _caller: &Caller,
        _image_id: &str,
        _change: &actions::image_attributes::ImageChange,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("ModifyImageAttribute"))
    }

    async fn vpcs(&self, _caller: &Caller) -> Result<Vec<Vpc>, Ec2Error> {
        Err(not_served("DescribeVpcs"))
    }

    async fn subnets(&self, _caller: &Caller) -> Result<Vec<Subnet>, Ec2Error> {
        Err(not_served("DescribeSubnets"))
    }

    /// The caller's account's elastic IP addresses, oldest first.
    async fn addresses(&self, _caller: &Caller) -> Result<Vec<Address>, Ec2Error> {
        Err(not_served("DescribeAddresses"))
    }

    async fn allocate_address(
        &self,
        _caller: &Caller,
        _req: &actions::addresses::AllocateAddress,
    ) -> Result<Address, Ec2Error> {
        Err(not_served("AllocateAddress"))
    }

    /// Maps an address to an instance or interface; answers the association id.
    async fn associate_address(
        &self,
        _caller: &Caller,
        _req: &actions::addresses::AssociateAddress,
    ) -> Result<String, Ec2Error> {
        Err(not_served("AssociateAddress"))
    }

    async fn disassociate_address(
        &self,
        _caller: &Caller,
        _address: &AddressRef,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DisassociateAddress"))
    }

    /// Gives an address back; refused (InvalidIPAddress.InUse) while it is associated.
    async fn release_address(
        &self,
        _caller: &Caller,
        _req: &actions::addresses::ReleaseAddress,
    ) -> Result<(), Ec2Error> {
        Err(not_served("ReleaseAddress"))
    }

    /// The caller's account's volumes, oldest first.
    async fn volumes(&self, _caller: &Caller) -> Result<Vec<Volume>, Ec2Error> {
        Err(not_served("DescribeVolumes"))
    }

    /// One page of the caller's account's volumes, oldest first: at most `limit` after
    /// `after`, and the cursor of the last one if more follow.
    async fn volume_page(
        &self,
        _caller: &Caller,
        _after: Option<&VolumeCursor>,
        _limit: usize,
    ) -> Result<VolumePage, Ec2Error> {
        Err(not_served("DescribeVolumes"))
    }

    async fn create_volume(
        &self,
        _caller: &Caller,
        _req: &NewVolume,
        _dry_run: bool,
    ) -> Result<Volume, Ec2Error> {
        Err(not_served("CreateVolume"))
    }

    /// Attaches a volume; answers the attachment as it is while attaching.
    async fn attach_volume(
        &self,
        _caller: &Caller,
        _volume_id: &str,
        _instance_id: &str,
        _device: &str,
        _dry_run: bool,
    ) -> Result<VolumeAttachment, Ec2Error> {
        Err(not_served("AttachVolume"))
    }

    /// Detaches a volume; answers the attachment as it is while detaching.
    #[allow(clippy::too_many_arguments)] // one port call per EC2 action, all of its inputs
    async fn detach_volume(
        &self,
        _caller: &Caller,
        _volume_id: &str,
        _instance_id: Option<&str>,
        _device: Option<&str>,
        _force: bool,
        _dry_run: bool,
    ) -> Result<VolumeAttachment, Ec2Error> {
        Err(not_served("DetachVolume"))
    }

    async fn delete_volume(
        &self,
        _caller: &Caller,
        _volume_id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteVolume"))
    }

    async fn modify_volume(
        &self,
        _caller: &Caller,
        _change: &VolumeChange,
        _dry_run: bool,
    ) -> Result<VolumeModification, Ec2Error> {
        Err(not_served("ModifyVolume"))
    }

    async fn volume_modifications(
        &self,
        _caller: &Caller,
    ) -> Result<Vec<VolumeModification>, Ec2Error> {
        Err(not_served("DescribeVolumesModifications"))
    }

    /// The snapshots the caller may see: its own and those shared with it, oldest first.
    async fn snapshots(&self, _caller: &Caller) -> Result<Vec<Snapshot>, Ec2Error> {
        Err(not_served("DescribeSnapshots"))
    }

    async fn create_snapshot(
        &self,
        _caller: &Caller,
        _volume_id: &str,
        _req: &NewSnapshot,
        _dry_run: bool,
    ) -> Result<Snapshot, Ec2Error> {
        Err(not_served("CreateSnapshot"))
    }

    async fn copy_snapshot(
        &self,
        _caller: &Caller,
        _source_region: &str,
        _source_id: &str,
        _req: &NewSnapshot,
        _dry_run: bool,
    ) -> Result<Snapshot, Ec2Error> {
        Err(not_served("CopySnapshot"))
    }

    async fn delete_snapshot(
        &self,
        _caller: &Caller,
        _snapshot_id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteSnapshot"))
    }

    async fn change_snapshot_permissions(
        &self,
        _caller: &Caller,
        _snapshot_id: &str,
        _change: &PermissionChange,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("ModifySnapshotAttribute"))
    }

    // VPC administration (ec2/src/actions/vpc_admin.rs, gateways.rs, route_tables.rs,
    // network_interfaces.rs).

    async fn create_vpc(
        &self,
        _caller: &Caller,
        _cidr: &str,
        _tags: &[Tag],
        _dry_run: bool,
    ) -> Result<Vpc, Ec2Error> {
        Err(not_served("CreateVpc"))
    }

    async fn delete_vpc(
        &self,
        _caller: &Caller,
        _id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteVpc"))
    }

    async fn modify_vpc(
        &self,
        _caller: &Caller,
        _id: &str,
        _change: vpc_types::VpcAttributeChange,
    ) -> Result<(), Ec2Error> {
        Err(not_served("ModifyVpcAttribute"))
    }

    async fn create_subnet(
        &self,
        _caller: &Caller,
        _req: &vpc_types::SubnetRequest,
        _dry_run: bool,
    ) -> Result<Subnet, Ec2Error> {
        Err(not_served("CreateSubnet"))
    }

    async fn delete_subnet(
        &self,
        _caller: &Caller,
        _id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteSubnet"))
    }

    async fn modify_subnet(
        &self,
        _caller: &Caller,
        _id: &str,
        _map_public_ip: Option<bool>,
    ) -> Result<(), Ec2Error> {
        Err(not_served("ModifySubnetAttribute"))
    }

    async fn internet_gateways(
        &self,
        _caller: &Caller,
    ) -> Result<Vec<vpc_types::InternetGateway>, Ec2Error> {
        Err(not_served("DescribeInternetGateways"))
    }

    async fn create_internet_gateway(
        &self,
        _caller: &Caller,
        _tags: &[Tag],
        _dry_run: bool,
    ) -> Result<vpc_types::InternetGateway, Ec2Error> {
        Err(not_served("CreateInternetGateway"))
    }

    /// Attaches (`attach`) or detaches a gateway.
    async fn attach_internet_gateway(
        &self,
        _caller: &Caller,
        _gateway_id: &str,
        _vpc_id: &str,
        _attach: bool,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("AttachInternetGateway"))
    }

    async fn delete_internet_gateway(
        &self,
        _caller: &Caller,
        _gateway_id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteInternetGateway"))
    }

    async fn route_tables(&self, _caller: &Caller) -> Result<Vec<vpc_types::RouteTable>, Ec2Error> {
        Err(not_served("DescribeRouteTables"))
    }

    async fn create_route_table(
        &self,
        _caller: &Caller,
        _vpc_id: &str,
        _client_token: Option<&str>,
        _tags: &[Tag],
        _dry_run: bool,
    ) -> Result<vpc_types::RouteTable, Ec2Error> {
        Err(not_served("CreateRouteTable"))
    }

    async fn delete_route_table(
        &self,
        _caller: &Caller,
        _id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DeleteRouteTable"))
    }

    /// Associates a subnet with a route table; answers the association id.
    async fn associate_route_table(
        &self,
        _caller: &Caller,
        _route_table_id: &str,
        _subnet_id: &str,
        _dry_run: bool,
    ) -> Result<String, Ec2Error> {
        Err(not_served("AssociateRouteTable"))
    }

    async fn disassociate_route_table(
        &self,
        _caller: &Caller,
        _association_id: &str,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("DisassociateRouteTable"))
    }

    async fn change_route(
        &self,
        _caller: &Caller,
        _change: &vpc_types::RouteChange,
        _dry_run: bool,
    ) -> Result<(), Ec2Error> {
        Err(not_served("CreateRoute"))
    }

    async fn network_acls(&self, _caller: &Caller) -> Result<Vec<vpc_types::NetworkAcl>, Ec2Error> {
        Err(not_served("DescribeNetworkAcls"))
    }

    async fn network_interfaces(
        &self,
        _caller: &Caller,
    ) -> Result<Vec<vpc_types::InterfaceView>, Ec2Error> {
        Err(not_served("DescribeNetworkInterfaces"))
    }
}

/// Which instance state change is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRequest {
    Start,
    Stop { force: bool },
    Reboot,
    Terminate,
}

/// A group named by id or by name (in the default VPC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSelector {
    Id(String),
    Name(String),
}

fn not_served(action: &str) -> Ec2Error {
    Ec2Error::new(
        Code::UnsupportedOperation,
        format!("The action {action} is not supported by this port."),
    )
}

/// The scope services this door answers; any other non-S3 service is refused by name.
const EC2_SERVICE: &str = "ec2";
const STS_SERVICE: &str = "sts";

/// Answers one EC2 (or STS) request, signed or not. Every answer, success or error, is XML in
/// the dialect of the service the client signed for (EC2 when unsigned).
pub async fn handle<P: Ec2Port + ?Sized>(
    port: &P,
    req: http::Request<Bytes>,
    request_id: &str,
) -> http::Response<Bytes> {
    let (head, body) = req.into_parts();
    let parts = RequestParts {
        method: head.method.as_str(),
        path: head.uri.path(),
        query: head.uri.query(),
        headers: &head.headers,
        body: &body,
    };
    let claim = sigv4::parse(&parts);
    let protocol = match &claim {
        Ok(Some(c)) if c.service != EC2_SERVICE => Protocol::AwsQuery,
        _ => Protocol::Ec2,
    };
    match serve(port, &parts, claim, protocol, request_id).await {
        Ok(text) => xml::response(http::StatusCode::OK, text),
        Err(e) => {
            if e.status().is_server_error() {
                error!(code = %e.code, detail = e.detail.as_deref().unwrap_or(""), "EC2 request failed");
            } else {
                debug!(code = %e.code, message = %e.message, "EC2 request refused");
            }
            e.to_response(protocol, request_id)
        }
    }
}

fn is_form(parts: &RequestParts<'_>) -> bool {
    match parts.headers.get(http::header::CONTENT_TYPE) {
        Some(ct) => ct
            .to_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded"),
        None => parts.method == "POST",
    }
}

async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    parts: &RequestParts<'_>,
    claim: Result<Option<Claim>, SigError>,
    protocol: Protocol,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let form = is_form(parts).then_some(parts.body);
    let decoded = Params::decode(parts.query, form);
    let span = tracing::Span::current();
    let named = decoded.as_ref().ok().and_then(|p| p.peek("Action"));
    let known = named.filter(|a| {
        EC2_OPERATIONS.binary_search(a).is_ok() || STS_OPERATIONS.binary_search(a).is_ok()
    });
    span.record("action", known.unwrap_or("unknown"));

    // Nothing about the request is answered before its caller is known.
    let (caller, service) = authenticate(port, parts, claim, protocol).await?;
    span.record("account", caller.account_name.as_str());

    let mut params = decoded?;
    let action = params.take("Action");
    // LIMITATION: every answer is in the 2016-11-15 shapes whatever Version the client names.
    let _version = params.take("Version");
    let action = action.ok_or_else(|| {
        Ec2Error::new(
            Code::MissingParameter,
            "The request must contain the parameter Action.",
        )
    })?;
    match service.as_str() {
        EC2_SERVICE => {
            if let Some(answer) = actions::run(port, &caller, &action, params, request_id).await {
                return answer;
            }
            if EC2_OPERATIONS.binary_search(&action.as_str()).is_ok() {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    format!("The action {action} is not supported by Cirrus yet."),
                ));
            }
            Err(Ec2Error::new(
                Code::InvalidAction,
                format!("The action {action} is not valid for this web service."),
            ))
        }
        STS_SERVICE => sts::run(&caller, &action, params, request_id),
        other => Err(Ec2Error::new(
            Code::InvalidAction,
            format!(
                "This endpoint does not serve the AWS service '{other}'; it answers EC2 and STS \
                 (and S3) only."
            ),
        )),
    }
}

/// The caller of a request and the service it signed for, or the error that refuses it.
async fn authenticate<P: Ec2Port + ?Sized>(
    port: &P,
    parts: &RequestParts<'_>,
    claim: Result<Option<Claim>, SigError>,
    protocol: Protocol,
) -> Result<(Caller, String), Ec2Error> {
    let claim = claim.map_err(sig_error)?.ok_or_else(|| {
        Ec2Error::new(
            Code::AuthFailure,
            "AWS was not able to validate the provided access credentials: the request is not \
             signed. Sign it with Signature V4 and an access key (Authorization header or \
             X-Amz-* query parameters).",
        )
    })?;
    let bad_key = |message: String| match protocol {
        Protocol::Ec2 => Ec2Error::new(Code::AuthFailure, message),
        Protocol::AwsQuery => Ec2Error::new(Code::InvalidClientTokenId, message),
    };
    if claim.security_token.is_some() {
        return Err(bad_key(
            "The security token included in the request is invalid: Cirrus issues no session \
             credentials, so sign with an access key alone."
                .into(),
        ));
    }
    sigv4::check_time(&claim, chrono::Utc::now()).map_err(sig_error)?;
    let Some(credential) = port.credential(&claim.access_key).await? else {
        return Err(bad_key(format!(
            "AWS was not able to validate the provided access credentials: the access key '{}' \
             does not exist or is not active.",
            claim.access_key
        )));
    };
    sigv4::verify(&claim, parts, &credential.secret_key).map_err(sig_error)?;
    Ok((credential.caller, claim.service))
}

fn sig_error(e: SigError) -> Ec2Error {
    match e {
        SigError::Malformed(m) => Ec2Error::new(Code::IncompleteSignature, m),
        SigError::Expired(m) => Ec2Error::new(Code::RequestExpired, m),
        SigError::Mismatch(m) => Ec2Error::new(Code::SignatureDoesNotMatch, m),
    }
}
