//! The adapters under test, and what every case shares.

use std::future::Future;
use std::str::FromStr;

use bytes::Bytes;
use rocketwire_core::consumer::Subscription;
use rocketwire_core::message::Message;
use rocketwire_core::producer::ProducerConfig;
use rocketwire_core::{ClientConfig, SerializeType};
use rocketwire_driver::{Client, CurrentRuntime, DriverOptions};

use crate::measure;

/// Body size of every message: 1 KiB.
pub(crate) const BODY_LEN: usize = 1024;

/// One rocketwire adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adapter {
    /// `rocketwire-tokio` (multi-thread runtime, two workers).
    Tokio,
    /// `rocketwire-async-std`.
    AsyncStd,
    /// `rocketwire-smol` (smol's global executor).
    Smol,
    /// `rocketwire-blocking` (std threads).
    Blocking,
}

impl Adapter {
    /// Every adapter, in table order.
    pub(crate) const ALL: [Adapter; 4] = [
        Adapter::Tokio,
        Adapter::AsyncStd,
        Adapter::Smol,
        Adapter::Blocking,
    ];

    /// Its name on the command line and in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Adapter::Tokio => "tokio",
            Adapter::AsyncStd => "async-std",
            Adapter::Smol => "smol",
            Adapter::Blocking => "blocking",
        }
    }
}

impl FromStr for Adapter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Adapter::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown adapter `{s}` (tokio, async-std, smol, blocking)"))
    }
}

/// Where the cluster is and how to talk to it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// namesrv address.
    pub(crate) namesrv: String,
    /// Request header encoding.
    pub(crate) serialize: SerializeType,
}

impl Target {
    /// A client config for the cluster.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(vec![self.namesrv.clone()]);
        config.serialize_type = self.serialize;
        config
    }
}

/// A producer config with a group unique to this process.
pub(crate) fn producer_config(label: &str, auto_batch: bool) -> Result<ProducerConfig, String> {
    let config = ProducerConfig::builder(unique(&format!("rw_bench_{label}")));
    let config = if auto_batch {
        config.auto_batch(rocketwire_core::producer::AutoBatch::default())
    } else {
        config
    };
    config.build().map_err(|e| format!("producer config: {e}"))
}

/// The 1 KiB body every message carries (shared, not copied per message).
pub(crate) fn body() -> Bytes {
    Bytes::from(
        (0..BODY_LEN)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// A fresh message to `topic`.
pub(crate) fn message(topic: &str, body: &Bytes) -> Message {
    Message::new(topic.to_owned(), body.clone())
}

/// Every tag of `topic`.
pub(crate) fn subscriptions(topic: &str) -> Result<Vec<Subscription>, String> {
    Subscription::tag(topic, "*")
        .map(|s| vec![s])
        .map_err(|e| format!("subscription: {e}"))
}

/// A name unique to this process and call, for topics and groups.
pub(crate) fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}_{}_{millis}_{n}", std::process::id())
}

/// A tokio multi-thread runtime of two workers (the machine's core count in CI).
pub(crate) fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))
}

/// Runs `future` to completion on `adapter`'s executor (not for [`Adapter::Blocking`], whose
/// cases are plain functions).
pub(crate) fn block_on<F: Future>(adapter: Adapter, future: F) -> Result<F::Output, String> {
    match adapter {
        Adapter::Tokio => Ok(tokio_runtime()?.block_on(future)),
        Adapter::AsyncStd => Ok(async_std::task::block_on(future)),
        Adapter::Smol => Ok(smol::block_on(future)),
        Adapter::Blocking => Err("the blocking adapter has no executor".into()),
    }
}

/// A case a case process runs on any adapter: its body on an async adapter's runtime `R`
/// and on the blocking adapter.
pub(crate) trait Case {
    /// The case's figures.
    type Output: CaseOutput;

    /// The case on async runtime `R` (of `adapter`).
    fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> impl Future<Output = Result<Self::Output, String>>;

    /// The case on the blocking adapter.
    fn run_blocking(&self) -> Result<Self::Output, String>;
}

/// The figures of a case, which take the case process's peak RSS last.
pub(crate) trait CaseOutput {
    /// Records the peak RSS of the case process.
    fn set_peak_rss_kib(&mut self, kib: u64);
}

/// Runs `case` on `adapter` in this process, then records the peak RSS.
pub(crate) fn run_case<C: Case>(adapter: Adapter, case: &C) -> Result<C::Output, String> {
    let mut result = match adapter {
        Adapter::Tokio => block_on(
            adapter,
            case.run_async::<rocketwire_tokio::TokioRuntime>(adapter),
        )?,
        Adapter::AsyncStd => block_on(
            adapter,
            case.run_async::<rocketwire_async_std::AsyncStdRuntime>(adapter),
        )?,
        Adapter::Smol => block_on(
            adapter,
            case.run_async::<rocketwire_smol::SmolRuntime>(adapter),
        )?,
        Adapter::Blocking => case.run_blocking(),
    }?;
    result.set_peak_rss_kib(measure::peak_rss_kib().unwrap_or(0));
    Ok(result)
}

/// An async client of runtime `R` for `target`.
pub(crate) async fn start_client<R: CurrentRuntime>(target: &Target) -> Result<Client<R>, String> {
    Client::<R>::start_with_options(target.client_config(), DriverOptions::default())
        .await
        .map_err(|e| format!("client start: {e}"))
}

/// A blocking client for `target`.
pub(crate) fn start_blocking_client(
    target: &Target,
) -> Result<rocketwire_blocking::Client, String> {
    rocketwire_blocking::Client::start_with_options(
        target.client_config(),
        DriverOptions::default(),
    )
    .map_err(|e| format!("client start: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_names_round_trip() {
        for a in Adapter::ALL {
            assert_eq!(a.name().parse::<Adapter>(), Ok(a));
        }
        assert!("tokyo".parse::<Adapter>().is_err());
    }

    #[test]
    fn body_is_one_kib_and_names_are_unique() {
        assert_eq!(body().len(), BODY_LEN);
        assert_ne!(unique("t"), unique("t"));
        assert!(producer_config("x", false).is_ok() && producer_config("x", true).is_ok());
    }
}
