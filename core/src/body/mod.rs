//! JSON bodies: topic routes, heartbeats, locks, consumer lists, running info, offset resets.
//!
//! Java peers produce these with fastjson 1.x, which writes non-string map keys unquoted
//! (`{0:"addr"}`) and MessageQueue map keys as objects (`{{"brokerName":…}:1}`). Every
//! `decode` here first runs a repair pass that turns such keys into JSON strings (see the
//! `fastjson` module docs), then parses with serde_json, ignoring unknown members. Every
//! `encode` writes members in Java's sorted order, so peers see what a Java client sends;
//! MessageQueue-keyed maps are written in fastjson's object-key form.

mod admin;
mod connection;
mod consumer;
mod fastjson;
mod heartbeat;
mod lock;
mod message_queue;
mod route;

pub use admin::{ConsumeStats, OffsetWrapper, TopicList};
pub use connection::{Connection, ConsumerConnection};
pub use consumer::{
    CMResult, ConsumeMessageDirectlyResult, ConsumeStatus, ConsumerRunningInfo,
    GetConsumerStatusBody, ProcessQueueInfo, ResetOffsetBody,
};
pub use heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, ExpressionType, HeartbeatData, MessageModel,
    ProducerData, SubscriptionData,
};
pub use lock::{
    GetConsumerListByGroupResponseBody, LockBatchRequestBody, LockBatchResponseBody,
    UnlockBatchRequestBody,
};
pub use message_queue::MessageQueue;
pub use route::{
    perm, BrokerData, ClusterInfo, FindBrokerResult, QueueData, TopicRouteData, MASTER_ID,
    ROUTE_QUEUES_LIMIT,
};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Why a JSON body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not valid JSON (after fastjson quirks are repaired) or not the expected shape.
    #[error("malformed {what} body: {reason}")]
    Malformed {
        /// Which body.
        what: &'static str,
        /// Parser message.
        reason: String,
    },
    /// The response carried no body where one is required.
    #[error("empty {what} body")]
    Empty {
        /// Which body.
        what: &'static str,
    },
    /// A member the protocol requires is absent or `null`.
    #[error("{what} body lacks `{field}`")]
    MissingField {
        /// Which body.
        what: &'static str,
        /// The JSON member name.
        field: &'static str,
    },
}

/// Repairs fastjson quirks and parses `body` as `T`.
pub(crate) fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<T, BodyError> {
    let text = fastjson::repair(body, what)?;
    serde_json::from_str(&text).map_err(|e| BodyError::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// `deserialize_with` helper: `null` reads as the type's default.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_json_reports_typed_errors() {
        let err = decode_json::<TopicRouteData>(b"{not json", "route").unwrap_err();
        assert!(matches!(err, BodyError::Malformed { what: "route", .. }));
        let err = decode_json::<TopicRouteData>(b"[1,2]", "route").unwrap_err();
        assert!(matches!(err, BodyError::Malformed { what: "route", .. }));
    }
}
