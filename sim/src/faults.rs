//! Broker faults for the random-fault suites, drawn by the suite: fault `0` stalls the
//! broker for up to 2.5 s, `1` makes it answer its next 1-3 sends SYSTEM_BUSY, `2` drops its
//! next send, `3` restarts it (once per run).

use std::time::Duration;

use rocketwire_core::time::Rng;

use crate::World;

/// How many kinds [`broker_fault`] knows (`0..BROKER_FAULTS`).
pub const BROKER_FAULTS: u64 = 4;

/// Applies fault `kind` (`0..BROKER_FAULTS`; anything else does nothing) to broker `name`,
/// drawing its details from `rng`; `restarted` allows a single restart per run.
pub fn broker_fault(world: &mut World, rng: &mut Rng, name: &str, kind: u64, restarted: &mut bool) {
    let now = world.now();
    match kind {
        0 => world
            .broker(name)
            .stall_until(now + Duration::from_millis(rng.below(2_500))),
        1 => world.broker(name).busy_next_sends(1 + rng.below(3) as u32),
        2 => world.broker(name).drop_next_sends(1),
        3 if !*restarted => {
            *restarted = true;
            world.restart_broker(name);
        }
        _ => {}
    }
}
