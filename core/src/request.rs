//! Builders for the requests a client sends most, from typed headers and messages.
//!
//! These are pure functions: they neither pick queues nor retry (the producer and consumer
//! state machines do that); they only turn a message and a target into a [`RemotingCommand`].

use crate::codec::{RemotingCommand, RequestCode};
use crate::header::{
    self, PullMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
};
use crate::message::properties::encode_properties;
use crate::message::{encode_batch, keys, sysflag, Message, MessageError, Properties};

/// A SEND_MESSAGE_V2 request (short `a`…`n` keys) for `message` to `queue_id` of a broker.
/// The body is shared, not copied; `sys_flag` carries compression and transaction bits.
pub fn send_message(
    producer_group: &str,
    message: &Message,
    queue_id: i32,
    sys_flag: i32,
    born_timestamp: i64,
    broker_name: Option<&str>,
) -> RemotingCommand {
    let mut header =
        SendMessageRequestHeader::new(producer_group, &message.topic, queue_id, born_timestamp);
    header.flag = message.flag;
    header.sys_flag = sys_flag;
    header.properties = Some(encode_properties(message.properties()));
    header.broker_name = broker_name.map(str::to_string);
    header::request(
        RequestCode::SendMessageV2,
        &SendMessageRequestHeaderV2(header),
    )
    .with_body(message.body.clone())
}

/// A SEND_BATCH_MESSAGE request for `messages` (one topic, Java's batch rules) to `queue_id`.
///
/// The batch's own properties carry only `WAIT`. Java also puts a batch `UNIQ_KEY` there,
/// but a broker that appends the batch's properties to every stored inner message (as
/// rocketmq-rust does) would then give every message the batch's id instead of its own, so
/// consumers could not tell them apart; each inner message carries its own `UNIQ_KEY`.
pub fn send_batch(
    producer_group: &str,
    messages: &[Message],
    queue_id: i32,
    born_timestamp: i64,
    broker_name: Option<&str>,
) -> Result<RemotingCommand, MessageError> {
    let body = encode_batch(messages)?;
    let topic = messages.first().map(|m| m.topic.as_str()).unwrap_or("");
    let mut header = SendMessageRequestHeader::new(producer_group, topic, queue_id, born_timestamp);
    header.batch = Some(true);
    let wait = messages.first().is_none_or(Message::wait_store_msg_ok);
    let mut props = Properties::new();
    props.insert(keys::WAIT_STORE_MSG_OK.into(), wait.to_string());
    header.properties = Some(encode_properties(&props));
    header.broker_name = broker_name.map(str::to_string);
    Ok(header::request(
        RequestCode::SendBatchMessage,
        &SendMessageRequestHeaderV2(header),
    )
    .with_body(body))
}

/// A PULL_MESSAGE request that carries its subscription (`expression`, TAG type), so the
/// broker needs no heartbeat for it; long-polls for `suspend_millis` when the queue is empty.
pub fn pull_message(
    consumer_group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max_msg_nums: i32,
    expression: &str,
    suspend_millis: i64,
) -> RemotingCommand {
    let header = PullMessageRequestHeader {
        consumer_group: consumer_group.to_string(),
        topic: topic.to_string(),
        queue_id,
        queue_offset: offset,
        max_msg_nums,
        sys_flag: sysflag::PULL_SUSPEND | sysflag::PULL_SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: suspend_millis,
        subscription: Some(expression.to_string()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        ..PullMessageRequestHeader::default()
    };
    header::request(RequestCode::PullMessage, &header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::CommandHeader;
    use bytes::Bytes;

    #[test]
    fn send_message_carries_the_message_in_v2_keys() {
        let mut m = Message::new("T", Bytes::from_static(b"body"));
        m.flag = 3;
        m.set_tags("A").unwrap();
        let cmd = send_message("g", &m, 2, 0, 1_000, Some("b"));
        assert_eq!(cmd.code, 310);
        assert_eq!(cmd.body, m.body);
        let h = SendMessageRequestHeaderV2::read_fields(&cmd.ext_fields)
            .unwrap()
            .0;
        assert_eq!((h.topic.as_str(), h.queue_id, h.flag), ("T", 2, 3));
        assert_eq!(h.broker_name.as_deref(), Some("b"));
        assert_eq!(
            h.properties.as_deref(),
            Some("TAGS\u{1}A\u{2}WAIT\u{1}true\u{2}")
        );
    }

    #[test]
    fn batch_is_code_320_with_batch_flag() {
        let msgs = vec![Message::new("T", Bytes::from_static(b"a")); 2];
        let cmd = send_batch("g", &msgs, 0, 1, None).unwrap();
        assert_eq!(cmd.code, 320);
        assert_eq!(cmd.field("m"), Some("true"));
        assert_eq!(
            cmd.field("i"),
            Some("WAIT\u{1}true\u{2}"),
            "no batch UNIQ_KEY"
        );
        let mixed = vec![
            Message::new("T", Bytes::new()),
            Message::new("U", Bytes::new()),
        ];
        assert!(send_batch("g", &mixed, 0, 1, None).is_err());
    }

    #[test]
    fn pull_carries_subscription() {
        let cmd = pull_message("g", "T", 1, 5, 32, "*", 15_000);
        let h = PullMessageRequestHeader::read_fields(&cmd.ext_fields).unwrap();
        assert_eq!(
            h.sys_flag,
            sysflag::PULL_SUSPEND | sysflag::PULL_SUBSCRIPTION
        );
        assert_eq!((h.queue_offset, h.max_msg_nums), (5, 32));
        assert_eq!(h.subscription.as_deref(), Some("*"));
    }
}
