//! Injected time and randomness.
//!
//! The core never reads a clock: monotonic time comes in as `now: Instant` arguments and wall
//! time from a [`WallClock`] given at construction. Randomness comes from [`Rng`], seeded by the
//! caller, so a run can be replayed exactly.

/// A source of wall-clock time (milliseconds since the Unix epoch).
pub trait WallClock: Send {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> i64;
}

/// The operating system's wall clock. Adapters use it; simulations inject their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read, made on behalf of an adapter
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A fixed wall clock for tests and simulations; it is moved by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualWallClock(pub std::sync::Arc<std::sync::atomic::AtomicI64>);

impl ManualWallClock {
    /// A clock reading `millis`.
    pub fn new(millis: i64) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            millis,
        )))
    }
    /// Moves the clock to `millis`.
    pub fn set(&self, millis: i64) {
        self.0.store(millis, std::sync::atomic::Ordering::Relaxed);
    }
}

impl WallClock for ManualWallClock {
    fn now_millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A small deterministic PRNG (SplitMix64). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` must be non-zero).
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        if bound == 0 {
            return 0;
        }
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_per_seed() {
        let a: Vec<u64> = (0..4)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(Rng::new(1).below(10) < 10);
    }
}
