//! TLS for the conformance suite: a throwaway CA ([`TestCa`], via rcgen) and a TLS front
//! ([`TlsFront`]) that terminates TLS on `127.0.0.1` and forwards the plaintext to a
//! [`super::FakeServer`].

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConnection;

/// The longest a front lives, even if never dropped.
const MAX_LIFETIME: Duration = Duration::from_secs(120);
/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// A throwaway CA and a server certificate it signed for `localhost` and `127.0.0.1`.
#[derive(Debug)]
pub struct TestCa {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl TestCa {
    /// A new CA (named `name`) and server certificate.
    pub fn new(name: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_owned());
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("server certificate");
        Self {
            ca_pem: ca_cert.pem(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
        }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        #[allow(deprecated)] // the same provider as the client's (see `crate::tls`)
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], key)
            .expect("server certificate and key");
        Arc::new(config)
    }
}

/// Terminates TLS (with a [`TestCa`]'s server certificate) on `127.0.0.1:0` and forwards
/// each connection's plaintext to `backend`; stops when dropped (or after two minutes).
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl TlsFront {
    /// Binds and starts accepting.
    pub fn start(ca: &TestCa, backend: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let config = ca.server_config();
        let accept_stop = stop.clone();
        thread::spawn(move || {
            let end = Instant::now() + MAX_LIFETIME;
            while !accept_stop.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (config, stop) = (config.clone(), accept_stop.clone());
                        thread::spawn(move || {
                            let _ = forward(client, backend, config, &stop, end);
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                    Err(_) => return,
                }
            }
        });
        Ok(Self { addr, stop })
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The TLS session and the client socket's write side: records go out in the order the
/// session made them, so both are held together.
struct Sealed {
    tls: ServerConnection,
    client: TcpStream,
}

impl Sealed {
    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.client)?;
        }
        Ok(())
    }
}

/// Relays one connection: client records → plaintext → backend on this thread, backend →
/// records → client on a second one.
fn forward(
    client: TcpStream,
    backend: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    stop: &AtomicBool,
    end: Instant,
) -> io::Result<()> {
    let backend = TcpStream::connect(backend)?;
    client.set_read_timeout(Some(POLL))?;
    backend.set_read_timeout(Some(POLL))?;
    let tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let sealed = Arc::new(Mutex::new(Sealed {
        tls,
        client: client.try_clone()?,
    }));
    let done = Arc::new(AtomicBool::new(false));
    let back_thread = {
        let (sealed, done) = (sealed.clone(), done.clone());
        let mut from_backend = backend.try_clone()?;
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while !done.load(Ordering::Relaxed) {
                let n = match from_backend.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue
                    }
                    Err(_) => break,
                };
                let mut s = sealed.lock().unwrap_or_else(PoisonError::into_inner);
                if s.tls.writer().write_all(&buf[..n]).is_err() || s.flush().is_err() {
                    break;
                }
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    let mut to_backend = backend;
    let mut reader = client;
    let mut buf = [0u8; 16 * 1024];
    while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        let mut plaintext = Vec::new();
        {
            let mut s = sealed.lock().unwrap_or_else(PoisonError::into_inner);
            let mut records = &buf[..n];
            let mut failed = false;
            while !records.is_empty() && !failed {
                failed =
                    s.tls.read_tls(&mut records).is_err() || s.tls.process_new_packets().is_err();
                let _ = s.tls.reader().read_to_end(&mut plaintext);
            }
            // Handshake messages, or the alert that says why the handshake failed.
            let flushed = s.flush();
            if failed || flushed.is_err() {
                break;
            }
        }
        if !plaintext.is_empty() && to_backend.write_all(&plaintext).is_err() {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = reader.shutdown(Shutdown::Both);
    let _ = to_backend.shutdown(Shutdown::Both);
    let _ = back_thread.join();
    Ok(())
}
