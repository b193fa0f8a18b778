//! [`PopMachine`]: one POP consumer as an owned state machine.
//!
//! ```text
//! targets: every (topic, broker) of the subscriptions' routes that has readable queues
//! pop loop per target: outstanding < max → POP_MESSAGE (queueId -1, long poll)
//!   Found → one Event::Deliver per queue (orderly: the broker blocks the queue meanwhile)
//!   NotFound → pop again │ error → again after a delay (or when the broker is back)
//! settle: Success → ACK_MESSAGE │ ReconsumeLater / Suspend → CHANGE_MESSAGE_INVISIBLETIME
//!         Abandon → nothing (visible again after the invisible time)
//! renew: a delivery still out shortly before its invisible time passes gets another
//!        invisible time (a new handle), until the consume timeout
//! ```
//!
//! The broker keeps the group's position: nothing is committed and nothing is rebalanced.
//! A message not acked in time (a lost ack, a dead consumer) is popped again by anyone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::super::ids::{ConsumerId, DeliveryId, OpId};
use super::super::Event;
use crate::body::ConsumeFromWhere;
use crate::body::{perm, ConsumeType, ConsumerData, TopicRouteData};
use crate::client::consumer::ConsumerCloseReport;
use crate::client::route::RouteState;
use crate::codec::RemotingCommand;
use crate::consumer::{
    interpret_pop_response, pop_request, ConsumeMode, ConsumerConfig, PopConfig, PopOutcome,
    PopSpec, Popped, ReceiptHandle, Subscription, POP_TIMEOUT_MARGIN,
};
use crate::message::MessageExt;
use crate::remoting::InvokeError;
use crate::time::{Rng, WallClock};

/// What a POP machine sees of the client around it, lent for one call.
pub(in crate::client) struct PopEnv<'a> {
    pub(in crate::client) wall: &'a dyn WallClock,
    pub(in crate::client) routes: &'a RouteState,
    pub(in crate::client) rng: &'a mut Rng,
    pub(in crate::client) next_delivery: &'a mut u64,
    pub(in crate::client) request_timeout: Duration,
    /// Every broker master the client knows (a close unregisters from each).
    pub(in crate::client) brokers: &'a BTreeSet<String>,
    pub(in crate::client) client_id: &'a str,
    /// The client is closed: nothing is armed any more.
    pub(in crate::client) stopped: bool,
}

/// What a POP machine asks of the router, in order.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, as the client's `Output`
pub(in crate::client) enum PopOutput {
    /// Send `command` to `addr`; answer with [`PopMachine::handle_response`].
    Request {
        addr: String,
        command: RemotingCommand,
        timeout: Duration,
        request: PopRequest,
    },
    /// Look up `topic`'s route; answer with [`PopMachine::handle_route`].
    Route(String),
    /// Something for the user.
    Event(Event),
}

/// What a request of a POP machine was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::client) enum PopRequest {
    /// A pop of a target.
    Pop(TargetKey),
    /// An ack of message `index` of a settle.
    Ack(SettleId, usize),
    /// A change of invisible time of message `index` of a settle (a retry later).
    Retry(SettleId, usize),
    /// A renewal of message `index` of a delivery out.
    Renew(DeliveryId, usize),
    /// A close's unregistration.
    CloseStep,
}

/// What one pop loop pops: a topic on one broker, every queue (-1, concurrent) or one
/// queue (orderly: a broker checks an orderly pop's attempt id per queue).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::client) struct TargetKey {
    pub(in crate::client) topic: String,
    pub(in crate::client) broker: String,
    pub(in crate::client) queue_id: i32,
}

/// Identifies the settling of a delivery (its acks or changes in flight).
pub(in crate::client) type SettleId = u64;

#[derive(Debug)]
pub(super) struct Target {
    /// Popping now.
    pub(super) in_flight: bool,
    /// Pop again at this instant (after an error or flow control).
    pub(super) retry_at: Option<Instant>,
    /// Orderly: the attempt id of the pop to send (kept after a pop that got no answer).
    pub(super) attempt: Option<String>,
    /// When the pop in flight was sent.
    pub(super) sent: Option<Instant>,
    /// Messages popped from it and not settled.
    pub(super) outstanding: usize,
    /// No longer in the routes: popped no more, dropped once nothing of it is out.
    pub(super) gone: bool,
}

/// One message out with the user (or being settled).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) handle: ReceiptHandle,
    pub(super) reconsume_times: i32,
    /// A renewal of it is in flight.
    pub(super) renewing: bool,
    /// Until when its handle keeps it invisible, counted from when the pop or change was
    /// answered (the broker counts from a moment before; renewals come a margin early).
    pub(super) invisible_until: Instant,
}

impl Entry {
    /// A popped message's entry (invisible until `until`) and the message itself.
    pub(super) fn split(p: Popped, until: Instant) -> (Entry, MessageExt) {
        let entry = Entry {
            handle: p.handle,
            reconsume_times: p.message.reconsume_times,
            renewing: false,
            invisible_until: until,
        };
        (entry, p.message)
    }
}

/// A batch out with the user.
#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) target: TargetKey,
    pub(super) entries: Vec<Entry>,
    pub(super) delivered: Instant,
    /// When to extend the invisible time next.
    pub(super) renew_at: Instant,
    /// Settled by the user; waiting for renewals in flight to end first.
    pub(super) settled: Option<Settle>,
    /// The messages as handed out (kept to hand them out again when a retry's change of
    /// invisible time fails).
    pub(super) messages: Vec<MessageExt>,
    /// Out longer than the consume timeout: no longer renewed.
    pub(super) renew_stopped: bool,
}

/// What to do with a settled delivery's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    Ack,
    /// Visible again after this long.
    Retry(Duration),
}

/// A delivery being settled: its requests in flight.
#[derive(Debug)]
pub(super) struct Settling {
    pub(super) target: TargetKey,
    pub(super) how: Settle,
    pub(super) entries: Vec<Entry>,
    /// The messages, for a local retry.
    pub(super) messages: Vec<MessageExt>,
    /// Requests not answered yet.
    pub(super) waiting: usize,
    /// Tries left per message.
    pub(super) tries: Vec<u8>,
    /// Messages whose retry change failed: handed out again here.
    pub(super) failed: Vec<usize>,
    /// Messages to send again at this instant.
    pub(super) again_at: Option<(Instant, Vec<usize>)>,
}

/// Messages to hand out again: when, from which target, their entries and messages.
pub(super) type LocalRetry = (Instant, TargetKey, Vec<Entry>, Vec<MessageExt>);

/// One POP consumer.
#[derive(Debug)]
pub(in crate::client) struct PopMachine {
    pub(super) id: ConsumerId,
    pub(super) config: ConsumerConfig,
    pub(super) pop: PopConfig,
    pub(super) subs: BTreeMap<String, Subscription>,
    pub(super) sub_version: i64,
    pub(super) targets: BTreeMap<TargetKey, Target>,
    pub(super) deliveries: BTreeMap<DeliveryId, Delivery>,
    pub(super) settling: BTreeMap<SettleId, Settling>,
    pub(super) next_settle: SettleId,
    /// Messages to hand out again at an instant (their retry's change of invisible time
    /// failed).
    pub(super) local_retries: Vec<LocalRetry>,
    /// Topics whose route was asked for and not answered.
    pub(super) routing: BTreeSet<String>,
    /// Look at the routes again at this instant (a topic had none).
    pub(super) route_retry: Option<Instant>,
    pub(super) out: VecDeque<PopOutput>,
    pub(super) closing: Option<OpId>,
    pub(super) close_steps: usize,
    pub(super) finished: bool,
    pub(super) report: ConsumerCloseReport,
}

/// How long before a delivery's invisible time passes it is renewed: a third of it, at most
/// 10 s, at least 100 ms.
pub(super) fn renew_margin(invisible: Duration) -> Duration {
    (invisible / 3)
        .min(Duration::from_secs(10))
        .max(Duration::from_millis(100))
}

/// Tries of an ack (the first one included).
pub(super) const ACK_TRIES: u8 = 3;

/// The pause before popping again after an empty answer that came long before the poll
/// time.
const QUICK_EMPTY_PAUSE: Duration = Duration::from_secs(1);

impl PopMachine {
    pub(in crate::client) fn new(
        id: ConsumerId,
        config: ConsumerConfig,
        pop: PopConfig,
        subs: BTreeMap<String, Subscription>,
        wall_ms: i64,
    ) -> Self {
        Self {
            id,
            config,
            pop,
            subs,
            sub_version: wall_ms,
            targets: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            settling: BTreeMap::new(),
            next_settle: 0,
            local_retries: Vec::new(),
            routing: BTreeSet::new(),
            route_retry: None,
            out: VecDeque::new(),
            closing: None,
            close_steps: 0,
            finished: false,
            report: ConsumerCloseReport::default(),
        }
    }

    pub(in crate::client) fn poll_output(&mut self) -> Option<PopOutput> {
        self.out.pop_front()
    }

    pub(super) fn event(&mut self, event: Event) {
        self.out.push_back(PopOutput::Event(event));
    }

    pub(super) fn request(
        &mut self,
        env: &PopEnv<'_>,
        addr: String,
        command: RemotingCommand,
        request: PopRequest,
    ) {
        self.out.push_back(PopOutput::Request {
            addr,
            command,
            timeout: env.request_timeout,
            request,
        });
    }

    pub(in crate::client) fn group(&self) -> &str {
        &self.config.group
    }

    pub(in crate::client) fn topics(&self) -> impl Iterator<Item = &String> {
        self.subs.keys()
    }

    pub(in crate::client) fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    pub(in crate::client) fn is_live(&self) -> bool {
        self.closing.is_none()
    }

    pub(in crate::client) fn is_finished(&self) -> bool {
        self.finished
    }

    pub(in crate::client) fn has_delivery(&self, delivery: DeliveryId) -> bool {
        self.deliveries.contains_key(&delivery)
    }

    pub(in crate::client) fn deliveries_in_flight(&self) -> usize {
        self.deliveries.len()
    }

    fn orderly(&self) -> bool {
        self.config.consume_mode == ConsumeMode::Orderly
    }

    pub(in crate::client) fn heartbeat_data(&self) -> Option<ConsumerData> {
        self.closing.is_none().then(|| ConsumerData {
            consume_from_where: self.config.consume_from_where,
            consume_type: ConsumeType::Pop,
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

    /// The earliest instant something of this machine is due.
    pub(in crate::client) fn poll_timeout(&self) -> Option<Instant> {
        let targets = self.targets.values().filter_map(|t| t.retry_at);
        let renewals = self
            .deliveries
            .values()
            .filter(|d| self.pop.auto_renew && d.settled.is_none() && !d.renew_stopped)
            .map(|d| d.renew_at);
        let again = self
            .settling
            .values()
            .filter_map(|s| s.again_at.as_ref().map(|(at, _)| *at));
        let local = self.local_retries.iter().map(|(at, ..)| *at);
        targets
            .chain(renewals)
            .chain(again)
            .chain(local)
            .chain(self.route_retry)
            .min()
    }

    /// Starts (or refreshes): every subscribed topic's targets from the routes; a topic
    /// whose route is not known is looked up.
    pub(in crate::client) fn refresh(&mut self, now: Instant, env: &mut PopEnv<'_>) {
        if self.closing.is_some() || env.stopped {
            return;
        }
        let topics: Vec<String> = self.subs.keys().cloned().collect();
        for topic in topics {
            match env.routes.get(&topic).cloned() {
                Some(route) => self.apply_route(now, env, &topic, &route),
                None => {
                    if self.routing.insert(topic.clone()) {
                        self.out.push_back(PopOutput::Route(topic));
                    }
                }
            }
        }
    }

    /// A route this machine asked for arrived (`None`: there is none yet; looked up again
    /// after the error delay).
    pub(in crate::client) fn handle_route(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        topic: &str,
        route: Option<TopicRouteData>,
    ) {
        self.routing.remove(topic);
        match route {
            Some(route) if self.subs.contains_key(topic) => {
                self.apply_route(now, env, topic, &route)
            }
            Some(_) => {}
            None => {
                let at = now + self.config.delay_after_error;
                self.route_retry = Some(self.route_retry.map_or(at, |r| r.min(at)));
            }
        }
    }

    fn apply_route(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        topic: &str,
        route: &TopicRouteData,
    ) {
        let orderly = self.orderly();
        let keys: BTreeSet<TargetKey> = route
            .queue_datas
            .iter()
            .filter(|q| perm::is_readable(q.perm) && q.read_queue_nums > 0)
            .flat_map(|q| {
                let queues = if orderly {
                    (0..q.read_queue_nums).collect()
                } else {
                    vec![-1]
                };
                queues.into_iter().map(|queue_id| TargetKey {
                    topic: topic.to_owned(),
                    broker: q.broker_name.clone(),
                    queue_id,
                })
            })
            .collect();
        for key in &keys {
            let target = self.targets.entry(key.clone()).or_insert(Target {
                in_flight: false,
                retry_at: None,
                attempt: None,
                sent: None,
                outstanding: 0,
                gone: false,
            });
            target.gone = false;
            self.pop_target(now, env, key);
        }
        for (key, t) in self.targets.iter_mut() {
            if key.topic == topic && !keys.contains(key) {
                t.gone = true;
            }
        }
        self.drop_idle_gone();
    }

    fn drop_idle_gone(&mut self) {
        self.targets
            .retain(|_, t| !(t.gone && !t.in_flight && t.outstanding == 0));
    }

    /// Sends the target's next pop, unless one is in flight, it waits for a retry, it has
    /// too much out, or the machine closes.
    pub(super) fn pop_target(&mut self, now: Instant, env: &mut PopEnv<'_>, key: &TargetKey) {
        if self.closing.is_some() || env.stopped {
            return;
        }
        let orderly = self.orderly();
        let max = self.pop.max_outstanding as usize;
        let Some(t) = self.targets.get_mut(key) else {
            return;
        };
        if t.in_flight || t.gone || t.retry_at.is_some_and(|at| at > now) {
            return;
        }
        if t.outstanding >= max || (orderly && t.outstanding > 0) {
            // Popped again as deliveries settle (orderly: the broker blocks the queue while
            // its batch is out, and would answer at once with nothing).
            return;
        }
        let Some(addr) = env.routes.master_of(&key.broker) else {
            t.retry_at = Some(now + self.config.delay_after_error);
            return;
        };
        let Some(sub) = self.subs.get(&key.topic) else {
            return;
        };
        if orderly && t.attempt.is_none() {
            t.attempt = Some(attempt_id(env.rng));
        }
        t.in_flight = true;
        t.retry_at = None;
        t.sent = Some(now);
        let from_first = matches!(
            self.config.consume_from_where,
            ConsumeFromWhere::FirstOffset
        );
        let command = pop_request(&PopSpec {
            group: &self.config.group,
            subscription: sub,
            broker_name: &key.broker,
            queue_id: key.queue_id,
            config: &self.pop,
            attempt_id: t.attempt.as_deref(),
            from_first,
            born_ms: env.wall.now_millis(),
        });
        // The broker may hold the pop for its poll time: the client waits that long more.
        let timeout = self.pop.poll_time + POP_TIMEOUT_MARGIN;
        self.out.push_back(PopOutput::Request {
            addr,
            command,
            timeout,
            request: PopRequest::Pop(key.clone()),
        });
    }

    /// A pop was answered (or failed).
    pub(super) fn on_pop(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        key: TargetKey,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let orderly = self.orderly();
        let Some(t) = self.targets.get_mut(&key) else {
            return;
        };
        t.in_flight = false;
        let held = t
            .sent
            .take()
            .map(|sent| now.saturating_duration_since(sent));
        let outcome = match &result {
            Ok(response) => {
                // Answered: the broker is done with this attempt.
                t.attempt = None;
                interpret_pop_response(response, &key.topic, &key.broker)
            }
            Err(e) => {
                // No answer: an orderly pop keeps its attempt id, so that if the broker did
                // pop (and block) the queue, the next pop gets the same messages back.
                tracing::debug!(target = ?key, error = %e, "a pop failed");
                t.retry_at = Some(now + self.config.delay_after_error);
                self.drop_idle_gone();
                return;
            }
        };
        match outcome {
            PopOutcome::Found(found) => {
                if self.close_steps > 0 || self.finished {
                    // Too late to hand out: visible again after the invisible time.
                    return;
                }
                t.outstanding += found.len();
                // The client-side re-check of tags (as for pulls; a broker filters by hash
                // code, and some not at all): what does not match is acked, not handed out.
                let (wanted, unwanted): (Vec<Popped>, Vec<Popped>) = match self.subs.get(&key.topic)
                {
                    Some(sub) => found.into_iter().partition(|p| sub.matches(&p.message)),
                    None => (found, Vec::new()),
                };
                if !unwanted.is_empty() {
                    self.ack_unwanted(now, env, &key, unwanted);
                }
                self.deliver(now, env, &key, wanted, orderly);
                self.pop_target(now, env, &key);
            }
            PopOutcome::NotFound => {
                // An empty answer long before the poll time (a blocked orderly queue, a
                // clock the broker finds skewed) is not popped again at once: no busy loop.
                if held.is_some_and(|h| h < self.pop.poll_time / 2) {
                    t.retry_at = Some(now + self.pop.poll_time.min(QUICK_EMPTY_PAUSE));
                } else {
                    self.pop_target(now, env, &key);
                }
            }
            PopOutcome::Error(e) => {
                tracing::debug!(target = ?key, error = %e, "a pop was refused");
                t.retry_at = Some(now + self.config.delay_after_error);
            }
        }
        self.drop_idle_gone();
    }

    /// Hands popped messages out: one delivery per queue (and per `consume_batch_max_size`
    /// messages when concurrent).
    fn deliver(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        key: &TargetKey,
        found: Vec<Popped>,
        orderly: bool,
    ) {
        let mut by_queue: BTreeMap<(bool, i32), Vec<Popped>> = BTreeMap::new();
        for p in found {
            let retry = p.handle.mark != crate::consumer::TopicMark::Normal;
            by_queue
                .entry((retry, p.handle.queue_id))
                .or_default()
                .push(p);
        }
        let chunk = if orderly {
            usize::MAX
        } else {
            (self.config.consume_batch_max_size as usize).max(1)
        };
        for (_, mut popped) in by_queue {
            popped.sort_by_key(|p| p.handle.offset);
            while !popped.is_empty() {
                let rest = popped.split_off(chunk.min(popped.len()));
                let batch = std::mem::replace(&mut popped, rest);
                let until = now + self.pop.invisible_time;
                let (entries, messages) = batch.into_iter().map(|p| Entry::split(p, until)).unzip();
                self.hand_out(now, env, key, entries, messages);
            }
        }
    }

    /// The timers whose time came: pops to retry, deliveries to renew, settle requests to
    /// send again, routes to look up again.
    pub(in crate::client) fn handle_timeout(&mut self, now: Instant, env: &mut PopEnv<'_>) {
        if env.stopped {
            return;
        }
        if self.route_retry.is_some_and(|at| at <= now) {
            self.route_retry = None;
            self.refresh(now, env);
        }
        let due: Vec<TargetKey> = self
            .targets
            .iter()
            .filter(|(_, t)| t.retry_at.is_some_and(|at| at <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(t) = self.targets.get_mut(&key) {
                t.retry_at = None;
            }
            self.pop_target(now, env, &key);
        }
        self.renew_due(now, env);
        self.settle_again_due(now, env);
        self.redeliver_due(now, env);
    }

    /// A broker connection is back: targets waiting on an error delay of it pop now.
    pub(in crate::client) fn broker_back(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        addr: &str,
    ) {
        let keys: Vec<TargetKey> = self
            .targets
            .iter()
            .filter(|(k, t)| {
                t.retry_at.is_some() && env.routes.master_of(&k.broker).as_deref() == Some(addr)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(t) = self.targets.get_mut(&key) {
                t.retry_at = None;
            }
            self.pop_target(now, env, &key);
        }
    }

    /// A request of this machine ended.
    pub(in crate::client) fn handle_response(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        request: PopRequest,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        match request {
            PopRequest::Pop(key) => self.on_pop(now, env, key, result),
            PopRequest::Ack(settle, i) | PopRequest::Retry(settle, i) => {
                self.on_settled(now, env, settle, i, result)
            }
            PopRequest::Renew(delivery, i) => self.on_renewed(now, env, delivery, i, result),
            PopRequest::CloseStep => self.on_close_step(),
        }
    }

    /// Drops every timer: the client is closed.
    pub(in crate::client) fn stop_timers(&mut self) {
        for t in self.targets.values_mut() {
            t.retry_at = None;
        }
        for s in self.settling.values_mut() {
            s.again_at = None;
        }
        self.route_retry = None;
        self.pop.auto_renew = false;
    }
}

/// A fresh attempt id (hex of 128 random bits, UUID-shaped).
fn attempt_id(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}
