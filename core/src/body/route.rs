//! Topic route data (GET_ROUTEINFO_BY_TOPIC) and cluster info (GET_BROKER_CLUSTER_INFO).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::fastjson::to_json;
use super::{decode_json, nullable, BodyError, MessageQueue};

/// Broker id of a master (Java `MixAll.MASTER_ID`).
pub const MASTER_ID: i64 = 0;

/// Largest queue count taken from one `QueueData` or `orderTopicConf` item when deriving queue
/// lists; a larger (hostile or corrupt) count is clamped so a route cannot exhaust memory.
const QUEUE_NUMS_LIMIT: i32 = 1 << 16;

/// Topic permission bits (Java `PermName`).
pub mod perm {
    /// Priority flag.
    pub const PRIORITY: i32 = 8;
    /// Readable: consumers may pull.
    pub const READ: i32 = 4;
    /// Writable: producers may send.
    pub const WRITE: i32 = 2;
    /// Inherited by new brokers.
    pub const INHERIT: i32 = 1;

    /// Whether `perm` has the READ bit.
    pub fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }

    /// Whether `perm` has the WRITE bit.
    pub fn is_writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }
}

/// A topic's route as the namesrv reports it (Java `TopicRouteData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    /// Brokers and their addresses.
    #[serde(default, deserialize_with = "nullable")]
    pub broker_datas: Vec<BrokerData>,
    /// Broker address → filter server addresses (legacy, usually empty).
    #[serde(default, deserialize_with = "nullable")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// `orderTopicConf`, e.g. `"brokerA:4;brokerB:4"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// Queues per broker name.
    #[serde(default, deserialize_with = "nullable")]
    pub queue_datas: Vec<QueueData>,
    /// Static-topic mappings (`topicQueueMappingByBroker`), kept as raw JSON (integer keys of
    /// `currIdMap` appear as strings after the fastjson repair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_by_broker: Option<serde_json::Value>,
}

/// One broker's queues of a topic (Java `QueueData`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    /// Broker name.
    #[serde(default, deserialize_with = "nullable")]
    pub broker_name: String,
    /// Permission bits (see [`perm`]).
    #[serde(default)]
    pub perm: i32,
    /// Readable queue count.
    #[serde(default)]
    pub read_queue_nums: i32,
    /// `topicSysFlag` (legacy spelling `topicSynFlag`, still used by older namesrvs and Go).
    #[serde(default, alias = "topicSynFlag")]
    pub topic_sys_flag: i32,
    /// Writable queue count.
    #[serde(default)]
    pub write_queue_nums: i32,
}

/// One broker (a master and its slaves) (Java `BrokerData`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Broker id (0 = master) → `"ip:port"`.
    #[serde(default, deserialize_with = "nullable")]
    pub broker_addrs: BTreeMap<i64, String>,
    /// Broker name.
    #[serde(default, deserialize_with = "nullable")]
    pub broker_name: String,
    /// Cluster name.
    #[serde(default, deserialize_with = "nullable")]
    pub cluster: String,
    /// Whether a slave may act as master (5.x).
    #[serde(default, deserialize_with = "nullable")]
    pub enable_acting_master: bool,
    /// Zone name (5.x, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

/// A broker address chosen for a consumer-side call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindBrokerResult {
    /// `"ip:port"`.
    pub broker_addr: String,
    /// Whether the address is a slave (broker id ≠ 0).
    pub slave: bool,
}

impl BrokerData {
    /// The master's address (broker id 0), if any.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }

    /// Java `BrokerData.selectBrokerAddr`: the master if present, else the address at
    /// `random % count` (the caller supplies the randomness).
    pub fn select_addr(&self, random: u64) -> Option<&str> {
        if let Some(master) = self.master_addr() {
            return Some(master);
        }
        let count = self.broker_addrs.len() as u64;
        if count == 0 {
            return None;
        }
        let index = usize::try_from(random % count).unwrap_or(0);
        self.broker_addrs.values().nth(index).map(String::as_str)
    }

    /// Java `findBrokerAddressInSubscribe` over this broker's addresses: the exact `broker_id`;
    /// else, for a slave id, `broker_id + 1`; else, unless `only_this_broker`, the address with
    /// the smallest id.
    pub fn find_address_in_subscribe(
        &self,
        broker_id: i64,
        only_this_broker: bool,
    ) -> Option<FindBrokerResult> {
        let found = |id: i64| {
            self.broker_addrs.get(&id).map(|addr| FindBrokerResult {
                broker_addr: addr.clone(),
                slave: id != MASTER_ID,
            })
        };
        if let Some(r) = found(broker_id) {
            return Some(r);
        }
        if broker_id != MASTER_ID {
            if let Some(r) = broker_id.checked_add(1).and_then(found) {
                return Some(r);
            }
        }
        if only_this_broker {
            return None;
        }
        self.broker_addrs
            .iter()
            .next()
            .map(|(&id, addr)| FindBrokerResult {
                broker_addr: addr.clone(),
                slave: id != MASTER_ID,
            })
    }
}

/// Clamps a peer-supplied queue count to `0..=QUEUE_NUMS_LIMIT`.
fn queue_count(nums: i32) -> i32 {
    nums.clamp(0, QUEUE_NUMS_LIMIT)
}

/// Most queues a route view lists in total, whatever the namesrv claims: a hostile route with
/// many queue datas could otherwise expand to billions of queues (found by fuzzing).
pub const ROUTE_QUEUES_LIMIT: usize = 1 << 16;

/// Appends queues `0..nums` of `broker` to `out` without passing [`ROUTE_QUEUES_LIMIT`].
fn push_queues(out: &mut Vec<MessageQueue>, topic: &str, broker: &str, nums: i32) {
    let room = ROUTE_QUEUES_LIMIT.saturating_sub(out.len());
    let n = usize::try_from(queue_count(nums)).unwrap_or(0).min(room);
    out.extend((0..n as i32).map(|i| MessageQueue::new(topic, broker, i)));
}

impl TopicRouteData {
    /// Parses a route body, accepting standard JSON and fastjson's unquoted integer map keys.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "TopicRouteData")
    }

    /// Encodes as standard JSON (quoted map keys, sorted members), as a namesrv answers a
    /// request with `version ≥ 401` or `acceptStandardJsonOnly=true`.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }

    /// The broker data of `broker_name`.
    pub fn broker(&self, broker_name: &str) -> Option<&BrokerData> {
        self.broker_datas
            .iter()
            .find(|b| b.broker_name == broker_name)
    }

    /// The master address of `broker_name` (publish-side calls use the master only).
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.broker(broker_name).and_then(BrokerData::master_addr)
    }

    /// Java `findBrokerAddressInSubscribe(name, id, onlyThisBroker)` over this route's brokers;
    /// see [`BrokerData::find_address_in_subscribe`].
    pub fn find_broker_address_in_subscribe(
        &self,
        broker_name: &str,
        broker_id: i64,
        only_this_broker: bool,
    ) -> Option<FindBrokerResult> {
        self.broker(broker_name)
            .and_then(|b| b.find_address_in_subscribe(broker_id, only_this_broker))
    }

    /// Java `findBrokerAddrByTopic`: a broker picked by `random`, its master if present, else
    /// one of its addresses (for group-level calls such as GET_CONSUMER_LIST_BY_GROUP).
    pub fn any_broker_addr(&self, random: u64) -> Option<&str> {
        let count = self.broker_datas.len() as u64;
        if count == 0 {
            return None;
        }
        let index = usize::try_from(random % count).unwrap_or(0);
        self.broker_datas.get(index)?.select_addr(random)
    }

    /// Whether `orderTopicConf` is set (the topic is an order topic on the listed brokers).
    pub fn is_order_topic(&self) -> bool {
        self.order_topic_conf
            .as_deref()
            .is_some_and(|c| !c.is_empty())
    }

    /// Whether the route carries static-topic mappings. Queue derivation here does not use
    /// them (logical queues of static topics are not supported yet).
    pub fn has_static_topic_mapping(&self) -> bool {
        match &self.topic_queue_mapping_by_broker {
            Some(serde_json::Value::Object(m)) => !m.is_empty(),
            _ => false,
        }
    }

    /// Queues a producer may send to (Java `topicRouteData2TopicPublishInfo`).
    ///
    /// With a non-empty `orderTopicConf` (`"brokerA:4;brokerB:4"`): queues `0..n` of each listed
    /// broker, in list order (malformed items are skipped). Otherwise the queue datas sorted by
    /// broker name; for each writable one whose broker has a master, queues
    /// `0..writeQueueNums`.
    pub fn publish_queues(&self, topic: &str) -> Vec<MessageQueue> {
        let mut out = Vec::new();
        if let Some(conf) = self.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
            for item in conf.split(';') {
                let Some((name, nums)) = item.split_once(':') else {
                    continue;
                };
                let Ok(nums) = nums.trim().parse::<i32>() else {
                    continue;
                };
                push_queues(&mut out, topic, name, nums);
            }
            return out;
        }
        let mut queue_datas: Vec<&QueueData> = self.queue_datas.iter().collect();
        queue_datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        for qd in queue_datas {
            if !perm::is_writeable(qd.perm) || self.master_addr(&qd.broker_name).is_none() {
                continue;
            }
            push_queues(&mut out, topic, &qd.broker_name, qd.write_queue_nums);
        }
        out
    }

    /// Queues a consumer may pull from (Java `topicRouteData2TopicSubscribeInfo`): queues
    /// `0..readQueueNums` of each readable queue data, sorted and without duplicates.
    pub fn subscribe_queues(&self, topic: &str) -> Vec<MessageQueue> {
        let mut list = Vec::new();
        for qd in self
            .queue_datas
            .iter()
            .filter(|q| perm::is_readable(q.perm))
        {
            push_queues(&mut list, topic, &qd.broker_name, qd.read_queue_nums);
        }
        let set: BTreeSet<MessageQueue> = list.into_iter().collect();
        set.into_iter().collect()
    }

    /// Java `topicRouteDataChanged` / Go `topicRouteDataIsChange`: whether `self` and `other`
    /// differ once the queue and broker lists are sorted (list order alone is no change).
    pub fn differs_from(&self, other: &TopicRouteData) -> bool {
        self.normalized() != other.normalized()
    }

    /// A copy with queue and broker lists in a canonical order.
    fn normalized(&self) -> TopicRouteData {
        let mut r = self.clone();
        r.queue_datas.sort();
        r.broker_datas
            .sort_by(|a, b| a.broker_name.cmp(&b.broker_name).then_with(|| a.cmp(b)));
        r
    }
}

/// Brokers and clusters known to the namesrv (GET_BROKER_CLUSTER_INFO response, Java
/// `ClusterInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker name → broker data.
    #[serde(default, deserialize_with = "nullable")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker names.
    #[serde(default, deserialize_with = "nullable")]
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl ClusterInfo {
    /// Parses a cluster-info body (standard JSON or fastjson's unquoted integer keys).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        decode_json(body, "ClusterInfo")
    }

    /// Encodes as standard JSON with sorted members.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }

    /// The master address of every broker (of `cluster` only, when given), by broker name;
    /// a broker without a master is left out.
    pub fn masters(&self, cluster: Option<&str>) -> BTreeMap<String, String> {
        let names = cluster.map(|c| self.brokers_of_cluster(c));
        self.broker_addr_table
            .iter()
            .filter(|(name, _)| names.is_none_or(|n| n.contains(*name)))
            .filter_map(|(name, b)| Some((name.clone(), b.master_addr()?.to_owned())))
            .collect()
    }

    /// The broker names of `cluster`.
    pub fn brokers_of_cluster(&self, cluster: &str) -> &[String] {
        self.cluster_addr_table
            .get(cluster)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_masters() {
        let body = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"c1"},"broker-b":{"brokerAddrs":{1:"10.0.0.3:10911"},"brokerName":"broker-b","cluster":"c2"}},"clusterAddrTable":{"c1":["broker-a"],"c2":["broker-b"]}}"#;
        let info = ClusterInfo::decode(body).expect("cluster info");
        let a = BTreeMap::from([("broker-a".to_string(), "10.0.0.1:10911".to_string())]);
        assert_eq!(info.masters(None), a, "broker-b has no master");
        assert_eq!(info.masters(Some("c1")), a);
        assert!(info.masters(Some("c2")).is_empty());
        assert!(info.masters(Some("nope")).is_empty());
    }

    fn broker(name: &str, addrs: &[(i64, &str)]) -> BrokerData {
        BrokerData {
            broker_name: name.to_string(),
            cluster: "c".to_string(),
            broker_addrs: addrs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..BrokerData::default()
        }
    }

    fn queue(name: &str, perm: i32, r: i32, w: i32) -> QueueData {
        QueueData {
            broker_name: name.to_string(),
            perm,
            read_queue_nums: r,
            write_queue_nums: w,
            topic_sys_flag: 0,
        }
    }

    #[test]
    fn publish_sorted_writable_with_master() {
        let route = TopicRouteData {
            queue_datas: vec![
                queue("b", 6, 2, 2),
                queue("a", 6, 1, 1),
                queue("ro", 4, 2, 2),
                queue("nomaster", 6, 2, 2),
            ],
            broker_datas: vec![
                broker("a", &[(0, "1:1")]),
                broker("b", &[(0, "2:2")]),
                broker("ro", &[(0, "3:3")]),
                broker("nomaster", &[(1, "4:4")]),
            ],
            ..Default::default()
        };
        assert_eq!(
            route.publish_queues("t"),
            vec![
                MessageQueue::new("t", "a", 0),
                MessageQueue::new("t", "b", 0),
                MessageQueue::new("t", "b", 1),
            ]
        );
        let sub = route.subscribe_queues("t");
        assert_eq!(sub.len(), 1 + 2 + 2 + 2);
        assert!(!route.is_order_topic());
    }

    #[test]
    fn publish_order_topic_conf() {
        let route = TopicRouteData {
            order_topic_conf: Some("bb:2;aa:1;bad;cc:x".to_string()),
            queue_datas: vec![queue("zz", 6, 8, 8)],
            ..Default::default()
        };
        assert!(route.is_order_topic());
        assert_eq!(
            route.publish_queues("t"),
            vec![
                MessageQueue::new("t", "bb", 0),
                MessageQueue::new("t", "bb", 1),
                MessageQueue::new("t", "aa", 0),
            ]
        );
    }

    #[test]
    fn huge_and_negative_counts_are_clamped() {
        let route = TopicRouteData {
            queue_datas: vec![queue("a", 6, -5, i32::MAX)],
            broker_datas: vec![broker("a", &[(0, "x")])],
            ..Default::default()
        };
        assert_eq!(route.publish_queues("t").len(), QUEUE_NUMS_LIMIT as usize);
        assert!(route.subscribe_queues("t").is_empty());
    }

    #[test]
    fn any_broker_prefers_master() {
        let route = TopicRouteData {
            broker_datas: vec![
                broker("a", &[(0, "m"), (1, "s")]),
                broker("b", &[(2, "s2")]),
            ],
            ..Default::default()
        };
        assert_eq!(route.any_broker_addr(0), Some("m"));
        assert_eq!(route.any_broker_addr(1), Some("s2"));
        assert_eq!(TopicRouteData::default().any_broker_addr(3), None);
    }
}
