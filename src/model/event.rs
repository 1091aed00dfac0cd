//! The event log: one row per thing that happened to an account's resources (an instance
//! created, started, stopped, failed), shown by native listEvents.

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreResult;
use crate::model::new_uuid;
use crate::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    /// CloudStack's event type, e.g. `VM.CREATE`, `VM.START`.
    pub kind: String,
    pub level: String,
    /// Scheduled, Started, Completed or Created.
    pub state: String,
    pub resource_id: Option<String>,
    pub description: String,
    pub created_ms: i64,
}

/// What is recorded.
pub struct NewEvent<'a> {
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub level: Level,
    pub state: &'a str,
    pub resource_id: Option<&'a str>,
    pub description: String,
}

pub async fn record(db: &mut AnyConnection, e: NewEvent<'_>) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO events (id, account_id, user_id, kind, level, state, resource_id, \
         description, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_uuid())
    .bind(e.account_id)
    .bind(e.user_id)
    .bind(e.kind)
    .bind(e.level.as_str())
    .bind(e.state)
    .bind(e.resource_id)
    .bind(&e.description)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// The account's events, newest first.
pub async fn list_for_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Event>> {
    Ok(sqlx::query_as::<_, Event>(
        "SELECT * FROM events WHERE account_id = $1 ORDER BY created_ms DESC, id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}
