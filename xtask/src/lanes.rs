//! The real-cluster steps of `cargo xtask test` in two lanes side by side.
//!
//! Most of a real-cluster test waits on the broker (long polls, rebalances, retries), so
//! the two serialization suites run together take little more than one of them alone. Each
//! lane is a child `xtask test --lane N`: it starts its own clusters on its own port sets
//! and runs its steps one after the other. Its output is streamed here line by line, each
//! line prefixed with the lane, so a long run shows progress and a failure is readable by
//! its prefix.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::{TestOpts, TEST_STEPS};
use crate::sys;

/// The steps of each lane, balanced by their usual run time: each serialization suite
/// takes about five and a half minutes, the short chaos run about one, the other steps
/// half a minute each or less.
pub(crate) const LANES: [&[&str]; 2] = [
    &["cluster-json", "two-brokers", "acl", "tls", "nat"],
    &["cluster-rocketmq", "gateway", "chaos"],
];

/// Port sets (of [`crate::tasks::TEST_PORT_TRIES`]) each lane may use, so that two lanes
/// starting clusters at the same moment never pick the same ports.
pub(crate) const PORT_SETS_PER_LANE: u16 = 20;

/// How long the output of a finished lane may still drain (a server a lane left behind
/// could hold its pipe open forever).
const DRAIN_PATIENCE: Duration = Duration::from_secs(5);

/// How often running lanes are checked for their end.
const POLL: Duration = Duration::from_millis(200);

/// How one lane ended.
pub(crate) struct LaneResult {
    /// `lane N (step step ...)`.
    pub(crate) name: String,
    pub(crate) took: Duration,
    pub(crate) outcome: Result<(), String>,
}

/// A started lane.
struct Running {
    name: String,
    started: Instant,
    child: Child,
    /// One message per output stream when it reaches its end.
    drained: mpsc::Receiver<()>,
}

/// Runs one round: every lane with a step `opts` runs, side by side, each to its end.
pub(crate) fn run_round(opts: &TestOpts) -> Vec<LaneResult> {
    let mut results = Vec::new();
    let mut running = Vec::new();
    for (i, lane) in LANES.iter().enumerate() {
        let steps: Vec<&str> = lane.iter().copied().filter(|s| opts.runs(s)).collect();
        if steps.is_empty() {
            continue;
        }
        let n = i + 1;
        let name = format!("lane {n} ({})", steps.join(" "));
        match start(n, &steps) {
            Ok((child, drained)) => running.push(Running {
                name,
                started: Instant::now(),
                child,
                drained,
            }),
            Err(e) => results.push(LaneResult {
                name,
                took: Duration::ZERO,
                outcome: Err(e),
            }),
        }
    }
    // Polled, so each lane's time is its own, not the time until the lanes before it end.
    while !running.is_empty() {
        let mut i = 0;
        while i < running.len() {
            let lane = &mut running[i];
            let outcome = match lane.child.try_wait() {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(status)) => outcome(&lane.name, Ok(status)),
                Err(e) => outcome(&lane.name, Err(e)),
            };
            let lane = running.swap_remove(i);
            let took = lane.started.elapsed();
            drain(&lane.drained);
            results.push(LaneResult {
                name: lane.name,
                took,
                outcome,
            });
        }
        thread::sleep(POLL);
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    results
}

/// Starts lane `n` running `steps`, its output streamed with the lane's prefix.
fn start(n: usize, steps: &[&str]) -> Result<(Child, mpsc::Receiver<()>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("the xtask binary: {e}"))?;
    let skip: Vec<&str> = TEST_STEPS
        .iter()
        .copied()
        .filter(|s| !steps.contains(s))
        .collect();
    let mut cmd = Command::new(exe);
    cmd.current_dir(sys::workspace_root()).args([
        "test",
        "--lane",
        &n.to_string(),
        "--skip",
        &skip.join(","),
    ]);
    println!("\nxtask: ==> [lane {n}] {}", steps.join(" "));
    spawn_prefixed(cmd, &format!("lane {n}"))
}

/// Runs `jobs` side by side, each `(label, command)` with its output prefixed `[label]`,
/// each to its end; the first failure is the result.
pub(crate) fn run_side_by_side(jobs: Vec<(String, Command)>) -> Result<(), String> {
    let mut running = Vec::new();
    let mut result = Ok(());
    for (label, mut cmd) in jobs {
        cmd.current_dir(sys::workspace_root());
        println!("\nxtask: ==> [{label}] {}", sys::shown(&cmd));
        match spawn_prefixed(cmd, &label) {
            Ok(child) => running.push((label, child)),
            Err(e) => {
                result = result.and(Err(e));
                break;
            }
        }
    }
    for (label, (mut child, drained)) in running {
        let ended = outcome(&format!("[{label}]"), child.wait());
        drain(&drained);
        result = result.and(ended);
    }
    result
}

/// Starts `cmd` with its stdout and stderr streamed to ours, each line prefixed `[label]`.
fn spawn_prefixed(mut cmd: Command, label: &str) -> Result<(Child, mpsc::Receiver<()>), String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start [{label}] `{}`: {e}", sys::shown(&cmd)))?;
    let (tx, drained) = mpsc::channel();
    let prefix = format!("[{label}] ");
    if let Some(out) = child.stdout.take() {
        stream(out, prefix.clone(), false, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        stream(err, prefix, true, tx);
    }
    Ok((child, drained))
}

/// How a child `name` ended, as a step outcome.
fn outcome(name: &str, ended: std::io::Result<ExitStatus>) -> Result<(), String> {
    match ended {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{name} failed ({status})")),
        Err(e) => Err(format!("{name}: cannot wait for it: {e}")),
    }
}

/// Waits, at most [`DRAIN_PATIENCE`], for both output streams of an ended child.
fn drain(drained: &mpsc::Receiver<()>) {
    let deadline = Instant::now() + DRAIN_PATIENCE;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if drained.recv_timeout(left).is_err() {
            break;
        }
    }
}

/// Copies `from` line by line to our stdout (or stderr), each line prefixed, then reports
/// on `done`.
fn stream(
    from: impl Read + Send + 'static,
    prefix: String,
    to_stderr: bool,
    done: mpsc::Sender<()>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\n', '\r']);
                    // One locked write per line, so the lanes' lines never mix.
                    let _ = if to_stderr {
                        writeln!(std::io::stderr().lock(), "{prefix}{text}")
                    } else {
                        writeln!(std::io::stdout().lock(), "{prefix}{text}")
                    };
                }
            }
        }
        let _ = done.send(());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::CLUSTER_STEPS;

    #[test]
    fn every_cluster_step_runs_in_exactly_one_lane() {
        for step in CLUSTER_STEPS {
            let lanes = LANES.iter().filter(|l| l.contains(step)).count();
            assert_eq!(lanes, 1, "`{step}` is in {lanes} lanes");
        }
        for step in LANES.iter().flat_map(|l| l.iter()) {
            assert!(CLUSTER_STEPS.contains(step), "`{step}` is no cluster step");
        }
    }
}
