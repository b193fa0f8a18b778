//! Lock, consumer-list, running-info, direct-consume, reset-offset and consumer-status bodies.
//! Snapshots are checked against protocol facts §5.4–§5.8.

use std::collections::{BTreeMap, BTreeSet};

use rocketwire_core::body::{
    BodyError, CMResult, ConsumeMessageDirectlyResult, ConsumeStatus, ConsumerRunningInfo,
    GetConsumerListByGroupResponseBody, GetConsumerStatusBody, LockBatchRequestBody,
    LockBatchResponseBody, MessageQueue, ProcessQueueInfo, ResetOffsetBody, SubscriptionData,
    UnlockBatchRequestBody,
};

fn mqs() -> BTreeSet<MessageQueue> {
    BTreeSet::from([
        MessageQueue::new("T", "broker-a", 1),
        MessageQueue::new("T", "broker-a", 0),
    ])
}

#[test]
fn lock_bodies_snapshot() {
    let lock = LockBatchRequestBody {
        client_id: "10.0.0.1@1".to_string(),
        consumer_group: "CG".to_string(),
        mq_set: mqs(),
        only_this_broker: true,
    };
    let text = String::from_utf8(lock.encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"clientId":"10.0.0.1@1","consumerGroup":"CG","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"},{"brokerName":"broker-a","queueId":1,"topic":"T"}],"onlyThisBroker":true}"#);
    assert_eq!(LockBatchRequestBody::decode(text.as_bytes()).unwrap(), lock);

    let unlock = UnlockBatchRequestBody {
        client_id: "10.0.0.1@1".to_string(),
        consumer_group: "CG".to_string(),
        mq_set: mqs(),
        only_this_broker: false,
    };
    let text = String::from_utf8(unlock.encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"clientId":"10.0.0.1@1","consumerGroup":"CG","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"},{"brokerName":"broker-a","queueId":1,"topic":"T"}],"onlyThisBroker":false}"#);
}

#[test]
fn lock_response() {
    // Java member order and Go's (`topic`, `brokerName`, `queueId`) both parse.
    let body = br#"{"lockOKMQSet":[{"brokerName":"broker-a","queueId":1,"topic":"T"},{"topic":"T","brokerName":"broker-a","queueId":0}]}"#;
    let r = LockBatchResponseBody::decode(body).unwrap();
    assert_eq!(r.lock_ok_mq_set, mqs());
    assert!(LockBatchResponseBody::decode(b"{}")
        .unwrap()
        .lock_ok_mq_set
        .is_empty());
    assert!(matches!(
        LockBatchResponseBody::decode(br#"{"lockOKMQSet":{"a":1}}"#),
        Err(BodyError::Malformed { .. })
    ));
}

#[test]
fn consumer_list() {
    let r = GetConsumerListByGroupResponseBody::decode(
        br#"{"consumerIdList":["10.0.0.1@12345","10.0.0.2@6789"]}"#,
    )
    .unwrap();
    assert_eq!(r.consumer_id_list, ["10.0.0.1@12345", "10.0.0.2@6789"]);
    assert!(
        GetConsumerListByGroupResponseBody::decode(br#"{"consumerIdList":[]}"#)
            .unwrap()
            .consumer_id_list
            .is_empty()
    );
    assert_eq!(
        GetConsumerListByGroupResponseBody::decode(b""),
        Err(BodyError::Empty {
            what: "GetConsumerListByGroupResponseBody"
        })
    );
    for missing in [&b"{}"[..], br#"{"consumerIdList":null}"#] {
        assert_eq!(
            GetConsumerListByGroupResponseBody::decode(missing),
            Err(BodyError::MissingField {
                what: "GetConsumerListByGroupResponseBody",
                field: "consumerIdList"
            })
        );
    }
    assert!(matches!(
        GetConsumerListByGroupResponseBody::decode(b"{\"consumerIdList\":[1]}"),
        Err(BodyError::Malformed { .. })
    ));
}

fn running_info() -> ConsumerRunningInfo {
    let mut info = ConsumerRunningInfo::default();
    info.mq_table.insert(
        MessageQueue::new("TopicTest", "broker-a", 0),
        ProcessQueueInfo {
            cached_msg_count: 2,
            commit_offset: 10,
            locked: true,
            last_pull_timestamp: 1_700_000_000_000,
            ..Default::default()
        },
    );
    info.properties.insert(
        ConsumerRunningInfo::PROP_CONSUME_TYPE.to_string(),
        "CONSUME_PASSIVELY".to_string(),
    );
    info.properties.insert(
        ConsumerRunningInfo::PROP_CONSUMEORDERLY.to_string(),
        "false".to_string(),
    );
    info.status_table.insert(
        "TopicTest".to_string(),
        ConsumeStatus {
            pull_rt: 1.5,
            pull_tps: 10.0,
            consume_rt: 2.0,
            consume_ok_tps: 9.5,
            ..Default::default()
        },
    );
    info.subscription_set
        .push(SubscriptionData::build("TopicTest", "*", 1));
    info
}

#[test]
fn running_info_snapshot() {
    let text = String::from_utf8(running_info().encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"mqPopTable":{},"mqTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"cachedMsgCount":2,"cachedMsgMaxOffset":0,"cachedMsgMinOffset":0,"cachedMsgSizeInMiB":0,"commitOffset":10,"droped":false,"lastConsumeTimestamp":0,"lastLockTimestamp":0,"lastPullTimestamp":1700000000000,"locked":true,"transactionMsgCount":0,"transactionMsgMaxOffset":0,"transactionMsgMinOffset":0,"tryUnlockTimes":0}},"properties":{"PROP_CONSUMEORDERLY":"false","PROP_CONSUME_TYPE":"CONSUME_PASSIVELY"},"statusTable":{"TopicTest":{"consumeFailedMsgs":0,"consumeFailedTPS":0.0,"consumeOKTPS":9.5,"consumeRT":2.0,"pullRT":1.5,"pullTPS":10.0}},"subscriptionSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"TopicTest"}],"userConsumerInfo":{}}"#);
}

#[test]
fn running_info_round_trip_and_jstack() {
    let mut info = running_info();
    assert_eq!(ConsumerRunningInfo::decode(&info.encode()).unwrap(), info);
    info.jstack = Some("\"main\" {waiting: on}\n".to_string());
    let text = String::from_utf8(info.encode()).unwrap();
    assert!(text.starts_with(r#"{"jstack":"\"main\" {waiting: on}\n","mqPopTable""#));
    assert_eq!(ConsumerRunningInfo::decode(text.as_bytes()).unwrap(), info);
}

#[test]
fn running_info_subscriptions_in_java_treeset_order() {
    let mut info = ConsumerRunningInfo::default();
    info.subscription_set
        .push(SubscriptionData::build("b", "*", 1));
    info.subscription_set
        .push(SubscriptionData::build("a", "x", 1));
    let text = String::from_utf8(info.encode()).unwrap();
    let a = text.find(r#""topic":"a""#).unwrap();
    let b = text.find(r#""topic":"b""#).unwrap();
    assert!(a < b, "{text}");
}

/// The running info built in apache/rocketmq
/// `remoting/src/test/java/org/apache/rocketmq/remoting/protocol/body/ConsumerRunningInfoTest.java`
/// (jstack "test", one default ProcessQueueInfo for topicA/broker/1, a default ConsumeStatus for
/// topicA, a default SubscriptionData, PROP_CONSUME_TYPE = CONSUME_ACTIVELY and a numeric start
/// timestamp), as fastjson writes it.
#[test]
fn decode_java_running_info() {
    let body = br#"{"jstack":"test","mqPopTable":{},"mqTable":{{"brokerName":"broker","queueId":1,"topic":"topicA"}:{"cachedMsgCount":0,"cachedMsgMaxOffset":0,"cachedMsgMinOffset":0,"cachedMsgSizeInMiB":0,"commitOffset":0,"droped":false,"lastConsumeTimestamp":0,"lastLockTimestamp":0,"lastPullTimestamp":0,"locked":false,"transactionMsgCount":0,"transactionMsgMaxOffset":0,"transactionMsgMinOffset":0,"tryUnlockTimes":0}},"properties":{"PROP_CONSUMER_START_TIMESTAMP":1700000000123,"PROP_CONSUME_TYPE":"CONSUME_ACTIVELY"},"statusTable":{"topicA":{"consumeFailedMsgs":0,"consumeFailedTPS":0.0,"consumeOKTPS":0.0,"consumeRT":0.0,"pullRT":0.0,"pullTPS":0.0}},"subscriptionSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subVersion":1700000000000,"tagsSet":[]}],"userConsumerInfo":{}}"#;
    let info = ConsumerRunningInfo::decode(body).unwrap();
    assert_eq!(info.jstack.as_deref(), Some("test"));
    assert_eq!(
        info.properties[ConsumerRunningInfo::PROP_CONSUME_TYPE],
        "CONSUME_ACTIVELY"
    );
    assert_eq!(
        info.properties[ConsumerRunningInfo::PROP_CONSUMER_START_TIMESTAMP],
        "1700000000123"
    );
    assert_eq!(
        info.mq_table[&MessageQueue::new("topicA", "broker", 1)],
        ProcessQueueInfo::default()
    );
    assert_eq!(info.status_table["topicA"], ConsumeStatus::default());
    assert_eq!(info.subscription_set.len(), 1);
}

#[test]
fn decode_go_running_info() {
    // Go writes `dropped` and a list of [mq, info] pairs.
    let body = br#"{"properties":{},"mqTable":[[{"topic":"T","brokerName":"b","queueId":3},{"commitOffset":7,"dropped":true}]]}"#;
    let info = ConsumerRunningInfo::decode(body).unwrap();
    let pq = &info.mq_table[&MessageQueue::new("T", "b", 3)];
    assert!(pq.dropped);
    assert_eq!(pq.commit_offset, 7);
}

#[test]
fn direct_result_snapshot() {
    let r = ConsumeMessageDirectlyResult {
        consume_result: Some(CMResult::Success),
        remark: Some("ok".to_string()),
        spent_time_mills: 12,
        ..Default::default()
    };
    let text = String::from_utf8(r.encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"remark":"ok","spentTimeMills":12}"#);
    assert_eq!(
        ConsumeMessageDirectlyResult::decode(text.as_bytes()).unwrap(),
        r
    );
    let d = ConsumeMessageDirectlyResult::decode(b"{}").unwrap();
    assert!(d.auto_commit);
    assert_eq!(d.consume_result, None);
    assert_eq!(
        String::from_utf8(d.encode()).unwrap(),
        r#"{"autoCommit":true,"order":false,"spentTimeMills":0}"#
    );
}

/// apache/rocketmq
/// `remoting/src/test/java/org/apache/rocketmq/remoting/protocol/body/ResetOffsetBodyTest.java`:
/// queue (topic "topic", broker "brokerName", id 1) → 100, written by `toJson(rob, true)`
/// (pretty, tab-indented, object key).
#[test]
fn reset_offset_java_pretty() {
    let body = "{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"brokerName\",\n\t\t\t\"queueId\":1,\n\t\t\t\"topic\":\"topic\"\n\t\t}:100\n\t}\n}";
    let r = ResetOffsetBody::decode(body.as_bytes()).unwrap();
    assert_eq!(r.offset_table.len(), 1);
    assert_eq!(
        r.offset_table[&MessageQueue::new("topic", "brokerName", 1)],
        100
    );
}

/// The fastjson sample in apache/rocketmq-externals rocketmq-go (`util` JSON tokenizer comment).
#[test]
fn reset_offset_fastjson_compact() {
    let body = br#"{"offsetTable":{{"brokerName":"broker-b","queueId":122222,"topic":"GoLang"}:9420,{"brokerName":"broker-b","queueId":2,"topic":"GoLang"}:9184,{"brokerName":"broker-b","queueId":1,"topic":"GoLang"}:9260,{"brokerName":"broker-b","queueId":3,"topic":"GoLang"}:9139}}"#;
    let r = ResetOffsetBody::decode(body).unwrap();
    let got: Vec<(i32, i64)> = r
        .offset_table
        .iter()
        .map(|(mq, off)| (mq.queue_id, *off))
        .collect();
    assert_eq!(got, [(1, 9260), (2, 9184), (3, 9139), (122222, 9420)]);
    // Re-encoding gives the fastjson form again, in MessageQueue order.
    let text = String::from_utf8(r.encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"offsetTable":{{"brokerName":"broker-b","queueId":1,"topic":"GoLang"}:9260,{"brokerName":"broker-b","queueId":2,"topic":"GoLang"}:9184,{"brokerName":"broker-b","queueId":3,"topic":"GoLang"}:9139,{"brokerName":"broker-b","queueId":122222,"topic":"GoLang"}:9420}}"#);
    assert_eq!(ResetOffsetBody::decode(text.as_bytes()).unwrap(), r);
}

#[test]
fn reset_offset_other_forms() {
    let expected = BTreeMap::from([
        (MessageQueue::new("T", "b", 0), 5),
        (MessageQueue::new("T", "b", 1), -1),
    ]);
    // Go's gson-style list of pairs.
    let go = br#"{"offsetTable":[[{"topic":"T","brokerName":"b","queueId":0},5],[{"topic":"T","brokerName":"b","queueId":1},-1]]}"#;
    assert_eq!(ResetOffsetBody::decode(go).unwrap().offset_table, expected);
    // ResetOffsetBodyForC (sent to CPP clients).
    let c = br#"{"offsetTable":[{"brokerName":"b","offset":5,"queueId":0,"topic":"T"},{"brokerName":"b","offset":-1,"queueId":1,"topic":"T"}]}"#;
    assert_eq!(ResetOffsetBody::decode(c).unwrap().offset_table, expected);
    // Names with JSON punctuation survive the repair pass.
    let tricky = MessageQueue::new("t:{}\"\\,", "b[1]:2", 7);
    let r = ResetOffsetBody {
        offset_table: BTreeMap::from([(tricky.clone(), 42)]),
    };
    assert_eq!(ResetOffsetBody::decode(&r.encode()).unwrap(), r);
    assert!(ResetOffsetBody::decode(b"{}")
        .unwrap()
        .offset_table
        .is_empty());
    for bad in [
        &br#"{"offsetTable":{{"brokerName":"b"}:"x"}}"#[..],
        br#"{"offsetTable":{"notjson":1}}"#,
        br#"{"offsetTable":{{"queueId":"q"}:1}}"#,
        br#"{"offsetTable":7}"#,
    ] {
        assert!(
            matches!(
                ResetOffsetBody::decode(bad),
                Err(BodyError::Malformed {
                    what: "ResetOffsetBody",
                    ..
                })
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn consumer_status_body() {
    let mut s = GetConsumerStatusBody::default();
    s.message_queue_table
        .insert(MessageQueue::new("T", "b", 0), 11110);
    let text = String::from_utf8(s.encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"consumerTable":{},"messageQueueTable":{{"brokerName":"b","queueId":0,"topic":"T"}:11110}}"#);
    assert_eq!(GetConsumerStatusBody::decode(text.as_bytes()).unwrap(), s);

    s.consumer_table.insert(
        "c1".to_string(),
        BTreeMap::from([(MessageQueue::new("T", "b", 1), 3)]),
    );
    assert_eq!(GetConsumerStatusBody::decode(&s.encode()).unwrap(), s);
    let go = br#"{"messageQueueTable":[[{"topic":"T","brokerName":"b","queueId":0},11110]]}"#;
    assert_eq!(
        GetConsumerStatusBody::decode(go)
            .unwrap()
            .message_queue_table,
        s.message_queue_table
    );
}
