//! Push consumers inside the client: rebalance, start offsets, the pull loop with flow
//! control, deliveries and acks, send-back, offset persistence, orderly locks, broker→client
//! requests about consumers, and graceful close.
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
//!   closes).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::misuse::Misuse;
use super::route::Waiter;
use super::{ClientCore, Event, OpId, Pending};
use crate::body::{
    ConsumeType, ConsumerData, ConsumerRunningInfo, GetConsumerListByGroupResponseBody,
    GetConsumerStatusBody, LockBatchResponseBody, MessageModel, MessageQueue, ProcessQueueInfo,
    ResetOffsetBody, TopicRouteData,
};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::consumer::{
    decode_offset_file, encode_offset_file, interpret_pull_response, lock_request,
    offset_from_response, pull_request, send_back_header, send_back_request, send_back_succeeded,
    unlock_request, ConsumeMode, ConsumerConfig, FlowControl, LockTable, OffsetFileError,
    OffsetTable, ProcessQueue, PullDecision, PullOutcome, PullSpec, QueueState, StartOffset,
    StartOffsetStep, StoredOffset, Subscription,
};
use crate::header::{
    self, GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use crate::message::MessageExt;
use crate::remoting::{IncomingRequest, InvokeError};

pub use super::ids::{ConsumerId, DeliveryId};

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

/// What a closed consumer left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerCloseReport {
    /// Offsets persisted per queue.
    pub persisted: BTreeMap<MessageQueue, i64>,
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
}

#[derive(Debug)]
struct Slot {
    pq: ProcessQueue,
    start: Option<StartOffset>,
    pull_in_flight: bool,
    /// The broker id the broker suggested for the next pull.
    broker_id: i64,
    /// Orderly: a batch is out with the user.
    batch_out: bool,
    /// Orderly: rebalanced away while a batch was out; released once it is acked.
    release_pending: bool,
    /// Bumped by a seek: a pull answered for an older epoch is stale and ignored.
    epoch: u64,
    /// The offset this queue started from. Until the committable offset moves past it, pulls
    /// carry no commit (and a release or close writes nothing for the queue): writing back the
    /// offset we merely read could overwrite a later one
    /// that the queue's previous owner committed meanwhile (its release persist racing our
    /// start-offset lookup). Cleared by a seek, whose offset is the user's to commit.
    started_at: Option<i64>,
}

#[derive(Debug)]
struct Consumer {
    config: ConsumerConfig,
    subs: BTreeMap<String, Subscription>,
    sub_version: i64,
    queues: BTreeMap<MessageQueue, Slot>,
    offsets: OffsetTable,
    persisted: BTreeMap<MessageQueue, i64>,
    flow: FlowControl,
    locks: LockTable,
    outstanding: usize,
    closing: Option<OpId>,
    close_steps: usize,
    report: ConsumerCloseReport,
    /// Queues chosen by [`ClientCore::assign`] instead of rebalancing.
    assigned: Option<BTreeSet<MessageQueue>>,
    /// Queues paused by [`ClientCore::pause`]: no pulls, no deliveries.
    paused: BTreeSet<MessageQueue>,
    /// [`ClientCore::commit_offsets`] calls waiting for their requests.
    commits: Vec<(OpId, usize)>,
    /// A lite pull consumer: `CONSUME_ACTIVELY`, no retry-topic subscription.
    lite: bool,
    /// Topics whose group membership changed (NOTIFY_CONSUMER_IDS_CHANGED, a lost
    /// connection), until a consumer list asked for after the latest change is applied.
    /// Meanwhile another member may already own some of our queues, so none of the topic's
    /// offsets is committed.
    doubt: BTreeMap<String, Doubt>,
}

/// A topic's membership in doubt: since the first change, and the latest change seen since.
#[derive(Debug, Clone, Copy)]
struct Doubt {
    /// The first change (a release long after it is not written).
    since: Instant,
    /// The latest change: only a consumer list asked for after it settles the doubt.
    last: Instant,
}

/// One rebalance of a topic: the group's consumer list is asked of every broker of the route
/// and the union allocated. Brokers learn of members separately (a heartbeat can be lost
/// at one of them), and members that each asked a different broker would otherwise divide
/// the queues by different lists, two of them owning one queue.
#[derive(Debug)]
struct ListRound {
    round: u64,
    asked: Instant,
    waiting: usize,
    ids: BTreeSet<String>,
    answered: bool,
    /// Asked for again while unfinished: a new round follows this one.
    rerun: bool,
}

/// What a client keeps about registering again with one broker.
#[derive(Debug, Default)]
struct Registration {
    /// When we last heartbeated it again after a loss.
    last: Option<Instant>,
    /// A re-registration held back (by [`REREGISTER_INTERVAL`] or the retry back-off) until
    /// then.
    due: Option<Instant>,
    /// The heartbeat in flight is such a re-registration.
    in_flight: bool,
    /// Heartbeats in a row that failed (for the retry back-off).
    failures: u32,
}

/// An orderly batch waiting for its DLQ send-backs.
#[derive(Debug, Clone, Copy)]
struct OrderlyDlq {
    /// The suspension if the batch cannot be settled.
    pause: Duration,
    /// Messages in the batch.
    total: usize,
}

#[derive(Debug)]
struct Delivery {
    consumer: ConsumerId,
    mq: MessageQueue,
    messages: Vec<MessageExt>,
    /// When it was handed to the user (for the consume timeout).
    started: Instant,
}

/// Requests of consumers in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ConsumerRequest {
    /// The instant is when the list was asked for.
    /// The number is the rebalance round ([`ListRound`]) the list belongs to.
    ConsumerList(ConsumerId, String, u64),
    QueryOffset(ConsumerId, MessageQueue),
    MaxOffset(ConsumerId, MessageQueue),
    SearchOffset(ConsumerId, MessageQueue),
    Pull(ConsumerId, MessageQueue, u64),
    SendBack(DeliveryId, i64),
    Lock(ConsumerId, BTreeSet<MessageQueue>),
    CloseStep(ConsumerId),
    Commit(ConsumerId, OpId),
}

/// Consumer bookkeeping of one client.
#[derive(Debug, Default)]
pub(super) struct ConsumerState {
    consumers: BTreeMap<ConsumerId, Consumer>,
    next_consumer: u32,
    deliveries: HashMap<DeliveryId, Delivery>,
    next_delivery: u64,
    /// Pending send-backs per delivery: offsets still waiting, and those that failed.
    send_backs: HashMap<DeliveryId, (usize, Vec<i64>, Vec<i64>)>,
    /// Orderly batches whose exhausted messages are on their way to the DLQ.
    orderly_dlq: HashMap<DeliveryId, OrderlyDlq>,
    /// Scheduled pulls.
    pull_timers: BTreeSet<(Instant, ConsumerId, MessageQueue)>,
    /// Subscribed topics whose route was missing, to look up again.
    route_retries: BTreeSet<(Instant, ConsumerId, String)>,
    /// Topics that got their quick retry this rebalance round.
    route_retried: BTreeSet<(ConsumerId, String)>,
    /// Registering again with brokers after lost connections and failed heartbeats, per
    /// broker address.
    registrations: BTreeMap<String, Registration>,
    /// Consumer lists being gathered, per consumer and topic.
    list_rounds: BTreeMap<(ConsumerId, String), ListRound>,
    /// The last rebalance round number handed out.
    last_round: u64,
}

/// How soon a subscribed topic without a route is looked up again.
const ROUTE_RETRY: Duration = Duration::from_secs(3);

/// How soon a consumer list that failed while membership is in doubt is asked for again.
const LIST_RETRY: Duration = Duration::from_millis(500);

/// A queue released within this long of the membership change that took it is persisted on
/// release: its new owner waits [`HANDOVER_GRACE`] before reading the offset, so the write
/// lands first. Released later, the new owner may already be consuming it and our offset
/// could overwrite a later one: it is not written (the new owner may consume a few messages
/// again; none is lost).
const RELEASE_PERSIST_WINDOW: Duration = Duration::from_millis(500);

/// Why offsets are persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersistMode {
    /// The periodic job: changed offsets, oneway.
    Periodic,
    /// Closing: every offset, as requests counted as close steps.
    Close,
    /// A user's commit: every offset, as requests answered by one event.
    Commit(OpId),
}

/// How long a consumer waits before reading the stored offset of a queue it takes over.
const HANDOVER_GRACE: Duration = Duration::from_millis(1000);

/// Least time between two re-registrations with one broker after lost connections, so a
/// broker that accepts and drops connections at once cannot make us spin.
const REREGISTER_INTERVAL: Duration = Duration::from_millis(1000);

/// Longest wait before a failed heartbeat is sent again (the wait doubles from
/// [`REREGISTER_INTERVAL`] with each failure in a row).
const HEARTBEAT_RETRY_MAX: Duration = Duration::from_secs(30);

/// Most batches out with the user per consumer at once (Java's consume thread pool is 20).
const MAX_OUTSTANDING: usize = 64;

impl ConsumerState {
    pub(super) fn any(&self) -> bool {
        !self.consumers.is_empty()
    }

    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let pulls = self.pull_timers.first().map(|(at, _, _)| *at);
        let routes = self.route_retries.first().map(|(at, _, _)| *at);
        let reregister = self.registrations.values().filter_map(|r| r.due).min();
        // Local retries and suspensions count only where their time coming can deliver
        // something; otherwise (a paused queue, a closing consumer, no room for deliveries, an
        // orderly batch out or lock missing) the ack, resume or lock that makes room delivers
        // them, and a deadline already past would make `poll_output` spin.
        let retries = self
            .consumers
            .values()
            .filter(|c| c.closing.is_none())
            .flat_map(|c| c.queues.iter().map(move |(mq, s)| (c, mq, s)))
            .filter(|(c, mq, s)| {
                !c.paused.contains(*mq)
                    && if c.config.consume_mode == ConsumeMode::Orderly {
                        !s.batch_out && !s.release_pending && c.locks.is_locked(mq, now)
                    } else {
                        c.outstanding < MAX_OUTSTANDING
                    }
            })
            .flat_map(|(_, _, s)| [s.pq.next_retry_at(), s.pq.suspended_until()])
            .flatten()
            .min();
        [pulls, retries, routes, reregister]
            .into_iter()
            .flatten()
            .min()
    }

    /// Heartbeat data of every live consumer.
    pub(super) fn heartbeat_data(&self) -> Vec<ConsumerData> {
        self.consumers
            .values()
            .filter(|c| c.closing.is_none())
            .map(|c| ConsumerData {
                consume_from_where: c.config.consume_from_where,
                consume_type: if c.lite {
                    ConsumeType::Actively
                } else {
                    ConsumeType::Passively
                },
                group_name: c.config.group.clone(),
                message_model: c.config.message_model,
                subscription_data_set: c.subs.values().map(|s| s.to_data(c.sub_version)).collect(),
                unit_mode: false,
            })
            .collect()
    }

    /// The rebalance, offset-persist and lock-renewal intervals: the shortest any consumer
    /// asks for (Java's defaults 20 s / 5 s / 20 s).
    pub(super) fn intervals(&self) -> (Duration, Duration, Duration, Duration) {
        let min = |f: fn(&ConsumerConfig) -> Duration, default: u64| {
            self.consumers
                .values()
                .map(|c| f(&c.config))
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

    /// Drops what is kept per broker address, for a broker no route names any more.
    pub(super) fn forget_broker(&mut self, addr: &str) {
        self.registrations.remove(addr);
    }

    pub(super) fn topics(&self) -> BTreeSet<String> {
        self.consumers
            .values()
            .flat_map(|c| c.subs.keys().cloned())
            .collect()
    }
}

impl ClientCore {
    /// Registers a push consumer with its subscriptions (clustering consumers also subscribe
    /// their retry topic). It heartbeats, rebalances at once and then every rebalance
    /// interval, pulls, and hands messages out as [`Event::Deliver`]. For broadcasting,
    /// `local_offsets` is the content of the offset file the adapter keeps (see
    /// [`Event::PersistLocalOffsets`]); the consume-from-where setting applies only to queues
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
        let offsets = match local_offsets {
            Some(bytes) if !bytes.is_empty() => OffsetTable::from_map(decode_offset_file(bytes)?),
            _ => OffsetTable::new(),
        };
        let mut subs: BTreeMap<String, Subscription> = subscriptions
            .into_iter()
            .map(|s| (s.topic().to_string(), s))
            .collect();
        if config.message_model == MessageModel::Clustering && !lite {
            let retry = Subscription::retry(&config.group);
            subs.entry(retry.topic().to_string()).or_insert(retry);
        }
        let id = ConsumerId(self.consumers.next_consumer + 1);
        self.consumers.next_consumer += 1;
        let persisted = offsets.entries().clone();
        self.consumers.consumers.insert(
            id,
            Consumer {
                flow: FlowControl::new(&config),
                locks: LockTable::new(config.lock_expiry),
                sub_version: self.wall.now_millis(),
                config,
                subs,
                queues: BTreeMap::new(),
                offsets,
                persisted,
                outstanding: 0,
                closing: None,
                close_steps: 0,
                report: ConsumerCloseReport::default(),
                assigned: None,
                paused: BTreeSet::new(),
                commits: Vec::new(),
                lite,
                doubt: BTreeMap::new(),
            },
        );
        self.send_heartbeats(now, None);
        self.rebalance(now, id);
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
        // A delivery being sent back is kept for the send-back's outcome, but it was acked:
        // another ack would settle (and send back) its messages twice.
        if !self.consumers.deliveries.contains_key(&delivery)
            || self.consumers.send_backs.contains_key(&delivery)
        {
            return Err(Misuse::UnknownDelivery(delivery));
        }
        self.settle(now, delivery, outcome);
        Ok(())
    }

    /// A consumer that takes commands: known and not closing.
    fn live_consumer(&mut self, consumer: ConsumerId) -> Result<&mut Consumer, Misuse> {
        match self.consumers.consumers.get_mut(&consumer) {
            None => Err(Misuse::UnknownConsumer(consumer)),
            Some(c) if c.closing.is_some() => Err(Misuse::ConsumerClosing(consumer)),
            Some(c) => Ok(c),
        }
    }

    fn settle(&mut self, now: Instant, delivery: DeliveryId, outcome: ConsumeOutcome) {
        let Some(d) = self.consumers.deliveries.remove(&delivery) else {
            return;
        };
        let Some(c) = self.consumers.consumers.get_mut(&d.consumer) else {
            return;
        };
        c.outstanding = c.outstanding.saturating_sub(1);
        if outcome == ConsumeOutcome::Abandon {
            // Unsettled on purpose: the offset stays before these messages.
            c.report.abandoned_deliveries += 1;
            return self.after_progress(now);
        }
        let offsets: Vec<i64> = d.messages.iter().map(|m| m.queue_offset).collect();
        let orderly = c.config.consume_mode == ConsumeMode::Orderly;
        let clustering = c.config.message_model == MessageModel::Clustering;
        let suspend = c.config.suspend_current_queue_time;
        let mut release_now = false;
        let max_reconsume = c.config.effective_max_reconsume_times();
        if let Some(slot) = c.queues.get_mut(&d.mq) {
            if orderly {
                let pause = match outcome {
                    // Left unsettled above.
                    ConsumeOutcome::Abandon => return,
                    ConsumeOutcome::Success => None,
                    ConsumeOutcome::ReconsumeLater { .. } => Some(suspend),
                    ConsumeOutcome::SuspendCurrentQueue(d) => Some(
                        d.unwrap_or(suspend)
                            .clamp(Duration::from_millis(10), Duration::from_secs(30)),
                    ),
                };
                // Java `checkReconsumeTimes`: a message that failed its last allowed time goes
                // to the DLQ; the batch stays out until the broker took it.
                let exhausted: Vec<MessageExt> = d
                    .messages
                    .iter()
                    .filter(|m| m.reconsume_times >= max_reconsume)
                    .cloned()
                    .collect();
                if let (Some(pause), true) = (pause, clustering && !exhausted.is_empty()) {
                    let total = d.messages.len();
                    let to_dlq = Delivery {
                        consumer: d.consumer,
                        mq: d.mq.clone(),
                        messages: exhausted,
                        started: d.started,
                    };
                    self.consumers
                        .orderly_dlq
                        .insert(delivery, OrderlyDlq { pause, total });
                    self.send_back(now, delivery, to_dlq, -1);
                    return self.after_progress(now);
                }
                slot.batch_out = false;
                release_now = slot.release_pending;
                match pause {
                    None => {
                        if let Ok(change) = slot.pq.commit_batch() {
                            c.flow.on_freed(change);
                        }
                    }
                    Some(pause) => slot.pq.suspend_batch(now + pause),
                }
            } else {
                match outcome {
                    // Left unsettled above.
                    ConsumeOutcome::Abandon => return,
                    ConsumeOutcome::Success | ConsumeOutcome::SuspendCurrentQueue(_) => {
                        if let Ok(change) = slot.pq.settle(&offsets) {
                            c.flow.on_freed(change);
                        }
                    }
                    ConsumeOutcome::ReconsumeLater { .. } if !clustering => {
                        // Broadcasting drops what it could not consume (Java logs it).
                        if let Ok(change) = slot.pq.settle(&offsets) {
                            c.flow.on_freed(change);
                        }
                    }
                    ConsumeOutcome::ReconsumeLater { delay_level } => {
                        self.send_back(now, delivery, d, delay_level);
                        return self.after_progress(now);
                    }
                }
            }
            update_committable(c, &d.mq);
        }
        if release_now {
            self.release_queue(now, d.consumer, &d.mq);
        }
        self.after_progress(now);
    }

    /// Closes a consumer gracefully: stops pulling, gives in-flight deliveries until
    /// `drain_timeout` to be acked, persists offsets, unlocks (orderly), unregisters, then
    /// [`Event::ConsumerClosed`] reports what was left. [`Misuse::UnknownConsumer`] or
    /// [`Misuse::ConsumerClosing`] when there is nothing to close.
    pub fn close_consumer(&mut self, now: Instant, consumer: ConsumerId) -> Result<OpId, Misuse> {
        self.live_consumer(consumer)?;
        let op = self.alloc_op();
        let Some(c) = self.consumers.consumers.get_mut(&consumer) else {
            return Err(Misuse::UnknownConsumer(consumer));
        };
        c.closing = Some(op);
        for slot in c.queues.values_mut() {
            let _ = slot.pq.drain();
        }
        self.consumers
            .pull_timers
            .retain(|(_, id, _)| *id != consumer);
        self.maybe_finish_close(now, consumer);
        Ok(op)
    }

    /// Drops every consumer timer: the client is closed.
    pub(super) fn stop_consumer_timers(&mut self) {
        self.consumers.pull_timers.clear();
        self.consumers.route_retries.clear();
        for r in self.consumers.registrations.values_mut() {
            r.due = None;
        }
    }

    /// Every consumer not closed yet (closing ones included).
    pub(super) fn consumer_ids(&self) -> Vec<ConsumerId> {
        self.consumers.consumers.keys().copied().collect()
    }

    /// Deliveries not yet acked, across consumers.
    pub fn deliveries_in_flight(&self) -> usize {
        self.consumers.deliveries.len()
    }

    /// The offsets a consumer would commit now (smallest unsettled per queue).
    pub fn consumer_offsets(&self, consumer: ConsumerId) -> BTreeMap<MessageQueue, i64> {
        self.consumers
            .consumers
            .get(&consumer)
            .map(|c| c.offsets.entries().clone())
            .unwrap_or_default()
    }

    /// The queues a consumer holds now.
    pub fn assigned_queues(&self, consumer: ConsumerId) -> Vec<MessageQueue> {
        self.consumers
            .consumers
            .get(&consumer)
            .map(|c| {
                c.queues
                    .iter()
                    .filter(|(_, s)| s.pq.state() != QueueState::Released)
                    .map(|(mq, _)| mq.clone())
                    .collect()
            })
            .unwrap_or_default()
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
        let version = self.wall.now_millis();
        let c = self.live_consumer(consumer)?;
        if c.assigned.is_some() {
            return Err(Misuse::Assigned(consumer));
        }
        c.subs
            .insert(subscription.topic().to_string(), subscription);
        c.sub_version = version;
        self.send_heartbeats(now, None);
        self.rebalance(now, consumer);
        Ok(())
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
        let version = self.wall.now_millis();
        let c = self.live_consumer(consumer)?;
        if c.assigned.is_some() {
            return Err(Misuse::Assigned(consumer));
        }
        if c.subs.remove(topic).is_none() {
            return Err(Misuse::NotSubscribed {
                consumer,
                topic: topic.to_string(),
            });
        }
        c.sub_version = version;
        c.doubt.remove(topic);
        self.consumers
            .list_rounds
            .remove(&(consumer, topic.to_string()));
        self.apply_allocation(now, consumer, topic, Vec::new(), false);
        self.send_heartbeats(now, None);
        Ok(())
    }

    /// Takes `queues` instead of rebalancing (lite pull's `assign`): the consumer holds
    /// exactly these from now on, and is no longer part of the group's rebalance.
    pub fn assign(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        queues: Vec<MessageQueue>,
    ) -> Result<(), Misuse> {
        let c = self.live_consumer(consumer)?;
        let set: BTreeSet<MessageQueue> = queues.into_iter().collect();
        let mut topics: BTreeSet<String> = c.queues.keys().map(|q| q.topic.clone()).collect();
        topics.extend(set.iter().map(|q| q.topic.clone()));
        for q in &set {
            if !c.subs.contains_key(&q.topic) {
                if let Ok(sub) = Subscription::tag(q.topic.clone(), "*") {
                    c.subs.insert(q.topic.clone(), sub);
                }
            }
        }
        c.assigned = Some(set.clone());
        for topic in topics {
            let mine = set.iter().filter(|q| q.topic == topic).cloned().collect();
            self.apply_allocation(now, consumer, &topic, mine, false);
            if self.routes.get(&topic).is_none() {
                self.request_route(now, &topic, Waiter::Rebalance(consumer));
            }
        }
        Ok(())
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
        if offset < 0 {
            return Err(Misuse::NegativeOffset { offset });
        }
        let c = self.live_consumer(consumer)?;
        let not_held = || Misuse::QueueNotHeld {
            consumer,
            queue: queue.clone(),
        };
        let Some(slot) = c.queues.get_mut(queue) else {
            return Err(not_held());
        };
        if slot.start.is_some() {
            // Still looking up the start offset: start right here instead.
            slot.start = None;
            if slot.pq.start(offset).is_err() {
                return Err(not_held());
            }
        } else if let Ok(change) = slot.pq.seek(offset) {
            c.flow.on_freed(change);
        }
        slot.epoch += 1;
        slot.pull_in_flight = false;
        slot.started_at = None;
        c.offsets.update(queue, offset, false);
        self.consumers
            .pull_timers
            .retain(|(_, id, q)| !(*id == consumer && q == queue));
        self.schedule_pull(now, consumer, queue, Duration::ZERO);
        Ok(())
    }

    /// Stops pulling and delivering `queues` until [`ClientCore::resume`].
    pub fn pause(&mut self, consumer: ConsumerId, queues: &[MessageQueue]) -> Result<(), Misuse> {
        let c = self.live_consumer(consumer)?;
        c.paused.extend(queues.iter().cloned());
        Ok(())
    }

    /// Resumes paused queues.
    pub fn resume(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        queues: &[MessageQueue],
    ) -> Result<(), Misuse> {
        let c = self.live_consumer(consumer)?;
        for q in queues {
            c.paused.remove(q);
        }
        for q in queues {
            self.schedule_pull(now, consumer, q, Duration::ZERO);
        }
        self.deliver_ready(now);
        Ok(())
    }

    /// Persists the consumer's offsets now (lite pull's synchronous `commit`):
    /// [`Event::OffsetsCommitted`] follows once every broker answered (at once for
    /// broadcasting, whose file content comes as [`Event::PersistLocalOffsets`]).
    pub fn commit_offsets(&mut self, now: Instant, consumer: ConsumerId) -> Result<OpId, Misuse> {
        self.live_consumer(consumer)?;
        let op = self.alloc_op();
        let sent = self.persist_with(now, consumer, PersistMode::Commit(op));
        match self.consumers.consumers.get_mut(&consumer) {
            Some(c) if sent > 0 => c.commits.push((op, sent)),
            _ => self
                .events
                .push_back(Event::OffsetsCommitted { op, consumer }),
        }
        Ok(op)
    }

    /// Rebalances every consumer now (also on NOTIFY_CONSUMER_IDS_CHANGED and the timer).
    pub(super) fn rebalance_all(&mut self, now: Instant) {
        self.consumers.route_retried.clear();
        let ids: Vec<ConsumerId> = self.consumers.consumers.keys().copied().collect();
        for id in ids {
            self.rebalance(now, id);
        }
    }

    fn rebalance(&mut self, now: Instant, id: ConsumerId) {
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        if let Some(assigned) = c.assigned.clone() {
            let topics: BTreeSet<String> = assigned.iter().map(|q| q.topic.clone()).collect();
            for topic in topics {
                let mine = assigned
                    .iter()
                    .filter(|q| q.topic == topic)
                    .cloned()
                    .collect();
                self.apply_allocation(now, id, &topic, mine, false);
            }
            return;
        }
        let topics: Vec<String> = c.subs.keys().cloned().collect();
        for topic in topics {
            match self.routes.get(&topic).cloned() {
                Some(route) => self.rebalance_topic(now, id, &topic, &route),
                None => self.request_route(now, &topic, Waiter::Rebalance(id)),
            }
        }
    }

    /// A route arrived for a consumer's topic.
    pub(super) fn consumer_route_ready(
        &mut self,
        now: Instant,
        id: ConsumerId,
        topic: &str,
        route: Option<TopicRouteData>,
    ) {
        let Some(route) = route else {
            // The topic (or the group's retry topic) may not exist yet: look again soon rather
            // than at the next rebalance.
            // One quick retry per rebalance round; after that the next rebalance looks again.
            tracing::debug!(topic, "no route for a subscribed topic yet");
            if !self.closing && self.consumers.route_retried.insert((id, topic.to_string())) {
                self.consumers
                    .route_retries
                    .insert((now + ROUTE_RETRY, id, topic.to_string()));
            }
            return;
        };
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        if c.assigned.is_none() {
            return self.rebalance_topic(now, id, topic, &route);
        }
        // Assigned queues need no rebalance; start those that waited for the route.
        let waiting: Vec<MessageQueue> = c
            .queues
            .iter()
            .filter(|(mq, s)| mq.topic == topic && s.start.is_some() && !s.pull_in_flight)
            .map(|(mq, _)| mq.clone())
            .collect();
        for mq in waiting {
            self.consumers
                .pull_timers
                .retain(|(_, cid, q)| !(*cid == id && *q == mq));
            self.advance_start(now, id, &mq);
        }
    }

    fn rebalance_topic(
        &mut self,
        now: Instant,
        id: ConsumerId,
        topic: &str,
        route: &TopicRouteData,
    ) {
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        let all = route.subscribe_queues(topic);
        if c.config.message_model == MessageModel::Broadcasting {
            return self.apply_allocation(now, id, topic, all, false);
        }
        let random = self.rng.next_u64();
        // Every broker, also one our last heartbeat did not reach: back from a stall or a
        // restart, it may be the only one still listing a member the others lost, and a
        // round without it would give us that member's queues. One that does not answer
        // only holds the round up until the request times out.
        let addrs: BTreeSet<String> = route
            .broker_datas
            .iter()
            .filter_map(|b| b.select_addr(random).map(str::to_string))
            .collect();
        if addrs.is_empty() {
            return;
        }
        let key = (id, topic.to_string());
        if let Some(r) = self.consumers.list_rounds.get_mut(&key) {
            // A round is under way: a new one follows it (unless this one was asked this very
            // instant, which makes it as fresh).
            r.rerun |= r.asked != now;
            return;
        }
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: c.config.group.clone(),
        };
        self.consumers.last_round += 1;
        let round = self.consumers.last_round;
        self.consumers.list_rounds.insert(
            key,
            ListRound {
                round,
                asked: now,
                waiting: addrs.len(),
                ids: BTreeSet::new(),
                answered: false,
                rerun: false,
            },
        );
        for addr in addrs {
            let command = header::request(RequestCode::GetConsumerListByGroup, &header);
            let request = ConsumerRequest::ConsumerList(id, topic.to_string(), round);
            self.consumer_request(now, &addr, command, request);
        }
    }

    /// One broker's consumer list (or its failure) for a rebalance round of `topic`; once
    /// every broker answered, the union of the lists is allocated.
    fn on_consumer_list(
        &mut self,
        now: Instant,
        id: ConsumerId,
        topic: String,
        round: u64,
        list: Option<Vec<String>>,
    ) {
        let key = (id, topic);
        let Some(r) = self.consumers.list_rounds.get_mut(&key) else {
            return;
        };
        if r.round != round {
            return;
        }
        r.waiting = r.waiting.saturating_sub(1);
        if let Some(list) = list {
            r.ids.extend(list);
            r.answered = true;
        }
        if r.waiting > 0 {
            return;
        }
        let Some(r) = self.consumers.list_rounds.remove(&key) else {
            return;
        };
        let (id, topic) = key;
        if r.rerun {
            if let Some(route) = self.routes.get(&topic).cloned() {
                self.rebalance_topic(now, id, &topic, &route);
            }
        }
        if !r.answered {
            tracing::debug!(%topic, "consumer list unavailable; keeping the assignment");
            let doubted = self
                .consumers
                .consumers
                .get(&id)
                .is_some_and(|c| c.doubt.contains_key(&topic));
            // Membership changed and we do not know how: ask again soon rather than at the
            // next periodic rebalance.
            if doubted {
                self.list_again_soon(now, id, topic);
            }
            return;
        }
        let Some(route) = self.routes.get(&topic).cloned() else {
            return;
        };
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        if c.assigned.is_some() {
            // Assigned since this rebalance began: the user's choice stands.
            return;
        }
        let all = route.subscribe_queues(&topic);
        let ids: Vec<String> = r.ids.into_iter().collect();
        match c.config.allocate.allocate(&self.client_id, &all, &ids) {
            Ok(mine) => {
                let others = ids.iter().any(|c| *c != self.client_id);
                let known = ids.contains(&self.client_id);
                self.apply_allocation(now, id, &topic, mine, others);
                let Some(c) = self.consumers.consumers.get_mut(&id) else {
                    return;
                };
                // A change after this round was asked (a member joined while a broker did not
                // answer, say) is not in its lists: the round that follows settles it.
                let doubted = c.doubt.get(&topic).is_some_and(|d| d.last <= r.asked);
                if doubted && known {
                    c.doubt.remove(&topic);
                } else if doubted {
                    // No broker knows us (yet): the rest of the group divides the queues
                    // without us. Stay in doubt and look again once we are registered.
                    self.list_again_soon(now, id, topic);
                }
            }
            Err(e) => tracing::warn!(%topic, error = %e, "allocation failed"),
        }
    }

    /// Asks for the group's consumer list of `topic` again after [`LIST_RETRY`] (through the
    /// route lookup a rebalance starts with).
    fn list_again_soon(&mut self, now: Instant, id: ConsumerId, topic: String) {
        if self.closing {
            return;
        }
        self.consumers
            .route_retries
            .insert((now + LIST_RETRY, id, topic));
    }

    fn apply_allocation(
        &mut self,
        now: Instant,
        id: ConsumerId,
        topic: &str,
        allocated: Vec<MessageQueue>,
        others: bool,
    ) {
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        let wanted: BTreeSet<MessageQueue> = allocated.into_iter().collect();
        let current: Vec<MessageQueue> = c
            .queues
            .iter()
            .filter(|(mq, s)| mq.topic == topic && s.pq.state() != QueueState::Released)
            .map(|(mq, _)| mq.clone())
            .collect();
        let mut changed = false;
        for mq in current.iter().filter(|mq| !wanted.contains(*mq)) {
            changed = true;
            let c = self.consumers.consumers.get_mut(&id).expect("checked");
            let slot = c.queues.get_mut(mq).expect("listed");
            if c.config.consume_mode == ConsumeMode::Orderly && slot.batch_out {
                // Never hand an orderly queue over while its batch is with the handler: two
                // consumers would consume it at once. Release it when the batch is acked.
                slot.release_pending = true;
                continue;
            }
            self.release_queue(now, id, mq);
        }
        let c = self.consumers.consumers.get_mut(&id).expect("checked");
        let from = c.config.consume_from_where;
        let ts = c
            .config
            .consume_timestamp_ms
            .unwrap_or_else(|| self.wall.now_millis() - 30 * 60 * 1000);
        // A queue taken over from another consumer: that consumer persists its offset when it
        // releases the queue, on the same rebalance trigger. Reading the stored offset a moment
        // later makes it far likelier to see that final offset than a stale one.
        let handover = others || !c.queues.is_empty();
        let mut added = Vec::new();
        for mq in wanted {
            if let Some(slot) = c.queues.get_mut(&mq) {
                slot.release_pending = false;
            }
            let fresh = c
                .queues
                .get(&mq)
                .is_none_or(|s| s.pq.state() == QueueState::Released);
            if !fresh {
                continue;
            }
            changed = true;
            c.queues.insert(
                mq.clone(),
                Slot {
                    pq: ProcessQueue::new(mq.clone()),
                    start: Some(StartOffset::new(&mq, from, ts)),
                    pull_in_flight: false,
                    broker_id: 0,
                    batch_out: false,
                    release_pending: false,
                    epoch: 0,
                    started_at: None,
                },
            );
            if c.config.consume_mode == ConsumeMode::Orderly {
                c.locks.track(mq.clone());
            }
            added.push(mq);
        }
        if changed {
            c.sub_version = self.wall.now_millis();
            let n = c
                .queues
                .values()
                .filter(|s| s.pq.state() != QueueState::Released)
                .count();
            if let Some(n) = u64::try_from(n).ok().filter(|n| *n > 0) {
                let count = c.config.pull_threshold_for_topic.map(|t| (t / n).max(1));
                let bytes = c
                    .config
                    .pull_threshold_size_for_topic
                    .map(|t| (t / n).max(1));
                if let (Some(count), Some(bytes)) = (count, bytes) {
                    c.flow.set_queue_thresholds(count, bytes);
                }
            }
        }
        let orderly = c.config.consume_mode == ConsumeMode::Orderly;
        for mq in added {
            if handover && clustering_of(self.consumers.consumers.get(&id).expect("checked")) {
                self.schedule_pull(now, id, &mq, HANDOVER_GRACE);
            } else {
                self.advance_start(now, id, &mq);
            }
        }
        if changed {
            self.send_heartbeats(now, None);
            if orderly {
                self.lock_all(now, id);
            }
        }
    }

    fn release_queue(&mut self, now: Instant, id: ConsumerId, mq: &MessageQueue) {
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return;
        };
        if !c.queues.contains_key(mq) {
            return;
        }
        // Persist what was consumed, then release: a released queue never commits again. An
        // offset not past the one the queue started from is not written back (see
        // `Slot::started_at`).
        update_committable(c, mq);
        let slot = c.queues.get_mut(mq).expect("present");
        let offset = c
            .offsets
            .get(mq)
            .filter(|o| slot.started_at.is_none_or(|s| *o > s));
        if slot.pq.state() == QueueState::Pulling {
            let _ = slot.pq.drain();
        }
        if let Ok(change) = slot.pq.release() {
            c.flow.on_freed(change);
        }
        // An orderly queue is unlocked even when our lock is not (yet) confirmed: a lock
        // request may still be in flight, and the broker would otherwise keep the queue for
        // us for its whole lock lifetime (Java `removeUnnecessaryMessageQueue` unlocks too).
        let was_locked = c.locks.untrack(mq, now)
            || c.config.consume_mode == ConsumeMode::Orderly && clustering_of(c);
        let late = c
            .doubt
            .get(&mq.topic)
            .is_some_and(|d| now.saturating_duration_since(d.since) > RELEASE_PERSIST_WINDOW);
        let clustering = c.config.message_model == MessageModel::Clustering && !late;
        if late {
            tracing::debug!(
                ?mq,
                "released long after the membership change; offset not written"
            );
        }
        let group = c.config.group.clone();
        c.offsets.remove(mq);
        c.persisted.remove(mq);
        self.consumers
            .pull_timers
            .retain(|(_, cid, q)| !(*cid == id && q == mq));
        if let (true, Some(offset)) = (clustering, offset) {
            self.persist_offset(now, &group, mq, offset, None);
        }
        if was_locked {
            if let Some(addr) = self.broker_master_any(&mq.broker_name) {
                let set = [mq.clone()].into_iter().collect();
                let command = unlock_request(&self.client_id, &group, set);
                self.remoting.send_oneway(now, &addr, command);
            }
        }
    }

    /// Moves a new queue's start-offset lookup one request forward.
    fn advance_start(&mut self, now: Instant, id: ConsumerId, mq: &MessageQueue) {
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return;
        };
        let local = c.offsets.get(mq);
        let broadcasting = c.config.message_model == MessageModel::Broadcasting;
        let group = c.config.group.clone();
        let Some(slot) = c.queues.get_mut(mq) else {
            return;
        };
        let Some(start) = &mut slot.start else {
            return;
        };
        let mut step = start.step();
        if broadcasting && step == StartOffsetStep::ReadStored {
            step = start.on_stored(match local {
                Some(o) => StoredOffset::Found(o),
                None => StoredOffset::NotFound,
            });
        }
        let Some(addr) = self.broker_master_any(&mq.broker_name) else {
            return self.schedule_start_retry(now, id, mq);
        };
        let (command, request) = match step {
            StartOffsetStep::Done(offset) => {
                let c = self.consumers.consumers.get_mut(&id).expect("checked");
                let slot = c.queues.get_mut(mq).expect("checked");
                // An offset the store holds is not written back (see `Slot::started_at`); nor
                // is 0, which a restart computes again. One computed otherwise (LAST, a
                // timestamp) is persisted as Java does: a restart would compute a later one
                // and skip the messages sent meanwhile.
                let read = offset == 0 || slot.start.as_ref().is_some_and(StartOffset::from_store);
                slot.start = None;
                if slot.pq.start(offset).is_ok() {
                    slot.started_at = read.then_some(offset);
                    c.offsets.update(mq, offset, false);
                    if read {
                        c.persisted.insert(mq.clone(), offset);
                    }
                    self.schedule_pull(now, id, mq, Duration::ZERO);
                }
                return;
            }
            StartOffsetStep::Failed => {
                // Java skips the queue until the next rebalance; we retry its lookup later.
                let c = self.consumers.consumers.get_mut(&id).expect("checked");
                let slot = c.queues.get_mut(mq).expect("checked");
                let from = c.config.consume_from_where;
                let ts = c.config.consume_timestamp_ms.unwrap_or(0);
                slot.start = Some(StartOffset::new(mq, from, ts));
                return self.schedule_start_retry(now, id, mq);
            }
            StartOffsetStep::ReadStored => (
                header::request(
                    RequestCode::QueryConsumerOffset,
                    &QueryConsumerOffsetRequestHeader {
                        consumer_group: group,
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        set_zero_if_not_found: Some(false),
                        broker_name: Some(mq.broker_name.clone()),
                    },
                ),
                ConsumerRequest::QueryOffset(id, mq.clone()),
            ),
            StartOffsetStep::QueryMaxOffset => (
                header::request(
                    RequestCode::GetMaxOffset,
                    &GetMaxOffsetRequestHeader {
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        committed: true,
                        broker_name: Some(mq.broker_name.clone()),
                    },
                ),
                ConsumerRequest::MaxOffset(id, mq.clone()),
            ),
            StartOffsetStep::SearchByTimestamp(ts) => (
                header::request(
                    RequestCode::SearchOffsetByTimestamp,
                    &SearchOffsetRequestHeader {
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        timestamp: ts,
                        boundary_type: None,
                        broker_name: Some(mq.broker_name.clone()),
                    },
                ),
                ConsumerRequest::SearchOffset(id, mq.clone()),
            ),
        };
        self.consumer_request(now, &addr, command, request);
    }

    fn schedule_start_retry(&mut self, now: Instant, id: ConsumerId, mq: &MessageQueue) {
        let delay = self
            .consumers
            .consumers
            .get(&id)
            .map_or(Duration::from_secs(3), |c| c.config.delay_after_error);
        self.schedule_pull(now, id, mq, delay);
    }

    fn schedule_pull(&mut self, now: Instant, id: ConsumerId, mq: &MessageQueue, after: Duration) {
        if self.closing {
            // A closed client arms nothing (its requests fail at once: this would never end).
            return;
        }
        self.consumers
            .pull_timers
            .insert((now + after, id, mq.clone()));
    }

    /// Scheduled pulls (and start-offset retries) whose time has come.
    pub(super) fn run_consumer_timers(&mut self, now: Instant) {
        while let Some((at, id, mq)) = self.consumers.pull_timers.first().cloned() {
            if at > now {
                break;
            }
            self.consumers.pull_timers.pop_first();
            let starting = self
                .consumers
                .consumers
                .get(&id)
                .and_then(|c| c.queues.get(&mq))
                .is_some_and(|s| s.start.is_some());
            if starting {
                self.advance_start(now, id, &mq);
            } else {
                self.pull(now, id, &mq);
            }
        }
        while let Some((at, id, topic)) = self.consumers.route_retries.first().cloned() {
            if at > now {
                break;
            }
            self.consumers.route_retries.pop_first();
            let live = self
                .consumers
                .consumers
                .get(&id)
                .is_some_and(|c| c.closing.is_none());
            if live {
                self.request_route(now, &topic, Waiter::Rebalance(id));
            }
        }
        let mut due = Vec::new();
        for (addr, r) in &mut self.consumers.registrations {
            if r.due.is_some_and(|at| at <= now) {
                r.due = None;
                due.push(addr.clone());
            }
        }
        for addr in due {
            self.reregister(now, &addr);
        }
        // Orderly queues whose suspension ended hand out their batch again.
        for slot in self
            .consumers
            .consumers
            .values_mut()
            .flat_map(|c| c.queues.values_mut())
        {
            slot.pq.end_suspension(now);
        }
        // Local retries whose time came make messages ready again.
        self.deliver_ready(now);
    }

    fn pull(&mut self, now: Instant, id: ConsumerId, mq: &MessageQueue) {
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        let Some(slot) = c.queues.get(mq) else {
            return;
        };
        if slot.pull_in_flight || c.closing.is_some() {
            return;
        }
        if c.paused.contains(mq) {
            return self.schedule_pull(now, id, mq, c.config.delay_when_paused);
        }
        match c.flow.should_pull(&slot.pq) {
            PullDecision::Now => {}
            PullDecision::After(d) => return self.schedule_pull(now, id, mq, d),
            PullDecision::Stop => return,
        }
        if c.config.consume_mode == ConsumeMode::Orderly && !c.locks.is_locked(mq, now) {
            // Not ours yet (another client may still hold it): ask for the lock again and
            // look back later (Java `pullMessageLater` + `tryLockLaterAndReconsume`).
            let delay = c.config.delay_after_error;
            self.lock_queue(now, id, mq);
            return self.schedule_pull(now, id, mq, delay);
        }
        let Some(sub) = c.subs.get(&mq.topic) else {
            return;
        };
        let (addr, to_slave) =
            match self.broker_addr_for(&mq.topic, &mq.broker_name, slot.broker_id) {
                Some(found) => found,
                None => return self.schedule_pull(now, id, mq, c.config.delay_after_error),
            };
        let clustering = c.config.message_model == MessageModel::Clustering;
        let commit = c
            .offsets
            .get(mq)
            .filter(|o| clustering && *o > 0 && slot.started_at.is_none_or(|s| *o > s))
            .filter(|_| !c.doubt.contains_key(&mq.topic));
        let spec = PullSpec {
            group: &c.config.group,
            queue: mq,
            offset: slot.pq.next_pull_offset(),
            subscription: sub,
            sub_version: c.sub_version,
            commit_offset: commit,
            to_slave,
            post_subscription: true,
            batch_size: c.config.pull_batch_size,
            max_bytes: Some(c.config.pull_batch_size_in_bytes),
            suspend: Some(c.config.suspend_timeout),
            lite: false,
        };
        let command = pull_request(&spec);
        let timeout = c.config.pull_timeout;
        let c = self.consumers.consumers.get_mut(&id).expect("checked");
        let slot = c.queues.get_mut(mq).expect("checked");
        slot.pull_in_flight = true;
        let epoch = slot.epoch;
        let op = self.alloc_op();
        self.pending.insert(
            op,
            Pending::Consumer(ConsumerRequest::Pull(id, mq.clone(), epoch)),
        );
        self.remoting.send_request(now, op, &addr, command, timeout);
    }

    fn on_pull_result(
        &mut self,
        now: Instant,
        id: ConsumerId,
        mq: &MessageQueue,
        epoch: u64,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return;
        };
        let Some(slot) = c.queues.get_mut(mq) else {
            return;
        };
        if slot.epoch != epoch {
            // Answered for a position the user has since moved away from.
            return;
        }
        slot.pull_in_flight = false;
        if slot.pq.state() != QueueState::Pulling {
            return;
        }
        let Some(sub) = c.subs.get(&mq.topic) else {
            return;
        };
        let response = match result {
            Ok(r) => r,
            Err(_) => {
                // Connection lost or broker restarting: re-arm this queue's pull.
                let delay = c.config.delay_after_error;
                return self.schedule_pull(now, id, mq, delay);
            }
        };
        let outcome = interpret_pull_response(&response, &c.config.group, sub, &c.config);
        let next_pull = match outcome {
            PullOutcome::Found {
                messages,
                next_offset,
                suggest_broker,
                ..
            } => {
                slot.broker_id = suggest_broker;
                if let Ok(change) = slot.pq.on_pulled(messages, next_offset, now) {
                    c.flow.on_cached(change);
                }
                update_committable(c, mq);
                c.config.pull_interval
            }
            PullOutcome::NoNewMsg {
                next_offset,
                suggest_broker,
            }
            | PullOutcome::NoMatched {
                next_offset,
                suggest_broker,
            } => {
                slot.broker_id = suggest_broker;
                let _ = slot.pq.on_pulled(Vec::new(), next_offset, now);
                update_committable(c, mq);
                Duration::ZERO
            }
            PullOutcome::OffsetIllegal { next_offset } => {
                tracing::warn!(queue = %mq, next_offset, "pull offset illegal; moving to the broker's offset");
                if let Ok(change) = slot.pq.seek(next_offset) {
                    c.flow.on_freed(change);
                }
                c.offsets.update(mq, next_offset, false);
                Duration::ZERO
            }
            PullOutcome::Error { error, retry_after } => {
                tracing::debug!(queue = %mq, %error, "pull failed");
                retry_after
            }
        };
        self.schedule_pull(now, id, mq, next_pull);
        self.deliver_ready(now);
    }

    /// Hands ready messages out as deliveries, within each consumer's limits.
    fn deliver_ready(&mut self, now: Instant) {
        let ids: Vec<ConsumerId> = self.consumers.consumers.keys().copied().collect();
        for id in ids {
            let c = self.consumers.consumers.get_mut(&id).expect("listed");
            if c.closing.is_some() {
                continue;
            }
            let batch = c.config.consume_batch_max_size.max(1) as usize;
            let orderly = c.config.consume_mode == ConsumeMode::Orderly;
            let group = c.config.group.clone();
            let mut out = Vec::new();
            for (mq, slot) in c.queues.iter_mut() {
                if c.paused.contains(mq) {
                    continue;
                }
                if orderly {
                    if slot.batch_out || slot.release_pending || !c.locks.is_locked(mq, now) {
                        continue;
                    }
                    let messages = slot.pq.take_batch(batch, now);
                    if !messages.is_empty() {
                        slot.batch_out = true;
                        out.push((mq.clone(), messages));
                    }
                    continue;
                }
                while c.outstanding + out.len() < MAX_OUTSTANDING {
                    let messages = slot.pq.take_ready(batch, now);
                    if messages.is_empty() {
                        break;
                    }
                    out.push((mq.clone(), messages));
                }
            }
            c.outstanding += out.len();
            for (mq, mut messages) in out {
                for m in &mut messages {
                    crate::consumer::reset_retry_topic(m, &group);
                }
                let delivery = DeliveryId(self.consumers.next_delivery);
                self.consumers.next_delivery += 1;
                self.consumers.deliveries.insert(
                    delivery,
                    Delivery {
                        consumer: id,
                        mq: mq.clone(),
                        messages: messages.clone(),
                        started: now,
                    },
                );
                self.events.push_back(Event::Deliver {
                    consumer: id,
                    delivery,
                    queue: mq,
                    messages,
                });
            }
        }
    }

    fn after_progress(&mut self, now: Instant) {
        self.deliver_ready(now);
        let closing: Vec<ConsumerId> = self
            .consumers
            .consumers
            .iter()
            .filter(|(_, c)| c.closing.is_some() && c.close_steps == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in closing {
            self.maybe_finish_close(now, id);
        }
    }

    fn send_back(&mut self, now: Instant, delivery: DeliveryId, d: Delivery, delay_level: i32) {
        let Some(c) = self.consumers.consumers.get(&d.consumer) else {
            return;
        };
        let group = c.config.group.clone();
        let max = c.config.effective_max_reconsume_times();
        let mut waiting = 0;
        for m in &d.messages {
            let header = send_back_header(&group, m, delay_level, max, Some(&d.mq.broker_name));
            let addr = m.store_host.to_string();
            let command = send_back_request(&header);
            waiting += 1;
            let op = self.alloc_op();
            self.pending.insert(
                op,
                Pending::Consumer(ConsumerRequest::SendBack(delivery, m.queue_offset)),
            );
            self.remoting
                .send_request(now, op, &addr, command, Duration::from_secs(5));
        }
        self.consumers
            .send_backs
            .insert(delivery, (waiting, Vec::new(), Vec::new()));
        // Keep the delivery's messages for the outcome of the send-backs.
        self.consumers.deliveries.insert(delivery, d);
    }

    fn on_send_back_result(
        &mut self,
        now: Instant,
        delivery: DeliveryId,
        offset: i64,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let ok = result.as_ref().is_ok_and(send_back_succeeded);
        let Some(entry) = self.consumers.send_backs.get_mut(&delivery) else {
            return;
        };
        entry.0 = entry.0.saturating_sub(1);
        if ok {
            entry.1.push(offset);
        } else {
            entry.2.push(offset);
        }
        if entry.0 > 0 {
            return;
        }
        let (_, done, failed) = self
            .consumers
            .send_backs
            .remove(&delivery)
            .expect("present");
        let Some(d) = self.consumers.deliveries.remove(&delivery) else {
            return;
        };
        let Some(c) = self.consumers.consumers.get_mut(&d.consumer) else {
            return;
        };
        if let Some(o) = self.consumers.orderly_dlq.remove(&delivery) {
            return self.finish_orderly_dlq(now, d, o, failed.is_empty() && done.len() == o.total);
        }
        let retry_delay = c.config.delay_after_send_back_failure;
        if let Some(slot) = c.queues.get_mut(&d.mq) {
            if let Ok(change) = slot.pq.settle(&done) {
                c.flow.on_freed(change);
            }
            if !failed.is_empty() {
                // Not taken by the broker: stays unsettled (the offset does not pass it) and
                // is consumed again here after a pause.
                slot.pq.retry_locally(&failed, now + retry_delay);
            }
        }
        update_committable(c, &d.mq);
        self.after_progress(now);
    }

    /// An orderly batch whose exhausted messages were sent to the DLQ: consumed if every
    /// message of it went (`all_gone`), otherwise suspended with reconsume counts + 1 (the
    /// broker did not take one, or others in the batch still have tries left).
    fn finish_orderly_dlq(&mut self, now: Instant, d: Delivery, o: OrderlyDlq, all_gone: bool) {
        let Some(c) = self.consumers.consumers.get_mut(&d.consumer) else {
            return;
        };
        let mut release_now = false;
        if let Some(slot) = c.queues.get_mut(&d.mq) {
            slot.batch_out = false;
            release_now = slot.release_pending;
            if all_gone {
                if let Ok(change) = slot.pq.commit_batch() {
                    c.flow.on_freed(change);
                }
            } else {
                slot.pq.suspend_batch(now + o.pause);
            }
        }
        update_committable(c, &d.mq);
        if release_now {
            self.release_queue(now, d.consumer, &d.mq);
        }
        self.after_progress(now);
    }

    /// Java `cleanExpireMsg`: a concurrent delivery out with the user for longer than the
    /// consumer's `consume_timeout` is given up on and sent back with delay level 3, as if the
    /// handler had asked to reconsume it later; its ack, if it ever comes, is ignored.
    pub(super) fn expire_deliveries(&mut self, now: Instant) {
        let expired: Vec<DeliveryId> = self
            .consumers
            .deliveries
            .iter()
            .filter(|(id, d)| {
                !self.consumers.send_backs.contains_key(*id)
                    && self.consumers.consumers.get(&d.consumer).is_some_and(|c| {
                        c.config.consume_mode == ConsumeMode::Concurrently
                            && !c.lite
                            && now.saturating_duration_since(d.started) >= c.config.consume_timeout
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        for delivery in expired {
            tracing::warn!(?delivery, "consume timeout: sending the delivery back");
            self.settle(
                now,
                delivery,
                ConsumeOutcome::ReconsumeLater { delay_level: 3 },
            );
        }
    }

    /// Sends UPDATE_CONSUMER_OFFSET for every queue whose committable offset moved (clustering),
    /// or hands the offset file to the adapter (broadcasting).
    pub(super) fn persist_offsets(&mut self, now: Instant) {
        let ids: Vec<ConsumerId> = self.consumers.consumers.keys().copied().collect();
        for id in ids {
            self.persist_consumer(now, id, false);
        }
    }

    /// Returns how many requests were sent that count as close steps.
    fn persist_consumer(&mut self, now: Instant, id: ConsumerId, closing: bool) -> usize {
        let mode = if closing {
            PersistMode::Close
        } else {
            PersistMode::Periodic
        };
        self.persist_with(now, id, mode)
    }

    fn persist_with(&mut self, now: Instant, id: ConsumerId, mode: PersistMode) -> usize {
        let closing = mode == PersistMode::Close;
        let all = mode != PersistMode::Periodic;
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return 0;
        };
        let queues: Vec<MessageQueue> = c.queues.keys().cloned().collect();
        for mq in &queues {
            update_committable(c, mq);
        }
        // A topic whose membership is in doubt commits nothing (a close still writes what it
        // owned since the doubt began, if that was only a moment ago).
        // A user's explicit commit is written regardless.
        let explicit = matches!(mode, PersistMode::Commit(_));
        let doubted = |mq: &MessageQueue| {
            !explicit
                && c.doubt.get(&mq.topic).is_some_and(|d| {
                    !closing || now.saturating_duration_since(d.since) > RELEASE_PERSIST_WINDOW
                })
        };
        let changed: Vec<(MessageQueue, i64)> = c
            .offsets
            .entries()
            .iter()
            .filter(|(mq, o)| all || c.persisted.get(*mq) != Some(*o))
            .filter(|(mq, _)| !doubted(mq))
            .map(|(mq, o)| (mq.clone(), *o))
            .collect();
        if changed.is_empty() {
            return 0;
        }
        for (mq, o) in &changed {
            c.persisted.insert(mq.clone(), *o);
            if closing {
                c.report.persisted.insert(mq.clone(), *o);
            }
        }
        if c.config.message_model == MessageModel::Broadcasting {
            let content = encode_offset_file(c.offsets.entries());
            self.events.push_back(Event::PersistLocalOffsets {
                consumer: id,
                content,
            });
            return 0;
        }
        let group = c.config.group.clone();
        let mut sent = 0;
        for (mq, offset) in changed {
            let request = match mode {
                PersistMode::Periodic => None,
                PersistMode::Close => Some(ConsumerRequest::CloseStep(id)),
                PersistMode::Commit(op) => Some(ConsumerRequest::Commit(id, op)),
            };
            if self.persist_offset(now, &group, &mq, offset, request) {
                sent += 1;
            }
        }
        sent
    }

    /// UPDATE_CONSUMER_OFFSET for one queue: oneway normally (as Java), a request counted as a
    /// close step when `close_step` is given. Returns whether a request was sent.
    fn persist_offset(
        &mut self,
        now: Instant,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
        request: Option<ConsumerRequest>,
    ) -> bool {
        let Some(addr) = self.broker_master_any(&mq.broker_name) else {
            return false;
        };
        let command = header::request(
            RequestCode::UpdateConsumerOffset,
            &UpdateConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                commit_offset: offset,
                broker_name: Some(mq.broker_name.clone()),
            },
        );
        match request {
            Some(request) => {
                self.consumer_request(now, &addr, command, request);
                true
            }
            None => {
                self.remoting.send_oneway(now, &addr, command);
                false
            }
        }
    }

    /// LOCK_BATCH_MQ for every assigned queue of an orderly consumer, one request per broker.
    pub(super) fn lock_all(&mut self, now: Instant, id: ConsumerId) {
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        if c.config.consume_mode != ConsumeMode::Orderly || c.closing.is_some() {
            return;
        }
        let requests = c.locks.lock_all_requests(&self.client_id, &c.config.group);
        for (broker, body) in requests {
            let Some(addr) = self.broker_master_any(&broker) else {
                continue;
            };
            let set = body.mq_set.clone();
            self.consumer_request(
                now,
                &addr,
                lock_request(&body),
                ConsumerRequest::Lock(id, set),
            );
        }
    }

    /// LOCK_BATCH_MQ for one queue.
    fn lock_queue(&mut self, now: Instant, id: ConsumerId, mq: &MessageQueue) {
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        let Some(addr) = self.broker_master_any(&mq.broker_name) else {
            return;
        };
        let set: BTreeSet<MessageQueue> = [mq.clone()].into_iter().collect();
        let body = crate::body::LockBatchRequestBody {
            client_id: self.client_id.clone(),
            consumer_group: c.config.group.clone(),
            mq_set: set.clone(),
            only_this_broker: false,
        };
        self.consumer_request(
            now,
            &addr,
            lock_request(&body),
            ConsumerRequest::Lock(id, set),
        );
    }

    pub(super) fn lock_all_consumers(&mut self, now: Instant) {
        let ids: Vec<ConsumerId> = self.consumers.consumers.keys().copied().collect();
        for id in ids {
            self.lock_all(now, id);
        }
    }

    fn consumer_request(
        &mut self,
        now: Instant,
        addr: &str,
        command: RemotingCommand,
        request: ConsumerRequest,
    ) {
        let op = self.alloc_op();
        self.pending.insert(op, Pending::Consumer(request));
        let timeout = self.config.request_timeout;
        self.remoting.send_request(now, op, addr, command, timeout);
    }

    /// A consumer request finished.
    pub(super) fn finish_consumer_request(
        &mut self,
        now: Instant,
        request: ConsumerRequest,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        if let Err(InvokeError::ConnectionClosed { addr }) = &result {
            self.connection_lost(now, addr);
        }
        match request {
            ConsumerRequest::Pull(id, mq, epoch) => {
                self.on_pull_result(now, id, &mq, epoch, result)
            }
            ConsumerRequest::SendBack(d, offset) => {
                self.on_send_back_result(now, d, offset, result)
            }
            ConsumerRequest::ConsumerList(id, topic, round) => {
                let list = result.ok().and_then(|r| {
                    (r.response_code() == ResponseCode::Success)
                        .then(|| GetConsumerListByGroupResponseBody::decode(&r.body).ok())
                        .flatten()
                });
                self.on_consumer_list(now, id, topic, round, list.map(|l| l.consumer_id_list));
            }
            ConsumerRequest::QueryOffset(id, mq) => {
                let stored = match &result {
                    Ok(r) => StoredOffset::from_response(r),
                    Err(_) => StoredOffset::Error,
                };
                self.start_step(now, id, &mq, |s| s.on_stored(stored));
            }
            ConsumerRequest::MaxOffset(id, mq) => {
                let max = result.ok().as_ref().and_then(offset_from_response);
                self.start_step(now, id, &mq, |s| s.on_max_offset(max));
            }
            ConsumerRequest::SearchOffset(id, mq) => {
                let found = result.ok().as_ref().and_then(offset_from_response);
                self.start_step(now, id, &mq, |s| s.on_search_offset(found));
            }
            ConsumerRequest::Lock(id, requested) => {
                let Some(c) = self.consumers.consumers.get_mut(&id) else {
                    return;
                };
                let body = result.ok().and_then(|r| {
                    (r.response_code() == ResponseCode::Success)
                        .then(|| LockBatchResponseBody::decode(&r.body).ok())
                        .flatten()
                });
                let body = body.unwrap_or_default();
                let newly = c.locks.on_lock_response(&requested, &body, now);
                // Granted after we let the queue go: give it back at once.
                let stale: BTreeSet<MessageQueue> = body
                    .lock_ok_mq_set
                    .iter()
                    .filter(|mq| {
                        c.queues
                            .get(*mq)
                            .is_none_or(|s| s.pq.state() == QueueState::Released)
                    })
                    .cloned()
                    .collect();
                let group = c.config.group.clone();
                if !stale.is_empty() {
                    let broker = stale.iter().next().map(|q| q.broker_name.clone());
                    if let Some(addr) = broker.and_then(|b| self.broker_master_any(&b)) {
                        let command = unlock_request(&self.client_id, &group, stale);
                        self.remoting.send_oneway(now, &addr, command);
                    }
                }
                for mq in newly {
                    // First pull after locking reads the offset again (Java); ours is fresh.
                    self.schedule_pull(now, id, &mq, Duration::ZERO);
                }
                self.deliver_ready(now);
            }
            ConsumerRequest::Commit(id, op) => {
                let Some(c) = self.consumers.consumers.get_mut(&id) else {
                    return;
                };
                if let Some(entry) = c.commits.iter_mut().find(|(o, _)| *o == op) {
                    entry.1 = entry.1.saturating_sub(1);
                }
                let done: Vec<OpId> = c
                    .commits
                    .iter()
                    .filter(|(_, left)| *left == 0)
                    .map(|(o, _)| *o)
                    .collect();
                c.commits.retain(|(_, left)| *left > 0);
                for op in done {
                    self.events
                        .push_back(Event::OffsetsCommitted { op, consumer: id });
                }
            }
            ConsumerRequest::CloseStep(id) => {
                if let Some(c) = self.consumers.consumers.get_mut(&id) {
                    c.close_steps = c.close_steps.saturating_sub(1);
                    if c.close_steps == 0 {
                        self.finish_close(id);
                    }
                }
            }
        }
    }

    /// The group's membership changed: until a fresh consumer list is applied, another member
    /// may own some of our queues, so their offsets are not committed (see
    /// [`Consumer::doubt`]). Only rebalancing consumers; an earlier doubt keeps its start
    /// and moves its latest change to `now`.
    fn doubt_membership(&mut self, now: Instant, id: ConsumerId) {
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return;
        };
        if c.assigned.is_some() || c.config.message_model != MessageModel::Clustering {
            return;
        }
        for topic in c.subs.keys() {
            c.doubt
                .entry(topic.clone())
                .and_modify(|d| d.last = now)
                .or_insert(Doubt {
                    since: now,
                    last: now,
                });
        }
    }

    /// Whether a consumer is registered (not closing) in a client that is not shutting down.
    fn has_live_consumer(&self) -> bool {
        !self.closing
            && self
                .consumers
                .consumers
                .values()
                .any(|c| c.closing.is_none())
    }

    /// A heartbeat to `addr` was answered (`ok`) or failed. A failed one leaves the broker not
    /// knowing our consumers (a stalled broker drops it, say): it would give their queues to
    /// the rest of the group while we keep them. Send it again soon, backing off while it
    /// keeps failing, as long as consumers are registered.
    pub(super) fn heartbeat_answered(&mut self, now: Instant, addr: &str, ok: bool) {
        let registration = self.consumers.registrations.get_mut(addr);
        let again = registration.is_some_and(|r| std::mem::take(&mut r.in_flight));
        if ok {
            if let Some(r) = self.consumers.registrations.get_mut(addr) {
                r.failures = 0;
            }
            if !again {
                return;
            }
            // Registered again: a consumer in doubt lists the group now rather than wait for a
            // notification (the broker sends none when it still had us).
            self.rebalance_doubted(now);
            return;
        }
        if !self.has_live_consumer() || self.closing {
            return;
        }
        let r = self
            .consumers
            .registrations
            .entry(addr.to_string())
            .or_default();
        let wait = REREGISTER_INTERVAL
            .saturating_mul(1 << r.failures.min(5))
            .min(HEARTBEAT_RETRY_MAX);
        r.failures = r.failures.saturating_add(1);
        let at = now + wait;
        r.due = Some(r.due.map_or(at, |due| due.min(at)));
        if again {
            // The broker we lost is not back: the rest of the brokers tell the membership.
            self.rebalance_doubted(now);
        }
    }

    /// Rebalances now every live consumer in doubt about its membership.
    fn rebalance_doubted(&mut self, now: Instant) {
        let doubted: Vec<ConsumerId> = self
            .consumers
            .consumers
            .iter()
            .filter(|(_, c)| c.closing.is_none() && !c.doubt.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in doubted {
            self.rebalance(now, id);
        }
    }

    /// A connection to broker `addr` was lost: the broker unregistered this client with it and
    /// told the rest of the group, which may now take our queues while we, not told, keep
    /// pulling and committing them. Heartbeat that broker again at once: registering anew
    /// makes it notify the whole group, us included, so every member rebalances on the same
    /// membership. Until then, or until a list of the group that still names us arrives, the
    /// consumers are in doubt about their queues.
    pub(super) fn connection_lost(&mut self, now: Instant, addr: &str) {
        if !self.has_live_consumer() {
            return;
        }
        // Until the group is listed again with us in it, another member may take our queues.
        let ids: Vec<ConsumerId> = self.consumers.consumers.keys().copied().collect();
        for id in ids {
            self.doubt_membership(now, id);
        }
        self.reregister(now, addr);
        // The other brokers may still list us: then nobody took our queues.
        self.rebalance_doubted(now);
    }

    /// Heartbeats broker `addr` again, at most once per [`REREGISTER_INTERVAL`]: a call within
    /// it is carried out when the interval ends.
    fn reregister(&mut self, now: Instant, addr: &str) {
        if !self.has_live_consumer() {
            return;
        }
        let r = self
            .consumers
            .registrations
            .entry(addr.to_string())
            .or_default();
        if let Some(last) = r.last {
            if last == now {
                return;
            }
            let next = last + REREGISTER_INTERVAL;
            if next > now {
                r.due.get_or_insert(next);
                return;
            }
        }
        r.last = Some(now);
        r.in_flight = true;
        self.send_heartbeats(now, Some(&[addr.to_string()]));
    }

    fn start_step(
        &mut self,
        now: Instant,
        id: ConsumerId,
        mq: &MessageQueue,
        f: impl FnOnce(&mut StartOffset) -> StartOffsetStep,
    ) {
        let Some(start) = self
            .consumers
            .consumers
            .get_mut(&id)
            .and_then(|c| c.queues.get_mut(mq))
            .and_then(|s| s.start.as_mut())
        else {
            return;
        };
        f(start);
        self.advance_start(now, id, mq);
    }

    /// When nothing is out with the user any more, persist, unlock and unregister.
    fn maybe_finish_close(&mut self, now: Instant, id: ConsumerId) {
        let Some(c) = self.consumers.consumers.get(&id) else {
            return;
        };
        if c.closing.is_none() || c.close_steps > 0 {
            return;
        }
        let outstanding = self
            .consumers
            .deliveries
            .values()
            .filter(|d| d.consumer == id)
            .count();
        if outstanding > 0 {
            return;
        }
        self.begin_close_steps(now, id);
    }

    /// Ends a close whose drain deadline passed with deliveries still out (any consumer:
    /// its deliveries out are given up, their messages left unconsumed).
    /// [`Misuse::UnknownConsumer`] for a consumer that does not exist (any more).
    pub fn abandon_deliveries(&mut self, now: Instant, consumer: ConsumerId) -> Result<(), Misuse> {
        if !self.consumers.consumers.contains_key(&consumer) {
            return Err(Misuse::UnknownConsumer(consumer));
        }
        let abandoned: Vec<DeliveryId> = self
            .consumers
            .deliveries
            .iter()
            .filter(|(_, d)| d.consumer == consumer)
            .map(|(id, _)| *id)
            .collect();
        for d in &abandoned {
            self.consumers.deliveries.remove(d);
            self.consumers.send_backs.remove(d);
            self.consumers.orderly_dlq.remove(d);
        }
        if let Some(c) = self.consumers.consumers.get_mut(&consumer) {
            c.report.abandoned_deliveries += abandoned.len();
            c.outstanding = 0;
        }
        self.maybe_finish_close(now, consumer);
        Ok(())
    }

    fn begin_close_steps(&mut self, now: Instant, id: ConsumerId) {
        let mut steps = self.persist_consumer(now, id, true);
        let Some(c) = self.consumers.consumers.get_mut(&id) else {
            return;
        };
        let group = c.config.group.clone();
        let locked: Vec<MessageQueue> = c
            .queues
            .keys()
            .filter(|mq| c.locks.is_locked(mq, now))
            .cloned()
            .collect();
        let mut by_broker: BTreeMap<String, BTreeSet<MessageQueue>> = BTreeMap::new();
        for mq in locked {
            by_broker
                .entry(mq.broker_name.clone())
                .or_default()
                .insert(mq);
        }
        for (broker, mq_set) in by_broker {
            if let Some(addr) = self.broker_master_any(&broker) {
                let command = unlock_request(&self.client_id, &group, mq_set);
                self.consumer_request(now, &addr, command, ConsumerRequest::CloseStep(id));
                steps += 1;
            }
        }
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: None,
            consumer_group: Some(group),
        };
        let brokers: Vec<String> = self.known_brokers();
        for addr in brokers {
            let command = header::request(RequestCode::UnregisterClient, &header);
            self.consumer_request(now, &addr, command, ConsumerRequest::CloseStep(id));
            steps += 1;
        }
        let c = self.consumers.consumers.get_mut(&id).expect("checked");
        c.close_steps = steps;
        if steps == 0 {
            self.finish_close(id);
        }
    }

    fn finish_close(&mut self, id: ConsumerId) {
        if let Some(c) = self.consumers.consumers.remove(&id) {
            self.consumers.pull_timers.retain(|(_, cid, _)| *cid != id);
            if let Some(op) = c.closing {
                self.events.push_back(Event::ConsumerClosed {
                    op,
                    consumer: id,
                    report: c.report,
                });
            }
        }
    }

    /// Broker→client requests about consumers, answered here; `None` when not ours.
    pub(super) fn handle_consumer_request(
        &mut self,
        now: Instant,
        request: IncomingRequest,
    ) -> Option<IncomingRequest> {
        let code = RequestCode::from_code(request.command.code);
        match code {
            RequestCode::NotifyConsumerIdsChanged => {
                let group = request
                    .command
                    .field("consumerGroup")
                    .unwrap_or_default()
                    .to_string();
                let ids: Vec<ConsumerId> = self
                    .consumers
                    .consumers
                    .iter()
                    .filter(|(_, c)| c.config.group == group)
                    .map(|(id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    // Not a group of ours: let the user see it.
                    return Some(request);
                }
                for id in ids {
                    self.doubt_membership(now, id);
                    self.rebalance(now, id);
                }
                None
            }
            RequestCode::GetConsumerRunningInfo => {
                let group = request.command.field("consumerGroup").unwrap_or_default();
                let response = match self.running_info(group, now) {
                    Some(info) => {
                        RemotingCommand::response_to(&request.command, ResponseCode::Success)
                            .with_body(info.encode())
                    }
                    None => {
                        RemotingCommand::response_to(&request.command, ResponseCode::SystemError)
                            .with_remark(format!(
                                "The Consumer Group <{group}> not exist in this consumer"
                            ))
                    }
                };
                if let Some(token) = request.token {
                    self.remoting.answer(token, response);
                }
                None
            }
            RequestCode::GetConsumerStatusFromClient => {
                let group = request
                    .command
                    .field("group")
                    .unwrap_or_default()
                    .to_string();
                let topic = request
                    .command
                    .field("topic")
                    .unwrap_or_default()
                    .to_string();
                let table: BTreeMap<MessageQueue, i64> = self
                    .consumers
                    .consumers
                    .values()
                    .filter(|c| c.config.group == group)
                    .flat_map(|c| c.offsets.entries().clone())
                    .filter(|(mq, _)| mq.topic == topic)
                    .collect();
                let body = GetConsumerStatusBody {
                    message_queue_table: table,
                    ..Default::default()
                };
                let response =
                    RemotingCommand::response_to(&request.command, ResponseCode::Success)
                        .with_body(body.encode());
                if let Some(token) = request.token {
                    self.remoting.answer(token, response);
                }
                None
            }
            RequestCode::ResetConsumerClientOffset => {
                let group = request
                    .command
                    .field("group")
                    .unwrap_or_default()
                    .to_string();
                let Ok(body) = ResetOffsetBody::decode(&request.command.body) else {
                    tracing::warn!("bad reset-offset body");
                    return None;
                };
                let ids: Vec<ConsumerId> = self
                    .consumers
                    .consumers
                    .iter()
                    .filter(|(_, c)| c.config.group == group)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    let c = self.consumers.consumers.get_mut(&id).expect("listed");
                    for (mq, offset) in &body.offset_table {
                        if *offset < 0 {
                            // Not an offset: leave the queue where it is.
                            tracing::warn!(?mq, offset, "negative offset in a reset ignored");
                            continue;
                        }
                        if let Some(slot) = c.queues.get_mut(mq) {
                            if let Ok(change) = slot.pq.seek(*offset) {
                                c.flow.on_freed(change);
                            }
                            c.offsets.update(mq, *offset, false);
                        }
                    }
                }
                None
            }
            _ => Some(request),
        }
    }

    fn running_info(&self, group: &str, now: Instant) -> Option<ConsumerRunningInfo> {
        let c = self
            .consumers
            .consumers
            .values()
            .find(|c| c.config.group == group)?;
        let mut info = ConsumerRunningInfo {
            subscription_set: c.subs.values().map(|s| s.to_data(c.sub_version)).collect(),
            ..Default::default()
        };
        let ns = self.config.namesrv_addrs.join(";");
        info.properties.insert("PROP_NAMESERVER_ADDR".into(), ns);
        info.properties.insert(
            "PROP_CONSUMEORDERLY".into(),
            (c.config.consume_mode == ConsumeMode::Orderly).to_string(),
        );
        let consume_type = if c.lite {
            "CONSUME_ACTIVELY"
        } else {
            "CONSUME_PASSIVELY"
        };
        info.properties
            .insert("PROP_CONSUME_TYPE".into(), consume_type.into());
        info.properties
            .insert("PROP_CLIENT_VERSION".into(), "rocketwire".into());
        for (mq, slot) in &c.queues {
            let pq = ProcessQueueInfo {
                commit_offset: c.offsets.get(mq).unwrap_or(-1),
                cached_msg_count: i32::try_from(slot.pq.cached_count()).unwrap_or(i32::MAX),
                cached_msg_size_in_mi_b: i32::try_from(slot.pq.cached_bytes() >> 20)
                    .unwrap_or(i32::MAX),
                locked: c.locks.is_locked(mq, now),
                dropped: slot.pq.state() == QueueState::Released,
                ..Default::default()
            };
            info.mq_table.insert(mq.clone(), pq);
        }
        Some(info)
    }

    /// Master address of `broker_name` from any cached route.
    fn broker_master_any(&self, broker_name: &str) -> Option<String> {
        self.routes.master_of(broker_name)
    }

    /// The address to pull `broker_name` from: the suggested broker id if known, else the
    /// master; whether it is a slave.
    fn broker_addr_for(
        &self,
        topic: &str,
        broker_name: &str,
        broker_id: i64,
    ) -> Option<(String, bool)> {
        let route = self.routes.get(topic)?;
        let found = route.find_broker_address_in_subscribe(broker_name, broker_id, false)?;
        Some((found.broker_addr, found.slave))
    }
}

fn clustering_of(c: &Consumer) -> bool {
    c.config.message_model == MessageModel::Clustering
}

/// Records a queue's committable offset (increase-only), unless the queue was released.
fn update_committable(c: &mut Consumer, mq: &MessageQueue) {
    if let Some(slot) = c.queues.get(mq) {
        if let Some(offset) = slot.pq.committable_offset() {
            c.offsets.update(mq, offset, true);
        }
    }
}
