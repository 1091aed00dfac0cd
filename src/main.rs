//! The `cirrus` command: `cirrus serve` runs a management server with all three doors;
//! `cirrus admin` manages domains, accounts, users and API keys in the same data directory or
//! database, so an operator can hand out credentials without writing code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use cirrus::bootstrap::{self, ADMIN_NAME};
use cirrus::cloud::Cloud;
use cirrus::config::{FileConfig, Overrides, ServeConfig, StoreConfig};
use cirrus::datadir::{self, DataDir};
use cirrus::driver::qemu::{Qemu, QemuConfig};
use cirrus::driver::simulator::Simulator;
use cirrus::driver::{Driver, Drivers};
use cirrus::model::identity::{self, NewUser, Role};
use cirrus::orchestrator::Orchestrator;
use cirrus::server::{self, Doors};
use cirrus::store::Store;
use cirrus::translate::Translator;

#[derive(Parser)]
#[command(
    name = "cirrus",
    version,
    about = "An open IaaS cloud that speaks EC2, S3 and CloudStack's native API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a management server: the EC2, S3 and native doors on one listener.
    ///
    /// On first start it creates the data directory, the schema, the ROOT domain, an `admin`
    /// account with a key pair, a zone of simulated hosts, default offerings and a built-in
    /// template, and writes AWS CLI and CloudStack client configuration into the data
    /// directory.
    Serve(ServeArgs),
    /// Manage domains, accounts, users and API keys.
    Admin(AdminArgs),
}

/// Where the data lives: shared by `serve` and `admin` (given before or after an admin
/// subcommand).
#[derive(Args, Clone)]
struct StoreArgs {
    /// A TOML configuration file; flags and environment variables override its keys.
    #[arg(long, global = true, env = "CIRRUS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The data directory [default: ./cirrus-data].
    #[arg(long, global = true, env = "CIRRUS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The database [default: SQLite in the data directory]; `postgres://user:pass@host/db`
    /// for PostgreSQL.
    #[arg(long, global = true, env = "CIRRUS_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Where the blob store keeps the bytes of objects, templates and snapshots [default:
    /// DIR/blobs]; servers sharing one database must share this directory too.
    #[arg(long, env = "CIRRUS_BLOB_DIR", value_name = "DIR")]
    blob_dir: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CIRRUS_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// A PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "CIRRUS_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CIRRUS_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The URL written into client configuration [default: derived from --listen].
    #[arg(long, env = "CIRRUS_ENDPOINT_URL", value_name = "URL")]
    endpoint_url: Option<String>,
    /// The region of a new cloud [default: us-east-1]; used on first run only.
    #[arg(long, env = "CIRRUS_REGION")]
    region: Option<String>,
    /// The zone of a new cloud [default: the region followed by `a`]; used on first run only.
    #[arg(long, env = "CIRRUS_ZONE")]
    zone: Option<String>,
    /// Log filter, as for RUST_LOG [default: info].
    #[arg(long, env = "CIRRUS_LOG", value_name = "FILTER")]
    log: Option<String>,
    /// Also run real guests: register this machine as a QEMU host (KVM when /dev/kvm is usable,
    /// software emulation otherwise) in its own cluster of the default zone.
    #[arg(long, env = "CIRRUS_QEMU")]
    qemu: bool,
    /// The emulator that runs QEMU guests, a path or a name looked up on PATH [default:
    /// qemu-system-x86_64].
    #[arg(long, env = "CIRRUS_QEMU_BINARY", value_name = "PATH")]
    qemu_binary: Option<PathBuf>,
}

#[derive(Args)]
struct AdminArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Domains: a tree under ROOT.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Accounts: own resources; belong to a domain.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Users: sign in and hold API keys; belong to an account.
    #[command(subcommand)]
    User(UserCommand),
    /// API keys: the access key id and secret for EC2 and S3, the apikey and secretkey for
    /// the native API.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Create a domain under PARENT.
    Create {
        name: String,
        /// The parent domain's path, e.g. ROOT or ROOT/eng.
        #[arg(long, default_value = "ROOT")]
        parent: String,
    },
    /// List every domain.
    List,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account in a domain.
    Create {
        name: String,
        /// The domain's path.
        #[arg(long, default_value = "ROOT")]
        domain: String,
        /// user, domain-admin or root-admin.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// List every account.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in an account; prints a generated password unless --password is given.
    Create {
        username: String,
        /// The account the user belongs to.
        #[arg(long)]
        account: String,
        /// The account's domain path.
        #[arg(long, default_value = "ROOT")]
        domain: String,
        /// The password (read from CIRRUS_USER_PASSWORD if set); generated when absent.
        #[arg(long, env = "CIRRUS_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        #[arg(long, default_value = "")]
        email: String,
    },
    /// List every user.
    List,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key pair for a user; the secret is printed this once.
    Create {
        /// The user's name.
        #[arg(long)]
        user: String,
        /// The user's domain path.
        #[arg(long, default_value = "ROOT")]
        domain: String,
    },
    /// List every key (never a secret).
    List,
    /// Revoke a key: every door refuses it from now on.
    Revoke { access_key: String },
}

/// The CLI's one error: a sentence for the operator.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&Failure(format!("cannot start the async runtime: {e}"))),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Admin(args) => admin(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "cirrus: {}", f.0);
    ExitCode::FAILURE
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn load_file(config: Option<&PathBuf>) -> Result<FileConfig, Failure> {
    Ok(match config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    })
}

fn init_logging(filter: &str) -> Result<(), Failure> {
    // s3s logs whole requests, signatures included, at debug, and every 5xx (501 for what we
    // do not serve) at error with the whole response: the S3 door logs what matters itself.
    let mut filter = filter.to_owned();
    if !filter.contains("s3s") {
        filter.push_str(",s3s=off");
    }
    if !filter.contains("sqlx") {
        filter.push_str(",sqlx=warn");
    }
    let env_filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| Failure(format!("'{filter}' is not a valid log filter: {e}")))?;
    tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let file = load_file(args.store.config.as_ref())?;
    let overrides = Overrides {
        data_dir: args.store.data_dir,
        listen: args.listen,
        database_url: args.store.database_url,
        blob_dir: args.blob_dir,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        endpoint_url: args.endpoint_url,
        region: args.region,
        zone: args.zone,
        log: args.log,
        qemu: args.qemu,
        qemu_binary: args.qemu_binary,
    };
    let config = ServeConfig::resolve(file, overrides)?;
    init_logging(&config.log)?;

    let mut dir = DataDir::open(&config.store.data_dir)?;
    dir.lock()?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(server::tls_acceptor(cert, key)?),
        None => None,
    };
    let url = config
        .store
        .database_url
        .clone()
        .unwrap_or_else(|| dir.sqlite_url());
    let store = Store::open(&url).await?;

    if let Some(first) =
        bootstrap::first_run(&store, &config.region, &config.zone, &config.simulator).await?
    {
        dir.write_private("admin-password", &format!("{}\n", first.admin_password))?;
    }
    cirrus::model::public_ip::apply_config(
        &store,
        &config.network.public_ip_range,
        config.network.address_limit,
    )
    .await?;
    let region = store
        .setting("region")
        .await?
        .unwrap_or_else(|| config.region.clone());
    write_client_files(&store, &dir, &config, &region).await?;

    let blob_dir = config.blob_dir.clone().unwrap_or_else(|| dir.blobs());
    let listener = server::bind(config.listen).await?;
    let simulator = Simulator::new(store.clone(), config.simulator.behaviour.clone());
    let mut drivers: Vec<Arc<dyn Driver>> = vec![Arc::new(simulator)];
    if config.qemu {
        let host = bootstrap::ensure_qemu_host(&store).await?;
        tracing::info!(host = %host.name, cpus = host.cpus, memory_mib = host.memory_mib, "QEMU host ready");
        let mut qemu = QemuConfig::new(dir.root());
        qemu.templates_dir = blob_dir.join("templates");
        if let Some(binary) = &config.qemu_binary {
            qemu.qemu_binary.clone_from(binary);
        }
        drivers.push(Arc::new(Qemu::new(qemu)));
    }
    let drivers = Drivers::new(drivers);
    let orchestrator = Arc::new(Orchestrator::new(
        store.clone(),
        drivers,
        config.orchestrator.clone(),
    ));
    let objects = cirrus::storage::ObjectStore::open_local(store.clone(), &blob_dir)
        .await
        .map_err(|e| {
            Failure(format!(
                "cannot use the blob directory {}: {e}",
                blob_dir.display()
            ))
        })?;
    let objects = Arc::new(objects);
    objects.spawn_upload_sweeper(config.s3.upload_max_age);
    let templates = cirrus::storage::templates::TemplateStore::open(
        store.clone(),
        objects.clone(),
        dir.root(),
        &region,
        config.templates.clone(),
    )
    .await?;
    orchestrator.set_template_images(templates.clone());
    let isos = cirrus::storage::isos::IsoStore::open(store.clone(), templates.clone()).await?;
    orchestrator.set_iso_images(isos.clone());
    // Jobs are taken only once everything a job may need is open: a server that cannot open its
    // blob store must not lease jobs (other servers' too, on a shared database) and then exit.
    orchestrator.spawn();
    let cloud = Arc::new(Cloud {
        orchestrator,
        objects,
        templates,
        isos,
        store: store.clone(),
        region,
        endpoint_url: config.endpoint_url.clone(),
        data_dir: dir.root().to_owned(),
        simulator: config.simulator.clone(),
    });
    let translator = Arc::new(Translator::new(cloud));
    let doors = Arc::new(Doors {
        s3: cirrus_s3::S3Door::with_base_domain(
            translator.clone(),
            config
                .s3
                .base_domain
                .as_deref()
                .and_then(|d| cirrus_s3::BaseDomain::new(d).ok()),
        ),
        translator,
    });
    tracing::info!(listen = %config.listen, endpoint = %config.endpoint_url, tls = tls.is_some(), "cirrus is serving");
    server::serve(listener, tls, doors, shutdown_signal()).await;
    store.pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Writes the AWS and CloudStack client configuration for the admin user's active key.
async fn write_client_files(
    store: &Store,
    dir: &DataDir,
    config: &ServeConfig,
    region: &str,
) -> Result<(), Failure> {
    let mut conn = store.pool.acquire().await?;
    let root = identity::domain_by_path(&mut conn, identity::ROOT_PATH).await?;
    let admin = identity::user_by_name(&mut conn, &root.id, ADMIN_NAME).await?;
    let Some(pair) = identity::active_key_of(&mut conn, &admin.id).await? else {
        tracing::warn!("the admin user has no active API key; client configuration not written");
        return Ok(());
    };
    let ca_bundle = config
        .tls
        .as_ref()
        .map(|(cert, _)| cert.canonicalize().unwrap_or_else(|_| cert.clone()));
    datadir::write_client_config(
        dir,
        &datadir::ClientConfig {
            endpoint_url: &config.endpoint_url,
            region,
            access_key: &pair.access_key,
            secret_key: pair.secret_key.expose(),
            ca_bundle: ca_bundle.as_deref(),
        },
    )?;
    let root = dir.root().display();
    out(&format!(
        "cirrus: client configuration in {root}: aws/config, aws/credentials, cloudstack.ini \
         (admin password in {root}/admin-password)"
    ));
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        () = term => {},
    }
}

async fn open_for_admin(args: &StoreArgs) -> Result<Store, Failure> {
    let file = load_file(args.config.as_ref())?;
    let store_config = StoreConfig {
        data_dir: args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| "./cirrus-data".into()),
        database_url: args.database_url.clone().or(file.database_url),
    };
    let url = match &store_config.database_url {
        Some(url) => url.clone(),
        None => {
            let db = store_config.data_dir.join("cirrus.db");
            if !db.exists() {
                return Err(Failure(format!(
                    "there is no cloud in {}: run `cirrus serve` once to create it",
                    store_config.data_dir.display()
                )));
            }
            DataDir::open(&store_config.data_dir)?.sqlite_url()
        }
    };
    let store = Store::open(&url).await?;
    if store.setting("initialized").await?.is_none() {
        return Err(Failure(
            "this database holds no cloud yet: run `cirrus serve` once to create it".into(),
        ));
    }
    Ok(store)
}

async fn admin(args: AdminArgs) -> Result<(), Failure> {
    let store = open_for_admin(&args.store).await?;
    let mut conn = store.pool.acquire().await?;
    match args.command {
        AdminCommand::Domain(DomainCommand::Create { name, parent }) => {
            let d = identity::create_domain(&mut conn, &parent, &name).await?;
            out(&format!("{}\t{}", d.id, d.path));
        }
        AdminCommand::Domain(DomainCommand::List) => {
            for d in identity::list_domains(&store.pool).await? {
                out(&format!("{}\t{}\t{}", d.id, d.path, d.state));
            }
        }
        AdminCommand::Account(AccountCommand::Create { name, domain, role }) => {
            let role = Role::parse(&role).ok_or_else(|| {
                Failure(format!(
                    "'{role}' is not a role: use user, domain-admin or root-admin"
                ))
            })?;
            let d = identity::domain_by_path(&mut conn, &domain).await?;
            let a = identity::create_account(&mut conn, &d.id, &name, role).await?;
            out(&format!(
                "{}\t{}\t{}\t{}",
                a.id,
                a.name,
                a.number,
                a.role.as_str()
            ));
        }
        AdminCommand::Account(AccountCommand::List) => {
            let domains = identity::list_domains(&store.pool).await?;
            for a in identity::list_accounts(&store.pool).await? {
                let path = domains
                    .iter()
                    .find(|d| d.id == a.domain_id)
                    .map_or("?", |d| d.path.as_str());
                out(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    a.id,
                    a.name,
                    path,
                    a.number,
                    a.role.as_str(),
                    a.state
                ));
            }
        }
        AdminCommand::User(UserCommand::Create {
            username,
            account,
            domain,
            password,
            first_name,
            last_name,
            email,
        }) => {
            let d = identity::domain_by_path(&mut conn, &domain).await?;
            let a = identity::account_by_name(&mut conn, &d.id, &account).await?;
            let generated = password.is_none().then(identity::generate_password);
            let password = password.or_else(|| generated.clone());
            let new = NewUser {
                username: &username,
                password: password.as_deref(),
                firstname: &first_name,
                lastname: &last_name,
                email: &email,
            };
            let u = identity::create_user(&mut conn, &a, &new).await?;
            out(&format!("{}\t{}", u.id, u.username));
            if let Some(p) = generated {
                out(&format!("password: {p}"));
            }
        }
        AdminCommand::User(UserCommand::List) => {
            for u in identity::list_users(&store.pool).await? {
                out(&format!(
                    "{}\t{}\t{}\t{}",
                    u.id, u.username, u.account_id, u.state
                ));
            }
        }
        AdminCommand::Key(KeyCommand::Create { user, domain }) => {
            let d = identity::domain_by_path(&mut conn, &domain).await?;
            let u = identity::user_by_name(&mut conn, &d.id, &user).await?;
            let pair = identity::create_key(&mut conn, &u.id).await?;
            out(&format!("access_key: {}", pair.access_key));
            out(&format!("secret_key: {}", pair.secret_key.expose()));
        }
        AdminCommand::Key(KeyCommand::List) => {
            for k in identity::list_keys(&store.pool).await? {
                out(&format!(
                    "{}\t{}\t{}\t{}",
                    k.access_key, k.username, k.account_name, k.state
                ));
            }
        }
        AdminCommand::Key(KeyCommand::Revoke { access_key }) => {
            identity::revoke_key(&mut conn, &access_key).await?;
            out(&format!("revoked {access_key}"));
        }
    }
    Ok(())
}
