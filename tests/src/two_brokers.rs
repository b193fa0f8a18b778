//! Real-cluster scenarios on a cluster of two brokers of different names (`cargo xtask
//! cluster up --brokers 2`; `cargo xtask test` starts one): retry on the other broker, fault
//! isolation and its expiry, a group rebalanced over both brokers' queues, orderly locks per
//! broker. The second broker's address and PID come from `ROCKETWIRE_BROKER_B` and
//! `ROCKETWIRE_BROKER_B_PID`; a scenario that needs it down freezes it (SIGSTOP) and always
//! thaws it again (SIGCONT), so the cluster stays whole for the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use rocketwire_core::body::{ConsumeFromWhere, MessageQueue, TopicRouteData};
use rocketwire_core::codec::{RemotingCommand, RequestCode};
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfig, Subscription};
use rocketwire_core::message::{keys, Message};
use rocketwire_core::producer::{LatencyTable, ProducerConfig, QueueSelector, SendStatus};
use rocketwire_tokio::PushConsumerOptions;

use crate::harness::{HarnessConsumer, HarnessProducer};
use crate::seen::Seen;
use crate::{cluster_config, unique, Harness};

/// How long a scenario waits for a condition before failing.
const WAIT: Duration = Duration::from_secs(30);
/// Queues per broker of the topics the scenarios create.
const QUEUES: i32 = 4;

/// The first broker's address (`ROCKETWIRE_BROKER`).
fn broker_a() -> String {
    env("ROCKETWIRE_BROKER")
}

/// The second broker's address (`ROCKETWIRE_BROKER_B`).
fn broker_b() -> String {
    env("ROCKETWIRE_BROKER_B")
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!("{key} is not set: run the two-broker suite with `cargo xtask test`")
    })
}

/// Creates `topic` with [`QUEUES`] queues on both brokers and waits until the namesrv routes
/// it to both; returns the route.
fn topic_on_both(h: &dyn Harness, topic: &str) -> TopicRouteData {
    for addr in [broker_a(), broker_b()] {
        let command = RemotingCommand::request(RequestCode::UpdateAndCreateTopic)
            .with_field("topic", topic)
            .with_field("defaultTopic", "TBW102")
            .with_field("readQueueNums", QUEUES.to_string())
            .with_field("writeQueueNums", QUEUES.to_string())
            .with_field("perm", "6")
            .with_field("topicFilterType", "SINGLE_TAG")
            .with_field("topicSysFlag", "0")
            .with_field("order", "false");
        h.invoke_ok(&addr, command, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("create {topic} on {addr}: {e}"));
    }
    let give_up = Instant::now() + WAIT;
    loop {
        if let Ok(route) = h.query_route(topic) {
            if route.broker_datas.len() == 2 && route.queue_datas.len() == 2 {
                return route;
            }
        }
        assert!(
            Instant::now() < give_up,
            "{topic} not routed to both brokers"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The second broker's name in `route`.
fn name_of_b(route: &TopicRouteData) -> String {
    let b = broker_b();
    route
        .broker_datas
        .iter()
        .find(|d| d.broker_addrs.values().any(|a| *a == b))
        .map(|d| d.broker_name.clone())
        .expect("the second broker is in the route")
}

/// The second broker, frozen (SIGSTOP) until dropped (SIGCONT): connections stay open and
/// requests get no answer, as from a broker that hangs.
struct Frozen(String);

impl Frozen {
    fn broker_b() -> Self {
        let pid = env("ROCKETWIRE_BROKER_B_PID");
        signal("-STOP", &pid);
        wait_stopped(&pid);
        Frozen(pid)
    }
}

/// Waits until every thread of `pid` is stopped: `kill` returns once the signal is sent,
/// and on a loaded machine a thread of the broker may still run (and answer a request)
/// for a moment after that.
fn wait_stopped(pid: &str) {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|dir| {
                dir.flatten()
                    .map(|t| t.path().join("stat"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let stopped = !tasks.is_empty()
            && tasks.iter().all(|stat| {
                std::fs::read_to_string(stat).is_ok_and(|s| {
                    // `pid (comm) S ...`: the state follows the last `)`.
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .is_some_and(|state| state == "T" || state == "t")
                })
            });
        if stopped {
            return;
        }
        assert!(Instant::now() < give_up, "broker {pid} did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", &self.0);
    }
}

fn signal(which: &str, pid: &str) {
    let status = Command::new("kill")
        .args([which, pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {which} {pid} failed");
}

/// While one broker hangs, every send succeeds on the other within its budget: the attempt
/// that hit the hung broker times out and is retried on the other one, and fault isolation
/// keeps later sends off the hung broker (it is tried again only once its isolation ended).
/// Once the broker is back and its isolation expired, sends reach it again.
pub fn send_retried_on_the_other_broker_and_isolation_expires(h: &dyn Harness) {
    let topic = unique("rw_two_send");
    let route = topic_on_both(h, &topic);
    let b = name_of_b(&route);
    let isolation = Duration::from_secs(2);
    let config = ProducerConfig {
        send_timeout: Duration::from_secs(10),
        max_timeout_per_attempt: Some(Duration::from_secs(1)),
        send_latency_fault_enable: true,
        // Any isolation (a timeout counts as 10 s of latency) lasts `isolation`.
        latency_table: LatencyTable::new(vec![
            (Duration::from_millis(0), Duration::ZERO),
            (Duration::from_millis(3_000), isolation),
        ]),
        ..ProducerConfig::builder(unique("rw_pgroup"))
            .build()
            .expect("valid producer config")
    };
    let producer = h
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer");
    // Warm up: both brokers take sends (connections open, publish view built).
    let mut brokers = BTreeSet::new();
    for i in 0..(2 * QUEUES) {
        let sent = producer
            .send(Message::new(topic.clone(), format!("warm-{i}")))
            .expect("warm-up send");
        brokers.insert(sent.message_queue.broker_name);
    }
    assert_eq!(brokers.len(), 2, "round robin reaches both brokers");
    let frozen = Frozen::broker_b();
    let started = Instant::now();
    let mut slow = 0;
    for i in 0..20 {
        let t = Instant::now();
        let sent = producer
            .send(Message::new(topic.clone(), format!("frozen-{i}")))
            .unwrap_or_else(|e| panic!("send {i} with one broker hung: {e}"));
        assert_eq!(sent.status, SendStatus::SendOk);
        assert_ne!(
            sent.message_queue.broker_name, b,
            "stored on the hung broker"
        );
        // Only an attempt on the hung broker takes its full 1 s timeout.
        if t.elapsed() >= Duration::from_secs(1) {
            slow += 1;
        }
    }
    // Round robin reaches the hung broker's queues among 20 sends: the retry happened.
    assert!(slow >= 1, "no send tried the hung broker");
    // Each try of the hung broker isolates it for `isolation`: at most one per isolation
    // period (and the first), however slow the machine is.
    let periods = started.elapsed().as_millis() / isolation.as_millis();
    let bound = 1 + usize::try_from(periods).unwrap_or(usize::MAX);
    assert!(
        slow <= bound,
        "{slow} sends tried the hung broker in {:?} (isolation should allow at most {bound})",
        started.elapsed()
    );
    drop(frozen);
    std::thread::sleep(isolation + Duration::from_millis(500));
    let mut after = BTreeSet::new();
    let give_up = Instant::now() + WAIT;
    while !after.contains(&b) {
        assert!(Instant::now() < give_up, "sends never reached {b} again");
        let sent = producer
            .send(Message::new(topic.clone(), "thawed"))
            .expect("send after the broker is back");
        after.insert(sent.message_queue.broker_name);
    }
    producer.shutdown().expect("producer shutdown");
}

fn new_producer(h: &dyn Harness, selector: QueueSelector) -> Box<dyn HarnessProducer + '_> {
    let config = ProducerConfig::builder(unique("rw_pgroup"))
        .build()
        .expect("valid producer config");
    h.create_producer(config, selector).expect("producer")
}

fn consumer_config(group: &str, mode: ConsumeMode) -> ConsumerConfig {
    ConsumerConfig {
        group: group.to_owned(),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        consume_mode: mode,
        ..ConsumerConfig::default()
    }
}

fn subscription(topic: &str) -> Vec<Subscription> {
    vec![Subscription::tag(topic, "*").expect("subscription")]
}

fn held(c: &dyn HarnessConsumer, topic: &str) -> BTreeSet<MessageQueue> {
    c.assigned_queues()
        .expect("assigned queues")
        .into_iter()
        .filter(|q| q.topic == topic)
        .collect()
}

/// Two members of a group (two clients) divide the queues of both brokers between them,
/// each queue held once, and together consume every message sent to both brokers.
pub fn group_rebalanced_over_both_brokers(h: &dyn Harness) {
    let topic = unique("rw_two_group");
    topic_on_both(h, &topic);
    let group = unique("rw_cgroup");
    let other = h.start_another(cluster_config());
    let seen = Seen::default();
    let config = || consumer_config(&group, ConsumeMode::Concurrently);
    let options = PushConsumerOptions::default;
    let a = h
        .create_push_consumer(config(), subscription(&topic), options(), seen.recorder())
        .expect("first member");
    let b = other
        .create_push_consumer(config(), subscription(&topic), options(), seen.recorder())
        .expect("second member");
    let give_up = Instant::now() + WAIT;
    loop {
        let (qa, qb) = (held(a.as_ref(), &topic), held(b.as_ref(), &topic));
        let brokers: BTreeSet<&str> = qa
            .iter()
            .chain(&qb)
            .map(|q| q.broker_name.as_str())
            .collect();
        if qa.len() == 4 && qb.len() == 4 && qa.is_disjoint(&qb) && brokers.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "queues of both brokers not divided: a {qa:?}, b {qb:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let mut sent = BTreeSet::new();
    let mut stored_on = BTreeSet::new();
    for i in 0..40 {
        let body = format!("both-{i}");
        let result = producer
            .send(Message::new(topic.clone(), body.clone()))
            .expect("send");
        stored_on.insert(result.message_queue.broker_name);
        sent.insert(body);
    }
    producer.shutdown().expect("producer shutdown");
    assert_eq!(stored_on.len(), 2, "sends reached both brokers");
    seen.wait_for("every message sent to both brokers", |m| {
        let got: BTreeSet<String> = m
            .iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect();
        sent.is_subset(&got)
    });
    b.shutdown(Duration::from_secs(5)).expect("b shutdown");
    a.shutdown(Duration::from_secs(5)).expect("a shutdown");
    other.shutdown().expect("other client shutdown");
}

/// An orderly consumer locks its queues on each broker (one LOCK_BATCH_MQ per broker) and
/// consumes every sharding key in send order, keys spread over both brokers' queues.
pub fn orderly_locks_per_broker(h: &dyn Harness) {
    let topic = unique("rw_two_orderly");
    topic_on_both(h, &topic);
    let producer = new_producer(h, QueueSelector::Hash);
    let mut brokers = BTreeSet::new();
    for i in 0..64 {
        let key = format!("key-{}", i % 16);
        let mut m = Message::new(topic.clone(), format!("{key}/{}", i / 16));
        m.set_property(keys::SHARDING_KEY, key).expect("key");
        let sent = producer.send(m).expect("ordered send");
        brokers.insert(sent.message_queue.broker_name);
    }
    producer.shutdown().expect("producer shutdown");
    assert_eq!(brokers.len(), 2, "the keys spread over both brokers");
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            consumer_config(&unique("rw_cgroup"), ConsumeMode::Orderly),
            subscription(&topic),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("orderly consumer");
    seen.wait_for("64 ordered messages", |m| m.len() >= 64);
    consumer.shutdown(Duration::from_secs(5)).expect("shutdown");
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut hosts = BTreeSet::new();
    for m in seen.snapshot() {
        hosts.insert(m.store_host);
        let body = String::from_utf8_lossy(m.body()).into_owned();
        let (key, seq) = body.split_once('/').expect("key/seq");
        per_key
            .entry(key.to_owned())
            .or_default()
            .push(seq.parse().expect("seq"));
    }
    assert_eq!(hosts.len(), 2, "consumed from both brokers");
    assert_eq!(per_key.len(), 16);
    for (key, seqs) in per_key {
        assert_eq!(seqs, vec![0, 1, 2, 3], "{key} in order, once");
    }
}
