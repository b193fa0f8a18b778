//! The gateway's consumers: one push consumer per consumer group, started by the group's
//! first stream, shared by all its streams through a [`Hub`], and closed `linger` after its
//! last stream ended (its offsets persisted, what it still held abandoned: consumed again
//! by the group's next consumer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::ConsumeOutcome;
use rocketwire_tokio::{Client, PushConsumer, PushConsumerOptions};
use tonic::Status;

use crate::hub::{Delivery, DeliveryId, Hub, StreamId, UnknownDelivery};

/// How the gateway runs its consumers.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSettings {
    pub(crate) consume_from: ConsumeFromWhere,
    pub(crate) max_in_flight: usize,
    pub(crate) linger: Duration,
    pub(crate) drain_timeout: Duration,
}

/// A group's running consumer.
struct Running {
    topic: String,
    tags: String,
    hub: Arc<Hub>,
    consumer: PushConsumer,
}

#[derive(Default)]
struct GroupSlot {
    running: Option<Running>,
}

/// See the module docs.
pub(crate) struct Groups {
    client: Client,
    settings: ConsumerSettings,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<GroupSlot>>>>,
    closing: AtomicBool,
}

/// One stream's place in its group. Dropping it detaches the stream.
pub(crate) struct StreamHandle {
    groups: Arc<Groups>,
    group: String,
    hub: Arc<Hub>,
    id: StreamId,
    detached: AtomicBool,
}

impl Groups {
    pub(crate) fn new(client: Client, settings: ConsumerSettings) -> Arc<Self> {
        Arc::new(Self {
            client,
            settings,
            slots: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
        })
    }

    fn slot(&self, group: &str) -> Arc<tokio::sync::Mutex<GroupSlot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(group.to_owned()).or_default().clone()
    }

    /// Attaches a stream of `window` to `group`'s consumer of `topic` with `tags`, starting
    /// the consumer if the group has none.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        group: &str,
        topic: &str,
        tags: &str,
        window: usize,
    ) -> Result<(StreamHandle, tokio::sync::mpsc::Receiver<Delivery>), Status> {
        if group.trim().is_empty() {
            return Err(Status::invalid_argument("consumer group is empty"));
        }
        if topic.trim().is_empty() {
            return Err(Status::invalid_argument("topic is empty"));
        }
        let tags = match tags.trim() {
            "" => "*",
            t => t,
        };
        if self.closing.load(Ordering::SeqCst) {
            return Err(Status::unavailable("the gateway is shutting down"));
        }
        let slot = self.slot(group);
        let mut slot = slot.lock().await;
        if let Some(running) = &slot.running {
            if running.topic != topic || running.tags != tags {
                return Err(Status::failed_precondition(format!(
                    "consumer group {group} already consumes topic {} with tags `{}` through \
                     this gateway; one group has one subscription",
                    running.topic, running.tags
                )));
            }
        } else {
            slot.running = Some(self.start(group, topic, tags).await?);
        }
        let Some(running) = slot.running.as_ref() else {
            return Err(Status::internal("the group's consumer is gone"));
        };
        let Some((id, rx)) = running.hub.attach(window) else {
            return Err(Status::unavailable("the gateway is shutting down"));
        };
        let handle = StreamHandle {
            groups: self.clone(),
            group: group.to_owned(),
            hub: running.hub.clone(),
            id,
            detached: AtomicBool::new(false),
        };
        Ok((handle, rx))
    }

    async fn start(&self, group: &str, topic: &str, tags: &str) -> Result<Running, Status> {
        let config = ConsumerConfig::builder(group)
            .consume_from_where(self.settings.consume_from)
            .consume_batch_max_size(1)
            .build()
            .map_err(|e| Status::invalid_argument(format!("consumer group {group}: {e}")))?;
        let subscription = Subscription::tag(topic, tags)
            .map_err(|e| Status::invalid_argument(format!("tags `{tags}`: {e}")))?;
        let hub = Arc::new(Hub::new(group));
        let handler_hub = hub.clone();
        let handler = move |messages: Vec<MessageExt>| {
            let hub = handler_hub.clone();
            async move { settle_all(&hub, messages).await }
        };
        let options = PushConsumerOptions::default().with_concurrency(self.settings.max_in_flight);
        let consumer = self
            .client
            .create_push_consumer_with(config, vec![subscription], options, handler)
            .await
            .map_err(|e| Status::unavailable(format!("consumer group {group}: {e}")))?;
        tracing::info!(group, topic, tags, "gateway consumer started");
        Ok(Running {
            topic: topic.to_owned(),
            tags: tags.to_owned(),
            hub,
            consumer,
        })
    }

    /// After the last stream of `group` detached: closes the consumer `linger` later if no
    /// stream came meanwhile.
    fn released(self: &Arc<Self>, group: String, hub: Arc<Hub>) {
        let attaches = hub.attaches();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let groups = self.clone();
        drop(runtime.spawn(async move {
            tokio::time::sleep(groups.settings.linger).await;
            let slot = groups.slot(&group);
            let mut slot = slot.lock().await;
            let idle = slot.running.as_ref().is_some_and(|r| {
                Arc::ptr_eq(&r.hub, &hub) && hub.attaches() == attaches && hub.streams() == 0
            });
            if idle {
                if let Some(running) = slot.running.take() {
                    groups.stop(&group, running).await;
                }
            }
        }));
    }

    async fn stop(&self, group: &str, running: Running) {
        running.hub.close();
        self.close_consumer(group, running).await;
    }

    async fn close_consumer(&self, group: &str, running: Running) {
        match running.consumer.shutdown(self.settings.drain_timeout).await {
            Ok(report) => tracing::info!(group, ?report, "gateway consumer closed"),
            Err(e) => tracing::warn!(group, error = %e, "gateway consumer close failed"),
        }
    }

    /// Graceful shutdown: stops handing out messages, lets the streams settle what they hold
    /// until `drain_timeout`, then ends every stream (the rest abandoned: consumed again
    /// later) and closes every consumer (offsets persisted). Later subscriptions are refused.
    pub(crate) async fn close_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let mut running = Vec::new();
        let slots: Vec<_> = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.iter().map(|(g, s)| (g.clone(), s.clone())).collect()
        };
        for (group, slot) in slots {
            if let Some(r) = slot.lock().await.running.take() {
                running.push((group, r));
            }
        }
        let deadline = tokio::time::Instant::now() + self.settings.drain_timeout;
        loop {
            let unsettled: usize = running.iter().map(|(_, r)| r.hub.drain()).sum();
            if unsettled == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (_, r) in &running {
            r.hub.close();
        }
        for (group, r) in running {
            self.close_consumer(&group, r).await;
        }
    }
}

/// Hands each message to the hub and answers the consumer once all are settled.
async fn settle_all(hub: &Hub, messages: Vec<MessageExt>) -> ConsumeOutcome {
    let waits: Vec<_> = messages.into_iter().map(|m| hub.offer(m)).collect();
    let mut result = ConsumeOutcome::Success;
    for wait in waits {
        let outcome = wait.await.unwrap_or(ConsumeOutcome::Abandon);
        result = match (result, outcome) {
            (ConsumeOutcome::Abandon, _) | (_, ConsumeOutcome::Abandon) => ConsumeOutcome::Abandon,
            (ConsumeOutcome::Success, other) => other,
            (kept, _) => kept,
        };
    }
    result
}

impl StreamHandle {
    /// Settles deliveries of this stream.
    pub(crate) fn settle(
        &self,
        ids: &[DeliveryId],
        outcome: ConsumeOutcome,
    ) -> Result<(), UnknownDelivery> {
        self.hub.settle(self.id, ids, outcome)
    }

    /// Detaches the stream (again: no effect): its unsettled deliveries go to the group's
    /// other streams, or wait for the next one.
    pub(crate) fn detach(&self) {
        if self.detached.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.hub.detach(self.id) == 0 {
            self.groups.released(self.group.clone(), self.hub.clone());
        }
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.detach();
    }
}
