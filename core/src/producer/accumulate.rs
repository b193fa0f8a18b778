//! Auto-batching (Java 5.x `autoBatch`, `ProduceAccumulator`): single sends that go the same
//! way are held briefly in a *lane* and leave together as one SEND_BATCH_MESSAGE.
//!
//! A lane is flushed when it is full ([`AutoBatch::max_messages`] or
//! [`AutoBatch::max_bytes`] of encoded batch records), when its first message has waited
//! [`AutoBatch::linger`], or at once when no batch of the lane is in flight: an idle lane
//! adds no delay, so a lone sender pays no linger, and batches form only while the broker is
//! busy with earlier ones (as Nagle's algorithm does for TCP segments).
//! [`AutoBatch::linger_when_idle`] makes an idle lane linger too, as Java does.
//!
//! The accumulator only groups and times; what a batch is and how its result is split
//! belongs to the producer. Nothing here reads a clock: `now` is an argument.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Java's `batchMaxDelayMs` default.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(10);
/// Java's `batchMaxBytes` default.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 32 * 1024;
/// Most messages in one batch by default.
pub const DEFAULT_BATCH_MAX_MESSAGES: usize = 128;

/// How a producer batches concurrent single sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoBatch {
    /// Longest a message waits for others while a batch of its lane is in flight.
    pub linger: Duration,
    /// Most messages in a batch.
    pub max_messages: usize,
    /// Most bytes of encoded batch records in a batch (the request body); at most the
    /// producer's `max_message_size`.
    pub max_bytes: usize,
    /// Linger even when no batch of the lane is in flight (Java's behaviour): larger
    /// batches at light load, at the cost of up to `linger` of latency per send. Off by
    /// default: an idle lane sends at once.
    pub linger_when_idle: bool,
}

impl Default for AutoBatch {
    fn default() -> Self {
        Self {
            linger: DEFAULT_LINGER,
            max_messages: DEFAULT_BATCH_MAX_MESSAGES,
            max_bytes: DEFAULT_BATCH_MAX_BYTES,
            linger_when_idle: false,
        }
    }
}

/// What auto-batching did so far: batches sent and the messages they carried (a batch
/// retried counts once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutoBatchStats {
    /// Batches launched.
    pub batches: u64,
    /// Messages in them.
    pub messages: u64,
}

impl AutoBatchStats {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: AutoBatchStats) {
        self.batches += other.batches;
        self.messages += other.messages;
    }
}

/// One held send: what the producer needs back at flush, and its encoded record length.
#[derive(Debug)]
pub struct Held<T> {
    /// The producer's own record of the send.
    pub item: T,
    /// Its batch record length ([`batch_record_len`](super::batch_record_len)).
    pub len: usize,
}

#[derive(Debug)]
struct Lane<T> {
    held: Vec<Held<T>>,
    bytes: usize,
    /// When the first held message arrived.
    since: Option<Instant>,
    /// Batches of this lane in flight.
    in_flight: usize,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Self {
            held: Vec::new(),
            bytes: 0,
            since: None,
            in_flight: 0,
        }
    }
}

/// Lanes of held sends, by key `K`. See the module docs.
#[derive(Debug)]
pub struct Accumulator<K, T> {
    config: AutoBatch,
    lanes: BTreeMap<K, Lane<T>>,
    held: usize,
}

impl<K: Ord + Clone, T> Accumulator<K, T> {
    /// No lanes yet.
    pub fn new(config: AutoBatch) -> Self {
        Self {
            config,
            lanes: BTreeMap::new(),
            held: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &AutoBatch {
        &self.config
    }

    /// Sends held, in every lane.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether a record of `len` bytes can ever be batched (fits a batch alone).
    pub fn fits(&self, len: usize) -> bool {
        len <= self.config.max_bytes
    }

    /// Holds `item` in lane `key`. Returns the batches that leave now, in order: the lane's
    /// held sends when `item` would overflow it, and the lane with `item` when that is full
    /// or idle. A batch returned counts as in flight until [`Accumulator::batch_done`].
    pub fn push(&mut self, now: Instant, key: K, held: Held<T>) -> Vec<(K, Vec<Held<T>>)> {
        let mut out = Vec::new();
        let lane = self.lanes.entry(key.clone()).or_default();
        if !lane.held.is_empty() && lane.bytes + held.len > self.config.max_bytes {
            out.push((key.clone(), self.take(&key)));
        }
        let lane = self.lanes.entry(key.clone()).or_default();
        lane.bytes += held.len;
        lane.since.get_or_insert(now);
        lane.held.push(held);
        self.held += 1;
        let full = lane.held.len() >= self.config.max_messages.max(1)
            || lane.bytes >= self.config.max_bytes;
        if full || (lane.in_flight == 0 && !self.config.linger_when_idle) {
            out.push((key.clone(), self.take(&key)));
        }
        out
    }

    /// When the oldest held send of any lane has lingered long enough.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lanes
            .values()
            .filter_map(|lane| lane.since)
            .min()
            .map(|since| since + self.config.linger)
    }

    /// The lanes whose linger is over at `now`, taken as batches (now in flight).
    pub fn take_due(&mut self, now: Instant) -> Vec<(K, Vec<Held<T>>)> {
        let linger = self.config.linger;
        self.take_where(|lane| lane.since.is_some_and(|since| since + linger <= now))
    }

    /// Every held send, lane by lane (a close or shutdown flushes or fails them).
    pub fn take_all(&mut self) -> Vec<(K, Vec<Held<T>>)> {
        self.take_where(|lane| !lane.held.is_empty())
    }

    /// Takes the lanes `pick` chooses as batches.
    fn take_where(&mut self, pick: impl Fn(&Lane<T>) -> bool) -> Vec<(K, Vec<Held<T>>)> {
        let keys: Vec<K> = self
            .lanes
            .iter()
            .filter(|(_, lane)| pick(lane))
            .map(|(key, _)| key.clone())
            .collect();
        keys.into_iter()
            .map(|key| {
                let batch = self.take(&key);
                (key, batch)
            })
            .collect()
    }

    /// A batch of lane `key` ended; the lane's held sends leave now if it became idle (and
    /// idle lanes do not linger).
    pub fn batch_done(&mut self, key: &K) -> Option<Vec<Held<T>>> {
        let lane = self.lanes.get_mut(key)?;
        lane.in_flight = lane.in_flight.saturating_sub(1);
        if lane.in_flight > 0 {
            return None;
        }
        if lane.held.is_empty() {
            self.lanes.remove(key);
            return None;
        }
        if self.config.linger_when_idle {
            // The held sends linger on; their lane's deadline takes them.
            return None;
        }
        Some(self.take(key))
    }

    /// Takes lane `key`'s held sends as a batch in flight.
    fn take(&mut self, key: &K) -> Vec<Held<T>> {
        let Some(lane) = self.lanes.get_mut(key) else {
            return Vec::new();
        };
        let batch = std::mem::take(&mut lane.held);
        lane.bytes = 0;
        lane.since = None;
        if !batch.is_empty() {
            lane.in_flight += 1;
        }
        self.held -= batch.len();
        batch
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time
    use super::*;

    fn acc(max_messages: usize, max_bytes: usize) -> Accumulator<&'static str, u32> {
        Accumulator::new(AutoBatch {
            linger: Duration::from_millis(10),
            max_messages,
            max_bytes,
            linger_when_idle: false,
        })
    }

    fn items(batches: &[(&'static str, Vec<Held<u32>>)]) -> Vec<(&'static str, Vec<u32>)> {
        batches
            .iter()
            .map(|(k, b)| (*k, b.iter().map(|h| h.item).collect()))
            .collect()
    }

    fn held(item: u32, len: usize) -> Held<u32> {
        Held { item, len }
    }

    #[test]
    fn an_idle_lane_sends_at_once_and_a_busy_one_gathers() {
        let t0 = Instant::now();
        let mut a = acc(3, 1000);
        // Idle: out at once, and the lane is busy now.
        assert_eq!(items(&a.push(t0, "T", held(1, 10))), [("T", vec![1])]);
        assert!(a.push(t0, "T", held(2, 10)).is_empty());
        assert!(a.push(t0, "T", held(3, 10)).is_empty());
        assert_eq!(a.held(), 2);
        // Full at 3: out even though the lane is busy.
        assert_eq!(items(&a.push(t0, "T", held(4, 10))), [("T", vec![2, 3, 4])]);
        assert!(a.push(t0, "T", held(5, 10)).is_empty());
        // The first batch ends: one still in flight, so 5 waits.
        assert!(a.batch_done(&"T").is_none());
        // The second ends: the lane is idle, 5 leaves.
        let left = a.batch_done(&"T").expect("the held send leaves");
        assert_eq!(left.iter().map(|h| h.item).collect::<Vec<_>>(), [5]);
        assert_eq!(a.held(), 0);
        assert!(a.batch_done(&"T").is_none());
        assert!(a.batch_done(&"T").is_none(), "nothing in flight, no lane");
    }

    #[test]
    fn lingering_when_idle_holds_the_first_send_too() {
        let t0 = Instant::now();
        let mut a = Accumulator::new(AutoBatch {
            linger: Duration::from_millis(10),
            max_messages: 3,
            max_bytes: 1000,
            linger_when_idle: true,
        });
        assert!(a.push(t0, "T", held(1, 10)).is_empty());
        assert!(a.push(t0, "T", held(2, 10)).is_empty());
        assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(items(&a.push(t0, "T", held(3, 10))), [("T", vec![1, 2, 3])]);
        assert!(a.push(t0, "T", held(4, 10)).is_empty());
        assert!(a.batch_done(&"T").is_none(), "an idle lane still lingers");
        assert_eq!(
            items(&a.take_due(t0 + Duration::from_millis(10))),
            [("T", vec![4])]
        );
    }

    #[test]
    fn lanes_are_separate() {
        let t0 = Instant::now();
        let mut a = acc(10, 1000);
        assert_eq!(a.push(t0, "A", held(1, 10)).len(), 1);
        // B is idle although A is busy.
        assert_eq!(items(&a.push(t0, "B", held(2, 10))), [("B", vec![2])]);
        assert!(a.push(t0, "A", held(3, 10)).is_empty());
        assert_eq!(
            a.batch_done(&"B").map(|b| b.len()),
            None,
            "B has nothing held"
        );
        assert_eq!(a.batch_done(&"A").map(|b| b.len()), Some(1));
    }

    #[test]
    fn bytes_bound_a_batch() {
        let t0 = Instant::now();
        let mut a = acc(100, 100);
        assert_eq!(a.push(t0, "T", held(0, 1)).len(), 1);
        assert!(a.push(t0, "T", held(1, 40)).is_empty());
        assert!(a.push(t0, "T", held(2, 40)).is_empty());
        // 3 would make 120 > 100: 1 and 2 leave, 3 is held alone.
        assert_eq!(items(&a.push(t0, "T", held(3, 40))), [("T", vec![1, 2])]);
        assert_eq!(a.held(), 1);
        // Exactly the limit is full.
        assert_eq!(items(&a.push(t0, "T", held(4, 60))), [("T", vec![3, 4])]);
        assert!(a.fits(100) && !a.fits(101));
    }

    #[test]
    fn lingering_sends_leave_at_their_deadline() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut a = acc(100, 1000);
        a.push(t0, "T", held(1, 10));
        assert_eq!(a.poll_timeout(), None, "nothing held");
        assert!(a.push(ms(2), "T", held(2, 10)).is_empty());
        assert!(a.push(ms(5), "T", held(3, 10)).is_empty());
        assert_eq!(
            a.poll_timeout(),
            Some(ms(12)),
            "the first held send's linger"
        );
        assert!(a.take_due(ms(11)).is_empty());
        assert_eq!(items(&a.take_due(ms(12))), [("T", vec![2, 3])]);
        assert_eq!(a.poll_timeout(), None);
        // Both batches in flight now; a new send waits for them.
        assert!(a.push(ms(13), "T", held(4, 10)).is_empty());
        assert_eq!(items(&a.take_all()), [("T", vec![4])]);
        assert!(a.take_all().is_empty());
    }
}
