//! The puller floor: what the broker allows a consumer with no client logic at all. A minimal
//! pipelined puller built only from the core's codec over one blocking socket: one
//! PULL_MESSAGE outstanding per queue of the drain topic, every queue from offset 0, each
//! answer decoded (its messages counted, `nextBeginOffset` taken from its header) and that
//! queue's next pull written at once, until the topic's messages are all counted. No routing,
//! offset store, rebalance, process queues, flow control, timers or tasks. Every drain figure
//! is then reported as a share of this one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rocketwire_core::body::MessageQueue;
use rocketwire_core::codec::{RemotingCommand, RequestCode, ResponseCode};
use rocketwire_core::consumer::ConsumerConfig;
use rocketwire_core::header::{self, PullMessageRequestHeader, PullMessageResponseHeader};
use rocketwire_core::message::{decode_messages, sysflag, MessageExt};

use crate::adapter::{self, Target};
use crate::measure;
use crate::report::DrainResult;
use crate::socket::FrameSocket;

/// The queues of `topic` and the address of the one broker that serves them, from its route
/// (the only part done with a rocketwire client).
fn prepare(target: &Target, topic: &str) -> Result<(Vec<MessageQueue>, String), String> {
    let client = adapter::start_blocking_client(target)?;
    let route = client
        .query_route(topic)
        .map_err(|e| format!("no route for {topic}: {e}"))?;
    client
        .shutdown(Duration::from_secs(5))
        .map_err(|e| format!("client shutdown: {e}"))?;
    let queues = route.subscribe_queues(topic);
    let Some(first) = queues.first() else {
        return Err(format!("the route of {topic} names no readable queue"));
    };
    let broker = first.broker_name.clone();
    if queues.iter().any(|q| q.broker_name != broker) {
        return Err(format!(
            "{topic} lives on more than one broker; the pull floor reads one socket"
        ));
    }
    let addr = route
        .master_addr(&broker)
        .ok_or_else(|| format!("the route names no master of {broker}"))?
        .to_owned();
    Ok((queues, addr))
}

/// A PULL_MESSAGE of `queue` from `offset`: `maxMsgNums` and `maxMsgBytes` as a push consumer
/// asks by default, the subscription (`*`) posted with it, no commit, no suspend (the data is
/// there).
fn pull_request(
    group: &str,
    queue: &MessageQueue,
    offset: i64,
    config: &ConsumerConfig,
) -> RemotingCommand {
    let header = PullMessageRequestHeader {
        consumer_group: group.to_owned(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        queue_offset: offset,
        max_msg_nums: i32::try_from(config.pull_batch_size).unwrap_or(i32::MAX),
        sys_flag: sysflag::build_pull_sys_flag(false, false, true, false),
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".to_owned()),
        sub_version: 0,
        expression_type: Some("TAG".to_owned()),
        max_msg_bytes: Some(i32::try_from(config.pull_batch_size_in_bytes).unwrap_or(i32::MAX)),
        broker_name: Some(queue.broker_name.clone()),
        ..PullMessageRequestHeader::default()
    };
    header::request(RequestCode::PullMessage, &header)
}

/// What one pull answer means for its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `messages` found (`bad` of them not 1 KiB); pull again from `next` unless it is the
    /// end of the queue.
    Found {
        messages: u64,
        bad: u64,
        next: i64,
        end: bool,
    },
    /// Nothing left in the queue.
    End,
    /// Nothing matched; pull again from `next`.
    Again { next: i64 },
}

/// Decodes one pull answer: its code, its header, and the messages of its body (inner batches
/// unwrapped) counted.
fn read_answer(response: &RemotingCommand) -> Result<Answer, String> {
    let code = response.response_code();
    let head = || -> Result<PullMessageResponseHeader, String> {
        header::read(response).map_err(|e| format!("bad pull answer header: {e}"))
    };
    match code {
        ResponseCode::Success => {
            let h = head()?;
            let mut messages = 0u64;
            let mut bad = 0u64;
            let mut count = |m: &MessageExt| {
                messages += 1;
                bad += u64::from(m.body().len() != adapter::BODY_LEN);
            };
            for m in decode_messages(&response.body).map_err(|e| format!("bad pull body: {e}"))? {
                if m.is_inner_batch() {
                    let inner = m
                        .unwrap_inner_batch()
                        .map_err(|e| format!("bad inner batch: {e}"))?;
                    inner.iter().for_each(&mut count);
                } else {
                    count(&m);
                }
            }
            Ok(Answer::Found {
                messages,
                bad,
                next: h.next_begin_offset,
                end: h.next_begin_offset >= h.max_offset,
            })
        }
        ResponseCode::PullNotFound | ResponseCode::PullOffsetMoved => Ok(Answer::End),
        ResponseCode::PullRetryImmediately => Ok(Answer::Again {
            next: head()?.next_begin_offset,
        }),
        other => Err(format!(
            "the broker answered a pull with {other:?}: {:?}",
            response.remark
        )),
    }
}

/// The pipelined puller on one socket.
struct Puller {
    socket: FrameSocket,
    group: String,
    config: ConsumerConfig,
    queues: Vec<MessageQueue>,
    /// The queue (index) of each pull out, by opaque.
    out: HashMap<i32, usize>,
}

impl Puller {
    /// Writes the pull of queue `index` from `offset`.
    fn pull(&mut self, index: usize, offset: i64) -> Result<(), String> {
        let command = pull_request(&self.group, &self.queues[index], offset, &self.config);
        let opaque = self.socket.write(command)?;
        self.out.insert(opaque, index);
        Ok(())
    }

    /// Reads until one answer is whole; its queue (index) and what it means.
    fn answer(&mut self) -> Result<(usize, Answer), String> {
        let response = self.socket.read()?;
        let index = self
            .out
            .remove(&response.opaque)
            .ok_or_else(|| format!("an answer to no request: {}", response.opaque))?;
        Ok((index, read_answer(&response)?))
    }
}

/// Pulls every queue of the filled `topic` until `messages` are counted (or `timeout` runs
/// out); the figures as a drain case of adapter `wire`, method `pull`, timed from the first
/// pull written.
pub(crate) fn run(
    target: &Target,
    topic: &str,
    messages: u64,
    timeout: Duration,
) -> Result<DrainResult, String> {
    let (queues, addr) = prepare(target, topic)?;
    let mut puller = Puller {
        socket: FrameSocket::connect(&addr, target.serialize, Some(timeout), 256 * 1024)?,
        group: adapter::unique("rw_bench_pull_floor"),
        config: ConsumerConfig::default(),
        queues,
        out: HashMap::new(),
    };
    let cpu_started = measure::cpu_time();
    let started = Instant::now();
    let give_up = started + timeout;
    for index in 0..puller.queues.len() {
        puller.pull(index, 0)?;
    }
    let (mut count, mut bad) = (0u64, 0u64);
    let mut first = None;
    while count < messages && !puller.out.is_empty() {
        if Instant::now() > give_up {
            return Err(format!(
                "pulled {count} of {messages} messages in {timeout:?}"
            ));
        }
        let (index, answer) = puller.answer()?;
        match answer {
            Answer::Found {
                messages: n,
                bad: b,
                next,
                end,
            } => {
                first.get_or_insert_with(Instant::now);
                count += n;
                bad += b;
                if !end {
                    puller.pull(index, next)?;
                }
            }
            Answer::Again { next } => puller.pull(index, next)?,
            Answer::End => {}
        }
    }
    let wall = started.elapsed();
    let cpu = measure::cpu_time().saturating_sub(cpu_started);
    if bad > 0 {
        return Err(format!("{bad} messages had a body other than 1 KiB"));
    }
    if count < messages {
        return Err(format!(
            "every queue ran out after {count} of {messages} messages"
        ));
    }
    Ok(DrainResult {
        adapter: "wire".to_owned(),
        method: "pull".to_owned(),
        messages: count,
        first: first.map_or(wall, |f| f.saturating_duration_since(started)),
        wall,
        cpu,
        peak_rss_kib: measure::peak_rss_kib().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use rocketwire_core::header::CommandHeader;
    use rocketwire_core::message::{encode_stored, Message};

    fn ext(len: usize) -> MessageExt {
        MessageExt::from_message(Message::new("T", vec![0u8; len]))
    }

    fn queue() -> MessageQueue {
        MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: 3,
        }
    }

    #[test]
    fn pulls_as_a_push_consumer_without_commit_or_suspend() {
        let cmd = pull_request("g", &queue(), 64, &ConsumerConfig::default());
        assert_eq!(cmd.code, 11);
        let h = PullMessageRequestHeader::read_fields(&cmd.ext_fields).unwrap();
        assert_eq!((h.queue_id, h.queue_offset, h.max_msg_nums), (3, 64, 32));
        assert_eq!(h.sys_flag, sysflag::PULL_SUBSCRIPTION);
        assert_eq!(h.subscription.as_deref(), Some("*"));
        assert_eq!(h.broker_name.as_deref(), Some("b"));
    }

    fn found(bodies: &[usize], next: i64, max: i64) -> RemotingCommand {
        let mut body = BytesMut::new();
        for &len in bodies {
            body.extend_from_slice(&encode_stored(&ext(len)).unwrap());
        }
        let h = PullMessageResponseHeader {
            next_begin_offset: next,
            max_offset: max,
            ..PullMessageResponseHeader::default()
        };
        let mut cmd = RemotingCommand::response_to(
            &RemotingCommand::request(RequestCode::PullMessage),
            ResponseCode::Success,
        );
        h.write_fields(&mut cmd.ext_fields);
        cmd.with_body(Bytes::from(body))
    }

    #[test]
    fn answers_count_messages_and_find_the_queue_end() {
        let answer = read_answer(&found(&[adapter::BODY_LEN, adapter::BODY_LEN, 7], 3, 10));
        assert_eq!(
            answer,
            Ok(Answer::Found {
                messages: 3,
                bad: 1,
                next: 3,
                end: false
            })
        );
        let last = read_answer(&found(&[adapter::BODY_LEN], 10, 10));
        assert!(matches!(last, Ok(Answer::Found { end: true, .. })));
        let none = RemotingCommand::response_to(
            &RemotingCommand::request(RequestCode::PullMessage),
            ResponseCode::PullNotFound,
        );
        assert_eq!(read_answer(&none), Ok(Answer::End));
        let busy = RemotingCommand::response_to(
            &RemotingCommand::request(RequestCode::PullMessage),
            ResponseCode::SystemBusy,
        );
        assert!(read_answer(&busy).is_err());
    }
}
