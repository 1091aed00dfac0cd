//! EBS volumes: CreateVolume, DescribeVolumes (filters, `VolumeId.N`, paging), AttachVolume,
//! DetachVolume, DeleteVolume, ModifyVolume, DescribeVolumesModifications and
//! DescribeVolumeStatus. Requests are parsed and checked here; the port decides what the core
//! allows and answers EC2's codes (`InvalidVolume.ZoneMismatch`, `VolumeInUse`, ...).

use std::borrow::Cow;

use super::common::{check_instance_id, returned_true, tags_for, take_tag_specs, write_tags};
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::{Tag, VolumeCursor};
use crate::xml;
use crate::{Caller, Ec2Port};

/// A volume, as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volume_id: String,
    pub size_gib: i64,
    pub snapshot_id: Option<String>,
    pub availability_zone: String,
    /// creating, available, in-use, deleting, deleted or error.
    pub state: String,
    pub created_ms: i64,
    pub volume_type: String,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub attachments: Vec<VolumeAttachment>,
    pub tags: Vec<Tag>,
}

/// One page of volumes, as the port answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumePage {
    /// The page's volumes, oldest first.
    pub volumes: Vec<Volume>,
    /// Where the next page starts, if one follows.
    pub next: Option<VolumeCursor>,
}

/// A volume's attachment to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeAttachment {
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
    /// attaching, attached, detaching or detached.
    pub state: String,
    pub attach_ms: i64,
    pub delete_on_termination: bool,
}

/// A volume's latest modification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeModification {
    pub volume_id: String,
    /// modifying, optimizing, completed or failed.
    pub state: String,
    pub target_size_gib: i64,
    pub target_type: String,
    pub target_iops: Option<i64>,
    pub target_throughput: Option<i64>,
    pub original_size_gib: i64,
    pub original_type: String,
    pub original_iops: Option<i64>,
    pub original_throughput: Option<i64>,
    pub progress: i64,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// What CreateVolume asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewVolume {
    pub availability_zone: String,
    pub size_gib: Option<i64>,
    pub snapshot_id: Option<String>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
}

/// What ModifyVolume asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeChange {
    pub volume_id: String,
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
}

/// `vol-` and 8 or 17 lowercase hex digits.
pub fn is_volume_id(id: &str) -> bool {
    id.strip_prefix("vol-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub fn check_volume_id(id: &str) -> Result<(), Ec2Error> {
    if is_volume_id(id) {
        Ok(())
    } else {
        Err(Ec2Error::new(
            Code::Malformed(Resource::Volume),
            format!("Invalid id: \"{id}\" (expecting \"vol-...\")"),
        ))
    }
}

pub fn volume_not_found(id: &str) -> Ec2Error {
    Ec2Error::new(
        Code::NotFound(Resource::Volume),
        format!("The volume '{id}' does not exist."),
    )
}

const VOLUME_TYPES: [&str; 7] = ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"];

fn take_volume_type(p: &mut Params) -> Result<Option<String>, Ec2Error> {
    match p.take("VolumeType") {
        None => Ok(None),
        Some(t) if VOLUME_TYPES.contains(&t.as_str()) => Ok(Some(t)),
        Some(t) => Err(Ec2Error::invalid_value(format!(
            "Value ({t}) for parameter volumeType is invalid: it must be one of {}.",
            VOLUME_TYPES.join(", ")
        ))),
    }
}

fn refuse_true(p: &mut Params, name: &str, why: &str) -> Result<(), Ec2Error> {
    if p.take_bool(name)?.unwrap_or(false) {
        return Err(Ec2Error::new(
            Code::UnsupportedOperation,
            format!("{name} is not supported: {why}."),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateVolume {
    pub volume: NewVolume,
    pub dry_run: bool,
}

impl Request for CreateVolume {
    const NAME: &'static str = "CreateVolume";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let zone = p.take("AvailabilityZone");
        let zone_id = p.take("AvailabilityZoneId");
        let availability_zone = match (zone, zone_id) {
            (Some(z), None) | (None, Some(z)) => z,
            (Some(_), Some(_)) => {
                return Err(Ec2Error::new(
                    Code::InvalidParameterCombination,
                    "The parameters AvailabilityZone and AvailabilityZoneId cannot be used \
                     together.",
                ))
            }
            (None, None) => {
                return Err(Ec2Error::new(
                    Code::MissingParameter,
                    "The request must contain the parameter AvailabilityZone.",
                ))
            }
        };
        let size_gib = p.take_int("Size", 1, 65536)?;
        let snapshot_id = p.take("SnapshotId");
        if size_gib.is_none() && snapshot_id.is_none() {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter size or snapshotId.",
            ));
        }
        if let Some(s) = &snapshot_id {
            super::snapshots::check_snapshot_id(s)?;
        }
        refuse_true(p, "Encrypted", "Cirrus volumes are not encrypted")?;
        refuse_true(
            p,
            "MultiAttachEnabled",
            "a Cirrus volume attaches to one instance",
        )?;
        if p.take("KmsKeyId").is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "KmsKeyId is not supported: Cirrus volumes are not encrypted.",
            ));
        }
        for ignored in ["OutpostArn", "Operator", "VolumeInitializationRate"] {
            // LIMITATION: Cirrus has no outposts, operators or initialization rates; the
            // parameters are accepted and have no effect.
            p.take(ignored);
        }
        let specs = take_tag_specs(p, &["volume"])?;
        let volume = NewVolume {
            availability_zone,
            size_gib,
            snapshot_id,
            volume_type: take_volume_type(p)?,
            iops: p.take_int("Iops", 1, i64::from(i32::MAX))?,
            throughput: p.take_int("Throughput", 1, i64::from(i32::MAX))?,
            client_token: p.take("ClientToken"),
            tags: tags_for(&specs, "volume"),
        };
        Ok(Self {
            volume,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// The fields of a volume, as CreateVolume's answer and each `volumeSet` item hold them.
fn write_volume_fields(w: &mut xml::Writer, v: &Volume) {
    w.text_element("volumeId", &v.volume_id);
    w.int_element("size", v.size_gib);
    w.text_element("snapshotId", v.snapshot_id.as_deref().unwrap_or(""));
    w.text_element("availabilityZone", &v.availability_zone);
    w.text_element("status", &v.state);
    w.time_element("createTime", xml::timestamp_ms(v.created_ms));
}

fn write_volume_tail(w: &mut xml::Writer, v: &Volume) {
    write_tags(w, &v.tags);
    w.text_element("volumeType", &v.volume_type);
    if let Some(iops) = v.iops {
        w.int_element("iops", iops);
    }
    w.bool_element("encrypted", false);
    w.bool_element("multiAttachEnabled", false);
    if let Some(t) = v.throughput {
        w.int_element("throughput", t);
    }
}

pub fn write_attachment(w: &mut xml::Writer, a: &VolumeAttachment) {
    w.text_element("volumeId", &a.volume_id);
    w.text_element("instanceId", &a.instance_id);
    w.text_element("device", &a.device);
    w.text_element("status", &a.state);
    w.time_element("attachTime", xml::timestamp_ms(a.attach_ms));
    w.bool_element("deleteOnTermination", a.delete_on_termination);
}

fn write_volume(w: &mut xml::Writer, v: &Volume) {
    write_volume_fields(w, v);
    w.list("attachmentSet", &v.attachments, write_attachment);
    write_volume_tail(w, v);
}

pub async fn serve_create<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateVolume,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let v = port.create_volume(caller, &req.volume, req.dry_run).await?;
    Ok(answer(CreateVolume::NAME, request_id, |w| {
        write_volume_fields(w, &v);
        write_volume_tail(w, &v);
    }))
}

const FILTERS: FilterNames = FilterNames {
    names: &[
        "attachment.attach-time",
        "attachment.delete-on-termination",
        "attachment.device",
        "attachment.instance-id",
        "attachment.status",
        "availability-zone",
        "create-time",
        "encrypted",
        "fast-restored",
        "multi-attach-enabled",
        "size",
        "snapshot-id",
        "status",
        "volume-id",
        "volume-type",
    ],
    tags: true,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVolumes {
    pub volume_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

fn take_volume_ids(p: &mut Params) -> Result<Vec<String>, Ec2Error> {
    let ids = p.take_list("VolumeId")?;
    for id in &ids {
        check_volume_id(id)?;
    }
    Ok(ids)
}

fn take_page(p: &mut Params, ids: &[String], max: i64) -> Result<PageRequest, Ec2Error> {
    let page = PageRequest {
        // Larger values are served as the largest page, as EC2 does.
        max_results: p
            .take_int("MaxResults", 5, i64::from(i32::MAX))?
            .map(|n| n.min(max) as usize),
        next_token: p.take("NextToken"),
    };
    if page.max_results.is_some() && !ids.is_empty() {
        return Err(Ec2Error::new(
            Code::InvalidParameterCombination,
            "The parameter volumeSet cannot be used with the parameter maxResults",
        ));
    }
    Ok(page)
}

impl Request for DescribeVolumes {
    const NAME: &'static str = "DescribeVolumes";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        let volume_ids = take_volume_ids(p)?;
        let _include_managed = p.take_bool("IncludeManagedResources")?;
        let page = take_page(p, &volume_ids, 500)?;
        Ok(Self {
            volume_ids,
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn values<'a>(v: &'a Volume, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&v.tags, name) {
        return t;
    }
    let each = |f: fn(&'a VolumeAttachment) -> Cow<'a, str>| -> Vec<Cow<'a, str>> {
        v.attachments.iter().map(f).collect()
    };
    match name {
        "attachment.attach-time" => {
            each(|a| Cow::Owned(xml::timestamp(xml::timestamp_ms(a.attach_ms))))
        }
        "attachment.delete-on-termination" => each(|a| {
            Cow::Borrowed(if a.delete_on_termination {
                "true"
            } else {
                "false"
            })
        }),
        "attachment.device" => each(|a| Cow::Borrowed(a.device.as_str())),
        "attachment.instance-id" => each(|a| Cow::Borrowed(a.instance_id.as_str())),
        "attachment.status" => each(|a| Cow::Borrowed(a.state.as_str())),
        "availability-zone" => vec![Cow::Borrowed(v.availability_zone.as_str())],
        "create-time" => vec![Cow::Owned(xml::timestamp(xml::timestamp_ms(v.created_ms)))],
        "encrypted" | "fast-restored" | "multi-attach-enabled" => vec![Cow::Borrowed("false")],
        "size" => vec![Cow::Owned(v.size_gib.to_string())],
        "snapshot-id" => vec![Cow::Borrowed(v.snapshot_id.as_deref().unwrap_or(""))],
        "status" => vec![Cow::Borrowed(v.state.as_str())],
        "volume-id" => vec![Cow::Borrowed(v.volume_id.as_str())],
        "volume-type" => vec![Cow::Borrowed(v.volume_type.as_str())],
        _ => vec![],
    }
}

/// The volumes named (each must exist) that pass the filters, in the port's order.
fn select(all: Vec<Volume>, ids: &[String], filters: &[Filter]) -> Result<Vec<Volume>, Ec2Error> {
    if let Some(missing) = ids
        .iter()
        .find(|id| !all.iter().any(|v| &v.volume_id == *id))
    {
        return Err(volume_not_found(missing));
    }
    let chosen: Vec<Volume> = all
        .into_iter()
        .filter(|v| ids.is_empty() || ids.contains(&v.volume_id))
        .collect();
    Ok(filter::apply(filters, chosen, values))
}

pub fn render_describe(volumes: &[Volume], next: Option<&str>, request_id: &str) -> String {
    answer(DescribeVolumes::NAME, request_id, |w| {
        w.list("volumeSet", volumes, write_volume);
        w.opt_text("nextToken", next);
    })
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeVolumes,
    request_id: &str,
) -> Result<String, Ec2Error> {
    // Without ids or filters the port cuts the page in its query and reads only that page;
    // otherwise the door picks and filters the account's volumes and pages what remains. A
    // token on that path is a cursor: the other path makes tokens only for filtered listings.
    let continued = req
        .page
        .next_token
        .as_deref()
        .is_some_and(|t| !t.is_empty());
    let by_cursor = req.volume_ids.is_empty()
        && req.filters.is_empty()
        && (req.page.max_results.is_some() || continued);
    if by_cursor {
        let after = match req.page.next_token.as_deref() {
            Some(t) if !t.is_empty() => Some(open_cursor(t)?),
            _ => None,
        };
        let limit = req.page.max_results.unwrap_or(usize::MAX);
        let page = port.volume_page(caller, after.as_ref(), limit).await?;
        let next = page
            .next
            .map(|c| crate::page::seal(CURSOR_TOKEN, &c.to_bytes()));
        return Ok(render_describe(&page.volumes, next.as_deref(), request_id));
    }
    // LIMITATION: a filtered or id-named listing still reads every volume of the account and
    // pages in memory (filters are matched here, on the door's view), so its pages cost what
    // the whole listing costs.
    let all = port.volumes(caller).await?;
    let chosen = select(all, &req.volume_ids, &req.filters)?;
    let (page, next) = req.page.cut(DescribeVolumes::NAME, chosen)?;
    Ok(render_describe(&page, next.as_deref(), request_id))
}

/// What a cursor token is sealed for, apart from the offset tokens of filtered listings.
const CURSOR_TOKEN: &str = "DescribeVolumes/cursor";

fn open_cursor(token: &str) -> Result<VolumeCursor, Ec2Error> {
    let raw = crate::page::open(CURSOR_TOKEN, token)?;
    VolumeCursor::from_bytes(&raw).ok_or_else(|| {
        Ec2Error::internal("a sealed DescribeVolumes cursor did not parse".to_owned())
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachVolume {
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
    pub dry_run: bool,
}

impl Request for AttachVolume {
    const NAME: &'static str = "AttachVolume";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let device = p.take_required("Device")?;
        let instance_id = p.take_required("InstanceId")?;
        check_instance_id(&instance_id)?;
        let volume_id = p.take_required("VolumeId")?;
        check_volume_id(&volume_id)?;
        if p.take("EbsCardIndex").is_some_and(|i| i != "0") {
            return Err(Ec2Error::invalid_value(
                "Cirrus instances have one EBS card: EbsCardIndex must be 0.",
            ));
        }
        Ok(Self {
            volume_id,
            instance_id,
            device,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn render_attachment(action: &str, a: &VolumeAttachment, request_id: &str) -> String {
    answer(action, request_id, |w| {
        w.time_element("attachTime", xml::timestamp_ms(a.attach_ms));
        w.text_element("device", &a.device);
        w.text_element("instanceId", &a.instance_id);
        w.text_element("status", &a.state);
        w.text_element("volumeId", &a.volume_id);
        w.bool_element("deleteOnTermination", a.delete_on_termination);
    })
}

pub async fn serve_attach<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: AttachVolume,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let a = port
        .attach_volume(
            caller,
            &req.volume_id,
            &req.instance_id,
            &req.device,
            req.dry_run,
        )
        .await?;
    Ok(render_attachment(AttachVolume::NAME, &a, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachVolume {
    pub volume_id: String,
    pub instance_id: Option<String>,
    pub device: Option<String>,
    pub force: bool,
    pub dry_run: bool,
}

impl Request for DetachVolume {
    const NAME: &'static str = "DetachVolume";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let volume_id = p.take_required("VolumeId")?;
        check_volume_id(&volume_id)?;
        let instance_id = p.take("InstanceId");
        if let Some(i) = &instance_id {
            check_instance_id(i)?;
        }
        Ok(Self {
            volume_id,
            instance_id,
            device: p.take("Device"),
            force: p.take_bool("Force")?.unwrap_or(false),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_detach<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DetachVolume,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let a = port
        .detach_volume(
            caller,
            &req.volume_id,
            req.instance_id.as_deref(),
            req.device.as_deref(),
            req.force,
            req.dry_run,
        )
        .await?;
    Ok(render_attachment(DetachVolume::NAME, &a, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteVolume {
    pub volume_id: String,
    pub dry_run: bool,
}

impl Request for DeleteVolume {
    const NAME: &'static str = "DeleteVolume";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let volume_id = p.take_required("VolumeId")?;
        check_volume_id(&volume_id)?;
        Ok(Self {
            volume_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_delete<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DeleteVolume,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_volume(caller, &req.volume_id, req.dry_run)
        .await?;
    Ok(returned_true(DeleteVolume::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyVolume {
    pub change: VolumeChange,
    pub dry_run: bool,
}

impl Request for ModifyVolume {
    const NAME: &'static str = "ModifyVolume";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let volume_id = p.take_required("VolumeId")?;
        check_volume_id(&volume_id)?;
        refuse_true(
            p,
            "MultiAttachEnabled",
            "a Cirrus volume attaches to one instance",
        )?;
        let change = VolumeChange {
            volume_id,
            size_gib: p.take_int("Size", 1, 65536)?,
            volume_type: take_volume_type(p)?,
            iops: p.take_int("Iops", 1, i64::from(i32::MAX))?,
            throughput: p.take_int("Throughput", 1, i64::from(i32::MAX))?,
        };
        if change.size_gib.is_none()
            && change.volume_type.is_none()
            && change.iops.is_none()
            && change.throughput.is_none()
        {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain at least one of the parameters Size, VolumeType, \
                 Iops or Throughput.",
            ));
        }
        Ok(Self {
            change,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn write_modification(w: &mut xml::Writer, m: &VolumeModification) {
    w.text_element("volumeId", &m.volume_id);
    w.text_element("modificationState", &m.state);
    w.int_element("targetSize", m.target_size_gib);
    if let Some(i) = m.target_iops {
        w.int_element("targetIops", i);
    }
    w.text_element("targetVolumeType", &m.target_type);
    if let Some(t) = m.target_throughput {
        w.int_element("targetThroughput", t);
    }
    w.bool_element("targetMultiAttachEnabled", false);
    w.int_element("originalSize", m.original_size_gib);
    if let Some(i) = m.original_iops {
        w.int_element("originalIops", i);
    }
    w.text_element("originalVolumeType", &m.original_type);
    if let Some(t) = m.original_throughput {
        w.int_element("originalThroughput", t);
    }
    w.bool_element("originalMultiAttachEnabled", false);
    w.int_element("progress", m.progress);
    w.time_element("startTime", xml::timestamp_ms(m.start_ms));
    if let Some(end) = m.end_ms {
        w.time_element("endTime", xml::timestamp_ms(end));
    }
}

pub async fn serve_modify<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifyVolume,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let m = port.modify_volume(caller, &req.change, req.dry_run).await?;
    Ok(answer(ModifyVolume::NAME, request_id, |w| {
        w.open("volumeModification");
        write_modification(w, &m);
        w.close("volumeModification");
    }))
}

const MODIFICATION_FILTERS: FilterNames = FilterNames {
    names: &[
        "modification-state",
        "original-iops",
        "original-size",
        "original-volume-type",
        "start-time",
        "target-iops",
        "target-size",
        "target-volume-type",
        "volume-id",
    ],
    tags: false,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVolumesModifications {
    pub volume_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

impl Request for DescribeVolumesModifications {
    const NAME: &'static str = "DescribeVolumesModifications";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        MODIFICATION_FILTERS.check(&filters)?;
        let volume_ids = take_volume_ids(p)?;
        let page = PageRequest {
            max_results: p
                .take_int("MaxResults", 1, i64::from(i32::MAX))?
                .map(|n| n.min(500) as usize),
            next_token: p.take("NextToken"),
        };
        Ok(Self {
            volume_ids,
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn modification_values<'a>(m: &'a VolumeModification, name: &str) -> Vec<Cow<'a, str>> {
    let opt = |n: Option<i64>| n.map(|n| Cow::Owned(n.to_string())).into_iter().collect();
    match name {
        "modification-state" => vec![Cow::Borrowed(m.state.as_str())],
        "original-iops" => opt(m.original_iops),
        "original-size" => vec![Cow::Owned(m.original_size_gib.to_string())],
        "original-volume-type" => vec![Cow::Borrowed(m.original_type.as_str())],
        "start-time" => vec![Cow::Owned(xml::timestamp(xml::timestamp_ms(m.start_ms)))],
        "target-iops" => opt(m.target_iops),
        "target-size" => vec![Cow::Owned(m.target_size_gib.to_string())],
        "target-volume-type" => vec![Cow::Borrowed(m.target_type.as_str())],
        "volume-id" => vec![Cow::Borrowed(m.volume_id.as_str())],
        _ => vec![],
    }
}

pub async fn serve_modifications<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeVolumesModifications,
    request_id: &str,
) -> Result<String, Ec2Error> {
    if !req.volume_ids.is_empty() {
        let volumes = port.volumes(caller).await?;
        select(volumes, &req.volume_ids, &[])?;
    }
    let all = port.volume_modifications(caller).await?;
    let chosen: Vec<VolumeModification> = all
        .into_iter()
        .filter(|m| req.volume_ids.is_empty() || req.volume_ids.contains(&m.volume_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, modification_values);
    let (page, next) = req.page.cut(DescribeVolumesModifications::NAME, chosen)?;
    Ok(answer(
        DescribeVolumesModifications::NAME,
        request_id,
        |w| {
            w.list("volumeModificationSet", &page, write_modification);
            w.opt_text("nextToken", next.as_deref());
        },
    ))
}

const STATUS_FILTERS: FilterNames = FilterNames {
    names: &[
        "action.code",
        "action.description",
        "action.event-id",
        "availability-zone",
        "event.description",
        "event.event-id",
        "event.event-type",
        "event.not-after",
        "event.not-before",
        "volume-id",
        "volume-status.details-name",
        "volume-status.details-status",
        "volume-status.status",
    ],
    tags: false,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVolumeStatus {
    pub volume_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

impl Request for DescribeVolumeStatus {
    const NAME: &'static str = "DescribeVolumeStatus";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        STATUS_FILTERS.check(&filters)?;
        let volume_ids = take_volume_ids(p)?;
        let _include_managed = p.take_bool("IncludeManagedResources")?;
        let page = PageRequest {
            max_results: p
                .take_int("MaxResults", 5, i64::from(i32::MAX))?
                .map(|n| n.min(1000) as usize),
            next_token: p.take("NextToken"),
        };
        Ok(Self {
            volume_ids,
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// A volume's health: `ok` once it is usable, `insufficient-data` while it is being made.
fn status_of(v: &Volume) -> &'static str {
    match v.state.as_str() {
        "available" | "in-use" => "ok",
        "error" => "impaired",
        _ => "insufficient-data",
    }
}

fn status_values<'a>(v: &'a Volume, name: &str) -> Vec<Cow<'a, str>> {
    match name {
        "availability-zone" => vec![Cow::Borrowed(v.availability_zone.as_str())],
        "volume-id" => vec![Cow::Borrowed(v.volume_id.as_str())],
        "volume-status.status" => vec![Cow::Borrowed(status_of(v))],
        "volume-status.details-name" => {
            vec![Cow::Borrowed("io-enabled"), Cow::Borrowed("io-performance")]
        }
        "volume-status.details-status" => {
            vec![Cow::Borrowed(if status_of(v) == "ok" {
                "passed"
            } else {
                "failed"
            })]
        }
        // Cirrus schedules no volume events or actions.
        _ => vec![],
    }
}

pub async fn serve_status<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeVolumeStatus,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.volumes(caller).await?;
    let chosen = select(all, &req.volume_ids, &[])?;
    let chosen = filter::apply(&req.filters, chosen, status_values);
    let (page, next) = req.page.cut(DescribeVolumeStatus::NAME, chosen)?;
    Ok(answer(DescribeVolumeStatus::NAME, request_id, |w| {
        w.list("volumeStatusSet", &page, |w, v| {
            w.text_element("volumeId", &v.volume_id);
            w.text_element("availabilityZone", &v.availability_zone);
            w.open("volumeStatus");
            let status = status_of(v);
            w.text_element("status", status);
            w.open("details");
            w.open("item");
            w.text_element("name", "io-enabled");
            w.text_element("status", if status == "ok" { "passed" } else { "failed" });
            w.close("item");
            w.open("item");
            w.text_element("name", "io-performance");
            w.text_element("status", "not-applicable");
            w.close("item");
            w.close("details");
            w.close("volumeStatus");
            w.empty("eventsSet");
            w.empty("actionsSet");
        });
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn create_needs_a_zone_and_a_size_or_snapshot() {
        let e = decode::<CreateVolume>(Params::from_pairs(&[("Size", "8")])).unwrap_err();
        assert_eq!(e.code, Code::MissingParameter);
        let e =
            decode::<CreateVolume>(Params::from_pairs(&[("AvailabilityZone", "z")])).unwrap_err();
        assert_eq!(e.code, Code::MissingParameter);
        let r = decode::<CreateVolume>(Params::from_pairs(&[
            ("AvailabilityZone", "us-east-1a"),
            ("Size", "8"),
            ("VolumeType", "gp3"),
            ("TagSpecification.1.ResourceType", "volume"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "data"),
        ]))
        .unwrap();
        assert_eq!(r.volume.size_gib, Some(8));
        assert_eq!(r.volume.tags.len(), 1);
        let e = decode::<CreateVolume>(Params::from_pairs(&[
            ("AvailabilityZone", "us-east-1a"),
            ("Size", "8"),
            ("VolumeType", "gp9"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterValue);
    }

    #[test]
    fn cursor_tokens_carry_their_position_and_nothing_else_opens() {
        let at = VolumeCursor {
            created_ms: 1_700_000_000_123,
            key: "6f1c2a9e-0000-4000-8000-000000000001".into(),
        };
        let token = crate::page::seal(CURSOR_TOKEN, &at.to_bytes());
        assert_eq!(open_cursor(&token).unwrap(), at);
        // An offset token of a filtered listing, or another action's cursor, is refused.
        let offset = PageRequest {
            max_results: Some(5),
            next_token: None,
        }
        .cut(DescribeVolumes::NAME, vec![0; 10])
        .unwrap()
        .1
        .unwrap();
        let reservations = crate::page::seal("DescribeInstances/reservations", &at.to_bytes());
        for foreign in [offset, reservations, "forged".into()] {
            assert_eq!(
                open_cursor(&foreign).unwrap_err().code,
                Code::InvalidParameterValue
            );
        }
        assert_eq!(VolumeCursor::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn ids_are_checked_before_anything_runs() {
        let e = decode::<DeleteVolume>(Params::from_pairs(&[("VolumeId", "vol-xyz")])).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidVolumeID.Malformed");
        let e = decode::<DescribeVolumes>(Params::from_pairs(&[
            ("VolumeId.1", "vol-0123456789abcdef0"),
            ("MaxResults", "5"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterCombination);
    }

    #[test]
    fn attachment_filters_match_each_attachment() {
        let v = Volume {
            volume_id: "vol-0123456789abcdef0".into(),
            size_gib: 8,
            snapshot_id: None,
            availability_zone: "us-east-1a".into(),
            state: "in-use".into(),
            created_ms: 0,
            volume_type: "gp2".into(),
            iops: Some(100),
            throughput: None,
            attachments: vec![VolumeAttachment {
                volume_id: "vol-0123456789abcdef0".into(),
                instance_id: "i-0123456789abcdef0".into(),
                device: "/dev/sdf".into(),
                state: "attached".into(),
                attach_ms: 0,
                delete_on_termination: false,
            }],
            tags: vec![],
        };
        let f = |name: &str, value: &str| vec![Filter::new(name.into(), vec![value.into()])];
        let all = vec![v];
        assert_eq!(
            select(all.clone(), &[], &f("attachment.device", "/dev/sdf"))
                .unwrap()
                .len(),
            1
        );
        assert!(
            select(all.clone(), &[], &f("attachment.status", "detached"))
                .unwrap()
                .is_empty()
        );
        let e = select(all, &["vol-00000000000000000".into()], &[]).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidVolume.NotFound");
    }
}
