//! fastjson 1.x compatibility: reading its non-JSON map keys and writing object-keyed maps.
//!
//! fastjson writes a map whose keys are not strings without quoting them (protocol facts §5.1):
//! `Map<Long, String>` becomes `{0:"a",-1:"b"}` and `Map<MessageQueue, Long>` becomes
//! `{{"brokerName":"b","queueId":0,"topic":"t"}:11110}`. Neither is JSON.
//!
//! **Design.** [`repair`] is a single pass over the text that turns every *non-string object
//! key* into a JSON string holding the key's own (repaired) JSON text:
//!
//! * a bare token key (`0`, `-1`, `true`, `abc`) becomes `"0"`, `"-1"`, …;
//! * an object or array key becomes the string of its text, so
//!   `{{"brokerName":"b","queueId":0,"topic":"t"}:1}` becomes
//!   `{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"t\"}":1}`.
//!
//! The result is valid JSON whenever the input was valid "fastjson", and valid JSON input is
//! returned unchanged (its keys are all strings already). Integer-keyed maps then deserialize
//! with serde_json's usual integer-from-string keys; MessageQueue-keyed maps deserialize as
//! string-keyed maps whose keys are parsed a second time (see `message_queue::mq_map`).
//!
//! The pass is a tokenizer with an explicit container stack (no recursion), aware of strings and
//! escapes, so braces, colons and commas inside strings are left alone. It never panics; on
//! unbalanced closing brackets or invalid UTF-8 it reports [`BodyError::Malformed`], and other
//! damage is left for serde_json to report.
//!
//! For writing, [`write_mq_map`] produces fastjson's object-key form, which serde cannot emit,
//! and [`ObjectWriter`] assembles an object member by member in the caller's (sorted) order.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{BodyError, MessageQueue};

/// One open container in the input.
struct Frame {
    /// `true` for `{`, `false` for `[`.
    object: bool,
    /// In an object: the next token is a key.
    at_key: bool,
    /// When this container is itself an object key: where its text starts in the output.
    key_start: Option<usize>,
}

/// Deepest nesting of object-valued keys inside object-valued keys. Each level escapes the text
/// of the level inside it again, doubling its backslashes, so this bounds the output at a
/// constant factor of the input. Real bodies need one level (MessageQueue keys).
const MAX_KEY_DEPTH: usize = 4;

/// Deepest container nesting accepted (serde_json itself stops at 128).
const MAX_DEPTH: usize = 256;

/// Characters that end a bare (unquoted) token.
fn ends_bare_token(b: u8) -> bool {
    matches!(b, b':' | b',' | b'{' | b'}' | b'[' | b']' | b'"') || b.is_ascii_whitespace()
}

/// Rewrites fastjson's unquoted and object-valued map keys into JSON strings.
///
/// See the module documentation for the exact rewriting. `what` names the body in errors.
pub(crate) fn repair(input: &[u8], what: &'static str) -> Result<String, BodyError> {
    let text = std::str::from_utf8(input).map_err(|e| BodyError::Malformed {
        what,
        reason: format!("invalid UTF-8: {e}"),
    })?;
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + 16);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0usize;

    while let Some(&b) = bytes.get(i) {
        let parent_at_key = stack.last().is_some_and(|f| f.object && f.at_key);
        match b {
            b'"' => {
                // Copy the whole string, honouring backslash escapes.
                let start = i;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    if c == b'\\' {
                        i += 1;
                    } else if c == b'"' {
                        break;
                    }
                }
                let end = i.min(bytes.len());
                out.extend_from_slice(bytes.get(start..end).unwrap_or_default());
                if let Some(top) = stack.last_mut() {
                    top.at_key = false;
                }
                continue;
            }
            b'{' | b'[' => {
                let key_start = if parent_at_key { Some(out.len()) } else { None };
                if let Some(top) = stack.last_mut() {
                    top.at_key = false;
                }
                let key_depth = stack.iter().filter(|f| f.key_start.is_some()).count()
                    + usize::from(key_start.is_some());
                if stack.len() >= MAX_DEPTH || key_depth > MAX_KEY_DEPTH {
                    return Err(BodyError::Malformed {
                        what,
                        reason: format!("nesting too deep at byte {i}"),
                    });
                }
                stack.push(Frame {
                    object: b == b'{',
                    at_key: b == b'{',
                    key_start,
                });
                out.push(b);
            }
            b'}' | b']' => {
                let frame = stack.pop().ok_or_else(|| BodyError::Malformed {
                    what,
                    reason: format!("unbalanced '{}' at byte {i}", b as char),
                })?;
                if frame.object != (b == b'}') {
                    return Err(BodyError::Malformed {
                        what,
                        reason: format!("mismatched '{}' at byte {i}", b as char),
                    });
                }
                out.push(b);
                if let Some(start) = frame.key_start {
                    quote_tail(&mut out, start, what)?;
                }
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.at_key = top.object;
                }
                out.push(b);
            }
            b':' => {
                if let Some(top) = stack.last_mut() {
                    top.at_key = false;
                }
                out.push(b);
            }
            _ if b.is_ascii_whitespace() => out.push(b),
            _ => {
                // A bare token: number, literal, or (in key position) an unquoted key.
                let start = i;
                while bytes.get(i).is_some_and(|&c| !ends_bare_token(c)) {
                    i += 1;
                }
                let token = bytes.get(start..i).unwrap_or_default();
                if parent_at_key {
                    let start_out = out.len();
                    out.extend_from_slice(token);
                    quote_tail(&mut out, start_out, what)?;
                    if let Some(top) = stack.last_mut() {
                        top.at_key = false;
                    }
                } else {
                    out.extend_from_slice(token);
                }
                continue;
            }
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| BodyError::Malformed {
        what,
        reason: format!("invalid UTF-8 after repair: {e}"),
    })
}

/// Replaces `out[start..]` by a JSON string literal holding that text.
fn quote_tail(out: &mut Vec<u8>, start: usize, what: &'static str) -> Result<(), BodyError> {
    if start > out.len() {
        return Err(BodyError::Malformed {
            what,
            reason: "internal repair offset out of range".to_string(),
        });
    }
    let tail = out.split_off(start);
    let tail = String::from_utf8(tail).map_err(|e| BodyError::Malformed {
        what,
        reason: format!("invalid UTF-8 in key: {e}"),
    })?;
    let quoted = serde_json::to_string(&tail).map_err(|e| BodyError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    out.extend_from_slice(quoted.as_bytes());
    Ok(())
}

/// Serializes `value` as compact JSON. Our body types cannot fail to serialize (string map keys,
/// no custom errors); should that ever change, the result is an empty object rather than a panic.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(s) => s,
        Err(e) => {
            debug_assert!(false, "body serialization failed: {e}");
            "{}".to_string()
        }
    }
}

/// Writes a MessageQueue-keyed map in fastjson's object-key form:
/// `{{"brokerName":"b","queueId":0,"topic":"t"}:value,…}`, entries in [`MessageQueue`] order.
pub(crate) fn write_mq_map<V: Serialize>(map: &BTreeMap<MessageQueue, V>) -> String {
    let mut out = String::from("{");
    for (n, (mq, v)) in map.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&to_json(mq));
        out.push(':');
        out.push_str(&to_json(v));
    }
    out.push('}');
    out
}

/// Assembles a JSON object member by member, in the order the caller writes them.
pub(crate) struct ObjectWriter {
    out: String,
    first: bool,
}

impl ObjectWriter {
    /// Starts an object.
    pub(crate) fn new() -> Self {
        Self {
            out: String::from("{"),
            first: true,
        }
    }

    /// Appends `"name":<raw>`; `raw` must already be JSON (or fastjson) text.
    pub(crate) fn raw(&mut self, name: &str, raw: &str) -> &mut Self {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(&to_json(name));
        self.out.push(':');
        self.out.push_str(raw);
        self
    }

    /// Appends `"name":<value as JSON>`.
    pub(crate) fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> &mut Self {
        let json = to_json(value);
        self.raw(name, &json)
    }

    /// Appends the member only when `value` is `Some` (fastjson omits nulls).
    pub(crate) fn opt_field<T: Serialize>(&mut self, name: &str, value: Option<&T>) -> &mut Self {
        match value {
            Some(v) => self.field(name, v),
            None => self,
        }
    }

    /// Closes the object and returns its bytes.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(s: &str) -> String {
        repair(s.as_bytes(), "test").unwrap()
    }

    #[test]
    fn quotes_integer_keys() {
        assert_eq!(rep(r#"{0:"a",1:"b"}"#), r#"{"0":"a","1":"b"}"#);
        assert_eq!(rep(r#"{-1:2, 3 :4}"#), r#"{"-1":2, "3" :4}"#);
    }

    #[test]
    fn valid_json_unchanged() {
        let s = r#"{"a":[1,-2,{"b":"{0:1}"}],"c":"x\"y:{1:2}","d":true,"e":null}"#;
        assert_eq!(rep(s), s);
    }

    #[test]
    fn strings_with_escapes_and_braces_untouched() {
        let s = r#"{"k\\":"v\\","m":"\"{"}"#;
        assert_eq!(rep(s), s);
    }

    #[test]
    fn object_keys_become_strings() {
        let s = r#"{{"brokerName":"b","queueId":0,"topic":"t"}:11110}"#;
        let r = rep(s);
        assert_eq!(
            r,
            r#"{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"t\"}":11110}"#
        );
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
    }

    #[test]
    fn nested_object_keys() {
        let s = r#"{{{1:2}:3}:4}"#;
        let r = rep(s);
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        let (k, val) = v.as_object().unwrap().iter().next().unwrap();
        assert_eq!(val, 4);
        let inner: serde_json::Value = serde_json::from_str(k).unwrap();
        assert_eq!(inner.as_object().unwrap().get(r#"{"1":2}"#).unwrap(), 3);
    }

    #[test]
    fn nested_key_depth_is_bounded() {
        let deep = |n: usize| format!("{}\"a\":1{}", "{".repeat(n), "}:1".repeat(n - 1) + "}");
        assert!(repair(deep(MAX_KEY_DEPTH + 1).as_bytes(), "x").is_ok());
        let err = repair(deep(MAX_KEY_DEPTH + 2).as_bytes(), "x").unwrap_err();
        assert!(matches!(err, BodyError::Malformed { .. }));
        let long = "[".repeat(MAX_DEPTH + 1);
        assert!(repair(long.as_bytes(), "x").is_err());
    }

    #[test]
    fn unbalanced_is_error() {
        assert!(matches!(
            repair(b"}", "x"),
            Err(BodyError::Malformed { what: "x", .. })
        ));
        assert!(repair(b"{]", "x").is_err());
        assert!(repair(&[0x7b, 0xff, 0x7d], "x").is_err());
    }

    #[test]
    fn mq_map_writer() {
        let mut m = BTreeMap::new();
        m.insert(MessageQueue::new("t", "b", 1), 5i64);
        m.insert(MessageQueue::new("t", "a", 2), 6i64);
        assert_eq!(
            write_mq_map(&m),
            r#"{{"brokerName":"a","queueId":2,"topic":"t"}:6,{"brokerName":"b","queueId":1,"topic":"t"}:5}"#
        );
    }
}
