//! Real-cluster scenario of a lite pull consumer's positions asked of the brokers: the queues
//! of a topic, the offset for a time, seeking to the beginning and the end, the committed
//! offset.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketwire_core::body::{ConsumeFromWhere, MessageQueue};
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::QueueSelector;
use rocketwire_tokio::LitePullOptions;

use crate::harness::{HarnessLiteConsumer, HarnessProducer};
use crate::scenarios::new_producer;
use crate::{cluster_config, unique, Harness};

/// How long a scenario waits for messages before failing.
const WAIT: Duration = Duration::from_secs(25);

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sends `bodies` in turn; returns where each was stored.
fn send_all(
    producer: &dyn HarnessProducer,
    topic: &str,
    bodies: &[String],
) -> BTreeMap<String, (i32, i64)> {
    bodies
        .iter()
        .map(|b| {
            let sent = producer
                .send(Message::new(topic.to_owned(), b.clone()))
                .expect("send");
            (b.clone(), (sent.message_queue.queue_id, sent.queue_offset))
        })
        .collect()
}

/// Polls until `want` distinct bodies came (each at most once), then a moment more.
pub(crate) fn poll_exactly(
    consumer: &mut dyn HarnessLiteConsumer,
    want: &BTreeSet<String>,
    what: &str,
) {
    let body = |m: &MessageExt| String::from_utf8_lossy(m.body()).into_owned();
    let give_up = Instant::now() + WAIT;
    let mut got: Vec<String> = Vec::new();
    while got.len() < want.len() {
        assert!(Instant::now() < give_up, "{what}: only {got:?} in {WAIT:?}");
        got.extend(
            consumer
                .poll(Duration::from_millis(300))
                .expect("poll")
                .iter()
                .map(body),
        );
    }
    got.extend(
        consumer
            .poll(Duration::from_millis(500))
            .expect("poll")
            .iter()
            .map(body),
    );
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(distinct.len(), got.len(), "{what}: each once: {got:?}");
    assert_eq!(&distinct, want, "{what}");
}

/// `fetch_message_queues`, `offset_for_timestamp`, `seek_to_begin`, `seek_to_end` and
/// `committed` of an assigned lite pull consumer, checked against where the sends stored.
pub fn lite_pull_positions(h: &dyn Harness) {
    let topic = unique("rw_lpos");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let early: Vec<String> = (0..4).map(|i| format!("early {i}")).collect();
    let late: Vec<String> = (0..4).map(|i| format!("late {i}")).collect();
    let early_at = send_all(producer.as_ref(), &topic, &early);
    std::thread::sleep(Duration::from_millis(50));
    let between = wall_ms();
    std::thread::sleep(Duration::from_millis(50));
    let late_at = send_all(producer.as_ref(), &topic, &late);

    let config = ConsumerConfig {
        group: unique("rw_lposgroup"),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    };
    let options = LitePullOptions::default().with_auto_commit(false);
    let mut consumer = h.create_lite_pull_consumer(config, options);
    let give_up = Instant::now() + WAIT;
    let queues = loop {
        match consumer.fetch_message_queues(&topic) {
            Ok(queues) if !queues.is_empty() => break queues,
            other => assert!(Instant::now() < give_up, "no queues for {topic}: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let ids: BTreeSet<i32> = queues.iter().map(|q| q.queue_id).collect();
    assert!(queues.iter().all(|q| q.topic == topic), "{queues:?}");
    for (queue_id, _) in early_at.values().chain(late_at.values()) {
        assert!(ids.contains(queue_id), "queue {queue_id} listed: {ids:?}");
    }
    // Not started: the broker's answer, and a fresh group has none.
    for q in &queues {
        assert_eq!(
            consumer.committed(q).expect("committed"),
            None,
            "{q:?}: fresh group"
        );
    }
    consumer.assign(queues.clone()).expect("assign");

    // The offset for a time between the two rounds is each queue's first late message.
    let queue = |id: i32| queues.iter().find(|q| q.queue_id == id).expect("queue");
    let mut first_late: BTreeMap<i32, i64> = BTreeMap::new();
    for (queue_id, offset) in late_at.values() {
        let e = first_late.entry(*queue_id).or_insert(*offset);
        *e = (*e).min(*offset);
    }
    for q in &queues {
        let found = consumer
            .offset_for_timestamp(q, between)
            .expect("offset for timestamp");
        match first_late.get(&q.queue_id) {
            Some(offset) => assert_eq!(found, *offset, "{q:?}"),
            None => assert!(found >= 0, "{q:?}: {found}"),
        }
        consumer.seek(q, found).expect("seek");
    }
    poll_exactly(
        consumer.as_mut(),
        &late.iter().cloned().collect(),
        "from the time",
    );

    for q in &queues {
        consumer.seek_to_begin(q).expect("seek to begin");
    }
    let everything: BTreeSet<String> = early.iter().chain(&late).cloned().collect();
    poll_exactly(consumer.as_mut(), &everything, "from the beginning");
    consumer.commit().expect("commit");
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (queue_id, offset) in early_at.values().chain(late_at.values()) {
        let e = next.entry(*queue_id).or_insert(0);
        *e = (*e).max(offset + 1);
    }
    for (queue_id, offset) in &next {
        assert_eq!(
            consumer.committed(queue(*queue_id)).expect("committed"),
            Some(*offset),
            "queue {queue_id}: committed after every message"
        );
    }

    for q in &queues {
        consumer.seek_to_end(q).expect("seek to end");
    }
    assert!(
        consumer
            .poll(Duration::from_millis(500))
            .expect("poll")
            .is_empty(),
        "nothing past the end"
    );
    let newer: Vec<String> = (0..4).map(|i| format!("newer {i}")).collect();
    send_all(producer.as_ref(), &topic, &newer);
    poll_exactly(
        consumer.as_mut(),
        &newer.iter().cloned().collect(),
        "after the end",
    );
    // A queue not held, or a negative offset, is refused and changes nothing.
    let foreign = MessageQueue::new(unique("rw_lpos_other"), queues[0].broker_name.clone(), 0);
    assert!(consumer.seek(&foreign, 0).is_err(), "a queue not held");
    assert!(consumer.seek(&queues[0], -1).is_err(), "a negative offset");
    consumer.shutdown().expect("lite shutdown");
    producer.shutdown().expect("producer shutdown");
}

/// On the async adapters a lite pull consumer is a `futures::Stream` of batches: every batch
/// non-empty, every message once.
pub fn lite_pull_as_a_stream(h: &dyn Harness) {
    let topic = unique("rw_lstream");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let bodies: Vec<String> = (0..10).map(|i| format!("streamed {i}")).collect();
    send_all(producer.as_ref(), &topic, &bodies);
    producer.shutdown().expect("producer shutdown");
    let config = ConsumerConfig {
        group: unique("rw_lstreamgroup"),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    };
    let Some(batches) = h.lite_stream_batches(config, &topic, bodies.len(), WAIT) else {
        return; // the blocking adapter has no streams
    };
    assert!(batches.iter().all(|b| !b.is_empty()), "empty batch");
    let got: Vec<String> = batches
        .iter()
        .flatten()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect();
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(distinct.len(), got.len(), "each once: {got:?}");
    assert_eq!(distinct, bodies.iter().cloned().collect::<BTreeSet<_>>());
}

/// Waits until `consumer` reports a change of `topic` to `count` queues; returns them.
fn wait_for_share(
    consumer: &mut dyn HarnessLiteConsumer,
    topic: &str,
    count: usize,
    who: &str,
) -> Vec<MessageQueue> {
    let give_up = Instant::now() + Duration::from_secs(45);
    let mut seen = Vec::new();
    loop {
        for change in consumer.queue_changes() {
            assert_eq!(change.topic, topic, "{who}: only the subscribed topic");
            let ids: Vec<i32> = change.queues.iter().map(|q| q.queue_id).collect();
            seen.push(ids);
            if change.queues.len() == count {
                return change.queues;
            }
        }
        assert!(
            Instant::now() < give_up,
            "{who}: no share of {count} queues; changes seen: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A subscribed lite pull consumer is told its share of the topic after each rebalance
/// (Java `MessageQueueListener`): all four queues alone, two of them once a second member
/// joins, and the two members' shares split the topic.
pub fn lite_pull_queue_changes(h: &dyn Harness) {
    let topic = unique("rw_lqchange");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let bodies: Vec<String> = (0..8).map(|i| format!("change {i}")).collect();
    send_all(producer.as_ref(), &topic, &bodies);
    producer.shutdown().expect("producer shutdown");
    let group = unique("rw_lqgroup");
    let config = || ConsumerConfig {
        group: group.clone(),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    };
    let mut first = h.create_lite_pull_consumer(config(), LitePullOptions::default());
    first.subscribe(&topic, "*").expect("subscribe");
    let alone = wait_for_share(first.as_mut(), &topic, 4, "the only member");
    assert!(alone.iter().all(|q| q.topic == topic), "{alone:?}");

    // Another member is another client: one client takes a group once.
    let other = h.start_another(cluster_config());
    let mut second = other.create_lite_pull_consumer(config(), LitePullOptions::default());
    second.subscribe(&topic, "*").expect("subscribe");
    let a = wait_for_share(first.as_mut(), &topic, 2, "the first member");
    let b = wait_for_share(second.as_mut(), &topic, 2, "the second member");
    let all: BTreeSet<i32> = a.iter().chain(&b).map(|q| q.queue_id).collect();
    assert_eq!(all.len(), 4, "the shares split the topic: {a:?} {b:?}");
    second.shutdown().expect("lite shutdown");
    other.shutdown().expect("other client shutdown");
    first.shutdown().expect("lite shutdown");
}
