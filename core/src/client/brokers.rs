//! The broker registry: the broker masters this client knows (they get heartbeats and, at a
//! close, unregistrations), and registering again with one after a lost connection or a
//! failed heartbeat, so the broker never gives our consumers' queues away for long.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{ClientCore, Pending};
use crate::body::{HeartbeatData, ProducerData};
use crate::codec::{RemotingCommand, RequestCode};
use crate::time::Rng;

/// Least time between two re-registrations with one broker after lost connections, so a
/// broker that accepts and drops connections at once cannot make us spin.
const REREGISTER_INTERVAL: Duration = Duration::from_millis(200);

/// First wait before a failed heartbeat is sent again; it doubles with each failure in a row
/// up to [`HEARTBEAT_RETRY_MAX`], less a random part of up to a fifth (so clients that lost
/// the same broker do not come back in step).
const HEARTBEAT_RETRY_BASE: Duration = Duration::from_millis(100);

/// Longest wait before a failed heartbeat is sent again: a broker back from a restart is
/// registered with, and its queues pulled again, within this long.
const HEARTBEAT_RETRY_MAX: Duration = Duration::from_millis(500);

/// What a client keeps about registering again with one broker.
#[derive(Debug, Default)]
struct Registration {
    /// When we last heartbeated it again after a loss.
    last: Option<Instant>,
    /// A re-registration held back (by [`REREGISTER_INTERVAL`] or the retry back-off) until
    /// then.
    due: Option<Instant>,
    /// The heartbeat in flight is such a re-registration.
    in_flight: bool,
    /// Heartbeats in a row that failed (for the retry back-off).
    failures: u32,
}

/// Known broker masters and their re-registration state.
#[derive(Debug, Default)]
pub(super) struct BrokerRegistry {
    addrs: BTreeSet<String>,
    registrations: BTreeMap<String, Registration>,
}

impl BrokerRegistry {
    /// Every known broker master address.
    pub(super) fn addrs(&self) -> &BTreeSet<String> {
        &self.addrs
    }

    pub(super) fn contains(&self, addr: &str) -> bool {
        self.addrs.contains(addr)
    }

    /// Learns a broker master; `true` when it is new.
    pub(super) fn insert(&mut self, addr: &str) -> bool {
        self.addrs.insert(addr.to_string())
    }

    /// Forgets a broker no route names any more.
    pub(super) fn forget(&mut self, addr: &str) {
        self.addrs.remove(addr);
        self.registrations.remove(addr);
    }

    /// When the next held-back re-registration is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.registrations.values().filter_map(|r| r.due).min()
    }

    /// The client closed: no re-registration is armed any more.
    pub(super) fn stop(&mut self) {
        for r in self.registrations.values_mut() {
            r.due = None;
        }
    }

    /// The brokers whose held-back re-registration is due now (each taken once).
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut due = Vec::new();
        for (addr, r) in &mut self.registrations {
            if r.due.is_some_and(|at| at <= now) {
                r.due = None;
                due.push(addr.clone());
            }
        }
        due
    }

    /// Whether to heartbeat `addr` again now: at most once per [`REREGISTER_INTERVAL`]; a
    /// call within it is held back until the interval ends ([`BrokerRegistry::take_due`]).
    pub(super) fn reregister(&mut self, now: Instant, addr: &str) -> bool {
        let r = self.registrations.entry(addr.to_string()).or_default();
        if let Some(last) = r.last {
            if last == now {
                return false;
            }
            let next = last + REREGISTER_INTERVAL;
            if next > now {
                r.due.get_or_insert(next);
                return false;
            }
        }
        r.last = Some(now);
        r.in_flight = true;
        true
    }

    /// A heartbeat to `addr` was answered (`ok`) or failed. A failure is retried with a
    /// growing, jittered back-off when `retry` (consumers are registered). Returns whether a
    /// re-registration ended that consumers in doubt should follow with a rebalance (not for
    /// a failure without `retry`).
    pub(super) fn heartbeat_answered(
        &mut self,
        now: Instant,
        addr: &str,
        ok: bool,
        retry: bool,
        rng: &mut Rng,
    ) -> bool {
        let again = self
            .registrations
            .get_mut(addr)
            .is_some_and(|r| std::mem::take(&mut r.in_flight));
        if ok {
            if let Some(r) = self.registrations.get_mut(addr) {
                r.failures = 0;
            }
            return again;
        }
        if !retry {
            return false;
        }
        let r = self.registrations.entry(addr.to_string()).or_default();
        let wait = HEARTBEAT_RETRY_BASE
            .saturating_mul(1 << r.failures.min(5))
            .min(HEARTBEAT_RETRY_MAX);
        let jitter = wait.as_millis() / 5;
        let jitter = u64::try_from(jitter).map_or(0, |j| rng.below(j + 1));
        let wait = wait.saturating_sub(Duration::from_millis(jitter));
        r.failures = r.failures.saturating_add(1);
        let at = now + wait;
        r.due = Some(r.due.map_or(at, |due| due.min(at)));
        again
    }
}

impl ClientCore {
    /// Heartbeats every known broker (or only `only`), registering the producer groups and
    /// the consumers with their subscriptions.
    pub(super) fn send_heartbeats(&mut self, now: Instant, only: Option<&[String]>) {
        let mut groups = self.producer_groups();
        let consumers = self.consumer_heartbeat_data();
        if (groups.is_empty() && consumers.is_empty()) || self.closing {
            return;
        }
        groups.sort();
        groups.dedup();
        let mut data = HeartbeatData::new(self.client_id.clone());
        data.producer_data_set = groups
            .into_iter()
            .map(|group_name| ProducerData { group_name })
            .collect();
        data.consumer_data_set = consumers;
        let body = bytes::Bytes::from(data.encode());
        let targets: Vec<String> = match only {
            Some(list) => list.to_vec(),
            None => self.brokers.addrs.iter().cloned().collect(),
        };
        for addr in targets {
            let command = RemotingCommand::request(RequestCode::HeartBeat).with_body(body.clone());
            let timeout = self.config.request_timeout;
            self.request(
                now,
                &addr,
                command,
                timeout,
                Pending::Heartbeat(addr.clone()),
            );
        }
    }

    /// A heartbeat to `addr` was answered (`ok`) or failed. A failed one leaves the broker not
    /// knowing our consumers (a stalled broker drops it, say): it would give their queues to
    /// the rest of the group while we keep them. It is sent again soon, backing off while it
    /// keeps failing, as long as consumers are registered. A re-registration answered (or
    /// failed: the broker we lost is not back, the others tell the membership) lets consumers
    /// in doubt list their group now; answered, it also tells that the broker is back: its
    /// queues are pulled and the sends waiting for a broker tried again at once, not after
    /// their own waits.
    pub(super) fn heartbeat_answered(&mut self, now: Instant, addr: &str, ok: bool) {
        let retry = self.has_live_consumer();
        if self
            .brokers
            .heartbeat_answered(now, addr, ok, retry, &mut self.rng)
        {
            self.rebalance_doubted(now);
            if ok {
                self.broker_back(now, addr);
            }
        }
    }

    /// A connection to broker `addr` was lost: the broker unregistered this client with it and
    /// told the rest of the group, which may now take our queues while we, not told, keep
    /// pulling and committing them. Heartbeat that broker again at once: registering anew
    /// makes it notify the whole group, us included, so every member rebalances on the same
    /// membership. Until then, or until a list of the group that still names us arrives, the
    /// consumers are in doubt about their queues.
    pub(super) fn connection_lost(&mut self, now: Instant, addr: &str) {
        if !self.has_live_consumer() {
            return;
        }
        self.doubt_all_consumers(now);
        self.reregister(now, addr);
        // The other brokers may still list us: then nobody took our queues.
        self.rebalance_doubted(now);
    }

    /// Broker `addr` answered again after a loss: what waited for it goes on now.
    fn broker_back(&mut self, now: Instant, addr: &str) {
        tracing::debug!(%addr, "broker answers again");
        self.consumers_broker_back(now, addr);
        self.producers_broker_back(now);
    }

    /// Heartbeats broker `addr` again, at most once per [`REREGISTER_INTERVAL`].
    fn reregister(&mut self, now: Instant, addr: &str) {
        if self.has_live_consumer() && self.brokers.reregister(now, addr) {
            self.send_heartbeats(now, Some(&[addr.to_string()]));
        }
    }

    /// Re-registrations held back until now.
    pub(super) fn run_reregistrations(&mut self, now: Instant) {
        for addr in self.brokers.take_due(now) {
            self.reregister(now, &addr);
        }
    }
}
