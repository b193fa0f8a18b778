//! Ordered sends on the blocking adapter: the hash selector puts every message with the same
//! sharding key on the same queue, so an orderly consumer sees them in send order.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example producer_ordered`

use rocketwire_core::message::{keys, Message};
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::ClientConfig;
use rocketwire_examples::{fresh_topic, namesrv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = rocketwire_blocking::Client::start(ClientConfig::new(vec![namesrv()]))?;
    let producer = client.create_producer_with_selector(
        ProducerConfig::builder("example_ordered").build()?,
        QueueSelector::Hash,
    )?;
    let topic = fresh_topic("example_ordered");
    for i in 0..9 {
        let order = format!("order-{}", i % 3);
        let mut m = Message::new(topic.clone(), format!("{order}: step {}", i / 3));
        m.set_property(keys::SHARDING_KEY, order.clone())?;
        let sent = producer.send(m)?;
        println!(
            "{order} -> q{} @{}",
            sent.message_queue.queue_id, sent.queue_offset
        );
    }
    producer.shutdown()?;
    client.shutdown(std::time::Duration::from_secs(5))?;
    Ok(())
}
