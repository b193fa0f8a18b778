//! `rocketwire-gateway [--config FILE]`: serves the gateway until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use rocketwire_gateway::config::{config_path, GatewayConfig};
use rocketwire_gateway::Gateway;

const USAGE: &str = "\
usage: rocketwire-gateway [--config FILE]

Serves a gRPC gateway to RocketMQ: mq.RocketMQGateway (the original gateway's API),
rocketwire.gateway.v1.Gateway (acknowledged consume, batches, keys and properties) and
grpc.health.v1.Health, on server.listen_port (default 50051).

The config is FILE, else config.yaml in the working directory if there is one, else the
defaults; ROCKETWIRE_GATEWAY_* variables override it (LISTEN_PORT, LISTEN_ADDRESS,
NAMESERVERS, PRODUCER_GROUP, ACCESS_KEY, SECRET_KEY, NAMESPACE, TLS_CA_FILE,
METRICS_PORT). server.metrics_port serves Prometheus metrics at /metrics.
Logs: RUST_LOG (default info).";

fn main() -> ExitCode {
    let mut explicit: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(file) => explicit = Some(PathBuf::from(file)),
                None => return usage_error("--config needs a file"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("rocketwire-gateway {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => match other.strip_prefix("--config=") {
                Some(file) => explicit = Some(PathBuf::from(file)),
                None => return usage_error(&format!("unknown argument `{other}`")),
            },
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rocketwire-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(explicit)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rocketwire-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("rocketwire-gateway: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

async fn run(explicit: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let path = config_path(explicit.as_deref());
    let config = GatewayConfig::load(path.as_deref(), &|k| std::env::var(k).ok())?;
    match &path {
        Some(p) => tracing::info!(config = %p.display(), "config read"),
        None => tracing::info!("no config.yaml here: the defaults and the environment"),
    }
    let addr = config.listen_addr();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| rocketwire_gateway::GatewayError::Listen {
            addr: addr.clone(),
            source,
        })?;
    if let Some(metrics) = config.metrics_addr() {
        let served = rocketwire_gateway::serve_metrics(&metrics)?;
        println!("rocketwire-gateway: metrics on http://{served}/metrics");
    }
    let gateway = Gateway::start(config).await?;
    tracing::info!(%addr, "rocketwire-gateway serving");
    // Printed for scripts that wait for the port.
    println!(
        "rocketwire-gateway: listening on {}",
        listener.local_addr()?
    );
    gateway.serve(listener, stop_signal()).await?;
    tracing::info!("rocketwire-gateway stopped");
    Ok(())
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
