//! The consumer building blocks chained as a push consumer uses them: start offset, pull
//! request, pull response, process queue, flow control, settlement, send-back fallback and
//! offset commit, in virtual time.
#![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rocketwire_core::body::{ConsumeFromWhere, MessageQueue};
use rocketwire_core::codec::{RemotingCommand, RequestCode, ResponseCode};
use rocketwire_core::consumer::{
    decode_offset_file, encode_offset_file, fallback_retry_message, interpret_pull_response,
    pull_request, send_back_header, ConsumerConfig, FlowControl, OffsetTable, ProcessQueue,
    PullDecision, PullOutcome, PullSpec, StartOffset, StartOffsetStep, StoredOffset, Subscription,
};
use rocketwire_core::header::{CommandHeader, PullMessageRequestHeader, PullMessageResponseHeader};
use rocketwire_core::message::{encode_stored, keys, Message, MessageExt};

/// A broker queue holding messages tagged `TagA` / `TagB` alternately.
fn broker_answer(req: &RemotingCommand, stored: &[MessageExt]) -> RemotingCommand {
    let h = PullMessageRequestHeader::read_fields(&req.ext_fields).expect("pull header");
    let from = h.queue_offset;
    let batch: Vec<&MessageExt> = stored
        .iter()
        .filter(|m| m.queue_offset >= from)
        .take(usize::try_from(h.max_msg_nums).unwrap())
        .collect();
    let max = i64::try_from(stored.len()).unwrap();
    let code = if batch.is_empty() {
        ResponseCode::PullNotFound
    } else {
        ResponseCode::Success
    };
    let mut body = BytesMut::new();
    for m in &batch {
        body.extend_from_slice(&encode_stored(m).unwrap());
    }
    let next = batch.last().map_or(from, |m| m.queue_offset + 1);
    let mut resp = RemotingCommand::response_to(req, code).with_body(body.freeze());
    PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: next,
        min_offset: 0,
        max_offset: max,
        ..PullMessageResponseHeader::default()
    }
    .write_fields(&mut resp.ext_fields);
    resp
}

fn stored(n: i64) -> Vec<MessageExt> {
    (0..n)
        .map(|i| {
            let mut m = Message::new("T", vec![b'x'; 100]);
            m.set_tags(if i % 2 == 0 { "TagA" } else { "TagB" })
                .unwrap();
            let mut e = MessageExt::from_message(m);
            e.queue_offset = i;
            e.commit_log_offset = 1000 + i;
            e
        })
        .collect()
}

#[test]
fn pull_consume_commit() {
    let t0 = Instant::now();
    let cfg = ConsumerConfig::builder("cg")
        .pull_batch_size(4)
        .pull_threshold_for_queue(3)
        .build()
        .unwrap();
    let mq = MessageQueue::new("T", "broker-a", 0);
    let sub = Subscription::tag("T", "TagA").unwrap();
    let log = stored(10);

    // Start offset: nothing stored, FIRST_OFFSET → 0.
    let mut start = StartOffset::new(&mq, ConsumeFromWhere::FirstOffset, 0);
    assert_eq!(
        start.on_stored(StoredOffset::NotFound),
        StartOffsetStep::Done(0)
    );

    let mut pq = ProcessQueue::new(mq.clone());
    pq.start(0).unwrap();
    let mut flow = FlowControl::new(&cfg);
    let mut offsets = OffsetTable::new();
    let mut now = t0;
    let mut consumed = Vec::new();
    let mut failed_once = false;

    for _round in 0..20 {
        if flow.should_pull(&pq) == PullDecision::Now {
            let commit = offsets.get(&mq);
            let req = pull_request(&PullSpec {
                group: "cg",
                queue: &mq,
                offset: pq.next_pull_offset(),
                subscription: &sub,
                sub_version: 1,
                commit_offset: commit,
                to_slave: false,
                post_subscription: false,
                batch_size: cfg.pull_batch_size,
                max_bytes: None,
                suspend: Some(cfg.suspend_timeout),
                lite: false,
            });
            assert_eq!(req.code, RequestCode::PullMessage.code());
            match interpret_pull_response(&broker_answer(&req, &log), "cg", &sub, &cfg) {
                PullOutcome::Found {
                    messages,
                    next_offset,
                    ..
                } => {
                    assert!(messages.iter().all(|m| m.message.tags() == Some("TagA")));
                    flow.on_cached(pq.on_pulled(messages, next_offset, now).unwrap());
                }
                PullOutcome::NoNewMsg { next_offset, .. } => {
                    flow.on_cached(pq.on_pulled(Vec::new(), next_offset, now).unwrap());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Consume one message; the first attempt at offset 2 fails and its send-back fails too.
        for m in pq.take_ready(1, now) {
            let off = m.queue_offset;
            if off == 2 && !failed_once {
                failed_once = true;
                let h = send_back_header(
                    "cg",
                    &m,
                    0,
                    cfg.effective_max_reconsume_times(),
                    Some("broker-a"),
                );
                assert_eq!(h.offset, 1002);
                let retry = fallback_retry_message("cg", &m, 16);
                assert_eq!(retry.property(keys::RETRY_TOPIC), Some("T"));
                // The fallback send failed as well: the message stays and holds the offset.
                pq.retry_locally(&[off], now + cfg.delay_after_send_back_failure);
                assert_eq!(pq.committable_offset(), Some(2));
            } else {
                consumed.push((off, m.reconsume_times));
                flow.on_freed(pq.settle(&[off]).unwrap());
            }
        }
        if let Some(c) = pq.committable_offset() {
            let before = offsets.get(&mq).unwrap_or(0);
            offsets.update(&mq, c, true);
            assert!(
                offsets.get(&mq).unwrap() >= before,
                "commits never go backwards"
            );
        }
        now += Duration::from_secs(1);
    }
    consumed.sort_unstable();
    assert_eq!(consumed, vec![(0, 0), (2, 1), (4, 0), (6, 0), (8, 0)]);
    assert_eq!(offsets.get(&mq), Some(10));
    assert_eq!(flow.used_messages(), 0);
    assert_eq!(flow.used_bytes(), 0);

    // Broadcasting would persist the table to a local file.
    let file = encode_offset_file(offsets.entries());
    let back = decode_offset_file(&file).unwrap();
    assert_eq!(back, BTreeMap::from([(mq.clone(), 10)]));

    // After release nothing commits.
    pq.drain().unwrap();
    flow.on_freed(pq.release().unwrap());
    assert_eq!(pq.committable_offset(), None);
    assert_eq!(flow.should_pull(&pq), PullDecision::Stop);
}
