//! HTTPS: a self-signed server writes its certificate for clients and
//! serves HTTP/2 or HTTP/1.1 as ALPN chose; a server that requires client
//! certificates refuses a client without one and serves one with one.

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::util::start;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client trusting `roots`, offering `alpn`, with an optional identity.
fn client(
    roots: &[CertificateDer<'static>],
    alpn: &[u8],
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> tokio_rustls::TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store);
    let mut config = match identity {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// `GET path` over HTTP/1.1 on a TLS stream.
async fn get_h1(stream: Tls, path: &str) -> Result<u16, hyper::Error> {
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

#[tokio::test]
async fn a_self_signed_server_writes_its_certificate_and_speaks_what_alpn_chose() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("server.pem");
    let server = start(&format!(
        "tls: self_signed\ntls_write_cert: {}",
        pem.display()
    ));
    assert_eq!(server.scheme(), "https");
    let roots: Vec<_> = CertificateDer::pem_file_iter(&pem)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(roots.first(), server.tls_certificate());

    // ALPN h2: HTTP/2 straight away.
    let stream = connect(server.addr(), &client(&roots, b"h2", None))
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("https://localhost/status/418")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 418);

    // ALPN http/1.1.
    let stream = connect(server.addr(), &client(&roots, b"http/1.1", None))
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(get_h1(stream, "/status/201").await.unwrap(), 201);
    assert_eq!(server.stats().served, 2);
}

#[tokio::test]
async fn a_server_that_requires_client_certificates_refuses_a_client_without_one() {
    let dir = tempfile::tempdir().unwrap();
    // A client CA and a client certificate it signs.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "client CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["client".to_string()]).unwrap();
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let ca_path = dir.path().join("client-ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();

    let server = start(&format!(
        "tls: self_signed\ntls_client_ca: {}",
        ca_path.display()
    ));
    let roots = vec![server.tls_certificate().unwrap().clone()];

    // Without a certificate: refused (at the handshake, or with the first
    // read under TLS 1.3, where the client's handshake ends first).
    let refused = match connect(server.addr(), &client(&roots, b"http/1.1", None)).await {
        Err(_) => true,
        Ok(stream) => get_h1(stream, "/").await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");

    // With one: served.
    let identity = (
        vec![leaf.der().clone()],
        PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).unwrap(),
    );
    let stream = connect(server.addr(), &client(&roots, b"http/1.1", Some(identity)))
        .await
        .unwrap();
    assert_eq!(get_h1(stream, "/").await.unwrap(), 200);
    assert_eq!(server.stats().served, 1);
}

#[test]
fn tls_fields_are_checked_together() {
    let bad = [
        ("tls_cert: a.pem", "tls_key: tls_cert needs tls_key"),
        ("tls_key: a.key", "tls_cert: tls_key needs tls_cert"),
        (
            "tls: self_signed\ntls_cert: a.pem\ntls_key: a.key",
            "tls: give either tls: self_signed or tls_cert and tls_key, not both",
        ),
        ("tls_write_cert: out.pem", "tls_write_cert: needs TLS"),
        ("tls_client_ca: ca.pem", "tls_client_ca: needs TLS"),
    ];
    for (yaml, message) in bad {
        let config: mock_server::ServerConfig = serde_yaml::from_str(yaml).unwrap();
        let e = config.validate().unwrap_err().to_string();
        assert!(e.starts_with(message), "{yaml}: {e}");
    }
    let e = serde_yaml::from_str::<mock_server::ServerConfig>("tls: yes")
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected self_signed"), "{e}");
}

#[test]
fn a_missing_certificate_file_stops_the_start_with_its_name() {
    let config: mock_server::ServerConfig = serde_yaml::from_str(
        "listen: 127.0.0.1:0\ntls_cert: /no/such/cert.pem\ntls_key: /no/such/key.pem",
    )
    .unwrap();
    let e = mock_server::EmbeddedServer::start(config.validate().unwrap(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("tls_cert /no/such/cert.pem: cannot read"),
        "{e}"
    );
}

#[test]
fn the_binary_says_https_and_writes_the_certificate_before_it() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("cert.pem");
    let mut child = crate::util::spawn_binary(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--tls-self-signed",
            "--tls-write-cert",
            pem.to_str().unwrap(),
        ],
        None,
        std::process::Stdio::null(),
    );
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    crate::util::terminate(&child);
    crate::util::wait_exit(&mut child, std::time::Duration::from_secs(5));
    assert!(
        line.starts_with("mock-server listening on https://127.0.0.1:"),
        "{line:?}"
    );
    // Written before the line: a client that waits for it finds the file.
    assert!(CertificateDer::pem_file_iter(&pem)
        .unwrap()
        .next()
        .is_some());
}
