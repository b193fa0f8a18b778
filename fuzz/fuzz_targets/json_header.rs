//! Arbitrary bytes as a JSON header (serialize type 0), framed with a body: decoding must not
//! panic, the framed and bare decodes agree, and a decoded header survives re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketwire_core::codec::SerializeType;
use rocketwire_fuzz::check_header;

fuzz_target!(|data: &[u8]| check_header(SerializeType::Json, data));
