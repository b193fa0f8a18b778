//! ACL signing through `ClientCore`: with credentials in the config, every request that goes
//! on the wire (requests and oneways, to namesrvs and brokers) carries `AccessKey` and a
//! `Signature` that verifies over the fields and body as written; `set_credentials` rotates
//! the keys and closes the connections so the servers authenticate the new ones.
#![allow(clippy::disallowed_methods)] // one real `Instant` is read as the origin of virtual time

use std::time::{Duration, Instant};

use bytes::BytesMut;
use rocketwire_core::acl::{hmac_sha1_base64, Credentials};
use rocketwire_core::codec::{FrameDecoder, RemotingCommand, RequestCode};
use rocketwire_core::time::ManualWallClock;
use rocketwire_core::{ClientConfig, ClientCore, ConnId, Input, Output};

const NAMESRV: &str = "127.0.0.1:9876";
const BROKER: &str = "127.0.0.1:10911";

/// What one drain wrote: the decoded commands, with their connection, and the closes.
fn drain(core: &mut ClientCore, now: Instant) -> (Vec<(ConnId, RemotingCommand)>, Vec<ConnId>) {
    let (mut sent, mut closed) = (Vec::new(), Vec::new());
    for _ in 0..1_000 {
        match core.poll_output(now) {
            Output::Connect { conn, .. } => core.handle_input(now, Input::Connected(conn)),
            Output::Transmit { conn, head, body } => {
                let mut buf = BytesMut::new();
                buf.extend_from_slice(&head);
                buf.extend_from_slice(&body);
                let cmd = FrameDecoder::default()
                    .decode(&mut buf)
                    .expect("a valid frame")
                    .expect("a whole frame");
                sent.push((conn, cmd));
            }
            Output::Close { conn } => closed.push(conn),
            Output::Event(_) => {}
            Output::Timeout(_) | Output::Idle => return (sent, closed),
        }
    }
    panic!("poll_output never settled");
}

/// Checks `cmd`'s signature against the secret, over what was written.
fn verifies(cmd: &RemotingCommand, secret: &str) -> bool {
    let mut content = Vec::new();
    for (key, value) in &cmd.ext_fields {
        if key != "Signature" {
            content.extend_from_slice(value.as_bytes());
        }
    }
    content.extend_from_slice(&cmd.body);
    cmd.field("Signature") == Some(hmac_sha1_base64(secret.as_bytes(), &content).as_str())
}

#[test]
fn every_request_is_signed_and_a_rotation_reconnects() {
    let now = Instant::now();
    let mut config = ClientConfig::new(vec![NAMESRV.to_string()]);
    config.credentials = Some(Credentials::new("rocketmq2", "12345678"));
    let wall = Box::new(ManualWallClock::new(1_700_000_000_000));
    let mut core = ClientCore::new(config, wall, 5, now);
    core.query_route(now, "TopicTest");
    let body = RemotingCommand::request(RequestCode::HeartBeat).with_body(b"{}".to_vec());
    core.invoke(now, BROKER, body, Duration::from_secs(3));
    let oneway = RemotingCommand::request(RequestCode::UpdateConsumerOffset)
        .with_field("consumerGroup", "g")
        .with_field("commitOffset", "7");
    core.invoke_oneway(now, BROKER, oneway);
    let (sent, _) = drain(&mut core, now);
    let codes: Vec<RequestCode> = sent
        .iter()
        .map(|(_, c)| RequestCode::from_code(c.code))
        .collect();
    assert_eq!(
        codes,
        vec![
            RequestCode::GetRouteInfoByTopic,
            RequestCode::HeartBeat,
            RequestCode::UpdateConsumerOffset
        ]
    );
    for (_, cmd) in &sent {
        assert_eq!(cmd.field("AccessKey"), Some("rocketmq2"));
        assert!(verifies(cmd, "12345678"), "signature of {cmd:?}");
        assert!(!verifies(cmd, "wrong"), "a wrong secret does not verify");
    }
    // Rotation: every connection closes, and the next requests carry the new key.
    let conns: Vec<ConnId> = sent.iter().map(|(c, _)| *c).collect();
    let rotated = Credentials::new("rotated", "s3cret").with_security_token("tok");
    core.set_credentials(now, Some(rotated));
    let (_, closed) = drain(&mut core, now);
    for conn in conns
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
    {
        assert!(closed.contains(&conn), "connection {conn:?} closed");
    }
    core.query_route(now, "Other");
    let (sent, _) = drain(&mut core, now);
    let (conn, cmd) = sent.first().expect("a route query");
    assert!(!conns.contains(conn), "a new connection");
    assert_eq!(cmd.field("AccessKey"), Some("rotated"));
    assert_eq!(cmd.field("SecurityToken"), Some("tok"));
    assert!(verifies(cmd, "s3cret"));
    // Without credentials nothing is signed.
    core.set_credentials(now, None);
    drain(&mut core, now);
    core.query_route(now, "Third");
    let (sent, _) = drain(&mut core, now);
    assert!(sent.iter().all(|(_, c)| c.field("Signature").is_none()));
}
