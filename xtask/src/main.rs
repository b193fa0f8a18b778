//! Development tasks for rocketwire, run as `cargo xtask <task>`.
//!
//! * `cluster up|down|status`: a local namesrv + broker (rocketmq-rust's servers,
//!   installed once with `cargo install` and cached) on loopback ports, with a
//!   readiness probe that speaks the remoting protocol on its own.
//! * `test`: the whole check pipeline, including the real-cluster suite in both broker
//!   reply-encoding modes.
//! * `demo`: the demo example against a fresh cluster.
//! * `bench`: the benchmarks (`rocketwire-bench`) against a fresh cluster on free ports.
//! * `chaos`: the servers killed and restarted under a consumer and a producer.
//!
//! Std only; see `cargo xtask help`.

mod args;
mod certs;
mod chaos;
mod cluster;
mod config;
mod gateway;
mod hog;
mod install;
mod lanes;
mod probe;
mod store;
mod sys;
mod tasks;

use std::process::ExitCode;

use args::{ClusterAction, Command};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let command = match args::parse(&argv, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: error: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", args::USAGE);
            Ok(())
        }
        Command::Cluster(ClusterAction::Up, opts) => cluster::up(&opts, true).map(|c| {
            println!(
                "xtask: stop it with `cargo xtask cluster down --namesrv-port {}`; \
                 clients: ROCKETWIRE_NAMESRV={}",
                c.state.namesrv_port,
                c.namesrv_addr()
            );
        }),
        Command::Cluster(ClusterAction::Down, opts) => cluster::down(&opts),
        Command::Cluster(ClusterAction::Status, opts) => cluster::status(&opts),
        Command::Test(opts) => tasks::test(&opts),
        Command::Demo(opts) => tasks::demo(&opts),
        Command::Gateway(opts) => gateway::gateway(&opts),
        Command::Bench(opts) | Command::Soak(opts) => tasks::bench(&opts),
        Command::Chaos(opts) => chaos::chaos(&opts),
        Command::Sim { seeds } => tasks::sim(seeds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
