//! The network and VPC offerings: fixed descriptions of the one kind of guest network and VPC
//! this cloud serves (every account's default VPC, one tier per zone), so that clients that
//! pick an offering before they list networks find one that says what is there.

use cirrus_native::requests::ListOfferings;
use cirrus_native::types as wire;
use cirrus_native::wire::Timestamp;
use cirrus_native::{keyword_matches, Listing, PortError};

use super::{port_error, unknown, Translator};
use crate::model::infra;

/// The network offering of every VPC tier (EC2 subnet).
pub const TIER_OFFERING_ID: &str = "6a1c9d5e-7f2b-4c30-9e41-0a5b8c7d2e01";
/// The VPC offering of every VPC.
pub const VPC_OFFERING_ID: &str = "6a1c9d5e-7f2b-4c30-9e41-0a5b8c7d2e02";
/// 2026-01-01T00:00:00Z: when these offerings were first described.
const DESCRIBED_MS: i64 = 1_767_225_600_000;

/// The services a tier provides, all from Cirrus itself.
// LIMITATION: these are bookkeeping (addresses, static NAT, security group rules); no packet is
// filtered or translated until the network enforcement work lands.
const SERVICES: &[&str] = &["Dhcp", "Dns", "UserData", "StaticNat", "SecurityGroup"];

fn services() -> Vec<wire::OfferingService> {
    SERVICES
        .iter()
        .map(|s| wire::OfferingService {
            name: (*s).to_owned(),
            provider: vec![wire::ServiceProvider {
                name: "Cirrus".to_owned(),
            }],
        })
        .collect()
}

fn tier_offering() -> wire::NetworkOffering {
    wire::NetworkOffering {
        id: TIER_OFFERING_ID.to_owned(),
        name: "DefaultIsolatedNetworkOfferingForVpcNetworks".to_owned(),
        displaytext: "A VPC tier with addresses, DNS, user data, static NAT and security groups"
            .to_owned(),
        traffictype: "Guest".to_owned(),
        guestiptype: "Isolated".to_owned(),
        isdefault: true,
        specifyvlan: false,
        specifyipranges: false,
        conservemode: false,
        availability: "Optional".to_owned(),
        state: "Enabled".to_owned(),
        forvpc: true,
        ispersistent: true,
        egressdefaultpolicy: true,
        internetprotocol: "IPv4".to_owned(),
        networkrate: -1,
        created: Timestamp(DESCRIBED_MS),
        service: services(),
    }
}

fn vpc_offering() -> wire::VpcOffering {
    wire::VpcOffering {
        id: VPC_OFFERING_ID.to_owned(),
        name: "Default VPC offering".to_owned(),
        displaytext: "A VPC with one tier per zone".to_owned(),
        isdefault: true,
        state: "Enabled".to_owned(),
        distributedvpcrouter: false,
        supportsregionlevelvpc: false,
        internetprotocol: "IPv4".to_owned(),
        created: Timestamp(DESCRIBED_MS),
        service: services(),
    }
}

impl Translator {
    async fn check_zone(&self, req: &ListOfferings) -> Result<(), PortError> {
        if let Some(z) = &req.zone_id {
            let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
            if !zones.iter().any(|x| &x.id == z) {
                return Err(unknown("zoneid", z));
            }
        }
        Ok(())
    }

    pub(super) async fn network_offerings(
        &self,
        req: &ListOfferings,
    ) -> Result<Listing<wire::NetworkOffering>, PortError> {
        self.check_zone(req).await?;
        let all = vec![tier_offering()];
        if let Some(id) = req
            .id
            .as_ref()
            .filter(|id| !all.iter().any(|o| &o.id == *id))
        {
            return Err(unknown("id", id));
        }
        let items = all
            .into_iter()
            .filter(|o| req.id.as_ref().is_none_or(|id| id == &o.id))
            .filter(|o| req.name.as_ref().is_none_or(|n| n == &o.name))
            .filter(|o| req.for_vpc.is_none_or(|v| v == o.forvpc))
            .filter(|o| {
                req.guest_ip_type
                    .as_ref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(&o.guestiptype))
            })
            .filter(|o| {
                req.traffic_type
                    .as_ref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(&o.traffictype))
            })
            .filter(|o| {
                req.state
                    .as_ref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&o.state))
            })
            .filter(|o| req.is_default.is_none_or(|d| d == o.isdefault))
            .filter(|o| keyword_matches(req.keyword.as_deref(), &[&o.name, &o.displaytext]))
            .collect();
        Ok(req.page.slice(items))
    }

    pub(super) async fn vpc_offerings(
        &self,
        req: &ListOfferings,
    ) -> Result<Listing<wire::VpcOffering>, PortError> {
        self.check_zone(req).await?;
        let all = vec![vpc_offering()];
        if let Some(id) = req
            .id
            .as_ref()
            .filter(|id| !all.iter().any(|o| &o.id == *id))
        {
            return Err(unknown("id", id));
        }
        let items = all
            .into_iter()
            .filter(|o| req.id.as_ref().is_none_or(|id| id == &o.id))
            .filter(|o| req.name.as_ref().is_none_or(|n| n == &o.name))
            .filter(|o| {
                req.state
                    .as_ref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&o.state))
            })
            .filter(|o| req.is_default.is_none_or(|d| d == o.isdefault))
            .filter(|o| keyword_matches(req.keyword.as_deref(), &[&o.name, &o.displaytext]))
            .collect();
        Ok(req.page.slice(items))
    }
}
