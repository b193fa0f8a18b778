//! Rebalance: which queues a consumer holds. Routes, the group's consumer list gathered from
//! every broker of a route, allocation, taking and releasing queues, and membership doubt.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::identity::Asker;
use super::machine::{
    master_of, ConsumerMachine, ConsumerOutput, Doubt, Env, ListRound, Request, Slot,
};
use crate::body::{
    ConsumerConnection, GetConsumerListByGroupResponseBody, MessageModel, MessageQueue,
    TopicRouteData,
};
use crate::client::Event;
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::consumer::{unlock_request, QueueState, StartOffset};
use crate::header::{
    self, GetConsumerConnectionListRequestHeader, GetConsumerListByGroupRequestHeader,
};
use crate::remoting::InvokeError;

/// How soon a subscribed topic without a route is looked up again.
const ROUTE_RETRY: Duration = Duration::from_secs(3);

/// How soon a consumer list that failed while membership is in doubt is asked for again.
const LIST_RETRY: Duration = Duration::from_millis(500);

/// A queue released within this long of the membership change that took it is persisted on
/// release: its new owner waits [`HANDOVER_GRACE`] before reading the offset, so the write
/// lands first. Released later, the new owner may already be consuming it and our offset
/// could overwrite a later one: it is not written (the new owner may consume a few messages
/// again; none is lost).
pub(super) const RELEASE_PERSIST_WINDOW: Duration = Duration::from_millis(500);

/// How long a consumer waits before reading the stored offset of a queue it takes over.
const HANDOVER_GRACE: Duration = Duration::from_millis(1000);

impl ConsumerMachine {
    /// Rebalances every subscribed topic now (the periodic round, a notification, a new
    /// subscription). A new periodic round also allows each topic one quick route retry again.
    pub(in crate::client) fn rebalance(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.closing.is_some() {
            return;
        }
        if let Some(assigned) = self.assigned.clone() {
            let topics: BTreeSet<String> = assigned.iter().map(|q| q.topic.clone()).collect();
            for topic in topics {
                let mine = assigned
                    .iter()
                    .filter(|q| q.topic == topic)
                    .cloned()
                    .collect();
                self.apply_allocation(now, env, &topic, mine, false);
            }
            return;
        }
        let topics: Vec<String> = self.subs.keys().cloned().collect();
        for topic in topics {
            match env.routes.get(&topic).cloned() {
                Some(route) => self.rebalance_topic(now, env, &topic, &route),
                None => self.lookup_route(&topic),
            }
        }
    }

    /// The periodic rebalance round: every topic may have its quick route retry again.
    pub(in crate::client) fn rebalance_round(&mut self, now: Instant, env: &mut Env<'_>) {
        self.route_retried.clear();
        self.rebalance(now, env);
    }

    /// A route this machine asked for arrived (`None`: there is none).
    pub(in crate::client) fn handle_route(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        topic: &str,
        route: Option<TopicRouteData>,
    ) {
        let Some(route) = route else {
            // The topic (or the group's retry topic) may not exist yet: look again soon rather
            // than at the next rebalance.
            // One quick retry per rebalance round; after that the next rebalance looks again.
            tracing::debug!(topic, "no route for a subscribed topic yet");
            if !env.stopped && self.route_retried.insert(topic.to_string()) {
                self.route_retries
                    .insert((now + ROUTE_RETRY, topic.to_string()));
            }
            return;
        };
        if self.assigned.is_none() {
            return self.rebalance_topic(now, env, topic, &route);
        }
        // Assigned queues need no rebalance; start those that waited for the route.
        let waiting: Vec<MessageQueue> = self
            .queues
            .iter()
            .filter(|(mq, s)| mq.topic == topic && s.start.is_some() && !s.pull_in_flight)
            .map(|(mq, _)| mq.clone())
            .collect();
        for mq in waiting {
            self.cancel_pulls(&mq);
            self.advance_start(now, env, &mq);
        }
    }

    fn rebalance_topic(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        topic: &str,
        route: &TopicRouteData,
    ) {
        let all = route.subscribe_queues(topic);
        if self.config.message_model == MessageModel::Broadcasting {
            return self.apply_allocation(now, env, topic, all, false);
        }
        let random = env.rng.next_u64();
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
        if let Some(r) = self.list_rounds.get_mut(topic) {
            // A round is under way: a new one follows it (unless this one was asked this very
            // instant, which makes it as fresh).
            r.rerun |= r.asked != now;
            return;
        }
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: self.config.group.clone(),
        };
        self.last_round += 1;
        let round = self.last_round;
        self.list_rounds.insert(
            topic.to_string(),
            ListRound {
                round,
                asked: now,
                waiting: addrs.len(),
                ids: BTreeSet::new(),
                answered: false,
                rerun: false,
            },
        );
        let first = addrs.first().cloned();
        for addr in addrs {
            let command = header::request(RequestCode::GetConsumerListByGroup, &header);
            self.request(
                env,
                addr,
                command,
                Request::ConsumerList(topic.to_string(), round),
            );
        }
        // With each round, whether another member shares our client id.
        if let Some(addr) = first {
            self.check_identity(env, &addr);
        }
    }

    /// One broker's consumer list (or its failure) for a rebalance round of `topic`; once
    /// every broker answered, the union of the lists is allocated.
    pub(super) fn on_consumer_list(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        topic: String,
        round: u64,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let list = result.ok().and_then(|r| {
            (r.response_code() == ResponseCode::Success)
                .then(|| GetConsumerListByGroupResponseBody::decode(&r.body).ok())
                .flatten()
        });
        let Some(r) = self.list_rounds.get_mut(&topic) else {
            return;
        };
        if r.round != round {
            return;
        }
        r.waiting = r.waiting.saturating_sub(1);
        if let Some(list) = list {
            r.ids.extend(list.consumer_id_list);
            r.answered = true;
        }
        if r.waiting > 0 {
            return;
        }
        let Some(r) = self.list_rounds.remove(&topic) else {
            return;
        };
        if r.rerun {
            if let Some(route) = env.routes.get(&topic).cloned() {
                self.rebalance_topic(now, env, &topic, &route);
            }
        }
        if !r.answered {
            tracing::debug!(%topic, "consumer list unavailable; keeping the assignment");
            // Membership changed and we do not know how: ask again soon rather than at the
            // next periodic rebalance.
            if self.doubt.contains_key(&topic) {
                self.list_again_soon(now, env, topic);
            }
            return;
        }
        let Some(route) = env.routes.get(&topic).cloned() else {
            return;
        };
        if self.assigned.is_some() {
            // Assigned since this rebalance began: the user's choice stands.
            return;
        }
        let all = route.subscribe_queues(&topic);
        let ids: Vec<String> = r.ids.into_iter().collect();
        match self.config.allocate.allocate(env.client_id, &all, &ids) {
            Ok(mine) => {
                let others = ids.iter().any(|c| c != env.client_id);
                let known = ids.iter().any(|c| c == env.client_id);
                self.apply_allocation(now, env, &topic, mine, others);
                // A change after this round was asked (a member joined while a broker did not
                // answer, say) is not in its lists: the round that follows settles it.
                let doubted = self.doubt.get(&topic).is_some_and(|d| d.last <= r.asked);
                if doubted && known {
                    self.doubt.remove(&topic);
                } else if doubted {
                    // No broker knows us (yet): the rest of the group divides the queues
                    // without us. Stay in doubt and look again once we are registered.
                    self.list_again_soon(now, env, topic);
                }
            }
            Err(e) => tracing::warn!(%topic, error = %e, "allocation failed"),
        }
    }

    /// Asks for the group's consumer list of `topic` again after [`LIST_RETRY`] (through the
    /// route lookup a rebalance starts with).
    fn list_again_soon(&mut self, now: Instant, env: &Env<'_>, topic: String) {
        if env.stopped {
            return;
        }
        self.route_retries.insert((now + LIST_RETRY, topic));
    }

    /// Holds exactly `allocated` of `topic` from now on: queues no longer in it are released,
    /// new ones start (after a hand-over grace when `others` may have held them).
    pub(super) fn apply_allocation(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        topic: &str,
        allocated: Vec<MessageQueue>,
        others: bool,
    ) {
        if self.closing.is_some() {
            return;
        }
        let span = tracing::debug_span!(
            "rocketwire.rebalance",
            group = %self.config.group,
            topic,
            queues = allocated.len(),
            added = tracing::field::Empty,
            removed = tracing::field::Empty,
        )
        .entered();
        let wanted: BTreeSet<MessageQueue> = allocated.into_iter().collect();
        let share: Vec<MessageQueue> = wanted.iter().cloned().collect();
        let current: Vec<MessageQueue> = self
            .queues
            .iter()
            .filter(|(mq, s)| mq.topic == topic && s.pq.state() != QueueState::Released)
            .map(|(mq, _)| mq.clone())
            .collect();
        let mut removed = 0;
        let orderly = self.orderly();
        for mq in current.iter().filter(|mq| !wanted.contains(*mq)) {
            removed += 1;
            if let Some(slot) = self.queues.get_mut(mq).filter(|s| orderly && s.batch_out) {
                // Never hand an orderly queue over while its batch is with the handler: two
                // consumers would consume it at once. Release it when the batch is acked.
                slot.release_pending = true;
                continue;
            }
            self.release_queue(now, env, mq);
        }
        let from = self.config.consume_from_where;
        let ts = self
            .config
            .consume_timestamp_ms
            .unwrap_or_else(|| env.wall_ms() - 30 * 60 * 1000);
        // A queue taken over from another consumer: that consumer persists its offset when it
        // releases the queue, on the same rebalance trigger. Reading the stored offset a moment
        // later makes it far likelier to see that final offset than a stale one. The evidence
        // is per topic: other members, or queues of this topic held now or before (more of
        // them now means someone left them). Queues of another topic say nothing about this
        // one: a fresh group whose retry topic was allocated first must not wait.
        let handover = others || self.queues.keys().any(|mq| mq.topic == topic);
        let mut added = Vec::new();
        for mq in wanted {
            if let Some(slot) = self.queues.get_mut(&mq) {
                slot.release_pending = false;
            }
            let fresh = self
                .queues
                .get(&mq)
                .is_none_or(|s| s.pq.state() == QueueState::Released);
            if !fresh {
                continue;
            }
            self.queues
                .insert(mq.clone(), Slot::new(&mq, StartOffset::new(&mq, from, ts)));
            if orderly {
                self.locks.track(mq.clone());
            }
            added.push(mq);
        }
        span.record("added", added.len());
        span.record("removed", removed);
        let changed = removed > 0 || !added.is_empty();
        if changed {
            self.sub_version = env.wall_ms();
            self.rebalances += 1;
            self.split_topic_thresholds();
        }
        for mq in added {
            if handover && self.clustering() {
                self.schedule_pull(now, env, &mq, HANDOVER_GRACE);
            } else {
                self.advance_start(now, env, &mq);
            }
        }
        if changed {
            self.heartbeat();
            if orderly {
                self.lock_all(env);
            }
            if self.lite {
                self.event(Event::QueuesChanged {
                    consumer: self.id,
                    topic: topic.to_owned(),
                    queues: share,
                });
            }
        }
    }

    /// Java's per-topic pull thresholds, divided among the queues held.
    fn split_topic_thresholds(&mut self) {
        let n = self
            .queues
            .values()
            .filter(|s| s.pq.state() != QueueState::Released)
            .count();
        let Some(n) = u64::try_from(n).ok().filter(|n| *n > 0) else {
            return;
        };
        let count = self.config.pull_threshold_for_topic.map(|t| (t / n).max(1));
        let bytes = self
            .config
            .pull_threshold_size_for_topic
            .map(|t| (t / n).max(1));
        if let (Some(count), Some(bytes)) = (count, bytes) {
            self.flow.set_queue_thresholds(count, bytes);
        }
    }

    /// Lets a queue go: its offset is persisted (unless that could overwrite a newer one), an
    /// orderly queue is unlocked, and the queue never commits again.
    pub(super) fn release_queue(&mut self, now: Instant, env: &mut Env<'_>, mq: &MessageQueue) {
        if !self.queues.contains_key(mq) {
            return;
        }
        // Persist what was consumed, then release: a released queue never commits again. An
        // offset not past the one the queue started from is not written back (see
        // `Slot::started_at`), nor one already written as it is: that second write could only
        // move back an offset the queue's new owner committed since (both members may have
        // held the queue while the brokers' views of the group differed).
        self.update_committable(mq);
        let offset = self.offsets.get(mq);
        let Some(slot) = self.queues.get_mut(mq) else {
            return;
        };
        let offset = offset
            .filter(|o| slot.started_at.is_none_or(|s| *o > s))
            .filter(|o| self.persisted.get(mq) != Some(o));
        if slot.pq.state() == QueueState::Pulling {
            let _ = slot.pq.drain();
        }
        if let Ok(change) = slot.pq.release() {
            self.flow.on_freed(change);
        }
        // An orderly queue is unlocked even when our lock is not (yet) confirmed: a lock
        // request may still be in flight, and the broker would otherwise keep the queue for
        // us for its whole lock lifetime (Java `removeUnnecessaryMessageQueue` unlocks too).
        let was_locked = self.locks.untrack(mq, now) || self.orderly() && self.clustering();
        let late = self
            .doubt
            .get(&mq.topic)
            .is_some_and(|d| now.saturating_duration_since(d.since) > RELEASE_PERSIST_WINDOW);
        if late {
            tracing::debug!(
                ?mq,
                "released long after the membership change; offset not written"
            );
        }
        let write = self.clustering() && !late;
        self.offsets.remove(mq);
        self.persisted.remove(mq);
        self.cancel_pulls(mq);
        if let (true, Some(offset)) = (write, offset) {
            self.persist_offset(env, mq, offset, None);
        }
        if was_locked {
            if let Some(addr) = master_of(env, &mq.broker_name) {
                let set = [mq.clone()].into_iter().collect();
                let command = unlock_request(env.client_id, &self.config.group, set);
                self.oneway(addr, command);
            }
        }
    }

    /// The group's membership changed: until a fresh consumer list is applied, another member
    /// may own some of our queues, so their offsets are not committed (see
    /// [`ConsumerMachine::doubt`]). Only rebalancing clustering consumers; an earlier doubt
    /// keeps its start and moves its latest change to `now`.
    pub(in crate::client) fn doubt_membership(&mut self, now: Instant) {
        if self.assigned.is_some() || !self.clustering() {
            return;
        }
        for topic in self.subs.keys() {
            self.doubt
                .entry(topic.clone())
                .and_modify(|d| d.last = now)
                .or_insert(Doubt {
                    since: now,
                    last: now,
                });
        }
    }
}

impl ConsumerMachine {
    /// Asks `addr` for the group's connections (the client-id check, see [`super::identity`]),
    /// unless a check is under way or this consumer does not share queues (broadcasting,
    /// assigned queues).
    pub(super) fn check_identity(&mut self, env: &mut Env<'_>, addr: &str) {
        let shares_queues = self.closing.is_none()
            && self.assigned.is_none()
            && self.config.message_model != MessageModel::Broadcasting;
        if !shares_queues || !self.identity.start() {
            return;
        }
        let header = GetConsumerConnectionListRequestHeader {
            consumer_group: self.config.group.clone(),
        };
        let command = header::request(RequestCode::GetConsumerConnectionList, &header);
        self.request(
            env,
            addr.to_owned(),
            command,
            Request::Connections(addr.to_owned()),
        );
    }

    /// The group's connections on `addr` (or why there are none).
    pub(super) fn on_connections(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        addr: String,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let connections = result.ok().and_then(|r| {
            (r.response_code() == ResponseCode::Success)
                .then(|| ConsumerConnection::decode(&r.body).ok())
                .flatten()
        });
        let asker = Asker {
            consumer: self.id,
            group: &self.config.group,
            client_id: env.client_id,
        };
        let history = env.conn_history.get(&addr);
        if let Some(collision) = self
            .identity
            .observe(now, &asker, &addr, connections, history)
        {
            self.out
                .push_back(ConsumerOutput::Event(Event::ClientIdCollision(collision)));
        }
    }
}
