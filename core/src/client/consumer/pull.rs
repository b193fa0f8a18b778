//! The pull loop per queue (flow control, long polls, the commit offset a pull carries), the
//! machine's timers, and handing cached messages out as deliveries.

use std::time::{Duration, Instant};

use super::super::ids::DeliveryId;
use super::super::timer::{Timers, SLACK};
use super::super::Event;
use super::machine::{master_of, ConsumerMachine, Delivery, Env, Request, MAX_OUTSTANDING};
use crate::body::MessageQueue;
use crate::codec::RemotingCommand;
use crate::consumer::{
    interpret_pull_response, pull_request, PullDecision, PullOutcome, PullSpec, QueueState,
};
use crate::remoting::InvokeError;

impl ConsumerMachine {
    /// Runs the timers whose time has come: scheduled pulls and start-offset retries, route
    /// lookups to retry, ended orderly suspensions and local retries.
    pub(in crate::client) fn handle_timeout(&mut self, now: Instant, env: &mut Env<'_>) {
        while let Some((at, mq)) = self.pull_timers.first().cloned() {
            if at > now {
                break;
            }
            self.pull_timers.pop_first();
            let starting = self.queues.get(&mq).is_some_and(|s| s.start.is_some());
            if starting {
                self.advance_start(now, env, &mq);
            } else {
                self.pull(now, env, &mq);
            }
        }
        while let Some((at, topic)) = self.route_retries.first().cloned() {
            if at > now {
                break;
            }
            self.route_retries.pop_first();
            if self.closing.is_none() {
                self.lookup_route(&topic);
            }
        }
    }

    /// After [`ConsumerMachine::handle_timeout`] (and the client's re-registrations): orderly
    /// queues whose suspension ended and local retries whose time came are delivered.
    pub(in crate::client) fn handle_timeout_deliveries(&mut self, now: Instant, env: &mut Env<'_>) {
        for slot in self.queues.values_mut() {
            slot.pq.end_suspension(now);
        }
        self.deliver_ready(now, env);
    }

    /// Broker `addr` answered again after a loss: pulling queues of it waiting out an error
    /// delay pull now. Queues still looking up their start offset keep their wait (a queue
    /// taken over waits out its hand-over grace).
    pub(in crate::client) fn broker_back(&mut self, now: Instant, env: &mut Env<'_>, addr: &str) {
        if self.closing.is_some() {
            return;
        }
        let waiting: Vec<MessageQueue> = self
            .pull_timers
            .iter()
            .filter(|(at, mq)| {
                *at > now
                    && self.queues.get(mq).is_some_and(|s| s.start.is_none())
                    && master_of(env, &mq.broker_name).as_deref() == Some(addr)
            })
            .map(|(_, mq)| mq.clone())
            .collect();
        for mq in waiting {
            self.cancel_pulls(&mq);
            self.pull(now, env, &mq);
        }
    }

    fn pull(&mut self, now: Instant, env: &mut Env<'_>, mq: &MessageQueue) {
        let Some(slot) = self.queues.get(mq) else {
            return;
        };
        if slot.pull_in_flight || self.closing.is_some() {
            return;
        }
        if self.paused.contains(mq) {
            let delay = self.config.delay_when_paused;
            return self.schedule_pull(now, env, mq, delay);
        }
        match self.flow.should_pull(&slot.pq) {
            PullDecision::Now => {}
            PullDecision::After(d) => return self.schedule_pull(now, env, mq, d),
            PullDecision::Stop => return,
        }
        let delay = self.config.delay_after_error;
        if self.orderly() && !self.locks.is_locked(mq, now) {
            // Not ours yet (another client may still hold it): ask for the lock again and
            // look back later (Java `pullMessageLater` + `tryLockLaterAndReconsume`).
            self.lock_queue(env, mq);
            return self.schedule_pull(now, env, mq, delay);
        }
        let Some(sub) = self.subs.get(&mq.topic) else {
            return;
        };
        let Some((addr, to_slave)) = broker_addr_for(env, mq, slot.broker_id) else {
            return self.schedule_pull(now, env, mq, delay);
        };
        let clustering = self.clustering();
        let commit = self
            .offsets
            .get(mq)
            .filter(|o| clustering && *o > 0 && slot.started_at.is_none_or(|s| *o > s))
            .filter(|_| !self.doubt.contains_key(&mq.topic));
        let spec = PullSpec {
            group: &self.config.group,
            queue: mq,
            offset: slot.pq.next_pull_offset(),
            subscription: sub,
            sub_version: self.sub_version,
            commit_offset: commit,
            to_slave,
            post_subscription: true,
            batch_size: self.config.pull_batch_size,
            max_bytes: Some(self.config.pull_batch_size_in_bytes),
            suspend: Some(long_poll_hold(now, self.config.suspend_timeout, env.jobs)),
            lite: false,
        };
        let span = tracing::debug_span!(
            "rocketwire.pull",
            group = %self.config.group,
            topic = %mq.topic,
            broker = %mq.broker_name,
            queue = mq.queue_id,
            offset = spec.offset,
            result = tracing::field::Empty,
            messages = tracing::field::Empty,
        );
        let command = pull_request(&spec);
        let timeout = self.config.pull_timeout;
        let Some(slot) = self.queues.get_mut(mq) else {
            return;
        };
        slot.pull_in_flight = true;
        slot.pull_span = span.clone();
        slot.pull_sent = Some(now);
        let epoch = slot.epoch;
        let request = Request::Pull(mq.clone(), epoch);
        self.request_in(addr, command, timeout, request, span);
    }

    pub(super) fn on_pull_result(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        mq: &MessageQueue,
        epoch: u64,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let Some(slot) = self.queues.get_mut(mq) else {
            return;
        };
        if slot.epoch != epoch {
            // Answered for a position the user has since moved away from.
            return;
        }
        slot.pull_in_flight = false;
        let span = std::mem::replace(&mut slot.pull_span, tracing::Span::none());
        let _in = span.enter();
        let rt = slot
            .pull_sent
            .take()
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        if slot.pq.state() != QueueState::Pulling {
            return;
        }
        let Some(sub) = self.subs.get(&mq.topic) else {
            return;
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                span.record("result", tracing::field::display(&e));
                self.stats.pull_failed();
                // Connection lost or broker restarting: re-arm this queue's pull.
                let delay = self.config.delay_after_error;
                return self.schedule_pull(now, env, mq, delay);
            }
        };
        let outcome = interpret_pull_response(&response, &self.config.group, sub, &self.config);
        record_pull(&span, &outcome);
        match &outcome {
            PullOutcome::Found { messages, .. } => {
                self.stats.pull_found(now, &mq.topic, rt, messages.len())
            }
            PullOutcome::Error { .. } => self.stats.pull_failed(),
            _ => self.stats.pull_empty(),
        }
        let next_pull = match outcome {
            PullOutcome::Found {
                messages,
                next_offset,
                max_offset,
                suggest_broker,
                ..
            } => {
                slot.broker_id = suggest_broker;
                slot.broker_max = Some(max_offset);
                if let Ok(change) = slot.pq.on_pulled(messages, next_offset, now) {
                    self.flow.on_cached(change);
                }
                self.update_committable(mq);
                self.config.pull_interval
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
                // Nothing (left) to read there: the queue ends at least at `next_offset`.
                slot.broker_max = Some(slot.broker_max.map_or(next_offset, |m| m.max(next_offset)));
                let _ = slot.pq.on_pulled(Vec::new(), next_offset, now);
                self.update_committable(mq);
                Duration::ZERO
            }
            PullOutcome::OffsetIllegal { next_offset } => {
                tracing::warn!(queue = %mq, next_offset, "pull offset illegal; moving to the broker's offset");
                if let Ok(change) = slot.pq.seek(next_offset) {
                    self.flow.on_freed(change);
                }
                self.offsets.update(mq, next_offset, false);
                Duration::ZERO
            }
            PullOutcome::Error { error, retry_after } => {
                tracing::debug!(queue = %mq, %error, "pull failed");
                retry_after
            }
        };
        self.schedule_pull(now, env, mq, next_pull);
        self.deliver_ready(now, env);
    }

    /// Hands ready messages out as deliveries, within the consumer's limits.
    pub(super) fn deliver_ready(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.closing.is_some() {
            return;
        }
        let batch = self.config.consume_batch_max_size.max(1) as usize;
        let orderly = self.orderly();
        let mut out = Vec::new();
        for (mq, slot) in self.queues.iter_mut() {
            if self.paused.contains(mq) {
                continue;
            }
            if orderly {
                if slot.batch_out || slot.release_pending || !self.locks.is_locked(mq, now) {
                    continue;
                }
                let messages = slot.pq.take_batch(batch, now);
                if !messages.is_empty() {
                    slot.batch_out = true;
                    out.push((mq.clone(), messages));
                }
                continue;
            }
            while self.outstanding + out.len() < MAX_OUTSTANDING {
                let messages = slot.pq.take_ready(batch, now);
                if messages.is_empty() {
                    break;
                }
                out.push((mq.clone(), messages));
            }
        }
        self.outstanding += out.len();
        for (mq, mut messages) in out {
            for m in &mut messages {
                crate::consumer::reset_retry_topic(m, &self.config.group);
            }
            let delivery = DeliveryId(*env.next_delivery);
            *env.next_delivery += 1;
            self.deliveries.insert(
                delivery,
                Delivery {
                    mq: mq.clone(),
                    messages: messages.clone(),
                    started: now,
                },
            );
            self.event(Event::Deliver {
                consumer: self.id,
                delivery,
                queue: mq,
                messages,
            });
        }
    }
}

/// How long the broker may hold a pull: until [`HOLD_LEAD`] before the latest periodic job
/// of the client due in the second half of `max`, else `max`. An idle consumer's long polls
/// are then answered just before the client's jobs (the 20 s rebalance grid), which run in
/// the same wake-up ([`SLACK`]), not in wake-ups of their own.
fn long_poll_hold(now: Instant, max: Duration, jobs: &Timers) -> Duration {
    // Never under half of `max`: a hold of (nearly) nothing would have a short `max` pulled
    // again and again until the job's time.
    jobs.latest_due_within(now + max / 2, now + max)
        .map_or(max, |at| {
            at.saturating_duration_since(now + HOLD_LEAD).max(max / 2)
        })
}

/// How long before a job a held pull is answered: less than [`SLACK`], so the job runs when
/// the answer comes, with room for the broker to answer a little late.
const HOLD_LEAD: Duration = Duration::from_millis(SLACK.as_millis() as u64 / 2);

/// The address to pull `mq` from: the suggested broker id if known, else the master; whether
/// it is a slave.
fn broker_addr_for(env: &Env<'_>, mq: &MessageQueue, broker_id: i64) -> Option<(String, bool)> {
    let route = env.routes.get(&mq.topic)?;
    let found = route.find_broker_address_in_subscribe(&mq.broker_name, broker_id, false)?;
    Some((found.broker_addr, found.slave))
}

/// The outcome of a pull on its `rocketwire.pull` span.
fn record_pull(span: &tracing::Span, outcome: &PullOutcome) {
    let result = match outcome {
        PullOutcome::Found { messages, .. } => {
            span.record("messages", messages.len());
            "found"
        }
        PullOutcome::NoNewMsg { .. } => "no_new_msg",
        PullOutcome::NoMatched { .. } => "no_matched_msg",
        PullOutcome::OffsetIllegal { .. } => "offset_illegal",
        PullOutcome::Error { .. } => "error",
    };
    span.record("result", result);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::timer::Timer;

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn a_long_poll_ends_just_before_the_latest_job_in_its_second_half() {
        let t0 = Instant::now();
        let (s, ms) = (Duration::from_secs, Duration::from_millis);
        let max = s(20);
        let mut jobs = Timers::new(t0);
        // Nothing due: the whole hold.
        assert_eq!(long_poll_hold(t0, max, &jobs), max);
        jobs.arm_every(Timer::Rebalance, t0, s(20));
        jobs.arm_every(Timer::Heartbeat, t0, s(30));
        // Due at 20 (rebalance) and 30 (heartbeat); answered a little before.
        assert!(HOLD_LEAD > Duration::ZERO && HOLD_LEAD < SLACK);
        let hold = |from: Duration, max: Duration| long_poll_hold(t0 + from, max, &jobs);
        assert_eq!(hold(ms(1_500), max), s(20) - ms(1_500) - HOLD_LEAD);
        assert_eq!(hold(s(5), max), s(15) - HOLD_LEAD);
        // Both in range: the later one.
        assert_eq!(hold(s(10) + ms(1), max), s(20) - ms(1) - HOLD_LEAD);
        // 20 is past a 15 s hold from 2: the whole hold.
        assert_eq!(hold(s(2), s(15)), s(15));
        // From 12, the heartbeat at 30 ends the hold.
        assert_eq!(hold(s(12), max), s(18) - HOLD_LEAD);
        // From 21, both are due before the hold's second half: the whole hold.
        assert_eq!(hold(s(21), max), max);
        // A short longest hold: never under its half, however close the job.
        assert_eq!(hold(s(20) - ms(30), ms(40)), ms(20));
    }
}
