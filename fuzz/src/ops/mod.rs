//! The `client_core_ops` harness: an arbitrary sequence of operations applied to one
//! [`ClientCore`], with the core's driving contract checked after every step.
//!
//! # Input
//!
//! `[seed] [flags] op*`. The seed is the core's RNG seed; the flags pick the client
//! configuration (see [`flags`]). Each op is a tag byte (taken modulo the number of ops)
//! followed by its argument bytes ([`Op`]); a missing byte reads as 0, so every input is valid.
//!
//! Ops are user commands (producers, sends, transactions, push and lite pull consumers, acks
//! with every [`ConsumeOutcome`], seeks, commits, pauses, subscriptions, route queries, raw
//! invocations and answers, shutdown), peer bytes on the connections the core opened (answers
//! to the requests it sent, built from what it actually wrote: routes, send results, pulls of
//! encoded messages, offsets, consumer lists, locks; broker requests; stale responses; garbage,
//! delivered whole or cut in two), connection events (for connections the core asked for and
//! for unknown ids) and time steps. Ids the core handed out are used most of the time; an
//! argument byte of `0xF0` or more stands for an id it never handed out.
//!
//! # Invariants
//!
//! Checked after every step:
//! - no panic, and every `poll_output` drain settles within [`MAX_DRAIN`] outputs;
//! - every `Output::Timeout(at)` lies after `now`;
//! - connection ids are never reused; `Transmit` only on a connection reported `Connected` and
//!   not gone since; `Close` only for a live connection, at most once;
//! - every frame the core writes decodes as exactly one frame; an answer to a broker request
//!   goes to a request the peer sent on that connection and not answered yet;
//! - op ids are never reused; each result event names an op of the matching kind (a route for
//!   `query_route`, a response for `invoke`, ...) and the same consumer or producer, and no op
//!   gets two results; `ExecuteLocalTransaction` comes at most once, before the op's result;
//! - deliveries: fresh ids, a consumer the core created, never after its `ConsumerClosed`;
//!   offset files handed out for persistence decode;
//! - a command with an id the core handed out and still live is not refused as misuse; one
//!   with an id it never handed out, or one closed or closing, is refused with the misuse the
//!   command documents (and gets no op id);
//! - once `close` is called and what was queued is out, no `Connect` or `Transmit` any more;
//! - no negative offset is ever committed (offset files, UPDATE_CONSUMER_OFFSET, a pull's
//!   `commitOffset`);
//! - **quiescence**: when a drain ends with `Output::Idle` (no timer armed, so nothing will
//!   happen until the user acts), every op has its result, except those waiting for the user:
//!   a transactional send whose `ExecuteLocalTransaction` token the user still holds, and a
//!   consumer close waiting for deliveries the user has not acked.
//!
//! At the end the harness settles what the user owes (acks every delivery, ends every local
//! transaction, answers every check and request), closes the core, and runs time on past every
//! deadline. Then every op has exactly one result, nothing is pending, every connection is
//! released, no delivery or send is left in flight, and no timer is armed.
//!
//! A hang inside `poll_output` cannot be caught from here (it never returns): run the target
//! with `-timeout`, which reports such an input as a timeout. What this target found in the
//! core is kept as regression tests in `core/tests/fuzz_regressions.rs` (module `ops`).
//!
//! Ops with no result event (`ack`, `seek`, `pause`, `resume`, `subscribe`, `unsubscribe`,
//! `assign`, `abandon_deliveries`, `invoke_oneway`, `answer`, `end_local_transaction`,
//! `answer_transaction_check`) are checked by the invariants above only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rocketwire_core::body::{
    ConsumeFromWhere, GetConsumerListByGroupResponseBody, LockBatchRequestBody,
    LockBatchResponseBody, MessageModel, MessageQueue, ResetOffsetBody,
};
use rocketwire_core::codec::{encode_to_vec, RemotingCommand, SerializeType};
use rocketwire_core::consumer::{
    decode_offset_file, encode_offset_file, ConsumeMode, ConsumerConfig, Subscription,
};
use rocketwire_core::header::{
    CommandHeader, OffsetResponseHeader, PullMessageResponseHeader, SendMessageResponseHeader,
    TransactionState,
};
use rocketwire_core::message::{encode_stored_into, keys, offset_message_id, Message, MessageExt};
use rocketwire_core::producer::{ProducerConfig, QueueSelector};
use rocketwire_core::time::ManualWallClock;
use rocketwire_core::{
    AnswerToken, ClientConfig, ClientCore, ConnId, ConsumeOutcome, ConsumerError, ConsumerId,
    DeliveryId, Event, FrameDecoder, Input, LocalTransactionToken, Misuse, OpId, Output,
    ProducerId, ResponseCode, SendMode, SendTarget, TransactionCheckToken,
};

use crate::MAX_DRAIN;

/// Bits of the flags byte (the input's second byte).
pub mod flags {
    /// Two namesrvs instead of one (failover).
    pub const TWO_NAMESRVS: u8 = 1;
    /// The core writes binary (ROCKETMQ) headers instead of JSON.
    pub const BINARY: u8 = 2;
    /// Every connection the core asks for is reported open at once.
    pub const AUTO_CONNECT: u8 = 4;
    /// Route refresh and heartbeats every second instead of every 30 s.
    pub const SHORT_INTERVALS: u8 = 8;
    /// Connections time out after 500 ms instead of 3 s.
    pub const SHORT_CONNECT: u8 = 16;
    /// Frames above 4 KiB are malformed.
    pub const SMALL_FRAMES: u8 = 32;
}

/// Namesrv addresses (the second only with [`flags::TWO_NAMESRVS`]).
pub const NAMESRVS: [&str; 2] = ["127.0.0.1:9876", "127.0.0.1:9877"];
/// Master of `broker-a`.
pub const BROKER_A: &str = "127.0.0.1:10911";
/// Slave of `broker-a`.
pub const BROKER_A_SLAVE: &str = "127.0.0.1:10912";
/// Master of `broker-b`.
pub const BROKER_B: &str = "127.0.0.1:10921";
/// Slave of `broker-b`.
pub const BROKER_B_SLAVE: &str = "127.0.0.1:10922";

/// Topics sent to: two with routes, one the namesrv may not know (template route), one
/// invalid name.
const SEND_TOPICS: [&str; 4] = ["FuzzTopic", "TopicB", "NewTopic", "bad topic!"];
/// Topics subscribed to.
const SUB_TOPICS: [&str; 3] = ["FuzzTopic", "TopicB", "NewTopic"];
/// Producer groups (the last one has no producer, for transaction checks).
const PRODUCER_GROUPS: [&str; 3] = ["pg0", "pg1", "pg-none"];
/// Consumer groups (the last one has no consumer, for notifications).
const CONSUMER_GROUPS: [&str; 3] = ["cg0", "cg1", "cg-none"];
/// Addresses for raw invocations: namesrvs, brokers, and one nobody listens on.
const INVOKE_ADDRS: [&str; 5] = [NAMESRVS[0], NAMESRVS[1], BROKER_A, BROKER_B, "127.0.0.1:1"];
/// Request codes for raw invocations.
const INVOKE_CODES: [i32; 6] = [105, 34, 38, 9999, -5, 0x7FFF_FFFF];

/// Most producers and consumers the harness creates.
const MAX_CLIENTS: usize = 6;
/// How many rounds the final phase runs time on for at most.
const FINAL_ROUNDS: usize = 200;

/// A reader of fuzz bytes: a byte past the end reads as 0.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, 0 once exhausted.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes (fewer once exhausted).
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head.to_vec()
    }
}

macro_rules! define_ops {
    ($( $(#[$doc:meta])* $name:ident = $tag:literal { $($field:ident),* } ),* $(,)?) => {
        /// One step of the sequence. Argument bytes are interpreted when the op is applied
        /// (see [`OpsHarness::apply`]).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Op {
            $( $(#[$doc])* $name { $( #[allow(missing_docs)] $field: u8 ),* }, )*
            /// Raw bytes on a connection.
            Garbage {
                /// Which connection.
                conn: u8,
                /// The bytes (at most 64).
                bytes: Vec<u8>,
            },
        }

        impl Op {
            /// Reads one op; `None` once the input is exhausted.
            pub fn decode(r: &mut Reader<'_>) -> Option<Op> {
                if r.is_empty() {
                    return None;
                }
                let tag = r.byte() % OP_COUNT;
                Some(match tag {
                    $( $tag => Op::$name { $( $field: r.byte() ),* }, )*
                    _ => {
                        let conn = r.byte();
                        let n = usize::from(r.byte() % 65);
                        Op::Garbage { conn, bytes: r.take(n) }
                    }
                })
            }

            /// Appends the op's bytes (the inverse of [`Op::decode`]).
            pub fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $( Op::$name { $($field),* } => {
                        out.push($tag);
                        $( out.push(*$field); )*
                    } )*
                    Op::Garbage { conn, bytes } => {
                        let bytes = &bytes[..bytes.len().min(64)];
                        out.push(OP_COUNT - 1);
                        out.push(*conn);
                        out.push(bytes.len() as u8);
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
    };
}

/// Number of op kinds (the tag byte is taken modulo this).
pub const OP_COUNT: u8 = 37;

define_ops! {
    /// `create_producer`: group, selector / timeout / retries bits.
    CreateProducer = 0 { group, options },
    /// `close_producer`.
    CloseProducer = 1 { producer },
    /// `send`: topic, mode (sync / async / oneway), target (default or a queue), body shape.
    Send = 2 { producer, topic, mode, target, body },
    /// `send_batch`: `count % 5` messages (0 is an empty batch; bit 7 mixes topics).
    SendBatch = 3 { producer, topic, count, mode },
    /// `send_transactional`.
    SendTransactional = 4 { producer, topic },
    /// `end_local_transaction` with a token from `ExecuteLocalTransaction`.
    EndLocalTransaction = 5 { token, state },
    /// `answer_transaction_check` with a token from `CheckTransaction`.
    AnswerCheck = 6 { token, state },
    /// `create_consumer` / `create_lite_consumer`: group, kind bits (lite, broadcasting,
    /// orderly, where to start, batch size, short intervals), topic bits, local offsets.
    CreateConsumer = 7 { group, kind, topics, offsets },
    /// `close_consumer`.
    CloseConsumer = 8 { consumer },
    /// `ack` with an outcome (`outcome % 4`: success, reconsume later, suspend, abandon).
    Ack = 9 { delivery, outcome },
    /// `seek`.
    Seek = 10 { consumer, queue, offset },
    /// `commit_offsets`.
    Commit = 11 { consumer },
    /// `pause` (queue bitmask).
    Pause = 12 { consumer, queues },
    /// `resume` (queue bitmask).
    Resume = 13 { consumer, queues },
    /// `subscribe`.
    Subscribe = 14 { consumer, topic, expr },
    /// `unsubscribe`.
    Unsubscribe = 15 { consumer, topic },
    /// `assign` (queue bitmask).
    Assign = 16 { consumer, queues },
    /// `abandon_deliveries`.
    AbandonDeliveries = 17 { consumer },
    /// `query_route`.
    QueryRoute = 18 { topic },
    /// `invoke`: address, code, timeout (50 ms steps, 0 = none).
    Invoke = 19 { addr, code, timeout },
    /// `invoke_oneway`.
    InvokeOneway = 20 { addr, code },
    /// `answer` a broker request the core surfaced.
    Answer = 21 { token, code },
    /// `close`.
    Close = 22 {},
    /// `Input::Connected` (then `Input::LocalAddr` with bit 7 of `conn`).
    Connected = 23 { conn },
    /// `Input::ConnectFailed` (`Input::TlsFailed` with bit 7 of `conn`).
    ConnectFailed = 24 { conn },
    /// `Input::Closed`.
    Closed = 25 { conn },
    /// A response to one request the core sent (`variant` picks the answer; `cut` splits it
    /// into two reads).
    Respond = 26 { request, variant, cut },
    /// A response to every request outstanding now.
    RespondAll = 27 { variant },
    /// A broker→client request on a connection (`kind % 8`).
    PeerRequest = 28 { conn, kind, arg, cut },
    /// A response with an opaque that is not pending (answered before, or made up).
    StaleResponse = 29 { conn, opaque },
    /// Time moves on by `ms` milliseconds (bit 0 clear: report `Input::Timeout`).
    Advance = 30 { ms },
    /// Time moves on by `secs` seconds, then `Input::Timeout`.
    AdvanceLong = 31 { secs },
    /// Time moves to the last deadline the core gave, then `Input::Timeout`.
    AdvanceToDeadline = 32 {},
    /// `Input::Connected` for every connection still opening.
    ConnectAll = 33 {},
    /// The next op runs inside the next drain, right after its first event (commands only).
    Reentrant = 34 {},
    /// A second time step (kept apart so time moves often): `ms * 16` milliseconds.
    AdvanceMid = 35 { ms },
}

impl Op {
    /// Whether the op is a user command (which a handler may run in the middle of a drain).
    pub fn is_command(&self) -> bool {
        !matches!(
            self,
            Op::Connected { .. }
                | Op::ConnectFailed { .. }
                | Op::Closed { .. }
                | Op::Respond { .. }
                | Op::RespondAll { .. }
                | Op::PeerRequest { .. }
                | Op::StaleResponse { .. }
                | Op::Garbage { .. }
                | Op::Advance { .. }
                | Op::AdvanceMid { .. }
                | Op::AdvanceLong { .. }
                | Op::AdvanceToDeadline {}
                | Op::ConnectAll {}
                | Op::Reentrant {}
        )
    }
}

/// Encodes a whole input: seed, flags and ops.
pub fn encode_input(seed: u8, flag_bits: u8, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![seed, flag_bits];
    for op in ops {
        op.encode(&mut out);
    }
    out
}

/// What an op id was handed out for, and so which event must end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `query_route` → `Event::Route`.
    Route,
    /// `invoke` → `Event::Response`.
    Invoke,
    /// `send` / `send_batch` → `Event::Send`, or `Event::OnewaySent` for oneway.
    Send {
        /// Sent with [`SendMode::Oneway`].
        oneway: bool,
    },
    /// `send_transactional` → `Event::Transaction`.
    Transactional,
    /// `close_producer` → `Event::ProducerClosed`.
    CloseProducer(ProducerId),
    /// `close_consumer` → `Event::ConsumerClosed`.
    CloseConsumer(ConsumerId),
    /// `commit_offsets` → `Event::OffsetsCommitted`.
    Commit(ConsumerId),
}

#[derive(Debug)]
struct OpRecord {
    kind: OpKind,
    results: u32,
    local_transaction: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Opening,
    Open,
    Gone,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    addr: String,
    state: ConnState,
    /// Requests the core wrote that expect a response, not yet answered by the peer.
    requests: Vec<RemotingCommand>,
    /// Opaques the peer already answered (for stale responses).
    answered: Vec<i32>,
    /// Peer requests expecting an answer, per opaque: how many are unanswered.
    peer_requests: HashMap<i32, u32>,
    next_peer_opaque: i32,
    /// What the core received on this connection, decoded as the core would.
    rx: BytesMut,
    rx_poisoned: bool,
}

/// Where a producer or consumer is in its life, as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Takes commands.
    Live,
    /// A close was accepted; its result has not come yet.
    Closing,
    /// Its close result came: the id is unknown to the core from now on.
    Closed,
}

#[derive(Debug)]
struct ConsumerInfo {
    id: ConsumerId,
    life: Life,
    /// Took its queues with `assign`.
    assigned: bool,
    /// Topics it subscribes (the retry topic included).
    subs: HashSet<String>,
    /// Deliveries out with the user may be given up after this long.
    consume_timeout: Option<Duration>,
}

#[derive(Debug)]
struct DeliveryInfo {
    id: DeliveryId,
    consumer: ConsumerId,
    queue: MessageQueue,
    at: Instant,
    /// Came in a drain after a command inside it abandoned its consumer's deliveries: it may
    /// have been queued before, and abandoned with the rest.
    maybe_abandoned: bool,
}

/// Counts of what a run reached (to check that seeds go deep).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpsSeen {
    /// Ops applied.
    pub ops: usize,
    /// Successful `Event::Route`.
    pub routes_ok: usize,
    /// Successful `Event::Send`.
    pub sends_ok: usize,
    /// Successful `Event::OnewaySent`.
    pub oneway_ok: usize,
    /// `Event::Response` with a response.
    pub responses_ok: usize,
    /// `Event::ExecuteLocalTransaction`.
    pub local_transactions: usize,
    /// `Event::Transaction` with a result.
    pub transactions_ok: usize,
    /// `Event::CheckTransaction`.
    pub checks: usize,
    /// `Event::Deliver`.
    pub deliveries: usize,
    /// Messages delivered.
    pub messages: usize,
    /// `Event::OffsetsCommitted`.
    pub commits: usize,
    /// `Event::ConsumerClosed`.
    pub consumers_closed: usize,
    /// `Event::ProducerClosed`.
    pub producers_closed: usize,
    /// `Event::PersistLocalOffsets`.
    pub local_offsets: usize,
    /// `Event::Request`.
    pub requests: usize,
    /// `Event::PeerError`.
    pub peer_errors: usize,
    /// Client-id collisions and consumer refusals reported.
    pub diagnostics: usize,
    /// Answers the core wrote to broker requests.
    pub answers_written: usize,
    /// Responses the harness fed back to the core's requests.
    pub responses_fed: usize,
    /// Ops run inside a drain.
    pub reentrant: usize,
    /// Commands refused as misuse.
    pub misuse: usize,
}

/// One core and everything the harness knows about it.
pub struct OpsHarness {
    core: ClientCore,
    wall: ManualWallClock,
    wall_base: i64,
    base: Instant,
    now: Instant,
    flags: u8,
    max_frame_len: usize,
    conns: Vec<Conn>,
    conn_index: HashMap<ConnId, usize>,
    producers: Vec<(ProducerId, Life)>,
    consumers: Vec<ConsumerInfo>,
    deliveries: Vec<DeliveryInfo>,
    seen_deliveries: HashSet<DeliveryId>,
    /// Consumers whose deliveries a command inside the current drain abandoned.
    abandoned_in_drain: HashSet<ConsumerId>,
    /// Deliveries acked or abandoned: acking them again is misuse.
    settled: Vec<DeliveryId>,
    answer_tokens: Vec<AnswerToken>,
    local_transactions: Vec<(OpId, LocalTransactionToken)>,
    checks: Vec<TransactionCheckToken>,
    ops: BTreeMap<OpId, OpRecord>,
    deadline: Option<Instant>,
    closed: bool,
    /// Closed, and everything queued before is out: no `Connect` or `Transmit` any more.
    quiet: bool,
    reentrant: Option<Op>,
    in_drain: bool,
    store_offset: i64,
    /// One line per op and output, when asked for (see [`trace`]).
    transcript: Option<Box<dyn FnMut(String)>>,
    /// What the run reached.
    pub seen: OpsSeen,
}

impl std::fmt::Debug for OpsHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsHarness")
            .field("now", &self.now.saturating_duration_since(self.base))
            .field("ops", &self.ops)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// The target body: runs `data` as `[seed] [flags] op*` and checks every invariant (a
/// violation panics).
pub fn client_core_ops(data: &[u8]) -> OpsSeen {
    let mut r = Reader::new(data);
    let mut h = OpsHarness::from_input(&mut r);
    h.run_ops(&mut r);
    h.seen
}

/// Runs `data` like [`client_core_ops`], recording a transcript: one line per op and per
/// output, time first. Returns it with what the run reached, or the panic message of the
/// invariant it broke (the transcript then ends where it broke).
pub fn trace(data: &[u8]) -> (Vec<String>, Result<OpsSeen, String>) {
    let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = lines.clone();
    let result = trace_with(data, move |line| sink.borrow_mut().push(line));
    let lines = std::mem::take(&mut *lines.borrow_mut());
    (lines, result)
}

/// Like [`trace`], handing each line to `sink` as it happens (for an input that hangs).
pub fn trace_with(data: &[u8], sink: impl FnMut(String) + 'static) -> Result<OpsSeen, String> {
    let mut r = Reader::new(data);
    let mut h = OpsHarness::from_input(&mut r);
    h.transcript = Some(Box::new(sink));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.run_ops(&mut r);
        h.seen.clone()
    }));
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".to_string())
    })
}

impl OpsHarness {
    /// A harness configured by the input's first two bytes (seed, flags).
    fn from_input(r: &mut Reader<'_>) -> Self {
        let seed = r.byte();
        let flag_bits = r.byte();
        OpsHarness::new(seed, flag_bits)
    }

    /// Applies every op left in `r`, then [`OpsHarness::finish`]es.
    fn run_ops(&mut self, r: &mut Reader<'_>) {
        let h = self;
        while let Some(op) = Op::decode(r) {
            if let Op::Reentrant {} = op {
                // The command after it runs inside the next drain, right after an event (as a
                // user's handler would); anything else runs as usual.
                match Op::decode(r) {
                    Some(next) if next.is_command() => h.reentrant = Some(next),
                    Some(next) => h.step(next),
                    None => {}
                }
                continue;
            }
            h.step(op);
        }
        h.finish();
    }
}

mod apply;
mod drive;
mod peer;

use peer::bogus_queue;
pub use peer::{queues, route_body};

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str) -> OpsSeen {
        let (_, input) = crate::ops_seeds::named()
            .into_iter()
            .find(|(n, _)| *n == name)
            .expect("a seed of that name");
        let (lines, result) = trace(&input);
        result.unwrap_or_else(|e| panic!("seed {name}: {e}\n{}", lines.join("\n")))
    }

    #[test]
    fn every_seed_passes() {
        for input in crate::ops_seeds::client_core_ops() {
            client_core_ops(&input);
        }
    }

    #[test]
    fn committed_seeds_are_current() {
        // What libFuzzer reads: `cargo run --example gen_seeds` writes it.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/client_core_ops");
        for (i, input) in crate::ops_seeds::client_core_ops().iter().enumerate() {
            let file = dir.join(format!("seed-{i:02}"));
            let committed = std::fs::read(&file).unwrap_or_default();
            assert!(
                &committed == input,
                "{} is stale: run gen_seeds",
                file.display()
            );
        }
    }

    #[test]
    fn producer_seed_reaches_sends_transactions_and_close() {
        let s = seen("producer");
        assert!(
            s.routes_ok >= 1 && s.sends_ok >= 4 && s.oneway_ok >= 1,
            "{s:?}"
        );
        assert_eq!(
            (s.local_transactions, s.transactions_ok, s.checks),
            (1, 1, 1)
        );
        assert_eq!((s.responses_ok, s.producers_closed), (1, 1));
    }

    #[test]
    fn consumer_seeds_reach_deliveries_commits_and_close() {
        let s = seen("push_consumer");
        assert!(
            s.deliveries >= 4 && s.commits == 1 && s.consumers_closed == 1,
            "{s:?}"
        );
        assert!(s.answers_written >= 2 && s.requests >= 1, "{s:?}");
        let s = seen("lite_and_orderly");
        assert!(
            s.deliveries >= 2 && s.commits == 1 && s.consumers_closed == 2,
            "{s:?}"
        );
        let s = seen("broadcasting");
        assert!(s.deliveries >= 1 && s.local_offsets >= 1, "{s:?}");
    }

    #[test]
    fn faults_seed_reaches_refusals_and_peer_errors() {
        let s = seen("faults");
        assert!(
            s.misuse >= 3 && s.peer_errors >= 1 && s.reentrant == 1,
            "{s:?}"
        );
    }

    #[test]
    fn ops_encode_and_decode_alike() {
        // Every tag, with arguments, reads back as written; so does whatever bytes decode to.
        let noise: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut r = Reader::new(&noise);
        let mut ops = Vec::new();
        while let Some(op) = Op::decode(&mut r) {
            ops.push(op);
        }
        for tag in 0..OP_COUNT {
            let bytes = [tag, 1, 2, 3, 4, 5, 6];
            ops.push(Op::decode(&mut Reader::new(&bytes)).expect("an op"));
        }
        let input = encode_input(9, 0, &ops);
        let mut r = Reader::new(&input[2..]);
        for op in &ops {
            assert_eq!(Op::decode(&mut r).as_ref(), Some(op));
        }
        assert!(r.is_empty());
    }

    #[test]
    fn short_inputs_are_valid() {
        for input in [&[][..], &[1], &[1, 0xFF], &[0, 0, 22], &[0, 0, 7]] {
            client_core_ops(input);
        }
        client_core_ops(&[7, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
}
