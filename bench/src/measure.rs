//! Process measurements: CPU time, peak resident set, latency percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// User + system CPU time of the whole process (every thread) so far.
pub(crate) fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; `getrusage` only writes into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: zero-initialised, and filled in by a successful `getrusage`.
    let usage = unsafe { usage.assume_init() };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

/// Voluntary context switches of the whole process (every thread) so far: each is a thread
/// that blocked and was woken again.
pub(crate) fn voluntary_switches() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; `getrusage` only writes into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: zero-initialised, and filled in by a successful `getrusage`.
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_nvcsw).unwrap_or(0)
}

fn timeval(tv: libc::timeval) -> Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

/// Peak resident set of this process in KiB (`VmHWM` of `/proc/self/status`), if known.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_field_kib(&status, "VmHWM")
}

/// Reads a `Name:   1234 kB` line of a `/proc/<pid>/status` text.
pub(crate) fn status_field_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let value = words.next()?.parse().ok()?;
        match words.next() {
            Some("kB") | None => Some(value),
            Some(_) => None,
        }
    })
}

/// Latencies of one run, in microseconds, in an HdrHistogram (1 µs to an hour, 3
/// significant digits): fixed memory however many samples.
#[derive(Debug, Clone)]
pub(crate) struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant bounds are valid (1 <= low, high >= 2 * low, sigfig 3)"),
        )
    }
}

impl Latencies {
    /// Records one sample (saturating at an hour).
    pub(crate) fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(us.clamp(1, 3_600_000_000));
    }

    /// How many samples.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.0.len()).unwrap_or(usize::MAX)
    }

    /// Percentiles (`p` in 0..=100) of the samples, in microseconds (within 0.1 %); `None`
    /// without samples.
    pub(crate) fn percentiles(&self, ps: &[f64]) -> Option<Vec<u64>> {
        if self.0.is_empty() {
            return None;
        }
        Some(
            ps.iter()
                .map(|p| self.0.value_at_quantile((p / 100.0).clamp(0.0, 1.0)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        // Work until the process has spent 20 ms of CPU: on a busy machine that takes longer
        // than 20 ms of wall time, so the wall clock only bounds a broken measurement.
        let before = cpu_time();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        let mut spent = Duration::ZERO;
        while spent < Duration::from_millis(20) && started.elapsed() < Duration::from_secs(60) {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            spent = cpu_time().saturating_sub(before);
        }
        assert!(
            spent >= Duration::from_millis(20),
            "{spent:?} of CPU after a minute of work ({x})"
        );
    }

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tbench\nVmPeak:\t  10 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM"), Some(2048));
        assert_eq!(status_field_kib(status, "VmRSS"), Some(1024));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        assert_eq!(status_field_kib("VmHWM: lots kB", "VmHWM"), None);
        assert_eq!(status_field_kib("VmHWM: 5 MB", "VmHWM"), None);
    }

    #[test]
    fn own_peak_rss_is_known_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|k| k > 0));
        }
    }

    #[test]
    fn percentiles_of_the_samples() {
        let mut l = Latencies::default();
        for us in (1..=1000).rev() {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.len(), 1000);
        let ps = l.percentiles(&[50.0, 99.0, 100.0, 0.0, 99.9]).unwrap();
        assert_eq!(ps[..4], [500, 990, 1000, 1]);
        // 99.9 % of 1,000: the 999th or (float rounding) the 1,000th sample.
        assert!((999..=1000).contains(&ps[4]), "{ps:?}");

        let mut one = Latencies::default();
        one.record(Duration::from_millis(3));
        // 3 significant digits: within 0.1 % of 3 ms.
        let ps = one.percentiles(&[50.0, 99.0]).unwrap();
        assert!(ps.iter().all(|us| (3000..=3003).contains(us)), "{ps:?}");
        assert_eq!(Latencies::default().percentiles(&[50.0]), None);
    }
}
