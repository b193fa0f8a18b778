//! Message `sysFlag` bits (Java `MessageSysFlag`, protocol §3.3) and pull request `sysFlag`
//! bits (Java `PullSysFlag`, protocol §4.3).

/// The body is compressed (`COMPRESSED_FLAG`).
pub const COMPRESSED: i32 = 0x1;
/// Set by the broker for MULTI_TAG topics (`MULTI_TAGS_FLAG`).
pub const MULTI_TAGS: i32 = 0x2;
/// Mask of the transaction type bits 2..=3.
pub const TRANSACTION_MASK: i32 = 0xC;
/// Not a transactional message (`TRANSACTION_NOT_TYPE`).
pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
/// Half (prepared) message (`TRANSACTION_PREPARED_TYPE`).
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
/// Committed transactional message (`TRANSACTION_COMMIT_TYPE`).
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// Rolled-back transactional message (`TRANSACTION_ROLLBACK_TYPE`).
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
/// The born host is IPv6, 16 address bytes (`BORNHOST_V6_FLAG`).
pub const BORN_HOST_V6: i32 = 0x10;
/// The store host is IPv6, 16 address bytes (`STOREHOSTADDRESS_V6_FLAG`).
pub const STORE_HOST_V6: i32 = 0x20;
/// Broker inner batch that the client must unwrap (`NEED_UNWRAP_FLAG`).
pub const NEED_UNWRAP: i32 = 0x40;
/// Broker inner batch (`INNER_BATCH_FLAG`).
pub const INNER_BATCH: i32 = 0x80;
/// Compression type LZ4 in bits 8..=10 (`COMPRESSION_LZ4_TYPE`).
pub const COMPRESSION_LZ4: i32 = 0x100;
/// Compression type ZSTD in bits 8..=10 (`COMPRESSION_ZSTD_TYPE`).
pub const COMPRESSION_ZSTD: i32 = 0x200;
/// Compression type ZLIB in bits 8..=10 (`COMPRESSION_ZLIB_TYPE`); the value 0 also means ZLIB.
pub const COMPRESSION_ZLIB: i32 = 0x300;
/// Mask of the compression type bits 8..=10 (`COMPRESSION_TYPE_COMPARATOR`).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;

/// Pull: the broker should store the request's `commitOffset` (`FLAG_COMMIT_OFFSET`).
pub const PULL_COMMIT_OFFSET: i32 = 0x1;
/// Pull: the broker may hold the request (long polling) (`FLAG_SUSPEND`).
pub const PULL_SUSPEND: i32 = 0x2;
/// Pull: the `subscription` header carries the expression (`FLAG_SUBSCRIPTION`).
pub const PULL_SUBSCRIPTION: i32 = 0x4;
/// Pull: class-filter mode, obsolete (`FLAG_CLASS_FILTER`).
pub const PULL_CLASS_FILTER: i32 = 0x8;
/// Pull: lite pull consumer (`FLAG_LITE_PULL_MESSAGE`).
pub const PULL_LITE_PULL_MESSAGE: i32 = 0x10;

/// Builds a pull request `sysFlag` the way Java's `PullSysFlag.buildSysFlag` does.
pub fn build_pull_sys_flag(
    commit_offset: bool,
    suspend: bool,
    subscription: bool,
    class_filter: bool,
) -> i32 {
    let mut flag = 0;
    if commit_offset {
        flag |= PULL_COMMIT_OFFSET;
    }
    if suspend {
        flag |= PULL_SUSPEND;
    }
    if subscription {
        flag |= PULL_SUBSCRIPTION;
    }
    if class_filter {
        flag |= PULL_CLASS_FILTER;
    }
    flag
}

/// The transaction type bits of a message `sysFlag` (one of the `TRANSACTION_*_TYPE` values).
pub fn transaction_type(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_MASK
}

/// Replaces the transaction type bits of a message `sysFlag`.
pub fn with_transaction_type(sys_flag: i32, kind: i32) -> i32 {
    (sys_flag & !TRANSACTION_MASK) | (kind & TRANSACTION_MASK)
}

/// Whether any bit of `bits` is set in `sys_flag`.
pub fn has(sys_flag: i32, bits: i32) -> bool {
    sys_flag & bits != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_producer_zlib_value() {
        assert_eq!(COMPRESSED | COMPRESSION_ZLIB, 0x301);
        assert_eq!(BORN_HOST_V6 | STORE_HOST_V6, 48);
    }

    #[test]
    fn transaction_bits_round_trip() {
        let f = with_transaction_type(0x301, TRANSACTION_PREPARED_TYPE);
        assert_eq!(f, 0x305);
        assert_eq!(transaction_type(f), TRANSACTION_PREPARED_TYPE);
        assert_eq!(
            transaction_type(with_transaction_type(f, TRANSACTION_COMMIT_TYPE)),
            0x8
        );
        assert!(has(f, COMPRESSED));
        assert!(!has(f, BORN_HOST_V6));
    }

    #[test]
    fn pull_flags() {
        assert_eq!(build_pull_sys_flag(true, true, true, false), 0x7);
        assert_eq!(build_pull_sys_flag(false, true, false, false), 0x2);
        assert_eq!(build_pull_sys_flag(false, false, false, true), 0x8);
    }
}
