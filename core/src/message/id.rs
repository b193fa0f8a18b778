//! Message ids (protocol §3.7): the broker's offset message id and the client's unique id
//! (`UNIQ_KEY`), plus the calendar helper the unique id needs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::MessageError;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A broker-assigned message id: store host and commit-log offset, hex-encoded upper case
/// (32 characters for IPv4, 56 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetMessageId {
    /// The storing broker's address.
    pub addr: SocketAddr,
    /// The message's commit-log offset.
    pub offset: i64,
}

impl OffsetMessageId {
    /// Parses an offset message id (either case). Like Java's `decodeMessageId`, a 32-character
    /// id carries an IPv4 address, a 56-character one an IPv6 address.
    pub fn parse(id: &str) -> Result<Self, MessageError> {
        let bad = |reason| MessageError::BadMessageId {
            id: id.to_owned(),
            reason,
        };
        let bytes = hex_decode(id).ok_or_else(|| bad("not hex"))?;
        let ip_len = match bytes.len() {
            16 => 4,
            28 => 16,
            _ => return Err(bad("length is neither 32 nor 56 characters")),
        };
        let (ip, rest) = bytes.split_at(ip_len);
        let ip = ip_from_bytes(ip).ok_or_else(|| bad("bad address"))?;
        let port = i32::from_be_bytes(array(rest, 0).ok_or_else(|| bad("short"))?);
        let port = u16::try_from(port).map_err(|_| bad("port out of range"))?;
        let offset = i64::from_be_bytes(array(rest, 4).ok_or_else(|| bad("short"))?);
        Ok(OffsetMessageId {
            addr: SocketAddr::new(ip, port),
            offset,
        })
    }
}

impl fmt::Display for OffsetMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = ip_bytes(self.addr.ip());
        bytes.extend_from_slice(&i32::from(self.addr.port()).to_be_bytes());
        bytes.extend_from_slice(&self.offset.to_be_bytes());
        f.write_str(&hex_upper(&bytes))
    }
}

/// The offset message id of a stored message (Java `MessageDecoder.createMessageId`).
pub fn offset_message_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    OffsetMessageId {
        addr: store_host,
        offset: commit_log_offset,
    }
    .to_string()
}

/// Generates client unique ids (`UNIQ_KEY`) exactly as Java's `MessageClientIDSetter`:
///
/// ```text
/// ip (4 | 16 bytes) | pid (low 16 bits) | classloader hash (i32) | ms since month start (i32) | counter (u16)
/// ```
///
/// hex-encoded upper case. Every input is injected: the core has no clock, no network
/// interfaces and no process id. Java computes the month start in the JVM's local time zone;
/// pass that zone's UTC offset to [`UniqIdGenerator::next`] (0 for UTC), or compute the month
/// start yourself and use [`UniqIdGenerator::next_with_month_start`].
#[derive(Debug, Clone)]
pub struct UniqIdGenerator {
    prefix: String,
    counter: u16,
    month: Option<(i64, i64)>,
}

impl UniqIdGenerator {
    /// A generator for this process. `pid` is truncated to its low 16 bits as Java does;
    /// `class_loader_hash` stands for Java's `ClassLoader.hashCode()` (any per-process value);
    /// `counter_start` is 0 in Java.
    pub fn new(ip: IpAddr, pid: u32, class_loader_hash: i32, counter_start: u16) -> Self {
        let mut bytes = ip_bytes(ip);
        bytes.extend_from_slice(&(pid as u16).to_be_bytes());
        bytes.extend_from_slice(&class_loader_hash.to_be_bytes());
        UniqIdGenerator {
            prefix: hex_upper(&bytes),
            counter: counter_start,
            month: None,
        }
    }

    /// The per-process prefix (ip, pid, classloader hash) in hex.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The next id at wall-clock time `wall_millis` (ms since the Unix epoch) in a zone
    /// `utc_offset_millis` ahead of UTC. Like Java, the month start is cached and recomputed
    /// only once the clock reaches the next month.
    pub fn next(&mut self, wall_millis: i64, utc_offset_millis: i64) -> String {
        let start = match self.month {
            Some((start, next)) if wall_millis < next => start,
            _ => {
                let start = month_start_millis(wall_millis, utc_offset_millis);
                let next = next_month_start_millis(wall_millis, utc_offset_millis);
                self.month = Some((start, next));
                start
            }
        };
        self.next_with_month_start(wall_millis, start)
    }

    /// The next id for a caller-computed month start.
    pub fn next_with_month_start(&mut self, wall_millis: i64, month_start_millis: i64) -> String {
        // Java: `(int) (current - startTime)`, small negative values (clock steps) become 0.
        let mut diff = wall_millis.wrapping_sub(month_start_millis) as i32;
        if diff < 0 && diff > -1_000_000 {
            diff = 0;
        }
        let counter = self.counter;
        self.counter = self.counter.wrapping_add(1);
        let mut suffix = [0u8; 6];
        suffix[..4].copy_from_slice(&diff.to_be_bytes());
        suffix[4..].copy_from_slice(&counter.to_be_bytes());
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        id.push_str(&hex_upper(&suffix));
        id
    }
}

/// The parts of a client unique id (Java `MessageClientIDSetter` layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UniqIdParts {
    /// The producer's address.
    pub ip: IpAddr,
    /// Low 16 bits of the producer's process id.
    pub pid: u16,
    /// The producer's classloader hash (0 for Go producers).
    pub class_loader_hash: i32,
    /// Milliseconds since the start of the month (Go: whole seconds × 1000).
    pub time_diff_millis: i32,
    /// Per-process counter.
    pub counter: u16,
}

impl UniqIdParts {
    /// Parses a unique id (either case: Go writes the time and counter in lower case).
    pub fn parse(id: &str) -> Result<Self, MessageError> {
        let bad = |reason| MessageError::BadMessageId {
            id: id.to_owned(),
            reason,
        };
        let bytes = hex_decode(id).ok_or_else(|| bad("not hex"))?;
        let ip_len = match bytes.len() {
            16 => 4,
            28 => 16,
            _ => return Err(bad("length is neither 32 nor 56 characters")),
        };
        let (ip, rest) = bytes.split_at(ip_len);
        let ip = ip_from_bytes(ip).ok_or_else(|| bad("bad address"))?;
        let short = || bad("short");
        Ok(UniqIdParts {
            ip,
            pid: u16::from_be_bytes(array(rest, 0).ok_or_else(short)?),
            class_loader_hash: i32::from_be_bytes(array(rest, 2).ok_or_else(short)?),
            time_diff_millis: i32::from_be_bytes(array(rest, 6).ok_or_else(short)?),
            counter: u16::from_be_bytes(array(rest, 10).ok_or_else(short)?),
        })
    }

    /// Approximate creation time (ms since the epoch) as Java's `getNearlyTimeFromID` computes
    /// it at `now_millis`: the current month's start plus the (unsigned) diff, or the previous
    /// month's start if that would not be in the past.
    pub fn nearly_time_millis(&self, now_millis: i64, utc_offset_millis: i64) -> i64 {
        let span = i64::from(self.time_diff_millis as u32);
        let mut start = month_start_millis(now_millis, utc_offset_millis);
        if start.saturating_add(span) >= now_millis {
            start = month_start_millis(start.saturating_sub(1), utc_offset_millis);
        }
        start.saturating_add(span)
    }
}

/// Start (00:00:00.000 on day 1) of the month containing `millis`, in a zone
/// `utc_offset_millis` ahead of UTC, as ms since the Unix epoch. Java's unique ids use the
/// JVM's local zone; pass its offset (0 for UTC).
pub fn month_start_millis(millis: i64, utc_offset_millis: i64) -> i64 {
    let local = millis.saturating_add(utc_offset_millis);
    let (year, month, _) = civil_from_days(local.div_euclid(MILLIS_PER_DAY));
    days_from_civil(year, month, 1)
        .saturating_mul(MILLIS_PER_DAY)
        .saturating_sub(utc_offset_millis)
}

/// Start of the month after the one containing `millis` (same conventions as
/// [`month_start_millis`]).
pub fn next_month_start_millis(millis: i64, utc_offset_millis: i64) -> i64 {
    let local = millis.saturating_add(utc_offset_millis);
    let (year, month, _) = civil_from_days(local.div_euclid(MILLIS_PER_DAY));
    let (year, month) = if month == 12 {
        (year.saturating_add(1), 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(year, month, 1)
        .saturating_mul(MILLIS_PER_DAY)
        .saturating_sub(utc_offset_millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub(crate) fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else {
        <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
    }
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let raw = s.as_bytes();
    if raw.len() % 2 != 0 {
        return None;
    }
    raw.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    // rocketmq-client-go primitive/message_test.go (TestMessageID).
    #[test]
    fn go_offset_id_vector() {
        let id = OffsetMessageId::parse("0AAF0895000078BF000000000009BB4A").unwrap();
        assert_eq!(id.addr, addr("10.175.8.149:30911"));
        assert_eq!(id.offset, 637_770);
        assert_eq!(id.to_string(), "0AAF0895000078BF000000000009BB4A");
    }

    // rocketmq-client-go primitive/result_test.go (TestCreateMessageId): Go prints lower case,
    // Java (and we) upper case.
    #[test]
    fn go_create_message_id_vector() {
        let id = offset_message_id(addr("10.93.233.58:10911"), 4_391_252);
        assert_eq!(id, "0A5DE93A00002A9F0000000000430154");
        let parsed = OffsetMessageId::parse(&id.to_lowercase()).unwrap();
        assert_eq!(parsed.offset, 4_391_252);
    }

    // apache/rocketmq common/src/test/java/org/apache/rocketmq/common/message/
    // MessageClientIDSetterTest.java (testGetIPStrFromID) uses these ids; both are offset-id
    // shaped (port 0x2A9F = 10911).
    #[test]
    fn java_ids_ipv4_and_ipv6() {
        let v4 = OffsetMessageId::parse("C0A803CA00002A9F0000000000031367").unwrap();
        assert_eq!(v4.addr, addr("192.168.3.202:10911"));
        assert_eq!(v4.offset, 0x31367);
        let v6 = OffsetMessageId::parse("24084004018081003FAA1DDE2B3F898A00002A9F0000000000000CA0")
            .unwrap();
        assert_eq!(
            v6.addr,
            addr("[2408:4004:180:8100:3faa:1dde:2b3f:898a]:10911")
        );
        assert_eq!(v6.offset, 0xCA0);
        assert_eq!(
            v6.to_string(),
            "24084004018081003FAA1DDE2B3F898A00002A9F0000000000000CA0"
        );
        let parts = UniqIdParts::parse("C0A803CA00002A9F0000000000031367").unwrap();
        assert_eq!(parts.ip, "192.168.3.202".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_ids() {
        for id in [
            "",
            "0AAF0895000078BF000000000009BB4",
            "0AAF0895000078BF000000000009BB4G",
            "0AAF0895000078BF000000000009BB4A00",
            "0AAF0895FFFFFFFF000000000009BB4A",
            "é0AF0895000078BF000000000009BB4",
        ] {
            assert!(
                matches!(
                    OffsetMessageId::parse(id),
                    Err(MessageError::BadMessageId { .. })
                ),
                "{id:?}"
            );
        }
    }

    #[test]
    fn month_start_utc_and_offsets() {
        // 2024-02-29T13:14:15.678Z = 1709212455678; month start 2024-02-01T00:00Z = 1706745600000.
        assert_eq!(month_start_millis(1_709_212_455_678, 0), 1_706_745_600_000);
        // next: 2024-03-01T00:00Z = 1709251200000.
        assert_eq!(
            next_month_start_millis(1_709_212_455_678, 0),
            1_709_251_200_000
        );
        // December rolls the year: 2023-12-31T23:00Z -> 2024-01-01T00:00Z = 1704067200000.
        assert_eq!(
            next_month_start_millis(1_704_063_600_000, 0),
            1_704_067_200_000
        );
        // At UTC+8, 2024-02-29T20:00Z is already March 1st locally: start = 2024-02-29T16:00Z.
        let eight = 8 * 3_600_000;
        assert_eq!(
            month_start_millis(1_709_236_800_000, eight),
            1_709_251_200_000 - eight
        );
        // Before the epoch: 1969-12-15 -> 1969-12-01 = -2678400000.
        assert_eq!(month_start_millis(-1_468_800_000, 0), -2_678_400_000);
        // Extremes do not panic.
        let _ = month_start_millis(i64::MAX, i64::MAX);
        let _ = next_month_start_millis(i64::MIN, i64::MIN);
    }

    #[test]
    fn uniq_id_layout_and_counter() {
        let ip = "10.1.2.3".parse().unwrap();
        let mut g = UniqIdGenerator::new(ip, 0x1234_5678, -2, 0xFFFF);
        assert_eq!(g.prefix(), "0A0102035678FFFFFFFE");
        let start = 1_706_745_600_000;
        let a = g.next(start + 0x0102_0304, 0);
        assert_eq!(a, "0A0102035678FFFFFFFE01020304FFFF");
        let b = g.next(start + 5, 0);
        assert_eq!(b, "0A0102035678FFFFFFFE000000050000");
        let parts = UniqIdParts::parse(&a).unwrap();
        assert_eq!(
            parts,
            UniqIdParts {
                ip,
                pid: 0x5678,
                class_loader_hash: -2,
                time_diff_millis: 0x0102_0304,
                counter: 0xFFFF
            }
        );
        assert_eq!(
            parts.nearly_time_millis(start + 0x0102_0304 + 10, 0),
            start + 0x0102_0304
        );
    }

    #[test]
    fn uniq_id_clamps_small_negative_diff_and_caches_month() {
        let mut g = UniqIdGenerator::new("::1".parse().unwrap(), 7, 0, 0);
        let start = 1_706_745_600_000; // 2024-02-01T00:00Z
        let first = g.next(start + 10, 0);
        assert_eq!(first.len(), 56);
        // Clock steps back 500 ms across the month boundary: cached start, clamped to 0.
        let back = g.next(start - 500, 0);
        assert_eq!(UniqIdParts::parse(&back).unwrap().time_diff_millis, 0);
        // Far back: not clamped.
        let far = g.next(start - 2_000_000, 0);
        assert_eq!(
            UniqIdParts::parse(&far).unwrap().time_diff_millis,
            -2_000_000
        );
        // Next month: recomputed.
        let march = 1_709_251_200_000;
        let m = g.next(march + 1, 0);
        assert_eq!(UniqIdParts::parse(&m).unwrap().time_diff_millis, 1);
        assert_eq!(UniqIdParts::parse(&m).unwrap().counter, 3);
    }

    #[test]
    fn go_style_lower_case_suffix_parses() {
        let p = UniqIdParts::parse("0A0102030001000000000bb8000a0001").unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert_eq!(p.time_diff_millis, 0x0bb8_000a_u32 as i32);
        assert_eq!(p.counter, 1);
    }
}
