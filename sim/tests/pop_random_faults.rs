//! POP consumers (RocketMQ 5.x) of one group on up to three clients over both brokers join,
//! close or die (stop settling and are cut off from the network) at random while messages
//! arrive, under random faults: acks swallowed, changes of invisible time refused, connection
//! resets, broker stalls and restarts. Handlers answer at random Success (most),
//! ReconsumeLater, Abandon, or hold a delivery a while first. After the faults stop, a live
//! consumer on every surviving client runs until everything settles.
//!
//! Invariants per seed: every stored message is acked at its broker (nothing lost) and the
//! brokers have nothing of the group in flight at the end; no client busy-loops on pops;
//! orderly: a queue's batches never overlap (unless a fault let the holder's messages become
//! visible again) and no message is handed out ahead of an earlier one of its queue that was
//! not consumed. Seeds and transcripts can be chosen from the environment (see the tests'
//! docs); a failing seed's transcript is written to a file named in the failure, and
//! `ROCKETWIRE_SIM_PROGRESS=1` names each seed as it starts (to find one that hangs).

mod consumer_support;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use consumer_support::*;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumeMode, PopConfig};
use rocketwire_core::{
    ConsumeOutcome, ConsumerId, DeliveryId, Event, OpId, RequestCode, WallClock,
};
use rocketwire_sim::{Dir, HookAction, LinkId, World};

const QUEUES: i32 = 2;
const CLIENTS: usize = 3;
/// One step of the chaos phase.
const STEP: Duration = Duration::from_millis(250);
/// Steps of the chaos phase (60 s).
const CHAOS_STEPS: u32 = 240;
/// The longest the calm phase may take to settle everything.
const CALM_MAX: Duration = Duration::from_secs(150);

#[derive(Debug, Default)]
struct Totals {
    seeds: u64,
    messages: u64,
    deliveries: u64,
    /// Messages handed out more than once (each extra time counts).
    redelivered: u64,
    reconsume_later: u64,
    abandoned: u64,
    held: u64,
    joins: u64,
    closes: u64,
    deaths: u64,
    resets: u64,
    stalls: u64,
    restarts: u64,
    acks_dropped: u64,
    changes_refused: u64,
    /// The most POP_MESSAGE requests one client sent in one virtual second.
    max_pops_per_second: u32,
    /// The most of them beyond the answers with messages of that second and the one before.
    max_empty_pops_per_second: u32,
    /// Orderly: overlapping batches of a queue explained by a fault of their holder, by the
    /// first fault found.
    excused_overlaps: BTreeMap<&'static str, u64>,
    /// Connections replaced (resets, losses, restarts).
    connections_replaced: u64,
    /// Virtual time the calm phases took to settle, summed (ms).
    calm_ms: u128,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Member {
    Out,
    Live(ConsumerId),
    Closing(ConsumerId, OpId),
    Dead,
}

/// What the network saw, recorded by the hook (which also cuts dead clients off).
#[derive(Debug, Default)]
struct Wire {
    dead: [bool; CLIENTS],
    /// POP_MESSAGE requests sent, per (client, virtual second).
    pops: BTreeMap<(usize, u64), u32>,
    /// Pop answers with messages sent to a client, per (client, virtual second).
    found: BTreeMap<(usize, u64), u32>,
    /// The link each client last used to each broker, and when.
    links: BTreeMap<(usize, &'static str), (LinkId, Duration)>,
    /// Connections replaced (reset, lost, broken by a restart): from the last frame on the
    /// old one to the first on the new one.
    breaks: Vec<Fault>,
}

/// The handlers: their dice, their answers, and the deliveries they hold.
struct Hands {
    dice: Dice,
    orderly: bool,
    calm: bool,
    dead: [bool; CLIENTS],
    /// Answered deliveries: (client, delivery) → (when, outcome).
    answers: BTreeMap<(usize, DeliveryId), (Duration, ConsumeOutcome)>,
    /// Held deliveries: (client, delivery) → (answer at, outcome).
    plans: BTreeMap<(usize, DeliveryId), (Duration, ConsumeOutcome)>,
    reconsume_later: u64,
    abandoned: u64,
    held: u64,
}

impl Hands {
    fn outcome(&mut self, s: &Seen) -> ConsumeOutcome {
        let r = self.dice.below(1000);
        if r < 820 {
            return ConsumeOutcome::Success;
        }
        if r < 950 {
            self.reconsume_later += 1;
            if self.orderly && self.dice.chance(500) {
                return ConsumeOutcome::SuspendCurrentQueue(Some(self.dice.millis(100, 2_000)));
            }
            let first = s.messages.iter().all(|m| m.reconsume_times == 0);
            // Level 0 of a message consumed before waits 30 s and more: kept to first tries.
            let delay_level = if first && self.dice.chance(300) {
                0
            } else {
                1 + self.dice.below(2) as i32
            };
            return ConsumeOutcome::ReconsumeLater { delay_level };
        }
        self.abandoned += 1;
        ConsumeOutcome::Abandon
    }

    /// The policy: settle now, or hold (a plan says until when and how).
    fn decide(&mut self, s: &Seen, invisible: Duration) -> Option<ConsumeOutcome> {
        if self.dead[s.client] {
            return None;
        }
        let outcome = if self.calm {
            ConsumeOutcome::Success
        } else if self.dice.chance(150) {
            let outcome = self.outcome(s);
            let hold = self.dice.millis(100, 2 * invisible.as_millis() as u64);
            self.plans
                .insert((s.client, s.delivery), (s.at + hold, outcome));
            self.held += 1;
            return None;
        } else {
            self.outcome(s)
        };
        self.answers.insert((s.client, s.delivery), (s.at, outcome));
        Some(outcome)
    }
}

/// A fault and when it could act: at `broker`, for `client` only (a reset) or for all.
#[derive(Debug, Clone)]
struct Fault {
    from: Duration,
    to: Duration,
    broker: &'static str,
    client: Option<usize>,
    what: &'static str,
}

fn closed(h: &Harness, client: usize, op: OpId) -> bool {
    h.events_of(client)
        .iter()
        .any(|(_, e)| matches!(e, Event::ConsumerClosed { op: o, .. } if *o == op))
}

/// Whether every stored message of the group was acked at its broker and nothing is in
/// flight.
fn settled(world: &World) -> bool {
    BROKERS.iter().all(|b| {
        let broker = world.broker_ref(b);
        let stored: i64 = (0..QUEUES)
            .map(|q| broker.store().max_offset(TOPIC, q))
            .sum();
        broker.pop_in_flight(GROUP, TOPIC) == 0
            && broker.pop_acked(GROUP, TOPIC) == stored as u64
            && (0..QUEUES).all(|q| {
                let max = broker.store().max_offset(TOPIC, q);
                max == 0 || broker.pop_position(GROUP, TOPIC, q) == Some(max)
            })
    })
}

/// Settles the held deliveries whose time came; forgets those of dead clients.
fn answer_due(world: &mut World, h: &mut Harness, hands: &RefCell<Hands>, all: bool) {
    let now = world.elapsed();
    let t = world.now();
    let mut hands = hands.borrow_mut();
    let mut keep = Vec::new();
    for s in std::mem::take(&mut h.held) {
        if hands.dead[s.client] {
            continue;
        }
        let key = (s.client, s.delivery);
        let (at, outcome) = hands
            .plans
            .get(&key)
            .copied()
            .unwrap_or((now, ConsumeOutcome::Success));
        if at <= now || all {
            let outcome = if all {
                ConsumeOutcome::Success
            } else {
                outcome
            };
            hands.plans.remove(&key);
            hands.answers.insert(key, (now, outcome));
            // Refused when the consumer closed meanwhile (it cannot: a close waits).
            let _ = world.client(s.client).ack(t, s.delivery, outcome);
        } else {
            keep.push(s);
        }
    }
    h.held = keep;
}

struct Run {
    invisible: Duration,
    targets: u32,
}

#[allow(clippy::needless_range_loop)] // `i` is also the client index
fn run_seed(seed: u64, orderly: bool, t: &mut Totals) -> Result<(), String> {
    let mut world = world(seed, CLIENTS, QUEUES);
    let mut dice = Dice(seed ^ 0x0909_AB1E);
    let invisible = dice.millis(3_000, 8_000);
    let poll = dice.millis(1_000, 2_000);
    let mut pop = PopConfig::default()
        .with_invisible_time(invisible)
        .with_poll_time(poll);
    if orderly {
        pop = pop.with_batch_size(1 + dice.below(4) as u32);
    }
    let mode = if orderly {
        ConsumeMode::Orderly
    } else {
        ConsumeMode::Concurrently
    };
    let config = builder()
        .consume_mode(mode)
        .consume_batch_max_size(1 + dice.below(3) as u32)
        .pop(pop)
        .build()
        .unwrap();
    let run = Run {
        invisible,
        targets: if orderly { 2 * QUEUES as u32 } else { 2 },
    };
    // The network hook: counts pops and answers, cuts dead clients off.
    let wire = Rc::new(RefCell::new(Wire::default()));
    let seen_by_hook = wire.clone();
    let wall = world.clock().wall();
    let origin = wall.now_millis();
    let addrs: Vec<(String, &'static str)> = BROKERS
        .iter()
        .map(|b| (world.broker_ref(b).config().addr.clone(), *b))
        .collect();
    world.net().set_hook(move |f| {
        let at = ms(u64::try_from(wall.now_millis() - origin).unwrap_or(0));
        let sec = at.as_secs();
        let mut w = seen_by_hook.borrow_mut();
        if let Some((_, broker)) = addrs.iter().find(|(a, _)| *a == f.server) {
            let last = w.links.insert((f.client, broker), (f.link, at));
            if let Some((_, seen)) = last.filter(|(l, _)| *l != f.link) {
                w.breaks.push(Fault {
                    from: seen,
                    to: at,
                    broker,
                    client: Some(f.client),
                    what: "connection replaced",
                });
            }
        }
        let is_pop = f.dir == Dir::ToServer
            && !f.command.is_response()
            && f.command.code == RequestCode::PopMessage.code();
        if is_pop {
            *w.pops.entry((f.client, sec)).or_default() += 1;
        }
        let found = f.dir == Dir::ToClient
            && f.command.is_response()
            && f.command.field("startOffsetInfo").is_some();
        if found {
            *w.found.entry((f.client, sec)).or_default() += 1;
        }
        if w.dead[f.client] {
            HookAction::Drop
        } else {
            HookAction::Deliver
        }
    });
    let hands = Rc::new(RefCell::new(Hands {
        dice: Dice(seed ^ 0x4A4D_5EED),
        orderly,
        calm: false,
        dead: [false; CLIENTS],
        answers: BTreeMap::new(),
        plans: BTreeMap::new(),
        reconsume_later: 0,
        abandoned: 0,
        held: 0,
    }));
    let mut h = Harness::new(CLIENTS);
    let policy_hands = hands.clone();
    h.policy = Box::new(move |s| policy_hands.borrow_mut().decide(s, invisible));
    let mut members = [Member::Out; CLIENTS];
    let mut died_at: [Option<Duration>; CLIENTS] = [None; CLIENTS];
    let mut faults: Vec<Fault> = Vec::new();
    let join = |world: &mut World, m: &mut Member, i: usize, t: &mut Totals| {
        *m = Member::Live(consumer(world, i, config.clone()));
        t.joins += 1;
    };
    join(&mut world, &mut members[0], 0, t);
    // The group's first pops fix its positions before anything is stored.
    h.run(&mut world, secs(1)).map_err(|e| e.to_string())?;
    let mut refused = [0u64; 2];
    let mut dropped = [0u64; 2];
    for _ in 0..CHAOS_STEPS {
        let now = world.elapsed();
        if dice.chance(300) {
            let b = BROKERS[dice.below(2) as usize];
            let q = dice.below(QUEUES as u64) as i32;
            put(&mut world, b, q, 1 + dice.below(8) as usize);
        }
        for i in 0..CLIENTS {
            match members[i] {
                Member::Out if dice.chance(25) => join(&mut world, &mut members[i], i, t),
                Member::Live(c) if dice.chance(10) => {
                    let at = world.now();
                    let op = world.client(i).close_consumer(at, c).expect("a live id");
                    members[i] = Member::Closing(c, op);
                    t.closes += 1;
                }
                // At most one death per run: two clients survive.
                Member::Live(_) if t_deaths(&members) == 0 && dice.chance(3) => {
                    members[i] = Member::Dead;
                    died_at[i] = Some(now);
                    wire.borrow_mut().dead[i] = true;
                    hands.borrow_mut().dead[i] = true;
                    t.deaths += 1;
                    faults.push(Fault {
                        from: now,
                        to: now,
                        broker: "*",
                        client: Some(i),
                        what: "death",
                    });
                }
                Member::Closing(_, op) if closed(&h, i, op) => members[i] = Member::Out,
                _ => {}
            }
        }
        // Now and then frames reset their connections (anywhere, even between the requests
        // of one settle).
        world.net().config_mut().loss_per_million = if dice.chance(80) { 20_000 } else { 0 };
        if dice.chance(15) {
            let b = dice.below(2) as usize;
            world
                .broker(BROKERS[b])
                .drop_next_acks(1 + dice.below(3) as u32);
        }
        if dice.chance(15) {
            let b = dice.below(2) as usize;
            world
                .broker(BROKERS[b])
                .fail_next_changes(1 + dice.below(3) as u32);
        }
        if dice.chance(20) {
            let i = dice.below(CLIENTS as u64) as usize;
            let b = BROKERS[dice.below(2) as usize];
            let addr = world.broker_ref(b).config().addr.clone();
            let at = world.now();
            let links: Vec<_> = world
                .net()
                .links_to(&addr)
                .into_iter()
                .filter(|l| world_link_client(&mut world, *l) == Some(i))
                .collect();
            for l in links {
                world.net().reset(at, l);
            }
            t.resets += 1;
            faults.push(Fault {
                from: now,
                to: now,
                broker: b,
                client: Some(i),
                what: "reset",
            });
        }
        if dice.chance(6) {
            let b = BROKERS[dice.below(2) as usize];
            let span = dice.millis(300, 2_500);
            let until: Instant = world.now() + span;
            world.broker(b).stall_until(until);
            t.stalls += 1;
            faults.push(Fault {
                from: now,
                to: now + span,
                broker: b,
                client: None,
                what: "stall",
            });
        }
        if dice.chance(3) {
            let b = BROKERS[dice.below(2) as usize];
            world.restart_broker(b);
            t.restarts += 1;
            faults.push(Fault {
                from: now,
                to: now,
                broker: b,
                client: None,
                what: "restart",
            });
        }
        h.run(&mut world, STEP).map_err(|e| e.to_string())?;
        answer_due(&mut world, &mut h, &hands, false);
        // Refusals and swallowed acks happen when requests come: noted by the step.
        let end = world.elapsed();
        for (b, name) in BROKERS.iter().enumerate() {
            let broker = world.broker_ref(name);
            let (r, d) = (broker.pop_changes_refused(), broker.pop_acks_dropped());
            if r > refused[b] {
                faults.push(Fault {
                    from: now,
                    to: end,
                    broker: name,
                    client: None,
                    what: "refused change",
                });
            }
            t.changes_refused += r - refused[b];
            t.acks_dropped += d - dropped[b];
            refused[b] = r;
            dropped[b] = d;
        }
    }
    // Calm phase: no more faults; held deliveries are settled, every handler succeeds, and
    // every surviving client ends with a live consumer.
    world.net().config_mut().loss_per_million = 0;
    for b in BROKERS {
        world.broker(b).drop_next_acks(0);
        world.broker(b).fail_next_changes(0);
    }
    hands.borrow_mut().calm = true;
    answer_due(&mut world, &mut h, &hands, true);
    let calm_from = world.elapsed();
    let mut ok = false;
    while world.elapsed() - calm_from < CALM_MAX {
        for i in 0..CLIENTS {
            match members[i] {
                Member::Closing(_, op) if closed(&h, i, op) => members[i] = Member::Out,
                Member::Out => join(&mut world, &mut members[i], i, t),
                _ => {}
            }
        }
        h.run(&mut world, secs(1)).map_err(|e| e.to_string())?;
        answer_due(&mut world, &mut h, &hands, true);
        if settled(&world)
            && members
                .iter()
                .all(|m| matches!(m, Member::Live(_) | Member::Dead))
        {
            ok = true;
            break;
        }
    }
    let calm = world.elapsed() - calm_from;
    t.calm_ms += calm.as_millis();
    // A little longer: nothing comes back.
    h.run(&mut world, secs(2)).map_err(|e| e.to_string())?;
    answer_due(&mut world, &mut h, &hands, true);
    for (b, name) in BROKERS.iter().enumerate() {
        let broker = world.broker_ref(name);
        t.changes_refused += broker.pop_changes_refused() - refused[b];
        t.acks_dropped += broker.pop_acks_dropped() - dropped[b];
    }
    if let Ok(dir) = std::env::var("ROCKETWIRE_SIM_TRACE") {
        let _ = std::fs::write(format!("{dir}/pop-seed-{seed}.txt"), world.transcript());
    }
    let mut problems: Vec<String> = Vec::new();
    // (1), (2): everything acked at its broker, nothing in flight.
    if !ok || !settled(&world) {
        for b in BROKERS {
            let broker = world.broker_ref(b);
            let positions: Vec<_> = (0..QUEUES)
                .map(|q| {
                    (
                        broker.store().max_offset(TOPIC, q),
                        broker.pop_position(GROUP, TOPIC, q),
                    )
                })
                .collect();
            problems.push(format!(
                "{b} not settled after {calm:?} of calm: in flight {}, acked {}, (stored, position) per queue {positions:?}",
                broker.pop_in_flight(GROUP, TOPIC),
                broker.pop_acked(GROUP, TOPIC),
            ));
        }
    }
    let mut delivered: BTreeMap<MessageQueue, BTreeMap<i64, u64>> = BTreeMap::new();
    for s in &h.seen {
        for m in &s.messages {
            *delivered
                .entry(s.queue.clone())
                .or_default()
                .entry(m.queue_offset)
                .or_default() += 1;
        }
        t.deliveries += 1;
    }
    for q in all_queues(QUEUES) {
        let max = world
            .broker_ref(&q.broker_name)
            .store()
            .max_offset(TOPIC, q.queue_id);
        let got = delivered.get(&q);
        let missing: Vec<i64> = (0..max)
            .filter(|o| got.is_none_or(|g| !g.contains_key(o)))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("{q:?} never delivered {missing:?}"));
        }
        t.messages += max as u64;
        let times: u64 = got.map_or(0, |g| g.values().sum());
        t.redelivered += times.saturating_sub(max as u64);
    }
    t.connections_replaced += wire.borrow().breaks.len() as u64;
    // (3): no busy loop.
    check_pops(&wire.borrow(), &run, t, &mut problems);
    // (4): orderly.
    if orderly {
        faults.extend(wire.borrow().breaks.iter().cloned());
        check_orderly(
            &h,
            &hands.borrow(),
            &died_at,
            &faults,
            &run,
            t,
            &mut problems,
        );
    }
    {
        let hands = hands.borrow();
        t.reconsume_later += hands.reconsume_later;
        t.abandoned += hands.abandoned;
        t.held += hands.held;
    }
    t.seeds += 1;
    if problems.is_empty() {
        return Ok(());
    }
    let dir = std::env::var("ROCKETWIRE_SIM_TRACE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let mode = if orderly { "orderly" } else { "concurrent" };
    let path = dir.join(format!("pop-{mode}-seed-{seed}.txt"));
    let _ = std::fs::write(&path, world.transcript());
    Err(format!(
        "seed {seed} ({mode}, invisible {invisible:?}, poll {poll:?}): transcript in {}\n  {}",
        path.display(),
        problems.join("\n  ")
    ))
}

fn t_deaths(members: &[Member; CLIENTS]) -> usize {
    members.iter().filter(|m| **m == Member::Dead).count()
}

fn world_link_client(world: &mut World, link: rocketwire_sim::LinkId) -> Option<usize> {
    world.net().link(link).map(|l| l.client)
}

/// No busy loop: in every virtual second a client sends at most a few pops per target beyond
/// the answers with messages it got (each may be followed by a pop at once). Per target one
/// pop is in flight; an empty answer held its poll time (≥ 1 s here) or came early and is
/// followed by a 1 s pause; a failed pop waits the error delay or for the broker to answer
/// again: three per target and second, plus one for a consumer replaced meanwhile.
fn check_pops(wire: &Wire, run: &Run, t: &mut Totals, problems: &mut Vec<String>) {
    let bound = 3 * run.targets + 1;
    for (&(client, sec), &pops) in &wire.pops {
        t.max_pops_per_second = t.max_pops_per_second.max(pops);
        let found = |s: u64| wire.found.get(&(client, s)).copied().unwrap_or(0);
        let answered = found(sec) + sec.checked_sub(1).map_or(0, found);
        let empty = pops.saturating_sub(answered);
        t.max_empty_pops_per_second = t.max_empty_pops_per_second.max(empty);
        if empty > bound {
            problems.push(format!(
                "client {client} sent {pops} pops in second {sec} ({answered} answers with messages around it; bound {bound} more)"
            ));
        }
    }
}

/// One delivery of an orderly queue as the checks see it.
#[derive(Debug)]
struct Span {
    start: Duration,
    /// When it was answered (or its client died); `None`: never.
    end: Option<Duration>,
    client: usize,
    delivery: DeliveryId,
    offsets: Vec<i64>,
    success: bool,
}

#[allow(clippy::too_many_arguments)]
fn check_orderly(
    h: &Harness,
    hands: &Hands,
    died_at: &[Option<Duration>; CLIENTS],
    faults: &[Fault],
    run: &Run,
    t: &mut Totals,
    problems: &mut Vec<String>,
) {
    let mut by_queue: BTreeMap<MessageQueue, Vec<Span>> = BTreeMap::new();
    for s in &h.seen {
        let died = died_at[s.client];
        if died.is_some_and(|d| s.at >= d) {
            // Handed to a dead process: nobody consumed it.
            continue;
        }
        let answer = hands.answers.get(&(s.client, s.delivery));
        let end = answer.map(|a| a.0).or(died);
        if end.is_none() {
            problems.push(format!("{s:?} was never answered"));
        }
        by_queue.entry(s.queue.clone()).or_default().push(Span {
            start: s.at,
            end,
            client: s.client,
            delivery: s.delivery,
            offsets: s.messages.iter().map(|m| m.queue_offset).collect(),
            success: answer.is_some_and(|a| a.1 == ConsumeOutcome::Success)
                && died.is_none_or(|d| answer.is_some_and(|a| a.0 < d)),
        });
    }
    for (q, spans) in &by_queue {
        // One batch at a time: the next one after the previous one was answered, unless a
        // fault of the holder (its death, a reset of its connection to the broker, a stall
        // or restart of the broker, a refused renewal) let the messages come back.
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                let overlaps = a.end.is_none_or(|end| b.start < end);
                if !overlaps {
                    continue;
                }
                let lo = a.start.saturating_sub(secs(1));
                let excuse = faults.iter().find(|f| {
                    let at_broker = f.broker == "*" || f.broker == q.broker_name;
                    let for_holder = f.client.is_none_or(|c| c == a.client);
                    at_broker && for_holder && f.to >= lo && f.from <= b.start
                });
                if let Some(f) = excuse {
                    *t.excused_overlaps.entry(f.what).or_default() += 1;
                } else {
                    problems.push(format!(
                        "{}/{}: batch {:?} (client {}, {:?}) handed out at {:?} while {:?} (client {}, {:?}) was out ({:?}..{:?}); invisible {:?}",
                        q.broker_name, q.queue_id, b.offsets, b.client, b.delivery, b.start,
                        a.offsets, a.client, a.delivery, a.start, a.end, run.invisible
                    ));
                }
            }
        }
        // In order: ascending within a batch, and nothing skipped: an offset below a
        // batch's last one and not in it was consumed (answered Success) before.
        for s in spans {
            if !s.offsets.windows(2).all(|w| w[0] < w[1]) {
                problems.push(format!(
                    "{}/{}: batch {:?} (client {}, {:?}) at {:?} is not in offset order",
                    q.broker_name, q.queue_id, s.offsets, s.client, s.delivery, s.start
                ));
            }
            let Some(&last) = s.offsets.last() else {
                continue;
            };
            let consumed: BTreeSet<i64> = spans
                .iter()
                .filter(|o| o.success && o.end.is_some_and(|e| e <= s.start))
                .flat_map(|o| o.offsets.iter().copied())
                .collect();
            let skipped: Vec<i64> = (0..last)
                .filter(|o| !s.offsets.contains(o) && !consumed.contains(o))
                .collect();
            if !skipped.is_empty() {
                problems.push(format!(
                    "{}/{}: batch {:?} (client {}, {:?}) handed out at {:?} ahead of {skipped:?}, not consumed yet",
                    q.broker_name, q.queue_id, s.offsets, s.client, s.delivery, s.start
                ));
            }
        }
    }
}

fn run_seeds(seeds: Vec<u64>, orderly: bool) -> Totals {
    let started = std::time::Instant::now();
    let mut t = Totals::default();
    let mut failures = Vec::new();
    let verbose = std::env::var_os("ROCKETWIRE_SIM_PROGRESS").is_some();
    for seed in seeds {
        if verbose {
            eprintln!("seed {seed}");
        }
        if let Err(e) = run_seed(seed, orderly, &mut t) {
            eprintln!("{e}");
            failures.push(e);
        }
    }
    eprintln!("{t:#?}\nin {:.1?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    t
}

/// The seeds to run: `0..default`, or `ROCKETWIRE_SIM_SEEDS=START..END`.
fn seeds(default: u64) -> Vec<u64> {
    rocketwire_sim::seeds_or(0..default)
}

/// Concurrent POP consumers: nothing lost, nothing left in flight, no busy loop.
/// `ROCKETWIRE_SIM_SEEDS=START..END` runs other seeds and `ROCKETWIRE_SIM_TRACE=DIR` writes
/// each seed's transcript there.
#[test]
fn pop_consumers_come_and_go_under_faults_and_every_message_is_acked() {
    let t = run_seeds(seeds(24), false);
    if !rocketwire_sim::seeds_overridden() {
        assert!(t.messages > 1_000, "{t:?}");
        assert!(
            t.restarts > 0 && t.stalls > 0 && t.closes > 0 && t.deaths > 0,
            "{t:?}"
        );
        assert!(t.acks_dropped > 0 && t.changes_refused > 0, "{t:?}");
    }
}

/// Orderly POP consumers: the same, and each queue is handed out one batch at a time, in
/// order. Seeds and transcripts as for the concurrent test.
#[test]
fn orderly_pop_consumers_come_and_go_under_faults_and_keep_each_queue_in_order() {
    let t = run_seeds(seeds(20), true);
    if !rocketwire_sim::seeds_overridden() {
        assert!(t.messages > 1_000, "{t:?}");
        assert!(t.restarts > 0 && t.stalls > 0 && t.deaths > 0, "{t:?}");
    }
}
