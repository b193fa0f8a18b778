//! The ACL suite, run on every adapter against a broker with authentication enabled:
//! `cargo xtask test` starts one (`cargo xtask cluster up --auth USER:PASSWORD` by hand) and
//! runs this with `--include-ignored`, `ROCKETWIRE_ACL_USER` and `ROCKETWIRE_ACL_PASSWORD` set.

use rocketwire_tests::{acl, adapter_suite};

adapter_suite!(acl:
    signed_client_produces_and_consumes,
    wrong_secret_fails_fast_with_the_typed_error,
    refused_consumer_reports_the_typed_refusal,
    rotated_credentials_take_effect_on_a_running_client,
);
