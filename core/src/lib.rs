//! Sans-IO core of **rocketwire**, a client for Apache RocketMQ's classic remoting protocol.
//!
//! Nothing in this crate does IO, reads a clock or spawns a task. A [`ClientCore`] takes
//! bytes, connection events, timer expirations and user commands in, and hands out
//! connections to open or close, frames to write, timers to arm and events. An adapter drives it
//! with one small loop:
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use rocketwire_core::{ClientConfig, ClientCore, Input, Output, SystemWallClock};
//!
//! let config = ClientConfig::new(vec!["127.0.0.1:9876".to_string()]);
//! let mut core = ClientCore::new(config, Box::new(SystemWallClock), 42, Instant::now());
//! let op = core.query_route(Instant::now(), "TopicTest");
//! loop {
//!     // 1. Drain outputs until the core says when it next wants to be woken.
//!     let deadline = loop {
//!         match core.poll_output(Instant::now()) {
//!             Output::Connect { conn, addr } => { /* open a TCP connection to `addr` */ }
//!             Output::Transmit { conn, head, body } => { /* write head then body */ }
//!             Output::Close { conn } => { /* close the socket */ }
//!             Output::Event(event) => { /* hand the event to the user; may call commands */ }
//!             Output::Timeout(at) => break Some(at),
//!             Output::Idle => break None,
//!         }
//!     };
//!     // 2. Wait for bytes, a connection event, a user command or the deadline, then feed it:
//!     core.handle_input(Instant::now(), Input::Timeout);
//!     # let _ = (deadline, op); break;
//! }
//! ```
//!
//! A complete program that drives the core this way, with nothing but std sockets (no adapter,
//! no async runtime, no threads), sending and receiving a message against a real cluster, is
//! the `embed` example: [`examples/examples/embed.rs`][embed].
//!
//! # The driving contract
//!
//! - **One owner.** [`ClientCore`] is a plain value; all calls take `&mut self`, so exactly one
//!   loop (task or thread) owns it. Nothing happens between calls: the core advances only
//!   when called.
//! - **Time is an argument.** Inputs and commands take `now: Instant`, read by the caller from
//!   a monotonic clock. Wall-clock time (born timestamps, message ids) comes from
//!   the [`WallClock`] given to [`ClientCore::new`], randomness from its seed.
//! - **Inputs** ([`ClientCore::handle_input`]) report IO: [`Input::Connected`],
//!   [`Input::ConnectFailed`] or (for an adapter that encrypts) [`Input::TlsFailed`] answer
//!   an [`Output::Connect`]; [`Input::Received`] takes any
//!   split of a connection's byte stream (frames are reassembled inside); [`Input::Closed`]
//!   reports a connection that ended, for any reason. Inputs for a connection the core has
//!   already dropped (after [`Output::Close`], a connect timeout or a malformed frame) are
//!   ignored, so late reports from IO tasks are harmless.
//! - **Commands** are the other `&mut self` methods (`create_producer`, `send`,
//!   `query_route`, `invoke`, `create_consumer`, `ack`, `close_consumer`, `close_producer`,
//!   `answer`, `close`, ...). They may be called at any time between other calls, including
//!   while handling an [`Output::Event`] in the middle of a drain. Most return an [`OpId`]
//!   (or a producer / consumer id) at once; the result comes later as an [`Event`] carrying it.
//!   A command never fails by returning an error for an IO reason: a failure is an event too.
//! - **Draining** means calling [`ClientCore::poll_output`] until it returns
//!   [`Output::Timeout`] or [`Output::Idle`], carrying out each [`Output::Connect`],
//!   [`Output::Transmit`] (in order, per connection) and [`Output::Close`], and handling each
//!   [`Output::Event`]. Drain after every input and every command before waiting: any call can
//!   queue outputs or move the next deadline earlier. `poll_output` is the only `poll_*` call
//!   an embedder makes: the sub-machines' queues ([`remoting::Remoting::poll_io`],
//!   `poll_completion`, `poll_request`, `poll_peer_error`) are emptied by the core itself.
//!   [`Output::Transmit`] is only emitted for a connection after [`Input::Connected`]; frames
//!   asked for earlier wait inside the core.
//! - **Timers.** [`Output::Timeout`]`(at)` is the earliest deadline of everything armed:
//!   request and connect deadlines, the periodic jobs (route refresh, heartbeats, rebalance,
//!   offset persistence, lock renewal, consume timeout), sends waiting for a route, and the
//!   consumers' delayed pulls, retries and re-registrations. Once `at` has passed, call
//!   `handle_input(now, Input::Timeout)`: it runs everything due at or before `now`, and does
//!   nothing when called early. `poll_output(now)` also runs what is already due at `now`
//!   before it returns, so the deadline it returns is always later than `now` (no busy loop).
//!   [`Output::Idle`] means no timer is armed (e.g. before the first producer or consumer, or
//!   after [`ClientCore::close`]): wait for an input or a command only.
//! - **Shutdown.** [`ClientCore::shutdown`]`(now, drain)` closes gracefully: every consumer
//!   and producer closes (each with its event; acks are still taken until `drain` has
//!   passed, then deliveries still out are abandoned), then the core calls
//!   [`ClientCore::close`] by itself. [`ClientCore::close`] alone skips that: pending
//!   operations fail with a shutdown error and every connection gets an [`Output::Close`].
//!   Either way, keep draining until [`ClientCore::is_closed`] turns true; later commands fail
//!   at once.
//!
//! [embed]: https://github.com/rocketwire/rocketwire/blob/main/examples/examples/embed.rs
//!
//! Layers, bottom up: [`codec`] (frames, the remoting command and its JSON and binary headers,
//! request/response codes), [`header`] (typed custom headers), [`body`] (JSON bodies),
//! [`message`] (messages, properties, stored-message decoding, batches, ids, compression),
//! [`remoting`] (per-connection correlation state machine), [`request`] (builders for common
//! requests) and [`client`] ([`ClientCore`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
pub mod admin;
pub mod body;
pub mod client;
pub mod codec;
pub mod consumer;
pub mod header;
pub mod message;
pub mod namespace;
pub mod producer;
pub mod remoting;
pub mod request;
#[cfg(test)]
mod spans_for_tests;
pub mod time;
pub mod tls;
pub mod trace;

pub use client::{
    consume_directly_response, AnswerToken, BrokerAddrMap, ClientConfig, ClientCore, ClientError,
    ClientIdCollision, ClientNotice, ConnId, ConsumeDirectlyToken, ConsumeOutcome,
    ConsumerCloseReport, ConsumerError, ConsumerId, ConsumerRefusal, ConsumerStats, DeliveryId,
    Event, IncomingRequest, Input, LocalTransactionToken, Misuse, OpId, Output, ProducerId,
    QueueStats, RequestError, RouteError, SendMode, SendTarget, TransactionCheckToken,
    TransactionSendResult,
};
pub use codec::{
    CodecError, FrameDecoder, LanguageCode, RemotingCommand, RequestCode, ResponseCode,
    SerializeType,
};
pub use remoting::{ConnChange, InvokeError};
pub use time::{SystemWallClock, WallClock};
pub use tls::TlsError;
