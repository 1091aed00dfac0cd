//! Templates (EC2 images): the disk an instance's root volume is cloned from. A template is
//! owned by an account, lives in one zone's secondary storage and runs on one hypervisor.
//!
//! Who may launch a template: its owner, every account when it is public, and the accounts it
//! is shared with (its launch permissions, by 12-digit account number). A template made from a
//! volume snapshot records the snapshot, which then cannot be deleted while the template lives.

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
    /// The snapshot (native id) the template was made from, if any.
    pub snapshot_id: Option<String>,
    /// EC2's root device name as registered; `None` for the default.
    pub root_device_name: Option<String>,
    /// EC2's root volume type as registered; `None` for the default.
    pub root_volume_type: Option<String>,
    /// EC2's ENA support flag as registered; `None` for the default (true).
    pub ena_support: Option<i64>,
    /// The client token of the CopyImage that made it, and a digest of that request.
    pub client_token: Option<String>,
    pub client_request: Option<String>,
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

/// The SQL condition "template `t` may be launched by the account whose id is bound as `$1`":
/// its own, public, or shared with the account's number.
pub const LAUNCHABLE_BY: &str = "(t.account_id = $1 OR t.is_public = 1 OR EXISTS (SELECT 1 \
     FROM template_permissions p JOIN accounts v ON v.number = p.grantee \
     WHERE p.template_id = t.id AND v.id = $1))";

/// Templates the account may launch: its own, every public one and those shared with it.
pub async fn list_visible(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Template>> {
    Ok(sqlx::query_as::<_, Template>(&format!(
        "SELECT t.* FROM templates t WHERE {LAUNCHABLE_BY} ORDER BY t.created_ms, t.id"
    ))
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Whether the account may launch the template.
pub async fn launchable_by(
    db: &mut AnyConnection,
    t: &Template,
    account_id: &str,
) -> CoreResult<bool> {
    if t.account_id == account_id || t.is_public() {
        return Ok(true);
    }
    let shared: Option<(String,)> = sqlx::query_as(
        "SELECT p.grantee FROM template_permissions p JOIN accounts a ON a.number = p.grantee \
         WHERE p.template_id = $1 AND a.id = $2",
    )
    .bind(&t.id)
    .bind(account_id)
    .fetch_optional(db)
    .await?;
    Ok(shared.is_some())
}

/// The templates shared with the account (by its number), by id.
pub async fn shared_with(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<std::collections::HashSet<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT p.template_id FROM template_permissions p JOIN accounts a \
         ON a.number = p.grantee WHERE a.id = $1",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The account numbers a template is shared with, sorted.
pub async fn permissions(db: &mut AnyConnection, template_id: &str) -> CoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT grantee FROM template_permissions WHERE template_id = $1 ORDER BY grantee",
    )
    .bind(template_id)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.into_iter().map(|(g,)| g).collect())
}

/// The grantees of every template of an account, by template id.
pub async fn permissions_of_account(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<std::collections::HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.template_id, p.grantee FROM template_permissions p \
         JOIN templates t ON t.id = p.template_id WHERE t.account_id = $1 \
         ORDER BY p.template_id, p.grantee",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (id, g) in rows {
        out.entry(id).or_default().push(g);
    }
    Ok(out)
}

/// A change of who may launch a template: account numbers to add and remove, whether every
/// account may (`public`), and `reset` to clear every grant first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchPermissionChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub public: Option<bool>,
    pub reset: bool,
}

/// Applies a launch permission change in the caller's transaction.
pub async fn change_permissions(
    db: &mut AnyConnection,
    template_id: &str,
    change: &LaunchPermissionChange,
) -> CoreResult<()> {
    if change.reset {
        sqlx::query("DELETE FROM template_permissions WHERE template_id = $1")
            .bind(template_id)
            .execute(&mut *db)
            .await?;
    }
    for g in change.remove.iter().chain(&change.add) {
        sqlx::query("DELETE FROM template_permissions WHERE template_id = $1 AND grantee = $2")
            .bind(template_id)
            .bind(g)
            .execute(&mut *db)
            .await?;
    }
    for g in &change.add {
        sqlx::query("INSERT INTO template_permissions (template_id, grantee) VALUES ($1, $2)")
            .bind(template_id)
            .bind(g)
            .execute(&mut *db)
            .await?;
    }
    if let Some(public) = change.public {
        sqlx::query("UPDATE templates SET is_public = $2 WHERE id = $1")
            .bind(template_id)
            .bind(i64::from(public))
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// The EC2 id of the account's live template of this name, if there is one.
pub async fn named(
    db: &mut AnyConnection,
    account_id: &str,
    name: &str,
) -> CoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT ec2_id FROM templates WHERE account_id = $1 AND name = $2 AND state <> 'deleted'",
    )
    .bind(account_id)
    .bind(name)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// The live template that records a snapshot, if any (its EC2 id).
pub async fn using_snapshot(
    db: &mut AnyConnection,
    snapshot_id: &str,
) -> CoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT ec2_id FROM templates WHERE snapshot_id = $1 AND state <> 'deleted' \
         ORDER BY created_ms LIMIT 1",
    )
    .bind(snapshot_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
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
        snapshot_id: None,
        root_device_name: None,
        root_volume_type: None,
        ena_support: None,
        client_token: None,
        client_request: None,
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
