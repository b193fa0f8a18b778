//! Push-consumer scenarios: the real `ClientCore` consumes from simulated brokers (delivery
//! and offsets, rebalance between group members, reconsume-later through the retry topic to
//! the DLQ, failed send-backs, graceful close and resume).

mod consumer_support;

use std::collections::BTreeSet;
use std::time::Duration;

use consumer_support::*;
use rocketwire_core::consumer::{dlq_topic, retry_topic};
use rocketwire_core::{ConsumeOutcome, Event, RequestCode};
use rocketwire_sim::World;

#[test]
fn one_consumer_gets_everything_once_and_commits_the_max_offsets() {
    let mut world = world(1, 1, 4);
    put_all(&mut world, 4, 5);
    let c = consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    let all = h
        .run_until(
            &mut world,
            |h, _| h.seen.iter().map(|s| s.messages.len()).sum::<usize>() >= 40,
            secs(10),
        )
        .unwrap();
    assert!(all, "only {} deliveries", h.seen.len());
    for (q, offsets) in h.delivered() {
        assert_eq!(
            offsets,
            (0..5).collect::<Vec<_>>(),
            "{q:?} delivered once, in order"
        );
    }
    assert!(h
        .seen
        .iter()
        .all(|s| s.consumer == c && s.messages.len() == 1));
    // Within one persist interval the offsets reach the broker.
    h.run(&mut world, secs(6)).unwrap();
    for q in all_queues(4) {
        assert_eq!(committed(&world, &q), Some(5), "{q:?}");
    }
    assert_eq!(
        world.client(0).consumer_offsets(c).get(&mq("broker-b", 3)),
        Some(&5)
    );
    assert!(
        world
            .broker("broker-a")
            .requests_seen(RequestCode::UpdateConsumerOffset)
            >= 1
    );
    assert_eq!(world.client(0).deliveries_in_flight(), 0);
    // New messages arrive through the held (long-poll) pull without a new request cycle.
    let before = world
        .broker("broker-a")
        .requests_seen(RequestCode::PullMessage);
    put(&mut world, "broker-a", 2, 1);
    h.run(&mut world, ms(50)).unwrap();
    let last = h.seen.last().unwrap();
    assert_eq!(
        (last.queue.clone(), last.messages[0].queue_offset),
        (mq("broker-a", 2), 5)
    );
    assert!(last.at < world.elapsed(), "delivered within 50 ms");
    assert!(
        world
            .broker("broker-a")
            .requests_seen(RequestCode::PullMessage)
            <= before + 1
    );
}

#[test]
fn small_consume_transcript() {
    let mut world = world(3, 1, 1);
    put(&mut world, "broker-a", 0, 2);
    let c = consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.run_until(&mut world, |h, _| h.seen.len() >= 2, secs(5))
        .unwrap();
    h.run(&mut world, secs(6)).unwrap();
    assert_eq!(committed(&world, &mq("broker-a", 0)), Some(2));
    assert_eq!(
        committed(&world, &mq("broker-b", 0)),
        None,
        "nothing consumed there"
    );
    let now = world.now();
    let op = world.client(0).close_consumer(now, c).expect("a live id");
    h.run_until(&mut world, |h, _| !h.events_of(0).is_empty(), secs(5))
        .unwrap();
    assert!(matches!(&h.events_of(0)[0].1, Event::ConsumerClosed { op: o, .. } if *o == op));
    insta::assert_snapshot!(world.transcript());
}

#[test]
fn two_consumers_split_the_queues_and_one_takes_all_after_the_other_closes() {
    let mut world = world(2, 2, 4);
    let a = consumer(&mut world, 0, builder().build().unwrap());
    let b = consumer(&mut world, 1, builder().build().unwrap());
    let mut h = Harness::new(2);
    let split = |w: &World| {
        let qa: BTreeSet<_> = w
            .core(0)
            .assigned_queues(a)
            .into_iter()
            .filter(|q| q.topic == TOPIC)
            .collect();
        let qb: BTreeSet<_> = w
            .core(1)
            .assigned_queues(b)
            .into_iter()
            .filter(|q| q.topic == TOPIC)
            .collect();
        (qa, qb)
    };
    let ok = h
        .run_until(
            &mut world,
            |_, w| {
                let (qa, qb) = split(w);
                qa.len() == 4 && qb.len() == 4
            },
            secs(30),
        )
        .unwrap();
    assert!(ok, "no even split: {:?}", split(&world));
    let (qa, qb) = split(&world);
    assert!(qa.is_disjoint(&qb), "{qa:?} / {qb:?}");
    assert_eq!(
        qa.union(&qb).cloned().collect::<BTreeSet<_>>(),
        all_queues(4)
    );
    // Both consume their own queues.
    put_all(&mut world, 4, 3);
    h.run(&mut world, secs(2)).unwrap();
    for s in &h.seen {
        let owned = if s.client == 0 { &qa } else { &qb };
        assert!(
            owned.contains(&s.queue),
            "{s:?} delivered outside its assignment"
        );
    }
    assert_eq!(h.seen.len(), 24);
    let now = world.now();
    world.client(0).close_consumer(now, a).expect("a live id");
    // The broker notifies b (NOTIFY_CONSUMER_IDS_CHANGED): it takes everything well before the
    // 20 s periodic rebalance.
    let start = world.elapsed();
    let ok = h
        .run_until(&mut world, |_, w| split(w).1.len() == 8, secs(30))
        .unwrap();
    assert!(ok, "b never took all queues: {:?}", split(&world));
    assert!(
        world.elapsed() - start < secs(5),
        "took {:?}",
        world.elapsed() - start
    );
    assert!(world.client(0).assigned_queues(a).is_empty());
    // b resumes a's queues from a's committed offsets: nothing is delivered twice.
    put_all(&mut world, 4, 1);
    h.run(&mut world, secs(3)).unwrap();
    let delivered = h.delivered();
    for q in all_queues(4) {
        assert_eq!(delivered.get(&q), Some(&vec![0, 1, 2, 3]), "{q:?}");
    }
    assert!(h.seen[24..].iter().all(|s| s.client == 1));
}

#[test]
fn reconsume_later_goes_through_the_retry_topic_to_the_dlq() {
    let mut world = world(4, 1, 1);
    put(&mut world, "broker-a", 0, 1);
    let config = builder().max_reconsume_times(2).build().unwrap();
    let c = consumer(&mut world, 0, config);
    let mut h = Harness::new(1);
    h.policy = Box::new(|_| Some(ConsumeOutcome::ReconsumeLater { delay_level: 1 }));
    // Original + 2 retries (1 s delay each), then the third failure goes to the DLQ.
    let ok = h
        .run_until(&mut world, |h, _| h.seen.len() >= 3, secs(30))
        .unwrap();
    assert!(ok, "{:#?}", h.seen);
    h.run(&mut world, secs(10)).unwrap();
    assert_eq!(h.seen.len(), 3, "no delivery after the DLQ");
    let retry = retry_topic(GROUP);
    let dlq = dlq_topic(GROUP);
    assert_eq!(h.seen[0].queue, mq("broker-a", 0));
    for (i, s) in h.seen.iter().enumerate() {
        let m = &s.messages[0];
        assert_eq!(m.message.topic, TOPIC, "retry topic reset to the original");
        assert_eq!(m.reconsume_times, i as i32);
        assert_eq!(m.message.body.as_ref(), b"broker-a/0/0");
        if i > 0 {
            assert_eq!(s.queue.topic, retry, "retries come from the retry topic");
            assert!(s.at >= h.seen[i - 1].at + secs(1), "delay level 1 = 1 s");
        }
    }
    let store = world.broker("broker-a").store();
    assert_eq!(store.max_offset(&retry, 0), 2);
    assert_eq!(store.max_offset(&dlq, 0), 1);
    let dead = store.at(&dlq, 0, 0).unwrap();
    assert_eq!(dead.message.body.as_ref(), b"broker-a/0/0");
    assert_eq!(dead.reconsume_times, 3);
    // Everything settled: offsets move past the original and both retries.
    h.run(&mut world, secs(6)).unwrap();
    assert_eq!(committed(&world, &mq("broker-a", 0)), Some(1));
    let retry_q = rocketwire_core::body::MessageQueue {
        topic: retry.clone(),
        broker_name: "broker-a".into(),
        queue_id: 0,
    };
    assert_eq!(world.client(0).consumer_offsets(c).get(&retry_q), Some(&2));
    assert_eq!(world.client(0).deliveries_in_flight(), 0);
}

#[test]
fn failed_send_back_keeps_the_message_unsettled_and_the_offset_behind_it() {
    let mut world = world(5, 1, 1);
    put(&mut world, "broker-a", 0, 3);
    let mut config = builder().build().unwrap();
    config.delay_after_send_back_failure = secs(8);
    let c = consumer(&mut world, 0, config);
    world.broker("broker-a").fail_next_send_backs(1);
    let mut h = Harness::new(1);
    // Offset 1 fails once; everything else succeeds.
    let mut failed = false;
    h.policy = Box::new(move |s| {
        if s.queue == mq("broker-a", 0) && s.messages[0].queue_offset == 1 && !failed {
            failed = true;
            return Some(ConsumeOutcome::ReconsumeLater { delay_level: 1 });
        }
        Some(ConsumeOutcome::Success)
    });
    let q = mq("broker-a", 0);
    h.run_until(&mut world, |h, _| h.seen.len() >= 3, secs(5))
        .unwrap();
    let first_round = world.elapsed();
    // The send-back is refused: offset 1 stays unsettled; the committed offset stays at 1
    // even though 0 and 2 are consumed, across a persist.
    h.run(&mut world, secs(6)).unwrap();
    assert_eq!(h.seen.len(), 3, "not redelivered before the pause");
    assert_eq!(
        world
            .broker("broker-a")
            .requests_seen(RequestCode::ConsumerSendMsgBack),
        1
    );
    assert_eq!(world.client(0).consumer_offsets(c).get(&q), Some(&1));
    assert_eq!(committed(&world, &q), Some(1));
    let retry = retry_topic(GROUP);
    assert_eq!(
        world.broker("broker-a").store().max_offset(&retry, 0),
        0,
        "nothing stored"
    );
    // Redelivered locally (not via the retry topic) after the back-off; acked; offset moves.
    let ok = h
        .run_until(&mut world, |h, _| h.seen.len() >= 4, secs(10))
        .unwrap();
    assert!(ok);
    let again = &h.seen[3];
    assert_eq!(
        (again.queue.clone(), again.messages[0].queue_offset),
        (q.clone(), 1)
    );
    assert!(
        again.at >= first_round + secs(4),
        "redelivered after the pause, at {:?}",
        again.at
    );
    h.run(&mut world, secs(6)).unwrap();
    assert_eq!(committed(&world, &q), Some(3));
}

#[test]
fn close_persists_the_drained_offsets_and_a_new_consumer_resumes_there() {
    // Hold every delivery: nothing settles until the close.
    let (mut world, c, mut h) = holding_all(6);
    let now = world.now();
    let op = world.client(0).close_consumer(now, c).expect("a live id");
    // The close waits for the deliveries out.
    h.run(&mut world, secs(2)).unwrap();
    assert!(
        h.events_of(0).is_empty(),
        "closed with deliveries out: {:?}",
        h.events_of(0)
    );
    // Ack all but offsets >= 2 of broker-b queue 1.
    let now = world.now();
    let q = mq("broker-b", 1);
    let mut late = Vec::new();
    for s in std::mem::take(&mut h.held) {
        if s.queue == q && s.messages[0].queue_offset >= 2 {
            late.push(s);
        } else {
            world
                .client(0)
                .ack(now, s.delivery, ConsumeOutcome::Success)
                .expect("out");
        }
    }
    h.run(&mut world, secs(1)).unwrap();
    assert!(h.events_of(0).is_empty());
    world
        .client(0)
        .abandon_deliveries(now, c)
        .expect("a live id");
    let ok = h
        .run_until(&mut world, |h, _| !h.events_of(0).is_empty(), secs(5))
        .unwrap();
    assert!(ok);
    let report = match &h.events_of(0)[0].1 {
        Event::ConsumerClosed {
            op: o,
            consumer,
            report,
        } if *o == op && *consumer == c => report.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(report.abandoned_deliveries, 2);
    let topic_offsets: Vec<_> = report
        .persisted
        .iter()
        .filter(|(q, _)| q.topic == TOPIC)
        .collect();
    assert_eq!(topic_offsets.len(), 4, "{report:?}");
    for (pq, offset) in &report.persisted {
        let expect = if pq.topic != TOPIC {
            *offset
        } else if *pq == q {
            2
        } else {
            4
        };
        assert_eq!(*offset, expect, "{pq:?}");
        assert_eq!(
            committed_any(&mut world, pq),
            Some(*offset),
            "{pq:?} at the broker"
        );
    }
    assert!(
        world.broker("broker-a").consumer_ids(GROUP).is_empty(),
        "unregistered"
    );
    assert!(
        world.broker("broker-b").consumer_ids(GROUP).is_empty(),
        "unregistered"
    );
    // A new consumer on another client resumes at the persisted offsets.
    consumer(&mut world, 1, builder().build().unwrap());
    h.policy = Box::new(|_| Some(ConsumeOutcome::Success));
    let before = h.seen.len();
    h.run(&mut world, secs(3)).unwrap();
    let resumed: Vec<_> = h.seen[before..]
        .iter()
        .map(|s| (s.client, s.queue.clone(), s.messages[0].queue_offset))
        .collect();
    assert_eq!(resumed, vec![(1, q.clone(), 2), (1, q, 3)]);
}

fn committed_any(world: &mut World, q: &rocketwire_core::body::MessageQueue) -> Option<i64> {
    world
        .broker(&q.broker_name)
        .store()
        .consumer_offset(GROUP, &q.topic, q.queue_id)
}

/// Java `cleanExpireMsg`: a delivery out with the handler past the consume timeout is sent
/// back (delay level 3, 10 s) and comes again from the retry topic; the late ack of the first
/// one changes nothing.
#[test]
fn delivery_past_the_consume_timeout_is_sent_back_and_comes_again() {
    let mut world = world(9, 1, 1);
    put(&mut world, "broker-a", 0, 1);
    let mut config = builder().build().unwrap();
    config.consume_timeout = secs(2);
    let c = consumer(&mut world, 0, config);
    let mut h = Harness::new(1);
    // The first delivery hangs in the handler; the retry is consumed.
    h.policy = Box::new(|s| (s.messages[0].reconsume_times > 0).then_some(ConsumeOutcome::Success));
    // Swept every 2 s: at 4 s the delivery is older than 2 s.
    h.run(&mut world, secs(5)).unwrap();
    assert_eq!(h.held.len(), 1, "{:#?}", h.seen);
    assert_eq!(world.client(0).deliveries_in_flight(), 0, "given up on");
    let ok = h
        .run_until(&mut world, |h, _| h.seen.len() >= 2, secs(20))
        .unwrap();
    assert!(ok, "the message never came again: {:#?}", h.seen);
    let again = &h.seen[1];
    assert_eq!(again.queue.topic, retry_topic(GROUP));
    assert_eq!(again.messages[0].message.body.as_ref(), b"broker-a/0/0");
    assert_eq!(again.messages[0].reconsume_times, 1);
    assert!(
        again.at >= secs(10),
        "delay level 3 is 10 s: {:?}",
        again.at
    );
    // The hung handler finally returns: nothing happens to it any more.
    h.ack_held(
        &mut world,
        ConsumeOutcome::ReconsumeLater { delay_level: 1 },
    );
    h.run(&mut world, secs(20)).unwrap();
    assert_eq!(h.seen.len(), 2, "{:#?}", h.seen);
    assert_eq!(committed(&world, &mq("broker-a", 0)), Some(1));
    let retry_q = rocketwire_core::body::MessageQueue {
        topic: retry_topic(GROUP),
        broker_name: "broker-a".into(),
        queue_id: 0,
    };
    assert_eq!(world.client(0).consumer_offsets(c).get(&retry_q), Some(&1));
}

/// A broker that goes away for good (still in the route) puts the consumer in doubt about its
/// membership only briefly: the other brokers' lists settle it, and the queues of the
/// reachable broker keep committing on the usual 5 s rhythm.
#[test]
fn lost_broker_does_not_stall_commits_of_the_others() {
    let mut world = world(10, 1, 1);
    put_all(&mut world, 1, 2);
    consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.run_until(&mut world, |h, _| h.seen.len() >= 4, secs(10))
        .unwrap();
    world.partition("127.0.0.1:10921");
    let a = mq("broker-a", 0);
    for round in 1..=4 {
        put(&mut world, "broker-a", 0, 1);
        h.run(&mut world, secs(6)).unwrap();
        let want = 2 + round;
        assert_eq!(committed(&world, &a), Some(want), "round {round}");
    }
}

/// Java `cleanOfflineBroker`: once no route names a broker address any more (here the
/// namesrvs moved `broker-b` to another address), the client stops heartbeating it.
#[test]
fn broker_address_no_route_names_gets_no_more_heartbeats() {
    let mut world = world(11, 1, 1);
    consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.run(&mut world, secs(40)).unwrap();
    let beats = |w: &mut World| w.broker("broker-b").requests_seen(RequestCode::HeartBeat);
    let before = beats(&mut world);
    assert!(before >= 2, "heartbeated at start and after 30 s: {before}");
    let cluster = world.broker("broker-b").config().cluster.clone();
    for i in 0..2 {
        world
            .namesrv(i)
            .register_broker(&cluster, "broker-b", "127.0.0.1:10931");
    }
    // One route refresh learns the move, the next forgets the old address.
    h.run(&mut world, secs(65)).unwrap();
    let settled = beats(&mut world);
    h.run(&mut world, secs(120)).unwrap();
    assert_eq!(beats(&mut world), settled, "still heartbeated");
    assert!(
        world
            .broker("broker-a")
            .requests_seen(RequestCode::HeartBeat)
            > settled,
        "the other broker still gets heartbeats"
    );
}

/// An abandoned delivery is neither committed nor sent back: the close reports it, the
/// persisted offset stays before it, and the next owner of the queue gets it.
#[test]
fn abandoned_delivery_stays_unconsumed_for_the_next_owner() {
    let (mut world, c, mut h) = holding_all(10);
    // Everything consumed but offsets >= 2 of broker-a queue 0, which are abandoned.
    let now = world.now();
    let q = mq("broker-a", 0);
    for s in std::mem::take(&mut h.held) {
        let outcome = if s.queue == q && s.messages[0].queue_offset >= 2 {
            ConsumeOutcome::Abandon
        } else {
            ConsumeOutcome::Success
        };
        world
            .client(0)
            .ack(now, s.delivery, outcome)
            .expect("a live id");
    }
    assert_eq!(world.client(0).deliveries_in_flight(), 0);
    assert_eq!(world.client(0).consumer_offsets(c).get(&q), Some(&2));
    // Not delivered again while this consumer holds the queue.
    h.policy = Box::new(|_| Some(ConsumeOutcome::Success));
    h.run(&mut world, secs(2)).unwrap();
    assert!(h.seen.iter().filter(|s| s.queue == q).count() == 4);
    let now = world.now();
    let op = world.client(0).close_consumer(now, c).expect("a live id");
    // Nothing is out with the handler: the close does not wait for a drain.
    let ok = h
        .run_until(&mut world, |h, _| !h.events_of(0).is_empty(), secs(1))
        .unwrap();
    assert!(ok, "closed without a drain");
    let report = match &h.events_of(0)[0].1 {
        Event::ConsumerClosed { op: o, report, .. } if *o == op => report.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(report.abandoned_deliveries, 2);
    assert_eq!(report.persisted.get(&q), Some(&2));
    assert_eq!(committed_any(&mut world, &q), Some(2));
    for broker in ["broker-a", "broker-b"] {
        assert_eq!(
            world
                .broker(broker)
                .requests_seen(RequestCode::ConsumerSendMsgBack),
            0,
            "nothing sent back"
        );
    }
    // The next owner gets exactly the abandoned messages of that queue.
    consumer(&mut world, 1, builder().build().unwrap());
    let before = h.seen.len();
    h.run(&mut world, secs(3)).unwrap();
    let resumed: Vec<_> = h.seen[before..]
        .iter()
        .map(|s| (s.client, s.queue.clone(), s.messages[0].queue_offset))
        .collect();
    assert_eq!(resumed, vec![(1, q.clone(), 2), (1, q, 3)]);
}

/// Two clients, 4 messages in each of the 2 queues per broker, one consumer on client 0
/// whose 16 deliveries are all held by the harness.
fn holding_all(seed: u64) -> (World, rocketwire_core::ConsumerId, Harness) {
    let mut world = world(seed, 2, 2);
    put_all(&mut world, 2, 4);
    let c = consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(2);
    h.policy = Box::new(|_| None);
    let ok = h
        .run_until(&mut world, |h, _| h.held.len() >= 16, secs(5))
        .unwrap();
    assert!(ok, "{}", h.held.len());
    (world, c, h)
}

/// A consumer whose broker is down for a while (connections refused) consumes again within
/// 1 s of the broker being back: the jittered re-registration probe (at most 0.5 s apart)
/// finds it, and the queues waiting out their pull error delay (3 s) pull at once instead.
#[test]
fn consumption_resumes_within_a_second_of_a_broker_restart() {
    for (seed, down) in [(71, secs(5)), (72, ms(1_700)), (73, secs(11))] {
        let mut world = world(seed, 1, 2);
        put_all(&mut world, 2, 3);
        consumer(&mut world, 0, builder().build().unwrap());
        let mut h = Harness::new(1);
        let total = |h: &Harness| h.seen.iter().map(|s| s.messages.len()).sum::<usize>();
        assert!(h
            .run_until(&mut world, |h, _| total(h) >= 12, secs(10))
            .unwrap());
        world.stop_broker("broker-a");
        h.run(&mut world, down).unwrap();
        for q in 0..2 {
            put(&mut world, "broker-a", q, 2);
        }
        world.start_broker("broker-a");
        let back = world.elapsed();
        let resumed = h
            .run_until(&mut world, |h, _| total(h) >= 16, secs(10))
            .unwrap();
        assert!(resumed, "seed {seed}: not resumed");
        let first = h
            .seen
            .iter()
            .filter(|s| s.at >= back && s.queue.broker_name == "broker-a")
            .map(|s| s.at)
            .min()
            .expect("a delivery after the restart");
        assert!(
            first - back <= secs(1),
            "seed {seed}, down {down:?}: first message {:?} after the broker was back",
            first - back
        );
    }
}

/// A fresh group whose queues nobody held starts pulling at once: the first waiting message
/// is delivered within 100 ms of the consumer's creation, whatever order the routes (its
/// topic's and its retry topic's) and consumer lists come in.
#[test]
fn a_fresh_group_gets_its_first_message_within_100_ms() {
    let mut slowest = Duration::ZERO;
    for seed in 1..=40 {
        let mut world = world(seed, 1, 4);
        // The broker knows the group's retry topic, as a real one does once the group
        // heartbeats: its route may come first.
        world
            .broker("broker-a")
            .create_topic(&retry_topic(GROUP), 1);
        put_all(&mut world, 4, 3);
        let started = world.elapsed();
        consumer(&mut world, 0, builder().build().unwrap());
        let mut h = Harness::new(1);
        let got = h
            .run_until(&mut world, |h, _| !h.seen.is_empty(), secs(5))
            .unwrap();
        assert!(got, "seed {seed}: nothing delivered");
        let first = h.seen[0].at - started;
        slowest = slowest.max(first);
        assert!(
            first <= ms(100),
            "seed {seed}: first message after {first:?}"
        );
    }
    assert!(slowest > Duration::ZERO);
}
