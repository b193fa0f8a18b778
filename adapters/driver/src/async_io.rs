//! A [`Runtime`] on `async-io` sockets and timers (the reactor shared by smol and async-std);
//! only spawning differs between those two, through [`Spawn`].

use std::fmt::Debug;
use std::time::Instant;

use rocketwire_core::ClientError;

use crate::connection::Connection;
use crate::runtime::{spawn_connection, BoxFuture, CurrentRuntime, Runtime};

/// Spawns a detached task on some executor.
pub trait Spawn: Send + Sync + Debug + Default + 'static {
    /// Runs `future` in the background to completion.
    fn spawn(&self, future: BoxFuture<()>);
}

/// `async-io` sockets and timers with `S` for spawning.
#[derive(Debug, Default, Clone)]
pub struct AsyncIoRuntime<S>(pub S);

impl<S: Spawn> Runtime for AsyncIoRuntime<S> {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn open(&self, connection: Connection) {
        let addr = connection.addr.clone();
        spawn_connection(self, connection, async move {
            let stream = async_net::TcpStream::connect(addr.as_str()).await?;
            stream.set_nodelay(true)?;
            let local = stream.local_addr().ok();
            Ok((stream, local))
        });
    }

    fn timer(&self, at: Instant) -> BoxFuture<()> {
        Box::pin(async move {
            async_io::Timer::at(at).await;
        })
    }

    fn spawn(&self, future: BoxFuture<()>) {
        self.0.spawn(future);
    }
}

impl<S: Spawn> CurrentRuntime for AsyncIoRuntime<S> {
    fn current() -> Result<Self, ClientError> {
        Ok(Self(S::default()))
    }
}
