//! Queue allocation strategies against Apache RocketMQ's own test vectors (Java client
//! `client/src/test/java/org/apache/rocketmq/client/consumer/rebalance/*Test.java`), the
//! worked examples of protocol §6.5, and properties.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{AllocateError, AllocateStrategy, MachineRoomResolver};

/// `createConsumerIdList(size)` of the Java tests.
fn cids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// `createMessageQueueList(size)` of the Java tests.
fn queues(topic: &str, n: i32) -> Vec<MessageQueue> {
    (0..n)
        .map(|i| MessageQueue::new(topic, "brokerName", i))
        .collect()
}

fn ids(v: &[MessageQueue]) -> Vec<i32> {
    v.iter().map(|q| q.queue_id).collect()
}

fn alloc(
    s: &AllocateStrategy,
    cid: &str,
    mqs: &[MessageQueue],
    all: &[String],
) -> Vec<MessageQueue> {
    s.allocate(cid, mqs, all).expect("valid inputs")
}

/// Owner of every queue across all consumers; panics if a queue is given twice.
fn owners(
    s: &AllocateStrategy,
    mqs: &[MessageQueue],
    all: &[String],
) -> BTreeMap<MessageQueue, String> {
    let mut out = BTreeMap::new();
    for cid in all {
        for mq in alloc(s, cid, mqs, all) {
            assert!(
                out.insert(mq.clone(), cid.clone()).is_none(),
                "{mq} assigned twice"
            );
        }
    }
    out
}

// AllocateMessageQueueAveragelyTest.testAllocateMessageQueueAveragely: 4 consumers, 10 queues
// → sizes {3, 3, 2, 2}. Protocol §6.5 gives the ranges.
#[test]
fn java_averagely() {
    let all = cids("CID_PREFIX", 4);
    let mqs = queues("topic", 10);
    let sizes: Vec<usize> = all
        .iter()
        .map(|c| alloc(&AllocateStrategy::Averagely, c, &mqs, &all).len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 2, 2]);
    let ranges: Vec<Vec<i32>> = all
        .iter()
        .map(|c| ids(&alloc(&AllocateStrategy::Averagely, c, &mqs, &all)))
        .collect();
    assert_eq!(
        ranges,
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7], vec![8, 9]]
    );
}

// AllocateMessageQueueAveragelyByCircleTest: an unknown id gets nothing; 4 consumers, 10 queues
// → {0,4,8} {1,5,9} {2,6} {3,7}.
#[test]
fn java_averagely_by_circle() {
    let all = cids("CID_PREFIX", 4);
    let mqs = queues("topic", 10);
    let s = AllocateStrategy::AveragelyByCircle;
    assert!(alloc(&s, "CID_PREFIX", &mqs, &all).is_empty());
    let got: Vec<Vec<i32>> = all.iter().map(|c| ids(&alloc(&s, c, &mqs, &all))).collect();
    assert_eq!(
        got,
        vec![vec![0, 4, 8], vec![1, 5, 9], vec![2, 6], vec![3, 7]]
    );
}

// AllocateMessageQueueByConfigTest: 2 consumers, configured list of 4 queues → both get all 4.
#[test]
fn java_by_config() {
    let all = cids("CID_PREFIX", 2);
    let mqs = queues("topic", 4);
    let s = AllocateStrategy::Config(mqs.clone());
    for c in &all {
        assert_eq!(ids(&alloc(&s, c, &mqs, &all)), vec![0, 1, 2, 3]);
    }
}

// AllocateMessageQueueByMachineRoomTest: queues 0-4 on "room1@broker-a", 5-9 on
// "room2@broker-b", consumer rooms {room1}, 2 consumers → {0,1,4} and {2,3}; no queues is
// "mqAll is null or mqAll empty".
#[test]
fn java_by_machine_room() {
    let all = cids("CID_PREFIX", 2);
    let mqs: Vec<MessageQueue> = (0..10)
        .map(|i| {
            let broker = if i < 5 {
                "room1@broker-a"
            } else {
                "room2@broker-b"
            };
            MessageQueue::new("topic", broker, i)
        })
        .collect();
    let s = AllocateStrategy::MachineRoom(BTreeSet::from(["room1".to_string()]));
    let err = s.allocate(&all[0], &[], &all).unwrap_err();
    assert_eq!(err, AllocateError::NoQueues);
    assert_eq!(err.to_string(), "mqAll is null or mqAll empty");
    assert_eq!(ids(&alloc(&s, &all[0], &mqs, &all)), vec![0, 1, 4]);
    assert_eq!(ids(&alloc(&s, &all[1], &mqs, &all)), vec![2, 3]);
}

// AllocateMessageQueueConsitentHashTest: unknown id → nothing; empty id, no queues, no
// consumers → IllegalArgumentException.
#[test]
fn java_consistent_hash_arguments() {
    let all = cids("CID-", 2);
    let mqs = queues("topic_test", 6);
    let s = AllocateStrategy::consistent_hash();
    assert!(alloc(&s, &i32::MAX.to_string(), &mqs, &all).is_empty());
    assert_eq!(
        s.allocate("", &mqs, &all),
        Err(AllocateError::EmptyCurrentId)
    );
    assert_eq!(s.allocate("0", &[], &all), Err(AllocateError::NoQueues));
    assert_eq!(s.allocate("0", &mqs, &[]), Err(AllocateError::NoConsumers));
}

/// AllocateMessageQueueConsitentHashTest.testAllocate(queueSize, consumerSize) with 3 virtual
/// nodes: every queue assigned; after removing the first consumer, queues of the others stay;
/// after adding "CID-NEW", queues not moved to it stay.
fn java_consistent_hash_case(queue_size: i32, consumer_size: usize) {
    let s = AllocateStrategy::ConsistentHash { virtual_nodes: 3 };
    let mqs = queues("topic_test", queue_size);
    let all = cids("CID-", consumer_size);
    let before = owners(&s, &mqs, &all);
    assert_eq!(before.len(), mqs.len());

    let mut fewer = all.clone();
    let removed = fewer.remove(0);
    let after_remove = owners(&s, &mqs, &fewer);
    if fewer.is_empty() {
        assert!(after_remove.is_empty());
    } else {
        assert_eq!(after_remove.len(), mqs.len());
    }
    for (mq, owner) in &before {
        if *owner != removed {
            assert_eq!(
                after_remove.get(mq),
                Some(owner),
                "{mq} moved after a removal"
            );
        }
    }

    let mut more = fewer.clone();
    more.push("CID-NEW".to_string());
    let after_add = owners(&s, &mqs, &more);
    assert_eq!(after_add.len(), mqs.len());
    for (mq, owner) in &after_add {
        if owner != "CID-NEW" {
            assert_eq!(
                after_remove.get(mq),
                Some(owner),
                "{mq} moved after an addition"
            );
        }
    }
}

#[test]
fn java_consistent_hash_allocate() {
    java_consistent_hash_case(20, 10); // testAllocate1
    java_consistent_hash_case(10, 20); // testAllocate2
}

/// The resolver of AllocateMachineRoomNearByTest: the room is the text before the first '-'.
fn nearby() -> AllocateStrategy {
    AllocateStrategy::MachineRoomNearby {
        inner: Box::new(AllocateStrategy::Averagely),
        resolver: MachineRoomResolver::prefix('-'),
    }
}

/// `prepareMQ` / `prepareConsumer` of AllocateMachineRoomNearByTest: rooms IDC1..IDCn, broker
/// "IDCk-brokerName", consumers "IDCk-CID-i".
fn prepare(
    rooms_mq: usize,
    rooms_c: usize,
    queue_size: i32,
    consumer_size: usize,
) -> (Vec<MessageQueue>, Vec<String>) {
    let mut mqs = Vec::new();
    for r in 1..=rooms_mq {
        mqs.extend(
            (0..queue_size)
                .map(|i| MessageQueue::new("topic_test", format!("IDC{r}-brokerName"), i)),
        );
    }
    let mut all = Vec::new();
    for r in 1..=rooms_c {
        all.extend((0..consumer_size).map(|i| format!("IDC{r}-CID-{i}")));
    }
    (mqs, all)
}

fn room(s: &str) -> &str {
    s.split('-').next().unwrap_or_default()
}

/// Checks of AllocateMachineRoomNearByTest: all queues assigned exactly once (or none without
/// consumers); a queue of a room that has consumers goes to a consumer of that room; with
/// `healthy_covers` every queue of such a room stays in it.
fn check_nearby(rooms_mq: usize, rooms_c: usize, queue_size: i32, consumer_size: usize) {
    let s = nearby();
    let (mqs, all) = prepare(rooms_mq, rooms_c, queue_size, consumer_size);
    let own = owners(&s, &mqs, &all);
    if all.is_empty() {
        assert!(own.is_empty());
        return;
    }
    assert_eq!(own.len(), mqs.len());
    let consumer_rooms: BTreeSet<&str> = all.iter().map(|c| room(c)).collect();
    for (mq, cid) in &own {
        let broker_room = room(&mq.broker_name);
        if consumer_rooms.contains(broker_room) {
            assert_eq!(broker_room, room(cid), "{mq} left its room");
        }
    }
}

#[test]
fn java_machine_room_nearby() {
    // test1: testWhenIDCSizeEquals(5, 20, {10, 20, 30, 0}).
    for c in [10, 20, 30, 0] {
        check_nearby(5, 5, 20, c);
    }
    // test2: testWhenConsumerIDCIsMore(5, 1, 10, {10, 5, 20, 0}).
    for c in [10, 5, 20, 0] {
        check_nearby(5, 6, 10, c);
    }
    // test3: testWhenConsumerIDCIsLess(5, 2, 10, {10, 5, 20, 0}).
    for c in [10, 5, 20, 0] {
        check_nearby(5, 3, 10, c);
    }
}

fn strategies() -> Vec<AllocateStrategy> {
    vec![
        AllocateStrategy::Averagely,
        AllocateStrategy::AveragelyByCircle,
        AllocateStrategy::consistent_hash(),
        nearby(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every queue goes to exactly one consumer; sizes differ by at most one for the even
    /// strategies; results do not depend on input order.
    #[test]
    fn each_queue_exactly_once(
        brokers in 1usize..4,
        per_broker in 1i32..12,
        consumers in 1usize..15,
        seed in any::<u64>(),
    ) {
        let mut mqs = Vec::new();
        for b in 0..brokers {
            mqs.extend((0..per_broker).map(|i| MessageQueue::new("T", format!("IDC{b}-broker"), i)));
        }
        let all: Vec<String> = (0..consumers).map(|i| format!("IDC{}-10.0.0.{i}@{seed}", i % 3)).collect();
        let mut shuffled_mqs = mqs.clone();
        shuffled_mqs.rotate_left((seed as usize) % mqs.len());
        shuffled_mqs.reverse();
        let mut shuffled_cids = all.clone();
        shuffled_cids.rotate_left((seed as usize) % all.len());
        for s in strategies() {
            let own = owners(&s, &mqs, &all);
            prop_assert_eq!(own.len(), mqs.len(), "{}", s.name());
            for cid in &all {
                prop_assert_eq!(
                    alloc(&s, cid, &mqs, &all),
                    alloc(&s, cid, &shuffled_mqs, &shuffled_cids),
                    "{} not deterministic", s.name()
                );
            }
            if matches!(s, AllocateStrategy::Averagely | AllocateStrategy::AveragelyByCircle) {
                let sizes: Vec<usize> = all.iter().map(|c| alloc(&s, c, &mqs, &all).len()).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                prop_assert!(max - min <= 1, "{} uneven: {:?}", s.name(), sizes);
            }
        }
    }

    /// Java's random consistent-hash cases (testRun100RandomCase: 1..=20 queues and consumers).
    #[test]
    fn consistent_hash_random_cases(queues in 1i32..=20, consumers in 1usize..=20) {
        java_consistent_hash_case(queues, consumers);
    }
}
