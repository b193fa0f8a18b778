//! Synchronous sends on the blocking adapter: each `send` returns where the message was stored.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example producer_sync`

use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::ClientConfig;
use rocketwire_examples::{demo_message, fresh_topic, namesrv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = rocketwire_blocking::Client::start(ClientConfig::new(vec![namesrv()]))?;
    let producer = client.create_producer(ProducerConfig::builder("example_sync").build()?)?;
    let topic = fresh_topic("example_sync");
    for i in 0..5 {
        let sent = producer.send(demo_message(&topic, i))?;
        println!(
            "{:?} {} q{} @{}",
            sent.status, sent.msg_id, sent.message_queue.queue_id, sent.queue_offset
        );
    }
    producer.shutdown()?;
    client.shutdown(std::time::Duration::from_secs(5))?;
    Ok(())
}
