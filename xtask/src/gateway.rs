//! The gateway step of `cargo xtask test` (the Rust tests, then a Python producer and
//! subscriber through the gateway binary), and `cargo xtask gateway`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::args::{ClusterOpts, Serialize};
use crate::cluster::{self, Cluster};
use crate::sys::{self, Proc};
use crate::tasks::{cargo, run, test_cluster};

/// The Python packages of the Python test, pinned (grpcio-tools brings `protoc` as a Python
/// module, so no system `protoc` is needed).
const PYTHON_PACKAGES: [&str; 2] = ["grpcio==1.76.0", "grpcio-tools==1.76.0"];

/// How long the gateway binary may take to say it listens.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// `cargo` arguments that build the gateway binary (debug).
pub(crate) const BUILD: [&str; 5] = [
    "build",
    "-p",
    "rocketwire-gateway",
    "--bin",
    "rocketwire-gateway",
];

/// The proto files, relative to `gateway/proto`.
const PROTOS: [&str; 2] = ["mq.proto", "rocketwire/gateway/v1/gateway.proto"];

/// `cargo xtask test`'s `gateway` step: a cluster, the Rust gateway tests, then the Python
/// check against the gateway binary; always stops what it started.
pub(crate) fn gateway_suite() -> Result<(), String> {
    let python = python_env()?;
    let mut cluster = test_cluster(Serialize::Json, |_| {})?;
    let tests = tests_command("cluster", &cluster.namesrv_addr());
    let mut result = run("gateway", tests);
    if result.is_ok() {
        result = python_check(&python, &cluster);
    }
    cluster.stop();
    result
}

/// `cargo test` of the gateway's real-cluster test binary `test` against `namesrv`.
pub(crate) fn tests_command(test: &str, namesrv: &str) -> Command {
    let mut cmd = cargo(&[
        "test",
        "-p",
        "rocketwire-gateway",
        "--test",
        test,
        "--",
        "--include-ignored",
        "--test-threads=1",
    ]);
    cmd.env("ROCKETWIRE_NAMESRV", namesrv);
    cmd
}

/// The virtualenv with grpcio (made once under the target dir) and stubs generated from the
/// project's proto files into a fresh directory. Returns `(python, stubs dir)`.
fn python_env() -> Result<(PathBuf, PathBuf), String> {
    let target = sys::target_dir();
    let venv = target.join("gateway-venv");
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    if !python.is_file() {
        let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut make = Command::new(&base);
        make.args(["-m", "venv"]).arg(&venv);
        run("gateway-venv", make).map_err(|e| {
            format!("{e} (the Python test needs `{base} -m venv`: Python 3 with its venv module)")
        })?;
    }
    let mut install = Command::new(&python);
    install
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
        .args(PYTHON_PACKAGES);
    run("gateway-pip", install)?;
    let stubs = target.join("gateway-py-stubs");
    let _ = fs::remove_dir_all(&stubs);
    fs::create_dir_all(&stubs).map_err(|e| format!("{}: {e}", stubs.display()))?;
    let proto = sys::workspace_root().join("gateway").join("proto");
    let mut generate = Command::new(&python);
    generate
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", proto.display()))
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .args(PROTOS.iter().map(|p| proto.join(p)));
    run("gateway-stubs", generate)?;
    Ok((python, stubs))
}

/// Starts the gateway binary in a directory whose `config.yaml` (the original's keys and
/// `consume_from`) points at `cluster`, runs the Python check, then stops the gateway with SIGTERM: it must
/// exit cleanly.
fn python_check(python: &(PathBuf, PathBuf), cluster: &Cluster) -> Result<(), String> {
    let (python, stubs) = python;
    let dir = sys::target_dir().join("gateway-run");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The original's keys, plus where a new group starts: the check sends before it
    // subscribes, and a new group starts at the end of the queues by default (as Java's).
    let metrics_port = free_port()?;
    let config = format!(
        "server:\n  listen_port: 0\n  metrics_port: {metrics_port}\nrocketmq:\n  nameservers:\n    - \"{}\"\n  producer:\n    \
         group_name: \"python_check_producer\"\n    send_retry_times: 2\n  consumer:\n    \
         consume_from: first\n",
        cluster.namesrv_addr()
    );
    fs::write(dir.join("config.yaml"), config).map_err(|e| format!("config.yaml: {e}"))?;
    let (mut gateway, addr) = start_gateway(&dir)?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut check = Command::new(python);
    check
        .arg(
            sys::workspace_root()
                .join("gateway")
                .join("python")
                .join("gateway_check.py"),
        )
        .arg(&addr)
        .arg(format!("py_gateway_{stamp}"))
        .arg(format!("py_gateway_group_{stamp}"))
        .arg(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .env("PYTHONPATH", stubs);
    let checked = run("gateway-python", check);
    // Graceful shutdown on SIGTERM, within its 10 s budget and then some.
    gateway.signal("TERM");
    let exited = sys::wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        !gateway.alive()
    });
    let status = gateway.child.as_mut().and_then(|c| c.wait().ok());
    checked?;
    if !exited {
        gateway.stop(Duration::from_secs(1));
        return Err("the gateway did not stop within 30 s of SIGTERM".into());
    }
    match status {
        Some(s) if s.success() => Ok(()),
        other => Err(format!("the gateway exited with {other:?} after SIGTERM")),
    }
}

/// A loopback port nothing listens on now (for the metrics endpoint, whose exporter cannot
/// report a port it chose itself).
fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

/// Starts the built gateway binary in `dir` and waits for its "listening on ADDR" line.
fn start_gateway(dir: &Path) -> Result<(Proc, String), String> {
    let exe = gateway_exe();
    let mut cmd = Command::new(&exe);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", exe.display()))?;
    let stdout = child.stdout.take().ok_or("the gateway has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(addr) = line.strip_prefix("rocketwire-gateway: listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let mut proc = Proc {
        name: "rocketwire-gateway",
        pid: child.id(),
        exe_marker: "rocketwire-gateway",
        child: Some(child),
    };
    match rx.recv_timeout(START_PATIENCE) {
        Ok(addr) => {
            // It listens on 0.0.0.0 (the original's default); clients dial loopback.
            let port = addr.rsplit(':').next().unwrap_or_default().to_owned();
            Ok((proc, format!("127.0.0.1:{port}")))
        }
        Err(_) => {
            proc.stop(Duration::from_secs(5));
            Err(format!(
                "the gateway did not report its address within {START_PATIENCE:?} (see its log above)"
            ))
        }
    }
}

/// `cargo xtask gateway`: a cluster (left running, as `cluster up`) and the gateway on
/// port 50051 in the foreground until Ctrl-C.
pub(crate) fn gateway(opts: &ClusterOpts) -> Result<(), String> {
    run("gateway-build", cargo(&BUILD))?;
    let cluster = cluster::up(opts, true)?;
    println!(
        "xtask: the cluster stays up: stop it with `cargo xtask cluster down --namesrv-port {}`",
        cluster.state.namesrv_port
    );
    println!("xtask: the gateway runs until Ctrl-C; try it with the Python snippet in the README");
    let exe = gateway_exe();
    let status = Command::new(&exe)
        .current_dir(sys::workspace_root())
        .env("ROCKETWIRE_GATEWAY_NAMESERVERS", cluster.namesrv_addr())
        .status()
        .map_err(|e| format!("start {}: {e}", exe.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the gateway exited with {status}"))
    }
}

/// The debug build of the gateway binary.
fn gateway_exe() -> PathBuf {
    sys::target_dir().join("debug").join(format!(
        "rocketwire-gateway{}",
        std::env::consts::EXE_SUFFIX
    ))
}
