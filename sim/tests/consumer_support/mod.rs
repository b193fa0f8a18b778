//! Helpers shared by the consumer scenarios: a world with a topic on both brokers, messages put
//! straight into the simulated stores, and a harness that records every delivery and settles
//! it with a policy the scenario chooses.

#![allow(dead_code)] // each scenario file uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use rocketwire_core::body::{ConsumeFromWhere, MessageQueue};
use rocketwire_core::consumer::{ConsumerConfig, ConsumerConfigBuilder, Subscription};
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::{ConsumeOutcome, ConsumerId, DeliveryId, Event};
use rocketwire_sim::{SimError, World, WorldConfig};

/// The topic every scenario consumes.
pub(crate) const TOPIC: &str = "T";
/// The consumer group.
pub(crate) const GROUP: &str = "cg";
/// Broker names, in the order of [`WorldConfig::new`].
pub(crate) const BROKERS: [&str; 2] = ["broker-a", "broker-b"];

pub(crate) fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A world with `clients` cores and [`TOPIC`] with `queues` queues on each broker.
pub(crate) fn world(seed: u64, clients: usize, queues: i32) -> World {
    let mut config = WorldConfig::new(seed);
    config.clients = clients;
    let mut world = World::new(config);
    for b in BROKERS {
        world.broker(b).create_topic(TOPIC, queues);
    }
    world
}

/// Every queue of [`TOPIC`] (both brokers).
pub(crate) fn all_queues(queues: i32) -> BTreeSet<MessageQueue> {
    BROKERS
        .iter()
        .flat_map(|b| (0..queues).map(move |q| mq(b, q)))
        .collect()
}

pub(crate) fn mq(broker: &str, queue_id: i32) -> MessageQueue {
    MessageQueue {
        topic: TOPIC.to_string(),
        broker_name: broker.to_string(),
        queue_id,
    }
}

/// Stores `n` messages into `broker`'s queue `queue_id` of [`TOPIC`]; bodies name their slot.
pub(crate) fn put(world: &mut World, broker: &str, queue_id: i32, n: usize) {
    let now = world.now();
    for _ in 0..n {
        let next = world.broker(broker).store().max_offset(TOPIC, queue_id);
        let body = format!("{broker}/{queue_id}/{next}");
        let stored =
            world
                .broker(broker)
                .put_message(now, Message::new(TOPIC, Bytes::from(body)), queue_id);
        assert_eq!(stored.queue_offset, next);
    }
}

/// Stores `n` messages into every queue.
pub(crate) fn put_all(world: &mut World, queues: i32, n: usize) {
    for b in BROKERS {
        for q in 0..queues {
            put(world, b, q, n);
        }
    }
}

/// A clustering config of [`GROUP`] starting from the first offset.
pub(crate) fn builder() -> ConsumerConfigBuilder {
    ConsumerConfig::builder(GROUP).consume_from_where(ConsumeFromWhere::FirstOffset)
}

/// Creates a consumer of [`TOPIC`] on client `i`.
pub(crate) fn consumer(world: &mut World, i: usize, config: ConsumerConfig) -> ConsumerId {
    consumer_with(world, i, config, None)
}

pub(crate) fn consumer_with(
    world: &mut World,
    i: usize,
    config: ConsumerConfig,
    local: Option<&[u8]>,
) -> ConsumerId {
    let now = world.now();
    let sub = Subscription::tag(TOPIC, "*").unwrap();
    world
        .client(i)
        .create_consumer(now, config, vec![sub], local)
        .unwrap()
}

/// The broker-side committed offset of [`GROUP`] for `q`.
pub(crate) fn committed(world: &World, q: &MessageQueue) -> Option<i64> {
    world
        .broker_ref(&q.broker_name)
        .store()
        .consumer_offset(GROUP, &q.topic, q.queue_id)
}

/// One delivery as the harness saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) at: Duration,
    pub(crate) client: usize,
    pub(crate) consumer: ConsumerId,
    pub(crate) delivery: DeliveryId,
    pub(crate) queue: MessageQueue,
    pub(crate) messages: Vec<MessageExt>,
}

/// What the harness does with a delivery: settle it now with an outcome, or hold it.
pub(crate) type Policy = Box<dyn FnMut(&Seen) -> Option<ConsumeOutcome>>;

/// Records deliveries of every client and settles them with a policy.
pub(crate) struct Harness {
    cursors: Vec<usize>,
    pub(crate) seen: Vec<Seen>,
    /// Deliveries held (policy returned `None`), not yet acked.
    pub(crate) held: Vec<Seen>,
    /// Other events, per client, in order.
    pub(crate) other: Vec<Vec<(Duration, Event)>>,
    pub(crate) policy: Policy,
}

impl Harness {
    pub(crate) fn new(clients: usize) -> Self {
        Self {
            cursors: vec![0; clients],
            seen: Vec::new(),
            held: Vec::new(),
            other: vec![Vec::new(); clients],
            policy: Box::new(|_| Some(ConsumeOutcome::Success)),
        }
    }

    fn has_new(&self, world: &World) -> bool {
        self.cursors
            .iter()
            .enumerate()
            .any(|(i, c)| world.events(i).len() > *c)
    }

    /// Takes new events: deliveries go through the policy (acked at once unless held).
    pub(crate) fn handle(&mut self, world: &mut World) {
        for i in 0..self.cursors.len() {
            while let Some(e) = world.events(i).get(self.cursors[i]).cloned() {
                self.cursors[i] += 1;
                match e.event {
                    Event::Deliver {
                        consumer,
                        delivery,
                        queue,
                        messages,
                    } => {
                        let seen = Seen {
                            at: e.at,
                            client: i,
                            consumer,
                            delivery,
                            queue,
                            messages,
                        };
                        self.seen.push(seen.clone());
                        match (self.policy)(&seen) {
                            Some(outcome) => {
                                let now = world.now();
                                // Refused when the consumer closed meanwhile.
                                let _ = world.client(i).ack(now, delivery, outcome);
                            }
                            None => self.held.push(seen),
                        }
                    }
                    other => self.other[i].push((e.at, other)),
                }
            }
        }
    }

    /// Acks every held delivery with `outcome`.
    pub(crate) fn ack_held(&mut self, world: &mut World, outcome: ConsumeOutcome) {
        let now = world.now();
        for s in std::mem::take(&mut self.held) {
            let _ = world.client(s.client).ack(now, s.delivery, outcome);
        }
    }

    /// Drives for `span`, handling events as they come.
    pub(crate) fn run(&mut self, world: &mut World, span: Duration) -> Result<(), SimError> {
        self.run_until(world, |_, _| false, span).map(|_| ())
    }

    /// Drives until `done` holds (checked after each batch of events) or `max` of virtual
    /// time passes; whether it held.
    pub(crate) fn run_until(
        &mut self,
        world: &mut World,
        mut done: impl FnMut(&Harness, &World) -> bool,
        max: Duration,
    ) -> Result<bool, SimError> {
        let end = world.elapsed() + max;
        loop {
            self.handle(world);
            if done(self, world) {
                return Ok(true);
            }
            let left = end.saturating_sub(world.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            let this = &*self;
            match world.drive_until(|w| this.has_new(w) || done(this, w), left) {
                Ok(()) => {}
                Err(SimError::NotReached(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Offsets delivered per queue (with repeats).
    pub(crate) fn delivered(&self) -> BTreeMap<MessageQueue, Vec<i64>> {
        let mut out: BTreeMap<MessageQueue, Vec<i64>> = BTreeMap::new();
        for s in &self.seen {
            out.entry(s.queue.clone())
                .or_default()
                .extend(s.messages.iter().map(|m| m.queue_offset));
        }
        out
    }

    /// Events of `client` other than deliveries.
    pub(crate) fn events_of(&self, client: usize) -> &[(Duration, Event)] {
        &self.other[client]
    }
}

/// The report of consumer `c`'s close on client 0.
pub(crate) fn close_report(h: &Harness, c: ConsumerId) -> rocketwire_core::ConsumerCloseReport {
    h.events_of(0)
        .iter()
        .find_map(|(_, e)| match e {
            Event::ConsumerClosed {
                consumer, report, ..
            } if *consumer == c => Some(report.clone()),
            _ => None,
        })
        .expect("the consumer closed")
}

/// SplitMix64, for the scenario's own choices.
pub(crate) struct Dice(pub(crate) u64);

impl Dice {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A duration from `lo` to `hi` ms (both included).
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi.saturating_sub(lo) + 1))
    }
}
