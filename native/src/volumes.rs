//! Volumes and snapshots on the native door: the wire objects (CloudStack's VolumeResponse
//! and SnapshotResponse field names) that `listVolumes` and `listSnapshots` list and that the
//! jobs of createVolume, attachVolume, detachVolume, resizeVolume and createSnapshot carry, and
//! the typed requests of those commands and of deleteVolume and deleteSnapshot.

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
            name: args.non_empty("name"),
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

/// `createVolume`: a data volume from a disk offering or from a snapshot, perhaps attached at
/// once to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateVolume {
    pub name: Option<String>,
    pub zone_id: Option<String>,
    pub disk_offering_id: Option<String>,
    /// GiB, for a custom disk offering.
    pub size_gib: Option<i64>,
    pub snapshot_id: Option<String>,
    pub virtual_machine_id: Option<String>,
    /// An admin's choice of owner: `account` in `domainid`.
    pub account: Option<String>,
    pub domain_id: Option<String>,
}

impl CreateVolume {
    pub fn decode(args: &Args) -> Result<Self, ApiError> {
        let req = Self {
            name: args.string("name").filter(|n| !n.trim().is_empty()),
            zone_id: args.string("zoneid"),
            disk_offering_id: args.string("diskofferingid"),
            size_gib: args.integer("size"),
            snapshot_id: args.string("snapshotid"),
            virtual_machine_id: args.string("virtualmachineid"),
            account: args.non_empty("account"),
            domain_id: args.string("domainid"),
        };
        if req.snapshot_id.is_none() && req.disk_offering_id.is_none() {
            return Err(ApiError::invalid_parameter(
                "At least one of disk Offering ID or snapshot ID must be passed whilst creating \
                 volume",
            ));
        }
        // The zone may come from the snapshot or the instance; with neither it must be given.
        if req.zone_id.is_none() && req.snapshot_id.is_none() && req.virtual_machine_id.is_none() {
            return Err(ApiError::missing_parameter("createVolume", "zoneid"));
        }
        if req.size_gib.is_some_and(|n| n <= 0) {
            return Err(ApiError::invalid_parameter(
                "Disk size must be larger than 0",
            ));
        }
        Ok(req)
    }
}

/// Which volume `detachVolume` detaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetachTarget {
    Volume(String),
    /// The volume an instance has as this device number.
    Device {
        virtual_machine_id: String,
        device_id: i64,
    },
}

/// The asynchronous commands that change one volume in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeJob {
    /// `attachVolume`; without a device number the lowest free one is taken.
    Attach {
        id: String,
        virtual_machine_id: String,
        device_id: Option<i64>,
    },
    /// `detachVolume`.
    Detach(DetachTarget),
    /// `resizeVolume`: to `size_gib`, or to the size of another disk offering.
    Resize {
        id: String,
        size_gib: Option<i64>,
        disk_offering_id: Option<String>,
        shrink_ok: bool,
    },
}

impl VolumeJob {
    pub fn attach(args: &Args) -> Self {
        Self::Attach {
            id: args.string("id").unwrap_or_default(),
            virtual_machine_id: args.string("virtualmachineid").unwrap_or_default(),
            device_id: args.integer("deviceid"),
        }
    }

    pub fn detach(args: &Args) -> Result<Self, ApiError> {
        let id = args.string("id");
        let vm = args.string("virtualmachineid");
        let device = args.integer("deviceid");
        match (id, vm, device) {
            (Some(id), None, None) => Ok(Self::Detach(DetachTarget::Volume(id))),
            (None, Some(virtual_machine_id), Some(device_id)) => {
                Ok(Self::Detach(DetachTarget::Device {
                    virtual_machine_id,
                    device_id,
                }))
            }
            _ => Err(ApiError::invalid_parameter(
                "Please provide either a volume id, or a tuple(device id, instance id)",
            )),
        }
    }

    pub fn resize(args: &Args) -> Self {
        Self::Resize {
            id: args.string("id").unwrap_or_default(),
            size_gib: args.integer("size"),
            disk_offering_id: args.string("diskofferingid"),
            shrink_ok: args.flag("shrinkok"),
        }
    }
}

/// `createSnapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateSnapshot {
    pub volume_id: String,
    pub name: Option<String>,
}

impl CreateSnapshot {
    pub fn decode(args: &Args) -> Self {
        Self {
            volume_id: args.string("volumeid").unwrap_or_default(),
            name: args.string("name").filter(|n| !n.trim().is_empty()),
        }
    }
}
