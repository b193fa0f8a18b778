//! Arbitrary bytes as a topic route body: decoding never panics; a decoded route re-encodes to
//! JSON that decodes to the same route; the derived views hold their invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketwire_core::body::{perm, ClusterInfo, TopicRouteData, ROUTE_QUEUES_LIMIT};

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = ClusterInfo::decode(data) {
        assert_eq!(ClusterInfo::decode(&info.encode()).as_ref(), Ok(&info));
    }
    let Ok(route) = TopicRouteData::decode(data) else {
        return;
    };
    let encoded = route.encode();
    let back = TopicRouteData::decode(&encoded).unwrap_or_else(|e| {
        panic!(
            "re-encoded route does not decode: {e}: {}",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(back, route);
    assert!(!route.differs_from(&back));

    // Views are bounded whatever the route claims.
    let publish = route.publish_queues("T");
    assert!(publish.len() <= ROUTE_QUEUES_LIMIT);
    if !route.is_order_topic() {
        for mq in &publish {
            assert!(
                route.master_addr(&mq.broker_name).is_some(),
                "publish queue without master: {mq:?}"
            );
            assert!(mq.queue_id >= 0);
        }
    }
    let subscribe = route.subscribe_queues("T");
    assert!(subscribe.len() <= ROUTE_QUEUES_LIMIT);
    for pair in subscribe.windows(2) {
        assert!(pair[0] < pair[1], "subscribe queues not sorted and unique");
    }
    for mq in &subscribe {
        assert!(route
            .queue_datas
            .iter()
            .any(|q| q.broker_name == mq.broker_name
                && perm::is_readable(q.perm)
                && mq.queue_id < q.read_queue_nums));
    }
    for r in [0u64, 1, u64::MAX] {
        if let Some(addr) = route.any_broker_addr(r) {
            assert!(route
                .broker_datas
                .iter()
                .any(|b| b.broker_addrs.values().any(|a| a == addr)));
        }
    }
    for b in &route.broker_datas {
        for id in [0i64, 1, -1, i64::MAX] {
            let _ = route.find_broker_address_in_subscribe(&b.broker_name, id, false);
            let _ = route.find_broker_address_in_subscribe(&b.broker_name, id, true);
        }
    }
    let _ = route.has_static_topic_mapping();
});
