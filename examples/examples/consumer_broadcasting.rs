//! A broadcasting push consumer on smol: every consumer of the group gets every message, and
//! offsets live in a local file (`<dir>/<clientId>/<group>/offsets.json`) that a restart with
//! the same instance name reads back.
//!
//! `ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example consumer_broadcasting`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::body::{ConsumeFromWhere, MessageModel};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::{ClientConfig, ConsumeOutcome};
use rocketwire_examples::{demo_message, fresh_topic, namesrv};
use rocketwire_smol::{Client, PushConsumerOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let mut config = ClientConfig::new(vec![namesrv()]);
        // A stable instance name keeps the offset file's path across restarts.
        config.instance_name = Some("example_broadcasting".into());
        let client = Client::start(config).await?;
        let topic = fresh_topic("example_broadcast");
        let producer = client.create_producer(ProducerConfig::default()).await?;
        for i in 0..5 {
            producer.send(demo_message(&topic, i)).await?;
        }
        producer.shutdown().await?;
        while client.query_route(&topic).await.is_err() {
            async_io_sleep(Duration::from_millis(200)).await;
        }

        let consumed = Arc::new(AtomicUsize::new(0));
        let counter = consumed.clone();
        let consumer_config = ConsumerConfig {
            message_model: MessageModel::Broadcasting,
            consume_from_where: ConsumeFromWhere::FirstOffset,
            ..ConsumerConfig::builder("example_broadcast_group").build()?
        };
        let options = PushConsumerOptions::default()
            .with_offset_dir(std::env::temp_dir().join("rocketwire_example_offsets"));
        let consumer = client
            .create_push_consumer_with(
                consumer_config,
                vec![Subscription::tag(topic.clone(), "*")?],
                options,
                move |messages: Vec<MessageExt>| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(messages.len(), Ordering::SeqCst);
                        ConsumeOutcome::Success
                    }
                },
            )
            .await?;
        let give_up = Instant::now() + Duration::from_secs(30);
        while consumed.load(Ordering::SeqCst) < 5 && Instant::now() < give_up {
            async_io_sleep(Duration::from_millis(100)).await;
        }
        let report = consumer.shutdown(Duration::from_secs(5)).await?;
        println!(
            "consumed {}; offsets saved: {:?}",
            consumed.load(Ordering::SeqCst),
            report.persisted
        );
        client.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}

async fn async_io_sleep(d: Duration) {
    smol::Timer::after(d).await;
}
