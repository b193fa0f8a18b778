//! [`ProducerMachine`]: one producer as an owned state machine, with its sends.
//!
//! A send moves through: route known? (else wait for it, or for the template route) →
//! [`SendAttempts::next_attempt`] → queue selection → one request → classification of the
//! answer → done, retry, wait for the broker, or fail. Sends waiting for a route have a
//! deadline of their own, so every send ends with exactly one event before its timeout.
//!
//! The machine never sees the client: each call lends it an [`Env`] (the shared publish
//! views, the RNG, the known brokers), and what it wants done comes out of
//! [`ProducerMachine::poll_output`] in order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::super::ids::{OpId, ProducerId, SendId};
use super::super::{Event, RouteError};
use super::views::PublishViews;
use super::{SendMode, SendTarget};
use crate::body::{MessageQueue, TopicRouteData};
use crate::codec::{RemotingCommand, RequestCode};
use crate::header::{self, UnregisterClientRequestHeader};
use crate::message::Message;
use crate::message::UniqIdGenerator;
use crate::producer::{
    classify_response, classify_transport, Accumulator, AutoBatchStats, LatencyFaultTolerance,
    PreparedBatch, PreparedMessage, ProducerConfig, QueueSelector, SelectorState, SendAttempts,
    SendError, SendResult, Step, TopicPublishInfo, Verdict,
};
use crate::remoting::InvokeError;
use crate::time::{Rng, WallClock};

mod batching;

use batching::{HeldSend, LaneKey};

/// What a producer machine sees of the client around it, lent for one call.
pub(in crate::client) struct Env<'a> {
    /// The wall clock (a message's born timestamp), read once per attempt that goes out.
    pub(in crate::client) wall: &'a dyn WallClock,
    /// This client's id.
    pub(in crate::client) client_id: &'a str,
    /// The publish views every producer shares.
    pub(in crate::client) views: &'a mut PublishViews,
    /// The client's seeded RNG.
    pub(in crate::client) rng: &'a mut Rng,
    /// Every broker master the client knows (a close unregisters from each).
    pub(in crate::client) brokers: &'a BTreeSet<String>,
    /// Default request timeout.
    pub(in crate::client) request_timeout: Duration,
    /// Message ids (an auto-batch's own id).
    pub(in crate::client) ids: &'a mut UniqIdGenerator,
    /// The next send id (ids are unique across producers; auto-batches take them too).
    pub(in crate::client) next_send: &'a mut u64,
}

impl Env<'_> {
    /// A fresh send id.
    pub(in crate::client) fn send_id(&mut self) -> SendId {
        let id = SendId(*self.next_send);
        *self.next_send += 1;
        id
    }
}

/// What a producer machine asks of the router, in order.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once
pub(in crate::client) enum ProducerOutput {
    /// Send `command` to `addr`; answer with [`ProducerMachine::handle_response`].
    Request {
        addr: String,
        command: RemotingCommand,
        timeout: Duration,
        request: ProducerRequest,
    },
    /// Send `command` to `addr` as a oneway request.
    Oneway {
        addr: String,
        command: RemotingCommand,
    },
    /// Look up `topic`'s route for `send` ([`ProducerMachine::handle_route`]), or only
    /// refresh it (`None`).
    Route { topic: String, send: Option<SendId> },
    /// Broker masters a new publish view names: heartbeat them from now on.
    Brokers(Vec<String>),
    /// A transactional send's half message was stored: run its local transaction.
    TransactionStored {
        op: OpId,
        message: Message,
        result: SendResult,
    },
    /// Something for the user.
    Event(Event),
}

/// What a request of the machine was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::client) enum ProducerRequest {
    /// One attempt of a send.
    Attempt(SendId),
    /// An UNREGISTER_CLIENT of the closing producer.
    Unregister,
}

#[derive(Debug)]
pub(super) enum Payload {
    Single(PreparedMessage),
    Batch(PreparedBatch),
}

/// A send the caller started.
#[derive(Debug)]
pub(super) struct NewSend {
    pub(super) op: OpId,
    pub(super) payload: Payload,
    /// The message the selector looks at (the first of a batch); its body is shared.
    pub(super) sample: Message,
    pub(super) target: SendTarget,
    pub(super) mode: SendMode,
    /// A half message of a transactional send: its result goes to the local transaction.
    pub(super) transactional: bool,
}

#[derive(Debug)]
struct Send {
    op: OpId,
    topic: String,
    payload: Payload,
    sample: Message,
    attempts: SendAttempts,
    target: SendTarget,
    mode: SendMode,
    /// The attempt in flight: broker name, queue, start.
    attempt: Option<(String, MessageQueue, Instant)>,
    /// Waiting for a route.
    waiting_route: bool,
    /// Waiting until this instant for a broker that refused connections ([`Step::Wait`]).
    outage_wait: Option<Instant>,
    transactional: bool,
    /// An auto-batch: its lane and its members (op and message id, in batch order).
    batched: Option<(LaneKey, Vec<(OpId, String)>)>,
}

/// One producer and its sends. See the module docs.
#[derive(Debug)]
pub(in crate::client) struct ProducerMachine {
    id: ProducerId,
    config: ProducerConfig,
    selector: SelectorState,
    fault: LatencyFaultTolerance,
    /// Set by a close.
    closing: Option<OpId>,
    unregister_left: usize,
    /// The close is over: [`Event::ProducerClosed`] is out, the router drops the machine.
    finished: bool,
    sends: BTreeMap<SendId, Send>,
    /// Deadlines of sends waiting for a route.
    route_waits: BTreeSet<(Instant, SendId)>,
    /// Sends waiting for a broker to come back, by the instant they try again.
    outage_waits: BTreeSet<(Instant, SendId)>,
    /// Single sends held for auto-batching, when the config turns it on.
    batcher: Option<Accumulator<LaneKey, HeldSend>>,
    /// What the batcher sent so far.
    batch_stats: AutoBatchStats,
    out: VecDeque<ProducerOutput>,
}

impl ProducerMachine {
    pub(in crate::client) fn new(
        id: ProducerId,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Self {
        let fault = LatencyFaultTolerance::new(
            config.send_latency_fault_enable,
            config.latency_table.clone(),
        );
        let batcher = config.auto_batch.map(Accumulator::new);
        Self {
            id,
            config,
            batcher,
            batch_stats: AutoBatchStats::default(),
            selector: SelectorState::new(selector),
            fault,
            closing: None,
            unregister_left: 0,
            finished: false,
            sends: BTreeMap::new(),
            route_waits: BTreeSet::new(),
            outage_waits: BTreeSet::new(),
            out: VecDeque::new(),
        }
    }

    pub(in crate::client) fn poll_output(&mut self) -> Option<ProducerOutput> {
        self.out.pop_front()
    }

    /// The earliest instant a send waiting for a route or a broker, or a held send, is due.
    pub(in crate::client) fn poll_timeout(&self) -> Option<Instant> {
        let route = self.route_waits.first().map(|(at, _)| *at);
        let outage = self.outage_waits.first().map(|(at, _)| *at);
        let linger = self.batcher.as_ref().and_then(Accumulator::poll_timeout);
        route.into_iter().chain(outage).chain(linger).min()
    }

    pub(in crate::client) fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// What auto-batching sent so far.
    pub(in crate::client) fn batch_stats(&self) -> AutoBatchStats {
        self.batch_stats
    }

    /// The brokers its fault table holds unavailable at `now`, with when each is available
    /// again.
    pub(in crate::client) fn isolations(
        &self,
        now: Instant,
    ) -> impl Iterator<Item = (&str, Instant)> {
        self.fault.unavailable_until(now)
    }

    pub(in crate::client) fn is_live(&self) -> bool {
        self.closing.is_none()
    }

    pub(in crate::client) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Sends not ended: each message of an auto-batch counts, and so do held ones.
    pub(in crate::client) fn sends_in_flight(&self) -> usize {
        let out: usize = self
            .sends
            .values()
            .map(|s| s.batched.as_ref().map_or(1, |(_, members)| members.len()))
            .sum();
        out + self.batcher.as_ref().map_or(0, Accumulator::held)
    }

    /// How many attempts a send to `target` in `mode` may make.
    fn allowed_attempts(&self, target: &SendTarget, mode: SendMode) -> u32 {
        let custom_selector = !matches!(self.selector.selector(), QueueSelector::RoundRobin);
        match (target, mode) {
            // A chosen queue is not retried elsewhere.
            (SendTarget::Queue(_) | SendTarget::Select(_), _) | (_, SendMode::Oneway) => 1,
            _ if custom_selector => 1,
            (_, SendMode::Async) => self.config.async_attempts(),
            _ => self.config.sync_attempts(),
        }
    }

    /// Starts send `id`: its first attempt, or its wait for a route.
    pub(super) fn start_send(&mut self, now: Instant, env: &mut Env<'_>, id: SendId, s: NewSend) {
        let allowed = self.allowed_attempts(&s.target, s.mode);
        let attempts = SendAttempts::new(now, self.config.send_timeout, allowed)
            .with_max_per_attempt(self.config.max_timeout_per_attempt);
        let topic = s.sample.topic.clone();
        self.sends.insert(
            id,
            Send {
                op: s.op,
                topic,
                payload: s.payload,
                sample: s.sample,
                attempts,
                target: s.target,
                mode: s.mode,
                attempt: None,
                waiting_route: false,
                outage_wait: None,
                transactional: s.transactional,
                batched: None,
            },
        );
        self.advance_send(now, env, id);
    }

    /// Starts the next attempt of send `id`, or waits for its route, or ends it.
    fn advance_send(&mut self, now: Instant, env: &mut Env<'_>, id: SendId) {
        loop {
            let Some(send) = self.sends.get_mut(&id) else {
                return;
            };
            if !env.views.contains(&send.topic) {
                if !send.waiting_route {
                    send.waiting_route = true;
                    let deadline = send.attempts.deadline();
                    let topic = send.topic.clone();
                    self.route_waits.insert((deadline, id));
                    self.out.push_back(ProducerOutput::Route {
                        topic,
                        send: Some(id),
                    });
                }
                return;
            }
            let attempt = match send.attempts.next_attempt(now) {
                Ok(a) => a,
                Err(e) => return self.finish_send(now, env, id, Err(e)),
            };
            let queue = match self.select_queue(now, env, id) {
                Ok(q) => q,
                Err(e) => return self.finish_send(now, env, id, Err(e)),
            };
            let Some(send) = self.sends.get_mut(&id) else {
                return;
            };
            let addr = env
                .views
                .get(&send.topic)
                .and_then(|info| info.master_addr(&queue.broker_name))
                .map(str::to_string);
            let Some(addr) = addr else {
                // No master for that broker right now: count the attempt and try elsewhere.
                let topic = send.topic.clone();
                let verdict = Verdict::Retry {
                    error: SendError::NoRoute {
                        topic: topic.clone(),
                    },
                    refresh_route: true,
                    isolate: false,
                };
                match send.attempts.record(&queue.broker_name, verdict, now) {
                    Step::Retry { .. } => {
                        env.views.remove(&topic);
                        continue;
                    }
                    Step::Fail(e) => return self.finish_send(now, env, id, Err(e)),
                    // Neither comes of a NoRoute verdict (only a refused connection waits, and
                    // a retry never completes a send); treat them as the failure they are.
                    Step::Done(_) | Step::Wait { .. } => {
                        return self.finish_send(now, env, id, Err(SendError::NoRoute { topic }));
                    }
                }
            };
            let born = env.wall.now_millis();
            let command = match &send.payload {
                Payload::Single(p) => p.command(&queue, born),
                Payload::Batch(b) => b.command(&queue, born),
            };
            if send.mode == SendMode::Oneway {
                self.out.push_back(ProducerOutput::Oneway { addr, command });
                return self.finish_send(now, env, id, Ok(None));
            }
            send.attempt = Some((queue.broker_name.clone(), queue, now));
            let timeout = attempt.deadline.saturating_duration_since(now);
            self.out.push_back(ProducerOutput::Request {
                addr,
                command,
                timeout,
                request: ProducerRequest::Attempt(id),
            });
            return;
        }
    }

    fn select_queue(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        id: SendId,
    ) -> Result<MessageQueue, SendError> {
        let send = self
            .sends
            .get(&id)
            .ok_or(SendError::Transport(InvokeError::Shutdown))?;
        if let SendTarget::Queue(q) = &send.target {
            return Ok(q.clone());
        }
        let no_route = || SendError::NoRoute {
            topic: send.topic.clone(),
        };
        let info = env.views.get_mut(&send.topic).ok_or_else(no_route)?;
        if let SendTarget::Select(selector) = &send.target {
            return Ok(selector.select(info.queues(), &send.sample)?.clone());
        }
        if matches!(self.selector.selector(), QueueSelector::RoundRobin) {
            let last = send.attempts.last_broker();
            self.fault
                .select_queue(info, last, now, env.rng)
                .ok_or_else(no_route)
        } else {
            Ok(self
                .selector
                .select(info.queues(), &send.sample, env.rng)?
                .clone())
        }
    }

    /// A route (or its failure) arrived for send `id`, waiting on `topic`.
    pub(in crate::client) fn handle_route(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        id: SendId,
        topic: &str,
        outcome: Result<TopicRouteData, RouteError>,
    ) {
        let Some(send) = self.sends.get_mut(&id) else {
            return;
        };
        let deadline = send.attempts.deadline();
        self.route_waits.remove(&(deadline, id));
        send.waiting_route = false;
        let own_topic = send.topic.clone();
        let default_topic = &self.config.default_topic;
        match outcome {
            Ok(route) if topic == own_topic => {
                if !env.views.contains(&own_topic) {
                    let info = TopicPublishInfo::from_route(&own_topic, &route, env.rng);
                    self.install(env, &own_topic, info, false);
                }
                self.advance_send(now, env, id);
            }
            Ok(route) => {
                // The template route, for a topic the brokers will auto-create.
                let nums = self.config.default_topic_queue_nums;
                let info = TopicPublishInfo::from_default_route(&own_topic, &route, nums, env.rng);
                // Sends that waited together for the template share the first one's view, so
                // their round robin goes on from one index instead of each starting anew.
                if !env.views.has_default_view(&own_topic, &info) {
                    self.install(env, &own_topic, info, true);
                }
                self.advance_send(now, env, id);
            }
            // The topic has no route (yet, or again after a broker answered TOPIC_NOT_EXIST):
            // send through the template topic's brokers, which create it. Each pass costs a
            // send attempt, so this is bounded by the attempts and the send timeout.
            Err(RouteError::TopicNotExist(ref missing))
                if *missing == own_topic && *default_topic != own_topic =>
            {
                send.waiting_route = true;
                self.route_waits.insert((deadline, id));
                let topic = default_topic.clone();
                self.out.push_back(ProducerOutput::Route {
                    topic,
                    send: Some(id),
                });
            }
            Err(RouteError::NamesrvUnavailable(InvokeError::Shutdown)) => self.finish_send(
                now,
                env,
                id,
                Err(SendError::Transport(InvokeError::Shutdown)),
            ),
            Err(_) => self.finish_send(now, env, id, Err(SendError::NoRoute { topic: own_topic })),
        }
    }

    fn install(&mut self, env: &mut Env<'_>, topic: &str, info: TopicPublishInfo, default: bool) {
        let masters = env.views.install(topic, info, default);
        self.out.push_back(ProducerOutput::Brokers(masters));
    }

    /// A request of this machine finished.
    pub(in crate::client) fn handle_response(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        request: ProducerRequest,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        match request {
            ProducerRequest::Attempt(id) => self.on_attempt(now, env, id, result),
            ProducerRequest::Unregister => {
                self.unregister_left = self.unregister_left.saturating_sub(1);
                if self.unregister_left == 0 {
                    self.finish_close();
                }
            }
        }
    }

    fn on_attempt(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        id: SendId,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let Some(send) = self.sends.get_mut(&id) else {
            return;
        };
        let Some((broker, queue, started)) = send.attempt.take() else {
            return;
        };
        let verdict = match &result {
            Ok(response) => classify_response(response.response_code(), response.remark.clone()),
            Err(e) => classify_transport(e.clone()),
        };
        let isolate = matches!(verdict, Verdict::Retry { isolate: true, .. });
        let latency = now.saturating_duration_since(started);
        self.fault.update(&broker, latency, isolate, now);
        let topic = send.topic.clone();
        let step = send.attempts.record(&broker, verdict, now);
        if let Err(error) = &result {
            tracing::debug!(op = ?send.op, %broker, %error, ?step, "send attempt failed");
        }
        match step {
            Step::Done(_) => {
                // A stored status is only ever classified from a response.
                let outcome = match &result {
                    Ok(response) => {
                        let msg_id = match &send.payload {
                            Payload::Single(p) => p.msg_id.clone(),
                            Payload::Batch(b) => b.msg_id(response.field("batchUniqId")),
                        };
                        SendResult::from_response(
                            response,
                            msg_id,
                            &queue.topic,
                            &queue.broker_name,
                        )
                        .map(Some)
                    }
                    Err(e) => Err(SendError::Transport(e.clone())),
                };
                self.finish_send(now, env, id, outcome);
            }
            Step::Retry { refresh_route } => {
                if refresh_route {
                    env.views.remove(&topic);
                }
                self.advance_send(now, env, id);
            }
            Step::Wait {
                until,
                refresh_route,
            } => {
                send.outage_wait = Some(until);
                self.outage_waits.insert((until, id));
                // The broker may come back elsewhere: ask for the route again meanwhile.
                if refresh_route {
                    env.views.remove(&topic);
                }
                self.out
                    .push_back(ProducerOutput::Route { topic, send: None });
            }
            Step::Fail(e) => {
                if matches!(e, SendError::Transport(_) | SendError::Timeout) {
                    self.out
                        .push_back(ProducerOutput::Route { topic, send: None });
                }
                self.finish_send(now, env, id, Err(e));
            }
        }
    }

    /// Fails sends whose deadline passed while they waited for a route, and tries again the
    /// sends whose wait for a broker is over.
    pub(in crate::client) fn handle_timeout(&mut self, now: Instant, env: &mut Env<'_>) {
        self.flush_due(now, env);
        while let Some(&(at, id)) = self.outage_waits.first() {
            if at > now {
                break;
            }
            self.outage_waits.pop_first();
            if let Some(send) = self.sends.get_mut(&id) {
                send.outage_wait = None;
            }
            self.advance_send(now, env, id);
        }
        while let Some(&(at, id)) = self.route_waits.first() {
            if at > now {
                break;
            }
            self.route_waits.pop_first();
            self.finish_send(now, env, id, Err(SendError::Timeout));
        }
    }

    /// A broker answered again after a loss: the sends waiting out an outage try now.
    pub(in crate::client) fn broker_back(&mut self, now: Instant, env: &mut Env<'_>) {
        let waiting: Vec<(Instant, SendId)> = self.outage_waits.iter().copied().collect();
        for (until, id) in waiting {
            if until > now {
                self.outage_waits.remove(&(until, id));
                self.outage_waits.insert((now, id));
                if let Some(send) = self.sends.get_mut(&id) {
                    send.outage_wait = Some(now);
                }
            }
        }
        self.handle_timeout(now, env);
    }

    /// The client closes: every send ends with a shutdown error, and a closing producer is
    /// closed at once.
    pub(in crate::client) fn fail_all(&mut self, now: Instant, env: &mut Env<'_>) {
        self.fail_held(SendError::Transport(InvokeError::Shutdown));
        let ids: Vec<SendId> = self.sends.keys().copied().collect();
        for id in ids {
            self.finish_send(
                now,
                env,
                id,
                Err(SendError::Transport(InvokeError::Shutdown)),
            );
        }
        self.finish_close();
    }

    /// Begins the close `op`: once the sends in flight ended, the group is unregistered from
    /// every known broker and [`Event::ProducerClosed`] follows.
    pub(in crate::client) fn close(&mut self, now: Instant, env: &mut Env<'_>, op: OpId) {
        self.closing = Some(op);
        // Held sends leave now rather than linger.
        self.flush_all(now, env);
        if self.sends.is_empty() {
            self.unregister(env);
        }
    }

    /// `Ok(None)` is a written oneway send.
    fn finish_send(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        id: SendId,
        result: Result<Option<SendResult>, SendError>,
    ) {
        let Some(send) = self.sends.remove(&id) else {
            return;
        };
        if send.waiting_route {
            self.route_waits.remove(&(send.attempts.deadline(), id));
        }
        if let Some(until) = send.outage_wait {
            self.outage_waits.remove(&(until, id));
        }
        if let Some((lane, members)) = send.batched {
            self.finish_batch(now, env, lane, members, result);
            return self.unregister_when_idle(env);
        }
        let op = send.op;
        let output = match (send.transactional, send.mode, result) {
            (true, _, Ok(Some(result))) => ProducerOutput::TransactionStored {
                op,
                message: send.sample,
                result,
            },
            (true, _, Ok(None)) => ProducerOutput::Event(Event::Transaction {
                op,
                result: Err(SendError::Timeout),
            }),
            (true, _, Err(e)) => ProducerOutput::Event(Event::Transaction { op, result: Err(e) }),
            (false, mode, r) => ProducerOutput::Event(plain_event(op, mode, r)),
        };
        self.out.push_back(output);
        self.unregister_when_idle(env);
    }

    /// A closing producer whose last send ended unregisters.
    fn unregister_when_idle(&mut self, env: &mut Env<'_>) {
        let held = self.batcher.as_ref().map_or(0, Accumulator::held);
        if self.sends.is_empty() && held == 0 && self.closing.is_some() && self.unregister_left == 0
        {
            self.unregister(env);
        }
    }

    fn unregister(&mut self, env: &Env<'_>) {
        let header = UnregisterClientRequestHeader {
            client_id: env.client_id.to_string(),
            producer_group: Some(self.config.group.clone()),
            consumer_group: None,
        };
        let command = header::request(RequestCode::UnregisterClient, &header);
        for addr in env.brokers {
            self.out.push_back(ProducerOutput::Request {
                addr: addr.clone(),
                command: command.clone(),
                timeout: env.request_timeout,
                request: ProducerRequest::Unregister,
            });
        }
        self.unregister_left = env.brokers.len();
        if env.brokers.is_empty() {
            self.finish_close();
        }
    }

    fn finish_close(&mut self) {
        let Some(op) = self.closing.filter(|_| !self.finished) else {
            return;
        };
        self.finished = true;
        self.out
            .push_back(ProducerOutput::Event(Event::ProducerClosed {
                op,
                producer: self.id,
            }));
    }
}

/// The event of a plain (non-transactional) send; `Ok(None)` is a written oneway send.
fn plain_event(op: OpId, mode: SendMode, result: Result<Option<SendResult>, SendError>) -> Event {
    match (mode, result) {
        (SendMode::Oneway, r) => Event::OnewaySent {
            op,
            result: r.map(|_| ()),
        },
        (_, Ok(Some(r))) => Event::Send { op, result: Ok(r) },
        (_, Ok(None)) => Event::Send {
            op,
            result: Err(SendError::Timeout),
        },
        (_, Err(e)) => Event::Send { op, result: Err(e) },
    }
}
