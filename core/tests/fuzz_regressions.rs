//! Inputs found by the fuzz targets (`fuzz/`), kept as plain tests so the regular suite holds
//! them: each asserts the typed error or the bounded result the fixed code gives.

use rocketwire_core::body::{TopicRouteData, ROUTE_QUEUES_LIMIT};
use rocketwire_core::codec::{decode_header, encode_header, SerializeType};

/// `route_json`: a route of many queue datas, each claiming the most queues a count may
/// have, once expanded to billions of queues in its views.
#[test]
fn route_views_stay_bounded_over_many_queue_datas() {
    let queue_datas: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"brokerName":"b{i}","readQueueNums":2147483647,"writeQueueNums":2147483647,"perm":6,"topicSysFlag":0}}"#
            )
        })
        .collect();
    let broker_datas: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"cluster":"c","brokerName":"b{i}","brokerAddrs":{{"0":"127.0.0.1:{i}"}}}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"queueDatas":[{}],"brokerDatas":[{}]}}"#,
        queue_datas.join(","),
        broker_datas.join(",")
    );
    let route = TopicRouteData::decode(body.as_bytes()).expect("a well-formed route");
    assert_eq!(route.queue_datas.len(), 64);
    assert_eq!(route.publish_queues("T").len(), ROUTE_QUEUES_LIMIT);
    assert_eq!(route.subscribe_queues("T").len(), ROUTE_QUEUES_LIMIT);
}

/// `json_header` and `frame_decoder`: a JSON header whose ext fields have an empty key or an
/// empty value. JSON keeps such a field; written as a ROCKETMQ binary header it reads back
/// without it, as Java reads a zero-length key or value as `null`, and the rest survives.
#[test]
fn empty_ext_key_or_value_is_absent_after_a_binary_round_trip() {
    let binary_round_trip = |json: &[u8]| {
        let cmd = decode_header(SerializeType::Json, json).expect("a JSON header");
        let binary = encode_header(&cmd, SerializeType::RocketMq).expect("encodable as binary");
        let back = decode_header(SerializeType::RocketMq, &binary).expect("reads back");
        (cmd, back)
    };

    // As minimised: an empty key.
    let (cmd, back) = binary_round_trip(br#"{"code":0,"extFields":{"":"}"}}"#);
    assert_eq!(cmd.field(""), Some("}"));
    assert!(back.ext_fields.is_empty());
    assert_eq!(back.code, 0);

    // An empty value next to a field that survives.
    let (cmd, back) =
        binary_round_trip(br#"{"code":310,"extFields":{"a":"producer","e":""},"remark":"r"}"#);
    assert_eq!(cmd.field("e"), Some(""));
    assert_eq!(back.field("e"), None);
    assert_eq!(back.field("a"), Some("producer"));
    assert_eq!(back.ext_fields.len(), 1);
    assert_eq!((back.code, back.remark.as_deref()), (310, Some("r")));
}

// ---- client_core_ops --------------------------------------------------------------------
//
// Found by the `client_core_ops` target (operation sequences against one `ClientCore`),
// restated here with the core's API: a tiny peer that opens every connection at once, decodes
// what the core writes and answers requests by code.

mod ops {
    #![allow(clippy::disallowed_methods)] // one real `Instant` is the origin of virtual time

    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use rocketwire_core::body::{MessageModel, MessageQueue, ResetOffsetBody};
    use rocketwire_core::codec::{encode_to_vec, FrameDecoder, RemotingCommand, SerializeType};
    use rocketwire_core::consumer::{decode_offset_file, ConsumerConfig, Subscription};
    use rocketwire_core::message::{encode_stored_into, Message, MessageExt};
    use rocketwire_core::producer::{ProducerConfig, QueueSelector};
    use rocketwire_core::time::ManualWallClock;
    use rocketwire_core::{
        ClientConfig, ClientCore, ConnId, ConsumeOutcome, ConsumerId, DeliveryId, Event, Input,
        Misuse, Output, ResponseCode,
    };

    const BROKER: &str = "127.0.0.1:10911";
    const ROUTE: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"c"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":1,"topicSysFlag":0,"writeQueueNums":1}]}"#;

    /// A core whose connections open at once; requests it wrote wait in `pending`.
    struct Peer {
        core: ClientCore,
        now: Instant,
        conns: Vec<(ConnId, String)>,
        pending: Vec<(ConnId, RemotingCommand)>,
        events: Vec<Event>,
        /// The last drain ended with `Output::Idle`.
        idle: bool,
    }

    impl Peer {
        fn new() -> Self {
            let now = Instant::now();
            let config = ClientConfig::new(vec!["127.0.0.1:9876".to_string()]);
            let wall = Box::new(ManualWallClock::new(1_700_000_000_000));
            Self {
                core: ClientCore::new(config, wall, 7, now),
                now,
                conns: Vec::new(),
                pending: Vec::new(),
                events: Vec::new(),
                idle: false,
            }
        }

        fn drain(&mut self) {
            loop {
                let mut opened = Vec::new();
                for _ in 0..10_000 {
                    match self.core.poll_output(self.now) {
                        Output::Connect { conn, addr } => {
                            opened.push(conn);
                            self.conns.push((conn, addr));
                        }
                        Output::Transmit { conn, head, body } => {
                            let mut buf = BytesMut::new();
                            buf.extend_from_slice(&head);
                            buf.extend_from_slice(&body);
                            let cmd = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
                            if !cmd.is_response() && !cmd.is_oneway() {
                                self.pending.push((conn, cmd));
                            }
                        }
                        Output::Close { .. } => {}
                        Output::Event(e) => self.events.push(e),
                        Output::Timeout(_) => {
                            self.idle = false;
                            break;
                        }
                        Output::Idle => {
                            self.idle = true;
                            break;
                        }
                    }
                }
                if opened.is_empty() {
                    return;
                }
                for conn in opened {
                    self.core.handle_input(self.now, Input::Connected(conn));
                }
            }
        }

        /// Answers every pending request of `code` with `answer(request)`.
        fn answer(&mut self, code: i32, answer: impl Fn(&RemotingCommand) -> RemotingCommand) {
            let (mine, rest) = std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|(_, r)| r.code == code);
            self.pending = rest;
            for (conn, request) in mine {
                let bytes = encode_to_vec(&answer(&request), SerializeType::Json).unwrap();
                self.core
                    .handle_input(self.now, Input::Received(conn, Bytes::from(bytes)));
                self.drain();
            }
        }

        fn advance(&mut self, by: Duration) {
            self.now += by;
            self.core.handle_input(self.now, Input::Timeout);
            self.drain();
        }
    }

    fn ok(request: &RemotingCommand) -> RemotingCommand {
        RemotingCommand::response_to(request, ResponseCode::Success)
    }

    fn route(request: &RemotingCommand) -> RemotingCommand {
        ok(request).with_body(ROUTE)
    }

    /// A lite consumer of `T` holding `T/broker-a/0`, its route known.
    fn lite_consumer(p: &mut Peer) -> ConsumerId {
        let config = ConsumerConfig::builder("g").build().unwrap();
        let sub = Subscription::tag("T", "*").unwrap();
        let c = p
            .core
            .create_lite_consumer(p.now, config, vec![sub], None)
            .unwrap();
        let queue = MessageQueue::new("T", "broker-a", 0);
        p.core.assign(p.now, c, vec![queue]).unwrap();
        p.drain();
        p.answer(105, route);
        c
    }

    /// A command that sends a request after `close` fails that request at once inside the
    /// core; its result must still come out of the drain that follows. It waited in the
    /// remoting queue for the next input instead: `poll_output` does not move such failures
    /// into events, so the drain ended with `Output::Idle` and the op never got its result
    /// (`close_producer` here; `commit_offsets`, `close_consumer` and the `ack` that lets a
    /// closing consumer finish alike).
    #[test]
    fn commands_after_close_get_their_result() {
        let mut p = Peer::new();
        let producer =
            p.core
                .create_producer(p.now, ProducerConfig::default(), QueueSelector::RoundRobin);
        let _ = p.core.query_route(p.now, "T");
        p.drain();
        // The route makes the broker known: the producer's close will ask it to unregister.
        p.answer(105, route);
        p.core.close(p.now);
        p.drain();
        let op = p
            .core
            .close_producer(p.now, producer)
            .expect("a live producer");
        p.drain();
        assert!(
            p.events
                .iter()
                .any(|e| matches!(e, Event::ProducerClosed { op: o, .. } if *o == op)),
            "close_producer after close ended the drain without its result (idle: {})",
            p.idle
        );
    }

    /// The crate doc promises `Output::Idle` after `close`. A consumer not closed first kept
    /// its timers: every `delay_after_error` it asked the shut-down remoting layer for its
    /// start offset (or a pull), failed at once, and armed the timer again, forever.
    #[test]
    fn no_timers_after_close() {
        let mut p = Peer::new();
        lite_consumer(&mut p);
        p.core.close(p.now);
        p.drain();
        for _ in 0..5 {
            p.advance(Duration::from_secs(60));
        }
        assert!(p.idle, "timers still armed five minutes after close");
    }

    /// A lite consumer holding `T/broker-a/0` with one message of it out as a delivery.
    fn one_delivery(p: &mut Peer) -> (ConsumerId, MessageQueue, DeliveryId) {
        let c = lite_consumer(p);
        p.answer(14, |r| ok(r).with_field("offset", "0"));
        p.answer(11, |r| {
            let mut m = MessageExt::from_message(Message::new("T", &b"body"[..]));
            m.queue_offset = 0;
            m.store_host = BROKER.parse().unwrap();
            let mut body = BytesMut::new();
            encode_stored_into(&m, &mut body).unwrap();
            ok(r)
                .with_field("nextBeginOffset", "1")
                .with_field("minOffset", "0")
                .with_field("maxOffset", "1")
                .with_field("suggestWhichBrokerId", "0")
                .with_body(body.freeze())
        });
        let (queue, delivery) = p
            .events
            .iter()
            .find_map(|e| match e {
                Event::Deliver {
                    delivery, queue, ..
                } => Some((queue.clone(), *delivery)),
                _ => None,
            })
            .expect("a delivery");
        (c, queue, delivery)
    }

    /// Messages whose send-back failed are consumed again locally after a pause; the instant
    /// counts among the core's deadlines. On a paused queue (or of a closing consumer, or
    /// one with 64 deliveries out) nothing took them when it came, so the deadline stayed in
    /// the past and `poll_output` ran `handle_timeout` over and over without returning.
    #[test]
    fn due_retry_on_a_paused_queue_does_not_spin() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut p = Peer::new();
            let (c, queue, delivery) = one_delivery(&mut p);
            p.core.pause(c, &[queue]).unwrap();
            let later = ConsumeOutcome::ReconsumeLater { delay_level: 0 };
            p.core.ack(p.now, delivery, later).unwrap();
            p.drain();
            p.answer(36, |r| {
                RemotingCommand::response_to(r, ResponseCode::SystemError).with_remark("no")
            });
            // The retry comes due 5 s later (`delay_after_send_back_failure`).
            p.advance(Duration::from_secs(6));
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("poll_output returned");
    }

    /// `seek` took any offset, and a negative one went into the committed offsets: a
    /// broadcasting consumer then handed out an offset file (`Event::PersistLocalOffsets`)
    /// that `decode_offset_file`, and so `create_consumer` on the next start, refuses with
    /// `NegativeOffset` (a clustering one sends the broker UPDATE_CONSUMER_OFFSET with it).
    /// Either the seek is refused or what it leads to can be read back.
    #[test]
    fn negative_seek_does_not_persist_an_unreadable_offset_file() {
        let mut p = Peer::new();
        let config = ConsumerConfig::builder("g")
            .message_model(MessageModel::Broadcasting)
            .build()
            .unwrap();
        let sub = Subscription::tag("T", "*").unwrap();
        let c = p
            .core
            .create_lite_consumer(p.now, config, vec![sub], None)
            .unwrap();
        let queue = MessageQueue::new("T", "broker-a", 0);
        p.core.assign(p.now, c, vec![queue.clone()]).unwrap();
        p.drain();
        p.answer(105, route);
        if p.core.seek(p.now, c, &queue, i64::MIN).is_err() {
            return;
        }
        p.core.commit_offsets(p.now, c).unwrap();
        p.drain();
        let content = p
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::PersistLocalOffsets { content, .. } => Some(content.clone()),
                _ => None,
            })
            .expect("broadcasting offsets handed out");
        decode_offset_file(&content).expect("the core reads back the file it wrote");
    }

    /// The same from a broker: a PULL_OFFSET_MOVED whose next offset is negative became the
    /// queue's offset, and the next commit sent it back (UPDATE_CONSUMER_OFFSET with a negative
    /// `commitOffset`; a broadcasting consumer's offset file could no longer be read).
    #[test]
    fn negative_offset_from_a_broker_is_not_committed() {
        let mut p = Peer::new();
        let c = lite_consumer(&mut p);
        p.answer(14, |r| ok(r).with_field("offset", "3"));
        p.answer(11, |r| {
            RemotingCommand::response_to(r, ResponseCode::PullOffsetMoved)
                .with_field("nextBeginOffset", "-5")
                .with_field("minOffset", "0")
                .with_field("maxOffset", "0")
                .with_field("suggestWhichBrokerId", "0")
        });
        p.core.commit_offsets(p.now, c).unwrap();
        p.drain();
        let committed: Vec<i64> = p
            .pending
            .iter()
            .filter(|(_, r)| r.code == 15)
            .filter_map(|(_, r)| r.field("commitOffset")?.parse().ok())
            .collect();
        assert!(committed.iter().all(|o| *o >= 0), "committed {committed:?}");
    }

    /// The same from a broker's RESET_CONSUMER_CLIENT_OFFSET: its offsets were applied as
    /// given, so a negative one became the queue's offset and the next commit sent it
    /// (UPDATE_CONSUMER_OFFSET with a negative `commitOffset`; a broadcasting consumer handed
    /// out an offset file `decode_offset_file` refuses).
    #[test]
    fn negative_offset_reset_by_a_broker_is_not_committed() {
        let mut p = Peer::new();
        let c = lite_consumer(&mut p);
        p.answer(14, |r| ok(r).with_field("offset", "3"));
        let (conn, _) = p
            .pending
            .iter()
            .find(|(_, r)| r.code == 11)
            .expect("a pull")
            .clone();
        let queue = MessageQueue::new("T", "broker-a", 0);
        let body = ResetOffsetBody {
            offset_table: [(queue, -7)].into_iter().collect(),
        };
        let mut reset = RemotingCommand::request_code(220)
            .with_field("group", "g")
            .with_field("topic", "T")
            .with_field("timestamp", "0")
            .with_body(body.encode());
        reset.opaque = 1000;
        let bytes = encode_to_vec(&reset, SerializeType::Json).unwrap();
        p.core
            .handle_input(p.now, Input::Received(conn, Bytes::from(bytes)));
        p.drain();
        p.core.commit_offsets(p.now, c).unwrap();
        p.drain();
        let committed: Vec<i64> = p
            .pending
            .iter()
            .filter(|(_, r)| r.code == 15)
            .filter_map(|(_, r)| r.field("commitOffset")?.parse().ok())
            .collect();
        assert!(committed.iter().all(|o| *o >= 0), "committed {committed:?}");
    }

    /// `ack` refuses a delivery already acked with `Misuse::UnknownDelivery`, but while the
    /// messages of an ack with `ReconsumeLater` were being sent back the core kept the delivery
    /// among those out: a second ack was accepted and settled it again (the consumer's count
    /// of deliveries out went down twice; a second `ReconsumeLater` sent the messages back
    /// twice). A delivery given up at the consume timeout is sent back the same way.
    #[test]
    fn second_ack_during_send_back_is_refused() {
        let mut p = Peer::new();
        let (_, _, delivery) = one_delivery(&mut p);
        let later = ConsumeOutcome::ReconsumeLater { delay_level: 0 };
        p.core.ack(p.now, delivery, later).unwrap();
        p.drain();
        assert!(
            p.pending.iter().any(|(_, r)| r.code == 36),
            "sent back (CONSUMER_SEND_MSG_BACK)"
        );
        assert_eq!(
            p.core.ack(p.now, delivery, ConsumeOutcome::Success),
            Err(Misuse::UnknownDelivery(delivery))
        );
    }
}

/// `bodies`: running info whose `subscriptionSet` is out of `TreeSet` order (and repeats a
/// key) decodes as Java reads it, ordered by `topic@subString` with one entry per key, so
/// it re-encodes and decodes to itself.
#[test]
fn running_info_subscriptions_decode_in_tree_set_order() {
    use rocketwire_core::body::ConsumerRunningInfo;
    let body = br#"{"subscriptionSet":[
        {"topic":"","subString":"","tagsSet":[]},
        {"topic":":T","subString":"","tagsSet":["TagA"]},
        {"topic":"","subString":"","tagsSet":["dup"]}]}"#;
    let info = ConsumerRunningInfo::decode(body).expect("decodes");
    let topics: Vec<&str> = info
        .subscription_set
        .iter()
        .map(|s| s.topic.as_str())
        .collect();
    assert_eq!(
        topics,
        [":T", ""],
        "':T@' sorts before '@'; the repeated key is dropped"
    );
    assert_eq!(info.subscription_set[1].tags_set, Vec::<String>::new());
    let back = ConsumerRunningInfo::decode(&info.encode()).expect("re-decodes");
    assert_eq!(back, info);
}
