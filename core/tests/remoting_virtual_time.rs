//! Virtual-time tests of the remoting state machine, driven through `ClientCore`: timeouts,
//! close draining pending requests, out-of-order responses, early timer calls, broker→client
//! requests and namesrv failover. Time is a plain `Instant` moved by hand.
#![allow(clippy::disallowed_methods)] // one real `Instant` is read as the origin of virtual time

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rocketwire_core::codec::{encode_to_vec, FrameDecoder, RemotingCommand, SerializeType};
use rocketwire_core::remoting::PeerError;
use rocketwire_core::time::ManualWallClock;
use rocketwire_core::{
    ClientConfig, ClientCore, ConnId, Event, Input, InvokeError, Output, ResponseCode, RouteError,
    TlsError,
};

const BROKER: &str = "127.0.0.1:10911";

/// Everything the core emitted in one drain, plus the deadline it ended on.
#[derive(Debug, Default)]
struct Drain {
    connects: Vec<(ConnId, String)>,
    /// Commands written, decoded again, with their connection.
    sent: Vec<(ConnId, RemotingCommand)>,
    closes: Vec<ConnId>,
    events: Vec<Event>,
    timeout: Option<Instant>,
}

fn drain(core: &mut ClientCore, now: Instant) -> Drain {
    let mut d = Drain::default();
    for _ in 0..10_000 {
        match core.poll_output(now) {
            Output::Connect { conn, addr } => d.connects.push((conn, addr)),
            Output::Transmit { conn, head, body } => {
                let mut buf = BytesMut::new();
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&body);
                let cmd = FrameDecoder::default()
                    .decode(&mut buf)
                    .expect("core wrote a valid frame")
                    .expect("core wrote a whole frame");
                assert!(buf.is_empty(), "one frame per transmit");
                d.sent.push((conn, cmd));
            }
            Output::Close { conn } => d.closes.push(conn),
            Output::Event(e) => d.events.push(e),
            Output::Timeout(at) => {
                assert!(at > now, "a returned deadline is in the future");
                d.timeout = Some(at);
                return d;
            }
            Output::Idle => return d,
        }
    }
    panic!("poll_output never settled: busy loop");
}

fn core_with(namesrvs: &[&str], now: Instant) -> ClientCore {
    let config = ClientConfig::new(namesrvs.iter().map(|s| s.to_string()).collect());
    ClientCore::new(
        config,
        Box::new(ManualWallClock::new(1_700_000_000_000)),
        7,
        now,
    )
}

fn frame(cmd: &RemotingCommand) -> Bytes {
    Bytes::from(encode_to_vec(cmd, SerializeType::Json).unwrap())
}

fn reply(to: &RemotingCommand, code: ResponseCode) -> RemotingCommand {
    RemotingCommand::response_to(to, code)
}

fn ping() -> RemotingCommand {
    RemotingCommand::request_code(34)
}

/// A core with an open connection to [`BROKER`] (a ping answered nothing yet).
fn connected_to_broker(t0: Instant) -> (ClientCore, ConnId) {
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let _ = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let conn = drain(&mut core, t0).connects[0].0;
    core.handle_input(t0, Input::Connected(conn));
    let _ = drain(&mut core, t0);
    (core, conn)
}

#[test]
fn requests_queue_until_connected_then_match_by_opaque_out_of_order() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let a = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let b = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let d = drain(&mut core, t0);
    assert_eq!(d.connects.len(), 1, "one connection per address");
    assert!(
        d.sent.is_empty(),
        "nothing is written before the connection is up"
    );
    let conn = d.connects[0].0;

    core.handle_input(t0, Input::Connected(conn));
    let d = drain(&mut core, t0);
    assert_eq!(d.sent.len(), 2);
    let (first, second) = (&d.sent[0].1, &d.sent[1].1);
    assert_ne!(first.opaque, second.opaque);

    // Answer the second request first.
    let r2 = reply(second, ResponseCode::Success).with_remark("second");
    let r1 = reply(first, ResponseCode::Success).with_remark("first");
    let mut bytes = frame(&r2).to_vec();
    bytes.extend_from_slice(&frame(&r1));
    // Deliver in awkward pieces.
    for chunk in bytes.chunks(7) {
        core.handle_input(t0, Input::Received(conn, Bytes::copy_from_slice(chunk)));
    }
    let d = drain(&mut core, t0);
    let results: Vec<(rocketwire_core::OpId, Option<String>)> = d
        .events
        .into_iter()
        .map(|e| match e {
            Event::Response { op, result } => (op, result.unwrap().remark),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        results,
        vec![(b, Some("second".into())), (a, Some("first".into()))]
    );
    assert_eq!(d.timeout, None, "nothing pending: idle, no timer");
}

#[test]
fn deadline_fails_request_and_early_timeout_is_harmless() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let op = core.invoke(t0, BROKER, ping(), Duration::from_millis(1000));
    let d = drain(&mut core, t0);
    let conn = d.connects[0].0;
    core.handle_input(t0, Input::Connected(conn));
    let d = drain(&mut core, t0);
    assert_eq!(d.timeout, Some(t0 + Duration::from_millis(1000)));

    // An early wake-up changes nothing.
    let early = t0 + Duration::from_millis(400);
    core.handle_input(early, Input::Timeout);
    let d = drain(&mut core, early);
    assert!(d.events.is_empty());
    assert_eq!(d.timeout, Some(t0 + Duration::from_millis(1000)));

    let late = t0 + Duration::from_millis(1000);
    core.handle_input(late, Input::Timeout);
    let d = drain(&mut core, late);
    assert_eq!(
        d.events,
        vec![Event::Response {
            op,
            result: Err(InvokeError::Timeout)
        }]
    );
    assert_eq!(d.timeout, None, "no busy loop after the drain");

    // The late response is a typed peer error, not a panic, and the connection stays usable.
    let sent = RemotingCommand {
        opaque: 1,
        ..ping()
    };
    core.handle_input(
        late,
        Input::Received(conn, frame(&reply(&sent, ResponseCode::Success))),
    );
    let d = drain(&mut core, late);
    assert!(matches!(
        d.events.as_slice(),
        [Event::PeerError {
            error: PeerError::UnknownOpaque { opaque: 1, code: 0 },
            ..
        }]
    ));
    assert!(d.closes.is_empty());
    assert_eq!(core.remoting().connection_count(), 1);
}

#[test]
fn expired_deadline_is_handled_by_poll_output_itself() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let op = core.invoke(t0, BROKER, ping(), Duration::from_millis(10));
    // The adapter was busy and drains well after the deadline, without a Timeout input.
    let later = t0 + Duration::from_secs(5);
    let d = drain(&mut core, later);
    // The connection attempt timed out too (3 s), failing the request first.
    assert_eq!(d.events.len(), 1);
    assert!(matches!(&d.events[0], Event::Response { op: o, result: Err(_) } if *o == op));
    assert_eq!(d.timeout, None);
}

#[test]
fn close_drains_every_pending_request() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let ops: Vec<_> = (0..3)
        .map(|_| core.invoke(t0, BROKER, ping(), Duration::from_secs(3)))
        .collect();
    let conn = drain(&mut core, t0).connects[0].0;
    core.handle_input(t0, Input::Connected(conn));
    let _ = drain(&mut core, t0);
    core.handle_input(t0, Input::Closed(conn));
    let d = drain(&mut core, t0);
    let failed: Vec<_> = d
        .events
        .iter()
        .map(|e| match e {
            Event::Response {
                op,
                result: Err(InvokeError::ConnectionClosed { addr }),
            } => {
                assert_eq!(addr, BROKER);
                *op
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(failed, ops);
    assert_eq!(d.timeout, None, "no timers outlive the drained requests");

    // The next request opens a fresh connection.
    let _ = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let d = drain(&mut core, t0);
    assert_eq!(d.connects.len(), 1);
    assert_ne!(d.connects[0].0, conn);
}

#[test]
fn malformed_frame_closes_only_that_connection() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let bad = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let good = core.invoke(t0, "127.0.0.1:10921", ping(), Duration::from_secs(3));
    let d = drain(&mut core, t0);
    let (c1, c2) = (d.connects[0].0, d.connects[1].0);
    core.handle_input(t0, Input::Connected(c1));
    core.handle_input(t0, Input::Connected(c2));
    let d = drain(&mut core, t0);
    let on_c2 = d.sent.iter().find(|(c, _)| *c == c2).unwrap().1.clone();
    // Unknown serialize type 7 in the header word.
    let garbage = Bytes::from_static(&[0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0]);
    core.handle_input(t0, Input::Received(c1, garbage));
    let d = drain(&mut core, t0);
    assert_eq!(d.closes, vec![c1]);
    assert!(d.events.iter().any(|e| matches!(e,
        Event::Response { op, result: Err(InvokeError::Protocol { .. }) } if *op == bad)));
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::PeerError {
            error: PeerError::Malformed(_),
            ..
        }
    )));
    core.handle_input(
        t0,
        Input::Received(c2, frame(&reply(&on_c2, ResponseCode::Success))),
    );
    let d = drain(&mut core, t0);
    assert!(matches!(&d.events[..], [Event::Response { op, result: Ok(_) }] if *op == good));
}

#[test]
fn broker_request_is_surfaced_with_an_answer_token() {
    let t0 = Instant::now();
    let (mut core, conn) = connected_to_broker(t0);

    let mut direct_consume = RemotingCommand::request_code(309).with_field("consumerGroup", "g");
    direct_consume.opaque = 900;
    let mut notify = RemotingCommand::request_code(40).oneway();
    notify.opaque = 901;
    core.handle_input(t0, Input::Received(conn, frame(&direct_consume)));
    core.handle_input(t0, Input::Received(conn, frame(&notify)));
    let d = drain(&mut core, t0);
    let mut requests = d.events.into_iter().map(|e| match e {
        Event::Request(r) => r,
        other => panic!("unexpected {other:?}"),
    });
    let first = requests.next().unwrap();
    let second = requests.next().unwrap();
    assert_eq!(first.addr, BROKER);
    assert_eq!(first.command.code, 309);
    assert!(second.token.is_none(), "oneway requests carry no token");
    let token = first.token.expect("a two-way request carries a token");
    core.answer(
        t0,
        token,
        RemotingCommand::response_to(&first.command, ResponseCode::Success),
    );
    let d = drain(&mut core, t0);
    let (c, answer) = &d.sent[0];
    assert_eq!(*c, conn);
    assert_eq!(answer.opaque, 900);
    assert!(answer.is_response());
}

#[test]
fn tls_failure_fails_the_connections_requests_with_the_typed_error() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let a = core.invoke(t0, BROKER, ping(), Duration::from_secs(10));
    let b = core.invoke(t0, BROKER, ping(), Duration::from_secs(10));
    let conn = drain(&mut core, t0).connects[0].0;
    let error = TlsError::UntrustedCertificate("unknown issuer".into());
    core.handle_input(t0, Input::TlsFailed(conn, error.clone()));
    let d = drain(&mut core, t0);
    let failed = |op| Event::Response {
        op,
        result: Err(InvokeError::Tls {
            addr: BROKER.into(),
            error: error.clone(),
        }),
    };
    assert_eq!(d.events, vec![failed(a), failed(b)]);
    assert_eq!(d.timeout, None, "no deadline is left of that connection");
    // The next request opens a new connection: the failure was that connection's only.
    let _c = core.invoke(t0, BROKER, ping(), Duration::from_secs(10));
    let d = drain(&mut core, t0);
    assert_eq!(d.connects.len(), 1);
    assert_ne!(d.connects[0].0, conn);
}

#[test]
fn connect_failure_and_timeout_fail_requests() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let a = core.invoke(t0, BROKER, ping(), Duration::from_secs(10));
    let conn = drain(&mut core, t0).connects[0].0;
    core.handle_input(t0, Input::ConnectFailed(conn, "refused".into()));
    let d = drain(&mut core, t0);
    assert_eq!(
        d.events,
        vec![Event::Response {
            op: a,
            result: Err(InvokeError::ConnectFailed {
                addr: BROKER.into(),
                reason: "refused".into()
            })
        }]
    );

    let b = core.invoke(t0, BROKER, ping(), Duration::from_secs(10));
    let d = drain(&mut core, t0);
    let conn = d.connects[0].0;
    assert_eq!(
        d.timeout,
        Some(t0 + Duration::from_secs(3)),
        "connect timeout first"
    );
    let t3 = t0 + Duration::from_secs(3);
    core.handle_input(t3, Input::Timeout);
    let d = drain(&mut core, t3);
    assert_eq!(d.closes, vec![conn]);
    assert!(
        matches!(&d.events[..], [Event::Response { op, result: Err(InvokeError::ConnectFailed { .. }) }] if *op == b)
    );
    assert_eq!(d.timeout, None);
}

#[test]
fn shutdown_fails_pending_and_refuses_new_work() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:9876"], t0);
    let a = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let conn = drain(&mut core, t0).connects[0].0;
    core.handle_input(t0, Input::Connected(conn));
    let _ = drain(&mut core, t0);
    core.close(t0);
    assert!(core.is_closed());
    let d = drain(&mut core, t0);
    assert_eq!(d.closes, vec![conn]);
    assert_eq!(
        d.events,
        vec![Event::Response {
            op: a,
            result: Err(InvokeError::Shutdown)
        }]
    );
    let b = core.invoke(t0, BROKER, ping(), Duration::from_secs(3));
    let d = drain(&mut core, t0);
    assert!(d.connects.is_empty());
    assert_eq!(
        d.events,
        vec![Event::Response {
            op: b,
            result: Err(InvokeError::Shutdown)
        }]
    );
    assert_eq!(d.timeout, None);
}

const ROUTE: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

#[test]
fn route_query_fails_over_to_the_next_namesrv() {
    let t0 = Instant::now();
    let ns = ["127.0.0.1:1", "127.0.0.1:2"];
    let mut core = core_with(&ns, t0);
    let op = core.query_route(t0, "TopicTest");
    let d = drain(&mut core, t0);
    let (first_conn, first_addr) = d.connects[0].clone();
    core.handle_input(t0, Input::ConnectFailed(first_conn, "refused".into()));
    let d = drain(&mut core, t0);
    assert!(
        d.events.is_empty(),
        "a failed namesrv is not the end of the query"
    );
    let (second_conn, second_addr) = d.connects[0].clone();
    assert_ne!(first_addr, second_addr);
    core.handle_input(t0, Input::Connected(second_conn));
    let d = drain(&mut core, t0);
    let query = &d.sent[0].1;
    assert_eq!(query.code, 105);
    assert_eq!(query.field("topic"), Some("TopicTest"));
    let response =
        reply(query, ResponseCode::Success).with_body(Bytes::from_static(ROUTE.as_bytes()));
    core.handle_input(t0, Input::Received(second_conn, frame(&response)));
    let d = drain(&mut core, t0);
    match &d.events[..] {
        [Event::Route {
            op: o,
            topic,
            result: Ok(route),
        }] => {
            assert_eq!(*o, op);
            assert_eq!(topic, "TopicTest");
            assert_eq!(
                route.broker_datas[0]
                    .broker_addrs
                    .get(&0)
                    .map(String::as_str),
                Some(BROKER)
            );
            assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        }
        other => panic!("unexpected {other:?}"),
    }

    // A missing topic is a typed error, not a failover.
    let op = core.query_route(t0, "Nope");
    let d = drain(&mut core, t0);
    let query = &d.sent[0].1;
    let response = reply(query, ResponseCode::TopicNotExist).with_remark("No topic route info");
    core.handle_input(t0, Input::Received(second_conn, frame(&response)));
    let d = drain(&mut core, t0);
    assert_eq!(
        d.events,
        vec![Event::Route {
            op,
            topic: "Nope".into(),
            result: Err(RouteError::TopicNotExist("Nope".into()))
        }]
    );
}

#[test]
fn route_query_reports_the_last_error_when_every_namesrv_fails() {
    let t0 = Instant::now();
    let mut core = core_with(&["127.0.0.1:1", "127.0.0.1:2"], t0);
    let op = core.query_route(t0, "T");
    for _ in 0..2 {
        let d = drain(&mut core, t0);
        assert!(d.events.is_empty());
        core.handle_input(t0, Input::ConnectFailed(d.connects[0].0, "refused".into()));
    }
    let d = drain(&mut core, t0);
    assert!(matches!(&d.events[..],
        [Event::Route { op: o, result: Err(RouteError::NamesrvUnavailable(InvokeError::ConnectFailed { .. })), .. }] if *o == op));
    assert!(d.connects.is_empty(), "no third attempt");
}

#[test]
fn pushed_replies_are_answered_and_one_for_no_request_is_dropped() {
    let t0 = Instant::now();
    let (mut core, conn) = connected_to_broker(t0);

    let mut late = RemotingCommand::request_code(326)
        .with_field("producerGroup", "pg")
        .with_field("topic", "DefaultCluster_REPLY_TOPIC")
        .with_field("defaultTopic", "TBW102")
        .with_field("defaultTopicQueueNums", "4")
        .with_field("queueId", "0")
        .with_field("sysFlag", "0")
        .with_field("bornTimestamp", "1")
        .with_field("flag", "0")
        .with_field("properties", "CORRELATION_ID\u{1}nobody\u{2}")
        .with_field("bornHost", "10.0.0.1:5000")
        .with_field("storeHost", "10.0.0.2:10911")
        .with_field("storeTimestamp", "2")
        .with_body(Bytes::from_static(b"late"));
    late.opaque = 700;
    let mut broken = RemotingCommand::request_code(326).with_field("topic", "T");
    broken.opaque = 701;
    core.handle_input(t0, Input::Received(conn, frame(&late)));
    core.handle_input(t0, Input::Received(conn, frame(&broken)));
    let d = drain(&mut core, t0);
    assert!(d.events.is_empty(), "no request waits: {:?}", d.events);
    let answers: Vec<(i32, i32)> = d.sent.iter().map(|(_, c)| (c.opaque, c.code)).collect();
    assert_eq!(
        answers,
        [
            (700, ResponseCode::Success.code()),
            (701, ResponseCode::SystemError.code())
        ]
    );
}
