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
    GetUser, ListDomains, ListHypervisors, ListInfra, ListNamed, ListOwned, ListTemplates,
    ListVirtualMachines,
};
use crate::{Caller, NativePort, PortError};

/// Turns a port failure into the error a client sees; internal causes are logged, not sent.
pub(crate) fn port_failure(command: &str, e: PortError) -> ApiError {
    match e {
        PortError::UnknownId { param, value } => ApiError::unknown_id(command, param, &value),
        PortError::InvalidParameter(text) => ApiError::invalid_parameter(text),
        PortError::PermissionDenied(text) => ApiError::permission_denied(text),
        PortError::Internal(cause) => {
            tracing::error!(command, %cause, "the native port failed");
            ApiError::internal()
        }
    }
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
    let name = args.string("name").filter(|n| !n.is_empty());
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

/// Serves one command for an authenticated caller; `login` and `logout` never get here.
pub(crate) async fn run<P: NativePort + ?Sized>(
    port: &P,
    caller: &Caller,
    spec: &'static CommandSpec,
    args: &Args,
) -> Result<Value, ApiError> {
    let fail = |e| port_failure(spec.name, e);
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
    }
}
