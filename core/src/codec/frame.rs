//! Frame splitting and encoding.
//!
//! ```text
//! frame_length:i32 | header_word:i32 | header | body
//! frame_length = 4 + header_length + body_length      (excludes itself)
//! header_word  = serialize_type << 24 | header_length  (24-bit length)
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{binary_header, json_header, CodecError, RemotingCommand, SerializeType};

/// Default maximum frame length (Java `com.rocketmq.remoting.frameMaxLength`): 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Largest header length the 24-bit field of the header word can carry.
pub const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// Size of the `frame_length` field.
const LENGTH_FIELD_LEN: usize = 4;
/// Size of the header word.
const HEADER_WORD_LEN: usize = 4;

/// Incremental frame decoder over a connection's receive buffer.
///
/// Feed it the connection's `BytesMut`; each call splits at most one whole frame off the front.
/// After an error the connection must be closed: the decoder does not resynchronise.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose `frame_length` field exceeds `max_frame_len` bytes.
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }

    /// The configured maximum `frame_length`.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Splits one whole frame off the front of `buf` and decodes it; `Ok(None)` means more
    /// bytes are needed (nothing is consumed then).
    ///
    /// The length field is validated as soon as its 4 bytes are there, before the rest of the
    /// frame is waited for, so an oversized or negative length fails without buffering. The
    /// returned body is a zero-copy slice of the frame.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        let Some(total) = self.whole_frame(buf)? else {
            return Ok(None);
        };
        let mut frame = buf.split_to(total).freeze();
        frame.advance(LENGTH_FIELD_LEN);
        decode_frame(frame).map(Some)
    }

    /// [`FrameDecoder::decode`] from received [`Bytes`]: a whole frame at the front is split
    /// off without copying (the body stays a slice of what was read); `Ok(None)` leaves
    /// `buf` as it was, for the caller to keep the partial frame.
    pub fn decode_bytes(&mut self, buf: &mut Bytes) -> Result<Option<RemotingCommand>, CodecError> {
        let Some(total) = self.whole_frame(buf)? else {
            return Ok(None);
        };
        let mut frame = buf.split_to(total);
        frame.advance(LENGTH_FIELD_LEN);
        decode_frame(frame).map(Some)
    }

    /// The length of the whole frame (length field included) at the front of `buf`, or
    /// `None` while it is not all there.
    fn whole_frame(&self, buf: &[u8]) -> Result<Option<usize>, CodecError> {
        let Some(frame_len) = self.frame_len(buf)? else {
            return Ok(None);
        };
        let Some(total) = frame_len.checked_add(LENGTH_FIELD_LEN) else {
            // Unreachable in practice: frame_len came from an i32.
            return Err(CodecError::BadFrameLength(frame_len as i64));
        };
        Ok((buf.len() >= total).then_some(total))
    }

    /// The validated `frame_length` at the front of `buf`, or `None` if fewer than 4 bytes are
    /// buffered.
    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, CodecError> {
        let Some(&field) = buf.first_chunk::<LENGTH_FIELD_LEN>() else {
            return Ok(None);
        };
        let raw = i32::from_be_bytes(field);
        let len = usize::try_from(raw).map_err(|_| CodecError::BadFrameLength(i64::from(raw)))?;
        if len < HEADER_WORD_LEN {
            return Err(CodecError::BadFrameLength(i64::from(raw)));
        }
        if len > self.max_frame_len {
            return Err(CodecError::FrameTooLarge {
                len: len as u64,
                max: self.max_frame_len as u64,
            });
        }
        Ok(Some(len))
    }
}

/// Decodes one frame given *without* its 4-byte length field (`header_word | header | body`),
/// like Java's `RemotingCommand.decode`. The body is a zero-copy slice of `frame`.
pub fn decode_frame(mut frame: Bytes) -> Result<RemotingCommand, CodecError> {
    let frame_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let Some(&word) = frame.first_chunk::<HEADER_WORD_LEN>() else {
        return Err(CodecError::BadFrameLength(i64::from(frame_len)));
    };
    let word = u32::from_be_bytes(word);
    let header_len = word & MAX_HEADER_LEN as u32;
    let ser_code = (word >> 24) as u8;
    frame.advance(HEADER_WORD_LEN);
    let header_len_usize = header_len as usize;
    if header_len_usize > frame.len() {
        return Err(CodecError::BadHeaderLength {
            header: header_len,
            frame: frame_len,
        });
    }
    let ser =
        SerializeType::from_code(ser_code).ok_or(CodecError::UnknownSerializeType(ser_code))?;
    let body = frame.split_off(header_len_usize);
    let mut cmd = decode_header(ser, &frame)?;
    cmd.body = body;
    Ok(cmd)
}

/// Decodes a header (the bytes between the header word and the body) of serialization `ser`.
/// The returned command has an empty body.
pub fn decode_header(ser: SerializeType, header: &[u8]) -> Result<RemotingCommand, CodecError> {
    match ser {
        SerializeType::Json => json_header::decode(header),
        SerializeType::RocketMq => binary_header::decode(header),
    }
}

/// Encodes the header of `cmd` (without header word) in serialization `ser`.
///
/// Errors: [`CodecError::Unencodable`] for a binary header whose code or version does not fit
/// in an `i16`, or a string too long for its length field.
pub fn encode_header(cmd: &RemotingCommand, ser: SerializeType) -> Result<Vec<u8>, CodecError> {
    match ser {
        SerializeType::Json => json_header::encode(cmd),
        SerializeType::RocketMq => binary_header::encode(cmd),
    }
}

/// Encodes `cmd` as `(head, body)`: `head` holds the length field, header word and header,
/// `body` is `cmd.body` itself (not copied).
///
/// Errors: [`CodecError::Unencodable`] if the header cannot be encoded (see [`encode_header`]),
/// is longer than [`MAX_HEADER_LEN`], or the frame length overflows an `i32`. The frame is not
/// checked against any receive limit.
pub fn encode(cmd: &RemotingCommand, ser: SerializeType) -> Result<(Bytes, Bytes), CodecError> {
    let header = encode_header(cmd, ser)?;
    if header.len() > MAX_HEADER_LEN {
        return Err(CodecError::Unencodable(format!(
            "header of {} bytes exceeds {MAX_HEADER_LEN}",
            header.len()
        )));
    }
    let frame_len = HEADER_WORD_LEN
        .checked_add(header.len())
        .and_then(|n| n.checked_add(cmd.body.len()))
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| {
            CodecError::Unencodable(format!(
                "frame with a {} byte header and a {} byte body is too long",
                header.len(),
                cmd.body.len()
            ))
        })?;
    let header_word = (u32::from(ser.code()) << 24) | header.len() as u32;
    let mut head = BytesMut::with_capacity(LENGTH_FIELD_LEN + HEADER_WORD_LEN + header.len());
    head.put_i32(frame_len);
    head.put_u32(header_word);
    head.put_slice(&header);
    Ok((head.freeze(), cmd.body.clone()))
}

/// Encodes `cmd` into one contiguous buffer (tests, fuzzing, simulation).
pub fn encode_to_vec(cmd: &RemotingCommand, ser: SerializeType) -> Result<Vec<u8>, CodecError> {
    let (head, body) = encode(cmd, ser)?;
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{LanguageCode, FLAG_RESPONSE};

    fn sample() -> RemotingCommand {
        RemotingCommand::request_code(310)
            .with_field("a", "topic")
            .with_field("b", "1")
            .with_remark("r")
            .with_body(&b"hello body"[..])
    }

    const BOTH: [SerializeType; 2] = [SerializeType::Json, SerializeType::RocketMq];

    #[test]
    fn round_trip_both() {
        for ser in BOTH {
            let bytes = encode_to_vec(&sample(), ser).unwrap();
            let mut buf = BytesMut::from(&bytes[..]);
            let cmd = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
            assert_eq!(cmd, sample());
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn head_layout() {
        let cmd = sample();
        let (head, body) = encode(&cmd, SerializeType::RocketMq).unwrap();
        let header = binary_header::encode(&cmd).unwrap();
        let frame_len = 4 + header.len() + body.len();
        assert_eq!(head[..4], (frame_len as i32).to_be_bytes());
        assert_eq!(head[4], 1);
        assert_eq!(head[5..8], (header.len() as u32).to_be_bytes()[1..]);
        assert_eq!(head[8..], header[..]);
        assert_eq!(head.len(), 8 + header.len());
    }

    #[test]
    fn body_is_not_copied() {
        let cmd = sample();
        let (_, body) = encode(&cmd, SerializeType::Json).unwrap();
        assert_eq!(body.as_ptr(), cmd.body.as_ptr());

        let bytes = encode_to_vec(&cmd, SerializeType::Json).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let start = buf.as_ptr() as usize;
        let decoded = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        let body_at = decoded.body.as_ptr() as usize;
        assert_eq!(body_at, start + bytes.len() - cmd.body.len());
    }

    #[test]
    fn needs_more_consumes_nothing() {
        let bytes = encode_to_vec(&sample(), SerializeType::Json).unwrap();
        let mut dec = FrameDecoder::default();
        for n in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..n]);
            assert_eq!(dec.decode(&mut buf), Ok(None), "prefix {n}");
            assert_eq!(buf.len(), n);
        }
    }

    #[test]
    fn length_checked_from_four_bytes() {
        let mut dec = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&101i32.to_be_bytes()[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(CodecError::FrameTooLarge { len: 101, max: 100 })
        );
        let mut buf = BytesMut::from(&100i32.to_be_bytes()[..]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        for bad in [-1i32, i32::MIN, 0, 3] {
            let mut buf = BytesMut::from(&bad.to_be_bytes()[..]);
            assert_eq!(
                dec.decode(&mut buf),
                Err(CodecError::BadFrameLength(i64::from(bad)))
            );
        }
    }

    #[test]
    fn frame_with_empty_header_word_only() {
        // frame_length 4 and header length 0: the JSON header is empty and does not parse.
        let mut buf = BytesMut::from(&[0, 0, 0, 4, 0, 0, 0, 0][..]);
        assert!(matches!(
            FrameDecoder::default().decode(&mut buf),
            Err(CodecError::BadJsonHeader(_))
        ));
    }

    #[test]
    fn bad_header_length_and_type() {
        assert_eq!(
            decode_frame(Bytes::from_static(&[0, 0, 0, 5, b'{', b'}'])),
            Err(CodecError::BadHeaderLength {
                header: 5,
                frame: 6
            })
        );
        assert_eq!(
            decode_frame(Bytes::from_static(&[2, 0, 0, 0])),
            Err(CodecError::UnknownSerializeType(2))
        );
        assert_eq!(
            decode_frame(Bytes::from_static(&[0, 0])),
            Err(CodecError::BadFrameLength(2))
        );
    }

    #[test]
    fn decode_frame_matches_decoder() {
        let cmd = RemotingCommand::response_to(
            &RemotingCommand::request_code(1),
            crate::codec::ResponseCode::Success,
        );
        let bytes = encode_to_vec(&cmd, SerializeType::RocketMq).unwrap();
        let decoded = decode_frame(Bytes::copy_from_slice(&bytes[4..])).unwrap();
        assert_eq!(decoded, cmd);
        assert_eq!(decoded.flag, FLAG_RESPONSE);
        assert_eq!(decoded.language, LanguageCode::Rust);
    }

    #[test]
    fn header_too_long_is_unencodable() {
        let cmd = RemotingCommand::request_code(1).with_remark("x".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            encode(&cmd, SerializeType::RocketMq),
            Err(CodecError::Unencodable(_))
        ));
    }
}
