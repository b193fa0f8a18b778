//! The conformance suite's TLS part: every adapter runs the same session code
//! ([`crate::TlsSession`]) over its own sockets, against a [`TlsFront`] before the fake server.

use std::time::Duration;

use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendStatus};
use rocketwire_core::{ClientConfig, ClientError, InvokeError, RemotingCommand, TlsError};

use super::fake::{FakeServer, FAKE_OFFSET_MSG_ID, TEST_CODE, TOPIC};
use super::suite::{TestClient, TestProducer};
use super::tls::{TestCa, TlsFront};
use crate::{DriverOptions, TlsConfig};

const LONG: Duration = Duration::from_secs(5);

/// A fake server behind a TLS front signed by `ca`, and a client with `tls` dialing the front.
fn setup<C: TestClient>(ca: &TestCa, tls: TlsConfig) -> (FakeServer, TlsFront, C) {
    let server = FakeServer::start().expect("fake server");
    let front = TlsFront::start(ca, server.socket_addr()).expect("TLS front");
    server.advertise(front.addr());
    let mut config = ClientConfig::new(vec![front.addr().to_string()]);
    config.request_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(2);
    let client = C::start(config, DriverOptions::default().with_tls(tls)).expect("client starts");
    (server, front, client)
}

/// Requests, responses, a route and sends go through TLS (namesrv and broker connections),
/// verified against the CA the client trusts; large frames span many records.
pub fn tls_round_trip<C: TestClient>() {
    let ca = TestCa::new("rocketwire suite CA");
    let tls = TlsConfig::with_ca_pem(ca.ca_pem().as_bytes()).expect("CA");
    let (server, front, client) = setup::<C>(&ca, tls);
    let addr = front.addr().to_string();
    let body = "x".repeat(200_000);
    let request = RemotingCommand::request_code(TEST_CODE).with_body(body.clone());
    let echoed = client.invoke(&addr, request, LONG).expect("echo over TLS");
    assert_eq!(echoed.body.len(), body.len());
    assert_eq!(&echoed.body[..], body.as_bytes());

    let config = ProducerConfig::builder("rw_suite_tls")
        .build()
        .expect("valid config");
    let producer = client
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer");
    let sent = producer
        .send(Message::new(TOPIC, "over TLS"))
        .expect("send over TLS");
    assert_eq!(sent.status, SendStatus::SendOk);
    assert_eq!(sent.offset_msg_id, FAKE_OFFSET_MSG_ID);
    let log = server.log();
    assert!(
        log.received.iter().any(|c| &c.body[..] == b"over TLS"),
        "the broker got the plaintext frame"
    );
    producer.shutdown().expect("producer shutdown");
    client.shutdown().expect("shutdown");
}

/// A server whose certificate does not chain to a trusted root fails requests with the
/// typed error, and a send with it at once (no retry can fix a certificate).
pub fn tls_untrusted_certificate_is_a_typed_error<C: TestClient>() {
    let ca = TestCa::new("rocketwire suite CA");
    let stranger = TestCa::new("someone else's CA");
    let tls = TlsConfig::with_ca_pem(stranger.ca_pem().as_bytes()).expect("CA");
    let (server, front, client) = setup::<C>(&ca, tls);
    let addr = front.addr().to_string();
    let request = RemotingCommand::request_code(TEST_CODE).with_body("x");
    let err = client.invoke(&addr, request, LONG).unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Invoke(InvokeError::Tls { addr: a, error: TlsError::UntrustedCertificate(_) })
                if *a == addr
        ),
        "{err:?}"
    );
    assert!(server.log().received.is_empty(), "nothing got through");
    client.shutdown().expect("shutdown");
}

/// A TLS client dialing a server without TLS fails with the typed handshake error.
pub fn tls_to_a_plain_server_is_a_handshake_error<C: TestClient>() {
    let server = FakeServer::start().expect("fake server");
    let mut config = ClientConfig::new(vec![server.addr()]);
    config.request_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(2);
    let tls = TlsConfig::dangerous_accept_any_certificate();
    let client = C::start(config, DriverOptions::default().with_tls(tls)).expect("client starts");
    let request = RemotingCommand::request_code(TEST_CODE).with_body("x");
    let err = client.invoke(&server.addr(), request, LONG).unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Invoke(InvokeError::Tls {
                error: TlsError::Handshake(_),
                ..
            })
        ),
        "{err:?}"
    );
    client.shutdown().expect("shutdown");
}
