//! Volumes (EBS volumes, CloudStack volumes): block devices of a size and type in one zone,
//! owned by an account, attached to at most one instance at a time under a device name. Every
//! instance has a root volume (made in its launch's transaction); data volumes are made on
//! their own, perhaps from a snapshot. This module names the states and the volume errors and
//! reads and writes the rows; the orchestrator (`orchestrator::volumes`) decides what is
//! allowed and drives the hosts.

use sqlx::{AnyConnection, AnyPool};

use crate::error::CoreError;
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;

/// The device a root volume is attached as (the name EC2 shows as `rootDeviceName`).
pub const ROOT_DEVICE: &str = "/dev/sda1";
/// The volume type a volume gets when none is asked for.
pub const DEFAULT_TYPE: &str = "gp2";
/// The volume types a volume may have (recorded; Cirrus has one class of storage).
pub const TYPES: [&str; 7] = ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];
/// The largest volume, GiB.
pub const MAX_SIZE_GIB: i64 = 16384;

/// Root or data volume (CloudStack's ROOT and DATADISK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    Root,
    Data,
}

impl VolumeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Data => "data",
        }
    }
}

/// The life of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeState {
    Creating,
    Available,
    InUse,
    Deleting,
    Deleted,
    Error,
}

impl VolumeState {
    pub const ALL: [Self; 6] = [
        Self::Creating,
        Self::Available,
        Self::InUse,
        Self::Deleting,
        Self::Deleted,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::InUse => "in-use",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachState {
    Attaching,
    Attached,
    Detaching,
}

impl AttachState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attaching => "attaching",
            Self::Attached => "attached",
            Self::Detaching => "detaching",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VolumeRow {
    pub id: String,
    pub ec2_id: String,
    pub account_id: String,
    pub zone_id: String,
    pub name: String,
    pub kind: String,
    pub size_gib: i64,
    pub volume_type: String,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub state: String,
    pub instance_id: Option<String>,
    pub device: Option<String>,
    pub attach_state: Option<String>,
    pub attached_ms: Option<i64>,
    pub delete_on_termination: i64,
    pub disk_offering_id: Option<String>,
    /// The snapshot (native id) the volume was made from.
    pub snapshot_id: Option<String>,
    pub client_token: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl VolumeRow {
    pub fn is_root(&self) -> bool {
        self.kind == VolumeKind::Root.as_str()
    }

    pub fn state(&self) -> VolumeState {
        VolumeState::parse(&self.state).unwrap_or(VolumeState::Error)
    }

    pub fn delete_on_termination(&self) -> bool {
        super::flag(self.delete_on_termination)
    }

    pub fn size_bytes(&self) -> i64 {
        self.size_gib << 30
    }
}

/// A volume with the names the doors show beside it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VolumeListing {
    #[sqlx(flatten)]
    pub row: VolumeRow,
    pub zone_name: String,
    pub instance_ec2_id: Option<String>,
    pub instance_name: Option<String>,
    pub instance_state: Option<String>,
    pub snapshot_ec2_id: Option<String>,
    pub owner_number: String,
    pub account_name: String,
    pub domain_id: String,
}

/// Why a volume or snapshot operation was refused, in terms each door maps onto its codes.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the volume '{0}' does not exist")]
    VolumeNotFound(String),
    #[error("the snapshot '{0}' does not exist")]
    SnapshotNotFound(String),
    #[error("the instance '{0}' does not exist")]
    InstanceNotFound(String),
    #[error("the volume '{volume}' is in zone {volume_zone}, but the instance '{instance}' is in zone {instance_zone}")]
    ZoneMismatch {
        volume: String,
        volume_zone: String,
        instance: String,
        instance_zone: String,
    },
    #[error("the device name '{device}' is already used by a volume of instance '{instance}'")]
    DeviceTaken { device: String, instance: String },
    #[error("the volume '{volume}' is {state}: {why}")]
    InUse {
        volume: String,
        state: String,
        why: String,
    },
    #[error("the volume '{volume}' is not attached{to}")]
    NotAttached { volume: String, to: String },
    #[error("the {what} '{id}' is {state}, and this needs it {wanted}")]
    IncorrectState {
        what: &'static str,
        id: String,
        state: String,
        wanted: String,
    },
    #[error("the instance '{id}' is {state}, and this needs it {wanted}")]
    InstanceState {
        id: String,
        state: String,
        wanted: String,
    },
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidCombination(String),
    #[error("the snapshot '{snapshot}' is used by image '{image}'")]
    SnapshotInUse { snapshot: String, image: String },
    #[error("the host failed: {0}")]
    Host(String),
}

impl From<sqlx::Error> for VolumeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Core(CoreError::Store(e))
    }
}

pub type VolumeResult<T> = Result<T, VolumeError>;

/// What a new volume is made of.
#[derive(Debug, Clone)]
pub struct NewVolume {
    pub account_id: String,
    pub zone_id: String,
    pub name: Option<String>,
    pub kind: VolumeKind,
    pub size_gib: i64,
    pub volume_type: String,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub state: VolumeState,
    pub instance_id: Option<String>,
    pub device: Option<String>,
    pub delete_on_termination: bool,
    pub disk_offering_id: Option<String>,
    pub snapshot_id: Option<String>,
    pub client_token: Option<String>,
}

impl NewVolume {
    /// The root volume of an instance: attached at [`ROOT_DEVICE`], deleted with it.
    pub fn root(account_id: &str, zone_id: &str, instance_id: &str, size_gib: i64) -> Self {
        Self {
            account_id: account_id.to_owned(),
            zone_id: zone_id.to_owned(),
            name: None,
            kind: VolumeKind::Root,
            size_gib,
            volume_type: DEFAULT_TYPE.to_owned(),
            iops: None,
            throughput: None,
            state: VolumeState::InUse,
            instance_id: Some(instance_id.to_owned()),
            device: Some(ROOT_DEVICE.to_owned()),
            delete_on_termination: true,
            disk_offering_id: None,
            snapshot_id: None,
            client_token: None,
        }
    }
}

/// Inserts a volume; an attached one is recorded attached as of now.
pub async fn insert(db: &mut AnyConnection, v: &NewVolume) -> VolumeResult<VolumeRow> {
    let now = now_ms();
    let id = new_uuid();
    let ec2_id = new_ec2_id("vol");
    let attached = v.instance_id.is_some();
    let name = match (&v.name, v.kind) {
        (Some(n), _) => n.clone(),
        (None, VolumeKind::Root) => format!("ROOT-{}", &ec2_id[4..12]),
        (None, VolumeKind::Data) => format!("DATA-{}", &ec2_id[4..12]),
    };
    let row = VolumeRow {
        id,
        ec2_id,
        account_id: v.account_id.clone(),
        zone_id: v.zone_id.clone(),
        name,
        kind: v.kind.as_str().to_owned(),
        size_gib: v.size_gib,
        volume_type: v.volume_type.clone(),
        iops: v.iops,
        throughput: v.throughput,
        state: v.state.as_str().to_owned(),
        instance_id: v.instance_id.clone(),
        device: v.device.clone(),
        attach_state: attached.then(|| AttachState::Attached.as_str().to_owned()),
        attached_ms: attached.then_some(now),
        delete_on_termination: i64::from(v.delete_on_termination),
        disk_offering_id: v.disk_offering_id.clone(),
        snapshot_id: v.snapshot_id.clone(),
        client_token: v.client_token.clone(),
        created_ms: now,
        updated_ms: now,
    };
    let done = sqlx::query(
        "INSERT INTO volumes (id, ec2_id, account_id, zone_id, name, kind, size_gib, volume_type, \
         iops, throughput, state, instance_id, device, attach_state, attached_ms, \
         delete_on_termination, disk_offering_id, snapshot_id, client_token, created_ms, \
         updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21)",
    )
    .bind(&row.id)
    .bind(&row.ec2_id)
    .bind(&row.account_id)
    .bind(&row.zone_id)
    .bind(&row.name)
    .bind(&row.kind)
    .bind(row.size_gib)
    .bind(&row.volume_type)
    .bind(row.iops)
    .bind(row.throughput)
    .bind(&row.state)
    .bind(&row.instance_id)
    .bind(&row.device)
    .bind(&row.attach_state)
    .bind(row.attached_ms)
    .bind(row.delete_on_termination)
    .bind(&row.disk_offering_id)
    .bind(&row.snapshot_id)
    .bind(&row.client_token)
    .bind(row.created_ms)
    .bind(row.updated_ms)
    .execute(&mut *db)
    .await;
    match done {
        Ok(_) => Ok(row),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(VolumeError::DeviceTaken {
            device: row.device.clone().unwrap_or_default(),
            instance: row.instance_id.clone().unwrap_or_default(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// A volume by native or EC2 id, of any account.
pub async fn get(db: &mut AnyConnection, id: &str) -> VolumeResult<VolumeRow> {
    sqlx::query_as::<_, VolumeRow>("SELECT * FROM volumes WHERE id = $1 OR ec2_id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| VolumeError::VolumeNotFound(id.to_owned()))
}

/// A volume of the account (any account when `account_id` is `None`).
pub async fn owned(
    db: &mut AnyConnection,
    account_id: Option<&str>,
    id: &str,
) -> VolumeResult<VolumeRow> {
    let v = get(db, id).await?;
    match account_id {
        Some(a) if a != v.account_id => Err(VolumeError::VolumeNotFound(id.to_owned())),
        _ => Ok(v),
    }
}

/// The volumes of one instance, root first, then by device name.
pub async fn of_instance(
    db: &mut AnyConnection,
    instance_id: &str,
) -> VolumeResult<Vec<VolumeRow>> {
    Ok(sqlx::query_as::<_, VolumeRow>(
        "SELECT * FROM volumes WHERE instance_id = $1 ORDER BY kind DESC, device",
    )
    .bind(instance_id)
    .fetch_all(db)
    .await?)
}

/// A volume made earlier with this client token, if any.
pub async fn by_token(
    db: &mut AnyConnection,
    account_id: &str,
    token: &str,
) -> VolumeResult<Option<VolumeRow>> {
    Ok(sqlx::query_as::<_, VolumeRow>(
        "SELECT * FROM volumes WHERE account_id = $1 AND client_token = $2",
    )
    .bind(account_id)
    .bind(token)
    .fetch_optional(db)
    .await?)
}

const LISTING: &str = "SELECT v.*, z.name AS zone_name, i.ec2_id AS instance_ec2_id, \
     i.name AS instance_name, i.state AS instance_state, s.ec2_id AS snapshot_ec2_id, \
     a.number AS owner_number, a.name AS account_name, a.domain_id AS domain_id \
     FROM volumes v JOIN zones z ON z.id = v.zone_id JOIN accounts a ON a.id = v.account_id \
     LEFT JOIN instances i ON i.id = v.instance_id LEFT JOIN snapshots s ON s.id = v.snapshot_id";

/// The account's volumes (every account's for `None`), oldest first.
pub async fn list(db: &AnyPool, account_id: Option<&str>) -> VolumeResult<Vec<VolumeListing>> {
    let rows = match account_id {
        Some(a) => {
            sqlx::query_as::<_, VolumeListing>(&format!(
                "{LISTING} WHERE v.account_id = $1 ORDER BY v.created_ms, v.id"
            ))
            .bind(a)
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query_as::<_, VolumeListing>(&format!("{LISTING} ORDER BY v.created_ms, v.id"))
                .fetch_all(db)
                .await?
        }
    };
    Ok(rows)
}

/// Up to `limit` of the account's volumes, oldest first, after the one `after` names as
/// (created_ms, id); and whether more follow. Only the page's rows are read.
pub async fn page_of_account(
    db: &AnyPool,
    account_id: &str,
    after: Option<(i64, &str)>,
    limit: usize,
) -> VolumeResult<(Vec<VolumeListing>, bool)> {
    let (after_ms, after_id) = after.unwrap_or((i64::MIN, ""));
    // The first bound on created_ms alone lets the index start at the cursor; one row more
    // than asked tells whether another page follows.
    let mut rows = sqlx::query_as::<_, VolumeListing>(&format!(
        "{LISTING} WHERE v.account_id = $1 AND v.created_ms >= $2 \
         AND (v.created_ms > $2 OR v.id > $3) ORDER BY v.created_ms, v.id LIMIT $4"
    ))
    .bind(account_id)
    .bind(after_ms)
    .bind(after_id)
    .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
    .fetch_all(db)
    .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, more))
}

/// One volume with its names, whoever owns it.
pub async fn listing_of(db: &AnyPool, id: &str) -> VolumeResult<Option<VolumeListing>> {
    Ok(
        sqlx::query_as::<_, VolumeListing>(&format!("{LISTING} WHERE v.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// The volumes of the account's instances, for the instances' block device mappings.
pub async fn attached_of_account(db: &AnyPool, account_id: &str) -> VolumeResult<Vec<VolumeRow>> {
    Ok(sqlx::query_as::<_, VolumeRow>(
        "SELECT * FROM volumes WHERE account_id = $1 AND instance_id IS NOT NULL \
         ORDER BY instance_id, kind DESC, device",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Records an attachment's new state (`None` with no instance: detached).
pub async fn set_attachment(
    db: &mut AnyConnection,
    id: &str,
    state: VolumeState,
    attachment: Option<(&str, &str, AttachState)>,
) -> VolumeResult<()> {
    let now = now_ms();
    let (instance, device, attach) = match attachment {
        Some((i, d, a)) => (Some(i), Some(d), Some(a.as_str())),
        None => (None, None, None),
    };
    let done = sqlx::query(
        "UPDATE volumes SET state = $2, instance_id = $3, device = $4, attach_state = $5, \
         attached_ms = CASE WHEN $3 IS NULL THEN NULL WHEN attached_ms IS NULL THEN $6 \
         ELSE attached_ms END, updated_ms = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(instance)
    .bind(device)
    .bind(attach)
    .bind(now)
    .execute(&mut *db)
    .await;
    match done {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(VolumeError::DeviceTaken {
            device: device.unwrap_or_default().to_owned(),
            instance: instance.unwrap_or_default().to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

pub async fn set_state(db: &mut AnyConnection, id: &str, state: VolumeState) -> VolumeResult<()> {
    sqlx::query("UPDATE volumes SET state = $2, updated_ms = $3 WHERE id = $1")
        .bind(id)
        .bind(state.as_str())
        .bind(now_ms())
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Records the disk offering a volume now has (a resize to another offering).
pub async fn set_disk_offering(
    db: &mut AnyConnection,
    id: &str,
    disk_offering_id: &str,
) -> VolumeResult<()> {
    sqlx::query("UPDATE volumes SET disk_offering_id = $2, updated_ms = $3 WHERE id = $1")
        .bind(id)
        .bind(disk_offering_id)
        .bind(now_ms())
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Deletes a volume's row, its tags and its modification record.
pub async fn remove(db: &mut AnyConnection, id: &str) -> VolumeResult<()> {
    for sql in [
        "DELETE FROM volumes WHERE id = $1",
        "DELETE FROM volume_modifications WHERE volume_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *db).await?;
    }
    Ok(())
}

/// The latest modification of a volume.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Modification {
    pub volume_id: String,
    pub state: String,
    pub original_size_gib: i64,
    pub target_size_gib: i64,
    pub original_type: String,
    pub target_type: String,
    pub original_iops: Option<i64>,
    pub target_iops: Option<i64>,
    pub original_throughput: Option<i64>,
    pub target_throughput: Option<i64>,
    pub progress: i64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
}

/// Records a modification (replacing the previous one of the volume).
pub async fn record_modification(db: &mut AnyConnection, m: &Modification) -> VolumeResult<()> {
    sqlx::query("DELETE FROM volume_modifications WHERE volume_id = $1")
        .bind(&m.volume_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "INSERT INTO volume_modifications (volume_id, state, original_size_gib, \
         target_size_gib, original_type, target_type, original_iops, target_iops, \
         original_throughput, target_throughput, progress, started_ms, ended_ms) VALUES ($1, \
         $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&m.volume_id)
    .bind(&m.state)
    .bind(m.original_size_gib)
    .bind(m.target_size_gib)
    .bind(&m.original_type)
    .bind(&m.target_type)
    .bind(m.original_iops)
    .bind(m.target_iops)
    .bind(m.original_throughput)
    .bind(m.target_throughput)
    .bind(m.progress)
    .bind(m.started_ms)
    .bind(m.ended_ms)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// The modifications of the account's volumes, with each volume's EC2 id.
pub async fn modifications(
    db: &AnyPool,
    account_id: &str,
) -> VolumeResult<Vec<(String, Modification)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        ec2_id: String,
        #[sqlx(flatten)]
        m: Modification,
    }
    let rows = sqlx::query_as::<_, Row>(
        "SELECT v.ec2_id, m.* FROM volume_modifications m JOIN volumes v ON v.id = m.volume_id \
         WHERE v.account_id = $1 ORDER BY m.started_ms",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.ec2_id, r.m)).collect())
}

/// At an instance's expunge: its root volume and its delete-on-termination volumes go away,
/// the others are detached and become available. Answers the volumes removed.
pub async fn release_instance(
    db: &mut AnyConnection,
    instance_id: &str,
) -> VolumeResult<Vec<VolumeRow>> {
    let volumes = of_instance(db, instance_id).await?;
    let mut removed = Vec::new();
    for v in volumes {
        if v.is_root() || v.delete_on_termination() {
            remove(db, &v.id).await?;
            removed.push(v);
        } else {
            set_attachment(db, &v.id, VolumeState::Available, None).await?;
        }
    }
    Ok(removed)
}
