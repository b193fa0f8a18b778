//! Frame splitting and encoding. (Skeleton: to be completed by the codec work.)

use bytes::{Bytes, BytesMut};

use super::{CodecError, RemotingCommand, SerializeType};

/// Default maximum frame length (Java `frameMaxLength`): 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Incremental frame decoder over a connection's receive buffer.
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
    /// A decoder refusing frames longer than `max_frame_len` bytes.
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }

    /// Splits one whole frame off the front of `buf` and decodes it; `Ok(None)` means more
    /// bytes are needed. Limits are checked before the frame is buffered.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        let _ = (buf, self.max_frame_len);
        unimplemented!("frame decoding")
    }
}

/// Encodes `cmd` as `(head, body)`: `head` holds the length field, header word and header,
/// `body` is `cmd.body` itself (not copied).
pub fn encode(cmd: &RemotingCommand, ser: SerializeType) -> Result<(Bytes, Bytes), CodecError> {
    let _ = (cmd, ser);
    unimplemented!("frame encoding")
}

/// Encodes `cmd` into one contiguous buffer (tests, fuzzing, simulation).
pub fn encode_to_vec(cmd: &RemotingCommand, ser: SerializeType) -> Result<Vec<u8>, CodecError> {
    let (head, body) = encode(cmd, ser)?;
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&body);
    Ok(out)
}

#[allow(dead_code)]
fn _unused(_: BytesMut) {}
