//! Opening a connection: the TCP connect and, for `https://`, the TLS
//! handshake, each timed, and the stream the HTTP exchange then runs on.
//!
//! [`open`] is the one place a worker's connection is set up, so
//! every protocol client (HTTP/1.1 today) gets the same timings, the same
//! error kinds and the negotiated ALPN protocol ([`Connected::alpn`]).
//! [`Stream`] is plain TCP or TLS over TCP: an enum, so the plain path is a
//! `match` away from the socket, with no boxing or dynamic dispatch (only
//! the TLS state, which is large, sits behind a box).
//!
//! Under TLS the socket is a [`Coalesce`]: the handshake's last flight (the
//! client's `Finished`) leaves in one write with the first request, not in
//! a write of its own.
//!
//! TLS is rustls with the `ring` crypto provider (a clean release build of
//! it costs far less than `aws-lc-rs`, which needs cmake and a C build).
//! Certificates are verified by default against the system's roots
//! (`rustls-native-certs`: what the machine's administrator trusts, the same
//! store curl and wrk use), plus any extra roots the scenario names.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::outcome::ErrorKind;

mod coalesce;
pub use coalesce::Coalesce;

/// The ALPN protocols offered, in order of preference.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// The ALPN name of HTTP/2, offered alone by HTTP/2's connections.
pub const ALPN_H2: &[u8] = b"h2";

/// A connection's byte stream: plain TCP, or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP; boxed, as its state is large.
    Tls(Box<tokio_rustls::client::TlsStream<Coalesce>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connection just opened, with what its set-up cost.
#[derive(Debug)]
pub struct Connected {
    /// The stream to speak HTTP on.
    pub stream: Stream,
    /// Time of the TCP connect.
    pub connect: Duration,
    /// Time of the TLS handshake; `None` for plain TCP.
    pub tls: Option<Duration>,
    /// The protocol the server chose by ALPN (`http/1.1`, `h2`); `None` for
    /// plain TCP or a server that does not speak ALPN.
    pub alpn: Option<Vec<u8>>,
}

/// Why a connection could not be opened: the kind it counts as, and the
/// reason in words (for the first-error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// The error kind it is counted as.
    pub kind: ErrorKind,
    /// What happened.
    pub reason: String,
}

/// Opens a connection to `addr`: the TCP connect, then (with `tls`) the
/// handshake, each within `timeout`.
pub async fn open(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&TlsClient>,
) -> Result<Connected, ConnectError> {
    open_for(addr, timeout, tls, false).await
}

/// [`open`], offering `h2` alone by ALPN when `h2` is set (`http/1.1`
/// alone otherwise).
pub async fn open_for(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&TlsClient>,
    h2: bool,
) -> Result<Connected, ConnectError> {
    let started = Instant::now();
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(ConnectError {
                kind: ErrorKind::from_connect_error(&e),
                reason: format!("connect to {addr}: {e}"),
            })
        }
        Err(_) => {
            return Err(ConnectError {
                kind: ErrorKind::ConnectTimeout,
                reason: format!(
                    "connect to {addr}: no answer within {}",
                    mock_server::duration::format(timeout)
                ),
            })
        }
    };
    let _ = tcp.set_nodelay(true);
    let connected = Instant::now();
    let connect = connected - started;
    let Some(tls) = tls else {
        return Ok(Connected {
            stream: Stream::Plain(tcp),
            connect,
            tls: None,
            alpn: None,
        });
    };
    let connector = if h2 {
        &tls.h2_connector
    } else {
        &tls.connector
    };
    let handshake = connector
        .connect(tls.server_name.clone(), Coalesce::new(tcp))
        .into_fallible();
    let mut stream = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err((e, mut io))) => {
            // The alert that tells the server why, if rustls wrote one.
            io.send_held_now();
            return Err(tls_failure(&e).unwrap_or_else(|| handshake_io_error(&e)));
        }
        Err(_) => {
            return Err(ConnectError {
                kind: ErrorKind::TlsHandshake,
                reason: format!(
                    "TLS handshake with {addr}: not done within {}",
                    mock_server::duration::format(timeout)
                ),
            })
        }
    };
    stream.get_mut().0.release();
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok(Connected {
        stream: Stream::Tls(Box::new(stream)),
        connect,
        tls: Some(connected.elapsed()),
        alpn,
    })
}

/// An I/O error during the handshake that is not a TLS error: the server
/// closed or reset the connection (a server that does not speak TLS, or
/// one that refused us).
fn handshake_io_error(e: &io::Error) -> ConnectError {
    ConnectError {
        kind: ErrorKind::TlsHandshake,
        reason: format!("TLS handshake failed: {e}"),
    }
}

/// The TLS error inside an I/O error, classified: a certificate problem
/// (ours or the server's) is `tls_certificate`, anything else of TLS
/// `tls_handshake`. `None` when the error is not a TLS error.
pub fn tls_failure(e: &io::Error) -> Option<ConnectError> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(classify_tls(inner))
}

fn classify_tls(e: &rustls::Error) -> ConnectError {
    use rustls::AlertDescription as Alert;
    let certificate = |reason: String| ConnectError {
        kind: ErrorKind::TlsCertificate,
        reason,
    };
    match e {
        rustls::Error::InvalidCertificate(cause) => {
            certificate(format!("the server's certificate was refused: {}", cert_reason(cause)))
        }
        rustls::Error::AlertReceived(
            alert @ (Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::AccessDenied),
        ) => certificate(format!(
            "the server refused the client certificate (alert {alert:?}); mutual TLS needs tls.client_cert and tls.client_key"
        )),
        other => ConnectError {
            kind: ErrorKind::TlsHandshake,
            reason: format!("TLS handshake failed: {other}"),
        },
    }
}

/// A certificate error in words a user can act on.
fn cert_reason(cause: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match cause {
        C::Expired | C::ExpiredContext { .. } => {
            "it has expired (or the machine's clock is wrong)".into()
        }
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::UnknownIssuer => {
            "it is not signed by a trusted authority; add its CA with tls.ca (or tls.insecure: true to skip the check)".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not valid for the server name; set tls.server_name to a name it holds".into()
        }
        other => {
            let text = format!("{other:?}");
            if text.contains("CaUsedAsEndEntity") {
                // What `openssl req -x509` makes by default.
                "it is a CA certificate (basicConstraints CA:TRUE) used as the server's own; give the server a certificate with CA:FALSE, or one signed by that CA".into()
            } else {
                text
            }
        }
    }
}

/// The TLS side of a scenario, ready to use: certificates read and checked.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted roots (`tls.ca`, and the embedded server's own
    /// certificate).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Whether to trust the system's roots too (not for the embedded
    /// server, whose certificate is passed as an extra root).
    pub system_roots: bool,
    /// Client certificate chain and key, for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// The name sent as SNI and checked against the certificate.
    pub server_name: Option<ServerName<'static>>,
    /// Skip certificate verification.
    pub insecure: bool,
}

/// A client certificate chain and its private key.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl PartialEq for ClientIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.certs == other.certs && self.key.secret_der() == other.key.secret_der()
    }
}

/// Why the TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// No root to verify against.
    #[error("no trusted root certificates: the system has none (install the ca-certificates package) and tls.ca is not given")]
    NoRoots,
    /// The host is not a valid TLS server name.
    #[error("{0:?} is not a valid TLS server name; set tls.server_name")]
    ServerName(String),
    /// rustls refused the configuration (a client key that does not fit).
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready TLS client: the connector and the name to ask for.
pub struct TlsClient {
    connector: TlsConnector,
    /// The same, offering `h2` by ALPN.
    h2_connector: TlsConnector,
    server_name: ServerName<'static>,
    /// How many system roots were loaded (for messages).
    pub system_roots: usize,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The crypto provider: `ring`.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsClient {
    /// Builds the client for `host` (the target's host, used as the server
    /// name unless `tls.server_name` says otherwise).
    pub fn new(opts: &TlsOptions, host: &str) -> Result<TlsClient, TlsSetupError> {
        let server_name = match &opts.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.to_string())
                .map_err(|_| TlsSetupError::ServerName(host.to_string()))?,
        };
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let mut system = 0;
        let builder = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            if opts.system_roots {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                system = added;
            }
            roots.add_parsable_certificates(opts.extra_roots.iter().cloned());
            if roots.is_empty() {
                return Err(TlsSetupError::NoRoots);
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &opts.client_identity {
            Some(id) => builder.with_client_auth_cert(id.certs.clone(), id.key.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        let mut h2_config = config.clone();
        h2_config.alpn_protocols = vec![ALPN_H2.to_vec()];
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            h2_connector: TlsConnector::from(Arc::new(h2_config)),
            server_name,
            system_roots: system,
        })
    }
}

/// `tls.insecure: true`: any certificate is accepted, but the handshake's
/// signatures are still checked (so the session is still encrypted to the
/// holder of the certificate's key, just not one anybody vouched for).
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_handshakes_last_flight_leaves_with_the_request() {
        let settings = mock_server::ServerConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            tls: Some(mock_server::config::TlsMode::SelfSigned),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let server = mock_server::EmbeddedServer::start(settings, 1).unwrap();
        let options = TlsOptions {
            extra_roots: server.tls_certificate().cloned().into_iter().collect(),
            ..Default::default()
        };
        let tls = TlsClient::new(&options, "localhost").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let connected = open(server.addr(), Duration::from_secs(5), Some(&tls))
                .await
                .unwrap();
            let Stream::Tls(mut stream) = connected.stream else {
                panic!("an https connection is TLS");
            };
            // The client's Finished is written and held, not sent.
            assert!(stream.get_ref().0.held() > 0);
            stream
                .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
                .await
                .unwrap();
            assert_eq!(stream.get_ref().0.held(), 0);
            let mut answer = Vec::new();
            while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut buf = [0u8; 1024];
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed before the answer: {answer:?}");
                answer.extend_from_slice(&buf[..n]);
            }
            assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        });
    }

    #[test]
    fn certificate_errors_and_refusals_are_tls_certificate() {
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let e = classify_tls(&expired);
        assert_eq!(e.kind, ErrorKind::TlsCertificate);
        assert!(e.reason.contains("expired"), "{}", e.reason);
        let refused = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let e = classify_tls(&refused);
        assert_eq!(e.kind, ErrorKind::TlsCertificate);
        assert!(e.reason.contains("client certificate"), "{}", e.reason);
        let other = rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion);
        assert_eq!(classify_tls(&other).kind, ErrorKind::TlsHandshake);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, expired);
        assert_eq!(
            tls_failure(&wrapped).map(|e| e.kind),
            Some(ErrorKind::TlsCertificate)
        );
        assert_eq!(tls_failure(&io::Error::other("plain")), None);
    }
}
