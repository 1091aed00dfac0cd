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
    let mut tx = store.pool.begin().await?;
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
