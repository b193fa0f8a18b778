//! Queue selectors for sends that choose their own queue (Java `MessageQueueSelector`,
//! `SelectMessageQueueByHash`/`ByRandom`; Go `QueueSelector`s, protocol §6.3).
//!
//! A send through a selector goes to the queue the selector picks and is **not** retried on
//! another queue: an orderly (sharded) send that silently moved to another queue would break
//! the order it was chosen for. Java does the same (`sendSelectImpl` retries only on the same
//! queue list after re-selecting with the same argument). Ordinary sends use
//! [`LatencyFaultTolerance::select_queue`](super::LatencyFaultTolerance::select_queue), which
//! avoids failed brokers and retries elsewhere.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::body::MessageQueue;
use crate::message::{keys, tag_hash, Message};
use crate::time::Rng;

use super::publish::QueueIndex;

/// A user-supplied selector: given the topic's queues (in their deterministic order) and the
/// message, the position of the queue to use. A position outside the list fails the send.
pub type SelectFn = Box<dyn Fn(&[MessageQueue], &Message) -> usize + Send>;

/// How a selector send picks its queue.
#[derive(Default)]
pub enum QueueSelector {
    /// Round robin with a per-topic counter that starts at a random value.
    #[default]
    RoundRobin,
    /// A uniformly random queue.
    Random,
    /// `abs(hashCode(key) % len)` with Java's `String.hashCode` of the message's sharding key
    /// ([`keys::SHARDING_KEY`]), so one key always lands on one queue while the route is
    /// unchanged (Java `SelectMessageQueueByHash`). Messages without a key get a random queue,
    /// as in Go's hash selector.
    Hash,
    /// A user function.
    Custom(SelectFn),
}

impl fmt::Debug for QueueSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueSelector::RoundRobin => f.write_str("RoundRobin"),
            QueueSelector::Random => f.write_str("Random"),
            QueueSelector::Hash => f.write_str("Hash"),
            QueueSelector::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// A selector given with one send and its argument (Java `send(msg, selector, arg)`): the
/// function gets the topic's queues (in their deterministic order), the message and the
/// argument, and returns the position of the queue to use. As with every selector, the send
/// is not retried on another queue. Clones share the function.
#[derive(Clone)]
pub struct SendSelector(Arc<SharedSelectFn>);

/// A selector function with its argument bound, shared by clones of a [`SendSelector`].
type SharedSelectFn = dyn Fn(&[MessageQueue], &Message) -> usize + Send + Sync;

impl SendSelector {
    /// `selector` with `arg`, as Java's `MessageQueueSelector.select(mqs, msg, arg)`.
    pub fn new<A, F>(selector: F, arg: A) -> Self
    where
        A: Send + Sync + 'static,
        F: Fn(&[MessageQueue], &Message, &A) -> usize + Send + Sync + 'static,
    {
        Self(Arc::new(move |queues, message| {
            selector(queues, message, &arg)
        }))
    }

    /// The queue this selector picks for `message` among `queues`.
    pub fn select<'q>(
        &self,
        queues: &'q [MessageQueue],
        message: &Message,
    ) -> Result<&'q MessageQueue, SelectError> {
        let len = queues.len();
        if len == 0 {
            return Err(SelectError::NoQueue);
        }
        let index = (self.0)(queues, message);
        queues
            .get(index)
            .ok_or(SelectError::OutOfRange { index, len })
    }
}

impl fmt::Debug for SendSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendSelector(..)")
    }
}

/// The same selector: clones of one [`SendSelector::new`].
impl PartialEq for SendSelector {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SendSelector {}

/// Why a selector found no queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// The topic has no writable queue.
    #[error("no queue to select from")]
    NoQueue,
    /// A custom selector returned a position outside the queue list.
    #[error("selector chose queue {index} of {len}")]
    OutOfRange {
        /// The position returned.
        index: usize,
        /// The number of queues.
        len: usize,
    },
}

/// Java `SelectMessageQueueByHash`: `abs(key.hashCode() % len)`; `None` when `len` is 0.
pub fn hash_position(key: &str, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok().filter(|&l| l > 0)?;
    let rem = i64::from(tag_hash(key)) % len;
    usize::try_from(rem.abs()).ok()
}

/// A selector and its per-topic round-robin state.
#[derive(Debug, Default)]
pub struct SelectorState {
    selector: QueueSelector,
    indexes: HashMap<String, QueueIndex>,
}

impl SelectorState {
    /// State for `selector`.
    pub fn new(selector: QueueSelector) -> Self {
        SelectorState {
            selector,
            indexes: HashMap::new(),
        }
    }

    /// The selector.
    pub fn selector(&self) -> &QueueSelector {
        &self.selector
    }

    /// Picks the queue for `message` among `queues` (the topic's publish queues).
    pub fn select<'q>(
        &mut self,
        queues: &'q [MessageQueue],
        message: &Message,
        rng: &mut Rng,
    ) -> Result<&'q MessageQueue, SelectError> {
        let len = queues.len();
        if len == 0 {
            return Err(SelectError::NoQueue);
        }
        let random = |rng: &mut Rng| rng.below(len as u64) as usize;
        let index = match &self.selector {
            QueueSelector::RoundRobin => {
                let counter = self
                    .indexes
                    .entry(message.topic.clone())
                    .or_insert_with(|| QueueIndex::random(rng));
                counter.next_position(len).ok_or(SelectError::NoQueue)?
            }
            QueueSelector::Random => random(rng),
            QueueSelector::Hash => match message.property(keys::SHARDING_KEY) {
                Some(key) => hash_position(key, len).ok_or(SelectError::NoQueue)?,
                None => random(rng),
            },
            QueueSelector::Custom(f) => f(queues, message),
        };
        queues
            .get(index)
            .ok_or(SelectError::OutOfRange { index, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    #[test]
    fn hash_matches_java() {
        // Java: "hello".hashCode() = 99162322, 99162322 % 4 = 2.
        assert_eq!(hash_position("hello", 4), Some(2));
        // "polygenelubricants".hashCode() = Integer.MIN_VALUE; Java: abs(MIN % 3) = abs(-2) = 2.
        assert_eq!(hash_position("polygenelubricants", 3), Some(2));
        assert_eq!(hash_position("x", 0), None);
    }

    #[test]
    fn round_robin_is_per_topic_and_cycles() {
        let qs = queues(3);
        let mut s = SelectorState::new(QueueSelector::RoundRobin);
        let mut rng = Rng::new(5);
        let m = Message::new("T", "x");
        let picks: Vec<i32> = (0..6)
            .map(|_| s.select(&qs, &m, &mut rng).unwrap().queue_id)
            .collect();
        for w in picks.windows(2) {
            assert_eq!((w[0] + 1) % 3, w[1], "{picks:?}");
        }
    }

    #[test]
    fn custom_and_errors() {
        let qs = queues(2);
        let mut rng = Rng::new(1);
        let m = Message::new("T", "x");
        let mut s = SelectorState::new(QueueSelector::Custom(Box::new(|q, _| q.len() - 1)));
        assert_eq!(s.select(&qs, &m, &mut rng).unwrap().queue_id, 1);
        let mut bad = SelectorState::new(QueueSelector::Custom(Box::new(|_, _| 7)));
        assert_eq!(
            bad.select(&qs, &m, &mut rng),
            Err(SelectError::OutOfRange { index: 7, len: 2 })
        );
        let mut random = SelectorState::new(QueueSelector::Random);
        assert_eq!(random.select(&[], &m, &mut rng), Err(SelectError::NoQueue));
        assert!(random.select(&qs, &m, &mut rng).is_ok());
    }

    #[test]
    fn per_send_selector_gets_its_argument() {
        let qs = queues(4);
        let m = Message::new("T", "x");
        let by_arg = SendSelector::new(
            |q: &[MessageQueue], _: &Message, arg: &u64| (*arg % q.len() as u64) as usize,
            7u64,
        );
        assert_eq!(by_arg.select(&qs, &m).unwrap().queue_id, 3);
        assert_eq!(by_arg.select(&[], &m), Err(SelectError::NoQueue));
        let too_far = SendSelector::new(|q: &[MessageQueue], _: &Message, _: &()| q.len(), ());
        assert_eq!(
            too_far.select(&qs, &m),
            Err(SelectError::OutOfRange { index: 4, len: 4 })
        );
        assert_eq!(by_arg.clone(), by_arg);
        assert_ne!(by_arg, too_far);
    }
}
