//! The simulator driver: guests that exist only as rows of `sim_guests`, so thousands cost
//! little memory and any management server sharing the database can drive them. Operations
//! can be slowed by a configured latency and made to fail on purpose, to test the
//! orchestrator's failure paths.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rand::Rng;

use super::{Driver, DriverError, GuestSpec, PowerState, VolumeDisk};
use crate::model::infra::Hypervisor;
use crate::now_ms;
use crate::store::Store;

/// How the simulator behaves: latencies and injected faults.
#[derive(Debug, Clone, Default)]
pub struct SimulatorBehaviour {
    /// How long a start takes.
    pub start_latency: Duration,
    /// How long a stop takes.
    pub stop_latency: Duration,
    /// The next N starts fail.
    pub fail_next_starts: u32,
    /// Each start fails with this probability (0.0 to 1.0).
    pub start_failure_rate: f64,
}

#[derive(Debug)]
pub struct Simulator {
    db: Store,
    behaviour: SimulatorBehaviour,
    fail_next_starts: AtomicU32,
}

impl Simulator {
    pub fn new(db: Store, behaviour: SimulatorBehaviour) -> Self {
        let fail_next_starts = AtomicU32::new(behaviour.fail_next_starts);
        Self {
            db,
            behaviour,
            fail_next_starts,
        }
    }

    /// Whether this start is one of the injected failures.
    fn injected_failure(&self) -> bool {
        let counted = self
            .fail_next_starts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        counted
            || (self.behaviour.start_failure_rate > 0.0
                && rand::thread_rng().gen_bool(self.behaviour.start_failure_rate.min(1.0)))
    }

    /// Records which guest (if any) a simulated volume is plugged into, and its size.
    async fn plug(
        &self,
        volume_id: &str,
        instance_id: Option<&str>,
        size_bytes: u64,
    ) -> Result<(), DriverError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO sim_volumes (volume_id, instance_id, size_bytes, updated_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (volume_id) DO UPDATE SET \
             instance_id = excluded.instance_id, size_bytes = excluded.size_bytes, \
             updated_ms = excluded.updated_ms",
        )
        .bind(volume_id)
        .bind(instance_id)
        .bind(i64::try_from(size_bytes).unwrap_or(i64::MAX))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_power(&self, instance_id: &str, power: &str) -> Result<u64, DriverError> {
        let mut tx = self.db.begin_write().await?;
        let done =
            sqlx::query("UPDATE sim_guests SET power = $2, updated_ms = $3 WHERE instance_id = $1")
                .bind(instance_id)
                .bind(power)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

#[async_trait::async_trait]
impl Driver for Simulator {
    fn hypervisor(&self) -> Hypervisor {
        Hypervisor::Simulator
    }

    async fn start(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        if !self.behaviour.start_latency.is_zero() {
            tokio::time::sleep(self.behaviour.start_latency).await;
        }
        if self.injected_failure() {
            return Err(DriverError::Failed(format!(
                "the simulated host failed to start {} (injected fault)",
                guest.ec2_id
            )));
        }
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO sim_guests (instance_id, host_id, power, updated_ms) \
             VALUES ($1, $2, 'running', $3) ON CONFLICT (instance_id) \
             DO UPDATE SET host_id = excluded.host_id, power = 'running', \
             updated_ms = excluded.updated_ms",
        )
        .bind(&guest.instance_id)
        .bind(&guest.host_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn stop(&self, instance_id: &str, _force: bool) -> Result<(), DriverError> {
        if !self.behaviour.stop_latency.is_zero() {
            tokio::time::sleep(self.behaviour.stop_latency).await;
        }
        // Stopping a guest that is not there is not an error: it is stopped.
        self.set_power(instance_id, "stopped").await?;
        Ok(())
    }

    async fn reboot(&self, instance_id: &str) -> Result<(), DriverError> {
        match self.set_power(instance_id, "running").await? {
            0 => Err(DriverError::NoSuchGuest),
            _ => Ok(()),
        }
    }

    async fn destroy(&self, instance_id: &str) -> Result<(), DriverError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM sim_guests WHERE instance_id = $1")
            .bind(instance_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn power_states(&self) -> Result<HashMap<String, PowerState>, DriverError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT instance_id, power FROM sim_guests")
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, power)| {
                let state = if power == "running" {
                    PowerState::Running
                } else {
                    PowerState::Stopped
                };
                (id, state)
            })
            .collect())
    }

    async fn console_output(&self, _instance_id: &str) -> Result<Option<Vec<u8>>, DriverError> {
        // LIMITATION: simulated guests have no console; the QEMU driver keeps a real one.
        Ok(None)
    }

    async fn attach_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        self.plug(&volume.id, Some(instance_id), volume.size_bytes)
            .await
    }

    async fn detach_volume(
        &self,
        _instance_id: &str,
        volume: &VolumeDisk,
        _force: bool,
    ) -> Result<(), DriverError> {
        self.plug(&volume.id, None, volume.size_bytes).await
    }

    async fn snapshot_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
        target: &std::path::Path,
    ) -> Result<Option<u64>, DriverError> {
        // A simulated disk has no bytes: the snapshot holds a description of what it copied.
        let text = format!(
            "cirrus simulated snapshot\nvolume {}\nsize_bytes {}\nroot {}\ninstance {}\n",
            volume.ec2_id,
            volume.size_bytes,
            volume.root,
            instance_id.unwrap_or("-")
        );
        tokio::fs::write(target, text.as_bytes())
            .await
            .map_err(|e| DriverError::Failed(format!("cannot write {}: {e}", target.display())))?;
        Ok(Some(text.len() as u64))
    }

    async fn resize_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        self.plug(&volume.id, instance_id, volume.size_bytes).await
    }

    async fn volume_for_boot(
        &self,
        _volume: &VolumeDisk,
    ) -> Result<Option<std::path::PathBuf>, DriverError> {
        Ok(None)
    }

    async fn delete_volume(&self, volume: &VolumeDisk) -> Result<(), DriverError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM sim_volumes WHERE volume_id = $1")
            .bind(&volume.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_cdrom(
        &self,
        _instance_id: &str,
        _image: Option<&std::path::Path>,
    ) -> Result<(), DriverError> {
        // A simulated guest has no drive: the instance's ISO record is all there is.
        Ok(())
    }
}
