//! The EC2 door's port, over the core: turns zones, offerings, templates and instances into
//! the door's EC2 views (availability zones, instance types, images, instances). The EC2
//! vocabulary stops here; the core below never sees it.

mod addresses;
mod images;

use std::collections::HashMap;

use cirrus_ec2::actions::image_attributes::ImageChange;
use cirrus_ec2::actions::image_create::{CopyImage, NewImage};
use cirrus_ec2::error::{Code, Ec2Error, Resource};
use cirrus_ec2::types::Tag;
use cirrus_ec2::vpc_types::{
    InterfaceView, InternetGateway, NetworkAcl, RouteChange, RouteTable, SubnetRequest,
    VpcAttributeChange,
};
use cirrus_ec2::{
    AttributeChange, AvailabilityZone, Caller, CreatedKeyPair, Credential, Ec2Port, GroupRef,
    GroupSelector, Image, ImageState, Instance, InstanceAttributes, InstanceState, InstanceType,
    KeyPair, LaunchRequest, MetadataChange, MetadataOptions, NetworkInterface, Permission,
    PermissionPeer, PortError, Region, ReservationCursor, ReservationPage, ResourceTag,
    SecurityGroup, SecurityGroupRule, StateChange, StateRequest, Subnet, Vpc,
};
use cirrus_ec2::{
    NewSnapshot, NewVolume, PermissionChange, Snapshot, Volume, VolumeAttachment, VolumeChange,
    VolumeCursor, VolumeModification, VolumePage,
};
use sqlx::AnyConnection;

use super::Translator;
use crate::error::{CoreError, ResourceKind};
use crate::model::identity::Principal;
use crate::model::infra::{self, Zone};
use crate::model::instance::{self as core_instance, InstanceRow, InstanceState as CoreState};
use crate::model::instance_options::{self, InstanceOptions};
use crate::model::keypair::{self, KeyKind};
use crate::model::listing::{self, InstanceListing, InstancePick, OwnedTemplate};
use crate::model::network::{self, InterfaceListing, Network};
use crate::model::offering::{self, ServiceOffering};
use crate::model::security_group::{self as sg, Direction, GroupError, Peer, RuleSpec};
use crate::model::tag::{self, TaggedKind, TaggedResource};
use crate::orchestrator::{LaunchAttachments, LaunchSpec};

/// The device every root volume is attached as (and the root device name of an image that
/// registered none).
pub(super) const ROOT_DEVICE_NAME: &str = "/dev/sda1";
/// The root volume type of an image that registered none.
const DEFAULT_VOLUME_TYPE: &str = "gp2";
const GIB: i64 = 1 << 30;

fn port_error(e: CoreError) -> PortError {
    PortError(e.to_string())
}

pub(crate) fn caller_of(access_key: &str, p: &Principal) -> Caller {
    Caller {
        access_key: access_key.to_owned(),
        account_id: p.account.id.clone(),
        account_number: p.account.number.clone(),
        account_name: p.account.name.clone(),
        user_id: p.user.id.clone(),
        user_name: p.user.username.clone(),
        is_admin: p.is_root_admin(),
    }
}

/// EC2's short region code: `us-east-1` -> `use1`, `eu-central-1` -> `euc1`.
fn region_code(region: &str) -> String {
    let mut parts = region.split('-');
    let mut code = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            code.push_str(part);
        } else if let Some(c) = part.chars().next() {
            code.push(c);
        }
    }
    code
}

/// Zones as availability zones; the zone id numbers zones in the order they were created, so
/// it stays put when a zone with an earlier name is added.
pub(super) fn availability_zones(mut zones: Vec<Zone>) -> Vec<AvailabilityZone> {
    let mut by_age: Vec<(i64, String)> =
        zones.iter().map(|z| (z.created_ms, z.id.clone())).collect();
    by_age.sort();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    zones
        .into_iter()
        .map(|z| {
            let ordinal = by_age.iter().position(|(_, id)| *id == z.id).unwrap_or(0) + 1;
            AvailabilityZone {
                zone_id: format!("{}-az{ordinal}", region_code(&z.region)),
                available: z.state == "enabled",
                name: z.name,
                region: z.region,
            }
        })
        .collect()
}

fn instance_type(o: ServiceOffering) -> InstanceType {
    InstanceType {
        burstable: o.is_burstable(),
        vcpus: o.cpus,
        memory_mib: o.memory_mib,
        clock_ghz: o.cpu_speed_mhz as f64 / 1000.0,
        name: o.name,
    }
}

fn image_state(state: &str) -> ImageState {
    match state.to_ascii_lowercase().as_str() {
        "ready" | "active" | "available" => ImageState::Available,
        "error" | "failed" => ImageState::Failed,
        "deleted" | "removed" | "inactive" => ImageState::Deregistered,
        _ => ImageState::Pending,
    }
}

/// A template as an image; `grantees` are the accounts it is shared with (known to its owner).
fn image(t: OwnedTemplate, tags: Vec<(String, String)>, grantees: Vec<String>) -> Image {
    let OwnedTemplate {
        template,
        owner_number,
        snapshot_ec2_id,
    } = t;
    let state = image_state(&template.state);
    let mut launch_permissions = grantees;
    if template.is_public() {
        launch_permissions.push("all".to_owned());
    }
    Image {
        image_id: template.ec2_id.clone(),
        state_reason: (state == ImageState::Failed).then(|| template.status.clone()),
        state,
        is_public: template.is_public(),
        root_size_gib: ((template.size_bytes + GIB - 1) / GIB).max(1),
        root_volume_type: template
            .root_volume_type
            .unwrap_or_else(|| DEFAULT_VOLUME_TYPE.to_owned()),
        snapshot_id: snapshot_ec2_id,
        ena_support: template.ena_support.is_none_or(|e| e != 0),
        created_ms: template.created_ms,
        description: template.display_text,
        name: template.name,
        owner_id: owner_number,
        root_device_name: template
            .root_device_name
            .unwrap_or_else(|| ROOT_DEVICE_NAME.to_owned()),
        launch_permissions,
        tags: to_tags(tags),
    }
}

/// The core's state machine in EC2's words. A job in flight shows where it is heading: a
/// stopped instance being started is `pending`, one being destroyed is `shutting-down`. An
/// instance that never ran (Error) is `terminated`, as EC2 shows a launch that failed.
fn instance_state(state: CoreState, target: Option<&str>) -> InstanceState {
    let target = target.and_then(CoreState::parse);
    match (state, target) {
        (CoreState::Destroyed | CoreState::Expunging | CoreState::Error, _) => {
            InstanceState::Terminated
        }
        (_, Some(CoreState::Destroyed)) => InstanceState::ShuttingDown,
        (CoreState::Starting, _) => InstanceState::Pending,
        (CoreState::Stopped, Some(CoreState::Running)) => InstanceState::Pending,
        (CoreState::Running, Some(CoreState::Stopped)) | (CoreState::Stopping, _) => {
            InstanceState::Stopping
        }
        (CoreState::Running, _) => InstanceState::Running,
        (CoreState::Stopped, _) => InstanceState::Stopped,
    }
}

/// Joins instances with their interfaces, tags and metadata options (each by native id),
/// keeping the instances' order.
fn views(
    rows: Vec<InstanceListing>,
    interfaces: Vec<InterfaceListing>,
    mut tags: HashMap<String, Vec<(String, String)>>,
    mut metadata: HashMap<String, instance_options::MetadataOptions>,
) -> Vec<Instance> {
    let mut nics: HashMap<String, Vec<InterfaceListing>> = HashMap::new();
    for n in interfaces {
        nics.entry(n.interface.instance_id.clone())
            .or_default()
            .push(n);
    }
    rows.into_iter()
        .map(|l| {
            let n = nics.remove(&l.row.id).unwrap_or_default();
            let t = tags.remove(&l.row.id).unwrap_or_default();
            let m = metadata
                .remove(&l.row.id)
                .map(|m| metadata_view(&m))
                .unwrap_or_default();
            instance(l, n, t, m)
        })
        .collect()
}

/// Puts each instance's volumes into its block device mapping.
fn with_devices(
    mut views: Vec<Instance>,
    mut devices: HashMap<String, Vec<cirrus_ec2::BlockDevice>>,
) -> Vec<Instance> {
    for v in &mut views {
        v.block_devices = devices.remove(&v.instance_id).unwrap_or_default();
    }
    views
}

/// Metadata options as the door shows them.
fn metadata_view(m: &instance_options::MetadataOptions) -> MetadataOptions {
    MetadataOptions {
        http_tokens: m.http_tokens.clone(),
        http_endpoint: m.http_endpoint.clone(),
        hop_limit: m.hop_limit,
        http_protocol_ipv6: m.http_protocol_ipv6.clone(),
        instance_metadata_tags: m.instance_metadata_tags.clone(),
    }
}

/// Metadata options as the core keeps them, for one instance.
fn metadata_row(
    account_id: &str,
    instance_id: &str,
    m: &MetadataOptions,
) -> instance_options::MetadataOptions {
    instance_options::MetadataOptions {
        instance_id: instance_id.to_owned(),
        account_id: account_id.to_owned(),
        http_tokens: m.http_tokens.clone(),
        http_endpoint: m.http_endpoint.clone(),
        hop_limit: m.hop_limit,
        http_protocol_ipv6: m.http_protocol_ipv6.clone(),
        instance_metadata_tags: m.instance_metadata_tags.clone(),
    }
}

fn instance(
    l: InstanceListing,
    interfaces: Vec<InterfaceListing>,
    tags: Vec<(String, String)>,
    metadata_options: MetadataOptions,
) -> Instance {
    let InstanceListing {
        row,
        state,
        zone_name,
        offering_name,
        template_ec2_id,
        owner_number,
    } = l;
    let nics: Vec<NetworkInterface> = interfaces
        .into_iter()
        .map(|n| NetworkInterface {
            interface_id: n.interface.ec2_id,
            subnet_id: n.network_ec2_id,
            vpc_id: n.vpc_ec2_id,
            device_index: n.interface.device_index,
            private_ip: n.interface.private_ip,
            mac_address: n.interface.mac_address,
            source_dest_check: n.interface.source_dest_check != 0,
            groups: n
                .groups
                .into_iter()
                .map(|(group_id, group_name)| GroupRef {
                    group_id,
                    group_name,
                })
                .collect(),
            public_ip: None,
        })
        .collect();
    let ec2_state = instance_state(state, row.target_state.as_deref());
    let primary = nics.first();
    Instance {
        private_ip: primary.map(|n| n.private_ip.clone()),
        subnet_id: primary.map(|n| n.subnet_id.clone()),
        vpc_id: primary.map(|n| n.vpc_id.clone()),
        state_reason: if state == CoreState::Error && !row.state_reason.is_empty() {
            // A start that failed on its host: the host's reason, as EC2 reports launch faults.
            Some(format!("Server.InternalError: {}", row.state_reason))
        } else {
            (ec2_state == InstanceState::Stopped || ec2_state == InstanceState::Terminated)
                .then(|| "Client.UserInitiatedShutdown: User initiated shutdown".to_owned())
        },
        client_token: row.client_token.clone(),
        interfaces: nics,
        tags: tags
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect(),
        state: ec2_state,
        instance_id: row.ec2_id,
        reservation_id: row.reservation_id,
        owner_id: owner_number,
        image_id: template_ec2_id,
        instance_type: offering_name,
        availability_zone: zone_name,
        launch_ms: row.launched_ms.unwrap_or(row.created_ms),
        vcpus: row.cpus,
        root_device_name: ROOT_DEVICE_NAME.to_owned(),
        key_name: row.key_name,
        block_devices: Vec::new(),
        metadata_options,
    }
}

#[async_trait::async_trait]
impl Ec2Port for Translator {
    async fn credential(&self, access_key: &str) -> Result<Option<Credential>, PortError> {
        let found = self
            .cloud
            .authenticate_key(access_key)
            .await
            .map_err(port_error)?;
        Ok(found.map(|(p, secret)| Credential {
            caller: caller_of(access_key, &p),
            secret_key: secret.expose().to_owned(),
        }))
    }

    async fn region(&self) -> Result<Region, PortError> {
        Ok(Region {
            name: self.cloud.region.clone(),
            endpoint: self.cloud.endpoint_url.clone(),
        })
    }

    async fn availability_zones(&self) -> Result<Vec<AvailabilityZone>, PortError> {
        let zones = infra::list_zones(&self.cloud.store.pool)
            .await
            .map_err(port_error)?;
        Ok(availability_zones(zones))
    }

    async fn instance_types(&self, _caller: &Caller) -> Result<Vec<InstanceType>, PortError> {
        let offerings = offering::list_service_offerings(&self.cloud.store.pool)
            .await
            .map_err(port_error)?;
        Ok(offerings.into_iter().map(instance_type).collect())
    }

    async fn images(&self, caller: &Caller) -> Result<Vec<Image>, PortError> {
        let templates = listing::templates_visible_to(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(port_error)?;
        let mut tags = tag::by_resource(
            &self.cloud.store.pool,
            &caller.account_id,
            TaggedKind::Template,
        )
        .await
        .map_err(port_error)?;
        let mut grants = crate::model::template::permissions_of_account(
            &self.cloud.store.pool,
            &caller.account_id,
        )
        .await
        .map_err(port_error)?;
        Ok(templates
            .into_iter()
            .map(|t| {
                let mine = tags.remove(&t.template.id).unwrap_or_default();
                let shared = grants.remove(&t.template.id).unwrap_or_default();
                image(t, mine, shared)
            })
            .collect())
    }

    async fn instances(&self, caller: &Caller, ids: &[String]) -> Result<Vec<Instance>, PortError> {
        let pick = if ids.is_empty() {
            InstancePick::All
        } else {
            InstancePick::Ids(ids)
        };
        let (views, _) = self
            .instance_views(caller, pick)
            .await
            .map_err(port_error)?;
        Ok(views)
    }

    async fn reservation_page(
        &self,
        caller: &Caller,
        after: Option<&ReservationCursor>,
        limit: usize,
    ) -> Result<ReservationPage, PortError> {
        let pick = InstancePick::Reservations {
            after: after.map(|c| (c.created_ms, c.reservation_id.as_str())),
            limit,
        };
        let (instances, last) = self
            .instance_views(caller, pick)
            .await
            .map_err(port_error)?;
        Ok(ReservationPage {
            instances,
            next: last,
        })
    }

    async fn run_instances(
        &self,
        caller: &Caller,
        req: &LaunchRequest,
    ) -> Result<Vec<Instance>, Ec2Error> {
        self.run(caller, req).await
    }

    async fn change_state(
        &self,
        caller: &Caller,
        ids: &[String],
        change: StateRequest,
        dry_run: bool,
    ) -> Result<Vec<StateChange>, Ec2Error> {
        self.change(caller, ids, change, dry_run).await
    }

    async fn import_image(
        &self,
        caller: &Caller,
        req: &cirrus_ec2::actions::image_import::ImportImage,
    ) -> Result<cirrus_ec2::actions::image_import::ImportTask, Ec2Error> {
        self.import_image_now(caller, req).await
    }

    async fn import_tasks(
        &self,
        caller: &Caller,
    ) -> Result<Vec<cirrus_ec2::actions::image_import::ImportTask>, Ec2Error> {
        self.import_tasks_now(caller).await
    }

    async fn cancel_import_task(
        &self,
        caller: &Caller,
        task_id: &str,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        self.cancel_import_now(caller, task_id, dry_run).await
    }

    async fn deregister_image(
        &self,
        caller: &Caller,
        image_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.deregister_image_now(caller, image_id, dry_run).await
    }

    async fn register_image(
        &self,
        caller: &Caller,
        snapshot_id: &str,
        image: &NewImage,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        self.register_image_now(caller, snapshot_id, image, dry_run)
            .await
    }

    async fn create_image(
        &self,
        caller: &Caller,
        instance_id: &str,
        image: &NewImage,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        self.create_image_now(caller, instance_id, image, dry_run)
            .await
    }

    async fn copy_image(&self, caller: &Caller, req: &CopyImage) -> Result<String, Ec2Error> {
        self.copy_image_now(caller, req).await
    }

    async fn modify_image(
        &self,
        caller: &Caller,
        image_id: &str,
        change: &ImageChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.modify_image_now(caller, image_id, change, dry_run)
            .await
    }

    async fn console_output(&self, caller: &Caller, id: &str) -> Result<Vec<u8>, Ec2Error> {
        let instance = self.own_instance(caller, id).await?;
        self.cloud
            .orchestrator
            .console_output(&instance)
            .await
            .map_err(core)
    }

    async fn instance_attributes(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<InstanceAttributes, Ec2Error> {
        self.attributes(caller, id).await
    }

    async fn modify_instance(
        &self,
        caller: &Caller,
        id: &str,
        change: &AttributeChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.modify(caller, id, change, dry_run).await
    }

    async fn modify_metadata_options(
        &self,
        caller: &Caller,
        id: &str,
        change: &MetadataChange,
        dry_run: bool,
    ) -> Result<MetadataOptions, Ec2Error> {
        let row = self.own_instance(caller, id).await?;
        if CoreState::parse(&row.state)
            .is_some_and(|s| matches!(s, CoreState::Destroyed | CoreState::Expunging))
        {
            return Err(Ec2Error::new(
                Code::IncorrectInstanceState,
                format!("The instance '{id}' is terminated; its metadata options cannot change."),
            ));
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let pool = &self.cloud.store.pool;
        let ids = [row.id.as_str()];
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        let current = instance_options::metadata_options(pool, &caller.account_id, Some(&ids))
            .await
            .map_err(core)?
            .remove(&row.id)
            .map(|m| metadata_view(&m))
            .unwrap_or_default();
        let changed = change.applied_to(&current);
        instance_options::save_metadata_options(
            &mut tx,
            &metadata_row(&caller.account_id, &row.id, &changed),
        )
        .await
        .map_err(core)?;
        tx.commit().await.map_err(store)?;
        tracing::info!(instance = %id, http_tokens = %changed.http_tokens, "instance metadata options changed");
        Ok(changed)
    }

    async fn key_pairs(&self, caller: &Caller) -> Result<Vec<KeyPair>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        let pairs = keypair::list_for_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::KeyPair)
            .await
            .map_err(core)?;
        Ok(pairs
            .into_iter()
            .map(|k| key_view(k.clone(), tags.remove(&k.id).unwrap_or_default()))
            .collect())
    }

    async fn add_key_pair(
        &self,
        caller: &Caller,
        name: &str,
        key_type: &str,
        public_key: Option<&str>,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<CreatedKeyPair, Ec2Error> {
        self.add_key(caller, name, key_type, public_key, tags, dry_run)
            .await
    }

    async fn delete_key_pair(
        &self,
        caller: &Caller,
        name: Option<&str>,
        id: Option<&str>,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let pool = &self.cloud.store.pool;
        let pairs = keypair::list_for_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let found = pairs
            .into_iter()
            .find(|k| Some(k.name.as_str()) == name || Some(k.ec2_id.as_str()) == id);
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        if let Some(k) = found {
            let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
            keypair::delete(&mut tx, &k).await.map_err(core)?;
            tx.commit().await.map_err(store)?;
        }
        Ok(())
    }

    async fn security_groups(&self, caller: &Caller) -> Result<Vec<SecurityGroup>, Ec2Error> {
        self.group_views(caller).await
    }

    async fn create_security_group(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<SecurityGroup, Ec2Error> {
        self.create_group(caller, name, description, vpc_id, tags, dry_run)
            .await
    }

    async fn delete_security_group(
        &self,
        caller: &Caller,
        id: Option<&str>,
        name: Option<&str>,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let group = self.find_group(caller, &selector(id, name)).await?;
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        sg::delete(&mut tx, &group).await.map_err(group_error)?;
        tx.commit().await.map_err(store)?;
        Ok(group.ec2_id)
    }

    async fn change_rules(
        &self,
        caller: &Caller,
        group: GroupSelector,
        egress: bool,
        add: bool,
        permissions: &[Permission],
        rule_ids: &[String],
        dry_run: bool,
    ) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
        self.rules(caller, group, egress, add, permissions, rule_ids, dry_run)
            .await
    }

    async fn tags(&self, caller: &Caller) -> Result<Vec<ResourceTag>, Ec2Error> {
        let rows = tag::of_account(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(core)?;
        Ok(rows
            .into_iter()
            .map(|r| ResourceTag {
                resource_type: TaggedKind::parse(&r.resource_kind)
                    .map(ec2_resource_type)
                    .unwrap_or("")
                    .to_owned(),
                resource_id: r.resource_ec2_id,
                key: r.tag_key,
                value: r.tag_value,
            })
            .collect())
    }

    async fn change_tags(
        &self,
        caller: &Caller,
        resources: &[String],
        tags: &[(String, Option<String>)],
        remove: bool,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        let mut found = Vec::with_capacity(resources.len());
        for id in resources {
            found.push(self.resolve_resource(&mut tx, caller, id).await?);
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        if remove {
            let ids: Vec<String> = found.iter().map(|r| r.id.clone()).collect();
            tag::remove(&mut tx, &ids, tags).await.map_err(core)?;
        } else {
            let pairs: Vec<(String, String)> = tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
                .collect();
            tag::set(&mut tx, &caller.account_id, &found, &pairs)
                .await
                .map_err(core)?;
        }
        tx.commit().await.map_err(store)?;
        Ok(())
    }

    async fn vpcs(&self, caller: &Caller) -> Result<Vec<Vpc>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)?;
        let vpcs = network::vpcs_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::Vpc)
            .await
            .map_err(core)?;
        Ok(vpcs
            .into_iter()
            .map(|v| Vpc {
                tags: to_tags(tags.remove(&v.id).unwrap_or_default()),
                vpc_id: v.ec2_id.clone(),
                owner_id: caller.account_number.clone(),
                is_default: v.is_default(),
                dns_support: v.dns_support != 0,
                dns_hostnames: v.dns_hostnames != 0,
                address_usage_metrics: v.address_usage_metrics != 0,
                state: v.state,
                cidr: v.cidr,
            })
            .collect())
    }

    async fn addresses(&self, caller: &Caller) -> Result<Vec<cirrus_ec2::Address>, Ec2Error> {
        self.address_views(caller).await
    }

    async fn allocate_address(
        &self,
        caller: &Caller,
        req: &cirrus_ec2::actions::addresses::AllocateAddress,
    ) -> Result<cirrus_ec2::Address, Ec2Error> {
        self.allocate(caller, req).await
    }

    async fn associate_address(
        &self,
        caller: &Caller,
        req: &cirrus_ec2::actions::addresses::AssociateAddress,
    ) -> Result<String, Ec2Error> {
        self.associate(caller, req).await
    }

    async fn disassociate_address(
        &self,
        caller: &Caller,
        address: &cirrus_ec2::AddressRef,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.disassociate(caller, address, dry_run).await
    }

    async fn release_address(
        &self,
        caller: &Caller,
        req: &cirrus_ec2::actions::addresses::ReleaseAddress,
    ) -> Result<(), Ec2Error> {
        self.release(caller, req).await
    }

    async fn subnets(&self, caller: &Caller) -> Result<Vec<Subnet>, Ec2Error> {
        self.subnet_views(caller).await
    }

    async fn volumes(&self, caller: &Caller) -> Result<Vec<Volume>, Ec2Error> {
        self.volume_views(caller).await
    }

    async fn volume_page(
        &self,
        caller: &Caller,
        after: Option<&VolumeCursor>,
        limit: usize,
    ) -> Result<VolumePage, Ec2Error> {
        self.volume_page_views(caller, after, limit).await
    }

    async fn create_volume(
        &self,
        caller: &Caller,
        req: &NewVolume,
        dry_run: bool,
    ) -> Result<Volume, Ec2Error> {
        self.ec2_create_volume(caller, req, dry_run).await
    }

    async fn attach_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
        instance_id: &str,
        device: &str,
        dry_run: bool,
    ) -> Result<VolumeAttachment, Ec2Error> {
        self.ec2_attach_volume(caller, volume_id, instance_id, device, dry_run)
            .await
    }

    async fn detach_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
        instance_id: Option<&str>,
        device: Option<&str>,
        force: bool,
        dry_run: bool,
    ) -> Result<VolumeAttachment, Ec2Error> {
        self.ec2_detach_volume(caller, volume_id, instance_id, device, force, dry_run)
            .await
    }

    async fn delete_volume(
        &self,
        caller: &Caller,
        volume_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.ec2_delete_volume(caller, volume_id, dry_run).await
    }

    async fn modify_volume(
        &self,
        caller: &Caller,
        change: &VolumeChange,
        dry_run: bool,
    ) -> Result<VolumeModification, Ec2Error> {
        self.ec2_modify_volume(caller, change, dry_run).await
    }

    async fn volume_modifications(
        &self,
        caller: &Caller,
    ) -> Result<Vec<VolumeModification>, Ec2Error> {
        self.ec2_volume_modifications(caller).await
    }

    async fn snapshots(&self, caller: &Caller) -> Result<Vec<Snapshot>, Ec2Error> {
        self.snapshot_views(caller).await
    }

    async fn create_snapshot(
        &self,
        caller: &Caller,
        volume_id: &str,
        req: &NewSnapshot,
        dry_run: bool,
    ) -> Result<Snapshot, Ec2Error> {
        self.ec2_create_snapshot(caller, volume_id, req, dry_run)
            .await
    }

    async fn copy_snapshot(
        &self,
        caller: &Caller,
        source_region: &str,
        source_id: &str,
        req: &NewSnapshot,
        dry_run: bool,
    ) -> Result<Snapshot, Ec2Error> {
        self.ec2_copy_snapshot(caller, source_region, source_id, req, dry_run)
            .await
    }

    async fn delete_snapshot(
        &self,
        caller: &Caller,
        snapshot_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.ec2_delete_snapshot(caller, snapshot_id, dry_run).await
    }

    async fn change_snapshot_permissions(
        &self,
        caller: &Caller,
        snapshot_id: &str,
        change: &PermissionChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.ec2_change_snapshot_permissions(caller, snapshot_id, change, dry_run)
            .await
    }
    // Networking: src/translate/ec2_vpc.rs.

    async fn create_vpc(
        &self,
        caller: &Caller,
        cidr: &str,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<Vpc, Ec2Error> {
        self.vpc_create(caller, cidr, tags, dry_run).await
    }

    async fn delete_vpc(&self, caller: &Caller, id: &str, dry_run: bool) -> Result<(), Ec2Error> {
        self.vpc_delete(caller, id, dry_run).await
    }

    async fn modify_vpc(
        &self,
        caller: &Caller,
        id: &str,
        change: VpcAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.vpc_modify(caller, id, change).await
    }

    async fn create_subnet(
        &self,
        caller: &Caller,
        req: &SubnetRequest,
        dry_run: bool,
    ) -> Result<Subnet, Ec2Error> {
        self.subnet_create(caller, req, dry_run).await
    }

    async fn delete_subnet(
        &self,
        caller: &Caller,
        id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.subnet_delete(caller, id, dry_run).await
    }

    async fn modify_subnet(
        &self,
        caller: &Caller,
        id: &str,
        map_public_ip: Option<bool>,
    ) -> Result<(), Ec2Error> {
        self.subnet_modify(caller, id, map_public_ip).await
    }

    async fn internet_gateways(&self, caller: &Caller) -> Result<Vec<InternetGateway>, Ec2Error> {
        self.gateway_views(caller).await
    }

    async fn create_internet_gateway(
        &self,
        caller: &Caller,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<InternetGateway, Ec2Error> {
        self.gateway_create(caller, tags, dry_run).await
    }

    async fn attach_internet_gateway(
        &self,
        caller: &Caller,
        gateway_id: &str,
        vpc_id: &str,
        attach: bool,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.gateway_attach(caller, gateway_id, vpc_id, attach, dry_run)
            .await
    }

    async fn delete_internet_gateway(
        &self,
        caller: &Caller,
        gateway_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.gateway_delete(caller, gateway_id, dry_run).await
    }

    async fn route_tables(&self, caller: &Caller) -> Result<Vec<RouteTable>, Ec2Error> {
        self.route_table_views(caller).await
    }

    async fn create_route_table(
        &self,
        caller: &Caller,
        vpc_id: &str,
        client_token: Option<&str>,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<RouteTable, Ec2Error> {
        self.route_table_create(caller, vpc_id, client_token, tags, dry_run)
            .await
    }

    async fn delete_route_table(
        &self,
        caller: &Caller,
        id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.route_table_delete(caller, id, dry_run).await
    }

    async fn associate_route_table(
        &self,
        caller: &Caller,
        route_table_id: &str,
        subnet_id: &str,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        self.route_table_associate(caller, route_table_id, subnet_id, dry_run)
            .await
    }

    async fn disassociate_route_table(
        &self,
        caller: &Caller,
        association_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.route_table_disassociate(caller, association_id, dry_run)
            .await
    }

    async fn change_route(
        &self,
        caller: &Caller,
        change: &RouteChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.route_change(caller, change, dry_run).await
    }

    async fn network_acls(&self, caller: &Caller) -> Result<Vec<NetworkAcl>, Ec2Error> {
        self.acl_views(caller).await
    }

    async fn network_interfaces(&self, caller: &Caller) -> Result<Vec<InterfaceView>, Ec2Error> {
        self.interface_views(caller).await
    }
}

pub(super) fn core(e: CoreError) -> Ec2Error {
    match e {
        CoreError::NotFound { kind, id } => match kind {
            ResourceKind::Instance => Ec2Error::new(
                Code::NotFound(Resource::Instance),
                format!("The instance ID '{id}' does not exist"),
            ),
            ResourceKind::Template => Ec2Error::new(
                Code::NotFound(Resource::Image),
                format!("The image id '[{id}]' does not exist"),
            ),
            other => Ec2Error::invalid_value(format!("The {other} '{id}' does not exist.")),
        },
        CoreError::AlreadyExists { kind, name } => {
            Ec2Error::invalid_value(format!("A {kind} named '{name}' already exists."))
        }
        CoreError::InvalidParameter(m) => Ec2Error::invalid_value(sentence(&m)),
        CoreError::IncorrectState { .. } => {
            Ec2Error::new(Code::IncorrectInstanceState, sentence(&e.to_string()))
        }
        CoreError::InsufficientCapacity(m) => Ec2Error::new(
            Code::InsufficientInstanceCapacity,
            format!("Insufficient capacity: {}", sentence(&m)),
        ),
        CoreError::NoFreeAddress(m) => Ec2Error::new(
            Code::InsufficientFreeAddressesInSubnet,
            format!(
                "There are not enough free addresses in the subnet: {}",
                sentence(&m)
            ),
        ),
        CoreError::PermissionDenied(m) => Ec2Error::new(Code::UnauthorizedOperation, sentence(&m)),
        CoreError::Store(_) | CoreError::Internal(_) => Ec2Error::internal(e.to_string()),
    }
}

pub(super) fn store(e: sqlx::Error) -> Ec2Error {
    Ec2Error::internal(format!("the database failed: {e}"))
}

/// A core message as a sentence: capitalised, with a full stop.
pub(super) fn sentence(m: &str) -> String {
    let mut out: String = m
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(m.chars().skip(1))
        .collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn group_error(e: GroupError) -> Ec2Error {
    match e {
        GroupError::Core(c) => core(c),
        GroupError::InUse(id, why) => Ec2Error::new(
            Code::DependencyViolation,
            format!("resource {id} has a dependent object: {why}."),
        ),
        GroupError::NameTaken(name) => Ec2Error::new(
            Code::Duplicate(Resource::SecurityGroup),
            format!("The security group '{name}' already exists for this VPC."),
        ),
        GroupError::Duplicate(rule) => Ec2Error::new(
            Code::InvalidPermissionDuplicate,
            format!("the specified rule \"{rule}\" already exists"),
        ),
        GroupError::RuleNotFound(rule) => Ec2Error::new(
            Code::InvalidPermissionNotFound,
            format!("The specified rule does not exist in this security group: {rule}."),
        ),
        GroupError::DefaultGroup => Ec2Error::new(
            Code::InvalidParameterValue,
            "The default security group of a VPC cannot be deleted.",
        ),
    }
}

pub(super) fn to_tags(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}

fn key_view(k: keypair::KeyPair, tags: Vec<(String, String)>) -> KeyPair {
    KeyPair {
        key_pair_id: k.ec2_id,
        key_name: k.name,
        key_type: k.key_type,
        fingerprint: k.fingerprint,
        public_key: k.public_key,
        created_ms: k.created_ms,
        tags: to_tags(tags),
    }
}

fn ec2_resource_type(kind: TaggedKind) -> &'static str {
    match kind {
        TaggedKind::Instance => "instance",
        TaggedKind::Template => "image",
        TaggedKind::Volume => "volume",
        TaggedKind::Snapshot => "snapshot",
        TaggedKind::SecurityGroup => "security-group",
        TaggedKind::SecurityGroupRule => "security-group-rule",
        TaggedKind::KeyPair => "key-pair",
        TaggedKind::Vpc => "vpc",
        TaggedKind::Network => "subnet",
        TaggedKind::NetworkInterface => "network-interface",
        TaggedKind::PublicIp => "elastic-ip",
        TaggedKind::InternetGateway => "internet-gateway",
        TaggedKind::RouteTable => "route-table",
        TaggedKind::NetworkAcl => "network-acl",
    }
}

fn selector(id: Option<&str>, name: Option<&str>) -> GroupSelector {
    match (id, name) {
        (Some(id), _) => GroupSelector::Id(id.to_owned()),
        (None, name) => GroupSelector::Name(name.unwrap_or_default().to_owned()),
    }
}

fn group_not_found(what: &str) -> Ec2Error {
    Ec2Error::new(
        Code::NotFound(Resource::SecurityGroup),
        format!("The security group '{what}' does not exist"),
    )
}

/// What RunInstances attaches to each new instance, inside the launch's transaction.
struct LaunchExtras {
    account_id: String,
    network: Network,
    group_ids: Vec<String>,
    options: InstanceOptions,
    tags: Vec<(String, String)>,
    volume_tags: Vec<(String, String)>,
    interface_tags: Vec<(String, String)>,
    /// The new instances' metadata options, when the launch names any.
    metadata: Option<MetadataOptions>,
    client_token: Option<String>,
    digest: String,
    account_number: String,
    volumes: super::ec2_volumes::LaunchVolumes,
}

#[async_trait::async_trait]
impl LaunchAttachments for LaunchExtras {
    async fn attach(
        &self,
        db: &mut AnyConnection,
        i: &InstanceRow,
    ) -> crate::error::CoreResult<()> {
        let nic = network::attach_interface(
            db,
            &self.account_id,
            &i.id,
            &self.network,
            &self.group_ids,
            0,
        )
        .await?;
        if !self.interface_tags.is_empty() {
            let r = TaggedResource {
                kind: TaggedKind::NetworkInterface,
                id: nic.id.clone(),
                ec2_id: nic.ec2_id.clone(),
            };
            tag::set(db, &self.account_id, &[r], &self.interface_tags).await?;
        }
        instance_options::insert(
            db,
            &InstanceOptions {
                instance_id: i.id.clone(),
                ..self.options.clone()
            },
        )
        .await?;
        self.volumes
            .attach(
                db,
                &self.account_id,
                &self.account_number,
                i,
                self.options.root_size_gib,
                &self.volume_tags,
            )
            .await?;
        if !self.tags.is_empty() {
            let r = TaggedResource {
                kind: TaggedKind::Instance,
                id: i.id.clone(),
                ec2_id: i.ec2_id.clone(),
            };
            tag::set(db, &self.account_id, &[r], &self.tags).await?;
        }
        if let Some(m) = &self.metadata {
            instance_options::save_metadata_options(db, &metadata_row(&self.account_id, &i.id, m))
                .await?;
        }
        if let Some(token) = &self.client_token {
            instance_options::record_launch(
                db,
                &self.account_id,
                token,
                &self.digest,
                &i.reservation_id,
            )
            .await?;
        }
        Ok(())
    }
}

/// Tags as the core keeps them: key and value.
fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

fn state_before(i: &InstanceRow) -> InstanceState {
    match CoreState::parse(&i.state) {
        Some(s) => instance_state(s, i.target_state.as_deref()),
        None => InstanceState::Pending,
    }
}

impl Translator {
    /// The caller's instances that `pick` names, as the door shows them; for a page of
    /// reservations also the cursor of its last reservation when more follow.
    async fn instance_views(
        &self,
        caller: &Caller,
        pick: InstancePick<'_>,
    ) -> crate::error::CoreResult<(Vec<Instance>, Option<ReservationCursor>)> {
        let pool = &self.cloud.store.pool;
        let account = caller.account_id.as_str();
        let (rows, interfaces, tags, devices, metadata) = if let InstancePick::All = pick {
            // Three independent reads; run together, they overlap on the pool's connections.
            let ((rows, _), interfaces, tags, devices, metadata) = tokio::try_join!(
                listing::instances_of_account(pool, account, pick),
                network::interfaces_of_account(pool, account),
                tag::by_resource(pool, account, TaggedKind::Instance),
                self.block_devices(account, None),
                instance_options::metadata_options(pool, account, None),
            )?;
            (rows, interfaces, tags, devices, metadata)
        } else {
            let (rows, more) = listing::instances_of_account(pool, account, pick).await?;
            let ids: Vec<&str> = rows.iter().map(|l| l.row.id.as_str()).collect();
            let (interfaces, tags, devices, metadata) = tokio::try_join!(
                network::interfaces_of_instances(pool, account, &ids),
                tag::of_resources(pool, account, TaggedKind::Instance, &ids),
                self.block_devices(account, Some(&ids)),
                instance_options::metadata_options(pool, account, Some(&ids)),
            )?;
            let next = rows.last().filter(|_| more).map(|l| ReservationCursor {
                created_ms: l.row.created_ms,
                reservation_id: l.row.reservation_id.clone(),
            });
            let shown = with_devices(views(rows, interfaces, tags, metadata), devices);
            return Ok((self.with_public_addresses(account, shown).await?, next));
        };
        let shown = with_devices(views(rows, interfaces, tags, metadata), devices);
        Ok((self.with_public_addresses(account, shown).await?, None))
    }

    /// The caller's instance row by EC2 id.
    async fn own_instance(&self, caller: &Caller, id: &str) -> Result<InstanceRow, Ec2Error> {
        let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
        let found = core_instance::get(&mut conn, id).await;
        match found {
            Ok(i) if i.account_id == caller.account_id => Ok(i.row),
            Ok(_) | Err(CoreError::NotFound { .. }) => Err(Ec2Error::new(
                Code::NotFound(Resource::Instance),
                format!("The instance ID '{id}' does not exist"),
            )),
            Err(e) => Err(core(e)),
        }
    }

    async fn run(&self, caller: &Caller, req: &LaunchRequest) -> Result<Vec<Instance>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        let template = listing::templates_visible_to(pool, &caller.account_id)
            .await
            .map_err(core)?
            .into_iter()
            .map(|t| t.template)
            .find(|t| t.ec2_id == req.image_id)
            .ok_or_else(|| {
                Ec2Error::new(
                    Code::NotFound(Resource::Image),
                    format!("The image id '[{}]' does not exist", req.image_id),
                )
            })?;
        images::check_launchable(&template)?;
        let offerings = offering::list_service_offerings(pool).await.map_err(core)?;
        let wanted = req.instance_type.as_deref().unwrap_or("t3.micro");
        let offering = offerings
            .into_iter()
            .find(|o| o.name == wanted)
            .ok_or_else(|| {
                Ec2Error::new(
                    Code::InvalidInstanceType,
                    format!("The instance type '{wanted}' does not exist in this cloud."),
                )
            })?;
        let mut conn = pool.acquire().await.map_err(store)?;
        if let Some(k) = &req.key_name {
            if keypair::by_name(&mut conn, &caller.account_id, k)
                .await
                .map_err(core)?
                .is_none()
            {
                return Err(Ec2Error::new(
                    Code::NotFound(Resource::KeyPair),
                    format!("The key pair '{k}' does not exist"),
                ));
            }
        }
        let defaults = network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)?;
        let network = self
            .launch_network(&mut conn, caller, req, &defaults, &template.zone_id)
            .await?;
        let group_ids = self
            .launch_groups(&mut conn, caller, req, &network, &defaults)
            .await?;
        drop(conn);
        if let Some(token) = &req.client_token {
            let earlier = instance_options::launch_digest(pool, &caller.account_id, token)
                .await
                .map_err(core)?;
            if earlier.is_some_and(|d| d != req.digest) {
                return Err(Ec2Error::new(
                    Code::IdempotentParameterMismatch,
                    format!(
                        "The client token '{token}' was used before with other parameters; use a new token for a new request."
                    ),
                ));
            }
        }
        let root_size_gib = req
            .root_size_gib
            .unwrap_or(((template.size_bytes + GIB - 1) / GIB).max(1));
        let volumes = self
            .launch_volumes(caller, &req.block_devices, root_size_gib)
            .await?;
        if req.dry_run {
            return Err(Ec2Error::dry_run());
        }
        let extras = LaunchExtras {
            account_id: caller.account_id.clone(),
            group_ids,
            options: InstanceOptions {
                termination_protection: i64::from(req.disable_api_termination),
                stop_protection: i64::from(req.disable_api_stop),
                shutdown_behaviour: req
                    .shutdown_behavior
                    .clone()
                    .unwrap_or_else(|| instance_options::SHUTDOWN_STOP.to_owned()),
                ..InstanceOptions::new("", ROOT_DEVICE_NAME, root_size_gib)
            },
            tags: pairs(&req.instance_tags),
            volume_tags: pairs(&req.volume_tags),
            interface_tags: pairs(&req.interface_tags),
            metadata: (!req.metadata.is_empty())
                .then(|| req.metadata.applied_to(&MetadataOptions::default())),
            client_token: req.client_token.clone(),
            digest: req.digest.clone(),
            network: network.clone(),
            account_number: caller.account_number.clone(),
            volumes,
        };
        let spec = LaunchSpec {
            account_id: caller.account_id.clone(),
            user_id: caller.user_id.clone(),
            zone_id: Some(network.zone_id.clone()),
            offering,
            template,
            min_count: req.min_count,
            max_count: req.max_count,
            name: None,
            display_name: None,
            user_data: req.user_data.clone(),
            key_name: req.key_name.clone(),
            client_token: req.client_token.clone(),
            start: true,
        };
        let launched = self
            .cloud
            .orchestrator
            .launch_with(spec, &extras)
            .await
            .map_err(core)?;
        let ids: Vec<String> = launched
            .instances
            .iter()
            .map(|i| i.ec2_id.clone())
            .collect();
        let (views, _) = self
            .instance_views(caller, InstancePick::Ids(&ids))
            .await
            .map_err(core)?;
        let mut out: Vec<Instance> = views
            .into_iter()
            .filter(|i| ids.contains(&i.instance_id))
            .collect();
        out.sort_by_key(|i| ids.iter().position(|x| *x == i.instance_id));
        Ok(out)
    }

    async fn launch_network(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        req: &LaunchRequest,
        defaults: &network::DefaultVpc,
        template_zone: &str,
    ) -> Result<Network, Ec2Error> {
        if let Some(id) = &req.subnet_id {
            let n = network::network(conn, &caller.account_id, id)
                .await
                .map_err(core)?
                .filter(|n| n.ec2_id == *id)
                .ok_or_else(|| {
                    Ec2Error::new(
                        Code::NotFound(Resource::Subnet),
                        format!("The subnet ID '{id}' does not exist"),
                    )
                })?;
            return Ok(n);
        }
        let zone_id = match &req.availability_zone {
            Some(name) => infra::zone_by_name(conn, name)
                .await
                .map_err(core)?
                .map(|z| z.id)
                .ok_or_else(|| {
                    Ec2Error::invalid_value(format!("Invalid availability zone: [{name}]"))
                })?,
            None => template_zone.to_owned(),
        };
        defaults
            .networks
            .iter()
            .find(|n| n.zone_id == zone_id)
            .or_else(|| defaults.networks.first())
            .cloned()
            .ok_or_else(|| Ec2Error::internal("the default VPC has no network"))
    }

    async fn launch_groups(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        req: &LaunchRequest,
        network: &Network,
        defaults: &network::DefaultVpc,
    ) -> Result<Vec<String>, Ec2Error> {
        let mut ids = Vec::new();
        for id in &req.security_group_ids {
            let g = sg::get(conn, &caller.account_id, id)
                .await
                .map_err(core)?
                .filter(|g| g.ec2_id == *id)
                .ok_or_else(|| group_not_found(id))?;
            if g.vpc_id != network.vpc_id {
                return Err(Ec2Error::new(
                    Code::InvalidParameter,
                    format!(
                        "Security group {id} and subnet {} belong to different networks.",
                        network.ec2_id
                    ),
                ));
            }
            ids.push(g.id);
        }
        for name in &req.security_group_names {
            let g = sg::by_name(conn, &caller.account_id, &network.vpc_id, name)
                .await
                .map_err(core)?
                .ok_or_else(|| group_not_found(name))?;
            ids.push(g.id);
        }
        if ids.is_empty() {
            let default = if network.vpc_id == defaults.vpc.id {
                Some(defaults.group.clone())
            } else {
                sg::by_name(
                    conn,
                    &caller.account_id,
                    &network.vpc_id,
                    network::DEFAULT_GROUP_NAME,
                )
                .await
                .map_err(core)?
            };
            ids.extend(default.map(|g| g.id));
        }
        ids.dedup();
        Ok(ids)
    }

    async fn change(
        &self,
        caller: &Caller,
        ids: &[String],
        change: StateRequest,
        dry_run: bool,
    ) -> Result<Vec<StateChange>, Ec2Error> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            rows.push(self.own_instance(caller, id).await?);
        }
        let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
        for row in &rows {
            let opts = instance_options::get(&mut conn, &row.id)
                .await
                .map_err(core)?;
            let protected = match change {
                StateRequest::Terminate => opts.as_ref().is_some_and(|o| o.termination_protected()),
                StateRequest::Stop { .. } => opts.as_ref().is_some_and(|o| o.stop_protected()),
                _ => false,
            };
            if protected {
                let what = if change == StateRequest::Terminate {
                    "terminated"
                } else {
                    "stopped"
                };
                let attr = if change == StateRequest::Terminate {
                    "disableApiTermination"
                } else {
                    "disableApiStop"
                };
                return Err(Ec2Error::new(
                    Code::OperationNotPermitted,
                    format!(
                        "The instance '{}' may not be {what}. Modify its '{attr}' instance attribute and try again.",
                        row.ec2_id
                    ),
                ));
            }
        }
        drop(conn);
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let o = &self.cloud.orchestrator;
        let account = Some(caller.account_id.as_str());
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let previous = state_before(&row);
            let settled = match change {
                StateRequest::Start => {
                    previous == InstanceState::Running || previous == InstanceState::Pending
                }
                StateRequest::Stop { .. } => {
                    previous == InstanceState::Stopped || previous == InstanceState::Stopping
                }
                StateRequest::Terminate => {
                    previous == InstanceState::Terminated || previous == InstanceState::ShuttingDown
                }
                StateRequest::Reboot => false,
            };
            if settled {
                out.push(StateChange {
                    instance_id: row.ec2_id.clone(),
                    previous,
                    current: previous,
                });
                continue;
            }
            let queued = match change {
                StateRequest::Start => o.start(account, &caller.user_id, &row.id).await,
                StateRequest::Stop { force } => {
                    o.stop(account, &caller.user_id, &row.id, force).await
                }
                StateRequest::Reboot => o.reboot(account, &caller.user_id, &row.id).await,
                StateRequest::Terminate => {
                    o.destroy(account, &caller.user_id, &row.id, false).await
                }
            }
            .map_err(core)?;
            out.push(StateChange {
                instance_id: row.ec2_id.clone(),
                previous,
                current: state_before(&queued.instance.row),
            });
        }
        Ok(out)
    }

    async fn attributes(&self, caller: &Caller, id: &str) -> Result<InstanceAttributes, Ec2Error> {
        let row = self.own_instance(caller, id).await?;
        let view = self
            .instance_views(caller, InstancePick::Ids(std::slice::from_ref(&row.ec2_id)))
            .await
            .map_err(core)?
            .0
            .into_iter()
            .find(|i| i.instance_id == row.ec2_id)
            .ok_or_else(|| Ec2Error::internal(format!("instance {} vanished", row.ec2_id)))?;
        let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
        let opts = instance_options::get(&mut conn, &row.id)
            .await
            .map_err(core)?
            .unwrap_or_else(|| InstanceOptions::new(&row.id, ROOT_DEVICE_NAME, 8));
        let nic = view.interfaces.first();
        Ok(InstanceAttributes {
            instance_type: view.instance_type.clone(),
            user_data: row.user_data.clone(),
            disable_api_termination: opts.termination_protected(),
            disable_api_stop: opts.stop_protected(),
            shutdown_behavior: opts.shutdown_behaviour.clone(),
            source_dest_check: nic.is_none_or(|n| n.source_dest_check),
            groups: nic.map(|n| n.groups.clone()).unwrap_or_default(),
            root_device_name: opts.root_device_name.clone(),
            root_size_gib: opts.root_size_gib,
            block_devices: view.block_devices,
        })
    }

    async fn modify(
        &self,
        caller: &Caller,
        id: &str,
        change: &AttributeChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let row = self.own_instance(caller, id).await?;
        let offering = match change {
            AttributeChange::InstanceType(name) => Some(
                offering::list_service_offerings(&self.cloud.store.pool)
                    .await
                    .map_err(core)?
                    .into_iter()
                    .find(|o| &o.name == name)
                    .ok_or_else(|| {
                        Ec2Error::invalid_value(format!(
                            "The instance type '{name}' does not exist in this cloud."
                        ))
                    })?,
            ),
            _ => None,
        };
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        let mut group_ids = Vec::new();
        if let AttributeChange::Groups(ids) = change {
            for g in ids {
                let found = sg::get(&mut tx, &caller.account_id, g)
                    .await
                    .map_err(core)?
                    .ok_or_else(|| group_not_found(g))?;
                group_ids.push(found.id);
            }
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut opts = instance_options::get(&mut tx, &row.id)
            .await
            .map_err(core)?
            .unwrap_or_else(|| InstanceOptions::new(&row.id, ROOT_DEVICE_NAME, 8));
        let stopped_only = |e: CoreError| {
            match e {
            CoreError::IncorrectState { .. } => Ec2Error::new(
                Code::IncorrectInstanceState,
                format!(
                    "The instance '{}' is not in the 'stopped' state; stop it before changing this attribute.",
                    row.ec2_id
                ),
            ),
            other => core(other),
        }
        };
        match change {
            AttributeChange::InstanceType(_) => {
                if let Some(o) = &offering {
                    instance_options::change_offering(&mut tx, &row.id, o)
                        .await
                        .map_err(stopped_only)?;
                }
            }
            AttributeChange::UserData(u) => {
                instance_options::change_user_data(&mut tx, &row.id, u.as_deref())
                    .await
                    .map_err(stopped_only)?;
            }
            AttributeChange::DisableApiTermination(v) => {
                opts.termination_protection = i64::from(*v)
            }
            AttributeChange::DisableApiStop(v) => opts.stop_protection = i64::from(*v),
            AttributeChange::ShutdownBehavior(v) => opts.shutdown_behaviour = v.clone(),
            AttributeChange::SourceDestCheck(v) => {
                network::set_source_dest_check(&mut tx, &row.id, *v)
                    .await
                    .map_err(core)?;
            }
            AttributeChange::Groups(_) => {
                let nics: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM network_interfaces WHERE instance_id = $1 AND device_index = 0",
                )
                .bind(&row.id)
                .fetch_all(&mut *tx)
                .await
                .map_err(store)?;
                for (nic,) in nics {
                    network::set_interface_groups(&mut tx, &nic, &group_ids)
                        .await
                        .map_err(core)?;
                }
            }
        }
        instance_options::save(&mut tx, &opts).await.map_err(core)?;
        tx.commit().await.map_err(store)?;
        Ok(())
    }

    async fn add_key(
        &self,
        caller: &Caller,
        name: &str,
        key_type: &str,
        public_key: Option<&str>,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<CreatedKeyPair, Ec2Error> {
        let (public, private) = match public_key {
            Some(text) => (
                keypair::parse_openssh(text).map_err(|e| {
                    Ec2Error::new(
                        Code::Malformed(Resource::KeyPair),
                        format!("Key is not in valid OpenSSH public key format: {e}."),
                    )
                })?,
                String::new(),
            ),
            None => {
                let kind = KeyKind::parse(key_type).unwrap_or(KeyKind::Rsa);
                if dry_run {
                    return Err(Ec2Error::dry_run());
                }
                let made = tokio::task::spawn_blocking(move || keypair::generate(kind))
                    .await
                    .map_err(|e| Ec2Error::internal(format!("key generation failed: {e}")))?
                    .map_err(core)?;
                (made.public.clone(), made.private_pem.clone())
            }
        };
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        let pair = keypair::insert(&mut tx, &caller.account_id, name, &public)
            .await
            .map_err(core)?
            .ok_or_else(|| {
                Ec2Error::new(
                    Code::Duplicate(Resource::KeyPair),
                    format!("The keypair '{name}' already exists."),
                )
            })?;
        let pairs: Vec<(String, String)> = tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        if !pairs.is_empty() {
            let r = TaggedResource {
                kind: TaggedKind::KeyPair,
                id: pair.id.clone(),
                ec2_id: pair.ec2_id.clone(),
            };
            tag::set(&mut tx, &caller.account_id, &[r], &pairs)
                .await
                .map_err(core)?;
        }
        tx.commit().await.map_err(store)?;
        Ok(CreatedKeyPair {
            pair: key_view(pair, pairs),
            key_material: private,
        })
    }

    async fn group_views(&self, caller: &Caller) -> Result<Vec<SecurityGroup>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)?;
        let groups = sg::list_for_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let rules = sg::rules_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let vpcs = network::vpcs_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::SecurityGroup)
            .await
            .map_err(core)?;
        let ec2_of: HashMap<&str, &str> = groups
            .iter()
            .map(|g| (g.id.as_str(), g.ec2_id.as_str()))
            .collect();
        let vpc_of: HashMap<&str, &str> = vpcs
            .iter()
            .map(|v| (v.id.as_str(), v.ec2_id.as_str()))
            .collect();
        let owner = &caller.account_number;
        let views = groups
            .iter()
            .map(|g| SecurityGroup {
                group_id: g.ec2_id.clone(),
                group_name: g.name.clone(),
                description: g.description.clone(),
                owner_id: owner.clone(),
                vpc_id: vpc_of
                    .get(g.vpc_id.as_str())
                    .copied()
                    .unwrap_or("")
                    .to_owned(),
                rules: rules
                    .iter()
                    .filter(|r| r.group_id == g.id)
                    .map(|r| rule_view(r, &g.ec2_id, owner, &ec2_of))
                    .collect(),
                tags: to_tags(tags.remove(&g.id).unwrap_or_default()),
            })
            .collect();
        Ok(views)
    }

    async fn create_group(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: &[Tag],
        dry_run: bool,
    ) -> Result<SecurityGroup, Ec2Error> {
        let defaults = network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)?;
        let vpc = match vpc_id {
            None => defaults.vpc.clone(),
            Some(id) => network::vpcs_of_account(&self.cloud.store.pool, &caller.account_id)
                .await
                .map_err(core)?
                .into_iter()
                .find(|v| v.ec2_id == id)
                .ok_or_else(|| {
                    Ec2Error::new(
                        Code::NotFound(Resource::Vpc),
                        format!("The vpc ID '{id}' does not exist"),
                    )
                })?,
        };
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        let g = sg::create(
            &mut tx,
            &caller.account_id,
            &vpc.id,
            name,
            description,
            false,
        )
        .await
        .map_err(group_error)?;
        let pairs: Vec<(String, String)> = tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        if !pairs.is_empty() {
            let r = TaggedResource {
                kind: TaggedKind::SecurityGroup,
                id: g.id.clone(),
                ec2_id: g.ec2_id.clone(),
            };
            tag::set(&mut tx, &caller.account_id, &[r], &pairs)
                .await
                .map_err(core)?;
        }
        tx.commit().await.map_err(store)?;
        Ok(SecurityGroup {
            group_id: g.ec2_id,
            group_name: g.name,
            description: g.description,
            owner_id: caller.account_number.clone(),
            vpc_id: vpc.ec2_id,
            rules: Vec::new(),
            tags: to_tags(pairs),
        })
    }

    async fn find_group(
        &self,
        caller: &Caller,
        which: &GroupSelector,
    ) -> Result<sg::SecurityGroup, Ec2Error> {
        let defaults = network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)?;
        let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
        match which {
            GroupSelector::Id(id) => sg::get(&mut conn, &caller.account_id, id)
                .await
                .map_err(core)?
                .filter(|g| &g.ec2_id == id)
                .ok_or_else(|| group_not_found(id)),
            GroupSelector::Name(name) => {
                sg::by_name(&mut conn, &caller.account_id, &defaults.vpc.id, name)
                    .await
                    .map_err(core)?
                    .ok_or_else(|| group_not_found(name))
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the port call's inputs, passed through
    async fn rules(
        &self,
        caller: &Caller,
        which: GroupSelector,
        egress: bool,
        add: bool,
        permissions: &[Permission],
        rule_ids: &[String],
        dry_run: bool,
    ) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
        let group = self.find_group(caller, &which).await?;
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        let mut specs = Vec::with_capacity(permissions.len());
        for p in permissions {
            let peer = match &p.peer {
                PermissionPeer::Ipv4(c) => Peer::Ipv4(c.clone()),
                PermissionPeer::Ipv6(c) => Peer::Ipv6(c.clone()),
                PermissionPeer::Group { group_id, .. } => {
                    let found = match sg::get(&mut tx, &caller.account_id, group_id)
                        .await
                        .map_err(core)?
                    {
                        Some(g) => Some(g),
                        None => sg::by_name(&mut tx, &caller.account_id, &group.vpc_id, group_id)
                            .await
                            .map_err(core)?,
                    };
                    Peer::Group(found.ok_or_else(|| group_not_found(group_id))?.id)
                }
            };
            specs.push(RuleSpec {
                protocol: p.protocol.clone(),
                from_port: p.from_port,
                to_port: p.to_port,
                peer,
                description: p.description.clone().unwrap_or_default(),
            });
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let direction = if egress {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let added = if add {
            sg::add_rules(&mut tx, &group.id, direction, &specs)
                .await
                .map_err(group_error)?
        } else {
            if !rule_ids.is_empty() {
                sg::remove_rules_by_id(&mut tx, &group.id, direction, rule_ids)
                    .await
                    .map_err(group_error)?;
            }
            sg::remove_rules(&mut tx, &group.id, direction, &specs)
                .await
                .map_err(group_error)?;
            Vec::new()
        };
        tx.commit().await.map_err(store)?;
        let groups = sg::list_for_account(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(core)?;
        let ec2_of: HashMap<&str, &str> = groups
            .iter()
            .map(|g| (g.id.as_str(), g.ec2_id.as_str()))
            .collect();
        Ok(added
            .iter()
            .map(|r| rule_view(r, &group.ec2_id, &caller.account_number, &ec2_of))
            .collect())
    }

    async fn resolve_resource(
        &self,
        db: &mut AnyConnection,
        caller: &Caller,
        id: &str,
    ) -> Result<TaggedResource, Ec2Error> {
        let prefix = id.split_once('-').map(|(p, _)| p).unwrap_or("");
        let account = caller.account_id.as_str();
        let (kind, table, resource) = match prefix {
            "i" => (TaggedKind::Instance, "instances", Resource::Instance),
            "ami" => (TaggedKind::Template, "templates", Resource::Image),
            "sg" => (
                TaggedKind::SecurityGroup,
                "security_groups",
                Resource::SecurityGroup,
            ),
            "key" => (TaggedKind::KeyPair, "ssh_key_pairs", Resource::KeyPair),
            "vol" => (TaggedKind::Volume, "volumes", Resource::Volume),
            "snap" => (TaggedKind::Snapshot, "snapshots", Resource::Snapshot),
            "vpc" => (TaggedKind::Vpc, "vpcs", Resource::Vpc),
            "subnet" => (TaggedKind::Network, "networks", Resource::Subnet),
            "eipalloc" => (TaggedKind::PublicIp, "public_ips", Resource::Allocation),
            "igw" | "rtb" | "acl" => return super::ec2_vpc::resolve_tagged(db, caller, id).await,
            "eni" => (
                TaggedKind::NetworkInterface,
                "network_interfaces",
                Resource::Instance,
            ),
            _ => {
                return Err(Ec2Error::new(
                    Code::InvalidId,
                    format!("The ID '{id}' is not valid: Cirrus tags no resource of that kind."),
                ))
            }
        };
        let sql = format!("SELECT id FROM {table} WHERE ec2_id = $1 AND account_id = $2");
        let found: Option<(String,)> = sqlx::query_as(&sql)
            .bind(id)
            .bind(account)
            .fetch_optional(&mut *db)
            .await
            .map_err(store)?;
        let (native,) = found.ok_or_else(|| {
            Ec2Error::new(
                if prefix == "eni" {
                    Code::InvalidId
                } else {
                    Code::NotFound(resource)
                },
                format!("The ID '{id}' does not exist"),
            )
        })?;
        Ok(TaggedResource {
            kind,
            id: native,
            ec2_id: id.to_owned(),
        })
    }

    async fn subnet_views(&self, caller: &Caller) -> Result<Vec<Subnet>, Ec2Error> {
        let pool = &self.cloud.store.pool;
        network::ensure_default_vpc(&self.cloud.store, &caller.account_id)
            .await
            .map_err(core)?;
        let nets = network::networks_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let vpcs = network::vpcs_of_account(pool, &caller.account_id)
            .await
            .map_err(core)?;
        let zones = infra::list_zones(pool).await.map_err(core)?;
        let ids: Vec<(String, String)> = zones
            .iter()
            .map(|z| (z.id.clone(), z.name.clone()))
            .collect();
        let azs = availability_zones(zones);
        let mut tags = tag::by_resource(pool, &caller.account_id, TaggedKind::Network)
            .await
            .map_err(core)?;
        let mut conn = pool.acquire().await.map_err(store)?;
        let mut out = Vec::with_capacity(nets.len());
        for n in nets {
            let zone_name = ids
                .iter()
                .find(|(id, _)| *id == n.zone_id)
                .map(|(_, name)| name.clone())
                .unwrap_or_default();
            let az_id = azs
                .iter()
                .find(|a| a.name == zone_name)
                .map(|a| a.zone_id.clone())
                .unwrap_or_default();
            let free = network::free_addresses(&mut conn, &n).await.map_err(core)?;
            out.push(Subnet {
                tags: to_tags(tags.remove(&n.id).unwrap_or_default()),
                subnet_id: n.ec2_id.clone(),
                vpc_id: vpcs
                    .iter()
                    .find(|v| v.id == n.vpc_id)
                    .map(|v| v.ec2_id.clone())
                    .unwrap_or_default(),
                owner_id: caller.account_number.clone(),
                availability_zone: zone_name,
                availability_zone_id: az_id,
                available_addresses: free as i64,
                default_for_az: n.is_default(),
                map_public_ip_on_launch: n.map_public_ip != 0,
                state: n.state.clone(),
                cidr: n.cidr.clone(),
            });
        }
        Ok(out)
    }
}

fn rule_view(
    r: &sg::RuleRow,
    group_ec2_id: &str,
    owner: &str,
    ec2_of: &HashMap<&str, &str>,
) -> SecurityGroupRule {
    let spec = r.spec();
    let peer = match spec.peer {
        Peer::Ipv4(c) => PermissionPeer::Ipv4(c),
        Peer::Ipv6(c) => PermissionPeer::Ipv6(c),
        Peer::Group(g) => PermissionPeer::Group {
            group_id: ec2_of
                .get(g.as_str())
                .copied()
                .unwrap_or(g.as_str())
                .to_owned(),
            owner_id: owner.to_owned(),
        },
    };
    SecurityGroupRule {
        rule_id: r.ec2_id.clone(),
        group_id: group_ec2_id.to_owned(),
        owner_id: owner.to_owned(),
        egress: r.direction() == Direction::Egress,
        permission: Permission {
            protocol: spec.protocol,
            from_port: spec.from_port,
            to_port: spec.to_port,
            peer,
            description: (!spec.description.is_empty()).then_some(spec.description),
        },
        tags: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes() {
        let cases = [
            ("us-east-1", "use1"),
            ("eu-central-1", "euc1"),
            ("us-west-2", "usw2"),
            ("local", "local"),
        ];
        for (region, code) in cases {
            assert_eq!(region_code(region), code);
        }
    }

    #[test]
    fn states() {
        use CoreState as C;
        use InstanceState as E;
        let cases = [
            (C::Starting, None, E::Pending),
            (C::Running, None, E::Running),
            (C::Running, Some("Stopped"), E::Stopping),
            (C::Stopping, None, E::Stopping),
            (C::Stopped, None, E::Stopped),
            (C::Stopped, Some("Running"), E::Pending),
            (C::Running, Some("Destroyed"), E::ShuttingDown),
            (C::Stopping, Some("Destroyed"), E::ShuttingDown),
            (C::Destroyed, None, E::Terminated),
            (C::Expunging, None, E::Terminated),
            (C::Error, None, E::Terminated),
        ];
        for (core, target, ec2) in cases {
            assert_eq!(instance_state(core, target), ec2, "{core:?} -> {target:?}");
        }
    }

    #[test]
    fn zone_ids_follow_creation_order() {
        let zone = |name: &str, created_ms| Zone {
            id: format!("id-{name}"),
            name: name.into(),
            region: "us-east-1".into(),
            state: "enabled".into(),
            created_ms,
        };
        let got = availability_zones(vec![zone("us-east-1b", 1), zone("us-east-1a", 2)]);
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|z| (z.name.as_str(), z.zone_id.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("us-east-1a", "use1-az2"), ("us-east-1b", "use1-az1")]
        );
    }
}
