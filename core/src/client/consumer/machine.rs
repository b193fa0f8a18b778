//! [`ConsumerMachine`]: one push or lite pull consumer as an owned state machine.
//!
//! The machine owns everything of its consumer: subscriptions, held queues and their process
//! queues, offsets, flow control, orderly locks, deliveries out with the user, send-backs,
//! rebalance rounds and its timers. It never sees the client around it: each call gets an
//! [`Env`] (the route cache, the client id, the clock, the delivery id counter), and what the
//! machine wants done comes out of [`ConsumerMachine::poll_output`] in order (requests,
//! oneways, a heartbeat, a route lookup, user events). The client's router carries them out
//! and feeds answers back with [`ConsumerMachine::handle_response`] and
//! [`ConsumerMachine::handle_route`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::super::addr_map::BrokerAddrMap;
use super::super::ids::{ConsumerId, DeliveryId, OpId};
use super::super::route::RouteState;
use super::super::timer::Timers;
use super::super::Event;
use super::identity::IdentityCheck;
use super::refusal::RefusalState;
use super::ConsumerCloseReport;
use crate::body::{ConsumeType, ConsumerData, MessageModel, MessageQueue};
use crate::codec::RemotingCommand;
use crate::consumer::{
    ConsumeMode, ConsumeStatsBook, ConsumerConfig, FlowControl, LockTable, OffsetTable,
    ProcessQueue, QueueState, StartOffset, Subscription,
};
use crate::message::MessageExt;
use crate::remoting::{ConnHistory, InvokeError};
use crate::time::{Rng, WallClock};

/// What a consumer machine sees of the client around it, lent for one call.
pub(in crate::client) struct Env<'a> {
    /// The wall clock (subscription versions, the default start timestamp), read only when
    /// needed: most calls (acks, pull results) never look at it.
    pub(in crate::client) wall: &'a dyn WallClock,
    /// This client's id (`ip@instance`).
    pub(in crate::client) client_id: &'a str,
    /// The route cache (read-only).
    pub(in crate::client) routes: &'a RouteState,
    /// Every broker master the client knows (a close unregisters from each).
    pub(in crate::client) brokers: &'a BTreeSet<String>,
    /// The client's seeded RNG.
    pub(in crate::client) rng: &'a mut Rng,
    /// The next delivery id; delivery ids are unique across the client's consumers.
    pub(in crate::client) next_delivery: &'a mut u64,
    /// Default request timeout.
    pub(in crate::client) request_timeout: Duration,
    /// The client is closed: nothing is armed any more (its requests fail at once).
    pub(in crate::client) stopped: bool,
    /// Broker addresses to dial instead of learned ones (a message's store host).
    pub(in crate::client) addr_map: &'a BrokerAddrMap,
    /// The client's own connections, per address.
    pub(in crate::client) conn_history: &'a HashMap<String, ConnHistory>,
    /// The client's periodic jobs: a long poll's hold ends when one is due anyway.
    pub(in crate::client) jobs: &'a Timers,
}

impl Env<'_> {
    /// Wall-clock milliseconds now.
    pub(in crate::client) fn wall_ms(&self) -> i64 {
        self.wall.now_millis()
    }
}

/// What a consumer machine asks of the router, in the order it must happen.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, as the client's `Output`
pub(in crate::client) enum ConsumerOutput {
    /// Send `command` to `addr`; answer with [`ConsumerMachine::handle_response`].
    Request {
        addr: String,
        command: RemotingCommand,
        timeout: Duration,
        request: Request,
        /// The span the request's `rocketwire.request` span belongs to.
        parent: tracing::Span,
    },
    /// Send `command` to `addr` as a oneway request.
    Oneway {
        addr: String,
        command: RemotingCommand,
    },
    /// Heartbeat every known broker now (the subscriptions or queues changed).
    Heartbeat,
    /// Look up `topic`'s route; answer with [`ConsumerMachine::handle_route`].
    Route(String),
    /// Something for the user.
    Event(Event),
}

impl Request {
    /// The name of the request code this kind of request is sent with.
    pub(in crate::client) fn code_name(&self) -> &'static str {
        match self {
            Request::ConsumerList(..) => "GET_CONSUMER_LIST_BY_GROUP",
            Request::QueryOffset(_) => "QUERY_CONSUMER_OFFSET",
            Request::MaxOffset(_) => "GET_MAX_OFFSET",
            Request::SearchOffset(_) => "SEARCH_OFFSET_BY_TIMESTAMP",
            Request::Pull(..) => "PULL_MESSAGE",
            Request::SendBack(..) => "CONSUMER_SEND_MSG_BACK",
            Request::Lock(_) => "LOCK_BATCH_MQ",
            Request::CloseStep => "UNLOCK_BATCH_MQ / UNREGISTER_CLIENT",
            Request::ClosePersist { .. } | Request::Commit(_) => "UPDATE_CONSUMER_OFFSET",
            Request::Connections(_) => "GET_CONSUMER_CONNECTION_LIST",
        }
    }
}

/// What a request of the machine was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::client) enum Request {
    /// The group's consumer list for a rebalance round ([`ListRound`]) of a topic.
    ConsumerList(String, u64),
    QueryOffset(MessageQueue),
    MaxOffset(MessageQueue),
    SearchOffset(MessageQueue),
    /// A pull of a queue at a seek epoch.
    Pull(MessageQueue, u64),
    /// One message of a delivery sent back, by queue offset.
    SendBack(DeliveryId, i64),
    Lock(BTreeSet<MessageQueue>),
    /// A request a close waits for.
    CloseStep,
    /// A close's offset write of a queue.
    ClosePersist {
        mq: MessageQueue,
        offset: i64,
    },
    /// A request a user's commit waits for.
    Commit(OpId),
    /// The group's connections on a broker, for the client-id check.
    Connections(String),
}

#[derive(Debug)]
pub(super) struct Slot {
    pub(super) pq: ProcessQueue,
    pub(super) start: Option<StartOffset>,
    pub(super) pull_in_flight: bool,
    /// The broker id the broker suggested for the next pull.
    pub(super) broker_id: i64,
    /// Orderly: a batch is out with the user.
    pub(super) batch_out: bool,
    /// Orderly: rebalanced away while a batch was out; released once it is acked.
    pub(super) release_pending: bool,
    /// Bumped by a seek: a pull answered for an older epoch is stale and ignored.
    pub(super) epoch: u64,
    /// The offset this queue started from. Until the committable offset moves past it, pulls
    /// carry no commit (and a release or close writes nothing for the queue): writing back the
    /// offset we merely read could overwrite a later one that the queue's previous owner
    /// committed meanwhile (its release persist racing our start-offset lookup). Cleared by a
    /// seek, whose offset is the user's to commit.
    pub(super) started_at: Option<i64>,
    /// The queue's end as the broker last reported it (pull answers), for the lag.
    pub(super) broker_max: Option<i64>,
    /// `rocketwire.pull` of the pull in flight (closed when it is answered).
    pub(super) pull_span: tracing::Span,
    /// When the pull in flight was asked for.
    pub(super) pull_sent: Option<Instant>,
    /// When a delivery of it was last settled.
    pub(super) last_consumed: Option<Instant>,
}

impl Slot {
    pub(super) fn new(mq: &MessageQueue, start: StartOffset) -> Self {
        Self {
            pq: ProcessQueue::new(mq.clone()),
            start: Some(start),
            pull_in_flight: false,
            broker_id: 0,
            batch_out: false,
            release_pending: false,
            epoch: 0,
            started_at: None,
            broker_max: None,
            pull_span: tracing::Span::none(),
            pull_sent: None,
            last_consumed: None,
        }
    }
}

/// A topic's membership in doubt: since the first change, and the latest change seen since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Doubt {
    /// The first change (a release long after it is not written).
    pub(super) since: Instant,
    /// The latest change: only a consumer list asked for after it settles the doubt.
    pub(super) last: Instant,
}

/// One rebalance of a topic: the group's consumer list is asked of every broker of the route
/// and the union allocated. Brokers learn of members separately (a heartbeat can be lost
/// at one of them), and members that each asked a different broker would otherwise divide
/// the queues by different lists, two of them owning one queue.
#[derive(Debug)]
pub(super) struct ListRound {
    pub(super) round: u64,
    pub(super) asked: Instant,
    pub(super) waiting: usize,
    pub(super) ids: BTreeSet<String>,
    pub(super) answered: bool,
    /// Asked for again while unfinished: a new round follows this one.
    pub(super) rerun: bool,
}

/// An orderly batch waiting for its DLQ send-backs.
#[derive(Debug, Clone, Copy)]
pub(super) struct OrderlyDlq {
    /// The suspension if the batch cannot be settled.
    pub(super) pause: Duration,
    /// Messages in the batch.
    pub(super) total: usize,
}

/// A batch out with the user.
#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) mq: MessageQueue,
    pub(super) messages: Vec<MessageExt>,
    /// When it was handed to the user (for the consume timeout).
    pub(super) started: Instant,
}

/// The send-backs of one delivery: how many are still waiting, the offsets the broker took
/// and those it did not.
#[derive(Debug, Default)]
pub(super) struct SendBacks {
    pub(super) waiting: usize,
    pub(super) done: Vec<i64>,
    pub(super) failed: Vec<i64>,
}

/// Most batches out with the user per consumer at once (Java's consume thread pool is 20).
pub(super) const MAX_OUTSTANDING: usize = 64;

/// One consumer. See the module docs.
#[derive(Debug)]
pub(in crate::client) struct ConsumerMachine {
    pub(super) id: ConsumerId,
    pub(super) config: ConsumerConfig,
    pub(super) subs: BTreeMap<String, Subscription>,
    pub(super) sub_version: i64,
    /// Rebalances that changed the queues held.
    pub(super) rebalances: u64,
    /// Pull and consume statistics (running info, metrics).
    pub(super) stats: ConsumeStatsBook,
    pub(super) queues: BTreeMap<MessageQueue, Slot>,
    pub(super) offsets: OffsetTable,
    pub(super) persisted: BTreeMap<MessageQueue, i64>,
    pub(super) flow: FlowControl,
    pub(super) locks: LockTable,
    /// Deliveries out with the user (send-backs under way not counted).
    pub(super) outstanding: usize,
    pub(super) closing: Option<OpId>,
    pub(super) close_steps: usize,
    /// The close is over: [`Event::ConsumerClosed`] is out, the router drops the machine.
    pub(super) finished: bool,
    pub(super) report: ConsumerCloseReport,
    /// Queues chosen by `assign` instead of rebalancing.
    pub(super) assigned: Option<BTreeSet<MessageQueue>>,
    /// Queues paused by `pause`: no pulls, no deliveries.
    pub(super) paused: BTreeSet<MessageQueue>,
    /// `commit` calls waiting for their requests.
    pub(super) commits: Vec<(OpId, usize)>,
    /// A lite pull consumer: `CONSUME_ACTIVELY`, no retry-topic subscription.
    pub(super) lite: bool,
    /// Topics whose group membership changed (NOTIFY_CONSUMER_IDS_CHANGED, a lost
    /// connection), until a consumer list asked for after the latest change is applied.
    /// Meanwhile another member may already own some of our queues, so none of the topic's
    /// offsets is committed.
    pub(super) doubt: BTreeMap<String, Doubt>,
    pub(super) deliveries: BTreeMap<DeliveryId, Delivery>,
    pub(super) send_backs: BTreeMap<DeliveryId, SendBacks>,
    /// Orderly batches whose exhausted messages are on their way to the DLQ.
    pub(super) orderly_dlq: BTreeMap<DeliveryId, OrderlyDlq>,
    /// Scheduled pulls (and start-offset retries).
    pub(super) pull_timers: BTreeSet<(Instant, MessageQueue)>,
    /// Subscribed topics whose route was missing (or whose list is to be asked again soon).
    pub(super) route_retries: BTreeSet<(Instant, String)>,
    /// Topics that got their quick route retry this rebalance round.
    pub(super) route_retried: BTreeSet<String>,
    /// Consumer lists being gathered, per topic.
    pub(super) list_rounds: BTreeMap<String, ListRound>,
    /// The last rebalance round number handed out.
    pub(super) last_round: u64,
    /// The client-id collision check.
    pub(super) identity: IdentityCheck,
    /// The last refusal for lack of permission, until a request of its kind succeeds.
    pub(super) refusal: RefusalState,
    pub(super) out: VecDeque<ConsumerOutput>,
}

impl ConsumerMachine {
    /// A consumer with its subscriptions (the retry topic's included) and the offsets it
    /// starts with (broadcasting's local file).
    pub(in crate::client) fn new(
        id: ConsumerId,
        config: ConsumerConfig,
        subs: BTreeMap<String, Subscription>,
        offsets: OffsetTable,
        lite: bool,
        wall_ms: i64,
    ) -> Self {
        Self {
            id,
            flow: FlowControl::new(&config),
            locks: LockTable::new(config.lock_expiry),
            sub_version: wall_ms,
            rebalances: 0,
            stats: ConsumeStatsBook::default(),
            config,
            subs,
            queues: BTreeMap::new(),
            persisted: offsets.entries().clone(),
            offsets,
            outstanding: 0,
            closing: None,
            close_steps: 0,
            finished: false,
            report: ConsumerCloseReport::default(),
            assigned: None,
            paused: BTreeSet::new(),
            commits: Vec::new(),
            lite,
            doubt: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            send_backs: BTreeMap::new(),
            orderly_dlq: BTreeMap::new(),
            pull_timers: BTreeSet::new(),
            route_retries: BTreeSet::new(),
            route_retried: BTreeSet::new(),
            list_rounds: BTreeMap::new(),
            last_round: 0,
            identity: IdentityCheck::default(),
            refusal: RefusalState::default(),
            out: VecDeque::new(),
        }
    }

    /// The next thing for the router to carry out.
    pub(in crate::client) fn poll_output(&mut self) -> Option<ConsumerOutput> {
        self.out.pop_front()
    }

    /// The earliest instant a timer of this machine is due.
    pub(in crate::client) fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let pulls = self.pull_timers.first().map(|(at, _)| *at);
        let routes = self.route_retries.first().map(|(at, _)| *at);
        if self.closing.is_some() {
            return [pulls, routes].into_iter().flatten().min();
        }
        // Local retries and suspensions count only where their time coming can deliver
        // something; otherwise (a paused queue, no room for deliveries, an orderly batch out
        // or lock missing) the ack, resume or lock that makes room delivers them, and a
        // deadline already past would make the client's `poll_output` spin.
        let orderly = self.config.consume_mode == ConsumeMode::Orderly;
        let retries = self
            .queues
            .iter()
            .filter(|(mq, s)| {
                !self.paused.contains(*mq)
                    && if orderly {
                        !s.batch_out && !s.release_pending && self.locks.is_locked(mq, now)
                    } else {
                        self.outstanding < MAX_OUTSTANDING
                    }
            })
            .flat_map(|(_, s)| [s.pq.next_retry_at(), s.pq.suspended_until()])
            .flatten()
            .min();
        [pulls, retries, routes].into_iter().flatten().min()
    }

    /// What heartbeats register of this consumer; `None` once it is closing.
    pub(in crate::client) fn heartbeat_data(&self) -> Option<ConsumerData> {
        self.closing.is_none().then(|| ConsumerData {
            consume_from_where: self.config.consume_from_where,
            consume_type: if self.lite {
                ConsumeType::Actively
            } else {
                ConsumeType::Passively
            },
            group_name: self.config.group.clone(),
            message_model: self.config.message_model,
            subscription_data_set: self
                .subs
                .values()
                .map(|s| s.to_data(self.sub_version))
                .collect(),
            unit_mode: false,
        })
    }

    pub(in crate::client) fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    pub(in crate::client) fn group(&self) -> &str {
        &self.config.group
    }

    pub(in crate::client) fn topics(&self) -> impl Iterator<Item = &String> {
        self.subs.keys()
    }

    /// A lite pull consumer.
    pub(in crate::client) fn is_lite(&self) -> bool {
        self.lite
    }

    /// Consumes orderly.
    pub(in crate::client) fn is_orderly(&self) -> bool {
        self.orderly()
    }

    /// Takes commands: not closing.
    pub(in crate::client) fn is_live(&self) -> bool {
        self.closing.is_none()
    }

    /// Closed: its [`Event::ConsumerClosed`] is out, the router may drop it.
    pub(in crate::client) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Some topic's membership is in doubt.
    pub(in crate::client) fn in_doubt(&self) -> bool {
        !self.doubt.is_empty()
    }

    /// Whether `delivery` is out with the user and takes an ack.
    pub(in crate::client) fn has_delivery(&self, delivery: DeliveryId) -> bool {
        self.deliveries.contains_key(&delivery)
    }

    /// Deliveries not yet settled (send-backs under way included).
    pub(in crate::client) fn deliveries_in_flight(&self) -> usize {
        self.deliveries.len()
    }

    /// The offsets it would commit now (smallest unsettled per queue).
    pub(in crate::client) fn offsets(&self) -> &BTreeMap<MessageQueue, i64> {
        self.offsets.entries()
    }

    /// The queues it holds now.
    pub(in crate::client) fn held_queues(&self) -> Vec<MessageQueue> {
        self.queues
            .iter()
            .filter(|(_, s)| s.pq.state() != QueueState::Released)
            .map(|(mq, _)| mq.clone())
            .collect()
    }

    /// The client closed: nothing is armed any more.
    pub(in crate::client) fn stop_timers(&mut self) {
        self.pull_timers.clear();
        self.route_retries.clear();
    }

    /// A request to `addr` with the client's default timeout.
    pub(super) fn request(
        &mut self,
        env: &Env<'_>,
        addr: String,
        command: RemotingCommand,
        request: Request,
    ) {
        let timeout = env.request_timeout;
        self.request_with(addr, command, timeout, request);
    }

    pub(super) fn request_with(
        &mut self,
        addr: String,
        command: RemotingCommand,
        timeout: Duration,
        request: Request,
    ) {
        self.request_in(addr, command, timeout, request, tracing::Span::none());
    }

    /// [`ConsumerMachine::request_with`], its `rocketwire.request` span a child of `parent`.
    pub(super) fn request_in(
        &mut self,
        addr: String,
        command: RemotingCommand,
        timeout: Duration,
        request: Request,
        parent: tracing::Span,
    ) {
        self.out.push_back(ConsumerOutput::Request {
            addr,
            command,
            timeout,
            request,
            parent,
        });
    }

    pub(super) fn oneway(&mut self, addr: String, command: RemotingCommand) {
        self.out.push_back(ConsumerOutput::Oneway { addr, command });
    }

    pub(super) fn heartbeat(&mut self) {
        self.out.push_back(ConsumerOutput::Heartbeat);
    }

    pub(super) fn lookup_route(&mut self, topic: &str) {
        self.out.push_back(ConsumerOutput::Route(topic.to_string()));
    }

    pub(super) fn event(&mut self, event: Event) {
        self.out.push_back(ConsumerOutput::Event(event));
    }

    pub(super) fn schedule_pull(
        &mut self,
        now: Instant,
        env: &Env<'_>,
        mq: &MessageQueue,
        after: Duration,
    ) {
        if env.stopped {
            // A closed client arms nothing (its requests fail at once: this would never end).
            return;
        }
        self.pull_timers.insert((now + after, mq.clone()));
    }

    pub(super) fn cancel_pulls(&mut self, mq: &MessageQueue) {
        self.pull_timers.retain(|(_, q)| q != mq);
    }

    pub(super) fn clustering(&self) -> bool {
        self.config.message_model == MessageModel::Clustering
    }

    pub(super) fn orderly(&self) -> bool {
        self.config.consume_mode == ConsumeMode::Orderly
    }

    /// Whether the periodic persist has something to write: some queue's offset (its
    /// committable offset where it moved further) differs from the one last persisted.
    pub(super) fn has_unpersisted(&self) -> bool {
        let offsets = self.offsets.entries();
        let moved = self.queues.iter().any(|(mq, slot)| {
            slot.pq.committable_offset().is_some_and(|c| {
                let current = offsets.get(mq).map_or(c, |o| (*o).max(c));
                self.persisted.get(mq) != Some(&current)
            })
        });
        moved
            || offsets
                .iter()
                .any(|(mq, o)| self.persisted.get(mq) != Some(o))
    }

    /// Records a queue's committable offset (increase-only), unless the queue was released.
    pub(super) fn update_committable(&mut self, mq: &MessageQueue) {
        if let Some(offset) = self
            .queues
            .get(mq)
            .and_then(|slot| slot.pq.committable_offset())
        {
            self.offsets.update(mq, offset, true);
        }
    }

    /// A request of this machine finished.
    pub(in crate::client) fn handle_response(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        broker: &str,
        request: Request,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        // The connection list is an admin request an ACL may not grant a consumer: the
        // collision check goes without it, the consumer works.
        if !matches!(request, Request::Connections(_)) {
            let who = (self.id, self.config.group.as_str());
            if let Some(refusal) = self.refusal.note(who, broker, request.code_name(), &result) {
                self.out
                    .push_back(ConsumerOutput::Event(Event::ConsumerRefused(refusal)));
            }
        }
        match request {
            Request::Pull(mq, epoch) => self.on_pull_result(now, env, &mq, epoch, result),
            Request::SendBack(d, offset) => self.on_send_back_result(now, env, d, offset, result),
            Request::ConsumerList(topic, round) => {
                self.on_consumer_list(now, env, topic, round, result)
            }
            Request::QueryOffset(mq) => self.on_stored_offset(now, env, &mq, result),
            Request::MaxOffset(mq) => self.on_max_offset(now, env, &mq, result),
            Request::SearchOffset(mq) => self.on_search_offset(now, env, &mq, result),
            Request::Lock(requested) => self.on_lock(now, env, &requested, result),
            Request::Commit(op) => self.on_commit_step(op),
            Request::CloseStep => self.on_close_step(),
            Request::ClosePersist { mq, offset } => self.on_close_persist(mq, offset, result),
            Request::Connections(addr) => self.on_connections(now, env, addr, result),
        }
    }
}

/// Master address of `broker_name` from any cached route.
pub(super) fn master_of(env: &Env<'_>, broker_name: &str) -> Option<String> {
    env.routes.master_of(broker_name)
}
