//! Quiet when idle: a push consumer of 4 queues on an empty topic, left alone; how often
//! the process wakes up. Its own schedule (rebalances every 20 s, heartbeats and route
//! refreshes every 30 s, long polls held until just before one of those) wakes it at 4
//! instants a minute. Wake-ups are the process's voluntary context switches (`getrusage`), every
//! thread included: a thread that blocks and is woken again counts one.

use std::future::Future;
use std::time::{Duration, Instant};

use rocketwire_driver::CurrentRuntime;

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::measure;
use crate::report::IdleResult;
use crate::setup;

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
    setup::create_topic(&client, setup::topic_config(&case.topic, QUEUES)).await?;
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = delivered.clone();
    let consumer = setup::start_push_consumer(&client, "idle", adapter, &case.topic, move |_| {
        seen.store(true, std::sync::atomic::Ordering::Relaxed);
    })
    .await?;
    client.runtime().timer(Instant::now() + WARMUP).await;
    let before = measure::voluntary_switches();
    client.runtime().timer(Instant::now() + case.span).await;
    let result = result(
        adapter,
        before,
        case.span,
        delivered.load(std::sync::atomic::Ordering::Relaxed),
    );
    setup::close(client, consumer, Duration::from_secs(5)).await?;
    Ok(result)
}

fn run_blocking(case: &IdleCase) -> Result<IdleResult, String> {
    let client = adapter::start_blocking_client(&case.target)?;
    setup::create_topic_blocking(&client, setup::topic_config(&case.topic, QUEUES))?;
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = delivered.clone();
    let consumer = setup::start_push_consumer_blocking(&client, "idle", &case.topic, move |_| {
        seen.store(true, std::sync::atomic::Ordering::Relaxed);
    })?;
    std::thread::sleep(WARMUP);
    let before = measure::voluntary_switches();
    std::thread::sleep(case.span);
    let result = result(
        Adapter::Blocking,
        before,
        case.span,
        delivered.load(std::sync::atomic::Ordering::Relaxed),
    );
    setup::close_blocking(client, consumer, Duration::from_secs(5))?;
    Ok(result)
}
