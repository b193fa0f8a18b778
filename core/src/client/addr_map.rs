//! Broker address rewrite: a user-supplied map applied to every broker address the client
//! learns (from routes, and the store host of a message it sends back), for brokers behind
//! NAT, port forwarding or in containers, where the address a broker registers is not one
//! the client can dial.

use std::collections::BTreeMap;

/// Broker addresses to dial instead of the ones learned (`host:port` → `host:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerAddrMap(BTreeMap<String, String>);

impl BrokerAddrMap {
    /// An empty map: every address is dialled as learned.
    pub fn new() -> Self {
        Self::default()
    }

    /// Dials `to` wherever `from` is learned.
    pub fn with(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.0.insert(from.into(), to.into());
        self
    }

    /// Parses `FROM=TO` (the CLI's `--broker-addr-map`).
    pub fn parse_entry(entry: &str) -> Result<(String, String), String> {
        match entry.split_once('=') {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                Ok((from.trim().to_string(), to.trim().to_string()))
            }
            _ => Err(format!(
                "`{entry}` is not FROM=TO (e.g. 10.0.0.5:10911=broker-a:30911)"
            )),
        }
    }

    /// Whether the map rewrites nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The address to dial for `addr`.
    pub fn apply<'a>(&'a self, addr: &'a str) -> &'a str {
        self.0.get(addr).map_or(addr, String::as_str)
    }

    /// Rewrites every broker address of a route.
    pub(super) fn apply_to_route(&self, route: &mut crate::body::TopicRouteData) {
        if self.is_empty() {
            return;
        }
        for broker in &mut route.broker_datas {
            for addr in broker.broker_addrs.values_mut() {
                if let Some(to) = self.0.get(addr.as_str()) {
                    addr.clone_from(to);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{BrokerData, TopicRouteData};

    #[test]
    fn rewrites_known_addresses_only() {
        let map = BrokerAddrMap::new().with("10.0.0.5:10911", "broker-a:30911");
        assert_eq!(map.apply("10.0.0.5:10911"), "broker-a:30911");
        assert_eq!(map.apply("10.0.0.6:10911"), "10.0.0.6:10911");
        let mut route = TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_name: "a".into(),
                broker_addrs: [(0, "10.0.0.5:10911".into()), (1, "10.0.0.7:10911".into())].into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        map.apply_to_route(&mut route);
        let addrs: Vec<&str> = route.broker_datas[0]
            .broker_addrs
            .values()
            .map(String::as_str)
            .collect();
        assert_eq!(addrs, vec!["broker-a:30911", "10.0.0.7:10911"]);
    }

    #[test]
    fn parses_entries() {
        assert_eq!(
            BrokerAddrMap::parse_entry("10.0.0.5:10911=localhost:30911"),
            Ok(("10.0.0.5:10911".into(), "localhost:30911".into()))
        );
        assert!(BrokerAddrMap::parse_entry("nope").is_err());
        assert!(BrokerAddrMap::parse_entry("=x").is_err());
    }
}
