//! Connection plumbing shared by the simulated namesrv and brokers: per-connection receive
//! buffers, frame splitting with the real codec, and the IO queue the world drains.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use rocketwire_core::codec::{decode_frame, encode_to_vec, FLAG_ONEWAY, FLAG_RESPONSE};
use rocketwire_core::{RemotingCommand, ResponseCode, SerializeType};

use crate::net::LinkId;

/// What a simulated server asks of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerIo {
    /// Write `bytes` (whole frames) on `link`.
    Send {
        /// Connection.
        link: LinkId,
        /// Encoded frames.
        bytes: Bytes,
    },
    /// Close `link` (the client sees it closed after data in flight).
    Close {
        /// Connection.
        link: LinkId,
    },
}

/// A request as a server received it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) link: LinkId,
    pub(crate) ser: SerializeType,
    pub(crate) cmd: RemotingCommand,
}

/// Splits one raw frame (length field included) off `buf`. A length field that cannot be
/// valid makes the whole rest of the buffer one "frame" (the receiver's decoder rejects it).
pub(crate) fn split_frame(buf: &mut BytesMut) -> Option<Bytes> {
    let field = buf.first_chunk::<4>()?;
    let len = i32::from_be_bytes(*field);
    match usize::try_from(len).ok().and_then(|l| l.checked_add(4)) {
        Some(total) if len >= 4 => (buf.len() >= total).then(|| buf.split_to(total).freeze()),
        _ => Some(buf.split().freeze()),
    }
}

/// Decodes a raw frame (length field included) and its serialize type.
pub(crate) fn decode_raw(raw: &Bytes) -> Option<(RemotingCommand, SerializeType)> {
    let ser = SerializeType::from_code(*raw.get(4)?)?;
    let cmd = decode_frame(raw.slice(4..)).ok()?;
    Some((cmd, ser))
}

/// Encodes a command; `None` only for commands the codec refuses (never built here).
pub(crate) fn encode(cmd: &RemotingCommand, ser: SerializeType) -> Option<Bytes> {
    encode_to_vec(cmd, ser).ok().map(Bytes::from)
}

/// The connections of one server.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    rx: BTreeMap<LinkId, (BytesMut, SocketAddr)>,
    io: VecDeque<ServerIo>,
    next_opaque: i32,
}

impl Conns {
    pub(crate) fn accept(&mut self, link: LinkId, peer: SocketAddr) {
        self.rx.insert(link, (BytesMut::new(), peer));
    }

    /// Forgets `link`; returns whether it was known.
    pub(crate) fn closed(&mut self, link: LinkId) -> bool {
        self.rx.remove(&link).is_some()
    }

    pub(crate) fn peer(&self, link: LinkId) -> Option<SocketAddr> {
        self.rx.get(&link).map(|(_, peer)| *peer)
    }

    /// Buffers bytes and returns every whole request; a malformed frame closes the link.
    pub(crate) fn receive(&mut self, link: LinkId, bytes: &[u8]) -> Vec<Incoming> {
        let mut out = Vec::new();
        let Some((buf, _)) = self.rx.get_mut(&link) else {
            return out;
        };
        buf.extend_from_slice(bytes);
        while let Some(raw) = split_frame(buf) {
            match decode_raw(&raw) {
                Some((cmd, ser)) => out.push(Incoming { link, ser, cmd }),
                None => {
                    self.rx.remove(&link);
                    self.io.push_back(ServerIo::Close { link });
                    return out;
                }
            }
        }
        out
    }

    /// Answers `req` with `response` (opaque and response flag set here).
    pub(crate) fn respond(&mut self, req: &Incoming, mut response: RemotingCommand) {
        if req.cmd.is_oneway() {
            return;
        }
        response.opaque = req.cmd.opaque;
        response.flag |= FLAG_RESPONSE;
        self.send(req.link, req.ser, &response);
    }

    /// Answers `req` with a bare `code` and `remark`.
    pub(crate) fn respond_code(&mut self, req: &Incoming, code: ResponseCode, remark: &str) {
        let response = RemotingCommand::response_to(&req.cmd, code).with_remark(remark);
        self.respond(req, response);
    }

    /// Sends a oneway request to the client on `link`.
    pub(crate) fn send_oneway(&mut self, link: LinkId, mut request: RemotingCommand) {
        self.next_opaque = self.next_opaque.wrapping_add(1);
        request.opaque = self.next_opaque;
        request.flag = (request.flag | FLAG_ONEWAY) & !FLAG_RESPONSE;
        self.send(link, SerializeType::Json, &request);
    }

    fn send(&mut self, link: LinkId, ser: SerializeType, cmd: &RemotingCommand) {
        if !self.rx.contains_key(&link) {
            return;
        }
        if let Some(bytes) = encode(cmd, ser) {
            self.io.push_back(ServerIo::Send { link, bytes });
        }
    }

    /// Closes `link` from the server side.
    pub(crate) fn close(&mut self, link: LinkId) {
        if self.rx.remove(&link).is_some() {
            self.io.push_back(ServerIo::Close { link });
        }
    }

    /// Drops every connection without notice (a crash); returns their links.
    pub(crate) fn crash(&mut self) -> Vec<LinkId> {
        self.io.clear();
        std::mem::take(&mut self.rx).into_keys().collect()
    }

    pub(crate) fn poll_io(&mut self) -> Option<ServerIo> {
        self.io.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketwire_core::RequestCode;

    #[test]
    fn split_frame_waits_for_whole_frames_and_passes_garbage_through() {
        let cmd = RemotingCommand::request(RequestCode::HeartBeat).with_body(&b"xyz"[..]);
        let raw = encode(&cmd, SerializeType::Json).unwrap();
        let mut buf = BytesMut::from(&raw[..raw.len() - 1]);
        assert_eq!(split_frame(&mut buf), None);
        buf.extend_from_slice(&raw[raw.len() - 1..]);
        let frame = split_frame(&mut buf).unwrap();
        assert_eq!(decode_raw(&frame).unwrap().0, cmd);
        let mut bad = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2][..]);
        assert_eq!(split_frame(&mut bad).unwrap().len(), 6);
        assert!(bad.is_empty());
    }
}
