//! [`PushConsumer`] and [`TransactionProducer`] of the blocking client: handlers and
//! listeners run on bounded pools of worker threads.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::StreamExt;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, SendError};
use rocketwire_core::{
    ClientError, ConsumeOutcome, ConsumerCloseReport, ConsumerId, ProducerId, TransactionSendResult,
};
use rocketwire_driver::{
    block_on, consume_directly_response, open_store, persist, run_check, run_execute,
    shutdown_error, start_error, CloseOnDrop, Command, ConsumerEvent, ConsumerStartError,
    PushConsumerOptions, TransactionCheck, TransactionListener, DEFAULT_CHECK_CONCURRENCY,
    FAILED_OUTCOME,
};

use crate::driver::{wait, wait_until};
use crate::Client;

/// Starts `n` threads that take items from `rx` one at a time and run `work` on them, until
/// the sender is dropped.
fn spawn_pool<T: Send + 'static>(
    name: &str,
    n: usize,
    rx: mpsc::UnboundedReceiver<T>,
    work: Arc<dyn Fn(T) + Send + Sync>,
) -> Result<Vec<JoinHandle<()>>, ClientError> {
    let rx = Arc::new(Mutex::new(rx));
    (0..n.max(1))
        .map(|i| {
            let (rx, work) = (rx.clone(), work.clone());
            thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // One thread waits on the channel at a time; the others wait on the lock.
                    let item = {
                        let mut rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
                        block_on(rx.next())
                    };
                    match item {
                        Some(item) => work(item),
                        None => return,
                    }
                })
                .map_err(|e| ClientError::InvalidArgument(format!("cannot start a thread: {e}")))
        })
        .collect()
}

/// A push consumer of a blocking client; its handler runs on its own worker threads.
///
/// Dropping it closes the consumer as [`PushConsumer::shutdown`] does (queues released,
/// offsets persisted, unregistered), without waiting: handlers still running finish first,
/// and the worker threads end by themselves.
#[derive(Debug)]
pub struct PushConsumer {
    client: Client,
    id: ConsumerId,
    group: String,
    workers: Vec<JoinHandle<()>>,
    close: CloseOnDrop,
}

impl Client {
    /// Starts a push consumer whose messages go to `handler`, run on 20 worker threads. A
    /// handler that panics counts as [`ConsumeOutcome::ReconsumeLater`] with level 0.
    pub fn create_push_consumer<H>(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        handler: H,
    ) -> Result<PushConsumer, ConsumerStartError>
    where
        H: Fn(&[MessageExt]) -> ConsumeOutcome + Send + Sync + 'static,
    {
        self.create_push_consumer_with(
            config,
            subscriptions,
            PushConsumerOptions::default(),
            handler,
        )
    }

    /// [`Client::create_push_consumer`] with adapter-side options (worker count, offset
    /// file directory).
    pub fn create_push_consumer_with<H>(
        &self,
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        options: PushConsumerOptions,
        handler: H,
    ) -> Result<PushConsumer, ConsumerStartError>
    where
        H: Fn(&[MessageExt]) -> ConsumeOutcome + Send + Sync + 'static,
    {
        let (store, local) = open_store(&config, &options, self.client_id())?;
        let group = config.group.clone();
        let (events, events_rx) = mpsc::unbounded();
        let (command, rx) = Command::create_consumer(config, subscriptions, local, events);
        self.submit(command)?;
        let id = match wait(rx) {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return Err(start_error(e, store.as_deref())),
            Err(_) => return Err(ClientError::Shutdown.into()),
        };
        let client = self.clone();
        let work = move |event: ConsumerEvent| match event {
            ConsumerEvent::PersistOffsets { seq, content } => {
                persist(store.as_deref(), seq, &content)
            }
            ConsumerEvent::ConsumeDirectly {
                token,
                request,
                messages,
                orderly,
            } => {
                let started = Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| handler(&messages))).ok();
                let response =
                    consume_directly_response(&request, outcome, started.elapsed(), orderly);
                let _ = client.submit(Command::answer(token, response).0);
            }
            ConsumerEvent::Deliver {
                delivery, messages, ..
            } => {
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| handler(&messages))).unwrap_or_else(|_| {
                        tracing::warn!(?delivery, "consumer handler panicked");
                        FAILED_OUTCOME
                    });
                let _ = client.submit(Command::Ack { delivery, outcome });
            }
            #[allow(unreachable_patterns)]
            _ => {}
        };
        let workers = spawn_pool(
            "rocketwire-consume",
            options.concurrency,
            events_rx,
            Arc::new(work),
        )?;
        Ok(PushConsumer {
            client: self.clone(),
            id,
            group,
            workers,
            close: self.close_on_drop(move || Command::close_consumer(id).0),
        })
    }

    /// Registers a transactional producer: `listener` runs each local transaction (on the
    /// sending thread) and answers the broker's checks (on
    /// [`DEFAULT_CHECK_CONCURRENCY`] threads).
    pub fn create_transaction_producer<L: TransactionListener>(
        &self,
        config: ProducerConfig,
        listener: L,
    ) -> Result<TransactionProducer, ClientError> {
        let listener: Arc<dyn TransactionListener> = Arc::new(listener);
        let (checks, checks_rx) = mpsc::unbounded();
        let id = self.call(Command::create_transaction_producer(config, checks))?;
        let (client, checker) = (self.clone(), listener.clone());
        let work = move |check: TransactionCheck| {
            let state = run_check(checker.as_ref(), &check.message);
            let _ = client.submit(Command::AnswerCheck {
                token: check.token,
                state,
            });
        };
        spawn_pool(
            "rocketwire-tx-check",
            DEFAULT_CHECK_CONCURRENCY,
            checks_rx,
            Arc::new(work),
        )?;
        Ok(TransactionProducer {
            client: self.clone(),
            id,
            listener,
        })
    }
}

impl PushConsumer {
    /// The consumer's id inside the client.
    pub fn id(&self) -> ConsumerId {
        self.id
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The queues this consumer holds now.
    pub fn assigned_queues(&self) -> Result<Vec<MessageQueue>, ClientError> {
        let (command, rx) = Command::consumer_state(self.id);
        self.client.submit(command)?;
        wait(rx).map(|(q, _)| q).map_err(|_| ClientError::Shutdown)
    }

    /// The offsets this consumer would commit now, per queue.
    pub fn offsets(&self) -> Result<BTreeMap<MessageQueue, i64>, ClientError> {
        let (command, rx) = Command::consumer_state(self.id);
        self.client.submit(command)?;
        wait(rx).map(|(_, o)| o).map_err(|_| ClientError::Shutdown)
    }

    /// Subscribes another topic while running, or changes the expression of one (Java
    /// `subscribe` after `start`): the brokers learn it from a heartbeat sent now and the
    /// consumer rebalances at once.
    pub fn subscribe(&self, subscription: Subscription) -> Result<(), ClientError> {
        self.client
            .submit(Command::subscribe(self.id, subscription))
    }

    /// Drops `topic` while running: its queues are released with their offsets committed.
    pub fn unsubscribe(&self, topic: &str) -> Result<(), ClientError> {
        self.client.submit(Command::unsubscribe(self.id, topic))
    }

    /// Closes the consumer: stops pulling, lets handlers finish until `drain_timeout` (then
    /// abandons their deliveries: they will be consumed again), persists offsets, unlocks and
    /// unregisters, then joins the worker threads. Do not call it from the handler.
    pub fn shutdown(mut self, drain_timeout: Duration) -> Result<ConsumerCloseReport, ClientError> {
        self.close.disarm();
        let (command, mut rx) = Command::close_consumer(self.id);
        if self.client.submit(command).is_err() {
            return Ok(ConsumerCloseReport::default());
        }
        let received = match wait_until(&mut rx, Instant::now() + drain_timeout) {
            Some(received) => received,
            None => {
                let _ = self
                    .client
                    .submit(Command::AbandonDeliveries { consumer: self.id });
                wait(rx)
            }
        };
        let me = thread::current().id();
        for worker in self.workers {
            if worker.thread().id() != me {
                let _ = worker.join();
            }
        }
        match received {
            Ok(Err(ClientError::Shutdown)) | Err(oneshot::Canceled) => {
                Ok(ConsumerCloseReport::default())
            }
            Ok(result) => result,
        }
    }
}

/// A transactional producer of a blocking client.
#[derive(Clone)]
pub struct TransactionProducer {
    client: Client,
    id: ProducerId,
    listener: Arc<dyn TransactionListener>,
}

impl std::fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("id", &self.id)
            .finish()
    }
}

impl TransactionProducer {
    /// The producer's id inside the client.
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// Sends `message` as a half message, runs the listener's `execute` on this thread once
    /// it is stored and ends the transaction with its answer.
    pub fn send_in_transaction(
        &self,
        message: Message,
    ) -> Result<TransactionSendResult, SendError> {
        let permit = block_on(self.client.in_flight().acquire(message.body.len()));
        let (command, execute, result) =
            Command::send_transactional(self.id, message, Some(permit));
        self.client.submit(command).map_err(|_| shutdown_error())?;
        let result = match block_on(future::select(execute, result)) {
            Either::Left((Ok(local), result)) => {
                let state = run_execute(self.listener.as_ref(), &local.message);
                let command = Command::EndLocalTransaction {
                    token: local.token,
                    state,
                    remark: None,
                };
                self.client.submit(command).map_err(|_| shutdown_error())?;
                wait(result)
            }
            Either::Left((Err(oneshot::Canceled), result)) => wait(result),
            Either::Right((result, _)) => result,
        };
        result.unwrap_or_else(|_| Err(shutdown_error()))
    }

    /// Closes the producer: waits for its sends to end, unregisters it from the brokers.
    pub fn shutdown(self) -> Result<(), ClientError> {
        let (command, rx) = Command::close_producer(self.id);
        if self.client.submit(command).is_err() {
            return Ok(());
        }
        wait(rx).unwrap_or(Ok(()))
    }
}
