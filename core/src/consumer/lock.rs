//! Orderly queue locks (protocol §5.4, §6.9): which queues to LOCK_BATCH_MQ per broker, what
//! the answer locked, and client-side expiry.
//!
//! A queue is consumable in clustering orderly mode only while it is locked and the lock was
//! granted less than [`DEFAULT_LOCK_EXPIRY`] ago (the broker keeps it 60 s). All tracked queues
//! are re-locked every [`DEFAULT_LOCK_INTERVAL`], one request per broker.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::body::{
    LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
use crate::codec::{RemotingCommand, RequestCode};

/// Period of lock renewal (`rocketmq.client.rebalance.lockInterval`).
pub const DEFAULT_LOCK_INTERVAL: Duration = Duration::from_secs(20);
/// Client-side lock lifetime (`rocketmq.client.rebalance.lockMaxLiveTime`).
pub const DEFAULT_LOCK_EXPIRY: Duration = Duration::from_secs(30);
/// Broker-side lock lifetime (`rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const BROKER_LOCK_EXPIRY: Duration = Duration::from_secs(60);
/// Timeout of LOCK_BATCH_MQ / UNLOCK_BATCH_MQ.
pub const LOCK_TIMEOUT: Duration = Duration::from_millis(1_000);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct LockState {
    last_lock: Option<Instant>,
}

/// Lock bookkeeping of one consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTable {
    expiry: Duration,
    queues: BTreeMap<MessageQueue, LockState>,
}

impl Default for LockTable {
    fn default() -> Self {
        Self::new(DEFAULT_LOCK_EXPIRY)
    }
}

impl LockTable {
    /// A table whose locks expire after `expiry`.
    pub fn new(expiry: Duration) -> Self {
        Self {
            expiry,
            queues: BTreeMap::new(),
        }
    }

    /// Starts tracking `mq` (assigned to us), unlocked.
    pub fn track(&mut self, mq: MessageQueue) {
        self.queues.entry(mq).or_default();
    }

    /// Stops tracking `mq` (released); returns whether it was locked at `now` (then the caller
    /// sends UNLOCK_BATCH_MQ).
    pub fn untrack(&mut self, mq: &MessageQueue, now: Instant) -> bool {
        let locked = self.is_locked(mq, now);
        self.queues.remove(mq);
        locked
    }

    /// Whether `mq` is locked and the lock has not expired at `now`.
    pub fn is_locked(&self, mq: &MessageQueue, now: Instant) -> bool {
        self.queues
            .get(mq)
            .and_then(|s| s.last_lock)
            .is_some_and(|t| now.saturating_duration_since(t) < self.expiry)
    }

    /// Tracked queues grouped by broker name: one LOCK_BATCH_MQ body per broker (`lockAll`).
    pub fn lock_all_requests(
        &self,
        client_id: &str,
        group: &str,
    ) -> Vec<(String, LockBatchRequestBody)> {
        let mut by_broker: BTreeMap<&str, BTreeSet<MessageQueue>> = BTreeMap::new();
        for mq in self.queues.keys() {
            by_broker
                .entry(mq.broker_name.as_str())
                .or_default()
                .insert(mq.clone());
        }
        by_broker
            .into_iter()
            .map(|(broker, mq_set)| {
                let body = LockBatchRequestBody {
                    client_id: client_id.to_owned(),
                    consumer_group: group.to_owned(),
                    mq_set,
                    only_this_broker: false,
                };
                (broker.to_owned(), body)
            })
            .collect()
    }

    /// Applies a LOCK_BATCH_MQ answer to the queues of `requested`: those in `lockOKMQSet` are
    /// locked as of `now`, the others unlocked. Returns the queues that became locked.
    pub fn on_lock_response(
        &mut self,
        requested: &BTreeSet<MessageQueue>,
        response: &LockBatchResponseBody,
        now: Instant,
    ) -> Vec<MessageQueue> {
        let mut newly = Vec::new();
        for mq in requested {
            let was = self.is_locked(mq, now);
            let Some(state) = self.queues.get_mut(mq) else {
                continue;
            };
            if response.lock_ok_mq_set.contains(mq) {
                state.last_lock = Some(now);
                if !was {
                    newly.push(mq.clone());
                }
            } else {
                state.last_lock = None;
            }
        }
        newly
    }

    /// Marks `mq` unlocked (e.g. an UNLOCK was sent).
    pub fn mark_unlocked(&mut self, mq: &MessageQueue) {
        if let Some(s) = self.queues.get_mut(mq) {
            s.last_lock = None;
        }
    }

    /// When the earliest held lock expires (the renewal must come before).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter_map(|s| s.last_lock)
            .min()
            .and_then(|t| t.checked_add(self.expiry))
    }
}

/// The LOCK_BATCH_MQ request (code 41) for `body`; send to the broker's master.
pub fn lock_request(body: &LockBatchRequestBody) -> RemotingCommand {
    RemotingCommand::request(RequestCode::LockBatchMq).with_body(body.encode())
}

/// The UNLOCK_BATCH_MQ request (code 42).
pub fn unlock_request(
    client_id: &str,
    group: &str,
    mq_set: BTreeSet<MessageQueue>,
) -> RemotingCommand {
    let body = UnlockBatchRequestBody {
        client_id: client_id.to_owned(),
        consumer_group: group.to_owned(),
        mq_set,
        only_this_broker: false,
    };
    RemotingCommand::request(RequestCode::UnlockBatchMq).with_body(body.encode())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time
mod tests {
    use super::*;

    fn q(b: &str, id: i32) -> MessageQueue {
        MessageQueue::new("T", b, id)
    }

    #[test]
    fn lock_cycle() {
        let t0 = Instant::now();
        let mut t = LockTable::default();
        for mq in [q("a", 0), q("a", 1), q("b", 0)] {
            t.track(mq);
        }
        let reqs = t.lock_all_requests("cid", "cg");
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].0, "a");
        assert_eq!(reqs[0].1.mq_set.len(), 2);
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: [q("a", 0)].into(),
        };
        let newly = t.on_lock_response(&reqs[0].1.mq_set, &resp, t0);
        assert_eq!(newly, vec![q("a", 0)]);
        assert!(t.is_locked(&q("a", 0), t0));
        assert!(!t.is_locked(&q("a", 1), t0));
        assert!(t.is_locked(&q("a", 0), t0 + Duration::from_secs(29)));
        assert!(
            !t.is_locked(&q("a", 0), t0 + DEFAULT_LOCK_EXPIRY),
            "expired"
        );
        assert_eq!(t.next_expiry(), Some(t0 + DEFAULT_LOCK_EXPIRY));
        // Renewal at 20 s extends; a missing queue is unlocked.
        let t1 = t0 + DEFAULT_LOCK_INTERVAL;
        assert!(t.on_lock_response(&reqs[0].1.mq_set, &resp, t1).is_empty());
        assert!(t.is_locked(&q("a", 0), t0 + Duration::from_secs(45)));
        let none = LockBatchResponseBody::default();
        t.on_lock_response(&reqs[0].1.mq_set, &none, t1);
        assert!(!t.is_locked(&q("a", 0), t1));
        assert!(!t.untrack(&q("a", 0), t1));
    }

    #[test]
    fn requests_encode() {
        let t0 = Instant::now();
        let mut t = LockTable::default();
        t.track(q("a", 0));
        let (_, body) = t.lock_all_requests("cid", "cg").remove(0);
        let cmd = lock_request(&body);
        assert_eq!(cmd.code, 41);
        assert_eq!(LockBatchRequestBody::decode(&cmd.body).unwrap(), body);
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: [q("a", 0)].into(),
        };
        t.on_lock_response(&body.mq_set, &resp, t0);
        assert!(t.untrack(&q("a", 0), t0));
        let un = unlock_request("cid", "cg", [q("a", 0)].into());
        assert_eq!(un.code, 42);
        let back = UnlockBatchRequestBody::decode(&un.body).unwrap();
        assert_eq!(back.client_id, "cid");
        assert_eq!(back.mq_set.len(), 1);
    }
}
