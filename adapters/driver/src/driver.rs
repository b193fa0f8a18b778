//! The async driver: one task owns the [`Shell`]; one task per connection does the socket IO.

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::{SinkExt, StreamExt};
use rocketwire_core::{ConnId, Input};

use crate::runtime::{AsyncIo, BoxFuture, Runtime};
use crate::shell::{Command, Io, Shell};

/// Capacity of the channel from connection tasks to the driver (bounds buffered input).
const INPUT_CAPACITY: usize = 64;
/// Size of one socket read.
const READ_CHUNK: usize = 64 * 1024;

/// Never sent: a clone of the sender lives in each connection task, so the receiver ends when
/// every task has ended.
enum Never {}

/// The driver's side of one connection.
struct ConnHandle {
    /// Frames to write, in order.
    frames: mpsc::UnboundedSender<(Bytes, Bytes)>,
    /// Dropping it stops the connection task.
    _cancel: oneshot::Sender<()>,
}

/// What woke the driver.
enum Wake {
    Command(Option<Command>),
    Input(Input),
    Timer,
}

/// Runs the driver until shutdown completes. `ended` is set once every connection task has
/// ended, just before the shutdown waiters are told.
pub(crate) async fn run(
    rt: Arc<dyn Runtime>,
    mut shell: Shell,
    mut commands: mpsc::Receiver<Command>,
    ended: Arc<AtomicBool>,
) {
    let connect_timeout = shell.config().connect_timeout;
    let (input_tx, mut inputs) = mpsc::channel::<Input>(INPUT_CAPACITY);
    let (tracker, mut tasks_done) = mpsc::channel::<Never>(0);
    let mut conns: HashMap<ConnId, ConnHandle> = HashMap::new();
    let mut timer: Option<(Instant, BoxFuture<()>)> = None;
    let mut commands_open = true;
    let mut commands_first = true;

    'run: loop {
        let now = rt.now();
        let deadline = loop {
            match shell.poll(now) {
                Io::Connect { conn, addr } => {
                    let (frames, frames_rx) = mpsc::unbounded();
                    let (cancel, cancel_rx) = oneshot::channel();
                    conns.insert(
                        conn,
                        ConnHandle {
                            frames,
                            _cancel: cancel,
                        },
                    );
                    let task = connection(
                        rt.clone(),
                        Link {
                            conn,
                            inputs: input_tx.clone(),
                            _tracker: tracker.clone(),
                        },
                        addr,
                        connect_timeout,
                        frames_rx,
                        cancel_rx,
                    );
                    rt.spawn(Box::pin(task));
                }
                Io::Transmit { conn, head, body } => {
                    if let Some(c) = conns.get(&conn) {
                        let _ = c.frames.unbounded_send((head, body));
                    }
                }
                Io::Close { conn } => drop(conns.remove(&conn)),
                Io::Wait(deadline) => break deadline,
                Io::Finished => break 'run,
            }
        };
        match deadline {
            Some(at) if timer.as_ref().is_none_or(|(t, _)| *t != at) => {
                timer = Some((at, rt.timer(at)));
            }
            Some(_) => {}
            None => timer = None,
        }

        commands_first = !commands_first;
        let wake = future::poll_fn(|cx| {
            let mut poll_commands = |cx: &mut std::task::Context<'_>| {
                if commands_open {
                    if let Poll::Ready(c) = commands.poll_next_unpin(cx) {
                        return Some(Wake::Command(c));
                    }
                }
                None
            };
            if commands_first {
                if let Some(w) = poll_commands(cx) {
                    return Poll::Ready(w);
                }
            }
            // The driver holds a sender, so the input stream never ends.
            if let Poll::Ready(Some(input)) = inputs.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Input(input));
            }
            if !commands_first {
                if let Some(w) = poll_commands(cx) {
                    return Poll::Ready(w);
                }
            }
            if let Some((_, t)) = &mut timer {
                if t.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
            }
            Poll::Pending
        })
        .await;

        let now = rt.now();
        match wake {
            Wake::Command(Some(command)) => shell.handle_command(now, command),
            Wake::Command(None) => {
                // Every handle was dropped: shut down on their behalf. Nobody is left to
                // ack, so nothing is waited for.
                commands_open = false;
                shell.handle_command(now, Command::shutdown(Duration::ZERO).0);
            }
            Wake::Input(input) => {
                if let Input::Closed(conn) | Input::ConnectFailed(conn, _) = &input {
                    conns.remove(conn);
                }
                shell.handle_input(now, input);
            }
            Wake::Timer => {
                timer = None;
                shell.handle_timeout(now);
            }
        }
    }

    // Stop every connection task and wait for all of them; closing the channels first means no
    // task can stay blocked sending to us.
    commands.close();
    inputs.close();
    drop((conns, input_tx, tracker, timer));
    // Yields `None` once every task has dropped its tracker.
    if let Some(never) = tasks_done.next().await {
        match never {}
    }
    let waiters = shell.finish();
    ended.store(true, Ordering::Release);
    waiters.notify();
}

/// What a connection task shares with the driver.
struct Link {
    conn: ConnId,
    inputs: mpsc::Sender<Input>,
    _tracker: mpsc::Sender<Never>,
}

impl Link {
    async fn report(&mut self, input: Input) -> bool {
        self.inputs.send(input).await.is_ok()
    }
}

/// One connection: connect (with timeout), then read and write concurrently until the peer
/// closes, an IO error, or the driver drops the [`ConnHandle`].
async fn connection(
    rt: Arc<dyn Runtime>,
    mut link: Link,
    addr: String,
    connect_timeout: Duration,
    frames: mpsc::UnboundedReceiver<(Bytes, Bytes)>,
    mut cancel: oneshot::Receiver<()>,
) {
    let conn = link.conn;
    let deadline = rt.now() + connect_timeout;
    let connect = future::select(rt.connect(&addr), rt.timer(deadline));
    let stream = match future::select(connect, &mut cancel).await {
        Either::Left((Either::Left((Ok(stream), _)), _)) => stream,
        Either::Left((Either::Left((Err(e), _)), _)) => {
            link.report(Input::ConnectFailed(conn, e.to_string())).await;
            return;
        }
        Either::Left((Either::Right(((), _)), _)) => {
            let reason = format!("connect timed out after {connect_timeout:?}");
            link.report(Input::ConnectFailed(conn, reason)).await;
            return;
        }
        Either::Right(_) => return,
    };
    if !link.report(Input::Connected(conn)).await {
        return;
    }
    let (reader, writer) = stream.split();
    let read = pin!(read_loop(reader, conn, link.inputs.clone()));
    let write = pin!(write_loop(writer, frames));
    let io = future::select(read, write);
    // `cancel` first: a connection the driver closed needs no report.
    if let Either::Right((finished, _)) = future::select(cancel, io).await {
        if let Err(e) = finished.factor_first().0 {
            tracing::debug!(?conn, %addr, error = %e, "connection failed");
        }
        link.report(Input::Closed(conn)).await;
    }
}

/// Forwards received bytes until EOF (`Ok`) or an error.
async fn read_loop(
    mut reader: ReadHalf<Box<dyn AsyncIo>>,
    conn: ConnId,
    mut inputs: mpsc::Sender<Input>,
) -> io::Result<()> {
    let mut buf = BytesMut::zeroed(READ_CHUNK);
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let chunk = buf.split_to(n).freeze();
        if buf.len() < READ_CHUNK / 8 {
            buf = BytesMut::zeroed(READ_CHUNK);
        }
        if inputs.send(Input::Received(conn, chunk)).await.is_err() {
            return Ok(());
        }
    }
}

/// Writes frames (head and body with one vectored write where possible) until the driver
/// drops the sender (`Ok`) or an error.
async fn write_loop(
    mut writer: WriteHalf<Box<dyn AsyncIo>>,
    mut frames: mpsc::UnboundedReceiver<(Bytes, Bytes)>,
) -> io::Result<()> {
    while let Some((mut head, mut body)) = frames.next().await {
        while !head.is_empty() || !body.is_empty() {
            let n = writer
                .write_vectored(&[IoSlice::new(&head), IoSlice::new(&body)])
                .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let from_head = n.min(head.len());
            let _ = head.split_to(from_head);
            let _ = body.split_to((n - from_head).min(body.len()));
        }
        writer.flush().await?;
    }
    writer.close().await
}
