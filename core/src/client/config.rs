//! [`ClientConfig`]: the settings of one client.

use std::time::Duration;

use super::BrokerAddrMap;
use crate::acl::Credentials;
use crate::codec::{SerializeType, DEFAULT_MAX_FRAME_LEN};
use crate::namespace::Namespace;

/// Client settings. Defaults follow the Java client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Namesrv addresses (`host:port`).
    pub namesrv_addrs: Vec<String>,
    /// Default timeout of a request (Java `mqClientApiTimeout`, 3 s).
    pub request_timeout: Duration,
    /// Connect timeout (Java 3 s).
    pub connect_timeout: Duration,
    /// Largest frame accepted from a peer (16 MiB).
    pub max_frame_len: usize,
    /// Header serialization of the requests we send.
    pub serialize_type: SerializeType,
    /// How often routes of topics in use are fetched again (Java `pollNameServerInterval`).
    pub route_refresh_interval: Duration,
    /// How often every broker gets a heartbeat (Java `heartbeatBrokerInterval`).
    pub heartbeat_interval: Duration,
    /// This client's IP as brokers see it in the client id and message ids. Empty (the
    /// default): the adapters put this host's address here (Java's choice: the first
    /// site-local IPv4 address, else another non-loopback one); a core driven directly
    /// uses `127.0.0.1`.
    pub client_ip: String,
    /// Instance name; `None` makes a collision-resistant one (`<pid>#<nanos>#<random>`):
    /// two clients on one host or on two hosts never share a client id by default.
    pub instance_name: Option<String>,
    /// Process id, for the instance name and message ids (adapters set it).
    pub pid: u32,
    /// ACL credentials: every request to namesrvs and brokers is signed with them (Java
    /// `AclClientRPCHook`). Replace them on a running client with
    /// [`super::ClientCore::set_credentials`].
    pub credentials: Option<Credentials>,
    /// Broker addresses to dial instead of the ones routes name (NAT, port forwarding,
    /// containers); applied to every broker address the client learns.
    pub broker_addr_map: BrokerAddrMap,
    /// The namespace of every topic and group (Java 5.x `namespace`): the user names them
    /// without it, the cluster sees them with it; empty (the default) means none.
    pub namespace: Namespace,
}

impl ClientConfig {
    /// Defaults with the given namesrv list.
    pub fn new(namesrv_addrs: Vec<String>) -> Self {
        Self {
            namesrv_addrs,
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            serialize_type: SerializeType::Json,
            route_refresh_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(30),
            client_ip: String::new(),
            instance_name: None,
            pid: 0,
            credentials: None,
            broker_addr_map: BrokerAddrMap::default(),
            namespace: Namespace::default(),
        }
    }
}
