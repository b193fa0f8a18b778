//! Broker address rewrite through `ClientCore`: a route naming an address the client cannot
//! dial (a broker behind NAT) is reached at the mapped address, for sends as for the route
//! the user asks for.
#![allow(clippy::disallowed_methods)] // one real `Instant` is read as the origin of virtual time

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rocketwire_core::body::{BrokerData, QueueData, TopicRouteData};
use rocketwire_core::codec::{encode_to_vec, FrameDecoder, RemotingCommand, SerializeType};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::time::ManualWallClock;
use rocketwire_core::{
    BrokerAddrMap, ClientConfig, ClientCore, Event, Input, Output, RequestCode, ResponseCode,
    SendMode, SendTarget,
};

const NAMESRV: &str = "127.0.0.1:9876";
/// What the broker registers: not reachable from the client.
const REGISTERED: &str = "10.255.0.9:10911";
/// Where the client can reach it.
const MAPPED: &str = "127.0.0.1:30911";

fn route() -> TopicRouteData {
    TopicRouteData {
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            perm: 6,
            read_queue_nums: 4,
            write_queue_nums: 4,
            topic_sys_flag: 0,
        }],
        broker_datas: vec![BrokerData {
            broker_name: "broker-a".into(),
            cluster: "c".into(),
            broker_addrs: [(0, REGISTERED.to_string())].into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn a_mapped_broker_is_dialled_at_its_mapped_address() {
    let now = Instant::now();
    let mut config = ClientConfig::new(vec![NAMESRV.to_string()]);
    config.broker_addr_map = BrokerAddrMap::new().with(REGISTERED, MAPPED);
    let wall = Box::new(ManualWallClock::new(1_700_000_000_000));
    let mut core = ClientCore::new(config, wall, 9, now);
    let producer = core.create_producer(now, ProducerConfig::default(), QueueSelector::RoundRobin);
    let op = core
        .send(
            now,
            producer,
            Message::new("T", b"x".to_vec()),
            SendTarget::Default,
            SendMode::Sync,
        )
        .expect("send");
    let query_op = core.query_route(now, "T");
    let mut dialled = Vec::new();
    let mut answered = false;
    let mut user_route = None;
    for _ in 0..1_000 {
        match core.poll_output(now) {
            Output::Connect { conn, addr } => {
                dialled.push(addr);
                core.handle_input(now, Input::Connected(conn));
            }
            Output::Transmit { conn, head, body } => {
                let mut buf = BytesMut::new();
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&body);
                let cmd = FrameDecoder::default()
                    .decode(&mut buf)
                    .expect("valid frame")
                    .expect("whole frame");
                if RequestCode::from_code(cmd.code) == RequestCode::GetRouteInfoByTopic && !answered
                {
                    answered = true;
                    let response = RemotingCommand::response_to(&cmd, ResponseCode::Success)
                        .with_body(route().encode());
                    let frame = encode_to_vec(&response, SerializeType::Json).expect("encodes");
                    core.handle_input(now, Input::Received(conn, Bytes::from(frame)));
                }
            }
            Output::Event(Event::Route { op, result, .. }) if op == query_op => {
                user_route = Some(result.expect("route"));
            }
            Output::Event(Event::Send { op: sent, .. }) => assert_ne!(sent, op, "not answered"),
            Output::Event(_) | Output::Close { .. } => {}
            Output::Timeout(_) | Output::Idle => break,
        }
    }
    assert!(answered, "the route was asked for");
    assert!(dialled.iter().any(|a| a == MAPPED), "dialled {dialled:?}");
    assert!(
        !dialled.iter().any(|a| a == REGISTERED),
        "dialled {dialled:?}"
    );
    let route = user_route.expect("the user's route query answered");
    assert_eq!(route.broker_datas[0].broker_addrs[&0], MAPPED);
}
