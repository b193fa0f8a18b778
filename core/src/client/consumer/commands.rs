//! The user's commands on a running consumer: subscribe and unsubscribe, assign, seek, pause
//! and resume. Each refuses a closing consumer with [`Misuse::ConsumerClosing`].

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::super::ids::DeliveryId;
use super::super::misuse::Misuse;
use super::super::Event;
use super::machine::{ConsumerMachine, Env};
use crate::body::MessageQueue;
use crate::consumer::{QueueState, Subscription};

impl ConsumerMachine {
    /// `Ok` when the consumer takes commands (it is not closing).
    pub(in crate::client) fn check_live(&self) -> Result<(), Misuse> {
        match self.closing {
            Some(_) => Err(Misuse::ConsumerClosing(self.id)),
            None => Ok(()),
        }
    }

    /// Adds or replaces a subscription; heartbeats and rebalances at once.
    pub(in crate::client) fn subscribe(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        subscription: Subscription,
    ) -> Result<(), Misuse> {
        self.check_live()?;
        if self.assigned.is_some() {
            return Err(Misuse::Assigned(self.id));
        }
        self.subs
            .insert(subscription.topic().to_string(), subscription);
        self.sub_version = env.wall_ms();
        self.heartbeat();
        self.rebalance(now, env);
        Ok(())
    }

    /// Drops a topic's subscription: its queues are released; heartbeats at once.
    pub(in crate::client) fn unsubscribe(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        topic: &str,
    ) -> Result<(), Misuse> {
        self.check_live()?;
        if self.assigned.is_some() {
            return Err(Misuse::Assigned(self.id));
        }
        if self.subs.remove(topic).is_none() {
            return Err(Misuse::NotSubscribed {
                consumer: self.id,
                topic: topic.to_string(),
            });
        }
        self.sub_version = env.wall_ms();
        self.doubt.remove(topic);
        self.list_rounds.remove(topic);
        self.apply_allocation(now, env, topic, Vec::new(), false);
        self.heartbeat();
        Ok(())
    }

    /// Holds exactly `queues` from now on, outside the group's rebalance.
    pub(in crate::client) fn assign(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        queues: Vec<MessageQueue>,
    ) -> Result<(), Misuse> {
        self.check_live()?;
        let set: BTreeSet<MessageQueue> = queues.into_iter().collect();
        let mut topics: BTreeSet<String> = self.queues.keys().map(|q| q.topic.clone()).collect();
        topics.extend(set.iter().map(|q| q.topic.clone()));
        for q in &set {
            if !self.subs.contains_key(&q.topic) {
                if let Ok(sub) = Subscription::tag(q.topic.clone(), "*") {
                    self.subs.insert(q.topic.clone(), sub);
                }
            }
        }
        self.assigned = Some(set.clone());
        for topic in topics {
            let mine = set.iter().filter(|q| q.topic == topic).cloned().collect();
            self.apply_allocation(now, env, &topic, mine, false);
            if env.routes.get(&topic).is_none() {
                self.lookup_route(&topic);
            }
        }
        Ok(())
    }

    /// Moves a held queue's consume position to `offset`; the committed offset follows, even
    /// backwards. Deliveries of the queue still out are given up (their messages are before
    /// or after the new position, not the user's to ack any more), and [`Event::Seeked`]
    /// marks where the queue's stale deliveries end.
    pub(in crate::client) fn seek(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        queue: &MessageQueue,
        offset: i64,
    ) -> Result<(), Misuse> {
        if offset < 0 {
            return Err(Misuse::NegativeOffset { offset });
        }
        self.check_live()?;
        // Checked before anything changes: a refused seek must leave the deliveries out alone.
        // A queue on its way out (draining or released, e.g. after `assign` dropped it) is no
        // longer the user's to move.
        let seekable = self.queues.get(queue).is_some_and(|s| match s.pq.state() {
            QueueState::Pulling => true,
            QueueState::Assigned => s.start.is_some(),
            QueueState::Draining | QueueState::Released => false,
        });
        if !seekable {
            return Err(Misuse::QueueNotHeld {
                consumer: self.id,
                queue: queue.clone(),
            });
        }
        // The deliveries out leave the process queue first: pulled again from the new
        // position, their offsets must not find themselves still in flight.
        self.drop_deliveries_of(queue);
        let Some(slot) = self.queues.get_mut(queue) else {
            return Ok(());
        };
        if slot.start.is_some() {
            // Still looking up the start offset: start right here instead.
            slot.start = None;
            if slot.pq.start(offset).is_err() {
                return Err(Misuse::QueueNotHeld {
                    consumer: self.id,
                    queue: queue.clone(),
                });
            }
        } else if let Ok(change) = slot.pq.seek(offset) {
            self.flow.on_freed(change);
        }
        slot.epoch += 1;
        slot.pull_in_flight = false;
        slot.started_at = None;
        self.offsets.update(queue, offset, false);
        self.cancel_pulls(queue);
        self.event(Event::Seeked {
            consumer: self.id,
            queue: queue.clone(),
        });
        self.schedule_pull(now, env, queue, Duration::ZERO);
        Ok(())
    }

    /// Gives up the deliveries of `queue` still out (not those being sent back, whose
    /// outcome is already decided).
    fn drop_deliveries_of(&mut self, queue: &MessageQueue) {
        let stale: Vec<DeliveryId> = self
            .deliveries
            .iter()
            .filter(|(id, d)| d.mq == *queue && !self.send_backs.contains_key(*id))
            .map(|(id, _)| *id)
            .collect();
        let orderly = self.orderly();
        for id in stale {
            let Some(d) = self.deliveries.remove(&id) else {
                continue;
            };
            self.outstanding = self.outstanding.saturating_sub(1);
            let Some(slot) = self.queues.get_mut(queue) else {
                continue;
            };
            let freed = if orderly {
                slot.batch_out = false;
                slot.pq.commit_batch()
            } else {
                let offsets: Vec<i64> = d.messages.iter().map(|m| m.queue_offset).collect();
                slot.pq.settle(&offsets)
            };
            if let Ok(change) = freed {
                self.flow.on_freed(change);
            }
        }
    }

    /// Stops pulling and delivering `queues` until [`ConsumerMachine::resume`].
    pub(in crate::client) fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), Misuse> {
        self.check_live()?;
        self.paused.extend(queues.iter().cloned());
        Ok(())
    }

    /// Resumes paused queues.
    pub(in crate::client) fn resume(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        queues: &[MessageQueue],
    ) -> Result<(), Misuse> {
        self.check_live()?;
        for q in queues {
            self.paused.remove(q);
        }
        for q in queues {
            self.schedule_pull(now, env, q, Duration::ZERO);
        }
        self.deliver_ready(now, env);
        Ok(())
    }
}
