//! The QEMU driver: real guests, one `qemu-system-x86_64` process per instance, KVM when this
//! host's /dev/kvm really works and TCG otherwise.
//!
//! Everything a guest has on its host lives in `<instances_dir>/<instance id>/`: the root disk
//! (`root.qcow2`, a linked clone of the template), the config drive (`config.iso`, ConfigDrive
//! layout as cloud-init reads it), the QMP socket (`qmp.sock`), QEMU's pid file (`qemu.pid`) and
//! the serial console (`console.log`, with `console.log.0` holding the previous part: the pair is
//! kept under a size cap). QEMU daemonizes, so guests keep running when the management server
//! stops; a new server finds them again through their QMP sockets. The guest's only NIC is on
//! QEMU's user network with `restrict=on`: it reaches nothing outside.
//!
//! The driver owns those directories and the QEMU processes it started (it checks a pid's command
//! line before it signals it); it never touches templates or data volumes, which it only reads
//! or hands to QEMU.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tracing::{debug, info, warn};

use super::{Driver, DriverError, GuestSpec, PowerState, VolumeDisk};
use crate::model::infra::Hypervisor;

#[path = "qemu_volumes.rs"]
mod volumes;

/// How QEMU runs guests' CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM if a probe shows it works on this host, TCG otherwise.
    Auto,
    Kvm,
    /// Software emulation: slow but available everywhere.
    Tcg,
}

/// How the QEMU driver behaves on this host.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// Each instance's files go to `<instances_dir>/<instance id>/`.
    pub instances_dir: PathBuf,
    /// Where a template is looked up by id when no path was given: `<id>`, `<id>.qcow2`,
    /// `<id>.img` or `<id>.raw` in this directory.
    pub templates_dir: PathBuf,
    /// The emulator, a path or a name looked up on PATH.
    pub qemu_binary: PathBuf,
    /// `qemu-img`, a path or a name looked up on PATH.
    pub qemu_img_binary: PathBuf,
    pub accel: Accel,
    /// How long an ACPI power-down may take before the guest is ended by force.
    pub stop_deadline: Duration,
    /// How long after QEMU is up a start still watches that the guest has not died.
    pub boot_watch: Duration,
    /// The most console bytes kept per guest (and returned by `console_output`).
    pub console_cap: u64,
}

impl QemuConfig {
    /// The defaults for a data directory: instances under `DIR/instances`, templates under
    /// `DIR/blobs/templates`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            instances_dir: data_dir.join("instances"),
            templates_dir: data_dir.join("blobs").join("templates"),
            qemu_binary: PathBuf::from("qemu-system-x86_64"),
            qemu_img_binary: PathBuf::from("qemu-img"),
            accel: Accel::Auto,
            stop_deadline: Duration::from_secs(60),
            boot_watch: Duration::from_secs(5),
            console_cap: 1024 * 1024,
        }
    }
}

pub use super::DataVolume;

/// What a QEMU guest is started with beyond its identity and size, taken from its
/// [`GuestSpec`]. A start records it in the instance's directory (`guest.json`), so an operator
/// can see what the guest was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QemuGuest {
    /// The template's disk image; when absent it is looked up in `templates_dir` by id.
    pub template: Option<PathBuf>,
    /// OpenSSH public keys for the config drive.
    pub public_keys: Vec<String>,
    /// Data volumes attached at boot, in order (the guest sees them after the config drive).
    pub data_volumes: Vec<DataVolume>,
    pub availability_zone: Option<String>,
    /// The ISO image in the CD drive at boot; the drive is there, empty, without one.
    #[serde(default)]
    pub cdrom: Option<PathBuf>,
}

impl QemuGuest {
    /// What the spec gives a QEMU guest.
    pub fn of(guest: &GuestSpec) -> Self {
        Self {
            template: guest.template_image.clone(),
            public_keys: guest.public_keys.clone(),
            data_volumes: guest.data_volumes.clone(),
            availability_zone: guest.availability_zone.clone(),
            cdrom: guest.cdrom.clone(),
        }
    }
}

/// The QEMU driver of one host (this machine).
#[derive(Debug)]
pub struct Qemu {
    config: QemuConfig,
    /// Instances whose console is being kept under its cap by a task of this driver.
    keepers: Arc<Mutex<HashSet<String>>>,
    accel: OnceLock<Accel>,
}

/// The CD drive every guest has: its block backend and its IDE device.
const CDROM_DRIVE: &str = "cd0";
const CDROM_DEVICE: &str = "cdrom";

/// How long one QMP exchange may take.
const QMP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest path a unix socket address holds (sun_path less its final NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How much of the console a failure message quotes.
const FAILURE_TAIL_LINES: usize = 3;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these maps leaves them usable: they hold no invariant across entries.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn failed(text: String) -> DriverError {
    DriverError::Failed(text)
}

/// The files of one instance.
#[derive(Debug, Clone)]
struct Files {
    id: String,
    dir: PathBuf,
    root_disk: PathBuf,
    config_iso: PathBuf,
    config_tree: PathBuf,
    qmp: PathBuf,
    pid: PathBuf,
    console: PathBuf,
    console_old: PathBuf,
    qemu_err: PathBuf,
    guest: PathBuf,
}

impl Files {
    fn new(instances_dir: &Path, id: &str) -> Self {
        let dir = instances_dir.join(id);
        Self {
            id: id.to_owned(),
            root_disk: dir.join("root.qcow2"),
            config_iso: dir.join("config.iso"),
            config_tree: dir.join("config.d"),
            qmp: dir.join("qmp.sock"),
            pid: dir.join("qemu.pid"),
            console: dir.join("console.log"),
            console_old: dir.join("console.log.0"),
            qemu_err: dir.join("qemu.err"),
            guest: dir.join("guest.json"),
            dir,
        }
    }

    /// The mark on QEMU's command line that says the process is this instance's (the comma
    /// ends the id, so one id is never taken for another that it begins).
    fn marker(&self) -> String {
        format!("guest=cirrus-{},", self.id)
    }

    /// The pid of this instance's QEMU, if it is running.
    fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(&self.pid).ok()?.trim().parse().ok()?;
        process_is(pid, &self.marker()).then_some(pid)
    }

    /// Removes what only a running guest needs; the root disk and the console stay.
    fn remove_runtime(&self) {
        for f in [&self.qmp, &self.pid, &self.config_iso, &self.qemu_err] {
            let _ = fs::remove_file(f);
        }
        let _ = fs::remove_dir_all(&self.config_tree);
    }
}

/// Whether `pid` is a live process (not a zombie) whose command line holds `marker`.
fn process_is(pid: u32, marker: &str) -> bool {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = fs::read_to_string(proc.join("stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z" | "X" | "x") | None) {
        return false;
    }
    let Ok(cmdline) = fs::read(proc.join("cmdline")) else {
        return false;
    };
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg.windows(marker.len()).any(|w| w == marker.as_bytes()))
}

/// Ends `pid` at once (SIGKILL); the caller has checked it is ours.
fn kill_now(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits until the instance's QEMU is gone; false if it is still there after `deadline`.
async fn wait_gone(files: &Files, pid: u32, deadline: Duration) -> bool {
    let marker = files.marker();
    let until = Instant::now() + deadline;
    loop {
        if !process_is(pid, &marker) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A program by path, or by name on PATH.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

async fn run(mut command: Command) -> std::io::Result<std::process::Output> {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(std::io::Error::other)?
}

/// The last lines of a program's error output, on one line.
fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// An instance id must name a directory: no separators, no dots, not empty.
fn check_id(id: &str) -> Result<(), DriverError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(failed(format!(
            "the instance id {id:?} cannot name a directory on a QEMU host"
        )))
    }
}

/// A value inside a QEMU `-opt key=value,...` list: commas are doubled.
fn opt_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// A hostname from an instance name: one DNS label, lower case; the EC2 id if nothing is left.
fn hostname_for(name: &str, ec2_id: &str) -> String {
    let mut label: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.truncate(63);
    let label = label.trim_matches('-');
    if label.is_empty() {
        ec2_id.to_ascii_lowercase()
    } else {
        label.to_owned()
    }
}

/// QMP names for a hot-plugged volume: node and device ids must be short and start with a
/// letter, so they are made from a digest of the volume id.
fn volume_names(volume_id: &str) -> (String, String) {
    // FNV-1a: stable across releases and hosts, which is all these names need.
    let digest = volume_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    (format!("vol{digest:016x}"), format!("dev{digest:016x}"))
}

/// The files of a config drive in the ConfigDrive layout (OpenStack's, which cloud-init reads),
/// as (path inside the drive, contents).
fn config_drive_files(guest: &GuestSpec, extra: &QemuGuest) -> Vec<(String, Vec<u8>)> {
    let hostname = hostname_for(&guest.name, &guest.ec2_id);
    let keys: serde_json::Map<String, Value> = extra
        .public_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("key-{i}"), Value::String(k.clone())))
        .collect();
    let mut openstack = json!({
        "uuid": guest.instance_id,
        "name": guest.name,
        "hostname": hostname,
        "launch_index": 0,
        "public_keys": keys,
        "keys": extra.public_keys.iter().enumerate().map(|(i, k)| json!({
            "name": format!("key-{i}"), "type": "ssh", "data": k,
        })).collect::<Vec<_>>(),
    });
    let ec2_keys: serde_json::Map<String, Value> = extra
        .public_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (i.to_string(), json!({ "openssh-key": k })))
        .collect();
    let mut ec2 = json!({
        "instance-id": guest.ec2_id,
        "hostname": hostname,
        "local-hostname": hostname,
        "ami-launch-index": 0,
        "public-keys": ec2_keys,
    });
    if let Some(zone) = &extra.availability_zone {
        openstack["availability_zone"] = json!(zone);
        ec2["placement"] = json!({ "availability-zone": zone });
    }
    let mut files = vec![
        (
            "openstack/latest/meta_data.json".to_owned(),
            openstack.to_string().into_bytes(),
        ),
        (
            "ec2/latest/meta-data.json".to_owned(),
            ec2.to_string().into_bytes(),
        ),
    ];
    if let Some(user_data) = &guest.user_data {
        // LIMITATION: user data is written as the core stores it; the core decides whether that
        // is EC2's base64 text or its decoded bytes.
        files.push((
            "openstack/latest/user_data".to_owned(),
            user_data.clone().into_bytes(),
        ));
    }
    files
}

/// QEMU's command line for a guest, less the program name.
fn qemu_args(guest: &GuestSpec, extra: &QemuGuest, files: &Files, accel: Accel) -> Vec<OsString> {
    let mut args: Vec<String> = vec![
        "-name".into(),
        format!("{}debug-threads=on", files.marker()),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-machine".into(),
        match accel {
            Accel::Kvm => "pc,accel=kvm".into(),
            Accel::Tcg | Accel::Auto => "pc,accel=tcg".into(),
        },
    ];
    if accel == Accel::Kvm {
        args.extend(["-cpu".into(), "host".into()]);
    }
    args.extend([
        "-m".into(),
        guest.memory_mib.max(64).to_string(),
        "-smp".into(),
        guest.cpus.max(1).to_string(),
        "-drive".into(),
        format!(
            "file={},if=none,id=root,format=qcow2,discard=unmap",
            opt_value(&files.root_disk)
        ),
        "-device".into(),
        "virtio-blk-pci,drive=root,bootindex=0".into(),
        "-drive".into(),
        format!(
            "file={},if=none,id=config,format=raw,readonly=on",
            opt_value(&files.config_iso)
        ),
        "-device".into(),
        "virtio-blk-pci,drive=config".into(),
    ]);
    // LIMITATION: data volumes attached at boot must be qcow2 (hot-plugged ones are detected).
    for volume in &extra.data_volumes {
        let (node, device) = volume_names(&volume.id);
        args.extend([
            "-blockdev".into(),
            format!(
                "driver=qcow2,node-name={node},file.driver=file,file.filename={}",
                opt_value(&volume.path)
            ),
            "-device".into(),
            format!("virtio-blk-pci,drive={node},id={device}"),
        ]);
    }
    // Every guest has one IDE CD drive (the pc machine's own IDE controller), empty unless an
    // ISO is attached: an IDE device cannot be hot-plugged, its medium can be changed.
    let medium = match &extra.cdrom {
        Some(iso) => format!(",file={},format=raw", opt_value(iso)),
        None => String::new(),
    };
    args.extend([
        "-drive".into(),
        format!("if=none,id={CDROM_DRIVE},media=cdrom,readonly=on{medium}"),
        "-device".into(),
        format!("ide-cd,drive={CDROM_DRIVE},id={CDROM_DEVICE}"),
    ]);
    args.extend([
        // The one network: QEMU's user network, restricted, so the guest reaches nothing.
        "-netdev".into(),
        "user,id=n0,restrict=on".into(),
        // No option ROM: nothing to boot from the network, and a faster BIOS.
        "-device".into(),
        "virtio-net-pci,netdev=n0,romfile=".into(),
        "-chardev".into(),
        format!(
            "file,id=console,path={},append=on",
            opt_value(&files.console)
        ),
        "-serial".into(),
        "chardev:console".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", opt_value(&files.qmp)),
        // A guest that panics ends its QEMU; one that finds nothing to boot resets at once and
        // again, which the start's boot watch sees.
        "-device".into(),
        "pvpanic-pci".into(),
        "-action".into(),
        "panic=exit-failure".into(),
        "-boot".into(),
        "menu=off,strict=on,reboot-timeout=0".into(),
        "-sandbox".into(),
        "on,obsolete=deny,resourcecontrol=deny".into(),
        "-pidfile".into(),
        files.pid.to_string_lossy().into_owned(),
        "-daemonize".into(),
    ]);
    args.into_iter().map(OsString::from).collect()
}

/// A connection to a guest's QMP socket, past the capabilities handshake.
struct Qmp {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
    /// Events read while waiting for replies.
    events: Vec<Value>,
}

impl Qmp {
    async fn connect(path: &Path) -> Result<Self, String> {
        let connect = async {
            let stream = UnixStream::connect(path)
                .await
                .map_err(|e| format!("cannot reach QMP at {}: {e}", path.display()))?;
            let (read, write) = stream.into_split();
            let mut qmp = Self {
                lines: BufReader::new(read).lines(),
                write,
                events: Vec::new(),
            };
            let greeting = qmp.read_message().await?;
            if greeting.get("QMP").is_none() {
                return Err(format!("{} did not greet as QMP", path.display()));
            }
            qmp.execute_now("qmp_capabilities", json!({})).await?;
            Ok(qmp)
        };
        tokio::time::timeout(QMP_TIMEOUT, connect)
            .await
            .map_err(|_| format!("QMP at {} did not answer in time", path.display()))?
    }

    async fn read_message(&mut self) -> Result<Value, String> {
        let line = self
            .lines
            .next_line()
            .await
            .map_err(|e| format!("reading QMP failed: {e}"))?
            .ok_or_else(|| "QEMU closed its QMP connection".to_owned())?;
        serde_json::from_str(&line).map_err(|e| format!("QEMU sent QMP that is not JSON: {e}"))
    }

    async fn execute_now(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let mut request = json!({ "execute": command, "arguments": arguments }).to_string();
        request.push('\n');
        self.write
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("writing QMP failed: {e}"))?;
        loop {
            let message = self.read_message().await?;
            if let Some(reply) = message.get("return") {
                return Ok(reply.clone());
            }
            if let Some(error) = message.get("error") {
                let text = error
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("no description");
                return Err(format!("QEMU refused {command}: {text}"));
            }
            if message.get("event").is_some() {
                self.events.push(message);
            }
        }
    }

    /// Runs one command with the QMP time limit.
    async fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        tokio::time::timeout(QMP_TIMEOUT, self.execute_now(command, arguments))
            .await
            .map_err(|_| format!("QEMU did not answer {command} in time"))?
    }

    /// Waits for an event named `name` whose data matches `device`; false at the deadline.
    async fn wait_device_event(&mut self, name: &str, device: &str, deadline: Duration) -> bool {
        let matches = |e: &Value| {
            e.get("event").and_then(Value::as_str) == Some(name)
                && e.pointer("/data/device").and_then(Value::as_str) == Some(device)
        };
        if self.events.iter().any(matches) {
            return true;
        }
        let wait = async {
            loop {
                match self.read_message().await {
                    Ok(m) if matches(&m) => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(deadline, wait).await.unwrap_or(false)
    }
}

/// The guest's run state as QEMU reports it (`running`, `paused`, `shutdown`, ...).
async fn query_status(files: &Files) -> Result<String, String> {
    let mut qmp = Qmp::connect(&files.qmp).await?;
    let status = qmp.execute("query-status", json!({})).await?;
    Ok(status
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned())
}

/// How many resets the guest may ask for during the boot watch before it counts as a guest that
/// cannot boot (the BIOS resets at once when it finds nothing to boot; a kernel that panics
/// early reboots).
const BOOT_LOOP_RESETS: u32 = 2;

/// Watches a guest that has just started for `window`; says why if it did not survive: its QEMU
/// ended, it panicked, or it kept resetting.
async fn watch_boot(files: &Files, window: Duration) -> Result<(), String> {
    let mut qmp = Qmp::connect(&files.qmp).await?;
    let until = Instant::now() + window;
    let mut resets = 0;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let message = match tokio::time::timeout(left, qmp.read_message()).await {
            Err(_) => return Ok(()),
            Ok(Err(_)) => return Err("its QEMU exited".to_owned()),
            Ok(Ok(message)) => message,
        };
        match message.get("event").and_then(Value::as_str) {
            Some("RESET") if message.pointer("/data/guest") == Some(&Value::Bool(true)) => {
                resets += 1;
                if resets >= BOOT_LOOP_RESETS {
                    return Err(format!(
                        "it reset itself {resets} times in its first moments"
                    ));
                }
            }
            Some("GUEST_PANICKED") => return Err("its kernel panicked".to_owned()),
            Some("SHUTDOWN") => return Err("it shut down".to_owned()),
            _ => {}
        }
    }
}

/// Keeps the console under `cap` bytes: once `console.log` passes half the cap, its last half
/// cap moves to `console.log.0` and `console.log` starts again (QEMU appends, so it carries on
/// at the new end).
// LIMITATION: bytes the guest writes between the copy and the truncation are lost.
fn trim_console(files: &Files, cap: u64) -> std::io::Result<()> {
    let half = (cap / 2).max(1);
    let size = match fs::metadata(&files.console) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if size <= half {
        return Ok(());
    }
    let mut log = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&files.console)?;
    log.seek(SeekFrom::Start(size - half))?;
    let mut tail = Vec::with_capacity(half as usize);
    Read::take(&mut log, half).read_to_end(&mut tail)?;
    let staged = files.dir.join("console.log.0.new");
    fs::File::create(&staged)?.write_all(&tail)?;
    fs::rename(&staged, &files.console_old)?;
    log.set_len(0)?;
    Ok(())
}

/// The last `cap` bytes of the console, older part first.
fn console_tail(files: &Files, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for part in [&files.console_old, &files.console] {
        match fs::read(part) {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    if bytes.len() > cap {
        bytes.drain(..bytes.len() - cap);
    }
    Ok(bytes)
}

/// Whether KVM works here: /dev/kvm opens, and a paused QEMU on KVM stays up (on some nested
/// hosts /dev/kvm exists but QEMU aborts when it sets up the vCPU).
fn kvm_works(qemu: &Path) -> bool {
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let child = Command::new(qemu)
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "pc,accel=kvm",
            "-cpu",
            "host",
            "-m",
            "16",
            "-S",
            "-qmp",
            "stdio",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

impl Qemu {
    pub fn new(mut config: QemuConfig) -> Self {
        // QEMU runs in the instance's directory, so every path it is given must be absolute.
        for dir in [&mut config.instances_dir, &mut config.templates_dir] {
            if let Ok(absolute) = std::path::absolute(&*dir) {
                *dir = absolute;
            }
        }
        Self {
            config,
            keepers: Arc::new(Mutex::new(HashSet::new())),
            accel: OnceLock::new(),
        }
    }

    pub fn config(&self) -> &QemuConfig {
        &self.config
    }

    fn files(&self, instance_id: &str) -> Result<Files, DriverError> {
        check_id(instance_id)?;
        let files = Files::new(&self.config.instances_dir, instance_id);
        if files.qmp.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(failed(format!(
                "the instance directory {} is too long for a QMP socket path (at most {} \
                 bytes); choose a shorter data directory",
                files.dir.display(),
                MAX_SOCKET_PATH - "/qmp.sock".len()
            )));
        }
        Ok(files)
    }

    /// The accelerator guests get, probed once.
    async fn accel(&self, qemu: &Path) -> Accel {
        if let Some(accel) = self.accel.get() {
            return *accel;
        }
        let accel = match self.config.accel {
            Accel::Auto => {
                let qemu = qemu.to_owned();
                let kvm = tokio::task::spawn_blocking(move || kvm_works(&qemu))
                    .await
                    .unwrap_or(false);
                if kvm {
                    Accel::Kvm
                } else {
                    Accel::Tcg
                }
            }
            chosen => chosen,
        };
        info!(?accel, "QEMU accelerator chosen for this host");
        *self.accel.get_or_init(|| accel)
    }

    fn template_path(&self, guest: &GuestSpec, extra: &QemuGuest) -> Result<PathBuf, DriverError> {
        if let Some(path) = &extra.template {
            return if path.is_file() {
                Ok(path.clone())
            } else {
                Err(failed(format!(
                    "cannot start {}: its template image {} does not exist on this host",
                    guest.ec2_id,
                    path.display()
                )))
            };
        }
        check_id(&guest.template_id)?;
        ["", ".qcow2", ".img", ".raw"]
            .iter()
            .map(|ext| {
                self.config
                    .templates_dir
                    .join(format!("{}{ext}", guest.template_id))
            })
            .find(|p| p.is_file())
            .ok_or_else(|| {
                failed(format!(
                    "cannot start {}: template {} has no disk image in {}",
                    guest.ec2_id,
                    guest.template_id,
                    self.config.templates_dir.display()
                ))
            })
    }

    fn qemu_img(&self) -> Result<PathBuf, DriverError> {
        find_program(&self.config.qemu_img_binary).ok_or_else(|| {
            failed(format!(
                "{} was not found on this host; install the qemu-utils package",
                self.config.qemu_img_binary.display()
            ))
        })
    }

    /// A disk image's format as `qemu-img info` detects it.
    async fn image_format(&self, image: &Path) -> Result<String, DriverError> {
        let mut command = Command::new(self.qemu_img()?);
        command
            .args(["info", "--output=json"])
            .arg(image)
            .stdin(Stdio::null());
        let output = run(command).await.map_err(|e| {
            failed(format!(
                "running qemu-img on {} failed: {e}",
                image.display()
            ))
        })?;
        if !output.status.success() {
            return Err(failed(format!(
                "{} is not a disk image qemu-img can read: {}",
                image.display(),
                last_lines(&output.stderr, 2)
            )));
        }
        let info: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            failed(format!(
                "qemu-img info on {} did not print JSON: {e}",
                image.display()
            ))
        })?;
        info.get("format")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| failed(format!("qemu-img found no format in {}", image.display())))
    }

    /// Makes the root disk: a qcow2 linked clone whose backing file is the template.
    async fn make_root_disk(&self, files: &Files, template: &Path) -> Result<(), DriverError> {
        let template = fs::canonicalize(template).map_err(|e| {
            failed(format!(
                "cannot resolve the template image {}: {e}",
                template.display()
            ))
        })?;
        let format = self.image_format(&template).await?;
        let mut command = Command::new(self.qemu_img()?);
        command
            .args(["create", "-q", "-f", "qcow2", "-F", &format, "-b"])
            .arg(&template)
            .arg(&files.root_disk)
            .stdin(Stdio::null());
        let output = run(command)
            .await
            .map_err(|e| failed(format!("running qemu-img create failed: {e}")))?;
        if !output.status.success() {
            return Err(failed(format!(
                "qemu-img could not clone {} into {}: {}",
                template.display(),
                files.root_disk.display(),
                last_lines(&output.stderr, 2)
            )));
        }
        Ok(())
    }

    /// Writes the config drive: the ConfigDrive files as an ISO 9660 image labelled config-2.
    async fn make_config_drive(
        &self,
        files: &Files,
        guest: &GuestSpec,
        extra: &QemuGuest,
    ) -> Result<(), DriverError> {
        let _ = fs::remove_dir_all(&files.config_tree);
        for (path, contents) in config_drive_files(guest, extra) {
            let target = files.config_tree.join(path);
            let written = target
                .parent()
                .map_or(Ok(()), fs::create_dir_all)
                .and_then(|()| fs::write(&target, contents));
            written.map_err(|e| {
                failed(format!(
                    "cannot write the config drive file {}: {e}",
                    target.display()
                ))
            })?;
        }
        let (program, prefix): (PathBuf, &[&str]) =
            if let Some(p) = find_program(Path::new("genisoimage")) {
                (p, &[])
            } else if let Some(p) = find_program(Path::new("xorriso")) {
                (p, &["-as", "mkisofs"])
            } else {
                let _ = fs::remove_dir_all(&files.config_tree);
                return Err(failed(
                    "neither genisoimage nor xorriso is on this host's PATH, so no config drive \
                     can be made; install the genisoimage package"
                        .into(),
                ));
            };
        let mut command = Command::new(program);
        command
            .args(prefix)
            .args([
                "-quiet", "-volid", "config-2", "-joliet", "-rock", "-output",
            ])
            .arg(&files.config_iso)
            .arg(&files.config_tree)
            .stdin(Stdio::null());
        let output = run(command).await;
        let _ = fs::remove_dir_all(&files.config_tree);
        let output =
            output.map_err(|e| failed(format!("building the config drive failed: {e}")))?;
        if !output.status.success() {
            return Err(failed(format!(
                "building the config drive of {} failed: {}",
                guest.ec2_id,
                last_lines(&output.stderr, 2)
            )));
        }
        Ok(())
    }

    /// Starts a guest with `extra` (the trait's `start` passes what its [`GuestSpec`] says).
    pub async fn start_guest(
        &self,
        guest: &GuestSpec,
        extra: &QemuGuest,
    ) -> Result<(), DriverError> {
        let files = self.files(&guest.instance_id)?;
        let qemu = find_program(&self.config.qemu_binary).ok_or_else(|| {
            failed(format!(
                "cannot start {}: the QEMU binary {} was not found on this host; install the \
                 qemu-system-x86 package",
                guest.ec2_id,
                self.config.qemu_binary.display()
            ))
        })?;
        if files.running_pid().is_some() {
            debug!(instance = %guest.instance_id, "guest already running");
            return Ok(());
        }
        let dir_existed = files.dir.exists();
        fs::create_dir_all(&files.dir).map_err(|e| {
            failed(format!(
                "cannot create the instance directory {}: {e}",
                files.dir.display()
            ))
        })?;
        let root_existed = files.root_disk.exists();
        // QEMU runs in the instance's directory: hand it absolute paths only.
        let mut extra = extra.clone();
        for path in extra
            .template
            .iter_mut()
            .chain(extra.cdrom.iter_mut())
            .chain(extra.data_volumes.iter_mut().map(|v| &mut v.path))
        {
            if let Ok(absolute) = std::path::absolute(&*path) {
                *path = absolute;
            }
        }
        let started = self
            .launch(guest, &extra, &files, &qemu, root_existed)
            .await;
        if started.is_err() {
            if let Some(pid) = files.running_pid() {
                kill_now(pid);
                let _ = wait_gone(&files, pid, Duration::from_secs(5)).await;
            }
            if dir_existed {
                files.remove_runtime();
                if !root_existed {
                    let _ = fs::remove_file(&files.root_disk);
                }
            } else {
                let _ = fs::remove_dir_all(&files.dir);
            }
        }
        started
    }

    async fn launch(
        &self,
        guest: &GuestSpec,
        extra: &QemuGuest,
        files: &Files,
        qemu: &Path,
        root_existed: bool,
    ) -> Result<(), DriverError> {
        if !root_existed {
            let template = self.template_path(guest, extra)?;
            self.make_root_disk(files, &template).await?;
        }
        self.make_config_drive(files, guest, extra).await?;
        let recorded = serde_json::to_vec_pretty(extra)
            .map_err(std::io::Error::other)
            .and_then(|bytes| fs::write(&files.guest, bytes));
        recorded.map_err(|e| failed(format!("cannot write {}: {e}", files.guest.display())))?;
        for stale in [&files.qmp, &files.pid] {
            let _ = fs::remove_file(stale);
        }
        let accel = self.accel(qemu).await;

        // With -daemonize the first process exits once the guest is set up: its status and its
        // error output (kept in a file: the daemon inherits the descriptor) say whether it was.
        let err = fs::File::create(&files.qemu_err)
            .map_err(|e| failed(format!("cannot create {}: {e}", files.qemu_err.display())))?;
        let mut command = Command::new(qemu);
        command
            .args(qemu_args(guest, extra, files, accel))
            .current_dir(&files.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let status = tokio::task::spawn_blocking(move || command.status())
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|e| failed(format!("cannot run {}: {e}", qemu.display())))?;
        let errors = fs::read(&files.qemu_err).unwrap_or_default();
        let _ = fs::remove_file(&files.qemu_err);
        if !status.success() {
            return Err(failed(format!(
                "QEMU refused to start {}: {}",
                guest.ec2_id,
                match last_lines(&errors, 2) {
                    t if t.is_empty() => format!("it exited with {status}"),
                    t => t,
                }
            )));
        }
        let pid = files.running_pid().ok_or_else(|| {
            failed(format!(
                "QEMU of {} exited as soon as it started: {}",
                guest.ec2_id,
                self.console_ending(files)
            ))
        })?;

        let status = query_status(files)
            .await
            .map_err(|e| failed(format!("QEMU of {} started but {e}", guest.ec2_id)))?;
        debug!(instance = %guest.instance_id, pid, %status, "QEMU is up");

        let watched = watch_boot(files, self.config.boot_watch).await;
        let watched = watched.and_then(|()| match files.running_pid() {
            Some(_) => Ok(()),
            None => Err("its QEMU exited".to_owned()),
        });
        if let Err(why) = watched {
            return Err(failed(format!(
                "the guest of {} stopped while booting ({why}); {}",
                guest.ec2_id,
                self.console_ending(files)
            )));
        }
        self.keep_console(files);
        info!(instance = %guest.instance_id, ec2_id = %guest.ec2_id, pid, ?accel, "guest started");
        Ok(())
    }

    /// The last console lines, for a failure message.
    fn console_ending(&self, files: &Files) -> String {
        let tail = console_tail(files, 4096).unwrap_or_default();
        match last_lines(&tail, FAILURE_TAIL_LINES) {
            t if t.is_empty() => "its console shows nothing".to_owned(),
            t => format!("its console ended with: {t}"),
        }
    }

    /// Starts the task that keeps this guest's console under its cap, unless one runs.
    fn keep_console(&self, files: &Files) {
        if !lock(&self.keepers).insert(files.id.clone()) {
            return;
        }
        let keepers = Arc::clone(&self.keepers);
        let files = files.clone();
        let cap = self.config.console_cap;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Err(e) = trim_console(&files, cap) {
                    warn!(instance = %files.id, error = %e, "trimming the console failed");
                }
                if files.running_pid().is_none() {
                    break;
                }
            }
            lock(&keepers).remove(&files.id);
        });
    }

    /// Ends the guest's QEMU: QMP `quit`, then SIGKILL; removes the runtime files.
    async fn force_off(&self, files: &Files, pid: u32) -> Result<(), DriverError> {
        if let Ok(mut qmp) = Qmp::connect(&files.qmp).await {
            let _ = qmp.execute("quit", json!({})).await;
        }
        if !wait_gone(files, pid, Duration::from_secs(5)).await {
            kill_now(pid);
            if !wait_gone(files, pid, Duration::from_secs(5)).await {
                return Err(failed(format!(
                    "the QEMU process {pid} of instance {} could not be ended",
                    files.id
                )));
            }
        }
        files.remove_runtime();
        Ok(())
    }

    /// Hot-plugs a data volume (a qcow2 file) into a running guest as a virtio disk.
    pub async fn attach_volume(
        &self,
        instance_id: &str,
        volume: &DataVolume,
    ) -> Result<(), DriverError> {
        let files = self.files(instance_id)?;
        if files.running_pid().is_none() {
            return Err(DriverError::NoSuchGuest);
        }
        let path = std::path::absolute(&volume.path).unwrap_or_else(|_| volume.path.clone());
        let format = self.image_format(&path).await?;
        let (node, device) = volume_names(&volume.id);
        let mut qmp = Qmp::connect(&files.qmp).await.map_err(failed)?;
        qmp.execute(
            "blockdev-add",
            json!({
                "driver": format, "node-name": node,
                "file": { "driver": "file", "filename": path },
            }),
        )
        .await
        .map_err(|e| failed(format!("cannot attach volume {}: {e}", volume.id)))?;
        let added = qmp
            .execute(
                "device_add",
                json!({ "driver": "virtio-blk-pci", "id": device, "drive": node }),
            )
            .await;
        if let Err(e) = added {
            let _ = qmp
                .execute("blockdev-del", json!({ "node-name": node }))
                .await;
            return Err(failed(format!("cannot attach volume {}: {e}", volume.id)));
        }
        info!(instance = %instance_id, volume = %volume.id, "volume attached");
        Ok(())
    }

    /// Unplugs a data volume; the guest must release it (ACPI hot-unplug) within `deadline`.
    pub async fn detach_volume(
        &self,
        instance_id: &str,
        volume_id: &str,
        deadline: Duration,
    ) -> Result<(), DriverError> {
        let files = self.files(instance_id)?;
        if files.running_pid().is_none() {
            return Err(DriverError::NoSuchGuest);
        }
        let (node, device) = volume_names(volume_id);
        let mut qmp = Qmp::connect(&files.qmp).await.map_err(failed)?;
        qmp.execute("device_del", json!({ "id": device }))
            .await
            .map_err(|e| failed(format!("cannot detach volume {volume_id}: {e}")))?;
        if !qmp
            .wait_device_event("DEVICE_DELETED", &device, deadline)
            .await
        {
            return Err(failed(format!(
                "the guest did not release volume {volume_id} within {} s",
                deadline.as_secs()
            )));
        }
        qmp.execute("blockdev-del", json!({ "node-name": node }))
            .await
            .map_err(|e| failed(format!("volume {volume_id} left the guest, but {e}")))?;
        info!(instance = %instance_id, volume = %volume_id, "volume detached");
        Ok(())
    }
}

#[async_trait::async_trait]
impl Driver for Qemu {
    fn hypervisor(&self) -> Hypervisor {
        Hypervisor::Kvm
    }

    async fn start(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.start_guest(guest, &QemuGuest::of(guest)).await
    }

    async fn stop(&self, instance_id: &str, force: bool) -> Result<(), DriverError> {
        let files = self.files(instance_id)?;
        let Some(pid) = files.running_pid() else {
            // Stopping a guest that is not running is not an error: it is stopped.
            files.remove_runtime();
            return Ok(());
        };
        if !force {
            match Qmp::connect(&files.qmp).await {
                Ok(mut qmp) => {
                    if let Err(e) = qmp.execute("system_powerdown", json!({})).await {
                        warn!(instance = %instance_id, error = %e, "ACPI power-down failed");
                    }
                }
                Err(e) => warn!(instance = %instance_id, error = %e, "QMP is unreachable"),
            }
            if wait_gone(&files, pid, self.config.stop_deadline).await {
                files.remove_runtime();
                info!(instance = %instance_id, "guest powered off");
                return Ok(());
            }
            warn!(
                instance = %instance_id,
                deadline_s = self.config.stop_deadline.as_secs(),
                "guest did not power off in time; ending it"
            );
        }
        self.force_off(&files, pid).await?;
        info!(instance = %instance_id, "guest ended");
        Ok(())
    }

    async fn reboot(&self, instance_id: &str) -> Result<(), DriverError> {
        let files = self.files(instance_id)?;
        if files.running_pid().is_none() {
            return Err(DriverError::NoSuchGuest);
        }
        let reset = async {
            let mut qmp = Qmp::connect(&files.qmp).await?;
            qmp.execute("system_reset", json!({})).await
        };
        reset
            .await
            .map_err(|e| failed(format!("cannot reboot instance {instance_id}: {e}")))?;
        info!(instance = %instance_id, "guest reset");
        Ok(())
    }

    async fn destroy(&self, instance_id: &str) -> Result<(), DriverError> {
        let files = self.files(instance_id)?;
        if let Some(pid) = files.running_pid() {
            self.force_off(&files, pid).await?;
        }
        match fs::remove_dir_all(&files.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(failed(format!(
                    "cannot remove the instance directory {}: {e}",
                    files.dir.display()
                )))
            }
        }
        info!(instance = %instance_id, "guest files removed");
        Ok(())
    }

    async fn power_states(&self) -> Result<HashMap<String, PowerState>, DriverError> {
        let mut states = HashMap::new();
        let entries = match fs::read_dir(&self.config.instances_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(states),
            Err(e) => {
                return Err(failed(format!(
                    "cannot list {}: {e}",
                    self.config.instances_dir.display()
                )))
            }
        };
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(files) = self.files(&id) else {
                continue;
            };
            if !files.dir.is_dir() {
                continue;
            }
            let state = if files.running_pid().is_none() {
                PowerState::Stopped
            } else {
                match query_status(&files).await {
                    // A QEMU whose guest has powered off or crashed is on its way out.
                    Ok(s) if matches!(s.as_str(), "shutdown" | "guest-panicked") => {
                        PowerState::Stopped
                    }
                    Ok(_) => PowerState::Running,
                    Err(e) => {
                        debug!(instance = %id, error = %e, "QMP unreachable; the process is up");
                        PowerState::Running
                    }
                }
            };
            if state == PowerState::Running {
                self.keep_console(&files);
            }
            states.insert(id, state);
        }
        Ok(states)
    }

    async fn console_output(&self, instance_id: &str) -> Result<Option<Vec<u8>>, DriverError> {
        let files = self.files(instance_id)?;
        if !files.dir.is_dir() {
            return Ok(None);
        }
        let cap = self.config.console_cap;
        let read = trim_console(&files, cap).and_then(|()| console_tail(&files, cap));
        read.map(Some).map_err(|e| {
            failed(format!(
                "cannot read the console of instance {instance_id}: {e}"
            ))
        })
    }

    async fn attach_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        self.plug_volume(instance_id, volume).await
    }

    async fn detach_volume(
        &self,
        instance_id: &str,
        volume: &VolumeDisk,
        force: bool,
    ) -> Result<(), DriverError> {
        self.unplug_volume(instance_id, volume, force).await
    }

    async fn snapshot_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
        target: &Path,
    ) -> Result<Option<u64>, DriverError> {
        self.copy_volume(instance_id, volume, target).await
    }

    async fn resize_volume(
        &self,
        instance_id: Option<&str>,
        volume: &VolumeDisk,
    ) -> Result<(), DriverError> {
        self.grow_volume(instance_id, volume).await
    }

    async fn volume_for_boot(&self, volume: &VolumeDisk) -> Result<Option<PathBuf>, DriverError> {
        self.boot_volume_file(volume).await
    }

    async fn delete_volume(&self, volume: &VolumeDisk) -> Result<(), DriverError> {
        self.remove_volume(volume).await
    }

    async fn change_cdrom(
        &self,
        instance_id: &str,
        image: Option<&Path>,
    ) -> Result<(), DriverError> {
        let files = self.files(instance_id)?;
        if files.running_pid().is_none() {
            // The next boot takes the drive's content from its spec.
            return Ok(());
        }
        let mut qmp = Qmp::connect(&files.qmp).await.map_err(failed)?;
        match image {
            Some(iso) => {
                let path = std::path::absolute(iso).unwrap_or_else(|_| iso.to_owned());
                qmp.execute(
                    "blockdev-change-medium",
                    json!({
                        "id": CDROM_DEVICE, "filename": path, "format": "raw",
                        "read-only-mode": "read-only",
                    }),
                )
                .await
                .map_err(|e| failed(format!("cannot insert the ISO: {e}")))?;
                info!(instance = %instance_id, "ISO inserted");
            }
            None => {
                qmp.execute("eject", json!({ "id": CDROM_DEVICE, "force": true }))
                    .await
                    .map_err(|e| failed(format!("cannot eject the ISO: {e}")))?;
                info!(instance = %instance_id, "ISO ejected");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
// Tests: a failed unwrap is a failed test, and eprintln reports skips and boot times.
#[allow(clippy::unwrap_used, clippy::print_stderr)]
mod tests {
    use super::*;

    /// This machine has two cores: one guest at a time, and one image build.
    static ONE_GUEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    const BOOT_BUDGET: Duration = Duration::from_secs(15);

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The built test guest (env `CIRRUS_GUEST_IMAGE`, or built by fixtures/guest/build.sh
    /// into target/guest-cache/), or why there is none. Call it holding the guest lock.
    fn guest_image() -> Result<PathBuf, String> {
        if find_program(Path::new("qemu-system-x86_64")).is_none() {
            return Err("qemu-system-x86_64 is not installed".into());
        }
        if let Some(image) = std::env::var_os("CIRRUS_GUEST_IMAGE") {
            let image = PathBuf::from(image);
            return if image.is_file() {
                Ok(image)
            } else {
                Err(format!(
                    "CIRRUS_GUEST_IMAGE={} does not exist",
                    image.display()
                ))
            };
        }
        let cache = repo().join("target").join("guest-cache");
        let built = Command::new("bash")
            .arg(repo().join("fixtures/guest/build.sh"))
            .arg(&cache)
            .stdin(Stdio::null())
            .output()
            .expect("fixtures/guest/build.sh runs");
        assert!(
            built.status.success(),
            "fixtures/guest/build.sh failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        Ok(cache.join("cirrus-guest.img"))
    }

    fn qemu_installed() -> bool {
        find_program(Path::new("qemu-system-x86_64")).is_some()
            && find_program(Path::new("qemu-img")).is_some()
    }

    fn spec(id: &str) -> GuestSpec {
        GuestSpec {
            instance_id: id.to_owned(),
            ec2_id: format!("i-{}", &id.replace('-', "")[..17]),
            name: "Test Guest 1".to_owned(),
            host_id: "host-1".to_owned(),
            cpus: 1,
            memory_mib: 256,
            template_id: "template-1".to_owned(),
            user_data: Some("#cloud-config\n".to_owned()),
            ..GuestSpec::default()
        }
    }

    fn config(dir: &Path) -> QemuConfig {
        QemuConfig {
            // The budget is for TCG, the slowest case: measure that, whatever this host has.
            accel: Accel::Tcg,
            stop_deadline: Duration::from_secs(30),
            ..QemuConfig::new(dir)
        }
    }

    /// Waits until the console holds `needle` `times` times; the time it took, or None.
    async fn wait_console(
        qemu: &Qemu,
        id: &str,
        needle: &str,
        times: usize,
        since: Instant,
        budget: Duration,
    ) -> Option<Duration> {
        while since.elapsed() < budget {
            let out = qemu.console_output(id).await.unwrap().unwrap_or_default();
            if String::from_utf8_lossy(&out).matches(needle).count() >= times {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Every process whose command line carries the instance's marker.
    fn processes_of(id: &str) -> Vec<u32> {
        let marker = format!("guest=cirrus-{id},");
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| process_is(*pid, &marker))
            .collect()
    }

    /// Kills the guest's QEMU when a test ends, however it ends: a failed assertion must not
    /// leave a guest running after its directory is gone.
    struct Reaper(String);

    impl Drop for Reaper {
        fn drop(&mut self) {
            for pid in processes_of(&self.0) {
                kill_now(pid);
            }
        }
    }

    async fn console_text(qemu: &Qemu, id: &str) -> String {
        let out = qemu.console_output(id).await.unwrap().unwrap_or_default();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn a_guest_boots_with_its_ids_survives_a_restart_reboots_and_powers_off() {
        let _one = ONE_GUEST_AT_A_TIME.lock().await;
        let image = match guest_image() {
            Ok(image) => image,
            Err(why) => return eprintln!("skipped: {why}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let qemu = Qemu::new(config(dir.path()));
        let id = uuid::Uuid::new_v4().to_string();
        let _reap = Reaper(id.clone());
        let guest = GuestSpec {
            template_image: Some(image.clone()),
            public_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST test@cirrus".into()],
            ..spec(&id)
        };

        let started = Instant::now();
        qemu.start(&guest).await.unwrap();
        let line = format!("cirrus-guest: up {} {}", guest.ec2_id, id);
        let took = wait_console(&qemu, &id, &line, 1, started, BOOT_BUDGET).await;
        let console = console_text(&qemu, &id).await;
        let took = took.unwrap_or_else(|| panic!("no {line:?} within 15 s; console:\n{console}"));
        eprintln!(
            "TCG guest printed its line {:.2} s after start",
            took.as_secs_f64()
        );

        // The root disk is a linked clone of the template.
        let files = Files::new(&dir.path().join("instances"), &id);
        let info = Command::new("qemu-img")
            .args(["info", "-U", "--output=json"])
            .arg(&files.root_disk)
            .output()
            .unwrap();
        let info: Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(info["format"], "qcow2");
        assert_eq!(
            PathBuf::from(info["backing-filename"].as_str().unwrap()),
            fs::canonicalize(&image).unwrap()
        );

        let states = qemu.power_states().await.unwrap();
        assert_eq!(states.get(&id), Some(&PowerState::Running));

        // A new driver on the same directory (a restarted server) finds the guest again.
        let restarted = Qemu::new(config(dir.path()));
        let states = restarted.power_states().await.unwrap();
        assert_eq!(states.get(&id), Some(&PowerState::Running));

        let reset = Instant::now();
        restarted.reboot(&id).await.unwrap();
        let again = wait_console(&restarted, &id, &line, 2, reset, BOOT_BUDGET).await;
        assert!(again.is_some(), "no second boot line after reboot");
        eprintln!(
            "rebooted guest printed its line again after {:.2} s",
            reset.elapsed().as_secs_f64()
        );
        let pid = files.running_pid().expect("QEMU still runs after a reboot");

        let stopping = Instant::now();
        restarted.stop(&id, false).await.unwrap();
        eprintln!(
            "ACPI power-down took {:.2} s",
            stopping.elapsed().as_secs_f64()
        );
        assert!(
            !process_is(pid, &files.marker()),
            "QEMU {pid} still runs after stop"
        );
        assert!(console_text(&restarted, &id)
            .await
            .contains("cirrus-guest: powering off"));
        let states = restarted.power_states().await.unwrap();
        assert_eq!(states.get(&id), Some(&PowerState::Stopped));
        assert!(
            files.root_disk.is_file(),
            "a stopped guest keeps its root disk"
        );
        let recorded: QemuGuest = serde_json::from_slice(&fs::read(&files.guest).unwrap()).unwrap();
        assert_eq!(recorded.public_keys.len(), 1);

        // Started again by a server that never ran it: the root disk is reused.
        let fresh = Qemu::new(config(dir.path()));
        let again = Instant::now();
        fresh.start(&guest).await.unwrap();
        let booted = wait_console(&fresh, &id, &line, 3, again, BOOT_BUDGET).await;
        assert!(booted.is_some(), "no boot line after a start from stopped");
        assert_eq!(
            fresh.power_states().await.unwrap().get(&id),
            Some(&PowerState::Running)
        );

        // Destroying a running guest ends it first.
        fresh.destroy(&id).await.unwrap();
        assert!(!files.dir.exists(), "destroy left {}", files.dir.display());
        assert!(processes_of(&id).is_empty());
        assert!(image.is_file(), "the template is untouched");
    }

    #[tokio::test]
    async fn data_volumes_are_listed_at_boot_and_when_hot_plugged() {
        let _one = ONE_GUEST_AT_A_TIME.lock().await;
        let image = match guest_image() {
            Ok(image) => image,
            Err(why) => return eprintln!("skipped: {why}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let primary = dir.path().join("primary");
        fs::create_dir_all(&primary).unwrap();
        let make_volume = |name: &str, size: &str| {
            let path = primary.join(name);
            let made = Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2"])
                .arg(&path)
                .arg(size)
                .status()
                .unwrap();
            assert!(made.success());
            path
        };
        let at_boot = DataVolume {
            id: "vol-at-boot".into(),
            path: make_volume("a.qcow2", "64M"),
        };
        let hot = DataVolume {
            id: "vol-hot-plugged".into(),
            path: make_volume("b.qcow2", "32M"),
        };
        let qemu = Qemu::new(config(dir.path()));
        let id = uuid::Uuid::new_v4().to_string();
        let _reap = Reaper(id.clone());
        let guest = spec(&id);
        let extra = QemuGuest {
            template: Some(image),
            data_volumes: vec![at_boot.clone()],
            ..QemuGuest::default()
        };

        let started = Instant::now();
        qemu.start_guest(&guest, &extra).await.unwrap();
        let seen = wait_console(
            &qemu,
            &id,
            "cirrus-guest: disk vdc 67108864",
            1,
            started,
            BOOT_BUDGET,
        );
        assert!(
            seen.await.is_some(),
            "console:\n{}",
            console_text(&qemu, &id).await
        );

        let plugged = Instant::now();
        qemu.attach_volume(&id, &hot).await.unwrap();
        let budget = Duration::from_secs(10);
        let seen = wait_console(
            &qemu,
            &id,
            "cirrus-guest: disk vdd 33554432",
            1,
            plugged,
            budget,
        );
        assert!(
            seen.await.is_some(),
            "console:\n{}",
            console_text(&qemu, &id).await
        );

        qemu.detach_volume(&id, &hot.id, Duration::from_secs(20))
            .await
            .unwrap();
        let unplugged = Instant::now();
        let seen = wait_console(&qemu, &id, "cirrus-guest: gone vdd", 1, unplugged, budget);
        assert!(
            seen.await.is_some(),
            "console:\n{}",
            console_text(&qemu, &id).await
        );

        // The guest's CD drive takes an ISO and gives it back while it runs (QEMU's view of the
        // drive: the test guest has no CD driver to report it).
        let iso = dir.path().join("tools.iso");
        fs::write(&iso, vec![0u8; 64 * 1024]).unwrap();
        let files = Files::new(&dir.path().join("instances"), &id);
        let medium = || async {
            let mut qmp = Qmp::connect(&files.qmp).await.unwrap();
            let blocks = qmp.execute("query-block", json!({})).await.unwrap();
            let cd = blocks
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["qdev"].as_str().is_some_and(|q| q.contains(CDROM_DEVICE)))
                .cloned()
                .expect("the guest has a CD drive");
            cd.pointer("/inserted/file")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        assert_eq!(medium().await, None, "the drive starts empty");
        qemu.change_cdrom(&id, Some(&iso)).await.unwrap();
        assert_eq!(medium().await.as_deref(), iso.to_str());
        qemu.change_cdrom(&id, None).await.unwrap();
        assert_eq!(medium().await, None, "the ISO was ejected");

        // Destroying a running guest ends it; the volumes are primary storage's, not the guest's.
        qemu.destroy(&id).await.unwrap();
        assert!(processes_of(&id).is_empty());
        assert!(!dir.path().join("instances").join(&id).exists());
        assert!(at_boot.path.is_file() && hot.path.is_file());
    }

    #[tokio::test]
    async fn a_missing_qemu_binary_is_a_clear_failure_that_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template.img");
        fs::write(&template, vec![0u8; 4096]).unwrap();
        let qemu = Qemu::new(QemuConfig {
            qemu_binary: PathBuf::from("/nonexistent/qemu-system-x86_64"),
            ..config(dir.path())
        });
        let id = uuid::Uuid::new_v4().to_string();
        let _reap = Reaper(id.clone());
        let guest = GuestSpec {
            template_image: Some(template),
            ..spec(&id)
        };
        let err = qemu.start(&guest).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/qemu-system-x86_64"), "{text}");
        assert!(text.contains("not found"), "{text}");
        assert!(!dir.path().join("instances").join(&id).exists());
        assert!(qemu.power_states().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_guest_that_cannot_boot_fails_its_start_and_leaves_nothing() {
        if !qemu_installed() {
            return eprintln!("skipped: qemu-system-x86_64 or qemu-img is not installed");
        }
        let _one = ONE_GUEST_AT_A_TIME.lock().await;
        let dir = tempfile::tempdir().unwrap();
        // A disk of zeros: the BIOS finds nothing to boot.
        let template = dir.path().join("blank.img");
        fs::write(&template, vec![0u8; 1024 * 1024]).unwrap();
        let qemu = Qemu::new(config(dir.path()));
        let id = uuid::Uuid::new_v4().to_string();
        let _reap = Reaper(id.clone());
        let extra = QemuGuest {
            template: Some(template.clone()),
            ..QemuGuest::default()
        };
        let started = Instant::now();
        let err = qemu.start_guest(&spec(&id), &extra).await.unwrap_err();
        let text = err.to_string();
        eprintln!(
            "unbootable guest failed after {:.2} s: {text}",
            started.elapsed().as_secs_f64()
        );
        assert!(text.contains("stopped while booting"), "{text}");
        assert!(text.contains(&spec(&id).ec2_id), "{text}");
        assert!(processes_of(&id).is_empty(), "an orphan QEMU is left");
        assert!(
            !dir.path().join("instances").join(&id).exists(),
            "files are left"
        );
        assert!(template.is_file());
    }

    #[tokio::test]
    async fn a_template_that_is_not_there_fails_the_start_by_name() {
        if !qemu_installed() {
            return eprintln!("skipped: qemu-system-x86_64 or qemu-img is not installed");
        }
        let dir = tempfile::tempdir().unwrap();
        let qemu = Qemu::new(config(dir.path()));
        let id = uuid::Uuid::new_v4().to_string();
        let _reap = Reaper(id.clone());
        let text = qemu.start(&spec(&id)).await.unwrap_err().to_string();
        assert!(
            text.contains("template-1") && text.contains("no disk image"),
            "{text}"
        );
        assert!(!dir.path().join("instances").join(&id).exists());
    }

    #[tokio::test]
    async fn stopping_rebooting_and_destroying_an_unknown_guest() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = Qemu::new(config(dir.path()));
        let id = uuid::Uuid::new_v4().to_string();
        let _reap = Reaper(id.clone());
        qemu.stop(&id, false).await.unwrap();
        assert!(matches!(
            qemu.reboot(&id).await,
            Err(DriverError::NoSuchGuest)
        ));
        qemu.destroy(&id).await.unwrap();
        assert_eq!(qemu.console_output(&id).await.unwrap(), None);
        assert!(qemu.stop("../etc", true).await.is_err());
    }

    #[test]
    fn the_config_drive_carries_both_ids_keys_and_user_data() {
        let guest = spec("6f1c2a3b-0000-4000-8000-000000000001");
        let extra = QemuGuest {
            public_keys: vec!["ssh-rsa AAAA one".into(), "ssh-ed25519 BBBB two".into()],
            availability_zone: Some("zone-1".into()),
            ..QemuGuest::default()
        };
        let files: HashMap<String, Vec<u8>> =
            config_drive_files(&guest, &extra).into_iter().collect();
        let meta: Value =
            serde_json::from_slice(&files["openstack/latest/meta_data.json"]).unwrap();
        assert_eq!(meta["uuid"], guest.instance_id);
        assert_eq!(meta["hostname"], "test-guest-1");
        assert_eq!(meta["public_keys"]["key-1"], "ssh-ed25519 BBBB two");
        assert_eq!(meta["availability_zone"], "zone-1");
        let ec2: Value = serde_json::from_slice(&files["ec2/latest/meta-data.json"]).unwrap();
        assert_eq!(ec2["instance-id"], guest.ec2_id);
        assert_eq!(ec2["public-keys"]["0"]["openssh-key"], "ssh-rsa AAAA one");
        assert_eq!(files["openstack/latest/user_data"], b"#cloud-config\n");
    }

    #[test]
    fn the_only_network_is_restricted_user_networking() {
        let guest = spec("6f1c2a3b-0000-4000-8000-000000000001");
        let files = Files::new(Path::new("/var/lib/cirrus/instances"), &guest.instance_id);
        let args: Vec<String> = qemu_args(&guest, &QemuGuest::default(), &files, Accel::Tcg)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let netdevs: Vec<&String> = args
            .iter()
            .zip(args.iter().skip(1))
            .filter(|(flag, _)| *flag == "-netdev" || *flag == "-net" || *flag == "-nic")
            .map(|(_, value)| value)
            .collect();
        assert_eq!(netdevs, ["user,id=n0,restrict=on"]);
        assert!(args.contains(&"-nodefaults".to_owned()));
        assert!(args.contains(&"-daemonize".to_owned()));
        assert!(args.iter().any(|a| a.starts_with("guest=cirrus-6f1c2a3b")));
    }

    #[test]
    fn an_attached_iso_is_in_the_cd_drive_at_boot() {
        let guest = spec("6f1c2a3b-0000-4000-8000-000000000002");
        let files = Files::new(Path::new("/var/lib/cirrus/instances"), &guest.instance_id);
        let drives = |extra: &QemuGuest| -> Vec<String> {
            let args: Vec<String> = qemu_args(&guest, extra, &files, Accel::Tcg)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
            args.iter()
                .filter(|a| a.contains("id=cd0"))
                .cloned()
                .collect()
        };
        assert_eq!(
            drives(&QemuGuest::default()),
            ["if=none,id=cd0,media=cdrom,readonly=on"]
        );
        let extra = QemuGuest {
            cdrom: Some(PathBuf::from("/cache/a,b.iso")),
            ..QemuGuest::default()
        };
        assert_eq!(
            drives(&extra),
            ["if=none,id=cd0,media=cdrom,readonly=on,file=/cache/a,,b.iso,format=raw"]
        );
    }

    #[test]
    fn the_kvm_probe_answers_within_moments() {
        let Some(qemu) = find_program(Path::new("qemu-system-x86_64")) else {
            return eprintln!("skipped: qemu-system-x86_64 is not installed");
        };
        let started = Instant::now();
        let works = kvm_works(&qemu);
        eprintln!(
            "KVM usable on this host: {works} (probe took {:.2} s)",
            started.elapsed().as_secs_f64()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn hostnames_are_one_dns_label() {
        assert_eq!(hostname_for("Web Server #1", "i-1"), "web-server--1");
        assert_eq!(hostname_for("!!!", "i-0ABC"), "i-0abc");
        assert_eq!(hostname_for(&"a".repeat(80), "i-1").len(), 63);
    }

    #[test]
    fn the_console_stays_under_its_cap_and_keeps_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path(), "g1");
        fs::create_dir_all(&files.dir).unwrap();
        let mut written = Vec::new();
        for i in 0..200 {
            let line = format!("line {i:04}\n");
            written.extend_from_slice(line.as_bytes());
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&files.console)
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
            trim_console(&files, 200).unwrap();
        }
        let on_disk = fs::metadata(&files.console).unwrap().len()
            + fs::metadata(&files.console_old).unwrap().len();
        assert!(on_disk <= 200, "{on_disk} bytes kept");
        let tail = console_tail(&files, 200).unwrap();
        assert!(written.ends_with(&tail));
        assert!(String::from_utf8(tail).unwrap().ends_with("line 0199\n"));
    }

    #[test]
    fn instance_ids_cannot_leave_the_instances_directory() {
        assert!(check_id("6f1c2a3b-0000-4000-8000-000000000001").is_ok());
        for bad in ["", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
