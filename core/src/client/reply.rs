//! Request/reply inside the client ([`ClientCore::request_reply`]): a request is a send plus a
//! wait for the reply the broker pushes (PUSH_REPLY_MESSAGE_TO_CLIENT), matched by
//! correlation id, until the request's deadline. The result is one [`Event::Reply`].

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::{ClientCore, Event, OpId, ProducerId, SendMode, SendTarget};
use crate::codec::{RemotingCommand, ResponseCode};
use crate::header::{self, ReplyMessageRequestHeader};
use crate::message::{keys, Message, MessageExt};
use crate::producer::{decode_pushed_reply, prepare_request, SendError};
use crate::remoting::IncomingRequest;
use crate::Misuse;

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The request message was not stored.
    #[error("the request was not sent: {0}")]
    Send(SendError),
    /// No reply came within the request's time.
    #[error("no reply within the request's time")]
    Timeout,
}

/// One request waiting for its reply.
#[derive(Debug)]
struct Waiting {
    op: OpId,
    deadline: Instant,
}

/// Requests waiting for replies, by correlation id.
#[derive(Debug, Default)]
pub(super) struct ReplyTable {
    waiting: HashMap<String, Waiting>,
    /// The send of each request still in flight → its correlation id.
    sends: HashMap<OpId, String>,
    deadlines: BTreeSet<(Instant, String)>,
}

impl ReplyTable {
    /// The earliest request deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    fn finish(&mut self, correlation: &str) -> Option<OpId> {
        let w = self.waiting.remove(correlation)?;
        self.deadlines.remove(&(w.deadline, correlation.to_owned()));
        Some(w.op)
    }

    /// Requests whose time ran out by `now`.
    fn expire(&mut self, now: Instant) -> Vec<OpId> {
        let mut expired = Vec::new();
        while let Some((at, correlation)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(w) = self.waiting.remove(&correlation) {
                expired.push(w.op);
            }
        }
        expired
    }
}

impl ClientCore {
    /// Sends `message` as a request (Java `request(msg, timeout)`) through `producer`'s
    /// selector and waits up to `timeout` for the reply a consumer sends back with
    /// [`reply_message`](crate::producer::reply_message). The result is
    /// [`Event::Reply`]: the reply message, or why there is none.
    pub fn request_reply(
        &mut self,
        now: Instant,
        producer: ProducerId,
        mut message: Message,
        timeout: Duration,
    ) -> Result<OpId, Misuse> {
        self.live_producer(producer)?;
        let correlation = self.correlation_id();
        let op = self.alloc_op();
        if let Err(e) = prepare_request(&mut message, &correlation, &self.client_id, timeout) {
            let result = Err(RequestError::Send(SendError::Message(e)));
            self.events.push_back(Event::Reply { op, result });
            return Ok(op);
        }
        let deadline = now + timeout;
        self.replies
            .waiting
            .insert(correlation.clone(), Waiting { op, deadline });
        self.replies
            .deadlines
            .insert((deadline, correlation.clone()));
        let send = self.send(now, producer, message, SendTarget::Default, SendMode::Async)?;
        self.replies.sends.insert(send, correlation);
        Ok(op)
    }

    /// A random correlation id in UUID form.
    fn correlation_id(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// A send's result: `Some` gives it back when it is not a request's.
    pub(super) fn request_sent(&mut self, event: Event) -> Option<Event> {
        let Event::Send { op, result } = &event else {
            return Some(event);
        };
        let Some(correlation) = self.replies.sends.remove(op) else {
            return Some(event);
        };
        if let Err(e) = result {
            if let Some(op) = self.replies.finish(&correlation) {
                let result = Err(RequestError::Send(e.clone()));
                self.events.push_back(Event::Reply { op, result });
            }
        }
        None
    }

    /// Requests whose time ran out fail with [`RequestError::Timeout`].
    pub(super) fn expire_requests(&mut self, now: Instant) {
        for op in self.replies.expire(now) {
            let result = Err(RequestError::Timeout);
            self.events.push_back(Event::Reply { op, result });
        }
    }

    /// PUSH_REPLY_MESSAGE_TO_CLIENT: the reply of a request of ours (a late one, after its
    /// request gave up, is dropped). Answered SUCCESS unless it cannot be read.
    pub(super) fn handle_pushed_reply(&mut self, request: IncomingRequest) {
        let reply = header::read::<ReplyMessageRequestHeader>(&request.command)
            .map_err(|e| e.to_string())
            .and_then(|h| {
                decode_pushed_reply(&h, request.command.body.clone()).map_err(|e| e.to_string())
            });
        let response = match reply {
            Ok(message) => {
                self.deliver_reply(message);
                RemotingCommand::response_to(&request.command, ResponseCode::Success)
            }
            Err(e) => {
                tracing::warn!(addr = %request.addr, error = %e, "unreadable pushed reply");
                RemotingCommand::response_to(&request.command, ResponseCode::SystemError)
                    .with_remark(e)
            }
        };
        if let Some(token) = request.token {
            self.remoting.answer(token, response);
        }
    }

    fn deliver_reply(&mut self, message: MessageExt) {
        let correlation = message
            .message
            .property(keys::CORRELATION_ID)
            .map(str::to_owned);
        match correlation.and_then(|c| self.replies.finish(&c)) {
            Some(op) => {
                self.events.push_back(Event::Reply {
                    op,
                    result: Ok(message),
                });
            }
            None => tracing::debug!("a reply for no waiting request dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // one real Instant as the origin of virtual time

    use super::*;

    #[test]
    fn requests_expire_in_deadline_order_and_finish_once() {
        let t0 = Instant::now();
        let mut table = ReplyTable::default();
        for (i, secs) in [(1, 3), (2, 1)] {
            let deadline = t0 + Duration::from_secs(secs);
            table.waiting.insert(
                i.to_string(),
                Waiting {
                    op: OpId(i),
                    deadline,
                },
            );
            table.deadlines.insert((deadline, i.to_string()));
        }
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.expire(t0 + Duration::from_secs(2)), vec![OpId(2)]);
        assert_eq!(table.finish("1"), Some(OpId(1)));
        assert_eq!(table.finish("1"), None);
        assert_eq!(table.next_deadline(), None);
        assert!(table.expire(t0 + Duration::from_secs(9)).is_empty());
    }
}
