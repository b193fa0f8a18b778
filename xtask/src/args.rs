//! Command-line parsing (std only).

use std::path::PathBuf;

/// Usage text printed by `cargo xtask help` and on argument errors.
pub(crate) const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  cluster up       start a local namesrv + broker and wait until ready
  cluster down     stop the cluster recorded for --namesrv-port (broker first)
  cluster status   show the recorded processes and whether the cluster is ready
  test             fmt, clippy, doc, unit tests, then the real-cluster suite in both
                   broker reply-encoding modes (JSON and ROCKETMQ), then the two-broker
                   suite on a cluster of two brokers
  demo             start a cluster, run the `demo` example against it, stop the cluster
  gateway          start a cluster (left running, as `cluster up`) and rocketwire-gateway
                   on port 50051 in the foreground until Ctrl-C
  bench            build the benchmarks in release, start a cluster on free non-default
                   ports, run them (producer throughput/latency, consumer drain, per
                   adapter), stop the cluster
  soak             start a cluster, and on each adapter produce and consume at a steady
                   rate for a long while: RSS must stay flat (within 10% once warmed up)
                   and open descriptors must not grow
  chaos            start a cluster on free ports (25876+/26911+) and, on each adapter,
                   drain a large topic and produce while the broker is killed with
                   SIGKILL and restarted, restarted with SIGTERM, and the namesrv
                   restarted: prints lost, duplicates, failed sends and the resume time
                   per restart; fails on a lost message or a failed send
  sim              the random-fault simulation suites (consumers, producers, remoting)
                   over seeds 0..N in a release build; no cluster needed
  help             this text

cluster/demo options (environment overrides in brackets):
  --namesrv-port N          namesrv port, default 9876        [ROCKETWIRE_NAMESRV_PORT]
  --broker-port N           broker listen port, default 10911 [ROCKETWIRE_BROKER_PORT]
                            (the broker also uses N-2 (VIP) and N+1 (HA))
  --data-dir DIR            data dir, default a fresh dir under
                            target/rocketwire-cluster/<namesrv-port>/  [ROCKETWIRE_CLUSTER_DATA_DIR]
  --serialize json|rocketmq server reply header encoding, default json
                                                              [ROCKETWIRE_CLUSTER_SERIALIZE]
  --auth USER:PASSWORD      brokers authenticate every request (ACL 2.0); USER is their
                            initial user
  --broker-ip IP            the IP brokers register (a loopback one, e.g. 127.0.0.2); they
                            still listen on 127.0.0.1: a broker clients cannot dial as
                            registered, as behind NAT
  --tls                     brokers accept only TLS, the namesrv TLS and plain TCP, with
                            a throwaway CA made at start (its PEM: <data-dir>/tls/ca.pem)
  --brokers 1|2             brokers in the cluster, default 1; the second one is named
                            rocketwire-broker-b and listens on broker-port+10
                                                              [ROCKETWIRE_CLUSTER_BROKERS]
test options:
  --skip STEP[,STEP...]     skip steps: fmt clippy doc unit fuzz-harness cluster-json
                            cluster-rocketmq two-brokers acl tls nat chaos
  --stress                  run the real-cluster steps beside a busy thread on every core
  --repeat N                run the real-cluster steps N times in a row (default 1),
                            stopping at the first failure
  --serial                  run the real-cluster steps and tests one after the other in
                            this process; by default they run in two lanes side by side,
                            each a child `test --lane N` on its own clusters and ports,
                            and each serialization suite as two processes
  --lane 1|2                (used by the lanes) run only this lane's steps, on its own
                            port sets, without building or starting the CPU hog
soak options:
  --minutes N               minutes per adapter (default 10)
  --rate R                  messages per second (default 200)
chaos options:
  --messages N              messages in the drained topic (default 300000)
  --adapters A[,A...]       adapters (default tokio,async-std,smol,blocking)
sim options:
  --seeds N                 how many seeds, 0..N (default 1000)
bench options:
  --messages N              messages per producer case with 1 in flight (default 4000;
                            cases with 64 in flight send 5/2 N)
  --drain M                 messages filled into a topic and drained per adapter
                            (default 100000; 0 skips the drain cases)
  --rounds R                rounds of the single-send cases, each wire floor run then
                            every adapter's, medians reported (default 3)

The server binaries are installed on first use with `cargo install` into
$ROCKETWIRE_CLUSTER_CACHE, default ${CARGO_HOME:-$HOME/.cargo}/rocketwire-cluster/1.0.0.
";

/// Seeds `cargo xtask sim` runs without `--seeds`.
pub(crate) const DEFAULT_SIM_SEEDS: u64 = 1000;

/// Default namesrv port.
pub(crate) const DEFAULT_NAMESRV_PORT: u16 = 9876;
/// Default broker listen port.
pub(crate) const DEFAULT_BROKER_PORT: u16 = 10911;

/// A parsed `cargo xtask` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `cluster up|down|status`.
    Cluster(ClusterAction, ClusterOpts),
    /// `test`.
    Test(TestOpts),
    /// `demo`.
    Demo(ClusterOpts),
    /// `gateway`: a cluster and the gRPC gateway in the foreground.
    Gateway(ClusterOpts),
    /// `bench`.
    Bench(BenchOpts),
    /// `soak`: the bench binary's soak (its `soak_minutes` is set).
    Soak(BenchOpts),
    /// `chaos`: servers killed and restarted under a consumer and a producer.
    Chaos(ChaosOpts),
    /// `sim --seeds N`: the random-fault simulation suites over seeds `0..N`, release build.
    Sim {
        /// How many seeds.
        seeds: u64,
    },
    /// `help`.
    Help,
}

/// What `cluster` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClusterAction {
    /// Start and wait until ready.
    Up,
    /// Stop the recorded processes.
    Down,
    /// Report processes and readiness.
    Status,
}

/// Server-wide reply header encoding (`ROCKETMQ_SERIALIZE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serialize {
    /// JSON headers (server default).
    Json,
    /// Binary ROCKETMQ headers.
    RocketMq,
}

impl Serialize {
    /// Value of `ROCKETMQ_SERIALIZE_TYPE` for the servers.
    pub(crate) fn server_env(self) -> &'static str {
        match self {
            Serialize::Json => "JSON",
            Serialize::RocketMq => "ROCKETMQ",
        }
    }

    /// Lower-case name, as accepted on the command line and passed to tests.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Serialize::Json => "json",
            Serialize::RocketMq => "rocketmq",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Serialize::Json),
            "rocketmq" => Ok(Serialize::RocketMq),
            other => Err(format!(
                "unknown serialize type `{other}` (expected json or rocketmq)"
            )),
        }
    }
}

/// Options of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterOpts {
    /// namesrv listen port.
    pub(crate) namesrv_port: u16,
    /// broker listen port; the broker also binds `broker_port - 2` and `broker_port + 1`.
    pub(crate) broker_port: u16,
    /// Data directory; `None` = a fresh directory under the target dir.
    pub(crate) data_dir: Option<PathBuf>,
    /// Reply header encoding of both servers.
    pub(crate) serialize: Serialize,
    /// Brokers in the cluster: 1, or 2 (a second broker of another name listening on
    /// [`ClusterOpts::second_broker_port`]).
    pub(crate) brokers: u8,
    /// ACL 2.0 authentication on the brokers, with this `USER:PASSWORD` as the initial
    /// (super) user; `None`: no authentication.
    pub(crate) auth: Option<String>,
    /// TLS: the namesrv accepts TLS and plain TCP (permissive), the brokers only TLS
    /// (enforcing), with a throwaway CA's certificate made at start.
    pub(crate) tls: bool,
    /// The IP the brokers register (`brokerIP1`) instead of `127.0.0.1`; they still listen
    /// on `127.0.0.1` only, so an address like `127.0.0.2` is one clients cannot dial (a
    /// broker behind NAT, for `--broker-addr-map`).
    pub(crate) broker_ip: Option<String>,
}

/// How far above the first broker's listen port the second one listens.
const SECOND_BROKER_OFFSET: u16 = 10;

impl ClusterOpts {
    /// Defaults, overridden by the environment (`env` looks a variable up).
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut opts = ClusterOpts {
            namesrv_port: DEFAULT_NAMESRV_PORT,
            broker_port: DEFAULT_BROKER_PORT,
            data_dir: None,
            serialize: Serialize::Json,
            brokers: 1,
            auth: None,
            tls: false,
            broker_ip: None,
        };
        if let Some(v) = env("ROCKETWIRE_NAMESRV_PORT") {
            opts.namesrv_port = parse_port("ROCKETWIRE_NAMESRV_PORT", &v)?;
        }
        if let Some(v) = env("ROCKETWIRE_BROKER_PORT") {
            opts.broker_port = parse_port("ROCKETWIRE_BROKER_PORT", &v)?;
        }
        if let Some(v) = env("ROCKETWIRE_CLUSTER_DATA_DIR") {
            if !v.is_empty() {
                opts.data_dir = Some(PathBuf::from(v));
            }
        }
        if let Some(v) = env("ROCKETWIRE_CLUSTER_SERIALIZE") {
            opts.serialize = Serialize::parse(&v)?;
        }
        if let Some(v) = env("ROCKETWIRE_CLUSTER_BROKERS") {
            opts.brokers = parse_brokers("ROCKETWIRE_CLUSTER_BROKERS", &v)?;
        }
        Ok(opts)
    }

    /// The second broker's listen port (it also binds port−2 and port+1).
    pub(crate) fn second_broker_port(&self) -> u16 {
        self.broker_port.saturating_add(SECOND_BROKER_OFFSET)
    }

    /// The listen ports of the brokers.
    pub(crate) fn broker_ports(&self) -> Vec<u16> {
        let mut ports = vec![self.broker_port];
        if self.brokers > 1 {
            ports.push(self.second_broker_port());
        }
        ports
    }

    /// The broker's VIP ("fast") port: listen port − 2.
    pub(crate) fn vip_port(&self) -> u16 {
        self.broker_port.saturating_sub(2)
    }

    /// The broker's HA port: listen port + 1.
    pub(crate) fn ha_port(&self) -> u16 {
        self.broker_port.saturating_add(1)
    }

    /// Every port the cluster listens on, with a label.
    pub(crate) fn ports(&self) -> Vec<(&'static str, u16)> {
        let mut ports = vec![
            ("namesrv", self.namesrv_port),
            ("broker", self.broker_port),
            ("broker VIP (listen-2)", self.vip_port()),
            ("broker HA (listen+1)", self.ha_port()),
        ];
        if self.brokers > 1 {
            let b = self.second_broker_port();
            ports.push(("second broker", b));
            ports.push(("second broker VIP (listen-2)", b.saturating_sub(2)));
            ports.push(("second broker HA (listen+1)", b.saturating_add(1)));
        }
        ports
    }

    /// Checks that the four ports are valid and distinct.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.namesrv_port == 0 {
            return Err("--namesrv-port must not be 0".into());
        }
        if self.broker_port < 3
            || self
                .broker_port
                .checked_add(SECOND_BROKER_OFFSET + 1)
                .is_none()
        {
            return Err(format!(
                "--broker-port {} is out of range: the broker also uses port-2 and port+1 (and a \
                 second broker port+10)",
                self.broker_port
            ));
        }
        let ports = self.ports();
        for (i, (a, pa)) in ports.iter().enumerate() {
            for (b, pb) in ports.iter().skip(i + 1) {
                if pa == pb {
                    return Err(format!("{a} port and {b} port are both {pa}"));
                }
            }
        }
        Ok(())
    }
}

/// Steps of `cargo xtask test` that `--skip` accepts.
pub(crate) const TEST_STEPS: [&str; 13] = [
    "fmt",
    "clippy",
    "doc",
    "unit",
    "fuzz-harness",
    "cluster-json",
    "cluster-rocketmq",
    "two-brokers",
    "acl",
    "tls",
    "nat",
    "gateway",
    "chaos",
];

/// The real-cluster steps of `cargo xtask test` (the ones `--repeat` repeats).
pub(crate) const CLUSTER_STEPS: &[&str] = TEST_STEPS.split_at(5).1;

/// Options of `cargo xtask test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestOpts {
    /// Steps to skip (names from [`TEST_STEPS`]).
    pub(crate) skip: Vec<String>,
    /// Run the real-cluster steps beside a busy thread on every core.
    pub(crate) stress: bool,
    /// How many times the real-cluster steps run (stopping at the first failure).
    pub(crate) repeat: u32,
    /// Run the real-cluster steps one after the other in this process, not in lanes.
    pub(crate) serial: bool,
    /// This process is lane N (1 or 2) of a parallel round, started by another `test`.
    pub(crate) lane: Option<u8>,
}

impl Default for TestOpts {
    fn default() -> Self {
        TestOpts {
            skip: Vec::new(),
            stress: false,
            repeat: 1,
            serial: false,
            lane: None,
        }
    }
}

impl TestOpts {
    /// Whether `step` runs.
    pub(crate) fn runs(&self, step: &str) -> bool {
        !self.skip.iter().any(|s| s == step)
    }
}

/// Options of `cargo xtask bench` (`None`: the bench's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BenchOpts {
    /// Messages per producer case with one send in flight.
    pub(crate) messages: Option<u64>,
    /// Messages filled into the drain topic and consumed per adapter.
    pub(crate) drain: Option<u64>,
    /// Rounds of the single-send producer cases.
    pub(crate) rounds: Option<u64>,
    /// Soak minutes per adapter (the soak replaces the other cases).
    pub(crate) soak_minutes: Option<u64>,
    /// Soak rate, messages per second.
    pub(crate) soak_rate: Option<u64>,
}

/// Every adapter, in table order.
const ADAPTERS: [&str; 4] = ["tokio", "async-std", "smol", "blocking"];

/// Options of `cargo xtask chaos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChaosOpts {
    /// Messages in the drained topic (and most sends of the producer).
    pub(crate) messages: u64,
    /// Adapters to run.
    pub(crate) adapters: Vec<String>,
    /// Build and run the bench in release mode (the figures); the test step uses the dev
    /// build it already has.
    pub(crate) release: bool,
    /// Longest resume after a broker restart that passes; `None`: resume times are reported
    /// only (the shortened run of `cargo xtask test`, where a loaded machine must not fail
    /// the suite: speed is checked by the real `cargo xtask chaos`).
    pub(crate) resume_limit: Option<std::time::Duration>,
}

impl Default for ChaosOpts {
    fn default() -> Self {
        ChaosOpts {
            messages: 300_000,
            adapters: ADAPTERS.map(str::to_owned).to_vec(),
            release: true,
            resume_limit: Some(std::time::Duration::from_secs(1)),
        }
    }
}

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut it = args.iter().map(String::as_str);
    match it.next() {
        None | Some("help" | "-h" | "--help") => Ok(Command::Help),
        Some("cluster") => {
            let action = match it.next() {
                Some("up") => ClusterAction::Up,
                Some("down") => ClusterAction::Down,
                Some("status") => ClusterAction::Status,
                Some(other) => {
                    return Err(format!("unknown cluster action `{other}` (up|down|status)"))
                }
                None => return Err("missing cluster action (up|down|status)".into()),
            };
            let rest: Vec<&str> = it.collect();
            Ok(Command::Cluster(action, parse_cluster_opts(&rest, env)?))
        }
        Some("demo") => {
            let rest: Vec<&str> = it.collect();
            Ok(Command::Demo(parse_cluster_opts(&rest, env)?))
        }
        Some("gateway") => {
            let rest: Vec<&str> = it.collect();
            Ok(Command::Gateway(parse_cluster_opts(&rest, env)?))
        }
        Some("test") => {
            let mut rest: Vec<&str> = it.collect();
            let mut opts = TestOpts::default();
            // `--stress` and `--serial` take no value.
            let mut switch = |name: &str| {
                let before = rest.len();
                rest.retain(|a| *a != name);
                rest.len() != before
            };
            opts.stress = switch("--stress");
            opts.serial = switch("--serial");
            let mut i = 0;
            while i < rest.len() {
                let (flag, value) = flag_value(&rest, &mut i)?;
                match flag {
                    "--repeat" => match value.trim().parse::<u32>() {
                        Ok(n) if n > 0 => opts.repeat = n,
                        _ => return Err(format!("--repeat: `{value}` is not a count above 0")),
                    },
                    "--lane" => match value.trim().parse::<u8>() {
                        Ok(n @ 1..=2) => opts.lane = Some(n),
                        _ => return Err(format!("--lane: `{value}` is not 1 or 2")),
                    },
                    "--skip" => {
                        for step in value.split(',').filter(|s| !s.is_empty()) {
                            if !TEST_STEPS.contains(&step) {
                                return Err(format!(
                                    "unknown test step `{step}` (one of: {})",
                                    TEST_STEPS.join(" ")
                                ));
                            }
                            opts.skip.push(step.to_owned());
                        }
                    }
                    other => return Err(format!("unknown option `{other}` for test")),
                }
            }
            Ok(Command::Test(opts))
        }
        Some("bench") => {
            let rest: Vec<&str> = it.collect();
            let mut opts = BenchOpts::default();
            let mut i = 0;
            while i < rest.len() {
                let (flag, value) = flag_value(&rest, &mut i)?;
                let count = || {
                    value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{flag}: `{value}` is not a count"))
                };
                match flag {
                    "--messages" => match count()? {
                        0 => return Err("--messages must be at least 1".into()),
                        n => opts.messages = Some(n),
                    },
                    "--drain" => opts.drain = Some(count()?),
                    "--rounds" => match count()? {
                        0 => return Err("--rounds must be at least 1".into()),
                        n => opts.rounds = Some(n),
                    },
                    other => return Err(format!("unknown option `{other}` for bench")),
                }
            }
            Ok(Command::Bench(opts))
        }
        Some("soak") => {
            let rest: Vec<&str> = it.collect();
            let mut opts = BenchOpts {
                soak_minutes: Some(10),
                ..BenchOpts::default()
            };
            let mut i = 0;
            while i < rest.len() {
                let (flag, value) = flag_value(&rest, &mut i)?;
                let count = match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("{flag}: `{value}` is not a count above 0")),
                };
                match flag {
                    "--minutes" => opts.soak_minutes = Some(count),
                    "--rate" => opts.soak_rate = Some(count),
                    other => return Err(format!("unknown option `{other}` for soak")),
                }
            }
            Ok(Command::Soak(opts))
        }
        Some("chaos") => {
            let rest: Vec<&str> = it.collect();
            let mut opts = ChaosOpts::default();
            let mut i = 0;
            while i < rest.len() {
                let (flag, value) = flag_value(&rest, &mut i)?;
                match flag {
                    "--messages" => match value.trim().parse::<u64>() {
                        Ok(n) if n > 0 => opts.messages = n,
                        _ => return Err(format!("--messages: `{value}` is not a count above 0")),
                    },
                    "--adapters" => {
                        opts.adapters = value
                            .split(',')
                            .filter(|a| !a.is_empty())
                            .map(|a| {
                                ADAPTERS.contains(&a).then(|| a.to_owned()).ok_or_else(|| {
                                    format!(
                                        "unknown adapter `{a}` (one of: {})",
                                        ADAPTERS.join(" ")
                                    )
                                })
                            })
                            .collect::<Result<_, _>>()?;
                    }
                    other => return Err(format!("unknown option `{other}` for chaos")),
                }
            }
            Ok(Command::Chaos(opts))
        }
        Some("sim") => {
            let rest: Vec<&str> = it.collect();
            let mut seeds = DEFAULT_SIM_SEEDS;
            let mut i = 0;
            while i < rest.len() {
                let (flag, value) = flag_value(&rest, &mut i)?;
                match flag {
                    "--seeds" => match value.trim().parse::<u64>() {
                        Ok(n) if n > 0 => seeds = n,
                        _ => return Err(format!("--seeds: `{value}` is not a count above 0")),
                    },
                    other => return Err(format!("unknown option `{other}` for sim")),
                }
            }
            Ok(Command::Sim { seeds })
        }
        Some(other) => Err(format!("unknown task `{other}`")),
    }
}

fn parse_cluster_opts(
    args: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClusterOpts, String> {
    let mut opts = ClusterOpts::from_env(env)?;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--tls" {
            opts.tls = true;
            i += 1;
            continue;
        }
        let (flag, value) = flag_value(args, &mut i)?;
        match flag {
            "--namesrv-port" => opts.namesrv_port = parse_port(flag, value)?,
            "--broker-port" => opts.broker_port = parse_port(flag, value)?,
            "--data-dir" => opts.data_dir = Some(PathBuf::from(value)),
            "--serialize" => opts.serialize = Serialize::parse(value)?,
            "--brokers" => opts.brokers = parse_brokers(flag, value)?,
            "--broker-ip" => match value.parse::<std::net::Ipv4Addr>() {
                Ok(ip) if ip.is_loopback() => opts.broker_ip = Some(value.to_owned()),
                _ => {
                    return Err(format!(
                        "--broker-ip: `{value}` is not a loopback IPv4 address"
                    ))
                }
            },
            "--auth" => match value.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    opts.auth = Some(value.to_owned())
                }
                _ => return Err(format!("--auth: `{value}` is not USER:PASSWORD")),
            },
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    opts.validate()?;
    Ok(opts)
}

/// Reads `--flag value` or `--flag=value` at `args[*i]` and advances `i`.
fn flag_value<'a>(args: &[&'a str], i: &mut usize) -> Result<(&'a str, &'a str), String> {
    let arg = args.get(*i).copied().unwrap_or_default();
    *i += 1;
    if !arg.starts_with("--") {
        return Err(format!("unexpected argument `{arg}`"));
    }
    if let Some((flag, value)) = arg.split_once('=') {
        return Ok((flag, value));
    }
    let value = args
        .get(*i)
        .copied()
        .ok_or_else(|| format!("option `{arg}` needs a value"))?;
    *i += 1;
    Ok((arg, value))
}

fn parse_brokers(what: &str, value: &str) -> Result<u8, String> {
    match value.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(format!("{what}: `{value}` is not a broker count (1 or 2)")),
    }
}

fn parse_port(what: &str, value: &str) -> Result<u16, String> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what}: `{value}` is not a port number (1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn soak_defaults_and_options() {
        let Command::Soak(opts) = parse(&args("soak"), &no_env).unwrap() else {
            panic!("not a soak command");
        };
        assert_eq!((opts.soak_minutes, opts.soak_rate), (Some(10), None));
        let Command::Soak(opts) = parse(&args("soak --minutes 1 --rate 50"), &no_env).unwrap()
        else {
            panic!("not a soak command");
        };
        assert_eq!((opts.soak_minutes, opts.soak_rate), (Some(1), Some(50)));
        assert!(parse(&args("soak --minutes 0"), &no_env).is_err());
    }

    #[test]
    fn test_stress_and_repeat() {
        let Command::Test(opts) =
            parse(&args("test --stress --repeat 10 --skip fmt"), &no_env).unwrap()
        else {
            panic!("not a test command");
        };
        assert!(opts.stress);
        assert_eq!(opts.repeat, 10);
        assert!(!opts.runs("fmt") && opts.runs("cluster-json"));
        let Command::Test(plain) = parse(&args("test"), &no_env).unwrap() else {
            panic!("not a test command");
        };
        assert_eq!(plain, TestOpts::default());
        assert!(!plain.stress && plain.repeat == 1);
        assert!(!plain.serial && plain.lane.is_none());
        assert!(parse(&args("test --repeat 0"), &no_env).is_err());
        let Command::Test(lane) = parse(&args("test --serial --lane 2"), &no_env).unwrap() else {
            panic!("not a test command");
        };
        assert!(lane.serial && lane.lane == Some(2));
        assert!(parse(&args("test --lane 3"), &no_env).is_err());
    }

    #[test]
    fn cluster_up_defaults() {
        let cmd = parse(&args("cluster up"), &no_env).unwrap();
        let Command::Cluster(ClusterAction::Up, opts) = cmd else {
            panic!("wrong command {cmd:?}");
        };
        assert_eq!(opts.namesrv_port, 9876);
        assert_eq!(opts.broker_port, 10911);
        assert_eq!(opts.vip_port(), 10909);
        assert_eq!(opts.ha_port(), 10912);
        assert_eq!(opts.serialize, Serialize::Json);
        assert_eq!(opts.data_dir, None);
    }

    #[test]
    fn cluster_options_both_syntaxes() {
        let cmd = parse(
            &args("cluster down --namesrv-port 19876 --broker-port=20911 --serialize ROCKETMQ --data-dir d"),
            &no_env,
        )
        .unwrap();
        let expected = ClusterOpts {
            namesrv_port: 19876,
            broker_port: 20911,
            data_dir: Some(PathBuf::from("d")),
            serialize: Serialize::RocketMq,
            brokers: 1,
            auth: None,
            tls: false,
            broker_ip: None,
        };
        assert_eq!(cmd, Command::Cluster(ClusterAction::Down, expected));
        let Command::Cluster(_, nat) =
            parse(&args("cluster up --broker-ip 127.0.0.2"), &no_env).unwrap()
        else {
            panic!("not a cluster command");
        };
        assert_eq!(nat.broker_ip.as_deref(), Some("127.0.0.2"));
        assert!(parse(&args("cluster up --broker-ip 10.0.0.5"), &no_env).is_err());
        let Command::Cluster(_, tls) =
            parse(&args("cluster up --tls --brokers 2"), &no_env).unwrap()
        else {
            panic!("not a cluster command");
        };
        assert!(tls.tls);
        assert_eq!(tls.brokers, 2);
        let Command::Cluster(_, two) = parse(&args("cluster up --brokers 2"), &no_env).unwrap()
        else {
            panic!("not a cluster command");
        };
        assert_eq!(two.broker_ports(), vec![10911, 10921]);
        assert_eq!(two.ports().len(), 7);
        assert!(parse(&args("cluster up --brokers 3"), &no_env).is_err());
    }

    #[test]
    fn env_overrides_and_flags_win() {
        let env = |k: &str| match k {
            "ROCKETWIRE_NAMESRV_PORT" => Some("1000".to_owned()),
            "ROCKETWIRE_BROKER_PORT" => Some("2000".to_owned()),
            "ROCKETWIRE_CLUSTER_SERIALIZE" => Some("rocketmq".to_owned()),
            _ => None,
        };
        let Command::Demo(opts) = parse(&args("demo --broker-port 3000"), &env).unwrap() else {
            panic!("not demo");
        };
        assert_eq!((opts.namesrv_port, opts.broker_port), (1000, 3000));
        assert_eq!(opts.serialize, Serialize::RocketMq);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&args("cluster"), &no_env).is_err());
        assert!(parse(&args("cluster sideways"), &no_env).is_err());
        assert!(parse(&args("cluster up --namesrv-port"), &no_env).is_err());
        assert!(parse(&args("cluster up --namesrv-port 70000"), &no_env).is_err());
        assert!(parse(&args("cluster up --serialize xml"), &no_env).is_err());
        assert!(parse(&args("cluster up --bogus 1"), &no_env).is_err());
        assert!(parse(&args("cluster up stray"), &no_env).is_err());
        assert!(parse(&args("frobnicate"), &no_env).is_err());
        assert!(parse(&args("test --skip nope"), &no_env).is_err());
    }

    #[test]
    fn rejects_colliding_ports() {
        // HA port of 9875 is 9876 = namesrv port.
        let err = parse(&args("cluster up --broker-port 9875"), &no_env).unwrap_err();
        assert!(err.contains("9876"), "{err}");
        assert!(parse(&args("cluster up --broker-port 2"), &no_env).is_err());
        assert!(parse(&args("cluster up --broker-port 65535"), &no_env).is_err());
    }

    #[test]
    fn test_skip_list() {
        let Command::Test(opts) =
            parse(&args("test --skip fmt,clippy --skip doc"), &no_env).unwrap()
        else {
            panic!("not test");
        };
        assert!(!opts.runs("fmt") && !opts.runs("clippy") && !opts.runs("doc"));
        assert!(opts.runs("unit") && opts.runs("cluster-json"));
    }

    #[test]
    fn sim_options() {
        assert_eq!(
            parse(&args("sim"), &no_env).unwrap(),
            Command::Sim {
                seeds: DEFAULT_SIM_SEEDS
            }
        );
        assert_eq!(
            parse(&args("sim --seeds 10000"), &no_env).unwrap(),
            Command::Sim { seeds: 10_000 }
        );
        assert!(parse(&args("sim --seeds 0"), &no_env).is_err());
        assert!(parse(&args("sim --bogus 1"), &no_env).is_err());
    }

    #[test]
    fn bench_options() {
        assert_eq!(
            parse(&args("bench"), &no_env).unwrap(),
            Command::Bench(BenchOpts::default())
        );
        assert_eq!(
            parse(&args("bench --messages 300 --drain=0 --rounds 5"), &no_env).unwrap(),
            Command::Bench(BenchOpts {
                messages: Some(300),
                drain: Some(0),
                rounds: Some(5),
                ..BenchOpts::default()
            })
        );
        assert!(parse(&args("bench --rounds 0"), &no_env).is_err());
        assert!(parse(&args("bench --messages 0"), &no_env).is_err());
        assert!(parse(&args("bench --messages lots"), &no_env).is_err());
        assert!(parse(&args("bench --drain"), &no_env).is_err());
        assert!(parse(&args("bench --namesrv-port 1"), &no_env).is_err());
    }

    #[test]
    fn chaos_options() {
        assert_eq!(
            parse(&args("chaos"), &no_env).unwrap(),
            Command::Chaos(ChaosOpts::default())
        );
        let Command::Chaos(opts) = parse(
            &args("chaos --messages 5000 --adapters tokio,smol"),
            &no_env,
        )
        .unwrap() else {
            panic!("not a chaos command");
        };
        assert_eq!(opts.messages, 5000);
        assert_eq!(opts.adapters, vec!["tokio", "smol"]);
        assert!(parse(&args("chaos --adapters tokyo"), &no_env).is_err());
        assert!(parse(&args("chaos --messages 0"), &no_env).is_err());
    }

    #[test]
    fn help() {
        assert_eq!(parse(&[], &no_env).unwrap(), Command::Help);
        assert_eq!(parse(&args("--help"), &no_env).unwrap(), Command::Help);
    }
}
