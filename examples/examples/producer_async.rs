//! Pipelined asynchronous sends on tokio: many sends in flight at once, bounded by the
//! client's in-flight limit, results awaited together.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example producer_async`

use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::ClientConfig;
use rocketwire_examples::{demo_message, fresh_topic, namesrv};
use rocketwire_tokio::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::start(ClientConfig::new(vec![namesrv()])).await?;
    let producer = client
        .create_producer(ProducerConfig::builder("example_async").build()?)
        .await?;
    let topic = fresh_topic("example_async");
    let mut sends = Vec::new();
    for i in 0..100 {
        let (producer, message) = (producer.clone(), demo_message(&topic, i));
        sends.push(tokio::spawn(
            async move { producer.send_async(message).await },
        ));
    }
    let mut stored = 0;
    for send in sends {
        if send.await?.is_ok() {
            stored += 1;
        }
    }
    println!("{stored} of 100 stored");
    producer.shutdown().await?;
    client.shutdown(std::time::Duration::from_secs(5)).await?;
    Ok(())
}
