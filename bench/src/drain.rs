//! Consumer drain: a topic filled with `M` messages of 1 KiB ([`prepare`]), then consumed from
//! the first offset by a push consumer of a fresh group ([`crate::adapter::run_case`]), timed
//! from the consumer's start to its `M`th message.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rocketwire_core::message::MessageExt;
use rocketwire_core::producer::SendStatus;
use rocketwire_driver::CurrentRuntime;

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::measure;
use crate::report::DrainResult;
use crate::setup;

/// Messages per batch when filling the topic.
const FILL_BATCH: u64 = 32;
/// Batches in flight when filling the topic.
const FILL_IN_FLIGHT: usize = 64;
/// How often the waiting thread looks at the count.
const POLL: Duration = Duration::from_millis(5);
/// How long a consumer may take to close.
const CLOSE_DRAIN: Duration = Duration::from_secs(5);

/// Fills `topic` with `count` messages (tokio client, batches of 32, 64 batches in flight)
/// and waits until the namesrv serves its route. Returns how many messages were stored.
pub(crate) fn prepare(target: &Target, topic: &str, count: u64) -> Result<u64, String> {
    adapter::block_on(Adapter::Tokio, async {
        let client = adapter::start_client::<rocketwire_tokio::TokioRuntime>(target).await?;
        let producer = client
            .create_producer(adapter::producer_config("fill", false)?)
            .await
            .map_err(|e| format!("create producer: {e}"))?;
        let body = adapter::body();
        let started = Instant::now();
        let (mut queued, mut stored, mut failed) = (0u64, 0u64, 0u64);
        let mut pending = FuturesUnordered::new();
        loop {
            while pending.len() < FILL_IN_FLIGHT && queued < count {
                let k = FILL_BATCH.min(count - queued);
                let batch = (0..k).map(|_| adapter::message(topic, &body)).collect();
                let producer = &producer;
                pending.push(async move { (k, producer.send_batch_as_one(batch).await) });
                queued += k;
            }
            match pending.next().await {
                Some((k, Ok(r))) if r.status == SendStatus::SendOk => stored += k,
                Some((k, result)) => {
                    if failed == 0 {
                        eprintln!("rocketwire-bench: fill batch failed: {result:?}");
                    }
                    failed += k;
                }
                None => break,
            }
        }
        drop(pending);
        eprintln!(
            "rocketwire-bench: filled {topic} with {stored} messages in {:.2?} ({failed} failed)",
            started.elapsed()
        );
        producer
            .shutdown()
            .await
            .map_err(|e| format!("producer shutdown: {e}"))?;
        setup::await_route(&client, topic)
            .await
            .map_err(|e| format!("{e} after filling it"))?;
        client
            .shutdown(Duration::from_secs(5))
            .await
            .map_err(|e| format!("client shutdown: {e}"))?;
        Ok(stored)
    })?
}

/// One drain case.
#[derive(Debug, Clone)]
pub(crate) struct DrainCase {
    /// The cluster.
    pub(crate) target: Target,
    /// The filled topic.
    pub(crate) topic: String,
    /// Messages to consume.
    pub(crate) messages: u64,
    /// Give up after this long.
    pub(crate) timeout: Duration,
}

/// What the handler saw, shared with the waiting thread.
#[derive(Debug)]
struct Progress {
    target: u64,
    count: AtomicU64,
    bad_bodies: AtomicU64,
    first: OnceLock<Instant>,
    done: OnceLock<Instant>,
}

impl Progress {
    fn new(target: u64) -> Arc<Self> {
        Arc::new(Self {
            target,
            count: AtomicU64::new(0),
            bad_bodies: AtomicU64::new(0),
            first: OnceLock::new(),
            done: OnceLock::new(),
        })
    }

    fn add(&self, messages: &[MessageExt]) {
        self.first.get_or_init(Instant::now);
        let bad = messages
            .iter()
            .filter(|m| m.body().len() != adapter::BODY_LEN)
            .count() as u64;
        if bad > 0 {
            self.bad_bodies.fetch_add(bad, Ordering::Relaxed);
        }
        let n = messages.len() as u64;
        let total = self.count.fetch_add(n, Ordering::AcqRel) + n;
        if total >= self.target {
            self.done.get_or_init(Instant::now);
        }
    }

    fn finished(&self) -> bool {
        self.done.get().is_some()
    }
}

/// The clocks of a drain, started just before the consumer.
struct Clocks {
    started: Instant,
    cpu_started: Duration,
}

impl Clocks {
    fn start() -> Self {
        Self {
            cpu_started: measure::cpu_time(),
            started: Instant::now(),
        }
    }

    /// The figures once `progress` is finished (or the time ran out).
    fn result(&self, adapter: Adapter, progress: &Progress) -> Result<DrainResult, String> {
        let cpu = measure::cpu_time().saturating_sub(self.cpu_started);
        let count = progress.count.load(Ordering::Acquire);
        let bad = progress.bad_bodies.load(Ordering::Relaxed);
        if bad > 0 {
            return Err(format!("{bad} messages had a body other than 1 KiB"));
        }
        let Some(done) = progress.done.get() else {
            return Err(format!(
                "consumed {count} of {} messages in {:.1?}",
                progress.target,
                self.started.elapsed()
            ));
        };
        let first = progress.first.get().copied().unwrap_or(*done);
        Ok(DrainResult {
            adapter: adapter.name().to_owned(),
            method: "push".to_owned(),
            messages: count,
            first: first.saturating_duration_since(self.started),
            wall: done.saturating_duration_since(self.started),
            cpu,
            peak_rss_kib: 0,
        })
    }
}

impl Case for DrainCase {
    type Output = DrainResult;

    fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> impl Future<Output = Result<DrainResult, String>> {
        run_async::<R>(adapter, self)
    }

    fn run_blocking(&self) -> Result<DrainResult, String> {
        run_blocking(self)
    }
}

impl CaseOutput for DrainResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

async fn run_async<R: CurrentRuntime>(
    adapter: Adapter,
    case: &DrainCase,
) -> Result<DrainResult, String> {
    let client = adapter::start_client::<R>(&case.target).await?;
    let progress = Progress::new(case.messages);
    let seen = progress.clone();
    let clocks = Clocks::start();
    let consumer = setup::start_push_consumer(&client, "drain", adapter, &case.topic, move |m| {
        seen.add(m);
    })
    .await?;
    let give_up = clocks.started + case.timeout;
    while !progress.finished() && Instant::now() < give_up {
        client.runtime().timer(Instant::now() + POLL).await;
    }
    let result = clocks.result(adapter, &progress);
    setup::close(client, consumer, CLOSE_DRAIN).await?;
    result
}

fn run_blocking(case: &DrainCase) -> Result<DrainResult, String> {
    let client = adapter::start_blocking_client(&case.target)?;
    let progress = Progress::new(case.messages);
    let seen = progress.clone();
    let clocks = Clocks::start();
    let consumer = setup::start_push_consumer_blocking(&client, "drain", &case.topic, move |m| {
        seen.add(m);
    })?;
    let give_up = clocks.started + case.timeout;
    while !progress.finished() && Instant::now() < give_up {
        std::thread::sleep(POLL);
    }
    let result = clocks.result(Adapter::Blocking, &progress);
    setup::close_blocking(client, consumer, CLOSE_DRAIN)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketwire_core::message::Message;

    fn ext(len: usize) -> MessageExt {
        MessageExt::from_message(Message::new("t", vec![0u8; len]))
    }

    #[test]
    fn progress_finishes_at_the_target_and_flags_bad_bodies() {
        let p = Progress::new(3);
        p.add(&[ext(adapter::BODY_LEN), ext(adapter::BODY_LEN)]);
        assert!(!p.finished() && p.first.get().is_some());
        p.add(&[ext(adapter::BODY_LEN)]);
        assert!(p.finished());
        let clocks = Clocks::start();
        let r = clocks.result(Adapter::Smol, &p).unwrap();
        assert_eq!((r.messages, r.method.as_str()), (3, "push"));

        let short = Progress::new(1);
        short.add(&[ext(10)]);
        assert!(clocks.result(Adapter::Smol, &short).is_err());
        assert!(clocks.result(Adapter::Smol, &Progress::new(5)).is_err());
    }
}
