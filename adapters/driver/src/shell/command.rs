//! The commands user handles send to the [`Shell`](super::Shell), each with the reply channel
//! its result goes back on.

use super::*;

/// What one send carries: a message or a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum SendPayload {
    /// One message ([`ClientCore::send`]).
    One(Message),
    /// A batch of one topic ([`ClientCore::send_batch`]).
    Batch(Vec<Message>),
}

impl SendPayload {
    /// The topic (a batch has one).
    pub fn topic(&self) -> &str {
        match self {
            SendPayload::One(m) => &m.topic,
            SendPayload::Batch(ms) => ms.first().map_or("", |m| m.topic.as_str()),
        }
    }

    /// Body bytes, as counted by the in-flight bound.
    pub fn body_len(&self) -> usize {
        match self {
            SendPayload::One(m) => m.body.len(),
            SendPayload::Batch(ms) => ms.iter().map(|m| m.body.len()).sum(),
        }
    }
}

/// Where the result of a send goes.
#[derive(Debug)]
pub enum SendReply {
    /// A send whose broker answer is awaited ([`Event::Send`]).
    Stored(oneshot::Sender<Result<SendResult, SendError>>),
    /// A oneway send, done once written ([`Event::OnewaySent`]).
    Written(oneshot::Sender<Result<(), SendError>>),
}

impl SendReply {
    pub(super) fn fail(self, error: SendError) {
        match self {
            SendReply::Stored(tx) => drop(tx.send(Err(error))),
            SendReply::Written(tx) => drop(tx.send(Err(error))),
        }
    }
}

/// A user request to the loop that owns the [`Shell`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// [`ClientCore::query_route`].
    QueryRoute {
        /// Topic.
        topic: String,
        /// Gets the route.
        reply: Reply<TopicRouteData>,
    },
    /// [`ClientCore::invoke`].
    Invoke {
        /// `host:port`.
        addr: String,
        /// The request.
        command: RemotingCommand,
        /// Its timeout.
        timeout: Duration,
        /// Gets the response, whatever its code.
        reply: Reply<RemotingCommand>,
    },
    /// [`ClientCore::invoke_oneway`].
    InvokeOneway {
        /// `host:port`.
        addr: String,
        /// The request.
        command: RemotingCommand,
        /// Gets `Ok` once the request is handed to the core.
        reply: Reply<()>,
    },
    /// [`ClientCore::answer`].
    Answer {
        /// Which request.
        token: AnswerToken,
        /// The answer.
        response: RemotingCommand,
        /// Gets `Ok` once the answer is handed to the core.
        reply: Reply<()>,
    },
    /// Take the next broker→client request (waits for one); `None` after shutdown.
    NextRequest {
        /// Gets the request.
        reply: oneshot::Sender<Option<IncomingRequest>>,
    },
    /// [`ClientCore::create_producer`].
    CreateProducer {
        /// Settings (boxed: a rare command need not size every send's).
        config: Box<ProducerConfig>,
        /// Decides where [`SendTarget::Default`] sends go.
        selector: QueueSelector,
        /// Gets the producer's id.
        reply: Reply<ProducerId>,
    },
    /// [`ClientCore::send`] or [`ClientCore::send_batch`].
    Send {
        /// Which producer.
        producer: ProducerId,
        /// The message(s).
        payload: SendPayload,
        /// Where to.
        target: SendTarget,
        /// Sync or async (only the attempt count differs); a [`SendReply::Written`] reply
        /// makes it oneway.
        mode: SendMode,
        /// Gets the result.
        reply: SendReply,
        /// In-flight room, released when the result arrives.
        permit: Option<Permit>,
    },
    /// [`ClientCore::close_producer`]; the reply comes with [`Event::ProducerClosed`].
    CloseProducer {
        /// Which producer.
        producer: ProducerId,
        /// Gets `Ok` once the producer is closed.
        reply: Reply<()>,
    },
    /// [`ClientCore::create_consumer`]; deliveries and offset files go to `events`.
    CreateConsumer {
        /// Settings (boxed: the largest command otherwise).
        config: Box<ConsumerConfig>,
        /// What to consume.
        subscriptions: Vec<Subscription>,
        /// Broadcasting: the offset file content.
        local_offsets: Option<Vec<u8>>,
        /// Gets the consumer's events until it is closed.
        events: ConsumerSink,
        /// A lite pull consumer (no handler: CONSUME_MESSAGE_DIRECTLY is not run for it, and
        /// its deliveries are tracked for [`Command::Seek`]).
        lite: bool,
        /// Gets the consumer's id.
        reply: oneshot::Sender<Result<ConsumerId, ConsumerError>>,
    },
    /// [`ClientCore::subscribe`].
    Subscribe {
        /// Which consumer.
        consumer: ConsumerId,
        /// The subscription to add (or the new expression of its topic).
        subscription: Subscription,
    },
    /// [`ClientCore::unsubscribe`].
    Unsubscribe {
        /// Which consumer.
        consumer: ConsumerId,
        /// The topic to drop.
        topic: String,
    },
    /// [`ClientCore::assign`].
    Assign {
        /// Which consumer.
        consumer: ConsumerId,
        /// The queues it holds from now on.
        queues: Vec<MessageQueue>,
    },
    /// [`ClientCore::seek`]: the core gives up the queue's deliveries still out, and its
    /// `Seeked` event, forwarded as [`ConsumerEvent::Seeked`], tells the consumer to drop
    /// what it still holds of the queue.
    Seek {
        /// Which consumer.
        consumer: ConsumerId,
        /// Which queue.
        queue: MessageQueue,
        /// The new position.
        offset: i64,
        /// `Ok` once the core moved the queue (its `Seeked` event is then on its way), or
        /// why it refused.
        reply: Reply<()>,
    },
    /// [`ClientCore::answer_consume_directly`]: a handler ran a CONSUME_MESSAGE_DIRECTLY.
    AnswerConsumeDirectly {
        /// Answers the broker.
        token: ConsumeDirectlyToken,
        /// The handler's outcome; `None` when it panicked.
        outcome: Option<ConsumeOutcome>,
        /// How long it took.
        spent: Duration,
    },
    /// [`ClientCore::pause`].
    Pause {
        /// Which consumer.
        consumer: ConsumerId,
        /// The queues.
        queues: Vec<MessageQueue>,
    },
    /// [`ClientCore::resume`].
    Resume {
        /// Which consumer.
        consumer: ConsumerId,
        /// The queues.
        queues: Vec<MessageQueue>,
    },
    /// Acks `settle` as [`ConsumeOutcome::Success`], then [`ClientCore::commit_offsets`]; the
    /// reply comes with [`Event::OffsetsCommitted`].
    CommitOffsets {
        /// Which consumer.
        consumer: ConsumerId,
        /// Deliveries to settle first.
        settle: Vec<DeliveryId>,
        /// Gets `Ok` once the brokers answered.
        reply: Reply<()>,
    },
    /// [`ClientCore::ack`].
    Ack {
        /// Which delivery.
        delivery: DeliveryId,
        /// The handler's outcome.
        outcome: ConsumeOutcome,
    },
    /// [`ClientCore::close_consumer`]; the reply comes with [`Event::ConsumerClosed`].
    CloseConsumer {
        /// Which consumer.
        consumer: ConsumerId,
        /// Gets the report.
        reply: Reply<ConsumerCloseReport>,
    },
    /// [`ClientCore::abandon_deliveries`] (the drain deadline of a close passed).
    AbandonDeliveries {
        /// Which consumer.
        consumer: ConsumerId,
    },
    /// [`ClientCore::client_id_collision`].
    ClientIdCollision {
        /// Which consumer.
        consumer: ConsumerId,
        /// Gets it.
        reply: oneshot::Sender<Option<ClientIdCollision>>,
    },
    /// [`ClientCore::consumer_refusal`].
    ConsumerRefusal {
        /// Which consumer.
        consumer: ConsumerId,
        /// Gets it.
        reply: oneshot::Sender<Option<ConsumerRefusal>>,
    },
    /// [`ClientCore::assigned_queues`] and [`ClientCore::consumer_offsets`].
    ConsumerState {
        /// Which consumer.
        consumer: ConsumerId,
        /// Gets them.
        reply: oneshot::Sender<ConsumerState>,
    },
    /// [`ClientCore::create_producer`] for a transactional producer; broker checks of its
    /// group go to `checks`.
    CreateTransactionProducer {
        /// Settings (boxed, as for [`Command::CreateProducer`]).
        config: Box<ProducerConfig>,
        /// Gets the checks.
        checks: mpsc::UnboundedSender<TransactionCheck>,
        /// Gets the producer's id.
        reply: Reply<ProducerId>,
    },
    /// [`ClientCore::send_transactional`].
    SendTransactional {
        /// Which producer.
        producer: ProducerId,
        /// The message.
        message: Message,
        /// Gets the local transaction to run once the half message is stored.
        execute: oneshot::Sender<LocalTransaction>,
        /// Gets the result.
        reply: TransactionReply,
        /// In-flight room, released when the result arrives.
        permit: Option<Permit>,
    },
    /// [`ClientCore::request_reply`].
    Request {
        /// Which producer sends the request.
        producer: ProducerId,
        /// The request message.
        message: Message,
        /// How long to wait for the reply.
        timeout: Duration,
        /// Gets the reply.
        reply: oneshot::Sender<Result<MessageExt, RequestError>>,
    },
    /// [`ClientCore::end_local_transaction`].
    EndLocalTransaction {
        /// Which transaction.
        token: LocalTransactionToken,
        /// Its state.
        state: TransactionState,
        /// Why it failed, if it did.
        remark: Option<String>,
    },
    /// [`ClientCore::answer_transaction_check`].
    AnswerCheck {
        /// Which check.
        token: TransactionCheckToken,
        /// The state.
        state: TransactionState,
    },
    /// Sign every request from now on with `credentials` (`None`: unsigned); every
    /// connection is closed and opened again, as servers authenticate a connection once
    /// ([`ClientCore::set_credentials`]).
    SetCredentials {
        /// The new credentials.
        credentials: Option<Credentials>,
        /// Gets `Ok` once they are in use.
        reply: Reply<()>,
    },
    /// Shut down gracefully ([`ClientCore::shutdown`]): consumers and producers close first,
    /// deliveries out get until `drain` to be acked, then every connection closes; the
    /// reply comes when every IO task has ended.
    Shutdown {
        /// How long handlers may finish the deliveries they hold.
        drain: Duration,
        /// Gets `Ok` at the end.
        reply: Reply<()>,
    },
    /// Subscribe to the client's events ([`ClientCore::poll_notice`]) from now on.
    SubscribeEvents(Subscriber),
}

impl Command {
    /// A [`Command::SetCredentials`] and the receiver of its result.
    pub fn set_credentials(credentials: Option<Credentials>) -> (Self, ReplyReceiver<()>) {
        with_reply(|reply| Command::SetCredentials { credentials, reply })
    }

    /// A [`Command::QueryRoute`] and the receiver of its result.
    pub fn query_route(topic: &str) -> (Self, ReplyReceiver<TopicRouteData>) {
        with_reply(|reply| Command::QueryRoute {
            topic: topic.to_owned(),
            reply,
        })
    }

    /// A [`Command::Invoke`] and the receiver of its result.
    pub fn invoke(
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> (Self, ReplyReceiver<RemotingCommand>) {
        with_reply(|reply| Command::Invoke {
            addr: addr.to_owned(),
            command,
            timeout,
            reply,
        })
    }

    /// A [`Command::InvokeOneway`] and the receiver of its result.
    pub fn invoke_oneway(addr: &str, command: RemotingCommand) -> (Self, ReplyReceiver<()>) {
        with_reply(|reply| Command::InvokeOneway {
            addr: addr.to_owned(),
            command,
            reply,
        })
    }

    /// A [`Command::Answer`] and the receiver of its result.
    pub fn answer(token: AnswerToken, response: RemotingCommand) -> (Self, ReplyReceiver<()>) {
        with_reply(|reply| Command::Answer {
            token,
            response,
            reply,
        })
    }

    /// A [`Command::AnswerConsumeDirectly`] of a handler's `outcome` (`None`: it panicked)
    /// after `spent`.
    pub fn answer_consume_directly(
        token: ConsumeDirectlyToken,
        outcome: Option<ConsumeOutcome>,
        spent: Duration,
    ) -> Self {
        Command::AnswerConsumeDirectly {
            token,
            outcome,
            spent,
        }
    }

    /// A [`Command::SubscribeEvents`] and the subscription.
    pub fn subscribe_events() -> (Self, ClientEvents) {
        let (subscriber, events) = ClientEvents::channel();
        (Command::SubscribeEvents(subscriber), events)
    }

    /// A [`Command::NextRequest`] and the receiver of its result.
    pub fn next_request() -> (Self, oneshot::Receiver<Option<IncomingRequest>>) {
        with_reply(|reply| Command::NextRequest { reply })
    }

    /// A [`Command::CreateProducer`] and the receiver of its result.
    pub fn create_producer(
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> (Self, ReplyReceiver<ProducerId>) {
        with_reply(|reply| Command::CreateProducer {
            config: Box::new(config),
            selector,
            reply,
        })
    }

    /// A [`Command::Send`] waiting for the broker's answer, and the handle of its result.
    /// [`SendMode::Oneway`] is taken as [`SendMode::Async`] here: oneway sends are made with
    /// [`Command::send_oneway`].
    pub fn send(
        producer: ProducerId,
        payload: SendPayload,
        target: SendTarget,
        mode: SendMode,
        permit: Option<Permit>,
    ) -> (Self, SendHandle) {
        let (tx, rx) = oneshot::channel();
        let mode = match mode {
            SendMode::Oneway => SendMode::Async,
            m => m,
        };
        let command = Command::Send {
            producer,
            payload,
            target,
            mode,
            reply: SendReply::Stored(tx),
            permit,
        };
        (command, SendHandle::new(rx))
    }

    /// A oneway [`Command::Send`] of one message, and the handle of its result.
    pub fn send_oneway(
        producer: ProducerId,
        message: Message,
        target: SendTarget,
        permit: Option<Permit>,
    ) -> (Self, SendHandle<()>) {
        let (tx, rx) = oneshot::channel();
        let command = Command::Send {
            producer,
            payload: SendPayload::One(message),
            target,
            mode: SendMode::Oneway,
            reply: SendReply::Written(tx),
            permit,
        };
        (command, SendHandle::new(rx))
    }

    /// A [`Command::CloseProducer`] and the receiver of its result.
    pub fn close_producer(producer: ProducerId) -> (Self, ReplyReceiver<()>) {
        with_reply(|reply| Command::CloseProducer { producer, reply })
    }

    /// A [`Command::CreateConsumer`] and the receiver of its result.
    pub fn create_consumer(
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        local_offsets: Option<Vec<u8>>,
        events: ConsumerSink,
    ) -> (Self, oneshot::Receiver<Result<ConsumerId, ConsumerError>>) {
        with_reply(|reply| Command::CreateConsumer {
            config: Box::new(config),
            subscriptions,
            local_offsets,
            events,
            lite: false,
            reply,
        })
    }

    /// A [`Command::CreateConsumer`] of a lite pull consumer and the receiver of its result.
    pub fn create_lite_consumer(
        config: ConsumerConfig,
        subscriptions: Vec<Subscription>,
        events: mpsc::UnboundedSender<ConsumerEvent>,
    ) -> (Self, oneshot::Receiver<Result<ConsumerId, ConsumerError>>) {
        with_reply(|reply| Command::CreateConsumer {
            config: Box::new(config),
            subscriptions,
            local_offsets: None,
            events: ConsumerSink::channel(events),
            lite: true,
            reply,
        })
    }

    /// A [`Command::CommitOffsets`] and the receiver of its result.
    pub fn commit_offsets(
        consumer: ConsumerId,
        settle: Vec<DeliveryId>,
    ) -> (Self, ReplyReceiver<()>) {
        with_reply(|reply| Command::CommitOffsets {
            consumer,
            settle,
            reply,
        })
    }

    /// A [`Command::CloseConsumer`] and the receiver of its report.
    pub fn close_consumer(consumer: ConsumerId) -> (Self, ReplyReceiver<ConsumerCloseReport>) {
        with_reply(|reply| Command::CloseConsumer { consumer, reply })
    }

    /// A [`Command::Subscribe`].
    pub fn subscribe(consumer: ConsumerId, subscription: Subscription) -> Self {
        Command::Subscribe {
            consumer,
            subscription,
        }
    }

    /// A [`Command::Unsubscribe`].
    pub fn unsubscribe(consumer: ConsumerId, topic: &str) -> Self {
        let topic = topic.to_string();
        Command::Unsubscribe { consumer, topic }
    }

    /// A [`Command::ConsumerState`] and the receiver of its result.
    pub fn consumer_state(consumer: ConsumerId) -> (Self, oneshot::Receiver<ConsumerState>) {
        with_reply(|reply| Command::ConsumerState { consumer, reply })
    }

    /// A [`Command::ConsumerRefusal`] and the receiver of its answer.
    pub fn consumer_refusal(
        consumer: ConsumerId,
    ) -> (Self, oneshot::Receiver<Option<ConsumerRefusal>>) {
        with_reply(|reply| Command::ConsumerRefusal { consumer, reply })
    }

    /// A [`Command::ClientIdCollision`] and the receiver of its answer.
    pub fn client_id_collision(
        consumer: ConsumerId,
    ) -> (Self, oneshot::Receiver<Option<ClientIdCollision>>) {
        with_reply(|reply| Command::ClientIdCollision { consumer, reply })
    }

    /// A [`Command::CreateTransactionProducer`] and the receiver of its result.
    pub fn create_transaction_producer(
        config: ProducerConfig,
        checks: mpsc::UnboundedSender<TransactionCheck>,
    ) -> (Self, ReplyReceiver<ProducerId>) {
        with_reply(|reply| Command::CreateTransactionProducer {
            config: Box::new(config),
            checks,
            reply,
        })
    }

    /// A [`Command::Request`] and the receiver of its reply.
    pub fn request(
        producer: ProducerId,
        message: Message,
        timeout: Duration,
    ) -> (Self, oneshot::Receiver<Result<MessageExt, RequestError>>) {
        let (reply, rx) = oneshot::channel();
        let command = Command::Request {
            producer,
            message,
            timeout,
            reply,
        };
        (command, rx)
    }

    /// A [`Command::SendTransactional`], the receiver of its local transaction, and the
    /// receiver of its result.
    #[allow(clippy::type_complexity)]
    pub fn send_transactional(
        producer: ProducerId,
        message: Message,
        permit: Option<Permit>,
    ) -> (
        Self,
        oneshot::Receiver<LocalTransaction>,
        oneshot::Receiver<Result<TransactionSendResult, SendError>>,
    ) {
        let (execute, execute_rx) = oneshot::channel();
        let (reply, rx) = oneshot::channel();
        let command = Command::SendTransactional {
            producer,
            message,
            execute,
            reply,
            permit,
        };
        (command, execute_rx, rx)
    }

    /// A [`Command::Shutdown`] and the receiver of its result.
    pub fn shutdown(drain: Duration) -> (Self, ReplyReceiver<()>) {
        with_reply(|reply| Command::Shutdown { drain, reply })
    }
}

/// A command made with a fresh reply channel, and the receiver of that channel.
fn with_reply<T>(
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> (Command, oneshot::Receiver<T>) {
    let (reply, rx) = oneshot::channel();
    (make(reply), rx)
}

/// Answers a command that came after shutdown began: new operations fail at once; what
/// settles work already out is given back to be applied.
pub(super) fn refuse_after_shutdown(
    waiters: &mut Vec<Reply<()>>,
    command: Command,
) -> Option<Command> {
    match command {
        Command::QueryRoute { reply, .. } => refuse_shut_down(reply),
        Command::Invoke { reply, .. } => refuse_shut_down(reply),
        Command::InvokeOneway { reply, .. } | Command::Answer { reply, .. } => {
            refuse_shut_down(reply)
        }
        Command::CreateProducer { reply, .. } => refuse_shut_down(reply),
        Command::SetCredentials { reply, .. } => refuse_shut_down(reply),
        Command::Send { reply, .. } => reply.fail(shutdown_error()),
        Command::CloseProducer { reply, .. } => drop(reply.send(Ok(()))),
        Command::CreateConsumer { reply, .. } => drop(reply.send(Err(ConsumerError::Shutdown))),
        Command::CloseConsumer { reply, .. } => {
            drop(reply.send(Ok(ConsumerCloseReport::default())))
        }
        Command::ConsumerState { reply, .. } => drop(reply.send(Default::default())),
        Command::ClientIdCollision { reply, .. } => drop(reply.send(None)),
        Command::ConsumerRefusal { reply, .. } => drop(reply.send(None)),
        Command::CommitOffsets { reply, .. } => refuse_shut_down(reply),
        Command::CreateTransactionProducer { reply, .. } => refuse_shut_down(reply),
        Command::SendTransactional { reply, .. } => drop(reply.send(Err(shutdown_error()))),
        Command::Request { reply, .. } => {
            drop(reply.send(Err(RequestError::Send(shutdown_error()))))
        }
        // Settling what is out goes on while consumers and transactions close.
        command @ (Command::Ack { .. }
        | Command::AbandonDeliveries { .. }
        | Command::EndLocalTransaction { .. }
        | Command::AnswerCheck { .. }
        | Command::AnswerConsumeDirectly { .. }) => return Some(command),
        Command::Seek { reply, .. } => refuse_shut_down(reply),
        Command::Subscribe { .. }
        | Command::Unsubscribe { .. }
        | Command::Assign { .. }
        | Command::Pause { .. }
        | Command::Resume { .. } => {}
        Command::NextRequest { reply } => drop(reply.send(None)),
        // Dropped: the subscription ends at once.
        Command::SubscribeEvents(_) => {}
        Command::Shutdown { reply, .. } => waiters.push(reply),
    }
    None
}

/// Answers a command that came after shutdown began: [`ClientError::Shutdown`].
pub(super) fn refuse_shut_down<T>(reply: Reply<T>) {
    let _ = reply.send(Err(ClientError::Shutdown));
}
