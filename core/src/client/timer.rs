//! The table of periodic jobs: one slot per job, the next wake-up is the earliest slot.
//!
//! Jobs are armed on a grid of their own period from one origin (the client's creation):
//! every 5 s job falls due on the same instants as the 20 s and 30 s ones, so one wake-up
//! serves all the jobs due then, and an idle client wakes only as often as its shortest
//! period, not once per job.

use std::time::{Duration, Instant};

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
pub(super) struct Timers {
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

    /// Arms `timer` at the first multiple of `every` from the origin after `now`: at most
    /// `every` from now, exactly `every` for a job re-armed as it fires.
    pub(super) fn arm_every(&mut self, timer: Timer, now: Instant, every: Duration) {
        let every_ns = every.as_nanos().max(1);
        let since = now.saturating_duration_since(self.origin).as_nanos();
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

    /// Takes one job due at or before `now` (disarming it), if any.
    pub(super) fn expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = ALL
            .into_iter()
            .find(|t| self.due[*t as usize].is_some_and(|at| at <= now))?;
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
