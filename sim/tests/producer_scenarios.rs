//! Producer scenarios: the real `ClientCore` sends through simulated namesrvs and brokers
//! (retries, connection drops, fault isolation, route changes, namesrv failover, topic
//! auto-creation, heartbeats and unregistration, batches, determinism).

use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{
    ProducerConfig, QueueSelector, SelectError, SendError, SendResult, SendSelector, SendStatus,
};
use rocketwire_core::{Event, Misuse, OpId, ProducerId, RequestCode, SendMode, SendTarget};
use rocketwire_sim::{Latency, World, WorldConfig};

const BROKER_A: &str = "127.0.0.1:10911";
const BROKER_B: &str = "127.0.0.1:10921";
const NS1: &str = "127.0.0.1:9876";
const GROUP: &str = "pg";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

fn producer(world: &mut World, timeout: Duration) -> ProducerId {
    let config = ProducerConfig::builder(GROUP)
        .send_timeout(timeout)
        .build()
        .unwrap();
    let now = world.now();
    world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin)
}

fn send(world: &mut World, p: ProducerId, topic: &str, body: &'static [u8]) -> OpId {
    let now = world.now();
    let message = Message::new(topic, Bytes::from_static(body));
    world
        .client(0)
        .send(now, p, message, SendTarget::Default, SendMode::Sync)
        .expect("a live producer")
}

/// Every send result client 0 emitted for `op`, with its time.
fn send_results(world: &World, op: OpId) -> Vec<(Duration, Result<SendResult, SendError>)> {
    world
        .events(0)
        .iter()
        .filter_map(|e| match &e.event {
            Event::Send { op: o, result } if *o == op => Some((e.at, result.clone())),
            _ => None,
        })
        .collect()
}

fn wait_send(world: &mut World, op: OpId) -> (Duration, Result<SendResult, SendError>) {
    world
        .drive_until(|w| !send_results(w, op).is_empty(), secs(60))
        .unwrap();
    let mut results = send_results(world, op);
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0)
}

/// Sends one message and waits for its result, which must be SEND_OK.
fn send_ok(world: &mut World, p: ProducerId, topic: &str) -> (Duration, SendResult) {
    let op = send(world, p, topic, b"m");
    let (at, result) = wait_send(world, op);
    let result = result.unwrap_or_else(|e| panic!("send failed: {e:?}"));
    assert_eq!(result.status, SendStatus::SendOk);
    assert_stored(world, &result, 1);
    (at, result)
}

/// The broker named by `result` stores `count` messages from its offset on whose unique keys
/// are the result's comma-joined message ids, and whose offset ids are its offset ids.
fn assert_stored(world: &mut World, result: &SendResult, count: usize) {
    let q = &result.message_queue;
    let store = world.broker(&q.broker_name).store();
    let ids: Vec<&str> = result.msg_id.split(',').collect();
    let offset_ids: Vec<&str> = result.offset_msg_id.split(',').collect();
    assert_eq!((ids.len(), offset_ids.len()), (count, count), "{result:?}");
    for (i, (id, offset_id)) in ids.iter().zip(&offset_ids).enumerate() {
        let offset = result.queue_offset + i as i64;
        let stored = store
            .at(&q.topic, q.queue_id, offset)
            .unwrap_or_else(|| panic!("nothing stored at {q:?} offset {offset}"));
        assert_eq!(
            stored.message.unique_key(),
            Some(*id),
            "{q:?} offset {offset}"
        );
        assert_eq!(stored.offset_msg_id, *offset_id, "{q:?} offset {offset}");
    }
}

/// Messages of `topic` stored on broker `name`, over all its queues.
fn stored_count(world: &mut World, name: &str, topic: &str) -> i64 {
    let store = world.broker(name).store();
    let nums = store.queue_nums(topic).unwrap_or(0);
    (0..nums).map(|q| store.max_offset(topic, q)).sum()
}

fn sends_seen(world: &mut World, name: &str) -> u64 {
    let b = world.broker(name);
    [
        RequestCode::SendMessage,
        RequestCode::SendMessageV2,
        RequestCode::SendBatchMessage,
    ]
    .into_iter()
    .map(|c| b.requests_seen(c))
    .sum()
}

/// Index of the first transcript line at or after `from` containing every one of `parts`.
fn line_of(transcript: &str, from: usize, parts: &[&str]) -> usize {
    transcript
        .lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| parts.iter().all(|p| l.contains(p)))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no line with {parts:?} after line {from}:\n{transcript}"))
}

/// The client's connection id (as `conn#N`) to `addr`, from the transcript.
fn conn_to(transcript: &str, addr: &str) -> String {
    let line = transcript
        .lines()
        .nth(line_of(transcript, 0, &["Connect conn#", addr]));
    let line = line.unwrap_or_default();
    let start = line.find("conn#").unwrap();
    line[start..].split(' ').next().unwrap().to_string()
}

fn two_broker_world(seed: u64, topic: &str) -> World {
    let mut world = World::new(WorldConfig::new(seed));
    world.broker("broker-a").create_topic(topic, 4);
    world.broker("broker-b").create_topic(topic, 4);
    world
}

#[test]
fn system_busy_is_retried_on_the_other_broker() {
    // Seed chosen so that the first queue picked is on broker-a (asserted below).
    let mut world = two_broker_world(2, "T");
    world.broker("broker-a").busy_next_sends(10);
    let p = producer(&mut world, secs(3));
    let (at, result) = send_ok(&mut world, p, "T");
    assert_eq!(result.message_queue.broker_name, "broker-b");
    assert_eq!(
        sends_seen(&mut world, "broker-a"),
        1,
        "first attempt on broker-a"
    );
    assert_eq!(sends_seen(&mut world, "broker-b"), 1);
    assert_eq!(stored_count(&mut world, "broker-a", "T"), 0);
    assert_eq!(stored_count(&mut world, "broker-b", "T"), 1);
    assert!(at < ms(20), "two fast attempts, got {at:?}");

    let t = world.transcript();
    let (conn_a, conn_b) = (conn_to(&t, BROKER_A), conn_to(&t, BROKER_B));
    let first = line_of(
        &t,
        0,
        &["c1 Transmit", &format!("{conn_a} SEND_MESSAGE_V2")],
    );
    let busy = line_of(&t, first, &["broker-a -> c1", "response SYSTEM_BUSY"]);
    let second = line_of(
        &t,
        busy,
        &["c1 Transmit", &format!("{conn_b} SEND_MESSAGE_V2")],
    );
    let ok = line_of(&t, second, &["broker-b -> c1", "response SUCCESS"]);
    line_of(&t, ok, &["c1 Event Send", "ok SendOk broker-b"]);
    insta::assert_snapshot!(t);
}

#[test]
fn connection_dropped_mid_send_is_retried_once_and_stored_once() {
    let mut world = two_broker_world(2, "T");
    world.broker("broker-a").drop_next_sends(1);
    let p = producer(&mut world, secs(3));
    let op = send(&mut world, p, "T", b"m");
    let (_, result) = wait_send(&mut world, op);
    let result = result.unwrap();
    assert_eq!(result.message_queue.broker_name, "broker-b");
    assert_stored(&mut world, &result, 1);
    // The dropped attempt stored nothing; the retry stored exactly one message.
    assert_eq!(stored_count(&mut world, "broker-a", "T"), 0);
    assert_eq!(stored_count(&mut world, "broker-b", "T"), 1);
    assert_eq!(sends_seen(&mut world, "broker-a"), 1);
    assert_eq!(sends_seen(&mut world, "broker-b"), 1);
    // No second result arrives later.
    world.drive(secs(5)).unwrap();
    assert_eq!(send_results(&world, op).len(), 1);

    // The transport failure isolated broker-a for 10 s: the next sends avoid it ...
    let dropped_at = world.elapsed() - secs(5);
    for _ in 0..6 {
        let (_, r) = send_ok(&mut world, p, "T");
        assert_eq!(r.message_queue.broker_name, "broker-b");
    }
    // ... and once the isolation passed, a fresh connection to broker-a carries sends again.
    world.drive(secs(10)).unwrap();
    let mut brokers = Vec::new();
    for _ in 0..8 {
        brokers.push(send_ok(&mut world, p, "T").1.message_queue.broker_name);
    }
    assert!(brokers.iter().any(|b| b == "broker-a"), "{brokers:?}");
    assert!(dropped_at < secs(1));

    let t = world.transcript();
    let first = line_of(&t, 0, &["c1 Transmit", "SEND_MESSAGE_V2"]);
    let drop = line_of(&t, first, &["broker-a closes link"]);
    let closed = line_of(&t, drop, &["c1 <- Closed"]);
    let retry = line_of(&t, closed, &["c1 Transmit", "SEND_MESSAGE_V2"]);
    let ok = line_of(&t, retry, &["broker-b -> c1", "response SUCCESS"]);
    line_of(&t, ok, &["c1 Event Send", "ok SendOk broker-b"]);
    let head: String = t.lines().take(ok + 3).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(head);
}

#[test]
fn slow_broker_is_avoided_then_readmitted() {
    let mut world = two_broker_world(5, "T");
    let p = producer(&mut world, secs(3));
    // Warm up: route, heartbeats and connections to both brokers at 1 ms latency.
    for _ in 0..4 {
        send_ok(&mut world, p, "T");
    }
    // broker-a becomes slow: 300 ms each way, a send takes ~600 ms (Java: ≥ 550 ms → not
    // available for 2 000 ms).
    world.net().set_latency(BROKER_A, Latency::millis(300, 0));
    let slow = loop {
        let started = world.elapsed();
        let (at, r) = send_ok(&mut world, p, "T");
        if r.message_queue.broker_name == "broker-a" {
            assert!(at - started >= ms(600), "{:?}", at - started);
            break at;
        }
        assert!(at - started < ms(10));
        assert!(world.elapsed() < secs(10), "broker-a never chosen");
    };
    world.net().set_latency(BROKER_A, Latency::millis(1, 0));
    // Until slow + 2 000 ms every send goes to broker-b.
    let mut log = Vec::new();
    while world.elapsed() + ms(100) < slow + ms(2_000) {
        world.drive(ms(100)).unwrap();
        let (at, r) = send_ok(&mut world, p, "T");
        log.push((at, r.message_queue.broker_name.clone()));
        assert!(at < slow + ms(2_000));
        assert_eq!(r.message_queue.broker_name, "broker-b", "at {at:?}");
    }
    assert!(log.len() >= 15, "{log:?}");
    // Afterwards broker-a is available again and gets its turn within one round of queues.
    world
        .drive_until(|w| w.elapsed() >= slow + ms(2_000), secs(5))
        .unwrap();
    let mut after = Vec::new();
    for _ in 0..8 {
        let (at, r) = send_ok(&mut world, p, "T");
        assert!(at >= slow + ms(2_000));
        after.push(r.message_queue.broker_name);
    }
    assert!(after.iter().any(|b| b == "broker-a"), "{after:?}");
}

#[test]
fn new_broker_of_a_topic_is_used_after_the_route_refresh() {
    let mut world = World::new(WorldConfig::new(6));
    world.broker("broker-a").create_topic("T", 4);
    let p = producer(&mut world, secs(3));
    for _ in 0..8 {
        let (_, r) = send_ok(&mut world, p, "T");
        assert_eq!(r.message_queue.broker_name, "broker-a");
    }
    assert_eq!(
        world
            .broker("broker-b")
            .requests_seen(RequestCode::HeartBeat),
        0
    );
    world.broker("broker-b").create_topic("T", 4);
    // Before the refresh (due 30 s after the producer was created) only broker-a is used.
    while world.elapsed() < secs(29) {
        world.drive(secs(1)).unwrap();
        let (_, r) = send_ok(&mut world, p, "T");
        assert_eq!(r.message_queue.broker_name, "broker-a");
    }
    world
        .drive_until(|w| w.elapsed() >= secs(31), secs(5))
        .unwrap();
    // The refresh found broker-b: it got a heartbeat at once, and sends use both brokers.
    let client_id = world.client(0).client_id().to_string();
    assert_eq!(
        world.broker("broker-b").producer_ids(GROUP),
        vec![client_id]
    );
    let mut brokers = Vec::new();
    for _ in 0..16 {
        brokers.push(send_ok(&mut world, p, "T").1.message_queue.broker_name);
    }
    let on_b = brokers.iter().filter(|b| *b == "broker-b").count();
    assert!((6..=10).contains(&on_b), "{brokers:?}");
}

#[test]
fn first_send_succeeds_via_the_second_namesrv_when_the_first_is_partitioned() {
    // Seed chosen so that the client starts with ns1 (asserted below). Route requests time out
    // after 1 s, well inside the 3 s send timeout.
    let mut config = WorldConfig::new(2);
    config.client.request_timeout = secs(1);
    let mut world = World::new(config);
    world.broker("broker-a").create_topic("T", 4);
    world.partition(NS1);
    let p = producer(&mut world, secs(3));
    let (at, r) = send_ok(&mut world, p, "T");
    assert_eq!(r.message_queue.broker_name, "broker-a");
    assert!((ms(1_000)..ms(1_100)).contains(&at), "{at:?}");
    assert_eq!(world.namesrv(0).requests_seen(), 0);
    assert_eq!(world.namesrv(1).requests_seen(), 1);
    let t = world.transcript();
    let first = line_of(&t, 0, &["c1 Connect", NS1]);
    line_of(&t, first, &["c1 Connect", "127.0.0.1:9877"]);

    // With the defaults (request timeout 3 s = send timeout 3 s) the route query to the
    // black-holed namesrv uses the whole budget: the send ends with a timeout exactly at
    // its deadline, and the next send goes to the second namesrv at once.
    let mut world = World::new(WorldConfig::new(2));
    world.broker("broker-a").create_topic("T", 4);
    world.partition(NS1);
    let p = producer(&mut world, secs(3));
    let op = send(&mut world, p, "T", b"m");
    let (at, result) = wait_send(&mut world, op);
    assert_eq!(result, Err(SendError::Timeout));
    assert_eq!(at, secs(3));
    world.drive(ms(100)).unwrap();
    let started = world.elapsed();
    let (at, _) = send_ok(&mut world, p, "T");
    assert!(at - started < ms(20), "{:?}", at - started);
}

#[test]
fn unknown_topic_goes_by_the_template_route_and_is_auto_created() {
    let mut world = World::new(WorldConfig::new(8));
    world.broker("broker-a").create_topic("TBW102", 8);
    world.broker("broker-b").create_topic("TBW102", 8);
    let p = producer(&mut world, secs(3));
    let (_, first) = send_ok(&mut world, p, "NewTopic");
    let creator = first.message_queue.broker_name.clone();
    let other = if creator == "broker-a" {
        "broker-b"
    } else {
        "broker-a"
    };
    // Default template queue count is 4, fewer than TBW102's 8.
    assert!(first.message_queue.queue_id < 4, "{first:?}");
    assert_eq!(
        world.broker(&creator).store().queue_nums("NewTopic"),
        Some(4)
    );
    assert_eq!(world.broker(other).store().queue_nums("NewTopic"), None);
    let t = world.transcript();
    let missing = line_of(&t, 0, &["c1 Transmit", "GET_ROUTEINFO_BY_TOPIC"]);
    let not_exist = line_of(&t, missing, &["-> c1", "response TOPIC_NOT_EXIST"]);
    let template = line_of(&t, not_exist, &["c1 Transmit", "GET_ROUTEINFO_BY_TOPIC"]);
    let found = line_of(&t, template, &["-> c1", "response SUCCESS"]);
    line_of(&t, found, &["c1 Transmit", "SEND_MESSAGE_V2"]);

    // The 30 s refresh fetches the topic's own route: only the creating broker has it.
    world
        .drive_until(|w| w.elapsed() >= secs(31), secs(40))
        .unwrap();
    let routes_before = world.namesrv(0).requests_seen() + world.namesrv(1).requests_seen();
    assert!(routes_before >= 3, "{routes_before}");
    for _ in 0..8 {
        let (_, r) = send_ok(&mut world, p, "NewTopic");
        assert_eq!(r.message_queue.broker_name, creator);
    }
    assert_eq!(world.broker(other).store().queue_nums("NewTopic"), None);
    assert_eq!(stored_count(&mut world, &creator, "NewTopic"), 9);
}

#[test]
fn heartbeats_register_the_group_and_close_unregisters_after_sends_end() {
    let mut world = two_broker_world(7, "T");
    let p = producer(&mut world, secs(3));
    let client_id = world.client(0).client_id().to_string();
    world.drive(ms(100)).unwrap();
    // No broker is known before a route is.
    for b in ["broker-a", "broker-b"] {
        assert_eq!(world.broker(b).requests_seen(RequestCode::HeartBeat), 0);
    }
    send_ok(&mut world, p, "T");
    for b in ["broker-a", "broker-b"] {
        assert_eq!(
            world.broker(b).requests_seen(RequestCode::HeartBeat),
            1,
            "{b}"
        );
        assert_eq!(world.broker(b).producer_ids(GROUP), vec![client_id.clone()]);
    }
    // Again 30 s after the producer was created.
    world
        .drive_until(|w| w.elapsed() >= ms(29_900), secs(30))
        .unwrap();
    for b in ["broker-a", "broker-b"] {
        assert_eq!(
            world.broker(b).requests_seen(RequestCode::HeartBeat),
            1,
            "{b}"
        );
    }
    world
        .drive_until(|w| w.elapsed() >= ms(30_100), secs(1))
        .unwrap();
    for b in ["broker-a", "broker-b"] {
        assert_eq!(
            world.broker(b).requests_seen(RequestCode::HeartBeat),
            2,
            "{b}"
        );
    }

    // Close with a send in flight on slow links: the send ends first, then each broker gets
    // UNREGISTER_CLIENT, then the producer is closed.
    world.net().set_latency(BROKER_A, Latency::millis(200, 0));
    world.net().set_latency(BROKER_B, Latency::millis(200, 0));
    let op = send(&mut world, p, "T", b"last");
    let now = world.now();
    let close = world.client(0).close_producer(now, p).expect("a live id");
    // A send on a closing producer is refused at once, as misuse.
    let late = world.client(0).send(
        now,
        p,
        Message::new("T", Bytes::from_static(b"late")),
        SendTarget::Default,
        SendMode::Sync,
    );
    assert_eq!(late, Err(Misuse::ProducerClosing(p)));
    world
        .drive_until(
            |w| {
                w.events(0)
                    .iter()
                    .any(|e| matches!(e.event, Event::ProducerClosed { op, .. } if op == close))
            },
            secs(10),
        )
        .unwrap();
    let events: Vec<(Duration, Event)> = world
        .events(0)
        .iter()
        .map(|e| (e.at, e.event.clone()))
        .collect();
    let pos = |f: &dyn Fn(&Event) -> bool| events.iter().position(|(_, e)| f(e)).unwrap();
    let sent_pos = pos(&|e| matches!(e, Event::Send { op: o, .. } if *o == op));
    let closed_pos = pos(&|e| matches!(e, Event::ProducerClosed { .. }));
    assert!(sent_pos < closed_pos, "{events:#?}");
    match &events[sent_pos].1 {
        Event::Send { result: Ok(r), .. } => assert_stored(&mut world, r, 1),
        other => panic!("{other:?}"),
    }
    // Send ~400 ms, then unregistration ~400 ms more.
    let (sent_at, closed_at) = (events[sent_pos].0, events[closed_pos].0);
    assert!(closed_at >= sent_at + ms(400), "{sent_at:?} {closed_at:?}");
    for b in ["broker-a", "broker-b"] {
        assert_eq!(
            world.broker(b).requests_seen(RequestCode::UnregisterClient),
            1,
            "{b}"
        );
        assert!(world.broker(b).producer_ids(GROUP).is_empty(), "{b}");
    }
    let t = world.transcript();
    let result = line_of(&t, 0, &["c1 Event Send", "ok SendOk"]);
    let first = line_of(&t, result, &["c1 Transmit", "UNREGISTER_CLIENT"]);
    let second = line_of(&t, first + 1, &["c1 Transmit", "UNREGISTER_CLIENT"]);
    line_of(&t, second, &["c1 Event ProducerClosed"]);
    // No heartbeat after the close.
    let before: u64 = ["broker-a", "broker-b"]
        .iter()
        .map(|b| world.broker(b).requests_seen(RequestCode::HeartBeat))
        .sum();
    world.drive(secs(65)).unwrap();
    let after: u64 = ["broker-a", "broker-b"]
        .iter()
        .map(|b| world.broker(b).requests_seen(RequestCode::HeartBeat))
        .sum();
    assert_eq!(before, after);
}

#[test]
fn batch_is_one_result_with_three_ids_at_consecutive_offsets() {
    let mut world = World::new(WorldConfig::new(9));
    world.broker("broker-a").create_topic("T", 4);
    let p = producer(&mut world, secs(3));
    let (_, single) = send_ok(&mut world, p, "T");
    let queue: MessageQueue = single.message_queue.clone();
    let messages = [b"one".as_slice(), b"two", b"three"]
        .into_iter()
        .map(|b| Message::new("T", Bytes::copy_from_slice(b)))
        .collect();
    let now = world.now();
    let op = world.client(0).send_batch(
        now,
        p,
        messages,
        SendTarget::Queue(queue.clone()),
        SendMode::Sync,
    );
    let (_, result) = wait_send(&mut world, op.expect("a live producer"));
    let result = result.unwrap();
    assert_eq!(result.status, SendStatus::SendOk);
    assert_eq!(result.message_queue, queue);
    assert_eq!(result.queue_offset, single.queue_offset + 1);
    assert_eq!(result.msg_id.split(',').count(), 3, "{}", result.msg_id);
    assert_stored(&mut world, &result, 3);
    let bodies: Vec<Bytes> = (1..=3)
        .map(|o| {
            let store = world.broker("broker-a").store();
            store
                .at("T", queue.queue_id, o)
                .unwrap()
                .message
                .body
                .clone()
        })
        .collect();
    assert_eq!(bodies, [&b"one"[..], b"two", b"three"]);
    assert_eq!(
        world
            .broker("broker-a")
            .requests_seen(RequestCode::SendBatchMessage),
        1
    );
    let events = world
        .events(0)
        .iter()
        .filter(|e| matches!(e.event, Event::Send { .. }));
    assert_eq!(events.count(), 2);
}

/// A small run under busy brokers, a connection drop and jitter; returns the transcript.
fn small_run(seed: u64) -> String {
    let mut config = WorldConfig::new(seed);
    config.net.latency = Latency::millis(1, 3);
    let mut world = World::new(config);
    world.broker("broker-a").create_topic("T", 2);
    world.broker("broker-b").create_topic("T", 2);
    world.broker("broker-a").busy_next_sends(2);
    world.broker("broker-b").drop_next_sends(1);
    let p = producer(&mut world, secs(3));
    let ops: Vec<OpId> = (0..6).map(|_| send(&mut world, p, "T", b"x")).collect();
    world.drive(secs(2)).unwrap();
    for op in ops {
        assert_eq!(send_results(&world, op).len(), 1);
    }
    world.transcript()
}

#[test]
fn same_seed_same_transcript() {
    let a = small_run(11);
    assert_eq!(a, small_run(11));
    assert_ne!(a, small_run(12));
    insta::assert_snapshot!(a);
}

/// Java `DefaultMQProducerImpl.sendDefaultImpl` calls `updateFaultItem(broker, latency,
/// isolation = true)` for an `MQBrokerException` (e.g. SYSTEM_BUSY) as for a
/// `RemotingException`, so the busy broker is not available for 10 s.
#[test]
fn busy_broker_is_isolated_like_java() {
    let mut world = two_broker_world(2, "T");
    world.broker("broker-a").busy_next_sends(1);
    let p = producer(&mut world, secs(3));
    let (_, first) = send_ok(&mut world, p, "T");
    assert_eq!(first.message_queue.broker_name, "broker-b");
    assert_eq!(sends_seen(&mut world, "broker-a"), 1);
    for _ in 0..8 {
        let (at, r) = send_ok(&mut world, p, "T");
        assert!(at < secs(10));
        assert_eq!(r.message_queue.broker_name, "broker-b", "at {at:?}");
    }
}

/// A send whose only broker is down (connections refused) waits for it within its budget,
/// trying again after 100 ms, 200 ms, ... up to 500 ms, and is stored once when the broker is
/// back; it neither fails at the first refusal nor sends the message twice.
#[test]
fn a_send_rides_out_a_broker_restart_within_its_budget() {
    let mut world = World::new(WorldConfig::new(61));
    world.broker("broker-a").create_topic("T", 4);
    let p = producer(&mut world, secs(10));
    send_ok(&mut world, p, "T");
    world.stop_broker("broker-a");
    let stopped = world.elapsed();
    let op = send(&mut world, p, "T", b"through the restart");
    world.drive(secs(3)).unwrap();
    assert!(send_results(&world, op).is_empty(), "still waiting");
    world.start_broker("broker-a");
    let (at, result) = wait_send(&mut world, op);
    let result = result.expect("stored once the broker is back");
    assert_eq!(result.status, SendStatus::SendOk);
    assert_stored(&mut world, &result, 1);
    assert_eq!(stored_count(&mut world, "broker-a", "T"), 2, "stored once");
    // Back within one wait of the restart (waits are at most 500 ms), well inside the budget.
    assert!(at < stopped + secs(3) + secs(1), "ended at {at:?}");
}

/// When the outage outlasts the budget the send fails, at its deadline and not before, with
/// the refused connection as the cause.
#[test]
fn a_send_fails_with_the_refusal_when_the_outage_outlasts_its_budget() {
    let mut world = World::new(WorldConfig::new(62));
    world.broker("broker-a").create_topic("T", 4);
    let p = producer(&mut world, secs(3));
    send_ok(&mut world, p, "T");
    world.stop_broker("broker-a");
    let started = world.elapsed();
    let op = send(&mut world, p, "T", b"never");
    let (at, result) = wait_send(&mut world, op);
    assert!(
        matches!(
            result,
            Err(SendError::Transport(
                rocketwire_core::InvokeError::ConnectFailed { .. }
            ))
        ),
        "{result:?}"
    );
    // Waiting went on until less than one wait (500 ms) was left of the 3 s budget.
    assert!(
        at >= started + ms(2_500) && at <= started + secs(3),
        "{at:?}"
    );
    assert_eq!(stored_count(&mut world, "broker-a", "T"), 1);
}

/// A selector given with the send (Java `send(msg, selector, arg)`) sees every queue of the
/// topic, picks with its argument, and its choice is not retried on another broker: a busy
/// broker fails the send after one attempt, where a default send moves on.
#[test]
fn per_send_selector_picks_with_its_argument_and_is_not_retried_elsewhere() {
    let mut world = two_broker_world(2, "T");
    let p = producer(&mut world, secs(3));
    let pick = |queues: &[MessageQueue], _: &Message, arg: &(&'static str, i32)| {
        queues
            .iter()
            .position(|q| q.broker_name == arg.0 && q.queue_id == arg.1)
            .unwrap_or(queues.len())
    };
    let send_selected = |world: &mut World, arg: (&'static str, i32)| {
        let now = world.now();
        let target = SendTarget::Select(SendSelector::new(pick, arg));
        let op = world
            .client(0)
            .send(now, p, Message::new("T", "m"), target, SendMode::Sync)
            .expect("a live producer");
        wait_send(world, op).1
    };
    let sent = send_selected(&mut world, ("broker-b", 3)).expect("stored");
    assert_eq!(sent.message_queue, MessageQueue::new("T", "broker-b", 3));
    assert_stored(&mut world, &sent, 1);

    world.broker("broker-a").busy_next_sends(10);
    let busy = send_selected(&mut world, ("broker-a", 1));
    assert!(busy.is_err(), "{busy:?}");
    assert_eq!(sends_seen(&mut world, "broker-a"), 1, "one attempt");
    assert_eq!(stored_count(&mut world, "broker-b", "T"), 1, "not moved");

    let nowhere = send_selected(&mut world, ("broker-c", 0));
    assert!(
        matches!(
            nowhere,
            Err(SendError::Select(SelectError::OutOfRange {
                index: 8,
                len: 8
            }))
        ),
        "{nowhere:?}"
    );
}
