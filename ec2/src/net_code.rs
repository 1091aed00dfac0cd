//! The error codes of EC2's networking actions (VPCs, subnets, internet gateways, route tables,
//! network ACLs and network interfaces) that the shared codes of [`crate::error::Code`] do not
//! already name. Every one is the caller's mistake, so [`crate::error::Code::Net`] answers 400.

/// One networking error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCode {
    VpcRange,
    SubnetRange,
    SubnetConflict,
    AlreadyAssociated,
    GatewayNotAttached,
    RouteNotFound,
    RouteAlreadyExists,
    GatewayNotFound,
    InternetGatewayNotFound,
    InternetGatewayMalformed,
    RouteTableNotFound,
    RouteTableMalformed,
    AssociationNotFound,
    NetworkAclNotFound,
    NetworkInterfaceNotFound,
    NetworkInterfaceMalformed,
}

impl NetCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VpcRange => "InvalidVpc.Range",
            Self::SubnetRange => "InvalidSubnet.Range",
            Self::SubnetConflict => "InvalidSubnet.Conflict",
            Self::AlreadyAssociated => "Resource.AlreadyAssociated",
            Self::GatewayNotAttached => "Gateway.NotAttached",
            Self::RouteNotFound => "InvalidRoute.NotFound",
            Self::RouteAlreadyExists => "RouteAlreadyExists",
            Self::GatewayNotFound => "InvalidGatewayID.NotFound",
            Self::InternetGatewayNotFound => "InvalidInternetGatewayID.NotFound",
            Self::InternetGatewayMalformed => "InvalidInternetGatewayID.Malformed",
            Self::RouteTableNotFound => "InvalidRouteTableID.NotFound",
            Self::RouteTableMalformed => "InvalidRouteTableID.Malformed",
            Self::AssociationNotFound => "InvalidAssociationID.NotFound",
            Self::NetworkAclNotFound => "InvalidNetworkAclID.NotFound",
            Self::NetworkInterfaceNotFound => "InvalidNetworkInterfaceID.NotFound",
            Self::NetworkInterfaceMalformed => "InvalidNetworkInterfaceID.Malformed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn every_net_code_is_a_400() {
        for n in [
            NetCode::VpcRange,
            NetCode::RouteNotFound,
            NetCode::AlreadyAssociated,
        ] {
            assert_eq!(Code::Net(n).status().as_u16(), 400, "{}", n.as_str());
        }
        assert_eq!(
            Code::Net(NetCode::GatewayNotAttached).as_str(),
            "Gateway.NotAttached"
        );
    }
}
