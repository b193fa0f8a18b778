//! A lite pull consumer on tokio: produce ten messages to a fresh topic, assign its queues,
//! poll them back, seek one queue back to its start, commit by hand, and shut down.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example consumer_lite_pull`

use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::ClientConfig;
use rocketwire_examples::{demo_message, fresh_topic, namesrv};
use rocketwire_tokio::{Client, LitePullOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::start(ClientConfig::new(vec![namesrv()])).await?;
    let topic = fresh_topic("example_lite_pull");
    let producer = client.create_producer(ProducerConfig::default()).await?;
    for i in 0..10 {
        producer.send(demo_message(&topic, i)).await?;
    }
    producer.shutdown().await?;
    // A new topic's route reaches the namesrv shortly after the first send.
    let route = loop {
        match client.query_route(&topic).await {
            Ok(route) => break route,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let queues = route.subscribe_queues(&topic);

    let config = ConsumerConfig {
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::builder("example_lite_pull_group").build()?
    };
    // Java's defaults (10 per poll, 5 s poll timeout), committing by hand.
    let options = LitePullOptions::default().with_auto_commit(false);
    let mut consumer = client.create_lite_pull_consumer(config, options);
    consumer.assign(queues.clone()).await?;

    let mut polled = 0;
    let give_up = Instant::now() + Duration::from_secs(30);
    while polled < 10 && Instant::now() < give_up {
        for m in consumer.poll(Duration::from_secs(1)).await? {
            println!(
                "queue {} offset {}: {}",
                m.queue_id,
                m.queue_offset,
                String::from_utf8_lossy(m.body())
            );
            polled += 1;
        }
    }

    // Read the first queue again from its start.
    if let Some(first) = queues.first() {
        consumer.seek(first, 0).await?;
        let again = consumer.poll(Duration::from_secs(3)).await?;
        println!(
            "after seek: {} message(s) of queue {}",
            again.len(),
            first.queue_id
        );
    }

    // Settles what poll returned and waits for the brokers to store the offsets.
    consumer.commit().await?;
    println!("committed; polled {polled} message(s)");
    consumer.shutdown().await?;
    client.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
