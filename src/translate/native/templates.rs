//! The native door's template commands over the template store and the orchestrator's image
//! operations: `registerTemplate` starts a download into secondary storage, `createTemplate`
//! makes a template of a snapshot or of a stopped virtual machine's volume (its job ends when
//! the template is ready), `updateTemplate` renames, `deleteTemplate` removes the template and
//! its image (hidden until its instances are gone), and `updateTemplatePermissions` /
//! `listTemplatePermissions` share it with accounts of its owner's domain (kept as the same
//! launch permissions EC2 reads, by account number) or with everyone (`ispublic`).

use cirrus_native::templates::{
    CreateTemplate, PermissionOp, RegisterTemplate, TemplateSource, UpdateTemplate,
    UpdateTemplatePermissions,
};
use cirrus_native::types as wire;
use cirrus_native::{Caller, ErrorCode, JobCommand, JobOutcome, JobStatus, PortError, Role};

use super::{caller_tree, port_error, unknown, Translator};
use crate::model::api_job::NewApiJob;
use crate::model::infra::{self, Hypervisor};
use crate::model::os_type;
use crate::model::template::{self, LaunchPermissionChange, Template};
use crate::model::volume::VolumeError;
use crate::orchestrator::images::{ImageRequest, ImageSnapshot, VolumeSource};
use crate::storage::templates::{NewTemplate, Source};

/// The description of the snapshot `createTemplate` takes of a volume.
fn create_template_snapshot(instance: &str, image: &str) -> String {
    format!("Root volume of {instance}, taken by createTemplate for template {image}")
}

/// The image operations' errors in the native door's words.
fn image_failure(e: VolumeError) -> PortError {
    match e {
        VolumeError::SnapshotNotFound(id) => unknown("snapshotid", &id),
        VolumeError::VolumeNotFound(id) => unknown("volumeid", &id),
        VolumeError::InstanceNotFound(id) => unknown("virtualmachineid", &id),
        VolumeError::Core(c) => port_error(c),
        VolumeError::Host(m) => PortError::Internal(m),
        VolumeError::InstanceState { id, state, .. } => PortError::InvalidParameter(format!(
            "VM {id} is {state}; a template is made of a stopped virtual machine's volume"
        )),
        other => PortError::InvalidParameter(other.to_string()),
    }
}

/// The OS type a template gets when none is named.
const DEFAULT_OS_TYPE: &str = "Other Linux (64-bit)";

impl Translator {
    /// A template the caller may change: its own, or one in an admin's tree.
    async fn template_to_change(&self, caller: &Caller, id: &str) -> Result<Template, PortError> {
        let template: Option<Template> =
            sqlx::query_as("SELECT * FROM templates WHERE id = $1 AND state <> 'deleted'")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(|e| port_error(e.into()))?;
        let template = template.ok_or_else(|| unknown("id", id))?;
        let dir = self.directory().await?;
        if template.account_id != caller.account_id
            && !dir.admits(&caller_tree(caller), &template.account_id)
        {
            return Err(PortError::PermissionDenied(format!(
                "Account {} does not have permission to operate on template {id}",
                caller.account_name
            )));
        }
        Ok(template)
    }

    async fn one_template_view(&self, t: &Template) -> Result<wire::Template, PortError> {
        let dir = self.directory().await?;
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        let names = zones.into_iter().map(|z| (z.id, z.name)).collect();
        Ok(self.template_view(&dir, t, &names))
    }

    pub(super) async fn register_template_now(
        &self,
        caller: &Caller,
        req: &RegisterTemplate,
    ) -> Result<wire::Template, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        if !zones.iter().any(|z| z.id == req.zone_id) {
            // LIMITATION: zoneid -1 (every zone) is not served: a template lives in one zone.
            return Err(unknown("zoneid", &req.zone_id));
        }
        if Hypervisor::parse(&req.hypervisor) != Some(Hypervisor::Kvm)
            && !req.hypervisor.eq_ignore_ascii_case("kvm")
        {
            return Err(PortError::InvalidParameter(format!(
                "Templates with disk images run on KVM; the hypervisor '{}' cannot take one",
                req.hypervisor
            )));
        }
        let os_type = match &req.os_type_id {
            Some(id) => {
                os_type::OS_TYPES
                    .iter()
                    .find(|o| o.id == id.as_str())
                    .ok_or_else(|| unknown("ostypeid", id))?
                    .description
            }
            None => DEFAULT_OS_TYPE,
        };
        if req.is_featured && caller.role != Role::RootAdmin {
            return Err(PortError::PermissionDenied(
                "Only the root admin may register a featured template".to_owned(),
            ));
        }
        let (account_id, _) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let new = NewTemplate {
            account_id,
            zone_id: req.zone_id.clone(),
            name: req.name.clone(),
            display_text: req.display_text.clone(),
            os_type: os_type.to_owned(),
            hypervisor: Hypervisor::Kvm.as_str().to_owned(),
            is_public: req.is_public,
            is_featured: req.is_featured,
            ..NewTemplate::default()
        };
        let source = Source::Url {
            url: req.url.clone(),
            checksum: req.checksum.clone(),
        };
        let (template, _) = self
            .cloud
            .templates
            .create(new, source, false, &req.display_text)
            .await
            .map_err(port_error)?;
        self.one_template_view(&template).await
    }

    pub(super) async fn update_template_now(
        &self,
        caller: &Caller,
        req: &UpdateTemplate,
    ) -> Result<wire::Template, PortError> {
        let mut template = self.template_to_change(caller, &req.id).await?;
        if let Some(name) = &req.name {
            template.name = name.clone();
        }
        if let Some(text) = &req.display_text {
            template.display_text = text.clone();
        }
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        sqlx::query("UPDATE templates SET name = $2, display_text = $3 WHERE id = $1")
            .bind(&template.id)
            .bind(&template.name)
            .bind(&template.display_text)
            .execute(&mut *tx)
            .await
            .map_err(|e| port_error(e.into()))?;
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        self.one_template_view(&template).await
    }

    pub(super) async fn delete_template_now(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<String, PortError> {
        let template = self.template_to_change(caller, id).await?;
        self.cloud
            .templates
            .delete(&template)
            .await
            .map_err(port_error)?;
        let job = NewApiJob {
            command: JobCommand::DeleteTemplate.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: None,
        };
        self.record_job(None, job).await
    }

    pub(super) async fn create_template_now(
        &self,
        caller: &Caller,
        req: &CreateTemplate,
    ) -> Result<(String, String), PortError> {
        let os_type = os_type::OS_TYPES
            .iter()
            .find(|o| o.id == req.os_type_id.as_str())
            .ok_or_else(|| unknown("ostypeid", &req.os_type_id))?;
        if req.is_featured && caller.role != Role::RootAdmin {
            return Err(PortError::PermissionDenied(
                "Only the root admin may create a featured template".to_owned(),
            ));
        }
        let number: (String,) = sqlx::query_as("SELECT number FROM accounts WHERE id = $1")
            .bind(&caller.account_id)
            .fetch_one(self.pool())
            .await
            .map_err(|e| port_error(e.into()))?;
        let image = ImageRequest {
            account_id: caller.account_id.clone(),
            account_number: number.0,
            name: req.name.clone(),
            description: req.display_text.clone(),
            os_type: Some(os_type.description.to_owned()),
            is_public: req.is_public,
            is_featured: req.is_featured,
            ..ImageRequest::default()
        };
        let orchestrator = &self.cloud.orchestrator;
        let template = match &req.source {
            TemplateSource::Snapshot(id) => orchestrator
                .image_from_snapshot(&self.cloud.templates, &image, id)
                .await
                .map_err(image_failure)?,
            TemplateSource::Volume(id) => {
                // LIMITATION: a domain admin makes templates of its own account's volumes only.
                let scope = (!caller.is_root_admin()).then_some(caller.account_id.as_str());
                let snap = ImageSnapshot {
                    describe: create_template_snapshot,
                    tags: vec![],
                };
                orchestrator
                    .image_from_volume(
                        &self.cloud.templates,
                        self.cloud.objects.clone(),
                        self.cloud.data_dir.join("tmp").join("snapshots"),
                        scope,
                        &image,
                        &VolumeSource::Volume(id.clone()),
                        &snap,
                    )
                    .await
                    .map_err(image_failure)?
                    .0
            }
        };
        let job = NewApiJob {
            command: JobCommand::CreateTemplate.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: Some(&template.id),
        };
        let job = self.record_job(None, job).await?;
        Ok((template.id, job))
    }

    /// Where a createTemplate job is: pending while its template is made, then the template or
    /// why it failed.
    pub(super) async fn template_job_status(&self, id: &str) -> Result<JobStatus, PortError> {
        let t: Option<Template> = sqlx::query_as("SELECT * FROM templates WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| port_error(e.into()))?;
        Ok(match t {
            Some(t) if t.state == "downloading" => JobStatus::Pending,
            Some(t) if t.state == "ready" => JobStatus::Succeeded(JobOutcome::Template(Box::new(
                self.one_template_view(&t).await?,
            ))),
            Some(t) if t.state == "error" => JobStatus::Failed {
                code: ErrorCode::Internal,
                text: format!("Failed to create template {}: {}", t.name, t.status),
            },
            _ => JobStatus::Failed {
                code: ErrorCode::Internal,
                text: format!("Template {id} was deleted before it was ready"),
            },
        })
    }

    /// The account numbers of named accounts of a domain; an unknown name is the caller's
    /// mistake.
    async fn account_numbers(
        &self,
        domain_id: &str,
        names: &[String],
    ) -> Result<Vec<String>, PortError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let found: Option<(String,)> = sqlx::query_as(
                "SELECT number FROM accounts WHERE name = $1 AND domain_id = $2 \
                 AND state <> 'removed'",
            )
            .bind(name)
            .bind(domain_id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| port_error(e.into()))?;
            let (number,) = found.ok_or_else(|| {
                PortError::InvalidParameter(format!(
                    "Unable to find account {name} in the domain of the template's owner"
                ))
            })?;
            out.push(number);
        }
        Ok(out)
    }

    async fn owner_domain(&self, t: &Template) -> Result<String, PortError> {
        let (domain,): (String,) = sqlx::query_as("SELECT domain_id FROM accounts WHERE id = $1")
            .bind(&t.account_id)
            .fetch_one(self.pool())
            .await
            .map_err(|e| port_error(e.into()))?;
        Ok(domain)
    }

    pub(super) async fn update_template_permissions_now(
        &self,
        caller: &Caller,
        req: &UpdateTemplatePermissions,
    ) -> Result<(), PortError> {
        let t = self.template_to_change(caller, &req.id).await?;
        if req.is_featured.is_some() && caller.role != Role::RootAdmin {
            return Err(PortError::PermissionDenied(
                "Only the root admin may feature a template".to_owned(),
            ));
        }
        let domain = self.owner_domain(&t).await?;
        let numbers = self.account_numbers(&domain, &req.accounts).await?;
        let reset = req.op == Some(PermissionOp::Reset);
        let change = LaunchPermissionChange {
            add: if req.op == Some(PermissionOp::Add) {
                numbers.clone()
            } else {
                vec![]
            },
            remove: if req.op == Some(PermissionOp::Remove) {
                numbers
            } else {
                vec![]
            },
            public: if reset { Some(false) } else { req.is_public },
            reset,
        };
        let mut tx = self
            .cloud
            .store
            .begin_write()
            .await
            .map_err(|e| port_error(e.into()))?;
        template::change_permissions(&mut tx, &t.id, &change)
            .await
            .map_err(port_error)?;
        let featured = if reset { Some(false) } else { req.is_featured };
        if let Some(f) = featured {
            sqlx::query("UPDATE templates SET is_featured = $2 WHERE id = $1")
                .bind(&t.id)
                .bind(i64::from(f))
                .execute(&mut *tx)
                .await
                .map_err(|e| port_error(e.into()))?;
        }
        tx.commit().await.map_err(|e| port_error(e.into()))?;
        tracing::info!(template = %t.id, "template permissions changed");
        Ok(())
    }

    pub(super) async fn list_template_permissions_now(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<wire::TemplatePermission, PortError> {
        let t = self.template_to_change(caller, id).await?;
        let domain = self.owner_domain(&t).await?;
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT a.name FROM template_permissions p JOIN accounts a ON a.number = p.grantee \
             WHERE p.template_id = $1 ORDER BY a.name",
        )
        .bind(&t.id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| port_error(e.into()))?;
        Ok(wire::TemplatePermission {
            id: t.id.clone(),
            ispublic: t.is_public(),
            domainid: domain,
            account: names.into_iter().map(|(n,)| n).collect(),
        })
    }
}
