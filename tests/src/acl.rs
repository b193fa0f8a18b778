//! Real-cluster scenarios on a broker with ACL 2.0 authentication (`cargo xtask cluster up
//! --auth USER:PASSWORD`; `cargo xtask test` starts one): with the right credentials a client
//! produces and consumes as usual; with a wrong secret its send fails at once with the typed
//! authorization error, not after retries; keys rotated on a running client take effect at
//! once. The user comes from `ROCKETWIRE_ACL_USER` and
//! `ROCKETWIRE_ACL_PASSWORD`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::acl::Credentials;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{SendError, SendStatus};
use rocketwire_core::{ConsumeOutcome, ResponseCode};
use rocketwire_tokio::PushConsumerOptions;

use crate::flow::{produce_and_consume, producer_of};
use crate::{cluster_config, unique, Harness};

fn env(key: &str) -> String {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} is not set: run the ACL suite with `cargo xtask test`"))
}

/// The credentials of the cluster's user.
fn credentials() -> Credentials {
    Credentials::new(env("ROCKETWIRE_ACL_USER"), env("ROCKETWIRE_ACL_PASSWORD"))
}

/// A client of `h`'s adapter signing with `credentials`.
fn client_with(h: &dyn Harness, credentials: Credentials) -> Box<dyn Harness> {
    let mut config = cluster_config();
    config.credentials = Some(credentials);
    h.start_another(config)
}

/// With the cluster user's credentials: route, send, and a push consumer gets the message.
pub fn signed_client_produces_and_consumes(h: &dyn Harness) {
    let client = client_with(h, credentials());
    produce_and_consume(&*client, "rw_acl", "signed", "signed");
    client.shutdown().expect("client shutdown");
}

/// With a wrong secret the broker refuses the send: a typed authorization error, at once
/// (it is not retried within the send's budget).
pub fn wrong_secret_fails_fast_with_the_typed_error(h: &dyn Harness) {
    let user = env("ROCKETWIRE_ACL_USER");
    let client = client_with(h, Credentials::new(user, "not-the-password"));
    let producer = producer_of(&*client, Duration::from_secs(10));
    let started = Instant::now();
    let result = producer.send(Message::new(unique("rw_acl_denied"), "refused"));
    let took = started.elapsed();
    assert!(
        matches!(result, Err(SendError::Authorization { .. })),
        "{result:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "failed after {took:?}, not at once"
    );
    let _ = producer.shutdown();
    let _ = client.shutdown();
}

/// A consumer with a wrong secret gets nothing, and says why: the broker's refusal is typed
/// (NO_PERMISSION, the request refused, the broker's remark) instead of quiet retries.
pub fn refused_consumer_reports_the_typed_refusal(h: &dyn Harness) {
    let user = env("ROCKETWIRE_ACL_USER");
    let client = client_with(h, Credentials::new(user, "not-the-password"));
    let config = ConsumerConfig {
        group: unique("rw_cgroup"),
        ..ConsumerConfig::default()
    };
    // A topic whose route the (unauthenticated) namesrv gives: the broker's own.
    let consumer = client
        .create_push_consumer(
            config,
            vec![Subscription::tag("TBW102", "*").expect("subscription")],
            PushConsumerOptions::default(),
            Arc::new(|_| ConsumeOutcome::Success),
        )
        .expect("consumer starts (the refusal comes from the broker later)");
    let give_up = Instant::now() + Duration::from_secs(30);
    let refusal = loop {
        if let Some(refusal) = consumer.refusal().expect("query") {
            break refusal;
        }
        assert!(Instant::now() < give_up, "no refusal reported in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(refusal.code, ResponseCode::NoPermission, "{refusal:?}");
    assert!(!refusal.request.is_empty() && !refusal.broker.is_empty());
    let _ = consumer.shutdown(Duration::from_secs(1));
    let _ = client.shutdown();
}

/// Keys rotated on a running client: after a switch to a wrong secret its sends are refused
/// with the typed error; after the switch back (new connections: servers authenticate a
/// connection once) they are stored again.
pub fn rotated_credentials_take_effect_on_a_running_client(h: &dyn Harness) {
    let client = client_with(h, credentials());
    let topic = unique("rw_acl_rotate");
    let producer = producer_of(&*client, Duration::from_secs(3));
    let send = |body: &str| producer.send(Message::new(topic.clone(), body.to_owned()));
    assert_eq!(send("before").expect("signed").status, SendStatus::SendOk);
    let user = env("ROCKETWIRE_ACL_USER");
    client
        .set_credentials(Some(Credentials::new(user, "rotated-wrong")))
        .expect("rotate");
    let refused = send("with the wrong secret");
    assert!(
        matches!(refused, Err(SendError::Authorization { .. })),
        "{refused:?}"
    );
    client
        .set_credentials(Some(credentials()))
        .expect("rotate back");
    assert_eq!(
        send("after").expect("signed again").status,
        SendStatus::SendOk
    );
    producer.shutdown().expect("producer shutdown");
    client.shutdown().expect("client shutdown");
}
