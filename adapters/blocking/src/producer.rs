//! [`Producer`]: the shared producer handle with blocking methods.

use rocketwire_core::body::MessageQueue;
use rocketwire_core::client::ProducerId;
use std::time::Duration;

use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{SendError, SendResult, SendSelector};
use rocketwire_core::{ClientError, RequestError};
use rocketwire_driver::{block_on, SendHandle, TrySendError};

use crate::threads::Threads;

/// A producer of a blocking client: cheaply cloneable; every clone sends as the same producer.
///
/// Every send first takes room in the client's in-flight bound
/// ([`crate::ProducerOptions`]): the `send*` methods block for it, [`Producer::try_send`]
/// fails at once with [`TrySendError::Full`].
///
/// Dropping the last clone closes the producer (it is unregistered from the brokers) without
/// waiting; [`Producer::shutdown`] closes it and waits.
#[derive(Debug, Clone)]
pub struct Producer(pub(crate) rocketwire_driver::Producer<Threads>);

impl Producer {
    /// The producer's id inside the client.
    pub fn id(&self) -> ProducerId {
        self.0.id()
    }

    blocking! {
        /// Sends `message` and returns where it was stored (Java `send`, with
        /// `retryTimesWhenSendFailed` retries on another broker).
        fn send(&self, message: Message) -> Result<SendResult, SendError>;
        /// Sends `message` as a request and waits up to `timeout` for its reply (Java
        /// `request`); a consumer answers with `rocketwire_core::producer::reply_message`.
        fn request(&self, message: Message, timeout: Duration) -> Result<MessageExt, RequestError>;
        /// Sends `message` without waiting for the broker: returns once it is written.
        fn send_oneway(&self, message: Message) -> Result<(), SendError>;
        /// Sends `messages` (one topic) as exactly one batch request (Java's
        /// `send(Collection<Message>)`): one result, whose `msg_id` joins the messages' ids.
        /// A batch over the producer's `max_message_size` is refused.
        fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError>;
        /// Sends `message` to `queue` exactly (not retried on another queue).
        fn send_to_queue(&self, message: Message, queue: MessageQueue)
            -> Result<SendResult, SendError>;
        /// Sends `messages` (one topic) as a batch: one request when they fit the producer's
        /// `max_message_size`, otherwise split into requests that each fit, sent all at once;
        /// one result per message, in order (its own id and offset, or its request's error).
        /// A message too large to travel even alone fails every message, and nothing is sent.
        fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>>;
        /// Sends `message` to the queue `selector` picks (Java `send(msg, selector, arg)`:
        /// the argument is given to `SendSelector::new`); not retried on another queue.
        fn send_with_selector(&self, message: Message, selector: SendSelector)
            -> Result<SendResult, SendError>;
        /// Sends `messages` (one topic) as one batch to `queue` exactly (not retried on
        /// another queue).
        fn send_batch_to_queue(&self, messages: Vec<Message>, queue: MessageQueue)
            -> Result<SendResult, SendError>;
        /// Closes the producer: waits for its sends to end, unregisters it from the brokers.
        /// Sends through other clones then fail. Closing a producer of a client already shut
        /// down returns `Ok`.
        fn shutdown(self) -> Result<(), ClientError>;
    }

    /// Hands `message` to the driver with Java's asynchronous retry count
    /// (`retryTimesWhenSendAsyncFailed`) and returns at once (after waiting for in-flight
    /// room); [`SendHandle::wait`] gives the result. Dropping the handle does not cancel the
    /// send.
    pub fn send_async(&self, message: Message) -> SendHandle {
        block_on(self.0.enqueue(message))
    }

    /// Hands `message` to the driver as an async send if there is room now, without waiting.
    pub fn try_send(&self, message: Message) -> Result<SendHandle, TrySendError> {
        self.0.try_send(message)
    }

    /// [`Producer::try_send`] for a batch.
    pub fn try_send_batch(&self, messages: Vec<Message>) -> Result<SendHandle, TrySendError> {
        self.0.try_send_batch(messages)
    }
}
