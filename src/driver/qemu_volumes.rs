//! The QEMU driver's volumes: a data volume is a qcow2 file on primary storage
//! (`<data dir>/primary/<volume id>.qcow2`, made with `qemu-img create` the first time it is
//! attached or listed for a boot), hot-plugged into a running guest over QMP; a guest that
//! boots gets its attached volumes from its start's data volumes. A root volume is the
//! instance's `root.qcow2`.
//!
//! A snapshot of a disk a running guest holds open is taken by QEMU itself (`blockdev-backup`
//! with `sync=full` into a new qcow2 file), never by reading the file from under the guest; a
//! disk no guest runs on is copied (and flattened) with `qemu-img convert`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tracing::info;

use super::{failed, last_lines, run, volume_names, DataVolume, Files, Qemu, Qmp};
use crate::driver::{DriverError, VolumeDisk};

/// How long a guest may take to let go of a volume being unplugged.
const UNPLUG_DEADLINE: Duration = Duration::from_secs(20);
/// A forced unplug waits this long and then fails, rather than pull a disk QEMU still holds.
const FORCED_UNPLUG_DEADLINE: Duration = Duration::from_secs(5);
/// How long a backup of a running guest's disk may take.
const BACKUP_DEADLINE: Duration = Duration::from_secs(600);

impl Qemu {
    /// Primary storage: beside the instances directory.
    fn primary_dir(&self) -> PathBuf {
        match self.config.instances_dir.parent() {
            Some(parent) => parent.join("primary"),
            None => self.config.instances_dir.join("primary"),
        }
    }

    /// The file of a volume: the instance's root disk, or a data volume on primary storage.
    fn volume_file(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
    ) -> Result<Option<PathBuf>, DriverError> {
        super::check_id(&volume.id)?;
        if volume.root {
            return match instance_id {
                Some(i) => Ok(Some(self.files(i)?.root_disk)),
                None => Ok(None),
            };
        }
        Ok(Some(
            self.primary_dir().join(format!("{}.qcow2", volume.id)),
        ))
    }

    async fn qemu_img_run(&self, args: &[&str], paths: &[&Path]) -> Result<(), DriverError> {
        let mut command = Command::new(self.qemu_img()?);
        command.args(args).args(paths).stdin(Stdio::null());
        let output = run(command)
            .await
            .map_err(|e| failed(format!("running qemu-img {} failed: {e}", args[0])))?;
        if !output.status.success() {
            return Err(failed(format!(
                "qemu-img {} failed: {}",
                args[0],
                last_lines(&output.stderr, 2)
            )));
        }
        Ok(())
    }

    /// Makes a new, empty qcow2 data volume unless its file is there already.
    async fn ensure_volume_file(&self, volume: &VolumeDisk) -> Result<PathBuf, DriverError> {
        let path = self.primary_dir().join(format!("{}.qcow2", volume.id));
        super::check_id(&volume.id)?;
        if path.is_file() {
            return Ok(path);
        }
        fs::create_dir_all(self.primary_dir()).map_err(|e| {
            failed(format!(
                "cannot create primary storage at {}: {e}",
                self.primary_dir().display()
            ))
        })?;
        let size = volume.size_bytes.to_string();
        self.qemu_img_run(&["create", "-q", "-f", "qcow2"], &[&path, Path::new(&size)])
            .await?;
        info!(volume = %volume.ec2_id, path = %path.display(), "data volume made on primary storage");
        Ok(path)
    }

    /// The file of a data volume on primary storage, made first if it is new.
    pub(super) async fn boot_volume_file(
        &self,
        volume: &VolumeDisk,
    ) -> Result<Option<PathBuf>, DriverError> {
        if volume.root {
            return Ok(None);
        }
        Ok(Some(self.ensure_volume_file(volume).await?))
    }

    pub(super) async fn plug_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        if volume.root {
            return Ok(());
        }
        let path = self.ensure_volume_file(volume).await?;
        let disk = DataVolume {
            id: volume.id.clone(),
            path,
        };
        // A stopped guest gets the volume at its next boot: the orchestrator lists it in the
        // start's data volumes.
        if self.files(instance_id)?.running_pid().is_some() {
            self.attach_volume(instance_id, &disk).await?;
        }
        Ok(())
    }

    pub(super) async fn unplug_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
        force: bool,
    ) -> Result<(), DriverError> {
        if volume.root {
            return Ok(());
        }
        if self.files(instance_id)?.running_pid().is_some() {
            let deadline = if force {
                FORCED_UNPLUG_DEADLINE
            } else {
                UNPLUG_DEADLINE
            };
            match self.detach_volume(instance_id, &volume.id, deadline).await {
                Ok(()) | Err(DriverError::NoSuchGuest) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) async fn copy_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
        target: &Path,
    ) -> Result<Option<u64>, DriverError> {
        let Some(path) = self.volume_file(instance_id, volume)? else {
            return Ok(None);
        };
        if !path.is_file() {
            return Ok(None);
        }
        let running = match instance_id {
            Some(i) => self.files(i)?.running_pid().is_some(),
            None => false,
        };
        if running {
            let files = self.files(instance_id.unwrap_or_default())?;
            self.backup_running(&files, volume, target).await?;
        } else {
            self.qemu_img_run(&["convert", "-q", "-O", "qcow2"], &[&path, target])
                .await?;
        }
        let size = fs::metadata(target)
            .map_err(|e| {
                failed(format!(
                    "the snapshot file {} is missing: {e}",
                    target.display()
                ))
            })?
            .len();
        info!(volume = %volume.ec2_id, bytes = size, live = running, "volume copied for a snapshot");
        Ok(Some(size))
    }

    /// Copies a disk a running guest holds open: QEMU backs it up into a new qcow2 node.
    async fn backup_running(
        &self,
        files: &Files,
        volume: &VolumeDisk,
        target: &Path,
    ) -> Result<(), DriverError> {
        let source = if volume.root {
            "root".to_owned()
        } else {
            volume_names(&volume.id).0
        };
        let mut qmp = Qmp::connect(&files.qmp).await.map_err(failed)?;
        // The target must be exactly as large as the disk QEMU has open, which for a root disk
        // is its template's virtual size, not the volume's size rounded up to whole GiB.
        let mut size = None;
        for (command, arguments) in [
            ("query-block", json!({})),
            ("query-named-block-nodes", json!({ "flat": true })),
        ] {
            if let Ok(answer) = qmp.execute(command, arguments).await {
                size = size.or_else(|| virtual_size_of(&answer, &source));
            }
        }
        let size = size.unwrap_or(volume.size_bytes).to_string();
        self.qemu_img_run(
            &["create", "-q", "-f", "qcow2"],
            &[target, Path::new(&size)],
        )
        .await?;
        let target = std::path::absolute(target).unwrap_or_else(|_| target.to_path_buf());
        let (node, _) = volume_names(&format!("snapshot-{}", volume.id));
        let job = format!("backup-{node}");
        qmp.execute(
            "blockdev-add",
            json!({
                "driver": "qcow2", "node-name": node,
                "file": { "driver": "file", "filename": target },
            }),
        )
        .await
        .map_err(|e| failed(format!("cannot open the snapshot target: {e}")))?;
        let started = qmp
            .execute(
                "blockdev-backup",
                json!({ "job-id": job, "device": source, "target": node, "sync": "full" }),
            )
            .await;
        let outcome = match started {
            Ok(_) => {
                if qmp
                    .wait_device_event("BLOCK_JOB_COMPLETED", &job, BACKUP_DEADLINE)
                    .await
                {
                    Ok(())
                } else {
                    Err(failed(format!(
                        "the backup of volume {} did not complete",
                        volume.ec2_id
                    )))
                }
            }
            Err(e) => Err(failed(format!(
                "QEMU could not back up volume {}: {e}",
                volume.ec2_id
            ))),
        };
        let _ = qmp
            .execute("blockdev-del", json!({ "node-name": node }))
            .await;
        outcome
    }

    pub(super) async fn grow_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        let Some(path) = self.volume_file(instance_id, volume)? else {
            return Ok(());
        };
        if !path.is_file() {
            // Never attached here: the file is made at its new size when it first is.
            return Ok(());
        }
        let running = match instance_id {
            Some(i) => self.files(i)?.running_pid().is_some(),
            None => false,
        };
        if running {
            let files = self.files(instance_id.unwrap_or_default())?;
            let mut qmp = Qmp::connect(&files.qmp).await.map_err(failed)?;
            let arguments = if volume.root {
                json!({ "device": "root", "size": volume.size_bytes })
            } else {
                json!({ "node-name": volume_names(&volume.id).0, "size": volume.size_bytes })
            };
            qmp.execute("block_resize", arguments)
                .await
                .map_err(|e| failed(format!("cannot grow volume {}: {e}", volume.ec2_id)))?;
        } else {
            let size = volume.size_bytes.to_string();
            self.qemu_img_run(&["resize", "-q"], &[&path, Path::new(&size)])
                .await?;
        }
        Ok(())
    }

    pub(super) async fn remove_volume(&self, volume: &VolumeDisk) -> Result<(), DriverError> {
        if volume.root {
            return Ok(());
        }
        if let Some(path) = self.volume_file(None, volume)? {
            match fs::remove_file(&path) {
                Ok(()) => {
                    info!(volume = %volume.ec2_id, "data volume removed from primary storage")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(failed(format!("cannot remove {}: {e}", path.display())));
                }
            }
        }
        Ok(())
    }
}

/// The virtual size of the drive (`query-block`'s device) or node (`query-named-block-nodes`'
/// node name) called `name` in either answer of QMP.
fn virtual_size_of(answer: &serde_json::Value, name: &str) -> Option<u64> {
    let named = |n: &&serde_json::Value, key: &str| {
        n.get(key).and_then(serde_json::Value::as_str) == Some(name)
    };
    let items = answer.as_array()?;
    if let Some(drive) = items.iter().find(|n| named(n, "device")) {
        return drive.pointer("/inserted/image/virtual-size")?.as_u64();
    }
    items
        .iter()
        .find(|n| named(n, "node-name"))?
        .pointer("/image/virtual-size")?
        .as_u64()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;

    #[test]
    fn the_backup_target_takes_the_open_disks_size() {
        let drives = json!([
            { "device": "root", "inserted": { "image": { "virtual-size": 20_971_520 } } },
            { "device": "config", "inserted": { "image": { "virtual-size": 374_784 } } },
        ]);
        assert_eq!(virtual_size_of(&drives, "root"), Some(20_971_520));
        let nodes = json!([
            { "node-name": "#block123", "image": { "virtual-size": 20_971_520 } },
            { "node-name": "vol-x", "image": { "virtual-size": 1_073_741_824 } },
        ]);
        assert_eq!(virtual_size_of(&nodes, "vol-x"), Some(1 << 30));
        assert_eq!(virtual_size_of(&nodes, "absent"), None);
        assert_eq!(virtual_size_of(&drives, "vol-x"), None);
    }
}
