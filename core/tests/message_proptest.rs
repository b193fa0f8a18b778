//! Property tests: the message decoders never panic, and encoders round-trip.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rocketwire_core::message::{
    decode_batch, decode_messages, decode_messages_partial, encode_batch, encode_stored,
    properties, DecodeOptions, Message, MessageExt, OffsetMessageId, UniqIdParts,
};

fn valid_record() -> Bytes {
    let mut m = Message::new("TopicTest", Bytes::from_static(b"payload"));
    m.set_tags("TagA").unwrap();
    m.put_user_property("k", "v").unwrap();
    let mut ext = MessageExt::from_message(m);
    ext.store_host = "10.0.0.1:10911".parse().unwrap();
    encode_stored(&ext).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_messages_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let bytes = Bytes::from(data);
        let _ = decode_messages(&bytes);
        let _ = decode_messages_partial(&bytes, &DecodeOptions::default().with_check_crc(true));
        let _ = decode_batch(&bytes, "T");
        let _ = properties::decode_properties_bytes(&bytes);
    }

    #[test]
    fn mutated_records_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let valid = valid_record();
        let mut b = BytesMut::from(&valid[..]);
        for (at, v) in flips {
            let i = at.index(b.len());
            b[i] = v;
        }
        let mut two = b.clone();
        two.extend_from_slice(&b);
        let len = cut.index(two.len() + 1);
        let _ = decode_messages(&two.freeze().slice(..len));
    }

    #[test]
    fn stored_round_trip(
        topic in "[a-zA-Z0-9_%|-]{1,200}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        flag in any::<i32>(),
        queue_id in any::<i32>(),
        queue_offset in any::<i64>(),
        commit_log_offset in any::<i64>(),
        v6 in any::<bool>(),
        props in proptest::collection::btree_map("[a-z]{1,8}", "[^\u{2}]{1,16}", 0..5),
    ) {
        let mut m = Message::new(topic, body);
        m.flag = flag;
        for (k, v) in props {
            m.set_property(k, v).unwrap();
        }
        let mut ext = MessageExt::from_message(m);
        ext.queue_id = queue_id;
        ext.queue_offset = queue_offset;
        ext.commit_log_offset = commit_log_offset;
        if v6 {
            ext.store_host = "[2408:4004::1]:10911".parse().unwrap();
            ext.sys_flag = 0x20;
        }
        ext.refresh_offset_msg_id();
        let bytes = encode_stored(&ext).unwrap();
        let got = decode_messages(&bytes).unwrap();
        prop_assert_eq!(got.len(), 1);
        let g = &got[0];
        prop_assert_eq!(&g.message, &ext.message);
        prop_assert_eq!(g.queue_offset, queue_offset);
        prop_assert_eq!(g.store_host, ext.store_host);
        prop_assert_eq!(&g.offset_msg_id, &ext.offset_msg_id);
        let id = OffsetMessageId::parse(&g.offset_msg_id).unwrap();
        prop_assert_eq!(id.offset, commit_log_offset);
        prop_assert_eq!(id.addr, ext.store_host);
    }

    #[test]
    fn batch_round_trip(
        bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..6),
    ) {
        let msgs: Vec<Message> = bodies.into_iter().map(|b| Message::new("T", b)).collect();
        let body = encode_batch(&msgs).unwrap();
        prop_assert_eq!(decode_batch(&body, "T").unwrap(), msgs);
    }

    #[test]
    fn properties_round_trip(
        props in proptest::collection::btree_map("[^\u{1}\u{2}]{1,12}", "[^\u{2}]{1,12}", 0..8),
    ) {
        let s = properties::encode_properties(&props);
        prop_assert_eq!(properties::decode_properties(&s), props);
    }

    #[test]
    fn id_parsers_never_panic(s in "\\PC{0,64}") {
        let _ = OffsetMessageId::parse(&s);
        let _ = UniqIdParts::parse(&s);
    }
}
