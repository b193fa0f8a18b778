//! Request/reply (Java 4.6+ `request` and `MessageUtil.createReplyMessage`): the properties
//! a request carries, the reply message a consumer sends back, and the reply the broker
//! pushes to the requesting client (PUSH_REPLY_MESSAGE_TO_CLIENT).
//!
//! ```text
//! requester: send(request + CORRELATION_ID, REPLY_TO_CLIENT, TTL) ──► topic
//! responder: consumes it, sends reply_message(&request, body) ──► {CLUSTER}_REPLY_TOPIC
//!            (SEND_REPLY_MESSAGE_V2; the broker stores it and pushes it to REPLY_TO_CLIENT)
//! requester: PUSH_REPLY_MESSAGE_TO_CLIENT ──► matched by CORRELATION_ID
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::header::ReplyMessageRequestHeader;
use crate::message::compress::{decompress, CompressionType, DEFAULT_MAX_DECOMPRESSED_LEN};
use crate::message::properties::decode_properties;
use crate::message::{keys, sysflag, Message, MessageError, MessageExt};

/// The suffix of the reply topic of a cluster (`{cluster}_REPLY_TOPIC`, Java
/// `MixAll.REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_SUFFIX: &str = "REPLY_TOPIC";

/// `MSG_TYPE` of a reply message.
pub const REPLY_MESSAGE_TYPE: &str = "reply";

/// Why a reply message cannot be made for a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The message lacks a property every request stored by a broker has.
    #[error("not a request message: no {0} property")]
    NotARequest(&'static str),
    /// The reply could not be built (a property the broker sent is not valid).
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Marks `message` as a request whose reply goes to `client_id`, matched by
/// `correlation_id`, expected within `ttl` (Java `prepareSendRequest`).
pub fn prepare_request(
    message: &mut Message,
    correlation_id: &str,
    client_id: &str,
    ttl: Duration,
) -> Result<(), MessageError> {
    message.set_property(keys::CORRELATION_ID, correlation_id)?;
    message.set_property(keys::MESSAGE_REPLY_TO_CLIENT, client_id)?;
    message.set_property(keys::MESSAGE_TTL, ttl.as_millis().to_string())
}

/// Whether `message` is a reply (it is sent with SEND_REPLY_MESSAGE_V2).
pub fn is_reply(message: &Message) -> bool {
    message.property(keys::MESSAGE_TYPE) == Some(REPLY_MESSAGE_TYPE)
}

/// The reply to `request` (a consumed request message) carrying `body` (Java
/// `MessageUtil.createReplyMessage`): to the reply topic of the request's cluster, with its
/// correlation id, reply-to client and TTL. Send it with any producer.
pub fn reply_message(request: &MessageExt, body: impl Into<Bytes>) -> Result<Message, ReplyError> {
    let property = |name: &'static str| {
        request
            .message
            .property(name)
            .ok_or(ReplyError::NotARequest(name))
    };
    let cluster = property(keys::CLUSTER)?;
    let mut reply = Message::new(format!("{cluster}_{REPLY_TOPIC_SUFFIX}"), body);
    reply.set_property(keys::MESSAGE_TYPE, REPLY_MESSAGE_TYPE)?;
    reply.set_property(keys::CORRELATION_ID, property(keys::CORRELATION_ID)?)?;
    reply.set_property(
        keys::MESSAGE_REPLY_TO_CLIENT,
        property(keys::MESSAGE_REPLY_TO_CLIENT)?,
    )?;
    if let Some(ttl) = request.message.property(keys::MESSAGE_TTL) {
        reply.set_property(keys::MESSAGE_TTL, ttl)?;
    }
    Ok(reply)
}

/// The reply message the broker pushed (header and body of PUSH_REPLY_MESSAGE_TO_CLIENT),
/// its body decompressed when the sys flag says so.
pub fn decode_pushed_reply(
    header: &ReplyMessageRequestHeader,
    body: Bytes,
) -> Result<MessageExt, MessageError> {
    let mut sys_flag = header.sys_flag;
    let body = if sys_flag & sysflag::COMPRESSED != 0 && !body.is_empty() {
        let kind = CompressionType::from_sys_flag(sys_flag)?;
        sys_flag &= !sysflag::COMPRESSED;
        Bytes::from(decompress(kind, &body, DEFAULT_MAX_DECOMPRESSED_LEN)?)
    } else {
        body
    };
    let mut message = Message::new(header.topic.clone(), body);
    message.flag = header.flag;
    for (k, v) in decode_properties(header.properties.as_deref().unwrap_or_default()) {
        message.set_property(k, v)?;
    }
    let addr = |s: &str| s.parse::<SocketAddr>().ok();
    let mut ext = MessageExt::from_message(message);
    ext.queue_id = header.queue_id;
    ext.sys_flag = sys_flag;
    ext.born_timestamp = header.born_timestamp;
    ext.store_timestamp = header.store_timestamp;
    ext.reconsume_times = header.reconsume_times.unwrap_or_default();
    if let Some(born) = addr(&header.born_host) {
        ext.born_host = born;
    }
    if let Some(store) = addr(&header.store_host) {
        ext.store_host = store;
    }
    Ok(ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::properties::encode_properties;

    fn request() -> MessageExt {
        let mut m = Message::new("Orders", "question");
        prepare_request(&mut m, "c-1", "10.0.0.1@req", Duration::from_secs(3)).unwrap();
        m.set_property(keys::CLUSTER, "DefaultCluster").unwrap();
        MessageExt::from_message(m)
    }

    #[test]
    fn a_reply_goes_to_the_clusters_reply_topic_with_the_correlation() {
        let req = request();
        assert_eq!(req.message.property(keys::MESSAGE_TTL), Some("3000"));
        let reply = reply_message(&req, "answer").unwrap();
        assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
        assert!(is_reply(&reply));
        assert!(!is_reply(&req.message));
        for k in [
            keys::CORRELATION_ID,
            keys::MESSAGE_REPLY_TO_CLIENT,
            keys::MESSAGE_TTL,
        ] {
            assert_eq!(reply.property(k), req.message.property(k), "{k}");
        }
        let mut plain = request();
        plain.message.remove_property(keys::CLUSTER);
        assert_eq!(
            reply_message(&plain, "x"),
            Err(ReplyError::NotARequest(keys::CLUSTER))
        );
    }

    #[test]
    fn a_pushed_reply_is_decoded_from_its_header() {
        let reply = reply_message(&request(), "answer").unwrap();
        let header = ReplyMessageRequestHeader {
            producer_group: "pg".into(),
            topic: reply.topic.clone(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 5,
            flag: 0,
            properties: Some(encode_properties(reply.properties())),
            reconsume_times: None,
            unit_mode: false,
            born_host: "10.0.0.2:4000".into(),
            store_host: "10.0.0.3:10911".into(),
            store_timestamp: 6,
        };
        let ext = decode_pushed_reply(&header, Bytes::from_static(b"answer")).unwrap();
        assert_eq!(&ext.message.body[..], b"answer");
        assert_eq!(ext.message.property(keys::CORRELATION_ID), Some("c-1"));
        assert_eq!(ext.store_host.to_string(), "10.0.0.3:10911");
        assert_eq!((ext.born_timestamp, ext.store_timestamp), (5, 6));
    }
}
