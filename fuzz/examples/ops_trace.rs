//! Prints the transcript of a `client_core_ops` input (a crash artifact, a corpus entry or a
//! seed) line by line as it runs: one line per op and per output, then what the run reached
//! or the broken invariant. An input that hangs shows where it stopped.
//!
//! ```text
//! cargo run --example ops_trace -- artifacts/client_core_ops/crash-…
//! ```

use std::io::Write;

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: ops_trace <input file>");
    let input = std::fs::read(path)?;
    let result = rocketwire_fuzz::ops::trace_with(&input, |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    });
    match result {
        Ok(seen) => println!("ok: {seen:?}"),
        Err(e) => println!("BROKEN: {e}"),
    }
    Ok(())
}
