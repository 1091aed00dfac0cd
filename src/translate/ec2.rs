//! The EC2 door's port, over the core: turns zones, offerings, templates and instances into
//! the door's EC2 views (availability zones, instance types, images, instances). The EC2
//! vocabulary stops here; the core below never sees it.

use cirrus_ec2::types::Tag;
use cirrus_ec2::{
    AvailabilityZone, Caller, Credential, Ec2Port, Image, ImageState, Instance, InstanceState,
    InstanceType, PortError, Region,
};

use super::Translator;
use crate::error::CoreError;
use crate::model::identity::Principal;
use crate::model::infra::{self, Zone};
use crate::model::instance::InstanceState as CoreState;
use crate::model::listing::{self, InstanceListing, OwnedTemplate};
use crate::model::offering::{self, ServiceOffering};

/// The device every root volume is attached as.
const ROOT_DEVICE_NAME: &str = "/dev/sda1";
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
fn availability_zones(mut zones: Vec<Zone>) -> Vec<AvailabilityZone> {
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

fn image(t: OwnedTemplate) -> Image {
    let OwnedTemplate {
        template,
        owner_number,
    } = t;
    Image {
        image_id: template.ec2_id.clone(),
        state: image_state(&template.state),
        is_public: template.is_public(),
        root_size_gib: ((template.size_bytes + GIB - 1) / GIB).max(1),
        created_ms: template.created_ms,
        description: template.display_text,
        name: template.name,
        owner_id: owner_number,
        root_device_name: ROOT_DEVICE_NAME.to_owned(),
        // LIMITATION: templates carry no tags until the tagging work adds them.
        tags: Vec::<Tag>::new(),
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

fn instance(l: InstanceListing) -> Instance {
    let InstanceListing {
        row,
        state,
        zone_name,
        offering_name,
        template_ec2_id,
        owner_number,
    } = l;
    Instance {
        state: instance_state(state, row.target_state.as_deref()),
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
        // LIMITATION: no addresses until the network work assigns them.
        private_ip: None,
        tags: Vec::new(),
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
        Ok(templates.into_iter().map(image).collect())
    }

    async fn instances(&self, caller: &Caller) -> Result<Vec<Instance>, PortError> {
        let rows = listing::instances_of_account(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(port_error)?;
        Ok(rows.into_iter().map(instance).collect())
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
