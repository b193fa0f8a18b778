//! Auto-batching: the real `ClientCore` with `ProducerConfig::auto_batch` against simulated
//! brokers. Concurrent single sends leave as SEND_BATCH_MESSAGE requests, each send still
//! ends with exactly one result of its own (its message id, its offset), a failed batch
//! attempt is retried whole like any send, and a batch gets the time budget its oldest
//! member has left.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{
    AutoBatch, ProducerConfig, QueueSelector, SendError, SendResult, SendStatus,
};
use rocketwire_core::{Event, OpId, ProducerId, RequestCode, SendMode, SendTarget};
use rocketwire_sim::{World, WorldConfig};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn batching_producer(world: &mut World, linger: Duration, max_messages: usize) -> ProducerId {
    let config = ProducerConfig::builder("pg")
        .send_timeout(Duration::from_secs(3))
        .auto_batch(AutoBatch {
            linger,
            max_messages,
            ..AutoBatch::default()
        })
        .build()
        .expect("valid settings");
    let now = world.now();
    world
        .client(0)
        .create_producer(now, config, QueueSelector::RoundRobin)
}

/// Starts a sync send of `body` to `T` now.
fn send(world: &mut World, p: ProducerId, body: String) -> OpId {
    let now = world.now();
    world
        .client(0)
        .send(
            now,
            p,
            Message::new("T", Bytes::from(body)),
            SendTarget::Default,
            SendMode::Sync,
        )
        .expect("a live producer")
}

/// Every result client 0 gave for `op`, with its time.
fn results(world: &World, op: OpId) -> Vec<(Duration, Result<SendResult, SendError>)> {
    world
        .events(0)
        .iter()
        .filter_map(|e| match &e.event {
            Event::Send { op: o, result } if *o == op => Some((e.at, result.clone())),
            _ => None,
        })
        .collect()
}

/// Drives until every op has a result; each must have exactly one.
fn settle(world: &mut World, ops: &[OpId]) -> Vec<(Duration, Result<SendResult, SendError>)> {
    world
        .drive_until(
            |w| ops.iter().all(|op| !results(w, *op).is_empty()),
            Duration::from_secs(30),
        )
        .expect("every send ends");
    // Nothing more comes later.
    world.drive(Duration::from_secs(5)).expect("quiet");
    ops.iter()
        .map(|op| {
            let mut r = results(world, *op);
            assert_eq!(r.len(), 1, "{op:?}: exactly one result: {r:?}");
            r.remove(0)
        })
        .collect()
}

/// The message stored where `result` says has the result's id and `body`.
fn assert_stored_at(world: &mut World, result: &SendResult, body: &str) {
    let q = &result.message_queue;
    let stored = world
        .broker(&q.broker_name)
        .store()
        .at(&q.topic, q.queue_id, result.queue_offset)
        .unwrap_or_else(|| panic!("nothing at {q:?} {}", result.queue_offset))
        .clone();
    assert_eq!(stored.message.unique_key(), Some(result.msg_id.as_str()));
    assert_eq!(stored.offset_msg_id, result.offset_msg_id);
    assert_eq!(&stored.message.body[..], body.as_bytes());
}

fn sends_seen(world: &mut World, broker: &str, code: RequestCode) -> u64 {
    world.broker(broker).requests_seen(code)
}

#[test]
fn concurrent_sends_leave_as_batches_each_with_its_own_result() {
    let mut world = World::new(WorldConfig::new(5));
    world.broker("broker-a").create_topic("T", 4);
    let p = batching_producer(&mut world, ms(10), 8);
    let ops: Vec<OpId> = (0..20)
        .map(|i| send(&mut world, p, format!("m{i}")))
        .collect();
    let settled = settle(&mut world, &ops);
    let mut places = BTreeSet::new();
    for (i, (_, result)) in settled.iter().enumerate() {
        let result = result.as_ref().unwrap_or_else(|e| panic!("m{i}: {e:?}"));
        assert_eq!(result.status, SendStatus::SendOk);
        assert!(
            !result.msg_id.contains(','),
            "its own id: {}",
            result.msg_id
        );
        assert_stored_at(&mut world, result, &format!("m{i}"));
        assert!(
            places.insert((result.message_queue.queue_id, result.queue_offset)),
            "m{i}: a place of its own"
        );
    }
    // The first send found the lane idle and left alone; the others gathered while it was
    // out: 20 sends in far fewer requests, none of them single.
    let batches = sends_seen(&mut world, "broker-a", RequestCode::SendBatchMessage);
    assert!((3..=5).contains(&batches), "{batches} batch requests");
    assert_eq!(
        sends_seen(&mut world, "broker-a", RequestCode::SendMessageV2),
        0
    );
    let stats = world.core(0).auto_batch_stats();
    let pg = stats.get("pg").copied().unwrap_or_default();
    assert_eq!((pg.batches, pg.messages), (batches, 20), "{stats:?}");
    // Messages of one batch sit side by side in one queue, in send order.
    let by_place: Vec<(i32, i64, usize)> = {
        let mut v: Vec<_> = settled
            .iter()
            .enumerate()
            .map(|(i, (_, r))| {
                let r = r.as_ref().expect("stored");
                (r.message_queue.queue_id, r.queue_offset, i)
            })
            .collect();
        v.sort();
        v
    };
    for pair in by_place.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert!(
                pair[0].2 < pair[1].2,
                "send order kept in a queue: {pair:?}"
            );
        }
    }
    insta::assert_snapshot!(world.transcript());
}

#[test]
fn a_failed_batch_attempt_is_retried_whole_on_the_other_broker() {
    let mut world = World::new(WorldConfig::new(2));
    world.broker("broker-a").create_topic("T", 4);
    world.broker("broker-b").create_topic("T", 4);
    world.broker("broker-a").busy_next_sends(100);
    let p = batching_producer(&mut world, ms(10), 16);
    let ops: Vec<OpId> = (0..6)
        .map(|i| send(&mut world, p, format!("m{i}")))
        .collect();
    let settled = settle(&mut world, &ops);
    for (i, (_, result)) in settled.iter().enumerate() {
        let result = result.as_ref().unwrap_or_else(|e| panic!("m{i}: {e:?}"));
        assert_eq!(result.message_queue.broker_name, "broker-b", "m{i}");
        assert_stored_at(&mut world, result, &format!("m{i}"));
    }
    assert!(
        sends_seen(&mut world, "broker-a", RequestCode::SendBatchMessage) >= 1,
        "a batch attempt met the busy broker"
    );
    let store_a = world.broker("broker-a").store();
    assert_eq!(
        (0..4).map(|q| store_a.max_offset("T", q)).sum::<i64>(),
        0,
        "the busy broker stored nothing"
    );
    let store_b = world.broker("broker-b").store();
    assert_eq!(
        (0..4).map(|q| store_b.max_offset("T", q)).sum::<i64>(),
        6,
        "every message stored once"
    );
}

#[test]
fn a_batch_gets_the_budget_its_oldest_member_has_left() {
    let mut world = World::new(WorldConfig::new(7));
    world.broker("broker-a").create_topic("T", 4);
    let p = batching_producer(&mut world, ms(1000), 16);
    // Route and connection first.
    let warm = send(&mut world, p, "warm".into());
    let settled = settle(&mut world, &[warm]);
    assert!(settled[0].1.is_ok());
    // From now on the broker answers nothing.
    let t0 = world.elapsed();
    let until = world.now() + Duration::from_secs(60);
    world.broker("broker-a").stall_until(until);
    let first = send(&mut world, p, "first".into());
    world.drive(ms(500)).expect("drive");
    let second = send(&mut world, p, "second".into());
    world.drive(ms(900)).expect("drive");
    let third = send(&mut world, p, "third".into());
    let ops = [first, second, third];
    world
        .drive_until(
            |w| ops.iter().all(|op| !results(w, *op).is_empty()),
            Duration::from_secs(10),
        )
        .expect("every send ends");
    let at = |op: OpId| {
        let r = results(&world, op);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].1.is_err(), "{r:?}");
        r[0].0 - t0
    };
    // The first left alone at once and used its whole 3 s.
    assert_eq!(at(first), Duration::from_secs(3));
    // The second and third left together when the second's linger ended (1.5 s), with the
    // 2 s the second had left: both end at 3.5 s, the third before its own budget ran out.
    assert_eq!(at(second), ms(3500));
    assert_eq!(at(third), ms(3500));
    // Every attempt was a batch request (retries within the budgets included).
    assert_eq!(
        sends_seen(&mut world, "broker-a", RequestCode::SendMessageV2),
        0
    );
}

#[test]
fn invalid_settings_are_refused() {
    for bad in [
        AutoBatch {
            max_messages: 0,
            ..AutoBatch::default()
        },
        AutoBatch {
            max_bytes: 0,
            ..AutoBatch::default()
        },
        AutoBatch {
            max_bytes: 5 * 1024 * 1024,
            ..AutoBatch::default()
        },
        AutoBatch {
            linger: Duration::from_secs(3),
            ..AutoBatch::default()
        },
    ] {
        let built = ProducerConfig::builder("pg").auto_batch(bad).build();
        assert!(built.is_err(), "{bad:?}");
    }
}

#[test]
fn a_close_sends_what_is_held_before_the_producer_closes() {
    let mut world = World::new(WorldConfig::new(11));
    world.broker("broker-a").create_topic("T", 4);
    // A long linger: only the close makes the held sends leave early.
    let p = batching_producer(&mut world, ms(2000), 64);
    let ops: Vec<OpId> = (0..5)
        .map(|i| send(&mut world, p, format!("m{i}")))
        .collect();
    let now = world.now();
    let close = world.client(0).close_producer(now, p).expect("live");
    let settled = settle(&mut world, &ops);
    let closed_at = world
        .events(0)
        .iter()
        .find_map(|e| match &e.event {
            Event::ProducerClosed { op, .. } if *op == close => Some(e.at),
            _ => None,
        })
        .expect("the producer closed");
    for (i, (at, result)) in settled.iter().enumerate() {
        let result = result.as_ref().unwrap_or_else(|e| panic!("m{i}: {e:?}"));
        assert_stored_at(&mut world, result, &format!("m{i}"));
        assert!(*at < ms(2000), "m{i} did not linger: {at:?}");
        assert!(*at <= closed_at, "m{i} ended before the close");
    }
}
