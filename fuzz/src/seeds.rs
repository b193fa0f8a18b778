//! Valid inputs per fuzz target, so that fuzzing starts past the first parse errors.
//! `cargo run --example gen_seeds` (from `fuzz/`) writes them under `seeds/<target>/`.

use std::collections::BTreeMap;

use rocketwire_core::body::MessageQueue;
use rocketwire_core::codec::{encode_header, RemotingCommand, SerializeType};
use rocketwire_core::consumer::encode_offset_file;
use rocketwire_core::ResponseCode;

use crate::{fields_to_bytes, frame, response_frame};

/// A legacy (fastjson default) route body: unquoted broker-id keys, `topicSynFlag`.
pub const ROUTE_LEGACY: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"DefaultCluster"},{"brokerAddrs":{-1:"x"},"brokerName":"broker-b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4},{"brokerName":"broker-b","perm":4,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":2}]}"#;

/// A standard-JSON route body with an order-topic conf and a static-topic mapping.
pub const ROUTE_STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"b","cluster":"c","enableActingMaster":false,"zoneName":"z"}],"filterServerTable":{"10.0.0.1:10911":["10.0.0.1:1"]},"orderTopicConf":"b:4;c:2","queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}],"topicQueueMappingByBroker":{"b":{"bname":"b","currIdMap":{0:0,-1:2},"dirty":false,"epoch":1,"scope":"__global__","topic":"t","totalQueues":8}}}"#;

const MQ: &str = r#"{"brokerName":"broker-a","queueId":1,"topic":"T"}"#;

/// JSON bodies for the `bodies` target; the index is the selector byte.
pub fn bodies() -> Vec<(u8, String)> {
    vec![
        (0, format!(r#"{{"offsetTable":{{{MQ}:11110,{{"brokerName":"b","queueId":0,"topic":"t"}}:0}}}}"#)),
        (1, format!(r#"{{"messageQueueTable":{{{MQ}:5}}}}"#)),
        (
            2,
            format!(
                r#"{{"jstack":"","mqTable":{{{MQ}:{{"cachedMsgCount":1,"cachedMsgMaxOffset":9,"cachedMsgMinOffset":2,"cachedMsgSizeInMiB":0,"commitOffset":3,"droped":false,"lastConsumeTimestamp":1,"lastLockTimestamp":0,"lastPullTimestamp":1,"locked":true,"transactionMsgCount":0,"transactionMsgMaxOffset":0,"transactionMsgMinOffset":0,"tryUnlockTimes":0}}}},"properties":{{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY","PROP_CONSUMEORDERLY":"false"}},"statusTable":{{"T":{{"consumeFailedMsgs":0,"consumeFailedTPS":0.0,"consumeOKTPS":1.5,"consumeRT":2.0,"pullRT":1.0,"pullTPS":3.0}}}},"subscriptionSet":[{{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1,"tagsSet":["TagA"],"topic":"T"}}]}}"#
            ),
        ),
        (3, r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"remark":"ok","spentTimeMills":3}"#.to_string()),
        (
            4,
            r#"{"clientID":"10.0.0.1@1#0","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"g","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"T"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"p"}],"withoutSub":false}"#.to_string(),
        ),
        (5, format!(r#"{{"clientId":"c","consumerGroup":"g","mqSet":[{MQ}],"onlyThisBroker":false}}"#)),
        (6, format!(r#"{{"lockOKMQSet":[{MQ}]}}"#)),
        (7, format!(r#"{{"clientId":"c","consumerGroup":"g","mqSet":[{MQ}]}}"#)),
        (8, r#"{"consumerIdList":["10.0.0.1@12345#1","10.0.0.2@1"]}"#.to_string()),
        (9, r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"c"}},"clusterAddrTable":{"c":["broker-a"]}}"#.to_string()),
        (10, ROUTE_LEGACY.to_string()),
    ]
}

fn sample_request() -> RemotingCommand {
    RemotingCommand::request_code(310)
        .with_field("a", "producer")
        .with_field("b", "TopicTest")
        .with_field("e", "0")
        .with_field("i", "KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}0A0B\u{2}")
        .with_remark("hello")
        .with_body(&b"body bytes"[..])
}

fn success(opaque: i32) -> RemotingCommand {
    let mut cmd =
        RemotingCommand::response_to(&RemotingCommand::request_code(1), ResponseCode::Success);
    cmd.opaque = opaque;
    cmd
}

/// Seeds for the `frame_decoder` target: a cutter byte, then a byte stream.
pub fn frame_decoder() -> Vec<Vec<u8>> {
    let json = response_frame(&sample_request(), SerializeType::Json);
    let binary = response_frame(&sample_request(), SerializeType::RocketMq);
    let mut both = vec![17];
    both.extend_from_slice(&json);
    both.extend_from_slice(&binary);
    let mut single = vec![3];
    single.extend_from_slice(&binary);
    vec![
        both,
        single,
        [&[0u8][..], &frame(0, b"{\"code\":0}", b"")].concat(),
    ]
}

/// Seeds for the `json_header` target (header bytes only).
pub fn json_header() -> Vec<Vec<u8>> {
    vec![
        encode_header(&sample_request(), SerializeType::Json).expect("encodable"),
        br#"{"code":0,"language":"GO","version":317,"opaque":5,"flag":1,"remark":"","extFields":{"msgId":"0A","queueId":"1"}}"#.to_vec(),
        br#"{"code":1,"language":9,"remark":null,"extFields":{"n":5,"b":true,"f":1.5,"z":null},"serializeTypeCurrentRPC":"ROCKETMQ"}"#.to_vec(),
    ]
}

/// Seeds for the `binary_header` target (header bytes only).
pub fn binary_header() -> Vec<Vec<u8>> {
    vec![
        encode_header(&sample_request(), SerializeType::RocketMq).expect("encodable"),
        encode_header(&success(9), SerializeType::RocketMq).expect("encodable"),
    ]
}

/// Seeds for the `custom_headers` target (a field map, see [`crate::fields_from_bytes`]).
pub fn custom_headers() -> Vec<Vec<u8>> {
    vec![
        // SEND_MESSAGE_V2 (short names).
        fields_to_bytes(&[
            ("a", "pg"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "1"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "WAIT\u{1}true\u{2}"),
            ("j", "0"),
            ("k", "false"),
            ("l", "16"),
            ("m", "false"),
            ("n", "broker-a"),
        ]),
        // SEND_MESSAGE (long names) and a send response.
        fields_to_bytes(&[
            ("producerGroup", "pg"),
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("queueId", "1"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1"),
            ("flag", "0"),
            ("properties", ""),
            ("reconsumeTimes", "0"),
            ("unitMode", "false"),
            ("batch", "false"),
            ("msgId", "0A0B"),
            ("queueOffset", "7"),
            ("transactionId", "x"),
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
        ]),
        // Pull response / request.
        fields_to_bytes(&[
            ("suggestWhichBrokerId", "0"),
            ("nextBeginOffset", "10"),
            ("minOffset", "0"),
            ("maxOffset", "100"),
            ("offsetDelta", "1"),
            ("topicSysFlag", "0"),
            ("groupSysFlag", "0"),
            ("forbiddenType", "1"),
            ("consumerGroup", "g"),
            ("topic", "T"),
            ("queueId", "0"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "3"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "15000"),
            ("subscription", "*"),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ]),
        // CHECK_TRANSACTION_STATE / END_TRANSACTION.
        fields_to_bytes(&[
            ("tranStateTableOffset", "1"),
            ("commitLogOffset", "2"),
            ("msgId", "0A"),
            ("transactionId", "t"),
            ("offsetMsgId", "0B"),
            ("bname", "broker-a"),
            ("producerGroup", "pg"),
            ("commitOrRollback", "8"),
            ("fromTransactionCheck", "true"),
        ]),
    ]
}

/// Seeds for the `route_json` target.
pub fn route_json() -> Vec<Vec<u8>> {
    vec![
        ROUTE_LEGACY.as_bytes().to_vec(),
        ROUTE_STANDARD.as_bytes().to_vec(),
    ]
}

/// Seeds for the `bodies` target: a selector byte, then the body.
pub fn bodies_seeds() -> Vec<Vec<u8>> {
    bodies()
        .into_iter()
        .map(|(sel, body)| [&[sel][..], body.as_bytes()].concat())
        .collect()
}

/// Seeds for the `client_core_bytes` target: a cutter byte, then what the peer sends:
/// answers to opaque 1 (route query) and 2 (raw invocation) and broker→client requests
/// (CHECK_TRANSACTION_STATE, and an unknown code that must be answered).
pub fn client_core_bytes() -> Vec<Vec<u8>> {
    let route = success(1).with_body(ROUTE_LEGACY.as_bytes().to_vec());
    let invoke = success(2).with_field("k", "v").with_body(&b"answer"[..]);
    let mut check = RemotingCommand::request_code(39)
        .with_field("tranStateTableOffset", "1")
        .with_field("commitLogOffset", "2")
        .with_field("msgId", "0A");
    check.opaque = 77;
    let mut unknown = RemotingCommand::request_code(9999).with_field("x", "y");
    unknown.opaque = 78;
    let mut not_exist = RemotingCommand::response_to(
        &RemotingCommand::request_code(1),
        ResponseCode::TopicNotExist,
    );
    not_exist.opaque = 1;
    let mut a = vec![5];
    a.extend(response_frame(&route, SerializeType::Json));
    a.extend(response_frame(&check, SerializeType::RocketMq));
    a.extend(response_frame(&unknown, SerializeType::Json));
    a.extend(response_frame(&invoke, SerializeType::RocketMq));
    let mut b = vec![200];
    b.extend(response_frame(&invoke, SerializeType::Json));
    b.extend(response_frame(&not_exist, SerializeType::Json));
    b.extend(response_frame(&success(3), SerializeType::Json));
    vec![a, b]
}

/// Seeds for the `offset_file` target: offset files in every form the reader accepts (the
/// writer's compact form with names that need escaping, Java's pretty form, Go's list of
/// pairs, the C client's list), one with a negative offset, and a table to write
/// (see [`crate::offset_table_from_bytes`]).
pub fn offset_file() -> Vec<Vec<u8>> {
    let mut table = BTreeMap::new();
    table.insert(MessageQueue::new("T", "broker-a", 0), 12);
    table.insert(MessageQueue::new("%RETRY%group", "broker-b", 3), 0);
    table.insert(
        MessageQueue::new("主题\"{}:", "b\\\u{1}", 2_147_483_647),
        i64::MAX,
    );
    vec![
        encode_offset_file(&table),
        b"{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":0,\n\t\t\t\"topic\":\"T\"\n\t\t}:12,{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":1,\n\t\t\t\"topic\":\"T\"\n\t\t}:3\n\t}\n}".to_vec(),
        format!(r#"{{"offsetTable":[[{MQ},5],[{{"brokerName":"b","queueId":0,"topic":"t"}},0]]}}"#)
            .into_bytes(),
        br#"{"offsetTable":[{"topic":"T","brokerName":"broker-a","queueId":1,"offset":7}]}"#.to_vec(),
        format!(r#"{{"offsetTable":{{{MQ}:-5}}}}"#).into_bytes(),
        b"T\x01broker-a\x010\x0112\x00%RETRY%g\x01broker-b\x01-1\x01-3\x00".to_vec(),
    ]
}

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut out = vec![
        ("frame_decoder", frame_decoder()),
        ("json_header", json_header()),
        ("binary_header", binary_header()),
        ("custom_headers", custom_headers()),
        ("route_json", route_json()),
        ("bodies", bodies_seeds()),
        ("offset_file", offset_file()),
        ("client_core_bytes", client_core_bytes()),
        ("client_core_ops", crate::ops_seeds::client_core_ops()),
    ];
    out.extend(crate::message_seeds::all());
    out
}
