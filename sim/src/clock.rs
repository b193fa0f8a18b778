//! Virtual time: a monotonic clock (`origin + offset`) and a wall clock that moves with it.
//!
//! The real clock is read exactly once, in [`SimClock::new`], to obtain an `Instant` origin
//! (there is no other way to make one); everything after that is arithmetic on the offset.

use std::time::{Duration, Instant};

use rocketwire_core::time::ManualWallClock;

/// Wall-clock reading at virtual time zero: 2024-01-01T00:00:00Z in milliseconds.
pub const DEFAULT_WALL_ORIGIN_MILLIS: i64 = 1_704_067_200_000;

/// The simulation's clock: virtual monotonic time plus a shared wall clock advancing with it.
#[derive(Debug, Clone)]
pub struct SimClock {
    origin: Instant,
    offset: Duration,
    wall_origin_millis: i64,
    wall: ManualWallClock,
}

impl SimClock {
    /// A clock at virtual time zero whose wall clock reads `wall_origin_millis`.
    #[allow(clippy::disallowed_methods)] // the one read of the real clock: the origin
    pub fn new(wall_origin_millis: i64) -> Self {
        Self {
            origin: Instant::now(),
            offset: Duration::ZERO,
            wall_origin_millis,
            wall: ManualWallClock::new(wall_origin_millis),
        }
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.origin + self.offset
    }

    /// Virtual time elapsed since the origin.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// The instant `offset` after the origin.
    pub fn at(&self, offset: Duration) -> Instant {
        self.origin + offset
    }

    /// How far `at` lies after the origin (zero if before it).
    pub fn since_origin(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.origin)
    }

    /// Moves virtual time forward to `at`; an `at` in the past is ignored (time is monotonic).
    pub fn advance_to(&mut self, at: Instant) {
        let offset = self.since_origin(at);
        if offset > self.offset {
            self.offset = offset;
            let millis = i64::try_from(offset.as_millis()).unwrap_or(i64::MAX);
            self.wall
                .set(self.wall_origin_millis.saturating_add(millis));
        }
    }

    /// Moves virtual time forward by `by`.
    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.now() + by);
    }

    /// A handle on the wall clock (shared: it follows every later advance).
    pub fn wall(&self) -> ManualWallClock {
        self.wall.clone()
    }

    /// The wall clock reading, ms since the Unix epoch.
    pub fn wall_millis(&self) -> i64 {
        use rocketwire_core::WallClock;
        self.wall.now_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketwire_core::WallClock;

    #[test]
    fn wall_follows_virtual_time_and_never_goes_back() {
        let mut clock = SimClock::new(1_000);
        let wall = clock.wall();
        let t0 = clock.now();
        clock.advance(Duration::from_millis(250));
        assert_eq!(clock.now() - t0, Duration::from_millis(250));
        assert_eq!(wall.now_millis(), 1_250);
        clock.advance_to(t0);
        assert_eq!(clock.elapsed(), Duration::from_millis(250));
        assert_eq!(clock.wall_millis(), 1_250);
        assert_eq!(
            clock.since_origin(clock.at(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
