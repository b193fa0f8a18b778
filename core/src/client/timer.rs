//! The table of periodic jobs: one slot per job, the next wake-up is the earliest slot.
//!
//! Jobs are armed on a grid of their own period from one origin (the client's creation):
//! every 5 s job falls due on the same instants as the 20 s and 30 s ones, so one wake-up
//! serves all the jobs due then, and an idle client wakes only as often as its shortest
//! period, not once per job. A job due within [`SLACK`] runs in a wake-up the client has
//! anyway (bytes that came a moment before it), not in one of its own a moment later.

use std::time::{Duration, Instant};

/// How early a job may run when the client is awake anyway.
pub(in crate::client) const SLACK: Duration = Duration::from_millis(50);

/// A periodic job of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Fetch the routes of topics in use again.
    RouteRefresh = 0,
    /// Heartbeat every broker.
    Heartbeat = 1,
    /// Rebalance every consumer.
    Rebalance = 2,
    /// Persist consumer offsets.
    PersistOffsets = 3,
    /// Renew orderly consumers' queue locks.
    LockRenew = 4,
    /// Give up on deliveries out with the user past the consume timeout.
    ConsumeTimeout = 5,
}

const ALL: [Timer; 6] = [
    Timer::RouteRefresh,
    Timer::Heartbeat,
    Timer::Rebalance,
    Timer::PersistOffsets,
    Timer::LockRenew,
    Timer::ConsumeTimeout,
];

/// When each job is due (`None` when not armed), and the origin of the grid.
#[derive(Debug)]
pub(in crate::client) struct Timers {
    due: [Option<Instant>; ALL.len()],
    origin: Instant,
}

impl Timers {
    /// No job armed; the grid starts at `origin`.
    pub(super) fn new(origin: Instant) -> Self {
        Self {
            due: Default::default(),
            origin,
        }
    }

    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.due[timer as usize] = Some(at);
    }

    /// Arms `timer` at the first multiple of `every` from the origin more than [`SLACK`]
    /// after `now`: exactly `every` after the instant it was due for a job re-armed as it
    /// runs (also when it ran up to [`SLACK`] early).
    pub(super) fn arm_every(&mut self, timer: Timer, now: Instant, every: Duration) {
        let every_ns = every.as_nanos().max(1);
        let since = (now + SLACK)
            .saturating_duration_since(self.origin)
            .as_nanos();
        let offset = (since / every_ns + 1).saturating_mul(every_ns);
        let offset = Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
        let at = self.origin.checked_add(offset).unwrap_or(now + every);
        self.set(timer, at);
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.due[timer as usize].is_some()
    }

    /// Disarms `timer`.
    pub(super) fn unset(&mut self, timer: Timer) {
        self.due[timer as usize] = None;
    }

    pub(super) fn clear(&mut self) {
        self.due = Default::default();
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.due.iter().flatten().min().copied()
    }

    /// The latest instant in `(after, until]` at which a job is due, if any: where a wait
    /// of the client's own choosing (a long poll's hold) can end without a wake-up of its
    /// own.
    pub(in crate::client) fn latest_due_within(
        &self,
        after: Instant,
        until: Instant,
    ) -> Option<Instant> {
        self.due
            .iter()
            .flatten()
            .filter(|at| after < **at && **at <= until)
            .max()
            .copied()
    }

    /// Takes one job due at or before `now` + [`SLACK`] (disarming it), if any.
    pub(super) fn expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = ALL
            .into_iter()
            .find(|t| self.due[*t as usize].is_some_and(|at| at <= now + SLACK))?;
        self.due[timer as usize] = None;
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn earliest_first_and_early_calls_do_nothing() {
        let t0 = Instant::now();
        let mut timers = Timers::new(t0);
        assert_eq!(timers.next(), None);
        timers.set(Timer::Heartbeat, t0 + Duration::from_secs(2));
        timers.set(Timer::RouteRefresh, t0 + Duration::from_secs(1));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.expired(t0), None);
        assert_eq!(
            timers.expired(t0 + Duration::from_secs(1)),
            Some(Timer::RouteRefresh)
        );
        assert_eq!(timers.expired(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            timers.expired(t0 + Duration::from_secs(5)),
            Some(Timer::Heartbeat)
        );
        assert_eq!(timers.next(), None);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn the_latest_job_within_a_window_is_found() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timers = Timers::new(t0);
        assert_eq!(timers.latest_due_within(t0, t0 + s(60)), None);
        timers.arm_every(Timer::Rebalance, t0 + s(1), s(20));
        timers.arm_every(Timer::Heartbeat, t0 + s(1), s(30));
        // Due at 20 and 30.
        assert_eq!(
            timers.latest_due_within(t0 + s(5), t0 + s(25)),
            Some(t0 + s(20))
        );
        assert_eq!(
            timers.latest_due_within(t0 + s(5), t0 + s(30)),
            Some(t0 + s(30))
        );
        // The window is open at its start and closed at its end.
        assert_eq!(timers.latest_due_within(t0 + s(20), t0 + s(29)), None);
        assert_eq!(
            timers.latest_due_within(t0 + s(21), t0 + s(40)),
            Some(t0 + s(30))
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn a_job_within_the_slack_runs_early_and_keeps_its_grid() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timers = Timers::new(t0);
        timers.arm_every(Timer::Rebalance, t0 + s(1), s(20));
        let early = t0 + s(20) - SLACK;
        assert_eq!(timers.expired(early - Duration::from_millis(1)), None);
        assert_eq!(timers.expired(early), Some(Timer::Rebalance));
        // Re-armed as it runs: the next instant of its grid, not the one it ran early for.
        timers.arm_every(Timer::Rebalance, early, s(20));
        assert_eq!(timers.next(), Some(t0 + s(40)));
        // Armed anew a moment before a grid instant: the one after.
        timers.arm_every(Timer::Heartbeat, t0 + s(30) - SLACK / 2, s(30));
        assert_eq!(timers.latest_due_within(t0, t0 + s(90)), Some(t0 + s(60)));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn jobs_fall_due_on_their_periods_grid() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timers = Timers::new(t0);
        // Armed 7 s in: the 5 s job at 10 s, the 20 s one at 20 s, the 30 s one at 30 s.
        timers.arm_every(Timer::PersistOffsets, t0 + s(7), s(5));
        timers.arm_every(Timer::Rebalance, t0 + s(7), s(20));
        timers.arm_every(Timer::Heartbeat, t0 + s(7), s(30));
        assert_eq!(timers.next(), Some(t0 + s(10)));
        // Re-armed as it fires: exactly one period later, so at 20 s it meets the 20 s job.
        assert_eq!(timers.expired(t0 + s(10)), Some(Timer::PersistOffsets));
        timers.arm_every(Timer::PersistOffsets, t0 + s(10), s(5));
        assert_eq!(timers.expired(t0 + s(15)), Some(Timer::PersistOffsets));
        timers.arm_every(Timer::PersistOffsets, t0 + s(15), s(5));
        assert_eq!(timers.next(), Some(t0 + s(20)));
        let mut due: Vec<Timer> = std::iter::from_fn(|| timers.expired(t0 + s(20))).collect();
        due.sort_by_key(|t| *t as usize);
        assert_eq!(
            due,
            [Timer::Rebalance, Timer::PersistOffsets],
            "one wake-up for both"
        );
        // A late fire keeps the grid: fired at 31 s, the 30 s job is next due at 60 s.
        assert_eq!(timers.expired(t0 + s(31)), Some(Timer::Heartbeat));
        timers.arm_every(Timer::Heartbeat, t0 + s(31), s(30));
        assert_eq!(timers.next(), Some(t0 + s(60)));
        timers.unset(Timer::Heartbeat);
        assert!(!timers.is_set(Timer::Heartbeat));
    }
}
