//! rocketwire on plain std threads: no async runtime inside.
//!
//! The handles are the shared driver's ([`rocketwire_driver`]) with blocking methods: each
//! call blocks the calling thread on the shared handle's future with the driver's thread
//! parker ([`rocketwire_driver::block_on`]). The driver, consumer dispatchers and handlers run
//! on std threads, each blocked on its future the same way (a timer is a deadline of the
//! parked thread); each connection is a std `TcpStream` with a reader and a writer thread.
//! On Linux the driver thread writes a send itself, without blocking, while the writer thread
//! has nothing to write (the writer takes what the socket does not), so a send wakes no
//! writer thread.
//!
//! Calling these methods from inside an async runtime neither deadlocks nor panics (nothing
//! here needs that runtime), but it does block one of its worker threads; prefer the
//! runtime's own adapter there.
//!
//! ```no_run
//! use rocketwire_blocking::Client;
//! use rocketwire_core::{ClientConfig, message::Message, producer::ProducerConfig};
//!
//! let client = Client::start(ClientConfig::new(vec!["127.0.0.1:9876".into()]))?;
//! let route = client.query_route("TopicTest")?;
//! println!("{} brokers", route.broker_datas.len());
//! let producer = client.create_producer(ProducerConfig::default())?;
//! let stored = producer.send(Message::new("TopicTest", "hello"))?;
//! // `send_async` returns once the send is handed over; `wait` gives its result.
//! let later = producer.send_async(Message::new("TopicTest", "later")).wait()?;
//! producer.shutdown()?;
//! // A thread can serve broker→client requests:
//! // while let Some(request) = client.next_request() { ... client.answer(token, response)? }
//! client.shutdown(std::time::Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Declares blocking methods, each blocking the calling thread on the shared handle's
/// (`self.0`) method of the same name with the driver's thread parker.
macro_rules! blocking {
    () => {};
    ($(#[$doc:meta])* fn $name:ident(&mut self $(, $a:ident: $t:ty)*) -> $ret:ty; $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $name(&mut self $(, $a: $t)*) -> $ret {
            rocketwire_driver::block_on(self.0.$name($($a),*))
        }
        blocking!($($rest)*);
    };
    ($(#[$doc:meta])* fn $name:ident(&self $(, $a:ident: $t:ty)*) -> $ret:ty; $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $name(&self $(, $a: $t)*) -> $ret {
            rocketwire_driver::block_on(self.0.$name($($a),*))
        }
        blocking!($($rest)*);
    };
    ($(#[$doc:meta])* fn $name:ident(self $(, $a:ident: $t:ty)*) -> $ret:ty; $($rest:tt)*) => {
        $(#[$doc])*
        pub fn $name(self $(, $a: $t)*) -> $ret {
            rocketwire_driver::block_on(self.0.$name($($a),*))
        }
        blocking!($($rest)*);
    };
}

mod admin;
mod consumer;
mod events;
mod lite;
mod producer;
mod socket;
mod threads;
mod transaction;

use std::sync::Arc;
use std::time::Duration;

use rocketwire_core::acl::Credentials;
use rocketwire_core::body::TopicRouteData;
use rocketwire_core::client::AnswerToken;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ClientConfig, ClientError, IncomingRequest, RemotingCommand};
use rocketwire_driver::{block_on, InFlight};

pub use admin::Admin;
pub use consumer::PushConsumer;
pub use events::ClientEvents;
pub use lite::LitePullConsumer;
pub use producer::Producer;
pub use rocketwire_driver::{
    ConsumerStartError, DriverOptions, LitePullError, LitePullOptions, ProducerOptions,
    PushConsumerOptions, QueueChange, QueueOffsets, SendHandle, TlsConfig, TlsConfigError,
    TransactionListener, TrySendError,
};
pub use transaction::TransactionProducer;

use threads::Threads;

/// A cheaply cloneable handle to a client run by its own threads. Dropping every handle shuts
/// the client down; [`Client::shutdown`] does it and waits.
#[derive(Debug, Clone)]
pub struct Client(rocketwire_driver::Client<Threads>);

impl Client {
    /// Starts the driver thread.
    pub fn start(config: ClientConfig) -> Result<Self, ClientError> {
        Self::start_with_options(config, DriverOptions::default())
    }

    /// [`Client::start`] with driver options.
    pub fn start_with_options(
        config: ClientConfig,
        options: DriverOptions,
    ) -> Result<Self, ClientError> {
        rocketwire_driver::Client::start_with(Threads::default(), config, options).map(Self)
    }

    blocking! {
        /// Signs every request from now on with `credentials` (`None`: unsigned): rotate keys
        /// on a running client. Every connection is closed and opened again (servers
        /// authenticate a connection once).
        fn set_credentials(&self, credentials: Option<Credentials>) -> Result<(), ClientError>;
        /// Asks the namesrvs for `topic`'s route.
        fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError>;
        /// Sends `command` to `addr` and returns the response matched to it, whatever its code.
        fn invoke(&self, addr: &str, command: RemotingCommand, timeout: Duration)
            -> Result<RemotingCommand, ClientError>;
        /// [`Client::invoke`], with a response code other than `SUCCESS` mapped to
        /// [`ClientError::Rejected`].
        fn invoke_ok(&self, addr: &str, command: RemotingCommand, timeout: Duration)
            -> Result<RemotingCommand, ClientError>;
        /// Sends `command` to `addr` as a oneway request (returns once it is queued).
        fn invoke_oneway(&self, addr: &str, command: RemotingCommand) -> Result<(), ClientError>;
        /// Waits for the next request a broker sent us; `None` once the client is shut down.
        /// Requests nobody takes in time are refused as described on [`DriverOptions`].
        fn next_request(&self) -> Option<IncomingRequest>;
        /// Answers a request taken with [`Client::next_request`].
        fn answer(&self, token: AnswerToken, response: RemotingCommand) -> Result<(), ClientError>;
        /// Shuts the client down gracefully and returns once the driver thread and every
        /// connection thread have ended: every consumer closes first (it stops pulling, its
        /// handlers get until `timeout` to finish the deliveries they hold, then its offsets
        /// are persisted and it unregisters), every producer closes, then every connection
        /// closes and what is still pending fails with [`ClientError::Shutdown`]. Shutting
        /// down a client already shut down returns `Ok`.
        fn shutdown(self, timeout: Duration) -> Result<(), ClientError>;
    }

    /// Registers a producer with the default round-robin selector (with broker fault
    /// isolation and retries on another broker).
    pub fn create_producer(&self, config: ProducerConfig) -> Result<Producer, ClientError> {
        block_on(self.0.create_producer(config)).map(Producer)
    }

    /// Registers a producer whose default sends go where `selector` says (a selector other
    /// than round robin is not retried on another queue).
    pub fn create_producer_with_selector(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Producer, ClientError> {
        block_on(self.0.create_producer_with_selector(config, selector)).map(Producer)
    }

    /// The client's events from now on: connections opened, failed and lost, brokers the
    /// producers isolate and restore, topic routes that change. Iterate it on a thread of
    /// its own; it ends when the client has shut down, and a reader that does not keep up is
    /// told how many events it missed (the client never waits for it).
    pub fn events(&self) -> ClientEvents {
        ClientEvents(block_on(self.0.events()))
    }

    /// The admin and query API of this client.
    pub fn admin(&self) -> Admin {
        Admin(self.0.admin())
    }

    /// The client's in-flight send counter.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        self.0.in_flight()
    }

    /// This client's id as brokers see it (`ip@instance`).
    pub fn client_id(&self) -> &str {
        self.0.client_id()
    }

    /// Whether the driver thread and all connection threads have ended.
    pub fn is_shut_down(&self) -> bool {
        self.0.is_shut_down()
    }
}
