//! A simulated broker's message store: a commit log addressed by byte offset, one consume
//! queue per (topic, queue id), topic configs and consumer offsets.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rocketwire_core::header::BoundaryType;
use rocketwire_core::message::{encode_stored, Message, MessageExt};

/// Where a message goes when appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Into the consume queue `queue_id` (visible to pulls).
    Queue(i32),
    /// Not into any queue (a transaction half message): its target queue id and its own
    /// queue offset among half messages.
    Hidden(i32, i64),
}

/// Metadata of an append.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendMeta {
    pub(crate) sys_flag: i32,
    pub(crate) born_timestamp: i64,
    pub(crate) born_host: SocketAddr,
    pub(crate) store_timestamp: i64,
    pub(crate) reconsume_times: i32,
}

/// The store of one broker. Everything is kept in memory; a broker restart keeps it.
#[derive(Debug, Clone)]
pub struct Store {
    store_host: SocketAddr,
    commit_log: BTreeMap<i64, MessageExt>,
    next_phys: i64,
    topics: BTreeMap<String, i32>,
    queues: BTreeMap<(String, i32), Vec<i64>>,
    offsets: BTreeMap<(String, String, i32), i64>,
}

impl Store {
    /// An empty store whose messages carry `store_host`.
    pub fn new(store_host: SocketAddr) -> Self {
        Self {
            store_host,
            commit_log: BTreeMap::new(),
            next_phys: 0,
            topics: BTreeMap::new(),
            queues: BTreeMap::new(),
            offsets: BTreeMap::new(),
        }
    }

    /// The queue count of `topic`, if it exists.
    pub fn queue_nums(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).copied()
    }

    /// Every topic and its queue count.
    pub fn topics(&self) -> &BTreeMap<String, i32> {
        &self.topics
    }

    /// Creates `topic` with `nums` queues; returns false if it already existed.
    pub fn create_topic(&mut self, topic: &str, nums: i32) -> bool {
        if self.topics.contains_key(topic) {
            return false;
        }
        self.topics.insert(topic.to_string(), nums);
        true
    }

    /// Appends a message; returns the stored record.
    pub(crate) fn append(
        &mut self,
        message: Message,
        place: Placement,
        meta: AppendMeta,
    ) -> MessageExt {
        let mut ext = MessageExt::from_message(message);
        ext.sys_flag = meta.sys_flag;
        ext.born_timestamp = meta.born_timestamp;
        ext.born_host = meta.born_host;
        ext.store_timestamp = meta.store_timestamp;
        ext.store_host = self.store_host;
        ext.reconsume_times = meta.reconsume_times;
        ext.commit_log_offset = self.next_phys;
        ext.refresh_offset_msg_id();
        let queue_offset = match place {
            Placement::Queue(qid) => {
                ext.queue_id = qid;
                let q = self
                    .queues
                    .entry((ext.message.topic.clone(), qid))
                    .or_default();
                q.push(self.next_phys);
                q.len() as i64 - 1
            }
            Placement::Hidden(qid, offset) => {
                ext.queue_id = qid;
                offset
            }
        };
        ext.queue_offset = queue_offset;
        let size = encode_stored(&ext).map(|b| b.len()).unwrap_or(0).max(1);
        ext.store_size = i32::try_from(size).unwrap_or(i32::MAX);
        self.next_phys += size as i64;
        self.commit_log.insert(ext.commit_log_offset, ext.clone());
        ext
    }

    /// The record at commit-log offset `phys`.
    pub fn get(&self, phys: i64) -> Option<&MessageExt> {
        self.commit_log.get(&phys)
    }

    /// The queue's max offset (one past the last message).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue(topic, queue_id).len() as i64
    }

    /// The message at `offset` of a queue.
    pub fn at(&self, topic: &str, queue_id: i32, offset: i64) -> Option<&MessageExt> {
        let index = usize::try_from(offset).ok()?;
        let phys = self.queue(topic, queue_id).get(index)?;
        self.commit_log.get(phys)
    }

    /// Every message of a queue, in order.
    pub fn messages(&self, topic: &str, queue_id: i32) -> Vec<&MessageExt> {
        self.queue(topic, queue_id)
            .iter()
            .filter_map(|p| self.commit_log.get(p))
            .collect()
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP: LOWER = first offset stored at or after `timestamp`,
    /// UPPER = last offset stored at or before it; the queue bounds when nothing matches.
    pub fn search(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
        boundary: BoundaryType,
    ) -> i64 {
        let times: Vec<i64> = self
            .messages(topic, queue_id)
            .iter()
            .map(|m| m.store_timestamp)
            .collect();
        match boundary {
            BoundaryType::Lower => times
                .iter()
                .position(|t| *t >= timestamp)
                .unwrap_or(times.len()) as i64,
            BoundaryType::Upper => times.iter().rposition(|t| *t <= timestamp).unwrap_or(0) as i64,
        }
    }

    /// A consumer group's committed offset.
    pub fn consumer_offset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.offsets
            .get(&(group.to_string(), topic.to_string(), queue_id))
            .copied()
    }

    /// Commits a consumer group's offset.
    pub fn set_consumer_offset(&mut self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.offsets
            .insert((group.to_string(), topic.to_string(), queue_id), offset);
    }

    fn queue(&self, topic: &str, queue_id: i32) -> &[i64] {
        self.queues
            .get(&(topic.to_string(), queue_id))
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn meta(ts: i64) -> AppendMeta {
        AppendMeta {
            sys_flag: 0,
            born_timestamp: ts,
            born_host: SocketAddr::from(([10, 0, 0, 1], 1)),
            store_timestamp: ts,
            reconsume_times: 0,
        }
    }

    #[test]
    fn append_assigns_queue_and_commit_log_offsets() {
        let mut store = Store::new(SocketAddr::from(([127, 0, 0, 1], 10911)));
        let a = store.append(
            Message::new("T", Bytes::from_static(b"a")),
            Placement::Queue(1),
            meta(10),
        );
        let b = store.append(
            Message::new("T", Bytes::from_static(b"b")),
            Placement::Queue(1),
            meta(20),
        );
        let h = store.append(
            Message::new("T", Bytes::new()),
            Placement::Hidden(1, 0),
            meta(30),
        );
        assert_eq!((a.queue_offset, b.queue_offset), (0, 1));
        assert_eq!(b.commit_log_offset, i64::from(a.store_size));
        assert_eq!(store.get(b.commit_log_offset), Some(&b));
        assert_eq!(
            store.max_offset("T", 1),
            2,
            "the hidden half message is not in the queue"
        );
        assert!(store.get(h.commit_log_offset).is_some());
        assert_eq!(store.search("T", 1, 15, BoundaryType::Lower), 1);
        assert_eq!(store.search("T", 1, 15, BoundaryType::Upper), 0);
        assert_eq!(store.search("T", 1, 99, BoundaryType::Lower), 2);
        assert_eq!(
            store.at("T", 1, 1).map(|m| m.message.body.clone()),
            Some(Bytes::from_static(b"b"))
        );
    }
}
