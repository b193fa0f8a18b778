//! Arbitrary bytes as a SEND_BATCH_MESSAGE body. Decoding never panics, bodies are zero-copy
//! slices of the input, and a decoded batch that passes validation re-encodes to a body that
//! decodes to the same messages.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rocketwire_core::message::{decode_batch, encode_batch, validate_batch};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    let Ok(messages) = decode_batch(&body, "T") else {
        return;
    };
    for m in &messages {
        assert_eq!(m.topic, "T");
        if !m.body.is_empty() {
            assert!(
                range.contains(&(m.body.as_ptr() as usize)),
                "batch body was copied"
            );
        }
    }
    if validate_batch(&messages).is_ok() {
        let encoded = encode_batch(&messages).expect("a valid decoded batch encodes");
        let back = decode_batch(&encoded, "T").expect("a re-encoded batch decodes");
        assert_eq!(back, messages);
    }
});
