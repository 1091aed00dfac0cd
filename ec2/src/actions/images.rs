//! DescribeImages: the templates the caller may launch (its own, every public one and those
//! shared with it), as AMIs. `Owner.N` (account numbers, `self`, the AWS aliases),
//! `ExecutableBy.N`, `ImageId.N`, filters and pagination (MaxResults 5..1000, not together with
//! ImageId.N).
//!
//! `ExecutableBy` reads `all` as "public", `self` (or one's own number) as "every image I may
//! launch", and another account's number as "public, or one of mine shared with it" (who else
//! may launch someone else's image is its owner's to know). No image has an owner alias
//! (`amazon`, ...), so an alias owner matches nothing.

use std::borrow::Cow;

use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::Image;
use crate::xml;
use crate::{Caller, Ec2Port};

pub(crate) const ARCHITECTURE: &str = "x86_64";
const HYPERVISOR: &str = "xen";
const OWNER_ALIASES: &[&str] = &["amazon", "aws-backup-vault", "aws-marketplace"];

const FILTERS: FilterNames = FilterNames {
    names: &[
        "architecture",
        "block-device-mapping.delete-on-termination",
        "block-device-mapping.device-name",
        "block-device-mapping.encrypted",
        "block-device-mapping.snapshot-id",
        "block-device-mapping.volume-size",
        "block-device-mapping.volume-type",
        "creation-date",
        "description",
        "ena-support",
        "free-tier-eligible",
        "hypervisor",
        "image-id",
        "image-type",
        "is-public",
        "kernel-id",
        "name",
        "owner-alias",
        "owner-id",
        "platform",
        "product-code",
        "ramdisk-id",
        "root-device-name",
        "root-device-type",
        "state",
        "virtualization-type",
    ],
    tags: true,
};

/// Who owns the images asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The caller's own account.
    Me,
    /// An account number.
    Account(String),
    /// An AWS owner alias.
    Alias(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeImages {
    pub image_ids: Vec<String>,
    pub owners: Vec<Owner>,
    pub executable_by: Vec<Owner>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

/// `ami-` and 8 or 17 lowercase hex digits.
pub fn is_image_id(id: &str) -> bool {
    id.strip_prefix("ami-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn parse_owner(value: String, param: &str, aliases_ok: bool) -> Result<Owner, Ec2Error> {
    if value == "self" {
        return Ok(Owner::Me);
    }
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Owner::Account(value));
    }
    if aliases_ok && OWNER_ALIASES.contains(&value.as_str()) {
        return Ok(Owner::Alias(value));
    }
    if !aliases_ok && value == "all" {
        return Ok(Owner::Alias(value));
    }
    let choices = if aliases_ok {
        "a 12-digit account number, self, amazon, aws-backup-vault or aws-marketplace"
    } else {
        "a 12-digit account number, self or all"
    };
    Err(Ec2Error::invalid_value(format!(
        "The {param} '{value}' is not valid; give {choices}."
    )))
}

impl Request for DescribeImages {
    const NAME: &'static str = "DescribeImages";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        let image_ids = p.take_list("ImageId")?;
        if let Some(bad) = image_ids.iter().find(|id| !is_image_id(id)) {
            return Err(Ec2Error::new(
                Code::Malformed(Resource::Image),
                format!("Invalid id: \"{bad}\" (expecting \"ami-...\")"),
            ));
        }
        let owners = p
            .take_list("Owner")?
            .into_iter()
            .map(|o| parse_owner(o, "owner", true))
            .collect::<Result<Vec<_>, _>>()?;
        let executable_by = p
            .take_list("ExecutableBy")?
            .into_iter()
            .map(|o| parse_owner(o, "ExecutableBy value", false))
            .collect::<Result<Vec<_>, _>>()?;
        // Nothing is deprecated or disabled yet, so both flags change nothing.
        let _include_deprecated = p.take_bool("IncludeDeprecated")?;
        let _include_disabled = p.take_bool("IncludeDisabled")?;
        let page = PageRequest {
            max_results: p.take_int("MaxResults", 5, 1000)?.map(|n| n as usize),
            next_token: p.take("NextToken"),
        };
        if page.max_results.is_some() && !image_ids.is_empty() {
            return Err(Ec2Error::new(
                Code::InvalidParameterCombination,
                "The parameter imageIdsSet cannot be used with the parameter maxResults.",
            ));
        }
        Ok(Self {
            image_ids,
            owners,
            executable_by,
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn image_location(i: &Image) -> String {
    format!("{}/{}", i.owner_id, i.name)
}

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn values<'a>(i: &'a Image, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(tags) = filter::tag_values(&i.tags, name) {
        return tags;
    }
    let one = |s: &'a str| vec![Cow::Borrowed(s)];
    match name {
        "architecture" => one(ARCHITECTURE),
        "block-device-mapping.delete-on-termination" => one("true"),
        "ena-support" => one(flag(i.ena_support)),
        "block-device-mapping.snapshot-id" => i.snapshot_id.as_deref().map_or(vec![], one),
        "block-device-mapping.device-name" | "root-device-name" => one(&i.root_device_name),
        "block-device-mapping.encrypted" | "free-tier-eligible" => one("false"),
        "block-device-mapping.volume-size" => vec![Cow::Owned(i.root_size_gib.to_string())],
        "block-device-mapping.volume-type" => one(&i.root_volume_type),
        "creation-date" => vec![Cow::Owned(xml::timestamp(xml::timestamp_ms(i.created_ms)))],
        "description" => one(&i.description),
        "hypervisor" => one(HYPERVISOR),
        "image-id" => one(&i.image_id),
        "image-type" => one("machine"),
        "is-public" => one(flag(i.is_public)),
        "name" => one(&i.name),
        "owner-id" => one(&i.owner_id),
        "root-device-type" => one("ebs"),
        "state" => one(i.state.as_str()),
        "virtualization-type" => one("hvm"),
        // No kernels, ramdisks, product codes, aliases or Windows images exist.
        _ => vec![],
    }
}

fn owned_by(i: &Image, owner: &Owner, caller: &Caller) -> bool {
    match owner {
        Owner::Me => i.owner_id == caller.account_number,
        Owner::Account(n) => &i.owner_id == n,
        Owner::Alias(_) => false,
    }
}

fn executable_by(i: &Image, who: &Owner, caller: &Caller) -> bool {
    match who {
        Owner::Alias(_) => i.is_public,
        Owner::Me => true,
        Owner::Account(n) if *n == caller.account_number => true,
        Owner::Account(n) => i.is_public || i.launch_permissions.contains(n),
    }
}

/// Picks, filters and pages the images visible to the caller.
pub fn select(
    req: &DescribeImages,
    caller: &Caller,
    visible: Vec<Image>,
) -> Result<(Vec<Image>, Option<String>), Ec2Error> {
    let missing: Vec<&str> = req
        .image_ids
        .iter()
        .filter(|id| !visible.iter().any(|i| &i.image_id == *id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Ec2Error::new(
            Code::NotFound(Resource::Image),
            format!("The image id '[{}]' does not exist", missing.join(", ")),
        ));
    }
    let chosen: Vec<Image> = visible
        .into_iter()
        .filter(|i| req.image_ids.is_empty() || req.image_ids.contains(&i.image_id))
        .filter(|i| req.owners.is_empty() || req.owners.iter().any(|o| owned_by(i, o, caller)))
        .filter(|i| {
            req.executable_by.is_empty()
                || req
                    .executable_by
                    .iter()
                    .any(|w| executable_by(i, w, caller))
        })
        .collect();
    let filtered = filter::apply(&req.filters, chosen, values);
    req.page.cut(DescribeImages::NAME, filtered)
}

/// Writes an image's `blockDeviceMapping`: its root volume.
pub(crate) fn write_block_devices(w: &mut xml::Writer, i: &Image) {
    w.list("blockDeviceMapping", std::slice::from_ref(i), |w, i| {
        w.text_element("deviceName", &i.root_device_name);
        w.open("ebs");
        w.bool_element("deleteOnTermination", true);
        w.opt_text("snapshotId", i.snapshot_id.as_deref());
        w.int_element("volumeSize", i.root_size_gib);
        w.text_element("volumeType", &i.root_volume_type);
        w.bool_element("encrypted", false);
        w.close("ebs");
    });
}

fn write_image(w: &mut xml::Writer, i: &Image) {
    w.text_element("imageId", &i.image_id);
    w.text_element("imageLocation", &image_location(i));
    w.text_element("imageState", i.state.as_str());
    w.text_element("imageOwnerId", &i.owner_id);
    w.time_element("creationDate", xml::timestamp_ms(i.created_ms));
    w.bool_element("isPublic", i.is_public);
    w.text_element("architecture", ARCHITECTURE);
    w.text_element("imageType", "machine");
    w.text_element("name", &i.name);
    if !i.description.is_empty() {
        w.text_element("description", &i.description);
    }
    w.text_element("rootDeviceType", "ebs");
    w.text_element("rootDeviceName", &i.root_device_name);
    write_block_devices(w, i);
    if let Some(reason) = &i.state_reason {
        w.open("stateReason");
        w.text_element("code", "Client.ImageFailed");
        w.text_element("message", reason);
        w.close("stateReason");
    }
    w.text_element("virtualizationType", "hvm");
    w.list("tagSet", &i.tags, |w, t| {
        w.text_element("key", &t.key);
        w.text_element("value", &t.value);
    });
    w.text_element("hypervisor", HYPERVISOR);
    w.bool_element("enaSupport", i.ena_support);
    w.text_element("platformDetails", "Linux/UNIX");
    w.text_element("usageOperation", "RunInstances");
}

pub fn render(images: &[Image], next_token: Option<&str>, request_id: &str) -> String {
    answer(DescribeImages::NAME, request_id, |w| {
        w.list("imagesSet", images, write_image);
        w.opt_text("nextToken", next_token);
    })
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeImages,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let visible = port.images(caller).await?;
    let (page, next) = select(&req, caller, visible)?;
    Ok(render(&page, next.as_deref(), request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;
    use crate::types::{ImageState, Tag};

    const ME: &str = "111111111111";
    const OTHER: &str = "222222222222";
    const FRIEND: &str = "333333333333";

    fn caller() -> Caller {
        Caller {
            access_key: "CK".into(),
            account_id: "acc".into(),
            account_number: ME.into(),
            account_name: "me".into(),
            user_id: "u".into(),
            user_name: "me".into(),
            is_admin: false,
        }
    }

    fn images() -> Vec<Image> {
        let i = |id: &str, name: &str, owner: &str, public, state| Image {
            image_id: id.into(),
            name: name.into(),
            description: String::new(),
            owner_id: owner.into(),
            is_public: public,
            state,
            created_ms: 1_796_333_265_000,
            root_device_name: "/dev/sda1".into(),
            root_size_gib: 8,
            root_volume_type: "gp2".into(),
            snapshot_id: None,
            ena_support: true,
            state_reason: None,
            launch_permissions: vec![],
            tags: vec![],
        };
        let mut tagged = i(
            "ami-0000000000000000c",
            "mine-2",
            ME,
            false,
            ImageState::Pending,
        );
        tagged.tags.push(Tag {
            key: "team".into(),
            value: "web".into(),
        });
        tagged.launch_permissions.push(FRIEND.into());
        tagged.snapshot_id = Some("snap-0000000000000000c".into());
        vec![
            i(
                "ami-0000000000000000a",
                "ubuntu-22.04",
                OTHER,
                true,
                ImageState::Available,
            ),
            i(
                "ami-0000000000000000b",
                "mine-1",
                ME,
                false,
                ImageState::Available,
            ),
            tagged,
        ]
    }

    fn ids(pairs: &[(&str, &str)]) -> Vec<String> {
        let req: DescribeImages = decode(Params::from_pairs(pairs)).unwrap();
        select(&req, &caller(), images())
            .unwrap()
            .0
            .into_iter()
            .map(|i| i.image_id[i.image_id.len() - 1..].to_owned())
            .collect()
    }

    #[test]
    fn selection() {
        let cases: &[(&[(&str, &str)], &[&str])] = &[
            (&[], &["a", "b", "c"]),
            (&[("Owner.1", "self")], &["b", "c"]),
            (&[("Owner.1", OTHER)], &["a"]),
            (&[("Owner.1", "self"), ("Owner.2", OTHER)], &["a", "b", "c"]),
            (&[("Owner.1", "amazon")], &[]),
            (&[("ExecutableBy.1", "all")], &["a"]),
            (&[("ExecutableBy.1", "self")], &["a", "b", "c"]),
            (&[("ExecutableBy.1", FRIEND)], &["a", "c"]),
            (
                &[
                    ("Filter.1.Name", "block-device-mapping.snapshot-id"),
                    ("Filter.1.Value.1", "snap-0000000000000000c"),
                ],
                &["c"],
            ),
            (&[("ImageId.1", "ami-0000000000000000b")], &["b"]),
            (
                &[("Filter.1.Name", "name"), ("Filter.1.Value.1", "mine-?")],
                &["b", "c"],
            ),
            (
                &[("Filter.1.Name", "name"), ("Filter.1.Value.1", "ubuntu*")],
                &["a"],
            ),
            (
                &[("Filter.1.Name", "state"), ("Filter.1.Value.1", "pending")],
                &["c"],
            ),
            (
                &[
                    ("Filter.1.Name", "is-public"),
                    ("Filter.1.Value.1", "false"),
                ],
                &["b", "c"],
            ),
            (
                &[("Filter.1.Name", "owner-id"), ("Filter.1.Value.1", OTHER)],
                &["a"],
            ),
            (
                &[
                    ("Filter.1.Name", "image-id"),
                    ("Filter.1.Value.1", "ami-*a"),
                ],
                &["a"],
            ),
            (
                &[("Filter.1.Name", "tag:team"), ("Filter.1.Value.1", "web")],
                &["c"],
            ),
            (
                &[("Filter.1.Name", "tag-key"), ("Filter.1.Value.1", "*")],
                &["c"],
            ),
            (
                &[
                    ("Filter.1.Name", "creation-date"),
                    ("Filter.1.Value.1", "2026-12-03T*"),
                ],
                &["a", "b", "c"],
            ),
            (
                &[
                    ("Owner.1", "self"),
                    ("Filter.1.Name", "state"),
                    ("Filter.1.Value.1", "available"),
                ],
                &["b"],
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(ids(pairs), *want, "{pairs:?}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&[(&str, &str)], Code)] = &[
            (&[("ImageId.1", "ami-12")], Code::Malformed(Resource::Image)),
            (
                &[("ImageId.1", "i-0000000000000000a")],
                Code::Malformed(Resource::Image),
            ),
            (
                &[("ImageId.1", "ami-00000000000000009")],
                Code::NotFound(Resource::Image),
            ),
            (&[("Owner.1", "someone")], Code::InvalidParameterValue),
            (&[("ExecutableBy.1", "amazon")], Code::InvalidParameterValue),
            (
                &[("Filter.1.Name", "image_id"), ("Filter.1.Value.1", "x")],
                Code::InvalidParameterValue,
            ),
            (
                &[("ImageId.1", "ami-0000000000000000a"), ("MaxResults", "5")],
                Code::InvalidParameterCombination,
            ),
        ];
        for (pairs, code) in cases {
            let got = decode::<DescribeImages>(Params::from_pairs(pairs))
                .and_then(|req| select(&req, &caller(), images()));
            assert_eq!(got.unwrap_err().code, *code, "{pairs:?}");
        }
    }

    #[test]
    fn answer_shape() {
        let text = render(&images()[..1], None, "r");
        for part in [
            "<imagesSet><item><imageId>ami-0000000000000000a</imageId>",
            "<imageLocation>222222222222/ubuntu-22.04</imageLocation>",
            "<imageState>available</imageState><imageOwnerId>222222222222</imageOwnerId>",
            "<creationDate>2026-12-03T21:27:45.000Z</creationDate><isPublic>true</isPublic>",
            "<rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/sda1</rootDeviceName>",
            "<blockDeviceMapping><item><deviceName>/dev/sda1</deviceName><ebs>\
             <deleteOnTermination>true</deleteOnTermination><volumeSize>8</volumeSize>",
            "<tagSet/>",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(!text.contains("nextToken"));
        assert!(!text.contains("<description>"));
    }
}
