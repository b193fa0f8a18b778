//! TLS for every runtime from one implementation: rustls driven sans-IO.
//!
//! A [`TlsConfig`] in [`crate::DriverOptions::tls`] makes every connection of the client
//! (namesrv and brokers alike) a TLS connection. The runtimes never see TLS: a connection's IO
//! loop moves bytes, and a [`TlsSession`] (one `rustls::ClientConnection` behind a lock,
//! shared by the connection's reader and writer) turns received records into plaintext and
//! frames into records:
//!
//! ```text
//! connect ──► Handshake: Write ─► write ─► Read ─► read ─┐ (until Done)
//!                        ▲──────────────────────────────┘
//! TlsReader: read ─► open ─► plaintext ─► Input::Received   (records to send ─► wake writer)
//! writer:    frame ─► seal ─► records ─► write
//! ```
//!
//! [`Handshake`] and [`TlsReader`] hold every decision; an IO loop (async or blocking) only
//! moves the bytes they ask for.
//!
//! A handshake that fails is reported as [`rocketwire_core::Input::TlsFailed`] with a typed
//! [`TlsError`]; it ends that connection only.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::mem;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use rocketwire_core::TlsError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct, RootCertStore};

/// Why a [`TlsConfig`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The CA file could not be read or holds a malformed PEM section.
    #[error("cannot read CA certificates from {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        source: io::Error,
    },
    /// The CA file or PEM text holds no usable certificate.
    #[error("no usable CA certificate in {0}")]
    NoCertificates(String),
    /// The system's trust store yielded no certificate.
    #[error("no trusted root certificates found on this system: {0}")]
    NoSystemRoots(String),
    /// A server name given with [`TlsConfig::with_server_name`] is neither a DNS name nor
    /// an IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// How a client secures its connections: whom it trusts and which name it expects.
///
/// Verification is on unless built with the loudly named
/// [`TlsConfig::dangerous_accept_any_certificate`]. The name checked against the server's
/// certificate (and sent as SNI when it is a DNS name) is the host part of each address the
/// client dials, unless [`TlsConfig::with_server_name`] sets one for all connections.
#[derive(Clone)]
pub struct TlsConfig {
    rustls: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    verifies: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .field("verifies", &self.verifies)
            .finish_non_exhaustive()
    }
}

/// Two configurations are equal when they share their rustls configuration and name.
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.rustls, &other.rustls)
            && self.server_name == other.server_name
            && self.verifies == other.verifies
    }
}

impl Eq for TlsConfig {}

/// The ring provider: it builds with a C compiler alone (aws-lc-rs wants more of the build
/// host). rustls deprecates it for lacking post-quantum key exchange, which RocketMQ servers
/// (Java's JSSE, rocketmq-rust) do not offer a client anyway.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn with_roots(roots: RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl TlsConfig {
    /// Trusts the operating system's root certificates (via `rustls-native-certs`).
    pub fn system_roots() -> Result<Self, TlsConfigError> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found.errors.first().map_or_else(
                || "the trust store is empty".to_owned(),
                ToString::to_string,
            );
            return Err(TlsConfigError::NoSystemRoots(why));
        }
        Ok(Self::verifying(roots))
    }

    /// Trusts only the CA certificates of the PEM file at `path` (e.g. a private CA).
    pub fn with_ca_file(path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |source| TlsConfigError::CaFile {
            path: shown.clone(),
            source,
        };
        let pem = std::fs::read(path).map_err(io)?;
        Self::ca_pem(&pem).map_err(|e| match e {
            PemError::Malformed(e) => io(io::Error::new(io::ErrorKind::InvalidData, e)),
            PemError::Empty => TlsConfigError::NoCertificates(shown.clone()),
        })
    }

    /// Trusts only the CA certificates of `pem` (PEM text, one or more certificates).
    pub fn with_ca_pem(pem: &[u8]) -> Result<Self, TlsConfigError> {
        Self::ca_pem(pem).map_err(|e| match e {
            PemError::Malformed(e) => TlsConfigError::CaFile {
                path: "the PEM text".to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            },
            PemError::Empty => TlsConfigError::NoCertificates("the PEM text".to_owned()),
        })
    }

    fn ca_pem(pem: &[u8]) -> Result<Self, PemError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| PemError::Malformed(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| PemError::Malformed(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(PemError::Empty);
        }
        Ok(Self::verifying(roots))
    }

    fn verifying(roots: RootCertStore) -> Self {
        Self {
            rustls: Arc::new(with_roots(roots)),
            server_name: None,
            verifies: true,
        }
    }

    /// **Insecure**: encrypts but accepts any server certificate, so anyone on the path can
    /// impersonate the server. The equivalent of the Java and Go clients' unverified TLS,
    /// for test clusters with throwaway certificates only; every connection logs a warning.
    pub fn dangerous_accept_any_certificate() -> Self {
        let provider = provider();
        let verifier = AcceptAnyCertificate(provider.signature_verification_algorithms);
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Self {
            rustls: Arc::new(config),
            server_name: None,
            verifies: false,
        }
    }

    /// Expects `name` (a DNS name or an IP address) in every server's certificate, whatever
    /// address is dialed: for servers reached through an address their certificate does
    /// not name (a NAT, a port forward, an IP).
    pub fn with_server_name(mut self, name: &str) -> Result<Self, TlsConfigError> {
        let parsed = ServerName::try_from(name.to_owned())
            .map_err(|_| TlsConfigError::ServerName(name.to_owned()))?;
        self.server_name = Some(parsed);
        Ok(self)
    }

    /// Whether server certificates are verified (false only for
    /// [`TlsConfig::dangerous_accept_any_certificate`]).
    pub fn verifies(&self) -> bool {
        self.verifies
    }

    /// The name to verify for a connection to `addr` (`host:port`, `[v6]:port`).
    fn server_name_for(&self, addr: &str) -> Result<ServerName<'static>, TlsError> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = match addr.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host,
            _ => addr,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_owned()).map_err(|_| {
            TlsError::Config(format!(
                "{host:?} (from {addr}) is not a DNS name or an IP address to verify; set a \
                 server name"
            ))
        })
    }
}

enum PemError {
    Malformed(String),
    Empty,
}

/// The insecure verifier: any certificate passes; handshake signatures are still checked
/// (they prove the peer holds the key of the certificate it sent, whatever that is).
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// What [`TlsSession::receive`] got out of some received bytes.
#[derive(Debug, Default)]
pub struct Received {
    /// Decrypted application bytes (possibly empty).
    pub plaintext: Bytes,
    /// The server sent `close_notify`: no more plaintext will come.
    pub closed: bool,
    /// The session has records to send (e.g. a key update): wake the writer.
    pub wants_write: bool,
}

/// One connection's TLS state, shared by its reader and writer (clones share it).
#[derive(Clone)]
pub struct TlsSession(Arc<Mutex<ClientConnection>>);

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession").finish_non_exhaustive()
    }
}

impl TlsSession {
    /// A client session for a connection to `addr` under `config`.
    pub fn new(config: &TlsConfig, addr: &str) -> Result<Self, TlsError> {
        let name = config.server_name_for(addr)?;
        if !config.verifies {
            tracing::warn!(
                %addr,
                "TLS without certificate verification: the server is not authenticated"
            );
        }
        let conn = ClientConnection::new(Arc::clone(&config.rustls), name)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Self(Arc::new(Mutex::new(conn))))
    }

    fn lock(&self) -> MutexGuard<'_, ClientConnection> {
        // A panic while holding the lock cannot leave rustls half-updated in a way that
        // matters more than the connection ending, which the panic already causes.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.lock().is_handshaking()
    }

    /// Appends to `out` every record the session wants sent (handshake messages, alerts,
    /// key updates).
    pub fn take_outgoing(&self, out: &mut Vec<u8>) {
        let mut conn = self.lock();
        while conn.wants_write() {
            // Writing into a Vec cannot fail.
            let _ = conn.write_tls(out);
        }
    }

    /// Feeds bytes read from the socket; returns the plaintext they complete. An error
    /// ends the connection (records to send, such as the alert, are left for
    /// [`TlsSession::take_outgoing`]).
    pub fn receive(&self, mut ciphertext: &[u8]) -> Result<Received, TlsError> {
        let mut conn = self.lock();
        let mut plaintext = BytesMut::new();
        let mut closed = false;
        while !ciphertext.is_empty() {
            conn.read_tls(&mut ciphertext)
                .map_err(|e| TlsError::Handshake(e.to_string()))?;
            let state = conn.process_new_packets().map_err(classify)?;
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plaintext.len();
                plaintext.resize(start + n, 0);
                conn.reader()
                    .read_exact(&mut plaintext[start..])
                    .map_err(|e| TlsError::Handshake(e.to_string()))?;
            }
            closed |= state.peer_has_closed();
        }
        Ok(Received {
            plaintext: plaintext.freeze(),
            closed,
            wants_write: conn.wants_write(),
        })
    }

    /// Encrypts `parts` (one frame: head, body) and appends the records to `out`, with
    /// anything else the session wants sent. Call only once the handshake is done.
    pub fn seal(&self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), TlsError> {
        let mut conn = self.lock();
        for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                let n = conn
                    .writer()
                    .write(rest)
                    .map_err(|e| TlsError::Handshake(e.to_string()))?;
                if n == 0 && !conn.wants_write() {
                    return Err(TlsError::Handshake(
                        "the session takes no more data (handshake not complete?)".into(),
                    ));
                }
                rest = &rest[n..];
                while conn.wants_write() {
                    let _ = conn.write_tls(out);
                }
            }
        }
        Ok(())
    }

    /// What a writer sends for one item of its [`crate::TlsWork`]: `frame` sealed (if any),
    /// then every record the session has of its own; replaces `out`'s contents.
    pub fn records_for(
        &self,
        frame: Option<(Bytes, Bytes)>,
        out: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        out.clear();
        if let Some((head, body)) = frame {
            self.seal(&[&head, &body], out)?;
        }
        self.take_outgoing(out);
        Ok(())
    }

    /// The records that end the session politely (`close_notify`), for a writer whose
    /// frames have ended.
    pub fn goodbye(&self) -> Vec<u8> {
        self.lock().send_close_notify();
        let mut out = Vec::new();
        self.take_outgoing(&mut out);
        out
    }
}

/// What a [`Handshake`] needs from its IO loop next.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeStep<'a> {
    /// Write these bytes to the socket (all of them), then call [`Handshake::written`].
    Write(&'a [u8]),
    /// Read from the socket and hand what came to [`Handshake::read`].
    Read,
    /// The handshake is complete; these plaintext bytes came with its last records.
    Done(Bytes),
}

/// A TLS handshake as steps for an IO loop, the same on every runtime:
///
/// ```text
/// loop {
///     match handshake.step() {
///         Write(bytes) => { write all of bytes; handshake.written() }
///         Read => { read; on failure, write handshake.alert() (best effort), give up }
///         Done(early) => break early,
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Handshake {
    session: TlsSession,
    /// Records taken from the session, not yet written.
    out: Vec<u8>,
    /// Plaintext that came with the last handshake records.
    early: BytesMut,
}

impl Handshake {
    /// The handshake of `session` (a new one).
    pub fn new(session: &TlsSession) -> Self {
        Self {
            session: session.clone(),
            out: Vec::new(),
            early: BytesMut::new(),
        }
    }

    /// The next step: records to write first, then the end of the handshake, else a read.
    pub fn step(&mut self) -> HandshakeStep<'_> {
        if self.out.is_empty() {
            self.session.take_outgoing(&mut self.out);
        }
        if !self.out.is_empty() {
            return HandshakeStep::Write(&self.out);
        }
        if self.session.is_handshaking() {
            HandshakeStep::Read
        } else {
            HandshakeStep::Done(mem::take(&mut self.early).freeze())
        }
    }

    /// The bytes of the last [`HandshakeStep::Write`] are written.
    pub fn written(&mut self) {
        self.out.clear();
    }

    /// Feeds bytes read from the socket; empty bytes mean the server closed the connection.
    /// An error ends the handshake ([`Handshake::alert`] says why to the server).
    pub fn read(&mut self, bytes: &[u8]) -> Result<(), TlsError> {
        if bytes.is_empty() {
            return Err(TlsError::Handshake(
                "the server closed the connection during the handshake".into(),
            ));
        }
        let received = self.session.receive(bytes)?;
        self.early.extend_from_slice(&received.plaintext);
        Ok(())
    }

    /// After a failed [`Handshake::read`]: the records (an alert) that tell the server why,
    /// to write on a best-effort basis.
    pub fn alert(&mut self) -> Vec<u8> {
        self.session.take_outgoing(&mut self.out);
        mem::take(&mut self.out)
    }
}

/// The reading side of an established TLS connection: decrypts what the socket gave, and
/// wakes the writer when the session has records of its own to send (e.g. a key update).
#[derive(Debug)]
pub struct TlsReader {
    session: TlsSession,
    wake_writer: mpsc::UnboundedSender<()>,
}

impl TlsReader {
    /// The reader of `session`, waking the writer through `wake_writer`.
    pub fn new(session: TlsSession, wake_writer: mpsc::UnboundedSender<()>) -> Self {
        Self {
            session,
            wake_writer,
        }
    }

    /// The plaintext in `ciphertext`, and whether the server said it is done
    /// (`close_notify`); an error ends the connection.
    pub fn open(&self, ciphertext: &[u8]) -> io::Result<(Bytes, bool)> {
        let received = self.session.receive(ciphertext).map_err(tls_io_error)?;
        if received.wants_write {
            // A writer that is gone has nothing left to send.
            let _ = self.wake_writer.unbounded_send(());
        }
        Ok((received.plaintext, received.closed))
    }
}

/// A TLS failure after the handshake, as the IO error that ends the connection.
pub fn tls_io_error(e: TlsError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The typed error for a rustls failure, by blame.
fn classify(error: rustls::Error) -> TlsError {
    match error {
        rustls::Error::InvalidCertificate(
            e @ (CertificateError::UnknownIssuer | CertificateError::BadSignature),
        ) => TlsError::UntrustedCertificate(format!("{e:?}")),
        rustls::Error::InvalidCertificate(e) => TlsError::InvalidCertificate(format!("{e:?}")),
        rustls::Error::InvalidMessage(e) => TlsError::Handshake(format!(
            "the server sent something that is not TLS ({e:?}); does it have TLS enabled?"
        )),
        other => TlsError::Handshake(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_is_the_host_of_the_address() {
        let config = TlsConfig::dangerous_accept_any_certificate();
        let name = |addr| {
            config
                .server_name_for(addr)
                .map(|n| n.to_str().into_owned())
        };
        assert_eq!(name("127.0.0.1:10911").unwrap(), "127.0.0.1");
        assert_eq!(name("broker-a.example:30911").unwrap(), "broker-a.example");
        assert_eq!(name("[::1]:9876").unwrap(), "::1");
        assert!(matches!(name("bad host:1"), Err(TlsError::Config(_))));
        let fixed = config.with_server_name("mq.example").unwrap();
        let name = fixed.server_name_for("10.0.0.5:10911").unwrap();
        assert_eq!(name.to_str(), "mq.example");
    }

    #[test]
    fn ca_pem_without_certificates_is_an_error() {
        assert!(matches!(
            TlsConfig::with_ca_pem(b"not a certificate"),
            Err(TlsConfigError::NoCertificates(_))
        ));
        let missing = TlsConfig::with_ca_file("/nonexistent/ca.pem").unwrap_err();
        assert!(
            matches!(missing, TlsConfigError::CaFile { .. }),
            "{missing}"
        );
        assert!(matches!(
            TlsConfig::dangerous_accept_any_certificate().with_server_name("not a name!"),
            Err(TlsConfigError::ServerName(_))
        ));
    }

    #[test]
    fn rustls_errors_are_typed_by_blame() {
        let untrusted = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(matches!(
            classify(untrusted),
            TlsError::UntrustedCertificate(_)
        ));
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(matches!(classify(expired), TlsError::InvalidCertificate(_)));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(matches!(classify(alert), TlsError::Handshake(_)));
    }

    #[test]
    fn plaintext_from_a_server_that_does_not_speak_tls_is_a_handshake_error() {
        let config = TlsConfig::dangerous_accept_any_certificate();
        let session = TlsSession::new(&config, "127.0.0.1:9876").unwrap();
        let mut hello = Vec::new();
        session.take_outgoing(&mut hello);
        assert!(!hello.is_empty(), "the client speaks first");
        // A remoting frame (length, header length, JSON) where a TLS record should be.
        let frame = b"\x00\x00\x00\x10\x00\x00\x00\x0c{\"code\":0}xx";
        let error = session.receive(frame).unwrap_err();
        assert!(matches!(error, TlsError::Handshake(_)), "{error}");
    }

    #[test]
    fn a_handshake_writes_its_hello_reads_and_fails_with_an_alert() {
        let config = TlsConfig::dangerous_accept_any_certificate();
        let session = TlsSession::new(&config, "127.0.0.1:9876").unwrap();
        let mut handshake = Handshake::new(&session);
        match handshake.step() {
            // A handshake record (22), TLS 1.x.
            HandshakeStep::Write(hello) => assert_eq!(&hello[..2], &[22, 3]),
            other => panic!("the client speaks first, not {other:?}"),
        }
        // Until written, the same bytes are asked for again.
        assert!(matches!(handshake.step(), HandshakeStep::Write(_)));
        handshake.written();
        assert_eq!(handshake.step(), HandshakeStep::Read);
        let frame = b"\x00\x00\x00\x10\x00\x00\x00\x0c{\"code\":0}xx";
        let error = handshake.read(frame).unwrap_err();
        assert!(error.to_string().contains("not TLS"), "{error}");
        let alert = handshake.alert();
        assert_eq!(alert.first(), Some(&21), "an alert record: {alert:?}");

        let session = TlsSession::new(&config, "127.0.0.1:9876").unwrap();
        let mut handshake = Handshake::new(&session);
        handshake.written();
        let closed = handshake.read(&[]).unwrap_err();
        assert!(closed.to_string().contains("closed"), "{closed}");
    }
}
