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
//!             Output::Event(event) => { /* hand the event to the user */ }
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
//! Layers, bottom up: [`codec`] (frames, the remoting command and its JSON and binary headers,
//! request/response codes), [`header`] (typed custom headers), [`body`] (JSON bodies),
//! [`message`] (messages, properties, stored-message decoding, batches, ids, compression),
//! [`remoting`] (per-connection correlation state machine), [`request`] (builders for common
//! requests) and [`client`] ([`ClientCore`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
pub mod client;
pub mod codec;
pub mod consumer;
pub mod header;
pub mod message;
pub mod producer;
pub mod remoting;
pub mod request;
pub mod time;

pub use client::{
    AnswerToken, ClientConfig, ClientCore, ClientError, ConnId, ConsumeOutcome,
    ConsumerCloseReport, ConsumerError, ConsumerId, DeliveryId, Event, IncomingRequest, Input,
    LocalTransactionToken, OpId, Output, ProducerId, RouteError, SendMode, SendTarget,
    TransactionCheckToken, TransactionSendResult,
};
pub use codec::{
    CodecError, FrameDecoder, LanguageCode, RemotingCommand, RequestCode, ResponseCode,
    SerializeType,
};
pub use remoting::InvokeError;
pub use time::{SystemWallClock, WallClock};
