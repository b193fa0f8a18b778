//! Incremental decoding, limits and property tests for the remoting codec.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rocketwire_core::codec::{
    decode_frame, decode_header, encode, encode_to_vec, CodecError, FrameDecoder, LanguageCode,
    RemotingCommand, RequestCode, ResponseCode, SerializeType,
};

fn samples() -> Vec<RemotingCommand> {
    let req = RemotingCommand::request(RequestCode::GetRouteInfoByTopic).with_field("topic", "T");
    vec![
        req.clone(),
        RemotingCommand::response_to(&req, ResponseCode::TopicNotExist).with_remark("no route"),
        RemotingCommand::request(RequestCode::SendMessageV2)
            .with_field("a", "group")
            .with_field("b", "topic")
            .with_body(vec![7u8; 1000]),
        RemotingCommand::request(RequestCode::HeartBeat).oneway(),
    ]
}

fn encode_all(cmds: &[RemotingCommand], ser: SerializeType) -> Vec<u8> {
    cmds.iter()
        .flat_map(|c| encode_to_vec(c, ser).unwrap())
        .collect()
}

/// Feeds `bytes` in the given chunks, draining the decoder after each.
fn feed(chunks: impl IntoIterator<Item = Vec<u8>>) -> Result<Vec<RemotingCommand>, CodecError> {
    let mut dec = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(&chunk);
        while let Some(cmd) = dec.decode(&mut buf)? {
            out.push(cmd);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

#[test]
fn several_frames_in_one_buffer() {
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let bytes = encode_all(&samples(), ser);
        assert_eq!(feed([bytes]).unwrap(), samples());
    }
}

#[test]
fn byte_by_byte() {
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let bytes = encode_all(&samples(), ser);
        let got = feed(bytes.iter().map(|b| vec![*b])).unwrap();
        assert_eq!(got, samples());
    }
}

#[test]
fn mixed_serializations_on_one_connection() {
    let mut bytes = Vec::new();
    for (i, c) in samples().iter().enumerate() {
        let ser = if i % 2 == 0 {
            SerializeType::RocketMq
        } else {
            SerializeType::Json
        };
        bytes.extend(encode_to_vec(c, ser).unwrap());
    }
    assert_eq!(feed([bytes]).unwrap(), samples());
}

#[test]
fn oversized_frame_rejected_from_length_alone() {
    let mut dec = FrameDecoder::new(1024);
    let mut buf = BytesMut::from(&1025i32.to_be_bytes()[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(CodecError::FrameTooLarge {
            len: 1025,
            max: 1024
        })
    );
    // The default limit: 16 MiB is fine to wait for, one more byte is not.
    let mut dec = FrameDecoder::default();
    let mut buf = BytesMut::from(&(16 * 1024 * 1024i32).to_be_bytes()[..]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    let mut buf = BytesMut::from(&(16 * 1024 * 1024 + 1i32).to_be_bytes()[..]);
    assert!(matches!(
        dec.decode(&mut buf),
        Err(CodecError::FrameTooLarge { .. })
    ));
}

#[test]
fn a_frame_after_a_bad_one_is_not_reached() {
    // A valid frame followed by a negative length: the first decodes, then the error.
    let mut bytes = encode_to_vec(&samples()[0], SerializeType::Json).unwrap();
    bytes.extend_from_slice(&(-8i32).to_be_bytes());
    let mut dec = FrameDecoder::default();
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(dec.decode(&mut buf).unwrap().as_ref(), Some(&samples()[0]));
    assert_eq!(dec.decode(&mut buf), Err(CodecError::BadFrameLength(-8)));
}

#[test]
fn header_errors_through_the_decoder() {
    type Check = fn(&CodecError) -> bool;
    let cases: Vec<(Vec<u8>, Check)> = vec![
        // header length 10 in a frame of 6
        (vec![0, 0, 0, 6, 0, 0, 0, 10, b'{', b'}'], |e| {
            matches!(
                e,
                CodecError::BadHeaderLength {
                    header: 10,
                    frame: 6
                }
            )
        }),
        // serialize type 7
        (vec![0, 0, 0, 6, 7, 0, 0, 2, b'{', b'}'], |e| {
            *e == CodecError::UnknownSerializeType(7)
        }),
        // JSON that is not an object
        (vec![0, 0, 0, 6, 0, 0, 0, 2, b'[', b']'], |e| {
            matches!(e, CodecError::BadJsonHeader(_))
        }),
        // binary header truncated to 2 bytes
        (vec![0, 0, 0, 6, 1, 0, 0, 2, 0, 10], |e| {
            matches!(e, CodecError::BadBinaryHeader(_))
        }),
    ];
    for (bytes, check) in cases {
        let err = FrameDecoder::default()
            .decode(&mut BytesMut::from(&bytes[..]))
            .unwrap_err();
        assert!(check(&err), "{bytes:?}: {err:?}");
    }
}

#[test]
fn empty_body_and_empty_header_fields() {
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let cmd = RemotingCommand::request_code(0);
        let (head, body) = encode(&cmd, ser).unwrap();
        assert!(body.is_empty());
        let decoded = decode_frame(head.slice(4..)).unwrap();
        assert_eq!(decoded, cmd);
    }
}

// ---- property tests ----

fn small_string() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", "[a-zA-Z0-9_]{0,20}"]
}

fn ext_fields() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(small_string(), small_string(), 0..6)
}

fn body() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

/// Commands that survive a JSON round trip: any code, a known language.
fn json_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i32>(),
        prop::sample::select(LanguageCode::ALL),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        prop::option::of(small_string()),
        ext_fields(),
        body(),
    )
        .prop_map(
            |(code, language, version, opaque, flag, remark, ext_fields, body)| RemotingCommand {
                code,
                language,
                version,
                opaque,
                flag,
                remark,
                ext_fields,
                body,
            },
        )
}

/// Commands that survive a binary round trip: 16-bit code and version, any language byte, no
/// empty remark (written as "no remark"), no empty ext key or value (read as Java's null).
fn binary_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        any::<u8>(),
        any::<i16>(),
        any::<i32>(),
        any::<i32>(),
        prop::option::of(".{1,12}"),
        ext_fields().prop_map(|mut m| {
            m.retain(|k, v| !k.is_empty() && !v.is_empty());
            m
        }),
        body(),
    )
        .prop_map(
            |(code, lang, version, opaque, flag, remark, ext_fields, body)| RemotingCommand {
                code: code.into(),
                language: LanguageCode::from_code(lang),
                version: version.into(),
                opaque,
                flag,
                remark,
                ext_fields,
                body,
            },
        )
}

fn any_command() -> impl Strategy<Value = (RemotingCommand, SerializeType)> {
    prop_oneof![
        json_command().prop_map(|c| (c, SerializeType::Json)),
        binary_command().prop_map(|c| (c, SerializeType::RocketMq)),
    ]
}

proptest! {
    #[test]
    fn json_round_trip(cmd in json_command()) {
        let bytes = encode_to_vec(&cmd, SerializeType::Json).unwrap();
        prop_assert_eq!(feed([bytes]).unwrap(), vec![cmd]);
    }

    #[test]
    fn binary_round_trip(cmd in binary_command()) {
        let bytes = encode_to_vec(&cmd, SerializeType::RocketMq).unwrap();
        prop_assert_eq!(feed([bytes]).unwrap(), vec![cmd]);
    }

    /// Frames of both serializations, concatenated and cut at arbitrary points.
    #[test]
    fn arbitrary_split_points(
        cmds in prop::collection::vec(any_command(), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes: Vec<u8> = cmds.iter().flat_map(|(c, s)| encode_to_vec(c, *s).unwrap()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let chunks: Vec<Vec<u8>> = points.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect();
        let expected: Vec<RemotingCommand> = cmds.into_iter().map(|(c, _)| c).collect();
        prop_assert_eq!(feed(chunks).unwrap(), expected);
    }

    /// Arbitrary bytes never panic the decoder, and it never reports more frames than fit.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), max in 0usize..512) {
        let mut dec = FrameDecoder::new(max);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut frames = 0;
        while let Ok(Some(_)) = dec.decode(&mut buf) {
            frames += 1;
        }
        prop_assert!(frames * 8 <= bytes.len());
        let _ = decode_frame(Bytes::from(bytes.clone()));
        let _ = decode_header(SerializeType::Json, &bytes);
        let _ = decode_header(SerializeType::RocketMq, &bytes);
    }

    /// Well-framed garbage headers reach the header decoders; they must answer, not panic,
    /// and a successful decode keeps the body.
    #[test]
    fn framed_garbage_headers(
        ser in 0u8..=1,
        header in prop::collection::vec(any::<u8>(), 0..96),
        body in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut frame = Vec::new();
        frame.push(ser);
        frame.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(&header);
        frame.extend_from_slice(&body);
        if let Ok(cmd) = decode_frame(Bytes::from(frame)) {
            prop_assert_eq!(&cmd.body[..], &body[..]);
        }
    }

    /// A valid frame with bytes of its header overwritten: never a panic.
    #[test]
    fn mutated_frames(
        (cmd, ser) in any_command(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = encode_to_vec(&cmd, ser).unwrap();
        let head_len = bytes.len() - cmd.body.len();
        for (at, value) in edits {
            let i = at.index(head_len);
            bytes[i] = value;
        }
        let mut dec = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = dec.decode(&mut buf) {}
    }
}
