//! Login sessions of the native API: the `sessions` table. A session is kept only as the digest
//! of its secrets (the door computes it), with its user and the time it lapses. A session in
//! use is kept alive: its lapse is pushed forward once less than half of the idle time is left,
//! so a busy session costs one write per half-timeout rather than one per request.

use sqlx::AnyPool;

use crate::error::CoreResult;
use crate::now_ms;

/// Records a new session, and drops the ones that have lapsed.
pub async fn create(db: &AnyPool, digest: &str, user_id: &str, idle_ms: i64) -> CoreResult<()> {
    let now = now_ms();
    sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (key_digest, user_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(digest)
    .bind(user_id)
    .bind(now)
    .bind(now + idle_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// The user of a live session, keeping it alive for `idle_ms` more; `None` if unknown or
/// lapsed.
pub async fn touch(db: &AnyPool, digest: &str, idle_ms: i64) -> CoreResult<Option<String>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT user_id, expires_ms FROM sessions WHERE key_digest = $1")
            .bind(digest)
            .fetch_optional(db)
            .await?;
    let Some((user_id, expires_ms)) = row else {
        return Ok(None);
    };
    let now = now_ms();
    if expires_ms <= now {
        end(db, digest).await?;
        return Ok(None);
    }
    if expires_ms - now < idle_ms / 2 {
        sqlx::query("UPDATE sessions SET expires_ms = $2 WHERE key_digest = $1")
            .bind(digest)
            .bind(now + idle_ms)
            .execute(db)
            .await?;
    }
    Ok(Some(user_id))
}

/// Ends a session; ending one that is not there is not an error.
pub async fn end(db: &AnyPool, digest: &str) -> CoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE key_digest = $1")
        .bind(digest)
        .execute(db)
        .await?;
    Ok(())
}
