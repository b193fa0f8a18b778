//! The gateway towards a cluster whose broker accepts only TLS (`cargo xtask test` starts
//! one; `ROCKETWIRE_TLS_CA` names the PEM file of its CA).

mod common;

use common::{round_trip, Running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster with TLS (cargo xtask test)"]
async fn with_the_clusters_ca_the_gateway_sends_and_consumes_over_tls() {
    let ca = std::env::var("ROCKETWIRE_TLS_CA").unwrap_or_else(|_| {
        panic!("ROCKETWIRE_TLS_CA is not set: run the TLS suite with `cargo xtask test`")
    });
    let gw = Running::start_with(1_000, &format!("  tls:\n    ca_file: \"{ca}\"\n")).await;
    round_trip(&gw, "gw_tls").await;
    gw.stop().await;
}
