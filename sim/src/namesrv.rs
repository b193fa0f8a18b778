//! A simulated namesrv: a registry of brokers and their topics, fed by the brokers, answering
//! GET_ROUTEINFO_BY_TOPIC (105) and GET_BROKER_CLUSTER_INFO (106) with the real codec.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use rocketwire_core::body::{perm, BrokerData, ClusterInfo, QueueData, TopicRouteData, MASTER_ID};
use rocketwire_core::header::{self, GetRouteInfoRequestHeader};
use rocketwire_core::{RemotingCommand, RequestCode, ResponseCode};

use crate::net::LinkId;
use crate::server::{Conns, Incoming, ServerIo};

#[derive(Debug, Clone)]
struct BrokerEntry {
    cluster: String,
    addr: String,
}

/// A simulated namesrv.
#[derive(Debug)]
pub struct SimNamesrv {
    name: String,
    addr: String,
    conns: Conns,
    brokers: BTreeMap<String, BrokerEntry>,
    /// Topic → broker name → queue count.
    topics: BTreeMap<String, BTreeMap<String, i32>>,
    requests: u64,
}

impl SimNamesrv {
    /// A namesrv called `name` listening on `addr`.
    pub fn new(name: &str, addr: &str) -> Self {
        Self {
            name: name.to_string(),
            addr: addr.to_string(),
            conns: Conns::default(),
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            requests: 0,
        }
    }

    /// Its name (for transcripts).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Number of requests it has received.
    pub fn requests_seen(&self) -> u64 {
        self.requests
    }

    /// Registers (or moves) a broker master.
    pub fn register_broker(&mut self, cluster: &str, broker_name: &str, addr: &str) {
        self.brokers.insert(
            broker_name.to_string(),
            BrokerEntry {
                cluster: cluster.to_string(),
                addr: addr.to_string(),
            },
        );
    }

    /// Registers `topic` with `queue_nums` read/write queues on `broker_name`.
    pub fn register_topic(&mut self, broker_name: &str, topic: &str, queue_nums: i32) {
        self.topics
            .entry(topic.to_string())
            .or_default()
            .insert(broker_name.to_string(), queue_nums);
    }

    /// The route the namesrv would answer for `topic`.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topics.get(topic)?;
        let mut route = TopicRouteData::default();
        for (broker_name, &nums) in queues {
            let Some(entry) = self.brokers.get(broker_name) else {
                continue;
            };
            route.queue_datas.push(QueueData {
                broker_name: broker_name.clone(),
                perm: perm::READ | perm::WRITE,
                read_queue_nums: nums,
                topic_sys_flag: 0,
                write_queue_nums: nums,
            });
            route.broker_datas.push(BrokerData {
                broker_addrs: BTreeMap::from([(MASTER_ID, entry.addr.clone())]),
                broker_name: broker_name.clone(),
                cluster: entry.cluster.clone(),
                enable_acting_master: false,
                zone_name: None,
            });
        }
        (!route.queue_datas.is_empty()).then_some(route)
    }

    /// The cluster view (GET_BROKER_CLUSTER_INFO).
    pub fn cluster_info(&self) -> ClusterInfo {
        let mut info = ClusterInfo::default();
        for (name, entry) in &self.brokers {
            info.broker_addr_table.insert(
                name.clone(),
                BrokerData {
                    broker_addrs: BTreeMap::from([(MASTER_ID, entry.addr.clone())]),
                    broker_name: name.clone(),
                    cluster: entry.cluster.clone(),
                    enable_acting_master: false,
                    zone_name: None,
                },
            );
            info.cluster_addr_table
                .entry(entry.cluster.clone())
                .or_default()
                .push(name.clone());
        }
        info
    }

    pub(crate) fn handle_accept(&mut self, link: LinkId, peer: SocketAddr) {
        self.conns.accept(link, peer);
    }

    pub(crate) fn handle_closed(&mut self, link: LinkId) {
        self.conns.closed(link);
    }

    pub(crate) fn handle_bytes(&mut self, _now: Instant, link: LinkId, bytes: &[u8]) {
        for req in self.conns.receive(link, bytes) {
            if !req.cmd.is_response() {
                self.requests += 1;
                self.handle_request(&req);
            }
        }
    }

    pub(crate) fn poll_io(&mut self) -> Option<ServerIo> {
        self.conns.poll_io()
    }

    fn handle_request(&mut self, req: &Incoming) {
        match req.cmd.request_code_typed() {
            RequestCode::GetRouteInfoByTopic => {
                let topic = match header::read::<GetRouteInfoRequestHeader>(&req.cmd) {
                    Ok(h) => h.topic,
                    Err(e) => {
                        let remark = e.to_string();
                        return self
                            .conns
                            .respond_code(req, ResponseCode::SystemError, &remark);
                    }
                };
                match self.route(&topic) {
                    Some(route) => {
                        let response =
                            RemotingCommand::response_to(&req.cmd, ResponseCode::Success)
                                .with_body(route.encode());
                        self.conns.respond(req, response);
                    }
                    None => {
                        let remark =
                            format!("No topic route info in name server for the topic: {topic}");
                        self.conns
                            .respond_code(req, ResponseCode::TopicNotExist, &remark);
                    }
                }
            }
            RequestCode::GetBrokerClusterInfo => {
                let response = RemotingCommand::response_to(&req.cmd, ResponseCode::Success)
                    .with_body(self.cluster_info().encode());
                self.conns.respond(req, response);
            }
            _ => {
                let remark = format!("request type {} not supported", req.cmd.code);
                self.conns
                    .respond_code(req, ResponseCode::RequestCodeNotSupported, &remark);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_lists_registered_brokers_only() {
        let mut ns = SimNamesrv::new("ns1", "127.0.0.1:9876");
        assert_eq!(ns.route("T"), None);
        ns.register_topic("broker-x", "T", 4);
        assert_eq!(
            ns.route("T"),
            None,
            "a topic on an unknown broker has no route"
        );
        ns.register_broker("c", "broker-a", "127.0.0.1:10911");
        ns.register_topic("broker-a", "T", 4);
        let route = ns.route("T").unwrap();
        assert_eq!(route.master_addr("broker-a"), Some("127.0.0.1:10911"));
        assert_eq!(route.publish_queues("T").len(), 4);
        let decoded = TopicRouteData::decode(&route.encode()).unwrap();
        assert_eq!(decoded, route);
        assert_eq!(
            ns.cluster_info().brokers_of_cluster("c"),
            ["broker-a".to_string()]
        );
    }
}
