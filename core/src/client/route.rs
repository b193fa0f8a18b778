//! Route queries: namesrv choice and failover, one query in flight per topic shared by every
//! waiter, the route cache, and the periodic refresh of topics in use.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::{ClientConfig, ClientCore, Event, OpId, Pending, RouteError};
use crate::body::TopicRouteData;
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::InvokeError;
use crate::time::Rng;

use super::ids::SendId;

/// Who is waiting for a topic's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiter {
    /// A user's [`ClientCore::query_route`].
    User(OpId),
    /// A send that needs the route of the topic (or of the template topic).
    Send(super::ProducerId, SendId),
    /// The periodic refresh or a refresh after a failed send.
    Refresh,
    /// A consumer rebalancing the topic.
    Rebalance(super::ConsumerId),
    /// A POP consumer looking for the topic's brokers.
    Pop(super::ConsumerId),
}

#[derive(Debug)]
struct Inflight {
    /// Namesrvs still to try after the current one.
    tries_left: usize,
    waiters: Vec<Waiter>,
}

/// Route bookkeeping of one client.
#[derive(Debug)]
pub(super) struct RouteState {
    /// Index of the namesrv to try first; moves on failure (Java starts at a random index).
    namesrv_index: usize,
    inflight: HashMap<String, Inflight>,
    cache: HashMap<String, TopicRouteData>,
}

impl RouteState {
    pub(super) fn new(config: &ClientConfig, rng: &mut Rng) -> Self {
        let namesrv_index = match config.namesrv_addrs.len() {
            0 => 0,
            n => rng.below(n as u64) as usize,
        };
        Self {
            namesrv_index,
            inflight: HashMap::new(),
            cache: HashMap::new(),
        }
    }

    /// The master address of `broker_name` in any cached route.
    pub(super) fn master_of(&self, broker_name: &str) -> Option<String> {
        let mut topics: Vec<&String> = self.cache.keys().collect();
        topics.sort();
        topics
            .into_iter()
            .find_map(|t| self.cache[t].master_addr(broker_name))
            .map(str::to_string)
    }

    /// Caches `route` for `topic` (unit tests of the machines that read the cache).
    #[cfg(test)]
    pub(super) fn insert_for_test(&mut self, topic: &str, route: TopicRouteData) {
        self.cache.insert(topic.to_string(), route);
    }

    /// The cached route of `topic`.
    pub(super) fn get(&self, topic: &str) -> Option<&TopicRouteData> {
        self.cache.get(topic)
    }

    /// Every broker master address some cached route names.
    pub(super) fn master_addrs(&self) -> BTreeSet<String> {
        self.cache
            .values()
            .flat_map(|r| r.broker_datas.iter())
            .filter_map(|b| b.master_addr().map(str::to_string))
            .collect()
    }
}

impl ClientCore {
    /// Gets `topic`'s route to `waiter`, joining a query already in flight for it.
    pub(super) fn request_route(&mut self, now: Instant, topic: &str, waiter: Waiter) {
        if self.closing {
            let error = RouteError::NamesrvUnavailable(InvokeError::Shutdown);
            self.deliver_route(now, topic, waiter, Err(error));
            return;
        }
        if self.config.namesrv_addrs.is_empty() {
            self.deliver_route(now, topic, waiter, Err(RouteError::NoNamesrv));
            return;
        }
        if let Some(q) = self.routes.inflight.get_mut(topic) {
            q.waiters.push(waiter);
            return;
        }
        let tries_left = self.config.namesrv_addrs.len() - 1;
        self.routes.inflight.insert(
            topic.to_string(),
            Inflight {
                tries_left,
                waiters: vec![waiter],
            },
        );
        self.send_route_request(now, topic);
    }

    fn send_route_request(&mut self, now: Instant, topic: &str) {
        let n = self.config.namesrv_addrs.len();
        let addr = self.config.namesrv_addrs[self.routes.namesrv_index % n].clone();
        let command = RemotingCommand::request(RequestCode::GetRouteInfoByTopic)
            .with_field("topic", topic)
            .with_field("acceptStandardJsonOnly", "true");
        let timeout = self.config.request_timeout;
        self.request(
            now,
            &addr,
            command,
            timeout,
            Pending::Route(topic.to_string()),
        );
    }

    pub(super) fn finish_route_attempt(
        &mut self,
        now: Instant,
        topic: String,
        op: OpId,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let _ = op;
        let outcome = match result {
            Ok(response) => match response.response_code() {
                ResponseCode::Success => TopicRouteData::decode(&response.body)
                    .map(|mut route| {
                        self.config.broker_addr_map.apply_to_route(&mut route);
                        route
                    })
                    .map_err(RouteError::Malformed),
                ResponseCode::TopicNotExist => Err(RouteError::TopicNotExist(topic.clone())),
                code => Err(RouteError::Rejected {
                    code,
                    remark: response.remark.unwrap_or_default(),
                }),
            },
            Err(error) => {
                // Transport failure: this namesrv is unhealthy; move on to the next one.
                self.routes.namesrv_index = self.routes.namesrv_index.wrapping_add(1);
                if let Some(q) = self.routes.inflight.get_mut(&topic) {
                    if q.tries_left > 0 && !self.closing {
                        q.tries_left -= 1;
                        self.send_route_request(now, &topic);
                        return;
                    }
                }
                Err(RouteError::NamesrvUnavailable(error))
            }
        };
        let Some(inflight) = self.routes.inflight.remove(&topic) else {
            return;
        };
        if let Ok(route) = &outcome {
            let changed = self
                .routes
                .cache
                .get(&topic)
                .is_none_or(|old| old.differs_from(route));
            self.routes.cache.insert(topic.clone(), route.clone());
            if changed {
                self.route_changed(now, &topic);
            }
        }
        for waiter in inflight.waiters {
            self.deliver_route(now, &topic, waiter, outcome.clone());
        }
    }

    fn deliver_route(
        &mut self,
        now: Instant,
        topic: &str,
        waiter: Waiter,
        outcome: Result<TopicRouteData, RouteError>,
    ) {
        match waiter {
            Waiter::User(op) => self.events.push_back(Event::Route {
                op,
                topic: topic.to_string(),
                result: outcome,
            }),
            Waiter::Send(producer, id) => self.send_route_ready(now, producer, id, topic, outcome),
            Waiter::Rebalance(id) => self.consumer_route_ready(now, id, topic, outcome.ok()),
            Waiter::Pop(id) => self.pop_route_ready(now, id, topic, outcome.ok()),
            Waiter::Refresh => {
                if let Err(e) = outcome {
                    tracing::debug!(topic, error = %e, "route refresh failed");
                }
            }
        }
    }

    /// Fetches again the route of every topic a producer uses (Java's 30 s namesrv poll).
    pub(super) fn refresh_routes(&mut self, now: Instant) {
        self.prune_brokers();
        let mut topics: Vec<String> = self.producers.topics_in_use().cloned().collect();
        topics.extend(self.consumers.topics());
        topics.extend(self.pops.topics().cloned());
        topics.sort();
        topics.dedup();
        for topic in topics {
            self.request_route(now, &topic, Waiter::Refresh);
        }
    }
}

impl ClientCore {
    /// Java `cleanOfflineBroker`: a broker master that no cached route (nor a producer's
    /// publish view) names any more is forgotten: no more heartbeats to it, no re-registration
    /// retries, no unregistration at shutdown.
    fn prune_brokers(&mut self) {
        let mut live = self.routes.master_addrs();
        live.extend(self.publish_master_addrs());
        let gone: Vec<String> = self
            .brokers
            .addrs()
            .iter()
            .filter(|a| !live.contains(*a))
            .cloned()
            .collect();
        for addr in gone {
            tracing::debug!(%addr, "broker left every route; forgotten");
            self.brokers.forget(&addr);
        }
    }
}
