//! Real-cluster scenarios of the lite pull consumer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rocketwire_core::admin;
use rocketwire_core::body::{ConsumeFromWhere, MessageQueue, TopicRouteData};
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{QueueSelector, SendStatus};
use rocketwire_tokio::LitePullOptions;

use crate::harness::HarnessLiteConsumer;
use crate::scenarios::new_producer;
use crate::{unique, wire, Harness};

/// How long a scenario waits for messages before failing.
const WAIT: Duration = Duration::from_secs(25);
/// One poll's wait.
const POLL: Duration = Duration::from_millis(500);

fn body(m: &MessageExt) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

fn queue_of(m: &MessageExt, queues: &[MessageQueue]) -> MessageQueue {
    queues
        .iter()
        .find(|q| q.queue_id == m.queue_id && q.topic == m.topic())
        .cloned()
        .unwrap_or_else(|| panic!("message of an unassigned queue: {m:?}"))
}

/// Polls until `cond` holds on everything polled so far; panics after [`WAIT`].
fn poll_until(
    consumer: &mut dyn HarnessLiteConsumer,
    what: &str,
    cond: impl Fn(&[MessageExt]) -> bool,
) -> Vec<MessageExt> {
    let give_up = Instant::now() + WAIT;
    let mut got = Vec::new();
    while !cond(&got) {
        assert!(
            Instant::now() < give_up,
            "{what}: not polled in {WAIT:?}; got {:?}",
            got.iter().map(body).collect::<Vec<_>>()
        );
        got.extend(consumer.poll(POLL).expect("poll"));
    }
    got
}

fn route_with_queues(h: &dyn Harness, topic: &str) -> TopicRouteData {
    let give_up = Instant::now() + WAIT;
    loop {
        if let Ok(route) = h.query_route(topic) {
            if !route.subscribe_queues(topic).is_empty() {
                return route;
            }
        }
        assert!(Instant::now() < give_up, "no route for {topic}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The offset the broker stores for `group` on `queue` (QUERY_CONSUMER_OFFSET).
fn broker_offset(
    h: &dyn Harness,
    route: &TopicRouteData,
    group: &str,
    queue: &MessageQueue,
) -> i64 {
    let addr = route
        .broker_datas
        .iter()
        .find(|b| b.broker_name == queue.broker_name)
        .and_then(|b| b.broker_addrs.get(&0))
        .expect("master of the queue's broker")
        .clone();
    let response = h
        .invoke(&addr, admin::consumer_offset(group, queue), wire::TIMEOUT)
        .expect("query offset");
    admin::read_consumer_offset(&response)
        .unwrap_or_else(|e| panic!("offset of {queue}: {e}"))
        .unwrap_or_else(|| panic!("offset of {queue}: none stored"))
}

/// Produce 10 to a fresh topic, assign its queues to a lite pull consumer (manual commit) and
/// poll all 10 back; seek the fullest queue back to 0 and poll exactly its messages again;
/// commit and read the offsets back from the broker; pause a queue and see nothing of it
/// (while another queue still delivers) until it is resumed.
pub fn lite_pull_with_seek_and_commit(h: &dyn Harness) {
    let topic = unique("rw_lite");
    let group = unique("rw_lgroup");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let sent: Vec<String> = (0..10).map(|i| format!("lite-{i}")).collect();
    for b in &sent {
        let stored = producer
            .send(Message::new(topic.clone(), b.clone()))
            .expect("send");
        assert_eq!(stored.status, SendStatus::SendOk);
    }
    let route = route_with_queues(h, &topic);
    let queues = route.subscribe_queues(&topic);

    let config = ConsumerConfig {
        group: group.clone(),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    };
    let options = LitePullOptions::default().with_auto_commit(false);
    let mut consumer = h.create_lite_pull_consumer(config, options);
    assert!(consumer.poll(POLL).is_err(), "poll before assign fails");
    consumer.assign(queues.clone()).expect("assign");
    let mut assigned = consumer.assignment().expect("assignment");
    assigned.sort();
    let mut expected = queues.clone();
    expected.sort();
    assert_eq!(assigned, expected);

    // All 10 back, each once.
    let first = poll_until(consumer.as_mut(), "10 messages", |m| m.len() >= 10);
    let bodies: Vec<String> = first.iter().map(body).collect();
    assert_eq!(
        bodies.iter().cloned().collect::<BTreeSet<_>>(),
        sent.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(bodies.len(), 10, "no duplicates: {bodies:?}");
    let mut per_queue: BTreeMap<MessageQueue, Vec<i64>> = BTreeMap::new();
    for m in &first {
        per_queue
            .entry(queue_of(m, &queues))
            .or_default()
            .push(m.queue_offset);
    }
    for offsets in per_queue.values() {
        let mut sorted = offsets.clone();
        sorted.sort();
        assert_eq!(sorted, (0..offsets.len() as i64).collect::<Vec<_>>());
    }

    // Seek the fullest queue back to 0: exactly its messages come again, in order.
    let (sought, n) = per_queue
        .iter()
        .max_by_key(|(_, o)| o.len())
        .map(|(q, o)| (q.clone(), o.len()))
        .expect("some queue");
    consumer.seek(&sought, 0).expect("seek");
    let again = poll_until(consumer.as_mut(), "the sought queue again", |m| {
        m.len() >= n
    });
    assert_eq!(
        again.len(),
        n,
        "only the sought queue: {:?}",
        again.iter().map(body).collect::<Vec<_>>()
    );
    for m in &again {
        assert_eq!(queue_of(m, &queues), sought);
    }
    let offsets: Vec<i64> = again.iter().map(|m| m.queue_offset).collect();
    assert_eq!(offsets, (0..n as i64).collect::<Vec<_>>());
    assert!(
        consumer.poll(POLL).expect("poll").is_empty(),
        "nothing else"
    );

    // Commit: the broker holds each queue's end.
    consumer.commit().expect("commit");
    for q in &queues {
        let count = per_queue.get(q).map_or(0, Vec::len) as i64;
        if count > 0 {
            assert_eq!(
                broker_offset(h, &route, &group, q),
                count,
                "committed offset of {q}"
            );
        }
    }

    // Pause one queue: new messages of another queue come, none of the paused one.
    let paused = sought.clone();
    let other = queues
        .iter()
        .find(|q| **q != paused)
        .expect("a second queue")
        .clone();
    consumer
        .pause(std::slice::from_ref(&paused))
        .expect("pause");
    for i in 0..3 {
        let m = Message::new(topic.clone(), format!("paused-{i}"));
        producer
            .send_to_queue(m, paused.clone())
            .expect("send to the paused queue");
        let m = Message::new(topic.clone(), format!("live-{i}"));
        producer
            .send_to_queue(m, other.clone())
            .expect("send to the other queue");
    }
    let live = poll_until(consumer.as_mut(), "the live queue", |m| m.len() >= 3);
    let mut late = live;
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < quiet_until {
        late.extend(consumer.poll(POLL).expect("poll"));
    }
    for m in &late {
        assert_eq!(
            queue_of(m, &queues),
            other,
            "polled from the paused queue: {}",
            body(m)
        );
        assert!(body(m).starts_with("live-"));
    }
    assert_eq!(late.len(), 3);
    consumer
        .resume(std::slice::from_ref(&paused))
        .expect("resume");
    let resumed = poll_until(consumer.as_mut(), "the resumed queue", |m| m.len() >= 3);
    let got: BTreeSet<String> = resumed.iter().map(body).collect();
    assert_eq!(
        got,
        (0..3)
            .map(|i| format!("paused-{i}"))
            .collect::<BTreeSet<_>>()
    );
    consumer.commit().expect("second commit");
    assert_eq!(broker_offset(h, &route, &group, &paused), n as i64 + 3);
    consumer.shutdown().expect("consumer shutdown");
    producer.shutdown().expect("producer shutdown");
}

/// A lite pull consumer subscribed to one topic takes a second with another `subscribe` while
/// running, then drops the first with `unsubscribe`: it polls both topics' messages, and after
/// the unsubscribe only the second topic's.
pub fn lite_pull_subscribe_more_and_unsubscribe(h: &dyn Harness) {
    let first = unique("rw_lsub1");
    let second = unique("rw_lsub2");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let send = |topic: &str, tag: &str, n: usize| {
        for i in 0..n {
            let stored = producer
                .send(Message::new(topic.to_owned(), format!("{tag}-{i}")))
                .expect("send");
            assert_eq!(stored.status, SendStatus::SendOk);
        }
    };
    send(&first, "one", 4);
    send(&second, "two", 4);
    route_with_queues(h, &first);
    route_with_queues(h, &second);
    let config = ConsumerConfig {
        group: unique("rw_lsgroup"),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    };
    let mut consumer = h.create_lite_pull_consumer(config, LitePullOptions::default());
    assert!(
        consumer.unsubscribe(&first).is_err(),
        "unsubscribe before subscribe fails"
    );
    consumer.subscribe(&first, "*").expect("subscribe");
    let got = poll_until(consumer.as_mut(), "the first topic", |m| m.len() >= 4);
    assert!(got.iter().all(|m| m.topic() == first), "{got:?}");

    consumer
        .subscribe(&second, "*")
        .expect("subscribe while running");
    let got = poll_until(consumer.as_mut(), "the added topic", |m| {
        m.iter().filter(|m| m.topic() == second).count() >= 4
    });
    let bodies: BTreeSet<String> = got.iter().map(body).collect();
    assert_eq!(
        bodies,
        (0..4).map(|i| format!("two-{i}")).collect::<BTreeSet<_>>()
    );

    consumer.unsubscribe(&first).expect("unsubscribe");
    let held = consumer.assignment().expect("assignment");
    assert!(held.iter().all(|q| q.topic == second), "{held:?}");
    send(&first, "one-late", 2);
    send(&second, "two-late", 2);
    let late = poll_until(consumer.as_mut(), "the kept topic", |m| m.len() >= 2);
    let quiet_until = Instant::now() + Duration::from_secs(3);
    let mut all = late;
    while Instant::now() < quiet_until {
        all.extend(consumer.poll(POLL).expect("poll"));
    }
    assert!(
        all.iter().all(|m| m.topic() == second),
        "polled a dropped topic: {:?}",
        all.iter().map(body).collect::<Vec<_>>()
    );
    assert_eq!(
        all.len(),
        2,
        "{:?}",
        all.iter().map(body).collect::<Vec<_>>()
    );
    consumer.shutdown().expect("consumer shutdown");
    producer.shutdown().expect("producer shutdown");
}
