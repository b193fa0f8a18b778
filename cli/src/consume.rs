//! `rocketwire consume`: a push consumer printing what it gets, until `--count` messages or
//! Ctrl-C, then a graceful shutdown and a summary. A message is acknowledged only once its
//! line is out of the process for good, so killing the command, or closing its stdout, never
//! loses a message for the group.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rocketwire_core::body::{ConsumeFromWhere, MessageModel};
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfig, PopConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{ConsumeOutcome, ConsumerCloseReport};

use crate::args::{ConsumeArgs, StartFrom};
use futures::channel::oneshot;

use crate::backend::{Backend, Handler};
use crate::meter::{since_born, Latencies, Throughput};
use crate::progress::Progress;
use crate::sink::Sink;
use crate::CliError;

/// How long handlers may finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);
/// How long the printer waits for a batch when nothing waits for the reader.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// Bytes of messages buffered per queue before pulls wait (Java's default is 100 MiB).
const PULL_THRESHOLD_BYTES: u64 = 2 * 1024 * 1024;
/// How often a pipe is looked at while printed lines wait for its reader.
const READER_POLL: Duration = Duration::from_millis(1);

/// What a `consume` run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Messages printed.
    pub consumed: u64,
    /// Body bytes of the messages printed.
    pub bytes: u64,
    /// From a message's delivery to the handler to its acknowledgement (printed for good).
    pub consume_latency: Latencies,
    /// From a message's birth (its producer's clock) to its acknowledgement.
    pub end_to_end: Latencies,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether Ctrl-C ended it.
    pub interrupted: bool,
    /// What the consumer's close reported.
    pub report: ConsumerCloseReport,
}

impl Summary {
    /// Prints the summary on stderr (stdout carries the messages); with `metrics`, rates
    /// and latency percentiles too.
    pub fn print(&self, metrics: bool) {
        let secs = self.elapsed.as_secs_f64();
        eprintln!(
            "consumed {} messages in {secs:.1} s{}; offsets committed for {} queues{}",
            self.consumed,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            },
            self.report.persisted.len(),
            match self.report.abandoned_deliveries {
                0 => String::new(),
                n => format!("; {n} deliveries abandoned"),
            }
        );
        if metrics {
            let throughput = Throughput {
                messages: self.consumed,
                bytes: self.bytes,
                elapsed: self.elapsed,
            };
            eprintln!("metrics: consumed {throughput}");
            eprintln!(
                "metrics: consume latency (delivered to acknowledged) {}",
                self.consume_latency
            );
            eprintln!(
                "metrics: end-to-end latency (born to acknowledged) {}",
                self.end_to_end
            );
        }
    }
}

/// The consumer config for `args`.
pub fn consumer_config(args: &ConsumeArgs) -> ConsumerConfig {
    let (from, timestamp) = match args.from {
        StartFrom::First => (ConsumeFromWhere::FirstOffset, None),
        StartFrom::Last => (ConsumeFromWhere::LastOffset, None),
        StartFrom::Timestamp(ms) => (ConsumeFromWhere::Timestamp, Some(ms)),
    };
    ConsumerConfig {
        group: args.group.clone(),
        consume_from_where: from,
        consume_timestamp_ms: timestamp,
        consume_mode: if args.orderly {
            ConsumeMode::Orderly
        } else {
            ConsumeMode::Concurrently
        },
        message_model: if args.broadcast {
            MessageModel::Broadcasting
        } else {
            MessageModel::Clustering
        },
        // One message a delivery: `--count` stops exactly, and a line printed is a message
        // acked.
        consume_batch_max_size: 1,
        // A printer needs no deep buffer: a slow stdout holds pulls back early.
        pull_threshold_size_for_queue: PULL_THRESHOLD_BYTES,
        pop: args.pop.then(|| {
            PopConfig::default().with_invisible_time(Duration::from_millis(args.invisible_time))
        }),
        ..ConsumerConfig::default()
    }
}

/// A delivered batch on its way to stdout, with where its outcome goes.
struct Batch {
    messages: Vec<MessageExt>,
    delivered: Instant,
    outcome: oneshot::Sender<ConsumeOutcome>,
}

enum Wake {
    Batch(Batch),
    Interrupt,
}

/// Batches written, waiting for their lines to count as printed before they are acked.
struct Printed {
    /// Sink position just past the batch's last line.
    end: u64,
    acked: Acked,
    outcome: oneshot::Sender<ConsumeOutcome>,
}

/// What `--metrics` counts of a batch once it is acknowledged.
struct Acked {
    delivered: Instant,
    born_ms: Vec<i64>,
    bytes: u64,
}

impl Acked {
    fn of(batch: &Batch) -> Self {
        Self {
            delivered: batch.delivered,
            born_ms: batch.messages.iter().map(|m| m.born_timestamp).collect(),
            bytes: batch.messages.iter().map(|m| m.body().len() as u64).sum(),
        }
    }
}

/// Counts of what was acknowledged.
#[derive(Default)]
struct Tally {
    consumed: u64,
    bytes: u64,
    consume_latency: Latencies,
    end_to_end: Latencies,
}

impl Tally {
    fn ack(&mut self, acked: Acked) {
        let count = acked.born_ms.len() as u64;
        self.consumed += count;
        self.bytes += acked.bytes;
        self.consume_latency
            .record_n(acked.delivered.elapsed(), count);
        let now = SystemTime::now();
        for born in acked.born_ms {
            self.end_to_end.record(since_born(born, now));
        }
    }
}

/// Runs `consume` on `client`.
///
/// The handler only hands each batch to this thread, which prints it; a batch is acked
/// (Success) once its lines are out of the process for good (flushed, and when stdout is a
/// pipe, dealt with by the reader: see [`crate::sink`]). A batch it will not print (past `--count`, after Ctrl-C,
/// or once the reader is gone) is [`ConsumeOutcome::Abandon`]ed: neither committed nor sent
/// back, so the group gets it again. The handler waits for its batch's outcome, so a slow
/// stdout slows consumption down instead of growing a queue.
pub fn run<B: Backend>(client: &mut B, args: &ConsumeArgs) -> Result<Summary, CliError> {
    let subscription = if args.sql {
        Subscription::sql92(args.topic.clone(), &args.expression)
    } else {
        Subscription::tag(args.topic.clone(), &args.expression)
    }
    .map_err(|e| CliError(format!("bad expression: {e}")))?;
    let (tx, rx) = mpsc::channel::<Wake>();
    watch_ctrl_c(tx.clone());
    let limit = args.count.unwrap_or(u64::MAX);
    let handler: Handler = Arc::new(move |messages: Vec<MessageExt>| {
        let (outcome, settled) = oneshot::channel();
        let batch = Batch {
            messages,
            delivered: Instant::now(),
            outcome,
        };
        let handed = tx.send(Wake::Batch(batch)).is_ok();
        Box::pin(async move {
            match (handed, settled.await) {
                (true, Ok(outcome)) => outcome,
                _ => ConsumeOutcome::Abandon,
            }
        })
    });
    let started = Instant::now();
    client
        .start_consumer(consumer_config(args), vec![subscription], handler)
        .map_err(|e| CliError(e.to_string()))?;
    // A bar beside messages printed on the same terminal would garble both.
    let mut progress = Progress::stderr(
        args.quiet || !std::io::stdout().is_terminal(),
        args.count,
        "messages",
    );
    let mut sink = Sink::stdout();
    let mut printed: VecDeque<Printed> = VecDeque::new();
    // Lines written (taken by the reader or not), and what was acked.
    let mut written = 0u64;
    let mut tally = Tally::default();
    let mut interrupted = false;
    let mut stdout_error = None;
    loop {
        // Ack what was printed for good; the rest waits, or is given up when nobody will
        // read it.
        let upto = sink.printed(Instant::now());
        while printed.front().is_some_and(|p| p.end <= upto) {
            if let Some(p) = printed.pop_front() {
                tally.ack(p.acked);
                let _ = p.outcome.send(ConsumeOutcome::Success);
            }
        }
        if !printed.is_empty() && sink.reader_gone() {
            stdout_error = Some("stdout closed".to_owned());
        }
        if interrupted || stdout_error.is_some() || (written >= limit && printed.is_empty()) {
            break;
        }
        let wait = if printed.is_empty() {
            IDLE_WAIT
        } else {
            READER_POLL
        };
        match rx.recv_timeout(wait) {
            Ok(Wake::Batch(batch)) if written >= limit => {
                let _ = batch.outcome.send(ConsumeOutcome::Abandon);
            }
            Ok(Wake::Batch(batch)) => {
                let count = batch.messages.len() as u64;
                if args.quiet {
                    written += count;
                    tally.ack(Acked::of(&batch));
                    let _ = batch.outcome.send(ConsumeOutcome::Success);
                    progress.update(tally.consumed, String::new);
                    continue;
                }
                let lines: Vec<String> = batch
                    .messages
                    .iter()
                    .map(|m| match (&args.format, args.json) {
                        (Some(template), _) => template.render(m),
                        (None, true) => message_json(m).to_string(),
                        (None, false) => message_line(m),
                    })
                    .collect();
                match sink.write_lines(&lines) {
                    Ok(end) => {
                        written += count;
                        printed.push_back(Printed {
                            end,
                            acked: Acked::of(&batch),
                            outcome: batch.outcome,
                        });
                    }
                    Err(e) => {
                        let _ = batch.outcome.send(ConsumeOutcome::Abandon);
                        stdout_error = Some(e.to_string());
                    }
                }
            }
            Ok(Wake::Interrupt) => interrupted = true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        progress.update(tally.consumed, String::new);
    }
    progress.finish(tally.consumed, String::new);
    // Whatever was not taken is not consumed; batches still coming are refused likewise
    // until the consumer is closed.
    for p in printed {
        let _ = p.outcome.send(ConsumeOutcome::Abandon);
    }
    refuse_the_rest(rx);
    let report = client
        .stop_consumer(DRAIN)
        .map_err(|e| CliError(e.to_string()))?;
    if let Some(e) = stdout_error {
        eprintln!("rocketwire: stdout: {e}; messages not printed stay unconsumed");
    }
    Ok(Summary {
        consumed: tally.consumed,
        bytes: tally.bytes,
        consume_latency: tally.consume_latency,
        end_to_end: tally.end_to_end,
        elapsed: started.elapsed(),
        interrupted,
        report,
    })
}

/// Answers every batch still handed over with [`ConsumeOutcome::Abandon`], on a thread of
/// its own, until the handler is gone.
fn refuse_the_rest(rx: mpsc::Receiver<Wake>) {
    let _ = std::thread::Builder::new()
        .name("rocketwire-refuse".into())
        .spawn(move || {
            while let Ok(wake) = rx.recv() {
                if let Wake::Batch(batch) = wake {
                    let _ = batch.outcome.send(ConsumeOutcome::Abandon);
                }
            }
        });
}

/// Sends [`Wake::Interrupt`] on Ctrl-C (a small thread with tokio's signal handling).
fn watch_ctrl_c(tx: mpsc::Sender<Wake>) {
    let _ = std::thread::Builder::new()
        .name("rocketwire-ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                let _ = tx.send(Wake::Interrupt);
            }
        });
}

/// One message as a line of text: where it was, its id and its body.
pub fn message_line(m: &MessageExt) -> String {
    format!(
        "{} q{} @{} {} {}",
        m.topic(),
        m.queue_id,
        m.queue_offset,
        m.msg_id(),
        String::from_utf8_lossy(m.body())
    )
}

/// One message as a JSON object of every field; a body that is not UTF-8 is given as
/// `bodyBase64`.
pub fn message_json(m: &MessageExt) -> serde_json::Value {
    let mut v = serde_json::json!({
        "topic": m.topic(),
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "msgId": m.msg_id(),
        "offsetMsgId": m.offset_msg_id,
        "tags": m.message.tags(),
        "keys": m.message.key_list().collect::<Vec<_>>(),
        "properties": m.message.properties(),
        "reconsumeTimes": m.reconsume_times,
        "bornTimestamp": m.born_timestamp,
        "bornHost": m.born_host.to_string(),
        "storeTimestamp": m.store_timestamp,
        "storeHost": m.store_host.to_string(),
        "commitLogOffset": m.commit_log_offset,
        "storeSize": m.store_size,
        "bodyCrc": m.body_crc,
        "sysFlag": m.sys_flag,
        "flag": m.message.flag,
        "preparedTransactionOffset": m.prepared_transaction_offset,
    });
    match std::str::from_utf8(m.body()) {
        Ok(text) => v["body"] = text.into(),
        Err(_) => v["bodyBase64"] = base64(m.body()).into(),
    }
    v
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        // RFC 4648 §10 test vectors.
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }
}
