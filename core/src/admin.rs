//! Admin and query requests (Java `MQAdminExt`'s wire side): pure builders of the request
//! commands and typed readers of their answers. Which namesrv or broker gets each request,
//! and how several brokers' answers combine, is the caller's (the shared driver's `Admin`).
//!
//! | ask | request | to | answer |
//! |---|---|---|---|
//! | the cluster's brokers | [`cluster_info`] | namesrv | [`ClusterInfo`] |
//! | every topic | [`topic_list`] | namesrv | [`TopicList`] |
//! | create or update a topic | [`create_topic`] | each broker master | [`check`] |
//! | a queue's min / max offset | [`min_offset`], [`max_offset`] | the queue's broker | [`read_offset`] |
//! | the offset of a store time | [`search_offset`] | the queue's broker | [`read_offset`] |
//! | a group's offsets and lag | [`consume_stats`] | each broker of the topic | [`ConsumeStats`] |
//! | a group's connections | [`consumer_connections`] | a broker | [`ConsumerConnection`] |
//! | a consumer's running info | [`consumer_running_info`] | a broker (forwards it) | [`ConsumerRunningInfo`] |
//! | messages by key or unique key | [`query_message`] | each broker of the topic | [`read_messages`] |
//! | a message by offset message id | [`view_message`] | the broker in the id | [`read_messages`] |
//!
//! [`ClusterInfo`]: crate::body::ClusterInfo
//! [`TopicList`]: crate::body::TopicList
//! [`ConsumeStats`]: crate::body::ConsumeStats
//! [`ConsumerConnection`]: crate::body::ConsumerConnection
//! [`ConsumerRunningInfo`]: crate::body::ConsumerRunningInfo

use crate::body::{perm, BodyError, MessageQueue};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::header::{
    self, CreateTopicRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetConsumerRunningInfoRequestHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, HeaderError, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, QueryMessageRequestHeader, SearchOffsetRequestHeader,
    ViewMessageRequestHeader, DEFAULT_TOPIC,
};
use crate::message::{decode_messages, MessageError, MessageExt, OffsetMessageId};

/// Why an admin request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The namesrv or broker answered with an error code.
    #[error("{code:?}: {remark}")]
    Rejected {
        /// The response code.
        code: ResponseCode,
        /// Its remark.
        remark: String,
    },
    /// The answer's header is not as documented.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The answer's body is not as documented.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The answer's messages could not be decoded (or an id could not be parsed).
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// A topic to create or update on a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic.
    pub topic: String,
    /// Queues consumers read (default 8).
    pub read_queue_nums: i32,
    /// Queues producers write (default 8).
    pub write_queue_nums: i32,
    /// 2 writable, 4 readable: both by default (see [`perm`]).
    pub perm: i32,
    /// An ordered topic.
    pub order: bool,
}

impl TopicConfig {
    /// `topic` with 8 read and write queues, readable and writable, not ordered (Java's
    /// `TopicConfig` defaults for an admin-created topic).
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: perm::READ | perm::WRITE,
            order: false,
        }
    }

    /// With `n` read and write queues.
    pub fn queues(mut self, n: i32) -> Self {
        self.read_queue_nums = n;
        self.write_queue_nums = n;
        self
    }
}

/// The answer if its code is SUCCESS.
pub fn check(response: &RemotingCommand) -> Result<&RemotingCommand, AdminError> {
    match response.response_code() {
        ResponseCode::Success => Ok(response),
        code => Err(AdminError::Rejected {
            code,
            remark: response.remark.clone().unwrap_or_default(),
        }),
    }
}

/// GET_BROKER_CLUSTER_INFO (namesrv).
pub fn cluster_info() -> RemotingCommand {
    RemotingCommand::request(RequestCode::GetBrokerClusterInfo)
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (namesrv).
pub fn topic_list() -> RemotingCommand {
    RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver)
}

/// UPDATE_AND_CREATE_TOPIC for one broker master.
pub fn create_topic(config: &TopicConfig) -> RemotingCommand {
    header::request(
        RequestCode::UpdateAndCreateTopic,
        &CreateTopicRequestHeader {
            topic: config.topic.clone(),
            default_topic: DEFAULT_TOPIC.to_owned(),
            read_queue_nums: config.read_queue_nums,
            write_queue_nums: config.write_queue_nums,
            perm: config.perm,
            topic_filter_type: "SINGLE_TAG".to_owned(),
            topic_sys_flag: Some(0),
            order: config.order,
            attributes: None,
        },
    )
}

/// GET_MIN_OFFSET of `queue` (to its broker).
pub fn min_offset(queue: &MessageQueue) -> RemotingCommand {
    header::request(
        RequestCode::GetMinOffset,
        &GetMinOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        },
    )
}

/// GET_MAX_OFFSET of `queue` (to its broker): the offset the next message will get.
pub fn max_offset(queue: &MessageQueue) -> RemotingCommand {
    header::request(
        RequestCode::GetMaxOffset,
        &GetMaxOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            committed: true,
            broker_name: Some(queue.broker_name.clone()),
        },
    )
}

/// SEARCH_OFFSET_BY_TIMESTAMP of `queue`: the first offset stored at or after
/// `timestamp_ms` (the queue's end when none is).
pub fn search_offset(queue: &MessageQueue, timestamp_ms: i64) -> RemotingCommand {
    header::request(
        RequestCode::SearchOffsetByTimestamp,
        &SearchOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            timestamp: timestamp_ms,
            boundary_type: None,
            broker_name: Some(queue.broker_name.clone()),
        },
    )
}

/// The `offset` of a GET_MIN_OFFSET, GET_MAX_OFFSET or SEARCH_OFFSET_BY_TIMESTAMP answer.
pub fn read_offset(response: &RemotingCommand) -> Result<i64, AdminError> {
    let header: OffsetResponseHeader = header::read(check(response)?)?;
    Ok(header.offset)
}

/// QUERY_CONSUMER_OFFSET of `group` on `queue` (to its broker): the offset the group stored.
pub fn consumer_offset(group: &str, queue: &MessageQueue) -> RemotingCommand {
    header::request(
        RequestCode::QueryConsumerOffset,
        &QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            set_zero_if_not_found: Some(false),
            broker_name: Some(queue.broker_name.clone()),
        },
    )
}

/// The offset of a QUERY_CONSUMER_OFFSET answer: `None` when the group stored none there
/// (QUERY_NOT_FOUND).
pub fn read_consumer_offset(response: &RemotingCommand) -> Result<Option<i64>, AdminError> {
    if response.response_code() == ResponseCode::QueryNotFound {
        return Ok(None);
    }
    read_offset(response).map(Some)
}

/// GET_CONSUME_STATS of `group` (on `topic` only, when given), to one broker.
pub fn consume_stats(group: &str, topic: Option<&str>) -> RemotingCommand {
    header::request(
        RequestCode::GetConsumeStats,
        &GetConsumeStatsRequestHeader {
            consumer_group: group.to_owned(),
            topic: topic.unwrap_or_default().to_owned(),
        },
    )
}

/// GET_CONSUMER_CONNECTION_LIST of `group`, to a broker.
pub fn consumer_connections(group: &str) -> RemotingCommand {
    header::request(
        RequestCode::GetConsumerConnectionList,
        &GetConsumerConnectionListRequestHeader {
            consumer_group: group.to_owned(),
        },
    )
}

/// GET_CONSUMER_RUNNING_INFO of the consumer `client_id` of `group`, to a broker it is
/// connected to (the broker asks the client and relays its answer).
pub fn consumer_running_info(group: &str, client_id: &str, jstack: bool) -> RemotingCommand {
    header::request(
        RequestCode::GetConsumerRunningInfo,
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: group.to_owned(),
            client_id: client_id.to_owned(),
            jstack_enable: jstack,
        },
    )
}

/// How [`query_message`] looks a message up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryBy {
    /// By one of its `KEYS`.
    Key,
    /// By its client unique id (`UNIQ_KEY`, what a send result calls `msg_id`).
    UniqueKey,
}

/// QUERY_MESSAGE for messages of `topic` stored between `begin_ms` and `end_ms` whose key
/// (or unique key) is `key`, at most `max` of them, to one broker.
pub fn query_message(
    topic: &str,
    key: &str,
    by: QueryBy,
    max: i32,
    begin_ms: i64,
    end_ms: i64,
) -> RemotingCommand {
    header::request(
        RequestCode::QueryMessage,
        &QueryMessageRequestHeader {
            topic: topic.to_owned(),
            key: key.to_owned(),
            max_num: max,
            begin_timestamp: begin_ms,
            end_timestamp: end_ms,
            unique_key_query: Some(by == QueryBy::UniqueKey),
        },
    )
}

/// VIEW_MESSAGE_BY_ID for an offset message id: the request and the broker address (from
/// the id) it goes to.
pub fn view_message(offset_msg_id: &str) -> Result<(String, RemotingCommand), AdminError> {
    let id = OffsetMessageId::parse(offset_msg_id)?;
    let command = header::request(
        RequestCode::ViewMessageById,
        &ViewMessageRequestHeader {
            topic: None,
            offset: id.offset,
        },
    );
    Ok((id.addr.to_string(), command))
}

/// The messages of a QUERY_MESSAGE or VIEW_MESSAGE_BY_ID answer; none for QUERY_NOT_FOUND.
pub fn read_messages(response: &RemotingCommand) -> Result<Vec<MessageExt>, AdminError> {
    if response.response_code() == ResponseCode::QueryNotFound {
        return Ok(Vec::new());
    }
    Ok(decode_messages(&check(response)?.body)?)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::message::{encode_stored, Message};

    fn answer(code: ResponseCode) -> RemotingCommand {
        RemotingCommand::response_to(&RemotingCommand::request_code(0), code)
    }

    #[test]
    fn requests_carry_javas_fields() {
        let q = MessageQueue::new("T", "broker-a", 3);
        let create = create_topic(&TopicConfig::new("T").queues(4));
        assert_eq!(create.code, 17);
        for (k, v) in [
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "4"),
            ("writeQueueNums", "4"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ] {
            assert_eq!(create.field(k), Some(v), "{k}");
        }
        let max = max_offset(&q);
        assert_eq!((max.code, max.field("queueId")), (30, Some("3")));
        assert_eq!(min_offset(&q).code, 31);
        let search = search_offset(&q, 1_700_000_000_000);
        assert_eq!(search.field("timestamp"), Some("1700000000000"));
        let stats = consume_stats("g", None);
        assert_eq!((stats.code, stats.field("topic")), (208, Some("")));
        assert_eq!(consumer_connections("g").field("consumerGroup"), Some("g"));
        let info = consumer_running_info("g", "10.0.0.1@x", false);
        assert_eq!(
            (info.code, info.field("clientId")),
            (307, Some("10.0.0.1@x"))
        );
        let query = query_message("T", "k1", QueryBy::UniqueKey, 32, 0, i64::MAX);
        assert_eq!(query.field("_UNIQUE_KEY_QUERY"), Some("true"));
        assert_eq!((cluster_info().code, topic_list().code), (106, 206));
    }

    #[test]
    fn view_goes_to_the_address_in_the_id() {
        let (addr, command) = view_message("0AAF0895000078BF000000000009BB4A").unwrap();
        assert_eq!(addr, "10.175.8.149:30911");
        assert_eq!(command.field("offset"), Some("637770"));
        assert!(matches!(
            view_message("nope"),
            Err(AdminError::Message(MessageError::BadMessageId { .. }))
        ));
    }

    #[test]
    fn answers_are_read_or_refused_with_their_code() {
        let ok = answer(ResponseCode::Success).with_field("offset", "42");
        assert_eq!(read_offset(&ok), Ok(42));
        let refused = answer(ResponseCode::SystemError).with_remark("no");
        assert_eq!(
            read_offset(&refused),
            Err(AdminError::Rejected {
                code: ResponseCode::SystemError,
                remark: "no".into()
            })
        );
        assert!(matches!(
            read_offset(&answer(ResponseCode::Success)),
            Err(AdminError::Header(_))
        ));
        assert_eq!(
            read_messages(&answer(ResponseCode::QueryNotFound)),
            Ok(vec![])
        );
        let mut ext = MessageExt::from_message(Message::new("T", Bytes::from_static(b"hi")));
        ext.store_host = "10.0.0.1:10911".parse().expect("address");
        let stored = encode_stored(&ext).expect("encodes");
        let found = answer(ResponseCode::Success).with_body(stored);
        let messages = read_messages(&found).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(&messages[0].message.body[..], b"hi");
    }
}
