//! `cargo xtask test`, `cargo xtask demo` and `cargo xtask bench`.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::args::{BenchOpts, ChaosOpts, ClusterOpts, Serialize, TestOpts, CLUSTER_STEPS};
use crate::cluster::{self, Cluster};
use crate::hog::CpuHog;
use crate::{chaos, gateway, install, lanes, sys};

/// Ports tried for the test cluster: namesrv `19876 + 100k`, broker `20911 + 100k`; a lane
/// of a parallel round tries only its share of them.
pub(crate) const TEST_PORT_TRIES: u16 = 2 * lanes::PORT_SETS_PER_LANE;

/// The lane this process runs (`test --lane N`), which picks its port sets.
static LANE: OnceLock<u8> = OnceLock::new();

/// Runs a command from the workspace root, echoing it first.
pub(crate) fn run(label: &str, mut cmd: Command) -> Result<(), String> {
    cmd.current_dir(sys::workspace_root());
    let shown = sys::shown(&cmd);
    println!("\nxtask: ==> [{label}] {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

pub(crate) fn cargo(args: &[&str]) -> Command {
    let mut c = sys::cargo();
    c.args(args);
    c
}

/// One finished step of `test`.
struct StepResult {
    name: String,
    took: Duration,
    outcome: Result<(), String>,
}

/// Collects step results and prints the summary.
#[derive(Default)]
struct Steps {
    done: Vec<StepResult>,
}

impl Steps {
    fn run(&mut self, name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let started = Instant::now();
        let outcome = f();
        let failed = outcome
            .as_ref()
            .err()
            .map(|e| format!("step `{name}` failed: {e}"));
        self.done.push(StepResult {
            name: name.to_owned(),
            took: started.elapsed(),
            outcome,
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs step `name` unless `opts` skips it.
    fn run_unless_skipped(
        &mut self,
        opts: &TestOpts,
        name: &str,
        f: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        if opts.runs(name) {
            self.run(name, f)
        } else {
            self.skipped(name);
            Ok(())
        }
    }

    /// Records a step run elsewhere (a lane).
    fn record(&mut self, name: &str, took: Duration, outcome: Result<(), String>) {
        self.done.push(StepResult {
            name: name.to_owned(),
            took,
            outcome,
        });
    }

    fn skipped(&mut self, name: &str) {
        self.done.push(StepResult {
            name: name.to_owned(),
            took: Duration::ZERO,
            outcome: Err("skipped (--skip)".into()),
        });
    }

    fn summary(&self, total: Duration) {
        println!("\nxtask: summary");
        for s in &self.done {
            let verdict = match &s.outcome {
                Ok(()) => "ok".to_owned(),
                // A lane skips every step of the other lane: only its own are news.
                Err(e) if e.starts_with("skipped") && LANE.get().is_some() => continue,
                Err(e) if e.starts_with("skipped") => "skipped".to_owned(),
                Err(_) => "FAILED".to_owned(),
            };
            println!("  {:<18} {:<8} {:>9.1?}", s.name, verdict, s.took);
        }
        println!("  {:<18} {:<8} {:>9.1?}", "total", "", total);
    }
}

/// `cargo xtask test`.
pub(crate) fn test(opts: &TestOpts) -> Result<(), String> {
    if let Some(lane) = opts.lane {
        let _ = LANE.set(lane);
    }
    let started = Instant::now();
    let mut steps = Steps::default();
    let result = test_steps(opts, &mut steps);
    steps.summary(started.elapsed());
    result
}

fn test_steps(opts: &TestOpts, steps: &mut Steps) -> Result<(), String> {
    let step = |steps: &mut Steps, name: &str, f: &mut dyn FnMut() -> Result<(), String>| {
        steps.run_unless_skipped(opts, name, f)
    };
    step(steps, "fmt", &mut || {
        run("fmt", cargo(&["fmt", "--all", "--check"]))
    })?;
    step(steps, "clippy", &mut || {
        run(
            "clippy",
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )
    })?;
    step(steps, "doc", &mut || {
        let mut c = cargo(&["doc", "--workspace", "--no-deps"]);
        c.env("RUSTDOCFLAGS", "-Dwarnings");
        run("doc", c)
    })?;
    step(steps, "unit", &mut || {
        run("unit", cargo(&["test", "--workspace"]))
    })?;
    // The fuzz targets live in their own workspace; their harness and seeds are tested here
    // so they keep compiling as the core changes (fuzzing itself needs cargo-fuzz).
    step(steps, "fuzz-harness", &mut || {
        run(
            "fuzz-harness",
            cargo(&["test", "--manifest-path", "fuzz/Cargo.toml", "--lib"]),
        )
    })?;

    if opts.lane.is_none() && CLUSTER_STEPS.iter().any(|s| opts.runs(s)) {
        steps.run("cluster-prepare", prepare_cluster_suite)?;
    }
    // The hog starts after the builds: it is there to slow the suites, not the compiler.
    // A lane runs beside the hog of the `test` that started it.
    let _hog = (opts.stress && opts.lane.is_none()).then(CpuHog::start);
    for round in 1..=opts.repeat {
        if opts.repeat > 1 {
            println!("xtask: real-cluster round {round} of {}", opts.repeat);
        }
        if opts.serial || opts.lane.is_some() {
            cluster_steps(opts, steps)?;
        } else {
            // Every lane is recorded; the first failure ends the rounds.
            let mut failed = Ok(());
            for lane in lanes::run_round(opts) {
                steps.record(&lane.name, lane.took, lane.outcome.clone());
                failed = failed.and(lane.outcome);
            }
            failed?;
        }
    }
    Ok(())
}

/// Runs the real-cluster steps `opts` keeps, one after the other, stopping at the first
/// failure.
fn cluster_steps(opts: &TestOpts, steps: &mut Steps) -> Result<(), String> {
    let step = |steps: &mut Steps, name: &str, f: &mut dyn FnMut() -> Result<(), String>| {
        steps.run_unless_skipped(opts, name, f)
    };
    step(steps, "cluster-json", &mut || {
        cluster_suite("cluster-json", Serialize::Json, opts.serial)
    })?;
    step(steps, "cluster-rocketmq", &mut || {
        cluster_suite("cluster-rocketmq", Serialize::RocketMq, opts.serial)
    })?;
    step(steps, "two-brokers", &mut two_broker_suite)?;
    step(steps, "acl", &mut acl_suite)?;
    step(steps, "tls", &mut tls_suite)?;
    step(steps, "nat", &mut nat_suite)?;
    step(steps, "gateway", &mut gateway::gateway_suite)?;
    step(steps, "chaos", &mut || chaos::chaos(&short_chaos()))?;
    Ok(())
}

/// The shortened chaos run of `cargo xtask test`: one runtime, a smaller topic, the dev
/// build, every loss and failure checked, resume times reported but not judged.
fn short_chaos() -> ChaosOpts {
    ChaosOpts {
        messages: 20_000,
        adapters: vec!["tokio".to_owned()],
        release: false,
        resume_limit: None,
    }
}

/// The user the ACL suite's broker authenticates.
const ACL_USER: (&str, &str) = ("rocketwire", "rw-acl-secret");

/// Starts a cluster whose broker authenticates every request, runs the ACL suite against
/// it, always stops it.
fn acl_suite() -> Result<(), String> {
    let mut cluster = test_cluster(Serialize::Json, |opts| {
        opts.auth = Some(format!("{}:{}", ACL_USER.0, ACL_USER.1));
    })?;
    let mut cmd = suite_command("acl", &cluster, Serialize::Json);
    cmd.env("ROCKETWIRE_ACL_USER", ACL_USER.0)
        .env("ROCKETWIRE_ACL_PASSWORD", ACL_USER.1);
    let mut result = run("acl", cmd);
    if result.is_ok() {
        // The gateway with the same credentials in its config.
        let mut gw = gateway::tests_command("acl", &cluster.namesrv_addr());
        gw.env("ROCKETWIRE_ACL_USER", ACL_USER.0)
            .env("ROCKETWIRE_ACL_PASSWORD", ACL_USER.1);
        result = run("acl-gateway", gw);
    }
    cluster.stop();
    result
}

/// Starts a cluster whose broker accepts only TLS, runs the TLS suite against it, always
/// stops it.
fn tls_suite() -> Result<(), String> {
    let mut cluster = test_cluster(Serialize::Json, |opts| opts.tls = true)?;
    let Some(ca) = cluster.tls_ca() else {
        cluster.stop();
        return Err("the TLS cluster has no CA file".into());
    };
    let mut cmd = suite_command("tls", &cluster, Serialize::Json);
    cmd.env("ROCKETWIRE_TLS_CA", &ca);
    let mut result = run("tls", cmd);
    if result.is_ok() {
        // The CLI's TLS flags against the same cluster.
        let mut cli = cli_tests("tls", &cluster, Serialize::Json);
        cli.env("ROCKETWIRE_TLS_CA", &ca);
        result = run("tls-cli", cli);
    }
    if result.is_ok() {
        // The gateway with the CA in its config.
        let mut gw = gateway::tests_command("tls", &cluster.namesrv_addr());
        gw.env("ROCKETWIRE_TLS_CA", &ca);
        result = run("tls-gateway", gw);
    }
    cluster.stop();
    result
}

/// The IP the NAT suite's broker registers and does not listen on.
const UNREACHABLE_BROKER_IP: &str = "127.0.0.2";

/// Starts a cluster whose broker registers an address clients cannot dial, runs the NAT
/// suite (broker address map) against it, always stops it.
fn nat_suite() -> Result<(), String> {
    let mut cluster = test_cluster(Serialize::Json, |opts| {
        opts.broker_ip = Some(UNREACHABLE_BROKER_IP.to_owned());
    })?;
    let registered = format!("{UNREACHABLE_BROKER_IP}:{}", cluster.state.broker_port);
    let mut cmd = suite_command("nat", &cluster, Serialize::Json);
    cmd.env("ROCKETWIRE_BROKER_REGISTERED", &registered);
    let result = run("nat", cmd);
    cluster.stop();
    result
}

/// Starts a cluster of two brokers, runs the two-broker suite against it, always stops it.
fn two_broker_suite() -> Result<(), String> {
    let mut cluster = test_cluster(Serialize::Json, |opts| opts.brokers = 2)?;
    let Some((broker_b, broker_b_pid)) = cluster.second_broker() else {
        cluster.stop();
        return Err("the two-broker cluster has no second broker".into());
    };
    let mut cmd = suite_command("two_brokers", &cluster, Serialize::Json);
    cmd.env("ROCKETWIRE_BROKER_B", broker_b)
        .env("ROCKETWIRE_BROKER_B_PID", broker_b_pid.to_string());
    let result = run("two-brokers", cmd);
    cluster.stop();
    result
}

/// Checks the suite exists, builds it, and installs the servers if needed (so neither
/// counts against a running cluster).
fn prepare_cluster_suite() -> Result<(), String> {
    let suite = sys::workspace_root()
        .join("tests")
        .join("tests")
        .join("cluster.rs");
    if !suite.is_file() {
        return Err(format!(
            "the real-cluster suite {} does not exist",
            Path::new("tests/tests/cluster.rs").display()
        ));
    }
    // One build per package, as the lanes run them: built together, the packages' features
    // would be unified, and each lane would build its crates again with its own.
    for build in [
        &[
            "test",
            "-p",
            "rocketwire-tests",
            "--test",
            "cluster",
            "--test",
            "two_brokers",
            "--test",
            "acl",
            "--test",
            "tls",
            "--test",
            "nat",
            "--no-run",
        ][..],
        &[
            "test",
            "-p",
            "rocketwire-cli",
            "--test",
            "cli",
            "--test",
            "tls",
            "--no-run",
        ],
        &[
            "test",
            "-p",
            "rocketwire-gateway",
            "--test",
            "cluster",
            "--no-run",
        ],
    ] {
        run("cluster-prepare", cargo(build))?;
    }
    run("cluster-prepare", cargo(&gateway::BUILD))?;
    run(
        "cluster-prepare",
        cargo(&["build", "-p", "rocketwire-examples", "--example", "embed"]),
    )?;
    let cache = install::cache_dir(&|k| std::env::var(k).ok())?;
    install::ensure_installed(&cache)?;
    Ok(())
}

/// `cargo test` of the real-cluster test binary `test` against `cluster`, every test one
/// after the other.
fn suite_command(test: &str, cluster: &Cluster, serialize: Serialize) -> Command {
    let mut cmd = cargo(&[
        "test",
        "-p",
        "rocketwire-tests",
        "--test",
        test,
        "--",
        "--include-ignored",
        "--test-threads=1",
    ]);
    cmd.env("ROCKETWIRE_NAMESRV", cluster.namesrv_addr())
        .env("ROCKETWIRE_BROKER", cluster.broker_addr())
        .env("ROCKETWIRE_SERIALIZE", serialize.name());
    cmd
}

/// `cargo test` of the CLI's end-to-end test `test` against `cluster`.
fn cli_tests(test: &str, cluster: &Cluster, serialize: Serialize) -> Command {
    let mut cli = cargo(&[
        "test",
        "-p",
        "rocketwire-cli",
        "--test",
        test,
        "--",
        "--include-ignored",
        "--test-threads=1",
    ]);
    cli.env("ROCKETWIRE_NAMESRV", cluster.namesrv_addr())
        .env("ROCKETWIRE_SERIALIZE", serialize.name());
    cli
}

/// The adapters of the first half of the real-cluster suite (test name prefixes); the
/// second half is every other test.
const FIRST_HALF: [&str; 2] = ["tokio_adapter::", "async_std_adapter::"];

/// Starts a cluster in `serialize` mode, runs the suite against it, always stops it. The
/// suite runs in two processes side by side on the one cluster (every scenario has its own
/// topics and groups, and none restarts a server), unless `serial`.
fn cluster_suite(label: &str, serialize: Serialize, serial: bool) -> Result<(), String> {
    let mut cluster = test_cluster(serialize, |_| {})?;
    let mut result = if serial {
        run(label, suite_command("cluster", &cluster, serialize))
    } else {
        let mut first = suite_command("cluster", &cluster, serialize);
        first.args(FIRST_HALF);
        let mut second = suite_command("cluster", &cluster, serialize);
        for adapter in FIRST_HALF {
            second.args(["--skip", adapter]);
        }
        lanes::run_side_by_side(vec![
            (format!("{label} tokio+async-std"), first),
            (format!("{label} smol+blocking"), second),
        ])
    };
    if result.is_ok() {
        // The CLI's end-to-end tests run against the same cluster.
        let cli = cli_tests("cli", &cluster, serialize);
        result = run(&format!("{label}-cli"), cli);
    }
    if result.is_ok() {
        // The embedding example drives the core with its own std loop, no adapter.
        let mut embed = cargo(&["run", "-p", "rocketwire-examples", "--example", "embed"]);
        embed.env("ROCKETWIRE_NAMESRV", cluster.namesrv_addr());
        result = run(&format!("{label}-embed"), embed);
    }
    cluster.stop();
    result
}

/// Starts a test cluster, `adjust`ed, on the first free non-default port set.
pub(crate) fn test_cluster(
    serialize: Serialize,
    adjust: impl Fn(&mut ClusterOpts),
) -> Result<Cluster, String> {
    let (first, tries) = match LANE.get() {
        Some(&lane) => (
            u16::from(lane - 1) * lanes::PORT_SETS_PER_LANE,
            lanes::PORT_SETS_PER_LANE,
        ),
        None => (0, TEST_PORT_TRIES),
    };
    cluster::up_on_free_ports(tries, "test cluster (19876+100k / 20911+100k)", |k| {
        let k = first + k;
        let mut opts = ClusterOpts {
            namesrv_port: 19876 + 100 * k,
            broker_port: 20911 + 100 * k,
            data_dir: None,
            serialize,
            brokers: 1,
            auth: None,
            tls: false,
            broker_ip: None,
        };
        adjust(&mut opts);
        opts
    })
}

/// `cargo xtask demo`.
pub(crate) fn demo(opts: &ClusterOpts) -> Result<(), String> {
    let root = sys::workspace_root();
    let examples = root.join("examples");
    let declared = std::fs::read_to_string(examples.join("Cargo.toml"))
        .is_ok_and(|t| t.lines().any(|l| l.replace(' ', "") == "name=\"demo\""));
    let exists = examples.join("examples").join("demo.rs").is_file()
        || examples
            .join("examples")
            .join("demo")
            .join("main.rs")
            .is_file()
        || declared;
    if !exists {
        return Err(
            "the demo example does not exist (expected examples/examples/demo.rs in rocketwire-examples)"
                .into(),
        );
    }
    let example = ["-p", "rocketwire-examples", "--example", "demo"];
    let mut build = cargo(&["build", "--release"]);
    build.args(example);
    run("demo-build", build)?;
    let mut cluster = cluster::up(opts, false)?;
    let mut cmd = cargo(&["run", "--release"]);
    cmd.args(example)
        .env("ROCKETWIRE_NAMESRV", cluster.namesrv_addr())
        .env("ROCKETWIRE_BROKER", cluster.broker_addr())
        .env("ROCKETWIRE_SERIALIZE", opts.serialize.name());
    let result = run("demo", cmd);
    cluster.stop();
    result
}

/// `cargo xtask bench` (and `soak`): builds the benchmarks in release, runs them against a
/// fresh cluster on the first free non-default port set, always stops the cluster.
pub(crate) fn bench(opts: &BenchOpts) -> Result<(), String> {
    let package = ["-p", "rocketwire-bench"];
    let mut build = cargo(&["build", "--release"]);
    build.args(package);
    run("bench-build", build)?;
    let mut cluster = test_cluster(Serialize::Json, |_| {})?;
    let mut cmd = cargo(&["run", "--release", "--quiet"]);
    cmd.args(package).arg("--");
    let report = crate::sys::target_dir().join("rocketwire-bench.json");
    if opts.soak_minutes.is_none() {
        cmd.arg("--report").arg(&report);
    }
    if let Some(n) = opts.messages {
        cmd.args(["--messages", &n.to_string()]);
    }
    if let Some(m) = opts.drain {
        cmd.args(["--drain", &m.to_string()]);
    }
    if let Some(r) = opts.rounds {
        cmd.args(["--rounds", &r.to_string()]);
    }
    if let Some(m) = opts.soak_minutes {
        cmd.args(["--soak-minutes", &m.to_string()]);
    }
    if let Some(r) = opts.soak_rate {
        cmd.args(["--soak-rate", &r.to_string()]);
    }
    cmd.env("ROCKETWIRE_NAMESRV", cluster.namesrv_addr())
        .env("ROCKETWIRE_SERIALIZE", Serialize::Json.name());
    let result = run("bench", cmd);
    cluster.stop();
    result
}

/// `cargo xtask sim --seeds N`: every random-fault simulation suite over seeds `0..N`, in a
/// release build (a debug build is several times slower), with the wall time of the run.
pub(crate) fn sim(seeds: u64) -> Result<(), String> {
    let started = Instant::now();
    let mut cmd = cargo(&[
        "test",
        "--release",
        "-p",
        "rocketwire-sim",
        "--test",
        "consumer_random_faults",
        "--test",
        "producer_random_faults",
        "--test",
        "pop_random_faults",
        "--test",
        "random_faults",
        "--test",
        "driver_shell",
        "--",
        "--nocapture",
    ]);
    cmd.env("ROCKETWIRE_SIM_SEEDS", format!("0..{seeds}"));
    run("sim", cmd)?;
    println!(
        "xtask: {seeds} seeds of every random-fault suite passed in {:.0?}",
        started.elapsed()
    );
    Ok(())
}
