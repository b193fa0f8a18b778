//! POP consumption (RocketMQ 5.x): the settings, the receipt handle a popped message is
//! acked by, and the requests and responses of POP_MESSAGE, ACK_MESSAGE and
//! CHANGE_MESSAGE_INVISIBLETIME. The broker keeps the consume position: a popped message is
//! invisible to other pops until its invisible time passes; an ack removes it for good, a
//! change of invisible time moves that moment (and gives the message a new handle).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::header::{
    self, AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader,
    ChangeInvisibleTimeResponseHeader, HeaderError, PopMessageRequestHeader,
    PopMessageResponseHeader,
};
use crate::message::{decode_messages, keys, MessageError, MessageExt};

use super::retry::RETRY_GROUP_TOPIC_PREFIX;
use super::subscription::Subscription;

/// POP settings of a push consumer ([`super::ConsumerConfig::pop`]); Java 5.x's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PopConfig {
    /// How long popped messages stay invisible to other pops (Java `popInvisibleTime`,
    /// 60 s). A message not acked by then is popped again (by anyone).
    pub invisible_time: Duration,
    /// `maxMsgNums` of one pop (Java `popBatchNums`, 32; brokers refuse more than
    /// [`MAX_POP_BATCH`], so larger values are sent as that).
    pub batch_size: u32,
    /// How long the broker may hold a pop when nothing is there (15 s).
    pub poll_time: Duration,
    /// Messages out with the handler per topic and broker above which no pop is sent (Java
    /// `popThresholdForQueue`, 96).
    pub max_outstanding: u32,
    /// Keep a delivery invisible while its handler runs: shortly before its invisible time
    /// passes, the time is extended by another `invisible_time` (default on, until the
    /// consume timeout).
    pub auto_renew: bool,
}

impl Default for PopConfig {
    fn default() -> Self {
        Self {
            invisible_time: Duration::from_secs(60),
            batch_size: 32,
            poll_time: Duration::from_secs(15),
            max_outstanding: 96,
            auto_renew: true,
        }
    }
}

impl PopConfig {
    /// Sets [`PopConfig::invisible_time`].
    pub fn with_invisible_time(mut self, invisible_time: Duration) -> Self {
        self.invisible_time = invisible_time;
        self
    }

    /// Sets [`PopConfig::batch_size`].
    pub fn with_batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`PopConfig::poll_time`].
    pub fn with_poll_time(mut self, poll_time: Duration) -> Self {
        self.poll_time = poll_time;
        self
    }

    /// Sets [`PopConfig::max_outstanding`].
    pub fn with_max_outstanding(mut self, max_outstanding: u32) -> Self {
        self.max_outstanding = max_outstanding;
        self
    }

    /// Sets [`PopConfig::auto_renew`].
    pub fn with_auto_renew(mut self, auto_renew: bool) -> Self {
        self.auto_renew = auto_renew;
        self
    }
}

/// The most messages one pop may ask for (brokers answer SYSTEM_ERROR above it).
pub const MAX_POP_BATCH: u32 = 32;

/// `initMode` of a group without a position: start at the queue's first message (Java
/// `ConsumeInitMode.MIN`).
pub const INIT_MODE_MIN: i32 = 0;
/// `initMode`: start at the queue's last message (`ConsumeInitMode.MAX`, Java's default).
pub const INIT_MODE_MAX: i32 = 1;

/// How much longer than its poll time the client waits for a pop's answer (Java 10 s).
pub const POP_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// Java's POP retry delays by reconsume count (`popDelayLevel`), seconds: a message handed
/// back with [`crate::client::ConsumeOutcome::ReconsumeLater`] becomes visible again after
/// this long.
pub const POP_RETRY_DELAYS_SECS: [u64; 16] = [
    10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];

/// The broker's delay levels (`messageDelayLevel`), seconds: an explicit delay level asked
/// for by the handler maps to these.
const BROKER_DELAY_LEVELS_SECS: [u64; 18] = [
    1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200,
];

/// How long a message handed back for a retry stays invisible: the broker's level when the
/// handler named one (`delay_level` > 0), else Java's POP delay for its reconsume count.
pub fn retry_delay(delay_level: i32, reconsume_times: i32) -> Duration {
    let pick = |table: &[u64], i: usize| table[i.min(table.len() - 1)];
    let secs = if delay_level > 0 {
        pick(
            &BROKER_DELAY_LEVELS_SECS,
            usize::try_from(delay_level - 1).unwrap_or(0),
        )
    } else {
        pick(
            &POP_RETRY_DELAYS_SECS,
            usize::try_from(reconsume_times).unwrap_or(0),
        )
    };
    Duration::from_secs(secs)
}

/// Which kind of topic a popped message was read from (the fifth field of a handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicMark {
    /// The subscribed topic (`0`).
    Normal,
    /// The POP retry topic `%RETRY%<group>_<topic>` (`1`).
    Retry,
    /// The POP retry topic `%RETRY%<group>+<topic>` (`2`, 5.x `enableRetryTopicV2`).
    RetryV2,
}

impl TopicMark {
    /// The mark of a topic name as stored.
    pub fn of(topic: &str) -> TopicMark {
        match topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
            None => TopicMark::Normal,
            Some(rest) if rest.contains('+') => TopicMark::RetryV2,
            Some(_) => TopicMark::Retry,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            TopicMark::Normal => "0",
            TopicMark::Retry => "1",
            TopicMark::RetryV2 => "2",
        }
    }

    fn parse(s: &str) -> Option<TopicMark> {
        match s {
            "0" => Some(TopicMark::Normal),
            "1" => Some(TopicMark::Retry),
            "2" => Some(TopicMark::RetryV2),
            _ => None,
        }
    }
}

/// The POP retry topic of `topic` for `group` (`%RETRY%<group>_<topic>`, or with `+` for
/// v2): where the broker revives messages not acked in time.
pub fn pop_retry_topic(group: &str, topic: &str, mark: TopicMark) -> String {
    match mark {
        TopicMark::Normal => topic.to_owned(),
        TopicMark::Retry => format!("{RETRY_GROUP_TOPIC_PREFIX}{group}_{topic}"),
        TopicMark::RetryV2 => format!("{RETRY_GROUP_TOPIC_PREFIX}{group}+{topic}"),
    }
}

/// A popped message's receipt handle (Java's `extraInfo`, the `POP_CK` property): the
/// checkpoint it belongs to and where the message is. Acks and changes of invisible time name
/// the message by it; a change of invisible time replaces it ([`ReceiptHandle::renewed`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceiptHandle {
    /// The offset the pop started at in the message's queue (the checkpoint's offset).
    pub ck_offset: i64,
    /// The broker's time of the pop, ms.
    pub pop_time: i64,
    /// The invisible time of the checkpoint, ms.
    pub invisible_time: i64,
    /// The broker's revive queue of the checkpoint.
    pub revive_qid: i32,
    /// Whether the message came from a POP retry topic.
    pub mark: TopicMark,
    /// The broker it was popped from.
    pub broker_name: String,
    /// Its queue.
    pub queue_id: i32,
    /// Its queue offset.
    pub offset: i64,
    /// Fields after the eighth, kept as they came (a 5.x broker may add its retry policy's
    /// generation to the handle of a retried message).
    pub tail: Option<String>,
}

/// Why a receipt handle or a POP response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PopError {
    /// A receipt handle is not eight space-separated fields of the right types.
    #[error("malformed receipt handle {0:?}")]
    Handle(String),
    /// An offset-info header field is malformed.
    #[error("malformed {field} {value:?}")]
    OffsetInfo {
        /// The header key.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The broker answered an error code.
    #[error("broker answered {code}: {remark:?}")]
    Broker {
        /// The code.
        code: ResponseCode,
        /// The remark.
        remark: Option<String>,
    },
    /// The response header is malformed.
    #[error("bad POP response header: {0}")]
    Header(#[from] HeaderError),
    /// The body does not decode.
    #[error("bad POP response body: {0}")]
    Body(#[from] MessageError),
}

impl ReceiptHandle {
    /// Reads a handle (`ck popTime invisibleTime reviveQid mark broker queueId offset`,
    /// possibly followed by more fields).
    pub fn parse(s: &str) -> Result<ReceiptHandle, PopError> {
        let bad = || PopError::Handle(s.to_owned());
        let mut parts = s.splitn(9, ' ');
        let f: Vec<&str> = parts.by_ref().take(8).collect();
        if f.len() != 8 {
            return Err(bad());
        }
        let tail = parts.next().map(str::to_owned);
        if tail.as_deref() == Some("") {
            return Err(bad());
        }
        let int = |v: &str| v.parse::<i64>().map_err(|_| bad());
        Ok(ReceiptHandle {
            ck_offset: int(f[0])?,
            pop_time: int(f[1])?,
            invisible_time: int(f[2])?,
            revive_qid: f[3].parse().map_err(|_| bad())?,
            mark: TopicMark::parse(f[4]).ok_or_else(bad)?,
            broker_name: f[5].to_owned(),
            queue_id: f[6].parse().map_err(|_| bad())?,
            offset: int(f[7])?,
            tail,
        })
    }

    /// The topic the message is stored in, for its ack: `topic` itself or its POP retry
    /// topic for `group`.
    pub fn real_topic(&self, group: &str, topic: &str) -> String {
        pop_retry_topic(group, topic, self.mark)
    }

    /// The handle after a successful change of invisible time: the broker wrote a new
    /// checkpoint of this one message (so it starts at the message's offset) with the
    /// response's time, and acked the old one.
    pub fn renewed(&self, changed: &ChangeInvisibleTimeResponseHeader) -> ReceiptHandle {
        ReceiptHandle {
            ck_offset: self.offset,
            pop_time: changed.pop_time,
            invisible_time: changed.invisible_time,
            revive_qid: changed.revive_qid,
            tail: None,
            ..self.clone()
        }
    }

    /// Wall-clock ms at which the message becomes visible again.
    pub fn visible_at_ms(&self) -> i64 {
        self.pop_time.saturating_add(self.invisible_time)
    }
}

impl fmt::Display for ReceiptHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {} {}",
            self.ck_offset,
            self.pop_time,
            self.invisible_time,
            self.revive_qid,
            self.mark.as_str(),
            self.broker_name,
            self.queue_id,
            self.offset
        )?;
        match &self.tail {
            Some(tail) => write!(f, " {tail}"),
            None => Ok(()),
        }
    }
}

/// Everything one POP_MESSAGE request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopSpec<'a> {
    /// Consumer group.
    pub group: &'a str,
    /// The subscription of the topic popped.
    pub subscription: &'a Subscription,
    /// The broker popped from.
    pub broker_name: &'a str,
    /// One queue, or -1 for every queue of the topic on the broker. Orderly pops name their
    /// queue: a broker checks the attempt id per queue.
    pub queue_id: i32,
    /// The settings.
    pub config: &'a PopConfig,
    /// Orderly POP: the attempt id to send (the same one again after a pop that got no
    /// answer).
    pub attempt_id: Option<&'a str>,
    /// Start from the queue's beginning when the group has no position (else its end).
    pub from_first: bool,
    /// The client's wall clock, ms.
    pub born_ms: i64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The POP_MESSAGE request.
pub fn pop_request(spec: &PopSpec<'_>) -> RemotingCommand {
    let h = PopMessageRequestHeader {
        consumer_group: spec.group.to_owned(),
        topic: spec.subscription.topic().to_owned(),
        queue_id: spec.queue_id,
        max_msg_nums: i32::try_from(spec.config.batch_size.clamp(1, MAX_POP_BATCH)).unwrap_or(32),
        invisible_time: millis(spec.config.invisible_time),
        poll_time: millis(spec.config.poll_time),
        born_time: spec.born_ms,
        init_mode: if spec.from_first {
            INIT_MODE_MIN
        } else {
            INIT_MODE_MAX
        },
        exp_type: Some(spec.subscription.expression_type().as_str().to_owned()),
        exp: Some(spec.subscription.expression().to_owned()),
        order: Some(spec.attempt_id.is_some()),
        attempt_id: spec.attempt_id.map(str::to_owned),
        broker_name: Some(spec.broker_name.to_owned()),
    };
    header::request(RequestCode::PopMessage, &h)
}

/// A popped message and the handle that acks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Popped {
    /// The message; its topic is the subscribed one (also for a retry), `POP_CK` holds the
    /// handle.
    pub message: MessageExt,
    /// Its receipt handle.
    pub handle: ReceiptHandle,
}

/// What a POP response means.
#[derive(Debug, Clone, PartialEq)]
pub enum PopOutcome {
    /// Messages, each with its handle.
    Found(Vec<Popped>),
    /// Nothing to pop (the hold ended, or everything is invisible or blocked).
    NotFound,
    /// The broker refused or failed.
    Error(PopError),
}

type QueueKey = (TopicMark, i32);

/// An order count's place: a queue, or one offset of it.
type CountKey = (TopicMark, i32, Option<i64>);

fn parse_info<T>(
    field: &'static str,
    value: Option<&str>,
    mut read: impl FnMut(&str) -> Option<T>,
) -> Result<HashMap<QueueKey, T>, PopError> {
    let mut out = HashMap::new();
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(out);
    };
    let bad = || PopError::OffsetInfo {
        field,
        value: value.to_owned(),
    };
    for entry in value.split(';').filter(|e| !e.is_empty()) {
        let mut parts = entry.splitn(3, ' ');
        let (Some(mark), Some(qid), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let mark = TopicMark::parse(mark).ok_or_else(bad)?;
        let qid: i32 = qid.parse().map_err(|_| bad())?;
        out.insert((mark, qid), read(rest).ok_or_else(bad)?);
    }
    Ok(out)
}

/// Reads `orderCountInfo`: entries `mark qo<queueId>%<offset> count` (per message) and
/// `mark queueId count` (per queue), joined by `;`.
fn order_counts(value: Option<&str>) -> Result<HashMap<CountKey, i32>, PopError> {
    let mut out = HashMap::new();
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(out);
    };
    let bad = || PopError::OffsetInfo {
        field: "orderCountInfo",
        value: value.to_owned(),
    };
    for entry in value.split(';').filter(|e| !e.is_empty()) {
        let f: Vec<&str> = entry.split(' ').collect();
        let [mark, place, count] = f[..] else {
            return Err(bad());
        };
        let mark = TopicMark::parse(mark).ok_or_else(bad)?;
        let count: i32 = count.parse().map_err(|_| bad())?;
        let key = match place.strip_prefix("qo") {
            Some(rest) => {
                let (qid, off) = rest.split_once('%').ok_or_else(bad)?;
                (
                    mark,
                    qid.parse().map_err(|_| bad())?,
                    Some(off.parse().map_err(|_| bad())?),
                )
            }
            None => (mark, place.parse().map_err(|_| bad())?, None),
        };
        out.insert(key, count);
    }
    Ok(out)
}

/// Interprets a POP_MESSAGE response from `broker_name` for `topic` (as subscribed, with its
/// namespace): decodes the messages, gives each its receipt handle (`POP_CK`, unless the
/// broker set one) and `1ST_POP_TIME`, and the subscribed topic as its topic.
pub fn interpret_pop_response(
    response: &RemotingCommand,
    topic: &str,
    broker_name: &str,
) -> PopOutcome {
    match read_pop_response(response, topic, broker_name) {
        Ok(Some(found)) => PopOutcome::Found(found),
        Ok(None) => PopOutcome::NotFound,
        Err(e) => PopOutcome::Error(e),
    }
}

fn read_pop_response(
    response: &RemotingCommand,
    topic: &str,
    broker_name: &str,
) -> Result<Option<Vec<Popped>>, PopError> {
    match response.response_code() {
        ResponseCode::Success => {}
        ResponseCode::PollingTimeout | ResponseCode::PullNotFound => return Ok(None),
        code => {
            return Err(PopError::Broker {
                code,
                remark: response.remark.clone(),
            })
        }
    }
    let h: PopMessageResponseHeader = header::read(response)?;
    let messages = decode_messages(&response.body)?;
    if messages.is_empty() {
        return Ok(None);
    }
    let starts = parse_info("startOffsetInfo", h.start_offset_info.as_deref(), |v| {
        v.parse::<i64>().ok()
    })?;
    // `msgOffsetInfo` is not read: each record carries its offset, and brokers disagree on
    // its separators (rocketmq-rust 1.0.0 joins one queue's offsets with `;`).
    let counts = order_counts(h.order_count_info.as_deref())?;
    let mut out = Vec::with_capacity(messages.len());
    for mut m in messages {
        let handle = match m.message.property(keys::POP_CK) {
            Some(ck) => ReceiptHandle::parse(ck)?,
            None => {
                let key = (TopicMark::of(m.topic()), m.queue_id);
                let offset = m.queue_offset;
                let handle = ReceiptHandle {
                    ck_offset: starts.get(&key).copied().unwrap_or(offset),
                    pop_time: h.pop_time,
                    invisible_time: h.invisible_time,
                    revive_qid: h.revive_qid,
                    mark: key.0,
                    broker_name: broker_name.to_owned(),
                    queue_id: m.queue_id,
                    offset,
                    tail: None,
                };
                let _ = m.message.set_property(keys::POP_CK, handle.to_string());
                handle
            }
        };
        // Orderly: how often the broker handed this message out before.
        let count = counts
            .get(&(handle.mark, handle.queue_id, Some(handle.offset)))
            .or_else(|| counts.get(&(handle.mark, handle.queue_id, None)));
        if let Some(&count) = count.filter(|c| **c > 0) {
            m.reconsume_times = count;
        }
        if m.message.property(keys::FIRST_POP_TIME).is_none() {
            let _ = m
                .message
                .set_property(keys::FIRST_POP_TIME, h.pop_time.to_string());
        }
        m.message.topic = topic.to_owned();
        out.push(Popped { message: m, handle });
    }
    Ok(Some(out))
}

/// The ACK_MESSAGE request of a popped message of `topic` (as subscribed).
pub fn ack_request(group: &str, topic: &str, handle: &ReceiptHandle) -> RemotingCommand {
    let h = AckMessageRequestHeader {
        consumer_group: group.to_owned(),
        topic: handle.real_topic(group, topic),
        queue_id: handle.queue_id,
        extra_info: handle.to_string(),
        offset: handle.offset,
        broker_name: Some(handle.broker_name.clone()),
    };
    header::request(RequestCode::AckMessage, &h)
}

/// The CHANGE_MESSAGE_INVISIBLETIME request: the message becomes visible `invisible` from
/// now (a retry later, or a renewal while its handler runs).
pub fn change_invisible_request(
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
    invisible: Duration,
) -> RemotingCommand {
    let h = ChangeInvisibleTimeRequestHeader {
        consumer_group: group.to_owned(),
        topic: handle.real_topic(group, topic),
        queue_id: handle.queue_id,
        extra_info: handle.to_string(),
        offset: handle.offset,
        invisible_time: millis(invisible),
        broker_name: Some(handle.broker_name.clone()),
    };
    header::request(RequestCode::ChangeMessageInvisibleTime, &h)
}

/// Whether an ACK_MESSAGE succeeded. An ack the broker no longer knows (the message's
/// checkpoint is gone) cannot be done again: the message is popped again after its
/// invisible time.
pub fn ack_succeeded(response: &RemotingCommand) -> bool {
    response.response_code() == ResponseCode::Success
}

/// The new handle of a successful CHANGE_MESSAGE_INVISIBLETIME, or why it failed.
pub fn changed_handle(
    response: &RemotingCommand,
    old: &ReceiptHandle,
) -> Result<ReceiptHandle, PopError> {
    match response.response_code() {
        ResponseCode::Success => {
            let h: ChangeInvisibleTimeResponseHeader = header::read(response)?;
            Ok(old.renewed(&h))
        }
        code => Err(PopError::Broker {
            code,
            remark: response.remark.clone(),
        }),
    }
}

#[cfg(test)]
mod tests;
