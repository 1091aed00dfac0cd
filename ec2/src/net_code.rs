//! The error codes of EC2's networking actions (VPCs, subnets, internet gateways, route tables,
//! network ACLs and network interfaces) that the shared codes of [`crate::error::Code`] do not
//! already name (the elastic-IP codes there serve these actions too).
//! Every one is the caller's mistake, so [`crate::error::Code::Net`] answers 400.

/// One networking error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCode {
    VpcRange,
    SubnetRange,
    SubnetConflict,
    GatewayNotAttached,
    RouteNotFound,
    RouteAlreadyExists,
    GatewayNotFound,
    InternetGatewayNotFound,
    InternetGatewayMalformed,
    RouteTableNotFound,
    RouteTableMalformed,
    NetworkAclNotFound,
}

impl NetCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VpcRange => "InvalidVpc.Range",
            Self::SubnetRange => "InvalidSubnet.Range",
            Self::SubnetConflict => "InvalidSubnet.Conflict",
            Self::GatewayNotAttached => "Gateway.NotAttached",
            Self::RouteNotFound => "InvalidRoute.NotFound",
            Self::RouteAlreadyExists => "RouteAlreadyExists",
            Self::GatewayNotFound => "InvalidGatewayID.NotFound",
            Self::InternetGatewayNotFound => "InvalidInternetGatewayID.NotFound",
            Self::InternetGatewayMalformed => "InvalidInternetGatewayID.Malformed",
            Self::RouteTableNotFound => "InvalidRouteTableID.NotFound",
            Self::RouteTableMalformed => "InvalidRouteTableID.Malformed",
            Self::NetworkAclNotFound => "InvalidNetworkAclID.NotFound",
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
            NetCode::GatewayNotAttached,
        ] {
            assert_eq!(Code::Net(n).status().as_u16(), 400, "{}", n.as_str());
        }
        assert_eq!(
            Code::Net(NetCode::GatewayNotAttached).as_str(),
            "Gateway.NotAttached"
        );
    }
}
