//! Start offsets of newly held queues: the stored offset, else the queue's max offset or a
//! timestamp search, as the consume-from-where setting says.

use std::time::{Duration, Instant};

use super::machine::{master_of, ConsumerMachine, Env, Request};
use crate::body::{MessageModel, MessageQueue};
use crate::codec::{RemotingCommand, RequestCode};
use crate::consumer::{offset_from_response, StartOffset, StartOffsetStep, StoredOffset};
use crate::header::{
    self, GetMaxOffsetRequestHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
};
use crate::remoting::InvokeError;

impl ConsumerMachine {
    /// Moves a new queue's start-offset lookup one request forward.
    pub(super) fn advance_start(&mut self, now: Instant, env: &mut Env<'_>, mq: &MessageQueue) {
        let local = self.offsets.get(mq);
        let broadcasting = self.config.message_model == MessageModel::Broadcasting;
        let Some(start) = self.queues.get_mut(mq).and_then(|s| s.start.as_mut()) else {
            return;
        };
        let mut step = start.step();
        if broadcasting && step == StartOffsetStep::ReadStored {
            step = start.on_stored(match local {
                Some(o) => StoredOffset::Found(o),
                None => StoredOffset::NotFound,
            });
        }
        let Some(addr) = master_of(env, &mq.broker_name) else {
            return self.schedule_start_retry(now, env, mq);
        };
        let group = self.config.group.clone();
        let (command, request) = match step {
            StartOffsetStep::Done(offset) => return self.started(now, env, mq, offset),
            StartOffsetStep::Failed => {
                // Java skips the queue until the next rebalance; we retry its lookup later.
                let from = self.config.consume_from_where;
                let ts = self.config.consume_timestamp_ms.unwrap_or(0);
                if let Some(slot) = self.queues.get_mut(mq) {
                    slot.start = Some(StartOffset::new(mq, from, ts));
                }
                return self.schedule_start_retry(now, env, mq);
            }
            StartOffsetStep::ReadStored => (
                header::request(
                    RequestCode::QueryConsumerOffset,
                    &QueryConsumerOffsetRequestHeader {
                        consumer_group: group,
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        set_zero_if_not_found: Some(false),
                        broker_name: Some(mq.broker_name.clone()),
                    },
                ),
                Request::QueryOffset(mq.clone()),
            ),
            StartOffsetStep::QueryMaxOffset => (
                header::request(
                    RequestCode::GetMaxOffset,
                    &GetMaxOffsetRequestHeader {
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        committed: true,
                        broker_name: Some(mq.broker_name.clone()),
                    },
                ),
                Request::MaxOffset(mq.clone()),
            ),
            StartOffsetStep::SearchByTimestamp(ts) => (
                header::request(
                    RequestCode::SearchOffsetByTimestamp,
                    &SearchOffsetRequestHeader {
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        timestamp: ts,
                        boundary_type: None,
                        broker_name: Some(mq.broker_name.clone()),
                    },
                ),
                Request::SearchOffset(mq.clone()),
            ),
        };
        self.request(env, addr, command, request);
    }

    /// The queue's start offset is known: it starts pulling there.
    fn started(&mut self, now: Instant, env: &mut Env<'_>, mq: &MessageQueue, offset: i64) {
        let Some(slot) = self.queues.get_mut(mq) else {
            return;
        };
        // An offset the store holds is not written back (see `Slot::started_at`); nor is 0,
        // which a restart computes again. One computed otherwise (LAST, a timestamp) is
        // persisted as Java does: a restart would compute a later one and skip the messages
        // sent meanwhile.
        let read = offset == 0 || slot.start.as_ref().is_some_and(StartOffset::from_store);
        slot.start = None;
        if slot.pq.start(offset).is_ok() {
            slot.started_at = read.then_some(offset);
            self.offsets.update(mq, offset, false);
            if read {
                self.persisted.insert(mq.clone(), offset);
            }
            self.schedule_pull(now, env, mq, Duration::ZERO);
        }
    }

    fn schedule_start_retry(&mut self, now: Instant, env: &Env<'_>, mq: &MessageQueue) {
        let delay = self.config.delay_after_error;
        self.schedule_pull(now, env, mq, delay);
    }

    pub(super) fn on_stored_offset(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        mq: &MessageQueue,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let stored = match &result {
            Ok(r) => StoredOffset::from_response(r),
            Err(_) => StoredOffset::Error,
        };
        self.start_step(now, env, mq, |s| s.on_stored(stored));
    }

    pub(super) fn on_max_offset(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        mq: &MessageQueue,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let max = result.ok().as_ref().and_then(offset_from_response);
        self.start_step(now, env, mq, |s| s.on_max_offset(max));
    }

    pub(super) fn on_search_offset(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        mq: &MessageQueue,
        result: Result<RemotingCommand, InvokeError>,
    ) {
        let found = result.ok().as_ref().and_then(offset_from_response);
        self.start_step(now, env, mq, |s| s.on_search_offset(found));
    }

    fn start_step(
        &mut self,
        now: Instant,
        env: &mut Env<'_>,
        mq: &MessageQueue,
        f: impl FnOnce(&mut StartOffset) -> StartOffsetStep,
    ) {
        let Some(start) = self.queues.get_mut(mq).and_then(|s| s.start.as_mut()) else {
            return;
        };
        f(start);
        self.advance_start(now, env, mq);
    }
}
