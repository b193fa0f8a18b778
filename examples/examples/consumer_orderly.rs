//! An orderly push consumer on the blocking adapter: messages of one sharding key are sent to
//! one queue and consumed one at a time, in order.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example consumer_orderly`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketwire_blocking::Client;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfig, Subscription};
use rocketwire_core::message::{keys, Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ClientConfig, ConsumeOutcome};
use rocketwire_examples::{fresh_topic, namesrv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::start(ClientConfig::new(vec![namesrv()]))?;
    let topic = fresh_topic("example_orderly");
    let producer =
        client.create_producer_with_selector(ProducerConfig::default(), QueueSelector::Hash)?;
    for i in 0..12 {
        let order = format!("order-{}", i % 3);
        let mut m = Message::new(topic.clone(), format!("{order} step {}", i / 3));
        m.set_property(keys::SHARDING_KEY, order)?;
        producer.send(m)?;
    }
    producer.shutdown()?;
    while client.query_route(&topic).is_err() {
        std::thread::sleep(Duration::from_millis(200));
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let config = ConsumerConfig {
        consume_mode: ConsumeMode::Orderly,
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::builder("example_orderly_group").build()?
    };
    let consumer = client.create_push_consumer(
        config,
        vec![Subscription::tag(topic.clone(), "*")?],
        move |messages: &[MessageExt]| {
            for m in messages {
                let body = String::from_utf8_lossy(m.body()).into_owned();
                println!("q{}: {body}", m.queue_id);
                log.lock().expect("lock").push(body);
            }
            ConsumeOutcome::Success
        },
    )?;
    let give_up = Instant::now() + Duration::from_secs(30);
    while seen.lock().expect("lock").len() < 12 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer.shutdown(Duration::from_secs(5))?;
    client.shutdown(Duration::from_secs(5))?;
    Ok(())
}
