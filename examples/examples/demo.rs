//! The demo `cargo xtask demo` runs on the local cluster (tokio): a producer sends ten
//! messages to a fresh topic and a push consumer in its own group receives them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::{ClientConfig, ConsumeOutcome};
use rocketwire_examples::{demo_message, fresh_topic, namesrv};
use rocketwire_tokio::Client;

const COUNT: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = namesrv();
    println!("namesrv {namesrv}");
    let client = Client::start(ClientConfig::new(vec![namesrv])).await?;
    let topic = fresh_topic("DemoTopic");

    let producer = client
        .create_producer(ProducerConfig::builder("demo_producer").build()?)
        .await?;
    let mut sent_ids = BTreeSet::new();
    for i in 0..COUNT {
        let sent = producer.send(demo_message(&topic, i)).await?;
        println!(
            "producer: message {} stored on {} queue {} at offset {} (msg id {})",
            i + 1,
            sent.message_queue.broker_name,
            sent.message_queue.queue_id,
            sent.queue_offset,
            sent.msg_id
        );
        sent_ids.insert(sent.msg_id);
    }
    producer.shutdown().await?;
    // The broker registers the topic it just created with the namesrv within moments.
    let give_up = Instant::now() + Duration::from_secs(30);
    while client.query_route(&topic).await.is_err() && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let received = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = received.clone();
    let config = ConsumerConfig {
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::builder("demo_consumer").build()?
    };
    let consumer = client
        .create_push_consumer(
            config,
            vec![Subscription::tag(topic.clone(), "demo")?],
            move |messages: Vec<MessageExt>| {
                let seen = seen.clone();
                async move {
                    for m in &messages {
                        println!(
                            "consumer: got \"{}\" from queue {} offset {} (msg id {})",
                            String::from_utf8_lossy(m.body()),
                            m.queue_id,
                            m.queue_offset,
                            m.msg_id(),
                        );
                        seen.lock()
                            .expect("not poisoned")
                            .insert(m.msg_id().to_string());
                    }
                    ConsumeOutcome::Success
                }
            },
        )
        .await?;
    let give_up = Instant::now() + Duration::from_secs(30);
    while received.lock().expect("not poisoned").len() < COUNT && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = consumer.shutdown(Duration::from_secs(5)).await?;
    client.shutdown(Duration::from_secs(5)).await?;
    let received = received.lock().expect("not poisoned").clone();
    println!(
        "\nproducer sent {} messages, consumer received {}",
        sent_ids.len(),
        received.len()
    );
    println!("committed offsets of {topic} (queue: next offset):");
    for (queue, offset) in report.persisted.iter().filter(|(q, _)| q.topic == topic) {
        println!("  {} queue {}: {offset}", queue.broker_name, queue.queue_id);
    }
    if received != sent_ids {
        let missing = sent_ids.difference(&received).count();
        let unexpected = received.difference(&sent_ids).count();
        return Err(format!(
            "{missing} messages sent were not received, {unexpected} received were not sent"
        )
        .into());
    }
    println!("ok: every message sent was received");
    Ok(())
}
