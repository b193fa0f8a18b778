//! Topic, group and message checks of the Java client (`Validators`, `TopicValidator`,
//! protocol §3.8), with a typed error per rule.

use crate::message::Message;

/// Longest topic name a client accepts (Java `TOPIC_MAX_LENGTH`).
pub const TOPIC_MAX_LEN: usize = 127;
/// Longest group name a client accepts (Java `CHARACTER_MAX_LENGTH` for groups).
pub const GROUP_MAX_LEN: usize = 120;

/// System topics a producer may not send to (Java `TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// Why a topic, group or message was refused before anything was sent. Blame: the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The topic is empty or whitespace only.
    #[error("the topic is blank")]
    BlankTopic,
    /// The topic is longer than [`TOPIC_MAX_LEN`] characters.
    #[error("topic of {len} characters exceeds {max}")]
    TopicTooLong {
        /// Length of the topic in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The topic has a character outside `[%|a-zA-Z0-9_-]`.
    #[error("topic {0:?} contains characters outside [%|a-zA-Z0-9_-]")]
    TopicIllegalChars(String),
    /// The topic is a system topic producers may not send to.
    #[error("sending to the system topic {0:?} is not allowed")]
    ReservedTopic(String),
    /// The group is empty or whitespace only.
    #[error("the group is blank")]
    BlankGroup,
    /// The group is longer than [`GROUP_MAX_LEN`] characters.
    #[error("group of {len} characters exceeds {max}")]
    GroupTooLong {
        /// Length of the group in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The group has a character outside `[%|a-zA-Z0-9_-]`.
    #[error("group {0:?} contains characters outside [%|a-zA-Z0-9_-]")]
    GroupIllegalChars(String),
    /// The message body is empty.
    #[error("the message body is empty")]
    EmptyBody,
    /// The message (or batch) body is larger than the configured maximum.
    #[error("body of {len} bytes exceeds the maximum of {max} bytes")]
    BodyTooLarge {
        /// Body length in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A batch message broke Java's batch rules or could not be encoded.
    #[error("invalid batch: {0}")]
    Batch(crate::message::MessageError),
    /// Auto-batching settings that cannot work: no room for a message, a batch larger than
    /// the message size limit, or a linger as long as the send timeout.
    #[error(
        "invalid auto-batch settings {0:?}: max_messages and max_bytes must be at least 1, \
         max_bytes at most max_message_size, linger shorter than send_timeout"
    )]
    AutoBatch(super::AutoBatch),
}

/// Whether every character is in Java's `[%|a-zA-Z0-9_-]`.
fn legal_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-'))
}

/// Java `Validators.checkTopic`: non-blank, at most 127 characters, charset `[%|a-zA-Z0-9_-]`.
pub fn validate_topic(topic: &str) -> Result<(), ValidationError> {
    if topic.trim().is_empty() {
        return Err(ValidationError::BlankTopic);
    }
    let len = topic.chars().count();
    if len > TOPIC_MAX_LEN {
        return Err(ValidationError::TopicTooLong {
            len,
            max: TOPIC_MAX_LEN,
        });
    }
    if !legal_chars(topic) {
        return Err(ValidationError::TopicIllegalChars(topic.to_owned()));
    }
    Ok(())
}

/// [`validate_topic`] plus Java's refusal of system topics
/// (`Validators.isNotAllowedSendTopic`, see [`NOT_ALLOWED_SEND_TOPICS`]).
pub fn validate_send_topic(topic: &str) -> Result<(), ValidationError> {
    validate_topic(topic)?;
    if NOT_ALLOWED_SEND_TOPICS.contains(&topic) {
        return Err(ValidationError::ReservedTopic(topic.to_owned()));
    }
    Ok(())
}

/// Java `Validators.checkGroup`: non-blank, at most 120 characters, charset `[%|a-zA-Z0-9_-]`.
pub fn validate_group(group: &str) -> Result<(), ValidationError> {
    if group.trim().is_empty() {
        return Err(ValidationError::BlankGroup);
    }
    let len = group.chars().count();
    if len > GROUP_MAX_LEN {
        return Err(ValidationError::GroupTooLong {
            len,
            max: GROUP_MAX_LEN,
        });
    }
    if !legal_chars(group) {
        return Err(ValidationError::GroupIllegalChars(group.to_owned()));
    }
    Ok(())
}

/// Java `Validators.checkMessage`: a sendable topic and a body of `1..=max_message_size` bytes.
pub fn validate_message(message: &Message, max_message_size: usize) -> Result<(), ValidationError> {
    validate_send_topic(&message.topic)?;
    validate_body_len(message.body.len(), max_message_size)
}

/// The body-length part of [`validate_message`] (also used for encoded batch bodies).
pub fn validate_body_len(len: usize, max_message_size: usize) -> Result<(), ValidationError> {
    if len == 0 {
        return Err(ValidationError::EmptyBody);
    }
    if len > max_message_size {
        return Err(ValidationError::BodyTooLarge {
            len,
            max: max_message_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_table() {
        let long = "a".repeat(128);
        let max = "a".repeat(127);
        let cases: &[(&str, Result<(), ValidationError>)] = &[
            ("TopicTest", Ok(())),
            ("%RETRY%group_1|x-y", Ok(())),
            (&max, Ok(())),
            ("TBW102", Ok(())),
            ("", Err(ValidationError::BlankTopic)),
            ("  ", Err(ValidationError::BlankTopic)),
            (
                &long,
                Err(ValidationError::TopicTooLong { len: 128, max: 127 }),
            ),
            ("a b", Err(ValidationError::TopicIllegalChars("a b".into()))),
            ("a.b", Err(ValidationError::TopicIllegalChars("a.b".into()))),
            (
                "主题",
                Err(ValidationError::TopicIllegalChars("主题".into())),
            ),
            (
                "SCHEDULE_TOPIC_XXXX",
                Err(ValidationError::ReservedTopic("SCHEDULE_TOPIC_XXXX".into())),
            ),
            (
                "RMQ_SYS_TRANS_HALF_TOPIC",
                Err(ValidationError::ReservedTopic(
                    "RMQ_SYS_TRANS_HALF_TOPIC".into(),
                )),
            ),
        ];
        for (topic, expected) in cases {
            assert_eq!(&validate_send_topic(topic), expected, "{topic:?}");
        }
        // Reserved topics are still well-formed names.
        assert_eq!(validate_topic("OFFSET_MOVED_EVENT"), Ok(()));
    }

    #[test]
    fn group_table() {
        assert_eq!(validate_group("DEFAULT_PRODUCER"), Ok(()));
        assert_eq!(validate_group(&"g".repeat(120)), Ok(()));
        assert_eq!(validate_group(""), Err(ValidationError::BlankGroup));
        assert_eq!(
            validate_group(&"g".repeat(121)),
            Err(ValidationError::GroupTooLong { len: 121, max: 120 })
        );
        assert_eq!(
            validate_group("g/1"),
            Err(ValidationError::GroupIllegalChars("g/1".into()))
        );
    }

    #[test]
    fn body_table() {
        let ok = Message::new("T", vec![1u8; 10]);
        assert_eq!(validate_message(&ok, 10), Ok(()));
        assert_eq!(
            validate_message(&ok, 9),
            Err(ValidationError::BodyTooLarge { len: 10, max: 9 })
        );
        let empty = Message::new("T", Vec::new());
        assert_eq!(
            validate_message(&empty, 10),
            Err(ValidationError::EmptyBody)
        );
        let bad_topic = Message::new("", vec![1u8]);
        assert_eq!(
            validate_message(&bad_topic, 10),
            Err(ValidationError::BlankTopic)
        );
    }
}
