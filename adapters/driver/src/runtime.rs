//! The runtime abstraction: the four things the driver needs from an executor.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Instant;

use futures::io::{AsyncRead, AsyncWrite};
use rocketwire_core::ClientError;

use crate::connection::Connection;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What the driver needs from a runtime. Dyn-compatible: the driver holds an
/// `Arc<dyn Runtime>`.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// The current monotonic time (the driver's only clock).
    fn now(&self) -> Instant;

    /// Runs `connection`'s IO until it ends, without blocking the caller. An async runtime
    /// spawns it as one task over its TCP connect ([`spawn_connection`]).
    fn open(&self, connection: Connection);

    /// A future that completes at `at`.
    fn timer(&self, at: Instant) -> BoxFuture<()>;

    /// Runs `future` in the background to completion.
    fn spawn(&self, future: BoxFuture<()>);
}

/// A runtime that can be found from the calling context (e.g. tokio's current handle), which
/// lets [`crate::Client::start`] take only a configuration.
pub trait CurrentRuntime: Runtime + Sized {
    /// The runtime of the calling context.
    fn current() -> Result<Self, ClientError>;
}

/// [`Runtime::open`] of an async runtime: spawns on `rt` one task that runs `connect` (a TCP
/// connect with `TCP_NODELAY` set, giving the stream and its local address), given up after
/// the connection's connect timeout, then reads and writes the stream concurrently.
pub fn spawn_connection<S>(
    rt: &dyn Runtime,
    connection: Connection,
    connect: impl Future<Output = io::Result<(S, Option<SocketAddr>)>> + Send + 'static,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let timeout = rt.timer(rt.now() + connection.connect_timeout);
    rt.spawn(Box::pin(connection.run(connect, timeout)));
}
