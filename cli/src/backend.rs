//! The runtime-specific part: [`Backend`], and one small implementation per runtime.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::{ConsumeStats, MessageQueue, TopicRouteData};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendError};
use rocketwire_core::{
    ClientConfig, ClientError, ConsumeOutcome, ConsumerCloseReport, InvokeError, RequestError,
};
use rocketwire_driver::{
    block_on, Client, ConsumerStartError, CurrentRuntime, DriverOptions, LitePullError,
    LitePullOptions, Producer, PushConsumer, PushConsumerOptions, QueueOffsets, SendHandle,
    TrySendError,
};

/// A message handler as the commands write it: the outcome comes once the messages were
/// handed on (printed), so it is a future; it must not block the thread that calls it.
pub type Handler = Arc<dyn Fn(Vec<MessageExt>) -> BoxFuture<'static, ConsumeOutcome> + Send + Sync>;

/// What the commands need from a client, whatever runs it. Calls block the calling thread.
pub trait Backend: Sized {
    /// Starts a client.
    fn start(config: ClientConfig, options: DriverOptions) -> Result<Self, ClientError>;
    /// `query_route`.
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError>;
    /// Creates the producer the `try_send*` calls use.
    fn create_producer(&mut self, config: ProducerConfig) -> Result<(), ClientError>;
    /// `try_send` (or `try_send_batch` for more than one message) on that producer.
    fn try_send(&self, messages: Vec<Message>) -> Result<SendHandle, TrySendError>;
    /// `request` on that producer.
    fn request(&self, message: Message, timeout: Duration) -> Result<MessageExt, RequestError>;
    /// Starts the push consumer the `consume` command uses.
    fn start_consumer(
        &mut self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        handler: Handler,
    ) -> Result<(), ConsumerStartError>;
    /// Closes that consumer gracefully.
    fn stop_consumer(&mut self, drain: Duration) -> Result<ConsumerCloseReport, ClientError>;
    /// Closes the producer, if any, then the client.
    fn shutdown(self) -> Result<(), ClientError>;
    /// Runs one admin call (see [`AdminCall`]).
    fn admin(&self, call: AdminCall) -> Result<AdminAnswer, ClientError>;
    /// Starts the lite pull consumer `consume --offset` reads with: `queues` assigned to
    /// `group`, nothing committed.
    fn start_reader(&mut self, group: &str, queues: Vec<MessageQueue>)
        -> Result<(), LitePullError>;
    /// Moves the reader's position in `queue`.
    fn reader_seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError>;
    /// What the reader has, waiting up to `timeout`.
    fn reader_poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError>;
}

/// The reader's settings. Its group is its own, made up per run, so acking what `poll`
/// returns (auto-commit) moves nobody's offsets, and it keeps flow control going: unacked
/// deliveries would stop the pulls after 64 of them. Its offsets are written only when it
/// closes (the interval is longer than any read).
fn reader_parts(group: &str) -> (ConsumerConfig, LitePullOptions) {
    let config = ConsumerConfig {
        group: group.to_owned(),
        ..ConsumerConfig::default()
    };
    let options = LitePullOptions::default()
        .with_auto_commit(true)
        .with_auto_commit_interval(Duration::from_secs(24 * 3600));
    (config, options)
}

fn no_reader() -> LitePullError {
    LitePullError::NotStarted
}

/// An admin call of the `topic`, `offsets` and `query` commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCall {
    /// `Admin::topic_list`.
    TopicList,
    /// `Admin::create_topic`.
    CreateTopic(TopicConfig, Option<String>),
    /// `Admin::topic_offsets`.
    TopicOffsets(String),
    /// `Admin::search_offset`.
    SearchOffset(MessageQueue, i64),
    /// `Admin::consume_stats` of a group on a topic.
    ConsumeStats(String, String),
    /// `Admin::query_by_key`, at most this many per broker, over all time.
    QueryByKey(String, String, i32),
    /// `Admin::query_by_unique_key`.
    QueryByUniqueKey(String, String),
    /// `Admin::view_message`.
    ViewMessage(String),
}

/// What an [`AdminCall`] answered.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminAnswer {
    /// Topics.
    Topics(BTreeSet<String>),
    /// Broker names.
    Brokers(Vec<String>),
    /// Queue bounds.
    Offsets(Vec<QueueOffsets>),
    /// One offset.
    Offset(i64),
    /// A group's stats.
    Stats(ConsumeStats),
    /// Messages.
    Messages(Vec<MessageExt>),
}

/// Runs `call` on an admin handle (one body for every runtime; `$run` waits for each call:
/// a runtime's `block_on`, or `std::convert::identity` for blocking calls).
macro_rules! admin_call {
    ($admin:expr, $call:expr, $($run:tt)+) => {{
        let admin = $admin;
        match $call {
            AdminCall::TopicList => $($run)+(admin.topic_list()).map(AdminAnswer::Topics),
            AdminCall::CreateTopic(config, cluster) => {
                $($run)+(admin.create_topic(config, cluster.as_deref())).map(AdminAnswer::Brokers)
            }
            AdminCall::TopicOffsets(topic) => {
                $($run)+(admin.topic_offsets(&topic)).map(AdminAnswer::Offsets)
            }
            AdminCall::SearchOffset(queue, ms) => {
                $($run)+(admin.search_offset(&queue, ms)).map(AdminAnswer::Offset)
            }
            AdminCall::ConsumeStats(group, topic) => {
                $($run)+(admin.consume_stats(&group, Some(&topic))).map(AdminAnswer::Stats)
            }
            AdminCall::QueryByKey(topic, key, max) => {
                $($run)+(admin.query_by_key(&topic, &key, max, 0, i64::MAX))
                    .map(AdminAnswer::Messages)
            }
            AdminCall::QueryByUniqueKey(topic, id) => {
                $($run)+(admin.query_by_unique_key(&topic, &id))
                    .map(|m| AdminAnswer::Messages(m.into_iter().collect()))
            }
            AdminCall::ViewMessage(id) => {
                $($run)+(admin.view_message(&id)).map(|m| AdminAnswer::Messages(vec![m]))
            }
        }
    }};
}

/// How an async runtime runs a future to completion on the calling thread.
pub trait Exec {
    /// The executor.
    fn new() -> Result<Self, ClientError>
    where
        Self: Sized;
    /// Runs `future` to completion.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
}

/// A client on an async runtime `R`, driven from the calling thread with executor `E`.
#[derive(Debug)]
pub struct AsyncBackend<R, E> {
    exec: E,
    client: Client<R>,
    producer: Option<Producer<R>>,
    consumer: Option<PushConsumer<R>>,
    reader: Option<rocketwire_driver::LitePullConsumer<R>>,
}

impl<R: CurrentRuntime, E: Exec> Backend for AsyncBackend<R, E> {
    fn start(config: ClientConfig, options: DriverOptions) -> Result<Self, ClientError> {
        let exec = E::new()?;
        let client = exec.block_on(Client::<R>::start_with_options(config, options))?;
        Ok(Self {
            exec,
            client,
            producer: None,
            consumer: None,
            reader: None,
        })
    }
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        self.exec.block_on(self.client.query_route(topic))
    }
    fn create_producer(&mut self, config: ProducerConfig) -> Result<(), ClientError> {
        let producer = self.exec.block_on(
            self.client
                .create_producer_with_selector(config, QueueSelector::RoundRobin),
        )?;
        self.producer = Some(producer);
        Ok(())
    }
    fn request(&self, message: Message, timeout: Duration) -> Result<MessageExt, RequestError> {
        match &self.producer {
            Some(producer) => self.exec.block_on(producer.request(message, timeout)),
            None => Err(RequestError::Send(SendError::Transport(
                InvokeError::Shutdown,
            ))),
        }
    }
    fn try_send(&self, mut messages: Vec<Message>) -> Result<SendHandle, TrySendError> {
        let producer = self.producer.as_ref().ok_or(TrySendError::Shutdown)?;
        match (messages.len(), messages.pop()) {
            (1, Some(message)) => producer.try_send(message),
            (_, last) => {
                messages.extend(last);
                producer.try_send_batch(messages)
            }
        }
    }
    fn start_consumer(
        &mut self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        handler: Handler,
    ) -> Result<(), ConsumerStartError> {
        let handler = move |messages: Vec<MessageExt>| handler(messages);
        let consumer = self.exec.block_on(self.client.create_push_consumer_with(
            config,
            subscriptions,
            PushConsumerOptions::default(),
            handler,
        ))?;
        self.consumer = Some(consumer);
        Ok(())
    }
    fn stop_consumer(&mut self, drain: Duration) -> Result<ConsumerCloseReport, ClientError> {
        match self.consumer.take() {
            Some(consumer) => self.exec.block_on(consumer.shutdown(drain)),
            None => Ok(ConsumerCloseReport::default()),
        }
    }
    fn shutdown(mut self) -> Result<(), ClientError> {
        self.stop_consumer(Duration::from_secs(5))?;
        if let Some(producer) = self.producer {
            self.exec.block_on(producer.shutdown())?;
        }
        self.exec
            .block_on(self.client.shutdown(Duration::from_secs(5)))
    }
    fn admin(&self, call: AdminCall) -> Result<AdminAnswer, ClientError> {
        admin_call!(self.client.admin(), call, self.exec.block_on)
    }
    fn start_reader(
        &mut self,
        group: &str,
        queues: Vec<MessageQueue>,
    ) -> Result<(), LitePullError> {
        let (config, options) = reader_parts(group);
        let mut reader = self.client.create_lite_pull_consumer(config, options);
        self.exec.block_on(reader.assign(queues))?;
        self.reader = Some(reader);
        Ok(())
    }
    fn reader_seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError> {
        let reader = self.reader.as_mut().ok_or_else(no_reader)?;
        self.exec.block_on(reader.seek(queue, offset))
    }
    fn reader_poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError> {
        let reader = self.reader.as_mut().ok_or_else(no_reader)?;
        self.exec.block_on(reader.poll(timeout))
    }
}

/// tokio: a multi-thread runtime of two workers.
#[derive(Debug)]
pub struct TokioExec(tokio::runtime::Runtime);

impl Exec for TokioExec {
    fn new() -> Result<Self, ClientError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map(TokioExec)
            .map_err(|e| ClientError::InvalidArgument(format!("cannot start tokio: {e}")))
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

/// smol's `block_on` (tasks run on smol's global executor).
#[derive(Debug)]
pub struct SmolExec;

impl Exec for SmolExec {
    fn new() -> Result<Self, ClientError> {
        Ok(SmolExec)
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(future)
    }
}

/// async-std's `block_on`.
#[derive(Debug)]
pub struct AsyncStdExec;

impl Exec for AsyncStdExec {
    fn new() -> Result<Self, ClientError> {
        Ok(AsyncStdExec)
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

/// The client on tokio.
pub type TokioBackend = AsyncBackend<rocketwire_tokio::TokioRuntime, TokioExec>;
/// The client on smol.
pub type SmolBackend = AsyncBackend<rocketwire_smol::SmolRuntime, SmolExec>;
/// The client on async-std.
pub type AsyncStdBackend = AsyncBackend<rocketwire_async_std::AsyncStdRuntime, AsyncStdExec>;

/// The blocking client (std threads).
#[derive(Debug)]
pub struct BlockingBackend {
    client: rocketwire_blocking::Client,
    producer: Option<rocketwire_blocking::Producer>,
    consumer: Option<rocketwire_blocking::PushConsumer>,
    reader: Option<rocketwire_blocking::LitePullConsumer>,
}

impl Backend for BlockingBackend {
    fn start(config: ClientConfig, options: DriverOptions) -> Result<Self, ClientError> {
        let client = rocketwire_blocking::Client::start_with_options(config, options)?;
        Ok(Self {
            client,
            producer: None,
            consumer: None,
            reader: None,
        })
    }
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        self.client.query_route(topic)
    }
    fn create_producer(&mut self, config: ProducerConfig) -> Result<(), ClientError> {
        self.producer = Some(self.client.create_producer(config)?);
        Ok(())
    }
    fn request(&self, message: Message, timeout: Duration) -> Result<MessageExt, RequestError> {
        match &self.producer {
            Some(producer) => producer.request(message, timeout),
            None => Err(RequestError::Send(SendError::Transport(
                InvokeError::Shutdown,
            ))),
        }
    }
    fn try_send(&self, mut messages: Vec<Message>) -> Result<SendHandle, TrySendError> {
        let producer = self.producer.as_ref().ok_or(TrySendError::Shutdown)?;
        match (messages.len(), messages.pop()) {
            (1, Some(message)) => producer.try_send(message),
            (_, last) => {
                messages.extend(last);
                producer.try_send_batch(messages)
            }
        }
    }
    fn start_consumer(
        &mut self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        handler: Handler,
    ) -> Result<(), ConsumerStartError> {
        let consumer = self.client.create_push_consumer_with(
            config,
            subscriptions,
            PushConsumerOptions::default(),
            // A worker thread of the consumer's own pool waits for the outcome.
            move |messages: &[MessageExt]| block_on(handler(messages.to_vec())),
        )?;
        self.consumer = Some(consumer);
        Ok(())
    }
    fn stop_consumer(&mut self, drain: Duration) -> Result<ConsumerCloseReport, ClientError> {
        match self.consumer.take() {
            Some(consumer) => consumer.shutdown(drain),
            None => Ok(ConsumerCloseReport::default()),
        }
    }
    fn shutdown(mut self) -> Result<(), ClientError> {
        self.stop_consumer(Duration::from_secs(5))?;
        if let Some(producer) = self.producer {
            producer.shutdown()?;
        }
        self.client.shutdown(Duration::from_secs(5))
    }
    fn admin(&self, call: AdminCall) -> Result<AdminAnswer, ClientError> {
        admin_call!(self.client.admin(), call, std::convert::identity)
    }
    fn start_reader(
        &mut self,
        group: &str,
        queues: Vec<MessageQueue>,
    ) -> Result<(), LitePullError> {
        let (config, options) = reader_parts(group);
        let mut reader = self.client.create_lite_pull_consumer(config, options);
        reader.assign(queues)?;
        self.reader = Some(reader);
        Ok(())
    }
    fn reader_seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError> {
        self.reader
            .as_mut()
            .ok_or_else(no_reader)?
            .seek(queue, offset)
    }
    fn reader_poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError> {
        self.reader.as_mut().ok_or_else(no_reader)?.poll(timeout)
    }
}
