//! CONSUME_MESSAGE_DIRECTLY (an admin tool asks a push consumer to consume one stored message
//! now): the rules of which consumer runs it and how its outcome is answered live here; the
//! adapter only runs the handler.

use std::time::{Duration, Instant};

use super::super::{AnswerToken, ClientCore, Event, IncomingRequest};
use super::{ConsumeOutcome, ConsumerId};
use crate::body::{CMResult, ConsumeMessageDirectlyResult};
use crate::codec::{RemotingCommand, ResponseCode};
use crate::message::decode_messages;

/// Answers one CONSUME_MESSAGE_DIRECTLY request: hand it back with the handler's outcome to
/// [`ClientCore::answer_consume_directly`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeDirectlyToken {
    answer: AnswerToken,
    /// The request, without its body (the response echoes its opaque and code).
    request: RemotingCommand,
    orderly: bool,
}

/// The answer to CONSUME_MESSAGE_DIRECTLY: `SUCCESS` with a [`ConsumeMessageDirectlyResult`]
/// body. `outcome` is `None` when the handler failed without an outcome (it panicked:
/// `CR_THROW_EXCEPTION`); success maps to `CR_SUCCESS`, anything else to `CR_LATER` (Java
/// `ConsumeMessageConcurrentlyService` / `ConsumeMessageOrderlyService.consumeMessageDirectly`).
pub fn consume_directly_response(
    request: &RemotingCommand,
    outcome: Option<ConsumeOutcome>,
    spent: Duration,
    orderly: bool,
) -> RemotingCommand {
    let (result, remark) = match outcome {
        Some(ConsumeOutcome::Success) => (CMResult::Success, None),
        Some(_) => (CMResult::Later, None),
        None => (
            CMResult::ThrowException,
            Some("the handler panicked".to_string()),
        ),
    };
    let body = ConsumeMessageDirectlyResult {
        auto_commit: true,
        consume_result: Some(result),
        order: orderly,
        remark,
        spent_time_mills: i64::try_from(spent.as_millis()).unwrap_or(i64::MAX),
    };
    RemotingCommand::response_to(request, ResponseCode::Success).with_body(body.encode())
}

impl ClientCore {
    /// A CONSUME_MESSAGE_DIRECTLY request: for a live push consumer of its group, the decoded
    /// message goes out as [`Event::ConsumeDirectly`] (a body that does not decode is refused
    /// with SYSTEM_ERROR at once); `Some(request)` back when no push consumer of ours is
    /// concerned (the user sees it).
    pub(super) fn consume_directly(&mut self, request: IncomingRequest) -> Option<IncomingRequest> {
        let group = request.command.field("consumerGroup").unwrap_or_default();
        let target: Option<(ConsumerId, bool)> = self
            .consumers
            .machines
            .iter()
            .find(|(_, m)| m.is_live() && !m.is_lite() && m.group() == group)
            .map(|(id, m)| (*id, m.is_orderly()));
        let (Some((consumer, orderly)), Some(answer)) = (target, request.token.clone()) else {
            return Some(request);
        };
        let messages = match decode_messages(&request.command.body) {
            Ok(m) if !m.is_empty() => m,
            Ok(_) | Err(_) => {
                let response =
                    RemotingCommand::response_to(&request.command, ResponseCode::SystemError)
                        .with_remark("cannot decode the message to consume");
                self.remoting.answer(answer, response);
                return None;
            }
        };
        let mut header = request.command;
        header.body = bytes::Bytes::new();
        let token = ConsumeDirectlyToken {
            answer,
            request: header,
            orderly,
        };
        self.events.push_back(Event::ConsumeDirectly {
            consumer,
            token,
            messages,
        });
        None
    }

    /// Answers a CONSUME_MESSAGE_DIRECTLY with the handler's outcome (`None`: it failed
    /// without one) and how long it took.
    pub fn answer_consume_directly(
        &mut self,
        now: Instant,
        token: ConsumeDirectlyToken,
        outcome: Option<ConsumeOutcome>,
        spent: Duration,
    ) {
        let _ = now;
        let response = consume_directly_response(&token.request, outcome, spent, token.orderly);
        self.remoting.answer(token.answer, response);
    }
}
