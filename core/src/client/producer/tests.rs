//! Unit tests of [`ProducerMachine`], driven directly: the test plays the router (an [`Env`]
//! over publish views, answers to the requests the machine asks for).
#![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::super::ids::{OpId, ProducerId, SendId};
use super::super::{Event, RouteError};
use super::machine::{Env, NewSend, Payload, ProducerMachine, ProducerOutput, ProducerRequest};
use super::views::PublishViews;
use super::{SendMode, SendTarget};
use crate::body::{BrokerData, QueueData, TopicRouteData};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::message::{Message, UniqIdGenerator};
use crate::producer::{prepare_message, IdClock, ProducerConfig, QueueSelector, SendError};
use crate::time::{Rng, WallClock};

/// The wall clock the machines see: fixed.
struct FixedWall;

impl WallClock for FixedWall {
    fn now_millis(&self) -> i64 {
        1_700_000_000_000
    }
}

static WALL: FixedWall = FixedWall;

struct Router {
    views: PublishViews,
    brokers: BTreeSet<String>,
    rng: Rng,
    ids: UniqIdGenerator,
    next_send: u64,
    now: Instant,
}

#[derive(Debug, Default)]
struct Out {
    requests: Vec<(String, RemotingCommand, ProducerRequest)>,
    oneways: Vec<String>,
    routes: Vec<(String, Option<SendId>)>,
    learned: Vec<String>,
    events: Vec<Event>,
}

impl Router {
    fn new() -> Self {
        Self {
            views: PublishViews::default(),
            brokers: ["a:10911".to_string(), "b:10911".to_string()].into(),
            rng: Rng::new(3),
            ids: UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, 2, 3),
            next_send: 1000,
            now: Instant::now(),
        }
    }

    fn call<R>(
        &mut self,
        m: &mut ProducerMachine,
        f: impl FnOnce(&mut ProducerMachine, Instant, &mut Env<'_>) -> R,
    ) -> (R, Out) {
        let now = self.now;
        let mut env = Env {
            wall: &WALL,
            client_id: "10.0.0.9@me",
            views: &mut self.views,
            rng: &mut self.rng,
            brokers: &self.brokers,
            request_timeout: Duration::from_secs(3),
            ids: &mut self.ids,
            next_send: &mut self.next_send,
        };
        let result = f(m, now, &mut env);
        let mut out = Out::default();
        while let Some(o) = m.poll_output() {
            match o {
                ProducerOutput::Request {
                    addr,
                    command,
                    request,
                    ..
                } => out.requests.push((addr, command, request)),
                ProducerOutput::Oneway { addr, .. } => out.oneways.push(addr),
                ProducerOutput::Route { topic, send } => out.routes.push((topic, send)),
                ProducerOutput::Brokers(addrs) => out.learned.extend(addrs),
                ProducerOutput::TransactionStored { .. } => panic!("no transactional send here"),
                ProducerOutput::Event(e) => out.events.push(e),
            }
        }
        (result, out)
    }

    fn send(&mut self, m: &mut ProducerMachine, id: u64, mode: SendMode) -> Out {
        let config = m.config().clone();
        let mut message = Message::new("T", b"hello".to_vec());
        let mut clock = IdClock {
            ids: &mut self.ids,
            wall_millis: 1_700_000_000_000,
            utc_offset_millis: 0,
        };
        let prepared = prepare_message(&config, &mut message, &mut clock).expect("valid");
        let send = NewSend {
            op: OpId(id),
            payload: Payload::Single(prepared),
            sample: message,
            target: SendTarget::Default,
            mode,
            transactional: false,
        };
        self.call(m, |m, now, env| m.start_send(now, env, SendId(id), send))
            .1
    }

    fn answer(
        &mut self,
        m: &mut ProducerMachine,
        request: ProducerRequest,
        result: Result<RemotingCommand, crate::remoting::InvokeError>,
    ) -> Out {
        self.call(m, |m, now, env| {
            m.handle_response(now, env, request, result)
        })
        .1
    }
}

fn route() -> TopicRouteData {
    let brokers = ["a", "b"];
    TopicRouteData {
        queue_datas: brokers
            .iter()
            .map(|name| QueueData {
                broker_name: (*name).into(),
                perm: 6,
                read_queue_nums: 2,
                write_queue_nums: 2,
                topic_sys_flag: 0,
            })
            .collect(),
        broker_datas: brokers
            .iter()
            .map(|name| BrokerData {
                broker_name: (*name).into(),
                cluster: "c".into(),
                broker_addrs: [(0, format!("{name}:10911"))].into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn machine() -> ProducerMachine {
    ProducerMachine::new(
        ProducerId(1),
        ProducerConfig {
            group: "pg".into(),
            ..ProducerConfig::default()
        },
        QueueSelector::RoundRobin,
    )
}

fn stored(request: &RemotingCommand, offset: i64) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
        .with_field("msgId", "OFFSETID")
        .with_field("queueId", "0")
        .with_field("queueOffset", offset.to_string())
}

/// A send whose route arrived: its one request, and the router's state.
fn routed_send(
    r: &mut Router,
    m: &mut ProducerMachine,
) -> (String, RemotingCommand, ProducerRequest) {
    let out = r.send(m, 1, SendMode::Sync);
    assert_eq!(out.routes, vec![("T".to_string(), Some(SendId(1)))]);
    assert!(out.requests.is_empty(), "waits for the route");
    let (_, out) = r.call(m, |m, now, env| {
        m.handle_route(now, env, SendId(1), "T", Ok(route()))
    });
    assert_eq!(
        out.learned.len(),
        4,
        "the masters of every queue are learned"
    );
    let [request] = <[_; 1]>::try_from(out.requests).expect("one attempt");
    request
}

#[test]
fn a_send_waits_for_its_route_then_is_stored() {
    let mut r = Router::new();
    let mut m = machine();
    let (addr, command, request) = routed_send(&mut r, &mut m);
    assert_eq!(
        RequestCode::from_code(command.code),
        RequestCode::SendMessageV2
    );
    assert!(addr == "a:10911" || addr == "b:10911");
    assert_eq!(request, ProducerRequest::Attempt(SendId(1)));
    let out = r.answer(&mut m, request, Ok(stored(&command, 7)));
    let [Event::Send { op, result }] = <[Event; 1]>::try_from(out.events).expect("one event")
    else {
        panic!("not a send result");
    };
    assert_eq!(op, OpId(1));
    assert_eq!(result.expect("stored").queue_offset, 7);
    assert_eq!(m.sends_in_flight(), 0);
}

#[test]
fn a_busy_broker_is_retried_on_the_other_broker() {
    let mut r = Router::new();
    let mut m = machine();
    let (first, command, request) = routed_send(&mut r, &mut m);
    let busy = RemotingCommand::response_to(&command, ResponseCode::SystemBusy);
    let out = r.answer(&mut m, request, Ok(busy));
    assert!(out.events.is_empty(), "retried, not failed");
    let [(second, command, request)] = <[_; 1]>::try_from(out.requests).expect("a retry");
    assert_ne!(first, second, "the retry goes to the other broker");
    let out = r.answer(&mut m, request, Ok(stored(&command, 1)));
    assert!(matches!(
        &out.events[..],
        [Event::Send { result: Ok(_), .. }]
    ));
}

#[test]
fn a_send_whose_route_never_comes_times_out_at_its_deadline() {
    let mut r = Router::new();
    let mut m = machine();
    r.send(&mut m, 1, SendMode::Sync);
    let deadline = m.poll_timeout().expect("the route wait has a deadline");
    assert_eq!(deadline, r.now + Duration::from_secs(3));
    r.now = deadline;
    let (_, out) = r.call(&mut m, |m, now, env| m.handle_timeout(now, env));
    assert!(matches!(
        &out.events[..],
        [Event::Send {
            result: Err(SendError::Timeout),
            ..
        }]
    ));
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn a_topic_without_route_goes_through_the_template_topic() {
    let mut r = Router::new();
    let mut m = machine();
    r.send(&mut m, 1, SendMode::Sync);
    let missing = Err(RouteError::TopicNotExist("T".into()));
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.handle_route(now, env, SendId(1), "T", missing)
    });
    let template = m.config().default_topic.clone();
    assert_eq!(out.routes, vec![(template.clone(), Some(SendId(1)))]);
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.handle_route(now, env, SendId(1), &template, Ok(route()))
    });
    assert_eq!(out.requests.len(), 1, "sent through the template's brokers");
}

/// Sends 1..=`count` to topic "T", which has no route: each then waits for the template
/// topic's route, whose name is returned.
fn sends_waiting_for_the_template(r: &mut Router, m: &mut ProducerMachine, count: u64) -> String {
    for id in 1..=count {
        r.send(m, id, SendMode::Sync);
        let missing = Err(RouteError::TopicNotExist("T".into()));
        r.call(m, |m, now, env| {
            m.handle_route(now, env, SendId(id), "T", missing)
        });
    }
    m.config().default_topic.clone()
}

/// Sends that waited together for the template route share one view: the round robin goes
/// on from one index, so they spread over the queues instead of each starting anew (found
/// on the real cluster: a split batch's requests to a new topic all on one queue).
#[test]
fn sends_waiting_for_the_template_share_one_round_robin() {
    let mut r = Router::new();
    let mut m = machine();
    let template = sends_waiting_for_the_template(&mut r, &mut m, 4);
    let mut targets = std::collections::BTreeSet::new();
    for id in 1..=4 {
        let (_, out) = r.call(&mut m, |m, now, env| {
            m.handle_route(now, env, SendId(id), &template, Ok(route()))
        });
        let [(addr, command, _)] = &out.requests[..] else {
            panic!("one attempt per send: {:?}", out.requests);
        };
        let queue = command.field("e").or_else(|| command.field("queueId"));
        targets.insert((addr.clone(), queue.map(str::to_owned)));
    }
    assert_eq!(targets.len(), 4, "each send on the next queue: {targets:?}");
}

/// A template route that names its brokers at new addresses replaces the shared view: the
/// next send goes to where the brokers are now.
#[test]
fn a_template_route_with_moved_brokers_replaces_the_view() {
    let mut r = Router::new();
    let mut m = machine();
    let template = sends_waiting_for_the_template(&mut r, &mut m, 2);
    r.call(&mut m, |m, now, env| {
        m.handle_route(now, env, SendId(1), &template, Ok(route()))
    });
    let mut moved = route();
    for broker in &mut moved.broker_datas {
        broker.broker_addrs = [(0, format!("{}:20911", broker.broker_name))].into();
    }
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.handle_route(now, env, SendId(2), &template, Ok(moved))
    });
    let [(addr, _, _)] = &out.requests[..] else {
        panic!("one attempt: {:?}", out.requests);
    };
    assert!(addr.ends_with(":20911"), "sent to the old address {addr}");
}

#[test]
fn a_oneway_send_is_written_and_reported_at_once() {
    let mut r = Router::new();
    let mut m = machine();
    r.send(&mut m, 1, SendMode::Oneway);
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.handle_route(now, env, SendId(1), "T", Ok(route()))
    });
    assert_eq!(out.oneways.len(), 1);
    assert!(out.requests.is_empty());
    assert!(matches!(
        &out.events[..],
        [Event::OnewaySent { result: Ok(()), .. }]
    ));
}

#[test]
fn close_waits_for_sends_then_unregisters_from_every_broker() {
    let mut r = Router::new();
    let mut m = machine();
    let (_, command, request) = routed_send(&mut r, &mut m);
    let (_, out) = r.call(&mut m, |m, now, env| m.close(now, env, OpId(9)));
    assert!(out.requests.is_empty(), "a send is still in flight");
    assert!(!m.is_live());
    let out = r.answer(&mut m, request, Ok(stored(&command, 1)));
    let unregisters: Vec<&String> = out
        .requests
        .iter()
        .filter(|(_, c, req)| {
            *req == ProducerRequest::Unregister
                && RequestCode::from_code(c.code) == RequestCode::UnregisterClient
        })
        .map(|(addr, _, _)| addr)
        .collect();
    assert_eq!(unregisters, vec!["a:10911", "b:10911"]);
    let out = r.answer(
        &mut m,
        ProducerRequest::Unregister,
        Err(crate::remoting::InvokeError::Timeout),
    );
    assert!(out.events.is_empty() && !m.is_finished());
    let ok = RemotingCommand::response_to(&command, ResponseCode::Success);
    let out = r.answer(&mut m, ProducerRequest::Unregister, Ok(ok));
    assert!(m.is_finished());
    assert!(matches!(
        &out.events[..],
        [Event::ProducerClosed {
            op: OpId(9),
            producer: ProducerId(1)
        }]
    ));
}
