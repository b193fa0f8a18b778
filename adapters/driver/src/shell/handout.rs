//! What the shell hands out: the events a consumer's dispatcher gets, the handle of a send's
//! result, and the local transactions and broker checks a transactional producer answers.
//! It names nothing of the handles, so the dependency order stays one-way:
//! `shell ← driver ← client ← handles`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use rocketwire_core::body::MessageQueue;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{SendError, SendResult};
use rocketwire_core::{
    ConsumeDirectlyToken, DeliveryId, InvokeError, LocalTransactionToken, TransactionCheckToken,
};

use crate::park::block_on;

/// What the shell hands a consumer's dispatcher.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConsumerEvent {
    /// Messages for the handler; settle with [`super::Command::Ack`].
    Deliver {
        /// Acks this batch.
        delivery: DeliveryId,
        /// The queue they came from.
        queue: MessageQueue,
        /// The messages, in queue order.
        messages: Vec<MessageExt>,
    },
    /// Broadcasting: write this offset file content. `seq` grows with every event, so a
    /// writer that raced with a later one can skip a stale content.
    PersistOffsets {
        /// Order of this content among the consumer's contents.
        seq: u64,
        /// The file content.
        content: Vec<u8>,
    },
    /// A seek moved `queue`. Deliveries of it received before this event are stale (the core
    /// gave them up): drop them.
    Seeked {
        /// The queue.
        queue: MessageQueue,
    },
    /// A rebalance changed the consumer's share of a topic (lite pull consumers only).
    QueuesChanged(QueueChange),
    /// CONSUME_MESSAGE_DIRECTLY (309) for this push consumer: run the handler on `messages`
    /// and answer `token` with [`crate::shell::Command::answer_consume_directly`].
    ConsumeDirectly {
        /// Answers the broker.
        token: ConsumeDirectlyToken,
        /// The decoded message(s) of the request.
        messages: Vec<MessageExt>,
    },
}

/// Takes a consumer's events on the driver's task. It must not block: a push consumer's
/// queues deliveries for its handlers itself and starts them when the shell has handled
/// all the core's events of the moment ([`TakeEvents::flush`]), so a burst of deliveries
/// wakes one handler task, not one per delivery (where tasks are threads, a wake per
/// delivery was most of a consumer's cost), and forwards the other events to its
/// dispatcher task.
pub struct ConsumerSink(Box<dyn TakeEvents>);

/// What a [`ConsumerSink`] does with events.
pub trait TakeEvents: Send {
    /// Takes `event`; false once nobody takes events any more.
    fn take(&mut self, event: ConsumerEvent) -> bool;

    /// The shell has handled every event of the moment: start what was queued.
    fn flush(&mut self) {}
}

/// Sends every event on a channel.
struct Channel(mpsc::UnboundedSender<ConsumerEvent>);

impl TakeEvents for Channel {
    fn take(&mut self, event: ConsumerEvent) -> bool {
        self.0.unbounded_send(event).is_ok()
    }
}

impl ConsumerSink {
    /// A sink that sends every event on `tx`.
    pub fn channel(tx: mpsc::UnboundedSender<ConsumerEvent>) -> Self {
        Self(Box::new(Channel(tx)))
    }

    /// A sink that hands events to `take`.
    pub fn new(take: impl TakeEvents + 'static) -> Self {
        Self(Box::new(take))
    }

    /// Hands `event` over; false when nobody takes events any more.
    pub(crate) fn take(&mut self, event: ConsumerEvent) -> bool {
        self.0.take(event)
    }

    /// Starts what the events handed over since the last flush queued.
    pub(crate) fn flush(&mut self) {
        self.0.flush()
    }
}

impl fmt::Debug for ConsumerSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerSink").finish_non_exhaustive()
    }
}

/// A lite pull consumer's new share of a topic after a rebalance (Java
/// `MessageQueueListener.messageQueueChanged(topic, mqAll, mqDivided)`'s `mqDivided`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueChange {
    /// The topic.
    pub topic: String,
    /// The queues of `topic` the consumer holds from now on, in order.
    pub queues: Vec<MessageQueue>,
}

/// The error of a send whose client is gone.
pub(crate) fn shutdown_error() -> SendError {
    SendError::Transport(InvokeError::Shutdown)
}

/// The result of a send handed to the driver: `.await` it (async) or [`SendHandle::wait`]
/// for it (blocking). Dropping it does not cancel the send.
#[must_use = "a send handle does nothing unless awaited or waited for"]
pub struct SendHandle<T = SendResult> {
    rx: Option<oneshot::Receiver<Result<T, SendError>>>,
    ready: Option<Result<T, SendError>>,
}

impl<T> fmt::Debug for SendHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendHandle")
            .field("resolved", &self.ready.is_some())
            .finish()
    }
}

impl<T> SendHandle<T> {
    pub(crate) fn new(rx: oneshot::Receiver<Result<T, SendError>>) -> Self {
        Self {
            rx: Some(rx),
            ready: None,
        }
    }

    /// A handle that is already resolved (e.g. the send could not be handed over).
    pub fn resolved(result: Result<T, SendError>) -> Self {
        Self {
            rx: None,
            ready: Some(result),
        }
    }

    /// Blocks the calling thread until the result arrives.
    pub fn wait(self) -> Result<T, SendError> {
        block_on(self)
    }
}

impl<T> Unpin for SendHandle<T> {}

impl<T> Future for SendHandle<T> {
    type Output = Result<T, SendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(result) = this.ready.take() {
            return Poll::Ready(result);
        }
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(Err(shutdown_error()));
        };
        match Pin::new(rx).poll(cx) {
            Poll::Ready(received) => {
                this.rx = None;
                Poll::Ready(received.unwrap_or_else(|_| Err(shutdown_error())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A half message stored: run the local transaction, then end it with the token.
#[derive(Debug)]
pub struct LocalTransaction {
    /// Ends the local transaction.
    pub token: LocalTransactionToken,
    /// The message as sent.
    pub message: Message,
    /// Where the half message was stored.
    pub send_result: SendResult,
}

/// A broker's check of one transaction.
#[derive(Debug)]
pub struct TransactionCheck {
    /// Answers the check.
    pub token: TransactionCheckToken,
    /// The half message.
    pub message: MessageExt,
}

/// Why `try_send` handed nothing to the driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError {
    /// The in-flight bound ([`crate::ProducerOptions`]) or the command queue is full.
    #[error("too many sends in flight")]
    Full,
    /// The client has been shut down.
    #[error("client is shut down")]
    Shutdown,
}
