//! The table of periodic jobs: one slot per job, the next wake-up is the earliest slot.

use std::time::Instant;

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

/// When each job is due; `None` when not armed.
#[derive(Debug, Default)]
pub(super) struct Timers([Option<Instant>; ALL.len()]);

impl Timers {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.0[timer as usize].is_some()
    }

    pub(super) fn clear(&mut self) {
        self.0 = Default::default();
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// Takes one job due at or before `now` (disarming it), if any.
    pub(super) fn expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = ALL
            .into_iter()
            .find(|t| self.0[*t as usize].is_some_and(|at| at <= now))?;
        self.0[timer as usize] = None;
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
        let mut timers = Timers::default();
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
}
