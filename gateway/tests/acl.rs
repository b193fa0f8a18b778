//! The gateway towards a cluster whose brokers authenticate every request (`cargo xtask
//! test` starts one; the user comes from `ROCKETWIRE_ACL_USER` and `ROCKETWIRE_ACL_PASSWORD`).

mod common;

use common::{round_trip, unique, Running};
use rocketwire_gateway::proto::mq::rocket_mq_gateway_client::RocketMqGatewayClient;
use rocketwire_gateway::proto::mq::SendRequest as MqSend;
use rocketwire_gateway::proto::v1::gateway_client::GatewayClient;
use rocketwire_gateway::proto::v1::{Message, SendRequest};

fn env(key: &str) -> String {
    std::env::var(key)
        .unwrap_or_else(|_| panic!("{key} is not set: run the ACL suite with `cargo xtask test`"))
}

fn credentials(secret: &str) -> String {
    format!(
        "  access_key: \"{}\"\n  secret_key: \"{secret}\"\n",
        env("ROCKETWIRE_ACL_USER")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster with ACL (cargo xtask test)"]
async fn with_the_configured_credentials_the_gateway_sends_and_consumes() {
    let gw = Running::start_with(1_000, &credentials(&env("ROCKETWIRE_ACL_PASSWORD"))).await;
    round_trip(&gw, "gw_acl").await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster with ACL (cargo xtask test)"]
async fn a_wrong_secret_is_permission_denied_not_a_hang() {
    let gw = Running::start_with(1_000, &credentials("not-the-secret")).await;
    let topic = unique("gw_acl_denied");
    let refused = GatewayClient::new(gw.channel().await)
        .send(SendRequest {
            message: Some(Message {
                topic: topic.clone(),
                body: b"x".to_vec(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    // The original API answers `success: false` with the reason.
    let answer = RocketMqGatewayClient::new(gw.channel().await)
        .send_message(MqSend {
            topic,
            body: b"x".to_vec(),
            tags: None,
        })
        .await
        .expect("an answer")
        .into_inner();
    assert!(!answer.success, "{answer:?}");
    assert!(answer.error.is_some_and(|e| !e.is_empty()));
    gw.stop().await;
}
