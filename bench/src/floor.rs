//! The wire floor: what the broker allows with no client logic at all. A minimal pipelined
//! sender built only from the core's codec over one blocking socket: SEND_MESSAGE_V2 frames
//! to the topic's queues in turn, `in_flight` outstanding, each answer read and the next
//! frame written at once. No routing, retries, ids, timers or tasks. Every rocketwire
//! producer figure is then reported as a ratio to this one at the same in-flight count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rocketwire_core::codec::RemotingCommand;
use rocketwire_core::message::Message;
use rocketwire_core::request;

use crate::adapter::{self, Target};
use crate::measure::{self, Latencies};
use crate::report::ProduceResult;
use crate::setup;
use crate::socket::FrameSocket;

/// Queues of the floor's topic.
const QUEUES: i32 = 4;
/// Frames sent before the clock starts.
const WARMUP: u64 = 50;

/// The broker that serves `topic`: its name and master address, after creating the topic
/// with [`QUEUES`] queues (the only part done with a rocketwire client).
fn prepare(target: &Target, topic: &str) -> Result<(String, String), String> {
    let client = adapter::start_blocking_client(target)?;
    client
        .admin()
        .create_topic(setup::topic_config(topic, QUEUES), None)
        .map_err(|e| format!("create {topic}: {e}"))?;
    let give_up = Instant::now() + Duration::from_secs(30);
    let route = loop {
        match client.query_route(topic) {
            Ok(route) => break route,
            Err(_) if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(format!("no route for {topic}: {e}")),
        }
    };
    let broker = route
        .broker_datas
        .iter()
        .find_map(|b| Some((b.broker_name.clone(), b.master_addr()?.to_owned())))
        .ok_or("the route names no master")?;
    client
        .shutdown(Duration::from_secs(5))
        .map_err(|e| format!("client shutdown: {e}"))?;
    Ok(broker)
}

/// The pipelined sender on one socket.
struct Wire {
    socket: FrameSocket,
    topic: String,
    broker: String,
    body: bytes::Bytes,
    sent: u64,
    /// Send instants of the frames out, by opaque.
    out: HashMap<i32, Instant>,
}

impl Wire {
    /// Writes the next SEND_MESSAGE_V2 frame.
    fn send(&mut self) -> Result<(), String> {
        let queue = (self.sent % QUEUES as u64) as i32;
        let message = Message::new(self.topic.clone(), self.body.clone());
        let born = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let command: RemotingCommand = request::send_message(
            "rw_bench_wire",
            &message,
            queue,
            0,
            born,
            Some(&self.broker),
        );
        let opaque = self.socket.write(command)?;
        self.out.insert(opaque, Instant::now());
        self.sent += 1;
        Ok(())
    }

    /// Reads until one answer is whole; its latency and whether it stored the message.
    fn answer(&mut self) -> Result<(Duration, bool), String> {
        let response = self.socket.read()?;
        let sent_at = self
            .out
            .remove(&response.opaque)
            .ok_or_else(|| format!("an answer to no request: {}", response.opaque))?;
        Ok((sent_at.elapsed(), response.response_code().is_success()))
    }
}

/// Sends `messages` 1 KiB messages with `in_flight` outstanding; the figures as a producer
/// case of adapter `wire`.
pub(crate) fn run(
    target: &Target,
    topic: &str,
    messages: u64,
    in_flight: usize,
) -> Result<ProduceResult, String> {
    let (broker, addr) = prepare(target, topic)?;
    let mut wire = Wire {
        socket: FrameSocket::connect(&addr, target.serialize, None, 64 * 1024)?,
        topic: topic.to_owned(),
        broker,
        body: adapter::body(),
        sent: 0,
        out: HashMap::new(),
    };
    for _ in 0..WARMUP {
        wire.send()?;
        wire.answer()?;
    }
    let in_flight = in_flight.max(1);
    let mut latencies = Latencies::default();
    let mut errors = 0;
    let cpu_started = measure::cpu_time();
    let started = Instant::now();
    let total = WARMUP + messages;
    while wire.out.len() < in_flight && wire.sent < total {
        wire.send()?;
    }
    while !wire.out.is_empty() {
        let (latency, stored) = wire.answer()?;
        latencies.record(latency);
        if !stored {
            errors += 1;
        }
        if wire.sent < total {
            wire.send()?;
        }
    }
    let wall = started.elapsed();
    let cpu = measure::cpu_time().saturating_sub(cpu_started);
    let count = latencies.len() as u64;
    let ps = latencies
        .percentiles(&[50.0, 99.0, 99.9])
        .unwrap_or_default();
    Ok(ProduceResult {
        adapter: "wire".to_owned(),
        in_flight: in_flight as u64,
        auto_batch: false,
        messages: count,
        errors,
        wall,
        cpu,
        p50_us: ps.first().copied().unwrap_or(0),
        p99_us: ps.get(1).copied().unwrap_or(0),
        p999_us: ps.get(2).copied().unwrap_or(0),
        peak_rss_kib: measure::peak_rss_kib().unwrap_or(0),
    })
}
