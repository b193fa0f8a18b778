//! Filters end to end on the real cluster: tag expressions and SQL92 subscriptions, on push
//! and lite pull consumers. The broker filters (SQL92 needs its `enablePropertyFilter`, which
//! the test cluster sets): a message that does not match never reaches the handler or the
//! poll, and still counts as consumed.
//!
//! The test broker (rocketmq-rust 1.0.0) evaluates SQL92 without the message's properties
//! (`n IS NULL` matches messages that carry `n`), so the SQL92 scenarios use expressions
//! whose result does not depend on properties: they prove the subscription travels (heartbeat
//! and pull), is compiled and applied by the broker, not what the broker's evaluator gets.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{QueueSelector, SendStatus};
use rocketwire_tokio::{LitePullOptions, PushConsumerOptions};

use crate::lite_positions::poll_exactly;
use crate::scenarios::new_producer;
use crate::seen::Seen;
use crate::{unique, Harness};

/// How long a scenario waits for messages before failing.
const WAIT: Duration = Duration::from_secs(25);
/// How long a consumer keeps running after the wanted messages, to catch unwanted ones.
const SETTLE: Duration = Duration::from_millis(1500);
/// Messages sent per topic.
pub(crate) const SENT: usize = 12;
/// A SQL92 filter every message passes.
pub(crate) const SQL_ALL: &str = "TRUE OR n IS NOT NULL";
/// A SQL92 filter no message passes.
pub(crate) const SQL_NONE: &str = "FALSE AND n IS NOT NULL";

/// Sends [`SENT`] messages to a new topic: message `i` has tag `TagA`/`TagB`/`TagC` in turn
/// and property `n = i`; its body is `tag-i`. Returns the topic once it has a route.
pub(crate) fn fill(h: &dyn Harness, prefix: &str) -> String {
    let topic = unique(prefix);
    let producer = new_producer(h, QueueSelector::RoundRobin);
    for i in 0..SENT {
        let tag = tag_of(i);
        let mut m = Message::new(topic.clone(), format!("{tag}-{i}"));
        m.set_tags(tag).expect("tags");
        m.set_property("n", i.to_string()).expect("property");
        let sent = producer.send(m).expect("send");
        assert_eq!(sent.status, SendStatus::SendOk);
    }
    producer.shutdown().expect("producer shutdown");
    let give_up = Instant::now() + WAIT;
    while h.query_route(&topic).is_err() {
        assert!(Instant::now() < give_up, "no route for {topic}");
        std::thread::sleep(Duration::from_millis(200));
    }
    topic
}

pub(crate) fn tag_of(i: usize) -> &'static str {
    ["TagA", "TagB", "TagC"][i % 3]
}

/// The bodies a filter keeps.
pub(crate) fn kept(keep: impl Fn(usize) -> bool) -> BTreeSet<String> {
    (0..SENT)
        .filter(|&i| keep(i))
        .map(|i| format!("{}-{i}", tag_of(i)))
        .collect()
}

fn in_tags(i: usize) -> bool {
    tag_of(i) != "TagB"
}

fn config(prefix: &str) -> ConsumerConfig {
    ConsumerConfig {
        group: unique(prefix),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    }
}

/// Push consumers subscribed with SQL92: one whose expression every message passes gets them
/// all; one whose expression none passes gets none, yet its offsets move past all of them.
pub fn consume_sql92_filter(h: &dyn Harness) {
    let topic = fill(h, "rw_sql");
    let seen = Seen::default();
    let all = h
        .create_push_consumer(
            config("rw_sqlgroup"),
            vec![Subscription::sql92(&topic, SQL_ALL).expect("subscription")],
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    let wanted = kept(|_| true);
    seen.wait_for("every message", |m| m.len() >= wanted.len());

    let none_seen = Seen::default();
    let none = h
        .create_push_consumer(
            config("rw_sqlgroup"),
            vec![Subscription::sql92(&topic, SQL_NONE).expect("subscription")],
            PushConsumerOptions::default(),
            none_seen.recorder(),
        )
        .expect("consumer starts");
    let give_up = Instant::now() + WAIT;
    loop {
        let offsets = none.offsets().expect("offsets");
        let passed: i64 = offsets.values().sum();
        if passed >= SENT as i64 {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "{:?}: the filtered consumer's offsets reached {passed} of {SENT}: {offsets:?}",
            h.kind()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(SETTLE);
    none.shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    all.shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    assert!(
        none_seen.bodies().is_empty(),
        "{:?}: {SQL_NONE} let {:?} through",
        h.kind(),
        none_seen.bodies()
    );
    let got: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(got, wanted, "{:?}: {SQL_ALL} keeps everything", h.kind());
}

/// A lite pull consumer subscribed with a tag expression, and one with SQL92, each poll
/// exactly the matching messages, once.
pub fn lite_pull_filters_by_tag_and_sql92(h: &dyn Harness) {
    let tags_topic = fill(h, "rw_ltags");
    let sql_topic = fill(h, "rw_lsql");
    for (topic, subscription, wanted) in [
        (
            &tags_topic,
            Subscription::tag(&tags_topic, "TagA || TagC").expect("tag subscription"),
            kept(in_tags),
        ),
        (
            &sql_topic,
            Subscription::sql92(&sql_topic, SQL_ALL).expect("SQL92 subscription"),
            kept(|_| true),
        ),
    ] {
        let mut consumer =
            h.create_lite_pull_consumer(config("rw_lfgroup"), LitePullOptions::default());
        consumer.subscribe_with(subscription).expect("subscribe");
        poll_exactly(consumer.as_mut(), &wanted, topic);
        consumer.shutdown().expect("lite shutdown");
    }
}
