//! The conformance suite: the same assertions for every adapter, written once against
//! [`TestClient`]. An adapter's tests implement the trait (or use [`AsyncHarness`]) and call
//! [`crate::conformance_tests!`].

use std::future::Future;
use std::marker::PhantomData;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use rocketwire_core::body::{MessageQueue, TopicRouteData};
use rocketwire_core::client::AnswerToken;
use rocketwire_core::codec::RequestCode;
use rocketwire_core::message::{keys, Message};
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendError, SendResult, SendStatus};
use rocketwire_core::{
    ClientConfig, ClientError, IncomingRequest, InvokeError, Misuse, RemotingCommand, ResponseCode,
    RouteError,
};

use super::fake::{
    FakeServer, BROKER_NAME, BUSY_PROPERTY, DELAY_PROPERTY, FAKE_OFFSET_MSG_ID, PUSH_CODE, REMARK,
    TEST_CODE, TOPIC,
};
use crate::runtime::CurrentRuntime;
use crate::{Client, DriverOptions, Producer, SendHandle, TrySendError};

/// A client seen through blocking calls, so one suite serves async and blocking adapters.
pub trait TestClient: Clone + Send + Sync + 'static {
    /// Starts a client.
    fn start(config: ClientConfig, options: DriverOptions) -> Result<Self, ClientError>;
    /// `query_route`.
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError>;
    /// `invoke`.
    fn invoke(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError>;
    /// `invoke_ok`.
    fn invoke_ok(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError>;
    /// `invoke_oneway`.
    fn invoke_oneway(&self, addr: &str, command: RemotingCommand) -> Result<(), ClientError>;
    /// `next_request`.
    fn next_request(&self) -> Option<IncomingRequest>;
    /// `answer`.
    fn answer(&self, token: AnswerToken, response: RemotingCommand) -> Result<(), ClientError>;
    /// `shutdown`.
    fn shutdown(self) -> Result<(), ClientError>;
    /// `is_shut_down`.
    fn is_shut_down(&self) -> bool;
    /// The adapter's producer.
    type Producer: TestProducer;
    /// `create_producer_with_selector`.
    fn create_producer(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Self::Producer, ClientError>;
}

/// A producer seen through blocking calls.
pub trait TestProducer: Clone + Send + Sync + 'static {
    /// `send`.
    fn send(&self, message: Message) -> Result<SendResult, SendError>;
    /// `send_async`, waited for.
    fn send_async(&self, message: Message) -> Result<SendResult, SendError>;
    /// `send_oneway`.
    fn send_oneway(&self, message: Message) -> Result<(), SendError>;
    /// `send_batch_as_one`.
    fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError>;
    /// `send_batch`.
    fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>>;
    /// `send_to_queue`.
    fn send_to_queue(&self, message: Message, queue: MessageQueue)
        -> Result<SendResult, SendError>;
    /// `try_send`.
    fn try_send(&self, message: Message) -> Result<SendHandle, TrySendError>;
    /// `shutdown`.
    fn shutdown(self) -> Result<(), ClientError>;
}

/// Runs a future to completion on the calling thread (each async adapter's `block_on`).
pub trait Executor: Send + Sync + 'static {
    /// Runs `future` to completion.
    fn block_on<F: Future>(future: F) -> F::Output;
}

/// [`TestClient`] for the async [`Client`] on runtime `R`, driven by executor `E`.
#[derive(Debug)]
pub struct AsyncHarness<R, E> {
    client: Client<R>,
    _executor: PhantomData<fn() -> E>,
}

impl<R, E> Clone for AsyncHarness<R, E> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            _executor: PhantomData,
        }
    }
}

impl<R: CurrentRuntime, E: Executor> TestClient for AsyncHarness<R, E> {
    fn start(config: ClientConfig, options: DriverOptions) -> Result<Self, ClientError> {
        let client = E::block_on(Client::<R>::start_with_options(config, options))?;
        Ok(Self {
            client,
            _executor: PhantomData,
        })
    }
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        E::block_on(self.client.query_route(topic))
    }
    fn invoke(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        E::block_on(self.client.invoke(addr, command, timeout))
    }
    fn invoke_ok(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        E::block_on(self.client.invoke_ok(addr, command, timeout))
    }
    fn invoke_oneway(&self, addr: &str, command: RemotingCommand) -> Result<(), ClientError> {
        E::block_on(self.client.invoke_oneway(addr, command))
    }
    fn next_request(&self) -> Option<IncomingRequest> {
        E::block_on(self.client.next_request())
    }
    fn answer(&self, token: AnswerToken, response: RemotingCommand) -> Result<(), ClientError> {
        E::block_on(self.client.answer(token, response))
    }
    fn shutdown(self) -> Result<(), ClientError> {
        E::block_on(self.client.shutdown(SHUTDOWN_DRAIN))
    }
    fn is_shut_down(&self) -> bool {
        self.client.is_shut_down()
    }
    type Producer = AsyncProducer<R, E>;
    fn create_producer(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<Self::Producer, ClientError> {
        let producer = E::block_on(self.client.create_producer_with_selector(config, selector))?;
        Ok(AsyncProducer {
            producer,
            _executor: PhantomData,
        })
    }
}

/// [`TestProducer`] for the async [`Producer`] on runtime `R`, driven by executor `E`.
#[derive(Debug)]
pub struct AsyncProducer<R, E> {
    producer: Producer<R>,
    _executor: PhantomData<fn() -> E>,
}

impl<R, E> Clone for AsyncProducer<R, E> {
    fn clone(&self) -> Self {
        Self {
            producer: self.producer.clone(),
            _executor: PhantomData,
        }
    }
}

impl<R: CurrentRuntime, E: Executor> TestProducer for AsyncProducer<R, E> {
    fn send(&self, message: Message) -> Result<SendResult, SendError> {
        E::block_on(self.producer.send(message))
    }
    fn send_async(&self, message: Message) -> Result<SendResult, SendError> {
        E::block_on(self.producer.send_async(message))
    }
    fn send_oneway(&self, message: Message) -> Result<(), SendError> {
        E::block_on(self.producer.send_oneway(message))
    }
    fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError> {
        E::block_on(self.producer.send_batch_as_one(messages))
    }
    fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>> {
        E::block_on(self.producer.send_batch(messages))
    }
    fn send_to_queue(
        &self,
        message: Message,
        queue: MessageQueue,
    ) -> Result<SendResult, SendError> {
        E::block_on(self.producer.send_to_queue(message, queue))
    }
    fn try_send(&self, message: Message) -> Result<SendHandle, TrySendError> {
        self.producer.try_send(message)
    }
    fn shutdown(self) -> Result<(), ClientError> {
        E::block_on(self.producer.shutdown())
    }
}

/// Generates one `#[test]` per suite function for a [`TestClient`] type.
#[macro_export]
macro_rules! conformance_tests {
    ($client:ty) => {
        $crate::conformance_tests!(@each $client;
            route_query, out_of_order_responses, connection_closed_mid_request, timeout,
            connect_failed, invoke_ok_rejects, oneway_reaches_the_broker,
            broker_request_is_answered, unclaimed_broker_request_is_refused,
            shutdown_ends_everything, dropping_every_handle_shuts_down,
            producer_send_returns_the_brokers_header, producer_send_batch_splits,
            producer_retries_system_busy,
            producer_oneway_is_delivered, producer_shutdown_unregisters,
            dropping_the_last_producer_clone_unregisters,
            in_flight_sends_are_bounded, outgoing_queue_is_bounded, tls_round_trip,
            tls_untrusted_certificate_is_a_typed_error, tls_to_a_plain_server_is_a_handshake_error);
    };
    (@each $client:ty; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                $crate::test_support::$name::<$client>();
            }
        )*
    };
}

const LONG: Duration = Duration::from_secs(5);

/// How long the suite's clients give handlers at shutdown.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

fn setup<C: TestClient>(options: DriverOptions) -> (FakeServer, C) {
    let server = FakeServer::start().expect("fake server");
    let mut config = ClientConfig::new(vec![server.addr()]);
    config.request_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(2);
    let client = C::start(config, options).expect("client starts");
    (server, client)
}

fn request(body: &str) -> RemotingCommand {
    RemotingCommand::request_code(TEST_CODE).with_body(body.to_owned())
}

/// A route query returns the parsed route; an unknown topic is `TopicNotExist`.
pub fn route_query<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let route = client.query_route(TOPIC).expect("route");
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(route.queue_datas[0].broker_name, BROKER_NAME);
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(
        route.broker_datas[0].broker_addrs.get(&0),
        Some(&server.addr())
    );
    let err = client.query_route("NoSuchTopic").unwrap_err();
    assert!(
        matches!(&err, ClientError::Route(RouteError::TopicNotExist(t)) if t == "NoSuchTopic"),
        "{err:?}"
    );
    client.shutdown().expect("shutdown");
}

/// Responses are matched by opaque, not by order, on one multiplexed connection.
pub fn out_of_order_responses<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let addr = server.addr();
    let (c, a) = (client.clone(), addr.clone());
    let slow =
        thread::spawn(move || c.invoke(&a, request("slow").with_field("delayMs", "500"), LONG));
    thread::sleep(Duration::from_millis(100));
    let fast = client.invoke(&addr, request("fast"), LONG).expect("fast");
    assert_eq!(&fast.body[..], b"fast");
    assert!(
        !slow.is_finished(),
        "the slow answer must come after the fast one"
    );
    let slow = slow.join().expect("thread").expect("slow");
    assert_eq!(&slow.body[..], b"slow");
    assert_eq!(slow.response_code(), ResponseCode::Success);
    assert_eq!(server.log().accepted, 1, "one connection per address");
    client.shutdown().expect("shutdown");
}

/// A request whose connection the peer closes fails with `ConnectionClosed`; the next request
/// reconnects.
pub fn connection_closed_mid_request<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let addr = server.addr();
    let err = client
        .invoke(&addr, request("x").with_field("action", "close"), LONG)
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Invoke(InvokeError::ConnectionClosed { addr: addr.clone() })
    );
    let again = client
        .invoke(&addr, request("again"), LONG)
        .expect("reconnects");
    assert_eq!(&again.body[..], b"again");
    client.shutdown().expect("shutdown");
}

/// A request that gets no answer fails with `Timeout` at its deadline.
pub fn timeout<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let start = Instant::now();
    let timeout = Duration::from_millis(300);
    let err = client.invoke(
        &server.addr(),
        request("x").with_field("action", "silent"),
        timeout,
    );
    let elapsed = start.elapsed();
    assert_eq!(err, Err(ClientError::Invoke(InvokeError::Timeout)));
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    client.shutdown().expect("shutdown");
}

/// A refused connection fails with `ConnectFailed`.
pub fn connect_failed<C: TestClient>() {
    let (_server, client) = setup::<C>(DriverOptions::default());
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").to_string()
    };
    let err = client.invoke(&closed, request("x"), LONG).unwrap_err();
    assert!(
        matches!(&err, ClientError::Invoke(InvokeError::ConnectFailed { addr, .. }) if *addr == closed),
        "{err:?}"
    );
    client.shutdown().expect("shutdown");
}

/// `invoke` returns any response; `invoke_ok` maps a failure code to `Rejected`.
pub fn invoke_ok_rejects<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let addr = server.addr();
    let failing = || request("x").with_field("respCode", "1");
    let response = client.invoke(&addr, failing(), LONG).expect("any code");
    assert_eq!(response.code, 1);
    let err = client.invoke_ok(&addr, failing(), LONG).unwrap_err();
    assert_eq!(
        err,
        ClientError::Rejected {
            code: ResponseCode::from_code(1),
            remark: REMARK.into()
        }
    );
    assert_eq!(
        &client
            .invoke_ok(&addr, request("ok"), LONG)
            .expect("ok")
            .body[..],
        b"ok"
    );
    client.shutdown().expect("shutdown");
}

/// A oneway request reaches the broker flagged oneway.
pub fn oneway_reaches_the_broker<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    client
        .invoke_oneway(&server.addr(), request("one"))
        .expect("oneway");
    assert!(server.wait_for(LONG, |log| log
        .received
        .iter()
        .any(|c| &c.body[..] == b"one" && c.is_oneway())));
    client.shutdown().expect("shutdown");
}

/// A broker→client request is delivered by `next_request` and its answer reaches the broker.
pub fn broker_request_is_answered<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let c = client.clone();
    let handler = thread::spawn(move || {
        let request = c.next_request().expect("a request");
        assert_eq!(request.command.code, PUSH_CODE);
        assert_eq!(&request.command.body[..], b"ping");
        let token = request.token.clone().expect("expects an answer");
        let response =
            RemotingCommand::response_to(&request.command, ResponseCode::Success).with_body("pong");
        c.answer(token, response).expect("answer");
    });
    let response = client.invoke(
        &server.addr(),
        request("ping").with_field("action", "push"),
        LONG,
    );
    handler.join().expect("handler");
    let response = response.expect("response");
    assert_eq!(response.response_code(), ResponseCode::Success);
    assert_eq!(&response.body[..], b"pong");
    client.shutdown().expect("shutdown");
}

/// A broker→client request nobody takes is answered `SYSTEM_ERROR` after the hold time.
pub fn unclaimed_broker_request_is_refused<C: TestClient>() {
    let hold = Duration::from_millis(200);
    let options = DriverOptions::default().with_unclaimed_request_timeout(hold);
    let (server, client) = setup::<C>(options);
    let start = Instant::now();
    let response = client
        .invoke(
            &server.addr(),
            request("ping").with_field("action", "push"),
            LONG,
        )
        .expect("response");
    assert!(start.elapsed() >= hold);
    assert_eq!(response.response_code(), ResponseCode::SystemError);
    assert!(response.remark.unwrap_or_default().contains("no handler"));
    client.shutdown().expect("shutdown");
}

/// `shutdown` fails pending requests, closes every connection, ends the driver, and leaves
/// other handles failing with `Shutdown`.
pub fn shutdown_ends_everything<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let addr = server.addr();
    client
        .invoke(&addr, request("warm"), LONG)
        .expect("connected");
    let other = client.clone();
    let (c, a) = (client.clone(), addr.clone());
    let pending =
        thread::spawn(move || c.invoke(&a, request("x").with_field("action", "silent"), LONG));
    let c = client.clone();
    let waiting = thread::spawn(move || c.next_request());
    thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    client.shutdown().expect("shutdown");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(
        other.is_shut_down(),
        "driver ended before shutdown returned"
    );
    assert_eq!(pending.join().expect("thread"), Err(ClientError::Shutdown));
    assert_eq!(waiting.join().expect("thread"), None);
    assert_eq!(other.query_route(TOPIC).unwrap_err(), ClientError::Shutdown);
    assert_eq!(other.next_request(), None);
    assert!(server.wait_for(LONG, |log| log.accepted >= 1 && log.closed == log.accepted));
    assert_eq!(other.clone().shutdown(), Ok(()), "shutdown is idempotent");
}

/// Dropping every handle shuts the client down and closes its connections.
pub fn dropping_every_handle_shuts_down<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    client
        .invoke(&server.addr(), request("warm"), LONG)
        .expect("connected");
    drop(client);
    assert!(server.wait_for(LONG, |log| log.accepted == 1 && log.closed == 1));
}

fn producer<C: TestClient>(client: &C, group: &str) -> C::Producer {
    let config = ProducerConfig::builder(group)
        .build()
        .expect("valid config");
    client
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer")
}

fn is_send(c: &RemotingCommand) -> bool {
    matches!(
        c.request_code_typed(),
        RequestCode::SendMessage | RequestCode::SendMessageV2 | RequestCode::SendBatchMessage
    )
}

/// The `UNIQ_KEY` in a send request's properties (long or short header names).
fn sent_uniq_key(c: &RemotingCommand) -> Option<String> {
    let properties = c.field("properties").or_else(|| c.field("i"))?;
    properties.split('\u{2}').find_map(|pair| {
        let (k, v) = pair.split_once('\u{1}')?;
        (k == keys::UNIQ_KEY).then(|| v.to_owned())
    })
}

/// Sync, async, to-queue and batch sends come back `SEND_OK` with the broker's header; the
/// producer was heartbeated with its group.
pub fn producer_send_returns_the_brokers_header<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let producer = producer(&client, "rw_suite_group");
    let sent = producer
        .send(Message::new(TOPIC, "hello"))
        .expect("sync send");
    assert_eq!(sent.status, SendStatus::SendOk);
    assert_eq!(sent.offset_msg_id, FAKE_OFFSET_MSG_ID);
    assert_eq!(sent.message_queue.topic, TOPIC);
    assert_eq!(sent.message_queue.broker_name, BROKER_NAME);
    assert!((0..4).contains(&sent.message_queue.queue_id));
    let log = server.log();
    let request = log.received.iter().find(|c| is_send(c)).expect("a send");
    assert_eq!(
        sent_uniq_key(request).as_deref(),
        Some(sent.msg_id.as_str())
    );
    assert_eq!(&request.body[..], b"hello");
    assert!(log
        .received
        .iter()
        .any(|c| c.request_code_typed() == RequestCode::HeartBeat
            && String::from_utf8_lossy(&c.body).contains("rw_suite_group")));

    let sent = producer
        .send_async(Message::new(TOPIC, "async"))
        .expect("async send");
    assert_eq!(sent.status, SendStatus::SendOk);

    let queue = MessageQueue::new(TOPIC, BROKER_NAME, 3);
    let first = producer
        .send_to_queue(Message::new(TOPIC, "q3"), queue.clone())
        .expect("to queue");
    let second = producer
        .send_to_queue(Message::new(TOPIC, "q3"), queue.clone())
        .expect("to queue");
    assert_eq!(first.message_queue, queue);
    assert_eq!(
        second.queue_offset,
        first.queue_offset + 1,
        "the fake's per-queue offsets"
    );

    let batch = (0..3)
        .map(|i| Message::new(TOPIC, format!("b{i}")))
        .collect();
    let sent = producer.send_batch_as_one(batch).expect("batch");
    assert_eq!(sent.msg_id.split(',').count(), 3, "{}", sent.msg_id);
    assert!(server
        .log()
        .received
        .iter()
        .any(|c| c.request_code_typed() == RequestCode::SendBatchMessage));
    producer.shutdown().expect("producer shutdown");
    client.shutdown().expect("shutdown");
}

/// `send_batch` sends a batch that fits as one request and a batch over the producer's
/// `max_message_size` as several, each message with its own result; `send_batch_as_one`
/// refuses the large one.
pub fn producer_send_batch_splits<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let config = ProducerConfig::builder("rw_suite_split")
        .max_message_size(1024)
        .build()
        .expect("valid config");
    let producer = client
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer");
    let batch_requests = |server: &FakeServer| {
        server
            .log()
            .received
            .iter()
            .filter(|c| c.request_code_typed() == RequestCode::SendBatchMessage)
            .count()
    };
    let batch = |n: usize, size: usize| -> Vec<Message> {
        (0..n)
            .map(|i| Message::new(TOPIC, format!("{i:>3}{}", "x".repeat(size))))
            .collect()
    };

    let small = producer.send_batch(batch(3, 10));
    assert_eq!(small.len(), 3);
    assert_eq!(
        batch_requests(&server),
        1,
        "a batch that fits is one request"
    );
    let mut ids = std::collections::BTreeSet::new();
    for result in &small {
        let sent = result.as_ref().expect("stored");
        assert!(!sent.msg_id.contains(','), "its own id: {}", sent.msg_id);
        assert!(ids.insert(sent.msg_id.clone()), "ids are distinct");
    }

    // Six records of ~400 bytes do not fit 1 KiB together: two per request at most.
    let large = producer.send_batch(batch(6, 300));
    assert_eq!(large.len(), 6);
    let requests = batch_requests(&server) - 1;
    assert!(
        requests >= 3,
        "{requests} requests for 6 records of 400 bytes"
    );
    for result in &large {
        let sent = result.as_ref().expect("stored");
        assert!(ids.insert(sent.msg_id.clone()), "ids are distinct");
    }
    assert!(
        matches!(
            producer.send_batch_as_one(batch(6, 300)),
            Err(SendError::Validation(_))
        ),
        "one request over the limit is refused"
    );
    producer.shutdown().expect("producer shutdown");
    client.shutdown().expect("shutdown");
}

/// `SYSTEM_BUSY` is retried (same message id); when every attempt is busy the send fails
/// with the broker's code after `1 + retries` attempts.
pub fn producer_retries_system_busy<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let producer = producer(&client, "rw_suite_busy");
    let mut message = Message::new(TOPIC, "busy once");
    message
        .put_user_property(BUSY_PROPERTY, "1")
        .expect("property");
    let sent = producer.send(message).expect("stored on the retry");
    assert_eq!(sent.status, SendStatus::SendOk);
    let attempts = |id: &str| {
        server
            .log()
            .received
            .iter()
            .filter(|c| is_send(c) && sent_uniq_key(c).as_deref() == Some(id))
            .count()
    };
    assert_eq!(attempts(&sent.msg_id), 2);

    let mut message = Message::new(TOPIC, "always busy");
    message
        .put_user_property(BUSY_PROPERTY, "10")
        .expect("property");
    let err = producer.send(message).unwrap_err();
    assert!(
        matches!(&err, SendError::Broker { code, .. } if *code == ResponseCode::SystemBusy),
        "{err:?}"
    );
    let busy_id = server
        .log()
        .received
        .iter()
        .rev()
        .find(|c| is_send(c))
        .and_then(sent_uniq_key)
        .expect("a uniq key");
    assert_eq!(attempts(&busy_id), 3, "1 + retryTimesWhenSendFailed (2)");
    client.shutdown().expect("shutdown");
}

/// A oneway send reaches the broker flagged oneway, and resolves without an answer.
pub fn producer_oneway_is_delivered<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let producer = producer(&client, "rw_suite_oneway");
    producer
        .send_oneway(Message::new(TOPIC, "fire and forget"))
        .expect("oneway");
    assert!(server
        .wait_for(LONG, |log| log.received.iter().any(|c| is_send(c)
            && c.is_oneway()
            && &c.body[..] == b"fire and forget")));
    client.shutdown().expect("shutdown");
}

/// Closing a producer unregisters its group from the broker; its other clones then get a
/// typed misuse error.
pub fn producer_shutdown_unregisters<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let producer = producer(&client, "rw_suite_close");
    producer.send(Message::new(TOPIC, "x")).expect("send");
    let other = producer.clone();
    producer.shutdown().expect("producer shutdown");
    let log = server.log();
    let unregister = log
        .received
        .iter()
        .find(|c| c.request_code_typed() == RequestCode::UnregisterClient)
        .expect("UNREGISTER_CLIENT sent before shutdown returned");
    assert_eq!(unregister.field("producerGroup"), Some("rw_suite_close"));
    // A send on the closed producer is misuse, named as such.
    let late = other.send(Message::new(TOPIC, "late"));
    assert!(
        matches!(late, Err(SendError::Misuse(Misuse::UnknownProducer(_)))),
        "{late:?}"
    );
    client.shutdown().expect("shutdown");
}

/// Dropping the last clone of a producer closes it without waiting: its group is
/// unregistered from the broker; dropping another clone before that does nothing.
pub fn dropping_the_last_producer_clone_unregisters<C: TestClient>() {
    let (server, client) = setup::<C>(DriverOptions::default());
    let producer = producer(&client, "rw_suite_drop");
    producer.send(Message::new(TOPIC, "x")).expect("send");
    let unregistered = |log: &crate::test_support::Log| {
        log.received
            .iter()
            .any(|c| c.request_code_typed() == RequestCode::UnregisterClient)
    };
    let clone = producer.clone();
    drop(producer);
    clone
        .send(Message::new(TOPIC, "y"))
        .expect("a clone still sends");
    assert!(
        !unregistered(&server.log()),
        "unregistered while a clone lives"
    );
    drop(clone);
    assert!(
        server.wait_for(LONG, |log| unregistered(log)),
        "UNREGISTER_CLIENT after the last clone was dropped"
    );
    client.shutdown().expect("shutdown");
}

/// With room for one send, `try_send` fails with `Full` while a send is in flight, and
/// `send` waits for the room.
pub fn in_flight_sends_are_bounded<C: TestClient>() {
    let options = DriverOptions::default()
        .with_producer_options(crate::ProducerOptions::default().with_max_in_flight(1));
    let (_server, client) = setup::<C>(options);
    let producer = producer(&client, "rw_suite_bound");
    producer
        .send(Message::new(TOPIC, "warm"))
        .expect("route known");
    let delay = Duration::from_millis(400);
    let mut slow = Message::new(TOPIC, "slow");
    slow.put_user_property(DELAY_PROPERTY, delay.as_millis().to_string())
        .expect("property");
    let start = Instant::now();
    let pending = producer.try_send(slow).expect("room for one");
    assert_eq!(
        producer
            .try_send(Message::new(TOPIC, "second"))
            .unwrap_err(),
        TrySendError::Full
    );
    let sent = producer.send(Message::new(TOPIC, "waits")).expect("send");
    assert!(start.elapsed() >= delay, "send waited for the slow one");
    assert_eq!(sent.status, SendStatus::SendOk);
    assert_eq!(
        pending.wait().expect("slow send").status,
        SendStatus::SendOk
    );
    let again = producer
        .try_send(Message::new(TOPIC, "room again"))
        .expect("room");
    again.wait().expect("stored");
    client.shutdown().expect("shutdown");
}

/// A peer that accepts connections and never reads: the bytes queued for it in user space
/// stay under [`DriverOptions::max_connection_queue_bytes`]. Once the kernel's buffers are
/// full, the frame that would go past the limit closes the connection instead, so a request
/// waiting on it fails at once with `ConnectionClosed` rather than at its (long) timeout.
pub fn outgoing_queue_is_bounded<C: TestClient>() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    // Holds every accepted socket open, unread, until the test process ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            held.push(stream);
        }
    });
    let limit = 1024 * 1024;
    let options = DriverOptions::default().with_max_connection_queue_bytes(limit);
    let mut config = ClientConfig::new(vec![addr.clone()]);
    config.connect_timeout = Duration::from_secs(2);
    let client = C::start(config, options).expect("client starts");
    let waiting = {
        let (client, addr) = (client.clone(), addr.clone());
        std::thread::spawn(move || client.invoke(&addr, request("never answered"), LONG * 12))
    };
    // Far more than the kernel's buffers and the limit together: 256 MiB in 256 KiB frames.
    let body = "x".repeat(256 * 1024);
    let start = Instant::now();
    for _ in 0..1024 {
        if waiting.is_finished() {
            break;
        }
        client
            .invoke_oneway(&addr, request(&body))
            .expect("queued or dropped with its connection");
    }
    let result = waiting.join().expect("invoke thread");
    assert_eq!(
        result.unwrap_err(),
        ClientError::Invoke(InvokeError::ConnectionClosed { addr: addr.clone() })
    );
    assert!(start.elapsed() < LONG * 6, "closed long before the timeout");
    assert!(accepted.load(std::sync::atomic::Ordering::Acquire) >= 1);
    client.shutdown().expect("shutdown");
}
