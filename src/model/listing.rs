//! Listings that join a resource with the names of what it refers to, for the doors' views:
//! templates with their owner's account number, instances with their zone, offering, template
//! and owner. Read-only queries over the model's tables.

use sqlx::AnyPool;

use crate::error::CoreResult;
use crate::model::instance::{InstanceRow, InstanceState};
use crate::model::template::Template;

/// A template and the 12-digit number of the account that owns it.
#[derive(Debug, Clone)]
pub struct OwnedTemplate {
    pub template: Template,
    pub owner_number: String,
}

#[derive(sqlx::FromRow)]
struct OwnedTemplateRow {
    #[sqlx(flatten)]
    template: Template,
    owner_number: String,
}

/// The templates an account may launch: its own and every public one, oldest first.
pub async fn templates_visible_to(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<OwnedTemplate>> {
    let rows = sqlx::query_as::<_, OwnedTemplateRow>(
        "SELECT t.*, a.number AS owner_number FROM templates t \
         JOIN accounts a ON a.id = t.account_id \
         WHERE t.account_id = $1 OR t.is_public = 1 ORDER BY t.created_ms, t.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OwnedTemplate {
            template: r.template,
            owner_number: r.owner_number,
        })
        .collect())
}

/// An instance with the names the doors show beside it.
#[derive(Debug, Clone)]
pub struct InstanceListing {
    pub row: InstanceRow,
    pub state: InstanceState,
    pub zone_name: String,
    pub offering_name: String,
    pub template_ec2_id: String,
    pub owner_number: String,
}

#[derive(sqlx::FromRow)]
struct InstanceListingRow {
    #[sqlx(flatten)]
    row: InstanceRow,
    zone_name: String,
    offering_name: String,
    template_ec2_id: String,
    owner_number: String,
}

/// The account's instances, oldest first.
pub async fn instances_of_account(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<InstanceListing>> {
    let rows = sqlx::query_as::<_, InstanceListingRow>(
        "SELECT i.*, z.name AS zone_name, o.name AS offering_name, \
         t.ec2_id AS template_ec2_id, a.number AS owner_number FROM instances i \
         JOIN zones z ON z.id = i.zone_id \
         JOIN service_offerings o ON o.id = i.offering_id \
         JOIN templates t ON t.id = i.template_id \
         JOIN accounts a ON a.id = i.account_id \
         WHERE i.account_id = $1 ORDER BY i.created_ms, i.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let state = InstanceState::parse(&r.row.state).ok_or_else(|| {
                crate::error::CoreError::Internal(format!(
                    "instance {} has state {:?}",
                    r.row.id, r.row.state
                ))
            })?;
            Ok(InstanceListing {
                row: r.row,
                state,
                zone_name: r.zone_name,
                offering_name: r.offering_name,
                template_ec2_id: r.template_ec2_id,
                owner_number: r.owner_number,
            })
        })
        .collect()
}
