//! The translations: the root crate's implementations of the ports the door crates define.
//! Each turns a door's typed request into operations of the core and the core's answer into
//! the door's typed response; none of them knows HTTP or a wire format.

pub mod ec2;
mod ec2_volumes;
pub mod ec2_vpc;
pub mod native;
pub mod s3;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cloud::Cloud;

/// Implements every door's port over one [`Cloud`].
#[derive(Debug, Clone)]
pub struct Translator {
    pub cloud: Arc<Cloud>,
    /// One turn at a time per instance for the work a door runs itself on an instance (the
    /// native door's volume jobs), on this management server.
    turns: Arc<InstanceTurns>,
}

impl Translator {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Self {
            cloud,
            turns: Arc::default(),
        }
    }

    /// Where a snapshot's bytes are staged on their way to secondary storage.
    fn snapshot_scratch(&self) -> std::path::PathBuf {
        self.cloud.data_dir.join("tmp").join("snapshots")
    }
}

/// A lock per instance, made on first use and dropped when nobody holds or waits for it.
#[derive(Debug, Default)]
struct InstanceTurns(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl InstanceTurns {
    /// Waits for the instance's turn; the turn ends when the guard is dropped.
    async fn take(&self, instance_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(instance_id.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}
