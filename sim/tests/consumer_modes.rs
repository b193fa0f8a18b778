//! Push-consumer modes: broadcasting with local offset files, orderly consumption under queue
//! locks, and an idle consumer that only wakes for its scheduled jobs.

mod consumer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use consumer_support::*;
use rocketwire_core::body::{MessageModel, MessageQueue};
use rocketwire_core::consumer::{decode_offset_file, dlq_topic, ConsumeMode};
use rocketwire_core::{ConsumeOutcome, Event, RequestCode};
use rocketwire_sim::World;

/// The last offset file content `client` was asked to persist.
fn last_offset_file(h: &Harness, client: usize) -> Option<Vec<u8>> {
    h.events_of(client).iter().rev().find_map(|(_, e)| match e {
        Event::PersistLocalOffsets { content, .. } => Some(content.clone()),
        _ => None,
    })
}

#[test]
fn broadcasting_consumers_both_get_everything_and_resume_from_their_file() {
    let mut world = world(11, 2, 2);
    put_all(&mut world, 2, 3);
    let config = builder()
        .message_model(MessageModel::Broadcasting)
        .build()
        .unwrap();
    let a = consumer(&mut world, 0, config.clone());
    let b = consumer(&mut world, 1, config.clone());
    let mut h = Harness::new(2);
    let ok = h
        .run_until(&mut world, |h, _| h.seen.len() >= 24, secs(10))
        .unwrap();
    assert!(ok, "{}", h.seen.len());
    for client in 0..2 {
        let mut got: BTreeMap<MessageQueue, Vec<i64>> = BTreeMap::new();
        for s in h.seen.iter().filter(|s| s.client == client) {
            got.entry(s.queue.clone())
                .or_default()
                .push(s.messages[0].queue_offset);
        }
        assert_eq!(got.len(), 4, "client {client}: {got:?}");
        assert!(got.values().all(|o| *o == vec![0, 1, 2]), "{got:?}");
    }
    // No retry topic for broadcasting; nothing committed to brokers.
    assert!(world
        .core(0)
        .assigned_queues(a)
        .iter()
        .all(|q| q.topic == TOPIC));
    h.run(&mut world, secs(6)).unwrap();
    for q in all_queues(2) {
        assert_eq!(committed(&world, &q), None, "{q:?}");
    }
    for (client, c) in [(0, a), (1, b)] {
        let file = last_offset_file(&h, client).expect("offsets persisted locally");
        let decoded = decode_offset_file(&file).unwrap();
        assert_eq!(decoded, world.core(client).consumer_offsets(c));
        assert_eq!(decoded.len(), 4);
        assert!(decoded.values().all(|o| *o == 3), "{decoded:?}");
    }
    // Client 0 closes; more messages arrive; a new consumer there starts from its file.
    let now = world.now();
    world.client(0).close_consumer(now, a).expect("a live id");
    h.run(&mut world, secs(1)).unwrap();
    let file = last_offset_file(&h, 0).unwrap();
    put_all(&mut world, 2, 2);
    h.run(&mut world, secs(1)).unwrap();
    let before = h.seen.len();
    let a2 = consumer_with(&mut world, 0, config, Some(&file));
    h.run(&mut world, secs(3)).unwrap();
    let mut resumed: Vec<(MessageQueue, i64)> = h.seen[before..]
        .iter()
        .filter(|s| s.client == 0)
        .map(|s| (s.queue.clone(), s.messages[0].queue_offset))
        .collect();
    resumed.sort();
    let expect: Vec<(MessageQueue, i64)> = all_queues(2)
        .into_iter()
        .flat_map(|q| [(q.clone(), 3), (q, 4)])
        .collect();
    assert_eq!(resumed, expect);
    assert_eq!(world.core(0).consumer_offsets(a2).len(), 4);
    // Client 1 got the new messages too.
    assert_eq!(h.seen.iter().filter(|s| s.client == 1).count(), 12 + 8);
}

/// One orderly run: two consumers (the second `stagger` after the first), a third joins
/// later, deliveries held for a while.
fn orderly_run(seed: u64, stagger: Duration) {
    let queues = 2;
    let mut world = world(seed, 3, queues);
    let config = builder()
        .consume_mode(ConsumeMode::Orderly)
        .build()
        .unwrap();
    let mut h = Harness::new(3);
    consumer(&mut world, 0, config.clone());
    h.run(&mut world, stagger).unwrap();
    consumer(&mut world, 1, config.clone());
    put_all(&mut world, queues, 20);
    h.policy = Box::new(|_| None);
    // (client, queue, delivered at, acked at)
    let mut spans: Vec<(usize, MessageQueue, Duration, Duration)> = Vec::new();
    let mut checked = 0;
    let mut violations = Vec::new();
    let mut step = |h: &mut Harness, world: &mut World, spans: &mut Vec<_>| {
        h.run_until(
            world,
            |h, w| {
                for s in &h.seen[checked..] {
                    let owner =
                        w.broker_ref(&s.queue.broker_name)
                            .lock_owner(GROUP, &s.queue, w.now());
                    if owner != Some(w.core(s.client).client_id()) {
                        violations.push(format!("{s:?} delivered while the lock is {owner:?}"));
                    }
                }
                checked = h.seen.len();
                false
            },
            ms(150),
        )
        .unwrap();
        let now = world.elapsed();
        for s in &h.held {
            spans.push((s.client, s.queue.clone(), s.at, now));
        }
        h.ack_held(world, ConsumeOutcome::Success);
    };
    for i in 0..300 {
        if i == 60 {
            consumer(&mut world, 2, config.clone());
        }
        if i == 120 {
            put_all(&mut world, queues, 10);
        }
        step(&mut h, &mut world, &mut spans);
    }
    assert!(violations.is_empty(), "{violations:#?}");
    // Never two clients with a batch of one queue out at once.
    for (i, x) in spans.iter().enumerate() {
        for y in &spans[i + 1..] {
            let overlap = x.1 == y.1 && x.0 != y.0 && x.2 < y.3 && y.2 < x.3;
            assert!(!overlap, "seed {seed}: {x:?} and {y:?} overlap");
        }
    }
    // Per queue: one batch out at a time per client, in offset order; every message consumed.
    let mut per_queue: BTreeMap<MessageQueue, Vec<(usize, i64)>> = BTreeMap::new();
    for s in &h.seen {
        for m in &s.messages {
            per_queue
                .entry(s.queue.clone())
                .or_default()
                .push((s.client, m.queue_offset));
        }
    }
    for q in all_queues(queues) {
        let seq = per_queue.get(&q).cloned().unwrap_or_default();
        let offsets: BTreeSet<i64> = seq.iter().map(|(_, o)| *o).collect();
        assert_eq!(offsets, (0..30).collect(), "seed {seed} {q:?}: {seq:?}");
        // Within one ownership (same client, no pause of a rebalance's length) offsets go
        // forward; a new ownership may restart from the committed offset (at-least-once).
        let mut timed: Vec<(Duration, usize, i64)> = Vec::new();
        for s in h.seen.iter().filter(|s| s.queue == q) {
            timed.extend(s.messages.iter().map(|m| (s.at, s.client, m.queue_offset)));
        }
        for w in timed.windows(2) {
            if w[0].1 == w[1].1 && w[1].0 - w[0].0 < secs(2) {
                assert!(w[1].2 > w[0].2, "seed {seed} {q:?} out of order: {timed:?}");
            }
        }
    }
    assert!(
        world
            .broker("broker-a")
            .requests_seen(RequestCode::LockBatchMq)
            > 0
    );
}

#[test]
fn orderly_consumers_hold_the_lock_and_never_share_a_queue() {
    for seed in 0..5 {
        orderly_run(seed, secs(1));
    }
}

/// Both consumers start together: the first one's LOCK_BATCH_MQ for all four queues is still
/// in flight when the rebalance gives two of them to the second one. The lock is granted to
/// the first one after it released the queues, and nobody ever unlocks them: the second
/// consumer cannot lock them until the broker's lock expires (60 s).
#[test]

fn orderly_consumers_starting_together_both_consume_at_once() {
    let queues = 2;
    let mut world = world(0, 2, queues);
    let config = builder()
        .consume_mode(ConsumeMode::Orderly)
        .build()
        .unwrap();
    consumer(&mut world, 0, config.clone());
    consumer(&mut world, 1, config);
    put_all(&mut world, queues, 3);
    let mut h = Harness::new(2);
    let ok = h
        .run_until(&mut world, |h, _| h.seen.len() >= 12, secs(10))
        .unwrap();
    let by_queue: BTreeSet<(usize, MessageQueue)> =
        h.seen.iter().map(|s| (s.client, s.queue.clone())).collect();
    assert!(ok, "after 10 s only {by_queue:?}");
}

#[test]

fn orderly_consumers_starting_together_seeds() {
    for seed in 0..5 {
        orderly_run(seed, Duration::ZERO);
    }
}

/// An idle consumer (nothing to pull, nothing to persist) wakes only for its periodic jobs,
/// which fall on one grid: per minute, rebalances at 0, 20 and 40 s, route refresh and
/// heartbeat at 0 and 30 s. The offset persist is not armed while no offset moved, and the
/// long polls' holds end with those jobs, so their answers add no wake-ups of their own.
#[test]
fn idle_consumer_wakes_only_for_scheduled_jobs() {
    let mut world = world(21, 1, 4);
    // As a real broker makes it at the consumer's first heartbeat.
    world
        .broker("broker-a")
        .create_topic(&format!("%RETRY%{GROUP}"), 1);
    consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.run(&mut world, secs(60)).unwrap();
    let (w0, b0, p0) = (
        world.wakeups(0),
        world.wake_bursts(0),
        world
            .broker("broker-a")
            .requests_seen(RequestCode::PullMessage),
    );
    let hb0 = world
        .broker("broker-a")
        .requests_seen(RequestCode::HeartBeat);
    let lines0 = world.transcript().lines().count();
    h.run(&mut world, secs(600)).unwrap();
    let wakeups = world.wakeups(0) - w0;
    let bursts = world.wake_bursts(0) - b0;
    let pulls = world
        .broker("broker-a")
        .requests_seen(RequestCode::PullMessage)
        - p0;
    // The 20 s rebalance grid: 3 instants a minute (0, 20, 40 s), with the 30 s heartbeat and
    // route refresh run at the nearest one up to 10 s early (not at 30 s as well); one more
    // at either end of the span. The long polls are answered just before the jobs, which run
    // then: by a timer of their own only when no answer came first.
    assert!(
        (29..=31).contains(&bursts),
        "woken {bursts} times in 10 minutes"
    );
    assert!(wakeups <= bursts, "{wakeups} timer wake-ups in 10 minutes");
    // Long polls: one pull per queue at each of those instants, held to the latest one in the
    // second half of 20 s (4 queues and the retry queue on broker-a).
    assert!((145..=155).contains(&pulls), "{pulls} pulls in 10 minutes");
    // The heartbeat still every 30 s on average: 20 in 10 minutes.
    let heartbeats = world
        .broker("broker-a")
        .requests_seen(RequestCode::HeartBeat)
        - hb0;
    assert!((19..=21).contains(&heartbeats), "{heartbeats} heartbeats");
    assert!(h.seen.is_empty());
    let transcript = world.transcript();
    let span: Vec<&str> = transcript.lines().skip(lines0).collect();
    assert!(
        !span
            .iter()
            .any(|l| l.contains("UPDATE_CONSUMER_OFFSET") || l.contains("TOPIC_NOT_EXIST")),
        "nothing to persist, every route known"
    );
}

/// The first consumer has a batch of every queue out with its handler when a second one joins:
/// it must keep (or at least keep locked) the queues whose batch is out until it is acked, or
/// the second consumer consumes the same queue at the same time.
#[test]

fn orderly_queue_with_a_batch_out_is_not_handed_over() {
    let queues = 2;
    let mut world = world(7, 2, queues);
    let config = builder()
        .consume_mode(ConsumeMode::Orderly)
        .build()
        .unwrap();
    consumer(&mut world, 0, config.clone());
    put_all(&mut world, queues, 3);
    let mut h = Harness::new(2);
    // Client 0 never acks: a batch of each queue stays out with it.
    h.policy = Box::new(|s| (s.client != 0).then_some(ConsumeOutcome::Success));
    h.run(&mut world, secs(2)).unwrap();
    assert_eq!(h.held.len(), 4, "one batch per queue out with client 0");
    consumer(&mut world, 1, config);
    h.run(&mut world, secs(45)).unwrap();
    let busy: BTreeSet<MessageQueue> = h.held.iter().map(|s| s.queue.clone()).collect();
    let stolen: Vec<_> = h
        .seen
        .iter()
        .filter(|s| s.client == 1 && busy.contains(&s.queue))
        .map(|s| (s.at, s.queue.clone(), s.messages[0].queue_offset))
        .collect();
    assert!(
        stolen.is_empty(),
        "client 1 consumed queues client 0 is consuming: {stolen:?}"
    );
}

/// An orderly message that keeps failing is retried in place (reconsume count + 1 each time)
/// and, after its last allowed try, goes to the DLQ; the queue then moves on. A DLQ send-back
/// the broker refuses leaves the message where it was: suspended, the offset not past it.
#[test]
fn orderly_message_out_of_tries_goes_to_the_dlq_and_the_queue_moves_on() {
    let mut world = world(8, 1, 1);
    put(&mut world, "broker-a", 0, 2);
    let config = builder()
        .consume_mode(ConsumeMode::Orderly)
        .max_reconsume_times(2)
        .build()
        .unwrap();
    consumer(&mut world, 0, config);
    world.broker("broker-a").fail_next_send_backs(1);
    let q = mq("broker-a", 0);
    let mut h = Harness::new(1);
    h.policy = Box::new(move |s| {
        let poison = s.queue == q && s.messages[0].queue_offset == 0;
        Some(if poison {
            ConsumeOutcome::SuspendCurrentQueue(Some(Duration::from_millis(100)))
        } else {
            ConsumeOutcome::Success
        })
    });
    h.run(&mut world, secs(10)).unwrap();
    let q = mq("broker-a", 0);
    let on_q: Vec<(i64, i32)> = h
        .seen
        .iter()
        .filter(|s| s.queue == q)
        .map(|s| (s.messages[0].queue_offset, s.messages[0].reconsume_times))
        .collect();
    // Tries 0, 1, 2; the DLQ send-back after try 2 is refused, so try 3 comes (count 3 ≥ 2,
    // straight to the DLQ again, accepted this time); then offset 1.
    assert_eq!(
        on_q,
        vec![(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)],
        "{on_q:?}"
    );
    // Each suspension lasts its 100 ms, not until some unrelated timer.
    let last = h.seen.last().map(|s| s.at).unwrap();
    assert!(last < secs(1), "last delivery at {last:?}");
    let dlq = dlq_topic(GROUP);
    let store = world.broker("broker-a").store();
    assert_eq!(store.max_offset(&dlq, 0), 1, "exactly one copy in the DLQ");
    let dead = store.at(&dlq, 0, 0).unwrap();
    assert_eq!(dead.message.body.as_ref(), b"broker-a/0/0");
    h.run(&mut world, secs(6)).unwrap();
    assert_eq!(committed(&world, &q), Some(2));
}
