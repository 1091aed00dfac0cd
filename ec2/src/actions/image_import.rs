//! ImportImage (a disk image that is an object in a bucket of this cloud becomes an image),
//! DescribeImportImageTasks (progress and status of those imports), CancelImportTask and
//! DeregisterImage.
//!
//! A task is `active` while it downloads and converts (its StatusMessage says which, and
//! `progress` the percentage), `completed` once its image is available, and `deleted` when it
//! was cancelled or failed (StatusMessage says why), as EC2 reports them.
//!
//! LIMITATION: one disk per import; `Url` takes only `s3://bucket/key`; filters of
//! DescribeImportImageTasks are refused rather than applied; no pagination (every task of the
//! account is one page).

use super::common::returned_true;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::query::Params;
use crate::xml;
use crate::{Caller, Ec2Port};

/// The disk formats ImportImage takes.
const FORMATS: &[&str] = &["raw", "qcow2", "vmdk", "vhd", "vhdx", "ova"];

/// ImportImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportImage {
    pub description: Option<String>,
    /// The declared format, lower case, if given (the import detects it anyway).
    pub format: Option<String>,
    pub bucket: String,
    pub key: String,
    pub client_token: Option<String>,
    pub dry_run: bool,
}

impl Request for ImportImage {
    const NAME: &'static str = "ImportImage";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let description = p.take("Description");
        let client_token = p.take("ClientToken");
        for ignored in [
            "Architecture",
            "Platform",
            "LicenseType",
            "Hypervisor",
            "BootMode",
        ] {
            // Accepted and not used: every image here is an x86_64 Linux disk under KVM.
            p.take(ignored);
        }
        let mut disks = p.take_structs("DiskContainer")?;
        if disks.is_empty() {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter DiskContainer.1 (UserBucket or Url).",
            ));
        }
        if disks.len() > 1 {
            return Err(Ec2Error::invalid_value(
                "Only one DiskContainer per import is supported.",
            ));
        }
        let mut disk = Params::from_map(disks.remove(0));
        let format = disk.take("Format").map(|f| f.to_ascii_lowercase());
        if let Some(f) = format.as_deref().filter(|f| !FORMATS.contains(f)) {
            return Err(Ec2Error::invalid_value(format!(
                "The disk format '{f}' is not valid; use raw, qcow2, vmdk or vhd."
            )));
        }
        let bucket = disk.take("UserBucket.S3Bucket");
        let key = disk.take("UserBucket.S3Key");
        let url = disk.take("Url");
        disk.take("Description");
        disk.take("DeviceName");
        if disk.take("SnapshotId").is_some() {
            return Err(Ec2Error::invalid_value(
                "Importing from a snapshot is not supported; give UserBucket or Url.",
            ));
        }
        disk.finish(&[])?;
        let (bucket, key) = match (bucket, key, url) {
            (Some(b), Some(k), None) => (b, k),
            (None, None, Some(url)) => split_s3_url(&url)?,
            (None, None, None) => {
                return Err(Ec2Error::new(
                    Code::MissingParameter,
                    "DiskContainer.1 needs UserBucket (S3Bucket and S3Key) or Url.",
                ))
            }
            _ => {
                return Err(Ec2Error::new(
                    Code::InvalidParameterCombination,
                    "Give either UserBucket with both S3Bucket and S3Key, or Url.",
                ))
            }
        };
        Ok(Self {
            description,
            format,
            bucket,
            key,
            client_token,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn split_s3_url(url: &str) -> Result<(String, String), Ec2Error> {
    url.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .ok_or_else(|| {
            Ec2Error::invalid_value(format!(
                "The Url '{url}' is not valid; give s3://bucket/key of an object in this cloud."
            ))
        })
}

/// One import task as the door reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTask {
    pub import_task_id: String,
    /// The image, once the task completed.
    pub image_id: Option<String>,
    /// `active`, `completed` or `deleted`.
    pub status: String,
    pub status_message: String,
    /// Percent, while active.
    pub progress: Option<u8>,
    pub description: String,
    /// The detected format (lower case), once known.
    pub format: Option<String>,
    /// The disk's virtual size in bytes, once known.
    pub disk_image_size: Option<u64>,
    pub bucket: String,
    pub key: String,
}

fn write_task(w: &mut xml::Writer, t: &ImportTask) {
    w.text_element("description", &t.description);
    w.text_element("hypervisor", "kvm");
    w.text_element("architecture", "x86_64");
    w.text_element("platform", "Linux");
    w.opt_text("imageId", t.image_id.as_deref());
    w.text_element("importTaskId", &t.import_task_id);
    if let Some(p) = t.progress {
        w.text_element("progress", &p.to_string());
    }
    w.list("snapshotDetailSet", std::slice::from_ref(t), |w, t| {
        w.text_element("description", &t.description);
        w.text_element("deviceName", "/dev/sda1");
        if let Some(size) = t.disk_image_size {
            w.float_element("diskImageSize", size as f64);
        }
        w.opt_text(
            "format",
            t.format.as_deref().map(str::to_ascii_uppercase).as_deref(),
        );
        if let Some(p) = t.progress {
            w.text_element("progress", &p.to_string());
        }
        w.text_element("status", &t.status);
        w.text_element("statusMessage", &t.status_message);
        w.open("userBucket");
        w.text_element("s3Bucket", &t.bucket);
        w.text_element("s3Key", &t.key);
        w.close("userBucket");
    });
    w.text_element("status", &t.status);
    w.text_element("statusMessage", &t.status_message);
}

pub async fn serve_import<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ImportImage,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let task = port.import_image(caller, &req).await?;
    Ok(answer(ImportImage::NAME, request_id, |w| {
        write_task(w, &task)
    }))
}

/// DescribeImportImageTasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeImportImageTasks {
    pub task_ids: Vec<String>,
    pub dry_run: bool,
}

impl Request for DescribeImportImageTasks {
    const NAME: &'static str = "DescribeImportImageTasks";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let task_ids = p.take_list("ImportTaskId")?;
        if let Some(filter) = p.take_structs("Filters")?.first() {
            let name = filter.get("Name").cloned().unwrap_or_default();
            return Err(Ec2Error::invalid_value(format!(
                "The filter '{name}' is not supported for DescribeImportImageTasks."
            )));
        }
        // Every task is on one page.
        p.take_int("MaxResults", 1, 500)?;
        p.take("NextToken");
        Ok(Self {
            task_ids,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeImportImageTasks,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let tasks = port.import_tasks(caller).await?;
    if let Some(missing) = req
        .task_ids
        .iter()
        .find(|id| !tasks.iter().any(|t| &t.import_task_id == *id))
    {
        return Err(Ec2Error::new(
            Code::InvalidParameterValue,
            format!("The import task ID '{missing}' does not exist."),
        ));
    }
    let shown: Vec<&ImportTask> = tasks
        .iter()
        .filter(|t| req.task_ids.is_empty() || req.task_ids.contains(&t.import_task_id))
        .collect();
    Ok(answer(DescribeImportImageTasks::NAME, request_id, |w| {
        w.list("importImageTaskSet", &shown, |w, t| write_task(w, t));
    }))
}

/// CancelImportTask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelImportTask {
    pub task_id: String,
    pub dry_run: bool,
}

impl Request for CancelImportTask {
    const NAME: &'static str = "CancelImportTask";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let task_id = p.take_required("ImportTaskId")?;
        p.take("CancelReason");
        Ok(Self {
            task_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_cancel<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CancelImportTask,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let previous = port
        .cancel_import_task(caller, &req.task_id, req.dry_run)
        .await?;
    Ok(answer(CancelImportTask::NAME, request_id, |w| {
        w.text_element("importTaskId", &req.task_id);
        w.text_element("previousState", &previous);
        w.text_element("state", "deleting");
    }))
}

/// DeregisterImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeregisterImage {
    pub image_id: String,
    pub dry_run: bool,
}

impl Request for DeregisterImage {
    const NAME: &'static str = "DeregisterImage";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let image_id = p.take_required("ImageId")?;
        if !super::images::is_image_id(&image_id) {
            return Err(Ec2Error::new(
                Code::Malformed(Resource::Image),
                format!("Invalid id: \"{image_id}\" (expecting \"ami-...\")"),
            ));
        }
        // The image's disk is one object, not an EBS snapshot: nothing else to delete.
        p.take_bool("DeleteAssociatedSnapshots")?;
        Ok(Self {
            image_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_deregister<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DeregisterImage,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.deregister_image(caller, &req.image_id, req.dry_run)
        .await?;
    Ok(returned_true(DeregisterImage::NAME, request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ImportImage, Ec2Error> {
        let mut p = Params::from_pairs(pairs);
        let r = ImportImage::parse(&mut p)?;
        p.finish(super::super::known_params(ImportImage::NAME))?;
        Ok(r)
    }

    #[test]
    fn a_disk_from_a_user_bucket_or_an_s3_url() {
        let r = parse(&[
            ("DiskContainer.1.Format", "RAW"),
            ("DiskContainer.1.UserBucket.S3Bucket", "images"),
            ("DiskContainer.1.UserBucket.S3Key", "guest.img"),
            ("Description", "guest"),
        ])
        .unwrap();
        assert_eq!(
            (r.format.as_deref(), r.bucket.as_str(), r.key.as_str()),
            (Some("raw"), "images", "guest.img")
        );
        let r = parse(&[("DiskContainer.1.Url", "s3://images/dir/guest.img")]).unwrap();
        assert_eq!(
            (r.bucket.as_str(), r.key.as_str()),
            ("images", "dir/guest.img")
        );
    }

    #[test]
    fn a_missing_or_ambiguous_disk_is_the_callers_mistake() {
        assert_eq!(parse(&[]).unwrap_err().code, Code::MissingParameter);
        let both = parse(&[
            ("DiskContainer.1.Url", "s3://a/b"),
            ("DiskContainer.1.UserBucket.S3Bucket", "a"),
            ("DiskContainer.1.UserBucket.S3Key", "b"),
        ]);
        assert_eq!(both.unwrap_err().code, Code::InvalidParameterCombination);
        let http = parse(&[("DiskContainer.1.Url", "http://169.254.169.254/x")]);
        assert_eq!(http.unwrap_err().code, Code::InvalidParameterValue);
        let format = parse(&[
            ("DiskContainer.1.Format", "iso"),
            ("DiskContainer.1.Url", "s3://a/b"),
        ]);
        assert_eq!(format.unwrap_err().code, Code::InvalidParameterValue);
    }
}
