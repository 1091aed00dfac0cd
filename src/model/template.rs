//! Templates (EC2 images): the disk an instance's root volume is cloned from. A template is
//! owned by an account, lives in one zone's secondary storage and runs on one hypervisor.

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreResult;
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Template {
    pub id: String,
    pub ec2_id: String,
    pub name: String,
    pub display_text: String,
    pub account_id: String,
    pub zone_id: String,
    pub hypervisor: String,
    pub format: String,
    pub os_type: String,
    pub size_bytes: i64,
    pub is_public: i64,
    pub is_featured: i64,
    pub state: String,
    pub status: String,
    pub created_ms: i64,
}

impl Template {
    pub fn is_public(&self) -> bool {
        super::flag(self.is_public)
    }

    pub fn is_featured(&self) -> bool {
        super::flag(self.is_featured)
    }
}

/// The name of the template every new cloud has for its simulated hosts.
pub const BUILTIN_TEMPLATE_NAME: &str = "cirrus-simulator-linux";

/// Templates the account may launch: its own and every public one.
pub async fn list_visible(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Template>> {
    Ok(sqlx::query_as::<_, Template>(
        "SELECT * FROM templates WHERE account_id = $1 OR is_public = 1 ORDER BY created_ms, id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Registers the built-in simulator template, owned by the admin account, public and featured.
pub async fn create_builtin(
    db: &mut AnyConnection,
    account_id: &str,
    zone_id: &str,
) -> CoreResult<Template> {
    let t = Template {
        id: new_uuid(),
        ec2_id: new_ec2_id("ami"),
        name: BUILTIN_TEMPLATE_NAME.to_owned(),
        display_text: "Built-in Linux template for simulated hosts".to_owned(),
        account_id: account_id.to_owned(),
        zone_id: zone_id.to_owned(),
        hypervisor: super::infra::Hypervisor::Simulator.as_str().to_owned(),
        format: "qcow2".to_owned(),
        os_type: "Other Linux (64-bit)".to_owned(),
        size_bytes: 8 << 30,
        is_public: 1,
        is_featured: 1,
        state: "ready".to_owned(),
        status: "Download Complete".to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO templates (id, ec2_id, name, display_text, account_id, zone_id, hypervisor, \
         format, os_type, size_bytes, is_public, is_featured, state, status, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&t.id)
    .bind(&t.ec2_id)
    .bind(&t.name)
    .bind(&t.display_text)
    .bind(&t.account_id)
    .bind(&t.zone_id)
    .bind(&t.hypervisor)
    .bind(&t.format)
    .bind(&t.os_type)
    .bind(t.size_bytes)
    .bind(t.is_public)
    .bind(t.is_featured)
    .bind(&t.state)
    .bind(&t.status)
    .bind(t.created_ms)
    .execute(db)
    .await?;
    Ok(t)
}
