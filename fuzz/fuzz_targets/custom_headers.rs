//! An arbitrary ext-field map read as typed custom headers: reading never panics, and a header
//! that reads back writes fields that read back to the same header.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rocketwire_core::header::*;
use rocketwire_fuzz::fields_from_bytes;

fn check<H: CommandHeader + PartialEq + std::fmt::Debug>(fields: &BTreeMap<String, String>) {
    if let Ok(header) = H::read_fields(fields) {
        let written = header.to_fields();
        assert_eq!(
            H::read_fields(&written).as_ref(),
            Ok(&header),
            "{} does not round-trip through {written:?}",
            std::any::type_name::<H>()
        );
        // Writing into the original map overrides its entries; reading that back gives the
        // same header again (unknown keys are ignored).
        let mut merged = fields.clone();
        header.write_fields(&mut merged);
        assert_eq!(H::read_fields(&merged).as_ref(), Ok(&header));
    }
}

macro_rules! check_all {
    ($fields:expr; $($ty:ty),* $(,)?) => {
        $( check::<$ty>($fields); )*
    };
}

fuzz_target!(|data: &[u8]| {
    let fields = fields_from_bytes(data);
    check_all!(&fields;
        SendMessageRequestHeader,
        SendMessageRequestHeaderV2,
        SendMessageResponseHeader,
        ConsumerSendMsgBackRequestHeader,
        PullMessageRequestHeader,
        PullMessageResponseHeader,
        CheckTransactionStateRequestHeader,
        EndTransactionRequestHeader,
        GetRouteInfoRequestHeader,
        QueryMessageRequestHeader,
        QueryMessageResponseHeader,
        ViewMessageRequestHeader,
        UnregisterClientRequestHeader,
        GetConsumerListByGroupRequestHeader,
        ConsumeMessageDirectlyResultRequestHeader,
        GetConsumerRunningInfoRequestHeader,
        GetConsumerStatusRequestHeader,
        NotifyConsumerIdsChangedRequestHeader,
        ReplyMessageRequestHeader,
        ResetOffsetRequestHeader,
        GetEarliestMsgStoretimeRequestHeader,
        GetEarliestMsgStoretimeResponseHeader,
        GetMaxOffsetRequestHeader,
        GetMaxOffsetResponseHeader,
        GetMinOffsetRequestHeader,
        GetMinOffsetResponseHeader,
        QueryConsumerOffsetRequestHeader,
        QueryConsumerOffsetResponseHeader,
        SearchOffsetRequestHeader,
        SearchOffsetResponseHeader,
        UpdateConsumerOffsetRequestHeader,
    );
    // The v1 and v2 names of a send header describe the same header.
    if let Ok(v2) = SendMessageRequestHeader::read_fields_v2(&fields) {
        let mut long = BTreeMap::new();
        v2.write_fields(&mut long);
        assert_eq!(
            SendMessageRequestHeader::read_fields(&long).as_ref(),
            Ok(&v2)
        );
    }
});
