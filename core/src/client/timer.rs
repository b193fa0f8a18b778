//! The table of periodic jobs: one slot per job, the next wake-up is the earliest slot.
//!
//! Jobs are armed on a grid of their own period from one origin (the client's creation):
//! every 5 s job falls due on the same instants as the 20 s and 30 s ones, so one wake-up
//! serves all the jobs due then, and an idle client wakes only as often as its shortest
//! period, not once per job. A job due within [`SLACK`] runs in a wake-up the client has
//! anyway (bytes that came a moment before it), not in one of its own a moment later.
//!
//! Grids of different periods still meet only now and then (a 30 s heartbeat falls between
//! two 20 s rebalances). So the wake-up of a job also runs the jobs due within a third of
//! their period ([`Timers::expired`]), which then keep their grid from the instant they were
//! due: an idle consumer's heartbeat and route refresh run at its rebalance instants, and it
//! wakes every 20 s instead of at 20, 30, 40 and 60 s of each minute. A job runs at most a
//! third of its period early, and as often as before.

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
    /// The period of each job armed on its grid: how early it may run with another.
    every: [Option<Duration>; ALL.len()],
    /// The instant each job taken last was due: re-armed, it is due after that instant,
    /// also when it ran early.
    ran_for: [Option<Instant>; ALL.len()],
    /// The instant of the last call to [`Timers::expired`] that found a job due: calls at
    /// that same instant may take jobs early.
    woken: Option<Instant>,
    origin: Instant,
}

impl Timers {
    /// No job armed; the grid starts at `origin`.
    pub(super) fn new(origin: Instant) -> Self {
        Self {
            due: Default::default(),
            every: Default::default(),
            ran_for: Default::default(),
            woken: None,
            origin,
        }
    }

    /// Arms `timer` at `at`, off any grid: it runs only when due.
    #[cfg(test)]
    fn set(&mut self, timer: Timer, at: Instant) {
        self.due[timer as usize] = Some(at);
        self.every[timer as usize] = None;
    }

    /// Arms `timer` at the first multiple of `every` from the origin more than [`SLACK`]
    /// after `now`, or after the instant it was due when it was taken last, if later: exactly
    /// `every` after that instant for a job re-armed as it runs (also when it ran early).
    pub(super) fn arm_every(&mut self, timer: Timer, now: Instant, every: Duration) {
        let from = self.ran_for[timer as usize]
            .take()
            .map_or(now, |due| due.max(now));
        let every_ns = every.as_nanos().max(1);
        let since = (from + SLACK)
            .saturating_duration_since(self.origin)
            .as_nanos();
        let offset = (since / every_ns + 1).saturating_mul(every_ns);
        let offset = Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
        let at = self.origin.checked_add(offset).unwrap_or(now + every);
        self.due[timer as usize] = Some(at);
        self.every[timer as usize] = Some(every);
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.due[timer as usize].is_some()
    }

    /// Disarms `timer`.
    pub(super) fn unset(&mut self, timer: Timer) {
        self.due[timer as usize] = None;
        self.ran_for[timer as usize] = None;
    }

    pub(super) fn clear(&mut self) {
        self.due = Default::default();
        self.ran_for = Default::default();
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

    /// Takes one job due at or before `now` + [`SLACK`] (disarming it), if any. Once one
    /// was, further calls at the same `now` also take the jobs on a grid due within a third
    /// of their period (plus [`SLACK`]): they run in this wake-up, not in one of their own.
    pub(super) fn expired(&mut self, now: Instant) -> Option<Timer> {
        let due = |t: &Timer| self.due[*t as usize].is_some_and(|at| at <= now + SLACK);
        let early = |t: &Timer| {
            let i = *t as usize;
            self.due[i]
                .zip(self.every[i])
                .is_some_and(|(at, every)| at <= now + every / 3 + SLACK)
        };
        let timer = match ALL.into_iter().find(due) {
            Some(timer) => {
                self.woken = Some(now);
                timer
            }
            None if self.woken == Some(now) => ALL.into_iter().find(early)?,
            None => return None,
        };
        self.ran_for[timer as usize] = self.due[timer as usize].take();
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
        // Re-armed as it fires: exactly one period later.
        assert_eq!(timers.expired(t0 + s(10)), Some(Timer::PersistOffsets));
        assert_eq!(timers.expired(t0 + s(10)), None, "the others are too far");
        timers.arm_every(Timer::PersistOffsets, t0 + s(10), s(5));
        assert_eq!(timers.next(), Some(t0 + s(15)));
        // A late fire keeps the grid: fired at 31 s, the 30 s job is next due at 60 s.
        timers.unset(Timer::PersistOffsets);
        timers.unset(Timer::Rebalance);
        assert_eq!(timers.expired(t0 + s(31)), Some(Timer::Heartbeat));
        timers.arm_every(Timer::Heartbeat, t0 + s(31), s(30));
        assert_eq!(timers.next(), Some(t0 + s(60)));
        timers.unset(Timer::Heartbeat);
        assert!(!timers.is_set(Timer::Heartbeat));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn a_job_wake_up_runs_the_jobs_due_within_a_third_of_their_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timers = Timers::new(t0);
        timers.arm_every(Timer::Rebalance, t0 + s(1), s(20));
        timers.arm_every(Timer::Heartbeat, t0 + s(1), s(30));
        // Nothing due yet: nothing runs early either.
        assert_eq!(timers.expired(t0 + s(19)), None);
        // The rebalance at 20 s (a moment early, within the slack) takes the heartbeat of
        // 30 s with it.
        let now = t0 + s(20) - SLACK / 2;
        assert_eq!(timers.expired(now), Some(Timer::Rebalance));
        assert_eq!(timers.expired(now), Some(Timer::Heartbeat));
        assert_eq!(timers.expired(now), None);
        // Each stays on its grid after the instant it was due, not after the early run.
        timers.arm_every(Timer::Rebalance, now, s(20));
        timers.arm_every(Timer::Heartbeat, now, s(30));
        assert_eq!(timers.next(), Some(t0 + s(40)));
        assert_eq!(timers.latest_due_within(t0, t0 + s(60)), Some(t0 + s(60)));
        // At 40 s the heartbeat of 60 s is two thirds of its period away: not taken.
        assert_eq!(timers.expired(t0 + s(40)), Some(Timer::Rebalance));
        assert_eq!(timers.expired(t0 + s(40)), None);
        // A job armed off any grid runs only when due.
        timers.set(Timer::LockRenew, t0 + s(41));
        timers.arm_every(Timer::Rebalance, t0 + s(40), s(20));
        let at_60: Vec<Timer> = std::iter::from_fn(|| timers.expired(t0 + s(60))).collect();
        assert_eq!(
            at_60,
            [Timer::Heartbeat, Timer::Rebalance, Timer::LockRenew],
            "all due (the lock renewal overdue)"
        );
        timers.set(Timer::LockRenew, t0 + s(81));
        timers.arm_every(Timer::Rebalance, t0 + s(60), s(20));
        assert_eq!(timers.expired(t0 + s(80)), Some(Timer::Rebalance));
        assert_eq!(timers.expired(t0 + s(80)), None, "81 s is on no grid");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    fn an_idle_consumers_jobs_wake_it_every_20_s_as_often_as_before() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let periods = [
            (Timer::Rebalance, s(20)),
            (Timer::Heartbeat, s(30)),
            (Timer::RouteRefresh, s(30)),
        ];
        let mut timers = Timers::new(t0);
        for (timer, every) in periods {
            timers.arm_every(timer, t0, every);
        }
        let (mut wake_ups, mut runs) = (Vec::new(), [0; ALL.len()]);
        while let Some(now) = timers.next().filter(|at| *at <= t0 + s(240)) {
            wake_ups.push((now - t0).as_secs());
            while let Some(timer) = timers.expired(now) {
                runs[timer as usize] += 1;
                let every = periods.iter().find(|(t, _)| *t == timer).unwrap().1;
                timers.arm_every(timer, now, every);
            }
        }
        let every_20_s: Vec<u64> = (1..=12).map(|k| k * 20).collect();
        assert_eq!(wake_ups, every_20_s, "not at 30, 90, 150 and 210 s as well");
        // As many runs as each period gives in 240 s.
        assert_eq!(runs[Timer::Rebalance as usize], 12);
        assert_eq!(runs[Timer::Heartbeat as usize], 8);
        assert_eq!(runs[Timer::RouteRefresh as usize], 8);
    }
}
