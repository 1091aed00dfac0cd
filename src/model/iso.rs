//! ISO images: read-only CD images an account keeps in secondary storage and inserts into an
//! instance's virtual CD drive. An ISO is owned by an account and lives in one zone; an
//! instance has at most one in its drive (`instance_isos`). This module owns both tables' rows
//! as records; downloading and storing an ISO's bytes is [`crate::storage::isos`]'s work, and
//! changing a drive is the orchestrator's (a job on the instance).

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Iso {
    pub id: String,
    pub name: String,
    pub display_text: String,
    pub account_id: String,
    pub zone_id: String,
    pub os_type: String,
    pub bootable: i64,
    pub is_public: i64,
    pub is_featured: i64,
    /// `downloading`, `ready` or `error`.
    pub state: String,
    pub status: String,
    pub size_bytes: i64,
    pub source_url: String,
    pub checksum: Option<String>,
    pub image_key: Option<String>,
    pub created_ms: i64,
}

impl Iso {
    pub fn is_public(&self) -> bool {
        super::flag(self.is_public)
    }

    pub fn is_featured(&self) -> bool {
        super::flag(self.is_featured)
    }

    pub fn is_bootable(&self) -> bool {
        super::flag(self.bootable)
    }

    pub fn is_ready(&self) -> bool {
        self.state == "ready"
    }
}

/// Every ISO, oldest first.
pub async fn list_all(db: &AnyPool) -> CoreResult<Vec<Iso>> {
    Ok(sqlx::query_as("SELECT * FROM isos ORDER BY created_ms, id")
        .fetch_all(db)
        .await?)
}

pub async fn get(db: &mut AnyConnection, id: &str) -> CoreResult<Option<Iso>> {
    Ok(sqlx::query_as("SELECT * FROM isos WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// The ISO in an instance's CD drive, if any.
pub async fn attached_to(db: &mut AnyConnection, instance_id: &str) -> CoreResult<Option<Iso>> {
    Ok(sqlx::query_as(
        "SELECT s.* FROM isos s JOIN instance_isos a ON a.iso_id = s.id WHERE a.instance_id = $1",
    )
    .bind(instance_id)
    .fetch_optional(db)
    .await?)
}

/// The ISOs in the drives of these instances, by instance id.
pub async fn attached_to_many(
    db: &AnyPool,
    instance_ids: &[&str],
) -> CoreResult<HashMap<String, Iso>> {
    let mut out = HashMap::new();
    if instance_ids.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=instance_ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT a.instance_id, s.* FROM isos s JOIN instance_isos a ON a.iso_id = s.id \
         WHERE a.instance_id IN ({})",
        marks.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in instance_ids {
        query = query.bind(*id);
    }
    use sqlx::{FromRow, Row};
    for row in query.fetch_all(db).await? {
        let instance: String = row.try_get("instance_id")?;
        out.insert(instance, Iso::from_row(&row)?);
    }
    Ok(out)
}

/// How many instances have the ISO in their drive.
pub async fn users(db: &mut AnyConnection, iso_id: &str) -> CoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instance_isos WHERE iso_id = $1")
        .bind(iso_id)
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// Records the ISO in the instance's drive; refused if the drive holds one already.
pub async fn insert_into_drive(
    db: &mut AnyConnection,
    instance_id: &str,
    iso: &Iso,
) -> CoreResult<()> {
    if let Some(current) = attached_to(db, instance_id).await? {
        return Err(CoreError::InvalidParameter(format!(
            "The instance {instance_id} already has the ISO {} ({}) attached; detach it first.",
            current.id, current.name
        )));
    }
    sqlx::query("INSERT INTO instance_isos (instance_id, iso_id, attached_ms) VALUES ($1, $2, $3)")
        .bind(instance_id)
        .bind(&iso.id)
        .bind(crate::now_ms())
        .execute(db)
        .await?;
    Ok(())
}

/// Empties the instance's drive record (nothing in it is not an error).
pub async fn eject(db: &mut AnyConnection, instance_id: &str) -> CoreResult<()> {
    sqlx::query("DELETE FROM instance_isos WHERE instance_id = $1")
        .bind(instance_id)
        .execute(db)
        .await?;
    Ok(())
}
