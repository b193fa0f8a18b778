//! rocketwire on plain std threads: no async runtime inside.
//!
//! A driver thread owns the shared [`rocketwire_driver::Shell`] (the same logic the async
//! adapters run), each connection has a reader thread and a writer thread, everything reaches
//! the driver through one bounded `std::sync::mpsc` channel, and `recv_timeout` until the next
//! deadline is the timer. [`Client`] has the async adapters' method names as blocking methods.
//!
//! Every method blocks the calling thread until the driver answers. Calling them from inside an
//! async runtime neither deadlocks nor panics (nothing here needs that runtime), but it does
//! block one of its worker threads; prefer the runtime's own adapter there.
//!
//! ```no_run
//! use rocketwire_blocking::Client;
//! use rocketwire_core::ClientConfig;
//!
//! let client = Client::start(ClientConfig::new(vec!["127.0.0.1:9876".into()]))?;
//! let route = client.query_route("TopicTest")?;
//! println!("{} brokers", route.broker_datas.len());
//! // A thread can serve broker→client requests:
//! // while let Some(request) = client.next_request() { ... client.answer(token, response)? }
//! client.shutdown(std::time::Duration::from_secs(5))?;
//! # Ok::<(), rocketwire_core::ClientError>(())
//! ```
//!
//! Producers have the async adapters' names too; `send_async` returns a [`SendHandle`] at once
//! (after waiting for in-flight room) whose [`SendHandle::wait`] gives the result:
//!
//! ```no_run
//! # use rocketwire_blocking::Client;
//! # use rocketwire_core::{ClientConfig, message::Message, producer::ProducerConfig};
//! # let client = Client::start(ClientConfig::new(vec!["127.0.0.1:9876".into()]))?;
//! let producer = client.create_producer(ProducerConfig::default())?;
//! let stored = producer.send(Message::new("TopicTest", "hello"))?;
//! let pending = producer.send_async(Message::new("TopicTest", "later"));
//! let later = pending.wait()?;
//! producer.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod consumer;
mod driver;
mod lite;
mod producer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use rocketwire_core::body::TopicRouteData;
use rocketwire_core::client::AnswerToken;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ClientConfig, ClientError, IncomingRequest, RemotingCommand};
use rocketwire_driver::{check_success, reply_result, CloseOnDrop, Command, InFlight, Shell};

pub use consumer::{PushConsumer, TransactionProducer};
pub use lite::LitePullConsumer;
pub use producer::Producer;
pub use rocketwire_driver::{
    ConsumerStartError, DriverOptions, LitePullError, LitePullOptions, ProducerOptions,
    PushConsumerOptions, SendHandle, TransactionListener, TrySendError,
};

use driver::{wait, Msg};

/// A cheaply cloneable handle to a client run by its own threads. Dropping every handle shuts
/// the client down; [`Client::shutdown`] does it and waits.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: SyncSender<Msg>,
    driver: Mutex<Option<JoinHandle<()>>>,
    ended: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
    client_id: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Every handle was dropped: nobody is left to ack, so nothing is waited for.
        let _ = self
            .tx
            .send(Msg::Command(Command::shutdown(Duration::ZERO).0));
    }
}

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
        let in_flight = InFlight::new(options.producer);
        let shell = Shell::new(config, options, Instant::now());
        let client_id = shell.client_id().to_owned();
        let (tx, rx) = mpsc::sync_channel(driver::CAPACITY);
        let ended = Arc::new(AtomicBool::new(false));
        let (driver_tx, driver_ended) = (tx.clone(), ended.clone());
        let driver = thread::Builder::new()
            .name("rocketwire-driver".into())
            .spawn(move || driver::run(shell, rx, driver_tx, driver_ended))
            .map_err(|e| ClientError::InvalidArgument(format!("cannot start a thread: {e}")))?;
        let inner = Inner {
            tx,
            driver: Mutex::new(Some(driver)),
            ended,
            in_flight,
            client_id,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Asks the namesrvs for `topic`'s route.
    pub fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        self.call(Command::query_route(topic))
    }

    /// Sends `command` to `addr` and returns the response matched to it, whatever its code.
    pub fn invoke(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        self.call(Command::invoke(addr, command, timeout))
    }

    /// [`Client::invoke`], with a response code other than `SUCCESS` mapped to
    /// [`ClientError::Rejected`].
    pub fn invoke_ok(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        check_success(self.invoke(addr, command, timeout)?)
    }

    /// Sends `command` to `addr` as a oneway request (returns once it is queued).
    pub fn invoke_oneway(&self, addr: &str, command: RemotingCommand) -> Result<(), ClientError> {
        self.call(Command::invoke_oneway(addr, command))
    }

    /// Waits for the next request a broker sent us; `None` once the client is shut down.
    /// Requests nobody takes in time are refused as described on [`DriverOptions`].
    pub fn next_request(&self) -> Option<IncomingRequest> {
        let (command, rx) = Command::next_request();
        self.inner.tx.send(Msg::Command(command)).ok()?;
        wait(rx).ok().flatten()
    }

    /// Answers a request taken with [`Client::next_request`].
    pub fn answer(&self, token: AnswerToken, response: RemotingCommand) -> Result<(), ClientError> {
        self.call(Command::answer(token, response))
    }

    /// Shuts the client down gracefully and returns once the driver thread and every
    /// connection thread have ended: every consumer closes first (it stops pulling, its
    /// handlers get until `timeout` to finish the deliveries they hold, then its offsets are
    /// persisted and it unregisters), every producer closes, then every connection closes and
    /// what is still pending fails with [`ClientError::Shutdown`]. Shutting down a client
    /// already shut down returns `Ok`.
    pub fn shutdown(self, timeout: Duration) -> Result<(), ClientError> {
        let (command, rx) = Command::shutdown(timeout);
        let result = match self.inner.tx.send(Msg::Command(command)) {
            Ok(()) => wait(rx).unwrap_or(Ok(())),
            Err(_) => Ok(()),
        };
        let driver = self
            .inner
            .driver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(driver) = driver {
            let _ = driver.join();
        }
        result
    }

    /// Registers a producer with the default round-robin selector (with broker fault
    /// isolation and retries on another broker).
    pub fn create_producer(&self, config: ProducerConfig) -> Result<Producer, ClientError> {
        self.create_producer_with_selector(config, QueueSelector::RoundRobin)
    }

    /// Registers a producer whose default sends go where `selector` says (a selector other
    /// than round robin is not retried on another queue).
    pub fn create_producer_with_selector(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Producer, ClientError> {
        let id = self.call(Command::create_producer(config, selector))?;
        Ok(Producer::new(self.clone(), id))
    }

    /// The client's in-flight send counter.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.inner.in_flight
    }

    /// This client's id as brokers see it (`ip@instance`).
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// Whether the driver thread and all connection threads have ended.
    pub fn is_shut_down(&self) -> bool {
        self.inner.ended.load(Ordering::Acquire)
    }

    /// A guard that hands `command` to the driver when dropped, without blocking the dropping
    /// thread: when the channel is full, a short-lived thread of its own waits for room.
    fn close_on_drop(&self, command: impl FnOnce() -> Command + Send + 'static) -> CloseOnDrop {
        let tx = self.inner.tx.clone();
        CloseOnDrop::new(move || {
            if let Err(mpsc::TrySendError::Full(msg)) = tx.try_send(Msg::Command(command())) {
                let _ = thread::Builder::new()
                    .name("rocketwire-close".into())
                    .spawn(move || drop(tx.send(msg)));
            }
        })
    }

    fn submit(&self, command: Command) -> Result<(), ClientError> {
        self.inner
            .tx
            .send(Msg::Command(command))
            .map_err(|_| ClientError::Shutdown)
    }

    fn try_submit(&self, command: Command) -> Result<(), TrySendError> {
        self.inner
            .tx
            .try_send(Msg::Command(command))
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => TrySendError::Full,
                mpsc::TrySendError::Disconnected(_) => TrySendError::Shutdown,
            })
    }

    fn call<T>(
        &self,
        (command, rx): (Command, oneshot::Receiver<Result<T, ClientError>>),
    ) -> Result<T, ClientError> {
        self.inner
            .tx
            .send(Msg::Command(command))
            .map_err(|_| ClientError::Shutdown)?;
        reply_result(wait(rx))
    }
}
