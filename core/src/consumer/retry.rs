//! Retry topics, CONSUMER_SEND_MSG_BACK and the DLQ (protocol §6.8, §6.9).
//!
//! A message the listener did not consume is sent back to the broker it came from
//! ([`send_back_request`]). If that fails, the client produces [`fallback_retry_message`] to
//! `%RETRY%<group>` itself; if that fails too, the message stays unsettled in its process
//! queue and is consumed again locally later.

use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::header::{self, ConsumerSendMsgBackRequestHeader};
use crate::message::{keys, Message, MessageExt};

/// Prefix of a group's retry topic.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of a group's dead-letter topic.
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Java's default maximum reconsume count of concurrent consumers.
pub const DEFAULT_MAX_RECONSUME_TIMES: i32 = 16;
/// Delay level of the first retry (10 s with the broker's default levels).
pub const FIRST_RETRY_DELAY_LEVEL: i32 = 3;

/// `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// `%DLQ%<group>`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// Whether `topic` is a retry topic.
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
}

/// The delay level the broker uses for a send-back with level 0: `3 + reconsume_times`.
pub fn broker_delay_level(reconsume_times: i32) -> i32 {
    FIRST_RETRY_DELAY_LEVEL.saturating_add(reconsume_times.max(0))
}

/// Whether a broker handling CONSUMER_SEND_MSG_BACK moves the message to `%DLQ%<group>`:
/// its reconsume count reached the maximum, or the requested delay level is negative.
pub fn send_back_goes_to_dlq(
    reconsume_times: i32,
    max_reconsume_times: i32,
    delay_level: i32,
) -> bool {
    reconsume_times >= max_reconsume_times || delay_level < 0
}

/// Whether a broker moves a message produced straight to `%RETRY%<group>` to the DLQ
/// (`reconsumeTimes > maxReconsumeTimes`; always while the group holds orderly locks).
pub fn retry_send_goes_to_dlq(
    reconsume_times: i32,
    max_reconsume_times: i32,
    group_has_locks: bool,
) -> bool {
    group_has_locks || reconsume_times > max_reconsume_times
}

/// The CONSUMER_SEND_MSG_BACK header for `msg` (Java `MQClientAPIImpl.consumerSendMessageBack`).
pub fn send_back_header(
    group: &str,
    msg: &MessageExt,
    delay_level: i32,
    max_reconsume_times: i32,
    broker_name: Option<&str>,
) -> ConsumerSendMsgBackRequestHeader {
    ConsumerSendMsgBackRequestHeader {
        offset: msg.commit_log_offset,
        group: group.to_owned(),
        delay_level,
        origin_msg_id: Some(msg.msg_id().to_owned()),
        origin_topic: Some(msg.topic().to_owned()),
        unit_mode: false,
        max_reconsume_times: Some(max_reconsume_times),
        broker_name: broker_name.map(str::to_owned),
    }
}

/// The CONSUMER_SEND_MSG_BACK request (code 36; send to the broker the message came from,
/// timeout 5000 ms).
pub fn send_back_request(header: &ConsumerSendMsgBackRequestHeader) -> RemotingCommand {
    header::request(RequestCode::ConsumerSendMsgBack, header)
}

/// Whether a send-back response means the broker took the message.
pub fn send_back_succeeded(response: &RemotingCommand) -> bool {
    response.response_code() == ResponseCode::Success
}

/// The message produced to `%RETRY%<group>` when the send-back failed (Java
/// `DefaultMQPushConsumerImpl.sendMessageBack` fallback): same body, flag and properties, plus
/// `ORIGIN_MESSAGE_ID` (kept if present, else the msgId), `RETRY_TOPIC` = the message's topic,
/// `RECONSUME_TIME` = reconsume count + 1, `MAX_RECONSUME_TIMES`, `DELAY` = 3 + reconsume
/// count, and `TRAN_MSG` removed.
pub fn fallback_retry_message(group: &str, msg: &MessageExt, max_reconsume_times: i32) -> Message {
    let origin = msg
        .message
        .property(keys::ORIGIN_MESSAGE_ID)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| msg.msg_id())
        .to_owned();
    let mut out = Message::from_parts(
        retry_topic(group),
        msg.message.flag,
        msg.message.properties().clone(),
        msg.message.body.clone(),
    );
    // These values are plain text without separators, so setting them cannot fail.
    let _ = out.set_property(keys::ORIGIN_MESSAGE_ID, origin);
    let _ = out.set_property(keys::RETRY_TOPIC, msg.topic());
    let _ = out.set_property(
        keys::RECONSUME_TIME,
        msg.reconsume_times.saturating_add(1).to_string(),
    );
    let _ = out.set_property(keys::MAX_RECONSUME_TIMES, max_reconsume_times.to_string());
    out.remove_property(keys::TRANSACTION_PREPARED);
    out.set_delay_level(broker_delay_level(msg.reconsume_times));
    out
}

/// Restores the original topic of a message read from `%RETRY%<group>` (Java
/// `resetRetryAndNamespace`): when its topic is the group's retry topic and `RETRY_TOPIC` is
/// set, the topic becomes that value. Returns whether it changed.
pub fn reset_retry_topic(msg: &mut MessageExt, group: &str) -> bool {
    if msg.message.topic != retry_topic(group) {
        return false;
    }
    match msg.message.property(keys::RETRY_TOPIC) {
        Some(t) if !t.is_empty() => {
            msg.message.topic = t.to_owned();
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::CommandHeader;

    fn ext() -> MessageExt {
        let mut m = Message::new("TopicA", &b"body"[..]);
        m.set_property(keys::UNIQ_KEY, "UNIQ1").unwrap();
        m.set_property(keys::TRANSACTION_PREPARED, "true").unwrap();
        m.flag = 7;
        let mut e = MessageExt::from_message(m);
        e.commit_log_offset = 1234;
        e.reconsume_times = 2;
        e
    }

    #[test]
    fn topics_and_dlq_rules() {
        assert_eq!(retry_topic("g"), "%RETRY%g");
        assert_eq!(dlq_topic("g"), "%DLQ%g");
        assert!(is_retry_topic("%RETRY%g") && !is_retry_topic("g"));
        assert_eq!(broker_delay_level(0), 3);
        assert_eq!(broker_delay_level(15), 18);
        assert!(send_back_goes_to_dlq(16, 16, 0));
        assert!(!send_back_goes_to_dlq(15, 16, 0));
        assert!(send_back_goes_to_dlq(0, 16, -1));
        assert!(retry_send_goes_to_dlq(17, 16, false));
        assert!(!retry_send_goes_to_dlq(16, 16, false));
        assert!(retry_send_goes_to_dlq(0, 16, true));
    }

    #[test]
    fn send_back_fields() {
        let h = send_back_header("cg", &ext(), 0, 16, Some("broker-a"));
        let cmd = send_back_request(&h);
        assert_eq!(cmd.code, 36);
        let f = h.to_fields();
        assert_eq!(f["offset"], "1234");
        assert_eq!(f["group"], "cg");
        assert_eq!(f["delayLevel"], "0");
        assert_eq!(f["originMsgId"], "UNIQ1");
        assert_eq!(f["originTopic"], "TopicA");
        assert_eq!(f["maxReconsumeTimes"], "16");
        assert_eq!(f["bname"], "broker-a");
    }

    #[test]
    fn fallback_message() {
        let m = fallback_retry_message("cg", &ext(), 16);
        assert_eq!(m.topic, "%RETRY%cg");
        assert_eq!(m.flag, 7);
        assert_eq!(&m.body[..], b"body");
        assert_eq!(m.property(keys::ORIGIN_MESSAGE_ID), Some("UNIQ1"));
        assert_eq!(m.property(keys::RETRY_TOPIC), Some("TopicA"));
        assert_eq!(m.property(keys::RECONSUME_TIME), Some("3"));
        assert_eq!(m.property(keys::MAX_RECONSUME_TIMES), Some("16"));
        assert_eq!(m.property(keys::DELAY_TIME_LEVEL), Some("5"));
        assert_eq!(m.property(keys::TRANSACTION_PREPARED), None);
        let mut e = ext();
        e.message
            .set_property(keys::ORIGIN_MESSAGE_ID, "FIRST")
            .unwrap();
        let m = fallback_retry_message("cg", &e, 16);
        assert_eq!(m.property(keys::ORIGIN_MESSAGE_ID), Some("FIRST"));
    }

    #[test]
    fn reset_topic() {
        let mut e = ext();
        assert!(!reset_retry_topic(&mut e, "cg"));
        e.message.topic = "%RETRY%cg".into();
        assert!(!reset_retry_topic(&mut e, "cg"), "no RETRY_TOPIC property");
        e.message.set_property(keys::RETRY_TOPIC, "TopicA").unwrap();
        assert!(!reset_retry_topic(&mut e, "other"));
        assert!(reset_retry_topic(&mut e, "cg"));
        assert_eq!(e.topic(), "TopicA");
    }
}
