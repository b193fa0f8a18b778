//! Arbitrary bytes as the broadcasting consumer's offset file, and as an offset table to write
//! (see `offset_table_from_bytes`).
//!
//! Reading a file never panics and fails only with the typed errors, each for its own reason:
//! `Empty` exactly for blank files, `Corrupt` with the error the `ResetOffsetBody` decoder
//! gives, `NegativeOffset` naming the first queue with a negative offset. A table that reads
//! back is the body's table, and writes a file that reads back to it, also with whitespace
//! spread between its tokens (Java's pretty form). Writing any table gives a file that reads
//! back to it, or to `NegativeOffset` when it holds a negative offset.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rocketwire_core::body::{MessageQueue, ResetOffsetBody};
use rocketwire_core::consumer::{decode_offset_file, encode_offset_file, OffsetFileError};
use rocketwire_fuzz::{offset_table_from_bytes, spread_whitespace, Cutter};

/// The first queue with a negative offset, as `NegativeOffset` reports it.
fn first_negative(table: &BTreeMap<MessageQueue, i64>) -> Option<OffsetFileError> {
    table
        .iter()
        .find(|(_, offset)| **offset < 0)
        .map(|(mq, offset)| OffsetFileError::NegativeOffset {
            queue: mq.to_string(),
            offset: *offset,
        })
}

/// Writes `table`, reads it back as written and pretty-printed, and checks both reads.
fn check_written(table: &BTreeMap<MessageQueue, i64>, cutter: &mut Cutter) {
    let want = first_negative(table).map_or_else(|| Ok(table.clone()), Err);
    let file = encode_offset_file(table);
    assert_eq!(
        decode_offset_file(&file),
        want,
        "written file: {}",
        String::from_utf8_lossy(&file)
    );
    let pretty = spread_whitespace(&file, cutter);
    assert_eq!(
        decode_offset_file(&pretty),
        want,
        "pretty file: {}",
        String::from_utf8_lossy(&pretty)
    );
}

fuzz_target!(|data: &[u8]| {
    let seed = data.first().copied().unwrap_or(0) ^ data.len() as u8;
    let mut cutter = Cutter::new(seed);

    let read = decode_offset_file(data);
    if data.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(read, Err(OffsetFileError::Empty));
    } else {
        let body = ResetOffsetBody::decode(data).map(|b| b.offset_table);
        match &read {
            Ok(table) => {
                assert_eq!(body.as_ref(), Ok(table));
                assert!(table.values().all(|offset| *offset >= 0));
                check_written(table, &mut cutter);
            }
            Err(OffsetFileError::Empty) => panic!("a file that is not blank read as empty"),
            Err(OffsetFileError::Corrupt(e)) => assert_eq!(body.as_ref(), Err(e)),
            Err(negative @ OffsetFileError::NegativeOffset { .. }) => {
                let table = body.expect("a file with a negative offset is a valid body");
                assert_eq!(first_negative(&table).as_ref(), Some(negative));
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    if let Err(e) = &read {
        assert!(!e.to_string().is_empty());
    }

    check_written(&offset_table_from_bytes(data), &mut cutter);
});
