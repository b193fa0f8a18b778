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

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::BufRead as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::{select, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use rocketwire_core::body::{ConsumeFromWhere, TopicRouteData};
use rocketwire_core::codec::{RemotingCommand, RequestCode, ResponseCode};
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::message::{
    decode_message, DecodeOptions, Message, MessageExt, OffsetMessageId,
};
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
/// Timeout of one VIEW_MESSAGE_BY_ID.
const VIEW_TIMEOUT: Duration = Duration::from_secs(5);
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
            .create_producer(adapter::producer_config("chaos_fill", false)?)
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
                pending.push(async move { (next, producer.send_batch_as_one(messages).await) });
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Slot {
    /// Results seen (exactly one expected).
    results: u32,
    /// When it was stored (`SendOk`), ms since the epoch; 0 otherwise.
    ok_ms: u64,
    /// The send failed (an error, or a status other than `SendOk`).
    failed: bool,
    /// Where the broker said it stored the message.
    at: Option<At>,
    /// The broker's offset message id of the `SendOk` (it encodes the commit-log offset).
    offset_msg_id: String,
    /// The message's client id (`UNIQ_KEY`) the `SendOk` named.
    msg_id: String,
}

/// A queue offset of one broker: the storing broker's address (its store host, as in the
/// offset message id), queue id, queue offset. Queue ids repeat across brokers.
type At = (std::net::SocketAddr, i32, i64);

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
                slot.at = OffsetMessageId::parse(&r.offset_msg_id)
                    .ok()
                    .map(|id| (id.addr, r.message_queue.queue_id, r.queue_offset));
                slot.offset_msg_id.clone_from(&r.offset_msg_id);
                slot.msg_id.clone_from(&r.msg_id);
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
    /// Per queue offset: the index, commit-log offset and client id found there.
    at: HashMap<At, (u64, i64, String)>,
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
            match g.at.insert(
                (m.store_host, m.queue_id, m.queue_offset),
                (i, m.commit_log_offset, m.msg_id().to_owned()),
            ) {
                None => {
                    if g.copies.len() <= i as usize {
                        g.copies.resize(i as usize + 1, 0);
                    }
                    g.copies[i as usize] += 1;
                    g.last_new = Some(Instant::now());
                }
                Some((old, _, _)) if old != i => g.conflicts += 1,
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

    /// The index, commit-log offset and client id the read-back found at `at`.
    fn index_at(&self, at: At) -> Option<(u64, i64, String)> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.at.get(&at).cloned()
    }

    /// Every stored copy of `index`: queue offset, commit-log offset, client id.
    fn copies_of(&self, index: u64) -> Vec<(At, i64, String)> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> =
            g.at.iter()
                .filter(|(_, (i, _, _))| *i == index)
                .map(|(at, (_, clo, id))| (*at, *clo, id.clone()))
                .collect();
        v.sort();
        v
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
    /// `SendOk` messages not stored: no queue offset holds them, and the commit-log offset
    /// their `SendOk` named holds something else.
    pub(crate) ok_not_stored: u64,
    /// `SendOk` messages the broker stored at the commit-log offset their `SendOk` named but
    /// did not index: the queue offset it returned holds another message. A defect of the
    /// broker's store (rocketmq-rust 1.0.0 after a graceful restart, see `docs/chaos.md`),
    /// not a loss by the client; reported beside the losses.
    pub(crate) unindexed: u64,
    /// Messages stored more than once (extra copies).
    pub(crate) stored_twice: u64,
    /// Failed sends whose message is stored anyway.
    pub(crate) failed_stored: u64,
}

/// Compares the send outcomes with the stored copies; `unindexed` are the `SendOk` indices
/// found in the commit log but at no queue offset ([`confirm_unindexed`]).
fn produce_verdict(slots: &[Slot], copies: &[u32], unindexed: &BTreeSet<u64>) -> ProduceVerdict {
    let mut v = ProduceVerdict {
        sends: slots.len() as u64,
        ..ProduceVerdict::default()
    };
    for (i, s) in slots.iter().enumerate() {
        let stored = copies.get(i).copied().unwrap_or(0);
        v.not_one_result += u64::from(s.results != 1);
        v.ok += u64::from(s.ok_ms != 0);
        v.failed += u64::from(s.failed);
        let unread = s.ok_ms != 0 && stored == 0;
        let in_log = unindexed.contains(&(i as u64));
        v.ok_not_stored += u64::from(unread && !in_log);
        v.unindexed += u64::from(unread && in_log);
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
    /// Brokers to create the topic on before sending (then it is routed to all of them);
    /// empty: auto-created by the first send.
    pub(crate) create_on: Vec<String>,
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
             not_one_result={} ok_not_stored={} unindexed={} stored_twice={} failed_stored={} \
             marks={} \
             peak_rss_kib={}",
            self.adapter,
            v.sends,
            v.ok,
            v.failed,
            v.not_one_result,
            v.ok_not_stored,
            v.unindexed,
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

    /// The request creating the topic on one broker (4 queues, read and write).
    fn create_topic_command(&self) -> RemotingCommand {
        RemotingCommand::request(RequestCode::UpdateAndCreateTopic)
            .with_field("topic", self.topic.as_str())
            .with_field("defaultTopic", "TBW102")
            .with_field("readQueueNums", "4")
            .with_field("writeQueueNums", "4")
            .with_field("perm", "6")
            .with_field("topicFilterType", "SINGLE_TAG")
            .with_field("topicSysFlag", "0")
            .with_field("order", "false")
    }

    /// Whether `route` lists every broker of `create_on`.
    fn routed_to_all(&self, route: &TopicRouteData) -> bool {
        route.broker_datas.len() >= self.create_on.len()
            && route.queue_datas.len() >= self.create_on.len()
    }

    fn message(&self, index: u64) -> Message {
        Message::new(self.topic.clone(), body(index))
    }

    fn result(
        &self,
        adapter: Adapter,
        sends: &Sends,
        stored: &Stored,
        unindexed: &BTreeSet<u64>,
    ) -> ProduceResult {
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
                    let copies = stored.copies_of(i as u64);
                    format!(
                        "#{i} {s:?} stored {c}x at {copies:?}; \
                         (index, commit-log offset, client id) there: {there:?}"
                    )
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
            verdict: produce_verdict(&slots, &stored.copies(), unindexed),
            marks: render_marks(&self.control.marks(), &ok_times),
            peak_rss_kib: 0,
        }
    }
}

/// A VIEW_MESSAGE_BY_ID for each `SendOk` message no queue offset holds: the index, the
/// storing broker's address and the request for the commit-log offset its `SendOk` named.
fn view_requests(slots: &[Slot], stored: &Stored) -> Vec<(u64, String, RemotingCommand)> {
    let copies = stored.copies();
    slots
        .iter()
        .enumerate()
        .filter(|(i, s)| s.ok_ms != 0 && copies.get(*i).copied().unwrap_or(0) == 0)
        .filter_map(|(i, s)| {
            let id = OffsetMessageId::parse(&s.offset_msg_id).ok()?;
            let command = RemotingCommand::request(RequestCode::ViewMessageById)
                .with_field("offset", id.offset.to_string());
            Some((i as u64, id.addr.to_string(), command))
        })
        .collect()
}

/// The indices of `views` (answers to [`view_requests`]) that the broker stored where their
/// `SendOk` said but did not index: the message at that commit-log offset carries the
/// send's own index, and the queue offset the `SendOk` named holds a message at another
/// commit-log offset.
fn confirm_unindexed(
    slots: &[Slot],
    stored: &Stored,
    views: Vec<(u64, Option<RemotingCommand>)>,
) -> BTreeSet<u64> {
    let mut confirmed = BTreeSet::new();
    for (index, response) in views {
        let Some(slot) = slots.get(index as usize) else {
            continue;
        };
        let Ok(id) = OffsetMessageId::parse(&slot.offset_msg_id) else {
            continue;
        };
        let in_log = response
            .filter(|r| r.response_code() == ResponseCode::Success)
            .and_then(|r| decode_message(&r.body, &DecodeOptions::default()).ok())
            .is_some_and(|(m, _)| index_of(m.body()) == Some(index));
        let indexed_elsewhere = slot
            .at
            .and_then(|at| stored.index_at(at))
            .is_some_and(|(_, clo, _)| clo != id.offset);
        eprintln!(
            "rocketwire-bench: chaos-produce: #{index} SendOk {:?}: in the commit log at {}: \
             {in_log}; its queue offset holds another message: {indexed_elsewhere}",
            slot.at, id.offset
        );
        if in_log && indexed_elsewhere {
            confirmed.insert(index);
        }
    }
    confirmed
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
        if !self.create_on.is_empty() {
            for addr in &self.create_on {
                client
                    .invoke_ok(addr, self.create_topic_command(), VIEW_TIMEOUT)
                    .await
                    .map_err(|e| format!("create {} on {addr}: {e}", self.topic))?;
            }
            let give_up = Instant::now() + READ_BACK_LIMIT;
            while !client
                .query_route(&self.topic)
                .await
                .is_ok_and(|r| self.routed_to_all(&r))
            {
                if Instant::now() > give_up {
                    return Err(format!("{} not routed to every broker", self.topic));
                }
                client
                    .runtime()
                    .timer(Instant::now() + Duration::from_millis(100))
                    .await;
            }
        }
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
        let mut views = Vec::new();
        for (index, addr, command) in view_requests(&sends.snapshot(), &stored) {
            let response = client.invoke(&addr, command, VIEW_TIMEOUT).await;
            views.push((index, response.ok()));
        }
        let unindexed = confirm_unindexed(&sends.snapshot(), &stored, views);
        let _ = client.shutdown(Duration::from_secs(5)).await;
        Ok(self.result(adapter, &sends, &stored, &unindexed))
    }

    fn run_blocking(&self) -> Result<ProduceResult, String> {
        let client = adapter::start_blocking_client(&self.target)?;
        if !self.create_on.is_empty() {
            for addr in &self.create_on {
                client
                    .invoke_ok(addr, self.create_topic_command(), VIEW_TIMEOUT)
                    .map_err(|e| format!("create {} on {addr}: {e}", self.topic))?;
            }
            let give_up = Instant::now() + READ_BACK_LIMIT;
            while !client
                .query_route(&self.topic)
                .is_ok_and(|r| self.routed_to_all(&r))
            {
                if Instant::now() > give_up {
                    return Err(format!("{} not routed to every broker", self.topic));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
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
        let views = view_requests(&sends.snapshot(), &stored)
            .into_iter()
            .map(|(index, addr, command)| (index, client.invoke(&addr, command, VIEW_TIMEOUT).ok()))
            .collect();
        let unindexed = confirm_unindexed(&sends.snapshot(), &stored, views);
        let _ = client.shutdown(Duration::from_secs(5));
        Ok(self.result(Adapter::Blocking, &sends, &stored, &unindexed))
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

    fn ok(ms: u64) -> Slot {
        Slot {
            results: 1,
            ok_ms: ms,
            ..Slot::default()
        }
    }

    #[test]
    fn produce_verdict_compares_results_with_the_store() {
        let failed = Slot {
            results: 1,
            failed: true,
            ..Slot::default()
        };
        let none = Slot::default();
        let slots = [ok(5), ok(6), failed.clone(), failed, none, ok(7), ok(8)];
        let copies = [1, 0, 0, 1, 0, 2, 0];
        assert_eq!(
            produce_verdict(&slots, &copies, &BTreeSet::from([6])),
            ProduceVerdict {
                sends: 7,
                ok: 4,
                failed: 2,
                not_one_result: 1,
                ok_not_stored: 1,
                unindexed: 1,
                stored_twice: 1,
                failed_stored: 1,
            }
        );
        assert_eq!(ok_indices(&slots), vec![0, 1, 5, 6]);
    }

    /// Broker A's store host.
    fn broker_a() -> std::net::SocketAddr {
        "127.0.0.1:10911".parse().unwrap()
    }

    /// A stored message with `index`'s body at `(queue, offset)` of broker A and commit-log
    /// offset `clo`.
    fn stored_at(index: u64, queue: i32, offset: i64, clo: i64) -> MessageExt {
        let mut m = MessageExt::from_message(Message::new("t", body(index)));
        m.store_host = broker_a();
        m.queue_id = queue;
        m.queue_offset = offset;
        m.commit_log_offset = clo;
        m
    }

    /// The answer to a VIEW_MESSAGE_BY_ID holding `m`.
    fn view_of(m: &MessageExt) -> RemotingCommand {
        let request = RemotingCommand::request(RequestCode::ViewMessageById);
        let mut r = RemotingCommand::response_to(&request, ResponseCode::Success);
        r.body = rocketwire_core::message::encode_stored(m).expect("encodable");
        r
    }

    #[test]
    fn only_a_message_in_the_log_and_indexed_elsewhere_is_unindexed() {
        let stored = Stored::default();
        // Index 0 sits at (3, 259), commit-log offset 1000: the offset index 1's SendOk named.
        let zero = stored_at(0, 3, 259, 1000);
        // The same queue offset of another broker is another place.
        let mut five = stored_at(5, 3, 259, 1000);
        five.store_host = "127.0.0.1:10921".parse().unwrap();
        stored.add(&[zero.clone(), five]);
        assert_eq!(stored.copies(), vec![1, 0, 0, 0, 0, 1]);
        let addr = broker_a();
        let slot = |(queue, offset), clo| Slot {
            at: Some((addr, queue, offset)),
            offset_msg_id: OffsetMessageId { addr, offset: clo }.to_string(),
            ..ok(1)
        };
        // 1: in the log at 1254, queue offset indexed to 1000. 2: the log holds index 0 there.
        // 3: in the log, but its queue offset is its own (never read back). 4: no answer.
        let slots = vec![
            ok(1),
            slot((3, 259), 1254),
            slot((3, 259), 1000),
            slot((3, 300), 2000),
            slot((3, 259), 1508),
        ];
        let requests = view_requests(&slots, &stored);
        assert_eq!(
            requests
                .iter()
                .map(|r| (r.0, r.1.as_str()))
                .collect::<Vec<_>>(),
            [1, 2, 3, 4].map(|i| (i, "127.0.0.1:10911"))
        );
        assert_eq!(requests[0].2.field("offset"), Some("1254"));
        let views = vec![
            (1, Some(view_of(&stored_at(1, 3, 259, 1254)))),
            (2, Some(view_of(&zero))),
            (3, Some(view_of(&stored_at(3, 3, 300, 2000)))),
            (4, None),
        ];
        assert_eq!(
            confirm_unindexed(&slots, &stored, views),
            BTreeSet::from([1])
        );
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
