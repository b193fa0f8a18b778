//! The real-cluster suite. Each scenario takes a started client of any adapter and asserts
//! what a RocketMQ user relies on; `tests/cluster.rs` runs every scenario on every adapter.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketwire_core::message::{keys, Message, OffsetMessageId, UniqIdParts};
use rocketwire_core::{ClientError, InvokeError, RemotingCommand, ResponseCode, RouteError};

use crate::wire::{self, default_broker, pull_at_least, send_batch, send_v2, TIMEOUT};
use crate::{unique, Harness};

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
    let batch_id = ids.next(wire::wall_millis(), 0);
    let sent = send_batch(
        h,
        &addr,
        &broker_name,
        "rw_producer",
        &messages,
        2,
        &batch_id,
    )
    .expect("batch send");
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
            assert!(remark.contains("9999"), "remark names the code: {remark}");
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

/// When the broker closes the connection, every request pending on it fails with a typed
/// error. The broker is made to close it by a frame over its 16 MiB limit, sent while a
/// long-polling pull is waiting on the same connection.
pub fn closed_connection_fails_pending_requests(h: &dyn Harness) {
    let topic = unique("rw_close");
    let group = unique("rw_group");
    let (broker_name, addr) = default_broker(h);
    let message = Message::new(topic.clone(), Bytes::from_static(b"x"));
    send_v2(h, &addr, &broker_name, "rw_producer", &message, 0).expect("send");

    // Offset 1 is past the only message: the broker holds the pull for up to 15 s.
    let long_poll = wire::pull_request(&group, &topic, 0, 1, 15_000);
    let oversized = RemotingCommand::request(rocketwire_core::RequestCode::SendMessageV2)
        .with_body(Bytes::from(vec![0u8; 17 * 1024 * 1024]));
    let started = Instant::now();
    let results = h.invoke_all(vec![
        (addr.clone(), long_poll, Duration::from_secs(30)),
        (addr.clone(), oversized, Duration::from_secs(30)),
    ]);
    for result in &results {
        match result {
            Err(ClientError::Invoke(InvokeError::ConnectionClosed { addr: a })) => {
                assert_eq!(a, &addr)
            }
            other => panic!("expected ConnectionClosed, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "failed when the connection closed, not at the hold's end"
    );
    // A new connection is opened for the next request.
    let again = h
        .invoke(&addr, wire::pull_request(&group, &topic, 0, 0, 0), TIMEOUT)
        .expect("a fresh connection works");
    assert_eq!(again.response_code(), ResponseCode::Success);
}
