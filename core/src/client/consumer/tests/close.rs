//! Graceful close: waiting for the deliveries out, the offset writes, unregistration and
//! report, and no offset write once the close has unregistered.

use super::super::rebalance::RELEASE_PERSIST_WINDOW;
use super::*;

#[test]
fn close_waits_for_deliveries_then_persists_unregisters_and_reports() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0]);
    let (delivery, _, _) = deliveries(&out)[0].clone();
    let (_, out) = r.call(&mut m, |m, now, env| m.close(now, env, OpId(9)));
    assert!(out.requests.is_empty(), "waits for the delivery out");
    assert_eq!(
        m.check_live(),
        Err(super::super::Misuse::ConsumerClosing(ConsumerId(1)))
    );
    let (_, out) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, delivery, ConsumeOutcome::Success)
    });
    let codes: Vec<RequestCode> = out.requests.iter().map(code_of).collect();
    assert_eq!(
        codes,
        vec![
            RequestCode::UpdateConsumerOffset,
            RequestCode::UpdateConsumerOffset,
            RequestCode::UpdateConsumerOffset,
            RequestCode::UpdateConsumerOffset,
            RequestCode::UnregisterClient,
        ]
    );
    assert!(!m.is_finished());
    let mut events = Vec::new();
    for step in out.requests {
        let response = ok(&step.command);
        events.extend(r.answer(&mut m, step, response).events);
    }
    assert!(m.is_finished());
    let [Event::ConsumerClosed {
        op,
        consumer,
        report,
    }] = <[Event; 1]>::try_from(events).expect("one event")
    else {
        panic!("not a close report");
    };
    assert_eq!((op, consumer), (OpId(9), ConsumerId(1)));
    assert_eq!(report.persisted.get(&mq(0)), Some(&1));
    assert_eq!(report.abandoned_deliveries, 0);
}

/// The periodic persist writes nothing for a consumer whose close has unregistered it: a
/// broker may have handed its queues to another member, which may already have committed
/// past this one (found by the random-fault simulation, seed 5586 of 4000..10000).
#[test]
fn no_periodic_persist_once_the_close_has_unregistered() {
    let mut r = Router::new();
    let (mut m, pulls) = pulling(&mut r);
    let out = answer_first_pull(&mut r, &mut m, pulls, &[0]);
    let (delivery, _, _) = deliveries(&out)[0].clone();
    let (acked, _) = r.call(&mut m, |m, now, env| {
        m.ack(now, env, delivery, ConsumeOutcome::Success)
    });
    assert!(acked.is_ok());
    // Membership in doubt for longer than a moment: the close does not write the offset.
    let since = r.now;
    m.doubt_membership(since);
    r.now = since + RELEASE_PERSIST_WINDOW * 2;
    let (_, out) = r.call(&mut m, |m, now, env| m.close(now, env, OpId(9)));
    let codes: Vec<RequestCode> = out.requests.iter().map(code_of).collect();
    assert_eq!(codes, vec![RequestCode::UnregisterClient]);
    assert!(out.oneways.is_empty());
    let unregister = out.requests.into_iter().next().expect("the unregistration");
    // The doubt is settled while the unregistration is unanswered; the periodic persist
    // still writes nothing.
    m.doubt.clear();
    let (_, out) = r.call(&mut m, |m, now, env| m.persist_offsets(now, env));
    assert!(out.oneways.is_empty(), "{:?}", out.oneways);
    assert!(out.requests.is_empty());
    // Nor once the close has finished.
    let response = ok(&unregister.command);
    r.answer(&mut m, unregister, response);
    assert!(m.is_finished());
    let (_, out) = r.call(&mut m, |m, now, env| m.persist_offsets(now, env));
    assert!(out.oneways.is_empty() && out.requests.is_empty());
}
