//! [`Admin`]: the shared admin and query API with blocking methods.

use std::collections::BTreeSet;
use std::time::Duration;

use rocketwire_core::admin::TopicConfig;
use rocketwire_core::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, ConsumerRunningInfo, MessageQueue,
};
use rocketwire_core::message::MessageExt;
use rocketwire_core::ClientError;
use rocketwire_driver::QueueOffsets;

use crate::threads::Threads;

/// The admin and query API of a blocking client ([`crate::Client::admin`]): topics,
/// offsets, a group's lag and connections, a consumer's running info, messages by key or
/// id. Names passed in are put in the client's namespace.
#[derive(Debug, Clone)]
pub struct Admin(pub(crate) rocketwire_driver::Admin<Threads>);

impl Admin {
    /// Each request may take `timeout` from now on.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self(self.0.with_timeout(timeout))
    }

    blocking! {
        /// The cluster's brokers and clusters, from a namesrv.
        fn cluster_info(&self) -> Result<ClusterInfo, ClientError>;
        /// Every topic the namesrv knows.
        fn topic_list(&self) -> Result<BTreeSet<String>, ClientError>;
        /// Creates or updates a topic on every broker master (of `cluster` only, when
        /// given); returns the broker names.
        fn create_topic(&self, config: TopicConfig, cluster: Option<&str>)
            -> Result<Vec<String>, ClientError>;
        /// Creates or updates a topic on one broker.
        fn create_topic_on(&self, broker_addr: &str, config: &TopicConfig)
            -> Result<(), ClientError>;
        /// The first offset `queue` still stores.
        fn min_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError>;
        /// The offset `queue`'s next message will get.
        fn max_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError>;
        /// The first offset of `queue` stored at or after `timestamp_ms`.
        fn search_offset(&self, queue: &MessageQueue, timestamp_ms: i64)
            -> Result<i64, ClientError>;
        /// Every readable queue of `topic` with its min and max offset.
        fn topic_offsets(&self, topic: &str) -> Result<Vec<QueueOffsets>, ClientError>;
        /// A group's offsets, the queues' ends and its lag (of `topic` only, when given).
        fn consume_stats(&self, group: &str, topic: Option<&str>)
            -> Result<ConsumeStats, ClientError>;
        /// The clients of `group` connected to the brokers.
        fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection, ClientError>;
        /// The running info of consumer `client_id` of `group`.
        fn consumer_running_info(&self, group: &str, client_id: &str)
            -> Result<ConsumerRunningInfo, ClientError>;
        /// Messages of `topic` with `key`, stored between `begin_ms` and `end_ms`.
        fn query_by_key(&self, topic: &str, key: &str, max: i32, begin_ms: i64, end_ms: i64)
            -> Result<Vec<MessageExt>, ClientError>;
        /// The message of `topic` whose unique id is `msg_id`.
        fn query_by_unique_key(&self, topic: &str, msg_id: &str)
            -> Result<Option<MessageExt>, ClientError>;
        /// The message with offset message id `offset_msg_id`.
        fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt, ClientError>;
    }
}
