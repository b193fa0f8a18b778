//! Offset headers: consumer offsets, queue min/max offsets, earliest store time, search by
//! timestamp.

use super::FieldValue;

/// Which end of a run of messages with equal store time SEARCH_OFFSET_BY_TIMESTAMP returns
/// (Java `BoundaryType`, sent by name, read case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BoundaryType {
    /// `LOWER`: the first matching offset (the broker's default).
    #[default]
    Lower,
    /// `UPPER`: the last matching offset.
    Upper,
}

impl BoundaryType {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            BoundaryType::Lower => "LOWER",
            BoundaryType::Upper => "UPPER",
        }
    }
}

impl FieldValue for BoundaryType {
    fn to_field(&self) -> String {
        self.name().to_owned()
    }

    fn from_field(text: &str) -> Option<Self> {
        [BoundaryType::Lower, BoundaryType::Upper]
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(text))
    }
}

command_header! {
    /// Java `QueryConsumerOffsetRequestHeader` (QUERY_CONSUMER_OFFSET, 14).
    pub struct QueryConsumerOffsetRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `setZeroIfNotFound`: answer 0 instead of QUERY_NOT_FOUND.
        pub set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `UpdateConsumerOffsetRequestHeader` (UPDATE_CONSUMER_OFFSET, 15).
    pub struct UpdateConsumerOffsetRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `commitOffset`: the next offset to consume.
        pub commit_offset: i64 = "commitOffset",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `GetMaxOffsetRequestHeader` (GET_MAX_OFFSET, 30).
    pub struct GetMaxOffsetRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `committed` (Java primitive, default and client value `true`).
        pub committed: bool = "committed" or true,
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `GetMinOffsetRequestHeader` (GET_MIN_OFFSET, 31).
    pub struct GetMinOffsetRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `GetEarliestMsgStoretimeRequestHeader` (GET_EARLIEST_MSG_STORETIME, 32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `SearchOffsetRequestHeader` (SEARCH_OFFSET_BY_TIMESTAMP, 29).
    pub struct SearchOffsetRequestHeader {
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `timestamp`: store time to search for, ms since the epoch.
        pub timestamp: i64 = "timestamp",
        /// `boundaryType` (Java 5.x sends `LOWER` by default).
        pub boundary_type: Option<BoundaryType> = "boundaryType",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// The `offset` response header shared by Java `QueryConsumerOffsetResponseHeader`,
    /// `GetMaxOffsetResponseHeader`, `GetMinOffsetResponseHeader` and
    /// `SearchOffsetResponseHeader`.
    pub struct OffsetResponseHeader {
        /// `offset`.
        pub offset: i64 = "offset",
    }
}

/// Java `QueryConsumerOffsetResponseHeader` (response to 14).
pub type QueryConsumerOffsetResponseHeader = OffsetResponseHeader;
/// Java `GetMaxOffsetResponseHeader` (response to 30).
pub type GetMaxOffsetResponseHeader = OffsetResponseHeader;
/// Java `GetMinOffsetResponseHeader` (response to 31).
pub type GetMinOffsetResponseHeader = OffsetResponseHeader;
/// Java `SearchOffsetResponseHeader` (response to 29).
pub type SearchOffsetResponseHeader = OffsetResponseHeader;

command_header! {
    /// Java `GetEarliestMsgStoretimeResponseHeader` (response to 32).
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// `timestamp`: store time of the queue's first message, ms since the epoch.
        pub timestamp: i64 = "timestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, fields_of, CommandHeader, HeaderError};

    #[test]
    fn boundary_type_names() {
        assert_eq!(BoundaryType::Lower.to_field(), "LOWER");
        assert_eq!(BoundaryType::Upper.to_field(), "UPPER");
        assert_eq!(BoundaryType::from_field("upper"), Some(BoundaryType::Upper));
        assert_eq!(BoundaryType::from_field("Lower"), Some(BoundaryType::Lower));
        assert_eq!(BoundaryType::from_field("MIDDLE"), None);
    }

    #[test]
    fn consumer_offset_headers_round_trip() {
        let fields = assert_round_trip(&QueryConsumerOffsetRequestHeader {
            consumer_group: "cg".into(),
            topic: "t".into(),
            queue_id: 2,
            set_zero_if_not_found: Some(false),
            broker_name: Some("broker-a".into()),
        });
        assert_eq!(fields["setZeroIfNotFound"], "false");
        assert_round_trip(&UpdateConsumerOffsetRequestHeader {
            consumer_group: "cg".into(),
            topic: "t".into(),
            queue_id: 2,
            commit_offset: 77,
            broker_name: None,
        });
        assert_round_trip(&QueryConsumerOffsetResponseHeader { offset: -1 });
    }

    #[test]
    fn queue_offset_headers_round_trip() {
        let fields = assert_round_trip(&GetMaxOffsetRequestHeader {
            topic: "t".into(),
            queue_id: 0,
            committed: false,
            broker_name: Some("b".into()),
        });
        assert_eq!(fields["committed"], "false");
        assert_round_trip(&GetMinOffsetRequestHeader {
            topic: "t".into(),
            queue_id: 1,
            broker_name: Some("b".into()),
        });
        assert_round_trip(&GetEarliestMsgStoretimeRequestHeader {
            topic: "t".into(),
            queue_id: 1,
            broker_name: None,
        });
        let fields = assert_round_trip(&SearchOffsetRequestHeader {
            topic: "t".into(),
            queue_id: 3,
            timestamp: 1_700_000_000_000,
            boundary_type: Some(BoundaryType::Upper),
            broker_name: Some("b".into()),
        });
        assert_eq!(fields["boundaryType"], "UPPER");
        assert_round_trip(&GetEarliestMsgStoretimeResponseHeader {
            timestamp: 1_700_000_000_000,
        });
        assert_round_trip(&GetMaxOffsetResponseHeader { offset: 12 });
    }

    #[test]
    fn committed_defaults_to_true_when_absent() {
        let h =
            GetMaxOffsetRequestHeader::read_fields(&fields_of(&[("topic", "t"), ("queueId", "0")]))
                .expect("header");
        assert!(h.committed);
    }

    /// apache/rocketmq-client-go `internal/request.go` `SearchOffsetRequest.Encode()` writes the
    /// keys `Topic` and `QueueId` (capitalised); Java brokers read `topic`/`queueId`, so such a
    /// request lacks its required fields.
    #[test]
    fn go_search_offset_capitalised_keys_are_missing_fields() {
        let go = fields_of(&[
            ("Topic", "TopicTest"),
            ("QueueId", "0"),
            ("timestamp", "1561111111111"),
        ]);
        assert_eq!(
            SearchOffsetRequestHeader::read_fields(&go),
            Err(HeaderError::Missing { field: "topic" })
        );
    }

    #[test]
    fn offset_headers_missing_and_invalid() {
        let bad = fields_of(&[
            ("topic", "t"),
            ("queueId", "0"),
            ("timestamp", "1"),
            ("boundaryType", "SIDE"),
        ]);
        assert_eq!(
            SearchOffsetRequestHeader::read_fields(&bad),
            Err(HeaderError::Invalid {
                field: "boundaryType",
                value: "SIDE".into()
            })
        );
        assert_eq!(
            OffsetResponseHeader::read_fields(&fields_of(&[("offset", "0x10")])),
            Err(HeaderError::Invalid {
                field: "offset",
                value: "0x10".into()
            })
        );
        assert_eq!(
            OffsetResponseHeader::read_fields(&fields_of(&[])),
            Err(HeaderError::Missing { field: "offset" })
        );
        assert_eq!(
            UpdateConsumerOffsetRequestHeader::read_fields(&fields_of(&[
                ("consumerGroup", "g"),
                ("topic", "t"),
                ("queueId", "0"),
            ])),
            Err(HeaderError::Missing {
                field: "commitOffset"
            })
        );
        assert_eq!(
            GetMaxOffsetRequestHeader::read_fields(&fields_of(&[
                ("topic", "t"),
                ("queueId", "0"),
                ("committed", "yes"),
            ])),
            Err(HeaderError::Invalid {
                field: "committed",
                value: "yes".into()
            })
        );
    }
}
