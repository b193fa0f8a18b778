//! [`Outgoing`]: the frames queued for one connection's writer. The driver holds the frames
//! a round of the shell gives ([`OutgoingSender::hold`]) and hands them over together when
//! the round ends ([`OutgoingSender::flush`]): the writer is woken once per round, not once
//! per frame (a rebalance or heartbeat instant gives several frames at once, and each wake of
//! a writer thread costs context switches).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use crate::write_batch::WriteBatch;

/// One frame: its head, then its body.
type Frame = (Bytes, Bytes);

/// The frames queued for one connection's writer, with the bytes they hold: the driver adds
/// a frame's size when it holds the frame, the writer takes it off when it takes the frame,
/// so the driver can bound what waits in user space for a peer that stopped reading.
#[derive(Debug)]
pub struct Outgoing {
    rounds: mpsc::UnboundedReceiver<Vec<Frame>>,
    /// Frames of a round already received, not yet taken.
    taken: VecDeque<Frame>,
    queued: Arc<AtomicUsize>,
}

/// The driver's end of an [`Outgoing`] queue.
#[derive(Debug)]
pub(crate) struct OutgoingSender {
    rounds: mpsc::UnboundedSender<Vec<Frame>>,
    held: Vec<Frame>,
    queued: Arc<AtomicUsize>,
}

/// A new outgoing queue: the driver's end and the writer's.
pub(crate) fn outgoing() -> (OutgoingSender, Outgoing) {
    let (tx, rx) = mpsc::unbounded();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        OutgoingSender {
            rounds: tx,
            held: Vec::new(),
            queued: Arc::clone(&queued),
        },
        Outgoing {
            rounds: rx,
            taken: VecDeque::new(),
            queued,
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
        self.queued
            .fetch_add(head.len() + body.len(), Ordering::AcqRel);
        self.held.push((head, body));
        self.held.len() == 1
    }

    /// Hands the held frames to the writer, waking it once (dropped if it has gone).
    pub(crate) fn flush(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let round = std::mem::take(&mut self.held);
        if let Err(e) = self.rounds.unbounded_send(round) {
            let len: usize = e.into_inner().iter().map(|(h, b)| h.len() + b.len()).sum();
            self.queued.fetch_sub(len, Ordering::AcqRel);
        }
    }

    /// Holds a frame and hands it over at once.
    #[cfg(test)]
    pub(crate) fn send(&mut self, head: Bytes, body: Bytes) {
        self.hold(head, body);
        self.flush();
    }
}

impl Outgoing {
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
        loop {
            if let Some(frame) = self.taken.pop_front() {
                return Poll::Ready(Some(self.took(frame)));
            }
            match self.rounds.poll_next_unpin(cx) {
                Poll::Ready(Some(round)) => self.taken.extend(round),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
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

    #[test]
    fn a_flush_to_a_writer_that_has_gone_leaves_nothing_counted() {
        let (mut tx, rx) = outgoing();
        drop(rx);
        tx.hold(frame(1).0, frame(1).1);
        tx.flush();
        assert_eq!(tx.queued(), 0);
    }
}
