//! The orchestrator: turns what users ask (launch, start, stop, reboot, destroy, recover,
//! expunge) into validated state changes and durable jobs, runs those jobs against the
//! hypervisor drivers, and keeps the database and the hosts in agreement.
//!
//! An operation checks and records its intent in one transaction (placing the instance and
//! reserving capacity, or moving it to Stopping) and queues a job; workers on any management
//! server sharing the database take the job under a lease and drive it to its end. The
//! reconciler compares what the drivers report with what the database says, and the expunger
//! removes destroyed instances once their delay has passed.

mod guest;
pub mod images;
mod isos;
pub mod jobs;
#[cfg(test)]
mod overhead_probe;
pub mod placement;
pub mod volumes;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::{Notify, Semaphore};
use tracing::{debug, error, info, warn};

use crate::driver::{Driver, Drivers, PowerState};
use crate::error::{CoreError, CoreResult, ResourceKind};
use crate::model::event::{self, Level, NewEvent};
use crate::model::infra::Hypervisor;
use crate::model::instance::{self, Instance, InstanceRow, InstanceState};
use crate::model::offering::ServiceOffering;
use crate::model::template::Template;
use crate::model::{new_ec2_id, new_uuid};
use crate::now_ms;
use crate::store::Store;
use jobs::{FailureCode, Job, JobFailure, JobKind};
use placement::{Demand, Overcommit};

/// How the orchestrator behaves; every field has a configuration key.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    pub overcommit: Overcommit,
    /// How long a destroyed instance stays recoverable (and visible to EC2 as terminated).
    pub expunge_delay: Duration,
    /// How long a server's claim on a job lasts without renewal.
    pub job_lease: Duration,
    /// How long a job may run before it fails as timed out.
    pub job_timeout: Duration,
    /// How many jobs this server runs at once.
    pub workers: usize,
    /// How often the reconciler and the expunger run.
    pub sweep_interval: Duration,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            overcommit: Overcommit::default(),
            expunge_delay: Duration::from_secs(3600),
            job_lease: Duration::from_secs(30),
            job_timeout: Duration::from_secs(600),
            workers: 32,
            sweep_interval: Duration::from_secs(10),
        }
    }
}

/// What a launch asks for.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub account_id: String,
    pub user_id: String,
    /// The zone by id; `None` takes the template's zone.
    pub zone_id: Option<String>,
    pub offering: ServiceOffering,
    pub template: Template,
    pub min_count: u32,
    pub max_count: u32,
    /// The name (CloudStack) of a single instance; generated when absent.
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub user_data: Option<String>,
    pub key_name: Option<String>,
    pub client_token: Option<String>,
    /// False to leave the instances Stopped (native `startvm=false`).
    pub start: bool,
}

/// What a door adds to each instance a launch makes, in the launch's transaction.
#[async_trait::async_trait]
pub trait LaunchAttachments: Send + Sync {
    async fn attach(&self, db: &mut AnyConnection, instance: &InstanceRow) -> CoreResult<()>;
}

/// A launch with nothing attached.
pub struct NoAttachments;

#[async_trait::async_trait]
impl LaunchAttachments for NoAttachments {
    async fn attach(&self, _db: &mut AnyConnection, _instance: &InstanceRow) -> CoreResult<()> {
        Ok(())
    }
}

/// What a launch made.
#[derive(Debug, Clone)]
pub struct Launched {
    pub reservation_id: String,
    pub instances: Vec<Instance>,
    /// The start job of each instance, in the same order (none when not started).
    pub job_ids: Vec<String>,
    /// True when the client token matched an earlier launch and nothing new was made.
    pub replayed: bool,
}

/// A queued operation on one instance: its state after the request, and the job.
#[derive(Debug, Clone)]
pub struct Queued {
    pub previous: InstanceState,
    pub instance: Instance,
    pub job_id: String,
}

pub struct Orchestrator {
    store: Store,
    drivers: Drivers,
    config: OrchestratorConfig,
    /// This server's name on the leases it holds.
    server_id: String,
    /// Wakes the job loop when a job is queued here or ends. `notify_one` keeps a permit when
    /// the loop is busy claiming, so a job queued meanwhile is not left to the next poll.
    wake: Notify,
    /// Where hosts that run real disks find templates' images; set once at start-up.
    images: std::sync::OnceLock<Arc<dyn crate::driver::TemplateImages>>,
    /// Where hosts that run real disks find ISOs' images; set once at start-up.
    isos: std::sync::OnceLock<Arc<dyn crate::driver::IsoImages>>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

fn demand_of(i: &InstanceRow) -> Demand {
    Demand {
        cpus: i.cpus,
        memory_mib: i.memory_mib,
    }
}

impl Orchestrator {
    pub fn new(store: Store, drivers: Drivers, config: OrchestratorConfig) -> Self {
        Self {
            store,
            drivers,
            config,
            server_id: new_uuid(),
            wake: Notify::new(),
            images: std::sync::OnceLock::new(),
            isos: std::sync::OnceLock::new(),
        }
    }

    pub fn config(&self) -> &OrchestratorConfig {
        &self.config
    }

    /// True if this server runs a driver for `hypervisor` (QEMU only with `--qemu`).
    pub fn drives(&self, hypervisor: Hypervisor) -> bool {
        self.drivers.get(hypervisor).is_some()
    }

    fn timeout_ms(&self) -> i64 {
        self.config.job_timeout.as_millis() as i64
    }

    /// Places and records `min_count..=max_count` instances and queues their start jobs.
    pub async fn launch(&self, spec: LaunchSpec) -> CoreResult<Launched> {
        self.launch_with(spec, &NoAttachments).await
    }

    /// [`Orchestrator::launch`], with `attachments` done for each new instance inside the
    /// launch's transaction (network interfaces, addresses, groups), so a launch that fails
    /// leaves nothing half-made. A replayed client token attaches nothing.
    pub async fn launch_with(
        &self,
        spec: LaunchSpec,
        attachments: &dyn LaunchAttachments,
    ) -> CoreResult<Launched> {
        if spec.min_count == 0 || spec.min_count > spec.max_count {
            return Err(CoreError::InvalidParameter(format!(
                "the instance count must be at least 1 and at most the maximum, not {} to {}",
                spec.min_count, spec.max_count
            )));
        }
        let mut tx = self.store.begin_write().await?;
        if let Some(token) = &spec.client_token {
            if let Some(earlier) = self
                .launched_with_token(&mut tx, &spec.account_id, token)
                .await?
            {
                return Ok(earlier);
            }
        }
        let hypervisor = Hypervisor::parse(&spec.template.hypervisor).ok_or_else(|| {
            CoreError::Internal(format!(
                "template {} has hypervisor {:?}",
                spec.template.id, spec.template.hypervisor
            ))
        })?;
        let zone_id = spec
            .zone_id
            .clone()
            .unwrap_or_else(|| spec.template.zone_id.clone());
        let demand = Demand {
            cpus: spec.offering.cpus,
            memory_mib: spec.offering.memory_mib,
        };

        let hosts = if spec.start {
            let hosts = placement::reserve(
                &self.store,
                &mut tx,
                &zone_id,
                hypervisor.as_str(),
                demand,
                spec.max_count as usize,
                self.config.overcommit,
            )
            .await?;
            if hosts.len() < spec.min_count as usize {
                return Err(CoreError::InsufficientCapacity(format!(
                    "there is room for {} of the {} {} instances asked for in this zone",
                    hosts.len(),
                    spec.min_count,
                    spec.offering.name
                )));
            }
            hosts.into_iter().map(Some).collect()
        } else {
            vec![None; spec.max_count as usize]
        };

        let reservation_id = new_ec2_id("r");
        let now = now_ms();
        let mut launched = Launched {
            reservation_id: reservation_id.clone(),
            instances: Vec::new(),
            job_ids: Vec::new(),
            replayed: false,
        };
        for (index, host_id) in hosts.into_iter().enumerate() {
            let ec2_id = new_ec2_id("i");
            let name = match (&spec.name, spec.max_count) {
                (Some(name), 1) => name.clone(),
                (Some(name), _) => format!("{name}-{}", index + 1),
                (None, _) => ec2_id.clone(),
            };
            let state = if host_id.is_some() {
                InstanceState::Starting
            } else {
                InstanceState::Stopped
            };
            let row = InstanceRow {
                id: new_uuid(),
                display_name: spec.display_name.clone().unwrap_or_else(|| name.clone()),
                name,
                ec2_id,
                account_id: spec.account_id.clone(),
                user_id: spec.user_id.clone(),
                zone_id: zone_id.clone(),
                capacity_held: i64::from(host_id.is_some()),
                host_id,
                offering_id: spec.offering.id.clone(),
                template_id: spec.template.id.clone(),
                hypervisor: hypervisor.as_str().to_owned(),
                cpus: demand.cpus,
                memory_mib: demand.memory_mib,
                state: state.as_str().to_owned(),
                target_state: spec
                    .start
                    .then(|| InstanceState::Running.as_str().to_owned()),
                state_reason: String::new(),
                user_data: spec.user_data.clone(),
                key_name: spec.key_name.clone(),
                reservation_id: reservation_id.clone(),
                launch_index: index as i64,
                client_token: spec.client_token.clone(),
                created_ms: now,
                launched_ms: None,
                destroyed_ms: None,
                updated_ms: now,
            };
            instance::insert(&mut tx, &row).await?;
            volumes::insert_root(&mut tx, &row, &spec.template).await?;
            attachments.attach(&mut tx, &row).await?;
            self.event(
                &mut tx,
                &row,
                "VM.CREATE",
                Level::Info,
                "Created",
                format!("created instance {}", row.ec2_id),
            )
            .await?;
            if spec.start {
                let job = jobs::enqueue(
                    &mut tx,
                    &JobKind::StartInstance,
                    Some(&row.id),
                    &row.account_id,
                    &row.user_id,
                    self.timeout_ms(),
                )
                .await?;
                launched.job_ids.push(job);
            }
            launched.instances.push(Instance { row, state });
        }
        tx.commit().await?;
        self.wake.notify_one();
        info!(
            reservation = %launched.reservation_id,
            count = launched.instances.len(),
            offering = %spec.offering.name,
            "instances launched"
        );
        Ok(launched)
    }

    async fn launched_with_token(
        &self,
        db: &mut AnyConnection,
        account_id: &str,
        token: &str,
    ) -> CoreResult<Option<Launched>> {
        let rows: Vec<InstanceRow> = sqlx::query_as(
            "SELECT * FROM instances WHERE account_id = $1 AND client_token = $2 \
             ORDER BY launch_index",
        )
        .bind(account_id)
        .bind(token)
        .fetch_all(&mut *db)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let reservation_id = first.reservation_id.clone();
        let instances = rows
            .into_iter()
            .map(Instance::try_from)
            .collect::<CoreResult<Vec<_>>>()?;
        Ok(Some(Launched {
            reservation_id,
            instances,
            job_ids: Vec::new(),
            replayed: true,
        }))
    }

    /// Loads an instance of the account (any account for an admin) inside a write transaction.
    async fn owned(
        &self,
        db: &mut AnyConnection,
        account_id: Option<&str>,
        id: &str,
    ) -> CoreResult<Instance> {
        let i = instance::get(db, id).await?;
        match account_id {
            Some(a) if a != i.account_id => Err(CoreError::not_found(ResourceKind::Instance, id)),
            _ => Ok(i),
        }
    }

    async fn set_intent(
        &self,
        db: &mut AnyConnection,
        i: &InstanceRow,
        state: InstanceState,
        target: Option<InstanceState>,
    ) -> CoreResult<()> {
        sqlx::query(
            "UPDATE instances SET state = $2, target_state = $3, state_reason = '', updated_ms = $4 \
             WHERE id = $1",
        )
        .bind(&i.id)
        .bind(state.as_str())
        .bind(target.map(InstanceState::as_str))
        .bind(now_ms())
        .execute(db)
        .await?;
        Ok(())
    }

    async fn queue(
        &self,
        db: &mut AnyConnection,
        i: &InstanceRow,
        kind: JobKind,
        user_id: &str,
    ) -> CoreResult<String> {
        jobs::enqueue(
            db,
            &kind,
            Some(&i.id),
            &i.account_id,
            user_id,
            self.timeout_ms(),
        )
        .await
    }

    /// Starts a stopped instance: places it (capacity is taken now) and queues its boot.
    /// `account_id` restricts to one account's instances (`None` for an admin).
    pub async fn start(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.owned(&mut tx, account_id, id).await?;
        if i.state != InstanceState::Stopped || i.target_state.is_some() {
            return Err(incorrect(&i, "Stopped"));
        }
        let hosts = placement::reserve(
            &self.store,
            &mut tx,
            &i.zone_id,
            &i.hypervisor,
            demand_of(&i),
            1,
            self.config.overcommit,
        )
        .await?;
        let Some(host) = hosts.into_iter().next() else {
            return Err(CoreError::InsufficientCapacity(format!(
                "no host in the zone has room for instance {} ({} vCPU, {} MiB)",
                i.ec2_id, i.cpus, i.memory_mib
            )));
        };
        sqlx::query(
            "UPDATE instances SET state = 'Starting', target_state = 'Running', host_id = $2, \
             capacity_held = 1, state_reason = '', updated_ms = $3 WHERE id = $1",
        )
        .bind(&i.id)
        .bind(&host)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let job_id = self
            .queue(&mut tx, &i, JobKind::StartInstance, user_id)
            .await?;
        let instance = instance::get(&mut tx, &i.id).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Queued {
            previous: i.state,
            instance,
            job_id,
        })
    }

    /// Stops a running instance.
    pub async fn stop(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
        force: bool,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.owned(&mut tx, account_id, id).await?;
        let accepts = matches!(i.state, InstanceState::Running | InstanceState::Starting)
            && i.target_state.as_deref() != Some(InstanceState::Destroyed.as_str());
        if !accepts {
            return Err(incorrect(&i, "Running"));
        }
        if i.state == InstanceState::Running {
            self.set_intent(
                &mut tx,
                &i,
                InstanceState::Stopping,
                Some(InstanceState::Stopped),
            )
            .await?;
        } else {
            // A start is still in flight: the stop runs after it, in order.
            self.set_intent(&mut tx, &i, i.state, Some(InstanceState::Stopped))
                .await?;
        }
        let job_id = self
            .queue(&mut tx, &i, JobKind::StopInstance { force }, user_id)
            .await?;
        let instance = instance::get(&mut tx, &i.id).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Queued {
            previous: i.state,
            instance,
            job_id,
        })
    }

    pub async fn reboot(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.owned(&mut tx, account_id, id).await?;
        if i.state != InstanceState::Running || i.target_state.is_some() {
            return Err(incorrect(&i, "Running"));
        }
        let job_id = self
            .queue(&mut tx, &i, JobKind::RebootInstance, user_id)
            .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Queued {
            previous: i.state,
            instance: i.clone(),
            job_id,
        })
    }

    /// Destroys an instance (EC2: terminates it). It stays recoverable until the expunge
    /// delay has passed, unless `expunge`.
    pub async fn destroy(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
        expunge: bool,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.owned(&mut tx, account_id, id).await?;
        if matches!(i.state, InstanceState::Destroyed | InstanceState::Expunging)
            || i.target_state.as_deref() == Some(InstanceState::Destroyed.as_str())
        {
            return Err(incorrect(&i, "not destroyed"));
        }
        let state = if i.state == InstanceState::Running {
            InstanceState::Stopping
        } else {
            i.state
        };
        self.set_intent(&mut tx, &i, state, Some(InstanceState::Destroyed))
            .await?;
        let job_id = self
            .queue(&mut tx, &i, JobKind::DestroyInstance { expunge }, user_id)
            .await?;
        let instance = instance::get(&mut tx, &i.id).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Queued {
            previous: i.state,
            instance,
            job_id,
        })
    }

    /// Brings a destroyed instance back, stopped.
    pub async fn recover(&self, account_id: Option<&str>, id: &str) -> CoreResult<Instance> {
        let mut tx = self.store.begin_write().await?;
        let i = self.owned(&mut tx, account_id, id).await?;
        if i.state != InstanceState::Destroyed {
            return Err(incorrect(&i, "Destroyed"));
        }
        sqlx::query(
            "UPDATE instances SET state = 'Stopped', target_state = NULL, destroyed_ms = NULL, \
             state_reason = '', updated_ms = $2 WHERE id = $1",
        )
        .bind(&i.id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        self.event(
            &mut tx,
            &i,
            "VM.RECOVER",
            Level::Info,
            "Completed",
            format!("recovered instance {}", i.ec2_id),
        )
        .await?;
        let instance = instance::get(&mut tx, &i.id).await?;
        tx.commit().await?;
        Ok(instance)
    }

    /// Expunges a destroyed instance now.
    pub async fn expunge(
        &self,
        account_id: Option<&str>,
        user_id: &str,
        id: &str,
    ) -> CoreResult<Queued> {
        let mut tx = self.store.begin_write().await?;
        let i = self.owned(&mut tx, account_id, id).await?;
        if i.state != InstanceState::Destroyed || i.target_state.is_some() {
            return Err(incorrect(&i, "Destroyed"));
        }
        self.set_intent(&mut tx, &i, InstanceState::Expunging, None)
            .await?;
        let job_id = self
            .queue(&mut tx, &i, JobKind::ExpungeInstance, user_id)
            .await?;
        let instance = instance::get(&mut tx, &i.id).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(Queued {
            previous: i.state,
            instance,
            job_id,
        })
    }

    /// The tail of an instance's console, as its host's driver keeps it (empty when the
    /// driver keeps none, as the simulator does, or the guest has not run here).
    pub async fn console_output(&self, i: &InstanceRow) -> CoreResult<Vec<u8>> {
        let Some(driver) = Hypervisor::parse(&i.hypervisor).and_then(|h| self.drivers.get(h))
        else {
            return Ok(Vec::new());
        };
        match driver.console_output(&i.id).await {
            Ok(output) => Ok(output.unwrap_or_default()),
            Err(crate::driver::DriverError::NoSuchGuest) => Ok(Vec::new()),
            Err(e) => Err(CoreError::Internal(format!(
                "reading the console of {}: {e}",
                i.ec2_id
            ))),
        }
    }

    /// Records that an operation on an instance completed: `VM.START`, "started", ...
    async fn completed(
        &self,
        db: &mut AnyConnection,
        i: &InstanceRow,
        kind: &str,
        done: &str,
    ) -> CoreResult<()> {
        let description = format!("{done} instance {}", i.ec2_id);
        self.event(db, i, kind, Level::Info, "Completed", description)
            .await
    }

    async fn event(
        &self,
        db: &mut AnyConnection,
        i: &InstanceRow,
        kind: &str,
        level: Level,
        state: &str,
        description: String,
    ) -> CoreResult<()> {
        event::record(
            db,
            NewEvent {
                account_id: &i.account_id,
                user_id: &i.user_id,
                kind,
                level,
                state,
                resource_id: Some(&i.id),
                description,
            },
        )
        .await
    }

    /// Runs the job workers, the reconciler and the expunger until the process ends.
    pub fn spawn(self: &Arc<Self>) {
        info!(
            server = %self.server_id,
            workers = self.config.workers,
            job_lease_secs = self.config.job_lease.as_secs(),
            "orchestrator running"
        );
        let me = self.clone();
        tokio::spawn(async move { me.work().await });
        let me = self.clone();
        tokio::spawn(async move { me.sweep().await });
    }

    async fn work(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.config.workers));
        let lease_ms = self.config.job_lease.as_millis() as i64;
        loop {
            let free = slots.available_permits() as i64;
            let claimed = if free > 0 {
                self.claim(lease_ms, free).await
            } else {
                Ok(Vec::new())
            };
            let got = match claimed {
                Ok(jobs) => jobs,
                Err(e) => {
                    error!(error = %e, "claiming jobs failed");
                    Vec::new()
                }
            };
            let idle = got.is_empty();
            for job in got {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    me.run(job).await;
                    drop(permit);
                    me.wake.notify_one();
                });
            }
            if idle {
                // Woken by a new local job or a finished one; polled for other servers' jobs.
                let _ =
                    tokio::time::timeout(Duration::from_millis(200), self.wake.notified()).await;
            }
        }
    }

    /// Claims jobs in one write transaction, so claiming costs one commit however many it takes.
    async fn claim(&self, lease_ms: i64, limit: i64) -> CoreResult<Vec<Job>> {
        let mut tx = self.store.begin_write().await?;
        let claimed = jobs::claim(&mut tx, &self.server_id, lease_ms, limit).await?;
        tx.commit().await?;
        for job in claimed.iter().filter(|j| j.attempts > 1) {
            // A job claimed again: the server that held it stopped renewing its lease.
            info!(
                job = %job.id,
                kind = job.kind.name(),
                attempt = job.attempts,
                "took over a job whose lease had lapsed"
            );
        }
        Ok(claimed)
    }

    /// Runs one job to its end, renewing its lease meanwhile.
    async fn run(self: &Arc<Self>, job: Job) {
        let lease_ms = self.config.job_lease.as_millis() as i64;
        let renewer = {
            let me = self.clone();
            let id = job.id.clone();
            tokio::spawn(async move {
                let every = me.config.job_lease / 3;
                loop {
                    tokio::time::sleep(every).await;
                    match jobs::renew(&me.store, &id, &me.server_id, lease_ms).await {
                        Ok(true) => {}
                        Ok(false) => {
                            warn!(job = %id, "lost the lease on a job to another server");
                            return;
                        }
                        Err(e) => warn!(job = %id, error = %e, "renewing a job lease failed"),
                    }
                }
            })
        };
        let remaining = Duration::from_millis((job.deadline_ms - now_ms()).max(0) as u64);
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(remaining, self.execute(&job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobFailure {
                code: FailureCode::TimedOut,
                text: format!(
                    "the {} job did not finish within its time limit",
                    job.kind.name()
                ),
            }),
        };
        renewer.abort();
        if let Err(e) = self.conclude(&job, outcome).await {
            error!(job = %job.id, error = %e, "recording the end of a job failed");
        }
        debug!(job = %job.id, kind = job.kind.name(), ms = started.elapsed().as_millis() as u64, "job ran");
    }

    fn driver(&self, i: &InstanceRow) -> Result<&Arc<dyn Driver>, JobFailure> {
        let hypervisor = Hypervisor::parse(&i.hypervisor);
        hypervisor
            .and_then(|h| self.drivers.get(h))
            .ok_or_else(|| JobFailure {
                code: FailureCode::HostFailed,
                text: format!(
                    "this management server has no {} driver for instance {}",
                    i.hypervisor, i.ec2_id
                ),
            })
    }

    /// Does the job's work on the host; the state change is recorded by [`Self::conclude`].
    async fn execute(&self, job: &Job) -> Result<Option<String>, JobFailure> {
        let internal = |e: CoreError| JobFailure {
            code: FailureCode::Internal,
            text: e.to_string(),
        };
        let Some(instance_id) = &job.instance_id else {
            return Ok(None);
        };
        let mut conn = self
            .store
            .pool
            .acquire()
            .await
            .map_err(|e| internal(e.into()))?;
        let i = instance::get(&mut conn, instance_id)
            .await
            .map_err(internal)?;
        drop(conn);
        let host_failed = |e: crate::driver::DriverError| JobFailure {
            code: FailureCode::HostFailed,
            text: e.to_string(),
        };
        match &job.kind {
            JobKind::StartInstance => {
                if i.state != InstanceState::Starting {
                    return Ok(None);
                }
                let Some(host_id) = i.host_id.clone() else {
                    return Err(JobFailure {
                        code: FailureCode::Internal,
                        text: "no host was chosen".into(),
                    });
                };
                let spec = self.guest_spec(&i, host_id).await?;
                self.driver(&i)?.start(&spec).await.map_err(host_failed)?;
            }
            JobKind::StopInstance { force } => {
                if matches!(i.state, InstanceState::Stopping | InstanceState::Running) {
                    self.driver(&i)?
                        .stop(&i.id, *force)
                        .await
                        .map_err(host_failed)?;
                }
            }
            JobKind::RebootInstance => {
                if i.state == InstanceState::Running {
                    self.driver(&i)?.reboot(&i.id).await.map_err(host_failed)?;
                }
            }
            JobKind::DestroyInstance { expunge } => {
                let driver = self.driver(&i)?;
                if matches!(
                    i.state,
                    InstanceState::Stopping | InstanceState::Running | InstanceState::Starting
                ) {
                    driver.stop(&i.id, true).await.map_err(host_failed)?;
                }
                if *expunge {
                    driver.destroy(&i.id).await.map_err(host_failed)?;
                }
            }
            JobKind::ExpungeInstance => {
                self.driver(&i)?.destroy(&i.id).await.map_err(host_failed)?;
            }
            JobKind::AttachIso { iso_id } => self.insert_cdrom(&i, Some(iso_id)).await?,
            JobKind::DetachIso => self.insert_cdrom(&i, None).await?,
        }
        Ok(Some(i.id.clone()))
    }

    /// Records a job's outcome and the instance's new state in one transaction.
    async fn conclude(
        &self,
        job: &Job,
        outcome: Result<Option<String>, JobFailure>,
    ) -> CoreResult<()> {
        let mut tx = self.store.begin_write().await?;
        let instance = match &job.instance_id {
            Some(id) => match instance::get(&mut tx, id).await {
                Ok(i) => Some(i),
                Err(CoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        if let Some(i) = &instance {
            match &outcome {
                Ok(_) => self.succeeded(&mut tx, job, i).await?,
                Err(f) => self.failed(&mut tx, job, i, f).await?,
            }
        }
        let finished = match &outcome {
            Ok(r) => jobs::finish(&mut tx, &job.id, &self.server_id, Ok(r.clone())).await?,
            Err(f) => jobs::finish(&mut tx, &job.id, &self.server_id, Err(f)).await?,
        };
        if !finished {
            // Another server took the job over after our lease lapsed: its outcome counts.
            warn!(job = %job.id, "a job's lease lapsed before it finished; leaving it to its new owner");
            return Ok(());
        }
        tx.commit().await?;
        Ok(())
    }

    async fn succeeded(&self, db: &mut AnyConnection, job: &Job, i: &Instance) -> CoreResult<()> {
        let now = now_ms();
        match &job.kind {
            JobKind::StartInstance if i.state == InstanceState::Starting => {
                sqlx::query(
                    "UPDATE instances SET state = 'Running', launched_ms = $2, updated_ms = $2, \
                     target_state = CASE WHEN target_state = 'Running' THEN NULL ELSE target_state END \
                     WHERE id = $1",
                )
                .bind(&i.id)
                .bind(now)
                .execute(&mut *db)
                .await?;
                self.completed(db, i, "VM.START", "started").await?;
            }
            JobKind::StopInstance { .. } => {
                self.give_back(db, i).await?;
                sqlx::query(
                    "UPDATE instances SET state = 'Stopped', target_state = NULL, updated_ms = $2 \
                     WHERE id = $1",
                )
                .bind(&i.id)
                .bind(now)
                .execute(&mut *db)
                .await?;
                self.completed(db, i, "VM.STOP", "stopped").await?;
            }
            JobKind::DestroyInstance { expunge: false } => {
                self.give_back(db, i).await?;
                sqlx::query(
                    "UPDATE instances SET state = 'Destroyed', target_state = NULL, destroyed_ms = $2, \
                     updated_ms = $2 WHERE id = $1",
                )
                .bind(&i.id)
                .bind(now)
                .execute(&mut *db)
                .await?;
                self.completed(db, i, "VM.DESTROY", "destroyed").await?;
            }
            JobKind::DestroyInstance { expunge: true } | JobKind::ExpungeInstance => {
                self.give_back(db, i).await?;
                self.release_volumes(db, i).await?;
                crate::model::iso::eject(db, &i.id).await?;
                self.completed(db, i, "VM.EXPUNGE", "expunged").await?;
                sqlx::query("DELETE FROM instances WHERE id = $1")
                    .bind(&i.id)
                    .execute(&mut *db)
                    .await?;
            }
            JobKind::AttachIso { .. } => {
                self.completed(db, i, "ISO.ATTACH", "attached an ISO to")
                    .await?
            }
            JobKind::DetachIso => {
                crate::model::iso::eject(db, &i.id).await?;
                self.completed(db, i, "ISO.DETACH", "detached the ISO from")
                    .await?;
            }
            JobKind::StartInstance | JobKind::RebootInstance => {}
        }
        Ok(())
    }

    async fn failed(
        &self,
        db: &mut AnyConnection,
        job: &Job,
        i: &Instance,
        f: &JobFailure,
    ) -> CoreResult<()> {
        warn!(job = %job.id, kind = job.kind.name(), instance = %i.ec2_id, reason = %f.text, "job failed");
        let (state, give_back) = match &job.kind {
            // A guest that never ran is in Error; one that ran before goes back to Stopped.
            JobKind::StartInstance if i.launched_ms.is_none() => (InstanceState::Error, true),
            JobKind::StartInstance => (InstanceState::Stopped, true),
            JobKind::StopInstance { .. } | JobKind::DestroyInstance { .. } => {
                (InstanceState::Running, false)
            }
            JobKind::RebootInstance => (i.state, false),
            JobKind::ExpungeInstance => (InstanceState::Destroyed, false),
            JobKind::AttachIso { .. } | JobKind::DetachIso => {
                return self.iso_change_failed(db, job, i, f).await;
            }
        };
        if give_back {
            self.give_back(db, i).await?;
        }
        sqlx::query(
            "UPDATE instances SET state = $2, target_state = NULL, state_reason = $3, updated_ms = $4 \
             WHERE id = $1",
        )
        .bind(&i.id)
        .bind(state.as_str())
        .bind(&f.text)
        .bind(now_ms())
        .execute(&mut *db)
        .await?;
        let kind = format!(
            "VM.{}",
            job.kind
                .name()
                .trim_end_matches("Instance")
                .to_ascii_uppercase()
        );
        self.event(db, i, &kind, Level::Error, "Completed", f.text.clone())
            .await
    }

    /// Releases the instance's capacity on its host, once.
    async fn give_back(&self, db: &mut AnyConnection, i: &InstanceRow) -> CoreResult<()> {
        let Some(host) = &i.host_id else {
            return Ok(());
        };
        let done = sqlx::query(
            "UPDATE instances SET capacity_held = 0 WHERE id = $1 AND capacity_held = 1",
        )
        .bind(&i.id)
        .execute(&mut *db)
        .await?;
        if done.rows_affected() == 1 {
            placement::release(db, host, demand_of(i)).await?;
        }
        Ok(())
    }

    async fn sweep(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.config.sweep_interval).await;
            if let Err(e) = self.reconcile().await {
                error!(error = %e, "reconciling instances with their hosts failed");
            }
            if let Err(e) = self.expunge_due().await {
                error!(error = %e, "expunging destroyed instances failed");
            }
        }
    }

    /// Marks stopped every instance the database thinks is running but whose host says is not.
    // LIMITATION: a driver's report is taken as the word of every host of its hypervisor. True
    // for the simulator (one table for all its hosts) and for one QEMU host; with QEMU hosts on
    // several machines, each server would mark the others' guests stopped (see jobs::CLAIMABLE).
    pub async fn reconcile(&self) -> CoreResult<()> {
        for driver in self.drivers.all() {
            // The database first, the hosts second: an instance is Running in the database
            // only after its guest started, so a guest missing from the later look at the
            // hosts is really gone. (The other order took instances that came up between the
            // two reads for guests that had stopped.)
            let running: Vec<InstanceRow> = sqlx::query_as(
                "SELECT * FROM instances WHERE hypervisor = $1 AND state = 'Running' \
                 AND target_state IS NULL",
            )
            .bind(driver.hypervisor().as_str())
            .fetch_all(&self.store.pool)
            .await?;
            let powered = driver
                .power_states()
                .await
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            for row in running {
                if powered.get(&row.id) == Some(&PowerState::Running) {
                    continue;
                }
                self.mark_stopped_on_its_own(&row.id).await?;
            }
        }
        Ok(())
    }

    async fn mark_stopped_on_its_own(&self, id: &str) -> CoreResult<()> {
        let mut tx = self.store.begin_write().await?;
        let i = instance::get(&mut tx, id).await?;
        // Look again inside the transaction: a job may have started since the scan.
        if i.state != InstanceState::Running
            || i.target_state.is_some()
            || jobs::instance_busy(&mut tx, id).await?
        {
            return Ok(());
        }
        self.give_back(&mut tx, &i).await?;
        sqlx::query(
            "UPDATE instances SET state = 'Stopped', state_reason = $2, updated_ms = $3 WHERE id = $1",
        )
        .bind(id)
        .bind("the guest stopped on its own")
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        self.event(
            &mut tx,
            &i,
            "VM.STOP",
            Level::Warn,
            "Completed",
            format!("instance {} stopped on its own", i.ec2_id),
        )
        .await?;
        tx.commit().await?;
        warn!(instance = %i.ec2_id, "a guest stopped on its own; marked stopped");
        Ok(())
    }

    /// Queues the expunge of every instance destroyed longer ago than the expunge delay.
    pub async fn expunge_due(&self) -> CoreResult<()> {
        let cutoff = now_ms() - self.config.expunge_delay.as_millis() as i64;
        let due: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, user_id FROM instances WHERE state = 'Destroyed' AND target_state IS NULL \
             AND destroyed_ms < $1 LIMIT 500",
        )
        .bind(cutoff)
        .fetch_all(&self.store.pool)
        .await?;
        for (id, user_id) in due {
            match self.expunge(None, &user_id, &id).await {
                Ok(_) | Err(CoreError::IncorrectState { .. }) | Err(CoreError::NotFound { .. }) => {
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn incorrect(i: &Instance, wanted: &str) -> CoreError {
    let state = match &i.target_state {
        Some(target) => format!("{} (on its way to {target})", i.state.as_str()),
        None => i.state.as_str().to_owned(),
    };
    CoreError::IncorrectState {
        kind: ResourceKind::Instance,
        id: i.ec2_id.clone(),
        state,
        wanted: wanted.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step ends the test, which is what a test should do
mod tests {
    use super::*;
    use crate::config::SimulatorConfig;
    use crate::driver::simulator::{Simulator, SimulatorBehaviour};
    use crate::model::{offering, template};

    pub(super) struct Fixture {
        _dir: tempfile::TempDir,
        pub(super) store: Store,
        pub(super) orchestrator: Arc<Orchestrator>,
        account_id: String,
        user_id: String,
        offering: ServiceOffering,
        template: Template,
    }

    /// Two small hosts (2 vCPU, 4 GiB) at over-commit 1, t3.small instances.
    async fn fixture(behaviour: SimulatorBehaviour) -> Fixture {
        let sim = SimulatorConfig {
            hosts: 2,
            host_cpus: 2,
            host_memory_gib: 4,
            behaviour,
        };
        let config = OrchestratorConfig {
            overcommit: Overcommit {
                cpu: 1.0,
                memory: 1.0,
            },
            sweep_interval: Duration::from_millis(100),
            ..OrchestratorConfig::default()
        };
        fixture_with(sim, config, "t3.small").await
    }

    pub(super) async fn fixture_with(
        sim: SimulatorConfig,
        config: OrchestratorConfig,
        offering_name: &str,
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        crate::bootstrap::first_run(&store, "us-east-1", "us-east-1a", &sim)
            .await
            .unwrap();
        let simulator = Simulator::new(store.clone(), sim.behaviour.clone());
        let drivers = Drivers::new(vec![Arc::new(simulator)]);
        let orchestrator = Arc::new(Orchestrator::new(store.clone(), drivers, config));
        orchestrator.spawn();
        let (account_id, user_id): (String, String) =
            sqlx::query_as("SELECT account_id, id FROM users WHERE username = 'admin'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        let offering = offering::list_service_offerings(&store.pool)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.name == offering_name)
            .unwrap();
        let template = template::list_visible(&store.pool, &account_id)
            .await
            .unwrap()
            .remove(0);
        Fixture {
            _dir: dir,
            store,
            orchestrator,
            account_id,
            user_id,
            offering,
            template,
        }
    }

    impl Fixture {
        pub(super) fn spec(&self, min: u32, max: u32) -> LaunchSpec {
            LaunchSpec {
                account_id: self.account_id.clone(),
                user_id: self.user_id.clone(),
                zone_id: None,
                offering: self.offering.clone(),
                template: self.template.clone(),
                min_count: min,
                max_count: max,
                name: None,
                display_name: None,
                user_data: None,
                key_name: None,
                client_token: None,
                start: true,
            }
        }

        async fn wait_for(&self, id: &str, state: InstanceState) -> Instance {
            for _ in 0..200 {
                let mut conn = self.store.pool.acquire().await.unwrap();
                let i = instance::get(&mut conn, id).await.unwrap();
                if i.state == state && i.target_state.is_none() {
                    return i;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("instance {id} never became {state:?}");
        }

        async fn used(&self) -> (i64, i64) {
            sqlx::query_as("SELECT SUM(cpus_used), SUM(memory_used_mib) FROM hosts")
                .fetch_one(&self.store.pool)
                .await
                .unwrap()
        }
    }

    #[tokio::test]
    async fn lifecycle_takes_and_gives_back_capacity() {
        let f = fixture(SimulatorBehaviour::default()).await;
        let launched = f.orchestrator.launch(f.spec(1, 2)).await.unwrap();
        assert_eq!(launched.instances.len(), 2);
        assert!(launched
            .instances
            .iter()
            .all(|i| i.state == InstanceState::Starting));
        let id = launched.instances[0].id.clone();
        f.wait_for(&id, InstanceState::Running).await;
        f.wait_for(&launched.instances[1].id, InstanceState::Running)
            .await;
        assert_eq!(f.used().await, (4, 4096));

        let q = f
            .orchestrator
            .stop(Some(&f.account_id), &f.user_id, &id, false)
            .await
            .unwrap();
        assert_eq!(q.instance.state, InstanceState::Stopping);
        f.wait_for(&id, InstanceState::Stopped).await;
        assert_eq!(f.used().await, (2, 2048));

        // Stopping a stopped instance is refused with the state named.
        let err = f
            .orchestrator
            .stop(Some(&f.account_id), &f.user_id, &id, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is Stopped"), "{err}");

        f.orchestrator
            .start(Some(&f.account_id), &f.user_id, &id)
            .await
            .unwrap();
        f.wait_for(&id, InstanceState::Running).await;
        f.orchestrator
            .destroy(Some(&f.account_id), &f.user_id, &id, false)
            .await
            .unwrap();
        f.wait_for(&id, InstanceState::Destroyed).await;
        assert_eq!(f.used().await, (2, 2048));
        let back = f
            .orchestrator
            .recover(Some(&f.account_id), &id)
            .await
            .unwrap();
        assert_eq!(back.state, InstanceState::Stopped);

        // Another account cannot see it.
        let err = f
            .orchestrator
            .stop(Some("someone-else"), &f.user_id, &id, false)
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::NotFound { .. }));
    }

    #[tokio::test]
    async fn no_room_for_min_count_creates_nothing() {
        let f = fixture(SimulatorBehaviour::default()).await;
        // Two hosts of 2 vCPU and 4 GiB hold two t3.small (2 vCPU, 2 GiB) each by memory, but
        // only one each by CPU at over-commit 1.
        let err = f.orchestrator.launch(f.spec(3, 3)).await.unwrap_err();
        assert!(matches!(err, CoreError::InsufficientCapacity(_)), "{err}");
        assert_eq!(f.used().await, (0, 0));
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instances")
            .fetch_one(&f.store.pool)
            .await
            .unwrap();
        assert_eq!(n.0, 0);
        let launched = f.orchestrator.launch(f.spec(1, 5)).await.unwrap();
        assert_eq!(launched.instances.len(), 2);
    }

    #[tokio::test]
    async fn failed_start_ends_in_error_and_gives_capacity_back() {
        let behaviour = SimulatorBehaviour {
            fail_next_starts: 1,
            ..SimulatorBehaviour::default()
        };
        let f = fixture(behaviour).await;
        let launched = f.orchestrator.launch(f.spec(1, 1)).await.unwrap();
        let i = f
            .wait_for(&launched.instances[0].id, InstanceState::Error)
            .await;
        assert!(
            i.state_reason.contains("injected fault"),
            "{}",
            i.state_reason
        );
        assert_eq!(f.used().await, (0, 0));
        let job = jobs::get(&f.store.pool, &launched.job_ids[0])
            .await
            .unwrap();
        assert_eq!(job.state, jobs::JobState::Failed);
        assert_eq!(job.error_code.as_deref(), Some("HostFailed"));
    }

    #[tokio::test]
    async fn a_job_whose_server_died_is_taken_over_after_its_lease() {
        let f = fixture(SimulatorBehaviour::default()).await;
        // A second server on the same database, whose workers never run: it claims the start
        // job and then "dies" holding it.
        let dead = Orchestrator::new(
            f.store.clone(),
            Drivers::default(),
            OrchestratorConfig::default(),
        );
        let mut spec = f.spec(1, 1);
        spec.start = false;
        let launched = f.orchestrator.launch(spec).await.unwrap();
        let id = launched.instances[0].id.clone();
        let host: (String,) = sqlx::query_as("SELECT id FROM hosts LIMIT 1")
            .fetch_one(&f.store.pool)
            .await
            .unwrap();
        let mut tx = f.store.begin_write().await.unwrap();
        sqlx::query(
            "UPDATE instances SET state = 'Starting', target_state = 'Running', host_id = $2 \
             WHERE id = $1",
        )
        .bind(&id)
        .bind(&host.0)
        .execute(&mut *tx)
        .await
        .unwrap();
        let job = jobs::enqueue(
            &mut tx,
            &JobKind::StartInstance,
            Some(&id),
            &f.account_id,
            &f.user_id,
            60_000,
        )
        .await
        .unwrap();
        // In the same transaction, so the live server's workers never see the job queued.
        let claimed = jobs::claim(&mut tx, &dead.server_id, 300, 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(
            jobs::get(&f.store.pool, &job).await.unwrap().state,
            jobs::JobState::Running
        );
        f.wait_for(&id, InstanceState::Running).await;
        let done = jobs::get(&f.store.pool, &job).await.unwrap();
        assert_eq!(done.state, jobs::JobState::Succeeded);
        assert_eq!(done.attempts, 2, "the job ran once on each server");
    }

    #[tokio::test]
    async fn client_token_replays_the_first_launch() {
        let f = fixture(SimulatorBehaviour::default()).await;
        let mut spec = f.spec(1, 1);
        spec.client_token = Some("token-1".into());
        let first = f.orchestrator.launch(spec.clone()).await.unwrap();
        let again = f.orchestrator.launch(spec).await.unwrap();
        assert!(again.replayed);
        assert_eq!(first.instances[0].id, again.instances[0].id);
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instances")
            .fetch_one(&f.store.pool)
            .await
            .unwrap();
        assert_eq!(n.0, 1);
    }

    #[tokio::test]
    async fn reconciler_marks_a_vanished_guest_stopped() {
        let f = fixture(SimulatorBehaviour::default()).await;
        let launched = f.orchestrator.launch(f.spec(1, 1)).await.unwrap();
        let id = launched.instances[0].id.clone();
        f.wait_for(&id, InstanceState::Running).await;
        sqlx::query("UPDATE sim_guests SET power = 'stopped'")
            .execute(&f.store.pool)
            .await
            .unwrap();
        let i = f.wait_for(&id, InstanceState::Stopped).await;
        assert_eq!(i.state_reason, "the guest stopped on its own");
        assert_eq!(f.used().await, (0, 0));
        let events = event::list_for_account(&f.store.pool, &f.account_id)
            .await
            .unwrap();
        assert!(events
            .iter()
            .any(|e| e.level == "WARN" && e.kind == "VM.STOP"));
    }

    #[tokio::test]
    async fn expunge_after_the_delay_removes_the_instance() {
        let f = fixture(SimulatorBehaviour::default()).await;
        let launched = f.orchestrator.launch(f.spec(1, 1)).await.unwrap();
        let id = launched.instances[0].id.clone();
        f.wait_for(&id, InstanceState::Running).await;
        f.orchestrator
            .destroy(Some(&f.account_id), &f.user_id, &id, false)
            .await
            .unwrap();
        f.wait_for(&id, InstanceState::Destroyed).await;
        // Age the destroy beyond the one-hour delay, then let the sweeper find it.
        sqlx::query("UPDATE instances SET destroyed_ms = destroyed_ms - 3600001")
            .execute(&f.store.pool)
            .await
            .unwrap();
        for _ in 0..100 {
            let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instances")
                .fetch_one(&f.store.pool)
                .await
                .unwrap();
            if n.0 == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the destroyed instance was never expunged");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step ends the probe
mod probe {
    use super::tests::fixture_with;
    use super::*;
    use crate::config::SimulatorConfig;
    use crate::driver::simulator::SimulatorBehaviour;

    /// How fast the orchestrator alone takes 10,000 simulated instances to Running. Not a test
    /// of correctness: run with `cargo test --release -- --ignored probe --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, not a test"]
    async fn ten_thousand_instances() {
        let sim = SimulatorConfig {
            hosts: 100,
            host_cpus: 64,
            host_memory_gib: 256,
            behaviour: SimulatorBehaviour::default(),
        };
        let f = fixture_with(sim, OrchestratorConfig::default(), "t3.nano").await;
        let (store, orchestrator) = (&f.store, &f.orchestrator);
        let started = std::time::Instant::now();
        for _ in 0..20 {
            orchestrator.launch(f.spec(500, 500)).await.unwrap();
        }
        let launched = started.elapsed();
        loop {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM instances WHERE state = 'Running'")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap();
            if n == 10_000 || started.elapsed() > Duration::from_secs(300) {
                let line = format!(
                    "launched in {launched:?}; {n} running after {:?}",
                    started.elapsed()
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
