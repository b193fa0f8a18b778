//! HEART_BEAT body: `HeartbeatData` with its producer, consumer and subscription data.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::fastjson::to_json;
use super::{decode_json, nullable, BodyError};
use crate::message::tag_hash;

/// Subscription expression meaning "every tag".
const SUB_ALL: &str = "*";

/// The heartbeat a client sends to every broker (Java `HeartbeatData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HeartbeatData {
    /// Client id (`ip@instance[@unit]`).
    #[serde(rename = "clientID", default, deserialize_with = "nullable")]
    pub client_id: String,
    /// Consumer groups of this client.
    #[serde(rename = "consumerDataSet", default, deserialize_with = "nullable")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// Heartbeat-v2 fingerprint; 0 = plain heartbeat with full data.
    #[serde(rename = "heartbeatFingerprint", default)]
    pub heartbeat_fingerprint: i32,
    /// Producer groups of this client.
    #[serde(rename = "producerDataSet", default, deserialize_with = "nullable")]
    pub producer_data_set: Vec<ProducerData>,
    /// Heartbeat v2: subscriptions omitted because unchanged.
    #[serde(rename = "withoutSub", default)]
    pub without_sub: bool,
}

impl HeartbeatData {
    /// A heartbeat for `client_id` with no groups yet.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            ..Self::default()
        }
    }

    /// Encodes as Java does (fastjson, members sorted by name).
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }

    /// Parses a heartbeat (Java's or Go's member order, codes as numbers or strings).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "HeartbeatData")
    }
}

/// A producer group in a heartbeat (Java `ProducerData`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct ProducerData {
    /// Producer group name.
    #[serde(rename = "groupName", default, deserialize_with = "nullable")]
    pub group_name: String,
}

/// A consumer group in a heartbeat (Java `ConsumerData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerData {
    /// Where a new group starts consuming.
    pub consume_from_where: ConsumeFromWhere,
    /// Push (passive), pull (active) or pop.
    pub consume_type: ConsumeType,
    /// Consumer group name.
    #[serde(default, deserialize_with = "nullable")]
    pub group_name: String,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Subscriptions of the group.
    #[serde(default, deserialize_with = "nullable")]
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode (legacy, normally `false`).
    #[serde(default)]
    pub unit_mode: bool,
}

/// How a consumer group gets messages (Java `ConsumeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConsumeType {
    /// Pull consumer (`CONSUME_ACTIVELY`).
    #[serde(rename = "CONSUME_ACTIVELY")]
    Actively,
    /// Push consumer (`CONSUME_PASSIVELY`).
    #[serde(rename = "CONSUME_PASSIVELY")]
    Passively,
    /// Pop consumer (`CONSUME_POP`, 5.x).
    #[serde(rename = "CONSUME_POP")]
    Pop,
}

/// Clustering (each message to one consumer of the group) or broadcasting (Java
/// `MessageModel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MessageModel {
    /// Every consumer gets every message (`BROADCASTING`).
    #[serde(rename = "BROADCASTING")]
    Broadcasting,
    /// Queues are shared out among the group (`CLUSTERING`).
    #[default]
    #[serde(rename = "CLUSTERING")]
    Clustering,
}

/// Where a group with no stored offset starts (Java `ConsumeFromWhere`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ConsumeFromWhere {
    /// `CONSUME_FROM_LAST_OFFSET` (Java default).
    #[default]
    #[serde(rename = "CONSUME_FROM_LAST_OFFSET")]
    LastOffset,
    /// `CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST` (deprecated, as LAST_OFFSET).
    #[serde(rename = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST")]
    LastOffsetAndFromMinWhenBootFirst,
    /// `CONSUME_FROM_MIN_OFFSET` (deprecated, as LAST_OFFSET).
    #[serde(rename = "CONSUME_FROM_MIN_OFFSET")]
    MinOffset,
    /// `CONSUME_FROM_MAX_OFFSET` (deprecated, as LAST_OFFSET).
    #[serde(rename = "CONSUME_FROM_MAX_OFFSET")]
    MaxOffset,
    /// `CONSUME_FROM_FIRST_OFFSET`.
    #[serde(rename = "CONSUME_FROM_FIRST_OFFSET")]
    FirstOffset,
    /// `CONSUME_FROM_TIMESTAMP`.
    #[serde(rename = "CONSUME_FROM_TIMESTAMP")]
    Timestamp,
}

/// Subscription expression language (Java `ExpressionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ExpressionType {
    /// Tag list `a || b` or `*` (`TAG`).
    #[default]
    #[serde(rename = "TAG")]
    Tag,
    /// SQL92 over message properties (`SQL92`).
    #[serde(rename = "SQL92")]
    Sql92,
}

impl ConsumeType {
    /// The Java enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Actively => "CONSUME_ACTIVELY",
            Self::Passively => "CONSUME_PASSIVELY",
            Self::Pop => "CONSUME_POP",
        }
    }
}

impl MessageModel {
    /// The Java enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broadcasting => "BROADCASTING",
            Self::Clustering => "CLUSTERING",
        }
    }
}

impl ConsumeFromWhere {
    /// The Java enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LastOffset => "CONSUME_FROM_LAST_OFFSET",
            Self::LastOffsetAndFromMinWhenBootFirst => {
                "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST"
            }
            Self::MinOffset => "CONSUME_FROM_MIN_OFFSET",
            Self::MaxOffset => "CONSUME_FROM_MAX_OFFSET",
            Self::FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
            Self::Timestamp => "CONSUME_FROM_TIMESTAMP",
        }
    }
}

impl ExpressionType {
    /// The Java name (`TAG`, `SQL92`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "TAG",
            Self::Sql92 => "SQL92",
        }
    }
}

impl fmt::Display for ConsumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for MessageModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ConsumeFromWhere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ExpressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One topic subscription of a consumer group (Java `SubscriptionData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionData {
    /// Class filter mode (legacy, `false`).
    #[serde(default)]
    pub class_filter_mode: bool,
    /// Java `String.hashCode` of each tag, in `tags_set` order (Go sends them as strings).
    #[serde(default, deserialize_with = "lenient_codes")]
    pub code_set: Vec<i32>,
    /// `TAG` or `SQL92`.
    #[serde(default)]
    pub expression_type: ExpressionType,
    /// The expression as given (`"*"` = all).
    #[serde(default, deserialize_with = "nullable")]
    pub sub_string: String,
    /// Version (the time the subscription was built, in ms).
    #[serde(default)]
    pub sub_version: i64,
    /// Tags, trimmed, without duplicates.
    #[serde(default, deserialize_with = "nullable")]
    pub tags_set: Vec<String>,
    /// Topic.
    #[serde(default, deserialize_with = "nullable")]
    pub topic: String,
}

impl SubscriptionData {
    /// Java `FilterAPI.buildSubscriptionData` for a tag expression: empty or `"*"` subscribes
    /// everything (`subString = "*"`, empty sets); otherwise the expression is split on `||`,
    /// each part trimmed, empties dropped, and each distinct tag added to `tags_set` with its
    /// Java `String.hashCode` in `code_set`. `sub_version` is the caller's clock in ms.
    pub fn build(topic: impl Into<String>, expression: &str, sub_version: i64) -> Self {
        let mut data = Self {
            topic: topic.into(),
            sub_version,
            ..Self::default()
        };
        if expression.is_empty() || expression == SUB_ALL {
            data.sub_string = SUB_ALL.to_string();
            return data;
        }
        data.sub_string = expression.to_string();
        for tag in expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if !data.tags_set.iter().any(|t| t == tag) {
                data.tags_set.push(tag.to_string());
                data.code_set.push(tag_hash(tag));
            }
        }
        data
    }

    /// Java `FilterAPI.build` with an SQL92 expression: no tags; `None` when `expression` is
    /// empty (Java throws "Expression can't be null").
    pub fn build_sql92(
        topic: impl Into<String>,
        expression: &str,
        sub_version: i64,
    ) -> Option<Self> {
        if expression.trim().is_empty() {
            return None;
        }
        Some(Self {
            topic: topic.into(),
            sub_string: expression.to_string(),
            sub_version,
            expression_type: ExpressionType::Sql92,
            ..Self::default()
        })
    }

    /// Whether this subscribes every tag (`subString == "*"`).
    pub fn is_sub_all(&self) -> bool {
        self.expression_type == ExpressionType::Tag && self.sub_string == SUB_ALL
    }
}

/// Reads `codeSet` as numbers (Java) or numeric strings (Go); `null` reads as empty.
fn lenient_codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Num(i32),
        Text(String),
    }
    let codes: Option<Vec<Code>> = Option::deserialize(d)?;
    codes
        .unwrap_or_default()
        .into_iter()
        .map(|c| match c {
            Code::Num(n) => Ok(n),
            Code::Text(s) => s
                .trim()
                .parse::<i32>()
                .map_err(|e| serde::de::Error::custom(format!("bad code {s:?}: {e}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_java_hashes_over_utf16() {
        // java.lang.String#hashCode values; the emoji is two UTF-16 units (0xD83D, 0xDE00).
        let s = SubscriptionData::build("T", "hello || 😀 || 中文标签", 0);
        assert_eq!(s.code_set, vec![99162322, 1772899, 622041809]);
    }

    #[test]
    fn build_tags() {
        let s = SubscriptionData::build("T", " TagA || TagB ||  || TagA", 7);
        assert_eq!(s.sub_string, " TagA || TagB ||  || TagA");
        assert_eq!(s.tags_set, vec!["TagA", "TagB"]);
        assert_eq!(s.code_set, vec![2598919, 2598920]);
        assert_eq!(s.sub_version, 7);
        assert!(!s.is_sub_all());
    }

    #[test]
    fn build_all() {
        for e in ["", "*"] {
            let s = SubscriptionData::build("T", e, 1);
            assert_eq!(s.sub_string, "*");
            assert!(s.tags_set.is_empty() && s.code_set.is_empty());
            assert!(s.is_sub_all());
        }
    }

    #[test]
    fn build_sql() {
        assert!(SubscriptionData::build_sql92("T", " ", 1).is_none());
        let s = SubscriptionData::build_sql92("T", "a > 1", 1).unwrap();
        assert_eq!(s.expression_type, ExpressionType::Sql92);
        assert!(s.tags_set.is_empty());
    }

    #[test]
    fn go_codes_as_strings() {
        let s: SubscriptionData = serde_json::from_str(
            r#"{"topic":"T","subString":"TagA","codeSet":["2598919"],"tagsSet":["TagA"]}"#,
        )
        .unwrap();
        assert_eq!(s.code_set, vec![2598919]);
        assert!(serde_json::from_str::<SubscriptionData>(r#"{"codeSet":["x"]}"#).is_err());
    }
}
