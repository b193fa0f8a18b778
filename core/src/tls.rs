//! [`TlsError`]: why an adapter could not secure a connection.
//!
//! The core never sees TLS itself: an adapter that encrypts its connections reports a failed
//! handshake as [`crate::Input::TlsFailed`], and every request waiting for that connection
//! fails with [`crate::InvokeError::Tls`]. Such a failure is about configuration
//! (certificates, trust, protocol versions), not a passing fault, so sends do not retry it.

/// Why a TLS handshake failed, by blame: the server's certificate, the handshake, or the
/// client's own TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate does not chain to a trusted root (unknown issuer, bad
    /// signature): add its CA to the trusted roots.
    #[error("the server's certificate is not trusted: {0}")]
    UntrustedCertificate(String),
    /// The server's certificate chains to a trusted root but is not valid here: expired, not
    /// yet valid, revoked, or not issued for the name or address dialed.
    #[error("the server's certificate is invalid: {0}")]
    InvalidCertificate(String),
    /// The handshake failed for another reason: the server sent an alert, does not speak TLS,
    /// or closed the connection during the handshake.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The client's TLS settings cannot be used for this connection (e.g. its address has
    /// no host usable as a server name).
    #[error("TLS cannot be used: {0}")]
    Config(String),
}
