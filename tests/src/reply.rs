//! Request/reply on the real cluster, run on every adapter (re-exported by
//! [`crate::scenarios`]): the adapter under test sends requests; a responder on the blocking
//! adapter answers each with `reply_message`, sent from inside its handler.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::message::{keys, Message};
use rocketwire_core::producer::{reply_message, ProducerConfig, QueueSelector};
use rocketwire_core::{ConsumeOutcome, RequestError};
use rocketwire_tokio::PushConsumerOptions;

use crate::consume::{config, sub};
use crate::{cluster_config, unique, Harness};

/// Three requests each get the reply to them (matched by correlation id, whatever order the
/// responder answers in); a request nobody answers fails with `Timeout` after its time.
pub fn request_reply_round_trip(h: &dyn Harness) {
    let topic = unique("rw_request");
    let admin = h.admin();
    admin
        .create_topic(TopicConfig::new(&topic).queues(2))
        .expect("create topic");
    let give_up = Instant::now() + Duration::from_secs(30);
    while h.query_route(&topic).is_err() {
        assert!(Instant::now() < give_up, "no route for {topic}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The responder: a blocking client whose handler sends each reply itself.
    let responder = rocketwire_blocking::Client::start(cluster_config()).expect("responder");
    let replies = responder
        .create_producer(
            ProducerConfig::builder(unique("rw_reply_pg"))
                .build()
                .expect("config"),
        )
        .expect("reply producer");
    let answered = Arc::new(AtomicUsize::new(0));
    let consumer = {
        let (replies, answered) = (replies.clone(), answered.clone());
        responder
            .create_push_consumer_with(
                config(&unique("rw_reply_cg"), ConsumeFromWhere::FirstOffset),
                sub(&topic),
                PushConsumerOptions::default(),
                move |messages| {
                    for m in messages {
                        let body = format!("re:{}", String::from_utf8_lossy(m.body()));
                        let reply = reply_message(m, body).expect("a request carries its reply-to");
                        // Counted first: the broker pushes the reply to the requester before
                        // it answers this send.
                        answered.fetch_add(1, Ordering::SeqCst);
                        if replies.send(reply).is_err() {
                            answered.fetch_sub(1, Ordering::SeqCst);
                            return ConsumeOutcome::ReconsumeLater { delay_level: 1 };
                        }
                    }
                    ConsumeOutcome::Success
                },
            )
            .expect("responder consumer")
    };

    let config = ProducerConfig::builder(unique("rw_request_pg"))
        .build()
        .expect("config");
    let requester = h
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("requester");
    for i in 0..3 {
        let question = format!("ping-{i}");
        let reply = requester
            .request(
                Message::new(topic.clone(), question.clone()),
                Duration::from_secs(20),
            )
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(reply.body()),
            format!("re:{question}")
        );
        assert!(reply.topic().ends_with("_REPLY_TOPIC"), "{}", reply.topic());
        assert!(reply.message.property(keys::CORRELATION_ID).is_some());
        assert_eq!(
            reply.message.property(keys::MESSAGE_REPLY_TO_CLIENT),
            Some(h.client_id().as_str())
        );
    }
    assert_eq!(answered.load(Ordering::SeqCst), 3);

    // Nobody consumes this topic: the request times out, no earlier than asked.
    let silent = unique("rw_request_silent");
    admin
        .create_topic(TopicConfig::new(&silent).queues(1))
        .expect("create topic");
    let asked = Instant::now();
    let timeout = Duration::from_secs(2);
    let unanswered = requester.request(Message::new(silent, "anyone?"), timeout);
    assert_eq!(
        unanswered.map(|m| m.message.body),
        Err(RequestError::Timeout)
    );
    assert!(asked.elapsed() >= timeout);

    requester.shutdown().expect("requester shutdown");
    consumer
        .shutdown(Duration::from_secs(5))
        .expect("responder consumer shutdown");
    replies.shutdown().expect("reply producer shutdown");
    responder
        .shutdown(Duration::from_secs(5))
        .expect("responder shutdown");
}
