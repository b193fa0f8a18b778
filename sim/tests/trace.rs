//! Message trace in simulation: a traced producer's sends become `Pub` records, gathered in
//! batches and stored in the trace topic by the client's own trace producer; the user sees
//! only the results of its own sends.

use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::trace::{decode_records, TraceRecord};
use rocketwire_core::{Event, SendMode, SendTarget};
use rocketwire_sim::{World, WorldConfig};

#[test]
fn traced_sends_are_batched_into_the_trace_topic() {
    let mut world = World::new(WorldConfig::new(3));
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
