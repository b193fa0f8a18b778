//! Closing a POP consumer: stop popping, wait for the deliveries out and their acks (or
//! abandon them), unregister the group from every broker, report.

use std::time::Instant;

use super::super::ids::OpId;
use super::super::Event;
use super::machine::{PopEnv, PopMachine, PopRequest};
use crate::codec::RequestCode;
use crate::header::{self, UnregisterClientRequestHeader};

impl PopMachine {
    /// Begins the close `op`: no pop is sent any more (a pop answered before the close
    /// steps begin is still handed out); once every delivery is settled and its acks are
    /// answered, the group is unregistered and [`Event::ConsumerClosed`] ends it. The caller
    /// checks that it is not closing already.
    pub(in crate::client) fn close(&mut self, now: Instant, env: &mut PopEnv<'_>, op: OpId) {
        self.closing = Some(op);
        for t in self.targets.values_mut() {
            t.retry_at = None;
        }
        self.route_retry = None;
        // Messages waiting for a local retry are left to come back after their invisible
        // time.
        let dropped: usize = self
            .local_retries
            .drain(..)
            .map(|(_, _, e, _)| e.len())
            .sum();
        if dropped > 0 {
            self.report.abandoned_deliveries += 1;
        }
        self.maybe_finish_close(now, env);
    }

    /// Gives up the deliveries still out (a close whose drain deadline passed) and the
    /// acks still waiting: their messages come back after their invisible time.
    pub(in crate::client) fn abandon_deliveries(&mut self, now: Instant, env: &mut PopEnv<'_>) {
        self.report.abandoned_deliveries += self.deliveries.len();
        self.deliveries.clear();
        self.settling.clear();
        self.local_retries.clear();
        self.maybe_finish_close(now, env);
    }

    /// When nothing is out with the user nor being settled any more, unregister.
    pub(super) fn maybe_finish_close(&mut self, _now: Instant, env: &mut PopEnv<'_>) {
        if self.closing.is_none() || self.close_steps > 0 || self.finished {
            return;
        }
        if !self.deliveries.is_empty() || !self.settling.is_empty() {
            return;
        }
        let header = UnregisterClientRequestHeader {
            client_id: env.client_id.to_string(),
            producer_group: None,
            consumer_group: Some(self.config.group.clone()),
        };
        let mut steps = 0;
        for addr in env.brokers.iter() {
            let command = header::request(RequestCode::UnregisterClient, &header);
            self.request(env, addr.clone(), command, PopRequest::CloseStep);
            steps += 1;
        }
        self.close_steps = steps;
        if steps == 0 {
            self.finish_close();
        }
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
        let report = std::mem::take(&mut self.report);
        self.event(Event::ConsumerClosed {
            op,
            consumer: self.id,
            report,
        });
    }
}
