//! The EC2 door's image imports and deregistration over the template store: ImportImage reads
//! an object the caller may read, DescribeImportImageTasks reports the template store's tasks
//! in EC2's words, CancelImportTask stops one, DeregisterImage deletes a template.

use cirrus_ec2::actions::image_import::{ImportImage, ImportTask};
use cirrus_ec2::error::{Code, Ec2Error, Resource};
use cirrus_ec2::Caller;

use super::{core, store};
use crate::model::infra::{self, Hypervisor};
use crate::model::template::Template;
use crate::storage::templates::{NewTemplate, Source, TemplateImage};
use crate::storage::Requester;
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
            return Err(if template.is_public() || caller.is_admin {
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

/// Whether a template can be launched now, in EC2's words when it cannot.
pub(super) fn check_launchable(t: &Template) -> Result<(), Ec2Error> {
    if t.state.eq_ignore_ascii_case("ready") {
        return Ok(());
    }
    let why = if t.state == "error" {
        format!("failed: {}", t.status)
    } else {
        "still being imported".to_owned()
    };
    Err(Ec2Error::invalid_value(format!(
        "The image {} is not available: it is {why}",
        t.ec2_id
    )))
}
