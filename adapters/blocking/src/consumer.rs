//! [`PushConsumer`]: the shared push consumer handle with blocking methods; its handler runs
//! on threads of the client, at most [`PushConsumerOptions::concurrency`] calls at once.

use std::collections::BTreeMap;
use std::future;
use std::time::Duration;

use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{
    ClientError, ClientIdCollision, ConsumeOutcome, ConsumerCloseReport, ConsumerId,
    ConsumerRefusal,
};
use rocketwire_driver::{block_on, ConsumerStartError, PushConsumerOptions};

use crate::threads::Threads;
use crate::Client;

/// A push consumer of a blocking client; its handler runs on threads of its own.
///
/// Dropping it closes the consumer as [`PushConsumer::shutdown`] does (queues released,
/// offsets persisted, unregistered), without waiting: handlers still running finish first.
#[derive(Debug)]
pub struct PushConsumer(rocketwire_driver::PushConsumer<Threads>);

impl Client {
    /// Starts a push consumer whose messages go to `handler`, at most 20 calls at once, each
    /// on a thread of its own. A handler that panics counts as
    /// [`ConsumeOutcome::ReconsumeLater`] with level 0.
    pub fn create_push_consumer<H>(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        handler: H,
    ) -> Result<PushConsumer, ConsumerStartError>
    where
        H: Fn(&[MessageExt]) -> ConsumeOutcome + Send + Sync + 'static,
    {
        let options = PushConsumerOptions::default();
        self.create_push_consumer_with(config, subscriptions, options, handler)
    }

    /// [`Client::create_push_consumer`] with adapter-side options (handler concurrency,
    /// offset file directory).
    pub fn create_push_consumer_with<H>(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        options: PushConsumerOptions,
        handler: H,
    ) -> Result<PushConsumer, ConsumerStartError>
    where
        H: Fn(&[MessageExt]) -> ConsumeOutcome + Send + Sync + 'static,
    {
        // Called on the thread that runs the delivery: the handler runs right there.
        let handler = move |messages: Vec<MessageExt>| future::ready(handler(&messages));
        let create = self
            .0
            .create_push_consumer_with(config, subscriptions, options, handler);
        block_on(create).map(PushConsumer)
    }
}

impl PushConsumer {
    /// The consumer's id inside the client.
    pub fn id(&self) -> ConsumerId {
        self.0.id()
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        self.0.group()
    }

    blocking! {
        /// The queues this consumer holds now.
        fn assigned_queues(&self) -> Result<Vec<MessageQueue>, ClientError>;
        /// Another client of this consumer's group with this client's id, while there is
        /// one (checked with each rebalance): give each client its own `instance_name`.
        fn client_id_collision(&self) -> Result<Option<ClientIdCollision>, ClientError>;
        /// The broker's refusal of this consumer for lack of permission, until a request of
        /// the refused kind succeeds. A refused consumer gets no messages.
        fn refusal(&self) -> Result<Option<ConsumerRefusal>, ClientError>;
        /// The offsets this consumer would commit now, per queue.
        fn offsets(&self) -> Result<BTreeMap<MessageQueue, i64>, ClientError>;
        /// Subscribes another topic while running, or changes the expression of one (Java
        /// `subscribe` after `start`): the brokers learn it from a heartbeat sent now and the
        /// consumer rebalances at once.
        fn subscribe(&self, subscription: Subscription) -> Result<(), ClientError>;
        /// Drops `topic` while running: its queues are released with their offsets committed.
        fn unsubscribe(&self, topic: &str) -> Result<(), ClientError>;
        /// Closes the consumer: stops pulling, lets handlers finish until `drain_timeout` (then
        /// abandons their deliveries: they will be consumed again), persists offsets, unlocks
        /// and unregisters. A client already shut down gives an empty report.
        fn shutdown(self, drain_timeout: Duration) -> Result<ConsumerCloseReport, ClientError>;
    }
}
