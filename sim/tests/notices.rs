//! Notices for operators (`ClientCore::poll_notice`): connections opened and lost, a broker
//! isolated after a failed send and restored when the isolation ends, route changes, and the
//! connections a close ends.

use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ClientNotice, Event, InvokeError, SendMode, SendTarget};
use rocketwire_sim::{World, WorldConfig};

const BROKER_A: &str = "127.0.0.1:10911";
const BROKER_B: &str = "127.0.0.1:10921";

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

fn notices(world: &mut World) -> Vec<ClientNotice> {
    std::iter::from_fn(|| world.client(0).poll_notice()).collect()
}

fn position(notices: &[ClientNotice], what: impl Fn(&ClientNotice) -> bool) -> usize {
    notices
        .iter()
        .position(what)
        .unwrap_or_else(|| panic!("not among {notices:#?}"))
}

#[test]
fn connections_isolation_routes_and_close_are_noticed() {
    // Seed 2 sends the first attempt to broker-a (as in the producer scenarios).
    let mut world = World::new(WorldConfig::new(2));
    world.broker("broker-a").create_topic("T", 4);
    world.broker("broker-b").create_topic("T", 4);
    world.broker("broker-a").drop_next_sends(1);
    let config = ProducerConfig::builder("pg")
        .send_timeout(secs(3))
        .build()
        .unwrap();
    let now = world.now();
    let p = world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin);
    let message = Message::new("T", Bytes::from_static(b"m"));
    let op = world
        .client(0)
        .send(now, p, message, SendTarget::Default, SendMode::Sync)
        .unwrap();
    world
        .drive_until(
            |w| {
                w.events(0)
                    .iter()
                    .any(|e| matches!(&e.event, Event::Send { op: o, result: Ok(_) } if *o == op))
            },
            secs(10),
        )
        .unwrap();

    let seen = notices(&mut world);
    let route = position(&seen, |n| {
        matches!(n, ClientNotice::RouteChanged { topic, brokers }
            if topic == "T" && brokers == &["broker-a", "broker-b"])
    });
    let namesrv = position(&seen, |n| matches!(n, ClientNotice::Connected { .. }));
    assert!(
        namesrv < route,
        "the route came over the namesrv connection"
    );
    let a_up = position(
        &seen,
        |n| matches!(n, ClientNotice::Connected { peer } if peer == BROKER_A),
    );
    let a_down = position(&seen, |n| {
        matches!(n, ClientNotice::Disconnected { peer, error: InvokeError::ConnectionClosed { .. } }
            if peer == BROKER_A)
    });
    let isolated = position(&seen, |n| {
        matches!(n, ClientNotice::BrokerIsolated { broker, duration }
            if broker == "broker-a" && *duration > secs(9) && *duration <= secs(10))
    });
    assert!(
        route < a_up && a_up < a_down && a_down < isolated,
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|n| matches!(n, ClientNotice::Connected { peer } if peer == BROKER_B)),
        "{seen:#?}"
    );
    assert!(!seen
        .iter()
        .any(|n| matches!(n, ClientNotice::BrokerRestored { .. })));

    // The restore comes when the isolation ends, with no send to find out.
    world.drive(secs(9)).unwrap();
    assert!(!notices(&mut world)
        .iter()
        .any(|n| matches!(n, ClientNotice::BrokerRestored { .. })));
    world.drive(secs(2)).unwrap();
    let later = notices(&mut world);
    assert!(
        later
            .iter()
            .any(|n| matches!(n, ClientNotice::BrokerRestored { broker } if broker == "broker-a")),
        "{later:#?}"
    );

    let now = world.now();
    world.client(0).close(now);
    world.drive(secs(1)).unwrap();
    let closed = notices(&mut world);
    assert!(
        closed.iter().any(|n| matches!(n,
            ClientNotice::Disconnected { peer, error: InvokeError::Shutdown } if peer == BROKER_B)),
        "{closed:#?}"
    );
}
