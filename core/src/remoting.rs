//! Per-connection correlation: opaques, the pending table, deadlines, oneway requests and
//! broker→client requests.
//!
//! [`Remoting`] owns every connection of a client. Requests are queued on a connection (opened
//! on demand, one per address), written once it is up, and matched to responses by opaque.
//! Each pending request has a deadline in one ordered index; a closed connection fails all of its
//! pending requests at once. Nothing here reads a clock: every call takes `now`.
//!
//! ```text
//! send_request ──► [conn: Connecting ─ Connected ─► Open] ──► poll_io: Transmit
//! handle_received ──► frames ──► response? ─ pending[opaque] ─► poll_completion
//!                               └ request? ─────────────────► poll_request (+ AnswerToken)
//! handle_timeout(now) ──► expired deadlines ─► Timeout completions
//! ```
//!
//! Every pending request lives in a `rocketwire.request` span (debug level; fields `peer`,
//! `code`, `opaque`, and `result`: the response code, `timeout` or the error) from its
//! write until its completion, as a child of the span current when it was sent. Connections
//! opening and ending come out of [`Remoting::poll_conn_change`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::acl::Credentials;
use crate::codec::{self, CodecError, FrameDecoder, RemotingCommand, SerializeType, FLAG_RESPONSE};
use crate::{ConnId, OpId};

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The deadline passed before a response arrived.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be opened.
    #[error("could not connect to {addr}: {reason}")]
    ConnectFailed {
        /// Remote address.
        addr: String,
        /// What the adapter reported.
        reason: String,
    },
    /// The connection was opened but could not be secured (see [`crate::tls`]).
    #[error("could not secure the connection to {addr}: {error}")]
    Tls {
        /// Remote address.
        addr: String,
        /// What failed.
        error: crate::TlsError,
    },
    /// The connection closed (or was closed for a protocol error) before the response.
    #[error("connection to {addr} closed before the response")]
    ConnectionClosed {
        /// Remote address.
        addr: String,
    },
    /// The peer sent bytes that are not a valid frame; the connection was closed.
    #[error("peer {addr} sent a malformed frame: {error}")]
    Protocol {
        /// Remote address.
        addr: String,
        /// What was wrong.
        error: CodecError,
    },
    /// Our own command could not be encoded (API misuse).
    #[error("request cannot be encoded: {0}")]
    Encode(CodecError),
    /// The client is shutting down.
    #[error("client is shut down")]
    Shutdown,
}

/// A protocol fault of a peer that did not fail any request of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A response whose opaque matches no pending request (late, duplicated or invented).
    /// It is dropped; the connection stays open.
    #[error("response with unknown opaque {opaque} (code {code})")]
    UnknownOpaque {
        /// The opaque.
        opaque: i32,
        /// Its response code.
        code: i32,
    },
    /// Bytes that are not a valid frame; the connection is closed.
    #[error("malformed frame: {0}")]
    Malformed(CodecError),
}

/// A request sent to us by a broker or namesrv.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingRequest {
    /// Where it came from (`host:port`).
    pub addr: String,
    /// The request.
    pub command: RemotingCommand,
    /// The token to answer with; `None` for oneway requests.
    pub token: Option<AnswerToken>,
}

/// Lets the holder answer one broker→client request.
#[must_use = "a broker request with a token expects an answer"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerToken {
    pub(crate) conn: ConnId,
    pub(crate) opaque: i32,
}

impl AnswerToken {
    /// The opaque of the request being answered.
    pub fn opaque(&self) -> i32 {
        self.opaque
    }
}

/// A connection of the client came up or went away (for operators: see
/// [`crate::ClientNotice`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnChange {
    /// A connection to `addr` is open.
    Opened {
        /// `host:port`.
        addr: String,
    },
    /// A connection to `addr` could not be opened.
    Failed {
        /// `host:port`.
        addr: String,
        /// Why.
        error: InvokeError,
    },
    /// An open connection to `addr` ended.
    Closed {
        /// `host:port`.
        addr: String,
        /// Why: [`InvokeError::ConnectionClosed`] when the peer or the network ended it,
        /// [`InvokeError::Shutdown`] when the client closed.
        error: InvokeError,
    },
}

/// An IO action for the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Io {
    /// Open a connection.
    Connect {
        /// New connection id.
        conn: ConnId,
        /// `host:port`.
        addr: String,
    },
    /// Write `head` then `body`.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// Length, header word and header.
        head: Bytes,
        /// Body (shared, not copied).
        body: Bytes,
    },
    /// Close a connection.
    Close {
        /// Connection.
        conn: ConnId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Connecting,
    Open,
}

#[derive(Debug)]
struct Pending {
    op: OpId,
    deadline: Instant,
    /// `rocketwire.request`, closed with the request.
    span: tracing::Span,
}

impl Pending {
    fn finish(self, result: &Result<RemotingCommand, InvokeError>) -> OpId {
        match result {
            Ok(response) => self.span.record("result", response.code),
            Err(InvokeError::Timeout) => self.span.record("result", "timeout"),
            Err(e) => self.span.record("result", tracing::field::display(e)),
        };
        self.op
    }
}

#[derive(Debug)]
struct Conn {
    addr: String,
    state: ConnState,
    connect_deadline: Instant,
    rx: BytesMut,
    /// Frames written before the connection was up.
    queued: Vec<(Bytes, Bytes)>,
    pending: HashMap<i32, Pending>,
}

/// The client's own connections to one address, for telling them from another client's
/// in a broker's connection list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnHistory {
    /// Connections established so far.
    pub opened: u64,
    /// The open connection's local address, when the adapter told it
    /// ([`crate::Input::LocalAddr`]).
    pub current: Option<String>,
    /// Local addresses of this and earlier connections, newest first (at most
    /// [`ConnHistory::KEPT`]).
    pub local_addrs: VecDeque<String>,
}

impl ConnHistory {
    /// How many local addresses are kept.
    pub const KEPT: usize = 8;
}

/// What a deadline in the index belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    Connect(ConnId),
    Request(ConnId, i32),
}

/// Settings of the remoting layer.
#[derive(Debug, Clone)]
pub struct RemotingConfig {
    /// Header serialization of the commands we send.
    pub serialize_type: SerializeType,
    /// Largest frame accepted from a peer.
    pub max_frame_len: usize,
    /// How long a connection may take to open.
    pub connect_timeout: Duration,
    /// ACL credentials every request is signed with ([`crate::acl`]); `None`: unsigned.
    pub credentials: Option<Credentials>,
}

/// Every connection of one client and the requests pending on them.
#[derive(Debug)]
pub struct Remoting {
    config: RemotingConfig,
    decoder: FrameDecoder,
    conns: HashMap<ConnId, Conn>,
    by_addr: HashMap<String, ConnId>,
    next_conn: u64,
    next_opaque: i32,
    deadlines: BTreeSet<(Instant, Deadline)>,
    io: VecDeque<Io>,
    completions: VecDeque<(OpId, Result<RemotingCommand, InvokeError>)>,
    requests: VecDeque<IncomingRequest>,
    peer_errors: VecDeque<(String, PeerError)>,
    conn_changes: VecDeque<ConnChange>,
    /// Our own connections, per address (a client-id check tells them, current and past, from
    /// another client's).
    history: HashMap<String, ConnHistory>,
    shut_down: bool,
}

impl Remoting {
    /// An empty table.
    pub fn new(config: RemotingConfig) -> Self {
        Self {
            decoder: FrameDecoder::new(config.max_frame_len),
            config,
            conns: HashMap::new(),
            by_addr: HashMap::new(),
            next_conn: 1,
            next_opaque: 1,
            deadlines: BTreeSet::new(),
            io: VecDeque::new(),
            completions: VecDeque::new(),
            requests: VecDeque::new(),
            peer_errors: VecDeque::new(),
            conn_changes: VecDeque::new(),
            history: HashMap::new(),
            shut_down: false,
        }
    }

    /// Sends a request for operation `op`; its result comes out of [`Remoting::poll_completion`].
    pub fn send_request(
        &mut self,
        now: Instant,
        op: OpId,
        addr: &str,
        mut command: RemotingCommand,
        timeout: Duration,
    ) {
        if self.shut_down {
            self.completions.push_back((op, Err(InvokeError::Shutdown)));
            return;
        }
        let conn_id = self.conn_for(now, addr);
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let opaque = allocate_opaque(&mut self.next_opaque, &conn.pending);
        command.opaque = opaque;
        command.flag &= !(FLAG_RESPONSE | codec::FLAG_ONEWAY);
        if let Some(credentials) = &self.config.credentials {
            credentials.sign(&mut command);
        }
        let frame = match codec::encode(&command, self.config.serialize_type.for_command(&command))
        {
            Ok(frame) => frame,
            Err(e) => {
                self.completions
                    .push_back((op, Err(InvokeError::Encode(e))));
                return;
            }
        };
        let deadline = now + timeout;
        let span = tracing::debug_span!(
            "rocketwire.request",
            peer = %conn.addr,
            code = command.code,
            opaque,
            result = tracing::field::Empty,
        );
        conn.pending.insert(opaque, Pending { op, deadline, span });
        self.deadlines
            .insert((deadline, Deadline::Request(conn_id, opaque)));
        Self::write(&mut self.io, conn_id, conn, frame);
    }

    /// Sends a oneway request: no response is expected and nothing is reported.
    pub fn send_oneway(&mut self, now: Instant, addr: &str, mut command: RemotingCommand) {
        if self.shut_down {
            return;
        }
        let conn_id = self.conn_for(now, addr);
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        command.opaque = allocate_opaque(&mut self.next_opaque, &conn.pending);
        command.flag = (command.flag | codec::FLAG_ONEWAY) & !FLAG_RESPONSE;
        if let Some(credentials) = &self.config.credentials {
            credentials.sign(&mut command);
        }
        match codec::encode(&command, self.config.serialize_type.for_command(&command)) {
            Ok(frame) => Self::write(&mut self.io, conn_id, conn, frame),
            Err(e) => tracing::warn!(error = %e, "oneway request cannot be encoded; dropped"),
        }
    }

    /// Answers a broker→client request. Dropped if that connection has gone.
    pub fn answer(&mut self, token: AnswerToken, mut response: RemotingCommand) {
        let Some(conn) = self.conns.get_mut(&token.conn) else {
            return;
        };
        response.opaque = token.opaque;
        response.flag = (response.flag | FLAG_RESPONSE) & !codec::FLAG_ONEWAY;
        match codec::encode(&response, self.config.serialize_type.for_command(&response)) {
            Ok(frame) => Self::write(&mut self.io, token.conn, conn, frame),
            Err(e) => tracing::warn!(error = %e, "answer cannot be encoded; dropped"),
        }
    }

    /// The adapter opened `conn`.
    pub fn handle_connected(&mut self, conn_id: ConnId) {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if conn.state == ConnState::Open {
            return;
        }
        let history = self.history.entry(conn.addr.clone()).or_default();
        history.opened += 1;
        history.current = None;
        conn.state = ConnState::Open;
        self.conn_changes.push_back(ConnChange::Opened {
            addr: conn.addr.clone(),
        });
        self.deadlines
            .remove(&(conn.connect_deadline, Deadline::Connect(conn_id)));
        for (head, body) in conn.queued.drain(..) {
            self.io.push_back(Io::Transmit {
                conn: conn_id,
                head,
                body,
            });
        }
    }

    /// The adapter could not open `conn`.
    pub fn handle_connect_failed(&mut self, conn_id: ConnId, reason: &str) {
        let Some(addr) = self.conns.get(&conn_id).map(|c| c.addr.clone()) else {
            return;
        };
        self.drop_conn(
            conn_id,
            &InvokeError::ConnectFailed {
                addr,
                reason: reason.to_string(),
            },
            false,
        );
    }

    /// What the client knows of its own connections, per remote address.
    pub fn history(&self) -> &HashMap<String, ConnHistory> {
        &self.history
    }

    /// The adapter tells the local address (`ip:port`) of `conn`, once it is open.
    pub fn handle_local_addr(&mut self, conn_id: ConnId, local: &str) {
        let Some(conn) = self.conns.get(&conn_id) else {
            return;
        };
        let history = self.history.entry(conn.addr.clone()).or_default();
        history.current = Some(local.to_owned());
        history.local_addrs.retain(|a| a != local);
        history.local_addrs.push_front(local.to_owned());
        history.local_addrs.truncate(ConnHistory::KEPT);
    }

    /// The adapter opened `conn` but its TLS handshake failed.
    pub fn handle_tls_failed(&mut self, conn_id: ConnId, error: crate::TlsError) {
        let Some(addr) = self.conns.get(&conn_id).map(|c| c.addr.clone()) else {
            return;
        };
        self.drop_conn(conn_id, &InvokeError::Tls { addr, error }, false);
    }

    /// Bytes arrived on `conn` (copied into the connection's buffer).
    pub fn handle_received(&mut self, conn_id: ConnId, bytes: &[u8]) {
        self.handle_received_bytes(conn_id, Bytes::copy_from_slice(bytes));
    }

    /// Bytes arrived on `conn`. While no partial frame is buffered, whole frames are split off
    /// `bytes` without copying (their bodies stay slices of the read); only a partial frame
    /// at the end is copied into the connection's buffer, to wait for the rest.
    pub fn handle_received_bytes(&mut self, conn_id: ConnId, mut bytes: Bytes) {
        loop {
            let Some(conn) = self.conns.get_mut(&conn_id) else {
                return;
            };
            let decoded = if conn.rx.is_empty() {
                let decoded = self.decoder.decode_bytes(&mut bytes);
                if matches!(decoded, Ok(None)) {
                    conn.rx.extend_from_slice(&bytes);
                    return;
                }
                decoded
            } else {
                if !bytes.is_empty() {
                    conn.rx.extend_from_slice(&bytes);
                    bytes = Bytes::new();
                }
                self.decoder.decode(&mut conn.rx)
            };
            match decoded {
                Ok(Some(command)) => self.dispatch(conn_id, command),
                Ok(None) => return,
                Err(error) => {
                    let addr = conn.addr.clone();
                    tracing::warn!(%addr, %error, "malformed frame; closing connection");
                    self.peer_errors
                        .push_back((addr.clone(), PeerError::Malformed(error.clone())));
                    self.drop_conn(conn_id, &InvokeError::Protocol { addr, error }, true);
                    return;
                }
            }
        }
    }

    /// `conn` closed.
    pub fn handle_closed(&mut self, conn_id: ConnId) {
        let Some(addr) = self.conns.get(&conn_id).map(|c| c.addr.clone()) else {
            return;
        };
        self.drop_conn(conn_id, &InvokeError::ConnectionClosed { addr }, false);
    }

    /// Fails every request and connection attempt whose deadline is at or before `now`.
    /// Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, what)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            match what {
                Deadline::Request(conn_id, opaque) => {
                    if let Some(p) = self
                        .conns
                        .get_mut(&conn_id)
                        .and_then(|c| c.pending.remove(&opaque))
                    {
                        let result = Err(InvokeError::Timeout);
                        self.completions.push_back((p.finish(&result), result));
                    }
                }
                Deadline::Connect(conn_id) => {
                    let Some(addr) = self.conns.get(&conn_id).map(|c| c.addr.clone()) else {
                        continue;
                    };
                    self.drop_conn(
                        conn_id,
                        &InvokeError::ConnectFailed {
                            addr,
                            reason: "connect timed out".into(),
                        },
                        true,
                    );
                }
            }
        }
    }

    /// Signs every request from now on with `credentials` (`None`: unsigned). Servers
    /// authenticate a connection once, so every connection is closed: requests in flight on
    /// them fail with [`InvokeError::ConnectionClosed`], later ones open new connections.
    pub fn set_credentials(&mut self, credentials: Option<Credentials>) {
        self.config.credentials = credentials;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            let addr = self
                .conns
                .get(&id)
                .map(|c| c.addr.clone())
                .unwrap_or_default();
            self.drop_conn(id, &InvokeError::ConnectionClosed { addr }, true);
        }
    }

    /// Fails everything pending with [`InvokeError::Shutdown`] and closes every connection.
    /// Later requests fail at once.
    pub fn shutdown(&mut self) {
        self.shut_down = true;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.drop_conn(id, &InvokeError::Shutdown, true);
        }
    }

    /// The earliest deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The next IO action.
    pub fn poll_io(&mut self) -> Option<Io> {
        self.io.pop_front()
    }

    /// The next finished request.
    pub fn poll_completion(&mut self) -> Option<(OpId, Result<RemotingCommand, InvokeError>)> {
        self.completions.pop_front()
    }

    /// The next broker→client request.
    pub fn poll_request(&mut self) -> Option<IncomingRequest> {
        self.requests.pop_front()
    }

    /// The next peer protocol fault (for logging and events).
    pub fn poll_peer_error(&mut self) -> Option<(String, PeerError)> {
        self.peer_errors.pop_front()
    }

    /// The next connection that opened, failed to open or ended.
    pub fn poll_conn_change(&mut self) -> Option<ConnChange> {
        self.conn_changes.pop_front()
    }

    /// Number of open or opening connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of requests waiting for a response.
    pub fn pending_count(&self) -> usize {
        self.conns.values().map(|c| c.pending.len()).sum()
    }

    /// The address of a connection.
    pub fn addr_of(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).map(|c| c.addr.as_str())
    }

    fn conn_for(&mut self, now: Instant, addr: &str) -> ConnId {
        if let Some(id) = self.by_addr.get(addr) {
            return *id;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let connect_deadline = now + self.config.connect_timeout;
        self.conns.insert(
            id,
            Conn {
                addr: addr.to_string(),
                state: ConnState::Connecting,
                connect_deadline,
                rx: BytesMut::new(),
                queued: Vec::new(),
                pending: HashMap::new(),
            },
        );
        self.by_addr.insert(addr.to_string(), id);
        self.deadlines
            .insert((connect_deadline, Deadline::Connect(id)));
        self.io.push_back(Io::Connect {
            conn: id,
            addr: addr.to_string(),
        });
        id
    }

    fn write(
        io: &mut VecDeque<Io>,
        conn_id: ConnId,
        conn: &mut Conn,
        (head, body): (Bytes, Bytes),
    ) {
        match conn.state {
            ConnState::Open => io.push_back(Io::Transmit {
                conn: conn_id,
                head,
                body,
            }),
            ConnState::Connecting => conn.queued.push((head, body)),
        }
    }

    fn dispatch(&mut self, conn_id: ConnId, command: RemotingCommand) {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if command.is_response() {
            match conn.pending.remove(&command.opaque) {
                Some(p) => {
                    self.deadlines
                        .remove(&(p.deadline, Deadline::Request(conn_id, command.opaque)));
                    let result = Ok(command);
                    self.completions.push_back((p.finish(&result), result));
                }
                None => {
                    let error = PeerError::UnknownOpaque {
                        opaque: command.opaque,
                        code: command.code,
                    };
                    tracing::debug!(addr = %conn.addr, %error, "response dropped");
                    self.peer_errors.push_back((conn.addr.clone(), error));
                }
            }
        } else {
            let token = (!command.is_oneway()).then_some(AnswerToken {
                conn: conn_id,
                opaque: command.opaque,
            });
            self.requests.push_back(IncomingRequest {
                addr: conn.addr.clone(),
                command,
                token,
            });
        }
    }

    fn drop_conn(&mut self, conn_id: ConnId, error: &InvokeError, emit_close: bool) {
        let Some(conn) = self.conns.remove(&conn_id) else {
            return;
        };
        if self.by_addr.get(&conn.addr) == Some(&conn_id) {
            self.by_addr.remove(&conn.addr);
            if let Some(history) = self.history.get_mut(&conn.addr) {
                history.current = None;
            }
        }
        let addr = conn.addr.clone();
        self.conn_changes.push_back(match conn.state {
            ConnState::Connecting => {
                self.deadlines
                    .remove(&(conn.connect_deadline, Deadline::Connect(conn_id)));
                ConnChange::Failed {
                    addr,
                    error: error.clone(),
                }
            }
            ConnState::Open => ConnChange::Closed {
                addr,
                error: error.clone(),
            },
        });
        // Fail in opaque order so the outcome does not depend on hash order.
        let mut pending: Vec<(i32, Pending)> = conn.pending.into_iter().collect();
        pending.sort_by_key(|(opaque, _)| *opaque);
        for (opaque, p) in pending {
            self.deadlines
                .remove(&(p.deadline, Deadline::Request(conn_id, opaque)));
            let result = Err(error.clone());
            self.completions.push_back((p.finish(&result), result));
        }
        if emit_close {
            self.io.push_back(Io::Close { conn: conn_id });
        }
    }
}

fn allocate_opaque(next: &mut i32, in_use: &HashMap<i32, Pending>) -> i32 {
    loop {
        let opaque = *next;
        *next = next.wrapping_add(1);
        if !in_use.contains_key(&opaque) {
            return opaque;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

    use super::*;
    use crate::spans_for_tests::SpanRecorder;

    const PEER: &str = "127.0.0.1:10911";

    fn remoting() -> Remoting {
        Remoting::new(RemotingConfig {
            serialize_type: SerializeType::Json,
            max_frame_len: 1 << 20,
            connect_timeout: Duration::from_secs(3),
            credentials: None,
        })
    }

    fn frame_of(response: &RemotingCommand) -> Vec<u8> {
        codec::encode_to_vec(response, SerializeType::Json).expect("encodable")
    }

    #[test]
    fn each_request_has_a_span_closed_with_its_result_and_connections_report_changes() {
        let recorder = SpanRecorder::default();
        let now = Instant::now();
        let mut r = remoting();
        recorder.run(|| {
            let parent = tracing::debug_span!("caller");
            let _in = parent.enter();
            for (op, code) in [(1, 11), (2, 12)] {
                let request = RemotingCommand::request_code(code);
                r.send_request(now, OpId(op), PEER, request, Duration::from_secs(1));
            }
        });
        let conn = match r.poll_io() {
            Some(Io::Connect { conn, .. }) => conn,
            other => panic!("a connect first: {other:?}"),
        };
        r.handle_connected(conn);
        assert_eq!(
            r.poll_conn_change(),
            Some(ConnChange::Opened { addr: PEER.into() })
        );
        let mut request = RemotingCommand::request_code(11);
        request.opaque = 1;
        let response = RemotingCommand::response_to(&request, crate::ResponseCode::Success);
        recorder.run(|| r.handle_received(conn, &frame_of(&response)));
        assert_eq!(r.poll_completion().map(|(op, _)| op), Some(OpId(1)));
        recorder.run(|| r.handle_closed(conn));

        let spans = recorder.named("rocketwire.request");
        assert_eq!(spans.len(), 2, "{spans:?}");
        for (span, (code, opaque)) in spans.iter().zip([("11", "1"), ("12", "2")]) {
            assert_eq!(span.parent, Some("caller"));
            assert_eq!(span.fields["peer"], PEER);
            assert_eq!(span.fields["code"], code);
            assert_eq!(span.fields["opaque"], opaque);
        }
        assert_eq!(spans[0].fields["result"], "0", "answered with SUCCESS");
        assert!(
            spans[1].fields["result"].contains("closed"),
            "failed by the close: {:?}",
            spans[1].fields
        );
        let closed = ConnChange::Closed {
            addr: PEER.into(),
            error: InvokeError::ConnectionClosed { addr: PEER.into() },
        };
        assert_eq!(r.poll_conn_change(), Some(closed));
        assert_eq!(r.poll_conn_change(), None);
    }

    #[test]
    fn frames_split_anywhere_across_reads_are_decoded_once_and_bodies_shared() {
        let now = Instant::now();
        let responses: Vec<RemotingCommand> = (1..=3)
            .map(|opaque| {
                let mut request = RemotingCommand::request_code(11);
                request.opaque = opaque;
                RemotingCommand::response_to(&request, crate::ResponseCode::Success)
                    .with_body(vec![opaque as u8; 10 * opaque as usize])
            })
            .collect();
        let stream: Vec<u8> = responses.iter().flat_map(frame_of).collect();
        for cut in 0..=stream.len() {
            for second_cut in [cut, (cut + 7).min(stream.len())] {
                let mut r = remoting();
                for op in 1..=3 {
                    r.send_request(
                        now,
                        OpId(op),
                        PEER,
                        RemotingCommand::request_code(11),
                        Duration::from_secs(1),
                    );
                }
                let Some(Io::Connect { conn, .. }) = r.poll_io() else {
                    panic!("a connect first");
                };
                r.handle_connected(conn);
                let stream = Bytes::from(stream.clone());
                let first = stream.slice(..cut);
                r.handle_received_bytes(conn, first.clone());
                r.handle_received_bytes(conn, stream.slice(cut..second_cut));
                r.handle_received_bytes(conn, stream.slice(second_cut..));
                let done: Vec<(OpId, Bytes)> = std::iter::from_fn(|| r.poll_completion())
                    .map(|(op, result)| (op, result.expect("answered").body))
                    .collect();
                let ops: Vec<OpId> = done.iter().map(|(op, _)| *op).collect();
                assert_eq!(
                    ops,
                    [OpId(1), OpId(2), OpId(3)],
                    "cuts at {cut}, {second_cut}"
                );
                for (op, body) in &done {
                    assert_eq!(body.len(), 10 * op.0 as usize);
                    assert!(body.iter().all(|b| *b == op.0 as u8));
                }
                if cut == stream.len() {
                    // Everything came in one read: the bodies are slices of it, not copies.
                    let range = first.as_ptr() as usize..first.as_ptr() as usize + first.len();
                    assert!(done
                        .iter()
                        .all(|(_, body)| range.contains(&(body.as_ptr() as usize))));
                }
            }
        }
    }

    #[test]
    fn a_connection_that_never_opened_reports_a_failure() {
        let now = Instant::now();
        let mut r = remoting();
        r.send_request(
            now,
            OpId(1),
            PEER,
            RemotingCommand::request_code(11),
            Duration::from_secs(1),
        );
        let Some(Io::Connect { conn, .. }) = r.poll_io() else {
            panic!("a connect");
        };
        r.handle_connect_failed(conn, "refused");
        let Some(ConnChange::Failed { addr, error }) = r.poll_conn_change() else {
            panic!("a failure");
        };
        assert_eq!(addr, PEER);
        assert!(matches!(error, InvokeError::ConnectFailed { reason, .. } if reason == "refused"));
    }
}
