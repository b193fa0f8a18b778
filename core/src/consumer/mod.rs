//! Consumer building blocks (protocol §4.2–4.3, §5.3, §5.9, §6.5–6.9, §6.11): pure,
//! individually tested pieces that the client core wires into push and lite-pull consumers.
//!
//! One assigned queue goes through them in this order:
//!
//! 1. [`Subscription`] parses the user's expression (tags or SQL92) and yields the heartbeat's
//!    [`SubscriptionData`](crate::body::SubscriptionData); clustering push consumers also
//!    subscribe [`Subscription::retry`].
//! 2. Rebalance: [`AllocateStrategy::allocate`] picks this client's queues from the topic's
//!    queues and the group's client ids (GET_CONSUMER_LIST_BY_GROUP).
//! 3. Each new queue gets a [`ProcessQueue`] (state `Assigned`) and a [`StartOffset`] that
//!    says which request to make (stored offset, max offset, search by timestamp) until the
//!    start offset is known; orderly consumers lock it first ([`LockTable`]).
//! 4. Pull loop: [`FlowControl::should_pull`] (per-queue and global limits), [`pull_request`],
//!    [`interpret_pull_response`] → [`PullOutcome`], [`ProcessQueue::on_pulled`].
//! 5. Consumption: [`ProcessQueue::take_ready`] (concurrent) or [`ProcessQueue::take_batch`]
//!    (orderly); outcomes settle messages; failures go back with [`send_back_request`] or
//!    [`fallback_retry_message`], and if both fail stay unsettled
//!    ([`ProcessQueue::retry_locally`]).
//! 6. Offsets: [`ProcessQueue::committable_offset`] (smallest unsettled) into an
//!    [`OffsetTable`], persisted to the broker or, for broadcasting, to a file whose content is
//!    [`encode_offset_file`] / [`decode_offset_file`].
//!
//! Nothing here reads a clock or does IO: `now: Instant` and wall-clock values are arguments.

mod allocate;
mod config;
mod flow;
mod lock;
mod offset;
mod pop;
mod process_queue;
mod pull;
mod retry;
mod stats;
mod subscription;

pub use allocate::{
    md5_hash, AllocateError, AllocateStrategy, BrokerRoomFn, ConsumerRoomFn, MachineRoomResolver,
    DEFAULT_VIRTUAL_NODES,
};
pub use config::{
    per_queue_threshold, ConsumeMode, ConsumerConfig, ConsumerConfigBuilder, LitePullConfig,
    DEFAULT_CACHE_BUDGET_BYTES, DEFAULT_CONSUMER_GROUP, DEFAULT_CONSUME_TIMESTAMP_LOOKBACK,
};
pub use flow::{FlowControl, FlowLimit, PullDecision};
pub use lock::{
    lock_request, unlock_request, LockTable, BROKER_LOCK_EXPIRY, DEFAULT_LOCK_EXPIRY,
    DEFAULT_LOCK_INTERVAL, LOCK_TIMEOUT,
};
pub use offset::{
    decode_offset_file, encode_offset_file, offset_from_response, OffsetFileError, OffsetTable,
    StartOffset, StartOffsetStep, StoredOffset,
};
pub use pop::{
    ack_request, ack_succeeded, change_invisible_request, changed_handle, interpret_pop_response,
    pop_request, pop_retry_topic, retry_delay, PopConfig, PopError, PopOutcome, PopSpec, Popped,
    ReceiptHandle, TopicMark, INIT_MODE_MAX, INIT_MODE_MIN, MAX_POP_BATCH, POP_RETRY_DELAYS_SECS,
    POP_TIMEOUT_MARGIN,
};
pub use process_queue::{CacheChange, ProcessQueue, QueueState, StateError};
pub use pull::{
    error_delay, interpret_pull_response, pull_header, pull_request, PullError, PullOutcome,
    PullSpec,
};
pub use retry::{
    broker_delay_level, dlq_topic, fallback_retry_message, is_retry_topic, reset_retry_topic,
    retry_send_goes_to_dlq, retry_topic, send_back_goes_to_dlq, send_back_header,
    send_back_request, send_back_succeeded, DEFAULT_MAX_RECONSUME_TIMES, DLQ_GROUP_TOPIC_PREFIX,
    FIRST_RETRY_DELAY_LEVEL, RETRY_GROUP_TOPIC_PREFIX,
};
pub use stats::{ConsumeStatsBook, PullCounts};
pub use subscription::{message_tag_code, Filter, Subscription, SubscriptionError, SUB_ALL};
