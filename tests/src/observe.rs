//! The driver's metrics as a recorder sees them on the real cluster: a debugging recorder is
//! installed for the whole test process the first time a scenario here runs, and each
//! scenario reads only the series of its own topic and group.

use std::sync::OnceLock;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rocketwire_driver::observe;

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_tokio::PushConsumerOptions;

use crate::consume::{bodies, config, produce, sub, DRAIN};
use crate::seen::Seen;
use crate::{cluster_config, unique, Harness};

/// One series: name, labels, value.
type Series = (String, Vec<(String, String)>, DebugValue);

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("no other metrics recorder in the test process");
        snapshotter
    })
}

fn snapshot() -> Vec<Series> {
    snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect()
}

/// The series named `name` whose labels include all of `want`.
fn find<'a>(all: &'a [Series], name: &str, want: &[(&str, &str)]) -> Vec<&'a DebugValue> {
    all.iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .collect()
}

fn counter(all: &[Series], name: &str, want: &[(&str, &str)]) -> u64 {
    find(all, name, want)
        .into_iter()
        .map(|v| match v {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

fn samples(all: &[Series], name: &str, want: &[(&str, &str)]) -> Vec<f64> {
    find(all, name, want)
        .into_iter()
        .flat_map(|v| match v {
            DebugValue::Histogram(values) => {
                values.iter().map(|x| x.into_inner()).collect::<Vec<f64>>()
            }
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .collect()
}

/// A client started after the recorder: 5 sends and a push consumer that takes them show
/// up as 5 `SEND_OK` sends with their latencies, 5 messages consumed with `success`, the
/// handler calls' durations and batch sizes, and connection attempts to the namesrv and
/// the broker.
pub fn metrics_of_sends_and_consumption(h: &dyn Harness) {
    let _ = snapshotter();
    let client = h.start_another(cluster_config());
    let topic = unique("rw_metrics");
    let group = unique("rw_metrics_group");
    produce(client.as_ref(), &topic, &bodies("m", 5));
    let seen = Seen::default();
    let consumer = client
        .create_push_consumer(
            config(&group, ConsumeFromWhere::FirstOffset),
            sub(&topic),
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    seen.wait_for("5 messages", |m| m.len() >= 5);
    consumer.shutdown(DRAIN).expect("consumer shutdown");
    client.shutdown().expect("client shutdown");
    let all = snapshot();

    let by_topic = [("topic", topic.as_str()), ("result", "SEND_OK")];
    assert_eq!(counter(&all, observe::SENDS, &by_topic), 5, "{all:#?}");
    let latencies = samples(&all, observe::SEND_DURATION, &by_topic);
    assert_eq!(latencies.len(), 5, "one latency per send");
    assert!(
        latencies.iter().all(|s| *s > 0.0 && *s < 60.0),
        "{latencies:?}"
    );

    let consumed = [
        ("group", group.as_str()),
        ("topic", topic.as_str()),
        ("outcome", "success"),
    ];
    assert_eq!(counter(&all, observe::CONSUMED, &consumed), 5, "{all:#?}");
    let calls = samples(
        &all,
        observe::CONSUME_DURATION,
        &[("group", group.as_str()), ("topic", topic.as_str())],
    );
    let batches = samples(&all, observe::DELIVERY_BATCH, &[("group", group.as_str())]);
    assert_eq!(
        calls.len(),
        batches.len(),
        "one duration and one size per call"
    );
    assert_eq!(batches.iter().sum::<f64>(), 5.0, "{batches:?}");
    assert!(calls.iter().all(|s| *s >= 0.0 && *s < 60.0), "{calls:?}");

    let namesrv = crate::namesrv();
    assert!(
        counter(
            &all,
            observe::CONNECTION_ATTEMPTS,
            &[("peer", namesrv.as_str())]
        ) >= 1,
        "the new client dialled the namesrv: {all:#?}"
    );
    let broker_attempts: u64 = all
        .iter()
        .filter(|(n, labels, _)| {
            n == observe::CONNECTION_ATTEMPTS
                && labels.iter().any(|(k, v)| k == "peer" && *v != namesrv)
        })
        .map(|(_, _, v)| match v {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum();
    assert!(broker_attempts >= 1, "and a broker: {all:#?}");
    // Every send finished; none is left counted in flight (this test runs alone).
    let in_flight = find(&all, observe::SENDS_IN_FLIGHT, &[]);
    assert!(
        in_flight
            .iter()
            .all(|v| matches!(v, DebugValue::Gauge(g) if g.into_inner() == 0.0)),
        "{in_flight:?}"
    );
}
