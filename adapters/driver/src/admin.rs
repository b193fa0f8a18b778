//! The admin and query API ([`Admin`], from [`Client::admin`]): topics, offsets, a group's
//! lag and connections, a consumer's running info, and messages by key or id. The requests
//! and answers are the core's ([`rocketwire_core::admin`]); this decides where each goes
//! (the namesrvs with failover, every broker of a topic or of the cluster) and merges what
//! several brokers answer.
//!
//! Topic and group names passed in are put in the client's namespace, as everywhere in the
//! client; answers carry names as the cluster stores them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::join_all;
use rocketwire_core::admin::{self, AdminError, QueryBy, TopicConfig};
use rocketwire_core::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, ConsumerRunningInfo, MessageQueue, TopicList,
    TopicRouteData,
};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{ClientError, RemotingCommand};

use crate::client::Client;

/// Default time each admin request may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue's bounds ([`Admin::topic_offsets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOffsets {
    /// The queue.
    pub queue: MessageQueue,
    /// Its first offset still stored.
    pub min: i64,
    /// The offset its next message will get.
    pub max: i64,
}

/// Admin and query calls of a client (see the module docs of `rocketwire_driver::admin`).
/// Cheap to clone; it shares the client's connections.
pub struct Admin<R> {
    client: Client<R>,
    timeout: Duration,
}

impl<R> Clone for Admin<R> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            timeout: self.timeout,
        }
    }
}

impl<R> std::fmt::Debug for Admin<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<R> Client<R> {
    /// The admin and query API of this client, each request bounded by [`ADMIN_TIMEOUT`].
    pub fn admin(&self) -> Admin<R> {
        Admin {
            client: self.clone(),
            timeout: ADMIN_TIMEOUT,
        }
    }
}

impl<R> Admin<R> {
    /// Each request may take `timeout` from now on.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn ns(&self, name: &str) -> String {
        self.client.namespace().wrap(name)
    }

    async fn invoke(
        &self,
        addr: &str,
        command: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        self.client.invoke(addr, command, self.timeout).await
    }

    /// `command` to the namesrvs in turn until one answers (any code).
    async fn namesrv(&self, command: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        let mut last = ClientError::Route(rocketwire_core::RouteError::NoNamesrv);
        for addr in self.client.namesrv_addrs() {
            match self.invoke(addr, command.clone()).await {
                Ok(response) => return Ok(response),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The cluster's brokers and clusters, from a namesrv.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        let response = self.namesrv(admin::cluster_info()).await?;
        let response = admin::check(&response).map_err(ClientError::from)?;
        Ok(ClusterInfo::decode(&response.body).map_err(AdminError::Body)?)
    }

    /// Every topic the namesrv knows (system topics included).
    pub async fn topic_list(&self) -> Result<BTreeSet<String>, ClientError> {
        let response = self.namesrv(admin::topic_list()).await?;
        let response = admin::check(&response).map_err(ClientError::from)?;
        Ok(TopicList::decode(&response.body)
            .map_err(AdminError::Body)?
            .topic_list)
    }

    /// Creates `config.topic` (or updates its queues and permissions) on every broker master
    /// of the cluster (of `cluster` only, when given); returns the broker names. The namesrv
    /// learns the topic from the brokers' next registration.
    pub async fn create_topic(
        &self,
        config: TopicConfig,
        cluster: Option<&str>,
    ) -> Result<Vec<String>, ClientError> {
        let masters = self.cluster_info().await?.masters(cluster);
        if masters.is_empty() {
            return Err(ClientError::InvalidArgument(format!(
                "no broker master in {}",
                cluster.unwrap_or("the cluster")
            )));
        }
        let config = TopicConfig {
            topic: self.ns(&config.topic),
            ..config
        };
        for addr in masters.values() {
            self.create_topic_on(addr, &config).await?;
        }
        Ok(masters.into_keys().collect())
    }

    /// Creates or updates `config.topic` on the broker at `broker_addr` only.
    pub async fn create_topic_on(
        &self,
        broker_addr: &str,
        config: &TopicConfig,
    ) -> Result<(), ClientError> {
        let config = TopicConfig {
            topic: self.ns(&config.topic),
            ..config.clone()
        };
        let response = self
            .invoke(broker_addr, admin::create_topic(&config))
            .await?;
        admin::check(&response).map_err(ClientError::from)?;
        Ok(())
    }

    /// The route of `topic`.
    async fn route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        self.client.query_route(topic).await
    }

    /// The master address of `queue`'s broker.
    async fn broker_of(&self, queue: &MessageQueue) -> Result<String, ClientError> {
        let route = self.route(&queue.topic).await?;
        route
            .master_addr(&queue.broker_name)
            .map(str::to_owned)
            .ok_or_else(|| {
                ClientError::InvalidArgument(format!(
                    "broker {} has no master in the route of {}",
                    queue.broker_name, queue.topic
                ))
            })
    }

    async fn offset(
        &self,
        queue: &MessageQueue,
        command: RemotingCommand,
    ) -> Result<i64, ClientError> {
        let addr = self.broker_of(queue).await?;
        let response = self.invoke(&addr, command).await?;
        admin::read_offset(&response).map_err(ClientError::from)
    }

    fn queue(&self, queue: &MessageQueue) -> MessageQueue {
        MessageQueue {
            topic: self.ns(&queue.topic),
            ..queue.clone()
        }
    }

    /// The first offset `queue` still stores.
    pub async fn min_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
        let queue = self.queue(queue);
        self.offset(&queue, admin::min_offset(&queue)).await
    }

    /// The offset `queue`'s next message will get.
    pub async fn max_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
        let queue = self.queue(queue);
        self.offset(&queue, admin::max_offset(&queue)).await
    }

    /// The first offset of `queue` stored at or after `timestamp_ms` (the queue's end when
    /// none is).
    pub async fn search_offset(
        &self,
        queue: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64, ClientError> {
        let queue = self.queue(queue);
        self.offset(&queue, admin::search_offset(&queue, timestamp_ms))
            .await
    }

    /// The offset `group` stored for `queue` on its broker; `None` when it stored none.
    pub async fn consumer_offset(
        &self,
        group: &str,
        queue: &MessageQueue,
    ) -> Result<Option<i64>, ClientError> {
        let queue = self.queue(queue);
        let addr = self.broker_of(&queue).await?;
        let command = admin::consumer_offset(&self.ns(group), &queue);
        let response = self.invoke(&addr, command).await?;
        admin::read_consumer_offset(&response).map_err(ClientError::from)
    }

    /// Every readable queue of `topic` with its min and max offset.
    pub async fn topic_offsets(&self, topic: &str) -> Result<Vec<QueueOffsets>, ClientError> {
        let topic = self.ns(topic);
        let route = self.route(&topic).await?;
        let queues = route.subscribe_queues(&topic);
        let bounds = join_all(queues.iter().map(|q| async move {
            let min = self.offset(q, admin::min_offset(q)).await?;
            let max = self.offset(q, admin::max_offset(q)).await?;
            Ok::<_, ClientError>(QueueOffsets {
                queue: q.clone(),
                min,
                max,
            })
        }))
        .await;
        bounds.into_iter().collect()
    }

    /// The broker masters to ask about a group: those of `topic`'s route, or every master
    /// of the cluster.
    async fn brokers_for(
        &self,
        topic: Option<&str>,
    ) -> Result<BTreeMap<String, String>, ClientError> {
        match topic {
            Some(topic) => {
                let route = self.route(topic).await?;
                Ok(route
                    .broker_datas
                    .iter()
                    .filter_map(|b| Some((b.broker_name.clone(), b.master_addr()?.to_owned())))
                    .collect())
            }
            None => Ok(self.cluster_info().await?.masters(None)),
        }
    }

    /// `command` to every broker master of `topic` (of the cluster without one) at once;
    /// their answers (any code) in broker name order.
    async fn ask_brokers(
        &self,
        topic: Option<&str>,
        command: RemotingCommand,
    ) -> Result<Vec<Result<RemotingCommand, ClientError>>, ClientError> {
        let brokers = self.brokers_for(topic).await?;
        let asks = brokers
            .values()
            .map(|addr| self.invoke(addr, command.clone()));
        Ok(join_all(asks).await)
    }

    /// `group`'s committed offsets, the queues' ends and its lag, over every broker (of
    /// `topic` only, when given; [`ConsumeStats::total_lag`] sums the lag).
    pub async fn consume_stats(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats, ClientError> {
        let group = self.ns(group);
        let topic = topic.map(|t| self.ns(t));
        let command = admin::consume_stats(&group, topic.as_deref());
        let answers = self.ask_brokers(topic.as_deref(), command).await?;
        let mut stats = ConsumeStats::default();
        let mut last_refusal = None;
        for answer in answers {
            match admin::check(&answer?) {
                Ok(r) => stats.merge(ConsumeStats::decode(&r.body).map_err(AdminError::Body)?),
                // A broker the group never used has nothing on it.
                Err(e) => last_refusal = Some(e),
            }
        }
        match (stats.offset_table.is_empty(), last_refusal) {
            (true, Some(e)) => Err(e.into()),
            _ => Ok(stats),
        }
    }

    /// The first broker of the cluster that knows `group` answers `command`.
    async fn ask_group_brokers(
        &self,
        command: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let mut last = None;
        for addr in self.cluster_info().await?.masters(None).values() {
            let response = self.invoke(addr, command.clone()).await?;
            match admin::check(&response) {
                Ok(_) => return Ok(response),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || ClientError::InvalidArgument("no broker master in the cluster".into()),
            ClientError::from,
        ))
    }

    /// The clients of `group` connected to the brokers, with their subscriptions.
    pub async fn consumer_connections(
        &self,
        group: &str,
    ) -> Result<ConsumerConnection, ClientError> {
        let response = self
            .ask_group_brokers(admin::consumer_connections(&self.ns(group)))
            .await?;
        Ok(ConsumerConnection::decode(&response.body).map_err(AdminError::Body)?)
    }

    /// The running info of consumer `client_id` of `group` (the broker asks the client):
    /// subscriptions, per queue state and per topic pull and consume rates.
    pub async fn consumer_running_info(
        &self,
        group: &str,
        client_id: &str,
    ) -> Result<ConsumerRunningInfo, ClientError> {
        let command = admin::consumer_running_info(&self.ns(group), client_id, false);
        let response = self.ask_group_brokers(command).await?;
        Ok(ConsumerRunningInfo::decode(&response.body).map_err(AdminError::Body)?)
    }

    async fn query(
        &self,
        topic: &str,
        key: &str,
        by: QueryBy,
        max: i32,
        range_ms: (i64, i64),
    ) -> Result<Vec<MessageExt>, ClientError> {
        let topic = self.ns(topic);
        let command = admin::query_message(&topic, key, by, max, range_ms.0, range_ms.1);
        let answers = self.ask_brokers(Some(&topic), command).await?;
        let mut messages = Vec::new();
        for answer in answers {
            messages.extend(admin::read_messages(&answer?).map_err(ClientError::from)?);
        }
        messages.sort_by_key(|m| m.store_timestamp);
        Ok(messages)
    }

    /// Messages of `topic` with `key` among their keys, stored between `begin_ms` and
    /// `end_ms`, at most `max` per broker, oldest first.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let mut messages = self
            .query(topic, key, QueryBy::Key, max, (begin_ms, end_ms))
            .await?;
        // The index matches hashes: keep only messages that really carry the key.
        messages.retain(|m| m.message.key_list().any(|k| k == key));
        Ok(messages)
    }

    /// The message of `topic` whose unique id (`UNIQ_KEY`, a send result's `msg_id`) is
    /// `msg_id`; `None` when no broker has it.
    pub async fn query_by_unique_key(
        &self,
        topic: &str,
        msg_id: &str,
    ) -> Result<Option<MessageExt>, ClientError> {
        let messages = self
            .query(topic, msg_id, QueryBy::UniqueKey, 32, (0, i64::MAX))
            .await?;
        Ok(messages
            .into_iter()
            .find(|m| m.message.unique_key() == Some(msg_id)))
    }

    /// The message with offset message id `offset_msg_id` (a send result's
    /// `offset_msg_id`), from the broker the id names.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt, ClientError> {
        let (addr, command) = admin::view_message(offset_msg_id).map_err(ClientError::from)?;
        let response = self.invoke(&addr, command).await?;
        admin::read_messages(&response)
            .map_err(ClientError::from)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                ClientError::InvalidArgument(format!("no message with id {offset_msg_id}"))
            })
    }
}
