//! Seeds for the message targets, built with the core's own encoders.

use std::net::{IpAddr, SocketAddr};

use bytes::{Bytes, BytesMut};
use rocketwire_core::message::compress::compress;
use rocketwire_core::message::{
    encode_batch, encode_stored_into, offset_message_id, sysflag, CompressionType, Message,
    MessageExt, UniqIdGenerator,
};

fn message(topic: &str, body: &[u8], uniq: &str) -> Message {
    let mut m = Message::new(topic, Bytes::copy_from_slice(body));
    m.set_tags("TagA").expect("valid tag");
    m.set_unique_key_if_absent(|| uniq.to_string());
    m
}

/// A stored record of `m` with realistic metadata.
fn stored(m: Message, sys_flag: i32, v6: bool) -> MessageExt {
    let mut ext = MessageExt::from_message(m);
    ext.queue_id = 3;
    ext.queue_offset = 1234;
    ext.commit_log_offset = 987_654;
    ext.sys_flag = sys_flag;
    ext.born_timestamp = 1_700_000_000_000;
    ext.store_timestamp = 1_700_000_000_005;
    ext.born_host = if v6 {
        SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, 1], 50_000))
    } else {
        SocketAddr::from(([10, 0, 0, 2], 50_000))
    };
    ext.store_host = SocketAddr::from(([10, 0, 0, 1], 10_911));
    ext.refresh_offset_msg_id();
    ext
}

/// A pull body: plain V1 records, an IPv6 one, a V2 (long topic) one, one compressed with each
/// algorithm, and an inner batch.
pub fn pull_body() -> Vec<Vec<u8>> {
    let mut plain = BytesMut::new();
    for i in 0..3u8 {
        let m = message(
            "TopicTest",
            &[b'a' + i; 20],
            "0A000001000078BF0000000000000001",
        );
        encode_stored_into(&stored(m, 0, i == 1), &mut plain).expect("encodable");
    }
    let long = message(
        &"L".repeat(130),
        b"long topic",
        "0A000001000078BF0000000000000002",
    );
    encode_stored_into(&stored(long, 0, false), &mut plain).expect("encodable");

    let mut packed = BytesMut::new();
    for kind in [
        CompressionType::Zlib,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ] {
        let body = b"compressible body ".repeat(8);
        let z = compress(kind, &body, 5).expect("compresses");
        let m = message("TopicTest", &z, "0A000001000078BF0000000000000003");
        let flag = sysflag::COMPRESSED | kind.sys_flag_bits();
        encode_stored_into(&stored(m, flag, false), &mut packed).expect("encodable");
    }

    let inner = encode_batch(&[
        Message::new("TopicTest", Bytes::from_static(b"one")),
        Message::new("TopicTest", Bytes::from_static(b"two")),
    ])
    .expect("valid batch");
    let mut batch = BytesMut::new();
    let m = Message::new("TopicTest", inner);
    let flag = sysflag::NEED_UNWRAP | sysflag::INNER_BATCH;
    encode_stored_into(&stored(m, flag, false), &mut batch).expect("encodable");

    // Options byte: 0 = decompress, no CRC check, 64 KiB limit; 2 = with CRC check.
    vec![
        [&[0u8][..], &plain].concat(),
        [&[2u8][..], &plain].concat(),
        [&[0u8][..], &packed].concat(),
        [&[0u8][..], &batch].concat(),
    ]
}

/// Batch bodies.
pub fn batch_body() -> Vec<Vec<u8>> {
    let msgs = [
        message("T", b"first body", "0A000001000078BF0000000000000004"),
        message("T", b"", "0A000001000078BF0000000000000005"),
        message("T", &[0xff; 40], "0A000001000078BF0000000000000006"),
    ];
    vec![
        encode_batch(&msgs).expect("valid batch").to_vec(),
        encode_batch(&msgs[..1]).expect("valid batch").to_vec(),
    ]
}

/// Selector byte (kind in the low 2 bits, limit in bits 2..=3), then compressed data.
pub fn compressed() -> Vec<Vec<u8>> {
    let text = b"RocketMQ message body, repeated. ".repeat(16);
    let mut out = Vec::new();
    for (i, kind) in [
        CompressionType::Zlib,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let z = compress(kind, &text, 5).expect("compresses");
        for limit in [2u8, 3] {
            out.push([&[i as u8 | limit << 2][..], &z].concat());
        }
    }
    out
}

/// Seeds for the `message_id` target: offset ids (IPv4 and IPv6, upper and lower case, one
/// with an out-of-range port), unique ids written by the generator and by Go (lower-case
/// suffix), and the raw bytes of an IPv4 and an IPv6 id (the target also reads its input
/// hex-encoded).
pub fn message_id() -> Vec<Vec<u8>> {
    let v4 = offset_message_id(SocketAddr::from(([10, 93, 233, 58], 10_911)), 4_391_252);
    let v6 = offset_message_id(
        SocketAddr::from((
            [
                0x2408, 0x4004, 0x180, 0x8100, 0x3faa, 0x1dde, 0x2b3f, 0x898a,
            ],
            10_911,
        )),
        0xCA0,
    );
    let month_start = 1_706_745_600_000; // 2024-02-01T00:00Z
    let uniq_v4 = UniqIdGenerator::new(IpAddr::from([10, 1, 2, 3]), 0x1234_5678, -2, 0xFFFF)
        .next_with_month_start(month_start + 0x0102_0304, month_start);
    let uniq_v6 = UniqIdGenerator::new(IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, 1]), 7, 0, 0)
        .next_with_month_start(month_start - 500, month_start);
    let raw = |id: &str| -> Vec<u8> {
        (0..id.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&id[at..at + 2], 16).expect("hex"))
            .collect()
    };
    vec![
        v4.clone().into_bytes(),
        v4.to_lowercase().into_bytes(),
        v6.clone().into_bytes(),
        b"0AAF0895FFFFFFFF000000000009BB4A".to_vec(),
        uniq_v4.into_bytes(),
        uniq_v6.into_bytes(),
        b"0A0102030001000000000bb8000a0001".to_vec(),
        raw(&v4),
        raw(&v6),
    ]
}

/// Every message target's seeds.
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("message_decode", pull_body()),
        ("batch_decode", batch_body()),
        ("decompress", compressed()),
        ("message_id", message_id()),
    ]
}
