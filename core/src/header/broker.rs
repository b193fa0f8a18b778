//! Headers of requests a broker sends to a client.

command_header! {
    /// Java `NotifyConsumerIdsChangedRequestHeader` (NOTIFY_CONSUMER_IDS_CHANGED, 40, oneway).
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// `consumerGroup`: the group to rebalance.
        pub consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// Java `GetConsumerRunningInfoRequestHeader` (GET_CONSUMER_RUNNING_INFO, 307).
    pub struct GetConsumerRunningInfoRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `clientId`.
        pub client_id: String = "clientId",
        /// `jstackEnable`: include thread stacks (Java primitive).
        pub jstack_enable: bool = "jstackEnable" or false,
    }
}

command_header! {
    /// Java `ConsumeMessageDirectlyResultRequestHeader` (CONSUME_MESSAGE_DIRECTLY, 309). The
    /// body is one message in stored format.
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `clientId`.
        pub client_id: Option<String> = "clientId",
        /// `msgId`.
        pub msg_id: Option<String> = "msgId",
        /// `brokerName` (this header uses the long key, not `bname`).
        pub broker_name: Option<String> = "brokerName",
        /// `topic`.
        pub topic: Option<String> = "topic",
        /// `topicSysFlag`.
        pub topic_sys_flag: Option<i32> = "topicSysFlag",
        /// `groupSysFlag`.
        pub group_sys_flag: Option<i32> = "groupSysFlag",
    }
}

command_header! {
    /// Java `ResetOffsetRequestHeader` (RESET_CONSUMER_CLIENT_OFFSET, 220, oneway). The body
    /// lists the new offsets.
    pub struct ResetOffsetRequestHeader {
        /// `group`.
        pub group: String = "group",
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId` (Java primitive, `-1` = all queues).
        pub queue_id: i32 = "queueId" or -1,
        /// `offset`.
        pub offset: Option<i64> = "offset",
        /// `timestamp`, ms since the epoch.
        pub timestamp: i64 = "timestamp",
        /// `isForce`.
        pub is_force: bool = "isForce",
    }
}

command_header! {
    /// Java `GetConsumerStatusRequestHeader` (GET_CONSUMER_STATUS_FROM_CLIENT, 221).
    pub struct GetConsumerStatusRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `group`.
        pub group: String = "group",
        /// `clientAddr`.
        pub client_addr: Option<String> = "clientAddr",
    }
}

command_header! {
    /// Java `ReplyMessageRequestHeader` (PUSH_REPLY_MESSAGE_TO_CLIENT, 326). The body is the
    /// reply body, compressed if `sys_flag` says so.
    pub struct ReplyMessageRequestHeader {
        /// `producerGroup`.
        pub producer_group: String = "producerGroup",
        /// `topic`.
        pub topic: String = "topic",
        /// `defaultTopic`.
        pub default_topic: String = "defaultTopic",
        /// `defaultTopicQueueNums`.
        pub default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `sysFlag`: message sys flags.
        pub sys_flag: i32 = "sysFlag",
        /// `bornTimestamp`, ms since the epoch.
        pub born_timestamp: i64 = "bornTimestamp",
        /// `flag`: the user's message flag.
        pub flag: i32 = "flag",
        /// `properties`: encoded message properties.
        pub properties: Option<String> = "properties",
        /// `reconsumeTimes`.
        pub reconsume_times: Option<i32> = "reconsumeTimes",
        /// `unitMode` (Java primitive).
        pub unit_mode: bool = "unitMode" or false,
        /// `bornHost`: `ip:port`.
        pub born_host: String = "bornHost",
        /// `storeHost`: `ip:port`.
        pub store_host: String = "storeHost",
        /// `storeTimestamp`, ms since the epoch.
        pub store_timestamp: i64 = "storeTimestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, fields_of, CommandHeader, HeaderError};

    #[test]
    fn notify_and_running_info_round_trip() {
        assert_round_trip(&NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "cg".into(),
        });
        let fields = assert_round_trip(&GetConsumerRunningInfoRequestHeader {
            consumer_group: "cg".into(),
            client_id: "10.0.0.1@1".into(),
            jstack_enable: true,
        });
        assert_eq!(fields["jstackEnable"], "true");
        let h = GetConsumerRunningInfoRequestHeader::read_fields(&fields_of(&[
            ("consumerGroup", "cg"),
            ("clientId", "c"),
        ]))
        .expect("header");
        assert!(!h.jstack_enable);
        assert_eq!(
            GetConsumerRunningInfoRequestHeader::read_fields(&fields_of(&[("clientId", "c")])),
            Err(HeaderError::Missing {
                field: "consumerGroup"
            })
        );
    }

    #[test]
    fn consume_directly_round_trip() {
        let fields = assert_round_trip(&ConsumeMessageDirectlyResultRequestHeader {
            consumer_group: "cg".into(),
            client_id: Some("c".into()),
            msg_id: Some("m".into()),
            broker_name: Some("broker-a".into()),
            topic: Some("t".into()),
            topic_sys_flag: Some(0),
            group_sys_flag: Some(0),
        });
        assert_eq!(fields["brokerName"], "broker-a");
        assert_eq!(
            ConsumeMessageDirectlyResultRequestHeader::read_fields(&fields_of(&[
                ("consumerGroup", "cg"),
                ("topicSysFlag", "zero"),
            ])),
            Err(HeaderError::Invalid {
                field: "topicSysFlag",
                value: "zero".into()
            })
        );
    }

    #[test]
    fn reset_offset_round_trip_and_defaults() {
        let fields = assert_round_trip(&ResetOffsetRequestHeader {
            group: "cg".into(),
            topic: "t".into(),
            queue_id: 3,
            offset: Some(10),
            timestamp: 1_700_000_000_000,
            is_force: true,
        });
        assert_eq!(fields["isForce"], "true");
        let h = ResetOffsetRequestHeader::read_fields(&fields_of(&[
            ("group", "cg"),
            ("topic", "t"),
            ("timestamp", "5"),
            ("isForce", "FALSE"),
        ]))
        .expect("header");
        assert_eq!(h.queue_id, -1);
        assert_eq!(h.offset, None);
        assert!(!h.is_force);
        assert_eq!(
            ResetOffsetRequestHeader::read_fields(&fields_of(&[
                ("group", "cg"),
                ("topic", "t"),
                ("timestamp", "5"),
            ])),
            Err(HeaderError::Missing { field: "isForce" })
        );
    }

    #[test]
    fn consumer_status_and_reply_round_trip() {
        assert_round_trip(&GetConsumerStatusRequestHeader {
            topic: "t".into(),
            group: "g".into(),
            client_addr: Some("10.0.0.1".into()),
        });
        let fields = assert_round_trip(&ReplyMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "t".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 1,
            flag: 0,
            properties: Some("CORRELATION_ID\u{1}c\u{2}".into()),
            reconsume_times: Some(0),
            unit_mode: false,
            born_host: "10.0.0.1:5000".into(),
            store_host: "10.0.0.2:10911".into(),
            store_timestamp: 2,
        });
        assert_eq!(fields.len(), 14);
        let mut bad = fields.clone();
        bad.insert("storeTimestamp".into(), "".into());
        assert_eq!(
            ReplyMessageRequestHeader::read_fields(&bad),
            Err(HeaderError::Missing {
                field: "storeTimestamp"
            })
        );
    }
}
