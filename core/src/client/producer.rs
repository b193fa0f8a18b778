//! Producers inside the client: sends with a time budget, retries on another broker, latency
//! fault isolation, the template-topic fallback, heartbeats and unregistration.
//!
//! One send moves through: route known? (else wait for it, or for the template route) →
//! [`SendAttempts::next_attempt`] → queue selection → one request → classification of the
//! answer → done, retry, or fail. Sends waiting for a route have a deadline of their own, so
//! every send ends with exactly one [`Event::Send`] before its timeout.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::misuse::Misuse;
use super::route::Waiter;
use super::{ClientConfig, ClientCore, Event, OpId, Pending, RouteError};
use crate::body::{MessageQueue, TopicRouteData};
use crate::codec::{RemotingCommand, RequestCode};
use crate::header::{self, UnregisterClientRequestHeader};
use crate::message::{Message, UniqIdGenerator};
use crate::producer::{
    classify_response, classify_transport, prepare_batch, prepare_message, IdClock,
    LatencyFaultTolerance, PreparedBatch, PreparedMessage, ProducerConfig, QueueSelector,
    SelectorState, SendAttempts, SendError, SendResult, Step, TopicPublishInfo, Verdict,
};
use crate::remoting::InvokeError;
use crate::time::Rng;

pub use super::ids::ProducerId;

pub(super) use super::ids::SendId;

/// Where a send goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SendTarget {
    /// The producer's selector: round robin with fault isolation and retries on another broker
    /// (the default), or the random / hash / custom selector given at creation, whose choice
    /// is not retried on another queue.
    #[default]
    Default,
    /// This queue exactly; not retried on another queue.
    Queue(MessageQueue),
}

/// How the caller waits for a send; only the number of attempts differs between sync and
/// async (Java `retryTimesWhenSendFailed` / `retryTimesWhenSendAsyncFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendMode {
    /// The caller waits for the result.
    #[default]
    Sync,
    /// The result is delivered later.
    Async,
    /// No response is asked for; [`Event::OnewaySent`] reports the write.
    Oneway,
}

#[derive(Debug)]
struct Producer {
    config: ProducerConfig,
    selector: SelectorState,
    fault: LatencyFaultTolerance,
    in_flight: usize,
    /// Set by [`ClientCore::close_producer`].
    closing: Option<OpId>,
    unregister_left: usize,
}

#[derive(Debug)]
enum Payload {
    Single(PreparedMessage),
    Batch(PreparedBatch),
}

#[derive(Debug)]
struct Send {
    op: OpId,
    producer: ProducerId,
    topic: String,
    payload: Payload,
    /// The message the selector looks at (the first of a batch); its body is shared.
    sample: Message,
    attempts: SendAttempts,
    target: SendTarget,
    mode: SendMode,
    /// The attempt in flight: broker name, queue, start.
    attempt: Option<(String, MessageQueue, Instant)>,
    /// Waiting for a route since this instant.
    waiting_route: bool,
    /// Waiting until this instant for a broker that refused connections ([`Step::Wait`]).
    outage_wait: Option<Instant>,
    /// A half message of a transactional send: its result goes to the local transaction.
    transactional: bool,
}

/// Producer bookkeeping of one client.
#[derive(Debug)]
pub(super) struct ProducerState {
    producers: HashMap<ProducerId, Producer>,
    next_producer: u32,
    sends: HashMap<SendId, Send>,
    next_send: u64,
    /// Deadlines of sends waiting for a route.
    route_waits: BTreeSet<(Instant, SendId)>,
    /// Sends waiting for a broker to come back, by the instant they try again.
    outage_waits: BTreeSet<(Instant, SendId)>,
    /// Publish views of topics in use, and which of them come from the template route.
    publish: HashMap<String, TopicPublishInfo>,
    from_default: HashSet<String>,
    ids: UniqIdGenerator,
}

impl ProducerState {
    pub(super) fn new(config: &ClientConfig, rng: &mut Rng) -> Self {
        let ip = config
            .client_ip
            .parse::<IpAddr>()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let ids = UniqIdGenerator::new(
            ip,
            config.pid,
            rng.next_u64() as i32,
            rng.below(u64::from(u16::MAX)) as u16,
        );
        Self {
            producers: HashMap::new(),
            next_producer: 1,
            sends: HashMap::new(),
            next_send: 1,
            route_waits: BTreeSet::new(),
            outage_waits: BTreeSet::new(),
            publish: HashMap::new(),
            from_default: HashSet::new(),
            ids,
        }
    }

    /// Whether any producer is registered.
    pub(super) fn any(&self) -> bool {
        !self.producers.is_empty()
    }

    pub(super) fn topics_in_use(&self) -> impl Iterator<Item = &String> {
        self.publish.keys()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let route = self.route_waits.first().map(|(at, _)| *at);
        let outage = self.outage_waits.first().map(|(at, _)| *at);
        route.into_iter().chain(outage).min()
    }

    /// Sends in flight (for tests and shutdown reports).
    pub(super) fn send_count(&self) -> usize {
        self.sends.len()
    }
}

impl ClientCore {
    /// Registers a producer. It is heartbeated to every broker the client knows, now and
    /// every heartbeat interval; `selector` decides [`SendTarget::Default`] sends.
    pub fn create_producer(
        &mut self,
        now: Instant,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> ProducerId {
        let id = ProducerId(self.producers.next_producer);
        self.producers.next_producer += 1;
        let fault = LatencyFaultTolerance::new(
            config.send_latency_fault_enable,
            config.latency_table.clone(),
        );
        self.producers.producers.insert(
            id,
            Producer {
                config,
                selector: SelectorState::new(selector),
                fault,
                in_flight: 0,
                closing: None,
                unregister_left: 0,
            },
        );
        self.send_heartbeats(now, None);
        self.arm_periodic(now);
        id
    }

    /// Sends one message; the result is [`Event::Send`] (or [`Event::OnewaySent`] for
    /// [`SendMode::Oneway`]). Sets the message's `UNIQ_KEY` if it has none.
    pub fn send(
        &mut self,
        now: Instant,
        producer: ProducerId,
        mut message: Message,
        target: SendTarget,
        mode: SendMode,
    ) -> Result<OpId, Misuse> {
        self.live_producer(producer)?;
        let op = self.alloc_op();
        let prepared = self.with_id_clock(producer, |config, clock| {
            prepare_message(config, &mut message, clock)
        });
        let sample = message;
        self.start_send(
            now,
            op,
            producer,
            prepared.map(Payload::Single),
            sample,
            target,
            mode,
            false,
        );
        Ok(op)
    }

    /// Sends a batch (one topic, Java's batch rules); the result is one [`Event::Send`] whose
    /// `msg_id` joins the inner ids.
    pub fn send_batch(
        &mut self,
        now: Instant,
        producer: ProducerId,
        mut messages: Vec<Message>,
        target: SendTarget,
        mode: SendMode,
    ) -> Result<OpId, Misuse> {
        self.live_producer(producer)?;
        let op = self.alloc_op();
        let prepared = self.with_id_clock(producer, |config, clock| {
            prepare_batch(config, &mut messages, clock)
        });
        let sample = messages
            .into_iter()
            .next()
            .unwrap_or_else(|| Message::new("", bytes::Bytes::new()));
        self.start_send(
            now,
            op,
            producer,
            prepared.map(Payload::Batch),
            sample,
            target,
            mode,
            false,
        );
        Ok(op)
    }

    /// Closes a producer: waits for its sends to end, then sends UNREGISTER_CLIENT to every
    /// known broker; [`Event::ProducerClosed`] follows. New sends are refused with
    /// [`Misuse::ProducerClosing`]; so is a second close.
    pub fn close_producer(&mut self, now: Instant, producer: ProducerId) -> Result<OpId, Misuse> {
        self.live_producer(producer)?;
        let op = self.alloc_op();
        if let Some(p) = self.producers.producers.get_mut(&producer) {
            p.closing = Some(op);
            if p.in_flight == 0 {
                self.unregister(now, producer);
            }
        }
        Ok(op)
    }

    /// Every producer not closed yet (closing ones included).
    pub(super) fn producer_ids(&self) -> Vec<ProducerId> {
        self.producers.producers.keys().copied().collect()
    }

    /// A producer that takes commands: known and not closing.
    pub(super) fn live_producer(&self, producer: ProducerId) -> Result<(), Misuse> {
        match self.producers.producers.get(&producer) {
            None => Err(Misuse::UnknownProducer(producer)),
            Some(p) if p.closing.is_some() => Err(Misuse::ProducerClosing(producer)),
            Some(_) => Ok(()),
        }
    }

    /// Sends in flight across all producers.
    pub fn sends_in_flight(&self) -> usize {
        self.producers.send_count()
    }

    pub(super) fn producer_group(&self, producer: ProducerId) -> Option<String> {
        self.producers
            .producers
            .get(&producer)
            .map(|p| p.config.group.clone())
    }

    /// A live producer of `group` (the lowest id, so the choice is deterministic).
    pub(super) fn producer_of_group(&self, group: &str) -> Option<ProducerId> {
        self.producers
            .producers
            .iter()
            .filter(|(_, p)| p.closing.is_none() && p.config.group == group)
            .map(|(id, _)| *id)
            .min()
    }

    /// The master address of `broker_name`, from `topic`'s publish view or any cached route.
    pub(super) fn broker_master(&self, topic: &str, broker_name: &str) -> Option<String> {
        if let Some(addr) = self
            .producers
            .publish
            .get(topic)
            .and_then(|info| info.master_addr(broker_name))
        {
            return Some(addr.to_string());
        }
        self.routes.master_of(broker_name)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_single_send(
        &mut self,
        now: Instant,
        op: OpId,
        producer: ProducerId,
        prepared: Result<crate::producer::PreparedMessage, SendError>,
        sample: Message,
        target: SendTarget,
        mode: SendMode,
        transactional: bool,
    ) {
        self.start_send(
            now,
            op,
            producer,
            prepared.map(Payload::Single),
            sample,
            target,
            mode,
            transactional,
        );
    }

    pub(super) fn with_id_clock<T>(
        &mut self,
        producer: ProducerId,
        f: impl FnOnce(&ProducerConfig, &mut IdClock<'_>) -> Result<T, SendError>,
    ) -> Result<T, SendError> {
        let wall_millis = self.wall.now_millis();
        let state = &mut self.producers;
        let Some(p) = state.producers.get(&producer) else {
            return Err(SendError::Transport(InvokeError::Shutdown));
        };
        let mut clock = IdClock {
            ids: &mut state.ids,
            wall_millis,
            utc_offset_millis: 0,
        };
        f(&p.config, &mut clock)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_send(
        &mut self,
        now: Instant,
        op: OpId,
        producer: ProducerId,
        payload: Result<Payload, SendError>,
        sample: Message,
        target: SendTarget,
        mode: SendMode,
        transactional: bool,
    ) {
        let usable = !self.closing
            && self
                .producers
                .producers
                .get(&producer)
                .is_some_and(|p| p.closing.is_none());
        let payload = match (usable, payload) {
            (false, _) => Err(SendError::Transport(InvokeError::Shutdown)),
            (true, p) => p,
        };
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                let event = if transactional {
                    Event::Transaction { op, result: Err(e) }
                } else {
                    send_event(op, mode, Err(e))
                };
                self.events.push_back(event);
                return;
            }
        };
        let p = self
            .producers
            .producers
            .get_mut(&producer)
            .expect("checked above");
        let custom_selector = !matches!(p.selector.selector(), QueueSelector::RoundRobin);
        let allowed = match (&target, mode) {
            // A chosen queue is not retried elsewhere.
            (SendTarget::Queue(_), _) | (_, SendMode::Oneway) => 1,
            _ if custom_selector => 1,
            (_, SendMode::Async) => p.config.async_attempts(),
            _ => p.config.sync_attempts(),
        };
        let attempts = SendAttempts::new(now, p.config.send_timeout, allowed)
            .with_max_per_attempt(p.config.max_timeout_per_attempt);
        p.in_flight += 1;
        let id = SendId(self.producers.next_send);
        self.producers.next_send += 1;
        let topic = sample.topic.clone();
        self.producers.sends.insert(
            id,
            Send {
                op,
                producer,
                topic,
                payload,
                sample,
                attempts,
                target,
                mode,
                attempt: None,
                waiting_route: false,
                outage_wait: None,
                transactional,
            },
        );
        self.advance_send(now, id);
    }

    /// Starts the next attempt of send `id`, or waits for its route, or ends it.
    fn advance_send(&mut self, now: Instant, id: SendId) {
        loop {
            let Some(send) = self.producers.sends.get_mut(&id) else {
                return;
            };
            if !self.producers.publish.contains_key(&send.topic) {
                if !send.waiting_route {
                    send.waiting_route = true;
                    let deadline = send.attempts.deadline();
                    let topic = send.topic.clone();
                    self.producers.route_waits.insert((deadline, id));
                    self.request_route(now, &topic, Waiter::Send(id));
                }
                return;
            }
            let attempt = match send.attempts.next_attempt(now) {
                Ok(a) => a,
                Err(e) => return self.finish_send(now, id, Err(e)),
            };
            let queue = match self.select_queue(now, id) {
                Ok(q) => q,
                Err(e) => return self.finish_send(now, id, Err(e)),
            };
            let send = self.producers.sends.get_mut(&id).expect("send exists");
            let info = &self.producers.publish[&send.topic];
            let Some(addr) = info.master_addr(&queue.broker_name).map(str::to_string) else {
                // No master for that broker right now: count the attempt and try elsewhere.
                let verdict = Verdict::Retry {
                    error: SendError::NoRoute {
                        topic: send.topic.clone(),
                    },
                    refresh_route: true,
                    isolate: false,
                };
                match send.attempts.record(&queue.broker_name, verdict, now) {
                    Step::Retry { .. } => {
                        let topic = send.topic.clone();
                        self.producers.publish.remove(&topic);
                        continue;
                    }
                    Step::Fail(e) => return self.finish_send(now, id, Err(e)),
                    // Neither comes of a NoRoute verdict (only a refused connection waits, and
                    // a retry never completes a send); treat them as the failure they are.
                    Step::Done(_) | Step::Wait { .. } => {
                        let topic = send.topic.clone();
                        return self.finish_send(now, id, Err(SendError::NoRoute { topic }));
                    }
                }
            };
            let born = self.wall.now_millis();
            let command = match &send.payload {
                Payload::Single(p) => p.command(&queue, born),
                Payload::Batch(b) => b.command(&queue, born),
            };
            if send.mode == SendMode::Oneway {
                self.remoting.send_oneway(now, &addr, command);
                return self.finish_send(now, id, Ok(None));
            }
            send.attempt = Some((queue.broker_name.clone(), queue, now));
            let op = self.alloc_op();
            self.pending.insert(op, Pending::SendAttempt(id));
            let timeout = attempt.deadline.saturating_duration_since(now);
            self.remoting.send_request(now, op, &addr, command, timeout);
            return;
        }
    }

    fn select_queue(&mut self, now: Instant, id: SendId) -> Result<MessageQueue, SendError> {
        let send = &self.producers.sends[&id];
        if let SendTarget::Queue(q) = &send.target {
            return Ok(q.clone());
        }
        let p = self
            .producers
            .producers
            .get_mut(&send.producer)
            .ok_or(SendError::Transport(InvokeError::Shutdown))?;
        let info =
            self.producers
                .publish
                .get_mut(&send.topic)
                .ok_or_else(|| SendError::NoRoute {
                    topic: send.topic.clone(),
                })?;
        if matches!(p.selector.selector(), QueueSelector::RoundRobin) {
            let last = send.attempts.last_broker();
            p.fault
                .select_queue(info, last, now, &mut self.rng)
                .ok_or_else(|| SendError::NoRoute {
                    topic: send.topic.clone(),
                })
        } else {
            Ok(p.selector
                .select(info.queues(), &send.sample, &mut self.rng)?
                .clone())
        }
    }

    /// A route (or its failure) arrived for a send waiting on `topic`.
    pub(super) fn send_route_ready(
        &mut self,
        now: Instant,
        id: SendId,
        topic: &str,
        outcome: Result<TopicRouteData, RouteError>,
    ) {
        let Some(send) = self.producers.sends.get_mut(&id) else {
            return;
        };
        let deadline = send.attempts.deadline();
        self.producers.route_waits.remove(&(deadline, id));
        send.waiting_route = false;
        let default_topic = self.producers.producers.get(&send.producer).map(|p| {
            (
                p.config.default_topic.clone(),
                p.config.default_topic_queue_nums,
            )
        });
        let own_topic = send.topic.clone();
        match outcome {
            Ok(route) if topic == own_topic => {
                if !self.producers.publish.contains_key(&own_topic) {
                    let info = TopicPublishInfo::from_route(&own_topic, &route, &mut self.rng);
                    self.install_publish(&own_topic, info, false);
                }
                self.advance_send(now, id);
            }
            Ok(route) => {
                // The template route, for a topic the brokers will auto-create.
                let nums = default_topic.map_or(4, |(_, n)| n);
                let info =
                    TopicPublishInfo::from_default_route(&own_topic, &route, nums, &mut self.rng);
                self.install_publish(&own_topic, info, true);
                self.advance_send(now, id);
            }
            // The topic has no route (yet, or again after a broker answered TOPIC_NOT_EXIST):
            // send through the template topic's brokers, which create it. Each pass costs a
            // send attempt, so this is bounded by the attempts and the send timeout.
            Err(RouteError::TopicNotExist(ref missing)) if *missing == own_topic => {
                match default_topic {
                    Some((default, _)) if default != own_topic => {
                        send.waiting_route = true;
                        self.producers.route_waits.insert((deadline, id));
                        self.request_route(now, &default, Waiter::Send(id));
                    }
                    _ => self.finish_send(now, id, Err(SendError::NoRoute { topic: own_topic })),
                }
            }
            Err(RouteError::NamesrvUnavailable(InvokeError::Shutdown)) => {
                self.finish_send(now, id, Err(SendError::Transport(InvokeError::Shutdown)))
            }
            Err(_) => self.finish_send(now, id, Err(SendError::NoRoute { topic: own_topic })),
        }
    }

    fn install_publish(&mut self, topic: &str, info: TopicPublishInfo, from_default: bool) {
        for q in info.queues() {
            if let Some(addr) = info.master_addr(&q.broker_name) {
                self.brokers.insert(addr);
            }
        }
        self.producers.publish.insert(topic.to_string(), info);
        if from_default {
            self.producers.from_default.insert(topic.to_string());
        } else {
            self.producers.from_default.remove(topic);
        }
    }

    /// The cached route of `topic` changed (or appeared): rebuild its publish view if a
    /// producer uses the topic, and heartbeat brokers we did not know.
    pub(super) fn route_changed(&mut self, now: Instant, topic: &str) {
        let Some(route) = self.routes.get(topic).cloned() else {
            return;
        };
        let known: BTreeSet<String> = self.brokers.addrs().clone();
        if self.producers.publish.contains_key(topic) {
            let info = TopicPublishInfo::from_route(topic, &route, &mut self.rng);
            if info.is_ok() {
                self.install_publish(topic, info, false);
            }
        }
        for broker in &route.broker_datas {
            if let Some(addr) = broker.master_addr() {
                self.brokers.insert(addr);
            }
        }
        let new: Vec<String> = self.brokers.addrs().difference(&known).cloned().collect();
        if !new.is_empty() {
            self.send_heartbeats(now, Some(&new));
        }
        if self.consumers.topics().contains(topic) {
            self.rebalance_all(now);
        }
    }

    pub(super) fn finish_send_attempt(
        &mut self,
        now: Instant,
        id: SendId,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let Some(send) = self.producers.sends.get_mut(&id) else {
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
        if let Some(p) = self.producers.producers.get_mut(&send.producer) {
            p.fault.update(
                &broker,
                now.saturating_duration_since(started),
                isolate,
                now,
            );
        }
        match send.attempts.record(&broker, verdict, now) {
            Step::Done(_) => {
                let response = result.expect("a stored status comes from a response");
                let msg_id = match &send.payload {
                    Payload::Single(p) => p.msg_id.clone(),
                    Payload::Batch(b) => b.msg_id(response.field("batchUniqId")),
                };
                let outcome =
                    SendResult::from_response(&response, msg_id, &queue.topic, &queue.broker_name);
                self.finish_send(now, id, outcome.map(Some));
            }
            Step::Retry { refresh_route } => {
                if refresh_route {
                    let topic = send.topic.clone();
                    self.producers.publish.remove(&topic);
                }
                self.advance_send(now, id);
            }
            Step::Wait {
                until,
                refresh_route,
            } => {
                send.outage_wait = Some(until);
                self.producers.outage_waits.insert((until, id));
                // The broker may come back elsewhere: ask for the route again meanwhile.
                let topic = send.topic.clone();
                if refresh_route {
                    self.producers.publish.remove(&topic);
                }
                self.request_route(now, &topic, Waiter::Refresh);
            }
            Step::Fail(e) => {
                if matches!(e, SendError::Transport(_) | SendError::Timeout) {
                    let topic = send.topic.clone();
                    self.request_route(now, &topic, Waiter::Refresh);
                }
                self.finish_send(now, id, Err(e));
            }
        }
    }

    /// Fails sends whose deadline passed while they waited for a route, and tries again the
    /// sends whose wait for a broker is over.
    pub(super) fn expire_sends(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.producers.outage_waits.first() {
            if at > now {
                break;
            }
            self.producers.outage_waits.pop_first();
            if let Some(send) = self.producers.sends.get_mut(&id) {
                send.outage_wait = None;
            }
            self.advance_send(now, id);
        }
        while let Some(&(at, id)) = self.producers.route_waits.first() {
            if at > now {
                break;
            }
            self.producers.route_waits.pop_first();
            self.finish_send(now, id, Err(SendError::Timeout));
        }
    }

    /// Ends every send with a shutdown error (the client is closing).
    pub(super) fn fail_all_sends(&mut self, now: Instant) {
        let mut ids: Vec<SendId> = self.producers.sends.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.finish_send(now, id, Err(SendError::Transport(InvokeError::Shutdown)));
        }
        let closing: Vec<ProducerId> = self
            .producers
            .producers
            .iter()
            .filter(|(_, p)| p.closing.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in closing {
            if let Some(p) = self.producers.producers.remove(&id) {
                let op = p.closing.expect("filtered");
                self.events
                    .push_back(Event::ProducerClosed { op, producer: id });
            }
        }
    }

    /// `Ok(None)` is a written oneway send.
    fn finish_send(
        &mut self,
        now: Instant,
        id: SendId,
        result: Result<Option<SendResult>, SendError>,
    ) {
        let Some(send) = self.producers.sends.remove(&id) else {
            return;
        };
        if send.waiting_route {
            self.producers
                .route_waits
                .remove(&(send.attempts.deadline(), id));
        }
        if let Some(until) = send.outage_wait {
            self.producers.outage_waits.remove(&(until, id));
        }
        let event = match (send.transactional, send.mode, result) {
            (true, _, Ok(Some(r))) => {
                self.transaction_stored(now, send.op, send.producer, send.sample, r);
                None
            }
            (true, _, Ok(None)) => Some(Event::Transaction {
                op: send.op,
                result: Err(SendError::Timeout),
            }),
            (true, _, Err(e)) => Some(Event::Transaction {
                op: send.op,
                result: Err(e),
            }),
            (false, mode, r) => Some(plain_event(send.op, mode, r)),
        };
        if let Some(event) = event {
            self.events.push_back(event);
        }
        let Some(p) = self.producers.producers.get_mut(&send.producer) else {
            return;
        };
        p.in_flight -= 1;
        if p.in_flight == 0 && p.closing.is_some() && p.unregister_left == 0 {
            self.unregister(now, send.producer);
        }
    }
}

/// The event of a plain (non-transactional) send; `Ok(None)` is a written oneway send.
fn plain_event(op: OpId, mode: SendMode, result: Result<Option<SendResult>, SendError>) -> Event {
    match (mode, result) {
        (SendMode::Oneway, r) => Event::OnewaySent {
            op,
            result: r.map(|_| ()),
        },
        (_, Ok(Some(r))) => send_event(op, mode, Ok(r)),
        (_, Ok(None)) => send_event(op, mode, Err(SendError::Timeout)),
        (_, Err(e)) => send_event(op, mode, Err(e)),
    }
}

impl ClientCore {
    fn unregister(&mut self, now: Instant, producer: ProducerId) {
        let Some(p) = self.producers.producers.get(&producer) else {
            return;
        };
        let group = p.config.group.clone();
        let brokers: Vec<String> = self.brokers.addrs().iter().cloned().collect();
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: Some(group),
            consumer_group: None,
        };
        let command = header::request(RequestCode::UnregisterClient, &header);
        for addr in &brokers {
            let op = self.alloc_op();
            self.pending.insert(op, Pending::Unregister(producer));
            let timeout = self.config.request_timeout;
            self.remoting
                .send_request(now, op, addr, command.clone(), timeout);
        }
        let p = self
            .producers
            .producers
            .get_mut(&producer)
            .expect("checked");
        p.unregister_left = brokers.len();
        if brokers.is_empty() {
            self.finish_unregister_all(producer);
        }
    }

    pub(super) fn finish_unregister(&mut self, producer: ProducerId) {
        let Some(p) = self.producers.producers.get_mut(&producer) else {
            return;
        };
        p.unregister_left = p.unregister_left.saturating_sub(1);
        if p.unregister_left == 0 {
            self.finish_unregister_all(producer);
        }
    }

    fn finish_unregister_all(&mut self, producer: ProducerId) {
        if let Some(p) = self.producers.producers.remove(&producer) {
            if let Some(op) = p.closing {
                self.events
                    .push_back(Event::ProducerClosed { op, producer });
            }
        }
    }

    /// Broker masters named by the producers' publish views.
    pub(super) fn publish_master_addrs(&self) -> Vec<String> {
        self.producers
            .publish
            .values()
            .flat_map(|info| {
                info.queues()
                    .iter()
                    .filter_map(|q| info.master_addr(&q.broker_name).map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The groups of the producers that are not closing (for heartbeats).
    pub(super) fn producer_groups(&self) -> Vec<String> {
        self.producers
            .producers
            .values()
            .filter(|p| p.closing.is_none())
            .map(|p| p.config.group.clone())
            .collect()
    }
}

fn send_event(op: OpId, mode: SendMode, result: Result<SendResult, SendError>) -> Event {
    match mode {
        SendMode::Oneway => Event::OnewaySent {
            op,
            result: result.map(|_| ()),
        },
        _ => Event::Send { op, result },
    }
}
