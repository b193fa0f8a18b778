//! Message trace inside the client: producers and consumers whose config names a trace
//! topic get `Pub`, `SubBefore` and `SubAfter` records ([`crate::trace`]), gathered per
//! trace topic and sent in batches by an internal producer of the client, asynchronously.
//! A trace never delays or fails what it traces: its sends' results are dropped, and when
//! too many trace sends are out a batch is dropped rather than queued.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{ClientCore, ConsumeOutcome, ConsumerId, DeliveryId, Event, OpId, ProducerId};
use super::{SendMode, SendTarget};
use crate::message::{keys, Message, MessageExt, OffsetMessageId};
use crate::producer::{ProducerConfig, QueueSelector, SendResult, SendStatus};
use crate::trace::{TraceMessageType, TraceRecord, DEFAULT_REGION};

/// A batch is sent at most this long after its first record.
const FLUSH_DELAY: Duration = Duration::from_millis(500);
/// A batch is sent once it holds this many records ...
const MAX_RECORDS: usize = 100;
/// ... or this many bytes (Java's trace `maxMsgSize` is 128 KiB).
const MAX_BYTES: usize = 120 * 1024;
/// Trace sends out at once; a batch beyond is dropped.
const MAX_TRACE_SENDS: usize = 64;

/// A send being traced.
#[derive(Debug)]
struct PubStart {
    trace_topic: String,
    group: String,
    topic: String,
    tags: String,
    keys: String,
    body_len: usize,
    message_type: TraceMessageType,
    wall_ms: i64,
    started: Instant,
}

/// A delivery being traced.
#[derive(Debug)]
struct SubStart {
    trace_topic: String,
    request_id: String,
    /// Message id and keys of each message.
    messages: Vec<(String, String)>,
    started: Instant,
}

/// The records waiting for one trace topic.
#[derive(Debug)]
struct Batch {
    body: String,
    keys: BTreeSet<String>,
    records: usize,
    since: Instant,
}

/// What the client traces and the records not sent yet.
#[derive(Debug, Default)]
pub(super) struct Tracing {
    producers: HashMap<ProducerId, String>,
    consumers: HashMap<ConsumerId, (String, String)>,
    sends: HashMap<OpId, PubStart>,
    deliveries: HashMap<DeliveryId, SubStart>,
    batches: BTreeMap<String, Batch>,
    /// The client's trace producer, once needed.
    producer: Option<ProducerId>,
    /// Trace sends out (their results are dropped).
    trace_sends: HashSet<OpId>,
    /// Records dropped because too many trace sends were out.
    dropped: u64,
}

impl Tracing {
    /// When the oldest batch is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.batches.values().map(|b| b.since + FLUSH_DELAY).min()
    }

    fn add(&mut self, now: Instant, trace_topic: &str, record: &TraceRecord) {
        let batch = self
            .batches
            .entry(trace_topic.to_owned())
            .or_insert_with(|| Batch {
                body: String::new(),
                keys: BTreeSet::new(),
                records: 0,
                since: now,
            });
        record.encode_into(&mut batch.body);
        batch.keys.extend(record.keys().map(str::to_owned));
        batch.records += 1;
    }
}

fn message_type(message: &Message) -> TraceMessageType {
    if message.property(keys::TRANSACTION_PREPARED) == Some("true") {
        TraceMessageType::TransactionHalf
    } else if message.property(keys::DELAY_TIME_LEVEL).is_some()
        || message.property(keys::TIMER_DELIVER_MS).is_some()
        || message.property(keys::TIMER_DELAY_MS).is_some()
    {
        TraceMessageType::Delay
    } else {
        TraceMessageType::Normal
    }
}

impl ClientCore {
    /// Starts tracing a producer or consumer whose config asks for it.
    pub(super) fn trace_producer(&mut self, id: ProducerId, config: &ProducerConfig) {
        if let Some(topic) = &config.trace_topic {
            self.traces.producers.insert(id, topic.clone());
        }
    }

    pub(super) fn trace_consumer(&mut self, id: ConsumerId, group: &str, topic: Option<&str>) {
        if let Some(topic) = topic {
            let group = self.config.namespace.unwrap(group);
            self.traces.consumers.insert(id, (topic.to_owned(), group));
        }
    }

    /// A send of a traced producer began.
    pub(super) fn trace_send(
        &mut self,
        now: Instant,
        producer: ProducerId,
        op: OpId,
        message: &Message,
    ) {
        let Some(trace_topic) = self.traces.producers.get(&producer).cloned() else {
            return;
        };
        let group = self.producer_group(producer).unwrap_or_default();
        let start = PubStart {
            trace_topic,
            group: self.config.namespace.unwrap(&group),
            topic: self.config.namespace.unwrap(&message.topic),
            tags: message.tags().unwrap_or_default().to_owned(),
            keys: message.keys().unwrap_or_default().to_owned(),
            body_len: message.body.len(),
            message_type: message_type(message),
            wall_ms: self.wall.now_millis(),
            started: now,
        };
        self.traces.sends.insert(op, start);
    }

    /// Looks at an event on its way out: records what is traced, and drops the results of
    /// trace sends (`None`).
    pub(super) fn trace_event(&mut self, now: Instant, event: Event) -> Option<Event> {
        match &event {
            Event::Send { op, .. } if self.traces.trace_sends.remove(op) => return None,
            Event::Send { op, result } => {
                if let Some(start) = self.traces.sends.remove(op) {
                    self.record_pub(now, start, result.as_ref().ok());
                }
            }
            Event::Deliver {
                consumer,
                delivery,
                messages,
                ..
            } => self.record_sub_before(now, *consumer, *delivery, messages),
            _ => {}
        }
        Some(event)
    }

    fn record_pub(&mut self, now: Instant, start: PubStart, result: Option<&SendResult>) {
        let cost = now.saturating_duration_since(start.started);
        let (msg_id, offset_msg_id, region, store_host, success) = match result {
            Some(r) => (
                r.msg_id.clone(),
                r.offset_msg_id.clone(),
                r.region_id.clone(),
                OffsetMessageId::parse(&r.offset_msg_id)
                    .map(|id| id.addr.to_string())
                    .unwrap_or_default(),
                r.status == SendStatus::SendOk,
            ),
            None => Default::default(),
        };
        let record = TraceRecord::Pub {
            timestamp: start.wall_ms,
            region: if region.is_empty() {
                DEFAULT_REGION.to_owned()
            } else {
                region
            },
            group: start.group,
            topic: start.topic,
            msg_id,
            tags: start.tags,
            keys: start.keys,
            store_host,
            body_len: start.body_len,
            cost_ms: u64::try_from(cost.as_millis()).unwrap_or(u64::MAX),
            message_type: start.message_type,
            offset_msg_id,
            success,
        };
        self.traces.add(now, &start.trace_topic, &record);
    }

    fn record_sub_before(
        &mut self,
        now: Instant,
        consumer: ConsumerId,
        delivery: DeliveryId,
        messages: &[MessageExt],
    ) {
        let Some((trace_topic, group)) = self.traces.consumers.get(&consumer).cloned() else {
            return;
        };
        let request_id = format!("{:016X}{:016X}", self.rng.next_u64(), self.rng.next_u64());
        let wall_ms = self.wall.now_millis();
        let mut traced = Vec::with_capacity(messages.len());
        for m in messages {
            let keys = m.message.keys().unwrap_or_default().to_owned();
            let record = TraceRecord::SubBefore {
                timestamp: wall_ms,
                region: m
                    .message
                    .property(keys::MSG_REGION)
                    .unwrap_or(DEFAULT_REGION)
                    .to_owned(),
                group: group.clone(),
                request_id: request_id.clone(),
                msg_id: m.msg_id().to_owned(),
                retry_times: m.reconsume_times,
                keys: keys.clone(),
            };
            self.traces.add(now, &trace_topic, &record);
            traced.push((m.msg_id().to_owned(), keys));
        }
        let start = SubStart {
            trace_topic,
            request_id,
            messages: traced,
            started: now,
        };
        self.traces.deliveries.insert(delivery, start);
    }

    /// A traced delivery was settled (an abandoned one is not: it was neither consumed nor
    /// failed).
    pub(super) fn trace_ack(
        &mut self,
        now: Instant,
        delivery: DeliveryId,
        outcome: &ConsumeOutcome,
    ) {
        let Some(start) = self.traces.deliveries.remove(&delivery) else {
            return;
        };
        if *outcome == ConsumeOutcome::Abandon {
            return;
        }
        let success = *outcome == ConsumeOutcome::Success;
        let n = u32::try_from(start.messages.len().max(1)).unwrap_or(u32::MAX);
        let cost = now.saturating_duration_since(start.started) / n;
        let wall_ms = self.wall.now_millis();
        for (msg_id, keys) in start.messages {
            let record = TraceRecord::SubAfter {
                request_id: start.request_id.clone(),
                msg_id,
                cost_ms: u64::try_from(cost.as_millis()).unwrap_or(u64::MAX),
                success,
                keys,
                context_code: if success { 0 } else { 4 },
                timestamp: wall_ms,
            };
            self.traces.add(now, &start.trace_topic, &record);
        }
    }

    /// Whether `producer` is the client's own trace producer.
    pub(super) fn is_trace_producer(&self, producer: ProducerId) -> bool {
        self.traces.producer == Some(producer)
    }

    /// The end of tracing in a graceful shutdown, once every consumer and every producer of
    /// the user has closed: every batch is sent, due or not, and the trace producer closes,
    /// which waits for its sends (as Java's trace dispatcher flushes at shutdown). Called
    /// again, it finds nothing to do.
    pub(super) fn finish_traces(&mut self, now: Instant) {
        self.send_trace_batches(now, true);
        if let Some(producer) = self.traces.producer {
            // Refused once it is closing or closed.
            let _ = self.close_producer(now, producer);
        }
    }

    /// Sends the batches that are full or due; `true` when it sent (or dropped) any.
    pub(super) fn flush_traces(&mut self, now: Instant) -> bool {
        self.send_trace_batches(now, false)
    }

    /// Sends the batches that are full or due, or every batch (`all`); `true` when it sent
    /// (or dropped) any.
    fn send_trace_batches(&mut self, now: Instant, all: bool) -> bool {
        if self.traces.batches.is_empty() {
            return false;
        }
        if self.closing {
            // Nothing can send them now.
            let records: usize = self.traces.batches.values().map(|b| b.records).sum();
            tracing::debug!(dropped = records, "client closed; trace records dropped");
            self.traces.dropped += records as u64;
            self.traces.batches.clear();
            return false;
        }
        let due: Vec<String> = self
            .traces
            .batches
            .iter()
            .filter(|(_, b)| {
                all || b.records >= MAX_RECORDS
                    || b.body.len() >= MAX_BYTES
                    || b.since + FLUSH_DELAY <= now
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        let flushed = !due.is_empty();
        for topic in due {
            let Some(batch) = self.traces.batches.remove(&topic) else {
                continue;
            };
            if self.traces.trace_sends.len() >= MAX_TRACE_SENDS {
                self.traces.dropped += batch.records as u64;
                tracing::debug!(
                    dropped = batch.records,
                    "trace sends backed up; records dropped"
                );
                continue;
            }
            let producer = match self.traces.producer {
                Some(p) => p,
                None => {
                    let config = ProducerConfig::builder("_INNER_TRACE_PRODUCER-rocketwire")
                        .build()
                        .unwrap_or_default();
                    let p = self.create_producer(now, config, QueueSelector::RoundRobin);
                    self.traces.producer = Some(p);
                    p
                }
            };
            let mut message = Message::new(topic, batch.body);
            let keys: Vec<&str> = batch.keys.iter().map(String::as_str).collect();
            if message.set_keys(keys).is_err() {
                let _ = message.set_keys(std::iter::empty::<&str>());
            }
            match self.send(now, producer, message, SendTarget::Default, SendMode::Async) {
                Ok(op) => {
                    self.traces.trace_sends.insert(op);
                }
                Err(misuse) => tracing::debug!(%misuse, "trace batch not sent"),
            }
        }
        flushed
    }
}
