//! A tiny readiness probe speaking the remoting protocol over `std::net::TcpStream`.
//!
//! Deliberately independent of the project's crates, so a cluster can be started and
//! checked even while the client is broken.
//!
//! Frame: `len:i32 BE | header_word:i32 BE | header | body`, with `len` counting everything
//! after itself and `header_word = serialize_type << 24 | header_len`. Requests use JSON
//! headers, Java-style with `serializeTypeCurrentRPC` (rocketmq-rust's servers close the
//! connection without a reply when that key is missing); replies are decoded in either encoding (JSON type 0, binary ROCKETMQ type 1,
//! whose header starts with `code:i16 BE`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GET_ROUTEINFO_BY_TOPIC.
pub(crate) const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
/// GET_BROKER_CLUSTER_INFO.
pub(crate) const GET_BROKER_CLUSTER_INFO: i32 = 106;
/// The topic auto-created by a broker with `autoCreateTopicEnable`.
pub(crate) const AUTO_CREATE_TOPIC: &str = "TBW102";

/// Largest reply accepted (the protocol's default frame limit).
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Response code (0 = success).
    pub(crate) code: i32,
    /// Body bytes.
    pub(crate) body: Vec<u8>,
}

/// Builds a request frame with a JSON header. `ext` values must not need JSON escaping
/// beyond what [`json_escape`] does.
pub(crate) fn request_frame(code: i32, opaque: i32, ext: &[(&str, &str)]) -> Vec<u8> {
    let fields: Vec<String> = ext
        .iter()
        .map(|(k, v)| format!("\"{}\":\"{}\"", json_escape(k), json_escape(v)))
        .collect();
    let header = format!(
        "{{\"code\":{code},\"extFields\":{{{}}},\"flag\":0,\"language\":\"RUST\",\"opaque\":{opaque},\"serializeTypeCurrentRPC\":\"JSON\",\"version\":479}}",
        fields.join(",")
    );
    let header = header.as_bytes();
    // Header lengths here are tiny; the casts cannot truncate.
    let header_len = header.len() as u32 & 0x00FF_FFFF;
    let frame_len = 4 + header_len;
    let mut frame = Vec::with_capacity(8 + header.len());
    frame.extend_from_slice(&frame_len.to_be_bytes());
    frame.extend_from_slice(&header_len.to_be_bytes()); // serialize type 0 = JSON
    frame.extend_from_slice(header);
    frame
}

fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Decodes a reply frame without its leading length field.
pub(crate) fn parse_reply(frame: &[u8]) -> Result<Reply, String> {
    let word = frame.get(..4).ok_or("reply shorter than its header word")?;
    let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    let serialize_type = word >> 24;
    let header_len = (word & 0x00FF_FFFF) as usize;
    let header = frame
        .get(4..4 + header_len)
        .ok_or("reply header longer than the frame")?;
    let body = frame.get(4 + header_len..).unwrap_or_default().to_vec();
    let code = match serialize_type {
        0 => json_code(header)?,
        1 => {
            let c = header.get(..2).ok_or("binary reply header too short")?;
            i32::from(i16::from_be_bytes([c[0], c[1]]))
        }
        t => return Err(format!("unknown serialize type {t} in reply")),
    };
    Ok(Reply { code, body })
}

/// Extracts the top-level `"code"` number from a JSON header.
fn json_code(header: &[u8]) -> Result<i32, String> {
    let text = std::str::from_utf8(header).map_err(|_| "JSON reply header is not UTF-8")?;
    let start = text
        .find("\"code\"")
        .ok_or_else(|| format!("no \"code\" in reply header {text}"))?;
    let rest = text[start + 6..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("malformed reply header {text}"))?
        .trim_start();
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end]
        .parse()
        .map_err(|_| format!("malformed code in reply header {text}"))
}

/// Sends one request and reads one reply.
pub(crate) fn call(
    addr: SocketAddr,
    code: i32,
    ext: &[(&str, &str)],
    timeout: Duration,
) -> Result<Reply, String> {
    let io = |e: std::io::Error| format!("{addr}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(&request_frame(code, 1, ext)).map_err(io)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(format!("{addr}: reply frame of {len} bytes is too large"));
    }
    let mut frame = vec![0u8; len];
    stream.read_exact(&mut frame).map_err(io)?;
    parse_reply(&frame)
}

/// A probe request: name, request code, ext fields.
type Check<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

/// Checks that the namesrv on `namesrv_port` lists the broker `<broker_host>:<broker_port>`
/// (the address it registers) in its cluster info and in the route of `TBW102`.
pub(crate) fn cluster_ready(
    namesrv_port: u16,
    broker_host: &str,
    broker_port: u16,
    timeout: Duration,
) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], namesrv_port));
    let broker = format!("{broker_host}:{broker_port}");
    let checks: [Check<'_>; 2] = [
        ("GET_BROKER_CLUSTER_INFO", GET_BROKER_CLUSTER_INFO, &[]),
        (
            "GET_ROUTEINFO_BY_TOPIC(TBW102)",
            GET_ROUTEINFO_BY_TOPIC,
            &[("topic", AUTO_CREATE_TOPIC)],
        ),
    ];
    for (name, code, ext) in checks {
        let reply = call(addr, code, ext, timeout)?;
        if reply.code != 0 {
            return Err(format!("{name} answered code {}", reply.code));
        }
        if !contains(&reply.body, broker.as_bytes()) {
            return Err(format!("{name} does not list broker {broker} yet"));
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn request_frame_layout() {
        let f = request_frame(106, 1, &[]);
        // rocketmq-rust's servers silently close the connection when a JSON header lacks
        // `serializeTypeCurrentRPC` (checked against rocketmq-namesrv 1.0.0).
        let header = br#"{"code":106,"extFields":{},"flag":0,"language":"RUST","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        assert_eq!(&f[8..], header);
        assert_eq!(
            u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize,
            4 + header.len()
        );
        // Serialize type 0 (JSON) in the high byte, header length below.
        assert_eq!(
            u32::from_be_bytes([f[4], f[5], f[6], f[7]]) as usize,
            header.len()
        );
    }

    #[test]
    fn request_frame_ext_fields() {
        let f = request_frame(105, 7, &[("topic", "TBW102")]);
        let text = std::str::from_utf8(&f[8..]).unwrap();
        assert!(text.contains(r#""extFields":{"topic":"TBW102"}"#), "{text}");
        assert!(text.contains(r#""opaque":7"#), "{text}");
    }

    fn frame(serialize_type: u32, header: &[u8], body: &[u8]) -> Vec<u8> {
        let mut f = ((serialize_type << 24) | header.len() as u32)
            .to_be_bytes()
            .to_vec();
        f.extend_from_slice(header);
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn parses_json_reply() {
        let header = br#"{"code" : 17,"flag":1,"language":"RUST","opaque":1,"remark":"code 0","version":474}"#;
        let r = parse_reply(&frame(0, header, b"body")).unwrap();
        assert_eq!(
            r,
            Reply {
                code: 17,
                body: b"body".to_vec()
            }
        );
        let r = parse_reply(&frame(0, br#"{"code":-1}"#, b"")).unwrap();
        assert_eq!(r.code, -1);
    }

    #[test]
    fn parses_binary_reply() {
        // code 0, language RUST, version 474, opaque 1, flag 1, no remark, no ext fields.
        let mut header = vec![0, 0, 12];
        header.extend_from_slice(&474i16.to_be_bytes());
        header.extend_from_slice(&1i32.to_be_bytes());
        header.extend_from_slice(&1i32.to_be_bytes());
        header.extend_from_slice(&0i32.to_be_bytes());
        header.extend_from_slice(&0i32.to_be_bytes());
        let r = parse_reply(&frame(1, &header, b"{}")).unwrap();
        assert_eq!(
            r,
            Reply {
                code: 0,
                body: b"{}".to_vec()
            }
        );
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(parse_reply(&[0, 0]).is_err());
        assert!(parse_reply(&[0, 0, 0, 9, b'{']).is_err());
        assert!(parse_reply(&frame(2, b"{}", b"")).is_err());
        assert!(parse_reply(&frame(0, br#"{"flag":1}"#, b"")).is_err());
        assert!(parse_reply(&frame(0, br#"{"code":"x"}"#, b"")).is_err());
        assert!(parse_reply(&frame(1, &[0], b"")).is_err());
    }

    /// A one-shot fake namesrv on 127.0.0.1 answering every request with `body`.
    fn fake_namesrv(
        body: &'static [u8],
        requests: usize,
    ) -> (u16, std::thread::JoinHandle<Vec<i32>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut codes = Vec::new();
            for _ in 0..requests {
                let (mut s, _) = listener.accept().unwrap();
                let mut len = [0u8; 4];
                s.read_exact(&mut len).unwrap();
                let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
                s.read_exact(&mut req).unwrap();
                codes.push(json_code(&req[4..]).unwrap());
                let reply = frame(0, br#"{"code":0,"flag":1,"opaque":1}"#, body);
                s.write_all(&(reply.len() as u32).to_be_bytes()).unwrap();
                s.write_all(&reply).unwrap();
            }
            codes
        });
        (port, handle)
    }

    #[test]
    fn ready_against_fake_namesrv() {
        let (port, h) = fake_namesrv(br#"{"brokerAddrs":{"0":"127.0.0.1:20911"}}"#, 2);
        cluster_ready(port, "127.0.0.1", 20911, Duration::from_secs(5)).unwrap();
        assert_eq!(h.join().unwrap(), vec![106, 105]);
    }

    #[test]
    fn not_ready_when_broker_missing() {
        let (port, h) = fake_namesrv(br#"{"brokerAddrTable":{}}"#, 1);
        let err = cluster_ready(port, "127.0.0.1", 20911, Duration::from_secs(5)).unwrap_err();
        assert!(
            err.contains("does not list broker 127.0.0.1:20911"),
            "{err}"
        );
        h.join().unwrap();
    }
}
