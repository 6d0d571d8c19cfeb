//! HTTPS: the server's certificate (read from PEM files, or generated at
//! start with `rcgen` for localhost, 127.0.0.1 and ::1), the rustls server
//! configuration (ALPN `h2` and `http/1.1`; client certificates required
//! when `tls_client_ca` is set) and the certificate written out for clients.
//!
//! rustls runs on the `ring` crypto provider, like the load client: a far
//! cheaper build than `aws-lc-rs`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::config::{TlsIdentity, TlsSettings};

/// The names a self-signed certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// ALPN protocol ids the server offers, in order of preference.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why TLS could not be set up; each names the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{field} {}: cannot read: {source}", path.display())]
    Read {
        /// The configuration field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A PEM file holds nothing usable.
    #[error("{field} {}: {what}", path.display())]
    Pem {
        /// The configuration field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        what: String,
    },
    /// The self-signed certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate, key or CA.
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA could not be used.
    #[error("tls_client_ca: {0}")]
    ClientCa(String),
    /// The certificate could not be written out for clients.
    #[error("tls_write_cert {}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> Self {
        io::Error::other(e)
    }
}

/// The server's TLS side, ready to accept.
#[derive(Clone)]
pub(crate) struct ServerTls {
    pub(crate) acceptor: TlsAcceptor,
    /// The server's certificate (the leaf), for clients to trust.
    pub(crate) certificate: CertificateDer<'static>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ServerTls {
    /// Reads or generates the certificate, builds the rustls server and
    /// writes the certificate out if asked.
    pub(crate) fn new(settings: &TlsSettings) -> Result<ServerTls, TlsError> {
        let (chain, key, pem) = match &settings.identity {
            TlsIdentity::SelfSigned => self_signed()?,
            TlsIdentity::Files { cert, key } => {
                let chain = read_certs("tls_cert", cert)?;
                let key = read_key("tls_key", key)?;
                let pem = pem_of(&chain);
                (chain, key, pem)
            }
        };
        let certificate = chain[0].clone();
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match &settings.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in read_certs("tls_client_ca", path)? {
                    roots.add(ca)?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
        if let Some(path) = &settings.write_cert {
            write_atomically(path, pem.as_bytes()).map_err(|source| TlsError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }
}

/// A certificate and key generated now for [`SELF_SIGNED_NAMES`].
#[allow(clippy::type_complexity)]
fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String), TlsError>
{
    let names = SELF_SIGNED_NAMES
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>();
    let generated = rcgen::generate_simple_self_signed(names)?;
    let key = PrivateKeyDer::try_from(generated.key_pair.serialize_der())
        .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
    let pem = generated.cert.pem();
    Ok((vec![generated.cert.der().clone()], key, pem))
}

/// Reads a file of at most 1 MiB (PEM files are a few KiB).
fn read_small(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut bytes))
        .map_err(|source| TlsError::Read {
            field,
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

/// Every certificate in a PEM file; at least one.
pub fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_small(field, path)?;
    let pem = |what: String| TlsError::Pem {
        field,
        path: path.to_path_buf(),
        what,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(pem("no CERTIFICATE block in the file".into()));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub fn read_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_small(field, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        field,
        path: path.to_path_buf(),
        what: format!("no private key (PKCS#8, PKCS#1 or SEC1 PEM) in the file: {e}"),
    })
}

/// Certificates as PEM text.
fn pem_of(certs: &[CertificateDer<'_>]) -> String {
    certs
        .iter()
        .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.as_ref().to_vec())))
        .collect()
}

/// Writes `bytes` to a temporary file beside `path` and renames it into
/// place, so a client never reads half a certificate.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_round_trip_through_pem() {
        let der: Vec<u8> = (0..1000).map(|i| (i * 7 + 3) as u8).collect();
        let pem = pem_of(&[CertificateDer::from(der.clone())]);
        let back = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(back[0].as_ref(), &der[..]);
    }

    #[test]
    fn a_self_signed_server_writes_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("server.pem");
        let tls = ServerTls::new(&TlsSettings {
            identity: TlsIdentity::SelfSigned,
            write_cert: Some(out.clone()),
            client_ca: None,
        })
        .unwrap();
        let written = read_certs("tls_write_cert", &out).unwrap();
        assert_eq!(written, vec![tls.certificate]);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left");
    }

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = read_certs("tls_cert", &missing).unwrap_err().to_string();
        assert!(e.starts_with("tls_cert ") && e.contains("nope.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello\n").unwrap();
        let e = read_certs("tls_cert", &empty).unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        let e = read_key("tls_key", &empty).unwrap_err().to_string();
        assert!(e.contains("no private key"), "{e}");
    }
}
