//! Unit tests of [`ConsumerMachine`], driven directly: no client around it, no simulated
//! world. Each test plays the router (an [`Env`] over a route cache, answers to the requests
//! the machine asks for) and checks what comes out.
#![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::super::addr_map::BrokerAddrMap;
use super::super::ids::{ConsumerId, DeliveryId, OpId};
use super::super::route::RouteState;
use super::super::timer::Timers;
use super::super::{ClientConfig, Event};
use super::identity::STALE_CHANNEL_EXPIRY;
use super::machine::{ConsumerMachine, ConsumerOutput, Env, Request};
use super::persist::PersistMode;
use super::{ClientIdCollision, ConsumeOutcome};
use crate::body::{
    BrokerData, Connection, ConsumerConnection, LockBatchResponseBody, MessageModel, MessageQueue,
    QueueData, TopicRouteData,
};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::consumer::{ConsumeMode, ConsumerConfig, OffsetTable, Subscription};
use crate::header::{CommandHeader, PullMessageResponseHeader};
use crate::message::{encode_stored, Message, MessageExt};
use crate::remoting::ConnHistory;
use crate::time::{Rng, WallClock};

/// The wall clock the machines see: fixed.
struct FixedWall;

impl WallClock for FixedWall {
    fn now_millis(&self) -> i64 {
        1_700_000_000_000
    }
}

static WALL: FixedWall = FixedWall;

const BROKER: &str = "10.0.0.1:10911";
const ME: &str = "10.0.0.9@me";

/// The router's side of the machine: a route cache, a clock and the answers.
struct Router {
    routes: RouteState,
    brokers: BTreeSet<String>,
    rng: Rng,
    next_delivery: u64,
    now: Instant,
    addr_map: BrokerAddrMap,
    conn_history: HashMap<String, ConnHistory>,
    jobs: Timers,
}

/// A request the machine asked for, as the router saw it.
#[derive(Debug)]
struct Sent {
    addr: String,
    command: RemotingCommand,
    request: Request,
}

/// Everything one call gave out, by kind.
#[derive(Debug, Default)]
struct Out {
    requests: Vec<Sent>,
    oneways: Vec<(String, RemotingCommand)>,
    heartbeats: usize,
    routes: Vec<String>,
    events: Vec<Event>,
}

impl Router {
    fn new() -> Self {
        let now = Instant::now();
        let config = ClientConfig::new(vec!["10.0.0.2:9876".into()]);
        let mut rng = Rng::new(7);
        let mut routes = RouteState::new(&config, &mut rng);
        routes.insert_for_test("T", route(4));
        Self {
            routes,
            brokers: [BROKER.to_string()].into_iter().collect(),
            rng,
            next_delivery: 1,
            now,
            addr_map: BrokerAddrMap::default(),
            conn_history: HashMap::new(),
            jobs: Timers::new(now),
        }
    }

    /// Calls `f` with an [`Env`], then collects what the machine asked for.
    fn call<R>(
        &mut self,
        m: &mut ConsumerMachine,
        f: impl FnOnce(&mut ConsumerMachine, Instant, &mut Env<'_>) -> R,
    ) -> (R, Out) {
        let now = self.now;
        let mut env = Env {
            wall: &WALL,
            client_id: ME,
            routes: &self.routes,
            brokers: &self.brokers,
            rng: &mut self.rng,
            next_delivery: &mut self.next_delivery,
            request_timeout: Duration::from_secs(3),
            stopped: false,
            addr_map: &self.addr_map,
            conn_history: &self.conn_history,
            jobs: &self.jobs,
        };
        let result = f(m, now, &mut env);
        let mut out = Out::default();
        while let Some(o) = m.poll_output() {
            match o {
                ConsumerOutput::Request {
                    addr,
                    command,
                    request,
                    ..
                } => out.requests.push(Sent {
                    addr,
                    command,
                    request,
                }),
                ConsumerOutput::Oneway { addr, command } => out.oneways.push((addr, command)),
                ConsumerOutput::Heartbeat => out.heartbeats += 1,
                ConsumerOutput::Route(topic) => out.routes.push(topic),
                ConsumerOutput::Event(e) => out.events.push(e),
            }
        }
        (result, out)
    }

    fn answer(&mut self, m: &mut ConsumerMachine, sent: Sent, response: RemotingCommand) -> Out {
        self.call(m, |m, now, env| {
            m.handle_response(now, env, &sent.addr, sent.request, Ok(response))
        })
        .1
    }

    /// Moves the clock to the machine's next timer and runs it.
    fn fire(&mut self, m: &mut ConsumerMachine) -> Out {
        let at = m.poll_timeout(self.now).expect("a timer is armed");
        self.run_at(m, at)
    }

    /// Moves the clock to `at` and runs the timers due.
    fn run_at(&mut self, m: &mut ConsumerMachine, at: Instant) -> Out {
        self.now = self.now.max(at);
        self.call(m, |m, now, env| {
            m.handle_timeout(now, env);
            m.handle_timeout_deliveries(now, env);
        })
        .1
    }
}

/// A route of topic `T`: `queues` queues on broker `b` at [`BROKER`].
pub(in crate::client) fn route(queues: i32) -> TopicRouteData {
    TopicRouteData {
        queue_datas: vec![QueueData {
            broker_name: "b".into(),
            perm: 6,
            read_queue_nums: queues,
            write_queue_nums: queues,
            topic_sys_flag: 0,
        }],
        broker_datas: vec![BrokerData {
            broker_name: "b".into(),
            cluster: "c".into(),
            broker_addrs: [(0, BROKER.to_string())].into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn mq(queue_id: i32) -> MessageQueue {
    MessageQueue {
        topic: "T".into(),
        broker_name: "b".into(),
        queue_id,
    }
}

fn machine(mode: ConsumeMode, model: MessageModel) -> ConsumerMachine {
    let config = ConsumerConfig {
        consume_mode: mode,
        message_model: model,
        ..ConsumerConfig::builder("g").build().expect("valid config")
    };
    let subs: BTreeMap<String, Subscription> =
        [("T".to_string(), Subscription::tag("T", "*").expect("tag"))].into();
    ConsumerMachine::new(ConsumerId(1), config, subs, OffsetTable::new(), false, 0)
}

fn code_of(r: &Sent) -> RequestCode {
    RequestCode::from_code(r.command.code)
}

fn ok(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

fn consumer_list(request: &RemotingCommand, ids: &[&str]) -> RemotingCommand {
    let list: Vec<String> = ids.iter().map(|s| format!("\"{s}\"")).collect();
    let body = format!("{{\"consumerIdList\":[{}]}}", list.join(","));
    ok(request).with_body(body.into_bytes())
}

fn offset_answer(request: &RemotingCommand, offset: i64) -> RemotingCommand {
    ok(request).with_field("offset", offset.to_string())
}

/// A pull answer with messages at `offsets` (stored on the broker of the route).
fn pull_answer(request: &RemotingCommand, offsets: &[i64]) -> RemotingCommand {
    let mut body = BytesMut::new();
    for &o in offsets {
        let mut e = MessageExt::from_message(Message::new("T", vec![b'x'; 10]));
        e.queue_offset = o;
        e.store_host = BROKER.parse().expect("address");
        body.extend_from_slice(&encode_stored(&e).expect("encodes"));
    }
    let next = offsets.last().map_or(0, |o| o + 1);
    let mut response = ok(request).with_body(body.freeze());
    PullMessageResponseHeader {
        next_begin_offset: next,
        max_offset: next,
        ..PullMessageResponseHeader::default()
    }
    .write_fields(&mut response.ext_fields);
    response
}

/// A clustering consumer that rebalanced alone onto every queue of `T`: alone and new, it
/// reads the start offsets at once (what came out is returned).
fn rebalanced_alone(r: &mut Router, mode: ConsumeMode) -> (ConsumerMachine, Out) {
    let mut m = machine(mode, MessageModel::Clustering);
    let (_, out) = r.call(&mut m, |m, now, env| m.rebalance(now, env));
    assert!(out.routes.is_empty(), "the route is cached");
    let [list, connections] =
        <[Sent; 2]>::try_from(out.requests).expect("a list request and a connection list request");
    assert_eq!(code_of(&list), RequestCode::GetConsumerListByGroup);
    assert_eq!(list.addr, BROKER);
    assert_eq!(
        code_of(&connections),
        RequestCode::GetConsumerConnectionList
    );
    let response = connection_list(&connections.command, &[(ME, "10.0.0.9:50000")]);
    let out = r.answer(&mut m, connections, response);
    assert!(out.requests.is_empty() && out.events.is_empty(), "{out:?}");
    let response = consumer_list(&list.command, &[ME]);
    let out = r.answer(&mut m, list, response);
    (m, out)
}

/// A GET_CONSUMER_CONNECTION_LIST answer listing `(client id, address)` pairs.
fn connection_list(request: &RemotingCommand, members: &[(&str, &str)]) -> RemotingCommand {
    let connections = ConsumerConnection {
        connection_set: members
            .iter()
            .map(|(id, addr)| Connection {
                client_id: (*id).to_owned(),
                client_addr: (*addr).to_owned(),
                language: "RUST".into(),
                version: 0,
            })
            .collect(),
        ..ConsumerConnection::default()
    };
    ok(request).with_body(connections.encode())
}

/// Rebalanced alone, every queue started at offset 0 and its first pull out.
fn pulling(r: &mut Router) -> (ConsumerMachine, Vec<Sent>) {
    let (mut m, out) = rebalanced_alone(r, ConsumeMode::Concurrently);
    let mut pulls = Vec::new();
    for q in out.requests {
        assert_eq!(code_of(&q), RequestCode::QueryConsumerOffset);
        let response = offset_answer(&q.command, 0);
        let out = r.answer(&mut m, q, response);
        assert!(out.requests.is_empty(), "the pull waits for its timer");
        pulls.extend(r.fire(&mut m).requests);
    }
    assert!(pulls.iter().all(|p| code_of(p) == RequestCode::PullMessage));
    (m, pulls)
}

/// Answers the first of `pulls` with messages at `offsets`.
fn answer_first_pull(
    r: &mut Router,
    m: &mut ConsumerMachine,
    pulls: Vec<Sent>,
    offsets: &[i64],
) -> Out {
    let pull = pulls.into_iter().next().expect("a pull");
    let response = pull_answer(&pull.command, offsets);
    r.answer(m, pull, response)
}

fn deliveries(out: &Out) -> Vec<(DeliveryId, MessageQueue, Vec<i64>)> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::Deliver {
                delivery,
                queue,
                messages,
                ..
            } => Some((
                *delivery,
                queue.clone(),
                messages.iter().map(|m| m.queue_offset).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_rebalance_lists_the_group_and_takes_its_share_after_a_handover_grace() {
    let mut r = Router::new();
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    let (_, out) = r.call(&mut m, |m, now, env| m.rebalance(now, env));
    let list = out.requests.into_iter().next().expect("list request");
    // Two members: we take the first half of the queues (averagely, ids sorted).
    let response = consumer_list(&list.command, &[ME, "10.0.0.9@zz"]);
    let out = r.answer(&mut m, list, response);
    assert_eq!(m.held_queues(), vec![mq(0), mq(1)]);
    assert_eq!(out.heartbeats, 1, "a changed assignment is heartbeated");
    assert!(out.requests.is_empty(), "a queue taken over waits first");
    assert_eq!(m.poll_timeout(r.now), Some(r.now + Duration::from_secs(1)));
    // After the grace, each queue reads its stored offset.
    let out = r.fire(&mut m);
    let asked: Vec<Request> = out.requests.into_iter().map(|s| s.request).collect();
    assert_eq!(
        asked,
        vec![Request::QueryOffset(mq(0)), Request::QueryOffset(mq(1))]
    );
}

/// A consumer alone that pulled offsets 0 and 1 of queue 3 and acked both.
fn consumed_queue_3(r: &mut Router) -> ConsumerMachine {
    let (mut m, pulls) = pulling(r);
    let pull = pulls
        .into_iter()
        .find(|p| p.request == Request::Pull(mq(3), 0));
    let pull = pull.expect("pull of queue 3");
    let response = pull_answer(&pull.command, &[0, 1]);
    let out = r.answer(&mut m, pull, response);
    for (delivery, _, _) in deliveries(&out) {
        let (result, _) = r.call(&mut m, |m, now, env| {
            m.ack(now, env, delivery, ConsumeOutcome::Success)
        });
        assert_eq!(result, Ok(()));
    }
    m
}

/// A second member joins `m`'s group: queues 2 and 3 go to it. What the round gave.
fn second_member_joins(r: &mut Router, m: &mut ConsumerMachine) -> Out {
    let (_, out) = r.call(m, |m, now, env| m.rebalance_round(now, env));
    let list = out.requests.into_iter().next().expect("list request");
    let response = consumer_list(&list.command, &[ME, "10.0.0.9@zz"]);
    let out = r.answer(m, list, response);
    assert_eq!(m.held_queues(), vec![mq(0), mq(1)]);
    out
}

#[test]
fn a_later_list_without_a_queue_releases_it_and_persists_its_offset() {
    let mut r = Router::new();
    let mut m = consumed_queue_3(&mut r);
    let out = second_member_joins(&mut r, &mut m);
    let persisted: Vec<String> = out
        .oneways
        .iter()
        .filter(|(_, c)| RequestCode::from_code(c.code) == RequestCode::UpdateConsumerOffset)
        .map(|(_, c)| {
            let queue = c.field("queueId").unwrap_or_default();
            let offset = c.field("commitOffset").unwrap_or_default();
            format!("{queue}@{offset}")
        })
        .collect();
    // Queue 3 moved past its start: written. Queue 2 only read its offset: not written back.
    assert_eq!(persisted, vec!["3@2".to_string()]);
}

/// The offsets of queue `queue` written (oneway) in `out`.
fn offsets_written(out: &Out, queue: &str) -> Vec<String> {
    out.oneways
        .iter()
        .filter(|(_, c)| RequestCode::from_code(c.code) == RequestCode::UpdateConsumerOffset)
        .filter(|(_, c)| c.field("queueId") == Some(queue))
        .map(|(_, c)| c.field("commitOffset").unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_released_queue_whose_offset_was_written_already_is_not_written_again() {
    let mut r = Router::new();
    let mut m = consumed_queue_3(&mut r);
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.persist_with(now, env, PersistMode::Periodic)
    });
    assert_eq!(offsets_written(&out, "3"), ["2"], "the periodic persist");
    // Queue 3 goes to a second member. The offset it has (2) is the one written: written
    // again, it could only move back an offset the new owner committed since.
    let out = second_member_joins(&mut r, &mut m);
    assert_eq!(offsets_written(&out, "3"), Vec::<String>::new());
}

#[test]
fn start_offsets_fall_back_to_the_max_offset_when_none_is_stored() {
    let mut r = Router::new();
    let (mut m, out) = rebalanced_alone(&mut r, ConsumeMode::Concurrently);
    let query = out.requests.into_iter().next().expect("query");
    assert_eq!(query.request, Request::QueryOffset(mq(0)));
    let not_found = RemotingCommand::response_to(&query.command, ResponseCode::QueryNotFound);
    let out = r.answer(&mut m, query, not_found);
    let max = out.requests.into_iter().next().expect("max offset request");
    assert_eq!(max.request, Request::MaxOffset(mq(0)));
    let response = offset_answer(&max.command, 42);
    r.answer(&mut m, max, response);
    // LAST_OFFSET computed, so persisted (a restart would compute a later one).
    assert_eq!(m.offsets().get(&mq(0)), Some(&42));
    let pull = r.fire(&mut m).requests.into_iter().next().expect("pull");
    assert_eq!(pull.request, Request::Pull(mq(0), 0));
    assert_eq!(pull.command.field("queueOffset"), Some("42"));
}

#[test]
fn pulled_messages_are_delivered_and_acks_move_the_committed_offset() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let pull = pulls.into_iter().next().expect("a pull");
    assert_eq!(pull.request, Request::Pull(mq(0), 0));
    let response = pull_answer(&pull.command, &[0, 1, 2]);
    let out = r.answer(&mut m, pull, response);
    let delivered = deliveries(&out);
    assert_eq!(delivered.len(), 3, "one message per delivery by default");
    assert_eq!(m.deliveries_in_flight(), 3);
    // Acks out of order: the offset waits for the smallest unsettled message.
    let (second, first) = (delivered[1].0, delivered[0].0);
    let (acked, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, second, ConsumeOutcome::Success)
    });
    assert_eq!(acked, Ok(()));
    assert_eq!(m.offsets().get(&mq(0)), Some(&0));
    let (acked, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, first, ConsumeOutcome::Success)
    });
    assert_eq!(acked, Ok(()));
    assert_eq!(m.offsets().get(&mq(0)), Some(&2));
    // A second ack of a settled delivery is misuse.
    let (again, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, first, ConsumeOutcome::Success)
    });
    assert!(again.is_err());
    // The periodic persist writes the moved offset, oneway.
    let (_, out) = r.call(&mut m, |m, now, env| m.persist_offsets(now, env));
    let written: Vec<Option<&str>> = out
        .oneways
        .iter()
        .map(|(_, c)| c.field("commitOffset"))
        .collect();
    assert_eq!(written, vec![Some("2")]);
}

#[test]
fn reconsume_later_sends_back_and_a_refused_send_back_is_retried_locally() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0]);
    let (delivery, _, _) = deliveries(&out)[0].clone();
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.ack(
            now,
            env,
            delivery,
            ConsumeOutcome::ReconsumeLater { delay_level: 0 },
        )
    });
    let send_back = out.requests.into_iter().next().expect("send-back");
    assert_eq!(code_of(&send_back), RequestCode::ConsumerSendMsgBack);
    assert_eq!(send_back.addr, BROKER);
    assert_eq!(send_back.request, Request::SendBack(delivery, 0));
    // The broker refuses: the message stays unsettled and comes again after the pause.
    let refused = RemotingCommand::response_to(&send_back.command, ResponseCode::SystemError);
    let out = r.answer(&mut m, send_back, refused);
    assert!(deliveries(&out).is_empty());
    assert_eq!(m.offsets().get(&mq(0)), Some(&0));
    let start = r.now;
    let early = r.run_at(&mut m, start + Duration::from_millis(4_900));
    assert!(deliveries(&early).is_empty(), "not before the pause");
    let out = r.run_at(&mut m, start + Duration::from_secs(5));
    let again = deliveries(&out);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].2, vec![0]);
}

#[test]
fn an_orderly_queue_delivers_only_once_locked_and_one_batch_at_a_time() {
    let mut r = Router::new();
    let (mut m, out) = rebalanced_alone(&mut r, ConsumeMode::Orderly);
    let (locks, queries): (Vec<Sent>, Vec<Sent>) = out
        .requests
        .into_iter()
        .partition(|s| code_of(s) == RequestCode::LockBatchMq);
    let lock = locks.into_iter().next().expect("lock request");
    let Request::Lock(requested) = &lock.request else {
        panic!("not a lock: {:?}", lock.request);
    };
    assert_eq!(requested.len(), 4);
    // Only queue 0 is granted.
    let body = LockBatchResponseBody {
        lock_ok_mq_set: [mq(0)].into_iter().collect(),
    };
    let response = ok(&lock.command).with_body(body.encode());
    r.answer(&mut m, lock, response);
    // Start queue 0 and pull it.
    let query = queries
        .into_iter()
        .find(|s| s.request == Request::QueryOffset(mq(0)))
        .expect("query of queue 0");
    let response = offset_answer(&query.command, 0);
    r.answer(&mut m, query, response);
    let pull = r
        .fire(&mut m)
        .requests
        .into_iter()
        .find(|s| s.request == Request::Pull(mq(0), 0))
        .expect("pull of queue 0");
    let response = pull_answer(&pull.command, &[0, 1]);
    let out = r.answer(&mut m, pull, response);
    let first = deliveries(&out);
    assert_eq!(first.len(), 1, "one batch at a time");
    assert_eq!(first[0].2, vec![0]);
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, first[0].0, ConsumeOutcome::Success)
    });
    assert_eq!(
        deliveries(&out)[0].2,
        vec![1],
        "the next batch after the ack"
    );
}

#[test]
fn a_stale_pull_after_a_seek_is_ignored() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let pull = pulls.into_iter().next().expect("a pull");
    let (result, _) = r.call(&mut m, |m, now, env| m.seek(now, env, &mq(0), 10));
    assert_eq!(result, Ok(()));
    // The pull asked before the seek answers: nothing of it is delivered.
    let response = pull_answer(&pull.command, &[0, 1]);
    let out = r.answer(&mut m, pull, response);
    assert!(deliveries(&out).is_empty());
    assert_eq!(m.offsets().get(&mq(0)), Some(&10));
    let pull = r
        .fire(&mut m)
        .requests
        .into_iter()
        .next()
        .expect("new pull");
    assert_eq!(pull.request, Request::Pull(mq(0), 1));
    assert_eq!(pull.command.field("queueOffset"), Some("10"));
}

#[test]
fn a_send_back_goes_to_the_mapped_store_host() {
    let mut r = Router::new();
    r.addr_map = BrokerAddrMap::new().with(BROKER, "broker-a.example:30911");
    let (mut m, pulls) = pulling(&mut r);
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0]);
    let (delivery, _, _) = deliveries(&out)[0].clone();
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.ack(
            now,
            env,
            delivery,
            ConsumeOutcome::ReconsumeLater { delay_level: 0 },
        )
    });
    let send_back = out.requests.into_iter().next().expect("send-back");
    assert_eq!(send_back.addr, "broker-a.example:30911");
}

#[test]
fn a_seek_gives_up_the_queues_deliveries_and_marks_the_event_stream() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0, 1]);
    let delivered = deliveries(&out);
    assert_eq!(delivered.len(), 2);
    // Back to 0 with both deliveries still out (a lite consumer without auto-commit).
    let (result, out) = r.call(&mut m, |m, now, env| m.seek(now, env, &mq(0), 0));
    assert_eq!(result, Ok(()));
    assert!(matches!(
        &out.events[..],
        [Event::Seeked { consumer: ConsumerId(1), queue }] if *queue == mq(0)
    ));
    assert_eq!(m.deliveries_in_flight(), 0);
    let (ack, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, delivered[0].0, ConsumeOutcome::Success)
    });
    assert_eq!(ack, Err(super::Misuse::UnknownDelivery(delivered[0].0)));
    assert_eq!(m.offsets().get(&mq(0)), Some(&0));
    // The same offsets pulled again are delivered again.
    let pull = r
        .fire(&mut m)
        .requests
        .into_iter()
        .find(|s| s.request == Request::Pull(mq(0), 1))
        .expect("a pull from the new position");
    assert_eq!(pull.command.field("queueOffset"), Some("0"));
    let response = pull_answer(&pull.command, &[0, 1]);
    let out = r.answer(&mut m, pull, response);
    let again: Vec<i64> = deliveries(&out)
        .into_iter()
        .flat_map(|(_, _, o)| o)
        .collect();
    assert_eq!(again, vec![0, 1]);
}

/// Found by fuzzing (`client_core_ops`): a seek of a queue that `assign` had just dropped was
/// refused as not held, but only after it had given up the queue's deliveries still out, so
/// the user's later ack of one was refused too.
#[test]
fn a_refused_seek_leaves_the_deliveries_out_alone() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0]);
    let delivered = deliveries(&out);
    assert_eq!(delivered.len(), 1);
    let (assigned, _) = r.call(&mut m, |m, now, env| m.assign(now, env, vec![mq(1)]));
    assert_eq!(assigned, Ok(()));
    let (seek, out) = r.call(&mut m, |m, now, env| m.seek(now, env, &mq(0), 0));
    assert!(
        matches!(seek, Err(super::Misuse::QueueNotHeld { .. })),
        "{seek:?}"
    );
    assert!(out.events.is_empty(), "{out:?}");
    assert_eq!(m.deliveries_in_flight(), 1);
    let (ack, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, delivered[0].0, ConsumeOutcome::Success)
    });
    assert_eq!(
        ack,
        Ok(()),
        "the user's ack of a delivery it holds is taken"
    );
}

/// Starts a rebalance round of `m` at `r.now`, answers its consumer list (`[ME]`) and
/// returns the connection-list request the round sent.
fn identity_round(r: &mut Router, m: &mut ConsumerMachine) -> Sent {
    let (_, out) = r.call(m, |m, now, env| m.rebalance(now, env));
    let (mut lists, mut checks): (Vec<Sent>, Vec<Sent>) = out
        .requests
        .into_iter()
        .partition(|s| code_of(s) == RequestCode::GetConsumerListByGroup);
    let list = lists.pop().expect("a consumer list request");
    let response = consumer_list(&list.command, &[ME]);
    r.answer(m, list, response);
    let check = checks.pop().expect("a connection list request");
    assert_eq!(code_of(&check), RequestCode::GetConsumerConnectionList);
    assert!(checks.is_empty(), "one check per round");
    check
}

/// The collision `m` reports for the addresses `others` on [`BROKER`].
fn collision(others: &[&str]) -> ClientIdCollision {
    ClientIdCollision {
        consumer: ConsumerId(1),
        group: "g".into(),
        client_id: ME.into(),
        broker: BROKER.into(),
        client_addrs: others.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// One check round of `m` whose answer lists `members`; what came out.
fn check_round(r: &mut Router, m: &mut ConsumerMachine, members: &[(&str, &str)]) -> Out {
    let check = identity_round(r, m);
    let response = connection_list(&check.command, members);
    r.answer(m, check, response)
}

#[test]
fn without_local_addresses_our_id_on_two_connections_is_a_collision() {
    let mut r = Router::new();
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    let check = identity_round(&mut r, &mut m);
    assert_eq!(check.addr, BROKER);
    assert_eq!(check.command.field("consumerGroup"), Some("g"));
    let members = [
        (ME, "10.0.0.9:50000"),
        ("10.0.0.5@other", "10.0.0.5:40000"),
        (ME, "10.0.0.3:41000"),
    ];
    let response = connection_list(&check.command, &members);
    let out = r.answer(&mut m, check, response);
    let expected = collision(&["10.0.0.3:41000", "10.0.0.9:50000"]);
    assert_eq!(out.events, vec![Event::ClientIdCollision(expected.clone())]);
    assert_eq!(m.identity.collision(), Some(&expected));

    // Seen again: not reported twice. Gone: it lasts until no other address was seen for
    // a broker's channel expiry, then clears.
    assert!(check_round(&mut r, &mut m, &members).events.is_empty());
    assert!(check_round(&mut r, &mut m, &members[..2]).events.is_empty());
    assert_eq!(m.identity.collision(), Some(&expected));
    r.now += STALE_CHANNEL_EXPIRY + Duration::from_secs(1);
    assert!(check_round(&mut r, &mut m, &members[..2]).events.is_empty());
    assert_eq!(m.identity.collision(), None);
}

#[test]
fn after_a_reconnect_a_duplicate_counts_only_once_a_stale_channel_would_have_expired() {
    let mut r = Router::new();
    let history = ConnHistory {
        opened: 2,
        ..ConnHistory::default()
    };
    r.conn_history.insert(BROKER.into(), history);
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    let members = [(ME, "10.0.0.9:50000"), (ME, "10.0.0.9:49000")];
    let out = check_round(&mut r, &mut m, &members);
    assert!(
        out.events.is_empty(),
        "maybe our previous connection: {out:?}"
    );
    r.now += STALE_CHANNEL_EXPIRY;
    assert!(check_round(&mut r, &mut m, &members).events.is_empty());
    r.now += Duration::from_secs(1);
    let out = check_round(&mut r, &mut m, &members);
    assert_eq!(
        out.events,
        vec![Event::ClientIdCollision(collision(&[
            "10.0.0.9:49000",
            "10.0.0.9:50000"
        ]))]
    );
}

#[test]
fn with_local_addresses_another_address_under_our_id_is_a_collision() {
    let mut r = Router::new();
    let history = ConnHistory {
        opened: 2,
        current: Some("10.0.0.9:50000".into()),
        local_addrs: ["10.0.0.9:50000".to_owned(), "10.0.0.9:49000".to_owned()].into(),
    };
    r.conn_history.insert(BROKER.into(), history);
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    // Our current and our previous connection: nobody else.
    let ours = [(ME, "10.0.0.9:50000"), (ME, "10.0.0.9:49000")];
    assert!(check_round(&mut r, &mut m, &ours).events.is_empty());
    assert_eq!(m.identity.collision(), None);
    // A broker that keeps one connection per id shows the twin's instead of ours.
    let out = check_round(&mut r, &mut m, &[(ME, "10.0.0.3:41000")]);
    let expected = collision(&["10.0.0.3:41000"]);
    assert_eq!(out.events, vec![Event::ClientIdCollision(expected.clone())]);
    // Ours again: the twin heartbeats again soon, so the collision stands.
    assert!(check_round(&mut r, &mut m, &ours[..1]).events.is_empty());
    assert_eq!(m.identity.collision(), Some(&expected));
}

#[test]
fn behind_nat_a_foreign_address_proves_nothing() {
    let mut r = Router::new();
    let history = ConnHistory {
        opened: 1,
        current: Some("192.168.1.5:50000".into()),
        local_addrs: ["192.168.1.5:50000".to_owned()].into(),
    };
    r.conn_history.insert(BROKER.into(), history);
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    // The broker has never listed our address as we know it: it sees the NAT's.
    for _ in 0..3 {
        let out = check_round(&mut r, &mut m, &[(ME, "203.0.113.7:6000")]);
        assert!(out.events.is_empty(), "{out:?}");
    }
    assert_eq!(m.identity.collision(), None);
}

#[test]
fn consumers_that_share_no_queues_do_not_check() {
    let mut r = Router::new();
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Broadcasting);
    let (_, out) = r.call(&mut m, |m, now, env| m.rebalance(now, env));
    assert!(out
        .requests
        .iter()
        .all(|s| code_of(s) != RequestCode::GetConsumerConnectionList));
    // A failed check says nothing and the next round asks again.
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    let check = identity_round(&mut r, &mut m);
    let out = r.call(&mut m, |m, now, env| {
        m.handle_response(
            now,
            env,
            BROKER,
            check.request,
            Err(crate::remoting::InvokeError::Timeout),
        )
    });
    assert!(out.1.events.is_empty());
    identity_round(&mut r, &mut m);
}

/// NO_PERMISSION, as an ACL-enabled broker refuses.
fn refused(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::NoPermission)
        .with_remark("user rw-bad is not authorized")
}

/// A rebalance round of `m` whose connection list is refused and whose consumer list gets
/// `answer`; the events of the list's answer.
fn refusal_round(
    r: &mut Router,
    m: &mut ConsumerMachine,
    answer: fn(&RemotingCommand) -> RemotingCommand,
) -> Vec<Event> {
    let (_, out) = r.call(m, |m, now, env| m.rebalance(now, env));
    let mut events = Vec::new();
    for sent in out.requests {
        if code_of(&sent) == RequestCode::GetConsumerListByGroup {
            let response = answer(&sent.command);
            events.extend(r.answer(m, sent, response).events);
        } else {
            // The connection list is admin's: refusing it does not make the consumer refused.
            let response = refused(&sent.command);
            assert!(r.answer(m, sent, response).events.is_empty());
        }
    }
    events
}

#[test]
fn a_refusal_for_lack_of_permission_is_reported_once_and_ends_with_a_success() {
    let mut r = Router::new();
    let mut m = machine(ConsumeMode::Concurrently, MessageModel::Clustering);
    let events = refusal_round(&mut r, &mut m, refused);
    let [Event::ConsumerRefused(refusal)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(refusal.request, "GET_CONSUMER_LIST_BY_GROUP");
    assert_eq!(refusal.broker, BROKER);
    assert_eq!(refusal.code, ResponseCode::NoPermission);
    assert_eq!(
        refusal.remark.as_deref(),
        Some("user rw-bad is not authorized")
    );
    assert_eq!(m.refusal.current(), Some(refusal));
    // Refused again the same way: not reported twice. Then accepted: over.
    assert!(refusal_round(&mut r, &mut m, refused).is_empty());
    assert!(m.refusal.current().is_some());
    refusal_round(&mut r, &mut m, |c| consumer_list(c, &[ME]));
    assert_eq!(
        m.refusal.current(),
        None,
        "a successful list ends the refusal"
    );
}

mod close;
mod stats;
