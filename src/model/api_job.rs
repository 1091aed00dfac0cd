//! API jobs: which API command each asynchronous job was submitted as, so a door that reports
//! jobs by command (the native API's `queryAsyncJobResult`) can say so. A job whose work the
//! orchestrator does shares its id with the orchestrator's job (`backed`); a job that had no
//! work left after its request (a deployment left stopped) ended when it was made. The command
//! is an opaque label to the core; only the door that wrote it reads it.

use sqlx::AnyConnection;

use crate::error::CoreResult;
use crate::model::new_uuid;
use crate::now_ms;

/// What the job was submitted for.
#[derive(Debug, Clone, Copy)]
pub struct NewApiJob<'a> {
    pub command: &'a str,
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub instance_id: Option<&'a str>,
}

async fn insert(
    db: &mut AnyConnection,
    id: &str,
    job: NewApiJob<'_>,
    backed: bool,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO api_jobs (id, command, account_id, user_id, instance_id, backed, \
         created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(job.command)
    .bind(job.account_id)
    .bind(job.user_id)
    .bind(job.instance_id)
    .bind(i64::from(backed))
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// Labels the orchestrator job `job_id` with the command that queued it.
pub async fn label(db: &mut AnyConnection, job_id: &str, job: NewApiJob<'_>) -> CoreResult<()> {
    insert(db, job_id, job, true).await
}

/// Records a job that succeeded as it was made; its id.
pub async fn completed(db: &mut AnyConnection, job: NewApiJob<'_>) -> CoreResult<String> {
    let id = new_uuid();
    insert(db, &id, job, false).await?;
    Ok(id)
}
