//! Offering administration: creating service and disk offerings with every setting given,
//! renaming them, and deleting them when nothing uses them. Offering names are unique.

use sqlx::AnyConnection;

use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::new_uuid;
use crate::model::offering::{DiskOffering, ServiceOffering};
use crate::now_ms;

/// A service offering to create.
#[derive(Debug, Clone)]
pub struct NewServiceOffering {
    pub name: String,
    pub display_text: String,
    pub cpus: i64,
    pub cpu_speed_mhz: i64,
    pub memory_mib: i64,
}

async fn name_taken(db: &mut AnyConnection, table: &str, name: &str) -> CoreResult<bool> {
    let sql = format!("SELECT id FROM {table} WHERE name = $1");
    let row: Option<(String,)> = sqlx::query_as(&sql).bind(name).fetch_optional(db).await?;
    Ok(row.is_some())
}

pub async fn create_service_offering(
    db: &mut AnyConnection,
    n: &NewServiceOffering,
) -> CoreResult<ServiceOffering> {
    if name_taken(db, "service_offerings", &n.name).await? {
        return Err(CoreError::AlreadyExists {
            kind: ResourceKind::ServiceOffering,
            name: n.name.clone(),
        });
    }
    let o = ServiceOffering {
        id: new_uuid(),
        name: n.name.clone(),
        display_text: n.display_text.clone(),
        cpus: n.cpus,
        cpu_speed_mhz: n.cpu_speed_mhz,
        memory_mib: n.memory_mib,
        burstable: 0,
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO service_offerings (id, name, display_text, cpus, cpu_speed_mhz, memory_mib, \
         burstable, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&o.id)
    .bind(&o.name)
    .bind(&o.display_text)
    .bind(o.cpus)
    .bind(o.cpu_speed_mhz)
    .bind(o.memory_mib)
    .bind(o.burstable)
    .bind(o.created_ms)
    .execute(db)
    .await?;
    Ok(o)
}

pub async fn create_disk_offering(
    db: &mut AnyConnection,
    name: &str,
    display_text: &str,
    size_gib: i64,
    customized: bool,
) -> CoreResult<DiskOffering> {
    if name_taken(db, "disk_offerings", name).await? {
        return Err(CoreError::AlreadyExists {
            kind: ResourceKind::DiskOffering,
            name: name.to_owned(),
        });
    }
    let o = DiskOffering {
        id: new_uuid(),
        name: name.to_owned(),
        display_text: display_text.to_owned(),
        size_gib: if customized { 0 } else { size_gib },
        customized: i64::from(customized),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO disk_offerings (id, name, display_text, size_gib, customized, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&o.id)
    .bind(&o.name)
    .bind(&o.display_text)
    .bind(o.size_gib)
    .bind(o.customized)
    .bind(o.created_ms)
    .execute(db)
    .await?;
    Ok(o)
}

/// Renames a service offering or changes its description.
pub async fn update_service_offering(
    db: &mut AnyConnection,
    id: &str,
    name: Option<&str>,
    display_text: Option<&str>,
) -> CoreResult<()> {
    if let Some(name) = name {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM service_offerings WHERE name = $1 AND id <> $2")
                .bind(name)
                .bind(id)
                .fetch_optional(&mut *db)
                .await?;
        if row.is_some() {
            return Err(CoreError::AlreadyExists {
                kind: ResourceKind::ServiceOffering,
                name: name.to_owned(),
            });
        }
    }
    let done = sqlx::query(
        "UPDATE service_offerings SET name = COALESCE($2, name), \
         display_text = COALESCE($3, display_text) WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(display_text)
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::not_found(ResourceKind::ServiceOffering, id));
    }
    Ok(())
}

/// What a delete did: removed the row, or left it because this many resources still use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    InUse(i64),
}

/// Deletes a service offering no instance uses.
pub async fn delete_service_offering(db: &mut AnyConnection, id: &str) -> CoreResult<Removal> {
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instances WHERE offering_id = $1")
        .bind(id)
        .fetch_one(&mut *db)
        .await?;
    if users > 0 {
        return Ok(Removal::InUse(users));
    }
    let done = sqlx::query("DELETE FROM service_offerings WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::not_found(ResourceKind::ServiceOffering, id));
    }
    Ok(Removal::Removed)
}

/// Deletes a disk offering.
pub async fn delete_disk_offering(db: &mut AnyConnection, id: &str) -> CoreResult<()> {
    let done = sqlx::query("DELETE FROM disk_offerings WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::not_found(ResourceKind::DiskOffering, id));
    }
    Ok(())
}
