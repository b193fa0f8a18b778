//! Messages: properties, system flags, stored-message decoding, batches, ids and compression
//! (protocol §3).
//!
//! * [`Message`]: what a producer sends; [`keys`] names the well-known properties and
//!   [`properties`] encodes and decodes the properties string with Java's rules.
//! * [`MessageExt`]: a stored message as brokers return it; [`decode_messages`] decodes a pull
//!   body (zero-copy bodies, bounded decompression) and [`encode_stored`] writes one.
//! * [`encode_batch`] / [`decode_batch`]: SEND_BATCH_MESSAGE bodies.
//! * [`OffsetMessageId`] and [`UniqIdGenerator`]: broker and client message ids.
//! * [`compress`](compress::compress) / [`decompress`](compress::decompress): zlib, LZ4 and
//!   zstd selected by [`CompressionType`].
//! * [`sysflag`]: message and pull `sysFlag` bits; [`tag_hash`]: Java `String.hashCode`.
//!
//! Nothing here panics on peer bytes: every length is checked and every failure is a
//! [`MessageError`].

mod batch;
pub mod compress;
mod error;
mod ext;
mod id;
pub mod keys;
mod msg;
pub mod properties;
mod reader;
pub mod sysflag;
mod tag;

pub use batch::{decode_batch, encode_batch, validate_batch, RETRY_TOPIC_PREFIX};
pub use compress::CompressionType;
pub use error::MessageError;
pub use ext::{
    crc32, decode_message, decode_messages, decode_messages_partial, decode_messages_with,
    encode_stored, encode_stored_into, DecodeOptions, MessageExt, StoredMessages, BLANK_MAGIC,
    MAGIC_V1, MAGIC_V2,
};
pub use id::{
    month_start_millis, next_month_start_millis, offset_message_id, OffsetMessageId,
    UniqIdGenerator, UniqIdParts,
};
pub use msg::Message;
pub use properties::Properties;
pub use tag::tag_hash;
