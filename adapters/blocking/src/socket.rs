//! One connection on std threads and a std `TcpStream`: its thread connects (and runs the TLS
//! handshake, when the client uses TLS), then reads while a second thread writes. Without
//! TLS, on Linux, the driver writes too, without blocking, while the writer has nothing to
//! write ([`rocketwire_driver::Outgoing::lend`]).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{future, FutureExt, StreamExt};
use rocketwire_core::Input;
use rocketwire_driver::{
    block_on, tls_io_error, Connection, DirectWrite, Handshake, HandshakeStep, Link, OpenError,
    Outgoing, ReadBuffer, TlsReader, TlsSession, TlsWork, WriteBatch,
};

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
    let session = connection.tls_session();
    let link = &mut connection.link;
    let session = match session {
        Ok(session) => session,
        Err(e) => {
            report(link, e.into_input(conn));
            return;
        }
    };
    let timeout = connection.connect_timeout;
    let deadline = Instant::now() + timeout;
    let (stream, shut_down) = match connect(&connection.addr, timeout) {
        Ok(connected) => connected,
        Err(e) => {
            report(link, Input::ConnectFailed(conn, e.to_string()));
            return;
        }
    };
    // From now on the driver closing the connection shuts the socket down.
    let closed = &mut connection.closed;
    if closed
        .poll_unpin(&mut Context::from_waker(&shut_down))
        .is_ready()
    {
        return;
    }
    let early = match &session {
        None => Bytes::new(),
        Some(session) => match handshake(&stream, session, deadline) {
            Ok(early) => early,
            Err(e) => {
                // A connection the driver closed needs no report.
                if let Ok(None) = closed.try_recv() {
                    report(link, e.into_input(conn));
                }
                return;
            }
        },
    };
    if !report(link, Input::Connected(conn)) {
        return;
    }
    if let Ok(local) = stream.local_addr() {
        if !report(link, Input::LocalAddr(conn, local.to_string())) {
            return;
        }
    }
    if !early.is_empty() && !report(link, Input::Received(conn, early)) {
        return;
    }
    let frames = connection.frames;
    let (wake_writer, writer_woken) = mpsc::unbounded();
    thread::scope(|threads| {
        let writer_session = session.clone();
        threads.spawn(|| {
            let written = match writer_session {
                None => write_loop(&stream, frames),
                Some(session) => {
                    write_loop_tls(&stream, TlsWork::new(frames, writer_woken), &session)
                }
            };
            if let Err(e) = written {
                tracing::debug!(?conn, error = %e, "connection failed to write");
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        let tls = session.map(|s| TlsReader::new(s, wake_writer));
        if let Err(e) = read_loop(&stream, link, tls.as_ref()) {
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

/// Runs the TLS handshake on `stream`, bounded by `deadline`; returns any plaintext that
/// came with its last records.
fn handshake(
    mut stream: &TcpStream,
    session: &TlsSession,
    deadline: Instant,
) -> Result<Bytes, OpenError> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
    let left = || match deadline.saturating_duration_since(Instant::now()) {
        left if left.is_zero() => Err(timed_out()),
        left => Ok(Some(left)),
    };
    let mut handshake = Handshake::new(session);
    let mut buf = ReadBuffer::default();
    let early = loop {
        match handshake.step() {
            HandshakeStep::Write(bytes) => {
                stream.set_write_timeout(left()?)?;
                stream.write_all(bytes)?;
                handshake.written();
            }
            HandshakeStep::Read => {
                stream.set_read_timeout(left()?)?;
                let n = match stream.read(buf.space()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        return Err(timed_out().into())
                    }
                    Err(e) => return Err(e.into()),
                };
                if let Err(e) = handshake.read(&buf.take(n)) {
                    let _ = stream.write_all(&handshake.alert());
                    return Err(OpenError::Tls(e));
                }
            }
            HandshakeStep::Done(early) => break early,
        }
    };
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    Ok(early)
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

/// Reports what is read (decrypted, with TLS) until EOF (`Ok`), an error, or the driver
/// stopped listening.
fn read_loop(mut stream: &TcpStream, link: &mut Link, tls: Option<&TlsReader>) -> io::Result<()> {
    let mut buf = ReadBuffer::default();
    loop {
        let n = match stream.read(buf.space()) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (bytes, peer_closed) = match tls {
            Some(tls) => tls.open(&buf.take(n))?,
            None => (buf.take(n), false),
        };
        if !bytes.is_empty() && !report(link, Input::Received(link.conn(), bytes)) {
            return Ok(());
        }
        if peer_closed {
            return Ok(());
        }
    }
}

/// Writes frames, every frame queued at once in one batch of vectored writes, until the
/// driver drops the sender (`Ok`) or an error. Where the platform can send without blocking,
/// the driver is lent a [`DirectWrite`] first, and writes what it can itself while this
/// thread has nothing to write ([`Outgoing::lend`]): frames are taken and written only inside
/// the write turn.
fn write_loop(mut stream: &TcpStream, mut frames: Outgoing) -> io::Result<()> {
    if let Some(direct) = NonBlockingSend::of(stream) {
        frames.lend(Box::new(direct));
    }
    let turn = frames.turn();
    let mut batch = WriteBatch::new();
    while block_on(future::poll_fn(|cx| frames.poll_ready(cx))) {
        let _turn = turn.take();
        let open = frames.gather(&mut batch);
        while !batch.is_empty() {
            match stream.write_vectored(&batch.slices()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => batch.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !open {
            break;
        }
    }
    Ok(())
}

/// Sends on a connection's socket without blocking (`MSG_DONTWAIT`) and without `SIGPIPE`
/// (`MSG_NOSIGNAL`), through a handle of its own to the socket.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
struct NonBlockingSend(TcpStream);

impl NonBlockingSend {
    /// A non-blocking sender on `stream`'s socket, where the platform has one.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn of(stream: &TcpStream) -> Option<Self> {
        stream.try_clone().ok().map(Self)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn of(_: &TcpStream) -> Option<Self> {
        None
    }
}

impl DirectWrite for NonBlockingSend {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        socket2::SockRef::from(&self.0)
            .send_vectored_with_flags(bufs, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn try_write_vectored(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Seals frames into TLS records and writes them (with any records the session has of its
/// own) until the driver drops the sender (`Ok`) or an error; then says `close_notify`.
fn write_loop_tls(
    mut stream: &TcpStream,
    mut work: TlsWork,
    session: &TlsSession,
) -> io::Result<()> {
    let mut records = Vec::new();
    while let Some(frame) = block_on(work.next()) {
        session
            .records_for(frame, &mut records)
            .map_err(tls_io_error)?;
        stream.write_all(&records)?;
    }
    let _ = stream.write_all(&session.goodbye());
    Ok(())
}
