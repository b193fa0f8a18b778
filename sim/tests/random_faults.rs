//! Random invokes under random faults: every invoke ends in exactly one result, no later than
//! its deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::message::Message;
use rocketwire_core::request::{pull_message, send_message};
use rocketwire_core::time::Rng;
use rocketwire_core::{Event, OpId};
use rocketwire_sim::{Latency, World, WorldConfig};

const BROKERS: [(&str, &str); 2] = [
    ("broker-a", "127.0.0.1:10911"),
    ("broker-b", "127.0.0.1:10921"),
];
const CLIENTS: usize = 3;
const INVOKES: usize = 1_000;

fn run(seed: u64, outcomes: &mut BTreeMap<String, usize>) {
    let mut config = WorldConfig::new(seed);
    config.clients = CLIENTS;
    config.net.latency = Latency::millis(1, 4);
    config.net.loss_per_million = 5_000;
    config.transcript = false;
    let mut world = World::new(config);
    for (name, _) in BROKERS {
        world.broker(name).create_topic("T", 4);
    }
    let mut rng = Rng::new(seed ^ 0xABCD);
    // (client, op) → (issued at, timeout)
    let mut issued: BTreeMap<(usize, OpId), (Duration, Duration)> = BTreeMap::new();
    let mut partitioned: Option<(usize, Duration)> = None;
    for _ in 0..INVOKES {
        let now = world.now();
        match rng.below(40) {
            0 => world
                .broker(BROKERS[rng.below(2) as usize].0)
                .stall_until(now + Duration::from_millis(rng.below(4_000))),
            1 => world
                .broker(BROKERS[rng.below(2) as usize].0)
                .busy_next_sends(rng.below(3) as u32),
            2 => world
                .broker(BROKERS[rng.below(2) as usize].0)
                .drop_next_request(),
            3 => world.restart_broker(BROKERS[rng.below(2) as usize].0),
            4 if partitioned.is_none() => {
                let b = rng.below(2) as usize;
                world.partition(BROKERS[b].1);
                partitioned = Some((b, world.elapsed() + Duration::from_millis(rng.below(5_000))));
            }
            _ => {}
        }
        if let Some((b, until)) = partitioned {
            if world.elapsed() >= until {
                world.heal(BROKERS[b].1);
                partitioned = None;
            }
        }
        let client = rng.below(CLIENTS as u64) as usize;
        let addr = BROKERS[rng.below(2) as usize].1;
        let timeout = Duration::from_millis(50 + rng.below(5_000));
        let queue = rng.below(4) as i32;
        let cmd = if rng.below(3) == 0 {
            pull_message(
                "cg",
                "T",
                queue,
                rng.below(4) as i64,
                32,
                "*",
                rng.below(8_000) as i64,
            )
        } else {
            let message = Message::new("T", Bytes::from_static(b"payload"));
            send_message("pg", &message, queue, 0, world.clock().wall_millis(), None)
        };
        let op = world.client(client).invoke(now, addr, cmd, timeout);
        issued.insert((client, op), (world.elapsed(), timeout));
        world.drive(Duration::from_millis(rng.below(25))).unwrap();
    }
    if let Some((b, _)) = partitioned {
        world.heal(BROKERS[b].1);
    }
    world.drive(Duration::from_secs(30)).unwrap();

    let mut seen: BTreeMap<(usize, OpId), usize> = BTreeMap::new();
    for client in 0..CLIENTS {
        for e in world.events(client) {
            if let Event::Response { op, result } = &e.event {
                let outcome = match result {
                    Ok(cmd) => format!("{}", cmd.response_code()),
                    Err(e) => format!("{e:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or("")
                        .to_string(),
                };
                *outcomes.entry(outcome).or_default() += 1;
                let key = (client, *op);
                let (at, timeout) = issued
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| panic!("seed {seed}: result for unknown {key:?}"));
                assert!(
                    e.at <= at + timeout + Duration::from_millis(1),
                    "seed {seed}: {key:?} issued at {at:?} with timeout {timeout:?} answered at {:?}",
                    e.at
                );
                *seen.entry(key).or_default() += 1;
            }
        }
    }
    for key in issued.keys() {
        assert_eq!(
            seen.get(key),
            Some(&1),
            "seed {seed}: {key:?} must end exactly once"
        );
    }
}

#[test]
fn every_invoke_ends_once_before_its_deadline_under_faults() {
    let mut outcomes = BTreeMap::new();
    for seed in rocketwire_sim::seeds_or(0..20) {
        run(seed, &mut outcomes);
    }
    // The faults must actually have bitten: every kind of ending shows up.
    for kind in [
        "SUCCESS",
        "SYSTEM_BUSY",
        "PULL_NOT_FOUND",
        "Timeout",
        "ConnectionClosed",
        "ConnectFailed",
    ] {
        assert!(
            outcomes.get(kind).is_some_and(|n| *n > 0),
            "no {kind} in {outcomes:?}"
        );
    }
}
