//! [`LitePullConsumer`] of the blocking client: the async adapters' lite pull consumer with
//! blocking methods, on the same shared buffer ([`LiteBuffer`]) and shell commands.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::StreamExt;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{ClientError, ConsumeOutcome, ConsumerCloseReport, ConsumerId};
use rocketwire_driver::{
    assign_subscriptions, park_until, reply_result, user_queue, Command, ConsumerEvent, LiteBuffer,
    LiteMode, LitePullError, LitePullOptions,
};

use crate::driver::wait;
use crate::Client;

/// A lite pull consumer of a blocking client (Java `DefaultLitePullConsumer`): `subscribe` or
/// `assign`, then `poll`. Offsets work as in the async adapters: with auto-commit a message
/// is acked once `poll` returned it (committed every 5 s by default); without, at `commit()`.
#[derive(Debug)]
pub struct LitePullConsumer {
    client: Client,
    config: ConsumerConfig,
    options: LitePullOptions,
    mode: Option<LiteMode>,
    id: Option<ConsumerId>,
    events: Option<mpsc::UnboundedReceiver<ConsumerEvent>>,
    buffer: LiteBuffer,
}

impl Client {
    /// A lite pull consumer; it starts with its first `subscribe` or `assign`.
    pub fn create_lite_pull_consumer(
        &self,
        config: ConsumerConfig,
        options: LitePullOptions,
    ) -> LitePullConsumer {
        LitePullConsumer {
            client: self.clone(),
            config: options.apply(config),
            buffer: LiteBuffer::new(&options),
            options,
            mode: None,
            id: None,
            events: None,
        }
    }
}

impl LitePullConsumer {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.config.group
    }

    /// The options.
    pub fn options(&self) -> &LitePullOptions {
        &self.options
    }

    /// The consumer's id inside the client, once started.
    pub fn id(&self) -> Option<ConsumerId> {
        self.id
    }

    fn start(&mut self, subscriptions: Vec<Subscription>) -> Result<ConsumerId, LitePullError> {
        let (events, events_rx) = mpsc::unbounded();
        let (command, rx) =
            Command::create_lite_consumer(self.config.clone(), subscriptions, events);
        self.client.submit(command)?;
        let id = match wait(rx) {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(ClientError::Shutdown.into()),
        };
        self.id = Some(id);
        self.events = Some(events_rx);
        Ok(id)
    }

    fn started(&self) -> Result<ConsumerId, LitePullError> {
        self.id.ok_or(LitePullError::NotStarted)
    }

    /// Subscribes `topic` with a tag `expression`; its queues are rebalanced within the
    /// group. Only one `subscribe`.
    pub fn subscribe(&mut self, topic: &str, expression: &str) -> Result<(), LitePullError> {
        match self.mode {
            Some(LiteMode::Assign) => return Err(LitePullError::MixedModes),
            Some(LiteMode::Subscribe) => return Err(LitePullError::AlreadySubscribed),
            None => {}
        }
        let sub = Subscription::tag(topic, expression)
            .map_err(|e| LitePullError::Subscription(e.to_string()))?;
        self.start(vec![sub])?;
        self.mode = Some(LiteMode::Subscribe);
        Ok(())
    }

    /// Takes exactly `queues` (no rebalance); a later `assign` replaces them.
    pub fn assign(&mut self, queues: Vec<MessageQueue>) -> Result<(), LitePullError> {
        if self.mode == Some(LiteMode::Subscribe) {
            return Err(LitePullError::MixedModes);
        }
        let id = match self.id {
            Some(id) => id,
            None => self.start(assign_subscriptions(&queues)?)?,
        };
        self.mode = Some(LiteMode::Assign);
        let set: BTreeSet<MessageQueue> = queues.iter().cloned().collect();
        self.buffer.retain_queues(&set);
        self.client.submit(Command::Assign {
            consumer: id,
            queues,
        })?;
        Ok(())
    }

    /// Messages that arrived (at most [`LitePullOptions::pull_batch_size`]), waiting up to
    /// `timeout` for some; empty when none came in time. Paused queues give nothing.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError> {
        self.started()?;
        let deadline = Instant::now() + timeout;
        let Some(events) = self.events.as_mut() else {
            return Err(LitePullError::NotStarted);
        };
        loop {
            self.buffer.drain(events);
            let (messages, acks) = self.buffer.take();
            if !messages.is_empty() {
                for delivery in acks {
                    self.client.submit(Command::Ack {
                        delivery,
                        outcome: ConsumeOutcome::Success,
                    })?;
                }
                return Ok(messages);
            }
            if self.buffer.ended() {
                return Err(ClientError::Shutdown.into());
            }
            match park_until(|cx| events.poll_next_unpin(cx), Some(deadline)) {
                Some(Some(event)) => self.buffer.absorb(event),
                Some(None) => self.buffer.set_ended(),
                None => return Ok(Vec::new()),
            }
        }
    }

    /// [`LitePullConsumer::poll`] with [`LitePullOptions::poll_timeout`].
    pub fn poll_default(&mut self) -> Result<Vec<MessageExt>, LitePullError> {
        let timeout = self.options.poll_timeout;
        self.poll(timeout)
    }

    /// Moves `queue`'s position to `offset`: what was buffered of it is dropped, the next
    /// messages polled from it start there, and the committed offset follows.
    pub fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError> {
        let id = self.started()?;
        let paused = self.buffer.is_paused(queue);
        self.client.submit(Command::Seek {
            consumer: id,
            queue: queue.clone(),
            offset,
            paused,
        })?;
        Ok(())
    }

    /// Commits now and waits until the brokers answered: without auto-commit, first settles
    /// every message `poll` returned.
    pub fn commit(&mut self) -> Result<(), LitePullError> {
        let id = self.started()?;
        if let Some(events) = self.events.as_mut() {
            self.buffer.drain(events);
        }
        let settle = self.buffer.take_uncommitted();
        let (command, rx) = Command::commit_offsets(id, settle);
        self.client.submit(command)?;
        reply_result(wait(rx))?;
        Ok(())
    }

    /// Stops pulling and returning messages of `queues` until [`LitePullConsumer::resume`].
    pub fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
        let id = self.started()?;
        self.buffer.pause(queues);
        self.client.submit(Command::Pause {
            consumer: id,
            queues: queues.to_vec(),
        })?;
        Ok(())
    }

    /// Resumes paused queues.
    pub fn resume(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
        let id = self.started()?;
        self.buffer.resume(queues);
        self.client.submit(Command::Resume {
            consumer: id,
            queues: queues.to_vec(),
        })?;
        Ok(())
    }

    /// The queues held now (assigned, or rebalanced to this consumer); empty before start.
    pub fn assignment(&self) -> Result<Vec<MessageQueue>, LitePullError> {
        let Some(id) = self.id else {
            return Ok(Vec::new());
        };
        let (command, rx) = Command::consumer_state(id);
        self.client.submit(command)?;
        let (queues, _) = wait(rx).map_err(|_| ClientError::Shutdown)?;
        Ok(queues.into_iter().filter(user_queue).collect())
    }

    /// The offsets that would be committed now, per queue.
    pub fn committable(&self) -> Result<BTreeMap<MessageQueue, i64>, LitePullError> {
        let Some(id) = self.id else {
            return Ok(BTreeMap::new());
        };
        let (command, rx) = Command::consumer_state(id);
        self.client.submit(command)?;
        let (_, offsets) = wait(rx).map_err(|_| ClientError::Shutdown)?;
        Ok(offsets.into_iter().filter(|(q, _)| user_queue(q)).collect())
    }

    /// Closes the consumer: what was acked is committed; messages buffered and not polled
    /// (and, without auto-commit, polled and not committed) are consumed again later.
    pub fn shutdown(mut self) -> Result<ConsumerCloseReport, LitePullError> {
        let Some(id) = self.id else {
            return Ok(ConsumerCloseReport::default());
        };
        let (command, rx) = Command::close_consumer(id);
        if self.client.submit(command).is_err() {
            return Ok(ConsumerCloseReport::default());
        }
        let _ = self
            .client
            .submit(Command::AbandonDeliveries { consumer: id });
        self.events = None;
        match wait(rx) {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(ClientError::Shutdown)) | Err(_) => Ok(ConsumerCloseReport::default()),
            Ok(Err(e)) => Err(e.into()),
        }
    }
}
