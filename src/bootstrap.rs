//! First run: the cloud a new data directory starts with. ROOT, the `admin` account and user
//! with a generated password and key pair, one zone with a pod and a cluster of simulated
//! hosts, the default offerings and the built-in template, all in one transaction, so a start
//! that dies half-way leaves nothing behind and the next start begins again. Later starts find
//! the `initialized` setting and change nothing.

use sqlx::AnyConnection;

use crate::config::SimulatorConfig;
use crate::error::CoreResult;
use crate::model::identity::{self, NewUser, Role};
use crate::model::infra::{self, Hypervisor};
use crate::model::{offering, template};
use crate::store::Store;

pub const ADMIN_NAME: &str = "admin";

/// What a first run made that is shown once.
pub struct FirstRun {
    pub admin_password: String,
}

/// Seeds a new cloud, or answers `None` if this store has one already.
pub async fn first_run(
    store: &Store,
    region: &str,
    zone_name: &str,
    sim: &SimulatorConfig,
) -> CoreResult<Option<FirstRun>> {
    if store.setting("initialized").await?.is_some() {
        return Ok(None);
    }
    // Servers starting at once on a new database: one seeds, the others find it seeded.
    let mut tx = store.begin_write().await?;
    store.lock_in(&mut tx, crate::store::FIRST_RUN_LOCK).await?;
    let seeded: Option<(String,)> =
        sqlx::query_as("SELECT value FROM settings WHERE name = 'initialized'")
            .fetch_optional(&mut *tx)
            .await?;
    if seeded.is_some() {
        return Ok(None);
    }
    let admin_password = seed(&mut tx, region, zone_name, sim).await?;
    sqlx::query("INSERT INTO settings (name, value) VALUES ('region', $1), ('initialized', $2)")
        .bind(region)
        .bind(crate::now_ms().to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        region,
        zone = zone_name,
        hosts = sim.hosts,
        "new cloud created"
    );
    Ok(Some(FirstRun { admin_password }))
}

async fn seed(
    db: &mut AnyConnection,
    region: &str,
    zone_name: &str,
    sim: &SimulatorConfig,
) -> CoreResult<String> {
    let root = identity::ensure_root_domain(db).await?;
    let admin = identity::create_account(db, &root.id, ADMIN_NAME, Role::RootAdmin).await?;
    let password = identity::generate_password();
    let user = identity::create_user(
        db,
        &admin,
        &NewUser {
            username: ADMIN_NAME,
            password: Some(&password),
            firstname: "Cloud",
            lastname: "Administrator",
            email: "",
        },
    )
    .await?;
    identity::create_key(db, &user.id).await?;

    let zone = infra::create_zone(db, zone_name, region).await?;
    let pod = infra::create_pod(db, &zone, "pod-1").await?;
    let cluster = infra::create_cluster(db, &pod, "simulator-1", Hypervisor::Simulator).await?;
    for n in 1..=sim.hosts {
        let memory_mib = i64::from(sim.host_memory_gib) * 1024;
        infra::add_host(
            db,
            &cluster,
            &format!("sim-host-{n}"),
            sim.host_cpus.into(),
            memory_mib,
        )
        .await?;
    }

    for &(name, cpus, memory_mib, burstable) in offering::DEFAULT_SERVICE_OFFERINGS {
        offering::create_service_offering(db, name, cpus, memory_mib, burstable).await?;
    }
    for &(name, size_gib) in offering::DEFAULT_DISK_OFFERINGS {
        offering::create_disk_offering(db, name, size_gib).await?;
    }
    template::create_builtin(db, &admin.id, &zone.id).await?;
    Ok(password)
}

/// The name of the cluster that holds this machine's QEMU host.
pub const QEMU_CLUSTER: &str = "qemu-1";

/// Registers this machine as a QEMU (KVM) host in its own cluster of the first zone, sized
/// from what the machine has, unless it is registered already. Answers the host.
pub async fn ensure_qemu_host(store: &Store) -> CoreResult<infra::Host> {
    let name = format!("qemu-{}", machine_name());
    let mut tx = store.begin_write().await?;
    let existing: Option<infra::Host> = sqlx::query_as("SELECT * FROM hosts WHERE name = $1")
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(host) = existing {
        return Ok(host);
    }
    let pod: infra::Pod = sqlx::query_as("SELECT * FROM pods ORDER BY created_ms, id LIMIT 1")
        .fetch_one(&mut *tx)
        .await?;
    let cluster: Option<infra::Cluster> =
        sqlx::query_as("SELECT * FROM clusters WHERE pod_id = $1 AND name = $2")
            .bind(&pod.id)
            .bind(QEMU_CLUSTER)
            .fetch_optional(&mut *tx)
            .await?;
    let cluster = match cluster {
        Some(c) => c,
        None => infra::create_cluster(&mut tx, &pod, QEMU_CLUSTER, Hypervisor::Kvm).await?,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let host = infra::add_host(&mut tx, &cluster, &name, cpus, machine_memory_mib()).await?;
    tx.commit().await?;
    tracing::info!(host = %host.name, "this machine joined as a QEMU host");
    Ok(host)
}

/// This machine's host name, for naming its QEMU host.
pub fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// This machine's memory in MiB, from /proc/meminfo (1 GiB if it cannot be read).
fn machine_memory_mib() -> i64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .ok()
        })
        .map_or(1024, |kib| kib / 1024)
}
