//! Pull flow control: per-queue thresholds and one memory budget across all queues (protocol
//! §6.7 step 1).
//!
//! Java stops pulling a queue whose cache holds more than 1000 messages or 100 MiB, or
//! (concurrent mode) spans more than 2000 offsets, and retries 50 ms later. Per-queue limits
//! alone let a client with many queues cache `queues × 100 MiB`; [`FlowControl`] also keeps
//! one byte budget across every queue of the client (default 512 MiB): while it is used up, no
//! queue pulls, and the budget frees as messages settle.

use std::time::Duration;

use super::config::{ConsumeMode, ConsumerConfig};
use super::process_queue::{CacheChange, ProcessQueue, QueueState};

/// When to pull a queue next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullDecision {
    /// Pull now.
    Now,
    /// Check again after this delay.
    After(Duration),
    /// Do not pull: the queue is not in the `Pulling` state.
    Stop,
}

/// Which limit holds a queue back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowLimit {
    /// The queue caches too many messages.
    QueueCount,
    /// The queue caches too many bytes.
    QueueBytes,
    /// Concurrent mode: the cached offsets span too far (one slow message holds the rest).
    Span,
    /// All queues together cache too many bytes.
    Global,
}

/// Thresholds and the global byte accounting. The client keeps one per consumer group and
/// reports every [`CacheChange`] of its process queues to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowControl {
    mode: ConsumeMode,
    per_queue_count: u64,
    per_queue_bytes: u64,
    max_span: u64,
    global_bytes: u64,
    delay: Duration,
    used_bytes: u64,
    used_messages: u64,
}

impl FlowControl {
    /// Flow control with `config`'s thresholds.
    pub fn new(config: &ConsumerConfig) -> Self {
        Self {
            mode: config.consume_mode,
            per_queue_count: config.pull_threshold_for_queue,
            per_queue_bytes: config.pull_threshold_size_for_queue,
            max_span: config.consume_concurrently_max_span,
            global_bytes: config.cache_budget_bytes,
            delay: config.delay_when_flow_control,
            used_bytes: 0,
            used_messages: 0,
        }
    }

    /// Replaces the per-queue thresholds (e.g. derived from topic-level ones after a rebalance).
    pub fn set_queue_thresholds(&mut self, count: u64, bytes: u64) {
        self.per_queue_count = count;
        self.per_queue_bytes = bytes;
    }

    /// Messages entered some queue's cache.
    pub fn on_cached(&mut self, change: CacheChange) {
        self.used_bytes = self.used_bytes.saturating_add(change.bytes);
        self.used_messages = self.used_messages.saturating_add(change.messages);
    }

    /// Messages left some queue's cache (settled, dropped or released).
    pub fn on_freed(&mut self, change: CacheChange) {
        self.used_bytes = self.used_bytes.saturating_sub(change.bytes);
        self.used_messages = self.used_messages.saturating_sub(change.messages);
    }

    /// Re-derives the global totals from every live queue (a consistency check).
    pub fn recount<'a>(&mut self, queues: impl IntoIterator<Item = &'a ProcessQueue>) {
        let (mut bytes, mut messages) = (0u64, 0u64);
        for q in queues {
            bytes = bytes.saturating_add(q.cached_bytes());
            messages = messages.saturating_add(q.cached_count());
        }
        self.used_bytes = bytes;
        self.used_messages = messages;
    }

    /// Bytes cached across all queues.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Messages cached across all queues.
    pub fn used_messages(&self) -> u64 {
        self.used_messages
    }

    /// The first limit that holds `queue` back, if any. A limit is exceeded when the value is
    /// strictly greater (Java's `>`), except the global budget, which is full at equality.
    pub fn limit_hit(&self, queue: &ProcessQueue) -> Option<FlowLimit> {
        if queue.cached_count() > self.per_queue_count {
            Some(FlowLimit::QueueCount)
        } else if queue.cached_bytes() > self.per_queue_bytes {
            Some(FlowLimit::QueueBytes)
        } else if self.mode == ConsumeMode::Concurrently && queue.offset_span() > self.max_span {
            Some(FlowLimit::Span)
        } else if self.used_bytes >= self.global_bytes {
            Some(FlowLimit::Global)
        } else {
            None
        }
    }

    /// Whether to pull `queue` now.
    pub fn should_pull(&self, queue: &ProcessQueue) -> PullDecision {
        if queue.state() != QueueState::Pulling {
            return PullDecision::Stop;
        }
        match self.limit_hit(queue) {
            Some(_) => PullDecision::After(self.delay),
            None => PullDecision::Now,
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time
mod tests {
    use super::*;
    use crate::body::MessageQueue;
    use crate::message::{Message, MessageExt};
    use std::time::Instant;

    fn msgs(range: std::ops::Range<i64>, size: usize) -> Vec<MessageExt> {
        range
            .map(|o| {
                let mut e = MessageExt::from_message(Message::new("t", vec![0u8; size]));
                e.queue_offset = o;
                e
            })
            .collect()
    }

    fn queue(id: i32) -> ProcessQueue {
        let mut q = ProcessQueue::new(MessageQueue::new("t", "b", id));
        q.start(0).unwrap();
        q
    }

    #[test]
    fn per_queue_count_and_span() {
        let now = Instant::now();
        let mut f = FlowControl::new(&ConsumerConfig::default());
        let mut q = queue(0);
        assert_eq!(f.should_pull(&q), PullDecision::Now);
        f.on_cached(q.on_pulled(msgs(0..1001, 1), 1001, now).unwrap());
        assert_eq!(f.limit_hit(&q), Some(FlowLimit::QueueCount));
        assert_eq!(
            f.should_pull(&q),
            PullDecision::After(Duration::from_millis(50))
        );
        let offs: Vec<i64> = (1..1000).collect();
        q.take_ready(2000, now);
        f.on_freed(q.settle(&offs).unwrap());
        assert_eq!(q.cached_count(), 2);
        assert_eq!(q.offset_span(), 1000);
        assert_eq!(f.limit_hit(&q), None);
        f.on_cached(q.on_pulled(msgs(1001..2002, 1), 2002, now).unwrap());
        f.on_freed(q.settle(&(1000..2001).collect::<Vec<_>>()).unwrap());
        assert_eq!(q.offset_span(), 2001);
        assert_eq!(f.limit_hit(&q), Some(FlowLimit::Span));
        assert_eq!(f.used_messages(), 2);
    }

    #[test]
    fn orderly_ignores_span() {
        let now = Instant::now();
        let cfg = ConsumerConfig {
            consume_mode: ConsumeMode::Orderly,
            ..ConsumerConfig::default()
        };
        let f = FlowControl::new(&cfg);
        let mut q = queue(0);
        let mut m = msgs(0..1, 1);
        m.extend(msgs(5000..5001, 1));
        q.on_pulled(m, 5001, now).unwrap();
        assert_eq!(f.limit_hit(&q), None);
    }

    #[test]
    fn global_budget_spans_queues() {
        let now = Instant::now();
        let cfg = ConsumerConfig {
            cache_budget_bytes: 1000,
            ..ConsumerConfig::default()
        };
        let mut f = FlowControl::new(&cfg);
        let mut a = queue(0);
        let mut b = queue(1);
        f.on_cached(a.on_pulled(msgs(0..6, 100), 6, now).unwrap());
        assert_eq!(f.should_pull(&b), PullDecision::Now);
        f.on_cached(b.on_pulled(msgs(0..4, 100), 4, now).unwrap());
        assert_eq!(f.used_bytes(), 1000);
        assert_eq!(f.limit_hit(&b), Some(FlowLimit::Global));
        assert_eq!(f.limit_hit(&a), Some(FlowLimit::Global));
        a.take_ready(1, now);
        f.on_freed(a.settle(&[0]).unwrap());
        assert_eq!(f.should_pull(&b), PullDecision::Now);
        a.drain().unwrap();
        assert_eq!(f.should_pull(&a), PullDecision::Stop);
        f.on_freed(a.release().unwrap());
        assert_eq!(f.used_bytes(), 400);
        let mut g = FlowControl::new(&cfg);
        g.recount([&a, &b]);
        assert_eq!(g, f);
    }

    #[test]
    fn bytes_threshold() {
        let now = Instant::now();
        let mut f = FlowControl::new(&ConsumerConfig::default());
        f.set_queue_thresholds(10, 50);
        let mut q = queue(0);
        q.on_pulled(msgs(0..1, 51), 1, now).unwrap();
        assert_eq!(f.limit_hit(&q), Some(FlowLimit::QueueBytes));
    }
}
