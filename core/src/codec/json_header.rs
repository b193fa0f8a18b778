//! JSON header (serialize type 0).
//!
//! Encoding follows what Java (fastjson with `SortField`) writes: keys in alphabetical order,
//! absent members omitted, the language by name:
//!
//! ```text
//! {"code":105,"extFields":{"topic":"T"},"flag":0,"language":"RUST","opaque":1,
//!  "serializeTypeCurrentRPC":"JSON","version":479}
//! ```
//!
//! `extFields` is omitted when empty and `remark` when `None`. Decoding accepts any key order,
//! missing or `null` `remark`/`extFields`/`language`, and ignores unknown keys (such as
//! `serializeTypeCurrentRPC`). Only `code` is required; `opaque`, `flag` and `version` default
//! to 0 and `language` to `JAVA` (the Java field's initial value). `extFields` values should be
//! strings; numbers and booleans are accepted and kept in their JSON text form, `null` values
//! are dropped (Java skips null map values), objects and arrays are rejected.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{CodecError, LanguageCode, RemotingCommand};

/// The header as written, borrowing from the command. Field order is the wire order.
#[derive(Serialize)]
struct HeaderOut<'a> {
    code: i32,
    #[serde(rename = "extFields", skip_serializing_if = "BTreeMap::is_empty")]
    ext_fields: &'a BTreeMap<String, String>,
    flag: i32,
    language: &'static str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type: &'static str,
    version: i32,
}

/// The header as read. Unknown keys are ignored.
#[derive(Deserialize)]
struct HeaderIn {
    #[serde(default, deserialize_with = "java_int")]
    code: Option<i32>,
    #[serde(default)]
    language: LanguageIn,
    #[serde(default, deserialize_with = "java_int")]
    version: Option<i32>,
    #[serde(default, deserialize_with = "java_int")]
    opaque: Option<i32>,
    #[serde(default, deserialize_with = "java_int")]
    flag: Option<i32>,
    remark: Option<String>,
    #[serde(rename = "extFields", default)]
    ext_fields: ExtFieldsIn,
}

/// Encodes the header of `cmd` as Java would. A [`LanguageCode::Unknown`] language is written
/// as `"OTHER"`, since a JSON header can only carry a known name.
pub(crate) fn encode(cmd: &RemotingCommand) -> Result<Vec<u8>, CodecError> {
    let header = HeaderOut {
        code: cmd.code,
        ext_fields: &cmd.ext_fields,
        flag: cmd.flag,
        language: cmd.language.name().unwrap_or("OTHER"),
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type: "JSON",
        version: cmd.version,
    };
    serde_json::to_vec(&header).map_err(|e| CodecError::Unencodable(e.to_string()))
}

/// Decodes a JSON header into a command with an empty body.
pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    let h: HeaderIn =
        serde_json::from_slice(header).map_err(|e| CodecError::BadJsonHeader(e.to_string()))?;
    let code = h
        .code
        .ok_or_else(|| CodecError::BadJsonHeader("missing field `code`".to_string()))?;
    Ok(RemotingCommand {
        code,
        language: h.language.0,
        version: h.version.unwrap_or(0),
        opaque: h.opaque.unwrap_or(0),
        flag: h.flag.unwrap_or(0),
        remark: h.remark,
        ext_fields: h.ext_fields.0,
        body: bytes::Bytes::new(),
    })
}

/// An `int` header field as fastjson reads it: an integer in range, `null` as absent, and `-0`
/// as 0 (serde_json reads `-0` as the float -0.0).
fn java_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    struct JavaInt;
    impl<'de> Visitor<'de> for JavaInt {
        type Value = Option<i32>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an int")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<i32>, E> {
            i32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<i32>, E> {
            i32::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<i32>, E> {
            // Only `-0` (or `0.0`): a fraction is no int.
            if v == 0.0 {
                Ok(Some(0))
            } else {
                Err(E::invalid_type(de::Unexpected::Float(v), &self))
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<i32>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<i32>, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<i32>, D2::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_option(JavaInt)
}

/// `language`: a known name, an unknown name ([`LanguageCode::UNKNOWN_NAME`]), a number (the
/// code, as fastjson writes enums without `WriteEnumUsingName`) or `null` (`JAVA`).
struct LanguageIn(LanguageCode);

impl Default for LanguageIn {
    fn default() -> Self {
        LanguageIn(LanguageCode::Java)
    }
}

impl<'de> Deserialize<'de> for LanguageIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LanguageIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a language name or code")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LanguageIn, E> {
                Ok(LanguageIn(
                    LanguageCode::from_name(v).unwrap_or(LanguageCode::UNKNOWN_NAME),
                ))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LanguageIn, E> {
                Ok(LanguageIn(u8::try_from(v).map_or(
                    LanguageCode::UNKNOWN_NAME,
                    LanguageCode::from_code,
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LanguageIn, E> {
                Ok(LanguageIn(u8::try_from(v).map_or(
                    LanguageCode::UNKNOWN_NAME,
                    LanguageCode::from_code,
                )))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LanguageIn, E> {
                Ok(LanguageIn::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// `extFields`: an object of scalars, or `null`.
#[derive(Default)]
struct ExtFieldsIn(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for ExtFieldsIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExtFieldsIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtFieldsIn, E> {
                Ok(ExtFieldsIn::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFieldsIn, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, ExtValue(value))) = map.next_entry::<String, ExtValue>()? {
                    if let Some(value) = value {
                        out.insert(key, value);
                    }
                }
                Ok(ExtFieldsIn(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `extFields` value: a string, or a number/boolean in its text form; `None` for `null`.
struct ExtValue(Option<String>);

impl<'de> Deserialize<'de> for ExtValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ExtValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null extFields value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtValue, E> {
                Ok(ExtValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_str(s: &str) -> Result<RemotingCommand, CodecError> {
        decode(s.as_bytes())
    }

    #[test]
    fn negative_zero_integers_read_as_zero_like_java() {
        let cmd = decode_str(r#"{"code":-0,"opaque":-0,"flag":-0,"version":-0}"#).unwrap();
        assert_eq!((cmd.code, cmd.opaque, cmd.flag, cmd.version), (0, 0, 0, 0));
        let cmd = decode_str(r#"{"code":12,"opaque":-7,"version":null}"#).unwrap();
        assert_eq!((cmd.code, cmd.opaque, cmd.version), (12, -7, 0));
        // A fraction or an out-of-range number is still no int.
        assert!(decode_str(r#"{"code":1.5}"#).is_err());
        assert!(decode_str(r#"{"code":2147483648}"#).is_err());
        assert!(decode_str(r#"{"code":"12"}"#).is_err());
    }

    #[test]
    fn encodes_like_java() {
        let cmd = RemotingCommand {
            code: 105,
            language: LanguageCode::Java,
            version: 479,
            opaque: 3,
            flag: 0,
            remark: None,
            ext_fields: BTreeMap::from([("topic".to_string(), "TopicTest".to_string())]),
            body: bytes::Bytes::new(),
        };
        let out = encode(&cmd).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}"#
        );
    }

    #[test]
    fn omits_empty_ext_fields_and_keeps_remark() {
        let cmd = RemotingCommand::request_code(34).with_remark("a \"quoted\" é");
        let out = String::from_utf8(encode(&cmd).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"code":34,"flag":0,"language":"RUST","opaque":0,"remark":"a \"quoted\" é","serializeTypeCurrentRPC":"JSON","version":479}"#
        );
        assert_eq!(decode(out.as_bytes()).unwrap(), cmd);
    }

    #[test]
    fn unknown_language_is_written_as_other() {
        let mut cmd = RemotingCommand::request_code(1);
        cmd.language = LanguageCode::Unknown(77);
        let out = String::from_utf8(encode(&cmd).unwrap()).unwrap();
        assert!(out.contains(r#""language":"OTHER""#), "{out}");
    }

    #[test]
    fn decodes_minimal_header_with_defaults() {
        let cmd = decode_str(r#"{"code":17}"#).unwrap();
        assert_eq!(cmd.code, 17);
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!((cmd.version, cmd.opaque, cmd.flag), (0, 0, 0));
        assert_eq!(cmd.remark, None);
        assert!(cmd.ext_fields.is_empty());
    }

    #[test]
    fn decodes_nulls_and_unknown_keys() {
        let cmd = decode_str(
            r#"{"remark":null,"extFields":null,"language":null,"whatever":[1,{"a":2}],
                "serializeTypeCurrentRPC":"ROCKETMQ","code":1,"opaque":-5,"flag":1}"#,
        )
        .unwrap();
        assert_eq!(cmd.code, 1);
        assert_eq!(cmd.opaque, -5);
        assert!(cmd.is_response());
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.remark, None);
        assert!(cmd.ext_fields.is_empty());
    }

    #[test]
    fn language_forms() {
        let lang =
            |s: &str| decode_str(&format!(r#"{{"code":0,"language":{s}}}"#)).map(|c| c.language);
        assert_eq!(lang(r#""GO""#), Ok(LanguageCode::Go));
        assert_eq!(lang(r#""NODE_JS""#), Ok(LanguageCode::NodeJs));
        assert_eq!(lang(r#""KOTLIN""#), Ok(LanguageCode::UNKNOWN_NAME));
        assert_eq!(lang("12"), Ok(LanguageCode::Rust));
        assert_eq!(lang("300"), Ok(LanguageCode::UNKNOWN_NAME));
        assert_eq!(lang("-1"), Ok(LanguageCode::UNKNOWN_NAME));
        assert!(matches!(lang("[]"), Err(CodecError::BadJsonHeader(_))));
        assert!(matches!(lang("true"), Err(CodecError::BadJsonHeader(_))));
    }

    #[test]
    fn lenient_ext_values() {
        let cmd = decode_str(
            r#"{"code":0,"extFields":{"s":"x","i":-3,"u":18446744073709551615,"f":0.618,"b":true,"n":null}}"#,
        )
        .unwrap();
        assert_eq!(cmd.field("s"), Some("x"));
        assert_eq!(cmd.field("i"), Some("-3"));
        assert_eq!(cmd.field("u"), Some("18446744073709551615"));
        assert_eq!(cmd.field("f"), Some("0.618"));
        assert_eq!(cmd.field("b"), Some("true"));
        assert_eq!(cmd.field("n"), None);
        assert_eq!(cmd.ext_fields.len(), 5);
    }

    #[test]
    fn rejects_bad_headers() {
        let bad = [
            "",
            "{",
            "[]",
            "null",
            r#"{"opaque":1}"#,
            r#"{"code":null}"#,
            r#"{"code":"105"}"#,
            r#"{"code":2147483648}"#,
            r#"{"code":1.5}"#,
            r#"{"code":1,"opaque":"x"}"#,
            r#"{"code":1,"remark":5}"#,
            r#"{"code":1,"extFields":{"a":{"b":"c"}}}"#,
            r#"{"code":1,"extFields":{"a":["c"]}}"#,
            r#"{"code":1,"extFields":["a"]}"#,
            r#"{"code":1,"extFields":"a"}"#,
            r#"{"code":1} trailing"#,
        ];
        for s in bad {
            assert!(
                matches!(decode_str(s), Err(CodecError::BadJsonHeader(_))),
                "{s:?} should be rejected"
            );
        }
        assert!(matches!(
            decode(b"{\"code\":1,\"remark\":\"\xff\"}"),
            Err(CodecError::BadJsonHeader(_))
        ));
    }
}
