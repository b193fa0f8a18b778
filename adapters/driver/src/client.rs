//! [`Client`]: the user-facing handle of the driver.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::SinkExt;
use rocketwire_core::acl::Credentials;
use rocketwire_core::body::TopicRouteData;
use rocketwire_core::client::AnswerToken;
use rocketwire_core::namespace::Namespace;
use rocketwire_core::{ClientConfig, ClientError, IncomingRequest, RemotingCommand};

use crate::close_on_drop::CloseOnDrop;
use crate::driver;
use crate::events::ClientEvents;
use crate::inflight::InFlight;
use crate::runtime::{CurrentRuntime, Runtime};
use crate::shell::{check_success, reply_result, Command, DriverOptions, Shell, TrySendError};

/// Capacity of the command channel (callers wait when it is full).
const COMMAND_CAPACITY: usize = 64;

/// A cheaply cloneable handle to a running client on runtime `R`.
///
/// Dropping every handle shuts the client down; [`Client::shutdown`] does it and waits.
pub struct Client<R> {
    commands: mpsc::Sender<Command>,
    ended: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
    rt: Arc<dyn Runtime>,
    client_id: Arc<str>,
    /// The configuration's namesrvs and namespace (for the admin API).
    namesrv_addrs: Arc<[String]>,
    namespace: Arc<Namespace>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            ended: self.ended.clone(),
            in_flight: self.in_flight.clone(),
            rt: self.rt.clone(),
            client_id: self.client_id.clone(),
            namesrv_addrs: self.namesrv_addrs.clone(),
            namespace: self.namespace.clone(),
            _runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

impl<R: CurrentRuntime> Client<R> {
    /// Starts a client on the runtime of the calling context.
    pub async fn start(config: ClientConfig) -> Result<Self, ClientError> {
        Self::start_with(R::current()?, config, DriverOptions::default())
    }

    /// [`Client::start`] with driver options.
    pub async fn start_with_options(
        config: ClientConfig,
        options: DriverOptions,
    ) -> Result<Self, ClientError> {
        Self::start_with(R::current()?, config, options)
    }
}

impl<R: Runtime> Client<R> {
    /// Starts a client on `runtime`: spawns the driver task.
    pub fn start_with(
        runtime: R,
        config: ClientConfig,
        options: DriverOptions,
    ) -> Result<Self, ClientError> {
        let rt: Arc<dyn Runtime> = Arc::new(runtime);
        let in_flight = InFlight::new(options.producer);
        let namesrv_addrs: Arc<[String]> = config.namesrv_addrs.clone().into();
        let namespace = Arc::new(config.namespace.clone());
        let shell = Shell::new(config, options, rt.now());
        let client_id: Arc<str> = Arc::from(shell.client_id());
        let (commands, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
        let ended = Arc::new(AtomicBool::new(false));
        rt.spawn(Box::pin(driver::run(
            rt.clone(),
            shell,
            commands_rx,
            ended.clone(),
        )));
        Ok(Self {
            commands,
            ended,
            in_flight,
            rt,
            client_id,
            namesrv_addrs,
            namespace,
            _runtime: PhantomData,
        })
    }
}

impl<R> Client<R> {
    /// Signs every request from now on with `credentials` (`None`: unsigned): rotate keys on
    /// a running client. Servers authenticate a connection once, so every connection is
    /// closed and opened again; requests in flight on them fail with `ConnectionClosed`
    /// (sends retry within their budget).
    pub async fn set_credentials(
        &self,
        credentials: Option<Credentials>,
    ) -> Result<(), ClientError> {
        let (command, rx) = Command::set_credentials(credentials);
        self.send(command).await?;
        reply_result(rx.await)
    }

    /// Asks the namesrvs for `topic`'s route.
    pub async fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        let (command, rx) = Command::query_route(topic);
        self.send(command).await?;
        reply_result(rx.await)
    }

    /// Sends `command` to `addr` and returns the response matched to it, whatever its code.
    pub async fn invoke(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let (command, rx) = Command::invoke(addr, command, timeout);
        self.send(command).await?;
        reply_result(rx.await)
    }

    /// [`Client::invoke`], with a response code other than `SUCCESS` mapped to
    /// [`ClientError::Rejected`].
    pub async fn invoke_ok(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        check_success(self.invoke(addr, command, timeout).await?)
    }

    /// Sends `command` to `addr` as a oneway request (returns once it is queued).
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        command: RemotingCommand,
    ) -> Result<(), ClientError> {
        let (command, rx) = Command::invoke_oneway(addr, command);
        self.send(command).await?;
        reply_result(rx.await)
    }

    /// The next request a broker sent us; `None` once the client is shut down.
    ///
    /// Requests are held for a while ([`DriverOptions`]); one nobody takes in time is answered
    /// `SYSTEM_ERROR` (or `SYSTEM_BUSY` when the buffer is full) so the broker is not left
    /// waiting. Oneway requests that are not taken are dropped.
    pub async fn next_request(&self) -> Option<IncomingRequest> {
        let (command, rx) = Command::next_request();
        self.send(command).await.ok()?;
        rx.await.ok().flatten()
    }

    /// The client's events from now on: connections opened, failed and lost, brokers the
    /// producers isolate and restore, topic routes that change (see
    /// [`ClientNotice`](rocketwire_core::ClientNotice)). A [`futures::Stream`] that ends
    /// when the client has shut down; a subscriber that does not keep up is told how many
    /// events it missed and never slows the client.
    pub async fn events(&self) -> ClientEvents {
        let (command, events) = Command::subscribe_events();
        // After shutdown the command is dropped and the stream ends at once.
        let _ = self.send(command).await;
        events
    }

    /// Answers a request taken with [`Client::next_request`].
    pub async fn answer(
        &self,
        token: AnswerToken,
        response: RemotingCommand,
    ) -> Result<(), ClientError> {
        let (command, rx) = Command::answer(token, response);
        self.send(command).await?;
        reply_result(rx.await)
    }

    /// Shuts the client down gracefully and returns once the driver and every connection
    /// task have ended: every consumer closes first (it stops pulling, its handlers get until
    /// `timeout` to finish the deliveries they hold, then its offsets are persisted and it
    /// unregisters), every producer closes (its sends end, it unregisters), then every
    /// connection closes and what is still pending fails with [`ClientError::Shutdown`].
    /// Other handles then get [`ClientError::Shutdown`]. Shutting down a client already shut
    /// down returns `Ok`.
    pub async fn shutdown(self, timeout: Duration) -> Result<(), ClientError> {
        let (command, rx) = Command::shutdown(timeout);
        if self.send(command).await.is_err() {
            return Ok(());
        }
        match rx.await {
            Ok(result) => result,
            Err(oneshot::Canceled) => Ok(()),
        }
    }

    /// The client's in-flight send counter.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.in_flight
    }

    /// This client's id as brokers see it (`ip@instance`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The namesrv addresses the client was started with.
    pub fn namesrv_addrs(&self) -> &[String] {
        &self.namesrv_addrs
    }

    /// The namespace the client puts its topics and groups in.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The runtime the client runs on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }

    /// Whether the driver and all its connection tasks have ended.
    pub fn is_shut_down(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// A guard that hands `command` to the driver when dropped, without waiting: a fresh
    /// sender of the command channel always has room for one command.
    pub(crate) fn close_on_drop(
        &self,
        command: impl FnOnce() -> Command + Send + 'static,
    ) -> CloseOnDrop {
        let mut commands = self.commands.clone();
        CloseOnDrop::new(move || {
            let _ = commands.try_send(command());
        })
    }

    pub(crate) fn try_send_command(&self, command: Command) -> Result<(), TrySendError> {
        self.commands.clone().try_send(command).map_err(|e| {
            if e.is_disconnected() {
                TrySendError::Shutdown
            } else {
                TrySendError::Full
            }
        })
    }

    pub(crate) async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .clone()
            .send(command)
            .await
            .map_err(|_| ClientError::Shutdown)
    }
}
