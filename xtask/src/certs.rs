//! Throwaway TLS material for a `--tls` cluster: a CA and a server certificate it signs for
//! `localhost` and `127.0.0.1`, made fresh at each cluster start (never committed).

use std::fs;
use std::path::{Path, PathBuf};

/// Where a TLS cluster's PEM files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// The CA certificate clients trust.
    pub(crate) ca: PathBuf,
    /// The servers' certificate.
    pub(crate) cert: PathBuf,
    /// The servers' private key (PKCS#8).
    pub(crate) key: PathBuf,
}

impl TlsFiles {
    /// The files of the cluster whose data dir is `data_dir`.
    pub(crate) fn of(data_dir: &Path) -> Self {
        let dir = data_dir.join("tls");
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// Makes a CA and a server certificate and writes them as [`TlsFiles::of`] `data_dir`.
pub(crate) fn generate(data_dir: &Path) -> Result<TlsFiles, String> {
    let err = |what: &str, e: rcgen::Error| format!("cannot make the {what}: {e}");
    let ca_key = rcgen::KeyPair::generate().map_err(|e| err("CA key", e))?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| err("CA certificate", e))?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "rocketwire test cluster CA");
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| err("CA certificate", e))?;
    let key = rcgen::KeyPair::generate().map_err(|e| err("server key", e))?;
    let mut server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| err("server certificate", e))?;
    server
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rocketwire test cluster");
    let cert = server
        .signed_by(&key, &ca_cert, &ca_key)
        .map_err(|e| err("server certificate", e))?;
    let files = TlsFiles::of(data_dir);
    let dir = data_dir.join("tls");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (path, pem) in [
        (&files.ca, ca_cert.pem()),
        (&files.cert, cert.pem()),
        (&files.key, key.serialize_pem()),
    ] {
        fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_a_certificate_and_a_key() {
        let dir = std::env::temp_dir().join(format!("xtask-certs-{}", std::process::id()));
        let files = generate(&dir).unwrap();
        let read = |p: &Path| fs::read_to_string(p).unwrap();
        assert!(read(&files.ca).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(&files.cert).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(&files.key).starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(read(&files.ca), read(&files.cert));
        fs::remove_dir_all(&dir).unwrap();
    }
}
