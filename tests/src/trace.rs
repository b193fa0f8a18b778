//! Message trace on the real cluster, run on every adapter (re-exported by
//! [`crate::scenarios`]): a traced producer and a traced consumer write Java-format records
//! to a trace topic, read back by a plain consumer of that topic.

use std::time::{Duration, Instant};

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendStatus};
use rocketwire_core::trace::{decode_records, TraceRecord};
use rocketwire_tokio::PushConsumerOptions;

use crate::consume::{config, start_consumer, sub, DRAIN};
use crate::seen::Seen;
use crate::{unique, Harness};

/// One traced send and its traced consumption give a `Pub` (topic, key, store host, SEND_OK),
/// a `SubBefore` (the consumer's group) and a `SubAfter` (same request, success) for the
/// message's id, in the trace topic.
pub fn message_trace_of_a_send_and_its_consumption(h: &dyn Harness) {
    let (topic, trace_topic) = traced_topics(h);
    let producer = h
        .create_producer(traced_producer(&trace_topic), QueueSelector::RoundRobin)
        .expect("producer");
    let key = unique("rw_trace_key");
    let mut message = Message::new(topic.clone(), "traced");
    message.set_keys([key.as_str()]).expect("keys");
    let sent = producer.send(message).expect("send");
    assert_eq!(sent.status, SendStatus::SendOk);

    let group = unique("rw_trace_cg");
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            rocketwire_core::consumer::ConsumerConfig {
                trace_topic: Some(trace_topic.clone()),
                ..config(&group, ConsumeFromWhere::FirstOffset)
            },
            sub(&topic),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("traced consumer");
    seen.wait_for("the traced message", |m| !m.is_empty());

    let traces = Seen::default();
    let reader = start_consumer(h, &unique("rw_trace_reader"), &trace_topic, &traces);
    let records = records_of(&traces, &sent.msg_id, 3);
    let publish = records
        .iter()
        .find(|r| matches!(r, TraceRecord::Pub { .. }))
        .unwrap_or_else(|| panic!("no Pub: {records:#?}"));
    let TraceRecord::Pub {
        topic: t,
        keys,
        store_host,
        success,
        offset_msg_id,
        body_len,
        ..
    } = publish
    else {
        unreachable!()
    };
    assert_eq!((t, keys, *success, *body_len), (&topic, &key, true, 6));
    assert!(!store_host.is_empty());
    assert_eq!(offset_msg_id, &sent.offset_msg_id);
    let before = records.iter().find_map(|r| match r {
        TraceRecord::SubBefore {
            group: g,
            request_id,
            retry_times,
            ..
        } => Some((g.clone(), request_id.clone(), *retry_times)),
        _ => None,
    });
    let (g, request, retries) = before.unwrap_or_else(|| panic!("no SubBefore: {records:#?}"));
    assert_eq!((g.as_str(), retries), (group.as_str(), 0));
    assert!(
        records.iter().any(|r| matches!(r,
            TraceRecord::SubAfter { request_id, success: true, context_code: 0, .. }
                if *request_id == request)),
        "{records:#?}"
    );

    reader.shutdown(DRAIN).expect("reader shutdown");
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    producer.shutdown().expect("producer shutdown");
}

/// A traced send's record is stored even when its client shuts down right after the send,
/// before the record's batch is due: a graceful shutdown sends the records left, then closes
/// the trace producer.
pub fn trace_records_left_at_shutdown_are_sent(h: &dyn Harness) {
    let (topic, trace_topic) = traced_topics(h);
    let client = crate::harness::start(h.kind(), crate::cluster_config());
    let producer = client
        .create_producer(traced_producer(&trace_topic), QueueSelector::RoundRobin)
        .expect("producer");
    let sent = producer
        .send(Message::new(topic.clone(), "traced at the end"))
        .expect("send");
    assert_eq!(sent.status, SendStatus::SendOk);
    drop(producer);
    client.shutdown().expect("clean shutdown");

    let traces = Seen::default();
    let reader = start_consumer(h, &unique("rw_trace_reader"), &trace_topic, &traces);
    let records = records_of(&traces, &sent.msg_id, 1);
    assert!(
        records
            .iter()
            .any(|r| matches!(r, TraceRecord::Pub { topic: t, success: true, .. } if *t == topic)),
        "{records:#?}"
    );
    reader.shutdown(DRAIN).expect("reader shutdown");
}

/// A new topic of 2 queues and a new trace topic of 1, both routed.
fn traced_topics(h: &dyn Harness) -> (String, String) {
    let admin = h.admin();
    let topic = unique("rw_traced");
    let trace_topic = unique("rw_trace");
    for (t, queues) in [(&topic, 2), (&trace_topic, 1)] {
        admin
            .create_topic(TopicConfig::new(t).queues(queues))
            .expect("create topic");
    }
    let give_up = Instant::now() + Duration::from_secs(30);
    while h.query_route(&topic).is_err() || h.query_route(&trace_topic).is_err() {
        assert!(Instant::now() < give_up, "no routes for the new topics");
        std::thread::sleep(Duration::from_millis(200));
    }
    (topic, trace_topic)
}

/// A producer config of a new group, traced into `trace_topic`.
fn traced_producer(trace_topic: &str) -> ProducerConfig {
    ProducerConfig::builder(unique("rw_trace_pg"))
        .trace_topic(trace_topic)
        .build()
        .expect("config")
}

/// The trace records of message `msg_id` that `traces` saw, once there are `at_least`.
fn records_of(traces: &Seen, msg_id: &str, at_least: usize) -> Vec<TraceRecord> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let records: Vec<TraceRecord> = traces
            .bodies()
            .iter()
            .flat_map(|b| decode_records(b))
            .filter(|r| r.msg_id() == msg_id)
            .collect();
        if records.len() >= at_least {
            return records;
        }
        assert!(Instant::now() < give_up, "records so far: {records:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
