//! `rocketwire consume --offset ...`: kcat-style reading from chosen positions with a lite
//! pull consumer of a group of its own, assigned every queue of the topic. Nothing is
//! committed for the named group (`-g` only says whose offsets `stored` means).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant, SystemTime};

use rocketwire_core::body::MessageQueue;
use rocketwire_core::message::MessageExt;

use crate::args::{ConsumeArgs, OffsetSpec};
use crate::backend::{AdminAnswer, AdminCall, Backend};
use crate::consume::{message_json, message_line};
use crate::meter::{since_born, Latencies, Throughput};
use crate::progress::Progress;
use crate::CliError;

/// How long one poll waits.
const POLL: Duration = Duration::from_millis(200);

/// What a read did.
#[derive(Debug, Clone)]
pub struct ReadSummary {
    /// Messages printed.
    pub printed: u64,
    /// Their body bytes.
    pub bytes: u64,
    /// Wall time of the read.
    pub elapsed: Duration,
    /// From each message's birth (its producer's clock) to its line printed.
    pub end_to_end: Latencies,
}

impl ReadSummary {
    /// Prints the summary on stderr; with `metrics`, rates and latency percentiles too.
    pub fn print(&self, metrics: bool) {
        eprintln!("rocketwire: read {} messages", self.printed);
        if metrics {
            let throughput = Throughput {
                messages: self.printed,
                bytes: self.bytes,
                elapsed: self.elapsed,
            };
            eprintln!("metrics: read {throughput}");
            eprintln!(
                "metrics: end-to-end latency (born to printed) {}",
                self.end_to_end
            );
        }
    }
}

/// Where each queue starts, and where `--exit` stops it.
fn positions<B: Backend>(
    client: &B,
    args: &ConsumeArgs,
    spec: OffsetSpec,
) -> Result<BTreeMap<MessageQueue, (i64, i64)>, CliError> {
    let bounds = match client.admin(AdminCall::TopicOffsets(args.topic.clone()))? {
        AdminAnswer::Offsets(bounds) => bounds,
        other => return Err(CliError(format!("unexpected admin answer: {other:?}"))),
    };
    let stored = match spec {
        OffsetSpec::Stored => {
            match client.admin(AdminCall::ConsumeStats(
                args.group.clone(),
                args.topic.clone(),
            ))? {
                AdminAnswer::Stats(stats) => stats.offset_table,
                other => return Err(CliError(format!("unexpected admin answer: {other:?}"))),
            }
        }
        _ => BTreeMap::new(),
    };
    let mut out = BTreeMap::new();
    for q in bounds {
        let clamp = |o: i64| o.clamp(q.min, q.max);
        let start = match spec {
            OffsetSpec::Beginning | OffsetSpec::EndTime(_) => q.min,
            OffsetSpec::End => q.max,
            OffsetSpec::Stored => clamp(stored.get(&q.queue).map_or(q.min, |o| o.consumer_offset)),
            OffsetSpec::At(n) if n < 0 => clamp(q.max + n),
            OffsetSpec::At(n) => clamp(n),
            OffsetSpec::StartTime(ms) => {
                match client.admin(AdminCall::SearchOffset(q.queue.clone(), ms))? {
                    AdminAnswer::Offset(o) => clamp(o),
                    other => return Err(CliError(format!("unexpected admin answer: {other:?}"))),
                }
            }
        };
        out.insert(q.queue, (start, q.max));
    }
    Ok(out)
}

/// Reads and prints until `--count`, `--exit` at the queues' ends, or an `e@` time on every
/// queue.
pub fn run<B: Backend>(
    client: &mut B,
    args: &ConsumeArgs,
    spec: OffsetSpec,
) -> Result<ReadSummary, CliError> {
    let mut positions = positions(client, args, spec)?;
    let group = format!(
        "rocketwire_cli_reader_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let queues: Vec<MessageQueue> = positions.keys().cloned().collect();
    // A message names the address that stored it, not its broker: tell them apart by the
    // route's master addresses (or, with one broker, by that one).
    let route = client.query_route(&args.topic)?;
    let brokers: BTreeMap<String, String> = route
        .broker_datas
        .iter()
        .filter_map(|b| Some((b.master_addr()?.to_owned(), b.broker_name.clone())))
        .collect();
    let only_broker =
        (route.broker_datas.len() == 1).then(|| route.broker_datas[0].broker_name.clone());
    client
        .start_reader(&group, queues)
        .map_err(|e| CliError(format!("cannot start the reader: {e}")))?;
    for (queue, (start, _)) in &positions {
        client
            .reader_seek(queue, *start)
            .map_err(|e| CliError(format!("cannot seek {queue} to {start}: {e}")))?;
    }
    let end_time = match spec {
        OffsetSpec::EndTime(ms) => Some(ms),
        _ => None,
    };
    let limit = args.count.unwrap_or(u64::MAX);
    // With `--exit` the total is known: what lies between the starts and the ends.
    let total = args
        .exit
        .then(|| {
            positions
                .values()
                .map(|(start, end)| u64::try_from(end - start).unwrap_or(0))
                .sum::<u64>()
        })
        .map_or(args.count, |n| Some(n.min(limit)));
    let mut progress = Progress::stderr(
        args.quiet || !std::io::stdout().is_terminal(),
        total,
        "messages",
    );
    let started = Instant::now();
    let mut printed = 0u64;
    let mut bytes = 0u64;
    let mut end_to_end = Latencies::new();
    let mut done_queues: Vec<MessageQueue> = Vec::new();
    let stdout = std::io::stdout();
    let mut idle_since = Instant::now();
    loop {
        let finished = |positions: &BTreeMap<MessageQueue, (i64, i64)>, done: &[MessageQueue]| {
            positions
                .iter()
                .all(|(q, (at, end))| done.contains(q) || (args.exit && at >= end))
        };
        if printed >= limit || finished(&positions, &done_queues) {
            break;
        }
        let messages = client
            .reader_poll(POLL)
            .map_err(|e| CliError(format!("poll: {e}")))?;
        if messages.is_empty()
            && end_time.is_some()
            && idle_since.elapsed() > Duration::from_secs(2)
        {
            // Nothing more stored before the end time will come.
            break;
        }
        let mut out = stdout.lock();
        for m in messages {
            idle_since = Instant::now();
            let queue = brokers
                .get(&m.store_host.to_string())
                .or(only_broker.as_ref())
                .map(|broker| MessageQueue::new(&args.topic, broker, m.queue_id))
                .filter(|q| positions.contains_key(q));
            if end_time.is_some_and(|t| m.store_timestamp >= t) {
                if let Some(q) = queue {
                    done_queues.push(q);
                }
                continue;
            }
            if let Some((at, _)) = queue.as_ref().and_then(|q| positions.get_mut(q)) {
                *at = (*at).max(m.queue_offset + 1);
            }
            if printed >= limit {
                break;
            }
            if !args.quiet {
                let line = print(args, &m);
                writeln!(out, "{line}").map_err(|e| CliError(format!("stdout: {e}")))?;
            }
            printed += 1;
            bytes += m.body().len() as u64;
            end_to_end.record(since_born(m.born_timestamp, SystemTime::now()));
        }
        out.flush().map_err(|e| CliError(format!("stdout: {e}")))?;
        progress.update(printed, String::new);
    }
    progress.finish(printed, String::new);
    Ok(ReadSummary {
        printed,
        bytes,
        elapsed: started.elapsed(),
        end_to_end,
    })
}

fn print(args: &ConsumeArgs, m: &MessageExt) -> String {
    match (&args.format, args.json) {
        (Some(template), _) => template.render(m),
        (None, true) => message_json(m).to_string(),
        (None, false) => message_line(m),
    }
}
