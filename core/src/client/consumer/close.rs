//! Graceful close: stop pulling, wait for the deliveries out (or abandon them), persist
//! offsets, unlock orderly queues, unregister the group from every broker, report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::super::ids::OpId;
use super::super::Event;
use super::machine::{master_of, ConsumerMachine, Env, Request};
use super::persist::PersistMode;
use crate::body::MessageQueue;
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::consumer::unlock_request;
use crate::header::{self, UnregisterClientRequestHeader};
use crate::remoting::InvokeError;

impl ConsumerMachine {
    /// Begins the close `op`: pulls stop, cached messages not out are dropped; once every
    /// delivery out is settled (or abandoned) the close steps run and
    /// [`Event::ConsumerClosed`] ends it. The caller checks that it is not closing already.
    pub(in crate::client) fn close(&mut self, now: Instant, env: &mut Env<'_>, op: OpId) {
        self.closing = Some(op);
        for slot in self.queues.values_mut() {
            let _ = slot.pq.drain();
        }
        self.pull_timers.clear();
        self.maybe_finish_close(now, env);
    }

    /// Gives up the deliveries still out (a close whose drain deadline passed): their
    /// messages are left unconsumed, counted in the report.
    pub(in crate::client) fn abandon_deliveries(&mut self, now: Instant, env: &mut Env<'_>) {
        let abandoned = self.deliveries.len();
        self.deliveries.clear();
        self.send_backs.clear();
        self.orderly_dlq.clear();
        self.report.abandoned_deliveries += abandoned;
        self.outstanding = 0;
        self.maybe_finish_close(now, env);
    }

    /// When nothing is out with the user any more, persist, unlock and unregister.
    pub(super) fn maybe_finish_close(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.closing.is_none() || self.close_steps > 0 || self.finished {
            return;
        }
        if !self.deliveries.is_empty() {
            return;
        }
        self.begin_close_steps(now, env);
    }

    /// Whether the close steps (its offset writes, unlocks and unregistrations) were sent.
    pub(super) fn close_began(&self) -> bool {
        self.closing.is_some() && (self.close_steps > 0 || self.finished)
    }

    fn begin_close_steps(&mut self, now: Instant, env: &mut Env<'_>) {
        let mut steps = self.persist_with(now, env, PersistMode::Close);
        let group = self.config.group.clone();
        let mut by_broker: BTreeMap<String, BTreeSet<MessageQueue>> = BTreeMap::new();
        for mq in self
            .queues
            .keys()
            .filter(|mq| self.locks.is_locked(mq, now))
        {
            by_broker
                .entry(mq.broker_name.clone())
                .or_default()
                .insert(mq.clone());
        }
        for (broker, mq_set) in by_broker {
            if let Some(addr) = master_of(env, &broker) {
                let command = unlock_request(env.client_id, &group, mq_set);
                self.request(env, addr, command, Request::CloseStep);
                steps += 1;
            }
        }
        let header = UnregisterClientRequestHeader {
            client_id: env.client_id.to_string(),
            producer_group: None,
            consumer_group: Some(group),
        };
        for addr in env.brokers.iter() {
            let command = header::request(RequestCode::UnregisterClient, &header);
            self.request(env, addr.clone(), command, Request::CloseStep);
            steps += 1;
        }
        self.close_steps = steps;
        if steps == 0 {
            self.finish_close();
        }
    }

    /// A close's offset write of `mq` ended. One that was refused or failed moves the queue
    /// from the report's `persisted` to `not_persisted`.
    ///
    /// It is not sent again: the write and the UNREGISTER_CLIENT that follows it share a
    /// connection, so the broker applies the offset before this member leaves the group. Once
    /// that connection is gone the broker has dropped this member and another one may own
    /// the queue and commit past it; a late write from here would move its offset back
    /// (found by the random-fault simulation with a retry: 6 of 10,000 seeds).
    pub(super) fn on_close_persist(
        &mut self,
        mq: MessageQueue,
        offset: i64,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let written = matches!(&result, Ok(r) if r.response_code() == ResponseCode::Success);
        if !written {
            tracing::warn!(queue = ?mq, offset, "the close could not persist this offset");
            self.report.persisted.remove(&mq);
            self.report.not_persisted.insert(mq, offset);
        }
        self.on_close_step();
    }

    /// A request the close waited for was answered.
    pub(super) fn on_close_step(&mut self) {
        if self.close_steps == 0 {
            return;
        }
        self.close_steps -= 1;
        if self.close_steps == 0 {
            self.finish_close();
        }
    }

    fn finish_close(&mut self) {
        let Some(op) = self.closing else {
            return;
        };
        self.finished = true;
        self.pull_timers.clear();
        let report = std::mem::take(&mut self.report);
        self.event(Event::ConsumerClosed {
            op,
            consumer: self.id,
            report,
        });
    }
}
