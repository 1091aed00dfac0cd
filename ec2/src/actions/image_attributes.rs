//! An image's attributes, the owner's to read and change: DescribeImageAttribute,
//! ModifyImageAttribute (launchPermission by account number or the group `all`, and
//! description) and ResetImageAttribute (launchPermission back to the owner alone).
//!
//! Attributes Cirrus does not record (kernel, ramdisk, SR-IOV, boot mode, TPM, UEFI data,
//! IMDS, last launch) are answered empty, as EC2 answers an image that never set them.

use super::common::{returned_true, take_permission_change};
use super::image_create::check_image_id;
use super::images::write_block_devices;
use super::snapshots::PermissionChange;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::query::Params;
use crate::types::Image;
use crate::{Caller, Ec2Port};

/// The attributes DescribeImageAttribute answers.
const ATTRIBUTES: &[&str] = &[
    "description",
    "kernel",
    "ramdisk",
    "launchPermission",
    "productCodes",
    "blockDeviceMapping",
    "sriovNetSupport",
    "bootMode",
    "tpmSupport",
    "uefiData",
    "lastLaunchedTime",
    "imdsSupport",
    "deregistrationProtection",
];

/// A change ModifyImageAttribute asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChange {
    LaunchPermission(PermissionChange),
    Description(String),
}

fn take_attribute_image(p: &mut Params) -> Result<String, Ec2Error> {
    let image_id = p.take_required("ImageId")?;
    check_image_id(&image_id)?;
    Ok(image_id)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeImageAttribute {
    pub image_id: String,
    pub attribute: String,
    pub dry_run: bool,
}

impl Request for DescribeImageAttribute {
    const NAME: &'static str = "DescribeImageAttribute";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let image_id = take_attribute_image(p)?;
        let attribute = p.take_required("Attribute")?;
        if !ATTRIBUTES.contains(&attribute.as_str()) {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is invalid: it must be one of {}.",
                ATTRIBUTES.join(", ")
            )));
        }
        Ok(Self {
            image_id,
            attribute,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// The caller's own image by id: another account's image it may see is not its to read or
/// change; one it may not see does not exist.
pub async fn own_image<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    id: &str,
) -> Result<Image, Ec2Error> {
    let image = port
        .images(caller)
        .await?
        .into_iter()
        .find(|i| i.image_id == id)
        .ok_or_else(|| {
            Ec2Error::new(
                Code::NotFound(Resource::Image),
                format!("The image id '[{id}]' does not exist"),
            )
        })?;
    if image.owner_id != caller.account_number {
        return Err(Ec2Error::new(
            Code::UnauthorizedOperation,
            format!("You are not the owner of the image {id}, so you may not read or change its attributes."),
        ));
    }
    Ok(image)
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeImageAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let i = own_image(port, caller, &req.image_id).await?;
    Ok(answer(DescribeImageAttribute::NAME, request_id, |w| {
        w.text_element("imageId", &i.image_id);
        match req.attribute.as_str() {
            "description" => {
                w.open("description");
                w.text_element("value", &i.description);
                w.close("description");
            }
            "launchPermission" => w.list("launchPermission", &i.launch_permissions, |w, g| {
                if g == "all" {
                    w.text_element("group", g);
                } else {
                    w.text_element("userId", g);
                }
            }),
            "blockDeviceMapping" => write_block_devices(w, &i),
            "deregistrationProtection" => {
                w.open("deregistrationProtection");
                w.text_element("value", "disabled");
                w.close("deregistrationProtection");
            }
            "kernel" => w.empty("kernel"),
            "ramdisk" => w.empty("ramdisk"),
            "productCodes" => w.empty("productCodes"),
            other => w.empty(other),
        }
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyImageAttribute {
    pub image_id: String,
    pub change: ImageChange,
    pub dry_run: bool,
}

impl Request for ModifyImageAttribute {
    const NAME: &'static str = "ModifyImageAttribute";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let image_id = take_attribute_image(p)?;
        if !p.take_list("ProductCode")?.is_empty() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Product codes are not supported: Cirrus has no marketplace.",
            ));
        }
        if !p.take_list("OrganizationArn")?.is_empty()
            || !p.take_list("OrganizationalUnitArn")?.is_empty()
        {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Sharing with organizations is not supported: Cirrus has no AWS Organizations; \
                 share with account numbers (UserId) or the group all.",
            ));
        }
        if p.take("ImdsSupport.Value").is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "The IMDS support of an image is not recorded by Cirrus.",
            ));
        }
        let attribute = p.take("Attribute");
        let described = p.take("Description.Value");
        let value = p.take("Value");
        let permissions = take_permission_change(p, "LaunchPermission")?;
        let has_permissions = !permissions.add.is_empty() || !permissions.remove.is_empty();
        let change = match (attribute.as_deref(), described, value, has_permissions) {
            (None | Some("description"), Some(text), None, false)
            | (Some("description"), None, Some(text), false) => {
                if text.chars().count() > 255 {
                    return Err(Ec2Error::invalid_value(
                        "The image description is longer than 255 characters.",
                    ));
                }
                ImageChange::Description(text)
            }
            (None | Some("launchPermission"), None, None, true) => {
                ImageChange::LaunchPermission(permissions)
            }
            (Some(a), _, _, _) if a != "description" && a != "launchPermission" => {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({a}) for parameter attribute is invalid: only launchPermission and \
                     description can be modified."
                )))
            }
            (_, None, None, false) => {
                return Err(Ec2Error::new(
                    Code::MissingParameter,
                    "The request must contain LaunchPermission or Description.",
                ))
            }
            _ => {
                return Err(Ec2Error::new(
                    Code::InvalidParameterCombination,
                    "Modify one attribute per request: LaunchPermission or Description.",
                ))
            }
        };
        Ok(Self {
            image_id,
            change,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_modify<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifyImageAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    own_image(port, caller, &req.image_id).await?;
    port.modify_image(caller, &req.image_id, &req.change, req.dry_run)
        .await?;
    Ok(returned_true(ModifyImageAttribute::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetImageAttribute {
    pub image_id: String,
    pub dry_run: bool,
}

impl Request for ResetImageAttribute {
    const NAME: &'static str = "ResetImageAttribute";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let image_id = take_attribute_image(p)?;
        let attribute = p.take_required("Attribute")?;
        if attribute != "launchPermission" {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is invalid: only launchPermission \
                 can be reset."
            )));
        }
        Ok(Self {
            image_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_reset<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ResetImageAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    own_image(port, caller, &req.image_id).await?;
    let reset = ImageChange::LaunchPermission(PermissionChange {
        reset: true,
        ..PermissionChange::default()
    });
    port.modify_image(caller, &req.image_id, &reset, req.dry_run)
        .await?;
    Ok(returned_true(ResetImageAttribute::NAME, request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    const AMI: &str = "ami-0123456789abcdef0";

    #[test]
    fn modify_takes_each_form() {
        let r = decode::<ModifyImageAttribute>(Params::from_pairs(&[
            ("ImageId", AMI),
            ("LaunchPermission.Add.1.UserId", "123456789012"),
            ("LaunchPermission.Remove.1.Group", "all"),
        ]))
        .unwrap();
        assert_eq!(
            r.change,
            ImageChange::LaunchPermission(PermissionChange {
                add: vec!["123456789012".into()],
                remove: vec!["all".into()],
                reset: false,
            })
        );
        let r = decode::<ModifyImageAttribute>(Params::from_pairs(&[
            ("ImageId", AMI),
            ("Attribute", "launchPermission"),
            ("OperationType", "add"),
            ("UserGroup.1", "all"),
        ]))
        .unwrap();
        assert!(matches!(r.change, ImageChange::LaunchPermission(c) if c.add == ["all"]));
        let r = decode::<ModifyImageAttribute>(Params::from_pairs(&[
            ("ImageId", AMI),
            ("Description.Value", "new text"),
        ]))
        .unwrap();
        assert_eq!(r.change, ImageChange::Description("new text".into()));
    }

    #[test]
    fn modify_refusals() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "MissingParameter"),
            (&[("Attribute", "kernel")], "InvalidParameterValue"),
            (
                &[("LaunchPermission.Add.1.UserId", "12345")],
                "InvalidParameterValue",
            ),
            (
                &[("LaunchPermission.Add.1.Group", "friends")],
                "InvalidParameterValue",
            ),
            (
                &[
                    ("LaunchPermission.Add.1.UserId", "123456789012"),
                    ("Description.Value", "x"),
                ],
                "InvalidParameterCombination",
            ),
            (&[("ProductCode.1", "abc")], "UnsupportedOperation"),
        ];
        for (extra, code) in cases {
            let mut pairs = vec![("ImageId", AMI)];
            pairs.extend_from_slice(extra);
            let e = decode::<ModifyImageAttribute>(Params::from_pairs(&pairs)).unwrap_err();
            assert_eq!(e.code.as_str(), *code, "{extra:?}");
        }
        let e = decode::<DescribeImageAttribute>(Params::from_pairs(&[
            ("ImageId", AMI),
            ("Attribute", "colour"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterValue);
    }
}
