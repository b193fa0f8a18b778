//! Steps the production-access suites (ACL, TLS, NAT) share: a producer, and a message
//! produced then consumed by a push consumer of a fresh group.

use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendStatus};
use rocketwire_tokio::PushConsumerOptions;

use crate::harness::HarnessProducer;
use crate::seen::Seen;
use crate::{unique, Harness};

/// A producer of a unique group on `client` with `send_timeout`.
pub fn producer_of(client: &dyn Harness, send_timeout: Duration) -> Box<dyn HarnessProducer + '_> {
    let config = ProducerConfig::builder(unique("rw_pgroup"))
        .send_timeout(send_timeout)
        .build()
        .expect("valid producer config");
    client
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer")
}

/// Sends `body` to a new topic named after `prefix` with `client`, then a push consumer of
/// a new group on `client` gets it (`how` says how the client reaches the cluster, for
/// failure messages).
pub fn produce_and_consume(client: &dyn Harness, prefix: &str, body: &str, how: &str) {
    let topic = unique(prefix);
    let producer = producer_of(client, Duration::from_secs(5));
    let sent = producer
        .send(Message::new(topic.clone(), body.to_owned()))
        .unwrap_or_else(|e| panic!("a send {how} is stored: {e:?}"));
    assert_eq!(sent.status, SendStatus::SendOk);
    producer.shutdown().expect("producer shutdown");
    let give_up = Instant::now() + Duration::from_secs(30);
    while client.query_route(&topic).is_err() {
        assert!(Instant::now() < give_up, "no route for {topic}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let seen = Seen::default();
    let config = ConsumerConfig {
        group: unique("rw_cgroup"),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    };
    let consumer = client
        .create_push_consumer(
            config,
            vec![Subscription::tag(topic.as_str(), "*").expect("subscription")],
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer");
    seen.wait_for(&format!("the message sent {how}"), |m| {
        m.iter().any(|m| m.body()[..] == *body.as_bytes())
    });
    consumer
        .shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
}
