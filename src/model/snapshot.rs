//! Snapshots: a point-in-time copy of a volume, kept as one object in secondary storage (a
//! system bucket of the object store). A snapshot is `pending` while its bytes are copied and
//! `completed` once the object holds them (`error` if the copy failed); its
//! createVolumePermission list says which other accounts (or `all`) may make volumes from it.

use sqlx::{AnyConnection, AnyPool};

use super::volume::{VolumeError, VolumeResult};
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;

/// The grantee that means every account.
pub const EVERYONE: &str = "all";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    Pending,
    Completed,
    Error,
}

impl SnapshotState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotRow {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub volume_id: String,
    pub volume_ec2_id: String,
    pub volume_kind: String,
    pub zone_id: String,
    pub size_gib: i64,
    pub state: String,
    pub progress: i64,
    pub state_message: String,
    pub bucket: Option<String>,
    pub object_key: Option<String>,
    pub stored_bytes: i64,
    pub description: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The name it was given (the native door's), if any.
    pub name: Option<String>,
    /// The hypervisor whose host copied the bytes (`None` until the copy ends).
    pub hypervisor: Option<String>,
}

/// A snapshot with its owner's number and zone name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotListing {
    #[sqlx(flatten)]
    pub row: SnapshotRow,
    pub owner_number: String,
    pub account_name: String,
    pub domain_id: String,
    pub zone_name: String,
    /// The volume's name when it still exists.
    pub volume_name: Option<String>,
}

/// What a new snapshot is of.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub account_id: String,
    pub volume_id: String,
    pub volume_ec2_id: String,
    pub volume_kind: String,
    pub zone_id: String,
    pub size_gib: i64,
    pub description: String,
    pub name: Option<String>,
}

pub async fn insert(db: &mut AnyConnection, s: &NewSnapshot) -> VolumeResult<SnapshotRow> {
    let now = now_ms();
    let row = SnapshotRow {
        id: new_uuid(),
        ec2_id: new_ec2_id("snap"),
        account_id: s.account_id.clone(),
        volume_id: s.volume_id.clone(),
        volume_ec2_id: s.volume_ec2_id.clone(),
        volume_kind: s.volume_kind.clone(),
        zone_id: s.zone_id.clone(),
        size_gib: s.size_gib,
        state: SnapshotState::Pending.as_str().to_owned(),
        progress: 0,
        state_message: String::new(),
        bucket: None,
        object_key: None,
        stored_bytes: 0,
        description: s.description.clone(),
        created_ms: now,
        updated_ms: now,
        name: s.name.clone(),
        hypervisor: None,
    };
    sqlx::query(
        "INSERT INTO snapshots (id, ec2_id, account_id, volume_id, volume_ec2_id, volume_kind, \
         zone_id, size_gib, state, progress, state_message, bucket, object_key, stored_bytes, \
         description, created_ms, updated_ms, name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&row.id)
    .bind(&row.ec2_id)
    .bind(&row.account_id)
    .bind(&row.volume_id)
    .bind(&row.volume_ec2_id)
    .bind(&row.volume_kind)
    .bind(&row.zone_id)
    .bind(row.size_gib)
    .bind(&row.state)
    .bind(row.progress)
    .bind(&row.state_message)
    .bind(&row.bucket)
    .bind(&row.object_key)
    .bind(row.stored_bytes)
    .bind(&row.description)
    .bind(row.created_ms)
    .bind(row.updated_ms)
    .bind(&row.name)
    .execute(&mut *db)
    .await?;
    Ok(row)
}

pub async fn get(db: &mut AnyConnection, id: &str) -> VolumeResult<SnapshotRow> {
    sqlx::query_as::<_, SnapshotRow>("SELECT * FROM snapshots WHERE id = $1 OR ec2_id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| VolumeError::SnapshotNotFound(id.to_owned()))
}

/// A snapshot the account owns (any for `None`).
pub async fn owned(
    db: &mut AnyConnection,
    account_id: Option<&str>,
    id: &str,
) -> VolumeResult<SnapshotRow> {
    let s = get(db, id).await?;
    match account_id {
        Some(a) if a != s.account_id => Err(VolumeError::SnapshotNotFound(id.to_owned())),
        _ => Ok(s),
    }
}

/// A snapshot the account may make volumes from: its own, or one shared with its number or
/// with everyone.
pub async fn usable(
    db: &mut AnyConnection,
    account_id: &str,
    account_number: &str,
    id: &str,
) -> VolumeResult<SnapshotRow> {
    let s = get(db, id).await?;
    if s.account_id == account_id {
        return Ok(s);
    }
    let shared: Option<(String,)> = sqlx::query_as(
        "SELECT grantee FROM snapshot_permissions WHERE snapshot_id = $1 \
         AND (grantee = $2 OR grantee = $3)",
    )
    .bind(&s.id)
    .bind(account_number)
    .bind(EVERYONE)
    .fetch_optional(&mut *db)
    .await?;
    match shared {
        Some(_) => Ok(s),
        None => Err(VolumeError::SnapshotNotFound(id.to_owned())),
    }
}

const LISTING: &str = "SELECT s.*, a.number AS owner_number, a.name AS account_name, \
     a.domain_id AS domain_id, z.name AS zone_name, v.name AS volume_name FROM snapshots s \
     JOIN accounts a ON a.id = s.account_id JOIN zones z ON z.id = s.zone_id \
     LEFT JOIN volumes v ON v.id = s.volume_id";

/// The snapshots an account may see: its own and those shared with it (every snapshot for
/// `None`), oldest first.
pub async fn visible(
    db: &AnyPool,
    viewer: Option<(&str, &str)>,
) -> VolumeResult<Vec<SnapshotListing>> {
    let rows = match viewer {
        Some((account_id, number)) => {
            sqlx::query_as::<_, SnapshotListing>(&format!(
                "{LISTING} WHERE s.account_id = $1 OR s.id IN (SELECT snapshot_id FROM \
                 snapshot_permissions WHERE grantee = $2 OR grantee = $3) \
                 ORDER BY s.created_ms, s.id"
            ))
            .bind(account_id)
            .bind(number)
            .bind(EVERYONE)
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query_as::<_, SnapshotListing>(&format!("{LISTING} ORDER BY s.created_ms, s.id"))
                .fetch_all(db)
                .await?
        }
    };
    Ok(rows)
}

/// One snapshot with its names, whoever owns it.
pub async fn listing_of(db: &AnyPool, id: &str) -> VolumeResult<Option<SnapshotListing>> {
    Ok(
        sqlx::query_as::<_, SnapshotListing>(&format!("{LISTING} WHERE s.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Records the end of a snapshot's copy.
pub async fn finish(
    db: &mut AnyConnection,
    id: &str,
    outcome: Result<(&str, &str, i64), &str>,
) -> VolumeResult<()> {
    let now = now_ms();
    match outcome {
        Ok((bucket, key, bytes)) => {
            sqlx::query(
                "UPDATE snapshots SET state = 'completed', progress = 100, bucket = $2, \
                 object_key = $3, stored_bytes = $4, updated_ms = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(bucket)
            .bind(key)
            .bind(bytes)
            .bind(now)
            .execute(&mut *db)
            .await?;
        }
        Err(why) => {
            sqlx::query(
                "UPDATE snapshots SET state = 'error', state_message = $2, updated_ms = $3 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(why)
            .bind(now)
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(())
}

/// Records which hypervisor's host holds what a snapshot copied.
pub async fn set_hypervisor(
    db: &mut AnyConnection,
    id: &str,
    hypervisor: Option<&str>,
) -> VolumeResult<()> {
    sqlx::query("UPDATE snapshots SET hypervisor = $2 WHERE id = $1")
        .bind(id)
        .bind(hypervisor)
        .execute(&mut *db)
        .await?;
    Ok(())
}

pub async fn remove(db: &mut AnyConnection, id: &str) -> VolumeResult<()> {
    for sql in [
        "DELETE FROM snapshots WHERE id = $1",
        "DELETE FROM snapshot_permissions WHERE snapshot_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *db).await?;
    }
    Ok(())
}

pub async fn set_description(db: &mut AnyConnection, id: &str, text: &str) -> VolumeResult<()> {
    sqlx::query("UPDATE snapshots SET description = $2, updated_ms = $3 WHERE id = $1")
        .bind(id)
        .bind(text)
        .bind(now_ms())
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The grantees of a snapshot's createVolumePermission, sorted.
pub async fn permissions(db: &mut AnyConnection, id: &str) -> VolumeResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT grantee FROM snapshot_permissions WHERE snapshot_id = $1 ORDER BY grantee",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.into_iter().map(|(g,)| g).collect())
}

/// Adds and removes grantees (an account number or [`EVERYONE`]).
pub async fn change_permissions(
    db: &mut AnyConnection,
    id: &str,
    add: &[String],
    remove: &[String],
) -> VolumeResult<()> {
    for g in remove {
        sqlx::query("DELETE FROM snapshot_permissions WHERE snapshot_id = $1 AND grantee = $2")
            .bind(id)
            .bind(g)
            .execute(&mut *db)
            .await?;
    }
    for g in add {
        sqlx::query("DELETE FROM snapshot_permissions WHERE snapshot_id = $1 AND grantee = $2")
            .bind(id)
            .bind(g)
            .execute(&mut *db)
            .await?;
        sqlx::query("INSERT INTO snapshot_permissions (snapshot_id, grantee) VALUES ($1, $2)")
            .bind(id)
            .bind(g)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// Clears the whole createVolumePermission list (the `reset` of EC2).
pub async fn reset_permissions(db: &mut AnyConnection, id: &str) -> VolumeResult<()> {
    sqlx::query("DELETE FROM snapshot_permissions WHERE snapshot_id = $1")
        .bind(id)
        .execute(&mut *db)
        .await?;
    Ok(())
}
