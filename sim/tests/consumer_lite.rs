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
        .assign(now, id, vec![a0.clone(), b1.clone()]);
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
    world.client(0).seek(now, id, &a0, 2);
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
    world.client(0).pause(id, std::slice::from_ref(&a0));
    put(&mut world, "broker-a", 0, 2);
    let before = h.seen.len();
    h.run(&mut world, secs(3)).unwrap();
    assert_eq!(h.seen.len(), before, "paused: nothing delivered");
    let now = world.now();
    world.client(0).resume(now, id, std::slice::from_ref(&a0));
    h.run_until(&mut world, |h, _| h.seen.len() > before, secs(10))
        .unwrap();

    // A synchronous commit reaches the broker before its event.
    h.run(&mut world, ms(200)).unwrap();
    let now = world.now();
    let op = world.client(0).commit_offsets(now, id);
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
