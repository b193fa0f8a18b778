//! Message trace in simulation: a traced producer's sends become `Pub` records, gathered in
//! batches and stored in the trace topic by the client's own trace producer; the user sees
//! only the results of its own sends.

use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::trace::{decode_records, TraceRecord};
use rocketwire_core::{Event, ProducerId, SendMode, SendTarget};
use rocketwire_sim::{World, WorldConfig};

/// A world of seed `seed` with topics `T` and `TRACE`, and client 0's producer `pg` traced
/// into `TRACE`.
fn traced_producer(seed: u64) -> (World, ProducerId) {
    let mut world = World::new(WorldConfig::new(seed));
    world.broker("broker-a").create_topic("T", 4);
    world.broker("broker-a").create_topic("TRACE", 1);
    let config = ProducerConfig::builder("pg")
        .trace_topic("TRACE")
        .build()
        .unwrap();
    let now = world.now();
    let p = world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin);
    (world, p)
}

#[test]
fn traced_sends_are_batched_into_the_trace_topic() {
    let (mut world, p) = traced_producer(3);
    let mut ops = Vec::new();
    for i in 0..3 {
        let now = world.now();
        let message = Message::new("T", Bytes::from(format!("m{i}")));
        let op = world
            .client(0)
            .send(now, p, message, SendTarget::Default, SendMode::Async)
            .unwrap();
        ops.push(op);
    }
    world.drive(Duration::from_secs(2)).unwrap();

    let results: Vec<_> = world
        .events(0)
        .iter()
        .filter_map(|e| match &e.event {
            Event::Send { op, result } => Some((*op, result.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        results.len(),
        3,
        "only the user's sends report: {results:?}"
    );
    let ids: Vec<String> = results
        .iter()
        .map(|(op, r)| {
            assert!(ops.contains(op));
            r.as_ref().expect("stored").msg_id.clone()
        })
        .collect();

    let store = world.broker("broker-a").store();
    let stored = store.messages("TRACE", 0);
    assert_eq!(stored.len(), 1, "the three records went in one batch");
    let body = String::from_utf8_lossy(&stored[0].message.body).into_owned();
    let records = decode_records(&body);
    assert_eq!(records.len(), 3, "{records:#?}");
    for (record, id) in records.iter().zip(&ids) {
        let TraceRecord::Pub {
            msg_id,
            topic,
            group,
            success,
            ..
        } = record
        else {
            panic!("a Pub record: {record:?}");
        };
        assert_eq!(
            (msg_id, topic.as_str(), group.as_str(), *success),
            (id, "T", "pg", true)
        );
    }
    let keys: Vec<&str> = stored[0].message.key_list().collect();
    for id in &ids {
        assert!(
            keys.contains(&id.as_str()),
            "keyed by every message id: {keys:?}"
        );
    }
}

#[test]
fn a_graceful_shutdown_sends_the_trace_records_not_yet_due() {
    let (mut world, p) = traced_producer(5);
    for i in 0..2 {
        let now = world.now();
        let message = Message::new("T", Bytes::from(format!("m{i}")));
        world
            .client(0)
            .send(now, p, message, SendTarget::Default, SendMode::Async)
            .unwrap();
    }
    // The sends are answered; their records wait for the batch's flush delay.
    world.drive(Duration::from_millis(200)).unwrap();
    let sent = world
        .events(0)
        .iter()
        .filter(|e| matches!(&e.event, Event::Send { result: Ok(_), .. }))
        .count();
    assert_eq!(sent, 2);
    assert!(world
        .broker("broker-a")
        .store()
        .messages("TRACE", 0)
        .is_empty());

    let now = world.now();
    world.client(0).shutdown(now, Duration::from_secs(1));
    world.drive(Duration::from_secs(5)).unwrap();
    assert!(world.core(0).is_closed(), "the shutdown finished");
    let stored = world.broker("broker-a").store().messages("TRACE", 0);
    assert_eq!(
        stored.len(),
        1,
        "the batch was sent before the client closed"
    );
    let body = String::from_utf8_lossy(&stored[0].message.body).into_owned();
    assert_eq!(decode_records(&body).len(), 2);
    let closed: Vec<_> = world
        .events(0)
        .iter()
        .filter_map(|e| match &e.event {
            Event::ProducerClosed { producer, .. } => Some(*producer),
            _ => None,
        })
        .collect();
    assert!(
        closed.contains(&p),
        "the user's producer closed: {closed:?}"
    );
}

#[test]
fn a_closed_client_waits_for_no_trace_batch() {
    let (mut world, p) = traced_producer(6);
    let now = world.now();
    let message = Message::new("T", Bytes::from_static(b"m"));
    world
        .client(0)
        .send(now, p, message, SendTarget::Default, SendMode::Async)
        .unwrap();
    world.drive(Duration::from_millis(200)).unwrap();
    // A hard close with a batch not yet due: the batch can no longer be sent.
    let now = world.now();
    world.client(0).close(now);
    world.drive(Duration::from_millis(100)).unwrap();
    assert!(world.core(0).is_closed());
    // Before, the batch's deadline stayed: once it passed, every poll handled it again at
    // once and never returned (a busy loop at 100% CPU).
    let now = world.now();
    assert!(
        matches!(
            world.client(0).poll_output(now),
            rocketwire_core::Output::Idle
        ),
        "a closed client has nothing to wait for"
    );
    world.drive(Duration::from_secs(2)).unwrap();
    assert!(world
        .broker("broker-a")
        .store()
        .messages("TRACE", 0)
        .is_empty());
}
