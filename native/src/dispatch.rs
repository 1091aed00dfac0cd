//! The dispatcher: for an authenticated caller and a command resolved in the registry, decodes
//! the typed request, calls the port and shapes the reply body. The match over [`Command`] is
//! exhaustive, so every command in the registry has exactly one way to be served.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::args::{Args, Listing};
use crate::error::ApiError;
use crate::registry::{self, Command, CommandSpec, COMMANDS};
use crate::render;
use crate::requests::{
    AccountAction, AccountChange, AddHost, ById, ChangeServiceOffering, CreateAccount,
    CreateDiskOffering, CreateDomain, CreateServiceOffering, CreateUser, DeployVirtualMachine,
    GetUser, KeyPairRequest, ListDomains, ListForwardingRules, ListHypervisors, ListInfra,
    ListKeyPairs, ListLog, ListNamed, ListNetworks, ListOwned, ListPublicIps, ListTags,
    ListTemplates, ListVirtualMachines, QueryJob, ResetSshKey, TagRequest, UpdateAccount,
    UpdateNamed, UpdateUser, UpdateVirtualMachine, VmAction, VmRequest,
};
use crate::types::{AsyncJob, JobSubmitted};
use crate::wire::Timestamp;
use crate::{Caller, JobOutcome, JobStatus, JobView, NativePort, PortError};

/// What a caller other than the root admin reads when no host has room: CloudStack hides the
/// placement detail from them.
const CAPACITY_TEXT: &str = "Unable to create a deployment for the instance: not enough capacity";

/// Turns a port failure into the error a client sees; internal causes are logged, not sent.
pub(crate) fn port_failure(command: &str, e: PortError) -> ApiError {
    e.into_api_error(command)
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| {
        tracing::error!(error = %e, "a response object did not serialize");
        ApiError::internal()
    })
}

fn list<T: Serialize>(spec: &CommandSpec, listing: Listing<T>) -> Result<Value, ApiError> {
    let items = listing
        .items
        .iter()
        .map(to_value)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(render::list_body(spec.object, listing.count, items))
}

fn single<T: Serialize>(spec: &CommandSpec, item: &T) -> Result<Value, ApiError> {
    let mut body = Map::new();
    body.insert(spec.object.to_owned(), to_value(item)?);
    Ok(Value::Object(body))
}

/// `listApis`: the registry itself, filtered to what the caller's role may call.
fn list_apis(caller: &Caller, args: &Args) -> Result<Value, ApiError> {
    let name = args.non_empty("name");
    let apis: Vec<Value> = COMMANDS
        .iter()
        .filter(|c| c.access.allows(caller.role))
        .filter(|c| name.as_deref().is_none_or(|n| n == c.name))
        .map(registry::api_json)
        .collect();
    if let (Some(n), true) = (&name, apis.is_empty()) {
        return Err(ApiError::internal_with(format!(
            "API discovery found no API named {n} that this account may call"
        )));
    }
    Ok(render::list_body("api", apis.len() as u64, apis))
}

/// `{"<key>": object}`: a job's result.
fn keyed<T: Serialize>(key: &str, object: &T) -> Result<Value, ApiError> {
    let mut o = Map::new();
    o.insert(key.into(), to_value(object)?);
    Ok(Value::Object(o))
}

/// A job in CloudStack's shape: `jobresult` only once it ended, failures with HTTP 200.
pub(crate) fn job_json(job: &JobView) -> Result<AsyncJob, ApiError> {
    let (status, code, result) = match &job.status {
        JobStatus::Pending => (0, 0, None),
        JobStatus::Succeeded(JobOutcome::Success) => {
            (1, 0, Some(serde_json::json!({ "success": true })))
        }
        JobStatus::Succeeded(JobOutcome::Account(account)) => {
            (1, 0, Some(keyed("account", account)?))
        }
        JobStatus::Succeeded(JobOutcome::PublicIpAddress(ip)) => {
            (1, 0, Some(keyed("ipaddress", ip)?))
        }
        JobStatus::Succeeded(JobOutcome::SecurityGroup(group)) => {
            (1, 0, Some(keyed("securitygroup", group)?))
        }
        JobStatus::Succeeded(JobOutcome::Template(template)) => {
            let mut o = Map::new();
            o.insert("template".into(), to_value(template.as_ref())?);
            (1, 0, Some(Value::Object(o)))
        }
        JobStatus::Succeeded(JobOutcome::VirtualMachine(vm)) => {
            (1, 0, Some(keyed("virtualmachine", vm)?))
        }
        JobStatus::Succeeded(JobOutcome::Volume(volume)) => (1, 0, Some(keyed("volume", volume)?)),
        JobStatus::Succeeded(JobOutcome::Snapshot(snapshot)) => {
            (1, 0, Some(keyed("snapshot", snapshot)?))
        }
        JobStatus::Failed { code, text } => {
            let n = i64::from(code.number());
            (
                2,
                n,
                Some(serde_json::json!({ "errorcode": n, "errortext": text })),
            )
        }
    };
    Ok(AsyncJob {
        jobid: job.id.clone(),
        accountid: job.account_id.clone(),
        userid: job.user_id.clone(),
        cmd: job.command.class().to_owned(),
        jobstatus: status,
        jobprocstatus: 0,
        jobresultcode: code,
        jobresulttype: result.as_ref().map(|_| "object".to_owned()),
        jobresult: result,
        jobinstancetype: job.command.instance_type().map(str::to_owned),
        jobinstanceid: job.instance_id.clone(),
        created: Timestamp(job.created_ms),
        completed: job.completed_ms.map(Timestamp),
    })
}

/// `{"success": true}`: the reply of a command that only succeeds or fails.
fn success() -> Result<Value, ApiError> {
    to_value(&crate::types::Success {
        success: "true".to_owned(),
        displaytext: None,
    })
}

fn submitted(id: Option<String>, jobid: String) -> Result<Value, ApiError> {
    to_value(&JobSubmitted { id, jobid })
}

/// Serves one command for an authenticated caller; `login` and `logout` never get here.
pub(crate) async fn run<P: NativePort + ?Sized>(
    port: &P,
    caller: &Caller,
    spec: &'static CommandSpec,
    args: &Args,
) -> Result<Value, ApiError> {
    let root = caller.is_root_admin();
    let fail = |e| match e {
        PortError::InsufficientCapacity(text) if !root => {
            tracing::info!(command = spec.name, reason = %text, "no capacity");
            ApiError::insufficient_capacity(CAPACITY_TEXT)
        }
        e => port_failure(spec.name, e),
    };
    let vm_action = |action| VmRequest {
        id: args.string("id").unwrap_or_default(),
        action,
    };
    match spec.command {
        Command::Login | Command::Logout => Err(ApiError::internal()),
        Command::ListApis => list_apis(caller, args),
        Command::ListCapabilities => single(spec, &port.capabilities(caller).await.map_err(fail)?),
        Command::ListZones => {
            let req = ListInfra::decode(args)?;
            list(spec, port.list_zones(caller, &req).await.map_err(fail)?)
        }
        Command::ListPods => {
            let req = ListInfra::decode(args)?;
            list(spec, port.list_pods(caller, &req).await.map_err(fail)?)
        }
        Command::ListClusters => {
            let req = ListInfra::decode(args)?;
            list(spec, port.list_clusters(caller, &req).await.map_err(fail)?)
        }
        Command::ListHosts => {
            let req = ListInfra::decode(args)?;
            list(spec, port.list_hosts(caller, &req).await.map_err(fail)?)
        }
        Command::AddHost => {
            let req = AddHost::decode(args)?;
            list(spec, port.add_host(caller, &req).await.map_err(fail)?)
        }
        Command::ListHypervisors => {
            let req = ListHypervisors::decode(args);
            list(
                spec,
                port.list_hypervisors(caller, &req).await.map_err(fail)?,
            )
        }
        Command::ListServiceOfferings => {
            let req = ListNamed::decode(args)?;
            list(
                spec,
                port.list_service_offerings(caller, &req)
                    .await
                    .map_err(fail)?,
            )
        }
        Command::ListDiskOfferings => {
            let req = ListNamed::decode(args)?;
            list(
                spec,
                port.list_disk_offerings(caller, &req).await.map_err(fail)?,
            )
        }
        Command::ListTemplates => {
            let req = ListTemplates::decode(args)?;
            list(spec, port.list_templates(caller, &req).await.map_err(fail)?)
        }
        Command::RegisterTemplate => {
            let req = crate::templates::RegisterTemplate::decode(args)?;
            let template = port.register_template(caller, &req).await.map_err(fail)?;
            list(
                spec,
                Listing {
                    count: 1,
                    items: vec![template],
                },
            )
        }
        Command::UpdateTemplate => {
            let req = crate::templates::UpdateTemplate::decode(args);
            single(
                spec,
                &port.update_template(caller, &req).await.map_err(fail)?,
            )
        }
        Command::DeleteTemplate => {
            let id = args.string("id").unwrap_or_default();
            let job = port.delete_template(caller, &id).await.map_err(fail)?;
            submitted(None, job)
        }
        Command::CreateTemplate => {
            let req = crate::templates::CreateTemplate::decode(args)?;
            let (id, job) = port.create_template(caller, &req).await.map_err(fail)?;
            submitted(Some(id), job)
        }
        Command::UpdateTemplatePermissions => {
            let req = crate::templates::UpdateTemplatePermissions::decode(args)?;
            port.update_template_permissions(caller, &req)
                .await
                .map_err(fail)?;
            success()
        }
        Command::ListTemplatePermissions => {
            let id = args.string("id").unwrap_or_default();
            single(
                spec,
                &port
                    .list_template_permissions(caller, &id)
                    .await
                    .map_err(fail)?,
            )
        }
        Command::ListIsos => {
            let req = crate::isos::ListIsos::decode(args)?;
            list(spec, port.list_isos(caller, &req).await.map_err(fail)?)
        }
        Command::RegisterIso => {
            let req = crate::isos::RegisterIso::decode(args);
            let iso = port.register_iso(caller, &req).await.map_err(fail)?;
            list(
                spec,
                Listing {
                    count: 1,
                    items: vec![iso],
                },
            )
        }
        Command::UpdateIso => {
            let req = crate::isos::UpdateIso::decode(args);
            single(spec, &port.update_iso(caller, &req).await.map_err(fail)?)
        }
        Command::DeleteIso => {
            let id = args.string("id").unwrap_or_default();
            let job = port.delete_iso(caller, &id).await.map_err(fail)?;
            submitted(None, job)
        }
        Command::AttachIso | Command::DetachIso => {
            let attach = spec.command == Command::AttachIso;
            let req = crate::isos::IsoDrive::decode(args, attach);
            let job = port.change_iso_drive(caller, &req).await.map_err(fail)?;
            submitted(None, job)
        }
        Command::ListOsTypes => {
            let req = ListNamed::decode(args)?;
            list(spec, port.list_os_types(caller, &req).await.map_err(fail)?)
        }
        Command::ListDomains => {
            let req = ListDomains::decode(args)?;
            list(spec, port.list_domains(caller, &req).await.map_err(fail)?)
        }
        Command::ListAccounts => {
            let req = ListOwned::decode(args)?;
            list(spec, port.list_accounts(caller, &req).await.map_err(fail)?)
        }
        Command::ListUsers => {
            let req = ListOwned::decode(args)?;
            list(spec, port.list_users(caller, &req).await.map_err(fail)?)
        }
        Command::GetUser => {
            let req = GetUser::decode(args);
            single(spec, &port.get_user(caller, &req).await.map_err(fail)?)
        }
        Command::ListVirtualMachines => {
            let req = ListVirtualMachines::decode(args)?;
            list(
                spec,
                port.list_virtual_machines(caller, &req)
                    .await
                    .map_err(fail)?,
            )
        }
        Command::ListProjects => {
            let req = ListOwned::decode(args)?;
            list(spec, port.list_projects(caller, &req).await.map_err(fail)?)
        }
        Command::DeployVirtualMachine => {
            let req = DeployVirtualMachine::decode(args)?;
            let (id, job) = port
                .deploy_virtual_machine(caller, &req)
                .await
                .map_err(fail)?;
            submitted(Some(id), job)
        }
        Command::StartVirtualMachine
        | Command::StopVirtualMachine
        | Command::RebootVirtualMachine
        | Command::DestroyVirtualMachine
        | Command::ExpungeVirtualMachine => {
            let action = match spec.command {
                Command::StartVirtualMachine => VmAction::Start,
                Command::StopVirtualMachine => VmAction::Stop {
                    forced: args.flag("forced"),
                },
                Command::RebootVirtualMachine => VmAction::Reboot,
                Command::DestroyVirtualMachine => VmAction::Destroy {
                    expunge: args.flag("expunge"),
                },
                _ => VmAction::Expunge,
            };
            let req = vm_action(action);
            let job = port
                .virtual_machine_action(caller, &req)
                .await
                .map_err(fail)?;
            submitted(None, job)
        }
        Command::RecoverVirtualMachine => {
            let req = ById::decode(args);
            let vm = port
                .recover_virtual_machine(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &vm)
        }
        Command::UpdateVirtualMachine => {
            let req = UpdateVirtualMachine::decode(args)?;
            let vm = port
                .update_virtual_machine(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &vm)
        }
        Command::ChangeServiceForVirtualMachine => {
            let req = ChangeServiceOffering::decode(args);
            let vm = port
                .change_service_offering(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &vm)
        }
        Command::ResetSshKeyForVirtualMachine => {
            let req = ResetSshKey::decode(args)?;
            submitted(None, port.reset_ssh_key(caller, &req).await.map_err(fail)?)
        }
        Command::QueryAsyncJobResult => {
            let req = QueryJob::decode(args);
            let job = port.job(caller, &req).await.map_err(fail)?;
            to_value(&job_json(&job)?)
        }
        Command::ListAsyncJobs => {
            let req = ListLog::decode(args)?;
            let jobs = port.list_jobs(caller, &req).await.map_err(fail)?;
            let items = jobs
                .items
                .iter()
                .map(job_json)
                .collect::<Result<Vec<_>, _>>()?;
            list(
                spec,
                Listing {
                    count: jobs.count,
                    items,
                },
            )
        }
        Command::ListEvents => {
            let req = ListLog::decode(args)?;
            list(spec, port.list_events(caller, &req).await.map_err(fail)?)
        }
        Command::ListPublicIpAddresses => {
            let req = ListPublicIps::decode(args)?;
            list(
                spec,
                port.list_public_ip_addresses(caller, &req)
                    .await
                    .map_err(fail)?,
            )
        }
        Command::CreateServiceOffering => {
            let req = CreateServiceOffering::decode(args)?;
            let o = port
                .create_service_offering(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &o)
        }
        Command::UpdateServiceOffering => {
            let req = UpdateNamed::decode(args);
            let o = port
                .update_service_offering(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &o)
        }
        Command::DeleteServiceOffering => {
            let req = ById::decode(args);
            port.delete_service_offering(caller, &req)
                .await
                .map_err(fail)?;
            success()
        }
        Command::CreateDiskOffering => {
            let req = CreateDiskOffering::decode(args)?;
            let o = port
                .create_disk_offering(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &o)
        }
        Command::DeleteDiskOffering => {
            let req = ById::decode(args);
            port.delete_disk_offering(caller, &req)
                .await
                .map_err(fail)?;
            success()
        }
        Command::CreateDomain => {
            let req = CreateDomain::decode(args);
            single(spec, &port.create_domain(caller, &req).await.map_err(fail)?)
        }
        Command::UpdateDomain => {
            let req = UpdateNamed::decode(args);
            single(spec, &port.update_domain(caller, &req).await.map_err(fail)?)
        }
        Command::DeleteDomain => {
            if args.flag("cleanup") {
                // LIMITATION: a domain is deleted only once it is empty.
                return Err(ApiError::invalid_parameter(
                    "cleanup=true is not served: delete the domain's accounts and domains first",
                ));
            }
            let req = ById::decode(args);
            submitted(None, port.delete_domain(caller, &req).await.map_err(fail)?)
        }
        Command::CreateAccount => {
            let req = CreateAccount::decode(args)?;
            single(
                spec,
                &port.create_account(caller, &req).await.map_err(fail)?,
            )
        }
        Command::UpdateAccount => {
            let req = UpdateAccount::decode(args)?;
            single(
                spec,
                &port.update_account(caller, &req).await.map_err(fail)?,
            )
        }
        Command::DeleteAccount | Command::DisableAccount | Command::EnableAccount => {
            let change = match spec.command {
                Command::DeleteAccount => AccountChange::Delete,
                Command::DisableAccount => AccountChange::Disable {
                    lock: args.flag("lock"),
                },
                _ => AccountChange::Enable,
            };
            let req = AccountAction::decode(args, change)?;
            match port.account_state(caller, &req).await.map_err(fail)? {
                Ok(job) => submitted(None, job),
                Err(account) => single(spec, &account),
            }
        }
        Command::CreateUser => {
            let req = CreateUser::decode(args);
            single(spec, &port.create_user(caller, &req).await.map_err(fail)?)
        }
        Command::UpdateUser => {
            let req = UpdateUser::decode(args);
            single(spec, &port.update_user(caller, &req).await.map_err(fail)?)
        }
        Command::DeleteUser => {
            let req = ById::decode(args);
            port.delete_user(caller, &req).await.map_err(fail)?;
            success()
        }
        Command::RegisterUserKeys | Command::GetUserKeys => {
            let req = ById::decode(args);
            let register = spec.command == Command::RegisterUserKeys;
            let keys = port.user_keys(caller, &req, register).await.map_err(fail)?;
            single(spec, &keys)
        }
        Command::CreateSshKeyPair | Command::RegisterSshKeyPair => {
            let req = KeyPairRequest::decode(args);
            single(spec, &port.add_key_pair(caller, &req).await.map_err(fail)?)
        }
        Command::ListVolumes => {
            let req = crate::volumes::ListVolumes::decode(args)?;
            list(spec, port.list_volumes(caller, &req).await.map_err(fail)?)
        }
        Command::ListSnapshots => {
            let req = crate::volumes::ListVolumes::decode(args)?;
            list(spec, port.list_snapshots(caller, &req).await.map_err(fail)?)
        }
        Command::CreateVolume => {
            let req = crate::volumes::CreateVolume::decode(args)?;
            let (id, job) = port.create_volume(caller, &req).await.map_err(fail)?;
            submitted(Some(id), job)
        }
        Command::AttachVolume | Command::DetachVolume | Command::ResizeVolume => {
            let req = match spec.command {
                Command::AttachVolume => crate::volumes::VolumeJob::attach(args),
                Command::DetachVolume => crate::volumes::VolumeJob::detach(args)?,
                _ => crate::volumes::VolumeJob::resize(args),
            };
            submitted(None, port.volume_job(caller, &req).await.map_err(fail)?)
        }
        Command::DeleteVolume => {
            let req = ById::decode(args);
            port.delete_volume(caller, &req).await.map_err(fail)?;
            success()
        }
        Command::CreateSnapshot => {
            let req = crate::volumes::CreateSnapshot::decode(args);
            let (id, job) = port.create_snapshot(caller, &req).await.map_err(fail)?;
            submitted(Some(id), job)
        }
        Command::DeleteSnapshot => {
            let req = ById::decode(args);
            submitted(
                None,
                port.delete_snapshot(caller, &req).await.map_err(fail)?,
            )
        }
        Command::ListSshKeyPairs => {
            let req = ListKeyPairs::decode(args)?;
            list(spec, port.list_key_pairs(caller, &req).await.map_err(fail)?)
        }
        Command::DeleteSshKeyPair => {
            let req = KeyPairRequest::decode(args);
            port.delete_key_pair(caller, &req).await.map_err(fail)?;
            success()
        }
        Command::CreateTags | Command::DeleteTags => {
            let req = TagRequest::decode(args)?;
            let delete = spec.command == Command::DeleteTags;
            let job = port.change_tags(caller, &req, delete).await.map_err(fail)?;
            submitted(None, job)
        }
        Command::ListTags => {
            let req = ListTags::decode(args)?;
            list(spec, port.list_tags(caller, &req).await.map_err(fail)?)
        }
        Command::ListNetworks => {
            let req = ListNetworks::decode(args)?;
            list(spec, port.list_networks(caller, &req).await.map_err(fail)?)
        }
        Command::ListVpcs => {
            let req = ListNetworks::decode(args)?;
            list(spec, port.list_vpcs(caller, &req).await.map_err(fail)?)
        }
        Command::AssociateIpAddress => {
            let req = crate::requests::AcquireIp::decode(args)?;
            let (id, job) = port.acquire_ip(caller, &req).await.map_err(fail)?;
            submitted(Some(id), job)
        }
        Command::DisassociateIpAddress => {
            let req = crate::requests::IpRequest::decode(args);
            submitted(None, port.release_ip(caller, &req).await.map_err(fail)?)
        }
        Command::EnableStaticNat => {
            let req = crate::requests::EnableStaticNat::decode(args);
            port.enable_static_nat(caller, &req).await.map_err(fail)?;
            success()
        }
        Command::DisableStaticNat => {
            let req = crate::requests::IpRequest::decode(args);
            let job = port.disable_static_nat(caller, &req).await.map_err(fail)?;
            submitted(None, job)
        }
        Command::CreateSecurityGroup => {
            let req = crate::requests::CreateSecurityGroup::decode(args);
            let group = port
                .create_security_group(caller, &req)
                .await
                .map_err(fail)?;
            single(spec, &group)
        }
        Command::ListSecurityGroups => {
            let req = crate::requests::ListSecurityGroups::decode(args)?;
            let groups = port
                .list_security_groups(caller, &req)
                .await
                .map_err(fail)?;
            list(spec, groups)
        }
        Command::DeleteSecurityGroup => {
            let req = crate::requests::DeleteSecurityGroup::decode(args)?;
            port.delete_security_group(caller, &req)
                .await
                .map_err(fail)?;
            success()
        }
        Command::AuthorizeSecurityGroupIngress | Command::AuthorizeSecurityGroupEgress => {
            let req = crate::requests::AuthorizeRules::decode(args)?;
            let egress = spec.command == Command::AuthorizeSecurityGroupEgress;
            let job = port
                .authorize_rules(caller, &req, egress)
                .await
                .map_err(fail)?;
            submitted(None, job)
        }
        Command::RevokeSecurityGroupIngress | Command::RevokeSecurityGroupEgress => {
            let req = ById::decode(args);
            let egress = spec.command == Command::RevokeSecurityGroupEgress;
            let job = port.revoke_rule(caller, &req, egress).await.map_err(fail)?;
            submitted(None, job)
        }
        Command::ListNetworkOfferings => {
            let req = crate::requests::ListOfferings::decode(args)?;
            let offerings = port
                .list_network_offerings(caller, &req)
                .await
                .map_err(fail)?;
            list(spec, offerings)
        }
        Command::ListVpcOfferings => {
            let req = crate::requests::ListOfferings::decode(args)?;
            list(
                spec,
                port.list_vpc_offerings(caller, &req).await.map_err(fail)?,
            )
        }
        Command::ListNics => {
            let req = ListNetworks::decode(args)?;
            list(spec, port.list_nics(caller, &req).await.map_err(fail)?)
        }
        Command::ListPortForwardingRules | Command::ListIpForwardingRules => {
            let req = ListForwardingRules::decode(args)?;
            let static_nat = spec.command == Command::ListIpForwardingRules;
            list(
                spec,
                port.list_forwarding_rules(caller, &req, static_nat)
                    .await
                    .map_err(fail)?,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::types::VirtualMachine;
    use crate::JobCommand;

    fn job(status: JobStatus) -> JobView {
        JobView {
            id: "j".into(),
            account_id: "a".into(),
            user_id: "u".into(),
            command: JobCommand::DeployVirtualMachine,
            instance_id: Some("i".into()),
            status,
            created_ms: 0,
            completed_ms: None,
        }
    }

    fn shape(status: JobStatus) -> Value {
        job_json(&job(status))
            .and_then(|j| to_value(&j))
            .unwrap_or_default()
    }

    #[test]
    fn a_pending_job_has_no_result() {
        let v = shape(JobStatus::Pending);
        assert_eq!(v["jobstatus"], 0);
        assert_eq!(v["jobresultcode"], 0);
        assert!(v.get("jobresult").is_none() && v.get("jobresulttype").is_none());
        assert!(v.get("completed").is_none());
        assert_eq!(
            v["cmd"],
            "org.apache.cloudstack.api.command.user.vm.DeployVMCmd"
        );
        assert_eq!(v["jobinstancetype"], "VirtualMachine");
        assert_eq!(v["jobinstanceid"], "i");
        assert_eq!(v["created"], "1970-01-01T00:00:00+0000");
    }

    #[test]
    fn a_finished_job_carries_its_object() {
        let vm = VirtualMachine {
            id: "i".into(),
            state: "Running".into(),
            ..VirtualMachine::default()
        };
        let v = shape(JobStatus::Succeeded(JobOutcome::VirtualMachine(Box::new(
            vm,
        ))));
        assert_eq!(v["jobstatus"], 1);
        assert_eq!(v["jobresulttype"], "object");
        assert_eq!(v["jobresult"]["virtualmachine"]["state"], "Running");
        let v = shape(JobStatus::Succeeded(JobOutcome::Success));
        assert_eq!(v["jobresult"], serde_json::json!({"success": true}));
    }

    #[test]
    fn a_failed_job_reports_code_and_text() {
        let v = shape(JobStatus::Failed {
            code: ErrorCode::InsufficientCapacity,
            text: "no room".into(),
        });
        assert_eq!(v["jobstatus"], 2);
        assert_eq!(v["jobresultcode"], 533);
        assert_eq!(
            v["jobresult"],
            serde_json::json!({"errorcode": 533, "errortext": "no room"})
        );
    }

    #[test]
    fn capacity_and_use_errors_keep_their_codes() {
        for (e, n) in [
            (PortError::InsufficientCapacity("x".into()), 533),
            (PortError::ResourceInUse("x".into()), 536),
            (PortError::ResourceAllocation("x".into()), 535),
            (PortError::NotImplemented("x"), 432),
            (PortError::Internal("secret cause".into()), 530),
        ] {
            let err = port_failure("deployVirtualMachine", e);
            assert_eq!(err.code.number(), n);
            assert!(!err.text.contains("secret cause"));
        }
    }
}
