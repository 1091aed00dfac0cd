//! Offerings: service offerings (an EC2 instance type is a service offering's name) give an
//! instance its vCPUs and memory; disk offerings give a data volume its size.

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreResult;
use crate::model::new_uuid;
use crate::now_ms;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceOffering {
    pub id: String,
    pub name: String,
    pub display_text: String,
    pub cpus: i64,
    pub cpu_speed_mhz: i64,
    pub memory_mib: i64,
    pub burstable: i64,
    pub created_ms: i64,
}

impl ServiceOffering {
    pub fn is_burstable(&self) -> bool {
        super::flag(self.burstable)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DiskOffering {
    pub id: String,
    pub name: String,
    pub display_text: String,
    pub size_gib: i64,
    pub customized: i64,
    pub created_ms: i64,
}

impl DiskOffering {
    pub fn is_customized(&self) -> bool {
        super::flag(self.customized)
    }
}

/// The service offerings a new cloud starts with, named and sized like EC2 instance types:
/// (name, vCPUs, memory MiB, burstable).
pub const DEFAULT_SERVICE_OFFERINGS: &[(&str, i64, i64, bool)] = &[
    ("t3.nano", 2, 512, true),
    ("t3.micro", 2, 1024, true),
    ("t3.small", 2, 2048, true),
    ("t3.medium", 2, 4096, true),
    ("t3.large", 2, 8192, true),
    ("t3.xlarge", 4, 16384, true),
    ("t3.2xlarge", 8, 32768, true),
    ("m5.large", 2, 8192, false),
    ("m5.xlarge", 4, 16384, false),
    ("m5.2xlarge", 8, 32768, false),
    ("m5.4xlarge", 16, 65536, false),
    ("c5.large", 2, 4096, false),
    ("c5.xlarge", 4, 8192, false),
    ("c5.2xlarge", 8, 16384, false),
    ("r5.large", 2, 16384, false),
    ("r5.xlarge", 4, 32768, false),
    ("r5.2xlarge", 8, 65536, false),
];

/// The disk offerings a new cloud starts with: (name, GiB; 0 means the size is chosen per
/// volume).
pub const DEFAULT_DISK_OFFERINGS: &[(&str, i64)] =
    &[("Small", 5), ("Medium", 20), ("Large", 100), ("Custom", 0)];

pub async fn list_service_offerings(db: &AnyPool) -> CoreResult<Vec<ServiceOffering>> {
    Ok(sqlx::query_as::<_, ServiceOffering>(
        "SELECT * FROM service_offerings ORDER BY created_ms, name",
    )
    .fetch_all(db)
    .await?)
}

pub async fn list_disk_offerings(db: &AnyPool) -> CoreResult<Vec<DiskOffering>> {
    Ok(
        sqlx::query_as::<_, DiskOffering>("SELECT * FROM disk_offerings ORDER BY created_ms, name")
            .fetch_all(db)
            .await?,
    )
}

pub async fn create_service_offering(
    db: &mut AnyConnection,
    name: &str,
    cpus: i64,
    memory_mib: i64,
    burstable: bool,
) -> CoreResult<ServiceOffering> {
    let memory_gib = memory_mib as f64 / 1024.0;
    let o = ServiceOffering {
        id: new_uuid(),
        name: name.to_owned(),
        display_text: format!("{name}: {cpus} vCPU, {memory_gib} GiB"),
        cpus,
        cpu_speed_mhz: 2000,
        memory_mib,
        burstable: i64::from(burstable),
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
    size_gib: i64,
) -> CoreResult<DiskOffering> {
    let customized = size_gib == 0;
    let display_text = if customized {
        format!("{name}: size chosen per volume")
    } else {
        format!("{name}: {size_gib} GiB")
    };
    let o = DiskOffering {
        id: new_uuid(),
        name: name.to_owned(),
        display_text,
        size_gib,
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
