//! Per-connection correlation: opaques, the pending table, deadlines, oneway requests and
//! broker→client requests. (Skeleton.)

use crate::codec::CodecError;

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The deadline passed before a response arrived.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be opened.
    #[error("could not connect to {addr}: {reason}")]
    ConnectFailed {
        /// Remote address.
        addr: String,
        /// What the adapter reported.
        reason: String,
    },
    /// The connection closed (or was closed for a protocol error) before the response.
    #[error("connection to {addr} closed before the response")]
    ConnectionClosed {
        /// Remote address.
        addr: String,
    },
    /// The peer sent bytes that are not a valid frame; the connection was closed.
    #[error("peer {addr} sent a malformed frame: {error}")]
    Protocol {
        /// Remote address.
        addr: String,
        /// What was wrong.
        error: CodecError,
    },
    /// Our own command could not be encoded (API misuse).
    #[error("request cannot be encoded: {0}")]
    Encode(CodecError),
    /// The client is shutting down.
    #[error("client is shut down")]
    Shutdown,
}
