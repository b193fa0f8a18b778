//! Tag hash codes used by subscriptions (protocol §5.3).

/// Java `String.hashCode()` of a tag: `h = 31 * h + c` over its UTF-16 code units with 32-bit
/// wrapping. Brokers filter consume-queue entries by this value, so it must match Java exactly
/// (Go hashes UTF-8 bytes instead, which agrees for ASCII only).
pub fn tag_hash(tag: &str) -> i32 {
    tag.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

#[cfg(test)]
mod tests {
    use super::tag_hash;

    #[test]
    fn java_values() {
        // Java: "".hashCode() == 0, "TagA".hashCode() == 2598919, "*".hashCode() == 42.
        assert_eq!(tag_hash(""), 0);
        assert_eq!(tag_hash("TagA"), 2_598_919);
        assert_eq!(tag_hash("*"), 42);
        // "hello".hashCode() == 99162322; long strings wrap.
        assert_eq!(tag_hash("hello"), 99_162_322);
        assert_eq!(tag_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn utf16_units_not_bytes() {
        // "é" is U+00E9: one UTF-16 unit, two UTF-8 bytes.
        assert_eq!(tag_hash("é"), 0xE9);
        // U+1F600 is the surrogate pair D83D DE00: 0xD83D * 31 + 0xDE00.
        assert_eq!(tag_hash("😀"), 0xD83D * 31 + 0xDE00);
        // "中文": 0x4E2D * 31 + 0x6587.
        assert_eq!(tag_hash("中文"), 0x4E2D * 31 + 0x6587);
    }
}
