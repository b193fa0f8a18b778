//! Arbitrary bytes as a pull-response body of stored-format messages. The first byte picks
//! the decode options. Decoding never panics; the all-or-nothing, partial and iterator decodes
//! agree; bodies are zero-copy when not decompressed; every decoded message re-encodes to a record that
//! decodes to the same message; inner batches unwrap without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rocketwire_core::message::{
    decode_message, decode_messages_partial, decode_messages_with, encode_stored, sysflag,
    DecodeOptions, MessageError, StoredMessages,
};

fuzz_target!(|data: &[u8]| {
    let Some((&opts, body)) = data.split_first() else {
        return;
    };
    let options = DecodeOptions::default()
        .with_decompress(opts & 1 == 0)
        .with_check_crc(opts & 2 != 0)
        .with_max_decompressed_len(if opts & 4 == 0 { 1 << 16 } else { 64 });
    let body = Bytes::copy_from_slice(body);
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();

    let all = decode_messages_with(&body, &options);
    let (partial, error) = decode_messages_partial(&body, &options);
    let iter: Vec<_> = StoredMessages::new(&body, options.clone()).collect();
    assert!(iter.iter().filter(|r| r.is_err()).count() <= 1);
    match &all {
        Ok(messages) => {
            assert_eq!(error, None);
            assert_eq!(&partial, messages);
            let sizes: usize = messages.iter().map(|m| m.store_size as usize).sum();
            assert_eq!(sizes, body.len(), "records do not cover the body");
        }
        Err(e) => {
            assert_eq!(error.as_ref(), Some(e));
            assert_eq!(iter.last(), Some(&Err(e.clone())));
        }
    }

    for m in &partial {
        let compressed = m.sys_flag & sysflag::COMPRESSED != 0;
        if !options.decompress && !m.message.body.is_empty() {
            let at = m.message.body.as_ptr() as usize;
            assert!(range.contains(&at), "body was copied");
        }
        if options.decompress {
            assert!(
                !compressed || m.message.body.is_empty(),
                "COMPRESSED left set after decompression"
            );
        }
        let _ = m.msg_id();
        if m.is_inner_batch() {
            if let Ok(inner) = m.unwrap_inner_batch() {
                for (i, x) in inner.iter().enumerate() {
                    assert_eq!(x.queue_offset, m.queue_offset.wrapping_add(i as i64));
                    assert_eq!(x.message.topic, m.message.topic);
                }
            }
        }
        match encode_stored(m) {
            Ok(record) => {
                let plain = options.clone().with_decompress(false).with_check_crc(true);
                let (back, used) = decode_message(&record, &plain)
                    .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"));
                assert_eq!(used, record.len());
                let mut want = m.clone();
                want.store_size = back.store_size;
                want.body_crc = back.body_crc;
                assert_eq!(back, want);
            }
            Err(MessageError::PropertiesTooLong(_) | MessageError::TopicTooLong(_)) => {}
            Err(e) => panic!("a decoded message does not re-encode: {e}"),
        }
    }
});
