//! The native door's volumes and snapshots, over the core: `listVolumes` and `listSnapshots`
//! in CloudStack's shapes, scoped like every other list (the caller's account, or what an
//! admin's domain and account parameters name). A volume made through EC2 is listed here.

use cirrus_native::args::Listing;
use cirrus_native::volumes::{ListVolumes, Snapshot, Volume};
use cirrus_native::wire::Timestamp;
use cirrus_native::{Caller, PortError};

use super::{port_error, same_name, tag_views, Translator};
use crate::model::snapshot;
use crate::model::tag::{self, TaggedKind};
use crate::model::volume;

fn volume_state(state: &str) -> &'static str {
    match state {
        "creating" => "Allocated",
        "deleting" | "deleted" => "Destroy",
        "error" => "Error",
        _ => "Ready",
    }
}

fn snapshot_state(state: &str) -> &'static str {
    match state {
        "pending" => "Creating",
        "error" => "Error",
        _ => "BackedUp",
    }
}

/// The device number CloudStack shows for a device name: 0 for the root, then by letter.
fn device_number(device: &str, root: bool) -> i64 {
    if root {
        return 0;
    }
    device
        .bytes()
        .rev()
        .find(u8::is_ascii_lowercase)
        .map_or(1, |b| i64::from(b - b'a'))
}

impl Translator {
    pub(super) async fn native_volumes(
        &self,
        caller: &Caller,
        req: &ListVolumes,
    ) -> Result<Listing<Volume>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        let rows = volume::list(self.pool(), None)
            .await
            .map_err(|e| PortError::Internal(e.to_string()))?;
        let mut items = Vec::new();
        for l in rows {
            if !dir.admits(&visibility, &l.row.account_id) {
                continue;
            }
            let r = &l.row;
            let kind = if r.is_root() { "ROOT" } else { "DATADISK" };
            let wanted = req.id.as_ref().is_none_or(|id| *id == r.id)
                && same_name(req.name.as_ref(), &r.name)
                && req.zone_id.as_ref().is_none_or(|z| *z == r.zone_id)
                && req
                    .virtual_machine_id
                    .as_ref()
                    .is_none_or(|i| r.instance_id.as_ref() == Some(i))
                && req.kind.as_deref().is_none_or(|k| k == kind)
                && cirrus_native::args::keyword_matches(req.keyword.as_deref(), &[&r.name]);
            if !wanted {
                continue;
            }
            let Some(account) = dir.account(&r.account_id) else {
                continue;
            };
            let domain = dir.domain_of_account(&r.account_id);
            let tags = tag::by_resource(self.pool(), &r.account_id, TaggedKind::Volume)
                .await
                .map_err(port_error)?;
            items.push(Volume {
                id: r.id.clone(),
                name: r.name.clone(),
                zoneid: r.zone_id.clone(),
                zonename: l.zone_name.clone(),
                r#type: kind.to_owned(),
                deviceid: r.device.as_deref().map(|d| device_number(d, r.is_root())),
                virtualmachineid: r.instance_id.clone(),
                vmname: l.instance_name.clone(),
                vmstate: l.instance_state.clone(),
                size: r.size_bytes(),
                state: volume_state(&r.state).to_owned(),
                created: Timestamp(r.created_ms),
                attached: r.attached_ms.map(Timestamp),
                account: account.name.clone(),
                domainid: account.domain_id.clone(),
                domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
                storagetype: "shared".into(),
                provisioningtype: "thin".into(),
                diskofferingid: r.disk_offering_id.clone(),
                snapshotid: r.snapshot_id.clone(),
                miniops: r.iops,
                tags: tag_views(tags.get(&r.id), "Volume", &r.id, account, domain),
            });
        }
        Ok(req.page.slice(items))
    }

    pub(super) async fn native_snapshots(
        &self,
        caller: &Caller,
        req: &ListVolumes,
    ) -> Result<Listing<Snapshot>, PortError> {
        let dir = self.directory().await?;
        let visibility = self.visibility(&dir, caller, &req.scope, req.id.is_some())?;
        let rows = snapshot::visible(self.pool(), None)
            .await
            .map_err(|e| PortError::Internal(e.to_string()))?;
        let mut items = Vec::new();
        for l in rows {
            let r = &l.row;
            if !dir.admits(&visibility, &r.account_id) {
                continue;
            }
            let name = format!(
                "{}_{}",
                l.volume_name.as_deref().unwrap_or(&r.volume_ec2_id),
                r.ec2_id
            );
            let wanted = req.id.as_ref().is_none_or(|id| *id == r.id)
                && same_name(req.name.as_ref(), &name)
                && req.zone_id.as_ref().is_none_or(|z| *z == r.zone_id)
                && req.volume_id.as_ref().is_none_or(|v| *v == r.volume_id)
                && cirrus_native::args::keyword_matches(req.keyword.as_deref(), &[&name]);
            if !wanted {
                continue;
            }
            let Some(account) = dir.account(&r.account_id) else {
                continue;
            };
            let domain = dir.domain_of_account(&r.account_id);
            let tags = tag::by_resource(self.pool(), &r.account_id, TaggedKind::Snapshot)
                .await
                .map_err(port_error)?;
            items.push(Snapshot {
                id: r.id.clone(),
                name,
                volumeid: r.volume_id.clone(),
                volumename: l.volume_name.clone(),
                volumetype: if r.volume_kind == "root" {
                    "ROOT"
                } else {
                    "DATADISK"
                }
                .into(),
                snapshottype: "MANUAL".into(),
                intervaltype: None,
                state: snapshot_state(&r.state).to_owned(),
                created: Timestamp(r.created_ms),
                account: account.name.clone(),
                domainid: account.domain_id.clone(),
                domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
                zoneid: r.zone_id.clone(),
                physicalsize: r.stored_bytes,
                virtualsize: r.size_gib << 30,
                tags: tag_views(tags.get(&r.id), "Snapshot", &r.id, account, domain),
            });
        }
        Ok(req.page.slice(items))
    }
}
