//! A consumer refused by its brokers. Wrong credentials, an ACL that does not grant the group
//! or topic, a topic or group not readable: the broker answers NO_PERMISSION to heartbeats,
//! consumer lists and pulls, the consumer gets nothing, and without this it would only retry
//! quietly. The first refusal (and each new kind of one) is logged as an error and emitted as
//! [`crate::Event::ConsumerRefused`]; [`ConsumerRefusal`] is kept, for the user to ask, until a
//! request of the same kind succeeds (keys rotated, the ACL fixed).

use crate::client::ConsumerId;
use crate::codec::{RemotingCommand, ResponseCode};
use crate::remoting::InvokeError;

/// A broker refused a consumer's request for lack of permission.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerRefusal {
    /// The consumer.
    pub consumer: ConsumerId,
    /// Its group (as the brokers know it).
    pub group: String,
    /// The broker that refused.
    pub broker: String,
    /// The request refused (its code's name, e.g. `PULL_MESSAGE`).
    pub request: String,
    /// The response code (NO_PERMISSION).
    pub code: ResponseCode,
    /// The broker's remark (what it refused and why).
    pub remark: Option<String>,
}

/// The last refusal of one consumer, until a request of its kind succeeds.
#[derive(Debug, Default)]
pub(super) struct RefusalState(Option<ConsumerRefusal>);

impl RefusalState {
    /// The refusal in force.
    pub(super) fn current(&self) -> Option<&ConsumerRefusal> {
        self.0.as_ref()
    }

    /// Looks at the answer to a request of kind `request` (a request code's name) that
    /// `consumer` of `group` sent to `broker`: a NO_PERMISSION is kept and returned when it is
    /// new (to report); a success of the kind last refused ends the refusal.
    pub(super) fn note(
        &mut self,
        (consumer, group): (ConsumerId, &str),
        broker: &str,
        request: &str,
        result: &Result<RemotingCommand, InvokeError>,
    ) -> Option<ConsumerRefusal> {
        let Ok(response) = result else {
            return None;
        };
        match response.response_code() {
            ResponseCode::NoPermission => {
                let refusal = ConsumerRefusal {
                    consumer,
                    group: group.to_owned(),
                    broker: broker.to_owned(),
                    request: request.to_owned(),
                    code: ResponseCode::NoPermission,
                    remark: response.remark.clone(),
                };
                let known = self.0.as_ref().is_some_and(|r| {
                    r.broker == refusal.broker
                        && r.request == refusal.request
                        && r.remark == refusal.remark
                });
                if known {
                    return None;
                }
                tracing::error!(
                    group = %refusal.group,
                    broker = %refusal.broker,
                    request = %refusal.request,
                    remark = refusal.remark.as_deref().unwrap_or(""),
                    "the broker refuses this consumer (NO_PERMISSION): check its credentials \
                     and the ACL of its group and topics"
                );
                self.0 = Some(refusal.clone());
                Some(refusal)
            }
            ResponseCode::Success if self.0.as_ref().is_some_and(|r| r.request == request) => {
                tracing::info!(group, request, "the broker accepts this consumer again");
                self.0 = None;
                None
            }
            _ => None,
        }
    }
}
