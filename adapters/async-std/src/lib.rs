//! rocketwire on async-std.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052); prefer `rocketwire-smol`, which
//! shares its reactor. This adapter differs from smol's only in spawning: [`Client`] is the
//! shared driver's handle ([`rocketwire_driver::Client`]) on `async-io` sockets and timers,
//! with tasks spawned by `async_std::task::spawn`.
//!
//! ```no_run
//! use rocketwire_core::ClientConfig;
//! use rocketwire_async_std::Client;
//!
//! async_std::task::block_on(async {
//!     let client = Client::start(ClientConfig::new(vec!["127.0.0.1:9876".into()])).await?;
//!     let route = client.query_route("TopicTest").await?;
//!     println!("{} brokers", route.broker_datas.len());
//!     client.shutdown(std::time::Duration::from_secs(5)).await
//! })?;
//! # Ok::<(), rocketwire_core::ClientError>(())
//! ```

use rocketwire_driver::{AsyncIoRuntime, BoxFuture, Spawn};

pub use rocketwire_driver::{
    ClientEvents, ConsumerStartError, DriverOptions, LitePullError, LitePullOptions,
    LitePullStream, ProducerOptions, PushConsumerOptions, QueueChange, QueueOffsets, SendHandle,
    TlsConfig, TlsConfigError, TransactionListener, TrySendError,
};

/// The rocketwire client on async-std. Start it with `Client::start(config).await`.
pub type Client = rocketwire_driver::Client<AsyncStdRuntime>;

/// A producer of a [`Client`], from `client.create_producer(config).await`.
pub type Producer = rocketwire_driver::Producer<AsyncStdRuntime>;

/// The admin and query API of a [`Client`], from `client.admin()`.
pub type Admin = rocketwire_driver::Admin<AsyncStdRuntime>;

/// A push consumer of a [`Client`], from `client.create_push_consumer(config, subs, handler)`.
pub type PushConsumer = rocketwire_driver::PushConsumer<AsyncStdRuntime>;

/// A lite pull consumer of a [`Client`], from
/// `client.create_lite_pull_consumer(config, options)`: `subscribe` or `assign`, then `poll`.
pub type LitePullConsumer = rocketwire_driver::LitePullConsumer<AsyncStdRuntime>;

/// A transactional producer of a [`Client`], from
/// `client.create_transaction_producer(config, listener)`.
pub type TransactionProducer = rocketwire_driver::TransactionProducer<AsyncStdRuntime>;

/// The [`rocketwire_driver::Runtime`] for async-std.
pub type AsyncStdRuntime = AsyncIoRuntime<AsyncStdSpawn>;

/// Spawns detached tasks with `async_std::task::spawn`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AsyncStdSpawn;

impl Spawn for AsyncStdSpawn {
    fn spawn(&self, future: BoxFuture<()>) {
        drop(async_std::task::spawn(future));
    }
}
