//! GET_CONSUMER_CONNECTION_LIST answer (Java `ConsumerConnection`): the connections of a
//! consumer group's members as one broker sees them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fastjson::to_json;
use super::{decode_json, nullable, BodyError, SubscriptionData};

/// One member connection (Java `Connection`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The member's client id (`ip@instance`).
    #[serde(default, deserialize_with = "nullable")]
    pub client_id: String,
    /// The address the broker sees the connection come from (`ip:port`).
    #[serde(default, deserialize_with = "nullable")]
    pub client_addr: String,
    /// The member's client language (`JAVA`, `RUST`, ...).
    #[serde(default, deserialize_with = "nullable")]
    pub language: String,
    /// The member's client version.
    #[serde(default)]
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST response body: the group's connections on one broker and
/// the subscriptions and consume settings its members registered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConnection {
    /// The group's connections on that broker.
    #[serde(default, deserialize_with = "nullable")]
    pub connection_set: Vec<Connection>,
    /// Topic → the group's subscription of it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// `CONSUME_ACTIVELY` (pull) or `CONSUME_PASSIVELY` (push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_type: Option<String>,
    /// `CLUSTERING` or `BROADCASTING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_model: Option<String>,
    /// Where a new member starts (`CONSUME_FROM_LAST_OFFSET`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume_from_where: Option<String>,
}

impl ConsumerConnection {
    /// Parses the body; an empty one is [`BodyError::Empty`].
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        const WHAT: &str = "ConsumerConnection";
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Empty { what: WHAT });
        }
        decode_json(body, WHAT)
    }

    /// Encodes (for simulated brokers).
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_brokers_answer() {
        // The shape a Java broker sends (a HashSet of connections, then the group's settings).
        let body = br#"{"connectionSet":[{"clientAddr":"10.0.0.7:50112","clientId":"10.0.0.7@42#1","language":"JAVA","version":453},{"clientAddr":"10.0.0.8:40998","clientId":"10.0.0.8@7","language":"RUST","version":0}],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"T"}}}"#;
        let c = ConsumerConnection::decode(body).unwrap();
        assert_eq!(c.connection_set.len(), 2);
        assert_eq!(c.connection_set[0].client_id, "10.0.0.7@42#1");
        assert_eq!(c.connection_set[0].client_addr, "10.0.0.7:50112");
        assert_eq!(c.connection_set[1].language, "RUST");
        assert_eq!(c.subscription_table["T"].sub_string, "*");
        assert_eq!(c.consume_type.as_deref(), Some("CONSUME_PASSIVELY"));
        assert_eq!(c.message_model.as_deref(), Some("CLUSTERING"));
        assert_eq!(ConsumerConnection::decode(&c.encode()).unwrap(), c);
        assert!(matches!(
            ConsumerConnection::decode(b" "),
            Err(BodyError::Empty { .. })
        ));
        let none = ConsumerConnection::decode(br#"{"connectionSet":null}"#).unwrap();
        assert!(none.connection_set.is_empty());
    }
}
