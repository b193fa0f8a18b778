//! Errors of the message layer.

use super::compress::CompressionType;

/// Why a message could not be built, encoded or decoded.
///
/// Decode variants blame the peer (a broker body that is not a valid record); the others blame
/// the caller (a message that Java would refuse too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Fewer bytes remain than a field needs.
    #[error("truncated record: {field} needs {needed} bytes, {remaining} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the record.
        remaining: usize,
    },
    /// A length field is negative or larger than what is left of its record.
    #[error("invalid {field} length {len}")]
    BadLength {
        /// The length field.
        field: &'static str,
        /// The declared value.
        len: i64,
    },
    /// The magic code is neither stored-message V1 nor V2.
    #[error("unknown magic code {0:#010x}")]
    BadMagic(i32),
    /// The record's fields do not add up to its declared total size.
    #[error("record declares {declared} bytes but its fields span {actual}")]
    RecordSizeMismatch {
        /// TOTALSIZE as declared.
        declared: i64,
        /// Size the fields actually use.
        actual: usize,
    },
    /// A host port outside 0..=65535.
    #[error("invalid port {0}")]
    BadPort(i32),
    /// The compression type bits (8..=10) of a sysFlag hold an unknown value.
    #[error("unknown compression type {0}")]
    UnknownCompressionType(i32),
    /// Compressed bytes could not be decompressed.
    #[error("corrupt {kind:?} data: {reason}")]
    Decompress {
        /// The algorithm used.
        kind: CompressionType,
        /// What the decompressor reported.
        reason: String,
    },
    /// Decompressed data would exceed the configured limit.
    #[error("decompressed body exceeds the limit of {max} bytes")]
    DecompressedTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// Compression failed.
    #[error("{kind:?} compression failed: {reason}")]
    Compress {
        /// The algorithm used.
        kind: CompressionType,
        /// What the compressor reported.
        reason: String,
    },
    /// The body CRC does not match (only checked when asked for).
    #[error("body crc {actual} does not match the stored {stored}")]
    BodyCrcMismatch {
        /// CRC stored in the record.
        stored: i32,
        /// CRC computed over the body.
        actual: i32,
    },
    /// The serialized properties exceed the i16 length field (32 767 bytes).
    #[error("properties of {0} bytes exceed 32767 bytes")]
    PropertiesTooLong(usize),
    /// The topic does not fit its length field.
    #[error("topic of {0} bytes is too long")]
    TopicTooLong(usize),
    /// The body does not fit an i32 length field.
    #[error("body of {0} bytes is too long")]
    BodyTooLong(usize),
    /// A property name or value that cannot be carried by the properties string.
    #[error("invalid property {name:?}: {reason}")]
    InvalidProperty {
        /// The property name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A user property whose name is reserved by the system (`MessageConst.STRING_HASH_SET`).
    #[error("property {0:?} is reserved by the system")]
    SystemProperty(String),
    /// A user property with a blank name or value.
    #[error("the name or value of a user property is blank")]
    BlankProperty,
    /// A batch without messages.
    #[error("a batch needs at least one message")]
    EmptyBatch,
    /// Batch messages with different topics.
    #[error("batch messages have different topics: {expected:?} and {found:?}")]
    BatchTopicMismatch {
        /// Topic of the first message.
        expected: String,
        /// The differing topic.
        found: String,
    },
    /// Batch messages with different `WAIT` values.
    #[error("batch messages have different WAIT values")]
    BatchWaitMismatch,
    /// A batch message with a delay level.
    #[error("delay levels are not supported in batches")]
    BatchDelayNotSupported,
    /// A batch sent to a retry topic.
    #[error("retry topic {0:?} is not supported in batches")]
    BatchRetryTopic(String),
    /// A message id that is not valid hex of the expected length.
    #[error("invalid message id {id:?}: {reason}")]
    BadMessageId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}
