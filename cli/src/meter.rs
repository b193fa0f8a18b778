//! `--metrics`: what a run moved and how fast, with latency percentiles kept in bounded
//! memory (an HdrHistogram of microseconds, 3 significant digits) however long it runs.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency recorded exactly; longer ones count as this.
const MAX_MICROS: u64 = 3_600_000_000;

/// Latencies of one kind.
#[derive(Debug, Clone)]
pub struct Latencies {
    micros: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// None yet.
    pub fn new() -> Self {
        // 1 µs to an hour at 3 significant digits: a fixed ~200 KiB.
        let micros = Histogram::new_with_bounds(1, MAX_MICROS, 3)
            .expect("constant bounds are valid (1 <= low, high >= 2 * low, sigfig 3)");
        Self { micros }
    }

    /// Records one latency (saturating at an hour).
    pub fn record(&mut self, latency: Duration) {
        self.record_n(latency, 1);
    }

    /// Records `n` equal latencies (a batch).
    pub fn record_n(&mut self, latency: Duration, n: u64) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.micros.saturating_record_n(us.clamp(1, MAX_MICROS), n);
    }

    /// How many were recorded.
    pub fn len(&self) -> u64 {
        self.micros.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `q` quantile (0..=1); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.micros.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.micros.value_at_quantile(q.clamp(0.0, 1.0)))
    }

    /// The largest recorded.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.micros.max())
    }

    /// p50, p99, p999 and max, in ms, as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.len(),
            "p50_ms": ms(self.quantile(0.5)),
            "p99_ms": ms(self.quantile(0.99)),
            "p999_ms": ms(self.quantile(0.999)),
            "max_ms": ms(self.max()),
        })
    }
}

impl fmt::Display for Latencies {
    /// `p50 0.21 ms, p99 1.30 ms, p999 2.02 ms, max 3.10 ms`, or `none` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999)),
            ms(self.max())
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Messages and bytes over a run's wall time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Throughput {
    /// Messages.
    pub messages: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Throughput {
    /// Messages per second (zero for no time).
    pub fn messages_per_sec(&self) -> f64 {
        per_sec(self.messages, self.elapsed)
    }

    /// Body bytes per second (zero for no time).
    pub fn bytes_per_sec(&self) -> f64 {
        per_sec(self.bytes, self.elapsed)
    }

    /// Counts and rates as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "messages": self.messages,
            "bytes": self.bytes,
            "elapsed_ms": ms(self.elapsed),
            "msgs_per_sec": self.messages_per_sec(),
            "bytes_per_sec": self.bytes_per_sec(),
        })
    }
}

impl fmt::Display for Throughput {
    /// `1000 messages, 1.00 MiB in 2.00 s: 500 msgs/s, 0.50 MiB/s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: f64 = 1024.0 * 1024.0;
        write!(
            f,
            "{} messages, {:.2} MiB in {:.2} s: {:.0} msgs/s, {:.2} MiB/s",
            self.messages,
            self.bytes as f64 / MIB,
            self.elapsed.as_secs_f64(),
            self.messages_per_sec(),
            self.bytes_per_sec() / MIB
        )
    }
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// How long ago, by the wall clock, a message was born (`born_ms` since the epoch, as its
/// producer's clock said); zero when that clock is ahead of ours.
pub fn since_born(born_ms: i64, now: std::time::SystemTime) -> Duration {
    let now_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Duration::from_millis(u64::try_from(now_ms.saturating_sub(born_ms)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_what_was_recorded() {
        let mut l = Latencies::new();
        assert_eq!(l.to_string(), "none");
        assert_eq!(l.quantile(0.5), Duration::ZERO);
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        l.record_n(Duration::from_secs(2), 2);
        assert_eq!(l.len(), 1002);
        // 3 significant digits: within 0.1 %.
        let near = |d: Duration, want_ms: f64| {
            let got = d.as_secs_f64() * 1e3;
            assert!(
                (got - want_ms).abs() <= want_ms * 0.001 + 0.001,
                "{got} vs {want_ms}"
            );
        };
        near(l.quantile(0.5), 501.0);
        near(l.quantile(0.99), 992.0);
        near(l.quantile(0.999), 2000.0);
        near(l.max(), 2000.0);
        let shown = l.to_string();
        assert!(
            shown.starts_with("p50 501.") && shown.contains(", max 200"),
            "{shown}"
        );
        let json = l.to_json();
        assert_eq!(json["count"], 1002);
        assert!(json["p99_ms"].as_f64().unwrap() > 990.0);
    }

    #[test]
    fn latencies_out_of_range_saturate() {
        let mut l = Latencies::new();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(10 * 3600));
        assert_eq!(l.len(), 2);
        assert_eq!(l.quantile(0.0), Duration::from_micros(1));
        assert!(l.max() >= Duration::from_secs(3599));
    }

    #[test]
    fn throughput_rates() {
        let t = Throughput {
            messages: 1000,
            bytes: 2 * 1024 * 1024,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(t.messages_per_sec(), 500.0);
        assert_eq!(
            t.to_string(),
            "1000 messages, 2.00 MiB in 2.00 s: 500 msgs/s, 1.00 MiB/s"
        );
        assert_eq!(Throughput::default().messages_per_sec(), 0.0);
        assert_eq!(t.to_json()["bytes_per_sec"], 1024.0 * 1024.0);
    }

    #[test]
    fn age_from_born_time() {
        let now = std::time::UNIX_EPOCH + Duration::from_millis(10_000);
        assert_eq!(since_born(9_250, now), Duration::from_millis(750));
        assert_eq!(
            since_born(11_000, now),
            Duration::ZERO,
            "a clock ahead of ours"
        );
    }
}
