//! POP consumers (RocketMQ 5.x) against the simulated broker's POP model: at-least-once
//! delivery through lost acks, broker restarts and dead consumers, retries by a change of
//! invisible time (and the client's own retry when the broker refuses it), renewal of a
//! long-running delivery, orderly POP with attempt ids, and an idle consumer's long polls.
//!
//! The consumers start before the messages are stored: the group's position is fixed by its
//! first pop (see `pop_consumer_from_first_offset_gets_messages_stored_before_it_started`
//! for why).

mod consumer_support;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use consumer_support::*;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfigBuilder, PopConfig};
use rocketwire_core::header::{
    self as hdr, AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, PopMessageRequestHeader,
};
use rocketwire_core::{ConsumeOutcome, RemotingCommand, RequestCode, ResponseCode};
use rocketwire_sim::{Dir, HookAction, World};

/// A POP consumer of [`GROUP`] (concurrent) whose messages stay invisible for `invisible`
/// and whose pops are held at most 2 s.
fn pop_builder(invisible: Duration) -> ConsumerConfigBuilder {
    builder().pop(
        PopConfig::default()
            .with_invisible_time(invisible)
            .with_poll_time(secs(2)),
    )
}

/// Creates a POP consumer on client `i` and lets its first pops fix the group's positions.
fn start(world: &mut World, h: &mut Harness, i: usize, builder: ConsumerConfigBuilder) {
    consumer(world, i, builder.build().unwrap());
    h.run(world, secs(1)).unwrap();
}

/// Messages of [`GROUP`] popped and not acked, on both brokers.
fn in_flight(world: &World) -> usize {
    BROKERS
        .iter()
        .map(|b| world.broker_ref(b).pop_in_flight(GROUP, TOPIC))
        .sum()
}

/// Messages of [`GROUP`] acked, on both brokers.
fn acked(world: &World) -> u64 {
    BROKERS
        .iter()
        .map(|b| world.broker_ref(b).pop_acked(GROUP, TOPIC))
        .sum()
}

/// A message's place: (broker, queue id, offset).
type Place = (String, i32, i64);

/// Every delivery of every message: (time, client, reconsume times), by place.
fn deliveries(h: &Harness) -> BTreeMap<Place, Vec<(Duration, usize, i32)>> {
    let mut out: BTreeMap<Place, Vec<_>> = BTreeMap::new();
    for s in &h.seen {
        for m in &s.messages {
            let place = (
                s.queue.broker_name.clone(),
                s.queue.queue_id,
                m.queue_offset,
            );
            out.entry(place)
                .or_default()
                .push((s.at, s.client, m.reconsume_times));
        }
    }
    out
}

/// Every place stored on both brokers.
fn stored(world: &World, queues: i32) -> BTreeSet<Place> {
    let mut out = BTreeSet::new();
    for b in BROKERS {
        for q in 0..queues {
            let max = world.broker_ref(b).store().max_offset(TOPIC, q);
            out.extend((0..max).map(|o| (b.to_string(), q, o)));
        }
    }
    out
}

#[test]
fn pop_consumer_consumes_everything_from_both_brokers_exactly_once() {
    let queues = 4;
    let mut world = world(1, 1, queues);
    let mut h = Harness::new(1);
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    put_all(&mut world, queues, 5);
    let total = 2 * 4 * 5;
    let ok = h
        .run_until(&mut world, |_, w| acked(w) == total, secs(20))
        .unwrap();
    assert!(ok, "acked {} of {total}", acked(&world));
    // Longer than the invisible time: nothing comes back.
    h.run(&mut world, secs(8)).unwrap();
    let got = deliveries(&h);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        stored(&world, queues)
    );
    let twice: Vec<_> = got.iter().filter(|(_, d)| d.len() != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(got.values().all(|d| d[0].2 == 0), "no reconsume");
    for b in BROKERS {
        let broker = world.broker_ref(b);
        assert_eq!(broker.pop_in_flight(GROUP, TOPIC), 0, "{b}");
        assert_eq!(broker.pop_acked(GROUP, TOPIC), 20, "{b}");
        assert_eq!(broker.requests_seen(RequestCode::AckMessage), 20, "{b}");
        assert_eq!(
            broker.requests_seen(RequestCode::ChangeMessageInvisibleTime),
            0
        );
        for q in 0..queues {
            assert_eq!(broker.pop_position(GROUP, TOPIC, q), Some(5), "{b} {q}");
        }
    }
}

#[test]
fn lost_acks_bring_the_messages_back_after_the_invisible_time() {
    let mut world = world(2, 1, 1);
    let mut h = Harness::new(1);
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    // The three acks of broker-a's messages never arrive.
    world.broker("broker-a").drop_next_acks(3);
    let put_at = world.elapsed();
    put_all(&mut world, 1, 3);
    let ok = h
        .run_until(&mut world, |_, w| acked(w) == 6, secs(30))
        .unwrap();
    assert!(ok, "acked {}", acked(&world));
    h.run(&mut world, secs(10)).unwrap();
    let got = deliveries(&h);
    assert_eq!(got.len(), 6);
    for ((broker, _, offset), d) in &got {
        if broker == "broker-a" {
            // Its first ack was lost and its retries came after the message was popped
            // again (stale handles ack nothing): exactly one redelivery, after 5 s.
            assert_eq!(d.len(), 2, "{broker} {offset}: {d:?}");
            assert_eq!((d[0].2, d[1].2), (0, 1), "reconsume times: {d:?}");
            let gap = d[1].0 - d[0].0;
            assert!(gap >= secs(5) && gap < secs(6), "came back after {gap:?}");
        } else {
            assert_eq!(d.len(), 1, "{broker} {offset}: {d:?}");
            assert!(d[0].0 - put_at < secs(1));
        }
    }
    assert_eq!(in_flight(&world), 0);
    assert_eq!(world.broker_ref("broker-a").pop_acked(GROUP, TOPIC), 3);
    // 3 lost, 3 retried with the old handle, 3 with the new one.
    assert!(
        world
            .broker_ref("broker-a")
            .requests_seen(RequestCode::AckMessage)
            >= 9
    );
}

#[test]
fn consumption_resumes_after_a_broker_restart_and_acks_survive_it() {
    let queues = 2;
    let mut world = world(3, 1, queues);
    let mut h = Harness::new(1);
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    put_all(&mut world, queues, 4);
    // Deliveries are held ~1 s before they are acked.
    h.policy = Box::new(|_| None);
    let mut restarted_at = None;
    let mut out_at_restart = 0;
    for step in 0..60 {
        h.run(&mut world, ms(250)).unwrap();
        if step == 2 {
            out_at_restart = world.broker_ref("broker-a").pop_in_flight(GROUP, TOPIC);
            world.restart_broker("broker-a");
            restarted_at = Some(world.elapsed());
        }
        if step == 20 {
            put_all(&mut world, queues, 3);
        }
        let now = world.elapsed();
        let (due, keep): (Vec<Seen>, Vec<Seen>) = std::mem::take(&mut h.held)
            .into_iter()
            .partition(|s| now - s.at >= secs(1));
        h.held = keep;
        let t = world.now();
        for s in due {
            let _ = world
                .client(s.client)
                .ack(t, s.delivery, ConsumeOutcome::Success);
        }
    }
    h.policy = Box::new(|_| Some(ConsumeOutcome::Success));
    h.ack_held(&mut world, ConsumeOutcome::Success);
    h.run(&mut world, secs(10)).unwrap();
    let restarted_at = restarted_at.unwrap();
    assert!(out_at_restart > 0, "messages were out at the restart");
    let got = deliveries(&h);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        stored(&world, queues),
        "every message consumed"
    );
    let after: Vec<_> = got
        .iter()
        .filter(|((b, ..), d)| b == "broker-a" && d.iter().any(|x| x.0 > restarted_at))
        .collect();
    assert!(!after.is_empty(), "broker-a delivered after its restart");
    // The pop state outlived the restart: the messages out at the restart were acked by
    // their handles afterwards, none came back.
    let twice: Vec<_> = got.iter().filter(|(_, d)| d.len() != 1).collect();
    assert!(twice.is_empty(), "{twice:?}");
    assert_eq!(in_flight(&world), 0);
    assert_eq!(acked(&world), 2 * 2 * 7);
}

#[test]
fn a_dead_consumers_messages_go_to_another_member_after_the_invisible_time() {
    let mut world = world(4, 2, 1);
    let mut h = Harness::new(2);
    // Client 0 never settles anything.
    h.policy = Box::new(|s| (s.client != 0).then_some(ConsumeOutcome::Success));
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    put_all(&mut world, 1, 3);
    h.run(&mut world, secs(1)).unwrap();
    assert_eq!(h.held.len(), 6, "client 0 holds every message");
    // Client 0 dies: nothing it sends or is sent arrives any more (its renewals neither).
    let dead = Rc::new(Cell::new(0u32));
    let counter = dead.clone();
    world.net().set_hook(move |f| {
        if f.client == 0 {
            counter.set(counter.get() + 1);
            HookAction::Drop
        } else {
            HookAction::Deliver
        }
    });
    start(&mut world, &mut h, 1, pop_builder(secs(5)));
    let ok = h
        .run_until(&mut world, |_, w| acked(w) == 6, secs(20))
        .unwrap();
    assert!(ok, "acked {}", acked(&world));
    assert!(dead.get() > 0, "client 0 kept trying");
    let got = deliveries(&h);
    assert_eq!(got.len(), 6);
    for (place, d) in &got {
        assert_eq!(d[0].1, 0, "{place:?}: {d:?}");
        let by_1: Vec<_> = d.iter().filter(|x| x.1 == 1).collect();
        assert_eq!(by_1.len(), 1, "{place:?}: {d:?}");
        assert!(
            by_1[0].0 >= d[0].0 + secs(5),
            "{place:?} given to client 1 before the invisible time: {d:?}"
        );
        assert_eq!(by_1[0].2, 1, "a redelivery: reconsume 1");
    }
    assert_eq!(in_flight(&world), 0);
}

#[test]
fn reconsume_later_brings_the_message_back_after_the_first_pop_retry_delay() {
    let mut world = world(5, 1, 1);
    let mut h = Harness::new(1);
    h.policy = Box::new(|s| {
        Some(if s.messages[0].reconsume_times == 0 {
            ConsumeOutcome::ReconsumeLater { delay_level: 0 }
        } else {
            ConsumeOutcome::Success
        })
    });
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    put(&mut world, "broker-a", 0, 1);
    let ok = h
        .run_until(&mut world, |_, w| acked(w) == 1, secs(30))
        .unwrap();
    assert!(ok);
    h.run(&mut world, secs(10)).unwrap();
    let got = deliveries(&h);
    let d = &got[&("broker-a".to_string(), 0, 0)];
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!((d[0].2, d[1].2), (0, 1));
    let gap = d[1].0 - d[0].0;
    assert!(gap >= secs(10) && gap < secs(11), "back after {gap:?}");
    let a = world.broker_ref("broker-a");
    assert_eq!(a.requests_seen(RequestCode::ChangeMessageInvisibleTime), 1);
    assert_eq!(a.pop_in_flight(GROUP, TOPIC), 0);
}

/// The broker refuses every change of invisible time (rocketmq-rust 1.0.0): the client hands
/// the message out again itself after the retry delay and acks it with its old handle, which
/// the broker takes (the invisible time, 30 s, has not passed).
#[test]
fn a_refused_retry_is_handed_out_again_by_the_client_and_acked_by_the_old_handle() {
    let mut world = world(15, 1, 1);
    let mut h = Harness::new(1);
    h.policy = Box::new(|s| {
        Some(if s.messages[0].reconsume_times == 0 {
            ConsumeOutcome::ReconsumeLater { delay_level: 0 }
        } else {
            ConsumeOutcome::Success
        })
    });
    start(&mut world, &mut h, 0, pop_builder(secs(30)));
    world.broker("broker-a").fail_next_changes(10);
    put(&mut world, "broker-a", 0, 2);
    let ok = h
        .run_until(&mut world, |_, w| acked(w) == 2, secs(20))
        .unwrap();
    assert!(ok, "acked {}", acked(&world));
    // Past the first pop's invisible time: the acked messages do not come back.
    h.run(&mut world, secs(30)).unwrap();
    let got = deliveries(&h);
    assert_eq!(got.len(), 2);
    for (place, d) in &got {
        assert_eq!(d.len(), 2, "{place:?}: {d:?}");
        assert_eq!((d[0].2, d[1].2), (0, 1), "{place:?}: {d:?}");
        let gap = d[1].0 - d[0].0;
        assert!(gap >= secs(10) && gap < secs(11), "back after {gap:?}");
    }
    let a = world.broker_ref("broker-a");
    assert_eq!(a.requests_seen(RequestCode::ChangeMessageInvisibleTime), 2);
    assert_eq!(a.pop_in_flight(GROUP, TOPIC), 0);
    assert_eq!(a.pop_acked(GROUP, TOPIC), 2);
}

#[test]
fn a_long_running_delivery_is_renewed_and_nobody_else_gets_it() {
    let invisible = secs(5);
    let mut world = world(6, 2, 1);
    let mut h = Harness::new(2);
    h.policy = Box::new(|s| (s.client != 0).then_some(ConsumeOutcome::Success));
    start(&mut world, &mut h, 0, pop_builder(invisible));
    put(&mut world, "broker-a", 0, 1);
    h.run(&mut world, ms(100)).unwrap();
    assert_eq!(h.held.len(), 1);
    start(&mut world, &mut h, 1, pop_builder(invisible));
    // Held three times the invisible time.
    h.run(&mut world, invisible * 3).unwrap();
    assert_eq!(h.seen.len(), 1, "delivered once: {:?}", deliveries(&h));
    let a = world.broker_ref("broker-a");
    assert_eq!(a.pop_in_flight(GROUP, TOPIC), 1);
    let renewals = a.requests_seen(RequestCode::ChangeMessageInvisibleTime);
    assert!((3..=5).contains(&renewals), "{renewals} renewals");
    h.ack_held(&mut world, ConsumeOutcome::Success);
    h.run(&mut world, invisible * 2).unwrap();
    assert_eq!(h.seen.len(), 1);
    let a = world.broker_ref("broker-a");
    assert_eq!(a.pop_acked(GROUP, TOPIC), 1, "acked by its renewed handle");
    assert_eq!(a.pop_in_flight(GROUP, TOPIC), 0);
    assert_eq!(a.requests_seen(RequestCode::AckMessage), 1);
}

/// Orderly POP: every queue is handed out in offset order, one batch at a time (the broker
/// blocks the queue while a batch is out); a suspended batch comes back whole with its
/// reconsume count.
#[test]
fn orderly_pop_hands_out_each_queue_in_order_one_batch_at_a_time() {
    let queues = 2;
    let mut world = world(7, 1, queues);
    let mut h = Harness::new(1);
    h.policy = Box::new(|_| None);
    let config = pop_builder(secs(5)).consume_mode(ConsumeMode::Orderly).pop(
        PopConfig::default()
            .with_invisible_time(secs(5))
            .with_poll_time(secs(2))
            .with_batch_size(2),
    );
    start(&mut world, &mut h, 0, config);
    put_all(&mut world, queues, 6);
    let suspended = mq("broker-a", 0);
    // (queue, offsets, reconsume times, delivered, settled, suspended)
    type Span = (MessageQueue, Vec<i64>, Vec<i32>, Duration, Duration, bool);
    let mut spans: Vec<Span> = Vec::new();
    let mut suspended_once = false;
    for _ in 0..120 {
        h.run(&mut world, ms(250)).unwrap();
        let now = world.elapsed();
        let (due, keep): (Vec<Seen>, Vec<Seen>) = std::mem::take(&mut h.held)
            .into_iter()
            .partition(|s| now - s.at >= secs(1));
        h.held = keep;
        let t = world.now();
        for s in due {
            // The first full batch of broker-a/0 (the first one may hold one message: the
            // held pop is answered as soon as the first message is stored).
            let suspend = !suspended_once && s.queue == suspended && s.messages.len() == 2;
            suspended_once |= suspend;
            let outcome = if suspend {
                ConsumeOutcome::SuspendCurrentQueue(Some(secs(1)))
            } else {
                ConsumeOutcome::Success
            };
            world.client(0).ack(t, s.delivery, outcome).unwrap();
            spans.push((
                s.queue.clone(),
                s.messages.iter().map(|m| m.queue_offset).collect(),
                s.messages.iter().map(|m| m.reconsume_times).collect(),
                s.at,
                now,
                suspend,
            ));
        }
        if acked(&world) == 24 && h.held.is_empty() {
            break;
        }
    }
    assert_eq!(acked(&world), 24, "{spans:#?}");
    assert_eq!(in_flight(&world), 0);
    for q in all_queues(queues) {
        let mine: Vec<&Span> = spans.iter().filter(|s| s.0 == q).collect();
        // One batch at a time: each delivered after the previous one was settled.
        for w in mine.windows(2) {
            assert!(w[1].3 >= w[0].4, "{q:?} overlapping batches: {mine:#?}");
        }
        // In order: the next batch starts behind the previous one (the same batch again
        // after a suspension, with reconsume counts).
        let mut expect = 0;
        for s in &mine {
            assert_eq!(s.1.first(), Some(&expect), "{q:?}: {mine:#?}");
            assert!(s.1.windows(2).all(|w| w[1] == w[0] + 1), "{mine:#?}");
            if !s.5 {
                expect = s.1.last().unwrap() + 1;
            }
        }
        assert_eq!(expect, 6, "{q:?}: {mine:#?}");
        let suspended_batches = mine.iter().filter(|s| s.5).count();
        if q == suspended {
            assert_eq!(suspended_batches, 1);
            let i = mine.iter().position(|s| s.5).unwrap();
            let (first, again) = (mine[i], mine[i + 1]);
            assert_eq!(again.1, first.1, "the suspended batch again");
            assert!(again.2.iter().all(|c| *c >= 1), "reconsume: {again:?}");
            assert!(again.3 >= first.4 + secs(1), "after the suspension");
            assert!(first.2.iter().all(|c| *c == 0));
        } else {
            assert_eq!(suspended_batches, 0);
        }
        let retried = mine
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || !mine[i - 1].5)
            .all(|(_, s)| s.2.iter().all(|c| *c == 0));
        assert!(
            retried,
            "only a batch after a suspension is reconsumed: {mine:#?}"
        );
    }
}

/// An orderly pop whose answer is lost keeps its attempt id: the pop sent again gets the same
/// messages back at once, long before their invisible time (60 s) would unblock the queue.
#[test]
fn orderly_pop_with_a_lost_answer_gets_the_same_messages_back_by_its_attempt_id() {
    let mut world = world(8, 1, 1);
    let mut h = Harness::new(1);
    let config = builder().consume_mode(ConsumeMode::Orderly).pop(
        PopConfig::default()
            .with_invisible_time(secs(60))
            .with_poll_time(secs(2)),
    );
    start(&mut world, &mut h, 0, config);
    let broker_a = world.broker_ref("broker-a").config().addr.clone();
    let dropped: Rc<RefCell<Vec<String>>> = Rc::default();
    let lost = dropped.clone();
    world.net().set_hook(move |f| {
        let pop_answer = f.dir == Dir::ToClient
            && f.server == broker_a
            && f.command.is_response()
            && f.command.field("startOffsetInfo").is_some();
        if pop_answer && lost.borrow().is_empty() {
            let offsets = f.command.field("msgOffsetInfo").unwrap_or_default();
            lost.borrow_mut().push(offsets.to_string());
            return HookAction::Drop;
        }
        HookAction::Deliver
    });
    let put_at = world.elapsed();
    put(&mut world, "broker-a", 0, 2);
    let ok = h
        .run_until(&mut world, |_, w| acked(w) == 2, secs(40))
        .unwrap();
    assert!(ok, "acked {}", acked(&world));
    // The held pop was answered as soon as the first message was stored.
    assert_eq!(*dropped.borrow(), ["0 0 0"], "the first answer was lost");
    h.run(&mut world, secs(5)).unwrap();
    let on_a: Vec<_> = h
        .seen
        .iter()
        .filter(|s| s.queue == mq("broker-a", 0))
        .collect();
    let offsets: Vec<Vec<i64>> = on_a
        .iter()
        .map(|s| s.messages.iter().map(|m| m.queue_offset).collect())
        .collect();
    assert_eq!(offsets, [vec![0], vec![1]], "{on_a:#?}");
    let s = on_a[0];
    assert!(
        s.messages.iter().all(|m| m.reconsume_times == 0),
        "the same attempt"
    );
    let after = s.at - put_at;
    // The lost answer is waited out (poll time + 10 s), then the error delay (3 s).
    assert!(
        after >= secs(12) && after < secs(20),
        "delivered {after:?} after the put (invisible time 60 s)"
    );
    assert_eq!(in_flight(&world), 0);
}

#[test]
fn an_idle_pop_consumer_long_polls_without_busy_looping() {
    let mut world = world(9, 1, 4);
    let mut h = Harness::new(1);
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    h.run(&mut world, secs(4)).unwrap();
    let before: Vec<u64> = BROKERS
        .iter()
        .map(|b| world.broker_ref(b).requests_seen(RequestCode::PopMessage))
        .collect();
    let wakeups = world.wakeups(0);
    h.run(&mut world, secs(60)).unwrap();
    for (b, before) in BROKERS.iter().zip(before) {
        let pops = world.broker_ref(b).requests_seen(RequestCode::PopMessage) - before;
        // One pop of every queue per broker, held its 2 s poll time.
        assert!((28..=33).contains(&pops), "{b}: {pops} pops in 60 s");
    }
    let wakeups = world.wakeups(0) - wakeups;
    assert!(wakeups <= 20, "{wakeups} wake-ups in 60 s");
    assert!(h.seen.is_empty());
}

/// Requests the model cannot read get error answers (the broker never panics).
#[test]
fn malformed_pop_requests_get_error_answers() {
    let mut world = world(10, 1, 1);
    put(&mut world, "broker-a", 0, 1);
    let addr = world.broker_ref("broker-a").config().addr.clone();
    let handle = "0 1 60000 0 0 broker-a 0 0".to_string();
    let ack = |extra_info: &str, offset: i64| AckMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 0,
        extra_info: extra_info.into(),
        offset,
        broker_name: None,
    };
    let pop = |queue_id: i32, max_msg_nums: i32| PopMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id,
        max_msg_nums,
        invisible_time: 5_000,
        poll_time: 0,
        ..PopMessageRequestHeader::default()
    };
    let change = ChangeInvisibleTimeRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 0,
        extra_info: handle.clone(),
        offset: 0,
        invisible_time: 1_000,
        broker_name: None,
    };
    let cases: Vec<(RemotingCommand, ResponseCode)> = vec![
        (
            RemotingCommand::request(RequestCode::PopMessage),
            ResponseCode::SystemError,
        ),
        (
            RemotingCommand::request(RequestCode::AckMessage),
            ResponseCode::SystemError,
        ),
        (
            RemotingCommand::request(RequestCode::ChangeMessageInvisibleTime),
            ResponseCode::SystemError,
        ),
        (
            hdr::request(RequestCode::PopMessage, &pop(9, 1)),
            ResponseCode::SystemError,
        ),
        (
            hdr::request(RequestCode::PopMessage, &pop(-1, 64)),
            ResponseCode::SystemError,
        ),
        (
            hdr::request(RequestCode::PopMessage, &pop(0, i32::MIN)),
            ResponseCode::SystemError,
        ),
        (
            hdr::request(
                RequestCode::PopMessage,
                &PopMessageRequestHeader {
                    topic: "nope".into(),
                    ..pop(0, 1)
                },
            ),
            ResponseCode::TopicNotExist,
        ),
        (
            hdr::request(RequestCode::AckMessage, &ack("garbage", 0)),
            ResponseCode::SystemError,
        ),
        (
            hdr::request(RequestCode::AckMessage, &ack(&handle, 7)),
            ResponseCode::NoMessage,
        ),
        (
            hdr::request(RequestCode::AckMessage, &ack(&handle, i64::MIN)),
            ResponseCode::NoMessage,
        ),
        // Never popped: nothing acked, answered as a Java broker does.
        (
            hdr::request(RequestCode::AckMessage, &ack(&handle, 0)),
            ResponseCode::Success,
        ),
        // Not in flight: the change is refused.
        (
            hdr::request(RequestCode::ChangeMessageInvisibleTime, &change),
            ResponseCode::SystemError,
        ),
        (
            hdr::request(
                RequestCode::ChangeMessageInvisibleTime,
                &ChangeInvisibleTimeRequestHeader {
                    invisible_time: -1,
                    ..change.clone()
                },
            ),
            ResponseCode::SystemError,
        ),
        // A pop with a huge invisible time and poll time is served (and not held forever).
        (
            hdr::request(
                RequestCode::PopMessage,
                &PopMessageRequestHeader {
                    invisible_time: i64::MAX,
                    poll_time: i64::MAX,
                    ..pop(0, 1)
                },
            ),
            ResponseCode::Success,
        ),
        // Popped now, but this handle is not its pop's: answered, nothing acked.
        (
            hdr::request(RequestCode::AckMessage, &ack(&handle, 0)),
            ResponseCode::Success,
        ),
    ];
    for (request, expect) in cases {
        let now = world.now();
        let shown = format!("{request:?}");
        let op = world.client(0).invoke(now, &addr, request, secs(3));
        world
            .drive_until(|w| w.response(0, op).is_some(), secs(5))
            .unwrap();
        let (_, result) = world.response(0, op).unwrap();
        let code = result.as_ref().unwrap().response_code();
        assert_eq!(code, expect, "{shown}");
    }
    let a = world.broker_ref("broker-a");
    assert_eq!(
        a.pop_in_flight(GROUP, TOPIC),
        1,
        "a stale handle acks nothing"
    );
    assert_eq!(a.pop_acked(GROUP, TOPIC), 0);
}

/// Core bug (see the report): a consumer configured to start from the first offset sends
/// `initMode` 1, which a Java broker reads as `ConsumeInitMode.MAX` (start from the last
/// message), so messages stored before the group's first pop are skipped (all but the last
/// of each queue).
#[test]
fn pop_consumer_from_first_offset_gets_messages_stored_before_it_started() {
    let mut world = world(11, 1, 1);
    put_all(&mut world, 1, 3);
    let mut h = Harness::new(1);
    start(&mut world, &mut h, 0, pop_builder(secs(5)));
    h.run(&mut world, secs(5)).unwrap();
    let got: BTreeSet<Place> = deliveries(&h).into_keys().collect();
    assert_eq!(got, stored(&world, 1));
}
