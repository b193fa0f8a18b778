//! Body compression: zlib, LZ4 frame and zstd, selected by the sysFlag compression bits
//! (protocol §3.6). Decompression is always bounded by a caller-chosen output limit.

use std::io::{Read, Write};

use super::{sysflag, MessageError};

/// Java's default compression level (`rocketmq.message.compressLevel`).
pub const DEFAULT_COMPRESS_LEVEL: i32 = 5;
/// Java's compression threshold (`compressMsgBodyOverHowmuch`): bodies of at least this many
/// bytes are compressed by the Java producer.
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 4096;
/// Default limit on a decompressed body (64 MiB).
pub const DEFAULT_MAX_DECOMPRESSED_LEN: usize = 64 * 1024 * 1024;

/// A body compression algorithm (Java `CompressionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// RFC 1950 zlib stream (Java `Deflater`); Java's default and Go's only algorithm.
    #[default]
    Zlib,
    /// LZ4 frame format (lz4-java `LZ4FrameOutputStream`).
    Lz4,
    /// Standard zstd frame.
    Zstd,
}

impl CompressionType {
    /// The type value Java stores in sysFlag bits 8..=10 (LZ4 1, ZSTD 2, ZLIB 3).
    pub fn value(self) -> i32 {
        match self {
            CompressionType::Lz4 => 1,
            CompressionType::Zstd => 2,
            CompressionType::Zlib => 3,
        }
    }

    /// The type for a value of sysFlag bits 8..=10: 0 (messages produced before the type bits
    /// existed) and 3 mean zlib, 1 LZ4, 2 zstd; anything else is an error.
    pub fn from_value(value: i32) -> Result<Self, MessageError> {
        match value {
            0 | 3 => Ok(CompressionType::Zlib),
            1 => Ok(CompressionType::Lz4),
            2 => Ok(CompressionType::Zstd),
            other => Err(MessageError::UnknownCompressionType(other)),
        }
    }

    /// The type bits to OR into a message sysFlag (`0x300`, `0x100` or `0x200`).
    pub fn sys_flag_bits(self) -> i32 {
        self.value() << 8
    }

    /// The type selected by a message sysFlag (whether or not its COMPRESSED bit is set).
    pub fn from_sys_flag(sys_flag: i32) -> Result<Self, MessageError> {
        Self::from_value((sys_flag & sysflag::COMPRESSION_TYPE_MASK) >> 8)
    }
}

/// Compresses `data`. `level` is clamped to 0..=9 for zlib, passed to zstd as is and ignored
/// by LZ4 (the frame format has no level).
pub fn compress(kind: CompressionType, data: &[u8], level: i32) -> Result<Vec<u8>, MessageError> {
    let fail = |e: std::io::Error| MessageError::Compress {
        kind,
        reason: e.to_string(),
    };
    match kind {
        CompressionType::Zlib => {
            let level = u32::try_from(level.clamp(0, 9)).unwrap_or(6);
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 2 + 16),
                flate2::Compression::new(level),
            );
            enc.write_all(data).map_err(fail)?;
            enc.finish().map_err(fail)
        }
        CompressionType::Lz4 => {
            let mut enc =
                lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 16));
            enc.write_all(data).map_err(fail)?;
            enc.finish().map_err(|e| MessageError::Compress {
                kind,
                reason: e.to_string(),
            })
        }
        CompressionType::Zstd => zstd::stream::encode_all(data, level).map_err(fail),
    }
}

/// Decompresses `data`, failing with [`MessageError::DecompressedTooLarge`] as soon as the
/// output would exceed `max_len` bytes (memory use stays bounded by `max_len` whatever the
/// input claims), and with [`MessageError::Decompress`] on corrupt input. Truncated zlib and
/// zstd streams are errors; an LZ4 frame cut exactly at a block boundary yields the blocks
/// before the cut (the decoder treats a missing end mark as the end of the frame).
pub fn decompress(
    kind: CompressionType,
    data: &[u8],
    max_len: usize,
) -> Result<Vec<u8>, MessageError> {
    match kind {
        CompressionType::Zlib => inflate_zlib(data, max_len),
        CompressionType::Lz4 => {
            read_bounded(kind, lz4_flex::frame::FrameDecoder::new(data), max_len)
        }
        CompressionType::Zstd => {
            let corrupt = |e: std::io::Error| MessageError::Decompress {
                kind,
                reason: e.to_string(),
            };
            let mut dec = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            // Streamed frames (Java's `ZstdOutputStream`) declare the window of their level, not
            // of their content: accept up to 8 MiB (levels 1..=19) or the output limit if
            // larger, never past zstd's default 128 MiB, so a hostile header cannot reserve
            // much more memory than the limit allows.
            dec.window_log_max(window_log_for(max_len).max(23))
                .map_err(corrupt)?;
            read_bounded(kind, dec, max_len)
        }
    }
}

/// Smallest zstd window log covering `max_len`, within zstd's accepted range 10..=27 for
/// the default decoder.
fn window_log_for(max_len: usize) -> u32 {
    let needed = usize::BITS - max_len.saturating_sub(1).leading_zeros();
    needed.clamp(10, 27)
}

fn read_bounded(
    kind: CompressionType,
    reader: impl Read,
    max_len: usize,
) -> Result<Vec<u8>, MessageError> {
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| MessageError::Decompress {
            kind,
            reason: e.to_string(),
        })?;
    if out.len() > max_len {
        return Err(MessageError::DecompressedTooLarge { max: max_len });
    }
    Ok(out)
}

/// zlib through the raw inflater so a truncated stream is an error (the `Read` adapter would
/// end quietly), as Java's `InflaterInputStream` reports "Unexpected end of ZLIB input stream".
fn inflate_zlib(data: &[u8], max_len: usize) -> Result<Vec<u8>, MessageError> {
    let corrupt = |reason: String| MessageError::Decompress {
        kind: CompressionType::Zlib,
        reason,
    };
    let mut inflater = flate2::Decompress::new(true);
    let hard_cap = max_len.saturating_add(1);
    let mut out: Vec<u8> = Vec::with_capacity(data.len().saturating_mul(2).max(64).min(hard_cap));
    loop {
        if out.len() == out.capacity() {
            if out.len() >= hard_cap {
                return Err(MessageError::DecompressedTooLarge { max: max_len });
            }
            let grow = out.capacity().max(64).min(hard_cap - out.len());
            out.reserve_exact(grow);
        }
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let input = data.get(consumed..).unwrap_or_default();
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress_vec(input, &mut out, flate2::FlushDecompress::None)
            .map_err(|e| corrupt(e.to_string()))?;
        if out.len() > max_len {
            return Err(MessageError::DecompressedTooLarge { max: max_len });
        }
        if status == flate2::Status::StreamEnd {
            return Ok(out);
        }
        let progressed = inflater.total_in() != in_before || inflater.total_out() != out_before;
        if !progressed && out.len() < out.capacity() {
            return Err(corrupt("unexpected end of zlib stream".to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CompressionType; 3] = [
        CompressionType::Zlib,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect()
    }

    #[test]
    fn round_trip_every_algorithm() {
        let data = sample();
        for kind in ALL {
            let packed = compress(kind, &data, DEFAULT_COMPRESS_LEVEL).unwrap();
            assert!(packed.len() < data.len(), "{kind:?} did not compress");
            assert_eq!(
                decompress(kind, &packed, data.len()).unwrap(),
                data,
                "{kind:?}"
            );
            assert_eq!(
                decompress(kind, &packed, data.len() - 1),
                Err(MessageError::DecompressedTooLarge {
                    max: data.len() - 1
                }),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn empty_round_trip() {
        for kind in ALL {
            let packed = compress(kind, b"", 5).unwrap();
            assert_eq!(decompress(kind, &packed, 0).unwrap(), b"", "{kind:?}");
        }
    }

    // "hello, go" is the input of rocketmq-client-go internal/utils/helper_test.go
    // (TestUnCompress). The bytes are the zlib library's output at level 5 (Java's
    // `Deflater(5)` wraps the same library), i.e. what a Java producer sends.
    #[test]
    fn zlib_level5_vector() {
        let java = [
            0x78, 0x5e, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x48, 0xcf, 0x07, 0x00, 0x10,
            0xcd, 0x03, 0x37,
        ];
        assert_eq!(
            decompress(CompressionType::Zlib, &java, 100).unwrap(),
            b"hello, go"
        );
        let ours = compress(CompressionType::Zlib, b"hello, go", 5).unwrap();
        assert_eq!(
            decompress(CompressionType::Zlib, &ours, 100).unwrap(),
            b"hello, go"
        );
    }

    #[test]
    fn truncated_and_corrupt_input_is_an_error() {
        let data = sample();
        for kind in ALL {
            let packed = compress(kind, &data, 5).unwrap();
            for cut in [1, packed.len() / 2, packed.len() - 1] {
                let r = decompress(kind, &packed[..cut], data.len());
                match r {
                    Err(MessageError::Decompress { .. }) => {}
                    // LZ4 cut at a block boundary: a prefix of the data, never garbage.
                    Ok(prefix) if kind == CompressionType::Lz4 => {
                        assert!(prefix.len() < data.len() || cut == packed.len() - 1);
                        assert_eq!(&data[..prefix.len()], prefix.as_slice());
                    }
                    other => panic!("{kind:?} cut at {cut}: {:?}", other.map(|v| v.len())),
                }
            }
            let mut bad = packed.clone();
            for b in bad.iter_mut().take(8) {
                *b ^= 0x5a;
            }
            assert!(
                decompress(kind, &bad, data.len()).is_err(),
                "{kind:?} accepted a corrupt header"
            );
        }
    }

    #[test]
    fn sys_flag_bits() {
        assert_eq!(CompressionType::Zlib.sys_flag_bits(), 0x300);
        assert_eq!(CompressionType::Lz4.sys_flag_bits(), 0x100);
        assert_eq!(CompressionType::Zstd.sys_flag_bits(), 0x200);
        assert_eq!(
            CompressionType::from_sys_flag(0x1),
            Ok(CompressionType::Zlib)
        );
        assert_eq!(
            CompressionType::from_sys_flag(0x301),
            Ok(CompressionType::Zlib)
        );
        assert_eq!(
            CompressionType::from_sys_flag(0x101),
            Ok(CompressionType::Lz4)
        );
        assert_eq!(
            CompressionType::from_sys_flag(0x201),
            Ok(CompressionType::Zstd)
        );
        for v in 4..8 {
            assert_eq!(
                CompressionType::from_sys_flag(v << 8 | 1),
                Err(MessageError::UnknownCompressionType(v))
            );
        }
    }

    #[test]
    fn zstd_window_log() {
        assert_eq!(window_log_for(0), 10);
        assert_eq!(window_log_for(1 << 20), 20);
        assert_eq!(window_log_for((1 << 20) + 1), 21);
        assert_eq!(window_log_for(DEFAULT_MAX_DECOMPRESSED_LEN), 26);
        assert_eq!(window_log_for(usize::MAX), 27);
    }
}
