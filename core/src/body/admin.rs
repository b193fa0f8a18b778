//! Bodies of admin answers: the namesrv's topic list and a group's consume stats.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::message_queue::mq_map;
use super::{decode_json, nullable, BodyError, MessageQueue};

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER answer (Java `TopicList`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    /// Every topic the namesrv knows.
    #[serde(default, deserialize_with = "nullable")]
    pub topic_list: BTreeSet<String>,
    /// Set when one broker answered (not by the namesrv).
    #[serde(default)]
    pub broker_addr: Option<String>,
}

impl TopicList {
    /// Parses the answer.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "TopicList")
    }
}

/// One queue in a group's consume stats (Java `OffsetWrapper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetWrapper {
    /// The queue's end on the broker.
    #[serde(default)]
    pub broker_offset: i64,
    /// The group's committed offset.
    #[serde(default)]
    pub consumer_offset: i64,
    /// The group's pull offset (5.x; 0 when the broker does not tell).
    #[serde(default)]
    pub pull_offset: i64,
    /// Store time of the last consumed message, ms (0 when unknown).
    #[serde(default)]
    pub last_timestamp: i64,
}

impl OffsetWrapper {
    /// Messages the group has not consumed: `broker_offset - consumer_offset`, at least 0.
    pub fn lag(&self) -> i64 {
        (self.broker_offset - self.consumer_offset).max(0)
    }
}

/// GET_CONSUME_STATS answer (Java `ConsumeStats`): one broker's queues of a group.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeStats {
    /// Per queue.
    #[serde(default, deserialize_with = "mq_map::deserialize")]
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
    /// The group's consume rate on this broker.
    #[serde(default)]
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// Parses one broker's answer.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "ConsumeStats")
    }

    /// Messages the group has not consumed, over every queue (Java `computeTotalDiff`).
    pub fn total_lag(&self) -> i64 {
        self.offset_table.values().map(OffsetWrapper::lag).sum()
    }

    /// Adds another broker's stats (the union of queues, the sum of rates).
    pub fn merge(&mut self, other: ConsumeStats) {
        self.offset_table.extend(other.offset_table);
        self.consume_tps += other.consume_tps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_list_and_consume_stats() {
        let list = TopicList::decode(br#"{"topicList":["b","a"],"brokerAddr":null}"#).unwrap();
        assert_eq!(list.topic_list.into_iter().collect::<Vec<_>>(), ["a", "b"]);
        let body = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":7},{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":3,"consumerOffset":5,"lastTimestamp":0}}}"#;
        let mut stats = ConsumeStats::decode(body).expect("consume stats");
        let q1 = stats.offset_table[&MessageQueue::new("T", "broker-a", 1)];
        assert_eq!((q1.lag(), q1.pull_offset, q1.last_timestamp), (6, 0, 7));
        assert_eq!(stats.total_lag(), 6, "a consumer ahead of the end counts 0");
        let other = ConsumeStats {
            offset_table: BTreeMap::from([(
                MessageQueue::new("T", "broker-b", 0),
                OffsetWrapper {
                    broker_offset: 2,
                    ..OffsetWrapper::default()
                },
            )]),
            consume_tps: 0.5,
        };
        stats.merge(other);
        assert_eq!((stats.total_lag(), stats.consume_tps), (8, 2.0));
        assert!(ConsumeStats::decode(b"[").is_err());
    }
}
