//! Support for rocketwire's conformance tests.
//!
//! [`Harness`] is one synchronous face over every adapter (tokio, async-std, smol, blocking), so
//! the real-cluster suite in [`scenarios`] is written once and run per adapter. The cluster's
//! namesrv address comes from `ROCKETWIRE_NAMESRV` (set by `cargo xtask test`), and the header
//! serialization from `ROCKETWIRE_SERIALIZE` (`json` or `rocketmq`).

pub mod acl;
mod admin;
mod batching;
mod consume;
mod filter;
pub mod flow;
pub mod harness;
mod lite;
mod lite_positions;
pub mod nat;
mod observe;
mod pop;
mod reply;
pub mod scenarios;
mod seen;
mod select;
pub mod tls;
mod trace;
pub mod two_brokers;
pub mod wire;

pub use harness::{all_harnesses, AdapterKind, Harness};

use rocketwire_core::{ClientConfig, SerializeType};

/// The namesrv of the cluster under test. Panics with instructions when unset: the cluster
/// suite must never pass without a cluster.
pub fn namesrv() -> String {
    std::env::var("ROCKETWIRE_NAMESRV").unwrap_or_else(|_| {
        panic!(
            "ROCKETWIRE_NAMESRV is not set: run the cluster suite with `cargo xtask test`, or \
             start a cluster with `cargo xtask cluster up` and set ROCKETWIRE_NAMESRV"
        )
    })
}

/// The header serialization the suite's clients send (`ROCKETWIRE_SERIALIZE`, default JSON).
pub fn serialize_type() -> SerializeType {
    match std::env::var("ROCKETWIRE_SERIALIZE").as_deref() {
        Ok("rocketmq") | Ok("ROCKETMQ") => SerializeType::RocketMq,
        _ => SerializeType::Json,
    }
}

/// A client config for the cluster under test.
pub fn cluster_config() -> ClientConfig {
    let mut config = ClientConfig::new(vec![namesrv()]);
    config.serialize_type = serialize_type();
    config
}

/// A name unique to this process and call, for topics and groups.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}_{}_{t}_{n}", std::process::id())
}

/// Declares one `#[test]` per scenario and adapter (modules `tokio_adapter`,
/// `async_std_adapter`, `smol_adapter`, `blocking_adapter`), each starting a client of that
/// adapter, running `$module::$scenario` and shutting the client down. The tests are ignored
/// unless run with `--include-ignored` (they need a cluster: `cargo xtask test`).
#[macro_export]
macro_rules! adapter_suite {
    ($module:ident: $($scenario:ident),* $(,)?) => {
        $crate::adapter_suite!(@adapter tokio_adapter, Tokio, $module: $($scenario),*);
        $crate::adapter_suite!(@adapter async_std_adapter, AsyncStd, $module: $($scenario),*);
        $crate::adapter_suite!(@adapter smol_adapter, Smol, $module: $($scenario),*);
        $crate::adapter_suite!(@adapter blocking_adapter, Blocking, $module: $($scenario),*);
    };
    (@adapter $name:ident, $kind:ident, $module:ident: $($scenario:ident),*) => {
        mod $name {
            use super::*;
            $(
                #[test]
                #[ignore = "needs a cluster: cargo xtask test"]
                fn $scenario() {
                    $crate::run_scenario($crate::AdapterKind::$kind, $module::$scenario)
                }
            )*
        }
    };
}

/// Starts a client of `kind` on the cluster under test, runs `scenario` with it and shuts it
/// down cleanly.
pub fn run_scenario(kind: AdapterKind, scenario: fn(&dyn Harness)) {
    let client = harness::start(kind, cluster_config());
    scenario(client.as_ref());
    client.shutdown().expect("clean shutdown");
}
