//! `MessageQueue`: a (topic, broker name, queue id) triple, and MessageQueue-keyed maps.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// One queue of a topic on one broker (Java `MessageQueue`).
///
/// Ordered by topic, then broker name, then queue id, as Java's `compareTo`; serialized as
/// `{"brokerName":…,"queueId":…,"topic":…}` (fastjson's sorted member order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    /// Broker name.
    #[serde(default)]
    pub broker_name: String,
    /// Queue id within the broker.
    #[serde(default)]
    pub queue_id: i32,
    /// Topic.
    #[serde(default)]
    pub topic: String,
}

impl MessageQueue {
    /// Builds a queue.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        Self {
            broker_name: broker_name.into(),
            queue_id,
            topic: topic.into(),
        }
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.topic
            .cmp(&other.topic)
            .then_with(|| self.broker_name.cmp(&other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MessageQueue {
    /// Java's `toString` shape: `MessageQueue [topic=t, brokerName=b, queueId=0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

/// Deserialization of a `Map<MessageQueue, V>` after the fastjson repair pass.
///
/// Accepted shapes: an object whose keys are strings holding MessageQueue JSON (what the
/// fastjson repair pass makes of fastjson's object keys), a list of `[mq, value]` pairs (gson
/// style, accepted by Go), or `null` (empty).
pub(crate) mod mq_map {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr<V> {
        Map(BTreeMap<String, V>),
        Pairs(Vec<(MessageQueue, V)>),
    }

    /// serde `deserialize_with` entry point.
    pub(crate) fn deserialize<'de, D, V>(d: D) -> Result<BTreeMap<MessageQueue, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        let repr: Option<Repr<V>> = Option::deserialize(d)?;
        let mut out = BTreeMap::new();
        match repr {
            None => {}
            Some(Repr::Map(m)) => {
                for (k, v) in m {
                    let mq: MessageQueue = serde_json::from_str(&k).map_err(|e| {
                        serde::de::Error::custom(format!("bad MessageQueue key {k:?}: {e}"))
                    })?;
                    out.insert(mq, v);
                }
            }
            Some(Repr::Pairs(p)) => out.extend(p),
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_order() {
        let mut v = vec![
            MessageQueue::new("b", "a", 0),
            MessageQueue::new("a", "b", 1),
            MessageQueue::new("a", "b", 0),
            MessageQueue::new("a", "a", 9),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                MessageQueue::new("a", "a", 9),
                MessageQueue::new("a", "b", 0),
                MessageQueue::new("a", "b", 1),
                MessageQueue::new("b", "a", 0),
            ]
        );
    }

    #[test]
    fn json_shape() {
        let mq = MessageQueue::new("t", "b", 3);
        assert_eq!(
            serde_json::to_string(&mq).unwrap(),
            r#"{"brokerName":"b","queueId":3,"topic":"t"}"#
        );
        let back: MessageQueue =
            serde_json::from_str(r#"{"topic":"t","brokerName":"b","queueId":3}"#).unwrap();
        assert_eq!(back, mq);
        assert_eq!(
            mq.to_string(),
            "MessageQueue [topic=t, brokerName=b, queueId=3]"
        );
    }
}
