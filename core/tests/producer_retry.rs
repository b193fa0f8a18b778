//! The send retry state machine in virtual time: per-attempt deadlines inside the overall
//! budget, room for a retry on another broker, and how outcomes end or continue a send.
#![allow(clippy::disallowed_methods)] // one real `Instant` is read as the origin of virtual time

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rocketwire_core::codec::ResponseCode;
use rocketwire_core::producer::{
    classify_response, classify_transport, SendAttempts, SendError, SendStatus, Step,
};
use rocketwire_core::InvokeError;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn three_attempts_in_three_seconds_leave_room_for_a_retry() {
    let t0 = Instant::now();
    let mut a = SendAttempts::new(t0, ms(3_000), 3);
    assert_eq!(a.deadline(), t0 + ms(3_000));
    let first = a.next_attempt(t0).unwrap();
    assert_eq!((first.number, first.deadline), (1, t0 + ms(1_500)));
    // The first attempt times out at its deadline: the broker is isolated, retry elsewhere.
    let step = a.record(
        "a",
        classify_transport(InvokeError::Timeout),
        first.deadline,
    );
    assert_eq!(
        step,
        Step::Retry {
            refresh_route: false
        }
    );
    assert_eq!(a.last_broker(), Some("a"));
    let second = a.next_attempt(first.deadline).unwrap();
    assert_eq!((second.number, second.deadline), (2, t0 + ms(2_250)));
    let step = a.record(
        "b",
        classify_transport(InvokeError::Timeout),
        second.deadline,
    );
    assert_eq!(
        step,
        Step::Retry {
            refresh_route: false
        }
    );
    assert_eq!(a.last_broker(), Some("b"));
    // The last attempt gets everything that is left.
    let third = a.next_attempt(second.deadline).unwrap();
    assert_eq!((third.number, third.deadline), (3, t0 + ms(3_000)));
    let step = a.record(
        "a",
        classify_transport(InvokeError::Timeout),
        third.deadline,
    );
    assert_eq!(step, Step::Fail(SendError::Transport(InvokeError::Timeout)));
    assert_eq!(a.attempts_left(), 0);
    assert_eq!(a.next_attempt(third.deadline), Err(SendError::Timeout));
}

#[test]
fn a_fast_failure_passes_its_time_on() {
    let t0 = Instant::now();
    let mut a = SendAttempts::new(t0, ms(3_000), 3);
    a.next_attempt(t0).unwrap();
    let at = t0 + ms(10);
    let refused = InvokeError::ConnectFailed {
        addr: "b:1".into(),
        reason: "refused".into(),
    };
    assert_eq!(
        a.record("a", classify_transport(refused), at),
        Step::Retry {
            refresh_route: false
        }
    );
    let second = a.next_attempt(at).unwrap();
    assert_eq!(second.deadline, at + ms(2_990) / 2);
}

#[test]
fn single_attempt_gets_the_whole_budget_and_cap_applies() {
    let t0 = Instant::now();
    let mut one = SendAttempts::new(t0, ms(3_000), 1);
    assert_eq!(one.next_attempt(t0).unwrap().deadline, t0 + ms(3_000));
    let mut capped = SendAttempts::new(t0, ms(3_000), 3).with_max_per_attempt(Some(ms(400)));
    assert_eq!(capped.next_attempt(t0).unwrap().deadline, t0 + ms(400));
    // Zero attempts are treated as one.
    assert_eq!(SendAttempts::new(t0, ms(1), 0).attempts_left(), 1);
}

#[test]
fn budget_exhaustion_is_a_timeout() {
    let t0 = Instant::now();
    let mut a = SendAttempts::new(t0, ms(3_000), 3);
    a.next_attempt(t0).unwrap();
    let busy = classify_response(ResponseCode::SystemBusy, Some("busy".into()));
    assert_eq!(
        a.record("a", busy, t0 + ms(3_000)),
        Step::Fail(SendError::Timeout)
    );
    assert_eq!(a.next_attempt(t0 + ms(3_000)), Err(SendError::Timeout));
}

#[test]
fn outcomes_end_or_continue_the_send() {
    let t0 = Instant::now();
    let mut a = SendAttempts::new(t0, ms(3_000), 3);
    a.next_attempt(t0).unwrap();
    let step = a.record(
        "a",
        classify_response(ResponseCode::TopicNotExist, None),
        t0,
    );
    assert_eq!(
        step,
        Step::Retry {
            refresh_route: true
        }
    );
    a.next_attempt(t0).unwrap();
    let step = a.record("b", classify_response(ResponseCode::NoPermission, None), t0);
    assert!(
        matches!(step, Step::Fail(SendError::Authorization { .. })),
        "{step:?}"
    );
    let step = a.record(
        "b",
        classify_response(ResponseCode::MessageIllegal, None),
        t0,
    );
    assert!(matches!(
        step,
        Step::Fail(SendError::Broker {
            code: ResponseCode::MessageIllegal,
            ..
        })
    ));
    let step = a.record(
        "b",
        classify_response(ResponseCode::SlaveNotAvailable, None),
        t0,
    );
    assert_eq!(step, Step::Done(SendStatus::SlaveNotAvailable));
    // Non-retry verdicts do not move the avoided broker.
    assert_eq!(a.last_broker(), Some("a"));
    // Running out of attempts reports the last attempt's error.
    a.next_attempt(t0).unwrap();
    let step = a.record(
        "c",
        classify_response(ResponseCode::SystemError, Some("x".into())),
        t0,
    );
    assert_eq!(
        step,
        Step::Fail(SendError::Broker {
            code: ResponseCode::SystemError,
            remark: Some("x".into())
        })
    );
}

#[test]
fn an_unreachable_broker_on_the_last_attempt_waits_within_the_budget() {
    let closed = || InvokeError::ConnectionClosed { addr: "b:1".into() };
    let t0 = Instant::now();
    let mut a = SendAttempts::new(t0, ms(30_000), 1).with_max_per_attempt(Some(ms(2_000)));
    a.next_attempt(t0).unwrap();
    // The broker closed the connection before answering: wait and try again.
    let at = t0 + ms(50);
    assert_eq!(
        a.record("a", classify_transport(closed()), at),
        Step::Wait {
            until: at + ms(100),
            refresh_route: false
        }
    );
    assert_eq!(a.attempts_left(), 1, "a wait gives the attempt back");
    // A silent broker (the attempt's capped share ran out, time is left) waits too, longer.
    let next = a.next_attempt(at + ms(100)).unwrap();
    assert_eq!(next.deadline, at + ms(2_100));
    assert_eq!(
        a.record("a", classify_transport(InvokeError::Timeout), next.deadline),
        Step::Wait {
            until: next.deadline + ms(200),
            refresh_route: false
        }
    );
    // A broker answer keeps Java's attempt count.
    let mut b = SendAttempts::new(t0, ms(30_000), 1);
    b.next_attempt(t0).unwrap();
    let busy = classify_response(ResponseCode::SystemBusy, None);
    assert!(matches!(b.record("a", busy, at), Step::Fail(_)));
    // No wait past the budget: the last failure is reported.
    let mut c = SendAttempts::new(t0, ms(1_000), 1);
    c.next_attempt(t0).unwrap();
    assert_eq!(
        c.record("a", classify_transport(closed()), t0 + ms(950)),
        Step::Fail(SendError::Transport(closed()))
    );
}

proptest! {
    /// Whatever the failure times, every attempt ends within the overall deadline, a failed
    /// attempt that was not the last leaves at least as much time as it had, and the last
    /// one waits (inside the budget) or fails.
    #[test]
    fn deadlines_stay_inside_the_budget(
        timeout_ms in 1u64..20_000,
        attempts in 1u32..6,
        permille in proptest::collection::vec(0u32..=1000, 8),
    ) {
        let t0 = Instant::now();
        let mut a = SendAttempts::new(t0, ms(timeout_ms), attempts);
        let mut now = t0;
        let (mut made, mut waits) = (0, 0);
        for k in permille {
            let Ok(attempt) = a.next_attempt(now) else { break };
            made += 1;
            prop_assert!(attempt.deadline <= a.deadline());
            prop_assert!(attempt.deadline > now);
            let share = attempt.deadline - now;
            let last = a.attempts_left() == 0;
            // The attempt fails somewhere within its share.
            now += share * k / 1000;
            let step = a.record("b", classify_transport(InvokeError::Timeout), now);
            match step {
                Step::Retry { refresh_route: false } => {
                    prop_assert!(!last && now < a.deadline());
                    prop_assert!(a.deadline() - now >= share, "a retry has at least the failed share");
                }
                Step::Wait { until, refresh_route: false } => {
                    prop_assert!(last && now < until && until < a.deadline());
                    waits += 1;
                    now = until;
                }
                Step::Fail(_) => {
                    prop_assert!(last || now >= a.deadline());
                    break;
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert!(made <= attempts + waits);
    }
}
