//! Arbitrary bytes as message ids: as text (lossy UTF-8), and hex-encoded in upper, lower and
//! mixed case. Both parsers (`OffsetMessageId::parse`, `UniqIdParts::parse`) never panic and
//! fail only with `BadMessageId` carrying the id as given.
//!
//! Against an independent reading of the digits: every id of 32 or 56 hex digits (either case)
//! is a unique id, and an offset id unless its port field is outside 0..=65535; nothing else
//! parses. A parsed offset id prints as the input in upper case (also through
//! `offset_message_id`); a parsed unique id is written again by a `UniqIdGenerator` with its
//! parts (Java's generator clamps a time diff in (-1 000 000, 0) ms to 0). The month-start
//! helpers `nearly_time_millis` relies on never panic and, away from the `i64` limits, bracket
//! the instant with month starts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketwire_core::message::{
    month_start_millis, next_month_start_millis, offset_message_id, MessageError, OffsetMessageId,
    UniqIdGenerator, UniqIdParts,
};

const DAY: i64 = 86_400_000;

/// The digits of `id` as bytes when it is 32 or 56 hex digits of either case.
fn id_bytes(id: &str) -> Option<Vec<u8>> {
    if !(id.len() == 32 || id.len() == 56) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..id.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(id.get(at..at + 2)?, 16).ok())
        .collect()
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xF)]])
        .map(char::from)
        .collect()
}

fn assert_bad_id<T: std::fmt::Debug>(result: &Result<T, MessageError>, id: &str) {
    match result {
        Err(MessageError::BadMessageId { id: given, reason }) => {
            assert_eq!(given, id);
            assert!(!reason.is_empty());
        }
        other => panic!("{id:?}: expected BadMessageId, got {other:?}"),
    }
}

fn check_id(id: &str, now: i64, utc_offset: i64) {
    let raw = id_bytes(id);
    let upper = id.to_ascii_uppercase();
    let ip_len = if id.len() == 32 { 4 } else { 16 };

    let offset_id = OffsetMessageId::parse(id);
    match (&offset_id, &raw) {
        (Ok(parsed), Some(_)) => {
            assert_eq!(parsed.to_string(), upper);
            assert_eq!(offset_message_id(parsed.addr, parsed.offset), upper);
            assert_eq!(OffsetMessageId::parse(&upper).as_ref(), Ok(parsed));
            assert_eq!(parsed.addr.is_ipv4(), ip_len == 4);
        }
        (Ok(parsed), None) => panic!("{id:?} is not an id but parsed as {parsed:?}"),
        (Err(_), Some(raw)) => {
            let port = i32::from_be_bytes(raw[ip_len..ip_len + 4].try_into().expect("4 bytes"));
            assert!(
                u16::try_from(port).is_err(),
                "{id:?} is refused although its port {port} is in range"
            );
            assert_bad_id(&offset_id, id);
        }
        (Err(_), None) => assert_bad_id(&offset_id, id),
    }

    let parsed = UniqIdParts::parse(id);
    let Ok(parts) = parsed else {
        assert!(
            raw.is_none(),
            "{id:?} is refused as a unique id: {parsed:?}"
        );
        return assert_bad_id(&parsed, id);
    };
    assert!(raw.is_some(), "{id:?} is not an id but parsed as {parts:?}");
    assert_eq!(parts.ip.is_ipv4(), ip_len == 4);
    if let Ok(offset_id) = offset_id {
        assert_eq!(offset_id.addr.ip(), parts.ip);
    }
    let mut generator = UniqIdGenerator::new(
        parts.ip,
        u32::from(parts.pid),
        parts.class_loader_hash,
        parts.counter,
    );
    assert_eq!(generator.prefix(), &upper[..upper.len() - 12]);
    let diff = i64::from(parts.time_diff_millis);
    let written = generator.next_with_month_start(diff, 0);
    let clamped = (-999_999..0).contains(&diff);
    if clamped {
        let want = UniqIdParts {
            time_diff_millis: 0,
            ..parts
        };
        assert_eq!(UniqIdParts::parse(&written), Ok(want));
    } else {
        assert_eq!(written, upper);
    }
    // The counter goes on from the id's, wrapping at 16 bits.
    let next = generator.next_with_month_start(diff, 0);
    assert_eq!(
        UniqIdParts::parse(&next).map(|p| p.counter),
        Ok(parts.counter.wrapping_add(1))
    );
    for now in [now, 0, 1_709_212_455_678, i64::MIN, i64::MAX] {
        let _ = parts.nearly_time_millis(now, utc_offset);
    }
}

/// `month_start_millis` and `next_month_start_millis` at `millis` in a zone `utc_offset` ahead:
/// no panic anywhere; within ±10^15 ms (about 31 000 years) and offsets within ±10^14 ms, the
/// start is a local midnight at or before `millis`, the next start 28 to 31 days later and
/// after `millis`, and both are fixed points.
fn check_calendar(millis: i64, utc_offset: i64) {
    let _ = month_start_millis(millis, utc_offset);
    let _ = next_month_start_millis(millis, utc_offset);
    let (millis, utc_offset) = (
        millis % 1_000_000_000_000_000,
        utc_offset % 100_000_000_000_000,
    );
    let start = month_start_millis(millis, utc_offset);
    let next = next_month_start_millis(millis, utc_offset);
    assert!(start <= millis && millis < next, "{start} {millis} {next}");
    assert_eq!((start + utc_offset).rem_euclid(DAY), 0);
    assert!((28 * DAY..=31 * DAY).contains(&(next - start)));
    assert_eq!(month_start_millis(start, utc_offset), start);
    assert_eq!(month_start_millis(next - 1, utc_offset), start);
    assert_eq!(month_start_millis(next, utc_offset), next);
    assert_eq!(next_month_start_millis(start, utc_offset), next);
}

fuzz_target!(|data: &[u8]| {
    // Two instants from the first 16 bytes (zero-padded), for the calendar helpers.
    let word = |at: usize| {
        let mut w = [0u8; 8];
        for (i, b) in data.iter().skip(at).take(8).enumerate() {
            w[i] = *b;
        }
        i64::from_be_bytes(w)
    };
    let (now, utc_offset) = (word(0), word(8));
    check_calendar(now, utc_offset);

    check_id(&String::from_utf8_lossy(data), now, utc_offset);
    let hex = hex_upper(data);
    check_id(&hex, now, utc_offset);
    check_id(&hex.to_ascii_lowercase(), now, utc_offset);
    let mixed: String = hex
        .chars()
        .enumerate()
        .map(|(i, c)| match data.get(i / 2) {
            Some(b) if (b >> (i % 8)) & 1 == 1 => c.to_ascii_lowercase(),
            _ => c,
        })
        .collect();
    check_id(&mixed, now, utc_offset);
});
