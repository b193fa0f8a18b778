//! Chaos cases (`cargo xtask chaos` runs them while it kills and restarts the servers).
//!
//! * `chaos-consume`: fills a topic with `N` messages whose bodies carry their index
//!   (batches, tokio client), then drains it with a push consumer of a fresh group from the
//!   first offset, recording how often each index was delivered and when it was first seen.
//!   It exits by itself once every index was seen (or after the timeout).
//! * `chaos-produce`: a producer (30 s send budget by default) sends messages with indexed
//!   bodies, several in flight, until told to stop; every result is recorded. Then a push
//!   consumer of a fresh group reads the topic back from the first offset and counts the
//!   stored copies of each index (distinct queue offsets).
//!
//! Protocol with the driving process: the case prints `rocketwire-chaos progress n=<count>`
//! on stdout whenever its count (indices seen / sends stored) changes, at most every 20 ms.
//! It reads lines from stdin: `mark <event> <ms>` (a server went down at `<ms>`, ms since
//! the epoch) and `stop` (the producer stops sending). For each mark the result line
//! reports the first new index seen / first `SendOk` at or after it, so the driver can
//! compute the resume time from the instant the server was ready again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, SendError, SendResult, SendStatus};
use rocketwire_core::ConsumeOutcome;
use rocketwire_driver::{CurrentRuntime, PushConsumerOptions};

use crate::adapter::{self, Adapter, Case, CaseOutput, Target};
use crate::report::RESULT_PREFIX;

/// Start of the progress lines.
pub(crate) const PROGRESS_PREFIX: &str = "rocketwire-chaos progress";
/// Messages per batch when filling the topic.
const FILL_BATCH: u64 = 64;
/// Batches in flight when filling the topic.
const FILL_IN_FLIGHT: usize = 32;
/// Shortest interval between progress lines.
const PROGRESS_EVERY: Duration = Duration::from_millis(20);
/// The read-back is over once every `SendOk` index was seen and nothing new came this long.
const READ_BACK_QUIET: Duration = Duration::from_secs(3);
/// Longest read-back.
const READ_BACK_LIMIT: Duration = Duration::from_secs(60);
/// How long a consumer may take to close.
const CLOSE_DRAIN: Duration = Duration::from_secs(5);

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The body of message `index`.
fn body(index: u64) -> Bytes {
    Bytes::from(format!("rw-chaos {index}"))
}

/// The index a body carries.
fn index_of(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()?
        .strip_prefix("rw-chaos ")?
        .parse()
        .ok()
}

/// What the driver told the case on stdin.
#[derive(Debug, Default)]
pub(crate) struct Control {
    marks: Mutex<Vec<(String, u64)>>,
    stop: AtomicBool,
}

impl Control {
    /// Reads stdin in a background thread until it closes (which also means stop).
    pub(crate) fn from_stdin() -> Arc<Self> {
        let control = Arc::new(Control::default());
        let c = Arc::clone(&control);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                c.handle_line(&line);
            }
            c.stop.store(true, Ordering::Release);
        });
        control
    }

    fn handle_line(&self, line: &str) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("stop"), _, _) => self.stop.store(true, Ordering::Release),
            (Some("mark"), Some(name), Some(ms)) => {
                if let Ok(ms) = ms.parse() {
                    self.marks
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((name.to_owned(), ms));
                }
            }
            _ => eprintln!("rocketwire-bench: chaos: ignoring control line `{line}`"),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn marks(&self) -> Vec<(String, u64)> {
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Prints a progress line whenever `count` changed, until dropped.
struct Reporter {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    fn start(count: Arc<AtomicU64>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let mut last = u64::MAX;
            while !d.load(Ordering::Acquire) {
                let n = count.load(Ordering::Acquire);
                if n != last {
                    println!("{PROGRESS_PREFIX} n={n}");
                    last = n;
                }
                std::thread::sleep(PROGRESS_EVERY);
            }
        });
        Reporter {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The earliest of `times` (ms since the epoch, 0 = never) at or after `from`.
pub(crate) fn first_at_or_after(times: &[u64], from: u64) -> Option<u64> {
    times.iter().copied().filter(|&t| t != 0 && t >= from).min()
}

/// `name:ms;` per mark, `-` for no time.
fn render_marks(marks: &[(String, u64)], times: &[u64]) -> String {
    let mut s = String::new();
    for (name, at) in marks {
        match first_at_or_after(times, *at) {
            Some(t) => {
                let _ = write!(s, "{name}:{t};");
            }
            None => {
                let _ = write!(s, "{name}:-;");
            }
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// Per-index delivery counts and first-seen times of the consume case.
#[derive(Debug)]
struct Deliveries {
    counts: Vec<u32>,
    first_ms: Vec<u64>,
    foreign: u64,
}

/// Delivery tally, shared between the handler and the waiting loop.
#[derive(Debug)]
struct Tally {
    inner: Mutex<Deliveries>,
    distinct: Arc<AtomicU64>,
}

impl Tally {
    fn new(n: u64) -> Arc<Self> {
        Arc::new(Tally {
            inner: Mutex::new(Deliveries {
                counts: vec![0; n as usize],
                first_ms: vec![0; n as usize],
                foreign: 0,
            }),
            distinct: Arc::new(AtomicU64::new(0)),
        })
    }

    fn add(&self, messages: &[MessageExt]) {
        let now = now_ms();
        let mut d = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut new = 0;
        for m in messages {
            match index_of(m.body()).filter(|&i| (i as usize) < d.counts.len()) {
                Some(i) => {
                    let i = i as usize;
                    if d.counts[i] == 0 {
                        d.first_ms[i] = now;
                        new += 1;
                    }
                    d.counts[i] += 1;
                }
                None => d.foreign += 1,
            }
        }
        self.distinct.fetch_add(new, Ordering::AcqRel);
    }

    fn complete(&self) -> bool {
        let d = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        self.distinct.load(Ordering::Acquire) >= d.counts.len() as u64
    }
}

/// Lost indices (never delivered) and duplicate deliveries (beyond the first) of `counts`.
pub(crate) fn lost_and_duplicates(counts: &[u32]) -> (u64, u64) {
    counts.iter().fold((0, 0), |(lost, dup), &c| {
        (
            lost + u64::from(c == 0),
            dup + u64::from(c.saturating_sub(1)),
        )
    })
}

/// The consume case.
#[derive(Debug, Clone)]
pub(crate) struct ConsumeCase {
    pub(crate) target: Target,
    pub(crate) topic: String,
    pub(crate) messages: u64,
    pub(crate) timeout: Duration,
    pub(crate) control: Arc<Control>,
}

/// Figures of the consume case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConsumeResult {
    pub(crate) adapter: String,
    pub(crate) messages: u64,
    pub(crate) lost: u64,
    pub(crate) duplicates: u64,
    pub(crate) foreign: u64,
    pub(crate) marks: String,
    pub(crate) peak_rss_kib: u64,
}

impl CaseOutput for ConsumeResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

impl ConsumeResult {
    pub(crate) fn to_line(&self) -> String {
        format!(
            "{RESULT_PREFIX} kind=chaos-consume adapter={} messages={} lost={} duplicates={} \
             foreign={} marks={} peak_rss_kib={}",
            self.adapter,
            self.messages,
            self.lost,
            self.duplicates,
            self.foreign,
            self.marks,
            self.peak_rss_kib
        )
    }

    fn from_tally(adapter: Adapter, tally: &Tally, marks: &[(String, u64)]) -> Self {
        let d = tally.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (lost, duplicates) = lost_and_duplicates(&d.counts);
        ConsumeResult {
            adapter: adapter.name().to_owned(),
            messages: d.counts.len() as u64,
            lost,
            duplicates,
            foreign: d.foreign,
            marks: render_marks(marks, &d.first_ms),
            peak_rss_kib: 0,
        }
    }
}

/// Fills `topic` with messages `0..count` (tokio client, batches in flight); fails if a
/// batch is not stored.
pub(crate) fn fill(target: &Target, topic: &str, count: u64) -> Result<(), String> {
    adapter::block_on(Adapter::Tokio, async {
        let client = adapter::start_client::<rocketwire_tokio::TokioRuntime>(target).await?;
        let producer = client
            .create_producer(adapter::producer_config("chaos_fill")?)
            .await
            .map_err(|e| format!("create producer: {e}"))?;
        let started = Instant::now();
        let batch = |from: u64| -> Vec<Message> {
            (from..count.min(from + FILL_BATCH))
                .map(|i| Message::new(topic.to_owned(), body(i)))
                .collect()
        };
        let mut next = 0;
        let mut pending = FuturesUnordered::new();
        loop {
            while pending.len() < FILL_IN_FLIGHT && next < count {
                let producer = &producer;
                let messages = batch(next);
                pending.push(async move { (next, producer.send_batch(messages).await) });
                next += FILL_BATCH;
            }
            match pending.next().await {
                Some((_, Ok(r))) if r.status == SendStatus::SendOk => {}
                Some((from, result)) => {
                    return Err(format!("fill batch at {from} failed: {result:?}"));
                }
                None => break,
            }
        }
        drop(pending);
        eprintln!(
            "rocketwire-bench: filled {topic} with {count} messages in {:.2?}",
            started.elapsed()
        );
        let _ = producer.shutdown().await;
        client
            .shutdown(Duration::from_secs(5))
            .await
            .map_err(|e| format!("client shutdown: {e}"))
    })?
}

fn consumer_config(label: &str) -> ConsumerConfig {
    ConsumerConfig {
        group: adapter::unique(&format!("rw_chaos_{label}")),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        ..ConsumerConfig::default()
    }
}

/// Runs a push consumer of a fresh group from the first offset on `$client` (async or
/// blocking), handing each batch to `$on`, until `$until()`; then shuts it down.
macro_rules! with_push_consumer {
    (async $client:expr, $label:expr, $topic:expr, $on:expr, $until:expr) => {{
        let on = $on;
        let consumer = $client
            .create_push_consumer_with(
                consumer_config($label),
                adapter::subscriptions($topic)?,
                PushConsumerOptions::default(),
                move |messages: Vec<MessageExt>| {
                    on(&messages);
                    std::future::ready(ConsumeOutcome::Success)
                },
            )
            .await
            .map_err(|e| format!("create push consumer: {e}"))?;
        while !$until() {
            $client
                .runtime()
                .timer(Instant::now() + Duration::from_millis(10))
                .await;
        }
        let _ = consumer.shutdown(CLOSE_DRAIN).await;
    }};
    (blocking $client:expr, $label:expr, $topic:expr, $on:expr, $until:expr) => {{
        let on = $on;
        let consumer = $client
            .create_push_consumer(
                consumer_config($label),
                adapter::subscriptions($topic)?,
                move |messages: &[MessageExt]| {
                    on(messages);
                    ConsumeOutcome::Success
                },
            )
            .map_err(|e| format!("create push consumer: {e}"))?;
        while !$until() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = consumer.shutdown(CLOSE_DRAIN);
    }};
}

impl Case for ConsumeCase {
    type Output = ConsumeResult;

    async fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> Result<ConsumeResult, String> {
        let client = adapter::start_client::<R>(&self.target).await?;
        let tally = Tally::new(self.messages);
        let reporter = Reporter::start(Arc::clone(&tally.distinct));
        let give_up = Instant::now() + self.timeout;
        let t = Arc::clone(&tally);
        with_push_consumer!(
            async client,
            "consume",
            &self.topic,
            move |m: &[MessageExt]| t.add(m),
            || tally.complete() || Instant::now() > give_up
        );
        drop(reporter);
        let _ = client.shutdown(Duration::from_secs(5)).await;
        Ok(ConsumeResult::from_tally(
            adapter,
            &tally,
            &self.control.marks(),
        ))
    }

    fn run_blocking(&self) -> Result<ConsumeResult, String> {
        let client = adapter::start_blocking_client(&self.target)?;
        let tally = Tally::new(self.messages);
        let reporter = Reporter::start(Arc::clone(&tally.distinct));
        let give_up = Instant::now() + self.timeout;
        let t = Arc::clone(&tally);
        with_push_consumer!(
            blocking client,
            "consume",
            &self.topic,
            move |m: &[MessageExt]| t.add(m),
            || tally.complete() || Instant::now() > give_up
        );
        drop(reporter);
        let _ = client.shutdown(Duration::from_secs(5));
        Ok(ConsumeResult::from_tally(
            Adapter::Blocking,
            &tally,
            &self.control.marks(),
        ))
    }
}

/// The outcome of one send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    /// Results seen (exactly one expected).
    results: u32,
    /// When it was stored (`SendOk`), ms since the epoch; 0 otherwise.
    ok_ms: u64,
    /// The send failed (an error, or a status other than `SendOk`).
    failed: bool,
    /// Where the broker said it stored the message (queue id, queue offset).
    at: Option<(i32, i64)>,
}

/// Every send's outcome, by index.
#[derive(Debug, Default)]
struct Sends {
    slots: Mutex<Vec<Slot>>,
    ok: Arc<AtomicU64>,
    first_error: Mutex<Option<String>>,
}

impl Sends {
    fn started(&self, index: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() <= index as usize {
            slots.resize(index as usize + 1, Slot::default());
        }
    }

    fn record(&self, index: u64, result: &Result<SendResult, SendError>) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[index as usize];
        slot.results += 1;
        match result {
            Ok(r) if r.status == SendStatus::SendOk => {
                slot.ok_ms = now_ms();
                slot.at = Some((r.message_queue.queue_id, r.queue_offset));
                self.ok.fetch_add(1, Ordering::AcqRel);
            }
            other => {
                slot.failed = true;
                let mut first = self
                    .first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if first.is_none() {
                    *first = Some(format!("{other:?}"));
                }
            }
        }
    }

    fn snapshot(&self) -> Vec<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the read-back saw: the index (and commit-log offset) at each queue offset, and the
/// copies of each index.
#[derive(Debug, Default)]
struct StoredInner {
    at: HashMap<(i32, i64), (u64, i64)>,
    copies: Vec<u32>,
    /// Offsets delivered again with another index.
    conflicts: u64,
    last_new: Option<Instant>,
}

/// Stored copies of each index, counted once per queue offset.
#[derive(Debug, Default)]
struct Stored {
    inner: Mutex<StoredInner>,
}

impl Stored {
    fn add(&self, messages: &[MessageExt]) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for m in messages {
            let Some(i) = index_of(m.body()) else {
                continue;
            };
            match g
                .at
                .insert((m.queue_id, m.queue_offset), (i, m.commit_log_offset))
            {
                None => {
                    if g.copies.len() <= i as usize {
                        g.copies.resize(i as usize + 1, 0);
                    }
                    g.copies[i as usize] += 1;
                    g.last_new = Some(Instant::now());
                }
                Some((old, _)) if old != i => g.conflicts += 1,
                Some(_) => {}
            }
        }
    }

    /// Whether every index of `wanted` is stored and nothing new came for a while.
    fn settled(&self, wanted: &[u64]) -> bool {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let all = wanted
            .iter()
            .all(|&i| g.copies.get(i as usize).is_some_and(|&c| c > 0));
        all && g.last_new.is_some_and(|t| t.elapsed() >= READ_BACK_QUIET)
    }

    /// The index and commit-log offset the read-back found at `at`.
    fn index_at(&self, at: (i32, i64)) -> Option<(u64, i64)> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.at.get(&at).copied()
    }

    fn copies(&self) -> Vec<u32> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if g.conflicts > 0 {
            eprintln!(
                "rocketwire-bench: chaos-produce: {} queue offsets delivered with two bodies",
                g.conflicts
            );
        }
        g.copies.clone()
    }
}

/// Figures of the produce case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProduceVerdict {
    /// Sends started.
    pub(crate) sends: u64,
    /// Sends with `SendOk`.
    pub(crate) ok: u64,
    /// Sends that failed.
    pub(crate) failed: u64,
    /// Sends without exactly one result.
    pub(crate) not_one_result: u64,
    /// `SendOk` messages not stored.
    pub(crate) ok_not_stored: u64,
    /// Messages stored more than once (extra copies).
    pub(crate) stored_twice: u64,
    /// Failed sends whose message is stored anyway.
    pub(crate) failed_stored: u64,
}

/// Compares the send outcomes with the stored copies.
fn produce_verdict(slots: &[Slot], copies: &[u32]) -> ProduceVerdict {
    let mut v = ProduceVerdict {
        sends: slots.len() as u64,
        ..ProduceVerdict::default()
    };
    for (i, s) in slots.iter().enumerate() {
        let stored = copies.get(i).copied().unwrap_or(0);
        v.not_one_result += u64::from(s.results != 1);
        v.ok += u64::from(s.ok_ms != 0);
        v.failed += u64::from(s.failed);
        v.ok_not_stored += u64::from(s.ok_ms != 0 && stored == 0);
        v.failed_stored += u64::from(s.failed && stored > 0);
        v.stored_twice += u64::from(stored.saturating_sub(1));
    }
    v
}

/// The produce case.
#[derive(Debug, Clone)]
pub(crate) struct ProduceCase {
    pub(crate) target: Target,
    pub(crate) topic: String,
    /// Most sends.
    pub(crate) limit: u64,
    /// Sends in flight.
    pub(crate) in_flight: usize,
    /// Sends per second.
    pub(crate) rate: u64,
    /// `ProducerConfig::send_timeout`.
    pub(crate) send_timeout: Duration,
    pub(crate) control: Arc<Control>,
}

/// Figures of the produce case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProduceResult {
    pub(crate) adapter: String,
    pub(crate) verdict: ProduceVerdict,
    pub(crate) marks: String,
    pub(crate) peak_rss_kib: u64,
}

impl CaseOutput for ProduceResult {
    fn set_peak_rss_kib(&mut self, kib: u64) {
        self.peak_rss_kib = kib;
    }
}

impl ProduceResult {
    pub(crate) fn to_line(&self) -> String {
        let v = &self.verdict;
        format!(
            "{RESULT_PREFIX} kind=chaos-produce adapter={} sends={} ok={} failed={} \
             not_one_result={} ok_not_stored={} stored_twice={} failed_stored={} marks={} \
             peak_rss_kib={}",
            self.adapter,
            v.sends,
            v.ok,
            v.failed,
            v.not_one_result,
            v.ok_not_stored,
            v.stored_twice,
            v.failed_stored,
            self.marks,
            self.peak_rss_kib
        )
    }
}

impl ProduceCase {
    fn config(&self) -> Result<ProducerConfig, String> {
        ProducerConfig::builder(adapter::unique("rw_chaos_produce"))
            .send_timeout(self.send_timeout)
            .build()
            .map_err(|e| format!("producer config: {e}"))
    }

    /// When send `index` is due.
    fn due(&self, started: Instant, index: u64) -> Instant {
        started + Duration::from_secs_f64(index as f64 / self.rate.max(1) as f64)
    }

    fn more(&self, next: u64) -> bool {
        next < self.limit && !self.control.stopped()
    }

    fn message(&self, index: u64) -> Message {
        Message::new(self.topic.clone(), body(index))
    }

    fn result(&self, adapter: Adapter, sends: &Sends, stored: &Stored) -> ProduceResult {
        if let Some(e) = &*sends
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            eprintln!(
                "rocketwire-bench: chaos-produce {}: first failed send: {e}",
                adapter.name()
            );
        }
        let slots = sends.snapshot();
        let copies = stored.copies();
        let odd: Vec<String> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let c = copies.get(i).copied().unwrap_or(0);
                let odd = (s.ok_ms != 0 && c != 1) || (s.failed && c > 0) || s.results != 1;
                let there = s.at.and_then(|at| stored.index_at(at));
                odd.then(|| {
                    format!("#{i} {s:?} stored {c}x; (index, commit-log offset) there: {there:?}")
                })
            })
            .take(10)
            .collect();
        if !odd.is_empty() {
            eprintln!(
                "rocketwire-bench: chaos-produce {}: marks {:?}; odd sends: {}",
                adapter.name(),
                self.control.marks(),
                odd.join(", ")
            );
        }
        let ok_times: Vec<u64> = slots.iter().map(|s| s.ok_ms).collect();
        ProduceResult {
            adapter: adapter.name().to_owned(),
            verdict: produce_verdict(&slots, &stored.copies()),
            marks: render_marks(&self.control.marks(), &ok_times),
            peak_rss_kib: 0,
        }
    }
}

/// The `SendOk` indices of `slots`.
fn ok_indices(slots: &[Slot]) -> Vec<u64> {
    (0..slots.len() as u64)
        .filter(|&i| slots[i as usize].ok_ms != 0)
        .collect()
}

impl Case for ProduceCase {
    type Output = ProduceResult;

    async fn run_async<R: CurrentRuntime>(
        &self,
        adapter: Adapter,
    ) -> Result<ProduceResult, String> {
        let client = adapter::start_client::<R>(&self.target).await?;
        let producer = client
            .create_producer(self.config()?)
            .await
            .map_err(|e| format!("create producer: {e}"))?;
        let sends = Sends::default();
        let reporter = Reporter::start(Arc::clone(&sends.ok));
        let started = Instant::now();
        let mut next = 0;
        let mut pending = FuturesUnordered::new();
        loop {
            let now = Instant::now();
            while pending.len() < self.in_flight
                && self.more(next)
                && self.due(started, next) <= now
            {
                let (producer, sends, index) = (&producer, &sends, next);
                sends.started(index);
                pending.push(async move { (index, producer.send(self.message(index)).await) });
                next += 1;
            }
            if pending.is_empty() && !self.more(next) {
                break;
            }
            // Wake for the next due send, or to notice `stop`.
            let wake = self.due(started, next).min(now + Duration::from_millis(20));
            let timer = client.runtime().timer(wake);
            if let Either::Left((Some((index, result)), _)) = select(pending.next(), timer).await {
                sends.record(index, &result);
            }
        }
        drop(pending);
        drop(reporter);
        let _ = producer.shutdown().await;
        let stored = Arc::new(Stored::default());
        let wanted = ok_indices(&sends.snapshot());
        let give_up = Instant::now() + READ_BACK_LIMIT;
        let s = Arc::clone(&stored);
        with_push_consumer!(
            async client,
            "read_back",
            &self.topic,
            move |m: &[MessageExt]| s.add(m),
            || stored.settled(&wanted) || Instant::now() > give_up
        );
        let _ = client.shutdown(Duration::from_secs(5)).await;
        Ok(self.result(adapter, &sends, &stored))
    }

    fn run_blocking(&self) -> Result<ProduceResult, String> {
        let client = adapter::start_blocking_client(&self.target)?;
        let producer = client
            .create_producer(self.config()?)
            .map_err(|e| format!("create producer: {e}"))?;
        let sends = Sends::default();
        let reporter = Reporter::start(Arc::clone(&sends.ok));
        let started = Instant::now();
        let next = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.in_flight.max(1) {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::AcqRel);
                    if !self.more(index) {
                        break;
                    }
                    if let Some(wait) = self
                        .due(started, index)
                        .checked_duration_since(Instant::now())
                    {
                        std::thread::sleep(wait);
                    }
                    sends.started(index);
                    let result = producer.send(self.message(index));
                    sends.record(index, &result);
                });
            }
        });
        drop(reporter);
        let _ = producer.shutdown();
        let stored = Arc::new(Stored::default());
        let wanted = ok_indices(&sends.snapshot());
        let give_up = Instant::now() + READ_BACK_LIMIT;
        let s = Arc::clone(&stored);
        with_push_consumer!(
            blocking client,
            "read_back",
            &self.topic,
            move |m: &[MessageExt]| s.add(m),
            || stored.settled(&wanted) || Instant::now() > give_up
        );
        let _ = client.shutdown(Duration::from_secs(5));
        Ok(self.result(Adapter::Blocking, &sends, &stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_their_index() {
        assert_eq!(index_of(&body(0)), Some(0));
        assert_eq!(index_of(&body(299_999)), Some(299_999));
        assert_eq!(index_of(b"something else"), None);
        assert_eq!(index_of(&[0xff, 0xfe]), None);
    }

    #[test]
    fn lost_and_duplicates_of_counts() {
        assert_eq!(lost_and_duplicates(&[1, 1, 1]), (0, 0));
        assert_eq!(lost_and_duplicates(&[0, 2, 3, 1]), (1, 3));
        assert_eq!(lost_and_duplicates(&[]), (0, 0));
    }

    #[test]
    fn marks_report_the_first_time_at_or_after_them() {
        let times = [0, 1000, 1500, 900, 2000];
        assert_eq!(first_at_or_after(&times, 1100), Some(1500));
        assert_eq!(first_at_or_after(&times, 1000), Some(1000));
        assert_eq!(first_at_or_after(&times, 2001), None);
        let marks = [("kill".to_owned(), 950), ("term".to_owned(), 3000)];
        assert_eq!(render_marks(&marks, &times), "kill:1000;term:-;");
        assert_eq!(render_marks(&[], &times), "-");
    }

    #[test]
    fn control_lines() {
        let c = Control::default();
        c.handle_line("mark kill 1234");
        c.handle_line("mark bad x");
        c.handle_line("nonsense");
        assert!(!c.stopped());
        c.handle_line("stop");
        assert!(c.stopped());
        assert_eq!(c.marks(), vec![("kill".to_owned(), 1234)]);
    }

    #[test]
    fn produce_verdict_compares_results_with_the_store() {
        let ok = |ms| Slot {
            results: 1,
            ok_ms: ms,
            failed: false,
            at: None,
        };
        let failed = Slot {
            results: 1,
            ok_ms: 0,
            failed: true,
            at: None,
        };
        let none = Slot::default();
        let slots = [ok(5), ok(6), failed, failed, none, ok(7)];
        let copies = [1, 0, 0, 1, 0, 2];
        assert_eq!(
            produce_verdict(&slots, &copies),
            ProduceVerdict {
                sends: 6,
                ok: 3,
                failed: 2,
                not_one_result: 1,
                ok_not_stored: 1,
                stored_twice: 1,
                failed_stored: 1,
            }
        );
        assert_eq!(ok_indices(&slots), vec![0, 1, 5]);
    }

    #[test]
    fn result_lines_parse() {
        let r = ConsumeResult {
            adapter: "smol".into(),
            messages: 10,
            lost: 1,
            duplicates: 2,
            marks: "kill:5;".into(),
            ..ConsumeResult::default()
        };
        let f = crate::report::parse_fields(&r.to_line()).unwrap();
        assert_eq!(f["kind"], "chaos-consume");
        assert_eq!((f["lost"].as_str(), f["marks"].as_str()), ("1", "kill:5;"));
        let p = ProduceResult {
            adapter: "tokio".into(),
            ..ProduceResult::default()
        };
        let f = crate::report::parse_fields(&p.to_line()).unwrap();
        assert_eq!(f["failed_stored"], "0");
    }
}
