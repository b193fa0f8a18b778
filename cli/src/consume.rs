//! `rocketwire consume`: a push consumer printing what it gets, until `--count` messages or
//! Ctrl-C, then a graceful shutdown and a summary.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketwire_core::body::{ConsumeFromWhere, MessageModel};
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{ConsumeOutcome, ConsumerCloseReport};

use crate::args::{ConsumeArgs, StartFrom};
use crate::backend::{Backend, Handler};
use crate::CliError;

/// How long handlers may finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);
/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// What a `consume` run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Messages printed.
    pub consumed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether Ctrl-C ended it.
    pub interrupted: bool,
    /// What the consumer's close reported.
    pub report: ConsumerCloseReport,
}

impl Summary {
    /// Prints the summary on stderr (stdout carries the messages).
    pub fn print(&self) {
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
        ..ConsumerConfig::default()
    }
}

enum Wake {
    Messages(Vec<MessageExt>),
    Interrupt,
}

/// Runs `consume` on `client`.
pub fn run<B: Backend>(client: &mut B, args: &ConsumeArgs) -> Result<Summary, CliError> {
    let subscription = Subscription::tag(args.topic.clone(), &args.expression)
        .map_err(|e| CliError(format!("bad expression: {e}")))?;
    let (tx, rx) = mpsc::channel::<Wake>();
    watch_ctrl_c(tx.clone());
    let limit = args.count.unwrap_or(u64::MAX);
    let taken = Arc::new(AtomicU64::new(0));
    let handler: Handler = {
        let (taken, tx) = (taken.clone(), std::sync::Mutex::new(tx));
        Arc::new(move |messages: &[MessageExt]| {
            let n = messages.len() as u64;
            // Past --count: not ours to take; the group gets it again.
            let before = taken.fetch_add(n, Ordering::SeqCst);
            if before.saturating_add(n) > limit {
                taken.fetch_sub(n, Ordering::SeqCst);
                return ConsumeOutcome::ReconsumeLater { delay_level: 1 };
            }
            let sent = tx
                .lock()
                .map(|tx| tx.send(Wake::Messages(messages.to_vec())).is_ok())
                .unwrap_or(false);
            if sent {
                ConsumeOutcome::Success
            } else {
                ConsumeOutcome::ReconsumeLater { delay_level: 1 }
            }
        })
    };
    let started = Instant::now();
    client
        .start_consumer(consumer_config(args), vec![subscription], handler)
        .map_err(|e| CliError(e.to_string()))?;
    let tty = std::io::stderr().is_terminal() && !args.json;
    let mut stdout = std::io::stdout().lock();
    let mut consumed = 0u64;
    let mut interrupted = false;
    let mut drawn = Instant::now();
    while consumed < limit {
        match rx.recv_timeout(PROGRESS_EVERY) {
            Ok(Wake::Messages(messages)) => {
                for m in &messages {
                    consumed += 1;
                    if args.quiet {
                        continue;
                    }
                    let line = if args.json {
                        message_json(m).to_string()
                    } else {
                        message_line(m)
                    };
                    writeln!(stdout, "{line}").map_err(|e| CliError(e.to_string()))?;
                }
            }
            Ok(Wake::Interrupt) => {
                interrupted = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if tty && drawn.elapsed() >= PROGRESS_EVERY {
            drawn = Instant::now();
            eprint!(
                "\r{consumed} messages, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let _ = stdout.flush();
    if tty {
        eprint!("\r\x1b[K");
    }
    let report = client
        .stop_consumer(DRAIN)
        .map_err(|e| CliError(e.to_string()))?;
    Ok(Summary {
        consumed,
        elapsed: started.elapsed(),
        interrupted,
        report,
    })
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

/// One message as a JSON object; a body that is not UTF-8 is given as `bodyBase64`.
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
        "storeTimestamp": m.store_timestamp,
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
