//! Frames and remoting commands: the wire layer.
//!
//! A frame is `frame_length:i32 | header_word:i32 | header | body` (big-endian), where the
//! header word carries the serialize type in its high byte and the header length in the low 24
//! bits. [`FrameDecoder`] splits whole frames out of a `BytesMut` without copying the body;
//! [`encode`] produces a `(head, body)` pair so the body is never copied either.
//!
//! Headers come in two serializations, chosen per frame by the sender: JSON (Java's and Go's
//! default) and RocketMQ's binary layout. A client must decode both on every connection.
//! [`decode_frame`], [`decode_header`] and [`encode_header`] expose the pieces for fuzzing and
//! tests. Every decode failure is a [`CodecError`]; after one the connection is to be closed.

mod binary_header;
mod code;
mod command;
mod frame;
mod json_header;

pub use code::{LanguageCode, RequestCode, ResponseCode};
pub use command::{RemotingCommand, CLIENT_VERSION, FLAG_ONEWAY, FLAG_RESPONSE};
pub use frame::{
    decode_frame, decode_header, encode, encode_header, encode_to_vec, FrameDecoder,
    DEFAULT_MAX_FRAME_LEN, MAX_HEADER_LEN,
};

/// How a command header is serialized (high byte of the header word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// A UTF-8 JSON object (type 0). Java's and Go's default.
    #[default]
    Json,
    /// RocketMQ's compact binary layout (type 1).
    RocketMq,
}

impl SerializeType {
    /// The type byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// The type for a wire byte, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    /// The type to write `cmd` with when this one is preferred: JSON for a command whose code
    /// or version does not fit a binary header's 16 bits (the 5.x POP codes, 200050 and up),
    /// which Java would truncate. Brokers read each frame's type from its header word.
    pub fn for_command(self, cmd: &RemotingCommand) -> SerializeType {
        let fits = |v: i32| i16::try_from(v).is_ok();
        match self {
            SerializeType::RocketMq if !fits(cmd.code) || !fits(cmd.version) => SerializeType::Json,
            other => other,
        }
    }
}

/// Why bytes could not be read or written as a remoting frame. The peer is to blame for every
/// decode variant; the connection that produced them should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The frame length field exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Declared frame length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The frame length is too small to hold a header word, or negative.
    #[error("invalid frame length {0}")]
    BadFrameLength(i64),
    /// The header length does not fit inside the frame.
    #[error("header length {header} does not fit in a frame of {frame} bytes")]
    BadHeaderLength {
        /// Declared header length.
        header: u32,
        /// Frame length (without the length field).
        frame: u32,
    },
    /// The serialize type byte is neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    /// A JSON header that does not parse or lacks required members.
    #[error("malformed JSON header: {0}")]
    BadJsonHeader(String),
    /// A binary header whose lengths or strings are inconsistent.
    #[error("malformed binary header: {0}")]
    BadBinaryHeader(String),
    /// A command that cannot be encoded (e.g. a code too large for a binary header).
    #[error("cannot encode command: {0}")]
    Unencodable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_codes_are_written_as_json_when_binary_is_preferred() {
        let pop = RemotingCommand::request_code(200050);
        assert_eq!(
            SerializeType::RocketMq.for_command(&pop),
            SerializeType::Json
        );
        assert_eq!(SerializeType::Json.for_command(&pop), SerializeType::Json);
        let pull = RemotingCommand::request_code(11);
        assert_eq!(
            SerializeType::RocketMq.for_command(&pull),
            SerializeType::RocketMq
        );
        let frame = encode_to_vec(&pop, SerializeType::RocketMq.for_command(&pop)).unwrap();
        assert_eq!(frame[4], 0, "header word type byte: JSON");
    }
}
