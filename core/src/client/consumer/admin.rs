//! What brokers and admin tools ask of a consumer: its running info, its offsets, and a
//! reset of its offsets.

use std::collections::BTreeMap;
use std::time::Instant;

use super::machine::ConsumerMachine;
use super::QueueStats;
use crate::body::{ConsumerRunningInfo, MessageQueue, ProcessQueueInfo};
use crate::consumer::{PullCounts, QueueState};

impl ConsumerMachine {
    /// RESET_CONSUMER_CLIENT_OFFSET: every held queue of the table moves to its offset
    /// (negative offsets are ignored).
    pub(in crate::client) fn reset_offsets(&mut self, table: &BTreeMap<MessageQueue, i64>) {
        for (mq, offset) in table {
            if *offset < 0 {
                // Not an offset: leave the queue where it is.
                tracing::warn!(?mq, offset, "negative offset in a reset ignored");
                continue;
            }
            if let Some(slot) = self.queues.get_mut(mq) {
                if let Ok(change) = slot.pq.seek(*offset) {
                    self.flow.on_freed(change);
                }
                self.offsets.update(mq, *offset, false);
            }
        }
    }

    /// The offsets of `topic`'s queues (GET_CONSUMER_STATUS_FROM_CLIENT).
    pub(in crate::client) fn topic_offsets<'a>(
        &'a self,
        topic: &'a str,
    ) -> impl Iterator<Item = (&'a MessageQueue, &'a i64)> + 'a {
        self.offsets
            .entries()
            .iter()
            .filter(move |(mq, _)| mq.topic == topic)
    }

    /// Rebalances that changed the queues held.
    pub(in crate::client) fn rebalances(&self) -> u64 {
        self.rebalances
    }

    /// Pulls since the start, by result.
    pub(in crate::client) fn pulls(&self) -> PullCounts {
        self.stats.pulls()
    }

    /// Per held queue: offsets, the broker's end, what is buffered.
    pub(in crate::client) fn queue_stats(&self) -> Vec<QueueStats> {
        self.queues
            .iter()
            .map(|(mq, slot)| QueueStats {
                queue: mq.clone(),
                committed: self.offsets.get(mq),
                broker_max: slot.broker_max,
                buffered_messages: slot.pq.cached_count(),
                buffered_bytes: slot.pq.cached_bytes(),
            })
            .collect()
    }

    /// GET_CONSUMER_RUNNING_INFO: subscriptions, properties, per-queue state and per-topic
    /// statistics (`wall_ms` is the wall clock at `now`).
    pub(in crate::client) fn running_info(
        &self,
        now: Instant,
        wall_ms: i64,
        namesrv_addrs: &str,
    ) -> ConsumerRunningInfo {
        let wall_of = |at: Instant| {
            let ago = i64::try_from(now.saturating_duration_since(at).as_millis());
            wall_ms.saturating_sub(ago.unwrap_or(i64::MAX))
        };
        let mut info = ConsumerRunningInfo {
            subscription_set: self
                .subs
                .values()
                .map(|s| s.to_data(self.sub_version))
                .collect(),
            status_table: self.stats.status(now),
            ..Default::default()
        };
        info.properties
            .insert("PROP_NAMESERVER_ADDR".into(), namesrv_addrs.to_string());
        info.properties
            .insert("PROP_CONSUMEORDERLY".into(), self.orderly().to_string());
        let consume_type = if self.lite {
            "CONSUME_ACTIVELY"
        } else {
            "CONSUME_PASSIVELY"
        };
        info.properties
            .insert("PROP_CONSUME_TYPE".into(), consume_type.into());
        info.properties
            .insert("PROP_CLIENT_VERSION".into(), "rocketwire".into());
        for (mq, slot) in &self.queues {
            let (min, max) = slot.pq.unsettled_range().unwrap_or_default();
            let pq = ProcessQueueInfo {
                cached_msg_min_offset: min,
                cached_msg_max_offset: max,
                last_pull_timestamp: slot.pq.last_pull().map_or(0, wall_of),
                last_consume_timestamp: slot.last_consumed.map_or(0, wall_of),
                commit_offset: self.offsets.get(mq).unwrap_or(-1),
                cached_msg_count: i32::try_from(slot.pq.cached_count()).unwrap_or(i32::MAX),
                cached_msg_size_in_mi_b: i32::try_from(slot.pq.cached_bytes() >> 20)
                    .unwrap_or(i32::MAX),
                locked: self.locks.is_locked(mq, now),
                dropped: slot.pq.state() == QueueState::Released,
                ..Default::default()
            };
            info.mq_table.insert(mq.clone(), pq);
        }
        info
    }
}
