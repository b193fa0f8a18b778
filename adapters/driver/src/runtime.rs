//! The runtime abstraction: the four things the async driver needs from an executor.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use rocketwire_core::ClientError;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A connected byte stream (a TCP socket).
pub trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncIo for T {}

/// What the driver needs from an async runtime. Dyn-compatible: the driver holds an
/// `Arc<dyn Runtime>`.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// The current monotonic time (the driver's only clock).
    fn now(&self) -> Instant;

    /// Opens a TCP connection to `addr` (`host:port`) with `TCP_NODELAY` set. The driver
    /// applies the connect timeout.
    fn connect(&self, addr: &str) -> BoxFuture<io::Result<Box<dyn AsyncIo>>>;

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
