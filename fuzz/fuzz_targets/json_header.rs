//! Arbitrary bytes as a JSON header (serialize type 0), framed with a body: decoding must not
//! panic, the framed and bare decodes agree, and a decoded header survives re-encoding.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rocketwire_core::codec::{decode_header, SerializeType};
use rocketwire_core::FrameDecoder;
use rocketwire_fuzz::{assert_header_round_trips, frame};

fuzz_target!(|data: &[u8]| {
    if data.len() > 0x00FF_FFFF {
        return;
    }
    let bytes = frame(0, data, b"BODY");
    let mut buf = BytesMut::from(&bytes[..]);
    let framed = FrameDecoder::new(usize::MAX).decode(&mut buf);
    let bare = decode_header(SerializeType::Json, data);
    match (framed, bare) {
        (Ok(Some(cmd)), Ok(mut header)) => {
            assert!(buf.is_empty());
            assert_eq!(&cmd.body[..], b"BODY");
            header.body = cmd.body.clone();
            assert_eq!(cmd, header);
            header.body = bytes::Bytes::new();
            assert_header_round_trips(&header, SerializeType::Json);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        other => panic!("framed and bare decodes disagree: {other:?}"),
    }
});
