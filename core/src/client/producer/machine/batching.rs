//! Auto-batching inside a [`ProducerMachine`]: which single sends may wait in a lane
//! ([`ProducerMachine::batch_lane`]), holding them, launching a lane's batch as one send of
//! the machine (retries, fault isolation and route waits as for any send, within the time
//! budget its oldest member has left), and splitting the batch's outcome into one event per
//! member.

use std::time::Instant;

use super::super::super::ids::{OpId, SendId};
use super::super::super::Event;
use super::super::{SendMode, SendTarget};
use super::{Env, Payload, ProducerMachine, ProducerOutput, Send};
use crate::body::MessageQueue;
use crate::message::{keys, Message, RETRY_TOPIC_PREFIX};
use crate::producer::{
    is_reply, prepare_batch, Held, IdClock, QueueSelector, SendAttempts, SendError, SendResult,
};

/// Where a lane's batches go: sends share a lane only if one batch request can carry them
/// all and retry them alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::client) struct LaneKey {
    topic: String,
    /// A chosen queue, or `None` for the producer's round robin.
    queue: Option<MessageQueue>,
    /// Async sends may have another number of attempts than sync ones.
    async_mode: bool,
    /// `WAIT` (waitStoreMsgOK) must be the same for a whole batch.
    wait_store: bool,
}

impl LaneKey {
    fn target(&self) -> SendTarget {
        self.queue
            .clone()
            .map_or(SendTarget::Default, SendTarget::Queue)
    }

    fn mode(&self) -> SendMode {
        if self.async_mode {
            SendMode::Async
        } else {
            SendMode::Sync
        }
    }
}

/// A send held in a lane.
#[derive(Debug)]
pub(in crate::client) struct HeldSend {
    op: OpId,
    /// Validated, with its `UNIQ_KEY` set.
    message: Message,
    /// The end of its time budget.
    deadline: Instant,
}

impl ProducerMachine {
    /// The lane `message` would wait in, or `None` when it goes alone: auto-batching off,
    /// a oneway send, a selector (it chooses per message), or a message a batch
    /// cannot carry as it is (delayed or timed, to a retry topic, a reply, large enough to
    /// be compressed, or larger than a batch).
    pub(in crate::client) fn batch_lane(
        &self,
        message: &Message,
        target: &SendTarget,
        mode: SendMode,
    ) -> Option<(LaneKey, usize)> {
        let batcher = self.batcher.as_ref()?;
        let async_mode = match mode {
            SendMode::Sync => false,
            SendMode::Async => true,
            SendMode::Oneway => return None,
        };
        let queue = match target {
            SendTarget::Queue(q) => Some(q.clone()),
            SendTarget::Default
                if matches!(self.selector.selector(), QueueSelector::RoundRobin) =>
            {
                None
            }
            SendTarget::Default | SendTarget::Select(_) => return None,
        };
        let timed = [
            keys::TIMER_DELAY_SEC,
            keys::TIMER_DELAY_MS,
            keys::TIMER_DELIVER_MS,
        ]
        .iter()
        .any(|k| message.property(k).is_some());
        let alone = timed
            || message.delay_level() != Ok(0)
            || message.topic.starts_with(RETRY_TOPIC_PREFIX)
            || is_reply(message)
            || message.body.len() >= self.config.compress_over;
        if alone {
            return None;
        }
        // Counted with room for a `UNIQ_KEY` not set yet: an upper bound, so a batch of
        // such lengths never exceeds `max_bytes`.
        let len = crate::producer::batch_record_len(message);
        let lane = LaneKey {
            topic: message.topic.clone(),
            queue,
            async_mode,
            wait_store: message.wait_store_msg_ok(),
        };
        batcher.fits(len).then_some((lane, len))
    }

    /// Holds send `op` of `message` (validated, `UNIQ_KEY` set) in `lane`, counted as `len`
    /// bytes (what [`ProducerMachine::batch_lane`] measured); it leaves with the lane's next
    /// batch.
    pub(in crate::client) fn hold(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        op: OpId,
        message: Message,
        lane: LaneKey,
        len: usize,
    ) {
        let deadline = now.checked_add(self.config.send_timeout).unwrap_or(now);
        let held = Held {
            item: HeldSend {
                op,
                message,
                deadline,
            },
            len,
        };
        let Some(batcher) = self.batcher.as_mut() else {
            // `batch_lane` gave no lane without a batcher; end the send rather than lose it.
            return self.out.push_back(ProducerOutput::Event(Event::Send {
                op: held.item.op,
                result: Err(SendError::Transport(crate::remoting::InvokeError::Shutdown)),
            }));
        };
        let leaving = batcher.push(now, lane, held);
        self.launch(now, env, leaving);
    }

    /// Launches the lanes whose linger is over.
    pub(super) fn flush_due(&mut self, now: Instant, env: &mut Env<'_>) {
        let due = self
            .batcher
            .as_mut()
            .map(|b| b.take_due(now))
            .unwrap_or_default();
        self.launch(now, env, due);
    }

    /// Launches every held send (a close).
    pub(super) fn flush_all(&mut self, now: Instant, env: &mut Env<'_>) {
        let all = self
            .batcher
            .as_mut()
            .map(|b| b.take_all())
            .unwrap_or_default();
        self.launch(now, env, all);
    }

    /// Ends every held send with `error` (the client closes).
    pub(super) fn fail_held(&mut self, error: SendError) {
        let all = self
            .batcher
            .as_mut()
            .map(|b| b.take_all())
            .unwrap_or_default();
        for (_, batch) in all {
            for held in batch {
                self.out.push_back(ProducerOutput::Event(Event::Send {
                    op: held.item.op,
                    result: Err(error.clone()),
                }));
            }
        }
    }

    /// Starts each batch as a send of the machine. A member whose budget is spent fails
    /// alone; the batch gets the budget its oldest member has left.
    fn launch(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        batches: Vec<(LaneKey, Vec<Held<HeldSend>>)>,
    ) {
        let mut work = std::collections::VecDeque::from(batches);
        while let Some((lane, batch)) = work.pop_front() {
            let (live, spent): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|h| h.item.deadline > now);
            for held in spent {
                self.out.push_back(ProducerOutput::Event(Event::Send {
                    op: held.item.op,
                    result: Err(SendError::Timeout),
                }));
            }
            let Some(deadline) = live.iter().map(|h| h.item.deadline).min() else {
                work.extend(self.lane_done(&lane));
                continue;
            };
            let ops: Vec<OpId> = live.iter().map(|h| h.item.op).collect();
            let mut messages: Vec<Message> = live.into_iter().map(|h| h.item.message).collect();
            let mut clock = IdClock {
                ids: &mut *env.ids,
                wall_millis: env.wall.now_millis(),
                utc_offset_millis: 0,
            };
            let prepared = match prepare_batch(&self.config, &mut messages, &mut clock) {
                Ok(p) => p,
                Err(e) => {
                    for op in ops {
                        self.out.push_back(ProducerOutput::Event(Event::Send {
                            op,
                            result: Err(e.clone()),
                        }));
                    }
                    work.extend(self.lane_done(&lane));
                    continue;
                }
            };
            let members: Vec<(OpId, String)> = ops
                .into_iter()
                .zip(prepared.inner_ids.iter().cloned())
                .collect();
            let allowed = self.allowed_attempts(&lane.target(), lane.mode());
            let attempts = SendAttempts::new(now, deadline.saturating_duration_since(now), allowed)
                .with_max_per_attempt(self.config.max_timeout_per_attempt);
            let id: SendId = env.send_id();
            self.batch_stats.batches += 1;
            self.batch_stats.messages += members.len() as u64;
            let sample = messages.swap_remove(0);
            tracing::trace!(messages = members.len(), topic = %lane.topic, "auto-batch leaves");
            self.sends.insert(
                id,
                Send {
                    op: members[0].0,
                    topic: lane.topic.clone(),
                    payload: Payload::Batch(prepared),
                    sample,
                    attempts,
                    target: lane.target(),
                    mode: lane.mode(),
                    attempt: None,
                    waiting_route: false,
                    outage_wait: None,
                    transactional: false,
                    batched: Some((lane, members)),
                },
            );
            self.advance_send(now, env, id);
        }
    }

    /// A batch of `lane` ended: what the lane held meanwhile, if it leaves now.
    fn lane_done(&mut self, lane: &LaneKey) -> Option<(LaneKey, Vec<Held<HeldSend>>)> {
        let next = self.batcher.as_mut()?.batch_done(lane)?;
        Some((lane.clone(), next))
    }

    /// A batch send ended: one event per member, then the lane's next batch may leave.
    pub(super) fn finish_batch(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        lane: LaneKey,
        members: Vec<(OpId, String)>,
        result: Result<Option<SendResult>, SendError>,
    ) {
        match result {
            Ok(Some(stored)) => {
                let ids: Vec<String> = members.iter().map(|(_, id)| id.clone()).collect();
                for ((op, _), result) in members.into_iter().zip(stored.split_batch(&ids)) {
                    self.out.push_back(ProducerOutput::Event(Event::Send {
                        op,
                        result: Ok(result),
                    }));
                }
            }
            other => {
                // `Ok(None)` is a written oneway send, which is never batched.
                let error = other.err().unwrap_or(SendError::Timeout);
                for (op, _) in members {
                    self.out.push_back(ProducerOutput::Event(Event::Send {
                        op,
                        result: Err(error.clone()),
                    }));
                }
            }
        }
        if let Some(next) = self.lane_done(&lane) {
            self.launch(now, env, vec![next]);
        }
    }
}
