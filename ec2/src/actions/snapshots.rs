//! EBS snapshots: CreateSnapshot, DescribeSnapshots (`Owner.N`, `RestorableBy.N`,
//! `SnapshotId.N`, filters, paging), DeleteSnapshot, CopySnapshot, DescribeSnapshotAttribute and
//! ModifySnapshotAttribute (createVolumePermission, by account number or the group `all`).

use std::borrow::Cow;

use super::common::{returned_true, tags_for, take_permission_change, take_tag_specs, write_tags};
use super::volumes::check_volume_id;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::Tag;
use crate::xml;
use crate::{Caller, Ec2Port};

/// A snapshot, as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub snapshot_id: String,
    pub volume_id: String,
    /// pending, completed or error.
    pub state: String,
    pub state_message: String,
    pub progress: i64,
    pub start_ms: i64,
    pub owner_id: String,
    pub volume_size_gib: i64,
    pub description: String,
    /// Who else may make volumes from it: account numbers, and `all`.
    pub create_volume_permissions: Vec<String>,
    pub tags: Vec<Tag>,
}

/// What CreateSnapshot or CopySnapshot asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewSnapshot {
    pub description: String,
    pub tags: Vec<Tag>,
}

/// A createVolumePermission change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// `ResetSnapshotAttribute`-style: clear the list first.
    pub reset: bool,
}

/// `snap-` and 8 or 17 lowercase hex digits.
pub fn is_snapshot_id(id: &str) -> bool {
    id.strip_prefix("snap-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub fn check_snapshot_id(id: &str) -> Result<(), Ec2Error> {
    if is_snapshot_id(id) {
        Ok(())
    } else {
        Err(Ec2Error::new(
            Code::Malformed(Resource::Snapshot),
            format!("Invalid id: \"{id}\" (expecting \"snap-...\")"),
        ))
    }
}

pub fn snapshot_not_found(id: &str) -> Ec2Error {
    Ec2Error::new(
        Code::NotFound(Resource::Snapshot),
        format!("The snapshot '{id}' does not exist."),
    )
}

fn take_description(p: &mut Params) -> Result<String, Ec2Error> {
    let d = p.take("Description").unwrap_or_default();
    if d.chars().count() > 255 {
        return Err(Ec2Error::invalid_value(
            "The snapshot description is longer than 255 characters.",
        ));
    }
    Ok(d)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSnapshot {
    pub volume_id: String,
    pub snapshot: NewSnapshot,
    pub dry_run: bool,
}

impl Request for CreateSnapshot {
    const NAME: &'static str = "CreateSnapshot";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let volume_id = p.take_required("VolumeId")?;
        check_volume_id(&volume_id)?;
        match p.take("Location").as_deref() {
            None | Some("regional") => {}
            Some(other) => {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    format!("Snapshot location '{other}' is not supported; Cirrus keeps snapshots in the region."),
                ))
            }
        }
        // LIMITATION: Cirrus has no outposts; OutpostArn is accepted and has no effect.
        p.take("OutpostArn");
        let specs = take_tag_specs(p, &["snapshot"])?;
        Ok(Self {
            volume_id,
            snapshot: NewSnapshot {
                description: take_description(p)?,
                tags: tags_for(&specs, "snapshot"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn write_snapshot_fields(w: &mut xml::Writer, s: &Snapshot) {
    w.text_element("snapshotId", &s.snapshot_id);
    w.text_element("volumeId", &s.volume_id);
    w.text_element("status", &s.state);
    if !s.state_message.is_empty() {
        w.text_element("statusMessage", &s.state_message);
    }
    w.time_element("startTime", xml::timestamp_ms(s.start_ms));
    w.text_element("progress", &format!("{}%", s.progress));
    w.text_element("ownerId", &s.owner_id);
    w.int_element("volumeSize", s.volume_size_gib);
    w.text_element("description", &s.description);
    w.bool_element("encrypted", false);
    w.text_element("storageTier", "standard");
    write_tags(w, &s.tags);
}

pub async fn serve_create<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateSnapshot,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let s = port
        .create_snapshot(caller, &req.volume_id, &req.snapshot, req.dry_run)
        .await?;
    Ok(answer(CreateSnapshot::NAME, request_id, |w| {
        write_snapshot_fields(w, &s)
    }))
}

const FILTERS: FilterNames = FilterNames {
    names: &[
        "description",
        "encrypted",
        "owner-alias",
        "owner-id",
        "progress",
        "snapshot-id",
        "start-time",
        "status",
        "storage-tier",
        "volume-id",
        "volume-size",
    ],
    tags: true,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSnapshots {
    pub snapshot_ids: Vec<String>,
    pub owners: Vec<String>,
    pub restorable_by: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

impl Request for DescribeSnapshots {
    const NAME: &'static str = "DescribeSnapshots";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        let snapshot_ids = p.take_list("SnapshotId")?;
        for id in &snapshot_ids {
            check_snapshot_id(id)?;
        }
        let page = PageRequest {
            max_results: p
                .take_int("MaxResults", 5, i64::from(i32::MAX))?
                .map(|n| n.min(1000) as usize),
            next_token: p.take("NextToken"),
        };
        if page.max_results.is_some() && !snapshot_ids.is_empty() {
            return Err(Ec2Error::new(
                Code::InvalidParameterCombination,
                "The parameter snapshotSet cannot be used with the parameter maxResults",
            ));
        }
        Ok(Self {
            snapshot_ids,
            owners: p.take_list("Owner")?,
            restorable_by: p.take_list("RestorableBy")?,
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn values<'a>(s: &'a Snapshot, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&s.tags, name) {
        return t;
    }
    match name {
        "description" => vec![Cow::Borrowed(s.description.as_str())],
        "encrypted" => vec![Cow::Borrowed("false")],
        "owner-alias" => vec![],
        "owner-id" => vec![Cow::Borrowed(s.owner_id.as_str())],
        "progress" => vec![Cow::Owned(format!("{}%", s.progress))],
        "snapshot-id" => vec![Cow::Borrowed(s.snapshot_id.as_str())],
        "start-time" => vec![Cow::Owned(xml::timestamp(xml::timestamp_ms(s.start_ms)))],
        "status" => vec![Cow::Borrowed(s.state.as_str())],
        "storage-tier" => vec![Cow::Borrowed("standard")],
        "volume-id" => vec![Cow::Borrowed(s.volume_id.as_str())],
        "volume-size" => vec![Cow::Owned(s.volume_size_gib.to_string())],
        _ => vec![],
    }
}

/// Whether an owner given in `Owner.N` names the snapshot's owner (`self`, or the number;
/// Cirrus has no `amazon` snapshots).
fn owned_by(s: &Snapshot, owner: &str, caller: &Caller) -> bool {
    match owner {
        "self" => s.owner_id == caller.account_number,
        other => s.owner_id == other,
    }
}

/// Whether `who` of `RestorableBy.N` may make volumes from the snapshot.
fn restorable_by(s: &Snapshot, who: &str, caller: &Caller) -> bool {
    let number = if who == "self" {
        caller.account_number.as_str()
    } else {
        who
    };
    match number {
        "all" => s.create_volume_permissions.iter().any(|g| g == "all"),
        // Another account's snapshot is only listed when it is shared with the caller (its
        // grantee list is the owner's to read), so the caller may restore it.
        n if n == caller.account_number && s.owner_id != n => true,
        n => {
            s.owner_id == n
                || s.create_volume_permissions
                    .iter()
                    .any(|g| g == n || g == "all")
        }
    }
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeSnapshots,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.snapshots(caller).await?;
    if let Some(missing) = req
        .snapshot_ids
        .iter()
        .find(|id| !all.iter().any(|s| &s.snapshot_id == *id))
    {
        return Err(snapshot_not_found(missing));
    }
    let chosen: Vec<Snapshot> = all
        .into_iter()
        .filter(|s| req.snapshot_ids.is_empty() || req.snapshot_ids.contains(&s.snapshot_id))
        .filter(|s| req.owners.is_empty() || req.owners.iter().any(|o| owned_by(s, o, caller)))
        .filter(|s| {
            req.restorable_by.is_empty()
                || req
                    .restorable_by
                    .iter()
                    .any(|r| restorable_by(s, r, caller))
        })
        .collect();
    let chosen = filter::apply(&req.filters, chosen, values);
    let (page, next) = req.page.cut(DescribeSnapshots::NAME, chosen)?;
    Ok(answer(DescribeSnapshots::NAME, request_id, |w| {
        w.list("snapshotSet", &page, write_snapshot_fields);
        w.opt_text("nextToken", next.as_deref());
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSnapshot {
    pub snapshot_id: String,
    pub dry_run: bool,
}

impl Request for DeleteSnapshot {
    const NAME: &'static str = "DeleteSnapshot";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let snapshot_id = p.take_required("SnapshotId")?;
        check_snapshot_id(&snapshot_id)?;
        Ok(Self {
            snapshot_id,
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
    req: DeleteSnapshot,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_snapshot(caller, &req.snapshot_id, req.dry_run)
        .await?;
    Ok(returned_true(DeleteSnapshot::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySnapshot {
    pub source_region: String,
    pub source_snapshot_id: String,
    pub snapshot: NewSnapshot,
    pub dry_run: bool,
}

impl Request for CopySnapshot {
    const NAME: &'static str = "CopySnapshot";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let source_region = p.take_required("SourceRegion")?;
        let source_snapshot_id = p.take_required("SourceSnapshotId")?;
        check_snapshot_id(&source_snapshot_id)?;
        if p.take_bool("Encrypted")?.unwrap_or(false) || p.take("KmsKeyId").is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Encrypted copies are not supported: Cirrus snapshots are not encrypted.",
            ));
        }
        // LIMITATION: the copy is made at once; the destination region (this one), outpost,
        // zone, presigned URL and completion duration are accepted and have no effect.
        for ignored in [
            "DestinationRegion",
            "DestinationOutpostArn",
            "DestinationAvailabilityZone",
            "PresignedUrl",
            "CompletionDurationMinutes",
        ] {
            p.take(ignored);
        }
        let specs = take_tag_specs(p, &["snapshot"])?;
        Ok(Self {
            source_region,
            source_snapshot_id,
            snapshot: NewSnapshot {
                description: take_description(p)?,
                tags: tags_for(&specs, "snapshot"),
            },
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
    req: CopySnapshot,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let s = port
        .copy_snapshot(
            caller,
            &req.source_region,
            &req.source_snapshot_id,
            &req.snapshot,
            req.dry_run,
        )
        .await?;
    Ok(answer(CopySnapshot::NAME, request_id, |w| {
        w.text_element("snapshotId", &s.snapshot_id);
        write_tags(w, &s.tags);
    }))
}

/// The attributes DescribeSnapshotAttribute answers.
const ATTRIBUTES: [&str; 2] = ["createVolumePermission", "productCodes"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSnapshotAttribute {
    pub snapshot_id: String,
    pub attribute: String,
    pub dry_run: bool,
}

impl Request for DescribeSnapshotAttribute {
    const NAME: &'static str = "DescribeSnapshotAttribute";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let snapshot_id = p.take_required("SnapshotId")?;
        check_snapshot_id(&snapshot_id)?;
        let attribute = p.take_required("Attribute")?;
        if !ATTRIBUTES.contains(&attribute.as_str()) {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is invalid: it must be \
                 createVolumePermission or productCodes."
            )));
        }
        Ok(Self {
            snapshot_id,
            attribute,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// The caller's own snapshot by id (attributes are the owner's to read and change).
async fn own_snapshot<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    id: &str,
) -> Result<Snapshot, Ec2Error> {
    port.snapshots(caller)
        .await?
        .into_iter()
        .find(|s| s.snapshot_id == id && s.owner_id == caller.account_number)
        .ok_or_else(|| snapshot_not_found(id))
}

pub async fn serve_describe_attribute<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeSnapshotAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let s = own_snapshot(port, caller, &req.snapshot_id).await?;
    Ok(answer(DescribeSnapshotAttribute::NAME, request_id, |w| {
        w.text_element("snapshotId", &s.snapshot_id);
        if req.attribute == "createVolumePermission" {
            w.list(
                "createVolumePermission",
                &s.create_volume_permissions,
                |w, g| {
                    if g == "all" {
                        w.text_element("group", g);
                    } else {
                        w.text_element("userId", g);
                    }
                },
            );
        } else {
            w.empty("productCodes");
        }
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifySnapshotAttribute {
    pub snapshot_id: String,
    pub change: PermissionChange,
    pub dry_run: bool,
}

impl Request for ModifySnapshotAttribute {
    const NAME: &'static str = "ModifySnapshotAttribute";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let snapshot_id = p.take_required("SnapshotId")?;
        check_snapshot_id(&snapshot_id)?;
        if let Some(a) = p.take("Attribute") {
            if a != "createVolumePermission" {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({a}) for parameter attribute is invalid: only \
                     createVolumePermission can be modified."
                )));
            }
        }
        let change = take_permission_change(p, "CreateVolumePermission")?;
        if change.add.is_empty() && change.remove.is_empty() {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter CreateVolumePermission.",
            ));
        }
        Ok(Self {
            snapshot_id,
            change,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_modify_attribute<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifySnapshotAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    own_snapshot(port, caller, &req.snapshot_id).await?;
    port.change_snapshot_permissions(caller, &req.snapshot_id, &req.change, req.dry_run)
        .await?;
    Ok(returned_true(ModifySnapshotAttribute::NAME, request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn permissions_take_both_forms() {
        let r = decode::<ModifySnapshotAttribute>(Params::from_pairs(&[
            ("SnapshotId", "snap-0123456789abcdef0"),
            ("Attribute", "createVolumePermission"),
            ("CreateVolumePermission.Add.1.Group", "all"),
            ("CreateVolumePermission.Remove.1.UserId", "123456789012"),
        ]))
        .unwrap();
        assert_eq!(r.change.add, ["all"]);
        assert_eq!(r.change.remove, ["123456789012"]);
        let r = decode::<ModifySnapshotAttribute>(Params::from_pairs(&[
            ("SnapshotId", "snap-0123456789abcdef0"),
            ("OperationType", "add"),
            ("UserId.1", "123456789012"),
        ]))
        .unwrap();
        assert_eq!(r.change.add, ["123456789012"]);
        let e = decode::<ModifySnapshotAttribute>(Params::from_pairs(&[
            ("SnapshotId", "snap-0123456789abcdef0"),
            ("CreateVolumePermission.Add.1.Group", "friends"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterValue);
    }

    #[test]
    fn malformed_snapshot_ids_are_refused() {
        let e =
            decode::<DeleteSnapshot>(Params::from_pairs(&[("SnapshotId", "snap-1")])).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidSnapshotID.Malformed");
    }
}
