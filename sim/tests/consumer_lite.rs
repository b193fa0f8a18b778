//! Lite-pull primitives of the core: assign instead of rebalance, seek, pause and resume, and
//! a synchronous commit.

mod consumer_support;

use consumer_support::*;
use rocketwire_core::Event;

#[test]
fn assign_seek_pause_resume_and_commit() {
    let mut world = world(21, 1, 2);
    put_all(&mut world, 2, 5);
    let id = consumer(&mut world, 0, builder().build().unwrap());
    let a0 = mq("broker-a", 0);
    let b1 = mq("broker-b", 1);
    let now = world.now();
    world
        .client(0)
        .assign(now, id, vec![a0.clone(), b1.clone()])
        .expect("a live consumer");
    let mut h = Harness::new(1);
    h.run_until(
        &mut world,
        |h, _| h.seen.iter().map(|s| s.messages.len()).sum::<usize>() >= 10,
        secs(10),
    )
    .unwrap();
    let got = h.delivered();
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        vec![a0.clone(), b1.clone()],
        "only the assigned queues"
    );
    assert_eq!(got[&a0], vec![0, 1, 2, 3, 4]);
    assert_eq!(world.core(0).assigned_queues(id).len(), 2);

    // Seek back: messages 2.. of a0 come again.
    let now = world.now();
    world.client(0).seek(now, id, &a0, 2).expect("a live id");
    let before = h.seen.len();
    h.run_until(
        &mut world,
        |h, _| {
            h.seen[before..]
                .iter()
                .map(|s| s.messages.len())
                .sum::<usize>()
                >= 3
        },
        secs(10),
    )
    .unwrap();
    let again: Vec<i64> = h.seen[before..]
        .iter()
        .flat_map(|s| s.messages.iter().map(|m| m.queue_offset))
        .collect();
    assert_eq!(again, vec![2, 3, 4]);

    // Paused queues get nothing; resumed ones do.
    world
        .client(0)
        .pause(id, std::slice::from_ref(&a0))
        .expect("a live id");
    put(&mut world, "broker-a", 0, 2);
    let before = h.seen.len();
    h.run(&mut world, secs(3)).unwrap();
    assert_eq!(h.seen.len(), before, "paused: nothing delivered");
    let now = world.now();
    world
        .client(0)
        .resume(now, id, std::slice::from_ref(&a0))
        .expect("a live id");
    h.run_until(&mut world, |h, _| h.seen.len() > before, secs(10))
        .unwrap();

    // A synchronous commit reaches the broker before its event.
    h.run(&mut world, ms(200)).unwrap();
    let now = world.now();
    let op = world.client(0).commit_offsets(now, id).expect("a live id");
    h.run_until(
        &mut world,
        |h, _| {
            h.events_of(0)
                .iter()
                .any(|(_, e)| matches!(e, Event::OffsetsCommitted { op: o, .. } if *o == op))
        },
        secs(10),
    )
    .unwrap();
    assert_eq!(committed(&world, &a0), Some(7));
    assert_eq!(committed(&world, &b1), Some(5));
}

/// A running consumer takes a second topic with `subscribe` and lets the first go with
/// `unsubscribe`: the new topic's queues are rebalanced to it and consumed; the dropped
/// topic's queues are released with their offsets committed, and nothing more of it comes.
#[test]
fn subscribe_and_unsubscribe_while_running() {
    let mut world = world(22, 1, 1);
    let other = "T2";
    for b in BROKERS {
        world.broker(b).create_topic(other, 1);
    }
    put_all(&mut world, 1, 2);
    let id = consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.run_until(&mut world, |h, _| h.seen.len() >= 4, secs(10))
        .unwrap();
    let now = world.now();
    let sub = rocketwire_core::consumer::Subscription::tag(other, "*").unwrap();
    world.client(0).subscribe(now, id, sub).expect("a live id");
    let now = world.now();
    for b in BROKERS {
        let m = rocketwire_core::message::Message::new(other, bytes::Bytes::from_static(b"x"));
        world.broker(b).put_message(now, m, 0);
    }
    let ok = h
        .run_until(
            &mut world,
            |h, _| h.seen.iter().filter(|s| s.queue.topic == other).count() >= 2,
            secs(10),
        )
        .unwrap();
    assert!(ok, "the added topic was never consumed: {:#?}", h.seen);
    let held: Vec<_> = world.core(0).assigned_queues(id);
    assert!(held.iter().any(|q| q.topic == other), "{held:?}");
    assert!(held.iter().any(|q| q.topic == TOPIC), "{held:?}");

    let now = world.now();
    world
        .client(0)
        .unsubscribe(now, id, TOPIC)
        .expect("a live id");
    h.run(&mut world, secs(1)).unwrap();
    let held = world.core(0).assigned_queues(id);
    assert!(held.iter().all(|q| q.topic == other), "{held:?}");
    for q in all_queues(1) {
        assert_eq!(committed(&world, &q), Some(2), "{q:?} committed on release");
    }
    let before = h.seen.len();
    put_all(&mut world, 1, 1);
    h.run(&mut world, secs(5)).unwrap();
    assert!(
        h.seen[before..].iter().all(|s| s.queue.topic != TOPIC),
        "{:#?}",
        &h.seen[before..]
    );
}
