//! The `rocketwire` binary over TLS: flag errors without a cluster, and (ignored unless a
//! TLS cluster runs: `cargo xtask test` starts one) produce and consume through a broker
//! that accepts only TLS, on every runtime.

mod common;

use common::{retry_until_success, rocketwire, rocketwire_on, unique};

#[test]
fn unreadable_ca_file_is_one_line_and_a_failure() {
    let out = rocketwire(&[
        "--namesrv",
        "127.0.0.1:1",
        "--ca-file",
        "/nonexistent/ca.pem",
        "route",
        "-t",
        "T",
    ]);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(101), "not a panic");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.starts_with("rocketwire: error: --ca-file: ")
            && stderr.contains("/nonexistent/ca.pem"),
        "{stderr:?}"
    );
}

#[test]
fn insecure_mode_conflicts_with_a_ca_file() {
    let out = rocketwire(&[
        "--insecure-skip-tls-verify",
        "--ca-file",
        "ca.pem",
        "route",
        "-t",
        "T",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

fn env(key: &str) -> String {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} is not set: run the TLS suite with `cargo xtask test`"))
}

#[test]
#[ignore = "needs a TLS cluster: cargo xtask test"]
fn produce_and_consume_over_tls_on_every_runtime() {
    let (namesrv, ca) = (env("ROCKETWIRE_NAMESRV"), env("ROCKETWIRE_TLS_CA"));
    for runtime in ["tokio", "async-std", "smol", "blocking"] {
        let topic = unique(&format!("rw_cli_tls_{}", runtime.replace('-', "_")));
        let with_tls = |args: &[&str]| {
            let mut all = vec![
                "--runtime",
                runtime,
                "--namesrv",
                &namesrv,
                "--ca-file",
                &ca,
            ];
            all.extend_from_slice(args);
            rocketwire(&all)
        };
        // Without TLS the broker refuses: what follows really goes through TLS.
        let one = ["-t", &topic, "--count", "1", "--size", "8"];
        let plain = rocketwire_on(
            runtime,
            &namesrv,
            &[&["produce", "--send-timeout", "2000"], &one[..]].concat(),
        );
        assert!(
            !plain.status.success(),
            "{runtime}: a plain produce got through"
        );
        let out = with_tls(&["produce", "-t", &topic, "--count", "3", "--size", "16"]);
        assert!(
            out.status.success(),
            "{runtime}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        retry_until_success(
            &[
                "--namesrv",
                &namesrv,
                "--ca-file",
                &ca,
                "route",
                "-t",
                &topic,
            ],
            &format!("{runtime}: no route for {topic}"),
        );
        let group = unique("rw_cli_tls_group");
        let out = with_tls(&[
            "consume", "-t", &topic, "-g", &group, "--count", "3", "--from", "first", "--json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{runtime}: {stderr}");
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(lines, 3, "{runtime}: {stderr}");
        // The insecure mode encrypts too (and says loudly that it does not verify).
        let out = rocketwire_on(
            runtime,
            &namesrv,
            &[&["--insecure-skip-tls-verify", "produce"], &one[..]].concat(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{runtime}: {stderr}");
        assert!(stderr.contains("--insecure-skip-tls-verify"), "{stderr}");
    }
}
