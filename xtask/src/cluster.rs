//! The local namesrv + broker: `cluster up|down|status`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::args::{ClusterOpts, Serialize};
use crate::certs::{self, TlsFiles};
use crate::install::{self, Binaries};
use crate::sys::{self, Proc};
use crate::{config, probe, store};

/// Bound on start-to-ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Grace period between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Where the servers listen (and what brokers register unless told otherwise).
const LOOPBACK: &str = "127.0.0.1";
/// Log lines shown when something goes wrong.
const LOG_TAIL: usize = 25;

/// What `up` records so `down`/`status` can find the processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    /// namesrv port.
    pub(crate) namesrv_port: u16,
    /// broker listen port.
    pub(crate) broker_port: u16,
    /// namesrv PID (0 = not started).
    pub(crate) namesrv_pid: u32,
    /// broker PID (0 = not started).
    pub(crate) broker_pid: u32,
    /// The second broker's listen port (0 = a one-broker cluster).
    pub(crate) broker_b_port: u16,
    /// The second broker's PID (0 = none).
    pub(crate) broker_b_pid: u32,
    /// The data directory.
    pub(crate) data_dir: PathBuf,
    /// Reply header encoding.
    pub(crate) serialize: Serialize,
    /// The host the brokers register (`brokerIP1`).
    pub(crate) broker_host: String,
    /// The brokers' stores when they are in memory, not in the data dir (removed on stop).
    pub(crate) store_dir: Option<PathBuf>,
}

impl State {
    /// `key=value` lines.
    pub(crate) fn render(&self) -> String {
        let store_dir = self
            .store_dir
            .as_ref()
            .map(|d| format!("store_dir={}\n", d.display()))
            .unwrap_or_default();
        format!(
            "namesrv_port={}\nbroker_port={}\nnamesrv_pid={}\nbroker_pid={}\nbroker_b_port={}\nbroker_b_pid={}\nserialize={}\nbroker_host={}\ndata_dir={}\n{store_dir}",
            self.namesrv_port,
            self.broker_port,
            self.namesrv_pid,
            self.broker_pid,
            self.broker_b_port,
            self.broker_b_pid,
            self.serialize.name(),
            self.broker_host,
            self.data_dir.display()
        )
    }

    /// Parses [`State::render`]'s output.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .ok_or_else(|| format!("state file lacks `{key}`"))
        };
        let num = |key: &str| -> Result<u32, String> {
            get(key)?
                .trim()
                .parse()
                .map_err(|_| format!("bad `{key}` in state file"))
        };
        let port = |key: &str| -> Result<u16, String> {
            u16::try_from(num(key)?).map_err(|_| format!("bad `{key}` in state file"))
        };
        Ok(State {
            namesrv_port: port("namesrv_port")?,
            broker_port: port("broker_port")?,
            namesrv_pid: num("namesrv_pid")?,
            broker_pid: num("broker_pid")?,
            // Absent in the files of one-broker clusters.
            broker_b_port: port("broker_b_port").unwrap_or(0),
            broker_b_pid: num("broker_b_pid").unwrap_or(0),
            serialize: match get("serialize")?.trim() {
                "rocketmq" => Serialize::RocketMq,
                _ => Serialize::Json,
            },
            // Absent in the files of clusters made before it existed.
            broker_host: get("broker_host").map_or_else(|_| LOOPBACK.to_owned(), str::to_owned),
            data_dir: PathBuf::from(get("data_dir")?),
            // Absent when the stores are in the data dir.
            store_dir: get("store_dir").ok().map(PathBuf::from),
        })
    }
}

/// `target/rocketwire-cluster`.
fn cluster_root() -> PathBuf {
    sys::target_dir().join("rocketwire-cluster")
}

/// The well-known state file of the cluster on `namesrv_port`.
pub(crate) fn state_path(namesrv_port: u16) -> PathBuf {
    cluster_root().join(format!("{namesrv_port}.state"))
}

const STATE_FILE: &str = "cluster.state";

fn read_state(path: &Path) -> Result<Option<State>, String> {
    match fs::read_to_string(path) {
        Ok(text) => State::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Finds the recorded state: in `--data-dir` if given, else by namesrv port.
fn find_state(opts: &ClusterOpts) -> Result<Option<(State, PathBuf)>, String> {
    let path = match &opts.data_dir {
        Some(dir) => dir.join(STATE_FILE),
        None => state_path(opts.namesrv_port),
    };
    Ok(read_state(&path)?.map(|s| (s, path)))
}

/// One of the (up to two) brokers of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// The first broker (`broker-a`).
    A,
    /// The second broker of a two-broker cluster (`broker-b`).
    B,
}

/// A cluster started (or found) by this process.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// What was recorded.
    pub(crate) state: State,
    namesrv: Proc,
    broker: Proc,
    broker_b: Proc,
    stopped: bool,
}

impl Cluster {
    fn from_state(state: State) -> Self {
        Cluster {
            namesrv: Proc {
                name: "namesrv",
                pid: state.namesrv_pid,
                exe_marker: install::NAMESRV.1,
                child: None,
            },
            broker: Proc {
                name: "broker",
                pid: state.broker_pid,
                exe_marker: install::BROKER.1,
                child: None,
            },
            broker_b: Proc {
                name: "second broker",
                pid: state.broker_b_pid,
                exe_marker: install::BROKER.1,
                child: None,
            },
            state,
            stopped: false,
        }
    }

    /// `127.0.0.1:<namesrv port>`.
    pub(crate) fn namesrv_addr(&self) -> String {
        format!("127.0.0.1:{}", self.state.namesrv_port)
    }

    /// `127.0.0.1:<broker port>`.
    pub(crate) fn broker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.state.broker_port)
    }

    /// The second broker's address and PID, in a two-broker cluster.
    pub(crate) fn second_broker(&self) -> Option<(String, u32)> {
        (self.state.broker_b_port != 0).then(|| {
            (
                format!("127.0.0.1:{}", self.state.broker_b_port),
                self.state.broker_b_pid,
            )
        })
    }

    /// The listen ports of the brokers.
    fn broker_ports(&self) -> Vec<u16> {
        [self.state.broker_port, self.state.broker_b_port]
            .into_iter()
            .filter(|p| *p != 0)
            .collect()
    }

    fn write_state(&self) -> Result<(), String> {
        let text = self.state.render();
        for path in [
            self.state.data_dir.join(STATE_FILE),
            state_path(self.state.namesrv_port),
        ] {
            fs::write(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    fn remove_state(&self) {
        let _ = fs::remove_file(self.state.data_dir.join(STATE_FILE));
        let _ = fs::remove_file(state_path(self.state.namesrv_port));
    }

    /// The CA certificate (PEM) of a TLS cluster's servers; `None` for a plain cluster.
    pub(crate) fn tls_ca(&self) -> Option<PathBuf> {
        let ca = TlsFiles::of(&self.state.data_dir).ca;
        ca.is_file().then_some(ca)
    }

    fn logs_tail(&self) -> String {
        let mut s = String::new();
        for name in ["namesrv", "broker", "broker-b"] {
            let log = self.state.data_dir.join(format!("{name}.log"));
            // A failed start names its cause long before the shutdown lines of the tail.
            let causes = sys::grep(&log, &[" ERROR ", "cause="], LOG_TAIL);
            if !causes.is_empty() {
                s.push_str(&format!(
                    "----- errors in {} -----\n{causes}\n",
                    log.display()
                ));
            }
            s.push_str(&format!(
                "----- last lines of {} -----\n{}\n",
                log.display(),
                sys::tail(&log, LOG_TAIL)
            ));
        }
        s
    }

    /// Stops the broker, then the namesrv (SIGTERM, SIGKILL after a grace period), and
    /// removes the state files. Idempotent.
    pub(crate) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        let started = Instant::now();
        let mut killed = Vec::new();
        for p in [&mut self.broker_b, &mut self.broker, &mut self.namesrv] {
            if p.pid != 0 && p.stop(STOP_GRACE) {
                killed.push(p.name);
            }
        }
        self.stopped = true;
        self.remove_state();
        if let Some(dir) = &self.state.store_dir {
            // Memory, not disk: nothing to keep for a look afterwards.
            let _ = fs::remove_dir_all(dir);
        }
        println!(
            "xtask: cluster on namesrv port {} stopped in {:.2?}{}",
            self.state.namesrv_port,
            started.elapsed(),
            if killed.is_empty() {
                String::new()
            } else {
                format!(" (SIGKILL needed for {})", killed.join(", "))
            }
        );
    }

    /// The server binaries (installed on first use).
    fn binaries() -> Result<Binaries, String> {
        install::ensure_installed(&install::cache_dir(&|k| std::env::var(k).ok())?)
    }

    fn broker_proc(&mut self, which: Which) -> &mut Proc {
        match which {
            Which::A => &mut self.broker,
            Which::B => &mut self.broker_b,
        }
    }

    /// Kills broker `which` with SIGKILL and waits until it is gone (chaos tests).
    pub(crate) fn kill_broker(&mut self, which: Which) {
        let p = self.broker_proc(which);
        p.signal("KILL");
        sys::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            !p.alive()
        });
        if let Some(child) = &mut p.child {
            let _ = child.wait();
        }
    }

    /// Stops the first broker with SIGTERM (SIGKILL after the grace period).
    pub(crate) fn stop_broker(&mut self) {
        self.broker.stop(STOP_GRACE);
    }

    /// Starts broker `which` again with its config and data dir; does not wait for it.
    pub(crate) fn start_broker(&mut self, which: Which) -> Result<(), String> {
        let ns = self.namesrv_addr();
        let bins = Self::binaries()?;
        let (name, config) = match which {
            Which::A => ("broker", "broker.toml"),
            Which::B => ("broker-b", "broker-b.toml"),
        };
        let child = spawn_server(
            &self.state,
            name,
            &bins.broker,
            &["-c", config, "-n", &ns],
            false,
        )?;
        match which {
            Which::A => self.state.broker_pid = child.id(),
            Which::B => self.state.broker_b_pid = child.id(),
        }
        let p = self.broker_proc(which);
        p.pid = child.id();
        p.child = Some(child);
        self.write_state()
    }

    /// Stops the namesrv with SIGTERM (SIGKILL after the grace period).
    pub(crate) fn stop_namesrv(&mut self) {
        self.namesrv.stop(STOP_GRACE);
    }

    /// Starts the namesrv again on its port; does not wait for it.
    pub(crate) fn start_namesrv(&mut self) -> Result<(), String> {
        let bins = Self::binaries()?;
        let args = namesrv_args(&self.state);
        let child = spawn_server(
            &self.state,
            "namesrv",
            &bins.namesrv,
            &args.each_ref().map(String::as_str),
            false,
        )?;
        self.state.namesrv_pid = child.id();
        self.namesrv.pid = child.id();
        self.namesrv.child = Some(child);
        self.write_state()
    }

    /// Whether every broker and the namesrv are running.
    pub(crate) fn servers_alive(&mut self) -> bool {
        self.broker.alive()
            && self.namesrv.alive()
            && (self.state.broker_b_port == 0 || self.broker_b.alive())
    }

    /// The listen port of broker `which` (0: no second broker).
    pub(crate) fn broker_port(&self, which: Which) -> u16 {
        match which {
            Which::A => self.state.broker_port,
            Which::B => self.state.broker_b_port,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Only clusters owning their children stop on drop; `cluster up` hands its
        // processes over to the state file.
        if self.namesrv.child.is_some()
            || self.broker.child.is_some()
            || self.broker_b.child.is_some()
        {
            self.stop();
        }
    }
}

/// How often a start whose servers exit or never become ready is tried again.
const START_ATTEMPTS: u32 = 3;

/// Why a cluster did not come up.
#[derive(Debug)]
enum UpError {
    /// The servers were started but one exited or never became ready (a port taken in
    /// the meantime by another process, a slow machine): worth another attempt.
    Start(String),
    /// Anything else (bad options, a cluster already running, an install failure).
    Other(String),
}

impl From<String> for UpError {
    fn from(e: String) -> Self {
        UpError::Other(e)
    }
}

/// Starts a cluster on `opts`' ports and waits until it is ready. With `detach`, the
/// servers get their own process group and outlive this process (for `cluster up`);
/// otherwise they are stopped when the returned [`Cluster`] is dropped. A start whose
/// servers exit during startup is tried again on the same ports, up to
/// [`START_ATTEMPTS`] times.
pub(crate) fn up(opts: &ClusterOpts, detach: bool) -> Result<Cluster, String> {
    let mut attempt = 1;
    loop {
        match try_up(opts, detach) {
            Ok(cluster) => return Ok(cluster),
            Err(UpError::Start(e)) if attempt < START_ATTEMPTS => {
                eprintln!(
                    "xtask: cluster start {attempt} of {START_ATTEMPTS} failed, trying again: {e}"
                );
                attempt += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(UpError::Start(e) | UpError::Other(e)) => return Err(e),
        }
    }
}

/// Starts a test cluster on the first free port set of `candidate(0..tries)` (of
/// `range`, named in errors). A start whose servers exit during startup moves on to the
/// next free set, up to [`START_ATTEMPTS`] starts: whatever took a port may still hold it.
pub(crate) fn up_on_free_ports(
    tries: u16,
    range: &str,
    candidate: impl Fn(u16) -> ClusterOpts,
) -> Result<Cluster, String> {
    let mut failed = 0;
    for k in 0..tries {
        let opts = candidate(k);
        let free = opts.ports().iter().all(|(_, p)| !sys::port_busy(*p))
            && !state_path(opts.namesrv_port).exists();
        if !free {
            continue;
        }
        match try_up(&opts, false) {
            Ok(cluster) => return Ok(cluster),
            Err(UpError::Start(e)) if failed + 1 < START_ATTEMPTS => {
                failed += 1;
                eprintln!(
                    "xtask: cluster start on namesrv port {} failed ({failed} of \
                     {START_ATTEMPTS}), trying the next port set: {e}",
                    opts.namesrv_port
                );
            }
            Err(UpError::Start(e) | UpError::Other(e)) => return Err(e),
        }
    }
    Err(format!("no free port set found for the {range}"))
}

fn try_up(opts: &ClusterOpts, detach: bool) -> Result<Cluster, UpError> {
    opts.validate()?;
    if let Some((state, path)) = find_state(opts)? {
        let mut old = Cluster::from_state(state);
        if old.namesrv.alive() || old.broker.alive() || old.broker_b.alive() {
            old.stopped = true; // never touch it from here
            return Err(UpError::Other(format!(
                "a cluster is already running on namesrv port {} (namesrv pid {}, broker pid {}, \
                 data dir {}); stop it with `cargo xtask cluster down --namesrv-port {}`",
                old.state.namesrv_port,
                old.state.namesrv_pid,
                old.state.broker_pid,
                old.state.data_dir.display(),
                old.state.namesrv_port
            )));
        }
        let _ = fs::remove_file(path);
    }
    let busy: Vec<String> = opts
        .ports()
        .iter()
        .filter(|(_, port)| sys::port_busy(*port))
        .map(|(name, port)| format!("{name} port {port}"))
        .collect();
    if !busy.is_empty() {
        return Err(UpError::Other(format!(
            "cannot start the cluster: already in use on 127.0.0.1: {}. Pick other ports with \
             --namesrv-port/--broker-port (the broker uses listen-2, listen, listen+1)",
            busy.join(", ")
        )));
    }
    let cache = install::cache_dir(&|k| std::env::var(k).ok())?;
    let bins = install::ensure_installed(&cache)?;
    let (data_dir, store_dir) = prepare_data_dir(opts)?;
    let started = Instant::now();
    let mut cluster = Cluster::from_state(State {
        namesrv_port: opts.namesrv_port,
        broker_port: opts.broker_port,
        namesrv_pid: 0,
        broker_pid: 0,
        broker_b_port: if opts.brokers > 1 {
            opts.second_broker_port()
        } else {
            0
        },
        broker_b_pid: 0,
        data_dir,
        serialize: opts.serialize,
        broker_host: opts
            .broker_ip
            .clone()
            .unwrap_or_else(|| LOOPBACK.to_owned()),
        store_dir,
    });
    match start_servers(&mut cluster, &bins, detach) {
        Ok(()) => {}
        Err(e) => {
            let logs = cluster.logs_tail();
            // Whether detached or not, a cluster that failed to start is ours to stop.
            cluster.stop();
            return Err(UpError::Start(format!("{e}\n{logs}")));
        }
    }
    if let Some(ca) = cluster.tls_ca() {
        println!(
            "xtask: TLS: brokers accept only TLS, the namesrv TLS and plain TCP; clients trust {}",
            ca.display()
        );
    }
    let second = cluster
        .second_broker()
        .map(|(addr, pid)| format!(", second broker {addr} (pid {pid})"))
        .unwrap_or_default();
    println!(
        "xtask: cluster ready in {:.2?}: namesrv {} (pid {}), broker {} (pid {}){second}, replies {}, data {}",
        started.elapsed(),
        cluster.namesrv_addr(),
        cluster.state.namesrv_pid,
        cluster.broker_addr(),
        cluster.state.broker_pid,
        opts.serialize.server_env(),
        cluster.state.data_dir.display()
    );
    if detach {
        // The processes now belong to the state file, not to this handle.
        cluster.namesrv.child = None;
        cluster.broker.child = None;
        cluster.broker_b.child = None;
    }
    Ok(cluster)
}

/// Starts server `name` (log `<name>.log`, appended to) of `state`'s cluster with `args`.
fn spawn_server(
    state: &State,
    name: &str,
    bin: &Path,
    args: &[&str],
    detach: bool,
) -> Result<std::process::Child, String> {
    let dir = &state.data_dir;
    let log_path = dir.join(format!("{name}.log"));
    let log = fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .env("ROCKETMQ_SECURITY_PROFILE", "development-insecure-loopback")
        .env("ROCKETMQ_HOME", dir)
        .env("HOME", dir.join("home"))
        .env("ROCKETMQ_SERIALIZE_TYPE", state.serialize.server_env())
        // This one would take precedence over ROCKETMQ_SERIALIZE_TYPE.
        .env_remove("rocketmq.serialize.type")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    #[cfg(unix)]
    if detach {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))
}

fn namesrv_args(state: &State) -> [String; 6] {
    [
        "-c",
        "namesrv.toml",
        "--bindAddress",
        "127.0.0.1",
        "--listenPort",
        &state.namesrv_port.to_string(),
    ]
    .map(str::to_owned)
}

fn start_servers(cluster: &mut Cluster, bins: &Binaries, detach: bool) -> Result<(), String> {
    let namesrv_addr = cluster.namesrv_addr();
    let state = cluster.state.clone();
    let spawn =
        |name: &str, bin: &Path, args: &[&str]| spawn_server(&state, name, bin, args, detach);

    let ns_args = namesrv_args(&cluster.state);
    let child = spawn(
        "namesrv",
        &bins.namesrv,
        &ns_args.each_ref().map(String::as_str),
    )?;
    cluster.state.namesrv_pid = child.id();
    cluster.namesrv.pid = child.id();
    cluster.namesrv.child = Some(child);
    cluster.write_state()?;

    let deadline = Instant::now() + READY_TIMEOUT;
    let ns_up = sys::wait_until(READY_TIMEOUT, Duration::from_millis(50), || {
        sys::port_open(cluster.state.namesrv_port) || !cluster.namesrv.alive()
    });
    if !cluster.namesrv.alive() {
        return Err("the namesrv exited during startup".into());
    }
    if !ns_up {
        return Err(format!(
            "the namesrv did not listen on {namesrv_addr} within {READY_TIMEOUT:?}"
        ));
    }

    let child = spawn(
        "broker",
        &bins.broker,
        &["-c", "broker.toml", "-n", &namesrv_addr],
    )?;
    cluster.state.broker_pid = child.id();
    cluster.broker.pid = child.id();
    cluster.broker.child = Some(child);
    cluster.write_state()?;
    if cluster.state.broker_b_port != 0 {
        let child = spawn(
            "broker-b",
            &bins.broker,
            &["-c", "broker-b.toml", "-n", &namesrv_addr],
        )?;
        cluster.state.broker_b_pid = child.id();
        cluster.broker_b.pid = child.id();
        cluster.broker_b.child = Some(child);
        cluster.write_state()?;
    }

    loop {
        for p in [
            &mut cluster.namesrv,
            &mut cluster.broker,
            &mut cluster.broker_b,
        ] {
            if p.pid != 0 && !p.alive() {
                return Err(format!("the {} exited during startup", p.name));
            }
        }
        let ready = cluster.broker_ports().into_iter().try_for_each(|port| {
            let host = &cluster.state.broker_host;
            probe::cluster_ready(
                cluster.state.namesrv_port,
                host,
                port,
                Duration::from_secs(2),
            )
        });
        match ready {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("cluster not ready within {READY_TIMEOUT:?}: {e}"));
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates the data dir and writes the configuration files into it; the second path is
/// the brokers' stores when they are in memory (see [`store`]).
fn prepare_data_dir(opts: &ClusterOpts) -> Result<(PathBuf, Option<PathBuf>), String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let root = cluster_root();
    fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
    let dir = match &opts.data_dir {
        Some(dir) => dir.clone(),
        None => {
            let parent = root.join(opts.namesrv_port.to_string());
            // Earlier runs on this port are stopped (their ports were free): drop their data.
            if let Ok(entries) = fs::read_dir(&parent) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with("run-") {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            parent.join(format!("run-{stamp}-{}", std::process::id()))
        }
    };
    let mut subs = vec!["home", "namesrv", "broker/auth"];
    if opts.brokers > 1 {
        subs.push("broker-b/auth");
    }
    for sub in subs {
        let p = dir.join(sub);
        fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    // Absolute paths in the configs: the servers must not depend on their cwd.
    let dir = fs::canonicalize(&dir).map_err(|e| io(&dir, e))?;
    store::sweep_orphans();
    let (store_root, store_dir) = store::place(&dir)?;
    for slot in 0..usize::from(opts.brokers.min(2)) {
        let p = store_root.join(config::broker_dir(slot)).join("store");
        fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    if opts.tls {
        certs::generate(&dir)?;
    }
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        fs::write(&p, text).map_err(|e| io(&p, e))
    };
    write(
        "namesrv.toml",
        config::namesrv_toml(&dir, opts.namesrv_port, opts.tls),
    )?;
    write(
        "broker.toml",
        config::broker_toml(&dir, &store_root, opts, 0),
    )?;
    if opts.brokers > 1 {
        write(
            "broker-b.toml",
            config::broker_toml(&dir, &store_root, opts, 1),
        )?;
    }
    Ok((dir, store_dir))
}

/// `cluster down`.
pub(crate) fn down(opts: &ClusterOpts) -> Result<(), String> {
    match find_state(opts)? {
        None => {
            println!(
                "xtask: no cluster recorded for namesrv port {} (nothing to stop)",
                opts.namesrv_port
            );
            Ok(())
        }
        Some((state, _)) => {
            Cluster::from_state(state).stop();
            Ok(())
        }
    }
}

/// `cluster status`: `Ok` when the cluster is ready.
pub(crate) fn status(opts: &ClusterOpts) -> Result<(), String> {
    let Some((state, path)) = find_state(opts)? else {
        return Err(format!(
            "no cluster recorded for namesrv port {} ({} does not exist)",
            opts.namesrv_port,
            state_path(opts.namesrv_port).display()
        ));
    };
    let mut c = Cluster::from_state(state);
    c.stopped = true; // status never stops anything
    println!("state file: {}", path.display());
    println!("data dir:   {}", c.state.data_dir.display());
    println!("replies:    {}", c.state.serialize.server_env());
    let (ns_alive, br_alive) = (c.namesrv.alive(), c.broker.alive());
    let word = |alive| if alive { "running" } else { "NOT running" };
    println!(
        "namesrv:    {} pid {} {}",
        c.namesrv_addr(),
        c.state.namesrv_pid,
        word(ns_alive)
    );
    println!(
        "broker:     {} pid {} {}",
        c.broker_addr(),
        c.state.broker_pid,
        word(br_alive)
    );
    if let Some((addr, pid)) = c.second_broker() {
        println!("broker b:   {addr} pid {pid} {}", word(c.broker_b.alive()));
    }
    let ready = c.broker_ports().into_iter().try_for_each(|port| {
        probe::cluster_ready(
            c.state.namesrv_port,
            &c.state.broker_host,
            port,
            Duration::from_secs(2),
        )
    });
    match ready {
        Ok(()) => {
            println!("ready:      yes (namesrv lists the broker for the cluster and TBW102)");
            Ok(())
        }
        Err(e) => Err(format!("cluster not ready: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip() {
        let s = State {
            namesrv_port: 19876,
            broker_port: 20911,
            namesrv_pid: 11,
            broker_pid: 22,
            broker_b_port: 20921,
            broker_b_pid: 33,
            data_dir: PathBuf::from("some dir/with=equals"),
            serialize: Serialize::RocketMq,
            broker_host: "127.0.0.2".into(),
            store_dir: None,
        };
        assert_eq!(State::parse(&s.render()).unwrap(), s);
        let in_memory = State {
            store_dir: Some(PathBuf::from("/dev/shm/rocketwire-store_2fx")),
            ..s.clone()
        };
        assert_eq!(State::parse(&in_memory.render()).unwrap(), in_memory);
        let old = s.render().replace("broker_host=127.0.0.2\n", "");
        assert_eq!(State::parse(&old).unwrap().broker_host, "127.0.0.1");
        assert!(State::parse("namesrv_port=1\n").is_err());
        assert!(
            State::parse(&s.render().replace("broker_port=20911", "broker_port=99999")).is_err()
        );
    }
    /// Starts a real cluster owned by this process, checks it, and stops it on drop.
    /// Run with `cargo test -p xtask -- --ignored` (installs the servers if needed).
    #[test]
    #[ignore = "starts real servers; installs them on first use"]
    fn in_process_cluster_up_and_down() {
        let opts = (0..20)
            .map(|k| ClusterOpts {
                namesrv_port: 29876 + 100 * k,
                broker_port: 30911 + 100 * k,
                data_dir: None,
                serialize: Serialize::RocketMq,
                brokers: 1,
                auth: None,
                tls: false,
                broker_ip: None,
            })
            .find(|o| o.ports().iter().all(|(_, p)| !sys::port_busy(*p)))
            .expect("no free ports");
        let (ns_pid, br_pid) = {
            let cluster = up(&opts, false).unwrap();
            assert!(state_path(opts.namesrv_port).exists());
            probe::cluster_ready(
                opts.namesrv_port,
                LOOPBACK,
                opts.broker_port,
                Duration::from_secs(2),
            )
            .unwrap();
            // A second start on the same ports is refused.
            let err = up(&opts, false).unwrap_err();
            assert!(err.contains("already running"), "{err}");
            (cluster.state.namesrv_pid, cluster.state.broker_pid)
        };
        assert!(!sys::pid_alive(ns_pid) && !sys::pid_alive(br_pid));
        assert!(!state_path(opts.namesrv_port).exists());
        assert!(opts.ports().iter().all(|(_, p)| !sys::port_open(*p)));
    }
}
