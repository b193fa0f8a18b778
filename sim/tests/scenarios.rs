//! Scenarios driving the real `ClientCore` through the simulated world.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketwire_core::codec::encode_to_vec;
use rocketwire_core::header::{self, GetMaxOffsetRequestHeader, SendMessageResponseHeader};
use rocketwire_core::message::{decode_messages, offset_message_id, Message};
use rocketwire_core::remoting::PeerError;
use rocketwire_core::request::{pull_message, send_message};
use rocketwire_core::{
    ConnId, Event, Input, InvokeError, OpId, Output, RemotingCommand, RequestCode, ResponseCode,
    SerializeType,
};
use rocketwire_sim::{Dir, Driven, HookAction, Latency, SimError, World, WorldConfig};

const BROKER_A: &str = "127.0.0.1:10911";
const BROKER_B: &str = "127.0.0.1:10921";
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn send_v2(world: &World, topic: &str, queue_id: i32, body: &'static [u8]) -> RemotingCommand {
    let message = Message::new(topic, Bytes::from_static(body));
    send_message(
        "pg",
        &message,
        queue_id,
        0,
        world.clock().wall_millis(),
        None,
    )
}

fn invoke(
    world: &mut World,
    client: usize,
    addr: &str,
    cmd: RemotingCommand,
    timeout: Duration,
) -> OpId {
    let now = world.now();
    world.client(client).invoke(now, addr, cmd, timeout)
}

fn wait_response(
    world: &mut World,
    client: usize,
    op: OpId,
) -> (Duration, Result<RemotingCommand, InvokeError>) {
    world
        .drive_until(|w| w.response(client, op).is_some(), SECS(60))
        .unwrap();
    let (at, result) = world.response(client, op).unwrap();
    (at, result.clone())
}

#[test]
fn route_send_and_pull_round_trip() {
    let mut world = World::new(WorldConfig::new(1));
    world.broker("broker-a").create_topic("TopicTest", 4);

    let now = world.now();
    let route_op = world.client(0).query_route(now, "TopicTest");
    world
        .drive_until(|w| !w.events(0).is_empty(), SECS(10))
        .unwrap();
    let route = match &world.events(0)[0].event {
        Event::Route {
            op,
            result: Ok(route),
            ..
        } if *op == route_op => route.clone(),
        other => panic!("unexpected {other:?}"),
    };
    let addr = route.master_addr("broker-a").unwrap().to_string();
    assert_eq!(addr, BROKER_A);

    let send = send_v2(&world, "TopicTest", 1, b"hello");
    let op = invoke(&mut world, 0, &addr, send, SECS(3));
    let (_, result) = wait_response(&mut world, 0, op);
    let response = result.unwrap();
    assert_eq!(response.response_code(), ResponseCode::Success);
    let h: SendMessageResponseHeader = header::read(&response).unwrap();
    assert_eq!((h.queue_id, h.queue_offset), (1, 0));
    assert_eq!(h.msg_id, offset_message_id(BROKER_A.parse().unwrap(), 0));

    let pull = pull_message("cg", "TopicTest", 1, 0, 32, "*", 15_000);
    let op = invoke(&mut world, 0, &addr, pull, SECS(20));
    let (_, result) = wait_response(&mut world, 0, op);
    let response = result.unwrap();
    assert_eq!(response.response_code(), ResponseCode::Success);
    let messages = decode_messages(&response.body).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message.body, Bytes::from_static(b"hello"));
    assert_eq!(messages[0].offset_msg_id, h.msg_id);
    assert_eq!(response.field("nextBeginOffset"), Some("1"));

    insta::assert_snapshot!(world.transcript());
}

/// Two clients send to both brokers concurrently under jitter; returns the transcript.
fn concurrent_sends(seed: u64) -> String {
    let mut config = WorldConfig::new(seed);
    config.clients = 2;
    config.net.latency = Latency::millis(1, 5);
    let mut world = World::new(config);
    for i in 0..6 {
        let client = i % 2;
        let addr = if i % 3 == 0 { BROKER_A } else { BROKER_B };
        let send = send_v2(&world, "T", (i % 4) as i32, b"x");
        invoke(&mut world, client, addr, send, SECS(3));
    }
    world.drive(SECS(1)).unwrap();
    world.transcript()
}

#[test]
fn same_seed_same_transcript_other_seed_other_transcript() {
    let a = concurrent_sends(5);
    assert_eq!(a, concurrent_sends(5));
    assert_ne!(a, concurrent_sends(6));
    assert_eq!(a.matches("Event Response").count(), 6, "{a}");
}

#[test]
fn dropped_connection_fails_the_pending_invoke_and_the_next_one_reconnects() {
    let mut world = World::new(WorldConfig::new(2));
    world.broker("broker-a").drop_next_request();
    let send = send_v2(&world, "T", 0, b"a");
    let op = invoke(&mut world, 0, BROKER_A, send, SECS(3));
    let (_, result) = wait_response(&mut world, 0, op);
    assert_eq!(
        result,
        Err(InvokeError::ConnectionClosed {
            addr: BROKER_A.into()
        })
    );

    let send = send_v2(&world, "T", 0, b"b");
    let op = invoke(&mut world, 0, BROKER_A, send, SECS(3));
    let (_, result) = wait_response(&mut world, 0, op);
    assert_eq!(result.unwrap().response_code(), ResponseCode::Success);
    let transcript = world.transcript();
    assert!(
        transcript.contains("c1 Connect conn#2 127.0.0.1:10911"),
        "{transcript}"
    );
    assert_eq!(world.broker("broker-a").store().max_offset("T", 0), 1);
}

#[test]
fn partitioned_namesrv_fails_over_to_the_second() {
    let mut config = WorldConfig::new(3);
    config.clients = 4;
    let mut world = World::new(config);
    world.broker("broker-b").create_topic("T", 2);
    world.partition("127.0.0.1:9876");
    let now = world.now();
    for c in 0..4 {
        world.client(c).query_route(now, "T");
    }
    world
        .drive_until(|w| (0..4).all(|c| !w.events(c).is_empty()), SECS(30))
        .unwrap();
    let mut failed_over = 0;
    for c in 0..4 {
        match &world.events(c)[0] {
            ev @ rocketwire_sim::SimEvent {
                event: Event::Route {
                    result: Ok(route), ..
                },
                ..
            } => {
                assert_eq!(route.master_addr("broker-b"), Some(BROKER_B));
                if ev.at >= SECS(3) {
                    failed_over += 1;
                }
            }
            other => panic!("client {c}: {other:?}"),
        }
    }
    assert!(
        failed_over > 0,
        "no client started at the partitioned namesrv; pick another seed"
    );
    assert_eq!(world.namesrv(0).requests_seen(), 0);
    assert_eq!(world.namesrv(1).requests_seen(), 4);
    let transcript = world.transcript();
    assert!(
        transcript.contains("Connect conn#1 127.0.0.1:9876"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Connect conn#2 127.0.0.1:9877"),
        "{transcript}"
    );
}

#[test]
fn stalled_broker_times_invokes_out_at_their_deadline() {
    let mut world = World::new(WorldConfig::new(4));
    world.drive(Duration::from_millis(10)).unwrap();
    let until = world.now() + SECS(60);
    world.broker("broker-a").stall_until(until);
    let send = send_v2(&world, "T", 0, b"a");
    let op = invoke(&mut world, 0, BROKER_A, send, Duration::from_millis(2_500));
    let (at, result) = wait_response(&mut world, 0, op);
    assert_eq!(result, Err(InvokeError::Timeout));
    assert_eq!(at, Duration::from_millis(2_510));
    assert_eq!(world.broker("broker-a").store().max_offset("T", 0), 0);
}

#[test]
fn rewritten_response_opaque_is_an_unknown_opaque_then_a_timeout() {
    let mut world = World::new(WorldConfig::new(5));
    world.broker("broker-a").create_topic("T", 4);
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    world.net().set_hook(move |frame| {
        if frame.dir == Dir::ToClient && frame.command.is_response() && !flag.get() {
            flag.set(true);
            frame.command.opaque = 9_999;
        }
        HookAction::Deliver
    });
    let send = send_v2(&world, "T", 0, b"a");
    let op = invoke(&mut world, 0, BROKER_A, send, SECS(3));
    world.drive(SECS(10)).unwrap();
    assert!(done.get());
    let events: Vec<(Duration, Event)> = world
        .events(0)
        .iter()
        .map(|e| (e.at, e.event.clone()))
        .collect();
    let expected_error = PeerError::UnknownOpaque {
        opaque: 9_999,
        code: 0,
    };
    assert!(
        matches!(
            events.as_slice(),
            [
                (_, Event::PeerError { addr, error }),
                (at, Event::Response { op: o, result: Err(InvokeError::Timeout) }),
            ] if addr == BROKER_A && *error == expected_error && *o == op && *at == SECS(3)
        ),
        "{events:#?}"
    );
}

/// A client stub that ping-pongs GET_MAX_OFFSET with a broker forever.
struct PingPong {
    started: bool,
    pending: Vec<Output>,
}

impl PingPong {
    fn frame() -> Bytes {
        let h = GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            committed: true,
            broker_name: None,
        };
        let mut cmd = header::request(RequestCode::GetMaxOffset, &h);
        cmd.opaque = 1;
        Bytes::from(encode_to_vec(&cmd, SerializeType::Json).unwrap())
    }

    fn transmit(&mut self) {
        self.pending.push(Output::Transmit {
            conn: ConnId(1),
            head: Self::frame(),
            body: Bytes::new(),
        });
    }
}

impl Driven for PingPong {
    fn handle_input(&mut self, _now: Instant, input: Input) {
        match input {
            Input::Connected(_) | Input::Received(..) => self.transmit(),
            _ => {}
        }
    }

    fn poll_output(&mut self, _now: Instant) -> Output {
        if !self.started {
            self.started = true;
            return Output::Connect {
                conn: ConnId(1),
                addr: BROKER_A.into(),
            };
        }
        self.pending.pop().unwrap_or(Output::Idle)
    }
}

/// A stub that asks to be woken now, forever.
struct BusyTimer;

impl Driven for BusyTimer {
    fn handle_input(&mut self, _now: Instant, _input: Input) {}
    fn poll_output(&mut self, now: Instant) -> Output {
        Output::Timeout(now)
    }
}

#[test]
fn livelock_is_detected() {
    let mut config = WorldConfig::new(6);
    config.clients = 0;
    config.net.latency = Latency::millis(0, 0);
    config.max_steps_per_instant = 5_000;
    config.transcript = false;
    let mut world = World::new(config);
    world.add_stub(Box::new(PingPong {
        started: false,
        pending: Vec::new(),
    }));
    let err = world.drive(SECS(1)).unwrap_err();
    assert!(
        matches!(err, SimError::Livelock { at, steps: 5_001 } if at == Duration::ZERO),
        "{err:?}"
    );

    let mut world = World::new(WorldConfig::new(6));
    let stub = world.add_stub(Box::new(BusyTimer));
    let err = world.drive(SECS(1)).unwrap_err();
    assert_eq!(
        err,
        SimError::TimerNotInFuture {
            client: stub,
            deadline: Duration::ZERO,
            now: Duration::ZERO
        }
    );
}
