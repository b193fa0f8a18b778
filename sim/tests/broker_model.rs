//! The simulated broker's behaviours, exercised through a real client core.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, GetConsumerListByGroupResponseBody, HeartbeatData,
    LockBatchRequestBody, LockBatchResponseBody, MessageModel, MessageQueue, ProducerData,
};
use rocketwire_core::header::{self as hdr, BoundaryType, TransactionState};
use rocketwire_core::message::{decode_messages, keys, sysflag, Message, OffsetMessageId};
use rocketwire_core::request::{pull_message, send_message};
use rocketwire_core::{Event, InvokeError, OpId, RemotingCommand, RequestCode, ResponseCode};
use rocketwire_sim::{World, WorldConfig};

const A: &str = "127.0.0.1:10911";

fn call(
    world: &mut World,
    client: usize,
    cmd: RemotingCommand,
) -> Result<RemotingCommand, InvokeError> {
    let now = world.now();
    let op: OpId = world
        .client(client)
        .invoke(now, A, cmd, Duration::from_secs(30));
    world
        .drive_until(
            |w| w.response(client, op).is_some(),
            Duration::from_secs(40),
        )
        .unwrap();
    world.response(client, op).unwrap().1.clone()
}

fn ok(world: &mut World, client: usize, cmd: RemotingCommand) -> RemotingCommand {
    let response = call(world, client, cmd).unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::Success,
        "{response:?}"
    );
    response
}

fn heartbeat(client_id: &str, consumer: Option<&str>, producer: Option<&str>) -> RemotingCommand {
    let mut data = HeartbeatData::new(client_id);
    if let Some(group) = consumer {
        data.consumer_data_set.push(ConsumerData {
            consume_from_where: ConsumeFromWhere::LastOffset,
            consume_type: ConsumeType::Passively,
            group_name: group.into(),
            message_model: MessageModel::Clustering,
            subscription_data_set: Vec::new(),
            unit_mode: false,
        });
    }
    if let Some(group) = producer {
        data.producer_data_set.push(ProducerData {
            group_name: group.into(),
        });
    }
    RemotingCommand::request(RequestCode::HeartBeat).with_body(data.encode())
}

fn requests(world: &World, client: usize, code: RequestCode) -> Vec<RemotingCommand> {
    world
        .events(client)
        .iter()
        .filter_map(|e| match &e.event {
            Event::Request(r) if r.command.code == code.code() => Some(r.command.clone()),
            _ => None,
        })
        .collect()
}

fn send(world: &World, topic: &str, queue: i32, tags: &str) -> RemotingCommand {
    let mut m = Message::new(topic, Bytes::from(tags.to_string()));
    m.set_tags(tags).unwrap();
    send_message("pg", &m, queue, 0, world.clock().wall_millis(), None)
}

#[test]
fn membership_offsets_locks_and_unknown_codes() {
    let mut config = WorldConfig::new(11);
    config.clients = 2;
    let mut world = World::new(config);
    ok(&mut world, 0, heartbeat("c1", Some("cg"), None));
    ok(&mut world, 1, heartbeat("c2", Some("cg"), None));
    // c1 was told when c2 joined.
    assert_eq!(
        requests(&world, 0, RequestCode::NotifyConsumerIdsChanged).len(),
        2
    );
    let list = hdr::GetConsumerListByGroupRequestHeader {
        consumer_group: "cg".into(),
    };
    let r = ok(
        &mut world,
        0,
        hdr::request(RequestCode::GetConsumerListByGroup, &list),
    );
    let ids = GetConsumerListByGroupResponseBody::decode(&r.body)
        .unwrap()
        .consumer_id_list;
    assert_eq!(ids, vec!["c1".to_string(), "c2".to_string()]);

    let update = hdr::UpdateConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "T".into(),
        queue_id: 2,
        commit_offset: 7,
        broker_name: None,
    };
    ok(
        &mut world,
        0,
        hdr::request(RequestCode::UpdateConsumerOffset, &update),
    );
    let query = hdr::QueryConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "T".into(),
        queue_id: 2,
        set_zero_if_not_found: Some(false),
        broker_name: None,
    };
    let r = ok(
        &mut world,
        1,
        hdr::request(RequestCode::QueryConsumerOffset, &query),
    );
    assert_eq!(r.field("offset"), Some("7"));
    let missing = hdr::QueryConsumerOffsetRequestHeader {
        queue_id: 3,
        ..query
    };
    let r = call(
        &mut world,
        1,
        hdr::request(RequestCode::QueryConsumerOffset, &missing),
    )
    .unwrap();
    assert_eq!(r.response_code(), ResponseCode::QueryNotFound);

    let mq = MessageQueue::new("T", "broker-a", 0);
    let lock = |client: &str| LockBatchRequestBody {
        client_id: client.into(),
        consumer_group: "cg".into(),
        mq_set: BTreeSet::from([mq.clone()]),
        only_this_broker: true,
    };
    let lock_cmd = |client: &str| {
        RemotingCommand::request(RequestCode::LockBatchMq).with_body(lock(client).encode())
    };
    let r = ok(&mut world, 0, lock_cmd("c1"));
    assert_eq!(
        LockBatchResponseBody::decode(&r.body)
            .unwrap()
            .lock_ok_mq_set
            .len(),
        1
    );
    let r = ok(&mut world, 1, lock_cmd("c2"));
    assert!(LockBatchResponseBody::decode(&r.body)
        .unwrap()
        .lock_ok_mq_set
        .is_empty());
    world.drive(Duration::from_secs(61)).unwrap();
    let r = ok(&mut world, 1, lock_cmd("c2"));
    assert_eq!(
        LockBatchResponseBody::decode(&r.body)
            .unwrap()
            .lock_ok_mq_set
            .len(),
        1,
        "expired locks are free"
    );

    let r = call(&mut world, 0, RemotingCommand::request_code(9_999)).unwrap();
    assert_eq!(r.response_code(), ResponseCode::RequestCodeNotSupported);

    // Closing c2's connection (a restart) removes it from the group.
    world.restart_broker("broker-a");
    world.drive(Duration::from_millis(10)).unwrap();
    assert!(world.broker("broker-a").consumer_ids("cg").is_empty());
}

#[test]
fn pulls_long_poll_filter_tags_and_report_offsets() {
    let mut world = World::new(WorldConfig::new(12));
    world.broker("broker-a").create_topic("T", 4);
    let r = call(&mut world, 0, pull_message("cg", "T", 0, 5, 32, "*", 0)).unwrap();
    assert_eq!(r.response_code(), ResponseCode::PullOffsetMoved);
    assert_eq!(r.field("nextBeginOffset"), Some("0"));
    let r = call(&mut world, 0, pull_message("cg", "Nope", 0, 0, 32, "*", 0)).unwrap();
    assert_eq!(r.response_code(), ResponseCode::TopicNotExist);

    // A held pull is answered when a message arrives.
    let now = world.now();
    let pull = world.client(0).invoke(
        now,
        A,
        pull_message("cg", "T", 0, 0, 32, "A || B", 15_000),
        Duration::from_secs(30),
    );
    world.drive(Duration::from_secs(2)).unwrap();
    assert!(world.response(0, pull).is_none(), "the pull is held");
    let (c, b) = (send(&world, "T", 0, "C"), send(&world, "T", 0, "B"));
    ok(&mut world, 0, c);
    ok(&mut world, 0, b);
    world
        .drive_until(|w| w.response(0, pull).is_some(), Duration::from_secs(1))
        .unwrap();
    let (at, r) = world.response(0, pull).unwrap();
    assert!(at < Duration::from_secs(3));
    let r = r.clone().unwrap();
    assert_eq!(
        r.response_code(),
        ResponseCode::PullRetryImmediately,
        "tag C does not match"
    );
    assert_eq!(r.field("nextBeginOffset"), Some("1"));
    let r = ok(
        &mut world,
        0,
        pull_message("cg", "T", 0, 1, 32, "A || B", 15_000),
    );
    let msgs = decode_messages(&r.body).unwrap();
    assert_eq!(
        msgs.iter()
            .map(|m| m.message.tags().unwrap())
            .collect::<Vec<_>>(),
        ["B"]
    );

    // A held pull with nothing arriving ends with PULL_NOT_FOUND after its suspend time.
    let start = world.elapsed();
    let r = call(&mut world, 0, pull_message("cg", "T", 0, 2, 32, "*", 5_000)).unwrap();
    assert_eq!(r.response_code(), ResponseCode::PullNotFound);
    assert!(world.elapsed() - start >= Duration::from_secs(5));

    let max = hdr::GetMaxOffsetRequestHeader {
        topic: "T".into(),
        queue_id: 0,
        committed: true,
        broker_name: None,
    };
    assert_eq!(
        ok(&mut world, 0, hdr::request(RequestCode::GetMaxOffset, &max)).field("offset"),
        Some("2")
    );
    let min = hdr::GetMinOffsetRequestHeader {
        topic: "T".into(),
        queue_id: 0,
        broker_name: None,
    };
    assert_eq!(
        ok(&mut world, 0, hdr::request(RequestCode::GetMinOffset, &min)).field("offset"),
        Some("0")
    );
    let search = hdr::SearchOffsetRequestHeader {
        topic: "T".into(),
        queue_id: 0,
        timestamp: world.clock().wall_millis(),
        boundary_type: Some(BoundaryType::Lower),
        broker_name: None,
    };
    assert_eq!(
        ok(
            &mut world,
            0,
            hdr::request(RequestCode::SearchOffsetByTimestamp, &search)
        )
        .field("offset"),
        Some("2")
    );
}

#[test]
fn busy_transactions_checks_and_send_back() {
    let mut world = World::new(WorldConfig::new(13));
    world.broker("broker-a").busy_next_sends(1);
    let busy = send(&world, "T", 0, "A");
    let r = call(&mut world, 0, busy).unwrap();
    assert_eq!(r.response_code(), ResponseCode::SystemBusy);
    ok(&mut world, 0, heartbeat("p1", None, Some("pg")));

    // A half message is hidden, checked after 6 s, and visible once committed.
    let mut m = Message::new("T", Bytes::from_static(b"tx"));
    m.set_property(keys::TRANSACTION_PREPARED, "true").unwrap();
    m.set_property(keys::PRODUCER_GROUP, "pg").unwrap();
    m.set_property(keys::UNIQ_KEY, "UNIQ1").unwrap();
    let half = send_message("pg", &m, 1, sysflag::TRANSACTION_PREPARED_TYPE, 0, None);
    let r = ok(&mut world, 0, half);
    let h: hdr::SendMessageResponseHeader = hdr::read(&r).unwrap();
    assert_eq!(h.transaction_id.as_deref(), Some("UNIQ1"));
    assert_eq!(world.broker("broker-a").store().max_offset("T", 1), 0);
    world.drive(Duration::from_secs(7)).unwrap();
    // The client routes the check to a producer of the half message's group (PGROUP); with
    // none here it drops it, so the broker's check shows in the client's transcript only.
    let checks = world
        .transcript()
        .lines()
        .filter(|l| l.contains("CHECK_TRANSACTION_STATE"))
        .count();
    assert_eq!(checks, 1, "one check after the check delay");
    let _ = requests(&world, 0, RequestCode::CheckTransactionState);

    let end = hdr::EndTransactionRequestHeader {
        topic: Some("T".into()),
        producer_group: "pg".into(),
        tran_state_table_offset: h.queue_offset,
        commit_log_offset: OffsetMessageId::parse(&h.msg_id).unwrap().offset,
        commit_or_rollback: TransactionState::Commit,
        from_transaction_check: true,
        msg_id: "UNIQ1".into(),
        transaction_id: h.transaction_id.clone(),
        broker_name: None,
    };
    let now = world.now();
    world
        .client(0)
        .invoke_oneway(now, A, hdr::request(RequestCode::EndTransaction, &end));
    world.drive(Duration::from_millis(50)).unwrap();
    assert_eq!(world.broker("broker-a").half_count(), 0);
    let stored = world.broker("broker-a").store().messages("T", 1)[0].clone();
    assert_eq!(stored.message.property(keys::TRANSACTION_PREPARED), None);
    assert_eq!(
        sysflag::transaction_type(stored.sys_flag),
        sysflag::TRANSACTION_COMMIT_TYPE
    );

    // Send back: first to %RETRY%cg after level 3 (10 s), then to the DLQ past the maximum.
    let back = |offset: i64, max: i32| hdr::ConsumerSendMsgBackRequestHeader {
        offset,
        group: "cg".into(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some("T".into()),
        unit_mode: false,
        max_reconsume_times: Some(max),
        broker_name: None,
    };
    ok(
        &mut world,
        0,
        hdr::request(
            RequestCode::ConsumerSendMsgBack,
            &back(stored.commit_log_offset, 16),
        ),
    );
    world.drive(Duration::from_secs(9)).unwrap();
    assert_eq!(
        world.broker("broker-a").store().max_offset("%RETRY%cg", 0),
        0
    );
    world.drive(Duration::from_secs(2)).unwrap();
    let retry = world.broker("broker-a").store().messages("%RETRY%cg", 0)[0].clone();
    assert_eq!(retry.reconsume_times, 1);
    assert_eq!(retry.message.property(keys::RETRY_TOPIC), Some("T"));
    ok(
        &mut world,
        0,
        hdr::request(
            RequestCode::ConsumerSendMsgBack,
            &back(retry.commit_log_offset, 1),
        ),
    );
    world.drive(Duration::from_millis(10)).unwrap();
    assert_eq!(world.broker("broker-a").store().max_offset("%DLQ%cg", 0), 1);
    let route = world.namesrv(0).route("%RETRY%cg").unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 1);
}
