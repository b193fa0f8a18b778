//! [`ClientCore`]: connections, timers, namesrv failover, route queries and raw invocations.
//! (Skeleton.)

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::body::{BodyError, TopicRouteData};
use crate::codec::{
    RemotingCommand, RequestCode, ResponseCode, SerializeType, DEFAULT_MAX_FRAME_LEN,
};
use crate::remoting::{InvokeError, Io, PeerError, Remoting, RemotingConfig};
use crate::time::{Rng, WallClock};

pub use crate::remoting::{AnswerToken, IncomingRequest};

/// Identifies one connection the core asked the adapter to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Identifies one user operation; its result comes back as an [`Event`] carrying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Client settings. Defaults follow the Java client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Namesrv addresses (`host:port`).
    pub namesrv_addrs: Vec<String>,
    /// Default timeout of a request (Java `mqClientApiTimeout`, 3 s).
    pub request_timeout: Duration,
    /// Connect timeout (Java 3 s).
    pub connect_timeout: Duration,
    /// Largest frame accepted from a peer (16 MiB).
    pub max_frame_len: usize,
    /// Header serialization of the requests we send.
    pub serialize_type: SerializeType,
}

impl ClientConfig {
    /// Defaults with the given namesrv list.
    pub fn new(namesrv_addrs: Vec<String>) -> Self {
        Self {
            namesrv_addrs,
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            serialize_type: SerializeType::Json,
        }
    }
}

/// What the adapter tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A connection asked for with [`Output::Connect`] is open.
    Connected(ConnId),
    /// A connection could not be opened.
    ConnectFailed(ConnId, String),
    /// Bytes arrived on a connection.
    Received(ConnId, Bytes),
    /// A connection closed (by the peer, an IO error, or after [`Output::Close`]).
    Closed(ConnId),
    /// The deadline last returned by [`Output::Timeout`] passed (early calls are harmless).
    Timeout,
}

/// What the core asks of the adapter.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a TCP connection to `addr`, then report [`Input::Connected`] or
    /// [`Input::ConnectFailed`].
    Connect {
        /// The new connection's id.
        conn: ConnId,
        /// `host:port`.
        addr: String,
    },
    /// Write `head` then `body` on `conn`.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// Length field, header word and header.
        head: Bytes,
        /// The body, shared with the caller's buffer.
        body: Bytes,
    },
    /// Close `conn`; report [`Input::Closed`] when done (optional).
    Close {
        /// Connection.
        conn: ConnId,
    },
    /// Something for the user.
    Event(Event),
    /// Nothing more now; call [`Input::Timeout`] at this instant (always in the future).
    Timeout(Instant),
    /// Nothing more now and no timer armed.
    Idle,
}

/// Results and broker→client requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The result of [`ClientCore::invoke`].
    Response {
        /// The operation.
        op: OpId,
        /// The response (any code) or why there is none.
        result: Result<RemotingCommand, InvokeError>,
    },
    /// The result of [`ClientCore::query_route`].
    Route {
        /// The operation.
        op: OpId,
        /// The topic asked for.
        topic: String,
        /// The route, or why there is none.
        result: Result<TopicRouteData, RouteError>,
    },
    /// A request sent to us by a broker or namesrv.
    Request(IncomingRequest),
    /// A peer broke the protocol without failing a request of ours (e.g. a response with an
    /// unknown opaque), or sent a malformed frame (its connection was closed).
    PeerError {
        /// The peer's address.
        addr: String,
        /// What it did.
        error: PeerError,
    },
}

/// Why a topic route could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The namesrv has no route for the topic.
    #[error("topic {0} does not exist")]
    TopicNotExist(String),
    /// No namesrv is configured.
    #[error("no namesrv address configured")]
    NoNamesrv,
    /// Every namesrv failed; the last error is given.
    #[error("no namesrv answered: {0}")]
    NamesrvUnavailable(InvokeError),
    /// The namesrv answered with an error code.
    #[error("namesrv rejected the route query with code {code:?}: {remark}")]
    Rejected {
        /// Response code.
        code: ResponseCode,
        /// Remark.
        remark: String,
    },
    /// The route body could not be read.
    #[error(transparent)]
    Malformed(#[from] BodyError),
}

/// Errors surfaced by adapters' client handles, by blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Transport-level failure of a request.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// Route lookup failure.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The broker answered with an error code.
    #[error("broker rejected the request with code {code:?}: {remark}")]
    Rejected {
        /// Response code.
        code: ResponseCode,
        /// Remark.
        remark: String,
    },
    /// The client has been shut down.
    #[error("client is shut down")]
    Shutdown,
    /// Invalid use of the API.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The sans-IO client. See the crate docs for the driving loop.
pub struct ClientCore {
    config: ClientConfig,
    wall: Box<dyn WallClock>,
    rng: Rng,
    remoting: Remoting,
    next_op: u64,
    /// Index of the namesrv to try first; moves on failure (Java starts at a random index).
    namesrv_index: usize,
    /// Route queries in flight, by the id of their current namesrv request.
    routes: HashMap<OpId, RouteQuery>,
    /// User invocations in flight (ids the user holds).
    invokes: HashSet<OpId>,
    events: VecDeque<Event>,
    closing: bool,
}

#[derive(Debug)]
struct RouteQuery {
    op: OpId,
    topic: String,
    /// Namesrvs still to try after the current one.
    tries_left: usize,
}

impl std::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCore")
            .field("config", &self.config)
            .field("remoting", &self.remoting)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    /// A core with `config`, a wall clock and an RNG seed, created at `now`.
    pub fn new(config: ClientConfig, wall: Box<dyn WallClock>, seed: u64, now: Instant) -> Self {
        let _ = now;
        let mut rng = Rng::new(seed);
        let namesrv_index = match config.namesrv_addrs.len() {
            0 => 0,
            n => rng.below(n as u64) as usize,
        };
        let remoting = Remoting::new(RemotingConfig {
            serialize_type: config.serialize_type,
            max_frame_len: config.max_frame_len,
            connect_timeout: config.connect_timeout,
        });
        Self {
            config,
            wall,
            rng,
            remoting,
            next_op: 1,
            namesrv_index,
            routes: HashMap::new(),
            invokes: HashSet::new(),
            events: VecDeque::new(),
            closing: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Wall-clock milliseconds from the injected clock.
    pub fn wall_millis(&self) -> i64 {
        self.wall.now_millis()
    }

    /// The seeded random number generator (for components built on the core).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The remoting layer, read-only (connection and pending counts).
    pub fn remoting(&self) -> &Remoting {
        &self.remoting
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Connected(conn) => self.remoting.handle_connected(conn),
            Input::ConnectFailed(conn, reason) => {
                self.remoting.handle_connect_failed(conn, &reason)
            }
            Input::Received(conn, bytes) => self.remoting.handle_received(conn, &bytes),
            Input::Closed(conn) => self.remoting.handle_closed(conn),
            Input::Timeout => self.remoting.handle_timeout(now),
        }
        self.process(now);
    }

    /// The next output; drain until [`Output::Timeout`] or [`Output::Idle`]. A returned
    /// deadline is always later than `now`.
    pub fn poll_output(&mut self, now: Instant) -> Output {
        loop {
            if let Some(io) = self.remoting.poll_io() {
                return match io {
                    Io::Connect { conn, addr } => Output::Connect { conn, addr },
                    Io::Transmit { conn, head, body } => Output::Transmit { conn, head, body },
                    Io::Close { conn } => Output::Close { conn },
                };
            }
            if let Some(event) = self.events.pop_front() {
                return Output::Event(event);
            }
            match self.remoting.poll_timeout() {
                Some(at) if at <= now => {
                    // Expired while the adapter was busy: handle it now so the deadline we
                    // return is in the future (no busy loop).
                    self.remoting.handle_timeout(now);
                    self.process(now);
                }
                Some(at) => return Output::Timeout(at),
                None => return Output::Idle,
            }
        }
    }

    /// Asks the namesrvs (with failover) for `topic`'s route; the answer is [`Event::Route`].
    pub fn query_route(&mut self, now: Instant, topic: &str) -> OpId {
        let op = self.alloc_op();
        if self.closing {
            self.events.push_back(Event::Route {
                op,
                topic: topic.to_string(),
                result: Err(RouteError::NamesrvUnavailable(InvokeError::Shutdown)),
            });
            return op;
        }
        if self.config.namesrv_addrs.is_empty() {
            self.events.push_back(Event::Route {
                op,
                topic: topic.to_string(),
                result: Err(RouteError::NoNamesrv),
            });
            return op;
        }
        let query = RouteQuery {
            op,
            topic: topic.to_string(),
            tries_left: self.config.namesrv_addrs.len() - 1,
        };
        self.send_route_query(now, query);
        op
    }

    /// Sends `command` to `addr` (connecting if needed); the answer is [`Event::Response`].
    pub fn invoke(
        &mut self,
        now: Instant,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> OpId {
        let op = self.alloc_op();
        self.invokes.insert(op);
        self.remoting.send_request(now, op, addr, command, timeout);
        self.process(now);
        op
    }

    /// Sends `command` to `addr` as a oneway request: no response, no event.
    pub fn invoke_oneway(&mut self, now: Instant, addr: &str, command: RemotingCommand) {
        self.remoting.send_oneway(now, addr, command);
    }

    /// Answers a broker→client request.
    pub fn answer(&mut self, now: Instant, token: AnswerToken, response: RemotingCommand) {
        let _ = now;
        self.remoting.answer(token, response);
    }

    /// Begins shutdown: pending requests fail with [`InvokeError::Shutdown`], every connection
    /// is closed; afterwards new operations fail at once.
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        self.remoting.shutdown();
        self.process(now);
    }

    /// Whether [`ClientCore::close`] was called and every connection has been released.
    pub fn is_closed(&self) -> bool {
        self.closing && self.remoting.connection_count() == 0
    }

    fn alloc_op(&mut self) -> OpId {
        let op = OpId(self.next_op);
        self.next_op += 1;
        op
    }

    fn send_route_query(&mut self, now: Instant, query: RouteQuery) {
        let n = self.config.namesrv_addrs.len();
        let addr = self.config.namesrv_addrs[self.namesrv_index % n].clone();
        let command = RemotingCommand::request(RequestCode::GetRouteInfoByTopic)
            .with_field("topic", query.topic.clone())
            .with_field("acceptStandardJsonOnly", "true");
        let internal = self.alloc_op();
        self.routes.insert(internal, query);
        let timeout = self.config.request_timeout;
        self.remoting
            .send_request(now, internal, &addr, command, timeout);
    }

    /// Moves remoting completions, requests and peer faults into events.
    fn process(&mut self, now: Instant) {
        loop {
            if let Some((op, result)) = self.remoting.poll_completion() {
                if let Some(query) = self.routes.remove(&op) {
                    self.finish_route_attempt(now, query, result);
                } else if self.invokes.remove(&op) {
                    self.events.push_back(Event::Response { op, result });
                }
                continue;
            }
            if let Some(request) = self.remoting.poll_request() {
                self.events.push_back(Event::Request(request));
                continue;
            }
            if let Some((addr, error)) = self.remoting.poll_peer_error() {
                self.events.push_back(Event::PeerError { addr, error });
                continue;
            }
            return;
        }
    }

    fn finish_route_attempt(
        &mut self,
        now: Instant,
        mut query: RouteQuery,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let outcome = match result {
            Ok(response) => match response.response_code() {
                ResponseCode::Success => {
                    TopicRouteData::decode(&response.body).map_err(RouteError::Malformed)
                }
                ResponseCode::TopicNotExist => Err(RouteError::TopicNotExist(query.topic.clone())),
                code => Err(RouteError::Rejected {
                    code,
                    remark: response.remark.unwrap_or_default(),
                }),
            },
            Err(error) => {
                // Transport failure: this namesrv is unhealthy; move on to the next one.
                self.namesrv_index = self.namesrv_index.wrapping_add(1);
                if query.tries_left > 0 && !self.closing {
                    query.tries_left -= 1;
                    self.send_route_query(now, query);
                    return;
                }
                Err(RouteError::NamesrvUnavailable(error))
            }
        };
        self.events.push_back(Event::Route {
            op: query.op,
            topic: query.topic,
            result: outcome,
        });
    }
}
