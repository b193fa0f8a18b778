//! POP headers (5.x): POP_MESSAGE 200050, ACK_MESSAGE 200051, CHANGE_MESSAGE_INVISIBLETIME
//! 200053.

command_header! {
    /// Java `PopMessageRequestHeader`.
    #[derive(Default)]
    pub struct PopMessageRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`.
        pub topic: String = "topic",
        /// `queueId`: one queue, or -1 for every queue of the topic on this broker.
        pub queue_id: i32 = "queueId",
        /// `maxMsgNums`: at most this many messages (Java default 32).
        pub max_msg_nums: i32 = "maxMsgNums",
        /// `invisibleTime`: ms the popped messages stay invisible to other pops.
        pub invisible_time: i64 = "invisibleTime",
        /// `pollTime`: ms the broker may hold the request when nothing is there.
        pub poll_time: i64 = "pollTime",
        /// `bornTime`: the client's wall clock at the request, ms.
        pub born_time: i64 = "bornTime",
        /// `initMode`: where a group without a position starts (0 = the queue's first message,
        /// 1 = its last).
        pub init_mode: i32 = "initMode",
        /// `expType`: `TAG` or `SQL92`.
        pub exp_type: Option<String> = "expType",
        /// `exp`: the filter expression.
        pub exp: Option<String> = "exp",
        /// `order`: orderly POP (a queue is blocked while its messages are out).
        pub order: Option<bool> = "order",
        /// `attemptId`: orderly POP; a retried pop with the same id gets the same messages
        /// back instead of waiting for their invisible time.
        pub attempt_id: Option<String> = "attemptId",
        /// `bname`: the broker the request is for.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `PopMessageResponseHeader`.
    #[derive(Default)]
    pub struct PopMessageResponseHeader {
        /// `popTime`: the broker's time of the pop, ms.
        pub pop_time: i64 = "popTime",
        /// `invisibleTime`: ms.
        pub invisible_time: i64 = "invisibleTime",
        /// `reviveQid`: the revive queue holding the checkpoint.
        pub revive_qid: i32 = "reviveQid",
        /// `restNum`: messages left behind the popped ones.
        pub rest_num: i64 = "restNum",
        /// `startOffsetInfo`: per queue, the offset the pop started at.
        pub start_offset_info: Option<String> = "startOffsetInfo",
        /// `msgOffsetInfo`: per queue, the offsets popped.
        pub msg_offset_info: Option<String> = "msgOffsetInfo",
        /// `orderCountInfo`: orderly POP, per queue (or message) how often it was popped.
        pub order_count_info: Option<String> = "orderCountInfo",
    }
}

command_header! {
    /// Java `AckMessageRequestHeader`.
    #[derive(Default)]
    pub struct AckMessageRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`: the topic the message was popped from (a POP retry topic for a retry).
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `extraInfo`: the message's receipt handle.
        pub extra_info: String = "extraInfo",
        /// `offset`: the message's queue offset.
        pub offset: i64 = "offset",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `ChangeInvisibleTimeRequestHeader`.
    #[derive(Default)]
    pub struct ChangeInvisibleTimeRequestHeader {
        /// `consumerGroup`.
        pub consumer_group: String = "consumerGroup",
        /// `topic`: as for an ack.
        pub topic: String = "topic",
        /// `queueId`.
        pub queue_id: i32 = "queueId",
        /// `extraInfo`: the message's current receipt handle.
        pub extra_info: String = "extraInfo",
        /// `offset`: the message's queue offset.
        pub offset: i64 = "offset",
        /// `invisibleTime`: ms from now until the message is visible again.
        pub invisible_time: i64 = "invisibleTime",
        /// `bname`.
        pub broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Java `ChangeInvisibleTimeResponseHeader`: the new checkpoint (the old receipt handle is
    /// no longer valid).
    #[derive(Default)]
    pub struct ChangeInvisibleTimeResponseHeader {
        /// `popTime`.
        pub pop_time: i64 = "popTime",
        /// `invisibleTime`.
        pub invisible_time: i64 = "invisibleTime",
        /// `reviveQid`.
        pub revive_qid: i32 = "reviveQid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{assert_round_trip, CommandHeader};

    #[test]
    fn pop_request_round_trip() {
        let h = PopMessageRequestHeader {
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: -1,
            max_msg_nums: 32,
            invisible_time: 60_000,
            poll_time: 15_000,
            born_time: 1_700_000_000_000,
            init_mode: 0,
            exp_type: Some("TAG".into()),
            exp: Some("*".into()),
            order: Some(true),
            attempt_id: Some("a-1".into()),
            broker_name: Some("broker-a".into()),
        };
        let fields = assert_round_trip(&h);
        assert_eq!(fields["queueId"], "-1");
        assert_eq!(fields["order"], "true");
        assert_eq!(fields.len(), 13);
        assert_eq!(
            assert_round_trip(&PopMessageRequestHeader::default()).len(),
            8
        );
    }

    #[test]
    fn ack_and_change_round_trip() {
        let ack = AckMessageRequestHeader {
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 2,
            extra_info: "0 1 60000 0 0 broker-a 2 7".into(),
            offset: 7,
            broker_name: None,
        };
        assert_eq!(assert_round_trip(&ack)["extraInfo"], ack.extra_info);
        let change = ChangeInvisibleTimeRequestHeader {
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 2,
            extra_info: ack.extra_info.clone(),
            offset: 7,
            invisible_time: 10_000,
            broker_name: Some("broker-a".into()),
        };
        assert_eq!(assert_round_trip(&change)["invisibleTime"], "10000");
        let fields = crate::header::fields_of(&[
            ("popTime", "1700000000000"),
            ("invisibleTime", "10000"),
            ("reviveQid", "3"),
        ]);
        let r = ChangeInvisibleTimeResponseHeader::read_fields(&fields).unwrap();
        assert_eq!(r.revive_qid, 3);
    }
}
