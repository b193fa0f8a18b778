//! Byte-level vectors for the remoting codec, taken from RocketMQ's own test suites and from
//! the header shapes Java and Go write (protocol facts §1.2–§1.4).

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use rocketwire_core::codec::{
    decode_frame, encode, encode_to_vec, CodecError, FrameDecoder, LanguageCode, RemotingCommand,
    SerializeType, FLAG_ONEWAY, FLAG_RESPONSE,
};

/// A whole frame (with its length field) around `header` and `body`.
fn frame(ser: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + header.len() + body.len()) as i32).to_be_bytes());
    out.push(ser);
    out.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

fn decode_one(bytes: &[u8]) -> RemotingCommand {
    let mut buf = BytesMut::from(bytes);
    let cmd = FrameDecoder::default()
        .decode(&mut buf)
        .expect("decodes")
        .expect("whole frame");
    assert!(buf.is_empty(), "frame fully consumed");
    cmd
}

fn cmd(code: i32, language: LanguageCode, version: i32, opaque: i32) -> RemotingCommand {
    RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag: 0,
        remark: None,
        ext_fields: BTreeMap::new(),
        body: Bytes::new(),
    }
}

// apache/rocketmq remoting/src/test/java/org/apache/rocketmq/remoting/protocol/
// RemotingCommandTest.java, testMarkProtocolType_JSONProtocolType: a JSON header of 261 bytes
// gives the header word {0, 0, 1, 5}.
#[test]
fn java_mark_protocol_type_json_261() {
    let base = cmd(103, LanguageCode::Java, 2333, 0);
    let base_len = encode(&base, SerializeType::Json).unwrap().0.len() - 8;
    // `,"remark":"…"` adds 12 bytes plus the remark itself.
    let remark = "x".repeat(261 - base_len - 12);
    let (head, _) = encode(&base.with_remark(remark), SerializeType::Json).unwrap();
    assert_eq!(head.len() - 8, 261);
    assert_eq!(head[4..8], [0, 0, 1, 5]);
}

// RemotingCommandTest.java, testMarkProtocolType_ROCKETMQProtocolType: a binary header of
// 16777215 bytes (the largest) gives the header word {1, -1, -1, -1}.
#[test]
fn java_mark_protocol_type_rocketmq_max() {
    let remark = "r".repeat(16_777_215 - 21);
    let big = cmd(103, LanguageCode::Java, 2333, 0).with_remark(remark);
    let (head, _) = encode(&big, SerializeType::RocketMq).unwrap();
    assert_eq!(head[4..8], [1, 0xff, 0xff, 0xff]);
    assert_eq!(decode_frame(head.slice(4..)).unwrap(), big);

    // One byte more does not fit the 24-bit length.
    let too_big = big.clone().with_remark("r".repeat(16_777_215 - 21 + 1));
    assert!(matches!(
        encode(&too_big, SerializeType::RocketMq),
        Err(CodecError::Unencodable(_))
    ));
}

// apache/rocketmq remoting/src/test/java/org/apache/rocketmq/remoting/protocol/
// RocketMQSerializableTest.java, testRocketMQProtocolEncodeAndDecode_WithoutRemarkWithoutExtFields:
// code 103 (REGISTER_BROKER), JAVA, version 2333, flag 0 -> 21 bytes. (The Java test takes the
// opaque from a counter; 7 here.)
const JAVA_BINARY_PLAIN: [u8; 21] = [
    0, 103, // code
    0,   // language JAVA
    0x09, 0x1d, // version 2333
    0, 0, 0, 7, // opaque
    0, 0, 0, 0, // flag
    0, 0, 0, 0, // remark length
    0, 0, 0, 0, // ext length
];

// Same file, ..._WithRemarkWithoutExtFields: remark "Sample Remark" -> 34 bytes, remark length
// 13 at offset 13, text at 17, ext length 0 at 30.
const JAVA_BINARY_REMARK: [u8; 34] = [
    0, 103, 0, 0x09, 0x1d, 0, 0, 0, 7, 0, 0, 0, 0, //
    0, 0, 0, 13, b'S', b'a', b'm', b'p', b'l', b'e', b' ', b'R', b'e', b'm', b'a', b'r', b'k', 0,
    0, 0, 0,
];

// Same file, ..._WithoutRemarkWithExtFields: ext {"key": "value"} -> 35 bytes, ext length 14
// at offset 17.
const JAVA_BINARY_EXT: [u8; 35] = [
    0, 103, 0, 0x09, 0x1d, 0, 0, 0, 7, 0, 0, 0, 0, //
    0, 0, 0, 0, //
    0, 0, 0, 14, //
    0, 3, b'k', b'e', b'y', 0, 0, 0, 5, b'v', b'a', b'l', b'u', b'e',
];

#[test]
fn java_binary_header_vectors() {
    let plain = cmd(103, LanguageCode::Java, 2333, 7);
    let with_remark = plain.clone().with_remark("Sample Remark");
    let with_ext = plain.clone().with_field("key", "value");
    for (command, header) in [
        (&plain, &JAVA_BINARY_PLAIN[..]),
        (&with_remark, &JAVA_BINARY_REMARK[..]),
        (&with_ext, &JAVA_BINARY_EXT[..]),
    ] {
        let expected = frame(1, header, b"");
        assert_eq!(
            encode_to_vec(command, SerializeType::RocketMq).unwrap(),
            expected
        );
        assert_eq!(&decode_one(&expected), command);
    }
    // The whole frame of the ext vector, spelled out: length 39, type 1, header length 35.
    assert_eq!(
        frame(1, &JAVA_BINARY_EXT, b"")[..8],
        [0, 0, 0, 39, 1, 0, 0, 35]
    );
}

// RocketMQSerializableTest.java, testFastEncode: code 1, remark "remark", opaque 1001,
// version 99, JAVA, flag 3, header {str: "s1", num: 100}. Java's fast path writes the typed
// header fields in declaration order (str, then num), not sorted.
#[test]
fn java_fast_encode_vector() {
    let header: &[u8] = &[
        0, 1, 0, 0, 99, 0, 0, 0x03, 0xe9, 0, 0, 0, 3, //
        0, 0, 0, 6, b'r', b'e', b'm', b'a', b'r', b'k', //
        0, 0, 0, 23, // ext length: (2 + 3 + 4 + 2) + (2 + 3 + 4 + 3)
        0, 3, b's', b't', b'r', 0, 0, 0, 2, b's', b'1', //
        0, 3, b'n', b'u', b'm', 0, 0, 0, 3, b'1', b'0', b'0',
    ];
    let decoded = decode_one(&frame(1, header, b""));
    let expected = RemotingCommand {
        flag: 3,
        ..cmd(1, LanguageCode::Java, 99, 1001)
    }
    .with_remark("remark")
    .with_field("str", "s1")
    .with_field("num", "100");
    assert_eq!(decoded, expected);
    assert!(decoded.is_response() && decoded.is_oneway());
    assert_eq!(decoded.flag, FLAG_RESPONSE | FLAG_ONEWAY);
}

// A JSON header exactly as Java writes it (fastjson, sorted keys, null remark omitted,
// serializeTypeCurrentRPC present; extFields in HashMap order). Values from RemotingCommandTest.java
// testEncodeAndDecode_FilledBodyWithExtFields (ExtFieldsHeader plus "key"), body from
// testEncodeAndDecode_FilledBody.
const JAVA_JSON_HEADER: &str = concat!(
    r#"{"code":103,"extFields":{"key":"value","doubleValue":"0.618","longValue":"23333333","#,
    r#""stringValue":"bilibili","intValue":"2333","booleanValue":"true"},"flag":0,"#,
    r#""language":"JAVA","opaque":0,"serializeTypeCurrentRPC":"JSON","version":2333}"#
);

#[test]
fn decodes_java_json_header() {
    let decoded = decode_one(&frame(0, JAVA_JSON_HEADER.as_bytes(), &[0, 1, 2, 3, 4]));
    let expected = cmd(103, LanguageCode::Java, 2333, 0)
        .with_field("stringValue", "bilibili")
        .with_field("intValue", "2333")
        .with_field("longValue", "23333333")
        .with_field("booleanValue", "true")
        .with_field("doubleValue", "0.618")
        .with_field("key", "value")
        .with_body(vec![0u8, 1, 2, 3, 4]);
    assert_eq!(decoded, expected);

    // We write the same members in the same order, with extFields sorted.
    let (head, body) = encode(&expected, SerializeType::Json).unwrap();
    assert_eq!(
        std::str::from_utf8(&head[8..]).unwrap(),
        concat!(
            r#"{"code":103,"extFields":{"booleanValue":"true","doubleValue":"0.618","#,
            r#""intValue":"2333","key":"value","longValue":"23333333","stringValue":"bilibili"},"#,
            r#""flag":0,"language":"JAVA","opaque":0,"serializeTypeCurrentRPC":"JSON","version":2333}"#
        )
    );
    assert_eq!(&body[..], &[0, 1, 2, 3, 4]);
}

// A JSON header as Go writes it (apache/rocketmq-client-go internal/remote/codec.go: struct
// order, always remark and extFields, language "GO", version 317). Code 192 and body
// "Hello RocketMQCodecs" as in codec_test.go TestCommandJsonEncodeDecode.
const GO_JSON_HEADER: &str =
    r#"{"code":192,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}"#;

#[test]
fn decodes_go_json_header() {
    let decoded = decode_one(&frame(
        0,
        GO_JSON_HEADER.as_bytes(),
        b"Hello RocketMQCodecs",
    ));
    assert_eq!(decoded.code, 192);
    assert_eq!(decoded.language, LanguageCode::Go);
    assert_eq!(decoded.version, 317);
    assert_eq!(decoded.opaque, 1);
    assert_eq!(decoded.flag, 0);
    assert_eq!(decoded.remark.as_deref(), Some(""));
    assert!(decoded.ext_fields.is_empty());
    assert_eq!(&decoded.body[..], b"Hello RocketMQCodecs");

    // A Go response with header fields (flag 1, extFields present).
    let resp = decode_one(&frame(
        0,
        br#"{"code":0,"language":"GO","version":317,"opaque":9,"flag":1,"remark":"","extFields":{"offset":"42"}}"#,
        b"",
    ));
    assert!(resp.is_response());
    assert_eq!(resp.field("offset"), Some("42"));
}

// Go's binary header (codec.go rmqCodec.encodeHeader) for the same command: language byte 9,
// an empty remark written as length 0.
#[test]
fn decodes_go_binary_header() {
    let header: &[u8] = &[
        0, 192, 9, 0x01, 0x3d, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let decoded = decode_one(&frame(1, header, b"Hello RocketMQCodecs"));
    let expected = cmd(192, LanguageCode::Go, 317, 1).with_body(&b"Hello RocketMQCodecs"[..]);
    assert_eq!(decoded, expected);
}

// protocol facts §1.4: an unknown language byte survives as `Unknown`, Java's valueOf
// returning null for it.
#[test]
fn unknown_language_byte() {
    let mut header = JAVA_BINARY_PLAIN;
    header[2] = 99;
    let decoded = decode_one(&frame(1, &header, b""));
    assert_eq!(decoded.language, LanguageCode::Unknown(99));
}
