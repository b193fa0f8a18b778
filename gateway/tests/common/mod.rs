//! What the gateway's real-cluster tests share: a gateway on a free port, tonic clients.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocketwire_gateway::config::GatewayConfig;
use rocketwire_gateway::proto::v1::consume_request::Kind;
use rocketwire_gateway::proto::v1::consume_response::Kind as Out;
use rocketwire_gateway::proto::v1::gateway_client::GatewayClient;
use rocketwire_gateway::proto::v1::{
    Ack, ConsumeRequest, ConsumeResponse, Delivery, Message, SendRequest, Subscribe,
};
use rocketwire_gateway::{Gateway, GatewayError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// How long a test waits for what a healthy cluster does in well under a second: long
/// enough that a loaded machine does not fail it.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn namesrv() -> String {
    std::env::var("ROCKETWIRE_NAMESRV")
        .unwrap_or_else(|_| panic!("ROCKETWIRE_NAMESRV is not set: run with `cargo xtask test`"))
}

pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A gateway on a free loopback port, until `stop` (graceful) or drop.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), GatewayError>>>,
}

impl Running {
    pub async fn start(linger_ms: u64) -> Self {
        Self::start_with(linger_ms, "").await
    }

    /// A gateway whose `rocketmq:` section also has `extra` (YAML lines indented 2).
    pub async fn start_with(linger_ms: u64, extra: &str) -> Self {
        let yaml = format!(
            "server:\n  listen_port: 0\n  shutdown_timeout_ms: 5000\nrocketmq:\n  nameservers: [\"{}\"]\n  \
             producer:\n    group_name: gw_test_producer\n    send_retry_times: 2\n  \
             consumer:\n    consume_from: first\n    linger_ms: {linger_ms}\n{extra}",
            namesrv()
        );
        let config = GatewayConfig::parse(&yaml).expect("test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = Gateway::start(config).await.expect("gateway starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the gateway")
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(PATIENCE, task)
                .await
                .expect("graceful shutdown ends")
                .expect("gateway task");
            result.expect("gateway shuts down cleanly");
        }
    }
}

/// Sends `n` messages through the v1 API (the first send creates the topic).
pub async fn send_v1(channel: Channel, topic: &str, n: usize, tags: &str) -> Vec<String> {
    let mut client = GatewayClient::new(channel);
    let mut ids = Vec::new();
    for i in 0..n {
        let sent = client
            .send(SendRequest {
                message: Some(Message {
                    topic: topic.into(),
                    body: format!("m{i}").into_bytes(),
                    tags: Some(tags.into()),
                    ..Default::default()
                }),
            })
            .await
            .expect("send")
            .into_inner();
        assert_eq!(sent.status, "SEND_OK");
        ids.push(sent.msg_id);
    }
    ids
}

/// An acknowledging v1 consumer stream.
pub struct Consumer {
    pub requests: mpsc::Sender<ConsumeRequest>,
    pub responses: Streaming<ConsumeResponse>,
}

impl Consumer {
    pub async fn open(channel: Channel, topic: &str, group: &str, window: u32) -> Self {
        let (requests, rx) = mpsc::channel(16);
        requests
            .send(ConsumeRequest {
                kind: Some(Kind::Subscribe(Subscribe {
                    topic: topic.into(),
                    consumer_group: group.into(),
                    tags: None,
                    window,
                })),
            })
            .await
            .unwrap();
        let mut responses = GatewayClient::new(channel)
            .consume(ReceiverStream::new(rx))
            .await
            .expect("consume")
            .into_inner();
        let first = responses.message().await.unwrap().unwrap();
        assert!(
            matches!(first.kind, Some(Out::Subscribed(ref s)) if s.window == window),
            "{first:?}"
        );
        Self {
            requests,
            responses,
        }
    }

    pub async fn next(&mut self) -> Delivery {
        let response = tokio::time::timeout(PATIENCE, self.responses.message())
            .await
            .expect("a delivery in time")
            .expect("stream ok")
            .expect("stream open");
        match response.kind {
            Some(Out::Delivery(d)) => d,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    /// Nothing arrives for `quiet`.
    pub async fn nothing_for(&mut self, quiet: Duration) {
        if let Ok(got) = tokio::time::timeout(quiet, self.responses.message()).await {
            panic!("expected nothing, got {got:?}");
        }
    }

    pub async fn ack(&self, ids: Vec<u64>) {
        self.requests
            .send(ConsumeRequest {
                kind: Some(Kind::Ack(Ack { delivery_ids: ids })),
            })
            .await
            .unwrap();
    }
}

pub fn msg_id(d: &Delivery) -> String {
    d.message.as_ref().expect("a message").msg_id.clone()
}

/// Sends 3 messages through `gw` to a new topic and a new group of it receives and
/// acknowledges exactly those.
pub async fn round_trip(gw: &Running, prefix: &str) {
    let topic = unique(prefix);
    let sent: std::collections::BTreeSet<_> = send_v1(gw.channel().await, &topic, 3, "A")
        .await
        .into_iter()
        .collect();
    let group = unique(&format!("{prefix}_group"));
    let mut consumer = Consumer::open(gw.channel().await, &topic, &group, 8).await;
    let mut got = std::collections::BTreeSet::new();
    while got.len() < sent.len() {
        let d = consumer.next().await;
        got.insert(msg_id(&d));
        consumer.ack(vec![d.delivery_id]).await;
    }
    assert_eq!(got, sent);
}
