//! Instances (CloudStack virtual machines): an offering's worth of CPU and memory on a host,
//! booted from a template, owned by an account. The state machine and the jobs that move an
//! instance through it belong to the orchestrator; this module only reads and writes rows.

use sqlx::AnyPool;

use crate::error::CoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Instance {
    pub id: String,
    pub ec2_id: String,
    pub name: String,
    pub display_name: String,
    pub account_id: String,
    pub zone_id: String,
    pub host_id: Option<String>,
    pub offering_id: String,
    pub template_id: String,
    pub state: String,
    pub created_ms: i64,
}

/// The account's instances, oldest first.
pub async fn list_for_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Instance>> {
    Ok(sqlx::query_as::<_, Instance>(
        "SELECT * FROM instances WHERE account_id = $1 ORDER BY created_ms, id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}
