//! The TLS suite, run on every adapter against a cluster whose broker enforces TLS:
//! `cargo xtask test` starts one (`cargo xtask cluster up --tls` by hand) and runs this with
//! `--include-ignored`, `ROCKETWIRE_TLS_CA` and `ROCKETWIRE_BROKER` set.

use rocketwire_tests::{adapter_suite, tls};

adapter_suite!(tls:
    tls_client_produces_and_consumes,
    plain_client_cannot_reach_the_enforcing_broker,
    untrusted_server_certificate_fails_with_the_typed_error,
);
