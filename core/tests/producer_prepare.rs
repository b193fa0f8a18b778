//! Message preparation: `UNIQ_KEY`s, compression thresholds, `sysFlag`, retry-topic header
//! moves, batches and the per-attempt request, read back through the typed V2 header.

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use proptest::prelude::*;
use rocketwire_core::body::MessageQueue;
use rocketwire_core::header::SendMessageRequestHeader;
use rocketwire_core::message::{
    compress::decompress, decode_batch, keys, sysflag, CompressionType, Message, UniqIdGenerator,
};
use rocketwire_core::producer::{
    prepare_batch, prepare_message, split_batch, IdClock, ProducerConfig, SendError,
    ValidationError,
};

fn ids() -> UniqIdGenerator {
    UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 42, 7, 0)
}

fn clock(ids: &mut UniqIdGenerator) -> IdClock<'_> {
    IdClock {
        ids,
        wall_millis: 1_700_000_000_000,
        utc_offset_millis: 0,
    }
}

fn header(cmd: &rocketwire_core::RemotingCommand) -> SendMessageRequestHeader {
    SendMessageRequestHeader::read_fields_v2(&cmd.ext_fields).unwrap()
}

fn body(len: usize) -> Bytes {
    // Compressible but not constant.
    Bytes::from((0..len).map(|i| (i % 7) as u8).collect::<Vec<_>>())
}

#[test]
fn compression_threshold_is_inclusive_4096() {
    let config = ProducerConfig::default();
    let mut g = ids();
    let mut below = Message::new("T", body(4095));
    let p = prepare_message(&config, &mut below, &mut clock(&mut g)).unwrap();
    assert!(!p.compressed);
    assert_eq!(p.sys_flag, 0);
    assert_eq!(p.wire_body, below.body);

    let mut at = Message::new("T", body(4096));
    let p = prepare_message(&config, &mut at, &mut clock(&mut g)).unwrap();
    assert!(p.compressed);
    assert_eq!(p.sys_flag, 0x301, "Java: COMPRESSED | ZLIB type bits");
    assert!(p.wire_body.len() < 4096);
    assert_eq!(at.body, body(4096), "the user's message keeps its body");
    let back = decompress(CompressionType::Zlib, &p.wire_body, 1 << 20).unwrap();
    assert_eq!(back, body(4096));
    let q = MessageQueue::new("T", "b", 1);
    assert_eq!(p.command(&q, 5).body, p.wire_body);
    assert_eq!(header(&p.command(&q, 5)).sys_flag, 0x301);
}

#[test]
fn other_algorithms_set_their_type_bits() {
    for (kind, flag) in [
        (CompressionType::Lz4, 0x101),
        (CompressionType::Zstd, 0x201),
    ] {
        let config = ProducerConfig::builder("g")
            .compression(kind)
            .compress_over(10)
            .build()
            .unwrap();
        let mut m = Message::new("T", body(100));
        let p = prepare_message(&config, &mut m, &mut clock(&mut ids())).unwrap();
        assert_eq!(p.sys_flag, flag);
        assert_eq!(decompress(kind, &p.wire_body, 1 << 20).unwrap(), body(100));
    }
}

#[test]
fn batches_are_never_compressed() {
    let config = ProducerConfig::default();
    let mut msgs = vec![Message::new("T", body(8192)), Message::new("T", body(5000))];
    let p = prepare_batch(&config, &mut msgs, &mut clock(&mut ids())).unwrap();
    let cmd = p.command(&MessageQueue::new("T", "b", 0), 1);
    let h = header(&cmd);
    assert_eq!(h.sys_flag, 0);
    assert_eq!(h.batch, Some(true));
    let inner = decode_batch(&cmd.body, "T").unwrap();
    assert_eq!(inner[0].body, body(8192));
    assert_eq!(inner[1].body, body(5000));
}

#[test]
fn uniq_key_is_set_once_and_kept_across_prepares() {
    let config = ProducerConfig::default();
    let mut g = ids();
    let mut m = Message::new("T", "hello");
    let first = prepare_message(&config, &mut m, &mut clock(&mut g)).unwrap();
    assert_eq!(first.msg_id.len(), 32);
    assert_eq!(m.unique_key(), Some(first.msg_id.as_str()));
    let again = prepare_message(&config, &mut m, &mut clock(&mut g)).unwrap();
    assert_eq!(again.msg_id, first.msg_id);
    let props = header(&again.command(&MessageQueue::new("T", "b", 0), 1))
        .properties
        .unwrap();
    assert!(props.contains(&format!("UNIQ_KEY\u{1}{}\u{2}", first.msg_id)));
    // A user-chosen id is kept.
    let mut own = Message::new("T", "x");
    own.set_property(keys::UNIQ_KEY, "MINE").unwrap();
    let p = prepare_message(&config, &mut own, &mut clock(&mut g)).unwrap();
    assert_eq!(p.msg_id, "MINE");
}

#[test]
fn command_is_aimed_at_the_attempts_queue() {
    let config = ProducerConfig::builder("pg")
        .default_topic("TPL", 8)
        .build()
        .unwrap();
    let mut m = Message::new("T", "x");
    m.flag = 9;
    let p = prepare_message(&config, &mut m, &mut clock(&mut ids())).unwrap();
    let cmd = p.command(&MessageQueue::new("T", "broker-b", 3), 1_234);
    assert_eq!(cmd.code, 310);
    let h = header(&cmd);
    assert_eq!(h.producer_group, "pg");
    assert_eq!(h.topic, "T");
    assert_eq!((h.queue_id, h.born_timestamp, h.flag), (3, 1_234, 9));
    assert_eq!(h.broker_name.as_deref(), Some("broker-b"));
    assert_eq!(
        (h.default_topic.as_str(), h.default_topic_queue_nums),
        ("TPL", 8)
    );
    assert_eq!(h.reconsume_times, Some(0));
    assert_eq!(h.max_reconsume_times, None);
    let other = p.command(&MessageQueue::new("T", "broker-a", 0), 2_000);
    assert_eq!(header(&other).broker_name.as_deref(), Some("broker-a"));
    assert_eq!(other.body, cmd.body);
}

#[test]
fn retry_topic_moves_reconsume_properties_into_the_header() {
    let config = ProducerConfig::default();
    let mut m = Message::new("%RETRY%cg", "x");
    m.set_property(keys::RECONSUME_TIME, "3").unwrap();
    m.set_property(keys::MAX_RECONSUME_TIMES, "16").unwrap();
    let p = prepare_message(&config, &mut m, &mut clock(&mut ids())).unwrap();
    let h = header(&p.command(&MessageQueue::new("%RETRY%cg", "b", 0), 1));
    assert_eq!(
        (h.reconsume_times, h.max_reconsume_times),
        (Some(3), Some(16))
    );
    let props = h.properties.unwrap();
    assert!(!props.contains("RECONSUME_TIME"), "{props:?}");
    // The user's message is untouched.
    assert_eq!(m.property(keys::RECONSUME_TIME), Some("3"));

    // Outside retry topics the properties stay where they are.
    let mut plain = Message::new("T", "x");
    plain.set_property(keys::RECONSUME_TIME, "3").unwrap();
    let p = prepare_message(&config, &mut plain, &mut clock(&mut ids())).unwrap();
    let h = header(&p.command(&MessageQueue::new("T", "b", 0), 1));
    assert_eq!(h.reconsume_times, Some(0));
    assert!(h.properties.unwrap().contains("RECONSUME_TIME"));

    let mut bad = Message::new("%RETRY%cg", "x");
    bad.set_property(keys::RECONSUME_TIME, "x").unwrap();
    assert!(matches!(
        prepare_message(&config, &mut bad, &mut clock(&mut ids())),
        Err(SendError::Message(_))
    ));
}

#[test]
fn transactional_half_messages_get_the_prepared_bit() {
    let config = ProducerConfig::builder("g")
        .compress_over(4)
        .build()
        .unwrap();
    let mut m = Message::new("T", body(64));
    m.set_property(keys::TRANSACTION_PREPARED, "TRUE").unwrap();
    let p = prepare_message(&config, &mut m, &mut clock(&mut ids())).unwrap();
    assert_eq!(p.sys_flag, 0x301 | sysflag::TRANSACTION_PREPARED_TYPE);
    m.set_property(keys::TRANSACTION_PREPARED, "false").unwrap();
    let p = prepare_message(&config, &mut m, &mut clock(&mut ids())).unwrap();
    assert_eq!(p.sys_flag & sysflag::TRANSACTION_MASK, 0);
}

#[test]
fn validation_errors_are_typed() {
    let config = ProducerConfig::builder("g")
        .max_message_size(10)
        .build()
        .unwrap();
    let mut g = ids();
    let cases = [
        (Message::new("T", ""), ValidationError::EmptyBody),
        (
            Message::new("T", body(11)),
            ValidationError::BodyTooLarge { len: 11, max: 10 },
        ),
        (
            Message::new("SCHEDULE_TOPIC_XXXX", "x"),
            ValidationError::ReservedTopic("SCHEDULE_TOPIC_XXXX".into()),
        ),
        (
            Message::new("a b", "x"),
            ValidationError::TopicIllegalChars("a b".into()),
        ),
    ];
    for (mut m, expected) in cases {
        assert_eq!(
            prepare_message(&config, &mut m, &mut clock(&mut g)),
            Err(SendError::Validation(expected))
        );
        assert_eq!(m.unique_key(), None, "no id is spent on a refused message");
    }
    let mut huge_props = Message::new("T", "x");
    huge_props.set_property("big", "v".repeat(40_000)).unwrap();
    assert!(matches!(
        prepare_message(&config, &mut huge_props, &mut clock(&mut g)),
        Err(SendError::Message(_))
    ));
}

#[test]
fn batch_ids_follow_java() {
    let config = ProducerConfig::default();
    let mut g = ids();
    let mut msgs = vec![Message::new("T", "a"), Message::new("T", "b")];
    msgs[1].set_property(keys::UNIQ_KEY, "PRESET").unwrap();
    let p = prepare_batch(&config, &mut msgs, &mut clock(&mut g)).unwrap();
    assert_eq!(p.inner_ids.len(), 2);
    assert_eq!(msgs[0].unique_key(), Some(p.inner_ids[0].as_str()));
    assert_eq!(p.inner_ids[1], "PRESET");
    assert_ne!(p.batch_id, p.inner_ids[0]);
    assert_eq!(p.msg_id(None), format!("{},PRESET", p.inner_ids[0]));
    assert_eq!(p.msg_id(Some("broker")), p.batch_id);
    let cmd = p.command(&MessageQueue::new("T", "b", 2), 7);
    assert_eq!(cmd.code, 320);
    let h = header(&cmd);
    assert_eq!(h.queue_id, 2);
    // The batch's own id stays client-side: a broker that appends the batch properties to
    // every stored message would otherwise replace each inner id with it.
    assert!(!h.properties.unwrap().contains("UNIQ_KEY"));
    let inner = decode_batch(&cmd.body, "T").unwrap();
    assert_eq!(inner[0].unique_key(), Some(p.inner_ids[0].as_str()));
    assert_eq!(p.body_len, cmd.body.len());

    let small = ProducerConfig::builder("g")
        .max_message_size(50)
        .build()
        .unwrap();
    let mut two = vec![Message::new("T", "a"), Message::new("T", "b")];
    assert!(matches!(
        prepare_batch(&small, &mut two, &mut clock(&mut g)),
        Err(SendError::Validation(ValidationError::BodyTooLarge { .. }))
    ));
    let mut mixed = vec![Message::new("T", "a"), Message::new("U", "b")];
    assert!(matches!(
        prepare_batch(&config, &mut mixed, &mut clock(&mut g)),
        Err(SendError::Validation(ValidationError::Batch(_)))
    ));
    let mut empty_inner = vec![Message::new("T", "a"), Message::new("T", "")];
    assert_eq!(
        prepare_batch(&config, &mut empty_inner, &mut clock(&mut g)),
        Err(SendError::Validation(ValidationError::EmptyBody))
    );
}

proptest! {
    /// Split batches keep order, each prepared batch body fits the limit.
    #[test]
    fn split_batches_fit_when_prepared(
        sizes in proptest::collection::vec(1usize..300, 1..40),
        limit in 400usize..2_000,
    ) {
        let msgs: Vec<Message> = sizes.iter().map(|&n| Message::new("T", body(n))).collect();
        let batches = split_batch(msgs.clone(), limit).unwrap();
        prop_assert_eq!(batches.concat(), msgs);
        let config = ProducerConfig::builder("g").max_message_size(limit).build().unwrap();
        let mut g = ids();
        for mut batch in batches {
            let p = prepare_batch(&config, &mut batch, &mut clock(&mut g));
            prop_assert!(p.is_ok(), "{:?}", p.err());
            prop_assert!(p.unwrap().body_len <= limit);
        }
    }

    /// Only bodies at or over the threshold are compressed, and they round-trip.
    #[test]
    fn compression_round_trips(len in 1usize..10_000, threshold in 1usize..8_000) {
        let config = ProducerConfig::builder("g").compress_over(threshold).build().unwrap();
        let mut m = Message::new("T", body(len));
        let p = prepare_message(&config, &mut m, &mut clock(&mut ids())).unwrap();
        prop_assert_eq!(p.compressed, len >= threshold);
        let sent = if p.compressed {
            Bytes::from(decompress(CompressionType::Zlib, &p.wire_body, 1 << 20).unwrap())
        } else {
            p.wire_body.clone()
        };
        prop_assert_eq!(sent, body(len));
    }
}
