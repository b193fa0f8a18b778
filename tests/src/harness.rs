//! One synchronous face over the four adapters.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::{
    ConsumeStats, ConsumerConnection, ConsumerRunningInfo, MessageQueue, TopicRouteData,
};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{
    ProducerConfig, QueueSelector, SendError, SendResult, SendSelector,
};
use rocketwire_core::{
    ClientConfig, ClientError, ClientIdCollision, ClientNotice, ConsumeOutcome,
    ConsumerCloseReport, ConsumerRefusal, RemotingCommand, RequestError, TransactionSendResult,
};
use rocketwire_driver::QueueOffsets;
use rocketwire_tokio::{
    ConsumerStartError, DriverOptions, LitePullError, LitePullOptions, PushConsumerOptions,
    TransactionListener,
};

/// A consumer handler as the suite writes it; async adapters wrap it in an async closure.
pub type Handler = Arc<dyn Fn(&[MessageExt]) -> ConsumeOutcome + Send + Sync>;

/// The adapters under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// `rocketwire-tokio`.
    Tokio,
    /// `rocketwire-async-std`.
    AsyncStd,
    /// `rocketwire-smol`.
    Smol,
    /// `rocketwire-blocking`.
    Blocking,
}

/// The low-level client of one adapter, driven synchronously.
pub trait Harness {
    /// Which adapter.
    fn kind(&self) -> AdapterKind;
    /// `Client::query_route`.
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError>;
    /// `set_credentials`.
    fn set_credentials(
        &self,
        credentials: Option<rocketwire_core::acl::Credentials>,
    ) -> Result<(), ClientError>;
    /// `Client::invoke`.
    fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError>;
    /// `Client::invoke_ok`.
    fn invoke_ok(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError>;
    /// Several `Client::invoke` calls in flight at once; results in call order.
    fn invoke_all(
        &self,
        calls: Vec<(String, RemotingCommand, Duration)>,
    ) -> Vec<Result<RemotingCommand, ClientError>>;
    /// `Client::create_producer_with_selector`.
    fn create_producer(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Box<dyn HarnessProducer + '_>, ClientError>;
    /// `Client::create_push_consumer_with`.
    fn create_push_consumer(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        options: PushConsumerOptions,
        handler: Handler,
    ) -> Result<Box<dyn HarnessConsumer + '_>, ConsumerStartError>;
    /// `Client::create_transaction_producer`.
    fn create_transaction_producer(
        &self,
        config: ProducerConfig,
        listener: Arc<dyn TransactionListener>,
    ) -> Result<Box<dyn HarnessTransactionProducer + '_>, ClientError>;
    /// `Client::create_lite_pull_consumer`.
    fn create_lite_pull_consumer(
        &self,
        config: ConsumerConfig,
        options: LitePullOptions,
    ) -> Box<dyn HarnessLiteConsumer + '_>;
    /// A lite pull consumer of `config` subscribed to every message of `topic`, read as a
    /// `futures::Stream` of batches (`LitePullConsumer::into_stream`) until `want` messages
    /// came or `timeout` passed; the batches, each non-empty. `None` on the blocking adapter,
    /// which has no streams.
    fn lite_stream_batches(
        &self,
        config: ConsumerConfig,
        topic: &str,
        want: usize,
        timeout: Duration,
    ) -> Option<Vec<Vec<MessageExt>>>;
    /// `Client::events`, read without waiting (`ClientEvents::try_next_event`).
    fn events(&self) -> EventProbe;
    /// `Client::admin`.
    fn admin(&self) -> Box<dyn HarnessAdmin + '_>;
    /// `Client::client_id`.
    fn client_id(&self) -> String;
    /// Starts another client of the same adapter.
    fn start_another(&self, config: ClientConfig) -> Box<dyn Harness> {
        start(self.kind(), config)
    }
    /// Starts another client of the same adapter with driver `options`.
    fn start_another_with(&self, config: ClientConfig, options: DriverOptions) -> Box<dyn Harness> {
        start_with_options(self.kind(), config, options)
    }
    /// `Client::shutdown`.
    fn shutdown(self: Box<Self>) -> Result<(), ClientError>;
}

/// A subscription to a client's events: the next one if it is there (`Ok(None)`: the client
/// has shut down).
pub type EventProbe =
    Box<dyn FnMut() -> Result<Option<ClientNotice>, rocketwire_driver::NoEvent> + Send>;

/// One adapter's `Admin`, driven synchronously.
pub trait HarnessAdmin {
    /// `Admin::topic_list`.
    fn topic_list(&self) -> Result<BTreeSet<String>, ClientError>;
    /// `Admin::create_topic`.
    fn create_topic(&self, config: TopicConfig) -> Result<Vec<String>, ClientError>;
    /// `Admin::topic_offsets`.
    fn topic_offsets(&self, topic: &str) -> Result<Vec<QueueOffsets>, ClientError>;
    /// `Admin::min_offset`.
    fn min_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError>;
    /// `Admin::max_offset`.
    fn max_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError>;
    /// `Admin::search_offset`.
    fn search_offset(&self, queue: &MessageQueue, timestamp_ms: i64) -> Result<i64, ClientError>;
    /// `Admin::consume_stats`.
    fn consume_stats(&self, group: &str, topic: Option<&str>) -> Result<ConsumeStats, ClientError>;
    /// `Admin::consumer_connections`.
    fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection, ClientError>;
    /// `Admin::consumer_running_info`.
    fn consumer_running_info(
        &self,
        group: &str,
        client_id: &str,
    ) -> Result<ConsumerRunningInfo, ClientError>;
    /// `Admin::query_by_key` over all time.
    fn query_by_key(&self, topic: &str, key: &str) -> Result<Vec<MessageExt>, ClientError>;
    /// `Admin::query_by_unique_key`.
    fn query_by_unique_key(
        &self,
        topic: &str,
        msg_id: &str,
    ) -> Result<Option<MessageExt>, ClientError>;
    /// `Admin::view_message`.
    fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt, ClientError>;
}

/// An adapter's admin handle with the harness that runs its calls.
struct AdminOf<'a, H, A> {
    harness: &'a H,
    admin: A,
}

/// Implements [`HarnessAdmin`] for an [`AdminOf`]: each call through the harness's `run`.
macro_rules! harness_admin {
    (impl [$($generics:tt)*] for $ty:ty) => {
        impl<$($generics)*> HarnessAdmin for $ty {
            fn topic_list(&self) -> Result<BTreeSet<String>, ClientError> {
                self.harness.run(self.admin.topic_list())
            }
            fn create_topic(&self, config: TopicConfig) -> Result<Vec<String>, ClientError> {
                self.harness.run(self.admin.create_topic(config, None))
            }
            fn topic_offsets(&self, topic: &str) -> Result<Vec<QueueOffsets>, ClientError> {
                self.harness.run(self.admin.topic_offsets(topic))
            }
            fn min_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
                self.harness.run(self.admin.min_offset(queue))
            }
            fn max_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
                self.harness.run(self.admin.max_offset(queue))
            }
            fn search_offset(
                &self,
                queue: &MessageQueue,
                timestamp_ms: i64,
            ) -> Result<i64, ClientError> {
                self.harness.run(self.admin.search_offset(queue, timestamp_ms))
            }
            fn consume_stats(
                &self,
                group: &str,
                topic: Option<&str>,
            ) -> Result<ConsumeStats, ClientError> {
                self.harness.run(self.admin.consume_stats(group, topic))
            }
            fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection, ClientError> {
                self.harness.run(self.admin.consumer_connections(group))
            }
            fn consumer_running_info(
                &self,
                group: &str,
                client_id: &str,
            ) -> Result<ConsumerRunningInfo, ClientError> {
                self.harness.run(self.admin.consumer_running_info(group, client_id))
            }
            fn query_by_key(&self, topic: &str, key: &str) -> Result<Vec<MessageExt>, ClientError> {
                self.harness
                    .run(self.admin.query_by_key(topic, key, 64, 0, i64::MAX))
            }
            fn query_by_unique_key(
                &self,
                topic: &str,
                msg_id: &str,
            ) -> Result<Option<MessageExt>, ClientError> {
                self.harness.run(self.admin.query_by_unique_key(topic, msg_id))
            }
            fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt, ClientError> {
                self.harness.run(self.admin.view_message(offset_msg_id))
            }
        }
    };
}

/// One adapter's `PushConsumer`, driven synchronously.
pub trait HarnessConsumer {
    /// `PushConsumer::assigned_queues`.
    fn assigned_queues(&self) -> Result<Vec<MessageQueue>, ClientError>;
    /// `PushConsumer::client_id_collision`.
    fn client_id_collision(&self) -> Result<Option<ClientIdCollision>, ClientError>;
    /// `PushConsumer::refusal`.
    fn refusal(&self) -> Result<Option<ConsumerRefusal>, ClientError>;
    /// `PushConsumer::offsets`: the queues whose start offset is known, with their offsets.
    fn offsets(&self) -> Result<std::collections::BTreeMap<MessageQueue, i64>, ClientError>;
    /// `PushConsumer::subscribe`.
    fn subscribe(&self, subscription: Subscription) -> Result<(), ClientError>;
    /// `PushConsumer::unsubscribe`.
    fn unsubscribe(&self, topic: &str) -> Result<(), ClientError>;
    /// `PushConsumer::shutdown`.
    fn shutdown(self: Box<Self>, drain: Duration) -> Result<ConsumerCloseReport, ClientError>;
}

/// One adapter's `LitePullConsumer`, driven synchronously.
pub trait HarnessLiteConsumer {
    /// `LitePullConsumer::subscribe`.
    fn subscribe(&mut self, topic: &str, expression: &str) -> Result<(), LitePullError>;
    /// `LitePullConsumer::subscribe_with`.
    fn subscribe_with(&mut self, subscription: Subscription) -> Result<(), LitePullError>;
    /// `LitePullConsumer::unsubscribe`.
    fn unsubscribe(&mut self, topic: &str) -> Result<(), LitePullError>;
    /// `LitePullConsumer::assign`.
    fn assign(&mut self, queues: Vec<MessageQueue>) -> Result<(), LitePullError>;
    /// `LitePullConsumer::poll`.
    fn poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError>;
    /// `LitePullConsumer::seek`.
    fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError>;
    /// `LitePullConsumer::queue_changes`.
    fn queue_changes(&mut self) -> Vec<rocketwire_driver::QueueChange>;
    /// `LitePullConsumer::seek_to_begin`.
    fn seek_to_begin(&mut self, queue: &MessageQueue) -> Result<(), LitePullError>;
    /// `LitePullConsumer::seek_to_end`.
    fn seek_to_end(&mut self, queue: &MessageQueue) -> Result<(), LitePullError>;
    /// `LitePullConsumer::offset_for_timestamp`.
    fn offset_for_timestamp(&self, queue: &MessageQueue, ts: i64) -> Result<i64, LitePullError>;
    /// `LitePullConsumer::committed`.
    fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, LitePullError>;
    /// `LitePullConsumer::fetch_message_queues`.
    fn fetch_message_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, LitePullError>;
    /// `LitePullConsumer::commit`.
    fn commit(&mut self) -> Result<(), LitePullError>;
    /// `LitePullConsumer::pause`.
    fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError>;
    /// `LitePullConsumer::resume`.
    fn resume(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError>;
    /// `LitePullConsumer::assignment`.
    fn assignment(&self) -> Result<Vec<MessageQueue>, LitePullError>;
    /// `LitePullConsumer::shutdown`.
    fn shutdown(self: Box<Self>) -> Result<ConsumerCloseReport, LitePullError>;
}

/// One adapter's `TransactionProducer`, driven synchronously.
pub trait HarnessTransactionProducer {
    /// `TransactionProducer::send_in_transaction`.
    fn send_in_transaction(&self, message: Message) -> Result<TransactionSendResult, SendError>;
    /// `TransactionProducer::shutdown`.
    fn shutdown(self: Box<Self>) -> Result<(), ClientError>;
}

/// One adapter's `Producer`, driven synchronously.
pub trait HarnessProducer {
    /// `Producer::send`.
    fn send(&self, message: Message) -> Result<SendResult, SendError>;
    /// `Producer::send_async`, waited for.
    fn send_async(&self, message: Message) -> Result<SendResult, SendError>;
    /// `Producer::send_oneway`.
    fn send_oneway(&self, message: Message) -> Result<(), SendError>;
    /// `Producer::request`.
    fn request(&self, message: Message, timeout: Duration) -> Result<MessageExt, RequestError>;
    /// `Producer::send_batch_as_one`.
    fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError>;
    /// Every message through `Producer::try_send` without waiting in between (waiting for
    /// the oldest only when the driver has no room), then every result, in order.
    fn send_all(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>>;
    /// `Producer::send_to_queue`.
    fn send_to_queue(&self, message: Message, queue: MessageQueue)
        -> Result<SendResult, SendError>;
    /// `Producer::send_batch`.
    fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>>;
    /// `Producer::send_with_selector`.
    fn send_with_selector(
        &self,
        message: Message,
        selector: SendSelector,
    ) -> Result<SendResult, SendError>;
    /// `Producer::send_batch_to_queue`.
    fn send_batch_to_queue(
        &self,
        messages: Vec<Message>,
        queue: MessageQueue,
    ) -> Result<SendResult, SendError>;
    /// `Producer::shutdown`.
    fn shutdown(self: Box<Self>) -> Result<(), ClientError>;
}

/// Starts a client of `kind` with `config`.
pub fn start(kind: AdapterKind, config: ClientConfig) -> Box<dyn Harness> {
    start_with_options(kind, config, DriverOptions::default())
}

/// Starts a client of `kind` with driver `options` (e.g. TLS).
pub fn start_with_options(
    kind: AdapterKind,
    config: ClientConfig,
    options: DriverOptions,
) -> Box<dyn Harness> {
    match kind {
        AdapterKind::Tokio => Box::new(TokioHarness::start(config, options)),
        AdapterKind::AsyncStd => Box::new(AsyncStdHarness::start(config, options)),
        AdapterKind::Smol => Box::new(SmolHarness::start(config, options)),
        AdapterKind::Blocking => Box::new(BlockingHarness::start(config, options)),
    }
}

/// Every adapter kind.
pub fn all_harnesses() -> [AdapterKind; 4] {
    [
        AdapterKind::Tokio,
        AdapterKind::AsyncStd,
        AdapterKind::Smol,
        AdapterKind::Blocking,
    ]
}

/// The [`HarnessLiteConsumer`], [`HarnessConsumer`], [`HarnessTransactionProducer`] and
/// [`HarnessProducer`] wrappers of one adapter: each call goes through the harness's `run`
/// (blocking on a future, or taking a blocking call's result as is) and `send_async` through
/// its `run_send`.
macro_rules! handle_impls {
    ($name:ident, $producer:ident, $consumer:ident, $tx:ident, $lite:ident,
     $producer_ty:ty, $consumer_ty:ty, $tx_ty:ty, $lite_ty:ty) => {
        struct $lite<'a> {
            harness: &'a $name,
            consumer: $lite_ty,
        }

        impl HarnessLiteConsumer for $lite<'_> {
            fn subscribe(&mut self, topic: &str, expression: &str) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.subscribe(topic, expression))
            }
            fn subscribe_with(&mut self, subscription: Subscription) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.subscribe_with(subscription))
            }
            fn seek_to_begin(&mut self, queue: &MessageQueue) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.seek_to_begin(queue))
            }
            fn queue_changes(&mut self) -> Vec<rocketwire_driver::QueueChange> {
                self.consumer.queue_changes()
            }
            fn seek_to_end(&mut self, queue: &MessageQueue) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.seek_to_end(queue))
            }
            fn offset_for_timestamp(
                &self,
                queue: &MessageQueue,
                ts: i64,
            ) -> Result<i64, LitePullError> {
                self.harness
                    .run(self.consumer.offset_for_timestamp(queue, ts))
            }
            fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, LitePullError> {
                self.harness.run(self.consumer.committed(queue))
            }
            fn fetch_message_queues(
                &self,
                topic: &str,
            ) -> Result<Vec<MessageQueue>, LitePullError> {
                self.harness.run(self.consumer.fetch_message_queues(topic))
            }
            fn unsubscribe(&mut self, topic: &str) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.unsubscribe(topic))
            }
            fn assign(&mut self, queues: Vec<MessageQueue>) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.assign(queues))
            }
            fn poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError> {
                self.harness.run(self.consumer.poll(timeout))
            }
            fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.seek(queue, offset))
            }
            fn commit(&mut self) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.commit())
            }
            fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.pause(queues))
            }
            fn resume(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
                self.harness.run(self.consumer.resume(queues))
            }
            fn assignment(&self) -> Result<Vec<MessageQueue>, LitePullError> {
                self.harness.run(self.consumer.assignment())
            }
            fn shutdown(self: Box<Self>) -> Result<ConsumerCloseReport, LitePullError> {
                let this = *self;
                this.harness.run(this.consumer.shutdown())
            }
        }

        struct $consumer<'a> {
            harness: &'a $name,
            consumer: $consumer_ty,
        }

        impl HarnessConsumer for $consumer<'_> {
            fn assigned_queues(&self) -> Result<Vec<MessageQueue>, ClientError> {
                self.harness.run(self.consumer.assigned_queues())
            }
            fn client_id_collision(&self) -> Result<Option<ClientIdCollision>, ClientError> {
                self.harness.run(self.consumer.client_id_collision())
            }
            fn refusal(&self) -> Result<Option<ConsumerRefusal>, ClientError> {
                self.harness.run(self.consumer.refusal())
            }
            fn offsets(
                &self,
            ) -> Result<std::collections::BTreeMap<MessageQueue, i64>, ClientError> {
                self.harness.run(self.consumer.offsets())
            }
            fn subscribe(&self, subscription: Subscription) -> Result<(), ClientError> {
                self.harness.run(self.consumer.subscribe(subscription))
            }
            fn unsubscribe(&self, topic: &str) -> Result<(), ClientError> {
                self.harness.run(self.consumer.unsubscribe(topic))
            }
            fn shutdown(
                self: Box<Self>,
                drain: Duration,
            ) -> Result<ConsumerCloseReport, ClientError> {
                let this = *self;
                this.harness.run(this.consumer.shutdown(drain))
            }
        }

        struct $tx<'a> {
            harness: &'a $name,
            producer: $tx_ty,
        }

        impl HarnessTransactionProducer for $tx<'_> {
            fn send_in_transaction(
                &self,
                message: Message,
            ) -> Result<TransactionSendResult, SendError> {
                self.harness.run(self.producer.send_in_transaction(message))
            }
            fn shutdown(self: Box<Self>) -> Result<(), ClientError> {
                let this = *self;
                this.harness.run(this.producer.shutdown())
            }
        }

        struct $producer<'a> {
            harness: &'a $name,
            producer: $producer_ty,
        }

        impl HarnessProducer for $producer<'_> {
            fn send(&self, message: Message) -> Result<SendResult, SendError> {
                self.harness.run(self.producer.send(message))
            }
            fn send_async(&self, message: Message) -> Result<SendResult, SendError> {
                self.harness.run_send(self.producer.send_async(message))
            }
            fn send_oneway(&self, message: Message) -> Result<(), SendError> {
                self.harness.run(self.producer.send_oneway(message))
            }
            fn request(
                &self,
                message: Message,
                timeout: Duration,
            ) -> Result<MessageExt, RequestError> {
                self.harness.run(self.producer.request(message, timeout))
            }
            fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError> {
                self.harness.run(self.producer.send_batch_as_one(messages))
            }
            fn send_all(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>> {
                let mut pending = std::collections::VecDeque::new();
                let mut results = Vec::new();
                for message in messages {
                    loop {
                        match self.producer.try_send(message.clone()) {
                            Ok(handle) => {
                                pending.push_back(handle);
                                break;
                            }
                            Err(rocketwire_driver::TrySendError::Full) => {
                                let oldest = pending.pop_front().expect("full with sends out");
                                results.push(self.harness.run_send(oldest));
                            }
                            Err(e) => panic!("try_send: {e}"),
                        }
                    }
                }
                results.extend(pending.into_iter().map(|h| self.harness.run_send(h)));
                results
            }
            fn send_to_queue(
                &self,
                message: Message,
                queue: MessageQueue,
            ) -> Result<SendResult, SendError> {
                self.harness
                    .run(self.producer.send_to_queue(message, queue))
            }
            fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>> {
                self.harness.run(self.producer.send_batch(messages))
            }
            fn send_with_selector(
                &self,
                message: Message,
                selector: rocketwire_core::producer::SendSelector,
            ) -> Result<SendResult, SendError> {
                self.harness
                    .run(self.producer.send_with_selector(message, selector))
            }
            fn send_batch_to_queue(
                &self,
                messages: Vec<Message>,
                queue: MessageQueue,
            ) -> Result<SendResult, SendError> {
                self.harness
                    .run(self.producer.send_batch_to_queue(messages, queue))
            }
            fn shutdown(self: Box<Self>) -> Result<(), ClientError> {
                let this = *self;
                this.harness.run(this.producer.shutdown())
            }
        }
    };
}

/// Implements [`Harness`] for an async adapter given how to block on a future.
macro_rules! async_harness {
    ($name:ident, $producer:ident, $consumer:ident, $tx:ident, $lite:ident, $kind:expr,
     $client:ty, $producer_ty:ty, $consumer_ty:ty, $tx_ty:ty, $lite_ty:ty, $runtime:ty,
     $make_runtime:expr, $block_on:expr) => {
        handle_impls!(
            $name,
            $producer,
            $consumer,
            $tx,
            $lite,
            $producer_ty,
            $consumer_ty,
            $tx_ty,
            $lite_ty
        );

        struct $name {
            #[allow(dead_code)]
            runtime: $runtime,
            client: $client,
        }

        impl $name {
            fn start(config: ClientConfig, options: DriverOptions) -> Self {
                let runtime: $runtime = $make_runtime;
                let block_on = $block_on;
                let start = <$client>::start_with_options(config, options);
                let client = block_on(&runtime, Box::pin(start)).expect("client starts");
                Self { runtime, client }
            }

            fn run<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
                let block_on = $block_on;
                block_on(&self.runtime, Box::pin(fut))
            }

            fn run_send<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
                self.run(fut)
            }
        }

        harness_admin!(impl [R] for AdminOf<'_, $name, rocketwire_driver::Admin<R>>);

        impl Harness for $name {
            fn kind(&self) -> AdapterKind {
                $kind
            }
            fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
                self.run(self.client.query_route(topic))
            }
            fn set_credentials(
                &self,
                credentials: Option<rocketwire_core::acl::Credentials>,
            ) -> Result<(), ClientError> {
                self.run(self.client.set_credentials(credentials))
            }
            fn invoke(
                &self,
                addr: &str,
                cmd: RemotingCommand,
                timeout: Duration,
            ) -> Result<RemotingCommand, ClientError> {
                self.run(self.client.invoke(addr, cmd, timeout))
            }
            fn invoke_ok(
                &self,
                addr: &str,
                cmd: RemotingCommand,
                timeout: Duration,
            ) -> Result<RemotingCommand, ClientError> {
                self.run(self.client.invoke_ok(addr, cmd, timeout))
            }
            fn invoke_all(
                &self,
                calls: Vec<(String, RemotingCommand, Duration)>,
            ) -> Vec<Result<RemotingCommand, ClientError>> {
                let client = &self.client;
                self.run(futures::future::join_all(calls.into_iter().map(
                    |(addr, cmd, timeout)| async move { client.invoke(&addr, cmd, timeout).await },
                )))
            }
            fn create_producer(
                &self,
                config: ProducerConfig,
                selector: QueueSelector,
            ) -> Result<Box<dyn HarnessProducer + '_>, ClientError> {
                let producer =
                    self.run(self.client.create_producer_with_selector(config, selector))?;
                Ok(Box::new($producer {
                    harness: self,
                    producer,
                }))
            }
            fn create_push_consumer(
                &self,
                config: ConsumerConfig,
                subscriptions: Vec<Subscription>,
                options: PushConsumerOptions,
                handler: Handler,
            ) -> Result<Box<dyn HarnessConsumer + '_>, ConsumerStartError> {
                let handler = move |messages: Vec<MessageExt>| {
                    let handler = handler.clone();
                    async move { handler(&messages) }
                };
                let consumer = self.run(self.client.create_push_consumer_with(
                    config,
                    subscriptions,
                    options,
                    handler,
                ))?;
                Ok(Box::new($consumer {
                    harness: self,
                    consumer,
                }))
            }
            fn create_transaction_producer(
                &self,
                config: ProducerConfig,
                listener: Arc<dyn TransactionListener>,
            ) -> Result<Box<dyn HarnessTransactionProducer + '_>, ClientError> {
                let producer =
                    self.run(self.client.create_transaction_producer(config, listener))?;
                Ok(Box::new($tx {
                    harness: self,
                    producer,
                }))
            }
            fn create_lite_pull_consumer(
                &self,
                config: ConsumerConfig,
                options: LitePullOptions,
            ) -> Box<dyn HarnessLiteConsumer + '_> {
                Box::new($lite {
                    harness: self,
                    consumer: self.client.create_lite_pull_consumer(config, options),
                })
            }
            fn lite_stream_batches(
                &self,
                config: ConsumerConfig,
                topic: &str,
                want: usize,
                timeout: Duration,
            ) -> Option<Vec<Vec<MessageExt>>> {
                use futures::StreamExt;
                let mut consumer = self
                    .client
                    .create_lite_pull_consumer(config, LitePullOptions::default());
                let read = async move {
                    consumer.subscribe(topic, "*").await.expect("subscribe");
                    let mut stream = consumer.into_stream();
                    let mut batches: Vec<Vec<MessageExt>> = Vec::new();
                    let give_up = std::time::Instant::now() + timeout;
                    while batches.iter().map(Vec::len).sum::<usize>() < want
                        && std::time::Instant::now() < give_up
                    {
                        match stream.next().await {
                            Some(batch) => batches.push(batch.expect("a batch")),
                            None => break,
                        }
                    }
                    batches
                };
                Some(self.run(read))
            }
            fn events(&self) -> EventProbe {
                let mut events = self.run(self.client.events());
                Box::new(move || events.try_next_event())
            }
            fn admin(&self) -> Box<dyn HarnessAdmin + '_> {
                Box::new(AdminOf {
                    harness: self,
                    admin: self.client.admin(),
                })
            }
            fn client_id(&self) -> String {
                self.client.client_id().to_owned()
            }
            fn shutdown(self: Box<Self>) -> Result<(), ClientError> {
                let this = *self;
                let block_on = $block_on;
                block_on(
                    &this.runtime,
                    Box::pin(this.client.shutdown(Duration::from_secs(5))),
                )
            }
        }
    };
}

async_harness!(
    TokioHarness,
    TokioProducer,
    TokioConsumer,
    TokioTx,
    TokioLite,
    AdapterKind::Tokio,
    rocketwire_tokio::Client,
    rocketwire_tokio::Producer,
    rocketwire_tokio::PushConsumer,
    rocketwire_tokio::TransactionProducer,
    rocketwire_tokio::LitePullConsumer,
    tokio::runtime::Runtime,
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime"),
    |rt: &tokio::runtime::Runtime, fut| rt.block_on(fut)
);

async_harness!(
    SmolHarness,
    SmolProducer,
    SmolConsumer,
    SmolTx,
    SmolLite,
    AdapterKind::Smol,
    rocketwire_smol::Client,
    rocketwire_smol::Producer,
    rocketwire_smol::PushConsumer,
    rocketwire_smol::TransactionProducer,
    rocketwire_smol::LitePullConsumer,
    (),
    (),
    |_: &(), fut| smol::block_on(fut)
);

async_harness!(
    AsyncStdHarness,
    AsyncStdProducer,
    AsyncStdConsumer,
    AsyncStdTx,
    AsyncStdLite,
    AdapterKind::AsyncStd,
    rocketwire_async_std::Client,
    rocketwire_async_std::Producer,
    rocketwire_async_std::PushConsumer,
    rocketwire_async_std::TransactionProducer,
    rocketwire_async_std::LitePullConsumer,
    (),
    (),
    |_: &(), fut| async_std::task::block_on(fut)
);

struct BlockingHarness {
    client: rocketwire_blocking::Client,
}

impl BlockingHarness {
    fn start(config: ClientConfig, options: DriverOptions) -> Self {
        Self {
            client: rocketwire_blocking::Client::start_with_options(config, options)
                .expect("client starts"),
        }
    }

    /// A blocking call's result, as is (the async harnesses block on a future here).
    fn run<T>(&self, result: T) -> T {
        result
    }

    fn run_send(&self, handle: rocketwire_blocking::SendHandle) -> Result<SendResult, SendError> {
        handle.wait()
    }
}

impl Harness for BlockingHarness {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Blocking
    }
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        self.client.query_route(topic)
    }
    fn set_credentials(
        &self,
        credentials: Option<rocketwire_core::acl::Credentials>,
    ) -> Result<(), ClientError> {
        self.client.set_credentials(credentials)
    }
    fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        self.client.invoke(addr, cmd, timeout)
    }
    fn invoke_ok(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        self.client.invoke_ok(addr, cmd, timeout)
    }
    fn invoke_all(
        &self,
        calls: Vec<(String, RemotingCommand, Duration)>,
    ) -> Vec<Result<RemotingCommand, ClientError>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = calls
                .into_iter()
                .map(|(addr, cmd, timeout)| {
                    let client = &self.client;
                    s.spawn(move || client.invoke(&addr, cmd, timeout))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("invoke thread"))
                .collect()
        })
    }
    fn create_producer(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Box<dyn HarnessProducer + '_>, ClientError> {
        let producer = self
            .client
            .create_producer_with_selector(config, selector)?;
        Ok(Box::new(BlockingProducer {
            harness: self,
            producer,
        }))
    }
    fn create_push_consumer(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        options: PushConsumerOptions,
        handler: Handler,
    ) -> Result<Box<dyn HarnessConsumer + '_>, ConsumerStartError> {
        let consumer = self.client.create_push_consumer_with(
            config,
            subscriptions,
            options,
            move |messages: &[MessageExt]| handler(messages),
        )?;
        Ok(Box::new(BlockingConsumer {
            harness: self,
            consumer,
        }))
    }
    fn create_transaction_producer(
        &self,
        config: ProducerConfig,
        listener: Arc<dyn TransactionListener>,
    ) -> Result<Box<dyn HarnessTransactionProducer + '_>, ClientError> {
        let producer = self.client.create_transaction_producer(config, listener)?;
        Ok(Box::new(BlockingTx {
            harness: self,
            producer,
        }))
    }
    fn events(&self) -> EventProbe {
        let mut events = self.client.events();
        Box::new(move || events.try_next_event())
    }
    fn admin(&self) -> Box<dyn HarnessAdmin + '_> {
        Box::new(AdminOf {
            harness: self,
            admin: self.client.admin(),
        })
    }
    fn client_id(&self) -> String {
        self.client.client_id().to_owned()
    }
    fn create_lite_pull_consumer(
        &self,
        config: ConsumerConfig,
        options: LitePullOptions,
    ) -> Box<dyn HarnessLiteConsumer + '_> {
        Box::new(BlockingLite {
            harness: self,
            consumer: self.client.create_lite_pull_consumer(config, options),
        })
    }
    fn lite_stream_batches(
        &self,
        _: ConsumerConfig,
        _: &str,
        _: usize,
        _: Duration,
    ) -> Option<Vec<Vec<MessageExt>>> {
        None
    }
    fn shutdown(self: Box<Self>) -> Result<(), ClientError> {
        self.client.shutdown(Duration::from_secs(5))
    }
}

harness_admin!(impl [] for AdminOf<'_, BlockingHarness, rocketwire_blocking::Admin>);

handle_impls!(
    BlockingHarness,
    BlockingProducer,
    BlockingConsumer,
    BlockingTx,
    BlockingLite,
    rocketwire_blocking::Producer,
    rocketwire_blocking::PushConsumer,
    rocketwire_blocking::TransactionProducer,
    rocketwire_blocking::LitePullConsumer
);
