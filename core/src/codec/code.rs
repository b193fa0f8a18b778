//! Request, response and language codes.
//!
//! Every enum here keeps the wire value of codes it does not know in an `Unknown` variant, so
//! decoding never fails on a new code. [`fmt::Display`] prints the Java constant name (for
//! transcripts and logs), or the number for an unknown code.

use std::fmt;

/// Defines a code enum with a known list of `(variant, value, Java name)` and an `Unknown`
/// fallback holding the raw wire value.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $java:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("`", $java, "` (", stringify!($value), ").")]
                $variant,
            )*
            /// A code this client does not know; holds the wire value.
            Unknown($repr),
        }

        impl $name {
            /// Every known code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The wire value.
            pub fn code(self) -> $repr {
                match self {
                    $($name::$variant => $value,)*
                    $name::Unknown(c) => c,
                }
            }

            /// The code for a wire value; [`Self::Unknown`] when the value is not a known code.
            pub fn from_code(code: $repr) -> Self {
                match code {
                    $($value => $name::$variant,)*
                    c => $name::Unknown(c),
                }
            }

            /// The Java constant name (e.g. `"SEND_MESSAGE_V2"`); `None` for an unknown code.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $($name::$variant => Some($java),)*
                    $name::Unknown(_) => None,
                }
            }

            /// The known code with this Java constant name (exact, case-sensitive match).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($java => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}", self.code()),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(code: $repr) -> Self {
                Self::from_code(code)
            }
        }

        impl From<$name> for $repr {
            fn from(code: $name) -> Self {
                code.code()
            }
        }
    };
}

code_enum! {
    /// Sender language (Java `LanguageCode`): the name in JSON headers, the byte in binary
    /// headers.
    ///
    /// A JSON header naming a language this client does not know decodes as
    /// [`LanguageCode::UNKNOWN_NAME`] rather than failing.
    pub enum LanguageCode: u8 {
        Java = 0 => "JAVA",
        Cpp = 1 => "CPP",
        DotNet = 2 => "DOTNET",
        Python = 3 => "PYTHON",
        Delphi = 4 => "DELPHI",
        Erlang = 5 => "ERLANG",
        Ruby = 6 => "RUBY",
        Other = 7 => "OTHER",
        Http = 8 => "HTTP",
        Go = 9 => "GO",
        Php = 10 => "PHP",
        Oms = 11 => "OMS",
        /// Known to servers from `rocketmq-all-4.9.4` on.
        Rust = 12 => "RUST",
        /// Known to servers from 5.3.2 on.
        NodeJs = 13 => "NODE_JS",
    }
}

impl LanguageCode {
    /// What a JSON header's `language` decodes to when its name is not a known one.
    pub const UNKNOWN_NAME: LanguageCode = LanguageCode::Unknown(255);
}

code_enum! {
    /// Request codes (Java `RequestCode`) a client sends or receives.
    pub enum RequestCode: i32 {
        /// C→B, v1 header names.
        SendMessage = 10 => "SEND_MESSAGE",
        /// C→B.
        PullMessage = 11 => "PULL_MESSAGE",
        /// C→B.
        QueryMessage = 12 => "QUERY_MESSAGE",
        /// C→B.
        QueryConsumerOffset = 14 => "QUERY_CONSUMER_OFFSET",
        /// C→B.
        UpdateConsumerOffset = 15 => "UPDATE_CONSUMER_OFFSET",
        /// C→B, admin.
        UpdateAndCreateTopic = 17 => "UPDATE_AND_CREATE_TOPIC",
        /// C→B.
        SearchOffsetByTimestamp = 29 => "SEARCH_OFFSET_BY_TIMESTAMP",
        /// C→B.
        GetMaxOffset = 30 => "GET_MAX_OFFSET",
        /// C→B.
        GetMinOffset = 31 => "GET_MIN_OFFSET",
        /// C→B.
        GetEarliestMsgStoretime = 32 => "GET_EARLIEST_MSG_STORETIME",
        /// C→B.
        ViewMessageById = 33 => "VIEW_MESSAGE_BY_ID",
        /// C→B.
        HeartBeat = 34 => "HEART_BEAT",
        /// C→B.
        UnregisterClient = 35 => "UNREGISTER_CLIENT",
        /// C→B.
        ConsumerSendMsgBack = 36 => "CONSUMER_SEND_MSG_BACK",
        /// C→B, oneway.
        EndTransaction = 37 => "END_TRANSACTION",
        /// C→B.
        GetConsumerListByGroup = 38 => "GET_CONSUMER_LIST_BY_GROUP",
        /// B→C.
        CheckTransactionState = 39 => "CHECK_TRANSACTION_STATE",
        /// B→C.
        NotifyConsumerIdsChanged = 40 => "NOTIFY_CONSUMER_IDS_CHANGED",
        /// C→B.
        LockBatchMq = 41 => "LOCK_BATCH_MQ",
        /// C→B.
        UnlockBatchMq = 42 => "UNLOCK_BATCH_MQ",
        /// Broker→namesrv (appears in RocketMQ's own codec tests).
        RegisterBroker = 103 => "REGISTER_BROKER",
        /// C→N.
        GetRouteInfoByTopic = 105 => "GET_ROUTEINFO_BY_TOPIC",
        /// C→N, admin.
        GetBrokerClusterInfo = 106 => "GET_BROKER_CLUSTER_INFO",
        /// C→B, admin: the connections of a consumer group.
        GetConsumerConnectionList = 203 => "GET_CONSUMER_CONNECTION_LIST",
        /// C→N, admin: every topic the namesrv knows.
        GetAllTopicListFromNameserver = 206 => "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
        /// C→B, admin: a group's offsets and rate on one broker.
        GetConsumeStats = 208 => "GET_CONSUME_STATS",
        /// B→C.
        ResetConsumerClientOffset = 220 => "RESET_CONSUMER_CLIENT_OFFSET",
        /// B→C.
        GetConsumerStatusFromClient = 221 => "GET_CONSUMER_STATUS_FROM_CLIENT",
        /// B→C.
        GetConsumerRunningInfo = 307 => "GET_CONSUMER_RUNNING_INFO",
        /// B→C.
        ConsumeMessageDirectly = 309 => "CONSUME_MESSAGE_DIRECTLY",
        /// C→B, compact header names `a`…`n`.
        SendMessageV2 = 310 => "SEND_MESSAGE_V2",
        /// C→B, V2 header names.
        SendBatchMessage = 320 => "SEND_BATCH_MESSAGE",
        /// C→B, v1 header names.
        SendReplyMessage = 324 => "SEND_REPLY_MESSAGE",
        /// C→B, V2 header names.
        SendReplyMessageV2 = 325 => "SEND_REPLY_MESSAGE_V2",
        /// B→C.
        PushReplyMessageToClient = 326 => "PUSH_REPLY_MESSAGE_TO_CLIENT",
        /// C→B.
        LitePullMessage = 361 => "LITE_PULL_MESSAGE",
        /// C→B, 5.x server-side rebalance.
        QueryAssignment = 400 => "QUERY_ASSIGNMENT",
        /// C→B, 5.x POP consumption (JSON header only: the code does not fit a binary one).
        PopMessage = 200050 => "POP_MESSAGE",
        /// C→B, acks one popped message.
        AckMessage = 200051 => "ACK_MESSAGE",
        /// C→B.
        PeekMessage = 200052 => "PEEK_MESSAGE",
        /// C→B, moves a popped message's invisible time (retry later, renew).
        ChangeMessageInvisibleTime = 200053 => "CHANGE_MESSAGE_INVISIBLETIME",
        /// C→B.
        Notification = 200054 => "NOTIFICATION",
        /// C→B.
        PollingInfo = 200055 => "POLLING_INFO",
        /// C→B, acks many popped messages in one request.
        BatchAckMessage = 200151 => "BATCH_ACK_MESSAGE",
    }
}

code_enum! {
    /// Response codes (Java `ResponseCode` and `RemotingSysResponseCode`).
    pub enum ResponseCode: i32 {
        Success = 0 => "SUCCESS",
        SystemError = 1 => "SYSTEM_ERROR",
        /// Flow control or overload.
        SystemBusy = 2 => "SYSTEM_BUSY",
        RequestCodeNotSupported = 3 => "REQUEST_CODE_NOT_SUPPORTED",
        TransactionFailed = 4 => "TRANSACTION_FAILED",
        /// Send stored; status FLUSH_DISK_TIMEOUT.
        FlushDiskTimeout = 10 => "FLUSH_DISK_TIMEOUT",
        /// Send stored; status SLAVE_NOT_AVAILABLE.
        SlaveNotAvailable = 11 => "SLAVE_NOT_AVAILABLE",
        /// Send stored; status FLUSH_SLAVE_TIMEOUT.
        FlushSlaveTimeout = 12 => "FLUSH_SLAVE_TIMEOUT",
        MessageIllegal = 13 => "MESSAGE_ILLEGAL",
        ServiceNotAvailable = 14 => "SERVICE_NOT_AVAILABLE",
        VersionNotSupported = 15 => "VERSION_NOT_SUPPORTED",
        NoPermission = 16 => "NO_PERMISSION",
        TopicNotExist = 17 => "TOPIC_NOT_EXIST",
        TopicExistAlready = 18 => "TOPIC_EXIST_ALREADY",
        /// Pull: no new message.
        PullNotFound = 19 => "PULL_NOT_FOUND",
        /// Pull: no matched message.
        PullRetryImmediately = 20 => "PULL_RETRY_IMMEDIATELY",
        /// Pull: offset illegal.
        PullOffsetMoved = 21 => "PULL_OFFSET_MOVED",
        /// No consumer offset / no message.
        QueryNotFound = 22 => "QUERY_NOT_FOUND",
        SubscriptionParseFailed = 23 => "SUBSCRIPTION_PARSE_FAILED",
        SubscriptionNotExist = 24 => "SUBSCRIPTION_NOT_EXIST",
        SubscriptionNotLatest = 25 => "SUBSCRIPTION_NOT_LATEST",
        SubscriptionGroupNotExist = 26 => "SUBSCRIPTION_GROUP_NOT_EXIST",
        FilterDataNotExist = 27 => "FILTER_DATA_NOT_EXIST",
        FilterDataNotLatest = 28 => "FILTER_DATA_NOT_LATEST",
        InvalidParameter = 29 => "INVALID_PARAMETER",
        TransactionShouldCommit = 200 => "TRANSACTION_SHOULD_COMMIT",
        TransactionShouldRollback = 201 => "TRANSACTION_SHOULD_ROLLBACK",
        /// Spelled as in Java.
        TransactionStateUnknow = 202 => "TRANSACTION_STATE_UNKNOW",
        TransactionStateGroupWrong = 203 => "TRANSACTION_STATE_GROUP_WRONG",
        NoBuyerId = 204 => "NO_BUYER_ID",
        NotInCurrentUnit = 205 => "NOT_IN_CURRENT_UNIT",
        ConsumerNotOnline = 206 => "CONSUMER_NOT_ONLINE",
        ConsumeMsgTimeout = 207 => "CONSUME_MSG_TIMEOUT",
        NoMessage = 208 => "NO_MESSAGE",
        /// Pop.
        PollingFull = 209 => "POLLING_FULL",
        /// Pop.
        PollingTimeout = 210 => "POLLING_TIMEOUT",
        BrokerNotExist = 211 => "BROKER_NOT_EXIST",
        BrokerDispatchNotComplete = 212 => "BROKER_DISPATCH_NOT_COMPLETE",
        BroadcastConsumption = 213 => "BROADCAST_CONSUMPTION",
        /// Pull back-off.
        FlowControl = 215 => "FLOW_CONTROL",
        NotLeaderForQueue = 501 => "NOT_LEADER_FOR_QUEUE",
        IllegalOperation = 604 => "ILLEGAL_OPERATION",
        /// Client-local only.
        RpcUnknown = -1000 => "RPC_UNKNOWN",
        /// Client-local only.
        RpcAddrIsNull = -1002 => "RPC_ADDR_IS_NULL",
        /// Client-local only.
        RpcSendToChannelFailed = -1004 => "RPC_SEND_TO_CHANNEL_FAILED",
        /// Client-local only.
        RpcTimeOut = -1006 => "RPC_TIME_OUT",
        /// The server is shutting down.
        GoAway = 1500 => "GO_AWAY",
        ControllerFencedMasterEpoch = 2000 => "CONTROLLER_FENCED_MASTER_EPOCH",
        ControllerFencedSyncStateSetEpoch = 2001 => "CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH",
        ControllerInvalidMaster = 2002 => "CONTROLLER_INVALID_MASTER",
        ControllerInvalidReplicas = 2003 => "CONTROLLER_INVALID_REPLICAS",
        ControllerMasterNotAvailable = 2004 => "CONTROLLER_MASTER_NOT_AVAILABLE",
        ControllerInvalidRequest = 2005 => "CONTROLLER_INVALID_REQUEST",
        ControllerBrokerNotAlive = 2006 => "CONTROLLER_BROKER_NOT_ALIVE",
        ControllerNotLeader = 2007 => "CONTROLLER_NOT_LEADER",
        ControllerBrokerMetadataNotExist = 2008 => "CONTROLLER_BROKER_METADATA_NOT_EXIST",
        ControllerInvalidCleanBrokerMetadata = 2009 => "CONTROLLER_INVALID_CLEAN_BROKER_METADATA",
        ControllerBrokerNeedToBeRegistered = 2010 => "CONTROLLER_BROKER_NEED_TO_BE_REGISTERED",
        ControllerMasterStillExist = 2011 => "CONTROLLER_MASTER_STILL_EXIST",
        ControllerElectMasterFailed = 2012 => "CONTROLLER_ELECT_MASTER_FAILED",
        ControllerAlterSyncStateSetFailed = 2013 => "CONTROLLER_ALTER_SYNC_STATE_SET_FAILED",
        ControllerBrokerIdInvalid = 2014 => "CONTROLLER_BROKER_ID_INVALID",
        ControllerJraftInternalError = 2015 => "CONTROLLER_JRAFT_INTERNAL_ERROR",
        ControllerBrokerLiveInfoNotExists = 2016 => "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS",
        /// Auth admin.
        UserNotExist = 3001 => "USER_NOT_EXIST",
        /// Auth admin.
        PolicyNotExist = 3002 => "POLICY_NOT_EXIST",
    }
}

impl ResponseCode {
    /// Whether this is [`ResponseCode::Success`].
    pub fn is_success(self) -> bool {
        self == ResponseCode::Success
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn language_codes_match_java() {
        // Values from Java `LanguageCode` (protocol-facts §1.6).
        let expected: [(u8, &str); 14] = [
            (0, "JAVA"),
            (1, "CPP"),
            (2, "DOTNET"),
            (3, "PYTHON"),
            (4, "DELPHI"),
            (5, "ERLANG"),
            (6, "RUBY"),
            (7, "OTHER"),
            (8, "HTTP"),
            (9, "GO"),
            (10, "PHP"),
            (11, "OMS"),
            (12, "RUST"),
            (13, "NODE_JS"),
        ];
        assert_eq!(LanguageCode::ALL.len(), expected.len());
        for (code, name) in expected {
            let lang = LanguageCode::from_code(code);
            assert_eq!(lang.code(), code);
            assert_eq!(lang.name(), Some(name));
            assert_eq!(LanguageCode::from_name(name), Some(lang));
            assert_eq!(lang.to_string(), name);
        }
        assert_eq!(LanguageCode::from_code(14), LanguageCode::Unknown(14));
        assert_eq!(LanguageCode::Unknown(14).to_string(), "14");
        assert_eq!(LanguageCode::from_name("COBOL"), None);
        assert_eq!(LanguageCode::from_name("java"), None);
    }

    #[test]
    fn request_codes() {
        assert_eq!(RequestCode::SendMessageV2.code(), 310);
        assert_eq!(
            RequestCode::from_code(105),
            RequestCode::GetRouteInfoByTopic
        );
        assert_eq!(
            RequestCode::GetRouteInfoByTopic.to_string(),
            "GET_ROUTEINFO_BY_TOPIC"
        );
        assert_eq!(
            RequestCode::from_code(106),
            RequestCode::GetBrokerClusterInfo
        );
        assert_eq!(
            RequestCode::from_code(17),
            RequestCode::UpdateAndCreateTopic
        );
        assert_eq!(RequestCode::from_code(400), RequestCode::QueryAssignment);
        assert_eq!(
            RequestCode::from_code(206),
            RequestCode::GetAllTopicListFromNameserver
        );
        assert_eq!(RequestCode::GetConsumeStats.code(), 208);
        assert_eq!(RequestCode::from_code(200050), RequestCode::PopMessage);
        assert_eq!(
            RequestCode::from_code(200053).to_string(),
            "CHANGE_MESSAGE_INVISIBLETIME"
        );
        assert_eq!(RequestCode::from_code(200099), RequestCode::Unknown(200099));
        assert_eq!(RequestCode::Unknown(200099).to_string(), "200099");
        assert_eq!(RequestCode::Unknown(200099).name(), None);
        assert_eq!(i32::from(RequestCode::HeartBeat), 34);
        assert_eq!(RequestCode::from(361), RequestCode::LitePullMessage);
    }

    #[test]
    fn response_codes() {
        assert_eq!(ResponseCode::from_code(0), ResponseCode::Success);
        assert!(ResponseCode::Success.is_success());
        assert!(!ResponseCode::SystemBusy.is_success());
        assert_eq!(ResponseCode::from_code(-1006), ResponseCode::RpcTimeOut);
        assert_eq!(ResponseCode::from_code(1500).to_string(), "GO_AWAY");
        assert_eq!(
            ResponseCode::from_code(2016),
            ResponseCode::ControllerBrokerLiveInfoNotExists
        );
        assert_eq!(ResponseCode::from_code(214), ResponseCode::Unknown(214));
        assert_eq!(ResponseCode::Unknown(-7).to_string(), "-7");
    }

    /// Every known code and name maps back to itself and no two variants share a value or name.
    #[test]
    fn tables_are_bijective() {
        fn check<T: Copy + Eq + std::hash::Hash + fmt::Debug, R: Eq + std::hash::Hash>(
            all: &[T],
            code: impl Fn(T) -> R,
            from_code: impl Fn(R) -> T,
            name: impl Fn(T) -> Option<&'static str>,
            from_name: impl Fn(&str) -> Option<T>,
        ) {
            let mut names = HashSet::new();
            let mut seen = HashSet::new();
            for &v in all {
                assert!(seen.insert(v), "{v:?} listed twice");
                assert_eq!(from_code(code(v)), v);
                let n = name(v).expect("known codes have names");
                assert!(names.insert(n), "name {n} used twice");
                assert_eq!(from_name(n), Some(v));
            }
            let codes: HashSet<R> = all.iter().map(|&v| code(v)).collect();
            assert_eq!(codes.len(), all.len());
        }
        check(
            LanguageCode::ALL,
            LanguageCode::code,
            LanguageCode::from_code,
            LanguageCode::name,
            LanguageCode::from_name,
        );
        check(
            RequestCode::ALL,
            RequestCode::code,
            RequestCode::from_code,
            RequestCode::name,
            RequestCode::from_name,
        );
        check(
            ResponseCode::ALL,
            ResponseCode::code,
            ResponseCode::from_code,
            ResponseCode::name,
            ResponseCode::from_name,
        );
        assert_eq!(ResponseCode::ALL.len(), 66);
    }
}
