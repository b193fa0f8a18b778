//! A tiny fake namesrv + broker on `127.0.0.1`, one thread per connection, scripted by the
//! requests themselves (see [`FakeServer`]).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rocketwire_core::codec::{encode_to_vec, FrameDecoder, RequestCode};
use rocketwire_core::{RemotingCommand, ResponseCode, SerializeType};

/// The request code the fake broker scripts on (see [`FakeServer`]).
pub const TEST_CODE: i32 = 9000;
/// The code of the request the fake broker sends to the client for `action=push`.
pub const PUSH_CODE: i32 = 9001;
/// The only topic the fake namesrv knows.
pub const TOPIC: &str = "TopicTest";
/// The broker name in the fake route.
pub const BROKER_NAME: &str = "broker-a";
/// The remark of scripted responses.
pub const REMARK: &str = "fake remark";
/// A message property that scripts the fake broker: its send is answered `SYSTEM_BUSY` this
/// many times (per `UNIQ_KEY`) before it is stored.
pub const BUSY_PROPERTY: &str = "fakeBusyTimes";
/// A message property that scripts the fake broker: its send is answered after this many
/// milliseconds (from another thread, so later sends may be answered first).
pub const DELAY_PROPERTY: &str = "fakeDelayMs";
/// The `msgId` (offset message id) the fake broker answers every stored send with.
pub const FAKE_OFFSET_MSG_ID: &str = "7F00000100002A9F00000000000004D2";

/// The longest a fake server lives, even if never dropped.
const MAX_LIFETIME: Duration = Duration::from_secs(120);
/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// What the fake server saw.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Connections accepted.
    pub accepted: usize,
    /// Connections that ended (closed by either side).
    pub closed: usize,
    /// Every request received, in order.
    pub received: Vec<RemotingCommand>,
}

#[derive(Debug, Default)]
struct State {
    stop: AtomicBool,
    log: Mutex<Log>,
    next_opaque: AtomicI32,
    /// Next offset per queue id, and `SYSTEM_BUSY` answers given per `UNIQ_KEY`.
    sends: Mutex<(HashMap<i32, i64>, HashMap<String, u32>)>,
    /// The broker address routes name, when not the server's own (see
    /// [`FakeServer::advertise`]).
    advertised: Mutex<Option<SocketAddr>>,
}

impl State {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fake namesrv and broker in one, on `127.0.0.1:0`; it stops when dropped (or after two
/// minutes).
///
/// * `GET_ROUTEINFO_BY_TOPIC` for [`TOPIC`] answers a route with one broker ([`BROKER_NAME`],
///   4 queues, master address = this server); other topics get `TOPIC_NOT_EXIST`.
/// * [`TEST_CODE`] requests echo their body with code `respCode` (default 0) and remark
///   [`REMARK`], after `delayMs` milliseconds (answers are written from their own thread, so a
///   delayed answer comes after later ones). `action` changes that: `close` closes the
///   connection instead, `silent` never answers, `push` first sends the client a [`PUSH_CODE`]
///   request with the same body and answers with the client's answer's code, remark and body.
/// * `SEND_MESSAGE`, `SEND_MESSAGE_V2` and `SEND_BATCH_MESSAGE` are answered `SEND_OK` with
///   `msgId` [`FAKE_OFFSET_MSG_ID`], the request's queue id and the next offset of that queue
///   (per server); a message with property [`BUSY_PROPERTY`] = `n` is first answered
///   `SYSTEM_BUSY` `n` times; with [`DELAY_PROPERTY`] = `ms` the answer is delayed. `HEART_BEAT` and `UNREGISTER_CLIENT` are answered `SUCCESS`.
/// * Oneway requests are only logged.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    state: Arc<State>,
}

impl FakeServer {
    /// Binds and starts accepting.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        thread::spawn(move || accept_loop(listener, addr, accept_state));
        Ok(Self { addr, state })
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The listening address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Routes name `addr` as the broker's address from now on (e.g. a
    /// [`super::TlsFront`] before this server).
    pub fn advertise(&self, addr: SocketAddr) {
        *self
            .state
            .advertised
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(addr);
    }

    /// A copy of what it saw so far.
    pub fn log(&self) -> Log {
        self.state.log().clone()
    }

    /// Waits up to `timeout` for `cond` to hold on the log.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&Log) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.state.log()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
    }
}

fn accept_loop(listener: TcpListener, addr: SocketAddr, state: Arc<State>) {
    let end = Instant::now() + MAX_LIFETIME;
    while !state.stop.load(Ordering::Relaxed) && Instant::now() < end {
        match listener.accept() {
            Ok((stream, _)) => {
                state.log().accepted += 1;
                let state = state.clone();
                thread::spawn(move || {
                    let _ = serve(stream, addr, &state, end);
                    state.log().closed += 1;
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(_) => return,
        }
    }
}

/// The write side of a connection, shared by the threads that answer on it.
#[derive(Clone)]
struct Writer(Arc<Mutex<TcpStream>>);

impl Writer {
    fn send(&self, cmd: &RemotingCommand) {
        if let Ok(frame) = encode_to_vec(cmd, SerializeType::Json) {
            let mut stream = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = stream.write_all(&frame);
        }
    }
}

type PushWaiters = Arc<Mutex<HashMap<i32, mpsc::Sender<RemotingCommand>>>>;

fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    state: &Arc<State>,
    end: Instant,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL))?;
    let writer = Writer(Arc::new(Mutex::new(stream.try_clone()?)));
    let pushes: PushWaiters = Arc::default();
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 8192];
    while !state.stop.load(Ordering::Relaxed) && Instant::now() < end {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        }
        while let Some(cmd) = decoder.decode(&mut buf).map_err(std::io::Error::other)? {
            if cmd.is_response() {
                let waiter = pushes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&cmd.opaque);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(cmd);
                }
                continue;
            }
            state.log().received.push(cmd.clone());
            if cmd.is_oneway() {
                continue;
            }
            match cmd.request_code_typed() {
                RequestCode::GetRouteInfoByTopic => {
                    let advertised = *state
                        .advertised
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    writer.send(&route_response(&cmd, advertised.unwrap_or(addr)));
                    continue;
                }
                RequestCode::SendMessage
                | RequestCode::SendMessageV2
                | RequestCode::SendBatchMessage => {
                    let (response, delay) = send_response(&cmd, state);
                    if delay.is_zero() {
                        writer.send(&response);
                    } else {
                        let writer = writer.clone();
                        thread::spawn(move || {
                            thread::sleep(delay);
                            writer.send(&response);
                        });
                    }
                    continue;
                }
                RequestCode::HeartBeat | RequestCode::UnregisterClient => {
                    writer.send(&RemotingCommand::response_to(&cmd, ResponseCode::Success));
                    continue;
                }
                _ => {}
            }
            match cmd.field("action") {
                Some("close") => {
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(());
                }
                Some("silent") => {}
                action => {
                    let push = action == Some("push");
                    let (writer, pushes, state) = (writer.clone(), pushes.clone(), state.clone());
                    thread::spawn(move || answer(cmd, push, &writer, &pushes, &state));
                }
            }
        }
    }
    Ok(())
}

fn answer(cmd: RemotingCommand, push: bool, writer: &Writer, pushes: &PushWaiters, state: &State) {
    let delay = cmd
        .field("delayMs")
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    thread::sleep(Duration::from_millis(delay));
    let code = cmd
        .field("respCode")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut response = RemotingCommand::response_to(&cmd, ResponseCode::from_code(code))
        .with_remark(REMARK)
        .with_body(cmd.body.clone());
    if push {
        let opaque = state.next_opaque.fetch_add(1, Ordering::Relaxed) + 1_000_000;
        let (tx, rx) = mpsc::channel();
        pushes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(opaque, tx);
        let mut request = RemotingCommand::request_code(PUSH_CODE).with_body(cmd.body.clone());
        request.opaque = opaque;
        writer.send(&request);
        let Ok(answer) = rx.recv_timeout(Duration::from_secs(10)) else {
            return;
        };
        response.code = answer.code;
        response.remark = answer.remark;
        response.body = answer.body;
    }
    writer.send(&response);
}

/// The answer of the fake broker to a send (see [`FakeServer`]) and its delay.
fn send_response(cmd: &RemotingCommand, state: &State) -> (RemotingCommand, Duration) {
    let field = |long: &str, short: &str| cmd.field(long).or_else(|| cmd.field(short));
    let queue_id: i32 = field("queueId", "e")
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    let properties = field("properties", "i").unwrap_or_default();
    let property = |name: &str| {
        properties.split('\u{2}').find_map(|pair| {
            let (k, v) = pair.split_once('\u{1}')?;
            (k == name).then_some(v)
        })
    };
    let delay = Duration::from_millis(
        property(DELAY_PROPERTY)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    );
    let busy_times: u32 = property(BUSY_PROPERTY)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut sends = state.sends.lock().unwrap_or_else(PoisonError::into_inner);
    if busy_times > 0 {
        let key = property("UNIQ_KEY").unwrap_or_default().to_owned();
        let given = sends.1.entry(key).or_insert(0);
        if *given < busy_times {
            *given += 1;
            let busy = RemotingCommand::response_to(cmd, ResponseCode::SystemBusy)
                .with_remark("[fake] system busy");
            return (busy, delay);
        }
    }
    let next = sends.0.entry(queue_id).or_insert(0);
    let offset = *next;
    *next += 1;
    let stored = RemotingCommand::response_to(cmd, ResponseCode::Success)
        .with_field("msgId", FAKE_OFFSET_MSG_ID)
        .with_field("queueId", queue_id.to_string())
        .with_field("queueOffset", offset.to_string());
    (stored, delay)
}

fn route_response(cmd: &RemotingCommand, addr: SocketAddr) -> RemotingCommand {
    match cmd.field("topic") {
        Some(TOPIC) => {
            let body = format!(
                concat!(
                    r#"{{"orderTopicConf":null,"queueDatas":[{{"brokerName":"{name}","#,
                    r#""readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSysFlag":0}}],"#,
                    r#""brokerDatas":[{{"cluster":"DefaultCluster","brokerName":"{name}","#,
                    r#""brokerAddrs":{{"0":"{addr}"}}}}],"filterServerTable":{{}}}}"#
                ),
                name = BROKER_NAME,
                addr = addr
            );
            RemotingCommand::response_to(cmd, ResponseCode::Success).with_body(body)
        }
        topic => {
            RemotingCommand::response_to(cmd, ResponseCode::TopicNotExist).with_remark(format!(
                "No topic route info in name server for the topic: {}",
                topic.unwrap_or_default()
            ))
        }
    }
}
