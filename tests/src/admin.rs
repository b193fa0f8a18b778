//! Real-cluster scenarios of the admin and query API, run on every adapter (re-exported by
//! [`crate::scenarios`]).

use std::time::{Duration, Instant};

use rocketwire_core::admin::{AdminError, TopicConfig};
use rocketwire_core::body::MessageQueue;
use rocketwire_core::message::Message;
use rocketwire_core::producer::{ProducerConfig, QueueSelector, SendResult, SendStatus};
use rocketwire_core::{ClientError, ResponseCode};

use crate::consume::{bodies, produce, start_consumer, DRAIN};
use crate::harness::HarnessAdmin;
use crate::seen::Seen;
use crate::{unique, Harness};

/// How long a scenario waits for the cluster to show a change.
const WAIT: Duration = Duration::from_secs(30);

/// Polls `f` until it gives `Some`, failing with `what` after [`WAIT`].
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < give_up, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A topic created through the admin API with 2 queues shows in the namesrv's list and has
/// empty queues; three keyed sends to queue 1 move its max offset to 3; a timestamp search
/// finds the first offset at or after a time; and each message is found by key, by unique
/// id and by offset id, with its body.
pub fn admin_topics_offsets_and_queries(h: &dyn Harness) {
    let admin = h.admin();
    let topic = unique("rw_admin");
    let brokers = admin
        .create_topic(TopicConfig::new(&topic).queues(2))
        .expect("create topic");
    assert!(!brokers.is_empty());
    eventually("the namesrv lists the new topic", || {
        admin.topic_list().ok()?.contains(&topic).then_some(())
    });
    let offsets = eventually("the topic's queues", || {
        admin.topic_offsets(&topic).ok().filter(|o| o.len() == 2)
    });
    assert!(
        offsets.iter().all(|q| q.min == 0 && q.max == 0),
        "{offsets:?}"
    );
    let queue = MessageQueue {
        queue_id: 1,
        ..offsets[0].queue.clone()
    };

    let before = wall_ms() - 1_000;
    let config = ProducerConfig::builder(unique("rw_admin_pg"))
        .build()
        .expect("producer config");
    let producer = h
        .create_producer(config, QueueSelector::RoundRobin)
        .expect("producer");
    let sent: Vec<(String, SendResult)> = (0..3)
        .map(|i| {
            let key = unique("rw_key");
            let mut m = Message::new(topic.clone(), format!("admin-{i}"));
            m.set_keys([key.as_str()]).expect("keys");
            let r = producer
                .send_to_queue(m, queue.clone())
                .expect("send to queue 1");
            assert_eq!(r.status, SendStatus::SendOk);
            (key, r)
        })
        .collect();
    producer.shutdown().expect("producer shutdown");

    // The broker moves a queue's end when it has dispatched the stored message, a moment
    // after it answered the send.
    eventually("queue 1 ends at 3", || {
        (admin.max_offset(&queue).ok()? == 3).then_some(())
    });
    assert_eq!(admin.min_offset(&queue).expect("min offset"), 0);
    let after = admin.topic_offsets(&topic).expect("offsets");
    let ends: Vec<(i32, i64)> = after.iter().map(|q| (q.queue.queue_id, q.max)).collect();
    assert!(ends.contains(&(1, 3)) && ends.contains(&(0, 0)), "{ends:?}");
    assert_eq!(
        admin.search_offset(&queue, before).expect("search"),
        0,
        "every message was stored after `before`"
    );

    for (i, (key, result)) in sent.iter().enumerate() {
        let body = format!("admin-{i}");
        // The broker indexes keys shortly after storing.
        let by_key = eventually("the message by key", || {
            let found = admin.query_by_key(&topic, key).ok()?;
            (!found.is_empty()).then_some(found)
        });
        assert_eq!(by_key.len(), 1, "{by_key:?}");
        assert_eq!(String::from_utf8_lossy(by_key[0].body()), body);
        assert_eq!(by_key[0].queue_offset, result.queue_offset);
        let by_id = eventually("the message by unique id", || {
            admin
                .query_by_unique_key(&topic, &result.msg_id)
                .ok()
                .flatten()
        });
        assert_eq!(String::from_utf8_lossy(by_id.body()), body);
        let viewed = admin
            .view_message(&result.offset_msg_id)
            .expect("view by offset id");
        assert_eq!(String::from_utf8_lossy(viewed.body()), body);
        assert_eq!(viewed.message.unique_key(), Some(result.msg_id.as_str()));
    }
    // Under load the broker's index may lag its commit log for a moment; it then refuses an
    // index query (SYSTEM_ERROR, "index query is unsafe ...") rather than answer from an
    // incomplete index. Only that refusal is waited out.
    let nothing = eventually("a query that finds nothing is answered", || {
        match admin.query_by_unique_key(&topic, "0A0000000000000000000000000000FF") {
            Ok(found) => Some(found),
            Err(e) if index_catching_up(&e) => None,
            Err(e) => panic!("a query that finds nothing: {e:?}"),
        }
    });
    assert!(nothing.is_none(), "{nothing:?}");
}

/// The broker refused an index query because its index has not caught up with its commit
/// log yet.
fn index_catching_up(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Admin(AdminError::Rejected { code: ResponseCode::SystemError, remark })
            if remark.contains("index")
    )
}

/// A group's stats, connections and the running info the broker relays from the consumer:
/// before consuming, the group has nothing consumed; after it consumed 6 messages, its lag
/// is 0 on every queue, its connection is listed, and the running info shows the pull and
/// consume rates and the queues it holds.
pub fn admin_group_stats_connections_and_running_info(h: &dyn Harness) {
    let admin: Box<dyn HarnessAdmin + '_> = h.admin();
    let topic = unique("rw_admin_group");
    let group = unique("rw_admin_cg");
    // The topic exists (empty) before the consumer starts, so it registers with its broker.
    admin
        .create_topic(TopicConfig::new(&topic).queues(4))
        .expect("create topic");
    eventually("the namesrv lists the new topic", || {
        admin.topic_list().ok()?.contains(&topic).then_some(())
    });
    let seen = Seen::default();
    let consumer = start_consumer(h, &group, &topic, &seen);
    let client_id = h.client_id();
    let connections = eventually("the consumer's connection", || {
        let c = admin.consumer_connections(&group).ok()?;
        c.connection_set
            .iter()
            .any(|c| c.client_id == client_id)
            .then_some(c)
    });
    assert!(
        connections.subscription_table.contains_key(topic.as_str()),
        "{connections:?}"
    );
    let idle = admin
        .consumer_running_info(&group, &client_id)
        .expect("running info before consuming");
    assert!(
        idle.status_table
            .get(&topic)
            .is_none_or(|s| s.consume_ok_tps == 0.0),
        "{:?}",
        idle.status_table
    );

    produce(h, &topic, &bodies("g", 6));
    seen.wait_for("6 messages", |m| m.len() >= 6);
    // The handlers' acks reach the consumer a moment after they recorded the messages.
    let (info, status) = eventually("consumption in the running info", || {
        let info = admin.consumer_running_info(&group, &client_id).ok()?;
        let status = info.status_table.get(&topic).cloned()?;
        (status.consume_ok_tps > 0.0).then_some((info, status))
    });
    assert!(status.pull_tps > 0.0, "{status:?}");
    assert!(status.consume_ok_tps > 0.0, "{status:?}");
    assert!(status.pull_rt >= 0.0 && status.consume_rt >= 0.0);
    assert_eq!(status.consume_failed_msgs, 0);
    assert!(
        info.mq_table.keys().any(|q| q.topic == topic),
        "{:?}",
        info.mq_table
    );
    assert!(info.subscription_set.iter().any(|s| s.topic == topic));

    // The committed offsets reach the broker with the next persist (every 5 s).
    let stats = eventually("the group's lag reaches 0", || {
        let stats = admin.consume_stats(&group, Some(&topic)).ok()?;
        let consumed: i64 = stats.offset_table.values().map(|o| o.consumer_offset).sum();
        (consumed == 6 && stats.total_lag() == 0).then_some(stats)
    });
    let ends: i64 = stats.offset_table.values().map(|o| o.broker_offset).sum();
    assert_eq!(ends, 6, "{stats:?}");
    consumer.shutdown(DRAIN).expect("consumer shutdown");
}
