//! Consumer-side bodies the broker asks a client for, or hands it: running info, direct
//! consumption results, offset resets and consumer status.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fastjson::{to_json, write_mq_map, ObjectWriter};
use super::message_queue::mq_map;
use super::{decode_json, nullable, BodyError, MessageQueue, SubscriptionData};

/// GET_CONSUMER_RUNNING_INFO answer (Java `ConsumerRunningInfo`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRunningInfo {
    /// Thread dump (only when the broker asked for it); omitted when `None`.
    #[serde(default)]
    pub jstack: Option<String>,
    /// Pop-consumer process queues, kept as raw JSON values.
    #[serde(default, deserialize_with = "mq_map::deserialize")]
    pub mq_pop_table: BTreeMap<MessageQueue, serde_json::Value>,
    /// Per-queue processing state.
    #[serde(default, deserialize_with = "mq_map::deserialize")]
    pub mq_table: BTreeMap<MessageQueue, ProcessQueueInfo>,
    /// Consumer properties (`PROP_*` keys plus configuration fields).
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub properties: BTreeMap<String, String>,
    /// Per-topic consumption statistics.
    #[serde(default, deserialize_with = "nullable")]
    pub status_table: BTreeMap<String, ConsumeStatus>,
    /// Subscriptions of the consumer.
    #[serde(default, deserialize_with = "nullable")]
    pub subscription_set: Vec<SubscriptionData>,
    /// Free-form user information.
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub user_consumer_info: BTreeMap<String, String>,
}

impl ConsumerRunningInfo {
    /// Property key: name server addresses.
    pub const PROP_NAMESERVER_ADDR: &'static str = "PROP_NAMESERVER_ADDR";
    /// Property key: consume thread pool core size.
    pub const PROP_THREADPOOL_CORE_SIZE: &'static str = "PROP_THREADPOOL_CORE_SIZE";
    /// Property key: `"true"` for orderly consumption.
    pub const PROP_CONSUMEORDERLY: &'static str = "PROP_CONSUMEORDERLY";
    /// Property key: the [`super::ConsumeType`] name.
    pub const PROP_CONSUME_TYPE: &'static str = "PROP_CONSUME_TYPE";
    /// Property key: client version.
    pub const PROP_CLIENT_VERSION: &'static str = "PROP_CLIENT_VERSION";
    /// Property key: consumer start time (ms).
    pub const PROP_CONSUMER_START_TIMESTAMP: &'static str = "PROP_CONSUMER_START_TIMESTAMP";

    /// Encodes as a Java client does: members sorted, `jstack` omitted when `None`, `mqTable`
    /// and `mqPopTable` with fastjson MessageQueue object keys, `subscriptionSet` in Java
    /// `TreeSet` order (`topic@subString`).
    pub fn encode(&self) -> Vec<u8> {
        let mut subs: Vec<&SubscriptionData> = self.subscription_set.iter().collect();
        subs.sort_by_cached_key(|s| tree_set_key(s));
        ObjectWriter::new()
            .opt_field("jstack", self.jstack.as_ref())
            .raw("mqPopTable", &write_mq_map(&self.mq_pop_table))
            .raw("mqTable", &write_mq_map(&self.mq_table))
            .field("properties", &self.properties)
            .field("statusTable", &self.status_table)
            .field("subscriptionSet", &subs)
            .field("userConsumerInfo", &self.user_consumer_info)
            .finish()
    }

    /// Parses running info (fastjson object keys, Go's pair lists and `dropped` spelling).
    /// `subscriptionSet` comes out as Java reads it into its `TreeSet`: ordered by
    /// `topic@subString`, one entry per key (the first).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        let mut info: Self = decode_json(body, "ConsumerRunningInfo")?;
        info.subscription_set.sort_by_cached_key(tree_set_key);
        info.subscription_set
            .dedup_by(|a, b| tree_set_key(a) == tree_set_key(b));
        Ok(info)
    }
}

/// The order (and identity) of Java `SubscriptionData` in a `TreeSet`: `topic@subString`.
fn tree_set_key(s: &SubscriptionData) -> String {
    format!("{}@{}", s.topic, s.sub_string)
}

/// Processing state of one queue (Java `ProcessQueueInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessQueueInfo {
    /// Cached message count.
    #[serde(default)]
    pub cached_msg_count: i32,
    /// Largest cached queue offset.
    #[serde(default)]
    pub cached_msg_max_offset: i64,
    /// Smallest cached queue offset.
    #[serde(default)]
    pub cached_msg_min_offset: i64,
    /// Cached message size in MiB.
    #[serde(default)]
    pub cached_msg_size_in_mi_b: i32,
    /// Committed offset.
    #[serde(default)]
    pub commit_offset: i64,
    /// Whether the queue was dropped (Java spells it `droped`; Go `dropped`).
    #[serde(rename = "droped", alias = "dropped", default)]
    pub dropped: bool,
    /// Last consumption time (ms).
    #[serde(default)]
    pub last_consume_timestamp: i64,
    /// Last lock time (ms).
    #[serde(default)]
    pub last_lock_timestamp: i64,
    /// Last pull time (ms).
    #[serde(default)]
    pub last_pull_timestamp: i64,
    /// Whether the queue is locked (orderly consumption).
    #[serde(default)]
    pub locked: bool,
    /// Messages being consumed in a transaction (orderly).
    #[serde(default)]
    pub transaction_msg_count: i32,
    /// Largest such offset.
    #[serde(default)]
    pub transaction_msg_max_offset: i64,
    /// Smallest such offset.
    #[serde(default)]
    pub transaction_msg_min_offset: i64,
    /// Failed unlock attempts.
    #[serde(default)]
    pub try_unlock_times: i64,
}

/// Per-topic consumption statistics (Java `ConsumeStatus`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConsumeStatus {
    /// Failed messages in the last hour.
    #[serde(rename = "consumeFailedMsgs", default)]
    pub consume_failed_msgs: i64,
    /// Failed messages per second.
    #[serde(rename = "consumeFailedTPS", default)]
    pub consume_failed_tps: f64,
    /// Successful messages per second.
    #[serde(rename = "consumeOKTPS", default)]
    pub consume_ok_tps: f64,
    /// Mean consumption time (ms).
    #[serde(rename = "consumeRT", default)]
    pub consume_rt: f64,
    /// Mean pull time (ms).
    #[serde(rename = "pullRT", default)]
    pub pull_rt: f64,
    /// Pulled messages per second.
    #[serde(rename = "pullTPS", default)]
    pub pull_tps: f64,
}

/// Outcome of CONSUME_MESSAGE_DIRECTLY (Java `CMResult`); written by name, read by name or by
/// Go's ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CMResult {
    /// `CR_SUCCESS`.
    Success,
    /// `CR_LATER`.
    Later,
    /// `CR_ROLLBACK`.
    Rollback,
    /// `CR_COMMIT`.
    Commit,
    /// `CR_THROW_EXCEPTION`.
    ThrowException,
    /// `CR_RETURN_NULL`.
    ReturnNull,
}

impl CMResult {
    const ALL: [CMResult; 6] = [
        Self::Success,
        Self::Later,
        Self::Rollback,
        Self::Commit,
        Self::ThrowException,
        Self::ReturnNull,
    ];

    /// The Java enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "CR_SUCCESS",
            Self::Later => "CR_LATER",
            Self::Rollback => "CR_ROLLBACK",
            Self::Commit => "CR_COMMIT",
            Self::ThrowException => "CR_THROW_EXCEPTION",
            Self::ReturnNull => "CR_RETURN_NULL",
        }
    }

    /// Parses a Java enum name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The Java/Go ordinal (0 = `CR_SUCCESS` … 5 = `CR_RETURN_NULL`).
    pub fn from_ordinal(ordinal: u64) -> Option<Self> {
        usize::try_from(ordinal)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }
}

impl fmt::Display for CMResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CMResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CMResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Ordinal(u64),
        }
        match Repr::deserialize(d)? {
            Repr::Name(n) => Self::from_name(&n)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown CMResult {n:?}"))),
            Repr::Ordinal(o) => Self::from_ordinal(o)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown CMResult ordinal {o}"))),
        }
    }
}

/// CONSUME_MESSAGE_DIRECTLY answer (Java `ConsumeMessageDirectlyResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeMessageDirectlyResult {
    /// Whether the offset is committed automatically (Java default `true`).
    #[serde(default = "default_true")]
    pub auto_commit: bool,
    /// The outcome; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_result: Option<CMResult>,
    /// Whether an orderly listener consumed it.
    #[serde(default)]
    pub order: bool,
    /// Free text (e.g. an exception); omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Time spent (ms); the Java spelling is `spentTimeMills`.
    #[serde(default)]
    pub spent_time_mills: i64,
}

fn default_true() -> bool {
    true
}

impl Default for ConsumeMessageDirectlyResult {
    fn default() -> Self {
        Self {
            auto_commit: true,
            consume_result: None,
            order: false,
            remark: None,
            spent_time_mills: 0,
        }
    }
}

impl ConsumeMessageDirectlyResult {
    /// Encodes with Java's sorted member order.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }

    /// Parses a result (names or Go ordinals for `consumeResult`).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "ConsumeMessageDirectlyResult")
    }
}

/// One entry of Java's `ResetOffsetBodyForC` list form.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageQueueForC {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    broker_name: String,
    #[serde(default)]
    queue_id: i32,
    #[serde(default)]
    offset: i64,
}

/// Reads a MessageQueue → offset table: fastjson object keys, Go's `[[mq, offset], …]`, or
/// the C-client list `[{"topic","brokerName","queueId","offset"}, …]`.
fn offset_table<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<MessageQueue, i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        ForC(Vec<MessageQueueForC>),
        Other(#[serde(deserialize_with = "mq_map::deserialize")] BTreeMap<MessageQueue, i64>),
    }
    Ok(match Option::<Repr>::deserialize(d)? {
        None => BTreeMap::new(),
        Some(Repr::Other(m)) => m,
        Some(Repr::ForC(list)) => list
            .into_iter()
            .map(|e| {
                (
                    MessageQueue::new(e.topic, e.broker_name, e.queue_id),
                    e.offset,
                )
            })
            .collect(),
    })
}

/// An offset table as a map value (for `consumerTable`).
#[derive(Default)]
struct OffsetTable(BTreeMap<MessageQueue, i64>);

impl<'de> Deserialize<'de> for OffsetTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        offset_table(d).map(OffsetTable)
    }
}

/// RESET_CONSUMER_CLIENT_OFFSET body (Java `ResetOffsetBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetOffsetBody {
    /// Queue → offset to reset to.
    #[serde(default, deserialize_with = "offset_table")]
    pub offset_table: BTreeMap<MessageQueue, i64>,
}

impl ResetOffsetBody {
    /// Parses fastjson's object-key form, Go's list of pairs, or the C-client list form.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "ResetOffsetBody")
    }

    /// Encodes in fastjson's object-key form, as a Java broker sends it.
    pub fn encode(&self) -> Vec<u8> {
        ObjectWriter::new()
            .raw("offsetTable", &write_mq_map(&self.offset_table))
            .finish()
    }
}

/// GET_CONSUMER_STATUS_FROM_CLIENT answer (Java `GetConsumerStatusBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetConsumerStatusBody {
    /// Client id → its queue offsets (filled by brokers aggregating clients).
    pub consumer_table: BTreeMap<String, BTreeMap<MessageQueue, i64>>,
    /// Queue → consumer offset of this client.
    pub message_queue_table: BTreeMap<MessageQueue, i64>,
}

impl GetConsumerStatusBody {
    /// Parses the body (fastjson object keys or Go's list of pairs).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            #[serde(default, deserialize_with = "nullable")]
            consumer_table: BTreeMap<String, OffsetTable>,
            #[serde(default, deserialize_with = "offset_table")]
            message_queue_table: BTreeMap<MessageQueue, i64>,
        }
        let wire: Wire = decode_json(body, "GetConsumerStatusBody")?;
        Ok(Self {
            consumer_table: wire
                .consumer_table
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            message_queue_table: wire.message_queue_table,
        })
    }

    /// Encodes as a Java client does: `{"consumerTable":{…},"messageQueueTable":{…}}` with
    /// fastjson MessageQueue object keys.
    pub fn encode(&self) -> Vec<u8> {
        let mut inner = String::from("{");
        for (n, (client, table)) in self.consumer_table.iter().enumerate() {
            if n > 0 {
                inner.push(',');
            }
            inner.push_str(&to_json(client));
            inner.push(':');
            inner.push_str(&write_mq_map(table));
        }
        inner.push('}');
        ObjectWriter::new()
            .raw("consumerTable", &inner)
            .raw(
                "messageQueueTable",
                &write_mq_map(&self.message_queue_table),
            )
            .finish()
    }
}

/// Reads a string map whose values may be any scalar (Java `Properties` can hold numbers and
/// enums, which fastjson writes unquoted); non-strings keep their JSON text. `null` is empty.
fn lenient_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cm_result_names_and_ordinals() {
        for (i, r) in CMResult::ALL.iter().enumerate() {
            assert_eq!(CMResult::from_ordinal(i as u64), Some(*r));
            assert_eq!(CMResult::from_name(r.as_str()), Some(*r));
        }
        assert_eq!(CMResult::from_ordinal(6), None);
        let go: ConsumeMessageDirectlyResult =
            serde_json::from_str(r#"{"order":false,"autoCommit":true,"consumeResult":1}"#).unwrap();
        assert_eq!(go.consume_result, Some(CMResult::Later));
        assert!(serde_json::from_str::<ConsumeMessageDirectlyResult>(
            r#"{"consumeResult":"CR_X"}"#
        )
        .is_err());
    }

    #[test]
    fn lenient_properties() {
        let info = ConsumerRunningInfo::decode(
            br#"{"properties":{"a":"x","b":12,"c":true,"d":null},"userConsumerInfo":null}"#,
        )
        .unwrap();
        assert_eq!(info.properties.get("a").map(String::as_str), Some("x"));
        assert_eq!(info.properties.get("b").map(String::as_str), Some("12"));
        assert_eq!(info.properties.get("c").map(String::as_str), Some("true"));
        assert!(!info.properties.contains_key("d"));
    }
}
