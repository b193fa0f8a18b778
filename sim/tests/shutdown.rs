//! Graceful shutdown of a whole client: consumers and producers close first (offsets
//! persisted, unregistered), deliveries out get until the drain deadline, then the
//! connections close.

mod consumer_support;

use consumer_support::*;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ConsumeOutcome, Event, RequestCode};

/// A harness whose handler holds every delivery, run until it holds all 6 messages.
fn holding_all(world: &mut rocketwire_sim::World) -> Harness {
    let mut h = Harness::new(1);
    h.policy = Box::new(|_| None);
    let held = h
        .run_until(world, |h, _| h.held.len() >= 6, secs(5))
        .unwrap();
    assert!(held, "{}", h.held.len());
    h
}

#[test]
fn shutdown_closes_consumers_and_producers_before_the_connections() {
    let mut world = world(41, 1, 1);
    put_all(&mut world, 1, 3);
    let c = consumer(&mut world, 0, builder().build().unwrap());
    let now = world.now();
    let config = ProducerConfig::builder("pg").build().unwrap();
    let p = world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin);
    let mut h = holding_all(&mut world);
    let now = world.now();
    world.client(0).shutdown(now, secs(10));
    assert!(world.client(0).is_shutting_down());
    // Deliveries out keep the consumer, and so the connections, open.
    h.run(&mut world, secs(2)).unwrap();
    assert!(!world.client(0).is_closed());
    assert!(h
        .events_of(0)
        .iter()
        .any(|(_, e)| matches!(e, Event::ProducerClosed { producer, .. } if *producer == p)));
    // Acked during the drain: then the consumer persists, unregisters, and the client closes.
    let now = world.now();
    for s in std::mem::take(&mut h.held) {
        world
            .client(0)
            .ack(now, s.delivery, ConsumeOutcome::Success)
            .expect("acks are taken while shutting down");
    }
    let closed = h
        .run_until(&mut world, |_, w| w.core(0).is_closed(), secs(5))
        .unwrap();
    assert!(closed, "closed once the consumer and the producer were");
    let report = close_report(&h, c);
    assert_eq!(report.abandoned_deliveries, 0);
    for q in all_queues(1) {
        assert_eq!(report.persisted.get(&q), Some(&3), "{q:?}");
        assert_eq!(committed(&world, &q), Some(3), "{q:?} at the broker");
    }
    for b in BROKERS {
        assert!(
            world.broker(b).consumer_ids(GROUP).is_empty(),
            "unregistered"
        );
        assert!(world.broker(b).requests_seen(RequestCode::UnregisterClient) >= 1);
    }
}

#[test]
fn deliveries_out_past_the_drain_are_abandoned_and_the_client_closes() {
    let mut world = world(42, 1, 1);
    put_all(&mut world, 1, 2);
    let c = consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.policy = Box::new(|_| None);
    let held = h
        .run_until(&mut world, |h, _| h.held.len() >= 4, secs(5))
        .unwrap();
    assert!(held);
    let started = world.now();
    world.client(0).shutdown(started, secs(3));
    let closed = h
        .run_until(&mut world, |_, w| w.core(0).is_closed(), secs(10))
        .unwrap();
    assert!(closed);
    assert!(
        world.now() >= started + secs(3),
        "not before the drain deadline"
    );
    let report = close_report(&h, c);
    assert_eq!(report.abandoned_deliveries, 4);
    // Nothing was consumed: nothing moved past the start.
    for q in all_queues(1) {
        assert_eq!(committed(&world, &q).unwrap_or(0), 0, "{q:?}");
    }
}

#[test]
fn a_hard_close_in_the_middle_of_everything_leaves_nothing_to_wait_for() {
    let mut world = world(43, 1, 1);
    put_all(&mut world, 1, 3);
    world.broker("broker-a").create_topic("TRACE", 1);
    let _c = consumer(&mut world, 0, builder().build().unwrap());
    let now = world.now();
    let config = ProducerConfig::builder("pg")
        .trace_topic("TRACE")
        .build()
        .unwrap();
    let p = world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin);
    let mut h = holding_all(&mut world);
    // Sends answered (trace records waiting for their batch) and sends still out.
    for i in 0..4 {
        let now = world.now();
        let message = rocketwire_core::message::Message::new(TOPIC, format!("m{i}"));
        world
            .client(0)
            .send(
                now,
                p,
                message,
                rocketwire_core::SendTarget::Default,
                rocketwire_core::SendMode::Async,
            )
            .unwrap();
        if i == 1 {
            h.run(&mut world, std::time::Duration::from_millis(50))
                .unwrap();
        }
    }
    let now = world.now();
    world.client(0).close(now);
    h.run(&mut world, secs(1)).unwrap();
    assert!(world.core(0).is_closed());
    for later in [0, 1, 30, 120] {
        let now = world.now() + secs(later);
        assert!(
            matches!(
                world.client(0).poll_output(now),
                rocketwire_core::Output::Idle
            ),
            "{later} s after the close, a closed client waits for nothing"
        );
    }
}
