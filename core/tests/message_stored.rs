//! Stored-message (pull body) decoding: golden records, Java test scenarios, malformed input.

use bytes::{BufMut, Bytes, BytesMut};
use rocketwire_core::message::{
    compress::compress, decode_messages, decode_messages_partial, decode_messages_with,
    encode_stored, sysflag, CompressionType, DecodeOptions, Message, MessageError, MessageExt,
    MAGIC_V1, MAGIC_V2,
};

/// A record written field by field, independently of `encode_stored` (layout of protocol §3.5).
#[allow(clippy::too_many_arguments)]
fn golden_record(
    magic: i32,
    sys_flag: i32,
    born: (&[u8], i32),
    store: (&[u8], i32),
    body: &[u8],
    topic: &[u8],
    props: &[u8],
) -> Vec<u8> {
    let mut rest = BytesMut::new();
    rest.put_i32(magic);
    rest.put_i32(0x1234_5678 & 0x7FFF_FFFF); // body crc (not checked by default)
    rest.put_i32(3); // queue id
    rest.put_i32(9); // flag
    rest.put_i64(77); // queue offset
    rest.put_i64(637_770); // commit log offset
    rest.put_i32(sys_flag);
    rest.put_i64(1_700_000_000_000); // born ts
    rest.put_slice(born.0);
    rest.put_i32(born.1);
    rest.put_i64(1_700_000_000_123); // store ts
    rest.put_slice(store.0);
    rest.put_i32(store.1);
    rest.put_i32(2); // reconsume times
    rest.put_i64(0); // prepared tx offset
    rest.put_i32(body.len() as i32);
    rest.put_slice(body);
    if magic == MAGIC_V2 {
        rest.put_i16(topic.len() as i16);
    } else {
        rest.put_i8(topic.len() as i8);
    }
    rest.put_slice(topic);
    rest.put_i16(props.len() as i16);
    rest.put_slice(props);
    let mut out = Vec::new();
    out.extend_from_slice(&(rest.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(&rest);
    out
}

fn ipv4_golden() -> Bytes {
    Bytes::from(golden_record(
        MAGIC_V1,
        0,
        (&[127, 0, 0, 1], 51000),
        (&[10, 175, 8, 149], 30911),
        b"hello!q!",
        b"abc",
        b"a\x01123\x02b\x01hello\x02c\x013.14\x02",
    ))
}

#[test]
fn golden_ipv4_record_decodes_every_field() {
    let bytes = ipv4_golden();
    let msgs = decode_messages(&bytes).unwrap();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.store_size as usize, bytes.len());
    assert_eq!(m.queue_id, 3);
    assert_eq!(m.message.flag, 9);
    assert_eq!(m.queue_offset, 77);
    assert_eq!(m.commit_log_offset, 637_770);
    assert_eq!(m.born_timestamp, 1_700_000_000_000);
    assert_eq!(m.store_timestamp, 1_700_000_000_123);
    assert_eq!(m.born_host, "127.0.0.1:51000".parse().unwrap());
    assert_eq!(m.store_host, "10.175.8.149:30911".parse().unwrap());
    assert_eq!(m.reconsume_times, 2);
    assert_eq!(m.topic(), "abc");
    assert_eq!(m.body().as_ref(), b"hello!q!");
    assert_eq!(m.message.property("a"), Some("123"));
    assert_eq!(m.message.property("b"), Some("hello"));
    assert_eq!(m.message.property("c"), Some("3.14"));
    // Store host 10.175.8.149:30911 and offset 637770 are the Go test vector's parts
    // (rocketmq-client-go primitive/message_test.go).
    assert_eq!(m.offset_msg_id, "0AAF0895000078BF000000000009BB4A");
    assert_eq!(m.msg_id(), "0AAF0895000078BF000000000009BB4A");
}

#[test]
fn msg_id_prefers_uniq_key() {
    let bytes = Bytes::from(golden_record(
        MAGIC_V1,
        0,
        (&[127, 0, 0, 1], 1),
        (&[127, 0, 0, 1], 2),
        b"x",
        b"t",
        b"UNIQ_KEY\x017F00000100002A9F0000000000000001\x02",
    ));
    let m = &decode_messages(&bytes).unwrap()[0];
    assert_eq!(m.msg_id(), "7F00000100002A9F0000000000000001");
    assert_ne!(m.msg_id(), m.offset_msg_id);
}

// Scenario of apache/rocketmq common/src/test/java/org/apache/rocketmq/common/message/
// MessageDecoderTest.java (testEncodeAndDecodeOnIPv6Host): born host
// 1050:0000:0000:0000:0005:0600:300c:326b, store host ::1, both IPv6 flags set; the decoded
// sysFlag is 48, queue id 1, commit log offset 123456, body "hello!q!", topic "abc".
#[test]
fn java_ipv6_scenario() {
    let born: [u8; 16] = "1050:0000:0000:0000:0005:0600:300c:326b"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let store: [u8; 16] = std::net::Ipv6Addr::LOCALHOST.octets();
    let mut raw = golden_record(
        MAGIC_V1,
        sysflag::BORN_HOST_V6 | sysflag::STORE_HOST_V6,
        (&born, 0),
        (&store, 0),
        b"hello!q!",
        b"abc",
        b"a\x01123\x02b\x01hello\x02c\x013.14\x02",
    );
    // queue id 1, commit log offset 123456 as in the Java test.
    raw[12..16].copy_from_slice(&1i32.to_be_bytes());
    raw[28..36].copy_from_slice(&123_456i64.to_be_bytes());
    let bytes = Bytes::from(raw);
    let m = &decode_messages(&bytes).unwrap()[0];
    assert_eq!(m.sys_flag, 48);
    assert_eq!(m.queue_id, 1);
    assert_eq!(m.commit_log_offset, 123_456);
    assert_eq!(m.body().as_ref(), b"hello!q!");
    assert_eq!(m.topic(), "abc");
    assert_eq!(
        m.born_host,
        "[1050::5:600:300c:326b]:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
    );
    // createMessageId(storeHost ::1 port 0, 123456): 16 + 4 + 8 bytes, 56 hex chars.
    assert_eq!(
        m.offset_msg_id,
        "0000000000000000000000000000000100000000000000000001E240"
    );
    // The encoder writes the same bytes, with the real body CRC:
    // zlib.crc32(b"hello!q!") & 0x7FFFFFFF == 0x3CD1C123.
    let re = encode_stored(m).unwrap();
    assert_eq!(re[8..12], 0x3CD1_C123i32.to_be_bytes());
    assert_eq!(re[..8], bytes[..8]);
    assert_eq!(re[12..], bytes[12..]);
}

#[test]
fn encoder_matches_golden_bytes() {
    let bytes = ipv4_golden();
    let m = &decode_messages(&bytes).unwrap()[0];
    let mut re = BytesMut::from(&encode_stored(m).unwrap()[..]);
    // The encoder computes the real CRC; the golden record carries an arbitrary one.
    re[8..12].copy_from_slice(&bytes[8..12]);
    assert_eq!(re.freeze(), bytes);
}

#[test]
fn v2_magic_two_byte_topic_length() {
    let topic = "t".repeat(300);
    let bytes = Bytes::from(golden_record(
        MAGIC_V2,
        0,
        (&[1, 2, 3, 4], 5),
        (&[1, 2, 3, 4], 6),
        b"body",
        topic.as_bytes(),
        b"",
    ));
    let m = &decode_messages(&bytes).unwrap()[0];
    assert_eq!(m.topic(), topic);
    assert!(m.message.properties().is_empty());
    assert_eq!(encode_stored(m).unwrap()[4..8], MAGIC_V2.to_be_bytes());
    // A short topic is written with V1.
    let short = MessageExt::from_message(Message::new("abc", "x"));
    assert_eq!(encode_stored(&short).unwrap()[4..8], MAGIC_V1.to_be_bytes());
}

#[test]
fn compressed_bodies_every_algorithm_and_legacy_type_zero() {
    let plain = Bytes::from(b"0123456789".repeat(1000));
    for (kind, type_bits) in [
        (CompressionType::Zlib, 0x000), // legacy: no type bits means zlib
        (CompressionType::Zlib, 0x300),
        (CompressionType::Lz4, 0x100),
        (CompressionType::Zstd, 0x200),
    ] {
        let mut ext =
            MessageExt::from_message(Message::new("T", compress(kind, &plain, 5).unwrap()));
        ext.sys_flag = sysflag::COMPRESSED | type_bits | sysflag::TRANSACTION_COMMIT_TYPE;
        let bytes = encode_stored(&ext).unwrap();
        let m = &decode_messages(&bytes).unwrap()[0];
        assert_eq!(m.body(), &plain, "{kind:?}");
        assert_eq!(m.sys_flag, type_bits | sysflag::TRANSACTION_COMMIT_TYPE);
    }
}

#[test]
fn bad_compression_bits_and_corrupt_zlib() {
    let mut ext = MessageExt::from_message(Message::new("T", Bytes::from_static(b"not zlib")));
    ext.sys_flag = sysflag::COMPRESSED | 0x400;
    let bytes = encode_stored(&ext).unwrap();
    assert_eq!(
        decode_messages(&bytes),
        Err(MessageError::UnknownCompressionType(4))
    );
    // Without the COMPRESSED bit the type bits are not looked at.
    ext.sys_flag = 0x700;
    assert!(decode_messages(&encode_stored(&ext).unwrap()).is_ok());

    ext.sys_flag = sysflag::COMPRESSED;
    let r = decode_messages(&encode_stored(&ext).unwrap());
    assert!(
        matches!(
            r,
            Err(MessageError::Decompress {
                kind: CompressionType::Zlib,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn truncated_at_every_offset() {
    let bytes = ipv4_golden();
    for cut in 1..bytes.len() {
        let r = decode_messages(&bytes.slice(..cut));
        assert!(
            matches!(
                r,
                Err(MessageError::Truncated { .. }) | Err(MessageError::BadLength { .. })
            ),
            "cut {cut}: {r:?}"
        );
    }
    // Two records, the second cut: Java keeps the first.
    let mut two = BytesMut::from(&bytes[..]);
    two.extend_from_slice(&bytes[..bytes.len() - 3]);
    let (ok, err) = decode_messages_partial(&two.freeze(), &DecodeOptions::default());
    assert_eq!(ok.len(), 1);
    assert!(matches!(err, Some(MessageError::Truncated { .. })));
}

fn patched(offset: usize, value: &[u8]) -> Bytes {
    let mut b = BytesMut::from(&ipv4_golden()[..]);
    b[offset..offset + value.len()].copy_from_slice(value);
    b.freeze()
}

#[test]
fn lying_lengths_are_typed_errors() {
    // Body length at 84 (after the 84-byte IPv4 prefix).
    assert_eq!(
        decode_messages(&patched(84, &1_000_000i32.to_be_bytes())),
        Err(MessageError::BadLength {
            field: "body",
            len: 1_000_000
        })
    );
    assert_eq!(
        decode_messages(&patched(84, &(-1i32).to_be_bytes())),
        Err(MessageError::BadLength {
            field: "body",
            len: -1
        })
    );
    // Body length that is too small: the rest no longer lines up.
    assert!(decode_messages(&patched(84, &2i32.to_be_bytes())).is_err());
    // Topic length byte at 96.
    assert_eq!(
        decode_messages(&patched(96, &[100])),
        Err(MessageError::BadLength {
            field: "topic",
            len: 100
        })
    );
    assert_eq!(
        decode_messages(&patched(96, &[0xFF])),
        Err(MessageError::BadLength {
            field: "topic",
            len: -1
        })
    );
    // Properties length at 100.
    assert_eq!(
        decode_messages(&patched(100, &i16::MAX.to_be_bytes())),
        Err(MessageError::BadLength {
            field: "properties",
            len: i16::MAX as i64
        })
    );
    assert!(matches!(
        decode_messages(&patched(100, &(-5i16).to_be_bytes())),
        Err(MessageError::BadLength { .. })
    ));
    // Properties shorter than declared remainder: fields end before TOTALSIZE.
    assert!(matches!(
        decode_messages(&patched(100, &1i16.to_be_bytes())),
        Err(MessageError::RecordSizeMismatch { .. })
    ));
    // Total size: huge, negative, tiny.
    assert!(matches!(
        decode_messages(&patched(0, &i32::MAX.to_be_bytes())),
        Err(MessageError::Truncated { .. })
    ));
    assert!(matches!(
        decode_messages(&patched(0, &(-8i32).to_be_bytes())),
        Err(MessageError::BadLength { .. })
    ));
    assert!(matches!(
        decode_messages(&patched(0, &4i32.to_be_bytes())),
        Err(MessageError::BadLength { .. })
    ));
    // Born port (at 52) and store port (at 68) out of range.
    assert_eq!(
        decode_messages(&patched(68, &(-1i32).to_be_bytes())),
        Err(MessageError::BadPort(-1))
    );
    assert_eq!(
        decode_messages(&patched(52, &70_000i32.to_be_bytes())),
        Err(MessageError::BadPort(70_000))
    );
}

#[test]
fn bad_magic() {
    assert_eq!(
        decode_messages(&patched(4, &0x1234_5678i32.to_be_bytes())),
        Err(MessageError::BadMagic(0x1234_5678))
    );
    let blank = 0xCBD4_3194_u32 as i32;
    assert_eq!(
        decode_messages(&patched(4, &blank.to_be_bytes())),
        Err(MessageError::BadMagic(blank))
    );
}

#[test]
fn decompression_limit_is_enforced() {
    let plain = vec![0u8; 1 << 20];
    let mut ext = MessageExt::from_message(Message::new(
        "T",
        compress(CompressionType::Zlib, &plain, 5).unwrap(),
    ));
    ext.sys_flag = sysflag::COMPRESSED;
    let bytes = encode_stored(&ext).unwrap();
    let opts = DecodeOptions::default().with_max_decompressed_len(1000);
    assert_eq!(
        decode_messages_with(&bytes, &opts),
        Err(MessageError::DecompressedTooLarge { max: 1000 })
    );
    assert_eq!(decode_messages(&bytes).unwrap()[0].body().len(), 1 << 20);
}

#[test]
fn empty_body_is_no_messages() {
    assert_eq!(decode_messages(&Bytes::new()), Ok(vec![]));
}
