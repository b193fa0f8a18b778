//! [`Shell`]: the [`ClientCore`] plus the bookkeeping every adapter needs, without IO.
//!
//! The shell turns user [`Command`]s into core calls, routes core events to the reply channel
//! of the operation that asked for them, holds broker→client requests until someone takes them
//! with [`Command::NextRequest`], and hands the loop that owns it only the IO work ([`Io`]).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use rocketwire_core::acl::Credentials;
use rocketwire_core::body::{MessageQueue, TopicRouteData};
use rocketwire_core::client::{AnswerToken, ProducerId, SendMode, SendTarget};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::header::TransactionState;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendError, SendResult};
use rocketwire_core::{
    ClientConfig, ClientCore, ClientError, ClientIdCollision, ConnId, ConsumeDirectlyToken,
    ConsumeOutcome, ConsumerCloseReport, ConsumerError, ConsumerId, ConsumerRefusal, DeliveryId,
    Event, IncomingRequest, Input, InvokeError, LocalTransactionToken, Misuse, OpId, Output,
    RemotingCommand, RequestError, ResponseCode, SystemWallClock, TransactionCheckToken,
    TransactionSendResult,
};

use crate::events::{ClientEvents, EventHub, Subscriber};
use crate::inflight::{Permit, ProducerOptions};
use crate::observe::{self, SendMeter};
use crate::tls::TlsConfig;

/// Where a transactional send's result goes.
pub type TransactionReply = oneshot::Sender<Result<TransactionSendResult, SendError>>;
/// What a consumer's state query returns: assigned queues and committable offsets.
pub type ConsumerState = (Vec<MessageQueue>, BTreeMap<MessageQueue, i64>);

/// Tunables of the driver (not of the protocol; those live in [`ClientConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverOptions {
    /// How many broker→client requests are held for [`Command::NextRequest`]. When full, a new
    /// request that expects an answer is answered `SYSTEM_BUSY` at once; a oneway one is dropped.
    pub request_buffer: usize,
    /// How long a broker→client request waits to be taken. Then a request that expects an
    /// answer is answered `SYSTEM_ERROR` ("no handler took the request"); a oneway one is dropped.
    pub unclaimed_request_timeout: Duration,
    /// Bounds on in-flight sends, shared by every handle of the client.
    pub producer: ProducerOptions,
    /// Most bytes queued for one connection and not yet taken by its writer (default
    /// 128 MiB, twice the in-flight sends' byte bound, so only a peer that stopped reading
    /// reaches it). A frame that would go past it closes the connection instead: its
    /// requests fail with `ConnectionClosed` (sends retry on a new connection) and the
    /// queued bytes are freed.
    pub max_connection_queue_bytes: usize,
    /// TLS for every connection (namesrv and brokers), or `None` for plain TCP (default).
    pub tls: Option<TlsConfig>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self {
            request_buffer: 64,
            unclaimed_request_timeout: Duration::from_secs(3),
            producer: ProducerOptions::default(),
            max_connection_queue_bytes: 128 * 1024 * 1024,
            tls: None,
        }
    }
}

impl DriverOptions {
    /// Sets [`DriverOptions::tls`]: every connection runs TLS under `config`.
    pub fn with_tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets [`DriverOptions::request_buffer`].
    pub fn with_request_buffer(mut self, n: usize) -> Self {
        self.request_buffer = n;
        self
    }

    /// Sets [`DriverOptions::unclaimed_request_timeout`].
    pub fn with_unclaimed_request_timeout(mut self, timeout: Duration) -> Self {
        self.unclaimed_request_timeout = timeout;
        self
    }

    /// Sets [`DriverOptions::producer`].
    pub fn with_producer_options(mut self, producer: ProducerOptions) -> Self {
        self.producer = producer;
        self
    }

    /// Sets [`DriverOptions::max_connection_queue_bytes`].
    pub fn with_max_connection_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_connection_queue_bytes = bytes;
        self
    }
}

/// Where a result goes: the sending half of a oneshot (usable from async code and threads).
pub type Reply<T> = oneshot::Sender<Result<T, ClientError>>;
/// The receiving half matching [`Reply`]; resolve it with [`reply_result`].
pub type ReplyReceiver<T> = oneshot::Receiver<Result<T, ClientError>>;

mod command;
mod handout;

use command::refuse_after_shutdown;
pub use command::{Command, SendPayload, SendReply};
pub(crate) use handout::shutdown_error;
pub use handout::{
    ConsumerEvent, ConsumerSink, LocalTransaction, QueueChange, SendHandle, TakeEvents,
    TransactionCheck, TrySendError,
};

/// Flattens what a [`ReplyReceiver`] yields: a dropped sender means the driver is gone.
pub fn reply_result<T>(
    received: Result<Result<T, ClientError>, oneshot::Canceled>,
) -> Result<T, ClientError> {
    received.unwrap_or(Err(ClientError::Shutdown))
}

/// Logs a command the core refused as misuse, where the command has no reply to carry it.
fn misused(result: Result<(), Misuse>) {
    if let Err(misuse) = result {
        tracing::warn!(%misuse, "command refused");
    }
}

/// Maps a response whose code is not `SUCCESS` to [`ClientError::Rejected`].
pub fn check_success(response: RemotingCommand) -> Result<RemotingCommand, ClientError> {
    match response.response_code() {
        ResponseCode::Success => Ok(response),
        code => Err(ClientError::Rejected {
            code,
            remark: response.remark.unwrap_or_default(),
        }),
    }
}

/// IO work for the loop that owns the [`Shell`].
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum Io {
    /// Open a connection (with [`ClientConfig::connect_timeout`]); report
    /// [`Input::Connected`] or [`Input::ConnectFailed`].
    Connect {
        /// Connection id.
        conn: ConnId,
        /// `host:port`.
        addr: String,
    },
    /// Write `head` then `body`.
    Transmit {
        /// Connection id.
        conn: ConnId,
        /// Length, header word and header.
        head: Bytes,
        /// Body.
        body: Bytes,
    },
    /// Close the connection.
    Close {
        /// Connection id.
        conn: ConnId,
    },
    /// Nothing to do until an input, a command or this deadline ([`Shell::handle_timeout`]).
    Wait(Option<Instant>),
    /// Shutdown is complete on the core's side: end every IO task, then call
    /// [`Shell::finish`].
    Finished,
}

/// A broker→client request nobody has taken yet.
#[derive(Debug)]
struct Unclaimed {
    expires: Instant,
    request: IncomingRequest,
}

/// Who waits for an operation's result.
#[derive(Debug)]
enum Pending {
    Route(Reply<TopicRouteData>),
    Invoke(Reply<RemotingCommand>),
    /// The permit is released when the entry is dropped, i.e. when the result arrived.
    Send(SendReply, Option<Permit>, SendMeter),
    CloseProducer(Reply<()>),
    CloseConsumer(Reply<ConsumerCloseReport>),
    CommitOffsets(Reply<()>),
    /// A request waiting for its reply.
    Request(oneshot::Sender<Result<MessageExt, RequestError>>),
    /// A transactional send: who runs the local transaction, who gets the result.
    Transaction {
        execute: Option<oneshot::Sender<LocalTransaction>>,
        reply: TransactionReply,
        _permit: Option<Permit>,
    },
}

/// The core plus the reply table; owned by exactly one loop (async task or thread).
#[derive(Debug)]
pub struct Shell {
    core: ClientCore,
    options: DriverOptions,
    pending: HashMap<OpId, Pending>,
    /// Connections handed out with [`Io::Connect`] and not yet closed.
    conns: HashSet<ConnId>,
    unclaimed: VecDeque<Unclaimed>,
    takers: VecDeque<oneshot::Sender<Option<IncomingRequest>>>,
    /// `Some` once shutdown began: who waits for its end.
    shutdown: Option<Vec<Reply<()>>>,
    /// Where each live consumer's events go.
    consumers: HashMap<ConsumerId, ConsumerSink>,
    /// Group, kind and mode of each live consumer.
    /// Deliveries of lite pull consumers not yet acked, for [`Command::Seek`].

    /// Order of offset-file contents.
    persist_seq: u64,
    /// Where broker checks of each transactional producer go.
    checkers: HashMap<ProducerId, mpsc::UnboundedSender<TransactionCheck>>,
    /// When the consumers' gauges were last exported ([`observe::STATS_PERIOD`]).
    stats_at: Option<Instant>,
    /// A delivery, an ack or a send result since then: the gauges are due again.
    stats_dirty: bool,
    /// Who gets the core's notices ([`Command::SubscribeEvents`]).
    events: EventHub,
}

impl Shell {
    /// A shell around a new core with the system wall clock and a seed from the OS. A `pid`
    /// of 0 in `config` is replaced by this process's id, an empty `client_ip` by this
    /// host's address ([`crate::detect_client_ip`]).
    pub fn new(mut config: ClientConfig, options: DriverOptions, now: Instant) -> Self {
        if config.pid == 0 {
            config.pid = std::process::id();
        }
        if config.client_ip.is_empty() {
            config.client_ip = crate::detect_client_ip().to_string();
        }
        let core = ClientCore::new(config, Box::new(SystemWallClock), os_seed(), now);
        Self::with_core(core, options)
    }

    /// A shell around an existing core.
    pub fn with_core(core: ClientCore, options: DriverOptions) -> Self {
        Self {
            core,
            options,
            pending: HashMap::new(),
            conns: HashSet::new(),
            unclaimed: VecDeque::new(),
            takers: VecDeque::new(),
            shutdown: None,
            consumers: HashMap::new(),
            persist_seq: 0,
            checkers: HashMap::new(),
            stats_at: None,
            stats_dirty: false,
            events: EventHub::default(),
        }
    }

    /// This client's id as brokers see it (`ip@instance`).
    pub fn client_id(&self) -> &str {
        self.core.client_id()
    }

    /// The core's configuration.
    pub fn config(&self) -> &ClientConfig {
        self.core.config()
    }

    /// The driver options.
    pub fn options(&self) -> &DriverOptions {
        &self.options
    }

    /// Applies a user command.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        let command = match &mut self.shutdown {
            Some(waiters) => match refuse_after_shutdown(waiters, command) {
                Some(command) => command,
                None => return,
            },
            None => command,
        };
        match command {
            Command::QueryRoute { topic, reply } => {
                let op = self.core.query_route(now, &topic);
                self.pending.insert(op, Pending::Route(reply));
            }
            Command::Invoke {
                addr,
                command,
                timeout,
                reply,
            } => {
                let op = self.core.invoke(now, &addr, command, timeout);
                self.pending.insert(op, Pending::Invoke(reply));
            }
            Command::InvokeOneway {
                addr,
                command,
                reply,
            } => {
                self.core.invoke_oneway(now, &addr, command);
                let _ = reply.send(Ok(()));
            }
            Command::Answer {
                token,
                response,
                reply,
            } => {
                self.core.answer(now, token, response);
                let _ = reply.send(Ok(()));
            }
            Command::CreateProducer {
                config,
                selector,
                reply,
            } => {
                let id = self.core.create_producer(now, *config, selector);
                let _ = reply.send(Ok(id));
            }
            Command::Send {
                producer,
                payload,
                target,
                mode,
                reply,
                permit,
            } => {
                let mode = match reply {
                    SendReply::Written(_) => SendMode::Oneway,
                    SendReply::Stored(_) if mode == SendMode::Oneway => SendMode::Async,
                    SendReply::Stored(_) => mode,
                };
                let meter = SendMeter::start(payload.topic(), now);
                let op = match payload {
                    SendPayload::One(m) => self.core.send(now, producer, m, target, mode),
                    SendPayload::Batch(ms) => self.core.send_batch(now, producer, ms, target, mode),
                };
                match op {
                    Ok(op) => drop(self.pending.insert(op, Pending::Send(reply, permit, meter))),
                    Err(misuse) => reply.fail(misuse.into()),
                }
            }
            Command::CloseProducer { producer, reply } => {
                match self.core.close_producer(now, producer) {
                    Ok(op) => drop(self.pending.insert(op, Pending::CloseProducer(reply))),
                    Err(misuse) => drop(reply.send(Err(misuse.into()))),
                }
            }
            Command::CreateConsumer {
                config,
                subscriptions,
                local_offsets,
                events,
                lite,
                reply,
            } => {
                let created = if lite {
                    self.core.create_lite_consumer(
                        now,
                        *config,
                        subscriptions,
                        local_offsets.as_deref(),
                    )
                } else {
                    self.core
                        .create_consumer(now, *config, subscriptions, local_offsets.as_deref())
                };
                if let Ok(id) = created {
                    self.consumers.insert(id, events);
                }
                let _ = reply.send(created);
            }
            Command::Ack { delivery, outcome } => {
                self.stats_dirty = true;
                // A late ack (after a consume timeout or an abandon) is expected: quiet.
                if let Err(misuse) = self.core.ack(now, delivery, outcome) {
                    tracing::debug!(%misuse, "ack refused");
                }
            }
            Command::Subscribe {
                consumer,
                subscription,
            } => misused(self.core.subscribe(now, consumer, subscription)),
            Command::Unsubscribe { consumer, topic } => {
                misused(self.core.unsubscribe(now, consumer, &topic))
            }
            Command::Assign { consumer, queues } => {
                misused(self.core.assign(now, consumer, queues))
            }
            Command::Seek {
                consumer,
                queue,
                offset,
                reply,
            } => {
                let result = self.core.seek(now, consumer, &queue, offset);
                let _ = reply.send(result.map_err(ClientError::from));
            }
            Command::AnswerConsumeDirectly {
                token,
                outcome,
                spent,
            } => self
                .core
                .answer_consume_directly(now, token, outcome, spent),
            Command::Pause { consumer, queues } => misused(self.core.pause(consumer, &queues)),
            Command::Resume { consumer, queues } => {
                misused(self.core.resume(now, consumer, &queues))
            }
            Command::CommitOffsets {
                consumer,
                settle,
                reply,
            } => {
                for delivery in settle {
                    misused(self.core.ack(now, delivery, ConsumeOutcome::Success));
                }
                match self.core.commit_offsets(now, consumer) {
                    Ok(op) => drop(self.pending.insert(op, Pending::CommitOffsets(reply))),
                    Err(misuse) => drop(reply.send(Err(misuse.into()))),
                }
            }
            Command::CloseConsumer { consumer, reply } => {
                match self.core.close_consumer(now, consumer) {
                    Ok(op) => drop(self.pending.insert(op, Pending::CloseConsumer(reply))),
                    Err(misuse) => drop(reply.send(Err(misuse.into()))),
                }
            }
            Command::AbandonDeliveries { consumer } => {
                // The close may have ended just before the drain deadline: nothing to abandon.
                if let Err(misuse) = self.core.abandon_deliveries(now, consumer) {
                    tracing::debug!(%misuse, "nothing to abandon");
                }
            }
            Command::ClientIdCollision { consumer, reply } => {
                let _ = reply.send(self.core.client_id_collision(consumer));
            }
            Command::ConsumerRefusal { consumer, reply } => {
                let _ = reply.send(self.core.consumer_refusal(consumer));
            }
            Command::ConsumerState { consumer, reply } => {
                let _ = reply.send((
                    self.core.assigned_queues(consumer),
                    self.core.consumer_offsets(consumer),
                ));
            }
            Command::CreateTransactionProducer {
                config,
                checks,
                reply,
            } => {
                let id = self
                    .core
                    .create_producer(now, *config, QueueSelector::RoundRobin);
                self.checkers.insert(id, checks);
                let _ = reply.send(Ok(id));
            }
            Command::Request {
                producer,
                message,
                timeout,
                reply,
            } => match self.core.request_reply(now, producer, message, timeout) {
                Ok(op) => {
                    self.pending.insert(op, Pending::Request(reply));
                }
                Err(misuse) => drop(reply.send(Err(RequestError::Send(misuse.into())))),
            },
            Command::SendTransactional {
                producer,
                message,
                execute,
                reply,
                permit,
            } => match self.core.send_transactional(now, producer, message) {
                Ok(op) => {
                    let pending = Pending::Transaction {
                        execute: Some(execute),
                        reply,
                        _permit: permit,
                    };
                    self.pending.insert(op, pending);
                }
                Err(misuse) => drop(reply.send(Err(misuse.into()))),
            },
            Command::EndLocalTransaction {
                token,
                state,
                remark,
            } => self.core.end_local_transaction(now, token, state, remark),
            Command::AnswerCheck { token, state } => {
                self.core.answer_transaction_check(now, token, state)
            }
            Command::SubscribeEvents(subscriber) => self.events.subscribe(subscriber),
            Command::NextRequest { reply } => match self.unclaimed.pop_front() {
                Some(u) => {
                    if let Err(Some(request)) = reply.send(Some(u.request)) {
                        // The taker gave up before we answered: keep the request.
                        self.unclaimed.push_front(Unclaimed {
                            expires: u.expires,
                            request,
                        });
                    }
                }
                None => self.takers.push_back(reply),
            },
            Command::SetCredentials { credentials, reply } => {
                self.core.set_credentials(now, credentials);
                let _ = reply.send(Ok(()));
            }
            Command::Shutdown { drain, reply } => {
                self.shutdown = Some(vec![reply]);
                for taker in self.takers.drain(..) {
                    let _ = taker.send(None);
                }
                // Their connections are closing: answering them is moot.
                self.unclaimed.clear();
                self.core.shutdown(now, drain);
            }
        }
    }

    /// Feeds an IO event to the core. Late events of a connection already closed (the IO task
    /// raced with [`Io::Close`]) are dropped here, so IO loops need not filter them.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        let conn = match &input {
            Input::Connected(c) | Input::Received(c, _) | Input::LocalAddr(c, _) => {
                Some((*c, false))
            }
            Input::ConnectFailed(c, _) | Input::TlsFailed(c, _) | Input::Closed(c) => {
                Some((*c, true))
            }
            Input::Timeout => None,
        };
        if let Some((conn, ends)) = conn {
            let known = if ends {
                let removed = self.conns.remove(&conn);
                if removed {
                    observe::disconnected(true);
                }
                removed
            } else {
                self.conns.contains(&conn)
            };
            if !known {
                tracing::trace!(?conn, "input for a closed connection dropped");
                return;
            }
        }
        self.core.handle_input(now, input);
    }

    /// The deadline of the last [`Io::Wait`] passed (early calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_input(now, Input::Timeout);
        while self.unclaimed.front().is_some_and(|u| u.expires <= now) {
            if let Some(u) = self.unclaimed.pop_front() {
                tracing::warn!(code = u.request.command.code, addr = %u.request.addr,
                    "broker request not taken in time");
                self.refuse(
                    now,
                    u.request,
                    ResponseCode::SystemError,
                    "no handler took the request in time",
                );
            }
        }
    }

    /// The next IO work; call until it returns [`Io::Wait`] or [`Io::Finished`].
    pub fn poll(&mut self, now: Instant) -> Io {
        loop {
            let deadline = match self.core.poll_output(now) {
                Output::Connect { conn, addr } => {
                    if self.conns.insert(conn) {
                        observe::connecting(&addr);
                    }
                    return Io::Connect { conn, addr };
                }
                Output::Transmit { conn, head, body } => return Io::Transmit { conn, head, body },
                Output::Close { conn } => {
                    if self.conns.remove(&conn) {
                        observe::disconnected(false);
                    }
                    return Io::Close { conn };
                }
                Output::Event(event) => {
                    self.handle_event(now, event);
                    continue;
                }
                Output::Timeout(at) => Some(at),
                Output::Idle => None,
            };
            // Every event of the moment is handled: handlers start on all their deliveries.
            self.consumers.values_mut().for_each(ConsumerSink::flush);
            while let Some(notice) = self.core.poll_notice() {
                self.events.publish(notice);
            }
            if self.shutdown.is_some() && self.core.is_closed() {
                self.events.close();
                return Io::Finished;
            }
            let expiry = self.unclaimed.front().map(|u| u.expires);
            // Deliveries handled just now may make the gauges due: export rather than ask
            // for a wake-up in the past.
            self.export_stats(now);
            let stats = self.stats_dirty.then(|| self.stats_due()).flatten();
            return Io::Wait([deadline, expiry, stats].into_iter().flatten().min());
        }
    }

    /// Ends the shell after [`Io::Finished`] and after every IO task ended: drops the core
    /// and returns who waits for the shutdown to complete.
    pub fn finish(self) -> ShutdownComplete {
        ShutdownComplete(self.shutdown.unwrap_or_default())
    }

    /// When the consumers' gauges may be exported again.
    fn stats_due(&self) -> Option<Instant> {
        self.stats_at.map(|t| t + observe::STATS_PERIOD)
    }

    /// Hands `event` to `consumer`'s sink; false when the consumer is gone or takes no events
    /// any more.
    fn hand_to_consumer(&mut self, consumer: ConsumerId, event: ConsumerEvent) -> bool {
        self.consumers
            .get_mut(&consumer)
            .is_some_and(|sink| sink.take(event))
    }

    /// The consumers' gauges and the isolated brokers: after deliveries, acks or send
    /// results, at most once per [`observe::STATS_PERIOD`] (an idle client gets no wake-up).
    fn export_stats(&mut self, now: Instant) {
        if !self.stats_dirty || self.stats_due().is_some_and(|due| now < due) {
            return;
        }
        self.stats_at = Some(now);
        self.stats_dirty = false;
        for id in self.consumers.keys() {
            if let Some(group) = self.core.consumer_group(*id) {
                observe::consumer_stats(&group, &self.core.consumer_stats(*id));
            }
        }
        for (group, stats) in self.core.auto_batch_stats() {
            observe::auto_batch_stats(&group, &stats);
        }
        observe::isolated_brokers(self.core.isolated_brokers(now).len());
    }

    fn handle_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Response { op, result } => match self.pending.remove(&op) {
                Some(Pending::Invoke(reply)) => {
                    let _ = reply.send(result.map_err(|e| match e {
                        InvokeError::Shutdown => ClientError::Shutdown,
                        e => ClientError::Invoke(e),
                    }));
                }
                other => tracing::debug!(?op, ?other, "response for no invoke"),
            },
            Event::Route { op, result, .. } => match self.pending.remove(&op) {
                Some(Pending::Route(reply)) => {
                    let _ = reply.send(result.map_err(ClientError::Route));
                }
                other => tracing::debug!(?op, ?other, "route for no query"),
            },
            Event::Send { op, result } => match self.pending.remove(&op) {
                Some(Pending::Send(SendReply::Stored(reply), permit, meter)) => {
                    self.stats_dirty = true;
                    // Room first, so a caller woken by the result finds it.
                    drop(permit);
                    meter.stored(now, &result);
                    let _ = reply.send(result);
                }
                other => tracing::debug!(?op, ?other, "send result for no send"),
            },
            Event::OnewaySent { op, result } => match self.pending.remove(&op) {
                Some(Pending::Send(SendReply::Written(reply), permit, meter)) => {
                    // Room first, so a caller woken by the result finds it.
                    drop(permit);
                    meter.written(now, &result);
                    let _ = reply.send(result);
                }
                other => tracing::debug!(?op, ?other, "oneway result for no oneway send"),
            },
            Event::ProducerClosed { op, producer } => {
                // Dropping the sender ends the checks' workers.
                self.checkers.remove(&producer);
                match self.pending.remove(&op) {
                    Some(Pending::CloseProducer(reply)) => drop(reply.send(Ok(()))),
                    // Closed by a graceful shutdown.
                    other => tracing::debug!(?op, ?other, "producer closed for no close"),
                }
            }
            Event::Deliver {
                consumer,
                delivery,
                queue,
                messages,
            } => {
                self.stats_dirty = true;
                let event = ConsumerEvent::Deliver {
                    delivery,
                    queue,
                    messages,
                };
                if !self.hand_to_consumer(consumer, event) {
                    // Nobody consumes any more: the close abandons it.
                    tracing::debug!(?consumer, ?delivery, "delivery for a consumer gone");
                }
            }
            Event::PersistLocalOffsets { consumer, content } => {
                self.persist_seq += 1;
                let seq = self.persist_seq;
                self.hand_to_consumer(consumer, ConsumerEvent::PersistOffsets { seq, content });
            }
            Event::ConsumerClosed {
                op,
                consumer,
                report,
            } => {
                // Dropping the sender ends the consumer's dispatcher.
                self.consumers.remove(&consumer);
                match self.pending.remove(&op) {
                    Some(Pending::CloseConsumer(reply)) => {
                        let _ = reply.send(Ok(report));
                    }
                    other => tracing::debug!(?op, ?other, "consumer closed for no close"),
                }
            }
            Event::ExecuteLocalTransaction {
                op,
                token,
                message,
                send_result,
            } => {
                let local = LocalTransaction {
                    token,
                    message,
                    send_result,
                };
                let execute = match self.pending.get_mut(&op) {
                    Some(Pending::Transaction { execute, .. }) => execute.take(),
                    _ => None,
                };
                let refused = match execute {
                    Some(tx) => tx.send(local).err(),
                    None => Some(local),
                };
                if let Some(local) = refused {
                    // The caller gave up: leave the decision to the broker's check.
                    let remark = Some("local transaction not run: caller gone".to_string());
                    self.core.end_local_transaction(
                        now,
                        local.token,
                        TransactionState::Unknown,
                        remark,
                    );
                }
            }
            Event::Transaction { op, result } => match self.pending.remove(&op) {
                Some(Pending::Transaction { reply, .. }) => {
                    let _ = reply.send(result);
                }
                other => tracing::debug!(?op, ?other, "transaction result for no send"),
            },
            Event::CheckTransaction {
                producer,
                token,
                message,
            } => {
                let check = TransactionCheck { token, message };
                let taken = self
                    .checkers
                    .get(&producer)
                    .is_some_and(|tx| tx.unbounded_send(check).is_ok());
                if !taken {
                    // Unanswered: the broker asks again later.
                    tracing::debug!(?producer, "transaction check with no listener");
                }
            }
            Event::OffsetsCommitted { op, .. } => match self.pending.remove(&op) {
                Some(Pending::CommitOffsets(reply)) => {
                    let _ = reply.send(Ok(()));
                }
                other => tracing::debug!(?op, ?other, "offsets committed for no commit"),
            },
            Event::Request(request) => self.handle_request(now, request),
            Event::Reply { op, result } => match self.pending.remove(&op) {
                Some(Pending::Request(reply)) => drop(reply.send(result)),
                other => tracing::debug!(?op, ?other, "reply for no request"),
            },
            Event::ConsumeDirectly {
                consumer,
                token,
                messages,
            } => {
                let event = ConsumerEvent::ConsumeDirectly { token, messages };
                if !self.hand_to_consumer(consumer, event) {
                    // Closing: the broker's request times out, as for a client gone.
                    tracing::debug!(?consumer, "consume-directly for a consumer gone");
                }
            }
            Event::Seeked { consumer, queue } => {
                self.hand_to_consumer(consumer, ConsumerEvent::Seeked { queue });
            }
            Event::QueuesChanged {
                consumer,
                topic,
                queues,
            } => {
                let change = ConsumerEvent::QueuesChanged(QueueChange { topic, queues });
                self.hand_to_consumer(consumer, change);
            }
            #[allow(unreachable_patterns)] // the core's event list will grow
            other => tracing::debug!(?other, "event not handled by the driver"),
        }
    }

    fn handle_request(&mut self, now: Instant, mut request: IncomingRequest) {
        while let Some(taker) = self.takers.pop_front() {
            match taker.send(Some(request)) {
                Ok(()) => return,
                Err(back) => match back {
                    Some(r) => request = r,
                    None => return,
                },
            }
        }
        if self.unclaimed.len() >= self.options.request_buffer {
            tracing::warn!(code = request.command.code, "broker request buffer full");
            self.refuse(
                now,
                request,
                ResponseCode::SystemBusy,
                "client request buffer is full",
            );
            return;
        }
        let expires = now + self.options.unclaimed_request_timeout;
        self.unclaimed.push_back(Unclaimed { expires, request });
    }

    fn refuse(&mut self, now: Instant, request: IncomingRequest, code: ResponseCode, remark: &str) {
        if let Some(token) = request.token {
            let response = RemotingCommand::response_to(&request.command, code).with_remark(remark);
            self.core.answer(now, token, response);
        }
    }
}

/// Who waits for a shutdown; returned by [`Shell::finish`].
#[derive(Debug)]
#[must_use = "notify the shutdown waiters"]
pub struct ShutdownComplete(Vec<Reply<()>>);

impl ShutdownComplete {
    /// Tells every waiter the shutdown is complete. Call it last.
    pub fn notify(self) {
        for reply in self.0 {
            let _ = reply.send(Ok(()));
        }
    }
}

/// A seed for the core's RNG from the OS: std's per-process random hasher keys, the time and
/// the process id.
pub fn os_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use rocketwire_core::codec::RequestCode;
    use rocketwire_core::codec::{encode_to_vec, FrameDecoder};
    use rocketwire_core::SerializeType;

    use super::*;

    const ADDR: &str = "127.0.0.1:10911";

    /// A shell with one open connection (opened by a pending invoke), its id, and the time.
    fn connected(
        options: DriverOptions,
    ) -> (Shell, ConnId, Instant, ReplyReceiver<RemotingCommand>) {
        let now = Instant::now();
        let mut shell = Shell::new(ClientConfig::new(vec![ADDR.into()]), options, now);
        let (command, rx) = Command::invoke(
            ADDR,
            RemotingCommand::request_code(9000),
            Duration::from_secs(10),
        );
        shell.handle_command(now, command);
        let Io::Connect { conn, addr } = shell.poll(now) else {
            panic!("expected a connect")
        };
        assert_eq!(addr, ADDR);
        shell.handle_input(now, Input::Connected(conn));
        assert!(matches!(shell.poll(now), Io::Transmit { .. }));
        assert!(matches!(shell.poll(now), Io::Wait(Some(_))));
        (shell, conn, now, rx)
    }

    fn broker_request(opaque: i32, oneway: bool) -> Bytes {
        let mut cmd = RemotingCommand::request_code(9001);
        cmd.opaque = opaque;
        if oneway {
            cmd = cmd.oneway();
        }
        Bytes::from(encode_to_vec(&cmd, SerializeType::Json).expect("encodes"))
    }

    /// The next IO must be a frame: decode it.
    fn transmitted(shell: &mut Shell, now: Instant) -> RemotingCommand {
        let Io::Transmit { head, body, .. } = shell.poll(now) else {
            panic!("expected a frame")
        };
        let mut buf = BytesMut::from(&head[..]);
        buf.extend_from_slice(&body);
        FrameDecoder::default()
            .decode(&mut buf)
            .expect("valid")
            .expect("whole")
    }

    /// The request a [`Command::next_request`] taker got (panics if none came yet).
    fn delivered(
        taken: &mut oneshot::Receiver<Option<rocketwire_core::IncomingRequest>>,
    ) -> rocketwire_core::IncomingRequest {
        taken
            .try_recv()
            .expect("not canceled")
            .expect("delivered")
            .expect("some")
    }

    #[test]
    fn request_waits_for_a_taker_then_is_delivered() {
        let (mut shell, conn, now, _rx) = connected(DriverOptions::default());
        shell.handle_input(now, Input::Received(conn, broker_request(7, false)));
        assert!(matches!(shell.poll(now), Io::Wait(Some(_))));
        let (command, mut taken) = Command::next_request();
        shell.handle_command(now, command);
        let request = delivered(&mut taken);
        assert_eq!(request.command.opaque, 7);
        assert!(request.token.is_some());
    }

    #[test]
    fn waiting_taker_gets_the_request_at_once() {
        let (mut shell, conn, now, _rx) = connected(DriverOptions::default());
        let (command, mut taken) = Command::next_request();
        shell.handle_command(now, command);
        assert!(matches!(taken.try_recv(), Ok(None)));
        shell.handle_input(now, Input::Received(conn, broker_request(8, true)));
        assert!(matches!(shell.poll(now), Io::Wait(_)));
        let request = delivered(&mut taken);
        assert_eq!(request.command.opaque, 8);
        assert_eq!(request.token, None, "oneway");
    }

    #[test]
    fn full_buffer_answers_system_busy() {
        let (mut shell, conn, now, _rx) =
            connected(DriverOptions::default().with_request_buffer(1));
        shell.handle_input(now, Input::Received(conn, broker_request(1, false)));
        assert!(matches!(shell.poll(now), Io::Wait(_)));
        shell.handle_input(now, Input::Received(conn, broker_request(2, false)));
        let answer = transmitted(&mut shell, now);
        assert_eq!(
            (answer.opaque, answer.response_code()),
            (2, ResponseCode::SystemBusy)
        );
        assert!(answer.is_response());
    }

    #[test]
    fn unclaimed_request_is_answered_system_error_at_its_deadline() {
        let hold = Duration::from_millis(500);
        let options = DriverOptions::default().with_unclaimed_request_timeout(hold);
        let (mut shell, conn, now, _rx) = connected(options);
        shell.handle_input(now, Input::Received(conn, broker_request(3, false)));
        let Io::Wait(Some(deadline)) = shell.poll(now) else {
            panic!("expected a deadline")
        };
        assert_eq!(
            deadline,
            now + hold,
            "the hold deadline comes before the invoke's 10 s"
        );
        shell.handle_timeout(now + hold / 2);
        assert!(
            matches!(shell.poll(now + hold / 2), Io::Wait(_)),
            "early timeout is harmless"
        );
        shell.handle_timeout(deadline);
        let answer = transmitted(&mut shell, deadline);
        assert_eq!(
            (answer.opaque, answer.response_code()),
            (3, ResponseCode::SystemError)
        );
        // A taker arriving later finds nothing.
        let (command, mut taken) = Command::next_request();
        shell.handle_command(deadline, command);
        assert!(matches!(taken.try_recv(), Ok(None)));
    }

    #[test]
    fn a_taker_that_gave_up_does_not_lose_the_request() {
        let (mut shell, conn, now, _rx) = connected(DriverOptions::default());
        let (command, taken) = Command::next_request();
        shell.handle_command(now, command);
        drop(taken);
        shell.handle_input(now, Input::Received(conn, broker_request(4, false)));
        assert!(matches!(shell.poll(now), Io::Wait(_)));
        let (command, mut taken) = Command::next_request();
        shell.handle_command(now, command);
        let request = delivered(&mut taken);
        assert_eq!(request.command.opaque, 4);
    }

    #[test]
    fn shutdown_fails_pending_and_new_operations() {
        let (mut shell, conn, now, mut pending) = connected(DriverOptions::default());
        let (command, mut done) = Command::shutdown(Duration::ZERO);
        shell.handle_command(now, command);
        let mut closed = false;
        loop {
            match shell.poll(now) {
                Io::Close { conn: c } => {
                    assert_eq!(c, conn);
                    closed = true;
                    shell.handle_input(now, Input::Closed(c));
                }
                Io::Finished => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(closed);
        assert_eq!(pending.try_recv(), Ok(Some(Err(ClientError::Shutdown))));
        let (command, mut late) = Command::query_route("T");
        shell.handle_command(now, command);
        assert_eq!(late.try_recv(), Ok(Some(Err(ClientError::Shutdown))));
        assert_eq!(done.try_recv(), Ok(None), "told only at the very end");
        shell.finish().notify();
        assert_eq!(done.try_recv(), Ok(Some(Ok(()))));
    }

    #[test]
    fn late_input_of_a_closed_connection_is_dropped() {
        let (mut shell, conn, now, mut pending) = connected(DriverOptions::default());
        shell.handle_input(now, Input::Closed(conn));
        assert!(matches!(shell.poll(now), Io::Wait(_)));
        let closed = ClientError::Invoke(InvokeError::ConnectionClosed { addr: ADDR.into() });
        assert_eq!(pending.try_recv(), Ok(Some(Err(closed))));
        // A reader that raced with the close: its bytes must not reach the core.
        shell.handle_input(now, Input::Received(conn, broker_request(9, false)));
        shell.handle_input(now, Input::Closed(conn));
        assert!(matches!(shell.poll(now), Io::Wait(_)));
        let (command, mut taken) = Command::next_request();
        shell.handle_command(now, command);
        assert!(matches!(taken.try_recv(), Ok(None)));
    }

    /// Polls until the shell waits, connecting whatever it asks for.
    fn settle(shell: &mut Shell, now: Instant) {
        loop {
            match shell.poll(now) {
                Io::Connect { conn, .. } => shell.handle_input(now, Input::Connected(conn)),
                Io::Wait(_) => return,
                Io::Finished => panic!("finished"),
                _ => {}
            }
        }
    }

    fn consume_directly_request(opaque: i32, group: &str) -> Bytes {
        let mut ext = crate::lite::tests::ext(2, 7);
        ext.message = Message::new("TopicTest", "direct");
        let body = rocketwire_core::message::encode_stored(&ext).expect("encodes");
        let mut cmd = RemotingCommand::request(RequestCode::ConsumeMessageDirectly).with_body(body);
        cmd.ext_fields.insert("consumerGroup".into(), group.into());
        cmd.ext_fields.insert("clientId".into(), "c".into());
        cmd.opaque = opaque;
        Bytes::from(encode_to_vec(&cmd, SerializeType::Json).expect("encodes"))
    }

    #[test]
    fn consume_message_directly_runs_on_the_push_consumer_of_its_group() {
        use futures::StreamExt;
        use rocketwire_core::body::{CMResult, ConsumeMessageDirectlyResult};

        let (mut shell, conn, now, _rx) = connected(DriverOptions::default());
        let (events, mut events_rx) = mpsc::unbounded();
        let config = ConsumerConfig {
            group: "g_direct".into(),
            ..ConsumerConfig::default()
        };
        let subs = vec![Subscription::tag("TopicTest", "*").expect("sub")];
        let (command, mut created) =
            Command::create_consumer(config, subs, None, ConsumerSink::channel(events));
        shell.handle_command(now, command);
        assert!(matches!(created.try_recv(), Ok(Some(Ok(_)))));
        settle(&mut shell, now);
        // Another group's request is left to `next_request`.
        shell.handle_input(
            now,
            Input::Received(conn, consume_directly_request(41, "other")),
        );
        settle(&mut shell, now);
        let (command, mut taken) = Command::next_request();
        shell.handle_command(now, command);
        let other = delivered(&mut taken);
        assert_eq!(other.command.opaque, 41);
        // Our group's goes to the consumer's dispatcher with the decoded message.
        shell.handle_input(
            now,
            Input::Received(conn, consume_directly_request(42, "g_direct")),
        );
        settle(&mut shell, now);
        let event = futures::executor::block_on(events_rx.next()).expect("an event");
        let ConsumerEvent::ConsumeDirectly { token, messages } = event else {
            panic!("expected ConsumeDirectly, got {event:?}")
        };
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].message.body.as_ref(), b"direct");
        assert_eq!((messages[0].queue_id, messages[0].queue_offset), (2, 7));
        let command = Command::answer_consume_directly(
            token,
            Some(ConsumeOutcome::ReconsumeLater { delay_level: 0 }),
            Duration::from_millis(12),
        );
        shell.handle_command(now, command);
        let answer = transmitted(&mut shell, now);
        assert!(answer.is_response());
        assert_eq!((answer.opaque, answer.code), (42, 0));
        let result = ConsumeMessageDirectlyResult::decode(&answer.body).expect("json body");
        assert_eq!(result.consume_result, Some(CMResult::Later));
        assert_eq!(result.spent_time_mills, 12);
        assert!(result.auto_commit && !result.order);
        let text = String::from_utf8_lossy(&answer.body);
        assert!(text.contains("\"consumeResult\":\"CR_LATER\""), "{text}");
        // A handler that panicked.
        let request = RemotingCommand::request(RequestCode::ConsumeMessageDirectly);
        let thrown = crate::consume_directly_response(&request, None, Duration::ZERO, true);
        let result = ConsumeMessageDirectlyResult::decode(&thrown.body).expect("json body");
        assert_eq!(result.consume_result, Some(CMResult::ThrowException));
        assert!(result.order);
    }

    #[test]
    fn check_success_maps_failure_codes() {
        let request = RemotingCommand::request_code(9000);
        let ok = RemotingCommand::response_to(&request, ResponseCode::Success);
        assert_eq!(check_success(ok.clone()), Ok(ok));
        let failed =
            RemotingCommand::response_to(&request, ResponseCode::SystemBusy).with_remark("busy");
        assert_eq!(
            check_success(failed),
            Err(ClientError::Rejected {
                code: ResponseCode::from_code(2),
                remark: "busy".into()
            })
        );
        assert_eq!(
            reply_result::<()>(Err(oneshot::Canceled)),
            Err(ClientError::Shutdown)
        );
    }
}
