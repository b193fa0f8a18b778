//! Transactional sends on tokio: the half message is stored, the listener runs the local
//! transaction and commits, rolls back, or leaves it unknown for the broker to check back.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example producer_transactional`

use std::time::Duration;

use rocketwire_core::header::TransactionState;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::ClientConfig;
use rocketwire_examples::{fresh_topic, namesrv};
use rocketwire_tokio::{Client, TransactionListener};

/// Commits even-numbered orders, rolls back odd ones, and answers checks by the body.
struct Orders;

impl TransactionListener for Orders {
    fn execute(&self, message: &Message) -> TransactionState {
        match message.body.last() {
            Some(d) if d % 2 == 0 => TransactionState::Commit,
            Some(_) => TransactionState::Rollback,
            None => TransactionState::Unknown,
        }
    }
    fn check(&self, message: &MessageExt) -> TransactionState {
        println!("broker checks {}", message.msg_id());
        TransactionState::Commit
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::start(ClientConfig::new(vec![namesrv()])).await?;
    let producer = client
        .create_transaction_producer(ProducerConfig::builder("example_tx").build()?, Orders)
        .await?;
    let topic = fresh_topic("example_tx");
    for i in 0..4 {
        let result = producer
            .send_in_transaction(Message::new(topic.clone(), format!("order {i}")))
            .await?;
        println!(
            "order {i}: {:?} ({})",
            result.state, result.send_result.msg_id
        );
    }
    // Checks of unknown transactions arrive while the producer lives.
    tokio::time::sleep(Duration::from_secs(1)).await;
    producer.shutdown().await?;
    client.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
