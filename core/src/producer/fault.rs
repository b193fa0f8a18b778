//! Broker fault isolation and queue selection for ordinary sends (Java `MQFaultStrategy` and
//! `LatencyFaultToleranceImpl`, protocol §6.3).
//!
//! After every send attempt the producer reports the broker's latency (or an isolation, for
//! transport failures) with [`LatencyFaultTolerance::update`]. A broker whose latency was high
//! is *not available* for the duration the [`LatencyTable`] gives; [`select_queue`] then
//! prefers queues of available brokers other than the one that just failed.
//!
//! [`select_queue`]: LatencyFaultTolerance::select_queue

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::publish::TopicPublishInfo;
use crate::body::MessageQueue;
use crate::time::Rng;

/// The latency Java records for an isolated broker (a transport failure): 10 000 ms, which the
/// Java table maps to 10 000 ms of unavailability.
pub const ISOLATION_LATENCY: Duration = Duration::from_millis(10_000);

/// Latency → not-available-duration steps (Java `latencyMax` / `notAvailableDuration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyTable {
    /// `(latency at least, not available for)`, ascending by latency.
    steps: Vec<(Duration, Duration)>,
}

impl Default for LatencyTable {
    fn default() -> Self {
        Self::java()
    }
}

impl LatencyTable {
    /// Java's steps: latency ≥ 50/100/550/1800/3000/5000/15000 ms → not available for
    /// 0/0/2000/5000/6000/10000/30000 ms; below 50 ms → 0.
    pub fn java() -> Self {
        const MS: [(u64, u64); 7] = [
            (50, 0),
            (100, 0),
            (550, 2_000),
            (1_800, 5_000),
            (3_000, 6_000),
            (5_000, 10_000),
            (15_000, 30_000),
        ];
        Self::new(
            MS.iter()
                .map(|&(l, d)| (Duration::from_millis(l), Duration::from_millis(d)))
                .collect(),
        )
    }

    /// A custom table of `(latency at least, not available for)` steps (any order).
    pub fn new(mut steps: Vec<(Duration, Duration)>) -> Self {
        steps.sort();
        LatencyTable { steps }
    }

    /// The steps, ascending by latency.
    pub fn steps(&self) -> &[(Duration, Duration)] {
        &self.steps
    }

    /// Java `computeNotAvailableDuration`: the duration of the largest step whose latency is
    /// at most `latency`, or zero below the first step.
    pub fn not_available_for(&self, latency: Duration) -> Duration {
        self.steps
            .iter()
            .rev()
            .find(|(min, _)| latency >= *min)
            .map_or(Duration::ZERO, |(_, d)| *d)
    }
}

/// What is known about one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FaultItem {
    latency: Duration,
    available_at: Instant,
    reachable: bool,
}

/// Per-broker-name fault state and the queue selection that uses it.
#[derive(Debug, Clone)]
pub struct LatencyFaultTolerance {
    enabled: bool,
    table: LatencyTable,
    items: HashMap<String, FaultItem>,
}

impl LatencyFaultTolerance {
    /// Fault tolerance on (`enabled`) or off, with `table`'s steps.
    pub fn new(enabled: bool, table: LatencyTable) -> Self {
        LatencyFaultTolerance {
            enabled,
            table,
            items: HashMap::new(),
        }
    }

    /// Whether latencies are recorded and used for selection.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Java `updateFaultItem(broker, latency, isolation, reachable = !isolation)`: when enabled,
    /// the broker becomes unavailable until `now + table(isolation ? 10 s : latency)`. The
    /// unavailability is only ever extended, never shortened (a fast send does not clear an
    /// earlier isolation). An isolation also marks the broker unreachable, a non-isolated
    /// report reachable again. Does nothing when disabled.
    pub fn update(&mut self, broker: &str, latency: Duration, isolation: bool, now: Instant) {
        if !self.enabled {
            return;
        }
        let duration = self.table.not_available_for(if isolation {
            ISOLATION_LATENCY
        } else {
            latency
        });
        let item = self
            .items
            .entry(broker.to_owned())
            .or_insert_with(|| FaultItem {
                latency,
                available_at: now,
                reachable: true,
            });
        item.latency = latency;
        item.reachable = !isolation;
        if duration > Duration::ZERO {
            let until = now.checked_add(duration).unwrap_or(now);
            if until > item.available_at {
                item.available_at = until;
            }
        }
    }

    /// Whether `broker` may be chosen at `now` (unknown brokers are available).
    pub fn is_available(&self, broker: &str, now: Instant) -> bool {
        self.items
            .get(broker)
            .is_none_or(|item| now >= item.available_at)
    }

    /// The brokers not available at `now` (isolated after a failure, or slow), sorted.
    pub fn unavailable(&self, now: Instant) -> Vec<&str> {
        let mut brokers: Vec<&str> = self
            .items
            .iter()
            .filter(|(_, item)| now < item.available_at)
            .map(|(name, _)| name.as_str())
            .collect();
        brokers.sort_unstable();
        brokers
    }

    /// The brokers not available at `now` with the instant each becomes available again.
    pub fn unavailable_until(&self, now: Instant) -> impl Iterator<Item = (&str, Instant)> {
        self.items
            .iter()
            .filter(move |(_, item)| now < item.available_at)
            .map(|(name, item)| (name.as_str(), item.available_at))
    }

    /// Whether `broker` is believed reachable (unknown brokers are).
    pub fn is_reachable(&self, broker: &str) -> bool {
        self.items.get(broker).is_none_or(|item| item.reachable)
    }

    /// Marks `broker` reachable again (a successful probe).
    pub fn mark_reachable(&mut self, broker: &str) {
        if let Some(item) = self.items.get_mut(broker) {
            item.reachable = true;
        }
    }

    /// The instant `broker` becomes available again, if it is known.
    pub fn available_at(&self, broker: &str) -> Option<Instant> {
        self.items.get(broker).map(|item| item.available_at)
    }

    /// The last latency reported for `broker`.
    pub fn latency(&self, broker: &str) -> Option<Duration> {
        self.items.get(broker).map(|item| item.latency)
    }

    /// Forgets `broker` (it left every route).
    pub fn remove(&mut self, broker: &str) {
        self.items.remove(broker);
    }

    /// Java `MQFaultStrategy.selectOneMessageQueue(info, lastBrokerName, resetIndex)`.
    ///
    /// `last_broker` is the broker of the previous attempt of this send (`None` on the first
    /// attempt); a retry (`Some`) with fault tolerance on restarts the round robin at a random
    /// value from `rng`, as Java's `resetIndex`. Then, taking queues by round robin:
    ///
    /// * enabled: the first queue whose broker is not `last_broker` and is available; else not
    ///   `last_broker` and reachable; else the next queue;
    /// * disabled: the first queue whose broker is not `last_broker`; else the next queue.
    ///
    /// `None` only when `info` has no queue.
    pub fn select_queue(
        &self,
        info: &mut TopicPublishInfo,
        last_broker: Option<&str>,
        now: Instant,
        rng: &mut Rng,
    ) -> Option<MessageQueue> {
        let other = |q: &MessageQueue| last_broker != Some(q.broker_name.as_str());
        if self.enabled {
            if last_broker.is_some() {
                info.reset_index(rng);
            }
            if let Some(q) =
                info.next_queue_where(|q| other(q) && self.is_available(&q.broker_name, now))
            {
                return Some(q.clone());
            }
            if let Some(q) =
                info.next_queue_where(|q| other(q) && self.is_reachable(&q.broker_name))
            {
                return Some(q.clone());
            }
        } else if let Some(q) = info.next_queue_where(other) {
            return Some(q.clone());
        }
        info.next_queue().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn java_steps() {
        // Java MQFaultStrategy: latencyMax {50,100,550,1800,3000,5000,15000},
        // notAvailableDuration {0,0,2000,5000,6000,10000,30000}.
        let t = LatencyTable::java();
        let cases = [
            (0, 0),
            (49, 0),
            (50, 0),
            (99, 0),
            (100, 0),
            (549, 0),
            (550, 2_000),
            (1_799, 2_000),
            (1_800, 5_000),
            (3_000, 6_000),
            (4_999, 6_000),
            (5_000, 10_000),
            (10_000, 10_000),
            (14_999, 10_000),
            (15_000, 30_000),
            (u64::MAX / 1_000_000, 30_000),
        ];
        for (latency, expected) in cases {
            assert_eq!(t.not_available_for(ms(latency)), ms(expected), "{latency}");
        }
        assert_eq!(t.not_available_for(ISOLATION_LATENCY), ms(10_000));
    }

    #[test]
    fn custom_table_is_sorted() {
        let t = LatencyTable::new(vec![(ms(200), ms(9)), (ms(100), ms(1))]);
        assert_eq!(t.not_available_for(ms(150)), ms(1));
        assert_eq!(t.not_available_for(ms(250)), ms(9));
        assert_eq!(t.not_available_for(ms(50)), ms(0));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time
    fn unavailability_only_extends() {
        let t0 = Instant::now();
        let mut f = LatencyFaultTolerance::new(true, LatencyTable::java());
        assert!(f.is_available("a", t0));
        f.update("a", ms(600), false, t0);
        assert!(!f.is_available("a", t0 + ms(1_999)));
        assert!(f.is_available("a", t0 + ms(2_000)));
        f.update("a", ms(1), true, t0);
        assert!(!f.is_reachable("a"));
        assert!(!f.is_available("a", t0 + ms(9_999)));
        // A fast send does not shorten the isolation, but marks the broker reachable.
        f.update("a", ms(1), false, t0 + ms(1));
        assert!(f.is_reachable("a"));
        assert_eq!(f.available_at("a"), Some(t0 + ms(10_000)));
        assert_eq!(f.latency("a"), Some(ms(1)));
        f.update("b", ms(1), false, t0);
        assert_eq!(f.unavailable(t0 + ms(9_999)), vec!["a"]);
        assert!(f.unavailable(t0 + ms(10_000)).is_empty());
        f.remove("a");
        assert!(f.is_available("a", t0));

        let mut off = LatencyFaultTolerance::new(false, LatencyTable::java());
        off.update("a", ms(20_000), true, t0);
        assert!(off.is_available("a", t0) && off.is_reachable("a"));
    }
}
