//! Offsets out (UPDATE_CONSUMER_OFFSET, broadcasting's offset file, a user's commit) and
//! orderly queue locks (LOCK_BATCH_MQ, renewal, giving back a lock granted too late).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::super::ids::OpId;
use super::super::Event;
use super::machine::{master_of, ConsumerMachine, Env, Request};
use super::rebalance::RELEASE_PERSIST_WINDOW;
use crate::body::{LockBatchRequestBody, LockBatchResponseBody, MessageModel, MessageQueue};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::consumer::{encode_offset_file, lock_request, unlock_request, QueueState};
use crate::header::{self, UpdateConsumerOffsetRequestHeader};
use crate::remoting::InvokeError;

/// Why offsets are persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PersistMode {
    /// The periodic job: changed offsets, oneway.
    Periodic,
    /// Closing: every offset, as requests counted as close steps.
    Close,
    /// A user's commit: every offset, as requests answered by one event.
    Commit(OpId),
}

impl ConsumerMachine {
    /// The periodic persist: UPDATE_CONSUMER_OFFSET for every queue whose committable offset
    /// moved (clustering), or the offset file for the adapter (broadcasting).
    pub(in crate::client) fn persist_offsets(&mut self, now: Instant, env: &mut Env<'_>) {
        self.persist_with(now, env, PersistMode::Periodic);
    }

    /// Persists every offset now for a user's commit: [`Event::OffsetsCommitted`] follows
    /// once every broker answered (at once when nothing needs an answer).
    pub(in crate::client) fn commit(&mut self, now: Instant, env: &mut Env<'_>, op: OpId) {
        let sent = self.persist_with(now, env, PersistMode::Commit(op));
        if sent > 0 {
            self.commits.push((op, sent));
        } else {
            self.event(Event::OffsetsCommitted {
                op,
                consumer: self.id,
            });
        }
    }

    /// Returns how many requests were sent that wait for an answer.
    pub(super) fn persist_with(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        mode: PersistMode,
    ) -> usize {
        let closing = mode == PersistMode::Close;
        if !closing && self.close_began() {
            // The close wrote its offsets and unregistered: a broker may have handed the
            // queues to another member already, which may commit past what this one has,
            // and a later write from here would move their offsets back.
            return 0;
        }
        let all = mode != PersistMode::Periodic;
        let queues: Vec<MessageQueue> = self.queues.keys().cloned().collect();
        for mq in &queues {
            self.update_committable(mq);
        }
        // A topic whose membership is in doubt commits nothing (a close still writes what it
        // owned since the doubt began, if that was only a moment ago).
        // A user's explicit commit is written regardless.
        let explicit = matches!(mode, PersistMode::Commit(_));
        let doubted = |mq: &MessageQueue| {
            !explicit
                && self.doubt.get(&mq.topic).is_some_and(|d| {
                    !closing || now.saturating_duration_since(d.since) > RELEASE_PERSIST_WINDOW
                })
        };
        let changed: Vec<(MessageQueue, i64)> = self
            .offsets
            .entries()
            .iter()
            .filter(|(mq, o)| all || self.persisted.get(*mq) != Some(*o))
            .filter(|(mq, _)| !doubted(mq))
            .map(|(mq, o)| (mq.clone(), *o))
            .collect();
        if changed.is_empty() {
            return 0;
        }
        for (mq, o) in &changed {
            self.persisted.insert(mq.clone(), *o);
            if closing {
                self.report.persisted.insert(mq.clone(), *o);
            }
        }
        if self.config.message_model == MessageModel::Broadcasting {
            let content = encode_offset_file(self.offsets.entries());
            self.event(Event::PersistLocalOffsets {
                consumer: self.id,
                content,
            });
            return 0;
        }
        let mut sent = 0;
        for (mq, offset) in changed {
            let request = match mode {
                PersistMode::Periodic => None,
                PersistMode::Close => Some(Request::ClosePersist {
                    mq: mq.clone(),
                    offset,
                }),
                PersistMode::Commit(op) => Some(Request::Commit(op)),
            };
            if self.persist_offset(env, &mq, offset, request) {
                sent += 1;
            }
        }
        sent
    }

    /// UPDATE_CONSUMER_OFFSET for one queue: oneway normally (as Java), a request when
    /// something waits for it. Returns whether a request was sent.
    pub(super) fn persist_offset(
        &mut self,
        env: &Env<'_>,
        mq: &MessageQueue,
        offset: i64,
        request: Option<Request>,
    ) -> bool {
        let Some(addr) = master_of(env, &mq.broker_name) else {
            return false;
        };
        let command = header::request(
            RequestCode::UpdateConsumerOffset,
            &UpdateConsumerOffsetRequestHeader {
                consumer_group: self.config.group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                commit_offset: offset,
                broker_name: Some(mq.broker_name.clone()),
            },
        );
        match request {
            Some(request) => {
                self.request(env, addr, command, request);
                true
            }
            None => {
                self.oneway(addr, command);
                false
            }
        }
    }

    /// One request of a user's commit was answered.
    pub(super) fn on_commit_step(&mut self, op: OpId) {
        if let Some(entry) = self.commits.iter_mut().find(|(o, _)| *o == op) {
            entry.1 = entry.1.saturating_sub(1);
        }
        let done: Vec<OpId> = self
            .commits
            .iter()
            .filter(|(_, left)| *left == 0)
            .map(|(o, _)| *o)
            .collect();
        self.commits.retain(|(_, left)| *left > 0);
        for op in done {
            self.event(Event::OffsetsCommitted {
                op,
                consumer: self.id,
            });
        }
    }

    /// LOCK_BATCH_MQ for every held queue of an orderly consumer, one request per broker (at
    /// every change of the queues held and on the lock-renewal timer).
    pub(in crate::client) fn lock_all(&mut self, env: &Env<'_>) {
        if !self.orderly() || self.closing.is_some() {
            return;
        }
        let requests = self
            .locks
            .lock_all_requests(env.client_id, &self.config.group);
        for (broker, body) in requests {
            let Some(addr) = master_of(env, &broker) else {
                continue;
            };
            let set = body.mq_set.clone();
            self.request(env, addr, lock_request(&body), Request::Lock(set));
        }
    }

    /// LOCK_BATCH_MQ for one queue.
    pub(super) fn lock_queue(&mut self, env: &Env<'_>, mq: &MessageQueue) {
        let Some(addr) = master_of(env, &mq.broker_name) else {
            return;
        };
        let set: BTreeSet<MessageQueue> = [mq.clone()].into_iter().collect();
        let body = LockBatchRequestBody {
            client_id: env.client_id.to_string(),
            consumer_group: self.config.group.clone(),
            mq_set: set.clone(),
            only_this_broker: false,
        };
        self.request(env, addr, lock_request(&body), Request::Lock(set));
    }

    pub(super) fn on_lock(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        requested: &BTreeSet<MessageQueue>,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let body = result.ok().and_then(|r| {
            (r.response_code() == ResponseCode::Success)
                .then(|| LockBatchResponseBody::decode(&r.body).ok())
                .flatten()
        });
        let body = body.unwrap_or_default();
        let newly = self.locks.on_lock_response(requested, &body, now);
        // Granted after we let the queue go: give it back at once.
        let stale: BTreeSet<MessageQueue> = body
            .lock_ok_mq_set
            .iter()
            .filter(|mq| {
                self.queues
                    .get(*mq)
                    .is_none_or(|s| s.pq.state() == QueueState::Released)
            })
            .cloned()
            .collect();
        if let Some(broker) = stale.iter().next().map(|q| q.broker_name.clone()) {
            if let Some(addr) = master_of(env, &broker) {
                let command = unlock_request(env.client_id, &self.config.group, stale);
                self.oneway(addr, command);
            }
        }
        for mq in newly {
            // First pull after locking reads the offset again (Java); ours is fresh.
            self.schedule_pull(now, env, &mq, Duration::ZERO);
        }
        self.deliver_ready(now, env);
    }
}
