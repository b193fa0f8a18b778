//! The two-broker real-cluster suite, run on every adapter. Needs a cluster of two brokers:
//! `cargo xtask test` starts one (`cargo xtask cluster up --brokers 2` by hand) and runs this
//! with `--include-ignored`, `ROCKETWIRE_BROKER_B` and `ROCKETWIRE_BROKER_B_PID` set.

use rocketwire_tests::{adapter_suite, two_brokers};

adapter_suite!(two_brokers:
    send_retried_on_the_other_broker_and_isolation_expires,
    group_rebalanced_over_both_brokers,
    orderly_locks_per_broker,
);
