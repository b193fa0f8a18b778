//! Producer building blocks (protocol §3.6–3.8, §5.2, §6.3, §6.4, §6.10, §6.11): pure,
//! individually tested pieces that the client core wires into its send operation.
//!
//! One send goes through them in this order:
//!
//! 1. [`prepare_message`] / [`prepare_batch`] validate the message(s) ([`validate`]), set
//!    `UNIQ_KEY`s, compress and compute `sysFlag`, and keep a request template.
//! 2. [`TopicPublishInfo`] is the topic's queue list from its route (or from the `TBW102`
//!    template route for a topic that has none).
//! 3. [`SendAttempts`] hands out each attempt's deadline inside the send timeout.
//! 4. [`LatencyFaultTolerance::select_queue`] picks a queue, avoiding the broker that just
//!    failed and brokers isolated for latency; selector sends use [`SelectorState`] instead
//!    and are not retried on another queue.
//! 5. The attempt's response or transport error is classified ([`classify_response`],
//!    [`classify_transport`]), the broker's latency recorded with
//!    [`LatencyFaultTolerance::update`], and [`SendAttempts::record`] says whether to stop,
//!    retry (maybe after refreshing the route) or fail.
//! 6. [`SendResult::from_response`] builds the result of a stored message.
//!
//! With [`AutoBatch`] on, single sends that go the same way wait briefly in an
//! [`Accumulator`] lane and leave together as one batch (step 1 is then [`prepare_batch`]);
//! [`SendResult::split_batch`] gives each its own result.
//!
//! Nothing here reads a clock or does IO: `now: Instant`, wall time and [`Rng`](crate::time::Rng)
//! are arguments.

mod accumulate;
mod config;
mod fault;
mod prepare;
mod publish;
mod reply;
mod result;
mod retry;
mod selector;
pub mod validate;

pub use accumulate::{
    Accumulator, AutoBatch, AutoBatchStats, Held, DEFAULT_BATCH_MAX_BYTES,
    DEFAULT_BATCH_MAX_MESSAGES, DEFAULT_LINGER,
};
pub use config::{
    instance_name, ProducerConfig, ProducerConfigBuilder, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_PRODUCER_GROUP, DEFAULT_SEND_TIMEOUT,
};
pub use fault::{LatencyFaultTolerance, LatencyTable, ISOLATION_LATENCY};
pub use prepare::{
    batch_record_len, prepare_batch, prepare_held, prepare_message, split_batch, IdClock,
    PreparedBatch, PreparedMessage, UNIQ_KEY_PROPERTY_RESERVE,
};
pub use publish::{QueueIndex, TopicPublishInfo};
pub use reply::{
    decode_pushed_reply, is_reply, prepare_request, reply_message, ReplyError, REPLY_MESSAGE_TYPE,
    REPLY_TOPIC_SUFFIX,
};
pub use result::{batch_msg_id, SendError, SendResult, SendStatus, DEFAULT_REGION};
pub use retry::{
    classify_response, classify_transport, Attempt, SendAttempts, Step, Verdict, OUTAGE_WAIT_MAX,
    OUTAGE_WAIT_MIN, RETRY_CODES,
};
pub use selector::{
    hash_position, QueueSelector, SelectError, SelectFn, SelectorState, SendSelector,
};
pub use validate::ValidationError;
