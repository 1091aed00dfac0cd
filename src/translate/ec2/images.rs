//! The EC2 door's images over the template store and the orchestrator's image operations:
//! ImportImage reads an object the caller may read, DescribeImportImageTasks reports the
//! template store's tasks in EC2's words, CancelImportTask stops one, DeregisterImage deletes a
//! template (its snapshot stays, as on EC2); RegisterImage, CreateImage and CopyImage make a
//! template from a snapshot, an instance or another template; ModifyImageAttribute changes who
//! may launch one (the group `all` is the template's public flag) and its description.

use std::collections::HashMap;

use cirrus_ec2::actions::image_attributes::ImageChange;
use cirrus_ec2::actions::image_create::{CopyImage, NewImage};
use cirrus_ec2::actions::image_import::{ImportImage, ImportTask};
use cirrus_ec2::error::{Code, Ec2Error, Resource};
use cirrus_ec2::types::Tag;
use cirrus_ec2::Caller;
use sha2::Digest;

use super::{core, store};
use crate::error::{CoreError, ResourceKind};
use crate::model::infra::{self, Hypervisor};
use crate::model::listing;
use crate::model::snapshot;
use crate::model::tag::{self, TaggedKind};
use crate::model::template::{self, LaunchPermissionChange, Template};
use crate::model::volume::VolumeError;
use crate::orchestrator::images::{self as images_core, ImageRequest, ImageSnapshot, VolumeSource};
use crate::storage::templates::{NewTemplate, Source, TemplateImage};
use crate::storage::Requester;
use crate::translate::ec2_volumes::volume_error;
use crate::translate::Translator;

/// The OS type of imported images.
const IMPORTED_OS_TYPE: &str = "Other Linux (64-bit)";

fn requester(caller: &Caller) -> Requester {
    Requester::Account {
        id: caller.account_id.clone(),
        root_admin: caller.is_admin,
    }
}

/// A task in EC2's words: active while it works, completed, or deleted (failed or cancelled).
fn task_view(image: &TemplateImage, template: &Template) -> ImportTask {
    let (status, progress) = match image.phase.as_str() {
        "completed" => ("completed", None),
        "failed" | "cancelled" => ("deleted", None),
        _ => ("active", Some(image.progress.clamp(0, 100) as u8)),
    };
    ImportTask {
        import_task_id: image.import_task_id.clone().unwrap_or_default(),
        image_id: (status == "completed").then(|| template.ec2_id.clone()),
        status: status.to_owned(),
        status_message: image.message.clone(),
        progress,
        description: image.description.clone(),
        format: image.source_format.clone(),
        disk_image_size: u64::try_from(image.virtual_size_bytes)
            .ok()
            .filter(|s| *s > 0),
        bucket: image.source_bucket.clone().unwrap_or_default(),
        key: image.source_key.clone().unwrap_or_default(),
    }
}

impl Translator {
    pub(super) async fn import_image_now(
        &self,
        caller: &Caller,
        req: &ImportImage,
    ) -> Result<ImportTask, Ec2Error> {
        let who = requester(caller);
        if req.dry_run {
            // Validate and authorize: the object must be there and readable.
            self.cloud
                .objects
                .object(&who, &req.bucket, &req.key)
                .await
                .map_err(|e| core(e.into()))?;
            return Err(Ec2Error::dry_run());
        }
        let zones = infra::list_zones(&self.cloud.store.pool)
            .await
            .map_err(core)?;
        // LIMITATION: imports go to the cloud's first zone; ImportImage names none.
        let zone = zones
            .first()
            .ok_or_else(|| Ec2Error::internal("the cloud has no zone".to_owned()))?;
        let description = req
            .description
            .clone()
            .unwrap_or_else(|| format!("s3://{}/{}", req.bucket, req.key));
        let new = NewTemplate {
            account_id: caller.account_id.clone(),
            zone_id: zone.id.clone(),
            name: String::new(),
            display_text: description.clone(),
            os_type: IMPORTED_OS_TYPE.to_owned(),
            hypervisor: Hypervisor::Kvm.as_str().to_owned(),
            is_public: false,
            is_featured: false,
            ..NewTemplate::default()
        };
        let source = Source::Object {
            who,
            bucket: req.bucket.clone(),
            key: req.key.clone(),
        };
        let (template, image) = self
            .cloud
            .templates
            .create(new, source, true, &description)
            .await
            .map_err(core)?;
        // EC2 names an imported image after its task.
        let task_id = image.import_task_id.clone().unwrap_or_default();
        self.rename_template(&template.id, &task_id).await?;
        Ok(task_view(&image, &template))
    }

    async fn rename_template(&self, id: &str, name: &str) -> Result<(), Ec2Error> {
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        sqlx::query("UPDATE templates SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(store)?;
        tx.commit().await.map_err(store)
    }

    pub(super) async fn import_tasks_now(
        &self,
        caller: &Caller,
    ) -> Result<Vec<ImportTask>, Ec2Error> {
        let tasks = self
            .cloud
            .templates
            .import_tasks(&caller.account_id)
            .await
            .map_err(core)?;
        Ok(tasks
            .iter()
            .map(|t| task_view(&t.image, &t.template))
            .collect())
    }

    pub(super) async fn cancel_import_now(
        &self,
        caller: &Caller,
        task_id: &str,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let tasks = self.import_tasks_now(caller).await?;
        let Some(task) = tasks.iter().find(|t| t.import_task_id == task_id) else {
            return Err(Ec2Error::invalid_value(format!(
                "The import task ID '{task_id}' does not exist."
            )));
        };
        if task.status != "active" {
            return Err(Ec2Error::new(
                Code::IncorrectState,
                format!(
                    "The import task '{task_id}' is {}; only an active task can be cancelled.",
                    task.status
                ),
            ));
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        self.cloud
            .templates
            .cancel_import(&caller.account_id, task_id)
            .await
            .map_err(core)
    }

    pub(super) async fn deregister_image_now(
        &self,
        caller: &Caller,
        image_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let template: Option<Template> =
            sqlx::query_as("SELECT * FROM templates WHERE ec2_id = $1 AND state <> 'deleted'")
                .bind(image_id)
                .fetch_optional(&self.cloud.store.pool)
                .await
                .map_err(store)?;
        let not_found = || {
            Ec2Error::new(
                Code::NotFound(Resource::Image),
                format!("The image id '[{image_id}]' does not exist"),
            )
        };
        let template = template.ok_or_else(not_found)?;
        if template.account_id != caller.account_id {
            let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
            let visible = template::launchable_by(&mut conn, &template, &caller.account_id)
                .await
                .map_err(core)?;
            return Err(if visible || caller.is_admin {
                Ec2Error::new(
                    Code::UnauthorizedOperation,
                    format!("You are not the owner of the image {image_id}, so you may not deregister it."),
                )
            } else {
                not_found()
            });
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        self.cloud.templates.delete(&template).await.map_err(core)
    }
}

/// Whether a template can be launched (or copied) now, in EC2's words when it cannot.
pub(super) fn check_launchable(t: &Template) -> Result<(), Ec2Error> {
    if t.state.eq_ignore_ascii_case("ready") {
        return Ok(());
    }
    let why = if t.state == "error" {
        format!("failed: {}", t.status)
    } else {
        "pending: its bytes are still being stored".to_owned()
    };
    Err(Ec2Error::new(
        Code::ImageUnavailable,
        format!("The image {} is not available: it is {why}", t.ec2_id),
    ))
}

fn image_not_found(id: &str) -> Ec2Error {
    Ec2Error::new(
        Code::NotFound(Resource::Image),
        format!("The image id '[{id}]' does not exist"),
    )
}

fn name_in_use(name: &str, by: &str) -> Ec2Error {
    Ec2Error::new(
        Code::Duplicate(Resource::Image),
        format!("AMI name {name} is already in use by AMI {by}"),
    )
}

/// The image operations' errors in EC2's words.
fn image_error(e: VolumeError, name: &str) -> Ec2Error {
    match e {
        VolumeError::Core(CoreError::AlreadyExists {
            kind: ResourceKind::Template,
            ..
        }) => name_in_use(name, "another image"),
        VolumeError::InstanceState { id, .. } => Ec2Error::invalid_value(format!(
            "Invalid value '{id}' for instanceId. Instance is not in state 'running' or \
             'stopped'."
        )),
        VolumeError::IncorrectState {
            what: "image", id, ..
        } => Ec2Error::new(
            Code::ImageUnavailable,
            format!("The image {id} is not available: it is not ready to be copied."),
        ),
        VolumeError::IncorrectState {
            what: "snapshot",
            id,
            state,
            ..
        } => Ec2Error::new(
            Code::IncorrectState,
            format!("The snapshot '{id}' is {state}; an image needs a completed snapshot."),
        ),
        other => volume_error(other),
    }
}

fn from_tags(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

/// The image request of an EC2 action, owned by the caller; image names are unique per account.
fn image_request(caller: &Caller, image: &NewImage) -> Result<ImageRequest, Ec2Error> {
    if let Some(t) = image
        .root_volume_type
        .as_deref()
        .filter(|t| !crate::model::volume::TYPES.contains(t))
    {
        return Err(Ec2Error::invalid_value(format!(
            "The volume type '{t}' is not one of {}.",
            crate::model::volume::TYPES.join(", ")
        )));
    }
    Ok(ImageRequest {
        account_id: caller.account_id.clone(),
        account_number: caller.account_number.clone(),
        name: image.name.clone(),
        description: image.description.clone(),
        unique_name: true,
        min_size_gib: image.root_size_gib,
        root_device_name: image.root_device_name.clone(),
        root_volume_type: image.root_volume_type.clone(),
        ena_support: image.ena_support,
        tags: from_tags(&image.tags),
        ..ImageRequest::default()
    })
}

/// What the snapshot CreateImage takes is called, as on EC2.
fn create_image_snapshot(instance: &str, image: &str) -> String {
    format!("Created by CreateImage({instance}) for {image}")
}

impl Translator {
    /// Refuses a name one of the caller's live images has.
    async fn check_image_name(&self, caller: &Caller, name: &str) -> Result<(), Ec2Error> {
        let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
        match template::named(&mut conn, &caller.account_id, name)
            .await
            .map_err(core)?
        {
            Some(by) => Err(name_in_use(name, &by)),
            None => Ok(()),
        }
    }

    /// A template the caller may launch, by EC2 id.
    async fn launchable_template(&self, caller: &Caller, id: &str) -> Result<Template, Ec2Error> {
        listing::templates_visible_to(&self.cloud.store.pool, &caller.account_id)
            .await
            .map_err(core)?
            .into_iter()
            .map(|t| t.template)
            .find(|t| t.ec2_id == id)
            .ok_or_else(|| image_not_found(id))
    }

    pub(super) async fn register_image_now(
        &self,
        caller: &Caller,
        snapshot_id: &str,
        image: &NewImage,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let req = image_request(caller, image)?;
        self.check_image_name(caller, &image.name).await?;
        if dry_run {
            let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
            snapshot::usable(
                &mut conn,
                &caller.account_id,
                &caller.account_number,
                snapshot_id,
            )
            .await
            .map_err(volume_error)?;
            return Err(Ec2Error::dry_run());
        }
        let t = self
            .cloud
            .orchestrator
            .image_from_snapshot(&self.cloud.templates, &req, snapshot_id)
            .await
            .map_err(|e| image_error(e, &image.name))?;
        Ok(t.ec2_id)
    }

    pub(super) async fn create_image_now(
        &self,
        caller: &Caller,
        instance_id: &str,
        image: &NewImage,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let req = image_request(caller, image)?;
        self.check_image_name(caller, &image.name).await?;
        if dry_run {
            self.own_instance(caller, instance_id).await?;
            return Err(Ec2Error::dry_run());
        }
        let snap = ImageSnapshot {
            describe: create_image_snapshot,
            tags: from_tags(&image.snapshot_tags),
        };
        let (t, _) = self
            .cloud
            .orchestrator
            .image_from_volume(
                &self.cloud.templates,
                self.cloud.objects.clone(),
                self.cloud.data_dir.join("tmp").join("snapshots"),
                Some(&caller.account_id),
                &req,
                &VolumeSource::RootOf(instance_id.to_owned()),
                &snap,
            )
            .await
            .map_err(|e| image_error(e, &image.name))?;
        Ok(t.ec2_id)
    }

    pub(super) async fn copy_image_now(
        &self,
        caller: &Caller,
        copy: &CopyImage,
    ) -> Result<String, Ec2Error> {
        if copy.source_region != self.cloud.region {
            return Err(Ec2Error::invalid_value(format!(
                "The source region '{}' is not this cloud's region ({}); Cirrus copies images \
                 within its one region.",
                copy.source_region, self.cloud.region
            )));
        }
        let fingerprint = hex::encode(sha2::Sha256::digest(copy.fingerprint().as_bytes()));
        if let Some(token) = &copy.client_token {
            let mut conn = self.cloud.store.pool.acquire().await.map_err(store)?;
            let earlier = images_core::by_token(&mut conn, &caller.account_id, token)
                .await
                .map_err(volume_error)?;
            if let Some(earlier) = earlier {
                if earlier.client_request.as_deref() != Some(fingerprint.as_str()) {
                    return Err(Ec2Error::new(
                        Code::IdempotentParameterMismatch,
                        format!(
                            "The client token '{token}' was used before with other parameters \
                             (it made {}).",
                            earlier.ec2_id
                        ),
                    ));
                }
                return Ok(earlier.ec2_id);
            }
        }
        let source = self
            .launchable_template(caller, &copy.source_image_id)
            .await?;
        check_launchable(&source)?;
        self.check_image_name(caller, &copy.image.name).await?;
        if copy.dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut req = image_request(caller, &copy.image)?;
        if copy.copy_tags {
            let mut own = tag::by_resource(
                &self.cloud.store.pool,
                &caller.account_id,
                TaggedKind::Template,
            )
            .await
            .map_err(core)?;
            let mut merged: HashMap<String, String> = own
                .remove(&source.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .collect();
            merged.extend(req.tags.drain(..));
            let mut tags: Vec<(String, String)> = merged.into_iter().collect();
            tags.sort();
            req.tags = tags;
        }
        req.client_token = copy.client_token.clone();
        req.client_request = Some(fingerprint);
        let t = self
            .cloud
            .orchestrator
            .copy_image(&self.cloud.templates, &req, &source)
            .await
            .map_err(|e| image_error(e, &copy.image.name))?;
        Ok(t.ec2_id)
    }

    pub(super) async fn modify_image_now(
        &self,
        caller: &Caller,
        image_id: &str,
        change: &ImageChange,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        let template = self.launchable_template(caller, image_id).await?;
        if template.account_id != caller.account_id {
            return Err(image_not_found(image_id));
        }
        if dry_run {
            return Err(Ec2Error::dry_run());
        }
        let mut tx = self.cloud.store.begin_write().await.map_err(store)?;
        match change {
            ImageChange::Description(text) => {
                sqlx::query("UPDATE templates SET display_text = $2 WHERE id = $1")
                    .bind(&template.id)
                    .bind(text)
                    .execute(&mut *tx)
                    .await
                    .map_err(store)?;
            }
            ImageChange::LaunchPermission(p) => {
                let numbers = |list: &[String]| -> Vec<String> {
                    list.iter().filter(|g| *g != "all").cloned().collect()
                };
                let everyone = |list: &[String]| list.iter().any(|g| g == "all");
                let public = if everyone(&p.add) {
                    Some(true)
                } else if p.reset || everyone(&p.remove) {
                    Some(false)
                } else {
                    None
                };
                let change = LaunchPermissionChange {
                    add: numbers(&p.add),
                    remove: numbers(&p.remove),
                    public,
                    reset: p.reset,
                };
                template::change_permissions(&mut tx, &template.id, &change)
                    .await
                    .map_err(core)?;
            }
        }
        tx.commit().await.map_err(store)?;
        tracing::info!(image = %image_id, "image attribute changed");
        Ok(())
    }
}
