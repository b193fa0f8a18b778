//! [`ClientCore`]: the router. It owns the connections ([`crate::remoting`]), the table of
//! operations in flight, the route table, the broker registry and one machine per consumer,
//! allocates ids, talks to `Remoting`, and routes each completion, route and broker request to
//! its owner.
//!
//! Sub-machines live in their own files: `route` (route queries, the route cache and its
//! refresh), `brokers` (known broker masters, heartbeats, re-registration), `consumer` (one
//! owned `ConsumerMachine` per consumer, which never sees the core: each call lends it an
//! `Env` and it answers with ordered outputs), `producer` (one owned `ProducerMachine` per
//! producer, the same way: sends with retry and fault isolation, unregistration), `transaction`,
//! `shutdown` and `timer` (periodic jobs).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::acl::Credentials;
use crate::body::MessageQueue;
use crate::body::{BodyError, TopicRouteData};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::message::{Message, MessageExt};
use crate::producer::{SendError, SendResult};
use crate::remoting::{InvokeError, Io, PeerError, Remoting, RemotingConfig};
use crate::time::{Rng, WallClock};

mod addr_map;
mod brokers;
mod config;
mod consumer;
pub(crate) mod ids;
pub(crate) mod misuse;
mod msg_trace;
mod namespaced;
mod notice;
mod pop;
mod producer;
mod reply;
mod route;
mod shutdown;
mod timer;
mod transaction;

use brokers::BrokerRegistry;
pub use consumer::{
    consume_directly_response, ClientIdCollision, ConsumeDirectlyToken, ConsumeOutcome,
    ConsumerCloseReport, ConsumerError, ConsumerId, ConsumerRefusal, ConsumerStats, DeliveryId,
    QueueStats,
};
use consumer::{ConsumerRequest, ConsumerTable};
pub use misuse::Misuse;
use notice::Notices;
pub use notice::{ClientNotice, NOTICE_CAPACITY};
use producer::ProducerTable;
pub use producer::{ProducerId, SendMode, SendTarget};
use reply::ReplyTable;
pub use reply::RequestError;
use route::RouteState;
use timer::{Timer, Timers};
use transaction::TransactionTable;
pub use transaction::{LocalTransactionToken, TransactionCheckToken, TransactionSendResult};

pub use crate::remoting::{AnswerToken, IncomingRequest};

pub use addr_map::BrokerAddrMap;
pub use config::ClientConfig;
pub use ids::{ConnId, OpId};

/// What the adapter tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A connection asked for with [`Output::Connect`] is open.
    Connected(ConnId),
    /// A connection could not be opened.
    ConnectFailed(ConnId, String),
    /// A connection was opened but its TLS handshake failed (it is closed). Requests waiting
    /// for it fail with [`crate::InvokeError::Tls`], which sends do not retry.
    TlsFailed(ConnId, crate::TlsError),
    /// The local address (`ip:port`) of a connection that is open (optional: it lets
    /// consumers tell their own connections from another client's with the same client id).
    LocalAddr(ConnId, String),
    /// Bytes arrived on a connection.
    Received(ConnId, Bytes),
    /// A connection closed (by the peer, an IO error, or after [`Output::Close`]).
    Closed(ConnId),
    /// The deadline last returned by [`Output::Timeout`] passed (early calls are harmless).
    Timeout,
}

/// What the core asks of the adapter.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
// An output is moved once from the core to the adapter; boxing the large events would cost
// an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Open a TCP connection to `addr`, then report [`Input::Connected`] or
    /// [`Input::ConnectFailed`].
    Connect {
        /// The new connection's id.
        conn: ConnId,
        /// `host:port`.
        addr: String,
    },
    /// Write `head` then `body` on `conn`.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// Length field, header word and header.
        head: Bytes,
        /// The body, shared with the caller's buffer.
        body: Bytes,
    },
    /// Close `conn`; report [`Input::Closed`] when done (optional).
    Close {
        /// Connection.
        conn: ConnId,
    },
    /// Something for the user.
    Event(Event),
    /// Nothing more now; call [`Input::Timeout`] at this instant (always in the future).
    Timeout(Instant),
    /// Nothing more now and no timer armed.
    Idle,
}

/// Results and broker→client requests.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // see `Output`
pub enum Event {
    /// The result of [`ClientCore::invoke`].
    Response {
        /// The operation.
        op: OpId,
        /// The response (any code) or why there is none.
        result: Result<RemotingCommand, InvokeError>,
    },
    /// The result of [`ClientCore::query_route`].
    Route {
        /// The operation.
        op: OpId,
        /// The topic asked for.
        topic: String,
        /// The route, or why there is none.
        result: Result<TopicRouteData, RouteError>,
    },
    /// A request sent to us by a broker or namesrv.
    Request(IncomingRequest),
    /// The result of a send ([`ClientCore::send`], [`ClientCore::send_batch`]).
    Send {
        /// The operation.
        op: OpId,
        /// Where the message was stored, or why it was not.
        result: Result<SendResult, SendError>,
    },
    /// A oneway send was written (or could not be, e.g. no route or an invalid message).
    OnewaySent {
        /// The operation.
        op: OpId,
        /// `Ok` once handed to the connection.
        result: Result<(), SendError>,
    },
    /// A transactional send's half message was stored: run the local transaction and end it
    /// with [`ClientCore::end_local_transaction`].
    ExecuteLocalTransaction {
        /// The operation.
        op: OpId,
        /// Resolves the local transaction.
        token: LocalTransactionToken,
        /// The message as sent (with `UNIQ_KEY` and the transaction id).
        message: Message,
        /// Where the half message was stored.
        send_result: SendResult,
    },
    /// The result of [`ClientCore::send_transactional`].
    Transaction {
        /// The operation.
        op: OpId,
        /// The half message's result and the state sent, or why it was not stored.
        result: Result<TransactionSendResult, SendError>,
    },
    /// A broker asks for the state of a transaction of `producer`'s group; answer with
    /// [`ClientCore::answer_transaction_check`].
    CheckTransaction {
        /// The producer of the half message's group.
        producer: ProducerId,
        /// Answers the check.
        token: TransactionCheckToken,
        /// The half message, decompressed.
        message: MessageExt,
    },
    /// Messages for a consumer's handler; settle them with [`ClientCore::ack`].
    Deliver {
        /// The consumer.
        consumer: ConsumerId,
        /// Acks this batch.
        delivery: DeliveryId,
        /// The queue they came from.
        queue: MessageQueue,
        /// The messages, in queue order.
        messages: Vec<MessageExt>,
    },
    /// CONSUME_MESSAGE_DIRECTLY for a push consumer of this client (an admin tool asks it to
    /// consume one stored message now): run its handler on `messages`, then answer with
    /// [`ClientCore::answer_consume_directly`]. Nothing is acked: the message is not a
    /// delivery of the consumer's queues.
    ConsumeDirectly {
        /// The push consumer of the request's group.
        consumer: ConsumerId,
        /// Answers the broker.
        token: ConsumeDirectlyToken,
        /// The decoded message(s) of the request.
        messages: Vec<MessageExt>,
    },
    /// A seek moved `queue` of `consumer` ([`ClientCore::seek`]): its deliveries still out were
    /// given up (their acks are refused), and deliveries of it emitted before this event are
    /// stale; an adapter that buffers deliveries drops them.
    Seeked {
        /// The consumer.
        consumer: ConsumerId,
        /// The queue.
        queue: MessageQueue,
    },
    /// A rebalance changed the queues of `topic` a lite pull consumer holds: `queues` is its
    /// share from now on (Java `MessageQueueListener.messageQueueChanged`). Push consumers
    /// get none.
    QueuesChanged {
        /// The consumer.
        consumer: ConsumerId,
        /// The topic.
        topic: String,
        /// The queues of `topic` it holds now, in order.
        queues: Vec<MessageQueue>,
    },
    /// A broadcasting consumer's offsets changed: write `content` to its offset file (temp
    /// file, fsync, rename; keep a backup) and give it back to
    /// [`ClientCore::create_consumer`] on the next start.
    PersistLocalOffsets {
        /// The consumer.
        consumer: ConsumerId,
        /// The file content (Java's `offsets.json` form).
        content: Vec<u8>,
    },
    /// [`ClientCore::commit_offsets`] finished.
    OffsetsCommitted {
        /// The operation.
        op: OpId,
        /// The consumer.
        consumer: ConsumerId,
    },
    /// [`ClientCore::close_consumer`] finished.
    ConsumerClosed {
        /// The operation.
        op: OpId,
        /// The consumer.
        consumer: ConsumerId,
        /// What was persisted and what was abandoned.
        report: ConsumerCloseReport,
    },
    /// [`ClientCore::close_producer`] finished: in-flight sends ended and brokers were told.
    ProducerClosed {
        /// The operation.
        op: OpId,
        /// The producer.
        producer: ProducerId,
    },
    /// Another client in a consumer's group uses this client's id (see
    /// [`ClientIdCollision`]): the group's queues are split wrongly until one of them
    /// changes its `instance_name` or `client_ip`. Emitted when found (and again if it
    /// changes); [`ClientCore::client_id_collision`] tells whether it lasts.
    ClientIdCollision(ClientIdCollision),
    /// A broker refused a consumer's request for lack of permission (see
    /// [`ConsumerRefusal`]): wrong credentials or an ACL that does not grant its group or
    /// topic. Emitted for the first refusal and each new kind of one;
    /// [`ClientCore::consumer_refusal`] tells whether it lasts.
    ConsumerRefused(ConsumerRefusal),
    /// The result of [`ClientCore::request_reply`].
    Reply {
        /// The operation.
        op: OpId,
        /// The reply, or why there is none.
        result: Result<MessageExt, RequestError>,
    },
    /// A peer broke the protocol without failing a request of ours (e.g. a response with an
    /// unknown opaque), or sent a malformed frame (its connection was closed).
    PeerError {
        /// The peer's address.
        addr: String,
        /// What it did.
        error: PeerError,
    },
}

/// Why a topic route could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The namesrv has no route for the topic.
    #[error("topic {0} does not exist")]
    TopicNotExist(String),
    /// No namesrv is configured.
    #[error("no namesrv address configured")]
    NoNamesrv,
    /// Every namesrv failed; the last error is given.
    #[error("no namesrv answered: {0}")]
    NamesrvUnavailable(InvokeError),
    /// The namesrv answered with an error code.
    #[error("namesrv rejected the route query with code {code:?}: {remark}")]
    Rejected {
        /// Response code.
        code: ResponseCode,
        /// Remark.
        remark: String,
    },
    /// The route body could not be read.
    #[error(transparent)]
    Malformed(#[from] BodyError),
}

/// Errors surfaced by adapters' client handles, by blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Transport-level failure of a request.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// Route lookup failure.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The broker answered with an error code.
    #[error("broker rejected the request with code {code:?}: {remark}")]
    Rejected {
        /// Response code.
        code: ResponseCode,
        /// Remark.
        remark: String,
    },
    /// The client has been shut down.
    #[error("client is shut down")]
    Shutdown,
    /// The call itself was wrong (an unknown or closed id).
    #[error(transparent)]
    Misuse(#[from] Misuse),
    /// Invalid use of the API.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An admin answer that could not be read (see [`crate::admin`]).
    #[error(transparent)]
    Admin(crate::admin::AdminError),
}

impl From<crate::admin::AdminError> for ClientError {
    /// A refusal is [`ClientError::Rejected`], as for any request; an unreadable answer is
    /// [`ClientError::Admin`].
    fn from(e: crate::admin::AdminError) -> Self {
        match e {
            crate::admin::AdminError::Rejected { code, remark } => Self::Rejected { code, remark },
            other => Self::Admin(other),
        }
    }
}

/// The sans-IO client. See the crate docs for the driving loop.
pub struct ClientCore {
    config: ClientConfig,
    client_id: String,
    wall: Box<dyn WallClock>,
    rng: Rng,
    remoting: Remoting,
    next_op: u64,
    /// What each in-flight remoting request is for.
    pending: HashMap<OpId, Pending>,
    routes: RouteState,
    producers: ProducerTable,
    consumers: ConsumerTable,
    pops: pop::PopTable,
    brokers: BrokerRegistry,
    transactions: TransactionTable,
    timers: Timers,
    events: VecDeque<Event>,
    notices: Notices,
    /// Requests waiting for their replies.
    replies: ReplyTable,
    /// Message trace of the producers and consumers that ask for it.
    traces: msg_trace::Tracing,
    closing: bool,
    /// A graceful shutdown under way ([`ClientCore::shutdown`]).
    shutdown: Option<shutdown::Shutdown>,
}

/// What an in-flight remoting request belongs to.
#[derive(Debug)]
enum Pending {
    /// A user's [`ClientCore::invoke`].
    Invoke,
    /// A route query for a topic.
    Route(String),
    /// A request of a producer (a send attempt, an unregistration).
    Producer(ProducerId, producer::ProducerRequest),
    /// A heartbeat to the broker at this address; a failed one is sent again soon while
    /// consumers are registered (the broker would otherwise not know them until the next
    /// round, and give their queues to others).
    Heartbeat(String),
    /// A request of a consumer.
    /// A consumer's request to a broker (the address).
    Consumer(ConsumerId, ConsumerRequest, String),
    /// A POP consumer's request.
    Pop(ConsumerId, pop::PopRequest),
}

impl std::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCore")
            .field("client_id", &self.client_id)
            .field("config", &self.config)
            .field("remoting", &self.remoting)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    /// A core with `config`, a wall clock and an RNG seed, created at `now`.
    pub fn new(
        mut config: ClientConfig,
        wall: Box<dyn WallClock>,
        seed: u64,
        now: Instant,
    ) -> Self {
        if config.client_ip.is_empty() {
            config.client_ip = "127.0.0.1".to_string();
        }
        let mut rng = Rng::new(seed);
        let routes = RouteState::new(&config, &mut rng);
        let instance = match &config.instance_name {
            Some(name) => name.clone(),
            None => {
                let nanos = (wall.now_millis().max(0) as u128) * 1_000_000;
                crate::producer::instance_name(config.pid, nanos, &mut rng)
            }
        };
        let client_id = format!("{}@{}", config.client_ip, instance);
        let remoting = Remoting::new(RemotingConfig {
            serialize_type: config.serialize_type,
            max_frame_len: config.max_frame_len,
            connect_timeout: config.connect_timeout,
            credentials: config.credentials.clone(),
        });
        let producers = ProducerTable::new(&config, &mut rng);
        // Periodic jobs are armed by the first producer: a bare client sleeps until asked.
        let _ = now;
        let timers = Timers::new(now);
        Self {
            config,
            client_id,
            wall,
            rng,
            remoting,
            next_op: 1,
            pending: HashMap::new(),
            routes,
            producers,
            consumers: ConsumerTable::default(),
            pops: pop::PopTable::default(),
            brokers: BrokerRegistry::default(),
            transactions: TransactionTable::default(),
            timers,
            events: VecDeque::new(),
            notices: Notices::default(),
            replies: ReplyTable::default(),
            traces: msg_trace::Tracing::default(),
            closing: false,
            shutdown: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// This client's id as brokers see it (`ip@instance`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Wall-clock milliseconds from the injected clock.
    pub fn wall_millis(&self) -> i64 {
        self.wall.now_millis()
    }

    /// The seeded random number generator (for components built on the core).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The remoting layer, read-only (connection and pending counts).
    pub fn remoting(&self) -> &Remoting {
        &self.remoting
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Connected(conn) => self.remoting.handle_connected(conn),
            Input::ConnectFailed(conn, reason) => {
                self.remoting.handle_connect_failed(conn, &reason)
            }
            Input::TlsFailed(conn, error) => self.remoting.handle_tls_failed(conn, error),
            Input::LocalAddr(conn, local) => self.remoting.handle_local_addr(conn, &local),
            Input::Received(conn, bytes) => {
                self.remoting.handle_received_bytes(conn, bytes);
                // Awake anyway: jobs due in a moment run now, before what came is handled
                // (a long poll answered just before its hold's job asks for its next hold
                // with that job re-armed).
                self.run_jobs(now);
            }
            Input::Closed(conn) => {
                let addr = self.remoting.addr_of(conn).map(str::to_string);
                self.remoting.handle_closed(conn);
                if let Some(addr) = addr.filter(|a| self.brokers.contains(a)) {
                    self.connection_lost(now, &addr);
                }
            }
            Input::Timeout => self.handle_timeout(now),
        }
        self.process(now);
    }

    /// The next output; drain until [`Output::Timeout`] or [`Output::Idle`]. A returned
    /// deadline is always later than `now`.
    pub fn poll_output(&mut self, now: Instant) -> Output {
        loop {
            self.advance_shutdown(now);
            // Results a command produced at once (a request refused by a closed client, say)
            // come out of this drain, not the next input's.
            self.process(now);
            if let Some(io) = self.remoting.poll_io() {
                return match io {
                    Io::Connect { conn, addr } => Output::Connect { conn, addr },
                    Io::Transmit { conn, head, body } => Output::Transmit { conn, head, body },
                    Io::Close { conn } => Output::Close { conn },
                };
            }
            if let Some(event) = self.events.pop_front() {
                // A request's send is not the user's: it ends in a reply (or its failure).
                let Some(event) = self.request_sent(event) else {
                    continue;
                };
                let Some(event) = self.trace_event(now, event) else {
                    continue;
                };
                return Output::Event(self.config.namespace.unwrap_event(event));
            }
            if self.flush_traces(now) {
                // The trace batches' sends have IO to hand out.
                continue;
            }
            self.arm_persist(now);
            match self.next_deadline(now) {
                Some(at) if at <= now => {
                    // Expired while the adapter was busy: handle it now so the deadline we
                    // return is in the future (no busy loop).
                    self.handle_timeout(now);
                    self.process(now);
                }
                Some(at) => return Output::Timeout(at),
                None => return Output::Idle,
            }
        }
    }

    /// Asks the namesrvs (with failover) for `topic`'s route; the answer is [`Event::Route`].
    pub fn query_route(&mut self, now: Instant, topic: &str) -> OpId {
        let op = self.alloc_op();
        let topic = self.config.namespace.wrap(topic);
        self.request_route(now, &topic, route::Waiter::User(op));
        self.process(now);
        op
    }

    /// Sends `command` to `addr` (connecting if needed); the answer is [`Event::Response`].
    pub fn invoke(
        &mut self,
        now: Instant,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> OpId {
        let op = self.alloc_op();
        self.pending.insert(op, Pending::Invoke);
        self.remoting.send_request(now, op, addr, command, timeout);
        self.process(now);
        op
    }

    /// Sends `command` to `addr` as a oneway request: no response, no event.
    pub fn invoke_oneway(&mut self, now: Instant, addr: &str, command: RemotingCommand) {
        self.remoting.send_oneway(now, addr, command);
    }

    /// Signs every request from now on with `credentials` (`None`: unsigned), e.g. after a
    /// key rotation. Servers authenticate a connection once, so every connection is closed and
    /// opened again on demand; requests in flight on them fail as on a lost connection (sends
    /// are retried within their budget).
    pub fn set_credentials(&mut self, now: Instant, credentials: Option<Credentials>) {
        self.config.credentials.clone_from(&credentials);
        self.remoting.set_credentials(credentials);
        self.process(now);
    }

    /// Answers a broker→client request.
    pub fn answer(&mut self, now: Instant, token: AnswerToken, response: RemotingCommand) {
        let _ = now;
        self.remoting.answer(token, response);
    }

    /// Begins shutdown: pending requests and sends fail with a shutdown error, every
    /// connection is closed; afterwards new operations fail at once. Close producers first
    /// ([`ClientCore::close_producer`]) to unregister them from the brokers.
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        self.timers.clear();
        self.stop_consumer_timers();
        self.remoting.shutdown();
        self.process(now);
        self.fail_all_sends(now);
    }

    /// Whether [`ClientCore::close`] was called and every connection has been released.
    pub fn is_closed(&self) -> bool {
        self.closing && self.remoting.connection_count() == 0
    }

    /// Arms the periodic jobs that are not armed, while a producer or consumer needs them.
    fn arm_periodic(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        let mut jobs = Vec::new();
        if self.producers.any() || self.consumers.any() || self.pops.any() {
            jobs.push((Timer::RouteRefresh, self.config.route_refresh_interval));
            jobs.push((Timer::Heartbeat, self.config.heartbeat_interval));
        }
        if !self.consumers.any() {
            // POP consumers look at their routes again on the rebalance grid.
            if let Some(every) = self.pops.min_rebalance_interval() {
                jobs.push((Timer::Rebalance, every));
            }
        }
        if self.consumers.any() {
            let (rebalance, _, lock, consume) = self.consumers.intervals();
            jobs.push((Timer::Rebalance, rebalance));
            // Only orderly consumers hold locks to renew.
            if self.consumers.any_orderly() {
                jobs.push((Timer::LockRenew, lock));
            } else {
                self.timers.unset(Timer::LockRenew);
            }
            jobs.push((Timer::ConsumeTimeout, consume));
        }
        for (timer, every) in jobs {
            if !self.timers.is_set(timer) {
                self.timers.arm_every(timer, now, every);
            }
        }
        self.arm_persist(now);
    }

    /// Arms the offset persist on its grid while some consumer has an offset to write, and
    /// only then: a consumer with nothing new to persist (an idle one) is not woken for it.
    /// Checked as outputs are drained, so an acknowledgement arms it before the next wait.
    fn arm_persist(&mut self, now: Instant) {
        if self.closing || self.timers.is_set(Timer::PersistOffsets) {
            return;
        }
        if self.consumers.any_unpersisted() {
            let (_, persist, _, _) = self.consumers.intervals();
            self.timers.arm_every(Timer::PersistOffsets, now, persist);
        }
    }

    /// Sends a request whose completion goes to `owner`.
    fn request(
        &mut self,
        now: Instant,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
        owner: Pending,
    ) {
        let op = self.alloc_op();
        self.pending.insert(op, owner);
        self.remoting.send_request(now, op, addr, command, timeout);
    }

    fn alloc_op(&mut self) -> OpId {
        let op = OpId(self.next_op);
        self.next_op += 1;
        op
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        [
            self.remoting.poll_timeout(),
            self.timers.next(),
            self.producers.next_deadline(),
            self.consumers.next_deadline(now),
            self.pops.next_deadline(),
            self.brokers.poll_timeout(),
            self.shutdown_deadline(),
            self.notices.next_restore(),
            self.replies.next_deadline(),
            // A closed client sends no trace batch, so none is due.
            self.traces.next_deadline().filter(|_| !self.closing),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.remoting.handle_timeout(now);
        self.run_jobs(now);
        self.expire_sends(now);
        self.expire_requests(now);
        self.notice_sends_settled();
        self.run_consumer_timers(now);
        self.run_pop_timers(now);
    }

    /// Runs the periodic jobs due by `now` (or within [`timer::SLACK`] of it).
    fn run_jobs(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::RouteRefresh => self.refresh_routes(now),
                Timer::Heartbeat => self.send_heartbeats(now, None),
                Timer::Rebalance => {
                    self.rebalance_all(now);
                    self.refresh_pops(now);
                }
                Timer::PersistOffsets => self.persist_offsets(now),
                Timer::LockRenew => self.lock_all_consumers(now),
                Timer::ConsumeTimeout => self.expire_deliveries(now),
            }
            self.arm_periodic(now);
        }
    }

    /// Moves remoting completions, requests and peer faults into their owners or events.
    fn process(&mut self, now: Instant) {
        loop {
            if let Some((op, result)) = self.remoting.poll_completion() {
                match self.pending.remove(&op) {
                    Some(Pending::Invoke) => self.events.push_back(Event::Response { op, result }),
                    Some(Pending::Route(topic)) => {
                        self.finish_route_attempt(now, topic, op, result)
                    }
                    Some(Pending::Producer(id, request)) => {
                        self.finish_producer_request(now, id, request, result)
                    }
                    Some(Pending::Heartbeat(addr)) => {
                        log_housekeeping("heartbeat", &result);
                        let ok =
                            matches!(&result, Ok(r) if r.response_code() == ResponseCode::Success);
                        self.heartbeat_answered(now, &addr, ok);
                    }
                    Some(Pending::Consumer(id, request, addr)) => {
                        self.finish_consumer_request(now, id, &addr, request, result)
                    }
                    Some(Pending::Pop(id, request)) => {
                        self.finish_pop_request(now, id, request, result)
                    }
                    None => {}
                }
                continue;
            }
            if let Some(request) = self.remoting.poll_request() {
                if request.command.code == RequestCode::CheckTransactionState.code() {
                    self.handle_transaction_check(request);
                } else if request.command.code == RequestCode::PushReplyMessageToClient.code() {
                    self.handle_pushed_reply(request);
                } else if let Some(request) = self.handle_consumer_request(now, request) {
                    self.events.push_back(Event::Request(request));
                }
                continue;
            }
            if let Some((addr, error)) = self.remoting.poll_peer_error() {
                self.events.push_back(Event::PeerError { addr, error });
                continue;
            }
            self.collect_notices(now);
            return;
        }
    }
}

fn log_housekeeping(what: &'static str, result: &Result<RemotingCommand, InvokeError>) {
    match result {
        Ok(r) if r.response_code() == ResponseCode::Success => {}
        Ok(r) => tracing::warn!(what, code = r.code, remark = ?r.remark, "broker refused"),
        Err(e) => tracing::warn!(what, error = %e, "request failed"),
    }
}
