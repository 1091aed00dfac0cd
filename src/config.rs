//! Configuration of `cirrus serve` and `cirrus admin`: every setting has a built-in default and
//! a key in the TOML file named by `--config`; the common ones also have a flag and an
//! environment variable `CIRRUS_*` (the `[simulator]` and `[orchestrator]` tables are file-only). A flag beats its environment variable (clap reads both), which beats
//! the file, which beats the default. `docs/configuration.md` lists every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::Deserialize;

use crate::driver::simulator::SimulatorBehaviour;
use crate::orchestrator::placement::Overcommit;
use crate::orchestrator::OrchestratorConfig;

pub const DEFAULT_DATA_DIR: &str = "./cirrus-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_REGION: &str = "us-east-1";

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("'{value}' is not a valid listen address for {key}: write it as IP:PORT, e.g. 127.0.0.1:8080")]
    Listen { key: &'static str, value: String },
    #[error("{0}")]
    Invalid(String),
}

/// The file form: every key optional, unknown keys refused so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// Where the blob store keeps its bytes; `DIR/blobs` when absent.
    pub blob_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub zone: Option<String>,
    pub log: Option<String>,
    /// Register this machine as a QEMU host and run real guests on it.
    pub qemu: Option<bool>,
    /// The emulator the QEMU driver runs, a path or a name looked up on PATH.
    pub qemu_binary: Option<PathBuf>,
    #[serde(default)]
    pub simulator: SimulatorFileConfig,
    #[serde(default)]
    pub orchestrator: OrchestratorFileConfig,
    #[serde(default)]
    pub network: NetworkFileConfig,
    #[serde(default)]
    pub templates: TemplatesFileConfig,
    #[serde(default)]
    pub s3: S3FileConfig,
}

/// The `[s3]` table: the S3 door's addressing and its object store's housekeeping.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3FileConfig {
    /// Requests whose Host is `<bucket>.<base_domain>` address that bucket (virtual-hosted
    /// style); path-style always works.
    pub base_domain: Option<String>,
    /// How long a multipart upload may sit untouched before it is aborted, in seconds.
    pub upload_max_age_secs: Option<u64>,
}

/// The S3 door's resolved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Lowercased; `None`: path-style only.
    pub base_domain: Option<String>,
    pub upload_max_age: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            base_domain: None,
            upload_max_age: crate::storage::UPLOAD_MAX_AGE,
        }
    }
}

fn resolve_s3(c: &S3FileConfig) -> Result<S3Config, ConfigError> {
    let base_domain = match c.base_domain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(
            cirrus_s3::BaseDomain::new(d)
                .map(|_| d.trim_end_matches('.').to_ascii_lowercase())
                .map_err(|e| ConfigError::Invalid(format!("s3.{e}")))?,
        ),
    };
    let upload_max_age = match c.upload_max_age_secs {
        Some(0) => {
            return Err(ConfigError::Invalid(
                "s3.upload_max_age_secs must be at least 1".to_owned(),
            ))
        }
        Some(secs) => Duration::from_secs(secs),
        None => crate::storage::UPLOAD_MAX_AGE,
    };
    Ok(S3Config {
        base_domain,
        upload_max_age,
    })
}

/// `[network]`: the public addresses accounts allocate (elastic IPs, CloudStack public IPs).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFileConfig {
    pub public_ip_range: Option<String>,
    pub address_limit: Option<u64>,
}

/// The `[templates]` table: how template downloads and imports behave.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesFileConfig {
    /// Let template URLs point at loopback (for tests that serve templates on this machine).
    pub allow_loopback_urls: Option<bool>,
    /// The largest template file, in GiB.
    pub max_size_gib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrchestratorFileConfig {
    pub cpu_overcommit: Option<f64>,
    pub memory_overcommit: Option<f64>,
    pub expunge_delay_secs: Option<u64>,
    pub job_lease_secs: Option<u64>,
    pub job_timeout_secs: Option<u64>,
    pub workers: Option<usize>,
    pub sweep_interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorFileConfig {
    pub hosts: Option<u32>,
    pub host_cpus: Option<u32>,
    pub host_memory_gib: Option<u32>,
    pub start_latency_ms: Option<u64>,
    pub stop_latency_ms: Option<u64>,
    pub fail_next_starts: Option<u32>,
    pub start_failure_rate: Option<f64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| {
            // One sentence: toml's message can run over several lines.
            let what = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            let line = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.matches('\n').count() + 1);
            let message = match line {
                Some(line) => format!("line {line}: {what}"),
                None => what,
            };
            ConfigError::Parse {
                path: path.to_owned(),
                message,
            }
        })
    }
}

/// What the command line and environment said; `None` where they were silent.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub blob_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub zone: Option<String>,
    pub log: Option<String>,
    pub qemu: bool,
    pub qemu_binary: Option<PathBuf>,
}

/// Where the database and data directory are: all `cirrus admin` needs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Explicit URL, or `None` for SQLite in the data directory.
    pub database_url: Option<String>,
}

/// The size of the simulated cluster a new cloud starts with, and how its hosts behave.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub hosts: u32,
    pub host_cpus: u32,
    pub host_memory_gib: u32,
    pub behaviour: SimulatorBehaviour,
}

/// The resolved configuration of a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub store: StoreConfig,
    /// Where the blob store keeps its bytes; `None` for `DIR/blobs`. Servers sharing one
    /// database share this directory too, so an object written through one is read through any.
    pub blob_dir: Option<PathBuf>,
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The URL written into client configuration; derived from `listen` when not given.
    pub endpoint_url: String,
    pub region: String,
    pub zone: String,
    pub log: String,
    pub simulator: SimulatorConfig,
    pub orchestrator: OrchestratorConfig,
    /// Whether this server runs real guests under QEMU on this machine.
    pub qemu: bool,
    /// The emulator the QEMU driver runs; `None` for `qemu-system-x86_64` on PATH.
    pub qemu_binary: Option<PathBuf>,
    pub network: NetworkConfig,
    pub templates: crate::storage::templates::TemplateConfig,
    pub s3: S3Config,
}

/// The default public range: TEST-NET-3 (RFC 5737), a documentation range never routed, so a
/// cloud that is only tried out names nothing real.
pub const DEFAULT_PUBLIC_IP_RANGE: &str = "203.0.113.0/24";
/// How many public addresses an account may hold at once, as AWS's default elastic IP quota.
pub const DEFAULT_ADDRESS_LIMIT: u64 = 5;

/// Each zone's public range and the per-account address limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// An IPv4 CIDR (prefix /16 to /30), given to every zone.
    pub public_ip_range: String,
    pub address_limit: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            public_ip_range: DEFAULT_PUBLIC_IP_RANGE.to_owned(),
            address_limit: DEFAULT_ADDRESS_LIMIT,
        }
    }
}

fn resolve_network(n: &NetworkFileConfig) -> Result<NetworkConfig, ConfigError> {
    let range = n
        .public_ip_range
        .clone()
        .unwrap_or_else(|| DEFAULT_PUBLIC_IP_RANGE.to_owned());
    let prefix = crate::model::network::Cidr::parse(&range).map(|c| c.prefix);
    if !matches!(prefix, Some(16..=30)) {
        return Err(ConfigError::Invalid(format!(
            "network.public_ip_range '{range}' must be an IPv4 CIDR from /16 to /30 written \
             with its network address, e.g. 203.0.113.0/24"
        )));
    }
    Ok(NetworkConfig {
        public_ip_range: range,
        address_limit: n.address_limit.unwrap_or(DEFAULT_ADDRESS_LIMIT),
    })
}

impl ServeConfig {
    pub fn resolve(file: FileConfig, over: Overrides) -> Result<Self, ConfigError> {
        let store = StoreConfig {
            data_dir: over
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            database_url: over.database_url.or(file.database_url),
        };
        let listen_text = over
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Listen {
            key: "listen",
            value: listen_text.clone(),
        })?;
        let tls = match (
            over.tls_cert.or(file.tls_cert),
            over.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(ConfigError::Invalid(
                "TLS needs both a certificate and a key: give --tls-cert and --tls-key together"
                    .to_owned(),
            )),
        };
        let endpoint_url = match over.endpoint_url.or(file.endpoint_url) {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => default_endpoint(listen, tls.is_some()),
        };
        let region = over
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let zone = over
            .zone
            .or(file.zone)
            .unwrap_or_else(|| format!("{region}a"));
        let sim = file.simulator;
        let simulator = SimulatorConfig {
            hosts: sim.hosts.unwrap_or(4),
            host_cpus: sim.host_cpus.unwrap_or(32),
            host_memory_gib: sim.host_memory_gib.unwrap_or(128),
            behaviour: SimulatorBehaviour {
                start_latency: Duration::from_millis(sim.start_latency_ms.unwrap_or(0)),
                stop_latency: Duration::from_millis(sim.stop_latency_ms.unwrap_or(0)),
                fail_next_starts: sim.fail_next_starts.unwrap_or(0),
                start_failure_rate: sim.start_failure_rate.unwrap_or(0.0),
            },
        };
        if !(0.0..=1.0).contains(&simulator.behaviour.start_failure_rate) {
            return Err(ConfigError::Invalid(
                "simulator.start_failure_rate must be between 0.0 and 1.0".to_owned(),
            ));
        }
        let orchestrator = resolve_orchestrator(&file.orchestrator)?;
        let network = resolve_network(&file.network)?;
        if simulator.host_cpus == 0 || simulator.host_memory_gib == 0 {
            return Err(ConfigError::Invalid(
                "simulator.host_cpus and simulator.host_memory_gib must be at least 1".to_owned(),
            ));
        }
        Ok(Self {
            store,
            blob_dir: over.blob_dir.or(file.blob_dir),
            listen,
            tls,
            endpoint_url,
            region,
            zone,
            log: over.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
            simulator,
            orchestrator,
            qemu: over.qemu || file.qemu.unwrap_or(false),
            qemu_binary: over.qemu_binary.or(file.qemu_binary),
            network,
            templates: resolve_templates(&file.templates)?,
            s3: resolve_s3(&file.s3)?,
        })
    }
}

fn resolve_orchestrator(o: &OrchestratorFileConfig) -> Result<OrchestratorConfig, ConfigError> {
    let d = OrchestratorConfig::default();
    let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
    let config = OrchestratorConfig {
        overcommit: Overcommit {
            cpu: o.cpu_overcommit.unwrap_or(d.overcommit.cpu),
            memory: o.memory_overcommit.unwrap_or(d.overcommit.memory),
        },
        expunge_delay: secs(o.expunge_delay_secs, d.expunge_delay),
        job_lease: secs(o.job_lease_secs, d.job_lease),
        job_timeout: secs(o.job_timeout_secs, d.job_timeout),
        workers: o.workers.unwrap_or(d.workers),
        sweep_interval: secs(o.sweep_interval_secs, d.sweep_interval),
    };
    if config.overcommit.cpu <= 0.0 || config.overcommit.memory <= 0.0 {
        return Err(ConfigError::Invalid(
            "over-commit factors must be greater than 0".to_owned(),
        ));
    }
    if config.workers == 0 || config.job_lease.is_zero() || config.sweep_interval.is_zero() {
        return Err(ConfigError::Invalid(
            "orchestrator.workers, job_lease_secs and sweep_interval_secs must be at least 1"
                .to_owned(),
        ));
    }
    Ok(config)
}

fn resolve_templates(
    t: &TemplatesFileConfig,
) -> Result<crate::storage::templates::TemplateConfig, ConfigError> {
    let d = crate::storage::templates::TemplateConfig::default();
    let max_size = match t.max_size_gib {
        Some(0) => {
            return Err(ConfigError::Invalid(
                "templates.max_size_gib must be at least 1".to_owned(),
            ))
        }
        Some(gib) => gib.saturating_mul(1 << 30),
        None => d.max_size,
    };
    Ok(crate::storage::templates::TemplateConfig {
        allow_loopback_urls: t.allow_loopback_urls.unwrap_or(d.allow_loopback_urls),
        max_size,
        ..d
    })
}

/// The URL clients should use: a wildcard listen address becomes loopback.
fn default_endpoint(listen: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let ip = listen.ip();
    let host = if ip.is_unspecified() {
        if ip.is_ipv4() {
            "127.0.0.1".to_owned()
        } else {
            "[::1]".to_owned()
        }
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("{scheme}://{host}:{}", listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap_or_default()
    }

    #[test]
    fn defaults_apply_when_nothing_is_said() {
        let c = ServeConfig::resolve(FileConfig::default(), Overrides::default()).ok();
        let c = c.as_ref();
        assert_eq!(
            c.map(|c| c.listen.to_string()).as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            c.map(|c| c.endpoint_url.as_str()),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(c.map(|c| c.zone.as_str()), Some("us-east-1a"));
        assert_eq!(
            c.map(|c| c.store.data_dir.clone()),
            Some(PathBuf::from(DEFAULT_DATA_DIR))
        );
    }

    #[test]
    fn flags_beat_the_file() {
        let f = file("listen = \"127.0.0.1:9000\"\nregion = \"eu-west-1\"\n");
        let over = Overrides {
            listen: Some("127.0.0.2:9100".into()),
            ..Overrides::default()
        };
        let c = ServeConfig::resolve(f, over).ok();
        assert_eq!(
            c.as_ref().map(|c| c.listen.to_string()).as_deref(),
            Some("127.0.0.2:9100")
        );
        assert_eq!(c.as_ref().map(|c| c.zone.as_str()), Some("eu-west-1a"));
    }

    #[test]
    fn wildcard_listen_advertises_loopback() {
        let over = Overrides {
            listen: Some("0.0.0.0:8443".into()),
            ..Overrides::default()
        };
        let c = ServeConfig::resolve(FileConfig::default(), over).ok();
        assert_eq!(
            c.map(|c| c.endpoint_url).as_deref(),
            Some("http://127.0.0.1:8443")
        );
    }

    #[test]
    fn bad_values_are_named() {
        let over = Overrides {
            listen: Some("localhost".into()),
            ..Overrides::default()
        };
        let err = ServeConfig::resolve(FileConfig::default(), over)
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("'localhost'"));
        let over = Overrides {
            tls_cert: Some("c.pem".into()),
            ..Overrides::default()
        };
        assert!(ServeConfig::resolve(FileConfig::default(), over).is_err());
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }

    #[test]
    fn the_blob_directory_and_the_qemu_binary_come_from_a_flag_or_the_file() {
        let c = ServeConfig::resolve(FileConfig::default(), Overrides::default()).ok();
        assert_eq!(c.map(|c| (c.blob_dir, c.qemu_binary)), Some((None, None)));
        let f = file("blob_dir = \"/srv/blobs\"\nqemu_binary = \"/opt/qemu/bin/qemu\"\n");
        let over = Overrides {
            blob_dir: Some("/mnt/shared/blobs".into()),
            ..Overrides::default()
        };
        let c = ServeConfig::resolve(f, over).ok();
        assert_eq!(
            c.map(|c| (c.blob_dir, c.qemu_binary)),
            Some((
                Some(PathBuf::from("/mnt/shared/blobs")),
                Some(PathBuf::from("/opt/qemu/bin/qemu"))
            ))
        );
    }

    #[test]
    fn the_public_range_defaults_to_a_documentation_range_and_is_checked() {
        let c = ServeConfig::resolve(FileConfig::default(), Overrides::default()).ok();
        assert_eq!(c.map(|c| c.network), Some(NetworkConfig::default()));
        let f = file("[network]\npublic_ip_range = \"198.51.100.0/22\"\naddress_limit = 1000\n");
        let c = ServeConfig::resolve(f, Overrides::default()).ok();
        assert_eq!(
            c.map(|c| (c.network.public_ip_range, c.network.address_limit)),
            Some(("198.51.100.0/22".to_owned(), 1000))
        );
        for bad in ["203.0.113.1/24", "10.0.0.0/8", "203.0.113.0/31", "x"] {
            let f = file(&format!("[network]\npublic_ip_range = \"{bad}\"\n"));
            let err = ServeConfig::resolve(f, Overrides::default()).err();
            assert!(
                err.map(|e| e.to_string()).unwrap_or_default().contains(bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_bad_file_is_one_sentence_with_its_line() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("bad.toml"))
            .unwrap_or_default();
        let _ = std::fs::write(&path, "listen = \"127.0.0.1:1\"\nregion = \"unterminated\n");
        let err = FileConfig::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }
}
