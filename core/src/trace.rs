//! Message trace records in Java's text format (`TraceDataEncoder`), as the RocketMQ
//! dashboard reads them from the trace topic: `Pub` when a producer stored a message,
//! `SubBefore` when a consumer's handler got it and `SubAfter` when the handler finished.
//!
//! A record is its fields joined by `\u{1}` and ended by `\u{2}`; a trace message's body is
//! one or more records, its keys every traced message id and business key.

use std::fmt::Write as _;

/// The default trace topic (Java `TopicValidator.RMQ_SYS_TRACE_TOPIC`).
pub const DEFAULT_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// Separates a record's fields (Java `TraceConstants.CONTENT_SPLITOR`).
pub const CONTENT_SEPARATOR: char = '\u{1}';

/// Ends a record (Java `TraceConstants.FIELD_SPLITOR`).
pub const RECORD_END: char = '\u{2}';

/// The region a record names when the message carries none.
pub const DEFAULT_REGION: &str = "DefaultRegion";

/// Java `MessageType`, by ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMessageType {
    /// `Normal_Msg`.
    Normal = 0,
    /// `Trans_Msg_Half`.
    TransactionHalf = 1,
    /// `Trans_msg_Commit`.
    TransactionCommit = 2,
    /// `Delay_Msg`.
    Delay = 3,
    /// `Order_Msg`.
    Order = 4,
}

impl TraceMessageType {
    fn from_ordinal(n: i64) -> Option<Self> {
        Some(match n {
            0 => Self::Normal,
            1 => Self::TransactionHalf,
            2 => Self::TransactionCommit,
            3 => Self::Delay,
            4 => Self::Order,
            _ => return None,
        })
    }
}

/// One trace record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRecord {
    /// A send's outcome.
    Pub {
        /// When the send began (ms since the epoch).
        timestamp: i64,
        /// The send result's region.
        region: String,
        /// The producer group.
        group: String,
        /// The topic.
        topic: String,
        /// The message id (`UNIQ_KEY`).
        msg_id: String,
        /// Its tags (empty without).
        tags: String,
        /// Its keys, space-separated (empty without).
        keys: String,
        /// The storing broker's address.
        store_host: String,
        /// Body length in bytes.
        body_len: usize,
        /// How long the send took, ms.
        cost_ms: u64,
        /// The kind of message.
        message_type: TraceMessageType,
        /// The broker's offset message id.
        offset_msg_id: String,
        /// Stored with SEND_OK.
        success: bool,
    },
    /// A consumer's handler got a message.
    SubBefore {
        /// When (ms since the epoch).
        timestamp: i64,
        /// The message's region.
        region: String,
        /// The consumer group.
        group: String,
        /// Ties the handler call's records together.
        request_id: String,
        /// The message id.
        msg_id: String,
        /// Times it was consumed before.
        retry_times: i32,
        /// Its keys.
        keys: String,
    },
    /// The handler finished with the message.
    SubAfter {
        /// The `SubBefore`'s request id.
        request_id: String,
        /// The message id.
        msg_id: String,
        /// The handler's time per message of its call, ms.
        cost_ms: u64,
        /// Consumed (not sent back or suspended).
        success: bool,
        /// Its keys.
        keys: String,
        /// Java `ConsumeReturnType` ordinal: 0 success, 4 failed.
        context_code: i32,
        /// When the handler finished (ms since the epoch).
        timestamp: i64,
    },
}

impl TraceRecord {
    /// Appends the record in Java's format.
    pub fn encode_into(&self, out: &mut String) {
        let fields: Vec<String> = match self {
            TraceRecord::Pub {
                timestamp,
                region,
                group,
                topic,
                msg_id,
                tags,
                keys,
                store_host,
                body_len,
                cost_ms,
                message_type,
                offset_msg_id,
                success,
            } => vec![
                "Pub".into(),
                timestamp.to_string(),
                region.clone(),
                group.clone(),
                topic.clone(),
                msg_id.clone(),
                tags.clone(),
                keys.clone(),
                store_host.clone(),
                body_len.to_string(),
                cost_ms.to_string(),
                (*message_type as i32).to_string(),
                offset_msg_id.clone(),
                success.to_string(),
            ],
            TraceRecord::SubBefore {
                timestamp,
                region,
                group,
                request_id,
                msg_id,
                retry_times,
                keys,
            } => vec![
                "SubBefore".into(),
                timestamp.to_string(),
                region.clone(),
                group.clone(),
                request_id.clone(),
                msg_id.clone(),
                retry_times.to_string(),
                keys.clone(),
            ],
            TraceRecord::SubAfter {
                request_id,
                msg_id,
                cost_ms,
                success,
                keys,
                context_code,
                timestamp,
            } => vec![
                "SubAfter".into(),
                request_id.clone(),
                msg_id.clone(),
                cost_ms.to_string(),
                success.to_string(),
                keys.clone(),
                context_code.to_string(),
                timestamp.to_string(),
            ],
        };
        let _ = write!(out, "{}", fields.join(&CONTENT_SEPARATOR.to_string()));
        out.push(RECORD_END);
    }

    /// The message id and business keys a trace message of this record is keyed by.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let (msg_id, keys) = match self {
            TraceRecord::Pub { msg_id, keys, .. }
            | TraceRecord::SubBefore { msg_id, keys, .. }
            | TraceRecord::SubAfter { msg_id, keys, .. } => (msg_id, keys),
        };
        std::iter::once(msg_id.as_str()).chain(keys.split(' ').filter(|k| !k.is_empty()))
    }

    /// The message id the record is about.
    pub fn msg_id(&self) -> &str {
        match self {
            TraceRecord::Pub { msg_id, .. }
            | TraceRecord::SubBefore { msg_id, .. }
            | TraceRecord::SubAfter { msg_id, .. } => msg_id,
        }
    }
}

/// The records of a trace message body (unknown or short records are skipped, as Java's
/// reader would fail on them).
pub fn decode_records(body: &str) -> Vec<TraceRecord> {
    body.split(RECORD_END)
        .filter(|r| !r.is_empty())
        .filter_map(|r| decode_record(&r.split(CONTENT_SEPARATOR).collect::<Vec<_>>()))
        .collect()
}

fn decode_record(f: &[&str]) -> Option<TraceRecord> {
    let s = |i: usize| f.get(i).map(|v| (*v).to_owned());
    let n = |i: usize| f.get(i)?.parse::<i64>().ok();
    let b = |i: usize| f.get(i).map(|v| *v == "true");
    Some(match *f.first()? {
        "Pub" if f.len() >= 14 => TraceRecord::Pub {
            timestamp: n(1)?,
            region: s(2)?,
            group: s(3)?,
            topic: s(4)?,
            msg_id: s(5)?,
            tags: s(6)?,
            keys: s(7)?,
            store_host: s(8)?,
            body_len: usize::try_from(n(9)?).ok()?,
            cost_ms: u64::try_from(n(10)?).ok()?,
            message_type: TraceMessageType::from_ordinal(n(11)?)?,
            offset_msg_id: s(12)?,
            success: b(13)?,
        },
        "SubBefore" if f.len() >= 8 => TraceRecord::SubBefore {
            timestamp: n(1)?,
            region: s(2)?,
            group: s(3)?,
            request_id: s(4)?,
            msg_id: s(5)?,
            retry_times: i32::try_from(n(6)?).ok()?,
            keys: s(7)?,
        },
        "SubAfter" if f.len() >= 8 => TraceRecord::SubAfter {
            request_id: s(1)?,
            msg_id: s(2)?,
            cost_ms: u64::try_from(n(3)?).ok()?,
            success: b(4)?,
            keys: s(5)?,
            context_code: i32::try_from(n(6)?).ok()?,
            timestamp: n(7)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_javas_layout_round_trip() {
        let records = vec![
            TraceRecord::Pub {
                timestamp: 1,
                region: DEFAULT_REGION.into(),
                group: "pg".into(),
                topic: "T".into(),
                msg_id: "M1".into(),
                tags: "A".into(),
                keys: "k1 k2".into(),
                store_host: "10.0.0.1:10911".into(),
                body_len: 5,
                cost_ms: 3,
                message_type: TraceMessageType::Normal,
                offset_msg_id: "O1".into(),
                success: true,
            },
            TraceRecord::SubBefore {
                timestamp: 2,
                region: DEFAULT_REGION.into(),
                group: "cg".into(),
                request_id: "R".into(),
                msg_id: "M1".into(),
                retry_times: 0,
                keys: "".into(),
            },
            TraceRecord::SubAfter {
                request_id: "R".into(),
                msg_id: "M1".into(),
                cost_ms: 4,
                success: false,
                keys: "".into(),
                context_code: 4,
                timestamp: 6,
            },
        ];
        let mut body = String::new();
        for r in &records {
            r.encode_into(&mut body);
        }
        assert!(body.starts_with(
            "Pub\u{1}1\u{1}DefaultRegion\u{1}pg\u{1}T\u{1}M1\u{1}A\u{1}k1 k2\u{1}10.0.0.1:10911\u{1}5\u{1}3\u{1}0\u{1}O1\u{1}true\u{2}SubBefore\u{1}"
        ));
        assert!(body.ends_with("SubAfter\u{1}R\u{1}M1\u{1}4\u{1}false\u{1}\u{1}4\u{1}6\u{2}"));
        assert_eq!(decode_records(&body), records);
        assert_eq!(records[0].keys().collect::<Vec<_>>(), ["M1", "k1", "k2"]);
        assert_eq!(decode_records("Pub\u{1}x\u{2}Nope\u{2}"), vec![]);
    }
}
