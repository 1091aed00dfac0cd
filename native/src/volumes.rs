//! Volumes and snapshots on the native door: the wire objects of `listVolumes` and
//! `listSnapshots` (CloudStack's VolumeResponse and SnapshotResponse field names) and their
//! typed requests.
//!
//! LIMITATION: createVolume, attachVolume, detachVolume, resizeVolume, deleteVolume,
//! createSnapshot and deleteSnapshot are not served on this door yet (432); EC2 serves them.

use crate::args::{Args, Page};
use crate::error::ApiError;
use crate::requests::Scope;
use crate::types::Tag;
use crate::wire::Timestamp;
use crate::wire_object;

wire_object! {
    /// A volume: an instance's root disk or a data disk.
    pub struct Volume {
        id: String = "string", "the ID of the volume";
        name: String = "string", "the name of the volume";
        zoneid: String = "string", "the ID of the volume's zone";
        zonename: String = "string", "the name of the volume's zone";
        r#type as "type": String = "string", "ROOT or DATADISK";
        deviceid: Option<i64> = "long", "the device number of the volume on its instance";
        virtualmachineid: Option<String> = "string", "the instance the volume is attached to";
        vmname: Option<String> = "string", "the name of that instance";
        vmstate: Option<String> = "string", "the state of that instance";
        size: i64 = "long", "the size of the volume in bytes";
        state: String = "string", "Allocated, Ready or Destroy";
        created: Timestamp = "date", "when the volume was made";
        attached: Option<Timestamp> = "date", "when the volume was attached";
        account: String = "string", "the account owning the volume";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
        storagetype: String = "string", "shared or local storage";
        provisioningtype: String = "string", "thin, sparse or fat provisioning";
        diskofferingid: Option<String> = "string", "the disk offering of the volume";
        snapshotid: Option<String> = "string", "the snapshot the volume was made from";
        miniops: Option<i64> = "long", "the IOPS of the volume";
        tags: Vec<Tag> = "list", "the tags of the volume";
    }
}

wire_object! {
    /// A snapshot of a volume, kept in secondary storage.
    pub struct Snapshot {
        id: String = "string", "the ID of the snapshot";
        name: String = "string", "the name of the snapshot";
        volumeid: String = "string", "the ID of the snapshotted volume";
        volumename: Option<String> = "string", "the name of that volume";
        volumetype: String = "string", "ROOT or DATADISK";
        snapshottype: String = "string", "MANUAL or RECURRING";
        intervaltype: Option<String> = "string", "the schedule of a recurring snapshot";
        state: String = "string", "Creating, BackedUp or Error";
        created: Timestamp = "date", "when the snapshot was taken";
        account: String = "string", "the account owning the snapshot";
        domainid: String = "string", "the ID of that account's domain";
        domain: String = "string", "the name of that account's domain";
        zoneid: String = "string", "the ID of the snapshot's zone";
        physicalsize: i64 = "long", "the bytes the snapshot takes in secondary storage";
        virtualsize: i64 = "long", "the size of the snapshotted volume in bytes";
        tags: Vec<Tag> = "list", "the tags of the snapshot";
    }
}

/// `listVolumes` and `listSnapshots`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListVolumes {
    pub id: Option<String>,
    pub name: Option<String>,
    pub zone_id: Option<String>,
    pub virtual_machine_id: Option<String>,
    pub volume_id: Option<String>,
    /// ROOT or DATADISK.
    pub kind: Option<String>,
    pub scope: Scope,
    pub keyword: Option<String>,
    pub page: Page,
}

impl ListVolumes {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        Ok(Self {
            id: args.string("id"),
            name: args.string("name").filter(|n| !n.is_empty()),
            zone_id: args.string("zoneid"),
            virtual_machine_id: args.string("virtualmachineid"),
            volume_id: args.string("volumeid"),
            kind: args.string("type").map(|t| t.to_ascii_uppercase()),
            scope: Scope::decode(args)?,
            keyword: args.keyword(),
            page: args.page()?,
        })
    }
}
