//! Topic route data (GET_ROUTEINFO_BY_TOPIC). (Skeleton.)

use std::collections::BTreeMap;

use super::BodyError;

/// A topic's route as the namesrv reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    /// `orderTopicConf`, e.g. `"brokerA:4;brokerB:4"`.
    pub order_topic_conf: Option<String>,
    /// Queues per broker name.
    pub queue_datas: Vec<QueueData>,
    /// Brokers and their addresses.
    pub broker_datas: Vec<BrokerData>,
}

/// One broker's queues of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueData {
    /// Broker name.
    pub broker_name: String,
    /// Readable queue count.
    pub read_queue_nums: i32,
    /// Writable queue count.
    pub write_queue_nums: i32,
    /// Permission bits (READ 4, WRITE 2, INHERIT 1).
    pub perm: i32,
    /// `topicSysFlag` (or legacy `topicSynFlag`).
    pub topic_sys_flag: i32,
}

/// One broker (a master and its slaves).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerData {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id (0 = master) → `"ip:port"`.
    pub broker_addrs: BTreeMap<i64, String>,
}

impl TopicRouteData {
    /// Parses a route body, accepting standard JSON and fastjson's unquoted integer map keys.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        let _ = body;
        unimplemented!("route decoding")
    }
}
