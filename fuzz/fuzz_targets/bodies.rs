//! Arbitrary bytes as one of the JSON bodies (selected by the first byte): decoding never
//! panics, and a decoded body re-encodes to JSON that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketwire_core::body::*;

macro_rules! round_trip {
    ($ty:ty, $data:expr) => {{
        if let Ok(value) = <$ty>::decode($data) {
            let encoded = value.encode();
            let back = <$ty>::decode(&encoded).unwrap_or_else(|e| {
                panic!(
                    "re-encoded {} does not decode: {e}: {}",
                    stringify!($ty),
                    String::from_utf8_lossy(&encoded)
                )
            });
            assert_eq!(back, value, "{}", String::from_utf8_lossy(&encoded));
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 12 {
        0 => round_trip!(ResetOffsetBody, body),
        1 => round_trip!(GetConsumerStatusBody, body),
        2 => round_trip!(ConsumerRunningInfo, body),
        3 => round_trip!(ConsumeMessageDirectlyResult, body),
        4 => round_trip!(HeartbeatData, body),
        5 => round_trip!(LockBatchRequestBody, body),
        6 => round_trip!(LockBatchResponseBody, body),
        7 => round_trip!(UnlockBatchRequestBody, body),
        8 => round_trip!(GetConsumerListByGroupResponseBody, body),
        9 => round_trip!(ClusterInfo, body),
        10 => round_trip!(ConsumerConnection, body),
        _ => round_trip!(TopicRouteData, body),
    }
});
