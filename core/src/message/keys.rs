//! Well-known property keys (Java `MessageConst`).
//!
//! Each constant is named after its Java constant without the `PROPERTY_` prefix.

/// Business keys, separated by [`KEY_SEPARATOR`] (`PROPERTY_KEYS`).
pub const KEYS: &str = "KEYS";
/// Tag (`PROPERTY_TAGS`).
pub const TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for the store to be flushed; missing means true
/// (`PROPERTY_WAIT_STORE_MSG_OK`).
pub const WAIT_STORE_MSG_OK: &str = "WAIT";
/// Delay level 1..=18 (`PROPERTY_DELAY_TIME_LEVEL`).
pub const DELAY_TIME_LEVEL: &str = "DELAY";
/// Original topic of a retried message (`PROPERTY_RETRY_TOPIC`).
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic of delayed/half messages (`PROPERTY_REAL_TOPIC`).
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id (`PROPERTY_REAL_QUEUE_ID`).
pub const REAL_QUEUE_ID: &str = "REAL_QID";
/// `"true"` on half (prepared) messages (`PROPERTY_TRANSACTION_PREPARED`).
pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group of a transactional message (`PROPERTY_PRODUCER_GROUP`).
pub const PRODUCER_GROUP: &str = "PGROUP";
/// Queue min offset, set by the client after a pull (`PROPERTY_MIN_OFFSET`).
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue max offset, set by the client after a pull (`PROPERTY_MAX_OFFSET`).
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// `PROPERTY_BUYER_ID`.
pub const BUYER_ID: &str = "BUYER_ID";
/// First message id of a message being retried (`PROPERTY_ORIGIN_MESSAGE_ID`).
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// `PROPERTY_TRANSFER_FLAG`.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// `PROPERTY_CORRECTION_FLAG`.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// `PROPERTY_MQ2_FLAG`.
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Reconsume count carried on a client-side resend (`PROPERTY_RECONSUME_TIME`).
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Region (`PROPERTY_MSG_REGION`).
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch (`PROPERTY_TRACE_SWITCH`).
pub const TRACE_SWITCH: &str = "TRACE_ON";
/// Client-generated unique message id (`PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX`).
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// `PROPERTY_EXTEND_UNIQ_INFO`.
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
/// Max reconsume times carried on a client-side resend (`PROPERTY_MAX_RECONSUME_TIMES`).
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Set by a consumer when it starts consuming (`PROPERTY_CONSUME_START_TIMESTAMP`).
pub const CONSUME_START_TIMESTAMP: &str = "CONSUME_START_TIME";
/// Inner-batch count (`PROPERTY_INNER_NUM`).
pub const INNER_NUM: &str = "INNER_NUM";
/// Inner-batch base (`PROPERTY_INNER_BASE`).
pub const INNER_BASE: &str = "INNER_BASE";
/// `DUP_INFO`.
pub const DUP_INFO: &str = "DUP_INFO";
/// First transaction check delay (`PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS`).
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// `PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET`.
pub const TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Set on the local message after a transactional send (`PROPERTY_TRANSACTION_ID`).
pub const TRANSACTION_ID: &str = "__transactionId__";
/// `PROPERTY_TRANSACTION_CHECK_TIMES`.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Namespace (`PROPERTY_INSTANCE_ID`).
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request-reply correlation id (`PROPERTY_CORRELATION_ID`).
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request-reply target client (`PROPERTY_MESSAGE_REPLY_TO_CLIENT`).
pub const MESSAGE_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request-reply time to live (`PROPERTY_MESSAGE_TTL`).
pub const MESSAGE_TTL: &str = "TTL";
/// `PROPERTY_REPLY_MESSAGE_ARRIVE_TIME`.
pub const REPLY_MESSAGE_ARRIVE_TIME: &str = "ARRIVE_TIME";
/// `PROPERTY_PUSH_REPLY_TIME`.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Cluster name added by the broker (`PROPERTY_CLUSTER`).
pub const CLUSTER: &str = "CLUSTER";
/// `"reply"` for reply messages (`PROPERTY_MESSAGE_TYPE`).
pub const MESSAGE_TYPE: &str = "MSG_TYPE";
/// Pop checkpoint (`PROPERTY_POP_CK`).
pub const POP_CK: &str = "POP_CK";
/// Pop checkpoint offset (`PROPERTY_POP_CK_OFFSET`).
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
/// First pop time (`PROPERTY_FIRST_POP_TIME`).
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// Sharding key (`PROPERTY_SHARDING_KEY`).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// `PROPERTY_FORWARD_QUEUE_ID`.
pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
/// `PROPERTY_REDIRECT`.
pub const REDIRECT: &str = "REDIRECT";
/// Light message queue dispatch (`PROPERTY_INNER_MULTI_DISPATCH`).
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
/// Light message queue offsets (`PROPERTY_INNER_MULTI_QUEUE_OFFSET`).
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
/// `PROPERTY_TRACE_CONTEXT`.
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
/// 5.x timer: delay in seconds (`PROPERTY_TIMER_DELAY_SEC`).
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// 5.x timer: delay in milliseconds (`PROPERTY_TIMER_DELAY_MS`).
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// 5.x timer: absolute delivery time in ms (`PROPERTY_TIMER_DELIVER_MS`).
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// Broker-internal timer key (`PROPERTY_TIMER_ENQUEUE_MS`).
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// Broker-internal timer key (`PROPERTY_TIMER_DEQUEUE_MS`).
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// Broker-internal timer key (`PROPERTY_TIMER_ROLL_TIMES`).
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
/// Broker-internal timer key (`PROPERTY_TIMER_OUT_MS`).
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Broker-internal timer key (`PROPERTY_TIMER_DEL_UNIQKEY`).
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Broker-internal timer key (`PROPERTY_TIMER_DELAY_LEVEL`).
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
/// `PROPERTY_BORN_HOST`.
pub const BORN_HOST: &str = "__BORNHOST";
/// `PROPERTY_BORN_TIMESTAMP`.
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// `PROPERTY_CRC32`.
pub const CRC32: &str = "__CRC32#";
/// Original topic of a dead-letter message (`PROPERTY_DLQ_ORIGIN_TOPIC`).
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// Original message id of a dead-letter message (`PROPERTY_DLQ_ORIGIN_MESSAGE_ID`).
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Prefix of transient properties, which the broker never stores (`PROPERTY_TRANSIENT_PREFIX`).
pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";
/// Separator of the business keys in [`KEYS`] (`KEY_SEPARATOR`).
pub const KEY_SEPARATOR: &str = " ";

/// Keys Java refuses as user properties (`MessageConst.STRING_HASH_SET`, RocketMQ 5.3.x).
pub const SYSTEM_KEYS: &[&str] = &[
    TRACE_SWITCH,
    MSG_REGION,
    KEYS,
    TAGS,
    WAIT_STORE_MSG_OK,
    DELAY_TIME_LEVEL,
    RETRY_TOPIC,
    REAL_TOPIC,
    REAL_QUEUE_ID,
    TRANSACTION_PREPARED,
    PRODUCER_GROUP,
    MIN_OFFSET,
    MAX_OFFSET,
    BUYER_ID,
    ORIGIN_MESSAGE_ID,
    TRANSFER_FLAG,
    CORRECTION_FLAG,
    MQ2_FLAG,
    RECONSUME_TIME,
    UNIQ_KEY,
    MAX_RECONSUME_TIMES,
    CONSUME_START_TIMESTAMP,
    POP_CK,
    POP_CK_OFFSET,
    FIRST_POP_TIME,
    TRANSACTION_PREPARED_QUEUE_OFFSET,
    DUP_INFO,
    EXTEND_UNIQ_INFO,
    INSTANCE_ID,
    CORRELATION_ID,
    MESSAGE_REPLY_TO_CLIENT,
    MESSAGE_TTL,
    REPLY_MESSAGE_ARRIVE_TIME,
    PUSH_REPLY_TIME,
    CLUSTER,
    MESSAGE_TYPE,
    INNER_MULTI_QUEUE_OFFSET,
    TIMER_DELAY_MS,
    TIMER_DELAY_SEC,
    TIMER_DELIVER_MS,
    TIMER_ENQUEUE_MS,
    TIMER_DEQUEUE_MS,
    TIMER_ROLL_TIMES,
    TIMER_OUT_MS,
    TIMER_DEL_UNIQKEY,
    TIMER_DELAY_LEVEL,
    BORN_HOST,
    BORN_TIMESTAMP,
    DLQ_ORIGIN_TOPIC,
    DLQ_ORIGIN_MESSAGE_ID,
    CRC32,
];

/// Whether Java refuses `name` as a user property (it is in [`SYSTEM_KEYS`]).
pub fn is_system_key(name: &str) -> bool {
    SYSTEM_KEYS.contains(&name)
}
