//! What a run tells about itself: `--metrics` summaries, and the progress bar when stderr
//! is a terminal (run on a pseudo-terminal made by python3's `pty`).

use std::process::Command;

use super::{cluster_namesrv, create_topic, ok_on};
use crate::common::{rocketwire_on, unique};

/// The first number after `key` in `text` (e.g. `p50 ` in `p50 0.21 ms`).
fn number_after(text: &str, key: &str) -> f64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {text}"));
    text[at + key.len()..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {text}"))
}

/// The line of `text` starting with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {text}"))
}

/// Checks a `p50 .. ms, p99 .. ms, p999 .. ms, max .. ms` line: ordered, not all zero.
fn percentiles_in_order(line: &str) {
    let [p50, p99, p999, max] = ["p50 ", "p99 ", "p999 ", "max "].map(|k| number_after(line, k));
    assert!(
        p50 <= p99 && p99 <= p999 && p999 <= max && max > 0.0,
        "{line}"
    );
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn metrics_summarize_produce_and_consume() {
    let namesrv = cluster_namesrv();
    for runtime in ["tokio", "blocking"] {
        let topic = unique(&format!("rw_cli_metrics_{runtime}"));
        create_topic(&namesrv, &topic);
        // JSON: every figure, with bytes from the sizes sent.
        let out = ok_on(
            runtime,
            &namesrv,
            &[
                "produce",
                "-t",
                &topic,
                "--count",
                "40",
                "--size",
                "100",
                "--metrics",
                "--json",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
        let m = &v["metrics"];
        assert_eq!(m["stored"]["messages"], 40, "{v}");
        assert_eq!(m["stored"]["bytes"], 4000, "{v}");
        assert!(m["stored"]["bytes_per_sec"].as_f64().unwrap() > 0.0, "{v}");
        let l = &m["send_latency"];
        assert_eq!(l["count"], 40, "{v}");
        let at = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
        assert!(at("p50_ms") > 0.0 && at("p50_ms") <= at("p99_ms"), "{v}");
        assert!(
            at("p99_ms") <= at("p999_ms") && at("p999_ms") <= at("max_ms"),
            "{v}"
        );
        // Text: the usual line, then the metrics.
        let out = ok_on(
            runtime,
            &namesrv,
            &[
                "produce",
                "-t",
                &topic,
                "--count",
                "10",
                "--size",
                "1024",
                "--metrics",
            ],
        );
        assert!(out.starts_with("sent 10, failed 0 in "), "{out}");
        assert!(
            line(&out, "metrics: stored ").starts_with("metrics: stored 10 messages, 0.01 MiB in "),
            "{out}"
        );
        percentiles_in_order(line(&out, "metrics: send latency "));
        // Without --metrics: no metrics.
        let plain = ok_on(
            runtime,
            &namesrv,
            &["produce", "-t", &topic, "--count", "1", "--size", "8"],
        );
        assert!(!plain.contains("metrics:"), "{plain}");

        // `consume --quiet --metrics` and `extra`: its stderr, once it succeeded.
        let group = unique(&format!("rw_cli_metrics_g_{runtime}"));
        let consume = |extra: &[&str]| {
            let mut args = vec![
                "consume",
                "-t",
                &topic,
                "-g",
                &group,
                "--quiet",
                "--metrics",
            ];
            args.extend_from_slice(extra);
            let out = rocketwire_on(runtime, &namesrv, &args);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{runtime}: {stderr}");
            assert!(out.stdout.is_empty(), "--quiet prints no message");
            stderr
        };
        // The push consumer: counts, consume and end-to-end latency.
        let stderr = consume(&["--count", "51", "--from", "first"]);
        assert!(
            line(&stderr, "metrics: consumed ").starts_with("metrics: consumed 51 messages, "),
            "{stderr}"
        );
        assert!(number_after(&stderr, "MiB in ") > 0.0, "{stderr}");
        percentiles_in_order(line(&stderr, "metrics: consume latency "));
        percentiles_in_order(line(&stderr, "metrics: end-to-end latency "));

        // The kcat-style reader: what it read, end to end.
        let stderr = consume(&["--offset", "beginning", "--exit"]);
        assert!(stderr.contains("rocketwire: read 51 messages"), "{stderr}");
        assert!(
            line(&stderr, "metrics: read ").starts_with("metrics: read 51 messages, "),
            "{stderr}"
        );
        percentiles_in_order(line(&stderr, "metrics: end-to-end latency "));
    }
}

/// Runs the binary with stdin, stdout and stderr on a new pseudo-terminal of 24x120;
/// returns its exit success and everything it wrote there.
fn on_a_terminal(namesrv: &str, args: &[&str]) -> (bool, String) {
    const SCRIPT: &str = r#"
import fcntl, os, pty, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    os.environ["TERM"] = "xterm"
    os.execv(sys.argv[1], sys.argv[1:])
out = bytearray()
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(bytes(out))
sys.exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1)
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT, env!("CARGO_BIN_EXE_rocketwire")])
        .args(["--runtime", "tokio", "--namesrv", namesrv])
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("python3 runs");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let shown = shown + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), shown)
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn a_terminal_shows_a_progress_bar_with_the_rate() {
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_progress");
    create_topic(&namesrv, &topic);
    let (ok, shown) = on_a_terminal(
        &namesrv,
        &["produce", "-t", &topic, "--count", "300", "--size", "16"],
    );
    assert!(ok, "{shown}");
    // The last state drawn stays: the whole count, the bar and the run's mean rate.
    assert!(shown.contains("300/300 msgs [="), "{shown}");
    assert!(number_after(&shown, "300/300 msgs [==============================] ") > 0.0);
    assert!(shown.contains(" msgs/s, "), "{shown}");
    assert!(
        shown.contains("sent 300, failed 0 in "),
        "the summary follows: {shown}"
    );

    let group = unique("rw_cli_progress_g");
    let (ok, shown) = on_a_terminal(
        &namesrv,
        &[
            "consume", "-t", &topic, "-g", &group, "--count", "300", "--from", "first", "--quiet",
        ],
    );
    assert!(ok, "{shown}");
    assert!(shown.contains("300/300 messages [="), "{shown}");
    assert!(shown.contains(" messages/s, "), "{shown}");

    // Not a terminal: no bar, nothing but the summary on stderr.
    let out = rocketwire_on(
        "tokio",
        &namesrv,
        &["produce", "-t", &topic, "--count", "10", "--size", "16"],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("msgs/s") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
}
