//! A measurement of the orchestrator's own overhead: the time from a launch request to the
//! driver's `start` call, with a zero-latency simulator behind a driver that notes when each
//! start arrives. Not a test of correctness: run with
//! `cargo test --release --lib -- --ignored overhead --nocapture`.

#![allow(clippy::unwrap_used)] // a failed step ends the probe

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::config::SimulatorConfig;
use crate::driver::simulator::{Simulator, SimulatorBehaviour};
use crate::driver::{DriverError, VolumeDisk};
use crate::model::{offering, template};

/// The simulator, with the instant each start reached it.
#[derive(Debug)]
struct Clocked {
    inner: Simulator,
    starts: Mutex<HashMap<String, Instant>>,
}

#[async_trait::async_trait]
impl Driver for Clocked {
    fn hypervisor(&self) -> Hypervisor {
        self.inner.hypervisor()
    }
    async fn start(&self, guest: &crate::driver::GuestSpec) -> Result<(), DriverError> {
        self.starts
            .lock()
            .unwrap()
            .insert(guest.instance_id.clone(), Instant::now());
        self.inner.start(guest).await
    }
    async fn stop(&self, id: &str, force: bool) -> Result<(), DriverError> {
        self.inner.stop(id, force).await
    }
    async fn reboot(&self, id: &str) -> Result<(), DriverError> {
        self.inner.reboot(id).await
    }
    async fn destroy(&self, id: &str) -> Result<(), DriverError> {
        self.inner.destroy(id).await
    }
    async fn power_states(
        &self,
    ) -> Result<std::collections::HashMap<String, PowerState>, DriverError> {
        self.inner.power_states().await
    }
    async fn console_output(&self, id: &str) -> Result<Option<Vec<u8>>, DriverError> {
        self.inner.console_output(id).await
    }
    async fn attach_volume(&self, id: &str, volume: &VolumeDisk) -> Result<(), DriverError> {
        self.inner.attach_volume(id, volume).await
    }
    async fn detach_volume(
        &self,
        id: &str,
        volume: &VolumeDisk,
        force: bool,
    ) -> Result<(), DriverError> {
        self.inner.detach_volume(id, volume, force).await
    }
    async fn snapshot_volume(
        &self,
        id: Option<&str>,
        volume: &VolumeDisk,
        target: &std::path::Path,
    ) -> Result<Option<u64>, DriverError> {
        self.inner.snapshot_volume(id, volume, target).await
    }
    async fn resize_volume(
        &self,
        id: Option<&str>,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        self.inner.resize_volume(id, volume).await
    }
    async fn volume_for_boot(
        &self,
        volume: &VolumeDisk,
    ) -> Result<Option<std::path::PathBuf>, DriverError> {
        self.inner.volume_for_boot(volume).await
    }
    async fn delete_volume(&self, volume: &VolumeDisk) -> Result<(), DriverError> {
        self.inner.delete_volume(volume).await
    }

    async fn change_cdrom(
        &self,
        instance_id: &str,
        image: Option<&std::path::Path>,
    ) -> Result<(), DriverError> {
        self.inner.change_cdrom(instance_id, image).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn overhead_from_launch_to_driver_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.unwrap();
    let sim = SimulatorConfig {
        hosts: 4,
        host_cpus: 64,
        host_memory_gib: 256,
        behaviour: SimulatorBehaviour::default(),
    };
    crate::bootstrap::first_run(&store, "us-east-1", "us-east-1a", &sim)
        .await
        .unwrap();
    let clocked = Arc::new(Clocked {
        inner: Simulator::new(store.clone(), sim.behaviour.clone()),
        starts: Mutex::new(HashMap::new()),
    });
    let drivers = Drivers::new(vec![clocked.clone()]);
    let orchestrator = Arc::new(Orchestrator::new(
        store.clone(),
        drivers,
        OrchestratorConfig::default(),
    ));
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
        .find(|o| o.name == "t3.nano")
        .unwrap();
    let template = template::list_visible(&store.pool, &account_id)
        .await
        .unwrap()
        .remove(0);

    const ROUNDS: usize = 200;
    let mut queued = Vec::with_capacity(ROUNDS);
    let mut to_driver = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let spec = LaunchSpec {
            account_id: account_id.clone(),
            user_id: user_id.clone(),
            zone_id: None,
            offering: offering.clone(),
            template: template.clone(),
            min_count: 1,
            max_count: 1,
            name: None,
            display_name: None,
            user_data: None,
            key_name: None,
            client_token: None,
            start: true,
        };
        let asked = Instant::now();
        let launched = orchestrator.launch(spec).await.unwrap();
        queued.push(asked.elapsed());
        let id = launched.instances[0].id.clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        let reached = loop {
            if let Some(at) = clocked.starts.lock().unwrap().get(&id) {
                break *at;
            }
            assert!(
                Instant::now() < deadline,
                "the start never reached the driver"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        to_driver.push(reached - asked);
    }
    let summary = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        format!(
            "{name}: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() * 95 / 100].as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3
        )
    };
    let line = format!(
        "{ROUNDS} single launches; {}; {}\n",
        summary("launch call (checked, placed, queued)", &mut queued),
        summary("launch call to driver start", &mut to_driver)
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}
