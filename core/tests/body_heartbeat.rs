//! HEART_BEAT body: encoding in Java's member order (snapshot checked against protocol facts
//! §5.3), subscription building, decoding Go's dialect.

use rocketwire_core::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, ExpressionType, HeartbeatData, MessageModel,
    ProducerData, SubscriptionData,
};

fn sample() -> HeartbeatData {
    let mut hb = HeartbeatData::new("192.168.0.1@12345");
    hb.producer_data_set.push(ProducerData {
        group_name: "PG".to_string(),
    });
    hb.consumer_data_set.push(ConsumerData {
        consume_from_where: ConsumeFromWhere::LastOffset,
        consume_type: ConsumeType::Passively,
        group_name: "CG".to_string(),
        message_model: MessageModel::Clustering,
        subscription_data_set: vec![
            SubscriptionData::build("TopicTest", "TagA || TagB", 1_700_000_000_000),
            SubscriptionData::build("%RETRY%CG", "*", 1_700_000_000_000),
        ],
        unit_mode: false,
    });
    hb
}

#[test]
fn heartbeat_snapshot() {
    let text = String::from_utf8(sample().encode()).unwrap();
    insta::assert_snapshot!(text, @r#"{"clientID":"192.168.0.1@12345","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"CG","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000000,"tagsSet":[],"topic":"%RETRY%CG"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"PG"}],"withoutSub":false}"#);
}

#[test]
fn heartbeat_member_order_matches_java() {
    // fastjson sorts members by name; check every object's keys are in ascending order.
    fn check(v: &serde_json::Value, text: &str) {
        match v {
            serde_json::Value::Object(m) => {
                let mut last = 0;
                for (k, child) in m {
                    let at = text[last..].find(&format!("\"{k}\":")).map(|p| p + last);
                    assert!(at.is_some(), "{k} out of order in {text}");
                    last = at.unwrap_or(last);
                    check(child, text);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| check(c, text)),
            _ => {}
        }
    }
    let text = String::from_utf8(sample().encode()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    check(&v, &text);
}

#[test]
fn heartbeat_round_trip() {
    let hb = sample();
    assert_eq!(HeartbeatData::decode(&hb.encode()).unwrap(), hb);
}

/// apache/rocketmq `remoting/src/test/java/org/apache/rocketmq/remoting/protocol/filter/FilterAPITest.java`.
#[test]
fn filter_api_vectors() {
    let s = SubscriptionData::build("FooBar", "TAG1 || Tag2 || tag3", 0);
    assert_eq!(s.topic, "FooBar");
    assert_eq!(s.sub_string, "TAG1 || Tag2 || tag3");
    assert_eq!(s.tags_set, ["TAG1", "Tag2", "tag3"]);
    // java.lang.String#hashCode of each tag.
    assert_eq!(s.code_set, [2567159, 2598904, 3552217]);

    let s = SubscriptionData::build("TOPIC", "A || B", 0);
    assert_eq!(s.tags_set, ["A", "B"]);
    assert_eq!(s.code_set, [65, 66]);
    assert_eq!(s.expression_type, ExpressionType::Tag);

    let s = SubscriptionData::build_sql92("TOPIC", "a is not null", 0).unwrap();
    assert_eq!(s.expression_type, ExpressionType::Sql92);
    assert!(SubscriptionData::build_sql92("TOPIC", "", 0).is_none());
}

/// Go's member order and string codes (protocol facts §5.3; rocketmq-client-go
/// `internal/model.go`).
#[test]
fn decode_go_heartbeat() {
    let body = br#"{"clientID":"10.0.0.2@7","producerDataSet":[],"consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_ACTIVELY","messageModel":"BROADCASTING","consumeFromWhere":"CONSUME_FROM_TIMESTAMP","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"x||y","tagsSet":["x","y"],"codeSet":["120","121"],"subVersion":5,"expressionType":"TAG"}],"unitMode":false}]}"#;
    let hb = HeartbeatData::decode(body).unwrap();
    let c = &hb.consumer_data_set[0];
    assert_eq!(c.consume_type, ConsumeType::Actively);
    assert_eq!(c.message_model, MessageModel::Broadcasting);
    assert_eq!(c.consume_from_where, ConsumeFromWhere::Timestamp);
    assert_eq!(c.subscription_data_set[0].code_set, [120, 121]);
    assert_eq!(hb.heartbeat_fingerprint, 0);
    assert!(!hb.without_sub);
}

#[test]
fn enum_names() {
    for (v, name) in [
        (ConsumeFromWhere::LastOffset, "CONSUME_FROM_LAST_OFFSET"),
        (
            ConsumeFromWhere::LastOffsetAndFromMinWhenBootFirst,
            "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        ),
        (ConsumeFromWhere::MinOffset, "CONSUME_FROM_MIN_OFFSET"),
        (ConsumeFromWhere::MaxOffset, "CONSUME_FROM_MAX_OFFSET"),
        (ConsumeFromWhere::FirstOffset, "CONSUME_FROM_FIRST_OFFSET"),
        (ConsumeFromWhere::Timestamp, "CONSUME_FROM_TIMESTAMP"),
    ] {
        assert_eq!(v.as_str(), name);
        assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{name}\""));
    }
    assert_eq!(ConsumeType::Pop.to_string(), "CONSUME_POP");
    assert_eq!(
        serde_json::from_str::<ConsumeType>("\"CONSUME_POP\"").unwrap(),
        ConsumeType::Pop
    );
    assert!(HeartbeatData::decode(br#"{"consumerDataSet":[{"consumeType":"NOPE"}]}"#).is_err());
}
