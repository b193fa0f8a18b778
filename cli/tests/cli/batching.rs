//! `produce --auto-batch`: concurrent single sends gathered into batch requests, every
//! message stored once.

use std::collections::BTreeSet;

use super::{cluster_namesrv, create_topic, ok_on};
use crate::common::unique;

#[test]
#[ignore = "needs a cluster: cargo xtask test"]
fn produce_auto_batch_stores_every_line_once() {
    let namesrv = cluster_namesrv();
    let topic = unique("rw_cli_autobatch");
    create_topic(&namesrv, &topic);
    let out = ok_on(
        "tokio",
        &namesrv,
        &[
            "produce",
            "-t",
            &topic,
            "--count",
            "2000",
            "--size",
            "64",
            "--inflight",
            "256",
            "--auto-batch",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(
        (v["sent"].as_u64(), v["failed"].as_u64()),
        (Some(2000), Some(0)),
        "{v}"
    );
    // Read everything back: each generated body (its sequence number first) once.
    let read = ok_on(
        "tokio",
        &namesrv,
        &[
            "consume",
            "-t",
            &topic,
            "-g",
            "nobody",
            "--offset",
            "beginning",
            "--exit",
            "--format",
            "%s",
        ],
    );
    let seqs: Vec<u64> = read
        .lines()
        .map(|l| l[..12].parse().expect("a sequence number"))
        .collect();
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(seqs.len(), 2000, "no duplicate");
    assert_eq!(distinct, (0..2000).collect(), "none missing");
}
