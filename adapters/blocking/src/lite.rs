//! [`LitePullConsumer`]: the shared lite pull consumer handle with blocking methods.

use std::collections::BTreeMap;
use std::time::Duration;

use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{ConsumerCloseReport, ConsumerId};
use rocketwire_driver::{LitePullError, LitePullOptions, QueueChange};

use crate::threads::Threads;
use crate::Client;

/// A lite pull consumer of a blocking client (Java `DefaultLitePullConsumer`): `subscribe` or
/// `assign`, then `poll`. Offsets work as in the async adapters: with auto-commit a message
/// is acked once `poll` returned it (committed every 5 s by default); without, at `commit()`.
///
/// Dropping it closes the consumer as [`LitePullConsumer::shutdown`] does, without waiting.
#[derive(Debug)]
pub struct LitePullConsumer(rocketwire_driver::LitePullConsumer<Threads>);

impl Client {
    /// A lite pull consumer; it starts with its first `subscribe` or `assign`.
    pub fn create_lite_pull_consumer(
        &self,
        config: ConsumerConfig,
        options: LitePullOptions,
    ) -> LitePullConsumer {
        LitePullConsumer(self.0.create_lite_pull_consumer(config, options))
    }
}

impl LitePullConsumer {
    /// The consumer group.
    pub fn group(&self) -> &str {
        self.0.group()
    }

    /// The options.
    pub fn options(&self) -> &LitePullOptions {
        self.0.options()
    }

    /// How rebalances changed this subscribed consumer's queues since the last call, oldest
    /// first: per topic, its share from then on (Java's `MessageQueueListener`). Does not
    /// wait.
    pub fn queue_changes(&mut self) -> Vec<QueueChange> {
        self.0.queue_changes()
    }

    /// The consumer's id inside the client, once started.
    pub fn id(&self) -> Option<ConsumerId> {
        self.0.id()
    }

    blocking! {
        /// Subscribes `topic` with a tag `expression`; its queues are rebalanced within the
        /// group. Called again, it adds a topic (or changes the expression of one) on the
        /// running consumer.
        fn subscribe(&mut self, topic: &str, expression: &str) -> Result<(), LitePullError>;
        /// [`LitePullConsumer::subscribe`] with any filter: a tag expression
        /// (`Subscription::tag`) or SQL92 over message properties (`Subscription::sql92`,
        /// which needs a broker with `enablePropertyFilter`), as Java's
        /// `subscribe(topic, MessageSelector)`.
        fn subscribe_with(&mut self, subscription: Subscription) -> Result<(), LitePullError>;
        /// Drops `topic`: its queues are released (their offsets committed) and nothing more of
        /// it is polled.
        fn unsubscribe(&mut self, topic: &str) -> Result<(), LitePullError>;
        /// Takes exactly `queues` (no rebalance); a later `assign` replaces them.
        fn assign(&mut self, queues: Vec<MessageQueue>) -> Result<(), LitePullError>;
        /// Messages that arrived (at most [`LitePullOptions::pull_batch_size`]), waiting up to
        /// `timeout` for some; empty when none came in time. Paused queues give nothing.
        fn poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError>;
        /// [`LitePullConsumer::poll`] with [`LitePullOptions::poll_timeout`].
        fn poll_default(&mut self) -> Result<Vec<MessageExt>, LitePullError>;
        /// Moves `queue`'s position to `offset`: what was buffered of it is dropped, the next
        /// messages polled from it start there, and the committed offset follows.
        fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError>;
        /// Moves `queue`'s position to the first offset the broker still stores.
        fn seek_to_begin(&mut self, queue: &MessageQueue) -> Result<(), LitePullError>;
        /// Moves `queue`'s position to its end: only messages stored from now on are polled.
        fn seek_to_end(&mut self, queue: &MessageQueue) -> Result<(), LitePullError>;
        /// The first offset of `queue` stored at or after `timestamp_ms` (the queue's end when
        /// none is).
        fn offset_for_timestamp(&self, queue: &MessageQueue, timestamp_ms: i64)
            -> Result<i64, LitePullError>;
        /// The offset committed for `queue`: this consumer's own once it committed the
        /// queue, else the group's offset the broker stores; `None` when there is none.
        fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, LitePullError>;
        /// Every queue of `topic` a consumer can read, for `assign`.
        fn fetch_message_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, LitePullError>;
        /// Commits now and waits until the brokers answered: without auto-commit, first
        /// settles every message `poll` returned.
        fn commit(&mut self) -> Result<(), LitePullError>;
        /// Stops pulling and returning messages of `queues` until [`LitePullConsumer::resume`].
        fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError>;
        /// Resumes paused queues.
        fn resume(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError>;
        /// The queues held now (assigned, or rebalanced to this consumer); empty before start.
        fn assignment(&self) -> Result<Vec<MessageQueue>, LitePullError>;
        /// The offsets that would be committed now, per queue.
        fn committable(&self) -> Result<BTreeMap<MessageQueue, i64>, LitePullError>;
        /// Closes the consumer: what was acked is committed; messages buffered and not polled
        /// (and, without auto-commit, polled and not committed) are consumed again later.
        fn shutdown(self) -> Result<ConsumerCloseReport, LitePullError>;
    }
}
