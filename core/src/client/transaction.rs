//! Transactional sends: the half message, the local transaction, END_TRANSACTION, and the
//! broker's CHECK_TRANSACTION_STATE routed by producer group.
//!
//! ```text
//! send_transactional ─► half message (TRAN_MSG, PGROUP) stored? ─ no ─► Event::Transaction(Err)
//!                                   │ SEND_OK                  other status ─► rollback
//!                                   ▼
//!          Event::ExecuteLocalTransaction { token } ─► end_local_transaction(token, state)
//!                                   ▼
//!          END_TRANSACTION (oneway) ─► Event::Transaction(Ok { state })
//!
//! broker: CHECK_TRANSACTION_STATE ─► Event::CheckTransaction { token } ─► answer_transaction_check
//!                                                   ─► END_TRANSACTION (oneway, fromTransactionCheck)
//! ```

use std::collections::HashMap;
use std::time::Instant;

use super::misuse::Misuse;
use super::{ClientCore, Event, OpId, ProducerId, SendMode, SendTarget};
use crate::codec::RequestCode;
use crate::header::{
    self, CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TransactionState,
};
use crate::message::{decode_messages, keys, Message, MessageExt, OffsetMessageId};
use crate::producer::{prepare_message, SendResult, SendStatus};
use crate::remoting::IncomingRequest;

/// Resolves the local transaction of one transactional send.
#[must_use = "the half message stays unresolved until the local transaction is ended"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTransactionToken {
    op: OpId,
}

/// Answers one CHECK_TRANSACTION_STATE from a broker.
#[must_use = "an unanswered check is asked again by the broker"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionCheckToken {
    addr: String,
    group: String,
    topic: String,
    msg_id: String,
    header: CheckTransactionStateRequestHeader,
}

/// What a transactional send ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSendResult {
    /// Where the half message was stored.
    pub send_result: SendResult,
    /// The state sent to the broker (Unknown leaves it to a later check).
    pub state: TransactionState,
}

#[derive(Debug)]
struct PendingLocal {
    group: String,
    send_result: SendResult,
}

/// Local transactions waiting for the user.
#[derive(Debug, Default)]
pub(super) struct TransactionTable {
    pending: HashMap<OpId, PendingLocal>,
}

impl ClientCore {
    /// Sends `message` as a transactional half message (Java `sendMessageInTransaction`): on
    /// SEND_OK, [`Event::ExecuteLocalTransaction`] asks for the local transaction's outcome;
    /// any other store status rolls back. [`Event::Transaction`] ends the operation.
    pub fn send_transactional(
        &mut self,
        now: Instant,
        producer: ProducerId,
        mut message: Message,
    ) -> Result<OpId, Misuse> {
        self.live_producer(producer)?;
        self.config.namespace.wrap_message(&mut message);
        let group = self.producer_group(producer).unwrap_or_default();
        message.remove_property(keys::DELAY_TIME_LEVEL);
        let marked = message
            .set_property(keys::TRANSACTION_PREPARED, "true")
            .and_then(|()| message.set_property(keys::PRODUCER_GROUP, group));
        let op = self.alloc_op();
        let prepared = match marked {
            Ok(()) => self.with_id_clock(producer, |config, clock| {
                prepare_message(config, &mut message, clock)
            }),
            Err(e) => Err(e.into()),
        };
        self.start_transactional_send(now, op, producer, prepared, message);
        Ok(op)
    }

    /// The half message was stored: hand the local transaction to the user, or roll back a
    /// half message whose store status is not SEND_OK.
    pub(super) fn transaction_stored(
        &mut self,
        now: Instant,
        op: OpId,
        producer: ProducerId,
        mut message: Message,
        send_result: SendResult,
    ) {
        let group = self.producer_group(producer).unwrap_or_default();
        if let Some(id) = &send_result.transaction_id {
            let _ = message.set_property(keys::TRANSACTION_ID, id.clone());
        }
        self.transactions.pending.insert(
            op,
            PendingLocal {
                group,
                send_result: send_result.clone(),
            },
        );
        if send_result.status == SendStatus::SendOk {
            self.events.push_back(Event::ExecuteLocalTransaction {
                op,
                token: LocalTransactionToken { op },
                message,
                send_result,
            });
        } else {
            self.end_local_transaction(
                now,
                LocalTransactionToken { op },
                TransactionState::Rollback,
                Some(format!(
                    "half message store status {:?}",
                    send_result.status
                )),
            );
        }
    }

    /// Ends the local transaction of a transactional send: END_TRANSACTION goes oneway to the
    /// master of the half message's broker, then [`Event::Transaction`] reports it. `remark`
    /// describes a failed local transaction.
    pub fn end_local_transaction(
        &mut self,
        now: Instant,
        token: LocalTransactionToken,
        state: TransactionState,
        remark: Option<String>,
    ) {
        let Some(local) = self.transactions.pending.remove(&token.op) else {
            return;
        };
        let r = &local.send_result;
        let commit_log_offset = OffsetMessageId::parse(&r.offset_msg_id)
            .map(|id| id.offset)
            .unwrap_or(0);
        let header = EndTransactionRequestHeader {
            topic: Some(r.message_queue.topic.clone()),
            producer_group: local.group.clone(),
            tran_state_table_offset: r.queue_offset,
            commit_log_offset,
            commit_or_rollback: state,
            from_transaction_check: false,
            msg_id: r.msg_id.clone(),
            transaction_id: r.transaction_id.clone(),
            broker_name: Some(r.message_queue.broker_name.clone()),
        };
        let mut command = header::request(RequestCode::EndTransaction, &header);
        command.remark = remark;
        match self.broker_master(&r.message_queue.topic, &r.message_queue.broker_name) {
            Some(addr) => self.remoting.send_oneway(now, &addr, command),
            None => tracing::warn!(
                broker = %r.message_queue.broker_name,
                "no address for END_TRANSACTION; the broker will check back"
            ),
        }
        self.events.push_back(Event::Transaction {
            op: token.op,
            result: Ok(TransactionSendResult {
                send_result: local.send_result,
                state,
            }),
        });
    }

    /// A CHECK_TRANSACTION_STATE from a broker: routed by the half message's producer group
    /// (`PGROUP`) to that producer as [`Event::CheckTransaction`]; dropped (logged) when no
    /// producer of the group lives here or the request is malformed.
    pub(super) fn handle_transaction_check(&mut self, request: IncomingRequest) {
        let header = match header::read::<CheckTransactionStateRequestHeader>(&request.command) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(addr = %request.addr, error = %e, "bad transaction check header");
                return;
            }
        };
        let message: MessageExt = match decode_messages(&request.command.body) {
            Ok(mut list) if !list.is_empty() => list.swap_remove(0),
            Ok(_) => {
                tracing::warn!(addr = %request.addr, "transaction check without a message");
                return;
            }
            Err(e) => {
                tracing::warn!(addr = %request.addr, error = %e, "bad transaction check body");
                return;
            }
        };
        let Some(group) = message
            .message
            .property(keys::PRODUCER_GROUP)
            .map(str::to_string)
        else {
            tracing::warn!(addr = %request.addr, "transaction check without PGROUP");
            return;
        };
        let Some(producer) = self.producer_of_group(&group) else {
            tracing::warn!(%group, "transaction check for a group with no producer here");
            return;
        };
        let msg_id = message
            .message
            .property(keys::UNIQ_KEY)
            .map(str::to_string)
            .or_else(|| header.msg_id.clone())
            .unwrap_or_else(|| message.msg_id().to_string());
        let token = TransactionCheckToken {
            addr: request.addr,
            group,
            topic: message.topic().to_string(),
            msg_id,
            header,
        };
        self.events.push_back(Event::CheckTransaction {
            producer,
            token,
            message,
        });
    }

    /// Answers a broker's transaction check: END_TRANSACTION (oneway, `fromTransactionCheck`)
    /// to the address the check came from. `Unknown` lets the broker ask again later.
    pub fn answer_transaction_check(
        &mut self,
        now: Instant,
        token: TransactionCheckToken,
        state: TransactionState,
    ) {
        let header = EndTransactionRequestHeader {
            topic: Some(token.topic),
            producer_group: token.group,
            tran_state_table_offset: token.header.tran_state_table_offset,
            commit_log_offset: token.header.commit_log_offset,
            commit_or_rollback: state,
            from_transaction_check: true,
            msg_id: token.msg_id,
            transaction_id: token.header.transaction_id,
            broker_name: token.header.broker_name,
        };
        let command = header::request(RequestCode::EndTransaction, &header);
        self.remoting.send_oneway(now, &token.addr, command);
    }
}

impl ClientCore {
    fn start_transactional_send(
        &mut self,
        now: Instant,
        op: OpId,
        producer: ProducerId,
        prepared: Result<crate::producer::PreparedMessage, crate::producer::SendError>,
        message: Message,
    ) {
        self.start_single_send(
            now,
            op,
            producer,
            prepared,
            message,
            SendTarget::Default,
            SendMode::Sync,
            true,
        );
    }
}
