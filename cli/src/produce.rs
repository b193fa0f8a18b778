//! `rocketwire produce`: pipelined sends bounded by `--inflight`, a progress line on a
//! terminal, and a summary.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, SendError, SendResult};
use rocketwire_driver::{SendHandle, TrySendError};

use crate::args::ProduceArgs;
use crate::backend::Backend;
use crate::CliError;

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// What a `produce` run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Messages stored.
    pub sent: u64,
    /// Messages not stored.
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Median send latency.
    pub p50: Duration,
    /// 99th percentile send latency.
    pub p99: Duration,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

impl Summary {
    /// Stored messages per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.sent as f64 / secs
        } else {
            0.0
        }
    }

    /// The machine-readable summary.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "sent": self.sent,
            "failed": self.failed,
            "elapsed_ms": self.elapsed.as_secs_f64() * 1e3,
            "msgs_per_sec": self.rate(),
            "p50_ms": self.p50.as_secs_f64() * 1e3,
            "p99_ms": self.p99.as_secs_f64() * 1e3,
            "first_error": self.first_error,
        })
    }

    /// Prints the summary on stdout (JSON with `json`).
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.to_json());
        } else {
            println!(
                "sent {}, failed {} in {:.2} s: {:.0} msgs/s, latency p50 {:.2} ms, p99 {:.2} ms",
                self.sent,
                self.failed,
                self.elapsed.as_secs_f64(),
                self.rate(),
                self.p50.as_secs_f64() * 1e3,
                self.p99.as_secs_f64() * 1e3
            );
        }
    }
}

/// The `q` quantile (0..=1) of sorted `values` (nearest rank); zero when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
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

struct Run {
    started: Instant,
    sent: u64,
    failed: u64,
    latencies: Vec<Duration>,
    first_error: Option<String>,
    pending: VecDeque<(Instant, u64, SendHandle)>,
    progress: Option<Instant>,
}

impl Run {
    fn record(&mut self, started: Instant, n: u64, result: Result<SendResult, SendError>) {
        match result {
            Ok(_) => {
                self.sent += n;
                self.latencies.push(started.elapsed());
            }
            Err(e) => {
                self.failed += n;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Records the sends at the front that are done, without waiting.
    fn drain_ready(&mut self) {
        while let Some((_, _, handle)) = self.pending.front_mut() {
            let Some(result) = handle.now_or_never() else {
                break;
            };
            if let Some((started, n, _)) = self.pending.pop_front() {
                self.record(started, n, result);
            }
        }
    }

    /// Waits for the oldest send; false when none is pending.
    fn wait_oldest(&mut self) -> bool {
        match self.pending.pop_front() {
            Some((started, n, handle)) => {
                let result = handle.wait();
                self.record(started, n, result);
                true
            }
            None => false,
        }
    }

    fn show_progress(&mut self, force: bool) {
        let Some(last) = self.progress else { return };
        if !force && last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.progress = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[Ksent {} failed {} in flight {} ({:.0} msgs/s)",
            self.sent,
            self.failed,
            self.pending.len(),
            self.sent as f64 / secs
        );
        let _ = err.flush();
    }
}

/// Sends every message of the run through `client` and returns the summary.
pub fn run<B: Backend>(client: &mut B, args: &ProduceArgs) -> Result<Summary, CliError> {
    let config = ProducerConfig::builder(args.group.clone())
        .send_timeout(std::time::Duration::from_millis(args.send_timeout))
        .build()
        .map_err(|e| CliError(e.to_string()))?;
    client.create_producer(config)?;
    let mut source = match (args.count, args.size) {
        (Some(count), Some(size)) => Source::Generated {
            next: 0,
            count,
            size: size as usize,
        },
        _ => Source::Stdin(std::io::stdin().lock()),
    };
    let tty = std::io::stderr().is_terminal();
    let mut run = Run {
        started: Instant::now(),
        sent: 0,
        failed: 0,
        latencies: Vec::new(),
        first_error: None,
        pending: VecDeque::new(),
        progress: tty.then(Instant::now),
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
        loop {
            run.drain_ready();
            let started = Instant::now();
            match client.try_send(messages.clone()) {
                Ok(handle) => {
                    run.pending.push_back((started, n, handle));
                    break;
                }
                Err(TrySendError::Full) => {
                    if !run.wait_oldest() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Err(e) => return Err(CliError(e.to_string())),
            }
            run.show_progress(false);
        }
        run.show_progress(false);
    }
    while run.wait_oldest() {
        run.show_progress(false);
    }
    if run.progress.is_some() {
        run.show_progress(true);
        eprintln!();
    }
    let elapsed = run.started.elapsed();
    run.latencies.sort();
    Ok(Summary {
        sent: run.sent,
        failed: run.failed,
        elapsed,
        p50: quantile(&run.latencies, 0.5),
        p99: quantile(&run.latencies, 0.99),
        first_error: run.first_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&values, 0.5), Duration::from_millis(51));
        assert_eq!(quantile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

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
