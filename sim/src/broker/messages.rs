//! Message handlers of the simulated broker: sends (single, V2, batch, half messages), pulls
//! with long polling, send-back to retry/DLQ topics, transaction end and checks.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rocketwire_core::header::{self as hdr, CommandHeader, TransactionState};
use rocketwire_core::message::{
    decode_batch, encode_stored_into, keys, properties::decode_properties, sysflag, Message,
    MessageExt, RETRY_TOPIC_PREFIX,
};
use rocketwire_core::{RemotingCommand, RequestCode, ResponseCode};

use super::{read, response, success, Half, Held, SimBroker};
use crate::server::Incoming;
use crate::store::Placement;

/// Broker delay levels 1..=18 (`messageDelayLevel` default), in seconds.
const DELAY_LEVEL_SECS: [u64; 18] = [
    1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];

impl SimBroker {
    pub(super) fn send(&mut self, now: Instant, req: &Incoming) -> Result<RemotingCommand, String> {
        if self.busy_sends > 0 {
            self.busy_sends -= 1;
            let remark = "[PC_SYNCHRONIZED]broker busy, start flow control for a while";
            return Ok(response(&req.cmd, ResponseCode::SystemBusy, remark));
        }
        let h = if req.cmd.code == RequestCode::SendMessage.code() {
            read::<hdr::SendMessageRequestHeader>(&req.cmd)?
        } else {
            read::<hdr::SendMessageRequestHeaderV2>(&req.cmd)?.0
        };
        let nums = self.config.default_queue_nums;
        self.create_topic(&h.topic, nums);
        let nums = self.store.queue_nums(&h.topic).unwrap_or(nums);
        let queue_id = if h.queue_id < 0 { 0 } else { h.queue_id };
        if queue_id >= nums {
            return Err(format!(
                "queueId[{queue_id}] is illegal, topic {} has {nums} queues",
                h.topic
            ));
        }
        let props = decode_properties(h.properties.as_deref().unwrap_or(""));
        let messages = if req.cmd.code == RequestCode::SendBatchMessage.code() {
            decode_batch(&req.cmd.body, &h.topic).map_err(|e| e.to_string())?
        } else {
            vec![Message::from_parts(
                h.topic.clone(),
                h.flag,
                props.clone(),
                req.cmd.body.clone(),
            )]
        };
        let prepared = sysflag::transaction_type(h.sys_flag) == sysflag::TRANSACTION_PREPARED_TYPE
            || props
                .get(keys::TRANSACTION_PREPARED)
                .is_some_and(|v| v == "true");
        let born_host = self
            .conns
            .peer(req.link)
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let meta = self.meta(
            h.sys_flag,
            h.born_timestamp,
            born_host,
            h.reconsume_times.unwrap_or(0),
        );
        let mut ids = Vec::new();
        let mut first_offset = None;
        let mut transaction_id = None;
        for message in messages {
            let place = if prepared {
                self.next_half_offset += 1;
                Placement::Hidden(queue_id, self.next_half_offset - 1)
            } else {
                Placement::Queue(queue_id)
            };
            let group = message
                .property(keys::PRODUCER_GROUP)
                .unwrap_or(&h.producer_group)
                .to_string();
            let ext = self.store.append(message, place, meta);
            if prepared {
                transaction_id = ext.message.unique_key().map(str::to_string);
                let next_check = now + self.config.transaction_check_after;
                self.halves.insert(
                    ext.commit_log_offset,
                    Half {
                        group,
                        next_check,
                        checks: 0,
                    },
                );
            }
            first_offset.get_or_insert(ext.queue_offset);
            ids.push(ext.offset_msg_id);
        }
        if !prepared {
            self.wake(now, &h.topic, queue_id);
        }
        let header = hdr::SendMessageResponseHeader {
            msg_id: ids.join(","),
            queue_id,
            queue_offset: first_offset.unwrap_or(0),
            transaction_id,
            batch_uniq_id: None,
            recall_handle: None,
            msg_region: Some("DefaultRegion".into()),
            trace_on: Some(true),
        };
        Ok(success(&req.cmd).with_ext_fields(header.to_fields()))
    }

    /// Answers a pull, or `None` to hold it (long polling) when `may_hold`.
    pub(super) fn pull(
        &mut self,
        _now: Instant,
        req: &Incoming,
        h: &hdr::PullMessageRequestHeader,
        may_hold: bool,
    ) -> Option<RemotingCommand> {
        let Some(nums) = self.store.queue_nums(&h.topic) else {
            let remark = format!("topic[{}] not exist, apply first please!", h.topic);
            return Some(response(&req.cmd, ResponseCode::TopicNotExist, &remark));
        };
        if h.queue_id < 0 || h.queue_id >= nums {
            return Some(response(
                &req.cmd,
                ResponseCode::SystemError,
                "queueId is illegal",
            ));
        }
        // Only the first processing commits (Java: `storeOffsetEnable = brokerAllowSuspend`):
        // a held pull answered later must not write its stale offset again.
        if may_hold && sysflag::has(h.sys_flag, sysflag::PULL_COMMIT_OFFSET) {
            self.store.set_consumer_offset(
                &h.consumer_group,
                &h.topic,
                h.queue_id,
                h.commit_offset,
            );
        }
        let max = self.store.max_offset(&h.topic, h.queue_id);
        let tags = subscription_tags(h.subscription.as_deref());
        let (code, next, body) = if h.queue_offset < 0 || h.queue_offset > max {
            let next = if h.queue_offset < 0 { 0 } else { max };
            (ResponseCode::PullOffsetMoved, next, Bytes::new())
        } else if h.queue_offset == max {
            let hold =
                sysflag::has(h.sys_flag, sysflag::PULL_SUSPEND) && h.suspend_timeout_millis > 0;
            if may_hold && hold {
                return None;
            }
            (ResponseCode::PullNotFound, max, Bytes::new())
        } else {
            let mut body = BytesMut::new();
            let (mut offset, mut found) = (h.queue_offset, 0);
            while offset < max && found < h.max_msg_nums.max(1) {
                if let Some(m) = self.store.at(&h.topic, h.queue_id, offset) {
                    if tags
                        .as_ref()
                        .is_none_or(|t| m.message.tags().is_some_and(|g| t.contains(g)))
                    {
                        let _ = encode_stored_into(m, &mut body);
                        found += 1;
                    }
                }
                offset += 1;
            }
            let code = if found > 0 {
                ResponseCode::Success
            } else {
                ResponseCode::PullRetryImmediately
            };
            (code, offset, body.freeze())
        };
        let header = hdr::PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: next,
            min_offset: 0,
            max_offset: max,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        };
        Some(
            RemotingCommand::response_to(&req.cmd, code)
                .with_ext_fields(header.to_fields())
                .with_body(body),
        )
    }

    /// Answers held pulls of a queue that now has messages.
    pub(super) fn wake(&mut self, now: Instant, topic: &str, queue_id: i32) {
        let max = self.store.max_offset(topic, queue_id);
        let (ready, keep): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| {
                h.header.topic == topic
                    && h.header.queue_id == queue_id
                    && h.header.queue_offset < max
            });
        self.held = keep;
        for held in ready {
            if let Some(response) = self.pull(now, &held.req, &held.header, false) {
                self.conns.respond(&held.req, response);
            }
        }
    }

    pub(super) fn send_back(
        &mut self,
        now: Instant,
        req: &Incoming,
    ) -> Result<RemotingCommand, String> {
        if self.fail_send_backs > 0 {
            self.fail_send_backs -= 1;
            return Err("send back refused (fault injected)".into());
        }
        let h = read::<hdr::ConsumerSendMsgBackRequestHeader>(&req.cmd)?;
        let ext = self
            .store
            .get(h.offset)
            .cloned()
            .ok_or("look message by offset failed")?;
        let mut message = ext.message.clone();
        if message.property(keys::RETRY_TOPIC).is_none() {
            let _ = message.set_property(keys::RETRY_TOPIC, ext.message.topic.clone());
        }
        if message.property(keys::ORIGIN_MESSAGE_ID).is_none() {
            let origin = h
                .origin_msg_id
                .clone()
                .unwrap_or_else(|| ext.msg_id().to_string());
            let _ = message.set_property(keys::ORIGIN_MESSAGE_ID, origin);
        }
        let max = h.max_reconsume_times.unwrap_or(16);
        let (topic, delay) = if ext.reconsume_times >= max || h.delay_level < 0 {
            (format!("%DLQ%{}", h.group), Duration::ZERO)
        } else {
            let level = if h.delay_level == 0 {
                3 + ext.reconsume_times
            } else {
                h.delay_level
            };
            message.set_delay_level(level);
            let index = usize::try_from(level.clamp(1, 18) - 1).unwrap_or(0);
            let secs = DELAY_LEVEL_SECS.get(index).copied().unwrap_or(1);
            (
                format!("{RETRY_TOPIC_PREFIX}{}", h.group),
                Duration::from_secs(secs),
            )
        };
        self.create_topic(&topic, 1);
        message.topic = topic;
        let mut retry = MessageExt::from_message(message);
        retry.sys_flag = ext.sys_flag;
        retry.born_timestamp = ext.born_timestamp;
        retry.born_host = ext.born_host;
        retry.reconsume_times = ext.reconsume_times + 1;
        self.seq += 1;
        self.delayed.insert((now + delay, self.seq), retry);
        if delay.is_zero() {
            self.handle_timeout(now);
        }
        Ok(success(&req.cmd))
    }

    pub(super) fn end_transaction(
        &mut self,
        now: Instant,
        req: &Incoming,
    ) -> Result<RemotingCommand, String> {
        let h = read::<hdr::EndTransactionRequestHeader>(&req.cmd)?;
        if h.commit_or_rollback == TransactionState::Unknown {
            return Ok(success(&req.cmd));
        }
        let half = self
            .halves
            .get(&h.commit_log_offset)
            .ok_or("Find prepared transaction message failed")?;
        let ext = self
            .store
            .get(h.commit_log_offset)
            .cloned()
            .ok_or("Find prepared transaction message failed")?;
        if half.group != h.producer_group {
            return Err("The producer group wrong".into());
        }
        if ext.queue_offset != h.tran_state_table_offset {
            return Err("The transaction state table offset wrong".into());
        }
        self.halves.remove(&h.commit_log_offset);
        if h.commit_or_rollback == TransactionState::Commit {
            let mut message = ext.message;
            message.remove_property(keys::TRANSACTION_PREPARED);
            let flag =
                sysflag::with_transaction_type(ext.sys_flag, sysflag::TRANSACTION_COMMIT_TYPE);
            let meta = self.meta(flag, ext.born_timestamp, ext.born_host, ext.reconsume_times);
            let topic = message.topic.clone();
            let nums = self.store.queue_nums(&topic).unwrap_or(1).max(1);
            let queue_id = ext.queue_id.rem_euclid(nums);
            self.store.append(message, Placement::Queue(queue_id), meta);
            self.wake(now, &topic, queue_id);
        }
        Ok(success(&req.cmd))
    }

    pub(super) fn check_transaction(&mut self, now: Instant, phys: i64) {
        let Some(half) = self.halves.get_mut(&phys) else {
            return;
        };
        half.next_check = now + self.config.transaction_check_after;
        let link = self
            .producers
            .get(&half.group)
            .and_then(|m| m.values().next().copied());
        let (Some(link), Some(ext)) = (link, self.store.get(phys)) else {
            return;
        };
        half.checks += 1;
        if half.checks > self.config.transaction_check_max {
            self.halves.remove(&phys);
            return;
        }
        let header = hdr::CheckTransactionStateRequestHeader {
            topic: Some(ext.message.topic.clone()),
            tran_state_table_offset: ext.queue_offset,
            commit_log_offset: phys,
            msg_id: ext.message.unique_key().map(str::to_string),
            transaction_id: ext.message.unique_key().map(str::to_string),
            offset_msg_id: Some(ext.offset_msg_id.clone()),
            broker_name: Some(self.config.name.clone()),
        };
        let mut body = BytesMut::new();
        let _ = encode_stored_into(ext, &mut body);
        let request =
            hdr::request(RequestCode::CheckTransactionState, &header).with_body(body.freeze());
        self.conns.send_oneway(link, request);
    }
}

/// The tag set of a TAG subscription; `None` subscribes to everything.
fn subscription_tags(expression: Option<&str>) -> Option<BTreeSet<String>> {
    let expression = expression
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "*")?;
    Some(
        expression
            .split("||")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    )
}
