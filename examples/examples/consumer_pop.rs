//! A POP consumer (RocketMQ 5.x) on tokio: the broker hands out batches and keeps the group's
//! position; each message is acked by its receipt handle. A message not acked within the
//! invisible time is handed out again, to any consumer of the group.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example consumer_pop`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, PopConfig, Subscription};
use rocketwire_core::message::{keys, MessageExt};
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::{ClientConfig, ConsumeOutcome};
use rocketwire_examples::{demo_message, fresh_topic, namesrv};
use rocketwire_tokio::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::start(ClientConfig::new(vec![namesrv()])).await?;
    let topic = fresh_topic("example_pop");
    let producer = client.create_producer(ProducerConfig::default()).await?;
    for i in 0..10 {
        producer.send(demo_message(&topic, i)).await?;
    }
    producer.shutdown().await?;
    while client.query_route(&topic).await.is_err() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let consumed = Arc::new(AtomicUsize::new(0));
    let counter = consumed.clone();
    let config = ConsumerConfig::builder("example_pop_group")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .pop(PopConfig::default().with_invisible_time(Duration::from_secs(30)))
        .build()?;
    let consumer = client
        .create_push_consumer(
            config,
            vec![Subscription::tag(topic.clone(), "*")?],
            move |messages: Vec<MessageExt>| {
                let counter = counter.clone();
                async move {
                    for m in &messages {
                        let handle = m.message.property(keys::POP_CK).unwrap_or_default();
                        println!("{}: {}", handle, String::from_utf8_lossy(m.body()));
                    }
                    counter.fetch_add(messages.len(), Ordering::Relaxed);
                    ConsumeOutcome::Success
                }
            },
        )
        .await?;
    let give_up = Instant::now() + Duration::from_secs(30);
    while consumed.load(Ordering::Relaxed) < 10 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown(Duration::from_secs(5)).await?;
    client.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
