//! Producer headers: send (v1 and V2 keys), send response, consumer send-back.

use std::collections::BTreeMap;

use super::{CommandHeader, Field, HeaderError};

/// Default `defaultTopic` of a send request (Java `TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const DEFAULT_TOPIC: &str = "TBW102";

/// Default `defaultTopicQueueNums` of a send request (Java producer `defaultTopicQueueNums`).
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;

/// Java `SendMessageRequestHeader` (codes SEND_MESSAGE 10 and SEND_REPLY_MESSAGE 324).
///
/// As a [`CommandHeader`] it uses the v1 (long) keys. For SEND_MESSAGE_V2 (310),
/// SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE_V2 (325) wrap it in
/// [`SendMessageRequestHeaderV2`], or call [`Self::write_fields_v2`]/[`Self::read_fields_v2`]:
/// same data under the keys `a`…`n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageRequestHeader {
    /// `producerGroup` / `a`.
    pub producer_group: String,
    /// `topic` / `b`, with namespace prefix if any.
    pub topic: String,
    /// `defaultTopic` / `c`, normally [`DEFAULT_TOPIC`].
    pub default_topic: String,
    /// `defaultTopicQueueNums` / `d`, normally [`DEFAULT_TOPIC_QUEUE_NUMS`].
    pub default_topic_queue_nums: i32,
    /// `queueId` / `e`; negative lets the broker pick.
    pub queue_id: i32,
    /// `sysFlag` / `f`: message sys flags (compression, transaction type).
    pub sys_flag: i32,
    /// `bornTimestamp` / `g`, ms since the epoch.
    pub born_timestamp: i64,
    /// `flag` / `h`: the user's message flag.
    pub flag: i32,
    /// `properties` / `i`: encoded message properties.
    pub properties: Option<String>,
    /// `reconsumeTimes` / `j`.
    pub reconsume_times: Option<i32>,
    /// `unitMode` / `k`.
    pub unit_mode: Option<bool>,
    /// `batch` / `m`: true for batches.
    pub batch: Option<bool>,
    /// `maxReconsumeTimes` / `l` (Java V2 calls it `consumeRetryTimes`).
    pub max_reconsume_times: Option<i32>,
    /// `bname` / `n`: the broker the request is meant for.
    pub broker_name: Option<String>,
}

impl SendMessageRequestHeader {
    /// A header with the default topic settings, sys flag and flag 0 and no optional fields.
    pub fn new(
        producer_group: impl Into<String>,
        topic: impl Into<String>,
        queue_id: i32,
        born_timestamp: i64,
    ) -> Self {
        Self {
            producer_group: producer_group.into(),
            topic: topic.into(),
            default_topic: DEFAULT_TOPIC.to_owned(),
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            queue_id,
            sys_flag: 0,
            born_timestamp,
            flag: 0,
            properties: None,
            reconsume_times: None,
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
            broker_name: None,
        }
    }

    /// Writes the fields under the V2 keys `a`…`n` (Java `SendMessageRequestHeaderV2`).
    pub fn write_fields_v2(&self, fields: &mut BTreeMap<String, String>) {
        self.write_with(&V2_KEYS, fields);
    }

    /// Reads the fields from the V2 keys `a`…`n`; errors name the short key.
    pub fn read_fields_v2(fields: &BTreeMap<String, String>) -> Result<Self, HeaderError> {
        Self::read_with(&V2_KEYS, fields)
    }

    fn write_with(&self, k: &SendKeys, fields: &mut BTreeMap<String, String>) {
        self.producer_group.put(k.producer_group, fields);
        self.topic.put(k.topic, fields);
        self.default_topic.put(k.default_topic, fields);
        self.default_topic_queue_nums
            .put(k.default_topic_queue_nums, fields);
        self.queue_id.put(k.queue_id, fields);
        self.sys_flag.put(k.sys_flag, fields);
        self.born_timestamp.put(k.born_timestamp, fields);
        self.flag.put(k.flag, fields);
        self.properties.put(k.properties, fields);
        self.reconsume_times.put(k.reconsume_times, fields);
        self.unit_mode.put(k.unit_mode, fields);
        self.max_reconsume_times.put(k.max_reconsume_times, fields);
        self.batch.put(k.batch, fields);
        self.broker_name.put(k.broker_name, fields);
    }

    fn read_with(k: &SendKeys, fields: &BTreeMap<String, String>) -> Result<Self, HeaderError> {
        Ok(Self {
            producer_group: Field::take(fields, k.producer_group)?,
            topic: Field::take(fields, k.topic)?,
            default_topic: Field::take(fields, k.default_topic)?,
            default_topic_queue_nums: Field::take(fields, k.default_topic_queue_nums)?,
            queue_id: Field::take(fields, k.queue_id)?,
            sys_flag: Field::take(fields, k.sys_flag)?,
            born_timestamp: Field::take(fields, k.born_timestamp)?,
            flag: Field::take(fields, k.flag)?,
            properties: Field::take(fields, k.properties)?,
            reconsume_times: Field::take(fields, k.reconsume_times)?,
            unit_mode: Field::take(fields, k.unit_mode)?,
            batch: Field::take(fields, k.batch)?,
            max_reconsume_times: Field::take(fields, k.max_reconsume_times)?,
            broker_name: Field::take(fields, k.broker_name)?,
        })
    }
}

impl CommandHeader for SendMessageRequestHeader {
    fn write_fields(&self, fields: &mut BTreeMap<String, String>) {
        self.write_with(&V1_KEYS, fields);
    }

    fn read_fields(fields: &BTreeMap<String, String>) -> Result<Self, HeaderError> {
        Self::read_with(&V1_KEYS, fields)
    }
}

/// Java `SendMessageRequestHeaderV2`: a [`SendMessageRequestHeader`] written under the short
/// keys `a`…`n`. Required by SEND_BATCH_MESSAGE (320); used by Java for SEND_MESSAGE_V2 (310).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageRequestHeaderV2(pub SendMessageRequestHeader);

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(header: SendMessageRequestHeader) -> Self {
        Self(header)
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(header: SendMessageRequestHeaderV2) -> Self {
        header.0
    }
}

impl CommandHeader for SendMessageRequestHeaderV2 {
    fn write_fields(&self, fields: &mut BTreeMap<String, String>) {
        self.0.write_fields_v2(fields);
    }

    fn read_fields(fields: &BTreeMap<String, String>) -> Result<Self, HeaderError> {
        SendMessageRequestHeader::read_fields_v2(fields).map(Self)
    }
}

/// The ext-field keys of one send header flavour.
struct SendKeys {
    producer_group: &'static str,
    topic: &'static str,
    default_topic: &'static str,
    default_topic_queue_nums: &'static str,
    queue_id: &'static str,
    sys_flag: &'static str,
    born_timestamp: &'static str,
    flag: &'static str,
    properties: &'static str,
    reconsume_times: &'static str,
    unit_mode: &'static str,
    max_reconsume_times: &'static str,
    batch: &'static str,
    broker_name: &'static str,
}

const V1_KEYS: SendKeys = SendKeys {
    producer_group: "producerGroup",
    topic: "topic",
    default_topic: "defaultTopic",
    default_topic_queue_nums: "defaultTopicQueueNums",
    queue_id: "queueId",
    sys_flag: "sysFlag",
    born_timestamp: "bornTimestamp",
    flag: "flag",
    properties: "properties",
    reconsume_times: "reconsumeTimes",
    unit_mode: "unitMode",
    max_reconsume_times: "maxReconsumeTimes",
    batch: "batch",
    broker_name: "bname",
};

const V2_KEYS: SendKeys = SendKeys {
    producer_group: "a",
    topic: "b",
    default_topic: "c",
    default_topic_queue_nums: "d",
    queue_id: "e",
    sys_flag: "f",
    born_timestamp: "g",
    flag: "h",
    properties: "i",
    reconsume_times: "j",
    unit_mode: "k",
    max_reconsume_times: "l",
    batch: "m",
    broker_name: "n",
};

command_header! {
    /// Java `SendMessageResponseHeader`, plus the ext fields `MSG_REGION` and `TRACE_ON` the
    /// broker adds to every send response.
    pub struct SendMessageResponseHeader {
        /// `msgId`: the offset message id (comma-joined for batches).
        pub msg_id: String = "msgId",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `queueOffset`: the queue offset (of the first message of a batch).
        pub queue_offset: i64 = "queueOffset",
        /// `transactionId`: the message's `UNIQ_KEY` for transactional sends.
        pub transaction_id: Option<String> = "transactionId",
        /// `batchUniqId`: only for broker inner batches.
        pub batch_uniq_id: Option<String> = "batchUniqId",
        /// `recallHandle` (5.3+).
        pub recall_handle: Option<String> = "recallHandle",
        /// `MSG_REGION`: the broker's region.
        pub msg_region: Option<String> = "MSG_REGION",
        /// `TRACE_ON`: the broker's trace switch.
        pub trace_on: Option<bool> = "TRACE_ON",
    }
}

command_header! {
    /// Java `ConsumerSendMsgBackRequestHeader` (CONSUMER_SEND_MSG_BACK, 36).
    pub struct ConsumerSendMsgBackRequestHeader {
        /// `offset`: the message's commit-log offset.
        pub offset: i64 = "offset",
        /// `group`: the consumer group.
        pub group: String = "group",
        /// `delayLevel`: 0 = broker decides, negative = straight to the DLQ, n = level n.
        pub delay_level: i32 = "delayLevel",
        /// `originMsgId`: the message's msgId.
        pub origin_msg_id: Option<String> = "originMsgId",
        /// `originTopic`: the message's topic.
        pub origin_topic: Option<String> = "originTopic",
        /// `unitMode` (Java primitive, always sent).
        pub unit_mode: bool = "unitMode" or false,
        /// `maxReconsumeTimes`: the consumer's maximum (Java default 16).
        pub max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// `bname`: the broker the message came from.
        pub broker_name: Option<String> = "bname",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, fields_of};

    fn full() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            properties: Some("KEYS\u{1}k1\u{2}WAIT\u{1}true\u{2}".into()),
            reconsume_times: Some(2),
            unit_mode: Some(false),
            batch: Some(true),
            max_reconsume_times: Some(16),
            broker_name: Some("broker-a".into()),
            sys_flag: 0x301,
            flag: 7,
            ..SendMessageRequestHeader::new("pg", "TopicTest", 3, 1_700_000_000_123)
        }
    }

    #[test]
    fn send_v1_round_trip_and_keys() {
        let fields = assert_round_trip(&full());
        assert_eq!(fields.len(), 14);
        assert_eq!(fields["bname"], "broker-a");
        assert_eq!(fields["sysFlag"], "769");
        assert_eq!(fields["defaultTopic"], "TBW102");
        assert_eq!(fields["defaultTopicQueueNums"], "4");
        let minimal = assert_round_trip(&SendMessageRequestHeader::new("pg", "t", -1, 0));
        assert_eq!(minimal.len(), 8, "optional fields omitted: {minimal:?}");
    }

    #[test]
    fn send_v2_round_trip() {
        assert_round_trip(&SendMessageRequestHeaderV2(full()));
        let minimal = SendMessageRequestHeaderV2(SendMessageRequestHeader::new("pg", "t", 0, 1));
        let fields = assert_round_trip(&minimal);
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g", "h"]);
    }

    /// protocol-facts §2.3: the V2 table `a`…`n` against the v1 names.
    #[test]
    fn v2_keys_map_to_v1_keys() {
        let table = [
            ("a", "producerGroup"),
            ("b", "topic"),
            ("c", "defaultTopic"),
            ("d", "defaultTopicQueueNums"),
            ("e", "queueId"),
            ("f", "sysFlag"),
            ("g", "bornTimestamp"),
            ("h", "flag"),
            ("i", "properties"),
            ("j", "reconsumeTimes"),
            ("k", "unitMode"),
            ("l", "maxReconsumeTimes"),
            ("m", "batch"),
            ("n", "bname"),
        ];
        // Every field distinct so a swapped key would show.
        let h = SendMessageRequestHeader {
            default_topic_queue_nums: 41,
            sys_flag: 42,
            flag: 43,
            reconsume_times: Some(44),
            max_reconsume_times: Some(45),
            unit_mode: Some(true),
            batch: Some(false),
            properties: Some("p".into()),
            broker_name: Some("bn".into()),
            default_topic: "dt".into(),
            ..SendMessageRequestHeader::new("pg", "tp", 46, 47)
        };
        let v1 = h.to_fields();
        let v2 = SendMessageRequestHeaderV2(h).to_fields();
        assert_eq!(v1.len(), table.len());
        assert_eq!(v2.len(), table.len());
        for (short, long) in table {
            assert_eq!(v2.get(short), v1.get(long), "{short} vs {long}");
        }
    }

    /// apache/rocketmq `remoting/src/test/java/org/apache/rocketmq/remoting/protocol/header/
    /// SendMessageRequestHeaderV2Test.java`: topic "test", queueId 5 encode as `"b":"test"`
    /// and `"e":5` (fastjson renders the Integer as a number; ext fields carry "5").
    #[test]
    fn java_v2_vector_topic_and_queue_keys() {
        let fields = SendMessageRequestHeaderV2(SendMessageRequestHeader::new("g", "test", 5, 0))
            .to_fields();
        assert_eq!(fields["b"], "test");
        assert_eq!(fields["e"], "5");
    }

    /// apache/rocketmq-client-go `internal/request.go` `SendMessageRequest.Encode()`: Go always
    /// sends every key, with `defaultTopic="TBW102"`, `defaultTopicQueueNums="4"`.
    #[test]
    fn go_send_encode_vector_reads_and_rewrites_identically() {
        let go = fields_of(&[
            ("producerGroup", "ProducerGroupName"),
            ("topic", "TopicTest"),
            ("queueId", "1"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1561111111111"),
            ("flag", "0"),
            ("reconsumeTimes", "0"),
            ("unitMode", "false"),
            ("maxReconsumeTimes", "0"),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("batch", "false"),
            ("properties", "UNIQ_KEY\u{1}0A00\u{2}"),
        ]);
        let h = SendMessageRequestHeader::read_fields(&go).expect("Go header");
        assert_eq!(h.queue_id, 1);
        assert_eq!(h.born_timestamp, 1_561_111_111_111);
        assert_eq!(h.batch, Some(false));
        assert_eq!(h.max_reconsume_times, Some(0));
        assert_eq!(h.broker_name, None);
        assert_eq!(h.to_fields(), go);
    }

    #[test]
    fn send_missing_and_invalid() {
        let mut fields = full().to_fields();
        fields.remove("bornTimestamp");
        assert_eq!(
            SendMessageRequestHeader::read_fields(&fields),
            Err(HeaderError::Missing {
                field: "bornTimestamp"
            })
        );
        let mut fields = SendMessageRequestHeaderV2(full()).to_fields();
        fields.insert("e".into(), "one".into());
        assert_eq!(
            SendMessageRequestHeaderV2::read_fields(&fields),
            Err(HeaderError::Invalid {
                field: "e",
                value: "one".into()
            })
        );
        fields.remove("a");
        assert_eq!(
            SendMessageRequestHeaderV2::read_fields(&fields),
            Err(HeaderError::Missing { field: "a" })
        );
        // A v1 map is not a V2 header.
        assert_eq!(
            SendMessageRequestHeaderV2::read_fields(&full().to_fields()),
            Err(HeaderError::Missing { field: "a" })
        );
    }

    #[test]
    fn send_response_round_trip_and_broker_ext() {
        assert_round_trip(&SendMessageResponseHeader {
            msg_id: "0A00000100002A9F0000000000000010".into(),
            queue_id: 2,
            queue_offset: 99,
            transaction_id: Some("7F00000100002A9F0000000000000011".into()),
            batch_uniq_id: Some("b".into()),
            recall_handle: Some("r".into()),
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        });
        let broker = fields_of(&[
            ("msgId", "id"),
            ("queueId", "0"),
            ("queueOffset", "5"),
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
        ]);
        let h = SendMessageResponseHeader::read_fields(&broker).expect("response");
        assert_eq!(h.msg_region.as_deref(), Some("DefaultRegion"));
        assert_eq!(h.trace_on, Some(true));
        assert_eq!(h.transaction_id, None);
        let mut bad = broker.clone();
        bad.insert("queueOffset".into(), "5.0".into());
        assert_eq!(
            SendMessageResponseHeader::read_fields(&bad),
            Err(HeaderError::Invalid {
                field: "queueOffset",
                value: "5.0".into()
            })
        );
        bad.remove("msgId");
        assert_eq!(
            SendMessageResponseHeader::read_fields(&bad),
            Err(HeaderError::Missing { field: "msgId" })
        );
    }

    #[test]
    fn send_back_round_trip_and_defaults() {
        let h = ConsumerSendMsgBackRequestHeader {
            offset: 123_456,
            group: "cg".into(),
            delay_level: -1,
            origin_msg_id: Some("m".into()),
            origin_topic: Some("t".into()),
            unit_mode: false,
            max_reconsume_times: Some(16),
            broker_name: Some("broker-a".into()),
        };
        let fields = assert_round_trip(&h);
        assert_eq!(fields["unitMode"], "false");
        assert_eq!(fields["delayLevel"], "-1");
        let minimal = fields_of(&[("offset", "1"), ("group", "g"), ("delayLevel", "0")]);
        let h = ConsumerSendMsgBackRequestHeader::read_fields(&minimal).expect("minimal");
        assert!(!h.unit_mode);
        assert_eq!(h.max_reconsume_times, None);
        let no_group = fields_of(&[("offset", "1"), ("delayLevel", "0")]);
        assert_eq!(
            ConsumerSendMsgBackRequestHeader::read_fields(&no_group),
            Err(HeaderError::Missing { field: "group" })
        );
    }

    fn arb_header() -> impl proptest::strategy::Strategy<Value = SendMessageRequestHeader> {
        use proptest::prelude::*;
        (
            (
                ".*",
                ".*",
                ".*",
                any::<i32>(),
                any::<i32>(),
                any::<i32>(),
                any::<i64>(),
            ),
            (
                any::<i32>(),
                proptest::option::of(".*"),
                proptest::option::of(any::<i32>()),
            ),
            (
                proptest::option::of(any::<bool>()),
                proptest::option::of(any::<bool>()),
                proptest::option::of(any::<i32>()),
                proptest::option::of(".*"),
            ),
        )
            .prop_map(
                |((pg, t, dt, dq, q, sf, born), (flag, props, rt), (um, b, mrt, bn))| {
                    SendMessageRequestHeader {
                        producer_group: pg,
                        topic: t,
                        default_topic: dt,
                        default_topic_queue_nums: dq,
                        queue_id: q,
                        sys_flag: sf,
                        born_timestamp: born,
                        flag,
                        properties: props,
                        reconsume_times: rt,
                        unit_mode: um,
                        batch: b,
                        max_reconsume_times: mrt,
                        broker_name: bn,
                    }
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn any_send_header_round_trips_in_both_key_sets(h in arb_header()) {
            proptest::prop_assert_eq!(
                SendMessageRequestHeader::read_fields(&h.to_fields()),
                Ok(h.clone())
            );
            let v2 = SendMessageRequestHeaderV2(h);
            proptest::prop_assert_eq!(
                SendMessageRequestHeaderV2::read_fields(&v2.to_fields()),
                Ok(v2)
            );
        }

        /// Reading never panics, whatever the peer put in the map.
        #[test]
        fn reading_arbitrary_fields_never_panics(
            pairs in proptest::collection::vec(("[a-n]|queueId|bornTimestamp|unitMode", ".*"), 0..20)
        ) {
            let fields: BTreeMap<String, String> = pairs.into_iter().collect();
            let _ = SendMessageRequestHeader::read_fields(&fields);
            let _ = SendMessageRequestHeaderV2::read_fields(&fields);
        }
    }
}
