//! The driver's metrics as a recorder sees them on the real cluster: a recorder that keeps
//! every value (counters cumulative, gauges at their last value, every histogram sample) is
//! installed for the whole test process the first time a scenario here runs, and each
//! scenario reads only the series of its own topic and group.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use rocketwire_core::{ClientNotice, InvokeError};
use rocketwire_driver::observe;

use crate::consume::{bodies, produce, start_consumer, DRAIN};
use crate::seen::Seen;
use crate::{cluster_config, unique, Harness};

/// A value as read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

/// One series: name, labels, value.
pub(crate) type Series = (String, Vec<(String, String)>, Value);

/// Keeps everything recorded; reading it changes nothing.
struct Keeper(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for Keeper {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

fn registry() -> &'static Arc<Registry<Key, AtomicStorage>> {
    static REGISTRY: OnceLock<Arc<Registry<Key, AtomicStorage>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let registry = Arc::new(Registry::atomic());
        metrics::set_global_recorder(Keeper(registry.clone()))
            .expect("no other metrics recorder in the test process");
        registry
    })
}

fn labels(key: &Key) -> Vec<(String, String)> {
    key.labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect()
}

pub(crate) fn snapshot() -> Vec<Series> {
    let r = registry();
    let mut all = Vec::new();
    for (key, c) in r.get_counter_handles() {
        let v = Value::Counter(c.load(Ordering::Acquire));
        all.push((key.name().to_owned(), labels(&key), v));
    }
    for (key, g) in r.get_gauge_handles() {
        let v = Value::Gauge(f64::from_bits(g.load(Ordering::Acquire)));
        all.push((key.name().to_owned(), labels(&key), v));
    }
    for (key, h) in r.get_histogram_handles() {
        let v = Value::Histogram(h.data());
        all.push((key.name().to_owned(), labels(&key), v));
    }
    all
}

/// The series named `name` whose labels include all of `want`.
fn find<'a>(all: &'a [Series], name: &str, want: &[(&str, &str)]) -> Vec<&'a Value> {
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

pub(crate) fn counter(all: &[Series], name: &str, want: &[(&str, &str)]) -> u64 {
    find(all, name, want)
        .into_iter()
        .map(|v| match v {
            Value::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

fn samples(all: &[Series], name: &str, want: &[(&str, &str)]) -> Vec<f64> {
    find(all, name, want)
        .into_iter()
        .flat_map(|v| match v {
            Value::Histogram(values) => values.clone(),
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .collect()
}

fn gauges(all: &[Series], name: &str, want: &[(&str, &str)]) -> Vec<f64> {
    find(all, name, want)
        .into_iter()
        .map(|v| match v {
            Value::Gauge(g) => *g,
            other => panic!("{name} is not a gauge: {other:?}"),
        })
        .collect()
}

/// The lag of each queue of `topic` held by `group`.
fn lag_of(all: &[Series], group: &str, topic: &str) -> Vec<f64> {
    gauges(
        all,
        observe::CONSUMER_LAG,
        &[("group", group), ("topic", topic)],
    )
}

fn buffered_of(all: &[Series], group: &str) -> Vec<f64> {
    gauges(all, observe::BUFFERED_MESSAGES, &[("group", group)])
}

/// A client started after the recorder: 5 sends and a push consumer that takes them show
/// up as 5 `SEND_OK` sends with their latencies, 5 messages consumed with `success`, the
/// handler calls' durations and batch sizes, and connection attempts to the namesrv and
/// the broker; then the consumer's lag gauges (one per queue) reach 0 and nothing is
/// buffered, and its first allocation counts as a rebalance.
pub fn metrics_of_sends_and_consumption(h: &dyn Harness) {
    let _ = registry();
    let client = h.start_another(cluster_config());
    let topic = unique("rw_metrics");
    let group = unique("rw_metrics_group");
    produce(client.as_ref(), &topic, &bodies("m", 5));
    let seen = Seen::default();
    let consumer = start_consumer(client.as_ref(), &group, &topic, &seen);
    seen.wait_for("5 messages", |m| m.len() >= 5);
    // The consumer's gauges follow within a second of the last ack.
    let give_up = Instant::now() + Duration::from_secs(25);
    loop {
        let all = snapshot();
        let lags = lag_of(&all, &group, &topic);
        if lags.len() == 4 && lags.iter().sum::<f64>() == 0.0 && buffered_of(&all, &group) == [0.0]
        {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "lag {lags:?}, buffered {:?}",
            buffered_of(&all, &group)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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
            Value::Counter(n) => *n,
            _ => 0,
        })
        .sum();
    assert!(broker_attempts >= 1, "and a broker: {all:#?}");
    assert!(
        counter(&all, observe::REBALANCES, &[("group", group.as_str())]) >= 1,
        "the consumer's first allocation counts: {all:#?}"
    );
    let pulls = |result| {
        counter(
            &all,
            observe::PULLS,
            &[("group", &group), ("result", result)],
        )
    };
    let pulled = counter(&all, observe::PULLED_MESSAGES, &[("group", group.as_str())]);
    // At least the 5 messages (a queue taken again after a rebalance is pulled again).
    assert!(pulled >= 5, "{all:#?}");
    assert!(
        pulls("found") >= 1 && pulls("found") <= pulled,
        "each pull that found messages returned one or more: {all:#?}"
    );
    assert_eq!(
        find(&all, observe::BROKERS_ISOLATED, &[]).len(),
        1,
        "the isolation gauge is exported with the rest"
    );
    // Every send finished; none is left counted in flight (this test runs alone).
    let in_flight = find(&all, observe::SENDS_IN_FLIGHT, &[]);
    assert!(
        in_flight
            .iter()
            .all(|v| matches!(v, Value::Gauge(g) if *g == 0.0)),
        "{in_flight:?}"
    );
}

/// A client's event stream on the real cluster: the first send connects to the namesrv,
/// then learns the topic's route and connects to its broker; a shutdown ends every
/// connection (as the client's doing) and then the stream.
pub fn client_events_tell_connections_and_routes(h: &dyn Harness) {
    let client = h.start_another(cluster_config());
    let mut events = client.events();
    let topic = unique("rw_events");
    produce(client.as_ref(), &topic, &bodies("e", 1));
    client.shutdown().expect("client shutdown");
    let mut seen = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        match events() {
            Ok(Some(event)) => seen.push(event),
            Ok(None) => break,
            Err(_) => {
                assert!(
                    Instant::now() < give_up,
                    "the stream never ended: {seen:#?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let namesrv = crate::namesrv();
    let at = |what: &dyn Fn(&ClientNotice) -> bool| {
        seen.iter()
            .position(what)
            .unwrap_or_else(|| panic!("not among {seen:#?}"))
    };
    let dialled = at(&|e| matches!(e, ClientNotice::Connected { peer } if *peer == namesrv));
    let route = at(
        &|e| matches!(e, ClientNotice::RouteChanged { topic: t, brokers } if *t == topic && !brokers.is_empty()),
    );
    let broker = at(&|e| matches!(e, ClientNotice::Connected { peer } if *peer != namesrv));
    // The broker may be dialled before the topic's own route comes: a topic the broker has
    // not created yet is first sent by the template route (TBW102).
    assert!(dialled < route && dialled < broker, "{seen:#?}");
    let ClientNotice::Connected { peer: broker } = &seen[broker] else {
        unreachable!("matched above")
    };
    at(
        &|e| matches!(e, ClientNotice::Disconnected { peer, error: InvokeError::Shutdown } if peer == broker),
    );
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ClientNotice::ConnectFailed { .. } | ClientNotice::Missed { .. }
        )),
        "{seen:#?}"
    );
}
