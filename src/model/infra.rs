//! Infrastructure: zones (EC2 availability zones) hold pods, pods hold clusters of one
//! hypervisor, clusters hold hosts with their CPU and memory capacity. Capacity in use is kept
//! on the host row, so placement reads one table.

use sqlx::{AnyConnection, AnyPool};

use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::new_uuid;
use crate::now_ms;

/// The hypervisor behind a cluster and its hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypervisor {
    /// In-process simulated hosts.
    Simulator,
    /// Real guests under QEMU (KVM when available).
    Kvm,
}

impl Hypervisor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulator => "Simulator",
            Self::Kvm => "KVM",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Simulator" => Some(Self::Simulator),
            "KVM" => Some(Self::Kvm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub region: String,
    pub state: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pod {
    pub id: String,
    pub zone_id: String,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Cluster {
    pub id: String,
    pub pod_id: String,
    pub zone_id: String,
    pub name: String,
    pub hypervisor: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Host {
    pub id: String,
    pub cluster_id: String,
    pub pod_id: String,
    pub zone_id: String,
    pub name: String,
    pub hypervisor: String,
    pub cpus: i64,
    pub memory_mib: i64,
    pub cpus_used: i64,
    pub memory_used_mib: i64,
    pub state: String,
    pub created_ms: i64,
}

pub async fn list_zones(db: &AnyPool) -> CoreResult<Vec<Zone>> {
    Ok(
        sqlx::query_as::<_, Zone>("SELECT * FROM zones ORDER BY name")
            .fetch_all(db)
            .await?,
    )
}

pub async fn zone_by_name(db: &mut AnyConnection, name: &str) -> CoreResult<Option<Zone>> {
    Ok(
        sqlx::query_as::<_, Zone>("SELECT * FROM zones WHERE name = $1")
            .bind(name)
            .fetch_optional(db)
            .await?,
    )
}

pub async fn list_pods(db: &AnyPool) -> CoreResult<Vec<Pod>> {
    Ok(
        sqlx::query_as::<_, Pod>("SELECT * FROM pods ORDER BY created_ms, id")
            .fetch_all(db)
            .await?,
    )
}

pub async fn list_clusters(db: &AnyPool) -> CoreResult<Vec<Cluster>> {
    Ok(
        sqlx::query_as::<_, Cluster>("SELECT * FROM clusters ORDER BY created_ms, id")
            .fetch_all(db)
            .await?,
    )
}

pub async fn list_hosts(db: &AnyPool) -> CoreResult<Vec<Host>> {
    Ok(
        sqlx::query_as::<_, Host>("SELECT * FROM hosts ORDER BY name")
            .fetch_all(db)
            .await?,
    )
}

pub async fn create_zone(db: &mut AnyConnection, name: &str, region: &str) -> CoreResult<Zone> {
    let zone = Zone {
        id: new_uuid(),
        name: name.to_owned(),
        region: region.to_owned(),
        state: "enabled".to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO zones (id, name, region, state, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&zone.id)
    .bind(&zone.name)
    .bind(&zone.region)
    .bind(&zone.state)
    .bind(zone.created_ms)
    .execute(db)
    .await?;
    Ok(zone)
}

pub async fn create_pod(db: &mut AnyConnection, zone: &Zone, name: &str) -> CoreResult<Pod> {
    let pod = Pod {
        id: new_uuid(),
        zone_id: zone.id.clone(),
        name: name.to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query("INSERT INTO pods (id, zone_id, name, created_ms) VALUES ($1, $2, $3, $4)")
        .bind(&pod.id)
        .bind(&pod.zone_id)
        .bind(&pod.name)
        .bind(pod.created_ms)
        .execute(db)
        .await?;
    Ok(pod)
}

pub async fn create_cluster(
    db: &mut AnyConnection,
    pod: &Pod,
    name: &str,
    hypervisor: Hypervisor,
) -> CoreResult<Cluster> {
    let cluster = Cluster {
        id: new_uuid(),
        pod_id: pod.id.clone(),
        zone_id: pod.zone_id.clone(),
        name: name.to_owned(),
        hypervisor: hypervisor.as_str().to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO clusters (id, pod_id, zone_id, name, hypervisor, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&cluster.id)
    .bind(&cluster.pod_id)
    .bind(&cluster.zone_id)
    .bind(&cluster.name)
    .bind(&cluster.hypervisor)
    .bind(cluster.created_ms)
    .execute(db)
    .await?;
    Ok(cluster)
}

pub async fn add_host(
    db: &mut AnyConnection,
    cluster: &Cluster,
    name: &str,
    cpus: i64,
    memory_mib: i64,
) -> CoreResult<Host> {
    if cpus <= 0 || memory_mib <= 0 {
        return Err(CoreError::InvalidParameter(format!(
            "host {name} needs positive CPU and memory, not {cpus} CPUs and {memory_mib} MiB"
        )));
    }
    let host = Host {
        id: new_uuid(),
        cluster_id: cluster.id.clone(),
        pod_id: cluster.pod_id.clone(),
        zone_id: cluster.zone_id.clone(),
        name: name.to_owned(),
        hypervisor: cluster.hypervisor.clone(),
        cpus,
        memory_mib,
        cpus_used: 0,
        memory_used_mib: 0,
        state: "up".to_owned(),
        created_ms: now_ms(),
    };
    sqlx::query(
        "INSERT INTO hosts (id, cluster_id, pod_id, zone_id, name, hypervisor, cpus, memory_mib, \
         cpus_used, memory_used_mib, state, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&host.id)
    .bind(&host.cluster_id)
    .bind(&host.pod_id)
    .bind(&host.zone_id)
    .bind(&host.name)
    .bind(&host.hypervisor)
    .bind(host.cpus)
    .bind(host.memory_mib)
    .bind(host.cpus_used)
    .bind(host.memory_used_mib)
    .bind(&host.state)
    .bind(host.created_ms)
    .execute(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => CoreError::AlreadyExists {
            kind: ResourceKind::Host,
            name: name.to_owned(),
        },
        _ => e.into(),
    })?;
    Ok(host)
}
