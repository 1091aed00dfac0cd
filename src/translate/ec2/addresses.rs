//! Elastic IPs over the core's public addresses: AllocateAddress, AssociateAddress (static NAT to
//! an instance's primary interface or a named interface), DisassociateAddress, ReleaseAddress and
//! the address views DescribeAddresses and DescribeInstances show.

use std::collections::HashMap;

use cirrus_ec2::actions::addresses::{AllocateAddress, AssociateAddress, ReleaseAddress};
use cirrus_ec2::error::{Code, Ec2Error, Resource};
use cirrus_ec2::{Address, AddressAssociation, AddressRef, AssociationTarget, Caller, Instance};

use super::{core, store, to_tags};
use crate::model::instance::InstanceState as CoreState;
use crate::model::public_ip::{self, AddressError, IpRef, PublicIpListing, Target};
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::translate::Translator;

fn ip_ref(r: &AddressRef) -> IpRef {
    match r {
        AddressRef::Allocation(id) => IpRef::Allocation(id.clone()),
        AddressRef::PublicIp(ip) => IpRef::Address(ip.clone()),
        AddressRef::Association(id) => IpRef::Association(id.clone()),
    }
}

pub(super) fn address_error(e: AddressError) -> Ec2Error {
    match e {
        AddressError::Core(c) => core(c),
        AddressError::LimitExceeded(n) => Ec2Error::new(
            Code::AddressLimitExceeded,
            format!("The maximum number of addresses has been reached: this account may hold {n}."),
        ),
        AddressError::RangeExhausted(zone) => Ec2Error::new(
            Code::InsufficientAddressCapacity,
            format!("Insufficient address capacity: the public range of {zone} is exhausted."),
        ),
        AddressError::NoRange => Ec2Error::new(
            Code::InsufficientAddressCapacity,
            "Insufficient address capacity: no zone has a public address range.",
        ),
        AddressError::NotFound(name) if name.starts_with("eipalloc-") => Ec2Error::new(
            Code::NotFound(Resource::Allocation),
            format!("The allocation ID '{name}' does not exist"),
        ),
        AddressError::NotFound(name) => Ec2Error::new(
            Code::AddressNotFound,
            format!("Address '{name}' not found."),
        ),
        AddressError::AssociationNotFound(id) => Ec2Error::new(
            Code::AssociationNotFound,
            format!("The association ID '{id}' does not exist"),
        ),
        AddressError::NotAssociated(address) => Ec2Error::new(
            Code::AssociationNotFound,
            format!("The address '{address}' is not associated with anything."),
        ),
        AddressError::InUse(address) => Ec2Error::new(
            Code::AddressInUse,
            format!("Address '{address}' is in use: disassociate it before releasing it."),
        ),
        AddressError::AlreadyAssociated {
            allocation,
            association,
            ..
        } => Ec2Error::new(
            Code::AlreadyAssociated,
            format!(
                "resource {allocation} is already associated with associate-id {association}; \
                 pass AllowReassociation to move it."
            ),
        ),
        AddressError::TargetTaken {
            private_ip,
            address,
        } => Ec2Error::new(
            Code::AlreadyAssociated,
            format!("The private address {private_ip} already has the public address {address}."),
        ),
    }
}

fn view(l: PublicIpListing, region: &str, tags: Vec<(String, String)>) -> Address {
    let association = match (&l.ip.association_id, &l.interface_ec2_id, &l.ip.private_ip) {
        (Some(association_id), Some(interface), Some(private_ip)) => Some(AddressAssociation {
            association_id: association_id.clone(),
            instance_id: l.instance_ec2_id.clone(),
            network_interface_id: interface.clone(),
            network_interface_owner_id: l.account_number.clone(),
            private_ip: private_ip.clone(),
        }),
        _ => None,
    };
    Address {
        allocation_id: l.ip.ec2_id,
        public_ip: l.ip.address,
        network_border_group: region.to_owned(),
        association,
        tags: to_tags(tags),
    }
}

fn is_live(state: &str) -> bool {
    matches!(
        CoreState::parse(state),
        Some(CoreState::Starting | CoreState::Running | CoreState::Stopping | CoreState::Stopped)
    )
}

impl Translator {
    fn check_border_group(&self, group: Option<&str>) -> Result<(), Ec2Error> {
        match group {
            Some(g) if g != self.cloud.region => Err(Ec2Error::invalid_value(format!(
                "Invalid value '{g}' for NetworkBorderGroup: this cloud has the one group {}.",
                self.cloud.region
            ))),
            _ => Ok(()),
        }
    }

    pub(super) async fn address_views(&self, caller: &Caller) -> Result<Vec<Address>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        let account = caller.account_id.as_str();
        let (rows, mut tags) = tokio::try_join!(
            async {
                public_ip::list_for_account(pool, account)
                    .await
                    .map_err(address_error)
            },
            async {
                tag::by_resource(pool, account, TaggedKind::PublicIp)
                    .await
                    .map_err(core)
            },
        )?;
        Ok(rows
            .into_iter()
            .map(|l| {
                let t = tags.remove(&l.ip.id).unwrap_or_default();
                view(l, &self.cloud.region, t)
            })
            .collect())
    }

    pub(super) async fn allocate(
        &self,
        caller: &Caller,
        req: &AllocateAddress,
    ) -> Result<Address, Ec2Error> {
        self.check_border_group(req.network_border_group.as_deref())?;
        if req.dry_run {
            return Err(Ec2Error::dry_run());
        }
        let store_ = &self.cloud.store;
        let ip = public_ip::allocate(store_, &caller.account_id, None, None)
            .await
            .map_err(address_error)?;
        if !req.tags.is_empty() {
            let pairs: Vec<(String, String)> = req
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            let resource = TaggedResource {
                kind: TaggedKind::PublicIp,
                id: ip.id.clone(),
                ec2_id: ip.ec2_id.clone(),
            };
            let mut tx = store_.begin_write().await.map_err(store)?;
            tag::set(&mut tx, &caller.account_id, &[resource], &pairs)
                .await
                .map_err(core)?;
            tx.commit().await.map_err(store)?;
        }
        Ok(Address {
            allocation_id: ip.ec2_id,
            public_ip: ip.address,
            network_border_group: self.cloud.region.clone(),
            association: None,
            tags: req.tags.clone(),
        })
    }

    /// The interface and private address an association request names.
    async fn association_target(
        &self,
        caller: &Caller,
        req: &AssociateAddress,
    ) -> Result<Target, Ec2Error> {
        let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
        let (interface, wanted) = match &req.target {
            AssociationTarget::Instance(id) => {
                let row = self.own_instance(caller, id).await?;
                if !is_live(&row.state) {
                    return Err(Ec2Error::new(
                        Code::IncorrectInstanceState,
                        format!("The instance '{id}' is terminated, so no address can map to it."),
                    ));
                }
                let target = public_ip::primary_target(&mut conn, &row.id)
                    .await
                    .map_err(address_error)?
                    .ok_or_else(|| {
                        Ec2Error::new(
                            Code::IncorrectInstanceState,
                            format!("The instance '{id}' has no network interface."),
                        )
                    })?;
                (target, req.instance_private_ip.clone())
            }
            AssociationTarget::NetworkInterface {
                interface_id,
                private_ip,
            } => {
                let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
                    "SELECT n.id, n.instance_id, n.private_ip, i.state FROM network_interfaces n \
                     LEFT JOIN instances i ON i.id = n.instance_id \
                     WHERE n.ec2_id = $1 AND n.account_id = $2",
                )
                .bind(interface_id)
                .bind(&caller.account_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(store)?;
                let live = row.filter(|(_, _, _, state)| state.as_deref().is_some_and(is_live));
                let (id, instance_id, primary, _) = live.ok_or_else(|| {
                    Ec2Error::new(
                        Code::NetworkInterfaceNotFound,
                        format!("The networkInterface ID '{interface_id}' does not exist"),
                    )
                })?;
                let target = Target {
                    interface_id: id,
                    instance_id,
                    private_ip: primary,
                };
                (target, private_ip.clone())
            }
        };
        if let Some(ip) = wanted.filter(|ip| *ip != interface.private_ip) {
            return Err(Ec2Error::invalid_value(format!(
                "The private address {ip} is not assigned to the interface; its address is {}.",
                interface.private_ip
            )));
        }
        Ok(interface)
    }

    pub(super) async fn associate(
        &self,
        caller: &Caller,
        req: &AssociateAddress,
    ) -> Result<String, Ec2Error> {
        let target = self.association_target(caller, req).await?;
        let r = ip_ref(&req.address);
        if req.dry_run {
            let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
            public_ip::find(&mut conn, Some(&caller.account_id), &r)
                .await
                .map_err(address_error)?;
            return Err(Ec2Error::dry_run());
        }
        let done = public_ip::associate(
            &self.cloud.store,
            Some(&caller.account_id),
            &r,
            &target,
            req.allow_reassociation,
            true,
        )
        .await
        .map_err(address_error)?;
        done.ip
            .association_id
            .ok_or_else(|| Ec2Error::internal("an association was made but has no id"))
    }

    pub(super) async fn disassociate(
        &self,
        caller: &Caller,
        address: &AddressRef,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let r = ip_ref(address);
        if dry_run {
            let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
            public_ip::find(&mut conn, Some(&caller.account_id), &r)
                .await
                .map_err(address_error)?;
            return Err(Ec2Error::dry_run());
        }
        public_ip::disassociate(&self.cloud.store, Some(&caller.account_id), &r)
            .await
            .map_err(address_error)?;
        Ok(())
    }

    pub(super) async fn release(
        &self,
        caller: &Caller,
        req: &ReleaseAddress,
    ) -> Result<(), Ec2Error> {
        self.check_border_group(req.network_border_group.as_deref())?;
        let r = ip_ref(&req.address);
        if req.dry_run {
            let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
            public_ip::find(&mut conn, Some(&caller.account_id), &r)
                .await
                .map_err(address_error)?;
            return Err(Ec2Error::dry_run());
        }
        public_ip::release(&self.cloud.store, Some(&caller.account_id), &r)
            .await
            .map_err(address_error)?;
        Ok(())
    }

    /// Shows each interface's public address on the instances (and the primary one as the
    /// instance's `ipAddress`, which the instance writer takes from the first interface).
    pub(super) async fn with_public_addresses(
        &self,
        account_id: &str,
        mut instances: Vec<Instance>,
    ) -> crate::error::CoreResult<Vec<Instance>> {
        let by_interface: HashMap<String, String> =
            public_ip::addresses_by_interface(&self.cloud.store.pool, account_id)
                .await
                .map_err(|e| match e {
                    AddressError::Core(c) => c,
                    other => crate::error::CoreError::Internal(other.to_string()),
                })?;
        if by_interface.is_empty() {
            return Ok(instances);
        }
        for i in &mut instances {
            for n in &mut i.interfaces {
                n.public_ip = by_interface.get(&n.interface_id).cloned();
            }
        }
        Ok(instances)
    }
}
