//! The properties string: `name 0x01 value 0x02 name 0x01 value 0x02 …` (protocol §3.1).

use std::collections::BTreeMap;

use super::MessageError;

/// Separates a property's name from its value (U+0001).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Terminates each property (U+0002).
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// The largest properties string the stored format can carry (its length is an i16).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// A message's properties, ordered by name so encodings are deterministic.
pub type Properties = BTreeMap<String, String>;

/// Serializes properties as Java's `messageProperties2String` does: every entry followed by
/// `0x02` (so a non-empty string ends with `0x02`), in name order.
pub fn encode_properties(properties: &Properties) -> String {
    let len = properties.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (name, value) in properties {
        out.push_str(name);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(value);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

/// Parses a properties string with Java's rules (`string2messageProperties`):
///
/// * items are split on `0x02`; a missing final `0x02` is fine;
/// * an item is kept only if its first `0x01` is neither its first nor its last character,
///   so empty names and empty values are dropped;
/// * further `0x01` characters stay in the value;
/// * for a duplicated name the last item wins.
///
/// Go's decoder differs (it keeps empty values and drops values containing `0x01`); Java's
/// behaviour is what brokers and other Java clients see.
pub fn decode_properties(s: &str) -> Properties {
    let mut map = Properties::new();
    for item in s.split(PROPERTY_SEPARATOR) {
        if let Some((name, value)) = item.split_once(NAME_VALUE_SEPARATOR) {
            if !name.is_empty() && !value.is_empty() {
                map.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    map
}

/// Parses properties from bytes, replacing invalid UTF-8 by U+FFFD as Java's
/// `new String(bytes, UTF_8)` does, then applying [`decode_properties`].
pub fn decode_properties_bytes(bytes: &[u8]) -> Properties {
    decode_properties(&String::from_utf8_lossy(bytes))
}

/// Checks that a property survives a round trip through the properties string: a non-empty
/// name without `0x01`/`0x02` and a non-empty value without `0x02` (a value may contain `0x01`,
/// the decoder splits on the first one).
pub fn validate_property(name: &str, value: &str) -> Result<(), MessageError> {
    let invalid = |reason| {
        Err(MessageError::InvalidProperty {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty name");
    }
    if name.contains([NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR]) {
        return invalid("name contains a separator character");
    }
    if value.is_empty() {
        return invalid("empty value (it would be dropped on the wire)");
    }
    if value.contains(PROPERTY_SEPARATOR) {
        return invalid("value contains the property separator 0x02");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encode_ends_every_entry_with_separator() {
        let p = props(&[("b", "2"), ("a", "1")]);
        assert_eq!(encode_properties(&p), "a\u{1}1\u{2}b\u{1}2\u{2}");
        assert_eq!(encode_properties(&Properties::new()), "");
    }

    // Cases from apache/rocketmq
    // common/src/test/java/org/apache/rocketmq/common/message/MessageDecoderTest.java
    // (testString2messageProperties): input, expected map.
    #[test]
    fn java_string2message_properties_vectors() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("k1\u{1}v1", &[("k1", "v1")]),
            ("", &[]),
            (" ", &[]),
            ("aaa", &[]),
            ("k1\u{1}", &[]),
            ("\u{1}v1", &[]),
            ("k1\u{1}v1\u{2}", &[("k1", "v1")]),
            ("k1\u{1}v1\u{2}k2\u{1}v2", &[("k1", "v1"), ("k2", "v2")]),
            ("k1\u{1}v1\u{2}\u{1}v2", &[("k1", "v1")]),
            ("k1\u{1}v1\u{2}k2\u{1}", &[("k1", "v1")]),
            ("\u{1}v1\u{2}k2\u{1}v2", &[("k2", "v2")]),
            ("k1\u{1}\u{2}k2\u{1}v2", &[("k2", "v2")]),
            ("1\u{1}1\u{2}2\u{1}2", &[("1", "1"), ("2", "2")]),
            ("1\u{1}\u{2}2\u{1}2", &[("2", "2")]),
            ("\u{1}1\u{2}2\u{1}2", &[("2", "2")]),
            ("1\u{1}1\u{2}2\u{1}", &[("1", "1")]),
            ("1\u{1}1\u{2}\u{1}2", &[("1", "1")]),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_properties(input), props(expected), "input {input:?}");
        }
    }

    #[test]
    fn extra_name_value_separators_stay_in_value_and_last_duplicate_wins() {
        let p = decode_properties("k\u{1}a\u{1}b\u{2}k2\u{1}x\u{2}k2\u{1}y\u{2}\u{2}");
        assert_eq!(p, props(&[("k", "a\u{1}b"), ("k2", "y")]));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let p = decode_properties_bytes(b"k\x01\xff\x02");
        assert_eq!(p.get("k").map(String::as_str), Some("\u{fffd}"));
    }

    #[test]
    fn round_trip_with_non_ascii() {
        let p = props(&[("名前", "値\u{1}x"), ("emoji", "😀")]);
        assert_eq!(decode_properties(&encode_properties(&p)), p);
    }

    #[test]
    fn validate_rejects_what_would_not_survive() {
        assert!(validate_property("k", "v").is_ok());
        assert!(validate_property("k", "a\u{1}b").is_ok());
        for (k, v) in [
            ("", "v"),
            ("k", ""),
            ("a\u{1}", "v"),
            ("a\u{2}", "v"),
            ("k", "\u{2}"),
        ] {
            assert!(
                matches!(
                    validate_property(k, v),
                    Err(MessageError::InvalidProperty { .. })
                ),
                "{k:?}={v:?}"
            );
        }
    }
}
