//! Per-queue stats for metrics: buffered messages and the lag behind the broker's end.

use super::*;

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
