//! Public IP addresses on the native door, over the same core addresses the EC2 door calls
//! elastic IPs: listPublicIpAddresses, associateIpAddress (CloudStack's word for acquiring one),
//! disassociateIpAddress (releasing it), enableStaticNat and disableStaticNat (EC2's associate
//! and disassociate). The asynchronous ones do their work before they answer and record a job
//! that has already ended, so `queryAsyncJobResult` reports the result at once.

use cirrus_native::requests::{AcquireIp, EnableStaticNat, IpRequest, ListPublicIps};
use cirrus_native::types as wire;
use cirrus_native::wire::Timestamp;
use cirrus_native::{keyword_matches, Caller, JobCommand, Listing, PortError};

use super::{caller_tree, has_any_tag, port_error, tag_views, unknown, Directory, Translator};
use crate::model::api_job::NewApiJob;
use crate::model::infra;
use crate::model::public_ip::{self, AddressError, IpRef, PublicIpListing, Target};

fn address_error(e: AddressError) -> PortError {
    match e {
        AddressError::Core(c) => port_error(c),
        AddressError::LimitExceeded(n) => PortError::ResourceAllocation(format!(
            "Maximum number of public IP addresses for the account has been exceeded: it may \
             hold {n}"
        )),
        AddressError::RangeExhausted(zone) => PortError::InsufficientCapacity(format!(
            "Insufficient address capacity: the public range of zone {zone} is exhausted"
        )),
        AddressError::NoRange => PortError::InsufficientCapacity(
            "Insufficient address capacity: no zone has a public address range".to_owned(),
        ),
        AddressError::NotFound(id) | AddressError::AssociationNotFound(id) => unknown("id", &id),
        AddressError::InUse(address) => {
            PortError::ResourceInUse(format!("The IP address {address} is in use"))
        }
        AddressError::AlreadyAssociated { address, .. } => PortError::ResourceInUse(format!(
            "Failed to enable static NAT for the IP address {address}: it is already mapped to \
             an instance; disable its static NAT first"
        )),
        AddressError::TargetTaken {
            private_ip,
            address,
        } => PortError::InvalidParameter(format!(
            "Failed to enable static NAT: the instance's address {private_ip} is already mapped \
             from the IP address {address}"
        )),
        AddressError::NotAssociated(address) => PortError::InvalidParameter(format!(
            "Specified IP address {address} is not associated with any instance: static NAT is \
             not enabled on it"
        )),
    }
}

pub(super) fn ip_view(
    l: &PublicIpListing,
    dir: &Directory,
    tags: Option<&Vec<(String, String)>>,
) -> wire::PublicIpAddress {
    let account = dir.account(&l.ip.account_id);
    let domain = dir.domain(&l.domain_id);
    let network =
        l.ip.network_id
            .clone()
            .or_else(|| l.interface_network_id.clone());
    wire::PublicIpAddress {
        id: l.ip.id.clone(),
        ipaddress: l.ip.address.clone(),
        allocated: Timestamp(l.ip.allocated_ms),
        zoneid: l.ip.zone_id.clone(),
        zonename: l.zone_name.clone(),
        issourcenat: false,
        isstaticnat: l.is_associated(),
        issystem: false,
        forvirtualnetwork: true,
        isportable: false,
        fordisplay: true,
        virtualmachineid: l.ip.instance_id.clone(),
        virtualmachinename: l.instance_name.clone(),
        virtualmachinedisplayname: l.instance_display_name.clone(),
        virtualmachinetype: l.ip.instance_id.as_ref().map(|_| "User".to_owned()),
        vmipaddress: l.ip.private_ip.clone(),
        associatednetworkid: network.clone(),
        networkid: network,
        state: "Allocated".to_owned(),
        account: l.account_name.clone(),
        domainid: l.domain_id.clone(),
        domain: l.domain_name.clone(),
        tags: match account {
            Some(a) => tag_views(tags, "PublicIpAddress", &l.ip.id, a, domain),
            None => Vec::new(),
        },
    }
}

impl Translator {
    /// A public address the caller may act on, by id (`param` names it in a 431).
    pub(super) async fn actionable_ip(
        &self,
        caller: &Caller,
        param: &'static str,
        id: &str,
    ) -> Result<(PublicIpListing, Directory), PortError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        let found = public_ip::find(&mut conn, None, &IpRef::Id(id.to_owned()))
            .await
            .map_err(|e| match e {
                AddressError::NotFound(_) => unknown(param, id),
                other => address_error(other),
            })?;
        let dir = self.directory().await?;
        if !dir.admits(&caller_tree(caller), &found.ip.account_id) {
            return Err(PortError::PermissionDenied(format!(
                "Account {} does not have permission to operate on the IP address {id}",
                caller.account_name
            )));
        }
        Ok((found, dir))
    }

    /// The address as the native door shows it now.
    pub(super) async fn ip_now(
        &self,
        id: &str,
    ) -> Result<Option<wire::PublicIpAddress>, PortError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        let found = match public_ip::find(&mut conn, None, &IpRef::Id(id.to_owned())).await {
            Ok(l) => l,
            Err(AddressError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(address_error(e)),
        };
        drop(conn);
        let dir = self.directory().await?;
        let tags = public_ip::tags_of_addresses(self.pool())
            .await
            .map_err(address_error)?;
        Ok(Some(ip_view(&found, &dir, tags.get(&found.ip.id))))
    }

    pub(super) async fn public_ips(
        &self,
        caller: &Caller,
        req: &ListPublicIps,
    ) -> Result<Listing<wire::PublicIpAddress>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        if let Some(zone) = &req.zone_id {
            let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
            if !zones.iter().any(|z| &z.id == zone) {
                return Err(unknown("zoneid", zone));
            }
        }
        let (all, tags, vpc_of) = tokio::try_join!(
            public_ip::list_all(self.pool()),
            public_ip::tags_of_addresses(self.pool()),
            public_ip::network_vpcs(self.pool()),
        )
        .map_err(address_error)?;
        let visible: Vec<PublicIpListing> = all
            .into_iter()
            .filter(|l| visibility.admits(&l.ip.account_id, &l.domain_id, &l.domain_path))
            .collect();
        if let Some(id) = &req.id {
            if !visible.iter().any(|l| &l.ip.id == id) {
                return Err(unknown("id", id));
            }
        }
        // LIMITATION: allocatedonly=false lists the allocated addresses only, not the free
        // addresses of the ranges.
        let network_of = |l: &PublicIpListing| {
            l.ip.network_id
                .clone()
                .or_else(|| l.interface_network_id.clone())
        };
        let items = visible
            .iter()
            .filter(|l| req.id.as_ref().is_none_or(|id| id == &l.ip.id))
            .filter(|l| req.zone_id.as_ref().is_none_or(|z| z == &l.ip.zone_id))
            .filter(|l| req.ip_address.as_ref().is_none_or(|a| a == &l.ip.address))
            .filter(|l| {
                req.network_id
                    .as_ref()
                    .is_none_or(|n| network_of(l).as_ref() == Some(n))
            })
            .filter(|l| {
                req.vpc_id.as_ref().is_none_or(|v| {
                    network_of(l).and_then(|n| vpc_of.get(&n).cloned()).as_ref() == Some(v)
                })
            })
            .filter(|l| req.is_static_nat.is_none_or(|s| s == l.is_associated()))
            .filter(|_| req.is_source_nat != Some(true))
            .filter(|l| keyword_matches(req.keyword.as_deref(), &[&l.ip.address]))
            .filter(|l| has_any_tag(&req.tags, tags.get(&l.ip.id)))
            .map(|l| ip_view(l, &dir, tags.get(&l.ip.id)))
            .collect();
        Ok(req.page.slice(items))
    }

    pub(super) async fn acquire(
        &self,
        caller: &Caller,
        req: &AcquireIp,
    ) -> Result<(String, String), PortError> {
        let (account_id, user_id) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let mut zone = req.zone_id.clone();
        if let Some(z) = &zone {
            let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
            if !zones.iter().any(|x| &x.id == z) {
                return Err(unknown("zoneid", z));
            }
        }
        if let Some(n) = &req.network_id {
            let found = public_ip::network_zone(self.pool(), &account_id, n)
                .await
                .map_err(address_error)?;
            zone = Some(found.ok_or_else(|| unknown("networkid", n))?);
        }
        if let Some(v) = &req.vpc_id {
            let owned = crate::model::network::vpcs_of_account(self.pool(), &account_id)
                .await
                .map_err(port_error)?;
            if !owned.iter().any(|x| &x.id == v) {
                return Err(unknown("vpcid", v));
            }
        }
        let ip = public_ip::allocate(
            &self.cloud.store,
            &account_id,
            zone.as_deref(),
            req.network_id.as_deref(),
        )
        .await
        .map_err(address_error)?;
        let job = NewApiJob {
            command: JobCommand::AssociateIpAddress.api_name(),
            account_id: &account_id,
            user_id: &user_id,
            instance_id: Some(&ip.id),
        };
        let job = self.record_job(None, job).await?;
        Ok((ip.id, job))
    }

    pub(super) async fn release_address(
        &self,
        caller: &Caller,
        req: &IpRequest,
    ) -> Result<String, PortError> {
        let (found, _) = self.actionable_ip(caller, "id", &req.ip_id).await?;
        let r = IpRef::Id(found.ip.id.clone());
        let owner = Some(found.ip.account_id.as_str());
        if found.is_associated() {
            public_ip::disassociate(&self.cloud.store, owner, &r)
                .await
                .map_err(address_error)?;
        }
        public_ip::release(&self.cloud.store, owner, &r)
            .await
            .map_err(address_error)?;
        let job = NewApiJob {
            command: JobCommand::DisassociateIpAddress.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&found.ip.id),
        };
        self.record_job(None, job).await
    }

    pub(super) async fn static_nat_on(
        &self,
        caller: &Caller,
        req: &EnableStaticNat,
    ) -> Result<(), PortError> {
        let (found, _) = self
            .actionable_ip(caller, "ipaddressid", &req.ip_id)
            .await?;
        let vm = self
            .actionable(caller, "virtualmachineid", &req.vm_id)
            .await?;
        if vm.account_id != found.ip.account_id {
            return Err(PortError::InvalidParameter(format!(
                "Unable to enable static NAT for the IP address {}: instance {} belongs to \
                 another account",
                found.ip.address, req.vm_id
            )));
        }
        let nics = public_ip::interfaces_of(self.pool(), &vm.id)
            .await
            .map_err(address_error)?;
        if !matches!(
            vm.state.as_str(),
            "Starting" | "Running" | "Stopping" | "Stopped"
        ) {
            return Err(PortError::InvalidParameter(format!(
                "Unable to enable static NAT: instance {} is {}",
                req.vm_id, vm.state
            )));
        }
        let nic = match &req.network_id {
            Some(n) => nics
                .iter()
                .find(|(_, network, _)| network == n)
                .ok_or_else(|| {
                    PortError::InvalidParameter(format!(
                        "Instance {} has no NIC in network {n}",
                        req.vm_id
                    ))
                })?,
            None => nics.first().ok_or_else(|| {
                PortError::InvalidParameter(format!("Instance {} has no NIC", req.vm_id))
            })?,
        };
        if let Some(ip) = req.vm_guest_ip.as_ref().filter(|ip| **ip != nic.2) {
            return Err(PortError::InvalidParameter(format!(
                "Invalid vm ip address {ip}: the instance's NIC has the address {}",
                nic.2
            )));
        }
        let target = Target {
            interface_id: nic.0.clone(),
            instance_id: vm.id.clone(),
            private_ip: nic.2.clone(),
        };
        public_ip::associate(
            &self.cloud.store,
            Some(&found.ip.account_id),
            &IpRef::Id(found.ip.id.clone()),
            &target,
            false,
            false,
        )
        .await
        .map_err(address_error)?;
        Ok(())
    }

    pub(super) async fn static_nat_off(
        &self,
        caller: &Caller,
        req: &IpRequest,
    ) -> Result<String, PortError> {
        let (found, _) = self
            .actionable_ip(caller, "ipaddressid", &req.ip_id)
            .await?;
        public_ip::disassociate(
            &self.cloud.store,
            Some(&found.ip.account_id),
            &IpRef::Id(found.ip.id.clone()),
        )
        .await
        .map_err(address_error)?;
        let job = NewApiJob {
            command: JobCommand::DisableStaticNat.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&found.ip.id),
        };
        self.record_job(None, job).await
    }
}
