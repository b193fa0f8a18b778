//! Queue selection for sends: Java's fault-tolerant round robin avoiding the last broker,
//! the TBW102 fallback, and sharding-key hashing that stays put while the route is unchanged.
#![allow(clippy::disallowed_methods)] // one real `Instant` is read as the origin of virtual time

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rocketwire_core::body::{BrokerData, MessageQueue, QueueData, TopicRouteData};
use rocketwire_core::message::{keys, Message};
use rocketwire_core::producer::{
    hash_position, LatencyFaultTolerance, LatencyTable, QueueSelector, SelectorState,
    TopicPublishInfo,
};
use rocketwire_core::time::Rng;

fn route(brokers: &[(&str, i32)]) -> TopicRouteData {
    TopicRouteData {
        queue_datas: brokers
            .iter()
            .map(|&(name, n)| QueueData {
                broker_name: name.into(),
                perm: 6,
                read_queue_nums: n,
                write_queue_nums: n,
                topic_sys_flag: 0,
            })
            .collect(),
        broker_datas: brokers
            .iter()
            .map(|&(name, _)| BrokerData {
                broker_name: name.into(),
                cluster: "c".into(),
                broker_addrs: [(0, format!("{name}:10911"))].into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn retry_avoids_the_last_broker_with_and_without_fault_tolerance() {
    let t0 = Instant::now();
    for enabled in [true, false] {
        let fault = LatencyFaultTolerance::new(enabled, LatencyTable::java());
        let mut rng = Rng::new(11);
        let mut info = TopicPublishInfo::from_route("T", &route(&[("a", 4), ("b", 4)]), &mut rng);
        for _ in 0..50 {
            let q = fault
                .select_queue(&mut info, Some("a"), t0, &mut rng)
                .unwrap();
            assert_eq!(q.broker_name, "b", "enabled={enabled}");
        }
    }
}

#[test]
fn single_broker_falls_back_to_round_robin() {
    let t0 = Instant::now();
    let mut fault = LatencyFaultTolerance::new(true, LatencyTable::java());
    fault.update("a", ms(0), true, t0);
    let mut rng = Rng::new(1);
    let mut info = TopicPublishInfo::from_route("T", &route(&[("a", 2)]), &mut rng);
    let q = fault.select_queue(&mut info, Some("a"), t0, &mut rng);
    assert_eq!(q.map(|q| q.broker_name), Some("a".to_string()));
    let mut empty = TopicPublishInfo::from_route("T", &TopicRouteData::default(), &mut rng);
    assert_eq!(fault.select_queue(&mut empty, None, t0, &mut rng), None);
}

#[test]
fn isolated_broker_is_skipped_until_its_duration_ends() {
    let t0 = Instant::now();
    let mut fault = LatencyFaultTolerance::new(true, LatencyTable::java());
    let mut rng = Rng::new(3);
    let mut info =
        TopicPublishInfo::from_route("T", &route(&[("a", 2), ("b", 2), ("c", 2)]), &mut rng);
    // "b" timed out (isolation → 10 s); "c" answered slowly (600 ms → 2 s).
    fault.update("b", ms(3_000), true, t0);
    fault.update("c", ms(600), false, t0);
    for _ in 0..30 {
        let q = fault.select_queue(&mut info, None, t0, &mut rng).unwrap();
        assert_eq!(q.broker_name, "a");
    }
    // At 2 s "c" is back; "b" is still isolated.
    let later = t0 + ms(2_000);
    let picked: Vec<String> = (0..30)
        .map(|_| {
            fault
                .select_queue(&mut info, None, later, &mut rng)
                .unwrap()
                .broker_name
        })
        .collect();
    assert!(picked.iter().any(|b| b == "c"));
    assert!(picked.iter().all(|b| b != "b"));
    // With "a" as the last broker and "b" isolated, the retry goes to "c" once available…
    let q = fault
        .select_queue(&mut info, Some("a"), later, &mut rng)
        .unwrap();
    assert_eq!(q.broker_name, "c");
    // …and, before that, to a reachable broker other than "a" ("c" is slow but reachable).
    let q = fault
        .select_queue(&mut info, Some("a"), t0, &mut rng)
        .unwrap();
    assert_eq!(q.broker_name, "c");
}

#[test]
fn disabled_tolerance_ignores_latency() {
    let t0 = Instant::now();
    let mut fault = LatencyFaultTolerance::new(false, LatencyTable::java());
    fault.update("a", ms(20_000), true, t0);
    let mut rng = Rng::new(3);
    let mut info = TopicPublishInfo::from_route("T", &route(&[("a", 1), ("b", 1)]), &mut rng);
    let picked: Vec<String> = (0..4)
        .map(|_| {
            fault
                .select_queue(&mut info, None, t0, &mut rng)
                .unwrap()
                .broker_name
        })
        .collect();
    assert!(picked.iter().any(|b| b == "a"), "{picked:?}");
}

#[test]
fn topic_without_route_uses_the_template_route() {
    let tbw = route(&[("b", 8), ("a", 2)]);
    let info = TopicPublishInfo::from_default_route("Fresh", &tbw, 4, &mut Rng::new(0));
    assert_eq!(info.queues().len(), 2 + 4);
    assert!(info.queues().iter().all(|q| q.topic == "Fresh"));
    assert_eq!(info.master_addr("b"), Some("b:10911"));
}

fn hash_pick(info: &TopicPublishInfo, key: &str) -> MessageQueue {
    let mut m = Message::new("T", "x");
    m.set_property(keys::SHARDING_KEY, key).unwrap();
    let mut s = SelectorState::new(QueueSelector::Hash);
    s.select(info.queues(), &m, &mut Rng::new(0))
        .unwrap()
        .clone()
}

proptest! {
    #[test]
    fn hash_mapping_is_stable_across_calls_and_route_order(
        key in "[a-zA-Z0-9]{1,24}",
        counts in proptest::collection::vec(1i32..8, 1..5),
        rotate in 0usize..5,
        seed in any::<u64>(),
    ) {
        let names = ["brk-a", "brk-b", "brk-c", "brk-d", "brk-e"];
        let brokers: Vec<(&str, i32)> = names.iter().copied().zip(counts).collect();
        let mut shuffled = route(&brokers);
        let n = shuffled.queue_datas.len();
        shuffled.queue_datas.rotate_left(rotate % n);
        shuffled.queue_datas.reverse();
        shuffled.broker_datas.reverse();
        let a = TopicPublishInfo::from_route("T", &route(&brokers), &mut Rng::new(seed));
        let b = TopicPublishInfo::from_route("T", &shuffled, &mut Rng::new(seed ^ 1));
        prop_assert_eq!(a.queues(), b.queues());
        let first = hash_pick(&a, &key);
        prop_assert_eq!(&first, &hash_pick(&a, &key));
        prop_assert_eq!(&first, &hash_pick(&b, &key));
        let pos = hash_position(&key, a.queues().len()).unwrap();
        prop_assert_eq!(&a.queues()[pos], &first);
    }

    #[test]
    fn selection_prefers_available_then_reachable_other_brokers(
        seed in any::<u64>(),
        isolated in proptest::collection::vec(any::<bool>(), 3),
        enabled in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let mut fault = LatencyFaultTolerance::new(enabled, LatencyTable::java());
        for (name, iso) in ["a", "b", "c"].iter().zip(&isolated) {
            if *iso {
                fault.update(name, ms(1), true, t0);
            }
        }
        let mut rng = Rng::new(seed);
        let mut info =
            TopicPublishInfo::from_route("T", &route(&[("a", 2), ("b", 3), ("c", 1)]), &mut rng);
        for last in ["a", "b", "c"] {
            let q = fault.select_queue(&mut info, Some(last), t0, &mut rng).unwrap();
            let others: Vec<&str> = ["a", "b", "c"].into_iter().filter(|b| *b != last).collect();
            if !enabled {
                prop_assert_ne!(q.broker_name.as_str(), last);
            } else if others.iter().any(|b| fault.is_available(b, t0)) {
                // An available broker other than `last` is preferred…
                prop_assert_ne!(q.broker_name.as_str(), last);
                prop_assert!(fault.is_available(&q.broker_name, t0));
            } else if others.iter().any(|b| fault.is_reachable(b)) {
                // …then a reachable one…
                prop_assert_ne!(q.broker_name.as_str(), last);
                prop_assert!(fault.is_reachable(&q.broker_name));
            }
            // …else plain round robin, which may return `last`.
        }
    }
}
