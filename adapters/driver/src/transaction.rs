//! Transactional producers: [`TransactionListener`] and the async [`TransactionProducer`].
//!
//! ```text
//! send_in_transaction ─► Command::SendTransactional ─► half message stored
//!   ◄─ LocalTransaction (token) ── listener.execute on the caller's task ─► EndLocalTransaction
//!   ◄─ TransactionSendResult
//! broker CHECK_TRANSACTION_STATE ─► TransactionCheck ─► checker (bounded) ─► listener.check
//!                                                                        ─► AnswerCheck
//! ```

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::StreamExt;
use rocketwire_core::header::TransactionState;
use rocketwire_core::message::{Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, SendError};
use rocketwire_core::{ClientError, ProducerId, TransactionSendResult};

use crate::bounded::Bounded;
use crate::client::Client;
use crate::shell::{shutdown_error, Command};
pub use crate::shell::{LocalTransaction, TransactionCheck};

/// Most transaction checks run at once per producer by default.
pub const DEFAULT_CHECK_CONCURRENCY: usize = 4;

/// Decides transactions (Java `TransactionListener`). A call that panics counts as
/// [`TransactionState::Unknown`] (the broker checks again later).
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction of a half message just stored.
    fn execute(&self, message: &Message) -> TransactionState;
    /// Answers the broker's question about a half message whose state is unknown.
    fn check(&self, message: &MessageExt) -> TransactionState;
}

impl<T: TransactionListener + ?Sized> TransactionListener for Arc<T> {
    fn execute(&self, message: &Message) -> TransactionState {
        (**self).execute(message)
    }
    fn check(&self, message: &MessageExt) -> TransactionState {
        (**self).check(message)
    }
}

/// `listener.execute`, a panic counting as Unknown.
pub fn run_execute(listener: &dyn TransactionListener, message: &Message) -> TransactionState {
    catch_unwind(AssertUnwindSafe(|| listener.execute(message))).unwrap_or_else(|_| {
        tracing::warn!("transaction listener panicked in execute");
        TransactionState::Unknown
    })
}

/// `listener.check`, a panic counting as Unknown.
pub fn run_check(listener: &dyn TransactionListener, message: &MessageExt) -> TransactionState {
    catch_unwind(AssertUnwindSafe(|| listener.check(message))).unwrap_or_else(|_| {
        tracing::warn!("transaction listener panicked in check");
        TransactionState::Unknown
    })
}

/// A transactional producer of an async client.
pub struct TransactionProducer<R> {
    client: Client<R>,
    id: ProducerId,
    listener: Arc<dyn TransactionListener>,
}

impl<R> Clone for TransactionProducer<R> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            id: self.id,
            listener: self.listener.clone(),
        }
    }
}

impl<R> fmt::Debug for TransactionProducer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("id", &self.id)
            .finish()
    }
}

impl<R> TransactionProducer<R> {
    /// The producer's id inside the client.
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// Sends `message` as a half message, runs the listener's `execute` on it once stored
    /// and ends the transaction with its answer (Java `sendMessageInTransaction`).
    pub async fn send_in_transaction(
        &self,
        message: Message,
    ) -> Result<TransactionSendResult, SendError> {
        let permit = self.client.in_flight().acquire(message.body.len()).await;
        let (command, execute, result) =
            Command::send_transactional(self.id, message, Some(permit));
        self.client
            .send(command)
            .await
            .map_err(|_| shutdown_error())?;
        let result = match future::select(execute, result).await {
            Either::Left((Ok(local), result)) => {
                let state = run_execute(self.listener.as_ref(), &local.message);
                let command = Command::EndLocalTransaction {
                    token: local.token,
                    state,
                    remark: None,
                };
                self.client
                    .send(command)
                    .await
                    .map_err(|_| shutdown_error())?;
                result.await
            }
            Either::Left((Err(oneshot::Canceled), result)) => result.await,
            Either::Right((result, _)) => result,
        };
        result.unwrap_or_else(|_| Err(shutdown_error()))
    }

    /// Closes the producer (as [`crate::Producer::shutdown`]).
    pub async fn shutdown(self) -> Result<(), ClientError> {
        let (command, rx) = Command::close_producer(self.id);
        if self.client.send(command).await.is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }
}

impl<R: crate::Runtime> Client<R> {
    /// Registers a transactional producer: `listener` runs each local transaction and
    /// answers the broker's checks (at most [`DEFAULT_CHECK_CONCURRENCY`] at once).
    pub async fn create_transaction_producer<L: TransactionListener>(
        &self,
        config: ProducerConfig,
        listener: L,
    ) -> Result<TransactionProducer<R>, ClientError> {
        let listener: Arc<dyn TransactionListener> = Arc::new(listener);
        let (checks, checks_rx) = mpsc::unbounded();
        let (command, rx) = Command::create_transaction_producer(config, checks);
        self.send(command).await?;
        let id = crate::shell::reply_result(rx.await)?;
        let checker = run_checks(
            self.clone(),
            checks_rx,
            DEFAULT_CHECK_CONCURRENCY,
            listener.clone(),
        );
        self.runtime().spawn(Box::pin(checker));
        Ok(TransactionProducer {
            client: self.clone(),
            id,
            listener,
        })
    }
}

/// Answers checks until the shell drops the sender, at most `limit` at once.
async fn run_checks<R: crate::Runtime>(
    client: Client<R>,
    mut checks: mpsc::UnboundedReceiver<TransactionCheck>,
    limit: usize,
    listener: Arc<dyn TransactionListener>,
) {
    let checkers = Bounded::new(client.runtime().clone(), limit);
    while let Some(check) = checks.next().await {
        let (task_client, listener) = (client.clone(), listener.clone());
        let task = async move {
            let state = run_check(listener.as_ref(), &check.message);
            let command = Command::AnswerCheck {
                token: check.token,
                state,
            };
            let _ = task_client.send(command).await;
        };
        checkers.spawn(task);
    }
}
