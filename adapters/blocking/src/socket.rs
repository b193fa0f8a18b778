//! One connection on std threads and a std `TcpStream`: its thread connects, then reads while
//! a second thread writes.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rocketwire_core::Input;
use rocketwire_driver::{advance, block_on, Connection, Link, Outgoing, ReadBuffer};

/// Shuts a socket down when woken. Registered on [`Connection::closed`], it ends both threads
/// of the connection as soon as the driver closes it, even when they are blocked on IO.
struct ShutDownOnWake(TcpStream);

impl Wake for ShutDownOnWake {
    fn wake(self: Arc<Self>) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Runs `connection` on the calling thread until it ends.
pub(crate) fn run(mut connection: Connection) {
    let conn = connection.link.conn();
    let link = &mut connection.link;
    let (stream, shut_down) = match connect(&connection.addr, connection.connect_timeout) {
        Ok(connected) => connected,
        Err(e) => {
            report(link, Input::ConnectFailed(conn, e.to_string()));
            return;
        }
    };
    // From now on the driver closing the connection shuts the socket down.
    let closed = &mut connection.closed;
    let already_closed = closed.poll_unpin(&mut Context::from_waker(&shut_down));
    if already_closed.is_ready() || !report(link, Input::Connected(conn)) {
        return;
    }
    let frames = connection.frames;
    thread::scope(|threads| {
        threads.spawn(|| {
            if let Err(e) = write_loop(&stream, frames) {
                tracing::debug!(?conn, error = %e, "connection failed to write");
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        if let Err(e) = read_loop(&stream, link) {
            tracing::debug!(?conn, error = %e, "connection failed");
        }
        // A connection the driver closed needs no report.
        if let Ok(None) = closed.try_recv() {
            report(link, Input::Closed(conn));
        }
        // Wakes a writer blocked on the socket; an idle one ends when the driver drops its
        // channel.
        let _ = stream.shutdown(Shutdown::Both);
    });
}

/// Hands `input` to the driver: `false` once it stopped listening.
fn report(link: &mut Link, input: Input) -> bool {
    block_on(link.report(input))
}

/// A stream to `addr`, and the waker that shuts it down.
fn connect(addr: &str, timeout: Duration) -> io::Result<(TcpStream, Waker)> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("no address for {addr}"),
    );
    for sock_addr in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sock_addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let shut_down = Waker::from(Arc::new(ShutDownOnWake(stream.try_clone()?)));
                return Ok((stream, shut_down));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Reports what is read until EOF (`Ok`), an error, or the driver stopped listening.
fn read_loop(mut stream: &TcpStream, link: &mut Link) -> io::Result<()> {
    let mut buf = ReadBuffer::default();
    loop {
        match stream.read(buf.space()) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if !report(link, Input::Received(link.conn(), buf.take(n))) {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes frames, head and body in one vectored write where possible, until the driver
/// drops the sender (`Ok`) or an error.
fn write_loop(mut stream: &TcpStream, mut frames: Outgoing) -> io::Result<()> {
    while let Some((mut head, mut body)) = block_on(frames.next()) {
        while !head.is_empty() || !body.is_empty() {
            match stream.write_vectored(&[IoSlice::new(&head), IoSlice::new(&body)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => advance(&mut head, &mut body, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
