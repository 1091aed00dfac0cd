//! Reads of security groups across accounts that the native door needs beside
//! [`security_group`](super::security_group): a group or rule by id whoever owns it (the door
//! then checks the caller may act on it), and which live instances are in each group.

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreError;
use crate::model::security_group::{RuleRow, SecurityGroup};

/// A group by native id, whoever owns it.
pub async fn group_by_id(
    db: &mut AnyConnection,
    id: &str,
) -> Result<Option<SecurityGroup>, CoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM security_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// A rule by native id, whoever owns its group.
pub async fn rule_by_id(db: &mut AnyConnection, id: &str) -> Result<Option<RuleRow>, CoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM security_group_rules WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// The live instances (native ids) in each group, oldest attachment first.
pub async fn members_by_group(db: &AnyPool) -> Result<HashMap<String, Vec<String>>, CoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT g.group_id, n.instance_id FROM interface_security_groups g \
         JOIN network_interfaces n ON n.id = g.interface_id \
         JOIN instances i ON i.id = n.instance_id \
         WHERE i.state NOT IN ('Destroyed', 'Expunging', 'Error') \
         ORDER BY g.group_id, n.created_ms, n.instance_id",
    )
    .fetch_all(db)
    .await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (group, instance) in rows {
        let members = out.entry(group).or_default();
        if !members.contains(&instance) {
            members.push(instance);
        }
    }
    Ok(out)
}

/// Every group's name and owning account's name, by group id (to name rule peers).
pub async fn group_names(db: &AnyPool) -> Result<HashMap<String, (String, String)>, CoreError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT s.id, s.name, a.name FROM security_groups s JOIN accounts a ON a.id = s.account_id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, account)| (id, (name, account)))
        .collect())
}
