//! Statistics: per-queue buffered messages and the lag behind the broker's end, pull counts,
//! the running info's numbers, and the spans of pulls and rebalances.

use super::*;
use crate::consumer::PullCounts;
use crate::spans_for_tests::SpanRecorder;

#[test]
fn queue_stats_show_what_is_buffered_and_the_lag_behind_the_brokers_end() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let Request::Pull(queue, _) = pulls[0].request.clone() else {
        panic!("a pull: {:?}", pulls[0].request);
    };
    let before = m.queue_stats();
    assert!(before
        .iter()
        .all(|q| q.broker_max.is_none() && q.lag().is_none()));
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0, 1, 2]);
    let stats = |m: &ConsumerMachine| {
        m.queue_stats()
            .into_iter()
            .find(|q| q.queue == queue)
            .expect("the pulled queue")
    };
    let pulled = stats(&m);
    assert_eq!(pulled.broker_max, Some(3));
    assert_eq!(pulled.buffered_messages, 3);
    assert_eq!(pulled.buffered_bytes, 30);
    assert_eq!(pulled.committed, Some(0));
    assert_eq!(pulled.lag(), Some(3), "nothing consumed yet");
    for (delivery, _, _) in deliveries(&out) {
        let (acked, _) = r.call(&mut m, |m, now, env| {
            m.ack(now, env, delivery, ConsumeOutcome::Success)
        });
        acked.expect("acked");
    }
    let consumed = stats(&m);
    assert_eq!(consumed.buffered_messages, 0);
    assert_eq!(consumed.committed, Some(3));
    assert_eq!(consumed.lag(), Some(0));
}

#[test]
fn pulls_and_settled_deliveries_show_in_the_counts_the_running_info_and_spans() {
    let recorder = SpanRecorder::default();
    let queue = recorder.run(|| {
        let mut r = Router::new();
        let (mut m, pulls) = pulling(&mut r);
        let Request::Pull(queue, _) = pulls[0].request.clone() else {
            panic!("a pull: {:?}", pulls[0].request);
        };
        r.now += Duration::from_millis(40);
        let out = answer_first_pull(&mut r, &mut m, pulls, &[0, 1, 2]);
        assert_eq!(
            m.pulls(),
            PullCounts {
                found: 1,
                messages: 3,
                ..PullCounts::default()
            }
        );
        r.now += Duration::from_millis(10);
        let delivered = deliveries(&out);
        assert_eq!(delivered.len(), 3, "one message per delivery");
        for (delivery, _, _) in delivered {
            let (acked, _) = r.call(&mut m, |m, now, env| {
                m.ack(now, env, delivery, ConsumeOutcome::Success)
            });
            acked.expect("acked");
        }
        let wall = WALL.now_millis();
        let info = m.running_info(r.now, wall, "ns:9876");
        let status = &info.status_table[&queue.topic];
        assert_eq!(status.pull_rt, 40.0, "one pull answered after 40 ms");
        assert_eq!(status.consume_rt, 10.0, "each delivery acked after 10 ms");
        // Three messages within the consumer's first second.
        assert_eq!((status.pull_tps, status.consume_ok_tps), (3.0, 3.0));
        assert_eq!(
            (status.consume_failed_tps, status.consume_failed_msgs),
            (0.0, 0)
        );
        let pq = &info.mq_table[&queue];
        assert_eq!(pq.last_pull_timestamp, wall - 10, "pulled 10 ms before");
        assert_eq!(pq.last_consume_timestamp, wall);
        assert_eq!(pq.commit_offset, 3);
        queue
    });
    let pulls = recorder.named("rocketwire.pull");
    let pull = pulls
        .iter()
        .find(|s| s.fields.get("queue") == Some(&queue.queue_id.to_string()))
        .expect("a span for the answered pull");
    assert_eq!(pull.fields["topic"], queue.topic);
    assert_eq!(pull.fields["broker"], queue.broker_name);
    assert_eq!(pull.fields["offset"], "0");
    assert_eq!(pull.fields["result"], "found");
    assert_eq!(pull.fields["messages"], "3");
    let rebalances = recorder.named("rocketwire.rebalance");
    assert_eq!(rebalances.len(), 1, "{rebalances:?}");
    let queues = pulls.len().to_string();
    assert_eq!(rebalances[0].fields["added"], queues, "every queue taken");
    assert_eq!(rebalances[0].fields["removed"], "0");
}
