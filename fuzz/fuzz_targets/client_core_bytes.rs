//! Arbitrary peer bytes fed to a running `ClientCore` with a route query and a raw invocation
//! in flight, cut into chunks with time moving between them. The core must never panic, every
//! `Output::Timeout` must lie in the future, every drain must settle, and once the connection
//! closes and the timers have run no request may be left pending.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketwire_fuzz::{ClientHarness, Cutter};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut harness = ClientHarness::start();
    harness.run(stream, &mut Cutter::new(seed));
});
