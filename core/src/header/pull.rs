//! Pull headers (PULL_MESSAGE 11, LITE_PULL_MESSAGE 361).

command_header! {
    /// Java `PullMessageRequestHeader` (PULL_MESSAGE 11 and LITE_PULL_MESSAGE 361).
    #[derive(Default)]
    pub struct PullMessageRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `queueOffset`: the offset to read from.
        pub queue_offset: i64 = "queueOffset",
        /// `maxMsgNums`: at most this many messages (Java push default 32).
        pub max_msg_nums: i32 = "maxMsgNums",
        /// `sysFlag`: pull flags (commit offset, suspend, subscription, class filter, lite).
        pub sys_flag: i32 = "sysFlag",
        /// `commitOffset`: the consume offset to commit (0 if none).
        pub commit_offset: i64 = "commitOffset",
        /// `suspendTimeoutMillis`: how long the broker may hold the request.
        pub suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        /// `subscription`: the expression, when the subscription flag is set.
        pub subscription: Option<String> = "subscription",
        /// `subVersion`: the subscription version last sent in a heartbeat.
        pub sub_version: i64 = "subVersion",
        /// `expressionType`: `TAG` or `SQL92`.
        pub expression_type: Option<String> = "expressionType",
        /// `maxMsgBytes` (Java push default 262144).
        pub max_msg_bytes: Option<i32> = "maxMsgBytes",
        /// `requestSource` (proxy).
        pub request_source: Option<i32> = "requestSource",
        /// `proxyFrowardClientId` (proxy; the key is misspelt on the wire).
        pub proxy_forward_client_id: Option<String> = "proxyFrowardClientId",
        /// `bname`: the broker the queue belongs to.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `PullMessageResponseHeader`.
    #[derive(Default)]
    pub struct PullMessageResponseHeader {
        /// `suggestWhichBrokerId`: the broker id to pull from next.
        pub suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        /// `nextBeginOffset`.
        pub next_begin_offset: i64 = "nextBeginOffset",
        /// `minOffset`: the queue's minimum offset.
        pub min_offset: i64 = "minOffset",
        /// `maxOffset`: the queue's maximum offset.
        pub max_offset: i64 = "maxOffset",
        /// `offsetDelta` (static topics).
        pub offset_delta: Option<i64> = "offsetDelta",
        /// `topicSysFlag`.
        pub topic_sys_flag: Option<i32> = "topicSysFlag",
        /// `groupSysFlag`.
        pub group_sys_flag: Option<i32> = "groupSysFlag",
        /// `forbiddenType`.
        pub forbidden_type: Option<i32> = "forbiddenType",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, fields_of, CommandHeader, HeaderError};

    fn full() -> PullMessageRequestHeader {
        PullMessageRequestHeader {
            consumer_group: "cg".into(),
            topic: "TopicTest".into(),
            queue_id: 1,
            queue_offset: 100,
            max_msg_nums: 32,
            sys_flag: 0x7,
            commit_offset: 90,
            suspend_timeout_millis: 15_000,
            subscription: Some("TagA || TagB".into()),
            sub_version: 1_700_000_000_000,
            expression_type: Some("TAG".into()),
            max_msg_bytes: Some(262_144),
            request_source: Some(-1),
            proxy_forward_client_id: Some("proxy".into()),
            broker_name: Some("broker-a".into()),
        }
    }

    #[test]
    fn pull_request_round_trip() {
        let fields = assert_round_trip(&full());
        assert_eq!(fields.len(), 15);
        assert_eq!(fields["proxyFrowardClientId"], "proxy");
        let fields = assert_round_trip(&PullMessageRequestHeader::default());
        assert_eq!(fields.len(), 9, "{fields:?}");
    }

    /// apache/rocketmq-client-go `internal/request.go` `PullMessageRequest.Encode()`: every key
    /// is sent, `subscription`/`expressionType` possibly empty, `subVersion` 0.
    #[test]
    fn go_pull_encode_vector() {
        let go = fields_of(&[
            ("consumerGroup", "testGroup"),
            ("topic", "TopicTest"),
            ("queueId", "0"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "6"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "20000"),
            ("subscription", "*"),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ]);
        let h = PullMessageRequestHeader::read_fields(&go).expect("Go pull header");
        assert_eq!(h.suspend_timeout_millis, 20_000);
        assert_eq!(h.subscription.as_deref(), Some("*"));
        assert_eq!(h.to_fields(), go);
    }

    #[test]
    fn pull_request_missing_and_invalid() {
        let mut fields = full().to_fields();
        fields.insert("maxMsgNums".into(), "32 ".into());
        assert_eq!(
            PullMessageRequestHeader::read_fields(&fields),
            Err(HeaderError::Invalid {
                field: "maxMsgNums",
                value: "32 ".into()
            })
        );
        fields.remove("subVersion");
        fields.insert("maxMsgNums".into(), "32".into());
        assert_eq!(
            PullMessageRequestHeader::read_fields(&fields),
            Err(HeaderError::Missing {
                field: "subVersion"
            })
        );
    }

    #[test]
    fn pull_response_round_trip_and_errors() {
        assert_round_trip(&PullMessageResponseHeader {
            suggest_which_broker_id: 1,
            next_begin_offset: 132,
            min_offset: 0,
            max_offset: 500,
            offset_delta: Some(-3),
            topic_sys_flag: Some(0),
            group_sys_flag: Some(1),
            forbidden_type: Some(2),
        });
        let broker = fields_of(&[
            ("suggestWhichBrokerId", "0"),
            ("nextBeginOffset", "32"),
            ("minOffset", "0"),
            ("maxOffset", "64"),
        ]);
        let h = PullMessageResponseHeader::read_fields(&broker).expect("response");
        assert_eq!(h.next_begin_offset, 32);
        assert_eq!(h.offset_delta, None);
        let mut bad = broker.clone();
        bad.insert("maxOffset".into(), "9223372036854775808".into());
        assert!(matches!(
            PullMessageResponseHeader::read_fields(&bad),
            Err(HeaderError::Invalid {
                field: "maxOffset",
                ..
            })
        ));
        bad.remove("minOffset");
        assert_eq!(
            PullMessageResponseHeader::read_fields(&bad),
            Err(HeaderError::Missing { field: "minOffset" })
        );
    }
}
