//! Real-cluster scenarios of push consumers and transactional producers, run on every adapter
//! (re-exported by [`crate::scenarios`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::body::{ConsumeFromWhere, MessageModel, MessageQueue};
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfig, Subscription};
use rocketwire_core::header::TransactionState;
use rocketwire_core::message::{keys, Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendStatus};
use rocketwire_core::{ConsumeOutcome, ConsumerCloseReport};
use rocketwire_tokio::{PushConsumerOptions, TransactionListener};

use crate::harness::{Handler, HarnessConsumer, HarnessProducer};
use crate::seen::Seen;
use crate::{cluster_config, unique, wire, Harness};

/// How long a scenario waits for messages before failing.
const WAIT: Duration = Duration::from_secs(25);
/// Drain time of consumer shutdowns.
pub(crate) const DRAIN: Duration = Duration::from_secs(5);

fn new_producer(h: &dyn Harness, selector: QueueSelector) -> Box<dyn HarnessProducer + '_> {
    let config = ProducerConfig::builder(unique("rw_pgroup"))
        .build()
        .expect("valid producer config");
    h.create_producer(config, selector).expect("producer")
}

/// Sends `bodies` to `topic` (tag `TagA`) and waits until the namesrv serves the topic's
/// route, so consumers find it at once.
pub(crate) fn produce(h: &dyn Harness, topic: &str, bodies: &[String]) {
    let producer = new_producer(h, QueueSelector::RoundRobin);
    for body in bodies {
        let mut m = Message::new(topic.to_owned(), body.clone());
        m.set_tags("TagA").expect("tags");
        m.set_keys([body.as_str()]).expect("keys");
        let sent = producer.send(m).expect("send");
        assert_eq!(sent.status, SendStatus::SendOk);
    }
    producer.shutdown().expect("producer shutdown");
    wait_for_route(h, topic);
}

fn wait_for_route(h: &dyn Harness, topic: &str) {
    let give_up = Instant::now() + WAIT;
    while h.query_route(topic).is_err() {
        assert!(Instant::now() < give_up, "no route for {topic}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

pub(crate) fn config(group: &str, from: ConsumeFromWhere) -> ConsumerConfig {
    ConsumerConfig {
        group: group.to_owned(),
        consume_from_where: from,
        ..ConsumerConfig::default()
    }
}

pub(crate) fn sub(topic: &str) -> Vec<Subscription> {
    vec![Subscription::tag(topic, "*").expect("subscription")]
}

/// A push consumer of `group` on every message of `topic` from its first offset, recording
/// into `seen`.
pub(crate) fn start_consumer<'a>(
    h: &'a dyn Harness,
    group: &str,
    topic: &str,
    seen: &Seen,
) -> Box<dyn HarnessConsumer + 'a> {
    h.create_push_consumer(
        config(group, ConsumeFromWhere::FirstOffset),
        sub(topic),
        PushConsumerOptions::default(),
        seen.recorder(),
    )
    .expect("consumer starts")
}

/// Produce 20, consume 20 with a concurrent push consumer: every body once, the original
/// topic and tags, and the offsets persisted at shutdown add up to the count.
pub fn consume_concurrently(h: &dyn Harness) {
    let topic = unique("rw_consume");
    let sent = bodies("c", 20);
    produce(h, &topic, &sent);
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset),
            sub(&topic),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    seen.wait_for("20 messages", |m| m.len() >= 20);
    let report = consumer.shutdown(DRAIN).expect("consumer shutdown");
    let got: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(got, sent.iter().cloned().collect::<BTreeSet<_>>());
    for m in seen.snapshot() {
        assert_eq!(m.topic(), topic);
        assert_eq!(m.message.tags(), Some("TagA"));
        assert_eq!(m.reconsume_times, 0);
        let body = String::from_utf8_lossy(m.body()).into_owned();
        assert_eq!(m.message.key_list().collect::<Vec<_>>(), [body.as_str()]);
    }
    let persisted = persisted_sum(&report, &topic);
    assert_eq!(persisted, 20, "offsets at shutdown: {:?}", report.persisted);
    assert_eq!(report.abandoned_deliveries, 0);
}

/// A tag expression written with spaces (`TagA || TagC`, as Java's docs write it) selects
/// those tags on the real broker, and only those.
pub fn consume_tag_expression(h: &dyn Harness) {
    let topic = unique("rw_tags");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let mut wanted = BTreeSet::new();
    for i in 0..12 {
        let tag = ["TagA", "TagB", "TagC"][i % 3];
        let body = format!("{tag}-{i}");
        let mut m = Message::new(topic.clone(), body.clone());
        m.set_tags(tag).expect("tags");
        producer.send(m).expect("send");
        if tag != "TagB" {
            wanted.insert(body);
        }
    }
    producer.shutdown().expect("producer shutdown");
    wait_for_route(h, &topic);
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset),
            vec![Subscription::tag(&topic, " TagA || TagC ").expect("subscription")],
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    seen.wait_for("the 8 TagA and TagC messages", |m| m.len() >= wanted.len());
    let report = consumer.shutdown(DRAIN).expect("consumer shutdown");
    let got: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(got, wanted, "TagB filtered out, nothing else");
    let persisted = persisted_sum(&report, &topic);
    assert_eq!(
        persisted, 12,
        "filtered messages count as consumed: {:?}",
        report.persisted
    );
}

/// The offsets a closed consumer persisted for `topic`'s queues, added up.
fn persisted_sum(report: &ConsumerCloseReport, topic: &str) -> i64 {
    report
        .persisted
        .iter()
        .filter(|(mq, _)| mq.topic == topic)
        .map(|(_, o)| *o)
        .sum()
}

fn topic_queues(queues: &[MessageQueue], topic: &str) -> BTreeSet<MessageQueue> {
    queues
        .iter()
        .filter(|q| q.topic == topic)
        .cloned()
        .collect()
}

/// Two consumers of one group (two clients) split the topic's 4 queues; when one stops,
/// the other takes all of them and consumes what is sent next.
pub fn consumer_group_rebalance(h: &dyn Harness) {
    let topic = unique("rw_rebalance");
    produce(h, &topic, &bodies("warmup", 1));
    let group = unique("rw_cgroup");
    let other = h.start_another(cluster_config());
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    let a = member(h, &group, &topic, &seen_a);
    let b = member(other.as_ref(), &group, &topic, &seen_b);
    wait_split(a.as_ref(), b.as_ref(), &topic);
    b.shutdown(DRAIN).expect("b shutdown");
    other.shutdown().expect("other client shutdown");
    wait_all_taken(a.as_ref(), &topic);
    produce_and_see(h, &topic, &seen_a);
    a.shutdown(DRAIN).expect("a shutdown");
}

/// Two clients given one client id (the same IP and instance name) in one group: a member
/// finds the other on the broker's connection list and reports the collision (typed, while
/// it lasts); a member of a group without a twin reports none.
pub fn a_shared_client_id_is_reported(h: &dyn Harness) {
    let topic = unique("rw_twins");
    produce(h, &topic, &bodies("warmup", 1));
    let mut config = cluster_config();
    config.client_ip = "127.0.0.1".into();
    let instance = unique("twin");
    config.instance_name = Some(instance.clone());
    let (one, two) = (h.start_another(config.clone()), h.start_another(config));
    let group = unique("rw_cgroup");
    let (seen_a, seen_b, seen_c) = (Seen::default(), Seen::default(), Seen::default());
    let a = member(one.as_ref(), &group, &topic, &seen_a);
    let b = member(two.as_ref(), &group, &topic, &seen_b);
    let alone = member(h, &unique("rw_cgroup"), &topic, &seen_c);
    let give_up = Instant::now() + Duration::from_secs(60);
    let collision = loop {
        let found = [&a, &b]
            .into_iter()
            .find_map(|c| c.client_id_collision().expect("query"));
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < give_up, "no collision reported in 60 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(collision.client_id, format!("127.0.0.1@{instance}"));
    assert_eq!(collision.group, group);
    assert!(!collision.client_addrs.is_empty(), "{collision:?}");
    assert_eq!(alone.client_id_collision().expect("query"), None);
    for c in [a, b, alone] {
        c.shutdown(DRAIN).expect("consumer shutdown");
    }
    one.shutdown().expect("client shutdown");
    two.shutdown().expect("client shutdown");
}

/// Sends 8 messages to `topic` and waits until `seen` has them all.
fn produce_and_see(h: &dyn Harness, topic: &str, seen: &Seen) {
    let sent = bodies("after", 8);
    produce(h, topic, &sent);
    seen.wait_for("the 8 messages sent last", |m| {
        let got: BTreeSet<String> = m
            .iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect();
        sent.iter().all(|s| got.contains(s))
    });
}

/// A push consumer of `group` on `h` starting at the last offset, recording into `seen`.
fn member<'h>(
    h: &'h dyn Harness,
    group: &str,
    topic: &str,
    seen: &Seen,
) -> Box<dyn HarnessConsumer + 'h> {
    h.create_push_consumer(
        config(group, ConsumeFromWhere::LastOffset),
        sub(topic),
        PushConsumerOptions::default(),
        seen.recorder(),
    )
    .expect("consumer")
}

/// Waits until `a` and `b` hold two queues of `topic` each, disjoint, with start offsets (so a
/// close of either persists them).
fn wait_split(a: &dyn HarnessConsumer, b: &dyn HarnessConsumer, topic: &str) {
    let give_up = Instant::now() + WAIT;
    loop {
        let qa = topic_queues(&a.assigned_queues().expect("a queues"), topic);
        let qb = topic_queues(&b.assigned_queues().expect("b queues"), topic);
        if qa.len() == 2
            && qb.len() == 2
            && qa.is_disjoint(&qb)
            && started(a, topic) == 2
            && started(b, topic) == 2
        {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "queues not split: a {qa:?}, b {qb:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How many queues of `topic` `c` has a start offset for.
fn started(c: &dyn HarnessConsumer, topic: &str) -> usize {
    c.offsets()
        .expect("offsets")
        .keys()
        .filter(|q| q.topic == topic)
        .count()
}

/// Waits until `a` holds every queue of `topic` with its start offset: messages sent from
/// then on are after its positions. The broker may still list the member that left when it
/// notifies `a`; then `a` takes its queues at its next periodic rebalance (20 s), so one full
/// round is allowed for.
fn wait_all_taken(a: &dyn HarnessConsumer, topic: &str) {
    let give_up = Instant::now() + WAIT + Duration::from_secs(20);
    while topic_queues(&a.assigned_queues().expect("a queues"), topic).len() != 4
        || started(a, topic) != 4
    {
        assert!(Instant::now() < give_up, "a did not take every queue");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Dropping a push consumer (no shutdown call) closes it: its offsets are persisted and it
/// unregisters, so the other member of the group takes its queues within one rebalance
/// round and resumes from the committed offsets: it gets none of what the dropped one
/// consumed, and every message sent afterwards.
pub fn dropped_consumer_hands_over_its_queues(h: &dyn Harness) {
    hand_over(h, Leave::Drop);
}

/// `Client::shutdown(timeout)` closes the client's consumers gracefully before its
/// connections (the consumer handle is leaked, so only the client's shutdown closes it): the
/// other member takes over as after a consumer's own shutdown.
pub fn client_shutdown_closes_its_consumers_first(h: &dyn Harness) {
    hand_over(h, Leave::ClientShutdown);
}

/// How the second member leaves in [`hand_over`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// Its handle is dropped.
    Drop,
    /// Its client is shut down (the handle is leaked).
    ClientShutdown,
}

/// Two members split the topic; the second consumes some messages and leaves as `leave`
/// says; the first takes every queue, consumes none of the second's messages again and
/// gets every message sent afterwards.
fn hand_over(h: &dyn Harness, leave: Leave) {
    let topic = unique("rw_dropped");
    produce(h, &topic, &bodies("warmup", 1));
    let group = unique("rw_cgroup");
    let other = h.start_another(cluster_config());
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    let a = member(h, &group, &topic, &seen_a);
    let b = member(other.as_ref(), &group, &topic, &seen_b);
    wait_split(a.as_ref(), b.as_ref(), &topic);
    let before = bodies("before", 16);
    produce(h, &topic, &before);
    let both_got_all = || {
        let mut got: BTreeSet<String> = seen_a.bodies().into_iter().collect();
        got.extend(seen_b.bodies());
        before.iter().all(|s| got.contains(s))
    };
    let give_up = Instant::now() + WAIT;
    while !both_got_all() {
        assert!(
            Instant::now() < give_up,
            "the 16 messages were not consumed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let b_got: BTreeSet<String> = seen_b.bodies().into_iter().collect();
    assert!(!b_got.is_empty(), "b consumed some of them");
    let other = match leave {
        Leave::Drop => {
            drop(b);
            Some(other)
        }
        Leave::ClientShutdown => {
            std::mem::forget(b);
            other.shutdown().expect("other client shutdown");
            None
        }
    };
    wait_all_taken(a.as_ref(), &topic);
    produce_and_see(h, &topic, &seen_a);
    let again: Vec<String> = seen_a
        .bodies()
        .into_iter()
        .filter(|body| b_got.contains(body))
        .collect();
    assert!(
        again.is_empty(),
        "a consumed again what b had consumed: {again:?}"
    );
    a.shutdown(DRAIN).expect("a shutdown");
    if let Some(other) = other {
        other.shutdown().expect("other client shutdown");
    }
}

/// An orderly consumer sees each sharding key's messages in send order, also when the
/// handler suspends the queue once in the middle.
pub fn consume_orderly(h: &dyn Harness) {
    let topic = unique("rw_orderly");
    let producer = new_producer(h, QueueSelector::Hash);
    for i in 0..30 {
        let key = format!("key-{}", i % 3);
        let mut m = Message::new(topic.clone(), format!("{key}/{}", i / 3));
        m.set_property(keys::SHARDING_KEY, key).expect("key");
        producer.send(m).expect("ordered send");
    }
    producer.shutdown().expect("producer shutdown");
    wait_for_route(h, &topic);
    let seen = Seen::default();
    let suspended = Arc::new(AtomicUsize::new(0));
    let handler: Handler = {
        let (seen, suspended) = (seen.clone(), suspended.clone());
        Arc::new(move |messages: &[MessageExt]| {
            let first = String::from_utf8_lossy(messages[0].body()).into_owned();
            if first == "key-1/4" && suspended.fetch_add(1, Ordering::SeqCst) == 0 {
                return ConsumeOutcome::SuspendCurrentQueue(Some(Duration::from_millis(100)));
            }
            seen.push(messages);
            ConsumeOutcome::Success
        })
    };
    let config = ConsumerConfig {
        consume_mode: ConsumeMode::Orderly,
        ..config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset)
    };
    let consumer = h
        .create_push_consumer(config, sub(&topic), PushConsumerOptions::default(), handler)
        .expect("orderly consumer");
    seen.wait_for("30 ordered messages", |m| m.len() >= 30);
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    assert!(
        suspended.load(Ordering::SeqCst) >= 1,
        "the suspend happened"
    );
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for body in seen.bodies() {
        let (key, seq) = body.split_once('/').expect("key/seq");
        per_key
            .entry(key.to_owned())
            .or_default()
            .push(seq.parse().expect("seq"));
    }
    assert_eq!(per_key.len(), 3);
    for (key, seqs) in per_key {
        assert_eq!(seqs, (0..10).collect::<Vec<u32>>(), "{key} in order, once");
    }
}

/// A handler that answers ReconsumeLater (delay level 1) once gets the message again from
/// the retry topic, with reconsume times 1 and the original topic restored.
pub fn consume_retry_send_back(h: &dyn Harness) {
    let topic = unique("rw_retry");
    produce(h, &topic, &["retry-me".to_owned()]);
    let seen = Seen::default();
    let handler: Handler = {
        let seen = seen.clone();
        Arc::new(move |messages: &[MessageExt]| {
            seen.push(messages);
            if messages.iter().all(|m| m.reconsume_times == 0) {
                ConsumeOutcome::ReconsumeLater { delay_level: 1 }
            } else {
                ConsumeOutcome::Success
            }
        })
    };
    let consumer = h
        .create_push_consumer(
            config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset),
            sub(&topic),
            PushConsumerOptions::default(),
            handler,
        )
        .expect("consumer");
    seen.wait_for("the message again after send-back", |m| {
        m.iter().any(|m| m.reconsume_times == 1)
    });
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    let messages = seen.snapshot();
    let first = &messages[0];
    assert_eq!(first.reconsume_times, 0);
    let again = messages
        .iter()
        .find(|m| m.reconsume_times == 1)
        .expect("redelivered");
    assert_eq!(again.body(), first.body());
    assert_eq!(
        again.topic(),
        topic,
        "the retry topic is reset to the original"
    );
    assert_eq!(again.msg_id(), first.msg_id(), "same client message id");
}

/// A handler that panics counts as ReconsumeLater: the message comes back.
pub fn consume_handler_panic_is_retried(h: &dyn Harness) {
    let topic = unique("rw_panic");
    produce(h, &topic, &["boom".to_owned()]);
    let seen = Seen::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let handler: Handler = {
        let (seen, calls) = (seen.clone(), calls.clone());
        Arc::new(move |messages: &[MessageExt]| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("handler failure on purpose");
            }
            seen.push(messages);
            ConsumeOutcome::Success
        })
    };
    // Level 0: the broker's first retry delay is level 3 (10 s).
    let config = config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset);
    let consumer = h
        .create_push_consumer(config, sub(&topic), PushConsumerOptions::default(), handler)
        .expect("consumer");
    seen.wait_for("the message after the panic", |m| !m.is_empty());
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    let again = &seen.snapshot()[0];
    assert_eq!(again.reconsume_times, 1);
    assert_eq!(again.body().as_ref(), b"boom");
}

/// A broadcasting consumer keeps its offsets in a local file: after a restart with the same
/// client id it consumes only what was sent meanwhile.
pub fn consume_broadcasting_offsets_survive_restart(h: &dyn Harness) {
    let topic = unique("rw_broadcast");
    let group = unique("rw_bgroup");
    let dir = std::env::temp_dir().join(unique("rw_offsets"));
    let first = bodies("first", 5);
    produce(h, &topic, &first);
    let mut client_config = cluster_config();
    client_config.instance_name = Some(unique("rw_instance"));
    let options = PushConsumerOptions::default().with_offset_dir(&dir);
    let config = ConsumerConfig {
        message_model: MessageModel::Broadcasting,
        ..config(&group, ConsumeFromWhere::FirstOffset)
    };

    let client = h.start_another(client_config.clone());
    let seen = Seen::default();
    let consumer = client
        .create_push_consumer(
            config.clone(),
            sub(&topic),
            options.clone(),
            seen.recorder(),
        )
        .expect("broadcasting consumer");
    seen.wait_for("the first 5", |m| m.len() >= 5);
    let report = consumer.shutdown(DRAIN).expect("consumer shutdown");
    client.shutdown().expect("client shutdown");
    assert_eq!(report.persisted.values().sum::<i64>(), 5);
    let file = std::fs::read_dir(&dir)
        .expect("offset dir")
        .filter_map(Result::ok)
        .map(|e| e.path().join(&group).join("offsets.json"))
        .find(|p| p.exists())
        .expect("offsets.json under <dir>/<clientId>/<group>/");
    let content = std::fs::read(&file).expect("offset file");
    let table = rocketwire_core::consumer::decode_offset_file(&content).expect("valid file");
    assert_eq!(table.values().sum::<i64>(), 5, "file: {table:?}");

    let second = bodies("second", 3);
    produce(h, &topic, &second);
    let client = h.start_another(client_config);
    let seen = Seen::default();
    let consumer = client
        .create_push_consumer(config, sub(&topic), options, seen.recorder())
        .expect("broadcasting consumer after restart");
    seen.wait_for("the 3 sent meanwhile", |m| m.len() >= 3);
    // Nothing of the first round comes back.
    std::thread::sleep(Duration::from_millis(1500));
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    client.shutdown().expect("client shutdown");
    let got: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(got, second.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(seen.snapshot().len(), 3, "each once: {:?}", seen.bodies());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A corrupt broadcasting offset file stops the consumer at start with an error naming it.
pub fn consume_broadcasting_corrupt_file_fails(h: &dyn Harness) {
    let topic = unique("rw_corrupt");
    produce(h, &topic, &bodies("x", 1));
    let group = unique("rw_bgroup");
    let dir = std::env::temp_dir().join(unique("rw_offsets"));
    let mut client_config = cluster_config();
    let instance = unique("rw_instance");
    // The client id is `<client ip>@<instance name>` (an IP given is not detected).
    client_config.client_ip = "127.0.0.1".into();
    let client_id = format!("{}@{}", client_config.client_ip, instance);
    client_config.instance_name = Some(instance);
    let client = h.start_another(client_config);
    let path = dir.join(&client_id).join(&group).join("offsets.json");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(&path, b"{ not json").expect("write");
    let config = ConsumerConfig {
        message_model: MessageModel::Broadcasting,
        ..config(&group, ConsumeFromWhere::FirstOffset)
    };
    let result = client
        .create_push_consumer(
            config,
            sub(&topic),
            PushConsumerOptions::default().with_offset_dir(&dir),
            Seen::default().recorder(),
        )
        .map(|_| ());
    match result {
        Err(rocketwire_tokio::ConsumerStartError::OffsetFile { path: p, .. }) => {
            assert_eq!(p, path)
        }
        Err(other) => panic!("expected an offset file error, got {other}"),
        Ok(_) => panic!("a corrupt offset file must stop the consumer"),
    }
    client.shutdown().expect("client shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A consumer starting from a timestamp sees only what was stored after it.
pub fn consume_from_timestamp(h: &dyn Harness) {
    let topic = unique("rw_timestamp");
    produce(h, &topic, &bodies("before", 4));
    std::thread::sleep(Duration::from_millis(1500));
    let from = wire::wall_millis();
    std::thread::sleep(Duration::from_millis(200));
    let after = bodies("after", 4);
    produce(h, &topic, &after);
    let seen = Seen::default();
    let config = ConsumerConfig {
        consume_timestamp_ms: Some(from),
        ..config(&unique("rw_cgroup"), ConsumeFromWhere::Timestamp)
    };
    let consumer = h
        .create_push_consumer(
            config,
            sub(&topic),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer");
    seen.wait_for("the 4 sent after the timestamp", |m| m.len() >= 4);
    std::thread::sleep(Duration::from_millis(1000));
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    let got: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(got, after.iter().cloned().collect::<BTreeSet<_>>());
}

/// Decides by body: `commit`, `rollback`, or `unknown` (then committed at the check).
struct BodyListener {
    checks: Arc<AtomicUsize>,
}

impl TransactionListener for BodyListener {
    fn execute(&self, message: &Message) -> TransactionState {
        match &message.body[..] {
            b"commit" => TransactionState::Commit,
            b"rollback" => TransactionState::Rollback,
            b"panic" => panic!("listener failure on purpose"),
            _ => TransactionState::Unknown,
        }
    }
    fn check(&self, message: &MessageExt) -> TransactionState {
        self.checks.fetch_add(1, Ordering::SeqCst);
        match message.body().as_ref() {
            b"unknown" | b"panic" => TransactionState::Commit,
            _ => TransactionState::Rollback,
        }
    }
}

/// Transactional sends: a committed message is consumable, a rolled-back one never is, and
/// an unknown one (also a listener that panics) is committed by the broker's check-back.
pub fn transactional_producer(h: &dyn Harness) {
    let topic = unique("rw_tx");
    produce(h, &topic, &["warmup".to_owned()]);
    let checks = Arc::new(AtomicUsize::new(0));
    let producer_config = ProducerConfig::builder(unique("rw_txgroup"))
        .build()
        .expect("producer config");
    let listener = Arc::new(BodyListener {
        checks: checks.clone(),
    });
    let producer = h
        .create_transaction_producer(producer_config, listener)
        .expect("transaction producer");
    for (body, state) in [
        ("commit", TransactionState::Commit),
        ("rollback", TransactionState::Rollback),
        ("unknown", TransactionState::Unknown),
        ("panic", TransactionState::Unknown),
    ] {
        let result = producer
            .send_in_transaction(Message::new(topic.clone(), body))
            .expect("transactional send");
        assert_eq!(result.state, state, "{body}");
        assert_eq!(result.send_result.status, SendStatus::SendOk);
        assert!(result.send_result.transaction_id.is_some());
    }
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset),
            sub(&topic),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer");
    seen.wait_for("commit, and unknown/panic after check-back", |m| {
        let got: BTreeSet<&[u8]> = m.iter().map(|m| m.body().as_ref()).collect();
        got.contains(&b"commit"[..]) && got.contains(&b"unknown"[..]) && got.contains(&b"panic"[..])
    });
    // The rollback must not show up, even a little later.
    std::thread::sleep(Duration::from_millis(1000));
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    producer.shutdown().expect("producer shutdown");
    assert!(!seen.bodies().iter().any(|b| b == "rollback"));
    assert!(
        checks.load(Ordering::SeqCst) >= 2,
        "the broker checked back"
    );
}

/// A running push consumer subscribes a second topic and consumes what is sent to it, then
/// unsubscribes the first and gets nothing more of it.
pub fn consume_subscribe_and_unsubscribe_while_running(h: &dyn Harness) {
    let (first, second) = (unique("rw_psub1"), unique("rw_psub2"));
    produce(h, &first, &bodies("one", 4));
    produce(h, &second, &bodies("two", 4));
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            config(&unique("rw_cgroup"), ConsumeFromWhere::FirstOffset),
            sub(&first),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    seen.wait_for("the first topic", |m| m.len() >= 4);
    let added = Subscription::tag(second.as_str(), "*").expect("subscription");
    consumer.subscribe(added).expect("subscribe while running");
    seen.wait_for("the added topic", |m| {
        m.iter().filter(|m| m.topic() == second).count() >= 4
    });
    consumer.unsubscribe(&first).expect("unsubscribe");
    let held = consumer.assigned_queues().expect("assigned queues");
    assert!(
        held.iter().all(|q| q.topic != first),
        "still holds the dropped topic: {held:?}"
    );
    let before = seen.snapshot().len();
    produce(h, &first, &bodies("one-late", 2));
    produce(h, &second, &bodies("two-late", 2));
    seen.wait_for("the kept topic", |m| m.len() >= before + 2);
    std::thread::sleep(Duration::from_secs(3));
    let late: Vec<String> = seen.bodies().split_off(before);
    assert_eq!(
        late.iter().cloned().collect::<BTreeSet<_>>(),
        bodies("two-late", 2).into_iter().collect::<BTreeSet<_>>(),
        "{late:?}"
    );
    consumer.shutdown(DRAIN).expect("consumer shutdown");
}
