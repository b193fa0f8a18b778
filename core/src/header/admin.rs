//! Lookup, bookkeeping and admin headers: route, message query/view, consumer list,
//! unregister, topic creation, consume stats.

command_header! {
    /// Java `GetRouteInfoRequestHeader` (GET_ROUTEINFO_BY_TOPIC, 105, to the namesrv).
    pub struct GetRouteInfoRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `acceptStandardJsonOnly` (5.x): ask for standard JSON route data.
        pub accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly",
    }
}

command_header! {
    /// Java `QueryMessageRequestHeader` (QUERY_MESSAGE, 12), plus the ext field
    /// `_UNIQUE_KEY_QUERY` Java adds next to it.
    pub struct QueryMessageRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `key`: the `KEYS` value or `UNIQ_KEY` to look up.
        pub key: String = "key",
        /// `maxNum`: at most this many messages.
        pub max_num: i32 = "maxNum",
        /// `beginTimestamp`, ms since the epoch.
        pub begin_timestamp: i64 = "beginTimestamp",
        /// `endTimestamp`, ms since the epoch.
        pub end_timestamp: i64 = "endTimestamp",
        /// `_UNIQUE_KEY_QUERY`: true to look up by `UNIQ_KEY`, false by `KEYS`.
        pub unique_key_query: Option<bool> = "_UNIQUE_KEY_QUERY",
    }
}

command_header! {
    /// Java `QueryMessageResponseHeader`.
    pub struct QueryMessageResponseHeader {
        /// `indexLastUpdateTimestamp`.
        pub index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        /// `indexLastUpdatePhyoffset`.
        pub index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// Java `ViewMessageRequestHeader` (VIEW_MESSAGE_BY_ID, 33).
    pub struct ViewMessageRequestHeader {
        /// `topic`.
        pub topic: Option<String> = "topic",
        /// `offset`: the commit-log offset from the offset message id.
        pub offset: i64 = "offset",
    }
}

command_header! {
    /// Java `UnregisterClientRequestHeader` (UNREGISTER_CLIENT, 35).
    pub struct UnregisterClientRequestHeader {
        /// `clientID`.
        pub client_id: String = "clientID",
        /// `producerGroup`, when a producer unregisters.
        pub producer_group: Option<String> = "producerGroup",
        /// `consumerGroup`, when a consumer unregisters.
        pub consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    /// Java `GetConsumerListByGroupRequestHeader` (GET_CONSUMER_LIST_BY_GROUP, 38).
    pub struct GetConsumerListByGroupRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// Java `GetConsumerConnectionListRequestHeader` (GET_CONSUMER_CONNECTION_LIST, 203).
    pub struct GetConsumerConnectionListRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// Java `CreateTopicRequestHeader` (UPDATE_AND_CREATE_TOPIC, 17).
    pub struct CreateTopicRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `defaultTopic`: the template topic (`TBW102`).
        pub default_topic: String = "defaultTopic",
        /// `readQueueNums`.
        pub read_queue_nums: i32 = "readQueueNums",
        /// `writeQueueNums`.
        pub write_queue_nums: i32 = "writeQueueNums",
        /// `perm`: 2 writable, 4 readable (6 both).
        pub perm: i32 = "perm",
        /// `topicFilterType` (`SINGLE_TAG`).
        pub topic_filter_type: String = "topicFilterType",
        /// `topicSysFlag`.
        pub topic_sys_flag: Option<i32> = "topicSysFlag",
        /// `order` (Java primitive): an ordered topic.
        pub order: bool = "order" or false,
        /// `attributes` (5.x, `+key=value` pairs).
        pub attributes: Option<String> = "attributes",
    }
}

command_header! {
    /// Java `GetConsumeStatsRequestHeader` (GET_CONSUME_STATS, 208).
    pub struct GetConsumeStatsRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`: one topic, or empty for every topic the group subscribes.
        pub topic: String = "topic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, fields_of, CommandHeader, HeaderError};

    #[test]
    fn route_header_round_trip() {
        let fields = assert_round_trip(&GetRouteInfoRequestHeader {
            topic: "TopicTest".into(),
            accept_standard_json_only: Some(true),
        });
        assert_eq!(
            fields,
            fields_of(&[("acceptStandardJsonOnly", "true"), ("topic", "TopicTest")])
        );
        // apache/rocketmq-client-go `internal/request.go` `GetRouteInfoRequest.Encode()`: topic only.
        let go = fields_of(&[("topic", "TopicTest")]);
        let h = GetRouteInfoRequestHeader::read_fields(&go).expect("Go route header");
        assert_eq!(h.accept_standard_json_only, None);
        assert_eq!(h.to_fields(), go);
        assert_eq!(
            GetRouteInfoRequestHeader::read_fields(&fields_of(&[])),
            Err(HeaderError::Missing { field: "topic" })
        );
    }

    #[test]
    fn query_and_view_round_trip() {
        let fields = assert_round_trip(&QueryMessageRequestHeader {
            topic: "t".into(),
            key: "order-1".into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(false),
        });
        assert_eq!(fields["_UNIQUE_KEY_QUERY"], "false");
        assert_round_trip(&QueryMessageResponseHeader {
            index_last_update_timestamp: 1,
            index_last_update_phyoffset: 2,
        });
        assert_round_trip(&ViewMessageRequestHeader {
            topic: None,
            offset: 4096,
        });
        assert_eq!(
            ViewMessageRequestHeader::read_fields(&fields_of(&[("offset", "-")])),
            Err(HeaderError::Invalid {
                field: "offset",
                value: "-".into()
            })
        );
        assert_eq!(
            QueryMessageResponseHeader::read_fields(&fields_of(&[(
                "indexLastUpdateTimestamp",
                "1"
            )])),
            Err(HeaderError::Missing {
                field: "indexLastUpdatePhyoffset"
            })
        );
    }

    #[test]
    fn unregister_and_consumer_list_round_trip() {
        let fields = assert_round_trip(&UnregisterClientRequestHeader {
            client_id: "10.0.0.1@1234".into(),
            producer_group: None,
            consumer_group: Some("cg".into()),
        });
        assert_eq!(fields["clientID"], "10.0.0.1@1234");
        assert!(!fields.contains_key("producerGroup"));
        assert_round_trip(&GetConsumerListByGroupRequestHeader {
            consumer_group: "cg".into(),
        });
        assert_round_trip(&GetConsumerConnectionListRequestHeader {
            consumer_group: "cg".into(),
        });
        assert_eq!(
            UnregisterClientRequestHeader::read_fields(&fields_of(&[("clientId", "x")])),
            Err(HeaderError::Missing { field: "clientID" })
        );
    }
}
