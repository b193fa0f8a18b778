//! rocketwire-gateway: a gRPC gateway to RocketMQ, so any language with gRPC (Python on
//! Windows first) can send and consume.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use rocketwire_gateway::{config::GatewayConfig, Gateway};
//!
//! let config = GatewayConfig::load(None, &|k| std::env::var(k).ok())?;
//! let listener = tokio::net::TcpListener::bind(config.listen_addr()).await?;
//! let gateway = Gateway::start(config).await?; // client, producers, namesrv checked
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! It serves three gRPC services on one port:
//! - `mq.RocketMQGateway` (`proto/mq.proto`): the original Go gateway's API, wire-compatible
//!   (`SendMessage`, `Subscribe`);
//! - `rocketwire.gateway.v1.Gateway` (`proto/rocketwire/gateway/v1/gateway.proto`): sends with
//!   keys, properties, delays and ordering keys, batches, and `Consume`, a bidirectional
//!   stream on which the client acknowledges each delivery (at-least-once);
//! - `grpc.health.v1.Health`.
//!
//! One rocketwire client (tokio adapter) holds the connections; each consumer group has one
//! push consumer shared by the group's streams.

#![forbid(unsafe_code)]
// tonic's error type is `Status` (176 bytes); every gRPC handler returns it by value.
#![allow(clippy::result_large_err)]

pub mod config;

mod compat;
mod convert;
mod groups;
mod hub;
mod v1;

/// The gateway's own metric names; the client's are in `rocketwire_driver::observe`.
pub mod observe {
    pub use crate::hub::{DELIVERIES, SETTLED, STREAMS};
}

/// The generated protobuf messages and gRPC stubs (clients included, for tests and tools).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    /// `package mq`: the original gateway's API.
    pub mod mq {
        tonic::include_proto!("mq");
    }
    /// `package rocketwire.gateway.v1`.
    pub mod v1 {
        tonic::include_proto!("rocketwire.gateway.v1");
    }
}

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ClientError, RemotingCommand, RequestCode};
use rocketwire_tokio::{Client, Producer};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Status;
use tonic_health::server::HealthReporter;

use crate::compat::{Compat, SubscribeSettings};
use crate::config::{ConfigError, GatewayConfig};
use crate::groups::{ConsumerSettings, Groups};
use crate::proto::mq::rocket_mq_gateway_server::RocketMqGatewayServer;
use crate::proto::v1::gateway_server::GatewayServer;
use crate::v1::{ConsumeSettings, V1};

/// The gRPC service names the health service reports.
pub const SERVICE_NAMES: [&str; 2] = ["mq.RocketMQGateway", "rocketwire.gateway.v1.Gateway"];

/// How long the original API counts a handed-over message as in transit (see `Subscribe`).
const SUBSCRIBE_ACK_DELAY: Duration = Duration::from_millis(200);

/// Why the gateway did not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No namesrv answered.
    #[error("no namesrv of {addrs} answered: {reason}")]
    NamesrvUnreachable {
        /// The configured namesrvs.
        addrs: String,
        /// The last failure.
        reason: String,
    },
    /// The client or producer could not start.
    #[error("rocketmq client: {0}")]
    Client(#[from] ClientError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Server(#[from] tonic::transport::Error),
    /// The metrics endpoint could not start.
    #[error("metrics on {addr}: {reason}")]
    Metrics {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Listening failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What every service shares.
pub(crate) struct Shared {
    pub(crate) producer: Producer,
    /// Sends with an ordering key: one queue per key (Java's `SelectMessageQueueByHash`).
    pub(crate) ordered_producer: Producer,
    pub(crate) groups: Arc<Groups>,
    pub(crate) subscribe: SubscribeSettings,
    pub(crate) consume: ConsumeSettings,
    draining: AtomicBool,
    sends: tokio::sync::Semaphore,
}

/// A send in progress; graceful shutdown waits for all of them.
pub(crate) struct Sending<'a>(#[allow(dead_code)] tokio::sync::SemaphorePermit<'a>);

/// The most sends at once (a shutdown takes them all to know none is left).
const MAX_SENDS: u32 = 1 << 20;

impl Shared {
    /// Admits a send, unless the gateway is shutting down.
    pub(crate) fn sending(&self) -> Result<Sending<'_>, Status> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(Status::unavailable("the gateway is shutting down"));
        }
        self.sends
            .try_acquire()
            .map(Sending)
            .map_err(|_| Status::resource_exhausted("too many sends in progress"))
    }
}

/// A started gateway: client connected, producers registered.
pub struct Gateway {
    client: Client,
    shared: Arc<Shared>,
    shutdown_timeout: Duration,
}

impl Gateway {
    /// Starts the client, checks that a namesrv answers, registers the producers.
    pub async fn start(config: GatewayConfig) -> Result<Self, GatewayError> {
        config.validate()?;
        let client =
            Client::start_with_options(config.client_config(), config.driver_options()?).await?;
        if let Err(e) = check_namesrv(&client, &config).await {
            let _ = client.shutdown(Duration::from_secs(1)).await;
            return Err(e);
        }
        let p = &config.rocketmq.producer;
        let producer_config = ProducerConfig::builder(p.group_name.clone())
            .retry_times_when_send_failed(p.send_retry_times)
            .send_timeout(Duration::from_millis(p.send_timeout_ms))
            .build()
            .map_err(|e| ConfigError::Invalid(format!("rocketmq.producer: {e}")))?;
        let producer = client.create_producer(producer_config.clone()).await?;
        let ordered_producer = client
            .create_producer_with_selector(producer_config, QueueSelector::Hash)
            .await?;
        let c = &config.rocketmq.consumer;
        let groups = Groups::new(
            client.clone(),
            ConsumerSettings {
                consume_from: config.consume_from()?,
                max_in_flight: c.max_in_flight,
                linger: Duration::from_millis(c.linger_ms),
                drain_timeout: config.shutdown_timeout(),
            },
        );
        let shared = Arc::new(Shared {
            producer,
            ordered_producer,
            groups,
            subscribe: SubscribeSettings {
                window: c.subscribe_window as usize,
                ack_delay: SUBSCRIBE_ACK_DELAY,
            },
            consume: ConsumeSettings {
                window: c.window as usize,
                max_window: c.max_window as usize,
            },
            draining: AtomicBool::new(false),
            sends: tokio::sync::Semaphore::new(MAX_SENDS as usize),
        });
        Ok(Self {
            client,
            shared,
            shutdown_timeout: config.shutdown_timeout(),
        })
    }

    /// Serves on `listener` until `shutdown` resolves, then shuts down gracefully: health
    /// says NOT_SERVING, new calls are refused, every stream ends (its unacknowledged
    /// deliveries are consumed again later), in-flight sends finish, consumers persist their
    /// offsets, producers and client close.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), GatewayError> {
        let (mut health, health_service) = tonic_health::server::health_reporter();
        set_serving(&mut health, true).await;
        let shared = self.shared.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(RocketMqGatewayServer::new(Compat {
                shared: shared.clone(),
            }))
            .add_service(GatewayServer::new(V1 {
                shared: shared.clone(),
            }))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = stop_rx.await;
            });
        let server = tokio::spawn(server);
        shutdown.await;
        tracing::info!("gateway: shutting down");
        set_serving(&mut health, false).await;
        shared.draining.store(true, Ordering::SeqCst);
        // Streams end first: the server's graceful stop waits for every call to finish.
        shared.groups.close_all().await;
        let _ = stop_tx.send(());
        let served = tokio::time::timeout(self.shutdown_timeout, server).await;
        let drained =
            tokio::time::timeout(self.shutdown_timeout, shared.sends.acquire_many(MAX_SENDS)).await;
        if drained.is_err() {
            tracing::warn!("gateway: sends still in flight at the shutdown timeout");
        }
        let _ = shared.producer.clone().shutdown().await;
        let _ = shared.ordered_producer.clone().shutdown().await;
        self.client.shutdown(self.shutdown_timeout).await?;
        match served {
            Ok(Ok(result)) => result.map_err(GatewayError::from),
            Ok(Err(join)) => {
                tracing::warn!(error = %join, "gateway: the server task failed");
                Ok(())
            }
            Err(_) => {
                tracing::warn!("gateway: calls still open at the shutdown timeout");
                Ok(())
            }
        }
    }
}

async fn set_serving(health: &mut HealthReporter, serving: bool) {
    for name in SERVICE_NAMES.into_iter().chain([""]) {
        let status = if serving {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        health.set_service_status(name, status).await;
    }
}

/// Asks each namesrv for the cluster info until one answers.
async fn check_namesrv(client: &Client, config: &GatewayConfig) -> Result<(), GatewayError> {
    let addrs = &config.rocketmq.nameservers;
    let mut reason = String::from("no address");
    for addr in addrs {
        let request = RemotingCommand::request(RequestCode::GetBrokerClusterInfo);
        match client.invoke(addr, request, Duration::from_secs(3)).await {
            Ok(_) => return Ok(()),
            Err(e) => reason = format!("{addr}: {e}"),
        }
    }
    Err(GatewayError::NamesrvUnreachable {
        addrs: addrs.join(";"),
        reason,
    })
}

/// Installs the process's metrics recorder, a Prometheus exporter serving `/metrics` on
/// `addr` (an IP and port): the client's metrics and the gateway's. Call it once, from
/// inside the tokio runtime.
pub fn serve_metrics(addr: &str) -> Result<std::net::SocketAddr, GatewayError> {
    let failed = |reason: String| GatewayError::Metrics {
        addr: addr.to_owned(),
        reason,
    };
    let socket: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| failed("not an IP address and port".into()))?;
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(socket)
        .install()
        .map_err(|e| failed(e.to_string()))?;
    Ok(socket)
}
