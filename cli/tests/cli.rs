//! The `rocketwire` binary end to end: errors without a cluster, and (ignored unless a cluster
//! runs) `route` and `produce` against a real one, on every runtime.

#[path = "cli/batching.rs"]
mod batching;
mod common;
#[path = "cli/observe.rs"]
mod observe;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{retry_until_success, rocketwire_on, unique};

/// A port nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

#[test]
fn bad_namesrv_is_one_line_and_a_failure() {
    let namesrv = closed_port();
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        let started = Instant::now();
        let out = rocketwire_on(runtime, &namesrv, &["route", "-t", "T"]);
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(
            !out.status.success(),
            "{runtime}: exit status {:?}",
            out.status
        );
        assert_ne!(out.status.code(), Some(101), "{runtime}: not a panic");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{runtime}: one line: {stderr:?}");
        assert!(stderr.starts_with("rocketwire: error: "), "{stderr:?}");
        assert!(stderr.contains(&namesrv), "names the namesrv: {stderr:?}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
        assert!(out.stdout.is_empty());
    }
}

fn cluster_namesrv() -> String {
    std::env::var("ROCKETWIRE_NAMESRV").unwrap_or_else(|_| {
        panic!("ROCKETWIRE_NAMESRV is not set: start a cluster with `cargo xtask cluster up`")
    })
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn produce_then_route_on_every_runtime() {
    let namesrv = cluster_namesrv();
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        let topic = unique(&format!("rw_cli_{}", runtime.replace('-', "_")));
        let out = rocketwire_on(
            runtime,
            &namesrv,
            &[
                "produce", "-t", &topic, "--count", "5", "--size", "100", "--tag", "cli", "--json",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{runtime}: {stderr}");
        let summary: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("JSON summary on stdout");
        assert_eq!(summary["sent"], 5, "{runtime}: {summary}");
        assert_eq!(summary["failed"], 0);
        assert!(summary["p50_ms"].as_f64().expect("p50") > 0.0);
        assert!(summary["p99_ms"].as_f64() >= summary["p50_ms"].as_f64());

        let route = retry_until_success(
            &[
                "--runtime",
                runtime,
                "--namesrv",
                &namesrv,
                "route",
                "-t",
                &topic,
                "--json",
            ],
            &format!("{runtime}: no route for {topic}"),
        );
        let route: serde_json::Value = serde_json::from_slice(&route.stdout).expect("route JSON");
        assert_eq!(route["queueDatas"][0]["writeQueueNums"], 4, "{route}");
        assert!(
            route["brokerDatas"][0]["brokerAddrs"]["0"].is_string(),
            "{route}"
        );

        let text = rocketwire_on(runtime, &namesrv, &["route", "-t", &topic]);
        assert!(text.status.success());
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.starts_with(&format!("topic {topic}\n")), "{text}");
        assert!(text.contains("write 4"), "{text}");
    }
}

/// `consume --sql`: the expression goes to the broker as SQL92 (the test broker evaluates
/// it without message properties, so the expression does not use them; see the cluster
/// suite's filter scenarios): one every message passes reads them all.
#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn consume_with_a_sql92_expression() {
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_sql");
    let group = unique("rw_cli_group");
    let out = rocketwire_on(
        "tokio",
        &namesrv,
        &["produce", "-t", &topic, "--count", "4", "--size", "16"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    retry_until_success(
        &["--namesrv", &namesrv, "route", "-t", &topic],
        &format!("no route for {topic}"),
    );
    let out = rocketwire_on(
        "tokio",
        &namesrv,
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
            "--count",
            "4",
            "--from",
            "first",
            "--json",
            "--sql",
            "--expression",
            "TRUE OR a IS NULL",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        4,
        "{stderr}"
    );
    let bad = rocketwire_on(
        "tokio",
        &namesrv,
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
            "--sql",
            "--expression",
            " ",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("bad expression"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn produce_then_consume_json_on_every_runtime() {
    let namesrv = cluster_namesrv();
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        let topic = unique(&format!("rw_cli_consume_{}", runtime.replace('-', "_")));
        let group = unique("rw_cli_group");
        let out = rocketwire_on(
            runtime,
            &namesrv,
            &[
                "produce", "-t", &topic, "--count", "5", "--size", "16", "--tag", "cli",
            ],
        );
        assert!(
            out.status.success(),
            "{runtime}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Wait for the auto-created topic's route, so the consumer finds it at once.
        retry_until_success(
            &["--namesrv", &namesrv, "route", "-t", &topic],
            &format!("{runtime}: no route for {topic}"),
        );
        let started = Instant::now();
        let out = rocketwire_on(
            runtime,
            &namesrv,
            &[
                "consume", "-t", &topic, "-g", &group, "--count", "5", "--from", "first", "--json",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{runtime}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(40), "{runtime}");
        let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(messages.len(), 5, "{runtime}: {messages:?}");
        let mut offsets = std::collections::BTreeSet::new();
        for m in &messages {
            assert_eq!(m["topic"], topic.as_str(), "{m}");
            assert_eq!(m["tags"], "cli", "{m}");
            assert_eq!(m["reconsumeTimes"], 0);
            assert!(m["msgId"].as_str().is_some_and(|id| id.len() == 32), "{m}");
            assert!(m["bornTimestamp"].as_i64().is_some_and(|t| t > 0));
            // The envelope carries every field of the stored message.
            let store_host = m["storeHost"].as_str().unwrap_or_default();
            assert!(store_host.contains(':') && store_host != "0.0.0.0:0", "{m}");
            assert!(m["commitLogOffset"].as_i64().is_some_and(|o| o >= 0), "{m}");
            assert!(m["storeSize"].as_i64().is_some_and(|s| s > 0), "{m}");
            let offset_id = m["offsetMsgId"].as_str().unwrap_or_default();
            assert_eq!(offset_id.len(), 32, "{m}");
            let body = m["body"].as_str().or(m["bodyBase64"].as_str());
            assert!(body.is_some_and(|b| !b.is_empty()), "{m}");
            offsets.insert((m["queueId"].as_i64(), m["queueOffset"].as_i64()));
        }
        assert_eq!(offsets.len(), 5, "five distinct messages");
        assert!(stderr.contains("consumed 5 messages"), "{stderr}");
    }
}

/// The message ids of `count` generated messages sent to `topic`: one first, then the rest
/// in batches; waits for the topic's route so a consumer finds it at once.
///
/// The broker creates a new topic on its first message. A burst of batches sent before that
/// is done can be refused with TOPIC_NOT_EXIST on every attempt on a busy machine (seen
/// under `cargo xtask test --stress`), so one message creates the topic first (tried again
/// until the broker takes it; TOPIC_NOT_EXIST means it was not stored).
fn produce_ids(runtime: &str, namesrv: &str, topic: &str, count: u64, size: u32) {
    let size = size.to_string();
    retry_until_success(
        &[
            "--runtime",
            runtime,
            "--namesrv",
            namesrv,
            "produce",
            "-t",
            topic,
            "--count",
            "1",
            "--size",
            &size,
        ],
        &format!("{runtime}: the first message of {topic} was never stored"),
    );
    retry_until_success(
        &["--namesrv", namesrv, "route", "-t", topic],
        &format!("no route for {topic}"),
    );
    let count = (count - 1).to_string();
    let out = rocketwire_on(
        runtime,
        namesrv,
        &[
            "produce", "-t", topic, "--count", &count, "--size", &size, "--batch", "32", "--json",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{runtime}: produce: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["failed"], 0, "{summary}");
    retry_until_success(
        &["--namesrv", namesrv, "route", "-t", topic],
        &format!("no route for {topic}"),
    );
}

/// A `consume` of `group` from the first message, its stdout piped to the test.
fn spawn_consume(runtime: &str, namesrv: &str, topic: &str, group: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rocketwire"))
        .args(["--runtime", runtime, "--namesrv", namesrv])
        .args(["consume", "-t", topic, "-g", group, "--from", "first"])
        .env_remove("NAMESRV_ADDR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("the binary runs")
}

/// The message id of a printed line (`topic qN @offset msgId body`).
fn line_id(line: &str) -> String {
    line.split(' ').nth(3).expect("a message line").to_owned()
}

/// Lines of `stdout`, read on a thread of their own, as a channel.
fn lines_of(stdout: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Consumes `group` until every id of `expected` was printed (in this run or before, as
/// `seen`), then stops the command; fails after 60 s naming how many are missing.
fn consume_the_rest(
    runtime: &str,
    namesrv: &str,
    topic: &str,
    group: &str,
    seen: &mut std::collections::BTreeSet<String>,
    expected: usize,
) {
    let mut child = spawn_consume(runtime, namesrv, topic, group);
    let lines = lines_of(child.stdout.take().expect("stdout"));
    let give_up = Instant::now() + Duration::from_secs(60);
    while seen.len() < expected && Instant::now() < give_up {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            seen.insert(line_id(&line));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("second run: {} seen at {:?}", seen.len(), Instant::now());
    assert_eq!(
        seen.len(),
        expected,
        "{runtime}: {} messages lost for the group",
        expected - seen.len()
    );
}

/// Resident memory of a process in KiB (Linux; `None` elsewhere).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A slow reader, then `kill -9` of the command with lines still in the pipe (the reader
/// stops too): only lines the reader took were acknowledged, so a second run of the group
/// prints every message the first did not; and while the reader is slow, the command's
/// memory stays bounded instead of growing with the topic.
#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn consume_killed_mid_stream_with_a_slow_reader_loses_nothing() {
    const MESSAGES: usize = 16_000;
    const BODY: u32 = 4_096;
    let namesrv = cluster_namesrv();
    let runtime = "tokio";
    let topic = unique("rw_cli_kill");
    let group = unique("rw_cli_kill_group");
    produce_ids(runtime, &namesrv, &topic, MESSAGES as u64, BODY);

    let mut child = spawn_consume(runtime, &namesrv, &topic, &group);
    let pid = child.id();
    // The reader reads the pipe itself (no read-ahead thread): what it has not read is not
    // taken. A watchdog ends the command should it stall, so a read cannot block for ever.
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let child = std::sync::Arc::new(std::sync::Mutex::new(child));
    let watchdog = {
        let child = child.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(60));
            let _ = child.lock().expect("not poisoned").kill();
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut peak_rss = 0;
    let slow_until = Instant::now() + Duration::from_secs(4);
    // ~500 lines a second; the topic is far larger than what is read.
    for line in std::io::BufRead::lines(stdout) {
        let line = line.expect("a line");
        seen.insert(line_id(&line));
        std::thread::sleep(Duration::from_millis(2));
        peak_rss = peak_rss.max(rss_kib(pid).unwrap_or(0));
        if Instant::now() >= slow_until {
            break;
        }
    }
    assert!(!seen.is_empty(), "{runtime}: nothing consumed");
    eprintln!(
        "slow reader: {} lines read, peak RSS {peak_rss} KiB",
        seen.len()
    );
    {
        let mut child = child.lock().expect("not poisoned");
        child.kill().expect("kill -9");
        let _ = child.wait();
    }
    drop(watchdog);
    assert!(
        seen.len() < MESSAGES / 2,
        "the reader was slow: {}",
        seen.len()
    );
    // The topic is 64 MiB; the command buffers 2 MiB per queue at most.
    assert!(
        peak_rss < 48 * 1024,
        "{runtime}: RSS reached {peak_rss} KiB with a slow reader"
    );
    consume_the_rest(runtime, &namesrv, &topic, &group, &mut seen, MESSAGES);
}

/// `consume | head -n 100`: the command ends by itself once `head` is gone, and the lines
/// it wrote that `head` never read are not acknowledged: the next run prints them.
#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn consume_into_head_loses_nothing() {
    const MESSAGES: usize = 2_000;
    let namesrv = cluster_namesrv();
    let runtime = "smol";
    let topic = unique("rw_cli_head");
    let group = unique("rw_cli_head_group");
    produce_ids(runtime, &namesrv, &topic, MESSAGES as u64, 64);

    let bin = env!("CARGO_BIN_EXE_rocketwire");
    let pipeline = format!(
        "'{bin}' --runtime {runtime} --namesrv '{namesrv}' consume -t '{topic}' -g '{group}' \
         --from first 2>/dev/null | head -n 100"
    );
    let mut sh = Command::new("sh")
        .args(["-c", &pipeline])
        .env_remove("NAMESRV_ADDR")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    let lines = lines_of(sh.stdout.take().expect("stdout"));
    let mut seen = std::collections::BTreeSet::new();
    let give_up = Instant::now() + Duration::from_secs(60);
    let status = loop {
        while let Ok(line) = lines.try_recv() {
            seen.insert(line_id(&line));
        }
        if let Some(status) = sh.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > give_up {
            let _ = sh.kill();
            panic!("{runtime}: the command did not end after head left");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
        seen.insert(line_id(&line));
    }
    assert!(status.success(), "{status:?}");
    assert_eq!(seen.len(), 100, "head printed 100 lines");
    consume_the_rest(runtime, &namesrv, &topic, &group, &mut seen, MESSAGES);
}

/// `--namespace`: what one namespace produces to `T` is stored in `ns%T` (its route exists
/// under that name), and a consumer of the same namespace reads it back as `T`.
#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn namespace_wraps_topics_and_groups_end_to_end() {
    let namesrv = cluster_namesrv();
    let namespace = unique("rw_ns");
    let topic = unique("rw_cli_ns");
    let group = unique("rw_cli_ns_group");
    let ns = ["--namespace", namespace.as_str()];
    let mut produce = vec![
        "produce",
        "-t",
        topic.as_str(),
        "--count",
        "3",
        "--size",
        "8",
    ];
    produce.extend_from_slice(&ns);
    let out = rocketwire_on("tokio", &namesrv, &produce);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrapped = format!("{namespace}%{topic}");
    retry_until_success(
        &["--namesrv", &namesrv, "route", "-t", &wrapped],
        &format!("no route for {wrapped}"),
    );
    let mut consume = vec![
        "consume",
        "-t",
        topic.as_str(),
        "-g",
        group.as_str(),
        "--count",
        "3",
        "--from",
        "first",
        "--json",
    ];
    consume.extend_from_slice(&ns);
    let out = rocketwire_on("blocking", &namesrv, &consume);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    for m in &messages {
        assert_eq!(m["topic"], topic.as_str(), "{m}");
    }
}

/// The first two messages of `topic` for a new `group`, printed with `format`.
fn consume_formatted(
    runtime: &str,
    namesrv: &str,
    topic: &str,
    group: &str,
    format: &str,
) -> String {
    let args = [
        "consume", "-t", topic, "-g", group, "--count", "2", "--from", "first", "--format", format,
    ];
    ok_on(runtime, namesrv, &args)
}

/// Creates `topic` with one queue and waits until the namesrv lists it.
fn create_topic(namesrv: &str, topic: &str) {
    ok_on(
        "tokio",
        namesrv,
        &["topic", "create", "-t", topic, "--queues", "1"],
    );
    until_stdout(
        "tokio",
        namesrv,
        &["topic", "list"],
        "the topic is listed",
        |out| out.lines().any(|l| l == topic),
    );
}

/// Runs the binary on `runtime`, expecting success; its stdout.
fn ok_on(runtime: &str, namesrv: &str, args: &[&str]) -> String {
    let out = rocketwire_on(runtime, namesrv, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{runtime} {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary until its stdout satisfies `done` (the cluster shows a change a moment
/// after it was made); fails with `what` after 30 s.
fn until_stdout(
    runtime: &str,
    namesrv: &str,
    args: &[&str],
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let out = rocketwire_on(runtime, namesrv, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && done(&stdout) {
            return stdout;
        }
        assert!(Instant::now() < give_up, "{runtime}: {what}: {stdout}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn topic_offsets_and_query_subcommands() {
    let namesrv = cluster_namesrv();
    for runtime in ["tokio", "blocking"] {
        let topic = unique(&format!("rw_cli_admin_{runtime}"));
        let group = unique("rw_cli_admin_group");
        let key = unique("rw_cli_key");
        let created = ok_on(
            runtime,
            &namesrv,
            &["topic", "create", "-t", &topic, "--queues", "2"],
        );
        assert!(
            created.starts_with(&format!("created {topic} with 2 queues on ")),
            "{created}"
        );
        until_stdout(
            runtime,
            &namesrv,
            &["topic", "list"],
            "the topic is listed",
            |out| out.lines().any(|l| l == topic),
        );
        let described = ok_on(runtime, &namesrv, &["topic", "describe", "-t", &topic]);
        assert!(described.contains("write 2"), "{described}");
        assert_eq!(described.matches(" min 0 max 0").count(), 2, "{described}");

        ok_on(
            runtime,
            &namesrv,
            &[
                "produce", "-t", &topic, "--key", &key, "--count", "3", "--size", "8",
            ],
        );
        let consumed = ok_on(
            runtime,
            &namesrv,
            &[
                "consume", "-t", &topic, "-g", &group, "--count", "3", "--from", "first", "--json",
            ],
        );
        let first: serde_json::Value =
            serde_json::from_str(consumed.lines().next().expect("a message")).expect("JSON");

        let offsets = until_stdout(
            runtime,
            &namesrv,
            &["offsets", "-t", &topic, "-g", &group, "--json"],
            "the group's offsets reach the ends",
            |out| {
                let v: serde_json::Value = serde_json::from_str(out).unwrap_or_default();
                let queues = v["queues"].as_array().cloned().unwrap_or_default();
                let max: i64 = queues.iter().filter_map(|q| q["max"].as_i64()).sum();
                let committed: i64 = queues.iter().filter_map(|q| q["committed"].as_i64()).sum();
                max == 3 && committed == 3
            },
        );
        assert!(!offsets.contains("\"lag\":1"), "{offsets}");
        let text = ok_on(runtime, &namesrv, &["offsets", "-t", &topic, "-g", &group]);
        assert!(text.ends_with("total lag 0\n"), "{text}");

        let by_key = until_stdout(
            runtime,
            &namesrv,
            &["query", "-t", &topic, "--key", &key, "--json"],
            "three messages by key",
            |out| out.lines().count() == 3,
        );
        for line in by_key.lines() {
            let m: serde_json::Value = serde_json::from_str(line).expect("JSON");
            assert_eq!(m["keys"][0], key.as_str(), "{m}");
        }
        for id in [&first["msgId"], &first["offsetMsgId"]] {
            let id = id.as_str().expect("an id");
            let found = until_stdout(
                runtime,
                &namesrv,
                &["query", "-t", &topic, "--id", id, "--json"],
                "the message by id",
                |out| out.lines().count() == 1,
            );
            let m: serde_json::Value = serde_json::from_str(found.trim()).expect("JSON");
            assert_eq!(m["body"], first["body"], "{id}: {m}");
        }
        let none = rocketwire_on(
            runtime,
            &namesrv,
            &["query", "-t", &topic, "--key", "no-such-key"],
        );
        assert!(!none.status.success());
        assert!(String::from_utf8_lossy(&none.stderr).contains("no message found"));
    }
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn request_prints_the_reply_or_fails_on_timeout() {
    use rocketwire_core::body::ConsumeFromWhere;
    use rocketwire_core::consumer::{ConsumerConfig, Subscription};
    use rocketwire_core::producer::{reply_message, ProducerConfig};
    use rocketwire_core::{ClientConfig, ConsumeOutcome};

    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_request");
    create_topic(&namesrv, &topic);
    // A responder in this process: each request is answered with "re:" and its body.
    let responder = rocketwire_blocking::Client::start(ClientConfig::new(vec![namesrv.clone()]))
        .expect("responder");
    let replies = responder
        .create_producer(
            ProducerConfig::builder(unique("rw_cli_reply_pg"))
                .build()
                .expect("config"),
        )
        .expect("reply producer");
    let consumer = {
        let replies = replies.clone();
        let config = ConsumerConfig {
            group: unique("rw_cli_reply_cg"),
            consume_from_where: ConsumeFromWhere::FirstOffset,
            ..ConsumerConfig::default()
        };
        responder
            .create_push_consumer_with(
                config,
                vec![Subscription::tag(&topic, "*").expect("subscription")],
                rocketwire_blocking::PushConsumerOptions::default(),
                move |messages| {
                    for m in messages {
                        let body = format!("re:{}", String::from_utf8_lossy(m.body()));
                        let sent = reply_message(m, body).map(|r| replies.send(r));
                        if !matches!(sent, Ok(Ok(_))) {
                            return ConsumeOutcome::ReconsumeLater { delay_level: 1 };
                        }
                    }
                    ConsumeOutcome::Success
                },
            )
            .expect("responder consumer")
    };
    for runtime in ["tokio", "blocking"] {
        let out = ok_on(
            runtime,
            &namesrv,
            &[
                "request",
                "-t",
                &topic,
                "--timeout",
                "20000",
                "--json",
                "hello",
            ],
        );
        let reply: serde_json::Value = serde_json::from_str(out.trim()).expect("the reply as JSON");
        assert_eq!(reply["body"], "re:hello", "{runtime}: {reply}");
    }
    let silent = unique("rw_cli_request_silent");
    create_topic(&namesrv, &silent);
    let out = rocketwire_on(
        "tokio",
        &namesrv,
        &["request", "-t", &silent, "--timeout", "1000", "anyone?"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no reply"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    consumer
        .shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    replies.shutdown().expect("reply producer shutdown");
    responder
        .shutdown(Duration::from_secs(5))
        .expect("responder shutdown");
}

#[test]
fn verbose_logs_the_clients_events_on_stderr() {
    use std::io::{Read as _, Write as _};
    // A "namesrv" that answers with a frame no client can read: the core logs a warning.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let namesrv = listener.local_addr().expect("addr").to_string();
    // Serves every connection (the thread ends with the test process).
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 256];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(&[0xff, 0xff, 0xff, 0xff]);
        }
    });
    let quiet = rocketwire_on("tokio", &namesrv, &["route", "-t", "T"]);
    let verbose = rocketwire_on("tokio", &namesrv, &["-v", "route", "-t", "T"]);
    for out in [&quiet, &verbose] {
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("rocketwire: error: "), "{stderr}");
    }
    let quiet = String::from_utf8_lossy(&quiet.stderr);
    assert_eq!(quiet.lines().count(), 1, "no logs without -v: {quiet}");
    let verbose = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        verbose.contains("WARN") && verbose.contains("malformed frame"),
        "{verbose}"
    );

    let bad = rocketwire_on(
        "tokio",
        &closed_port(),
        &["consume", "-t", "T", "-g", "G", "--format", "%x"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown format token %x"));
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn consume_prints_with_a_format_template() {
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_format");
    let group = unique("rw_cli_format_group");
    create_topic(&namesrv, &topic);
    ok_on(
        "tokio",
        &namesrv,
        &[
            "produce", "-t", &topic, "--key", "K", "--tag", "G", "--count", "2", "--size", "3",
        ],
    );
    let out = consume_formatted("blocking", &namesrv, &topic, &group, "%t|%q|%o|%k|%g|%S");
    // A concurrent consumer prints one queue's messages in any order.
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [format!("{topic}|0|0|K|G|3"), format!("{topic}|0|1|K|G|3")],
        "{out}"
    );
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn produce_json_lines_with_per_line_fields() {
    use std::io::Write as _;
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_jsonl");
    create_topic(&namesrv, &topic);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocketwire"))
        .args([
            "--namesrv",
            &namesrv,
            "produce",
            "-t",
            &topic,
            "--tag",
            "D",
            "--json-lines",
        ])
        .env_remove("NAMESRV_ADDR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"{\"body\":\"one\",\"key\":\"k1\",\"properties\":{\"p\":\"1\"}}\n\
              {\"body\":\"two\",\"keys\":[\"k2\",\"k3\"],\"tags\":\"E\"}\n",
        )
        .expect("lines written");
    let out = child.wait_with_output().expect("produce ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let group = unique("rw_cli_jsonl_group");
    let printed = consume_formatted("tokio", &namesrv, &topic, &group, "%s|%k|%g|%h");
    let mut lines: Vec<&str> = printed.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with("one|k1|D|") && lines[0].contains("p=1"),
        "{printed}"
    );
    assert!(lines[1].starts_with("two|k2 k3|E|"), "{printed}");
}

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn consume_from_kcat_offsets_and_exit_at_the_end() {
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_offsets");
    create_topic(&namesrv, &topic);
    ok_on(
        "tokio",
        &namesrv,
        &["produce", "-t", &topic, "--count", "3", "--size", "4"],
    );
    std::thread::sleep(Duration::from_millis(20));
    let between = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    ok_on(
        "tokio",
        &namesrv,
        &["produce", "-t", &topic, "--count", "2", "--size", "4"],
    );
    let read = |spec: &str| {
        let started = Instant::now();
        let out = ok_on(
            "tokio",
            &namesrv,
            &[
                "consume", "-t", &topic, "-g", "nobody", "--offset", spec, "--exit", "--format",
                "%o",
            ],
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{spec}: --exit stops"
        );
        out.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(read("beginning"), ["0", "1", "2", "3", "4"]);
    assert_eq!(read("-2"), ["3", "4"]);
    assert_eq!(read("1"), ["1", "2", "3", "4"]);
    assert!(read("end").is_empty());
    assert_eq!(read(&format!("s@{between}")), ["3", "4"]);
    assert_eq!(read(&format!("e@{between}")), ["0", "1", "2"]);
    // Reading commits nothing: the group still has no offsets, so `stored` reads it all.
    assert_eq!(read("stored"), ["0", "1", "2", "3", "4"]);
}

/// `consume --pop` prints each message once and acks it: the group's next POP run gets only
/// what was produced after; `--orderly` with it pops orderly.
#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn consume_by_pop() {
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_pop");
    let group = unique("rw_cli_popgroup");
    produce_ids("tokio", &namesrv, &topic, 6, 16);
    let pop = |count: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "consume", "-t", &topic, "-g", &group, "--pop", "--from", "first", "--count", count,
        ];
        args.extend_from_slice(extra);
        ok_on("tokio", &namesrv, &args)
            .lines()
            .map(line_id)
            .collect()
    };
    let first = pop("6", &["--invisible-time", "5000"]);
    assert_eq!(first.len(), 6, "{first:?}");
    let distinct: std::collections::BTreeSet<&String> = first.iter().collect();
    assert_eq!(distinct.len(), 6, "each once: {first:?}");
    produce_ids("tokio", &namesrv, &topic, 2, 16);
    let second = pop("2", &[]);
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second.iter().all(|id| !first.contains(id)),
        "acked messages came back: {first:?} then {second:?}"
    );
    // Orderly POP of a fresh group reads every queue in order.
    let ordered = unique("rw_cli_popo");
    let out = ok_on(
        "tokio",
        &namesrv,
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &ordered,
            "--pop",
            "--orderly",
            "--from",
            "first",
            "--count",
            "8",
        ],
    );
    assert_eq!(out.lines().count(), 8, "{out}");
    let bad = rocketwire_on(
        "tokio",
        &namesrv,
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            &group,
            "--invisible-time",
            "5000",
        ],
    );
    assert!(!bad.status.success(), "--invisible-time needs --pop");
}
