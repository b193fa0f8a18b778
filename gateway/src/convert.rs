//! Between the gateway's protobuf messages and rocketwire's, and errors to gRPC statuses.

use rocketwire_core::message::{keys, Message, MessageExt};
use rocketwire_core::producer::{SendError, SendResult};
use tonic::Status;

use crate::proto::v1;

/// A v1 message as a rocketwire message. Misuse (no topic, a reserved property name, a bad
/// delay) is `InvalidArgument`.
pub(crate) fn message_from_v1(m: v1::Message) -> Result<Message, Status> {
    if m.topic.trim().is_empty() {
        return Err(Status::invalid_argument("message topic is empty"));
    }
    let mut message = Message::new(m.topic, m.body);
    if let Some(tags) = m.tags.filter(|t| !t.is_empty()) {
        message.set_tags(tags).map_err(invalid)?;
    }
    if !m.keys.is_empty() {
        message.set_keys(m.keys).map_err(invalid)?;
    }
    for (name, value) in m.properties {
        message
            .put_user_property(name.clone(), value)
            .map_err(|e| Status::invalid_argument(format!("property `{name}`: {e}")))?;
    }
    match m.delay {
        None => {}
        Some(v1::message::Delay::DelayLevel(level)) => {
            if !(1..=18).contains(&level) {
                return Err(Status::invalid_argument(format!(
                    "delay_level {level} is not between 1 and 18"
                )));
            }
            message.set_delay_level(level);
        }
        Some(v1::message::Delay::DelayMs(ms)) => {
            if ms <= 0 {
                return Err(Status::invalid_argument(format!(
                    "delay_ms {ms} is not above 0"
                )));
            }
            message.set_delay_time_ms(ms);
        }
        Some(v1::message::Delay::DeliverAtMs(at)) => {
            if at <= 0 {
                return Err(Status::invalid_argument(format!(
                    "deliver_at_ms {at} is not a time"
                )));
            }
            message.set_deliver_time_ms(at);
        }
    }
    if let Some(key) = m.ordering_key.filter(|k| !k.is_empty()) {
        message
            .set_property(keys::SHARDING_KEY, key)
            .map_err(invalid)?;
    }
    Ok(message)
}

fn invalid(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

/// A send result as the v1 answer.
pub(crate) fn send_response(r: &SendResult) -> v1::SendResponse {
    v1::SendResponse {
        msg_id: r.msg_id.clone(),
        offset_msg_id: r.offset_msg_id.clone(),
        broker_name: r.message_queue.broker_name.clone(),
        queue_id: r.message_queue.queue_id,
        queue_offset: r.queue_offset,
        status: status_name(r),
    }
}

/// Java's `SendStatus` name of `r`.
pub(crate) fn status_name(r: &SendResult) -> String {
    r.status.as_str().to_owned()
}

/// A failed send as a gRPC status, by blame: the request (`InvalidArgument`), the
/// credentials (`PermissionDenied`), the cluster being unreachable or slow (`Unavailable`,
/// `DeadlineExceeded`), the broker refusing (`FailedPrecondition`), the rest `Internal`.
pub(crate) fn send_status(e: &SendError) -> Status {
    let message = e.to_string();
    match e {
        SendError::Validation(_) | SendError::Message(_) | SendError::Misuse(_) => {
            Status::invalid_argument(message)
        }
        SendError::Authorization { .. } => Status::permission_denied(message),
        SendError::Timeout => Status::deadline_exceeded(message),
        SendError::NoRoute { .. } | SendError::Transport(_) => Status::unavailable(message),
        SendError::Broker { .. } | SendError::Select(_) => Status::failed_precondition(message),
        _ => Status::internal(message),
    }
}

/// A consumed message as the v1 delivery payload.
pub(crate) fn received(m: &MessageExt) -> v1::ReceivedMessage {
    let message = &m.message;
    let properties = message
        .properties()
        .iter()
        .filter(|(k, _)| !keys::is_system_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v1::ReceivedMessage {
        topic: m.topic().to_owned(),
        body: m.body().to_vec(),
        msg_id: m.msg_id().to_owned(),
        tags: message.tags().map(str::to_owned),
        keys: message.key_list().map(str::to_owned).collect(),
        properties,
        store_host: m.store_host.to_string(),
        queue_id: m.queue_id,
        queue_offset: m.queue_offset,
        reconsume_times: m.reconsume_times,
        born_timestamp_ms: m.born_timestamp,
        store_timestamp_ms: m.store_timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn v1_message() -> v1::Message {
        v1::Message {
            topic: "T".into(),
            body: b"hi".to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn every_attribute_reaches_the_message() {
        let mut m = v1_message();
        m.tags = Some("A".into());
        m.keys = vec!["k1".into(), "k2".into()];
        m.properties = HashMap::from([("color".to_string(), "red".to_string())]);
        m.delay = Some(v1::message::Delay::DelayLevel(3));
        m.ordering_key = Some("order-7".into());
        let message = message_from_v1(m).unwrap();
        assert_eq!(message.tags(), Some("A"));
        assert_eq!(message.key_list().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(message.property("color"), Some("red"));
        assert_eq!(message.delay_level().unwrap(), 3);
        assert_eq!(message.property(keys::SHARDING_KEY), Some("order-7"));
    }

    #[test]
    fn misuse_is_invalid_argument() {
        let bad = |f: &dyn Fn(&mut v1::Message)| {
            let mut m = v1_message();
            f(&mut m);
            message_from_v1(m).unwrap_err().code()
        };
        assert_eq!(bad(&|m| m.topic.clear()), tonic::Code::InvalidArgument);
        assert_eq!(
            bad(&|m| m.delay = Some(v1::message::Delay::DelayLevel(19))),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            bad(&|m| m.delay = Some(v1::message::Delay::DelayMs(0))),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            bad(&|m| {
                m.properties.insert("UNIQ_KEY".into(), "x".into());
            }),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn timer_delays_are_set() {
        let mut m = v1_message();
        m.delay = Some(v1::message::Delay::DelayMs(1500));
        assert_eq!(message_from_v1(m).unwrap().timer_delivery().1, Some(1500));
        let mut m = v1_message();
        m.delay = Some(v1::message::Delay::DeliverAtMs(1_900_000_000_000));
        assert_eq!(
            message_from_v1(m).unwrap().timer_delivery().0,
            Some(1_900_000_000_000)
        );
    }
}
