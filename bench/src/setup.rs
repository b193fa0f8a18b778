//! What the consumer cases set up and tear down: a fresh topic and its route, a push consumer
//! of a fresh group from the first offset, and the close of both.

use std::time::{Duration, Instant};

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::MessageExt;
use rocketwire_core::ConsumeOutcome;
use rocketwire_driver::{Client, CurrentRuntime, PushConsumer, PushConsumerOptions};

use crate::adapter::{self, Adapter};

/// How long the namesrv may take to serve a new topic's route.
const ROUTE_WAIT: Duration = Duration::from_secs(30);
/// How often a route is asked for again meanwhile.
const ROUTE_POLL: Duration = Duration::from_millis(200);
/// How long a client may take to close.
const CLIENT_CLOSE: Duration = Duration::from_secs(5);

/// A push consumer config of a fresh group (`rw_bench_{label}_{adapter}`, made unique) that
/// starts from the first offset.
pub(crate) fn consumer_config(label: &str, adapter: Adapter) -> ConsumerConfig {
    ConsumerConfig {
        group: adapter::unique(&format!("rw_bench_{label}_{}", adapter.name())),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    }
}

/// A config of `topic` with `queues` read and write queues.
pub(crate) fn topic_config(topic: &str, queues: i32) -> TopicConfig {
    TopicConfig {
        read_queue_nums: queues,
        write_queue_nums: queues,
        ..TopicConfig::new(topic)
    }
}

/// Waits until the namesrv serves the route of `topic` (30 s at most).
pub(crate) async fn await_route<R: CurrentRuntime>(
    client: &Client<R>,
    topic: &str,
) -> Result<(), String> {
    let give_up = Instant::now() + ROUTE_WAIT;
    while client.query_route(topic).await.is_err() {
        if Instant::now() > give_up {
            return Err(format!("no route for {topic}"));
        }
        client.runtime().timer(Instant::now() + ROUTE_POLL).await;
    }
    Ok(())
}

/// Creates the topic of `config` and waits until the namesrv serves its route.
pub(crate) async fn create_topic<R: CurrentRuntime>(
    client: &Client<R>,
    config: TopicConfig,
) -> Result<(), String> {
    let topic = config.topic.clone();
    client
        .admin()
        .create_topic(config, None)
        .await
        .map_err(|e| format!("create {topic}: {e}"))?;
    await_route(client, &topic).await
}

/// [`create_topic`] on a blocking client.
pub(crate) fn create_topic_blocking(
    client: &rocketwire_blocking::Client,
    config: TopicConfig,
) -> Result<(), String> {
    let topic = config.topic.clone();
    client
        .admin()
        .create_topic(config, None)
        .map_err(|e| format!("create {topic}: {e}"))?;
    let give_up = Instant::now() + ROUTE_WAIT;
    while client.query_route(&topic).is_err() {
        if Instant::now() > give_up {
            return Err(format!("no route for {topic}"));
        }
        std::thread::sleep(ROUTE_POLL);
    }
    Ok(())
}

/// A push consumer of `topic` ([`consumer_config`] of `label`) on `client`, whose every
/// delivered batch goes to `on_batch` and is then acknowledged.
pub(crate) async fn start_push_consumer<R: CurrentRuntime>(
    client: &Client<R>,
    label: &str,
    adapter: Adapter,
    topic: &str,
    on_batch: impl Fn(&[MessageExt]) + Send + Sync + 'static,
) -> Result<PushConsumer<R>, String> {
    client
        .create_push_consumer_with(
            consumer_config(label, adapter),
            adapter::subscriptions(topic)?,
            PushConsumerOptions::default(),
            move |messages: Vec<MessageExt>| {
                on_batch(&messages);
                std::future::ready(ConsumeOutcome::Success)
            },
        )
        .await
        .map_err(|e| format!("create push consumer: {e}"))
}

/// [`start_push_consumer`] on a blocking client.
pub(crate) fn start_push_consumer_blocking(
    client: &rocketwire_blocking::Client,
    label: &str,
    topic: &str,
    on_batch: impl Fn(&[MessageExt]) + Send + Sync + 'static,
) -> Result<rocketwire_blocking::PushConsumer, String> {
    client
        .create_push_consumer(
            consumer_config(label, Adapter::Blocking),
            adapter::subscriptions(topic)?,
            move |messages: &[MessageExt]| {
                on_batch(messages);
                ConsumeOutcome::Success
            },
        )
        .map_err(|e| format!("create push consumer: {e}"))
}

/// Closes `consumer` (its deliveries given `drain` to finish), then `client`.
pub(crate) async fn close<R: CurrentRuntime>(
    client: Client<R>,
    consumer: PushConsumer<R>,
    drain: Duration,
) -> Result<(), String> {
    consumer
        .shutdown(drain)
        .await
        .map_err(|e| format!("consumer shutdown: {e}"))?;
    client
        .shutdown(CLIENT_CLOSE)
        .await
        .map_err(|e| format!("client shutdown: {e}"))
}

/// [`close`] on a blocking client.
pub(crate) fn close_blocking(
    client: rocketwire_blocking::Client,
    consumer: rocketwire_blocking::PushConsumer,
    drain: Duration,
) -> Result<(), String> {
    consumer
        .shutdown(drain)
        .map_err(|e| format!("consumer shutdown: {e}"))?;
    client
        .shutdown(CLIENT_CLOSE)
        .map_err(|e| format!("client shutdown: {e}"))
}
