//! The driver shared by every rocketwire adapter.
//!
//! * [`Shell`] owns the sans-IO [`rocketwire_core::ClientCore`] and the table of reply
//!   channels. It takes user [`Command`]s, IO inputs and timeouts, routes the core's events to
//!   whoever waits for them, and hands out only IO work ([`Io`]). It has no IO and no runtime,
//!   so any loop can own it: the driver loop here, or an embedding's own.
//! * [`Runtime`] is what the driver needs from an executor: now, timer, spawn, and open a
//!   [`Connection`]. tokio, smol and async-std implement it in a few dozen lines each
//!   (`async-io` feature: `AsyncIoRuntime` for the latter two), running each connection as
//!   one task ([`spawn_connection`]); the blocking adapter implements it with std threads.
//! * [`Client`] is the user's handle. One driver task owns the shell (no lock around the core);
//!   each connection connects, then reads and writes concurrently, so a slow socket never
//!   blocks the driver. Handles talk to the driver over a channel with oneshot replies.
//!
//! The loop that owns a [`Shell`] (the driver loop's shape, written out by hand):
//!
//! ```no_run
//! use std::time::Instant;
//! use rocketwire_core::ClientConfig;
//! use rocketwire_driver::{Command, DriverOptions, Io, Shell};
//!
//! let config = ClientConfig::new(vec!["127.0.0.1:9876".into()]);
//! let mut shell = Shell::new(config, DriverOptions::default(), Instant::now());
//! let (command, route) = Command::query_route("TopicTest");
//! shell.handle_command(Instant::now(), command);
//! loop {
//!     // 1. Drain the IO work.
//!     let deadline = loop {
//!         match shell.poll(Instant::now()) {
//!             Io::Connect { conn, addr } => { /* connect, then report Input::Connected */ }
//!             Io::Transmit { conn, head, body } => { /* queue head + body for the writer */ }
//!             Io::Close { conn } => { /* stop that connection's IO */ }
//!             Io::Wait(deadline) => break deadline,
//!             Io::Finished => { /* end IO tasks */ shell.finish().notify(); return; }
//!         }
//!     };
//!     // 2. Wait for a command, an input or the deadline, and apply one of them:
//!     //    shell.handle_command(now, c) / shell.handle_input(now, i) / shell.handle_timeout(now)
//!     # let _ = (deadline, &route); break;
//! }
//! ```
//!
//! With an adapter, the same through [`Client`] (here on tokio):
//!
//! ```ignore
//! let client = rocketwire_tokio::Client::start(ClientConfig::new(vec![namesrv])).await?;
//! let route = client.query_route("TopicTest").await?;
//! client.shutdown(std::time::Duration::from_secs(5)).await?;
//! ```

mod admin;
#[cfg(feature = "async-io")]
mod async_io;
mod bounded;
mod client;
mod close_on_drop;
mod connection;
mod consumer;
mod driver;
mod events;
mod identity;
mod inflight;
mod lite;
pub mod observe;
mod outgoing;
mod park;
mod producer;
mod runtime;
mod shell;
#[cfg(feature = "test-support")]
pub mod test_support;
mod tls;
mod transaction;
mod write_batch;

pub use admin::{Admin, QueueOffsets, ADMIN_TIMEOUT};
#[cfg(feature = "async-io")]
pub use async_io::{AsyncIoRuntime, Spawn};
pub use client::Client;
pub use close_on_drop::CloseOnDrop;
pub use connection::{Connection, Link, OpenError, ReadBuffer, TlsWork};
pub use consumer::{
    ConsumerEvent, ConsumerStartError, OffsetStore, PushConsumer, PushConsumerOptions,
    DEFAULT_CONSUME_CONCURRENCY, FAILED_OUTCOME,
};
pub use events::{ClientEvents, NoEvent, Subscriber, EVENTS_CAPACITY};
pub use identity::{choose_client_ip, detect_client_ip};
pub use inflight::{Acquire, InFlight, Permit, ProducerOptions};
pub use lite::{
    assign_subscriptions, user_queue, LiteBuffer, LiteMode, LitePullConsumer, LitePullError,
    LitePullOptions, LitePullStream, Taken,
};
pub use outgoing::{DirectWrite, Outgoing, Turn, WriteTurn};
pub use park::{block_on, park_until, sleep_until, Sleep};
pub use producer::{Producer, SendHandle, TrySendError};
/// The answer a handler's outcome gives CONSUME_MESSAGE_DIRECTLY (built by the core).
pub use rocketwire_core::consume_directly_response;
pub use runtime::{spawn_connection, BoxFuture, CurrentRuntime, Runtime};
pub use shell::{
    check_success, os_seed, reply_result, Command, ConsumerSink, ConsumerState, DriverOptions, Io,
    Reply, ReplyReceiver, SendPayload, SendReply, Shell, ShutdownComplete, TransactionReply,
};
pub use shell::{QueueChange, TakeEvents};
pub use tls::{
    tls_io_error, Handshake, HandshakeStep, Received, TlsConfig, TlsConfigError, TlsReader,
    TlsSession,
};
pub use transaction::{
    run_check, run_execute, LocalTransaction, TransactionCheck, TransactionListener,
    TransactionProducer, DEFAULT_CHECK_CONCURRENCY,
};
pub use write_batch::{WriteBatch, WRITE_BATCH_BYTES, WRITE_BATCH_FRAMES};
