//! Arbitrary bytes through each decompressor under an output limit, and through a
//! compress/decompress round trip. Decompression never panics, never returns more than the
//! limit, and gives back what was compressed; a limit one byte short fails with the typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketwire_core::message::compress::{compress, decompress};
use rocketwire_core::message::{CompressionType, MessageError};

const KINDS: [CompressionType; 3] = [
    CompressionType::Zlib,
    CompressionType::Lz4,
    CompressionType::Zstd,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(sel % 3)];
    let max = match (sel >> 2) % 4 {
        0 => 0,
        1 => 100,
        2 => 4096,
        _ => 1 << 20,
    };
    match decompress(kind, payload, max) {
        Ok(out) => assert!(out.len() <= max, "{} > limit {max}", out.len()),
        Err(MessageError::Decompress { kind: k, .. }) => assert_eq!(k, kind),
        Err(MessageError::DecompressedTooLarge { max: m }) => assert_eq!(m, max),
        Err(e) => panic!("unexpected error {e}"),
    }
    // The sysFlag compression bits select the same algorithm.
    let flag = kind.sys_flag_bits() | 1;
    assert_eq!(CompressionType::from_sys_flag(flag), Ok(kind));

    let level = i32::from(sel >> 4) - 2;
    let packed = compress(kind, payload, level).expect("compression of bytes succeeds");
    let unpacked = decompress(kind, &packed, payload.len()).expect("round trip");
    assert_eq!(unpacked, payload);
    if !payload.is_empty() {
        assert_eq!(
            decompress(kind, &packed, payload.len() - 1),
            Err(MessageError::DecompressedTooLarge {
                max: payload.len() - 1
            })
        );
    }
});
