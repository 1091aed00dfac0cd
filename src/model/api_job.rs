//! API jobs: which API command each asynchronous job was submitted as, so a door that reports
//! jobs by command (the native API's `queryAsyncJobResult`) can say so. A job whose work the
//! orchestrator does shares its id with the orchestrator's job (`backed`); a job that had no
//! work left after its request (a deployment left stopped) ended when it was made; a job the
//! door runs itself is `running` until the door records how it ended. The command and the
//! error code of a failed job are opaque labels to the core; only the door that wrote them
//! reads them.

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

/// How a job a door runs itself ended: its error code (the door's own) and text on failure.
pub type Outcome<'a> = Result<(), (&'a str, &'a str)>;

async fn insert(
    db: &mut AnyConnection,
    id: &str,
    job: NewApiJob<'_>,
    backed: bool,
    state: &str,
) -> CoreResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO api_jobs (id, command, account_id, user_id, instance_id, backed, \
         created_ms, state, finished_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(job.command)
    .bind(job.account_id)
    .bind(job.user_id)
    .bind(job.instance_id)
    .bind(i64::from(backed))
    .bind(now)
    .bind(state)
    .bind((state != RUNNING).then_some(now))
    .execute(db)
    .await?;
    Ok(())
}

const RUNNING: &str = "running";

/// Labels the orchestrator job `job_id` with the command that queued it.
pub async fn label(db: &mut AnyConnection, job_id: &str, job: NewApiJob<'_>) -> CoreResult<()> {
    insert(db, job_id, job, true, "succeeded").await
}

/// Records a job that succeeded as it was made; its id.
pub async fn completed(db: &mut AnyConnection, job: NewApiJob<'_>) -> CoreResult<String> {
    let id = new_uuid();
    insert(db, &id, job, false, "succeeded").await?;
    Ok(id)
}

/// Records a job the door runs itself, running until [`finish`]; its id.
pub async fn running(db: &mut AnyConnection, job: NewApiJob<'_>) -> CoreResult<String> {
    let id = new_uuid();
    insert(db, &id, job, false, RUNNING).await?;
    Ok(id)
}

/// Records how a running job ended.
pub async fn finish(db: &mut AnyConnection, id: &str, outcome: Outcome<'_>) -> CoreResult<()> {
    let (state, code, text) = match outcome {
        Ok(()) => ("succeeded", None, None),
        Err((code, text)) => ("failed", Some(code), Some(text)),
    };
    sqlx::query(
        "UPDATE api_jobs SET state = $2, error_code = $3, error_text = $4, finished_ms = $5 \
         WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .bind(state)
    .bind(code)
    .bind(text)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}
