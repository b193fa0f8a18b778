//! `rocketwire produce`: pipelined sends bounded by `--inflight`, a progress line on a
//! terminal, and a summary.

use std::collections::VecDeque;
use std::io::BufRead;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{AutoBatch, ProducerConfig, SendError, SendResult};
use rocketwire_driver::{SendHandle, TrySendError};

use crate::args::ProduceArgs;
use crate::backend::Backend;
use crate::meter::{Latencies, Throughput};
use crate::progress::Progress;
use crate::CliError;

/// What a `produce` run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Messages stored.
    pub sent: u64,
    /// Messages not stored.
    pub failed: u64,
    /// Body bytes stored.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of each stored send (a batch counts once per message).
    pub latency: Latencies,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

impl Summary {
    /// Stored messages per second.
    pub fn rate(&self) -> f64 {
        self.throughput().messages_per_sec()
    }

    /// What was stored, over the run's wall time.
    pub fn throughput(&self) -> Throughput {
        Throughput {
            messages: self.sent,
            bytes: self.bytes,
            elapsed: self.elapsed,
        }
    }

    /// The machine-readable summary; `metrics` adds throughput in bytes and every
    /// percentile.
    pub fn to_json(&self, metrics: bool) -> serde_json::Value {
        let mut v = serde_json::json!({
            "sent": self.sent,
            "failed": self.failed,
            "elapsed_ms": self.elapsed.as_secs_f64() * 1e3,
            "msgs_per_sec": self.rate(),
            "p50_ms": self.latency.quantile(0.5).as_secs_f64() * 1e3,
            "p99_ms": self.latency.quantile(0.99).as_secs_f64() * 1e3,
            "first_error": self.first_error,
        });
        if metrics {
            v["metrics"] = serde_json::json!({
                "stored": self.throughput().to_json(),
                "send_latency": self.latency.to_json(),
            });
        }
        v
    }

    /// Prints the summary on stdout (JSON with `json`; with `metrics`, the stored bytes and
    /// every percentile too).
    pub fn print(&self, json: bool, metrics: bool) {
        if json {
            println!("{}", self.to_json(metrics));
            return;
        }
        println!(
            "sent {}, failed {} in {:.2} s: {:.0} msgs/s, latency p50 {:.2} ms, p99 {:.2} ms",
            self.sent,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.latency.quantile(0.5).as_secs_f64() * 1e3,
            self.latency.quantile(0.99).as_secs_f64() * 1e3
        );
        if metrics {
            println!("metrics: stored {}", self.throughput());
            println!("metrics: send latency {}", self.latency);
        }
    }
}

/// Builds one message of the run from `body`.
pub fn build_message(args: &ProduceArgs, body: Bytes) -> Result<Message, CliError> {
    let bad = |e: rocketwire_core::message::MessageError| CliError(e.to_string());
    let mut message = Message::new(args.topic.clone(), body);
    if let Some(tag) = &args.tag {
        message.set_tags(tag.clone()).map_err(bad)?;
    }
    if let Some(key) = &args.key {
        message.set_keys([key.as_str()]).map_err(bad)?;
    }
    for (k, v) in &args.properties {
        message
            .put_user_property(k.clone(), v.clone())
            .map_err(bad)?;
    }
    if let Some(level) = args.delay_level {
        message.set_delay_level(level);
    }
    Ok(message)
}

/// One message of a `--json-lines` run from its line (the flags give the defaults).
pub fn json_line_message(args: &ProduceArgs, line: &[u8]) -> Result<Message, CliError> {
    let bad = |what: String| CliError(format!("bad JSON line: {what}"));
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| bad("not an object".into()))?;
    let text = |key: &str| -> Result<Option<String>, CliError> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!("{key} must be a string, got {other}"))),
        }
    };
    let body = text("body")?.ok_or_else(|| bad("no \"body\"".into()))?;
    let mut message = build_message(args, Bytes::from(body))?;
    let invalid = |e: rocketwire_core::message::MessageError| bad(e.to_string());
    if let Some(topic) = text("topic")? {
        message.topic = topic;
    }
    if let Some(tags) = text("tags")? {
        message.set_tags(tags).map_err(invalid)?;
    }
    let keys: Option<Vec<String>> = match (text("key")?, obj.get("keys")) {
        (Some(key), _) => Some(vec![key]),
        (None, Some(serde_json::Value::Array(list))) => Some(
            list.iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("keys must be strings".into()))?,
        ),
        (None, Some(other)) => return Err(bad(format!("keys must be a list, got {other}"))),
        (None, None) => None,
    };
    if let Some(keys) = keys {
        message.set_keys(keys).map_err(invalid)?;
    }
    if let Some(props) = obj.get("properties") {
        let props = props
            .as_object()
            .ok_or_else(|| bad("properties must be an object".into()))?;
        for (k, v) in props {
            let v = v
                .as_str()
                .ok_or_else(|| bad(format!("property {k} must be a string")))?;
            message
                .put_user_property(k.clone(), v.to_owned())
                .map_err(invalid)?;
        }
    }
    if let Some(level) = obj.get("delayLevel") {
        let level = level
            .as_i64()
            .and_then(|l| i32::try_from(l).ok())
            .filter(|l| *l >= 1)
            .ok_or_else(|| {
                bad(format!(
                    "delayLevel must be a level of 1 or more, got {level}"
                ))
            })?;
        message.set_delay_level(level);
    }
    Ok(message)
}

/// A generated body of `size` bytes starting with its sequence number.
pub fn generated_body(seq: u64, size: usize) -> Bytes {
    let mut body = format!("{seq:012} ").into_bytes();
    body.resize(size.max(1), b'x');
    body.truncate(size.max(1));
    Bytes::from(body)
}

/// Where bodies come from.
enum Source {
    Generated { next: u64, count: u64, size: usize },
    Stdin(std::io::StdinLock<'static>),
}

impl Source {
    fn next_body(&mut self) -> Result<Option<Bytes>, CliError> {
        match self {
            Source::Generated { next, count, size } => {
                if *next >= *count {
                    return Ok(None);
                }
                *next += 1;
                Ok(Some(generated_body(*next - 1, *size)))
            }
            Source::Stdin(lines) => loop {
                let mut line = String::new();
                let n = lines
                    .read_line(&mut line)
                    .map_err(|e| CliError(format!("cannot read stdin: {e}")))?;
                if n == 0 {
                    return Ok(None);
                }
                let line = line.trim_end_matches(['\n', '\r']);
                // An empty body cannot be sent: empty lines are skipped.
                if !line.is_empty() {
                    return Ok(Some(Bytes::from(line.to_owned())));
                }
            },
        }
    }
}

/// A send: when it left, its message count and body bytes.
#[derive(Debug, Clone, Copy)]
struct Sent {
    started: Instant,
    messages: u64,
    bytes: u64,
}

/// A send on its way.
struct Pending {
    sent: Sent,
    handle: SendHandle,
}

struct Run {
    started: Instant,
    sent: u64,
    failed: u64,
    bytes: u64,
    latency: Latencies,
    first_error: Option<String>,
    pending: VecDeque<Pending>,
    progress: Progress,
}

impl Run {
    fn record(&mut self, send: Sent, result: Result<SendResult, SendError>) {
        match result {
            Ok(_) => {
                self.sent += send.messages;
                self.bytes += send.bytes;
                self.latency.record_n(send.started.elapsed(), send.messages);
            }
            Err(e) => {
                self.failed += send.messages;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Records the sends at the front that are done, without waiting.
    fn drain_ready(&mut self) {
        while let Some(front) = self.pending.front_mut() {
            let Some(result) = (&mut front.handle).now_or_never() else {
                break;
            };
            if let Some(send) = self.pending.pop_front() {
                self.record(send.sent, result);
            }
        }
    }

    /// Waits for the oldest send; false when none is pending.
    fn wait_oldest(&mut self) -> bool {
        match self.pending.pop_front() {
            Some(send) => {
                let result = send.handle.wait();
                self.record(send.sent, result);
                true
            }
            None => false,
        }
    }

    fn show_progress(&mut self) {
        let (sent, failed, in_flight) = (self.sent, self.failed, self.pending.len());
        self.progress.update(sent + failed, || {
            format!(", {failed} failed, {in_flight} in flight")
        });
    }
}

/// Sends every message of the run through `client` and returns the summary.
pub fn run<B: Backend>(client: &mut B, args: &ProduceArgs) -> Result<Summary, CliError> {
    let mut config = ProducerConfig::builder(args.group.clone())
        .send_timeout(std::time::Duration::from_millis(args.send_timeout));
    if args.auto_batch {
        config = config.auto_batch(AutoBatch::default());
    }
    let config = config.build().map_err(|e| CliError(e.to_string()))?;
    client.create_producer(config)?;
    let mut source = match (args.count, args.size) {
        (Some(count), Some(size)) => Source::Generated {
            next: 0,
            count,
            size: size as usize,
        },
        _ => Source::Stdin(std::io::stdin().lock()),
    };
    let mut run = Run {
        started: Instant::now(),
        sent: 0,
        failed: 0,
        bytes: 0,
        latency: Latencies::new(),
        first_error: None,
        pending: VecDeque::new(),
        progress: Progress::stderr(true, args.count, "msgs"),
    };
    let batch = args.batch.max(1) as usize;
    loop {
        let mut messages = Vec::with_capacity(batch);
        while messages.len() < batch {
            match source.next_body()? {
                Some(line) if args.json_lines => messages.push(json_line_message(args, &line)?),
                Some(body) => messages.push(build_message(args, body)?),
                None => break,
            }
        }
        if messages.is_empty() {
            break;
        }
        let n = messages.len() as u64;
        let bytes = messages.iter().map(|m| m.body.len() as u64).sum();
        loop {
            run.drain_ready();
            let started = Instant::now();
            match client.try_send(messages.clone()) {
                Ok(handle) => {
                    let sent = Sent {
                        started,
                        messages: n,
                        bytes,
                    };
                    run.pending.push_back(Pending { sent, handle });
                    break;
                }
                Err(TrySendError::Full) => {
                    if !run.wait_oldest() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Err(e) => {
                    run.progress.clear();
                    return Err(CliError(e.to_string()));
                }
            }
            run.show_progress();
        }
        run.show_progress();
    }
    while run.wait_oldest() {
        run.show_progress();
    }
    let (done, failed) = (run.sent + run.failed, run.failed);
    run.progress
        .finish(done, || format!(", {failed} failed, 0 in flight"));
    Ok(Summary {
        sent: run.sent,
        failed: run.failed,
        bytes: run.bytes,
        elapsed: run.started.elapsed(),
        latency: run.latency,
        first_error: run.first_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_override_the_flags() {
        use clap::Parser;
        let cli = crate::args::Cli::parse_from([
            "rocketwire",
            "produce",
            "-t",
            "T",
            "--tag",
            "A",
            "--json-lines",
        ]);
        let crate::args::CliCommand::Produce(args) = cli.command else {
            panic!("produce");
        };
        let m = json_line_message(
            &args,
            br#"{"body":"b","keys":["k1","k2"],"properties":{"p":"v"},"delayLevel":2}"#,
        )
        .unwrap();
        assert_eq!((m.topic.as_str(), &m.body[..]), ("T", &b"b"[..]));
        assert_eq!(m.tags(), Some("A"), "the flag is the default");
        assert_eq!(m.key_list().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(m.property("p"), Some("v"));
        assert_eq!(m.delay_level(), Ok(2));
        let m = json_line_message(&args, br#"{"body":"c","topic":"U","tags":"B"}"#).unwrap();
        assert_eq!((m.topic.as_str(), m.tags()), ("U", Some("B")));
        for bad in [
            &b"{}"[..],
            b"[1]",
            br#"{"body":1}"#,
            br#"{"body":"x","delayLevel":0}"#,
        ] {
            assert!(
                json_line_message(&args, bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn generated_bodies_have_the_requested_size() {
        assert_eq!(generated_body(7, 100).len(), 100);
        assert_eq!(&generated_body(7, 100)[..13], b"000000000007 ");
        assert_eq!(generated_body(7, 3).len(), 3);
    }
}
