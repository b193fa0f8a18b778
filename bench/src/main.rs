//! rocketwire benchmarks against a real cluster (`cargo xtask bench` starts one and runs this).
//!
//! * Producer throughput: 1 KiB messages with 1 and with 64 sends in flight, per adapter:
//!   msgs/s, p50/p99 send latency, client CPU time per message.
//! * Consumer drain: a topic filled with `--drain` messages, consumed by a push consumer per
//!   adapter: msgs/s, client CPU time per message, peak RSS; first the puller floor, a
//!   pipelined puller from the core's codec alone, and every drain figure as a share of it.
//! * Born-to-consume latency: a push consumer and a producer of one client; `N` messages sent
//!   at a steady rate, each stamped with its send instant: p50/p99/p999/max of send to
//!   handler, per adapter.
//! * Soak (`--soak-minutes N`, instead of the above): one client per adapter produces at a
//!   steady rate and consumes for N minutes; its RSS must stay within 10% of the warmed-up
//!   value and its open descriptors must not grow (`cargo xtask soak`).
//!
//! Every case runs in its own process (this binary, re-executed with `--case`), so CPU time
//! and peak RSS belong to that case alone. CPU time is the process's user + system time
//! (`getrusage`), so it includes every client thread.

mod adapter;
mod chaos;
mod drain;
mod floor;
mod idle;
mod latency;
mod measure;
mod produce;
mod pull_floor;
mod report;
mod setup;
mod soak;
mod socket;

use std::io::Read as _;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rocketwire_core::SerializeType;

use adapter::{Adapter, Target};
use drain::DrainCase;
use idle::IdleCase;
use latency::LatencyCase;
use produce::ProduceCase;
use report::{DrainResult, IdleResult, LatencyResult, ProduceResult};
use soak::{SoakCase, SoakResult};

/// Longest a case process may run before it is killed.
const CASE_LIMIT: Duration = Duration::from_secs(600);

/// Header encoding of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Serialize {
    /// JSON headers.
    Json,
    /// Binary ROCKETMQ headers.
    Rocketmq,
}

/// What a re-executed process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CaseKind {
    /// One producer case.
    Produce,
    /// Fill the drain topic.
    Fill,
    /// One drain case.
    Drain,
    /// One soak run.
    Soak,
    /// One idle push consumer, its wake-ups counted.
    Idle,
    /// The wire floor: a pipelined sender from the codec alone.
    Wire,
    /// The puller floor: a pipelined puller of the drain topic from the codec alone.
    PullFloor,
    /// One born-to-consume latency case.
    Latency,
    /// Fill a topic with indexed messages and drain it while `cargo xtask chaos` restarts
    /// the servers.
    ChaosConsume,
    /// Send indexed messages while `cargo xtask chaos` restarts the servers, then read
    /// them back.
    ChaosProduce,
}

/// rocketwire benchmarks: producer throughput/latency, consumer drain and born-to-consume
/// latency, per adapter.
#[derive(Debug, Parser)]
#[command(name = "rocketwire-bench")]
struct Args {
    /// The cluster's namesrv.
    #[arg(long, env = "ROCKETWIRE_NAMESRV", default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// Request header encoding.
    #[arg(long, env = "ROCKETWIRE_SERIALIZE", value_enum, default_value = "json")]
    serialize: Serialize,
    /// Messages per producer case with 1 in flight.
    #[arg(long, default_value_t = 4_000)]
    messages: u64,
    /// Messages per producer case with more than 1 in flight (default: 5/2 × --messages).
    #[arg(long)]
    pipelined_messages: Option<u64>,
    /// In-flight counts of the producer cases.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    in_flight: Vec<usize>,
    /// In-flight counts measured with auto-batching, and without it for the ratio (the
    /// option with no value: none).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "256")]
    auto_batch_in_flight: Vec<usize>,
    /// Rounds of the single-send producer cases: each round runs the wire floor and then
    /// every adapter at an in-flight count (the adapters' order turned by one each round),
    /// and the tables show each case's median round, measured beside the floor's.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Messages filled into the drain topic and consumed by the pull floor, then per adapter
    /// (0 = no drain cases).
    #[arg(long, default_value_t = 100_000)]
    drain: u64,
    /// Time limit of one drain, seconds.
    #[arg(long, default_value_t = 180)]
    drain_timeout: u64,
    /// Adapters to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tokio,async-std,smol,blocking"
    )]
    adapters: Vec<String>,
    /// Skip the producer cases.
    #[arg(long)]
    no_produce: bool,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Seconds an idle push consumer (4 queues, empty topic) is watched per adapter, its
    /// wake-ups counted (0: no idle cases).
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
    /// Messages of the born-to-consume latency case per adapter: a push consumer and a
    /// producer of one client, each message stamped with its send instant (0: no latency
    /// cases).
    #[arg(long, default_value_t = 2_000)]
    latency_messages: u64,
    /// Messages per second of the latency case.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    latency_rate: u64,
    /// Soak for this many minutes per adapter instead of the other cases (0: no soak).
    #[arg(long, default_value_t = 0)]
    soak_minutes: u64,
    /// Messages per second of the soak.
    #[arg(long, default_value_t = 200)]
    soak_rate: u64,

    /// (internal) Run one case in this process and print its result line.
    #[arg(long, value_enum, hide = true)]
    case: Option<CaseKind>,
    /// (internal) The case's adapter.
    #[arg(long, hide = true, default_value = "tokio")]
    adapter: String,
    /// (internal) The case's topic.
    #[arg(long, hide = true, default_value = "")]
    topic: String,
    /// (internal) The case's message count.
    #[arg(long, hide = true, default_value_t = 0)]
    count: u64,
    /// (internal) The case's in-flight count.
    #[arg(long, hide = true, default_value_t = 1)]
    case_in_flight: usize,
    /// (internal) The case's producer auto-batches.
    #[arg(long, hide = true)]
    case_auto_batch: bool,
    /// (internal) Sends per second of the chaos producer.
    #[arg(long, hide = true, default_value_t = 2_000)]
    chaos_rate: u64,
    /// (internal) `send_timeout` of the chaos producer, seconds.
    #[arg(long, hide = true, default_value_t = 30)]
    send_timeout: u64,
    /// (internal) Brokers the chaos producer creates its topic on first (comma-separated
    /// addresses); empty: the topic is auto-created.
    #[arg(long, hide = true, value_delimiter = ',')]
    create_on: Vec<String>,
}

impl Args {
    fn target(&self) -> Target {
        Target {
            namesrv: self.namesrv.clone(),
            serialize: match self.serialize {
                Serialize::Json => SerializeType::Json,
                Serialize::Rocketmq => SerializeType::RocketMq,
            },
        }
    }

    fn serialize_name(&self) -> &'static str {
        match self.serialize {
            Serialize::Json => "json",
            Serialize::Rocketmq => "rocketmq",
        }
    }
}

fn main() -> ExitCode {
    // The client's log on stderr, only when asked for (`RUST_LOG=rocketwire_core=debug`).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let args = Args::parse();
    let result = match args.case {
        Some(kind) => run_case(&args, kind),
        None => run_all(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rocketwire-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// In a case process: runs one case, prints its result line.
fn run_case(args: &Args, kind: CaseKind) -> Result<(), String> {
    let adapter: Adapter = args.adapter.parse()?;
    let target = args.target();
    match kind {
        CaseKind::Produce => {
            let case = ProduceCase {
                target,
                topic: args.topic.clone(),
                messages: args.count,
                in_flight: args.case_in_flight.max(1),
                auto_batch: args.case_auto_batch,
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
        CaseKind::Fill => {
            let stored = drain::prepare(&target, &args.topic, args.count)?;
            println!("{} kind=fill stored={stored}", report::RESULT_PREFIX);
        }
        CaseKind::Drain => {
            let case = DrainCase {
                target,
                topic: args.topic.clone(),
                messages: args.count,
                timeout: Duration::from_secs(args.drain_timeout),
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
        CaseKind::Wire => {
            let result = floor::run(&target, &args.topic, args.count, args.case_in_flight)?;
            println!("{}", result.to_line());
        }
        CaseKind::PullFloor => {
            let timeout = Duration::from_secs(args.drain_timeout);
            let result = pull_floor::run(&target, &args.topic, args.count, timeout)?;
            println!("{}", result.to_line());
        }
        CaseKind::Latency => {
            let case = LatencyCase {
                target,
                topic: args.topic.clone(),
                messages: args.count,
                rate: args.latency_rate,
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
        CaseKind::Idle => {
            let case = IdleCase {
                target,
                topic: args.topic.clone(),
                span: Duration::from_secs(args.count),
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
        CaseKind::Soak => {
            let case = SoakCase {
                target,
                topic: args.topic.clone(),
                rate: args.soak_rate,
                duration: Duration::from_secs(args.count),
                every: Duration::from_secs(10).min(Duration::from_secs(args.count.max(5) / 5)),
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
        CaseKind::ChaosConsume => {
            let control = chaos::Control::from_stdin();
            chaos::fill(&target, &args.topic, args.count)?;
            let case = chaos::ConsumeCase {
                target,
                topic: args.topic.clone(),
                messages: args.count,
                timeout: Duration::from_secs(args.drain_timeout),
                control,
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
        CaseKind::ChaosProduce => {
            let case = chaos::ProduceCase {
                target,
                topic: args.topic.clone(),
                limit: args.count,
                in_flight: args.case_in_flight.max(1),
                rate: args.chaos_rate,
                send_timeout: Duration::from_secs(args.send_timeout),
                create_on: args.create_on.clone(),
                control: chaos::Control::from_stdin(),
            };
            println!("{}", adapter::run_case(adapter, &case)?.to_line());
        }
    }
    Ok(())
}

/// Runs this binary with `case_args` as a case process; returns its result fields.
fn spawn_case(
    args: &Args,
    case_args: &[String],
) -> Result<std::collections::BTreeMap<String, String>, String> {
    spawn_case_within(args, case_args, CASE_LIMIT)
}

/// [`spawn_case`] with another time limit.
fn spawn_case_within(
    args: &Args,
    case_args: &[String],
    limit: Duration,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut child = Command::new(exe)
        .args([
            "--namesrv",
            &args.namesrv,
            "--serialize",
            args.serialize_name(),
        ])
        .args(["--drain-timeout", &args.drain_timeout.to_string()])
        .args(["--soak-rate", &args.soak_rate.to_string()])
        .args(case_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start a case process: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout of the case process")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let give_up = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("case did not finish within {limit:?}"));
            }
            Err(e) => return Err(format!("waiting for the case process: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("case process failed ({status})"));
    }
    report::parse_fields(&out).ok_or_else(|| "case process printed no result".to_owned())
}

/// Runs one producer case of `kind` (`produce` or `wire`) with `extra` arguments on a fresh
/// topic in its own process.
fn produce_case(
    args: &Args,
    kind: &str,
    extra: &[&str],
    n: u64,
    in_flight: usize,
) -> Result<ProduceResult, String> {
    let topic = adapter::unique(&format!("rw_bench_{kind}"));
    let in_flight = in_flight.to_string();
    let mut case = case_args(kind, None, &topic, n, &["--case-in-flight", &in_flight]);
    case.extend(extra.iter().map(|s| (*s).to_owned()));
    spawn_case(args, &case).and_then(|f| ProduceResult::from_fields(&f))
}

/// The arguments of a `kind` case process (of `adapter`, if given) on `topic` with `count`,
/// then `extra`.
fn case_args(
    kind: &str,
    adapter: Option<Adapter>,
    topic: &str,
    count: u64,
    extra: &[&str],
) -> Vec<String> {
    let count = count.to_string();
    let mut case = vec!["--case", kind];
    if let Some(adapter) = adapter {
        case.extend(["--adapter", adapter.name()]);
    }
    case.extend(["--topic", topic, "--count", &count]);
    case.extend(extra);
    case.into_iter().map(str::to_owned).collect()
}

/// Runs the case process of `case` (within `limit`) and parses its figures with `parse`; a
/// failure becomes the row of `name` with its error.
fn case_row<T>(
    args: &Args,
    case: &[String],
    limit: Duration,
    name: &str,
    parse: impl FnOnce(&std::collections::BTreeMap<String, String>) -> Result<T, String>,
) -> Result<T, (String, String)> {
    spawn_case_within(args, case, limit)
        .and_then(|f| parse(&f))
        .map_err(|e| (name.to_owned(), e))
}

/// A producer row: its figures, or the adapter, in-flight count and error of a failed case.
type ProduceRow = Result<ProduceResult, (String, u64, String)>;

/// The producer cases: at every in-flight count, `--rounds` rounds of the wire floor and
/// then each adapter's single sends (the adapters' order turned by one each round, so none
/// always runs next to the floor), each case's median round kept; then auto-batching once
/// per adapter. Rows: the floors, then each adapter's.
fn produce_all(args: &Args, adapters: &[Adapter], pipelined: u64) -> Vec<ProduceRow> {
    let mut single: Vec<usize> = args
        .in_flight
        .iter()
        .chain(&args.auto_batch_in_flight)
        .copied()
        .collect();
    single.sort_unstable();
    single.dedup();
    let count = |in_flight: usize| {
        if in_flight <= 1 {
            args.messages
        } else {
            pipelined
        }
    };
    let rounds = args.rounds as usize;
    let mut floors = Vec::new();
    let mut singles: Vec<Vec<ProduceRow>> = vec![Vec::new(); adapters.len()];
    for &in_flight in &single {
        let n = count(in_flight);
        let mut floor_runs = Vec::new();
        let mut runs: Vec<Vec<Result<ProduceResult, String>>> = vec![Vec::new(); adapters.len()];
        let progress = |round: usize, what: &str| {
            eprintln!(
                "rocketwire-bench: round {}/{rounds}, {n} × 1 KiB, {in_flight} in flight: {what}",
                round + 1
            );
        };
        for round in 0..rounds {
            progress(round, "wire floor");
            floor_runs.push(produce_case(args, "wire", &[], n, in_flight));
            for k in 0..adapters.len() {
                let i = (k + round) % adapters.len();
                let adapter = adapters[i];
                progress(round, adapter.name());
                let extra = ["--adapter", adapter.name()];
                runs[i].push(produce_case(args, "produce", &extra, n, in_flight));
            }
        }
        let rates = |runs: &[Result<ProduceResult, String>]| {
            runs.iter()
                .map(|r| {
                    r.as_ref()
                        .map_or("failed".to_owned(), |r| format!("{:.0}", r.per_sec()))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!(
            "rocketwire-bench: {in_flight} in flight, msgs/s by round: wire {}{}",
            rates(&floor_runs),
            adapters
                .iter()
                .zip(&runs)
                .map(|(a, r)| format!("; {} {}", a.name(), rates(r)))
                .collect::<String>()
        );
        floors.push(
            report::median_run(floor_runs).map_err(|e| ("wire".to_owned(), in_flight as u64, e)),
        );
        for (i, runs) in runs.into_iter().enumerate() {
            let name = adapters[i].name().to_owned();
            singles[i].push(report::median_run(runs).map_err(|e| (name, in_flight as u64, e)));
        }
    }
    let mut rows = floors;
    for (i, &adapter) in adapters.iter().enumerate() {
        rows.append(&mut singles[i]);
        for &in_flight in &args.auto_batch_in_flight {
            let n = count(in_flight);
            eprintln!(
                "rocketwire-bench: produce {n} × 1 KiB, {in_flight} in flight, auto-batch, {}",
                adapter.name()
            );
            let extra = ["--adapter", adapter.name(), "--case-auto-batch"];
            rows.push(
                produce_case(args, "produce", &extra, n, in_flight)
                    .map_err(|e| (adapter.name().to_owned(), in_flight as u64, e)),
            );
        }
    }
    rows
}

fn run_all(args: &Args) -> Result<(), String> {
    let adapters = args
        .adapters
        .iter()
        .map(|a| a.parse())
        .collect::<Result<Vec<Adapter>, String>>()?;
    if args.soak_minutes > 0 {
        return soak_all(args, &adapters);
    }
    let pipelined = args
        .pipelined_messages
        .unwrap_or(args.messages.saturating_mul(5) / 2);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "rocketwire-bench: namesrv {} ({} headers), {cores} cores, load average {}",
        args.namesrv,
        args.serialize_name(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "rocketwire-bench: client and cluster share this machine; every case runs in its own \
         process; CPU = client process user+sys time"
    );

    let produce_rows = if args.no_produce {
        Vec::new()
    } else {
        produce_all(args, &adapters, pipelined)
    };

    let mut drain_rows = Vec::new();
    let mut stored = 0;
    if args.drain > 0 {
        let topic = adapter::unique("rw_bench_drain");
        eprintln!(
            "rocketwire-bench: filling {topic} with {} × 1 KiB",
            args.drain
        );
        let fields = spawn_case(args, &case_args("fill", None, &topic, args.drain, &[]))?;
        stored = fields
            .get("stored")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("the fill case reported no count")?;
        eprintln!("rocketwire-bench: pull floor {stored} × 1 KiB");
        let case = case_args("pull-floor", None, &topic, stored, &[]);
        drain_rows.push(case_row(
            args,
            &case,
            CASE_LIMIT,
            "wire",
            DrainResult::from_fields,
        ));
        for &adapter in &adapters {
            eprintln!(
                "rocketwire-bench: drain {stored} × 1 KiB, {}",
                adapter.name()
            );
            let case = case_args("drain", Some(adapter), &topic, stored, &[]);
            drain_rows.push(case_row(
                args,
                &case,
                CASE_LIMIT,
                adapter.name(),
                DrainResult::from_fields,
            ));
        }
    }

    let latency_rows = if args.latency_messages > 0 {
        latency_all(args, &adapters)
    } else {
        Vec::new()
    };

    let mut idle_rows = Vec::new();
    if args.idle_seconds > 0 {
        for &adapter in &adapters {
            eprintln!(
                "rocketwire-bench: idle push consumer for {} s, {}",
                args.idle_seconds,
                adapter.name()
            );
            let topic = adapter::unique("rw_bench_idle");
            let case = case_args("idle", Some(adapter), &topic, args.idle_seconds, &[]);
            idle_rows.push(case_row(
                args,
                &case,
                CASE_LIMIT,
                adapter.name(),
                IdleResult::from_fields,
            ));
        }
    }

    if !produce_rows.is_empty() {
        println!(
            "\nProducer throughput (1 KiB messages; latency = send to result; single sends: \
             the median of {} rounds, each the wire floor and then every adapter)",
            args.rounds
        );
        print!("{}", report::produce_table(&produce_rows));
        print!("{}", report::floor_ratios(&produce_rows));
        print!("{}", report::auto_batch_ratios(&produce_rows));
    }
    if !drain_rows.is_empty() {
        println!(
            "\nConsumer drain ({stored} × 1 KiB from the first offset, fresh group, default \
             push-consumer settings; times from consumer start; wire = the pull floor, one \
             pull of 32 in flight per queue on one socket, times from its first pull)"
        );
        print!("{}", report::drain_table(&drain_rows));
        print!("{}", report::drain_floor_ratios(&drain_rows));
    }
    if !latency_rows.is_empty() {
        println!(
            "\nBorn-to-consume latency ({} × 1 KiB at {} msg/s, fresh group and topic of 4 \
             queues; send instant to the push consumer's handler, same process)",
            args.latency_messages, args.latency_rate
        );
        print!("{}", report::latency_table(&latency_rows));
    }
    if !idle_rows.is_empty() {
        println!(
            "\nIdle push consumer (4 queues, empty topic; wake-ups = voluntary context \
             switches of the process)"
        );
        print!("{}", report::idle_table(&idle_rows));
    }
    if let Some(path) = &args.report {
        let machine = serde_json::json!({
            "cores": cores,
            "load_average": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            "namesrv": args.namesrv,
            "serialize": args.serialize_name(),
            "single_send_rounds": args.rounds,
        });
        let report = report::json_report(
            machine,
            &produce_rows,
            &drain_rows,
            &idle_rows,
            &latency_rows,
        );
        std::fs::write(path, format!("{report:#}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("\nrocketwire-bench: figures written to {}", path.display());
    }
    let failed = produce_rows.iter().filter(|r| r.is_err()).count()
        + drain_rows.iter().filter(|r| r.is_err()).count()
        + idle_rows.iter().filter(|r| r.is_err()).count()
        + latency_rows.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(format!("{failed} case(s) failed"));
    }
    Ok(())
}

/// The born-to-consume latency case of every adapter, each in its own process on a fresh
/// topic.
fn latency_all(args: &Args, adapters: &[Adapter]) -> Vec<Result<LatencyResult, (String, String)>> {
    let n = args.latency_messages;
    // The sends, then the probe and catch-up waits with room to spare.
    let limit = CASE_LIMIT.max(Duration::from_secs(n / args.latency_rate + 300));
    let rate = args.latency_rate.to_string();
    let mut rows = Vec::new();
    for &adapter in adapters {
        eprintln!(
            "rocketwire-bench: born-to-consume latency {n} × 1 KiB at {} msg/s, {}",
            args.latency_rate,
            adapter.name()
        );
        let topic = adapter::unique("rw_bench_latency");
        let case = case_args(
            "latency",
            Some(adapter),
            &topic,
            n,
            &["--latency-rate", &rate],
        );
        rows.push(case_row(
            args,
            &case,
            limit,
            adapter.name(),
            LatencyResult::from_fields,
        ));
    }
    rows
}

/// The soak of every adapter, one after the other, each in its own process.
fn soak_all(args: &Args, adapters: &[Adapter]) -> Result<(), String> {
    let seconds = args.soak_minutes.saturating_mul(60);
    let mut failed = 0;
    println!(
        "Soak: {} msg/s of 1 KiB produced and consumed by one client for {} min per adapter",
        args.soak_rate, args.soak_minutes
    );
    for &adapter in adapters {
        eprintln!("rocketwire-bench: soak {}", adapter.name());
        let topic = adapter::unique("rw_soak");
        let case = case_args("soak", Some(adapter), &topic, seconds, &[]);
        let limit = Duration::from_secs(seconds) + Duration::from_secs(120);
        let result =
            spawn_case_within(args, &case, limit).and_then(|f| SoakResult::from_fields(&f));
        match result {
            Ok(r) => {
                let verdict = r.verdict();
                let rss: Vec<String> = r.samples.iter().map(|s| s.rss_kib.to_string()).collect();
                let fds: Vec<String> = r.samples.iter().map(|s| s.fds.to_string()).collect();
                println!(
                    "{:<10} sent {} failed {} received {}; RSS KiB per sample: {}; open fds: {}; {}",
                    adapter.name(),
                    r.sent,
                    r.failed,
                    r.received,
                    rss.join(" "),
                    fds.join(" "),
                    match &verdict {
                        Ok(()) => "flat".to_owned(),
                        Err(e) => format!("NOT FLAT: {e}"),
                    }
                );
                failed += usize::from(verdict.is_err());
            }
            Err(e) => {
                println!("{:<10} failed: {e}", adapter.name());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} soak run(s) failed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_batch_cases_default_to_256_in_flight_and_can_be_turned_off() {
        let args = Args::try_parse_from(["rocketwire-bench"]).unwrap();
        assert_eq!(args.auto_batch_in_flight, [256]);
        let args = Args::try_parse_from(["rocketwire-bench", "--auto-batch-in-flight"]).unwrap();
        assert!(args.auto_batch_in_flight.is_empty());
        let args =
            Args::try_parse_from(["rocketwire-bench", "--auto-batch-in-flight", "64,256"]).unwrap();
        assert_eq!(args.auto_batch_in_flight, [64, 256]);
    }
}
