//! One blocking socket of remoting frames, the floors' only transport: each command written
//! whole with the next opaque, each answer read back through the core's [`FrameDecoder`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use rocketwire_core::codec::{encode_to_vec, FrameDecoder, RemotingCommand};
use rocketwire_core::SerializeType;

/// Largest frame read back.
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Bytes read from the socket at a time.
const CHUNK: usize = 64 * 1024;

/// A connection to one broker.
pub(crate) struct FrameSocket {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    serialize: SerializeType,
    next_opaque: i32,
}

impl FrameSocket {
    /// Connects to `addr` with Nagle off; reads give up after `read_timeout` if given. Headers
    /// are encoded as `serialize`; `buffer` is the read buffer's first capacity.
    pub(crate) fn connect(
        addr: &str,
        serialize: SerializeType,
        read_timeout: Option<Duration>,
        buffer: usize,
    ) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        if read_timeout.is_some() {
            stream
                .set_read_timeout(read_timeout)
                .map_err(|e| format!("read timeout: {e}"))?;
        }
        Ok(Self {
            stream,
            decoder: FrameDecoder::new(MAX_FRAME),
            buf: BytesMut::with_capacity(buffer),
            serialize,
            next_opaque: 1,
        })
    }

    /// Writes `command` with the next opaque; returns that opaque.
    pub(crate) fn write(&mut self, mut command: RemotingCommand) -> Result<i32, String> {
        command.opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let frame = encode_to_vec(&command, self.serialize).map_err(|e| format!("encode: {e}"))?;
        self.stream
            .write_all(&frame)
            .map_err(|e| format!("write: {e}"))?;
        Ok(command.opaque)
    }

    /// Reads until one frame is whole.
    pub(crate) fn read(&mut self) -> Result<RemotingCommand, String> {
        loop {
            if let Some(frame) = self
                .decoder
                .decode(&mut self.buf)
                .map_err(|e| format!("decode: {e}"))?
            {
                return Ok(frame);
            }
            let mut chunk = [0u8; CHUNK];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the broker closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
