//! The shared conformance suite on the blocking adapter, plus its use from inside an executor.

use std::time::Duration;

use rocketwire_blocking::{Client, DriverOptions, Producer, SendHandle, TrySendError};
use rocketwire_core::body::{MessageQueue, TopicRouteData};
use rocketwire_core::client::AnswerToken;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendError, SendResult};
use rocketwire_core::{ClientConfig, ClientError, IncomingRequest, RemotingCommand};
use rocketwire_driver::test_support::{FakeServer, TestClient, TestProducer, TOPIC};

#[derive(Clone)]
struct Blocking(Client);

impl TestClient for Blocking {
    fn start(config: ClientConfig, options: DriverOptions) -> Result<Self, ClientError> {
        Client::start_with_options(config, options).map(Blocking)
    }
    fn query_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        self.0.query_route(topic)
    }
    fn invoke(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        self.0.invoke(addr, command, timeout)
    }
    fn invoke_ok(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        self.0.invoke_ok(addr, command, timeout)
    }
    fn invoke_oneway(&self, addr: &str, command: RemotingCommand) -> Result<(), ClientError> {
        self.0.invoke_oneway(addr, command)
    }
    fn next_request(&self) -> Option<IncomingRequest> {
        self.0.next_request()
    }
    fn answer(&self, token: AnswerToken, response: RemotingCommand) -> Result<(), ClientError> {
        self.0.answer(token, response)
    }
    fn shutdown(self) -> Result<(), ClientError> {
        self.0
            .shutdown(rocketwire_driver::test_support::SHUTDOWN_DRAIN)
    }
    fn is_shut_down(&self) -> bool {
        self.0.is_shut_down()
    }
    type Producer = BlockingProducer;
    fn create_producer(
        &self,
        config: ProducerConfig,
        selector: QueueSelector,
    ) -> Result<BlockingProducer, ClientError> {
        self.0
            .create_producer_with_selector(config, selector)
            .map(BlockingProducer)
    }
}

#[derive(Clone)]
struct BlockingProducer(Producer);

impl TestProducer for BlockingProducer {
    fn send(&self, message: Message) -> Result<SendResult, SendError> {
        self.0.send(message)
    }
    fn send_async(&self, message: Message) -> Result<SendResult, SendError> {
        self.0.send_async(message).wait()
    }
    fn send_oneway(&self, message: Message) -> Result<(), SendError> {
        self.0.send_oneway(message)
    }
    fn send_batch_as_one(&self, messages: Vec<Message>) -> Result<SendResult, SendError> {
        self.0.send_batch_as_one(messages)
    }
    fn send_batch(&self, messages: Vec<Message>) -> Vec<Result<SendResult, SendError>> {
        self.0.send_batch(messages)
    }
    fn send_to_queue(
        &self,
        message: Message,
        queue: MessageQueue,
    ) -> Result<SendResult, SendError> {
        self.0.send_to_queue(message, queue)
    }
    fn try_send(&self, message: Message) -> Result<SendHandle, TrySendError> {
        self.0.try_send(message)
    }
    fn shutdown(self) -> Result<(), ClientError> {
        self.0.shutdown()
    }
}

rocketwire_driver::conformance_tests!(Blocking);

/// Called from inside an executor (here `futures`' own, which panics on nested `block_on`),
/// the blocking client neither deadlocks nor panics.
#[test]
fn works_inside_an_async_executor() {
    let server = FakeServer::start().expect("fake server");
    let config = ClientConfig::new(vec![server.addr()]);
    futures::executor::block_on(async {
        let client = Client::start(config).expect("start");
        let route = client.query_route(TOPIC).expect("route");
        assert_eq!(route.broker_datas.len(), 1);
        client.shutdown(Duration::from_secs(5)).expect("shutdown");
    });
}
