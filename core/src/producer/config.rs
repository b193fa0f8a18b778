//! Producer settings with Java's defaults (`DefaultMQProducer`, protocol §6.11).

use std::time::Duration;

use crate::header::{DEFAULT_TOPIC, DEFAULT_TOPIC_QUEUE_NUMS};
use crate::message::compress::{DEFAULT_COMPRESS_LEVEL, DEFAULT_COMPRESS_THRESHOLD};
use crate::message::CompressionType;
use crate::time::Rng;

use super::accumulate::AutoBatch;
use super::fault::LatencyTable;
use super::validate::{validate_group, ValidationError};

/// Java's default producer group.
pub const DEFAULT_PRODUCER_GROUP: &str = "DEFAULT_PRODUCER";
/// Java's default send timeout (`sendMsgTimeout`).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_millis(3_000);
/// Java's default maximum message size (`maxMessageSize`, 4 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// A collision-resistant instance name: `<pid>#<nanos>#<8 random hex digits>`.
///
/// Java producers replace the instance name `DEFAULT` with `<pid>#<System.nanoTime()>` so
/// that two clients in one process get different client ids; the random suffix (from the
/// injected `rng`) also separates processes whose pid and clock reading collide (containers
/// all running as pid 1). `nanos` is any monotonic reading the adapter has.
pub fn instance_name(pid: u32, nanos: u128, rng: &mut Rng) -> String {
    format!("{pid}#{nanos}#{:08X}", rng.next_u64() as u32)
}

/// Producer settings. Build with [`ProducerConfig::builder`] or start from
/// [`ProducerConfig::default`] and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Producer group (default `DEFAULT_PRODUCER`).
    pub group: String,
    /// Instance name for the client id; `None` means "generate one with [`instance_name`]
    /// at start".
    pub instance_name: Option<String>,
    /// Time budget of one send, all attempts included (default 3 s).
    pub send_timeout: Duration,
    /// Cap on one attempt (Java `sendMsgMaxTimeoutPerRequest`; default none).
    pub max_timeout_per_attempt: Option<Duration>,
    /// Retries of a synchronous send on another broker (default 2, so 3 attempts).
    pub retry_times_when_send_failed: u32,
    /// Retries of an asynchronous send (default 2). Unlike Java's callback-driven retries,
    /// they follow the same budget rules as synchronous sends.
    pub retry_times_when_send_async_failed: u32,
    /// Bodies of at least this many bytes are compressed (default 4096; batches never are).
    pub compress_over: usize,
    /// Compression algorithm (default zlib).
    pub compression: CompressionType,
    /// Compression level (default 5).
    pub compress_level: i32,
    /// Largest body (or encoded batch body) accepted (default 4 MiB).
    pub max_message_size: usize,
    /// Broker fault isolation (default **on**, unlike Java's `sendLatencyFaultEnable=false`:
    /// a broker that just timed out is avoided for a while instead of being retried at the
    /// next send).
    pub send_latency_fault_enable: bool,
    /// Latency → not-available-duration steps (default Java's table).
    pub latency_table: LatencyTable,
    /// Template topic for auto-created topics (default `TBW102`).
    pub default_topic: String,
    /// Queues per broker of an auto-created topic (default 4).
    pub default_topic_queue_nums: i32,
    /// Message trace: a `Pub` record of every send goes to this topic ([`crate::trace`];
    /// Java `enableMsgTrace`, default off).
    pub trace_topic: Option<String>,
    /// Concurrent single sends that go the same way leave as one batch (Java 5.x
    /// `autoBatch`); `None` (the default): every send is its own request.
    pub auto_batch: Option<AutoBatch>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            group: DEFAULT_PRODUCER_GROUP.to_owned(),
            instance_name: None,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_timeout_per_attempt: None,
            retry_times_when_send_failed: 2,
            retry_times_when_send_async_failed: 2,
            compress_over: DEFAULT_COMPRESS_THRESHOLD,
            compression: CompressionType::Zlib,
            compress_level: DEFAULT_COMPRESS_LEVEL,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            send_latency_fault_enable: true,
            latency_table: LatencyTable::java(),
            default_topic: DEFAULT_TOPIC.to_owned(),
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            trace_topic: None,
            auto_batch: None,
        }
    }
}

impl ProducerConfig {
    /// A builder for a producer of `group`, every other setting at its default.
    pub fn builder(group: impl Into<String>) -> ProducerConfigBuilder {
        ProducerConfigBuilder(ProducerConfig {
            group: group.into(),
            ..ProducerConfig::default()
        })
    }

    /// Attempts of a synchronous send: `1 + retry_times_when_send_failed`.
    pub fn sync_attempts(&self) -> u32 {
        self.retry_times_when_send_failed.saturating_add(1)
    }

    /// Attempts of an asynchronous send: `1 + retry_times_when_send_async_failed`.
    pub fn async_attempts(&self) -> u32 {
        self.retry_times_when_send_async_failed.saturating_add(1)
    }

    /// The instance name to use: the configured one, or a fresh [`instance_name`].
    pub fn resolve_instance_name(&self, pid: u32, nanos: u128, rng: &mut Rng) -> String {
        match &self.instance_name {
            Some(name) if !name.is_empty() && name != "DEFAULT" => name.clone(),
            _ => instance_name(pid, nanos, rng),
        }
    }
}

/// Builds a [`ProducerConfig`]; [`ProducerConfigBuilder::build`] checks the group name.
#[derive(Debug, Clone)]
#[must_use]
pub struct ProducerConfigBuilder(ProducerConfig);

impl ProducerConfigBuilder {
    /// Sets a fixed instance name.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.0.instance_name = Some(name.into());
        self
    }

    /// Message trace to the default trace topic (`RMQ_SYS_TRACE_TOPIC`).
    pub fn trace(self) -> Self {
        self.trace_topic(crate::trace::DEFAULT_TRACE_TOPIC)
    }

    /// Message trace to `topic`.
    pub fn trace_topic(mut self, topic: impl Into<String>) -> Self {
        self.0.trace_topic = Some(topic.into());
        self
    }

    /// Sets the send timeout.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.0.send_timeout = timeout;
        self
    }

    /// Caps each attempt.
    pub fn max_timeout_per_attempt(mut self, max: Duration) -> Self {
        self.0.max_timeout_per_attempt = Some(max);
        self
    }

    /// Sets the synchronous retries.
    pub fn retry_times_when_send_failed(mut self, retries: u32) -> Self {
        self.0.retry_times_when_send_failed = retries;
        self
    }

    /// Sets the asynchronous retries.
    pub fn retry_times_when_send_async_failed(mut self, retries: u32) -> Self {
        self.0.retry_times_when_send_async_failed = retries;
        self
    }

    /// Sets the compression threshold in bytes.
    pub fn compress_over(mut self, bytes: usize) -> Self {
        self.0.compress_over = bytes;
        self
    }

    /// Sets the compression algorithm.
    pub fn compression(mut self, kind: CompressionType) -> Self {
        self.0.compression = kind;
        self
    }

    /// Sets the compression level.
    pub fn compress_level(mut self, level: i32) -> Self {
        self.0.compress_level = level;
        self
    }

    /// Sets the maximum body size.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.0.max_message_size = bytes;
        self
    }

    /// Turns broker fault isolation on or off.
    pub fn send_latency_fault_enable(mut self, enable: bool) -> Self {
        self.0.send_latency_fault_enable = enable;
        self
    }

    /// Sets the latency table.
    pub fn latency_table(mut self, table: LatencyTable) -> Self {
        self.0.latency_table = table;
        self
    }

    /// Sets the auto-create template topic and its queue count.
    pub fn default_topic(mut self, topic: impl Into<String>, queue_nums: i32) -> Self {
        self.0.default_topic = topic.into();
        self.0.default_topic_queue_nums = queue_nums;
        self
    }

    /// Batches concurrent single sends (see [`AutoBatch`]); [`AutoBatch::default`] has
    /// Java's defaults.
    pub fn auto_batch(mut self, batching: AutoBatch) -> Self {
        self.0.auto_batch = Some(batching);
        self
    }

    /// The configuration, or why the group name or the auto-batch settings are refused.
    pub fn build(self) -> Result<ProducerConfig, ValidationError> {
        validate_group(&self.0.group)?;
        if let Some(batching) = &self.0.auto_batch {
            // A batch is one request body: it must fit the message size limit, and a
            // message must be able to linger without spending its whole time budget.
            if batching.max_bytes == 0
                || batching.max_bytes > self.0.max_message_size
                || batching.max_messages == 0
                || batching.linger >= self.0.send_timeout
            {
                return Err(ValidationError::AutoBatch(*batching));
            }
        }
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_defaults() {
        let c = ProducerConfig::default();
        assert_eq!(c.group, "DEFAULT_PRODUCER");
        assert_eq!(c.send_timeout, Duration::from_millis(3000));
        assert_eq!((c.sync_attempts(), c.async_attempts()), (3, 3));
        assert_eq!(c.compress_over, 4096);
        assert_eq!(c.compression, CompressionType::Zlib);
        assert_eq!(c.compress_level, 5);
        assert_eq!(c.max_message_size, 4 * 1024 * 1024);
        assert!(c.send_latency_fault_enable);
        assert_eq!(c.latency_table, LatencyTable::java());
        assert_eq!(
            (c.default_topic.as_str(), c.default_topic_queue_nums),
            ("TBW102", 4)
        );
    }

    #[test]
    fn builder_sets_and_validates() {
        let c = ProducerConfig::builder("pg")
            .send_timeout(Duration::from_secs(1))
            .retry_times_when_send_failed(0)
            .compression(CompressionType::Zstd)
            .send_latency_fault_enable(false)
            .default_topic("T", 8)
            .build()
            .unwrap();
        assert_eq!(c.group, "pg");
        assert_eq!(c.sync_attempts(), 1);
        assert_eq!(c.compression, CompressionType::Zstd);
        assert!(!c.send_latency_fault_enable);
        assert_eq!(c.default_topic_queue_nums, 8);
        assert_eq!(
            ProducerConfig::builder("").build(),
            Err(ValidationError::BlankGroup)
        );
    }

    #[test]
    fn instance_names_differ_with_same_pid_and_clock() {
        let mut rng = Rng::new(3);
        let a = instance_name(1, 77, &mut rng);
        let b = instance_name(1, 77, &mut rng);
        assert_ne!(a, b);
        assert!(a.starts_with("1#77#"), "{a}");
        let fixed = ProducerConfig::builder("g")
            .instance_name("me")
            .build()
            .unwrap();
        assert_eq!(fixed.resolve_instance_name(1, 2, &mut rng), "me");
        let dflt = ProducerConfig::builder("g")
            .instance_name("DEFAULT")
            .build()
            .unwrap();
        assert!(dflt
            .resolve_instance_name(1, 2, &mut rng)
            .starts_with("1#2#"));
    }
}
