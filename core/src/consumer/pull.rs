//! PULL_MESSAGE requests and responses (protocol §4.2, §4.3, §6.7).

use std::time::Duration;

use crate::body::MessageQueue;
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::header::{self, HeaderError, PullMessageRequestHeader, PullMessageResponseHeader};
use crate::message::{decode_messages, keys, sysflag, MessageError, MessageExt};

use super::config::ConsumerConfig;
use super::retry::reset_retry_topic;
use super::subscription::Subscription;

/// Everything one pull request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSpec<'a> {
    /// Consumer group.
    pub group: &'a str,
    /// The queue.
    pub queue: &'a MessageQueue,
    /// The offset to read from.
    pub offset: i64,
    /// The subscription of the queue's topic.
    pub subscription: &'a Subscription,
    /// The `subVersion` last sent in a heartbeat (never newer, see protocol §4.3).
    pub sub_version: i64,
    /// The in-memory committed offset to piggy-back (clustering only; ignored when ≤ 0).
    pub commit_offset: Option<i64>,
    /// Whether the target broker is a slave (the commit bit is then cleared).
    pub to_slave: bool,
    /// Send the expression with the pull (`postSubscriptionWhenPull`).
    pub post_subscription: bool,
    /// `maxMsgNums`.
    pub batch_size: u32,
    /// `maxMsgBytes`, if any.
    pub max_bytes: Option<u32>,
    /// Broker hold (long polling); `None` = no suspend flag.
    pub suspend: Option<Duration>,
    /// LITE_PULL_MESSAGE (361) instead of PULL_MESSAGE (11).
    pub lite: bool,
}

/// Builds the pull header: `sysFlag` = commit (clustering, offset > 0, not a slave) |
/// suspend | subscription (when posting; only then is the expression sent) | lite.
pub fn pull_header(spec: &PullSpec<'_>) -> PullMessageRequestHeader {
    let commit = spec.commit_offset.filter(|o| *o > 0);
    let mut flag = sysflag::build_pull_sys_flag(
        commit.is_some() && !spec.to_slave,
        spec.suspend.is_some(),
        spec.post_subscription,
        false,
    );
    if spec.lite {
        flag |= sysflag::PULL_LITE_PULL_MESSAGE;
    }
    PullMessageRequestHeader {
        consumer_group: spec.group.to_owned(),
        topic: spec.queue.topic.clone(),
        queue_id: spec.queue.queue_id,
        queue_offset: spec.offset,
        max_msg_nums: i32::try_from(spec.batch_size).unwrap_or(i32::MAX),
        sys_flag: flag,
        commit_offset: commit.unwrap_or(0),
        suspend_timeout_millis: spec
            .suspend
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0),
        subscription: spec
            .post_subscription
            .then(|| spec.subscription.expression().to_owned()),
        sub_version: spec.sub_version,
        expression_type: Some(spec.subscription.expression_type().as_str().to_owned()),
        max_msg_bytes: spec.max_bytes.map(|b| i32::try_from(b).unwrap_or(i32::MAX)),
        request_source: None,
        proxy_forward_client_id: None,
        broker_name: Some(spec.queue.broker_name.clone()),
    }
}

/// The pull request command.
pub fn pull_request(spec: &PullSpec<'_>) -> RemotingCommand {
    let code = if spec.lite {
        RequestCode::LitePullMessage
    } else {
        RequestCode::PullMessage
    };
    header::request(code, &pull_header(spec))
}

/// Why a pull failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The broker answered an error code.
    #[error("broker answered {code}: {remark:?}")]
    Broker {
        /// The code.
        code: ResponseCode,
        /// The remark.
        remark: Option<String>,
    },
    /// The response header is malformed.
    #[error("bad pull response header: {0}")]
    Header(#[from] HeaderError),
    /// The body does not decode.
    #[error("bad pull response body: {0}")]
    Body(#[from] MessageError),
    /// The broker named a negative next offset: nothing to move to (nor to commit).
    #[error("the broker named a negative next offset {0}")]
    NegativeOffset(i64),
}

/// What a pull response means for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullOutcome {
    /// Messages (already filtered and prepared); pull again from `next_offset` at once.
    Found {
        /// Messages that passed the tag re-check.
        messages: Vec<MessageExt>,
        /// Next offset to pull.
        next_offset: i64,
        /// Queue bounds.
        min_offset: i64,
        /// Queue bounds.
        max_offset: i64,
        /// Broker id to pull this queue from next.
        suggest_broker: i64,
    },
    /// Nothing new; pull again from `next_offset` at once.
    NoNewMsg {
        /// Next offset to pull.
        next_offset: i64,
        /// Broker id to pull this queue from next.
        suggest_broker: i64,
    },
    /// Nothing matched the filter; pull again from `next_offset` at once.
    NoMatched {
        /// Next offset to pull.
        next_offset: i64,
        /// Broker id to pull this queue from next.
        suggest_broker: i64,
    },
    /// The requested offset is invalid: drain the queue, store `next_offset`, rebalance.
    OffsetIllegal {
        /// The offset to store.
        next_offset: i64,
    },
    /// Failed; pull again after `retry_after`.
    Error {
        /// Why.
        error: PullError,
        /// Java's delay: 20 ms after FLOW_CONTROL, 3000 ms otherwise.
        retry_after: Duration,
    },
}

/// The delay before re-pulling after a failure: the broker-flow-control delay for
/// FLOW_CONTROL (215), the error delay for anything else (transport failures included).
pub fn error_delay(code: Option<ResponseCode>, config: &ConsumerConfig) -> Duration {
    match code {
        Some(ResponseCode::FlowControl) => config.delay_after_broker_flow_control,
        _ => config.delay_after_error,
    }
}

/// Interprets a pull response. FOUND bodies are decoded (inner batches unwrapped), re-checked
/// against `subscription`'s tags, given `MIN_OFFSET`/`MAX_OFFSET` properties, and messages of
/// `%RETRY%<group>` get their original topic back.
pub fn interpret_pull_response(
    response: &RemotingCommand,
    group: &str,
    subscription: &Subscription,
    config: &ConsumerConfig,
) -> PullOutcome {
    let code = response.response_code();
    let fail = |error: PullError| PullOutcome::Error {
        error,
        retry_after: error_delay(Some(code), config),
    };
    if !matches!(
        code,
        ResponseCode::Success
            | ResponseCode::PullNotFound
            | ResponseCode::PullRetryImmediately
            | ResponseCode::PullOffsetMoved
    ) {
        return fail(PullError::Broker {
            code,
            remark: response.remark.clone(),
        });
    }
    let h: PullMessageResponseHeader = match header::read(response) {
        Ok(h) => h,
        Err(e) => return fail(e.into()),
    };
    let (next_offset, suggest_broker) = (h.next_begin_offset, h.suggest_which_broker_id);
    if next_offset < 0 {
        return fail(PullError::NegativeOffset(next_offset));
    }
    match code {
        ResponseCode::PullNotFound => PullOutcome::NoNewMsg {
            next_offset,
            suggest_broker,
        },
        ResponseCode::PullRetryImmediately => PullOutcome::NoMatched {
            next_offset,
            suggest_broker,
        },
        ResponseCode::PullOffsetMoved => PullOutcome::OffsetIllegal { next_offset },
        _ => match found_messages(response, group, subscription, &h) {
            Ok(messages) => PullOutcome::Found {
                messages,
                next_offset,
                min_offset: h.min_offset,
                max_offset: h.max_offset,
                suggest_broker,
            },
            Err(e) => fail(e.into()),
        },
    }
}

fn found_messages(
    response: &RemotingCommand,
    group: &str,
    subscription: &Subscription,
    h: &PullMessageResponseHeader,
) -> Result<Vec<MessageExt>, MessageError> {
    let mut out = Vec::new();
    for m in decode_messages(&response.body)? {
        if m.is_inner_batch() {
            out.extend(m.unwrap_inner_batch()?);
        } else {
            out.push(m);
        }
    }
    out.retain(|m| subscription.matches(m));
    let (min, max) = (h.min_offset.to_string(), h.max_offset.to_string());
    for m in &mut out {
        // Decimal numbers are always valid property values.
        let _ = m.message.set_property(keys::MIN_OFFSET, min.as_str());
        let _ = m.message.set_property(keys::MAX_OFFSET, max.as_str());
        reset_retry_topic(m, group);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::CommandHeader;
    use crate::message::{encode_stored, Message};
    use bytes::BytesMut;

    fn spec<'a>(mq: &'a MessageQueue, sub: &'a Subscription) -> PullSpec<'a> {
        PullSpec {
            group: "cg",
            queue: mq,
            offset: 100,
            subscription: sub,
            sub_version: 7,
            commit_offset: Some(90),
            to_slave: false,
            post_subscription: false,
            batch_size: 32,
            max_bytes: None,
            suspend: Some(Duration::from_secs(15)),
            lite: false,
        }
    }

    #[test]
    fn sys_flag_bits() {
        let mq = MessageQueue::new("T", "b", 1);
        let sub = Subscription::tag("T", "TagA").unwrap();
        let mut s = spec(&mq, &sub);
        let h = pull_header(&s);
        assert_eq!(h.sys_flag, 0x3);
        assert_eq!(h.commit_offset, 90);
        assert_eq!(h.suspend_timeout_millis, 15_000);
        assert_eq!(
            h.subscription, None,
            "only posted with the subscription flag"
        );
        assert_eq!(h.expression_type.as_deref(), Some("TAG"));
        s.to_slave = true;
        assert_eq!(pull_header(&s).sys_flag, 0x2);
        s.to_slave = false;
        s.commit_offset = Some(0);
        s.post_subscription = true;
        let h = pull_header(&s);
        assert_eq!((h.sys_flag, h.commit_offset), (0x6, 0));
        assert_eq!(h.subscription.as_deref(), Some("TagA"));
        s.lite = true;
        s.suspend = None;
        let cmd = pull_request(&s);
        assert_eq!(cmd.code, 361);
        let h = PullMessageRequestHeader::read_fields(&cmd.ext_fields).unwrap();
        assert_eq!(h.sys_flag, 0x14);
        assert_eq!(h.broker_name.as_deref(), Some("b"));
    }

    fn response(code: ResponseCode, body: &[MessageExt]) -> RemotingCommand {
        let mut buf = BytesMut::new();
        for m in body {
            buf.extend_from_slice(&encode_stored(m).unwrap());
        }
        let req = RemotingCommand::request(RequestCode::PullMessage);
        let h = PullMessageResponseHeader {
            suggest_which_broker_id: 1,
            next_begin_offset: 132,
            min_offset: 0,
            max_offset: 500,
            ..PullMessageResponseHeader::default()
        };
        let mut r = RemotingCommand::response_to(&req, code).with_body(buf.freeze());
        h.write_fields(&mut r.ext_fields);
        r
    }

    fn ext(topic: &str, tag: &str, offset: i64) -> MessageExt {
        let mut m = Message::new(topic, &b"x"[..]);
        m.set_tags(tag).unwrap();
        let mut e = MessageExt::from_message(m);
        e.queue_offset = offset;
        e
    }

    #[test]
    fn found_is_filtered_and_annotated() {
        let sub = Subscription::tag("T", "TagA").unwrap();
        let cfg = ConsumerConfig::default();
        let r = response(
            ResponseCode::Success,
            &[ext("T", "TagA", 100), ext("T", "TagB", 101)],
        );
        match interpret_pull_response(&r, "cg", &sub, &cfg) {
            PullOutcome::Found {
                messages,
                next_offset,
                suggest_broker,
                ..
            } => {
                assert_eq!(next_offset, 132);
                assert_eq!(suggest_broker, 1);
                assert_eq!(messages.len(), 1);
                assert_eq!(messages[0].queue_offset, 100);
                assert_eq!(messages[0].message.property(keys::MAX_OFFSET), Some("500"));
                assert_eq!(messages[0].message.property(keys::MIN_OFFSET), Some("0"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_topic_restored() {
        let sub = Subscription::retry("cg");
        let mut m = ext("%RETRY%cg", "x", 0);
        m.message.set_property(keys::RETRY_TOPIC, "T").unwrap();
        let r = response(ResponseCode::Success, &[m]);
        let PullOutcome::Found { messages, .. } =
            interpret_pull_response(&r, "cg", &sub, &ConsumerConfig::default())
        else {
            panic!("not found");
        };
        assert_eq!(messages[0].topic(), "T");
    }

    #[test]
    fn statuses_and_errors() {
        let sub = Subscription::tag("T", "*").unwrap();
        let cfg = ConsumerConfig::default();
        let run = |code| interpret_pull_response(&response(code, &[]), "cg", &sub, &cfg);
        assert_eq!(
            run(ResponseCode::PullNotFound),
            PullOutcome::NoNewMsg {
                next_offset: 132,
                suggest_broker: 1
            }
        );
        assert_eq!(
            run(ResponseCode::PullRetryImmediately),
            PullOutcome::NoMatched {
                next_offset: 132,
                suggest_broker: 1
            }
        );
        assert_eq!(
            run(ResponseCode::PullOffsetMoved),
            PullOutcome::OffsetIllegal { next_offset: 132 }
        );
        assert!(matches!(
            run(ResponseCode::Success),
            PullOutcome::Found { ref messages, .. } if messages.is_empty()
        ));
        assert!(matches!(
            run(ResponseCode::FlowControl),
            PullOutcome::Error { retry_after, .. } if retry_after == Duration::from_millis(20)
        ));
        assert!(matches!(
            run(ResponseCode::SystemError),
            PullOutcome::Error { retry_after, .. } if retry_after == Duration::from_millis(3000)
        ));
        let mut bad = response(ResponseCode::Success, &[]);
        bad.body = bytes::Bytes::from_static(b"\x00\x00\x00\x50garbage");
        assert!(matches!(
            interpret_pull_response(&bad, "cg", &sub, &cfg),
            PullOutcome::Error {
                error: PullError::Body(_),
                ..
            }
        ));
        bad.ext_fields.remove("nextBeginOffset");
        assert!(matches!(
            interpret_pull_response(&bad, "cg", &sub, &cfg),
            PullOutcome::Error {
                error: PullError::Header(_),
                ..
            }
        ));
    }
}
