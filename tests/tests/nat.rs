//! The NAT suite, run on every adapter against a broker that registers an address clients
//! cannot dial: `cargo xtask test` starts one (`cargo xtask cluster up --broker-ip 127.0.0.2`
//! by hand) and runs this with `--include-ignored`, `ROCKETWIRE_BROKER` and
//! `ROCKETWIRE_BROKER_REGISTERED` set.

use rocketwire_tests::{adapter_suite, nat};

adapter_suite!(nat:
    registered_address_cannot_be_dialed,
    mapped_client_produces_and_consumes,
);
