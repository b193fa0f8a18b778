//! The remoting command: one request or response.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{LanguageCode, RequestCode, ResponseCode};

/// `flag` bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// `flag` bit 1: a oneway request; the receiver must not answer.
pub const FLAG_ONEWAY: i32 = 0x2;

/// The version this client reports (`MQVersion` ordinal of V5_3_3). At or above 401 the
/// namesrv answers with standard JSON route data.
pub const CLIENT_VERSION: i32 = 479;

/// One request or response of the remoting protocol.
///
/// `ext_fields` holds the flattened custom header (see [`crate::header`]); a `BTreeMap` keeps
/// encoding deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code in a response.
    pub code: i32,
    /// Sender's language.
    pub language: LanguageCode,
    /// Sender's version ordinal.
    pub version: i32,
    /// Correlation id; a response copies its request's.
    pub opaque: i32,
    /// Bit flags ([`FLAG_RESPONSE`], [`FLAG_ONEWAY`]).
    pub flag: i32,
    /// Free text; the error message of a failed response.
    pub remark: Option<String>,
    /// The custom header, flattened to strings.
    pub ext_fields: BTreeMap<String, String>,
    /// The body; never copied on encode or decode.
    pub body: Bytes,
}

impl RemotingCommand {
    /// A request with `code`, no header fields and no body. The opaque is assigned when sent.
    pub fn request(code: RequestCode) -> Self {
        Self::request_code(code.code())
    }

    /// A request with a raw code.
    pub fn request_code(code: i32) -> Self {
        Self {
            code,
            language: LanguageCode::Rust,
            version: CLIENT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: BTreeMap::new(),
            body: Bytes::new(),
        }
    }

    /// A response to `request` with `code` (opaque copied, response bit set).
    pub fn response_to(request: &RemotingCommand, code: ResponseCode) -> Self {
        Self {
            code: code.code(),
            language: LanguageCode::Rust,
            version: CLIENT_VERSION,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark: None,
            ext_fields: BTreeMap::new(),
            body: Bytes::new(),
        }
    }

    /// Replaces the header fields.
    pub fn with_ext_fields(mut self, ext_fields: BTreeMap<String, String>) -> Self {
        self.ext_fields = ext_fields;
        self
    }

    /// Sets one header field.
    pub fn with_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.ext_fields.insert(key.into(), value.into());
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Marks the request oneway.
    pub fn oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// Whether this is a response.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether this is a oneway request.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// The code read as a request code.
    pub fn request_code_typed(&self) -> RequestCode {
        RequestCode::from_code(self.code)
    }

    /// The code read as a response code.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode::from_code(self.code)
    }

    /// A header field.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key).map(String::as_str)
    }
}
