//! [`Outgoing`]: the frames queued for one connection's writer. The driver holds the frames
//! a round of the shell gives ([`OutgoingSender::hold`]) and hands them over together when
//! the round ends ([`OutgoingSender::flush`]): the writer is woken once per round, not once
//! per frame (a rebalance or heartbeat instant gives several frames at once, and each wake of
//! a writer thread costs context switches).
//!
//! A connection whose writer is a thread of its own can also lend the driver a
//! [`DirectWrite`] ([`Outgoing::lend`]): when nothing waits for the writer and the writer is
//! not writing, the driver writes the round itself without blocking, and hands the writer
//! only what the socket did not take. A send then wakes no writer thread at all.
//!
//! Writing is a turn ([`WriteTurn`]): the writer takes frames and writes them inside its
//! turn, and the driver writes directly only when it gets the turn with nothing queued, so
//! frames reach the socket in the order the shell gave them.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use crate::write_batch::WriteBatch;

/// One frame: its head, then its body.
type Frame = (Bytes, Bytes);

/// A write to a connection's socket that never blocks, lent to the driver.
pub trait DirectWrite: Send {
    /// Writes what the socket takes of `bufs` now, in order; an error of kind
    /// [`io::ErrorKind::WouldBlock`] when it takes nothing without blocking.
    fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// The turn to write to one connection's socket, shared by its writer and the driver; it
/// holds the [`DirectWrite`] the connection lent, if any.
#[derive(Clone, Default)]
pub struct WriteTurn(Arc<Mutex<Option<Box<dyn DirectWrite>>>>);

impl fmt::Debug for WriteTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteTurn").finish_non_exhaustive()
    }
}

/// A writer's turn: the driver does not write directly while it is held.
pub struct Turn<'a> {
    _held: MutexGuard<'a, Option<Box<dyn DirectWrite>>>,
}

impl fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

impl WriteTurn {
    /// Waits for the turn (the driver holds it only for one non-blocking write).
    pub fn take(&self) -> Turn<'_> {
        Turn {
            _held: self.0.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

/// The frames queued for one connection's writer, with the bytes they hold: the driver adds
/// a frame's size when it holds the frame, the writer takes it off when it takes the frame,
/// so the driver can bound what waits in user space for a peer that stopped reading.
#[derive(Debug)]
pub struct Outgoing {
    rounds: mpsc::UnboundedReceiver<Vec<Frame>>,
    /// Frames of a round already received, not yet taken.
    taken: VecDeque<Frame>,
    queued: Arc<AtomicUsize>,
    turn: WriteTurn,
}

/// The driver's end of an [`Outgoing`] queue.
#[derive(Debug)]
pub(crate) struct OutgoingSender {
    rounds: mpsc::UnboundedSender<Vec<Frame>>,
    held: Vec<Frame>,
    /// Bytes of `held`.
    held_bytes: usize,
    queued: Arc<AtomicUsize>,
    turn: WriteTurn,
    /// A direct write's buffers (kept for its allocation; empty between flushes).
    direct: WriteBatch,
}

/// A new outgoing queue: the driver's end and the writer's.
pub(crate) fn outgoing() -> (OutgoingSender, Outgoing) {
    let (tx, rx) = mpsc::unbounded();
    let queued = Arc::new(AtomicUsize::new(0));
    let turn = WriteTurn::default();
    (
        OutgoingSender {
            rounds: tx,
            held: Vec::new(),
            held_bytes: 0,
            queued: Arc::clone(&queued),
            turn: turn.clone(),
            direct: WriteBatch::new(),
        },
        Outgoing {
            rounds: rx,
            taken: VecDeque::new(),
            queued,
            turn,
        },
    )
}

impl OutgoingSender {
    /// Bytes held or queued, and not yet taken by the writer.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Holds a frame until [`OutgoingSender::flush`]; true when it is the first one held.
    pub(crate) fn hold(&mut self, head: Bytes, body: Bytes) -> bool {
        let len = head.len() + body.len();
        self.queued.fetch_add(len, Ordering::AcqRel);
        self.held_bytes += len;
        self.held.push((head, body));
        self.held.len() == 1
    }

    /// Writes the held frames directly when the connection lent a [`DirectWrite`], nothing
    /// else is queued and the writer is not writing; hands the writer the rest, waking it
    /// once (dropped if it has gone).
    pub(crate) fn flush(&mut self) {
        if self.held.is_empty() {
            return;
        }
        if self.queued() == std::mem::take(&mut self.held_bytes) {
            self.write_directly();
            if self.held.is_empty() {
                return;
            }
        }
        let round = std::mem::take(&mut self.held);
        if let Err(e) = self.rounds.unbounded_send(round) {
            let len: usize = e.into_inner().iter().map(|(h, b)| h.len() + b.len()).sum();
            self.queued.fetch_sub(len, Ordering::AcqRel);
        }
    }

    /// Writes what the lent [`DirectWrite`] takes of the held frames now, if the turn is
    /// free; what is left stays held, as frames for the writer.
    fn write_directly(&mut self) {
        let mut guard = match self.turn.0.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let Some(direct) = guard.as_mut() else {
            return;
        };
        for (head, body) in self.held.drain(..) {
            self.direct.push(head, body);
        }
        let mut written = 0;
        while !self.direct.is_empty() {
            match direct.try_write_vectored(&self.direct.slices()) {
                Ok(0) => break,
                Ok(n) => {
                    written += n;
                    self.direct.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Would block, or failed: the writer takes the rest (and meets the failure).
                Err(_) => break,
            }
        }
        self.queued.fetch_sub(written, Ordering::AcqRel);
        self.held
            .extend(self.direct.take_bufs().map(|b| (b, Bytes::new())));
    }

    /// Holds a frame and hands it over at once.
    #[cfg(test)]
    pub(crate) fn send(&mut self, head: Bytes, body: Bytes) {
        self.hold(head, body);
        self.flush();
    }
}

impl Outgoing {
    /// Lends the driver a way to write to the socket without blocking: from now on the
    /// driver writes a round itself when the writer has nothing queued and is not in its
    /// turn. Only for a writer that takes and writes frames inside [`Outgoing::turn`].
    pub fn lend(&mut self, direct: Box<dyn DirectWrite>) {
        *self.turn.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(direct);
    }

    /// The turn to write, which a writer that lent a [`DirectWrite`] holds from taking
    /// frames until they are written.
    pub fn turn(&self) -> WriteTurn {
        self.turn.clone()
    }

    /// Waits, without taking anything, until a frame can be taken (`true`) or the driver
    /// dropped the sender and everything sent was taken (`false`).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            if !self.taken.is_empty() {
                return Poll::Ready(true);
            }
            match self.rounds.poll_next_unpin(cx) {
                Poll::Ready(Some(round)) => self.taken.extend(round),
                Poll::Ready(None) => return Poll::Ready(false),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Takes the next frame received, without waiting; `Err` once the sender was dropped and
    /// everything sent was taken.
    fn try_next(&mut self) -> Result<Option<Frame>, ()> {
        loop {
            if let Some(frame) = self.taken.pop_front() {
                return Ok(Some(self.took(frame)));
            }
            match self.rounds.try_recv() {
                Ok(round) => self.taken.extend(round),
                Err(e) if e.is_closed() => return Err(()),
                Err(_) => return Ok(None),
            }
        }
    }

    /// Counts `frame` as taken off the queue.
    fn took(&self, frame: Frame) -> Frame {
        self.queued
            .fetch_sub(frame.0.len() + frame.1.len(), Ordering::AcqRel);
        frame
    }

    /// Adds to `batch` the frames queued now, without waiting, until it is full. Returns
    /// false once the driver dropped the sender and everything queued was taken.
    pub fn gather(&mut self, batch: &mut WriteBatch) -> bool {
        while !batch.is_full() {
            match self.try_next() {
                Ok(Some((head, body))) => batch.push(head, body),
                Ok(None) => break,
                Err(()) => return false,
            }
        }
        true
    }
}

impl Stream for Outgoing {
    type Item = Frame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        if !std::task::ready!(self.poll_ready(cx)) {
            return Poll::Ready(None);
        }
        let frame = self.taken.pop_front();
        Poll::Ready(frame.map(|f| self.took(f)))
    }
}

#[cfg(test)]
mod tests {
    use futures::task::noop_waker_ref;

    use super::*;

    fn frame(tag: u8) -> (Bytes, Bytes) {
        (Bytes::from(vec![tag; 2]), Bytes::from(vec![tag; 3]))
    }

    #[test]
    fn held_frames_reach_the_writer_at_the_flush_in_order() {
        let (mut tx, mut rx) = outgoing();
        assert!(tx.hold(frame(1).0, frame(1).1), "the first frame held");
        assert!(!tx.hold(frame(2).0, frame(2).1));
        assert_eq!(tx.queued(), 10, "held frames count as queued");
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(
            rx.poll_next_unpin(&mut cx).is_pending(),
            "nothing before the flush"
        );
        tx.flush();
        tx.hold(frame(3).0, frame(3).1);
        tx.flush();
        for tag in 1..=3 {
            assert_eq!(rx.poll_next_unpin(&mut cx), Poll::Ready(Some(frame(tag))));
        }
        assert_eq!(tx.queued(), 0);
        assert!(rx.poll_next_unpin(&mut cx).is_pending());
        drop(tx);
        assert_eq!(rx.poll_next_unpin(&mut cx), Poll::Ready(None));
    }

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_round_of_frames_wakes_a_waiting_writer_once() {
        let (mut tx, mut rx) = outgoing();
        let wakes = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_next_unpin(&mut cx).is_pending(), "the writer waits");
        for tag in 1..=5 {
            tx.hold(frame(tag).0, frame(tag).1);
        }
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "held frames wake nobody");
        tx.flush();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        let mut batch = WriteBatch::new();
        assert!(rx.gather(&mut batch));
        assert_eq!(tx.queued(), 0, "one gather takes the whole round");
    }

    /// A socket that takes up to `room` bytes, then would block; records what it took.
    struct Socket {
        room: usize,
        took: Arc<Mutex<Vec<u8>>>,
    }

    impl DirectWrite for Socket {
        fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut took = self.took.lock().unwrap();
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(self.room - n);
                took.extend_from_slice(&b[..k]);
                n += k;
            }
            self.room -= n;
            Ok(n)
        }
    }

    /// A queue whose writer lent a socket with `room` bytes; what the socket took.
    fn lent(room: usize) -> (OutgoingSender, Outgoing, Arc<Mutex<Vec<u8>>>) {
        let (tx, mut rx) = outgoing();
        let took = Arc::new(Mutex::new(Vec::new()));
        rx.lend(Box::new(Socket {
            room,
            took: Arc::clone(&took),
        }));
        (tx, rx, took)
    }

    /// Everything the writer can take now, as bytes.
    fn writer_gets(rx: &mut Outgoing) -> Vec<u8> {
        let mut batch = WriteBatch::new();
        rx.gather(&mut batch);
        let mut out = Vec::new();
        for s in batch.slices() {
            out.extend_from_slice(&s);
        }
        out
    }

    #[test]
    fn the_driver_writes_a_round_itself_when_the_writer_is_idle() {
        let (mut tx, mut rx, took) = lent(1 << 20);
        tx.hold(frame(1).0, frame(1).1);
        tx.hold(frame(2).0, frame(2).1);
        tx.flush();
        assert_eq!(*took.lock().unwrap(), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        assert_eq!(tx.queued(), 0);
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(
            rx.poll_ready(&mut cx).is_pending(),
            "the writer got nothing"
        );
    }

    #[test]
    fn what_the_socket_does_not_take_goes_to_the_writer_in_order() {
        let (mut tx, mut rx, took) = lent(7);
        tx.hold(frame(1).0, frame(1).1);
        tx.hold(frame(2).0, frame(2).1);
        tx.flush();
        assert_eq!(*took.lock().unwrap(), [1, 1, 1, 1, 1, 2, 2]);
        assert_eq!(tx.queued(), 3, "the rest is queued for the writer");
        // The socket is full: the next round goes to the writer, behind the rest.
        tx.hold(frame(3).0, frame(3).1);
        tx.flush();
        assert_eq!(took.lock().unwrap().len(), 7);
        assert_eq!(writer_gets(&mut rx), [2, 2, 2, 3, 3, 3, 3, 3]);
        assert_eq!(tx.queued(), 0);
    }

    #[test]
    fn no_direct_write_while_frames_wait_or_the_writer_writes() {
        let (mut tx, mut rx, took) = lent(1 << 20);
        let turn = rx.turn();
        let writing = turn.take();
        tx.hold(frame(1).0, frame(1).1);
        tx.flush();
        assert!(took.lock().unwrap().is_empty(), "the writer holds the turn");
        drop(writing);
        // Frame 1 still waits for the writer: frame 2 may not overtake it.
        tx.hold(frame(2).0, frame(2).1);
        tx.flush();
        assert!(took.lock().unwrap().is_empty());
        assert_eq!(writer_gets(&mut rx), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        tx.hold(frame(3).0, frame(3).1);
        tx.flush();
        assert_eq!(*took.lock().unwrap(), [3, 3, 3, 3, 3], "idle again: direct");
    }

    #[test]
    fn a_flush_to_a_writer_that_has_gone_leaves_nothing_counted() {
        let (mut tx, rx) = outgoing();
        drop(rx);
        tx.hold(frame(1).0, frame(1).1);
        tx.flush();
        assert_eq!(tx.queued(), 0);
    }
}
