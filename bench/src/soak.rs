//! Soak: one client produces 1 KiB messages at a steady rate and consumes them with a push
//! consumer for a long time, sampling its own resident set and open file descriptors. Memory
//! and descriptors must stay flat once warmed up: RSS within 10% of its value at the end of
//! the warm-up (the first fifth of the run), descriptors never above theirs.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::MessageExt;
use rocketwire_core::producer::SendStatus;
use rocketwire_core::ConsumeOutcome;
use rocketwire_driver::{CurrentRuntime, PushConsumerOptions};

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::measure;
use crate::report::RESULT_PREFIX;

/// How long the consumer may take to catch up once producing stopped.
const CATCH_UP: Duration = Duration::from_secs(30);
/// Allowed RSS growth over the warm-up value.
const RSS_SLACK: f64 = 0.10;

/// One soak run.
#[derive(Debug, Clone)]
pub(crate) struct SoakCase {
    pub(crate) target: Target,
    pub(crate) topic: String,
    /// Messages per second.
    pub(crate) rate: u64,
    /// How long to produce.
    pub(crate) duration: Duration,
    /// How often to sample.
    pub(crate) every: Duration,
}

/// One sample of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Seconds since the start.
    pub(crate) at_s: u64,
    /// Resident set, KiB.
    pub(crate) rss_kib: u64,
    /// Open file descriptors.
    pub(crate) fds: u64,
}

/// What a soak run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SoakResult {
    pub(crate) adapter: String,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) received: u64,
    pub(crate) samples: Vec<Sample>,
    pub(crate) peak_rss_kib: u64,
}

impl CaseOutput for SoakResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

impl SoakResult {
    /// The result line of a case process.
    pub(crate) fn to_line(&self) -> String {
        let mut samples = String::new();
        for s in &self.samples {
            let _ = write!(samples, "{}:{}:{};", s.at_s, s.rss_kib, s.fds);
        }
        format!(
            "{RESULT_PREFIX} kind=soak adapter={} sent={} failed={} received={} peak_rss_kib={} samples={}",
            self.adapter, self.sent, self.failed, self.received, self.peak_rss_kib, samples
        )
    }

    /// Parses [`SoakResult::to_line`]'s fields.
    pub(crate) fn from_fields(
        f: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let num = |k: &str| -> Result<u64, String> {
            f.get(k)
                .ok_or_else(|| format!("result lacks `{k}`"))?
                .parse()
                .map_err(|_| format!("bad `{k}`"))
        };
        let samples = f
            .get("samples")
            .map(String::as_str)
            .unwrap_or_default()
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let v: Vec<u64> = s.split(':').filter_map(|x| x.parse().ok()).collect();
                match v[..] {
                    [at_s, rss_kib, fds] => Ok(Sample { at_s, rss_kib, fds }),
                    _ => Err(format!("bad sample `{s}`")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SoakResult {
            adapter: f.get("adapter").cloned().unwrap_or_default(),
            sent: num("sent")?,
            failed: num("failed")?,
            received: num("received")?,
            samples,
            peak_rss_kib: num("peak_rss_kib")?,
        })
    }

    /// Why the run is not flat, if it is not: RSS more than 10% above its value at the end of
    /// the warm-up, descriptors above theirs, sends failed, or messages not consumed.
    pub(crate) fn verdict(&self) -> Result<(), String> {
        let warm = self.samples.len() / 5;
        let Some(base) = self.samples.get(warm) else {
            return Err("no samples".into());
        };
        let later = &self.samples[warm..];
        let max_rss = later.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let limit = (base.rss_kib as f64 * (1.0 + RSS_SLACK)) as u64;
        if max_rss > limit {
            return Err(format!(
                "RSS grew from {} KiB to {max_rss} KiB (limit {limit} KiB)",
                base.rss_kib
            ));
        }
        let max_fds = later.iter().map(|s| s.fds).max().unwrap_or(0);
        if max_fds > base.fds {
            return Err(format!(
                "open descriptors grew from {} to {max_fds}",
                base.fds
            ));
        }
        if self.failed > 0 {
            return Err(format!("{} sends failed", self.failed));
        }
        if self.received < self.sent {
            return Err(format!(
                "{} of {} messages consumed",
                self.received, self.sent
            ));
        }
        Ok(())
    }
}

/// Resident set (`VmRSS`) and open descriptors of this process.
fn sample(started: Instant) -> Sample {
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| measure::status_field_kib(&s, "VmRSS"))
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    Sample {
        at_s: started.elapsed().as_secs(),
        rss_kib,
        fds,
    }
}

/// The pacing and sampling of one run.
struct Schedule {
    started: Instant,
    rate: u64,
    duration: Duration,
    every: Duration,
    next_sample: Instant,
    samples: Vec<Sample>,
}

impl Schedule {
    fn new(case: &SoakCase) -> Self {
        let started = Instant::now();
        Schedule {
            started,
            rate: case.rate.max(1),
            duration: case.duration,
            every: case.every,
            next_sample: started + case.every,
            samples: Vec::new(),
        }
    }

    /// When message `n` is due, or `None` once the run is over.
    fn due(&mut self, n: u64) -> Option<Instant> {
        let now = Instant::now();
        if now >= self.next_sample {
            self.samples.push(sample(self.started));
            self.next_sample += self.every;
        }
        let at = self.started + Duration::from_secs_f64(n as f64 / self.rate as f64);
        (at < self.started + self.duration).then_some(at)
    }
}

fn consumer_config() -> ConsumerConfig {
    ConsumerConfig {
        group: adapter::unique("rw_soak_group"),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    }
}

impl Case for SoakCase {
    type Output = SoakResult;

    fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> impl Future<Output = Result<SoakResult, String>> {
        run_async::<R>(adapter, self)
    }

    fn run_blocking(&self) -> Result<SoakResult, String> {
        run_blocking(self)
    }
}

async fn run_async<R: CurrentRuntime>(
    adapter: Adapter,
    case: &SoakCase,
) -> Result<SoakResult, String> {
    let client = adapter::start_client::<R>(&case.target).await?;
    let received = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&received);
    let consumer = client
        .create_push_consumer_with(
            consumer_config(),
            adapter::subscriptions(&case.topic)?,
            PushConsumerOptions::default(),
            move |messages: Vec<MessageExt>| {
                seen.fetch_add(messages.len() as u64, Ordering::Relaxed);
                std::future::ready(ConsumeOutcome::Success)
            },
        )
        .await
        .map_err(|e| format!("create push consumer: {e}"))?;
    let producer = client
        .create_producer(adapter::producer_config("soak", false)?)
        .await
        .map_err(|e| format!("create producer: {e}"))?;
    let body = adapter::body();
    let mut schedule = Schedule::new(case);
    let (mut sent, mut failed) = (0u64, 0u64);
    while let Some(at) = schedule.due(sent + failed) {
        if at > Instant::now() {
            client.runtime().timer(at).await;
        }
        match producer.send(adapter::message(&case.topic, &body)).await {
            Ok(r) if r.status == SendStatus::SendOk => sent += 1,
            _ => failed += 1,
        }
    }
    let give_up = Instant::now() + CATCH_UP;
    while received.load(Ordering::Relaxed) < sent && Instant::now() < give_up {
        client
            .runtime()
            .timer(Instant::now() + Duration::from_millis(50))
            .await;
    }
    let result = SoakResult {
        adapter: adapter.name().to_owned(),
        sent,
        failed,
        received: received.load(Ordering::Relaxed),
        samples: schedule.samples,
        peak_rss_kib: 0,
    };
    let _ = producer.shutdown().await;
    let _ = consumer.shutdown(Duration::from_secs(5)).await;
    client
        .shutdown(Duration::from_secs(5))
        .await
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(result)
}

fn run_blocking(case: &SoakCase) -> Result<SoakResult, String> {
    let client = adapter::start_blocking_client(&case.target)?;
    let received = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&received);
    let consumer = client
        .create_push_consumer(
            consumer_config(),
            adapter::subscriptions(&case.topic)?,
            move |messages: &[MessageExt]| {
                seen.fetch_add(messages.len() as u64, Ordering::Relaxed);
                ConsumeOutcome::Success
            },
        )
        .map_err(|e| format!("create push consumer: {e}"))?;
    let producer = client
        .create_producer(adapter::producer_config("soak", false)?)
        .map_err(|e| format!("create producer: {e}"))?;
    let body = adapter::body();
    let mut schedule = Schedule::new(case);
    let (mut sent, mut failed) = (0u64, 0u64);
    while let Some(at) = schedule.due(sent + failed) {
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match producer.send(adapter::message(&case.topic, &body)) {
            Ok(r) if r.status == SendStatus::SendOk => sent += 1,
            _ => failed += 1,
        }
    }
    let give_up = Instant::now() + CATCH_UP;
    while received.load(Ordering::Relaxed) < sent && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = SoakResult {
        adapter: Adapter::Blocking.name().to_owned(),
        sent,
        failed,
        received: received.load(Ordering::Relaxed),
        samples: schedule.samples,
        peak_rss_kib: 0,
    };
    let _ = producer.shutdown();
    let _ = consumer.shutdown(Duration::from_secs(5));
    client
        .shutdown(Duration::from_secs(5))
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rss: &[u64], fds: &[u64]) -> SoakResult {
        SoakResult {
            adapter: "smol".into(),
            sent: 10,
            failed: 0,
            received: 10,
            samples: rss
                .iter()
                .zip(fds)
                .enumerate()
                .map(|(i, (&rss_kib, &fds))| Sample {
                    at_s: i as u64 * 10,
                    rss_kib,
                    fds,
                })
                .collect(),
            peak_rss_kib: 0,
        }
    }

    #[test]
    fn flat_after_warm_up_passes_and_growth_fails() {
        // The warm-up (first fifth) may grow; after it, 10% is allowed.
        let ok = run(
            &[1000, 5000, 5100, 5200, 5300, 5400],
            &[9, 12, 12, 12, 11, 12],
        );
        assert_eq!(ok.verdict(), Ok(()));
        let leak = run(&[5000, 5000, 5200, 5400, 5600, 5800], &[12; 6]);
        assert!(leak.verdict().unwrap_err().contains("RSS grew"));
        let fds = run(&[5000; 6], &[12, 12, 12, 13, 14, 15]);
        assert!(fds.verdict().unwrap_err().contains("descriptors"));
        let lost = SoakResult {
            received: 9,
            ..ok.clone()
        };
        assert!(lost.verdict().is_err());
    }

    #[test]
    fn result_line_round_trips() {
        let r = run(&[5000, 5100], &[12, 12]);
        let fields = crate::report::parse_fields(&r.to_line()).expect("fields");
        assert_eq!(SoakResult::from_fields(&fields), Ok(r));
    }
}
