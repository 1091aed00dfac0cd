//! The native door's ISO commands over the ISO store and the orchestrator: `registerIso` starts
//! a download, `listIsos` filters as CloudStack's `isofilter` does, `updateIso` and `deleteIso`
//! change the record, and `attachIso`/`detachIso` queue a change of an instance's CD drive.
//! ISOs answer in CloudStack's template shape (format `ISO`).

use std::collections::HashMap;

use cirrus_native::isos::{IsoDrive, ListIsos, RegisterIso, UpdateIso};
use cirrus_native::requests::TemplateFilter;
use cirrus_native::types as wire;
use cirrus_native::wire::Timestamp;
use cirrus_native::{keyword_matches, Caller, JobCommand, Listing, PortError, Role};

use super::{
    caller_tree, check_known, port_error, same, same_name, unknown, Directory, Translator,
};
use crate::model::api_job::NewApiJob;
use crate::model::infra;
use crate::model::iso::{self, Iso};
use crate::model::os_type;
use crate::storage::isos::NewIso;

/// The OS type an ISO gets when none is named.
const DEFAULT_OS_TYPE: &str = "Other Linux (64-bit)";

/// An ISO in CloudStack's template shape.
fn iso_view(dir: &Directory, i: &Iso, zone_names: &HashMap<String, String>) -> wire::Template {
    let owner = dir.account(&i.account_id);
    let domain = dir.domain_of_account(&i.account_id);
    let os = os_type::by_description(&i.os_type);
    wire::Template {
        id: i.id.clone(),
        name: i.name.clone(),
        displaytext: i.display_text.clone(),
        ispublic: i.is_public(),
        isfeatured: i.is_featured(),
        isready: i.is_ready(),
        status: i.status.clone(),
        created: Timestamp(i.created_ms),
        size: i.size_bytes,
        zoneid: i.zone_id.clone(),
        zonename: zone_names.get(&i.zone_id).cloned().unwrap_or_default(),
        format: "ISO".to_owned(),
        ostypeid: os.map(|o| o.id.to_owned()).unwrap_or_default(),
        ostypename: i.os_type.clone(),
        account: owner.map(|a| a.name.clone()).unwrap_or_default(),
        accountid: i.account_id.clone(),
        domain: domain.map(|d| d.name.clone()).unwrap_or_default(),
        domainid: domain.map(|d| d.id.clone()).unwrap_or_default(),
        templatetype: "USER".to_owned(),
        bootable: i.is_bootable(),
        ..wire::Template::default()
    }
}

/// The description of the OS type `id` names, or the default when none is named.
fn os_type_named(id: Option<&String>) -> Result<&'static str, PortError> {
    match id {
        Some(id) => Ok(os_type::OS_TYPES
            .iter()
            .find(|o| o.id == id.as_str())
            .ok_or_else(|| unknown("ostypeid", id))?
            .description),
        None => Ok(DEFAULT_OS_TYPE),
    }
}

impl Translator {
    async fn zone_names(&self) -> Result<HashMap<String, String>, PortError> {
        let zones = infra::list_zones(self.pool()).await.map_err(port_error)?;
        Ok(zones.into_iter().map(|z| (z.id, z.name)).collect())
    }

    async fn iso_by_id(&self, param: &'static str, id: &str) -> Result<Iso, PortError> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| port_error(e.into()))?;
        iso::get(&mut conn, id)
            .await
            .map_err(port_error)?
            .ok_or_else(|| unknown(param, id))
    }

    /// An ISO the caller may change: its own, or one in an admin's tree.
    async fn iso_to_change(&self, caller: &Caller, id: &str) -> Result<Iso, PortError> {
        let found = self.iso_by_id("id", id).await?;
        let dir = self.directory().await?;
        if found.account_id != caller.account_id
            && !dir.admits(&caller_tree(caller), &found.account_id)
        {
            return Err(PortError::PermissionDenied(format!(
                "Account {} does not have permission to operate on ISO {id}",
                caller.account_name
            )));
        }
        Ok(found)
    }

    async fn one_iso_view(&self, i: &Iso) -> Result<wire::Template, PortError> {
        let dir = self.directory().await?;
        Ok(iso_view(&dir, i, &self.zone_names().await?))
    }

    pub(super) async fn list_isos_now(
        &self,
        caller: &Caller,
        req: &ListIsos,
    ) -> Result<Listing<wire::Template>, PortError> {
        let zone_names = self.zone_names().await?;
        if let Some(zone) = req
            .zone_id
            .as_ref()
            .filter(|z| !zone_names.contains_key(*z))
        {
            return Err(unknown("zoneid", zone));
        }
        let isos = iso::list_all(self.pool()).await.map_err(port_error)?;
        check_known("id", req.id.as_ref(), &isos, |i| &i.id)?;
        if req.filter == TemplateFilter::All && caller.role == Role::User {
            return Err(PortError::InvalidParameter(
                "Filter all can be specified by admin only".to_owned(),
            ));
        }
        let dir = self.directory().await?;
        let tree = caller_tree(caller);
        let own = |i: &Iso| i.account_id == caller.account_id;
        let admitted = |i: &Iso| match req.filter {
            TemplateFilter::Featured => i.is_public() && i.is_featured(),
            TemplateFilter::SelfOwned => own(i),
            TemplateFilter::SelfExecutable => own(i) && i.is_ready(),
            // LIMITATION: ISOs cannot be shared with other accounts yet.
            TemplateFilter::SharedExecutable => false,
            TemplateFilter::Executable => (own(i) || i.is_public()) && i.is_ready(),
            TemplateFilter::Community => i.is_public() && !i.is_featured(),
            TemplateFilter::All => i.is_public() || dir.admits(&tree, &i.account_id),
        };
        let items = isos
            .iter()
            .filter(|i| admitted(i))
            .filter(|i| same(req.id.as_ref(), &i.id) && same_name(req.name.as_ref(), &i.name))
            .filter(|i| same(req.zone_id.as_ref(), &i.zone_id))
            .filter(|i| req.bootable.is_none_or(|b| b == i.is_bootable()))
            .filter(|i| req.is_public.is_none_or(|p| p == i.is_public()))
            .filter(|i| req.is_ready.is_none_or(|r| r == i.is_ready()))
            .filter(|i| keyword_matches(req.keyword.as_deref(), &[&i.name, &i.display_text]))
            .map(|i| iso_view(&dir, i, &zone_names))
            .collect();
        Ok(req.page.slice(items))
    }

    pub(super) async fn register_iso_now(
        &self,
        caller: &Caller,
        req: &RegisterIso,
    ) -> Result<wire::Template, PortError> {
        let zone_names = self.zone_names().await?;
        if !zone_names.contains_key(&req.zone_id) {
            // LIMITATION: zoneid -1 (every zone) is not served: an ISO lives in one zone.
            return Err(unknown("zoneid", &req.zone_id));
        }
        let os_type = os_type_named(req.os_type_id.as_ref())?;
        if req.is_featured && caller.role != Role::RootAdmin {
            return Err(PortError::PermissionDenied(
                "Only the root admin may register a featured ISO".to_owned(),
            ));
        }
        let (account_id, _) = self
            .owner(caller, req.account.as_ref(), req.domain_id.as_ref())
            .await?;
        let new = NewIso {
            account_id,
            zone_id: req.zone_id.clone(),
            name: req.name.clone(),
            display_text: req.display_text.clone(),
            os_type: os_type.to_owned(),
            bootable: req.bootable,
            is_public: req.is_public,
            is_featured: req.is_featured,
            url: req.url.clone(),
            checksum: req.checksum.clone(),
        };
        let registered = self.cloud.isos.register(new).await.map_err(port_error)?;
        self.one_iso_view(&registered).await
    }

    pub(super) async fn update_iso_now(
        &self,
        caller: &Caller,
        req: &UpdateIso,
    ) -> Result<wire::Template, PortError> {
        let mut changed = self.iso_to_change(caller, &req.id).await?;
        if let Some(name) = &req.name {
            changed.name = name.clone();
        }
        if let Some(text) = &req.display_text {
            changed.display_text = text.clone();
        }
        if req.os_type_id.is_some() {
            changed.os_type = os_type_named(req.os_type_id.as_ref())?.to_owned();
        }
        if let Some(bootable) = req.bootable {
            changed.bootable = i64::from(bootable);
        }
        self.cloud.isos.update(&changed).await.map_err(port_error)?;
        self.one_iso_view(&changed).await
    }

    pub(super) async fn delete_iso_now(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<String, PortError> {
        let found = self.iso_to_change(caller, id).await?;
        self.cloud.isos.delete(&found).await.map_err(port_error)?;
        let job = NewApiJob {
            command: JobCommand::DeleteIso.api_name(),
            account_id: &caller.account_id,
            user_id: &caller.user_id,
            instance_id: None,
        };
        self.record_job(None, job).await
    }

    pub(super) async fn change_iso_drive_now(
        &self,
        caller: &Caller,
        req: &IsoDrive,
    ) -> Result<String, PortError> {
        let v = self
            .actionable(caller, "virtualmachineid", &req.virtual_machine_id)
            .await?;
        let o = &self.cloud.orchestrator;
        let user = caller.user_id.as_str();
        let (command, queued) = match &req.iso_id {
            Some(id) => {
                let found = self.iso_by_id("id", id).await?;
                // The ISO must be one the instance's owner may use: its own or a public one.
                if found.account_id != v.account_id && !found.is_public() {
                    return Err(PortError::PermissionDenied(format!(
                        "Account {} does not have permission to use ISO {id}",
                        v.account_name
                    )));
                }
                let queued = o.attach_iso(None, user, &v.id, &found).await;
                (JobCommand::AttachIso, queued)
            }
            None => (JobCommand::DetachIso, o.detach_iso(None, user, &v.id).await),
        };
        let queued = queued.map_err(port_error)?;
        let job = NewApiJob {
            command: command.api_name(),
            account_id: &v.account_id,
            user_id: user,
            instance_id: Some(&v.id),
        };
        self.record_job(Some(&queued.job_id), job).await
    }

    /// Writes the ISO in each instance's CD drive into its view.
    pub(super) async fn with_isos(
        &self,
        vms: &mut [wire::VirtualMachine],
    ) -> Result<(), PortError> {
        let ids: Vec<&str> = vms.iter().map(|v| v.id.as_str()).collect();
        let mut attached = iso::attached_to_many(self.pool(), &ids)
            .await
            .map_err(port_error)?;
        for vm in vms {
            if let Some(i) = attached.remove(&vm.id) {
                vm.isoid = Some(i.id);
                vm.isoname = Some(i.name);
                vm.isodisplaytext = Some(i.display_text);
            }
        }
        Ok(())
    }
}
