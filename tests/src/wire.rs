//! Requests the suite sends, built from the core's typed headers and message codec.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketwire_core::body::TopicRouteData;
use rocketwire_core::header::{
    CommandHeader, PullMessageResponseHeader, SendMessageResponseHeader,
};
use rocketwire_core::message::{decode_messages, Message, MessageExt, UniqIdGenerator};
use rocketwire_core::{request, ClientError, RemotingCommand, ResponseCode};

use crate::Harness;

/// Timeout of ordinary requests in the suite.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Wall-clock milliseconds.
pub fn wall_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A unique-id generator for messages sent by the suite.
pub fn uniq_ids() -> UniqIdGenerator {
    UniqIdGenerator::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        std::process::id(),
        0x5eed,
        0,
    )
}

/// The master (broker id 0) name and address of the first broker in `route`.
pub fn master(route: &TopicRouteData) -> (String, String) {
    let broker = route.broker_datas.first().expect("route lists a broker");
    let addr = broker
        .broker_addrs
        .get(&0)
        .expect("broker has a master")
        .clone();
    (broker.broker_name.clone(), addr)
}

/// The broker of the auto-create template topic `TBW102`.
pub fn default_broker(h: &dyn Harness) -> (String, String) {
    master(&h.query_route("TBW102").expect("TBW102 route"))
}

/// SEND_MESSAGE_V2 of one message to `queue_id`.
pub fn send_v2(
    h: &dyn Harness,
    addr: &str,
    broker_name: &str,
    group: &str,
    message: &Message,
    queue_id: i32,
) -> Result<SendMessageResponseHeader, ClientError> {
    let cmd = request::send_message(
        group,
        message,
        queue_id,
        0,
        wall_millis(),
        Some(broker_name),
    );
    read_send_response(h.invoke_ok(addr, cmd, TIMEOUT)?)
}

/// SEND_BATCH_MESSAGE of `messages` (one topic) to `queue_id`.
pub fn send_batch(
    h: &dyn Harness,
    addr: &str,
    broker_name: &str,
    group: &str,
    messages: &[Message],
    queue_id: i32,
) -> Result<SendMessageResponseHeader, ClientError> {
    let cmd = request::send_batch(group, messages, queue_id, wall_millis(), Some(broker_name))
        .expect("valid batch");
    read_send_response(h.invoke_ok(addr, cmd, TIMEOUT)?)
}

fn read_send_response(response: RemotingCommand) -> Result<SendMessageResponseHeader, ClientError> {
    Ok(SendMessageResponseHeader::read_fields(&response.ext_fields)
        .expect("send response header is well formed"))
}

/// A PULL_MESSAGE of up to 32 messages with subscription `*` carried in the request.
pub fn pull_request(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    suspend_millis: i64,
) -> RemotingCommand {
    request::pull_message(group, topic, queue_id, offset, 32, "*", suspend_millis)
}

/// Pulls from `offset` until at least `want` messages came back (bounded to 20 s).
pub fn pull_at_least(
    h: &dyn Harness,
    addr: &str,
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    want: usize,
) -> (PullMessageResponseHeader, Vec<MessageExt>) {
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    let mut offset = offset;
    loop {
        let cmd = pull_request(group, topic, queue_id, offset, 1000);
        let response = h
            .invoke(addr, cmd, Duration::from_secs(10))
            .expect("pull answered");
        let pull_header = PullMessageResponseHeader::read_fields(&response.ext_fields)
            .expect("pull response header is well formed");
        match response.response_code() {
            ResponseCode::Success => {
                got.extend(decode_messages(&response.body).expect("pulled messages decode"));
                offset = pull_header.next_begin_offset;
            }
            ResponseCode::PullNotFound | ResponseCode::PullRetryImmediately => {}
            other => panic!("unexpected pull result {other}: {:?}", response.remark),
        }
        if got.len() >= want {
            return (pull_header, got);
        }
        assert!(
            Instant::now() < give_up,
            "only {} of {want} messages pulled in 20 s",
            got.len()
        );
    }
}
