//! Instances (CloudStack virtual machines): an offering's worth of CPU and memory on a host,
//! booted from a template, owned by an account. The orchestrator moves an instance through
//! its states with jobs; this module only names the states and reads and writes rows.

use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult, ResourceKind};

/// The instance state machine (CloudStack's names; EC2 shows pending, running, stopping,
/// stopped, shutting-down and terminated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Starting,
    Running,
    Stopping,
    Stopped,
    /// Terminated: still visible, recoverable until the expunge delay has passed.
    Destroyed,
    Expunging,
    Error,
}

impl InstanceState {
    pub const ALL: [Self; 7] = [
        Self::Starting,
        Self::Running,
        Self::Stopping,
        Self::Stopped,
        Self::Destroyed,
        Self::Expunging,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "Starting",
            Self::Running => "Running",
            Self::Stopping => "Stopping",
            Self::Stopped => "Stopped",
            Self::Destroyed => "Destroyed",
            Self::Expunging => "Expunging",
            Self::Error => "Error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub ec2_id: String,
    pub name: String,
    pub display_name: String,
    pub account_id: String,
    pub user_id: String,
    pub zone_id: String,
    pub host_id: Option<String>,
    pub offering_id: String,
    pub template_id: String,
    pub hypervisor: String,
    pub cpus: i64,
    pub memory_mib: i64,
    pub state: String,
    /// Where the job in flight is taking the instance (Stopped, Running, Destroyed), if any.
    pub target_state: Option<String>,
    pub state_reason: String,
    pub capacity_held: i64,
    pub user_data: Option<String>,
    pub key_name: Option<String>,
    pub reservation_id: String,
    pub launch_index: i64,
    pub client_token: Option<String>,
    pub created_ms: i64,
    pub launched_ms: Option<i64>,
    pub destroyed_ms: Option<i64>,
    pub updated_ms: i64,
}

/// An instance with its state parsed.
#[derive(Debug, Clone)]
pub struct Instance {
    pub row: InstanceRow,
    pub state: InstanceState,
}

impl std::ops::Deref for Instance {
    type Target = InstanceRow;

    fn deref(&self) -> &InstanceRow {
        &self.row
    }
}

impl TryFrom<InstanceRow> for Instance {
    type Error = CoreError;

    fn try_from(row: InstanceRow) -> CoreResult<Self> {
        let state = InstanceState::parse(&row.state).ok_or_else(|| {
            CoreError::Internal(format!("instance {} has state {:?}", row.id, row.state))
        })?;
        Ok(Self { row, state })
    }
}

fn parse_all(rows: Vec<InstanceRow>) -> CoreResult<Vec<Instance>> {
    rows.into_iter().map(Instance::try_from).collect()
}

/// The account's instances, oldest first.
pub async fn list_for_account(db: &AnyPool, account_id: &str) -> CoreResult<Vec<Instance>> {
    parse_all(
        sqlx::query_as::<_, InstanceRow>(
            "SELECT * FROM instances WHERE account_id = $1 ORDER BY created_ms, id",
        )
        .bind(account_id)
        .fetch_all(db)
        .await?,
    )
}

/// Every instance, oldest first (for admins and the reconciler).
pub async fn list_all(db: &AnyPool) -> CoreResult<Vec<Instance>> {
    parse_all(
        sqlx::query_as::<_, InstanceRow>("SELECT * FROM instances ORDER BY created_ms, id")
            .fetch_all(db)
            .await?,
    )
}

/// One instance by its native id or its EC2 id.
pub async fn get(db: &mut AnyConnection, id: &str) -> CoreResult<Instance> {
    sqlx::query_as::<_, InstanceRow>("SELECT * FROM instances WHERE id = $1 OR ec2_id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| CoreError::not_found(ResourceKind::Instance, id))?
        .try_into()
}

pub async fn insert(db: &mut AnyConnection, i: &InstanceRow) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO instances (id, ec2_id, name, display_name, account_id, user_id, zone_id, \
         host_id, offering_id, template_id, hypervisor, cpus, memory_mib, state, target_state, \
         state_reason, capacity_held, user_data, key_name, reservation_id, launch_index, client_token, \
         created_ms, launched_ms, destroyed_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
         $26)",
    )
    .bind(&i.id)
    .bind(&i.ec2_id)
    .bind(&i.name)
    .bind(&i.display_name)
    .bind(&i.account_id)
    .bind(&i.user_id)
    .bind(&i.zone_id)
    .bind(&i.host_id)
    .bind(&i.offering_id)
    .bind(&i.template_id)
    .bind(&i.hypervisor)
    .bind(i.cpus)
    .bind(i.memory_mib)
    .bind(&i.state)
    .bind(&i.target_state)
    .bind(&i.state_reason)
    .bind(i.capacity_held)
    .bind(&i.user_data)
    .bind(&i.key_name)
    .bind(&i.reservation_id)
    .bind(i.launch_index)
    .bind(&i.client_token)
    .bind(i.created_ms)
    .bind(i.launched_ms)
    .bind(i.destroyed_ms)
    .bind(i.updated_ms)
    .execute(db)
    .await?;
    Ok(())
}
