//! The door's one error type: an [`Ec2Error`] carries a [`Code`] and a message; the code decides
//! the HTTP status (an exhaustive match) and the error renders as EC2's envelope
//! (`<Response><Errors><Error>...`) or, for STS, as the awsQuery `<ErrorResponse>`. Every failure
//! on every path of the door leaves through here, so clients always get an envelope they parse.

use std::fmt;

use bytes::Bytes;

pub use crate::net_code::NetCode;
use crate::xml;

/// A kind of resource whose ids have `.NotFound` and `.Malformed` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Instance,
    Image,
    KeyPair,
    SecurityGroup,
    Volume,
    Snapshot,
    Vpc,
    Subnet,
    Allocation,
    Zone,
}

impl Resource {
    /// The code stem, e.g. `InvalidInstanceID` of `InvalidInstanceID.NotFound`.
    fn stem(self) -> &'static str {
        match self {
            Self::Instance => "InvalidInstanceID",
            Self::Image => "InvalidAMIID",
            Self::KeyPair => "InvalidKeyPair",
            Self::SecurityGroup => "InvalidGroup",
            Self::Volume => "InvalidVolume",
            Self::Snapshot => "InvalidSnapshot",
            Self::Vpc => "InvalidVpcID",
            Self::Subnet => "InvalidSubnetID",
            Self::Allocation => "InvalidAllocationID",
            Self::Zone => "InvalidZone",
        }
    }
}

/// Every error code the door answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    // The caller's mistakes: 400.
    InvalidParameterValue,
    InvalidParameter,
    InvalidParameterCombination,
    MissingParameter,
    UnknownParameter,
    InvalidAction,
    UnsupportedOperation,
    RequestExpired,
    IncompleteSignature,
    NotFound(Resource),
    Malformed(Resource),
    /// A name or rule already taken: `InvalidKeyPair.Duplicate`, `InvalidGroup.Duplicate`.
    Duplicate(Resource),
    /// A resource id of no kind Cirrus knows (CreateTags and the like).
    InvalidId,
    IncorrectState,
    IncorrectInstanceState,
    DependencyViolation,
    InvalidPermissionDuplicate,
    InvalidPermissionNotFound,
    IdempotentParameterMismatch,
    OperationNotPermitted,
    InvalidInstanceType,
    /// `InvalidVolume.ZoneMismatch`: a volume and an instance in different zones.
    VolumeZoneMismatch,
    VolumeInUse,
    /// `InvalidAttachment.NotFound`.
    AttachmentNotFound,
    /// `InvalidSnapshot.InUse`.
    SnapshotInUse,
    /// `InvalidAMIName.Malformed`: an image name EC2 does not accept.
    AmiNameMalformed,
    /// `InvalidAMIID.Unavailable`: the image is pending, failed or deregistered.
    ImageUnavailable,
    /// The codes of VPCs, subnets, gateways, route tables, ACLs and interfaces.
    Net(NetCode),
    // Authentication: 401.
    AuthFailure,
    // Authorization and signatures: 403.
    UnauthorizedOperation,
    SignatureDoesNotMatch,
    InvalidClientTokenId,
    // DryRun: 412.
    DryRunOperation,
    // Throttling and outages: 503.
    RequestLimitExceeded,
    Unavailable,
    // Our side: 500.
    InternalError,
    InsufficientInstanceCapacity,
    AddressLimitExceeded,
    AddressNotFound,
    AddressInUse,
    AlreadyAssociated,
    AssociationNotFound,
    AssociationMalformed,
    NetworkInterfaceNotFound,
    NetworkInterfaceMalformed,
    InsufficientAddressCapacity,
    /// The subnet has no address left for the instances asked for (a client error on AWS).
    InsufficientFreeAddressesInSubnet,
}

impl Code {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidParameterValue => "InvalidParameterValue",
            Self::InvalidParameter => "InvalidParameter",
            Self::InvalidParameterCombination => "InvalidParameterCombination",
            Self::MissingParameter => "MissingParameter",
            Self::UnknownParameter => "UnknownParameter",
            Self::InvalidAction => "InvalidAction",
            Self::UnsupportedOperation => "UnsupportedOperation",
            Self::RequestExpired => "RequestExpired",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::NotFound(r) => match r {
                Resource::Instance => "InvalidInstanceID.NotFound",
                Resource::Image => "InvalidAMIID.NotFound",
                Resource::KeyPair => "InvalidKeyPair.NotFound",
                Resource::SecurityGroup => "InvalidGroup.NotFound",
                Resource::Volume => "InvalidVolume.NotFound",
                Resource::Snapshot => "InvalidSnapshot.NotFound",
                Resource::Vpc => "InvalidVpcID.NotFound",
                Resource::Subnet => "InvalidSubnetID.NotFound",
                Resource::Allocation => "InvalidAllocationID.NotFound",
                Resource::Zone => "InvalidZone.NotFound",
            },
            Self::Malformed(r) => match r {
                Resource::Instance => "InvalidInstanceID.Malformed",
                Resource::Image => "InvalidAMIID.Malformed",
                Resource::KeyPair => "InvalidKeyPair.Format",
                Resource::SecurityGroup => "InvalidGroupId.Malformed",
                Resource::Volume => "InvalidVolumeID.Malformed",
                Resource::Snapshot => "InvalidSnapshotID.Malformed",
                Resource::Vpc => "InvalidVpcID.Malformed",
                Resource::Subnet => "InvalidSubnetID.Malformed",
                Resource::Allocation => "InvalidAllocationID.Malformed",
                Resource::Zone => "InvalidParameterValue",
            },
            Self::Duplicate(r) => match r {
                Resource::KeyPair => "InvalidKeyPair.Duplicate",
                Resource::SecurityGroup => "InvalidGroup.Duplicate",
                Resource::Instance => "InvalidInstanceID.Duplicate",
                Resource::Image => "InvalidAMIName.Duplicate",
                Resource::Volume => "InvalidVolume.Duplicate",
                Resource::Snapshot => "InvalidSnapshot.Duplicate",
                Resource::Vpc => "InvalidVpc.Duplicate",
                Resource::Subnet => "InvalidSubnet.Conflict",
                Resource::Allocation => "InvalidAllocationID.Duplicate",
                Resource::Zone => "InvalidParameterValue",
            },
            Self::InvalidId => "InvalidID",
            Self::IncorrectState => "IncorrectState",
            Self::IncorrectInstanceState => "IncorrectInstanceState",
            Self::DependencyViolation => "DependencyViolation",
            Self::InvalidPermissionDuplicate => "InvalidPermission.Duplicate",
            Self::InvalidPermissionNotFound => "InvalidPermission.NotFound",
            Self::IdempotentParameterMismatch => "IdempotentParameterMismatch",
            Self::OperationNotPermitted => "OperationNotPermitted",
            Self::InvalidInstanceType => "InvalidInstanceType",
            Self::VolumeZoneMismatch => "InvalidVolume.ZoneMismatch",
            Self::VolumeInUse => "VolumeInUse",
            Self::AttachmentNotFound => "InvalidAttachment.NotFound",
            Self::SnapshotInUse => "InvalidSnapshot.InUse",
            Self::AmiNameMalformed => "InvalidAMIName.Malformed",
            Self::ImageUnavailable => "InvalidAMIID.Unavailable",
            Self::Net(n) => n.as_str(),
            Self::AuthFailure => "AuthFailure",
            Self::UnauthorizedOperation => "UnauthorizedOperation",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::DryRunOperation => "DryRunOperation",
            Self::RequestLimitExceeded => "RequestLimitExceeded",
            Self::Unavailable => "Unavailable",
            Self::InternalError => "InternalError",
            Self::InsufficientInstanceCapacity => "InsufficientInstanceCapacity",
            Self::InsufficientFreeAddressesInSubnet => "InsufficientFreeAddressesInSubnet",
            Self::AddressLimitExceeded => "AddressLimitExceeded",
            Self::AddressNotFound => "InvalidAddress.NotFound",
            Self::AddressInUse => "InvalidIPAddress.InUse",
            Self::AlreadyAssociated => "Resource.AlreadyAssociated",
            Self::AssociationNotFound => "InvalidAssociationID.NotFound",
            Self::AssociationMalformed => "InvalidAssociationID.Malformed",
            Self::NetworkInterfaceNotFound => "InvalidNetworkInterfaceID.NotFound",
            Self::NetworkInterfaceMalformed => "InvalidNetworkInterfaceID.Malformed",
            Self::InsufficientAddressCapacity => "InsufficientAddressCapacity",
        }
    }

    /// The HTTP status of the code. Exhaustive on purpose: a new code must choose its status.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::InvalidParameterValue
            | Self::InvalidParameter
            | Self::InvalidParameterCombination
            | Self::MissingParameter
            | Self::UnknownParameter
            | Self::InvalidAction
            | Self::UnsupportedOperation
            | Self::RequestExpired
            | Self::IncompleteSignature
            | Self::NotFound(_)
            | Self::Malformed(_)
            | Self::Duplicate(_)
            | Self::InvalidId
            | Self::IncorrectState
            | Self::IncorrectInstanceState
            | Self::DependencyViolation
            | Self::InvalidPermissionDuplicate
            | Self::InvalidPermissionNotFound
            | Self::IdempotentParameterMismatch
            | Self::OperationNotPermitted
            | Self::InvalidInstanceType
            | Self::AddressLimitExceeded
            | Self::AddressNotFound
            | Self::AddressInUse
            | Self::AlreadyAssociated
            | Self::AssociationNotFound
            | Self::AssociationMalformed
            | Self::NetworkInterfaceNotFound
            | Self::NetworkInterfaceMalformed
            | Self::VolumeZoneMismatch
            | Self::VolumeInUse
            | Self::AttachmentNotFound
            | Self::SnapshotInUse
            | Self::AmiNameMalformed
            | Self::ImageUnavailable
            | Self::InsufficientFreeAddressesInSubnet
            | Self::Net(_) => S::BAD_REQUEST,
            Self::AuthFailure => S::UNAUTHORIZED,
            Self::UnauthorizedOperation
            | Self::SignatureDoesNotMatch
            | Self::InvalidClientTokenId => S::FORBIDDEN,
            Self::DryRunOperation => S::PRECONDITION_FAILED,
            Self::RequestLimitExceeded | Self::Unavailable => S::SERVICE_UNAVAILABLE,
            Self::InternalError
            | Self::InsufficientInstanceCapacity
            | Self::InsufficientAddressCapacity => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stem of a resource code, exposed for messages and tests.
    pub fn resource_stem(self) -> Option<&'static str> {
        match self {
            Self::NotFound(r) | Self::Malformed(r) | Self::Duplicate(r) => Some(r.stem()),
            _ => None,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wire dialect an error is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// EC2's query protocol: `<Response><Errors><Error>...</Errors><RequestID>`.
    Ec2,
    /// The awsQuery protocol of STS (and of any other query service a client signs for):
    /// `<ErrorResponse><Error><Type>...</Error><RequestId>`.
    AwsQuery,
}

/// One error answered to the client: a code and a sentence naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Ec2Error {
    pub code: Code,
    pub message: String,
    /// What went wrong on our side, for the log only (never sent to the client).
    pub detail: Option<String>,
}

const INTERNAL_MESSAGE: &str =
    "An internal error has occurred; the request id identifies it in the server log.";

impl Ec2Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Our own fault: the client reads a generic sentence, the log gets `detail`.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            code: Code::InternalError,
            message: INTERNAL_MESSAGE.to_owned(),
            detail: Some(detail.into()),
        }
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidParameterValue, message)
    }

    pub fn dry_run() -> Self {
        Self::new(
            Code::DryRunOperation,
            "Request would have succeeded, but DryRun flag is set.",
        )
    }

    pub fn status(&self) -> http::StatusCode {
        self.code.status()
    }

    /// The error as an HTTP response in the given dialect.
    pub fn to_response(&self, protocol: Protocol, request_id: &str) -> http::Response<Bytes> {
        let body = match protocol {
            Protocol::Ec2 => self.ec2_body(request_id),
            Protocol::AwsQuery => self.sts_body(request_id),
        };
        xml::response(self.status(), body)
    }

    fn ec2_body(&self, request_id: &str) -> String {
        let mut w = xml::Writer::new();
        w.open("Response");
        w.open("Errors");
        w.open("Error");
        w.text_element("Code", self.code.as_str());
        w.text_element("Message", &self.message);
        w.close("Error");
        w.close("Errors");
        w.text_element("RequestID", request_id);
        w.close("Response");
        w.finish()
    }

    fn sts_body(&self, request_id: &str) -> String {
        let fault = if self.status().is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut w = xml::Writer::new();
        w.open_with_ns("ErrorResponse", crate::sts::NAMESPACE);
        w.open("Error");
        w.text_element("Type", fault);
        w.text_element("Code", self.code.as_str());
        w.text_element("Message", &self.message);
        w.close("Error");
        w.text_element("RequestId", request_id);
        w.close("ErrorResponse");
        w.finish()
    }
}

impl From<crate::PortError> for Ec2Error {
    fn from(e: crate::PortError) -> Self {
        Self::internal(e.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases = [
            (Code::InvalidParameterValue, 400),
            (Code::MissingParameter, 400),
            (Code::InvalidAction, 400),
            (Code::UnsupportedOperation, 400),
            (Code::RequestExpired, 400),
            (Code::IncompleteSignature, 400),
            (Code::NotFound(Resource::Instance), 400),
            (Code::Malformed(Resource::Image), 400),
            (Code::IdempotentParameterMismatch, 400),
            (Code::AuthFailure, 401),
            (Code::UnauthorizedOperation, 403),
            (Code::SignatureDoesNotMatch, 403),
            (Code::InvalidClientTokenId, 403),
            (Code::DryRunOperation, 412),
            (Code::RequestLimitExceeded, 503),
            (Code::InternalError, 500),
            (Code::InsufficientInstanceCapacity, 500),
            (Code::InsufficientFreeAddressesInSubnet, 400),
            (Code::AmiNameMalformed, 400),
            (Code::ImageUnavailable, 400),
            (Code::Duplicate(Resource::Image), 400),
        ];
        for (code, status) in cases {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
    }

    #[test]
    fn resource_codes() {
        let cases = [
            (
                Code::NotFound(Resource::Instance),
                "InvalidInstanceID.NotFound",
            ),
            (
                Code::Malformed(Resource::Instance),
                "InvalidInstanceID.Malformed",
            ),
            (Code::NotFound(Resource::Image), "InvalidAMIID.NotFound"),
            (Code::Malformed(Resource::Image), "InvalidAMIID.Malformed"),
            (Code::NotFound(Resource::KeyPair), "InvalidKeyPair.NotFound"),
            (
                Code::InvalidPermissionNotFound,
                "InvalidPermission.NotFound",
            ),
        ];
        for (code, text) in cases {
            assert_eq!(code.as_str(), text);
        }
        assert_eq!(
            Code::NotFound(Resource::Vpc).resource_stem(),
            Some("InvalidVpcID")
        );
    }

    #[test]
    fn ec2_envelope_is_exact() {
        let e = Ec2Error::new(Code::InvalidAction, "The action Foo<&> is not valid.");
        let resp = e.to_response(Protocol::Ec2, "req-1");
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["content-type"], "text/xml;charset=UTF-8");
        assert_eq!(
            std::str::from_utf8(resp.body()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>\
             InvalidAction</Code><Message>The action Foo&lt;&amp;&gt; is not valid.</Message>\
             </Error></Errors><RequestID>req-1</RequestID></Response>"
        );
    }

    #[test]
    fn sts_envelope() {
        let e = Ec2Error::new(Code::InvalidClientTokenId, "bad");
        let resp = e.to_response(Protocol::AwsQuery, "r2");
        assert_eq!(resp.status(), 403);
        assert_eq!(
            std::str::from_utf8(resp.body()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"https://sts.\
             amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidClientTokenId\
             </Code><Message>bad</Message></Error><RequestId>r2</RequestId></ErrorResponse>"
        );
        let internal = Ec2Error::internal("db down").to_response(Protocol::AwsQuery, "r3");
        let body = std::str::from_utf8(internal.body()).unwrap().to_owned();
        assert!(body.contains("<Type>Receiver</Type>"));
        assert!(!body.contains("db down"), "details never reach the client");
    }
}
