//! `rocketwire`, the command-line client: `produce`, `consume`, `route`, `topic`, `offsets`,
//! `query` and `request` on any adapter.
//!
//! The commands are written once against [`backend::Backend`], a blocking face over a client;
//! each runtime is a few lines in [`backend`].

pub mod admin;
pub mod args;
pub mod backend;
pub mod consume;
pub mod format;
pub mod inspect;
pub mod meter;
pub mod produce;
pub mod progress;
pub mod request;
pub mod route;
pub mod sink;

use std::fmt;
use std::process::ExitCode;

use rocketwire_core::acl::Credentials;
use rocketwire_core::namespace::Namespace;
use rocketwire_core::{BrokerAddrMap, ClientConfig, ClientError};
use rocketwire_driver::{DriverOptions, ProducerOptions, TlsConfig};

use args::{Cli, CliCommand, RuntimeKind};
use backend::{AsyncStdBackend, Backend, BlockingBackend, SmolBackend, TokioBackend};

/// A failure reported as one line on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the remark of a broker contains.
        f.write_str(&self.0.replace(['\r', '\n'], " "))
    }
}

impl std::error::Error for CliError {}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError(e.to_string())
    }
}

/// Logs the client's events on stderr: as `RUST_LOG` says when it is set, else at info
/// (`-v`), debug (`-vv`) or trace (`-vvv`) level; nothing without either.
pub fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => match verbose {
            0 => return,
            1 => EnvFilter::new("info"),
            2 => EnvFilter::new("debug"),
            _ => EnvFilter::new("trace"),
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `cli` on the runtime it names; `Ok` carries the exit code.
pub fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    match cli.runtime {
        RuntimeKind::Tokio => run_on::<TokioBackend>(cli),
        RuntimeKind::AsyncStd => run_on::<AsyncStdBackend>(cli),
        RuntimeKind::Smol => run_on::<SmolBackend>(cli),
        RuntimeKind::Blocking => run_on::<BlockingBackend>(cli),
    }
}

/// The client configuration for `--namesrv` (`;`-separated addresses).
pub fn client_config(namesrv: &str) -> Result<ClientConfig, CliError> {
    let addrs: Vec<String> = namesrv
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if addrs.is_empty() {
        return Err(CliError("no namesrv address given".into()));
    }
    Ok(ClientConfig::new(addrs))
}

/// The client configuration of `cli`: namesrvs, credentials, namespace, identity, broker
/// address map.
pub fn cli_config(cli: &Cli) -> Result<ClientConfig, CliError> {
    let mut config = client_config(&cli.namesrv)?;
    config.credentials = match (&cli.access_key, &cli.secret_key) {
        (Some(ak), Some(sk)) => Some(Credentials::new(ak.clone(), sk.clone())),
        (None, None) => None,
        _ => return Err(CliError("--access-key and --secret-key go together".into())),
    };
    if let Some(ns) = &cli.namespace {
        config.namespace = Namespace::new(ns.clone());
    }
    if let Some(ip) = &cli.client_ip {
        config.client_ip = ip.clone();
    }
    config.instance_name = cli.instance_name.clone();
    config.broker_addr_map = cli
        .broker_addr_map
        .iter()
        .fold(BrokerAddrMap::new(), |map, (from, to)| {
            map.with(from.clone(), to.clone())
        });
    Ok(config)
}

/// The driver options of `cli`: TLS as its flags ask.
pub fn cli_driver_options(cli: &Cli) -> Result<DriverOptions, CliError> {
    let wants_tls = cli.tls
        || cli.ca_file.is_some()
        || cli.tls_server_name.is_some()
        || cli.insecure_skip_tls_verify;
    if !wants_tls {
        return Ok(DriverOptions::default());
    }
    let tls = if cli.insecure_skip_tls_verify {
        eprintln!(
            "rocketwire: warning: --insecure-skip-tls-verify: the servers' certificates are not \
             checked; anyone on the path can pose as the cluster"
        );
        TlsConfig::dangerous_accept_any_certificate()
    } else if let Some(ca) = &cli.ca_file {
        TlsConfig::with_ca_file(ca).map_err(|e| CliError(format!("--ca-file: {e}")))?
    } else {
        TlsConfig::system_roots().map_err(|e| CliError(format!("--tls: {e} (give --ca-file)")))?
    };
    let tls = match &cli.tls_server_name {
        Some(name) => tls
            .with_server_name(name)
            .map_err(|e| CliError(format!("--tls-server-name: {e}")))?,
        None => tls,
    };
    Ok(DriverOptions::default().with_tls(tls))
}

/// Starts a client, runs `command` on it, shuts it down.
fn one_shot<B: Backend>(
    config: ClientConfig,
    options: DriverOptions,
    command: impl FnOnce(&B) -> Result<(), CliError>,
) -> Result<ExitCode, CliError> {
    let client = B::start(config, options)?;
    let result = command(&client);
    let closed = client.shutdown();
    result?;
    closed?;
    Ok(ExitCode::SUCCESS)
}

fn run_on<B: Backend>(cli: &Cli) -> Result<ExitCode, CliError> {
    let config = cli_config(cli)?;
    let options = cli_driver_options(cli)?;
    match &cli.command {
        CliCommand::Route(args) => one_shot::<B>(config, options, |c| route::run(c, args)),
        CliCommand::Topic(command) => {
            one_shot::<B>(config, options, |c| admin::run_topic(c, command))
        }
        CliCommand::Offsets(args) => {
            one_shot::<B>(config, options, |c| admin::run_offsets(c, args))
        }
        CliCommand::Query(args) => one_shot::<B>(config, options, |c| admin::run_query(c, args)),
        CliCommand::Request(args) => {
            let mut client = B::start(config, options)?;
            let result = request::run(&mut client, args);
            let closed = client.shutdown();
            result?;
            closed?;
            Ok(ExitCode::SUCCESS)
        }
        CliCommand::Consume(
            args @ args::ConsumeArgs {
                offset: Some(spec), ..
            },
        ) => {
            let mut client = B::start(config, options)?;
            let result = inspect::run(&mut client, args, *spec);
            let closed = client.shutdown();
            let summary = result?;
            closed?;
            summary.print(args.metrics);
            Ok(ExitCode::SUCCESS)
        }
        CliCommand::Consume(args) => {
            let mut client = B::start(config, options)?;
            let result = consume::run(&mut client, args);
            let closed = client.shutdown();
            let summary = result?;
            closed?;
            summary.print(args.metrics);
            Ok(ExitCode::SUCCESS)
        }
        CliCommand::Produce(args) => {
            let limits = ProducerOptions::default()
                .with_max_in_flight(args.inflight.try_into().unwrap_or(1));
            let options = options.with_producer_options(limits);
            let mut client = B::start(config, options)?;
            let result = produce::run(&mut client, args);
            let closed = client.shutdown();
            let summary = result?;
            closed?;
            summary.print(args.json, args.metrics);
            match &summary.first_error {
                Some(error) => Err(CliError(format!(
                    "{} of {} messages failed; first error: {error}",
                    summary.failed,
                    summary.sent + summary.failed
                ))),
                None => Ok(ExitCode::SUCCESS),
            }
        }
    }
}
