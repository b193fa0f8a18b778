//! Queue lock bodies (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ) and the consumer-list response.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::fastjson::to_json;
use super::{decode_json, nullable, BodyError, MessageQueue};

/// LOCK_BATCH_MQ request body (Java `LockBatchRequestBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    /// Client id of the locker.
    #[serde(default, deserialize_with = "nullable")]
    pub client_id: String,
    /// Consumer group.
    #[serde(default, deserialize_with = "nullable")]
    pub consumer_group: String,
    /// Queues to lock.
    #[serde(default, deserialize_with = "nullable")]
    pub mq_set: BTreeSet<MessageQueue>,
    /// Lock only on the addressed broker (no replication to its peers).
    #[serde(default)]
    pub only_this_broker: bool,
}

/// UNLOCK_BATCH_MQ request body (Java `UnlockBatchRequestBody`): the lock request's members.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockBatchRequestBody {
    /// Client id of the holder.
    #[serde(default, deserialize_with = "nullable")]
    pub client_id: String,
    /// Consumer group.
    #[serde(default, deserialize_with = "nullable")]
    pub consumer_group: String,
    /// Queues to unlock.
    #[serde(default, deserialize_with = "nullable")]
    pub mq_set: BTreeSet<MessageQueue>,
    /// Unlock only on the addressed broker.
    #[serde(default)]
    pub only_this_broker: bool,
}

/// LOCK_BATCH_MQ response body (Java `LockBatchResponseBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    /// The queues the broker locked for the client.
    #[serde(rename = "lockOKMQSet", default, deserialize_with = "nullable")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

impl LockBatchRequestBody {
    /// Encodes with Java's sorted member order.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }

    /// Parses a request body (for simulated brokers).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "LockBatchRequestBody")
    }
}

impl UnlockBatchRequestBody {
    /// Encodes with Java's sorted member order.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }

    /// Parses a request body (for simulated brokers).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "UnlockBatchRequestBody")
    }
}

impl LockBatchResponseBody {
    /// Parses the broker's answer; a missing `lockOKMQSet` means nothing was locked.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "LockBatchResponseBody")
    }

    /// Encodes (for simulated brokers).
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }
}

/// GET_CONSUMER_LIST_BY_GROUP response body (Java `GetConsumerListByGroupResponseBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetConsumerListByGroupResponseBody {
    /// Client ids of the group's live consumers.
    pub consumer_id_list: Vec<String>,
}

impl GetConsumerListByGroupResponseBody {
    /// Parses the body as Java's client does: no body is [`BodyError::Empty`], a missing or
    /// `null` `consumerIdList` is [`BodyError::MissingField`] (Java returns null and the caller
    /// fails), and an empty list is a valid answer.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        const WHAT: &str = "GetConsumerListByGroupResponseBody";
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Empty { what: WHAT });
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            #[serde(default)]
            consumer_id_list: Option<Vec<String>>,
        }
        let wire: Wire = decode_json(body, WHAT)?;
        let consumer_id_list = wire.consumer_id_list.ok_or(BodyError::MissingField {
            what: WHAT,
            field: "consumerIdList",
        })?;
        Ok(Self { consumer_id_list })
    }

    /// Encodes (for simulated brokers).
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }
}
