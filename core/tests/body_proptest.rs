//! Property tests: the fastjson repair pass and every decoder never panic, and fastjson-form
//! encodings read back exactly.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rocketwire_core::body::{
    ClusterInfo, ConsumeMessageDirectlyResult, ConsumerRunningInfo,
    GetConsumerListByGroupResponseBody, GetConsumerStatusBody, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody, MessageQueue, ResetOffsetBody, TopicRouteData,
};

fn decode_all(bytes: &[u8]) {
    let _ = TopicRouteData::decode(bytes);
    let _ = ClusterInfo::decode(bytes);
    let _ = HeartbeatData::decode(bytes);
    let _ = LockBatchRequestBody::decode(bytes);
    let _ = LockBatchResponseBody::decode(bytes);
    let _ = GetConsumerListByGroupResponseBody::decode(bytes);
    let _ = ConsumerRunningInfo::decode(bytes);
    let _ = ConsumeMessageDirectlyResult::decode(bytes);
    let _ = ResetOffsetBody::decode(bytes);
    let _ = GetConsumerStatusBody::decode(bytes);
}

/// Text built from JSON punctuation, digits, letters and escapes, to reach deep into the
/// tokenizer (unbalanced brackets, keys in odd places, unterminated strings and escapes).
fn jsonish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(":".to_string()),
            Just(",".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("-1".to_string()),
            Just("0".to_string()),
            Just(" ".to_string()),
            Just("null".to_string()),
            Just("\"brokerAddrs\"".to_string()),
            Just("\"offsetTable\"".to_string()),
            Just("\"mqTable\"".to_string()),
            Just("{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"t\"}".to_string()),
            "[a-zA-Z]{1,3}",
            "\\PC",
        ],
        0..64,
    )
    .prop_map(|parts| parts.concat())
}

fn mq() -> impl Strategy<Value = MessageQueue> {
    ("\\PC{0,8}", "[ -~]{0,8}", any::<i32>()).prop_map(|(t, b, q)| MessageQueue::new(t, b, q))
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
    }

    #[test]
    fn jsonish_text_never_panics(text in jsonish()) {
        decode_all(text.as_bytes());
    }

    #[test]
    fn wrapped_jsonish_never_panics(text in jsonish()) {
        decode_all(format!("{{\"offsetTable\":{{{text}}}}}").as_bytes());
        decode_all(format!("{{\"brokerDatas\":[{{\"brokerAddrs\":{{{text}}}}}]}}").as_bytes());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash(depth in 0usize..5000, object in any::<bool>()) {
        let (open, close) = if object { ("{0:", "}") } else { ("[", "]") };
        let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        decode_all(text.as_bytes());
    }

    #[test]
    fn nested_object_keys_stay_bounded(depth in 1usize..200) {
        // Each level of object-in-key would double the escaping; the repair pass caps it.
        let text = format!("{}\"a\":1{}}}", "{".repeat(depth), "}:1".repeat(depth - 1));
        decode_all(text.as_bytes());
    }

    #[test]
    fn reset_offset_round_trips(entries in proptest::collection::vec((mq(), any::<i64>()), 0..8)) {
        let body = ResetOffsetBody { offset_table: entries.into_iter().collect::<BTreeMap<_, _>>() };
        prop_assert_eq!(ResetOffsetBody::decode(&body.encode()).unwrap(), body);
    }

    #[test]
    fn route_addrs_round_trip_legacy(addrs in proptest::collection::btree_map(any::<i64>(), "[ -~]{0,12}", 0..6)) {
        // Write the legacy form by hand: unquoted (possibly negative) integer keys.
        let members: Vec<String> = addrs
            .iter()
            .map(|(k, v)| format!("{k}:{}", serde_json::to_string(v).unwrap()))
            .collect();
        let body = format!(
            "{{\"brokerDatas\":[{{\"brokerAddrs\":{{{}}},\"brokerName\":\"b\",\"cluster\":\"c\"}}]}}",
            members.join(",")
        );
        let route = TopicRouteData::decode(body.as_bytes()).unwrap();
        prop_assert_eq!(&route.broker_datas[0].broker_addrs, &addrs);
        prop_assert_eq!(TopicRouteData::decode(&route.encode()).unwrap(), route);
    }
}
