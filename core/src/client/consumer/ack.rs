//! Settling deliveries: acks, send-backs to the retry topic (and orderly DLQ send-backs),
//! local retries when the broker refuses one, and the consume timeout.

use std::time::{Duration, Instant};

use super::super::ids::DeliveryId;
use super::super::misuse::Misuse;
use super::machine::{ConsumerMachine, Delivery, Env, OrderlyDlq, Request, SendBacks};
use super::ConsumeOutcome;
use crate::codec::RemotingCommand;
use crate::consumer::{send_back_header, send_back_request, send_back_succeeded, ConsumeMode};
use crate::message::MessageExt;
use crate::remoting::InvokeError;

/// How long a send-back may take.
const SEND_BACK_TIMEOUT: Duration = Duration::from_secs(5);

impl ConsumerMachine {
    /// Settles a delivery with the handler's outcome. [`Misuse::UnknownDelivery`] when it is
    /// not out (already acked, given up by the consume timeout, abandoned at close).
    pub(in crate::client) fn ack(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        delivery: DeliveryId,
        outcome: ConsumeOutcome,
    ) -> Result<(), Misuse> {
        // A delivery being sent back is kept for the send-back's outcome, but it was acked:
        // another ack would settle (and send back) its messages twice.
        if !self.deliveries.contains_key(&delivery) || self.send_backs.contains_key(&delivery) {
            return Err(Misuse::UnknownDelivery(delivery));
        }
        self.settle(now, env, delivery, outcome);
        Ok(())
    }

    fn settle(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        delivery: DeliveryId,
        outcome: ConsumeOutcome,
    ) {
        let Some(d) = self.deliveries.remove(&delivery) else {
            return;
        };
        self.outstanding = self.outstanding.saturating_sub(1);
        if outcome != ConsumeOutcome::Abandon {
            let took = now.saturating_duration_since(d.started);
            let ok = outcome == ConsumeOutcome::Success;
            let count = d.messages.len();
            self.stats.consumed(now, &d.mq.topic, count, took, ok);
            if let Some(slot) = self.queues.get_mut(&d.mq) {
                slot.last_consumed = Some(now);
            }
        }
        if outcome == ConsumeOutcome::Abandon {
            // Unsettled on purpose: the offset stays before these messages.
            self.report.abandoned_deliveries += 1;
            return self.after_progress(now, env);
        }
        if !self.queues.contains_key(&d.mq) {
            return self.after_progress(now, env);
        }
        if self.orderly() {
            return self.settle_orderly(now, env, delivery, d, outcome);
        }
        let offsets: Vec<i64> = d.messages.iter().map(|m| m.queue_offset).collect();
        match outcome {
            ConsumeOutcome::ReconsumeLater { delay_level } if self.clustering() => {
                self.send_back(env, delivery, d, delay_level);
                return self.after_progress(now, env);
            }
            // Success, a suspension (not orderly: consumed), or broadcasting's reconsume
            // (it drops what it could not consume, as Java logs it).
            _ => {
                if let Some(slot) = self.queues.get_mut(&d.mq) {
                    if let Ok(change) = slot.pq.settle(&offsets) {
                        self.flow.on_freed(change);
                    }
                }
            }
        }
        self.update_committable(&d.mq);
        self.after_progress(now, env);
    }

    fn settle_orderly(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        delivery: DeliveryId,
        d: Delivery,
        outcome: ConsumeOutcome,
    ) {
        let suspend = self.config.suspend_current_queue_time;
        let pause = match outcome {
            // Handled by `settle`.
            ConsumeOutcome::Abandon => return,
            ConsumeOutcome::Success => None,
            ConsumeOutcome::ReconsumeLater { .. } => Some(suspend),
            ConsumeOutcome::SuspendCurrentQueue(d) => Some(
                d.unwrap_or(suspend)
                    .clamp(Duration::from_millis(10), Duration::from_secs(30)),
            ),
        };
        // Java `checkReconsumeTimes`: a message that failed its last allowed time goes to the
        // DLQ; the batch stays out until the broker took it.
        let max_reconsume = self.config.effective_max_reconsume_times();
        let exhausted: Vec<MessageExt> = d
            .messages
            .iter()
            .filter(|m| m.reconsume_times >= max_reconsume)
            .cloned()
            .collect();
        if let (Some(pause), true) = (pause, self.clustering() && !exhausted.is_empty()) {
            let total = d.messages.len();
            let to_dlq = Delivery {
                mq: d.mq,
                messages: exhausted,
                started: d.started,
            };
            self.orderly_dlq
                .insert(delivery, OrderlyDlq { pause, total });
            self.send_back(env, delivery, to_dlq, -1);
            return self.after_progress(now, env);
        }
        self.end_orderly_batch(now, env, &d, pause);
    }

    /// An orderly batch is settled: consumed (`pause` is `None`) or suspended for `pause`; a
    /// queue rebalanced away meanwhile is released now.
    fn end_orderly_batch(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        d: &Delivery,
        pause: Option<Duration>,
    ) {
        let mut release_now = false;
        if let Some(slot) = self.queues.get_mut(&d.mq) {
            slot.batch_out = false;
            release_now = slot.release_pending;
            match pause {
                None => {
                    if let Ok(change) = slot.pq.commit_batch() {
                        self.flow.on_freed(change);
                    }
                }
                Some(pause) => slot.pq.suspend_batch(now + pause),
            }
        }
        self.update_committable(&d.mq);
        if release_now {
            self.release_queue(now, env, &d.mq);
        }
        self.after_progress(now, env);
    }

    /// Progress was made (a delivery settled): deliver what is ready, and finish a close that
    /// waited for the user.
    pub(super) fn after_progress(&mut self, now: Instant, env: &mut Env<'_>) {
        self.deliver_ready(now, env);
        if self.closing.is_some() && self.close_steps == 0 {
            self.maybe_finish_close(now, env);
        }
    }

    fn send_back(&mut self, env: &Env<'_>, delivery: DeliveryId, d: Delivery, delay_level: i32) {
        let group = self.config.group.clone();
        let max = self.config.effective_max_reconsume_times();
        let mut waiting = 0;
        for m in &d.messages {
            let header = send_back_header(&group, m, delay_level, max, Some(&d.mq.broker_name));
            let command = send_back_request(&header);
            waiting += 1;
            let store_host = m.store_host.to_string();
            self.request_with(
                env.addr_map.apply(&store_host).to_string(),
                command,
                SEND_BACK_TIMEOUT,
                Request::SendBack(delivery, m.queue_offset),
            );
        }
        self.send_backs.insert(
            delivery,
            SendBacks {
                waiting,
                ..SendBacks::default()
            },
        );
        // Keep the delivery's messages for the outcome of the send-backs.
        self.deliveries.insert(delivery, d);
    }

    pub(super) fn on_send_back_result(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        delivery: DeliveryId,
        offset: i64,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let ok = result.as_ref().is_ok_and(send_back_succeeded);
        let Some(entry) = self.send_backs.get_mut(&delivery) else {
            return;
        };
        entry.waiting = entry.waiting.saturating_sub(1);
        if ok {
            entry.done.push(offset);
        } else {
            entry.failed.push(offset);
        }
        if entry.waiting > 0 {
            return;
        }
        let Some(SendBacks { done, failed, .. }) = self.send_backs.remove(&delivery) else {
            return;
        };
        let Some(d) = self.deliveries.remove(&delivery) else {
            return;
        };
        if let Some(o) = self.orderly_dlq.remove(&delivery) {
            // Consumed if every message of the batch went to the DLQ; otherwise suspended with
            // reconsume counts + 1 (the broker did not take one, or others in the batch still
            // have tries left).
            let all_gone = failed.is_empty() && done.len() == o.total;
            return self.end_orderly_batch(now, env, &d, (!all_gone).then_some(o.pause));
        }
        let retry_delay = self.config.delay_after_send_back_failure;
        if let Some(slot) = self.queues.get_mut(&d.mq) {
            if let Ok(change) = slot.pq.settle(&done) {
                self.flow.on_freed(change);
            }
            if !failed.is_empty() {
                // Not taken by the broker: stays unsettled (the offset does not pass it) and
                // is consumed again here after a pause.
                slot.pq.retry_locally(&failed, now + retry_delay);
            }
        }
        self.update_committable(&d.mq);
        self.after_progress(now, env);
    }

    /// Java `cleanExpireMsg`: a concurrent delivery out with the user for longer than the
    /// consumer's `consume_timeout` is given up on and sent back with delay level 3, as if the
    /// handler had asked to reconsume it later; its ack, if it ever comes, is ignored.
    pub(in crate::client) fn expire_deliveries(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.config.consume_mode != ConsumeMode::Concurrently || self.lite {
            return;
        }
        let timeout = self.config.consume_timeout;
        let expired: Vec<DeliveryId> = self
            .deliveries
            .iter()
            .filter(|(id, d)| {
                !self.send_backs.contains_key(*id)
                    && now.saturating_duration_since(d.started) >= timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for delivery in expired {
            tracing::warn!(?delivery, "consume timeout: sending the delivery back");
            self.settle(
                now,
                env,
                delivery,
                ConsumeOutcome::ReconsumeLater { delay_level: 3 },
            );
        }
    }
}
