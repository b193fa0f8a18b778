//! POP consumption in the simulated broker (RocketMQ 5.x, Java semantics): POP_MESSAGE with
//! long polling, ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME.
//!
//! ```text
//! per (group, topic, queue): next  = the first offset never popped
//!                            in flight, by offset: pop time, visible-again time, pops, attempt
//! pop (concurrent): in-flight messages visible again (not acked in time) first, then new
//!                   ones from `next`; each gets the response's pop time
//! pop (orderly):    a queue with an un-acked message still invisible is blocked (answered
//!                   POLLING_TIMEOUT at once) unless the pop repeats the attempt id that
//!                   popped it: then the same messages again; once invisible time passed,
//!                   the same messages again from the first un-acked one, with their counts
//! ack / change:     only with the handle of the message's latest pop (or change)
//! ```
//!
//! The pop state belongs to the broker and survives a restart (like the store's offsets);
//! held pops and connections do not. Revived messages come back from their own queue and
//! offset (a real broker copies them to its POP retry topic first: the client cannot tell,
//! except for the handle's topic mark).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rocketwire_core::consumer::ReceiptHandle;
use rocketwire_core::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    CommandHeader, PopMessageRequestHeader, PopMessageResponseHeader,
};
use rocketwire_core::message::{encode_stored_into, MessageExt};
use rocketwire_core::{RemotingCommand, ResponseCode, WallClock};

use super::{read, response, success, SimBroker};
use crate::net::LinkId;
use crate::server::Incoming;

/// The most messages one pop may ask for (Java refuses more).
const MAX_POP_NUMS: i32 = 32;

/// The longest hold of a pop the model accepts (a longer `pollTime` is cut to it).
const MAX_POLL: Duration = Duration::from_secs(24 * 3600);

/// The revive queue every handle names.
const REVIVE_QID: i32 = 0;

/// `initMode` of a group without a position: from the queue's first message (Java
/// `ConsumeInitMode.MIN`); anything else is `MAX` (from its last one).
const INIT_MODE_MIN: i32 = 0;

/// Key of a queue's pop state: (group, topic, queue id).
type QueueKey = (String, String, i32);

/// One popped, not yet acked message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    /// Broker wall-clock ms of its latest pop (or change of invisible time): the handle
    /// that acks it carries this.
    pop_time: i64,
    /// Wall-clock ms from which it may be popped again.
    invisible_until: i64,
    /// How often it was popped (orderly: by distinct attempts).
    times: i32,
}

/// The pop state of one queue for one group.
#[derive(Debug, Clone, Default)]
struct QueueState {
    /// The first offset never popped.
    next: i64,
    /// Popped and not acked, by offset.
    in_flight: BTreeMap<i64, InFlight>,
    /// Orderly: the attempt id of the pop that produced the messages in flight.
    attempt: Option<String>,
}

/// A pop held for long polling.
#[derive(Debug)]
struct HeldPop {
    req: Incoming,
    header: PopMessageRequestHeader,
    deadline: Instant,
}

/// Everything POP of one broker: the durable state, held pops and fault knobs.
#[derive(Debug, Default)]
pub(super) struct PopModel {
    queues: BTreeMap<QueueKey, QueueState>,
    /// Acked messages per (group, topic).
    acked: BTreeMap<(String, String), u64>,
    /// Rotates the first queue of a pop of every queue.
    rotate: usize,
    /// The last pop time handed out (pop times only grow, so a handle names one pop).
    last_stamp: i64,
    held: Vec<HeldPop>,
    /// Instants at which a message in flight becomes visible again (held pops look again).
    wakes: BTreeSet<Instant>,
    fail_changes: u32,
    drop_acks: u32,
    /// Changes of invisible time refused by `fail_changes` so far (inspection).
    changes_refused: u64,
    /// Acks swallowed by `drop_acks` so far (inspection).
    acks_dropped: u64,
}

impl PopModel {
    /// A restart: held pops and their wake-ups are gone; the pop state stays.
    pub(super) fn crash(&mut self) {
        self.held.clear();
        self.wakes.clear();
    }

    /// Held pops of a closed connection are dropped.
    pub(super) fn link_closed(&mut self, link: LinkId) {
        self.held.retain(|h| h.req.link != link);
    }

    /// The next instant a held pop ends or a message in flight becomes visible again.
    pub(super) fn next_due(&self) -> Option<Instant> {
        let held = self.held.iter().map(|h| h.deadline).min();
        let wake = self.wakes.first().copied();
        held.into_iter().chain(wake).min()
    }

    fn stamp(&mut self, now_ms: i64) -> i64 {
        self.last_stamp = now_ms.max(self.last_stamp.saturating_add(1));
        self.last_stamp
    }
}

/// What one try of a pop found.
enum Popped {
    /// Messages: the response.
    Found(RemotingCommand),
    /// An orderly queue is blocked: answer "nothing" at once.
    Blocked,
    /// Nothing yet: hold if allowed.
    Nothing,
}

/// Whether a message matches a pop's filter (TAG `a || b`, `*`; SQL92 is not evaluated:
/// everything matches).
fn matches(header: &PopMessageRequestHeader, m: &MessageExt) -> bool {
    if header
        .exp_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("SQL92"))
    {
        return true;
    }
    let Some(exp) = header
        .exp
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "*")
    else {
        return true;
    };
    let Some(tag) = m.message.tags() else {
        return false;
    };
    exp.split("||").map(str::trim).any(|t| t == tag)
}

fn to_instant(now: Instant, now_ms: i64, at_ms: i64) -> Option<Instant> {
    let wait = u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0);
    now.checked_add(Duration::from_millis(wait))
}

impl SimBroker {
    /// Fault: answer SYSTEM_ERROR "append check point error" to the next `n`
    /// CHANGE_MESSAGE_INVISIBLETIME requests, changing nothing (what rocketmq-rust 1.0.0
    /// answers to every one).
    pub fn fail_next_changes(&mut self, n: u32) {
        self.pop.fail_changes = n;
    }

    /// Fault: swallow the next `n` ACK_MESSAGE requests (never answered, nothing acked).
    pub fn drop_next_acks(&mut self, n: u32) {
        self.pop.drop_acks = n;
    }

    /// Messages of `topic` popped by `group` and not acked (whether invisible or not).
    pub fn pop_in_flight(&self, group: &str, topic: &str) -> usize {
        self.pop
            .queues
            .iter()
            .filter(|((g, t, _), _)| g == group && t == topic)
            .map(|(_, q)| q.in_flight.len())
            .sum()
    }

    /// Messages of `topic` acked by `group` (each counted once).
    pub fn pop_acked(&self, group: &str, topic: &str) -> u64 {
        self.pop
            .acked
            .get(&(group.to_string(), topic.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// How many CHANGE_MESSAGE_INVISIBLETIME requests [`SimBroker::fail_next_changes`] has
    /// refused so far (kept over a restart).
    pub fn pop_changes_refused(&self) -> u64 {
        self.pop.changes_refused
    }

    /// How many ACK_MESSAGE requests [`SimBroker::drop_next_acks`] has swallowed so far (kept
    /// over a restart).
    pub fn pop_acks_dropped(&self) -> u64 {
        self.pop.acks_dropped
    }

    /// The first offset of a queue `group` never popped (`None` before its first pop).
    pub fn pop_position(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.pop
            .queues
            .get(&(group.to_string(), topic.to_string(), queue_id))
            .map(|q| q.next)
    }

    /// POP_MESSAGE: the answer, or `None` when the pop is held (long polling).
    pub(super) fn pop_message(
        &mut self,
        now: Instant,
        req: &Incoming,
    ) -> Option<Result<RemotingCommand, String>> {
        let h = match read::<PopMessageRequestHeader>(&req.cmd) {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let Some(nums) = self.store.queue_nums(&h.topic) else {
            let remark = format!("topic[{}] not exist, apply first please!", h.topic);
            return Some(Ok(response(&req.cmd, ResponseCode::TopicNotExist, &remark)));
        };
        if h.queue_id < -1 || h.queue_id >= nums {
            let remark = format!(
                "queueId[{}] is illegal, topic has {nums} queues",
                h.queue_id
            );
            return Some(Err(remark));
        }
        if h.max_msg_nums <= 0 || h.max_msg_nums > MAX_POP_NUMS {
            let remark = format!("the max msg nums {} is illegal", h.max_msg_nums);
            return Some(Err(remark));
        }
        if h.invisible_time < 0 || h.consumer_group.is_empty() {
            return Some(Err("invisibleTime or consumerGroup is illegal".into()));
        }
        match self.try_pop(now, &req.cmd, &h) {
            Popped::Found(r) => Some(Ok(r)),
            Popped::Blocked => Some(Ok(polling_timeout(&req.cmd))),
            Popped::Nothing if h.poll_time > 0 => {
                let hold = Duration::from_millis(u64::try_from(h.poll_time).unwrap_or(0));
                let deadline = now + hold.min(MAX_POLL);
                self.pop.held.push(HeldPop {
                    req: req.clone(),
                    header: h,
                    deadline,
                });
                None
            }
            Popped::Nothing => Some(Ok(polling_timeout(&req.cmd))),
        }
    }

    /// Answers the held pops that now find something (or whose queue is blocked), and those
    /// whose poll time passed; forgets the wake-ups that came.
    pub(super) fn serve_held_pops(&mut self, now: Instant) {
        while self.pop.wakes.first().is_some_and(|at| *at <= now) {
            self.pop.wakes.pop_first();
        }
        for held in std::mem::take(&mut self.pop.held) {
            let answer = match self.try_pop(now, &held.req.cmd, &held.header) {
                Popped::Found(r) => Some(r),
                Popped::Blocked => Some(polling_timeout(&held.req.cmd)),
                Popped::Nothing if held.deadline <= now => Some(polling_timeout(&held.req.cmd)),
                Popped::Nothing => None,
            };
            match answer {
                Some(r) => self.conns.respond(&held.req, r),
                None => self.pop.held.push(held),
            }
        }
    }

    /// One try of a pop (the header is checked).
    fn try_pop(
        &mut self,
        now: Instant,
        request: &RemotingCommand,
        h: &PopMessageRequestHeader,
    ) -> Popped {
        let nums = self.store.queue_nums(&h.topic).unwrap_or(0).max(0);
        let queues: Vec<i32> = if h.queue_id >= 0 {
            vec![h.queue_id]
        } else {
            let n = usize::try_from(nums).unwrap_or(0);
            self.pop.rotate = self.pop.rotate.wrapping_add(1);
            let start = if n == 0 { 0 } else { self.pop.rotate % n };
            (0..n)
                .map(|i| i32::try_from((start + i) % n.max(1)).unwrap_or(0))
                .collect()
        };
        let order = h.order == Some(true);
        let max = usize::try_from(h.max_msg_nums).unwrap_or(1);
        let now_ms = self.wall.now_millis();
        // (queue id, offset, times popped before) of each message popped.
        let mut picked: Vec<(i32, i64, i32)> = Vec::new();
        let mut blocked = false;
        let mut rest = 0i64;
        for &qid in &queues {
            let key = (h.consumer_group.clone(), h.topic.clone(), qid);
            let max_offset = self.store.max_offset(&h.topic, qid);
            if !self.pop.queues.contains_key(&key) {
                let next = if h.init_mode == INIT_MODE_MIN {
                    0
                } else {
                    // Java: the last message ("pop last one").
                    (max_offset - 1).max(0)
                };
                self.pop.queues.insert(
                    key.clone(),
                    QueueState {
                        next,
                        ..QueueState::default()
                    },
                );
            }
            let room = max.saturating_sub(picked.len());
            let found = if room == 0 {
                Some(Vec::new())
            } else if order {
                self.pick_orderly(&key, h, now_ms, room, max_offset)
            } else {
                Some(self.pick_concurrent(&key, h, now_ms, room, max_offset))
            };
            let next = self.pop.queues.get(&key).map_or(max_offset, |q| q.next);
            rest = rest.saturating_add(max_offset.saturating_sub(next).max(0));
            match found {
                Some(found) => picked.extend(found.into_iter().map(|(o, c)| (qid, o, c))),
                None => blocked = true,
            }
        }
        if picked.is_empty() {
            return if blocked {
                Popped::Blocked
            } else {
                Popped::Nothing
            };
        }
        // One pop time for the response; every message picked gets it.
        let pop_time = self.pop.stamp(now_ms);
        let invisible_until = pop_time.saturating_add(h.invisible_time);
        let mut body = BytesMut::new();
        let mut starts: BTreeMap<i32, i64> = BTreeMap::new();
        let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        let mut counts: Vec<String> = Vec::new();
        let mut min_count: BTreeMap<i32, i32> = BTreeMap::new();
        for &(qid, offset, before) in &picked {
            let key = (h.consumer_group.clone(), h.topic.clone(), qid);
            if let Some(e) = self
                .pop
                .queues
                .get_mut(&key)
                .and_then(|q| q.in_flight.get_mut(&offset))
            {
                e.pop_time = pop_time;
                e.invisible_until = invisible_until;
            }
            if let Some(stored) = self.store.at(&h.topic, qid, offset) {
                let mut m = stored.clone();
                if !order {
                    // A redelivery counts as a reconsume (Java revives it with + 1).
                    m.reconsume_times = m.reconsume_times.saturating_add(before);
                }
                let _ = encode_stored_into(&m, &mut body);
            }
            let start = starts.entry(qid).or_insert(offset);
            *start = (*start).min(offset);
            offsets.entry(qid).or_default().push(offset);
            if order && before > 0 {
                counts.push(format!("0 qo{qid}%{offset} {before}"));
            }
            let least = min_count.entry(qid).or_insert(before);
            *least = (*least).min(before);
        }
        if let Some(at) = to_instant(now, now_ms, invisible_until) {
            self.pop.wakes.insert(at);
        }
        let join = |v: Vec<String>| v.join(";");
        let start_offset_info = join(starts.iter().map(|(q, o)| format!("0 {q} {o}")).collect());
        let msg_offset_info = join(
            offsets
                .iter()
                .map(|(q, os)| {
                    let os: Vec<String> = os.iter().map(i64::to_string).collect();
                    format!("0 {q} {}", os.join(","))
                })
                .collect(),
        );
        let order_count_info = order.then(|| {
            counts.extend(min_count.iter().map(|(q, c)| format!("0 {q} {c}")));
            join(counts)
        });
        let header = PopMessageResponseHeader {
            pop_time,
            invisible_time: h.invisible_time,
            revive_qid: REVIVE_QID,
            rest_num: rest,
            start_offset_info: Some(start_offset_info),
            msg_offset_info: Some(msg_offset_info),
            order_count_info,
        };
        Popped::Found(
            success(request)
                .with_ext_fields(header.to_fields())
                .with_body(body.freeze()),
        )
    }

    /// Concurrent: messages visible again first, then new ones; (offset, times popped
    /// before) of each. Every one is in flight afterwards with its count raised.
    fn pick_concurrent(
        &mut self,
        key: &QueueKey,
        h: &PopMessageRequestHeader,
        now_ms: i64,
        room: usize,
        max_offset: i64,
    ) -> Vec<(i64, i32)> {
        let Some(q) = self.pop.queues.get_mut(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (offset, e) in q.in_flight.iter_mut() {
            if out.len() >= room {
                break;
            }
            if e.invisible_until <= now_ms {
                out.push((*offset, e.times));
                e.times = e.times.saturating_add(1);
            }
        }
        while out.len() < room && q.next < max_offset {
            let offset = q.next;
            q.next += 1;
            let Some(m) = self.store.at(&key.1, key.2, offset) else {
                continue;
            };
            if !matches(h, m) {
                continue;
            }
            q.in_flight.insert(
                offset,
                InFlight {
                    pop_time: 0,
                    invisible_until: 0,
                    times: 1,
                },
            );
            out.push((offset, 0));
        }
        out
    }

    /// Orderly: `None` when the queue is blocked, else (offset, times popped before) of the
    /// messages to hand out.
    fn pick_orderly(
        &mut self,
        key: &QueueKey,
        h: &PopMessageRequestHeader,
        now_ms: i64,
        room: usize,
        max_offset: i64,
    ) -> Option<Vec<(i64, i32)>> {
        let q = self.pop.queues.get_mut(key)?;
        let invisible = q.in_flight.values().any(|e| e.invisible_until > now_ms);
        // A repeated attempt (its answer was lost) gets what that pop got, if it got anything.
        let same_attempt =
            h.attempt_id.is_some() && h.attempt_id == q.attempt && !q.in_flight.is_empty();
        if invisible && !same_attempt {
            return None;
        }
        let mut out: Vec<(i64, i32)> = Vec::new();
        for (offset, e) in q.in_flight.iter_mut() {
            if out.len() >= room {
                break;
            }
            if same_attempt {
                // The same pop again (its answer was lost): counts as before.
                out.push((*offset, e.times.saturating_sub(1)));
            } else {
                out.push((*offset, e.times));
                e.times = e.times.saturating_add(1);
            }
        }
        // New messages only behind the ones out again (never after a repeated attempt).
        if !same_attempt {
            while out.len() < room && q.next < max_offset {
                let offset = q.next;
                q.next += 1;
                let Some(m) = self.store.at(&key.1, key.2, offset) else {
                    continue;
                };
                if !matches(h, m) {
                    continue;
                }
                q.in_flight.insert(
                    offset,
                    InFlight {
                        pop_time: 0,
                        invisible_until: 0,
                        times: 1,
                    },
                );
                out.push((offset, 0));
            }
        }
        if !out.is_empty() {
            q.attempt = h.attempt_id.clone();
        }
        Some(out)
    }

    /// ACK_MESSAGE: the answer, or `None` when the request is swallowed (fault).
    pub(super) fn pop_ack(&mut self, req: &Incoming) -> Option<Result<RemotingCommand, String>> {
        if self.pop.drop_acks > 0 {
            self.pop.drop_acks -= 1;
            self.pop.acks_dropped += 1;
            return None;
        }
        Some(self.ack(req))
    }

    fn ack(&mut self, req: &Incoming) -> Result<RemotingCommand, String> {
        let h = read::<AckMessageRequestHeader>(&req.cmd)?;
        let handle = ReceiptHandle::parse(&h.extra_info).map_err(|e| e.to_string())?;
        if let Some(refused) = self.check_place(&req.cmd, &h.topic, h.queue_id, h.offset) {
            return Ok(refused);
        }
        let key = (h.consumer_group.clone(), h.topic.clone(), h.queue_id);
        let Some(q) = self.pop.queues.get_mut(&key) else {
            return Ok(success(&req.cmd));
        };
        // A stale handle (an older pop or change of the message) acks nothing.
        if q.in_flight
            .get(&h.offset)
            .is_some_and(|e| e.pop_time == handle.pop_time)
        {
            q.in_flight.remove(&h.offset);
            *self
                .pop
                .acked
                .entry((h.consumer_group, h.topic))
                .or_default() += 1;
        }
        Ok(success(&req.cmd))
    }

    /// CHANGE_MESSAGE_INVISIBLETIME.
    pub(super) fn change_invisible(
        &mut self,
        now: Instant,
        req: &Incoming,
    ) -> Result<RemotingCommand, String> {
        if self.pop.fail_changes > 0 {
            self.pop.fail_changes -= 1;
            self.pop.changes_refused += 1;
            return Err("append check point error".into());
        }
        let h = read::<ChangeInvisibleTimeRequestHeader>(&req.cmd)?;
        let handle = ReceiptHandle::parse(&h.extra_info).map_err(|e| e.to_string())?;
        if h.invisible_time < 0 {
            return Err(format!("invisibleTime {} is illegal", h.invisible_time));
        }
        if let Some(refused) = self.check_place(&req.cmd, &h.topic, h.queue_id, h.offset) {
            return Ok(refused);
        }
        let now_ms = self.wall.now_millis();
        let key = (h.consumer_group.clone(), h.topic.clone(), h.queue_id);
        let current = self
            .pop
            .queues
            .get(&key)
            .and_then(|q| q.in_flight.get(&h.offset))
            .is_some_and(|e| e.pop_time == handle.pop_time);
        if !current {
            return Err("the message is not in flight with this handle".into());
        }
        let pop_time = self.pop.stamp(now_ms);
        let invisible_until = pop_time.saturating_add(h.invisible_time);
        if let Some(e) = self
            .pop
            .queues
            .get_mut(&key)
            .and_then(|q| q.in_flight.get_mut(&h.offset))
        {
            e.pop_time = pop_time;
            e.invisible_until = invisible_until;
        }
        if let Some(at) = to_instant(now, now_ms, invisible_until) {
            self.pop.wakes.insert(at);
        }
        let header = ChangeInvisibleTimeResponseHeader {
            pop_time,
            invisible_time: h.invisible_time,
            revive_qid: REVIVE_QID,
        };
        Ok(success(&req.cmd).with_ext_fields(header.to_fields()))
    }

    /// The refusal of an ack or change naming no message of this broker, if it does not.
    fn check_place(
        &self,
        request: &RemotingCommand,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<RemotingCommand> {
        let Some(nums) = self.store.queue_nums(topic) else {
            let remark = format!("topic[{topic}] not exist, apply first please!");
            return Some(response(request, ResponseCode::TopicNotExist, &remark));
        };
        if queue_id < 0 || queue_id >= nums {
            let remark = format!("queueId[{queue_id}] is illegal, topic has {nums} queues");
            return Some(response(request, ResponseCode::SystemError, &remark));
        }
        let max = self.store.max_offset(topic, queue_id);
        if offset < 0 || offset >= max {
            let remark = format!("offset is illegal, key:{topic}@{queue_id}, offset:{offset}");
            return Some(response(request, ResponseCode::NoMessage, &remark));
        }
        None
    }
}

/// "Nothing to pop" (no header).
fn polling_timeout(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::PollingTimeout)
}
