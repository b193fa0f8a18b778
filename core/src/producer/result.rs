//! Send results and send errors (Java `SendResult`, `processSendResponse`, protocol §4.1).

use crate::body::MessageQueue;
use crate::client::misuse::Misuse;
use crate::codec::{RemotingCommand, ResponseCode};
use crate::header::{self, HeaderError, SendMessageResponseHeader};
use crate::message::MessageError;
use crate::remoting::InvokeError;

use super::validate::ValidationError;

/// Region of a send result when the broker reports none (Java `MixAll.DEFAULT_TRACE_REGION_ID`).
pub const DEFAULT_REGION: &str = "DefaultRegion";

/// How a stored message was stored (Java `SendStatus`). Every status means the broker
/// **stored** the message; only `SendOk` means it was also flushed/replicated as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendStatus {
    /// `SEND_OK` (response code 0).
    SendOk,
    /// `FLUSH_DISK_TIMEOUT` (10): stored, but the synchronous disk flush timed out.
    FlushDiskTimeout,
    /// `FLUSH_SLAVE_TIMEOUT` (12): stored, but the synchronous replication timed out.
    FlushSlaveTimeout,
    /// `SLAVE_NOT_AVAILABLE` (11): stored, but no slave to replicate to.
    SlaveNotAvailable,
}

impl SendStatus {
    /// The status of a send response code; `None` when the code is an error.
    pub fn from_code(code: ResponseCode) -> Option<Self> {
        match code {
            ResponseCode::Success => Some(SendStatus::SendOk),
            ResponseCode::FlushDiskTimeout => Some(SendStatus::FlushDiskTimeout),
            ResponseCode::FlushSlaveTimeout => Some(SendStatus::FlushSlaveTimeout),
            ResponseCode::SlaveNotAvailable => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        }
    }

    /// Java's name of the status (`SEND_OK`, `FLUSH_DISK_TIMEOUT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

/// The outcome of a successful send (Java `SendResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// How the message was stored.
    pub status: SendStatus,
    /// The client id (`UNIQ_KEY`); for a batch the inner ids joined by `,`.
    pub msg_id: String,
    /// The broker's offset message id (comma-joined for batches).
    pub offset_msg_id: String,
    /// The queue the message went to (topic without namespace, broker name, queue id).
    pub message_queue: MessageQueue,
    /// Offset in the consume queue (of the first message of a batch).
    pub queue_offset: i64,
    /// Transaction id, set for transactional (half) messages.
    pub transaction_id: Option<String>,
    /// The broker's region (`MSG_REGION`), [`DEFAULT_REGION`] when absent.
    pub region_id: String,
    /// The broker's trace switch: true unless `TRACE_ON` is `"false"`.
    pub trace_on: bool,
}

impl SendResult {
    /// Builds the result of a send response (Java `processSendResponse`).
    ///
    /// `msg_id` is the message's `UNIQ_KEY` (for a batch use [`batch_msg_id`]); `topic` and
    /// `broker_name` name the queue the request went to. A response code other than the four
    /// store statuses is [`SendError::Broker`] (or [`SendError::Authorization`] for
    /// NO_PERMISSION); a missing or malformed header is [`SendError::MalformedResponse`].
    pub fn from_response(
        response: &RemotingCommand,
        msg_id: String,
        topic: &str,
        broker_name: &str,
    ) -> Result<SendResult, SendError> {
        let code = response.response_code();
        let Some(status) = SendStatus::from_code(code) else {
            return Err(SendError::from_code(code, response.remark.clone()));
        };
        // TRACE_ON is read as raw text, as Java does (`!"false".equals(traceOn)`), so an
        // unexpected value cannot fail the whole result.
        let trace_on = response.field("TRACE_ON") != Some("false");
        let mut fields = response.ext_fields.clone();
        fields.remove("TRACE_ON");
        let header = <SendMessageResponseHeader as header::CommandHeader>::read_fields(&fields)
            .map_err(SendError::MalformedResponse)?;
        Ok(Self::from_header(
            status,
            header,
            msg_id,
            topic,
            broker_name,
            trace_on,
        ))
    }

    /// Builds a result from an already decoded header.
    pub fn from_header(
        status: SendStatus,
        header: SendMessageResponseHeader,
        msg_id: String,
        topic: &str,
        broker_name: &str,
        trace_on: bool,
    ) -> SendResult {
        SendResult {
            status,
            msg_id,
            offset_msg_id: header.msg_id,
            message_queue: MessageQueue::new(topic, broker_name, header.queue_id),
            queue_offset: header.queue_offset,
            transaction_id: header.transaction_id,
            region_id: header
                .msg_region
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            trace_on,
        }
    }
}

impl SendResult {
    /// The result of each message of a batch stored as `self`, given the messages' ids in
    /// batch order (Java 5.x auto-batch callbacks): its own `msg_id`, its own offset message
    /// id (the broker joins them with `,`; all of them when the count differs), and the
    /// batch's queue offset plus its index.
    pub fn split_batch(&self, msg_ids: &[String]) -> Vec<SendResult> {
        let offset_ids: Vec<&str> = self.offset_msg_id.split(',').collect();
        let own_offset_ids = offset_ids.len() == msg_ids.len();
        msg_ids
            .iter()
            .enumerate()
            .map(|(i, id)| SendResult {
                msg_id: id.clone(),
                offset_msg_id: if own_offset_ids {
                    offset_ids[i].to_owned()
                } else {
                    self.offset_msg_id.clone()
                },
                queue_offset: self.queue_offset.saturating_add(i as i64),
                ..self.clone()
            })
            .collect()
    }
}

/// The `msgId` of a batch send result (Java `processSendResponse`): the inner messages'
/// `UNIQ_KEY`s joined by `,`, unless the broker answered with `batchUniqId` (a broker inner
/// batch), in which case the batch's own `UNIQ_KEY`.
pub fn batch_msg_id<'a>(
    inner_ids: impl IntoIterator<Item = &'a str>,
    batch_uniq_key: &str,
    response_batch_uniq_id: Option<&str>,
) -> String {
    if response_batch_uniq_id.is_some() {
        return batch_uniq_key.to_owned();
    }
    inner_ids.into_iter().collect::<Vec<_>>().join(",")
}

/// Why a send failed, by blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The caller's message, topic or group was refused before sending.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The message could not be prepared (compression failed, properties too long).
    #[error("message cannot be sent: {0}")]
    Message(#[from] MessageError),
    /// The broker answered with an error code.
    #[error("broker error {code}: {}", remark.as_deref().unwrap_or(""))]
    Broker {
        /// The response code.
        code: ResponseCode,
        /// The broker's remark.
        remark: Option<String>,
    },
    /// The broker refused the send for lack of permission (NO_PERMISSION: topic not writable
    /// or an ACL denial). Never retried, although Java's retry set contains the code.
    #[error("not authorized ({code}): {}", remark.as_deref().unwrap_or(""))]
    Authorization {
        /// The response code.
        code: ResponseCode,
        /// The broker's remark.
        remark: Option<String>,
    },
    /// The send timeout elapsed before a broker confirmed the message.
    #[error("send timed out")]
    Timeout,
    /// The topic has no route (nor a template route to auto-create it from).
    #[error("no route for topic {topic:?}")]
    NoRoute {
        /// The topic.
        topic: String,
    },
    /// The request got no response (connection, timeout of the last attempt, shutdown).
    #[error(transparent)]
    Transport(#[from] InvokeError),
    /// The response lacked a required header field.
    #[error("malformed send response: {0}")]
    MalformedResponse(HeaderError),
    /// A selector send found no queue.
    #[error(transparent)]
    Select(#[from] super::selector::SelectError),
    /// The call itself was wrong: the producer is unknown, closed or closing.
    #[error(transparent)]
    Misuse(#[from] Misuse),
}

impl SendError {
    /// The error for a non-store response code: [`SendError::Authorization`] for
    /// NO_PERMISSION, [`SendError::Broker`] otherwise.
    pub fn from_code(code: ResponseCode, remark: Option<String>) -> SendError {
        match code {
            ResponseCode::NoPermission => SendError::Authorization { code, remark },
            _ => SendError::Broker { code, remark },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::RequestCode;

    fn response(code: ResponseCode, fields: &[(&str, &str)]) -> RemotingCommand {
        let req = RemotingCommand::request(RequestCode::SendMessageV2);
        let mut r = RemotingCommand::response_to(&req, code);
        for (k, v) in fields {
            r.ext_fields.insert((*k).into(), (*v).into());
        }
        r
    }

    #[test]
    fn statuses_follow_java() {
        let cases = [
            (0, Some(SendStatus::SendOk)),
            (10, Some(SendStatus::FlushDiskTimeout)),
            (12, Some(SendStatus::FlushSlaveTimeout)),
            (11, Some(SendStatus::SlaveNotAvailable)),
            (1, None),
            (17, None),
        ];
        for (code, expected) in cases {
            assert_eq!(
                SendStatus::from_code(ResponseCode::from_code(code)),
                expected
            );
        }
    }

    #[test]
    fn result_from_response() {
        let r = response(
            ResponseCode::FlushDiskTimeout,
            &[
                ("msgId", "0AAF0895000078BF000000000009BB4A"),
                ("queueId", "3"),
                ("queueOffset", "42"),
                ("transactionId", "TX"),
                ("MSG_REGION", "r1"),
                ("TRACE_ON", "weird"),
            ],
        );
        let res = SendResult::from_response(&r, "UNIQ".into(), "T", "b").unwrap();
        assert_eq!(res.status, SendStatus::FlushDiskTimeout);
        assert_eq!(res.msg_id, "UNIQ");
        assert_eq!(res.offset_msg_id, "0AAF0895000078BF000000000009BB4A");
        assert_eq!(res.message_queue, MessageQueue::new("T", "b", 3));
        assert_eq!(res.queue_offset, 42);
        assert_eq!(res.transaction_id.as_deref(), Some("TX"));
        assert_eq!(res.region_id, "r1");
        assert!(res.trace_on);

        let r = response(
            ResponseCode::Success,
            &[
                ("msgId", "X"),
                ("queueId", "0"),
                ("queueOffset", "0"),
                ("TRACE_ON", "false"),
            ],
        );
        let res = SendResult::from_response(&r, "U".into(), "T", "b").unwrap();
        assert_eq!(res.region_id, DEFAULT_REGION);
        assert!(!res.trace_on);
        assert_eq!(res.transaction_id, None);
    }

    #[test]
    fn errors_by_code() {
        let r = response(ResponseCode::SystemBusy, &[]).with_remark("busy");
        assert_eq!(
            SendResult::from_response(&r, "U".into(), "T", "b"),
            Err(SendError::Broker {
                code: ResponseCode::SystemBusy,
                remark: Some("busy".into())
            })
        );
        let r = response(ResponseCode::NoPermission, &[]);
        assert!(matches!(
            SendResult::from_response(&r, "U".into(), "T", "b"),
            Err(SendError::Authorization { .. })
        ));
        let r = response(ResponseCode::Success, &[("queueId", "0")]);
        assert!(matches!(
            SendResult::from_response(&r, "U".into(), "T", "b"),
            Err(SendError::MalformedResponse(_))
        ));
    }

    #[test]
    fn batch_ids() {
        assert_eq!(batch_msg_id(["A", "B", "C"], "BATCH", None), "A,B,C");
        assert_eq!(batch_msg_id(["A", "B"], "BATCH", Some("X")), "BATCH");
        assert_eq!(batch_msg_id([], "BATCH", None), "");
    }
}
