//! Helpers shared by the fuzz targets and the seed generator: building frames around fuzz bytes,
//! reading a field map out of fuzz bytes, normalising commands for round-trip comparisons, and
//! a small bounded driver for [`ClientCore`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::codec::{encode_to_vec, LanguageCode, RemotingCommand, SerializeType};
use rocketwire_core::time::ManualWallClock;
use rocketwire_core::{ClientConfig, ClientCore, Event, Input, Output};

pub mod message_seeds;
pub mod ops;
pub mod ops_seeds;
pub mod seeds;

/// The one address the client fuzz target talks to (namesrv and broker at once).
pub const PEER: &str = "127.0.0.1:9876";

/// Topic the client target asks a route for.
pub const TOPIC: &str = "FuzzTopic";

/// A whole frame (with its length field) whose header word carries `ser` and `header.len()`.
/// A header longer than the 24-bit field is truncated to fit.
pub fn frame(ser: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let header = &header[..header.len().min(0x00FF_FFFF)];
    let frame_len = 4 + header.len() + body.len();
    let mut out = Vec::with_capacity(4 + frame_len);
    out.extend_from_slice(&(frame_len as u32).to_be_bytes());
    out.extend_from_slice(&((u32::from(ser) << 24) | header.len() as u32).to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// Reads a field map: entries separated by `0x00`, key and value split at the first `0x01`
/// (an entry without `0x01` has an empty value). Bytes are read as lossy UTF-8.
pub fn fields_from_bytes(data: &[u8]) -> BTreeMap<String, String> {
    data.split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (key, value) = match entry.iter().position(|&b| b == 1) {
                Some(at) => (&entry[..at], &entry[at + 1..]),
                None => (entry, &[][..]),
            };
            (
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect()
}

/// The inverse of [`fields_from_bytes`] for keys and values without `0x00`/`0x01`.
pub fn fields_to_bytes(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        out.push(1);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

/// What a command looks like after a JSON round trip: a language without a JSON name is
/// written as `OTHER`.
pub fn json_normal(mut cmd: RemotingCommand) -> RemotingCommand {
    if cmd.language.name().is_none() {
        cmd.language = LanguageCode::Other;
    }
    cmd
}

/// What a command looks like after a binary round trip: an empty remark is written as length 0
/// and read back as `None`; an ext field with an empty key or value is read back as absent
/// (Java reads a zero-length key or value as `null`).
pub fn binary_normal(mut cmd: RemotingCommand) -> RemotingCommand {
    if cmd.remark.as_deref() == Some("") {
        cmd.remark = None;
    }
    cmd.ext_fields.retain(|k, v| !k.is_empty() && !v.is_empty());
    cmd
}

/// Checks that a decoded header survives re-encoding in both serializations.
///
/// `ser` is the serialization it was read from. Re-encoding in the same one must give back
/// the same command (up to the documented normalisations); encoding in the other one must
/// either fail with a typed error (binary cannot carry every code) or give it back too.
pub fn assert_header_round_trips(cmd: &RemotingCommand, ser: SerializeType) {
    for target in [SerializeType::Json, SerializeType::RocketMq] {
        let bytes = match encode_to_vec(cmd, target) {
            Ok(bytes) => bytes,
            Err(e) => {
                assert!(
                    target == SerializeType::RocketMq && target != ser,
                    "re-encoding {cmd:?} as {target:?} failed: {e}"
                );
                continue;
            }
        };
        let mut buf = bytes::BytesMut::from(&bytes[..]);
        let back = rocketwire_core::FrameDecoder::new(usize::MAX)
            .decode(&mut buf)
            .unwrap_or_else(|e| panic!("re-encoded {cmd:?} as {target:?} does not decode: {e}"))
            .expect("a whole frame");
        assert!(buf.is_empty(), "decoder left {} bytes", buf.len());
        let want = match target {
            SerializeType::Json => json_normal(cmd.clone()),
            SerializeType::RocketMq => binary_normal(cmd.clone()),
        };
        assert_eq!(back, want, "{ser:?} -> {target:?} round trip");
    }
}

/// The body of the `json_header` and `binary_header` targets: `data` as a header in `ser`,
/// framed with a body. Decoding must not panic, the framed and bare decodes agree, and a
/// decoded header survives re-encoding.
pub fn check_header(ser: SerializeType, data: &[u8]) {
    if data.len() > 0x00FF_FFFF {
        return;
    }
    let bytes = frame(ser.code(), data, b"BODY");
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let framed = rocketwire_core::FrameDecoder::new(usize::MAX).decode(&mut buf);
    let bare = rocketwire_core::codec::decode_header(ser, data);
    match (framed, bare) {
        (Ok(Some(cmd)), Ok(mut header)) => {
            assert!(buf.is_empty());
            assert_eq!(&cmd.body[..], b"BODY");
            header.body = cmd.body.clone();
            assert_eq!(cmd, header);
            header.body = Bytes::new();
            assert_header_round_trips(&header, ser);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        other => panic!("framed and bare decodes disagree: {other:?}"),
    }
}

/// Draws chunk lengths (1..=64) and time steps from a seed byte (a tiny LCG), so one input
/// describes both the byte stream and how it is cut.
#[derive(Debug)]
pub struct Cutter(u32);

impl Cutter {
    /// A cutter seeded with `seed`.
    pub fn new(seed: u8) -> Self {
        Self(u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1))
    }

    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        self.0 >> 16
    }

    /// The next chunk length, 1..=64.
    pub fn chunk(&mut self) -> usize {
        (self.next() % 64) as usize + 1
    }

    /// The next draw below `n` (`n` ≥ 1).
    pub fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }

    /// The next time step in milliseconds: 0 seven times in eight, else 1..=1023 (a request
    /// times out after 3 s, so long inputs still reach timeouts).
    pub fn step(&mut self) -> u64 {
        let r = self.next();
        if r & 7 == 0 {
            u64::from((r >> 3) % 1023 + 1)
        } else {
            0
        }
    }
}

/// Most outputs one drain may produce before it is deemed not to terminate.
pub const MAX_DRAIN: usize = 10_000;

/// A client core with one route query and one raw invocation in flight on one open
/// connection to [`PEER`] (opaques 1 and 2), ready for broker bytes.
#[derive(Debug)]
pub struct ClientHarness {
    /// The core.
    pub core: ClientCore,
    /// The current instant.
    pub now: Instant,
    /// The connection to the peer, once asked for.
    pub conn: Option<rocketwire_core::ConnId>,
    /// Outputs seen so far.
    pub outputs: usize,
    /// Frames the core wrote (the first 64).
    pub transmits: Vec<(Bytes, Bytes)>,
    /// Every connection the core asked for.
    pub known: Vec<rocketwire_core::ConnId>,
    /// Events seen: successful routes, responses, answered requests, peer errors.
    pub seen: Seen,
}

/// Counts of the events a [`ClientHarness`] saw (to check that seeds reach deep states).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `Event::Route` with a route.
    pub routes_ok: usize,
    /// `Event::Route` with an error.
    pub routes_err: usize,
    /// `Event::Response` with a response.
    pub responses_ok: usize,
    /// Broker requests answered.
    pub answered: usize,
    /// `Event::PeerError`.
    pub peer_errors: usize,
}

impl ClientHarness {
    /// A core at a fixed instant, with the two requests sent and the connection up.
    pub fn start() -> Self {
        let now = Instant::now();
        let config = ClientConfig::new(vec![PEER.to_string()]);
        let core = ClientCore::new(
            config,
            Box::new(ManualWallClock::new(1_700_000_000_000)),
            7,
            now,
        );
        let mut h = Self {
            core,
            now,
            conn: None,
            outputs: 0,
            transmits: Vec::new(),
            known: Vec::new(),
            seen: Seen::default(),
        };
        let now = h.now;
        h.core.query_route(now, TOPIC);
        let cmd = RemotingCommand::request_code(34).with_field("topic", TOPIC);
        h.core.invoke(now, PEER, cmd, Duration::from_secs(3));
        h.drain();
        let conn = h.conn.expect("the core asked for a connection");
        h.input(Input::Connected(conn));
        h
    }

    /// Feeds one input, then drains.
    pub fn input(&mut self, input: Input) {
        self.core.handle_input(self.now, input);
        self.drain();
    }

    /// Moves time on by `ms` and reports the timeout.
    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.input(Input::Timeout);
    }

    /// Drains `poll_output`, checking its invariants: it terminates, every deadline is in the
    /// future. Broker→client requests that expect an answer are answered.
    pub fn drain(&mut self) {
        for _ in 0..MAX_DRAIN {
            self.outputs += 1;
            match self.core.poll_output(self.now) {
                Output::Connect { conn, addr } => {
                    assert!(!self.known.contains(&conn), "connection id {conn:?} reused");
                    self.known.push(conn);
                    if addr == PEER && self.conn.is_none() {
                        self.conn = Some(conn);
                    }
                }
                Output::Transmit { conn, head, body } => {
                    assert!(
                        self.known.contains(&conn),
                        "transmit on an unknown connection"
                    );
                    if self.transmits.len() < 64 {
                        self.transmits.push((head, body));
                    }
                }
                Output::Close { conn } => {
                    if Some(conn) == self.conn {
                        self.conn = None;
                    }
                }
                Output::Event(Event::Request(request)) => {
                    if let Some(token) = request.token {
                        let response = RemotingCommand::response_to(
                            &request.command,
                            rocketwire_core::ResponseCode::Success,
                        );
                        self.core.answer(self.now, token, response);
                        self.seen.answered += 1;
                    }
                }
                Output::Event(Event::Route { result, .. }) => match result {
                    Ok(_) => self.seen.routes_ok += 1,
                    Err(_) => self.seen.routes_err += 1,
                },
                Output::Event(Event::Response { result: Ok(_), .. }) => self.seen.responses_ok += 1,
                Output::Event(Event::PeerError { .. }) => self.seen.peer_errors += 1,
                Output::Event(_) => {}
                Output::Timeout(at) => {
                    assert!(
                        at > self.now,
                        "deadline {at:?} is not after now {:?}",
                        self.now
                    );
                    return;
                }
                Output::Idle => return,
            }
        }
        panic!("poll_output did not settle within {MAX_DRAIN} outputs");
    }

    /// Feeds `stream` as received bytes cut by `cutter`, moving time between chunks, then
    /// closes the connection and lets every timer fire.
    pub fn run(&mut self, stream: &[u8], cutter: &mut Cutter) {
        let mut rest = stream;
        while !rest.is_empty() {
            let n = cutter.chunk().min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            match self.conn {
                Some(conn) => self.input(Input::Received(conn, Bytes::copy_from_slice(chunk))),
                None => break,
            }
            let step = cutter.step();
            if step > 0 {
                self.advance(step);
            }
        }
        if let Some(conn) = self.conn {
            self.input(Input::Closed(conn));
        }
        self.advance(60_000);
        assert_eq!(
            self.core.remoting().pending_count(),
            0,
            "requests left pending"
        );
        self.core.close(self.now);
        self.drain();
    }
}

/// Reads an offset table out of fuzz bytes (the `offset_file` target's table to write):
/// entries separated by `0x00`, each `topic 0x01 brokerName 0x01 queueId 0x01 offset` with the
/// numbers in decimal (missing or unparsable: 0). Text is read as lossy UTF-8; a later entry
/// for the same queue replaces an earlier one.
pub fn offset_table_from_bytes(data: &[u8]) -> BTreeMap<MessageQueue, i64> {
    let text = |part: Option<&[u8]>| String::from_utf8_lossy(part.unwrap_or_default()).into_owned();
    data.split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(4, |&b| b == 1);
            let topic = text(parts.next());
            let broker = text(parts.next());
            let queue_id = text(parts.next()).parse().unwrap_or(0);
            let offset = text(parts.next()).parse().unwrap_or(0);
            (MessageQueue::new(topic, broker, queue_id), offset)
        })
        .collect()
}

/// Inserts whitespace between the tokens of JSON (or fastjson) text, never inside a string:
/// after every `{`, `[`, `,` and `:`, and before every `}` and `]`, one of nothing, ` `, `\t`,
/// `\n` or `\r\n\t\t`, drawn from `cutter`. The result means what `json` means (Java writes
/// offset files pretty-printed this way).
pub fn spread_whitespace(json: &[u8], cutter: &mut Cutter) -> Vec<u8> {
    const GAPS: [&[u8]; 5] = [b"", b" ", b"\t", b"\n", b"\r\n\t\t"];
    let mut gap = |out: &mut Vec<u8>| out.extend_from_slice(GAPS[cutter.below(5) as usize]);
    let mut out = Vec::with_capacity(json.len() * 2);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if matches!(b, b'}' | b']') {
            gap(&mut out);
        }
        out.push(b);
        match b {
            b'"' => in_string = true,
            b'{' | b'[' | b',' | b':' => gap(&mut out),
            _ => {}
        }
    }
    out
}

/// Encodes a response (JSON header) for the client target's requests.
pub fn response_frame(cmd: &RemotingCommand, ser: SerializeType) -> Vec<u8> {
    encode_to_vec(cmd, ser).expect("encodable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_seed_reaches_route_response_and_request() {
        let seed = &seeds::client_core_bytes()[0];
        let mut h = ClientHarness::start();
        h.run(&seed[1..], &mut Cutter::new(seed[0]));
        assert_eq!((h.seen.routes_ok, h.seen.routes_err), (1, 0));
        assert_eq!(h.seen.responses_ok, 1);
        assert_eq!(h.seen.peer_errors, 0);
        // Two requests, then an answer to the broker's unknown request (from the harness, or
        // from the core when it answers such requests itself).
        let answers = h
            .transmits
            .iter()
            .filter_map(|(head, _)| {
                let mut buf = bytes::BytesMut::from(&head[..]);
                rocketwire_core::FrameDecoder::new(usize::MAX)
                    .decode(&mut buf)
                    .ok()?
            })
            .filter(|cmd| cmd.is_response() && cmd.opaque == 78)
            .count();
        assert_eq!(answers, 1, "transmits: {:?}", h.transmits);
    }

    #[test]
    fn client_garbage_closes_the_connection_and_fails_requests() {
        let mut h = ClientHarness::start();
        h.run(&[0xff; 16], &mut Cutter::new(0));
        assert_eq!(h.seen.peer_errors, 1);
        assert_eq!(h.seen.routes_err, 1);
        assert_eq!(h.seen.responses_ok, 0);
    }

    #[test]
    fn fields_parse_and_print() {
        let bytes = fields_to_bytes(&[("a", "1"), ("b", "")]);
        let fields = fields_from_bytes(&bytes);
        assert_eq!(fields.get("a").map(String::as_str), Some("1"));
        assert_eq!(fields.get("b").map(String::as_str), Some(""));
        assert_eq!(fields.len(), 2);
    }

    #[test]
    fn seeds_are_valid_inputs() {
        use rocketwire_core::body::*;
        use rocketwire_core::codec::decode_header;
        use rocketwire_core::message::{decode_batch, decode_messages};

        for s in seeds::route_json() {
            TopicRouteData::decode(&s).unwrap();
        }
        for (sel, body) in seeds::bodies() {
            let b = body.as_bytes();
            let ok = match sel {
                0 => ResetOffsetBody::decode(b).is_ok(),
                1 => GetConsumerStatusBody::decode(b).is_ok(),
                2 => ConsumerRunningInfo::decode(b).is_ok(),
                3 => ConsumeMessageDirectlyResult::decode(b).is_ok(),
                4 => HeartbeatData::decode(b).is_ok(),
                5 => LockBatchRequestBody::decode(b).is_ok(),
                6 => LockBatchResponseBody::decode(b).is_ok(),
                7 => UnlockBatchRequestBody::decode(b).is_ok(),
                8 => GetConsumerListByGroupResponseBody::decode(b).is_ok(),
                9 => ClusterInfo::decode(b).is_ok(),
                _ => TopicRouteData::decode(b).is_ok(),
            };
            assert!(ok, "body seed {sel} does not decode");
        }
        for s in seeds::json_header() {
            decode_header(SerializeType::Json, &s).unwrap();
        }
        for s in seeds::binary_header() {
            decode_header(SerializeType::RocketMq, &s).unwrap();
        }
        let counts: Vec<usize> = message_seeds::pull_body()
            .iter()
            .map(|s| {
                decode_messages(&Bytes::copy_from_slice(&s[1..]))
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(counts, [4, 4, 3, 1]);
        for s in message_seeds::batch_body() {
            assert!(!decode_batch(&Bytes::from(s), "T").unwrap().is_empty());
        }
    }

    #[test]
    fn offset_file_and_message_id_seeds_are_valid_inputs() {
        use rocketwire_core::consumer::{decode_offset_file, OffsetFileError};
        use rocketwire_core::message::{OffsetMessageId, UniqIdParts};

        let files = seeds::offset_file();
        let sizes: Vec<Result<usize, OffsetFileError>> = files
            .iter()
            .map(|f| decode_offset_file(f).map(|t| t.len()))
            .collect();
        assert!(matches!(
            &sizes[..],
            [
                Ok(3),
                Ok(2),
                Ok(2),
                Ok(1),
                Err(OffsetFileError::NegativeOffset { offset: -5, .. }),
                Err(OffsetFileError::Corrupt(_)),
            ]
        ));
        let written = offset_table_from_bytes(&files[5]);
        assert_eq!(written.len(), 2);
        assert_eq!(
            written.get(&MessageQueue::new("%RETRY%g", "broker-b", -1)),
            Some(&-3)
        );

        let ids = message_seeds::message_id();
        let text = |i: usize| std::str::from_utf8(&ids[i]).unwrap();
        for i in [0, 1, 2] {
            assert!(OffsetMessageId::parse(text(i)).is_ok(), "{}", text(i));
        }
        assert!(
            OffsetMessageId::parse(text(3)).is_err(),
            "port out of range"
        );
        for i in 3..7 {
            assert!(UniqIdParts::parse(text(i)).is_ok(), "{}", text(i));
        }
        assert_eq!((ids[7].len(), ids[8].len()), (16, 28));
    }

    #[test]
    fn whitespace_spreads_outside_strings_only() {
        let json = br#"{"a\"{":[1,{"b":"x y"}]}"#;
        let spread = spread_whitespace(json, &mut Cutter::new(3));
        let squeezed: Vec<u8> = {
            let (mut in_string, mut escaped) = (false, false);
            spread
                .iter()
                .copied()
                .filter(|&b| {
                    let keep = in_string || !b.is_ascii_whitespace();
                    if in_string {
                        match b {
                            _ if escaped => escaped = false,
                            b'\\' => escaped = true,
                            b'"' => in_string = false,
                            _ => {}
                        }
                    } else if b == b'"' {
                        in_string = true;
                    }
                    keep
                })
                .collect()
        };
        assert_eq!(squeezed, json);
        assert!(spread.len() > json.len());
    }

    #[test]
    fn every_target_has_seeds() {
        let all = seeds::all();
        assert_eq!(all.len(), 13);
        assert!(all.iter().all(|(_, inputs)| !inputs.is_empty()));
    }
}
