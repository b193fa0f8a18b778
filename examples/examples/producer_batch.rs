//! A batch send on async-std: messages of one topic stored together at consecutive offsets,
//! each with its own result (a batch over the producer's size limit would leave as several
//! requests).
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example producer_batch`

use rocketwire_async_std::Client;
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::ClientConfig;
use rocketwire_examples::{demo_message, fresh_topic, namesrv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(async {
        let client = Client::start(ClientConfig::new(vec![namesrv()])).await?;
        let producer = client
            .create_producer(ProducerConfig::builder("example_batch").build()?)
            .await?;
        let topic = fresh_topic("example_batch");
        let batch = (0..10).map(|i| demo_message(&topic, i)).collect();
        for result in producer.send_batch(batch).await {
            let sent = result?;
            println!(
                "stored on q{} at offset {}: {}",
                sent.message_queue.queue_id, sent.queue_offset, sent.msg_id
            );
        }
        producer.shutdown().await?;
        client.shutdown(std::time::Duration::from_secs(5)).await?;
        Ok(())
    })
}
