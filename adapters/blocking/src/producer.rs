//! [`Producer`]: the blocking producer handle.

use rocketwire_core::body::MessageQueue;
use rocketwire_core::client::{ProducerId, SendMode, SendTarget};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{SendError, SendResult};
use rocketwire_core::ClientError;
use std::sync::Arc;

use rocketwire_driver::{
    block_on, shutdown_error, try_send_command, CloseOnDrop, Command, SendHandle, SendPayload,
    TrySendError,
};

use crate::driver::wait;
use crate::Client;

/// A producer of a blocking client: cheaply cloneable; every clone sends as the same producer.
///
/// Every send first takes room in the client's in-flight bound
/// ([`crate::ProducerOptions`]): the `send*` methods block for it, [`Producer::try_send`]
/// fails at once with [`TrySendError::Full`].
///
/// Dropping the last clone closes the producer (it is unregistered from the brokers) without
/// waiting; [`Producer::shutdown`] closes it and waits.
#[derive(Debug, Clone)]
pub struct Producer {
    client: Client,
    id: ProducerId,
    _close: Arc<CloseOnDrop>,
}

impl Producer {
    pub(crate) fn new(client: Client, id: ProducerId) -> Self {
        let close = client.close_on_drop(move || Command::close_producer(id).0);
        Self {
            client,
            id,
            _close: Arc::new(close),
        }
    }

    /// The producer's id inside the client.
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// Sends `message` and returns where it was stored (Java `send`, with
    /// `retryTimesWhenSendFailed` retries on another broker).
    pub fn send(&self, message: Message) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::One(message),
            SendTarget::Default,
            SendMode::Sync,
        )
        .wait()
    }

    /// Hands `message` to the driver with Java's asynchronous retry count
    /// (`retryTimesWhenSendAsyncFailed`) and returns at once (after waiting for in-flight
    /// room); [`SendHandle::wait`] gives the result. Dropping the handle does not cancel the
    /// send.
    pub fn send_async(&self, message: Message) -> SendHandle {
        self.submit(
            SendPayload::One(message),
            SendTarget::Default,
            SendMode::Async,
        )
    }

    /// Sends `message` without waiting for the broker: returns once it is written.
    pub fn send_oneway(&self, message: Message) -> Result<(), SendError> {
        let permit = block_on(self.client.in_flight().acquire(message.body.len()));
        let (command, handle) =
            Command::send_oneway(self.id, message, SendTarget::Default, Some(permit));
        self.client.submit(command).map_err(|_| shutdown_error())?;
        handle.wait()
    }

    /// Sends `messages` (one topic) as one batch.
    pub fn send_batch(&self, messages: Vec<Message>) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::Batch(messages),
            SendTarget::Default,
            SendMode::Sync,
        )
        .wait()
    }

    /// Sends `message` to `queue` exactly (not retried on another queue).
    pub fn send_to_queue(
        &self,
        message: Message,
        queue: MessageQueue,
    ) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::One(message),
            SendTarget::Queue(queue),
            SendMode::Sync,
        )
        .wait()
    }

    /// Hands `message` to the driver as an async send if there is room now, without waiting.
    pub fn try_send(&self, message: Message) -> Result<SendHandle, TrySendError> {
        self.try_submit(SendPayload::One(message))
    }

    /// [`Producer::try_send`] for a batch.
    pub fn try_send_batch(&self, messages: Vec<Message>) -> Result<SendHandle, TrySendError> {
        self.try_submit(SendPayload::Batch(messages))
    }

    /// Closes the producer: waits for its sends to end, unregisters it from the brokers.
    /// Sends through other clones then fail. Closing a producer of a client already shut
    /// down returns `Ok`.
    pub fn shutdown(self) -> Result<(), ClientError> {
        let (command, rx) = Command::close_producer(self.id);
        if self.client.submit(command).is_err() {
            return Ok(());
        }
        wait(rx).unwrap_or(Ok(()))
    }

    fn submit(&self, payload: SendPayload, target: SendTarget, mode: SendMode) -> SendHandle {
        let permit = block_on(self.client.in_flight().acquire(payload.body_len()));
        let (command, handle) = Command::send(self.id, payload, target, mode, Some(permit));
        match self.client.submit(command) {
            Ok(()) => handle,
            Err(_) => SendHandle::resolved(Err(shutdown_error())),
        }
    }

    fn try_submit(&self, payload: SendPayload) -> Result<SendHandle, TrySendError> {
        let (command, handle) = try_send_command(self.client.in_flight(), self.id, payload)?;
        self.client.try_submit(command)?;
        Ok(handle)
    }
}
