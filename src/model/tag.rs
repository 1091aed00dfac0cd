//! Tags: key/value labels an account puts on its resources (instances, templates, security
//! groups, key pairs, VPCs, networks, ...). One key per resource; setting a key again replaces
//! its value. Each tag row keeps both of the resource's ids, so a door can name the resource
//! the way its clients do without joining every resource table.

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreResult;
use crate::now_ms;

/// The kinds of resource a tag can be on, in the core's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaggedKind {
    Instance,
    Template,
    Volume,
    Snapshot,
    SecurityGroup,
    SecurityGroupRule,
    KeyPair,
    Vpc,
    Network,
    NetworkInterface,
    PublicIp,
    InternetGateway,
    RouteTable,
    NetworkAcl,
}

impl TaggedKind {
    pub const ALL: [Self; 14] = [
        Self::Instance,
        Self::Template,
        Self::Volume,
        Self::Snapshot,
        Self::SecurityGroup,
        Self::SecurityGroupRule,
        Self::KeyPair,
        Self::Vpc,
        Self::Network,
        Self::NetworkInterface,
        Self::PublicIp,
        Self::InternetGateway,
        Self::RouteTable,
        Self::NetworkAcl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance",
            Self::Template => "template",
            Self::Volume => "volume",
            Self::Snapshot => "snapshot",
            Self::SecurityGroup => "security_group",
            Self::SecurityGroupRule => "security_group_rule",
            Self::KeyPair => "key_pair",
            Self::Vpc => "vpc",
            Self::Network => "network",
            Self::NetworkInterface => "network_interface",
            Self::PublicIp => "public_ip",
            Self::InternetGateway => "internet_gateway",
            Self::RouteTable => "route_table",
            Self::NetworkAcl => "network_acl",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A resource a tag is put on: its kind and both ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedResource {
    pub kind: TaggedKind,
    pub id: String,
    pub ec2_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TagRow {
    pub account_id: String,
    pub resource_kind: String,
    pub resource_id: String,
    pub resource_ec2_id: String,
    pub tag_key: String,
    pub tag_value: String,
    pub created_ms: i64,
}

/// Sets tags on resources (replacing the value of a key already there).
pub async fn set(
    db: &mut AnyConnection,
    account_id: &str,
    resources: &[TaggedResource],
    tags: &[(String, String)],
) -> CoreResult<()> {
    let now = now_ms();
    for r in resources {
        for (key, value) in tags {
            sqlx::query("DELETE FROM tags WHERE resource_id = $1 AND tag_key = $2")
                .bind(&r.id)
                .bind(key)
                .execute(&mut *db)
                .await?;
            sqlx::query(
                "INSERT INTO tags (account_id, resource_kind, resource_id, resource_ec2_id, \
                 tag_key, tag_value, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(account_id)
            .bind(r.kind.as_str())
            .bind(&r.id)
            .bind(&r.ec2_id)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(())
}

/// Removes tags from resources: each key given (only where its value matches, when a value is
/// given), or every tag when no key is given.
pub async fn remove(
    db: &mut AnyConnection,
    resource_ids: &[String],
    tags: &[(String, Option<String>)],
) -> CoreResult<()> {
    for id in resource_ids {
        if tags.is_empty() {
            sqlx::query("DELETE FROM tags WHERE resource_id = $1")
                .bind(id)
                .execute(&mut *db)
                .await?;
        }
        for (key, value) in tags {
            match value {
                Some(v) => {
                    sqlx::query(
                        "DELETE FROM tags WHERE resource_id = $1 AND tag_key = $2 \
                         AND tag_value = $3",
                    )
                    .bind(id)
                    .bind(key)
                    .bind(v)
                    .execute(&mut *db)
                    .await?
                }
                None => {
                    sqlx::query("DELETE FROM tags WHERE resource_id = $1 AND tag_key = $2")
                        .bind(id)
                        .bind(key)
                        .execute(&mut *db)
                        .await?
                }
            };
        }
    }
    Ok(())
}

/// Every tag of the account, by resource and then key.
pub async fn of_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<TagRow>> {
    Ok(
        sqlx::query_as(
            "SELECT * FROM tags WHERE account_id = $1 ORDER BY resource_ec2_id, tag_key",
        )
        .bind(account_id)
        .fetch_all(db)
        .await?,
    )
}

/// The tags of every resource of one kind in an account, by resource id, sorted by key.
pub async fn by_resource(
    db: &AnyPool,
    account_id: &str,
    kind: TaggedKind,
) -> CoreResult<std::collections::HashMap<String, Vec<(String, String)>>> {
    tags_where(db, account_id, kind, None).await
}

/// The tags of every resource of one kind whoever owns it (resources other accounts may see,
/// such as public templates), by resource id, sorted by key.
pub async fn of_kind(
    db: &AnyPool,
    kind: TaggedKind,
) -> CoreResult<std::collections::HashMap<String, Vec<(String, String)>>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT resource_id, tag_key, tag_value FROM tags WHERE resource_kind = $1 \
         ORDER BY resource_id, tag_key",
    )
    .bind(kind.as_str())
    .fetch_all(db)
    .await?;
    let mut out: std::collections::HashMap<String, Vec<(String, String)>> =
        std::collections::HashMap::new();
    for (id, k, v) in rows {
        out.entry(id).or_default().push((k, v));
    }
    Ok(out)
}

/// The tags of these resources (by id) of one kind in an account, as [`by_resource`] gives them.
pub async fn of_resources(
    db: &AnyPool,
    account_id: &str,
    kind: TaggedKind,
    resource_ids: &[&str],
) -> CoreResult<std::collections::HashMap<String, Vec<(String, String)>>> {
    if resource_ids.is_empty() {
        return Ok(Default::default());
    }
    tags_where(db, account_id, kind, Some(resource_ids)).await
}

async fn tags_where(
    db: &AnyPool,
    account_id: &str,
    kind: TaggedKind,
    resource_ids: Option<&[&str]>,
) -> CoreResult<std::collections::HashMap<String, Vec<(String, String)>>> {
    // For named resources (a page of a listing) the tags are found by their key, resource id
    // first: `account_id || ''` keeps SQLite from walking every tag of the account through
    // tags_account instead, which costs as much as the whole listing's tags.
    let (account, only) = match resource_ids {
        Some(ids) => (
            "account_id || ''",
            format!(
                " AND resource_id IN ({})",
                crate::store::placeholders(3, ids.len())
            ),
        ),
        None => ("account_id", String::new()),
    };
    let sql = format!(
        "SELECT resource_id, tag_key, tag_value FROM tags WHERE {account} = $1 \
         AND resource_kind = $2{only} ORDER BY resource_id, tag_key"
    );
    let mut q = sqlx::query_as::<_, (String, String, String)>(&sql)
        .bind(account_id)
        .bind(kind.as_str());
    for id in resource_ids.unwrap_or_default() {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(db).await?;
    let mut out: std::collections::HashMap<String, Vec<(String, String)>> =
        std::collections::HashMap::new();
    for (id, k, v) in rows {
        out.entry(id).or_default().push((k, v));
    }
    Ok(out)
}
