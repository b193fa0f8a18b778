//! Stored-format messages (pull, query and view bodies; protocol §3.5): [`MessageExt`], its
//! decoder and an encoder for tests and simulated brokers.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use super::compress::{decompress, CompressionType, DEFAULT_MAX_DECOMPRESSED_LEN};
use super::id::{ip_bytes, offset_message_id};
use super::properties::{decode_properties_bytes, encode_properties, MAX_PROPERTIES_LEN};
use super::reader::Reader;
use super::{batch, sysflag, Message, MessageError};

/// Magic code of stored-message version 1 (1-byte topic length), `0xDAA320A7`.
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of stored-message version 2 (2-byte topic length), `0xDAA320AB`.
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of commit-log end-of-file padding, `0xCBD43194`; never valid in a client body.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;

/// A stored message as a broker returns it (Java `MessageExt`/`MessageClientExt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic, flag, properties and (decompressed) body.
    pub message: Message,
    /// TOTALSIZE of the record.
    pub store_size: i32,
    /// Stored body CRC (CRC32 of the body as stored, `& 0x7FFFFFFF`).
    pub body_crc: i32,
    /// Queue id.
    pub queue_id: i32,
    /// Consume-queue offset.
    pub queue_offset: i64,
    /// Commit-log offset.
    pub commit_log_offset: i64,
    /// System flag (§3.3); the COMPRESSED bit is cleared once the body was decompressed.
    pub sys_flag: i32,
    /// Producer timestamp (ms).
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Broker store timestamp (ms).
    pub store_timestamp: i64,
    /// Storing broker address.
    pub store_host: SocketAddr,
    /// Times this message was consumed again.
    pub reconsume_times: i32,
    /// Prepared transaction offset.
    pub prepared_transaction_offset: i64,
    /// Offset message id: store host and commit-log offset (§3.7).
    pub offset_msg_id: String,
}

impl MessageExt {
    /// The id users see (Java `MessageClientExt.getMsgId`): `UNIQ_KEY` if present, else the
    /// offset message id.
    pub fn msg_id(&self) -> &str {
        self.message.unique_key().unwrap_or(&self.offset_msg_id)
    }

    /// Topic of the message.
    pub fn topic(&self) -> &str {
        &self.message.topic
    }

    /// Body of the message (decompressed when decoded with decompression on).
    pub fn body(&self) -> &Bytes {
        &self.message.body
    }

    /// Whether this is a broker inner batch the client must unwrap (sysFlag has both
    /// NEED_UNWRAP and INNER_BATCH).
    pub fn is_inner_batch(&self) -> bool {
        let both = sysflag::NEED_UNWRAP | sysflag::INNER_BATCH;
        self.sys_flag & both == both
    }

    /// Splits a broker inner batch into its messages as Java `MessageDecoder.decodeMessage`
    /// does: the body is a batch (§3.4); message `i` gets `queue_offset + i`, the outer topic,
    /// queue, hosts, timestamps, sysFlag, commit-log offset and `WAIT` value.
    pub fn unwrap_inner_batch(&self) -> Result<Vec<MessageExt>, MessageError> {
        let inner = batch::decode_batch(&self.message.body, &self.message.topic)?;
        let wait = self.message.wait_store_msg_ok();
        let mut out = Vec::with_capacity(inner.len());
        for (i, mut message) in (0i64..).zip(inner) {
            message.set_wait_store_msg_ok(wait);
            out.push(MessageExt {
                message,
                store_size: 0,
                body_crc: 0,
                queue_id: self.queue_id,
                queue_offset: self.queue_offset.wrapping_add(i),
                commit_log_offset: self.commit_log_offset,
                sys_flag: self.sys_flag,
                born_timestamp: self.born_timestamp,
                born_host: self.born_host,
                store_timestamp: self.store_timestamp,
                store_host: self.store_host,
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                offset_msg_id: self.offset_msg_id.clone(),
            });
        }
        Ok(out)
    }
}

/// How stored messages are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Decompress compressed bodies (and clear their COMPRESSED bit). Default true.
    pub decompress: bool,
    /// Verify the body CRC. Default false, like Java's client decode.
    pub check_crc: bool,
    /// Largest decompressed body accepted. Default 64 MiB.
    pub max_decompressed_len: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            decompress: true,
            check_crc: false,
            max_decompressed_len: DEFAULT_MAX_DECOMPRESSED_LEN,
        }
    }
}

impl DecodeOptions {
    /// Sets [`DecodeOptions::max_decompressed_len`].
    pub fn with_max_decompressed_len(mut self, max: usize) -> Self {
        self.max_decompressed_len = max;
        self
    }

    /// Sets [`DecodeOptions::check_crc`].
    pub fn with_check_crc(mut self, check: bool) -> Self {
        self.check_crc = check;
        self
    }

    /// Sets [`DecodeOptions::decompress`].
    pub fn with_decompress(mut self, decompress: bool) -> Self {
        self.decompress = decompress;
        self
    }
}

/// Decodes every record of a body with default options; any malformed record fails the whole
/// body. Uncompressed bodies share `body`'s memory.
pub fn decode_messages(body: &Bytes) -> Result<Vec<MessageExt>, MessageError> {
    decode_messages_with(body, &DecodeOptions::default())
}

/// [`decode_messages`] with options.
pub fn decode_messages_with(
    body: &Bytes,
    options: &DecodeOptions,
) -> Result<Vec<MessageExt>, MessageError> {
    StoredMessages::new(body, options.clone()).collect()
}

/// Decodes records until the first malformed one, Java's behaviour (`decodes` stops and keeps
/// what it has): returns the messages before the error, and the error if there was one.
pub fn decode_messages_partial(
    body: &Bytes,
    options: &DecodeOptions,
) -> (Vec<MessageExt>, Option<MessageError>) {
    let mut out = Vec::new();
    for item in StoredMessages::new(body, options.clone()) {
        match item {
            Ok(m) => out.push(m),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// An iterator over the records of a body. It yields at most one error, then ends.
#[derive(Debug, Clone)]
pub struct StoredMessages {
    buf: Bytes,
    pos: usize,
    options: DecodeOptions,
    failed: bool,
}

impl StoredMessages {
    /// Iterates over `body` (a cheap reference-counted clone).
    pub fn new(body: &Bytes, options: DecodeOptions) -> Self {
        StoredMessages {
            buf: body.clone(),
            pos: 0,
            options,
            failed: false,
        }
    }
}

impl Iterator for StoredMessages {
    type Item = Result<MessageExt, MessageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = self.buf.slice(self.pos..);
        match decode_message(&rest, &self.options) {
            Ok((msg, used)) => {
                self.pos = self.pos.saturating_add(used);
                Some(Ok(msg))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes the record at the start of `buf`, returning it and its size.
pub fn decode_message(
    buf: &Bytes,
    options: &DecodeOptions,
) -> Result<(MessageExt, usize), MessageError> {
    let size_bytes = buf.get(..4).ok_or(MessageError::Truncated {
        field: "total size",
        needed: 4,
        remaining: buf.len(),
    })?;
    let mut size_arr = [0u8; 4];
    size_arr.copy_from_slice(size_bytes);
    let store_size = i32::from_be_bytes(size_arr);
    let total =
        usize::try_from(store_size)
            .ok()
            .filter(|&t| t >= 8)
            .ok_or(MessageError::BadLength {
                field: "total size",
                len: i64::from(store_size),
            })?;
    if total > buf.len() {
        return Err(MessageError::Truncated {
            field: "record",
            needed: total,
            remaining: buf.len(),
        });
    }
    let record = buf.slice(..total);
    let mut r = Reader::new(&record);
    r.i32("total size")?;
    let magic = r.i32("magic code")?;
    let wide_topic_len = match magic {
        MAGIC_V1 => false,
        MAGIC_V2 => true,
        other => return Err(MessageError::BadMagic(other)),
    };
    let body_crc = r.i32("body crc")?;
    let queue_id = r.i32("queue id")?;
    let flag = r.i32("flag")?;
    let queue_offset = r.i64("queue offset")?;
    let commit_log_offset = r.i64("commit log offset")?;
    let mut sys_flag = r.i32("sys flag")?;
    let born_timestamp = r.i64("born timestamp")?;
    let born_host = read_host(&mut r, sys_flag & sysflag::BORN_HOST_V6 != 0, "born host")?;
    let store_timestamp = r.i64("store timestamp")?;
    let store_host = read_host(&mut r, sys_flag & sysflag::STORE_HOST_V6 != 0, "store host")?;
    let reconsume_times = r.i32("reconsume times")?;
    let prepared_transaction_offset = r.i64("prepared transaction offset")?;

    let body_len = r.i32("body length")?;
    let mut body = r.bytes("body", i64::from(body_len))?;
    if options.check_crc {
        let actual = crc32(&body);
        if actual != body_crc {
            return Err(MessageError::BodyCrcMismatch {
                stored: body_crc,
                actual,
            });
        }
    }
    if options.decompress && !body.is_empty() && sys_flag & sysflag::COMPRESSED != 0 {
        let kind = CompressionType::from_sys_flag(sys_flag)?;
        body = Bytes::from(decompress(kind, &body, options.max_decompressed_len)?);
        sys_flag &= !sysflag::COMPRESSED;
    }

    let topic_len = if wide_topic_len {
        i64::from(r.i16("topic length")?)
    } else {
        i64::from(r.i8("topic length")?)
    };
    let topic = r.bytes("topic", topic_len)?;
    let topic = String::from_utf8_lossy(&topic).into_owned();

    let props_len = r.i16("properties length")?;
    let props = r.bytes("properties", i64::from(props_len))?;
    let properties = decode_properties_bytes(&props);

    if r.position() != total {
        return Err(MessageError::RecordSizeMismatch {
            declared: i64::from(store_size),
            actual: r.position(),
        });
    }

    let offset_msg_id = offset_message_id(store_host, commit_log_offset);
    let ext = MessageExt {
        message: Message::from_decoded(topic, flag, properties, body),
        store_size,
        body_crc,
        queue_id,
        queue_offset,
        commit_log_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        offset_msg_id,
    };
    Ok((ext, total))
}

fn read_host(
    r: &mut Reader<'_>,
    v6: bool,
    field: &'static str,
) -> Result<SocketAddr, MessageError> {
    let ip = if v6 {
        let raw = r.fixed(field, 16)?;
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&raw);
        IpAddr::from(octets)
    } else {
        let raw = r.fixed(field, 4)?;
        let mut octets = [0u8; 4];
        octets.copy_from_slice(&raw);
        IpAddr::from(octets)
    };
    let port = r.i32(field)?;
    let port = u16::try_from(port).map_err(|_| MessageError::BadPort(port))?;
    Ok(SocketAddr::new(ip, port))
}

/// CRC32 (IEEE) of `data` masked to 31 bits, as Java's `UtilAll.crc32`.
pub fn crc32(data: &[u8]) -> i32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    (crc.sum() & 0x7FFF_FFFF) as i32
}

/// Encodes one stored record (what a broker returns for a pull) into a new buffer.
/// See [`encode_stored_into`].
pub fn encode_stored(ext: &MessageExt) -> Result<Bytes, MessageError> {
    let mut out = BytesMut::new();
    encode_stored_into(ext, &mut out)?;
    Ok(out.freeze())
}

/// Appends one stored record to `out`, as a broker writes it:
///
/// * the body is written as given: when `sys_flag` has COMPRESSED the caller supplies the
///   compressed bytes;
/// * the IPv6 bits of `sys_flag` are set from the hosts' address families;
/// * TOTALSIZE and BODYCRC are computed (the struct's values are ignored);
/// * magic V1 (1-byte topic length) for topics up to 127 bytes, else V2, like the broker's
///   `autoMessageVersionOnTopicLen`.
pub fn encode_stored_into(ext: &MessageExt, out: &mut BytesMut) -> Result<(), MessageError> {
    let topic = ext.message.topic.as_bytes();
    let props = encode_properties(ext.message.properties());
    if props.len() > MAX_PROPERTIES_LEN {
        return Err(MessageError::PropertiesTooLong(props.len()));
    }
    let wide = topic.len() > i8::MAX as usize;
    if topic.len() > i16::MAX as usize {
        return Err(MessageError::TopicTooLong(topic.len()));
    }
    let body = &ext.message.body;
    let body_len = i32::try_from(body.len()).map_err(|_| MessageError::BodyTooLong(body.len()))?;
    let born_ip = ip_bytes(ext.born_host.ip());
    let store_ip = ip_bytes(ext.store_host.ip());
    let mut sys_flag = ext.sys_flag & !(sysflag::BORN_HOST_V6 | sysflag::STORE_HOST_V6);
    if born_ip.len() == 16 {
        sys_flag |= sysflag::BORN_HOST_V6;
    }
    if store_ip.len() == 16 {
        sys_flag |= sysflag::STORE_HOST_V6;
    }
    let total = 4
        + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + born_ip.len()
        + 4
        + 8
        + store_ip.len()
        + 4
        + 4
        + 8
        + 4
        + body.len()
        + if wide { 2 } else { 1 }
        + topic.len()
        + 2
        + props.len();
    let total_i32 = i32::try_from(total).map_err(|_| MessageError::BodyTooLong(body.len()))?;

    out.reserve(total);
    out.put_i32(total_i32);
    out.put_i32(if wide { MAGIC_V2 } else { MAGIC_V1 });
    out.put_i32(crc32(body));
    out.put_i32(ext.queue_id);
    out.put_i32(ext.message.flag);
    out.put_i64(ext.queue_offset);
    out.put_i64(ext.commit_log_offset);
    out.put_i32(sys_flag);
    out.put_i64(ext.born_timestamp);
    out.put_slice(&born_ip);
    out.put_i32(i32::from(ext.born_host.port()));
    out.put_i64(ext.store_timestamp);
    out.put_slice(&store_ip);
    out.put_i32(i32::from(ext.store_host.port()));
    out.put_i32(ext.reconsume_times);
    out.put_i64(ext.prepared_transaction_offset);
    out.put_i32(body_len);
    out.put_slice(body);
    if wide {
        out.put_i16(topic.len() as i16);
    } else {
        out.put_i8(topic.len() as i8);
    }
    out.put_slice(topic);
    out.put_i16(props.len() as i16);
    out.put_slice(props.as_bytes());
    Ok(())
}

impl MessageExt {
    /// A stored message around `message` with zeroed metadata and unspecified IPv4 hosts;
    /// handy for building records in tests and simulated brokers.
    pub fn from_message(message: Message) -> Self {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        MessageExt {
            message,
            store_size: 0,
            body_crc: 0,
            queue_id: 0,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: any,
            store_timestamp: 0,
            store_host: any,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            offset_msg_id: offset_message_id(any, 0),
        }
    }

    /// Recomputes [`MessageExt::offset_msg_id`] from the store host and commit-log offset.
    pub fn refresh_offset_msg_id(&mut self) {
        self.offset_msg_id = offset_message_id(self.store_host, self.commit_log_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::compress::compress;
    use crate::message::keys;

    fn sample() -> MessageExt {
        let mut m = Message::new("abc", Bytes::from_static(b"hello!q!"));
        m.put_user_property("a", "123").unwrap();
        m.put_user_property("b", "hello").unwrap();
        m.put_user_property("c", "3.14").unwrap();
        let mut ext = MessageExt::from_message(m);
        ext.queue_id = 1;
        ext.queue_offset = 123;
        ext.commit_log_offset = 123_456;
        ext.born_host = "127.0.0.1:0".parse().unwrap();
        ext.store_host = "10.0.0.7:10911".parse().unwrap();
        ext.born_timestamp = 1_700_000_000_000;
        ext.store_timestamp = 1_700_000_000_005;
        ext.refresh_offset_msg_id();
        ext
    }

    #[test]
    fn fixed_prefix_is_84_bytes_for_ipv4() {
        let bytes = encode_stored(&sample()).unwrap();
        // body length field sits at 84.
        assert_eq!(&bytes[84..88], &8i32.to_be_bytes());
        assert_eq!(&bytes[88..96], b"hello!q!");
        assert_eq!(bytes[96], 3);
        assert_eq!(&bytes[4..8], &MAGIC_V1.to_be_bytes());
    }

    #[test]
    fn body_is_zero_copy() {
        let bytes = encode_stored(&sample()).unwrap();
        let msgs = decode_messages(&bytes).unwrap();
        let body = msgs[0].body();
        let base = bytes.as_ptr() as usize;
        let p = body.as_ptr() as usize;
        assert!(p >= base && p + body.len() <= base + bytes.len());
    }

    #[test]
    fn compressed_body_decoded_and_flag_cleared() {
        let mut ext = sample();
        let plain = Bytes::from(vec![7u8; 10_000]);
        ext.message.body = Bytes::from(compress(CompressionType::Lz4, &plain, 5).unwrap());
        ext.sys_flag = sysflag::COMPRESSED | CompressionType::Lz4.sys_flag_bits();
        let bytes = encode_stored(&ext).unwrap();
        let got = &decode_messages(&bytes).unwrap()[0];
        assert_eq!(got.body(), &plain);
        assert_eq!(got.sys_flag, 0x100);
        let raw =
            decode_messages_with(&bytes, &DecodeOptions::default().with_decompress(false)).unwrap();
        assert_eq!(raw[0].sys_flag, 0x101);
        let small = DecodeOptions::default().with_max_decompressed_len(100);
        assert_eq!(
            decode_messages_with(&bytes, &small),
            Err(MessageError::DecompressedTooLarge { max: 100 })
        );
    }

    #[test]
    fn crc_checked_on_request() {
        let bytes = encode_stored(&sample()).unwrap();
        let mut bad = BytesMut::from(&bytes[..]);
        bad[88] ^= 1;
        let bad = bad.freeze();
        assert!(decode_messages(&bad).is_ok());
        assert!(matches!(
            decode_messages_with(&bad, &DecodeOptions::default().with_check_crc(true)),
            Err(MessageError::BodyCrcMismatch { .. })
        ));
        assert!(
            decode_messages_with(&bytes, &DecodeOptions::default().with_check_crc(true)).is_ok()
        );
    }

    #[test]
    fn inner_batch_unwraps() {
        let mut a = Message::new("T", Bytes::from_static(b"a"));
        a.put_user_property("i", "0").unwrap();
        let b = Message::new("T", Bytes::from_static(b"b"));
        let mut ext = sample();
        ext.message = Message::new("T", batch::encode_batch(&[a, b]).unwrap());
        ext.sys_flag = sysflag::NEED_UNWRAP | sysflag::INNER_BATCH;
        ext.queue_offset = 40;
        assert!(ext.is_inner_batch());
        let inner = ext.unwrap_inner_batch().unwrap();
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[0].body().as_ref(), b"a");
        assert_eq!(inner[0].message.property("i"), Some("0"));
        assert_eq!(inner[1].queue_offset, 41);
        assert_eq!(inner[1].topic(), "T");
        assert_eq!(
            inner[1].message.property(keys::WAIT_STORE_MSG_OK),
            Some("true")
        );
    }
}
