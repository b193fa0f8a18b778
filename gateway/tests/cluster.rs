//! The gateway against a real cluster, through tonic clients. Needs a running cluster:
//! `cargo xtask test` starts one and runs this with `--include-ignored`
//! (`ROCKETWIRE_NAMESRV` names its namesrv).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{msg_id, send_v1, unique, Consumer, Running, PATIENCE};
use rocketwire_gateway::config::GatewayConfig;
use rocketwire_gateway::proto::mq::rocket_mq_gateway_client::RocketMqGatewayClient;
use rocketwire_gateway::proto::mq::{SendRequest as MqSend, SubscribeRequest};
use rocketwire_gateway::proto::v1::consume_request::Kind;
use rocketwire_gateway::proto::v1::gateway_client::GatewayClient;
use rocketwire_gateway::proto::v1::{
    Ack, ConsumeRequest, Message, Retry, SendBatchRequest, SendRequest, Subscribe,
};
use rocketwire_gateway::{Gateway, GatewayError};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn original_api_send_and_subscribe_with_a_tag_filter() {
    let gw = Running::start(1_000).await;
    let topic = unique("gw_orig");
    let group = unique("gw_orig_group");
    let mut client = RocketMqGatewayClient::new(gw.channel().await);
    let mut wanted = BTreeSet::new();
    for i in 0..20 {
        let tags = if i % 2 == 0 { "TagA" } else { "TagB" };
        let sent = client
            .send_message(MqSend {
                topic: topic.clone(),
                body: format!("body-{i}").into_bytes(),
                tags: Some(tags.into()),
            })
            .await
            .expect("SendMessage")
            .into_inner();
        assert!(sent.success, "{sent:?}");
        assert!(sent.error.is_none());
        assert!(!sent.msg_id.is_empty());
        if tags == "TagA" {
            wanted.insert(sent.msg_id);
        }
    }
    let mut stream = client
        .subscribe(SubscribeRequest {
            topic: topic.clone(),
            consumer_group: group,
            tags: Some("TagA || TagC".into()),
        })
        .await
        .expect("Subscribe")
        .into_inner();
    let mut got = BTreeSet::new();
    while got.len() < wanted.len() {
        let m = tokio::time::timeout(PATIENCE, stream.message())
            .await
            .expect("a message in time")
            .expect("stream ok")
            .expect("stream open");
        assert_eq!(m.topic, topic);
        assert!(m.body.starts_with(b"body-"));
        assert!(wanted.contains(&m.msg_id), "TagB or unknown: {m:?}");
        got.insert(m.msg_id);
    }
    assert_eq!(got, wanted);
    // A failed send is an answer with `success: false`, not a gRPC error.
    let bad = client
        .send_message(MqSend {
            topic: String::new(),
            body: b"x".to_vec(),
            tags: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.success && bad.error.is_some(), "{bad:?}");
    drop(stream);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn a_client_that_dies_mid_stream_loses_nothing() {
    let gw = Running::start(30_000).await;
    let topic = unique("gw_ack");
    let group = unique("gw_ack_group");
    let all: BTreeSet<_> = send_v1(gw.channel().await, &topic, 30, "A")
        .await
        .into_iter()
        .collect();

    // The first client takes a window of 8, acknowledges 5 and dies.
    let mut first = Consumer::open(gw.channel().await, &topic, &group, 8).await;
    let mut received = Vec::new();
    for _ in 0..8 {
        received.push(first.next().await);
    }
    first.nothing_for(Duration::from_millis(300)).await;
    let acked: BTreeSet<_> = received[..5].iter().map(msg_id).collect();
    first
        .ack(received[..5].iter().map(|d| d.delivery_id).collect())
        .await;
    // Let the acks arrive before the client goes (they count; the other 3 do not).
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(first);

    // The second client gets everything not acknowledged, the first client's 3 included.
    let mut second = Consumer::open(gw.channel().await, &topic, &group, 32).await;
    let mut rest = BTreeSet::new();
    while rest.len() < all.len() - acked.len() {
        let d = second.next().await;
        let id = msg_id(&d);
        assert!(
            !acked.contains(&id),
            "an acknowledged message came again: {id}"
        );
        rest.insert(id);
        second.ack(vec![d.delivery_id]).await;
    }
    let together: BTreeSet<_> = acked.union(&rest).cloned().collect();
    assert_eq!(together, all);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(second);
    gw.stop().await;

    // The offsets were committed: a new gateway's consumer of the group gets nothing.
    let gw = Running::start(1_000).await;
    let mut third = Consumer::open(gw.channel().await, &topic, &group, 8).await;
    third.nothing_for(Duration::from_secs(3)).await;
    drop(third);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn unacknowledged_messages_survive_the_groups_consumer_closing() {
    // Linger 0: the group's consumer closes as soon as its only stream ends, so the next
    // stream's consumer reads the unacknowledged messages from the broker's offsets.
    let gw = Running::start(0).await;
    let topic = unique("gw_close");
    let group = unique("gw_close_group");
    let all: BTreeSet<_> = send_v1(gw.channel().await, &topic, 10, "A")
        .await
        .into_iter()
        .collect();
    let mut first = Consumer::open(gw.channel().await, &topic, &group, 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(first.next().await);
    }
    first.ack(vec![held[0].delivery_id]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(first);
    // Either way the next stream gets everything; this lets the close start first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked = msg_id(&held[0]);
    let mut second = Consumer::open(gw.channel().await, &topic, &group, 16).await;
    let mut rest = BTreeSet::new();
    while rest.len() < all.len() - 1 {
        let d = second.next().await;
        let id = msg_id(&d);
        if id == acked {
            // Acknowledged but its queue's offset could not move past messages before it
            // that were not: at-least-once allows it; it must not be lost.
            second.ack(vec![d.delivery_id]).await;
            continue;
        }
        rest.insert(id);
        second.ack(vec![d.delivery_id]).await;
    }
    rest.insert(acked);
    assert_eq!(rest, all);
    drop(second);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn retry_later_comes_back_through_the_retry_topic() {
    let gw = Running::start(1_000).await;
    let topic = unique("gw_retry");
    let group = unique("gw_retry_group");
    let ids = send_v1(gw.channel().await, &topic, 1, "A").await;
    let mut consumer = Consumer::open(gw.channel().await, &topic, &group, 4).await;
    let d = consumer.next().await;
    assert_eq!(msg_id(&d), ids[0]);
    assert_eq!(d.message.as_ref().unwrap().reconsume_times, 0);
    consumer
        .requests
        .send(ConsumeRequest {
            kind: Some(Kind::Retry(Retry {
                delivery_ids: vec![d.delivery_id],
                delay_level: 1,
            })),
        })
        .await
        .unwrap();
    let again = consumer.next().await;
    assert_eq!(msg_id(&again), ids[0]);
    assert_eq!(again.message.as_ref().unwrap().reconsume_times, 1);
    assert_eq!(again.message.as_ref().unwrap().topic, topic);
    consumer.ack(vec![again.delivery_id]).await;
    drop(consumer);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn batch_keys_properties_and_ordering_keys() {
    let gw = Running::start(1_000).await;
    let topic = unique("gw_batch");
    let group = unique("gw_batch_group");
    let mut client = GatewayClient::new(gw.channel().await);
    // The topic exists once something was sent to it.
    send_v1(gw.channel().await, &topic, 1, "warmup").await;
    let messages = (0..10)
        .map(|i| Message {
            topic: topic.clone(),
            body: format!("b{i}").into_bytes(),
            tags: Some("B".into()),
            keys: vec![format!("key-{i}")],
            properties: [("n".to_string(), i.to_string())].into(),
            ..Default::default()
        })
        .collect();
    let batch = client
        .send_batch(SendBatchRequest { messages })
        .await
        .expect("SendBatch")
        .into_inner();
    assert_eq!(batch.msg_ids.len(), 10, "{batch:?}");
    assert_eq!(batch.status, "SEND_OK");

    let mut queues = BTreeSet::new();
    for i in 0..6 {
        let sent = client
            .send(SendRequest {
                message: Some(Message {
                    topic: topic.clone(),
                    body: format!("o{i}").into_bytes(),
                    tags: Some("O".into()),
                    ordering_key: Some("order-42".into()),
                    ..Default::default()
                }),
            })
            .await
            .expect("ordered send")
            .into_inner();
        queues.insert((sent.broker_name, sent.queue_id));
    }
    assert_eq!(queues.len(), 1, "one ordering key, one queue: {queues:?}");

    let refused = client
        .send(SendRequest {
            message: Some(Message {
                topic: topic.clone(),
                body: b"x".to_vec(),
                properties: [("UNIQ_KEY".to_string(), "mine".to_string())].into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");

    let mut consumer = Consumer::open(gw.channel().await, &topic, &group, 32).await;
    let wanted: BTreeSet<_> = batch.msg_ids.iter().cloned().collect();
    let mut got = BTreeSet::new();
    while got.len() < wanted.len() {
        let d = consumer.next().await;
        let m = d.message.clone().unwrap();
        consumer.ack(vec![d.delivery_id]).await;
        if m.tags.as_deref() != Some("B") {
            continue;
        }
        let n: usize = m.properties["n"].parse().unwrap();
        assert_eq!(m.keys, vec![format!("key-{n}")]);
        assert_eq!(m.body, format!("b{n}").into_bytes());
        got.insert(m.msg_id);
    }
    assert_eq!(got, wanted);
    drop(consumer);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn health_misuse_and_one_subscription_per_group() {
    let gw = Running::start(1_000).await;
    let channel = gw.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "mq.RocketMQGateway", "rocketwire.gateway.v1.Gateway"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
    let topic = unique("gw_misuse");
    let group = unique("gw_misuse_group");
    send_v1(channel.clone(), &topic, 1, "A").await;
    let _held = Consumer::open(channel.clone(), &topic, &group, 4).await;
    // Another topic for the same group is refused while the group consumes `topic`.
    let (tx, rx) = mpsc::channel(1);
    tx.send(ConsumeRequest {
        kind: Some(Kind::Subscribe(Subscribe {
            topic: format!("{topic}_other"),
            consumer_group: group.clone(),
            tags: None,
            window: 4,
        })),
    })
    .await
    .unwrap();
    let refused = GatewayClient::new(channel.clone())
        .consume(ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    // A window above the maximum, and an ack before subscribe, are refused.
    for first in [
        Kind::Subscribe(Subscribe {
            topic: topic.clone(),
            consumer_group: group.clone(),
            tags: None,
            window: 1_000_000,
        }),
        Kind::Ack(Ack {
            delivery_ids: vec![1],
        }),
    ] {
        let (tx, rx) = mpsc::channel(1);
        tx.send(ConsumeRequest { kind: Some(first) }).await.unwrap();
        let err = GatewayClient::new(channel.clone())
            .consume(ReceiverStream::new(rx))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    }
    // Acknowledging a delivery the stream never had ends the stream with InvalidArgument.
    let mut consumer = Consumer::open(channel.clone(), &topic, &group, 4).await;
    consumer.ack(vec![987_654]).await;
    let ended = tokio::time::timeout(PATIENCE, consumer.responses.message())
        .await
        .expect("an answer in time");
    match ended {
        Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument),
        // The one message may come first; the error follows.
        Ok(Some(_)) => {
            let next = tokio::time::timeout(PATIENCE, consumer.responses.message())
                .await
                .expect("an answer in time");
            assert_eq!(next.unwrap_err().code(), tonic::Code::InvalidArgument);
        }
        Ok(None) => panic!("the stream ended without the error"),
    }
    gw.stop().await;
}

#[tokio::test]
async fn an_unreachable_namesrv_is_a_clear_error_at_start() {
    // Port 1 on loopback: nothing listens there.
    let config = GatewayConfig::parse("rocketmq:\n  nameservers: [\"127.0.0.1:1\"]\n").unwrap();
    let err = match Gateway::start(config).await {
        Ok(_) => panic!("started without a namesrv"),
        Err(e) => e,
    };
    assert!(
        matches!(err, GatewayError::NamesrvUnreachable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running cluster (cargo xtask test)"]
async fn a_graceful_shutdown_lets_held_deliveries_be_acknowledged() {
    let gw = Running::start(30_000).await;
    let topic = unique("gw_drain");
    let group = unique("gw_drain_group");
    send_v1(gw.channel().await, &topic, 4, "A").await;
    let mut consumer = Consumer::open(gw.channel().await, &topic, &group, 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(consumer.next().await.delivery_id);
    }
    // The shutdown starts with 4 deliveries out; they are acknowledged during it.
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer.ack(held).await;
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the shutdown ends")
        .expect("shutdown task");
    drop(consumer);
    // The acknowledgements counted: the group's next consumer gets nothing.
    let gw = Running::start(1_000).await;
    let mut next = Consumer::open(gw.channel().await, &topic, &group, 8).await;
    next.nothing_for(Duration::from_secs(3)).await;
    drop(next);
    gw.stop().await;
}
