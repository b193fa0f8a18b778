//! Client-id collision check. Two clients with one client id (`ip@instance`) in one group
//! split its queues wrongly and silently in every client: each allocates as if the two were
//! one member, so some queues get two consumers and others none. A clustering consumer asks
//! one broker for its group's connections (GET_CONSUMER_CONNECTION_LIST) with each rebalance
//! round and looks at the addresses listed for its own client id:
//!
//! - When the adapter told the local addresses of our connections ([`crate::Input::LocalAddr`]),
//!   an address that is none of ours (current or recent: a broker may still list a connection
//!   of ours that is gone) is another client's. A Java broker lists every connection; a
//!   rocketmq-rust broker keeps one per client id, the latest to heartbeat, so the twin shows
//!   up between our own heartbeats. Behind NAT the broker sees other addresses than ours, so
//!   nothing is concluded until the broker has listed our own address verbatim once.
//! - Otherwise, our id on two or more connections is a collision, unless one may be a stale
//!   channel of ours: after a reconnect only a duplicate lasting longer than the broker's
//!   channel expiry ([`STALE_CHANNEL_EXPIRY`]) counts.
//!
//! A collision is reported once (again if the other addresses change) and lasts until no
//! other address was seen for [`STALE_CHANNEL_EXPIRY`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::body::ConsumerConnection;
use crate::client::ConsumerId;
use crate::remoting::ConnHistory;

/// How long a broker may list a connection that is gone (Java broker
/// `channelExpiredTimeout`, 120 s).
pub(super) const STALE_CHANNEL_EXPIRY: Duration = Duration::from_secs(120);

/// Another client uses this consumer's client id in its group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientIdCollision {
    /// The consumer that found it.
    pub consumer: ConsumerId,
    /// Its group (as the brokers know it).
    pub group: String,
    /// The shared client id.
    pub client_id: String,
    /// The broker whose connection list shows it.
    pub broker: String,
    /// The addresses the broker lists for that id that are not this client's connections
    /// (when the adapter gives no local addresses: every address listed for it).
    pub client_addrs: Vec<String>,
}

/// The state of one consumer's check.
#[derive(Debug, Default)]
pub(super) struct IdentityCheck {
    /// A connection list is being asked for.
    in_flight: bool,
    /// Brokers that listed one of our connections under its own address (no NAT between).
    seen_own: BTreeSet<String>,
    /// Since when a duplicate has been seen that might be a stale channel of ours (no
    /// local addresses known).
    suspected_since: Option<Instant>,
    /// When another client's address was last seen.
    foreign_seen: Option<Instant>,
    /// The collision reported last, while it lasts.
    reported: Option<ClientIdCollision>,
}

/// What one connection list says.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Only our connections are listed for our id.
    Clear,
    /// Another client: these addresses.
    Collision(Vec<String>),
    /// Cannot tell yet.
    Unsure,
}

/// Who is asking, for the collision record.
pub(super) struct Asker<'a> {
    pub(super) consumer: ConsumerId,
    pub(super) group: &'a str,
    pub(super) client_id: &'a str,
}

impl IdentityCheck {
    /// The collision found last, while it lasts.
    pub(super) fn collision(&self) -> Option<&ClientIdCollision> {
        self.reported.as_ref()
    }

    /// Starts a check unless one is under way: `false` when one is.
    pub(super) fn start(&mut self) -> bool {
        !std::mem::replace(&mut self.in_flight, true)
    }

    /// The answer of `broker` (its connection list, or `None`: no usable answer) to the
    /// check `asker` started; a collision to report, when there is a new one.
    pub(super) fn observe(
        &mut self,
        now: Instant,
        asker: &Asker<'_>,
        broker: &str,
        connections: Option<ConsumerConnection>,
        history: Option<&ConnHistory>,
    ) -> Option<ClientIdCollision> {
        self.in_flight = false;
        // No answer says nothing either way: the next round asks again.
        let connections = connections?;
        let listed: Vec<String> = connections
            .connection_set
            .into_iter()
            .filter(|c| c.client_id == asker.client_id)
            .map(|c| c.client_addr)
            .collect();
        let client_addrs = match self.judge(now, broker, &listed, history) {
            Verdict::Collision(addrs) => addrs,
            Verdict::Unsure => return None,
            Verdict::Clear => {
                let lasted = self
                    .foreign_seen
                    .is_some_and(|t| now.saturating_duration_since(t) <= STALE_CHANNEL_EXPIRY);
                if !lasted {
                    if let Some(gone) = self.reported.take() {
                        tracing::info!(
                            group = %gone.group,
                            client_id = %gone.client_id,
                            "the client id is no longer shared"
                        );
                    }
                }
                return None;
            }
        };
        self.foreign_seen = Some(now);
        let collision = ClientIdCollision {
            consumer: asker.consumer,
            group: asker.group.to_owned(),
            client_id: asker.client_id.to_owned(),
            broker: broker.to_owned(),
            client_addrs,
        };
        if self.reported.as_ref() == Some(&collision) {
            return None;
        }
        tracing::error!(
            group = %collision.group,
            client_id = %collision.client_id,
            broker = %collision.broker,
            others = ?collision.client_addrs,
            "CLIENT ID COLLISION: another client in this consumer group uses this client's id; \
             the group's queues are split wrongly (some consumed twice, some not at all). Give \
             each client its own ClientConfig::instance_name (or client_ip)"
        );
        self.reported = Some(collision.clone());
        Some(collision)
    }

    /// Judges the addresses `listed` for our id by broker `broker`, given our own
    /// connections to it.
    fn judge(
        &mut self,
        now: Instant,
        broker: &str,
        listed: &[String],
        history: Option<&ConnHistory>,
    ) -> Verdict {
        let known = history.filter(|h| !h.local_addrs.is_empty());
        let Some(history) = known else {
            // No local addresses: count connections.
            if listed.len() < 2 {
                self.suspected_since = None;
                return Verdict::Clear;
            }
            let since = *self.suspected_since.get_or_insert(now);
            let reconnected = history.is_some_and(|h| h.opened > 1);
            if reconnected && now.saturating_duration_since(since) <= STALE_CHANNEL_EXPIRY {
                // Perhaps our own previous connection, not yet dropped by the broker.
                return Verdict::Unsure;
            }
            let mut all = listed.to_vec();
            all.sort();
            return Verdict::Collision(all);
        };
        let ours = |a: &String| history.local_addrs.iter().any(|l| same_addr(l, a));
        if let Some(current) = &history.current {
            if listed.iter().any(|a| same_addr(current, a)) {
                self.seen_own.insert(broker.to_owned());
            }
        }
        let mut foreign: Vec<String> = listed.iter().filter(|a| !ours(a)).cloned().collect();
        if foreign.is_empty() {
            return Verdict::Clear;
        }
        if !self.seen_own.contains(broker) {
            // The broker may see us under another address (NAT): not conclusive.
            return Verdict::Unsure;
        }
        foreign.sort();
        foreign.dedup();
        Verdict::Collision(foreign)
    }
}

/// Whether two `ip:port` strings name one socket address (`::1` spelled either way).
fn same_addr(a: &str, b: &str) -> bool {
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
