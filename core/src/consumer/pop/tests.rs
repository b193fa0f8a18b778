use bytes::BytesMut;

use super::*;
use crate::header::CommandHeader;
use crate::message::{encode_stored_into, Message};

fn ext(topic: &str, queue_id: i32, offset: i64) -> MessageExt {
    let mut e = MessageExt::from_message(Message::new(topic, &b"x"[..]));
    e.queue_id = queue_id;
    e.queue_offset = offset;
    e
}

fn response(
    code: ResponseCode,
    h: &PopMessageResponseHeader,
    msgs: &[MessageExt],
) -> RemotingCommand {
    let req = RemotingCommand::request_code(RequestCode::PopMessage.code());
    let mut buf = BytesMut::new();
    for m in msgs {
        encode_stored_into(m, &mut buf).unwrap();
    }
    let mut r = RemotingCommand::response_to(&req, code).with_body(buf.freeze());
    h.write_fields(&mut r.ext_fields);
    r
}

fn header(start: &str, offsets: &str) -> PopMessageResponseHeader {
    PopMessageResponseHeader {
        pop_time: 1_700_000_000_000,
        invisible_time: 60_000,
        revive_qid: 3,
        rest_num: 0,
        start_offset_info: Some(start.into()),
        msg_offset_info: Some(offsets.into()),
        order_count_info: None,
    }
}

#[test]
fn handles_round_trip_and_reject_garbage() {
    let s = "100 1700000000000 60000 3 1 broker-a 2 104";
    let h = ReceiptHandle::parse(s).unwrap();
    assert_eq!(h.mark, TopicMark::Retry);
    assert_eq!(h.offset, 104);
    assert_eq!(h.to_string(), s);
    assert_eq!(h.real_topic("cg", "T"), "%RETRY%cg_T");
    assert_eq!(h.visible_at_ms(), 1_700_000_060_000);
    for bad in [
        "",
        "1 2 3",
        "a 1 2 3 0 b 1 2",
        "1 2 3 4 9 b 1 2",
        "1 2 3 4 0 b 1 2 ",
    ] {
        assert!(ReceiptHandle::parse(bad).is_err(), "{bad:?}");
    }
    // A 5.x broker adds a ninth field to a retried message's handle: kept as it came.
    let nine = "0 1700000000000 60000 3 1 broker-a 0 5 0";
    let h = ReceiptHandle::parse(nine).unwrap();
    assert_eq!(h.tail.as_deref(), Some("0"));
    assert_eq!(h.to_string(), nine);
}

#[test]
fn topic_marks() {
    assert_eq!(TopicMark::of("T"), TopicMark::Normal);
    assert_eq!(TopicMark::of("%RETRY%cg_T"), TopicMark::Retry);
    assert_eq!(TopicMark::of("%RETRY%cg+T"), TopicMark::RetryV2);
    assert_eq!(
        pop_retry_topic("cg", "T", TopicMark::RetryV2),
        "%RETRY%cg+T"
    );
}

#[test]
fn found_messages_get_handles_and_the_subscribed_topic() {
    let msgs = [ext("T", 1, 7), ext("T", 1, 8), ext("%RETRY%cg_T", 0, 3)];
    let r = response(
        ResponseCode::Success,
        &header("0 1 7;1 0 3", "0 1 7,8;1 0 3"),
        &msgs,
    );
    let PopOutcome::Found(found) = interpret_pop_response(&r, "T", "broker-a") else {
        panic!("not found");
    };
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|p| p.message.topic() == "T"));
    assert_eq!(
        found[1].handle.to_string(),
        "7 1700000000000 60000 3 0 broker-a 1 8"
    );
    assert_eq!(found[2].handle.mark, TopicMark::Retry);
    assert_eq!(found[2].handle.ck_offset, 3);
    assert_eq!(
        found[1].message.message.property(keys::POP_CK),
        Some("7 1700000000000 60000 3 0 broker-a 1 8")
    );
    assert_eq!(
        found[0].message.message.property(keys::FIRST_POP_TIME),
        Some("1700000000000")
    );
    let ack = ack_request("cg", "T", &found[2].handle);
    let ah: AckMessageRequestHeader = header::read(&ack).unwrap();
    assert_eq!(ah.topic, "%RETRY%cg_T");
    assert_eq!((ah.queue_id, ah.offset), (0, 3));
    assert_eq!(ack.code, RequestCode::AckMessage.code());
}

#[test]
fn the_offset_info_of_rocketmq_rust_is_not_needed() {
    // rocketmq-rust 1.0.0 joins one queue's offsets with `;`.
    let msgs = [ext("T", 7, 100), ext("T", 7, 200), ext("T", 7, 300)];
    let r = response(
        ResponseCode::Success,
        &header("0 7 100", "0 7 100;200;300"),
        &msgs,
    );
    let PopOutcome::Found(found) = interpret_pop_response(&r, "T", "b") else {
        panic!()
    };
    let offsets: Vec<i64> = found.iter().map(|p| p.handle.offset).collect();
    assert_eq!(offsets, [100, 200, 300]);
    assert!(found.iter().all(|p| p.handle.ck_offset == 100));
}

#[test]
fn a_retried_message_keeps_the_handle_the_broker_gave_it() {
    let mut m = ext("T", 0, 5);
    m.message
        .set_property(keys::POP_CK, "0 1700000000000 60000 3 1 broker-a 0 5 0")
        .unwrap();
    let r = response(ResponseCode::Success, &header("", ""), &[m]);
    let PopOutcome::Found(found) = interpret_pop_response(&r, "T", "broker-a") else {
        panic!()
    };
    assert_eq!(found[0].handle.real_topic("cg", "T"), "%RETRY%cg_T");
    assert_eq!(
        found[0].handle.to_string(),
        "0 1700000000000 60000 3 1 broker-a 0 5 0"
    );
}

#[test]
fn order_counts_become_reconsume_times() {
    let msgs = [ext("T", 1, 10), ext("T", 1, 11), ext("T", 2, 4)];
    let mut h = header("0 1 10;0 2 4", "");
    h.order_count_info = Some("0 qo1%10 2;0 qo1%11 0;0 1 0;0 2 3".into());
    let r = response(ResponseCode::Success, &h, &msgs);
    let PopOutcome::Found(found) = interpret_pop_response(&r, "T", "b") else {
        panic!()
    };
    let times: Vec<i32> = found.iter().map(|p| p.message.reconsume_times).collect();
    assert_eq!(times, [2, 0, 3]);
    h.order_count_info = Some("0 qo1 2".into());
    let r = response(ResponseCode::Success, &h, &msgs);
    assert!(matches!(
        interpret_pop_response(&r, "T", "b"),
        PopOutcome::Error(PopError::OffsetInfo {
            field: "orderCountInfo",
            ..
        })
    ));
}

#[test]
fn not_found_and_errors() {
    let empty = response(
        ResponseCode::PollingTimeout,
        &PopMessageResponseHeader::default(),
        &[],
    );
    assert_eq!(
        interpret_pop_response(&empty, "T", "b"),
        PopOutcome::NotFound
    );
    let nf = response(
        ResponseCode::PullNotFound,
        &PopMessageResponseHeader::default(),
        &[],
    );
    assert_eq!(interpret_pop_response(&nf, "T", "b"), PopOutcome::NotFound);
    let full = response(
        ResponseCode::PollingFull,
        &PopMessageResponseHeader::default(),
        &[],
    );
    assert!(matches!(
        interpret_pop_response(&full, "T", "b"),
        PopOutcome::Error(PopError::Broker {
            code: ResponseCode::PollingFull,
            ..
        })
    ));
    let bad = response(
        ResponseCode::Success,
        &header("0 x 1", ""),
        &[ext("T", 0, 1)],
    );
    assert!(matches!(
        interpret_pop_response(&bad, "T", "b"),
        PopOutcome::Error(PopError::OffsetInfo { .. })
    ));
}

#[test]
fn a_change_gives_a_new_handle() {
    let old = ReceiptHandle::parse("7 1000 60000 3 0 b 1 8").unwrap();
    let req = change_invisible_request("cg", "T", &old, Duration::from_secs(10));
    let h: ChangeInvisibleTimeRequestHeader = header::read(&req).unwrap();
    assert_eq!(
        (h.invisible_time, h.extra_info.as_str()),
        (10_000, "7 1000 60000 3 0 b 1 8")
    );
    let mut resp = RemotingCommand::response_to(&req, ResponseCode::Success);
    ChangeInvisibleTimeResponseHeader {
        pop_time: 5000,
        invisible_time: 10_000,
        revive_qid: 1,
    }
    .write_fields(&mut resp.ext_fields);
    let new = changed_handle(&resp, &old).unwrap();
    // A checkpoint of the one message: it starts at the message's offset.
    assert_eq!(new.to_string(), "8 5000 10000 1 0 b 1 8");
    let refused = RemotingCommand::response_to(&req, ResponseCode::NoMessage);
    assert!(changed_handle(&refused, &old).is_err());
}

#[test]
fn retry_delays() {
    assert_eq!(retry_delay(0, 0), Duration::from_secs(10));
    assert_eq!(retry_delay(0, 2), Duration::from_secs(60));
    assert_eq!(retry_delay(0, 99), Duration::from_secs(7200));
    assert_eq!(retry_delay(1, 5), Duration::from_secs(1));
    assert_eq!(retry_delay(3, 0), Duration::from_secs(10));
}
