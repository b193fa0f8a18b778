//! The demo `cargo xtask demo` runs: a producer and a consumer exchange messages through the
//! local cluster, on tokio.

use std::time::{Duration, Instant};

use rocketwire_core::header::{
    CommandHeader, PullMessageResponseHeader, SendMessageResponseHeader,
};
use rocketwire_core::message::decode_messages;
use rocketwire_core::{request, ClientConfig, ResponseCode};
use rocketwire_examples::{demo_message, fresh_topic, master, namesrv, wall_millis};

const COUNT: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = namesrv();
    println!("namesrv {namesrv}");
    let client = rocketwire_tokio::Client::start(ClientConfig::new(vec![namesrv])).await?;
    let (broker_name, addr) =
        master(&client.query_route("TBW102").await?).ok_or("no broker registered")?;
    println!("broker {broker_name} at {addr}");

    let topic = fresh_topic("DemoTopic");
    let timeout = Duration::from_secs(3);
    for i in 0..COUNT {
        let message = demo_message(&topic, i);
        let cmd = request::send_message(
            "demo_producer",
            &message,
            0,
            0,
            wall_millis(),
            Some(&broker_name),
        );
        let sent = SendMessageResponseHeader::read_fields(
            &client.invoke_ok(&addr, cmd, timeout).await?.ext_fields,
        )?;
        println!(
            "producer: sent #{i} to {topic} queue {} offset {} ({})",
            sent.queue_id, sent.queue_offset, sent.msg_id
        );
    }

    let (mut offset, mut received) = (0, 0);
    let give_up = Instant::now() + Duration::from_secs(20);
    while received < COUNT && Instant::now() < give_up {
        let cmd = request::pull_message("demo_consumer", &topic, 0, offset, 32, "demo", 1_000);
        let response = client.invoke(&addr, cmd, Duration::from_secs(5)).await?;
        let header = PullMessageResponseHeader::read_fields(&response.ext_fields)?;
        if response.response_code() == ResponseCode::Success {
            for m in decode_messages(&response.body)? {
                received += 1;
                println!(
                    "consumer: got offset {} msg id {} body {:?}",
                    m.queue_offset,
                    m.msg_id(),
                    String::from_utf8_lossy(m.body())
                );
            }
        }
        offset = header.next_begin_offset;
    }
    client.shutdown().await?;
    println!("producer sent {COUNT}, consumer received {received}");
    if received != COUNT {
        return Err(format!("expected {COUNT} messages, received {received}").into());
    }
    Ok(())
}
