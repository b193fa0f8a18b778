//! Unit tests of [`PopMachine`], driven directly: each test plays the router (a [`PopEnv`]
//! over a route cache, answers to the requests the machine asks for) and checks what comes
//! out.
#![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::super::ids::{ConsumerId, DeliveryId, OpId};
use super::super::route::RouteState;
use super::super::{ClientConfig, Event};
use super::machine::{PopEnv, PopMachine, PopOutput, PopRequest};
use crate::client::consumer::tests::route;
use crate::client::consumer::ConsumeOutcome;
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::consumer::{ConsumeMode, ConsumerConfig, PopConfig, Subscription};
use crate::header::{
    self, AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader,
    ChangeInvisibleTimeResponseHeader, CommandHeader, PopMessageRequestHeader,
    PopMessageResponseHeader,
};
use crate::message::{encode_stored_into, keys, Message, MessageExt};
use crate::remoting::InvokeError;
use crate::time::{Rng, WallClock};

struct FixedWall;

impl WallClock for FixedWall {
    fn now_millis(&self) -> i64 {
        1_700_000_000_000
    }
}

static WALL: FixedWall = FixedWall;
const BROKER: &str = "10.0.0.1:10911";

struct Router {
    routes: RouteState,
    brokers: BTreeSet<String>,
    rng: Rng,
    next_delivery: u64,
    now: Instant,
}

#[derive(Debug)]
struct Sent {
    addr: String,
    command: RemotingCommand,
    timeout: Duration,
    request: PopRequest,
}

#[derive(Debug, Default)]
struct Out {
    requests: Vec<Sent>,
    routes: Vec<String>,
    events: Vec<Event>,
}

impl Out {
    fn deliveries(&self) -> Vec<(DeliveryId, Vec<MessageExt>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Deliver {
                    delivery, messages, ..
                } => Some((*delivery, messages.clone())),
                _ => None,
            })
            .collect()
    }

    fn codes(&self) -> Vec<RequestCode> {
        self.requests
            .iter()
            .map(|r| RequestCode::from_code(r.command.code))
            .collect()
    }
}

impl Router {
    fn new(queues: i32) -> Self {
        let config = ClientConfig::new(vec!["10.0.0.2:9876".into()]);
        let mut rng = Rng::new(7);
        let mut routes = RouteState::new(&config, &mut rng);
        routes.insert_for_test("T", route(queues));
        Self {
            routes,
            brokers: [BROKER.to_string()].into_iter().collect(),
            rng,
            next_delivery: 0,
            now: Instant::now(),
        }
    }

    fn call<R>(
        &mut self,
        m: &mut PopMachine,
        f: impl FnOnce(&mut PopMachine, Instant, &mut PopEnv<'_>) -> R,
    ) -> (R, Out) {
        let now = self.now;
        let mut env = PopEnv {
            wall: &WALL,
            routes: &self.routes,
            rng: &mut self.rng,
            next_delivery: &mut self.next_delivery,
            request_timeout: Duration::from_secs(3),
            brokers: &self.brokers,
            client_id: "10.0.0.9@me",
            stopped: false,
        };
        let result = f(m, now, &mut env);
        let mut out = Out::default();
        while let Some(o) = m.poll_output() {
            match o {
                PopOutput::Request {
                    addr,
                    command,
                    timeout,
                    request,
                } => out.requests.push(Sent {
                    addr,
                    command,
                    timeout,
                    request,
                }),
                PopOutput::Route(topic) => out.routes.push(topic),
                PopOutput::Event(e) => out.events.push(e),
            }
        }
        (result, out)
    }

    fn answer(
        &mut self,
        m: &mut PopMachine,
        sent: Sent,
        result: Result<RemotingCommand, InvokeError>,
    ) -> Out {
        self.call(m, |m, now, env| {
            m.handle_response(now, env, sent.request, result)
        })
        .1
    }

    fn ack(&mut self, m: &mut PopMachine, d: DeliveryId, outcome: ConsumeOutcome) -> Out {
        let (r, out) = self.call(m, |m, now, env| m.ack(now, env, d, outcome));
        r.expect("the delivery is out");
        out
    }

    /// Moves the clock to the machine's next timer and runs it.
    fn fire(&mut self, m: &mut PopMachine) -> Out {
        let at = m.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(at);
        self.call(m, |m, now, env| m.handle_timeout(now, env)).1
    }
}

fn machine(mode: ConsumeMode, pop: PopConfig) -> PopMachine {
    let config = ConsumerConfig {
        consume_mode: mode,
        ..ConsumerConfig::builder("g").build().expect("valid config")
    };
    let subs: BTreeMap<String, Subscription> =
        [("T".to_string(), Subscription::tag("T", "*").expect("tag"))].into();
    PopMachine::new(ConsumerId(1), config, pop.clone(), subs, 0)
}

/// A POP answer with messages at `(queue, offset)`.
fn found(request: &RemotingCommand, at: &[(i32, i64)]) -> RemotingCommand {
    let mut body = BytesMut::new();
    let mut starts = BTreeMap::new();
    for &(q, o) in at {
        let mut e = MessageExt::from_message(Message::new("T", vec![b'x'; 4]));
        e.queue_id = q;
        e.queue_offset = o;
        e.store_host = BROKER.parse().expect("address");
        encode_stored_into(&e, &mut body).expect("encodes");
        starts.entry(q).or_insert(o);
    }
    let info: Vec<String> = starts.iter().map(|(q, o)| format!("0 {q} {o}")).collect();
    let mut r =
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body.freeze());
    PopMessageResponseHeader {
        pop_time: 1_700_000_000_000,
        invisible_time: 60_000,
        revive_qid: 2,
        rest_num: 0,
        start_offset_info: Some(info.join(";")),
        msg_offset_info: None,
        order_count_info: None,
    }
    .write_fields(&mut r.ext_fields);
    r
}

/// Starts `m` and answers its first pop with messages at `(queue, offset)`.
fn first_pop(r: &mut Router, m: &mut PopMachine, at: &[(i32, i64)]) -> Out {
    let (_, mut out) = r.call(m, |m, now, env| m.refresh(now, env));
    let pop = out.requests.remove(0);
    let answer = found(&pop.command, at);
    r.answer(m, pop, Ok(answer))
}

fn empty(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::PollingTimeout)
}

fn changed(request: &RemotingCommand, pop_time: i64) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(request, ResponseCode::Success);
    ChangeInvisibleTimeResponseHeader {
        pop_time,
        invisible_time: 60_000,
        revive_qid: 5,
    }
    .write_fields(&mut r.ext_fields);
    r
}

fn ok(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

#[test]
fn pops_every_queue_of_a_broker_hands_out_per_queue_and_acks_by_handle() {
    let mut r = Router::new(4);
    let mut m = machine(
        ConsumeMode::Concurrently,
        PopConfig::default().with_batch_size(64),
    );
    let (_, mut out) = r.call(&mut m, |m, now, env| m.refresh(now, env));
    assert_eq!(out.codes(), [RequestCode::PopMessage]);
    let pop = out.requests.remove(0);
    let h: PopMessageRequestHeader = header::read(&pop.command).unwrap();
    assert_eq!(
        (h.queue_id, h.max_msg_nums),
        (-1, 32),
        "every queue, at most 32"
    );
    assert_eq!((h.invisible_time, h.poll_time), (60_000, 15_000));
    assert_eq!(h.broker_name.as_deref(), Some("b"));
    assert_eq!(h.order, Some(false));
    assert_eq!(
        h.init_mode, 1,
        "a new group starts at the end (Java's default)"
    );
    assert_eq!(pop.timeout, Duration::from_secs(25), "poll time + 10 s");
    assert_eq!(pop.addr, BROKER);

    let answer = found(&pop.command, &[(1, 7), (1, 8), (3, 2)]);
    let mut out = r.answer(&mut m, pop, Ok(answer));
    let deliveries = out.deliveries();
    assert_eq!(deliveries.len(), 3, "one message per delivery by default");
    assert_eq!(out.codes(), [RequestCode::PopMessage], "pops again at once");
    let next_pop = out.requests.remove(0);
    let (d, msgs) = &deliveries[1];
    assert_eq!(msgs[0].queue_offset, 8);
    assert_eq!(
        msgs[0].message.property(keys::POP_CK),
        Some("7 1700000000000 60000 2 0 b 1 8")
    );

    let mut out = r.ack(&mut m, *d, ConsumeOutcome::Success);
    assert_eq!(out.codes(), [RequestCode::AckMessage]);
    let ack = out.requests.remove(0);
    let h: AckMessageRequestHeader = header::read(&ack.command).unwrap();
    assert_eq!((h.topic.as_str(), h.queue_id, h.offset), ("T", 1, 8));
    assert_eq!(h.extra_info, "7 1700000000000 60000 2 0 b 1 8");
    let ack_command = ack.command.clone();
    assert!(r
        .answer(&mut m, ack, Ok(ok(&ack_command)))
        .requests
        .is_empty());
    assert_eq!(m.deliveries_in_flight(), 2);
    // A second ack of the same delivery is misuse.
    let (again, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, *d, ConsumeOutcome::Success)
    });
    assert!(again.is_err());
    drop(next_pop);
}

#[test]
fn too_much_out_stops_popping_until_deliveries_settle() {
    let mut r = Router::new(2);
    let mut m = machine(
        ConsumeMode::Concurrently,
        PopConfig::default().with_max_outstanding(2),
    );
    let out = first_pop(&mut r, &mut m, &[(0, 1), (0, 2)]);
    assert!(out.requests.is_empty(), "two out: no pop");
    let d = out.deliveries()[0].0;
    let mut out = r.ack(&mut m, d, ConsumeOutcome::Success);
    assert_eq!(out.codes(), [RequestCode::AckMessage]);
    let ack = out.requests.remove(0);
    let c = ack.command.clone();
    let out = r.answer(&mut m, ack, Ok(ok(&c)));
    assert_eq!(
        out.codes(),
        [RequestCode::PopMessage],
        "one settled: pops again"
    );
}

#[test]
fn an_empty_answer_long_before_the_poll_time_is_not_popped_again_at_once() {
    let mut r = Router::new(1);
    let mut m = machine(ConsumeMode::Concurrently, PopConfig::default());
    let (_, mut out) = r.call(&mut m, |m, now, env| m.refresh(now, env));
    let pop = out.requests.remove(0);
    let c = pop.command.clone();
    let out = r.answer(&mut m, pop, Ok(empty(&c)));
    assert!(out.requests.is_empty(), "no busy loop");
    let start = r.now;
    let mut out = r.fire(&mut m);
    assert_eq!(r.now - start, Duration::from_secs(1));
    assert_eq!(out.codes(), [RequestCode::PopMessage]);
    // Held for the poll time: popped again at once.
    let pop = out.requests.remove(0);
    r.now += Duration::from_secs(15);
    let c = pop.command.clone();
    let out = r.answer(&mut m, pop, Ok(empty(&c)));
    assert_eq!(out.codes(), [RequestCode::PopMessage]);
}

#[test]
fn a_retry_changes_the_invisible_time_and_a_refused_change_is_retried_here() {
    let mut r = Router::new(1);
    let mut m = machine(ConsumeMode::Concurrently, PopConfig::default());
    let out = first_pop(&mut r, &mut m, &[(0, 5)]);
    let (d, _) = out.deliveries()[0].clone();
    let mut out = r.ack(&mut m, d, ConsumeOutcome::ReconsumeLater { delay_level: 0 });
    let change = out
        .requests
        .drain(..)
        .find(|s| matches!(s.request, PopRequest::Retry(..)))
        .expect("a change");
    let h: ChangeInvisibleTimeRequestHeader = header::read(&change.command).unwrap();
    assert_eq!(h.invisible_time, 10_000, "Java's first POP retry delay");
    // The broker refuses it (rocketmq-rust 1.0.0: "append check point error").
    let refused = RemotingCommand::response_to(&change.command, ResponseCode::SystemError);
    let out = r.answer(&mut m, change, Ok(refused));
    assert!(out.deliveries().is_empty());
    let start = r.now;
    let out = r.fire(&mut m);
    assert_eq!(
        r.now - start,
        Duration::from_secs(10),
        "after the retry delay"
    );
    let again = out.deliveries();
    assert_eq!(again.len(), 1, "handed out again here");
    assert_eq!(again[0].1[0].reconsume_times, 1);
    assert_eq!(again[0].1[0].queue_offset, 5);
    let mut out = r.ack(&mut m, again[0].0, ConsumeOutcome::Success);
    let ack = out.requests.remove(0);
    let h: AckMessageRequestHeader = header::read(&ack.command).unwrap();
    assert_eq!(
        h.extra_info, "5 1700000000000 60000 2 0 b 0 5",
        "the old handle"
    );
}

#[test]
fn a_delivery_out_long_is_renewed_and_acked_by_its_new_handle() {
    let mut r = Router::new(1);
    let mut m = machine(
        ConsumeMode::Concurrently,
        PopConfig::default().with_invisible_time(Duration::from_secs(30)),
    );
    let mut out = first_pop(&mut r, &mut m, &[(0, 5)]);
    let (d, _) = out.deliveries()[0].clone();
    let _next_pop = out.requests.remove(0);
    let start = r.now;
    let mut out = r.fire(&mut m);
    assert_eq!(
        r.now - start,
        Duration::from_secs(20),
        "10 s before it is visible"
    );
    assert_eq!(out.codes(), [RequestCode::ChangeMessageInvisibleTime]);
    let renew = out.requests.remove(0);
    let h: ChangeInvisibleTimeRequestHeader = header::read(&renew.command).unwrap();
    assert_eq!(h.invisible_time, 30_000);
    // The user acks while the renewal is out: the ack waits for the new handle.
    let out = r.ack(&mut m, d, ConsumeOutcome::Success);
    assert!(out.requests.is_empty());
    let answer = changed(&renew.command, 1_700_000_020_000);
    let mut out = r.answer(&mut m, renew, Ok(answer));
    assert_eq!(out.codes(), [RequestCode::AckMessage]);
    let h: AckMessageRequestHeader = header::read(&out.requests.remove(0).command).unwrap();
    assert_eq!(h.extra_info, "5 1700000020000 60000 5 0 b 0 5");
}

#[test]
fn a_failed_ack_is_sent_again_a_few_times() {
    let mut r = Router::new(1);
    let mut m = machine(ConsumeMode::Concurrently, PopConfig::default());
    let out = first_pop(&mut r, &mut m, &[(0, 5)]);
    let (d, _) = out.deliveries()[0].clone();
    let mut out = r.ack(&mut m, d, ConsumeOutcome::Success);
    let mut acks = 0;
    while let Some(i) = out
        .requests
        .iter()
        .position(|s| matches!(s.request, PopRequest::Ack(..)))
    {
        acks += 1;
        let ack = out.requests.remove(i);
        let lost = Err(InvokeError::Timeout);
        r.answer(&mut m, ack, lost);
        if m.poll_timeout().is_none() {
            break;
        }
        out = r.fire(&mut m);
    }
    assert_eq!(acks, 3);
}

#[test]
fn orderly_pops_each_queue_and_keeps_the_attempt_id_after_a_lost_answer() {
    let mut r = Router::new(2);
    let mut m = machine(ConsumeMode::Orderly, PopConfig::default());
    let (_, mut out) = r.call(&mut m, |m, now, env| m.refresh(now, env));
    assert_eq!(out.requests.len(), 2, "one pop per queue");
    let pop = out.requests.remove(0);
    let first: PopMessageRequestHeader = header::read(&pop.command).unwrap();
    assert_eq!((first.queue_id, first.order), (0, Some(true)));
    let attempt = first.attempt_id.clone().expect("an attempt id");
    r.answer(&mut m, pop, Err(InvokeError::Timeout));
    let mut out = r.fire(&mut m);
    let pop = out.requests.remove(0);
    let again: PopMessageRequestHeader = header::read(&pop.command).unwrap();
    assert_eq!(
        again.attempt_id.as_deref(),
        Some(attempt.as_str()),
        "the same attempt"
    );
    let answer = found(&pop.command, &[(0, 1), (0, 2)]);
    let out = r.answer(&mut m, pop, Ok(answer));
    let delivered = out.deliveries();
    assert_eq!(delivered.len(), 1, "orderly: the queue's batch at once");
    assert!(
        out.requests.is_empty(),
        "the queue is not popped while its batch is out"
    );
    let mut out = r.ack(&mut m, delivered[0].0, ConsumeOutcome::Success);
    assert_eq!(
        out.codes(),
        [RequestCode::AckMessage, RequestCode::AckMessage]
    );
    let second = out.requests.remove(1);
    let first = out.requests.remove(0);
    for ack in [first, second] {
        let c = ack.command.clone();
        out = r.answer(&mut m, ack, Ok(ok(&c)));
    }
    assert_eq!(
        out.codes(),
        [RequestCode::PopMessage],
        "settled: popped again"
    );
    let next: PopMessageRequestHeader = header::read(&out.requests.remove(0).command).unwrap();
    assert_ne!(
        next.attempt_id.as_deref(),
        Some(attempt.as_str()),
        "answered: a new one"
    );
}

#[test]
fn close_waits_for_deliveries_then_unregisters() {
    let mut r = Router::new(1);
    let mut m = machine(ConsumeMode::Concurrently, PopConfig::default());
    let out = first_pop(&mut r, &mut m, &[(0, 5)]);
    let (d, _) = out.deliveries()[0].clone();
    let (_, out) = r.call(&mut m, |m, now, env| m.close(now, env, OpId(9)));
    assert!(out.requests.is_empty(), "a delivery is out");
    let mut out = r.ack(&mut m, d, ConsumeOutcome::Success);
    let ack = out.requests.remove(0);
    let c = ack.command.clone();
    let mut out = r.answer(&mut m, ack, Ok(ok(&c)));
    assert_eq!(out.codes(), [RequestCode::UnregisterClient]);
    let step = out.requests.remove(0);
    let c = step.command.clone();
    let out = r.answer(&mut m, step, Ok(ok(&c)));
    assert!(matches!(
        out.events.as_slice(),
        [Event::ConsumerClosed { op: OpId(9), .. }]
    ));
    assert!(m.is_finished());
}

#[test]
fn messages_the_tags_do_not_want_are_acked_not_handed_out() {
    let mut r = Router::new(1);
    let config = ConsumerConfig::builder("g").build().expect("valid config");
    let subs: BTreeMap<String, Subscription> =
        [("T".to_string(), Subscription::tag("T", "A").expect("tag"))].into();
    let mut m = PopMachine::new(ConsumerId(1), config, PopConfig::default(), subs, 0);
    let (_, mut out) = r.call(&mut m, |m, now, env| m.refresh(now, env));
    let pop = out.requests.remove(0);
    let mut body = BytesMut::new();
    for (o, tag) in [(0, "A"), (1, "B")] {
        let mut msg = Message::new("T", vec![b'x'; 4]);
        msg.set_tags(tag).expect("tag");
        let mut e = MessageExt::from_message(msg);
        e.queue_offset = o;
        encode_stored_into(&e, &mut body).expect("encodes");
    }
    let mut answer =
        RemotingCommand::response_to(&pop.command, ResponseCode::Success).with_body(body.freeze());
    PopMessageResponseHeader {
        pop_time: 1,
        invisible_time: 60_000,
        revive_qid: 0,
        rest_num: 0,
        start_offset_info: Some("0 0 0".into()),
        msg_offset_info: None,
        order_count_info: None,
    }
    .write_fields(&mut answer.ext_fields);
    let out = r.answer(&mut m, pop, Ok(answer));
    let delivered = out.deliveries();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].1[0].message.tags(), Some("A"));
    let acks: Vec<AckMessageRequestHeader> = out
        .requests
        .iter()
        .filter(|s| matches!(s.request, PopRequest::Ack(..)))
        .map(|s| header::read(&s.command).unwrap())
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].offset, 1, "the TagB message");
}

#[test]
fn a_refused_retry_is_left_to_the_broker_once_its_handle_would_expire_first() {
    let mut r = Router::new(1);
    let mut m = machine(
        ConsumeMode::Concurrently,
        PopConfig::default().with_invisible_time(Duration::from_secs(5)),
    );
    let out = first_pop(&mut r, &mut m, &[(0, 5)]);
    let (d, _) = out.deliveries()[0].clone();
    // The first retry delay (10 s) ends after the handle's invisible time (5 s): the broker
    // hands the message out again itself, so a copy from here would double it.
    let mut out = r.ack(&mut m, d, ConsumeOutcome::ReconsumeLater { delay_level: 0 });
    let change = out
        .requests
        .drain(..)
        .find(|s| matches!(s.request, PopRequest::Retry(..)))
        .expect("a change");
    let refused = RemotingCommand::response_to(&change.command, ResponseCode::SystemError);
    r.answer(&mut m, change, Ok(refused));
    assert!(m.local_retries.is_empty());
    assert_eq!(m.deliveries_in_flight(), 0);
}

/// Found by the random-fault simulation (seed 180): a retry refused after the close began
/// was kept for a local hand-out that the close never made, and its deadline, forever due,
/// spun the client.
#[test]
fn a_retry_refused_while_closing_is_left_to_the_broker_and_the_close_finishes() {
    let mut r = Router::new(1);
    let mut m = machine(ConsumeMode::Concurrently, PopConfig::default());
    let out = first_pop(&mut r, &mut m, &[(0, 5)]);
    let (d, _) = out.deliveries()[0].clone();
    let (_, out) = r.call(&mut m, |m, now, env| m.close(now, env, OpId(3)));
    assert!(out.requests.is_empty());
    let mut out = r.ack(&mut m, d, ConsumeOutcome::ReconsumeLater { delay_level: 1 });
    let change = out
        .requests
        .drain(..)
        .find(|s| matches!(s.request, PopRequest::Retry(..)))
        .expect("a change");
    let refused = RemotingCommand::response_to(&change.command, ResponseCode::SystemError);
    let mut out = r.answer(&mut m, change, Ok(refused));
    assert!(m.local_retries.is_empty());
    assert_eq!(m.poll_timeout(), None, "nothing left to wake for");
    assert_eq!(out.codes(), [RequestCode::UnregisterClient]);
    let step = out.requests.remove(0);
    let c = step.command.clone();
    r.answer(&mut m, step, Ok(ok(&c)));
    assert!(m.is_finished());
}
