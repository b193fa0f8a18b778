//! Born-to-consume latency: a push consumer (fresh group, fresh empty topic, from the first
//! offset) is started and, once a probe message reached it (so its queues are assigned and
//! pulled), a producer of the same client sends `N` messages of 1 KiB at a steady rate. Each
//! carries its send instant (wall clock, µs since the epoch: producer and consumer are other
//! threads of one process, so one clock) as a user property; the handler records "now − sent"
//! of each message's first arrival in an HdrHistogram. All `N` must arrive.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{SendError, SendResult, SendStatus};
use rocketwire_driver::CurrentRuntime;

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::measure::Latencies;
use crate::report::LatencyResult;
use crate::setup;

/// Queues of the latency topic.
const QUEUES: i32 = 4;
/// User property: the send instant, µs since the epoch.
const SENT_KEY: &str = "rw_bench_sent_us";
/// User property: the message's index (`0..N`).
const SEQ_KEY: &str = "rw_bench_seq";
/// User property of the probe message that shows the consumer is running.
const PROBE_KEY: &str = "rw_bench_probe";
/// How long the probe may take to arrive (route, rebalance, first pulls).
const PROBE_WAIT: Duration = Duration::from_secs(60);
/// How long the last messages may take to arrive once the last was sent.
const CATCH_UP: Duration = Duration::from_secs(30);
/// How often the waiting side looks at the arrivals.
const POLL: Duration = Duration::from_millis(5);

/// One latency case.
#[derive(Debug, Clone)]
pub(crate) struct LatencyCase {
    /// The cluster.
    pub(crate) target: Target,
    /// A fresh topic, created empty with [`QUEUES`] queues.
    pub(crate) topic: String,
    /// Messages to send and receive.
    pub(crate) messages: u64,
    /// Messages per second.
    pub(crate) rate: u64,
}

/// The wall clock in µs since the epoch.
fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Message `seq` of the run, stamped with the wall clock now.
fn stamped(topic: &str, body: &bytes::Bytes, seq: u64) -> Result<Message, String> {
    let mut m = adapter::message(topic, body);
    m.put_user_property(SEQ_KEY, seq.to_string())
        .and_then(|()| m.put_user_property(SENT_KEY, wall_micros().to_string()))
        .map_err(|e| format!("stamp message {seq}: {e}"))?;
    Ok(m)
}

/// The probe message.
fn probe(topic: &str, body: &bytes::Bytes) -> Result<Message, String> {
    let mut m = adapter::message(topic, body);
    m.put_user_property(PROBE_KEY, "1")
        .map_err(|e| format!("probe message: {e}"))?;
    Ok(m)
}

/// What the handler saw so far.
#[derive(Debug)]
struct Tally {
    latencies: Latencies,
    /// Which indices arrived.
    seen: Vec<bool>,
    /// Distinct indices arrived.
    received: u64,
    /// Arrivals of an index already seen (not recorded again).
    duplicates: u64,
    /// Messages without a valid index or send instant.
    unstamped: u64,
}

/// The arrivals, shared by the handler and the sending side.
#[derive(Debug)]
struct Arrivals {
    probed: AtomicBool,
    tally: Mutex<Tally>,
}

impl Arrivals {
    fn new(messages: u64) -> Arc<Self> {
        Arc::new(Self {
            probed: AtomicBool::new(false),
            tally: Mutex::new(Tally {
                latencies: Latencies::default(),
                seen: vec![false; usize::try_from(messages).unwrap_or(usize::MAX)],
                received: 0,
                duplicates: 0,
                unstamped: 0,
            }),
        })
    }

    /// Records a delivered batch, at wall clock `now_us`.
    fn add(&self, messages: &[MessageExt], now_us: u64) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        for m in messages {
            if m.message.property(PROBE_KEY).is_some() {
                self.probed.store(true, Ordering::Release);
                continue;
            }
            let seq = m
                .message
                .property(SEQ_KEY)
                .and_then(|s| s.parse::<usize>().ok());
            let sent = m
                .message
                .property(SENT_KEY)
                .and_then(|s| s.parse::<u64>().ok());
            let (Some(seq), Some(sent)) = (seq, sent) else {
                tally.unstamped += 1;
                continue;
            };
            match tally.seen.get(seq).copied() {
                Some(false) => {
                    tally.seen[seq] = true;
                    tally.received += 1;
                    tally
                        .latencies
                        .record(Duration::from_micros(now_us.saturating_sub(sent)));
                }
                Some(true) => tally.duplicates += 1,
                None => tally.unstamped += 1,
            }
        }
    }

    fn probed(&self) -> bool {
        self.probed.load(Ordering::Acquire)
    }

    /// Whether the probe arrived; an error once `give_up` passed without it.
    fn probe_arrived(&self, give_up: Instant) -> Result<bool, String> {
        if self.probed() {
            return Ok(true);
        }
        if Instant::now() > give_up {
            return Err(format!("the probe did not arrive within {PROBE_WAIT:?}"));
        }
        Ok(false)
    }

    fn received(&self) -> u64 {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .received
    }

    /// The figures, or why the run failed: sends failed, or not every message arrived.
    fn result(
        &self,
        adapter: Adapter,
        case: &LatencyCase,
        sends: &Sends,
    ) -> Result<LatencyResult, String> {
        if let Some(e) = &sends.first_error {
            return Err(format!(
                "{} of {} sends failed (first: {e})",
                sends.failed, case.messages
            ));
        }
        let tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        if tally.unstamped > 0 {
            return Err(format!(
                "{} messages arrived without a valid index and send instant",
                tally.unstamped
            ));
        }
        if tally.received < case.messages {
            return Err(format!(
                "consumed {} of {} messages within {CATCH_UP:?} of the last send",
                tally.received, case.messages
            ));
        }
        let ps = tally
            .latencies
            .percentiles(&[50.0, 99.0, 99.9, 100.0])
            .unwrap_or_default();
        let p = |i: usize| ps.get(i).copied().unwrap_or(0);
        Ok(LatencyResult {
            adapter: adapter.name().to_owned(),
            messages: case.messages,
            rate: case.rate,
            received: tally.received,
            duplicates: tally.duplicates,
            p50_us: p(0),
            p99_us: p(1),
            p999_us: p(2),
            max_us: p(3),
            peak_rss_kib: 0,
        })
    }
}

/// The sends' failures.
#[derive(Debug, Default)]
struct Sends {
    failed: u64,
    first_error: Option<String>,
}

impl Sends {
    fn record(&mut self, result: Result<SendResult, SendError>) {
        let problem = match result {
            Ok(r) if r.status == SendStatus::SendOk => return,
            Ok(r) => format!("status {:?}", r.status),
            Err(e) => e.to_string(),
        };
        self.failed += 1;
        self.first_error.get_or_insert(problem);
    }

    /// After the probe's send (the first): an error if it failed.
    fn probe_sent(&self) -> Result<(), String> {
        match &self.first_error {
            Some(e) => Err(format!("the probe was not sent: {e}")),
            None => Ok(()),
        }
    }
}

/// When message `n` is due at `rate` per second from `started`.
fn due(started: Instant, rate: u64, n: u64) -> Instant {
    started + Duration::from_secs_f64(n as f64 / rate.max(1) as f64)
}

impl Case for LatencyCase {
    type Output = LatencyResult;

    fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> impl Future<Output = Result<LatencyResult, String>> {
        run_async::<R>(adapter, self)
    }

    fn run_blocking(&self) -> Result<LatencyResult, String> {
        run_blocking(self)
    }
}

impl CaseOutput for LatencyResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

async fn run_async<R: CurrentRuntime>(
    adapter: Adapter,
    case: &LatencyCase,
) -> Result<LatencyResult, String> {
    let client = adapter::start_client::<R>(&case.target).await?;
    setup::create_topic(&client, setup::topic_config(&case.topic, QUEUES)).await?;
    let arrivals = Arrivals::new(case.messages);
    let seen = arrivals.clone();
    let consumer = setup::start_push_consumer(&client, "latency", adapter, &case.topic, move |m| {
        seen.add(m, wall_micros());
    })
    .await?;
    let producer = client
        .create_producer(adapter::producer_config("latency", false)?)
        .await
        .map_err(|e| format!("create producer: {e}"))?;
    let outcome = async {
        let body = adapter::body();
        let mut sends = Sends::default();
        sends.record(producer.send(probe(&case.topic, &body)?).await);
        sends.probe_sent()?;
        let give_up = Instant::now() + PROBE_WAIT;
        while !arrivals.probe_arrived(give_up)? {
            client.runtime().timer(Instant::now() + POLL).await;
        }
        let started = Instant::now();
        for n in 0..case.messages {
            let at = due(started, case.rate, n);
            if at > Instant::now() {
                client.runtime().timer(at).await;
            }
            sends.record(producer.send(stamped(&case.topic, &body, n)?).await);
        }
        let give_up = Instant::now() + CATCH_UP;
        while arrivals.received() < case.messages && Instant::now() < give_up {
            client.runtime().timer(Instant::now() + POLL).await;
        }
        arrivals.result(adapter, case, &sends)
    }
    .await;
    producer
        .shutdown()
        .await
        .map_err(|e| format!("producer shutdown: {e}"))?;
    setup::close(client, consumer, Duration::from_secs(5)).await?;
    outcome
}

fn run_blocking(case: &LatencyCase) -> Result<LatencyResult, String> {
    let client = adapter::start_blocking_client(&case.target)?;
    setup::create_topic_blocking(&client, setup::topic_config(&case.topic, QUEUES))?;
    let arrivals = Arrivals::new(case.messages);
    let seen = arrivals.clone();
    let consumer =
        setup::start_push_consumer_blocking(&client, "latency", &case.topic, move |m| {
            seen.add(m, wall_micros());
        })?;
    let producer = client
        .create_producer(adapter::producer_config("latency", false)?)
        .map_err(|e| format!("create producer: {e}"))?;
    let outcome = send_and_wait_blocking(case, &producer, &arrivals);
    producer
        .shutdown()
        .map_err(|e| format!("producer shutdown: {e}"))?;
    setup::close_blocking(client, consumer, Duration::from_secs(5))?;
    outcome
}

/// The blocking run once the consumer is started: the probe, the paced sends, the wait for
/// every message.
fn send_and_wait_blocking(
    case: &LatencyCase,
    producer: &rocketwire_blocking::Producer,
    arrivals: &Arrivals,
) -> Result<LatencyResult, String> {
    let body = adapter::body();
    let mut sends = Sends::default();
    sends.record(producer.send(probe(&case.topic, &body)?));
    sends.probe_sent()?;
    let give_up = Instant::now() + PROBE_WAIT;
    while !arrivals.probe_arrived(give_up)? {
        std::thread::sleep(POLL);
    }
    let started = Instant::now();
    for n in 0..case.messages {
        if let Some(wait) = due(started, case.rate, n).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        sends.record(producer.send(stamped(&case.topic, &body, n)?));
    }
    let give_up = Instant::now() + CATCH_UP;
    while arrivals.received() < case.messages && Instant::now() < give_up {
        std::thread::sleep(POLL);
    }
    arrivals.result(Adapter::Blocking, case, &sends)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(messages: u64) -> LatencyCase {
        LatencyCase {
            target: Target {
                namesrv: String::new(),
                serialize: rocketwire_core::SerializeType::Json,
            },
            topic: "T".into(),
            messages,
            rate: 500,
        }
    }

    #[test]
    fn arrivals_record_first_deliveries_and_need_every_message() {
        let body = adapter::body();
        let arrivals = Arrivals::new(2);
        let m0 = stamped("T", &body, 0).unwrap();
        let sent: u64 = m0.property(SENT_KEY).unwrap().parse().unwrap();
        arrivals.add(
            &[MessageExt::from_message(probe("T", &body).unwrap())],
            sent,
        );
        assert!(arrivals.probed() && arrivals.received() == 0);
        arrivals.add(&[MessageExt::from_message(m0.clone())], sent + 1_500);
        arrivals.add(&[MessageExt::from_message(m0)], sent + 90_000);
        let sends = Sends::default();
        let short = arrivals.result(Adapter::Tokio, &case(2), &sends);
        assert!(short.unwrap_err().contains("consumed 1 of 2"));

        let m1 = stamped("T", &body, 1).unwrap();
        let sent1: u64 = m1.property(SENT_KEY).unwrap().parse().unwrap();
        arrivals.add(&[MessageExt::from_message(m1)], sent1 + 2_500);
        let r = arrivals.result(Adapter::Tokio, &case(2), &sends).unwrap();
        assert_eq!((r.received, r.duplicates), (2, 1));
        // The duplicate's 90 ms is not recorded: the slowest is the 2.5 ms one.
        assert!((2_500..=2_503).contains(&r.max_us), "{r:?}");
        assert!((1_500..=1_502).contains(&r.p50_us), "{r:?}");

        let stray = Arrivals::new(1);
        stray.add(&[MessageExt::from_message(adapter::message("T", &body))], 0);
        assert!(stray.result(Adapter::Tokio, &case(1), &sends).is_err());
    }

    #[test]
    fn sends_are_paced_at_the_rate() {
        let t = Instant::now();
        assert_eq!(due(t, 500, 0), t);
        assert_eq!(due(t, 500, 500), t + Duration::from_secs(1));
        assert_eq!(due(t, 0, 3), t + Duration::from_secs(3));
    }
}
