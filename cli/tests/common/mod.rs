//! Helpers shared by the CLI's end-to-end tests.

#![allow(dead_code)] // each test binary uses its own part

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs the binary with `args` (`NAMESRV_ADDR` unset).
pub(crate) fn rocketwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rocketwire"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("the binary runs")
}

/// Runs the binary on `runtime` against `namesrv` with `args`.
pub(crate) fn rocketwire_on(runtime: &str, namesrv: &str, args: &[&str]) -> Output {
    let mut all = vec!["--runtime", runtime, "--namesrv", namesrv];
    all.extend_from_slice(args);
    rocketwire(&all)
}

/// Runs the binary with `args` until it succeeds (the broker registers an auto-created topic
/// with the namesrv shortly after its first message); fails with `what` after 30 s.
pub(crate) fn retry_until_success(args: &[&str], what: &str) -> Output {
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

/// A name unique to this process and moment.
pub(crate) fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}_{}_{t}", std::process::id())
}
