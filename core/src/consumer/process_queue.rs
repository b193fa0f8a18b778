//! One assigned queue: its lifecycle state and the cache of pulled, unsettled messages (Java
//! `ProcessQueue`, protocol §6.6, §6.7, §6.9).
//!
//! # States
//!
//! ```text
//! Assigned ──start(offset)──► Pulling ──drain()──► Draining ──release()──► Released
//!     └───────────────────────release()────────────────────────────────────────┘
//! ```
//!
//! * `Assigned`: allocated by a rebalance, start offset not known yet; nothing cached.
//! * `Pulling`: pulls run, pulled messages are cached and handed out.
//! * `Draining`: no longer ours (rebalance, OFFSET_ILLEGAL, shutdown): no pulls, nothing new
//!   handed out, but outcomes of messages already handed out still settle, so the final
//!   committable offset can be persisted.
//! * `Released`: final. [`ProcessQueue::committable_offset`] is `None`: nothing commits after
//!   release, so a queue now owned by another consumer is never overwritten by us.
//!
//! # Offsets
//!
//! The committable offset is the smallest unsettled queue offset, or, when nothing is
//! unsettled, the highest "pulled through" offset (the last pull's `nextBeginOffset`, or the
//! start offset). Messages filtered out by tag never enter the cache and never hold it back.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::body::MessageQueue;
use crate::message::MessageExt;

/// Lifecycle state of a process queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueState {
    /// Allocated; start offset not known yet.
    Assigned,
    /// Pulling and delivering.
    Pulling,
    /// No more pulls or deliveries; outstanding outcomes still settle.
    Draining,
    /// Gone; commits nothing.
    Released,
}

impl QueueState {
    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: QueueState) -> bool {
        use QueueState::*;
        matches!(
            (self, to),
            (Assigned, Pulling) | (Assigned, Released) | (Pulling, Draining) | (Draining, Released)
        )
    }
}

/// An operation that the queue's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("process queue {queue}: cannot {op} in state {state:?}")]
pub struct StateError {
    /// The queue (Java `toString` form).
    pub queue: String,
    /// Its state.
    pub state: QueueState,
    /// What was attempted (`"become Pulling"`, `"cache messages"`, ...).
    pub op: &'static str,
}

/// Where a cached message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not handed out yet.
    Ready,
    /// Handed to the listener.
    InFlight,
    /// Handed back for a local retry at this time (send-back failed).
    RetryAt(Instant),
}

#[derive(Debug, Clone)]
struct Entry {
    msg: MessageExt,
    bytes: u64,
    slot: Slot,
}

/// Bytes and messages that entered or left the cache (feed these to
/// [`FlowControl`](super::FlowControl)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheChange {
    /// Messages added or removed.
    pub messages: u64,
    /// Body bytes added or removed.
    pub bytes: u64,
}

/// One assigned queue.
#[derive(Debug, Clone)]
pub struct ProcessQueue {
    mq: MessageQueue,
    state: QueueState,
    cache: BTreeMap<i64, Entry>,
    /// Orderly: the batch taken for consumption (Java `consumingMsgOrderlyTreeMap`).
    taken: BTreeMap<i64, Entry>,
    bytes: u64,
    pulled_through: i64,
    next_pull_offset: i64,
    suspended_until: Option<Instant>,
    last_pull: Option<Instant>,
}

impl ProcessQueue {
    /// A freshly allocated queue.
    pub fn new(mq: MessageQueue) -> Self {
        Self {
            mq,
            state: QueueState::Assigned,
            cache: BTreeMap::new(),
            taken: BTreeMap::new(),
            bytes: 0,
            pulled_through: 0,
            next_pull_offset: 0,
            suspended_until: None,
            last_pull: None,
        }
    }

    /// The queue.
    pub fn queue(&self) -> &MessageQueue {
        &self.mq
    }

    /// The state.
    pub fn state(&self) -> QueueState {
        self.state
    }

    fn err(&self, op: &'static str) -> StateError {
        StateError {
            queue: self.mq.to_string(),
            state: self.state,
            op,
        }
    }

    fn become_(&mut self, to: QueueState, op: &'static str) -> Result<(), StateError> {
        if !self.state.can_become(to) {
            return Err(self.err(op));
        }
        self.state = to;
        Ok(())
    }

    /// `Assigned → Pulling` from `offset` (the start offset).
    pub fn start(&mut self, offset: i64) -> Result<(), StateError> {
        self.become_(QueueState::Pulling, "become Pulling")?;
        self.next_pull_offset = offset;
        self.pulled_through = offset;
        Ok(())
    }

    /// `Pulling → Draining`.
    pub fn drain(&mut self) -> Result<(), StateError> {
        self.become_(QueueState::Draining, "become Draining")
    }

    /// `Assigned/Draining → Released`; empties the cache and returns what left it.
    pub fn release(&mut self) -> Result<CacheChange, StateError> {
        self.become_(QueueState::Released, "become Released")?;
        let change = CacheChange {
            messages: self.cached_count(),
            bytes: self.bytes,
        };
        self.cache.clear();
        self.taken.clear();
        self.bytes = 0;
        Ok(change)
    }

    /// The offset the next pull asks for.
    pub fn next_pull_offset(&self) -> i64 {
        self.next_pull_offset
    }

    /// When the last pull response was applied.
    pub fn last_pull(&self) -> Option<Instant> {
        self.last_pull
    }

    /// Applies a pull result: caches `messages` (offsets already cached are ignored) and moves
    /// the next pull offset (and the pulled-through mark) to `next_offset`. Only while pulling.
    pub fn on_pulled(
        &mut self,
        messages: Vec<MessageExt>,
        next_offset: i64,
        now: Instant,
    ) -> Result<CacheChange, StateError> {
        if self.state != QueueState::Pulling {
            return Err(self.err("cache messages"));
        }
        let mut change = CacheChange::default();
        for msg in messages {
            let off = msg.queue_offset;
            if off < self.pulled_through
                || self.cache.contains_key(&off)
                || self.taken.contains_key(&off)
            {
                continue;
            }
            let bytes = u64::try_from(msg.message.body.len()).unwrap_or(u64::MAX);
            change.messages = change.messages.saturating_add(1);
            change.bytes = change.bytes.saturating_add(bytes);
            self.cache.insert(
                off,
                Entry {
                    msg,
                    bytes,
                    slot: Slot::Ready,
                },
            );
        }
        self.bytes = self.bytes.saturating_add(change.bytes);
        self.next_pull_offset = next_offset;
        self.pulled_through = self.pulled_through.max(next_offset);
        self.last_pull = Some(now);
        Ok(change)
    }

    /// Unsettled messages (cached, in flight, or taken by an orderly batch).
    pub fn cached_count(&self) -> u64 {
        u64::try_from(self.cache.len().saturating_add(self.taken.len())).unwrap_or(u64::MAX)
    }

    /// Body bytes of unsettled messages.
    pub fn cached_bytes(&self) -> u64 {
        self.bytes
    }

    /// Largest minus smallest unsettled offset (Java `getMaxSpan`), 0 when empty.
    pub fn offset_span(&self) -> u64 {
        match (self.min_unsettled(), self.max_unsettled()) {
            (Some(a), Some(b)) => u64::try_from(b.saturating_sub(a)).unwrap_or(0),
            _ => 0,
        }
    }

    /// The smallest and largest unsettled offsets, when any.
    pub fn unsettled_range(&self) -> Option<(i64, i64)> {
        Some((self.min_unsettled()?, self.max_unsettled()?))
    }

    fn min_unsettled(&self) -> Option<i64> {
        let a = self.cache.keys().next().copied();
        let b = self.taken.keys().next().copied();
        a.into_iter().chain(b).min()
    }

    fn max_unsettled(&self) -> Option<i64> {
        let a = self.cache.keys().next_back().copied();
        let b = self.taken.keys().next_back().copied();
        a.into_iter().chain(b).max()
    }

    /// The offset to commit: smallest unsettled offset, else the pulled-through offset.
    /// `None` before a start offset is known and after release.
    pub fn committable_offset(&self) -> Option<i64> {
        match self.state {
            QueueState::Assigned | QueueState::Released => None,
            QueueState::Pulling | QueueState::Draining => {
                Some(self.min_unsettled().unwrap_or(self.pulled_through))
            }
        }
    }

    /// Concurrent mode: hands out up to `max` messages that are ready (or whose local retry
    /// time has come), in offset order, marking them in flight. Nothing unless pulling.
    pub fn take_ready(&mut self, max: usize, now: Instant) -> Vec<MessageExt> {
        if self.state != QueueState::Pulling {
            return Vec::new();
        }
        let mut out = Vec::new();
        for entry in self.cache.values_mut() {
            if out.len() >= max {
                break;
            }
            let ready = match entry.slot {
                Slot::Ready => true,
                Slot::RetryAt(at) => at <= now,
                Slot::InFlight => false,
            };
            if ready {
                entry.slot = Slot::InFlight;
                out.push(entry.msg.clone());
            }
        }
        out
    }

    /// The earliest local-retry time among cached messages (for the caller's timer).
    pub fn next_retry_at(&self) -> Option<Instant> {
        self.cache
            .values()
            .filter_map(|e| match e.slot {
                Slot::RetryAt(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Settles messages (consumed, or sent back successfully): they leave the cache. Works
    /// while pulling or draining; unknown offsets are ignored. Returns what left.
    pub fn settle(&mut self, offsets: &[i64]) -> Result<CacheChange, StateError> {
        if !matches!(self.state, QueueState::Pulling | QueueState::Draining) {
            return Err(self.err("settle messages"));
        }
        let mut change = CacheChange::default();
        for off in offsets {
            if let Some(e) = self.cache.remove(off) {
                change.messages = change.messages.saturating_add(1);
                change.bytes = change.bytes.saturating_add(e.bytes);
            }
        }
        self.bytes = self.bytes.saturating_sub(change.bytes);
        Ok(change)
    }

    /// A send-back and its fallback failed: the messages stay unsettled (holding the
    /// committable offset back), their reconsume count goes up by one and they are handed out
    /// again from `at`.
    pub fn retry_locally(&mut self, offsets: &[i64], at: Instant) {
        for off in offsets {
            if let Some(e) = self.cache.get_mut(off) {
                e.msg.reconsume_times = e.msg.reconsume_times.saturating_add(1);
                e.slot = Slot::RetryAt(at);
            }
        }
    }

    /// Orderly: whether the queue is suspended at `now`.
    pub fn is_suspended(&self, now: Instant) -> bool {
        self.suspended_until.is_some_and(|t| now < t)
    }

    /// Orderly: when the current suspension ends (the driver wakes then to deliver again).
    pub fn suspended_until(&self) -> Option<Instant> {
        self.suspended_until
    }

    /// Orderly: forgets a suspension that ended by `now`; true if one did.
    pub fn end_suspension(&mut self, now: Instant) -> bool {
        let ended = self.suspended_until.is_some_and(|t| t <= now);
        if ended {
            self.suspended_until = None;
        }
        ended
    }

    /// Moves the next pull to `offset` (lite pull `seek`, or a broker-side offset reset):
    /// messages not handed out are dropped (they will be pulled again) and the pulled-through
    /// mark becomes `offset`. Returns what left the cache. Only while pulling.
    pub fn seek(&mut self, offset: i64) -> Result<CacheChange, StateError> {
        if self.state != QueueState::Pulling {
            return Err(self.err("seek"));
        }
        let mut change = CacheChange::default();
        self.cache.retain(|_, e| {
            let keep = e.slot == Slot::InFlight;
            if !keep {
                change.messages = change.messages.saturating_add(1);
                change.bytes = change.bytes.saturating_add(e.bytes);
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(change.bytes);
        self.next_pull_offset = offset;
        self.pulled_through = offset;
        Ok(change)
    }

    /// Orderly: takes the next batch of up to `max` messages in offset order. Nothing while a
    /// batch is out, while suspended, or unless pulling.
    pub fn take_batch(&mut self, max: usize, now: Instant) -> Vec<MessageExt> {
        if self.state != QueueState::Pulling || !self.taken.is_empty() || self.is_suspended(now) {
            return Vec::new();
        }
        self.suspended_until = None;
        let keys: Vec<i64> = self.cache.keys().take(max).copied().collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(mut e) = self.cache.remove(&k) {
                e.slot = Slot::InFlight;
                out.push(e.msg.clone());
                self.taken.insert(k, e);
            }
        }
        out
    }

    /// Orderly: the taken batch was consumed; it leaves the cache. Returns what left.
    pub fn commit_batch(&mut self) -> Result<CacheChange, StateError> {
        if !matches!(self.state, QueueState::Pulling | QueueState::Draining) {
            return Err(self.err("commit a batch"));
        }
        let change = CacheChange {
            messages: u64::try_from(self.taken.len()).unwrap_or(u64::MAX),
            bytes: self.taken.values().map(|e| e.bytes).sum(),
        };
        self.taken.clear();
        self.bytes = self.bytes.saturating_sub(change.bytes);
        Ok(change)
    }

    /// Orderly: puts the taken batch back unchanged (Java `rollback`).
    pub fn rollback_batch(&mut self) {
        for (k, mut e) in std::mem::take(&mut self.taken) {
            e.slot = Slot::Ready;
            self.cache.insert(k, e);
        }
    }

    /// Orderly SUSPEND_CURRENT_QUEUE_A_MOMENT: the batch goes back with reconsume counts + 1
    /// and the queue hands nothing out before `until`.
    pub fn suspend_batch(&mut self, until: Instant) {
        for e in self.taken.values_mut() {
            e.msg.reconsume_times = e.msg.reconsume_times.saturating_add(1);
        }
        self.rollback_batch();
        self.suspended_until = Some(until);
    }

    /// Orderly: the taken batch, in offset order.
    pub fn taken_offsets(&self) -> Vec<i64> {
        self.taken.keys().copied().collect()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time
mod tests {
    use super::*;
    use crate::message::Message;
    use std::time::Duration;

    fn msgs(offsets: &[i64]) -> Vec<MessageExt> {
        offsets
            .iter()
            .map(|o| {
                let mut e = MessageExt::from_message(Message::new("t", vec![0u8; 10]));
                e.queue_offset = *o;
                e
            })
            .collect()
    }

    fn pulling(start: i64) -> ProcessQueue {
        let mut q = ProcessQueue::new(MessageQueue::new("t", "b", 0));
        q.start(start).unwrap();
        q
    }

    #[test]
    fn transitions() {
        let mut q = ProcessQueue::new(MessageQueue::new("t", "b", 0));
        assert_eq!(q.committable_offset(), None);
        assert!(q.drain().is_err());
        q.start(5).unwrap();
        let e = q.start(5).unwrap_err();
        assert_eq!(e.state, QueueState::Pulling);
        assert!(q.release().is_err(), "must drain first");
        q.drain().unwrap();
        assert!(q.start(1).is_err());
        q.release().unwrap();
        assert!(q.drain().is_err());
        let mut q = ProcessQueue::new(MessageQueue::new("t", "b", 0));
        q.release().unwrap();
    }

    #[test]
    fn committable_is_smallest_unsettled() {
        let now = Instant::now();
        let mut q = pulling(100);
        assert_eq!(q.committable_offset(), Some(100));
        let c = q.on_pulled(msgs(&[100, 101, 103]), 104, now).unwrap();
        assert_eq!(
            c,
            CacheChange {
                messages: 3,
                bytes: 30
            }
        );
        assert_eq!(q.next_pull_offset(), 104);
        assert_eq!(q.offset_span(), 3);
        assert_eq!(q.take_ready(10, now).len(), 3);
        q.settle(&[101, 103]).unwrap();
        assert_eq!(q.committable_offset(), Some(100));
        q.settle(&[100]).unwrap();
        assert_eq!(
            q.committable_offset(),
            Some(104),
            "filtered 102 does not hold back"
        );
        assert_eq!(q.cached_bytes(), 0);
    }

    #[test]
    fn failed_send_back_stays_unsettled() {
        let now = Instant::now();
        let mut q = pulling(0);
        q.on_pulled(msgs(&[0, 1]), 2, now).unwrap();
        assert_eq!(q.take_ready(10, now).len(), 2);
        q.settle(&[1]).unwrap();
        let later = now + Duration::from_secs(5);
        q.retry_locally(&[0], later);
        assert_eq!(q.committable_offset(), Some(0));
        assert!(q.take_ready(10, now).is_empty());
        assert_eq!(q.next_retry_at(), Some(later));
        let again = q.take_ready(10, later);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].reconsume_times, 1);
    }

    #[test]
    fn released_commits_nothing() {
        let now = Instant::now();
        let mut q = pulling(0);
        q.on_pulled(msgs(&[0, 1]), 2, now).unwrap();
        q.take_ready(10, now);
        q.drain().unwrap();
        assert!(q.take_ready(10, now).is_empty());
        assert!(q.on_pulled(msgs(&[2]), 3, now).is_err());
        q.settle(&[0]).unwrap();
        assert_eq!(q.committable_offset(), Some(1));
        let c = q.release().unwrap();
        assert_eq!(c.messages, 1);
        assert_eq!(q.committable_offset(), None);
        assert!(q.settle(&[1]).is_err());
    }
}
