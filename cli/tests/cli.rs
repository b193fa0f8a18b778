//! The `rocketwire` binary end to end: errors without a cluster, and (ignored unless a cluster
//! runs) `route` and `produce` against a real one, on every runtime.

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn rocketwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rocketwire"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("the binary runs")
}

/// Runs the binary on `runtime` against `namesrv` with `args`.
fn rocketwire_on(runtime: &str, namesrv: &str, args: &[&str]) -> Output {
    let mut all = vec!["--runtime", runtime, "--namesrv", namesrv];
    all.extend_from_slice(args);
    rocketwire(&all)
}

/// Runs the binary with `args` until it succeeds (the broker registers an auto-created topic
/// with the namesrv shortly after its first message); fails with `what` after 30 s.
fn retry_until_success(args: &[&str], what: &str) -> Output {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let out = rocketwire(args);
        if out.status.success() {
            return out;
        }
        assert!(Instant::now() < give_up, "{what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

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

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}_{}_{t}", std::process::id())
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
            let body = m["body"].as_str().or(m["bodyBase64"].as_str());
            assert!(body.is_some_and(|b| !b.is_empty()), "{m}");
            offsets.insert((m["queueId"].as_i64(), m["queueOffset"].as_i64()));
        }
        assert_eq!(offsets.len(), 5, "five distinct messages");
        assert!(stderr.contains("consumed 5 messages"), "{stderr}");
    }
}
