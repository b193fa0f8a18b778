//! Transaction headers: END_TRANSACTION (client→broker) and CHECK_TRANSACTION_STATE
//! (broker→client).

use super::FieldValue;

/// The `commitOrRollback` value of an END_TRANSACTION request (Java `MessageSysFlag`
/// transaction types, sent as a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransactionState {
    /// `0` (`TRANSACTION_NOT_TYPE`): state unknown; the broker waits for a check.
    #[default]
    Unknown,
    /// `8` (`TRANSACTION_COMMIT_TYPE`).
    Commit,
    /// `12` (`TRANSACTION_ROLLBACK_TYPE`).
    Rollback,
}

impl TransactionState {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            TransactionState::Unknown => 0,
            TransactionState::Commit => 8,
            TransactionState::Rollback => 12,
        }
    }

    /// The state for a wire value, if it is one of 0, 8, 12.
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(TransactionState::Unknown),
            8 => Some(TransactionState::Commit),
            12 => Some(TransactionState::Rollback),
            _ => None,
        }
    }
}

impl FieldValue for TransactionState {
    fn to_field(&self) -> String {
        self.code().to_string()
    }

    fn from_field(text: &str) -> Option<Self> {
        text.parse().ok().and_then(Self::from_code)
    }
}

command_header! {
    /// Java `EndTransactionRequestHeader` (END_TRANSACTION, 37; always sent oneway). An
    /// exception description of the local transaction goes in the command's remark.
    pub struct EndTransactionRequestHeader {
        /// `topic`: the message's topic (5.x).
        pub topic: Option<String> = "topic",
        /// `producerGroup`.
        pub producer_group: String = "producerGroup",
        /// `tranStateTableOffset`: the half message's queue offset.
        pub tran_state_table_offset: i64 = "tranStateTableOffset",
        /// `commitLogOffset`: the half message's commit-log offset.
        pub commit_log_offset: i64 = "commitLogOffset",
        /// `commitOrRollback`.
        pub commit_or_rollback: TransactionState = "commitOrRollback",
        /// `fromTransactionCheck`: true when answering CHECK_TRANSACTION_STATE (Java always
        /// sends it).
        pub from_transaction_check: bool = "fromTransactionCheck" or false,
        /// `msgId`: the message's `UNIQ_KEY`.
        pub msg_id: String = "msgId",
        /// `transactionId`.
        pub transaction_id: Option<String> = "transactionId",
        /// `bname`: the broker holding the half message.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `CheckTransactionStateRequestHeader` (CHECK_TRANSACTION_STATE, 39, broker→client,
    /// oneway). The body is the half message in stored format.
    pub struct CheckTransactionStateRequestHeader {
        /// `topic`.
        pub topic: Option<String> = "topic",
        /// `tranStateTableOffset`: the half message's queue offset.
        pub tran_state_table_offset: i64 = "tranStateTableOffset",
        /// `commitLogOffset`: the half message's commit-log offset.
        pub commit_log_offset: i64 = "commitLogOffset",
        /// `msgId`: the message's `UNIQ_KEY`.
        pub msg_id: Option<String> = "msgId",
        /// `transactionId`.
        pub transaction_id: Option<String> = "transactionId",
        /// `offsetMsgId`: the offset message id.
        pub offset_msg_id: Option<String> = "offsetMsgId",
        /// `bname`: the broker asking.
        pub broker_name: Option<String> = "bname",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, fields_of, CommandHeader, HeaderError};

    #[test]
    fn transaction_state_codes() {
        for (state, code) in [
            (TransactionState::Unknown, 0),
            (TransactionState::Commit, 8),
            (TransactionState::Rollback, 12),
        ] {
            assert_eq!(state.code(), code);
            assert_eq!(TransactionState::from_code(code), Some(state));
            assert_eq!(TransactionState::from_field(&code.to_string()), Some(state));
        }
        // PREPARED (4) is not an end-transaction outcome.
        assert_eq!(TransactionState::from_code(4), None);
        assert_eq!(TransactionState::from_field("COMMIT"), None);
    }

    #[test]
    fn end_transaction_round_trip() {
        let h = EndTransactionRequestHeader {
            topic: Some("t".into()),
            producer_group: "pg".into(),
            tran_state_table_offset: 17,
            commit_log_offset: 4096,
            commit_or_rollback: TransactionState::Rollback,
            from_transaction_check: true,
            msg_id: "7F0000010001".into(),
            transaction_id: Some("tx".into()),
            broker_name: Some("broker-a".into()),
        };
        let fields = assert_round_trip(&h);
        assert_eq!(fields["commitOrRollback"], "12");
        assert_eq!(fields["fromTransactionCheck"], "true");
        let mut bad = fields.clone();
        bad.insert("commitOrRollback".into(), "4".into());
        assert_eq!(
            EndTransactionRequestHeader::read_fields(&bad),
            Err(HeaderError::Invalid {
                field: "commitOrRollback",
                value: "4".into()
            })
        );
        bad.remove("msgId");
        bad.insert("commitOrRollback".into(), "8".into());
        assert_eq!(
            EndTransactionRequestHeader::read_fields(&bad),
            Err(HeaderError::Missing { field: "msgId" })
        );
    }

    #[test]
    fn check_transaction_round_trip() {
        assert_round_trip(&CheckTransactionStateRequestHeader {
            topic: Some("t".into()),
            tran_state_table_offset: 1,
            commit_log_offset: 2,
            msg_id: Some("u".into()),
            transaction_id: Some("u".into()),
            offset_msg_id: Some("o".into()),
            broker_name: Some("b".into()),
        });
        let minimal = fields_of(&[("tranStateTableOffset", "1"), ("commitLogOffset", "2")]);
        let h = CheckTransactionStateRequestHeader::read_fields(&minimal).expect("minimal");
        assert_eq!(h.msg_id, None);
        let bad = fields_of(&[("tranStateTableOffset", "x"), ("commitLogOffset", "2")]);
        assert_eq!(
            CheckTransactionStateRequestHeader::read_fields(&bad),
            Err(HeaderError::Invalid {
                field: "tranStateTableOffset",
                value: "x".into()
            })
        );
        let missing = fields_of(&[("tranStateTableOffset", "1")]);
        assert_eq!(
            CheckTransactionStateRequestHeader::read_fields(&missing),
            Err(HeaderError::Missing {
                field: "commitLogOffset"
            })
        );
    }
}
