//! Where a lite pull consumer reads, asked of the brokers (Java `DefaultLitePullConsumer`'s
//! `seekToBegin`, `seekToEnd`, `offsetForTimestamp`, `committed`, `fetchMessageQueues`):
//! each is one broker request composed with [`LitePullConsumer::seek`].

use rocketwire_core::body::MessageQueue;

use super::{LitePullConsumer, LitePullError};

impl<R: crate::Runtime> LitePullConsumer<R> {
    /// Moves `queue`'s position to the first offset the broker still stores.
    pub async fn seek_to_begin(&mut self, queue: &MessageQueue) -> Result<(), LitePullError> {
        let offset = self.client.admin().min_offset(queue).await?;
        self.seek(queue, offset).await
    }

    /// Moves `queue`'s position to its end: only messages stored from now on are polled.
    pub async fn seek_to_end(&mut self, queue: &MessageQueue) -> Result<(), LitePullError> {
        let offset = self.client.admin().max_offset(queue).await?;
        self.seek(queue, offset).await
    }

    /// The first offset of `queue` stored at or after `timestamp_ms` (the queue's end when
    /// none is); [`LitePullConsumer::seek`] to it to read from that time.
    pub async fn offset_for_timestamp(
        &self,
        queue: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64, LitePullError> {
        Ok(self
            .client
            .admin()
            .search_offset(queue, timestamp_ms)
            .await?)
    }

    /// The offset committed for `queue`: this consumer's own, once it committed the queue
    /// (Java's memory-first read), else the group's offset the broker stores; `None` when the
    /// group has none there.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, LitePullError> {
        if let Some(offset) = self.committable().await?.get(queue) {
            return Ok(Some(*offset));
        }
        let group = self.group().to_owned();
        Ok(self.client.admin().consumer_offset(&group, queue).await?)
    }

    /// Every queue of `topic` a consumer can read, for [`LitePullConsumer::assign`].
    pub async fn fetch_message_queues(
        &self,
        topic: &str,
    ) -> Result<Vec<MessageQueue>, LitePullError> {
        let route = self.client.query_route(topic).await?;
        Ok(route.subscribe_queues(topic))
    }
}
