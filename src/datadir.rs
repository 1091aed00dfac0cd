//! The data directory: the one place a server keeps its files. Layout (docs/data-directory.md):
//!
//! ```text
//! DIR/cirrus.db         the SQLite database, when no database URL is configured
//! DIR/cirrus.lock       held by the running server; a second server on DIR refuses to start
//! DIR/blobs/            secondary storage: bytes of objects, templates, ISOs and snapshots
//!                       (unless --blob-dir puts them elsewhere, as servers sharing one
//!                       database do)
//! DIR/primary/          primary storage: volumes of the instances on this machine's hosts
//! DIR/instances/ID/     per-instance runtime files (QMP socket, console log, config drive)
//! DIR/aws/config        AWS CLI / boto3 profile `default`: region and endpoint_url
//! DIR/aws/credentials   the admin's access key pair
//! DIR/cloudstack.ini    the `cs` client's [cloudstack] endpoint, key and secret
//! DIR/admin-password    the generated password of the admin user, written on first run
//! ```
//!
//! Every file holding a secret is mode 0600 and written whole (temporary file, then rename).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A problem with the data directory, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create the data directory {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the data directory {path} is not writable: {source}")]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {0} is in use by another running cirrus server; stop it first or \
         choose another --data-dir"
    )]
    InUse(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An opened data directory; while a server holds it, its lock file is locked.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: Option<File>,
}

impl DataDir {
    /// Creates the directory and its subdirectories if needed and checks that it is writable.
    pub fn open(root: &Path) -> Result<Self, DataDirError> {
        fs::create_dir_all(root).map_err(|source| DataDirError::Create {
            path: root.to_owned(),
            source,
        })?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
        for sub in ["blobs", "primary", "instances", "aws"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(|source| DataDirError::NotWritable {
                path: root.clone(),
                source,
            })?;
        }
        let probe = root.join(".write-probe");
        fs::write(&probe, b"")
            .and_then(|()| fs::remove_file(&probe))
            .map_err(|source| DataDirError::NotWritable {
                path: root.clone(),
                source,
            })?;
        Ok(Self { root, _lock: None })
    }

    /// Takes the server lock, or says which directory is already in use.
    pub fn lock(&mut self) -> Result<(), DataDirError> {
        let path = self.root.join("cirrus.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| DataDirError::NotWritable {
                path: self.root.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                // The pid is for the operator's eyes only; the lock itself is what counts.
                let _ = file.set_len(0);
                let _ = writeln!(&file, "{}", std::process::id());
                self._lock = Some(file);
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(DataDirError::InUse(self.root.clone())),
            Err(TryLockError::Error(source)) => Err(DataDirError::NotWritable {
                path: self.root.clone(),
                source,
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite URL used when no database URL is configured.
    pub fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.root.join("cirrus.db").display()
        )
    }

    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn primary(&self) -> PathBuf {
        self.root.join("primary")
    }

    pub fn instances(&self) -> PathBuf {
        self.root.join("instances")
    }

    /// Writes `contents` to `DIR/relative` with mode 0600, atomically.
    pub fn write_private(&self, relative: &str, contents: &str) -> Result<PathBuf, DataDirError> {
        let path = self.root.join(relative);
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|source| DataDirError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// What the client configuration files say.
pub struct ClientConfig<'a> {
    pub endpoint_url: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    /// The server's certificate, for clients to trust when it serves HTTPS.
    pub ca_bundle: Option<&'a Path>,
}

/// Writes `aws/config`, `aws/credentials` and `cloudstack.ini`.
pub fn write_client_config(dir: &DataDir, c: &ClientConfig<'_>) -> Result<(), DataDirError> {
    let mut aws = format!(
        "[default]\nregion = {}\nendpoint_url = {}\n",
        c.region, c.endpoint_url
    );
    if let Some(ca) = c.ca_bundle {
        aws.push_str(&format!("ca_bundle = {}\n", ca.display()));
    }
    dir.write_private("aws/config", &aws)?;
    dir.write_private(
        "aws/credentials",
        &format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            c.access_key, c.secret_key
        ),
    )?;
    let mut cs = format!(
        "[cloudstack]\nendpoint = {}/client/api\nkey = {}\nsecret = {}\n",
        c.endpoint_url, c.access_key, c.secret_key
    );
    if let Some(ca) = c.ca_bundle {
        cs.push_str(&format!("verify = {}\n", ca.display()));
    }
    dir.write_private("cloudstack.ini", &cs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_one_directory_is_refused() {
        let tmp = tempfile::tempdir().ok();
        let root = tmp.as_ref().map(|t| t.path().join("d")).unwrap_or_default();
        let mut first = DataDir::open(&root).ok();
        assert!(first.as_mut().map(|d| d.lock().is_ok()).unwrap_or(false));
        let mut second = DataDir::open(&root).ok();
        let refused = second.as_mut().map(|d| d.lock());
        assert!(matches!(refused, Some(Err(DataDirError::InUse(_)))));
        drop(first);
        assert!(second.as_mut().map(|d| d.lock().is_ok()).unwrap_or(false));
    }

    #[test]
    fn private_files_are_0600() {
        let tmp = tempfile::tempdir().ok();
        let root = tmp
            .as_ref()
            .map(|t| t.path().to_owned())
            .unwrap_or_default();
        let dir = DataDir::open(&root).ok();
        let path = dir
            .as_ref()
            .and_then(|d| d.write_private("admin-password", "x\n").ok());
        let mode = path
            .and_then(|p| fs::metadata(p).ok())
            .map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode, Some(0o600));
    }
}
