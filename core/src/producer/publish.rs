//! A topic's publish view (Java `TopicPublishInfo`): its write queues in a deterministic order
//! and the round-robin index used to pick among them (protocol §5.2, §6.4).

use crate::body::{MessageQueue, TopicRouteData};
use crate::time::Rng;

/// Java `ThreadLocalIndex`: a counter that starts at a random value, is incremented before
/// each use and masked to a non-negative `i32` (`& 0x7FFF_FFFF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueIndex(u32);

impl QueueIndex {
    /// An index starting at `start` (the next value handed out is `start + 1`, masked).
    pub fn new(start: u32) -> Self {
        QueueIndex(start)
    }

    /// An index starting at a random value, as Java's `ThreadLocalIndex` does.
    pub fn random(rng: &mut Rng) -> Self {
        QueueIndex(rng.next_u64() as u32)
    }

    /// Increments the counter and returns its new value masked to `0..=i32::MAX`.
    pub fn next_value(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1);
        self.0 & 0x7FFF_FFFF
    }

    /// The next position in a list of `len` items (`next_value % len`); `None` when empty.
    pub fn next_position(&mut self, len: usize) -> Option<usize> {
        if len == 0 {
            return None;
        }
        let value = self.next_value() as usize;
        Some(value % len)
    }
}

/// The queues a producer may send to for one topic, and where it is in its round robin.
///
/// Queue order is Java's and deterministic for a given route: the route's queue datas sorted
/// by broker name, queue ids ascending (or `orderTopicConf` order for order topics), so the
/// order does not depend on how the namesrv listed the brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPublishInfo {
    topic: String,
    queues: Vec<MessageQueue>,
    order_topic: bool,
    route: TopicRouteData,
    index: QueueIndex,
}

impl TopicPublishInfo {
    /// The publish view of `route` for `topic` (Java `topicRouteData2TopicPublishInfo`); the
    /// round-robin index starts at a random value drawn from `rng`.
    pub fn from_route(topic: &str, route: &TopicRouteData, rng: &mut Rng) -> Self {
        TopicPublishInfo {
            topic: topic.to_owned(),
            queues: route.publish_queues(topic),
            order_topic: route.is_order_topic(),
            route: route.clone(),
            index: QueueIndex::random(rng),
        }
    }

    /// The publish view of a topic that has no route yet, built from the route of the
    /// auto-create template topic (`TBW102`): every broker of `default_route` offers
    /// `min(default_topic_queue_nums, readQueueNums)` queues of `topic` (Java
    /// `updateTopicRouteInfoFromNameServer(topic, isDefault = true, producer)`). Sending there
    /// makes a broker with `autoCreateTopicEnable` create the topic.
    pub fn from_default_route(
        topic: &str,
        default_route: &TopicRouteData,
        default_topic_queue_nums: i32,
        rng: &mut Rng,
    ) -> Self {
        let mut route = default_route.clone();
        for qd in &mut route.queue_datas {
            let nums = default_topic_queue_nums.min(qd.read_queue_nums);
            qd.read_queue_nums = nums;
            qd.write_queue_nums = nums;
        }
        Self::from_route(topic, &route, rng)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The queues, in Java's order.
    pub fn queues(&self) -> &[MessageQueue] {
        &self.queues
    }

    /// Whether there is at least one queue to send to (Java `ok()`).
    pub fn is_ok(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Whether the route is an order topic (`orderTopicConf` set).
    pub fn is_order_topic(&self) -> bool {
        self.order_topic
    }

    /// The route the view was built from.
    pub fn route(&self) -> &TopicRouteData {
        &self.route
    }

    /// The master address of `broker_name`, where sends to its queues go.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.route.master_addr(broker_name)
    }

    /// The round-robin index (Java `sendWhichQueue`).
    pub fn index_mut(&mut self) -> &mut QueueIndex {
        &mut self.index
    }

    /// Restarts the round robin at a random value (Java `resetIndex`).
    pub fn reset_index(&mut self, rng: &mut Rng) {
        self.index = QueueIndex::random(rng);
    }

    /// The next queue by plain round robin (Java `selectOneMessageQueue()`).
    pub fn next_queue(&mut self) -> Option<&MessageQueue> {
        let pos = self.index.next_position(self.queues.len())?;
        self.queues.get(pos)
    }

    /// The next queue, trying at most `len` positions, that satisfies `accept` (Java
    /// `selectOneMessageQueue(filters…)`); `None` when no queue is accepted.
    pub fn next_queue_where(
        &mut self,
        mut accept: impl FnMut(&MessageQueue) -> bool,
    ) -> Option<&MessageQueue> {
        let len = self.queues.len();
        let mut found = None;
        for _ in 0..len {
            let pos = self.index.next_position(len)?;
            if self.queues.get(pos).is_some_and(&mut accept) {
                found = Some(pos);
                break;
            }
        }
        found.and_then(|pos| self.queues.get(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{BrokerData, QueueData};

    fn route(queues: &[(&str, i32, i32)]) -> TopicRouteData {
        TopicRouteData {
            queue_datas: queues
                .iter()
                .map(|&(name, r, w)| QueueData {
                    broker_name: name.into(),
                    perm: 6,
                    read_queue_nums: r,
                    write_queue_nums: w,
                    topic_sys_flag: 0,
                })
                .collect(),
            broker_datas: queues
                .iter()
                .map(|&(name, _, _)| BrokerData {
                    broker_name: name.into(),
                    broker_addrs: [(0, format!("{name}:10911"))].into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn index_increments_before_use_and_masks() {
        let mut i = QueueIndex::new(0);
        assert_eq!(i.next_value(), 1);
        let mut i = QueueIndex::new(u32::MAX - 1);
        assert_eq!(i.next_value(), 0x7FFF_FFFF);
        assert_eq!(i.next_value(), 0);
        assert_eq!(QueueIndex::new(3).next_position(0), None);
        assert_eq!(QueueIndex::new(3).next_position(3), Some(1));
    }

    #[test]
    fn default_route_takes_min_of_default_and_read_nums() {
        let tbw = route(&[("b", 8, 8), ("a", 2, 8)]);
        let info = TopicPublishInfo::from_default_route("New", &tbw, 4, &mut Rng::new(1));
        let got: Vec<_> = info
            .queues()
            .iter()
            .map(|q| (q.broker_name.as_str(), q.queue_id))
            .collect();
        assert_eq!(
            got,
            [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2), ("b", 3)]
        );
        assert!(info.queues().iter().all(|q| q.topic == "New"));
        assert_eq!(info.master_addr("a"), Some("a:10911"));
    }

    #[test]
    fn round_robin_visits_every_queue() {
        let mut info = TopicPublishInfo::from_route(
            "T",
            &route(&[("a", 2, 2), ("b", 1, 1)]),
            &mut Rng::new(9),
        );
        let mut seen: Vec<_> = (0..3)
            .map(|_| info.next_queue().cloned().unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, info.queues().to_vec());
        let picked = info.next_queue_where(|q| q.broker_name == "b").cloned();
        assert_eq!(picked.map(|q| q.broker_name), Some("b".into()));
        assert!(info.next_queue_where(|_| false).is_none());
        let empty = TopicPublishInfo::from_route("T", &TopicRouteData::default(), &mut Rng::new(1));
        assert!(!empty.is_ok());
    }
}
