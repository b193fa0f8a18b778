//! Broker→client requests about consumers, routed to the consumers of the group they name:
//! NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, GET_CONSUMER_STATUS_FROM_CLIENT and
//! RESET_CONSUMER_CLIENT_OFFSET.

use std::collections::BTreeMap;
use std::time::Instant;

use super::super::ClientCore;
use crate::body::{GetConsumerStatusBody, MessageQueue, ResetOffsetBody};
use crate::codec::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::IncomingRequest;

impl ClientCore {
    /// Answers a broker→client request about consumers; `None` when handled, the request back
    /// when it is not ours (for the user to see).
    pub(in crate::client) fn handle_consumer_request(
        &mut self,
        now: Instant,
        request: IncomingRequest,
    ) -> Option<IncomingRequest> {
        let field = |name: &str| request.command.field(name).unwrap_or_default().to_string();
        match RequestCode::from_code(request.command.code) {
            RequestCode::ConsumeMessageDirectly => self.consume_directly(request),
            RequestCode::NotifyConsumerIdsChanged => {
                let ids = self.consumers.ids_of_group(&field("consumerGroup"));
                if ids.is_empty() {
                    // Not a group of ours: let the user see it.
                    return Some(request);
                }
                for id in ids {
                    self.drive_consumer(now, id, |m, env| {
                        m.doubt_membership(now);
                        m.rebalance(now, env);
                    });
                }
                None
            }
            RequestCode::GetConsumerRunningInfo => {
                let group = field("consumerGroup");
                let namesrv = self.config.namesrv_addrs.join(";");
                let wall_ms = self.wall.now_millis();
                let info = self
                    .consumers
                    .machines
                    .values()
                    .find(|m| m.group() == group)
                    .map(|m| m.running_info(now, wall_ms, &namesrv));
                let response = match info {
                    Some(info) => {
                        RemotingCommand::response_to(&request.command, ResponseCode::Success)
                            .with_body(info.encode())
                    }
                    None => {
                        RemotingCommand::response_to(&request.command, ResponseCode::SystemError)
                            .with_remark(format!(
                                "The Consumer Group <{group}> not exist in this consumer"
                            ))
                    }
                };
                self.answer_request(request, response);
                None
            }
            RequestCode::GetConsumerStatusFromClient => {
                let (group, topic) = (field("group"), field("topic"));
                let table: BTreeMap<MessageQueue, i64> = self
                    .consumers
                    .machines
                    .values()
                    .filter(|m| m.group() == group)
                    .flat_map(|m| m.topic_offsets(&topic))
                    .map(|(mq, o)| (mq.clone(), *o))
                    .collect();
                let body = GetConsumerStatusBody {
                    message_queue_table: table,
                    ..Default::default()
                };
                let response =
                    RemotingCommand::response_to(&request.command, ResponseCode::Success)
                        .with_body(body.encode());
                self.answer_request(request, response);
                None
            }
            RequestCode::ResetConsumerClientOffset => {
                let Ok(body) = ResetOffsetBody::decode(&request.command.body) else {
                    tracing::warn!("bad reset-offset body");
                    return None;
                };
                let group = field("group");
                for m in self.consumers.machines.values_mut() {
                    if m.group() == group {
                        m.reset_offsets(&body.offset_table);
                    }
                }
                None
            }
            _ => Some(request),
        }
    }

    fn answer_request(&mut self, request: IncomingRequest, response: RemotingCommand) {
        if let Some(token) = request.token {
            self.remoting.answer(token, response);
        }
    }
}
