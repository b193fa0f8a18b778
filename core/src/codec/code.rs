//! Request, response and language codes. (Skeleton: to be completed by the codec work.)

/// Sender language (`LanguageCode`): the name in JSON headers, the byte in binary headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LanguageCode {
    /// 0
    Java,
    /// 9
    Go,
    /// 12
    Rust,
    /// A code this client does not know.
    Unknown(u8),
}

/// Request codes a client sends or receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestCode {
    /// 105
    GetRouteInfoByTopic,
    /// A code this client does not know.
    Unknown(i32),
}

impl RequestCode {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            RequestCode::GetRouteInfoByTopic => 105,
            RequestCode::Unknown(c) => c,
        }
    }
    /// The code for a wire value.
    pub fn from_code(code: i32) -> Self {
        match code {
            105 => RequestCode::GetRouteInfoByTopic,
            c => RequestCode::Unknown(c),
        }
    }
}

/// Response codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// 0
    Success,
    /// 17
    TopicNotExist,
    /// A code this client does not know.
    Unknown(i32),
}

impl ResponseCode {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            ResponseCode::Success => 0,
            ResponseCode::TopicNotExist => 17,
            ResponseCode::Unknown(c) => c,
        }
    }
    /// The code for a wire value.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => ResponseCode::Success,
            17 => ResponseCode::TopicNotExist,
            c => ResponseCode::Unknown(c),
        }
    }
}
