//! The real-cluster suite. Each scenario takes a started client of any adapter and asserts
//! what a RocketMQ user relies on; `tests/cluster.rs` runs every scenario on every adapter.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketwire_core::message::{
    decode_messages_with, keys, sysflag, DecodeOptions, Message, MessageExt, OffsetMessageId,
    UniqIdParts,
};
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendResult, SendStatus};
use rocketwire_core::{ClientError, InvokeError, RemotingCommand, ResponseCode, RouteError};

use crate::harness::HarnessProducer;
use crate::wire::{self, default_broker, pull_at_least, send_batch, send_v2, TIMEOUT};
use crate::{unique, Harness};

pub use crate::admin::*;
pub use crate::batching::*;
pub use crate::consume::*;
pub use crate::filter::*;
pub use crate::lite::*;
pub use crate::lite_positions::*;
pub use crate::observe::*;
pub use crate::pop::*;
pub use crate::reply::*;
pub use crate::select::*;
pub use crate::trace::*;

/// A topic that does not exist yet is reported as such; after a send through the template
/// topic's broker the broker auto-creates it (4 queues) and the namesrv serves its route.
pub fn route_for_auto_created_topic(h: &dyn Harness) {
    let topic = unique("rw_auto");
    match h.query_route(&topic) {
        Err(ClientError::Route(RouteError::TopicNotExist(t))) => assert_eq!(t, topic),
        other => panic!("a new topic has no route yet, got {other:?}"),
    }
    let (broker_name, addr) = default_broker(h);
    let message = Message::new(topic.clone(), Bytes::from_static(b"create me"));
    let sent = send_v2(h, &addr, &broker_name, "rw_producer", &message, 0).expect("send");
    assert_eq!(sent.queue_id, 0);

    // The broker registers the new topic with the namesrv; give it a bounded moment.
    let give_up = Instant::now() + Duration::from_secs(30);
    let route = loop {
        match h.query_route(&topic) {
            Ok(route) => break route,
            Err(ClientError::Route(RouteError::TopicNotExist(_))) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("route of the auto-created topic: {e}"),
        }
    };
    let (name, master) = wire::master(&route);
    assert_eq!(name, broker_name);
    assert_eq!(master, addr);
    let queues = route
        .queue_datas
        .iter()
        .find(|q| q.broker_name == broker_name)
        .expect("queue data for the broker");
    assert_eq!(
        queues.write_queue_nums, 4,
        "auto-created topics get 4 queues"
    );
    assert_eq!(queues.read_queue_nums, 4);
    assert_eq!(queues.perm & 6, 6, "readable and writable");
}

/// One message with tags, keys, user properties and a flag goes out with SEND_MESSAGE_V2 and
/// comes back with PULL_MESSAGE, every field intact.
pub fn send_and_pull_one_message(h: &dyn Harness) {
    let topic = unique("rw_one");
    let group = unique("rw_group");
    let (broker_name, addr) = default_broker(h);
    let uniq = wire::uniq_ids().next(wire::wall_millis(), 0);
    let mut message = Message::new(
        topic.clone(),
        Bytes::from_static("héllo, rocketwire".as_bytes()),
    );
    message.flag = 7;
    message.set_tags("TagA").unwrap();
    message.set_keys(["order-1", "user-2"]).unwrap();
    message.put_user_property("color", "blue").unwrap();
    message.put_user_property("size", "42").unwrap();
    message.set_unique_key_if_absent(|| uniq.clone());
    let before = wire::wall_millis();
    let sent = send_v2(h, &addr, &broker_name, "rw_producer", &message, 1).expect("send");
    assert_eq!(sent.queue_id, 1);
    assert_eq!(sent.queue_offset, 0, "first message of a new queue");
    let offset_id = OffsetMessageId::parse(&sent.msg_id).expect("offset msg id");
    assert_eq!(
        offset_id.addr.port().to_string(),
        addr.rsplit(':').next().unwrap()
    );

    let (pull, messages) = pull_at_least(h, &addr, &group, &topic, 1, 0, 1);
    assert_eq!(messages.len(), 1);
    assert_eq!(pull.next_begin_offset, 1);
    assert_eq!(pull.max_offset, 1);
    let m = &messages[0];
    assert_eq!(m.topic(), topic);
    assert_eq!(m.queue_id, 1);
    assert_eq!(m.queue_offset, 0);
    assert_eq!(m.body(), &message.body);
    assert_eq!(m.message.flag, 7);
    assert_eq!(m.message.tags(), Some("TagA"));
    assert_eq!(
        m.message.key_list().collect::<Vec<_>>(),
        ["order-1", "user-2"]
    );
    assert_eq!(m.message.property("color"), Some("blue"));
    assert_eq!(m.message.property("size"), Some("42"));
    assert_eq!(m.message.property(keys::UNIQ_KEY), Some(uniq.as_str()));
    assert_eq!(m.msg_id(), uniq, "client msg id is the UNIQ_KEY");
    assert_eq!(
        m.offset_msg_id, sent.msg_id,
        "offset id matches the send result"
    );
    assert_eq!(m.commit_log_offset, offset_id.offset);
    assert_eq!(m.store_host, offset_id.addr);
    assert_eq!(m.reconsume_times, 0);
    assert_eq!(
        m.sys_flag & rocketwire_core::message::sysflag::COMPRESSED,
        0
    );
    assert!(m.born_timestamp >= before - 1000 && m.born_timestamp <= wire::wall_millis());
    assert!(m.store_timestamp >= m.born_timestamp - 1000);
    let parts = UniqIdParts::parse(uniq.as_str()).expect("uniq id parses");
    assert_eq!(parts.pid as u32, std::process::id() & 0xFFFF);
}

/// A batch of three messages is stored at consecutive offsets and pulled back in order.
pub fn send_and_pull_batch(h: &dyn Harness) {
    let topic = unique("rw_batch");
    let group = unique("rw_group");
    let (broker_name, addr) = default_broker(h);
    let mut ids = wire::uniq_ids();
    let messages: Vec<Message> = (0..3)
        .map(|i| {
            let mut m = Message::new(topic.clone(), Bytes::from(format!("batch body {i}")));
            m.set_tags(format!("T{i}")).unwrap();
            let id = ids.next(wire::wall_millis(), 0);
            m.set_unique_key_if_absent(|| id);
            m
        })
        .collect();
    let sent = send_batch(h, &addr, &broker_name, "rw_producer", &messages, 2).expect("batch send");
    assert_eq!(sent.queue_id, 2);
    assert_eq!(sent.queue_offset, 0);
    assert_eq!(
        sent.msg_id.split(',').count(),
        3,
        "one offset id per message"
    );

    let (_, pulled) = pull_at_least(h, &addr, &group, &topic, 2, 0, 3);
    assert_eq!(pulled.len(), 3);
    for (i, (got, want)) in pulled.iter().zip(&messages).enumerate() {
        assert_eq!(got.queue_offset, i as i64);
        assert_eq!(got.body(), &want.body);
        assert_eq!(got.message.tags(), want.tags());
        assert_eq!(got.msg_id(), want.unique_key().unwrap());
        assert_eq!(
            got.offset_msg_id,
            sent.msg_id.split(',').nth(i).unwrap(),
            "offset ids in batch order"
        );
    }
}

/// A request the broker refuses comes back as a typed error with its code and remark.
pub fn rejected_request_is_typed(h: &dyn Harness) {
    let (_, addr) = default_broker(h);
    let unknown = RemotingCommand::request_code(9_999);
    match h.invoke_ok(&addr, unknown, TIMEOUT) {
        Err(ClientError::Rejected { code, remark }) => {
            assert_eq!(code, ResponseCode::RequestCodeNotSupported);
            assert!(!remark.is_empty(), "the broker's remark is kept");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // The raw invoke hands back the same answer as a response.
    let response = h
        .invoke(&addr, RemotingCommand::request_code(9_999), TIMEOUT)
        .expect("answered");
    assert_eq!(
        response.response_code(),
        ResponseCode::RequestCodeNotSupported
    );
    // And the connection is still good for real work.
    assert!(h.query_route("TBW102").is_ok());
}

/// When the broker closes the connection, a request pending on it fails with a typed error at
/// once, not at its timeout. The broker is made to close it by a frame over its 16 MiB limit,
/// which it never answers; a long-polling pull waits on the same connection and fails alike
/// when the broker still holds it. The broker does not always hold it (it may answer
/// PULL_NOT_FOUND at once, before or even after reading the oversized frame), so the pull may
/// also come back answered; the oversized request never does. When the broker holds the pull,
/// it may read the oversized frame only once the hold ends (15 s, seen under load): the close
/// then comes after the hold, still long before the requests' 60 s timeout, and the typed
/// `ConnectionClosed` (not `Timeout`) is what shows the failure came from the close.
pub fn closed_connection_fails_pending_requests(h: &dyn Harness) {
    let topic = unique("rw_close");
    let group = unique("rw_group");
    let (broker_name, addr) = default_broker(h);
    let message = Message::new(topic.clone(), Bytes::from_static(b"x"));
    send_v2(h, &addr, &broker_name, "rw_producer", &message, 0).expect("send");
    // The send is answered before the message reaches the queue's index: until it does, a
    // pull at offset 1 is answered at once (offset overflow) instead of being held.
    let (indexed, _) = wire::pull_at_least(h, &addr, &group, &topic, 0, 0, 1);
    assert_eq!(indexed.max_offset, 1);

    // Offset 1 is the queue's end: the broker holds the pull for up to 15 s.
    let long_poll = wire::pull_request(&group, &topic, 0, 1, 15_000);
    let oversized = RemotingCommand::request(rocketwire_core::RequestCode::SendMessageV2)
        .with_body(Bytes::from(vec![0u8; 17 * 1024 * 1024]));
    let started = Instant::now();
    let timeout = Duration::from_secs(60);
    let results = h.invoke_all(vec![
        (addr.clone(), long_poll, timeout),
        (addr.clone(), oversized, timeout),
    ]);
    let closed = |result: &Result<RemotingCommand, ClientError>| match result {
        Err(ClientError::Invoke(InvokeError::ConnectionClosed { addr: a })) => a == &addr,
        _ => false,
    };
    match &results[0] {
        pull if closed(pull) => {}
        Ok(answer) => assert_eq!(
            answer.response_code(),
            ResponseCode::PullNotFound,
            "the pull, answered before the close: {answer:?}"
        ),
        other => panic!("the pull: expected ConnectionClosed or an answer, got {other:?}"),
    }
    assert!(
        closed(&results[1]),
        "the oversized request: expected ConnectionClosed, got {:?}",
        results[1]
    );
    let took = started.elapsed();
    assert!(
        took < timeout - Duration::from_secs(15),
        "failed after {took:?}: at the close, not near the {timeout:?} timeout"
    );
    // A new connection is opened for the next request.
    let again = h
        .invoke(&addr, wire::pull_request(&group, &topic, 0, 0, 0), TIMEOUT)
        .expect("a fresh connection works");
    assert_eq!(again.response_code(), ResponseCode::Success);
}

/// A producer of a unique group with `selector`.
pub(crate) fn new_producer(
    h: &dyn Harness,
    selector: QueueSelector,
) -> Box<dyn HarnessProducer + '_> {
    let config = ProducerConfig::builder(unique("rw_pgroup"))
        .build()
        .expect("valid producer config");
    h.create_producer(config, selector).expect("producer")
}

/// The master address of the broker a send result names (the suite's cluster has one broker,
/// the template topic's).
fn broker_of(h: &dyn Harness, sent: &SendResult) -> String {
    let (name, addr) = default_broker(h);
    assert_eq!(sent.message_queue.broker_name, name);
    addr
}

/// One pull of up to 32 messages from `offset` (no long polling), decoded with `options`;
/// empty when the broker has nothing (or does not know the queue yet).
fn pull_once(
    h: &dyn Harness,
    addr: &str,
    group: &str,
    (topic, queue_id, offset): (&str, i32, i64),
    options: &DecodeOptions,
) -> Vec<MessageExt> {
    let cmd = wire::pull_request(group, topic, queue_id, offset, 0);
    let response = h.invoke(addr, cmd, TIMEOUT).expect("pull answered");
    match response.response_code() {
        ResponseCode::Success => {
            decode_messages_with(&response.body, options).expect("pulled messages decode")
        }
        _ => Vec::new(),
    }
}

/// Pulls queues 0..4 of `topic` from offset 0 until a message satisfies `found` (20 s).
fn find_in_topic(
    h: &dyn Harness,
    addr: &str,
    topic: &str,
    found: impl Fn(&MessageExt) -> bool,
) -> MessageExt {
    let group = unique("rw_group");
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        for queue in 0..4 {
            let pulled = pull_once(
                h,
                addr,
                &group,
                (topic, queue, 0),
                &DecodeOptions::default(),
            );
            if let Some(m) = pulled.into_iter().find(|m| found(m)) {
                return m;
            }
        }
        assert!(Instant::now() < give_up, "message not found in 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sync, async and oneway sends through a `Producer` each store the message; each is pulled
/// back (the oneway one found by its unique body).
pub fn producer_send_modes(h: &dyn Harness) {
    let topic = unique("rw_modes");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let sent = producer
        .send(Message::new(topic.clone(), "sync body"))
        .expect("sync send");
    assert_eq!(sent.status, SendStatus::SendOk);
    assert_eq!(sent.message_queue.topic, topic);
    let addr = broker_of(h, &sent);
    let group = unique("rw_group");
    let q = &sent.message_queue;
    let (_, pulled) = pull_at_least(h, &addr, &group, &topic, q.queue_id, sent.queue_offset, 1);
    assert_eq!(&pulled[0].body()[..], b"sync body");
    assert_eq!(
        pulled[0].msg_id(),
        sent.msg_id,
        "UNIQ_KEY is the result's msg id"
    );
    assert_eq!(pulled[0].offset_msg_id, sent.offset_msg_id);

    let sent = producer
        .send_async(Message::new(topic.clone(), "async body"))
        .expect("async send");
    assert_eq!(sent.status, SendStatus::SendOk);
    let q = &sent.message_queue;
    let (_, pulled) = pull_at_least(h, &addr, &group, &topic, q.queue_id, sent.queue_offset, 1);
    assert_eq!(&pulled[0].body()[..], b"async body");

    let body = format!("oneway body {}", unique("x"));
    producer
        .send_oneway(Message::new(topic.clone(), body.clone()))
        .expect("oneway send");
    let found = find_in_topic(h, &addr, &topic, |m| m.body()[..] == *body.as_bytes());
    assert_eq!(found.topic(), topic);
    producer.shutdown().expect("producer shutdown");
}

/// A produced message's client id (UNIQ_KEY) carries this host's detected address (the
/// client's IP is left to the adapter), and its born host is that host.
pub fn produced_message_id_carries_the_detected_ip(h: &dyn Harness) {
    let topic = unique("rw_ip");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let sent = producer
        .send(Message::new(topic.clone(), "where from"))
        .expect("send");
    let parts = UniqIdParts::parse(&sent.msg_id).expect("a unique id");
    assert_eq!(
        parts.ip,
        rocketwire_driver::detect_client_ip(),
        "{}",
        sent.msg_id
    );
    producer.shutdown().expect("producer shutdown");
}

/// A batch of three messages goes out as one request and is pulled back in order.
pub fn producer_batch(h: &dyn Harness) {
    let topic = unique("rw_pbatch");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let messages: Vec<Message> = (0..3)
        .map(|i| Message::new(topic.clone(), format!("batch {i}")))
        .collect();
    let sent = producer.send_batch_as_one(messages).expect("batch send");
    assert_eq!(sent.status, SendStatus::SendOk);
    let ids: Vec<&str> = sent.msg_id.split(',').collect();
    assert_eq!(ids.len(), 3);
    let addr = broker_of(h, &sent);
    let group = unique("rw_group");
    let q = &sent.message_queue;
    let (_, pulled) = pull_at_least(h, &addr, &group, &topic, q.queue_id, sent.queue_offset, 3);
    for (i, m) in pulled.iter().take(3).enumerate() {
        assert_eq!(m.body()[..], *format!("batch {i}").as_bytes());
        assert_eq!(m.queue_offset, sent.queue_offset + i as i64);
        assert_eq!(
            m.offset_msg_id,
            sent.offset_msg_id.split(',').nth(i).unwrap_or_default(),
            "offset ids in batch order"
        );
    }
    producer.shutdown().expect("producer shutdown");
}

/// With the hash selector, 20 messages of 4 sharding keys land on one queue per key, and each
/// key's messages are stored (and pulled) in send order.
pub fn producer_ordered_by_key(h: &dyn Harness) {
    let topic = unique("rw_order");
    let producer = new_producer(h, QueueSelector::Hash);
    let mut queue_of: std::collections::HashMap<String, (i32, i64)> = Default::default();
    let mut addr = None;
    for i in 0..20 {
        let key = format!("key-{}", i % 4);
        let mut m = Message::new(topic.clone(), format!("{key}/{i}"));
        m.set_property(keys::SHARDING_KEY, key.clone())
            .expect("sharding key");
        let sent = producer.send(m).expect("ordered send");
        addr.get_or_insert_with(|| broker_of(h, &sent));
        let queue = sent.message_queue.queue_id;
        if let Some(&(q, last)) = queue_of.get(&key) {
            assert_eq!(q, queue, "{key} stays on its queue");
            assert!(sent.queue_offset > last, "{key} offsets grow");
        }
        queue_of.insert(key, (queue, sent.queue_offset));
    }
    let addr = addr.expect("sent");
    let group = unique("rw_group");
    let mut queues: Vec<i32> = queue_of.values().map(|(q, _)| *q).collect();
    queues.sort();
    queues.dedup();
    for queue in queues {
        let keys_here = queue_of.values().filter(|(q, _)| *q == queue).count();
        let (_, pulled) = pull_at_least(h, &addr, &group, &topic, queue, 0, 5 * keys_here);
        let mut last_seq: std::collections::HashMap<String, i32> = Default::default();
        for m in &pulled {
            let text = String::from_utf8_lossy(m.body()).to_string();
            let (key, seq) = text.split_once('/').expect("key/seq body");
            let seq: i32 = seq.parse().expect("seq");
            assert_eq!(queue_of[key].0, queue);
            if let Some(prev) = last_seq.insert(key.to_owned(), seq) {
                assert!(seq > prev, "{key}: {seq} after {prev}");
            }
        }
        assert_eq!(last_seq.len(), keys_here);
    }
    producer.shutdown().expect("producer shutdown");
}

/// A message held by the broker before delivery, as pulled from its queue.
struct Held {
    topic: String,
    queue_id: i32,
    /// Wall-clock time of the send (ms).
    sent_wall: i64,
    /// From the send to the pull that found it.
    elapsed: Duration,
    message: MessageExt,
}

/// Sends a message with `body` to a fresh topic (prefix `prefix`) after `hold` set its delay,
/// on the queue a warm-up send created, and pulls it from that queue once delivered.
fn send_held_and_pull(
    h: &dyn Harness,
    prefix: &str,
    body: &'static str,
    hold: impl FnOnce(&mut Message),
) -> Held {
    let topic = unique(prefix);
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let warm = producer
        .send(Message::new(topic.clone(), "warm"))
        .expect("creates the topic");
    let addr = broker_of(h, &warm);
    let queue = warm.message_queue.clone();
    let mut held = Message::new(topic.clone(), body);
    hold(&mut held);
    let sent_at = Instant::now();
    let sent_wall = wire::wall_millis();
    let sent = producer
        .send_to_queue(held, queue.clone())
        .unwrap_or_else(|e| panic!("send of {body}: {e}"));
    assert_eq!(sent.status, SendStatus::SendOk);
    let group = unique("rw_group");
    let (_, mut pulled) = pull_at_least(
        h,
        &addr,
        &group,
        &topic,
        queue.queue_id,
        warm.queue_offset + 1,
        1,
    );
    let elapsed = sent_at.elapsed();
    producer.shutdown().expect("producer shutdown");
    Held {
        topic,
        queue_id: queue.queue_id,
        sent_wall,
        elapsed,
        message: pulled.swap_remove(0),
    }
}

/// A message sent with delay level 1 (`DELAY` = 1, i.e. 1 s) is delivered to its queue no
/// earlier than ~1 s after the send, by way of the schedule topic.
pub fn producer_delay_level(h: &dyn Harness) {
    let held = send_held_and_pull(h, "rw_delay", "delayed", |m| m.set_delay_level(1));
    let (m, elapsed, sent_wall) = (&held.message, held.elapsed, held.sent_wall);
    assert_eq!(&m.body()[..], b"delayed");
    // It went through the schedule topic: the broker moved it back by REAL_TOPIC/REAL_QID
    // and cleared DELAY on delivery (Java `ScheduleMessageService` does the same).
    assert_eq!(
        m.message.property(keys::REAL_TOPIC),
        Some(held.topic.as_str())
    );
    assert_eq!(
        m.message.property(keys::REAL_QUEUE_ID),
        Some(held.queue_id.to_string().as_str())
    );
    assert_eq!(m.message.property(keys::DELAY_TIME_LEVEL), None);
    assert!(
        elapsed >= Duration::from_millis(900),
        "delivered after {elapsed:?}, before the 1 s delay"
    );
    assert!(
        m.store_timestamp >= sent_wall + 900,
        "stored in its queue {} ms after the send",
        m.store_timestamp - sent_wall
    );
}

/// A 5.x timer message (`TIMER_DELAY_MS` = 1500) is held by the broker and delivered to its
/// queue no earlier than the delay.
pub fn producer_timer_delivery(h: &dyn Harness) {
    let held = send_held_and_pull(h, "rw_timer", "timed", |m| m.set_delay_time_ms(1500));
    let elapsed = held.elapsed;
    assert_eq!(&held.message.body()[..], b"timed");
    assert!(
        elapsed >= Duration::from_millis(1400),
        "delivered after {elapsed:?}, before the 1.5 s timer"
    );
}

/// A 10 KiB body is sent compressed: the stored record has the COMPRESSED flag and a smaller
/// body, and decompresses to the original.
pub fn producer_compression_round_trip(h: &dyn Harness) {
    let topic = unique("rw_zip");
    let producer = new_producer(h, QueueSelector::RoundRobin);
    let body: Vec<u8> = (0..10 * 1024)
        .map(|i| b"rocketwire compresses "[i % 22])
        .collect();
    let sent = producer
        .send(Message::new(topic.clone(), body.clone()))
        .expect("send");
    let addr = broker_of(h, &sent);
    let group = unique("rw_group");
    let coords = (
        topic.as_str(),
        sent.message_queue.queue_id,
        sent.queue_offset,
    );
    let give_up = Instant::now() + Duration::from_secs(20);
    let raw = loop {
        let raw = DecodeOptions::default().with_decompress(false);
        if let Some(m) = pull_once(h, &addr, &group, coords, &raw).into_iter().next() {
            break m;
        }
        assert!(Instant::now() < give_up, "compressed message not pulled");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_ne!(raw.sys_flag & sysflag::COMPRESSED, 0, "stored compressed");
    assert!(
        raw.body().len() < body.len() / 2,
        "stored body {} bytes",
        raw.body().len()
    );
    assert!((raw.store_size as usize) < body.len());
    let plain = pull_once(h, &addr, &group, coords, &DecodeOptions::default());
    let m = plain.first().expect("pulled again");
    assert_eq!(&m.body()[..], &body[..], "decompresses to the original");
    assert_eq!(m.sys_flag & sysflag::COMPRESSED, 0);
    producer.shutdown().expect("producer shutdown");
}
