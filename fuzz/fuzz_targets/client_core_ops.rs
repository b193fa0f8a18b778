//! An arbitrary sequence of operations applied to one `ClientCore`: user commands, peer bytes
//! (well-formed answers to what the core sent, broker requests, garbage), connection events
//! and time steps. The driving contract is checked after every step and, after shutdown, every
//! operation must have exactly one result. See `rocketwire_fuzz::ops` for the input format and
//! the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rocketwire_fuzz::ops::client_core_ops(data);
});
