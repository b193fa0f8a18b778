//! Push and lite pull consumers inside the client: one owned [`ConsumerMachine`] per consumer
//! (rebalance, start offsets, the pull loop with flow control, deliveries and acks, send-back,
//! offset persistence, orderly locks, graceful close), and the router glue that builds each
//! machine's [`Env`], carries out what it asks for and routes answers back to it.
//!
//! ```text
//! rebalance (start, every 20 s, NOTIFY_CONSUMER_IDS_CHANGED)
//!   route → subscribe queues ─┬ clustering: GET_CONSUMER_LIST_BY_GROUP → allocate
//!                             └ broadcasting: every queue
//!   new queue: Assigned ─ start offset (QUERY_CONSUMER_OFFSET [→ GET_MAX_OFFSET | SEARCH]) ─► Pulling
//!   gone queue: persist its offset ─► Released (never commits again)
//! pull loop per queue: flow control → PULL_MESSAGE (long poll) → cache → Event::Deliver
//! ack: Success → settled │ ReconsumeLater → CONSUMER_SEND_MSG_BACK (failure: stays unsettled,
//!      retried locally) │ orderly: one batch per queue at a time, only while locked
//! offsets: committable = smallest unsettled; persisted every 5 s and on release and close
//! ```
//!
//! Committed offsets never go backwards, even while members come and go under faults:
//! - the group's list is asked of every broker of the route (also one our last heartbeat
//!   missed) and the union allocated, so members that asked different brokers still divide
//!   the queues alike;
//! - a lost broker connection or failed heartbeat registers us again at once (the broker's
//!   notification then reaches the whole group, us included);
//! - from a membership change (a notification, a lost connection) until a list fetched after
//!   the latest such change, with us in it, is applied, the topic is "in doubt": no pull
//!   commit, no periodic persist, and a queue released more than a moment after the first
//!   change is not written (its new owner may already be ahead);
//! - a queue taken over starts after a hand-over grace, and commits nothing until it moved
//!   past the offset it read (nor writes that offset back when it releases the queue or
//!   closes);
//! - a closing consumer writes no offset after its close's own writes and unregistrations.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::misuse::Misuse;
use super::route::Waiter;
use super::{ClientCore, OpId, Pending};
use crate::body::{ConsumerData, MessageModel, MessageQueue, TopicRouteData};
use crate::codec::RemotingCommand;
use crate::consumer::{
    decode_offset_file, ConsumerConfig, OffsetFileError, OffsetTable, PullCounts, Subscription,
};
use crate::remoting::InvokeError;

mod ack;
mod admin;
mod close;
mod commands;
mod direct;
mod identity;
mod machine;
mod persist;
mod pull;
mod rebalance;
mod refusal;
mod requests;
mod start;
#[cfg(test)]
pub(super) mod tests;

pub use super::ids::{ConsumerId, DeliveryId};
pub use direct::{consume_directly_response, ConsumeDirectlyToken};
pub use identity::ClientIdCollision;
pub(super) use machine::Request as ConsumerRequest;
use machine::{ConsumerMachine, ConsumerOutput, Env};
pub use refusal::ConsumerRefusal;

/// What the user's handler made of a delivered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// Consumed; the offset may move past these messages.
    Success,
    /// Consume again later: clustering sends them back to the broker's retry topic (with
    /// `delay_level`, 0 = the broker's 3 + reconsume count); broadcasting drops them.
    /// Orderly consumers treat it like [`ConsumeOutcome::SuspendCurrentQueue`].
    ReconsumeLater {
        /// Delay level for the retry (0 lets the broker decide).
        delay_level: i32,
    },
    /// Orderly: put the batch back and retry the queue after this pause (default 1 s).
    SuspendCurrentQueue(Option<Duration>),
    /// Not consumed, and not to be retried by this consumer: the messages are neither
    /// acknowledged nor sent back. The queue's committed offset stays before them, so whoever
    /// holds the queue next (another member after a rebalance, or this group after a
    /// restart) gets them again. This consumer does not deliver them again and, being unsettled,
    /// they hold the queue's offset (orderly: the queue) until it is released or closed: meant
    /// for a consumer about to stop, such as one that could not hand the messages on. Counted
    /// in [`ConsumerCloseReport::abandoned_deliveries`].
    Abandon,
}

/// A consumer's state for metrics ([`crate::ClientCore::consumer_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// The queues it holds.
    pub queues: Vec<QueueStats>,
    /// Rebalances that changed the queues it holds, since it started.
    pub rebalances: u64,
    /// Its pulls since it started, by result.
    pub pulls: PullCounts,
}

/// One queue a consumer holds ([`ConsumerStats::queues`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// The queue (its topic without the namespace).
    pub queue: MessageQueue,
    /// The offset the consumer would commit now, if it has one.
    pub committed: Option<i64>,
    /// The queue's end as the broker last reported it, if a pull was answered.
    pub broker_max: Option<i64>,
    /// Messages pulled and not yet settled.
    pub buffered_messages: u64,
    /// Their body bytes.
    pub buffered_bytes: u64,
}

impl QueueStats {
    /// Messages behind the broker's end: `broker_max - committed` (Java's `diffTotal` per
    /// queue), when both are known.
    pub fn lag(&self) -> Option<i64> {
        Some((self.broker_max? - self.committed?).max(0))
    }
}

/// What a closed consumer left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConsumerCloseReport {
    /// Offsets the brokers confirmed per queue (clustering), or written to the offset file
    /// (broadcasting).
    pub persisted: BTreeMap<MessageQueue, i64>,
    /// Offsets the close could not write: the broker refused, or the request failed (its
    /// connection was lost). The next owner of such a queue starts from the offset stored
    /// before and gets those messages again (at-least-once). They are not written again
    /// later: by then another member may own the queue and have committed past them.
    pub not_persisted: BTreeMap<MessageQueue, i64>,
    /// Deliveries not acked before the close (their messages will be consumed again).
    pub abandoned_deliveries: usize,
}

/// Why a consumer could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// No subscription was given.
    #[error("a consumer needs at least one subscription")]
    NoSubscription,
    /// The local offset file content is corrupt.
    #[error(transparent)]
    OffsetFile(#[from] OffsetFileError),
    /// The client is shut down.
    #[error("client is shut down")]
    Shutdown,
    /// A consumer of this client not closed yet already uses the group: members of a group
    /// are told apart by client id, so both would take every queue. Use another client (or
    /// close the first consumer).
    #[error("consumer group {group} is already used by a consumer of this client")]
    GroupInUse {
        /// The group.
        group: String,
    },
}

/// The client's consumers, by id.
#[derive(Debug, Default)]
pub(super) struct ConsumerTable {
    machines: BTreeMap<ConsumerId, ConsumerMachine>,
    next_consumer: u32,
    /// Delivery ids are unique across consumers (an ack names only the delivery).
    next_delivery: u64,
}

impl ConsumerTable {
    pub(super) fn any(&self) -> bool {
        !self.machines.is_empty()
    }

    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.machines
            .values()
            .filter_map(|m| m.poll_timeout(now))
            .min()
    }

    /// Whether some consumer has an offset the periodic persist would write.
    pub(super) fn any_unpersisted(&self) -> bool {
        self.machines.values().any(|m| m.has_unpersisted())
    }

    /// Whether some consumer consumes orderly (holds queue locks).
    pub(super) fn any_orderly(&self) -> bool {
        self.machines.values().any(|m| m.orderly())
    }

    /// The rebalance, offset-persist, lock-renewal and consume-timeout intervals: the shortest
    /// any consumer asks for (Java's defaults 20 s / 5 s / 20 s / 15 min).
    pub(super) fn intervals(&self) -> (Duration, Duration, Duration, Duration) {
        let min = |f: fn(&ConsumerConfig) -> Duration, default: u64| {
            self.machines
                .values()
                .map(|m| f(m.config()))
                .min()
                .unwrap_or(Duration::from_secs(default))
                .max(Duration::from_millis(100))
        };
        (
            min(|c| c.rebalance_interval, 20),
            min(|c| c.persist_interval, 5),
            min(|c| c.lock_interval, 20),
            min(|c| c.consume_timeout, 15 * 60),
        )
    }

    /// Every topic some consumer subscribes.
    pub(super) fn topics(&self) -> std::collections::BTreeSet<String> {
        self.machines
            .values()
            .flat_map(|m| m.topics().cloned())
            .collect()
    }

    fn ids(&self) -> Vec<ConsumerId> {
        self.machines.keys().copied().collect()
    }

    /// A new consumer id (POP consumers take theirs here too: ids are unique per client).
    pub(in crate::client) fn alloc_id(&mut self) -> ConsumerId {
        self.next_consumer += 1;
        ConsumerId(self.next_consumer)
    }

    /// The delivery id counter, shared with the POP consumers.
    pub(in crate::client) fn next_delivery_mut(&mut self) -> &mut u64 {
        &mut self.next_delivery
    }

    fn ids_of_group(&self, group: &str) -> Vec<ConsumerId> {
        self.machines
            .iter()
            .filter(|(_, m)| m.group() == group)
            .map(|(id, _)| *id)
            .collect()
    }
}

impl ClientCore {
    /// Registers a push consumer with its subscriptions (clustering consumers also subscribe
    /// their retry topic). It heartbeats, rebalances at once and then every rebalance
    /// interval, pulls, and hands messages out as [`Event::Deliver`](super::Event::Deliver). For broadcasting,
    /// `local_offsets` is the content of the offset file the adapter keeps (see
    /// [`Event::PersistLocalOffsets`](super::Event::PersistLocalOffsets)); the consume-from-where setting applies only to queues
    /// with no stored offset.
    pub fn create_consumer(
        &mut self,
        now: Instant,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        local_offsets: Option<&[u8]>,
    ) -> Result<ConsumerId, ConsumerError> {
        self.create_consumer_of(now, config, subscriptions, local_offsets, false)
    }

    /// Registers a lite pull consumer (Java `DefaultLitePullConsumer`): like
    /// [`ClientCore::create_consumer`], but heartbeated as `CONSUME_ACTIVELY` and without the
    /// group's retry-topic subscription. Pair it with [`ClientCore::assign`],
    /// [`ClientCore::seek`], [`ClientCore::pause`] and [`ClientCore::commit_offsets`].
    pub fn create_lite_consumer(
        &mut self,
        now: Instant,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        local_offsets: Option<&[u8]>,
    ) -> Result<ConsumerId, ConsumerError> {
        self.create_consumer_of(now, config, subscriptions, local_offsets, true)
    }

    fn create_consumer_of(
        &mut self,
        now: Instant,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        local_offsets: Option<&[u8]>,
        lite: bool,
    ) -> Result<ConsumerId, ConsumerError> {
        if self.closing {
            return Err(ConsumerError::Shutdown);
        }
        if subscriptions.is_empty() {
            return Err(ConsumerError::NoSubscription);
        }
        let namespace = self.config.namespace.clone();
        let mut config = config;
        config.group = namespace.wrap(&config.group);
        // Members of a group are told apart by client id: two consumers of one group in one
        // client would each take every queue (Java refuses this too).
        let taken = self
            .consumers
            .machines
            .values()
            .any(|m| m.is_live() && m.group() == config.group)
            || self.pops.group_in_use(&config.group);
        if taken {
            return Err(ConsumerError::GroupInUse {
                group: namespace.unwrap(&config.group),
            });
        }
        let subscriptions: Vec<Subscription> = subscriptions
            .into_iter()
            .map(|s| namespace.wrap_subscription(s))
            .collect();
        let offsets = match local_offsets {
            Some(bytes) if !bytes.is_empty() => OffsetTable::from_map(decode_offset_file(bytes)?),
            _ => OffsetTable::new(),
        };
        let mut subs: BTreeMap<String, Subscription> = subscriptions
            .into_iter()
            .map(|s| (s.topic().to_string(), s))
            .collect();
        if let Some(pop) = config.pop.clone().filter(|_| !lite) {
            // The broker pops a topic's POP retry topic with it: no retry subscription.
            return self.create_pop_consumer(now, config, pop, subs);
        }
        if config.message_model == MessageModel::Clustering && !lite {
            let retry = Subscription::retry(&config.group);
            subs.entry(retry.topic().to_string()).or_insert(retry);
        }
        let id = self.consumers.alloc_id();
        let wall_ms = self.wall.now_millis();
        self.trace_consumer(id, &config.group, config.trace_topic.as_deref());
        let machine = ConsumerMachine::new(id, config, subs, offsets, lite, wall_ms);
        self.consumers.machines.insert(id, machine);
        self.send_heartbeats(now, None);
        self.drive_consumer(now, id, |m, env| m.rebalance(now, env));
        self.arm_periodic(now);
        Ok(id)
    }

    /// Settles a delivery with the handler's outcome. [`Misuse::UnknownDelivery`] when it is
    /// not out (already acked, given up by the consume timeout, abandoned at close).
    pub fn ack(
        &mut self,
        now: Instant,
        delivery: DeliveryId,
        outcome: ConsumeOutcome,
    ) -> Result<(), Misuse> {
        let owner = self
            .consumers
            .machines
            .iter()
            .find(|(_, m)| m.has_delivery(delivery))
            .map(|(id, _)| *id);
        self.trace_ack(now, delivery, &outcome);
        if owner.is_none() {
            if let Some(result) = self.pop_ack(now, delivery, outcome) {
                return result;
            }
        }
        owner
            .and_then(|id| {
                self.drive_consumer(now, id, |m, env| m.ack(now, env, delivery, outcome))
            })
            .unwrap_or(Err(Misuse::UnknownDelivery(delivery)))
    }

    /// Closes a consumer gracefully: stops pulling, gives in-flight deliveries until
    /// `drain_timeout` to be acked, persists offsets, unlocks (orderly), unregisters, then
    /// [`Event::ConsumerClosed`](super::Event::ConsumerClosed) reports what was left. [`Misuse::UnknownConsumer`] or
    /// [`Misuse::ConsumerClosing`] when there is nothing to close.
    pub fn close_consumer(&mut self, now: Instant, consumer: ConsumerId) -> Result<OpId, Misuse> {
        if let Some(result) = self.pop_close(now, consumer) {
            return result;
        }
        self.live_consumer(consumer)?;
        let op = self.alloc_op();
        self.drive_consumer(now, consumer, |m, env| m.close(now, env, op));
        Ok(op)
    }

    /// Ends a close whose drain deadline passed with deliveries still out (any consumer:
    /// its deliveries out are given up, their messages left unconsumed).
    /// [`Misuse::UnknownConsumer`] for a consumer that does not exist (any more).
    pub fn abandon_deliveries(&mut self, now: Instant, consumer: ConsumerId) -> Result<(), Misuse> {
        if self.pop_abandon(now, consumer).is_some() {
            return Ok(());
        }
        self.drive_consumer(now, consumer, |m, env| m.abandon_deliveries(now, env))
            .ok_or(Misuse::UnknownConsumer(consumer))
    }

    /// Deliveries not yet acked, across consumers.
    pub fn deliveries_in_flight(&self) -> usize {
        self.consumers
            .machines
            .values()
            .map(ConsumerMachine::deliveries_in_flight)
            .sum::<usize>()
            + self.pops.deliveries_in_flight()
    }

    /// The offsets a consumer would commit now (smallest unsettled per queue).
    pub fn consumer_offsets(&self, consumer: ConsumerId) -> BTreeMap<MessageQueue, i64> {
        self.consumers
            .machines
            .get(&consumer)
            .map(|m| self.config.namespace.unwrap_offsets(m.offsets().clone()))
            .unwrap_or_default()
    }

    /// What consumer `consumer` holds, per queue, and how often its queues changed (the
    /// default for an unknown consumer): for metrics and monitoring.
    pub fn consumer_stats(&self, consumer: ConsumerId) -> ConsumerStats {
        let Some(m) = self.consumers.machines.get(&consumer) else {
            return ConsumerStats::default();
        };
        let ns = &self.config.namespace;
        let queues = m
            .queue_stats()
            .into_iter()
            .map(|mut q| {
                q.queue.topic = ns.unwrap(&q.queue.topic);
                q
            })
            .collect();
        ConsumerStats {
            queues,
            rebalances: m.rebalances(),
            pulls: m.pulls(),
        }
    }

    /// The group of consumer `consumer` as the user named it (without the namespace).
    pub fn consumer_group(&self, consumer: ConsumerId) -> Option<String> {
        let group = match self.consumers.machines.get(&consumer) {
            Some(m) => m.group(),
            None => self.pop_group(consumer)?,
        };
        Some(self.config.namespace.unwrap(group))
    }

    /// The client-id collision consumer `consumer` found last ([`crate::Event::ClientIdCollision`]),
    /// while it lasts.
    pub fn client_id_collision(&self, consumer: ConsumerId) -> Option<ClientIdCollision> {
        self.consumers
            .machines
            .get(&consumer)
            .and_then(|m| m.identity.collision().cloned())
    }

    /// The refusal for lack of permission consumer `consumer` got last
    /// ([`crate::Event::ConsumerRefused`]), until a request of its kind succeeds.
    pub fn consumer_refusal(&self, consumer: ConsumerId) -> Option<ConsumerRefusal> {
        self.consumers
            .machines
            .get(&consumer)
            .and_then(|m| m.refusal.current().cloned())
    }

    /// The queues a consumer holds now.
    pub fn assigned_queues(&self, consumer: ConsumerId) -> Vec<MessageQueue> {
        self.consumers
            .machines
            .get(&consumer)
            .map(ConsumerMachine::held_queues)
            .unwrap_or_default()
            .iter()
            .map(|q| self.config.namespace.unwrap_queue(q))
            .collect()
    }

    /// Adds `subscription` to a running consumer, or replaces the expression of a topic it
    /// already subscribes (Java `subscribe` after `start`): the brokers learn it with the next
    /// heartbeat, sent now, and the consumer rebalances at once. Pulls in flight carry the old
    /// expression; what they bring is re-checked client-side against the new one's tags.
    /// [`Misuse::Assigned`] for a consumer that assigned its queues.
    pub fn subscribe(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        subscription: Subscription,
    ) -> Result<(), Misuse> {
        self.refuse_pop(consumer)?;
        let subscription = self.config.namespace.wrap_subscription(subscription);
        self.consumer_command(now, consumer, |m, env| m.subscribe(now, env, subscription))
    }

    /// Drops the subscription of `topic` from a running consumer (Java `unsubscribe`): its
    /// queues are released (their offsets persisted) and the brokers learn it with the
    /// heartbeat sent now. [`Misuse::Assigned`] for a consumer that assigned its queues,
    /// [`Misuse::NotSubscribed`] for a topic it does not subscribe.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        topic: &str,
    ) -> Result<(), Misuse> {
        self.refuse_pop(consumer)?;
        let topic = self.config.namespace.wrap(topic);
        self.consumer_command(now, consumer, |m, env| m.unsubscribe(now, env, &topic))
    }

    /// Takes `queues` instead of rebalancing (lite pull's `assign`): the consumer holds
    /// exactly these from now on, and is no longer part of the group's rebalance.
    pub fn assign(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        queues: Vec<MessageQueue>,
    ) -> Result<(), Misuse> {
        self.refuse_pop(consumer)?;
        let queues = self.config.namespace.wrap_queues(&queues);
        self.consumer_command(now, consumer, |m, env| m.assign(now, env, queues))
    }

    /// Moves a queue's consume position to `offset` (lite pull's `seek`): cached messages are
    /// dropped and the next pull starts there; the committed offset follows, even backwards.
    /// [`Misuse::QueueNotHeld`] for a queue the consumer does not hold.
    pub fn seek(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        queue: &MessageQueue,
        offset: i64,
    ) -> Result<(), Misuse> {
        self.refuse_pop(consumer)?;
        if offset < 0 {
            return Err(Misuse::NegativeOffset { offset });
        }
        let queue = self.config.namespace.wrap_queue(queue);
        self.consumer_command(now, consumer, |m, env| m.seek(now, env, &queue, offset))
    }

    /// Stops pulling and delivering `queues` until [`ClientCore::resume`].
    pub fn pause(&mut self, consumer: ConsumerId, queues: &[MessageQueue]) -> Result<(), Misuse> {
        self.refuse_pop(consumer)?;
        let queues = self.config.namespace.wrap_queues(queues);
        self.live_consumer(consumer)?.pause(&queues)
    }

    /// Resumes paused queues.
    pub fn resume(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        queues: &[MessageQueue],
    ) -> Result<(), Misuse> {
        self.refuse_pop(consumer)?;
        let queues = self.config.namespace.wrap_queues(queues);
        self.consumer_command(now, consumer, |m, env| m.resume(now, env, &queues))
    }

    /// Persists the consumer's offsets now (lite pull's synchronous `commit`):
    /// [`Event::OffsetsCommitted`](super::Event::OffsetsCommitted) follows once every broker answered (at once for
    /// broadcasting, whose file content comes as [`Event::PersistLocalOffsets`](super::Event::PersistLocalOffsets)).
    pub fn commit_offsets(&mut self, now: Instant, consumer: ConsumerId) -> Result<OpId, Misuse> {
        self.refuse_pop(consumer)?;
        self.live_consumer(consumer)?;
        let op = self.alloc_op();
        self.drive_consumer(now, consumer, |m, env| m.commit(now, env, op));
        Ok(op)
    }

    /// A consumer that takes commands: known and not closing.
    fn live_consumer(&mut self, consumer: ConsumerId) -> Result<&mut ConsumerMachine, Misuse> {
        let machine = self
            .consumers
            .machines
            .get_mut(&consumer)
            .ok_or(Misuse::UnknownConsumer(consumer))?;
        machine.check_live()?;
        Ok(machine)
    }

    /// Runs a user's command on a known consumer.
    fn consumer_command(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        f: impl FnOnce(&mut ConsumerMachine, &mut Env<'_>) -> Result<(), Misuse>,
    ) -> Result<(), Misuse> {
        self.drive_consumer(now, consumer, f)
            .unwrap_or(Err(Misuse::UnknownConsumer(consumer)))
    }

    /// Calls `f` on consumer `id` with its [`Env`], then carries out what the machine asked
    /// for, in order; a machine whose close finished is dropped. `None` for an unknown id.
    fn drive_consumer<R>(
        &mut self,
        now: Instant,
        id: ConsumerId,
        f: impl FnOnce(&mut ConsumerMachine, &mut Env<'_>) -> R,
    ) -> Option<R> {
        let machine = self.consumers.machines.get_mut(&id)?;
        let mut env = Env {
            wall: self.wall.as_ref(),
            client_id: &self.client_id,
            routes: &self.routes,
            brokers: self.brokers.addrs(),
            rng: &mut self.rng,
            next_delivery: &mut self.consumers.next_delivery,
            request_timeout: self.config.request_timeout,
            stopped: self.closing,
            addr_map: &self.config.broker_addr_map,
            conn_history: self.remoting.history(),
            jobs: &self.timers,
        };
        let result = f(machine, &mut env);
        self.flush_consumer(now, id);
        Some(result)
    }

    /// Carries out what consumer `id` asked for.
    fn flush_consumer(&mut self, now: Instant, id: ConsumerId) {
        while let Some(output) = self
            .consumers
            .machines
            .get_mut(&id)
            .and_then(ConsumerMachine::poll_output)
        {
            match output {
                ConsumerOutput::Request {
                    addr,
                    command,
                    timeout,
                    request,
                    parent,
                } => {
                    let pending = Pending::Consumer(id, request, addr.clone());
                    let _in = parent.enter();
                    self.request(now, &addr, command, timeout, pending)
                }
                ConsumerOutput::Oneway { addr, command } => {
                    self.remoting.send_oneway(now, &addr, command)
                }
                ConsumerOutput::Heartbeat => self.send_heartbeats(now, None),
                ConsumerOutput::Route(topic) => {
                    self.request_route(now, &topic, Waiter::Rebalance(id))
                }
                ConsumerOutput::Event(event) => self.events.push_back(event),
            }
        }
        if self
            .consumers
            .machines
            .get(&id)
            .is_some_and(ConsumerMachine::is_finished)
        {
            self.consumers.machines.remove(&id);
        }
    }

    /// Runs `f` on every consumer, in id order.
    fn drive_all_consumers(
        &mut self,
        now: Instant,
        mut f: impl FnMut(&mut ConsumerMachine, &mut Env<'_>),
    ) {
        for id in self.consumers.ids() {
            self.drive_consumer(now, id, &mut f);
        }
    }

    /// Every consumer not closed yet (closing ones included).
    pub(super) fn consumer_ids(&self) -> Vec<ConsumerId> {
        let mut ids = self.consumers.ids();
        ids.extend(self.pops.ids());
        ids
    }

    /// Heartbeat data of every live consumer.
    pub(super) fn consumer_heartbeat_data(&self) -> Vec<ConsumerData> {
        self.consumers
            .machines
            .values()
            .filter_map(ConsumerMachine::heartbeat_data)
            .chain(self.pops.heartbeat_data())
            .collect()
    }

    /// Rebalances every consumer now (the timer, a changed route).
    pub(super) fn rebalance_all(&mut self, now: Instant) {
        self.drive_all_consumers(now, |m, env| m.rebalance_round(now, env));
    }

    /// A route a consumer asked for arrived (`None`: there is none).
    pub(super) fn consumer_route_ready(
        &mut self,
        now: Instant,
        id: ConsumerId,
        topic: &str,
        route: Option<TopicRouteData>,
    ) {
        self.drive_consumer(now, id, |m, env| m.handle_route(now, env, topic, route));
    }

    /// A consumer request finished; a lost connection is handled first.
    pub(super) fn finish_consumer_request(
        &mut self,
        now: Instant,
        id: ConsumerId,
        broker: &str,
        request: ConsumerRequest,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        if let Err(InvokeError::ConnectionClosed { addr }) = &result {
            self.connection_lost(now, addr);
        }
        self.drive_consumer(now, id, |m, env| {
            m.handle_response(now, env, broker, request, result)
        });
    }

    pub(super) fn persist_offsets(&mut self, now: Instant) {
        self.drive_all_consumers(now, |m, env| m.persist_offsets(now, env));
    }

    pub(super) fn lock_all_consumers(&mut self, now: Instant) {
        self.drive_all_consumers(now, |m, env| m.lock_all(env));
    }

    pub(super) fn expire_deliveries(&mut self, now: Instant) {
        self.drive_all_consumers(now, |m, env| m.expire_deliveries(now, env));
    }

    /// The consumers' timers whose time came, and re-registrations held back until now.
    pub(super) fn run_consumer_timers(&mut self, now: Instant) {
        self.drive_all_consumers(now, |m, env| m.handle_timeout(now, env));
        self.run_reregistrations(now);
        self.drive_all_consumers(now, |m, env| m.handle_timeout_deliveries(now, env));
    }

    /// Drops every consumer timer: the client is closed.
    pub(super) fn stop_consumer_timers(&mut self) {
        for m in self.consumers.machines.values_mut() {
            m.stop_timers();
        }
        self.stop_pop_timers();
        self.brokers.stop();
    }

    /// Every consumer's group membership is in doubt (a broker connection was lost).
    pub(super) fn doubt_all_consumers(&mut self, now: Instant) {
        for m in self.consumers.machines.values_mut() {
            m.doubt_membership(now);
        }
    }

    /// Whether a consumer is registered (not closing) in a client that is not shutting down.
    pub(super) fn has_live_consumer(&self) -> bool {
        !self.closing
            && (self
                .consumers
                .machines
                .values()
                .any(ConsumerMachine::is_live)
                || self.pops.any_live())
    }

    /// Broker `addr` is back: the queues waiting to pull from it pull now.
    pub(super) fn consumers_broker_back(&mut self, now: Instant, addr: &str) {
        self.drive_all_consumers(now, |m, env| m.broker_back(now, env, addr));
        self.pops_broker_back(now, addr);
    }

    /// Rebalances now every live consumer in doubt about its membership.
    pub(super) fn rebalance_doubted(&mut self, now: Instant) {
        self.drive_all_consumers(now, |m, env| {
            if m.is_live() && m.in_doubt() {
                m.rebalance(now, env);
            }
        });
    }
}
