//! Misuse is a typed error: every command that takes an id refuses one the core never handed
//! out or that was closed, with the [`Misuse`] naming it, and changes nothing.

mod consumer_support;

use bytes::Bytes;
use consumer_support::*;
use rocketwire_core::consumer::Subscription;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{
    ConsumeOutcome, ConsumerId, DeliveryId, Event, Misuse, ProducerId, SendMode, SendTarget,
};
use rocketwire_sim::World;

/// Runs until client 0 emitted an event `f` accepts (5 s at most).
fn saw(world: &mut World, h: &mut Harness, f: impl Fn(&Event) -> bool) -> bool {
    h.run_until(
        world,
        |h, _| h.events_of(0).iter().any(|(_, e)| f(e)),
        secs(5),
    )
    .unwrap()
}

fn message() -> Message {
    Message::new(TOPIC, Bytes::from_static(b"x"))
}

#[test]
fn unknown_and_closed_producers_are_refused() {
    let mut world = world(31, 1, 1);
    let now = world.now();
    let core = world.client(0);
    let ghost = ProducerId(77);
    let (target, mode) = (SendTarget::Default, SendMode::Sync);
    assert_eq!(
        core.send(now, ghost, message(), target.clone(), mode),
        Err(Misuse::UnknownProducer(ghost))
    );
    assert_eq!(
        core.send_batch(now, ghost, vec![message()], target.clone(), mode),
        Err(Misuse::UnknownProducer(ghost))
    );
    assert_eq!(
        core.send_transactional(now, ghost, message()),
        Err(Misuse::UnknownProducer(ghost))
    );
    assert_eq!(
        core.close_producer(now, ghost),
        Err(Misuse::UnknownProducer(ghost))
    );

    let config = ProducerConfig::builder("pg").build().unwrap();
    let p = core.create_producer(now, config, QueueSelector::RoundRobin);
    // A send in flight keeps the closing producer around until it ends.
    core.send(now, p, message(), target.clone(), mode)
        .expect("a live producer sends");
    let close = core.close_producer(now, p).expect("a live producer closes");
    assert_eq!(core.close_producer(now, p), Err(Misuse::ProducerClosing(p)));
    assert_eq!(
        core.send(now, p, message(), target, mode),
        Err(Misuse::ProducerClosing(p))
    );
    // Once closed, the id is unknown.
    let mut h = Harness::new(1);
    assert!(saw(&mut world, &mut h, |e| {
        matches!(e, Event::ProducerClosed { op, .. } if *op == close)
    }));
    let now = world.now();
    assert_eq!(
        world.client(0).close_producer(now, p),
        Err(Misuse::UnknownProducer(p))
    );
}

#[test]
fn unknown_closing_and_closed_consumers_are_refused() {
    let mut world = world(32, 1, 1);
    put_all(&mut world, 1, 1);
    let now = world.now();
    let ghost = ConsumerId(9);
    let q = mq("broker-a", 0);
    let sub = || Subscription::tag(TOPIC, "*").unwrap();
    {
        let core = world.client(0);
        let unknown = Err(Misuse::UnknownConsumer(ghost));
        assert_eq!(core.close_consumer(now, ghost).map(|_| ()), unknown);
        assert_eq!(core.commit_offsets(now, ghost).map(|_| ()), unknown);
        assert_eq!(core.subscribe(now, ghost, sub()), unknown);
        assert_eq!(core.unsubscribe(now, ghost, TOPIC), unknown);
        assert_eq!(core.assign(now, ghost, vec![q.clone()]), unknown);
        assert_eq!(core.seek(now, ghost, &q, 0), unknown);
        assert_eq!(core.pause(ghost, std::slice::from_ref(&q)), unknown);
        assert_eq!(core.resume(now, ghost, std::slice::from_ref(&q)), unknown);
        assert_eq!(core.abandon_deliveries(now, ghost), unknown);
        assert_eq!(
            core.ack(now, DeliveryId(5), ConsumeOutcome::Success),
            Err(Misuse::UnknownDelivery(DeliveryId(5)))
        );
    }

    let c = consumer(&mut world, 0, builder().build().unwrap());
    let mut h = Harness::new(1);
    h.policy = Box::new(|_| None);
    let held = h
        .run_until(&mut world, |h, _| !h.held.is_empty(), secs(5))
        .unwrap();
    assert!(held, "a delivery is out");
    let now = world.now();
    let core = world.client(0);
    assert_eq!(
        core.unsubscribe(now, c, "OTHER"),
        Err(Misuse::NotSubscribed {
            consumer: c,
            topic: "OTHER".into()
        })
    );
    let not_ours = mq("broker-b", 3);
    assert_eq!(
        core.seek(now, c, &not_ours, 0),
        Err(Misuse::QueueNotHeld {
            consumer: c,
            queue: not_ours
        })
    );
    let close = core.close_consumer(now, c).expect("a live consumer closes");
    let closing = Err(Misuse::ConsumerClosing(c));
    assert_eq!(core.close_consumer(now, c).map(|_| ()), closing);
    assert_eq!(core.commit_offsets(now, c).map(|_| ()), closing);
    assert_eq!(core.subscribe(now, c, sub()), closing);
    assert_eq!(core.seek(now, c, &q, 0), closing);
    // A closing consumer still takes the acks of its deliveries out, once each.
    for s in std::mem::take(&mut h.held) {
        assert_eq!(core.ack(now, s.delivery, ConsumeOutcome::Success), Ok(()));
        assert_eq!(
            core.ack(now, s.delivery, ConsumeOutcome::Success),
            Err(Misuse::UnknownDelivery(s.delivery))
        );
    }
    assert!(saw(&mut world, &mut h, |e| {
        matches!(e, Event::ConsumerClosed { op, .. } if *op == close)
    }));
    let now = world.now();
    assert_eq!(
        world.client(0).close_consumer(now, c).map(|_| ()),
        Err(Misuse::UnknownConsumer(c))
    );
}

#[test]
fn an_assigned_consumer_does_not_subscribe() {
    let mut world = world(33, 1, 1);
    let c = consumer(&mut world, 0, builder().build().unwrap());
    let now = world.now();
    let core = world.client(0);
    core.assign(now, c, vec![mq("broker-a", 0)])
        .expect("a live consumer");
    let sub = Subscription::tag(TOPIC, "*").unwrap();
    assert_eq!(core.subscribe(now, c, sub), Err(Misuse::Assigned(c)));
    assert_eq!(core.unsubscribe(now, c, TOPIC), Err(Misuse::Assigned(c)));
}

/// Members of a group are told apart by client id: a second live consumer of a group in one
/// client would take every queue the first holds. It is refused; once the first closed, the
/// group can be used again; another group is fine meanwhile.
#[test]
fn a_group_is_used_once_per_client() {
    let mut world = world(33, 1, 1);
    let now = world.now();
    let sub = || vec![Subscription::tag(TOPIC, "*").unwrap()];
    let core = world.client(0);
    let first = core
        .create_consumer(now, builder().build().unwrap(), sub(), None)
        .expect("the first consumer of the group");
    assert_eq!(
        core.create_consumer(now, builder().build().unwrap(), sub(), None),
        Err(rocketwire_core::ConsumerError::GroupInUse {
            group: GROUP.to_owned()
        })
    );
    let other = rocketwire_core::consumer::ConsumerConfig::builder("another_group")
        .build()
        .unwrap();
    core.create_consumer(now, other, sub(), None)
        .expect("another group");
    core.close_consumer(now, first).expect("close");
    core.create_consumer(now, builder().build().unwrap(), sub(), None)
        .expect("the group, once its consumer is closing");
}
