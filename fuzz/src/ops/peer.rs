//! The peer side: answers built from what the core wrote, broker requests, raw bytes.

use super::*;

/// The queues of the route templates: two topics, two brokers, two queues each.
pub fn queues() -> Vec<MessageQueue> {
    let mut out = Vec::new();
    for topic in &SUB_TOPICS[..2] {
        for broker in ["broker-a", "broker-b"] {
            for id in 0..2 {
                out.push(MessageQueue::new(*topic, broker, id));
            }
        }
    }
    out
}

pub(super) fn bogus_queue() -> MessageQueue {
    MessageQueue::new("NoSuchTopic", "broker-z", 9)
}

/// A route body: `template` picks one of four shapes (one broker with a slave; two brokers; a
/// second broker with no master; a read-only queue set).
pub fn route_body(template: u8) -> String {
    let a = format!(
        r#"{{"brokerAddrs":{{"0":"{BROKER_A}","1":"{BROKER_A_SLAVE}"}},"brokerName":"broker-a","cluster":"c"}}"#
    );
    let b =
        format!(r#"{{"brokerAddrs":{{"0":"{BROKER_B}"}},"brokerName":"broker-b","cluster":"c"}}"#);
    let b_slave_only = format!(
        r#"{{"brokerAddrs":{{"1":"{BROKER_B_SLAVE}"}},"brokerName":"broker-b","cluster":"c"}}"#
    );
    let qd = |name: &str, perm: i32, w: i32| {
        format!(
            r#"{{"brokerName":"{name}","perm":{perm},"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":{w}}}"#
        )
    };
    let (brokers, queue_datas) = match template % 4 {
        0 => (a, qd("broker-a", 6, 2)),
        1 => (
            format!("{a},{b}"),
            format!("{},{}", qd("broker-a", 6, 2), qd("broker-b", 6, 2)),
        ),
        2 => (
            format!("{a},{b_slave_only}"),
            format!("{},{}", qd("broker-a", 6, 2), qd("broker-b", 6, 2)),
        ),
        _ => (a, qd("broker-a", 4, 0)),
    };
    format!(
        r#"{{"brokerDatas":[{brokers}],"filterServerTable":{{}},"queueDatas":[{queue_datas}]}}"#
    )
}

impl OpsHarness {
    // ---- peer ------------------------------------------------------------------------------

    pub(super) fn respond(&mut self, c: usize, r: usize, variant: u8, cut: u8) {
        let request = self.conns[c].requests.remove(r);
        self.conns[c].answered.push(request.opaque);
        let response = self.response_for(&request, variant);
        let ser = if variant & 0x10 != 0 {
            SerializeType::RocketMq
        } else {
            SerializeType::Json
        };
        let bytes = encode_to_vec(&response, ser)
            .or_else(|_| encode_to_vec(&response, SerializeType::Json))
            .expect("encodable");
        self.seen.responses_fed += 1;
        let id = self.conns[c].id;
        self.feed(id, &bytes, cut);
    }

    /// A response to `request` built from what the core wrote; `variant` picks success or one
    /// of the failures that request can meet.
    pub(super) fn response_for(
        &mut self,
        request: &RemotingCommand,
        variant: u8,
    ) -> RemotingCommand {
        let code = |c: ResponseCode| RemotingCommand::response_to(request, c);
        let error = || code(ResponseCode::SystemError).with_remark("fuzz says no");
        match request.code {
            // GET_ROUTEINFO_BY_TOPIC
            105 => match variant % 8 {
                0..=3 => code(ResponseCode::Success).with_body(route_body(variant)),
                4 => code(ResponseCode::TopicNotExist),
                5 => error(),
                6 => code(ResponseCode::Success).with_body(&b"{\"brokerDatas\":["[..]),
                _ => code(ResponseCode::Success),
            },
            // SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE
            10 | 310 | 320 => {
                let queue_id = request
                    .field("queueId")
                    .or_else(|| request.field("e"))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(0);
                self.store_offset += 1;
                let store = BROKER_A.parse::<SocketAddr>().expect("address");
                let header = SendMessageResponseHeader {
                    msg_id: offset_message_id(store, self.store_offset * 100),
                    queue_id,
                    queue_offset: self.store_offset,
                    transaction_id: (variant & 0x20 != 0)
                        .then(|| format!("tx-{}", self.store_offset)),
                    batch_uniq_id: None,
                    recall_handle: None,
                    msg_region: Some("DefaultRegion".into()),
                    trace_on: Some(false),
                };
                match variant % 8 {
                    0..=2 => code(ResponseCode::Success).with_ext_fields(header.to_fields()),
                    3 => code(ResponseCode::FlushDiskTimeout).with_ext_fields(header.to_fields()),
                    4 => code(ResponseCode::SystemBusy),
                    5 => code(ResponseCode::TopicNotExist),
                    6 => code(ResponseCode::Success),
                    _ => code(ResponseCode::ServiceNotAvailable),
                }
            }
            // PULL_MESSAGE
            11 => self.pull_response(request, variant),
            // QUERY_CONSUMER_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_MAX_OFFSET
            14 | 29 | 30 => {
                let offset = OffsetResponseHeader {
                    offset: self.signed(variant),
                };
                match variant % 4 {
                    0 | 1 => code(ResponseCode::Success).with_ext_fields(offset.to_fields()),
                    2 if request.code == 14 => code(ResponseCode::QueryNotFound),
                    2 => error(),
                    _ => code(ResponseCode::Success),
                }
            }
            // GET_CONSUMER_LIST_BY_GROUP
            38 => {
                let me = self.core.client_id().to_string();
                let ids = match variant % 6 {
                    0 | 1 => vec![me],
                    2 => vec![me, "10.0.0.9@peer".to_string()],
                    3 => vec!["10.0.0.9@peer".to_string()],
                    4 => return error(),
                    _ => return code(ResponseCode::Success),
                };
                let body = GetConsumerListByGroupResponseBody {
                    consumer_id_list: ids,
                };
                code(ResponseCode::Success).with_body(body.encode())
            }
            // LOCK_BATCH_MQ
            41 => {
                let asked = LockBatchRequestBody::decode(&request.body)
                    .map(|b| b.mq_set)
                    .unwrap_or_default();
                let body = match variant % 4 {
                    0 | 1 => LockBatchResponseBody {
                        lock_ok_mq_set: asked,
                    },
                    2 => LockBatchResponseBody::default(),
                    _ => return error(),
                };
                code(ResponseCode::Success).with_body(body.encode())
            }
            _ => match variant % 4 {
                3 => error(),
                _ => code(ResponseCode::Success),
            },
        }
    }

    pub(super) fn pull_response(
        &mut self,
        request: &RemotingCommand,
        variant: u8,
    ) -> RemotingCommand {
        let topic = request.field("topic").unwrap_or_default().to_string();
        let queue_id: i32 = request
            .field("queueId")
            .and_then(|q| q.parse().ok())
            .unwrap_or(0);
        let offset: i64 = request
            .field("queueOffset")
            .and_then(|q| q.parse().ok())
            .unwrap_or(0);
        let found = i64::from(1 + (variant >> 3) % 4);
        let (code, next) = match variant % 8 {
            0..=2 | 7 => (ResponseCode::Success, offset.saturating_add(found)),
            3 => (ResponseCode::PullNotFound, offset),
            4 => (ResponseCode::PullRetryImmediately, offset),
            5 => (ResponseCode::PullOffsetMoved, self.signed(variant) * 3),
            _ => {
                return RemotingCommand::response_to(request, ResponseCode::FlowControl);
            }
        };
        let header = PullMessageResponseHeader {
            suggest_which_broker_id: i64::from(variant >> 5 & 1),
            next_begin_offset: next,
            min_offset: 0,
            max_offset: next,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        };
        let mut body = BytesMut::new();
        if variant % 8 == 7 {
            body.extend_from_slice(&[0xFF; 12]);
        } else if code == ResponseCode::Success {
            for i in 0..found {
                let mut m = Message::new(topic.clone(), Bytes::from(vec![b'm'; 8]));
                let _ = m.set_tags(if i % 2 == 0 { "TagA" } else { "TagB" });
                let _ = m.set_property(keys::UNIQ_KEY, format!("0A0000010000{offset:016X}{i:04X}"));
                if topic.starts_with("%RETRY%") {
                    let _ = m.set_property(keys::RETRY_TOPIC, "FuzzTopic");
                }
                let mut ext = MessageExt::from_message(m);
                ext.queue_id = queue_id;
                ext.queue_offset = offset.saturating_add(i);
                ext.commit_log_offset = ext.queue_offset.saturating_add(1000);
                ext.reconsume_times = if variant & 0x40 != 0 { 16 } else { 0 };
                ext.born_timestamp = self.wall_base;
                ext.store_timestamp = self.wall_base;
                ext.store_host = BROKER_A.parse().expect("address");
                ext.born_host = "10.0.0.2:50000".parse().expect("address");
                ext.refresh_offset_msg_id();
                encode_stored_into(&ext, &mut body).expect("encodable");
            }
        }
        RemotingCommand::response_to(request, code)
            .with_ext_fields(header.to_fields())
            .with_body(body.freeze())
    }

    pub(super) fn peer_request(&mut self, conn: ConnId, kind: u8, arg: u8, cut: u8) {
        let consumer_group = CONSUMER_GROUPS[usize::from(arg) % 3];
        let producer_group = PRODUCER_GROUPS[usize::from(arg) % 3];
        let mut oneway = false;
        let mut cmd = match kind % 8 {
            0 => {
                oneway = true;
                RemotingCommand::request_code(40).with_field("consumerGroup", consumer_group)
            }
            1 => {
                oneway = true;
                let mut m = Message::new("FuzzTopic", Bytes::from_static(b"half"));
                let _ = m.set_property(keys::PRODUCER_GROUP, producer_group);
                let _ = m.set_property(keys::UNIQ_KEY, "0A000001000000000000000000000001");
                let _ = m.set_property(keys::TRANSACTION_PREPARED, "true");
                let mut ext = MessageExt::from_message(m);
                ext.store_host = BROKER_A.parse().expect("address");
                ext.commit_log_offset = 4242;
                ext.refresh_offset_msg_id();
                let mut body = BytesMut::new();
                encode_stored_into(&ext, &mut body).expect("encodable");
                let body = if arg & 0x40 != 0 {
                    Bytes::from_static(b"not a message")
                } else {
                    body.freeze()
                };
                RemotingCommand::request_code(39)
                    .with_field("tranStateTableOffset", "7")
                    .with_field("commitLogOffset", "4242")
                    .with_field("msgId", ext.offset_msg_id.clone())
                    .with_field("transactionId", "tx-check")
                    .with_body(body)
            }
            2 => RemotingCommand::request_code(307)
                .with_field("consumerGroup", consumer_group)
                .with_field("clientId", self.core.client_id().to_string())
                .with_field("jstackEnable", "false"),
            3 => RemotingCommand::request_code(221)
                .with_field("group", consumer_group)
                .with_field("topic", SUB_TOPICS[usize::from(arg >> 2) % 3]),
            4 => {
                let offset = self.signed(arg);
                let table: BTreeMap<MessageQueue, i64> =
                    queues().into_iter().map(|q| (q, offset)).collect();
                let body = if arg & 1 != 0 {
                    b"{".to_vec()
                } else {
                    ResetOffsetBody {
                        offset_table: table,
                    }
                    .encode()
                };
                RemotingCommand::request_code(220)
                    .with_field("group", consumer_group)
                    .with_field("topic", "FuzzTopic")
                    .with_field("timestamp", "0")
                    .with_field("isForce", "true")
                    .with_body(body)
            }
            5 => {
                // A stored message to consume directly, or a body that is not one.
                let mut ext =
                    MessageExt::from_message(Message::new("FuzzTopic", Bytes::from_static(b"d")));
                ext.store_host = BROKER_A.parse().expect("address");
                ext.refresh_offset_msg_id();
                let mut body = BytesMut::new();
                encode_stored_into(&ext, &mut body).expect("encodable");
                let body = if arg & 0x40 != 0 {
                    Bytes::from_static(b"not a message")
                } else {
                    body.freeze()
                };
                RemotingCommand::request_code(309)
                    .with_field("consumerGroup", consumer_group)
                    .with_field("clientId", self.core.client_id().to_string())
                    .with_field("msgId", ext.offset_msg_id.clone())
                    .with_body(body)
            }
            6 => RemotingCommand::request_code(9999 + i32::from(arg)).with_field("x", "y"),
            _ => RemotingCommand::request_code(40).with_field("consumerGroup", "cg-none"),
        };
        if arg & 0x20 != 0 {
            oneway = !oneway;
        }
        if oneway {
            cmd = cmd.oneway();
        }
        let opaque = match self.conn_index.get(&conn) {
            Some(&c) => {
                let conn = &mut self.conns[c];
                conn.next_peer_opaque += 1;
                conn.next_peer_opaque
            }
            None => 77,
        };
        cmd.opaque = opaque;
        let ser = if kind & 0x80 != 0 {
            SerializeType::RocketMq
        } else {
            SerializeType::Json
        };
        let bytes = encode_to_vec(&cmd, ser)
            .or_else(|_| encode_to_vec(&cmd, SerializeType::Json))
            .expect("encodable");
        self.feed(conn, &bytes, cut);
    }

    /// Feeds bytes the peer sent on `conn`, in one read or cut in two (`cut != 0`).
    pub(super) fn feed(&mut self, conn: ConnId, bytes: &[u8], cut: u8) {
        if bytes.len() >= 2 && cut != 0 {
            let at = 1 + usize::from(cut) % (bytes.len() - 1);
            self.feed_one(conn, &bytes[..at]);
            self.drain();
            self.feed_one(conn, &bytes[at..]);
        } else {
            self.feed_one(conn, bytes);
        }
    }

    pub(super) fn feed_one(&mut self, conn: ConnId, bytes: &[u8]) {
        self.log(|| format!("  Received {conn:?} {} bytes", bytes.len()));
        self.shadow_receive(conn, bytes);
        self.input(Input::Received(conn, Bytes::copy_from_slice(bytes)));
    }

    /// Decodes what the core is about to receive, to know which broker requests expect an
    /// answer.
    pub(super) fn shadow_receive(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(&c) = self.conn_index.get(&conn) else {
            return;
        };
        let max = self.max_frame_len;
        let conn = &mut self.conns[c];
        if conn.state == ConnState::Gone || conn.rx_poisoned {
            return;
        }
        conn.rx.extend_from_slice(bytes);
        let mut decoder = FrameDecoder::new(max);
        loop {
            match decoder.decode(&mut conn.rx) {
                Ok(Some(cmd)) => {
                    if !cmd.is_response() && !cmd.is_oneway() {
                        *conn.peer_requests.entry(cmd.opaque).or_default() += 1;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    conn.rx_poisoned = true;
                    return;
                }
            }
        }
    }
}

impl OpsHarness {
    /// An offset a peer sends: `(b >> 2) & 31`, negative when bit 7 is set (a broker that
    /// answers nonsense: such an offset must never be committed).
    fn signed(&mut self, b: u8) -> i64 {
        let n = i64::from((b >> 2) & 0x1F);
        if b & 0x80 != 0 {
            -1 - n
        } else {
            n
        }
    }
}
