//! Graceful shutdown of a whole client: consumers and producers close first (offsets
//! persisted, unregistered), deliveries out get until the drain deadline, then the
//! connections close.

mod consumer_support;

use consumer_support::*;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ConsumeOutcome, Event, RequestCode};

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
    let mut h = Harness::new(1);
    h.policy = Box::new(|_| None);
    let held = h
        .run_until(&mut world, |h, _| h.held.len() >= 6, secs(5))
        .unwrap();
    assert!(held, "{}", h.held.len());
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
