//! Results of one case: the line a case process prints, its parsing, and the tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Start of the one stdout line a case process reports its result on.
pub(crate) const RESULT_PREFIX: &str = "rocketwire-bench-result";

/// Figures of one producer case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProduceResult {
    /// Adapter name.
    pub(crate) adapter: String,
    /// Sends in flight at once.
    pub(crate) in_flight: u64,
    /// Whether the producer auto-batched its single sends.
    pub(crate) auto_batch: bool,
    /// Messages sent in the timed part.
    pub(crate) messages: u64,
    /// Sends that failed or were not `SEND_OK`.
    pub(crate) errors: u64,
    /// Wall time of the timed part.
    pub(crate) wall: Duration,
    /// Process CPU time (user + system) of the timed part.
    pub(crate) cpu: Duration,
    /// Median send latency, µs.
    pub(crate) p50_us: u64,
    /// 99th percentile send latency, µs.
    pub(crate) p99_us: u64,
    /// 99.9th percentile send latency, µs.
    pub(crate) p999_us: u64,
    /// Peak RSS of the case process, KiB.
    pub(crate) peak_rss_kib: u64,
}

/// Figures of one idle case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdleResult {
    /// Adapter name.
    pub(crate) adapter: String,
    /// How long the wake-ups were counted.
    pub(crate) span: Duration,
    /// Voluntary context switches of the process in that time.
    pub(crate) switches: u64,
    /// Whether a message arrived (the topic should stay empty).
    pub(crate) delivered: bool,
    /// Peak RSS of the case process, KiB.
    pub(crate) peak_rss_kib: u64,
}

impl IdleResult {
    /// Wake-ups per second.
    pub(crate) fn per_sec(&self) -> f64 {
        per_sec(self.switches, self.span)
    }

    /// The result line.
    pub(crate) fn to_line(&self) -> String {
        line(
            "idle",
            &[
                ("adapter", self.adapter.clone()),
                ("span_us", us(self.span)),
                ("switches", self.switches.to_string()),
                ("delivered", self.delivered.to_string()),
                ("peak_rss_kib", self.peak_rss_kib.to_string()),
            ],
        )
    }

    /// Parses [`IdleResult::to_line`]'s fields.
    pub(crate) fn from_fields(f: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            adapter: get(f, "adapter")?,
            span: micros(f, "span_us")?,
            switches: get(f, "switches")?,
            delivered: get(f, "delivered")?,
            peak_rss_kib: get(f, "peak_rss_kib")?,
        })
    }
}

/// The idle table.
pub(crate) fn idle_table(rows: &[Result<IdleResult, (String, String)>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:>8} {:>9} {:>10} {:>9}",
        "adapter", "seconds", "wake-ups", "per second", "RSS MiB"
    );
    for row in rows {
        match row {
            Ok(r) => {
                let _ = writeln!(
                    s,
                    "{:<10} {:>8.0} {:>9} {:>10.2} {:>9.1}{}",
                    r.adapter,
                    r.span.as_secs_f64(),
                    r.switches,
                    r.per_sec(),
                    r.peak_rss_kib as f64 / 1024.0,
                    if r.delivered {
                        "  (a message arrived: not idle)"
                    } else {
                        ""
                    }
                );
            }
            Err((adapter, e)) => {
                let _ = writeln!(s, "{adapter:<10} FAILED: {e}");
            }
        }
    }
    s
}

/// Figures of one drain case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DrainResult {
    /// Adapter name.
    pub(crate) adapter: String,
    /// How the messages were consumed (`push`).
    pub(crate) method: String,
    /// Messages consumed.
    pub(crate) messages: u64,
    /// Consumer start to the first message.
    pub(crate) first: Duration,
    /// Consumer start to the last message.
    pub(crate) wall: Duration,
    /// Process CPU time (user + system) from consumer start to the last message.
    pub(crate) cpu: Duration,
    /// Peak RSS of the case process, KiB.
    pub(crate) peak_rss_kib: u64,
}

/// Figures of one born-to-consume latency case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LatencyResult {
    /// Adapter name.
    pub(crate) adapter: String,
    /// Messages sent (all of them arrived).
    pub(crate) messages: u64,
    /// Messages sent per second.
    pub(crate) rate: u64,
    /// Distinct messages that arrived.
    pub(crate) received: u64,
    /// Arrivals of a message already seen (not in the percentiles).
    pub(crate) duplicates: u64,
    /// Median send-to-handler latency, µs.
    pub(crate) p50_us: u64,
    /// 99th percentile send-to-handler latency, µs.
    pub(crate) p99_us: u64,
    /// 99.9th percentile send-to-handler latency, µs.
    pub(crate) p999_us: u64,
    /// Largest send-to-handler latency, µs.
    pub(crate) max_us: u64,
    /// Peak RSS of the case process, KiB.
    pub(crate) peak_rss_kib: u64,
}

impl LatencyResult {
    /// The result line.
    pub(crate) fn to_line(&self) -> String {
        line(
            "latency",
            &[
                ("adapter", self.adapter.clone()),
                ("messages", self.messages.to_string()),
                ("rate", self.rate.to_string()),
                ("received", self.received.to_string()),
                ("duplicates", self.duplicates.to_string()),
                ("p50_us", self.p50_us.to_string()),
                ("p99_us", self.p99_us.to_string()),
                ("p999_us", self.p999_us.to_string()),
                ("max_us", self.max_us.to_string()),
                ("peak_rss_kib", self.peak_rss_kib.to_string()),
            ],
        )
    }

    /// Parses [`LatencyResult::to_line`]'s fields.
    pub(crate) fn from_fields(f: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            adapter: get(f, "adapter")?,
            messages: get(f, "messages")?,
            rate: get(f, "rate")?,
            received: get(f, "received")?,
            duplicates: get(f, "duplicates")?,
            p50_us: get(f, "p50_us")?,
            p99_us: get(f, "p99_us")?,
            p999_us: get(f, "p999_us")?,
            max_us: get(f, "max_us")?,
            peak_rss_kib: get(f, "peak_rss_kib")?,
        })
    }
}

/// The born-to-consume latency table.
pub(crate) fn latency_table(rows: &[Result<LatencyResult, (String, String)>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>5} {:>9}",
        "adapter",
        "messages",
        "msgs/s",
        "received",
        "p50 µs",
        "p99 µs",
        "p999 µs",
        "max µs",
        "dups",
        "RSS MiB"
    );
    for row in rows {
        match row {
            Ok(r) => {
                let _ = writeln!(
                    s,
                    "{:<10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>5} {:>9.1}",
                    r.adapter,
                    r.messages,
                    r.rate,
                    r.received,
                    r.p50_us,
                    r.p99_us,
                    r.p999_us,
                    r.max_us,
                    r.duplicates,
                    r.peak_rss_kib as f64 / 1024.0
                );
            }
            Err((adapter, e)) => {
                let _ = writeln!(s, "{adapter:<10} FAILED: {e}");
            }
        }
    }
    s
}

/// Rate of `n` events over `d`.
fn per_sec(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// The median run of one producer case measured in several rounds (by throughput; the lower
/// middle one of an even count), or the first failure if a run failed.
pub(crate) fn median_run(
    runs: Vec<Result<ProduceResult, String>>,
) -> Result<ProduceResult, String> {
    let mut ok = runs.into_iter().collect::<Result<Vec<_>, String>>()?;
    ok.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
    let middle = ok.len().saturating_sub(1) / 2;
    ok.into_iter()
        .nth(middle)
        .ok_or_else(|| "no run of this case".to_owned())
}

/// CPU microseconds per event.
fn cpu_per(cpu: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        cpu.as_secs_f64() * 1e6 / n as f64
    }
}

fn line(kind: &str, fields: &[(&str, String)]) -> String {
    let mut s = format!("{RESULT_PREFIX} kind={kind}");
    for (k, v) in fields {
        let _ = write!(s, " {k}={v}");
    }
    s
}

/// Finds the result line in a case's stdout and splits it into fields.
pub(crate) fn parse_fields(stdout: &str) -> Option<BTreeMap<String, String>> {
    let rest = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))?;
    Some(
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

fn get<T: std::str::FromStr>(f: &BTreeMap<String, String>, key: &str) -> Result<T, String> {
    f.get(key)
        .ok_or_else(|| format!("result lacks `{key}`"))?
        .parse()
        .map_err(|_| format!("bad `{key}` in result"))
}

fn micros(f: &BTreeMap<String, String>, key: &str) -> Result<Duration, String> {
    get(f, key).map(Duration::from_micros)
}

fn us(d: Duration) -> String {
    d.as_micros().to_string()
}

impl ProduceResult {
    /// Messages per second.
    pub(crate) fn per_sec(&self) -> f64 {
        per_sec(self.messages, self.wall)
    }

    /// The result line.
    pub(crate) fn to_line(&self) -> String {
        line(
            "produce",
            &[
                ("adapter", self.adapter.clone()),
                ("in_flight", self.in_flight.to_string()),
                ("auto_batch", self.auto_batch.to_string()),
                ("messages", self.messages.to_string()),
                ("errors", self.errors.to_string()),
                ("wall_us", us(self.wall)),
                ("cpu_us", us(self.cpu)),
                ("p50_us", self.p50_us.to_string()),
                ("p99_us", self.p99_us.to_string()),
                ("p999_us", self.p999_us.to_string()),
                ("peak_rss_kib", self.peak_rss_kib.to_string()),
            ],
        )
    }

    /// Parses [`ProduceResult::to_line`]'s fields.
    pub(crate) fn from_fields(f: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            adapter: get(f, "adapter")?,
            in_flight: get(f, "in_flight")?,
            auto_batch: get(f, "auto_batch")?,
            messages: get(f, "messages")?,
            errors: get(f, "errors")?,
            wall: micros(f, "wall_us")?,
            cpu: micros(f, "cpu_us")?,
            p50_us: get(f, "p50_us")?,
            p99_us: get(f, "p99_us")?,
            p999_us: get(f, "p999_us")?,
            peak_rss_kib: get(f, "peak_rss_kib")?,
        })
    }
}

impl DrainResult {
    /// The result line.
    pub(crate) fn to_line(&self) -> String {
        line(
            "drain",
            &[
                ("adapter", self.adapter.clone()),
                ("method", self.method.clone()),
                ("messages", self.messages.to_string()),
                ("first_us", us(self.first)),
                ("wall_us", us(self.wall)),
                ("cpu_us", us(self.cpu)),
                ("peak_rss_kib", self.peak_rss_kib.to_string()),
            ],
        )
    }

    /// Parses [`DrainResult::to_line`]'s fields.
    pub(crate) fn from_fields(f: &BTreeMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            adapter: get(f, "adapter")?,
            method: get(f, "method")?,
            messages: get(f, "messages")?,
            first: micros(f, "first_us")?,
            wall: micros(f, "wall_us")?,
            cpu: micros(f, "cpu_us")?,
            peak_rss_kib: get(f, "peak_rss_kib")?,
        })
    }
}

/// A result line's fields as a JSON object: numbers and booleans typed, the rest text.
pub(crate) fn line_json(line: &str) -> serde_json::Value {
    let fields = parse_fields(line).unwrap_or_default();
    serde_json::Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| {
                let value = match (v.parse::<u64>(), v.parse::<bool>()) {
                    (Ok(n), _) => n.into(),
                    (_, Ok(b)) => b.into(),
                    _ => v.into(),
                };
                (k, value)
            })
            .collect(),
    )
}

/// Throughput of the floor row (adapter `wire`) a row is measured against, if there is one:
/// the sender floor at the same in-flight count for a single-send producer row, the puller
/// floor for a drain row.
fn floor_rate<T, E>(
    rows: &[Result<T, E>],
    is_floor: impl Fn(&T) -> bool,
    rate: impl Fn(&T) -> f64,
) -> Option<f64> {
    rows.iter()
        .filter_map(|r| r.as_ref().ok())
        .find(|r| is_floor(r))
        .map(rate)
        .filter(|r| *r > 0.0)
}

/// The JSON report of a run: the machine, then every case's figures (a failed case as its
/// error). Each rocketwire producer (single sends) and drain row also carries `floor_share`,
/// its throughput as a fraction of its wire floor's.
pub(crate) fn json_report(
    machine: serde_json::Value,
    produce: &[Result<ProduceResult, (String, u64, String)>],
    drain: &[Result<DrainResult, (String, String)>],
    idle: &[Result<IdleResult, (String, String)>],
    latency: &[Result<LatencyResult, (String, String)>],
) -> serde_json::Value {
    let err = |adapter: &str, e: &str| serde_json::json!({ "adapter": adapter, "error": e });
    let with_share = |mut v: serde_json::Value, rate: f64, floor: Option<f64>| {
        if let (Some(floor), Some(o)) = (floor, v.as_object_mut()) {
            let share = (rate / floor * 1000.0).round() / 1000.0;
            o.insert("floor_share".to_owned(), share.into());
        }
        v
    };
    serde_json::json!({
        "machine": machine,
        "produce": produce.iter().map(|r| match r {
            Ok(r) => {
                let floor = (r.adapter != "wire" && !r.auto_batch)
                    .then(|| floor_rate(
                        produce,
                        |f: &ProduceResult| f.adapter == "wire" && f.in_flight == r.in_flight,
                        |f| per_sec(f.messages, f.wall),
                    ))
                    .flatten();
                with_share(line_json(&r.to_line()), per_sec(r.messages, r.wall), floor)
            }
            Err((a, _, e)) => err(a, e),
        }).collect::<Vec<_>>(),
        "drain": drain.iter().map(|r| match r {
            Ok(r) => {
                let floor = (r.adapter != "wire")
                    .then(|| floor_rate(
                        drain,
                        |f: &DrainResult| f.adapter == "wire",
                        |f| per_sec(f.messages, f.wall),
                    ))
                    .flatten();
                with_share(line_json(&r.to_line()), per_sec(r.messages, r.wall), floor)
            }
            Err((a, e)) => err(a, e),
        }).collect::<Vec<_>>(),
        "idle": idle.iter().map(|r| match r {
            Ok(r) => line_json(&r.to_line()),
            Err((a, e)) => err(a, e),
        }).collect::<Vec<_>>(),
        "latency": latency.iter().map(|r| match r {
            Ok(r) => line_json(&r.to_line()),
            Err((a, e)) => err(a, e),
        }).collect::<Vec<_>>(),
    })
}

/// The producer table.
pub(crate) fn produce_table(rows: &[Result<ProduceResult, (String, u64, String)>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:>9} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>11} {:>9} {:>7}",
        "adapter",
        "in-flight",
        "batch",
        "messages",
        "msgs/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "CPU µs/msg",
        "RSS MiB",
        "errors"
    );
    for row in rows {
        match row {
            Ok(r) => {
                let _ = writeln!(
                    s,
                    "{:<10} {:>9} {:>5} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>11.1} {:>9.1} {:>7}",
                    r.adapter,
                    r.in_flight,
                    if r.auto_batch { "auto" } else { "-" },
                    r.messages,
                    per_sec(r.messages, r.wall),
                    r.p50_us as f64 / 1000.0,
                    r.p99_us as f64 / 1000.0,
                    r.p999_us as f64 / 1000.0,
                    cpu_per(r.cpu, r.messages),
                    r.peak_rss_kib as f64 / 1024.0,
                    r.errors
                );
            }
            Err((adapter, in_flight, e)) => {
                let _ = writeln!(s, "{adapter:<10} {in_flight:>9} FAILED: {e}");
            }
        }
    }
    s
}

/// Each rocketwire single-send figure as a share of the wire floor's throughput at the same
/// in-flight count (the floor is the row of adapter `wire`; auto-batching is compared to
/// the single sends instead, by [`auto_batch_ratios`]).
pub(crate) fn floor_ratios(rows: &[Result<ProduceResult, (String, u64, String)>]) -> String {
    let mut s = String::new();
    let ok: Vec<&ProduceResult> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    for r in ok.iter().filter(|r| r.adapter != "wire" && !r.auto_batch) {
        let Some(floor) = ok
            .iter()
            .find(|f| f.adapter == "wire" && f.in_flight == r.in_flight)
        else {
            continue;
        };
        let floor_rate = per_sec(floor.messages, floor.wall);
        if floor_rate > 0.0 {
            let _ = writeln!(
                s,
                "{}, {} in flight: {:.0}% of the wire floor ({:.0} vs {floor_rate:.0} msgs/s)",
                r.adapter,
                r.in_flight,
                100.0 * per_sec(r.messages, r.wall) / floor_rate,
                per_sec(r.messages, r.wall),
            );
        }
    }
    s
}

/// For each adapter and in-flight count measured both ways: how many times the single
/// sends' throughput auto-batching reached.
pub(crate) fn auto_batch_ratios(rows: &[Result<ProduceResult, (String, u64, String)>]) -> String {
    let mut s = String::new();
    let ok: Vec<&ProduceResult> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    for auto in ok.iter().filter(|r| r.auto_batch) {
        let single = ok
            .iter()
            .find(|r| !r.auto_batch && r.adapter == auto.adapter && r.in_flight == auto.in_flight);
        if let Some(single) = single {
            let (a, b) = (
                per_sec(auto.messages, auto.wall),
                per_sec(single.messages, single.wall),
            );
            if b > 0.0 {
                let _ = writeln!(
                    s,
                    "auto-batch, {} in flight, {}: {:.1}x the single sends ({a:.0} vs {b:.0} msgs/s)",
                    auto.in_flight,
                    auto.adapter,
                    a / b
                );
            }
        }
    }
    s
}

/// The drain table.
pub(crate) fn drain_table(rows: &[Result<DrainResult, (String, String)>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<6} {:>9} {:>14} {:>9} {:>10} {:>11} {:>13}",
        "adapter",
        "method",
        "messages",
        "first msg ms",
        "total s",
        "msgs/s",
        "CPU µs/msg",
        "peak RSS MiB"
    );
    for row in rows {
        match row {
            Ok(r) => {
                let _ = writeln!(
                    s,
                    "{:<10} {:<6} {:>9} {:>14.0} {:>9.2} {:>10.0} {:>11.1} {:>13.1}",
                    r.adapter,
                    r.method,
                    r.messages,
                    r.first.as_secs_f64() * 1000.0,
                    r.wall.as_secs_f64(),
                    per_sec(r.messages, r.wall),
                    cpu_per(r.cpu, r.messages),
                    r.peak_rss_kib as f64 / 1024.0
                );
            }
            Err((adapter, e)) => {
                let _ = writeln!(s, "{adapter:<10} FAILED: {e}");
            }
        }
    }
    s
}

/// Each rocketwire drain figure as a share of the puller floor's throughput (the row of
/// adapter `wire`).
pub(crate) fn drain_floor_ratios(rows: &[Result<DrainResult, (String, String)>]) -> String {
    let mut s = String::new();
    let Some(floor) = floor_rate(
        rows,
        |f: &DrainResult| f.adapter == "wire",
        |f| per_sec(f.messages, f.wall),
    ) else {
        return s;
    };
    for r in rows.iter().filter_map(|r| r.as_ref().ok()) {
        if r.adapter != "wire" {
            let rate = per_sec(r.messages, r.wall);
            let _ = writeln!(
                s,
                "{} {}: {:.0}% of the pull floor ({rate:.0} vs {floor:.0} msgs/s)",
                r.adapter,
                r.method,
                100.0 * rate / floor,
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce() -> ProduceResult {
        ProduceResult {
            adapter: "tokio".into(),
            in_flight: 64,
            auto_batch: false,
            messages: 20_000,
            errors: 1,
            wall: Duration::from_secs(4),
            cpu: Duration::from_secs(2),
            p50_us: 4_500,
            p99_us: 12_250,
            p999_us: 20_000,
            peak_rss_kib: 10_240,
        }
    }

    #[test]
    fn the_median_run_is_by_throughput_and_a_failure_wins() {
        let run = |ms: u64| ProduceResult {
            wall: Duration::from_millis(ms),
            ..produce()
        };
        // Fastest (shortest wall) last in throughput order: 300, 200, 100 ms.
        let median = median_run(vec![Ok(run(100)), Ok(run(300)), Ok(run(200))]);
        assert_eq!(median, Ok(run(200)));
        let median = median_run(vec![Ok(run(100)), Ok(run(300))]);
        assert_eq!(median, Ok(run(300)), "the lower middle of two");
        let failed = median_run(vec![Ok(run(100)), Err("boom".into()), Ok(run(200))]);
        assert_eq!(failed, Err("boom".into()));
        assert!(median_run(Vec::new()).is_err());
    }

    #[test]
    fn produce_line_round_trips_among_other_output() {
        let r = produce();
        let stdout = format!("warming up\n{}\n", r.to_line());
        let fields = parse_fields(&stdout).unwrap();
        assert_eq!(fields.get("kind").map(String::as_str), Some("produce"));
        assert_eq!(ProduceResult::from_fields(&fields), Ok(r));
    }

    #[test]
    fn drain_line_round_trips() {
        let r = drain();
        let fields = parse_fields(&r.to_line()).unwrap();
        assert_eq!(DrainResult::from_fields(&fields), Ok(r));
    }

    #[test]
    fn missing_or_bad_fields_are_errors() {
        assert!(parse_fields("no result here\n").is_none());
        let mut fields = parse_fields(&produce().to_line()).unwrap();
        fields.insert("messages".into(), "many".into());
        assert!(ProduceResult::from_fields(&fields).is_err());
        fields.remove("messages");
        assert!(ProduceResult::from_fields(&fields).is_err());
    }

    #[test]
    fn the_json_report_types_the_figures() {
        let report = json_report(
            serde_json::json!({ "cores": 2 }),
            &[Ok(produce()), Err(("smol".into(), 1, "boom".into()))],
            &[],
            &[],
            &[Ok(latency())],
        );
        let first = &report["produce"][0];
        assert_eq!(first["adapter"], "tokio");
        assert_eq!(first["p999_us"], 20_000);
        assert_eq!(first["auto_batch"], false);
        assert!(first.get("floor_share").is_none(), "no floor measured");
        assert_eq!(report["produce"][1]["error"], "boom");
        assert_eq!(report["machine"]["cores"], 2);
        assert_eq!(report["drain"], serde_json::json!([]));
        assert_eq!(report["latency"][0]["max_us"], 48_000);
        assert_eq!(report["latency"][0]["received"], 2_000);
    }

    #[test]
    fn the_json_report_gives_each_figure_its_floor_share() {
        let wire = ProduceResult {
            adapter: "wire".into(),
            wall: Duration::from_millis(3_200),
            ..produce()
        };
        let auto = ProduceResult {
            auto_batch: true,
            ..produce()
        };
        let floor = DrainResult {
            adapter: "wire".into(),
            method: "pull".into(),
            wall: Duration::from_millis(2_000),
            ..drain()
        };
        let report = json_report(
            serde_json::json!({}),
            &[Ok(wire), Ok(produce()), Ok(auto)],
            &[Ok(floor), Ok(drain()), Err(("smol".into(), "boom".into()))],
            &[],
            &[],
        );
        assert!(report["produce"][0].get("floor_share").is_none());
        assert_eq!(report["produce"][1]["floor_share"], 0.8);
        assert!(
            report["produce"][2].get("floor_share").is_none(),
            "auto-batch"
        );
        assert!(report["drain"][0].get("floor_share").is_none());
        assert_eq!(report["drain"][1]["floor_share"], 0.235);
        assert_eq!(report["drain"][2]["error"], "boom");
    }

    fn drain() -> DrainResult {
        DrainResult {
            adapter: "blocking".into(),
            method: "push".into(),
            messages: 100_000,
            first: Duration::from_millis(120),
            wall: Duration::from_millis(8_500),
            cpu: Duration::from_millis(4_321),
            peak_rss_kib: 30_000,
        }
    }

    #[test]
    fn drain_figures_are_shares_of_the_pull_floor() {
        let floor = DrainResult {
            adapter: "wire".into(),
            method: "pull".into(),
            wall: Duration::from_millis(2_000),
            ..drain()
        };
        let back = DrainResult::from_fields(&parse_fields(&floor.to_line()).unwrap());
        assert_eq!(back.as_ref(), Ok(&floor));
        let shares =
            drain_floor_ratios(&[Ok(floor), Ok(drain()), Err(("tokio".into(), "boom".into()))]);
        assert_eq!(
            shares.trim(),
            "blocking push: 24% of the pull floor (11765 vs 50000 msgs/s)"
        );
        assert!(drain_floor_ratios(&[Ok(drain())]).is_empty(), "no floor");
        let failed_floor = drain_floor_ratios(&[Err(("wire".into(), "boom".into())), Ok(drain())]);
        assert!(failed_floor.is_empty());
    }

    fn latency() -> LatencyResult {
        LatencyResult {
            adapter: "async-std".into(),
            messages: 2_000,
            rate: 500,
            received: 2_000,
            duplicates: 1,
            p50_us: 2_100,
            p99_us: 9_870,
            p999_us: 31_000,
            max_us: 48_000,
            peak_rss_kib: 18_432,
        }
    }

    #[test]
    fn latency_line_round_trips_and_shows_microseconds() {
        let r = latency();
        let stdout = format!("probe arrived\n{}\n", r.to_line());
        let fields = parse_fields(&stdout).unwrap();
        assert_eq!(fields.get("kind").map(String::as_str), Some("latency"));
        assert_eq!(LatencyResult::from_fields(&fields), Ok(r.clone()));
        let mut bad = fields.clone();
        bad.remove("max_us");
        assert!(LatencyResult::from_fields(&bad).is_err());

        let table = latency_table(&[Ok(r), Err(("smol".into(), "consumed 3 of 5".into()))]);
        let cols: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "async-std",
                "2000",
                "500",
                "2000",
                "2100",
                "9870",
                "31000",
                "48000",
                "1",
                "18.0"
            ]
        );
        assert!(table.contains("smol") && table.contains("FAILED: consumed 3 of 5"));
    }

    #[test]
    fn idle_line_round_trips_and_shows_wake_ups_per_second() {
        let r = IdleResult {
            adapter: "smol".into(),
            span: Duration::from_secs(30),
            switches: 21,
            delivered: false,
            peak_rss_kib: 4_096,
        };
        let back = IdleResult::from_fields(&parse_fields(&r.to_line()).unwrap()).unwrap();
        assert_eq!(back, r);
        let table = idle_table(&[Ok(r), Err(("tokio".into(), "boom".into()))]);
        let cols: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(cols, ["smol", "30", "21", "0.70", "4.0"]);
        assert!(table.contains("tokio") && table.contains("FAILED: boom"));
    }

    #[test]
    fn tables_show_rates_and_cpu_per_message() {
        let table = produce_table(&[Ok(produce()), Err(("smol".into(), 1, "boom".into()))]);
        // 20,000 in 4 s; 2 s CPU / 20,000 = 100 µs; p50 4.5 ms, p99 12.25 ms, 10 MiB.
        let row = table.lines().nth(1).unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols,
            ["tokio", "64", "-", "20000", "5000", "4.50", "12.25", "20.00", "100.0", "10.0", "1"]
        );
        assert!(table.contains("smol") && table.contains("FAILED: boom"));
        // Auto-batching at the same in-flight count: its ratio to the single sends.
        let auto = ProduceResult {
            auto_batch: true,
            wall: Duration::from_millis(250),
            ..produce()
        };
        let ratios = auto_batch_ratios(&[Ok(produce()), Ok(auto)]);
        assert_eq!(
            ratios.trim(),
            "auto-batch, 64 in flight, tokio: 16.0x the single sends (80000 vs 5000 msgs/s)"
        );
        assert!(auto_batch_ratios(&[Ok(produce())]).is_empty());
        // Against the wire floor at the same in-flight count.
        let floor = ProduceResult {
            adapter: "wire".into(),
            wall: Duration::from_millis(3_200),
            ..produce()
        };
        let auto = ProduceResult {
            auto_batch: true,
            ..produce()
        };
        let shares = floor_ratios(&[Ok(floor), Ok(produce()), Ok(auto)]);
        assert_eq!(
            shares.trim(),
            "tokio, 64 in flight: 80% of the wire floor (5000 vs 6250 msgs/s)"
        );

        let drain = drain_table(&[Ok(DrainResult {
            adapter: "smol".into(),
            method: "push".into(),
            messages: 1_000,
            first: Duration::from_millis(50),
            wall: Duration::from_millis(500),
            cpu: Duration::from_millis(100),
            peak_rss_kib: 2_048,
        })]);
        let cols: Vec<&str> = drain.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cols,
            ["smol", "push", "1000", "50", "0.50", "2000", "100.0", "2.0"]
        );
    }
}
