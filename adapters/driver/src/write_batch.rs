//! Frames gathered for one vectored write. A connection's writer takes the first frame it
//! waits for, then every frame already queued ([`Outgoing::gather`]), up to
//! [`WRITE_BATCH_FRAMES`] frames or [`WRITE_BATCH_BYTES`], and writes them with as few
//! `writev` calls as the socket allows: many pipelined requests cost one syscall, not one
//! each.
//!
//! [`Outgoing::gather`]: crate::Outgoing::gather

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

/// Most frames in one batch (two buffers each, well under any `IOV_MAX`).
pub const WRITE_BATCH_FRAMES: usize = 64;
/// Bytes past which a batch takes no more frames.
pub const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Most buffers in one vectored write (a batch filled past its limits, as the driver's
/// direct writes fill one, still writes under any `IOV_MAX`).
const MAX_SLICES: usize = 512;

/// Buffers waiting to be written, in order.
#[derive(Debug, Default)]
pub struct WriteBatch {
    bufs: VecDeque<Bytes>,
    frames: usize,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a frame (its head and body).
    pub fn push(&mut self, head: Bytes, body: Bytes) {
        self.frames += 1;
        self.bytes += head.len() + body.len();
        for buf in [head, body] {
            if !buf.is_empty() {
                self.bufs.push_back(buf);
            }
        }
    }

    /// Whether it takes no more frames.
    pub fn is_full(&self) -> bool {
        self.frames >= WRITE_BATCH_FRAMES || self.bytes >= WRITE_BATCH_BYTES
    }

    /// Whether everything was written.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// The buffers left (at most the first 512), for one vectored write.
    pub fn slices(&self) -> Vec<IoSlice<'_>> {
        self.bufs
            .iter()
            .take(MAX_SLICES)
            .map(|b| IoSlice::new(b))
            .collect()
    }

    /// Takes the buffers left, in order, and empties the batch.
    pub(crate) fn take_bufs(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.frames = 0;
        self.bytes = 0;
        self.bufs.drain(..)
    }

    /// Drops the first `n` bytes (a write took them); the batch takes frames again once
    /// it is empty.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            if n < front.len() {
                let _ = front.split_to(n);
                break;
            }
            n -= front.len();
            self.bufs.pop_front();
        }
        if self.bufs.is_empty() {
            self.frames = 0;
            self.bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(batch: &WriteBatch) -> Vec<u8> {
        batch.slices().iter().flat_map(|s| s.to_vec()).collect()
    }

    #[test]
    fn partial_writes_keep_order_and_empty_buffers_are_skipped() {
        let mut b = WriteBatch::new();
        b.push(Bytes::from_static(b"h1"), Bytes::from_static(b"body1"));
        b.push(Bytes::from_static(b"h2"), Bytes::new());
        assert_eq!(b.slices().len(), 3, "the empty body is not a slice");
        assert_eq!(written(&b), b"h1body1h2");
        b.advance(3);
        assert_eq!(written(&b), b"ody1h2");
        b.advance(4);
        assert_eq!(written(&b), b"h2");
        assert!(!b.is_empty());
        b.advance(2);
        assert!(b.is_empty());
        b.advance(5);
        assert!(b.is_empty(), "advancing past the end is harmless");
    }

    #[test]
    fn gather_takes_what_is_queued_without_waiting_and_sees_the_end() {
        let (mut tx, mut rx) = crate::outgoing::outgoing();
        for i in 0..3u8 {
            tx.send(Bytes::from(vec![i; 2]), Bytes::from(vec![i; 3]));
        }
        assert_eq!(tx.queued(), 15);
        let mut b = WriteBatch::new();
        assert!(rx.gather(&mut b), "the sender is still there");
        assert_eq!(written(&b), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        assert_eq!(tx.queued(), 0, "taken frames leave the queued count");
        assert!(rx.gather(&mut b), "nothing more, not ended");
        tx.send(Bytes::from_static(b"x"), Bytes::new());
        drop(tx);
        b.advance(15);
        assert!(!rx.gather(&mut b), "the last frame, then the end");
        assert_eq!(written(&b), b"x");
    }

    #[test]
    fn one_write_takes_at_most_max_slices_buffers_and_the_rest_follows() {
        let mut b = WriteBatch::new();
        for _ in 0..MAX_SLICES {
            b.push(Bytes::from_static(b"h"), Bytes::from_static(b"b"));
        }
        assert_eq!(b.slices().len(), MAX_SLICES);
        b.advance(MAX_SLICES);
        assert_eq!(b.slices().len(), MAX_SLICES, "the second half");
        assert_eq!(b.take_bufs().count(), MAX_SLICES);
        assert!(b.is_empty() && !b.is_full());
    }

    #[test]
    fn full_at_the_frame_or_byte_limit() {
        let mut b = WriteBatch::new();
        for _ in 0..WRITE_BATCH_FRAMES - 1 {
            b.push(Bytes::from_static(b"h"), Bytes::from_static(b"b"));
        }
        assert!(!b.is_full());
        b.push(Bytes::from_static(b"h"), Bytes::from_static(b"b"));
        assert!(b.is_full());
        b.advance(2 * WRITE_BATCH_FRAMES);
        assert!(
            b.is_empty() && !b.is_full(),
            "emptied, it takes frames again"
        );
        b.push(Bytes::from(vec![0u8; WRITE_BATCH_BYTES]), Bytes::new());
        assert!(b.is_full());
    }
}
