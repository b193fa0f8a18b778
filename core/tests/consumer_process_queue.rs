//! Process-queue behaviour through the public API: orderly batches, seek, duplicates.
#![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

use std::time::{Duration, Instant};

use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::ProcessQueue;
use rocketwire_core::message::{Message, MessageExt};

fn msgs(offsets: &[i64]) -> Vec<MessageExt> {
    offsets
        .iter()
        .map(|o| {
            let mut e = MessageExt::from_message(Message::new("t", vec![0u8; 10]));
            e.queue_offset = *o;
            e
        })
        .collect()
}

fn pulling(start: i64) -> ProcessQueue {
    let mut q = ProcessQueue::new(MessageQueue::new("t", "b", 0));
    q.start(start).unwrap();
    q
}

#[test]
fn orderly_batches() {
    let now = Instant::now();
    let mut q = pulling(0);
    q.on_pulled(msgs(&[0, 1, 2, 3]), 4, now).unwrap();
    let b: Vec<i64> = q
        .take_batch(2, now)
        .iter()
        .map(|m| m.queue_offset)
        .collect();
    assert_eq!(b, vec![0, 1]);
    assert!(q.take_batch(2, now).is_empty(), "one batch at a time");
    assert_eq!(q.cached_count(), 4);
    let until = now + Duration::from_secs(1);
    q.suspend_batch(until);
    assert!(q.take_batch(2, now).is_empty());
    let b = q.take_batch(2, until);
    assert_eq!(
        b.iter().map(|m| m.reconsume_times).collect::<Vec<_>>(),
        vec![1, 1]
    );
    q.commit_batch().unwrap();
    assert_eq!(q.committable_offset(), Some(2));
    let b = q.take_batch(5, until);
    assert_eq!(b.len(), 2);
    q.rollback_batch();
    assert_eq!(q.taken_offsets(), Vec::<i64>::new());
    assert_eq!(q.take_batch(5, until).len(), 2);
    assert_eq!(q.commit_batch().unwrap().messages, 2);
    assert_eq!(q.committable_offset(), Some(4));
}

#[test]
fn seek_drops_undelivered() {
    let now = Instant::now();
    let mut q = pulling(0);
    q.on_pulled(msgs(&[0, 1, 2]), 3, now).unwrap();
    q.take_ready(1, now);
    assert_eq!(q.seek(1).unwrap().messages, 2);
    assert_eq!(q.next_pull_offset(), 1);
    assert_eq!(
        q.committable_offset(),
        Some(0),
        "in-flight 0 still unsettled"
    );
    q.on_pulled(msgs(&[1]), 2, now).unwrap();
    assert_eq!(q.cached_count(), 2);
}

#[test]
fn duplicates_and_old_offsets_ignored() {
    let now = Instant::now();
    let mut q = pulling(10);
    assert_eq!(
        q.on_pulled(msgs(&[5, 10, 10]), 11, now).unwrap().messages,
        1
    );
    assert_eq!(q.cached_count(), 1);
}
