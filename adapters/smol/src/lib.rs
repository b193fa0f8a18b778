//! rocketwire on smol.
//!
//! [`Client`] is the shared driver's handle ([`rocketwire_driver::Client`]) on `async-io`
//! sockets and timers, with tasks spawned on smol's global executor.
//!
//! ```no_run
//! use rocketwire_core::ClientConfig;
//! use rocketwire_smol::Client;
//!
//! smol::block_on(async {
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

/// The rocketwire client on smol. Start it with `Client::start(config).await`.
pub type Client = rocketwire_driver::Client<SmolRuntime>;

/// A producer of a [`Client`], from `client.create_producer(config).await`.
pub type Producer = rocketwire_driver::Producer<SmolRuntime>;

/// The admin and query API of a [`Client`], from `client.admin()`.
pub type Admin = rocketwire_driver::Admin<SmolRuntime>;

/// A push consumer of a [`Client`], from `client.create_push_consumer(config, subs, handler)`.
pub type PushConsumer = rocketwire_driver::PushConsumer<SmolRuntime>;

/// A lite pull consumer of a [`Client`], from
/// `client.create_lite_pull_consumer(config, options)`: `subscribe` or `assign`, then `poll`.
pub type LitePullConsumer = rocketwire_driver::LitePullConsumer<SmolRuntime>;

/// A transactional producer of a [`Client`], from
/// `client.create_transaction_producer(config, listener)`.
pub type TransactionProducer = rocketwire_driver::TransactionProducer<SmolRuntime>;

/// The [`rocketwire_driver::Runtime`] for smol.
pub type SmolRuntime = AsyncIoRuntime<SmolSpawn>;

/// Spawns detached tasks on smol's global executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct SmolSpawn;

impl Spawn for SmolSpawn {
    fn spawn(&self, future: BoxFuture<()>) {
        smol::spawn(future).detach();
    }
}
