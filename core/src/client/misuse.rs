//! [`Misuse`]: a command the core refused because of how it was called.

use crate::body::MessageQueue;

use super::ids::{ConsumerId, DeliveryId, ProducerId};

/// A command refused because of how it was called, not because of the network or a broker:
/// an id the core never handed out or one already closed, or an operation the target does
/// not take. The caller is to blame; the core changed nothing. Each command that takes an id
/// says which of these it returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// No such producer: never created, or already closed.
    #[error("unknown producer {0:?} (never created, or closed)")]
    UnknownProducer(ProducerId),
    /// The producer is closing: it takes no new sends and cannot be closed twice.
    #[error("producer {0:?} is closing")]
    ProducerClosing(ProducerId),
    /// No such consumer: never created, or already closed.
    #[error("unknown consumer {0:?} (never created, or closed)")]
    UnknownConsumer(ConsumerId),
    /// The consumer is closing: it takes no new commands but acks, and cannot be closed twice.
    #[error("consumer {0:?} is closing")]
    ConsumerClosing(ConsumerId),
    /// No such delivery out: never delivered, already acked, or given up (consume timeout,
    /// abandoned at close).
    #[error("unknown delivery {0:?} (never delivered, already acked, or given up)")]
    UnknownDelivery(DeliveryId),
    /// The consumer assigned its queues itself (`ClientCore::assign`): it has no
    /// group subscriptions to change.
    #[error("consumer {0:?} assigned its queues; it does not subscribe")]
    Assigned(ConsumerId),
    /// The consumer does not subscribe this topic.
    #[error("consumer {consumer:?} does not subscribe {topic}")]
    NotSubscribed {
        /// The consumer.
        consumer: ConsumerId,
        /// The topic.
        topic: String,
    },
    /// An offset below 0 (a seek).
    #[error("offset {offset} is negative")]
    NegativeOffset {
        /// The offset given.
        offset: i64,
    },
    /// The consumer is a POP consumer: the broker keeps its position, so it has no queues
    /// to assign, seek, pause, resume or commit, and its subscriptions are fixed.
    #[error("consumer {0:?} is a POP consumer: it has no queues of its own")]
    PopConsumer(ConsumerId),
    /// The consumer does not hold this queue now.
    #[error("consumer {consumer:?} does not hold {queue:?}")]
    QueueNotHeld {
        /// The consumer.
        consumer: ConsumerId,
        /// The queue.
        queue: MessageQueue,
    },
}
