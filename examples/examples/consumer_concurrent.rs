//! A concurrent push consumer on tokio: produce ten messages to a fresh topic, consume them
//! with an async handler, then shut the consumer down gracefully.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example consumer_concurrent`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::{ClientConfig, ConsumeOutcome};
use rocketwire_examples::{demo_message, fresh_topic, namesrv};
use rocketwire_tokio::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::start(ClientConfig::new(vec![namesrv()])).await?;
    let topic = fresh_topic("example_concurrent");
    let producer = client.create_producer(ProducerConfig::default()).await?;
    for i in 0..10 {
        producer.send(demo_message(&topic, i)).await?;
    }
    producer.shutdown().await?;
    // A new topic's route reaches the namesrv shortly after the first send.
    while client.query_route(&topic).await.is_err() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let consumed = Arc::new(AtomicUsize::new(0));
    let counter = consumed.clone();
    let config = ConsumerConfig {
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::builder("example_concurrent_group").build()?
    };
    let consumer = client
        .create_push_consumer(
            config,
            vec![Subscription::tag(topic.clone(), "demo")?],
            move |messages: Vec<MessageExt>| {
                let counter = counter.clone();
                async move {
                    for m in &messages {
                        println!(
                            "q{} @{}: {}",
                            m.queue_id,
                            m.queue_offset,
                            String::from_utf8_lossy(m.body())
                        );
                    }
                    counter.fetch_add(messages.len(), Ordering::SeqCst);
                    ConsumeOutcome::Success
                }
            },
        )
        .await?;
    let give_up = Instant::now() + Duration::from_secs(30);
    while consumed.load(Ordering::SeqCst) < 10 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = consumer.shutdown(Duration::from_secs(5)).await?;
    println!(
        "consumed {}; offsets committed: {:?}",
        consumed.load(Ordering::SeqCst),
        report.persisted
    );
    client.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
