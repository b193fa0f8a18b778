//! Codec throughput: encoding a SEND_MESSAGE_V2 request with a 1 KiB body, decoding a pull
//! body of 32 stored messages of 1 KiB, and a plain memcpy of the pull body's size as the
//! reference.
//!
//! ```text
//! cargo bench -p rocketwire-core --bench codec -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Besides criterion's report, each case prints one summary line: the mean time per operation
//! over every timed iteration (warm-up included) and the matching throughput.

use std::cell::RefCell;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use rocketwire_core::codec::{encode, RequestCode, SerializeType};
use rocketwire_core::header::{self, SendMessageRequestHeader, SendMessageRequestHeaderV2};
use rocketwire_core::message::properties::encode_properties;
use rocketwire_core::message::{decode_messages, encode_stored_into, Message, MessageExt};

const BODY_LEN: usize = 1024;
const PULL_COUNT: usize = 32;

/// Mean time per operation, accumulated over every timed batch of one case.
struct Tally {
    name: &'static str,
    bytes: u64,
    iters: u64,
    elapsed: Duration,
}

thread_local! {
    static TALLIES: RefCell<Vec<Tally>> = const { RefCell::new(Vec::new()) };
}

/// Runs `op` `iters` times and returns how long that took, adding it to `name`'s tally.
// Benchmarks measure wall time; the clock ban protects the sans-IO library code.
#[allow(clippy::disallowed_methods)]
fn timed<R>(name: &'static str, bytes: u64, iters: u64, mut op: impl FnMut() -> R) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(op());
    }
    let elapsed = start.elapsed();
    TALLIES.with(|t| {
        let mut t = t.borrow_mut();
        match t.iter_mut().find(|x| x.name == name) {
            Some(x) => {
                x.iters += iters;
                x.elapsed += elapsed;
            }
            None => t.push(Tally {
                name,
                bytes,
                iters,
                elapsed,
            }),
        }
    });
    elapsed
}

fn send_header() -> SendMessageRequestHeaderV2 {
    let mut message = Message::new("BenchTopic", Bytes::new());
    message.set_tags("TagA").expect("valid tag");
    message.set_unique_key_if_absent(|| "7F0000010A2B18B4AAC2123456780001".to_string());
    let mut h =
        SendMessageRequestHeader::new("bench_producer_group", "BenchTopic", 3, 1_700_000_000_000);
    h.properties = Some(encode_properties(message.properties()));
    h.reconsume_times = Some(0);
    h.unit_mode = Some(false);
    h.batch = Some(false);
    h.broker_name = Some("broker-a".to_string());
    SendMessageRequestHeaderV2(h)
}

fn pull_body() -> Bytes {
    let mut out = BytesMut::new();
    for i in 0..PULL_COUNT {
        let mut message = Message::new("BenchTopic", Bytes::from(vec![b'x'; BODY_LEN]));
        message.set_tags("TagA").expect("valid tag");
        message.set_keys(["order-1"]).expect("valid keys");
        message.set_unique_key_if_absent(|| format!("7F0000010A2B18B4AAC21234{i:08X}"));
        let mut ext = MessageExt::from_message(message);
        ext.queue_id = 1;
        ext.queue_offset = i as i64;
        ext.commit_log_offset = 1_000_000 + (i * 1200) as i64;
        ext.born_timestamp = 1_700_000_000_000;
        ext.store_timestamp = 1_700_000_000_003;
        ext.born_host = SocketAddr::from(([10, 0, 0, 2], 50_000));
        ext.store_host = SocketAddr::from(([10, 0, 0, 1], 10_911));
        encode_stored_into(&ext, &mut out).expect("encodable record");
    }
    out.freeze()
}

fn bench_send_encode(c: &mut Criterion) {
    let h = send_header();
    let body = Bytes::from(vec![b'b'; BODY_LEN]);
    for (name, ser) in [
        ("send_v2_encode_json", SerializeType::Json),
        ("send_v2_encode_binary", SerializeType::RocketMq),
    ] {
        let op = || {
            let cmd = header::request(RequestCode::SendMessageV2, &h).with_body(body.clone());
            encode(&cmd, ser).expect("encodable")
        };
        let (head, body) = op();
        let frame_len = (head.len() + body.len()) as u64;
        let mut group = c.benchmark_group("codec");
        group.throughput(Throughput::Bytes(frame_len));
        group.bench_function(name, |b| b.iter_custom(|n| timed(name, frame_len, n, op)));
        group.finish();
    }
}

fn bench_pull_decode(c: &mut Criterion) {
    let body = pull_body();
    let decoded = decode_messages(&body).expect("valid body");
    assert_eq!(decoded.len(), PULL_COUNT);
    let bytes = body.len() as u64;
    let name = "pull_decode_32x1k";
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function(name, |b| {
        b.iter_custom(|n| {
            timed(name, bytes, n, || {
                decode_messages(black_box(&body)).expect("valid")
            })
        })
    });
    group.finish();
}

fn bench_memcpy(c: &mut Criterion) {
    let src = pull_body().to_vec();
    let mut dst = vec![0u8; src.len()];
    let bytes = src.len() as u64;
    let name = "memcpy_pull_body";
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function(name, |b| {
        b.iter_custom(|n| {
            timed(name, bytes, n, || {
                dst.copy_from_slice(black_box(&src));
                dst[0]
            })
        })
    });
    group.finish();
}

fn print_summary() {
    TALLIES.with(|t| {
        for x in t.borrow().iter().filter(|x| x.iters > 0) {
            let ns = x.elapsed.as_secs_f64() * 1e9 / x.iters as f64;
            let gbps = x.bytes as f64 / ns;
            println!(
                "summary codec/{}: {:.0} ns/op, {:.2} GB/s ({} bytes/op)",
                x.name, ns, gbps, x.bytes
            );
        }
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_send_encode(&mut c);
    bench_pull_decode(&mut c);
    bench_memcpy(&mut c);
    c.final_summary();
    print_summary();
}
