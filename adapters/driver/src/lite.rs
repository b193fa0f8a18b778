//! Lite pull consumers (Java `DefaultLitePullConsumer`): the user polls instead of handing a
//! handler over. Built on the core's push consumer with its lite-pull primitives
//! (`assign`, `seek`, `pause`/`resume`, `commit_offsets`).
//!
//! ```text
//! core ─ Event::Deliver ─► Shell ─ ConsumerEvent ─► LiteBuffer ─ poll() ─► user
//!                                                      │ auto-commit: Ack at poll
//!                                                      └ manual: Ack at commit(), then commit
//! ```
//!
//! Offsets: a delivery is acked ([`ConsumeOutcome::Success`]) only once its messages were
//! returned by `poll` — at once with auto-commit (the core then persists offsets every
//! [`LitePullOptions::auto_commit_interval`]), at the next `commit()` without it. The committed
//! offset of a queue is its smallest unacked message, so it never passes a message `poll` has
//! not returned. Buffered and polled-but-uncommitted messages stay in the core's process
//! queue, so its flow control (1000 messages per queue by default, 64 deliveries per
//! consumer) holds pulls back while the user does not poll (or, without auto-commit, does not
//! commit): the buffer is bounded by those limits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::StreamExt;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{
    ClientError, ConsumeOutcome, ConsumerCloseReport, ConsumerError, ConsumerId, DeliveryId,
};

use crate::client::Client;

mod positions;
mod stream;

use crate::consumer::ConsumerEvent;
use crate::shell::{reply_result, Command, ConsumerState, QueueChange, ReplyReceiver};
pub use stream::LitePullStream;

/// Settings of a lite pull consumer (Java `DefaultLitePullConsumer` defaults, protocol
/// §6.11); the protocol settings are in [`ConsumerConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LitePullOptions {
    /// Most messages one pull asks for and one `poll` returns (default 10). Replaces
    /// [`ConsumerConfig::pull_batch_size`] and [`ConsumerConfig::consume_batch_max_size`].
    pub pull_batch_size: u32,
    /// How long `poll_default` waits (default 5 s).
    pub poll_timeout: Duration,
    /// Ack messages as `poll` returns them and commit periodically (default true); otherwise
    /// only `commit()` settles and commits them.
    pub auto_commit: bool,
    /// Period of automatic commits (default 5 s); replaces
    /// [`ConsumerConfig::persist_interval`].
    pub auto_commit_interval: Duration,
}

impl Default for LitePullOptions {
    fn default() -> Self {
        Self {
            pull_batch_size: 10,
            poll_timeout: Duration::from_secs(5),
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
        }
    }
}

impl LitePullOptions {
    /// Sets [`LitePullOptions::pull_batch_size`] (0 is taken as 1).
    pub fn with_pull_batch_size(mut self, n: u32) -> Self {
        self.pull_batch_size = n.max(1);
        self
    }

    /// Sets [`LitePullOptions::poll_timeout`].
    pub fn with_poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// Sets [`LitePullOptions::auto_commit`].
    pub fn with_auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = on;
        self
    }

    /// Sets [`LitePullOptions::auto_commit_interval`].
    pub fn with_auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// `config` with these options applied.
    pub fn apply(&self, mut config: ConsumerConfig) -> ConsumerConfig {
        config.pull_batch_size = self.pull_batch_size.max(1);
        config.consume_batch_max_size = self.pull_batch_size.max(1);
        if self.auto_commit {
            config.persist_interval = self.auto_commit_interval;
        }
        config
    }
}

/// What a lite pull `subscribe` has to do ([`LiteState::subscription`]).
#[derive(Debug)]
pub(crate) enum Subscribe {
    /// Start the consumer with this subscription.
    Start(Subscription),
    /// Send this command to the running consumer.
    Add(Command),
}

/// Why a lite pull consumer call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LitePullError {
    /// `subscribe` and `assign` were mixed (Java: "Subscribe and assign are mutually
    /// exclusive").
    #[error("subscribe and assign are mutually exclusive")]
    MixedModes,
    /// Neither `subscribe` nor `assign` was called yet.
    #[error("call subscribe or assign first")]
    NotStarted,
    /// The subscription expression is invalid.
    #[error("invalid subscription: {0}")]
    Subscription(String),
    /// The core refused the consumer.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// The client is gone.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// How the consumer got its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteMode {
    /// `subscribe`: rebalanced within the group.
    Subscribe,
    /// `assign`: fixed queues.
    Assign,
}

#[derive(Debug)]
struct Buffered {
    delivery: DeliveryId,
    queue: MessageQueue,
    messages: Vec<MessageExt>,
}

/// What a lite pull consumer holds: deliveries not yet polled, polled ones not yet committed,
/// paused queues.
#[derive(Debug)]
pub struct LiteBuffer {
    batch: usize,
    auto_commit: bool,
    ready: VecDeque<Buffered>,
    /// Without auto-commit: deliveries returned by `poll`, acked at the next commit.
    polled: Vec<(DeliveryId, MessageQueue)>,
    /// Queues sought and how many of their `Seeked` events are still to come: until then,
    /// their deliveries are from before the seek (the core gave them up) and are dropped.
    seeking: BTreeMap<MessageQueue, usize>,
    /// Rebalance changes not yet taken by [`LiteBuffer::take_changes`].
    changes: Vec<QueueChange>,
    paused: BTreeSet<MessageQueue>,
    /// The shell dropped the consumer's sender (closed or client shut down).
    ended: bool,
}

/// What [`LiteBuffer::take`] returns: messages for the user and the deliveries to ack now.
pub type Taken = (Vec<MessageExt>, Vec<DeliveryId>);

impl LiteBuffer {
    /// An empty buffer for these options.
    pub fn new(options: &LitePullOptions) -> Self {
        Self {
            batch: usize::try_from(options.pull_batch_size.max(1)).unwrap_or(usize::MAX),
            auto_commit: options.auto_commit,
            ready: VecDeque::new(),
            polled: Vec::new(),
            seeking: BTreeMap::new(),
            changes: Vec::new(),
            paused: BTreeSet::new(),
            ended: false,
        }
    }

    /// Takes in one event of the consumer.
    pub fn absorb(&mut self, event: ConsumerEvent) {
        match event {
            // Stale: the core gave it up when it moved the queue.
            ConsumerEvent::Deliver { queue, .. } if self.seeking.contains_key(&queue) => {}
            ConsumerEvent::Deliver {
                delivery,
                queue,
                messages,
            } => self.ready.push_back(Buffered {
                delivery,
                queue,
                messages,
            }),
            ConsumerEvent::QueuesChanged(change) => self.changes.push(change),
            ConsumerEvent::Seeked { queue } => {
                // The shell already settled these deliveries.
                self.ready.retain(|b| b.queue != queue);
                self.polled.retain(|(_, q)| *q != queue);
                if let Some(left) = self.seeking.get_mut(&queue) {
                    *left -= 1;
                    if *left == 0 {
                        self.seeking.remove(&queue);
                    }
                }
            }
            _ => {}
        }
    }

    /// Takes in every event already waiting on `events`, without blocking.
    pub fn drain(&mut self, events: &mut mpsc::UnboundedReceiver<ConsumerEvent>) {
        loop {
            match events.try_recv() {
                Ok(event) => self.absorb(event),
                Err(e) => {
                    if e.is_closed() {
                        self.ended = true;
                    }
                    return;
                }
            }
        }
    }

    /// Whether the consumer's event stream ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Marks the event stream ended.
    pub fn set_ended(&mut self) {
        self.ended = true;
    }

    /// Up to `pull_batch_size` buffered messages of queues not paused, oldest deliveries
    /// first, and the deliveries to ack now (auto-commit) — none without auto-commit (they
    /// wait for [`LiteBuffer::take_uncommitted`]).
    pub fn take(&mut self) -> Taken {
        let mut messages = Vec::new();
        let mut acks = Vec::new();
        let mut i = 0;
        while i < self.ready.len() {
            let Some(b) = self.ready.get(i) else { break };
            if self.paused.contains(&b.queue) {
                i += 1;
                continue;
            }
            if !messages.is_empty() && messages.len() + b.messages.len() > self.batch {
                break;
            }
            let Some(b) = self.ready.remove(i) else { break };
            messages.extend(b.messages);
            if self.auto_commit {
                acks.push(b.delivery);
            } else {
                self.polled.push((b.delivery, b.queue));
            }
        }
        (messages, acks)
    }

    /// The deliveries polled and not yet committed (empty with auto-commit).
    pub fn take_uncommitted(&mut self) -> Vec<DeliveryId> {
        self.polled.drain(..).map(|(d, _)| d).collect()
    }

    /// The rebalance changes taken in since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<QueueChange> {
        std::mem::take(&mut self.changes)
    }

    /// The core moved `queue` (its `Seeked` event is on its way): what is held of it, and
    /// what arrives of it before that event, is from before the seek and is dropped.
    pub fn seek_started(&mut self, queue: &MessageQueue) {
        self.ready.retain(|b| b.queue != *queue);
        *self.seeking.entry(queue.clone()).or_insert(0) += 1;
    }

    /// Marks queues paused: `take` skips them.
    pub fn pause(&mut self, queues: &[MessageQueue]) {
        self.paused.extend(queues.iter().cloned());
    }

    /// Resumes paused queues.
    pub fn resume(&mut self, queues: &[MessageQueue]) {
        for q in queues {
            self.paused.remove(q);
        }
    }

    /// Whether a queue is paused.
    pub fn is_paused(&self, queue: &MessageQueue) -> bool {
        self.paused.contains(queue)
    }

    /// Forgets what was held of queues no longer assigned (their deliveries are dropped by
    /// the core with the queue).
    pub fn retain_queues(&mut self, queues: &BTreeSet<MessageQueue>) {
        self.ready.retain(|b| queues.contains(&b.queue));
        self.polled.retain(|(_, q)| queues.contains(q));
    }

    /// Messages buffered and not yet polled.
    pub fn buffered(&self) -> usize {
        self.ready.iter().map(|b| b.messages.len()).sum()
    }
}

/// Whether a queue belongs to the user (not the group's retry topic the core subscribes).
pub fn user_queue(queue: &MessageQueue) -> bool {
    !queue.topic.starts_with("%RETRY%")
}

/// The subscriptions an `assign` of `queues` needs: every topic, all tags.
pub fn assign_subscriptions(queues: &[MessageQueue]) -> Result<Vec<Subscription>, LitePullError> {
    let topics: BTreeSet<&str> = queues.iter().map(|q| q.topic.as_str()).collect();
    topics
        .into_iter()
        .map(|t| Subscription::tag(t, "*").map_err(|e| LitePullError::Subscription(e.to_string())))
        .collect()
}

/// What a lite pull consumer handle holds besides its client: settings, mode, id, event
/// stream and buffer. Its methods are the consumer's logic short of talking to the driver:
/// they check the state and build the commands that the handle sends (and waits on).
#[derive(Debug)]
pub(crate) struct LiteState {
    config: ConsumerConfig,
    options: LitePullOptions,
    mode: Option<LiteMode>,
    id: Option<ConsumerId>,
    events: Option<mpsc::UnboundedReceiver<ConsumerEvent>>,
    buffer: LiteBuffer,
}

/// What [`LiteState::ready`] returns: messages for the user and the ack commands to send first.
pub(crate) type Ready = (Vec<MessageExt>, Vec<Command>);

impl LiteState {
    /// A consumer not started yet.
    pub(crate) fn new(config: ConsumerConfig, options: LitePullOptions) -> Self {
        Self {
            config: options.apply(config),
            buffer: LiteBuffer::new(&options),
            options,
            mode: None,
            id: None,
            events: None,
        }
    }

    /// The consumer group.
    pub(crate) fn group(&self) -> &str {
        &self.config.group
    }

    /// The options.
    pub(crate) fn options(&self) -> &LitePullOptions {
        &self.options
    }

    /// How the consumer got its queues, once it did.
    pub(crate) fn mode(&self) -> Option<LiteMode> {
        self.mode
    }

    /// The consumer's id inside the client, once started.
    pub(crate) fn id(&self) -> Option<ConsumerId> {
        self.id
    }

    /// The id, or [`LitePullError::NotStarted`].
    pub(crate) fn started(&self) -> Result<ConsumerId, LitePullError> {
        self.id.ok_or(LitePullError::NotStarted)
    }

    /// The command creating the consumer with `subscriptions`, its reply and the receiver of
    /// its events: hand both to [`LiteState::started_with`].
    #[allow(clippy::type_complexity)]
    pub(crate) fn start_command(
        &self,
        subscriptions: Vec<Subscription>,
    ) -> (
        Command,
        oneshot::Receiver<Result<ConsumerId, ConsumerError>>,
        mpsc::UnboundedReceiver<ConsumerEvent>,
    ) {
        let (events, events_rx) = mpsc::unbounded();
        let (command, rx) =
            Command::create_lite_consumer(self.config.clone(), subscriptions, events);
        (command, rx, events_rx)
    }

    /// Takes in the reply to [`LiteState::start_command`].
    pub(crate) fn started_with(
        &mut self,
        reply: Result<Result<ConsumerId, ConsumerError>, oneshot::Canceled>,
        events: mpsc::UnboundedReceiver<ConsumerEvent>,
    ) -> Result<ConsumerId, LitePullError> {
        let id = match reply {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(ClientError::Shutdown.into()),
        };
        self.id = Some(id);
        self.events = Some(events);
        Ok(id)
    }

    /// What a `subscribe` of `topic` with `expression` does: start the consumer with the
    /// subscription ([`LiteState::set_mode`] once started), or, once subscribed, the command
    /// adding it to the running consumer. Fails after `assign`.
    pub(crate) fn subscription(
        &self,
        subscription: Subscription,
    ) -> Result<Subscribe, LitePullError> {
        if self.mode == Some(LiteMode::Assign) {
            return Err(LitePullError::MixedModes);
        }
        Ok(match self.id {
            Some(consumer) => Subscribe::Add(Command::subscribe(consumer, subscription)),
            None => Subscribe::Start(subscription),
        })
    }

    /// The command dropping `topic` from a subscribed consumer. Fails after `assign` or
    /// before `subscribe`.
    pub(crate) fn unsubscribe_command(&self, topic: &str) -> Result<Command, LitePullError> {
        match self.mode {
            Some(LiteMode::Assign) => Err(LitePullError::MixedModes),
            _ => Ok(Command::unsubscribe(self.started()?, topic)),
        }
    }

    /// Records how the consumer got its queues.
    pub(crate) fn set_mode(&mut self, mode: LiteMode) {
        self.mode = Some(mode);
    }

    /// Whether an `assign` may go on: the id when already started, `None` when it must start
    /// the consumer (with [`assign_subscriptions`]) first.
    pub(crate) fn assign_target(&self) -> Result<Option<ConsumerId>, LitePullError> {
        if self.mode == Some(LiteMode::Subscribe) {
            return Err(LitePullError::MixedModes);
        }
        Ok(self.id)
    }

    /// Switches consumer `id` to exactly `queues`: forgets what was buffered of other queues
    /// and returns the command to send.
    pub(crate) fn assign_command(&mut self, id: ConsumerId, queues: Vec<MessageQueue>) -> Command {
        self.mode = Some(LiteMode::Assign);
        let set: BTreeSet<MessageQueue> = queues.iter().cloned().collect();
        self.buffer.retain_queues(&set);
        Command::Assign {
            consumer: id,
            queues,
        }
    }

    /// What `poll` can return without waiting: the messages ready (after the events already
    /// waiting) with the acks to send first; `None` when it must wait for the next event
    /// ([`LiteState::events`], then [`LiteState::absorb_next`]). Fails once the event stream
    /// ended.
    pub(crate) fn ready(&mut self) -> Result<Option<Ready>, LitePullError> {
        self.started()?;
        let Some(events) = self.events.as_mut() else {
            return Err(LitePullError::NotStarted);
        };
        self.buffer.drain(events);
        let (messages, acks) = self.buffer.take();
        if !messages.is_empty() {
            let acks = acks
                .into_iter()
                .map(|delivery| Command::Ack {
                    delivery,
                    outcome: ConsumeOutcome::Success,
                })
                .collect();
            return Ok(Some((messages, acks)));
        }
        if self.buffer.ended() {
            return Err(ClientError::Shutdown.into());
        }
        Ok(None)
    }

    /// The consumer's event stream, once started.
    pub(crate) fn events(&mut self) -> Option<&mut mpsc::UnboundedReceiver<ConsumerEvent>> {
        self.events.as_mut()
    }

    /// Takes in what the event stream yielded: an event, or `None` at its end.
    pub(crate) fn absorb_next(&mut self, event: Option<ConsumerEvent>) {
        match event {
            Some(event) => self.buffer.absorb(event),
            None => self.buffer.set_ended(),
        }
    }

    /// The command moving `queue` to `offset`, and its reply.
    pub(crate) fn seek_command(
        &self,
        queue: &MessageQueue,
        offset: i64,
    ) -> Result<(Command, ReplyReceiver<()>), LitePullError> {
        let id = self.started()?;
        let (reply, rx) = oneshot::channel();
        let command = Command::Seek {
            consumer: id,
            queue: queue.clone(),
            offset,
            reply,
        };
        Ok((command, rx))
    }

    /// The rebalance changes that arrived so far (taking in every event waiting).
    pub(crate) fn queue_changes(&mut self) -> Vec<QueueChange> {
        if let Some(events) = self.events.as_mut() {
            self.buffer.drain(events);
        }
        self.buffer.take_changes()
    }

    /// The core moved `queue`: see [`LiteBuffer::seek_started`].
    pub(crate) fn seek_started(&mut self, queue: &MessageQueue) {
        self.buffer.seek_started(queue);
    }

    /// The command committing now, settling first (without auto-commit) what `poll` returned.
    pub(crate) fn commit_command(&mut self) -> Result<(Command, ReplyReceiver<()>), LitePullError> {
        let id = self.started()?;
        if let Some(events) = self.events.as_mut() {
            // Seeks already applied must drop their stale deliveries first.
            self.buffer.drain(events);
        }
        let settle = self.buffer.take_uncommitted();
        Ok(Command::commit_offsets(id, settle))
    }

    /// Pauses `queues` in the buffer and returns the command pausing their pulls.
    pub(crate) fn pause_command(
        &mut self,
        queues: &[MessageQueue],
    ) -> Result<Command, LitePullError> {
        let id = self.started()?;
        self.buffer.pause(queues);
        Ok(Command::Pause {
            consumer: id,
            queues: queues.to_vec(),
        })
    }

    /// Resumes `queues` in the buffer and returns the command resuming their pulls.
    pub(crate) fn resume_command(
        &mut self,
        queues: &[MessageQueue],
    ) -> Result<Command, LitePullError> {
        let id = self.started()?;
        self.buffer.resume(queues);
        Ok(Command::Resume {
            consumer: id,
            queues: queues.to_vec(),
        })
    }

    /// The command asking for the consumer's queues and offsets; `None` before start.
    pub(crate) fn state_command(&self) -> Option<(Command, oneshot::Receiver<ConsumerState>)> {
        self.id.map(Command::consumer_state)
    }

    /// The commands closing the consumer (close, then abandon its deliveries) and the close
    /// reply; `None` before start. Send the close first: if that fails, the client is gone.
    pub(crate) fn close_commands(
        &self,
    ) -> Option<(Command, Command, ReplyReceiver<ConsumerCloseReport>)> {
        let id = self.id?;
        let (close, rx) = Command::close_consumer(id);
        Some((close, Command::AbandonDeliveries { consumer: id }, rx))
    }

    /// Drops the event stream (once the close is under way).
    pub(crate) fn end_events(&mut self) {
        self.events = None;
    }
}

/// The user queues of a [`Command::consumer_state`] reply.
pub(crate) fn assignment_of(
    reply: Result<ConsumerState, oneshot::Canceled>,
) -> Result<Vec<MessageQueue>, LitePullError> {
    let (queues, _) = reply.map_err(|_| ClientError::Shutdown)?;
    Ok(queues.into_iter().filter(user_queue).collect())
}

/// The committable offsets of user queues in a [`Command::consumer_state`] reply.
pub(crate) fn committable_of(
    reply: Result<ConsumerState, oneshot::Canceled>,
) -> Result<BTreeMap<MessageQueue, i64>, LitePullError> {
    let (_, offsets) = reply.map_err(|_| ClientError::Shutdown)?;
    Ok(offsets.into_iter().filter(|(q, _)| user_queue(q)).collect())
}

/// The close report from a [`LiteState::close_commands`] reply: a client already gone closed
/// the consumer too.
pub(crate) fn close_report_of(
    reply: Result<Result<ConsumerCloseReport, ClientError>, oneshot::Canceled>,
) -> Result<ConsumerCloseReport, LitePullError> {
    match reply {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(ClientError::Shutdown)) | Err(_) => Ok(ConsumerCloseReport::default()),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// A lite pull consumer of an async client (Java `DefaultLitePullConsumer`): `subscribe` or
/// `assign`, then `poll`.
///
/// Offsets: a delivery is acked only once its messages were returned by `poll` (at once with
/// auto-commit, at the next `commit()` without it), so a committed offset never passes a
/// message `poll` has not returned. Unpolled messages stay in the core's process queues, whose
/// flow control bounds the buffer.
pub struct LitePullConsumer<R> {
    client: Client<R>,
    state: LiteState,
}

/// Dropping it closes the consumer as [`LitePullConsumer::shutdown`] does, without waiting.
impl<R> Drop for LitePullConsumer<R> {
    fn drop(&mut self) {
        if let Some((close, abandon, _)) = self.state.close_commands() {
            let _ = self.client.try_send_command(close);
            let _ = self.client.try_send_command(abandon);
        }
    }
}

impl<R> fmt::Debug for LitePullConsumer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LitePullConsumer")
            .field("group", &self.state.group())
            .field("mode", &self.state.mode())
            .field("id", &self.state.id())
            .finish()
    }
}

impl<R: crate::Runtime> Client<R> {
    /// A lite pull consumer; it starts with its first `subscribe` or `assign`.
    pub fn create_lite_pull_consumer(
        &self,
        config: ConsumerConfig,
        options: LitePullOptions,
    ) -> LitePullConsumer<R> {
        LitePullConsumer {
            client: self.clone(),
            state: LiteState::new(config, options),
        }
    }
}

impl<R: crate::Runtime> LitePullConsumer<R> {
    /// The consumer group.
    pub fn group(&self) -> &str {
        self.state.group()
    }

    /// The options.
    pub fn options(&self) -> &LitePullOptions {
        self.state.options()
    }

    /// The consumer's id inside the client, once started.
    pub fn id(&self) -> Option<ConsumerId> {
        self.state.id()
    }

    async fn start(
        &mut self,
        subscriptions: Vec<Subscription>,
    ) -> Result<ConsumerId, LitePullError> {
        let (command, rx, events) = self.state.start_command(subscriptions);
        self.client.send(command).await?;
        self.state.started_with(rx.await, events)
    }

    /// Subscribes `topic` with a tag `expression` (`"*"`, `"a || b"`); its queues are
    /// rebalanced within the group. Called again, it adds a topic (or changes the expression
    /// of one) on the running consumer.
    pub async fn subscribe(&mut self, topic: &str, expression: &str) -> Result<(), LitePullError> {
        let subscription = Subscription::tag(topic, expression)
            .map_err(|e| LitePullError::Subscription(e.to_string()))?;
        self.subscribe_with(subscription).await
    }

    /// [`LitePullConsumer::subscribe`] with any filter: a tag expression
    /// ([`Subscription::tag`]) or SQL92 over message properties ([`Subscription::sql92`],
    /// which needs a broker with `enablePropertyFilter`), as Java's
    /// `subscribe(topic, MessageSelector)`.
    pub async fn subscribe_with(
        &mut self,
        subscription: Subscription,
    ) -> Result<(), LitePullError> {
        match self.state.subscription(subscription)? {
            Subscribe::Start(sub) => {
                self.start(vec![sub]).await?;
                self.state.set_mode(LiteMode::Subscribe);
            }
            Subscribe::Add(command) => self.client.send(command).await?,
        }
        Ok(())
    }

    /// Drops `topic`: its queues are released (their offsets committed) and nothing more of
    /// it is polled.
    pub async fn unsubscribe(&mut self, topic: &str) -> Result<(), LitePullError> {
        let command = self.state.unsubscribe_command(topic)?;
        self.client.send(command).await?;
        Ok(())
    }

    /// Takes exactly `queues` (no rebalance); a later `assign` replaces them.
    pub async fn assign(&mut self, queues: Vec<MessageQueue>) -> Result<(), LitePullError> {
        let id = match self.state.assign_target()? {
            Some(id) => id,
            None => self.start(assign_subscriptions(&queues)?).await?,
        };
        let command = self.state.assign_command(id, queues);
        self.client.send(command).await?;
        Ok(())
    }

    /// Messages that arrived (at most [`LitePullOptions::pull_batch_size`]), waiting up to
    /// `timeout` for some; empty when none came in time. Paused queues give nothing.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<MessageExt>, LitePullError> {
        self.state.started()?;
        let deadline = self.client.runtime().now() + timeout;
        loop {
            if let Some((messages, acks)) = self.state.ready()? {
                for ack in acks {
                    self.client.send(ack).await?;
                }
                return Ok(messages);
            }
            if self.client.runtime().now() >= deadline {
                return Ok(Vec::new());
            }
            let timer = self.client.runtime().timer(deadline);
            let Some(events) = self.state.events() else {
                return Err(LitePullError::NotStarted);
            };
            let next = match future::select(events.next(), timer).await {
                Either::Left((event, _)) => Some(event),
                Either::Right(((), _)) => None,
            };
            if let Some(event) = next {
                self.state.absorb_next(event);
            }
        }
    }

    /// [`LitePullConsumer::poll`] with [`LitePullOptions::poll_timeout`].
    pub async fn poll_default(&mut self) -> Result<Vec<MessageExt>, LitePullError> {
        let timeout = self.state.options().poll_timeout;
        self.poll(timeout).await
    }

    /// Moves `queue`'s position to `offset`: what was buffered of it is dropped, the next
    /// messages polled from it start there, and the committed offset follows (also
    /// backwards).
    /// Messages of the queue that arrived before the seek are never returned after it. Fails
    /// (and changes nothing) when the queue is not held or `offset` is negative.
    pub async fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), LitePullError> {
        let (command, rx) = self.state.seek_command(queue, offset)?;
        self.client.send(command).await?;
        reply_result(rx.await)?;
        self.state.seek_started(queue);
        Ok(())
    }

    /// How rebalances changed this subscribed consumer's queues since the last call, oldest
    /// first: per topic, its share from then on (Java's `MessageQueueListener`). Does not
    /// wait; every event already arrived is taken in (messages stay buffered for `poll`).
    pub fn queue_changes(&mut self) -> Vec<QueueChange> {
        self.state.queue_changes()
    }

    /// Commits now and waits until the brokers answered: without auto-commit, first settles
    /// every message `poll` returned.
    pub async fn commit(&mut self) -> Result<(), LitePullError> {
        let (command, rx) = self.state.commit_command()?;
        self.client.send(command).await?;
        reply_result(rx.await)?;
        Ok(())
    }

    /// Stops pulling and returning messages of `queues` until [`LitePullConsumer::resume`].
    pub async fn pause(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
        let command = self.state.pause_command(queues)?;
        self.client.send(command).await?;
        Ok(())
    }

    /// Resumes paused queues.
    pub async fn resume(&mut self, queues: &[MessageQueue]) -> Result<(), LitePullError> {
        let command = self.state.resume_command(queues)?;
        self.client.send(command).await?;
        Ok(())
    }

    /// The queues held now (assigned, or rebalanced to this consumer); empty before start.
    pub async fn assignment(&self) -> Result<Vec<MessageQueue>, LitePullError> {
        let Some((command, rx)) = self.state.state_command() else {
            return Ok(Vec::new());
        };
        self.client.send(command).await?;
        assignment_of(rx.await)
    }

    /// The offsets that would be committed now, per queue.
    pub async fn committable(&self) -> Result<BTreeMap<MessageQueue, i64>, LitePullError> {
        let Some((command, rx)) = self.state.state_command() else {
            return Ok(BTreeMap::new());
        };
        self.client.send(command).await?;
        committable_of(rx.await)
    }

    /// Closes the consumer: with auto-commit, what was polled is committed; without it, what
    /// was polled and not committed is consumed again later. Buffered messages not polled
    /// are consumed again.
    pub async fn shutdown(mut self) -> Result<ConsumerCloseReport, LitePullError> {
        // Unpolled and uncommitted deliveries are abandoned: their messages stay unsettled.
        let Some((close, abandon, rx)) = self.state.close_commands() else {
            return Ok(ConsumerCloseReport::default());
        };
        if self.client.send(close).await.is_err() {
            return Ok(ConsumerCloseReport::default());
        }
        let _ = self.client.send(abandon).await;
        self.state.end_events();
        close_report_of(rx.await)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rocketwire_core::message::Message;

    fn mq(id: i32) -> MessageQueue {
        MessageQueue::new("T", "b", id)
    }

    /// A stored message of queue `q` at `offset`.
    pub(crate) fn ext(q: i32, offset: i64) -> MessageExt {
        let host: std::net::SocketAddr = ([127, 0, 0, 1], 10911).into();
        MessageExt {
            message: Message::new("T", "x"),
            store_size: 0,
            body_crc: 0,
            queue_id: q,
            queue_offset: offset,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            offset_msg_id: String::new(),
        }
    }

    fn delivery(d: u64, q: i32, offsets: &[i64]) -> ConsumerEvent {
        let messages = offsets.iter().map(|o| ext(q, *o)).collect();
        ConsumerEvent::Deliver {
            delivery: DeliveryId(d),
            queue: mq(q),
            messages,
        }
    }

    fn offsets(messages: &[MessageExt]) -> Vec<(i32, i64)> {
        messages
            .iter()
            .map(|m| (m.queue_id, m.queue_offset))
            .collect()
    }

    #[test]
    fn auto_commit_acks_what_poll_returns_within_the_batch() {
        let options = LitePullOptions::default().with_pull_batch_size(3);
        let mut b = LiteBuffer::new(&options);
        b.absorb(delivery(1, 0, &[0, 1]));
        b.absorb(delivery(2, 1, &[0, 1]));
        b.absorb(delivery(3, 0, &[2]));
        let (m, acks) = b.take();
        assert_eq!(
            offsets(&m),
            vec![(0, 0), (0, 1)],
            "the next delivery would pass 3"
        );
        assert_eq!(acks, vec![DeliveryId(1)]);
        let (m, acks) = b.take();
        assert_eq!(offsets(&m), vec![(1, 0), (1, 1), (0, 2)]);
        assert_eq!(acks, vec![DeliveryId(2), DeliveryId(3)]);
        assert!(b.take().0.is_empty());
        assert!(b.take_uncommitted().is_empty());
    }

    #[test]
    fn manual_commit_settles_only_at_commit() {
        let options = LitePullOptions::default().with_auto_commit(false);
        let mut b = LiteBuffer::new(&options);
        b.absorb(delivery(1, 0, &[0]));
        b.absorb(delivery(2, 1, &[0]));
        let (m, acks) = b.take();
        assert_eq!(m.len(), 2);
        assert!(acks.is_empty(), "nothing acked before commit");
        assert_eq!(b.take_uncommitted(), vec![DeliveryId(1), DeliveryId(2)]);
        assert!(b.take_uncommitted().is_empty());
    }

    #[test]
    fn paused_queues_are_skipped_and_kept() {
        let mut b = LiteBuffer::new(&LitePullOptions::default());
        b.absorb(delivery(1, 0, &[0]));
        b.absorb(delivery(2, 1, &[0]));
        b.pause(&[mq(0)]);
        let (m, _) = b.take();
        assert_eq!(offsets(&m), vec![(1, 0)]);
        assert!(b.take().0.is_empty());
        assert_eq!(b.buffered(), 1);
        b.resume(&[mq(0)]);
        assert_eq!(offsets(&b.take().0), vec![(0, 0)]);
    }

    #[test]
    fn seek_marker_drops_stale_deliveries_of_its_queue_only() {
        let options = LitePullOptions::default().with_auto_commit(false);
        let mut b = LiteBuffer::new(&options);
        b.absorb(delivery(1, 0, &[5]));
        let _ = b.take();
        b.absorb(delivery(2, 0, &[6]));
        b.absorb(delivery(3, 1, &[0]));
        b.absorb(ConsumerEvent::Seeked { queue: mq(0) });
        b.absorb(delivery(4, 0, &[0]));
        let (m, _) = b.take();
        assert_eq!(offsets(&m), vec![(1, 0), (0, 0)]);
        assert_eq!(b.take_uncommitted(), vec![DeliveryId(3), DeliveryId(4)]);
    }

    /// A seek the core applied: deliveries of the queue already held, and those still on
    /// their way before its `Seeked` event, never reach `poll`; two seeks wait for two events.
    #[test]
    fn deliveries_between_a_seek_and_its_event_are_dropped() {
        let mut b = LiteBuffer::new(&LitePullOptions::default());
        b.absorb(delivery(1, 0, &[5]));
        b.absorb(delivery(2, 1, &[0]));
        b.seek_started(&mq(0));
        b.seek_started(&mq(0));
        b.absorb(delivery(3, 0, &[6]));
        b.absorb(ConsumerEvent::Seeked { queue: mq(0) });
        b.absorb(delivery(4, 0, &[0]));
        b.absorb(ConsumerEvent::Seeked { queue: mq(0) });
        b.absorb(delivery(5, 0, &[1]));
        let (m, acks) = b.take();
        assert_eq!(offsets(&m), vec![(1, 0), (0, 1)]);
        assert_eq!(acks, vec![DeliveryId(2), DeliveryId(5)]);
    }

    #[test]
    fn drain_notices_the_end_of_the_stream() {
        let (tx, mut rx) = mpsc::unbounded();
        let mut b = LiteBuffer::new(&LitePullOptions::default());
        tx.unbounded_send(delivery(1, 0, &[0])).unwrap();
        b.drain(&mut rx);
        assert!(!b.ended());
        drop(tx);
        b.drain(&mut rx);
        assert!(b.ended());
        assert_eq!(
            b.take().0.len(),
            1,
            "what came before the end is still polled"
        );
    }

    #[test]
    fn options_apply_java_defaults() {
        let o = LitePullOptions::default();
        assert_eq!(
            (
                o.pull_batch_size,
                o.poll_timeout,
                o.auto_commit,
                o.auto_commit_interval
            ),
            (10, Duration::from_secs(5), true, Duration::from_secs(5))
        );
        let c = o.apply(ConsumerConfig::default());
        assert_eq!((c.pull_batch_size, c.consume_batch_max_size), (10, 10));
        assert_eq!(c.persist_interval, Duration::from_secs(5));
        let subs = assign_subscriptions(&[mq(0), mq(1), MessageQueue::new("U", "b", 0)]).unwrap();
        assert_eq!(subs.len(), 2);
        assert!(!user_queue(&MessageQueue::new("%RETRY%g", "b", 0)));
    }
}
