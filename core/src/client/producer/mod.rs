//! Producers inside the client: one owned [`ProducerMachine`] per producer (sends with a time
//! budget, retries on another broker, latency fault isolation, the template-topic fallback,
//! unregistration at close), the publish views they share, and the router glue that lends
//! each machine its [`Env`] and carries out what it asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::misuse::Misuse;
use super::route::Waiter;
use super::{ClientConfig, ClientCore, OpId, Pending, RouteError};
use crate::body::{MessageQueue, TopicRouteData};
use crate::codec::RemotingCommand;
use crate::message::{Message, UniqIdGenerator};
use crate::producer::{
    prepare_batch, prepare_held, prepare_message, AutoBatchStats, IdClock, PreparedMessage,
    ProducerConfig, QueueSelector, SendError, SendSelector, TopicPublishInfo,
};
use crate::remoting::InvokeError;
use crate::time::Rng;

mod machine;
mod views;

pub use super::ids::ProducerId;
pub(super) use super::ids::SendId;
pub(super) use machine::ProducerRequest;
use machine::{Env, NewSend, Payload, ProducerMachine, ProducerOutput};
use views::PublishViews;

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
    /// The queue this selector picks (Java `send(msg, selector, arg)`); not retried on
    /// another queue. It sees the queues as the cluster names them (namespace included).
    Select(SendSelector),
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
    /// No response is asked for; [`Event::OnewaySent`](super::Event::OnewaySent) reports the
    /// write.
    Oneway,
}

/// The client's producers, by id, and what they share.
#[derive(Debug)]
pub(super) struct ProducerTable {
    machines: BTreeMap<ProducerId, ProducerMachine>,
    next_producer: u32,
    /// Send ids are unique across producers.
    next_send: u64,
    /// Publish views of topics in use.
    views: PublishViews,
    ids: UniqIdGenerator,
    /// Auto-batch counts of closed producers, by group, so the totals never go back.
    retired_batch_stats: BTreeMap<String, AutoBatchStats>,
}

impl ProducerTable {
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
            machines: BTreeMap::new(),
            next_producer: 1,
            next_send: 1,
            views: PublishViews::default(),
            ids,
            retired_batch_stats: BTreeMap::new(),
        }
    }

    /// Whether any producer is registered.
    pub(super) fn any(&self) -> bool {
        !self.machines.is_empty()
    }

    pub(super) fn topics_in_use(&self) -> impl Iterator<Item = &String> {
        self.views.topics()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.machines
            .values()
            .filter_map(ProducerMachine::poll_timeout)
            .min()
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
        let mut config = config;
        config.group = self.config.namespace.wrap(&config.group);
        let id = ProducerId(self.producers.next_producer);
        self.producers.next_producer += 1;
        self.trace_producer(id, &config);
        let machine = ProducerMachine::new(id, config, selector);
        self.producers.machines.insert(id, machine);
        self.send_heartbeats(now, None);
        self.arm_periodic(now);
        id
    }

    /// Sends one message; the result is [`Event::Send`](super::Event::Send) (or
    /// [`Event::OnewaySent`](super::Event::OnewaySent) for [`SendMode::Oneway`]). Sets the
    /// message's `UNIQ_KEY` if it has none.
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
        self.config.namespace.wrap_message(&mut message);
        let target = self.wrap_target(target);
        let lane = self
            .producers
            .machines
            .get(&producer)
            .and_then(|m| m.batch_lane(&message, &target, mode))
            .filter(|_| !self.closing);
        if let Some((lane, len)) = lane {
            // Auto-batching: the send waits in its lane and leaves with the lane's batch.
            let held = self.with_id_clock(producer, |config, clock| {
                prepare_held(config, &mut message, clock)
            });
            self.trace_send(now, producer, op, &message);
            match held {
                Ok(()) => {
                    self.drive_producer(now, producer, |m, env| {
                        m.hold(now, env, op, message, lane, len)
                    });
                }
                Err(e) => self
                    .events
                    .push_back(super::Event::Send { op, result: Err(e) }),
            }
            return Ok(op);
        }
        let prepared = self.with_id_clock(producer, |config, clock| {
            prepare_message(config, &mut message, clock)
        });
        let sample = message;
        self.trace_send(now, producer, op, &sample);
        let payload = prepared.map(Payload::Single);
        self.start_send(now, op, producer, payload, sample, target, mode, false);
        Ok(op)
    }

    /// Sends a batch (one topic, Java's batch rules); the result is one
    /// [`Event::Send`](super::Event::Send) whose `msg_id` joins the inner ids.
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
        for message in &mut messages {
            self.config.namespace.wrap_message(message);
        }
        let target = self.wrap_target(target);
        let prepared = self.with_id_clock(producer, |config, clock| {
            prepare_batch(config, &mut messages, clock)
        });
        let sample = messages
            .into_iter()
            .next()
            .unwrap_or_else(|| Message::new("", bytes::Bytes::new()));
        let payload = prepared.map(Payload::Batch);
        self.start_send(now, op, producer, payload, sample, target, mode, false);
        Ok(op)
    }

    /// Closes a producer: waits for its sends to end, then sends UNREGISTER_CLIENT to every
    /// known broker; [`Event::ProducerClosed`](super::Event::ProducerClosed) follows. New
    /// sends are refused with [`Misuse::ProducerClosing`]; so is a second close.
    pub fn close_producer(&mut self, now: Instant, producer: ProducerId) -> Result<OpId, Misuse> {
        self.live_producer(producer)?;
        let op = self.alloc_op();
        self.drive_producer(now, producer, |m, env| m.close(now, env, op));
        Ok(op)
    }

    /// A chosen queue of the user's topic, as the cluster knows it.
    fn wrap_target(&self, target: SendTarget) -> SendTarget {
        match target {
            SendTarget::Queue(q) => SendTarget::Queue(self.config.namespace.wrap_queue(&q)),
            other => other,
        }
    }

    /// Every producer not closed yet (closing ones included).
    pub(super) fn producer_ids(&self) -> Vec<ProducerId> {
        self.producers.machines.keys().copied().collect()
    }

    /// A producer that takes commands: known and not closing.
    pub(super) fn live_producer(&self, producer: ProducerId) -> Result<(), Misuse> {
        match self.producers.machines.get(&producer) {
            None => Err(Misuse::UnknownProducer(producer)),
            Some(p) if !p.is_live() => Err(Misuse::ProducerClosing(producer)),
            Some(_) => Ok(()),
        }
    }

    /// Auto-batching so far, by producer group (without namespace), closed producers
    /// included: for metrics.
    pub fn auto_batch_stats(&self) -> BTreeMap<String, AutoBatchStats> {
        let mut stats = self.producers.retired_batch_stats.clone();
        for m in self.producers.machines.values() {
            if m.config().auto_batch.is_some() {
                stats
                    .entry(m.config().group.clone())
                    .or_default()
                    .add(m.batch_stats());
            }
        }
        stats
            .into_iter()
            .map(|(group, s)| (self.config.namespace.unwrap(&group), s))
            .collect()
    }

    /// Sends in flight across all producers.
    pub fn sends_in_flight(&self) -> usize {
        self.producers
            .machines
            .values()
            .map(ProducerMachine::sends_in_flight)
            .sum()
    }

    /// Brokers some producer's fault table holds unavailable at `now` (isolated after a
    /// failure, or slow), sorted: for metrics and monitoring.
    pub fn isolated_brokers(&self, now: Instant) -> Vec<String> {
        self.isolations(now).into_keys().collect()
    }

    /// The brokers the producers avoid at `now`, with when each is available again (the
    /// latest of the producers' fault tables).
    pub(super) fn isolations(&self, now: Instant) -> BTreeMap<String, Instant> {
        let mut isolated = BTreeMap::new();
        for m in self.producers.machines.values() {
            for (broker, until) in m.isolations(now) {
                let at = isolated.entry(broker.to_owned()).or_insert(until);
                *at = (*at).max(until);
            }
        }
        isolated
    }

    pub(super) fn producer_group(&self, producer: ProducerId) -> Option<String> {
        self.producers
            .machines
            .get(&producer)
            .map(|p| p.config().group.clone())
    }

    /// A live producer of `group` (the lowest id, so the choice is deterministic).
    pub(super) fn producer_of_group(&self, group: &str) -> Option<ProducerId> {
        self.producers
            .machines
            .iter()
            .filter(|(_, p)| p.is_live() && p.config().group == group)
            .map(|(id, _)| *id)
            .min()
    }

    /// The groups of the producers that are not closing (for heartbeats).
    pub(super) fn producer_groups(&self) -> Vec<String> {
        self.producers
            .machines
            .values()
            .filter(|p| p.is_live())
            .map(|p| p.config().group.clone())
            .collect()
    }

    /// The master address of `broker_name`, from `topic`'s publish view or any cached route.
    pub(super) fn broker_master(&self, topic: &str, broker_name: &str) -> Option<String> {
        if let Some(addr) = self
            .producers
            .views
            .get(topic)
            .and_then(|info| info.master_addr(broker_name))
        {
            return Some(addr.to_string());
        }
        self.routes.master_of(broker_name)
    }

    /// Broker masters named by the producers' publish views.
    pub(super) fn publish_master_addrs(&self) -> Vec<String> {
        self.producers.views.master_addrs()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_single_send(
        &mut self,
        now: Instant,
        op: OpId,
        producer: ProducerId,
        prepared: Result<PreparedMessage, SendError>,
        sample: Message,
        target: SendTarget,
        mode: SendMode,
        transactional: bool,
    ) {
        let payload = prepared.map(Payload::Single);
        self.start_send(
            now,
            op,
            producer,
            payload,
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
        let table = &mut self.producers;
        let Some(p) = table.machines.get(&producer) else {
            return Err(SendError::Transport(InvokeError::Shutdown));
        };
        let mut clock = IdClock {
            ids: &mut table.ids,
            wall_millis,
            utc_offset_millis: 0,
        };
        f(p.config(), &mut clock)
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
                .machines
                .get(&producer)
                .is_some_and(ProducerMachine::is_live);
        let payload = match (usable, payload) {
            (false, _) => Err(SendError::Transport(InvokeError::Shutdown)),
            (true, p) => p,
        };
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                let event = if transactional {
                    super::Event::Transaction { op, result: Err(e) }
                } else if mode == SendMode::Oneway {
                    super::Event::OnewaySent { op, result: Err(e) }
                } else {
                    super::Event::Send { op, result: Err(e) }
                };
                self.events.push_back(event);
                return;
            }
        };
        let id = SendId(self.producers.next_send);
        self.producers.next_send += 1;
        let send = NewSend {
            op,
            payload,
            sample,
            target,
            mode,
            transactional,
        };
        self.drive_producer(now, producer, |m, env| m.start_send(now, env, id, send));
    }

    /// Calls `f` on producer `id` with its [`Env`], then carries out what the machine asked
    /// for, in order; a machine whose close finished is dropped. `None` for an unknown id.
    fn drive_producer<R>(
        &mut self,
        now: Instant,
        id: ProducerId,
        f: impl FnOnce(&mut ProducerMachine, &mut Env<'_>) -> R,
    ) -> Option<R> {
        let table = &mut self.producers;
        let machine = table.machines.get_mut(&id)?;
        let mut env = Env {
            wall: self.wall.as_ref(),
            client_id: &self.client_id,
            views: &mut table.views,
            rng: &mut self.rng,
            brokers: self.brokers.addrs(),
            request_timeout: self.config.request_timeout,
            ids: &mut table.ids,
            next_send: &mut table.next_send,
        };
        let result = f(machine, &mut env);
        self.flush_producer(now, id);
        Some(result)
    }

    fn flush_producer(&mut self, now: Instant, id: ProducerId) {
        while let Some(output) = self
            .producers
            .machines
            .get_mut(&id)
            .and_then(ProducerMachine::poll_output)
        {
            match output {
                ProducerOutput::Request {
                    addr,
                    command,
                    timeout,
                    request,
                } => self.request(now, &addr, command, timeout, Pending::Producer(id, request)),
                ProducerOutput::Oneway { addr, command } => {
                    self.remoting.send_oneway(now, &addr, command)
                }
                ProducerOutput::Route { topic, send } => {
                    let waiter = match send {
                        Some(send) => Waiter::Send(id, send),
                        None => Waiter::Refresh,
                    };
                    self.request_route(now, &topic, waiter);
                }
                ProducerOutput::Brokers(addrs) => {
                    for addr in addrs {
                        self.brokers.insert(&addr);
                    }
                }
                ProducerOutput::TransactionStored {
                    op,
                    message,
                    result,
                } => self.transaction_stored(now, op, id, message, result),
                ProducerOutput::Event(event) => self.events.push_back(event),
            }
        }
        if self
            .producers
            .machines
            .get(&id)
            .is_some_and(ProducerMachine::is_finished)
        {
            let removed = self.producers.machines.remove(&id);
            if let Some(m) = removed.filter(|m| m.config().auto_batch.is_some()) {
                self.producers
                    .retired_batch_stats
                    .entry(m.config().group.clone())
                    .or_default()
                    .add(m.batch_stats());
            }
        }
    }

    /// A route (or its failure) arrived for a send waiting on `topic`.
    pub(super) fn send_route_ready(
        &mut self,
        now: Instant,
        producer: ProducerId,
        send: SendId,
        topic: &str,
        outcome: Result<TopicRouteData, RouteError>,
    ) {
        self.drive_producer(now, producer, |m, env| {
            m.handle_route(now, env, send, topic, outcome)
        });
    }

    /// A producer request finished.
    pub(super) fn finish_producer_request(
        &mut self,
        now: Instant,
        producer: ProducerId,
        request: ProducerRequest,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        self.drive_producer(now, producer, |m, env| {
            m.handle_response(now, env, request, result)
        });
        self.notice_sends_settled();
    }

    /// The cached route of `topic` changed (or appeared): rebuild its publish view if a
    /// producer uses the topic, and heartbeat brokers we did not know.
    pub(super) fn route_changed(&mut self, now: Instant, topic: &str) {
        let Some(route) = self.routes.get(topic).cloned() else {
            return;
        };
        self.notice_route(topic);
        let known: BTreeSet<String> = self.brokers.addrs().clone();
        if self.producers.views.contains(topic) {
            let info = TopicPublishInfo::from_route(topic, &route, &mut self.rng);
            if info.is_ok() {
                for addr in self.producers.views.install(topic, info, false) {
                    self.brokers.insert(&addr);
                }
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

    /// Fails sends whose deadline passed while they waited for a route, and tries again the
    /// sends whose wait for a broker is over.
    pub(super) fn expire_sends(&mut self, now: Instant) {
        let ids: Vec<ProducerId> = self.producers.machines.keys().copied().collect();
        for id in ids {
            self.drive_producer(now, id, |m, env| m.handle_timeout(now, env));
        }
    }

    /// A broker answered again after a loss: sends waiting out a broker outage try now.
    pub(super) fn producers_broker_back(&mut self, now: Instant) {
        let ids: Vec<ProducerId> = self.producers.machines.keys().copied().collect();
        for id in ids {
            self.drive_producer(now, id, |m, env| m.broker_back(now, env));
        }
    }

    /// Ends every send with a shutdown error and closes the closing producers (the client is
    /// closing).
    pub(super) fn fail_all_sends(&mut self, now: Instant) {
        let ids: Vec<ProducerId> = self.producers.machines.keys().copied().collect();
        for id in ids {
            self.drive_producer(now, id, |m, env| m.fail_all(now, env));
        }
    }
}

#[cfg(test)]
mod tests;
