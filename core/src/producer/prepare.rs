//! Turning user messages into send requests (Java `sendKernelImpl`, `DefaultMQProducer.batch`,
//! protocol §3.3, §3.4, §3.6, §6.4).
//!
//! Preparation happens once per send; every attempt then asks for a command aimed at its
//! queue ([`PreparedMessage::command`]), which only copies the header: bodies are shared.

use bytes::Bytes;

use crate::body::MessageQueue;
use crate::codec::{RemotingCommand, RequestCode};
use crate::message::properties::{encode_properties, MAX_PROPERTIES_LEN};
use crate::message::{
    compress, keys, sysflag, validate_batch, Message, MessageError, UniqIdGenerator,
    RETRY_TOPIC_PREFIX,
};
use crate::request;

use super::config::ProducerConfig;
use super::result::SendError;
use super::validate::{validate_body_len, validate_message, ValidationError};

/// V2 header keys patched per attempt (Java `SendMessageRequestHeaderV2`).
const KEY_QUEUE_ID: &str = "e";
const KEY_BORN_TIMESTAMP: &str = "g";
const KEY_DEFAULT_TOPIC: &str = "c";
const KEY_DEFAULT_TOPIC_QUEUE_NUMS: &str = "d";
const KEY_RECONSUME_TIMES: &str = "j";
const KEY_MAX_RECONSUME_TIMES: &str = "l";
const KEY_BROKER_NAME: &str = "n";

/// Room a batch splitter keeps for a `UNIQ_KEY` property not yet set: the name, an IPv6-sized
/// id (56 hex digits) and both separators.
pub const UNIQ_KEY_PROPERTY_RESERVE: usize = keys::UNIQ_KEY.len() + 56 + 2;

/// Wall-clock inputs of id generation: the generator and the time it should stamp.
#[derive(Debug)]
pub struct IdClock<'a> {
    /// The process's id generator.
    pub ids: &'a mut UniqIdGenerator,
    /// Now, in ms since the Unix epoch.
    pub wall_millis: i64,
    /// The local zone's offset from UTC in ms (Java's month start is local).
    pub utc_offset_millis: i64,
}

impl IdClock<'_> {
    fn next(&mut self) -> String {
        self.ids.next(self.wall_millis, self.utc_offset_millis)
    }
}

/// A message ready to be sent: the request template and what the result needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedMessage {
    /// The message's `UNIQ_KEY` (the result's `msgId`).
    pub msg_id: String,
    /// The `sysFlag` sent: `COMPRESSED | type bits` when compressed, `| PREPARED` for
    /// `TRAN_MSG=true`.
    pub sys_flag: i32,
    /// Whether the body on the wire is compressed.
    pub compressed: bool,
    /// The body on the wire (shared with the user's message when not compressed).
    pub wire_body: Bytes,
    template: RemotingCommand,
}

impl PreparedMessage {
    /// The SEND_MESSAGE_V2 request of one attempt to `queue`, stamped `born_timestamp` (ms).
    pub fn command(&self, queue: &MessageQueue, born_timestamp: i64) -> RemotingCommand {
        aim(&self.template, queue, born_timestamp)
    }
}

/// Copies `template` and sets the queue id, born timestamp and broker name of one attempt.
fn aim(template: &RemotingCommand, queue: &MessageQueue, born_timestamp: i64) -> RemotingCommand {
    let mut cmd = template.clone();
    let f = &mut cmd.ext_fields;
    f.insert(KEY_QUEUE_ID.into(), queue.queue_id.to_string());
    f.insert(KEY_BORN_TIMESTAMP.into(), born_timestamp.to_string());
    f.insert(KEY_BROKER_NAME.into(), queue.broker_name.clone());
    cmd
}

/// Writes the producer's template topic settings into a send header.
fn set_default_topic(cmd: &mut RemotingCommand, config: &ProducerConfig) {
    let f = &mut cmd.ext_fields;
    f.insert(KEY_DEFAULT_TOPIC.into(), config.default_topic.clone());
    f.insert(
        KEY_DEFAULT_TOPIC_QUEUE_NUMS.into(),
        config.default_topic_queue_nums.to_string(),
    );
}

/// Reads an integer property that moves into a header field.
fn int_property(message: &Message, name: &str) -> Result<Option<i32>, MessageError> {
    message
        .property(name)
        .map(|v| {
            v.trim().parse().map_err(|_| MessageError::InvalidProperty {
                name: name.to_owned(),
                reason: "not an integer",
            })
        })
        .transpose()
}

/// Prepares one message (Java `sendDefaultImpl` checks and `sendKernelImpl`):
///
/// 1. validates topic and body ([`validate_message`], on the uncompressed body);
/// 2. sets `UNIQ_KEY` on the user's `message` unless present (so every attempt, and the
///    result, use the same id);
/// 3. compresses the body when it has at least `compress_over` bytes (a failing compressor
///    leaves it uncompressed, as Java does) — the user's message keeps its body;
/// 4. builds `sysFlag` (`COMPRESSED | compression type`, `TRANSACTION_PREPARED` when
///    `TRAN_MSG` is `true`, case-insensitively);
/// 5. for a retry topic (`%RETRY%…`), moves `RECONSUME_TIME`/`MAX_RECONSUME_TIMES` into the
///    header fields `reconsumeTimes`/`maxReconsumeTimes` and out of the properties (Java sends
///    `reconsumeTimes = 0` otherwise, and so do we). Java serializes the properties before
///    clearing them, so its wire copy still carries both; we drop them as the header has them.
pub fn prepare_message(
    config: &ProducerConfig,
    message: &mut Message,
    clock: &mut IdClock<'_>,
) -> Result<PreparedMessage, SendError> {
    validate_message(message, config.max_message_size)?;
    let msg_id = message.set_unique_key_if_absent(|| clock.next()).to_owned();

    let mut wire = message.clone();
    let mut sys_flag = 0;
    let mut compressed = false;
    if message.body.len() >= config.compress_over {
        if let Ok(data) =
            compress::compress(config.compression, &message.body, config.compress_level)
        {
            wire.body = Bytes::from(data);
            sys_flag |= sysflag::COMPRESSED | config.compression.sys_flag_bits();
            compressed = true;
        }
    }
    if message
        .property(keys::TRANSACTION_PREPARED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        sys_flag |= sysflag::TRANSACTION_PREPARED_TYPE;
    }
    let mut reconsume = (Some(0), None);
    if message.topic.starts_with(RETRY_TOPIC_PREFIX) {
        if let Some(n) = int_property(message, keys::RECONSUME_TIME)? {
            reconsume.0 = Some(n);
            wire.remove_property(keys::RECONSUME_TIME);
        }
        if let Some(n) = int_property(message, keys::MAX_RECONSUME_TIMES)? {
            reconsume.1 = Some(n);
            wire.remove_property(keys::MAX_RECONSUME_TIMES);
        }
    }
    let props_len = encode_properties(wire.properties()).len();
    if props_len > MAX_PROPERTIES_LEN {
        return Err(MessageError::PropertiesTooLong(props_len).into());
    }

    let mut template = request::send_message(&config.group, &wire, 0, sys_flag, 0, None);
    if super::is_reply(message) {
        // The broker stores a reply and pushes it to the requesting client.
        template.code = RequestCode::SendReplyMessageV2.code();
    }
    set_default_topic(&mut template, config);
    let f = &mut template.ext_fields;
    if let Some(n) = reconsume.0 {
        f.insert(KEY_RECONSUME_TIMES.into(), n.to_string());
    }
    if let Some(n) = reconsume.1 {
        f.insert(KEY_MAX_RECONSUME_TIMES.into(), n.to_string());
    }
    Ok(PreparedMessage {
        msg_id,
        sys_flag,
        compressed,
        wire_body: wire.body,
        template,
    })
}

/// Readies a single send that waits for an auto-batch ([`super::AutoBatch`]): validates it
/// as [`prepare_message`] does and sets its `UNIQ_KEY` (its result's `msgId`) unless
/// present; the batch is prepared when it leaves.
pub fn prepare_held(
    config: &ProducerConfig,
    message: &mut Message,
    clock: &mut IdClock<'_>,
) -> Result<(), SendError> {
    validate_message(message, config.max_message_size)?;
    message.set_unique_key_if_absent(|| clock.next());
    Ok(())
}

/// A batch ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedBatch {
    /// The inner messages' `UNIQ_KEY`s, in order.
    pub inner_ids: Vec<String>,
    /// The batch's own `UNIQ_KEY`.
    pub batch_id: String,
    /// Length of the encoded batch body.
    pub body_len: usize,
    template: RemotingCommand,
}

impl PreparedBatch {
    /// The SEND_BATCH_MESSAGE request of one attempt to `queue`, stamped `born_timestamp`.
    pub fn command(&self, queue: &MessageQueue, born_timestamp: i64) -> RemotingCommand {
        aim(&self.template, queue, born_timestamp)
    }

    /// The send result's `msgId` when the broker sent no `batchUniqId`.
    pub fn msg_id(&self, response_batch_uniq_id: Option<&str>) -> String {
        super::result::batch_msg_id(
            self.inner_ids.iter().map(String::as_str),
            &self.batch_id,
            response_batch_uniq_id,
        )
    }
}

/// Prepares a batch (Java `DefaultMQProducer.batch`): Java's batch rules, every inner message
/// valid on its own ([`validate_message`]), a `UNIQ_KEY` on every inner message that lacks one (set on the user's messages), a fresh
/// `UNIQ_KEY` for the batch itself (kept client-side, see [`crate::request::send_batch`]), and an encoded body of at most `max_message_size`
/// bytes. Batches are never compressed (sysFlag 0).
pub fn prepare_batch(
    config: &ProducerConfig,
    messages: &mut [Message],
    clock: &mut IdClock<'_>,
) -> Result<PreparedBatch, SendError> {
    validate_batch(messages).map_err(ValidationError::Batch)?;
    for message in messages.iter() {
        validate_message(message, config.max_message_size)?;
    }
    let inner_ids: Vec<String> = messages
        .iter_mut()
        .map(|m| m.set_unique_key_if_absent(|| clock.next()).to_owned())
        .collect();
    let batch_id = clock.next();
    let mut template =
        request::send_batch(&config.group, messages, 0, 0, None).map_err(ValidationError::Batch)?;
    set_default_topic(&mut template, config);
    let body_len = template.body.len();
    validate_body_len(body_len, config.max_message_size)?;
    Ok(PreparedBatch {
        inner_ids,
        batch_id,
        body_len,
        template,
    })
}

/// Encoded size of `message` as a batch record (§3.4), counting
/// [`UNIQ_KEY_PROPERTY_RESERVE`] when it has no `UNIQ_KEY` yet.
pub fn batch_record_len(message: &Message) -> usize {
    let mut props = encode_properties(message.properties()).len();
    if message.unique_key().is_none() {
        props += UNIQ_KEY_PROPERTY_RESERVE;
    }
    22usize
        .saturating_add(message.body.len())
        .saturating_add(props)
}

/// Splits `messages` in order into batches whose encoded bodies fit `max_bytes` (Java's
/// `ListSplitter` idea, with the exact record size). A message that does not fit alone is
/// refused with [`ValidationError::BodyTooLarge`] (its record size).
pub fn split_batch(
    messages: Vec<Message>,
    max_bytes: usize,
) -> Result<Vec<Vec<Message>>, ValidationError> {
    let mut out: Vec<Vec<Message>> = Vec::new();
    let mut current = Vec::new();
    let mut size = 0usize;
    for message in messages {
        let len = batch_record_len(&message);
        if len > max_bytes {
            return Err(ValidationError::BodyTooLarge {
                len,
                max: max_bytes,
            });
        }
        if size + len > max_bytes && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(message);
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn gen() -> UniqIdGenerator {
        UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 42, 7, 0)
    }

    #[test]
    fn split_respects_limit_and_order() {
        let msgs: Vec<Message> = (0..10u8).map(|i| Message::new("T", vec![i; 100])).collect();
        let one = batch_record_len(&msgs[0]);
        let batches = split_batch(msgs.clone(), one * 3).unwrap();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        assert_eq!(batches.concat(), msgs);
        assert!(matches!(
            split_batch(msgs, one - 1),
            Err(ValidationError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn prepared_body_is_shared_when_small() {
        let mut ids = gen();
        let mut clock = IdClock {
            ids: &mut ids,
            wall_millis: 1_700_000_000_000,
            utc_offset_millis: 0,
        };
        let mut m = Message::new("T", vec![7u8; 10]);
        let p = prepare_message(&ProducerConfig::default(), &mut m, &mut clock).unwrap();
        assert_eq!(p.wire_body.as_ptr(), m.body.as_ptr());
        assert!(!p.compressed);
        assert_eq!(p.sys_flag, 0);
    }
}
