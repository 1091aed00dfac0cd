//! The native door's template commands over the template store: `registerTemplate` starts a
//! download into secondary storage, `updateTemplate` renames, `deleteTemplate` removes the
//! template and its image (hidden until its instances are gone).

use cirrus_native::templates::{RegisterTemplate, UpdateTemplate};
use cirrus_native::types as wire;
use cirrus_native::{Caller, JobCommand, PortError, Role};

use super::{caller_tree, port_error, unknown, Translator};
use crate::model::api_job::NewApiJob;
use crate::model::infra::{self, Hypervisor};
use crate::model::os_type;
use crate::model::template::Template;
use crate::storage::templates::{NewTemplate, Source};

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
}
