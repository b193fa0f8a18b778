//! The driver's runtime-free part in virtual time: a `rocketwire_driver::Shell` (commands,
//! reply channels, in-flight permits, consumer event channels, shutdown) is the simulated
//! client, driven by the world exactly as the async loop and the blocking threads drive it.
//!
//! * Producer sends under random faults (loss, stalls, SYSTEM_BUSY, dropped sends, a
//!   restart, partitions), over 60 seeds: every send handed to the shell gets exactly one
//!   result on its reply channel no later than its deadline, every acknowledged message is
//!   stored where its result says, every in-flight permit comes back, and a shutdown
//!   command completes with its reply.
//! * A push consumer fed through its event channel, acking (success or retry later) with
//!   random delays under faults, over 20 seeds: every message is delivered, committed
//!   offsets never go backwards, the close's report says which offsets the brokers
//!   confirmed (a write cut by a connection reset is reported not persisted), and the close
//!   and the shutdown replies arrive.
//!
//! `SHELL_TRANSCRIPT=1` writes each consumer seed's transcript to the temp directory.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::FutureExt;
use rocketwire_core::body::{ConsumeFromWhere, MessageQueue};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendError, SendResult};
use rocketwire_core::time::Rng;
use rocketwire_core::{
    ClientCore, ConsumeOutcome, Input, InvokeError, Output, SendMode, SendTarget,
};
use rocketwire_driver::{
    Command, ConsumerEvent, ConsumerSink, DriverOptions, InFlight, Io, ProducerOptions,
    ReplyReceiver, SendHandle, SendPayload, Shell, TakeEvents,
};
use rocketwire_sim::{Driven, Latency, World, WorldConfig};

const BROKERS: [(&str, &str); 2] = [
    ("broker-a", "127.0.0.1:10911"),
    ("broker-b", "127.0.0.1:10921"),
];
const NS1: &str = "127.0.0.1:9876";
const SEEDS: u64 = 60;
const SENDS_PER_SEED: usize = 100;
/// Send timeouts of the two producers.
const TIMEOUTS_MS: [u64; 2] = [3_000, 700];
/// How often the test looks at its reply channels while time runs.
const STEP: Duration = Duration::from_millis(5);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The shell as the world's client: what the async loop or the blocking threads do with
/// [`Io`], done with the world's connections and timers.
struct ShellClient {
    shell: Option<Shell>,
}

/// A shell the world drives and the test commands.
#[derive(Clone)]
struct Shared(Rc<RefCell<ShellClient>>);

impl Shared {
    fn new(world: &World, seed: u64) -> Self {
        let mut config = rocketwire_core::ClientConfig::new(vec![NS1.to_string()]);
        config.pid = 4242;
        let core = ClientCore::new(config, Box::new(world.clock().wall()), seed, world.now());
        let shell = Shell::with_core(core, DriverOptions::default());
        Shared(Rc::new(RefCell::new(ShellClient { shell: Some(shell) })))
    }

    /// Hands `command` to the shell, as a handle does through the command channel.
    fn command(&self, now: Instant, command: Command) {
        let mut c = self.0.borrow_mut();
        let shell = c
            .shell
            .as_mut()
            .expect("a command after the shell finished");
        shell.handle_command(now, command);
    }

    fn finished(&self) -> bool {
        self.0.borrow().shell.is_none()
    }
}

impl Driven for Shared {
    fn handle_input(&mut self, now: Instant, input: Input) {
        let mut c = self.0.borrow_mut();
        let Some(shell) = c.shell.as_mut() else {
            return;
        };
        match input {
            Input::Timeout => shell.handle_timeout(now),
            input => shell.handle_input(now, input),
        }
    }

    fn poll_output(&mut self, now: Instant) -> Output {
        let mut c = self.0.borrow_mut();
        let Some(shell) = c.shell.as_mut() else {
            return Output::Idle;
        };
        match shell.poll(now) {
            Io::Connect { conn, addr } => Output::Connect { conn, addr },
            Io::Transmit { conn, head, body } => Output::Transmit { conn, head, body },
            Io::Close { conn } => Output::Close { conn },
            Io::Wait(Some(at)) => Output::Timeout(at),
            Io::Wait(None) => Output::Idle,
            Io::Finished => {
                // Every connection was closed before: the IO is over; tell the waiters.
                if let Some(shell) = c.shell.take() {
                    shell.finish().notify();
                }
                Output::Idle
            }
        }
    }
}

/// A world of two brokers and one namesrv with a lossy network and a shell client.
fn world(seed: u64) -> (World, Shared) {
    let mut config = WorldConfig::new(seed);
    config.namesrvs = vec![NS1.to_string()];
    config.clients = 0;
    config.net.latency = Latency::millis(1, 4);
    config.net.loss_per_million = 3_000;
    config.transcript = std::env::var_os("SHELL_TRANSCRIPT").is_some();
    let mut world = World::new(config);
    for (name, _) in BROKERS {
        world.broker(name).create_topic("T", 4);
        world.broker(name).create_topic("TBW102", 8);
    }
    let shell = Shared::new(&world, seed);
    world.add_stub(Box::new(shell.clone()));
    (world, shell)
}

/// Runs the world for `d` in [`STEP`]s, calling `look` after each.
fn drive(world: &mut World, d: Duration, mut look: impl FnMut(&mut World)) {
    let end = world.elapsed() + d;
    while world.elapsed() < end {
        let step = STEP.min(end - world.elapsed());
        world.drive(step).unwrap();
        look(world);
    }
}

/// The value of a reply channel once it is there.
fn reply<T>(world: &mut World, rx: &mut ReplyReceiver<T>, within: Duration) -> T {
    let end = world.elapsed() + within;
    loop {
        if let Some(r) = rx.now_or_never() {
            return r.expect("reply sent").expect("command succeeded");
        }
        assert!(world.elapsed() < end, "no reply within {within:?}");
        world.drive(STEP).unwrap();
    }
}

/// One send handed to the shell.
struct Issued {
    at: Duration,
    timeout: Duration,
    count: usize,
    handle: Option<SendHandle>,
    oneway: Option<SendHandle<()>>,
    /// When its result was seen, and the result.
    ended: Option<(Duration, Result<Option<SendResult>, SendError>)>,
}

impl Issued {
    /// Looks at the reply channel once.
    fn poll(&mut self, now: Duration) {
        if self.ended.is_some() {
            return;
        }
        if let Some(h) = &mut self.handle {
            if let Some(r) = h.now_or_never() {
                self.ended = Some((now, r.map(Some)));
                self.handle = None;
            }
        }
        if let Some(h) = &mut self.oneway {
            if let Some(r) = h.now_or_never() {
                self.ended = Some((now, r.map(|()| None)));
                self.oneway = None;
            }
        }
    }
}

/// The broker named by `r` stores `count` messages from its offset on with the result's ids.
fn check_stored(world: &mut World, seed: u64, r: &SendResult, count: usize) {
    let q = &r.message_queue;
    let store = world.broker(&q.broker_name).store();
    for (i, id) in r.msg_id.split(',').enumerate().take(count) {
        let offset = r.queue_offset + i as i64;
        let stored = store.at(&q.topic, q.queue_id, offset).unwrap_or_else(|| {
            panic!("seed {seed}: acknowledged message lost: {q:?} offset {offset} ({r:?})")
        });
        assert_eq!(stored.message.unique_key(), Some(id), "seed {seed}: {r:?}");
    }
}

/// One seeded run; returns the outcome counts.
fn run_producer(seed: u64, outcomes: &mut BTreeMap<String, usize>) {
    let (mut world, shell) = world(seed);
    let mut rng = Rng::new(seed ^ 0xD21E_5EED);
    let in_flight = InFlight::new(ProducerOptions::default().with_max_in_flight(8));
    let mut producers = Vec::new();
    for timeout in TIMEOUTS_MS {
        let config = ProducerConfig::builder("pg")
            .send_timeout(ms(timeout))
            .build()
            .unwrap();
        let (command, mut rx) = Command::create_producer(config, QueueSelector::RoundRobin);
        shell.command(world.now(), command);
        producers.push((reply(&mut world, &mut rx, ms(10)), ms(timeout)));
    }
    let mut issued: Vec<Issued> = Vec::new();
    let mut restarted = false;
    let mut partitioned: Option<Duration> = None;
    let look = |issued: &mut Vec<Issued>, world: &mut World| {
        let now = world.elapsed();
        for s in issued.iter_mut() {
            s.poll(now);
        }
    };
    for _ in 0..SENDS_PER_SEED {
        let name = BROKERS[rng.below(2) as usize].0;
        let kind = rng.below(40);
        rocketwire_sim::broker_fault(&mut world, &mut rng, name, kind, &mut restarted);
        match partitioned {
            None if rng.below(40) == 0 => {
                world.partition(BROKERS[rng.below(2) as usize].1);
                partitioned = Some(world.elapsed() + ms(rng.below(3_000)));
            }
            Some(until) if world.elapsed() >= until => {
                for (_, addr) in BROKERS {
                    world.heal(addr);
                }
                partitioned = None;
            }
            _ => {}
        }
        // Room for the send, as `send` waits for it: the permit comes back with a result.
        let end = world.elapsed() + ms(10_000);
        let permit = loop {
            if let Some(p) = in_flight.try_acquire(7) {
                break p;
            }
            assert!(
                world.elapsed() < end,
                "seed {seed}: a permit never came back"
            );
            drive(&mut world, STEP, |w| look(&mut issued, w));
        };
        let (p, timeout) = producers[rng.below(2) as usize];
        let topic = if rng.below(20) == 0 { "Auto" } else { "T" };
        let target = if rng.below(10) == 0 && topic == "T" {
            SendTarget::Queue(MessageQueue::new(
                "T",
                BROKERS[rng.below(2) as usize].0,
                rng.below(4) as i32,
            ))
        } else {
            SendTarget::Default
        };
        let message = Message::new(topic, Bytes::from_static(b"payload"));
        let at = world.elapsed();
        let mut s = Issued {
            at,
            timeout,
            count: 1,
            handle: None,
            oneway: None,
            ended: None,
        };
        let command = match rng.below(10) {
            0 => {
                let (c, h) = Command::send_oneway(p, message, target, Some(permit));
                s.oneway = Some(h);
                c
            }
            1 => {
                s.count = 3;
                let batch = (0..3).map(|_| message.clone()).collect();
                let (c, h) = Command::send(
                    p,
                    SendPayload::Batch(batch),
                    target,
                    SendMode::Async,
                    Some(permit),
                );
                s.handle = Some(h);
                c
            }
            _ => {
                let (c, h) = Command::send(
                    p,
                    SendPayload::One(message),
                    target,
                    SendMode::Sync,
                    Some(permit),
                );
                s.handle = Some(h);
                c
            }
        };
        shell.command(world.now(), command);
        issued.push(s);
        let pause = ms(rng.below(40));
        drive(&mut world, pause, |w| look(&mut issued, w));
    }
    for (_, addr) in BROKERS {
        world.heal(addr);
    }
    drive(&mut world, ms(10_000), |w| look(&mut issued, w));

    for (i, s) in issued.iter().enumerate() {
        let (ended, result) = s
            .ended
            .as_ref()
            .unwrap_or_else(|| panic!("seed {seed}: send {i} got no result"));
        assert!(
            *ended <= s.at + s.timeout + STEP,
            "seed {seed}: send {i} issued at {:?} with {:?} ended at {ended:?}",
            s.at,
            s.timeout
        );
        let name = match result {
            Ok(Some(r)) => {
                check_stored(&mut world, seed, r, s.count);
                format!("{:?}", r.status)
            }
            Ok(None) => "Oneway".to_string(),
            Err(SendError::Transport(InvokeError::Shutdown)) => {
                panic!("seed {seed}: send {i} dropped by the shell before shutdown")
            }
            Err(e) => format!("{e:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_string(),
        };
        *outcomes.entry(name).or_default() += 1;
    }
    assert_eq!(
        in_flight.in_flight(),
        (0, 0),
        "seed {seed}: permits kept after every result"
    );
    let (command, mut done) = Command::shutdown(ms(1_000));
    shell.command(world.now(), command);
    reply(&mut world, &mut done, ms(5_000));
    assert!(
        shell.finished(),
        "seed {seed}: shutdown replied before the shell ended"
    );
}

#[test]
fn sends_through_the_shell_end_once_in_time_and_return_their_permits() {
    let mut outcomes = BTreeMap::new();
    let seeds = rocketwire_sim::seeds_or(0..SEEDS);
    for &seed in &seeds {
        run_producer(seed, &mut outcomes);
    }
    eprintln!(
        "shell producer: {} seeds, outcomes {outcomes:?}",
        seeds.len()
    );
    if !rocketwire_sim::seeds_overridden() {
        let count = |k: &str| outcomes.get(k).copied().unwrap_or(0);
        assert!(count("SendOk") > SEEDS as usize * 50, "{outcomes:?}");
        assert!(count("Oneway") > 0, "{outcomes:?}");
        assert!(
            outcomes.len() > 2,
            "the faults made some sends fail: {outcomes:?}"
        );
    }
}

/// Counts a consumer's deliveries handed over and not yet started ([`TakeEvents::flush`]),
/// and the flushes that started some.
#[derive(Clone, Default)]
struct Flushes(Arc<Mutex<(usize, usize)>>);

impl Flushes {
    fn unflushed(&self) -> usize {
        self.0.lock().unwrap().0
    }

    fn started(&self) -> usize {
        self.0.lock().unwrap().1
    }
}

/// A push consumer's sink as the test sees it: every event on a channel, the flushes
/// counted.
struct Recorder {
    events: mpsc::UnboundedSender<ConsumerEvent>,
    flushes: Flushes,
}

impl TakeEvents for Recorder {
    fn take(&mut self, event: ConsumerEvent) -> bool {
        if matches!(event, ConsumerEvent::Deliver { .. }) {
            self.flushes.0.lock().unwrap().0 += 1;
        }
        self.events.unbounded_send(event).is_ok()
    }

    fn flush(&mut self) {
        let mut counts = self.flushes.0.lock().unwrap();
        if counts.0 > 0 {
            *counts = (0, counts.1 + 1);
        }
    }
}

/// One seeded consumer run through the shell; adds the queues whose close-time offset write
/// failed to `not_persisted`.
fn run_consumer(seed: u64, not_persisted: &mut usize) -> usize {
    let (mut world, shell) = world(seed);
    let mut rng = Rng::new(seed ^ 0xC0_5EED);
    const PER_QUEUE: u64 = 25;
    let now = world.now();
    for (name, _) in BROKERS {
        for q in 0..4 {
            for i in 0..PER_QUEUE {
                let body = format!("{name}/{q}/{i}");
                world
                    .broker(name)
                    .put_message(now, Message::new("T", Bytes::from(body)), q);
            }
        }
    }
    let expected = BROKERS.len() * 4 * PER_QUEUE as usize;
    let config = ConsumerConfig::builder("cg")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .build()
        .unwrap();
    let (events, mut events_rx) = mpsc::unbounded();
    let flushes = Flushes::default();
    let (command, mut created) = Command::create_consumer(
        config,
        vec![Subscription::tag("T", "*").unwrap()],
        None,
        ConsumerSink::new(Recorder {
            events,
            flushes: flushes.clone(),
        }),
    );
    shell.command(world.now(), command);
    let consumer = loop {
        if let Some(r) = (&mut created).now_or_never() {
            break r.expect("reply").expect("consumer created");
        }
        world.drive(STEP).unwrap();
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut deliveries = 0usize;
    // Deliveries the "handler" holds: (ack at, delivery, outcome).
    let mut held = Vec::new();
    let mut restarted = false;
    let mut committed: BTreeMap<(usize, i32), i64> = BTreeMap::new();
    let mut check_offsets = |world: &World| {
        for (b, (name, _)) in BROKERS.iter().enumerate() {
            for q in 0..4 {
                let store = world.broker_ref(name).store();
                let Some(now) = store.consumer_offset("cg", "T", q) else {
                    continue;
                };
                if let Some(before) = committed.insert((b, q), now) {
                    assert!(
                        now >= before,
                        "seed {seed}: {name} queue {q} committed {before} then {now}"
                    );
                }
            }
        }
    };
    // A stalled broker swallows the pulls it gets; each costs its 30 s request timeout and
    // the 3 s pull error delay before the queue is pulled again (seed 46 of 10,000 needed
    // 78 s), so the budget is generous: it bounds the run, not the client's speed.
    let end = world.elapsed() + ms(300_000);
    while seen.len() < expected {
        check_offsets(&world);
        assert!(
            world.elapsed() < end,
            "seed {seed}: {} of {expected} delivered",
            seen.len()
        );
        if rng.below(200) == 0 {
            let name = BROKERS[rng.below(2) as usize].0;
            let kind = rng.below(rocketwire_sim::BROKER_FAULTS);
            rocketwire_sim::broker_fault(&mut world, &mut rng, name, kind, &mut restarted);
        }
        while let Ok(event) = events_rx.try_recv() {
            if let ConsumerEvent::Deliver {
                delivery, messages, ..
            } = event
            {
                deliveries += 1;
                let outcome = if rng.below(10) == 0 {
                    ConsumeOutcome::ReconsumeLater { delay_level: 1 }
                } else {
                    for m in &messages {
                        seen.insert(String::from_utf8_lossy(m.body()).into_owned());
                    }
                    ConsumeOutcome::Success
                };
                held.push((world.elapsed() + ms(rng.below(50)), delivery, outcome));
            }
        }
        let now = world.elapsed();
        let (due, later): (Vec<_>, Vec<_>) = held.into_iter().partition(|(at, _, _)| *at <= now);
        held = later;
        for (_, delivery, outcome) in due {
            shell.command(world.now(), Command::Ack { delivery, outcome });
        }
        world.drive(STEP).unwrap();
        // The shell waits only once every delivery it handed over is started.
        assert_eq!(flushes.unflushed(), 0, "seed {seed}");
    }
    for (_, delivery, outcome) in held {
        shell.command(world.now(), Command::Ack { delivery, outcome });
    }
    // The close waits for the deliveries out: the handler goes on acking what still comes,
    // as the consumer handle's loop does until the close is over.
    let (command, mut closed) = Command::close_consumer(consumer);
    shell.command(world.now(), command);
    let end = world.elapsed() + ms(10_000);
    let report = loop {
        if let Some(r) = (&mut closed).now_or_never() {
            break r.expect("reply sent").expect("closed");
        }
        assert!(world.elapsed() < end, "seed {seed}: the close never ended");
        check_offsets(&world);
        while let Ok(event) = events_rx.try_recv() {
            if let ConsumerEvent::Deliver { delivery, .. } = event {
                let outcome = ConsumeOutcome::Success;
                shell.command(world.now(), Command::Ack { delivery, outcome });
            }
        }
        world.drive(STEP).unwrap();
    };
    let (command, mut done) = Command::shutdown(ms(1_000));
    shell.command(world.now(), command);
    reply(&mut world, &mut done, ms(5_000));
    assert!(shell.finished(), "seed {seed}");
    assert_eq!(seen.len(), expected, "seed {seed}");
    // A pull's messages are started together, not one wake-up each.
    let started = flushes.started();
    assert!(
        started < deliveries,
        "seed {seed}: {deliveries} deliveries started in {started} bursts"
    );
    check_offsets(&world);
    if std::env::var_os("SHELL_TRANSCRIPT").is_some() {
        let path = std::env::temp_dir().join(format!("rocketwire-shell-{seed}.txt"));
        std::fs::write(path, world.transcript()).unwrap();
    }
    // The close wrote the offset of every queue it held (up to the first message not
    // settled: one whose send-back failed waits for a local retry; a queue released while
    // its broker's membership was in doubt is not written) and its report says what the
    // broker holds; a write that failed is reported as such.
    for (b, (name, _)) in BROKERS.iter().enumerate() {
        for q in 0..4 {
            let mq = MessageQueue::new("T", *name, q);
            let reported = report.persisted.get(&mq).or(report.not_persisted.get(&mq));
            let Some(&reported) = reported else {
                continue;
            };
            assert!(
                reported <= PER_QUEUE as i64,
                "seed {seed}: {mq:?} {reported}"
            );
            if report.persisted.contains_key(&mq) {
                assert_eq!(
                    committed.get(&(b, q)).copied(),
                    Some(reported),
                    "seed {seed}: {mq:?} reported persisted"
                );
            }
        }
    }
    *not_persisted += report.not_persisted.len();
    deliveries
}

#[test]
fn a_consumer_through_the_shell_gets_everything_and_closes() {
    let seeds = rocketwire_sim::seeds_or(0..SEEDS / 3);
    let mut not_persisted = 0;
    let deliveries: usize = seeds
        .iter()
        .map(|&s| run_consumer(s, &mut not_persisted))
        .sum();
    eprintln!(
        "shell consumer: {} seeds, {deliveries} deliveries, {not_persisted} close-time offset \
         writes failed",
        seeds.len()
    );
    assert!(deliveries > 0);
    if !rocketwire_sim::seeds_overridden() {
        // A connection reset cut the close's offset writes in some default seeds (seed 10:
        // broker-a's): the report says so rather than listing them as persisted.
        assert!(not_persisted > 0, "the faults never hit a close");
    }
}
