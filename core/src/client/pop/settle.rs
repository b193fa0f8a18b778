//! Settling POP deliveries: acks, retries by a change of invisible time, renewals of
//! deliveries still out, and the local retry of a message whose change was refused.

use std::time::{Duration, Instant};

use super::super::ids::DeliveryId;
use super::super::misuse::Misuse;
use super::machine::{
    renew_margin, Delivery, Entry, PopEnv, PopMachine, PopRequest, Settle, SettleId, Settling,
    TargetKey, ACK_TRIES,
};
use crate::client::consumer::ConsumeOutcome;
use crate::codec::RemotingCommand;
use crate::consumer::{
    ack_request, ack_succeeded, change_invisible_request, changed_handle, retry_delay, ConsumeMode,
    Popped,
};
use crate::message::MessageExt;
use crate::remoting::InvokeError;

impl PopMachine {
    /// The user settled `delivery`: Success acks its messages; ReconsumeLater and
    /// SuspendCurrentQueue make them visible again after the retry delay; Abandon leaves
    /// them to come back after their invisible time.
    pub(in crate::client) fn ack(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        delivery: DeliveryId,
        outcome: ConsumeOutcome,
    ) -> Result<(), Misuse> {
        let Some(d) = self.deliveries.get_mut(&delivery) else {
            return Err(Misuse::UnknownDelivery(delivery));
        };
        if d.settled.is_some() {
            return Err(Misuse::UnknownDelivery(delivery));
        }
        let orderly = self.config.consume_mode == ConsumeMode::Orderly;
        let suspend = self.config.suspend_current_queue_time;
        let how = match outcome {
            ConsumeOutcome::Success => Some(Settle::Ack),
            ConsumeOutcome::ReconsumeLater { .. } if orderly => Some(Settle::Retry(suspend)),
            ConsumeOutcome::ReconsumeLater { delay_level } => {
                let times = d.entries.iter().map(|e| e.reconsume_times).max();
                Some(Settle::Retry(retry_delay(delay_level, times.unwrap_or(0))))
            }
            ConsumeOutcome::SuspendCurrentQueue(pause) => {
                Some(Settle::Retry(pause.unwrap_or(suspend)))
            }
            ConsumeOutcome::Abandon => None,
        };
        let Some(how) = how else {
            let d = self.deliveries.remove(&delivery).expect("checked above");
            self.report.abandoned_deliveries += 1;
            self.release(now, env, &d.target.clone(), d.entries.len());
            self.maybe_finish_close(now, env);
            return Ok(());
        };
        d.settled = Some(how);
        if !d.entries.iter().any(|e| e.renewing) {
            self.start_settle(now, env, delivery);
        }
        Ok(())
    }

    /// Acks popped messages the subscription does not want, without handing them out.
    pub(super) fn ack_unwanted(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        target: &TargetKey,
        popped: Vec<Popped>,
    ) {
        let until = now + self.pop.invisible_time;
        let (entries, messages) = popped.into_iter().map(|p| Entry::split(p, until)).unzip();
        self.begin_settle(now, env, target.clone(), Settle::Ack, entries, messages);
    }

    /// Sends the acks or changes of a settled delivery (once no renewal of it is in flight).
    fn start_settle(&mut self, now: Instant, env: &mut PopEnv<'_>, delivery: DeliveryId) {
        let Some(d) = self.deliveries.remove(&delivery) else {
            return;
        };
        let Some(how) = d.settled else {
            self.deliveries.insert(delivery, d);
            return;
        };
        self.begin_settle(now, env, d.target, how, d.entries, d.messages);
    }

    /// Sends the acks or changes of `entries` and tracks them until every one is answered.
    fn begin_settle(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        target: TargetKey,
        how: Settle,
        entries: Vec<Entry>,
        messages: Vec<MessageExt>,
    ) {
        self.next_settle += 1;
        let id = self.next_settle;
        let count = entries.len();
        self.settling.insert(
            id,
            Settling {
                target,
                how,
                entries,
                messages,
                waiting: 0,
                tries: vec![ACK_TRIES; count],
                failed: Vec::new(),
                again_at: None,
            },
        );
        self.send_settle(now, env, id, (0..count).collect());
    }

    fn send_settle(&mut self, now: Instant, env: &mut PopEnv<'_>, id: SettleId, which: Vec<usize>) {
        let group = self.config.group.clone();
        let Some(s) = self.settling.get_mut(&id) else {
            return;
        };
        let mut requests = Vec::new();
        for i in which {
            let Some(entry) = s.entries.get(i) else {
                continue;
            };
            let topic = s.target.topic.clone();
            let (command, request) = match s.how {
                Settle::Ack => (
                    ack_request(&group, &topic, &entry.handle),
                    PopRequest::Ack(id, i),
                ),
                Settle::Retry(after) => (
                    change_invisible_request(&group, &topic, &entry.handle, after),
                    PopRequest::Retry(id, i),
                ),
            };
            s.tries[i] = s.tries[i].saturating_sub(1);
            s.waiting += 1;
            requests.push((entry.handle.broker_name.clone(), command, request));
        }
        for (broker, command, request) in requests {
            match env.routes.master_of(&broker) {
                Some(addr) => self.request(env, addr, command, request),
                None => {
                    let result = Err(InvokeError::ConnectionClosed { addr: broker });
                    match request {
                        PopRequest::Ack(id, i) | PopRequest::Retry(id, i) => {
                            self.on_settled(now, env, id, i, result)
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// An ack or retry change of a settle ended. A failed ack is sent again (a few times,
    /// after the error delay); a failed change is replaced by handing the message out again
    /// here after its retry delay (its old handle stays valid: the broker did not take it).
    pub(super) fn on_settled(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        id: SettleId,
        i: usize,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let delay = self.config.delay_after_error;
        let Some(s) = self.settling.get_mut(&id) else {
            return;
        };
        s.waiting = s.waiting.saturating_sub(1);
        let ok = match (&result, s.how) {
            (Ok(r), Settle::Ack) => ack_succeeded(r),
            (Ok(r), Settle::Retry(_)) => changed_handle(r, &s.entries[i].handle).is_ok(),
            (Err(_), _) => false,
        };
        if !ok {
            match s.how {
                Settle::Ack if s.tries[i] > 0 => {
                    let at = now + delay;
                    match &mut s.again_at {
                        Some((_, list)) => list.push(i),
                        None => s.again_at = Some((at, vec![i])),
                    }
                }
                Settle::Ack => {
                    tracing::warn!(handle = %s.entries[i].handle, "an ack failed: the message will be consumed again");
                }
                Settle::Retry(_) => s.failed.push(i),
            }
        }
        self.finish_settle(now, env, id);
    }

    /// Sends again the acks whose error delay passed.
    pub(super) fn settle_again_due(&mut self, now: Instant, env: &mut PopEnv<'_>) {
        let due: Vec<(SettleId, Vec<usize>)> = self
            .settling
            .iter_mut()
            .filter(|(_, s)| s.again_at.as_ref().is_some_and(|(at, _)| *at <= now))
            .filter_map(|(id, s)| s.again_at.take().map(|(_, list)| (*id, list)))
            .collect();
        for (id, which) in due {
            self.send_settle(now, env, id, which);
        }
    }

    /// A settle with nothing in flight nor waiting ends: its messages no longer count as
    /// out, and those whose retry change failed are handed out again after the delay.
    fn finish_settle(&mut self, now: Instant, env: &mut PopEnv<'_>, id: SettleId) {
        let done = self
            .settling
            .get(&id)
            .is_some_and(|s| s.waiting == 0 && s.again_at.is_none());
        if !done {
            return;
        }
        let s = self.settling.remove(&id).expect("checked above");
        let after = match s.how {
            Settle::Retry(after) => after,
            Settle::Ack => Duration::ZERO,
        };
        let mut again = Vec::new();
        let mut messages = Vec::new();
        // Left to the broker, which hands them out again after their invisible time: what a
        // closing consumer could not hand out, and an orderly batch (a copy of some of its
        // messages from here would come ahead of the others, which the broker gives back
        // in order).
        let leave = self.closing.is_some() || self.config.consume_mode == ConsumeMode::Orderly;
        for i in s.failed {
            let mut entry = s.entries[i].clone();
            // Only while its handle keeps it invisible: after that the broker hands it out
            // again itself, and a copy from here too would multiply it.
            if leave || now + after >= entry.invisible_until {
                continue;
            }
            entry.reconsume_times += 1;
            let mut message = s.messages[i].clone();
            message.reconsume_times = entry.reconsume_times;
            again.push(entry);
            messages.push(message);
        }
        let released = s.entries.len() - again.len();
        let target = s.target;
        if !again.is_empty() {
            tracing::debug!(
                messages = again.len(),
                "a retry's change of invisible time failed: handing the messages out again here"
            );
            self.local_retries
                .push((now + after, target.clone(), again, messages));
        }
        self.release(now, env, &target, released);
        self.maybe_finish_close(now, env);
    }

    /// Messages whose local retry delay passed are handed out again (same handles).
    pub(super) fn redeliver_due(&mut self, now: Instant, env: &mut PopEnv<'_>) {
        if self.close_steps > 0 || self.finished {
            return;
        }
        let (due, keep) = std::mem::take(&mut self.local_retries)
            .into_iter()
            .partition(|(at, ..)| *at <= now);
        self.local_retries = keep;
        for (_, target, entries, messages) in due {
            self.hand_out(now, env, &target, entries, messages);
        }
    }

    /// `count` messages of `target` are no longer out: it may pop again.
    pub(super) fn release(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        target: &TargetKey,
        count: usize,
    ) {
        if let Some(t) = self.targets.get_mut(target) {
            t.outstanding = t.outstanding.saturating_sub(count);
        }
        self.pop_target(now, env, target);
    }

    /// Extends the invisible time of deliveries still out whose renewal is due (until the
    /// consume timeout: after it the messages are left to come back).
    pub(super) fn renew_due(&mut self, now: Instant, env: &mut PopEnv<'_>) {
        if !self.pop.auto_renew {
            return;
        }
        let invisible = self.pop.invisible_time;
        let next = now + invisible.saturating_sub(renew_margin(invisible));
        let limit = self.config.consume_timeout;
        let group = self.config.group.clone();
        let mut requests = Vec::new();
        for (id, d) in self.deliveries.iter_mut() {
            if d.settled.is_some() || d.renew_stopped || d.renew_at > now {
                continue;
            }
            if now.saturating_duration_since(d.delivered) >= limit {
                // Given up: its messages come back after their invisible time.
                d.renew_stopped = true;
                continue;
            }
            d.renew_at = next;
            for (i, e) in d.entries.iter_mut().enumerate() {
                if e.renewing {
                    continue;
                }
                e.renewing = true;
                let command =
                    change_invisible_request(&group, &d.target.topic, &e.handle, invisible);
                requests.push((
                    e.handle.broker_name.clone(),
                    command,
                    PopRequest::Renew(*id, i),
                ));
            }
        }
        for (broker, command, request) in requests {
            match env.routes.master_of(&broker) {
                Some(addr) => self.request(env, addr, command, request),
                None => {
                    if let PopRequest::Renew(id, i) = request {
                        let failed = Err(InvokeError::ConnectionClosed { addr: broker });
                        self.on_renewed(now, env, id, i, failed);
                    }
                }
            }
        }
    }

    /// A renewal ended: a new handle replaces the old one. A settle that waited for it
    /// starts now.
    pub(super) fn on_renewed(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        delivery: DeliveryId,
        i: usize,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let Some(d) = self.deliveries.get_mut(&delivery) else {
            return;
        };
        let Some(e) = d.entries.get_mut(i) else {
            return;
        };
        e.renewing = false;
        match result.map(|r| changed_handle(&r, &e.handle)) {
            Ok(Ok(handle)) => {
                e.handle = handle;
                e.invisible_until = now + self.pop.invisible_time;
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "a renewal was refused"),
            Err(err) => tracing::debug!(error = %err, "a renewal failed"),
        }
        if d.settled.is_some() && !d.entries.iter().any(|e| e.renewing) {
            self.start_settle(now, env, delivery);
        }
    }

    /// Hands messages out as one delivery.
    pub(super) fn hand_out(
        &mut self,
        now: Instant,
        env: &mut PopEnv<'_>,
        target: &TargetKey,
        entries: Vec<Entry>,
        messages: Vec<MessageExt>,
    ) {
        let Some(queue_id) = entries.first().map(|e| e.handle.queue_id) else {
            return;
        };
        let margin = renew_margin(self.pop.invisible_time);
        let renew_at = entries
            .iter()
            .map(|e| e.invisible_until)
            .min()
            .map_or(now, |until| until.checked_sub(margin).unwrap_or(now))
            .max(now);
        *env.next_delivery += 1;
        let delivery = DeliveryId(*env.next_delivery);
        let queue = crate::body::MessageQueue {
            topic: target.topic.clone(),
            broker_name: target.broker.clone(),
            queue_id,
        };
        self.deliveries.insert(
            delivery,
            Delivery {
                target: target.clone(),
                entries,
                delivered: now,
                renew_at,
                settled: None,
                messages: messages.clone(),
                renew_stopped: false,
            },
        );
        self.event(super::super::Event::Deliver {
            consumer: self.id,
            delivery,
            queue,
            messages,
        });
    }
}
