//! Batch bodies for SEND_BATCH_MESSAGE (protocol §3.4).
//!
//! Each message becomes `total_size:i32 | magic:i32 = 0 | body_crc:i32 = 0 | flag:i32 |
//! body_len:i32 | body | props_len:i16 | properties`. Giving each message its `UNIQ_KEY` is the
//! producer's job, before encoding.

use bytes::{BufMut, Bytes, BytesMut};

use super::properties::{decode_properties_bytes, encode_properties, MAX_PROPERTIES_LEN};
use super::reader::Reader;
use super::{Message, MessageError};

/// Topic prefix of retry topics, which batches may not target (Java `MixAll.RETRY_GROUP_TOPIC_PREFIX`).
pub const RETRY_TOPIC_PREFIX: &str = "%RETRY%";

/// Checks Java's batch rules (`MessageBatch.generateFromList`): at least one message, no
/// delay level, no retry topic, and the same topic and `WAIT` value throughout.
pub fn validate_batch(messages: &[Message]) -> Result<(), MessageError> {
    let first = messages.first().ok_or(MessageError::EmptyBatch)?;
    for message in messages {
        if message.delay_level()? > 0 {
            return Err(MessageError::BatchDelayNotSupported);
        }
        if message.topic.starts_with(RETRY_TOPIC_PREFIX) {
            return Err(MessageError::BatchRetryTopic(message.topic.clone()));
        }
        if message.topic != first.topic {
            return Err(MessageError::BatchTopicMismatch {
                expected: first.topic.clone(),
                found: message.topic.clone(),
            });
        }
        if message.wait_store_msg_ok() != first.wait_store_msg_ok() {
            return Err(MessageError::BatchWaitMismatch);
        }
    }
    Ok(())
}

/// Validates (see [`validate_batch`]) and encodes a batch body.
pub fn encode_batch(messages: &[Message]) -> Result<Bytes, MessageError> {
    validate_batch(messages)?;
    let mut out = BytesMut::new();
    for message in messages {
        encode_record(message, &mut out)?;
    }
    Ok(out.freeze())
}

fn encode_record(message: &Message, out: &mut BytesMut) -> Result<(), MessageError> {
    let props = encode_properties(message.properties());
    if props.len() > MAX_PROPERTIES_LEN {
        return Err(MessageError::PropertiesTooLong(props.len()));
    }
    let body = &message.body;
    let too_long = || MessageError::BodyTooLong(body.len());
    let body_len = i32::try_from(body.len()).map_err(|_| too_long())?;
    let total = 20usize
        .checked_add(body.len())
        .and_then(|n| n.checked_add(2 + props.len()))
        .ok_or_else(too_long)?;
    let total = i32::try_from(total).map_err(|_| too_long())?;
    out.reserve(total as usize);
    out.put_i32(total);
    out.put_i32(0);
    out.put_i32(0);
    out.put_i32(message.flag);
    out.put_i32(body_len);
    out.put_slice(body);
    out.put_i16(props.len() as i16);
    out.put_slice(props.as_bytes());
    Ok(())
}

/// Decodes a batch body into messages of `topic` (records carry no topic). Bodies share
/// `body`'s memory. Magic and CRC fields are ignored, as Java does; every length is checked.
pub fn decode_batch(body: &Bytes, topic: &str) -> Result<Vec<Message>, MessageError> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let start = r.position();
        let total = r.i32("total size")?;
        r.i32("magic code")?;
        r.i32("body crc")?;
        let flag = r.i32("flag")?;
        let body_len = r.i32("body length")?;
        let payload = r.bytes("body", i64::from(body_len))?;
        let props_len = r.i16("properties length")?;
        let props = r.bytes("properties", i64::from(props_len))?;
        let used = r.position() - start;
        if usize::try_from(total).ok() != Some(used) {
            return Err(MessageError::RecordSizeMismatch {
                declared: i64::from(total),
                actual: used,
            });
        }
        out.push(Message::from_decoded(
            topic.to_owned(),
            flag,
            decode_properties_bytes(&props),
            payload,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, body: &'static [u8]) -> Message {
        Message::new(topic, Bytes::from_static(body))
    }

    #[test]
    fn layout_of_one_record() {
        let mut m = msg("T", b"xy");
        m.flag = 7;
        let bytes = encode_batch(&[m]).unwrap();
        let props = b"WAIT\x01true\x02";
        let mut expected = Vec::new();
        expected.extend_from_slice(&(20 + 2 + 2 + props.len() as i32).to_be_bytes());
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&7i32.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(b"xy");
        expected.extend_from_slice(&(props.len() as i16).to_be_bytes());
        expected.extend_from_slice(props);
        assert_eq!(bytes.as_ref(), expected.as_slice());
    }

    #[test]
    fn round_trip() {
        let mut a = msg("T", b"a");
        a.set_tags("TagA").unwrap();
        a.set_property("UNIQ_KEY", "ID1").unwrap();
        let b = msg("T", b"");
        let body = encode_batch(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(decode_batch(&body, "T").unwrap(), vec![a, b]);
    }

    #[test]
    fn java_rules() {
        assert_eq!(encode_batch(&[]), Err(MessageError::EmptyBatch));
        assert!(matches!(
            encode_batch(&[msg("A", b"1"), msg("B", b"2")]),
            Err(MessageError::BatchTopicMismatch { .. })
        ));
        let mut nowait = msg("A", b"2");
        nowait.set_wait_store_msg_ok(false);
        assert_eq!(
            encode_batch(&[msg("A", b"1"), nowait]),
            Err(MessageError::BatchWaitMismatch)
        );
        let mut delayed = msg("A", b"2");
        delayed.set_delay_level(2);
        assert_eq!(
            encode_batch(&[msg("A", b"1"), delayed]),
            Err(MessageError::BatchDelayNotSupported)
        );
        let mut zero_delay = msg("A", b"2");
        zero_delay.set_delay_level(0);
        assert!(encode_batch(&[msg("A", b"1"), zero_delay]).is_ok());
        assert_eq!(
            encode_batch(&[msg("%RETRY%g", b"1")]),
            Err(MessageError::BatchRetryTopic("%RETRY%g".into()))
        );
    }

    #[test]
    fn malformed_batches_are_typed_errors() {
        let body = encode_batch(&[msg("T", b"abc")]).unwrap();
        for cut in 1..body.len() {
            assert!(decode_batch(&body.slice(..cut), "T").is_err(), "cut {cut}");
        }
        let mut lying = BytesMut::from(&body[..]);
        lying[16..20].copy_from_slice(&1000i32.to_be_bytes());
        assert_eq!(
            decode_batch(&lying.freeze(), "T"),
            Err(MessageError::BadLength {
                field: "body",
                len: 1000
            })
        );
        let mut wrong_total = BytesMut::from(&body[..]);
        wrong_total[0..4].copy_from_slice(&5i32.to_be_bytes());
        assert!(matches!(
            decode_batch(&wrong_total.freeze(), "T"),
            Err(MessageError::RecordSizeMismatch { declared: 5, .. })
        ));
    }
}
