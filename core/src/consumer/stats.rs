//! Consumption statistics, kept as Java's `ConsumerStatsManager` keeps them for the
//! broker's GET_CONSUMER_RUNNING_INFO (the dashboard's and `mqadmin consumerStatus`'s
//! numbers): per topic, pull and consume response times and rates over the last minute, and
//! failed messages over the last hour. Plus cumulative pull counts for metrics.
//!
//! Time comes in as `now`; the windows are rings of fixed slots, so memory is constant.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::body::ConsumeStatus;

/// Slots of a window (a minute of seconds, an hour of minutes).
const SLOTS: usize = 60;

/// One slot: which period it holds, how many records and their sum.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    period: u64,
    times: u64,
    value: u64,
}

/// Records over the last [`SLOTS`] periods of `period` each.
#[derive(Debug, Clone)]
struct Window {
    origin: Instant,
    period: Duration,
    slots: [Slot; SLOTS],
}

impl Window {
    fn new(origin: Instant, period: Duration) -> Self {
        Self {
            origin,
            period,
            slots: [Slot::default(); SLOTS],
        }
    }

    fn period_of(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / self.period.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    fn add(&mut self, now: Instant, value: u64) {
        let period = self.period_of(now);
        let slot = &mut self.slots[(period % SLOTS as u64) as usize];
        if slot.period != period || slot.times == 0 {
            *slot = Slot {
                period,
                ..Slot::default()
            };
        }
        slot.times += 1;
        slot.value = slot.value.saturating_add(value);
    }

    /// Records and their sum within the window ending at `now`.
    fn sum(&self, now: Instant) -> (u64, u64) {
        let current = self.period_of(now);
        let oldest = current.saturating_sub(SLOTS as u64 - 1);
        self.slots
            .iter()
            .filter(|s| s.times > 0 && (oldest..=current).contains(&s.period))
            .fold((0, 0), |(t, v), s| (t + s.times, v.saturating_add(s.value)))
    }

    /// The sum per second over the window (over the time since `origin` while that is
    /// shorter, at least a second).
    fn rate(&self, now: Instant) -> f64 {
        let window = self.period * SLOTS as u32;
        let seconds = now
            .saturating_duration_since(self.origin)
            .min(window)
            .as_secs_f64()
            .max(1.0);
        self.sum(now).1 as f64 / seconds
    }

    /// The mean of the records within the window, 0 without any.
    fn mean(&self, now: Instant) -> f64 {
        match self.sum(now) {
            (0, _) => 0.0,
            (times, value) => value as f64 / times as f64,
        }
    }
}

/// One topic's windows.
#[derive(Debug, Clone)]
struct TopicStats {
    /// Pull response times (ms) of pulls that found messages.
    pull_rt: Window,
    /// Messages pulled.
    pulled: Window,
    /// Handler times (ms) per delivery.
    consume_rt: Window,
    /// Messages consumed.
    consumed_ok: Window,
    /// Messages that failed (sent back, suspended).
    consumed_failed: Window,
    /// The same over the last hour.
    failed_hour: Window,
}

impl TopicStats {
    fn new(now: Instant) -> Self {
        let second = Duration::from_secs(1);
        Self {
            pull_rt: Window::new(now, second),
            pulled: Window::new(now, second),
            consume_rt: Window::new(now, second),
            consumed_ok: Window::new(now, second),
            consumed_failed: Window::new(now, second),
            failed_hour: Window::new(now, Duration::from_secs(60)),
        }
    }
}

/// Pulls since the consumer started, by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullCounts {
    /// Pulls that returned messages.
    pub found: u64,
    /// Pulls answered without messages (nothing new, nothing matched, offset moved).
    pub empty: u64,
    /// Pulls that failed (no answer, or an error code).
    pub failed: u64,
    /// Messages the pulls returned.
    pub messages: u64,
}

/// A consumer's statistics.
#[derive(Debug, Clone, Default)]
pub struct ConsumeStatsBook {
    topics: BTreeMap<String, TopicStats>,
    pulls: PullCounts,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ConsumeStatsBook {
    fn topic(&mut self, now: Instant, topic: &str) -> &mut TopicStats {
        // Looked up first: every pull and ack lands here, and the topic is new only once.
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_owned(), TopicStats::new(now));
        }
        self.topics
            .get_mut(topic)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// A pull of `topic` answered after `rt` with `messages` (Java counts the response time
    /// of pulls that found messages only).
    pub fn pull_found(&mut self, now: Instant, topic: &str, rt: Duration, messages: usize) {
        self.pulls.found += 1;
        self.pulls.messages += messages as u64;
        let t = self.topic(now, topic);
        t.pull_rt.add(now, millis(rt));
        t.pulled.add(now, messages as u64);
    }

    /// A pull answered without messages.
    pub fn pull_empty(&mut self) {
        self.pulls.empty += 1;
    }

    /// A pull that failed.
    pub fn pull_failed(&mut self) {
        self.pulls.failed += 1;
    }

    /// A delivery of `messages` from `topic` settled after `rt`: consumed (`ok`) or not.
    pub fn consumed(&mut self, now: Instant, topic: &str, messages: usize, rt: Duration, ok: bool) {
        let t = self.topic(now, topic);
        t.consume_rt.add(now, millis(rt));
        if ok {
            t.consumed_ok.add(now, messages as u64);
        } else {
            t.consumed_failed.add(now, messages as u64);
            t.failed_hour.add(now, messages as u64);
        }
    }

    /// Pulls since the start.
    pub fn pulls(&self) -> PullCounts {
        self.pulls
    }

    /// Java's `ConsumeStatus` per topic at `now`.
    pub fn status(&self, now: Instant) -> BTreeMap<String, ConsumeStatus> {
        self.topics
            .iter()
            .map(|(topic, t)| {
                let status = ConsumeStatus {
                    pull_rt: t.pull_rt.mean(now),
                    pull_tps: t.pulled.rate(now),
                    consume_rt: t.consume_rt.mean(now),
                    consume_ok_tps: t.consumed_ok.rate(now),
                    consume_failed_tps: t.consumed_failed.rate(now),
                    consume_failed_msgs: i64::try_from(t.failed_hour.sum(now).1)
                        .unwrap_or(i64::MAX),
                };
                (topic.clone(), status)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rates_and_means_cover_the_last_minute() {
        let t0 = Instant::now();
        let mut book = ConsumeStatsBook::default();
        book.pull_found(t0, "T", Duration::from_millis(10), 30);
        book.pull_found(t0 + secs(1), "T", Duration::from_millis(30), 30);
        book.pull_empty();
        book.pull_failed();
        let s = &book.status(t0 + secs(2))["T"];
        // 60 messages over the 2 s the consumer has existed.
        assert_eq!(s.pull_tps, 30.0);
        assert_eq!(s.pull_rt, 20.0);
        assert_eq!(
            book.pulls(),
            PullCounts {
                found: 2,
                empty: 1,
                failed: 1,
                messages: 60
            }
        );
        // A minute later, only what happened within the minute counts (the first pull is
        // out).
        book.pull_found(t0 + secs(60), "T", Duration::from_millis(50), 120);
        let s = &book.status(t0 + secs(60))["T"];
        assert_eq!(s.pull_tps, 150.0 / 60.0);
        assert_eq!(s.pull_rt, 40.0);
        let s = &book.status(t0 + secs(200))["T"];
        assert_eq!((s.pull_tps, s.pull_rt), (0.0, 0.0));
    }

    #[test]
    fn failures_count_for_an_hour() {
        let t0 = Instant::now();
        let mut book = ConsumeStatsBook::default();
        book.consumed(t0, "T", 4, Duration::from_millis(8), true);
        book.consumed(t0, "T", 2, Duration::from_millis(2), false);
        let s = &book.status(t0 + secs(1))["T"];
        assert_eq!((s.consume_ok_tps, s.consume_failed_tps), (4.0, 2.0));
        assert_eq!(s.consume_rt, 5.0);
        assert_eq!(s.consume_failed_msgs, 2);
        let s = &book.status(t0 + secs(30 * 60))["T"];
        assert_eq!((s.consume_ok_tps, s.consume_failed_msgs), (0.0, 2));
        let s = &book.status(t0 + secs(61 * 60))["T"];
        assert_eq!(s.consume_failed_msgs, 0);
    }

    #[test]
    fn a_slot_reused_after_a_lap_starts_empty() {
        let t0 = Instant::now();
        let mut w = Window::new(t0, secs(1));
        w.add(t0, 5);
        w.add(t0 + secs(60), 7);
        assert_eq!(w.sum(t0 + secs(60)), (1, 7));
    }
}
