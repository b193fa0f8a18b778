//! Push consumers: what the shell hands a consumer's dispatcher ([`ConsumerEvent`]), the
//! broadcasting offset file ([`OffsetStore`]), and the async [`PushConsumer`] handle.
//!
//! ```text
//! core ─ Event::Deliver ─► Shell ─ sink ─► handler tasks (≤ concurrency at once, in order)
//!                                                └──────── Command::Ack ─► core
//! core ─ Event::PersistLocalOffsets ─► Shell ─ sink ─► dispatcher ─► OffsetStore (tmp, fsync, rename)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::future::Future;
use std::io::{self, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::{FutureExt, StreamExt};
use rocketwire_core::body::{MessageModel, MessageQueue};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::MessageExt;
use rocketwire_core::{
    ClientError, ClientIdCollision, ConsumeDirectlyToken, ConsumeOutcome, ConsumerCloseReport,
    ConsumerError, ConsumerId, ConsumerRefusal, DeliveryId,
};
use tracing::Instrument;

use crate::bounded::Bounded;
use crate::client::Client;
use crate::close_on_drop::CloseOnDrop;
use crate::observe;
use crate::shell::Command;
pub use crate::shell::ConsumerEvent;
use crate::shell::{ConsumerSink, TakeEvents};

/// Java's default consume thread count (`consumeThreadMin`/`Max` = 20).
pub const DEFAULT_CONSUME_CONCURRENCY: usize = 20;

/// Settings of a push consumer's adapter side (the protocol settings are in
/// [`ConsumerConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushConsumerOptions {
    /// Most handler calls at once (default 20, like Java's consume thread pool).
    pub concurrency: usize,
    /// Root of broadcasting offset files: `<dir>/<clientId>/<group>/offsets.json` (default
    /// `~/.rocketwire_offsets`). The client id includes the instance name: set
    /// [`rocketwire_core::ClientConfig::instance_name`] for offsets that survive a restart.
    pub offset_dir: PathBuf,
}

impl Default for PushConsumerOptions {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            concurrency: DEFAULT_CONSUME_CONCURRENCY,
            offset_dir: home.join(".rocketwire_offsets"),
        }
    }
}

impl PushConsumerOptions {
    /// Sets [`PushConsumerOptions::concurrency`] (0 is taken as 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets [`PushConsumerOptions::offset_dir`].
    pub fn with_offset_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.offset_dir = dir.into();
        self
    }
}

/// Why a push consumer did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerStartError {
    /// The core refused the consumer (no subscription, shut down).
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// The broadcasting offset file could not be read or is corrupt.
    #[error("offset file {path}: {reason}")]
    OffsetFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The client is gone.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The offset file of one broadcasting consumer: `offsets.json` written as a temp file,
/// fsynced and renamed over the old one, whose previous content is kept as `offsets.json.bak`.
#[derive(Debug)]
pub struct OffsetStore {
    path: PathBuf,
    /// The `seq` of the last content written.
    written: Mutex<Option<u64>>,
}

impl OffsetStore {
    /// The store of `group` under `dir` for client `client_id` (Java's layout).
    pub fn new(dir: &Path, client_id: &str, group: &str) -> Self {
        Self::at(dir.join(client_id).join(group).join("offsets.json"))
    }

    /// A store at an explicit file path.
    pub fn at(path: PathBuf) -> Self {
        Self {
            path,
            written: Mutex::new(None),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backup_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".bak");
        PathBuf::from(name)
    }

    /// The saved content: the file, else its backup when the file is missing; `None` when
    /// neither exists. The content is checked by the core at consumer creation.
    pub fn load(&self) -> Result<Option<Vec<u8>>, ConsumerStartError> {
        for path in [self.path.clone(), self.backup_path()] {
            match fs::read(&path) {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ConsumerStartError::OffsetFile {
                        path,
                        reason: e.to_string(),
                    })
                }
            }
        }
        Ok(None)
    }

    /// Writes `content` unless a later `seq` was already written.
    pub fn save(&self, seq: u64, content: &[u8]) -> io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.is_some_and(|w| w >= seq) {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(content)?;
            file.sync_all()?;
        }
        if self.path.exists() {
            fs::copy(&self.path, self.backup_path())?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            // Make the rename durable where directories can be opened (not on Windows).
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        *written = Some(seq);
        Ok(())
    }
}

/// A broadcasting consumer's offset store and the content it holds.
pub(crate) type OpenedStore = (Option<Arc<OffsetStore>>, Option<Vec<u8>>);

/// Reads the offset file of a broadcasting consumer, or `None` for clustering.
pub(crate) fn open_store(
    config: &ConsumerConfig,
    options: &PushConsumerOptions,
    client_id: &str,
) -> Result<OpenedStore, ConsumerStartError> {
    if config.message_model != MessageModel::Broadcasting {
        return Ok((None, None));
    }
    let store = OffsetStore::new(&options.offset_dir, client_id, &config.group);
    let content = store.load()?;
    Ok((Some(Arc::new(store)), content))
}

/// Maps the core's refusal of a broadcasting consumer's file to an error naming the file.
pub(crate) fn start_error(error: ConsumerError, store: Option<&OffsetStore>) -> ConsumerStartError {
    match (error, store) {
        (ConsumerError::OffsetFile(e), Some(store)) => ConsumerStartError::OffsetFile {
            path: store.path().to_path_buf(),
            reason: e.to_string(),
        },
        (e, _) => ConsumerStartError::Consumer(e),
    }
}

/// Writes a persist event, logging a failure (the next persist tries again).
pub(crate) fn persist(store: Option<&OffsetStore>, seq: u64, content: &[u8]) {
    if let Some(store) = store {
        if let Err(e) = store.save(seq, content) {
            tracing::warn!(path = %store.path().display(), error = %e, "offset file not written");
        }
    }
}

/// The outcome of a handler that panicked or failed: consume again later.
pub const FAILED_OUTCOME: ConsumeOutcome = ConsumeOutcome::ReconsumeLater { delay_level: 0 };

/// A push consumer of an async client. Messages go to the handler given at creation;
/// [`PushConsumer::shutdown`] closes it gracefully.
///
/// Dropping it closes the consumer as [`PushConsumer::shutdown`] does (queues released,
/// offsets persisted, unregistered), without waiting: handlers still running finish first.
pub struct PushConsumer<R> {
    client: Client<R>,
    id: ConsumerId,
    group: String,
    /// Resolves (canceled) once the dispatcher has ended.
    dispatcher_done: oneshot::Receiver<()>,
    close: CloseOnDrop,
}

impl<R> fmt::Debug for PushConsumer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConsumer")
            .field("id", &self.id)
            .field("group", &self.group)
            .finish()
    }
}

impl<R> PushConsumer<R> {
    /// The consumer's id inside the client.
    pub fn id(&self) -> ConsumerId {
        self.id
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The queues this consumer holds now.
    pub async fn assigned_queues(&self) -> Result<Vec<MessageQueue>, ClientError> {
        let (command, rx) = Command::consumer_state(self.id);
        self.client.send(command).await?;
        rx.await
            .map(|(queues, _)| queues)
            .map_err(|_| ClientError::Shutdown)
    }

    /// Another client of this consumer's group with this client's id, while there is one
    /// (the consumer checks with each rebalance; see
    /// [`rocketwire_core::ClientIdCollision`]). Two members with one id split the group's
    /// queues wrongly: give each client its own `instance_name`.
    pub async fn client_id_collision(&self) -> Result<Option<ClientIdCollision>, ClientError> {
        let (command, rx) = Command::client_id_collision(self.id);
        self.client.send(command).await?;
        rx.await.map_err(|_| ClientError::Shutdown)
    }

    /// The broker's refusal of this consumer for lack of permission (wrong credentials, an
    /// ACL not granting its group or topic), until a request of the refused kind succeeds
    /// (see [`rocketwire_core::ConsumerRefusal`]). A refused consumer gets no messages.
    pub async fn refusal(&self) -> Result<Option<ConsumerRefusal>, ClientError> {
        let (command, rx) = Command::consumer_refusal(self.id);
        self.client.send(command).await?;
        rx.await.map_err(|_| ClientError::Shutdown)
    }

    /// The offsets this consumer would commit now, per queue.
    pub async fn offsets(&self) -> Result<BTreeMap<MessageQueue, i64>, ClientError> {
        let (command, rx) = Command::consumer_state(self.id);
        self.client.send(command).await?;
        rx.await
            .map(|(_, offsets)| offsets)
            .map_err(|_| ClientError::Shutdown)
    }

    /// Subscribes another topic while running, or changes the expression of one (Java
    /// `subscribe` after `start`): the brokers learn it from a heartbeat sent now and the
    /// consumer rebalances at once.
    pub async fn subscribe(&self, subscription: Subscription) -> Result<(), ClientError> {
        let command = Command::subscribe(self.id, subscription);
        self.client.send(command).await
    }

    /// Drops `topic` while running: its queues are released with their offsets committed.
    pub async fn unsubscribe(&self, topic: &str) -> Result<(), ClientError> {
        let command = Command::unsubscribe(self.id, topic);
        self.client.send(command).await
    }

    /// Closes the consumer: stops pulling, lets deliveries out with the handler finish until
    /// `drain_timeout` (then abandons them: they will be consumed again), persists offsets,
    /// unlocks and unregisters. A client already shut down gives an empty report.
    pub async fn shutdown(
        mut self,
        drain_timeout: Duration,
    ) -> Result<ConsumerCloseReport, ClientError> {
        self.close.disarm();
        let (command, rx) = Command::close_consumer(self.id);
        if self.client.send(command).await.is_err() {
            return Ok(ConsumerCloseReport::default());
        }
        let deadline = self.client.runtime().now() + drain_timeout;
        let timer = self.client.runtime().timer(deadline);
        let received = match future::select(rx, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(((), rx)) => {
                let _ = self
                    .client
                    .send(Command::AbandonDeliveries { consumer: self.id })
                    .await;
                rx.await
            }
        };
        // The last offset file is written by the dispatcher before it ends.
        let _ = (&mut self.dispatcher_done).await;
        closed(received)
    }
}

fn closed(
    received: Result<Result<ConsumerCloseReport, ClientError>, oneshot::Canceled>,
) -> Result<ConsumerCloseReport, ClientError> {
    match received {
        Ok(Err(ClientError::Shutdown)) | Err(oneshot::Canceled) => {
            Ok(ConsumerCloseReport::default())
        }
        Ok(result) => result,
    }
}

impl<R: crate::Runtime> Client<R> {
    /// Starts a push consumer whose messages go to `handler` (at most 20 calls at once). A
    /// handler that panics counts as [`ConsumeOutcome::ReconsumeLater`] with level 0.
    pub async fn create_push_consumer<H, F>(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        handler: H,
    ) -> Result<PushConsumer<R>, ConsumerStartError>
    where
        H: Fn(Vec<MessageExt>) -> F + Send + Sync + 'static,
        F: Future<Output = ConsumeOutcome> + Send + 'static,
    {
        self.create_push_consumer_with(
            config,
            subscriptions,
            PushConsumerOptions::default(),
            handler,
        )
        .await
    }

    /// [`Client::create_push_consumer`] with adapter-side options.
    pub async fn create_push_consumer_with<H, F>(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        options: PushConsumerOptions,
        handler: H,
    ) -> Result<PushConsumer<R>, ConsumerStartError>
    where
        H: Fn(Vec<MessageExt>) -> F + Send + Sync + 'static,
        F: Future<Output = ConsumeOutcome> + Send + 'static,
    {
        let (store, local) = open_store(&config, &options, self.client_id())?;
        let group = config.group.clone();
        let handlers = Arc::new(Handlers {
            client: self.clone(),
            handler: Arc::new(handler),
            group: Arc::from(group.as_str()),
            tasks: Bounded::new(self.runtime().clone(), options.concurrency),
        });
        let (events, events_rx) = mpsc::unbounded();
        let sink = ConsumerSink::new(PushSink {
            handlers: handlers.clone(),
            events,
            queued: false,
        });
        let (command, rx) = Command::create_consumer(config, subscriptions, local, sink);
        self.send(command).await?;
        let id = match rx.await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return Err(start_error(e, store.as_deref())),
            Err(_) => return Err(ClientError::Shutdown.into()),
        };
        let (done_tx, dispatcher_done) = oneshot::channel::<()>();
        let dispatcher = dispatch(handlers, events_rx, store);
        self.runtime().spawn(Box::pin(async move {
            dispatcher.await;
            drop(done_tx);
        }));
        let close = self.close_on_drop(move || Command::close_consumer(id).0);
        Ok(PushConsumer {
            client: self.clone(),
            id,
            group,
            dispatcher_done,
            close,
        })
    }
}

/// A push consumer's handler and the tasks that run it, at most the consumer's concurrency
/// at once, in delivery order.
struct Handlers<R, H> {
    client: Client<R>,
    handler: Arc<H>,
    group: Arc<str>,
    tasks: Bounded,
}

impl<R, H, F> Handlers<R, H>
where
    R: crate::Runtime,
    H: Fn(Vec<MessageExt>) -> F + Send + Sync + 'static,
    F: Future<Output = ConsumeOutcome> + Send + 'static,
{
    /// Runs the handler on a delivery; its outcome acks the delivery.
    fn deliver(&self, delivery: DeliveryId, queue: MessageQueue, messages: Vec<MessageExt>) {
        self.queue(delivery, queue, messages);
        self.tasks.start();
    }

    /// [`Handlers::deliver`] without starting a handler task: [`Bounded::start`] does.
    fn queue(&self, delivery: DeliveryId, queue: MessageQueue, messages: Vec<MessageExt>) {
        let (handler, client) = (self.handler.clone(), self.client.clone());
        let group = self.group.clone();
        self.tasks.queue(async move {
            let topic = messages
                .first()
                .map(|m| m.topic().to_owned())
                .unwrap_or_default();
            let count = messages.len();
            let span = tracing::debug_span!(
                "rocketwire.consume",
                group = %group,
                topic = %topic,
                broker = %queue.broker_name,
                queue = queue.queue_id,
                messages = count,
            );
            let started = client.runtime().now();
            let (outcome, label) =
                match AssertUnwindSafe(async { handler(messages).await }.instrument(span))
                    .catch_unwind()
                    .await
                {
                    Ok(outcome) => {
                        let label = observe::outcome_label(&outcome);
                        (outcome, label)
                    }
                    Err(_) => {
                        tracing::warn!(?delivery, "consumer handler panicked");
                        (FAILED_OUTCOME, "panicked")
                    }
                };
            let took = client.runtime().now().saturating_duration_since(started);
            observe::consumed(&group, &topic, count, took, label);
            let _ = client.send(Command::Ack { delivery, outcome }).await;
        });
    }

    /// Runs the handler on CONSUME_MESSAGE_DIRECTLY's messages and answers `token`; not
    /// counted against the concurrency: an admin's one-off request.
    fn consume_directly(&self, token: ConsumeDirectlyToken, messages: Vec<MessageExt>) {
        let (handler, client) = (self.handler.clone(), self.client.clone());
        self.client.runtime().spawn(Box::pin(async move {
            let started = client.runtime().now();
            let outcome = AssertUnwindSafe(async { handler(messages).await })
                .catch_unwind()
                .await
                .ok();
            let spent = client.runtime().now().saturating_duration_since(started);
            let command = Command::answer_consume_directly(token, outcome, spent);
            let _ = client.send(command).await;
        }));
    }
}

/// A push consumer's [`ConsumerSink`]: deliveries queued for the handlers, started after
/// each burst; the other events to the dispatcher.
struct PushSink<R, H> {
    handlers: Arc<Handlers<R, H>>,
    events: mpsc::UnboundedSender<ConsumerEvent>,
    /// Deliveries were queued since the last flush.
    queued: bool,
}

impl<R, H, F> TakeEvents for PushSink<R, H>
where
    R: crate::Runtime,
    H: Fn(Vec<MessageExt>) -> F + Send + Sync + 'static,
    F: Future<Output = ConsumeOutcome> + Send + 'static,
{
    fn take(&mut self, event: ConsumerEvent) -> bool {
        match event {
            ConsumerEvent::Deliver {
                delivery,
                queue,
                messages,
            } => {
                self.handlers.queue(delivery, queue, messages);
                self.queued = true;
                true
            }
            other => self.events.unbounded_send(other).is_ok(),
        }
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.queued) {
            self.handlers.tasks.start();
        }
    }
}

/// Runs until the shell drops the consumer's sink (close finished or client shut down): the
/// consumer's events other than deliveries, which the sink hands to the handlers itself.
async fn dispatch<R, H, F>(
    handlers: Arc<Handlers<R, H>>,
    mut events: mpsc::UnboundedReceiver<ConsumerEvent>,
    store: Option<Arc<OffsetStore>>,
) where
    R: crate::Runtime,
    H: Fn(Vec<MessageExt>) -> F + Send + Sync + 'static,
    F: Future<Output = ConsumeOutcome> + Send + 'static,
{
    while let Some(event) = events.next().await {
        match event {
            ConsumerEvent::PersistOffsets { seq, content } => {
                persist(store.as_deref(), seq, &content)
            }
            ConsumerEvent::Seeked { .. } | ConsumerEvent::QueuesChanged(_) => {}
            ConsumerEvent::ConsumeDirectly { token, messages } => {
                handlers.consume_directly(token, messages)
            }
            ConsumerEvent::Deliver {
                delivery,
                queue,
                messages,
            } => handlers.deliver(delivery, queue, messages),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rocketwire_offsets_{name}_{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn offset_store_writes_keeps_a_backup_and_skips_stale_contents() {
        let dir = temp_dir("store");
        let store = OffsetStore::new(&dir, "127.0.0.1@x", "g");
        assert_eq!(store.load().expect("no file is fine"), None);
        store.save(1, b"one").expect("write");
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"one"[..]));
        store.save(3, b"three").expect("write");
        store.save(2, b"two").expect("stale is skipped");
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"three"[..]));
        assert_eq!(fs::read(store.backup_path()).unwrap(), b"one");
        assert!(store
            .path()
            .ends_with(Path::new("127.0.0.1@x").join("g").join("offsets.json")));
        // The main file gone: the backup is read.
        fs::remove_file(store.path()).unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some(&b"one"[..]));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let store = OffsetStore::at(PathBuf::from("offsets.json"));
        let error =
            rocketwire_core::consumer::decode_offset_file(b"{not json").expect_err("corrupt");
        match start_error(ConsumerError::OffsetFile(error), Some(&store)) {
            ConsumerStartError::OffsetFile { path, .. } => {
                assert_eq!(path, PathBuf::from("offsets.json"))
            }
            other => panic!("expected an offset file error, got {other:?}"),
        }
    }
}
