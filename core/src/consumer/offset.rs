//! Offsets: the start offset of a newly assigned queue (protocol §6.6), the in-memory offset
//! table, and the content of the broadcasting offset file (§5.9).

use std::collections::BTreeMap;

use crate::body::{BodyError, ConsumeFromWhere, MessageQueue, ResetOffsetBody};
use crate::codec::{RemotingCommand, ResponseCode};
use crate::header::{self, OffsetResponseHeader};

use super::retry::is_retry_topic;

/// What the offset store said about a queue (Java `readOffset(READ_FROM_STORE)`: ≥ 0, −1, −2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredOffset {
    /// An offset is stored.
    Found(i64),
    /// Nothing is stored (QUERY_NOT_FOUND, or no entry in the local file).
    NotFound,
    /// The store could not be read.
    Error,
}

impl StoredOffset {
    /// Reads a QUERY_CONSUMER_OFFSET response: SUCCESS with a non-negative `offset` is
    /// `Found`, QUERY_NOT_FOUND (22) is `NotFound`, anything else `Error`.
    pub fn from_response(response: &RemotingCommand) -> Self {
        match response.response_code() {
            ResponseCode::Success => match header::read::<OffsetResponseHeader>(response) {
                Ok(h) if h.offset >= 0 => Self::Found(h.offset),
                Ok(_) => Self::NotFound,
                Err(_) => Self::Error,
            },
            ResponseCode::QueryNotFound => Self::NotFound,
            _ => Self::Error,
        }
    }
}

/// The request the start-offset computation needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffsetStep {
    /// Read the stored offset (QUERY_CONSUMER_OFFSET to the master, or the local store), then
    /// call [`StartOffset::on_stored`].
    ReadStored,
    /// GET_MAX_OFFSET, then [`StartOffset::on_max_offset`].
    QueryMaxOffset,
    /// SEARCH_OFFSET_BY_TIMESTAMP with this timestamp (ms), then
    /// [`StartOffset::on_search_offset`].
    SearchByTimestamp(i64),
    /// Start pulling here.
    Done(i64),
    /// The start offset cannot be computed now: skip the queue this rebalance.
    Failed,
}

/// The start offset of one newly assigned queue (Java
/// `RebalancePushImpl.computePullFromWhereWithException`) as a small state machine.
///
/// | consumeFromWhere | stored ≥ 0 | nothing stored | store error |
/// |---|---|---|---|
/// | LAST (and deprecated variants) | it | `%RETRY%` → 0; else max offset | fail |
/// | FIRST | it | 0 | fail |
/// | TIMESTAMP | it | `%RETRY%` → max offset; else search by timestamp | fail |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartOffset {
    retry_topic: bool,
    from: ConsumeFromWhere,
    timestamp_ms: i64,
    step: StartOffsetStep,
    from_store: bool,
}

impl StartOffset {
    /// Starts the computation for `mq`; `timestamp_ms` is used by `CONSUME_FROM_TIMESTAMP`.
    pub fn new(mq: &MessageQueue, from: ConsumeFromWhere, timestamp_ms: i64) -> Self {
        Self {
            retry_topic: is_retry_topic(&mq.topic),
            from,
            timestamp_ms,
            step: StartOffsetStep::ReadStored,
            from_store: false,
        }
    }

    /// Whether the offset is the one the store holds (`Found`), not one computed from
    /// `consumeFromWhere` because the store had none. A stored offset need not be written
    /// back; a computed one must be, or a restart computes it anew (LAST: past the messages
    /// sent meanwhile).
    pub fn from_store(&self) -> bool {
        self.from_store
    }

    /// What to do next.
    pub fn step(&self) -> StartOffsetStep {
        self.step
    }

    fn set(&mut self, step: StartOffsetStep) -> StartOffsetStep {
        self.step = step;
        step
    }

    /// Applies the stored-offset answer. Ignored unless the step is `ReadStored`.
    pub fn on_stored(&mut self, stored: StoredOffset) -> StartOffsetStep {
        if self.step != StartOffsetStep::ReadStored {
            return self.step;
        }
        self.from_store = matches!(stored, StoredOffset::Found(_));
        let next = match stored {
            StoredOffset::Found(o) => StartOffsetStep::Done(o),
            StoredOffset::Error => StartOffsetStep::Failed,
            StoredOffset::NotFound => match self.from {
                ConsumeFromWhere::FirstOffset => StartOffsetStep::Done(0),
                ConsumeFromWhere::Timestamp if self.retry_topic => StartOffsetStep::QueryMaxOffset,
                ConsumeFromWhere::Timestamp => {
                    StartOffsetStep::SearchByTimestamp(self.timestamp_ms)
                }
                _ if self.retry_topic => StartOffsetStep::Done(0),
                _ => StartOffsetStep::QueryMaxOffset,
            },
        };
        self.set(next)
    }

    /// Applies the GET_MAX_OFFSET answer (`None` = failed). Ignored unless asked for.
    pub fn on_max_offset(&mut self, max: Option<i64>) -> StartOffsetStep {
        if self.step != StartOffsetStep::QueryMaxOffset {
            return self.step;
        }
        self.set(
            max.filter(|m| *m >= 0)
                .map_or(StartOffsetStep::Failed, StartOffsetStep::Done),
        )
    }

    /// Applies the SEARCH_OFFSET_BY_TIMESTAMP answer (`None` = failed). Ignored unless asked.
    pub fn on_search_offset(&mut self, offset: Option<i64>) -> StartOffsetStep {
        if !matches!(self.step, StartOffsetStep::SearchByTimestamp(_)) {
            return self.step;
        }
        self.set(
            offset
                .filter(|m| *m >= 0)
                .map_or(StartOffsetStep::Failed, StartOffsetStep::Done),
        )
    }
}

/// Reads a GET_MAX_OFFSET / SEARCH_OFFSET_BY_TIMESTAMP response: the `offset` of a SUCCESS.
pub fn offset_from_response(response: &RemotingCommand) -> Option<i64> {
    if response.response_code() != ResponseCode::Success {
        return None;
    }
    header::read::<OffsetResponseHeader>(response)
        .ok()
        .map(|h| h.offset)
}

/// In-memory consumer offsets (Java `OffsetStore.offsetTable`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetTable {
    table: BTreeMap<MessageQueue, i64>,
}

impl OffsetTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table with these entries (e.g. read from the offset file).
    pub fn from_map(table: BTreeMap<MessageQueue, i64>) -> Self {
        Self { table }
    }

    /// Sets the offset of `mq`; with `increase_only` a smaller value is ignored. Returns
    /// whether it changed.
    pub fn update(&mut self, mq: &MessageQueue, offset: i64, increase_only: bool) -> bool {
        match self.table.get_mut(mq) {
            Some(cur) if increase_only && offset <= *cur => false,
            Some(cur) if *cur == offset => false,
            Some(cur) => {
                *cur = offset;
                true
            }
            None => {
                self.table.insert(mq.clone(), offset);
                true
            }
        }
    }

    /// The offset of `mq`.
    pub fn get(&self, mq: &MessageQueue) -> Option<i64> {
        self.table.get(mq).copied()
    }

    /// Forgets `mq` (after its final persist, or a dirty offset before re-assignment).
    pub fn remove(&mut self, mq: &MessageQueue) -> Option<i64> {
        self.table.remove(mq)
    }

    /// Entries of the assigned queues, to persist; entries of other queues are dropped
    /// (Java `persistAll`).
    pub fn retain_assigned<'a>(
        &mut self,
        assigned: impl IntoIterator<Item = &'a MessageQueue>,
    ) -> Vec<(MessageQueue, i64)> {
        let keep: std::collections::BTreeSet<&MessageQueue> = assigned.into_iter().collect();
        self.table.retain(|mq, _| keep.contains(mq));
        self.table.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// All entries.
    pub fn entries(&self) -> &BTreeMap<MessageQueue, i64> {
        &self.table
    }
}

/// Why an offset file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetFileError {
    /// The file is empty (a crash between create and write).
    #[error("offset file is empty")]
    Empty,
    /// The file is not an offset table.
    #[error("offset file is corrupt: {0}")]
    Corrupt(BodyError),
    /// An entry has a negative offset.
    #[error("offset file has a negative offset {offset} for {queue}")]
    NegativeOffset {
        /// The queue.
        queue: String,
        /// The value.
        offset: i64,
    },
}

/// The content of Java's broadcasting `offsets.json`: `{"offsetTable":{{mq}:offset,…}}`
/// (fastjson object keys). Writing it safely (temp file, fsync, rename, `.bak`) is the
/// adapter's job.
pub fn encode_offset_file(table: &BTreeMap<MessageQueue, i64>) -> Vec<u8> {
    ResetOffsetBody {
        offset_table: table.clone(),
    }
    .encode()
}

/// Parses an offset file (Java's pretty-printed or compact form). Corrupt content is an
/// error, never an empty table: the adapter then falls back to the `.bak` copy.
pub fn decode_offset_file(bytes: &[u8]) -> Result<BTreeMap<MessageQueue, i64>, OffsetFileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(OffsetFileError::Empty);
    }
    let table = ResetOffsetBody::decode(bytes)
        .map_err(OffsetFileError::Corrupt)?
        .offset_table;
    if let Some((mq, off)) = table.iter().find(|(_, o)| **o < 0) {
        return Err(OffsetFileError::NegativeOffset {
            queue: mq.to_string(),
            offset: *off,
        });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::RequestCode;

    fn mq(topic: &str) -> MessageQueue {
        MessageQueue::new(topic, "b", 0)
    }

    #[test]
    fn table_of_start_offsets() {
        use ConsumeFromWhere::*;
        use StartOffsetStep::*;
        let run =
            |topic: &str, from, stored| StartOffset::new(&mq(topic), from, 77).on_stored(stored);
        assert_eq!(run("T", LastOffset, StoredOffset::Found(5)), Done(5));
        assert_eq!(run("T", LastOffset, StoredOffset::NotFound), QueryMaxOffset);
        assert_eq!(run("%RETRY%g", LastOffset, StoredOffset::NotFound), Done(0));
        assert_eq!(run("T", MinOffset, StoredOffset::NotFound), QueryMaxOffset);
        assert_eq!(run("T", LastOffset, StoredOffset::Error), Failed);
        assert_eq!(run("T", FirstOffset, StoredOffset::NotFound), Done(0));
        assert_eq!(run("T", FirstOffset, StoredOffset::Found(9)), Done(9));
        let stored = |found| {
            let mut s = StartOffset::new(&MessageQueue::new("T", "b", 0), LastOffset, 0);
            s.on_stored(found);
            s.from_store()
        };
        assert!(stored(StoredOffset::Found(3)));
        assert!(!stored(StoredOffset::NotFound));
        assert_eq!(run("T", FirstOffset, StoredOffset::Error), Failed);
        assert_eq!(
            run("T", Timestamp, StoredOffset::NotFound),
            SearchByTimestamp(77)
        );
        assert_eq!(
            run("%RETRY%g", Timestamp, StoredOffset::NotFound),
            QueryMaxOffset
        );
        assert_eq!(run("T", Timestamp, StoredOffset::Error), Failed);
    }

    #[test]
    fn follow_up_answers() {
        let mut s = StartOffset::new(&mq("T"), ConsumeFromWhere::LastOffset, 0);
        assert_eq!(
            s.on_search_offset(Some(3)),
            StartOffsetStep::ReadStored,
            "not asked"
        );
        s.on_stored(StoredOffset::NotFound);
        assert_eq!(s.on_max_offset(Some(42)), StartOffsetStep::Done(42));
        let mut s = StartOffset::new(&mq("T"), ConsumeFromWhere::Timestamp, 1);
        s.on_stored(StoredOffset::NotFound);
        assert_eq!(s.on_search_offset(None), StartOffsetStep::Failed);
        assert_eq!(s.step(), StartOffsetStep::Failed);
    }

    #[test]
    fn responses() {
        let req = RemotingCommand::request(RequestCode::QueryConsumerOffset);
        let ok =
            RemotingCommand::response_to(&req, ResponseCode::Success).with_field("offset", "12");
        assert_eq!(StoredOffset::from_response(&ok), StoredOffset::Found(12));
        assert_eq!(offset_from_response(&ok), Some(12));
        let nf = RemotingCommand::response_to(&req, ResponseCode::QueryNotFound);
        assert_eq!(StoredOffset::from_response(&nf), StoredOffset::NotFound);
        assert_eq!(offset_from_response(&nf), None);
        let err = RemotingCommand::response_to(&req, ResponseCode::SystemError);
        assert_eq!(StoredOffset::from_response(&err), StoredOffset::Error);
        let bad = RemotingCommand::response_to(&req, ResponseCode::Success);
        assert_eq!(StoredOffset::from_response(&bad), StoredOffset::Error);
    }

    #[test]
    fn offset_table_updates() {
        let mut t = OffsetTable::new();
        assert!(t.update(&mq("a"), 5, true));
        assert!(!t.update(&mq("a"), 4, true));
        assert!(t.update(&mq("a"), 4, false));
        assert!(t.update(&mq("b"), 1, false));
        let kept = t.retain_assigned([&mq("b")]);
        assert_eq!(kept, vec![(mq("b"), 1)]);
        assert_eq!(t.get(&mq("a")), None);
    }

    #[test]
    fn offset_file_round_trip_and_java_form() {
        let mut table = BTreeMap::new();
        table.insert(MessageQueue::new("T", "broker-a", 0), 12);
        table.insert(MessageQueue::new("T", "broker-a", 1), 3);
        let bytes = encode_offset_file(&table);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:12,{"brokerName":"broker-a","queueId":1,"topic":"T"}:3}}"#
        );
        assert_eq!(decode_offset_file(&bytes).unwrap(), table);
        // fastjson `toJSONString(obj, true)` pretty form, as Java's LocalFileOffsetStore writes.
        let java = "{\n\t\"offsetTable\":{{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":0,\n\t\t\t\"topic\":\"T\"\n\t\t}:12,{\n\t\t\t\"brokerName\":\"broker-a\",\n\t\t\t\"queueId\":1,\n\t\t\t\"topic\":\"T\"\n\t\t}:3\n\t}\n}";
        assert_eq!(decode_offset_file(java.as_bytes()).unwrap(), table);
    }

    #[test]
    fn corrupt_offset_files() {
        assert_eq!(decode_offset_file(b"  \n"), Err(OffsetFileError::Empty));
        assert!(matches!(
            decode_offset_file(b"{\"offsetTable\":{{\"brokerName\":"),
            Err(OffsetFileError::Corrupt(_))
        ));
        assert!(matches!(
            decode_offset_file(b"\x00\x01garbage"),
            Err(OffsetFileError::Corrupt(_))
        ));
        assert!(matches!(
            decode_offset_file(
                br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:-5}}"#
            ),
            Err(OffsetFileError::NegativeOffset { offset: -5, .. })
        ));
        assert_eq!(decode_offset_file(b"{}").unwrap(), BTreeMap::new());
    }
}
