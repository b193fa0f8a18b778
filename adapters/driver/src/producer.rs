//! [`Producer`]: the producer handle, and [`SendHandle`], the result of a send already handed
//! to the driver (awaited, or waited for on a blocking client).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future;

use rocketwire_core::body::MessageQueue;
use rocketwire_core::client::{ProducerId, SendMode, SendTarget};
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{
    split_batch, ProducerConfig, QueueSelector, SendError, SendResult, SendSelector,
};
use rocketwire_core::{ClientError, RequestError};
use tracing::Instrument;

use crate::client::Client;
use crate::close_on_drop::CloseOnDrop;
use crate::inflight::InFlight;
use crate::shell::{reply_result, shutdown_error, Command, SendPayload};
pub use crate::shell::{SendHandle, TrySendError};

/// The async send of `payload` by producer `id` if `in_flight` has room now, without waiting:
/// the command to hand to the driver and the handle of its result.
fn try_send_command(
    in_flight: &Arc<InFlight>,
    id: ProducerId,
    payload: SendPayload,
) -> Result<(Command, SendHandle), TrySendError> {
    let permit = in_flight
        .try_acquire(payload.body_len())
        .ok_or(TrySendError::Full)?;
    Ok(Command::send(
        id,
        payload,
        SendTarget::Default,
        SendMode::Async,
        Some(permit),
    ))
}

/// A producer of an async client: cheaply cloneable; every clone sends as the same producer.
///
/// Every send first takes room in the client's in-flight bound ([`crate::ProducerOptions`]):
/// the `send*` methods wait for it, [`Producer::try_send`] fails at once with
/// [`TrySendError::Full`].
///
/// Dropping the last clone closes the producer (it is unregistered from the brokers) without
/// waiting; [`Producer::shutdown`] closes it and waits.
pub struct Producer<R> {
    client: Client<R>,
    id: ProducerId,
    /// The producer's `max_message_size`: the most one batch request may carry.
    max_batch_bytes: usize,
    _close: Arc<CloseOnDrop>,
}

impl<R> Clone for Producer<R> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            id: self.id,
            max_batch_bytes: self.max_batch_bytes,
            _close: self._close.clone(),
        }
    }
}

impl<R> fmt::Debug for Producer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").field("id", &self.id).finish()
    }
}

impl<R> Producer<R> {
    pub(crate) fn new(client: Client<R>, id: ProducerId, max_batch_bytes: usize) -> Self {
        let close = client.close_on_drop(move || Command::close_producer(id).0);
        Self {
            client,
            id,
            max_batch_bytes,
            _close: Arc::new(close),
        }
    }

    /// The producer's id inside the client.
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// Sends `message` and resolves with where it was stored (Java `send`, with
    /// `retryTimesWhenSendFailed` retries on another broker).
    pub async fn send(&self, message: Message) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::One(message),
            SendTarget::Default,
            SendMode::Sync,
        )
        .await
    }

    /// [`Producer::send`] with Java's asynchronous retry count
    /// (`retryTimesWhenSendAsyncFailed`). Run many of them concurrently to pipeline sends.
    pub async fn send_async(&self, message: Message) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::One(message),
            SendTarget::Default,
            SendMode::Async,
        )
        .await
    }

    /// Hands `message` to the driver as [`Producer::send_async`] does once there is in-flight
    /// room, and returns the handle of its result without waiting for it (to pipeline sends
    /// from one task). Dropping the handle does not cancel the send.
    pub async fn enqueue(&self, message: Message) -> SendHandle {
        self.hand_over(
            SendPayload::One(message),
            SendTarget::Default,
            SendMode::Async,
        )
        .await
    }

    /// Sends `message` without waiting for the broker: resolves once it is written.
    pub async fn send_oneway(&self, message: Message) -> Result<(), SendError> {
        let permit = self.client.in_flight().acquire(message.body.len()).await;
        let (command, handle) =
            Command::send_oneway(self.id, message, SendTarget::Default, Some(permit));
        self.client
            .send(command)
            .await
            .map_err(|_| shutdown_error())?;
        handle.await
    }

    /// Sends `messages` (one topic) as exactly one batch request (Java's
    /// `send(Collection<Message>)`): one result for the batch, whose `msg_id` joins the
    /// messages' ids. A batch larger than the producer's `max_message_size` is refused;
    /// [`Producer::send_batch`] sends it as several, with a result per message.
    pub async fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::Batch(messages),
            SendTarget::Default,
            SendMode::Sync,
        )
        .await
    }

    /// Sends `message` to `queue` exactly (not retried on another queue).
    pub async fn send_to_queue(
        &self,
        message: Message,
        queue: MessageQueue,
    ) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::One(message),
            SendTarget::Queue(queue),
            SendMode::Sync,
        )
        .await
    }

    /// Sends `messages` (one topic) as a batch: one request when they fit the producer's
    /// `max_message_size`, otherwise split into batches that each fit (Java's `ListSplitter`
    /// idea, with exact record sizes), sent all at once; each request is an ordinary batch
    /// send (retries, fault isolation). Returns one result per message, in order: its own
    /// message id and offset, or its request's error. A message too large to travel even
    /// alone fails every message, and nothing is sent.
    /// [`Producer::send_batch_as_one`] sends exactly one request with one result.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>> {
        let count = messages.len();
        let parts = match split_batch(messages, self.max_batch_bytes) {
            Ok(parts) => parts,
            Err(e) => return vec![Err(SendError::Validation(e)); count],
        };
        let sends = parts.into_iter().map(|part| {
            let len = part.len();
            async move { (len, self.send_batch_as_one(part).await) }
        });
        let mut results = Vec::with_capacity(count);
        for (len, result) in future::join_all(sends).await {
            match result {
                Ok(sent) => results.extend(per_message(&sent, len)),
                Err(e) => results.extend(std::iter::repeat_n(Err(e), len)),
            }
        }
        results
    }

    /// Sends `message` to the queue `selector` picks (Java `send(msg, selector, arg)`: the
    /// argument is given to [`SendSelector::new`]); not retried on another queue.
    pub async fn send_with_selector(
        &self,
        message: Message,
        selector: SendSelector,
    ) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::One(message),
            SendTarget::Select(selector),
            SendMode::Sync,
        )
        .await
    }

    /// Sends `messages` (one topic) as one batch to `queue` exactly (not retried on another
    /// queue).
    pub async fn send_batch_to_queue(
        &self,
        messages: Vec<Message>,
        queue: MessageQueue,
    ) -> Result<SendResult, SendError> {
        self.submit(
            SendPayload::Batch(messages),
            SendTarget::Queue(queue),
            SendMode::Sync,
        )
        .await
    }

    /// Hands `message` to the driver as an async send if there is room now, without waiting;
    /// the handle resolves with the result.
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
    pub async fn shutdown(self) -> Result<(), ClientError> {
        let (command, rx) = Command::close_producer(self.id);
        if self.client.send(command).await.is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    /// Sends `message` as a request (Java 5.x `request(msg, timeout)`) and waits up to
    /// `timeout` for the reply a consumer sends back with
    /// [`reply_message`](rocketwire_core::producer::reply_message): the request carries
    /// a correlation id, this client's id to reply to, and `timeout` as its time to live.
    /// The reply comes to this client whichever broker stores it (the broker pushes it).
    pub async fn request(
        &self,
        message: Message,
        timeout: Duration,
    ) -> Result<MessageExt, RequestError> {
        let (command, rx) = Command::request(self.id, message, timeout);
        if self.client.send(command).await.is_err() {
            return Err(RequestError::Send(shutdown_error()));
        }
        rx.await
            .unwrap_or(Err(RequestError::Send(shutdown_error())))
    }

    async fn submit(
        &self,
        payload: SendPayload,
        target: SendTarget,
        mode: SendMode,
    ) -> Result<SendResult, SendError> {
        let span = tracing::debug_span!(
            "rocketwire.send",
            topic = %payload.topic(),
            broker = tracing::field::Empty,
            queue = tracing::field::Empty,
            offset = tracing::field::Empty,
        );
        let send = async {
            let result = self.hand_over(payload, target, mode).await.await;
            if let Ok(sent) = &result {
                let span = tracing::Span::current();
                span.record("broker", sent.message_queue.broker_name.as_str());
                span.record("queue", sent.message_queue.queue_id);
                span.record("offset", sent.queue_offset);
            }
            result
        };
        send.instrument(span).await
    }

    async fn hand_over(
        &self,
        payload: SendPayload,
        target: SendTarget,
        mode: SendMode,
    ) -> SendHandle {
        let permit = self.client.in_flight().acquire(payload.body_len()).await;
        let (command, handle) = Command::send(self.id, payload, target, mode, Some(permit));
        match self.client.send(command).await {
            Ok(()) => handle,
            Err(_) => SendHandle::resolved(Err(shutdown_error())),
        }
    }

    fn try_submit(&self, payload: SendPayload) -> Result<SendHandle, TrySendError> {
        let (command, handle) = try_send_command(self.client.in_flight(), self.id, payload)?;
        self.client.try_send_command(command)?;
        Ok(handle)
    }
}

impl<R> Client<R> {
    /// Registers a producer with the default round-robin selector (with broker fault
    /// isolation and retries on another broker).
    pub async fn create_producer(
        &self,
        config: ProducerConfig,
    ) -> Result<Producer<R>, ClientError> {
        self.create_producer_with_selector(config, QueueSelector::RoundRobin)
            .await
    }

    /// Registers a producer whose default sends go where `selector` says (a selector other
    /// than round robin is not retried on another queue).
    pub async fn create_producer_with_selector(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Producer<R>, ClientError> {
        let max_batch_bytes = config.max_message_size;
        let (command, rx) = Command::create_producer(config, selector);
        self.send(command).await?;
        let id = reply_result(rx.await)?;
        Ok(Producer::new(self.clone(), id, max_batch_bytes))
    }
}

/// The result of each of the `len` messages of a batch stored as `sent`: their ids are its
/// comma-joined `msg_id` (all the batch's id when the broker named the batch instead).
fn per_message(sent: &SendResult, len: usize) -> Vec<Result<SendResult, SendError>> {
    let ids: Vec<String> = sent.msg_id.split(',').map(str::to_owned).collect();
    let ids = if ids.len() == len {
        ids
    } else {
        vec![sent.msg_id.clone(); len]
    };
    sent.split_batch(&ids).into_iter().map(Ok).collect()
}
