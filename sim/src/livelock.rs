//! Livelock detection for the drive loop: a bounded number of steps per virtual instant.

use std::time::{Duration, Instant};

/// Why a drive failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Too many steps without virtual time advancing.
    #[error("livelock: {steps} steps at t=+{at:?} without time advancing")]
    Livelock {
        /// Virtual time since the origin.
        at: Duration,
        /// Steps taken at that instant.
        steps: usize,
    },
    /// A client asked to be woken at or before the current instant (a busy loop).
    #[error("client {client} returned Timeout(t=+{deadline:?}) at t=+{now:?}: not in the future")]
    TimerNotInFuture {
        /// Client index.
        client: usize,
        /// The deadline it returned.
        deadline: Duration,
        /// The current virtual time.
        now: Duration,
    },
    /// `drive_until`'s predicate did not hold within its time budget.
    #[error("condition not met within {0:?} of virtual time")]
    NotReached(Duration),
}

/// Counts steps taken at one instant and reports a livelock past a limit.
#[derive(Debug, Clone)]
pub struct LivelockDetector {
    max_steps: usize,
    instant: Option<Instant>,
    steps: usize,
}

impl LivelockDetector {
    /// A detector allowing `max_steps` steps per instant.
    pub fn new(max_steps: usize) -> Self {
        Self {
            max_steps,
            instant: None,
            steps: 0,
        }
    }

    /// Records one step at `now`; `at` is `now` as time since the origin, for the error.
    pub fn step(&mut self, now: Instant, at: Duration) -> Result<(), SimError> {
        if self.instant != Some(now) {
            self.instant = Some(now);
            self.steps = 0;
        }
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(SimError::Livelock {
                at,
                steps: self.steps,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_trips_after_the_limit_and_resets_when_time_moves() {
        let t0 = Instant::now();
        let mut d = LivelockDetector::new(3);
        for _ in 0..3 {
            d.step(t0, Duration::ZERO).unwrap();
        }
        assert_eq!(
            d.step(t0, Duration::ZERO),
            Err(SimError::Livelock {
                at: Duration::ZERO,
                steps: 4
            })
        );
        let t1 = t0 + Duration::from_millis(1);
        assert!(d.step(t1, Duration::from_millis(1)).is_ok());
    }
}
