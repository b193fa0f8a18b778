//! Auto-batching on the real cluster: concurrent single sends leave as batches, each send
//! gets its own result, and every message is stored once where its result says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rocketwire_core::message::Message;
use rocketwire_core::producer::{AutoBatch, ProducerConfig, QueueSelector, SendResult};
use rocketwire_driver::observe;

use crate::observe::{counter, snapshot};
use crate::wire::{default_broker, pull_at_least};
use crate::{unique, Harness};

/// Sends `count` messages to a new topic through `send_all` on a producer with `batching`;
/// checks every result is its own and every message is stored where its result says.
fn send_and_check(h: &dyn Harness, group: &str, batching: AutoBatch, count: usize) {
    let topic = unique("rw_autobatch");
    let config = ProducerConfig::builder(group)
        .auto_batch(batching)
        .build()
        .expect("valid settings");
    let producer = h
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer");
    let bodies: Vec<String> = (0..count).map(|i| format!("auto {i}")).collect();
    let messages = bodies
        .iter()
        .map(|b| Message::new(topic.clone(), b.clone()))
        .collect();
    let results: Vec<SendResult> = producer
        .send_all(messages)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("{:?}: message {i}: {e}", h.kind())))
        .collect();
    let mut ids = BTreeSet::new();
    let mut by_queue: BTreeMap<i32, BTreeMap<i64, usize>> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        assert!(!r.msg_id.contains(','), "its own id: {}", r.msg_id);
        assert!(
            !r.offset_msg_id.contains(','),
            "its own offset id: {}",
            r.offset_msg_id
        );
        assert!(ids.insert(r.msg_id.clone()), "message {i}: a fresh id");
        let place = by_queue.entry(r.message_queue.queue_id).or_default();
        assert!(
            place.insert(r.queue_offset, i).is_none(),
            "message {i}: a place of its own"
        );
    }
    // Read every queue back from the first offset a result named.
    let (_, addr) = default_broker(h);
    let reader = unique("rw_autobatch_reader");
    for (queue, offsets) in &by_queue {
        let (&first, _) = offsets.first_key_value().expect("a result");
        let (_, pulled) = pull_at_least(h, &addr, &reader, &topic, *queue, first, offsets.len());
        for m in pulled {
            let Some(&i) = offsets.get(&m.queue_offset) else {
                continue;
            };
            assert_eq!(m.body()[..], *bodies[i].as_bytes(), "queue {queue}");
            assert_eq!(m.msg_id(), results[i].msg_id, "queue {queue}");
            assert_eq!(m.offset_msg_id, results[i].offset_msg_id);
        }
    }
    producer.shutdown().expect("producer shutdown");
}

/// The batches and messages the driver's metrics report for `group`, once the messages
/// reach `messages` (exported at most once a second).
fn batches_of(group: &str, messages: u64) -> u64 {
    let give_up = Instant::now() + Duration::from_secs(15);
    loop {
        let all = snapshot();
        let batched = counter(&all, observe::AUTO_BATCHED_MESSAGES, &[("group", group)]);
        if batched >= messages {
            assert_eq!(batched, messages, "{group}: no message counted twice");
            return counter(&all, observe::AUTO_BATCHES, &[("group", group)]);
        }
        assert!(
            Instant::now() < give_up,
            "{group}: the metrics show {batched} of {messages} messages batched"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// 300 concurrent single sends: with the defaults (an idle lane sends at once), then with
/// Java's lingering lanes, where 300 sends of a moment make at most a few batches of 100.
pub fn producer_auto_batch(h: &dyn Harness) {
    // The recorder is in place before anything is counted.
    snapshot();
    let group = unique("rw_pg_auto");
    send_and_check(h, &group, AutoBatch::default(), 300);
    let batches = batches_of(&group, 300);
    assert!((1..=300).contains(&batches), "{batches} batches");

    let group = unique("rw_pg_linger");
    let lingering = AutoBatch {
        linger: Duration::from_secs(2),
        max_messages: 100,
        linger_when_idle: true,
        ..AutoBatch::default()
    };
    send_and_check(h, &group, lingering, 300);
    let batches = batches_of(&group, 300);
    // Full batches of 100 leave at once; only a submission stalled for whole lingers
    // could split them further.
    assert!(
        (3..=30).contains(&batches),
        "{batches} batches for 300 messages"
    );
}
