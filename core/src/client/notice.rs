//! Notices for operators: the client's connections coming and going, brokers the producers
//! isolate and take back, and topic routes that change. They steer nothing (every decision
//! is taken elsewhere); [`ClientCore::poll_notice`] hands them out in order.
//!
//! The queue is bounded: a client whose notices nobody reads keeps the newest
//! [`NOTICE_CAPACITY`] and reports how many older ones it dropped
//! ([`ClientNotice::Missed`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::ClientCore;
use crate::remoting::{ConnChange, InvokeError};

/// How many notices wait at most for [`ClientCore::poll_notice`].
pub const NOTICE_CAPACITY: usize = 1024;

/// Something an operator may want to know about the client's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientNotice {
    /// A connection to a namesrv or broker is open.
    Connected {
        /// `host:port`.
        peer: String,
    },
    /// A connection could not be opened (refused, timed out, TLS failed).
    ConnectFailed {
        /// `host:port`.
        peer: String,
        /// Why.
        error: InvokeError,
    },
    /// An open connection ended: [`InvokeError::Shutdown`] when the client closed it,
    /// otherwise the peer or the network ended it (it is opened again on demand).
    Disconnected {
        /// `host:port`.
        peer: String,
        /// Why.
        error: InvokeError,
    },
    /// The producers avoid `broker` (a broker name) for `duration`: a send to it failed, or
    /// was slow with latency fault tolerance on.
    BrokerIsolated {
        /// The broker name.
        broker: String,
        /// How long from now.
        duration: Duration,
    },
    /// The producers may choose `broker` again.
    BrokerRestored {
        /// The broker name.
        broker: String,
    },
    /// The route of `topic` appeared or changed (brokers, queues or permissions).
    RouteChanged {
        /// The topic, without the client's namespace.
        topic: String,
        /// The broker names the route now lists.
        brokers: Vec<String>,
    },
    /// The queue was full: this many older notices were dropped.
    Missed {
        /// How many.
        count: u64,
    },
}

/// The notice queue and what isolations were last reported.
#[derive(Debug, Default)]
pub(super) struct Notices {
    queue: VecDeque<ClientNotice>,
    missed: u64,
    /// Brokers reported isolated, with when they are available again.
    isolated: BTreeMap<String, Instant>,
    /// A send finished or timed out since the isolations were last compared.
    isolation_dirty: bool,
}

impl Notices {
    fn push(&mut self, notice: ClientNotice) {
        if self.queue.len() >= NOTICE_CAPACITY {
            self.queue.pop_front();
            self.missed += 1;
        }
        self.queue.push_back(notice);
    }

    fn pop(&mut self) -> Option<ClientNotice> {
        if self.missed > 0 {
            let count = std::mem::take(&mut self.missed);
            return Some(ClientNotice::Missed { count });
        }
        self.queue.pop_front()
    }

    /// A connection change from the remoting layer.
    pub(super) fn conn_change(&mut self, change: ConnChange) {
        self.push(match change {
            ConnChange::Opened { addr } => ClientNotice::Connected { peer: addr },
            ConnChange::Failed { addr, error } => ClientNotice::ConnectFailed { peer: addr, error },
            ConnChange::Closed { addr, error } => ClientNotice::Disconnected { peer: addr, error },
        });
    }

    /// Sends may have changed the producers' fault tables.
    pub(super) fn sends_settled(&mut self) {
        self.isolation_dirty = true;
    }

    /// When the next reported isolation ends (a restore notice is due then).
    pub(super) fn next_restore(&self) -> Option<Instant> {
        self.isolated.values().min().copied()
    }

    fn isolations_due(&self, now: Instant) -> bool {
        self.isolation_dirty || self.next_restore().is_some_and(|at| at <= now)
    }

    /// Compares the brokers unavailable now with those reported, and reports the difference.
    fn update_isolations(&mut self, now: Instant, current: BTreeMap<String, Instant>) {
        self.isolation_dirty = false;
        let restored: Vec<String> = self
            .isolated
            .keys()
            .filter(|b| !current.contains_key(*b))
            .cloned()
            .collect();
        for broker in restored {
            self.push(ClientNotice::BrokerRestored { broker });
        }
        for (broker, until) in &current {
            if !self.isolated.contains_key(broker) {
                self.push(ClientNotice::BrokerIsolated {
                    broker: broker.clone(),
                    duration: until.saturating_duration_since(now),
                });
            }
        }
        self.isolated = current;
    }
}

impl ClientCore {
    /// The next notice about connections, broker isolation and routes, oldest first. Drain it
    /// after [`ClientCore::poll_output`]; it needs no wake-up of its own.
    pub fn poll_notice(&mut self) -> Option<ClientNotice> {
        self.notices.pop()
    }

    /// Moves connection changes into notices and reports isolations that began or ended.
    pub(super) fn collect_notices(&mut self, now: Instant) {
        while let Some(change) = self.remoting.poll_conn_change() {
            self.notices.conn_change(change);
        }
        if self.notices.isolations_due(now) {
            let current = self.isolations(now);
            self.notices.update_isolations(now, current);
        }
    }

    /// The route of `topic` (namespaced) changed.
    pub(super) fn notice_route(&mut self, topic: &str) {
        let Some(route) = self.routes.get(topic) else {
            return;
        };
        let brokers = route
            .broker_datas
            .iter()
            .map(|b| b.broker_name.clone())
            .collect();
        let topic = self.config.namespace.unwrap(topic);
        self.notices
            .push(ClientNotice::RouteChanged { topic, brokers });
    }

    pub(super) fn notice_sends_settled(&mut self) {
        self.notices.sends_settled();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_says_how_many() {
        let mut n = Notices::default();
        for i in 0..NOTICE_CAPACITY + 3 {
            n.push(ClientNotice::BrokerRestored {
                broker: i.to_string(),
            });
        }
        assert_eq!(n.pop(), Some(ClientNotice::Missed { count: 3 }));
        assert_eq!(
            n.pop(),
            Some(ClientNotice::BrokerRestored { broker: "3".into() })
        );
        assert_eq!(n.queue.len(), NOTICE_CAPACITY - 1);
    }

    #[test]
    fn isolations_are_reported_once_and_restored_when_they_end() {
        let t0 = Instant::now();
        let mut n = Notices::default();
        assert!(!n.isolations_due(t0));
        n.sends_settled();
        assert!(n.isolations_due(t0));
        let until = t0 + Duration::from_secs(10);
        n.update_isolations(t0, BTreeMap::from([("b".to_string(), until)]));
        assert_eq!(
            n.pop(),
            Some(ClientNotice::BrokerIsolated {
                broker: "b".into(),
                duration: Duration::from_secs(10)
            })
        );
        // Extended by another failure: no second notice.
        n.sends_settled();
        let later = until + Duration::from_secs(1);
        n.update_isolations(t0, BTreeMap::from([("b".to_string(), later)]));
        assert_eq!(n.pop(), None);
        assert_eq!(n.next_restore(), Some(later));
        assert!(!n.isolations_due(until));
        assert!(n.isolations_due(later));
        n.update_isolations(later, BTreeMap::new());
        assert_eq!(
            n.pop(),
            Some(ClientNotice::BrokerRestored { broker: "b".into() })
        );
        assert_eq!(n.next_restore(), None);
    }
}
