//! Changes to an instance's settings that need no hypervisor work: its names, its user data
//! and, while it is stopped, its service offering and its SSH key pair. The orchestrator owns the instance's state;
//! these only write what it reads at the next start, and refuse while a job is pending.

use sqlx::AnyConnection;

use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::instance::{self, Instance, InstanceState};
use crate::model::offering::ServiceOffering;
use crate::now_ms;

/// What to change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct InstanceSettings {
    pub display_name: Option<String>,
    /// The host name; only while the instance is stopped.
    pub name: Option<String>,
    pub user_data: Option<String>,
}

async fn pending(db: &mut AnyConnection, id: &str) -> CoreResult<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE instance_id = $1 AND state IN ('queued', 'running') LIMIT 1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

fn stopped(i: &Instance, wanted: &str) -> CoreResult<()> {
    if i.state != InstanceState::Stopped || i.target_state.is_some() {
        return Err(CoreError::IncorrectState {
            kind: ResourceKind::Instance,
            id: i.id.clone(),
            state: i.state.as_str().to_owned(),
            wanted: wanted.to_owned(),
        });
    }
    Ok(())
}

/// The instance `id`, if it is stopped and no job is pending on it.
async fn stopped_and_idle(db: &mut AnyConnection, id: &str) -> CoreResult<Instance> {
    let i = instance::get(db, id).await?;
    stopped(&i, "Stopped")?;
    if pending(db, &i.id).await? {
        return Err(CoreError::IncorrectState {
            kind: ResourceKind::Instance,
            id: i.id.clone(),
            state: "busy with a pending job".to_owned(),
            wanted: "idle".to_owned(),
        });
    }
    Ok(i)
}

/// Applies `s` to the instance `id`; the instance as it is now.
pub async fn update(
    db: &mut AnyConnection,
    id: &str,
    s: &InstanceSettings,
) -> CoreResult<Instance> {
    let i = instance::get(db, id).await?;
    if matches!(i.state, InstanceState::Destroyed | InstanceState::Expunging) {
        return Err(CoreError::IncorrectState {
            kind: ResourceKind::Instance,
            id: i.id.clone(),
            state: i.state.as_str().to_owned(),
            wanted: "not destroyed".to_owned(),
        });
    }
    if let Some(name) = &s.name {
        if *name != i.name {
            stopped(&i, "Stopped to be renamed")?;
        }
    }
    sqlx::query(
        "UPDATE instances SET display_name = COALESCE($2, display_name), \
         name = COALESCE($3, name), user_data = COALESCE($4, user_data), updated_ms = $5 \
         WHERE id = $1",
    )
    .bind(&i.id)
    .bind(s.display_name.as_deref())
    .bind(s.name.as_deref())
    .bind(s.user_data.as_deref())
    .bind(now_ms())
    .execute(&mut *db)
    .await?;
    instance::get(db, &i.id).await
}

/// Gives a stopped instance another service offering (its CPUs and memory with it).
pub async fn change_offering(
    db: &mut AnyConnection,
    id: &str,
    offering: &ServiceOffering,
) -> CoreResult<Instance> {
    let i = stopped_and_idle(db, id).await?;
    sqlx::query(
        "UPDATE instances SET offering_id = $2, cpus = $3, memory_mib = $4, updated_ms = $5 \
         WHERE id = $1",
    )
    .bind(&i.id)
    .bind(&offering.id)
    .bind(offering.cpus)
    .bind(offering.memory_mib)
    .bind(now_ms())
    .execute(&mut *db)
    .await?;
    instance::get(db, &i.id).await
}

/// Gives a stopped instance another SSH key pair (by name, in its account); the next start
/// delivers that pair's public key.
pub async fn set_key_pair(
    db: &mut AnyConnection,
    id: &str,
    key_name: &str,
) -> CoreResult<Instance> {
    let i = stopped_and_idle(db, id).await?;
    sqlx::query("UPDATE instances SET key_name = $2, updated_ms = $3 WHERE id = $1")
        .bind(&i.id)
        .bind(key_name)
        .bind(now_ms())
        .execute(&mut *db)
        .await?;
    instance::get(db, &i.id).await
}
