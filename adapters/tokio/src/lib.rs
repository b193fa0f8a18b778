//! rocketwire on tokio.
//!
//! [`Client`] is the shared driver's handle ([`rocketwire_driver::Client`]) on [`TokioRuntime`]:
//! one driver task owns the sans-IO core, one task per connection does the socket IO. The
//! runtime must have IO and time enabled (as `#[tokio::main]` does).
//!
//! ```no_run
//! use std::time::Duration;
//! use rocketwire_core::{ClientConfig, RemotingCommand, RequestCode};
//! use rocketwire_tokio::Client;
//!
//! # async fn run() -> Result<(), rocketwire_core::ClientError> {
//! let client = Client::start(ClientConfig::new(vec!["127.0.0.1:9876".into()])).await?;
//! let route = client.query_route("TopicTest").await?;
//! if let Some(addr) = route.broker_datas.first().and_then(|b| b.broker_addrs.get(&0)) {
//!     let request = RemotingCommand::request(RequestCode::GetRouteInfoByTopic);
//!     let response = client.invoke(addr, request, Duration::from_secs(3)).await?;
//!     println!("code {}", response.code);
//! }
//! // Broker→client requests, if any, come from `client.next_request().await`.
//! client.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

use std::time::Instant;

use rocketwire_core::ClientError;
use rocketwire_driver::{spawn_connection, BoxFuture, Connection, CurrentRuntime, Runtime};
use tokio::runtime::Handle;
use tokio_util::compat::TokioAsyncReadCompatExt;

pub use rocketwire_driver::{
    ClientEvents, ConsumerStartError, DriverOptions, LitePullError, LitePullOptions,
    LitePullStream, ProducerOptions, PushConsumerOptions, QueueChange, QueueOffsets, SendHandle,
    TlsConfig, TlsConfigError, TransactionListener, TrySendError,
};

/// The rocketwire client on tokio. Start it with `Client::start(config).await` from inside a
/// tokio runtime.
pub type Client = rocketwire_driver::Client<TokioRuntime>;

/// A producer of a [`Client`], from `client.create_producer(config).await`.
pub type Producer = rocketwire_driver::Producer<TokioRuntime>;

/// The admin and query API of a [`Client`], from `client.admin()`.
pub type Admin = rocketwire_driver::Admin<TokioRuntime>;

/// A push consumer of a [`Client`], from `client.create_push_consumer(config, subs, handler)`.
pub type PushConsumer = rocketwire_driver::PushConsumer<TokioRuntime>;

/// A lite pull consumer of a [`Client`], from
/// `client.create_lite_pull_consumer(config, options)`: `subscribe` or `assign`, then `poll`.
pub type LitePullConsumer = rocketwire_driver::LitePullConsumer<TokioRuntime>;

/// A transactional producer of a [`Client`], from
/// `client.create_transaction_producer(config, listener)`.
pub type TransactionProducer = rocketwire_driver::TransactionProducer<TokioRuntime>;

/// [`Runtime`] on a tokio runtime handle.
#[derive(Debug, Clone)]
pub struct TokioRuntime(pub Handle);

impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn open(&self, connection: Connection) {
        let addr = connection.addr.clone();
        spawn_connection(self, connection, async move {
            let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
            stream.set_nodelay(true)?;
            let local = stream.local_addr().ok();
            Ok((stream.compat(), local))
        });
    }

    fn timer(&self, at: Instant) -> BoxFuture<()> {
        let _context = self.0.enter();
        Box::pin(tokio::time::sleep_until(at.into()))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        drop(self.0.spawn(future));
    }
}

impl CurrentRuntime for TokioRuntime {
    fn current() -> Result<Self, ClientError> {
        Handle::try_current().map(TokioRuntime).map_err(|_| {
            ClientError::InvalidArgument("not called from inside a tokio runtime".into())
        })
    }
}
