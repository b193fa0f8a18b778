//! Arbitrary bytes through `FrameDecoder`, whole and cut into chunks: both feeds must give the
//! same frames and the same first error; `Ok(None)` consumes nothing; every decoded command
//! survives re-encoding.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rocketwire_core::codec::{decode_frame, SerializeType};
use rocketwire_core::{CodecError, FrameDecoder, RemotingCommand};
use rocketwire_fuzz::{assert_header_round_trips, Cutter};

const MAX: usize = 1 << 20;

/// Decodes everything in `buf`, returning the commands and the error that stopped it.
fn drain(
    dec: &mut FrameDecoder,
    buf: &mut BytesMut,
    out: &mut Vec<RemotingCommand>,
) -> Option<CodecError> {
    loop {
        let before = buf.len();
        match dec.decode(buf) {
            Ok(Some(cmd)) => {
                assert!(
                    buf.len() < before,
                    "a frame was decoded but nothing consumed"
                );
                out.push(cmd);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return None;
            }
            Err(e) => return Some(e),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };

    // Whole.
    let mut whole = Vec::new();
    let mut buf = BytesMut::from(stream);
    let whole_err = drain(&mut FrameDecoder::new(MAX), &mut buf, &mut whole);

    // Chunked.
    let mut cutter = Cutter::new(seed);
    let mut chunked = Vec::new();
    let mut chunked_err = None;
    let mut dec = FrameDecoder::new(MAX);
    let mut buf = BytesMut::new();
    let mut rest = stream;
    while !rest.is_empty() && chunked_err.is_none() {
        let (chunk, tail) = rest.split_at(cutter.chunk().min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        chunked_err = drain(&mut dec, &mut buf, &mut chunked);
    }
    assert_eq!(whole, chunked, "whole and chunked feeds disagree");
    assert_eq!(
        whole_err, chunked_err,
        "whole and chunked feeds fail differently"
    );

    // The standalone frame decoder agrees with the first frame.
    if stream.len() >= 4 {
        let declared = u32::from_be_bytes([stream[0], stream[1], stream[2], stream[3]]) as usize;
        if declared <= MAX && stream.len() >= 4 + declared {
            let direct = decode_frame(Bytes::copy_from_slice(&stream[4..4 + declared]));
            match (&direct, whole.first(), &whole_err) {
                (Ok(cmd), Some(first), _) => assert_eq!(cmd, first),
                (Err(e), None, Some(err)) => assert_eq!(e, err),
                other => panic!("decode_frame and FrameDecoder disagree: {other:?}"),
            }
            if let Ok(cmd) = direct {
                let ser = SerializeType::from_code(stream[4]).expect("decoded, so a known type");
                let mut header_only = cmd.clone();
                header_only.body = Bytes::new();
                assert_header_round_trips(&header_only, ser);
            }
        }
    }
});
