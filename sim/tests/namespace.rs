//! Namespaces: a client with a namespace names topics and groups without it; the cluster
//! (the simulated brokers) sees every one of them wrapped, the retry topic included, and
//! everything the client hands back (send results, deliveries, offsets, queues) names them
//! without it again.

use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::Message;
use rocketwire_core::namespace::Namespace;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{ConsumeOutcome, Event, SendMode, SendTarget};
use rocketwire_sim::{World, WorldConfig};

#[test]
fn a_namespaced_client_sees_its_own_names_and_the_cluster_the_wrapped_ones() {
    let mut config = WorldConfig::new(81);
    config.client.namespace = Namespace::new("tenant1");
    let mut world = World::new(config);
    world.broker("broker-a").create_topic("tenant1%Orders", 2);
    let now = world.now();
    let producer = world.client(0).create_producer(
        now,
        ProducerConfig::builder("pg").build().unwrap(),
        QueueSelector::RoundRobin,
    );
    let consumer_config = ConsumerConfig::builder("cg")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .build()
        .unwrap();
    let sub = Subscription::tag("Orders", "*").unwrap();
    let consumer = world
        .client(0)
        .create_consumer(now, consumer_config, vec![sub], None)
        .unwrap();
    for i in 0..4 {
        let now = world.now();
        let message = Message::new("Orders", Bytes::from(format!("order-{i}")));
        world
            .client(0)
            .send(now, producer, message, SendTarget::Default, SendMode::Sync)
            .unwrap();
    }
    let delivered = |w: &World| {
        w.events(0)
            .iter()
            .filter(|e| matches!(e.event, Event::Deliver { .. }))
            .count()
    };
    let mut acked = 0;
    for _ in 0..100 {
        world
            .drive_until(|w| delivered(w) > acked, Duration::from_secs(30))
            .unwrap();
        let events: Vec<Event> = world.events(0).iter().map(|e| e.event.clone()).collect();
        let mut deliveries = 0;
        for event in events {
            if let Event::Deliver {
                delivery,
                queue,
                messages,
                ..
            } = event
            {
                deliveries += 1;
                if deliveries > acked {
                    assert_eq!(queue.topic, "Orders");
                    assert!(messages.iter().all(|m| m.message.topic == "Orders"));
                    let now = world.now();
                    world
                        .client(0)
                        .ack(now, delivery, ConsumeOutcome::Success)
                        .unwrap();
                    acked += 1;
                }
            }
        }
        if acked >= 4 {
            break;
        }
    }
    assert_eq!(acked, 4);
    // Send results name the user's topic; the broker stored under the wrapped one.
    let results: Vec<String> = world
        .events(0)
        .iter()
        .filter_map(|e| match &e.event {
            Event::Send { result: Ok(r), .. } => Some(r.message_queue.topic.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(results, vec!["Orders".to_string(); 4]);
    let stored: usize = (0..2)
        .map(|q| {
            world
                .broker("broker-a")
                .store()
                .messages("tenant1%Orders", q)
                .len()
        })
        .sum();
    assert_eq!(stored, 4);
    // Queues and offsets as the user names them.
    let queues = world.client(0).assigned_queues(consumer);
    assert!(!queues.is_empty() && queues.iter().all(|q| q.topic == "Orders"));
    // The broker knows the wrapped groups only.
    let broker = world.broker("broker-a");
    assert_eq!(broker.consumer_ids("tenant1%cg").len(), 1);
    assert_eq!(broker.producer_ids("tenant1%pg").len(), 1);
    assert!(broker.consumer_ids("cg").is_empty() && broker.producer_ids("pg").is_empty());
    // Offsets are committed for the wrapped group and topic, and read back unwrapped.
    world.drive(Duration::from_secs(6)).unwrap();
    let offsets = world.client(0).consumer_offsets(consumer);
    assert!(offsets.keys().all(|q| q.topic == "Orders"), "{offsets:?}");
    let committed: i64 = offsets
        .keys()
        .filter_map(|q| {
            world.broker_ref("broker-a").store().consumer_offset(
                "tenant1%cg",
                "tenant1%Orders",
                q.queue_id,
            )
        })
        .sum();
    assert_eq!(committed, 4);
}
