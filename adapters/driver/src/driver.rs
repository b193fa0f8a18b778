//! The driver loop: one task owns the [`Shell`]; the runtime runs each connection's IO
//! ([`Runtime::open`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future;
use futures::{FutureExt, StreamExt};
use rocketwire_core::{ConnId, Input};

use crate::connection::{Connection, Link, Never};
use crate::outgoing::{outgoing, OutgoingSender};
use crate::runtime::{BoxFuture, Runtime};
use crate::shell::{Command, Io, Shell};

/// Capacity of the channel from connections to the driver (bounds buffered input).
const INPUT_CAPACITY: usize = 64;

/// Most commands, inputs and timer expiries handled between two polls of the shell.
const MAX_WAKES_PER_ROUND: usize = 64;

/// The driver's side of one connection.
struct ConnHandle {
    /// Frames to write, in order; the frames of a round are held until it ends.
    frames: OutgoingSender,
    /// Dropping it stops the connection.
    _closed: oneshot::Sender<()>,
}

/// What woke the driver.
enum Wake {
    Command(Option<Command>),
    Input(Input),
    Timer,
}

/// What woke the driver next, if anything: the timer once its deadline passed, then commands
/// and inputs in turns (`commands_first`). The timer comes first so that a steady stream of
/// commands and inputs cannot hold back a deadline (request timeouts, heartbeats).
fn poll_wake(
    cx: &mut Context<'_>,
    commands: &mut mpsc::Receiver<Command>,
    commands_open: bool,
    inputs: &mut mpsc::Receiver<Input>,
    timer: &mut Option<(Instant, BoxFuture<()>)>,
    commands_first: bool,
) -> Poll<Wake> {
    if let Some((_, t)) = timer {
        if t.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
    }
    let mut poll_commands = |cx: &mut Context<'_>| {
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
    Poll::Pending
}

/// Hands the frames held this round to their connections' writers.
fn flush(conns: &mut HashMap<ConnId, ConnHandle>, held: &mut Vec<ConnId>) {
    for conn in held.drain(..) {
        if let Some(c) = conns.get_mut(&conn) {
            c.frames.flush();
        }
    }
}

/// Runs the driver until shutdown completes. `ended` is set once every connection has
/// ended, just before the shutdown waiters are told.
pub(crate) async fn run(
    rt: Arc<dyn Runtime>,
    mut shell: Shell,
    mut commands: mpsc::Receiver<Command>,
    ended: Arc<AtomicBool>,
) {
    let connect_timeout = shell.config().connect_timeout;
    let max_queued = shell.options().max_connection_queue_bytes;
    let tls = shell.options().tls.clone();
    let (input_tx, mut inputs) = mpsc::channel::<Input>(INPUT_CAPACITY);
    let (tracker, mut tasks_done) = mpsc::channel::<Never>(0);
    let mut conns: HashMap<ConnId, ConnHandle> = HashMap::new();
    // Connections holding frames of this round.
    let mut held: Vec<ConnId> = Vec::new();
    let mut timer: Option<(Instant, BoxFuture<()>)> = None;
    let mut commands_open = true;
    let mut commands_first = true;

    'run: loop {
        let now = rt.now();
        let deadline = loop {
            match shell.poll(now) {
                Io::Connect { conn, addr } => {
                    let (frames, frames_rx) = outgoing();
                    let (closed, closed_rx) = oneshot::channel();
                    conns.insert(
                        conn,
                        ConnHandle {
                            frames,
                            _closed: closed,
                        },
                    );
                    rt.open(Connection {
                        addr,
                        connect_timeout,
                        frames: frames_rx,
                        closed: closed_rx,
                        link: Link::new(conn, input_tx.clone(), tracker.clone()),
                        tls: tls.clone(),
                    });
                }
                Io::Transmit { conn, head, body } => {
                    let Some(c) = conns.get_mut(&conn) else {
                        continue;
                    };
                    let queued = c.frames.queued();
                    if queued + head.len() + body.len() <= max_queued.max(1) || queued == 0 {
                        if c.frames.hold(head, body) {
                            held.push(conn);
                        }
                    } else {
                        // The peer stopped reading: close rather than queue without bound.
                        tracing::warn!(
                            ?conn,
                            queued,
                            limit = max_queued,
                            "outgoing queue full (the peer is not reading); closing the connection"
                        );
                        conns.remove(&conn);
                        shell.handle_input(now, Input::Closed(conn));
                    }
                }
                Io::Close { conn } => {
                    // What the round gave it goes first, as it would have unheld.
                    if let Some(mut c) = conns.remove(&conn) {
                        c.frames.flush();
                    }
                }
                Io::Wait(deadline) => break deadline,
                Io::Finished => {
                    flush(&mut conns, &mut held);
                    break 'run;
                }
            }
        };
        flush(&mut conns, &mut held);
        match deadline {
            Some(at) if timer.as_ref().is_none_or(|(t, _)| *t != at) => {
                timer = Some((at, rt.timer(at)));
            }
            Some(_) => {}
            None => timer = None,
        }

        // Everything ready now is handled before the shell is polled again: acks that came
        // in together give their next deliveries in one burst.
        for handled in 0..MAX_WAKES_PER_ROUND {
            commands_first = !commands_first;
            let open = commands_open;
            let next = future::poll_fn(|cx| {
                poll_wake(
                    cx,
                    &mut commands,
                    open,
                    &mut inputs,
                    &mut timer,
                    commands_first,
                )
            });
            let wake = if handled == 0 {
                next.await
            } else {
                match next.now_or_never() {
                    Some(wake) => wake,
                    None => break,
                }
            };
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
                    if let Input::Closed(conn)
                    | Input::ConnectFailed(conn, _)
                    | Input::TlsFailed(conn, _) = &input
                    {
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
    }

    // Stop every connection and wait for all of them; closing the channels first means no
    // connection can stay blocked sending to us.
    commands.close();
    inputs.close();
    drop((conns, input_tx, tracker, timer));
    // Yields `None` once every connection has dropped its link.
    if let Some(never) = tasks_done.next().await {
        match never {}
    }
    let waiters = shell.finish();
    ended.store(true, Ordering::Release);
    waiters.notify();
}

#[cfg(test)]
mod tests {
    use futures::task::noop_waker_ref;

    use super::*;

    /// Which wake `poll_wake` gives with a command and an input waiting and the timer in
    /// the state `timer`.
    fn first_wake(timer: BoxFuture<()>, commands_first: bool) -> &'static str {
        let (mut command_tx, mut commands) = mpsc::channel(1);
        let (mut input_tx, mut inputs) = mpsc::channel(1);
        command_tx
            .try_send(Command::next_request().0)
            .expect("room for a command");
        input_tx
            .try_send(Input::Timeout)
            .expect("room for an input");
        let mut timer = Some((Instant::now(), timer));
        let mut cx = Context::from_waker(noop_waker_ref());
        let polled = poll_wake(
            &mut cx,
            &mut commands,
            true,
            &mut inputs,
            &mut timer,
            commands_first,
        );
        match polled {
            Poll::Ready(Wake::Timer) => "timer",
            Poll::Ready(Wake::Command(_)) => "command",
            Poll::Ready(Wake::Input(_)) => "input",
            Poll::Pending => "nothing",
        }
    }

    #[test]
    fn a_passed_deadline_goes_before_waiting_commands_and_inputs() {
        for commands_first in [true, false] {
            assert_eq!(
                first_wake(Box::pin(future::ready(())), commands_first),
                "timer"
            );
        }
        // A deadline still ahead: commands and inputs in turns.
        assert_eq!(first_wake(Box::pin(future::pending()), true), "command");
        assert_eq!(first_wake(Box::pin(future::pending()), false), "input");
    }
}
