//! Typed custom headers, flattened to and from a command's `ext_fields`.
//!
//! RocketMQ carries every request's and response's "custom header" as a flat string→string map
//! (the `extFields` of the remoting command). Each struct here is one Java header class; the
//! [`CommandHeader`] trait writes it into that map and reads it back:
//!
//! * the key is the Java field name (or the short name the Java class declares, e.g. `bname`);
//! * integers are written in decimal, booleans as `"true"`/`"false"` (read case-insensitively),
//!   enums by name (or by number where Java sends a number);
//! * required fields (Java `@CFNotNull`) are plain fields and must be present when reading,
//!   optional ones are `Option`s and are omitted when `None`;
//! * fields Java declares as primitives with a default (e.g. `committed = true`) are always
//!   written and take that default when a peer omits them;
//! * an empty value of a non-string field counts as absent (Java's binary header decodes empty
//!   values as null).
//!
//! [`request`] builds a request command from a header and [`read`] reads one back.
//!
//! ```
//! use rocketwire_core::header::{self, GetMaxOffsetRequestHeader};
//! use rocketwire_core::RequestCode;
//!
//! let h = GetMaxOffsetRequestHeader {
//!     topic: "TopicTest".into(),
//!     queue_id: 3,
//!     committed: true,
//!     broker_name: Some("broker-a".into()),
//! };
//! let cmd = header::request(RequestCode::GetMaxOffset, &h);
//! assert_eq!(cmd.field("queueId"), Some("3"));
//! assert_eq!(header::read::<GetMaxOffsetRequestHeader>(&cmd), Ok(h));
//! ```

use std::collections::BTreeMap;

use crate::codec::{RemotingCommand, RequestCode};

/// Declares a header struct whose fields map one-to-one to ext-field keys, and implements
/// [`CommandHeader`] for it. A field typed `T` is required, `Option<T>` is optional, and
/// `T = "key" or <default>` is a Java primitive: always written, `<default>` when absent.
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty = $key:literal $(or $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::header::CommandHeader for $name {
            fn write_fields(
                &self,
                fields: &mut ::std::collections::BTreeMap<String, String>,
            ) {
                $( $crate::header::Field::put(&self.$field, $key, fields); )*
            }

            fn read_fields(
                fields: &::std::collections::BTreeMap<String, String>,
            ) -> Result<Self, $crate::header::HeaderError> {
                Ok(Self {
                    $( $field: command_header!(@take fields, $key $(, $default)?), )*
                })
            }
        }
    };
    (@take $fields:ident, $key:literal) => {
        $crate::header::Field::take($fields, $key)?
    };
    (@take $fields:ident, $key:literal, $default:expr) => {
        $crate::header::take_or($fields, $key, $default)?
    };
}

mod admin;
mod broker;
mod offset;
mod pop;
mod pull;
mod send;
mod transaction;

pub use admin::{
    CreateTopicRequestHeader, GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetConsumerListByGroupRequestHeader, GetRouteInfoRequestHeader, QueryMessageRequestHeader,
    QueryMessageResponseHeader, UnregisterClientRequestHeader, ViewMessageRequestHeader,
};
pub use broker::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    ReplyMessageRequestHeader, ResetOffsetRequestHeader,
};
pub use offset::{
    BoundaryType, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, OffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
pub use pop::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
pub use pull::{PullMessageRequestHeader, PullMessageResponseHeader};
pub use send::{
    ConsumerSendMsgBackRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader, DEFAULT_TOPIC, DEFAULT_TOPIC_QUEUE_NUMS,
};
pub use transaction::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TransactionState,
};

/// A typed custom header that flattens to and from a command's `ext_fields`.
pub trait CommandHeader: Sized {
    /// Writes this header's fields into `fields`, leaving other entries alone.
    fn write_fields(&self, fields: &mut BTreeMap<String, String>);

    /// Reads the header from `fields`; unknown keys are ignored.
    fn read_fields(fields: &BTreeMap<String, String>) -> Result<Self, HeaderError>;

    /// This header's fields as a fresh map.
    fn to_fields(&self) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        self.write_fields(&mut fields);
        fields
    }
}

/// Why a header could not be read from `ext_fields`. `field` is the wire key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A required field is absent.
    #[error("the custom field {field} is missing")]
    Missing {
        /// The ext-field key.
        field: &'static str,
    },
    /// A field is present but does not parse as its type.
    #[error("the custom field {field} has an invalid value {value:?}")]
    Invalid {
        /// The ext-field key.
        field: &'static str,
        /// The value as received.
        value: String,
    },
}

/// A request with `code` whose `ext_fields` are `header`'s fields (no body, opaque 0).
pub fn request<H: CommandHeader>(code: RequestCode, header: &H) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    header.write_fields(&mut cmd.ext_fields);
    cmd
}

/// Reads a typed header from `cmd`'s `ext_fields`.
pub fn read<H: CommandHeader>(cmd: &RemotingCommand) -> Result<H, HeaderError> {
    H::read_fields(&cmd.ext_fields)
}

/// A scalar that is one ext-field value.
pub(crate) trait FieldValue: Sized {
    /// Whether an empty string reads as "absent" (true for everything but strings).
    const EMPTY_IS_ABSENT: bool = true;

    /// The wire text.
    fn to_field(&self) -> String;

    /// Parses the wire text; `None` if it is not a valid value.
    fn from_field(text: &str) -> Option<Self>;
}

impl FieldValue for String {
    const EMPTY_IS_ABSENT: bool = false;

    fn to_field(&self) -> String {
        self.clone()
    }

    fn from_field(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl FieldValue for i32 {
    fn to_field(&self) -> String {
        self.to_string()
    }

    fn from_field(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl FieldValue for i64 {
    fn to_field(&self) -> String {
        self.to_string()
    }

    fn from_field(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl FieldValue for bool {
    fn to_field(&self) -> String {
        self.to_string()
    }

    fn from_field(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
}

/// A header field: a required [`FieldValue`] or an optional one.
pub(crate) trait Field: Sized {
    /// Writes the field (nothing for `None`).
    fn put(&self, key: &'static str, fields: &mut BTreeMap<String, String>);

    /// Reads the field.
    fn take(fields: &BTreeMap<String, String>, key: &'static str) -> Result<Self, HeaderError>;
}

impl<T: FieldValue> Field for T {
    fn put(&self, key: &'static str, fields: &mut BTreeMap<String, String>) {
        fields.insert(key.to_owned(), self.to_field());
    }

    fn take(fields: &BTreeMap<String, String>, key: &'static str) -> Result<Self, HeaderError> {
        lookup(fields, key)?.ok_or(HeaderError::Missing { field: key })
    }
}

impl<T: FieldValue> Field for Option<T> {
    fn put(&self, key: &'static str, fields: &mut BTreeMap<String, String>) {
        if let Some(value) = self {
            value.put(key, fields);
        }
    }

    fn take(fields: &BTreeMap<String, String>, key: &'static str) -> Result<Self, HeaderError> {
        lookup(fields, key)
    }
}

/// Reads a Java primitive field: `default` when absent.
pub(crate) fn take_or<T: FieldValue>(
    fields: &BTreeMap<String, String>,
    key: &'static str,
    default: T,
) -> Result<T, HeaderError> {
    Ok(lookup(fields, key)?.unwrap_or(default))
}

fn lookup<T: FieldValue>(
    fields: &BTreeMap<String, String>,
    key: &'static str,
) -> Result<Option<T>, HeaderError> {
    match fields.get(key) {
        None => Ok(None),
        Some(text) if text.is_empty() && T::EMPTY_IS_ABSENT => Ok(None),
        Some(text) => T::from_field(text)
            .map(Some)
            .ok_or_else(|| HeaderError::Invalid {
                field: key,
                value: text.clone(),
            }),
    }
}

/// Test helper: writes `header`, reads it back, asserts equality and returns the fields.
#[cfg(test)]
pub(crate) fn assert_round_trip<H>(header: &H) -> BTreeMap<String, String>
where
    H: CommandHeader + PartialEq + std::fmt::Debug,
{
    let fields = header.to_fields();
    let back = H::read_fields(&fields);
    assert_eq!(back.as_ref(), Ok(header), "fields: {fields:?}");
    fields
}

/// Test helper: a field map from literal pairs.
#[cfg(test)]
pub(crate) fn fields_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_render_as_java_to_string() {
        assert_eq!((-42i32).to_field(), "-42");
        assert_eq!(i64::MIN.to_field(), "-9223372036854775808");
        assert_eq!(true.to_field(), "true");
        assert_eq!(false.to_field(), "false");
    }

    #[test]
    fn bools_read_case_insensitively_and_reject_other_text() {
        assert_eq!(bool::from_field("TRUE"), Some(true));
        assert_eq!(bool::from_field("False"), Some(false));
        assert_eq!(bool::from_field("yes"), None);
        assert_eq!(bool::from_field("1"), None);
    }

    #[test]
    fn required_missing_optional_absent_and_invalid() {
        let fields = fields_of(&[("n", "12x"), ("s", ""), ("e", "")]);
        assert_eq!(
            <i32 as Field>::take(&fields, "absent"),
            Err(HeaderError::Missing { field: "absent" })
        );
        assert_eq!(<Option<i32> as Field>::take(&fields, "absent"), Ok(None));
        assert_eq!(
            <Option<i64> as Field>::take(&fields, "n"),
            Err(HeaderError::Invalid {
                field: "n",
                value: "12x".into()
            })
        );
        // An empty string is a value for strings, absent for anything else.
        assert_eq!(<String as Field>::take(&fields, "s"), Ok(String::new()));
        assert_eq!(
            <i32 as Field>::take(&fields, "e"),
            Err(HeaderError::Missing { field: "e" })
        );
        assert_eq!(take_or(&fields, "e", -1i32), Ok(-1));
        assert_eq!(take_or(&fields, "absent", true), Ok(true));
    }

    #[test]
    fn integer_overflow_is_invalid() {
        let fields = fields_of(&[("q", "2147483648")]);
        assert_eq!(
            <i32 as Field>::take(&fields, "q"),
            Err(HeaderError::Invalid {
                field: "q",
                value: "2147483648".into()
            })
        );
        assert_eq!(<i64 as Field>::take(&fields, "q"), Ok(2_147_483_648));
    }

    #[test]
    fn request_and_read_use_ext_fields() {
        let h = GetConsumerListByGroupRequestHeader {
            consumer_group: "g".into(),
        };
        let cmd = request(RequestCode::GetConsumerListByGroup, &h);
        assert_eq!(cmd.code, 38);
        assert!(cmd.body.is_empty());
        assert_eq!(cmd.ext_fields, fields_of(&[("consumerGroup", "g")]));
        assert_eq!(read::<GetConsumerListByGroupRequestHeader>(&cmd), Ok(h));
        let empty = RemotingCommand::request(RequestCode::GetConsumerListByGroup);
        assert_eq!(
            read::<GetConsumerListByGroupRequestHeader>(&empty),
            Err(HeaderError::Missing {
                field: "consumerGroup"
            })
        );
    }

    #[test]
    fn write_fields_keeps_other_entries() {
        let h = GetConsumerListByGroupRequestHeader {
            consumer_group: "g".into(),
        };
        let mut fields = fields_of(&[("AccessKey", "ak")]);
        h.write_fields(&mut fields);
        assert_eq!(
            fields,
            fields_of(&[("AccessKey", "ak"), ("consumerGroup", "g")])
        );
    }
}
