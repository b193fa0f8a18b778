//! Real-cluster scenarios over TLS (`cargo xtask cluster up --tls`; `cargo xtask test` starts
//! one): the namesrv accepts TLS and plain connections (permissive), the broker only TLS
//! (enforcing), both with a certificate of a throwaway CA made at cluster start, whose PEM
//! file `ROCKETWIRE_TLS_CA` names. A client trusting that CA produces and consumes; a plain
//! client cannot reach the broker; a client trusting another CA fails with the typed error.

use std::time::{Duration, Instant};

use rocketwire_core::message::Message;
use rocketwire_core::producer::SendError;
use rocketwire_core::{ClientError, InvokeError, RemotingCommand, RouteError, TlsError};
use rocketwire_driver::test_support::TestCa;
use rocketwire_tokio::{DriverOptions, TlsConfig};

use crate::flow::{produce_and_consume, producer_of};
use crate::{cluster_config, unique, Harness};

/// The broker's address (`ROCKETWIRE_BROKER`).
fn broker() -> String {
    std::env::var("ROCKETWIRE_BROKER").unwrap_or_else(|_| {
        panic!("ROCKETWIRE_BROKER is not set: run the TLS suite with `cargo xtask test`")
    })
}

/// TLS trusting the cluster's CA.
fn cluster_tls() -> TlsConfig {
    let ca = std::env::var("ROCKETWIRE_TLS_CA").unwrap_or_else(|_| {
        panic!("ROCKETWIRE_TLS_CA is not set: run the TLS suite with `cargo xtask test`")
    });
    TlsConfig::with_ca_file(&ca).unwrap_or_else(|e| panic!("the cluster's CA {ca}: {e}"))
}

/// A client of `h`'s adapter with `tls` (`None`: plain TCP).
fn client_with(h: &dyn Harness, tls: Option<TlsConfig>) -> Box<dyn Harness> {
    let options = match tls {
        Some(tls) => DriverOptions::default().with_tls(tls),
        None => DriverOptions::default(),
    };
    h.start_another_with(cluster_config(), options)
}

/// Over TLS to the namesrv and the broker, verified against the cluster's CA: route, send,
/// and a push consumer gets the message.
pub fn tls_client_produces_and_consumes(h: &dyn Harness) {
    let client = client_with(h, Some(cluster_tls()));
    produce_and_consume(&*client, "rw_tls", "sealed", "over TLS");
    client.shutdown().expect("client shutdown");
}

/// The broker enforces TLS: a plain client gets its route from the (permissive) namesrv but
/// cannot store a message. This is what makes the scenario above prove something.
pub fn plain_client_cannot_reach_the_enforcing_broker(h: &dyn Harness) {
    let client = client_with(h, None);
    let producer = producer_of(&*client, Duration::from_secs(2));
    let result = producer.send(Message::new(unique("rw_tls_plain"), "in clear"));
    assert!(
        matches!(result, Err(SendError::Transport(_))),
        "a plain send to an enforcing broker: {result:?}"
    );
    let _ = producer.shutdown();
    client.shutdown().expect("client shutdown");
}

/// A client trusting another CA: its route query (namesrv) and its requests to the broker
/// fail with the typed untrusted-certificate error, at once.
pub fn untrusted_server_certificate_fails_with_the_typed_error(h: &dyn Harness) {
    let stranger = TestCa::new("not the cluster's CA");
    let tls = TlsConfig::with_ca_pem(stranger.ca_pem().as_bytes()).expect("CA");
    let client = client_with(h, Some(tls));
    let untrusted = |e: &InvokeError| {
        matches!(
            e,
            InvokeError::Tls {
                error: TlsError::UntrustedCertificate(_),
                ..
            }
        )
    };
    let started = Instant::now();
    let err = client.query_route(&unique("rw_tls_untrusted")).unwrap_err();
    assert!(
        match &err {
            ClientError::Invoke(e) | ClientError::Route(RouteError::NamesrvUnavailable(e)) => {
                untrusted(e)
            }
            _ => false,
        },
        "route query: {err:?}"
    );
    let broker = broker();
    // GET_BROKER_RUNTIME_INFO (28); it never gets through anyway.
    let ping = RemotingCommand::request_code(28);
    let err = client
        .invoke(&broker, ping, Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Invoke(e) if untrusted(e)),
        "broker request: {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed after {:?}, not at once",
        started.elapsed()
    );
    client.shutdown().expect("client shutdown");
}
