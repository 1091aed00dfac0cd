//! Images made by the caller: RegisterImage (the root device from an EBS snapshot),
//! CreateImage (from an instance's root volume, snapshotted first) and CopyImage (a new image
//! with its own copy of another's bytes, within this region, idempotent by ClientToken).
//!
//! Every image is an x86_64 HVM image with one EBS root device; what EC2 lets one register
//! beyond that (other architectures, paravirtual kernels, instance-store manifests, extra
//! devices, encryption) is refused by name rather than recorded and ignored.
//!
//! LIMITATION: CreateImage snapshots the root volume only (not the instance's other volumes),
//! and never reboots the instance: NoReboot is accepted either way, and a running guest's disk
//! is copied crash-consistently by its hypervisor.

use super::common::{check_instance_id, tags_for, take_tag_specs};
use super::compute::take_block_devices;
use super::images::{is_image_id, ARCHITECTURE};
use super::snapshots::check_snapshot_id;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::query::Params;
use crate::types::{BlockDeviceRequest, Tag};
use crate::{Caller, Ec2Port};

/// The shortest and longest image name.
const NAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=128;
/// What the root volume of an image registered without a root device name is attached as.
pub const DEFAULT_ROOT_DEVICE: &str = "/dev/sda1";

/// What the caller asks a new image to be, whatever it is made from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewImage {
    pub name: String,
    pub description: String,
    /// The root device name, as registered.
    pub root_device_name: Option<String>,
    /// The root volume's size (at least the snapshot's) and type, if the mapping names them.
    pub root_size_gib: Option<i64>,
    pub root_volume_type: Option<String>,
    pub ena_support: Option<bool>,
    /// Tags of the image, and (CreateImage) of the snapshot it makes.
    pub tags: Vec<Tag>,
    pub snapshot_tags: Vec<Tag>,
}

/// An image name: 3 to 128 characters of letters, digits and `()[] ./-'@_`.
pub fn check_image_name(name: &str) -> Result<(), Ec2Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
    if NAME_LENGTH.contains(&name.chars().count()) && name.chars().all(allowed) {
        return Ok(());
    }
    Err(Ec2Error::new(
        Code::AmiNameMalformed,
        format!(
            "AMI names must be between 3 and 128 characters long, and may contain letters, \
             numbers, spaces and ( ) [ ] . / - _ @ and single quotes; '{name}' is not valid."
        ),
    ))
}

fn take_name(p: &mut Params) -> Result<String, Ec2Error> {
    let name = p.take_required("Name")?;
    check_image_name(&name)?;
    Ok(name)
}

fn take_description(p: &mut Params) -> Result<String, Ec2Error> {
    let d = p.take("Description").unwrap_or_default();
    if d.chars().count() > 255 {
        return Err(Ec2Error::invalid_value(
            "The image description is longer than 255 characters.",
        ));
    }
    Ok(d)
}

pub fn check_image_id(id: &str) -> Result<(), Ec2Error> {
    if is_image_id(id) {
        Ok(())
    } else {
        Err(Ec2Error::new(
            Code::Malformed(Resource::Image),
            format!("Invalid id: \"{id}\" (expecting \"ami-...\")"),
        ))
    }
}

fn unsupported(what: &str) -> Ec2Error {
    Ec2Error::new(Code::UnsupportedOperation, what)
}

/// Refuses encryption, which Cirrus volumes do not have.
fn refuse_encryption(p: &mut Params) -> Result<(), Ec2Error> {
    if p.take_bool("Encrypted")?.unwrap_or(false) || p.take("KmsKeyId").is_some() {
        return Err(unsupported(
            "Encrypted images are not supported: Cirrus volumes are not encrypted.",
        ));
    }
    Ok(())
}

/// The root device's mapping among `BlockDeviceMapping.N`; any other mapping that would make a
/// volume is refused (an image has its root device only).
fn root_mapping(
    devices: Vec<BlockDeviceRequest>,
    root_device: &str,
) -> Result<Option<BlockDeviceRequest>, Ec2Error> {
    let mut root = None;
    for d in devices {
        if d.device == root_device {
            root = Some(d);
        } else if !d.no_device {
            return Err(unsupported(&format!(
                "The mapping of {} is not supported: a Cirrus image has its root device \
                 ({root_device}) only.",
                d.device
            )));
        }
    }
    if let Some(r) = root
        .as_ref()
        .filter(|r| r.iops.is_some() || r.throughput.is_some())
    {
        return Err(unsupported(&format!(
            "The root mapping of {} may not set Iops or Throughput on an image.",
            r.device
        )));
    }
    Ok(root)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterImage {
    pub image: NewImage,
    /// The snapshot of the root device.
    pub snapshot_id: String,
    pub dry_run: bool,
}

impl Request for RegisterImage {
    const NAME: &'static str = "RegisterImage";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let name = take_name(p)?;
        let description = take_description(p)?;
        if p.take("ImageLocation").is_some() {
            return Err(unsupported(
                "Instance-store images (ImageLocation) are not supported: register an EBS \
                 snapshot as the root device.",
            ));
        }
        match p.take("Architecture").as_deref() {
            None | Some(ARCHITECTURE) => {}
            Some(a @ ("i386" | "arm64" | "x86_64_mac" | "arm64_mac")) => {
                return Err(unsupported(&format!(
                    "The architecture {a} is not supported: Cirrus images are x86_64."
                )))
            }
            Some(other) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({other}) for parameter architecture is invalid: it must be i386, \
                     x86_64, arm64, x86_64_mac or arm64_mac."
                )))
            }
        }
        match p.take("VirtualizationType").as_deref() {
            None | Some("hvm") => {}
            Some("paravirtual") => {
                return Err(unsupported(
                    "Paravirtual images are not supported: Cirrus images are hvm.",
                ))
            }
            Some(other) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({other}) for parameter virtualizationType is invalid: it must be \
                     hvm or paravirtual."
                )))
            }
        }
        if p.take("KernelId").is_some() || p.take("RamdiskId").is_some() {
            return Err(unsupported(
                "Kernel and ramdisk images are not supported: Cirrus images boot their own.",
            ));
        }
        if !p.take_structs("BillingProduct")?.is_empty() {
            return Err(unsupported("Billing products are not supported."));
        }
        // LIMITATION: the boot mode, TPM, UEFI data, IMDS and SR-IOV settings are accepted
        // and not recorded: every guest boots the same way.
        for ignored in [
            "BootMode",
            "TpmSupport",
            "UefiData",
            "ImdsSupport",
            "SriovNetSupport",
        ] {
            p.take(ignored);
        }
        let ena_support = p.take_bool("EnaSupport")?;
        let specs = take_tag_specs(p, &["image"])?;
        let named_root = p.take("RootDeviceName");
        let devices = take_block_devices(p)?;
        let root_device = match &named_root {
            Some(r) => r.clone(),
            // Without a root device name, the one mapping with a snapshot is the root.
            None => devices
                .iter()
                .find(|d| d.snapshot_id.is_some())
                .map_or_else(|| DEFAULT_ROOT_DEVICE.to_owned(), |d| d.device.clone()),
        };
        let root = root_mapping(devices, &root_device)?;
        let Some(snapshot_id) = root.as_ref().and_then(|r| r.snapshot_id.clone()) else {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                format!(
                    "The request must map the root device {root_device} to an EBS snapshot \
                     (BlockDeviceMapping.N.Ebs.SnapshotId)."
                ),
            ));
        };
        check_snapshot_id(&snapshot_id)?;
        Ok(Self {
            image: NewImage {
                name,
                description,
                root_device_name: Some(root_device),
                root_size_gib: root.as_ref().and_then(|r| r.size_gib),
                root_volume_type: root.and_then(|r| r.volume_type),
                ena_support,
                tags: tags_for(&specs, "image"),
                snapshot_tags: vec![],
            },
            snapshot_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn image_id_answer(action: &str, request_id: &str, image_id: &str) -> String {
    answer(action, request_id, |w| w.text_element("imageId", image_id))
}

pub async fn serve_register<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: RegisterImage,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let id = port
        .register_image(caller, &req.snapshot_id, &req.image, req.dry_run)
        .await?;
    Ok(image_id_answer(RegisterImage::NAME, request_id, &id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateImage {
    pub instance_id: String,
    pub image: NewImage,
    pub no_reboot: bool,
    pub dry_run: bool,
}

impl Request for CreateImage {
    const NAME: &'static str = "CreateImage";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let instance_id = p.take_required("InstanceId")?;
        check_instance_id(&instance_id)?;
        let name = take_name(p)?;
        let description = take_description(p)?;
        match p.take("SnapshotLocation").as_deref() {
            None | Some("regional") => {}
            Some(other) => {
                return Err(unsupported(&format!(
                    "Snapshot location '{other}' is not supported; Cirrus keeps snapshots in \
                     the region."
                )))
            }
        }
        let specs = take_tag_specs(p, &["image", "snapshot"])?;
        let devices = take_block_devices(p)?;
        // The instance's root device keeps its name; a mapping of it may grow it.
        let root = devices
            .iter()
            .find(|d| super::compute::ROOT_DEVICES.contains(&d.device.as_str()))
            .map(|d| d.device.clone())
            .unwrap_or_else(|| DEFAULT_ROOT_DEVICE.to_owned());
        let root = root_mapping(devices, &root)?;
        if root.as_ref().is_some_and(|r| r.snapshot_id.is_some()) {
            return Err(Ec2Error::invalid_value(
                "The root device of CreateImage is the instance's root volume; it takes no \
                 SnapshotId.",
            ));
        }
        Ok(Self {
            instance_id,
            image: NewImage {
                name,
                description,
                root_device_name: None,
                root_size_gib: root.as_ref().and_then(|r| r.size_gib),
                root_volume_type: root.and_then(|r| r.volume_type),
                ena_support: None,
                tags: tags_for(&specs, "image"),
                snapshot_tags: tags_for(&specs, "snapshot"),
            },
            no_reboot: p.take_bool("NoReboot")?.unwrap_or(false),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_create<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateImage,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let id = port
        .create_image(caller, &req.instance_id, &req.image, req.dry_run)
        .await?;
    Ok(image_id_answer(CreateImage::NAME, request_id, &id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyImage {
    pub source_image_id: String,
    pub source_region: String,
    pub image: NewImage,
    /// Copy the source's user tags to the new image.
    pub copy_tags: bool,
    pub client_token: Option<String>,
    pub dry_run: bool,
}

impl CopyImage {
    /// What a retry with the same client token must ask again, as one string.
    pub fn fingerprint(&self) -> String {
        let tags: Vec<String> = self
            .image
            .tags
            .iter()
            .map(|t| format!("{}={}", t.key, t.value))
            .collect();
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.source_image_id,
            self.source_region,
            self.image.name,
            self.image.description,
            self.copy_tags,
            tags.join("\n")
        )
    }
}

impl Request for CopyImage {
    const NAME: &'static str = "CopyImage";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let source_image_id = p.take_required("SourceImageId")?;
        check_image_id(&source_image_id)?;
        let source_region = p.take_required("SourceRegion")?;
        let name = take_name(p)?;
        let description = take_description(p)?;
        refuse_encryption(p)?;
        let client_token = p.take("ClientToken");
        if client_token
            .as_ref()
            .is_some_and(|t| t.len() > 64 || !t.is_ascii())
        {
            return Err(Ec2Error::invalid_value(
                "The client token must be at most 64 ASCII characters.",
            ));
        }
        // LIMITATION: the copy is made in this region and zone; the outpost, zone and
        // completion duration are accepted and have no effect.
        for ignored in [
            "DestinationOutpostArn",
            "DestinationAvailabilityZone",
            "DestinationAvailabilityZoneId",
            "SnapshotCopyCompletionDurationMinutes",
        ] {
            p.take(ignored);
        }
        let specs = take_tag_specs(p, &["image"])?;
        Ok(Self {
            source_image_id,
            source_region,
            image: NewImage {
                name,
                description,
                tags: tags_for(&specs, "image"),
                ..NewImage::default()
            },
            copy_tags: p.take_bool("CopyImageTags")?.unwrap_or(false),
            client_token,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_copy<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CopyImage,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let id = port.copy_image(caller, &req).await?;
    Ok(image_id_answer(CopyImage::NAME, request_id, &id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    const SNAP: &str = "snap-0123456789abcdef0";

    fn register(extra: &[(&str, &str)]) -> Result<RegisterImage, Ec2Error> {
        let mut pairs = vec![
            ("Name", "web-1.0"),
            ("RootDeviceName", "/dev/xvda"),
            ("BlockDeviceMapping.1.DeviceName", "/dev/xvda"),
            ("BlockDeviceMapping.1.Ebs.SnapshotId", SNAP),
        ];
        pairs.extend_from_slice(extra);
        decode(Params::from_pairs(&pairs))
    }

    #[test]
    fn register_reads_the_root_snapshot() {
        let r = register(&[
            ("BlockDeviceMapping.1.Ebs.VolumeSize", "10"),
            ("BlockDeviceMapping.1.Ebs.VolumeType", "standard"),
            ("EnaSupport", "false"),
            ("Architecture", "x86_64"),
            ("VirtualizationType", "hvm"),
        ])
        .unwrap();
        assert_eq!(r.snapshot_id, SNAP);
        assert_eq!(r.image.root_device_name.as_deref(), Some("/dev/xvda"));
        assert_eq!(r.image.root_size_gib, Some(10));
        assert_eq!(r.image.root_volume_type.as_deref(), Some("standard"));
        assert_eq!(r.image.ena_support, Some(false));
    }

    #[test]
    fn register_refuses_what_it_cannot_make() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("Architecture", "arm64")], "UnsupportedOperation"),
            (&[("Architecture", "sparc")], "InvalidParameterValue"),
            (
                &[("VirtualizationType", "paravirtual")],
                "UnsupportedOperation",
            ),
            (
                &[("ImageLocation", "b/manifest.xml")],
                "UnsupportedOperation",
            ),
            (
                &[
                    ("BlockDeviceMapping.2.DeviceName", "/dev/sdb"),
                    ("BlockDeviceMapping.2.Ebs.VolumeSize", "5"),
                ],
                "UnsupportedOperation",
            ),
            (&[("Name", "ab")], "InvalidAMIName.Malformed"),
        ];
        for (extra, code) in cases {
            let mut pairs: Vec<(&str, &str)> = vec![
                ("RootDeviceName", "/dev/xvda"),
                ("BlockDeviceMapping.1.DeviceName", "/dev/xvda"),
                ("BlockDeviceMapping.1.Ebs.SnapshotId", SNAP),
            ];
            if !extra.iter().any(|(k, _)| *k == "Name") {
                pairs.push(("Name", "good-name"));
            }
            pairs.extend_from_slice(extra);
            let e = decode::<RegisterImage>(Params::from_pairs(&pairs)).unwrap_err();
            assert_eq!(e.code.as_str(), *code, "{extra:?}");
        }
        let e = decode::<RegisterImage>(Params::from_pairs(&[("Name", "no-root")])).unwrap_err();
        assert_eq!(e.code, Code::MissingParameter);
    }

    #[test]
    fn names() {
        for good in ["abc", "web (1.0) [x] a/b-c_d@e'f", &"n".repeat(128)] {
            assert!(check_image_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "tab\there", "star*", &"n".repeat(129), "é-accent"] {
            assert_eq!(
                check_image_name(bad).unwrap_err().code.as_str(),
                "InvalidAMIName.Malformed",
                "{bad}"
            );
        }
    }

    #[test]
    fn copy_fingerprint_changes_with_the_request() {
        let parse = |name: &str| {
            decode::<CopyImage>(Params::from_pairs(&[
                ("SourceImageId", "ami-0123456789abcdef0"),
                ("SourceRegion", "us-east-1"),
                ("Name", name),
                ("ClientToken", "t-1"),
            ]))
            .unwrap()
        };
        assert_eq!(parse("copy-a").fingerprint(), parse("copy-a").fingerprint());
        assert_ne!(parse("copy-a").fingerprint(), parse("copy-b").fingerprint());
    }
}
