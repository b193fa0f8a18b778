//! A CPU hog for `cargo xtask test --stress`: one busy thread per core, so the suite runs on
//! a machine that is anything but idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Busy threads, one per core, until dropped.
pub(crate) struct CpuHog {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl CpuHog {
    /// Starts one spinning thread per available core.
    pub(crate) fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cores)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    // Work the optimizer cannot drop, checking the flag now and then.
                    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                        }
                    }
                    x
                })
            })
            .collect();
        println!("xtask: CPU hog started: {cores} busy threads");
        CpuHog { stop, threads }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        println!("xtask: CPU hog stopped");
    }
}
