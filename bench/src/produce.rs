//! Producer throughput: `n` messages of 1 KiB with `in_flight` sends outstanding, timed.
//!
//! With one in flight every send waits for its result (`send`); with more, sends are
//! pipelined: async adapters keep `in_flight` `send_async` futures in a `FuturesUnordered`, the
//! blocking adapter keeps a FIFO window of `send_async` handles and waits for the oldest.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rocketwire_core::producer::{SendError, SendResult, SendStatus};
use rocketwire_driver::CurrentRuntime;

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::measure::{self, Latencies};
use crate::report::ProduceResult;

/// Sends made before the clock starts (route lookup, connection, topic creation).
const WARMUP: u64 = 50;

/// One producer case.
#[derive(Debug, Clone)]
pub(crate) struct ProduceCase {
    /// The cluster.
    pub(crate) target: Target,
    /// A fresh topic.
    pub(crate) topic: String,
    /// Messages in the timed part.
    pub(crate) messages: u64,
    /// Sends outstanding at once (at least 1).
    pub(crate) in_flight: usize,
    /// The producer auto-batches concurrent single sends.
    pub(crate) auto_batch: bool,
}

/// Latencies, errors and the clocks of the timed part.
struct Tally {
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
    started: Instant,
    cpu_started: Duration,
}

impl Tally {
    fn start() -> Self {
        Self {
            latencies: Latencies::default(),
            errors: 0,
            first_error: None,
            cpu_started: measure::cpu_time(),
            started: Instant::now(),
        }
    }

    fn record(&mut self, sent_at: Instant, result: &Result<SendResult, SendError>) {
        self.latencies.record(sent_at.elapsed());
        let problem = match result {
            Ok(r) if r.status == SendStatus::SendOk => return,
            Ok(r) => format!("status {:?}", r.status),
            Err(e) => e.to_string(),
        };
        self.errors += 1;
        if self.first_error.is_none() {
            eprintln!("rocketwire-bench: send failed: {problem}");
            self.first_error = Some(problem);
        }
    }

    fn finish(self, case: &ProduceCase, adapter: Adapter) -> ProduceResult {
        let wall = self.started.elapsed();
        let cpu = measure::cpu_time().saturating_sub(self.cpu_started);
        let messages = self.latencies.len() as u64;
        let ps = self
            .latencies
            .percentiles(&[50.0, 99.0, 99.9])
            .unwrap_or_default();
        ProduceResult {
            adapter: adapter.name().to_owned(),
            in_flight: case.in_flight as u64,
            auto_batch: case.auto_batch,
            messages,
            errors: self.errors,
            wall,
            cpu,
            p50_us: ps.first().copied().unwrap_or(0),
            p99_us: ps.get(1).copied().unwrap_or(0),
            p999_us: ps.get(2).copied().unwrap_or(0),
            peak_rss_kib: 0,
        }
    }
}

impl Case for ProduceCase {
    type Output = ProduceResult;

    fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> impl Future<Output = Result<ProduceResult, String>> {
        run_async::<R>(adapter, self)
    }

    fn run_blocking(&self) -> Result<ProduceResult, String> {
        run_blocking(self)
    }
}

impl CaseOutput for ProduceResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

async fn run_async<R: CurrentRuntime>(
    adapter: Adapter,
    case: &ProduceCase,
) -> Result<ProduceResult, String> {
    let client = adapter::start_client::<R>(&case.target).await?;
    let producer = client
        .create_producer(adapter::producer_config("produce", case.auto_batch)?)
        .await
        .map_err(|e| format!("create producer: {e}"))?;
    let body = adapter::body();
    for _ in 0..WARMUP {
        producer
            .send(adapter::message(&case.topic, &body))
            .await
            .map_err(|e| format!("warm-up send: {e}"))?;
    }

    let mut tally = Tally::start();
    if case.in_flight <= 1 {
        for _ in 0..case.messages {
            let sent_at = Instant::now();
            let result = producer.send(adapter::message(&case.topic, &body)).await;
            tally.record(sent_at, &result);
        }
    } else {
        let mut pending = FuturesUnordered::new();
        let mut started = 0u64;
        loop {
            while pending.len() < case.in_flight && started < case.messages {
                let message = adapter::message(&case.topic, &body);
                let producer = &producer;
                pending.push(async move {
                    let sent_at = Instant::now();
                    (sent_at, producer.send_async(message).await)
                });
                started += 1;
            }
            match pending.next().await {
                Some((sent_at, result)) => tally.record(sent_at, &result),
                None => break,
            }
        }
    }
    let result = tally.finish(case, adapter);

    producer
        .shutdown()
        .await
        .map_err(|e| format!("producer shutdown: {e}"))?;
    client
        .shutdown(Duration::from_secs(5))
        .await
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(result)
}

fn run_blocking(case: &ProduceCase) -> Result<ProduceResult, String> {
    let client = adapter::start_blocking_client(&case.target)?;
    let producer = client
        .create_producer(adapter::producer_config("produce", case.auto_batch)?)
        .map_err(|e| format!("create producer: {e}"))?;
    let body = adapter::body();
    for _ in 0..WARMUP {
        producer
            .send(adapter::message(&case.topic, &body))
            .map_err(|e| format!("warm-up send: {e}"))?;
    }

    let mut tally = Tally::start();
    if case.in_flight <= 1 {
        for _ in 0..case.messages {
            let sent_at = Instant::now();
            let result = producer.send(adapter::message(&case.topic, &body));
            tally.record(sent_at, &result);
        }
    } else {
        // Results come back in order on one connection, so waiting for the oldest first
        // measures each send's latency, late by at most the wait for an older one.
        let mut window = VecDeque::with_capacity(case.in_flight);
        for _ in 0..case.messages {
            if window.len() >= case.in_flight {
                if let Some((sent_at, handle)) = window.pop_front() {
                    let handle: rocketwire_blocking::SendHandle = handle;
                    tally.record(sent_at, &handle.wait());
                }
            }
            let sent_at = Instant::now();
            window.push_back((
                sent_at,
                producer.send_async(adapter::message(&case.topic, &body)),
            ));
        }
        for (sent_at, handle) in window {
            tally.record(sent_at, &handle.wait());
        }
    }
    let result = tally.finish(case, Adapter::Blocking);

    producer
        .shutdown()
        .map_err(|e| format!("producer shutdown: {e}"))?;
    client
        .shutdown(Duration::from_secs(5))
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(result)
}
