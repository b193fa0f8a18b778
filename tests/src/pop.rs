//! POP consumption (RocketMQ 5.x) on the real cluster: the broker hands out batches, keeps
//! the group's position and takes acks by receipt handle.
//!
//! The test broker (rocketmq-rust 1.0.0) has POP, with defects a client cannot work around,
//! so these scenarios stay within what it does right:
//! - a popped message that is never acked comes back only in orderly POP: its concurrent
//!   POP writes checkpoints the timer store refuses ("WheelTimerMsgIllegal"), so nothing is
//!   revived, and changes of invisible time are refused ("append check point error");
//! - an orderly queue stays blocked after its batch is acked, until the batch's invisible
//!   time passes.
//!
//! Redelivery after the invisible time for concurrent POP, lost acks and refused changes
//! are covered in simulation against the protocol as Java brokers implement it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketwire_core::body::ConsumeFromWhere;
use rocketwire_core::consumer::{ConsumeMode, ConsumerConfig, PopConfig, Subscription};
use rocketwire_core::message::{keys, MessageExt};
use rocketwire_core::ConsumeOutcome;
use rocketwire_tokio::PushConsumerOptions;

use crate::filter::{fill, kept, tag_of, SENT, SQL_ALL, SQL_NONE};
use crate::seen::Seen;
use crate::{cluster_config, unique, Harness};

/// How long a consumer keeps running after the wanted messages, to catch unwanted ones.
const SETTLE: Duration = Duration::from_millis(2500);

fn pop_config(group: &str, pop: PopConfig) -> ConsumerConfig {
    ConsumerConfig {
        group: group.to_owned(),
        consume_from_where: ConsumeFromWhere::FirstOffset,
        pop: Some(pop.with_poll_time(Duration::from_secs(2))),
        ..ConsumerConfig::default()
    }
}

/// A POP consumer gets every message once, each with its receipt handle, and acks them: a
/// later consumer of the group gets none of them again. One subscribed with `TagA || TagC`
/// gets exactly those.
pub fn pop_consume_and_ack(h: &dyn Harness) {
    let topic = fill(h, "rw_pop");
    let group = unique("rw_popgroup");
    let seen = Seen::default();
    let consumer = h
        .create_push_consumer(
            pop_config(&group, PopConfig::default()),
            vec![Subscription::tag(&topic, "*").expect("subscription")],
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    let wanted = kept(|_| true);
    seen.wait_for("every message", |m| m.len() >= wanted.len());
    std::thread::sleep(SETTLE);
    let report = consumer
        .shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    assert_eq!(report.abandoned_deliveries, 0);
    let got = seen.snapshot();
    let bodies: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(bodies, wanted, "{:?}", h.kind());
    assert_eq!(
        got.len(),
        SENT,
        "{:?}: each once: {:?}",
        h.kind(),
        seen.bodies()
    );
    for m in &got {
        assert_eq!(m.topic(), topic);
        let handle = m.message.property(keys::POP_CK).expect("a receipt handle");
        assert!(handle.split(' ').count() >= 8, "{handle}");
        assert!(m.message.property(keys::FIRST_POP_TIME).is_some());
    }

    // Acked: the group has nothing more to hand out.
    let again = Seen::default();
    let second = h
        .create_push_consumer(
            pop_config(&group, PopConfig::default()),
            vec![Subscription::tag(&topic, "*").expect("subscription")],
            PushConsumerOptions::default(),
            again.recorder(),
        )
        .expect("consumer starts");
    std::thread::sleep(SETTLE);
    second
        .shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    assert!(
        again.bodies().is_empty(),
        "{:?}: {:?}",
        h.kind(),
        again.bodies()
    );

    // A tag expression: the broker hands out only what matches.
    let tags = Seen::default();
    let filtered = h
        .create_push_consumer(
            pop_config(&unique("rw_poptags"), PopConfig::default()),
            vec![Subscription::tag(&topic, "TagA || TagC").expect("subscription")],
            PushConsumerOptions::default(),
            tags.recorder(),
        )
        .expect("consumer starts");
    let wanted = kept(|i| tag_of(i) != "TagB");
    tags.wait_for("the matching messages", |m| m.len() >= wanted.len());
    std::thread::sleep(SETTLE);
    filtered
        .shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    let got: BTreeSet<String> = tags.bodies().into_iter().collect();
    assert_eq!(got, wanted, "{:?}", h.kind());

    // SQL92 (the client cannot check it again: only the broker filters).
    for (sql, wanted) in [(SQL_NONE, BTreeSet::new()), (SQL_ALL, kept(|_| true))] {
        let sql_seen = Seen::default();
        let consumer = h
            .create_push_consumer(
                pop_config(&unique("rw_popsql"), PopConfig::default()),
                vec![Subscription::sql92(&topic, sql).expect("subscription")],
                PushConsumerOptions::default(),
                sql_seen.recorder(),
            )
            .expect("consumer starts");
        sql_seen.wait_for("the matching messages", |m| m.len() >= wanted.len());
        std::thread::sleep(SETTLE);
        consumer
            .shutdown(Duration::from_secs(5))
            .expect("consumer shutdown");
        let got: BTreeSet<String> = sql_seen.bodies().into_iter().collect();
        assert_eq!(got, wanted, "{:?}: {sql}", h.kind());
    }
}

/// Orderly POP: each queue's messages come in offset order; a batch suspended comes back
/// (the same messages, counted as reconsumed); a batch a consumer never acks (it dies) is
/// handed to the next consumer of the group after its invisible time.
pub fn pop_orderly_suspend_and_death(h: &dyn Harness) {
    let topic = fill(h, "rw_popo");
    let group = unique("rw_popogroup");
    let invisible = Duration::from_secs(3);
    let config = ConsumerConfig {
        consume_mode: ConsumeMode::Orderly,
        ..pop_config(&group, PopConfig::default().with_invisible_time(invisible))
    };
    // The first consumer suspends each batch once, then acks it; it records each delivery.
    let deliveries: Arc<Mutex<Vec<Vec<MessageExt>>>> = Arc::default();
    let suspended: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let handler = {
        let (deliveries, suspended) = (deliveries.clone(), suspended.clone());
        Arc::new(move |messages: &[MessageExt]| {
            deliveries.lock().expect("lock").push(messages.to_vec());
            let first = String::from_utf8_lossy(messages[0].body()).into_owned();
            if suspended.lock().expect("lock").insert(first) {
                ConsumeOutcome::SuspendCurrentQueue(Some(Duration::from_millis(300)))
            } else {
                ConsumeOutcome::Success
            }
        })
    };
    let consumer = h
        .create_push_consumer(
            config.clone(),
            vec![Subscription::tag(&topic, "*").expect("subscription")],
            PushConsumerOptions::default(),
            handler,
        )
        .expect("consumer starts");
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let d = deliveries.lock().expect("lock").clone();
        let again: usize = d
            .iter()
            .filter(|b| b[0].reconsume_times > 0)
            .map(Vec::len)
            .sum();
        if again >= SENT {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "{:?}: not every suspended batch came back: {} of {SENT}",
            h.kind(),
            again
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(SETTLE);
    consumer
        .shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    let deliveries = deliveries.lock().expect("lock").clone();
    let ids =
        |b: &[MessageExt]| -> Vec<String> { b.iter().map(|m| m.msg_id().to_owned()).collect() };
    let mut times: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for batch in &deliveries {
        let offsets: Vec<i64> = batch.iter().map(|m| m.queue_offset).collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "{:?}: {offsets:?}",
            h.kind()
        );
        *times.entry(ids(batch)).or_default() += 1;
    }
    // Each queue's batch twice: suspended, then the same messages again (counted as a
    // reconsume) and acked; nothing more.
    assert!(times.values().all(|n| *n == 2), "{:?}: {times:?}", h.kind());
    let messages: usize = times.keys().map(Vec::len).sum();
    assert_eq!(messages, SENT, "{:?}", h.kind());

    // A consumer that dies holding a batch: the next one of the group gets it after the
    // invisible time.
    let topic = fill(h, "rw_popd");
    let group = unique("rw_popdgroup");
    let config = ConsumerConfig {
        consume_mode: ConsumeMode::Orderly,
        ..pop_config(
            &group,
            PopConfig::default()
                .with_invisible_time(invisible)
                .with_auto_renew(false),
        )
    };
    let held = Seen::default();
    let dying = h.start_another(cluster_config());
    let holder = {
        let held = held.clone();
        Arc::new(move |messages: &[MessageExt]| {
            held.push(messages);
            ConsumeOutcome::Abandon
        })
    };
    let doomed = dying
        .create_push_consumer(
            config.clone(),
            vec![Subscription::tag(&topic, "*").expect("subscription")],
            PushConsumerOptions::default(),
            holder,
        )
        .expect("consumer starts");
    held.wait_for("every message, held", |m| m.len() >= SENT);
    drop(doomed);
    dying.shutdown().expect("client shutdown");
    let seen = Seen::default();
    let next = h
        .create_push_consumer(
            config,
            vec![Subscription::tag(&topic, "*").expect("subscription")],
            PushConsumerOptions::default(),
            seen.recorder(),
        )
        .expect("consumer starts");
    seen.wait_for("the dead consumer's messages", |m| m.len() >= SENT);
    next.shutdown(Duration::from_secs(5))
        .expect("consumer shutdown");
    let got: BTreeSet<String> = seen.bodies().into_iter().collect();
    assert_eq!(got, kept(|_| true), "{:?}", h.kind());
    assert!(
        seen.snapshot().iter().all(|m| m.reconsume_times > 0),
        "{:?}: handed out before, so counted as reconsumed",
        h.kind()
    );
}
