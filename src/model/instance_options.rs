//! Per-instance options beside the orchestrator's row: termination and stop protection, what a
//! shutdown from inside the guest does, the root device's name and size, and the digests of
//! launch requests (so the same client token with other parameters is told apart from a retry).
//! Also the few changes to an instance's own row that are allowed only while it is stopped
//! (its offering and its user data), and how its metadata service answers the guest (kept only
//! where that differs from the defaults).

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult};
use crate::model::flag;
use crate::model::instance::InstanceState;
use crate::model::offering::ServiceOffering;
use crate::now_ms;

/// What a shutdown from inside the guest does.
pub const SHUTDOWN_STOP: &str = "stop";
pub const SHUTDOWN_TERMINATE: &str = "terminate";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceOptions {
    pub instance_id: String,
    pub termination_protection: i64,
    pub stop_protection: i64,
    pub shutdown_behaviour: String,
    pub root_device_name: String,
    pub root_size_gib: i64,
}

impl InstanceOptions {
    pub fn new(instance_id: &str, root_device_name: &str, root_size_gib: i64) -> Self {
        Self {
            instance_id: instance_id.to_owned(),
            termination_protection: 0,
            stop_protection: 0,
            shutdown_behaviour: SHUTDOWN_STOP.to_owned(),
            root_device_name: root_device_name.to_owned(),
            root_size_gib,
        }
    }

    pub fn termination_protected(&self) -> bool {
        flag(self.termination_protection)
    }

    pub fn stop_protected(&self) -> bool {
        flag(self.stop_protection)
    }
}

pub async fn insert(db: &mut AnyConnection, o: &InstanceOptions) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO instance_options (instance_id, termination_protection, stop_protection, \
         shutdown_behaviour, root_device_name, root_size_gib) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&o.instance_id)
    .bind(o.termination_protection)
    .bind(o.stop_protection)
    .bind(&o.shutdown_behaviour)
    .bind(&o.root_device_name)
    .bind(o.root_size_gib)
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces an instance's options (inserting them for an instance launched without any).
pub async fn save(db: &mut AnyConnection, o: &InstanceOptions) -> CoreResult<()> {
    sqlx::query("DELETE FROM instance_options WHERE instance_id = $1")
        .bind(&o.instance_id)
        .execute(&mut *db)
        .await?;
    insert(db, o).await
}

pub async fn get(db: &mut AnyConnection, instance_id: &str) -> CoreResult<Option<InstanceOptions>> {
    Ok(
        sqlx::query_as("SELECT * FROM instance_options WHERE instance_id = $1")
            .bind(instance_id)
            .fetch_optional(db)
            .await?,
    )
}

/// The options of every instance of the account.
pub async fn of_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<InstanceOptions>> {
    Ok(sqlx::query_as(
        "SELECT o.* FROM instance_options o JOIN instances i ON i.id = o.instance_id \
         WHERE i.account_id = $1",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

fn must_be_stopped(id: &str, state: &str, what: &str) -> CoreError {
    CoreError::IncorrectState {
        kind: crate::error::ResourceKind::Instance,
        id: id.to_owned(),
        state: state.to_owned(),
        wanted: format!("{} to change its {what}", InstanceState::Stopped.as_str()),
    }
}

async fn stopped_state(db: &mut AnyConnection, instance_id: &str) -> CoreResult<(String, bool)> {
    let (state, target): (String, Option<String>) =
        sqlx::query_as("SELECT state, target_state FROM instances WHERE id = $1")
            .bind(instance_id)
            .fetch_one(db)
            .await?;
    let stopped = state == InstanceState::Stopped.as_str() && target.is_none();
    Ok((state, stopped))
}

/// Gives a stopped instance another offering (its CPUs and memory follow at the next start).
pub async fn change_offering(
    db: &mut AnyConnection,
    instance_id: &str,
    offering: &ServiceOffering,
) -> CoreResult<()> {
    let (state, stopped) = stopped_state(db, instance_id).await?;
    if !stopped {
        return Err(must_be_stopped(instance_id, &state, "offering"));
    }
    sqlx::query(
        "UPDATE instances SET offering_id = $2, cpus = $3, memory_mib = $4, updated_ms = $5 \
         WHERE id = $1",
    )
    .bind(instance_id)
    .bind(&offering.id)
    .bind(offering.cpus)
    .bind(offering.memory_mib)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces a stopped instance's user data.
pub async fn change_user_data(
    db: &mut AnyConnection,
    instance_id: &str,
    user_data: Option<&str>,
) -> CoreResult<()> {
    let (state, stopped) = stopped_state(db, instance_id).await?;
    if !stopped {
        return Err(must_be_stopped(instance_id, &state, "user data"));
    }
    sqlx::query("UPDATE instances SET user_data = $2, updated_ms = $3 WHERE id = $1")
        .bind(instance_id)
        .bind(user_data)
        .bind(now_ms())
        .execute(db)
        .await?;
    Ok(())
}

/// The digest recorded for a client token, if the account launched with it before.
pub async fn launch_digest(
    db: &AnyPool,
    account_id: &str,
    client_token: &str,
) -> CoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT digest FROM launch_requests WHERE account_id = $1 AND client_token = $2",
    )
    .bind(account_id)
    .bind(client_token)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(d,)| d))
}

/// Records the digest of a launch's parameters under its client token (once).
pub async fn record_launch(
    db: &mut AnyConnection,
    account_id: &str,
    client_token: &str,
    digest: &str,
    reservation_id: &str,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO launch_requests (account_id, client_token, digest, reservation_id, \
         created_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, client_token) DO NOTHING",
    )
    .bind(account_id)
    .bind(client_token)
    .bind(digest)
    .bind(reservation_id)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// How an instance's metadata service answers its guest.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MetadataOptions {
    pub instance_id: String,
    pub account_id: String,
    /// `optional` or `required` (session tokens only).
    pub http_tokens: String,
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    pub hop_limit: i64,
    pub http_protocol_ipv6: String,
    pub instance_metadata_tags: String,
}

/// The metadata options of an account's instances that have any, by instance id; `ids` narrows
/// the read to those instances.
pub async fn metadata_options(
    db: &AnyPool,
    account_id: &str,
    ids: Option<&[&str]>,
) -> CoreResult<HashMap<String, MetadataOptions>> {
    let rows: Vec<MetadataOptions> =
        sqlx::query_as("SELECT * FROM instance_metadata_options WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .filter(|m| ids.is_none_or(|ids| ids.contains(&m.instance_id.as_str())))
        .map(|m| (m.instance_id.clone(), m))
        .collect())
}

/// Records an instance's metadata options, replacing any it had.
pub async fn save_metadata_options(db: &mut AnyConnection, m: &MetadataOptions) -> CoreResult<()> {
    sqlx::query("DELETE FROM instance_metadata_options WHERE instance_id = $1")
        .bind(&m.instance_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "INSERT INTO instance_metadata_options (instance_id, account_id, http_tokens, \
         http_endpoint, hop_limit, http_protocol_ipv6, instance_metadata_tags) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&m.instance_id)
    .bind(&m.account_id)
    .bind(&m.http_tokens)
    .bind(&m.http_endpoint)
    .bind(m.hop_limit)
    .bind(&m.http_protocol_ipv6)
    .bind(&m.instance_metadata_tags)
    .execute(db)
    .await?;
    Ok(())
}
