//! Embedding the sans-IO core without an adapter: one hand-written loop over std `TcpStream`s
//! drives [`ClientCore`] directly. No async runtime, no threads, no adapter crate.
//!
//! The program sends one message to a fresh topic, receives it with a push consumer that
//! starts from the first offset, acks it, closes the consumer and the producer gracefully and
//! shuts the client down. It exits 0 on success and 1 on failure or after [`GIVE_UP_AFTER`].
//!
//! ```sh
//! ROCKETWIRE_NAMESRV=127.0.0.1:9876 cargo run -p rocketwire-examples --example embed
//! ```
//!
//! Each turn of the loop:
//! 1. hands in what happened on the sockets (connection results, bytes, closed connections),
//! 2. fires the core's timer if its deadline has passed,
//! 3. drains the core: calls `poll_output` until it returns a deadline (or idle), opening
//!    and closing connections, queueing frames and handling events as they come,
//! 4. writes the queued frames,
//! 5. sleeps until the next deadline, at most [`POLL_INTERVAL`] (std has no readiness
//!    notification; a real adapter waits on epoll/kqueue or parks a thread per socket).
//!
//! Simplifications a production loop would not make: connects block the loop (std has no
//! non-blocking connect), and sockets are polled rather than waited on.

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use rocketwire_core::body::{ConsumeFromWhere, MessageQueue};
use rocketwire_core::client::{ProducerId, SendMode, SendTarget};
use rocketwire_core::consumer::{ConsumerConfig, Subscription};
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::{
    ClientConfig, ClientCore, ConnId, ConsumeOutcome, ConsumerId, Event, Input, OpId, Output,
    RemotingCommand, ResponseCode, SystemWallClock,
};
use rocketwire_examples::{fresh_topic, namesrv};

/// The whole exchange must finish within this.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// Longest sleep between two looks at the sockets.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Pause between two route lookups while the namesrv does not know the new topic yet.
const ROUTE_RETRY: Duration = Duration::from_millis(200);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One TCP connection the core asked for. Sockets are non-blocking, so a frame that does not
/// fit in the socket buffer waits in `outbox`.
struct Conn {
    stream: TcpStream,
    outbox: VecDeque<Bytes>,
}

fn run() -> Result<(), String> {
    let started = Instant::now();
    let namesrv = namesrv();
    let topic = fresh_topic("EmbedTopic");
    println!("embed: namesrv {namesrv}, topic {topic}");

    let mut config = ClientConfig::new(vec![namesrv]);
    config.pid = std::process::id(); // goes into message ids and the instance name
    let connect_timeout = config.connect_timeout;
    // The core takes its wall clock and random seed from us: it never reads the OS itself.
    let seed = std::collections::hash_map::RandomState::new().hash_one(started);
    let mut core = ClientCore::new(config, Box::new(SystemWallClock), seed, started);
    let mut app = App::start(&mut core, started, topic)?;

    let mut conns: BTreeMap<ConnId, Conn> = BTreeMap::new();
    // IO results produced while draining or writing, handed in at the top of the next turn.
    let mut inputs: Vec<Input> = Vec::new();
    // The core's next deadline, as returned by the last drain.
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];

    loop {
        let now = Instant::now();
        if now >= started + GIVE_UP_AFTER {
            let doing = app.step.doing();
            return Err(format!("no result after {GIVE_UP_AFTER:?}; stuck {doing}"));
        }

        // 1. Inputs: connection results and write failures from the last turn, then whatever
        //    the sockets have. The core ignores inputs for connections it already dropped.
        let mut busy = !inputs.is_empty();
        for input in inputs.drain(..) {
            core.handle_input(now, input);
        }
        busy |= read_sockets(&mut core, &mut conns, now, &mut buf);

        // 2. Timers: one `Input::Timeout` runs everything due at `now` (request deadlines,
        //    heartbeats, rebalances, pull retries, ...). Early calls would be harmless.
        if deadline.is_some_and(|at| at <= now) {
            core.handle_input(now, Input::Timeout);
        }
        app.handle_timeout(&mut core, now); // the program's own timer lives beside the core's

        // 3. Drain. Commands issued while handling an event (ack, close, ...) only queue more
        //    outputs, which this same drain picks up.
        deadline = loop {
            match core.poll_output(now) {
                Output::Connect { conn, addr } => {
                    let result = connect(&addr, connect_timeout);
                    match result {
                        Ok(stream) => {
                            // Optional: the local address lets consumers tell their own
                            // connections from another client's with the same client id.
                            let local = stream.local_addr().map(|a| a.to_string());
                            let outbox = VecDeque::new();
                            conns.insert(conn, Conn { stream, outbox });
                            inputs.push(Input::Connected(conn));
                            if let Ok(local) = local {
                                inputs.push(Input::LocalAddr(conn, local));
                            }
                        }
                        Err(e) => inputs.push(Input::ConnectFailed(conn, e.to_string())),
                    }
                }
                // The core emits frames for a connection only after `Input::Connected`.
                Output::Transmit { conn, head, body } => {
                    if let Some(c) = conns.get_mut(&conn) {
                        // Queueing `Bytes` shares the buffers: the body is never copied.
                        c.outbox
                            .extend([head, body].into_iter().filter(|b| !b.is_empty()));
                    }
                }
                // Dropping the stream closes it; reporting `Input::Closed` is optional.
                Output::Close { conn } => drop(conns.remove(&conn)),
                Output::Event(event) => app.handle_event(&mut core, now, event)?,
                Output::Timeout(at) => break Some(at), // always later than `now`
                Output::Idle => break None,            // nothing armed: wait for IO only
            }
        };

        // 4. Write what the drain queued, as far as the sockets take it.
        for (id, conn) in &mut conns {
            if let Err(e) = flush(conn) {
                eprintln!("embed: write to connection {} failed: {e}", id.0);
                inputs.push(Input::Closed(*id));
            }
        }
        for input in &inputs {
            if let Input::Closed(id) = input {
                conns.remove(id);
            }
        }

        if app.step == Step::Done && core.is_closed() {
            println!(
                "embed: OK: message {} sent and received in {:.1?}",
                app.sent_id,
                started.elapsed()
            );
            return Ok(());
        }

        // 5. Sleep until the next deadline (ours or the core's), but look at the sockets again
        //    soon: bytes may arrive at any time. No sleep when there is more to do already.
        if !busy && inputs.is_empty() {
            let wake = [deadline, app.wake_at()].into_iter().flatten().min();
            let nap = wake.map_or(POLL_INTERVAL, |at| at.saturating_duration_since(now));
            std::thread::sleep(nap.min(POLL_INTERVAL));
        }
    }
}

/// Opens a non-blocking connection with `timeout` per resolved address.
fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr} does not resolve"));
    for sock_addr in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sock_addr, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                stream.set_nonblocking(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Hands every socket's pending bytes to the core; reports EOF and read errors as
/// `Input::Closed`. Returns whether anything happened.
fn read_sockets(
    core: &mut ClientCore,
    conns: &mut BTreeMap<ConnId, Conn>,
    now: Instant,
    buf: &mut [u8],
) -> bool {
    let mut busy = false;
    let mut closed = Vec::new();
    for (&id, conn) in conns.iter_mut() {
        loop {
            match conn.stream.read(buf) {
                Ok(0) => break closed.push(id),
                // Any split of the byte stream will do: the core reassembles frames.
                Ok(n) => {
                    core.handle_input(now, Input::Received(id, Bytes::copy_from_slice(&buf[..n])))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break closed.push(id),
            }
            busy = true;
        }
    }
    for id in closed {
        conns.remove(&id);
        core.handle_input(now, Input::Closed(id));
    }
    busy
}

/// Writes queued bytes until the socket would block.
fn flush(conn: &mut Conn) -> io::Result<()> {
    while let Some(front) = conn.outbox.front_mut() {
        match conn.stream.write(front) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) if n == front.len() => drop(conn.outbox.pop_front()),
            Ok(n) => front.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where the exchange is; each step waits for one event.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Waiting for the send's result.
    Sending(OpId),
    /// Waiting until the namesrv knows the topic the broker just created (the consumer needs
    /// its route); `None` while pausing before the next lookup.
    FindingRoute(Option<OpId>),
    /// Waiting for the message to be delivered.
    Receiving(ConsumerId),
    /// Waiting for the consumer to commit its offsets and unregister.
    ClosingConsumer(OpId),
    /// Waiting for the producer to unregister.
    ClosingProducer(OpId),
    /// The client is closing its connections.
    Done,
}

impl Step {
    fn doing(self) -> &'static str {
        match self {
            Step::Sending(_) => "waiting for the send result",
            Step::FindingRoute(_) => "waiting for the namesrv to know the topic",
            Step::Receiving(_) => "waiting for the message to be delivered",
            Step::ClosingConsumer(_) => "closing the consumer",
            Step::ClosingProducer(_) => "closing the producer",
            Step::Done => "closing the client",
        }
    }
}

/// The program's side: issues commands and reacts to events.
struct App {
    topic: String,
    producer: ProducerId,
    step: Step,
    /// When to look the route up again (during `Step::FindingRoute(None)`).
    retry_route_at: Option<Instant>,
    /// The id of the message we sent.
    sent_id: String,
    /// Where it was received: queue and offset.
    received: Option<(MessageQueue, i64)>,
}

impl App {
    /// Creates the producer and sends the message.
    fn start(core: &mut ClientCore, now: Instant, topic: String) -> Result<Self, String> {
        let config = ProducerConfig::builder("embed_producer")
            .build()
            .map_err(|e| format!("producer config: {e}"))?;
        let producer = core.create_producer(now, config, QueueSelector::RoundRobin);
        let mut message = Message::new(topic.clone(), "hello from an embedded core");
        message.set_tags("embed").map_err(|e| e.to_string())?;
        // The result comes back as `Event::Send` carrying this op id. An error here is a
        // misuse (an unknown or closed producer), never an IO failure.
        let op = core
            .send(now, producer, message, SendTarget::Default, SendMode::Sync)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            topic,
            producer,
            step: Step::Sending(op),
            retry_route_at: None,
            sent_id: String::new(),
            received: None,
        })
    }

    fn wake_at(&self) -> Option<Instant> {
        self.retry_route_at
    }

    fn handle_timeout(&mut self, core: &mut ClientCore, now: Instant) {
        if self.retry_route_at.is_some_and(|at| at <= now) {
            self.retry_route_at = None;
            self.step = Step::FindingRoute(Some(core.query_route(now, &self.topic)));
        }
    }

    fn handle_event(
        &mut self,
        core: &mut ClientCore,
        now: Instant,
        event: Event,
    ) -> Result<(), String> {
        match event {
            Event::Send { op, result } if self.step == Step::Sending(op) => {
                let sent = result.map_err(|e| format!("send failed: {e}"))?;
                let mq = &sent.message_queue;
                println!(
                    "embed: sent message {} to broker {} queue {} at offset {}",
                    sent.msg_id, mq.broker_name, mq.queue_id, sent.queue_offset
                );
                self.sent_id = sent.msg_id;
                self.step = Step::FindingRoute(Some(core.query_route(now, &self.topic)));
            }
            Event::Route { op, result, .. } if self.step == Step::FindingRoute(Some(op)) => {
                if result.is_err() {
                    // Usually "topic does not exist": the broker registers it shortly.
                    self.step = Step::FindingRoute(None);
                    self.retry_route_at = Some(now + ROUTE_RETRY);
                    return Ok(());
                }
                let config = ConsumerConfig::builder(fresh_topic("embed_consumer"))
                    .consume_from_where(ConsumeFromWhere::FirstOffset)
                    .build()
                    .map_err(|e| format!("consumer config: {e}"))?;
                let subscription = Subscription::tag(self.topic.clone(), "embed")
                    .map_err(|e| format!("subscription: {e}"))?;
                // It heartbeats, rebalances and pulls on its own; messages come as
                // `Event::Deliver`.
                let consumer = core
                    .create_consumer(now, config, vec![subscription], None)
                    .map_err(|e| format!("cannot create the consumer: {e}"))?;
                self.step = Step::Receiving(consumer);
            }
            Event::Deliver {
                consumer,
                delivery,
                queue,
                messages,
            } => {
                for m in &messages {
                    let body = String::from_utf8_lossy(m.body());
                    println!(
                        "embed: received message {} from broker {} queue {} offset {}: {body:?}",
                        m.msg_id(),
                        queue.broker_name,
                        queue.queue_id,
                        m.queue_offset
                    );
                    if m.msg_id() == self.sent_id {
                        self.received = Some((queue.clone(), m.queue_offset));
                    }
                }
                // Every delivery must be acked, whatever the step: a consumer closes only once
                // none is out. Here at once; a real handler may take its time.
                core.ack(now, delivery, ConsumeOutcome::Success)
                    .map_err(|e| e.to_string())?;
                if self.received.is_some() && self.step == Step::Receiving(consumer) {
                    // Commits the offsets, then unregisters: `Event::ConsumerClosed`.
                    let op = core
                        .close_consumer(now, consumer)
                        .map_err(|e| e.to_string())?;
                    self.step = Step::ClosingConsumer(op);
                }
            }
            Event::ConsumerClosed { op, report, .. } if self.step == Step::ClosingConsumer(op) => {
                // For the queue our message came from, the close commits the offset after it.
                if let Some((queue, at)) = &self.received {
                    let committed = report.persisted.get(queue);
                    let committed = committed.map_or("unchanged".to_string(), i64::to_string);
                    println!(
                        "embed: consumer closed; committed offset {committed} for queue {} \
                         (the message was at {at})",
                        queue.queue_id
                    );
                }
                let op = core
                    .close_producer(now, self.producer)
                    .map_err(|e| e.to_string())?;
                self.step = Step::ClosingProducer(op);
            }
            Event::ProducerClosed { op, .. } if self.step == Step::ClosingProducer(op) => {
                println!("embed: producer closed");
                // Fails whatever is still pending and closes every connection.
                core.close(now);
                self.step = Step::Done;
            }
            Event::Request(request) => {
                // A broker→client request the core does not handle itself. One that carries a
                // token expects an answer.
                if let Some(token) = request.token {
                    let code = ResponseCode::RequestCodeNotSupported;
                    let response = RemotingCommand::response_to(&request.command, code);
                    core.answer(now, token, response);
                }
            }
            Event::PeerError { addr, error } => eprintln!("embed: peer {addr}: {error}"),
            // Nothing else is expected: no other operation was started.
            other => eprintln!(
                "embed: unexpected event while {}: {other:?}",
                self.step.doing()
            ),
        }
        Ok(())
    }
}
