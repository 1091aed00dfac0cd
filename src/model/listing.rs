//! Listings that join a resource with the names of what it refers to, for the doors' views:
//! templates with their owner's account number, instances with their zone, offering, template
//! and owner. Read-only queries over the model's tables.

use sqlx::AnyPool;

use crate::error::CoreResult;
use crate::model::instance::{InstanceRow, InstanceState};
use crate::model::template::Template;

/// A template, the 12-digit number of the account that owns it, and the EC2 id of the
/// snapshot it records.
#[derive(Debug, Clone)]
pub struct OwnedTemplate {
    pub template: Template,
    pub owner_number: String,
    pub snapshot_ec2_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OwnedTemplateRow {
    #[sqlx(flatten)]
    template: Template,
    owner_number: String,
    snapshot_ec2_id: Option<String>,
}

/// The templates an account may launch: its own, every public one and those shared with it,
/// oldest first.
pub async fn templates_visible_to(
    db: &AnyPool,
    account_id: &str,
) -> CoreResult<Vec<OwnedTemplate>> {
    let rows = sqlx::query_as::<_, OwnedTemplateRow>(&format!(
        "SELECT t.*, a.number AS owner_number, s.ec2_id AS snapshot_ec2_id FROM templates t \
         JOIN accounts a ON a.id = t.account_id LEFT JOIN snapshots s ON s.id = t.snapshot_id \
         WHERE {} AND t.state <> 'deleted' ORDER BY t.created_ms, t.id",
        crate::model::template::LAUNCHABLE_BY
    ))
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OwnedTemplate {
            template: r.template,
            owner_number: r.owner_number,
            snapshot_ec2_id: r.snapshot_ec2_id,
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

/// Which of an account's instances a listing reads.
#[derive(Debug, Clone, Copy)]
pub enum InstancePick<'a> {
    /// All of them.
    All,
    /// Those with these EC2 ids (ids the account does not have are left out).
    Ids(&'a [String]),
    /// The instances of up to `limit` reservations (the instances of one launch), in launch
    /// order, after the reservation `after` names as (created_ms, reservation id).
    Reservations {
        after: Option<(i64, &'a str)>,
        limit: usize,
    },
}

const INSTANCE_LISTING: &str = "SELECT i.*, z.name AS zone_name, o.name AS offering_name, \
     t.ec2_id AS template_ec2_id, a.number AS owner_number FROM instances i \
     JOIN zones z ON z.id = i.zone_id \
     JOIN service_offerings o ON o.id = i.offering_id \
     JOIN templates t ON t.id = i.template_id \
     JOIN accounts a ON a.id = i.account_id";

/// Launch order: the instances of one reservation share `created_ms`, so they stay together.
const LAUNCH_ORDER: &str = "ORDER BY i.created_ms, i.reservation_id, i.launch_index, i.id";

/// The account's instances that `pick` names, in launch order. For
/// [`InstancePick::Reservations`] the answer holds at most `limit` reservations and says
/// whether more follow.
pub async fn instances_of_account(
    db: &AnyPool,
    account_id: &str,
    pick: InstancePick<'_>,
) -> CoreResult<(Vec<InstanceListing>, bool)> {
    let rows: Vec<InstanceListingRow> = match pick {
        InstancePick::All => {
            sqlx::query_as(&format!(
                "{INSTANCE_LISTING} WHERE i.account_id = $1 {LAUNCH_ORDER}"
            ))
            .bind(account_id)
            .fetch_all(db)
            .await?
        }
        InstancePick::Ids([]) => Vec::new(),
        InstancePick::Ids(ids) => {
            let sql = format!(
                "{INSTANCE_LISTING} WHERE i.account_id = $1 AND i.ec2_id IN ({}) {LAUNCH_ORDER}",
                crate::store::placeholders(2, ids.len())
            );
            let mut q = sqlx::query_as(&sql).bind(account_id);
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(db).await?
        }
        InstancePick::Reservations { after, limit } => {
            let (after_ms, after_id) = after.unwrap_or((i64::MIN, ""));
            // One reservation more than asked, to learn whether another page follows.
            let sql = format!(
                "WITH page AS (SELECT created_ms, reservation_id FROM instances \
                 WHERE account_id = $1 AND (created_ms > $2 OR (created_ms = $2 AND \
                 reservation_id > $3)) GROUP BY created_ms, reservation_id \
                 ORDER BY created_ms, reservation_id LIMIT $4) \
                 {} JOIN page p ON p.created_ms = i.created_ms AND \
                 p.reservation_id = i.reservation_id WHERE i.account_id = $1 {LAUNCH_ORDER}",
                INSTANCE_LISTING
            );
            sqlx::query_as(&sql)
                .bind(account_id)
                .bind(after_ms)
                .bind(after_id)
                .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                .fetch_all(db)
                .await?
        }
    };
    let mut out = rows
        .into_iter()
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
        .collect::<CoreResult<Vec<_>>>()?;
    let mut more = false;
    if let InstancePick::Reservations { limit, .. } = pick {
        let mut seen = 0;
        let cut = out.iter().enumerate().position(|(n, l)| {
            if n == 0 || out[n - 1].row.reservation_id != l.row.reservation_id {
                seen += 1;
            }
            seen > limit
        });
        if let Some(cut) = cut {
            out.truncate(cut);
            more = true;
        }
    }
    Ok((out, more))
}
