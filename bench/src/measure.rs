//! Process measurements: CPU time, peak resident set, latency percentiles.

use std::time::Duration;

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

/// Latencies of one run, in microseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Latencies(Vec<u64>);

impl Latencies {
    /// Room for `n` samples.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Records one sample.
    pub(crate) fn record(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// How many samples.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentiles (`p` in 0..=100) of the samples, in microseconds; `None`
    /// without samples.
    pub(crate) fn percentiles(mut self, ps: &[f64]) -> Option<Vec<u64>> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let n = self.0.len();
        Some(
            ps.iter()
                .map(|p| {
                    // Nearest rank: ceil(p/100 * n), 1-based, clamped to 1..=n.
                    let rank = ((p / 100.0) * n as f64).ceil() as usize;
                    let index = rank.clamp(1, n) - 1;
                    self.0.get(index).copied().unwrap_or(0)
                })
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
    fn nearest_rank_percentiles() {
        let mut l = Latencies::with_capacity(100);
        for us in (1..=100).rev() {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.len(), 100);
        assert_eq!(
            l.percentiles(&[50.0, 99.0, 100.0, 0.0]),
            Some(vec![50, 99, 100, 1])
        );

        let mut one = Latencies::default();
        one.record(Duration::from_millis(3));
        assert_eq!(one.percentiles(&[50.0, 99.0]), Some(vec![3000, 3000]));
        assert_eq!(Latencies::default().percentiles(&[50.0]), None);
    }
}
