//! Shared bits of the examples: where the cluster is and what the exchange looks like.
//!
//! Each example in `examples/` drives the same exchange on its own runtime: look up the broker
//! of the auto-create template topic, send a few messages with SEND_MESSAGE_V2 to a fresh topic
//! and pull them back with PULL_MESSAGE.

use bytes::Bytes;
use rocketwire_core::body::TopicRouteData;
use rocketwire_core::message::Message;

/// The namesrv: `ROCKETWIRE_NAMESRV`, `NAMESRV_ADDR`, or `127.0.0.1:9876`.
pub fn namesrv() -> String {
    std::env::var("ROCKETWIRE_NAMESRV")
        .or_else(|_| std::env::var("NAMESRV_ADDR"))
        .unwrap_or_else(|_| "127.0.0.1:9876".to_string())
}

/// A fresh topic name.
pub fn fresh_topic(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), wall_millis())
}

/// Wall-clock milliseconds.
pub fn wall_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The master address and name of the route's first broker.
pub fn master(route: &TopicRouteData) -> Option<(String, String)> {
    let broker = route.broker_datas.first()?;
    Some((
        broker.broker_name.clone(),
        broker.broker_addrs.get(&0)?.clone(),
    ))
}

/// The `i`-th demo message.
pub fn demo_message(topic: &str, i: usize) -> Message {
    let mut m = Message::new(topic, Bytes::from(format!("hello from rocketwire #{i}")));
    m.set_tags("demo").expect("valid tag");
    m.set_keys([format!("key-{i}")]).expect("valid key");
    m
}
