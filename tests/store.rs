//! The store and identity, through the `cirrus` library's public API, on both backends: SQLite
//! in a temporary data directory, and PostgreSQL on a fresh database of each test's own, made on
//! the cluster named by `CIRRUS_TEST_POSTGRES_URL` (scripts/test starts a throwaway one). Without
//! that variable the PostgreSQL variants pass without running, except under `CI=true`, where
//! they fail: CI must exercise both backends.
//!
//! Each check is written once as `async fn name(backend)` and instantiated per backend by
//! `on_both_backends!`, so a failure names its backend: `postgres::first_run_seeds_exactly_once`.

use cirrus::bootstrap;
use cirrus::config::{FileConfig, Overrides, ServeConfig};
use cirrus::datadir::DataDir;
use cirrus::error::CoreError;
use cirrus::model::identity::{self, NewUser, Role};
use cirrus::model::{infra, offering, template};
use cirrus::store::Store;
use sqlx::{Connection, Executor};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// An empty database for one test; the SQLite one lives as long as this value.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening the store at {}: {e}", self.url))
    }
}

/// A fresh database on `backend`, or `None` when PostgreSQL is not configured outside CI.
async fn fresh(backend: Backend) -> Option<TestDb> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let data = DataDir::open(&dir.path().join("data")).expect("a data directory");
            Some(TestDb {
                url: data.sqlite_url(),
                _dir: Some(dir),
            })
        }
        Backend::Postgres => {
            let Ok(base) = std::env::var("CIRRUS_TEST_POSTGRES_URL") else {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but CIRRUS_TEST_POSTGRES_URL is not set: the PostgreSQL store \
                     tests must run in CI (scripts/test starts a cluster and sets it)"
                );
                return None;
            };
            sqlx::any::install_default_drivers();
            let name = format!("cirrus_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::AnyConnection::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("connecting to CIRRUS_TEST_POSTGRES_URL: {e}"));
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .expect("CREATE DATABASE on the test cluster");
            admin.close().await.expect("closing the admin connection");
            Some(TestDb {
                url: with_database(&base, &name),
                _dir: None,
            })
        }
    }
}

/// `postgres://u@h:p/db?x` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let (scheme, rest) = head.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })*
        }
    };
}

on_both_backends!(
    migrations_run_and_are_idempotent,
    first_run_seeds_exactly_once,
    first_run_seeds_the_default_cloud,
    identity_create_and_authenticate,
    revoked_keys_and_disabled_owners_are_refused,
    identity_mistakes_are_named,
);

/// The defaults a server without configuration uses.
fn defaults() -> ServeConfig {
    ServeConfig::resolve(FileConfig::default(), Overrides::default()).expect("default config")
}

async fn seed(store: &Store) -> Option<bootstrap::FirstRun> {
    let c = defaults();
    bootstrap::first_run(store, &c.region, &c.zone, &c.simulator)
        .await
        .expect("first run")
}

async fn applied_migrations(store: &Store) -> Vec<(i64, String, i64)> {
    sqlx::query_as("SELECT version, name, applied_ms FROM schema_migrations ORDER BY version")
        .fetch_all(&store.pool)
        .await
        .expect("reading schema_migrations")
}

const CORE_TABLES: &[&str] = &[
    "settings",
    "domains",
    "accounts",
    "users",
    "api_keys",
    "sessions",
    "zones",
    "pods",
    "clusters",
    "hosts",
    "service_offerings",
    "disk_offerings",
    "templates",
    "instances",
];

async fn migrations_run_and_are_idempotent(backend: Backend) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let store = db.open().await;
    let first = applied_migrations(&store).await;
    assert!(!first.is_empty(), "no migration was recorded");
    assert_eq!(first[0].0, 1, "the first migration is version 1");
    assert!(
        first.windows(2).all(|w| w[0].0 < w[1].0),
        "versions increase: {first:?}"
    );
    for table in CORE_TABLES {
        sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&store.pool)
            .await
            .unwrap_or_else(|e| panic!("table {table} after migrating: {e}"));
    }
    store.pool.close().await;

    // A second open finds every migration applied and runs none again.
    let again = db.open().await;
    assert_eq!(applied_migrations(&again).await, first);
    let third = db.open().await;
    assert_eq!(applied_migrations(&third).await, first);
}

/// Management servers starting at once on one new PostgreSQL database: every one opens, and
/// each migration is applied once. (SQLite has one server per data directory, which its lock
/// file enforces, so the race cannot happen there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_opens_migrate_once() {
    let Some(db) = fresh(Backend::Postgres).await else {
        return;
    };
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        let opened = task.await.expect("the open task");
        stores.push(opened.unwrap_or_else(|e| panic!("concurrent open {n}: {e}")));
    }
    let applied = applied_migrations(&stores[0]).await;
    for other in &stores[1..] {
        assert_eq!(applied_migrations(other).await, applied);
    }
    let versions: Vec<i64> = applied.iter().map(|m| m.0).collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "a migration was recorded twice");
}

/// Everything a first run makes, by id (secrets of keys included), in a stable order.
async fn snapshot(store: &Store) -> Vec<(&'static str, Vec<String>)> {
    let pool = &store.pool;
    let mut conn = pool.acquire().await.expect("a connection");
    let mut keys = Vec::new();
    for user in identity::list_users(pool).await.expect("users") {
        if let Some(pair) = identity::active_key_of(&mut conn, &user.id)
            .await
            .expect("keys")
        {
            keys.push(format!("{} {}", pair.access_key, pair.secret_key.expose()));
        }
    }
    let accounts = identity::list_accounts(pool).await.expect("accounts");
    let admin_id = accounts.first().map(|a| a.id.clone()).unwrap_or_default();
    vec![
        (
            "domains",
            identity::list_domains(pool)
                .await
                .expect("domains")
                .into_iter()
                .map(|d| format!("{} {}", d.id, d.path))
                .collect(),
        ),
        (
            "accounts",
            accounts
                .iter()
                .map(|a| format!("{} {} {}", a.id, a.name, a.number))
                .collect(),
        ),
        (
            "users",
            identity::list_users(pool)
                .await
                .expect("users")
                .into_iter()
                .map(|u| format!("{} {}", u.id, u.username))
                .collect(),
        ),
        (
            "keys",
            identity::list_keys(pool)
                .await
                .expect("keys")
                .into_iter()
                .map(|k| format!("{} {}", k.access_key, k.state))
                .collect(),
        ),
        ("active secrets", keys),
        (
            "zones",
            infra::list_zones(pool)
                .await
                .expect("zones")
                .into_iter()
                .map(|z| format!("{} {}", z.id, z.name))
                .collect(),
        ),
        (
            "pods",
            infra::list_pods(pool)
                .await
                .expect("pods")
                .into_iter()
                .map(|p| p.id)
                .collect(),
        ),
        (
            "clusters",
            infra::list_clusters(pool)
                .await
                .expect("clusters")
                .into_iter()
                .map(|c| c.id)
                .collect(),
        ),
        (
            "hosts",
            infra::list_hosts(pool)
                .await
                .expect("hosts")
                .into_iter()
                .map(|h| h.id)
                .collect(),
        ),
        (
            "service offerings",
            offering::list_service_offerings(pool)
                .await
                .expect("service offerings")
                .into_iter()
                .map(|o| format!("{} {}", o.id, o.name))
                .collect(),
        ),
        (
            "disk offerings",
            offering::list_disk_offerings(pool)
                .await
                .expect("disk offerings")
                .into_iter()
                .map(|o| o.id)
                .collect(),
        ),
        (
            "templates",
            template::list_visible(pool, &admin_id)
                .await
                .expect("templates")
                .into_iter()
                .map(|t| format!("{} {}", t.id, t.ec2_id))
                .collect(),
        ),
        (
            "initialized",
            store
                .setting("initialized")
                .await
                .expect("settings")
                .into_iter()
                .collect(),
        ),
    ]
}

async fn first_run_seeds_exactly_once(backend: Backend) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let store = db.open().await;
    let first = seed(&store).await.expect("the first run seeds a new store");
    let before = snapshot(&store).await;

    assert!(
        seed(&store).await.is_none(),
        "a second first run on the same store"
    );
    assert_eq!(snapshot(&store).await, before);

    // A restart: a new pool on the same database finds the cloud and changes nothing.
    store.pool.close().await;
    let reopened = db.open().await;
    assert!(
        seed(&reopened).await.is_none(),
        "a first run after reopening"
    );
    assert_eq!(snapshot(&reopened).await, before);

    // The password shown on the first run is the admin's.
    let mut conn = reopened.pool.acquire().await.expect("a connection");
    let admin = identity::authenticate_password(
        &mut conn,
        identity::ROOT_PATH,
        bootstrap::ADMIN_NAME,
        &first.admin_password,
    )
    .await
    .expect("authenticating");
    assert!(admin.is_some_and(|p| p.is_root_admin()));
}

async fn first_run_seeds_the_default_cloud(backend: Backend) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let store = db.open().await;
    seed(&store).await.expect("a first run");
    let pool = &store.pool;
    let config = defaults();

    let domains = identity::list_domains(pool).await.expect("domains");
    assert_eq!(
        domains.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
        ["ROOT"]
    );
    let accounts = identity::list_accounts(pool).await.expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].name, "admin");
    assert_eq!(accounts[0].role, Role::RootAdmin);
    assert_eq!(accounts[0].number.len(), 12);
    let users = identity::list_users(pool).await.expect("users");
    assert_eq!(
        users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["admin"]
    );
    let keys = identity::list_keys(pool).await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, "active");

    let zones = infra::list_zones(pool).await.expect("zones");
    assert_eq!(zones.len(), 1);
    assert_eq!(
        (zones[0].name.as_str(), zones[0].region.as_str()),
        ("us-east-1a", "us-east-1")
    );
    assert_eq!(infra::list_pods(pool).await.expect("pods").len(), 1);
    assert_eq!(infra::list_clusters(pool).await.expect("clusters").len(), 1);
    let hosts = infra::list_hosts(pool).await.expect("hosts");
    assert_eq!(hosts.len(), config.simulator.hosts as usize);
    for h in &hosts {
        assert_eq!(h.cpus, i64::from(config.simulator.host_cpus), "{}", h.name);
        assert_eq!(
            h.memory_mib,
            i64::from(config.simulator.host_memory_gib) * 1024,
            "{}",
            h.name
        );
        assert_eq!(h.zone_id, zones[0].id);
    }

    // EC2's instance types with their vCPUs and memory.
    let offerings = offering::list_service_offerings(pool)
        .await
        .expect("service offerings");
    let expected: &[(&str, i64, i64)] = &[
        ("t3.nano", 2, 512),
        ("t3.micro", 2, 1024),
        ("t3.small", 2, 2048),
        ("t3.medium", 2, 4096),
        ("t3.large", 2, 8192),
        ("t3.xlarge", 4, 16384),
        ("t3.2xlarge", 8, 32768),
        ("m5.large", 2, 8192),
        ("m5.xlarge", 4, 16384),
        ("m5.2xlarge", 8, 32768),
        ("m5.4xlarge", 16, 65536),
        ("c5.large", 2, 4096),
        ("c5.xlarge", 4, 8192),
        ("c5.2xlarge", 8, 16384),
        ("r5.large", 2, 16384),
        ("r5.xlarge", 4, 32768),
        ("r5.2xlarge", 8, 65536),
    ];
    for &(name, cpus, memory_mib) in expected {
        let found = offerings.iter().find(|o| o.name == name);
        assert_eq!(
            found.map(|o| (o.cpus, o.memory_mib)),
            Some((cpus, memory_mib)),
            "service offering {name}"
        );
    }
    assert!(!offering::list_disk_offerings(pool)
        .await
        .expect("disk offerings")
        .is_empty());
    let templates = template::list_visible(pool, &accounts[0].id)
        .await
        .expect("templates");
    assert!(!templates.is_empty(), "the built-in template");
    assert!(templates.iter().all(|t| t.ec2_id.starts_with("ami-")));
}

/// Makes ROOT/eng, account `dev` and user `alice` with a password; answers the user.
async fn alice(store: &Store) -> identity::User {
    let mut conn = store.pool.acquire().await.expect("a connection");
    identity::ensure_root_domain(&mut conn)
        .await
        .expect("ROOT domain");
    let eng = identity::create_domain(&mut conn, "ROOT", "eng")
        .await
        .expect("domain eng");
    assert_eq!(eng.path, "ROOT/eng");
    let dev = identity::create_account(&mut conn, &eng.id, "dev", Role::User)
        .await
        .expect("account dev");
    identity::create_user(
        &mut conn,
        &dev,
        &NewUser {
            username: "alice",
            password: Some("correct horse battery"),
            firstname: "Alice",
            lastname: "Liddell",
            email: "alice@example.org",
        },
    )
    .await
    .expect("user alice")
}

async fn identity_create_and_authenticate(backend: Backend) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let store = db.open().await;
    let user = alice(&store).await;
    let mut conn = store.pool.acquire().await.expect("a connection");

    let nested = identity::create_domain(&mut conn, "/eng/", "ml")
        .await
        .expect("a nested domain");
    assert_eq!(nested.path, "ROOT/eng/ml");

    let pair = identity::create_key(&mut conn, &user.id)
        .await
        .expect("a key");
    assert!(!format!("{pair:?}").contains(pair.secret_key.expose()));
    let (principal, secret) = identity::authenticate_key(&mut conn, &pair.access_key)
        .await
        .expect("authenticating")
        .expect("an active key is accepted");
    assert_eq!(secret.expose(), pair.secret_key.expose());
    assert_eq!(principal.user.username, "alice");
    assert_eq!(principal.account.name, "dev");
    assert_eq!(principal.domain.path, "ROOT/eng");
    assert!(!principal.is_root_admin());

    let unknown = identity::authenticate_key(&mut conn, "CKNOSUCHKEYNOSUCHKEY")
        .await
        .expect("authenticating");
    assert!(unknown.is_none());

    let by_password =
        identity::authenticate_password(&mut conn, "ROOT/eng", "alice", "correct horse battery")
            .await
            .expect("authenticating");
    assert_eq!(by_password.map(|p| p.user.id), Some(user.id.clone()));
    for (domain, name, password) in [
        ("ROOT/eng", "alice", "wrong"),
        ("ROOT", "alice", "correct horse battery"),
        ("ROOT/nowhere", "alice", "correct horse battery"),
        ("ROOT/eng", "bob", "correct horse battery"),
    ] {
        let refused = identity::authenticate_password(&mut conn, domain, name, password)
            .await
            .expect("authenticating");
        assert!(refused.is_none(), "{domain} {name} {password}");
    }

    // A user made without a password signs in with keys only.
    let dev = identity::account_by_name(&mut conn, &principal.domain.id, "dev")
        .await
        .expect("account dev");
    identity::create_user(
        &mut conn,
        &dev,
        &NewUser {
            username: "robot",
            password: None,
            firstname: "",
            lastname: "",
            email: "",
        },
    )
    .await
    .expect("a key-only user");
    let robot = identity::authenticate_password(&mut conn, "ROOT/eng", "robot", "")
        .await
        .expect("authenticating");
    assert!(robot.is_none());
}

async fn set_state(store: &Store, table: &str, id: &str, state: &str) {
    sqlx::query(&format!("UPDATE {table} SET state = $1 WHERE id = $2"))
        .bind(state)
        .bind(id)
        .execute(&store.pool)
        .await
        .expect("changing a state");
}

async fn revoked_keys_and_disabled_owners_are_refused(backend: Backend) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let store = db.open().await;
    let user = alice(&store).await;
    let mut conn = store.pool.acquire().await.expect("a connection");
    let first = identity::create_key(&mut conn, &user.id)
        .await
        .expect("a key");
    let second = identity::create_key(&mut conn, &user.id)
        .await
        .expect("another key");

    identity::revoke_key(&mut conn, &first.access_key)
        .await
        .expect("revoking");
    let revoked = identity::authenticate_key(&mut conn, &first.access_key)
        .await
        .expect("authenticating");
    assert!(revoked.is_none(), "a revoked key is refused");
    let again = identity::revoke_key(&mut conn, &first.access_key).await;
    assert!(
        matches!(again, Err(CoreError::NotFound { .. })),
        "{again:?}"
    );
    let listed = identity::list_keys(&store.pool).await.expect("keys");
    let state_of = |k: &str| {
        listed
            .iter()
            .find(|l| l.access_key == k)
            .map(|l| l.state.clone())
    };
    assert_eq!(state_of(&first.access_key).as_deref(), Some("revoked"));
    assert_eq!(state_of(&second.access_key).as_deref(), Some("active"));
    let active = identity::active_key_of(&mut conn, &user.id)
        .await
        .expect("the active key");
    assert_eq!(
        active.map(|p| p.access_key),
        Some(second.access_key.clone())
    );

    // The other key works until its account, or its user, is disabled.
    assert!(key_accepted(&mut conn, &second.access_key).await);
    for (table, id) in [("accounts", &user.account_id), ("users", &user.id)] {
        set_state(&store, table, id, "disabled").await;
        let by_key = identity::authenticate_key(&mut conn, &second.access_key)
            .await
            .expect("authenticating");
        assert!(
            by_key.is_none(),
            "a key of a disabled {table} row is refused"
        );
        let by_password = identity::authenticate_password(
            &mut conn,
            "ROOT/eng",
            "alice",
            "correct horse battery",
        )
        .await
        .expect("authenticating");
        assert!(
            by_password.is_none(),
            "a password of a disabled {table} row"
        );
        set_state(&store, table, id, "enabled").await;
        assert!(key_accepted(&mut conn, &second.access_key).await);
    }
}

async fn key_accepted(conn: &mut sqlx::AnyConnection, access_key: &str) -> bool {
    identity::authenticate_key(conn, access_key)
        .await
        .expect("authenticating")
        .is_some()
}

async fn identity_mistakes_are_named(backend: Backend) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let store = db.open().await;
    let user = alice(&store).await;
    let mut conn = store.pool.acquire().await.expect("a connection");

    let duplicate = identity::create_domain(&mut conn, "ROOT", "eng").await;
    assert!(
        matches!(duplicate, Err(CoreError::AlreadyExists { .. })),
        "{duplicate:?}"
    );
    let bad_name = identity::create_domain(&mut conn, "ROOT", "a/b").await;
    assert!(
        matches!(&bad_name, Err(CoreError::InvalidParameter(m)) if m.contains("'a/b'")),
        "{bad_name:?}"
    );
    let no_parent = identity::create_domain(&mut conn, "ROOT/nowhere", "x").await;
    assert!(
        matches!(no_parent, Err(CoreError::NotFound { .. })),
        "{no_parent:?}"
    );

    let dev = identity::account_by_id(&mut conn, &user.account_id)
        .await
        .expect("account dev");
    let duplicate = identity::create_account(&mut conn, &dev.domain_id, "dev", Role::User).await;
    assert!(
        matches!(duplicate, Err(CoreError::AlreadyExists { .. })),
        "{duplicate:?}"
    );
    let root = identity::domain_by_path(&mut conn, "ROOT")
        .await
        .expect("ROOT");
    identity::create_account(&mut conn, &root.id, "dev", Role::User)
        .await
        .expect("the same account name in another domain");

    let twin = NewUser {
        username: "alice",
        password: None,
        firstname: "",
        lastname: "",
        email: "",
    };
    let duplicate = identity::create_user(&mut conn, &dev, &twin).await;
    assert!(
        matches!(duplicate, Err(CoreError::AlreadyExists { .. })),
        "{duplicate:?}"
    );
    let missing = identity::revoke_key(&mut conn, "CKNOSUCHKEYNOSUCHKEY").await;
    let message = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("CKNOSUCHKEYNOSUCHKEY"), "{message}");
}
