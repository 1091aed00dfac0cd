//! The durable job queue. A job is a row: queued, then running under a lease held by one
//! management server, then succeeded or failed. A server renews the lease while it works; when
//! a server dies its leases lapse and another server takes the job over and runs it again
//! (every job kind is written so running it twice does no harm). Jobs on one instance run one
//! at a time, in the order they were queued.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::new_uuid;
use crate::now_ms;
use crate::store::Store;

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Boot a Starting instance on the host it was placed on.
    StartInstance,
    /// Power a Stopping instance down; `force` skips the graceful power-down.
    StopInstance {
        force: bool,
    },
    RebootInstance,
    /// Stop (if running) and mark an instance Destroyed; `expunge` removes it at once.
    DestroyInstance {
        expunge: bool,
    },
    /// Remove a Destroyed instance from its host and from the store.
    ExpungeInstance,
    /// Put the ISO the instance records into its CD drive (a running guest gets it now).
    AttachIso {
        iso_id: String,
    },
    /// Eject the instance's ISO.
    DetachIso,
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::StartInstance => "StartInstance",
            Self::StopInstance { .. } => "StopInstance",
            Self::RebootInstance => "RebootInstance",
            Self::DestroyInstance { .. } => "DestroyInstance",
            Self::ExpungeInstance => "ExpungeInstance",
            Self::AttachIso { .. } => "AttachIso",
            Self::DetachIso => "DetachIso",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub instance_id: Option<String>,
    pub account_id: String,
    pub user_id: String,
    pub payload: String,
    pub state: String,
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub attempts: i64,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub deadline_ms: i64,
}

/// A job as the doors see it.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: JobRow,
    pub kind: JobKind,
    pub state: JobState,
}

impl std::ops::Deref for Job {
    type Target = JobRow;

    fn deref(&self) -> &JobRow {
        &self.row
    }
}

impl TryFrom<JobRow> for Job {
    type Error = CoreError;

    fn try_from(row: JobRow) -> CoreResult<Self> {
        let kind = serde_json::from_str(&row.payload).map_err(|e| {
            CoreError::Internal(format!("job {} has payload {:?}: {e}", row.id, row.payload))
        })?;
        let state = JobState::parse(&row.state).ok_or_else(|| {
            CoreError::Internal(format!("job {} has state {:?}", row.id, row.state))
        })?;
        Ok(Self { row, kind, state })
    }
}

/// Why a job failed: a code the doors map onto theirs, and a sentence.
#[derive(Debug, Clone)]
pub struct JobFailure {
    pub code: FailureCode,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The hypervisor failed the operation.
    HostFailed,
    /// The job ran out of time.
    TimedOut,
    /// The instance was not in a state the job could work on.
    IncorrectState,
    /// No room on any host.
    InsufficientCapacity,
    /// Our own fault.
    Internal,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HostFailed => "HostFailed",
            Self::TimedOut => "TimedOut",
            Self::IncorrectState => "IncorrectState",
            Self::InsufficientCapacity => "InsufficientCapacity",
            Self::Internal => "Internal",
        }
    }

    pub fn parse(s: &str) -> Self {
        [
            Self::HostFailed,
            Self::TimedOut,
            Self::IncorrectState,
            Self::InsufficientCapacity,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .unwrap_or(Self::Internal)
    }
}

/// Queues a job; it runs once every earlier job on the same instance has finished.
pub async fn enqueue(
    db: &mut AnyConnection,
    kind: &JobKind,
    instance_id: Option<&str>,
    account_id: &str,
    user_id: &str,
    timeout_ms: i64,
) -> CoreResult<String> {
    let id = new_uuid();
    let now = now_ms();
    let payload = serde_json::to_string(kind).map_err(|e| CoreError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO jobs (id, kind, instance_id, account_id, user_id, payload, state, attempts, \
         created_ms, deadline_ms) VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8)",
    )
    .bind(&id)
    .bind(kind.name())
    .bind(instance_id)
    .bind(account_id)
    .bind(user_id)
    .bind(payload)
    .bind(now)
    .bind(now + timeout_ms)
    .execute(db)
    .await?;
    Ok(id)
}

/// The jobs this server may take now: queued ones first in line for their instance, and
/// running ones whose lease has lapsed (their server is gone).
// LIMITATION: any server takes any job, whatever host the instance is on. That holds for
// simulated hosts (their state is in the database) but not for QEMU hosts, which only the
// server on that machine can drive: a server without that host fails the job. Claiming by the
// hosts a server drives waits for `cirrus agent` on each hypervisor host.
const CLAIMABLE: &str = "\
    SELECT j.id FROM jobs j \
    WHERE (j.state = 'queued' AND NOT EXISTS ( \
              SELECT 1 FROM jobs k WHERE k.instance_id = j.instance_id AND k.id <> j.id \
              AND (k.state = 'running' OR (k.state = 'queued' AND (k.created_ms < j.created_ms \
                   OR (k.created_ms = j.created_ms AND k.id < j.id)))))) \
       OR (j.state = 'running' AND j.lease_until_ms < $1) \
    ORDER BY j.created_ms, j.id LIMIT $2";

/// Takes up to `limit` jobs under a lease for `owner`.
pub async fn claim(
    db: &mut AnyConnection,
    owner: &str,
    lease_ms: i64,
    limit: i64,
) -> CoreResult<Vec<Job>> {
    let now = now_ms();
    let ids: Vec<(String,)> = sqlx::query_as(CLAIMABLE)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *db)
        .await?;
    let mut claimed = Vec::new();
    for (id,) in ids {
        let row: Option<JobRow> = sqlx::query_as(
            "UPDATE jobs SET state = 'running', lease_owner = $2, lease_until_ms = $3, \
             attempts = attempts + 1, started_ms = COALESCE(started_ms, $4) \
             WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND lease_until_ms < $4)) \
             RETURNING *",
        )
        .bind(&id)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&mut *db)
        .await?;
        if let Some(row) = row {
            claimed.push(Job::try_from(row)?);
        }
    }
    Ok(claimed)
}

/// Extends this server's lease on a job; false if the lease was lost to another server.
pub async fn renew(store: &Store, id: &str, owner: &str, lease_ms: i64) -> CoreResult<bool> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE jobs SET lease_until_ms = $3 WHERE id = $1 AND lease_owner = $2 \
         AND state = 'running'",
    )
    .bind(id)
    .bind(owner)
    .bind(now_ms() + lease_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Records a job's end, if this server still holds it; false if it does not.
pub async fn finish(
    db: &mut AnyConnection,
    id: &str,
    owner: &str,
    outcome: Result<Option<String>, &JobFailure>,
) -> CoreResult<bool> {
    let (state, result, code, text) = match outcome {
        Ok(result) => (JobState::Succeeded, result, None, None),
        Err(f) => (
            JobState::Failed,
            None,
            Some(f.code.as_str()),
            Some(f.text.as_str()),
        ),
    };
    let done = sqlx::query(
        "UPDATE jobs SET state = $3, result = $4, error_code = $5, error_text = $6, \
         finished_ms = $7, lease_owner = NULL, lease_until_ms = NULL \
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(owner)
    .bind(state.as_str())
    .bind(result)
    .bind(code)
    .bind(text)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(db: &AnyPool, id: &str) -> CoreResult<Job> {
    sqlx::query_as::<_, JobRow>("SELECT * FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| CoreError::not_found(ResourceKind::Job, id))?
        .try_into()
}

/// The account's jobs, newest first.
pub async fn list_for_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Job>> {
    sqlx::query_as::<_, JobRow>(
        "SELECT * FROM jobs WHERE account_id = $1 ORDER BY created_ms DESC, id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(Job::try_from)
    .collect()
}

/// Whether a job on the instance is queued or running.
pub async fn instance_busy(db: &mut AnyConnection, instance_id: &str) -> CoreResult<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE instance_id = $1 AND state IN ('queued', 'running') LIMIT 1",
    )
    .bind(instance_id)
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}
