//! Queue allocation strategies (Java `client/.../consumer/rebalance/*.java`, protocol §6.5).
//!
//! Every strategy is a pure function of the current client id, the topic's queues and the
//! group's client ids. Inputs are sorted and de-duplicated first (queues by topic, broker name,
//! queue id; ids as strings), as Java's `RebalanceImpl` sorts them before calling, so every
//! consumer of a group computes the same assignment whatever order it learned things in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use md5::{Digest, Md5};

use crate::body::MessageQueue;

/// Java's default virtual node count of the consistent-hash strategy.
pub const DEFAULT_VIRTUAL_NODES: usize = 10;

/// Why allocation could not run (Java throws `IllegalArgumentException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocateError {
    /// The current client id is empty.
    #[error("currentCID is empty")]
    EmptyCurrentId,
    /// The topic has no queues.
    #[error("mqAll is null or mqAll empty")]
    NoQueues,
    /// The group has no consumers.
    #[error("cidAll is null or cidAll empty")]
    NoConsumers,
    /// The machine-room resolver gave an empty room.
    #[error("machine room is empty for {0}")]
    NoMachineRoom(String),
}

/// Maps a queue's broker name to its machine room.
pub type BrokerRoomFn = dyn Fn(&MessageQueue) -> String + Send + Sync;
/// Maps a client id to its machine room.
pub type ConsumerRoomFn = dyn Fn(&str) -> String + Send + Sync;

/// Where brokers and consumers are deployed (Java `AllocateMachineRoomNearby.MachineRoomResolver`).
#[derive(Clone)]
pub struct MachineRoomResolver {
    broker: Arc<BrokerRoomFn>,
    consumer: Arc<ConsumerRoomFn>,
}

impl MachineRoomResolver {
    /// A resolver from two functions.
    pub fn new(
        broker: impl Fn(&MessageQueue) -> String + Send + Sync + 'static,
        consumer: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Self {
        Self {
            broker: Arc::new(broker),
            consumer: Arc::new(consumer),
        }
    }

    /// The room is the part of the broker name / client id before the first `separator`
    /// (the whole text when there is none).
    pub fn prefix(separator: char) -> Self {
        let cut = move |s: &str| s.split(separator).next().unwrap_or_default().to_owned();
        Self::new(move |mq| cut(&mq.broker_name), cut)
    }

    /// The room of a queue's broker.
    pub fn broker_room(&self, mq: &MessageQueue) -> String {
        (self.broker)(mq)
    }

    /// The room of a consumer.
    pub fn consumer_room(&self, cid: &str) -> String {
        (self.consumer)(cid)
    }
}

impl fmt::Debug for MachineRoomResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MachineRoomResolver(..)")
    }
}

impl PartialEq for MachineRoomResolver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.broker, &other.broker) && Arc::ptr_eq(&self.consumer, &other.consumer)
    }
}

/// A queue allocation strategy.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum AllocateStrategy {
    /// Contiguous ranges, the first `N % C` consumers get one more (`AVG`, Java default).
    #[default]
    Averagely,
    /// Round robin: queue `i` goes to consumer `i % C` (`AVG_BY_CIRCLE`).
    AveragelyByCircle,
    /// A fixed list whatever the inputs (`CONFIG`).
    Config(Vec<MessageQueue>),
    /// Only queues of brokers named `<room>@<name>` with `room` in the set, spread evenly
    /// (`MACHINE_ROOM`).
    MachineRoom(BTreeSet<String>),
    /// Queues of my room among consumers of my room; queues of rooms without consumers among
    /// everybody (`MACHINE_ROOM_NEARBY-<inner>`).
    MachineRoomNearby {
        /// The strategy used inside each group.
        inner: Box<AllocateStrategy>,
        /// Where brokers and consumers are.
        resolver: MachineRoomResolver,
    },
    /// MD5 hash ring with `virtual_nodes` per consumer (`CONSISTENT_HASH`, default 10).
    ConsistentHash {
        /// Virtual nodes per consumer.
        virtual_nodes: usize,
    },
}

impl AllocateStrategy {
    /// Consistent hashing with Java's 10 virtual nodes.
    pub fn consistent_hash() -> Self {
        Self::ConsistentHash {
            virtual_nodes: DEFAULT_VIRTUAL_NODES,
        }
    }

    /// The Java strategy name (sent in QUERY_ASSIGNMENT).
    pub fn name(&self) -> String {
        match self {
            Self::Averagely => "AVG".into(),
            Self::AveragelyByCircle => "AVG_BY_CIRCLE".into(),
            Self::Config(_) => "CONFIG".into(),
            Self::MachineRoom(_) => "MACHINE_ROOM".into(),
            Self::MachineRoomNearby { inner, .. } => {
                format!("MACHINE_ROOM_NEARBY-{}", inner.name())
            }
            Self::ConsistentHash { .. } => "CONSISTENT_HASH".into(),
        }
    }

    /// The queues of `mq_all` that `current` should consume, given the group's `cid_all`.
    /// Empty when `current` is not in `cid_all` (except [`AllocateStrategy::Config`]).
    pub fn allocate(
        &self,
        current: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if let Self::Config(list) = self {
            return Ok(list.clone());
        }
        if current.is_empty() {
            return Err(AllocateError::EmptyCurrentId);
        }
        if mq_all.is_empty() {
            return Err(AllocateError::NoQueues);
        }
        if cid_all.is_empty() {
            return Err(AllocateError::NoConsumers);
        }
        let mut mqs = mq_all.to_vec();
        mqs.sort();
        mqs.dedup();
        let mut cids = cid_all.to_vec();
        cids.sort();
        cids.dedup();
        let Some(index) = cids.iter().position(|c| c == current) else {
            return Ok(Vec::new());
        };
        Ok(match self {
            Self::Averagely => averagely(index, &mqs, cids.len()),
            Self::AveragelyByCircle => mqs
                .iter()
                .skip(index)
                .step_by(cids.len())
                .cloned()
                .collect(),
            Self::MachineRoom(rooms) => machine_room(index, &mqs, cids.len(), rooms),
            Self::ConsistentHash { virtual_nodes } => {
                consistent_hash(current, &mqs, &cids, *virtual_nodes)
            }
            Self::MachineRoomNearby { inner, resolver } => {
                return nearby(inner, resolver, current, &mqs, &cids)
            }
            Self::Config(_) => Vec::new(),
        })
    }
}

fn averagely(index: usize, mqs: &[MessageQueue], c: usize) -> Vec<MessageQueue> {
    let n = mqs.len();
    let m = n % c;
    let extra = m > 0 && index < m;
    let avg = if n <= c {
        1
    } else if extra {
        n / c + 1
    } else {
        n / c
    };
    let start = if extra {
        index.saturating_mul(avg)
    } else {
        index.saturating_mul(avg).saturating_add(m)
    };
    let range = avg.min(n.saturating_sub(start));
    mqs.iter().skip(start).take(range).cloned().collect()
}

fn machine_room(
    index: usize,
    mqs: &[MessageQueue],
    c: usize,
    rooms: &BTreeSet<String>,
) -> Vec<MessageQueue> {
    // Java keeps brokers whose name splits on '@' into exactly two parts (trailing empty parts
    // dropped), the first being a configured room.
    let pre: Vec<&MessageQueue> = mqs
        .iter()
        .filter(|mq| {
            let mut parts = mq.broker_name.split('@');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(room), Some(name), None) => !name.is_empty() && rooms.contains(room),
                _ => false,
            }
        })
        .collect();
    let m = pre.len() / c;
    let rem = pre.len() % c;
    let start = m.saturating_mul(index);
    let mut out: Vec<MessageQueue> = pre
        .iter()
        .skip(start)
        .take(m)
        .map(|q| (*q).clone())
        .collect();
    if rem > index {
        if let Some(q) = pre.get(index.saturating_add(m.saturating_mul(c))) {
            out.push((*q).clone());
        }
    }
    out
}

/// Java `ConsistentHashRouter`'s MD5 hash: the first 4 digest bytes, big-endian, unsigned.
pub fn md5_hash(key: &str) -> u32 {
    let digest = Md5::digest(key.as_bytes());
    let mut first = [0u8; 4];
    first.copy_from_slice(&digest[..4]);
    u32::from_be_bytes(first)
}

fn consistent_hash(
    current: &str,
    mqs: &[MessageQueue],
    cids: &[String],
    virtual_nodes: usize,
) -> Vec<MessageQueue> {
    let mut ring: BTreeMap<u32, &str> = BTreeMap::new();
    for cid in cids {
        // Java numbers a node's replicas after those already on the ring.
        let existing = ring.values().filter(|c| **c == cid.as_str()).count();
        for i in 0..virtual_nodes {
            let key = format!("{cid}-{}", i.saturating_add(existing));
            ring.insert(md5_hash(&key), cid.as_str());
        }
    }
    mqs.iter()
        .filter(|mq| {
            let h = md5_hash(&mq.to_string());
            let node = ring
                .range(h..)
                .next()
                .or_else(|| ring.iter().next())
                .map(|(_, c)| *c);
            node == Some(current)
        })
        .cloned()
        .collect()
}

fn nearby(
    inner: &AllocateStrategy,
    resolver: &MachineRoomResolver,
    current: &str,
    mqs: &[MessageQueue],
    cids: &[String],
) -> Result<Vec<MessageQueue>, AllocateError> {
    let mut room_mqs: BTreeMap<String, Vec<MessageQueue>> = BTreeMap::new();
    for mq in mqs {
        let room = resolver.broker_room(mq);
        if room.is_empty() {
            return Err(AllocateError::NoMachineRoom(mq.to_string()));
        }
        room_mqs.entry(room).or_default().push(mq.clone());
    }
    let mut room_cids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cid in cids {
        let room = resolver.consumer_room(cid);
        if room.is_empty() {
            return Err(AllocateError::NoMachineRoom(cid.clone()));
        }
        room_cids.entry(room).or_default().push(cid.clone());
    }
    let mut out = Vec::new();
    let my_room = resolver.consumer_room(current);
    if let (Some(q), Some(c)) = (room_mqs.remove(&my_room), room_cids.get(&my_room)) {
        out.extend(inner.allocate(current, &q, c)?);
    }
    for (room, q) in &room_mqs {
        if !room_cids.contains_key(room) {
            out.extend(inner.allocate(current, q, cids)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n)
            .map(|i| MessageQueue::new("topic", "brokerName", i))
            .collect()
    }

    fn cids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("CID_PREFIX{i}")).collect()
    }

    fn ids(v: &[MessageQueue]) -> Vec<i32> {
        v.iter().map(|q| q.queue_id).collect()
    }

    #[test]
    fn md5_prefix_rfc1321() {
        // RFC 1321 appendix A.5: MD5("") = d41d8cd9..., MD5("abc") = 90015098...
        assert_eq!(md5_hash(""), 0xd41d_8cd9);
        assert_eq!(md5_hash("abc"), 0x9001_5098);
    }

    #[test]
    fn averagely_worked_example() {
        // Protocol §6.5: N=10, C=4 → {0,1,2},{3,4,5},{6,7},{8,9}.
        let got: Vec<Vec<i32>> = cids(4)
            .iter()
            .map(|c| {
                ids(&AllocateStrategy::Averagely
                    .allocate(c, &queues(10), &cids(4))
                    .unwrap())
            })
            .collect();
        assert_eq!(
            got,
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7], vec![8, 9]]
        );
    }

    #[test]
    fn fewer_queues_than_consumers() {
        let c = cids(5);
        let got: Vec<usize> = c
            .iter()
            .map(|id| {
                AllocateStrategy::Averagely
                    .allocate(id, &queues(3), &c)
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(got, vec![1, 1, 1, 0, 0]);
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut q = queues(7);
        q.reverse();
        let mut c = cids(3);
        c.reverse();
        let a = AllocateStrategy::Averagely
            .allocate("CID_PREFIX0", &q, &c)
            .unwrap();
        assert_eq!(ids(&a), vec![0, 1, 2]);
    }

    #[test]
    fn errors_and_names() {
        let s = AllocateStrategy::Averagely;
        assert_eq!(
            s.allocate("", &queues(1), &cids(1)),
            Err(AllocateError::EmptyCurrentId)
        );
        assert_eq!(s.allocate("a", &[], &cids(1)), Err(AllocateError::NoQueues));
        assert_eq!(
            s.allocate("a", &queues(1), &[]),
            Err(AllocateError::NoConsumers)
        );
        assert_eq!(s.allocate("zzz", &queues(4), &cids(2)), Ok(vec![]));
        let nearby = AllocateStrategy::MachineRoomNearby {
            inner: Box::new(AllocateStrategy::AveragelyByCircle),
            resolver: MachineRoomResolver::prefix('-'),
        };
        assert_eq!(nearby.name(), "MACHINE_ROOM_NEARBY-AVG_BY_CIRCLE");
        assert_eq!(
            AllocateStrategy::consistent_hash().name(),
            "CONSISTENT_HASH"
        );
        assert_eq!(AllocateStrategy::Config(vec![]).name(), "CONFIG");
        assert_eq!(
            AllocateStrategy::MachineRoom(BTreeSet::new()).name(),
            "MACHINE_ROOM"
        );
    }

    #[test]
    fn machine_room_name_shapes() {
        let rooms: BTreeSet<String> = ["r".to_string()].into();
        let q = vec![
            MessageQueue::new("t", "r@b", 0),
            MessageQueue::new("t", "r@", 1),
            MessageQueue::new("t", "r@b@c", 2),
            MessageQueue::new("t", "x@b", 3),
            MessageQueue::new("t", "rb", 4),
        ];
        let got = AllocateStrategy::MachineRoom(rooms)
            .allocate("a", &q, &["a".into()])
            .unwrap();
        assert_eq!(ids(&got), vec![0]);
    }
}
