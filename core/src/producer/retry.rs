//! The retry state machine of one send (Java `sendDefaultImpl`, protocol §6.4), without IO
//! or clock: time comes in as `now`.
//!
//! # Budget
//!
//! A send has one overall deadline, `start + send_timeout`, and `1 + retries` attempts. Java
//! gives each attempt all the time that is left, so one slow broker can use the whole budget
//! and leave nothing for a retry elsewhere. Here an attempt that is not the last gets **half**
//! of the remaining budget; the last attempt gets all of it:
//!
//! ```text
//! attempt deadline = now + remaining / min(attempts_left, 2)      (then capped by max_per_attempt)
//! ```
//!
//! With the defaults (3 000 ms, 3 attempts) an attempt that times out ends at 1 500 ms, the
//! second at 2 250 ms, the third at 3 000 ms; an attempt that fails fast leaves its unused time
//! to the next ones. Whatever happens, a failed attempt always leaves at least as much time as
//! it had for a retry on another broker. When the budget is gone the send fails with
//! [`SendError::Timeout`].
//!
//! # Outages
//!
//! When the last attempt fails because the broker is unreachable (it refused the connection,
//! closed it before answering, or did not answer within the attempt's share of the budget),
//! the send does not fail while its budget lasts: it waits ([`Step::Wait`], 100 ms doubling
//! to 500 ms, so a send goes on within half a second of the broker's return) and tries again, so a send rides out a broker restart (kcat users expect as much;
//! a longer `send_timeout` rides out a longer one). A closed connection or a timeout may have
//! left the message stored, so the next attempt may store it twice: the same trade every
//! retry makes, and better than reporting a failure for a message that may be stored.
//! Broker answers (SYSTEM_BUSY and the like) keep Java's attempt count.
//!
//! # Classification
//!
//! [`classify_response`] and [`classify_transport`] turn an attempt's outcome into a
//! [`Verdict`]: done (the message was stored), retry (on another broker, possibly after
//! refreshing the route) or fail. [`SendAttempts::record`] applies the verdict to the budget.

use std::time::{Duration, Instant};

use crate::codec::ResponseCode;
use crate::remoting::InvokeError;

use super::result::{SendError, SendStatus};

/// Response codes after which Java retries a send (`retryResponseCodes`), minus NO_PERMISSION
/// (16): TOPIC_NOT_EXIST, SERVICE_NOT_AVAILABLE, SYSTEM_ERROR, SYSTEM_BUSY, NO_BUYER_ID,
/// NOT_IN_CURRENT_UNIT, GO_AWAY.
///
/// NO_PERMISSION is in Java's set, but brokers answer it for ACL denials and non-writable
/// topics, which another attempt within the same send does not fix; retrying would only
/// multiply denied requests. It fails the send at once as [`SendError::Authorization`].
pub const RETRY_CODES: [ResponseCode; 7] = [
    ResponseCode::TopicNotExist,
    ResponseCode::ServiceNotAvailable,
    ResponseCode::SystemError,
    ResponseCode::SystemBusy,
    ResponseCode::NoBuyerId,
    ResponseCode::NotInCurrentUnit,
    ResponseCode::GoAway,
];

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The broker stored the message with this status; the send is over.
    Done(SendStatus),
    /// The attempt failed in a way another attempt may fix.
    Retry {
        /// The error to report if no attempt is left.
        error: SendError,
        /// Fetch the topic's route again before the next attempt (TOPIC_NOT_EXIST).
        refresh_route: bool,
        /// Isolate the broker (a transport failure) rather than record its latency only.
        isolate: bool,
    },
    /// The send failed for good.
    Fail(SendError),
}

/// Classifies a send response code (Java `sendDefaultImpl` + `processSendResponse`).
///
/// | code | verdict |
/// |---|---|
/// | 0, 10, 11, 12 | `Done` (SEND_OK, FLUSH_DISK_TIMEOUT, SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT) |
/// | 17 TOPIC_NOT_EXIST | `Retry`, refresh the route |
/// | 14, 1, 2, 204, 205, 1500 ([`RETRY_CODES`]) | `Retry` |
/// | 16 NO_PERMISSION | `Fail(Authorization)` |
/// | anything else | `Fail(Broker)` |
pub fn classify_response(code: ResponseCode, remark: Option<String>) -> Verdict {
    if let Some(status) = SendStatus::from_code(code) {
        return Verdict::Done(status);
    }
    let error = SendError::from_code(code, remark);
    if RETRY_CODES.contains(&code) {
        // Java `sendDefaultImpl` isolates the broker for a broker error just as for a
        // transport error (`updateFaultItem(broker, latency, true)`), so a busy broker is
        // avoided by the next sends, not only by this send's retry.
        Verdict::Retry {
            error,
            refresh_route: code == ResponseCode::TopicNotExist,
            isolate: true,
        }
    } else {
        Verdict::Fail(error)
    }
}

/// Classifies a request that got no response. Connection failures, closed connections,
/// malformed frames and per-attempt timeouts are retried with the broker isolated (Java
/// `RemotingException` → `updateFaultItem(isolation = true)`); an encoding failure or a
/// shutdown fails the send.
pub fn classify_transport(error: InvokeError) -> Verdict {
    match error {
        InvokeError::Timeout
        | InvokeError::ConnectFailed { .. }
        | InvokeError::ConnectionClosed { .. }
        | InvokeError::Protocol { .. } => Verdict::Retry {
            error: SendError::Transport(error),
            refresh_route: false,
            isolate: true,
        },
        other => Verdict::Fail(SendError::Transport(other)),
    }
}

/// One attempt the send may make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When this attempt's request times out.
    pub deadline: Instant,
}

/// What the caller does after [`SendAttempts::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Report this result status; the send is over.
    Done(SendStatus),
    /// Make another attempt (ask [`SendAttempts::next_attempt`] for its deadline), avoiding
    /// [`SendAttempts::last_broker`]; refresh the route first when `refresh_route`.
    Retry {
        /// Fetch the route again before selecting a queue.
        refresh_route: bool,
    },
    /// The last attempt found the broker unreachable (refused, closed or silent): wait until
    /// `until` (the broker may be restarting), then make one more attempt as for
    /// [`Step::Retry`].
    Wait {
        /// When to try again (before the send's deadline).
        until: Instant,
        /// Fetch the route again before selecting a queue.
        refresh_route: bool,
    },
    /// The send failed.
    Fail(SendError),
}

/// First wait of a send whose brokers all refuse connections; it doubles up to
/// [`OUTAGE_WAIT_MAX`].
pub const OUTAGE_WAIT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between two attempts of a send riding out an outage.
pub const OUTAGE_WAIT_MAX: Duration = Duration::from_millis(500);

/// Attempt count and time budget of one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAttempts {
    deadline: Instant,
    allowed: u32,
    made: u32,
    max_per_attempt: Option<Duration>,
    last_broker: Option<String>,
    /// Waits for a broker to come back so far ([`Step::Wait`]).
    outage_waits: u32,
}

impl SendAttempts {
    /// A send started at `now` with `timeout` for all attempts and `allowed` attempts (1 +
    /// `retry_times_when_send_failed`, or 1 + the async retries; at least 1).
    pub fn new(now: Instant, timeout: Duration, allowed: u32) -> Self {
        SendAttempts {
            deadline: now.checked_add(timeout).unwrap_or(now),
            allowed: allowed.max(1),
            made: 0,
            max_per_attempt: None,
            last_broker: None,
            outage_waits: 0,
        }
    }

    /// Caps every attempt at `max` (Java `sendMsgMaxTimeoutPerRequest`).
    pub fn with_max_per_attempt(mut self, max: Option<Duration>) -> Self {
        self.max_per_attempt = max;
        self
    }

    /// The overall deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Attempts started so far.
    pub fn attempts_made(&self) -> u32 {
        self.made
    }

    /// Attempts that may still be started.
    pub fn attempts_left(&self) -> u32 {
        self.allowed.saturating_sub(self.made)
    }

    /// The broker of the latest failed attempt, which the next queue selection avoids.
    pub fn last_broker(&self) -> Option<&str> {
        self.last_broker.as_deref()
    }

    /// Starts the next attempt at `now` and returns its deadline (see the module docs), or
    /// [`SendError::Timeout`] when the budget is used up. Call only while
    /// [`Self::attempts_left`] is non-zero; otherwise this is also a timeout.
    pub fn next_attempt(&mut self, now: Instant) -> Result<Attempt, SendError> {
        let left = self.attempts_left();
        let remaining = self.deadline.saturating_duration_since(now);
        if left == 0 || remaining.is_zero() {
            return Err(SendError::Timeout);
        }
        let mut share = remaining / left.min(2);
        if let Some(max) = self.max_per_attempt {
            share = share.min(max);
        }
        self.made += 1;
        Ok(Attempt {
            number: self.made,
            deadline: now.checked_add(share).unwrap_or(self.deadline),
        })
    }

    /// Applies the verdict of the attempt sent to `broker`, observed at `now`: a retry becomes
    /// [`Step::Retry`] while attempts and time remain, else [`Step::Fail`] with the attempt's
    /// error ([`SendError::Timeout`] if time ran out first).
    pub fn record(&mut self, broker: &str, verdict: Verdict, now: Instant) -> Step {
        match verdict {
            Verdict::Done(status) => Step::Done(status),
            Verdict::Fail(error) => Step::Fail(error),
            Verdict::Retry {
                error,
                refresh_route,
                ..
            } => {
                self.last_broker = Some(broker.to_owned());
                let unreachable = matches!(
                    error,
                    SendError::Transport(
                        InvokeError::ConnectFailed { .. }
                            | InvokeError::ConnectionClosed { .. }
                            | InvokeError::Timeout
                    )
                );
                if self.attempts_left() == 0 && unreachable && now < self.deadline {
                    // Ride the outage out within the budget, waiting longer each time, and
                    // give the attempt back.
                    let wait = OUTAGE_WAIT_MIN
                        .saturating_mul(1 << self.outage_waits.min(4))
                        .min(OUTAGE_WAIT_MAX);
                    let until = now.checked_add(wait).unwrap_or(self.deadline);
                    if until >= self.deadline {
                        return Step::Fail(error);
                    }
                    self.outage_waits += 1;
                    self.made -= 1;
                    return Step::Wait {
                        until,
                        refresh_route,
                    };
                }
                if self.attempts_left() == 0 {
                    Step::Fail(error)
                } else if now >= self.deadline {
                    Step::Fail(SendError::Timeout)
                } else {
                    Step::Retry { refresh_route }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Expect {
        Done(SendStatus),
        Retry { refresh: bool },
        Fail { auth: bool },
    }

    #[test]
    fn code_table() {
        use Expect::*;
        let cases = [
            (0, Done(SendStatus::SendOk)),
            (10, Done(SendStatus::FlushDiskTimeout)),
            (11, Done(SendStatus::SlaveNotAvailable)),
            (12, Done(SendStatus::FlushSlaveTimeout)),
            (17, Retry { refresh: true }),
            (14, Retry { refresh: false }),
            (1, Retry { refresh: false }),
            (2, Retry { refresh: false }),
            (204, Retry { refresh: false }),
            (205, Retry { refresh: false }),
            (1500, Retry { refresh: false }),
            (16, Fail { auth: true }),
            (13, Fail { auth: false }),
            (3, Fail { auth: false }),
            (999, Fail { auth: false }),
        ];
        for (code, expected) in cases {
            let v = classify_response(ResponseCode::from_code(code), None);
            match (expected, v) {
                (Done(s), Verdict::Done(got)) => assert_eq!(s, got, "{code}"),
                (
                    Retry { refresh },
                    Verdict::Retry {
                        refresh_route,
                        isolate,
                        ..
                    },
                ) => {
                    assert_eq!(refresh, refresh_route, "{code}");
                    assert!(
                        isolate,
                        "{code}: broker errors isolate the broker, as in Java"
                    );
                }
                (Fail { auth }, Verdict::Fail(e)) => {
                    assert_eq!(matches!(e, SendError::Authorization { .. }), auth, "{code}");
                }
                (e, v) => panic!("code {code}: expected {e:?}, got {v:?}"),
            }
        }
    }

    #[test]
    fn transport_table() {
        let closed = InvokeError::ConnectionClosed { addr: "a".into() };
        assert!(matches!(
            classify_transport(closed),
            Verdict::Retry {
                isolate: true,
                refresh_route: false,
                ..
            }
        ));
        assert!(matches!(
            classify_transport(InvokeError::Timeout),
            Verdict::Retry { isolate: true, .. }
        ));
        assert_eq!(
            classify_transport(InvokeError::Shutdown),
            Verdict::Fail(SendError::Transport(InvokeError::Shutdown))
        );
        // A certificate problem is configuration: retrying cannot fix it.
        let tls = InvokeError::Tls {
            addr: "a".into(),
            error: crate::TlsError::UntrustedCertificate("unknown issuer".into()),
        };
        assert_eq!(
            classify_transport(tls.clone()),
            Verdict::Fail(SendError::Transport(tls))
        );
    }
}
