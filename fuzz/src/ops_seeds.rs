//! Seeds for the `client_core_ops` target, written as op sequences (see [`crate::ops`]).
//!
//! `RespondAll { variant: 0 }` answers every outstanding request with the plain success
//! (route of one broker, send stored, one message pulled, offset 0, a consumer list of this
//! client alone, every lock granted); other variants pick other answers.

use crate::ops::{encode_input, flags, Op};

const OK: Op = Op::RespondAll { variant: 0 };
/// Routes over two brokers; pulls of two messages; a consumer list with a peer.
const OK_WIDE: Op = Op::RespondAll { variant: 9 };

fn advance_ms(ms: u8) -> Op {
    Op::Advance { ms: ms & !1 }
}

/// A producer's life: routes (also the template route of a topic the namesrv does not know),
/// sync, async, oneway and batch sends, a transactional send and a broker's transaction
/// check, a raw invocation, a route query, the periodic jobs, the close.
fn producer() -> Vec<Op> {
    vec![
        Op::CreateProducer {
            group: 0,
            options: 0,
        },
        Op::Send {
            producer: 0,
            topic: 0,
            mode: 0,
            target: 0,
            body: 4,
        },
        OK_WIDE,
        OK,
        OK,
        Op::Send {
            producer: 0,
            topic: 0,
            mode: 1,
            target: 0,
            body: 8,
        },
        Op::Send {
            producer: 0,
            topic: 0,
            mode: 2,
            target: 0,
            body: 2,
        },
        Op::Send {
            producer: 0,
            topic: 0,
            mode: 0,
            target: 3,
            body: 0x10,
        },
        Op::SendBatch {
            producer: 0,
            topic: 0,
            count: 3,
            mode: 0,
        },
        OK,
        Op::SendTransactional {
            producer: 0,
            topic: 0,
        },
        OK,
        Op::EndLocalTransaction { token: 0, state: 0 },
        Op::PeerRequest {
            conn: 1,
            kind: 1,
            arg: 0,
            cut: 0,
        },
        Op::AnswerCheck { token: 0, state: 1 },
        Op::Send {
            producer: 0,
            topic: 2,
            mode: 0,
            target: 0,
            body: 0,
        },
        Op::RespondAll { variant: 4 },
        OK,
        OK,
        Op::QueryRoute { topic: 1 },
        Op::Invoke {
            addr: 2,
            code: 3,
            timeout: 20,
        },
        OK,
        Op::AdvanceLong { secs: 31 },
        OK,
        Op::CloseProducer { producer: 0 },
        OK,
        Op::Close {},
    ]
}

/// A clustering push consumer: routes, the group's list, start offsets, pulls, deliveries
/// acked with every outcome, send-backs, a commit, broker requests about the consumer, a
/// second subscription, pause and resume, the close.
fn push_consumer() -> Vec<Op> {
    let mut ops = vec![
        Op::CreateConsumer {
            group: 0,
            kind: 0,
            topics: 1,
            offsets: 0,
        },
        OK,
        OK,
        OK,
        advance_ms(200),
        Op::AdvanceMid { ms: 70 },
        OK,
        OK,
        OK,
        OK,
    ];
    for outcome in 0..4 {
        ops.push(Op::Ack {
            delivery: 0,
            outcome,
        });
    }
    ops.extend([
        OK,
        Op::Commit { consumer: 0 },
        OK,
        Op::PeerRequest {
            conn: 1,
            kind: 0,
            arg: 0,
            cut: 0,
        },
        Op::PeerRequest {
            conn: 1,
            kind: 2,
            arg: 0,
            cut: 3,
        },
        Op::PeerRequest {
            conn: 1,
            kind: 3,
            arg: 0,
            cut: 0,
        },
        Op::PeerRequest {
            conn: 1,
            kind: 4,
            arg: 4,
            cut: 0,
        },
        Op::PeerRequest {
            conn: 1,
            kind: 5,
            arg: 0,
            cut: 0,
        },
        Op::Answer { token: 0, code: 0 },
        OK,
        Op::Subscribe {
            consumer: 0,
            topic: 1,
            expr: 1,
        },
        OK,
        OK,
        Op::Unsubscribe {
            consumer: 0,
            topic: 1,
        },
        Op::Pause {
            consumer: 0,
            queues: 0xFF,
        },
        Op::AdvanceMid { ms: 100 },
        Op::Resume {
            consumer: 0,
            queues: 0xFF,
        },
        OK,
        Op::CloseConsumer { consumer: 0 },
        Op::Ack {
            delivery: 0,
            outcome: 0,
        },
        Op::Ack {
            delivery: 0,
            outcome: 0,
        },
        Op::Ack {
            delivery: 0,
            outcome: 0,
        },
        OK,
        OK,
        Op::Close {},
    ]);
    ops
}

/// A lite pull consumer that assigns its queues, seeks, pauses and commits; an orderly push
/// consumer that locks its queues and suspends a batch; broker requests answered by the user.
fn lite_and_orderly() -> Vec<Op> {
    vec![
        Op::CreateConsumer {
            group: 1,
            kind: 1,
            topics: 1,
            offsets: 0,
        },
        Op::Assign {
            consumer: 0,
            queues: 0b11,
        },
        OK,
        OK,
        OK,
        Op::Seek {
            consumer: 0,
            queue: 0,
            offset: 5,
        },
        OK,
        Op::Ack {
            delivery: 0,
            outcome: 0,
        },
        Op::Commit { consumer: 0 },
        OK,
        Op::CreateConsumer {
            group: 0,
            kind: 4,
            topics: 1,
            offsets: 0,
        },
        OK,
        OK,
        OK,
        OK,
        Op::AdvanceMid { ms: 70 },
        OK,
        OK,
        OK,
        Op::Ack {
            delivery: 0,
            outcome: 2,
        },
        Op::AdvanceMid { ms: 70 },
        OK,
        Op::Ack {
            delivery: 0,
            outcome: 0,
        },
        Op::Ack {
            delivery: 0,
            outcome: 1,
        },
        Op::PeerRequest {
            conn: 0,
            kind: 6,
            arg: 0,
            cut: 0,
        },
        Op::Answer { token: 0, code: 1 },
        Op::CloseConsumer { consumer: 1 },
        OK,
        Op::CloseConsumer { consumer: 0 },
        OK,
        OK,
    ]
}

/// A broadcasting consumer started from an offset file: offsets handed out for persistence.
fn broadcasting() -> Vec<Op> {
    vec![
        Op::CreateConsumer {
            group: 0,
            kind: 2 | 0x80,
            topics: 1,
            offsets: 5,
        },
        OK,
        OK,
        OK,
        OK,
        Op::Ack {
            delivery: 0,
            outcome: 0,
        },
        Op::Ack {
            delivery: 0,
            outcome: 1,
        },
        Op::AdvanceLong { secs: 2 },
        OK,
        Op::Commit { consumer: 0 },
        Op::CloseConsumer { consumer: 0 },
        OK,
        OK,
    ]
}

/// Faults: connections that fail or close with requests in flight, garbage, stale and
/// duplicated responses, responses cut in two, timeouts, commands with unknown ids, a command
/// run inside a drain, shutdown with everything in flight.
fn faults() -> Vec<Op> {
    vec![
        Op::CreateProducer {
            group: 1,
            options: 0x11,
        },
        Op::CreateConsumer {
            group: 0,
            kind: 0x80,
            topics: 3,
            offsets: 0,
        },
        Op::Send {
            producer: 0,
            topic: 1,
            mode: 0,
            target: 0,
            body: 0,
        },
        Op::ConnectFailed { conn: 0 },
        Op::ConnectAll {},
        Op::Respond {
            request: 0,
            variant: 1,
            cut: 9,
        },
        Op::StaleResponse { conn: 0, opaque: 0 },
        Op::StaleResponse {
            conn: 0,
            opaque: 0x90,
        },
        Op::RespondAll { variant: 3 },
        Op::ConnectAll {},
        Op::RespondAll { variant: 0x10 },
        Op::ConnectAll {},
        Op::RespondAll { variant: 0 },
        Op::Garbage {
            conn: 1,
            bytes: vec![0, 0, 0, 9, 0xFF, 0, 0, 4, b'{'],
        },
        Op::Closed { conn: 0 },
        Op::AdvanceToDeadline {},
        Op::ConnectAll {},
        Op::RespondAll { variant: 0 },
        Op::Reentrant {},
        Op::Ack {
            delivery: 0,
            outcome: 1,
        },
        Op::RespondAll { variant: 0 },
        Op::Connected { conn: 0xF3 },
        Op::Closed { conn: 0xF4 },
        Op::Send {
            producer: 0xF1,
            topic: 0,
            mode: 0,
            target: 0,
            body: 0,
        },
        Op::CloseConsumer { consumer: 0xF2 },
        Op::Ack {
            delivery: 0xF5,
            outcome: 0,
        },
        Op::Seek {
            consumer: 0,
            queue: 8,
            offset: 1,
        },
        Op::Invoke {
            addr: 4,
            code: 0,
            timeout: 1,
        },
        Op::Advance { ms: 101 },
        Op::AdvanceLong { secs: 4 },
        Op::ConnectAll {},
        Op::Commit { consumer: 0 },
        Op::Close {},
        Op::Send {
            producer: 0,
            topic: 0,
            mode: 1,
            target: 0,
            body: 0,
        },
        Op::CloseProducer { producer: 0 },
        Op::Commit { consumer: 0 },
        Op::CloseConsumer { consumer: 0 },
    ]
}

/// Seeds for the `client_core_ops` target: `(name, input)`.
pub fn named() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "producer",
            encode_input(1, flags::AUTO_CONNECT, &producer()),
        ),
        (
            "push_consumer",
            encode_input(2, flags::AUTO_CONNECT, &push_consumer()),
        ),
        (
            "lite_and_orderly",
            encode_input(3, flags::AUTO_CONNECT | flags::BINARY, &lite_and_orderly()),
        ),
        (
            "broadcasting",
            encode_input(
                4,
                flags::AUTO_CONNECT | flags::SHORT_INTERVALS,
                &broadcasting(),
            ),
        ),
        (
            "faults",
            encode_input(5, flags::TWO_NAMESRVS | flags::SHORT_CONNECT, &faults()),
        ),
    ]
}

/// Seeds for the `client_core_ops` target.
pub fn client_core_ops() -> Vec<Vec<u8>> {
    named().into_iter().map(|(_, input)| input).collect()
}
