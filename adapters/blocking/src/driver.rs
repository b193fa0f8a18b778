//! The driver thread and the per-connection threads.

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use futures::FutureExt;
use rocketwire_core::{ConnId, Input};
use rocketwire_driver::{block_on, park_until, Command, Io, Shell};

/// Capacity of the channel into the driver (bounds buffered input).
pub(crate) const CAPACITY: usize = 64;
/// Size of one socket read.
const READ_CHUNK: usize = 64 * 1024;

/// What reaches the driver thread.
#[derive(Debug)]
pub(crate) enum Msg {
    Command(Command),
    Input(Input),
    /// A connection is open; the stream is the driver's copy, used to close it.
    Connected(ConnId, TcpStream),
}

/// The driver's side of one connection.
struct Conn {
    frames: Sender<(Bytes, Bytes)>,
    stream: Option<TcpStream>,
    thread: JoinHandle<()>,
}

impl Conn {
    /// Stops the connection's threads (the writer ends with its channel, the reader on the
    /// shutdown socket) and returns the thread to join.
    fn close(self) -> JoinHandle<()> {
        if let Some(stream) = self.stream {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.thread
    }
}

/// The driver thread: runs until shutdown completes.
pub(crate) fn run(
    mut shell: Shell,
    rx: Receiver<Msg>,
    tx: SyncSender<Msg>,
    ended: Arc<AtomicBool>,
) {
    let connect_timeout = shell.config().connect_timeout;
    let mut conns: HashMap<ConnId, Conn> = HashMap::new();
    let mut retired: Vec<JoinHandle<()>> = Vec::new();
    'run: loop {
        let now = Instant::now();
        let deadline = loop {
            match shell.poll(now) {
                Io::Connect { conn, addr } => {
                    let (frames, frames_rx) = mpsc::channel();
                    let tx = tx.clone();
                    let thread = thread::spawn(move || {
                        connection(conn, &addr, connect_timeout, frames_rx, &tx);
                    });
                    conns.insert(
                        conn,
                        Conn {
                            frames,
                            stream: None,
                            thread,
                        },
                    );
                }
                Io::Transmit { conn, head, body } => {
                    if let Some(c) = conns.get(&conn) {
                        let _ = c.frames.send((head, body));
                    }
                }
                Io::Close { conn } => retired.extend(conns.remove(&conn).map(Conn::close)),
                Io::Wait(deadline) => break deadline,
                Io::Finished => break 'run,
            }
        };
        retired.retain(|t| !t.is_finished());
        let msg = match deadline {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let now = Instant::now();
        match msg {
            Ok(Msg::Command(command)) => shell.handle_command(now, command),
            Ok(Msg::Connected(conn, stream)) => match conns.get_mut(&conn) {
                Some(c) => {
                    c.stream = Some(stream);
                    shell.handle_input(now, Input::Connected(conn));
                }
                None => drop(stream.shutdown(Shutdown::Both)),
            },
            Ok(Msg::Input(input)) => {
                if let Input::Closed(conn) | Input::ConnectFailed(conn, _) = &input {
                    retired.extend(conns.remove(conn).map(Conn::close));
                }
                shell.handle_input(now, input);
            }
            Err(RecvTimeoutError::Timeout) => shell.handle_timeout(now),
            // Cannot happen (we hold a sender); stop rather than spin.
            Err(RecvTimeoutError::Disconnected) => break 'run,
        }
    }
    // Dropping the receiver first means no thread stays blocked sending to us.
    drop((rx, tx));
    retired.extend(conns.into_values().map(Conn::close));
    for thread in retired {
        let _ = thread.join();
    }
    let waiters = shell.finish();
    ended.store(true, Ordering::Release);
    waiters.notify();
}

/// One connection's thread: connects, starts the writer, then reads until EOF or an error.
fn connection(
    conn: ConnId,
    addr: &str,
    timeout: Duration,
    frames: Receiver<(Bytes, Bytes)>,
    tx: &SyncSender<Msg>,
) {
    let streams = connect(addr, timeout).and_then(|s| Ok((s.try_clone()?, s.try_clone()?, s)));
    let (for_driver, for_writer, stream) = match streams {
        Ok(streams) => streams,
        Err(e) => {
            let _ = tx.send(Msg::Input(Input::ConnectFailed(conn, e.to_string())));
            return;
        }
    };
    let writer = thread::spawn(move || write_loop(for_writer, &frames));
    if tx.send(Msg::Connected(conn, for_driver)).is_ok() {
        let _ = read_loop(&stream, conn, tx);
        let _ = tx.send(Msg::Input(Input::Closed(conn)));
    }
    // Wakes a writer blocked on the socket; an idle one ends when the driver drops its channel.
    let _ = stream.shutdown(Shutdown::Both);
    let _ = writer.join();
}

fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("no address for {addr}"),
    );
    for sock_addr in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sock_addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn read_loop(mut stream: &TcpStream, conn: ConnId, tx: &SyncSender<Msg>) -> io::Result<()> {
    let mut buf = BytesMut::zeroed(READ_CHUNK);
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.split_to(n).freeze();
        if buf.len() < READ_CHUNK / 8 {
            buf = BytesMut::zeroed(READ_CHUNK);
        }
        if tx.send(Msg::Input(Input::Received(conn, chunk))).is_err() {
            return Ok(());
        }
    }
}

/// Writes frames, head and body in one vectored write where possible.
fn write_loop(mut stream: TcpStream, frames: &Receiver<(Bytes, Bytes)>) -> io::Result<()> {
    while let Ok((mut head, mut body)) = frames.recv() {
        while !head.is_empty() || !body.is_empty() {
            let n = match stream.write_vectored(&[IoSlice::new(&head), IoSlice::new(&body)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let from_head = n.min(head.len());
            let _ = head.split_to(from_head);
            let _ = body.split_to((n - from_head).min(body.len()));
        }
    }
    Ok(())
}

/// Blocks the calling thread until `rx` resolves, parking between wake-ups. No executor is
/// entered, so this works inside any async runtime (at the price of blocking its thread).
pub(crate) fn wait<T>(rx: oneshot::Receiver<T>) -> Result<T, oneshot::Canceled> {
    block_on(rx)
}

/// [`wait`] with a deadline: `None` when it passed first (`rx` is still usable).
pub(crate) fn wait_until<T>(
    rx: &mut oneshot::Receiver<T>,
    deadline: Instant,
) -> Option<Result<T, oneshot::Canceled>> {
    park_until(|cx| rx.poll_unpin(cx), Some(deadline))
}
