//! Consumer settings with Java's defaults (`DefaultMQPushConsumer`, `DefaultLitePullConsumer`;
//! protocol §6.2, §6.7, §6.9, §6.11).

use std::time::Duration;

use crate::body::{ConsumeFromWhere, MessageModel};
use crate::producer::validate::{validate_group, ValidationError};

use super::allocate::AllocateStrategy;
use super::retry::DEFAULT_MAX_RECONSUME_TIMES;

/// Java's default consumer group.
pub const DEFAULT_CONSUMER_GROUP: &str = "DEFAULT_CONSUMER";
/// One mebibyte.
const MIB: u64 = 1024 * 1024;
/// Default global cache budget across all queues of a client: 512 MiB (our addition).
pub const DEFAULT_CACHE_BUDGET_BYTES: u64 = 512 * MIB;
/// How far back `CONSUME_FROM_TIMESTAMP` starts when no timestamp is configured (Java: half an
/// hour before the consumer starts).
pub const DEFAULT_CONSUME_TIMESTAMP_LOOKBACK: Duration = Duration::from_secs(30 * 60);

/// How pulled messages are handed to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConsumeMode {
    /// Many messages of a queue may be consumed at once (Java `MessageListenerConcurrently`).
    #[default]
    Concurrently,
    /// One batch at a time per locked queue, in offset order (`MessageListenerOrderly`).
    Orderly,
}

/// Push-consumer settings. Build with [`ConsumerConfig::builder`] or start from
/// [`ConsumerConfig::default`] and set fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    /// Consumer group (default `DEFAULT_CONSUMER`).
    pub group: String,
    /// Clustering (default) or broadcasting.
    pub message_model: MessageModel,
    /// Where a queue without a stored offset starts (default LAST_OFFSET).
    pub consume_from_where: ConsumeFromWhere,
    /// Start time for `CONSUME_FROM_TIMESTAMP`, ms since the epoch. `None`: the adapter uses
    /// start time minus [`DEFAULT_CONSUME_TIMESTAMP_LOOKBACK`] (Java's `yyyyMMddHHmmss` string
    /// is replaced by a plain epoch value).
    pub consume_timestamp_ms: Option<i64>,
    /// Queue allocation strategy (default averagely).
    pub allocate: AllocateStrategy,
    /// Concurrent (default) or orderly consumption.
    pub consume_mode: ConsumeMode,
    /// `maxMsgNums` of one pull (default 32).
    pub pull_batch_size: u32,
    /// `maxMsgBytes` of one pull (default 256 KiB).
    pub pull_batch_size_in_bytes: u32,
    /// Cached-message count above which a queue stops pulling (default 1000).
    pub pull_threshold_for_queue: u64,
    /// Cached bytes above which a queue stops pulling (default 100 MiB).
    pub pull_threshold_size_for_queue: u64,
    /// Topic-level count threshold, split over the topic's queues (default off).
    pub pull_threshold_for_topic: Option<u64>,
    /// Topic-level byte threshold, split over the topic's queues (default off).
    pub pull_threshold_size_for_topic: Option<u64>,
    /// Cached bytes across **all** queues above which no queue pulls (default 512 MiB). Not in
    /// Java, where many queues at their per-queue limit can exhaust the heap.
    pub cache_budget_bytes: u64,
    /// Largest offset span of a concurrent queue's cache before it stops pulling (2000).
    pub consume_concurrently_max_span: u64,
    /// Messages handed to one listener call (default 1).
    pub consume_batch_max_size: u32,
    /// Reconsume attempts before the DLQ; `None` = 16 (concurrent) / unlimited (orderly).
    pub max_reconsume_times: Option<i32>,
    /// Longest the broker may hold a pull (long polling, default 20 s as Java's lite pull
    /// consumer; Java's push consumer holds 15 s). A hold ends with one of the client's
    /// periodic jobs when one is due in its second half, so an idle consumer's long polls
    /// share the wake-ups of its 20 s rebalances.
    pub suspend_timeout: Duration,
    /// Client timeout of one pull, longer than the hold (default 30 s).
    pub pull_timeout: Duration,
    /// Pause between pulls of one queue (default 0).
    pub pull_interval: Duration,
    /// Send the expression with every pull (`postSubscriptionWhenPull`, default false).
    pub post_subscription_when_pull: bool,
    /// Period of rebalancing (default 20 s).
    pub rebalance_interval: Duration,
    /// Period of offset persistence (default 5 s).
    pub persist_interval: Duration,
    /// Period of orderly lock renewal (default 20 s).
    pub lock_interval: Duration,
    /// A client-side lock is trusted this long after it was granted (default 30 s).
    pub lock_expiry: Duration,
    /// Delay before re-pulling after an error (default 3000 ms).
    pub delay_after_error: Duration,
    /// Delay before re-pulling a flow-controlled queue (default 50 ms).
    pub delay_when_flow_control: Duration,
    /// Delay after the broker answered FLOW_CONTROL (default 20 ms).
    pub delay_after_broker_flow_control: Duration,
    /// Delay before re-pulling a paused consumer (default 1000 ms).
    pub delay_when_paused: Duration,
    /// Orderly: how long a queue waits after SUSPEND_CURRENT_QUEUE_A_MOMENT (default 1000 ms).
    pub suspend_current_queue_time: Duration,
    /// Delay before messages whose send-back failed are consumed again (default 5000 ms).
    pub delay_after_send_back_failure: Duration,
    /// Messages consumed longer than this are sent back (default 15 min).
    pub consume_timeout: Duration,
    /// Message trace: `SubBefore` and `SubAfter` records of every handler call go to this
    /// topic ([`crate::trace`]; Java `enableMsgTrace`, default off).
    pub trace_topic: Option<String>,
    /// Consume by POP (RocketMQ 5.x) with these settings instead of pulling queues (default
    /// `None`): the broker hands out batches and keeps the group's position, nothing is
    /// rebalanced or committed, and each message is acked by its receipt handle. Push
    /// consumers only (a lite pull consumer ignores it).
    pub pop: Option<super::pop::PopConfig>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group: DEFAULT_CONSUMER_GROUP.to_owned(),
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            consume_timestamp_ms: None,
            allocate: AllocateStrategy::Averagely,
            consume_mode: ConsumeMode::Concurrently,
            pull_batch_size: 32,
            pull_batch_size_in_bytes: 256 * 1024,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * MIB,
            pull_threshold_for_topic: None,
            pull_threshold_size_for_topic: None,
            cache_budget_bytes: DEFAULT_CACHE_BUDGET_BYTES,
            consume_concurrently_max_span: 2000,
            consume_batch_max_size: 1,
            max_reconsume_times: None,
            suspend_timeout: Duration::from_millis(20_000),
            pull_timeout: Duration::from_millis(30_000),
            pull_interval: Duration::ZERO,
            post_subscription_when_pull: false,
            rebalance_interval: Duration::from_secs(20),
            persist_interval: Duration::from_secs(5),
            lock_interval: Duration::from_secs(20),
            lock_expiry: Duration::from_secs(30),
            delay_after_error: Duration::from_millis(3_000),
            delay_when_flow_control: Duration::from_millis(50),
            delay_after_broker_flow_control: Duration::from_millis(20),
            delay_when_paused: Duration::from_millis(1_000),
            suspend_current_queue_time: Duration::from_millis(1_000),
            delay_after_send_back_failure: Duration::from_millis(5_000),
            consume_timeout: Duration::from_secs(15 * 60),
            trace_topic: None,
            pop: None,
        }
    }
}

impl ConsumerConfig {
    /// A builder for a consumer of `group`, every other setting at its default.
    pub fn builder(group: impl Into<String>) -> ConsumerConfigBuilder {
        ConsumerConfigBuilder(ConsumerConfig {
            group: group.into(),
            ..ConsumerConfig::default()
        })
    }

    /// The effective maximum reconsume count: the configured one, else 16 for concurrent and
    /// `i32::MAX` for orderly consumption (Java's `-1` default).
    pub fn effective_max_reconsume_times(&self) -> i32 {
        match (self.max_reconsume_times, self.consume_mode) {
            (Some(n), _) if n >= 0 => n,
            (_, ConsumeMode::Concurrently) => DEFAULT_MAX_RECONSUME_TIMES,
            (_, ConsumeMode::Orderly) => i32::MAX,
        }
    }

    /// The orderly suspend time of one SUSPEND_CURRENT_QUEUE_A_MOMENT: `requested` (the
    /// listener's context value) or the configured default, clamped to `[10 ms, 30 s]`.
    pub fn orderly_suspend(&self, requested: Option<Duration>) -> Duration {
        requested
            .unwrap_or(self.suspend_current_queue_time)
            .clamp(Duration::from_millis(10), Duration::from_secs(30))
    }

    /// Whether push consumers of this config subscribe `%RETRY%<group>` (clustering only).
    pub fn subscribes_retry_topic(&self) -> bool {
        self.message_model == MessageModel::Clustering
    }
}

/// Builds a [`ConsumerConfig`]; [`ConsumerConfigBuilder::build`] checks the group name.
#[derive(Debug, Clone)]
#[must_use]
pub struct ConsumerConfigBuilder(ConsumerConfig);

macro_rules! setters {
    ($( $(#[$m:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        $( $(#[$m])* pub fn $name(mut self, value: $ty) -> Self { self.0.$name = value; self } )*
    };
}

impl ConsumerConfigBuilder {
    setters! {
        /// Sets clustering or broadcasting.
        message_model: MessageModel,
        /// Sets where a queue without a stored offset starts.
        consume_from_where: ConsumeFromWhere,
        /// Sets the allocation strategy.
        allocate: AllocateStrategy,
        /// Sets concurrent or orderly consumption.
        consume_mode: ConsumeMode,
        /// Sets the pull batch size.
        pull_batch_size: u32,
        /// Sets the per-queue cached-message threshold.
        pull_threshold_for_queue: u64,
        /// Sets the per-queue cached-bytes threshold.
        pull_threshold_size_for_queue: u64,
        /// Sets the global cache budget in bytes.
        cache_budget_bytes: u64,
        /// Sets the concurrent max offset span.
        consume_concurrently_max_span: u64,
        /// Sets the listener batch size.
        consume_batch_max_size: u32,
        /// Sets the long-polling hold.
        suspend_timeout: Duration,
        /// Sets the pull call timeout.
        pull_timeout: Duration,
        /// Sets the pause between pulls.
        pull_interval: Duration,
        /// Sets whether pulls carry the expression.
        post_subscription_when_pull: bool,
        /// Sets the rebalance period.
        rebalance_interval: Duration,
        /// Sets the offset persistence period.
        persist_interval: Duration,
    }

    /// Starts from a timestamp (ms since the epoch) and selects `CONSUME_FROM_TIMESTAMP`.
    pub fn consume_from_timestamp(mut self, epoch_ms: i64) -> Self {
        self.0.consume_from_where = ConsumeFromWhere::Timestamp;
        self.0.consume_timestamp_ms = Some(epoch_ms);
        self
    }

    /// Sets the maximum reconsume count.
    pub fn max_reconsume_times(mut self, n: i32) -> Self {
        self.0.max_reconsume_times = Some(n);
        self
    }

    /// Consumes by POP with these settings ([`ConsumerConfig::pop`]).
    pub fn pop(mut self, pop: super::pop::PopConfig) -> Self {
        self.0.pop = Some(pop);
        self
    }

    /// Checks the group name and returns the config.
    pub fn build(self) -> Result<ConsumerConfig, ValidationError> {
        validate_group(&self.0.group)?;
        Ok(self.0)
    }
}

/// Lite pull consumer settings (Java `DefaultLitePullConsumer`, protocol §6.11).
#[derive(Debug, Clone, PartialEq)]
pub struct LitePullConfig {
    /// Consumer group.
    pub group: String,
    /// Clustering (default) or broadcasting.
    pub message_model: MessageModel,
    /// Where a queue without a stored offset starts.
    pub consume_from_where: ConsumeFromWhere,
    /// Start time for `CONSUME_FROM_TIMESTAMP`, ms since the epoch.
    pub consume_timestamp_ms: Option<i64>,
    /// Allocation strategy for `subscribe` mode.
    pub allocate: AllocateStrategy,
    /// `maxMsgNums` of one pull (default 10).
    pub pull_batch_size: u32,
    /// Longest wait of one `poll` (default 5 s).
    pub poll_timeout: Duration,
    /// Commit consumed offsets automatically (default true).
    pub auto_commit: bool,
    /// Period of automatic commits (default 5 s).
    pub auto_commit_interval: Duration,
    /// Period of checking subscribed topics' queues (default 30 s).
    pub topic_metadata_check_interval: Duration,
    /// Cached-message count above which a queue stops pulling (default 1000).
    pub pull_threshold_for_queue: u64,
    /// Cached bytes above which a queue stops pulling (default 100 MiB).
    pub pull_threshold_size_for_queue: u64,
    /// Cached messages across all queues above which no queue pulls (default 10000).
    pub pull_threshold_for_all: u64,
    /// Largest offset span of a queue's cache (default 2000).
    pub consume_max_span: u64,
    /// Long-polling hold (`brokerSuspendMaxTimeMillis`, default 20 s).
    pub broker_suspend_max: Duration,
    /// Client timeout of a held pull (`consumerTimeoutMillisWhenSuspend`, default 30 s).
    pub consumer_timeout_when_suspend: Duration,
    /// Client timeout of a plain pull (`consumerPullTimeoutMillis`, default 10 s).
    pub consumer_pull_timeout: Duration,
    /// Delay before re-pulling after an error (default 1000 ms).
    pub delay_after_error: Duration,
    /// Delay before re-pulling a paused or flow-controlled queue (default 1000 / 50 ms).
    pub delay_when_paused: Duration,
    /// Delay before re-pulling a flow-controlled queue (default 50 ms).
    pub delay_when_flow_control: Duration,
}

impl LitePullConfig {
    /// Settings for `group` with Java's defaults.
    pub fn new(group: impl Into<String>) -> Self {
        LitePullConfig {
            group: group.into(),
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::LastOffset,
            consume_timestamp_ms: None,
            allocate: AllocateStrategy::Averagely,
            pull_batch_size: 10,
            poll_timeout: Duration::from_secs(5),
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            topic_metadata_check_interval: Duration::from_secs(30),
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * MIB,
            pull_threshold_for_all: 10_000,
            consume_max_span: 2000,
            broker_suspend_max: Duration::from_secs(20),
            consumer_timeout_when_suspend: Duration::from_secs(30),
            consumer_pull_timeout: Duration::from_secs(10),
            delay_after_error: Duration::from_millis(1_000),
            delay_when_paused: Duration::from_millis(1_000),
            delay_when_flow_control: Duration::from_millis(50),
        }
    }
}

impl Default for LitePullConfig {
    fn default() -> Self {
        Self::new(DEFAULT_CONSUMER_GROUP)
    }
}

/// Splits a topic-level threshold over `queue_count` queues as Java's rebalance does:
/// `max(1, threshold / queue_count)`; `None` when the topic threshold is off.
pub fn per_queue_threshold(topic_threshold: Option<u64>, queue_count: usize) -> Option<u64> {
    let t = topic_threshold?;
    let n = u64::try_from(queue_count.max(1)).unwrap_or(u64::MAX);
    Some((t / n).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_push_defaults() {
        let c = ConsumerConfig::default();
        assert_eq!(c.pull_batch_size, 32);
        assert_eq!(c.pull_threshold_for_queue, 1000);
        assert_eq!(c.pull_threshold_size_for_queue, 100 * 1024 * 1024);
        assert_eq!(c.suspend_timeout, Duration::from_secs(20));
        assert_eq!(c.pull_timeout, Duration::from_secs(30));
        assert_eq!(c.rebalance_interval, Duration::from_secs(20));
        assert_eq!(c.persist_interval, Duration::from_secs(5));
        assert_eq!(c.lock_interval, Duration::from_secs(20));
        assert_eq!(c.lock_expiry, Duration::from_secs(30));
        assert_eq!(c.delay_after_error, Duration::from_millis(3000));
        assert_eq!(c.delay_when_flow_control, Duration::from_millis(50));
        assert_eq!(c.delay_after_broker_flow_control, Duration::from_millis(20));
        assert_eq!(c.delay_when_paused, Duration::from_millis(1000));
        assert_eq!(c.consume_concurrently_max_span, 2000);
        assert_eq!(c.consume_batch_max_size, 1);
        assert_eq!(c.effective_max_reconsume_times(), 16);
        assert!(c.subscribes_retry_topic());
    }

    #[test]
    fn builder_and_reconsume() {
        let c = ConsumerConfig::builder("g")
            .consume_mode(ConsumeMode::Orderly)
            .consume_from_timestamp(1_700_000_000_000)
            .build()
            .unwrap();
        assert_eq!(c.effective_max_reconsume_times(), i32::MAX);
        assert_eq!(c.consume_from_where, ConsumeFromWhere::Timestamp);
        assert_eq!(c.consume_timestamp_ms, Some(1_700_000_000_000));
        let c = ConsumerConfig::builder("g")
            .max_reconsume_times(3)
            .message_model(MessageModel::Broadcasting)
            .build()
            .unwrap();
        assert_eq!(c.effective_max_reconsume_times(), 3);
        assert!(!c.subscribes_retry_topic());
        assert!(ConsumerConfig::builder("  ").build().is_err());
    }

    #[test]
    fn orderly_suspend_is_clamped() {
        let c = ConsumerConfig::default();
        assert_eq!(c.orderly_suspend(None), Duration::from_millis(1000));
        assert_eq!(
            c.orderly_suspend(Some(Duration::from_millis(1))),
            Duration::from_millis(10)
        );
        assert_eq!(
            c.orderly_suspend(Some(Duration::from_secs(99))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn lite_defaults_and_topic_split() {
        let l = LitePullConfig::new("g");
        assert_eq!(l.pull_batch_size, 10);
        assert_eq!(l.poll_timeout, Duration::from_secs(5));
        assert_eq!(l.auto_commit_interval, Duration::from_secs(5));
        assert_eq!(l.topic_metadata_check_interval, Duration::from_secs(30));
        assert!(l.auto_commit);
        assert_eq!(per_queue_threshold(None, 4), None);
        assert_eq!(per_queue_threshold(Some(1000), 3), Some(333));
        assert_eq!(per_queue_threshold(Some(2), 8), Some(1));
        assert_eq!(per_queue_threshold(Some(5), 0), Some(5));
    }
}
