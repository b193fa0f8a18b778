//! [`ClientCore`]: connections, timers, namesrv failover, route queries and raw invocations.
//! (Skeleton.)

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::body::{BodyError, TopicRouteData};
use crate::codec::{RemotingCommand, ResponseCode, SerializeType, DEFAULT_MAX_FRAME_LEN};
use crate::remoting::InvokeError;
use crate::time::WallClock;

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
}

/// A request from a broker. Unless it is oneway, answer it with [`ClientCore::answer`].
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
}

impl std::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCore").field("config", &self.config).finish_non_exhaustive()
    }
}

impl ClientCore {
    /// A core with `config`, a wall clock and an RNG seed, created at `now`.
    pub fn new(config: ClientConfig, wall: Box<dyn WallClock>, seed: u64, now: Instant) -> Self {
        let _ = (seed, now);
        Self { config, wall }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Wall-clock milliseconds from the injected clock.
    pub fn wall_millis(&self) -> i64 {
        self.wall.now_millis()
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        let _ = (now, input);
        unimplemented!()
    }

    /// The next output; drain until [`Output::Timeout`] or [`Output::Idle`].
    pub fn poll_output(&mut self, now: Instant) -> Output {
        let _ = now;
        unimplemented!()
    }

    /// Asks the namesrvs (with failover) for `topic`'s route; the answer is [`Event::Route`].
    pub fn query_route(&mut self, now: Instant, topic: &str) -> OpId {
        let _ = (now, topic);
        unimplemented!()
    }

    /// Sends `command` to `addr` (connecting if needed); the answer is [`Event::Response`].
    pub fn invoke(
        &mut self,
        now: Instant,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> OpId {
        let _ = (now, addr, command, timeout);
        unimplemented!()
    }

    /// Sends `command` to `addr` as a oneway request: no response, no event.
    pub fn invoke_oneway(&mut self, now: Instant, addr: &str, command: RemotingCommand) {
        let _ = (now, addr, command);
        unimplemented!()
    }

    /// Answers a broker→client request.
    pub fn answer(&mut self, now: Instant, token: AnswerToken, response: RemotingCommand) {
        let _ = (now, token, response);
        unimplemented!()
    }

    /// Begins shutdown: pending requests fail with [`InvokeError::Shutdown`], every connection
    /// is closed; afterwards new operations fail at once.
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        unimplemented!()
    }

    /// Whether [`ClientCore::close`] was called and every connection has been released.
    pub fn is_closed(&self) -> bool {
        unimplemented!()
    }
}
