//! [`TransactionProducer`]: the shared transactional producer handle with blocking methods.

use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, SendError};
use rocketwire_core::{ClientError, ProducerId, TransactionSendResult};
use rocketwire_driver::{block_on, TransactionListener};

use crate::threads::Threads;
use crate::Client;

/// A transactional producer of a blocking client.
#[derive(Debug, Clone)]
pub struct TransactionProducer(rocketwire_driver::TransactionProducer<Threads>);

impl Client {
    /// Registers a transactional producer: `listener` runs each local transaction (on the
    /// sending thread) and answers the broker's checks (at most
    /// [`rocketwire_driver::DEFAULT_CHECK_CONCURRENCY`] at once, each on a thread of its own).
    pub fn create_transaction_producer<L: TransactionListener>(
        &self,
        config: ProducerConfig,
        listener: L,
    ) -> Result<TransactionProducer, ClientError> {
        block_on(self.0.create_transaction_producer(config, listener)).map(TransactionProducer)
    }
}

impl TransactionProducer {
    /// The producer's id inside the client.
    pub fn id(&self) -> ProducerId {
        self.0.id()
    }

    blocking! {
        /// Sends `message` as a half message, runs the listener's `execute` on this thread once
        /// it is stored and ends the transaction with its answer.
        fn send_in_transaction(&self, message: Message)
            -> Result<TransactionSendResult, SendError>;
        /// Closes the producer: waits for its sends to end, unregisters it from the brokers.
        fn shutdown(self) -> Result<(), ClientError>;
    }
}
