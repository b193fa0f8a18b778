//! Quiet when idle: a push consumer of 4 queues on an empty topic, left alone; how often
//! the process wakes up. Its own schedule (long polls answered every 15 s per queue,
//! heartbeats every 30 s, offset persistence and rebalances) needs less than one wake-up a
//! second. Wake-ups are the process's voluntary context switches (`getrusage`), every
//! thread included: a thread that blocks and is woken again counts one.

use std::future::Future;
use std::time::{Duration, Instant};

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::MessageExt;
use rocketwire_core::ConsumeOutcome;
use rocketwire_driver::{CurrentRuntime, PushConsumerOptions};

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::measure;
use crate::report::IdleResult;

/// Queues of the idle topic.
const QUEUES: i32 = 4;
/// Time for routes, the rebalance and the first (suspended) pulls before counting.
const WARMUP: Duration = Duration::from_secs(5);

/// One idle case.
#[derive(Debug, Clone)]
pub(crate) struct IdleCase {
    /// The cluster.
    pub(crate) target: Target,
    /// A fresh topic, created empty with [`QUEUES`] queues.
    pub(crate) topic: String,
    /// How long to count.
    pub(crate) span: Duration,
}

fn topic_config(topic: &str) -> TopicConfig {
    TopicConfig {
        read_queue_nums: QUEUES,
        write_queue_nums: QUEUES,
        ..TopicConfig::new(topic)
    }
}

fn consumer_config(adapter: Adapter) -> ConsumerConfig {
    ConsumerConfig {
        group: adapter::unique(&format!("rw_bench_idle_{}", adapter.name())),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    }
}

/// The figures of `span` counted from `before` (voluntary switches) to now.
fn result(adapter: Adapter, before: u64, span: Duration, delivered: bool) -> IdleResult {
    let switches = measure::voluntary_switches().saturating_sub(before);
    IdleResult {
        adapter: adapter.name().to_owned(),
        span,
        switches,
        delivered,
        peak_rss_kib: 0,
    }
}

impl Case for IdleCase {
    type Output = IdleResult;

    fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> impl Future<Output = Result<IdleResult, String>> {
        run_async::<R>(adapter, self)
    }

    fn run_blocking(&self) -> Result<IdleResult, String> {
        run_blocking(self)
    }
}

impl CaseOutput for IdleResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

async fn run_async<R: CurrentRuntime>(
    adapter: Adapter,
    case: &IdleCase,
) -> Result<IdleResult, String> {
    let client = adapter::start_client::<R>(&case.target).await?;
    client
        .admin()
        .create_topic(topic_config(&case.topic), None)
        .await
        .map_err(|e| format!("create {}: {e}", case.topic))?;
    let give_up = Instant::now() + Duration::from_secs(30);
    while client.query_route(&case.topic).await.is_err() {
        if Instant::now() > give_up {
            return Err(format!("no route for {}", case.topic));
        }
        client
            .runtime()
            .timer(Instant::now() + Duration::from_millis(200))
            .await;
    }
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = delivered.clone();
    let consumer = client
        .create_push_consumer_with(
            consumer_config(adapter),
            adapter::subscriptions(&case.topic)?,
            PushConsumerOptions::default(),
            move |_: Vec<MessageExt>| {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
                std::future::ready(ConsumeOutcome::Success)
            },
        )
        .await
        .map_err(|e| format!("create push consumer: {e}"))?;
    client.runtime().timer(Instant::now() + WARMUP).await;
    let before = measure::voluntary_switches();
    client.runtime().timer(Instant::now() + case.span).await;
    let result = result(
        adapter,
        before,
        case.span,
        delivered.load(std::sync::atomic::Ordering::Relaxed),
    );
    consumer
        .shutdown(Duration::from_secs(5))
        .await
        .map_err(|e| format!("consumer shutdown: {e}"))?;
    client
        .shutdown(Duration::from_secs(5))
        .await
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(result)
}

fn run_blocking(case: &IdleCase) -> Result<IdleResult, String> {
    let client = adapter::start_blocking_client(&case.target)?;
    client
        .admin()
        .create_topic(topic_config(&case.topic), None)
        .map_err(|e| format!("create {}: {e}", case.topic))?;
    let give_up = Instant::now() + Duration::from_secs(30);
    while client.query_route(&case.topic).is_err() {
        if Instant::now() > give_up {
            return Err(format!("no route for {}", case.topic));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = delivered.clone();
    let consumer = client
        .create_push_consumer(
            consumer_config(Adapter::Blocking),
            adapter::subscriptions(&case.topic)?,
            move |_: &[MessageExt]| {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
                ConsumeOutcome::Success
            },
        )
        .map_err(|e| format!("create push consumer: {e}"))?;
    std::thread::sleep(WARMUP);
    let before = measure::voluntary_switches();
    std::thread::sleep(case.span);
    let result = result(
        Adapter::Blocking,
        before,
        case.span,
        delivered.load(std::sync::atomic::Ordering::Relaxed),
    );
    consumer
        .shutdown(Duration::from_secs(5))
        .map_err(|e| format!("consumer shutdown: {e}"))?;
    client
        .shutdown(Duration::from_secs(5))
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(result)
}
