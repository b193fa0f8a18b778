//! ROCKETMQ binary header (serialize type 1).
//!
//! Layout (big-endian; Java `RocketMQSerializable`):
//!
//! ```text
//! code:i16 | language:u8 | version:i16 | opaque:i32 | flag:i32
//! | remark_len:i32 | remark | ext_len:i32 | { key_len:i16 | key | val_len:i32 | val }*
//! ```
//!
//! Encoding writes a `None` or empty remark as length 0 and ext fields in key order. Decoding
//! checks every length against the bytes that remain and rejects negative lengths. A remark of
//! length 0 decodes as `None`. A key or value of length 0 decodes as the empty string (Java
//! decodes it as `null`; this decoder keeps the entry). A repeated key keeps its last value.
//! Strings must be UTF-8. Bytes after the ext section are ignored, as Java does.

use std::collections::BTreeMap;

use super::{CodecError, LanguageCode, RemotingCommand};

/// Length of the fixed part: code, language, version, opaque, flag, remark_len, ext_len.
pub(crate) const FIXED_LEN: usize = 21;

/// Encodes the header of `cmd`. Fails if `code` or `version` do not fit in an `i16`, or if a
/// string is too long for its length field.
pub(crate) fn encode(cmd: &RemotingCommand) -> Result<Vec<u8>, CodecError> {
    let code = i16::try_from(cmd.code).map_err(|_| {
        CodecError::Unencodable(format!("code {} does not fit a binary header", cmd.code))
    })?;
    let version = i16::try_from(cmd.version).map_err(|_| {
        CodecError::Unencodable(format!(
            "version {} does not fit a binary header",
            cmd.version
        ))
    })?;
    let remark = cmd.remark.as_deref().unwrap_or("").as_bytes();
    let ext_len: usize = cmd
        .ext_fields
        .iter()
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum();

    let mut out = Vec::with_capacity(FIXED_LEN + remark.len() + ext_len);
    out.extend_from_slice(&code.to_be_bytes());
    out.push(cmd.language.code());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    out.extend_from_slice(&len_i32(remark.len(), "remark")?.to_be_bytes());
    out.extend_from_slice(remark);
    out.extend_from_slice(&len_i32(ext_len, "ext fields")?.to_be_bytes());
    for (key, value) in &cmd.ext_fields {
        let key_len = i16::try_from(key.len()).map_err(|_| {
            CodecError::Unencodable(format!("ext field key of {} bytes", key.len()))
        })?;
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&len_i32(value.len(), "ext field value")?.to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    Ok(out)
}

fn len_i32(len: usize, what: &str) -> Result<i32, CodecError> {
    i32::try_from(len).map_err(|_| CodecError::Unencodable(format!("{what} of {len} bytes")))
}

/// Decodes a binary header into a command with an empty body.
pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    let mut r = Reader(header);
    let code = i32::from(r.i16("code")?);
    let language = LanguageCode::from_code(r.u8("language")?);
    let version = i32::from(r.i16("version")?);
    let opaque = r.i32("opaque")?;
    let flag = r.i32("flag")?;

    let remark_len = r.len_i32("remark length")?;
    let remark = match remark_len {
        0 => None,
        n => Some(utf8(r.bytes(n, "remark")?, "remark")?),
    };

    let ext_len = r.len_i32("ext fields length")?;
    let mut ext = Reader(r.bytes(ext_len, "ext fields")?);
    let mut ext_fields = BTreeMap::new();
    while !ext.0.is_empty() {
        let key_len = ext.i16("ext key length")?;
        let key_len = usize::try_from(key_len)
            .map_err(|_| bad(format!("negative ext key length {key_len}")))?;
        let key = utf8(ext.bytes(key_len, "ext key")?, "ext key")?;
        let value_len = ext.len_i32("ext value length")?;
        let value = utf8(ext.bytes(value_len, "ext value")?, "ext value")?;
        // Java reads a zero-length key or value as null: no such field.
        if !key.is_empty() && !value.is_empty() {
            ext_fields.insert(key, value);
        }
    }

    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: bytes::Bytes::new(),
    })
}

fn bad(msg: String) -> CodecError {
    CodecError::BadBinaryHeader(msg)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, CodecError> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| bad(format!("{what} is not UTF-8")))
}

/// A bounds-checked big-endian reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodecError> {
        if n > self.0.len() {
            return Err(bad(format!(
                "{what} needs {n} bytes but only {} remain",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], CodecError> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, CodecError> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    fn i16(&mut self, what: &str) -> Result<i16, CodecError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    /// An `i32` length that must not be negative.
    fn len_i32(&mut self, what: &str) -> Result<usize, CodecError> {
        let n = self.i32(what)?;
        usize::try_from(n).map_err(|_| bad(format!("negative {what} {n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RemotingCommand {
        RemotingCommand {
            code: 310,
            language: LanguageCode::Rust,
            version: 479,
            opaque: -2,
            flag: 2,
            remark: Some("héllo".to_string()),
            ext_fields: BTreeMap::from([
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
            ]),
            body: bytes::Bytes::new(),
        }
    }

    #[test]
    fn round_trip() {
        let cmd = sample();
        let bytes = encode(&cmd).unwrap();
        assert_eq!(decode(&bytes).unwrap(), cmd);
    }

    #[test]
    fn exact_layout() {
        let cmd = RemotingCommand {
            code: -1,
            language: LanguageCode::Unknown(200),
            version: 0x0102,
            opaque: 0x0a0b0c0d,
            flag: 1,
            remark: Some("r".to_string()),
            ext_fields: BTreeMap::from([("k".to_string(), "vv".to_string())]),
            body: bytes::Bytes::new(),
        };
        let expected: &[u8] = &[
            0xff, 0xff, // code -1
            200,  // language
            1, 2, // version
            0x0a, 0x0b, 0x0c, 0x0d, // opaque
            0, 0, 0, 1, // flag
            0, 0, 0, 1, b'r', // remark
            0, 0, 0, 9, // ext_len = 2 + 1 + 4 + 2
            0, 1, b'k', 0, 0, 0, 2, b'v', b'v',
        ];
        let bytes = encode(&cmd).unwrap();
        assert_eq!(bytes, expected);
        assert_eq!(decode(expected).unwrap(), cmd);
    }

    #[test]
    fn empty_remark_is_written_as_none() {
        let cmd = RemotingCommand::request_code(1).with_remark("");
        let decoded = decode(&encode(&cmd).unwrap()).unwrap();
        assert_eq!(decoded.remark, None);
    }

    #[test]
    fn empty_ext_keys_and_values_read_as_absent_like_java() {
        let mut cmd = RemotingCommand::request_code(10);
        cmd.ext_fields.insert("topic".into(), "T".into());
        cmd.ext_fields.insert("tags".into(), String::new());
        cmd.ext_fields.insert(String::new(), "x".into());
        let decoded = decode(&encode(&cmd).unwrap()).unwrap();
        assert_eq!(
            decoded.ext_fields.into_iter().collect::<Vec<_>>(),
            vec![("topic".to_string(), "T".to_string())]
        );
    }

    #[test]
    fn unencodable() {
        let mut cmd = RemotingCommand::request_code(200050);
        assert!(matches!(encode(&cmd), Err(CodecError::Unencodable(_))));
        cmd.code = i32::from(i16::MIN);
        assert!(encode(&cmd).is_ok());
        cmd.version = 40000;
        assert!(matches!(encode(&cmd), Err(CodecError::Unencodable(_))));
        cmd.version = 1;
        cmd.ext_fields.insert("k".repeat(40000), String::new());
        assert!(matches!(encode(&cmd), Err(CodecError::Unencodable(_))));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample()).unwrap();
        for n in 0..bytes.len() {
            assert!(
                matches!(decode(&bytes[..n]), Err(CodecError::BadBinaryHeader(_))),
                "prefix of {n} bytes"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut bytes = encode(&sample()).unwrap();
        bytes.extend_from_slice(b"junk");
        assert_eq!(decode(&bytes).unwrap(), sample());
    }

    fn header(remark_len: i32, remark: &[u8], ext_len: i32, ext: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 10, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        v.extend_from_slice(&remark_len.to_be_bytes());
        v.extend_from_slice(remark);
        v.extend_from_slice(&ext_len.to_be_bytes());
        v.extend_from_slice(ext);
        v
    }

    #[test]
    fn lying_lengths() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("negative remark", header(-1, b"", 0, b"")),
            ("remark too long", header(5, b"abcd", 0, b"")),
            ("huge remark", header(i32::MAX, b"abc", 0, b"")),
            ("negative ext", header(0, b"", -14, b"")),
            (
                "ext too long",
                header(0, b"", 15, &[0, 1, b'k', 0, 0, 0, 1, b'v']),
            ),
            (
                "negative key",
                header(0, b"", 8, &[0xff, 0xff, b'k', 0, 0, 0, 1, b'v']),
            ),
            (
                "key past ext",
                header(0, b"", 8, &[0, 9, b'k', 0, 0, 0, 1, b'v']),
            ),
            (
                "negative value",
                header(0, b"", 8, &[0, 1, b'k', 0xff, 0xff, 0xff, 0xff, b'v']),
            ),
            (
                "value past ext",
                header(0, b"", 8, &[0, 1, b'k', 0, 0, 0, 2, b'v']),
            ),
            // The value length claims bytes that exist in the header but not in the ext section.
            ("value past ext section", {
                let mut v = header(0, b"", 8, &[0, 1, b'k', 0, 0, 0, 2, b'v']);
                v.push(b'w');
                v
            }),
            ("partial entry", header(0, b"", 2, &[0, 1])),
            ("bad utf8 remark", header(1, &[0xff], 0, b"")),
            (
                "bad utf8 key",
                header(0, b"", 8, &[0, 1, 0xc3, 0, 0, 0, 1, b'v']),
            ),
            (
                "bad utf8 value",
                header(0, b"", 8, &[0, 1, b'k', 0, 0, 0, 1, 0x80]),
            ),
        ];
        for (name, bytes) in cases {
            assert!(
                matches!(decode(&bytes), Err(CodecError::BadBinaryHeader(_))),
                "{name}: {:?}",
                decode(&bytes)
            );
        }
        // Sanity: the well-formed variant of the same helper decodes.
        let ok = decode(&header(1, b"r", 8, &[0, 1, b'k', 0, 0, 0, 1, b'v'])).unwrap();
        assert_eq!(ok.remark.as_deref(), Some("r"));
        assert_eq!(ok.field("k"), Some("v"));
    }

    #[test]
    fn zero_length_value_and_duplicate_keys() {
        let ext = [
            0, 1, b'k', 0, 0, 0, 0, 0, 1, b'k', 0, 0, 0, 1, b'z', 0, 1, b'e', 0, 0, 0, 0,
        ];
        let cmd = decode(&header(0, b"", ext.len() as i32, &ext)).unwrap();
        // The later `k` wins; a zero-length value is no value (Java's null).
        assert_eq!(cmd.field("k"), Some("z"));
        assert_eq!(cmd.field("e"), None);
        assert_eq!(cmd.ext_fields.len(), 1);
    }
}
