//! Snapshots of the encoded frame of every request a client sends, in both serializations.
//!
//! Each snapshot shows the frame length, the header word, the header (JSON text, or the binary
//! header's fields walked byte by byte) and a hex dump with 16 bytes per line. Before a
//! snapshot is taken the frame is checked independently of the encoder: the length field and
//! header word agree with the byte count, the header carries the command's fields, and the
//! frame decodes back to the command.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::BytesMut;
use rocketwire_core::codec::{encode_to_vec, FrameDecoder, RemotingCommand, SerializeType};
use rocketwire_core::header::{
    self, BoundaryType, ConsumerSendMsgBackRequestHeader, EndTransactionRequestHeader,
    GetConsumerListByGroupRequestHeader, GetEarliestMsgStoretimeRequestHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, GetRouteInfoRequestHeader,
    PullMessageRequestHeader, QueryConsumerOffsetRequestHeader, QueryMessageRequestHeader,
    SearchOffsetRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    TransactionState, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
};
use rocketwire_core::RequestCode;

const TOPIC: &str = "TopicTest";
const BROKER: &str = "broker-a";
const CONSUMER_GROUP: &str = "cg";
const PRODUCER_GROUP: &str = "pg";
const CLIENT_ID: &str = "10.0.0.1@4242#1";
const BORN: i64 = 1_700_000_000_123;

/// Properties `UNIQ_KEY=…, WAIT=true, TAGS=TagA` in the 0x01/0x02 encoding.
const PROPERTIES: &str =
    "UNIQ_KEY\u{1}0A0000011092000000000000000A\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}";

/// Renders a frame for review and checks it against `cmd` without trusting the encoder.
fn render(cmd: &RemotingCommand, ser: SerializeType) -> String {
    let frame = encode_to_vec(cmd, ser).expect("encodable");
    let len_field: [u8; 4] = frame[0..4].try_into().expect("length field");
    let word: [u8; 4] = frame[4..8].try_into().expect("header word");
    let frame_len = i32::from_be_bytes(len_field);
    let word = u32::from_be_bytes(word);
    let header_len = (word & 0x00FF_FFFF) as usize;
    assert_eq!(
        frame_len as usize,
        frame.len() - 4,
        "frame_length excludes itself"
    );
    assert_eq!(word >> 24, u32::from(ser.code()), "serialize type byte");
    let header = &frame[8..8 + header_len];
    let body = &frame[8 + header_len..];
    assert_eq!(body, &cmd.body[..], "body follows the header");

    let mut out = String::new();
    writeln!(out, "serialize: {ser:?}").unwrap();
    writeln!(
        out,
        "frame_length: {frame_len} (frame is {} bytes)",
        frame.len()
    )
    .unwrap();
    writeln!(
        out,
        "header_word: 0x{word:08x} (type {}, header {header_len} bytes)",
        word >> 24
    )
    .unwrap();
    writeln!(out, "body: {} bytes", body.len()).unwrap();
    match ser {
        SerializeType::Json => {
            let text = std::str::from_utf8(header).expect("JSON header is UTF-8");
            check_json(text, cmd);
            writeln!(out, "header:\n{text}").unwrap();
        }
        SerializeType::RocketMq => {
            let fields = walk_binary(header, cmd);
            write!(out, "header:\n{fields}").unwrap();
        }
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) if !text.chars().any(char::is_control) => {
                writeln!(out, "body text: {text}").unwrap()
            }
            _ => writeln!(out, "body text: (binary, see hex)").unwrap(),
        }
    }
    writeln!(out, "hex:").unwrap();
    out.push_str(&hex_dump(&frame));

    let mut buf = BytesMut::from(&frame[..]);
    let back = FrameDecoder::default()
        .decode(&mut buf)
        .expect("decodes")
        .expect("whole frame");
    assert_eq!(&back, cmd, "frame decodes back to the command");
    assert!(buf.is_empty());
    out
}

/// The JSON header carries the command's members and its ext fields as strings.
fn check_json(text: &str, cmd: &RemotingCommand) {
    let value: serde_json::Value = serde_json::from_str(text).expect("JSON header parses");
    assert_eq!(value["code"], cmd.code);
    assert_eq!(value["opaque"], cmd.opaque);
    assert_eq!(value["flag"], cmd.flag);
    assert_eq!(value["version"], cmd.version);
    assert_eq!(value["language"], "RUST");
    let ext: BTreeMap<String, String> = match value.get("extFields") {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        Some(ext) => serde_json::from_value(ext.clone()).expect("extFields are strings"),
    };
    assert_eq!(ext, cmd.ext_fields);
}

/// Walks a binary header field by field (protocol-facts §1.4), asserting it matches `cmd`, and
/// renders one line per field.
fn walk_binary(h: &[u8], cmd: &RemotingCommand) -> String {
    let mut cur = Cursor { h, at: 0 };
    let code = i16::from_be_bytes(cur.take(2).try_into().unwrap());
    let language = cur.take(1)[0];
    let version = i16::from_be_bytes(cur.take(2).try_into().unwrap());
    let opaque = i32::from_be_bytes(cur.take(4).try_into().unwrap());
    let flag = i32::from_be_bytes(cur.take(4).try_into().unwrap());
    let remark_len = i32::from_be_bytes(cur.take(4).try_into().unwrap()) as usize;
    let remark = String::from_utf8(cur.take(remark_len).to_vec()).unwrap();
    let ext_len = i32::from_be_bytes(cur.take(4).try_into().unwrap()) as usize;
    let mut out = format!(
        "  code={code} language={language} version={version} opaque={opaque} flag={flag}\n  \
         remark_len={remark_len} remark={remark:?}\n  ext_len={ext_len}\n"
    );
    assert_eq!(i32::from(code), cmd.code);
    assert_eq!(language, 12, "RUST");
    assert_eq!(i32::from(version), cmd.version);
    assert_eq!(opaque, cmd.opaque);
    assert_eq!(flag, cmd.flag);
    assert_eq!(
        Some(remark.as_str()).filter(|r| !r.is_empty()),
        cmd.remark.as_deref()
    );
    let ext_end = cur.at + ext_len;
    let mut ext = BTreeMap::new();
    while cur.at < ext_end {
        let key_len = i16::from_be_bytes(cur.take(2).try_into().unwrap()) as usize;
        let key = String::from_utf8(cur.take(key_len).to_vec()).unwrap();
        let val_len = i32::from_be_bytes(cur.take(4).try_into().unwrap()) as usize;
        let val = String::from_utf8(cur.take(val_len).to_vec()).unwrap();
        writeln!(out, "  [{key_len}] {key:?} = [{val_len}] {val:?}").unwrap();
        ext.insert(key, val);
    }
    assert_eq!(cur.at, h.len(), "header ends after the ext section");
    assert_eq!(ext, cmd.ext_fields);
    out
}

/// A read position in a binary header.
struct Cursor<'a> {
    h: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.h[self.at..self.at + n];
        self.at += n;
        s
    }
}

fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        write!(out, "{:04x}:", i * 16).unwrap();
        for b in line {
            write!(out, " {b:02x}").unwrap();
        }
        for _ in line.len()..16 {
            out.push_str("   ");
        }
        out.push_str("  |");
        for &b in line {
            out.push(if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    out
}

/// Snapshots `cmd` (with `opaque`) as `<name>__json` and `<name>__rocketmq`.
fn snapshot_both(name: &str, opaque: i32, mut cmd: RemotingCommand) {
    cmd.opaque = opaque;
    insta::assert_snapshot!(format!("{name}__json"), render(&cmd, SerializeType::Json));
    insta::assert_snapshot!(
        format!("{name}__rocketmq"),
        render(&cmd, SerializeType::RocketMq)
    );
}

fn send_header() -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        properties: Some(PROPERTIES.into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        broker_name: Some(BROKER.into()),
        ..SendMessageRequestHeader::new(PRODUCER_GROUP, TOPIC, 1, BORN)
    }
}

/// One batch record (protocol-facts §3.4): size, magic 0, crc 0, flag, body, properties.
fn batch_record(body: &[u8], properties: &str) -> Vec<u8> {
    let size = 4 + 4 + 4 + 4 + 4 + body.len() + 2 + properties.len();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(size as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&(properties.len() as i16).to_be_bytes());
    out.extend_from_slice(properties.as_bytes());
    out
}

fn pull_header(sys_flag: i32) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: CONSUMER_GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 2,
        queue_offset: 128,
        max_msg_nums: 32,
        sys_flag,
        commit_offset: 120,
        suspend_timeout_millis: 15_000,
        subscription: Some("TagA || TagB".into()),
        sub_version: 1_700_000_000_000,
        expression_type: Some("TAG".into()),
        max_msg_bytes: Some(262_144),
        broker_name: Some(BROKER.into()),
        ..PullMessageRequestHeader::default()
    }
}

#[test]
fn send_message_v1() {
    let cmd =
        header::request(RequestCode::SendMessage, &send_header()).with_body(&b"Hello RocketMQ"[..]);
    snapshot_both("send_message_v1", 1, cmd);
}

#[test]
fn send_message_v2() {
    let cmd = header::request(
        RequestCode::SendMessageV2,
        &SendMessageRequestHeaderV2(send_header()),
    )
    .with_body(&b"Hello RocketMQ"[..]);
    snapshot_both("send_message_v2", 2, cmd);
}

#[test]
fn send_batch_message_v2() {
    let h = SendMessageRequestHeader {
        properties: Some("WAIT\u{1}true\u{2}UNIQ_KEY\u{1}0A0000011092000000000000000B\u{2}".into()),
        batch: Some(true),
        ..send_header()
    };
    let mut body = batch_record(b"m1", "WAIT\u{1}true\u{2}");
    body.extend_from_slice(&batch_record(b"m2", "WAIT\u{1}true\u{2}"));
    let cmd = header::request(
        RequestCode::SendBatchMessage,
        &SendMessageRequestHeaderV2(h),
    )
    .with_body(body);
    snapshot_both("send_batch_message_v2", 3, cmd);
}

#[test]
fn pull_message() {
    let cmd = header::request(RequestCode::PullMessage, &pull_header(0x1 | 0x2 | 0x4));
    snapshot_both("pull_message", 4, cmd);
}

#[test]
fn lite_pull_message() {
    let h = PullMessageRequestHeader {
        suspend_timeout_millis: 20_000,
        ..pull_header(0x2 | 0x4 | 0x10)
    };
    snapshot_both(
        "lite_pull_message",
        5,
        header::request(RequestCode::LitePullMessage, &h),
    );
}

#[test]
fn query_consumer_offset() {
    let h = QueryConsumerOffsetRequestHeader {
        consumer_group: CONSUMER_GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 2,
        set_zero_if_not_found: None,
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "query_consumer_offset",
        6,
        header::request(RequestCode::QueryConsumerOffset, &h),
    );
}

#[test]
fn update_consumer_offset_oneway() {
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: CONSUMER_GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 2,
        commit_offset: 160,
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "update_consumer_offset",
        7,
        header::request(RequestCode::UpdateConsumerOffset, &h).oneway(),
    );
}

#[test]
fn get_max_offset() {
    let h = GetMaxOffsetRequestHeader {
        topic: TOPIC.into(),
        queue_id: 2,
        committed: true,
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "get_max_offset",
        8,
        header::request(RequestCode::GetMaxOffset, &h),
    );
}

#[test]
fn get_min_offset() {
    let h = GetMinOffsetRequestHeader {
        topic: TOPIC.into(),
        queue_id: 2,
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "get_min_offset",
        9,
        header::request(RequestCode::GetMinOffset, &h),
    );
}

#[test]
fn get_earliest_msg_storetime() {
    let h = GetEarliestMsgStoretimeRequestHeader {
        topic: TOPIC.into(),
        queue_id: 2,
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "get_earliest_msg_storetime",
        10,
        header::request(RequestCode::GetEarliestMsgStoretime, &h),
    );
}

#[test]
fn search_offset_by_timestamp() {
    let h = SearchOffsetRequestHeader {
        topic: TOPIC.into(),
        queue_id: 2,
        timestamp: BORN,
        boundary_type: Some(BoundaryType::Lower),
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "search_offset_by_timestamp",
        11,
        header::request(RequestCode::SearchOffsetByTimestamp, &h),
    );
}

#[test]
fn query_message() {
    let h = QueryMessageRequestHeader {
        topic: TOPIC.into(),
        key: "order-42".into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: BORN,
        unique_key_query: Some(false),
    };
    snapshot_both(
        "query_message",
        12,
        header::request(RequestCode::QueryMessage, &h),
    );
}

#[test]
fn view_message_by_id() {
    let h = ViewMessageRequestHeader {
        topic: Some(TOPIC.into()),
        offset: 4_096,
    };
    snapshot_both(
        "view_message_by_id",
        13,
        header::request(RequestCode::ViewMessageById, &h),
    );
}

#[test]
fn heart_beat() {
    let body = format!(
        r#"{{"clientID":"{CLIENT_ID}","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[{{"groupName":"{PRODUCER_GROUP}"}}],"withoutSub":false}}"#
    );
    let cmd = RemotingCommand::request(RequestCode::HeartBeat).with_body(body.into_bytes());
    snapshot_both("heart_beat", 14, cmd);
}

#[test]
fn unregister_client() {
    let h = UnregisterClientRequestHeader {
        client_id: CLIENT_ID.into(),
        producer_group: Some(PRODUCER_GROUP.into()),
        consumer_group: None,
    };
    snapshot_both(
        "unregister_client",
        15,
        header::request(RequestCode::UnregisterClient, &h),
    );
}

#[test]
fn consumer_send_msg_back() {
    let h = ConsumerSendMsgBackRequestHeader {
        offset: 8_192,
        group: CONSUMER_GROUP.into(),
        delay_level: 0,
        origin_msg_id: Some("0A0000011092000000000000000A".into()),
        origin_topic: Some(TOPIC.into()),
        unit_mode: false,
        max_reconsume_times: Some(16),
        broker_name: Some(BROKER.into()),
    };
    snapshot_both(
        "consumer_send_msg_back",
        16,
        header::request(RequestCode::ConsumerSendMsgBack, &h),
    );
}

#[test]
fn end_transaction_oneway() {
    let h = EndTransactionRequestHeader {
        topic: Some(TOPIC.into()),
        producer_group: PRODUCER_GROUP.into(),
        tran_state_table_offset: 33,
        commit_log_offset: 8_192,
        commit_or_rollback: TransactionState::Commit,
        from_transaction_check: false,
        msg_id: "0A0000011092000000000000000A".into(),
        transaction_id: Some("0A0000011092000000000000000A".into()),
        broker_name: Some(BROKER.into()),
    };
    let cmd = header::request(RequestCode::EndTransaction, &h)
        .with_remark("executeLocalTransactionBranch exception")
        .oneway();
    snapshot_both("end_transaction", 17, cmd);
}

#[test]
fn get_consumer_list_by_group() {
    let h = GetConsumerListByGroupRequestHeader {
        consumer_group: CONSUMER_GROUP.into(),
    };
    snapshot_both(
        "get_consumer_list_by_group",
        18,
        header::request(RequestCode::GetConsumerListByGroup, &h),
    );
}

#[test]
fn lock_batch_mq() {
    let body = format!(
        r#"{{"clientId":"{CLIENT_ID}","consumerGroup":"{CONSUMER_GROUP}","mqSet":[{{"brokerName":"{BROKER}","queueId":2,"topic":"{TOPIC}"}}],"onlyThisBroker":false}}"#
    );
    let cmd = RemotingCommand::request(RequestCode::LockBatchMq).with_body(body.into_bytes());
    snapshot_both("lock_batch_mq", 19, cmd);
}

#[test]
fn unlock_batch_mq() {
    let body = format!(
        r#"{{"clientId":"{CLIENT_ID}","consumerGroup":"{CONSUMER_GROUP}","mqSet":[{{"brokerName":"{BROKER}","queueId":2,"topic":"{TOPIC}"}}],"onlyThisBroker":false}}"#
    );
    let cmd = RemotingCommand::request(RequestCode::UnlockBatchMq).with_body(body.into_bytes());
    snapshot_both("unlock_batch_mq", 20, cmd);
}

#[test]
fn get_route_info_by_topic() {
    let h = GetRouteInfoRequestHeader {
        topic: TOPIC.into(),
        accept_standard_json_only: Some(true),
    };
    snapshot_both(
        "get_route_info_by_topic",
        21,
        header::request(RequestCode::GetRouteInfoByTopic, &h),
    );
}

#[test]
fn get_broker_cluster_info() {
    snapshot_both(
        "get_broker_cluster_info",
        22,
        RemotingCommand::request(RequestCode::GetBrokerClusterInfo),
    );
}
