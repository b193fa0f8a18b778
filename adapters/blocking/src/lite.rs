//! [`LitePullConsumer`] of the blocking client: the async adapters' lite pull consumer with
//! blocking methods, on the same shared buffer ([`LiteBuffer`]) and shell commands.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{ConsumerCloseReport, ConsumerId};
use rocketwire_driver::{
    assign_subscriptions, assignment_of, close_report_of, committable_of, park_until, reply_result,
    LiteMode, LitePullError, LitePullOptions, LiteState, Subscribe,
};

use crate::driver::wait;
use crate::Client;

/// A lite pull consumer of a blocking client (Java `DefaultLitePullConsumer`): `subscribe` or
/// `assign`, then `poll`. Offsets work as in the async adapters: with auto-commit a message
/// is acked once `poll` returned it (committed every 5 s by default); without, at `commit()`.
#[derive(Debug)]
pub struct LitePullConsumer {
    client: Client,
    state: LiteState,
}

/// Dropping it closes the consumer as [`LitePullConsumer::shutdown`] does, without waiting.
impl Drop for LitePullConsumer {
    fn drop(&mut self) {
        if let Some((close, abandon, _)) = self.state.close_commands() {
            // A guard dropped at once hands its command over without blocking.
            drop(self.client.close_on_drop(move || close));
            drop(self.client.close_on_drop(move || abandon));
        }
    }
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
            state: LiteState::new(config, options),
        }
    }
}

impl LitePullConsumer {
    /// The consumer group.
    pub fn group(&self) -> &str {
        self.state.group()
    }

    /// The options.
    pub fn options(&self) -> &LitePullOptions {
        self.state.options()
    }

    /// The consumer's id inside the client, once started.
    pub fn id(&self) -> Option<ConsumerId> {
        self.state.id()
    }

    fn start(&mut self, subscriptions: Vec<Subscription>) -> Result<ConsumerId, LitePullError> {
        let (command, rx, events) = self.state.start_command(subscriptions);
        self.client.submit(command)?;
        self.state.started_with(wait(rx), events)
    }

    /// Subscribes `topic` with a tag `expression`; its queues are rebalanced within the
    /// group. Called again, it adds a topic (or changes the expression of one) on the running
    /// consumer.
    pub fn subscribe(&mut self, topic: &str, expression: &str) -> Result<(), LitePullError> {
        match self.state.subscription(topic, expression)? {
            Subscribe::Start(sub) => {
                self.start(vec![sub])?;
                self.state.set_mode(LiteMode::Subscribe);
            }
            Subscribe::Add(command) => self.client.submit(command)?,
        }
        Ok(())
    }

    /// Drops `topic`: its queues are released (their offsets committed) and nothing more of
    /// it is polled.
    pub fn unsubscribe(&mut self, topic: &str) -> Result<(), LitePullError> {
        let command = self.state.unsubscribe_command(topic)?;
        self.client.submit(command)?;
        Ok(())
    }

    /// Takes exactly `queues` (no rebalance); a later `assign` replaces them.
    pub fn assign(&mut self, queues: Vec<MessageQueue>) -> Result<(), LitePullError> {
        let id = match self.state.assign_target()? {
            Some(id) => id,
            None => self.start(assign_subscriptions(&queues)?)?,
        };
        let command = self.state.assign_command(id, queues);
        self.client.submit(command)?;
        Ok(())
    }

    /// Messages that arrived (at most [`LitePullOptions::pull_batch_size`]), waiting up to
    /// `timeout` for some; empty when none came in time. Paused queues give nothing.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError> {
        self.state.started()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((messages, acks)) = self.state.ready()? {
                for ack in acks {
                    self.client.submit(ack)?;
                }
                return Ok(messages);
            }
            let Some(events) = self.state.events() else {
                return Err(LitePullError::NotStarted);
            };
            match park_until(|cx| events.poll_next_unpin(cx), Some(deadline)) {
                Some(event) => self.state.absorb_next(event),
                None => return Ok(Vec::new()),
            }
        }
    }

    /// [`LitePullConsumer::poll`] with [`LitePullOptions::poll_timeout`].
    pub fn poll_default(&mut self) -> Result<Vec<MessageExt>, LitePullError> {
        let timeout = self.state.options().poll_timeout;
        self.poll(timeout)
    }

    /// Moves `queue`'s position to `offset`: what was buffered of it is dropped, the next
    /// messages polled from it start there, and the committed offset follows.
    pub fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError> {
        let command = self.state.seek_command(queue, offset)?;
        self.client.submit(command)?;
        Ok(())
    }

    /// Commits now and waits until the brokers answered: without auto-commit, first settles
    /// every message `poll` returned.
    pub fn commit(&mut self) -> Result<(), LitePullError> {
        let (command, rx) = self.state.commit_command()?;
        self.client.submit(command)?;
        reply_result(wait(rx))?;
        Ok(())
    }

    /// Stops pulling and returning messages of `queues` until [`LitePullConsumer::resume`].
    pub fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
        let command = self.state.pause_command(queues)?;
        self.client.submit(command)?;
        Ok(())
    }

    /// Resumes paused queues.
    pub fn resume(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
        let command = self.state.resume_command(queues)?;
        self.client.submit(command)?;
        Ok(())
    }

    /// The queues held now (assigned, or rebalanced to this consumer); empty before start.
    pub fn assignment(&self) -> Result<Vec<MessageQueue>, LitePullError> {
        let Some((command, rx)) = self.state.state_command() else {
            return Ok(Vec::new());
        };
        self.client.submit(command)?;
        assignment_of(wait(rx))
    }

    /// The offsets that would be committed now, per queue.
    pub fn committable(&self) -> Result<BTreeMap<MessageQueue, i64>, LitePullError> {
        let Some((command, rx)) = self.state.state_command() else {
            return Ok(BTreeMap::new());
        };
        self.client.submit(command)?;
        committable_of(wait(rx))
    }

    /// Closes the consumer: what was acked is committed; messages buffered and not polled
    /// (and, without auto-commit, polled and not committed) are consumed again later.
    pub fn shutdown(mut self) -> Result<ConsumerCloseReport, LitePullError> {
        let Some((close, abandon, rx)) = self.state.close_commands() else {
            return Ok(ConsumerCloseReport::default());
        };
        if self.client.submit(close).is_err() {
            return Ok(ConsumerCloseReport::default());
        }
        let _ = self.client.submit(abandon);
        self.state.end_events();
        close_report_of(wait(rx))
    }
}
