//! The store: one schema over SQLite (the embedded default, a file in the data directory) or
//! PostgreSQL (for several management servers sharing one database), through sqlx's `Any`
//! driver. This module owns connecting, the per-backend connection settings and the schema
//! migrations; the queries themselves live with the part of the core that owns each table.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};
use std::str::FromStr;

/// The migrations, in order. Each runs once, inside a transaction, and is recorded in
/// `schema_migrations`; a file is never edited once released, only followed by a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("migrations/0001_foundation.sql"),
    ),
    (
        2,
        "object_store",
        include_str!("migrations/0002_object_store.sql"),
    ),
    (
        3,
        "orchestrator",
        include_str!("migrations/0003_orchestrator.sql"),
    ),
    (
        4,
        "compute_network",
        include_str!("migrations/0004_compute_network.sql"),
    ),
    (5, "native", include_str!("migrations/0005_native.sql")),
    (6, "volumes", include_str!("migrations/0006_volumes.sql")),
    (7, "vpc", include_str!("migrations/0007_vpc.sql")),
    (
        8,
        "addresses",
        include_str!("migrations/0008_addresses.sql"),
    ),
    (
        9,
        "templates",
        include_str!("migrations/0009_templates.sql"),
    ),
    (
        10,
        "instance_paging",
        include_str!("migrations/0010_instance_paging.sql"),
    ),
    (
        11,
        "s3_tagging",
        include_str!("migrations/0011_s3_tagging.sql"),
    ),
    (12, "images", include_str!("migrations/0012_images.sql")),
    (
        13,
        "api_job_outcomes",
        include_str!("migrations/0013_api_job_outcomes.sql"),
    ),
    (
        16,
        "instance_metadata",
        include_str!("migrations/0016_instance_metadata.sql"),
    ),
    (17, "isos", include_str!("migrations/0017_isos.sql")),
    (
        18,
        "volume_paging",
        include_str!("migrations/0018_volume_paging.sql"),
    ),
];

/// The advisory lock that serializes schema migrations across servers.
const SCHEMA_LOCK: i64 = 7_253_001;
/// The advisory lock that serializes the first run across servers.
pub const FIRST_RUN_LOCK: i64 = 7_253_002;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A failure to open or prepare the database, worded for the operator who configured it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL '{0}' is neither sqlite:// nor postgres://")]
    UnknownScheme(String),
    #[error("cannot open the database at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("cannot apply schema migration {version} ({name}): {source}")]
    Migrate {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
}

/// The connection pool and what it connects to.
#[derive(Clone, Debug)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Whose turn it is to write, on SQLite (see [`Store::begin_write`]).
    write_turn: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction; on SQLite it also holds this process's write turn until it ends.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Connects to `url` and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(OpenError::UnknownScheme(redact_url(url)));
        };
        let connect_err = |source| OpenError::Connect {
            target: redact_url(url),
            source,
        };
        let options = AnyConnectOptions::from_str(url).map_err(connect_err)?;

        let pool = match backend {
            // SQLite takes one writer at a time; WAL lets readers go on beside it, and the busy
            // timeout makes a second writer (the admin CLI, say) wait instead of failing.
            // An embedded database needs no ping before each use: it would only be one more
            // round trip to the connection's thread for every query.
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await
                .map_err(connect_err)?,
            Backend::Postgres => {
                // One plain connection first: the pool would retry until its timeout and then
                // say only that it timed out, hiding "connection refused" or a bad password.
                let probe = tokio::time::timeout(
                    Duration::from_secs(10),
                    sqlx::AnyConnection::connect_with(&options),
                );
                match probe.await {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                    }
                    Ok(Err(e)) => return Err(connect_err(e)),
                    Err(_) => return Err(connect_err(sqlx::Error::PoolTimedOut)),
                }
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?
            }
        };

        let store = Self {
            pool,
            backend,
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, all in one transaction. On PostgreSQL an
    /// advisory lock taken first makes servers that start at once on one database wait for
    /// each other (even the bootstrap `CREATE TABLE IF NOT EXISTS` races otherwise); on SQLite
    /// the write lock does the same.
    async fn migrate(&self) -> Result<(), OpenError> {
        let migrate_err = |version, name, source| OpenError::Migrate {
            version,
            name,
            source,
        };
        let bootstrap_err = |e| migrate_err(0, "bootstrap", e);
        let mut tx = self.begin_write().await.map_err(bootstrap_err)?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SCHEMA_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(bootstrap_err)?;
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
        )
        .await
        .map_err(bootstrap_err)?;
        let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM schema_migrations")
            .fetch_all(&mut *tx)
            .await
            .map_err(bootstrap_err)?;

        for &(version, name, sql) in MIGRATIONS {
            if applied.iter().any(|(v,)| *v == version) {
                continue;
            }
            tx.execute(sql)
                .await
                .map_err(|e| migrate_err(version, name, e))?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| migrate_err(version, name, e))?;
            tracing::info!(version, name, "schema migration applied");
        }
        tx.commit().await.map_err(bootstrap_err)?;
        Ok(())
    }

    /// Takes the cloud-wide advisory lock `key` until `tx` ends, on PostgreSQL (SQLite's write
    /// lock already serializes writers there).
    pub async fn lock_in(&self, tx: &mut WriteTx, key: i64) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Begins a transaction that will write. On SQLite, writers of this process take turns
    /// through one async lock and the transaction takes SQLite's write lock at once
    /// (`BEGIN IMMEDIATE`): otherwise concurrent writers meet SQLite's busy handler, which
    /// sleeps and retries and cuts throughput to a fraction, and a transaction that reads before
    /// it writes could fail half-way. PostgreSQL's row locks do that job there.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let turn = self.write_turn.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _turn: Some(turn),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            }),
        }
    }

    /// ` FOR UPDATE` on PostgreSQL, nothing on SQLite (whose write lock is the whole database).
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Reads one row of the `settings` table.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(v,)| v))
    }

    /// Writes one row of the `settings` table, replacing what was there.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// `$first, $first+1, ...`: `count` numbered placeholders for an `IN (...)` list.
pub fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 4);
    for n in first..first + count {
        if n > first {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&n.to_string());
    }
    out
}

/// The URL with any password removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///x/y.db"), "sqlite:///x/y.db");
    }
}
